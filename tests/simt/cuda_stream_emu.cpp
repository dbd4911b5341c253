/* Streams, events, graphs and kernel launches of the emulated CUDA runtime. Work runs
 * when issued, so a stream only matters while it captures: then launches, async copies
 * and memsets, event records and library calls issued to it become graph nodes (closures
 * holding their arguments by value) that cudaGraphLaunch replays in order, reading the
 * current contents of the buffers they point to. Launch configurations are checked as
 * the driver does, including the opt-in for more than 48 KiB of dynamic shared memory. */
#include "cuda_emu_internal.h"
#include "simt.h"
#include <stdio.h>

static bool is_default_stream(cudaStream_t s) { return !s || s == cudaStreamLegacy || s == cudaStreamPerThread; }

cudaError_t simt_emu_submit(cudaStream_t s, std::function<cudaError_t()> work) {
    SimtDevice &d = simt_dev();
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    {
        std::lock_guard<std::mutex> lock(d.mu);
        if (is_default_stream(s)) {
            /* The legacy stream synchronises with blocking streams: using it while one of
             * them captures is an implicit dependency the GPU refuses. */
            for (CUstream_st *c : d.streams)
                if (s != cudaStreamPerThread && c->capture == cudaStreamCaptureStatusActive &&
                    !(c->flags & cudaStreamNonBlocking)) {
                    c->capture = cudaStreamCaptureStatusInvalidated;
                    fprintf(stderr, "simt: work on the legacy default stream while blocking stream %p captures\n",
                            (void *)c);
                    return simt_emu_error(cudaErrorStreamCaptureImplicit);
                }
        } else if (!d.streams.count(s)) {
            fprintf(stderr, "simt: stream %p is not a live stream\n", (void *)s);
            return simt_emu_error(cudaErrorInvalidResourceHandle);
        } else if (s->capture == cudaStreamCaptureStatusActive) {
            s->graph->nodes.push_back(std::move(work));
            return cudaSuccess;
        } else if (s->capture == cudaStreamCaptureStatusInvalidated) {
            return simt_emu_error(cudaErrorStreamCaptureInvalidated);
        }
    }
    return simt_emu_error(work());
}

cudaError_t simt_emu_capture_forbids(const char *what) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    bool hit = false;
    for (CUstream_st *s : d.streams)
        if (s->capture != cudaStreamCaptureStatusNone && s->mode != cudaStreamCaptureModeRelaxed) {
            s->capture = cudaStreamCaptureStatusInvalidated;
            hit = true;
        }
    if (!hit) return cudaSuccess;
    fprintf(stderr, "simt: %s is not allowed while a stream captures (as on a GPU); the capture is invalidated\n", what);
    return simt_emu_error(cudaErrorStreamCaptureUnsupported);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
    if (!stream) return simt_emu_error(cudaErrorInvalidValue);
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    CUstream_st *s = new CUstream_st{flags, cudaStreamCaptureStatusNone, cudaStreamCaptureModeGlobal, nullptr};
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    d.streams.insert(s);
    *stream = s;
    return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

