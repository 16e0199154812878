/*
 * kernels_avx2.c - AVX2 + FMA kernels for CPUs without AVX-512 (compiled
 * with -mavx2 -mfma -ffp-contract=off; chosen at run time by dispatch.c).
 * Same algorithms as kernels_avx512.c with 8-wide vectors and 16 registers:
 * the linear micro-tile is 6 weight rows x 16 token columns. Every lane
 * computes its element exactly as kernels_scalar.c does.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/mathfn.h"
#include "kernels/panel_pf.h"

#define MR 6
#define NC 16
/* Token columns per packed block of X. KERN_TB (256) makes a 384 KB block,
 * which shares a 512 KB L2 (Zen 3's) with the weight panels and outputs
 * streaming past; 128 columns were 7-24 % faster on (b) and the same on
 * (c) and (d), side by side. The block size changes no sum. */
#define TB 128

/* ==== Element-wise functions (lane-wise copies of mathfn.h) =============== */

static inline __m256i tail_mask8(int n) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

static inline __m256 v_gelu_erf(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(GELU_SQRT1_2));
    __m256 a = _mm256_andnot_ps(sign, z);
    __m256 in = _mm256_cmp_ps(a, _mm256_set1_ps(ERF_LIMIT), _CMP_LT_OQ);
    __m256 ac = _mm256_min_ps(a, _mm256_set1_ps(3.999f));
    __m256i idx = _mm256_cvttps_epi32(_mm256_mul_ps(ac, _mm256_set1_ps(1.0f / ERF_WIDTH)));
#define TAB(t) _mm256_permutevar8x32_ps(_mm256_loadu_ps(t), idx)
    __m256 u = _mm256_sub_ps(a, TAB(erf_center));
    __m256 p = TAB(erf_coef[7]);
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[6]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[5]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[4]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[3]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[2]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[1]));
    p = _mm256_fmadd_ps(p, u, TAB(erf_coef[0]));
#undef TAB
    __m256 e = _mm256_blendv_ps(_mm256_set1_ps(1.0f), p, in);
    e = _mm256_or_ps(e, _mm256_and_ps(z, sign));
    __m256 h = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
    return _mm256_mul_ps(h, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 v_exp(__m256 x) {
    __m256 lo = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_MIN), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(EXP_MAX), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-EXP_LN2_HI), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n for n in [-126, 127] built in the exponent field; the product
     * rounds exactly as ldexpf does. */
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(lo, y);
}

/* ==== Linear ============================================================== */

/* Packs X[k0 .. k0 + kc)[t .. t + cols) as slabs of [kc][16] floats,
 * zero-filled past cols, one slab at a time. The AVX-512 kernel walks X
 * row by row across all slabs instead; on Zen 3 that was 10-18 % slower
 * over the whole model, and plain loads for the full slabs no faster than
 * these masked ones (both measured side by side). */
static void pack_x(const float *X, size_t ldx, int k0, int kc, int t, int cols, float *Xp) {
    for (int j = 0; j < cols; j += NC) {
        int w = cols - j < NC ? cols - j : NC;
        __m256i m0 = tail_mask8(w), m1 = tail_mask8(w - 8);
        const float *src = X + (size_t)k0 * ldx + t + j;
        for (int k = 0; k < kc; k++) {
            _mm256_store_ps(Xp, _mm256_maskload_ps(src, m0));
            _mm256_store_ps(Xp + 8, _mm256_maskload_ps(src + 8, m1));
            Xp += NC;
            src += ldx;
        }
    }
}

/* The panel of rows [n, n + mr) and elements [k0, k0 + kc) at the fixed
 * row stride KERN_KC, in place (panel_in_place) or copied into Wp, as
 * panel_prepare in avx512_common.h does; *pf prefetches the next panel over
 * the first tile's kc steps. The copy is a vector loop: GCC turns memcpy of
 * a run-time length into `rep movsq`, which took 5 % of the product's time
 * here. */
static const float *pack_w(const float *W, int K, int n, int mr, int n1, int k0, int kc,
                           int tcols, float *Wp, panel_pf *pf) {
    panel_pf_ahead(pf, W, sizeof *W, K, n, n1, k0, kc, PF_AHEAD_F32 * MR, kc);
    if (panel_in_place(K, tcols))
        return W + (size_t)n * K;
    const int kv = kc & ~7;
    for (int r = 0; r < mr; r++) {
        const float *src = W + (size_t)(n + r) * K + k0;
        float *dst = Wp + (size_t)r * KERN_KC;
        int k = 0;
        for (; k < kv; k += 8)
            _mm256_store_ps(dst + k, _mm256_loadu_ps(src + k));
        for (; k < kc; k++)
            dst[k] = src[k];
    }
    return Wp;
}

