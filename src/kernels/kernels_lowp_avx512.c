/*
 * kernels_lowp_avx512.c - the reduced-precision products on AVX-512:
 * bf16 with VDPBF16PS (AVX512_BF16) and int8 with VPDPBUSD (AVX512_VNNI).
 * Used only when dispatch.c finds those instructions.
 *
 * Both have the shape of the fp32 kernel (kernels_avx512.c): a micro-tile
 * of 12 weight rows x 32 tokens, fed from packed panels. One instruction
 * now consumes 2 (bf16) or 4 (int8) reduction steps per lane, so the
 * packed X holds, per lane, the pair or quad of consecutive k values of one
 * token, and the packed W holds the matching pair or quad of one row as a
 * 32-bit word to broadcast. Partial sums of a chunk of K are kept in Y
 * between chunks (fp32 for bf16, raw int32 bits for int8), which keeps
 * each sum one fixed sequence whatever the batch.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/mathfn.h"

#define MR 12
#define NC 32

void kern_linear_bf16_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch);
void kern_linear_int8_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch);

static inline __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u));
}

/* GELU as kernels_avx512.c computes it (same operations, same bits). */
static inline __m512 v_tab(const float *tab8, __m512i idx) {
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(_mm256_loadu_ps(tab8)));
}

static inline __m512 v_gelu_erf(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(GELU_SQRT1_2));
    __m512 a = _mm512_andnot_ps(sign, z);
    __mmask16 in = _mm512_cmp_ps_mask(a, _mm512_set1_ps(ERF_LIMIT), _CMP_LT_OQ);
    __m512 ac = _mm512_min_ps(a, _mm512_set1_ps(3.999f));
    __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(ac, _mm512_set1_ps(1.0f / ERF_WIDTH)));
    __m512 u = _mm512_sub_ps(a, v_tab(erf_center, idx));
    __m512 p = v_tab(erf_coef[7], idx);
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[6], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[5], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[4], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[3], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[2], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[1], idx));
    p = _mm512_fmadd_ps(p, u, v_tab(erf_coef[0], idx));
    __m512 e = _mm512_mask_blend_ps(in, _mm512_set1_ps(1.0f), p);
    e = _mm512_or_ps(e, _mm512_and_ps(z, sign));
    __m512 h = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(h, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 epilogue(__m512 o, const float *bias, int n, kern_act act, const float *R,
                              size_t ldr, int t, __mmask16 m) {
    o = _mm512_add_ps(o, _mm512_set1_ps(bias ? bias[n] : 0.0f));
    if (act == KERN_ACT_GELU_ERF)
        o = v_gelu_erf(o);
    if (R)
        o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, R + (size_t)n * ldr + t));
    return o;
}

/* ==== bf16 ================================================================= */

/* 16 fp32 lanes -> bf16 (round to nearest even) in the low half of each
 * 32-bit lane. */
static inline __m512i bf16_lo(__m512 x) {
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
}

/* Packs X[k0 .. k0 + kc)[t .. t + cols) as slabs of [kc / 2][32] words,
 * each word the bf16 pair (X[k][t], X[k + 1][t]); rows past K are zero. */
static void pack_x_bf16(const float *X, size_t ldx, int K, int k0, int kc, int t, int cols,
                        uint32_t *Xp) {
    for (int j = 0; j < cols; j += NC) {
        int w = cols - j < NC ? cols - j : NC;
        __mmask16 m[2] = {tail_mask(w), tail_mask(w - 16)};
        for (int k = k0; k < k0 + kc; k += 2) {
            const float *r0 = X + (size_t)k * ldx + t + j;
            const float *r1 = r0 + ldx;
            for (int v = 0; v < 2; v++) {
                __m512 a = _mm512_maskz_loadu_ps(m[v], r0 + 16 * v);
                __m512 b = k + 1 < K ? _mm512_maskz_loadu_ps(m[v], r1 + 16 * v) : _mm512_setzero_ps();
                __m512i pair = _mm512_or_si512(bf16_lo(a), _mm512_slli_epi32(bf16_lo(b), 16));
                _mm512_store_si512((void *)(Xp + 16 * v), pair);
            }
            Xp += NC;
        }
    }
}

