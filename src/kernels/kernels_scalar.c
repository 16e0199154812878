/*
 * kernels_scalar.c - the scalar twins of the SIMD kernels. They are the
 * truth the AVX2 and AVX-512 files are tested against (bit for bit), and
 * the fallback on CPUs without AVX2. Each output element is computed with
 * exactly the operations, in exactly the order, that the SIMD lanes use.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/mathfn.h"

float kern_gelu_erf(float x) { return mathfn_gelu_erf(x); }
float kern_expf(float x) { return mathfn_expf(x); }

/* ==== Linear ============================================================== */

static void linear_scalar(const float *W, const float *bias, const float *X, size_t ldx, float *Y,
                          size_t ldy, const float *R, size_t ldr, int K, int n0, int n1, int t0,
                          int t1, kern_act act, float *scratch) {
    /* Y[n][t] = act(sum_k W[n][k] X[k][t] + bias[n]) + R[n][t] */
    (void)scratch;
    for (int n = n0; n < n1; n++) {
        const float *w = W + (size_t)n * K;
        float b = bias ? bias[n] : 0.0f;
        for (int t = t0; t < t1; t++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc = fmaf(w[k], X[(size_t)k * ldx + t], acc);
            float y = acc + b;
            if (act == KERN_ACT_GELU_ERF)
                y = mathfn_gelu_erf(y);
            if (R)
                y = y + R[(size_t)n * ldr + t];
            Y[(size_t)n * ldy + t] = y;
        }
    }
}

/* ==== LayerNorm =========================================================== */

static void layernorm_scalar(const float *X, size_t ldx, float *Y, size_t ldy, int N, int t0,
                             int t1, const float *gamma, const float *beta, double eps) {
    for (int t = t0; t < t1; t++) {
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
            float d = X[(size_t)n * ldx + t] - meanf;
            d = d * rstd;
            Y[(size_t)n * ldy + t] = fmaf(d, gamma[n], beta[n]);
        }
    }
}

/* ==== Attention =========================================================== */

static void attention_scalar(const float *Q, const float *K, const float *V, size_t ld, int L,
                             int D, float scale, float *ctx, size_t ldc, int i0, int i1,
                             float *scratch) {
    /* S[j][i] for a block of query columns, softmax over j, then ctx. */
    for (int ib = i0; ib < i1; ib += KERN_ATTN_BLOCK) {
        int nb = i1 - ib < KERN_ATTN_BLOCK ? i1 - ib : KERN_ATTN_BLOCK;
        float *S = scratch; /* [L][KERN_ATTN_BLOCK] */
        for (int j = 0; j < L; j++) {
            for (int c = 0; c < nb; c++) {
                float acc = 0.0f;
                for (int e = 0; e < D; e++)
                    acc = fmaf(K[(size_t)e * ld + j], Q[(size_t)e * ld + ib + c], acc);
                S[(size_t)j * KERN_ATTN_BLOCK + c] = acc * scale;
            }
        }
        for (int c = 0; c < nb; c++) {
            float m = S[c];
            for (int j = 1; j < L; j++)
                m = fmaxf(m, S[(size_t)j * KERN_ATTN_BLOCK + c]);
            float sum = 0.0f;
            for (int j = 0; j < L; j++) {
                float e = mathfn_expf(S[(size_t)j * KERN_ATTN_BLOCK + c] - m);
                S[(size_t)j * KERN_ATTN_BLOCK + c] = e;
                sum = sum + e;
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < L; j++)
                S[(size_t)j * KERN_ATTN_BLOCK + c] = S[(size_t)j * KERN_ATTN_BLOCK + c] * inv;
        }
        for (int d = 0; d < D; d++) {
            for (int c = 0; c < nb; c++) {
                float acc = 0.0f;
                for (int j = 0; j < L; j++)
                    acc = fmaf(V[(size_t)d * ld + j], S[(size_t)j * KERN_ATTN_BLOCK + c], acc);
                ctx[(size_t)d * ldc + ib + c] = acc;
            }
        }
    }
}

/* ==== Reduced precision ================================================== */

