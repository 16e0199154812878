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

#include "kernels/avx512_common.h"
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
void kern_attention_bf16_avx512(const float *Q, const float *K, const float *V, size_t ld, int L,
                                int D, float scale, float *ctx, size_t ldc, int i0, int i1,
                                float *scratch);




static inline __m512 epilogue(__m512 o, const float *bias, int n, kern_act act, const float *R,
                              size_t ldr, int t, __mmask16 m) {
    o = _mm512_add_ps(o, _mm512_set1_ps(bias ? bias[n] : 0.0f));
    if (act == KERN_ACT_GELU_ERF)
        o = v_gelu_erf_lowp(o);
    if (R)
        o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, R + (size_t)n * ldr + t));
    return o;
}

/* ==== bf16 ================================================================= */

/* The words (bf16(a[i]), bf16(b[i])), a in the low half: one conversion of
 * both vectors and one word shuffle, where converting each and widening
 * takes six instructions. */
static inline __m512i bf16_pairs(__m512 a, __m512 b) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/* The pairs (row r, row r + 1) of two fp32 rows over up to 16 columns; a
 * NULL r1 (past the last row) gives zeros. */
static inline __m512i pairs16(const float *r0, const float *r1, __mmask16 m) {
    __m512 a = _mm512_maskz_loadu_ps(m, r0);
    __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
    return bf16_pairs(a, b);
}

/* Packs X[k0 .. k0 + kc)[t .. t + cols) as slabs of [kc / 2][32] words,
 * each word the bf16 pair (X[k][t], X[k + 1][t]); rows past K and columns
 * past cols are zero. Like pack_x, it walks each pair of rows across all
 * slabs, so that every row is read as one sequential run. */
static void pack_x_bf16(const float *X, size_t ldx, int K, int k0, int kc, int t, int cols,
                        uint32_t *Xp) {
    const int ns = (cols + NC - 1) / NC;
    const size_t slab = (size_t)((kc + 1) / 2) * NC;
    for (int k = k0; k < k0 + kc; k += 2, Xp += NC) {
        const float *r0 = X + (size_t)k * ldx + t;
        const float *r1 = r0 + ldx;
        for (int s = 0; s < ns; s++)
            for (int v = 0; v < 2; v++) {
                int c = s * NC + 16 * v;
                __m512i pair = pairs16(r0 + c, k + 1 < K ? r1 + c : NULL, tail_mask(cols - c));
                _mm512_store_si512((void *)(Xp + s * slab + 16 * v), pair);
            }
    }
}

/* Panel rows (panel_prepare) are KERN_KC elements apart: PAIR_STRIDE words
 * of bf16 pairs, QUAD_STRIDE words of int8 quads. */
#define PAIR_STRIDE (KERN_KC / 2)
#define QUAD_STRIDE (KERN_KC / 4)

static inline __attribute__((always_inline)) void
bf16_tile(const uint32_t *Wp, const uint32_t *Xp, int steps, const float *bias, float *Y,
          size_t ldy, const float *R, size_t ldr, int n, int t, int cols, kern_act act, int first,
          int last, const int mr, panel_pf *pf) {
    /* A local copy, so that the prefetch state lives in registers. */
    panel_pf pfl = *pf;
    __m512 acc0[MR], acc1[MR];
    const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        acc0[r] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        acc1[r] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    if (cols > 16) {
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
            panel_pf_step(&pfl);
        }
    } else {
        /* 16 tokens or fewer (short batches, batch-1 latency): half the work */
        for (int s = 0; s < steps; s++) {
            __m512bh x0 = (__m512bh)_mm512_load_si512((const void *)Xp);
#pragma GCC unroll 12
            for (int r = 0; r < mr; r++)
                acc0[r] = _mm512_dpbf16_ps(acc0[r], x0,
                                           (__m512bh)_mm512_set1_epi32((int)Wp[r * PAIR_STRIDE]));
            Xp += NC;
            Wp++;
            panel_pf_step(&pfl);
        }
    }
    *pf = pfl;
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
                /* Rows of KERN_KC values sit at the packed stride already:
                 * read them in place when enough columns reuse them (see
                 * kernels_avx512.c). */
                panel_pf pf;
                const uint32_t *wp = panel_prepare(W->bf16, sizeof *W->bf16, kp, n, mr, n1, k0, kc,
                                                   tcols, PF_AHEAD_LOWP * MR, kc / 2, Wp, &pf);
                for (int j = 0; j < tcols; j += NC) {
                    const uint32_t *xs = Xp + (size_t)(j / NC) * (kc / 2) * NC;
                    int cols = tcols - j < NC ? tcols - j : NC;
                    if (mr == MR)
                        bf16_tile(wp, xs, kc / 2, bias, Y, ldy, R, ldr, n, tb + j, cols, act, first,
                                  last, MR, &pf);
                    else
                        for (int r = 0; r < mr; r++)
                            bf16_tile(wp + (size_t)r * PAIR_STRIDE, xs, kc / 2, bias, Y, ldy, R,
                                      ldr, n + r, tb + j, cols, act, first, last, 1, &pf);
                }
            }
        }
    }
}

