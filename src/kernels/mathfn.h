/*
 * mathfn.h - constants and scalar forms of the element-wise functions that
 * every kernel variant evaluates identically: exp for softmax and the
 * piecewise-polynomial erf for GELU. The SIMD files repeat these exact
 * operation sequences lane by lane; tests/unit/test_kernels.c checks that
 * the variants agree bit for bit.
 */
#ifndef SEMBED_MATHFN_H
#define SEMBED_MATHFN_H

#include <math.h>

#include "kernels/erf_table.h"
#include "kernels/erf_table_lowp.h"

/* exp: x = n ln2 + r with |r| <= ln2/2, ln2 split in two for an exact
 * first product; e^r by its Taylor polynomial of degree 7 (relative error
 * below 5e-9 on the reduced range); below EXP_MIN the result is 0. */
#define EXP_LOG2E 1.44269502f
#define EXP_LN2_HI 0.693145751953125f
#define EXP_LN2_LO 1.42860677e-06f
#define EXP_MAX 88.0f
#define EXP_MIN -87.0f
#define EXP_C7 (1.0f / 5040.0f)
#define EXP_C6 (1.0f / 720.0f)
#define EXP_C5 (1.0f / 120.0f)
#define EXP_C4 (1.0f / 24.0f)
#define EXP_C3 (1.0f / 6.0f)
#define EXP_C2 0.5f

static inline float mathfn_expf(float x) {
    if (x < EXP_MIN)
        return 0.0f;
    if (x > EXP_MAX)
        x = EXP_MAX;
    float n = rintf(x * EXP_LOG2E);
    float r = fmaf(n, -EXP_LN2_HI, x);
    r = fmaf(n, -EXP_LN2_LO, r);
    float p = EXP_C7;
    p = fmaf(p, r, EXP_C6);
    p = fmaf(p, r, EXP_C5);
    p = fmaf(p, r, EXP_C4);
    p = fmaf(p, r, EXP_C3);
    p = fmaf(p, r, EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    return ldexpf(p, (int)n);
}

/* 2^y for the bf16 attention, whose probabilities keep 8 significant bits
 * (its scores come pre-multiplied by log2 e, so no multiply is needed
 * here): y = n + f with |f| <= 1/2, and 2^f by a degree-3 polynomial
 * fitted for relative error (below 8e-5, 25 times under bf16's rounding).
 * Arguments below -126 are clamped to it rather than flushed to 0; softmax
 * arguments are <= 0, so there is no upper clamp. */
#define EXP2_LOWP_MIN -126.0f
#define EXP2_LOWP_C0 0.999928176f
#define EXP2_LOWP_C1 0.693260968f
#define EXP2_LOWP_C2 0.242609724f
#define EXP2_LOWP_C3 0.0551709831f

static inline float mathfn_exp2_lowp(float y) {
    y = fmaxf(y, EXP2_LOWP_MIN);
    float n = rintf(y);
    float f = y - n;
    float p = fmaf(EXP2_LOWP_C3, f, EXP2_LOWP_C2);
    p = fmaf(p, f, EXP2_LOWP_C1);
    p = fmaf(p, f, EXP2_LOWP_C0);
    return ldexpf(p, (int)n);
}

/* erf(z) for the GELU from a table of pieces (piece i covers
 * [i/2, (i+1)/2)), coef[d][i] the coefficient of u^d on piece i. */
static inline float mathfn_erf_pieces(float z, const float (*coef)[ERF_PIECES], int degree) {
    float a = fabsf(z);
    float e;
    if (!(a < ERF_LIMIT)) {
        e = 1.0f;                          /* also NaN: the GELU stays NaN */
    } else {
        int i = (int)(a * (1.0f / ERF_WIDTH));
        float u = a - erf_center[i];
        float p = coef[degree][i];
        for (int d = degree - 1; d >= 0; d--)
            p = fmaf(p, u, coef[d][i]);
        e = p;
    }
    return copysignf(e, z);
}

#define GELU_SQRT1_2 0.707106781f

/* x * 0.5 * (1 + erf(x / sqrt 2)), in PyTorch's order of operations. */
static inline float mathfn_gelu_pieces(float x, const float (*coef)[ERF_PIECES], int degree) {
    float e = mathfn_erf_pieces(x * GELU_SQRT1_2, coef, degree);
    float h = x * 0.5f;
    return h * (1.0f + e);
}

static inline float mathfn_gelu_erf(float x) {
    return mathfn_gelu_pieces(x, erf_coef, ERF_DEGREE);
}

/* The GELU of the bf16 and int8 products: the same pieces with degree-4
 * polynomials (max abs error 5.1e-6, erf_table_lowp.h), three table
 * lookups and three multiply-adds fewer per value. Their outputs are
 * rounded to bf16 (relative step 2^-8) or quantized to 8 bits right
 * after, far coarser than this error. */
static inline float mathfn_gelu_erf_lowp(float x) {
    return mathfn_gelu_pieces(x, erf_coef_lowp, ERF_LOWP_DEGREE);
}

#endif /* SEMBED_MATHFN_H */
