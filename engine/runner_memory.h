/* How many KV blocks a runner gets (vLLM's memory planning). Private to runner.c. */
#ifndef PISTON_RUNNER_MEMORY_H
#define PISTON_RUNNER_MEMORY_H

#include "engine/runner.h"

/* After the weights, scratch, step buffers and logits are allocated: the number of KV blocks
 * (the null block included) from --num-gpu-blocks-override, or from --kv-cache-memory on a
 * host-memory backend, or from --gpu-memory-utilization on a device (budget = total x
 * fraction; what Piston already holds and the measured activation peak come off it). Fails
 * when not even one --max-model-len sequence fits. */
int runner_plan_kv_blocks(Runner *r, const RunnerArgs *a, int64_t *num_blocks, char *err, size_t errlen);
/* At start on a device: the budget (total x --gpu-memory-utilization) must be free now, as
 * vLLM checks, or the KV cache would be planned on memory others hold. */
int runner_check_budget(Runner *r, const RunnerArgs *a, char *err, size_t errlen);

#endif
