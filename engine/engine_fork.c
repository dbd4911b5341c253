/* n > 1 samples: the parent samples its first token and its children theirs from the same
 * logits (engine_step.c plans them); after the scheduler update they are forked here. A
 * child that is already done (its token stops it, or max_tokens is 1) needs no KV at all;
 * the others are forked in the scheduler, sharing the prompt's blocks; when there is no
 * room to fork, the prompt runs again as a request of its own (the prefix cache shares its
 * blocks) and samples its own first token. */
#include <stdlib.h>

#include "engine/engine_internal.h"

/* No room to fork: run the prompt as a request of its own. 0, or -1 (the child is aborted). */
static int readmit(Engine *e, EngineSeq *p, EngineSeq *k) {
    char err[256];
    const SchedRequest *r = sched_find_request(e->sched, p->sched_id);
    int64_t cid = 0, room = e->tm.max_model_len - p->n_prompt, mt = p->params.max_tokens;
    k->n_step = 0, k->n_out = 0;
    if (k->matcher) constraint_matcher_reset(k->matcher); /* it samples its first token again */
    e->stats.generation_tokens_total--;
    if (r && sched_add_request(e->sched, r->tokens, p->n_prompt, mt > 0 && mt < room ? mt : room, &cid, err,
                               sizeof err) == 0) {
        k->sched_id = cid;
        if (seqmap_put(&e->seqs, cid, k) == 0) return 0;
        sched_abort(e->sched, cid);
    }
    return -1;
}

void engine_make_forks(Engine *e, ForkPlan *plan) {
    EngineSeq *p = plan->parent;
    for (int c = 0; c < plan->n_kids; c++) {
        EngineSeq *k = plan->kids[c];
        int32_t first = k->step_tokens[0];
        int64_t cid = 0;
        k->req_id = p->req_id;
        k->n_cached = p->n_cached;
        k->t_arrival = p->t_arrival;
        k->t_first_sched = p->t_first_sched;
        if (!k->finish && k->params.max_tokens > 0 && k->n_out >= k->params.max_tokens) k->finish = FINISH_LENGTH;
        if (!k->finish && sched_fork_request(e->sched, p->sched_id, first, &cid) != 0) {
            if (readmit(e, p, k) == 0) continue;
            k->finish = FINISH_ABORT;
        } else if (!k->finish) {
            k->sched_id = cid;
            if (seqmap_put(&e->seqs, cid, k)) {
                sched_abort(e->sched, cid);
                k->finish = FINISH_ABORT;
            }
        }
        FinishReason before = k->finish;
        if (engine_absorb_text(e, k, first) && !before) sched_finish_request(e->sched, cid, FINISH_STOP);
        engine_push_output(e, k);
        if (k->finish) {
            if (k->sched_id) seqmap_del(&e->seqs, k->sched_id);
            engine_defer_free(e, k);
        }
    }
    free(plan->kids);
    plan->kids = NULL;
    if (p->finish == FINISH_STOP) sched_finish_request(e->sched, p->sched_id, FINISH_STOP);
}
