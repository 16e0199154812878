/*
 * hnsw.h - the internal side of the HNSW index: a thin extern "C" shim over
 * hnswlib's HierarchicalNSW (hnsw.cpp) and the inner-product distance
 * kernels it is given (hnsw_dist*.c), chosen for the CPU at run time.
 *
 * hnswlib picks its own SIMD distance at compile time, so a library built
 * for a baseline x86-64 would only ever use SSE. Giving it our own distance
 * function instead keeps hnsw.cpp baseline-safe and still uses AVX2 or
 * AVX-512 where the CPU has them.
 */
#ifndef SEMBED_HNSW_H
#define SEMBED_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

#ifdef __cplusplus
extern "C" {
#endif

/* hnswlib's distance signature: a, b and a pointer to the size_t length.
 * Ours return 1 - <a, b>, as hnswlib's inner-product space does. */
typedef float (*hnsw_distfunc)(const void *a, const void *b, const void *dim_ptr);

float hnsw_ip_distance_sse(const void *a, const void *b, const void *dim_ptr);
float hnsw_ip_distance_avx2(const void *a, const void *b, const void *dim_ptr);
float hnsw_ip_distance_avx512(const void *a, const void *b, const void *dim_ptr);

/* The kernel for this CPU and its name: "avx2" where the CPU has AVX2 and
 * FMA, else "avx512" where it has only AVX-512F, else "sse".
 * SEMBED_HNSW_KERNEL=sse|avx2|avx512 in the environment asks for one (for
 * tests and benchmarks); a kernel the CPU lacks is never chosen. */
hnsw_distfunc hnsw_distance_pick(const char **name);

/* Reads or writes exactly n bytes; returns 0 on success. */
typedef int (*hnsw_io_fn)(void *ctx, void *buf, size_t n);

typedef struct hnsw_graph hnsw_graph;

/* Each function that can fail writes a one-line reason into msg (cap
 * bytes) and returns NULL or non-zero; none lets a C++ exception out. */
hnsw_graph *hnsw_graph_new(size_t dim, size_t capacity, size_t M, size_t ef_construction,
                           uint32_t seed, hnsw_distfunc dist, char *msg, size_t cap);
void hnsw_graph_free(hnsw_graph *g);

size_t hnsw_graph_count(const hnsw_graph *g);
size_t hnsw_graph_M(const hnsw_graph *g);
size_t hnsw_graph_ef_construction(const hnsw_graph *g);

/* Grows the capacity to at least n elements. Not concurrent with add. */
int hnsw_graph_reserve(hnsw_graph *g, size_t n, char *msg, size_t cap);
/* 1 when label is in the graph. Not concurrent with add. */
int hnsw_graph_has_label(const hnsw_graph *g, uint64_t label);
/* Inserts one vector; any number of threads may add at once. */
int hnsw_graph_add(hnsw_graph *g, const float *vec, uint64_t label, char *msg, size_t cap);

/* The k nearest (at most k; fewer when the graph is smaller) with a
 * candidate list of ef, nearest first: labels, distances and the stored
 * vectors. Thread-safe against other searches. */
int hnsw_graph_search(const hnsw_graph *g, const float *query, size_t k, size_t ef,
                      uint64_t *labels, float *dists, const float **vectors, size_t *n,
                      char *msg, size_t cap);

/* 1 when the labels are exactly 0 .. n - 1 (each once, none deleted). */
int hnsw_graph_labels_dense(const hnsw_graph *g, uint64_t n);

/* Writes the graph in hnswlib's saveIndex() format. */
int hnsw_graph_write(const hnsw_graph *g, hnsw_io_fn write, void *ctx, char *msg, size_t cap);

/* Reads hnswlib's format, checking every field and link before the graph
 * can be searched: sizes against file_size and dim, neighbour ids against
 * the element count, link levels against the neighbour's level. */
hnsw_graph *hnsw_graph_read(hnsw_io_fn read, void *ctx, uint64_t file_size, size_t dim,
                            size_t max_M, hnsw_distfunc dist, char *msg, size_t cap);

/* 1 when the index labels exactly 0 .. n - 1 (the store checks that an
 * index it loads covers its rows and nothing else). */
int hnsw_index_labels_dense(const sembed_hnsw *index, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* SEMBED_HNSW_H */
