/* f16/bf16 tests of the SIMT emulator against references written from the IEEE 754
 * definition: the representable values are enumerated and the nearest one picked (ties
 * to the even encoding, overflow at max + half an ulp), in __float128 so every distance
 * is exact. Every f16 and bf16 pattern must round-trip (NaN becomes the canonical
 * 0x7FFF, as on the GPU); f32 -> f16/bf16 is compared on all 16-bit values, all
 * midpoints and their float neighbours, and a sweep of float patterns; arithmetic
 * (add, mul, div, fma) is compared with the exactly rounded result. */
#include "simt_test.h"
#include <math.h>

typedef __float128 quad;

/* Value of a finite 16-bit pattern with `mbits` fraction bits and exponent bias. */
static quad small_value(unsigned bits, int mbits, int bias) {
    unsigned e = bits >> mbits, m = bits & ((1u << mbits) - 1);
    quad frac = (quad)m / (quad)(1u << mbits);
    quad scale = 1;
    int ex = e ? (int)e - bias : 1 - bias;
    for (int i = 0; i < (ex > 0 ? ex : -ex); i++) scale = ex > 0 ? scale * 2 : scale / 2;
    return (e ? 1 + frac : frac) * scale;
}

/* Nearest-even rounding of x to the format whose largest finite pattern is max_bits. */
struct SmallFormat {
    int mbits, bias;
    unsigned max_bits, inf_bits;
    quad values[0x7f80]; /* up to bf16's largest finite pattern */
    void init(int mb, int b, unsigned maxb, unsigned infb) {
        mbits = mb; bias = b; max_bits = maxb; inf_bits = infb;
        for (unsigned i = 0; i <= max_bits; i++) values[i] = small_value(i, mbits, bias);
    }
    /* Rounds x + lo, lo a tail below x's precision (from an exact TwoSum), so sums whose
     * exact value needs more than 113 bits still round exactly. */
    unsigned round(quad x, quad lo = 0) const {
        if (x != x) return 0x7fffu;
        bool neg = x < 0 || (x == 0 && 1 / x < 0);
        unsigned sign = neg ? 0x8000u : 0;
        quad a = neg ? -x : x, t = neg ? -lo : lo;
        quad ulp_top = values[max_bits] - values[max_bits - 1];
        if (a >= values[max_bits] + ulp_top / 2) return sign | inf_bits;
        unsigned l = 0, h = max_bits; /* largest pattern with value <= a */
        while (l < h) {
            unsigned mid = (l + h + 1) / 2;
            if (values[mid] <= a) l = mid; else h = mid - 1;
        }
        if (values[l] == a || l == max_bits) return sign | l; /* a tail cannot reach a neighbour */
        quad diff = (a - values[l]) - (values[l + 1] - a); /* < 0: nearer the lower one */
        quad cmp = diff + 2 * t;
        if (diff == -2 * t) cmp = 0;
        return sign | (cmp < 0 ? l : cmp > 0 ? l + 1 : (l & 1 ? l + 1 : l));
    }
};
/* a*b + c exactly, as a head and a tail. */
static void exact_fma(quad a, quad b, quad c, quad *hi, quad *lo) {
    quad p = a * b, s = p + c, bp = s - p;
    *hi = s;
    *lo = (p - (s - bp)) + (c - bp);
}
static SmallFormat f16ref, bf16ref;

