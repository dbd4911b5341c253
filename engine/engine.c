/* Engine lifecycle and requests (see engine.h): loading the model, creating the runner
 * (backend, KV cache sized like vLLM: engine/runner_memory.c) and the scheduler, queueing and
 * aborting requests. engine_step.c runs the steps. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/err.h"
#include "engine/engine_internal.h"

#define GiB (1024.0 * 1024.0 * 1024.0)

static int check_args(const EngineArgs *a, char *err, size_t errlen) {
    if (!(a->gpu_memory_utilization > 0.0f && a->gpu_memory_utilization <= 1.0f))
        return err_set(err, errlen, -EINVAL, "--gpu-memory-utilization must be in (0, 1], got %g",
                       a->gpu_memory_utilization);
    if (a->block_size <= 0 || a->block_size > 1024 || a->max_num_seqs <= 0 || a->max_num_batched_tokens <= 0)
        return err_set(err, errlen, -EINVAL,
                       "--block-size, --max-num-seqs and --max-num-batched-tokens must be positive");
    return 0;
}

static void log_plan(const Engine *e) {
    const ModelConfig *c = &e->tm.model->cfg;
    const Runner *r = e->runner;
    int64_t blocks = r->num_blocks - 1, tokens = blocks * e->args.block_size;
    const Model *m = e->tm.model;
    static const char *const formats[] = {"gguf", "safetensors", "dummy"};
    log_line(LOG_INFO, "weights: %s, %s%s", formats[m->format], m->weight_dtype >= 0 ? dtype_name(m->weight_dtype) : "mixed",
             m->format == MODEL_FORMAT_GGUF ? " (as stored)" : " (--dtype)");
    if (e->tm.gen_summary[0])
        log_line(LOG_INFO, "generation_config.json defaults: %s (a request's own values win)", e->tm.gen_summary);
    log_line(LOG_INFO, "model %s (%s, %d layers, dim %d), backend %s (%s)", c->name, c->arch, c->n_layers, c->dim,
             r->be->name, r->be->device_name);
    log_line(LOG_INFO, "KV cache: %lld blocks of %d tokens = %lld tokens, %.2f GiB, %s", (long long)blocks,
             e->args.block_size, (long long)tokens, r->kv_bytes / GiB,
             r->kv_dtype == DT_F16 ? "f16" : r->kv_dtype == DT_BF16 ? "bf16" : "f32");
    log_line(LOG_INFO, "Maximum concurrency for %d tokens per request: %.2fx", e->tm.max_model_len,
             (double)tokens / e->tm.max_model_len);
}

int engine_create(const EngineArgs *a, Engine **out, char *err, size_t errlen) {
    *out = NULL;
    int rc = check_args(a, err, errlen);
    if (rc) return rc;
    Engine *e = calloc(1, sizeof *e);
    if (!e) return err_set(err, errlen, -ENOMEM, "out of memory");
    e->args = *a;
    TextModelArgs ta = {a->model_path, a->chat_template, a->max_model_len, a->dtype, a->generation_config,
                        a->load_dummy, a->dummy_seed};
    if ((rc = text_model_open(&e->tm, &ta, err, errlen))) goto fail;
    RunnerArgs ra = {.backend = a->backend,
                     .max_num_seqs = a->max_num_seqs,
                     .max_num_batched_tokens = a->max_num_batched_tokens,
                     .max_model_len = e->tm.max_model_len,
                     .block_size = a->block_size,
                     .kv_cache_dtype = a->kv_cache_dtype,
                     .kv_cache_memory = a->kv_cache_memory,
                     .gpu_memory_utilization = a->gpu_memory_utilization,
                     .num_blocks_override = a->num_gpu_blocks_override,
                     .enforce_eager = a->enforce_eager,
                     .log = a->log_stats};
    if ((rc = runner_create(&ra, e->tm.model, &e->runner, err, errlen))) goto fail;
    if (e->tm.tok && (rc = constraint_vocab_create(e->tm.tok, &e->vocab, err, errlen))) goto fail;
    SchedConfig sc;
    sched_config_default(&sc);
    sc.num_blocks = (int32_t)e->runner->num_blocks;
    sc.block_size = a->block_size;
    sc.max_num_seqs = a->max_num_seqs;
    sc.max_num_batched_tokens = a->max_num_batched_tokens;
    sc.max_model_len = e->tm.max_model_len;
    sc.enable_prefix_caching = a->enable_prefix_caching;
    sc.enable_chunked_prefill = a->enable_chunked_prefill;
    if ((rc = sched_create(&sc, &e->sched, err, errlen))) goto fail;
    size_t B = (size_t)a->max_num_seqs;
    e->sampled = malloc(B * sizeof *e->sampled);
    e->stopped = malloc(B * sizeof *e->stopped);
    e->forks = calloc(B, sizeof *e->forks);
    e->scratch = sampler_scratch_create(e->tm.model->cfg.vocab_size);
    if (!e->sampled || !e->stopped || !e->forks || !e->scratch) {
        rc = err_set(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    e->stats.num_blocks = e->runner->num_blocks - 1; /* usable: block 0 is the null block */
    e->stats.block_size = a->block_size;
    e->last_log_t = engine_now();
    if (a->log_stats) log_plan(e);
    *out = e;
    return 0;
