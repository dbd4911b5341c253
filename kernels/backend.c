/* The backend factory and the thin wrappers over the op table that carry a backend's
 * message into the caller's buffer. "auto" prefers CUDA: a GPU is why one deploys a serving
 * engine, and the CPU backend is the fallback and the reference. */
#include "base/log.h"
#include "kernels/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "kernels/cpu/cpu_backend.h"
#ifdef PISTON_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

void backend_options_default(BackendOptions *o) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->precision = MATMUL_Q8;
}

int backend_have_cuda(void) {
#ifdef PISTON_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int backend_create(const BackendOptions *o, Backend **out, char *err, size_t errlen) {
    *out = NULL;
    const char *dev = o->device && *o->device ? o->device : "auto";
    if (strcmp(dev, "cpu") && strcmp(dev, "cuda") && strcmp(dev, "auto"))
        return err_set(err, errlen, -EINVAL, "--device expects cpu, cuda or auto, got '%s'", dev);
    char why[256] = "";
    if (strcmp(dev, "cpu") != 0) {
#ifdef PISTON_HAVE_CUDA
        int rc = cuda_backend_create(o, out, why, sizeof why);
        if (rc == 0) {
            if (o->verbose)
                log_line(LOG_INFO, "device: cuda (%s)%s", (*out)->device_name,
                        strcmp(dev, "auto") ? "" : ": a usable GPU was found (--device cpu to use the CPU)");
            return 0;
        }
        if (!strcmp(dev, "cuda")) return err_set(err, errlen, rc, "--device cuda: %s", why);
#else
        snprintf(why, sizeof why, "this build of Piston has no CUDA backend (nvcc was not found when it was built)");
        if (!strcmp(dev, "cuda")) return err_set(err, errlen, -ENODEV, "--device cuda: %s; use --device cpu", why);
#endif
    }
    int rc = cpu_backend_create(o, out, err, errlen);
    if (rc == 0 && o->verbose)
        log_line(LOG_INFO, "device: cpu (%s)%s%s", (*out)->device_name, *why ? ": " : "", why);
    return rc;
}

void backend_destroy(Backend *be) {
    if (be) be->ops->destroy(be);
}

int backend_fail(Backend *be, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->err, sizeof be->err, fmt, ap);
    va_end(ap);
    return code;
}

void *backend_alloc(Backend *be, size_t bytes, char *err, size_t errlen) {
    void *p = be->ops->alloc(be, bytes);
    if (!p) err_set(err, errlen, -ENOMEM, "%s", be->err);
    return p;
}

void backend_free(Backend *be, void *p) {
    if (p) be->ops->free(be, p);
}

int backend_upload(Backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen) {
    int rc = be->ops->upload(be, dst, src, bytes);
    return rc ? err_set(err, errlen, rc, "%s", be->err) : 0;
}

int backend_download(Backend *be, void *dst, const void *src, size_t bytes, char *err, size_t errlen) {
    int rc = be->ops->download(be, dst, src, bytes);
    return rc ? err_set(err, errlen, rc, "%s", be->err) : 0;
}

int backend_synchronize(Backend *be, char *err, size_t errlen) {
    int rc = be->ops->synchronize(be);
    return rc ? err_set(err, errlen, rc, "%s", be->err) : 0;
}

int backend_matmul_n(Backend *be, int n, const Tensor *const *W, const float *x, float *const *y, int T) {
    if (be->ops->matmul_n) return be->ops->matmul_n(be, n, W, x, y, T);
    for (int i = 0; i < n; i++) {
        int rc = be->ops->matmul(be, W[i], x, y[i], T);
        if (rc) return rc;
    }
    return 0;
}
