/* Prompt logprobs through the engine on the real default model: every prompt token after
 * the first gets the logprob, rank and top-N of the logits at the position before it, and
 * those equal what a request made of the prompt's first i tokens samples from (its raw
 * logits row, return_logits), for prompts longer than one prefill chunk (the rows of
 * several steps) and alongside other requests; the request's prefix is computed even when it
 * is in the prefix cache; and top_logprobs of 20 for generated tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tests/unit/test.h"

static char model_path[4096];

static Engine *make_engine(int max_batched) {
    EngineArgs a;
    engine_args_default(&a);
    a.model_path = model_path;
    a.max_model_len = 256;
    a.max_num_seqs = 8;
    a.max_num_batched_tokens = max_batched;
    a.kv_cache_memory = (int64_t)32 << 20;
    a.log_stats = 0;
    char err[512];
    Engine *e = NULL;
    if (engine_create(&a, &e, err, sizeof err)) fprintf(stderr, "engine_create: %s\n", err);
    return e;
}

/* Run one request; copy its prompt logprobs (n_prompt) and its first raw logits row. */
static void run(Engine *e, const int32_t *ids, int n, const RequestParams *p, SampleResult *plp, float *row0,
                SampleResult *lp0) {
    int64_t id;
    char err[256];
    CHECK(engine_add_request(e, ids, n, p, &id, err, sizeof err) == 0, "%s", err);
    int V = engine_model_config(e)->vocab_size, got_plp = 0;
    while (engine_has_unfinished(e)) {
        const EngineOutput *o;
        int k;
        if (engine_step(e, &o, &k)) break;
        for (int j = 0; j < k; j++) {
            if (o[j].request_id != id) continue;
            if (o[j].prompt_logprobs && plp) memcpy(plp, o[j].prompt_logprobs, (size_t)n * sizeof *plp), got_plp = 1;
            if (o[j].logits && row0) memcpy(row0, o[j].logits, (size_t)V * sizeof *row0), row0 = NULL;
            if (o[j].new_logprobs && lp0 && o[j].n_new) *lp0 = o[j].new_logprobs[0], lp0 = NULL;
        }
    }
    if (plp) CHECK(got_plp, "the prompt logprobs came with the first output");
}

static double logprob_of(const float *row, int V, int32_t id) {
    double mx = row[0], sum = 0;
    for (int i = 1; i < V; i++) mx = row[i] > mx ? row[i] : mx;
    for (int i = 0; i < V; i++) sum += exp((double)row[i] - mx);
    return row[id] - mx - log(sum);
}

int main(void) {
    if (!test_model_path(model_path, sizeof model_path)) {
        SKIP("%s not found: run `make model`", model_path);
        return TEST_SUMMARY();
    }
    Engine *e = make_engine(16); /* a 16-token budget: a 40-token prompt takes three steps */
    CHECK(e != NULL);
    if (!e) return TEST_SUMMARY();
    const Tokenizer *tok = engine_tokenizer(e);
    const char *text = "The quick brown fox jumps over the lazy dog, and then it runs far away into the old forest "
                       "where nobody has ever been before today.";
    int32_t *ids;
    int n = tokenizer_encode_alloc(tok, text, strlen(text), 1, 0, &ids);
    int V = engine_model_config(e)->vocab_size;
    SampleResult *plp = calloc((size_t)n, sizeof *plp);
    float *row = malloc((size_t)V * sizeof *row);
    RequestParams rp;
    request_params_default(&rp);
    rp.sampling.temperature = 0, rp.max_tokens = 1, rp.prompt_logprobs = 5;
    run(e, ids, n, &rp, plp, NULL, NULL); /* also fills the prefix cache with this prompt */
    CHECK(isnan(plp[0].logprob) && plp[0].n_top == 0, "the first token has no logprob");
    /* once more: the prefix is cached now, and must be computed all the same */
    SampleResult *again = calloc((size_t)n, sizeof *again);
    run(e, ids, n, &rp, again, NULL, NULL);
    for (int i = 1; i < n; i++) CHECK(again[i].logprob == plp[i].logprob, "token %d: cached run differs", i);
    double worst = 0;
    for (int i = 1; i < n; i += 3) {
        RequestParams q;
        request_params_default(&q);
        q.sampling.temperature = 0, q.max_tokens = 1, q.return_logits = 1;
        run(e, ids, i, &q, NULL, row, NULL);
        double want = logprob_of(row, V, ids[i]), d = fabs(want - plp[i].logprob);
        worst = d > worst ? d : worst;
        int rank = 1;
        for (int t = 0; t < V; t++) rank += row[t] > row[ids[i]];
        CHECK(plp[i].id == ids[i] && plp[i].rank == rank, "token %d: id %d rank %d, want %d", i, plp[i].id, plp[i].rank, rank);
        CHECK(plp[i].n_top == 5 && plp[i].top[0].logprob >= plp[i].top[4].logprob, "token %d: top 5", i);
        CHECK(fabs(plp[i].top[0].logprob - (row[plp[i].top[0].id] - (row[ids[i]] - want))) < 1e-4, "token %d: top-1", i);
    }
    CHECK(worst < 1e-4, "prompt logprobs equal the last-token path within 1e-4 (worst %g)", worst);
    /* generated tokens: 20 top logprobs */
    request_params_default(&rp);
    rp.sampling.temperature = 0, rp.max_tokens = 1, rp.sampling.logprobs = 20;
    SampleResult lp = {0};
    run(e, ids, n, &rp, NULL, NULL, &lp);
    CHECK(lp.n_top == 20 && lp.rank == 1 && lp.top[0].id == lp.id, "top_logprobs 20: %d, rank %d", lp.n_top, lp.rank);
    free(plp), free(again), free(row), free(ids);
    engine_destroy(e);
    return TEST_SUMMARY();
}
