/* CUDA's built-in vector types (dim3, uint3, float4, ...) and their make_* helpers for
 * the SIMT emulator. Layout and alignment follow vector_types.h of the CUDA toolkit, so
 * a kernel that reinterprets a float* as float4* (16-byte loads) sees the same layout
 * here, and a misaligned float4 access traps under UBSan as it would fault on a GPU. */
#ifndef PISTON_SIMT_TYPES_H
#define PISTON_SIMT_TYPES_H

#define SIMT_VEC1(T, N) struct N##1 { T x; };
#define SIMT_VEC2(T, N, A) struct __attribute__((aligned(A))) N##2 { T x, y; };
#define SIMT_VEC3(T, N) struct N##3 { T x, y, z; };
#define SIMT_VEC4(T, N, A) struct __attribute__((aligned(A))) N##4 { T x, y, z, w; };
#define SIMT_VECS(T, N, A2, A4) SIMT_VEC1(T, N) SIMT_VEC2(T, N, A2) SIMT_VEC3(T, N) SIMT_VEC4(T, N, A4)

SIMT_VECS(signed char, char, 2, 4)
SIMT_VECS(unsigned char, uchar, 2, 4)
SIMT_VECS(short, short, 4, 8)
SIMT_VECS(unsigned short, ushort, 4, 8)
SIMT_VECS(int, int, 8, 16)
SIMT_VECS(unsigned int, uint, 8, 16)
SIMT_VECS(long long, longlong, 16, 16)
SIMT_VECS(unsigned long long, ulonglong, 16, 16)
SIMT_VECS(float, float, 8, 16)
SIMT_VECS(double, double, 16, 16)

/* dim3 converts to and from uint3 as in CUDA; blockDim and gridDim are dim3, threadIdx
 * and blockIdx uint3. */
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

#define SIMT_MAKE1(T, N) static inline N##1 make_##N##1(T x) { N##1 v; v.x = x; return v; }
#define SIMT_MAKE2(T, N) \
    static inline N##2 make_##N##2(T x, T y) { N##2 v; v.x = x; v.y = y; return v; }
#define SIMT_MAKE3(T, N) \
    static inline N##3 make_##N##3(T x, T y, T z) { N##3 v; v.x = x; v.y = y; v.z = z; return v; }
#define SIMT_MAKE4(T, N)                                    \
    static inline N##4 make_##N##4(T x, T y, T z, T w) {    \
        N##4 v; v.x = x; v.y = y; v.z = z; v.w = w; return v; \
    }
#define SIMT_MAKES(T, N) SIMT_MAKE1(T, N) SIMT_MAKE2(T, N) SIMT_MAKE3(T, N) SIMT_MAKE4(T, N)

SIMT_MAKES(signed char, char)
SIMT_MAKES(unsigned char, uchar)
SIMT_MAKES(short, short)
SIMT_MAKES(unsigned short, ushort)
SIMT_MAKES(int, int)
SIMT_MAKES(unsigned int, uint)
SIMT_MAKES(long long, longlong)
SIMT_MAKES(unsigned long long, ulonglong)
SIMT_MAKES(float, float)
SIMT_MAKES(double, double)

#undef SIMT_VEC1
#undef SIMT_VEC2
#undef SIMT_VEC3
#undef SIMT_VEC4
#undef SIMT_VECS
#undef SIMT_MAKE1
#undef SIMT_MAKE2
#undef SIMT_MAKE3
#undef SIMT_MAKE4
#undef SIMT_MAKES
#endif
