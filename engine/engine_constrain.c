/* Constrained sequences in the step (see engine_internal.h): the mask before the draw, the
 * matcher after it, and the end of a constrained text. A text is complete when the matcher
 * says so; it ends at once when nothing can follow (the end-of-generation token is then the
 * only choice, so it is not spent on a forward pass), and an end-of-generation token is in
 * the mask only where the text may end. A matcher that fails (a memory limit) aborts its
 * sequence with the reason, never the step. */
#include <stdio.h>
#include <string.h>

#include "engine/engine_internal.h"

static int fail(EngineSeq *s, const char *why) {
    snprintf(s->seq_error, sizeof s->seq_error, "structured output: %s", why);
    s->error = s->seq_error;
    return -1;
}

int engine_constrain_mask(Engine *e, EngineSeq *s, SampleMods *mods) {
    mods->allow = NULL;
    mods->bias = s->bias, mods->n_bias = s->params.n_logit_bias;
    if (!s->matcher) return 0;
    char err[160];
    const uint32_t *mask = constraint_matcher_mask(s->matcher, err, sizeof err);
    if (!mask) return fail(s, err);
    mods->allow = mask;
    return 0;
}

int engine_constrain_take(Engine *e, EngineSeq *s, int32_t id) {
    if (!s->matcher) return 0;
    char err[160];
    if (id < 0) return fail(s, "no token of the vocabulary continues the text here");
    if (constraint_matcher_accept(s->matcher, id, err, sizeof err)) return fail(s, err);
    return !constraint_matcher_can_continue(s->matcher) && constraint_matcher_complete(s->matcher);
}

int engine_constrain_fork(EngineSeq *child, const EngineSeq *parent) {
    if (!parent->matcher) return 0;
    constraint_matcher_destroy(child->matcher);
    child->matcher = NULL;
    return constraint_matcher_fork(parent->matcher, &child->matcher);
}
