/*
 * avx512_common.h - lane-wise helpers shared by the AVX-512 kernel files
 * (include only from files compiled with -mavx512f ...): tail masks and the
 * GELU and exp of kernels/mathfn.h, so that the fp32, bf16 and int8 paths
 * apply the very same functions; and the weight-panel preparation and the
 * attention row tiling that the fp32 and the bf16 / int8 files share.
 */
#ifndef SEMBED_AVX512_COMMON_H
#define SEMBED_AVX512_COMMON_H

#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/mathfn.h"
#include "kernels/panel_pf.h"

/* The first n of 16 lanes (none for n <= 0). */
static inline __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u));
}

/* A vector copy (GCC inlines memcpy of a run-time length as `rep movsq`,
 * which ran at half the speed here). */
static inline void copy_bytes(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        _mm512_mask_storeu_epi8(dst + i, m, _mm512_maskz_loadu_epi8(m, src + i));
    }
}

/* The weight panel of rows [n, n + mr) and elements [k0, k0 + kc) of a
 * row-major matrix W with rows of kp elements of esz bytes, as the linear
 * micro-tiles read it: row r at r * KERN_KC elements from the returned
 * pointer, in place (panel_in_place) or copied into Wp. Also sets *pf to
 * prefetch, over `steps` tile steps, the panel that starts `ahead` rows
 * later (panel_pf_ahead). */
static inline const void *panel_prepare(const void *W, size_t esz, int kp, int n, int mr, int n1,
                                        int k0, int kc, int tcols, int ahead, int steps,
                                        void *Wp, panel_pf *pf) {
    const char *w = (const char *)W;
    size_t row = (size_t)kp * esz;
    const void *panel = Wp;
    if (panel_in_place(kp, tcols))
        panel = w + (size_t)n * row;
    else
        for (int r = 0; r < mr; r++)
            copy_bytes((char *)Wp + (size_t)r * KERN_KC * esz,
                       w + (size_t)(n + r) * row + (size_t)k0 * esz, (size_t)kc * esz);
    panel_pf_ahead(pf, W, esz, kp, n, n1, k0, kc, ahead, steps);
    return panel;
}

/* ---- attention ---------------------------------------------------------- */

#define AR 6 /* rows per attention micro-tile */
#define AV (KERN_ATTN_BLOCK / 16)

/* Runs TILE(a, a_e, a_r, b, ldb, E, out, ldo, cols, s, rows, nv) over the
 * n_rows rows in scope: tiles of AR rows, then one tile of the remaining
 * rows, with the row count and nv = ceil(cols / 16) compile-time constants
 * in every call, so that the accumulators stay in registers. */
#define ATTN_TILE_ROWS(TILE, NV)                                                                   \
    do {                                                                                           \
        int r = 0;                                                                                 \
        for (; r + AR <= n_rows; r += AR)                                                          \
            TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, out + (size_t)r * ldo, ldo, cols, s,   \
                 AR, NV);                                                                          \
        float *o_ = out + (size_t)r * ldo;                                                         \
        switch (n_rows - r) {                                                                      \
        case 1: TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, o_, ldo, cols, s, 1, NV); break;   \
        case 2: TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, o_, ldo, cols, s, 2, NV); break;   \
        case 3: TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, o_, ldo, cols, s, 3, NV); break;   \
        case 4: TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, o_, ldo, cols, s, 4, NV); break;   \
        case 5: TILE(a + (size_t)r * a_r, a_e, a_r, b, ldb, E, o_, ldo, cols, s, 5, NV); break;   \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

#define ATTN_TILE_ALL(TILE)                                                                        \
    do {                                                                                           \
        switch ((cols + 15) / 16) {                                                                \
        case 1: ATTN_TILE_ROWS(TILE, 1); break;                                                    \
        case 2: ATTN_TILE_ROWS(TILE, 2); break;                                                    \
        case 3: ATTN_TILE_ROWS(TILE, 3); break;                                                    \
        default: ATTN_TILE_ROWS(TILE, 4); break;                                                   \
        }                                                                                          \
    } while (0)

/* Looks up an 8-entry table per lane. */
static inline __m512 v_tab(const float *tab8, __m512i idx) {
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(_mm256_loadu_ps(tab8)));
}

/* mathfn_gelu_pieces, lane by lane. */
static inline __attribute__((always_inline)) __m512
v_gelu_pieces(__m512 x, const float (*coef)[ERF_PIECES], const int degree) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(GELU_SQRT1_2));
    __m512 a = _mm512_andnot_ps(sign, z);
    __mmask16 in = _mm512_cmp_ps_mask(a, _mm512_set1_ps(ERF_LIMIT), _CMP_LT_OQ);
    __m512 ac = _mm512_min_ps(a, _mm512_set1_ps(3.999f));
    __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(ac, _mm512_set1_ps(1.0f / ERF_WIDTH)));
    __m512 u = _mm512_sub_ps(a, v_tab(erf_center, idx));
    __m512 p = v_tab(coef[degree], idx);
#pragma GCC unroll 8
    for (int d = degree - 1; d >= 0; d--)
        p = _mm512_fmadd_ps(p, u, v_tab(coef[d], idx));
    __m512 e = _mm512_mask_blend_ps(in, _mm512_set1_ps(1.0f), p);
    e = _mm512_or_ps(e, _mm512_and_ps(z, sign));
    __m512 h = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(h, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 v_gelu_erf(__m512 x) { return v_gelu_pieces(x, erf_coef, ERF_DEGREE); }

static inline __m512 v_gelu_erf_lowp(__m512 x) {
    return v_gelu_pieces(x, erf_coef_lowp, ERF_LOWP_DEGREE);
}

/* mathfn_expf, lane by lane. */
static inline __m512 v_exp(__m512 x) {
    __mmask16 lo = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_MIN), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_set1_ps(EXP_MAX), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-EXP_LN2_HI), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXP_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, n);
    return _mm512_mask_blend_ps(lo, y, _mm512_setzero_ps());
}

/* mathfn_exp2_lowp, lane by lane. */
static inline __m512 v_exp2_lowp(__m512 y) {
    y = _mm512_max_ps(y, _mm512_set1_ps(EXP2_LOWP_MIN));
    __m512 n = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(y, n);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(EXP2_LOWP_C3), f, _mm512_set1_ps(EXP2_LOWP_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(EXP2_LOWP_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(EXP2_LOWP_C0));
    return _mm512_scalef_ps(p, n);
}

#endif /* SEMBED_AVX512_COMMON_H */
