/* Loading cuBLAS (see cuda_blas.cuh). The product looks for the library by its soname, the
 * one of this toolkit first, then those of CUDA 12 and a plain libcublas.so, in the loader's
 * path (LD_LIBRARY_PATH, the system's) and then under $CUDA_HOME (default /usr/local/cuda). */
#include "kernels/cuda/cuda_blas.cuh"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#if !defined(PISTON_SIMT_EMU)
#include <dlfcn.h>
#endif

int cublas_api_load(CublasApi *api, char *err, size_t errlen) {
#if defined(PISTON_SIMT_EMU)
    *api = CublasApi{NULL, cublasCreate, cublasDestroy, cublasSetStream, cublasSetMathMode, cublasSetWorkspace,
                     cublasGemmEx, cublasGetStatusString};
    return 0;
#else
    static const char *const names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    void *lib = NULL;
    const char *home = getenv("CUDA_HOME");
    char path[1024];
    for (size_t i = 0; !lib && i < sizeof names / sizeof *names; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; !lib && i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/lib64/%s", home && *home ? home : "/usr/local/cuda", names[i]);
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
    if (!lib) {
        snprintf(err, errlen,
                 "cuBLAS not found (libcublas.so.13 or .12 in the loader's path or $CUDA_HOME/lib64): %s", dlerror());
        return -ENOENT;
    }
    api->lib = lib;
#define LOAD(field, sym)                                                                  \
    do {                                                                                  \
        *(void **)&api->field = dlsym(lib, sym);                                          \
        if (!api->field) {                                                                \
            snprintf(err, errlen, "cuBLAS has no %s: %s", sym, dlerror());                \
            cublas_api_unload(api);                                                       \
            return -ENOENT;                                                               \
        }                                                                                 \
    } while (0)
    LOAD(create, "cublasCreate_v2");
    LOAD(destroy, "cublasDestroy_v2");
    LOAD(set_stream, "cublasSetStream_v2");
    LOAD(set_math_mode, "cublasSetMathMode");
    LOAD(set_workspace, "cublasSetWorkspace_v2");
    LOAD(gemm_ex, "cublasGemmEx");
    LOAD(status_string, "cublasGetStatusString");
#undef LOAD
    return 0;
#endif
}

void cublas_api_unload(CublasApi *api) {
#if !defined(PISTON_SIMT_EMU)
    if (api->lib) dlclose(api->lib);
#endif
    *api = CublasApi{};
}
