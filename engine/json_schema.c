/* JSON Schema to grammar, as vLLM's and llama.cpp's structured outputs take it: type (one or
 * a list), properties with required and additionalProperties, enum, const, anyOf / oneOf,
 * allOf of object schemas, $ref into the document ($defs, definitions, any JSON pointer; a
 * reference is a rule, so recursion works), OpenAPI's nullable; objects and arrays are in
 * json_schema_object.c, the scalar keywords in json_schema_scalar.c. A keyword Piston does
 * not implement is refused with its name and path (say, uniqueItems: a grammar cannot check
 * it), never ignored; annotations (title, description, default, examples, ...) are ignored.
 *
 * Choices, as llama.cpp and XGrammar make them: properties come in the schema's order, each
 * optional one may be left out; additionalProperties absent means none (OpenAI's strict
 * mode, XGrammar's default), true or a schema allows more after the named ones, under keys
 * that differ from theirs; a schema without "type" gets the type its keywords imply; oneOf
 * is generated as anyOf (exclusivity cannot be expressed). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/constraint_internal.h"
#include "engine/json_schema_internal.h"

#define JS_MAX_DEPTH 64

static const char *const k_annotations[] = {"title", "description", "default", "examples", "$schema", "$id", "$comment",
                                            "deprecated", "readOnly", "writeOnly", "contentEncoding",
                                            "contentMediaType", "discriminator", "$defs", "definitions", "example",
                                            "externalDocs", "xml", "strict", "name"};
static const char *const k_handled[] = {"type", "properties", "required", "additionalProperties", "enum", "const",
                                        "anyOf", "oneOf", "allOf", "$ref", "items", "prefixItems", "minItems",
                                        "maxItems", "minLength", "maxLength", "pattern", "format", "minimum",
                                        "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable"};

int js_fail(Js *s, const char *fmt, ...) {
    if (!s->rc) {
        char m[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof m, fmt, ap);
        va_end(ap);
        s->rc = err_set(s->err, s->errlen, -EINVAL, "JSON Schema at %s: %s", *s->path ? s->path : "#", m);
    }
    return -1;
}

static int in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return 1;
    return 0;
}
#define IN(k, list) in_list(k, list, sizeof list / sizeof *list)

static int visit(Js *s, const cJSON *schema);

int js_child(Js *s, const cJSON *schema, const char *fmt, ...) {
    size_t n = strlen(s->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->path + n, sizeof s->path - n, fmt, ap);
    va_end(ap);
    int x = visit(s, schema);
    if (!s->rc) s->path[n] = 0;
    return x;
}

/* ---- $ref ---- */

static const cJSON *resolve(Js *s, const char *ref) {
    if (ref[0] != '#') return js_fail(s, "only references into the document (#/...) are supported, not '%s'", ref), NULL;
    const cJSON *at = s->doc;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/' && n < sizeof seg - 1) { /* JSON pointer escapes ~0 ~1 */
            if (p[0] == '~' && p[1] == '1') seg[n++] = '/', p += 2;
            else if (p[0] == '~' && p[1] == '0') seg[n++] = '~', p += 2;
            else seg[n++] = *p++;
        }
        seg[n] = 0;
        at = cJSON_IsArray(at) ? cJSON_GetArrayItem(at, atoi(seg)) : cJSON_GetObjectItemCaseSensitive(at, seg);
        if (!at) return js_fail(s, "the reference '%s' points to nothing", ref), NULL;
    }
    if (*p) return js_fail(s, "the reference '%s' is not a JSON pointer ($anchor references are not supported)", ref), NULL;
    return at;
}

static int ref_rule(Js *s, const char *ref) {
    for (int i = 0; i < s->n_refs; i++)
        if (!strcmp(s->refs[i].ref, ref)) return grammar_ref(s->g, s->refs[i].rule);
    const cJSON *target = resolve(s, ref);
    if (!target) return -1;
    if (s->n_refs == s->cap_refs) {
        int c = s->cap_refs ? s->cap_refs * 2 : 16;
        JsRef *r = realloc(s->refs, (size_t)c * sizeof *r);
        if (!r) return grammar_fail(s->g, -ENOMEM, "out of memory");
        s->refs = r, s->cap_refs = c;
    }
    int rule = grammar_rule_new(s->g, ref);
    char *copy = strdup(ref);
    if (rule < 0 || !copy) return free(copy), grammar_fail(s->g, -ENOMEM, "out of memory");
    s->refs[s->n_refs++] = (JsRef){copy, rule};
    char saved[sizeof s->path];
    memcpy(saved, s->path, sizeof saved);
    snprintf(s->path, sizeof s->path, "%s", ref);
    int body = visit(s, target); /* a reference made while visiting it finds the rule */
    if (s->rc) return -1;
    memcpy(s->path, saved, sizeof saved);
    grammar_rule_set(s->g, rule, body);
    return grammar_ref(s->g, rule);
}

/* ---- dispatch ---- */

