/*
 * kernels_avx512.c - AVX-512 kernels (compiled with -mavx512f/bw/vl/dq and
 * -ffp-contract=off; chosen at run time by dispatch.c).
 *
 * The linear kernel is a register-blocked product of a panel of MR weight
 * rows with 32 token columns: per step k it broadcasts MR weights W[n][k]
 * and multiplies them by two 16-wide vectors of X[k][t..t+32], keeping
 * MR x 2 accumulators (24 of the 32 zmm registers for MR = 12). Weights
 * stay in PyTorch's [out][in] layout: a panel's rows are read in place from
 * the memory map or copied at a fixed stride (panel_prepare in
 * avx512_common.h). Every lane computes its element exactly as
 * kernels_scalar.c does.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/avx512_common.h"
#include "kernels/kernels.h"
#include "kernels/mathfn.h"

#define MR 12          /* weight rows per micro-tile */
#define NC 32          /* token columns per micro-tile */

/* ==== Element-wise functions (lane-wise copies of mathfn.h) =============== */





/* ==== Linear ============================================================== */

/* Copies X[k0 .. k0 + kc)[t .. t + cols) into Xp as ceil(cols / 32) slabs of
 * [kc][32] floats, zero-filled past cols, so that the micro-kernel reads
 * one contiguous, prefetch-friendly stream. X is walked row by row across
 * all slabs: each row's cols floats are one sequential run, where a walk
 * slab by slab would touch two cache lines of every row per slab, far
 * apart, and wait on each. */
static void pack_x(const float *X, size_t ldx, int k0, int kc, int t, int cols, float *Xp) {
    const int full = cols / NC, rest = cols - full * NC;
    const size_t slab = (size_t)kc * NC;
    const __mmask16 m0 = tail_mask(rest), m1 = tail_mask(rest - 16);
    const float *src = X + (size_t)k0 * ldx + t;
    for (int k = 0; k < kc; k++, src += ldx) {
        float *dst = Xp + (size_t)k * NC;
        int s = 0;
        for (; s < full; s++, dst += slab) {
            _mm512_store_ps(dst, _mm512_loadu_ps(src + s * NC));
            _mm512_store_ps(dst + 16, _mm512_loadu_ps(src + s * NC + 16));
        }
        if (rest) {
            _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, src + s * NC));
            _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, src + s * NC + 16));
        }
    }
}

/* One micro-tile from packed panels: rows [n, n + mr) x columns
 * [t, t + cols), cols <= 32, over kc reduction steps. The accumulators
 * start at zero on the first chunk of K and from Y's stored partial sums on
 * later chunks (storing and reloading a float is exact, so the sum is the
 * same sequential chain); bias, activation and residual are applied after
 * the last chunk only. */
static inline __attribute__((always_inline)) void
linear_tile(const float *Wp, const float *Xp, int kc, const float *bias, float *Y, size_t ldy,
            const float *R, size_t ldr, int n, int t, int cols, kern_act act, int first,
            int last, const int mr, panel_pf *pf) {
    /* A local copy, so that the prefetch state lives in registers. */
    panel_pf pfl = *pf;
    __m512 acc0[MR], acc1[MR];
    const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
    const int nv = cols > 16 ? 2 : 1;
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        acc0[r] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        acc1[r] = first || nv < 2 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    if (nv == 2) {
        for (int k = 0; k < kc; k++) {
            __m512 x0 = _mm512_load_ps(Xp), x1 = _mm512_load_ps(Xp + 16);
#pragma GCC unroll 12
            for (int r = 0; r < mr; r++) {
                __m512 b = _mm512_set1_ps(Wp[r * KERN_KC]);
                acc0[r] = _mm512_fmadd_ps(b, x0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(b, x1, acc1[r]);
            }
            Xp += NC;
            Wp++;
            panel_pf_step(&pfl);
        }
    } else {
        for (int k = 0; k < kc; k++) {
            __m512 x0 = _mm512_load_ps(Xp);
#pragma GCC unroll 12
            for (int r = 0; r < mr; r++)
                acc0[r] = _mm512_fmadd_ps(_mm512_set1_ps(Wp[r * KERN_KC]), x0, acc0[r]);
            Xp += NC;
            Wp++;
            panel_pf_step(&pfl);
        }
    }
    *pf = pfl;
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        for (int v = 0; v < nv; v++) {
            __m512 o = v ? acc1[r] : acc0[r];
            __mmask16 m = v ? m1 : m0;
            if (last) {
                o = _mm512_add_ps(o, _mm512_set1_ps(bias ? bias[n + r] : 0.0f));
                if (act == KERN_ACT_GELU_ERF)
                    o = v_gelu_erf(o);
                if (R)
                    o = _mm512_add_ps(
                        o, _mm512_maskz_loadu_ps(m, R + (size_t)(n + r) * ldr + t + 16 * v));
            }
            _mm512_mask_storeu_ps(y + 16 * v, m, o);
        }
    }
}

