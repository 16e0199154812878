/*
 * kernels.h - the compute kernels of the encoder: pure functions on float
 * arrays, with no allocation, no I/O and no threads (callers split work
 * into ranges and run the ranges on their own threads).
 *
 * Layout: activations are kept feature-major ("transposed"): a block of T
 * tokens with H features is an [H][ld] matrix whose column t is token t.
 * The sequences of a batch sit side by side as column ranges, with no
 * padding. Weights stay in PyTorch's Linear layout W[out][in], exactly as
 * model.safetensors stores them, so fp32 weights are used straight from the
 * memory map without packing.
 *
 * Determinism: every variant (scalar, AVX2, AVX-512) computes each output
 * element with the same operations in the same order (sums run
 * sequentially over the reduction index with fused multiply-adds), so the
 * variants agree bit for bit, and a token's values never depend on which
 * other columns are in the call or how the work was split. This is what
 * makes a text's vector identical alone or in any batch.
 */
#ifndef SEMBED_KERNELS_H
#define SEMBED_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Activation fused into the linear kernel's store. */
typedef enum kern_act {
    KERN_ACT_NONE = 0,
    KERN_ACT_GELU_ERF = 1      /* 0.5 x (1 + erf(x / sqrt 2)) */
} kern_act;

/* Y[n][t] = act( sum_k W[n][k] X[k][t] + bias[n] ) + R[n][t]
 *   for n in [n0, n1), t in [t0, t1).
 * W [N][K] row-major; X [K][ldx]; Y [N][ldy]; R [N][ldr] or NULL (residual,
 * added after the activation); bias may be NULL. Y must not alias X; R may
 * equal Y only when ldr == ldy. scratch holds kern_linear_scratch() floats,
 * 64-byte aligned, private to the calling thread (the SIMD variants pack
 * panels of X and W into it, GotoBLAS style). */
typedef void (*kern_linear_fn)(const float *W, const float *bias, const float *X, size_t ldx,
                               float *Y, size_t ldy, const float *R, size_t ldr, int K, int n0,
                               int n1, int t0, int t1, kern_act act, float *scratch);

/* Reduction depth and column block of the packed panels. */
#define KERN_KC 384
#define KERN_TB 256

static inline size_t kern_linear_scratch(void) {
    /* packed X block, packed W panel, and per-token ranges (int8) */
    return (size_t)KERN_KC * KERN_TB + (size_t)KERN_KC * 16 + 2 * (size_t)KERN_TB;
}

/* Per-token LayerNorm over N features, for t in [t0, t1):
 *   Y[n][t] = (X[n][t] - mean_t) * rstd_t * gamma[n] + beta[n]
 * mean and the biased variance are accumulated in double; Y may equal X. */
typedef void (*kern_layernorm_fn)(const float *X, size_t ldx, float *Y, size_t ldy, int N, int t0,
                                  int t1, const float *gamma, const float *beta, double eps);

/* Self-attention of one head of one sequence of L tokens:
 *   ctx[d][i] = sum_j softmax_j(scale * sum_e Q[e][i] K[e][j]) V[d][j]
 * Q, K, V are [D][ld] views starting at the sequence's first token, ctx is
 * [D][ldc]. Only columns i in [i0, i1) are produced (callers may split a
 * long sequence across threads). scratch holds L * KERN_ATTN_BLOCK floats
 * (see kern_attention_scratch()). */
typedef void (*kern_attention_fn)(const float *Q, const float *K, const float *V, size_t ld,
                                  int L, int D, float scale, float *ctx, size_t ldc, int i0,
                                  int i1, float *scratch);

/* Query columns processed per block inside the attention kernel. */
#define KERN_ATTN_BLOCK 64

/* The bf16 attention packs Q, K, V and the probabilities as bf16 pairs
 * for heads of up to KERN_ATTN_DMAX dimensions (larger heads use fp32). */
#define KERN_ATTN_DMAX 128

