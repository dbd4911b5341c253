/* `piston generate MODEL -p TEXT`: one request on the Engine, its text streamed to stdout as
 * it comes (never half a UTF-8 character); prefill and decode speeds go to stderr so that
 * stdout is exactly the continuation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] = "usage: piston generate MODEL -p TEXT [flags]\n"
                            "Continues TEXT, streaming to stdout; prefill and decode speeds on stderr.\n";

typedef struct Gen {
    double t_first;  /* when the first token (the prefill's) was out */
    int n_out;
} Gen;

static int on_output(void *ctx, const EngineOutput *o) {
    Gen *g = ctx;
    if (o->n_output_tokens >= 1 && g->n_out == 0) g->t_first = o->t_first_token;
    g->n_out = o->n_output_tokens;
    fwrite(o->text, 1, o->text_len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    CliArgs a;
    int prc = cli_parse(argc, argv, &a, usage, CLI_GENERATE);
    if (prc) return prc < 0;
    if (!a.prompt) {
        cli_error("generate needs a prompt: -p TEXT");
        return 1;
    }
    Engine *e;
    if (cli_engine_create(&a, &e)) return 1;
    if (!engine_tokenizer(e)) { /* a dummy without tokenizer.json: eval takes token ids */
        cli_error("%s: the model has no tokenizer (a dummy model without tokenizer.json), so it cannot take a text "
                  "prompt; give `piston eval` token ids ({\"ids\": [...]})",
                  a.model);
        engine_destroy(e);
        return 1;
    }
    char err[512];
    int32_t *prompt = NULL;
    int rc = 1, n_prompt = tokenizer_encode_alloc(engine_tokenizer(e), a.prompt, strlen(a.prompt), 1, 1, &prompt);
    if (n_prompt < 0) {
        snprintf(err, sizeof err, "could not tokenize the prompt");
        goto done;
    }
    if (n_prompt >= engine_max_model_len(e)) {
        snprintf(err, sizeof err, "the prompt has %d tokens but the context holds %d (--max-model-len)", n_prompt,
                 engine_max_model_len(e));
        goto done;
    }
    if (a.n_predict == 0) { /* nothing to generate: an empty continuation */
        fputc('\n', stdout);
        rc = 0;
        goto done;
    }
    RequestParams p;
    request_params_default(&p);
    p.sampling = a.sampling;
    gen_defaults_apply(&p.sampling, engine_sampling_defaults(e), a.sampling_given); /* generation_config.json's */
    p.max_tokens = a.n_predict;
    p.ignore_eos = a.ignore_eos;
    Gen g = {0, 0};
    double t0 = engine_now();
    if (cli_engine_run(e, prompt, n_prompt, &p, on_output, &g, err, sizeof err)) goto done;
    fputc('\n', stdout);
    fflush(stdout);
    double t2 = engine_now(), t1 = g.n_out > 0 ? g.t_first : t2;
    int n_decoded = g.n_out > 0 ? g.n_out - 1 : 0; /* the first token comes from the prefill's logits */
    fprintf(stderr, "prefill: %d tokens in %.3f s (%.1f tok/s); decode: %d tokens in %.3f s (%.1f tok/s)\n",
            n_prompt, t1 - t0, n_prompt / (t1 - t0), n_decoded, t2 - t1, n_decoded > 0 ? n_decoded / (t2 - t1) : 0.0);
    rc = 0;
done:
    if (rc) cli_error("%s", err);
    free(prompt);
    engine_destroy(e);
    return rc;
}
