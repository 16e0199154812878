/*
 * bench_kernels.c - GFLOP/s of each kernel set's linear and attention
 * kernels at the MiniLM shapes, on one thread. Time is the thread's CPU
 * time, so that a busy shared machine inflates it less than wall time.
 *
 *   bench_kernels [tokens]     (default 576 = 32 sequences of 18 tokens)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernels.h"
#include "model/model.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *rnd(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

static void bench_linear(const kern_ops *ops, int N, int K, int T) {
    float *W = rnd((size_t)N * K), *b = rnd((size_t)N), *X = rnd((size_t)K * T),
          *Y = rnd((size_t)N * T);
    double flops = 2.0 * N * K * T, best = 0;
    float *scratch = aligned_alloc(64, kern_linear_scratch() * sizeof(float));
    for (int rep = 0; rep < 5; rep++) {
        int iters = 0;
        double t0 = cpu_now(), el;
        do {
            ops->linear(W, b, X, (size_t)T, Y, (size_t)T, NULL, 0, K, 0, N, 0, T, KERN_ACT_NONE, scratch);
            iters++;
            el = cpu_now() - t0;
        } while (el < 0.2);
        double g = flops * iters / el / 1e9;
        if (g > best)
            best = g;
    }
    printf("  %-7s linear N=%4d K=%4d T=%4d: %6.1f GFLOP/s\n", ops->name, N, K, T, best);
    free(W);
    free(b);
    free(X);
    free(Y);
    free(scratch);
}

static void bench_lowp(const kern_ops *ops, sembed_dtype dt, int N, int K, int T) {
    kern_linear_q_fn fn = dt == SEMBED_DTYPE_BF16 ? ops->linear_bf16 : ops->linear_int8;
    if (!fn)
        return;
    float *W = rnd((size_t)N * K), *b = rnd((size_t)N), *X = rnd((size_t)K * T),
          *Y = rnd((size_t)N * T);
    float *scratch = aligned_alloc(64, kern_linear_scratch() * sizeof(float));
    kern_qmat q;
    if (quant_init(&q, W, N, K, dt))
        return;
    double flops = 2.0 * N * K * T, best = 0;
    for (int rep = 0; rep < 5; rep++) {
        int iters = 0;
        double t0 = cpu_now(), el;
        do {
            fn(&q, b, X, (size_t)T, Y, (size_t)T, NULL, 0, 0, N, 0, T, KERN_ACT_NONE, scratch);
            iters++;
            el = cpu_now() - t0;
        } while (el < 0.2);
        double g = flops * iters / el / 1e9;
        if (g > best)
            best = g;
    }
    printf("  %-7s %s N=%4d K=%4d T=%4d: %6.1f GOP/s\n", ops->name,
           dt == SEMBED_DTYPE_BF16 ? "bf16" : "int8", N, K, T, best);
    quant_free(&q);
    free(W);
    free(b);
    free(X);
    free(Y);
    free(scratch);
}

static void bench_attention(const kern_ops *ops, int L) {
    int D = 32;
    float *Q = rnd((size_t)D * L), *K = rnd((size_t)D * L), *V = rnd((size_t)D * L),
          *C = rnd((size_t)D * L), *S = rnd(kern_attention_scratch(L));
    double flops = 4.0 * L * L * D, best = 0;
    for (int rep = 0; rep < 5; rep++) {
        int iters = 0;
        double t0 = cpu_now(), el;
        do {
            ops->attention(Q, K, V, (size_t)L, L, D, 0.17f, C, (size_t)L, 0, L, S);
            iters++;
            el = cpu_now() - t0;
        } while (el < 0.2);
        double g = flops * iters / el / 1e9;
        if (g > best)
            best = g;
    }
    printf("  %-7s attention L=%4d D=%d: %6.1f GFLOP/s\n", ops->name, L, D, best);
    free(Q);
    free(K);
    free(V);
    free(C);
    free(S);
}

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 576;
    const kern_ops *sets[3];
    int n = 0;
    if (kern_cpu_has_avx512()) {
        sets[n++] = &kern_ops_avx512;
        for (int dt = SEMBED_DTYPE_BF16; dt <= SEMBED_DTYPE_INT8; dt++) {
            if (dt == SEMBED_DTYPE_BF16 && !kern_cpu_has_avx512_bf16())
                continue;
            if (dt == SEMBED_DTYPE_INT8 && !kern_cpu_has_avx512_vnni())
                continue;
            bench_lowp(&kern_ops_avx512_lowp, (sembed_dtype)dt, 384, 384, T);
            bench_lowp(&kern_ops_avx512_lowp, (sembed_dtype)dt, 1536, 384, T);
            bench_lowp(&kern_ops_avx512_lowp, (sembed_dtype)dt, 384, 1536, T);
            bench_lowp(&kern_ops_avx512_lowp, (sembed_dtype)dt, 384, 384, 18);
        }
    }
    if (kern_cpu_has_avx2())
        sets[n++] = &kern_ops_avx2;
    for (int i = 0; i < n; i++) {
        bench_linear(sets[i], 384, 384, T);
        bench_linear(sets[i], 1536, 384, T);
        bench_linear(sets[i], 384, 1536, T);
        bench_linear(sets[i], 384, 384, 18);
        bench_attention(sets[i], 18);
        bench_attention(sets[i], 128);
        bench_attention(sets[i], 256);
    }
    return 0;
}
