/* Single-sequence session (see session.h): loads the model, tokenizer, chat template and a
 * KV cache sized for one sequence of n_ctx tokens, and evaluates tokens in prefill chunks. */
#include "engine/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_BLOCK_SIZE 16

void session_options_default(SessionOptions *o) {
    memset(o, 0, sizeof *o);
    o->precision = MATMUL_Q8;
    o->kv_cache_dtype = KV_CACHE_DTYPE_AUTO;
    o->max_batch = 512;
}

int session_create(const char *model_path, const SessionOptions *o, Session **out, char *err, size_t errlen) {
    *out = NULL;
    Session *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errlen, "out of memory"), -1;
    if (text_model_load(&s->tm, model_path, o->chat_template, o->max_model_len, err, errlen)) goto fail;
    const ModelConfig *c = &s->tm.model->cfg;
    s->max_batch = o->max_batch > 0 ? o->max_batch : 512;
    if (s->max_batch > s->tm.max_model_len) s->max_batch = s->tm.max_model_len;
    int64_t n_blocks = (s->tm.max_model_len + SESSION_BLOCK_SIZE - 1) / SESSION_BLOCK_SIZE;
    s->be = cpu_backend_create(o->n_threads, o->precision);
    s->block_table = malloc((size_t)n_blocks * sizeof *s->block_table);
    s->positions = malloc((size_t)s->max_batch * sizeof *s->positions);
    s->slots = malloc((size_t)s->max_batch * sizeof *s->slots);
    s->logits = malloc((size_t)c->vocab_size * sizeof *s->logits);
    if (!s->be || !s->block_table || !s->positions || !s->slots || !s->logits ||
        kv_cache_init(&s->kv, c, n_blocks, SESSION_BLOCK_SIZE, kv_cache_dtype_resolve(o->kv_cache_dtype, o->precision)) != 0 ||
        forward_scratch_init(&s->scratch, c, s->max_batch, 1) != 0) {
        snprintf(err, errlen, "out of memory allocating the KV cache and buffers for %d tokens", s->tm.max_model_len);
        goto fail;
    }
    for (int64_t i = 0; i < n_blocks; i++) s->block_table[i] = (int32_t)i;
    *out = s;
    return 0;
fail:
    session_destroy(s);
    return -1;
}

void session_destroy(Session *s) {
    if (!s) return;
    forward_scratch_free(&s->scratch);
    kv_cache_free(&s->kv);
    if (s->be) cpu_backend_destroy(s->be);
    text_model_free(&s->tm);
    free(s->block_table);
    free(s->positions);
    free(s->slots);
    free(s->logits);
    free(s);
}

int session_eval(Session *s, const int32_t *ids, int n, char *err, size_t errlen) {
    if (n <= 0) return snprintf(err, errlen, "nothing to evaluate"), -1;
    if ((int64_t)s->n_past + n > s->tm.max_model_len)
        return snprintf(err, errlen, "the sequence needs %d tokens but the context holds %d (prompt too long?)",
                        s->n_past + n, s->tm.max_model_len),
               -1;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->tm.model->cfg.vocab_size)
            return snprintf(err, errlen, "token id %d is out of range [0, %d)", ids[i], s->tm.model->cfg.vocab_size), -1;
    for (int done = 0; done < n;) {
        int T = n - done < s->max_batch ? n - done : s->max_batch;
        for (int i = 0; i < T; i++) {
            s->positions[i] = s->n_past + i;
            s->slots[i] = s->n_past + i; /* identity block table: slot = position */
        }
        int32_t qs[2] = {0, T}, len = s->n_past + T;
        Batch b = {.tokens = ids + done,
                   .positions = s->positions,
                   .attn = {.T = T,
                            .B = 1,
                            .query_start = qs,
                            .seq_lens = &len,
                            .block_tables = s->block_table,
                            .max_blocks_per_seq = (int)s->kv.num_blocks,
                            .slot_mapping = s->slots}};
        if (model_forward(s->tm.model, s->be, &s->kv, &b, &s->scratch, s->logits) != 0)
            return snprintf(err, errlen, "forward pass failed"), -1;
        s->n_past += T;
        done += T;
    }
    return 0;
}

void session_reset(Session *s) { s->n_past = 0; }

void session_truncate(Session *s, int n) {
    if (n >= 0 && n < s->n_past) s->n_past = n;
}

int session_tokenize(const Session *s, const char *text, int add_special, int parse_special, int32_t **ids, char *err,
                     size_t errlen) {
    size_t len = strlen(text);
    int cap = (int)(len + 16 < 1 << 30 ? len + 16 : 1 << 30); /* a token covers at least one byte */
    *ids = malloc((size_t)cap * sizeof **ids);
    if (!*ids) return snprintf(err, errlen, "out of memory"), -1;
    int n = tokenizer_encode(s->tm.tok, text, len, add_special, parse_special, *ids, cap);
    if (n < 0 || n > cap) {
        free(*ids);
        *ids = NULL;
        return snprintf(err, errlen, "could not tokenize the prompt"), -1;
    }
    return n;
}