/* ==== int8 ================================================================= */

/* Per-token range over all K rows, for columns [t, t + cols): lo[j] and
 * step[j], exactly as kernels_scalar.c's token_range() computes them
 * (min and max are exact, so the order of the rows does not matter).
 * 64 columns per pass: each row contributes four whole cache lines, a
 * stream the prefetcher follows, where one line per row at a stride of the
 * whole batch was a cache miss per row. */
static inline void range_store(__m512 mn, __m512 mx, __mmask16 m, float *lo, float *step) {
    __m512 st = _mm512_div_ps(_mm512_sub_ps(mx, mn), _mm512_set1_ps(255.0f));
    __mmask16 pos = _mm512_cmp_ps_mask(st, _mm512_setzero_ps(), _CMP_GT_OQ);
    st = _mm512_mask_blend_ps(pos, _mm512_set1_ps(1.0f), st);
    _mm512_mask_storeu_ps(lo, m, mn);
    _mm512_mask_storeu_ps(step, m, st);
}

static void token_ranges(const float *X, size_t ldx, int K, int t, int cols, float *lo,
                         float *step) {
    int j = 0;
    for (; j + 64 <= cols; j += 64) {
        __m512 mn[4], mx[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            mn[v] = mx[v] = _mm512_loadu_ps(X + t + j + 16 * v);
        for (int k = 1; k < K; k++) {
            const float *x = X + (size_t)k * ldx + t + j;
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                __m512 a = _mm512_loadu_ps(x + 16 * v);
                mn[v] = _mm512_min_ps(mn[v], a);
                mx[v] = _mm512_max_ps(mx[v], a);
            }
        }
        for (int v = 0; v < 4; v++)
            range_store(mn[v], mx[v], 0xffff, lo + j + 16 * v, step + j + 16 * v);
    }
    for (; j < cols; j += 16) {
        __mmask16 m = tail_mask(cols - j);
        __m512 mn = _mm512_maskz_loadu_ps(m, X + t + j), mx = mn;
        for (int k = 1; k < K; k++) {
            __m512 a = _mm512_maskz_loadu_ps(m, X + (size_t)k * ldx + t + j);
            mn = _mm512_min_ps(mn, a);
            mx = _mm512_max_ps(mx, a);
        }
        range_store(mn, mx, m, lo + j, step + j);
    }
}

/* u = round((x - lo) * (1 / step)), clamped to 0..255 (a multiply by the
 * reciprocal, computed once per token, rather than a divide per element). */
static inline __m512i quantize_u8(__m512 x, __m512 lo, __m512 inv) {
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_sub_ps(x, lo), inv),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    return _mm512_cvttps_epi32(q);
}

/* Packs the 8-bit codes of X[k0 .. k0 + kc)[t .. t + cols) as slabs of
 * [kc / 4][32] words, each word the codes of rows k .. k + 3 of one token;
 * rows past K and columns past cols are 0. Each quad of rows is walked
 * across all slabs (see pack_x_bf16). */
