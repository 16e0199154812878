/*
 * hnsw_dist.c - the inner-product distance (1 - <a, b>) that the HNSW graph
 * uses, in its baseline (SSE2, every x86-64) form, and the run-time choice
 * between it and the AVX2 / AVX-512 forms in hnsw_dist_avx2.c and
 * hnsw_dist_avx512.c (the only files built with those instruction sets).
 */
#include "search/hnsw.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

float hnsw_ip_distance_sse(const void *a, const void *b, const void *dim_ptr) {
    const float *x = a, *y = b;
    size_t n = *(const size_t *)dim_ptr, i = 0;
    float dot;
#if defined(__SSE2__)
    __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(y + i)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(x + i + 4), _mm_loadu_ps(y + i + 4)));
    }
    float lanes[4];
    _mm_storeu_ps(lanes, _mm_add_ps(s0, s1));
    dot = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#else
    dot = 0.0f;
#endif
    for (; i < n; i++)
        dot += x[i] * y[i];
    return 1.0f - dot;
}

/* Whether the OS saves the wide registers is part of what
 * __builtin_cpu_supports reports on current GCC and clang (it reads
 * XGETBV), so a kernel it approves can run.
 *
 * AVX2 is the default even where AVX-512 exists: on 384-float vectors the
 * two ran at the same speed (19 ns per distance in L1, 27 ns in L2; SSE2:
 * 41 ns; bench notes in docs/STORE.md), and AVX2 avoids the clock drop
 * that 512-bit code causes on some Xeons. SEMBED_HNSW_KERNEL=avx512 picks
 * it where the CPU has it. */
hnsw_distfunc hnsw_distance_pick(const char **name) {
    const char *want = getenv("SEMBED_HNSW_KERNEL");
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    hnsw_distfunc f = hnsw_ip_distance_sse;
    const char *n = "sse";
    if (want && !strcmp(want, "sse")) {
        /* keep the baseline */
    } else if (want && !strcmp(want, "avx512") && has512) {
        f = hnsw_ip_distance_avx512;
        n = "avx512";
    } else if (has2) {
        f = hnsw_ip_distance_avx2;
        n = "avx2";
    } else if (has512) {
        f = hnsw_ip_distance_avx512;
        n = "avx512";
    }
    if (name)
        *name = n;
    return f;
}
