/*
 * test_kernels.c - every SIMD kernel against its scalar twin (bit for bit)
 * and the scalar kernels against plain double-precision formulas, on
 * awkward shapes: one row or column, odd tails, and the MiniLM sizes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "kernels/mathfn.h"
#include "model/model.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void) {
    /* splitmix64 -> uniform in [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = frand() * scale;
    return v;
}

static float *lin_scratch;

/* The kernel sets this CPU can run, the scalar one first. */
static const kern_ops *variants[3];
static int n_variants;

static int setup(void **state) {
    n_variants = 0;
    variants[n_variants++] = &kern_ops_scalar;
    lin_scratch = aligned_alloc(64, kern_linear_scratch() * sizeof(float));
    if (kern_cpu_has_avx2())
        variants[n_variants++] = &kern_ops_avx2;
    if (kern_cpu_has_avx512())
        variants[n_variants++] = &kern_ops_avx512;
    else
        printf("note: no AVX-512 on this CPU; only scalar%s variants checked\n",
               kern_cpu_has_avx2() ? " and AVX2" : "");
    return 0;
}

static int bits_equal(const float *a, const float *b, size_t n, size_t *where) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *where = i;
            return 0;
        }
    return 1;
}

/* ---- linear ---- */

static void check_linear(int N, int K, int T, kern_act act, int with_residual) {
    size_t ldx = (size_t)T + 3, ldy = (size_t)T + 5;
    float *W = rand_vec((size_t)N * K, 0.1f);
    float *b = rand_vec((size_t)N, 0.5f);
    float *X = rand_vec((size_t)K * ldx, 1.0f);
    float *R = with_residual ? rand_vec((size_t)N * ldy, 1.0f) : NULL;
    float *ref = calloc((size_t)N * ldy, sizeof(float));
    float *out = calloc((size_t)N * ldy, sizeof(float));
    assert_non_null(ref);
    assert_non_null(out);
    kern_ops_scalar.linear(W, b, X, ldx, ref, ldy, R, ldy, K, 0, N, 0, T, act, lin_scratch);
    /* The scalar kernel against the formula in double. */
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            double acc = b[n];
            for (int k = 0; k < K; k++)
                acc += (double)W[(size_t)n * K + k] * X[(size_t)k * ldx + t];
            if (act == KERN_ACT_GELU_ERF)
                acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
            if (R)
                acc += R[(size_t)n * ldy + t];
            double d = fabs(acc - ref[(size_t)n * ldy + t]);
            if (d > worst)
                worst = d;
        }
    assert_true(worst < 1e-5 * sqrt((double)K));
    for (int v = 1; v < n_variants; v++) {
        memset(out, 0, (size_t)N * ldy * sizeof(float));
        /* Split rows and columns unevenly, as threads would. */
        int nm = N / 3, tm = T / 2 + 1 > T ? T : T / 2 + 1;
        variants[v]->linear(W, b, X, ldx, out, ldy, R, ldy, K, 0, nm, 0, tm, act, lin_scratch);
        variants[v]->linear(W, b, X, ldx, out, ldy, R, ldy, K, 0, nm, tm, T, act, lin_scratch);
        variants[v]->linear(W, b, X, ldx, out, ldy, R, ldy, K, nm, N, 0, T, act, lin_scratch);
        for (int n = 0; n < N; n++) {
            size_t where;
            if (!bits_equal(ref + (size_t)n * ldy, out + (size_t)n * ldy, (size_t)T, &where))
                fail_msg("%s linear N=%d K=%d T=%d act=%d: row %d col %zu: %.9g vs %.9g",
                         variants[v]->name, N, K, T, (int)act, n, where,
                         ref[(size_t)n * ldy + where], out[(size_t)n * ldy + where]);
        }
    }
    free(W);
    free(b);
    free(X);
    free(R);
    free(ref);
    free(out);
}