static void pack_x_u8(const float *X, size_t ldx, int K, int k0, int kc, int t, int cols,
                      const float *lo, const float *step, uint32_t *Xp) {
    const int ns = (cols + NC - 1) / NC;
    const size_t slab = (size_t)((kc + 3) / 4) * NC;
    float inv[KERN_TB];
    for (int c = 0; c < ns * NC; c += 16) {
        __mmask16 m = tail_mask(cols - c);
        __m512 st = _mm512_mask_blend_ps(m, _mm512_set1_ps(1.0f), _mm512_maskz_loadu_ps(m, step + c));
        _mm512_storeu_ps(inv + c, _mm512_div_ps(_mm512_set1_ps(1.0f), st));
    }
    for (int k = k0; k < k0 + kc; k += 4, Xp += NC) {
        const int nq = K - k < 4 ? K - k : 4;
        for (int s = 0; s < ns; s++)
            for (int v = 0; v < 2; v++) {
                int c = s * NC + 16 * v;
                __mmask16 m = tail_mask(cols - c);
                __m512 vlo = _mm512_maskz_loadu_ps(m, lo + c), vinv = _mm512_loadu_ps(inv + c);
                __m512i word = _mm512_setzero_si512();
                for (int q = 0; q < nq; q++) {
                    __m512 x = _mm512_maskz_loadu_ps(m, X + (size_t)(k + q) * ldx + t + c);
                    __m512i u = _mm512_maskz_mov_epi32(m, quantize_u8(x, vlo, vinv));
                    word = _mm512_or_si512(word, _mm512_slli_epi32(u, 8 * q));
                }
                _mm512_store_si512((void *)(Xp + s * slab + 16 * v), word);
            }
    }
}

/* The integer part of a micro-tile: int32 sums kept in Y's memory between
 * chunks of K (raw bits). The scaling runs afterwards in int8_finish, so
 * that the loop has all registers for its 24 accumulators. */
static inline __attribute__((always_inline)) void
int8_tile(const uint32_t *Wp, const uint32_t *Xp, int steps, float *Y, size_t ldy, int n, int t,
          int cols, int first, const int mr, panel_pf *pf) {
    /* A local copy, so that the prefetch state lives in registers. */
    panel_pf pfl = *pf;
    __m512i acc0[MR], acc1[MR];
    const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        acc0[r] = first ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m0, y);
        acc1[r] = first ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m1, y + 16);
    }
