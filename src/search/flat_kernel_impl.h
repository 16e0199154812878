/*
 * flat_kernel_impl.h - the body of one flat-search kernel set, included by
 * flat_generic.c, flat_avx2.c and flat_avx512.c after they define:
 *
 *   FK_SUFFIX          name suffix (generic, avx2, avx512)
 *   VEC, VW            vector type and its float count
 *   VZERO(), VLOAD(p)  zero vector, unaligned load
 *   VFMA(a, b, acc)    a * b + acc, rounded the same way in every use
 *   VDIV(a, b)         lane-wise a / b (correctly rounded, as scalar division)
 *   VSTORE(p, v)       unaligned store
 *   VHSUM(v)           sum of the lanes in a fixed order
 *   QT, RT             register tile: queries x rows per inner loop
 *
 * Every pair (query, row) is accumulated lane-wise over full vectors, the
 * lanes summed in a fixed order, and the leftover dim % VW elements added
 * one by one; nothing in that sequence depends on the tile the pair is in.
 */
#include <string.h>

#define FK_CAT2(a, b) a##_##b
#define FK_CAT(a, b) FK_CAT2(a, b)
#define FK(name) FK_CAT(name, FK_SUFFIX)

#define FK_INLINE static inline __attribute__((always_inline))

FK_INLINE void FK(tile)(const float *restrict q, size_t ldq, const float *restrict c,
                        size_t ldc, size_t dim, float *restrict out, size_t ldo, const int qt,
                        const int rt) {
    VEC acc[4][4]; /* only [qt][rt] is used */
#pragma GCC unroll 8
    for (int i = 0; i < qt; i++)
#pragma GCC unroll 8
        for (int j = 0; j < rt; j++)
            acc[i][j] = VZERO();
    size_t k = 0;
    for (; k + VW <= dim; k += VW) {
        VEC cv[4];
#pragma GCC unroll 8
        for (int j = 0; j < rt; j++)
            cv[j] = VLOAD(c + (size_t)j * ldc + k);
#pragma GCC unroll 8
        for (int i = 0; i < qt; i++) {
            VEC qv = VLOAD(q + (size_t)i * ldq + k);
#pragma GCC unroll 8
            for (int j = 0; j < rt; j++)
                acc[i][j] = VFMA(qv, cv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < qt; i++)
#pragma GCC unroll 8
        for (int j = 0; j < rt; j++) {
            float s = VHSUM(acc[i][j]);
            for (size_t kk = k; kk < dim; kk++)
                s += q[(size_t)i * ldq + kk] * c[(size_t)j * ldc + kk];
            out[(size_t)i * ldo + j] = s;
        }
}

/* One specialization per tile shape, so that the accumulators live in
 * registers. */
#define FK_TILE_FN(a, b)                                                                     \
    static void FK_CAT(FK(tile), a##x##b)(const float *q, size_t ldq, const float *c,       \
                                          size_t ldc, size_t dim, float *out, size_t ldo) { \
        FK(tile)(q, ldq, c, ldc, dim, out, ldo, a, b);                                       \
    }

FK_TILE_FN(1, 1)
FK_TILE_FN(2, 1)
FK_TILE_FN(3, 1)
FK_TILE_FN(4, 1)
FK_TILE_FN(1, 4)
FK_TILE_FN(2, 4)
FK_TILE_FN(3, 4)
FK_TILE_FN(4, 4)

typedef void (*FK(tile_fn))(const float *, size_t, const float *, size_t, size_t, float *,
                            size_t);

static void FK(dots)(const float *q, size_t nq, size_t ldq, const float *c, size_t nr,
                     size_t ldc, size_t dim, float *out, size_t ldo) {
    /* [queries in the tile - 1][rows in the tile == RT] */
    static const FK(tile_fn) full[4] = {FK_CAT(FK(tile), 1x4), FK_CAT(FK(tile), 2x4),
                                        FK_CAT(FK(tile), 3x4), FK_CAT(FK(tile), 4x4)};
    static const FK(tile_fn) single[4] = {FK_CAT(FK(tile), 1x1), FK_CAT(FK(tile), 2x1),
                                          FK_CAT(FK(tile), 3x1), FK_CAT(FK(tile), 4x1)};
    _Static_assert(QT <= 4 && RT == 4, "tile tables assume QT <= 4 and RT == 4");
    size_t j = 0;
    for (; j + RT <= nr; j += RT)
        for (size_t i = 0; i < nq; i += QT) {
            size_t m = nq - i < QT ? nq - i : QT;
            full[m - 1](q + i * ldq, ldq, c + j * ldc, ldc, dim, out + i * ldo + j, ldo);
        }
    for (; j < nr; j++)
        for (size_t i = 0; i < nq; i += QT) {
            size_t m = nq - i < QT ? nq - i : QT;
            single[m - 1](q + i * ldq, ldq, c + j * ldc, ldc, dim, out + i * ldo + j, ldo);
        }
}

static void FK(sumsq)(const float *c, size_t nr, size_t ldc, size_t dim, float *out) {
    for (size_t j = 0; j < nr; j++) {
        const float *r = c + j * ldc;
        VEC acc = VZERO();
        size_t k = 0;
        for (; k + VW <= dim; k += VW) {
            VEC v = VLOAD(r + k);
            acc = VFMA(v, v, acc);
        }
        float s = VHSUM(acc);
        for (; k < dim; k++)
            s += r[k] * r[k];
        out[j] = s;
    }
}

static void FK(divide)(float *v, const float *den, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        VSTORE(v + i, VDIV(VLOAD(v + i), VLOAD(den + i)));
    for (; i < n; i++)
        v[i] /= den[i];
}

static inline uint64_t FK(load64)(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Portable Hamming scan: four queries share each row's loads. */
static void FK(hamming_scan_portable)(const uint8_t *q, size_t nq, const uint8_t *c, size_t nr,
                                      size_t nbytes, uint32_t *limit, flat_accept_fn accept,
                                      void *ctx) {
    size_t words = nbytes / 8;
    for (size_t i0 = 0; i0 < nq; i0 += 4) {
        size_t m = nq - i0 < 4 ? nq - i0 : 4;
        const uint8_t *qs[4];
        for (size_t i = 0; i < 4; i++)
            qs[i] = q + (i0 + (i < m ? i : 0)) * nbytes;
        for (size_t j = 0; j < nr; j++) {
            const uint8_t *r = c + j * nbytes;
            uint32_t a[4] = {0, 0, 0, 0};
            for (size_t w = 0; w < words; w++) {
                uint64_t x = FK(load64)(r + 8 * w);
                a[0] += (uint32_t)__builtin_popcountll(x ^ FK(load64)(qs[0] + 8 * w));
                a[1] += (uint32_t)__builtin_popcountll(x ^ FK(load64)(qs[1] + 8 * w));
                a[2] += (uint32_t)__builtin_popcountll(x ^ FK(load64)(qs[2] + 8 * w));
                a[3] += (uint32_t)__builtin_popcountll(x ^ FK(load64)(qs[3] + 8 * w));
            }
            for (size_t b = words * 8; b < nbytes; b++)
                for (size_t i = 0; i < 4; i++)
                    a[i] += (uint32_t)__builtin_popcount((unsigned)(r[b] ^ qs[i][b]));
            for (size_t i = 0; i < m; i++)
                if (a[i] < limit[i0 + i])
                    accept(ctx, i0 + i, j, a[i]);
        }
    }
}

#ifndef FK_HAMMING_SCAN
#define FK_HAMMING_SCAN FK(hamming_scan_portable)
#endif

static void FK(dequant)(const uint8_t *codes, size_t nr, size_t dim, int is_signed,
                        const float *base, const float *step, float *out) {
    for (size_t r = 0; r < nr; r++) {
        const uint8_t *cr = codes + r * dim;
        float *o = out + r * dim;
        if (is_signed)
            for (size_t d = 0; d < dim; d++)
                o[d] = base[d] + (float)(int8_t)cr[d] * step[d];
        else
            for (size_t d = 0; d < dim; d++)
                o[d] = base[d] + (float)cr[d] * step[d];
    }
}

const flat_kernels FK(flat_kernels) = {
    .name = FK_NAME,
    .sumsq = FK(sumsq),
    .dots = FK(dots),
    .hamming_scan = FK_HAMMING_SCAN,
    .divide = FK(divide),
    .dequant = FK(dequant),
};
