/* The prompts of `bench serve`, and how their lengths are counted.
 *
 * random    vLLM's RandomDataset: lengths drawn uniformly in [len (1 - r), len (1 + r)], the
 *           text made of random tokens of the local tokenizer (or, without one, of common
 *           English words), then adjusted until the length oracle counts exactly the drawn
 *           number of tokens: the server's /tokenize where it has one, so lengths are the
 *           server's own, else the local tokenizer.
 * jsonl     one prompt per line, {"prompt": ...} (or "text"), or ShareGPT records
 * custom    vLLM's name for the same
 * sharegpt  ShareGPT's format, a JSON array or one record per line: {"conversations": [{"from":
 *           "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}: the first turn is the
 *           prompt, the reply's length the output length (unless --sharegpt-output-len), and
 *           vLLM's filter drops prompts or replies under 4 tokens, prompts over 1024 and pairs
 *           over 2048; shuffled by --seed. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "base/hash.h"
#include "bench/serve.h"
#include "engine/tokenizer.h"

void serve_oracle_init(ServeOracle *o, const HcTarget *t, const char *model, const Tokenizer *tok) {
    o->target = t, o->model = model, o->tok = tok, o->tok_name = NULL, o->server = 0;
    if (t) o->server = serve_oracle_count(&(ServeOracle){t, model, 1, NULL, NULL}, "Hello world") > 0;
}

const char *serve_oracle_name(const ServeOracle *o) {
    return o->server ? "the server's /tokenize" : o->tok ? "the local tokenizer" : "none (estimates)";
}

int serve_oracle_count(const ServeOracle *o, const char *text) {
    if (o->server) {
        /* vLLM and Piston read "prompt", llama.cpp's server "content"; each ignores the other */
        cJSON *b = cJSON_CreateObject();
        if (o->model) cJSON_AddStringToObject(b, "model", o->model);
        cJSON_AddStringToObject(b, "prompt", text);
        cJSON_AddStringToObject(b, "content", text);
        cJSON_AddBoolToObject(b, "add_special_tokens", 0);
        cJSON_AddBoolToObject(b, "add_special", 0);
        char *s = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        HcResponse r;
        char err[256];
        int rc = s ? hc_fetch(o->target, "POST", "/tokenize", s, 30, &r, err, sizeof err) : -1;
        free(s);
        if (rc) return -1;
        int n = -1;
        cJSON *j = r.status == 200 ? cJSON_Parse(r.body) : NULL;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "count");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "tokens");
        if (cJSON_IsNumber(c)) n = c->valueint;
        else if (cJSON_IsArray(ids)) n = cJSON_GetArraySize(ids);
        cJSON_Delete(j);
        free(r.body);
        return n;
    }
    if (o->tok) {
        int32_t *ids = NULL;
        int n = tokenizer_encode_alloc(o->tok, text, strlen(text), 0, 0, &ids);
        free(ids);
        return n;
    }
    return -1;
}

void serve_prompts_free(ServePrompt *p, int n) {
    for (int i = 0; p && i < n; i++) free(p[i].text);
    free(p);
}

/* The text units random prompts are made of: tokens of the local tokenizer whose text is
 * printable UTF-8 on its own (a JSON body must be valid UTF-8), or common words. */
typedef struct Units {
    const char **s;
    int n;
} Units;

static const char *const words[] = {
    " the", " of", " and", " to", " in", " is", " was", " that", " for", " on", " as", " with", " by", " he",
    " at", " from", " his", " an", " were", " are", " which", " this", " be", " or", " had", " it", " not",
    " but", " first", " one", " their", " they", " its", " new", " after", " who", " she", " two", " her",
    " time", " all", " also", " been", " have", " when", " more", " there", " can", " other", " would", " into",
    " city", " year", " may", " world", " people", " music", " school", " water", " house", " game", " light",
    " river", " state", " music", " war", " team", " book", " work", " life", " part", " day", " name", " number",
    " water", " system", " group", " family", " place", " point", " power", " road", " story", " field", " line",
    " small", " large", " early", " long", " great", " high", " old", " young", " good", " same", " last", " next",
    " blue", " green", " red", " white", " black", " north", " south", " east", " west", " open", " free",
};

static int printable_utf8(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
        int k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + (size_t)k > n) return 0;
        for (int j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int units_init(Units *u, const Tokenizer *tok) {
    u->s = NULL, u->n = 0;
    if (tok) {
        int nv = tokenizer_n_vocab(tok);
        u->s = malloc((size_t)nv * sizeof *u->s);
        if (!u->s) return -1;
        for (int i = 0; i < nv; i++) {
            size_t l;
            const char *p = tokenizer_piece(tok, i, &l);
            if (tokenizer_is_control(tok, i) || !printable_utf8(p, l) || memchr(p, '<', l)) continue;
            char *c = malloc(l + 1);
            if (!c) continue;
            memcpy(c, p, l), c[l] = 0;
            u->s[u->n++] = c;
        }
        if (u->n >= 256) return 0;
        for (int i = 0; i < u->n; i++) free((void *)u->s[i]);
        free(u->s);
        u->s = NULL, u->n = 0;
    }
    u->s = malloc(sizeof words);
    if (!u->s) return -1;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) u->s[u->n++] = words[i];
    return 0;
}