#if defined(__GNUC__) && !defined(__clang__)
    if (mr == MR) {
        /* GCC 12 surrounds VPDPBUSD's tied accumulator with register copies
         * and spills in this loop, halving its speed. Each step is written
         * as two asm blocks (one per 16-token half, 12 accumulators each,
         * within GCC's operand limit), with the 24 accumulators pinned to
         * zmm0-zmm23 so that nothing moves between the blocks. Same
         * instructions and order as the intrinsics below. */
        register __m512i a0 __asm__("zmm0") = acc0[0];
        register __m512i a1 __asm__("zmm1") = acc0[1];
        register __m512i a2 __asm__("zmm2") = acc0[2];
        register __m512i a3 __asm__("zmm3") = acc0[3];
        register __m512i a4 __asm__("zmm4") = acc0[4];
        register __m512i a5 __asm__("zmm5") = acc0[5];
        register __m512i a6 __asm__("zmm6") = acc0[6];
        register __m512i a7 __asm__("zmm7") = acc0[7];
        register __m512i a8 __asm__("zmm8") = acc0[8];
        register __m512i a9 __asm__("zmm9") = acc0[9];
        register __m512i a10 __asm__("zmm10") = acc0[10];
        register __m512i a11 __asm__("zmm11") = acc0[11];
        register __m512i b0 __asm__("zmm12") = acc1[0];
        register __m512i b1 __asm__("zmm13") = acc1[1];
        register __m512i b2 __asm__("zmm14") = acc1[2];
        register __m512i b3 __asm__("zmm15") = acc1[3];
        register __m512i b4 __asm__("zmm16") = acc1[4];
        register __m512i b5 __asm__("zmm17") = acc1[5];
        register __m512i b6 __asm__("zmm18") = acc1[6];
        register __m512i b7 __asm__("zmm19") = acc1[7];
        register __m512i b8 __asm__("zmm20") = acc1[8];
        register __m512i b9 __asm__("zmm21") = acc1[9];
        register __m512i b10 __asm__("zmm22") = acc1[10];
        register __m512i b11 __asm__("zmm23") = acc1[11];
#define Q8_ROW(r, off)                                                                         \
        "vpbroadcastd " #off "(%[w]), %%zmm29\n\t"                                          \
        "vpdpbusd %%zmm29, %%zmm30, %[a" #r "]\n\t"
#define Q8_HALF(p, xoff)                                                                        \
        __asm__("vmovdqa64 " #xoff "(%[x]), %%zmm30\n\t"                                    \
                Q8_ROW(0, 0) Q8_ROW(1, 384) Q8_ROW(2, 768) Q8_ROW(3, 1152) Q8_ROW(4, 1536)    \
                Q8_ROW(5, 1920) Q8_ROW(6, 2304) Q8_ROW(7, 2688) Q8_ROW(8, 3072)               \
                Q8_ROW(9, 3456) Q8_ROW(10, 3840) Q8_ROW(11, 4224)                             \
                : [a0] "+v"(p##0), [a1] "+v"(p##1), [a2] "+v"(p##2), [a3] "+v"(p##3),         \
                  [a4] "+v"(p##4), [a5] "+v"(p##5), [a6] "+v"(p##6), [a7] "+v"(p##7),         \
                  [a8] "+v"(p##8), [a9] "+v"(p##9), [a10] "+v"(p##10), [a11] "+v"(p##11)      \
                : [x] "r"(Xp), [w] "r"(Wp)                                                    \
                : "zmm29", "zmm30", "memory")
        if (cols > 16) {
            for (int s = 0; s < steps; s++) {
                Q8_HALF(a, 0);
                Q8_HALF(b, 64);
                Xp += NC;
                Wp++;
                panel_pf_step(&pfl);
            }
        } else {
            for (int s = 0; s < steps; s++) {
                Q8_HALF(a, 0);
                Xp += NC;
                Wp++;
                panel_pf_step(&pfl);
            }
        }
#undef Q8_HALF
#undef Q8_ROW
        acc0[0] = a0;
        acc0[1] = a1;
        acc0[2] = a2;
        acc0[3] = a3;
        acc0[4] = a4;
        acc0[5] = a5;
        acc0[6] = a6;
        acc0[7] = a7;
        acc0[8] = a8;
        acc0[9] = a9;
        acc0[10] = a10;
        acc0[11] = a11;
        acc1[0] = b0;
        acc1[1] = b1;
        acc1[2] = b2;
        acc1[3] = b3;
        acc1[4] = b4;
        acc1[5] = b5;
        acc1[6] = b6;
        acc1[7] = b7;
        acc1[8] = b8;
        acc1[9] = b9;
        acc1[10] = b10;
        acc1[11] = b11;
        steps = 0;
    }
#endif
    _Static_assert(QUAD_STRIDE * 4 == 384, "the asm above hard-codes the row stride");
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
        panel_pf_step(&pfl);
    }
    *pf = pfl;
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *y = Y + (size_t)(n + r) * ldy + t;
        _mm512_mask_storeu_epi32(y, m0, acc0[r]);
        _mm512_mask_storeu_epi32(y + 16, m1, acc1[r]);
    }
}

/* y = scale * (step * acc + lo * rowsum), then bias, activation, residual,
 * for rows [n0, n1) and columns [t, t + cols) whose int32 sums are in Y. */