static void test_linear_shapes(void **state) {
    static const int shapes[][3] = {{1, 1, 1},   {1, 7, 1},    {3, 5, 17},  {13, 9, 33},
                                    {12, 16, 32}, {25, 31, 47}, {384, 384, 18},
                                    {96, 384, 257}, {40, 1536, 5},  {20, 1536, 130},
                                    {7, 400, 140}, {10, 384, 3}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_linear(shapes[i][0], shapes[i][1], shapes[i][2], KERN_ACT_NONE, 0);
        check_linear(shapes[i][0], shapes[i][1], shapes[i][2], KERN_ACT_GELU_ERF, 0);
        check_linear(shapes[i][0], shapes[i][1], shapes[i][2], KERN_ACT_NONE, 1);
    }
}

/* A column's result must not depend on the other columns in the call. */
static void test_linear_column_independent(void **state) {
    int N = 24, K = 40, T = 70;
    float *W = rand_vec((size_t)N * K, 0.1f), *X = rand_vec((size_t)K * T, 1.0f);
    float *all = calloc((size_t)N * T, sizeof(float)), *one = calloc((size_t)N, sizeof(float));
    float *col = malloc((size_t)K * sizeof(float));
    for (int v = 0; v < n_variants; v++) {
        variants[v]->linear(W, NULL, X, T, all, T, NULL, 0, K, 0, N, 0, T, KERN_ACT_NONE, lin_scratch);
        for (int t = 0; t < T; t += 13) {
            for (int k = 0; k < K; k++)
                col[k] = X[(size_t)k * T + t];
            variants[v]->linear(W, NULL, col, 1, one, 1, NULL, 0, K, 0, N, 0, 1, KERN_ACT_NONE, lin_scratch);
            for (int n = 0; n < N; n++)
                assert_memory_equal(&one[n], &all[(size_t)n * T + t], sizeof(float));
        }
    }
    free(W);
    free(X);
    free(all);
    free(one);
    free(col);
}

/* ---- layernorm ---- */

static void test_layernorm(void **state) {
    static const int shapes[][2] = {{1, 1}, {384, 1}, {384, 9}, {32, 37}, {7, 100}, {384, 130}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], T = shapes[s][1];
        size_t ld = (size_t)T + 2;
        float *X = rand_vec((size_t)N * ld, 3.0f), *g = rand_vec((size_t)N, 1.0f),
              *b = rand_vec((size_t)N, 1.0f);
        float *ref = calloc((size_t)N * ld, sizeof(float)), *out = calloc((size_t)N * ld, sizeof(float));
        kern_ops_scalar.layernorm(X, ld, ref, ld, N, 0, T, g, b, 1e-12);
        for (int t = 0; t < T; t++) {
            double mean = 0, var = 0;
            for (int n = 0; n < N; n++)
                mean += X[(size_t)n * ld + t];
            mean /= N;
            for (int n = 0; n < N; n++)
                var += (X[(size_t)n * ld + t] - mean) * (X[(size_t)n * ld + t] - mean);
            var /= N;
            for (int n = 0; n < N; n++) {
                double y = (X[(size_t)n * ld + t] - mean) / sqrt(var + 1e-12) * g[n] + b[n];
                assert_true(fabs(y - ref[(size_t)n * ld + t]) < 1e-5);
            }
        }
        for (int v = 1; v < n_variants; v++) {
            variants[v]->layernorm(X, ld, out, ld, N, 0, T / 2, g, b, 1e-12);
            variants[v]->layernorm(X, ld, out, ld, N, T / 2, T, g, b, 1e-12);
            for (int n = 0; n < N; n++) {
                size_t where;
                /* The two columns past T must stay untouched (zero). */
                if (!bits_equal(ref + (size_t)n * ld, out + (size_t)n * ld, ld, &where))
                    fail_msg("%s layernorm N=%d T=%d differs at %d,%zu", variants[v]->name, N, T,
                             n, where);
            }
        }
        free(X);
        free(g);
        free(b);
        free(ref);
        free(out);
    }
}

/* ---- attention ---- */

