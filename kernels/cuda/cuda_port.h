/* The one place where Piston's CUDA kernels see whether they are built by nvcc for a GPU
 * or by the host C++ compiler against the SIMT emulator (tests/simt, -DPISTON_SIMT_EMU),
 * which lets CI check every kernel's logic without a GPU. Kernels and their host
 * wrappers use only what both sides provide:
 *   piston_launch(kernel, grid, block, dyn_smem, stream, args...)  instead of <<<>>>,
 *     returning the launch's cudaError_t (also left as the last error);
 *   PISTON_DYNAMIC_SHARED(T, name)  instead of extern __shared__ arrays: a 16-byte
 *     aligned T* to the launch's dynamic shared memory (filled with 0xFF per block under
 *     the emulator, so reading it before writing gives NaN). */
#ifndef PISTON_CUDA_PORT_H
#define PISTON_CUDA_PORT_H

#if defined(PISTON_SIMT_EMU)
#include "simt.h"
#include "cuda_runtime_emu.h"

/* Runs the kernel through the emulator (or records it while the stream captures); the
 * arguments are converted to the kernel's parameter types now and held by value, as
 * <<<>>> does. The function pointer keys per-kernel attributes (cudaFuncSetAttribute). */
template <typename... KArgs, typename... Args>
static inline cudaError_t piston_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t dyn_smem,
                                        cudaStream_t stream, Args... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "piston_launch: argument count differs from the kernel's");
    return simt_emu_launch(reinterpret_cast<const void *>(kernel), grid, block, dyn_smem, stream,
                           [kernel, args...]() { kernel(static_cast<KArgs>(args)...); });
}
#define PISTON_DYNAMIC_SHARED(T, name) T *name = reinterpret_cast<T *>(simt_dynamic_shared())

#else
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

template <typename... KArgs, typename... Args>
static inline cudaError_t piston_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t dyn_smem,
                                        cudaStream_t stream, Args... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "piston_launch: argument count differs from the kernel's");
    kernel<<<grid, block, dyn_smem, stream>>>(static_cast<KArgs>(args)...);
    return cudaGetLastError();
}
#define PISTON_DYNAMIC_SHARED(T, name)                                  \
    extern __shared__ __align__(16) unsigned char piston_dyn_smem_[]; \
    T *name = reinterpret_cast<T *>(piston_dyn_smem_)
#endif

#endif
