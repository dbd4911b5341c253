/* CUDA graphs for the runner's decode steps: capture the forward's launches once per batch
 * bucket and replay them. Capture is thread-local (the engine thread's), and while it is open
 * nothing may allocate (cuda_scratch refuses) or synchronize. */
#include "kernels/cuda/cuda_internal.cuh"

int cuda_graph_begin(Backend *be) {
    CudaState *st = cuda_state(be);
    CUDA_CHECK(be, cudaStreamBeginCapture(st->stream, cudaStreamCaptureModeThreadLocal));
    st->capturing = 1;
    return 0;
}

int cuda_graph_end(Backend *be, void **graph) {
    CudaState *st = cuda_state(be);
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    st->capturing = 0;
    *graph = NULL;
    CUDA_CHECK(be, cudaStreamEndCapture(st->stream, &g));
    cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    CUDA_CHECK(be, e);
    *graph = exec;
    return 0;
}

int cuda_graph_launch(Backend *be, void *graph) {
    CUDA_CHECK(be, cudaGraphLaunch((cudaGraphExec_t)graph, cuda_state(be)->stream));
    return 0;
}

void cuda_graph_destroy(Backend *be, void *graph) {
    if (graph) cudaGraphExecDestroy((cudaGraphExec_t)graph);
}
