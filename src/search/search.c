/*
 * search.c - exact semantic search, the same computation as
 * sentence_transformers.util.semantic_search, and the block scan that the
 * quantized search reuses.
 *
 * The corpus is streamed once per chunk of queries, in blocks small enough
 * to stay in the L2 cache while every query of the chunk is scored against
 * them (the queries stay cached too). Threads claim blocks from a shared
 * counter, keep their own bounded heaps, and the heaps are merged under a
 * total order (score, then lower id), so the hits are the same for any
 * thread count. Memory stays bounded: nothing is allocated per corpus row.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/threadpool.h"
#include "search/search_impl.h"
#include "search/topk.h"

/* Bytes of corpus rows per block: a block and a query chunk share L2. */
#define SCAN_BLOCK_BYTES ((size_t)256 << 10)
/* Bytes of scores per thread for one block and query chunk (kept in L2). */
#define SCAN_SCORE_BYTES ((size_t)128 << 10)
/* Bound on the per-thread heaps of one query chunk. */
#define SCAN_HEAP_BUDGET ((size_t)256 << 20)
/* Below this many multiply-adds a search runs on the calling thread:
 * starting threads would cost more than they save. */
#define SCAN_MIN_PARALLEL_WORK ((size_t)1 << 21)

sembed_search_params sembed_search_default_params(void) {
    sembed_search_params p;
    memset(&p, 0, sizeof p);
    p.top_k = 10;
    p.score = SEMBED_SCORE_COSINE;
    p.n_threads = 0;
    p.query_chunk_size = 100;
    p.corpus_chunk_size = 500000;
    p.precision = SEMBED_PRECISION_FLOAT32;
    p.rescore = 1;
    p.rescore_multiplier = 2;
    p.ranges = NULL;
    return p;
}

/* ---- checks -------------------------------------------------------------- */

sembed_status search_check_params(const sembed_search_params *p, int *n_threads,
                                  sembed_error *err) {
    if (!p)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: params is NULL");
    if (p->top_k < 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: top_k must be at least 1 (got %d)", p->top_k);
    if (p->score != SEMBED_SCORE_COSINE && p->score != SEMBED_SCORE_DOT)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: unknown score function %d",
                         (int)p->score);
    if (p->n_threads < 0 || p->n_threads > SEARCH_MAX_THREADS)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: n_threads must be 0 (all CPUs) .. %d (got %d)",
                         SEARCH_MAX_THREADS, p->n_threads);
    if (p->query_chunk_size < 1 || p->corpus_chunk_size < 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: query_chunk_size and corpus_chunk_size must be at least 1");
    if (!sembed_precision_name(p->precision))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: unknown precision %d",
                         (int)p->precision);
    if (p->rescore != 0 && p->rescore != 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: rescore must be 0 or 1");
    if (p->rescore_multiplier < 1 || p->rescore_multiplier > 1000)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: rescore_multiplier must be 1 .. 1000 (got %d)",
                         p->rescore_multiplier);
    int t = p->n_threads ? p->n_threads : cpu_count();
    *n_threads = t < 1 ? 1 : (t > SEARCH_MAX_THREADS ? SEARCH_MAX_THREADS : t);
    return SEMBED_OK;
}

sembed_status search_check_args(const float *queries, size_t nq, int dim, int top_k,
                                sembed_hit *hits, size_t hits_cap, size_t *n_hits,
                                sembed_error *err) {
    if (dim < 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: dim must be at least 1");
    if (nq == 0)
        return SEMBED_OK;
    if (!queries || !hits || !n_hits)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: queries, hits and n_hits must not be NULL");
    size_t need;
    if (mul_overflow_size(nq, (size_t)top_k, &need) || hits_cap < need)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: hits holds %zu entries; %zu queries x top_k %d need more",
                         hits_cap, nq, top_k);
    size_t col, bad = search_first_bad_row(queries, nq, (size_t)dim, &col);
    if (bad < nq)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "search: query row %zu, column %zu is %s", bad, col,
                         isnan(queries[bad * (size_t)dim + col]) ? "NaN" : "infinite");
    return SEMBED_OK;
}

size_t search_first_bad_row(const float *v, size_t rows, size_t dim, size_t *col) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < dim; c++)
            if (!isfinite(v[r * dim + c])) {
                if (col)
                    *col = c;
                return r;
            }
    return rows;
}

/* ---- queries and single scores ----------------------------------------- */

