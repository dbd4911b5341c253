/* What the scheduler's own files share (scheduler.c: queues and the step policy;
 * sched_fork.c: forks and their block copies). Not for use outside scheduler/. */
#ifndef PISTON_SCHED_INTERNAL_H
#define PISTON_SCHED_INTERNAL_H

#include "scheduler/scheduler.h"

struct Scheduler {
    SchedConfig cfg;
    BlockPool *pool;
    SchedRequest **running;           /* [max_num_seqs] in admission order */
    int n_running;
    SchedRequest *wait_head, *wait_tail; /* FCFS; preempted requests at the head */
    int n_waiting;
    int64_t next_id;
    int64_t num_preemptions;
    /* the buffers a SchedOutput points into, [max_num_seqs] each */
    SchedSeq *seqs;
    int n_out_seqs;                   /* seqs of the last step, nulled when their request ends */
    int64_t *preempted;
    SchedFinished *finished;
    /* Fork copies. A copy's source block holds an extra reference from the fork until the
     * step that emitted it has run (sched_update_from_output), so the block cannot be handed
     * to someone else and rewritten before the engine has copied it. */
    BlockCopy *pending;               /* [n_pending] made by forks since the last step */
    int64_t *pending_child;           /* [n_pending] the child that owns each dst block */
    int n_pending;
    BlockCopy *inflight;              /* [n_inflight] emitted by the last step */
    int n_inflight;
    int cap_copies;                   /* allocated length of the three arrays above */
};

SchedRequest *sched_lookup(const Scheduler *s, int64_t id);
/* Remove a live request from its queue, give back its blocks, free it. */
void sched_release_request(Scheduler *s, SchedRequest *r);
void sched_running_append(Scheduler *s, SchedRequest *r);

/* Drop the references held by the last step's copies. */
void sched_copies_release(Scheduler *s);
/* Drop a child's copy that was not emitted yet (its blocks are being freed). */
void sched_copies_drop_child(Scheduler *s, int64_t child);
/* Move the pending copies into out->copies. Returns 0. */
int sched_copies_emit(Scheduler *s, SchedOutput *out);

#endif
