/*
 * flat_avx2.c - flat-search kernels for AVX2 + FMA (8 floats a vector).
 * Built with -mavx2 -mfma (the *_avx2.c rule); only called when the CPU
 * has them.
 */
#include <immintrin.h>
#include <string.h>

#include "search/flat.h"

static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);                  /* 4 */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));         /* 2 */
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));  /* 1 */
    return _mm_cvtss_f32(s);
}

#define FK_SUFFIX avx2
#define FK_NAME "avx2"
#define VEC __m256
#define VW 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VFMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VHSUM(v) hsum256(v)
#define QT 2
#define RT 4

#include "search/flat_kernel_impl.h"