sembed_status search_prepare_queries(const flat_kernels *k, const float *queries, size_t nq,
                                     size_t dim, sembed_score score, float **out,
                                     sembed_error *err) {
    size_t n, bytes;
    if (mul_overflow_size(nq, dim, &n) || mul_overflow_size(n, sizeof(float), &bytes))
        return set_error(err, SEMBED_ERR_LIMIT, "search: too many queries");
    float *q = malloc(bytes ? bytes : 1);
    if (!q)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "search: out of memory for queries");
    memcpy(q, queries, bytes);
    if (score == SEMBED_SCORE_COSINE)
        for (size_t i = 0; i < nq; i++) {
            float ss;
            k->sumsq(q + i * dim, 1, dim, dim, &ss);
            float norm = fmaxf(sqrtf(ss), SEARCH_NORM_EPS);
            for (size_t d = 0; d < dim; d++)
                q[i * dim + d] /= norm;
        }
    *out = q;
    return SEMBED_OK;
}

float search_exact_score(const flat_kernels *k, const float *q, const float *row, size_t dim,
                         sembed_score score) {
    float dot;
    k->dots(q, 1, dim, row, 1, dim, dim, &dot, 1);
    if (score != SEMBED_SCORE_COSINE)
        return dot;
    float ss;
    k->sumsq(row, 1, dim, dim, &ss);
    return dot / fmaxf(sqrtf(ss), SEARCH_NORM_EPS);
}

/* ---- the block scan ------------------------------------------------------ */

typedef struct scan_thread {
    topk *heaps;          /* one per query of the chunk */
    sembed_hit *heap_mem;
    float *dots;          /* chunk x block_rows (uint32 for SCAN_BITS) */
    float *den;           /* block_rows: cosine denominators */
    float *deq;           /* block_rows x dim: dequantized rows */
    uint32_t *limit;      /* SCAN_BITS: per query, the distance to beat */
} scan_thread;

typedef struct scan_job {
    const flat_kernels *k;
    const scan_corpus *c;
    const scan_params *p;
    const float *q;       /* this chunk's float queries */
    const uint8_t *qbits; /* this chunk's packed queries */
    size_t nq;            /* queries in this chunk */
    size_t block_rows, n_blocks;
    atomic_size_t next;
    atomic_size_t bad_row; /* lowest corpus row with a non-finite score */
    scan_thread *t;
} scan_job;

static void note_bad_row(scan_job *j, size_t row) {
    size_t cur = atomic_load(&j->bad_row);
    while (row < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, row)) {
    }
}

/* Offers the scores of rows r0 .. r0 + n - 1 to a heap. A thread sees its
 * rows in increasing id order, so a row that only ties the worst kept hit
 * never displaces it (the kept one has the lower id): once the heap is
 * full, only a strictly higher score needs the heap at all. */
static void offer_scores(topk *heap, const float *score, size_t n, size_t r0) {
    size_t r = 0;
    for (; r < n && heap->n < heap->cap; r++)
        topk_insert_(heap, score[r], (int64_t)(r0 + r));
    if (r == n)
        return;
    float worst = heap->h[0].score;
    for (; r < n; r++)
        if (score[r] > worst) {
            topk_insert_(heap, score[r], (int64_t)(r0 + r));
            worst = heap->h[0].score;
        }
}

/* A pair the Hamming scan lets through: into the query's heap (score =
 * bits - 2 * distance, exact in float for any realistic dim); once the
 * heap is full, its worst distance becomes the query's limit. As above,
 * rows arrive in increasing order, so only a strictly smaller distance
 * than the worst kept one can matter. */
typedef struct bits_ctx {
    topk *heaps;
    uint32_t *limit;
    size_t r0;
    float bits;
} bits_ctx;

static void accept_bits(void *arg, size_t q, size_t row, uint32_t dist) {
    bits_ctx *b = arg;
    topk *heap = &b->heaps[q];
    topk_insert_(heap, b->bits - 2.0f * (float)dist, (int64_t)(b->r0 + row));
    if (heap->n == heap->cap)
        b->limit[q] = (uint32_t)((b->bits - heap->h[0].score) / 2.0f);
}

static void scan_block(scan_job *j, scan_thread *t, size_t r0, size_t nr) {
    const scan_corpus *c = j->c;
    const size_t ld = j->block_rows, dim = c->dim;
    if (c->kind == SCAN_BITS) {
        bits_ctx b = {t->heaps, t->limit, r0, (float)dim};
        j->k->hamming_scan(j->qbits, j->nq, c->codes + r0 * c->nbytes, nr, c->nbytes, t->limit,
                           accept_bits, &b);
        return;
    }
    const float *rows;
    if (c->kind == SCAN_FLOAT) {
        rows = c->rows + r0 * dim;
    } else {
        j->k->dequant(c->codes + r0 * dim, nr, dim, c->is_signed, c->base, c->step, t->deq);
        rows = t->deq;
    }
    const int cosine = j->p->score == SEMBED_SCORE_COSINE;
    if (cosine) {
        j->k->sumsq(rows, nr, dim, dim, t->den);
        for (size_t r = 0; r < nr; r++) {
            if (!isfinite(t->den[r])) {
                note_bad_row(j, r0 + r);
                return;
            }
            t->den[r] = fmaxf(sqrtf(t->den[r]), SEARCH_NORM_EPS);
        }
    }
    j->k->dots(j->q, j->nq, dim, rows, nr, dim, dim, t->dots, ld);
    for (size_t q = 0; q < j->nq; q++) {
        float *d = t->dots + q * ld;
        if (cosine) {
            j->k->divide(d, t->den, nr);
        } else {
            for (size_t r = 0; r < nr; r++)
                if (!isfinite(d[r])) {
                    note_bad_row(j, r0 + r);
                    return;
                }
        }
        offer_scores(&t->heaps[q], d, nr, r0);
    }
}