static unsigned bits_of(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static float float_of(unsigned u) { float f; memcpy(&f, &u, 4); return f; }

static void check_float(float f, int *bad16, int *badbf) {
    unsigned h = __half_as_ushort(__float2half_rn(f)), want = f16ref.round((quad)f);
    unsigned b = __bfloat16_as_ushort(__float2bfloat16_rn(f)), wantb = bf16ref.round((quad)f);
    if (h != want && (*bad16)++ < 3) fprintf(stderr, "f16(%a = %#x): %#x, want %#x\n", f, bits_of(f), h, want);
    if (b != wantb && (*badbf)++ < 3) fprintf(stderr, "bf16(%a = %#x): %#x, want %#x\n", f, bits_of(f), b, wantb);
}

void test_fp16(void) {
    f16ref.init(10, 15, 0x7bff, 0x7c00);
    bf16ref.init(7, 127, 0x7f7f, 0x7f80);
    int bad = 0, badb = 0, nan_bad = 0;
    for (unsigned i = 0; i < 0x10000; i++) {
        __half h = __ushort_as_half((unsigned short)i);
        float f = __half2float(h);
        bool nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        unsigned back = __half_as_ushort(__float2half_rn(f));
        if (nan) nan_bad += !isnan(f) || back != 0x7fff;
        else {
            quad mag = (i & 0x7fff) == 0x7c00 ? (quad)INFINITY : small_value(i & 0x7fff, 10, 15);
            bad += back != i || (quad)f != ((i & 0x8000) ? -mag : mag) || !signbit(f) != !(i & 0x8000);
        }
        __nv_bfloat16 b = __ushort_as_bfloat16((unsigned short)i);
        float fb = __bfloat162float(b);
        bool nanb = (i & 0x7f80) == 0x7f80 && (i & 0x7f);
        unsigned backb = __bfloat16_as_ushort(__float2bfloat16_rn(fb));
        if (nanb) nan_bad += !isnan(fb) || backb != 0x7fff;
        else badb += backb != i || bits_of(fb) != i << 16;
    }
    CHECK(bad == 0 && badb == 0 && nan_bad == 0, "round trips: f16 %d, bf16 %d, NaN %d wrong", bad, badb, nan_bad);

    bad = badb = 0;
    for (unsigned i = 0; i < 0x7c00; i++) { /* every f16 midpoint, exact in float, and its neighbours */
        float lo = __half2float(__ushort_as_half((unsigned short)i));
        float hi = i + 1 < 0x7c00 ? __half2float(__ushort_as_half((unsigned short)(i + 1))) : 65536.0f;
        float mid = (float)(((double)lo + hi) / 2);
        unsigned mb = bits_of(mid);
        for (unsigned u : {mb, mb - 1, mb + 1}) {
            check_float(float_of(u), &bad, &badb);
            check_float(-float_of(u), &bad, &badb);
        }
    }
    for (unsigned long long u = 0; u < 0x100000000ULL; u += 4099) check_float(float_of((unsigned)u), &bad, &badb);
    for (unsigned i = 0; i < 0x10000; i++) { /* bf16 midpoints */
        unsigned m = (i << 16) | 0x8000u;
        for (unsigned u : {m, m - 1, m + 1}) check_float(float_of(u), &bad, &badb);
    }
    check_float(INFINITY, &bad, &badb);
    check_float(-INFINITY, &bad, &badb);
    check_float(65520.0f, &bad, &badb);
    check_float(65519.996f, &bad, &badb);
    CHECK(bad == 0 && badb == 0, "f32 -> f16: %d wrong, f32 -> bf16: %d wrong", bad, badb);
    CHECK(__half_as_ushort(__float2half(NAN)) == 0x7fff && __bfloat16_as_ushort(__float2bfloat16(-NAN)) == 0x7fff);
    /* A double just above a midpoint must round up; through float it would tie to even. */
    CHECK(__half_as_ushort(__double2half(1.0 + 1.0 / 2048 + 1e-12)) == 0x3c01);
    CHECK(__bfloat16_as_ushort(__double2bfloat16(1.0 + 1.0 / 256 + 1e-12)) == 0x3f81);

    unsigned long long rng = 99;
    int bad_ops = 0;
    auto expect = [&](const char *op, unsigned got, unsigned want, float x, float y) {
        if (got == want) return;
        if (bad_ops++ < 5) fprintf(stderr, "%s(%a, %a): %#x, want %#x\n", op, x, y, got, want);
    };
    for (int i = 0; i < 20000; i++) {
        unsigned short xa = (unsigned short)test_rng_next(&rng), xb = (unsigned short)test_rng_next(&rng),
                       xc = (unsigned short)test_rng_next(&rng);
        if ((xa & 0x7c00) != 0x7c00 && (xb & 0x7c00) != 0x7c00 && (xc & 0x7c00) != 0x7c00) {
            __half a = __ushort_as_half(xa), b = __ushort_as_half(xb), c = __ushort_as_half(xc);
            quad qa = __half2float(a), qb = __half2float(b), qc = __half2float(c);
            expect("__hadd", __half_as_ushort(__hadd(a, b)), f16ref.round(qa + qb), a, b);
            expect("__hmul", __half_as_ushort(a * b), f16ref.round(qa * qb), a, b);
            quad hi, lo;
            exact_fma(qa, qb, qc, &hi, &lo);
            expect("__hfma", __half_as_ushort(__hfma(a, b, c)), f16ref.round(hi, lo), a, b);
            if (qb != 0) expect("__hdiv", __half_as_ushort(__hdiv(a, b)), f16ref.round(qa / qb), a, b);
        }
        if ((xa & 0x7f80) != 0x7f80 && (xb & 0x7f80) != 0x7f80 && (xc & 0x7f80) != 0x7f80) {
            __nv_bfloat16 a = __ushort_as_bfloat16(xa), b = __ushort_as_bfloat16(xb), c = __ushort_as_bfloat16(xc);
            quad qa = __bfloat162float(a), qb = __bfloat162float(b), qc = __bfloat162float(c);
            expect("bf16 add", __bfloat16_as_ushort(__hadd(a, b)), bf16ref.round(qa + qb), a, b);
            expect("bf16 mul", __bfloat16_as_ushort(a * b), bf16ref.round(qa * qb), a, b);
            quad hi, lo;
            exact_fma(qa, qb, qc, &hi, &lo);
            expect("bf16 fma", __bfloat16_as_ushort(__hfma(a, b, c)), bf16ref.round(hi, lo), a, b);
        }
    }
    CHECK(bad_ops == 0, "%d f16/bf16 arithmetic results not correctly rounded", bad_ops);
    __half2 p = __floats2half2_rn(1.5f, -2.0f);
    float2 q = __half22float2(__hmul2(p, p));
    __nv_bfloat162 bp = __float22bfloat162_rn(make_float2(3.0f, 0.5f));
    float2 bq = __bfloat1622float2(bp);
    CHECK(q.x == 2.25f && q.y == 4.0f && __low2float(p) == 1.5f && __high2float(p) == -2.0f && bq.x == 3.0f &&
          bq.y == 0.5f);
}