static inline size_t kern_attention_scratch(int L) {
    /* scores [L][block] + the bf16 pairs of K [L][D/2], V [D][L/2],
     * probabilities [L/2][block] and a block of Q [D/2][block] */
    return (size_t)(L + 16) * KERN_ATTN_BLOCK * 2 + (size_t)(L + 16) * KERN_ATTN_DMAX +
           (size_t)KERN_ATTN_DMAX * KERN_ATTN_BLOCK;
}

/* ---- reduced-precision matrix products ---------------------------------
 *
 * A weight matrix prepared once at load for the bf16 or int8 products:
 *   bf16: W rounded to bfloat16 (round to nearest even), [N][kp] with the
 *         row padded with zeros to an even length kp;
 *   int8: W quantized per output row, w_q = round(W / scale[n]) with
 *         scale[n] = max|W[n]| / 127, [N][kp] with kp a multiple of 4, and
 *         rowsum[n] = sum_k w_q[n][k] (an exact integer, kept as the float
 *         that the scaling multiplies by).
 * Activations are converted per call: to bf16, or to unsigned 8-bit per
 * token t with its own range, x ~ lo_t + step_t * x_u8 (x_u8 in 0..255).
 * Accumulation is in fp32 (bf16) or exact int32 (int8), then
 *   int8: Y = scale[n] * (step_t * acc + lo_t * rowsum[n])
 * followed by bias, activation and residual as in the fp32 product. */
typedef struct kern_qmat {
    int N, K, kp;
    uint16_t *bf16;               /* [N][kp] or NULL */
    int8_t *i8;                   /* [N][kp] or NULL */
    float *scale;                 /* [N] */
    float *rowsum;                /* [N] */
} kern_qmat;

typedef void (*kern_linear_q_fn)(const kern_qmat *W, const float *bias, const float *X,
                                 size_t ldx, float *Y, size_t ldy, const float *R, size_t ldr,
                                 int n0, int n1, int t0, int t1, kern_act act, float *scratch);

/* fp32 -> bf16 with round to nearest even (NaN stays NaN). */
static inline uint16_t kern_f32_to_bf16(float f) {
    uint32_t b;
    __builtin_memcpy(&b, &f, 4);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((b >> 16) | 0x40u);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

/* One complete set of kernels for an instruction set. */
typedef struct kern_ops {
    const char *name;             /* "scalar", "avx2", "avx512" */
    kern_linear_fn linear;
    kern_layernorm_fn layernorm;
    kern_attention_fn attention;
    int linear_rows;              /* preferred granularity of [n0, n1) splits */
    kern_linear_q_fn linear_bf16; /* NULL where the instructions are missing */
    kern_linear_q_fn linear_int8;
    /* Attention with the QK^T and PV products in bf16 (softmax in fp32),
     * for the bf16 and int8 dtypes; NULL where AVX512_BF16 is missing. */
    kern_attention_fn attention_bf16;
} kern_ops;

extern const kern_ops kern_ops_scalar;
extern const kern_ops kern_ops_avx2;
extern const kern_ops kern_ops_avx512;
/* AVX-512 with the AVX512_BF16 and AVX512_VNNI products filled in (use the
 * bf16 one only when kern_cpu_has_avx512_bf16(), the int8 one only when
 * kern_cpu_has_avx512_vnni()). */
extern const kern_ops kern_ops_avx512_lowp;

/* CPU features, detected once. */
int kern_cpu_has_avx2(void);      /* AVX2 + FMA */
int kern_cpu_has_avx512(void);    /* AVX-512 F/BW/VL/DQ */
int kern_cpu_has_avx512_bf16(void);
int kern_cpu_has_avx512_vnni(void);

/* The fastest kernel set this CPU runs (for bf16 / int8 products the
 * caller checks that linear_bf16 / linear_int8 is not NULL). */
const kern_ops *kern_ops_best(void);

/* ---- element-wise helpers shared by all variants ------------------------- */

/* GELU with the piecewise-polynomial erf (max abs error of erf 6.1e-8) that
 * the SIMD kernels also use, so every variant gives the same bits. */
float kern_gelu_erf(float x);

/* exp(x) as the SIMD kernels compute it (Cody-Waite reduction, degree-7
 * polynomial); used by softmax. */
float kern_expf(float x);

#endif /* SEMBED_KERNELS_H */
