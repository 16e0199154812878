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

const kern_ops kern_ops_scalar = {
    .name = "scalar",
    .linear = linear_scalar,
    .layernorm = layernorm_scalar,
    .attention = attention_scalar,
    .linear_rows = 4,
};