/* Row pieces at the fixed stride PAIR_STRIDE words: the bf16 pairs of a
 * row are already adjacent, so packing is a plain copy, and the micro-kernel
 * reaches row r at a constant offset (see pack_w in kernels_avx512.c). */
#define PAIR_STRIDE (KERN_KC / 2)
#define QUAD_STRIDE (KERN_KC / 4)

static void pack_w_pairs(const uint16_t *W, int kp, int n, int mr, int k0, int kc, uint32_t *Wp) {
    for (int r = 0; r < mr; r++)
        memcpy(Wp + (size_t)r * PAIR_STRIDE, W + (size_t)(n + r) * kp + k0, (size_t)kc * 2);
}

static inline __attribute__((always_inline)) void
bf16_tile(const uint32_t *Wp, const uint32_t *Xp, int steps, const float *bias, float *Y,
          size_t ldy, const float *R, size_t ldr, int n, int t, int cols, kern_act act, int first,
          int last, const int mr) {
    __m512 acc0[MR], acc1[MR];
    const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        acc0[r] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        acc1[r] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    for (int s = 0; s < steps; s++) {
        __m512bh x0 = (__m512bh)_mm512_load_si512((const void *)Xp);
        __m512bh x1 = (__m512bh)_mm512_load_si512((const void *)(Xp + 16));
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            __m512bh b = (__m512bh)_mm512_set1_epi32((int)Wp[r * PAIR_STRIDE]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], x0, b);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], x1, b);
        }
        Xp += NC;
        Wp++;
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        __m512 o0 = acc0[r], o1 = acc1[r];
        if (last) {
            o0 = epilogue(o0, bias, n + r, act, R, ldr, t, m0);
            o1 = epilogue(o1, bias, n + r, act, R, ldr, t + 16, m1);
        }
        _mm512_mask_storeu_ps(y, m0, o0);
        _mm512_mask_storeu_ps(y + 16, m1, o1);
    }
}

void kern_linear_bf16_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch) {
    /* Y[n][t] = act(sum_k bf16(W[n][k]) bf16(X[k][t]) + bias[n]) + R[n][t] */
    uint32_t *Xp = (uint32_t *)scratch;
    uint32_t *Wp = (uint32_t *)(scratch + (size_t)KERN_KC * KERN_TB);
    int K = W->K, kp = W->kp;
    for (int k0 = 0; k0 < kp; k0 += KERN_KC) {
        int kc = kp - k0 < KERN_KC ? kp - k0 : KERN_KC;
        int first = k0 == 0, last = k0 + kc == kp;
        for (int tb = t0; tb < t1; tb += KERN_TB) {
            int tcols = t1 - tb < KERN_TB ? t1 - tb : KERN_TB;
            pack_x_bf16(X, ldx, K, k0, kc, tb, tcols, Xp);
            for (int n = n0; n < n1; n += MR) {
                int mr = n1 - n < MR ? n1 - n : MR;
                pack_w_pairs(W->bf16, kp, n, mr, k0, kc, Wp);
                for (int j = 0; j < tcols; j += NC) {
                    const uint32_t *xs = Xp + (size_t)(j / NC) * (kc / 2) * NC;
                    int cols = tcols - j < NC ? tcols - j : NC;
                    if (mr == MR)
                        bf16_tile(Wp, xs, kc / 2, bias, Y, ldy, R, ldr, n, tb + j, cols, act, first,
                                  last, MR);
                    else
                        for (int r = 0; r < mr; r++)
                            bf16_tile(Wp + (size_t)r * PAIR_STRIDE, xs, kc / 2, bias, Y, ldy, R, ldr, n + r, tb + j, cols,
                                      act, first, last, 1);
                }
            }
        }
    }
}

/* ==== int8 ================================================================= */

/* Per-token range over all K rows, for columns [t, t + cols): lo[j] and
 * step[j], exactly as kernels_scalar.c's token_range() computes them. */
