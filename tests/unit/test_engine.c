/* Engine tests on the real default model: batch invariance (a request's greedy tokens are
 * the same alone, among 32 others, under preemption, and with chunked prefill), prefix
 * caching (a shared prefix is computed once, same tokens), stop strings across token
 * boundaries, n > 1 with a seed, min_tokens / stop token ids, and aborts. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tests/unit/test.h"

#define NREQ 32
#define NOUT 8
/* Under AddressSanitizer the forward pass is ~10x slower: fewer requests, same checks. */
#if defined(__SANITIZE_ADDRESS__)
#define NREQ_RUN 8
#else
#define NREQ_RUN NREQ
#endif

static char model_path[4096];

static int find_model(void) {
    return test_model_path(model_path, sizeof model_path);
}

static Engine *make_engine(int max_seqs, int max_batched, int blocks, int prefix) {
    EngineArgs a;
    engine_args_default(&a);
    a.model_path = model_path;
    a.max_model_len = 256;
    a.max_num_seqs = max_seqs;
    a.max_num_batched_tokens = max_batched;
    a.num_gpu_blocks_override = blocks;
    a.kv_cache_memory = (int64_t)64 << 20;
    a.enable_prefix_caching = prefix;
    a.log_stats = 0;
    char err[512];
    Engine *e = NULL;
    if (engine_create(&a, &e, err, sizeof err)) fprintf(stderr, "engine_create: %s\n", err);
    return e;
}

typedef struct Result {
    int32_t tokens[NREQ][NOUT * 4];
    int n[NREQ];
    char text[NREQ][512];
    FinishReason finish[NREQ];
} Result;

/* Run the requests (ids[i][0..len[i])) to completion; results by submission index. */
static void run_all(Engine *e, int32_t **ids, const int *len, int nreq, const RequestParams *rp, Result *r) {
    int64_t rid[NREQ];
    memset(r, 0, sizeof *r);
    char err[256];
    for (int i = 0; i < nreq; i++) CHECK(engine_add_request(e, ids[i], len[i], rp, &rid[i], err, sizeof err) == 0, "%s", err);
    while (engine_has_unfinished(e)) {
        const EngineOutput *o;
        int n;
        if (engine_step(e, &o, &n)) break;
        for (int k = 0; k < n; k++)
            for (int i = 0; i < nreq; i++)
                if (rid[i] == o[k].request_id && o[k].index == 0) {
                    for (int t = 0; t < o[k].n_new && r->n[i] < NOUT * 4; t++) r->tokens[i][r->n[i]++] = o[k].new_tokens[t];
                    strncat(r->text[i], o[k].text, o[k].text_len < 511 - strlen(r->text[i]) ? o[k].text_len : 511 - strlen(r->text[i]));
                    if (o[k].finish) r->finish[i] = o[k].finish;
                }
    }
}

static int same_tokens(const Result *a, const Result *b, int i) {
    return a->n[i] == b->n[i] && memcmp(a->tokens[i], b->tokens[i], (size_t)a->n[i] * sizeof(int32_t)) == 0;
}

