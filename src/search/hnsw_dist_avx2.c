/*
 * hnsw_dist_avx2.c - the HNSW inner-product distance with AVX2 + FMA
 * (chosen at run time by hnsw_distance_pick; see hnsw_dist.c). Four
 * accumulators keep four FMA chains in flight.
 */
#include "search/hnsw.h"

#include <immintrin.h>

float hnsw_ip_distance_avx2(const void *a, const void *b, const void *dim_ptr) {
    const float *x = a, *y = b;
    size_t n = *(const size_t *)dim_ptr, i = 0;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float dot = _mm_cvtss_f32(h);
    for (; i < n; i++)
        dot += x[i] * y[i];
    return 1.0f - dot;
}
