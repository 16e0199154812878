/*
 * flat.h - the inner loops of exact (flat) search: dot products of a block
 * of queries against a block of corpus rows, row norms, Hamming distances
 * of packed sign bits and int8/uint8 dequantization, in one set per
 * instruction set (flat_generic.c, flat_avx2.c, flat_avx512.c, all made
 * from flat_kernel_impl.h) and picked at run time.
 *
 * The AVX-512 set counts bits with VPOPCNTQ where the CPU has it
 * (AVX512_VPOPCNTDQ), eight queries per instruction.
 *
 * Determinism: within one set, the score of a (query, row) pair is computed
 * by the same sequence of operations whatever the tile, block or thread it
 * falls in, so results never depend on the thread count or chunk sizes.
 */
#ifndef SEMBED_SEARCH_FLAT_H
#define SEMBED_SEARCH_FLAT_H

#include <stddef.h>
#include <stdint.h>

/* Called by hamming_scan for a (query, row) pair that passes the limit. */
typedef void (*flat_accept_fn)(void *ctx, size_t query, size_t row, uint32_t distance);

typedef struct flat_kernels {
    const char *name;
    /* out[i] = sum of c[i][k]^2 for nr rows of dim floats, stride ldc. */
    void (*sumsq)(const float *c, size_t nr, size_t ldc, size_t dim, float *out);
    /* out[i * ldo + j] = dot(q[i], c[j]) for nq x nr pairs. */
    void (*dots)(const float *q, size_t nq, size_t ldq, const float *c, size_t nr, size_t ldc,
                 size_t dim, float *out, size_t ldo);
    /* Hamming distances of nq packed queries against nr packed rows
     * (nbytes each): for every pair whose distance is below limit[i],
     * accept(ctx, i, j, distance) is called, rows in increasing order for
     * each query; accept may lower limit[i]. */
    void (*hamming_scan)(const uint8_t *q, size_t nq, const uint8_t *c, size_t nr,
                         size_t nbytes, uint32_t *limit, flat_accept_fn accept, void *ctx);
    /* v[i] /= den[i] for n floats (the cosine denominators). */
    void (*divide)(float *v, const float *den, size_t n);
    /* out[r][d] = base[d] + code(r, d) * step[d] for nr rows of dim codes
     * (int8 when is_signed, else uint8); see quantize.c. */
    void (*dequant)(const uint8_t *codes, size_t nr, size_t dim, int is_signed,
                    const float *base, const float *step, float *out);
} flat_kernels;

extern const flat_kernels flat_kernels_generic;
extern const flat_kernels flat_kernels_avx2;
extern const flat_kernels flat_kernels_avx512;

/* The fastest set this CPU runs. SEMBED_SEARCH_KERNEL=generic|avx2|avx512
 * in the environment forces one (tests, benchmarks); a set the CPU lacks
 * is never chosen. */
const flat_kernels *flat_kernels_pick(void);

/* The named set, or NULL when unknown or unsupported by this CPU. */
const flat_kernels *flat_kernels_by_name(const char *name);

#endif /* SEMBED_SEARCH_FLAT_H */