fail:
    engine_destroy(e);
    return rc;
}

void engine_destroy(Engine *e) {
    if (!e) return;
    for (size_t i = 0; i < e->seqs.cap; i++)
        if (e->seqs.keys[i] >= 0 && e->seqs.vals[i]->sched_id == e->seqs.keys[i]) engine_seq_free(e->seqs.vals[i]);
    seqmap_free(&e->seqs);
    for (int i = 0; i < e->n_dead; i++) engine_seq_free(e->dead[i]);
    for (int i = 0; i < e->n_aborted; i++) engine_seq_free(e->aborted[i]);
    free(e->dead);
    free(e->aborted);
    free(e->outs);
    sched_destroy(e->sched);
    runner_destroy(e->runner); /* before the model: its weights may live on the backend */
    constraint_vocab_destroy(e->vocab);
    text_model_free(&e->tm);
    free(e->sampled);
    free(e->stopped);
    free(e->forks);
    sampler_scratch_destroy(e->scratch);
    free(e);
}

const Backend *engine_backend(const Engine *e) { return e->runner->be; }
int64_t engine_weight_bytes(const Engine *e) { return model_weight_bytes(e->tm.model); }
int64_t engine_kv_bytes_per_token(const Engine *e) {
    return kv_cache_bytes_per_token(&e->tm.model->cfg, e->runner->kv_dtype);
}
int engine_kv_dtype(const Engine *e) { return e->runner->kv_dtype; }
const ModelConfig *engine_model_config(const Engine *e) { return &e->tm.model->cfg; }
const Tokenizer *engine_tokenizer(const Engine *e) { return e->tm.tok; }
const ConstraintVocab *engine_constraint_vocab(const Engine *e) { return e->vocab; }
int engine_max_model_len(const Engine *e) { return e->tm.max_model_len; }

const ChatTemplate *engine_chat_template(const Engine *e, const char **err) {
    if (err) *err = e->tm.has_chat ? NULL : e->tm.chat_err;
    return e->tm.has_chat ? &e->tm.chat : NULL;
}

