/* Stream capture and CUDA graphs of the emulated runtime. A capture collects the work
 * submitted to its stream (see simt_emu_submit) into a graph; instantiation snapshots
 * the node list; a launch replays it in order on the target stream, stopping at the
 * first failing node (or is itself recorded when that stream captures). Cross-stream
 * capture (fork/join through events) is not emulated: only the capturing stream's work
 * is recorded. */
#include "cuda_emu_internal.h"
#include <stdio.h>

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.streams.count(s)) {
        fprintf(stderr, "simt: cudaStreamBeginCapture(%p): the default stream cannot be captured; use a created "
                "stream\n", (void *)s);
        return simt_emu_error(s && s != cudaStreamLegacy && s != cudaStreamPerThread ? cudaErrorInvalidResourceHandle
                                                                                     : cudaErrorStreamCaptureUnsupported);
    }
    if (s->capture != cudaStreamCaptureStatusNone) return simt_emu_error(cudaErrorIllegalState);
    s->capture = cudaStreamCaptureStatusActive;
    s->mode = mode;
    s->graph = new CUgraph_st();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!graph) return simt_emu_error(cudaErrorInvalidValue);
    *graph = nullptr;
    if (!d.streams.count(s) || s->capture == cudaStreamCaptureStatusNone) return simt_emu_error(cudaErrorIllegalState);
    CUgraph_st *g = s->graph;
    bool invalid = s->capture == cudaStreamCaptureStatusInvalidated;
    s->graph = nullptr;
    s->capture = cudaStreamCaptureStatusNone;
    if (invalid) {
        delete g;
        return simt_emu_error(cudaErrorStreamCaptureInvalidated);
    }
    d.graphs.insert(g);
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *status) {
    if (!status) return simt_emu_error(cudaErrorInvalidValue);
    *status = cudaStreamCaptureStatusNone;
    if (!s || s == cudaStreamLegacy || s == cudaStreamPerThread) return cudaSuccess;
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.streams.count(s)) return simt_emu_error(cudaErrorInvalidResourceHandle);
    *status = s->capture;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!exec) return simt_emu_error(cudaErrorInvalidValue);
    *exec = nullptr;
    if (!d.graphs.count(graph)) {
        fprintf(stderr, "simt: cudaGraphInstantiate(%p): not a live graph\n", (void *)graph);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    CUgraphExec_st *x = new CUgraphExec_st{std::make_shared<const SimtWorkList>(graph->nodes)};
    d.execs.insert(x);
    *exec = x;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    std::shared_ptr<const SimtWorkList> nodes;
    {
        SimtDevice &d = simt_dev();
        std::lock_guard<std::mutex> lock(d.mu);
        if (!d.execs.count(exec)) {
            fprintf(stderr, "simt: cudaGraphLaunch(%p): not a live executable graph\n", (void *)exec);
            return simt_emu_error(cudaErrorInvalidResourceHandle);
        }
        nodes = exec->nodes;
    }
    return simt_emu_submit(stream, [nodes]() {
        for (const auto &node : *nodes)
            if (cudaError_t e = node()) return e;
        return cudaSuccess;
    });
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.execs.erase(exec)) return simt_emu_error(cudaErrorInvalidResourceHandle);
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.graphs.erase(graph)) return simt_emu_error(cudaErrorInvalidResourceHandle);
    delete graph;
    return cudaSuccess;
}