static void test_attention(void **state) {
    static const int lens[] = {1, 2, 5, 16, 17, 64, 65, 130};
    int D = 32;
    for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
        int L = lens[s];
        size_t ld = (size_t)L + 7;
        float *Q = rand_vec((size_t)D * ld, 2.0f), *K = rand_vec((size_t)D * ld, 2.0f),
              *V = rand_vec((size_t)D * ld, 1.0f);
        float *ref = calloc((size_t)D * ld, sizeof(float)), *out = calloc((size_t)D * ld, sizeof(float));
        float *scratch = malloc(kern_attention_scratch(L) * sizeof(float));
        float scale = 1.0f / sqrtf((float)D);
        kern_ops_scalar.attention(Q, K, V, ld, L, D, scale, ref, ld, 0, L, scratch);
        /* Against the softmax formula in double. */
        double *p = malloc((size_t)L * sizeof(double));
        for (int i = 0; i < L; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < L; j++) {
                double dot = 0;
                for (int e = 0; e < D; e++)
                    dot += (double)Q[(size_t)e * ld + i] * K[(size_t)e * ld + j];
                p[j] = dot * scale;
                if (p[j] > mx)
                    mx = p[j];
            }
            for (int j = 0; j < L; j++)
                sum += p[j] = exp(p[j] - mx);
            for (int d = 0; d < D; d++) {
                double c = 0;
                for (int j = 0; j < L; j++)
                    c += p[j] / sum * V[(size_t)d * ld + j];
                assert_true(fabs(c - ref[(size_t)d * ld + i]) < 2e-6);
            }
        }
        free(p);
        for (int v = 1; v < n_variants; v++) {
            memset(out, 0, (size_t)D * ld * sizeof(float));
            int mid = L / 3;
            variants[v]->attention(Q, K, V, ld, L, D, scale, out, ld, 0, mid, scratch);
            variants[v]->attention(Q, K, V, ld, L, D, scale, out, ld, mid, L, scratch);
            for (int d = 0; d < D; d++) {
                size_t where;
                if (!bits_equal(ref + (size_t)d * ld, out + (size_t)d * ld, (size_t)L, &where))
                    fail_msg("%s attention L=%d differs at d=%d i=%zu: %.9g vs %.9g",
                             variants[v]->name, L, d, where, ref[(size_t)d * ld + where],
                             out[(size_t)d * ld + where]);
            }
        }
        free(Q);
        free(K);
        free(V);
        free(ref);
        free(out);
        free(scratch);
    }
}

/* ---- element-wise functions ---- */

static void test_gelu_and_exp(void **state) {
    double worst_gelu = 0, worst_exp = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 6e-5f;
        double g = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double d = fabs(kern_gelu_erf(x) - g) / (fabs(g) > 1.0 ? fabs(g) : 1.0);
        if (d > worst_gelu)
            worst_gelu = d;
        float y = (float)i * 4.35e-4f; /* [-87, 87] */
        double e = exp((double)y);
        double r = fabs(kern_expf(y) - e) / e;
        if (r > worst_exp)
            worst_exp = r;
    }
    printf("gelu max error %.3g (abs below 1, rel above), exp max rel error %.3g\n", worst_gelu,
           worst_exp);
    assert_true(worst_gelu < 2e-7);
    assert_true(worst_exp < 4e-7);
    assert_true(kern_expf(-100.0f) == 0.0f);
    assert_true(isnan(kern_gelu_erf(NAN)));
    assert_true(kern_gelu_erf(-10.0f) == -0.0f || kern_gelu_erf(-10.0f) == 0.0f);
    assert_true(kern_gelu_erf(10.0f) == 10.0f);

    /* The GELU of the bf16 and int8 products: its erf within 5.1e-6, so
     * the GELU within 2.6e-6 times max(|x|, 1); x itself where erf is 1. */
    double worst_gelu_lowp = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 6e-5f;
        double g = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double d = fabs(mathfn_gelu_erf_lowp(x) - g) / (fabs(x) > 1.0 ? fabs(x) : 1.0);
        if (d > worst_gelu_lowp)
            worst_gelu_lowp = d;
    }
    printf("lowp gelu max error %.3g (abs, relative to |x| above 1)\n", worst_gelu_lowp);
    assert_true(worst_gelu_lowp < 4e-6);
    assert_true(isnan(mathfn_gelu_erf_lowp(NAN)));
    assert_true(mathfn_gelu_erf_lowp(10.0f) == 10.0f);

    /* The short 2^y of the bf16 attention: within its documented 8e-5 over
     * the softmax range, and clamped (not 0, not NaN) far below it. */
    double worst_exp2 = 0;
    for (int i = 0; i <= 400000; i++) {
        float y = -(float)i * 3.15e-4f; /* [-126, 0] */
        double r = fabs(mathfn_exp2_lowp(y) - exp2((double)y)) / exp2((double)y);
        if (r > worst_exp2)
            worst_exp2 = r;
    }
    printf("short exp2 max rel error %.3g\n", worst_exp2);
    assert_true(worst_exp2 < 8e-5);
    assert_true(mathfn_exp2_lowp(-1e30f) == mathfn_exp2_lowp(EXP2_LOWP_MIN));
    assert_true(mathfn_exp2_lowp(-1e30f) > 0.0f && mathfn_exp2_lowp(-1e30f) < 1e-37f);
}

