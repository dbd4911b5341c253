/* The one hash mixer of Piston, splitmix64's (Steele, Lea, Flood 2014): every input bit
 * reaches every output bit, so it serves open-addressing tables (the tokenizer's merges, the
 * engine's sequence map, the prefix cache's block keys) and seed derivation alike. Not a
 * cryptographic hash: nothing here is keyed against an adversary (prefix-cache keys are
 * chained over token ids that the server already holds). */
#ifndef PISTON_BASE_HASH_H
#define PISTON_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_GOLDEN 0x9e3779b97f4a7c15ull /* 2^64 / phi: splitmix64's increment */

static inline uint64_t hash_mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ull;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n bytes at p as one key, eight at a time through the mixer (the tail zero-padded and the
 * length mixed in first, so "a" and "a\0" differ); seed separates kinds of key. */
static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = (const unsigned char *)p; /* a cast: kernels/cuda/ includes this as C++ */
    uint64_t h = hash_mix64(seed ^ (n * HASH_GOLDEN)), w;
    for (; n >= 8; b += 8, n -= 8) memcpy(&w, b, 8), h = hash_mix64((h ^ w) + HASH_GOLDEN);
    w = 0;
    if (n) memcpy(&w, b, n);
    return hash_mix64((h ^ w) + HASH_GOLDEN);
}

/* splitmix64 as a generator: advances *state and returns the next value (seeds, ids). */
static inline uint64_t hash_splitmix64(uint64_t *state) { return hash_mix64(*state += HASH_GOLDEN); }

#endif
