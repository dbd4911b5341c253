/* Device memory of the emulated CUDA runtime. cudaMalloc returns host memory of exactly
 * the asked size (so ASan catches a kernel running past it), filled with 0xFF so a read
 * of something never written is NaN; the live allocations are kept in an ordered map.
 * Every copy and memset checks, by its kind, that each device-side range lies inside ONE
 * live allocation and that a host-side pointer is not device memory: size and direction
 * bugs fail in CI with a line on stderr instead of corrupting memory. */
#include "cuda_emu_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(cudaMemcpyKind k) {
    static const char *const names[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice", "Default"};
    return (unsigned)k <= 4 ? names[k] : "invalid";
}

/* The allocation containing p, or allocs.end(). Caller holds the lock. */
static std::map<uintptr_t, size_t>::const_iterator find_alloc(const SimtDevice &d, const void *p) {
    uintptr_t a = (uintptr_t)p;
    auto it = d.allocs.upper_bound(a);
    if (it == d.allocs.begin()) return d.allocs.end();
    --it;
    return a < it->first + it->second ? it : d.allocs.end();
}

bool simt_emu_is_device_range(const void *p, size_t bytes) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = find_alloc(d, p);
    return it != d.allocs.end() && (uintptr_t)p + bytes <= it->first + it->second;
}

static bool is_device_ptr(const void *p) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    return find_alloc(d, p) != d.allocs.end();
}

/* Checks one side of a transfer of `bytes` at p, `device` saying which memory the kind
 * implies; describes the problem on stderr. */
static bool check_side(const char *call, const char *side, const void *p, size_t bytes, bool device) {
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = find_alloc(d, p);
    if (!device) {
        if (it == d.allocs.end()) return true;
        fprintf(stderr, "simt: %s: %s %p is device memory (allocation [%#lx, +%zu)) but the copy kind says host\n",
                call, side, p, (unsigned long)it->first, it->second);
        return false;
    }
    if (it != d.allocs.end() && (uintptr_t)p + bytes <= it->first + it->second) return true;
    if (it == d.allocs.end())
        fprintf(stderr, "simt: %s: %s %p (%zu bytes) is not inside any live cudaMalloc allocation\n", call, side, p,
                bytes);
    else
        fprintf(stderr, "simt: %s: %s [%p, +%zu) runs %zu bytes past the end of its allocation [%#lx, +%zu)\n",
                call, side, p, bytes, (size_t)((uintptr_t)p + bytes - (it->first + it->second)),
                (unsigned long)it->first, it->second);
    return false;
}

/* Validates a copy of `span` bytes per side (a 2-D copy spans pitch*(h-1)+width). */
static cudaError_t check_copy(const char *call, void *dst, size_t dspan, const void *src, size_t sspan,
                              cudaMemcpyKind kind) {
    if ((unsigned)kind > cudaMemcpyDefault) {
        fprintf(stderr, "simt: %s: invalid copy kind %d\n", call, (int)kind);
        return cudaErrorInvalidMemcpyDirection;
    }
    if (!dspan && !sspan) return cudaSuccess;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {
        dst_dev = is_device_ptr(dst);
        src_dev = is_device_ptr(src);
    }
    char what[96];
    snprintf(what, sizeof what, "%s(%s)", call, kind_name(kind));
    if (!check_side(what, "dst", dst, dspan, dst_dev) || !check_side(what, "src", src, sspan, src_dev))
        return cudaErrorInvalidValue;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t size) {
    if (!ptr) return simt_emu_error(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = simt_emu_capture_forbids("cudaMalloc")) return e;
    if (size == 0) return cudaSuccess;
    SimtDevice &d = simt_dev();
    {
        std::lock_guard<std::mutex> lock(d.mu);
        if (size > d.total - d.used) {
            fprintf(stderr, "simt: cudaMalloc(%zu): out of emulated device memory (%zu of %zu bytes in use; "
                    "SIMT_MEM_BYTES sets the size)\n", size, d.used, d.total);
            return simt_emu_error(cudaErrorMemoryAllocation);
        }
        d.used += size;
    }
    void *p = nullptr;
    if (posix_memalign(&p, 256, size)) {
        std::lock_guard<std::mutex> lock(d.mu);
        d.used -= size;
        return simt_emu_error(cudaErrorMemoryAllocation);
    }
    memset(p, 0xff, size);
    std::lock_guard<std::mutex> lock(d.mu);
    d.allocs[(uintptr_t)p] = size;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    if (cudaError_t e = simt_emu_capture_forbids("cudaFree")) return e;
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = d.allocs.find((uintptr_t)ptr);
    if (it == d.allocs.end()) {
        fprintf(stderr, "simt: cudaFree(%p): not the start of a live cudaMalloc allocation\n", ptr);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    d.used -= it->second;
    d.allocs.erase(it);
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags) {
    if (!ptr) return simt_emu_error(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (posix_memalign(ptr, 4096, size ? size : 1)) return simt_emu_error(cudaErrorMemoryAllocation);
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    d.pinned[(uintptr_t)*ptr] = size;
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **ptr, size_t size) { return cudaHostAlloc(ptr, size, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void *ptr) {
    if (!ptr) return cudaSuccess;
    SimtDevice &d = simt_dev();
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.pinned.erase((uintptr_t)ptr)) {
        fprintf(stderr, "simt: cudaFreeHost(%p): not a live cudaMallocHost/cudaHostAlloc allocation\n", ptr);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    free(ptr);
    return cudaSuccess;
}

static cudaError_t copy_2d(const char *call, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                           size_t height, cudaMemcpyKind kind) {
    if (width > dpitch || width > spitch) {
        fprintf(stderr, "simt: %s: width %zu exceeds a pitch (dst %zu, src %zu)\n", call, width, dpitch, spitch);
        return cudaErrorInvalidPitchValue;
    }
    size_t dspan = height ? dpitch * (height - 1) + width : 0, sspan = height ? spitch * (height - 1) + width : 0;
    if (!width) dspan = sspan = 0;
    if (cudaError_t e = check_copy(call, dst, dspan, src, sspan, kind)) return e;
    for (size_t r = 0; r < height && width; r++) memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = simt_emu_capture_forbids("cudaMemcpy")) return e;
    return simt_emu_error(copy_2d("cudaMemcpy", dst, count, src, count, count, 1, kind));
}
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = simt_emu_capture_forbids("cudaMemcpy2D")) return e;
    return simt_emu_error(copy_2d("cudaMemcpy2D", dst, dpitch, src, spitch, width, height, kind));
}

