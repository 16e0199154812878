/*
 * bench_search.c - speed of exact and quantized search (not a test).
 *
 *   bench_search [--rows N] [--dim D] [--threads T] [--reps R] [--kernel K]
 *
 * Over N x D random unit vectors (default 1,000,000 x 384, 2 threads):
 *   - the machine's memory read bandwidth, measured in the same run with a
 *     streaming read over the corpus (the ceiling for one query);
 *   - exact top-10 (sembed_search, cosine) for batches of 1, 16 and 100
 *     queries: queries/s, GFLOP/s and the fraction of the read bandwidth
 *     reached (corpus bytes / time per call);
 *   - OpenBLAS sgemm on the same product, without top-k, when the bench is
 *     built with it (the library does not use BLAS; this shows why);
 *   - binary and int8 candidates + float32 rescoring: speed-up over exact
 *     and recall@10 against exact, for random queries and for queries near
 *     a corpus row (random vectors have almost no neighbour structure);
 *   - the same on $SEMBED_SHARED/reference/visible/embeddings.npy (1275
 *     sentence embeddings) when it is there.
 * Each timing is the median of R runs (default 3). One JSON object is
 * printed on stdout; progress goes to stderr.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search/flat.h"
#include "sembed.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 0x243F6A8885A308D3ull;

static float gauss(void) {
    /* Box-Muller on two 24-bit uniforms. */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u1 = ((double)(rng >> 40) + 0.5) / 16777216.0;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u2 = (double)(rng >> 40) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void unit_rows(float *m, size_t rows, size_t dim) {
    for (size_t i = 0; i < rows; i++) {
        double s = 0;
        for (size_t d = 0; d < dim; d++) {
            float v = gauss();
            m[i * dim + d] = v;
            s += (double)v * v;
        }
        float inv = (float)(1.0 / sqrt(s));
        for (size_t d = 0; d < dim; d++)
            m[i * dim + d] *= inv;
    }
}

/* ---- memory bandwidth: threads sum disjoint slices of the corpus ------- */

typedef struct bw_arg {
    const float *p;
    size_t n;
    double sum;
} bw_arg;

