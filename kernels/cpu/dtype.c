/* Block geometry and names of the element types Piston reads (GGML numbering), and the
 * conversion from f32 into the float types. The dequantizers live in quant.c; this file is
 * otherwise the table every reader checks against. */
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cpu/quant.h"

typedef struct DTypeInfo {
    const char *name;
    int64_t block_elems;
    int64_t block_bytes;
    int supported;
} DTypeInfo;

static const DTypeInfo dtype_info[DT_COUNT] = {
    [DT_F32] = {"F32", 1, 4, 1},         [DT_F16] = {"F16", 1, 2, 1},
    [DT_Q4_0] = {"Q4_0", 32, 18, 1},     [DT_Q4_1] = {"Q4_1", 32, 20, 1},
    [DT_Q5_0] = {"Q5_0", 32, 22, 1},     [DT_Q5_1] = {"Q5_1", 32, 24, 1},
    [DT_Q8_0] = {"Q8_0", 32, 34, 1},     [DT_Q8_1] = {"Q8_1", 32, 36, 0},
    [DT_Q2_K] = {"Q2_K", 256, 84, 0},    [DT_Q3_K] = {"Q3_K", 256, 110, 0},
    [DT_Q4_K] = {"Q4_K", 256, 144, 1},   [DT_Q5_K] = {"Q5_K", 256, 176, 1},
    [DT_Q6_K] = {"Q6_K", 256, 210, 1},   [DT_Q8_K] = {"Q8_K", 256, 292, 0},
    [DT_BF16] = {"BF16", 1, 2, 1},
};

int dtype_supported(int type) {
    return type >= 0 && type < DT_COUNT && dtype_info[type].supported;
}

int64_t dtype_block_elems(DType t) {
    return (int)t >= 0 && t < DT_COUNT && dtype_info[t].name ? dtype_info[t].block_elems : 0;
}

int64_t dtype_block_bytes(DType t) {
    return (int)t >= 0 && t < DT_COUNT && dtype_info[t].name ? dtype_info[t].block_bytes : 0;
}

int64_t dtype_row_bytes(DType t, int64_t n) {
    int64_t be = dtype_block_elems(t);
    if (be <= 0 || n < 0 || n % be) return -1;
    if (n / be > INT64_MAX / dtype_block_bytes(t)) return -1; /* hostile sizes must not overflow */
    return n / be * dtype_block_bytes(t);
}

const char *dtype_name(int type) {
    return type >= 0 && type < DT_COUNT && dtype_info[type].name ? dtype_info[type].name : "unknown";
}

const char *dtype_supported_list(void) {
    return "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K";
}

int dtype_convert_row(DType t, const float *src, void *dst, int64_t n) {
    if (t == DT_F32) memmove(dst, src, (size_t)n * sizeof(float));
    else if (t == DT_F16) for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_fp16(src[i]);
    else if (t == DT_BF16) for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_bf16(src[i]);
    else return -1;
    return 0;
}
