/* Block barriers and warp collectives of the SIMT emulator, with CUDA's names. Every
 * call records its call site through __builtin_FILE/__builtin_LINE default arguments,
 * so a deadlock report says where each thread waits. Barriers must be reached by every
 * thread of the block at the same call site; a warp collective completes when every
 * lane of its mask is at a collective with the same mask, and then the results of all
 * lanes are computed at once. Shuffles accept any trivially copyable type of up to 8
 * bytes (CUDA's int, unsigned, long long, float, double, __half, __half2, ...); reading
 * a lane outside the mask returns all-ones bytes (NaN), as CUDA leaves it undefined. */
#ifndef PISTON_SIMT_WARP_H
#define PISTON_SIMT_WARP_H
#include <stdint.h>
#include <string.h>
#include <type_traits>

enum SimtBarrierKind { SIMT_BAR_SYNC, SIMT_BAR_COUNT, SIMT_BAR_AND, SIMT_BAR_OR };
enum SimtWarpOp {
    SIMT_OP_SYNCWARP, SIMT_OP_SHFL_IDX, SIMT_OP_SHFL_UP, SIMT_OP_SHFL_DOWN, SIMT_OP_SHFL_XOR,
    SIMT_OP_BALLOT, SIMT_OP_ANY, SIMT_OP_ALL, SIMT_OP_MATCH_ANY, SIMT_OP_MATCH_ALL,
    SIMT_OP_REDUCE_ADD, SIMT_OP_REDUCE_MIN_U, SIMT_OP_REDUCE_MAX_U, SIMT_OP_REDUCE_MIN_S,
    SIMT_OP_REDUCE_MAX_S, SIMT_OP_REDUCE_AND, SIMT_OP_REDUCE_OR, SIMT_OP_REDUCE_XOR,
    SIMT_OP_ALLGATHER, SIMT_OP_ACTIVEMASK, SIMT_OP_COUNT_
};

int simt_barrier(int kind, int pred, const char *file, int line);
/* value: the lane's operand (zero-extended bytes); size: its size in bytes; arg: source
 * lane, delta or lane mask; width: the sub-warp width of shuffles. Returns the result. */
uint64_t simt_warp_collective(int op, unsigned mask, uint64_t value, unsigned size, int arg,
                              int width, const char *file, int line);
/* After it, all[lane * bytes_per_lane ...] holds each lane's `mine`, lanes outside mask
 * zero-filled. For emulated tensor-core fragments (mma/ldmatrix fallbacks). */
void simt_warp_allgather(unsigned mask, const void *mine, void *all, size_t bytes_per_lane,
                         const char *file = __builtin_FILE(), int line = __builtin_LINE());
/* The lanes of the calling warp converged at this call: it returns once every other lane
 * of the warp has exited or waits somewhere, with the set of lanes waiting at this same
 * call site (so both sides of a divergent branch, and the survivors of early returns,
 * each get their own group, as on the hardware). */
unsigned __activemask(const char *file = __builtin_FILE(), int line = __builtin_LINE());

#define SIMT_SITE const char *file = __builtin_FILE(), int line = __builtin_LINE()
static inline void __syncthreads(SIMT_SITE) { simt_barrier(SIMT_BAR_SYNC, 1, file, line); }
static inline int __syncthreads_count(int p, SIMT_SITE) { return simt_barrier(SIMT_BAR_COUNT, p != 0, file, line); }
static inline int __syncthreads_and(int p, SIMT_SITE) { return simt_barrier(SIMT_BAR_AND, p != 0, file, line); }
static inline int __syncthreads_or(int p, SIMT_SITE) { return simt_barrier(SIMT_BAR_OR, p != 0, file, line); }
static inline void __syncwarp(unsigned mask = 0xffffffffu, SIMT_SITE) {
    simt_warp_collective(SIMT_OP_SYNCWARP, mask, 0, 0, 0, 32, file, line);
}
static inline unsigned __ballot_sync(unsigned mask, int p, SIMT_SITE) {
    return (unsigned)simt_warp_collective(SIMT_OP_BALLOT, mask, p != 0, 4, 0, 32, file, line);
}
static inline int __any_sync(unsigned mask, int p, SIMT_SITE) {
    return (int)simt_warp_collective(SIMT_OP_ANY, mask, p != 0, 4, 0, 32, file, line);
}
static inline int __all_sync(unsigned mask, int p, SIMT_SITE) {
    return (int)simt_warp_collective(SIMT_OP_ALL, mask, p != 0, 4, 0, 32, file, line);
}

template <typename T> static inline uint64_t simt_to_bits(T v) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                  "warp collectives take values of at most 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    return u;
}
template <typename T> static inline T simt_from_bits(uint64_t u) {
    T v;
    memcpy(&v, &u, sizeof v);
    return v;
}
#define SIMT_SHFL(NAME, OP, ARG_T)                                                              \
    template <typename T> static inline T NAME(unsigned mask, T var, ARG_T arg, int width = 32, \
                                               SIMT_SITE) {                                     \
        return simt_from_bits<T>(simt_warp_collective(OP, mask, simt_to_bits(var), sizeof(T),   \
                                                      (int)arg, width, file, line));            \
    }
SIMT_SHFL(__shfl_sync, SIMT_OP_SHFL_IDX, int)
SIMT_SHFL(__shfl_up_sync, SIMT_OP_SHFL_UP, unsigned)
SIMT_SHFL(__shfl_down_sync, SIMT_OP_SHFL_DOWN, unsigned)
SIMT_SHFL(__shfl_xor_sync, SIMT_OP_SHFL_XOR, int)
#undef SIMT_SHFL

template <typename T> static inline unsigned __match_any_sync(unsigned mask, T v, SIMT_SITE) {
    return (unsigned)simt_warp_collective(SIMT_OP_MATCH_ANY, mask, simt_to_bits(v), sizeof(T), 0, 32,
                                          file, line);
}
template <typename T> static inline unsigned __match_all_sync(unsigned mask, T v, int *pred, SIMT_SITE) {
    uint64_t r = simt_warp_collective(SIMT_OP_MATCH_ALL, mask, simt_to_bits(v), sizeof(T), 0, 32,
                                      file, line);
    *pred = (int)(r >> 32);
    return (unsigned)r;
}

#define SIMT_REDUCE(NAME, T, OP)                                                             \
    static inline T NAME(unsigned mask, T v, SIMT_SITE) {                                    \
        return (T)simt_warp_collective(OP, mask, (uint32_t)v, 4, 0, 32, file, line);         \
    }
SIMT_REDUCE(__reduce_add_sync, unsigned, SIMT_OP_REDUCE_ADD)
SIMT_REDUCE(__reduce_add_sync, int, SIMT_OP_REDUCE_ADD)
SIMT_REDUCE(__reduce_min_sync, unsigned, SIMT_OP_REDUCE_MIN_U)
SIMT_REDUCE(__reduce_min_sync, int, SIMT_OP_REDUCE_MIN_S)
SIMT_REDUCE(__reduce_max_sync, unsigned, SIMT_OP_REDUCE_MAX_U)
SIMT_REDUCE(__reduce_max_sync, int, SIMT_OP_REDUCE_MAX_S)
SIMT_REDUCE(__reduce_and_sync, unsigned, SIMT_OP_REDUCE_AND)
SIMT_REDUCE(__reduce_or_sync, unsigned, SIMT_OP_REDUCE_OR)
SIMT_REDUCE(__reduce_xor_sync, unsigned, SIMT_OP_REDUCE_XOR)
#undef SIMT_REDUCE
#undef SIMT_SITE
#endif