int engine_add_request(Engine *e, const int32_t *prompt, int n_prompt, const RequestParams *p, int64_t *id,
                       char *err, size_t errlen) {
    if (n_prompt <= 0) return err_set(err, errlen, -EINVAL, "the prompt is empty");
    if (n_prompt >= e->tm.max_model_len)
        return err_set(err, errlen, -EINVAL,
                        "the prompt has %d tokens, but the maximum context length is %d tokens (prompt plus output)",
                        n_prompt, e->tm.max_model_len);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= e->tm.model->cfg.vocab_size)
            return err_set(err, errlen, -EINVAL, "token id %d is out of range [0, %d)", prompt[i], e->tm.model->cfg.vocab_size);
    if (sampling_params_validate(&p->sampling, err, errlen)) return -1;
    if (p->n < 1 || p->n > 128) return err_set(err, errlen, -EINVAL, "n must be in [1, 128], got %d", p->n);
    if (p->n > e->args.max_num_seqs)
        return err_set(err, errlen, -EINVAL, "n = %d is more than --max-num-seqs %d", p->n, e->args.max_num_seqs);
    if (p->n_stop < 0 || p->n_stop > ENGINE_MAX_STOP || p->n_stop_token_ids < 0 ||
        p->n_stop_token_ids > ENGINE_MAX_STOP)
        return err_set(err, errlen, -EINVAL, "at most %d stop strings and %d stop token ids", ENGINE_MAX_STOP, ENGINE_MAX_STOP);
    if (p->min_tokens < 0 || (p->max_tokens > 0 && p->min_tokens > p->max_tokens))
        return err_set(err, errlen, -EINVAL, "min_tokens must be in [0, max_tokens]");
    int V = e->tm.model->cfg.vocab_size;
    if (p->n_logit_bias < 0 || p->n_logit_bias > V) return err_set(err, errlen, -EINVAL, "too many logit_bias entries");
    for (int i = 0; i < p->n_logit_bias; i++)
        if (p->logit_bias[i].id < 0 || p->logit_bias[i].id >= V || !(p->logit_bias[i].bias >= -100 && p->logit_bias[i].bias <= 100))
            return err_set(err, errlen, -EINVAL, "logit_bias: token %d must be in [0, %d) with a bias in [-100, 100]",
                           p->logit_bias[i].id, V);
    if (p->constraint && !e->vocab)
        return err_set(err, errlen, -EINVAL, "structured outputs need the model's tokenizer (this model has none)");
    if (p->prompt_logprobs > SAMPLER_MAX_LOGPROBS)
        return err_set(err, errlen, -EINVAL, "prompt_logprobs must be at most %d", SAMPLER_MAX_LOGPROBS);
    int64_t room = e->tm.max_model_len - n_prompt;
    int64_t max_tokens = p->max_tokens > 0 ? (p->max_tokens < room ? p->max_tokens : room) : room;
    EngineSeq *s = engine_seq_new(e, p, 0, err, errlen);
    if (!s) return -1;
    if (sched_add_request(e->sched, prompt, n_prompt, max_tokens, &s->sched_id, err, errlen) ||
        seqmap_put(&e->seqs, s->sched_id, s)) {
        engine_seq_free(s);
        return -1;
    }
    s->req_id = s->sched_id;
    s->n_prompt = n_prompt;
    if (p->prompt_logprobs >= 0) { /* every prompt token's logits: no cached prefix */
        if (!(s->prompt_lps = calloc((size_t)n_prompt, sizeof *s->prompt_lps))) {
            sched_abort(e->sched, s->sched_id);
            seqmap_del(&e->seqs, s->sched_id);
            engine_seq_free(s);
            return err_set(err, errlen, -ENOMEM, "out of memory");
        }
        s->prompt_lps[0] = (SampleResult){.id = prompt[0], .logprob = NAN};
        sched_set_no_prefix_cache(e->sched, s->sched_id);
    }
    s->t_arrival = engine_now();
    s->children_pending = p->n - 1;
    *id = s->req_id;
    return 0;
}

/* End one live sequence now and keep it for the next step's FINISH_ABORT report. */
static void abort_seq(Engine *e, EngineSeq *s) {
    sched_abort(e->sched, s->sched_id);
    seqmap_del(&e->seqs, s->sched_id);
    s->finish = FINISH_ABORT;
    s->n_step = 0;
    void *p = realloc(e->aborted, ((size_t)e->n_aborted + 1) * sizeof *e->aborted);
    if (!p) {
        engine_seq_free(s);
        return;
    }
    e->aborted = p;
    e->aborted[e->n_aborted++] = s;
}

int engine_abort(Engine *e, int64_t id) {
    int found = 0;
    EngineSeq *parent = seqmap_get(&e->seqs, id);
    if (parent && parent->req_id == id) {
        abort_seq(e, parent);
        found = 1;
    }
    /* children of an n > 1 request: the map holds them under their own ids */
    for (size_t i = 0; i < e->seqs.cap; i++)
        if (e->seqs.keys[i] >= 0 && e->seqs.vals[i]->req_id == id) {
            abort_seq(e, e->seqs.vals[i]);
            found = 1;
        }
    return found ? 0 : -1;
}

int engine_has_unfinished(const Engine *e) { return sched_has_unfinished(e->sched) || e->n_aborted > 0; }

void engine_get_stats(const Engine *e, EngineStats *st) {
    *st = e->stats;
    SchedStats ss;
    sched_get_stats(e->sched, &ss);
    st->num_running = ss.num_running;
    st->num_waiting = ss.num_waiting;
    st->kv_usage = ss.kv_usage;
    st->num_preemptions = ss.num_preemptions;
    st->prefix_cache_queries = ss.prefix_cache_queries;
    st->prefix_cache_hits = ss.prefix_cache_hits;
    st->graph_steps = e->runner->graph_replays;
}

const SamplingParams *engine_sampling_defaults(const Engine *e) { return &e->tm.gen_defaults; }
const Model *engine_model(const Engine *e) { return e->tm.model; }
