/*
 * search_impl.h - the scan shared by exact search (search.c) and the
 * candidate pass over quantized corpora (quantize.c): stream the corpus in
 * cache-sized blocks over a thread pool, score each block against a chunk
 * of queries with the flat kernels, keep the best hits per query and
 * thread, then merge.
 */
#ifndef SEMBED_SEARCH_IMPL_H
#define SEMBED_SEARCH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "search/flat.h"
#include "sembed.h"

/* F.normalize's eps: norms below it are clamped to it. */
#define SEARCH_NORM_EPS 1e-12f

/* Most threads a search may use. */
#define SEARCH_MAX_THREADS 256

typedef enum scan_kind {
    SCAN_FLOAT = 0,   /* float32 rows; cosine or dot */
    SCAN_CODES8 = 1,  /* int8/uint8 codes, dequantized per block; cosine or dot */
    SCAN_BITS = 2     /* packed sign bits; score = dim - 2 * hamming */
} scan_kind;

typedef struct scan_corpus {
    scan_kind kind;
    size_t n;
    size_t dim;
    const float *rows;        /* SCAN_FLOAT */
    const uint8_t *codes;     /* SCAN_CODES8: n * dim; SCAN_BITS: n * nbytes */
    int is_signed;            /* SCAN_CODES8: int8 rather than uint8 */
    const float *base, *step; /* SCAN_CODES8 dequantization (dim each) */
    size_t nbytes;            /* SCAN_BITS: bytes per row */
} scan_corpus;

typedef struct scan_params {
    sembed_score score;       /* ignored for SCAN_BITS */
    size_t keep;              /* hits kept per query, 1 .. n */
    int n_threads;            /* resolved: >= 1 */
    size_t query_chunk;       /* >= 1 */
    size_t corpus_chunk;      /* >= 1 */
} scan_params;

/* Scores nq queries (float rows of dim, already normalized for cosine; or
 * packed bits for SCAN_BITS) against the corpus and writes each query's
 * best `keep` hits, best first, to out[q * out_stride]. A non-finite score
 * is an error naming the corpus row. */
sembed_status search_scan(const flat_kernels *k, const scan_corpus *c, const void *queries,
                          size_t nq, const scan_params *p, sembed_hit *out, size_t out_stride,
                          sembed_error *err);

/* Checks a params struct; fills the resolved thread count. */
sembed_status search_check_params(const sembed_search_params *p, int *n_threads,
                                  sembed_error *err);

/* Checks the shared arguments of the search entry points. */
sembed_status search_check_args(const float *queries, size_t nq, int dim, int top_k,
                                sembed_hit *hits, size_t hits_cap, size_t *n_hits,
                                sembed_error *err);

/* Copies nq query rows, L2-normalized as F.normalize does when cosine. */
sembed_status search_prepare_queries(const flat_kernels *k, const float *queries, size_t nq,
                                     size_t dim, sembed_score score, float **out,
                                     sembed_error *err);

/* The exact score of query q (prepared) against one float row. */
float search_exact_score(const flat_kernels *k, const float *q, const float *row, size_t dim,
                         sembed_score score);

/* First non-finite element of rows x dim floats: its row, or rows. */
size_t search_first_bad_row(const float *v, size_t rows, size_t dim, size_t *col);

#endif /* SEMBED_SEARCH_IMPL_H */