static inline __attribute__((always_inline)) void
linear_tile(const float *Wp, const float *Xp, int kc, const float *bias, float *Y, size_t ldy,
            const float *R, size_t ldr, int n, int t, int cols, kern_act act, int first,
            int last, const int mr, panel_pf *pf) {
    /* A local copy, so that the prefetch state lives in registers. */
    panel_pf pfl = *pf;
    __m256 acc0[MR], acc1[MR];
    const __m256i m0 = tail_mask8(cols), m1 = tail_mask8(cols - 8);
    const int nv = cols > 8 ? 2 : 1;
    /* Masked loads and stores cost several times a plain one on AMD
     * cores; only a tile narrower than NC uses them. */
    const int full = cols == NC;
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        if (first) {
            acc0[r] = acc1[r] = _mm256_setzero_ps();
        } else if (full) {
            acc0[r] = _mm256_loadu_ps(y);
            acc1[r] = _mm256_loadu_ps(y + 8);
        } else {
            acc0[r] = _mm256_maskload_ps(y, m0);
            acc1[r] = nv < 2 ? _mm256_setzero_ps() : _mm256_maskload_ps(y + 8, m1);
        }
    }
    if (nv == 2) {
        for (int k = 0; k < kc; k++) {
            __m256 x0 = _mm256_load_ps(Xp), x1 = _mm256_load_ps(Xp + 8);
#pragma GCC unroll 6
            for (int r = 0; r < mr; r++) {
                __m256 b = _mm256_broadcast_ss(Wp + r * KERN_KC);
                acc0[r] = _mm256_fmadd_ps(b, x0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(b, x1, acc1[r]);
            }
            Xp += NC;
            Wp++;
            panel_pf_step(&pfl);
        }
    } else {
        for (int k = 0; k < kc; k++) {
            __m256 x0 = _mm256_load_ps(Xp);
#pragma GCC unroll 6
            for (int r = 0; r < mr; r++)
                acc0[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(Wp + r * KERN_KC), x0, acc0[r]);
            Xp += NC;
            Wp++;
            panel_pf_step(&pfl);
        }
    }
    *pf = pfl;
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        for (int v = 0; v < nv; v++) {
            __m256 o = v ? acc1[r] : acc0[r];
            __m256i m = v ? m1 : m0;
            if (last) {
                o = _mm256_add_ps(o, _mm256_set1_ps(bias ? bias[n + r] : 0.0f));
                if (act == KERN_ACT_GELU_ERF)
                    o = v_gelu_erf(o);
                if (R) {
                    const float *rp = R + (size_t)(n + r) * ldr + t + 8 * v;
                    o = _mm256_add_ps(o, full ? _mm256_loadu_ps(rp) : _mm256_maskload_ps(rp, m));
                }
            }
            if (full)
                _mm256_storeu_ps(y + 8 * v, o);
            else
                _mm256_maskstore_ps(y + 8 * v, m, o);
        }
    }
}

static void linear_avx2(const float *W, const float *bias, const float *X, size_t ldx, float *Y,
                        size_t ldy, const float *R, size_t ldr, int K, int n0, int n1, int t0,
                        int t1, kern_act act, float *scratch) {
    /* Y[n][t] = act(sum_k W[n][k] X[k][t] + bias[n]) + R[n][t] */
    float *Xp = scratch, *Wp = scratch + (size_t)KERN_KC * KERN_TB;
    for (int k0 = 0; k0 < K; k0 += KERN_KC) {
        int kc = K - k0 < KERN_KC ? K - k0 : KERN_KC;
        int first = k0 == 0, last = k0 + kc == K;
        for (int tb = t0; tb < t1; tb += TB) {
            int tcols = t1 - tb < TB ? t1 - tb : TB;
            pack_x(X, ldx, k0, kc, tb, tcols, Xp);
            for (int n = n0; n < n1; n += MR) {
                int mr = n1 - n < MR ? n1 - n : MR;
                panel_pf pf;
                const float *wp = pack_w(W, K, n, mr, n1, k0, kc, tcols, Wp, &pf);
                for (int j = 0; j < tcols; j += NC) {
                    const float *xs = Xp + (size_t)(j / NC) * kc * NC;
                    int cols = tcols - j < NC ? tcols - j : NC;
                    if (mr == MR)
                        linear_tile(wp, xs, kc, bias, Y, ldy, R, ldr, n, tb + j, cols, act, first,
                                    last, MR, &pf);
                    else
                        for (int r = 0; r < mr; r++)
                            linear_tile(wp + (size_t)r * KERN_KC, xs, kc, bias, Y, ldy, R, ldr,
                                        n + r, tb + j, cols, act, first, last, 1, &pf);
                }
            }
        }
    }
}