/* ---- bf16 and int8 products ---- */

/* The SIMD products against the scalar twins: int8 bit for bit (integer
 * sums, then the same float operations); bf16 within the rounding freedom
 * of VDPBF16PS (one or two roundings per pair). Also column independence. */
static void check_lowp(int N, int K, int T, sembed_dtype dt, kern_act act) {
    if (!kern_cpu_has_avx512() ||
        (dt == SEMBED_DTYPE_BF16 ? !kern_cpu_has_avx512_bf16() : !kern_cpu_has_avx512_vnni())) {
        printf("note: %s SIMD product not run: the CPU lacks the instructions\n",
               dt == SEMBED_DTYPE_BF16 ? "bf16" : "int8");
        return;
    }
    size_t ld = (size_t)T + 1;
    float *W = rand_vec((size_t)N * K, 0.1f), *b = rand_vec((size_t)N, 0.5f);
    float *X = rand_vec((size_t)K * ld, 1.5f), *R = rand_vec((size_t)N * ld, 1.0f);
    float *ref = calloc((size_t)N * ld, sizeof(float)), *out = calloc((size_t)N * ld, sizeof(float));
    kern_qmat q;
    assert_int_equal(quant_init(&q, W, N, K, dt), 0);
    kern_linear_q_fn simd = dt == SEMBED_DTYPE_BF16 ? kern_ops_avx512_lowp.linear_bf16
                                                    : kern_ops_avx512_lowp.linear_int8;
    kern_linear_q_fn twin = dt == SEMBED_DTYPE_BF16 ? kern_ops_scalar.linear_bf16
                                                    : kern_ops_scalar.linear_int8;
    twin(&q, b, X, ld, ref, ld, R, ld, 0, N, 0, T, act, lin_scratch);
    int mid = T / 2;
    simd(&q, b, X, ld, out, ld, R, ld, 0, N, 0, mid, act, lin_scratch);
    simd(&q, b, X, ld, out, ld, R, ld, 0, N / 2, mid, T, act, lin_scratch);
    simd(&q, b, X, ld, out, ld, R, ld, N / 2, N, mid, T, act, lin_scratch);
    double worst = 0, scale = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            double d = fabs((double)ref[(size_t)n * ld + t] - out[(size_t)n * ld + t]);
            worst = fmax(worst, d);
            scale = fmax(scale, fabs(ref[(size_t)n * ld + t]));
        }
    if (dt == SEMBED_DTYPE_INT8) {
        if (worst != 0.0)
            fail_msg("int8 N=%d K=%d T=%d: SIMD differs from the scalar twin by %.3g", N, K, T,
                     worst);
    } else if (worst > 1e-5 * scale * sqrt((double)K)) {
        fail_msg("bf16 N=%d K=%d T=%d: SIMD differs from the scalar twin by %.3g", N, K, T, worst);
    }
    /* A column alone gives the same bits as in the block. */
    float *col = malloc((size_t)K * sizeof(float)), *one = malloc((size_t)N * sizeof(float));
    int t = T - 1;
    for (int k = 0; k < K; k++)
        col[k] = X[(size_t)k * ld + t];
    simd(&q, b, col, 1, one, 1, NULL, 0, 0, N, 0, 1, act, lin_scratch);
    simd(&q, b, X, ld, out, ld, NULL, 0, 0, N, 0, T, act, lin_scratch);
    for (int n = 0; n < N; n++)
        assert_memory_equal(&one[n], &out[(size_t)n * ld + t], sizeof(float));
    /* And the product is close to the fp32 one (quantization error only). */
    kern_ops_scalar.linear(W, b, X, ld, ref, ld, NULL, 0, K, 0, N, 0, T, act, lin_scratch);
    double rel = 0, norm = 0;
    for (int n = 0; n < N; n++)
        for (int u = 0; u < T; u++) {
            double d = ref[(size_t)n * ld + u] - out[(size_t)n * ld + u];
            rel += d * d;
            norm += (double)ref[(size_t)n * ld + u] * ref[(size_t)n * ld + u];
        }
    rel = sqrt(rel / norm);
    assert_true(rel < (dt == SEMBED_DTYPE_BF16 ? 0.01 : 0.03));
    quant_free(&q);
    free(W);
    free(b);
    free(X);
    free(R);
    free(ref);
    free(out);
    free(col);
    free(one);
}