static void units_free(Units *u, const Tokenizer *tok) {
    if (tok && u->s && u->s[0] != words[0])
        for (int i = 0; i < u->n; i++) free((void *)u->s[i]);
    free(u->s);
}

/* Text of k units: their concatenation */
static char *join(const Units *u, const int *idx, int k) {
    size_t len = 1;
    for (int i = 0; i < k; i++) len += strlen(u->s[idx[i]]);
    char *t = malloc(len), *p = t;
    if (!t) return NULL;
    for (int i = 0; i < k; i++) {
        size_t l = strlen(u->s[idx[i]]);
        memcpy(p, u->s[idx[i]], l);
        p += l;
    }
    *p = 0;
    return t;
}

/* A prompt of exactly `target` tokens by the oracle. Units are joined, counted, and the count
 * steered: a big miss moves the number of units by the miss; a small one adds or drops one
 * unit; and where that overshoots both ways (a unit that merges with its neighbour counts 0,
 * one that splits counts 2) the last unit is drawn again, which breaks the cycle. *len gets
 * the count, which is the target unless 64 rounds did not reach it. */
static char *random_prompt(const ServeOracle *o, const Units *u, uint64_t *rng, int target, int *len) {
    int cap = target * 2 + 16, k = target;
    int *idx = malloc((size_t)cap * sizeof *idx);
    if (!idx) return NULL;
    for (int i = 0; i < cap; i++) idx[i] = (int)(hash_splitmix64(rng) % (uint64_t)u->n);
    char *text = join(u, idx, k);
    int c = text ? serve_oracle_count(o, text) : -1, prev = 0;
    for (int round = 0; c >= 0 && c != target && round < 64 && text; round++) {
        int miss = target - c; /* tokens missing (+) or extra (-) */
        if ((prev > 0 && miss < 0) || (prev < 0 && miss > 0)) {
            idx[k - 1] = (int)(hash_splitmix64(rng) % (uint64_t)u->n); /* overshot both ways: another unit */
            if (miss < 0 && k > 1) k--;
        } else {
            k += abs(miss) > 2 && round < 8 ? miss : miss > 0 ? 1 : -1;
        }
        if (k < 1) k = 1;
        if (k > cap) k = cap;
        prev = miss;
        free(text);
        text = join(u, idx, k);
        c = text ? serve_oracle_count(o, text) : -1;
    }
    free(idx);
    if (c < 0) c = target; /* nothing counts: the drawn length stands (an estimate) */
    *len = c;
    return text;
}

static int draw_len(uint64_t *rng, int len, double r) {
    int lo = (int)floor(len * (1 - r)), hi = (int)ceil(len * (1 + r));
    if (lo < 1) lo = 1;
    if (hi < lo) hi = lo;
    return lo + (int)(hash_splitmix64(rng) % (uint64_t)(hi - lo + 1));
}

static int make_random(const ServeDataset *ds, const ServeOracle *o, ServePrompt *p, char *err, size_t errlen) {
    Units u;
    if (units_init(&u, o->tok)) return err_set(err, errlen, -ENOMEM, "out of memory");
    uint64_t rng = ds->seed * HASH_GOLDEN + 1;
    for (int i = 0; i < ds->num_prompts; i++) {
        int in = draw_len(&rng, ds->input_len, ds->range_ratio);
        p[i].output_len = draw_len(&rng, ds->output_len, ds->range_ratio);
        p[i].text = random_prompt(o, &u, &rng, in, &p[i].prompt_len);
        if (!p[i].text) {
            units_free(&u, o->tok);
            return err_set(err, errlen, -ENOMEM, "out of memory");
        }
    }
    units_free(&u, o->tok);
    return 0;
}


/* One record: a prompt line or a ShareGPT conversation. 1 taken, 0 skipped, -1 error. */
static int take_record(const ServeDataset *ds, const ServeOracle *o, const cJSON *rec, int line, ServePrompt *out,
                       char *err, size_t errlen) {
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
    if (!conv) conv = cJSON_GetObjectItemCaseSensitive(rec, "conversation");
    if (cJSON_IsArray(conv)) { /* ShareGPT */
        const cJSON *a = cJSON_GetArrayItem(conv, 0), *b = cJSON_GetArrayItem(conv, 1);
        const cJSON *av = cJSON_GetObjectItemCaseSensitive(a, "value"), *bv = cJSON_GetObjectItemCaseSensitive(b, "value");
        if (!cJSON_IsString(av) || !cJSON_IsString(bv)) return 0; /* vLLM drops records under two turns */
        int pl = serve_oracle_count(o, av->valuestring);
        int ol = ds->sharegpt_output_len > 0 ? ds->sharegpt_output_len : serve_oracle_count(o, bv->valuestring);
        if (pl < 0 || ol < 0) {
            err_set(err, errlen, -EINVAL, "%s: ShareGPT lengths need a /tokenize on the server or --tokenizer", ds->path);
            return -1;
        }
        if (pl < 4 || (ds->sharegpt_output_len <= 0 && ol < 4) || pl > 1024 || pl + ol > 2048) return 0;
        out->text = strdup(av->valuestring), out->prompt_len = pl, out->output_len = ol;
        return out->text ? 1 : -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "prompt");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rec, "text");
    if (!cJSON_IsString(t)) {
        err_set(err, errlen, -EINVAL, "%s: record %d has no \"prompt\" string and no \"conversations\"", ds->path, line);
        return -1;
    }
    int pl = serve_oracle_count(o, t->valuestring);
    const cJSON *ol = cJSON_GetObjectItemCaseSensitive(rec, "output_len");
    out->text = strdup(t->valuestring);
    out->prompt_len = pl >= 0 ? pl : (int)(strlen(t->valuestring) / 4 + 1);
    out->output_len = cJSON_IsNumber(ol) && ol->valueint > 0 ? ol->valueint : ds->output_len;
    return out->text ? 1 : -1;
}

