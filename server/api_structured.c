/* Structured outputs in the dialects (see api_structured.h). A request names at most one
 * constraint; fields Piston does not implement are refused by name (vLLM's structural tags,
 * the whitespace options, guided_decoding_backend: there is one engine). vLLM's old
 * guided_json / guided_regex / guided_choice / guided_grammar are taken as the
 * structured_outputs fields they were renamed to.
 *
 * Compilation runs on libuv's worker pool, with the prompts' tokenization (api_prepare.c). */
#include "server/api_structured.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void struct_spec_free(StructSpec *s) {
    free(s->text);
    s->text = NULL, s->kind = -1, s->len = 0;
}

int struct_spec_set(StructSpec *s, int kind, const char *text) {
    free(s->text);
    s->text = strdup(text ? text : "");
    s->kind = s->text ? kind : -1;
    s->len = s->text ? strlen(s->text) : 0;
    return s->text ? 0 : 500;
}

/* A schema given as an object or as JSON text. */
static int set_schema(StructSpec *out, const cJSON *v, const char *field, char *err, size_t n) {
    if (cJSON_IsString(v)) return struct_spec_set(out, CONSTRAINT_JSON_SCHEMA, v->valuestring);
    if (!cJSON_IsObject(v) && !cJSON_IsBool(v)) return snprintf(err, n, "'%s' must be a JSON Schema", field), 400;
    char *t = cJSON_PrintUnformatted(v);
    int rc = t ? struct_spec_set(out, CONSTRAINT_JSON_SCHEMA, t) : 500;
    free(t);
    return rc;
}

static int set_text(StructSpec *out, int kind, const cJSON *v, const char *field, char *err, size_t n) {
    if (kind == CONSTRAINT_CHOICE) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) return snprintf(err, n, "'%s' must be a non-empty list of strings", field), 400;
        char *t = cJSON_PrintUnformatted(v);
        int rc = t ? struct_spec_set(out, kind, t) : 500;
        free(t);
        return rc;
    }
    if (!cJSON_IsString(v)) return snprintf(err, n, "'%s' must be a string", field), 400;
    return struct_spec_set(out, kind, v->valuestring);
}

static int response_format(const cJSON *rf, StructSpec *out, char *err, size_t n) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type)) return snprintf(err, n, "'response_format' must be an object with a 'type'"), 400;
    const char *t = type->valuestring;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(rf, "value"); /* TGI's form: {type, value} */
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) return value ? set_schema(out, value, "response_format.value", err, n)
                                                : struct_spec_set(out, CONSTRAINT_JSON_OBJECT, "");
    if (!strcmp(t, "json") && value) return set_schema(out, value, "response_format.value", err, n);
    if (!strcmp(t, "regex") && value) return set_text(out, CONSTRAINT_REGEX, value, "response_format.value", err, n);
    if (!strcmp(t, "json_schema")) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
        const cJSON *schema = js ? cJSON_GetObjectItemCaseSensitive(js, "schema") : value;
        if (!schema) return snprintf(err, n, "'response_format.json_schema.schema' is required"), 400;
        return set_schema(out, schema, "response_format.json_schema.schema", err, n);
    }
    return snprintf(err, n, "'response_format' of type '%s' is not supported (text, json_object, json_schema)", t), 400;
}

static const char *const k_so_fields[][2] = {{"json", ""}, {"regex", ""}, {"choice", ""}, {"grammar", ""}, {"json_object", ""}};