static void scan_worker(void *arg, int ith, int nth) {
    (void)nth;
    scan_job *j = arg;
    scan_thread *t = &j->t[ith];
    for (size_t q = 0; q < j->nq; q++) {
        t->heaps[q].n = 0;
        t->limit[q] = UINT32_MAX;
    }
    for (;;) {
        size_t b = atomic_fetch_add(&j->next, 1);
        if (b >= j->n_blocks || atomic_load(&j->bad_row) != SIZE_MAX)
            break;
        size_t r0 = b * j->block_rows;
        size_t nr = j->c->n - r0 < j->block_rows ? j->c->n - r0 : j->block_rows;
        scan_block(j, t, r0, nr);
    }
}

static sembed_status bad_row_error(const scan_corpus *c, size_t row, sembed_error *err) {
    if (c->kind == SCAN_FLOAT) {
        size_t col, bad = search_first_bad_row(c->rows, c->n, c->dim, &col);
        if (bad < c->n)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "search: corpus row %zu, column %zu is %s", bad, col,
                             isnan(c->rows[bad * c->dim + col]) ? "NaN" : "infinite");
    }
    return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                     "search: the score of corpus row %zu overflows float32 (values too large)",
                     row);
}

sembed_status search_scan(const flat_kernels *k, const scan_corpus *c, const void *queries,
                          size_t nq, const scan_params *p, sembed_hit *out, size_t out_stride,
                          sembed_error *err) {
    sembed_status st = SEMBED_OK;
    const size_t dim = c->dim, keep = p->keep;
    const size_t row_bytes = c->kind == SCAN_BITS ? c->nbytes : dim * sizeof(float);

    /* Queries per pass: the caller's chunk, bounded so that every thread's
     * heaps fit the budget. */
    int nth = p->n_threads;
    size_t chunk = p->query_chunk < nq ? p->query_chunk : nq;
    size_t per_query = keep * sizeof(sembed_hit) * (size_t)nth;
    if (per_query && chunk > SCAN_HEAP_BUDGET / per_query)
        chunk = SCAN_HEAP_BUDGET / per_query;
    if (chunk < 1)
        chunk = 1;

    /* Block size: a cache-sized slab of rows whose scores for the whole
     * query chunk also stay in cache, cut to spread a small corpus over
     * the threads, and never more than corpus_chunk. */
    size_t block = SCAN_BLOCK_BYTES / (row_bytes ? row_bytes : 1);
    size_t by_scores = SCAN_SCORE_BYTES / (chunk * sizeof(float));
    if (block > by_scores)
        block = by_scores;
    block = block < 16 ? 16 : block / 4 * 4;
    size_t work;
    if (__builtin_mul_overflow(nq, c->n, &work) ||
        __builtin_mul_overflow(work, c->kind == SCAN_BITS ? c->nbytes / 8 + 1 : dim, &work))
        work = SIZE_MAX;
    if (work < SCAN_MIN_PARALLEL_WORK)
        nth = 1;
    if (nth > 1) {
        size_t share = (c->n + (size_t)nth - 1) / (size_t)nth;
        if (share < block)
            block = share < 16 ? 16 : share;
    }
    if (block > p->corpus_chunk)
        block = p->corpus_chunk;
    size_t n_blocks = (c->n + block - 1) / block;
    if ((size_t)nth > n_blocks)
        nth = (int)n_blocks;

    scan_job job;
    memset(&job, 0, sizeof job);
    job.k = k;
    job.c = c;
    job.p = p;
    job.block_rows = block;
    job.n_blocks = n_blocks;
    job.t = calloc((size_t)nth, sizeof *job.t);
    sembed_hit *merge = NULL;
    threadpool *pool = NULL;
    if (!job.t)
        goto oom;
    for (int i = 0; i < nth; i++) {
        scan_thread *t = &job.t[i];
        t->heaps = calloc(chunk, sizeof *t->heaps);
        t->heap_mem = malloc(chunk * keep * sizeof *t->heap_mem);
        t->dots = malloc(chunk * block * sizeof(float));
        t->den = malloc(block * sizeof(float));
        t->limit = malloc(chunk * sizeof(uint32_t));
        if (c->kind == SCAN_CODES8)
            t->deq = malloc(block * dim * sizeof(float));
        if (!t->heaps || !t->heap_mem || !t->dots || !t->den || !t->limit ||
            (c->kind == SCAN_CODES8 && !t->deq))
            goto oom;
        for (size_t q = 0; q < chunk; q++) {
            t->heaps[q].h = t->heap_mem + q * keep;
            t->heaps[q].cap = keep;
        }
    }
    merge = malloc((size_t)nth * keep * sizeof *merge);
    if (!merge)
        goto oom;
    if (nth > 1) {
        pool = threadpool_new(nth);
        if (!pool)
            goto oom;
    }

    for (size_t q0 = 0; q0 < nq; q0 += chunk) {
        size_t m = nq - q0 < chunk ? nq - q0 : chunk;
        job.nq = m;
        if (c->kind == SCAN_BITS)
            job.qbits = (const uint8_t *)queries + q0 * c->nbytes;
        else
            job.q = (const float *)queries + q0 * dim;
        atomic_store(&job.next, 0);
        atomic_store(&job.bad_row, SIZE_MAX);
        if (pool)
            threadpool_run(pool, scan_worker, &job);
        else
            scan_worker(&job, 0, 1);
        size_t bad = atomic_load(&job.bad_row);
        if (bad != SIZE_MAX) {
            st = bad_row_error(c, bad, err);
            goto done;
        }
        for (size_t q = 0; q < m; q++) {
            size_t n = 0;
            for (int i = 0; i < nth; i++) {
                memcpy(merge + n, job.t[i].heaps[q].h, job.t[i].heaps[q].n * sizeof *merge);
                n += job.t[i].heaps[q].n;
            }
            topk_sort_hits(merge, n);
            memcpy(out + (q0 + q) * out_stride, merge, (n < keep ? n : keep) * sizeof *merge);
        }
    }
    goto done;
oom:
    st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "search: out of memory");
