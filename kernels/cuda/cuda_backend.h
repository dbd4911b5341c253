/* The CUDA backend's one entry point, for kernels/backend.c (C): backend_create("cuda") and
 * "auto" call it. Built only where nvcc is found (PISTON_HAVE_CUDA), and for tests against
 * the SIMT emulator (tests/simt). */
#ifndef PISTON_CUDA_BACKEND_H
#define PISTON_CUDA_BACKEND_H

#include <stddef.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0, or negative with why in err: no device, no driver, no cuBLAS, out of memory. */
int cuda_backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