static int of_type(Js *s, const cJSON *o, const char *t) {
    if (!strcmp(t, "string")) return js_string(s, o);
    if (!strcmp(t, "integer")) return js_integer(s, o);
    if (!strcmp(t, "number")) return js_number(s, o);
    if (!strcmp(t, "boolean")) return grammar_alt2(s->g, grammar_str(s->g, "true"), grammar_str(s->g, "false"));
    if (!strcmp(t, "null")) return grammar_str(s->g, "null");
    if (!strcmp(t, "object")) {
        int r = grammar_rule_new(s->g, "object");
        grammar_rule_set(s->g, r, js_object(s, o));
        return grammar_ref(s->g, r);
    }
    if (!strcmp(t, "array")) {
        int r = grammar_rule_new(s->g, "array");
        grammar_rule_set(s->g, r, js_array(s, o));
        return grammar_ref(s->g, r);
    }
    return js_fail(s, "unknown type '%s'", t);
}

/* The type a schema without "type" implies by its keywords, or NULL for any value. */
static const char *implied_type(const cJSON *o) {
    static const char *const obj[] = {"properties", "required", "additionalProperties"}, *arr[] = {"items", "prefixItems", "minItems", "maxItems"};
    static const char *const str[] = {"minLength", "maxLength", "pattern", "format"}, *num[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    for (int i = 0; i < 3; i++) if (cJSON_GetObjectItemCaseSensitive(o, obj[i])) return "object";
    for (int i = 0; i < 4; i++) if (cJSON_GetObjectItemCaseSensitive(o, arr[i])) return "array";
    for (int i = 0; i < 4; i++) if (cJSON_GetObjectItemCaseSensitive(o, str[i])) return "string";
    for (int i = 0; i < 4; i++) if (cJSON_GetObjectItemCaseSensitive(o, num[i])) return "number";
    return NULL;
}

/* Whether v is an instance of type t (enum values outside the schema's type are dropped). */
static int value_is(const cJSON *v, const char *t) {
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    return cJSON_IsArray(v);
}

static int typed_enum(Js *s, const cJSON *o, const cJSON *values, const cJSON *type) {
    int n = cJSON_IsArray(values) ? cJSON_GetArraySize(values) : 1, k = 0;
    int *alts = malloc(((size_t)n + 1) * sizeof *alts);
    if (!alts) return grammar_fail(s->g, -ENOMEM, "out of memory");
    const cJSON *v = cJSON_IsArray(values) ? values->child : values;
    for (int i = 0; i < n && v; i++, v = cJSON_IsArray(values) ? v->next : NULL) {
        int ok = !type;
        if (cJSON_IsString(type)) ok = value_is(v, type->valuestring);
        const cJSON *t;
        if (cJSON_IsArray(type))
            cJSON_ArrayForEach(t, type) ok |= cJSON_IsString(t) && value_is(v, t->valuestring);
        if (ok) alts[k++] = js_literal(s, v);
    }
    int x = k ? grammar_alt(s->g, alts, k) : js_fail(s, "no value of 'enum'/'const' has the schema's type");
    free(alts);
    return x;
}

static int merge_all_of(Js *s, const cJSON *o);

static int visit(Js *s, const cJSON *o) {
    Grammar *g = s->g;
    if (s->rc) return -1;
    if (cJSON_IsTrue(o)) return json_value(&s->j);
    if (cJSON_IsFalse(o)) return grammar_none(g);
    if (!cJSON_IsObject(o)) return js_fail(s, "a schema must be an object or a boolean");
    if (++s->depth > JS_MAX_DEPTH) return js_fail(s, "schemas nested deeper than %d", JS_MAX_DEPTH);
    int constraining = 0, x = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, o) {
        if (IN(e->string, k_annotations) || !strncmp(e->string, "x-", 2)) continue;
        if (!IN(e->string, k_handled)) {
            if (!strcmp(e->string, "uniqueItems") && cJSON_IsFalse(e)) continue;
            s->depth--;
            return js_fail(s, "the keyword '%s' is not supported", e->string);
        }
        constraining++;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(o, "$ref"), *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(o, "anyOf");
    if (!any) any = cJSON_GetObjectItemCaseSensitive(o, "oneOf");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(o, "allOf"), *nullable = cJSON_GetObjectItemCaseSensitive(o, "nullable");
    constraining -= nullable != NULL;
    if (ref) {
        if (!cJSON_IsString(ref)) x = js_fail(s, "'$ref' must be a string");
        else if (constraining > 1) x = js_fail(s, "keywords next to '$ref' other than annotations are not supported");
        else x = ref_rule(s, ref->valuestring);
    } else if (cJSON_GetObjectItemCaseSensitive(o, "const")) {
        x = typed_enum(s, o, cJSON_GetObjectItemCaseSensitive(o, "const"), type);
    } else if (cJSON_GetObjectItemCaseSensitive(o, "enum")) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enum");
        x = cJSON_IsArray(en) && cJSON_GetArraySize(en) > 0 ? typed_enum(s, o, en, type) : js_fail(s, "'enum' must be a non-empty list");
    } else if (any) {
        if (!cJSON_IsArray(any) || cJSON_GetArraySize(any) == 0) x = js_fail(s, "'anyOf'/'oneOf' must be a non-empty list");
        else if (constraining > 1) x = js_fail(s, "'anyOf'/'oneOf' together with other keywords is not supported");
        else {
            int n = cJSON_GetArraySize(any), *alts = malloc((size_t)n * sizeof *alts);
            const char *key = cJSON_GetObjectItemCaseSensitive(o, "anyOf") ? "anyOf" : "oneOf";
            for (int i = 0; alts && i < n; i++) alts[i] = js_child(s, cJSON_GetArrayItem(any, i), "/%s/%d", key, i);
            x = alts ? grammar_alt(g, alts, n) : grammar_fail(g, -ENOMEM, "out of memory");
            free(alts);
        }
    } else if (all && cJSON_GetArraySize(all) == 1 && constraining == 1) {
        x = js_child(s, all->child, "/allOf/0");
    } else if (all) {
        x = merge_all_of(s, o);
    } else if (cJSON_IsArray(type)) {
        int n = cJSON_GetArraySize(type), alts[8], k = 0;
        if (n == 0 || n > 7) js_fail(s, "'type' must list 1 to 7 types");
        cJSON_ArrayForEach(e, type) {
            if (k < 7) alts[k++] = cJSON_IsString(e) ? of_type(s, o, e->valuestring) : js_fail(s, "'type' must hold strings");
        }
        x = s->rc ? -1 : grammar_alt(g, alts, k);
    } else if (type) {
        x = cJSON_IsString(type) ? of_type(s, o, type->valuestring) : js_fail(s, "'type' must be a string or a list");
    } else {
        const char *t = implied_type(o);
        x = t ? of_type(s, o, t) : json_value(&s->j);
    }
    if (cJSON_IsTrue(nullable) && x >= 0) x = grammar_alt2(g, x, grammar_str(g, "null"));
    s->depth--;
    return s->rc ? -1 : x;
}