int main(void) {
    if (!find_model()) {
        SKIP("%s not found: the engine tests need the model (run `make model`)", model_path);
        return TEST_SUMMARY();
    }
    static int32_t buf[NREQ][96];
    int32_t *ids[NREQ];
    int len[NREQ];
    unsigned long long rng = 7;
    for (int i = 0; i < NREQ; i++) {
        len[i] = 3 + (i * 37) % 60;
        for (int j = 0; j < len[i]; j++) buf[i][j] = (int32_t)(test_rng_next(&rng) % 49000) + 100;
        ids[i] = buf[i];
    }
    RequestParams rp;
    request_params_default(&rp);
    rp.sampling.temperature = 0;
    rp.max_tokens = NOUT;
    rp.ignore_eos = 1;

    static Result alone, batched;
    Engine *e = make_engine(1, 512, 0, 0);
    for (int i = 0; i < NREQ_RUN; i++) { /* one at a time */
        static Result one;
        run_all(e, &ids[i], &len[i], 1, &rp, &one);
        alone.n[i] = one.n[0];
        memcpy(alone.tokens[i], one.tokens[0], sizeof one.tokens[0]);
    }
    engine_destroy(e);
    for (int i = 0; i < NREQ_RUN; i++) CHECK(alone.n[i] == NOUT, "request %d made %d tokens", i, alone.n[i]);

    struct { const char *name; int seqs, batched, blocks, prefix; } cfg[] = {
        {"all together", 64, 2048, 0, 1},
        {"tiny pool (preemption)", 64, 2048, 20, 1},
        {"chunked prefill, budget 16", 64, 16, 0, 0},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        e = make_engine(cfg[c].seqs, cfg[c].batched, cfg[c].blocks, cfg[c].prefix);
        CHECK(e != NULL, "%s: engine", cfg[c].name);
        if (!e) continue;
        run_all(e, ids, len, NREQ_RUN, &rp, &batched);
        EngineStats st;
        engine_get_stats(e, &st);
        int ok = 1;
        for (int i = 0; i < NREQ_RUN; i++) {
            CHECK(same_tokens(&alone, &batched, i), "%s: request %d differs from its run alone", cfg[c].name, i);
            ok &= same_tokens(&alone, &batched, i);
        }
        if (cfg[c].blocks) CHECK(st.num_preemptions > 0, "%s: expected preemptions", cfg[c].name);
        CHECK(st.num_running == 0 && st.num_waiting == 0 && st.kv_usage == 0.0, "%s: everything given back", cfg[c].name);
        printf("%s: %s (%lld preemptions, %lld steps)\n", cfg[c].name, ok ? "bit-identical to alone" : "DIFFERS",
               (long long)st.num_preemptions, (long long)st.steps);
        engine_destroy(e);
    }

    /* prefix caching: a second request sharing a 64-token prefix computes only the rest */
    {
        int32_t a_ids[80], b_ids[80];
        for (int j = 0; j < 80; j++) a_ids[j] = b_ids[j] = (int32_t)(test_rng_next(&rng) % 49000) + 100;
        for (int j = 70; j < 80; j++) b_ids[j] = (int32_t)(test_rng_next(&rng) % 49000) + 100;
        int32_t *pa = a_ids, *pb = b_ids;
        int n80 = 80;
        Result ra, rb, rb_nocache;
        e = make_engine(8, 512, 0, 1);
        run_all(e, &pa, &n80, 1, &rp, &ra);
        EngineStats s0, s1;
        engine_get_stats(e, &s0);
        run_all(e, &pb, &n80, 1, &rp, &rb);
        engine_get_stats(e, &s1);
        int64_t computed = s1.prompt_tokens_total - s0.prompt_tokens_total;
        CHECK(computed == 80 - 64, "the second prompt computed %lld tokens, expected 16 (4 cached blocks)", (long long)computed);
        CHECK(s1.prefix_cache_hits - s0.prefix_cache_hits == 64);
        engine_destroy(e);
        e = make_engine(8, 512, 0, 0);
        run_all(e, &pb, &n80, 1, &rp, &rb_nocache);
        engine_destroy(e);
        CHECK(same_tokens(&rb, &rb_nocache, 0), "prefix-cached tokens equal uncached ones");
    }

    /* stop strings across token boundaries: greedy text of one prompt, then stop at a
     * string that starts inside one token and ends in the next */
    {
        e = make_engine(8, 512, 0, 1);
        const Tokenizer *tok = engine_tokenizer(e);
        const char *prompt = "The capital of France is";
        int32_t p[32];
        int np = tokenizer_encode(tok, prompt, strlen(prompt), 1, 0, p, 32);
        int32_t *pp = p;
        RequestParams g = rp;
        g.max_tokens = 12;
        g.ignore_eos = 0;
        Result full, cut;
        run_all(e, &pp, &np, 1, &g, &full);
        /* find a boundary between generated tokens 2 and 3 and straddle it */
        size_t l1 = 0, l2 = 0, l3 = 0;
        for (int t = 0; t < 3; t++) {
            size_t len_t;
            tokenizer_piece(tok, full.tokens[0][t], &len_t);
            if (t < 2) l1 += len_t;
            if (t < 3) l2 += len_t;
        }
        l3 = strlen(full.text[0]);
        CHECK(l2 > l1 && l3 > l2 + 1, "greedy text long enough: '%s'", full.text[0]);
        char stop[16] = {0};
        size_t s0 = l2 - 1; /* last byte of token 3's predecessor... straddle l2 */
        memcpy(stop, full.text[0] + s0, 3);
        g.stop[0] = stop;
        g.n_stop = 1;
        run_all(e, &pp, &np, 1, &g, &cut);
        char *first = strstr(full.text[0], stop);
        size_t want = first ? (size_t)(first - full.text[0]) : 0;
        CHECK(cut.finish[0] == FINISH_STOP, "stop string '%s' ends the request", stop);
        CHECK(strlen(cut.text[0]) == want && strncmp(cut.text[0], full.text[0], want) == 0,
              "text before the stop string: '%s' vs '%.*s'", cut.text[0], (int)want, full.text[0]);
        engine_destroy(e);
    }

    /* n = 3 with a seed: three samples, reproducible run to run */
    {
        RequestParams s3 = rp;
        s3.sampling.temperature = 1.0f;
        s3.sampling.has_seed = 1;
        s3.sampling.seed = 1234;
        s3.n = 3;
        s3.max_tokens = NOUT;
        int32_t got[2][3][NOUT];
        int cnt[2][3];
        for (int run = 0; run < 2; run++) {
            e = make_engine(8, 512, 0, 1);
            int64_t id;
            char err[256];
            memset(cnt[run], 0, sizeof cnt[run]);
            CHECK(engine_add_request(e, ids[5], len[5], &s3, &id, err, sizeof err) == 0, "%s", err);
            while (engine_has_unfinished(e)) {
                const EngineOutput *o;
                int n;
                if (engine_step(e, &o, &n)) break;
                for (int k = 0; k < n; k++)
                    for (int t = 0; t < o[k].n_new; t++)
                        if (cnt[run][o[k].index] < NOUT) got[run][o[k].index][cnt[run][o[k].index]++] = o[k].new_tokens[t];
            }
            engine_destroy(e);
        }
        for (int i = 0; i < 3; i++) CHECK(cnt[0][i] == NOUT && cnt[1][i] == NOUT, "sample %d: %d tokens", i, cnt[0][i]);
        CHECK(memcmp(got[0], got[1], sizeof got[0]) == 0, "same seed, same three samples");
        CHECK(memcmp(got[0][0], got[0][1], sizeof got[0][0]) || memcmp(got[0][1], got[0][2], sizeof got[0][0]),
              "the three samples are not all identical");
    }

    /* stop token ids end a request on that token; min_tokens holds them off */
    {
        e = make_engine(8, 512, 0, 1);
        RequestParams st = rp;
        st.ignore_eos = 0;
        st.stop_token_ids[0] = alone.tokens[7][0]; /* the greedy first token of request 7 */
        st.n_stop_token_ids = 1;
        Result r1, r2;
        run_all(e, &ids[7], &len[7], 1, &st, &r1);
        CHECK(r1.n[0] == 1 && r1.finish[0] == FINISH_STOP, "stop token id: %d tokens", r1.n[0]);
        st.min_tokens = 3;
        run_all(e, &ids[7], &len[7], 1, &st, &r2);
        CHECK(r2.n[0] >= 3, "min_tokens 3: %d tokens", r2.n[0]);
        for (int t = 0; t + 1 < r2.n[0] && t < 3; t++) CHECK(r2.tokens[0][t] != st.stop_token_ids[0]);
        engine_destroy(e);
    }

    /* abort: blocks come back at once, the request reports FINISH_ABORT */
    {
        e = make_engine(8, 512, 0, 1);
        int64_t id;
        char err[256];
        RequestParams lr = rp;
        lr.max_tokens = 200;
        CHECK(engine_add_request(e, ids[3], len[3], &lr, &id, err, sizeof err) == 0);
        const EngineOutput *o;
        int n, aborted = 0;
        for (int s = 0; s < 3; s++) engine_step(e, &o, &n);
        CHECK(engine_abort(e, id) == 0);
        EngineStats st;
        engine_get_stats(e, &st);
        CHECK(st.kv_usage == 0.0 && st.num_running == 0, "blocks given back at abort");
        while (engine_has_unfinished(e)) {
            engine_step(e, &o, &n);
            for (int k = 0; k < n; k++) aborted |= o[k].request_id == id && o[k].finish == FINISH_ABORT;
        }
        CHECK(aborted, "FINISH_ABORT reported");
        CHECK(engine_abort(e, id) != 0, "unknown id");
        int32_t big[300] = {0};
        CHECK(engine_add_request(e, big, 300, &rp, &id, err, sizeof err) != 0 && strstr(err, "context"), "%s", err);
        engine_destroy(e);
    }

    /* more than 64 requests with n = 2 reach their first token in the same step: every one
     * gets both samples (a fixed array of 64 parents once left the rest waiting forever) */
    {
        enum { NFORK = 80 };
        e = make_engine(256, 1024, 0, 1);
        RequestParams fr = rp;
        fr.n = 2;
        fr.max_tokens = 2;
        fr.sampling.temperature = 1.0f;
        fr.sampling.has_seed = 1;
        int64_t fid[NFORK];
        int done[NFORK][2] = {{0}};
        char err[256];
        int added = 1;
        for (int i = 0; i < NFORK; i++) {
            int32_t p[4] = {100 + i, 200 + i, 300 + i, 400 + i};
            fr.sampling.seed = (uint64_t)i;
            added &= engine_add_request(e, p, 4, &fr, &fid[i], err, sizeof err) == 0;
        }
        CHECK(added, "%s", err);
        const EngineOutput *o;
        int n, steps = 0;
        while (engine_has_unfinished(e) && steps++ < 100) {
            CHECK(engine_step(e, &o, &n) == 0);
            for (int k = 0; k < n; k++)
                for (int i = 0; i < NFORK; i++)
                    if (o[k].request_id == fid[i] && o[k].finish && o[k].index >= 0 && o[k].index < 2)
                        done[i][o[k].index]++;
        }
        int all = 1;
        for (int i = 0; i < NFORK; i++) all &= done[i][0] == 1 && done[i][1] == 1;
        CHECK(all && !engine_has_unfinished(e), "%d requests with n = 2 in one step: every sample finishes once",
              NFORK);
        engine_destroy(e);
    }
    return TEST_SUMMARY();
}
