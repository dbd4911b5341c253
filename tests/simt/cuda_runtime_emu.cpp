/* The emulated CUDA runtime's errors and device: error names and strings, the per-thread
 * last error (per host thread, as in CUDA), the one emulated device (an sm_90 part named
 * "Piston SIMT emulator" with SIMT_MEM_BYTES of memory and 4 SMs) and its properties and
 * attributes, memory info and device-wide calls. Memory is in cuda_memory_emu.cpp,
 * streams/graphs/launches in cuda_stream_emu.cpp. */
#include "cuda_emu_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct SimtErrorInfo {
    cudaError_t code;
    const char *name, *text;
};
static const SimtErrorInfo error_table[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorCudartUnloading, "cudaErrorCudartUnloading", "driver shutting down"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidPitchValue, "cudaErrorInvalidPitchValue", "invalid pitch argument"},
    {cudaErrorInvalidSymbol, "cudaErrorInvalidSymbol", "invalid device symbol"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver", "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the present state"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorNotPermitted, "cudaErrorNotPermitted", "operation not permitted"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureUnmatched, "cudaErrorStreamCaptureUnmatched",
     "capture was not ended in the same stream as it began"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

static const SimtErrorInfo *error_info(cudaError_t e) {
    for (const SimtErrorInfo &i : error_table)
        if (i.code == e) return &i;
    return nullptr;
}
const char *cudaGetErrorName(cudaError_t e) {
    const SimtErrorInfo *i = error_info(e);
    return i ? i->name : "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) {
    const SimtErrorInfo *i = error_info(e);
    return i ? i->text : "unrecognized error code";
}

/* CUDA keeps the last error per host thread; success never overwrites it. */
static cudaError_t &last_error(void) {
    static thread_local cudaError_t e = cudaSuccess;
    return e;
}
cudaError_t simt_emu_error(cudaError_t e) {
    if (e != cudaSuccess) last_error() = e;
    return e;
}
cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error();
    last_error() = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error(); }

static size_t parse_bytes(const char *s, size_t dflt) {
    if (!s || !*s) return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : 0;
    return v ? (size_t)v << shift : dflt;
}

SimtDevice &simt_dev(void) {
    /* Never destroyed: kernels or frees running from static destructors still find it. */
    static SimtDevice *dev = [] {
        SimtDevice *d = new SimtDevice();
        const char *nd = getenv("SIMT_NO_DEVICE");
        d->no_device = nd && !strcmp(nd, "1");
        d->total = parse_bytes(getenv("SIMT_MEM_BYTES"), (size_t)8 << 30);
        d->used = 0;
        return d;
    }();
    return *dev;
}

cudaError_t simt_emu_check_device(void) {
    return simt_emu_error(simt_dev().no_device ? cudaErrorNoDevice : cudaSuccess);
}

long long simt_emu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return simt_emu_error(cudaErrorInvalidValue);
    *count = simt_dev().no_device ? 0 : 1;
    return simt_emu_check_device();
}
cudaError_t cudaSetDevice(int device) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    return simt_emu_error(device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}
cudaError_t cudaGetDevice(int *device) {
    if (!device) return simt_emu_error(cudaErrorInvalidValue);
    *device = 0;
    return simt_emu_check_device();
}
cudaError_t cudaDriverGetVersion(int *v) { return v ? (*v = CUDART_VERSION, cudaSuccess) : simt_emu_error(cudaErrorInvalidValue); }
cudaError_t cudaRuntimeGetVersion(int *v) { return v ? (*v = CUDART_VERSION, cudaSuccess) : simt_emu_error(cudaErrorInvalidValue); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (!p) return simt_emu_error(cudaErrorInvalidValue);
    if (device != 0) return simt_emu_error(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "Piston SIMT emulator");
    memcpy(p->uuid.bytes, "piston-simt-emu", 16);
    p->totalGlobalMem = simt_dev().total;
    p->sharedMemPerBlock = SIMT_SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = SIMT_SMEM_OPTIN;
    p->sharedMemPerMultiprocessor = 228 * 1024;
    p->reservedSharedMemPerBlock = 1024;
    p->regsPerBlock = p->regsPerMultiprocessor = 65536;
    p->warpSize = 32;
    p->memPitch = 2147483647;
    p->maxThreadsPerBlock = SIMT_MAX_THREADS;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->totalConstMem = 65536;
    p->major = 9;
    p->minor = 0;
    p->textureAlignment = 512;
    p->multiProcessorCount = 4;
    p->concurrentKernels = 1;
    p->asyncEngineCount = 2;
    p->unifiedAddressing = 1;
    p->canMapHostMemory = 1;
    p->memoryBusWidth = 5120;
    p->l2CacheSize = 50 * 1024 * 1024;
    p->persistingL2CacheMaxSize = 30 * 1024 * 1024;
    p->maxThreadsPerMultiProcessor = 2048;
    p->maxBlocksPerMultiProcessor = 32;
    p->streamPrioritiesSupported = 1;
    p->managedMemory = 1;
    p->cooperativeLaunch = 1;
    p->memoryPoolsSupported = 1;
    p->clusterLaunch = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    cudaDeviceProp p;
    if (!value) return simt_emu_error(cudaErrorInvalidValue);
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e) return e;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrTotalConstantMemory: *value = (int)p.totalConstMem; break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
    case cudaDevAttrClockRate: *value = 1980000; break;       /* kHz */
    case cudaDevAttrMemoryClockRate: *value = 2619000; break; /* kHz */
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrIntegrated: *value = p.integrated; break;
    case cudaDevAttrConcurrentKernels: *value = p.concurrentKernels; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = p.memoryBusWidth; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrAsyncEngineCount: *value = p.asyncEngineCount; break;
    case cudaDevAttrUnifiedAddressing: *value = p.unifiedAddressing; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = (int)p.sharedMemPerMultiprocessor; break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = p.regsPerMultiprocessor; break;
    case cudaDevAttrManagedMemory: *value = p.managedMemory; break;
    case cudaDevAttrCooperativeLaunch: *value = p.cooperativeLaunch; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = p.maxBlocksPerMultiProcessor; break;
    case cudaDevAttrMaxPersistingL2CacheSize: *value = p.persistingL2CacheMaxSize; break;
    case cudaDevAttrReservedSharedMemoryPerBlock: *value = (int)p.reservedSharedMemPerBlock; break;
    case cudaDevAttrMemoryPoolsSupported: *value = p.memoryPoolsSupported; break;
    case cudaDevAttrClusterLaunch: *value = p.clusterLaunch; break;
    default:
        fprintf(stderr, "simt: cudaDeviceGetAttribute: attribute %d is not emulated\n", (int)attr);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (!free_bytes || !total_bytes) return simt_emu_error(cudaErrorInvalidValue);
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    *total_bytes = d.total;
    *free_bytes = d.total - d.used;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    return simt_emu_capture_forbids("cudaDeviceSynchronize");
}

/* Frees every allocation and forgets kernel attributes, as a context reset does. */
cudaError_t cudaDeviceReset(void) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    for (auto &a : d.allocs) free((void *)a.first);
    d.allocs.clear();
    d.used = 0;
    d.max_dyn_smem.clear();
    return cudaSuccess;
}