static float bf16_value(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void epilogue(float y, const float *bias, int n, kern_act act, const float *R, size_t ldr,
                     int t, float *dst) {
    y = y + (bias ? bias[n] : 0.0f);
    if (act == KERN_ACT_GELU_ERF)
        y = mathfn_gelu_erf_lowp(y);
    if (R)
        y = y + R[(size_t)n * ldr + t];
    *dst = y;
}

/* The bf16 product as AVX512_BF16's VDPBF16PS defines it: activations
 * rounded to bf16, pairs of products (exact in fp32) added to the fp32
 * accumulator odd element first. Hardware may round the pair differently
 * (one rounding instead of two); tests allow for that. */
static void linear_bf16_scalar(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                               float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                               int t0, int t1, kern_act act, float *scratch) {
    (void)scratch;
    int K = W->K;
    for (int n = n0; n < n1; n++) {
        const uint16_t *w = W->bf16 + (size_t)n * W->kp;
        for (int t = t0; t < t1; t++) {
            float acc = 0.0f;
            for (int k = 0; k < W->kp; k += 2) {
                float xe = bf16_value(kern_f32_to_bf16(X[(size_t)k * ldx + t]));
                float xo = k + 1 < K ? bf16_value(kern_f32_to_bf16(X[(size_t)(k + 1) * ldx + t]))
                                     : 0.0f;
                acc = acc + xo * bf16_value(w[k + 1]);
                acc = acc + xe * bf16_value(w[k]);
            }
            epilogue(acc, bias, n, act, R, ldr, t, &Y[(size_t)n * ldy + t]);
        }
    }
}

static float bf16_round(float x) { return bf16_value(kern_f32_to_bf16(x)); }

/* Attention with both products in bf16 as kernels_lowp_avx512.c computes
 * them: Q, K, the unnormalized probabilities and V rounded to bf16, pairs
 * of products added odd element first (VDPBF16PS); softmax in fp32 on
 * scores scaled by log2 e with the short 2^x, and its 1 / sum applied to
 * the second product's result. */
static void attention_bf16_scalar(const float *Q, const float *K, const float *V, size_t ld,
                                  int L, int D, float scale, float *ctx, size_t ldc, int i0,
                                  int i1, float *scratch) {
    const float scale2 = scale * EXP_LOG2E;
    for (int ib = i0; ib < i1; ib += KERN_ATTN_BLOCK) {
        int nb = i1 - ib < KERN_ATTN_BLOCK ? i1 - ib : KERN_ATTN_BLOCK;
        float *S = scratch, inv[KERN_ATTN_BLOCK];
        for (int j = 0; j < L; j++)
            for (int c = 0; c < nb; c++) {
                float acc = 0.0f;
                for (int e = 0; e < D; e += 2) {
                    float qo = e + 1 < D ? bf16_round(Q[(size_t)(e + 1) * ld + ib + c]) : 0.0f;
                    float ko = e + 1 < D ? bf16_round(K[(size_t)(e + 1) * ld + j]) : 0.0f;
                    acc = acc + qo * ko;
                    acc = acc + bf16_round(Q[(size_t)e * ld + ib + c]) *
                                    bf16_round(K[(size_t)e * ld + j]);
                }
                S[(size_t)j * KERN_ATTN_BLOCK + c] = acc * scale2;
            }
        for (int c = 0; c < nb; c++) {
            float m = S[c];
            for (int j = 1; j < L; j++)
                m = fmaxf(m, S[(size_t)j * KERN_ATTN_BLOCK + c]);
            float sum = 0.0f;
            for (int j = 0; j < L; j++) {
                float e = mathfn_exp2_lowp(S[(size_t)j * KERN_ATTN_BLOCK + c] - m);
                S[(size_t)j * KERN_ATTN_BLOCK + c] = e;
                sum = sum + e;
            }
            inv[c] = 1.0f / sum;
        }
        for (int d = 0; d < D; d++)
            for (int c = 0; c < nb; c++) {
                float acc = 0.0f;
                for (int j = 0; j < L; j += 2) {
                    float po = j + 1 < L ? bf16_round(S[(size_t)(j + 1) * KERN_ATTN_BLOCK + c]) : 0.0f;
                    float vo = j + 1 < L ? bf16_round(V[(size_t)d * ld + j + 1]) : 0.0f;
                    acc = acc + po * vo;
                    acc = acc + bf16_round(S[(size_t)j * KERN_ATTN_BLOCK + c]) *
                                    bf16_round(V[(size_t)d * ld + j]);
                }
                ctx[(size_t)d * ldc + ib + c] = acc * inv[c];
            }
    }
}

/* The range of token t's activations, for its 8-bit code: x ~ lo + step * u. */
static void token_range(const float *X, size_t ldx, int K, int t, float *lo, float *step) {
    float mn = X[t], mx = X[t];
    for (int k = 1; k < K; k++) {
        float v = X[(size_t)k * ldx + t];
        mn = fminf(mn, v);
        mx = fmaxf(mx, v);
    }
    float st = (mx - mn) / 255.0f;
    *lo = mn;
    *step = st > 0.0f ? st : 1.0f;
}

static uint8_t quantize_u8(float x, float lo, float inv_step) {
    float q = rintf((x - lo) * inv_step);
    q = q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q);
    return (uint8_t)q;
}

/* The int8 product: exact int32 sums of u8 activations times s8 weights,
 * then the per-row and per-token scales. Bit-identical to the VNNI kernel. */
static void linear_int8_scalar(const kern_qmat *W, const float *bias, const float *X, size_t ldx,
                               float *Y, size_t ldy, const float *R, size_t ldr, int n0, int n1,
                               int t0, int t1, kern_act act, float *scratch) {
    (void)scratch;
    int K = W->K;
    for (int t = t0; t < t1; t++) {
        float lo, step;
        token_range(X, ldx, K, t, &lo, &step);
        float inv = 1.0f / step;
        for (int n = n0; n < n1; n++) {
            const int8_t *w = W->i8 + (size_t)n * W->kp;
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int32_t)quantize_u8(X[(size_t)k * ldx + t], lo, inv) * w[k];
            float a = step * (float)acc;
            float b = lo * W->rowsum[n];
            float y = W->scale[n] * (a + b);
            epilogue(y, bias, n, act, R, ldr, t, &Y[(size_t)n * ldy + t]);
        }
    }
}

const kern_ops kern_ops_scalar = {
    .name = "scalar",
    .linear = linear_scalar,
    .layernorm = layernorm_scalar,
    .attention = attention_scalar,
    .linear_rows = 4,
    .linear_bf16 = linear_bf16_scalar,
    .linear_int8 = linear_int8_scalar,
    .attention_bf16 = attention_bf16_scalar,
};