static void int8_finish(const kern_qmat *W, const float *bias, float *Y, size_t ldy,
                        const float *R, size_t ldr, int n0, int n1, int t, int cols,
                        const float *lo, const float *step, kern_act act) {
    /* Row by row, so that each row's constants are broadcast once; the
     * per-token lo and step come from L1. */
    for (int n = n0; n < n1; n++) {
        __m512 rs = _mm512_set1_ps(W->rowsum[n]), sc = _mm512_set1_ps(W->scale[n]);
        float *yr = Y + (size_t)n * ldy + t;
        for (int j = 0; j < cols; j += 16) {
            __mmask16 m = tail_mask(cols - j);
            __m512 vlo = _mm512_maskz_loadu_ps(m, lo + j), vst = _mm512_maskz_loadu_ps(m, step + j);
            __m512 acc = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, yr + j));
            __m512 o = _mm512_mul_ps(sc, _mm512_add_ps(_mm512_mul_ps(vst, acc), _mm512_mul_ps(vlo, rs)));
            o = epilogue(o, bias, n, act, R, ldr, t + j, m);
            _mm512_mask_storeu_ps(yr + j, m, o);
        }
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
                panel_pf pf;
                const uint32_t *wp = panel_prepare(W->i8, sizeof *W->i8, kp, n, mr, n1, k0, kc,
                                                   tcols, PF_AHEAD_LOWP * MR, kc / 4, Wp, &pf);
                for (int j = 0; j < tcols; j += NC) {
                    const uint32_t *xs = Xp + (size_t)(j / NC) * (kc / 4) * NC;
                    int cols = tcols - j < NC ? tcols - j : NC;
                    if (mr == MR)
                        int8_tile(wp, xs, kc / 4, Y, ldy, n, tb + j, cols, first, MR, &pf);
                    else
                        for (int r = 0; r < mr; r++)
                            int8_tile(wp + (size_t)r * QUAD_STRIDE, xs, kc / 4, Y, ldy, n + r,
                                      tb + j, cols, first, 1, &pf);
                }
                if (last)
                    int8_finish(W, bias, Y, ldy, R, ldr, n, n + mr, tb, tcols, lo, step, act);
            }
        }
    }
}

/* ==== bf16 attention ======================================================= */


/* out[r][c] = s[c] * sum_e <A pair (e, r)> . <B pair row e>[c] for
 * r < rows, c < cols: A pair (e, r) is the word a[e * a_e + r * a_r], B row
 * e is at b + e * ldb (words), s holds a scale per column (the softmax
 * scale for scores, 1 / sum for unnormalized probabilities).
 * nv = ceil(cols / 16). */
static inline __attribute__((always_inline)) void
attn_tile_bf16(const uint32_t *a, size_t a_e, size_t a_r, const uint32_t *b, size_t ldb, int E,
               float *out, size_t ldo, int cols, const float *s, const int rows, const int nv) {
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
        __m512bh bv[AV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512((const void *)(b + (size_t)e * ldb + 16 * v));
#pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)e * a_e + (size_t)r * a_r]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], bv[v], av);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __m512 o = _mm512_mul_ps(acc[r][v], _mm512_loadu_ps(s + 16 * v));
            _mm512_mask_storeu_ps(out + (size_t)r * ldo + 16 * v, m[v], o);
        }
}

static void attn_rows_bf16(const uint32_t *a, size_t a_e, size_t a_r, const uint32_t *b,
                           size_t ldb, int E, float *out, size_t ldo, int n_rows, int cols,
                           const float *s) {
    ATTN_TILE_ALL(attn_tile_bf16);
}

static inline size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

