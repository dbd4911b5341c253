/* Random rows of any supported element type for the kernel tests: random quant bits with
 * sane scales (random bytes in an f16 scale field would mostly give huge values or NaN). */
#ifndef PISTON_TEST_QUANT_RAND_H
#define PISTON_TEST_QUANT_RAND_H

#include "kernels/backend.h"
#include "kernels/cpu/quant.h"
#include "tests/unit/test.h"

static void put_f16(uint8_t *p, float v) {
    uint16_t h = f32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* n elements of type t at dst (dtype_row_bytes(t, n) bytes) */
static void rand_row(DType t, int64_t n, uint8_t *dst, unsigned long long *rng) {
    int64_t bytes = dtype_row_bytes(t, n), bb = dtype_block_bytes(t);
    if (t == DT_F32 || t == DT_F16 || t == DT_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float v = test_rand_uniform(rng, -1.0f, 1.0f);
            if (t == DT_F32) memcpy(dst + 4 * i, &v, 4);
            else if (t == DT_F16) put_f16(dst + 2 * i, v);
            else {
                uint16_t h = (uint16_t)(f32_bits(v) >> 16);
                memcpy(dst + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (int64_t i = 0; i < bytes; i++) dst[i] = (uint8_t)(test_rng_next(rng) >> 24);
    for (uint8_t *b = dst; b < dst + bytes; b += bb) {
        switch (t) {
        case DT_Q4_0: case DT_Q5_0: case DT_Q8_0: put_f16(b, test_rand_uniform(rng, -0.02f, 0.02f)); break;
        case DT_Q4_1: case DT_Q5_1:
            put_f16(b, test_rand_uniform(rng, 0.0f, 0.02f));
            put_f16(b + 2, test_rand_uniform(rng, -0.2f, 0.05f));
            break;
        case DT_Q4_K: case DT_Q5_K:
            put_f16(b, test_rand_uniform(rng, 0.0f, 0.004f));
            put_f16(b + 2, test_rand_uniform(rng, 0.0f, 0.004f));
            break;
        case DT_Q6_K: put_f16(b + 208, test_rand_uniform(rng, -0.0005f, 0.0005f)); break;
        default: break;
        }
    }
}

#endif
