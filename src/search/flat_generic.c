/*
 * flat_generic.c - the portable flat-search kernels (GCC vector extensions:
 * SSE2 on a baseline x86-64, NEON elsewhere). Used when the CPU has
 * neither AVX2 nor AVX-512, and as the reference the others are tested
 * against.
 */
#include <string.h>

#include "search/flat.h"

typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf vzero(void) { return (v4sf){0, 0, 0, 0}; }
static inline v4sf vload(const float *p) {
    v4sf v;
    memcpy(&v, p, sizeof v);
    return v;
}
/* Multiply then add, as two roundings: the file is built without FMA on
 * x86 and contraction stays off, so every use rounds the same way. */
static inline v4sf vfma(v4sf a, v4sf b, v4sf acc) {
    v4sf p = a * b;
    return acc + p;
}
static inline void vstore(float *p, v4sf v) { memcpy(p, &v, sizeof v); }
static inline float vhsum(v4sf v) { return (v[0] + v[2]) + (v[1] + v[3]); }

#define FK_SUFFIX generic
#define FK_NAME "generic"
#define VEC v4sf
#define VW 4
#define VZERO() vzero()
#define VLOAD(p) vload(p)
#define VFMA(a, b, acc) vfma(a, b, acc)
#define VDIV(a, b) ((a) / (b))
#define VSTORE(p, v) vstore(p, v)
#define VHSUM(v) vhsum(v)
#define QT 2
#define RT 4

#include "search/flat_kernel_impl.h"