static int make_file(const ServeDataset *ds, const ServeOracle *o, ServePrompt *p, int *n, char *err, size_t errlen) {
    size_t len;
    char *buf; /* a dataset is a file a person chose: large, but not without end */
    if (base_read_file(ds->path, (size_t)4 << 30, &buf, &len, err, errlen)) return -1;
    /* the records: a JSON array, or one JSON object per line */
    cJSON *arr = NULL;
    const char *s = buf;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    int n_rec = 0;
    cJSON **recs = NULL;
    if (*s == '[') {
        arr = cJSON_Parse(s);
        if (!cJSON_IsArray(arr)) {
            free(buf), cJSON_Delete(arr);
            return err_set(err, errlen, -EINVAL, "%s: not valid JSON", ds->path);
        }
        n_rec = cJSON_GetArraySize(arr);
        recs = malloc(((size_t)n_rec + 1) * sizeof *recs);
        int i = 0;
        for (cJSON *e = arr->child; recs && e; e = e->next) recs[i++] = e;
    } else {
        int lines = 1;
        for (const char *q = s; *q; q++) lines += *q == '\n';
        recs = malloc((size_t)lines * sizeof *recs);
        for (char *line = (char *)s; recs && line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            char *q = line;
            while (*q == ' ' || *q == '\t' || *q == '\r') q++;
            if (*q) {
                cJSON *r = cJSON_Parse(q);
                if (!cJSON_IsObject(r)) {
                    for (int i = 0; i < n_rec; i++) cJSON_Delete(recs[i]);
                    free(recs), free(buf), cJSON_Delete(r);
                    return err_set(err, errlen, -EINVAL, "%s: line %d is not a JSON object", ds->path, n_rec + 1);
                }
                recs[n_rec++] = r;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    int rc = recs ? 0 : err_set(err, errlen, -ENOMEM, "out of memory");
    int sharegpt = !strcmp(ds->name, "sharegpt");
    if (!rc && sharegpt) { /* vLLM shuffles ShareGPT before taking the first num_prompts */
        uint64_t rng = ds->seed * HASH_GOLDEN + 7;
        for (int i = n_rec - 1; i > 0; i--) {
            int j = (int)(hash_splitmix64(&rng) % (uint64_t)(i + 1));
            cJSON *t = recs[i];
            recs[i] = recs[j], recs[j] = t;
        }
    }
    *n = 0;
    for (int i = 0; !rc && i < n_rec && *n < ds->num_prompts; i++) {
        int k = take_record(ds, o, recs[i], i + 1, &p[*n], err, errlen);
        if (k < 0) rc = -1;
        else *n += k;
    }
    if (!arr)
        for (int i = 0; recs && i < n_rec; i++) cJSON_Delete(recs[i]);
    cJSON_Delete(arr);
    free(recs), free(buf);
    if (!rc && *n == 0) rc = err_set(err, errlen, -EINVAL, "%s: no usable prompts", ds->path);
    return rc;
}

int serve_dataset_make(const ServeDataset *ds, const ServeOracle *o, ServePrompt **out, int *n, char *err,
                       size_t errlen) {
    *out = NULL, *n = 0;
    ServePrompt *p = calloc((size_t)ds->num_prompts + 1, sizeof *p);
    if (!p) return err_set(err, errlen, -ENOMEM, "out of memory");
    int rc;
    if (!strcmp(ds->name, "random")) {
        rc = make_random(ds, o, p, err, errlen);
        *n = ds->num_prompts;
    } else if (!strcmp(ds->name, "jsonl") || !strcmp(ds->name, "custom") || !strcmp(ds->name, "sharegpt")) {
        rc = ds->path ? make_file(ds, o, p, n, err, errlen)
                      : err_set(err, errlen, -EINVAL, "--dataset-name %s needs --dataset-path FILE", ds->name);
    } else {
        rc = err_set(err, errlen, -EINVAL, "--dataset-name: random, jsonl, custom or sharegpt, not '%s'", ds->name);
    }
    if (rc) {
        serve_prompts_free(p, ds->num_prompts);
        *n = 0;
        return -1;
    }
    *out = p;
    return 0;
}