static int structured_outputs(const cJSON *so, StructSpec *out, char *err, size_t n) {
    if (!cJSON_IsObject(so)) return snprintf(err, n, "'structured_outputs' must be an object"), 400;
    int found = 0, rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, so) {
        if (cJSON_IsNull(e)) continue;
        int known = 0;
        for (size_t i = 0; i < sizeof k_so_fields / sizeof *k_so_fields; i++) known |= !strcmp(e->string, k_so_fields[i][0]);
        if (!known)
            return snprintf(err, n, "'structured_outputs.%s' is not supported (json, regex, choice, grammar, json_object)",
                            e->string), 400;
        if (!strcmp(e->string, "json_object") && cJSON_IsFalse(e)) continue;
        if (found++) return snprintf(err, n, "'structured_outputs' must name one of json, regex, choice, grammar, json_object"), 400;
        char field[64];
        snprintf(field, sizeof field, "structured_outputs.%s", e->string);
        if (!strcmp(e->string, "json")) rc = set_schema(out, e, field, err, n);
        else if (!strcmp(e->string, "regex")) rc = set_text(out, CONSTRAINT_REGEX, e, field, err, n);
        else if (!strcmp(e->string, "choice")) rc = set_text(out, CONSTRAINT_CHOICE, e, field, err, n);
        else if (!strcmp(e->string, "grammar")) rc = set_text(out, CONSTRAINT_GRAMMAR, e, field, err, n);
        else if (cJSON_IsTrue(e)) rc = struct_spec_set(out, CONSTRAINT_JSON_OBJECT, "");
        else rc = (snprintf(err, n, "'structured_outputs.json_object' must be true or false"), 400);
        if (rc) return rc;
    }
    return 0;
}

int api_structured_openai(const cJSON *b, StructSpec *out, char *err, size_t n) {
    out->kind = -1;
    static const char *const guided[][2] = {{"guided_json", "json"}, {"guided_regex", "regex"}, {"guided_choice", "choice"},
                                            {"guided_grammar", "grammar"}};
    static const char *const refused[] = {"guided_decoding_backend", "guided_whitespace_pattern", "structural_tag"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, refused[i]);
        if (v && !cJSON_IsNull(v)) return snprintf(err, n, "'%s' is not supported: Piston has one constraint engine", refused[i]), 400;
    }
    int sources = 0, rc = 0;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(b, "response_format"), *so = cJSON_GetObjectItemCaseSensitive(b, "structured_outputs");
    if (rf && !cJSON_IsNull(rf)) sources++, rc = response_format(rf, out, err, n);
    if (!rc && so && !cJSON_IsNull(so)) sources++, rc = structured_outputs(so, out, err, n);
    for (size_t i = 0; !rc && i < sizeof guided / sizeof *guided; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, guided[i][0]);
        if (!v || cJSON_IsNull(v)) continue;
        cJSON *wrap = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(wrap, guided[i][1], (cJSON *)v);
        sources++, rc = structured_outputs(wrap, out, err, n);
        cJSON_Delete(wrap);
        if (rc) snprintf(err + strlen(err), n > strlen(err) ? n - strlen(err) : 0, " (given as '%s')", guided[i][0]);
    }
    if (!rc && sources > 1)
        return struct_spec_free(out), snprintf(err, n, "give one of response_format, structured_outputs and guided_*"), 400;
    return rc;
}

int api_structured_tgi(const cJSON *p, StructSpec *out, char *err, size_t n) {
    out->kind = -1;
    const cJSON *g = p ? cJSON_GetObjectItemCaseSensitive(p, "grammar") : NULL;
    if (!g || cJSON_IsNull(g)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(g, "type"), *value = cJSON_GetObjectItemCaseSensitive(g, "value");
    if (!cJSON_IsString(type) || !value) return snprintf(err, n, "'grammar' must be {\"type\": ..., \"value\": ...}"), 400;
    if (!strcmp(type->valuestring, "json")) return set_schema(out, value, "grammar.value", err, n);
    if (!strcmp(type->valuestring, "json_schema")) {
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(value, "schema");
        return set_schema(out, schema ? schema : value, "grammar.value", err, n);
    }
    if (!strcmp(type->valuestring, "regex")) return set_text(out, CONSTRAINT_REGEX, value, "grammar.value", err, n);
    return snprintf(err, n, "grammar type '%s' is not supported (json, json_schema, regex)", type->valuestring), 400;
}

int api_structured_ollama(const cJSON *b, StructSpec *out, char *err, size_t n) {
    out->kind = -1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "format");
    if (!f || cJSON_IsNull(f) || (cJSON_IsString(f) && !*f->valuestring)) return 0;
    if (cJSON_IsString(f) && !strcmp(f->valuestring, "json")) return struct_spec_set(out, CONSTRAINT_JSON_OBJECT, "");
    if (cJSON_IsObject(f)) return set_schema(out, f, "format", err, n);
    return snprintf(err, n, "'format' must be \"json\" or a JSON Schema"), 400;
}
