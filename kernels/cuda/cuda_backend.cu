/* The CUDA backend object: one device, one stream that every transfer and op is queued on
 * in order, cuBLAS (loaded at creation, see cuda_blas.cu), device memory for buffers and
 * pinned host memory for staging, and the op table. The ops live in one file per family
 * (embed.cu, norm.cu, elementwise.cu, rope.cu, kv.cu, attention.cu, matmul.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.cuh"

/* split-K partials of decode attention: enough for 256 sequences x 32 heads x 8 splits of
 * head_dim 128; fewer splits are used where more would not fit */
#define ATTN_WS_BYTES ((size_t)64 << 20)
/* cuBLAS's own workspace (its guidance for Hopper: 32 MiB) */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)

int cuda_fail(Backend *be, cudaError_t e, const char *what, const char *func, const char *file, int line) {
    const char *tail = e == cudaErrorIllegalAddress || e == cudaErrorLaunchFailure
                           ? " (the CUDA context is lost: restart the server)"
                           : "";
    return backend_fail(be, -EIO, "cuda: %s failed in %s (%s:%d): %s: %s%s", what, func, file, line,
                        cudaGetErrorName(e), cudaGetErrorString(e), tail);
}

int cublas_fail(Backend *be, cublasStatus_t s, const char *what, const char *func, const char *file, int line) {
    CudaState *st = cuda_state(be);
    return backend_fail(be, -EIO, "cublas: %s failed in %s (%s:%d): %s", what, func, file, line,
                        st->blas.status_string ? st->blas.status_string(s) : "unknown status");
}

int cuda_scratch(Backend *be, void **buf, size_t *have, size_t bytes, const char *what) {
    if (bytes <= *have) return 0;
    CudaState *st = cuda_state(be);
    if (st->capturing)
        return backend_fail(be, -EINVAL, "cuda: %s needs %zu bytes while a graph is captured", what, bytes);
    CUDA_CHECK(be, cudaStreamSynchronize(st->stream)); /* the old buffer may still be read */
    CUDA_CHECK(be, cudaFree(*buf));
    *buf = NULL, *have = 0;
    size_t n = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1); /* whole MiB: fewer regrowths */
    CUDA_CHECK(be, cudaMalloc(buf, n));
    *have = n;
    return 0;
}

static void *cu_alloc(Backend *be, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        size_t f = 0, t = 0;
        cudaGetLastError(); /* an allocation failure is not sticky */
        cudaMemGetInfo(&f, &t);
        backend_fail(be, -ENOMEM, "cuda: out of device memory allocating %.1f MiB (%.2f of %.2f GiB free): %s",
                     bytes / 1048576.0, f / 1073741824.0, t / 1073741824.0, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void cu_free(Backend *be, void *p) {
    if (p) cudaFree(p);
}

static void *cu_host_alloc(Backend *be, size_t bytes) {
    void *p = NULL;
    if (cudaMallocHost(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        backend_fail(be, -ENOMEM, "cuda: out of pinned host memory allocating %.1f MiB", bytes / 1048576.0);
        return NULL;
    }
    return p;
}

static void cu_host_free(Backend *be, void *p) {
    if (p) cudaFreeHost(p);
}

static int cu_upload(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_state(be)->stream));
    return 0;
}

static int cu_download(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_state(be)->stream));
    return 0;
}

static int cu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_state(be)->stream));
    return 0;
}

static int cu_synchronize(Backend *be) {
    CUDA_CHECK(be, cudaStreamSynchronize(cuda_state(be)->stream));
    return 0;
}

static int cu_mem_info(Backend *be, int64_t *free_bytes, int64_t *total_bytes) {
    size_t f = 0, t = 0;
    CUDA_CHECK(be, cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t)f, *total_bytes = (int64_t)t;
    return 0;
}

static void cu_destroy(Backend *be) {
    CudaState *st = cuda_state(be);
    if (st) {
        if (st->stream) cudaStreamSynchronize(st->stream);
        if (st->cublas) st->blas.destroy(st->cublas);
        cublas_api_unload(&st->blas);
        cudaFree(st->cublas_ws);
        cudaFree(st->attn_ws);
        cudaFree(st->act16);
        cudaFree(st->w16);
        if (st->stream) cudaStreamDestroy(st->stream);
        free(st);
    }
    free(be);
}