static void *bw_read(void *arg) {
    bw_arg *a = arg;
    float acc[16] = {0};
    for (size_t i = 0; i + 16 <= a->n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += a->p[i + k];
    double s = 0;
    for (int k = 0; k < 16; k++)
        s += acc[k];
    a->sum = s;
    return NULL;
}

static double read_bandwidth(const float *p, size_t n, int threads, int reps) {
    double t[16];
    pthread_t th[64];
    bw_arg args[64];
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            args[i].p = p + n / (size_t)threads * (size_t)i;
            args[i].n = n / (size_t)threads;
            pthread_create(&th[i], NULL, bw_read, &args[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        t[r] = now() - t0;
    }
    return (double)(n / (size_t)threads * (size_t)threads) * sizeof(float) / median(t, reps) / 1e9;
}

/* ---- searches ---------------------------------------------------------------- */

typedef struct run {
    double seconds;   /* median per call */
    sembed_hit *hits;
} run;

static run time_search(const float *q, size_t nq, const float *corpus, size_t n, int dim,
                       const sembed_search_params *p, const sembed_qcorpus *qc, int reps) {
    run r = {0, calloc(nq * (size_t)p->top_k, sizeof(sembed_hit))};
    size_t *nh = calloc(nq, sizeof *nh);
    double t[16];
    sembed_error err;
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        sembed_status st =
            qc ? sembed_qcorpus_search(qc, corpus, q, nq, dim, p, r.hits, nq * (size_t)p->top_k, nh,
                                       &err)
               : sembed_search(q, nq, corpus, n, dim, p, r.hits, nq * (size_t)p->top_k, nh, &err);
        t[i] = now() - t0;
        if (st != SEMBED_OK) {
            fprintf(stderr, "bench_search: %s\n", err.message);
            exit(1);
        }
    }
    free(nh);
    r.seconds = median(t, reps);
    return r;
}

static double recall(const sembed_hit *got, const sembed_hit *exact, size_t nq, int k) {
    size_t same = 0;
    for (size_t q = 0; q < nq; q++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                same += got[q * (size_t)k + (size_t)i].corpus_id ==
                        exact[q * (size_t)k + (size_t)j].corpus_id;
    return (double)same / (double)(nq * (size_t)k);
}

/* Quantized search for nq queries: speed-up and recall against exact. */
static void quantized_block(FILE *o, const char *label, const float *q, size_t nq,
                            const float *corpus, size_t n, int dim, int threads, int reps,
                            const run *exact, int comma) {
    const sembed_precision precs[] = {SEMBED_PRECISION_BINARY, SEMBED_PRECISION_INT8};
    const int mults[] = {2, 4, 10};
    fprintf(o, "%s\"%s\": {", comma ? ", " : "", label);
    for (int pi = 0; pi < 2; pi++) {
        sembed_qcorpus *qc = NULL;
        double t0 = now();
        if (sembed_qcorpus_init(corpus, n, dim, precs[pi], NULL, &qc, NULL) != SEMBED_OK)
            exit(1);
        double build = now() - t0;
        fprintf(o, "%s\"%s\": {\"quantize_s\": %.4f", pi ? ", " : "",
                sembed_precision_name(precs[pi]), build);
        for (int mi = 0; mi < 3; mi++) {
            sembed_search_params p = sembed_search_default_params();
            p.n_threads = threads;
            p.rescore_multiplier = mults[mi];
            run r = time_search(q, nq, corpus, n, dim, &p, qc, reps);
            fprintf(o,
                    ", \"rescore_x%d\": {\"qps\": %.1f, \"speedup\": %.2f, "
                    "\"recall_at_10\": %.4f}",
                    mults[mi], (double)nq / r.seconds, exact->seconds / r.seconds,
                    recall(r.hits, exact->hits, nq, 10));
            fprintf(stderr, "  %s %s x%d: %.1f q/s, speed-up %.2f, recall@10 %.4f\n", label,
                    sembed_precision_name(precs[pi]), mults[mi], (double)nq / r.seconds,
                    exact->seconds / r.seconds, recall(r.hits, exact->hits, nq, 10));
            free(r.hits);
        }
        fprintf(o, "}");
        sembed_qcorpus_free(qc);
    }
    fprintf(o, "}");
}

int main(int argc, char **argv) {
    size_t rows = 1000000;
    int dim = 384, threads = 2, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            rows = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim"))
            dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kernel"))
            setenv("SEMBED_SEARCH_KERNEL", argv[i + 1], 1);
    }
    if (rows < 1000 || dim < 8 || threads < 1 || threads > 64 || reps < 1 || reps > 15) {
        fprintf(stderr, "usage: bench_search [--rows N>=1000] [--dim D] [--threads T] "
                        "[--reps R<=15] [--kernel generic|avx2|avx512]\n");
        return 2;
    }
    const size_t d = (size_t)dim;
    fprintf(stderr, "bench_search: %zu x %d random unit vectors, %d threads\n", rows, dim,
            threads);
    float *corpus = malloc(rows * d * sizeof(float));
    float *queries = malloc(200 * d * sizeof(float));
    if (!corpus || !queries) {
        fprintf(stderr, "bench_search: out of memory\n");
        return 1;
    }
    unit_rows(corpus, rows, d);
    unit_rows(queries, 100, d);
    /* Queries near a corpus row: the row plus noise, renormalized. */
    float *near = queries + 100 * d;
    for (size_t q = 0; q < 100; q++) {
        double s = 0;
        size_t src = (q * 7919) % rows;
        for (size_t k = 0; k < d; k++) {
            near[q * d + k] = corpus[src * d + k] + 0.03f * gauss();
            s += (double)near[q * d + k] * near[q * d + k];
        }
        for (size_t k = 0; k < d; k++)
            near[q * d + k] /= (float)sqrt(s);
    }

    FILE *o = stdout;
    fprintf(o, "{\"rows\": %zu, \"dim\": %d, \"threads\": %d, \"reps\": %d, \"kernel\": \"%s\"",
            rows, dim, threads, reps, flat_kernels_pick()->name);
    double bw = read_bandwidth(corpus, rows * d, threads, reps);
    fprintf(o, ", \"read_bandwidth_gbs\": %.2f", bw);
    fprintf(stderr, "  read bandwidth %.2f GB/s\n", bw);

    const double corpus_gb = (double)(rows * d * sizeof(float)) / 1e9;
    const size_t batches[] = {1, 16, 100};
    run exact100 = {0, NULL}, exact_near = {0, NULL};
    fprintf(o, ", \"exact_top10\": {");
    for (int b = 0; b < 3; b++) {
        sembed_search_params p = sembed_search_default_params();
        p.n_threads = threads;
        run r = time_search(queries, batches[b], corpus, rows, dim, &p, NULL, reps);
        double gflops = 2.0 * (double)batches[b] * (double)rows * d / r.seconds / 1e9;
        fprintf(o, "%s\"batch_%zu\": {\"seconds_per_call\": %.5f, \"qps\": %.1f, \"gflops\": %.1f, "
                   "\"bandwidth_gbs\": %.2f, \"bandwidth_fraction\": %.3f}",
                b ? ", " : "", batches[b], r.seconds, (double)batches[b] / r.seconds, gflops,
                corpus_gb / r.seconds, corpus_gb / r.seconds / bw);
        fprintf(stderr,
                "  exact batch %zu: %.4f s/call, %.1f q/s, %.1f GFLOP/s, %.0f%% of read "
                "bandwidth\n",
                batches[b], r.seconds, (double)batches[b] / r.seconds, gflops,
                100.0 * corpus_gb / r.seconds / bw);
        if (batches[b] == 100)
            exact100 = r;
        else
            free(r.hits);
    }
    fprintf(o, "}");

#ifdef HAVE_OPENBLAS
    {
        /* The same product as one exact batch of 100, in 4096-row chunks. */
        openblas_set_num_threads(threads);
        const size_t chunk = 4096;
        float *c = malloc(100 * chunk * sizeof(float));
        double t[16];
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (size_t r0 = 0; r0 < rows; r0 += chunk) {
                size_t m = rows - r0 < chunk ? rows - r0 : chunk;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 100, (int)m, dim, 1.0f,
                            queries, dim, corpus + r0 * d, dim, 0.0f, c, (int)m);
            }
            t[r] = now() - t0;
        }
        double s = median(t, reps);
        fprintf(o, ", \"openblas_sgemm_batch_100\": {\"core\": \"%s\", \"seconds\": %.4f, "
                   "\"gflops\": %.1f}",
                openblas_get_corename(), s, 2.0 * 100 * (double)rows * d / s / 1e9);
        fprintf(stderr, "  OpenBLAS (%s) sgemm for 100 queries, no top-k: %.4f s, %.1f GFLOP/s\n",
                openblas_get_corename(), s, 2.0 * 100 * (double)rows * d / s / 1e9);
        free(c);
    }
