/* Intrinsic tests of the SIMT emulator: bit operations, byte permutes and dot products,
 * saturating conversions, fast-math stand-ins and the device min/max overloads, checked
 * against values worked out by hand from the CUDA documentation. */
#include "simt_test.h"
#include <limits.h>
#include <math.h>

void test_intrinsics(void) {
    CHECK(__popc(0xf0f0u) == 8 && __popcll(~0ull) == 64);
    CHECK(__clz(0) == 32 && __clz(1) == 31 && __clz(-1) == 0 && __clzll(1) == 63);
    CHECK(__ffs(0) == 0 && __ffs(8) == 4 && __ffsll(1ll << 40) == 41);
    CHECK(__brev(1u) == 0x80000000u && __brev(0x12345678u) == 0x1e6a2c48u && __brevll(1ull) == 1ull << 63);
    CHECK(__byte_perm(0x33221100u, 0x77665544u, 0x5410) == 0x55441100u);
    CHECK(__byte_perm(0x33221100u, 0x77665544u, 0x0123) == 0x00112233u);
    CHECK(__funnelshift_l(0x80000000u, 0x1u, 1) == 0x3u && __funnelshift_r(0x1u, 0x1u, 1) == 0x80000000u);
    CHECK(__funnelshift_lc(5u, 7u, 40) == 5u && __funnelshift_l(5u, 7u, 33) == __funnelshift_l(5u, 7u, 1));
    CHECK(__umulhi(0x80000000u, 4u) == 2u && __mulhi(-2, 0x40000000) == -1 && __umul64hi(1ull << 63, 4ull) == 2ull);
    CHECK(__mul24(0x00ffffff, 2) == -2 && __umul24(0x01000003u, 2u) == 6u);
    int a = (int)(0x01u | (0xfeu << 8) | (0x03u << 16) | (0xfcu << 24)); /* bytes 1, -2, 3, -4 */
    int b = (int)(0x05u | (0x06u << 8) | (0xf9u << 16) | (0x08u << 24)); /* bytes 5, 6, -7, 8 */
    CHECK(__dp4a(a, b, 10) == 10 + 5 - 12 - 21 - 32, "dp4a %d", __dp4a(a, b, 10));
    CHECK(__dp4a(0x01020304u, 0x01010101u, 1u) == 11u);
    CHECK(__vsub4(0x01020304u, 0x02020202u) == 0xff000102u && __vabsdiffu4(0x01020304u, 0x02020202u) == 0x01000102u);
    CHECK(__vadd4(0xff010203u, 0x01010101u) == 0x00020304u);
    CHECK(__sad(3, 10, 1u) == 8u && __usad(10u, 3u, 0u) == 7u);

    CHECK(__float2int_rn(2.5f) == 2 && __float2int_rn(3.5f) == 4 && __float2int_rn(-2.5f) == -2);
    CHECK(__float2int_rz(-2.7f) == -2 && __float2int_rd(-2.2f) == -3 && __float2int_ru(2.2f) == 3);
    CHECK(__float2int_rn(NAN) == 0 && __float2int_rn(1e10f) == INT_MAX && __float2int_rn(-1e10f) == INT_MIN);
    CHECK(__float2uint_rn(-3.0f) == 0u && __float2uint_rz(5e9f) == UINT_MAX && __float2ll_rn(NAN) == LLONG_MIN);
    CHECK(__float_as_int(1.0f) == 0x3f800000 && __int_as_float(0x40000000) == 2.0f);
    CHECK(__float_as_uint(-0.0f) == 0x80000000u && __uint_as_float(0x3f000000u) == 0.5f);
    CHECK(__double_as_longlong(1.0) == 0x3ff0000000000000ll && __longlong_as_double(0) == 0.0);
    CHECK(__saturatef(NAN) == 0.0f && __saturatef(-1.0f) == 0.0f && __saturatef(2.0f) == 1.0f &&
          __saturatef(0.25f) == 0.25f);
    CHECK(fabsf(__expf(1.0f) - 2.7182818f) < 1e-6f && fabsf(__logf(2.7182818f) - 1.0f) < 1e-6f);
    CHECK(__powf(2.0f, 10.0f) == 1024.0f && __fdividef(1.0f, 4.0f) == 0.25f && __frcp_rn(4.0f) == 0.25f);
    CHECK(rsqrtf(4.0f) == 0.5f && __fmaf_rn(2.0f, 3.0f, 1.0f) == 7.0f && __fmul_rn(1.5f, 2.0f) == 3.0f &&
          __fadd_rn(1.0f, 2.0f) == 3.0f);
    float s = 0, c = 0;
    __sincosf(0.0f, &s, &c);
    CHECK(s == 0.0f && c == 1.0f);
    CHECK(min(3, -4) == -4 && max(3u, 7u) == 7u && min(5ll, 6ll) == 5ll && max(1.5f, -2.0f) == 1.5f);
    CHECK(min(-1, 1u) == 1u, "mixed signedness compares as unsigned, as CUDA's min(int, unsigned)");
    CHECK(max(NAN, 1.0f) == 1.0f && min(2.0, 3.0) == 2.0);
    float buf[2] = {1.0f, 2.0f};
    CHECK(__ldg(&buf[1]) == 2.0f && __ldcs(&buf[0]) == 1.0f);
    __stcs(&buf[0], 5.0f);
    CHECK(buf[0] == 5.0f);
    long long t0 = clock64(), t1 = clock64();
    CHECK(t1 >= t0);
    __half hn = __ushort_as_half(0x7e00), hz = __ushort_as_half(0x8000), h1 = __float2half(1.0f);
    CHECK(__half_as_ushort(__hmax(hn, h1)) == 0x3c00 && __half_as_ushort(__hmin(h1, hn)) == 0x3c00 &&
          __half_as_ushort(__hmax(hn, hn)) == 0x7fff && __half_as_ushort(__hmax(hz, __float2half(0.0f))) == 0 &&
          __half_as_ushort(__hmin(hz, __float2half(0.0f))) == 0x8000 && __half2float(__hmax(h1, __float2half(2.0f))) == 2.0f);
    float4 v4 = make_float4(1, 2, 3, 4);
    int4 i4 = make_int4(1, 2, 3, 4);
    uint2 u2 = make_uint2(7, 8);
    CHECK(alignof(float4) == 16 && alignof(int4) == 16 && alignof(float2) == 8 && sizeof(uint4) == 16 &&
          alignof(__half2) == 4 && sizeof(__nv_bfloat16) == 2 && v4.w == 4 && i4.z == 3 && u2.y == 8);
}
