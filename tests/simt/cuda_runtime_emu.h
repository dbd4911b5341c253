/* The CUDA runtime API subset that Piston's CUDA backend uses, emulated on the host for
 * the SIMT emulator: same names and signatures as cuda_runtime.h, so the backend's host
 * code compiles unchanged. Device memory is host memory filled with 0xFF (NaN) on
 * allocation; every copy checks that its device-side range lies inside one live
 * allocation. All work runs at once on the calling thread, so synchronisation calls only
 * return the status. Stream capture records launches and async copies into graphs that
 * replay them in order. Environment: SIMT_MEM_BYTES (device size, default 8 GiB; K/M/G
 * suffixes), SIMT_NO_DEVICE=1 (no device at all). The C API has C linkage and is valid
 * C; the template overloads and emulator hooks are C++ only, as in the toolkit. */
#ifndef PISTON_CUDA_RUNTIME_EMU_H
#define PISTON_CUDA_RUNTIME_EMU_H
#include "cuda_types_emu.h"
#ifdef __cplusplus
#include <functional>
#include "simt_types.h"
#define SIMT_DEFAULT(v) = v
extern "C" {
#else
#define SIMT_DEFAULT(v)
#endif

const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDeviceReset(void);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaRuntimeGetVersion(int *version);

cudaError_t cudaMalloc(void **ptr, size_t size);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream SIMT_DEFAULT(0));
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                         size_t height, cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind kind, cudaStream_t stream SIMT_DEFAULT(0));
cudaError_t cudaMemset(void *ptr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream SIMT_DEFAULT(0));

cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags SIMT_DEFAULT(0));
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream SIMT_DEFAULT(0));
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t event);

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags SIMT_DEFAULT(0));
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

#ifdef __cplusplus
} /* extern "C" */

template <class T> static inline cudaError_t cudaMalloc(T **ptr, size_t size) {
    return cudaMalloc((void **)ptr, size);
}
template <class T> static inline cudaError_t cudaMallocHost(T **ptr, size_t size) {
    return cudaMallocHost((void **)ptr, size);
}
template <class T> static inline cudaError_t cudaFuncSetAttribute(T *entry, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute((const void *)entry, attr, value);
}
/* __constant__ and __device__ variables are plain host globals under the emulator. */
cudaError_t simt_emu_symbol_copy(void *dst, const void *src, size_t count, size_t offset, size_t symbol_bytes,
                                 cudaMemcpyKind kind, bool to_symbol);
template <class T>
static inline cudaError_t cudaMemcpyToSymbol(const T &symbol, const void *src, size_t count, size_t offset = 0,
                                             cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
    return simt_emu_symbol_copy((void *)&symbol, src, count, offset, sizeof(T), kind, true);
}
template <class T>
static inline cudaError_t cudaMemcpyFromSymbol(void *dst, const T &symbol, size_t count, size_t offset = 0,
                                               cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
    return simt_emu_symbol_copy(dst, (const void *)&symbol, count, offset, sizeof(T), kind, false);
}

/* Emulator hooks (not CUDA API). piston_launch (kernels/cuda/cuda_port.h) hands kernel
 * launches to simt_emu_launch: it checks the configuration as the driver would, then
 * runs the kernel, or records it when the stream is capturing. */
cudaError_t simt_emu_launch(const void *kernel, dim3 grid, dim3 block, size_t dyn_smem, cudaStream_t stream,
                            std::function<void()> body);
/* Runs work on the stream now, or records it into the capture; for library shims
 * (cuBLAS) whose calls must be captured like kernels. */
cudaError_t simt_emu_submit(cudaStream_t stream, std::function<cudaError_t()> work);
/* Whether [ptr, ptr+bytes) lies inside one live cudaMalloc allocation. */
bool simt_emu_is_device_range(const void *ptr, size_t bytes);
/* Records a failure as the thread's last error and returns it. */
cudaError_t simt_emu_error(cudaError_t error);
#endif
#endif