void kern_attention_bf16_avx512(const float *Q, const float *K, const float *V, size_t ld, int L,
                                int D, float scale, float *ctx, size_t ldc, int i0, int i1,
                                float *scratch) {
    const size_t ls = KERN_ATTN_BLOCK;
    int D2 = (D + 1) / 2, L2 = (L + 1) / 2;
    size_t kst = up16((size_t)L), vst = up16((size_t)L2);
    float *S = scratch;                                                 /* [L][ls] */
    uint32_t *Pp = (uint32_t *)(S + up16((size_t)L * ls));              /* [L2][ls] */
    uint32_t *Kp = Pp + up16((size_t)L2 * ls);                          /* [D2][kst] */
    uint32_t *Vp = Kp + up16((size_t)D2 * kst);                         /* [D][vst] */
    uint32_t *Qp = Vp + up16((size_t)D * vst);                          /* [D2][ls] */
    float vscale[KERN_ATTN_BLOCK], inv[KERN_ATTN_BLOCK];
    for (int c = 0; c < KERN_ATTN_BLOCK; c++)
        vscale[c] = scale * EXP_LOG2E;
    /* K pairs over e, for every key j: Kp[ep][j] */
    for (int ep = 0; ep < D2; ep++) {
        const float *k0 = K + (size_t)(2 * ep) * ld;
        const float *k1 = 2 * ep + 1 < D ? k0 + ld : NULL;
        for (int j = 0; j < L; j += 16) {
            __mmask16 m = tail_mask(L - j);
            _mm512_mask_storeu_epi32(Kp + (size_t)ep * kst + j, m,
                                     pairs16(k0 + j, k1 ? k1 + j : NULL, m));
        }
    }
    /* V pairs over j, for every dimension d: Vp[d][jp] = (V[d][2jp], V[d][2jp+1]) */
    for (int d = 0; d < D; d++) {
        const float *v = V + (size_t)d * ld;
        for (int jp = 0; jp < L2; jp += 16) {
            int j = 2 * jp;
            __m512 lo = _mm512_maskz_loadu_ps(tail_mask(L - j), v + j);
            __m512 hi = _mm512_maskz_loadu_ps(tail_mask(L - j - 16), v + j + 16);
            __m512i words = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            _mm512_mask_storeu_epi32(Vp + (size_t)d * vst + jp, tail_mask(L2 - jp), words);
        }
    }
    for (int ib = i0; ib < i1; ib += KERN_ATTN_BLOCK) {
        int nb = i1 - ib < KERN_ATTN_BLOCK ? i1 - ib : KERN_ATTN_BLOCK;
        /* Q pairs over e for this block of queries: Qp[ep][c] */
        for (int ep = 0; ep < D2; ep++) {
            const float *q0 = Q + (size_t)(2 * ep) * ld + ib;
            const float *q1 = 2 * ep + 1 < D ? q0 + ld : NULL;
            for (int c = 0; c < nb; c += 16) {
                __mmask16 m = tail_mask(nb - c);
                _mm512_storeu_si512((void *)(Qp + (size_t)ep * ls + c),
                                    pairs16(q0 + c, q1 ? q1 + c : NULL, m));
            }
        }
        /* S[j][c] = scale log2(e) sum_ep Kp[ep][j] . Qp[ep][c], the score in
         * powers of 2 */
        attn_rows_bf16(Kp, kst, 1, Qp, ls, D2, S, ls, L, nb, vscale);
        /* Softmax over j in fp32. The exponentials go straight into the
         * bf16 pairs that the second product reads; their sum's reciprocal
         * scales its result instead of every probability. */
        for (int v = 0; v * 16 < nb; v++) {
            __mmask16 m = tail_mask(nb - 16 * v);
            const float *sv = S + 16 * v;
            __m512 mx = _mm512_maskz_loadu_ps(m, sv);
            for (int j = 1; j < L; j++)
                mx = _mm512_max_ps(mx, _mm512_maskz_loadu_ps(m, sv + (size_t)j * ls));
            __m512 sum = _mm512_setzero_ps();
            for (int jp = 0; jp < L2; jp++) {
                int j = 2 * jp;
                __m512 e0 = v_exp2_lowp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sv + (size_t)j * ls), mx));
                __m512 e1 = _mm512_setzero_ps();
                sum = _mm512_add_ps(sum, e0);
                if (j + 1 < L) {
                    e1 = v_exp2_lowp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sv + (size_t)(j + 1) * ls), mx));
                    sum = _mm512_add_ps(sum, e1);
                }
                __m512i w = bf16_pairs(e0, e1);
                _mm512_storeu_si512((void *)(Pp + (size_t)jp * ls + 16 * v), w);
            }
            _mm512_storeu_ps(inv + 16 * v, _mm512_div_ps(_mm512_set1_ps(1.0f), sum));
        }
        /* ctx[d][ib + c] = inv[c] * sum_jp Vp[d][jp] . Pp[jp][c] */
        attn_rows_bf16(Vp, 1, vst, Pp, ls, L2, ctx + ib, ldc, D, nb, inv);
    }
}
