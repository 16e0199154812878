/*
 * store_helper.c - a small program the store's script tests drive (no
 * model needed):
 *
 *   store_helper add-loop DB BATCH DIM      add BATCH-row transactions until
 *                                           killed; print "committed N"
 *                                           after each commit
 *   store_helper check DB BATCH DIM         open, verify, check every row's
 *                                           content; print the row count
 *   store_helper hnsw-export N DIM DIR      random vectors, queries, a
 *                                           C-built index and its results
 *   store_helper hnsw-search INDEX DIM QUERIES NQ K EF
 *                                           search an index (one built by
 *                                           Python) and print the results
 *   store_helper hnsw-save-loop PATH N DIM  save two indexes in turn to
 *                                           PATH until killed; first print
 *                                           both SHA-256s
 *   store_helper hnsw-check PATH DIM        load PATH (all its checks)
 *
 * Row r of the durability store has text "row r", id "id-r" and a vector
 * computed from r, so a check can tell any half-written or mixed-up row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sembed.h"

static int die(const char *what, const sembed_error *err) {
    fprintf(stderr, "store_helper: %s: %s\n", what, err ? err->message : "failed");
    return 1;
}

static void row_vector(long long r, int dim, float *v) {
    for (int d = 0; d < dim; d++)
        v[d] = (float)sin((double)r * 0.37 + d) + (d == 0 ? 2.0f : 0.0f);
}

static int add_loop(const char *db, int batch, int dim) {
    sembed_store *s = NULL;
    sembed_error err;
    if (sembed_store_open(db, SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE, &s, &err))
        return die("open", &err);
    float *v = malloc((size_t)batch * dim * sizeof *v);
    char (*texts)[32] = malloc((size_t)batch * sizeof *texts);
    char (*ids)[32] = malloc((size_t)batch * sizeof *ids);
    const char **tp = malloc((size_t)batch * sizeof *tp), **ip = malloc((size_t)batch * sizeof *ip);
    if (!v || !texts || !ids || !tp || !ip)
        return die("out of memory", NULL);
    for (long long b = 0;; b++) {
        long long rows = sembed_store_count(s, &err);
        if (rows < 0)
            return die("count", &err);
        for (int i = 0; i < batch; i++) {
            long long r = rows + i;
            row_vector(r, dim, v + (size_t)i * dim);
            snprintf(texts[i], sizeof texts[i], "row %lld", r);
            snprintf(ids[i], sizeof ids[i], "id-%lld", r);
            tp[i] = texts[i];
            ip[i] = ids[i];
        }
        /* Odd batches go in four chunks inside one outer transaction. */
        if (b % 2 == 0) {
            if (sembed_store_add(s, (size_t)batch, tp, NULL, ip, NULL, v, dim, NULL, &err))
                return die("add", &err);
        } else {
            if (sembed_store_begin(s, &err))
                return die("begin", &err);
            int q = batch / 4 ? batch / 4 : 1;
            for (int i = 0; i < batch; i += q) {
                int k = batch - i < q ? batch - i : q;
                if (sembed_store_add(s, (size_t)k, tp + i, NULL, ip + i, NULL,
                                     v + (size_t)i * dim, dim, NULL, &err))
                    return die("add chunk", &err);
            }
            if (sembed_store_commit(s, &err))
                return die("commit", &err);
        }
        printf("committed %lld\n", rows + batch);
        fflush(stdout);
    }
}

static int check(const char *db, int batch, int dim) {
    sembed_store *s = NULL;
    sembed_error err;
    /* With CREATE: a writer killed while first creating the store leaves
     * an empty file (or none), which is the state before it ran. */
    sembed_status st =
        sembed_store_open(db, SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE, &s, &err);
    if (st == SEMBED_ERR_NOT_FOUND) {
        /* Killed before the store was first created. */
        printf("0\n");
        return 0;
    }
    if (st)
        return die("open", &err);
    if (sembed_store_verify(s, &err))
        return die("verify", &err);
    long long rows = sembed_store_count(s, &err);
    if (rows < 0)
        return die("count", &err);
    if (rows % batch) {
        fprintf(stderr, "store_helper: %lld rows: a partial transaction\n", rows);
        return 1;
    }
    float *v = malloc((size_t)(rows ? rows : 1) * dim * sizeof *v);
    float *want = malloc(dim * sizeof *want);
    if (!v || !want)
        return die("out of memory", NULL);
    if (sembed_store_load_vectors(s, 0, (size_t)rows, v, (size_t)rows * dim, &err))
        return die("load", &err);
    for (long long r = 0; r < rows; r++) {
        row_vector(r, dim, want);
        if (memcmp(want, v + (size_t)r * dim, dim * sizeof *want)) {
            fprintf(stderr, "store_helper: row %lld holds another vector\n", r);
            return 1;
        }
    }
    /* The texts and ids of the newest rows (verify already checked every
     * row against its check value; this checks they are the right rows). */
    for (long long r = rows > 400 ? rows - 400 : 0; r < rows; r++) {
        sembed_store_row row;
        if (sembed_store_get_row(s, r, &row, &err))
            return die("row", &err);
        char t[32], id[32];
        snprintf(t, sizeof t, "row %lld", r);
        snprintf(id, sizeof id, "id-%lld", r);
        if (!row.text || strcmp(row.text, t) || !row.id || strcmp(row.id, id)) {
            fprintf(stderr, "store_helper: row %lld holds another text or id\n", r);
            return 1;
        }
        sembed_store_row_clear(&row);
    }
    printf("%lld\n", rows);
    free(v);
    free(want);
    sembed_store_close(s);
    return 0;
}

/* ---- HNSW ---------------------------------------------------------------- */