static void test_lowp(void **state) {
    static const int shapes[][3] = {{1, 4, 1}, {12, 8, 33}, {25, 33, 17}, {48, 384, 70}, {30, 384, 200},
                                    {24, 1536, 40}, {13, 390, 300}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int dt = SEMBED_DTYPE_BF16; dt <= SEMBED_DTYPE_INT8; dt++) {
            check_lowp(shapes[i][0], shapes[i][1], shapes[i][2], (sembed_dtype)dt, KERN_ACT_NONE);
            check_lowp(shapes[i][0], shapes[i][1], shapes[i][2], (sembed_dtype)dt,
                       KERN_ACT_GELU_ERF);
        }
}

/* bf16 attention: SIMD against its scalar twin (within VDPBF16PS's
 * rounding freedom) and against fp32 attention (bf16 error only). */
static void test_attention_bf16(void **state) {
    if (!kern_cpu_has_avx512_bf16()) {
        printf("note: bf16 attention not run: the CPU lacks AVX512_BF16\n");
        return;
    }
    static const int lens[] = {1, 2, 3, 17, 64, 65, 130};
    static const int dims[] = {32, 7};
    for (size_t di = 0; di < 2; di++)
        for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
            int L = lens[s], D = dims[di];
            size_t ld = (size_t)L + 5;
            float *Q = rand_vec((size_t)D * ld, 2.0f), *K = rand_vec((size_t)D * ld, 2.0f),
                  *V = rand_vec((size_t)D * ld, 1.0f);
            float *twin = calloc((size_t)D * ld, sizeof(float)), *simd = calloc((size_t)D * ld, sizeof(float)),
                  *f32 = calloc((size_t)D * ld, sizeof(float));
            float *scratch = aligned_alloc(64, ((kern_attention_scratch(L) * sizeof(float)) + 63) & ~(size_t)63);
            float scale = 1.0f / sqrtf((float)D);
            kern_ops_scalar.attention_bf16(Q, K, V, ld, L, D, scale, twin, ld, 0, L, scratch);
            int mid = L / 2;
            kern_ops_avx512_lowp.attention_bf16(Q, K, V, ld, L, D, scale, simd, ld, 0, mid, scratch);
            kern_ops_avx512_lowp.attention_bf16(Q, K, V, ld, L, D, scale, simd, ld, mid, L, scratch);
            kern_ops_scalar.attention(Q, K, V, ld, L, D, scale, f32, ld, 0, L, scratch);
            double d_twin = 0, d_f32 = 0;
            for (int d = 0; d < D; d++)
                for (int i = 0; i < L; i++) {
                    size_t o = (size_t)d * ld + i;
                    d_twin = fmax(d_twin, fabs((double)twin[o] - simd[o]));
                    d_f32 = fmax(d_f32, fabs((double)f32[o] - simd[o]));
                }
            if (d_twin > 1e-5 || d_f32 > 0.05)
                fail_msg("bf16 attention L=%d D=%d: %.3g from the twin, %.3g from fp32", L, D,
                         d_twin, d_f32);
            free(Q);
            free(K);
            free(V);
            free(twin);
            free(simd);
            free(f32);
            free(scratch);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_shapes),
        cmocka_unit_test(test_linear_column_independent),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_gelu_and_exp),
        cmocka_unit_test(test_lowp),
        cmocka_unit_test(test_attention_bf16),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