static void linear_avx512(const float *W, const float *bias, const float *X, size_t ldx, float *Y,
                          size_t ldy, const float *R, size_t ldr, int K, int n0, int n1, int t0,
                          int t1, kern_act act, float *scratch) {
    /* Y[n][t] = act(sum_k W[n][k] X[k][t] + bias[n]) + R[n][t] */
    float *Xp = scratch, *Wp = scratch + (size_t)KERN_KC * KERN_TB;
    for (int k0 = 0; k0 < K; k0 += KERN_KC) {
        int kc = K - k0 < KERN_KC ? K - k0 : KERN_KC;
        int first = k0 == 0, last = k0 + kc == K;
        for (int tb = t0; tb < t1; tb += KERN_TB) {
            int tcols = t1 - tb < KERN_TB ? t1 - tb : KERN_TB;
            pack_x(X, ldx, k0, kc, tb, tcols, Xp);
            for (int n = n0; n < n1; n += MR) {
                int mr = n1 - n < MR ? n1 - n : MR;
                /* Rows of K = KERN_KC floats already sit at the micro-kernel's
                 * fixed stride; with enough columns to reuse them from L1,
                 * read them in place. With few columns the product waits on
                 * memory, and one sequential copy streams better than 12
                 * interleaved rows. */
                panel_pf pf;
                const float *wp = panel_prepare(W, sizeof *W, K, n, mr, n1, k0, kc, tcols,
                                                PF_AHEAD_F32 * MR, kc, Wp, &pf);
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

/* Tokens of one LayerNorm pass, in groups of 16 (a cache line of each
 * feature row). Each token's sum is one dependent chain of double adds;
 * three groups give six independent chains, which hides the add latency
 * that bounded a single group. */
#define LN_GROUPS 3

static void layernorm_avx512(const float *X, size_t ldx, float *Y, size_t ldy, int N, int t0,
                             int t1, const float *gamma, const float *beta, double eps) {
    /* Sums in double, every token's in the scalar order, so the result is
     * the scalar twin's bit for bit. */
    for (int t = t0; t < t1; t += 16 * LN_GROUPS) {
        __mmask16 m[LN_GROUPS];
        __m512d s[LN_GROUPS][2], q[LN_GROUPS][2], mean[LN_GROUPS][2];
        __m512 meanf[LN_GROUPS], rstd[LN_GROUPS];
        for (int g = 0; g < LN_GROUPS; g++) {
            m[g] = tail_mask(t1 - t - 16 * g);
            s[g][0] = s[g][1] = q[g][0] = q[g][1] = _mm512_setzero_pd();
        }
        for (int n = 0; n < N; n++)
            for (int g = 0; g < LN_GROUPS; g++) {
                __m512 x = _mm512_maskz_loadu_ps(m[g], X + (size_t)n * ldx + t + 16 * g);
                s[g][0] = _mm512_add_pd(s[g][0], _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
                s[g][1] = _mm512_add_pd(s[g][1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
            }
        __m512d nn = _mm512_set1_pd((double)N);
        for (int g = 0; g < LN_GROUPS; g++) {
            mean[g][0] = _mm512_div_pd(s[g][0], nn);
            mean[g][1] = _mm512_div_pd(s[g][1], nn);
        }
        for (int n = 0; n < N; n++)
            for (int g = 0; g < LN_GROUPS; g++) {
                __m512 x = _mm512_maskz_loadu_ps(m[g], X + (size_t)n * ldx + t + 16 * g);
                __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), mean[g][0]);
                __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), mean[g][1]);
                q[g][0] = _mm512_fmadd_pd(d0, d0, q[g][0]);
                q[g][1] = _mm512_fmadd_pd(d1, d1, q[g][1]);
            }
        __m512d e = _mm512_set1_pd(eps), one = _mm512_set1_pd(1.0);
        for (int g = 0; g < LN_GROUPS; g++) {
            __m256 r0 = _mm512_cvtpd_ps(
                _mm512_div_pd(one, _mm512_sqrt_pd(_mm512_add_pd(_mm512_div_pd(q[g][0], nn), e))));
            __m256 r1 = _mm512_cvtpd_ps(
                _mm512_div_pd(one, _mm512_sqrt_pd(_mm512_add_pd(_mm512_div_pd(q[g][1], nn), e))));
            rstd[g] = _mm512_insertf32x8(_mm512_castps256_ps512(r0), r1, 1);
            meanf[g] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(mean[g][0])),
                                          _mm512_cvtpd_ps(mean[g][1]), 1);
        }
        for (int n = 0; n < N; n++) {
            __m512 gn = _mm512_set1_ps(gamma[n]), bn = _mm512_set1_ps(beta[n]);
            for (int g = 0; g < LN_GROUPS; g++) {
                __m512 d = _mm512_sub_ps(
                    _mm512_maskz_loadu_ps(m[g], X + (size_t)n * ldx + t + 16 * g), meanf[g]);
                d = _mm512_mul_ps(d, rstd[g]);
                _mm512_mask_storeu_ps(Y + (size_t)n * ldy + t + 16 * g, m[g],
                                      _mm512_fmadd_ps(d, gn, bn));
            }
        }
    }
}

/* ==== Attention =========================================================== */


/* out[r][c] = sum_e A[e][r] * B[e][c] for r < rows (A element (e, r) at
 * a[e * a_e + r * a_r]), c < cols (B row e at b + e * ldb), scaled by s
 * when s != 0; written to out + r * ldo. nv = ceil(cols / 16) vectors. */
static inline __attribute__((always_inline)) void
attn_tile(const float *a, size_t a_e, size_t a_r, const float *b, size_t ldb, int E, float *out,
          size_t ldo, int cols, float s, const int rows, const int nv) {
    __m512 acc[AR][AV];
    __mmask16 m[AV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        m[v] = tail_mask(cols - 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int e = 0; e < E; e++) {
        __m512 bv[AV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_maskz_loadu_ps(m[v], b + (size_t)e * ldb + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a[(size_t)e * a_e + (size_t)r * a_r]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __m512 o = s != 0.0f ? _mm512_mul_ps(acc[r][v], _mm512_set1_ps(s)) : acc[r][v];
            _mm512_mask_storeu_ps(out + (size_t)r * ldo + 16 * v, m[v], o);
        }
}

static void attn_rows(const float *a, size_t a_e, size_t a_r, const float *b, size_t ldb, int E,
                      float *out, size_t ldo, int n_rows, int cols, float s) {
    ATTN_TILE_ALL(attn_tile);
}

static void attention_avx512(const float *Q, const float *K, const float *V, size_t ld, int L,
                             int D, float scale, float *ctx, size_t ldc, int i0, int i1,
                             float *scratch) {
    const size_t ls = KERN_ATTN_BLOCK;
    for (int ib = i0; ib < i1; ib += KERN_ATTN_BLOCK) {
        int nb = i1 - ib < KERN_ATTN_BLOCK ? i1 - ib : KERN_ATTN_BLOCK;
        float *S = scratch;
        /* S[j][c] = scale * sum_e K[e][j] Q[e][ib + c] */
        attn_rows(K, ld, 1, Q + ib, ld, D, S, ls, L, nb, scale);
        /* Softmax over j, for each column c, 16 columns per vector. */
        for (int v = 0; v * 16 < nb; v++) {
            __mmask16 m = tail_mask(nb - 16 * v);
            float *s = S + 16 * v;
            __m512 mx = _mm512_maskz_loadu_ps(m, s);
            for (int j = 1; j < L; j++)
                mx = _mm512_max_ps(mx, _mm512_maskz_loadu_ps(m, s + (size_t)j * ls));
            __m512 sum = _mm512_setzero_ps();
            for (int j = 0; j < L; j++) {
                __m512 e = v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + (size_t)j * ls), mx));
                _mm512_mask_storeu_ps(s + (size_t)j * ls, m, e);
                sum = _mm512_add_ps(sum, e);
            }
            __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
            for (int j = 0; j < L; j++)
                _mm512_mask_storeu_ps(s + (size_t)j * ls, m,
                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + (size_t)j * ls), inv));
        }
        /* ctx[d][ib + c] = sum_j V[d][j] S[j][c] */
        attn_rows(V, 1, ld, S, ls, L, ctx + ib, ldc, D, nb, 0.0f);
    }
}

void kern_linear_bf16_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch);
void kern_linear_int8_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch);

void kern_attention_bf16_avx512(const float *Q, const float *K, const float *V, size_t ld, int L,
                                int D, float scale, float *ctx, size_t ldc, int i0, int i1,
                                float *scratch);

const kern_ops kern_ops_avx512_lowp = {
    .name = "avx512",
    .linear = linear_avx512,
    .layernorm = layernorm_avx512,
    .attention = attention_avx512,
    .linear_rows = MR,
    .linear_bf16 = kern_linear_bf16_avx512,
    .linear_int8 = kern_linear_int8_avx512,
    .attention_bf16 = kern_attention_bf16_avx512,
};

const kern_ops kern_ops_avx512 = {
    .name = "avx512",
    .linear = linear_avx512,
    .layernorm = layernorm_avx512,
    .attention = attention_avx512,
    .linear_rows = MR,
};
