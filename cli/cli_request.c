/* One user's requests on the Engine: what generate, run, eval and bench latency share. They
 * run on the same Engine, scheduler and runner as the server (one request at a time), so a
 * fix or a speed-up there is one here, and their tokens are the server's tokens. */
#include <stdio.h>

#include "cli/cli.h"

int cli_engine_create(CliArgs *a, Engine **out) {
    char err[512];
    a->engine.model_path = a->model_path;
    if (engine_create(&a->engine, out, err, sizeof err)) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
}

int cli_engine_run(Engine *e, const int32_t *prompt, int n_prompt, const RequestParams *p, CliOutputFn on_output,
                   void *ctx, char *err, size_t errlen) {
    int64_t id;
    if (engine_add_request(e, prompt, n_prompt, p, &id, err, errlen)) return -1;
    int done = 0, rc = 0;
    while (!done && engine_has_unfinished(e)) {
        const EngineOutput *outs;
        int n;
        if (engine_step(e, &outs, &n)) {
            snprintf(err, errlen, "engine step failed");
            engine_abort(e, id);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const EngineOutput *o = &outs[i];
            if (o->request_id != id) continue;
            if (o->error) {
                snprintf(err, errlen, "%s", o->error);
                rc = -1;
            }
            if (on_output && !rc && on_output(ctx, o)) {
                snprintf(err, errlen, "stopped");
                engine_abort(e, id);
                rc = -1;
            }
            if (o->finish) done = 1;
        }
        if (rc) break;
    }
    /* drain: an aborted request is reported by the next step */
    while (engine_has_unfinished(e)) {
        const EngineOutput *outs;
        int n;
        if (engine_step(e, &outs, &n)) break;
    }
    return rc;
}