static float *random_unit(size_t n, int dim, unsigned long long seed) {
    float *v = malloc(n * (size_t)dim * sizeof *v);
    if (!v)
        return NULL;
    unsigned long long s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            double a = 0;
            for (int k = 0; k < 4; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                a += (double)(s >> 11) / 9007199254740992.0 - 0.5;
            }
            v[i * dim + d] = (float)a;
            ss += a * a;
        }
        for (int d = 0; d < dim; d++)
            v[i * dim + d] = (float)(v[i * dim + d] / sqrt(ss));
    }
    return v;
}

static int write_raw(const char *dir, const char *name, const float *v, size_t n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    if (!fp || fwrite(v, sizeof *v, n, fp) != n || fclose(fp))
        return -1;
    return 0;
}

static int print_results(FILE *fp, const sembed_hnsw *h, const float *q, size_t nq, int dim, int k,
                         int ef) {
    sembed_hit *hits = malloc(nq * (size_t)k * sizeof *hits);
    size_t *nh = malloc(nq * sizeof *nh);
    sembed_error err;
    if (!hits || !nh)
        return die("out of memory", NULL);
    if (sembed_hnsw_search(h, q, nq, dim, k, ef, hits, nq * (size_t)k, nh, &err))
        return die("search", &err);
    for (size_t i = 0; i < nq; i++) {
        for (size_t j = 0; j < nh[i]; j++)
            fprintf(fp, "%s%lld:%.9g", j ? " " : "", (long long)hits[i * k + j].corpus_id,
                    hits[i * k + j].score);
        fputc('\n', fp);
    }
    free(hits);
    free(nh);
    return 0;
}

static int hnsw_export(size_t n, int dim, const char *dir) {
    const size_t nq = 200;
    float *v = random_unit(n, dim, 1), *q = random_unit(nq, dim, 2);
    sembed_error err;
    sembed_hnsw *h = NULL;
    sembed_hnsw_params p = sembed_hnsw_default_params();
    if (!v || !q)
        return die("out of memory", NULL);
    if (sembed_hnsw_init(dim, &p, &h, &err) || sembed_hnsw_add(h, v, n, dim, 0, &err))
        return die("build", &err);
    char path[4096];
    snprintf(path, sizeof path, "%s/c.hnsw", dir);
    if (sembed_hnsw_save(h, path, NULL, &err))
        return die("save", &err);
    if (write_raw(dir, "vectors.f32", v, n * dim) || write_raw(dir, "queries.f32", q, nq * dim))
        return die("write", NULL);
    snprintf(path, sizeof path, "%s/c_results.txt", dir);
    FILE *fp = fopen(path, "w");
    if (!fp || print_results(fp, h, q, nq, dim, 10, 200) || fclose(fp))
        return die("results", NULL);
    sembed_hnsw_free(h);
    free(v);
    free(q);
    return 0;
}

static int hnsw_search(const char *index, int dim, const char *queries, size_t nq, int k, int ef) {
    sembed_error err;
    sembed_hnsw *h = NULL;
    if (sembed_hnsw_load(index, dim, NULL, NULL, &h, &err))
        return die("load", &err);
    float *q = malloc(nq * (size_t)dim * sizeof *q);
    FILE *fp = fopen(queries, "rb");
    if (!q || !fp || fread(q, sizeof *q, nq * dim, fp) != nq * (size_t)dim)
        return die("queries", NULL);
    fclose(fp);
    int rc = print_results(stdout, h, q, nq, dim, k, ef);
    sembed_hnsw_free(h);
    free(q);
    return rc;
}

static int hnsw_save_loop(const char *path, size_t n, int dim) {
    sembed_error err;
    sembed_hnsw *h[2] = {NULL, NULL};
    char sha[2][65];
    for (int i = 0; i < 2; i++) {
        float *v = random_unit(n, dim, 10 + (unsigned)i);
        sembed_hnsw_params p = sembed_hnsw_default_params();
        p.M = 8;
        p.n_threads = 1;
        if (!v || sembed_hnsw_init(dim, &p, &h[i], &err) ||
            sembed_hnsw_add(h[i], v, n, dim, 0, &err))
            return die("build", &err);
        free(v);
    }
    /* The first two saves tell the checksums (the same graph always gives
     * the same bytes). */
    for (int i = 0; i < 2; i++)
        if (sembed_hnsw_save(h[i], path, sha[i], &err))
            return die("save", &err);
    printf("sha %s\nsha %s\n", sha[0], sha[1]);
    fflush(stdout);
    for (unsigned long long t = 0;; t++)
        if (sembed_hnsw_save(h[t % 2], path, NULL, &err))
            return die("save", &err);
}

static int hnsw_check(const char *path, int dim) {
    sembed_error err;
    sembed_hnsw *h = NULL;
    if (sembed_hnsw_load(path, dim, NULL, NULL, &h, &err))
        return die("load", &err);
    sembed_hnsw_free(h);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "add-loop"))
        return add_loop(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "check"))
        return check(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "hnsw-export"))
        return hnsw_export((size_t)atol(argv[2]), atoi(argv[3]), argv[4]);
    if (argc >= 8 && !strcmp(argv[1], "hnsw-search"))
        return hnsw_search(argv[2], atoi(argv[3]), argv[4], (size_t)atol(argv[5]), atoi(argv[6]),
                           atoi(argv[7]));
    if (argc >= 5 && !strcmp(argv[1], "hnsw-save-loop"))
        return hnsw_save_loop(argv[2], (size_t)atol(argv[3]), atoi(argv[4]));
    if (argc >= 4 && !strcmp(argv[1], "hnsw-check"))
        return hnsw_check(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: see the comment at the top of store_helper.c\n");
    return 2;
}