/* ==== LayerNorm =========================================================== */

static void layernorm_avx2(const float *X, size_t ldx, float *Y, size_t ldy, int N, int t0,
                           int t1, const float *gamma, const float *beta, double eps) {
    int t = t0;
    for (; t + 4 <= t1; t += 4) {
        __m256d sum = _mm256_setzero_pd();
        for (int n = 0; n < N; n++)
            sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm_loadu_ps(X + (size_t)n * ldx + t)));
        __m256d mean = _mm256_div_pd(sum, _mm256_set1_pd((double)N));
        __m256d sq = _mm256_setzero_pd();
        for (int n = 0; n < N; n++) {
            __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(X + (size_t)n * ldx + t)), mean);
            sq = _mm256_fmadd_pd(d, d, sq);
        }
        __m256d var = _mm256_add_pd(_mm256_div_pd(sq, _mm256_set1_pd((double)N)),
                                    _mm256_set1_pd(eps));
        __m128 rstd = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_set1_pd(1.0), _mm256_sqrt_pd(var)));
        __m128 meanf = _mm256_cvtpd_ps(mean);
        for (int n = 0; n < N; n++) {
            __m128 d = _mm_sub_ps(_mm_loadu_ps(X + (size_t)n * ldx + t), meanf);
            d = _mm_mul_ps(d, rstd);
            _mm_storeu_ps(Y + (size_t)n * ldy + t,
                          _mm_fmadd_ps(d, _mm_set1_ps(gamma[n]), _mm_set1_ps(beta[n])));
        }
    }
    /* The last columns one at a time, with the same operations. */
    for (; t < t1; t++) {
        double sum = 0.0;
        for (int n = 0; n < N; n++)
            sum += (double)X[(size_t)n * ldx + t];
        double mean = sum / N;
        double sq = 0.0;
        for (int n = 0; n < N; n++) {
            double d = (double)X[(size_t)n * ldx + t] - mean;
            sq = fma(d, d, sq);
        }
        float rstd = (float)(1.0 / sqrt(sq / N + eps));
        float meanf = (float)mean;
        for (int n = 0; n < N; n++) {
            float d = (X[(size_t)n * ldx + t] - meanf) * rstd;
            Y[(size_t)n * ldy + t] = fmaf(d, gamma[n], beta[n]);
        }
    }
}

/* ==== Attention =========================================================== */

#define AR 6

/* out[r][c] = s * sum_e A[e][r] B[e][c] for r < rows, c < cols (<= 16).
 * `full` (cols == 16) is a compile-time constant in every call: masked
 * loads and stores cost several times plain ones on AMD cores, so only the
 * last, partial tile uses them. */
static inline __attribute__((always_inline)) void
attn_tile(const float *a, size_t a_e, size_t a_r, const float *b, size_t ldb, int E, float *out,
          size_t ldo, int cols, float s, const int rows, const int full) {
    __m256 acc0[AR], acc1[AR];
    const __m256i m0 = tail_mask8(cols), m1 = tail_mask8(cols - 8);
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++) {
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
    for (int e = 0; e < E; e++) {
        const float *be = b + (size_t)e * ldb;
        __m256 b0 = full ? _mm256_loadu_ps(be) : _mm256_maskload_ps(be, m0);
        __m256 b1 = full ? _mm256_loadu_ps(be + 8) : _mm256_maskload_ps(be + 8, m1);
#pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            __m256 av = _mm256_broadcast_ss(a + (size_t)e * a_e + (size_t)r * a_r);
            acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++) {
        __m256 o0 = acc0[r], o1 = acc1[r];
        if (s != 0.0f) {
            o0 = _mm256_mul_ps(o0, _mm256_set1_ps(s));
            o1 = _mm256_mul_ps(o1, _mm256_set1_ps(s));
        }
        float *o = out + (size_t)r * ldo;
        if (full) {
            _mm256_storeu_ps(o, o0);
            _mm256_storeu_ps(o + 8, o1);
        } else {
            _mm256_maskstore_ps(o, m0, o0);
            _mm256_maskstore_ps(o + 8, m1, o1);
        }
    }
}

/* Tiles of AR rows, then the rest with the row count a compile-time
 * constant. A rest of 1 or 2 rows is merged with the last full tile and
 * split 4 + 3 or 4 + 4: a 1-row tile keeps only 2 FMA chains in flight (a
 * quarter of the FMA rate), and heads of 32 or 16 rows would end in one. */
