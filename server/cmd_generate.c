/* `piston generate MODEL -p TEXT`: tokenize, prefill, sample token by token and stream the
 * decoded text to stdout as it comes (never half a UTF-8 character); prefill and decode
 * speeds go to stderr so that stdout is exactly the continuation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli.h"

static const char usage[] =
    "usage: piston generate MODEL -p TEXT [-n 128] [--temperature T] [--top-k K] [--top-p P]\n"
    "         [--min-p M] [--repetition-penalty R] [--presence-penalty X] [--frequency-penalty X]\n"
    "         [--seed S] [--threads N] [--max-model-len N] [--ignore-eos] [--precision q8|f32]\n";

int cmd_generate(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(argc, argv, &a, usage)) return 1;
    if (!a.prompt) {
        cli_error("generate needs a prompt: -p TEXT");
        return 1;
    }
    char err[512];
    Session *s;
    if (session_create(a.model_path, &a.session, &s, err, sizeof err)) {
        cli_error("%s", err);
        return 1;
    }
    int32_t *prompt;
    int n_prompt = session_tokenize(s, a.prompt, 1, 1, &prompt, err, sizeof err);
    int rc = 1;
    int32_t *out = malloc(((size_t)a.n_predict + 1) * sizeof *out);
    Sampler smp;
    if (n_prompt < 0) goto done;
    if (n_prompt == 0) {
        snprintf(err, sizeof err, "the prompt is empty");
        goto done;
    }
    if (n_prompt >= s->tm.max_model_len) {
        snprintf(err, sizeof err, "the prompt has %d tokens but the context holds %d (--max-model-len)", n_prompt,
                 s->tm.max_model_len);
        goto done;
    }
    if (!out || sampler_init(&smp, &a.sampling, s->tm.model->cfg.vocab_size)) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    double t0 = engine_now();
    if (session_eval(s, prompt, n_prompt, err, sizeof err)) goto done_sampler;
    double t1 = engine_now();
    Detok d;
    detok_init(&d);
    char buf[256];
    int n_out = 0;
    while (n_out < a.n_predict && s->n_past < s->tm.max_model_len) {
        int32_t id = sampler_sample(&smp, s->logits, prompt, n_prompt, out, n_out, NULL);
        out[n_out++] = id;
        if (!a.ignore_eos && tokenizer_is_eog(s->tm.tok, id)) break;
        size_t nb = detok_push(s->tm.tok, &d, id, buf, sizeof buf);
        fwrite(buf, 1, nb, stdout);
        fflush(stdout);
        if (n_out == a.n_predict || s->n_past >= s->tm.max_model_len) break;
        if (session_eval(s, &id, 1, err, sizeof err)) goto done_sampler;
    }
    size_t nb = detok_flush(&d, buf, sizeof buf);
    fwrite(buf, 1, nb, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    double t2 = engine_now();
    int n_decoded = n_out > 0 ? n_out - 1 : 0; /* the first token comes from the prefill's logits */
    fprintf(stderr, "prefill: %d tokens in %.3f s (%.1f tok/s); decode: %d tokens in %.3f s (%.1f tok/s)\n",
            n_prompt, t1 - t0, n_prompt / (t1 - t0), n_decoded, t2 - t1, n_decoded > 0 ? n_decoded / (t2 - t1) : 0.0);
    rc = 0;
done_sampler:
    sampler_free(&smp);
done:
    if (rc) cli_error("%s", err);
    free(out);
    free(prompt);
    session_destroy(s);
    return rc;
}