static void token_ranges(const float *X, size_t ldx, int K, int t, int cols, float *lo,
                         float *step) {
    for (int j = 0; j < cols; j += 16) {
        __mmask16 m = tail_mask(cols - j);
        __m512 mn = _mm512_maskz_loadu_ps(m, X + t + j), mx = mn;
        for (int k = 1; k < K; k++) {
            __m512 v = _mm512_maskz_loadu_ps(m, X + (size_t)k * ldx + t + j);
            mn = _mm512_min_ps(mn, v);
            mx = _mm512_max_ps(mx, v);
        }
        __m512 st = _mm512_div_ps(_mm512_sub_ps(mx, mn), _mm512_set1_ps(255.0f));
        __mmask16 pos = _mm512_cmp_ps_mask(st, _mm512_setzero_ps(), _CMP_GT_OQ);
        st = _mm512_mask_blend_ps(pos, _mm512_set1_ps(1.0f), st);
        _mm512_mask_storeu_ps(lo + j, m, mn);
        _mm512_mask_storeu_ps(step + j, m, st);
    }
}

static inline __m512i quantize_u8(__m512 x, __m512 lo, __m512 step) {
    __m512 q = _mm512_roundscale_ps(_mm512_div_ps(_mm512_sub_ps(x, lo), step),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    return _mm512_cvttps_epi32(q);
}

/* Packs the 8-bit codes of X[k0 .. k0 + kc)[t .. t + cols) as slabs of
 * [kc / 4][32] words, each word the codes of rows k .. k + 3 of one token;
 * rows past K are 0. */
static void pack_x_u8(const float *X, size_t ldx, int K, int k0, int kc, int t, int cols,
                      const float *lo, const float *step, uint32_t *Xp) {
    for (int j = 0; j < cols; j += NC) {
        int w = cols - j < NC ? cols - j : NC;
        __mmask16 m[2] = {tail_mask(w), tail_mask(w - 16)};
        __m512 vlo[2], vst[2];
        for (int v = 0; v < 2; v++) {
            vlo[v] = _mm512_maskz_loadu_ps(m[v], lo + j + 16 * v);
            vst[v] = _mm512_mask_blend_ps(m[v], _mm512_set1_ps(1.0f),
                                          _mm512_maskz_loadu_ps(m[v], step + j + 16 * v));
        }
        for (int k = k0; k < k0 + kc; k += 4) {
            for (int v = 0; v < 2; v++) {
                __m512i word = _mm512_setzero_si512();
                for (int q = 0; q < 4; q++) {
                    if (k + q >= K)
                        break;
                    __m512 x = _mm512_maskz_loadu_ps(m[v], X + (size_t)(k + q) * ldx + t + j + 16 * v);
                    __m512i u = _mm512_maskz_mov_epi32(m[v], quantize_u8(x, vlo[v], vst[v]));
                    word = _mm512_or_si512(word, _mm512_slli_epi32(u, 8 * q));
                }
                _mm512_store_si512((void *)(Xp + 16 * v), word);
            }
            Xp += NC;
        }
    }
}

static void pack_w_quads(const int8_t *W, int kp, int n, int mr, int k0, int kc, uint32_t *Wp) {
    for (int r = 0; r < mr; r++)
        memcpy(Wp + (size_t)r * QUAD_STRIDE, W + (size_t)(n + r) * kp + k0, (size_t)kc);
}

static inline __attribute__((always_inline)) void
int8_tile(const kern_qmat *W, const uint32_t *Wp, const uint32_t *Xp, int steps,
          const float *bias, float *Y, size_t ldy, const float *R, size_t ldr, int n, int t,
          int cols, const float *lo, const float *step, kern_act act, int first, int last,
          const int mr) {
    __m512i acc0[MR], acc1[MR];
    const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        acc0[r] = first ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m0, y);
        acc1[r] = first ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m1, y + 16);
    }
    for (int s = 0; s < steps; s++) {
        __m512i x0 = _mm512_load_si512((const void *)Xp);
        __m512i x1 = _mm512_load_si512((const void *)(Xp + 16));
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            __m512i b = _mm512_set1_epi32((int)Wp[r * QUAD_STRIDE]);
            acc0[r] = _mm512_dpbusd_epi32(acc0[r], x0, b);
            acc1[r] = _mm512_dpbusd_epi32(acc1[r], x1, b);
        }
        Xp += NC;
        Wp++;
    }
    __m512 lo0 = _mm512_maskz_loadu_ps(m0, lo), lo1 = _mm512_maskz_loadu_ps(m1, lo + 16);
    __m512 st0 = _mm512_maskz_loadu_ps(m0, step), st1 = _mm512_maskz_loadu_ps(m1, step + 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        if (!last) {
            _mm512_mask_storeu_epi32(y, m0, acc0[r]);
            _mm512_mask_storeu_epi32(y + 16, m1, acc1[r]);
            continue;
        }
        __m512 sc = _mm512_set1_ps(W->scale[n + r]);
        __m512 rs = _mm512_set1_ps((float)W->rowsum[n + r]);
        /* y = scale * (step * acc + lo * rowsum), in this order */
        __m512 o0 = _mm512_mul_ps(sc, _mm512_add_ps(_mm512_mul_ps(st0, _mm512_cvtepi32_ps(acc0[r])),
                                                    _mm512_mul_ps(lo0, rs)));
        __m512 o1 = _mm512_mul_ps(sc, _mm512_add_ps(_mm512_mul_ps(st1, _mm512_cvtepi32_ps(acc1[r])),
                                                    _mm512_mul_ps(lo1, rs)));
        o0 = epilogue(o0, bias, n + r, act, R, ldr, t, m0);
        o1 = epilogue(o1, bias, n + r, act, R, ldr, t + 16, m1);
        _mm512_mask_storeu_ps(y, m0, o0);
        _mm512_mask_storeu_ps(y + 16, m1, o1);
    }
}