/* in BackendOps order (C++17 has no out-of-order designated initializers) */
static const BackendOps cuda_ops = {
    cu_alloc, cu_free, cu_upload, cu_download, cu_synchronize, cu_mem_info, cu_host_alloc, cu_host_free, cu_copy,
    cu_destroy, cuda_graph_begin, cuda_graph_end, cuda_graph_launch, cuda_graph_destroy,
    cuda_embed, cuda_rmsnorm, cuda_add_rmsnorm, cuda_matmul, cuda_add_bias, cuda_add, cuda_rope, cuda_silu_mul,
    cuda_kv_write, cuda_attention, cuda_kv_copy_blocks, cuda_gather_last, cuda_gather_rows, cuda_fill_random,
    NULL, /* matmul_n: one launch per weight (backend_matmul_n loops) */
};

/* Which device, and whether it can run these kernels: one line for the log or the error. */
static int pick_device(const BackendOptions *o, CudaState *st, char *err, size_t errlen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        snprintf(err, errlen, "no usable CUDA device (%s%s)", e == cudaSuccess ? "none found" : cudaGetErrorString(e),
                 e == cudaErrorInsufficientDriver ? ": no NVIDIA driver, or one older than this CUDA runtime" : "");
        return -ENODEV;
    }
    if (o->device_id < 0 || o->device_id >= n) {
        snprintf(err, errlen, "CUDA device %d does not exist (%d found)", o->device_id, n);
        return -ENODEV;
    }
    st->device = o->device_id;
    if ((e = cudaSetDevice(st->device)) != cudaSuccess || (e = cudaGetDeviceProperties(&st->prop, st->device))) {
        snprintf(err, errlen, "CUDA device %d: %s", st->device, cudaGetErrorString(e));
        return -ENODEV;
    }
    if (st->prop.major < 9) {
        snprintf(err, errlen, "CUDA device %d (%s) is sm_%d%d; this build's kernels need sm_90 or newer "
                 "(rebuild with CUARCH= for it)", st->device, st->prop.name, st->prop.major, st->prop.minor);
        return -ENODEV;
    }
    return 0;
}

extern "C" int cuda_backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen) {
    *out = NULL;
    Backend *be = (Backend *)calloc(1, sizeof *be);
    CudaState *st = (CudaState *)calloc(1, sizeof *st);
    if (!be || !st) {
        free(be), free(st);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    be->ops = &cuda_ops;
    be->name = "cuda";
    be->opt = *o;
    be->opt.device = "cuda";
    be->impl = st;
    int rc = pick_device(o, st, err, errlen);
    if (!rc) rc = cublas_api_load(&st->blas, err, errlen);
    cudaError_t e = cudaSuccess;
    if (!rc && ((e = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking)) != cudaSuccess ||
                (e = cudaMalloc(&st->cublas_ws, CUBLAS_WS_BYTES)) != cudaSuccess ||
                (e = cudaMalloc((void **)&st->attn_ws, ATTN_WS_BYTES)) != cudaSuccess)) {
        snprintf(err, errlen, "CUDA device %d: %s", st->device, cudaGetErrorString(e));
        rc = -EIO;
    }
    st->cublas_ws_bytes = CUBLAS_WS_BYTES, st->attn_ws_bytes = ATTN_WS_BYTES;
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (!rc && ((s = st->blas.create(&st->cublas)) != CUBLAS_STATUS_SUCCESS ||
                (s = st->blas.set_stream(st->cublas, st->stream)) != CUBLAS_STATUS_SUCCESS ||
                (s = st->blas.set_workspace(st->cublas, st->cublas_ws, CUBLAS_WS_BYTES)) != CUBLAS_STATUS_SUCCESS ||
                (s = st->blas.set_math_mode(st->cublas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS)) {
        snprintf(err, errlen, "cuBLAS: %s", st->blas.status_string(s));
        rc = -EIO;
    }
    if (rc) {
        cu_destroy(be);
        return rc;
    }
    snprintf(be->device_name, sizeof be->device_name, "%.80s, %.1f GiB, sm_%d%d", st->prop.name,
             st->prop.totalGlobalMem / 1073741824.0, st->prop.major, st->prop.minor);
    *out = be;
    return 0;
}
