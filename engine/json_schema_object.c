/* JSON Schema objects and arrays as grammar (see json_schema.c for the choices): an object's
 * members in the schema's order with commas only between those present, optional members
 * skippable, additional members (when allowed) after the named ones under keys that differ
 * from theirs; an array's tuple part (prefixItems, or draft 4's items list) then its items,
 * with minItems / maxItems. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constraint_internal.h"
#include "engine/json_schema_internal.h"

typedef struct Prop {
    const char *key;
    int kv;       /* "key" ws ":" ws value */
    int required;
} Prop;

/* A JSON string that is none of the keys (for additional properties): the keys' trie, each
 * node allowing the string to end (unless a key ends there), to continue with a character no
 * key continues with (then anything), or to follow a key. Additional keys are printable
 * ASCII without escapes, so that the comparison is byte by byte. */
static int key_not_in(Js *s, const Prop *p, int n, size_t depth) {
    Grammar *g = s->g;
    ByteSet plain = {{0}}, other;
    for (unsigned b = 0x20; b < 0x7F; b++)
        if (b != '"' && b != '\\') byteset_add(&plain, b);
    other = plain;
    int alts[100], na = 0, ends = 0;
    uint8_t next[96];
    int nn = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(p[i].key);
        unsigned char c = len > depth ? (unsigned char)p[i].key[depth] : 0;
        if (len == depth) ends = 1;
        else if (byteset_has(&plain, c) && byteset_has(&other, c)) next[nn++] = c, other.w[c >> 5] &= ~(1u << (c & 31));
    }
    if (!ends) alts[na++] = grammar_empty(g);
    alts[na++] = grammar_seq2(g, grammar_byteset(g, &other), grammar_repeat(g, grammar_byteset(g, &plain), 0, -1));
    for (int i = 0; i < nn; i++) {
        Prop *sub = malloc((size_t)n * sizeof *sub);
        int ns = 0;
        for (int k = 0; sub && k < n; k++)
            if (strlen(p[k].key) > depth && (unsigned char)p[k].key[depth] == next[i]) sub[ns++] = p[k];
        alts[na++] = grammar_seq2(g, grammar_byte_range(g, next[i], next[i]), sub ? key_not_in(s, sub, ns, depth + 1) : -1);
        free(sub);
    }
    return grammar_alt(g, alts, na);
}

int js_object(Js *s, const cJSON *o) {
    Grammar *g = s->g;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties"), *req = cJSON_GetObjectItemCaseSensitive(o, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(o, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return js_fail(s, "'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return js_fail(s, "'required' must be a list of names");
    int n = cJSON_GetArraySize(props), k = 0;
    Prop *p = calloc((size_t)n + 1, sizeof *p);
    if (!p) return grammar_fail(g, -ENOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, props) {
        int v = js_child(s, e, "/properties/%s", e->string);
        p[k].key = e->string;
        p[k].kv = grammar_seq(g, (int[]){json_literal_string(&s->j, e->string), json_ws(&s->j), grammar_str(g, ":"),
                                        json_ws(&s->j), v}, 5);
        const cJSON *r;
        cJSON_ArrayForEach(r, req) p[k].required |= cJSON_IsString(r) && !strcmp(r->valuestring, e->string);
        k++;
    }
    cJSON_ArrayForEach(e, req) {
        int known = 0;
        for (int i = 0; i < n; i++) known |= cJSON_IsString(e) && !strcmp(e->valuestring, p[i].key);
        if (!known && !(addl && !cJSON_IsFalse(addl)))
            js_fail(s, "required property '%s' is not in 'properties'", cJSON_IsString(e) ? e->valuestring : "?");
    }
    int extra = -1; /* one additional member, when allowed */
    if (addl && !cJSON_IsFalse(addl)) {
        int v = cJSON_IsTrue(addl) ? json_value(&s->j) : js_child(s, addl, "/additionalProperties");
        int key = grammar_seq3(g, grammar_str(g, "\""), key_not_in(s, p, n, 0), grammar_str(g, "\""));
        /* a rule: the member rules below refer to it from several places */
        int r = grammar_rule_new(g, "additional");
        grammar_rule_set(g, r, grammar_seq(g, (int[]){key, json_ws(&s->j), grammar_str(g, ":"), json_ws(&s->j), v}, 5));
        extra = grammar_ref(g, r);
    }
    if (s->rc) return free(p), -1;
    /* after[i]: members i.. when at least one came before (each then starts with a comma);
     * first[i]: members i.. when none came before. Rules, so that the optional branches
     * share them instead of copying. */
    int comma = grammar_seq2(g, grammar_str(g, ","), json_ws(&s->j));
    int more_extra = extra >= 0 ? grammar_repeat(g, grammar_seq3(g, comma, extra, json_ws(&s->j)), 0, -1) : grammar_empty(g);
    int after = more_extra, first = extra >= 0 ? grammar_opt(g, grammar_seq3(g, extra, json_ws(&s->j), more_extra))
                                               : grammar_empty(g);
    for (int i = n - 1; i >= 0; i--) {
        int kv = grammar_seq2(g, p[i].kv, json_ws(&s->j));
        int ra = grammar_rule_new(g, "members"), rf = grammar_rule_new(g, "members");
        int with = grammar_seq3(g, comma, kv, after), lead = grammar_seq2(g, kv, after);
        grammar_rule_set(g, ra, p[i].required ? with : grammar_alt2(g, with, after));
        grammar_rule_set(g, rf, p[i].required ? lead : grammar_alt2(g, lead, first));
        after = grammar_ref(g, ra), first = grammar_ref(g, rf);
    }
    free(p);
    return grammar_seq3(g, grammar_str(g, "{"), json_ws(&s->j), grammar_seq2(g, first, grammar_str(g, "}")));
}

