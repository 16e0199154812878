/*
 * bench_hnsw.c - the HNSW index on N x DIM vectors: build time, queries per
 * second and recall@10 against exact search (sembed_search) at several ef,
 * for each distance kernel the CPU runs. Not a test: it prints what it
 * measured, as text lines and one JSON object at the end.
 *
 *   bench_hnsw [--n 100000] [--dim 384] [--queries 1000] [--kind random|structured]
 *              [--reference embeddings.npy] [--threads N] [--M 16]
 *              [--ef-construction 200] [--ef 64,128,256]
 *
 * random: unit vectors uniform on the sphere (the hardest case for any
 * graph index); structured: 16 latent dimensions through a random
 * projection plus noise (closer to real embeddings); --reference: the rows
 * of an embedding file, queried with its own first rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sembed.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of this thread / process: on a shared machine these say
 * more than wall time, which includes waiting for a core. */
static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 11;
}

static double gauss(uint64_t *s) {
    double u = ((double)rng(s) + 1.0) / 9007199254740993.0;
    double v = (double)rng(s) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void normalize_rows(float *v, size_t n, int dim) {
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int d = 0; d < dim; d++)
            ss += (double)v[i * dim + d] * v[i * dim + d];
        float inv = (float)(1.0 / sqrt(ss));
        for (int d = 0; d < dim; d++)
            v[i * dim + d] *= inv;
    }
}

static float *make_vectors(size_t n, int dim, int structured, uint64_t seed, const float *proj) {
    float *v = malloc(n * (size_t)dim * sizeof *v);
    if (!v)
        return NULL;
    uint64_t s = seed;
    if (!structured) {
        for (size_t i = 0; i < n * (size_t)dim; i++)
            v[i] = (float)gauss(&s);
    } else {
        for (size_t i = 0; i < n; i++) {
            double z[16];
            for (int l = 0; l < 16; l++)
                z[l] = gauss(&s);
            for (int d = 0; d < dim; d++) {
                double a = 0.1 * gauss(&s);
                for (int l = 0; l < 16; l++)
                    a += z[l] * proj[l * dim + d];
                v[i * (size_t)dim + d] = (float)a;
            }
        }
    }
    normalize_rows(v, n, dim);
    return v;
}

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c)
            break;
        s = c + 1;
    }
    return n;
}

