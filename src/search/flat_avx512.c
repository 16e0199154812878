/*
 * flat_avx512.c - flat-search kernels for AVX-512F (16 floats a vector).
 * Built with the *_avx512.c flags; only called when the CPU has AVX-512F,
 * BW, VL and DQ.
 */
#include <immintrin.h>
#include <string.h>

#include "search/flat.h"

static inline float hsum512(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    return _mm_cvtss_f32(s);
}

#define FK_SUFFIX avx512
#define FK_NAME "avx512"
#define VEC __m512
#define VW 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VFMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VHSUM(v) hsum512(v)
#define QT 4
#define RT 4
#define FK_HAMMING_SCAN hamming_scan_avx512

static void hamming_scan_avx512(const uint8_t *q, size_t nq, const uint8_t *c, size_t nr,
                                size_t nbytes, uint32_t *limit, flat_accept_fn accept, void *ctx);

#include "search/flat_kernel_impl.h"

/* Most 64-bit words per row the VPOPCNTQ scan holds in registers. */
#define HS_MAX_WORDS 32

/* Eight queries at a time: word w of the eight queries sits in one vector,
 * each row word is broadcast against it, and VPOPCNTQ counts the bits of
 * all eight pairs at once; one compare against the eight limits tells
 * whether any pair needs the heap. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static void
hamming_scan_vpopcnt(const uint8_t *q, size_t nq, const uint8_t *c, size_t nr, size_t nbytes,
                     uint32_t *limit, flat_accept_fn accept, void *ctx) {
    const size_t words = nbytes / 8;
    for (size_t g = 0; g < nq; g += 8) {
        const size_t m = nq - g < 8 ? nq - g : 8;
        __m512i qt[HS_MAX_WORDS];
        for (size_t w = 0; w < words; w++) {
            uint64_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (size_t i = 0; i < m; i++)
                memcpy(&lane[i], q + (g + i) * nbytes + 8 * w, 8);
            qt[w] = _mm512_loadu_si512(lane);
        }
        uint64_t lim64[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* lanes past m accept nothing */
        for (size_t i = 0; i < m; i++)
            lim64[i] = limit[g + i];
        __m512i lim = _mm512_loadu_si512(lim64);
        for (size_t j = 0; j < nr; j++) {
            const uint8_t *r = c + j * nbytes;
            __m512i acc = _mm512_setzero_si512();
            for (size_t w = 0; w < words; w++) {
                uint64_t x;
                memcpy(&x, r + 8 * w, 8);
                __m512i d = _mm512_xor_si512(_mm512_set1_epi64((long long)x), qt[w]);
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(d));
            }
            __mmask8 hit = _mm512_cmplt_epu64_mask(acc, lim);
            if (!hit)
                continue;
            uint64_t dist[8];
            _mm512_storeu_si512(dist, acc);
            for (size_t i = 0; i < m; i++)
                if (hit & (1u << i))
                    accept(ctx, g + i, j, (uint32_t)dist[i]);
            for (size_t i = 0; i < m; i++)
                lim64[i] = limit[g + i];
            lim = _mm512_loadu_si512(lim64);
        }
    }
}

static void hamming_scan_avx512(const uint8_t *q, size_t nq, const uint8_t *c, size_t nr,
                                size_t nbytes, uint32_t *limit, flat_accept_fn accept, void *ctx) {
    if (nbytes % 8 == 0 && nbytes / 8 <= HS_MAX_WORDS &&
        __builtin_cpu_supports("avx512vpopcntdq"))
        hamming_scan_vpopcnt(q, nq, c, nr, nbytes, limit, accept, ctx);
    else
        hamming_scan_portable_avx512(q, nq, c, nr, nbytes, limit, accept, ctx);
}
