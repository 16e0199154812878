/*
 * test_search.c - exact and quantized search (src/search) on synthetic
 * data, checked against a double-precision brute-force oracle written
 * here: scores, ranking, ties, the bad-input cases (k = 0, k > n, NaN,
 * zero vectors, empty corpus), independence from threads and chunk sizes,
 * agreement of the kernel sets, and quantization semantics.
 * Needs no reference material.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "search/flat.h"
#include "search/search_impl.h"
#include "sembed.h"

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Roughly normal values (sum of uniforms), so that dot products vary. */
static float rng_normal(void) {
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += (double)(rng_next() >> 11) / 9007199254740992.0;
    return (float)((s - 2.0) * 1.7);
}

static float *random_matrix(size_t rows, size_t dim) {
    float *m = malloc(rows * dim * sizeof(float) + 1);
    assert_non_null(m);
    for (size_t i = 0; i < rows * dim; i++)
        m[i] = rng_normal();
    return m;
}

/* The oracle: double-precision cosine or dot of query q and row r. */
static double oracle(const float *q, const float *r, size_t dim, sembed_score score) {
    double dot = 0, nq = 0, nr = 0;
    for (size_t i = 0; i < dim; i++) {
        dot += (double)q[i] * r[i];
        nq += (double)q[i] * q[i];
        nr += (double)r[i] * r[i];
    }
    if (score == SEMBED_SCORE_DOT)
        return dot;
    return dot / (fmax(sqrt(nq), 1e-12) * fmax(sqrt(nr), 1e-12));
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

/* Checks the hits of every query against the oracle: each hit's score is
 * its oracle score (within tol), the k-th best oracle scores match rank by
 * rank, and the order is best first with ties to the lower id. */
static void check_against_oracle(const float *queries, size_t nq, const float *corpus,
                                 size_t n, size_t dim, sembed_score score, int top_k,
                                 const sembed_hit *hits, const size_t *n_hits, double tol) {
    double *all = malloc(n * sizeof *all + 1);
    assert_non_null(all);
    for (size_t q = 0; q < nq; q++) {
        size_t want = (size_t)top_k < n ? (size_t)top_k : n;
        assert_int_equal(n_hits[q], want);
        for (size_t r = 0; r < n; r++)
            all[r] = oracle(queries + q * dim, corpus + r * dim, dim, score);
        qsort(all, n, sizeof *all, cmp_desc);
        for (size_t i = 0; i < want; i++) {
            const sembed_hit *h = &hits[q * (size_t)top_k + i];
            assert_true(h->corpus_id >= 0 && (size_t)h->corpus_id < n);
            double o = oracle(queries + q * dim, corpus + (size_t)h->corpus_id * dim, dim, score);
            if (fabs(h->score - o) > tol || fabs(h->score - all[i]) > tol)
                fail_msg("query %zu rank %zu: id %lld score %.9g, oracle %.9g, k-th best %.9g",
                         q, i, (long long)h->corpus_id, h->score, o, all[i]);
            if (i > 0) {
                const sembed_hit *p = h - 1;
                assert_true(p->score > h->score ||
                            (p->score == h->score && p->corpus_id < h->corpus_id));
            }
        }
    }
    free(all);
}

/* ---- exact search ------------------------------------------------------------ */

static void test_defaults(void **state) {
    (void)state;
    sembed_search_params p = sembed_search_default_params();
    assert_int_equal(p.top_k, 10);
    assert_int_equal(p.score, SEMBED_SCORE_COSINE);
    assert_int_equal(p.n_threads, 0);
    assert_int_equal(p.query_chunk_size, 100);
    assert_int_equal(p.corpus_chunk_size, 500000);
    assert_int_equal(p.precision, SEMBED_PRECISION_FLOAT32);
    assert_int_equal(p.rescore, 1);
    assert_int_equal(p.rescore_multiplier, 2);
    assert_null(p.ranges);
}

static void run_oracle_case(size_t n, size_t nq, size_t dim, sembed_score score, int top_k,
                            int threads) {
    float *corpus = random_matrix(n, dim), *queries = random_matrix(nq, dim);
    sembed_hit *hits = calloc(nq * (size_t)top_k, sizeof *hits);
    size_t *n_hits = calloc(nq, sizeof *n_hits);
    sembed_search_params p = sembed_search_default_params();
    p.top_k = top_k;
    p.score = score;
    p.n_threads = threads;
    sembed_error err;
    assert_int_equal(sembed_search(queries, nq, corpus, n, (int)dim, &p, hits,
                                   nq * (size_t)top_k, n_hits, &err),
                     SEMBED_OK);
    /* Dot products of unnormalized rows are larger: scale the tolerance. */
    double tol = score == SEMBED_SCORE_COSINE ? 2e-6 : 2e-5 * (double)dim;
    check_against_oracle(queries, nq, corpus, n, dim, score, top_k, hits, n_hits, tol);
    free(corpus);
    free(queries);
    free(hits);
    free(n_hits);
}

static void test_cosine_matches_oracle(void **state) {
    (void)state;
    run_oracle_case(3000, 37, 45, SEMBED_SCORE_COSINE, 10, 2); /* dim with a tail */
    run_oracle_case(2000, 5, 384, SEMBED_SCORE_COSINE, 7, 1);
    run_oracle_case(517, 101, 16, SEMBED_SCORE_COSINE, 3, 3);
}

static void test_dot_matches_oracle(void **state) {
    (void)state;
    run_oracle_case(1500, 9, 33, SEMBED_SCORE_DOT, 10, 2);
}

/* The same bytes out for any thread count, query chunk or corpus chunk. */
static void run_invariance(size_t dim) {
    const size_t n = 1999, nq = 23;
    const int k = 12;
    float *corpus = random_matrix(n, dim), *queries = random_matrix(nq, dim);
    /* Duplicates make ties that the order must settle the same way. */
    memcpy(corpus + 1500 * dim, corpus + 7 * dim, dim * sizeof(float));
    memcpy(corpus + 3 * dim, corpus + 7 * dim, dim * sizeof(float));
    sembed_hit *ref = calloc(nq * k, sizeof *ref), *got = calloc(nq * k, sizeof *got);
    size_t n_ref[23], n_got[23];
    const int threads[] = {1, 2, 3, 8};
    const size_t qchunks[] = {1, 7, 100};
    const size_t cchunks[] = {1, 13, 500000};
    /* Exact search and the quantized candidate passes alike. */
    const sembed_precision precs[] = {SEMBED_PRECISION_FLOAT32, SEMBED_PRECISION_INT8,
                                      SEMBED_PRECISION_BINARY};
    for (int pi = 0; pi < 3; pi++) {
        sembed_search_params p = sembed_search_default_params();
        p.top_k = k;
        p.n_threads = 1;
        p.precision = precs[pi];
        assert_int_equal(sembed_search(queries, nq, corpus, n, dim, &p, ref, nq * k, n_ref, NULL),
                         0);
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 3; b++)
                for (size_t c = 0; c < 3; c++) {
                    p.n_threads = threads[a];
                    p.query_chunk_size = qchunks[b];
                    p.corpus_chunk_size = cchunks[c];
                    memset(got, 0xAB, nq * k * sizeof *got);
                    assert_int_equal(
                        sembed_search(queries, nq, corpus, n, dim, &p, got, nq * k, n_got, NULL),
                        0);
                    assert_memory_equal(n_got, n_ref, sizeof n_ref);
                    for (size_t i = 0; i < nq * k; i++) {
                        assert_int_equal(got[i].corpus_id, ref[i].corpus_id);
                        assert_true(got[i].score == ref[i].score);
                    }
                }
    }
    free(corpus);
    free(queries);
    free(ref);
    free(got);
}