done:
    threadpool_free(pool);
    if (job.t)
        for (int i = 0; i < nth; i++) {
            free(job.t[i].heaps);
            free(job.t[i].heap_mem);
            free(job.t[i].dots);
            free(job.t[i].den);
            free(job.t[i].deq);
            free(job.t[i].limit);
        }
    free(job.t);
    free(merge);
    return st;
}

/* ---- exact search ---------------------------------------------------------- */

sembed_status sembed_search(const float *queries, size_t n_queries, const float *corpus,
                            size_t n_corpus, int dim, const sembed_search_params *params,
                            sembed_hit *hits, size_t hits_cap, size_t *n_hits,
                            sembed_error *err) {
    int n_threads;
    sembed_status st = search_check_params(params, &n_threads, err);
    if (st)
        return st;
    st = search_check_args(queries, n_queries, dim, params->top_k, hits, hits_cap, n_hits, err);
    if (st || n_queries == 0)
        return st;
    if (n_corpus > 0 && !corpus)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: corpus is NULL");
    if (n_corpus == 0) {
        for (size_t q = 0; q < n_queries; q++)
            n_hits[q] = 0;
        return SEMBED_OK;
    }
    size_t cells;
    if (mul_overflow_size(n_corpus, (size_t)dim, &cells) || cells > SIZE_MAX / sizeof(float))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "search: corpus too large");
    if (params->precision != SEMBED_PRECISION_FLOAT32) {
        sembed_qcorpus *qc = NULL;
        st = sembed_qcorpus_init(corpus, n_corpus, dim, params->precision, params->ranges, &qc,
                                 err);
        if (st)
            return st;
        st = sembed_qcorpus_search(qc, corpus, queries, n_queries, dim, params, hits, hits_cap,
                                   n_hits, err);
        sembed_qcorpus_free(qc);
        return st;
    }
    const flat_kernels *k = flat_kernels_pick();
    float *q = NULL;
    st = search_prepare_queries(k, queries, n_queries, (size_t)dim, params->score, &q, err);
    if (st)
        return st;
    scan_corpus c = {.kind = SCAN_FLOAT, .n = n_corpus, .dim = (size_t)dim, .rows = corpus};
    scan_params sp = {
        .score = params->score,
        .keep = (size_t)params->top_k < n_corpus ? (size_t)params->top_k : n_corpus,
        .n_threads = n_threads,
        .query_chunk = params->query_chunk_size,
        .corpus_chunk = params->corpus_chunk_size,
    };
    st = search_scan(k, &c, q, n_queries, &sp, hits, (size_t)params->top_k, err);
    free(q);
    if (st)
        return st;
    for (size_t i = 0; i < n_queries; i++)
        n_hits[i] = sp.keep;
    return SEMBED_OK;
}
