/* Host code in C against the emulated CUDA runtime and cuBLAS headers, as Piston's C
 * sources would include <cuda_runtime.h> and <cublas_v2.h>: proves the headers are valid
 * C11 with C linkage. Called from the C++ test binary. */
#include "cuda_runtime_emu.h"
#include "cublas_emu.h"
#include <string.h>

int c_api_check(void);

int c_api_check(void) {
    int count = 0;
    struct cudaDeviceProp prop;
    float host[4] = {1, 2, 3, 4}, back[4] = {0}, one = 1.0f, zero = 0.0f;
    void *dev = NULL;
    cudaStream_t stream;
    cublasHandle_t blas;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count != 1) return -1;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major != 9) return -2;
    if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) return -3;
    if (cudaMalloc(&dev, sizeof host) != cudaSuccess) return -4;
    if (cudaMemcpyAsync(dev, host, sizeof host, cudaMemcpyHostToDevice, stream) != cudaSuccess) return -5;
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(blas, stream) != CUBLAS_STATUS_SUCCESS)
        return -6;
    /* 2x2 identity-free check: C = A * 1 (k = 1), C written over the second half. */
    if (cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 1, &one, (const float *)dev, 2, (const float *)dev + 2, 1,
                    &zero, (float *)dev + 2, 2) != CUBLAS_STATUS_SUCCESS)
        return -7;
    if (cudaStreamSynchronize(stream) != cudaSuccess) return -8;
    if (cudaMemcpy(back, dev, sizeof back, cudaMemcpyDeviceToHost) != cudaSuccess) return -9;
    if (back[2] != 3.0f || back[3] != 6.0f) return -10;
    if (strcmp(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue") != 0) return -11;
    cublasDestroy(blas);
    cudaFree(dev);
    cudaStreamDestroy(stream);
    return cudaGetLastError() == cudaSuccess ? 0 : -12;
}