/* Looks up a created stream (not the default ones); InvalidResourceHandle otherwise. */
static cudaError_t live_stream(SimtDevice &d, cudaStream_t s, const char *call) {
    if (d.streams.count(s)) return cudaSuccess;
    fprintf(stderr, "simt: %s(%p): not a live stream\n", call, (void *)s);
    return simt_emu_error(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (cudaError_t e = live_stream(d, s, "cudaStreamDestroy")) return e;
    d.streams.erase(s);
    delete s->graph;
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (is_default_stream(s)) return simt_emu_capture_forbids("cudaStreamSynchronize on the default stream");
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (cudaError_t e = live_stream(d, s, "cudaStreamSynchronize")) return e;
    if (s->capture == cudaStreamCaptureStatusNone) return cudaSuccess;
    s->capture = cudaStreamCaptureStatusInvalidated;
    fprintf(stderr, "simt: cudaStreamSynchronize on a capturing stream; the capture is invalidated\n");
    return simt_emu_error(cudaErrorStreamCaptureUnsupported);
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
    if (is_default_stream(s)) return cudaSuccess;
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    return live_stream(d, s, "cudaStreamQuery");
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
    if (!event) return simt_emu_error(cudaErrorInvalidValue);
    CUevent_st *e = new CUevent_st{flags, false, 0};
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    d.events.insert(e);
    *event = e;
    return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

static cudaError_t live_event(SimtDevice &d, cudaEvent_t e, const char *call) {
    if (d.events.count(e)) return cudaSuccess;
    fprintf(stderr, "simt: %s(%p): not a live event\n", call, (void *)e);
    return simt_emu_error(cudaErrorInvalidResourceHandle);
}

/* Recorded into a capture, the timestamp is taken at each replay. */
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    SimtDevice &d = simt_dev();
    {
        std::lock_guard<std::mutex> lock(d.mu);
        if (cudaError_t e = live_event(d, event, "cudaEventRecord")) return e;
    }
    return simt_emu_submit(stream, [event]() {
        SimtDevice &dev = simt_dev();
        std::lock_guard<std::mutex> lock(dev.mu);
        if (cudaError_t e = live_event(dev, event, "cudaEventRecord")) return e;
        event->recorded = true;
        event->ns = simt_emu_now_ns();
        return cudaSuccess;
    });
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    return live_event(d, event, "cudaEventQuery");
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) { return cudaEventQuery(event); }
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!is_default_stream(stream))
        if (cudaError_t e = live_stream(d, stream, "cudaStreamWaitEvent")) return e;
    return live_event(d, event, "cudaStreamWaitEvent");
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!ms) return simt_emu_error(cudaErrorInvalidValue);
    if (cudaError_t e = live_event(d, start, "cudaEventElapsedTime")) return e;
    if (cudaError_t e = live_event(d, end, "cudaEventElapsedTime")) return e;
    if (!start->recorded || !end->recorded || ((start->flags | end->flags) & cudaEventDisableTiming))
        return simt_emu_error(cudaErrorInvalidResourceHandle);
    *ms = (float)((double)(end->ns - start->ns) / 1e6);
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (cudaError_t e = live_event(d, event, "cudaEventDestroy")) return e;
    d.events.erase(event);
    delete event;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value) {
    if (!func) return simt_emu_error(cudaErrorInvalidDeviceFunction);
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout)
        return value >= -1 && value <= 100 ? cudaSuccess : simt_emu_error(cudaErrorInvalidValue);
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > SIMT_SMEM_OPTIN) {
        fprintf(stderr, "simt: cudaFuncSetAttribute(attr %d, value %d): unsupported attribute or value above %d\n",
                (int)attr, value, (int)SIMT_SMEM_OPTIN);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    d.max_dyn_smem[func] = value;
    return cudaSuccess;
}

static cudaError_t check_launch(const void *kernel, dim3 g, dim3 b, size_t smem) {
    unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z || b.x > 1024 || b.y > 1024 || b.z > 64 ||
        threads > SIMT_MAX_THREADS || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
        fprintf(stderr, "simt: launch <<<(%u,%u,%u), (%u,%u,%u)>>>: invalid configuration (zero dimension, more than "
                "1024 threads per block, or a dimension above its limit)\n", g.x, g.y, g.z, b.x, b.y, b.z);
        return cudaErrorInvalidConfiguration;
    }
    if (smem <= SIMT_SMEM_DEFAULT) return cudaSuccess;
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = d.max_dyn_smem.find(kernel);
    int limit = it == d.max_dyn_smem.end() ? SIMT_SMEM_DEFAULT : it->second;
    if (smem <= (size_t)limit) return cudaSuccess;
    fprintf(stderr, "simt: launch with %zu bytes of dynamic shared memory, above the kernel's limit of %d (raise it with "
            "cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), at most %d)\n",
            smem, limit, (int)SIMT_SMEM_OPTIN);
    return cudaErrorInvalidValue;
}

static void invoke_body(const void *closure) { (*static_cast<const std::function<void()> *>(closure))(); }

cudaError_t simt_emu_launch(const void *kernel, dim3 grid, dim3 block, size_t dyn_smem, cudaStream_t stream,
                            std::function<void()> body) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = check_launch(kernel, grid, block, dyn_smem)) return simt_emu_error(e);
    auto fn = std::make_shared<const std::function<void()>>(std::move(body));
    return simt_emu_submit(stream, [kernel, grid, block, dyn_smem, fn]() {
        SimtLaunch l{kernel, grid, block, dyn_smem, invoke_body, fn.get()};
        return simt_run(&l) == SIMT_OK ? cudaSuccess : cudaErrorLaunchFailure;
    });
}