#endif

    fprintf(o, ", \"quantized_batch_100\": {");
    quantized_block(o, "random_queries", queries, 100, corpus, rows, dim, threads, reps, &exact100,
                    0);
    {
        sembed_search_params p = sembed_search_default_params();
        p.n_threads = threads;
        exact_near = time_search(near, 100, corpus, rows, dim, &p, NULL, reps);
    }
    quantized_block(o, "near_queries", near, 100, corpus, rows, dim, threads, reps, &exact_near, 1);
    fprintf(o, "}");
    free(exact100.hits);
    free(exact_near.hits);
    free(corpus);

    /* The visible reference embeddings: 1275 real sentence embeddings. */
    const char *shared = getenv("SEMBED_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/reference/visible/embeddings.npy", shared ? shared : "");
    sembed_matrix m;
    if (shared && sembed_matrix_read(path, NULL, &m, NULL) == SEMBED_OK && m.rows >= 100) {
        sembed_search_params p = sembed_search_default_params();
        p.n_threads = threads;
        int r5 = reps < 5 ? 5 : reps;
        run ex = time_search(m.data, 100, m.data, m.rows, (int)m.cols, &p, NULL, r5);
        fprintf(o, ", \"reference_embeddings\": {\"rows\": %zu, \"queries\": 100, "
                   "\"exact_qps\": %.1f, ",
                m.rows, 100.0 / ex.seconds);
        fprintf(stderr, "  reference embeddings (%zu rows): exact %.1f q/s\n", m.rows,
                100.0 / ex.seconds);
        quantized_block(o, "quantized", m.data, 100, m.data, m.rows, (int)m.cols, threads, r5,
                        &ex, 0);
        fprintf(o, "}");
        free(ex.hits);
        sembed_matrix_free(&m);
    }
    fprintf(o, "}\n");
    free(queries);
    return 0;
}