static void test_invariance(void **state) {
    (void)state;
    run_invariance(40); /* float tails; binary rows of 5 bytes */
    run_invariance(64); /* whole 64-bit words: the VPOPCNTQ scan where there is one */
}

static void test_ties_go_to_lower_id(void **state) {
    (void)state;
    const size_t dim = 8, n = 12;
    float corpus[12 * 8];
    for (size_t i = 0; i < n * dim; i++)
        corpus[i] = (float)((i * 7) % 5) - 2.0f;
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* Rows 9, 2 and 5 are the query itself (score 1), added out of order. */
    memcpy(corpus + 9 * dim, q, sizeof q);
    memcpy(corpus + 2 * dim, q, sizeof q);
    memcpy(corpus + 5 * dim, q, sizeof q);
    sembed_hit hits[3];
    size_t nh;
    sembed_search_params p = sembed_search_default_params();
    for (int threads = 1; threads <= 3; threads++) {
        p.n_threads = threads;
        p.corpus_chunk_size = 1;
        p.top_k = 3;
        assert_int_equal(sembed_search(q, 1, corpus, n, dim, &p, hits, 3, &nh, NULL), 0);
        assert_int_equal(nh, 3);
        assert_int_equal(hits[0].corpus_id, 2);
        assert_int_equal(hits[1].corpus_id, 5);
        assert_int_equal(hits[2].corpus_id, 9);
        assert_true(hits[0].score == hits[1].score && hits[1].score == hits[2].score);
        /* At the cut-off the lower ids stay. */
        p.top_k = 2;
        assert_int_equal(sembed_search(q, 1, corpus, n, dim, &p, hits, 2, &nh, NULL), 0);
        assert_int_equal(hits[0].corpus_id, 2);
        assert_int_equal(hits[1].corpus_id, 5);
    }
}