void kern_linear_int8_avx512(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                             float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                             int t0, int t1, kern_act act, float *scratch) {
    /* Y[n][t] = act(scale[n] (step_t sum_k u8(X[k][t]) w8[n][k] + lo_t rowsum[n]) + bias[n]) + R */
    uint32_t *Xp = (uint32_t *)scratch;
    uint32_t *Wp = (uint32_t *)(scratch + (size_t)KERN_KC * KERN_TB);
    float *lo = scratch + (size_t)KERN_KC * KERN_TB + (size_t)KERN_KC * 16;
    float *step = lo + KERN_TB;
    int K = W->K, kp = W->kp;
    for (int tb = t0; tb < t1; tb += KERN_TB) {
        int tcols = t1 - tb < KERN_TB ? t1 - tb : KERN_TB;
        token_ranges(X, ldx, K, tb, tcols, lo, step);
        for (int k0 = 0; k0 < kp; k0 += KERN_KC) {
            int kc = kp - k0 < KERN_KC ? kp - k0 : KERN_KC;
            int first = k0 == 0, last = k0 + kc == kp;
            pack_x_u8(X, ldx, K, k0, kc, tb, tcols, lo, step, Xp);
            for (int n = n0; n < n1; n += MR) {
                int mr = n1 - n < MR ? n1 - n : MR;
                pack_w_quads(W->i8, kp, n, mr, k0, kc, Wp);
                for (int j = 0; j < tcols; j += NC) {
                    const uint32_t *xs = Xp + (size_t)(j / NC) * (kc / 4) * NC;
                    int cols = tcols - j < NC ? tcols - j : NC;
                    if (mr == MR)
                        int8_tile(W, Wp, xs, kc / 4, bias, Y, ldy, R, ldr, n, tb + j, cols,
                                  lo + j, step + j, act, first, last, MR);
                    else
                        for (int r = 0; r < mr; r++)
                            int8_tile(W, Wp + (size_t)r * QUAD_STRIDE, xs, kc / 4, bias, Y, ldy, R, ldr, n + r, tb + j,
                                      cols, lo + j, step + j, act, first, last, 1);
                }
            }
        }
    }
}