int main(int argc, char **argv) {
    size_t n = 100000, nq = 1000;
    int dim = 384, threads = 0, M = 16, efc = 200, structured = 0;
    int efs[16] = {64, 128, 256}, n_ef = 3;
    const char *reference = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--n") && v)
            n = (size_t)atol(v), i++;
        else if (!strcmp(a, "--dim") && v)
            dim = atoi(v), i++;
        else if (!strcmp(a, "--queries") && v)
            nq = (size_t)atol(v), i++;
        else if (!strcmp(a, "--kind") && v)
            structured = !strcmp(v, "structured"), i++;
        else if (!strcmp(a, "--reference") && v)
            reference = v, i++;
        else if (!strcmp(a, "--threads") && v)
            threads = atoi(v), i++;
        else if (!strcmp(a, "--M") && v)
            M = atoi(v), i++;
        else if (!strcmp(a, "--ef-construction") && v)
            efc = atoi(v), i++;
        else if (!strcmp(a, "--ef") && v)
            n_ef = parse_list(v, efs, 16), i++;
        else {
            fprintf(stderr, "usage: see the comment at the top of bench/bench_hnsw.c\n");
            return 2;
        }
    }
    sembed_error err;
    float *x = NULL, *q = NULL;
    const char *kind = structured ? "structured" : "random";
    sembed_matrix m;
    memset(&m, 0, sizeof m);
    if (reference) {
        if (sembed_matrix_read(reference, NULL, &m, &err) != SEMBED_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        n = m.rows;
        dim = (int)m.cols;
        x = m.data;
        if (nq > n)
            nq = n;
        q = malloc(nq * (size_t)dim * sizeof *q);
        memcpy(q, x, nq * (size_t)dim * sizeof *q);
        kind = "reference";
    } else {
        uint64_t s = 12345;
        float *proj = malloc(16 * (size_t)dim * sizeof *proj);
        for (int i = 0; i < 16 * dim; i++)
            proj[i] = (float)gauss(&s);
        x = make_vectors(n, dim, structured, 1, proj);
        q = make_vectors(nq, dim, structured, 2, proj);
        free(proj);
    }
    if (!x || !q) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("HNSW bench: %zu x %d %s vectors, %zu queries, M %d, ef_construction %d, %d "
           "threads (%ld CPUs online)\n",
           n, dim, kind, nq, M, efc, threads ? threads : (int)cpus, cpus);

    /* Exact top 10 (ground truth) with the search module. */
    const int k = 10;
    sembed_hit *truth = malloc(nq * k * sizeof *truth), *hits = malloc(nq * k * sizeof *hits);
    size_t *nh = malloc(nq * sizeof *nh);
    sembed_search_params sp = sembed_search_default_params();
    sp.top_k = k;
    sp.n_threads = threads;
    double t0 = now();
    if (sembed_search(q, nq, x, n, dim, &sp, truth, nq * k, nh, &err) != SEMBED_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double exact_s = now() - t0;
    printf("exact search: %.0f queries/s (%zu queries in one call, %d threads)\n",
           (double)nq / exact_s, nq, threads ? threads : (int)cpus);

    sembed_hnsw_params hp = sembed_hnsw_default_params();
    hp.M = M;
    hp.ef_construction = efc;
    hp.n_threads = threads;
    sembed_hnsw *h = NULL;
    t0 = now();
    double c0 = process_cpu();
    if (sembed_hnsw_init(dim, &hp, &h, &err) != SEMBED_OK ||
        sembed_hnsw_add(h, x, n, dim, 0, &err) != SEMBED_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double build_s = now() - t0, build_cpu = process_cpu() - c0;
    printf("build: %.1f s wall, %.1f CPU-s (%.0f vectors per CPU-second)\n", build_s, build_cpu,
           (double)n / build_cpu);
    char path[256];
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/bench-hnsw-%d.hnsw", tmpdir, (int)getpid());
    t0 = now();
    if (sembed_hnsw_save(h, path, NULL, &err) != SEMBED_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double save_s = now() - t0;
    sembed_hnsw_free(h);

    const char *kernels[3] = {"sse", "avx2", "avx512"};
    printf("%-7s %5s %12s %12s %12s %9s %9s\n", "kernel", "ef", "QPS(1 thr)", "QPS/CPU-s",
           "QPS(batch)", "recall@10", "tie-aware");
    char json[8192];
    int jl = snprintf(json, sizeof json,
                      "{\"n\": %zu, \"dim\": %d, \"kind\": \"%s\", \"queries\": %zu, \"M\": %d, "
                      "\"ef_construction\": %d, \"threads\": %d, \"build_s\": %.2f, "
                      "\"build_cpu_s\": %.2f, "
                      "\"save_s\": %.2f, \"exact_qps\": %.1f, \"results\": [",
                      n, dim, kind, nq, M, efc, threads ? threads : (int)cpus, build_s, build_cpu,
                      save_s,
                      (double)nq / exact_s);
    double load_s = 0;
    int first = 1;
    for (int kk = 0; kk < 3; kk++) {
        __builtin_cpu_init();
        if ((kk == 1 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) ||
            (kk == 2 && !__builtin_cpu_supports("avx512f")))
            continue;
        setenv("SEMBED_HNSW_KERNEL", kernels[kk], 1);
        t0 = now();
        if (sembed_hnsw_load(path, dim, &hp, NULL, &h, &err) != SEMBED_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        load_s = now() - t0;
        for (int e = 0; e < n_ef; e++) {
            /* One query per call on one thread: the latency view. */
            t0 = now();
            double tc = thread_cpu();
            for (size_t i = 0; i < nq; i++)
                if (sembed_hnsw_search(h, q + i * dim, 1, dim, k, efs[e], hits + i * k, k, nh + i,
                                       &err) != SEMBED_OK) {
                    fprintf(stderr, "%s\n", err.message);
                    return 1;
                }
            double one_s = now() - t0, one_cpu = thread_cpu() - tc;
            /* All queries in one call: threads share them. */
            t0 = now();
            if (sembed_hnsw_search(h, q, nq, dim, k, efs[e], hits, nq * k, nh, &err) != SEMBED_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            double batch_s = now() - t0;
            size_t found = 0, found_ties = 0;
            for (size_t i = 0; i < nq; i++) {
                float kth = truth[i * k + k - 1].score;
                for (int a = 0; a < k; a++) {
                    for (int b = 0; b < k; b++)
                        if (hits[i * k + a].corpus_id == truth[i * k + b].corpus_id) {
                            found++;
                            break;
                        }
                    if (hits[i * k + a].score >= kth - 1e-6f)
                        found_ties++;
                }
            }
            double recall = (double)found / (double)(nq * k);
            double recall_t = (double)found_ties / (double)(nq * k);
            printf("%-7s %5d %12.0f %12.0f %12.0f %9.4f %9.4f\n", kernels[kk], efs[e],
                   (double)nq / one_s, (double)nq / one_cpu, (double)nq / batch_s, recall,
                   recall_t);
            jl += snprintf(json + jl, sizeof json - (size_t)jl,
                           "%s{\"kernel\": \"%s\", \"ef\": %d, \"qps_one_thread\": %.1f, "
                           "\"qps_per_cpu_s\": %.1f, \"qps_batch\": %.1f, "
                           "\"recall_at_10\": %.4f, "
                           "\"recall_at_10_ties\": %.4f}",
                           first ? "" : ", ", kernels[kk], efs[e], (double)nq / one_s,
                           (double)nq / one_cpu, (double)nq / batch_s, recall, recall_t);
            first = 0;
        }
        sembed_hnsw_free(h);
    }
    unsetenv("SEMBED_HNSW_KERNEL");
    snprintf(json + jl, sizeof json - (size_t)jl, "], \"load_s\": %.2f}", load_s);
    printf("%s\n", json);
    remove(path);
    free(truth);
    free(hits);
    free(nh);
    free(q);
    if (reference)
        sembed_matrix_free(&m);
    else
        free(x);
    return 0;
}
