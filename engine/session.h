/* A single-sequence session: one model, its tokenizer and chat template, a backend and a
 * paged KV cache holding one sequence. It is what `piston generate`, `piston run`,
 * `piston eval` and `piston bench latency` drive; the batched engine (scheduler) drives
 * model_forward the same way with many sequences. */
#ifndef PISTON_SESSION_H
#define PISTON_SESSION_H

#include "engine/text_model.h"
#include "kernels/backend.h"

typedef struct SessionOptions {
    int n_threads;            /* <= 0: all cores */
    MatmulPrecision precision;
    int kv_cache_dtype;       /* DT_F32, DT_F16 or KV_CACHE_DTYPE_AUTO (the default: f32 only with precision f32) */
    int max_model_len;        /* <= 0: the model's context length */
    int max_batch;            /* prefill chunk size, tokens per forward (default 512) */
    const char *chat_template; /* --chat-template name, or NULL for the model's own */
} SessionOptions;

void session_options_default(SessionOptions *o);

typedef struct Session {
    TextModel tm;             /* model, tokenizer, chat template, max_model_len */
    Backend *be;
    KvCache kv;
    ForwardScratch scratch;
    int max_batch;
    int n_past;               /* tokens already in the cache */
    int32_t *block_table;     /* [n_ctx / block_size] identity: one sequence owns every block */
    int32_t *positions;       /* [max_batch] */
    int64_t *slots;           /* [max_batch] */
    float *logits;            /* [vocab] after the last evaluated token */
} Session;

int session_create(const char *model_path, const SessionOptions *o, Session **out, char *err, size_t errlen);
void session_destroy(Session *s);
/* Append ids to the sequence and run them through the model in chunks of max_batch;
 * s->logits then holds the logits after the last one. Fails (nothing evaluated) when the
 * sequence would exceed n_ctx or an id is out of range. */
int session_eval(Session *s, const int32_t *ids, int n, char *err, size_t errlen);
/* Forget the sequence (the cache is reused). */
void session_reset(Session *s);
/* Drop the cache back to n tokens (n <= n_past), e.g. to re-run a prompt's last token. */
void session_truncate(Session *s, int n);
/* Tokenize text into a malloc'd array; returns the count or negative with err set. */
int session_tokenize(const Session *s, const char *text, int add_special, int parse_special, int32_t **ids, char *err,
                     size_t errlen);

#endif
