/* Graph replay of decode steps (runner_graph.c). Private to runner.c. */
#ifndef PISTON_RUNNER_GRAPH_H
#define PISTON_RUNNER_GRAPH_H

#include "engine/runner.h"

/* Buckets for max_seqs; nothing when enforce_eager or the backend has no graphs. */
int runner_graphs_init(Runner *r, int enforce_eager);
void runner_graphs_free(Runner *r);
/* The bucket for a pure decode step of B sequences, or -1 (run it eagerly). */
int runner_graph_bucket(const Runner *r, int B);
/* Fill the host step buffers' rows [B, Bp) with padding. */
void runner_graph_pad(Runner *r, int B, int Bp);
/* Replay (capturing first if need be) the bucket's forward over the uploaded step buffers:
 * 0, 1 when graphs turned out not to work (run the step eagerly), or negative with err. */
int runner_graph_run(Runner *r, int bucket, char *err, size_t errlen);

#endif