/* allOf: one schema, or object schemas whose properties and required lists are merged. */
static int merge_all_of(Js *s, const cJSON *o) {
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(o, "allOf");
    if (!cJSON_IsArray(all) || cJSON_GetArraySize(all) == 0) return js_fail(s, "'allOf' must be a non-empty list");
    cJSON *m = cJSON_CreateObject(), *props = cJSON_AddObjectToObject(m, "properties"), *req = cJSON_AddArrayToObject(m, "required");
    cJSON_AddStringToObject(m, "type", "object");
    const cJSON *parts[2] = {all, NULL}, *e, *f;
    cJSON *self = cJSON_Duplicate(o, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(self, "allOf");
    cJSON *wrap = cJSON_CreateArray();
    cJSON_AddItemToArray(wrap, self);
    parts[1] = wrap;
    for (int p = 0; p < 2; p++)
        cJSON_ArrayForEach(e, parts[p]) {
            const cJSON *sub = e;
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(sub, "$ref");
            if (cJSON_IsString(r) && !(sub = resolve(s, r->valuestring))) break;
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(sub, "type"), *pp;
            cJSON_ArrayForEach(f, sub) {
                const char *k = f->string;
                if (!strcmp(k, "properties")) {
                    cJSON_ArrayForEach(pp, f) if (!cJSON_GetObjectItemCaseSensitive(props, pp->string))
                        cJSON_AddItemToObject(props, pp->string, cJSON_Duplicate(pp, 1));
                } else if (!strcmp(k, "required")) {
                    cJSON_ArrayForEach(pp, f) cJSON_AddItemToArray(req, cJSON_Duplicate(pp, 1));
                } else if (!strcmp(k, "additionalProperties") && !cJSON_GetObjectItemCaseSensitive(m, k)) {
                    cJSON_AddItemToObject(m, k, cJSON_Duplicate(f, 1));
                } else if (!(IN(k, k_annotations) || !strcmp(k, "$ref") || (!strcmp(k, "type") && cJSON_IsString(t) &&
                                                                              !strcmp(t->valuestring, "object")))) {
                    js_fail(s, "'allOf' is supported for object schemas only (found '%s')", k);
                }
            }
        }
    int x = s->rc ? -1 : js_child(s, m, "/allOf");
    cJSON_Delete(m);
    cJSON_Delete(wrap);
    return x;
}

int json_schema_expr(Grammar *g, const cJSON *doc, int *expr, char *err, size_t errlen) {
    Js s = {.g = g, .doc = doc, .err = err, .errlen = errlen};
    json_rules_init(&s.j, g);
    *expr = visit(&s, doc);
    for (int i = 0; i < s.n_refs; i++) free(s.refs[i].ref);
    free(s.refs);
    return s.rc;
}

int json_schema_build(Grammar *g, const char *text, size_t len, char *err, size_t errlen) {
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc) return err_set(err, errlen, -EINVAL, "the JSON Schema is not valid JSON");
    int root = grammar_rule_new(g, "root"), x;
    int rc = json_schema_expr(g, doc, &x, err, errlen);
    if (!rc && x >= 0) grammar_rule_set(g, root, x);
    cJSON_Delete(doc);
    return rc;
}