#define ATTN_ROWS_AVX2(FULL)                                                                       \
    do {                                                                                           \
        int full_end = n_rows - n_rows % AR, rest = n_rows - full_end, r = 0;                      \
        if (rest > 0 && rest < 3 && full_end >= AR) {                                              \
            full_end -= AR;                                                                        \
            rest += AR;                                                                            \
        }                                                                                          \
        for (; r < full_end; r += AR)                                                              \
            attn_tile(a + (size_t)r * a_r, a_e, a_r, bc, ldb, E, oc + (size_t)r * ldo, ldo, cc,   \
                      s, AR, FULL);                                                                \
        if (rest > AR) {                                                                           \
            attn_tile(a + (size_t)r * a_r, a_e, a_r, bc, ldb, E, oc + (size_t)r * ldo, ldo, cc,   \
                      s, 4, FULL);                                                                 \
            r += 4;                                                                                \
            rest -= 4;                                                                             \
        }                                                                                          \
        const float *a_ = a + (size_t)r * a_r;                                                     \
        float *o_ = oc + (size_t)r * ldo;                                                          \
        switch (rest) {                                                                            \
        case 1: attn_tile(a_, a_e, a_r, bc, ldb, E, o_, ldo, cc, s, 1, FULL); break;               \
        case 2: attn_tile(a_, a_e, a_r, bc, ldb, E, o_, ldo, cc, s, 2, FULL); break;               \
        case 3: attn_tile(a_, a_e, a_r, bc, ldb, E, o_, ldo, cc, s, 3, FULL); break;               \
        case 4: attn_tile(a_, a_e, a_r, bc, ldb, E, o_, ldo, cc, s, 4, FULL); break;               \
        case 5: attn_tile(a_, a_e, a_r, bc, ldb, E, o_, ldo, cc, s, 5, FULL); break;               \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

static void attn_rows(const float *a, size_t a_e, size_t a_r, const float *b, size_t ldb, int E,
                      float *out, size_t ldo, int n_rows, int cols, float s) {
    for (int c = 0; c < cols; c += 16) {
        int cc = cols - c < 16 ? cols - c : 16;
        const float *bc = b + c;
        float *oc = out + c;
        if (cc == 16)
            ATTN_ROWS_AVX2(1);
        else
            ATTN_ROWS_AVX2(0);
    }
}

/* Softmax down 8 columns of S (rows ls floats apart, L rows); with `full`
 * a compile-time 1, plain loads and stores. They are the unaligned forms:
 * the attention scratch carries no alignment promise (aligned ones crashed
 * the kernel test, whose scratch comes from malloc). */
static inline __attribute__((always_inline)) void softmax_cols(float *s, size_t ls, int L,
                                                               __m256i m, const int full) {
#define LD(p) (full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m))
#define ST(p, v) (full ? _mm256_storeu_ps(p, v) : _mm256_maskstore_ps(p, m, v))
    __m256 mx = LD(s);
    for (int j = 1; j < L; j++)
        mx = _mm256_max_ps(mx, LD(s + (size_t)j * ls));
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < L; j++) {
        __m256 e = v_exp(_mm256_sub_ps(LD(s + (size_t)j * ls), mx));
        ST(s + (size_t)j * ls, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
    for (int j = 0; j < L; j++)
        ST(s + (size_t)j * ls, _mm256_mul_ps(LD(s + (size_t)j * ls), inv));
#undef LD
#undef ST
}

static void attention_avx2(const float *Q, const float *K, const float *V, size_t ld, int L, int D,
                           float scale, float *ctx, size_t ldc, int i0, int i1, float *scratch) {
    const size_t ls = KERN_ATTN_BLOCK;
    for (int ib = i0; ib < i1; ib += KERN_ATTN_BLOCK) {
        int nb = i1 - ib < KERN_ATTN_BLOCK ? i1 - ib : KERN_ATTN_BLOCK;
        float *S = scratch;
        attn_rows(K, ld, 1, Q + ib, ld, D, S, ls, L, nb, scale);
        /* Softmax down each column of S, 8 columns at a time; only a last,
         * partial group uses masked loads and stores. */
        for (int c = 0; c < nb; c += 8) {
            if (c + 8 <= nb)
                softmax_cols(S + c, ls, L, _mm256_set1_epi32(-1), 1);
            else
                softmax_cols(S + c, ls, L, tail_mask8(nb - c), 0);
        }
        attn_rows(V, 1, ld, S, ls, L, ctx + ib, ldc, D, nb, 0.0f);
    }
}

const kern_ops kern_ops_avx2 = {
    .name = "avx2",
    .linear = linear_avx2,
    .layernorm = layernorm_avx2,
    .attention = attention_avx2,
    .linear_rows = MR,
};