static void test_k_bounds(void **state) {
    (void)state;
    float corpus[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0};
    float q[4] = {1, 0.5f, 0, 0};
    sembed_hit hits[10];
    size_t nh = 99;
    sembed_error err;
    sembed_search_params p = sembed_search_default_params();
    /* k = 0 and k < 0: a clear error. */
    p.top_k = 0;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 10, &nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "top_k"));
    p.top_k = -1;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 10, &nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* k > n: all n rows, best first. */
    p.top_k = 10;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 10, &nh, &err), SEMBED_OK);
    assert_int_equal(nh, 3);
    assert_int_equal(hits[0].corpus_id, 2); /* (1,1) is closest to (1,.5) */
    assert_int_equal(hits[1].corpus_id, 0);
    assert_int_equal(hits[2].corpus_id, 1);
    /* k = n exactly, and k = 1. */
    p.top_k = 3;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 3, &nh, &err), SEMBED_OK);
    assert_int_equal(nh, 3);
    p.top_k = 1;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 1, &nh, &err), SEMBED_OK);
    assert_int_equal(nh, 1);
    assert_int_equal(hits[0].corpus_id, 2);
    /* The hits buffer must hold n_queries * top_k. */
    p.top_k = 5;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 4, &nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "hits"));
}

static void test_bad_values(void **state) {
    (void)state;
    float corpus[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    float q[2 * 3] = {1, 0, 0, 0, 1, 0};
    sembed_hit hits[4];
    size_t nh[2];
    sembed_error err;
    sembed_search_params p = sembed_search_default_params();
    p.top_k = 2;
    /* NaN in a query names the query row. */
    q[4] = NAN;
    assert_int_equal(sembed_search(q, 2, corpus, 4, 3, &p, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "query row 1"));
    assert_non_null(strstr(err.message, "NaN"));
    q[4] = INFINITY;
    assert_int_equal(sembed_search(q, 2, corpus, 4, 3, &p, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "infinite"));
    q[4] = 1;
    /* NaN or infinity in the corpus names the corpus row, for both scores
     * and for the quantized passes. */
    const sembed_precision precs[] = {SEMBED_PRECISION_FLOAT32, SEMBED_PRECISION_INT8,
                                      SEMBED_PRECISION_BINARY};
    for (int s = 0; s < 2; s++)
        for (int pr = 0; pr < 3; pr++) {
            p.score = s ? SEMBED_SCORE_DOT : SEMBED_SCORE_COSINE;
            p.precision = precs[pr];
            corpus[2 * 3 + 1] = NAN;
            assert_int_equal(sembed_search(q, 2, corpus, 4, 3, &p, hits, 4, nh, &err),
                             SEMBED_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(err.message, "corpus row 2"));
            corpus[2 * 3 + 1] = -INFINITY;
            assert_int_equal(sembed_search(q, 2, corpus, 4, 3, &p, hits, 4, nh, &err),
                             SEMBED_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(err.message, "corpus row 2"));
            corpus[2 * 3 + 1] = 0;
        }
    /* Finite values whose dot product overflows float32. */
    p.precision = SEMBED_PRECISION_FLOAT32;
    p.score = SEMBED_SCORE_DOT;
    float big[3] = {3e38f, 3e38f, 0};
    assert_int_equal(sembed_search(big, 1, big, 1, 3, &p, hits, 2, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "overflows"));
    /* Bad dims and arguments. */
    p = sembed_search_default_params();
    assert_int_equal(sembed_search(q, 1, corpus, 4, 0, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_search(q, 1, NULL, 4, 3, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p.n_threads = 257;
    assert_int_equal(sembed_search(q, 1, corpus, 4, 3, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_search_default_params();
    p.query_chunk_size = 0;
    assert_int_equal(sembed_search(q, 1, corpus, 4, 3, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_search_default_params();
    p.score = (sembed_score)7;
    assert_int_equal(sembed_search(q, 1, corpus, 4, 3, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_search_default_params();
    p.rescore_multiplier = 0;
    assert_int_equal(sembed_search(q, 1, corpus, 4, 3, &p, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_search(q, 1, corpus, 4, 3, NULL, hits, 10, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
}

/* A zero vector scores 0 under cosine (F.normalize leaves it zero). */
static void test_zero_vectors(void **state) {
    (void)state;
    float corpus[3 * 4] = {0, 0, 0, 0, 1, 2, 3, 4, -1, -2, -3, -4};
    float q[4] = {1, 2, 3, 4};
    float zero[4] = {0, 0, 0, 0};
    sembed_hit hits[3];
    size_t nh;
    sembed_search_params p = sembed_search_default_params();
    p.top_k = 3;
    assert_int_equal(sembed_search(q, 1, corpus, 3, 4, &p, hits, 3, &nh, NULL), SEMBED_OK);
    assert_int_equal(hits[0].corpus_id, 1);
    assert_true(fabsf(hits[0].score - 1.0f) < 1e-6f);
    assert_int_equal(hits[1].corpus_id, 0);
    assert_true(hits[1].score == 0.0f);
    assert_int_equal(hits[2].corpus_id, 2);
    assert_true(fabsf(hits[2].score + 1.0f) < 1e-6f);
    /* A zero query ties everything at 0: the lowest ids win. */
    assert_int_equal(sembed_search(zero, 1, corpus, 3, 4, &p, hits, 3, &nh, NULL), SEMBED_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hits[i].corpus_id, i);
        assert_true(hits[i].score == 0.0f);
    }
}

static void test_empty_inputs(void **state) {
    (void)state;
    float q[2 * 4] = {1, 2, 3, 4, 4, 3, 2, 1};
    sembed_hit hits[10];
    size_t nh[2] = {7, 7};
    sembed_search_params p = sembed_search_default_params();
    /* An empty corpus: every query gets an empty hit list. */
    assert_int_equal(sembed_search(q, 2, NULL, 0, 4, &p, hits, 20, nh, NULL), SEMBED_OK);
    assert_int_equal(nh[0], 0);
    assert_int_equal(nh[1], 0);
    p.precision = SEMBED_PRECISION_BINARY;
    nh[0] = nh[1] = 7;
    assert_int_equal(sembed_search(q, 2, NULL, 0, 4, &p, hits, 20, nh, NULL), SEMBED_OK);
    assert_int_equal(nh[0] + nh[1], 0);
    /* No queries: nothing to do. */
    p = sembed_search_default_params();
    assert_int_equal(sembed_search(NULL, 0, q, 2, 4, &p, NULL, 0, NULL, NULL), SEMBED_OK);
}

/* Every kernel set the CPU runs agrees with the oracle, and within a set
 * a pair's score does not depend on the tile it is computed in. */
static void test_kernel_sets(void **state) {
    (void)state;
    const char *names[] = {"generic", "avx2", "avx512"};
    const size_t nq = 7, nr = 13, dims[] = {1, 5, 16, 45, 384};
    for (size_t di = 0; di < 5; di++) {
        size_t dim = dims[di];
        float *q = random_matrix(nq, dim), *c = random_matrix(nr, dim);
        for (int s = 0; s < 3; s++) {
            const flat_kernels *k = flat_kernels_by_name(names[s]);
            if (!k)
                continue; /* not on this CPU */
            float block[7 * 13], one, ss[13];
            k->dots(q, nq, dim, c, nr, dim, dim, block, nr);
            k->sumsq(c, nr, dim, dim, ss);
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < nr; j++) {
                    k->dots(q + i * dim, 1, dim, c + j * dim, 1, dim, dim, &one, 1);
                    assert_true(one == block[i * nr + j]);
                    double o = oracle(q + i * dim, c + j * dim, dim, SEMBED_SCORE_DOT);
                    assert_true(fabs(o - block[i * nr + j]) < 1e-5 * (double)dim);
                }
            for (size_t j = 0; j < nr; j++) {
                double o = oracle(c + j * dim, c + j * dim, dim, SEMBED_SCORE_DOT);
                assert_true(fabs(o - ss[j]) < 1e-5 * (double)dim);
            }
        }
        free(q);
        free(c);
    }
    assert_non_null(flat_kernels_by_name("generic"));
    assert_null(flat_kernels_by_name("sse9"));
}

/* Records what hamming_scan lets through; with limits, lowers them the way
 * a full heap would. */
typedef struct scan_log {
    uint32_t dist[11][9];
    int seen[11][9];
    int lower;
    uint32_t *limit;
} scan_log;

static void log_accept(void *ctx, size_t q, size_t row, uint32_t d) {
    scan_log *l = ctx;
    assert_true(q < 11 && row < 9);
    assert_false(l->seen[q][row]);
    l->seen[q][row] = 1;
    l->dist[q][row] = d;
    if (l->lower)
        l->limit[q] = d; /* from now on only strictly closer rows */
}

static void test_hamming_scan(void **state) {
    (void)state;
    const char *names[] = {"generic", "avx2", "avx512"};
    /* Row sizes: tails, whole words (the VPOPCNTQ path) and more words
     * than it holds in registers. */
    const size_t sizes[] = {1, 5, 8, 48, 264};
    const size_t nq = 11, nr = 9;
    for (size_t si = 0; si < 5; si++) {
        size_t nb = sizes[si];
        uint8_t *q = malloc(nq * nb), *c = malloc(nr * nb);
        for (size_t i = 0; i < nq * nb; i++)
            q[i] = (uint8_t)rng_next();
        for (size_t i = 0; i < nr * nb; i++)
            c[i] = (uint8_t)rng_next();
        for (int s = 0; s < 3; s++) {
            const flat_kernels *k = flat_kernels_by_name(names[s]);
            if (!k)
                continue;
            scan_log l;
            memset(&l, 0, sizeof l);
            uint32_t limit[11];
            for (size_t i = 0; i < nq; i++)
                limit[i] = UINT32_MAX;
            l.limit = limit;
            k->hamming_scan(q, nq, c, nr, nb, limit, log_accept, &l);
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < nr; j++) {
                    uint32_t want = 0;
                    for (size_t b = 0; b < nb; b++)
                        want += (uint32_t)__builtin_popcount(q[i * nb + b] ^ c[j * nb + b]);
                    assert_true(l.seen[i][j]);
                    assert_int_equal(l.dist[i][j], want);
                }
            /* With limits that drop to each accepted distance, exactly the
             * running minima (in row order) come through. */
            memset(&l, 0, sizeof l);
            l.lower = 1;
            l.limit = limit;
            for (size_t i = 0; i < nq; i++)
                limit[i] = UINT32_MAX;
            k->hamming_scan(q, nq, c, nr, nb, limit, log_accept, &l);
            for (size_t i = 0; i < nq; i++) {
                uint32_t best = UINT32_MAX;
                for (size_t j = 0; j < nr; j++) {
                    uint32_t d = 0;
                    for (size_t b = 0; b < nb; b++)
                        d += (uint32_t)__builtin_popcount(q[i * nb + b] ^ c[j * nb + b]);
                    assert_int_equal(l.seen[i][j], d < best);
                    if (d < best)
                        best = d;
                }
            }
        }
        free(q);
        free(c);
    }
}

/* ---- quantization ---------------------------------------------------------- */

static void test_precision_names(void **state) {
    (void)state;
    const char *names[] = {"float32", "int8", "uint8", "binary", "ubinary"};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(sembed_precision_name((sembed_precision)i), names[i]);
        assert_int_equal(sembed_precision_from_name(names[i]), i);
    }
    assert_int_equal(sembed_precision_from_name("int4"), -1);
    assert_null(sembed_precision_name((sembed_precision)9));
    assert_int_equal(sembed_quantized_row_bytes(SEMBED_PRECISION_FLOAT32, 384), 1536);
    assert_int_equal(sembed_quantized_row_bytes(SEMBED_PRECISION_INT8, 384), 384);
    assert_int_equal(sembed_quantized_row_bytes(SEMBED_PRECISION_BINARY, 384), 48);
    assert_int_equal(sembed_quantized_row_bytes(SEMBED_PRECISION_UBINARY, 10), 2);
    assert_int_equal(sembed_quantized_row_bytes(SEMBED_PRECISION_INT8, 0), 0);
}

/* packbits order: the first value is the most significant bit; a dim that
 * is not a multiple of 8 pads the row's last byte with zero bits. */
static void test_binary_packing(void **state) {
    (void)state;
    const float v[2 * 10] = {1, -1, 0, 2, -0.0f, 3, -3, 0.5f, 7, 7,
                             -1, -1, -1, -1, -1, -1, -1, -1, -1, 1e-30f};
    uint8_t ub[4];
    int8_t b[4];
    assert_int_equal(sembed_quantize(v, 2, 10, SEMBED_PRECISION_UBINARY, NULL, ub, 4, NULL), 0);
    assert_int_equal(ub[0], 0x95); /* 1001 0101 */
    assert_int_equal(ub[1], 0xC0); /* 11 + padding */
    assert_int_equal(ub[2], 0x00);
    assert_int_equal(ub[3], 0x40);
    assert_int_equal(sembed_quantize(v, 2, 10, SEMBED_PRECISION_BINARY, NULL, b, 4, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(b[i], (int)ub[i] - 128);
    /* The output must be large enough. */
    assert_int_equal(sembed_quantize(v, 2, 10, SEMBED_PRECISION_BINARY, NULL, b, 3, NULL),
                     SEMBED_ERR_INVALID_ARGUMENT);
}

/* int8/uint8 buckets as sentence-transformers 6: floor((x - min) / step)
 * clipped to 0 .. 255, so values outside the ranges saturate. */
static void test_scalar_quantization(void **state) {
    (void)state;
    /* ranges 0 .. 255 make steps exactly 1: the bucket is floor(x). */
    const float ranges[2 * 6] = {0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255};
    const float v[6] = {0.0f, 127.9f, 255.0f, 300.0f, -1.5f, 1e10f};
    int8_t i8[6];
    uint8_t u8[6];
    assert_int_equal(sembed_quantize(v, 1, 6, SEMBED_PRECISION_INT8, ranges, i8, 6, NULL), 0);
    assert_int_equal(sembed_quantize(v, 1, 6, SEMBED_PRECISION_UINT8, ranges, u8, 6, NULL), 0);
    const int want_u8[6] = {0, 127, 255, 255, 0, 255};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(u8[i], want_u8[i]);
        assert_int_equal(i8[i], want_u8[i] - 128);
    }
    /* An empty range (max == min) gets the step 1: its value is bucket 0. */
    const float flat_ranges[2] = {0.25f, 0.25f};
    const float fv[3] = {0.25f, 0.75f, 2.5f};
    uint8_t fb[3];
    assert_int_equal(sembed_quantize(fv, 3, 1, SEMBED_PRECISION_UINT8, flat_ranges, fb, 3, NULL),
                     0);
    assert_int_equal(fb[0], 0);
    assert_int_equal(fb[1], 0);
    assert_int_equal(fb[2], 2);
    /* Self-calibrated: each dimension's minimum maps to the first bucket,
     * and the codes never decrease as the value grows. */
    const size_t n = 50, dim = 3;
    float *m = random_matrix(n, dim);
    int8_t *codes = malloc(n * dim);
    float r[6];
    assert_int_equal(sembed_quantize_ranges(m, n, dim, r, NULL), 0);
    assert_int_equal(sembed_quantize(m, n, dim, SEMBED_PRECISION_INT8, NULL, codes, n * dim, NULL),
                     0);
    for (size_t d = 0; d < dim; d++)
        for (size_t i = 0; i < n; i++) {
            if (m[i * dim + d] == r[d])
                assert_int_equal(codes[i * dim + d], -128);
            for (size_t j = 0; j < n; j++)
                if (m[i * dim + d] < m[j * dim + d])
                    assert_true(codes[i * dim + d] <= codes[j * dim + d]);
        }
    free(m);
    free(codes);
    /* Bad input. */
    float nan_row[3] = {1, NAN, 2};
    sembed_error err;
    assert_int_equal(sembed_quantize(nan_row, 1, 3, SEMBED_PRECISION_INT8, NULL, i8, 6, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "row 0, column 1"));
    assert_int_equal(sembed_quantize_ranges(v, 0, 6, r, &err), SEMBED_ERR_INVALID_ARGUMENT);
    float bad_ranges[12];
    memcpy(bad_ranges, ranges, sizeof bad_ranges);
    bad_ranges[7] = INFINITY;
    assert_int_equal(sembed_quantize(v, 1, 6, SEMBED_PRECISION_INT8, bad_ranges, i8, 6, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
}

/* With every row a candidate, rescoring gives exactly the exact search. */
static void test_quantized_full_rescore_is_exact(void **state) {
    (void)state;
    const size_t n = 300, nq = 11, dim = 24;
    const int k = 6;
    float *corpus = random_matrix(n, dim), *queries = random_matrix(nq, dim);
    sembed_hit exact[11 * 6], got[11 * 6];
    size_t ne[11], ng[11];
    sembed_search_params p = sembed_search_default_params();
    p.top_k = k;
    for (int s = 0; s < 2; s++) {
        p.score = s ? SEMBED_SCORE_DOT : SEMBED_SCORE_COSINE;
        p.precision = SEMBED_PRECISION_FLOAT32;
        assert_int_equal(sembed_search(queries, nq, corpus, n, dim, &p, exact, nq * k, ne, NULL),
                         0);
        for (int pr = SEMBED_PRECISION_INT8; pr <= SEMBED_PRECISION_UBINARY; pr++) {
            p.precision = (sembed_precision)pr;
            p.rescore_multiplier = (int)(n / k + 1);
            assert_int_equal(sembed_search(queries, nq, corpus, n, dim, &p, got, nq * k, ng, NULL),
                             0);
            for (size_t i = 0; i < nq * k; i++) {
                assert_int_equal(got[i].corpus_id, exact[i].corpus_id);
                assert_true(got[i].score == exact[i].score);
            }
        }
        p.rescore_multiplier = 2;
    }
    free(corpus);
    free(queries);
}

/* Recall of the quantized passes on clustered data, where the neighbours
 * of a query are its cluster: a query near a row must find it. */
static void test_quantized_recall(void **state) {
    (void)state;
    const size_t n = 4000, nq = 40, dim = 64;
    const int k = 10;
    float *corpus = random_matrix(n, dim), *queries = malloc(nq * dim * sizeof(float));
    for (size_t q = 0; q < nq; q++)
        for (size_t d = 0; d < dim; d++)
            queries[q * dim + d] = corpus[(q * 97) * dim + d] + 0.3f * rng_normal();
    sembed_hit *exact = calloc(nq * k, sizeof *exact), *got = calloc(nq * k, sizeof *got);
    size_t ne[40], ng[40];
    sembed_search_params p = sembed_search_default_params();
    p.top_k = k;
    assert_int_equal(sembed_search(queries, nq, corpus, n, dim, &p, exact, nq * k, ne, NULL), 0);
    const int precs[] = {SEMBED_PRECISION_INT8, SEMBED_PRECISION_UINT8, SEMBED_PRECISION_BINARY};
    for (int pi = 0; pi < 3; pi++) {
        p.precision = (sembed_precision)precs[pi];
        p.rescore_multiplier = 4;
        assert_int_equal(sembed_search(queries, nq, corpus, n, dim, &p, got, nq * k, ng, NULL), 0);
        size_t found = 0;
        for (size_t q = 0; q < nq; q++) {
            assert_int_equal(got[q * k].corpus_id, (int64_t)(q * 97)); /* the source row */
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    found += got[q * k + i].corpus_id == exact[q * k + j].corpus_id;
        }
        double recall = (double)found / (double)(nq * k);
        printf("recall@10 %s + rescore x4: %.3f\n", sembed_precision_name(p.precision), recall);
        /* int8 keeps the ranking; one bit per dimension keeps much less on
         * unstructured random data, but far more than the 1% that 40 random
         * candidates out of 4000 would give. */
        assert_true(recall >= (precs[pi] == SEMBED_PRECISION_BINARY ? 0.3 : 0.95));
    }
    free(corpus);
    free(queries);
    free(exact);
    free(got);
}

static void test_qcorpus_api(void **state) {
    (void)state;
    const size_t n = 64, dim = 16;
    float *corpus = random_matrix(n, dim);
    sembed_qcorpus *qc = NULL;
    sembed_error err;
    assert_int_equal(sembed_qcorpus_init(corpus, n, dim, SEMBED_PRECISION_BINARY, NULL, &qc, &err),
                     0);
    assert_int_equal(sembed_qcorpus_rows(qc), n);
    assert_int_equal(sembed_qcorpus_dim(qc), dim);
    assert_int_equal(sembed_qcorpus_precision(qc), SEMBED_PRECISION_BINARY);
    int8_t want[64 * 2];
    assert_int_equal(sembed_quantize(corpus, n, dim, SEMBED_PRECISION_BINARY, NULL, want,
                                     sizeof want, NULL),
                     0);
    assert_memory_equal(sembed_qcorpus_data(qc), want, sizeof want);
    /* Without rescoring, a binary hit's score is 1 - 2 * hamming / dim: a
     * query equal to a row scores 1 against it. */
    sembed_search_params p = sembed_search_default_params();
    p.top_k = 3;
    p.rescore = 0;
    sembed_hit hits[3];
    size_t nh;
    assert_int_equal(sembed_qcorpus_search(qc, NULL, corpus + 5 * dim, 1, dim, &p, hits, 3, &nh,
                                           &err),
                     0);
    assert_int_equal(nh, 3);
    assert_true(hits[0].score == 1.0f);
    assert_true(hits[1].score <= 1.0f && hits[1].score >= -1.0f);
    /* The float rows are optional: without them there is no rescoring. */
    p.rescore = 1;
    assert_int_equal(sembed_qcorpus_search(qc, NULL, corpus + 5 * dim, 1, dim, &p, hits, 3, &nh,
                                           &err),
                     0);
    assert_true(hits[0].score == 1.0f);
    /* dim must match. */
    assert_int_equal(sembed_qcorpus_search(qc, corpus, corpus, 1, dim - 1, &p, hits, 3, &nh, &err),
                     SEMBED_ERR_MISMATCH);
    sembed_qcorpus_free(qc);
    /* float32 is not a quantized precision. */
    assert_int_equal(
        sembed_qcorpus_init(corpus, n, dim, SEMBED_PRECISION_FLOAT32, NULL, &qc, &err),
        SEMBED_ERR_INVALID_ARGUMENT);
    assert_null(qc);
    sembed_qcorpus_free(NULL);
    free(corpus);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_cosine_matches_oracle),
        cmocka_unit_test(test_dot_matches_oracle),
        cmocka_unit_test(test_invariance),
        cmocka_unit_test(test_ties_go_to_lower_id),
        cmocka_unit_test(test_k_bounds),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_zero_vectors),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_kernel_sets),
        cmocka_unit_test(test_hamming_scan),
        cmocka_unit_test(test_precision_names),
        cmocka_unit_test(test_binary_packing),
        cmocka_unit_test(test_scalar_quantization),
        cmocka_unit_test(test_quantized_full_rescore_is_exact),
        cmocka_unit_test(test_quantized_recall),
        cmocka_unit_test(test_qcorpus_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