/* ---- arrays ---- */

int js_array(Js *s, const cJSON *o) {
    Grammar *g = s->g;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items"), *prefix = cJSON_GetObjectItemCaseSensitive(o, "prefixItems");
    long lo = js_count(s, o, "minItems"), hi = js_count(s, o, "maxItems");
    if (lo == -2 || hi == -2) return -1;
    if (lo < 0) lo = 0;
    if (hi >= 0 && hi < lo) return js_fail(s, "minItems %ld is above maxItems %ld", lo, hi);
    if (cJSON_IsArray(items)) prefix = items, items = cJSON_GetObjectItemCaseSensitive(o, "additionalItems");
    int np = cJSON_GetArraySize(prefix);
    int item = -1;
    if (np > 0 && !items) item = -1; /* a tuple: nothing after it unless items says so */
    else if (!items || cJSON_IsTrue(items)) item = json_value(&s->j);
    else if (!cJSON_IsFalse(items)) {
        int r = grammar_rule_new(g, "item");
        grammar_rule_set(g, r, js_child(s, items, "/items"));
        item = grammar_ref(g, r);
    }
    int comma = grammar_seq2(g, grammar_str(g, ","), json_ws(&s->j));
    int *slots = malloc(((size_t)np + 1) * sizeof *slots);
    if (!slots) return grammar_fail(g, -ENOMEM, "out of memory");
    for (int i = 0; i < np; i++) slots[i] = grammar_seq2(g, js_child(s, cJSON_GetArrayItem(prefix, i), "/prefixItems/%d", i), json_ws(&s->j));
    /* position i (0-based) is required when i < minItems; the tuple part first, then items */
    int tail = grammar_empty(g);
    if (item >= 0) {
        long rest_lo = lo > np ? lo - np : 0, rest_hi = hi < 0 ? -1 : hi > np ? hi - np : 0;
        int one = grammar_seq2(g, item, json_ws(&s->j));
        if (np == 0) { /* first item without a comma */
            int more = grammar_repeat(g, grammar_seq2(g, comma, one), rest_lo > 0 ? (int)rest_lo - 1 : 0,
                                      rest_hi < 0 ? -1 : rest_hi > 0 ? (int)rest_hi - 1 : 0);
            tail = rest_hi == 0 ? grammar_empty(g) : grammar_seq2(g, one, more);
            if (rest_lo == 0 && rest_hi != 0) tail = grammar_opt(g, tail);
        } else {
            tail = grammar_repeat(g, grammar_seq2(g, comma, one), (int)rest_lo, (int)rest_hi);
        }
    } else if (lo > np) {
        free(slots);
        return js_fail(s, "minItems %ld needs more items than the %d that 'prefixItems' allows", lo, np);
    }
    int x = tail;
    for (int i = np - 1; i >= 0; i--) { /* slot i, then the rest; optional from minItems on */
        int rest = grammar_seq2(g, slots[i], x);
        if (i > 0) rest = grammar_seq2(g, comma, rest);
        x = i >= lo ? grammar_opt(g, rest) : rest;
        if (hi >= 0 && i >= hi) x = grammar_empty(g);
    }
    free(slots);
    return grammar_seq(g, (int[]){grammar_str(g, "["), json_ws(&s->j), x, grammar_str(g, "]")}, 4);
}