/* Async forms check once when issued (the error belongs to the call) and again when the
 * work runs, which for a captured copy is at every graph replay. */
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    size_t dspan = height ? dpitch * (height - 1) + width : 0, sspan = height ? spitch * (height - 1) + width : 0;
    if (width > dpitch || width > spitch) return simt_emu_error(copy_2d("cudaMemcpyAsync", dst, dpitch, src, spitch,
                                                                        width, height, kind));
    if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, dspan, src, sspan, kind)) return simt_emu_error(e);
    return simt_emu_submit(stream, [=]() {
        return copy_2d("cudaMemcpyAsync", dst, dpitch, src, spitch, width, height, kind);
    });
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
    return cudaMemcpy2DAsync(dst, count, src, count, count, 1, kind, stream);
}

static cudaError_t do_memset(const char *call, void *ptr, int value, size_t count) {
    if (count && !check_side(call, "ptr", ptr, count, true)) return cudaErrorInvalidValue;
    if (count) memset(ptr, value, count);
    return cudaSuccess;
}
cudaError_t cudaMemset(void *ptr, int value, size_t count) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = simt_emu_capture_forbids("cudaMemset")) return e;
    return simt_emu_error(do_memset("cudaMemset", ptr, value, count));
}
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (count && !check_side("cudaMemsetAsync", "ptr", ptr, count, true)) return simt_emu_error(cudaErrorInvalidValue);
    return simt_emu_submit(stream, [=]() { return do_memset("cudaMemsetAsync", ptr, value, count); });
}

/* The symbol side is checked against the variable's size; the other side by the kind. */
cudaError_t simt_emu_symbol_copy(void *dst, const void *src, size_t count, size_t offset, size_t symbol_bytes,
                                 cudaMemcpyKind kind, bool to_symbol) {
    if (simt_emu_check_device()) return cudaErrorNoDevice;
    if (cudaError_t e = simt_emu_capture_forbids("cudaMemcpyToSymbol/FromSymbol")) return e;
    const char *call = to_symbol ? "cudaMemcpyToSymbol" : "cudaMemcpyFromSymbol";
    if (offset > symbol_bytes || count > symbol_bytes - offset) {
        fprintf(stderr, "simt: %s: [%zu, %zu) is outside the %zu-byte symbol\n", call, offset, offset + count,
                symbol_bytes);
        return simt_emu_error(cudaErrorInvalidValue);
    }
    bool other_dev = kind == cudaMemcpyDeviceToDevice || (kind == cudaMemcpyDefault && is_device_ptr(to_symbol ? src : dst));
    if (count && !check_side(call, to_symbol ? "src" : "dst", to_symbol ? src : dst, count, other_dev))
        return simt_emu_error(cudaErrorInvalidValue);
    if (count) {
        if (to_symbol) memcpy((char *)dst + offset, src, count);
        else memcpy(dst, (const char *)src + offset, count);
    }
    return cudaSuccess;
}
