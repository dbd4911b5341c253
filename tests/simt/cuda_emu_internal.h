/* Internals of the emulated CUDA runtime shared by its .cpp files: the device state
 * (live allocations, streams, events, graphs, per-kernel attributes) and the handle
 * structs. A real CUDA context is per process (memory allocated on one host thread is
 * freed on another), so the emulator has one device object per process behind a mutex;
 * it is the one deliberate piece of global state, mirroring the driver's. */
#ifndef PISTON_CUDA_EMU_INTERNAL_H
#define PISTON_CUDA_EMU_INTERNAL_H
#include "cuda_runtime_emu.h"
#include <stdint.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

typedef std::vector<std::function<cudaError_t()>> SimtWorkList;

struct CUstream_st {
    unsigned flags;
    cudaStreamCaptureStatus capture;
    cudaStreamCaptureMode mode;
    CUgraph_st *graph; /* being captured into */
};
struct CUevent_st {
    unsigned flags;
    bool recorded;
    long long ns;
};
struct CUgraph_st {
    SimtWorkList nodes; /* in capture order */
};
struct CUgraphExec_st {
    std::shared_ptr<const SimtWorkList> nodes;
};

struct SimtDevice {
    std::mutex mu;
    bool no_device;
    size_t total, used;
    std::map<uintptr_t, size_t> allocs; /* device: start -> bytes */
    std::map<uintptr_t, size_t> pinned; /* cudaMallocHost / cudaHostAlloc */
    std::set<CUstream_st *> streams;
    std::set<CUevent_st *> events;
    std::set<CUgraph_st *> graphs;
    std::set<CUgraphExec_st *> execs;
    std::map<const void *, int> max_dyn_smem; /* cudaFuncAttributeMaxDynamicSharedMemorySize */
};
SimtDevice &simt_dev(void);

/* Limits of the emulated device (an sm_90 part with few SMs). */
enum {
    SIMT_SMEM_DEFAULT = 48 * 1024,
    SIMT_SMEM_OPTIN = 227 * 1024,
    SIMT_MAX_THREADS = 1024
};

/* cudaErrorNoDevice (and the thread's last error) when SIMT_NO_DEVICE=1. */
cudaError_t simt_emu_check_device(void);
/* An operation a GPU refuses during a global/thread-local capture (synchronous copies,
 * cudaMalloc, device synchronisation): invalidates those captures and returns
 * cudaErrorStreamCaptureUnsupported, or cudaSuccess when none is active. */
cudaError_t simt_emu_capture_forbids(const char *what);
long long simt_emu_now_ns(void);
#endif
