/*
 * test_store.c - the SQLite store (src/store/) at library level, with
 * synthetic vectors so that no model is needed: add / info / rows /
 * search in every mode, model identity refusals, reopen and read-only use,
 * limits at, below and above, bad vectors, transactions, a reader while
 * another thread writes (WAL), damaged databases and HNSW files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sembed.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static float *random_vectors(size_t n, int dim, uint64_t seed) {
    float *v = malloc(n * (size_t)dim * sizeof *v);
    assert_non_null(v);
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n * (size_t)dim; i++) {
        double a = 0;
        for (int k = 0; k < 4; k++)
            a += (double)(rng_next(&s) >> 11) / 9007199254740992.0 - 0.5;
        v[i] = (float)a;
    }
    return v;
}

static char tmpdir[256];

static int make_tmpdir(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sembed-store-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void clear_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static int remove_tmpdir(void **state) {
    (void)state;
    clear_tmpdir();
    rmdir(tmpdir);
    return 0;
}

/* A fresh path in the temporary folder for each test. */
static void db_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static sembed_store *create_store(const char *name, char *path, size_t cap) {
    db_path(path, cap, name);
    sembed_store *s = NULL;
    sembed_error err;
    sembed_status st =
        sembed_store_open(path, SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE, &s, &err);
    if (st != SEMBED_OK)
        fail_msg("open %s: %s", path, err.message);
    return s;
}

static sembed_store_model model_id(const char *name, const char *sha, int dim) {
    sembed_store_model m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", name);
    snprintf(m.weights_sha256, sizeof m.weights_sha256, "%s", sha);
    snprintf(m.pooling, sizeof m.pooling, "mean");
    m.dim = dim;
    m.normalize = 1;
    m.max_seq_length = 256;
    return m;
}

static const char sha_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char sha_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* Exact cosine top-k in double precision. */
static void oracle_topk(const float *corpus, size_t n, const float *q, int dim, int k,
                        int64_t *ids, double *scores) {
    for (int j = 0; j < k; j++)
        scores[j] = -INFINITY, ids[j] = -1;
    double qn = 0;
    for (int d = 0; d < dim; d++)
        qn += (double)q[d] * q[d];
    for (size_t i = 0; i < n; i++) {
        const float *v = corpus + i * (size_t)dim;
        double dot = 0, vn = 0;
        for (int d = 0; d < dim; d++)
            dot += (double)q[d] * v[d], vn += (double)v[d] * v[d];
        double s = dot / sqrt(qn * vn);
        if (s <= scores[k - 1])
            continue;
        int j = k - 1;
        while (j > 0 && scores[j - 1] < s) {
            scores[j] = scores[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        scores[j] = s;
        ids[j] = (int64_t)i;
    }
}

/* ---- tests ------------------------------------------------------------ */

static void test_add_info_rows(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("basic.db", path, sizeof path);
    sembed_error err;
    sembed_store_info info;
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.rows, 0);
    assert_int_equal(info.dim, 0);
    assert_int_equal(info.schema_version, 1);
    assert_int_equal(info.has_model, 0);
    assert_int_equal(info.has_hnsw, 0);
    assert_string_equal(info.path, path);

    const char *texts[3] = {"first", "second, with a\nnewline", "third"};
    size_t lens[3] = {5, 22, 5};
    const char *ids[3] = {"a", NULL, "c"};
    const char *meta[3] = {"{\"lang\":\"en\"}", NULL, "[1,2,3]"};
    float v[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0.5f};
    int64_t first = -1;
    assert_int_equal(sembed_store_add(s, 3, texts, lens, ids, meta, v, 4, &first, &err), SEMBED_OK);
    assert_int_equal(first, 0);
    /* A text with a NUL byte inside keeps its length; no ids at all. */
    const char nul_text[] = {'x', 0, 'y'};
    const char *t2[1] = {nul_text};
    size_t l2[1] = {3};
    float v2[4] = {0, 0, 0, 2};
    assert_int_equal(sembed_store_add(s, 1, t2, l2, NULL, NULL, v2, 4, &first, &err), SEMBED_OK);
    assert_int_equal(first, 3);
    /* A row without text. */
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v2, 4, &first, &err),
                     SEMBED_OK);
    assert_int_equal(first, 4);

    assert_int_equal(sembed_store_count(s, &err), 5);
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.rows, 5);
    assert_int_equal(info.dim, 4);

    sembed_store_row row;
    assert_int_equal(sembed_store_get_row(s, 1, &row, &err), SEMBED_OK);
    assert_int_equal(row.corpus_id, 1);
    assert_int_equal(row.text_len, 22);
    assert_memory_equal(row.text, texts[1], 22);
    assert_null(row.id);
    assert_null(row.metadata);
    sembed_store_row_clear(&row);
    assert_int_equal(sembed_store_get_row(s, 2, &row, &err), SEMBED_OK);
    assert_string_equal(row.id, "c");
    assert_string_equal(row.metadata, "[1,2,3]");
    sembed_store_row_clear(&row);
    assert_int_equal(sembed_store_get_row(s, 3, &row, &err), SEMBED_OK);
    assert_int_equal(row.text_len, 3);
    assert_memory_equal(row.text, nul_text, 3);
    sembed_store_row_clear(&row);
    assert_int_equal(sembed_store_get_row(s, 4, &row, &err), SEMBED_OK);
    assert_null(row.text);
    sembed_store_row_clear(&row);
    assert_int_equal(sembed_store_get_row(s, 5, &row, &err), SEMBED_ERR_NOT_FOUND);
    assert_int_equal(sembed_store_get_row(s, -1, &row, &err), SEMBED_ERR_NOT_FOUND);

    float back[20];
    assert_int_equal(sembed_store_load_vectors(s, 0, 3, back, 20, &err), SEMBED_OK);
    assert_memory_equal(back, v, sizeof v);
    assert_int_equal(sembed_store_load_vectors(s, 3, 2, back, 8, &err), SEMBED_OK);
    assert_memory_equal(back, v2, sizeof v2);
    assert_int_equal(sembed_store_load_vectors(s, 3, 3, back, 20, &err),
                     SEMBED_ERR_INVALID_ARGUMENT); /* past the end */
    assert_int_equal(sembed_store_load_vectors(s, 0, 5, back, 19, &err),
                     SEMBED_ERR_INVALID_ARGUMENT); /* out too small */
    assert_int_equal(sembed_store_verify(s, &err), SEMBED_OK);
    sembed_store_close(s);

    /* Reopened read-only: the same rows; writes refused. */
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &s, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(s, &err), 5);
    assert_int_equal(sembed_store_get_row(s, 0, &row, &err), SEMBED_OK);
    assert_string_equal(row.text, "first");
    assert_string_equal(row.id, "a");
    assert_string_equal(row.metadata, "{\"lang\":\"en\"}");
    sembed_store_row_clear(&row);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v2, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "read-only"));
    sembed_store_close(s);

    /* A missing store is not created without the flag. */
    char missing[512];
    db_path(missing, sizeof missing, "missing.db");
    assert_int_equal(sembed_store_open(missing, SEMBED_STORE_READWRITE, &s, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "missing.db"));
    assert_int_equal(access(missing, F_OK), -1);
    assert_int_equal(sembed_store_open(tmpdir, SEMBED_STORE_READONLY, &s, &err), SEMBED_ERR_IO);
    sembed_store_close(NULL);
}

static void test_search_exact(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("exact.db", path, sizeof path);
    sembed_error err;
    const int dim = 16;
    const size_t n = 300, nq = 8;
    float *v = random_vectors(n, dim, 5), *q = random_vectors(nq, dim, 6);
    sembed_hit hits[8 * 5];
    size_t nh[8];
    sembed_store_search_params p = sembed_store_search_default_params();
    p.top_k = 5;
    /* An empty store answers with no hits. */
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, hits, 40, nh, &err), SEMBED_OK);
    for (size_t i = 0; i < nq; i++)
        assert_int_equal(nh[i], 0);

    /* Two adds, so that the cached vectors are extended in between. */
    assert_int_equal(sembed_store_add(s, 100, NULL, NULL, NULL, NULL, v, dim, NULL, &err),
                     SEMBED_OK);
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, hits, 40, nh, &err), SEMBED_OK);
    assert_int_equal(sembed_store_add(s, n - 100, NULL, NULL, NULL, NULL, v + 100 * dim, dim, NULL,
                                      &err),
                     SEMBED_OK);
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, hits, 40, nh, &err), SEMBED_OK);
    int64_t ids[5];
    double sc[5];
    for (size_t i = 0; i < nq; i++) {
        oracle_topk(v, n, q + i * dim, dim, 5, ids, sc);
        assert_int_equal(nh[i], 5);
        for (int j = 0; j < 5; j++) {
            assert_int_equal(hits[i * 5 + j].corpus_id, ids[j]);
            assert_true(fabs(hits[i * 5 + j].score - sc[j]) < 1e-5);
        }
    }
    /* k larger than the store: every row, once. */
    sembed_hit *all = malloc(400 * sizeof *all);
    p.top_k = 400;
    assert_int_equal(sembed_store_search(s, q, 1, dim, &p, all, 400, nh, &err), SEMBED_OK);
    assert_int_equal(nh[0], n);
    free(all);
    /* Bad queries. */
    p.top_k = 0;
    assert_int_equal(sembed_store_search(s, q, 1, dim, &p, hits, 40, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "top_k"));
    p.top_k = 5;
    assert_int_equal(sembed_store_search(s, q, 1, dim - 1, &p, hits, 40, nh, &err),
                     SEMBED_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "dimensions"));
    float bad[16];
    memcpy(bad, q, sizeof bad);
    bad[3] = NAN;
    assert_int_equal(sembed_store_search(s, bad, 1, dim, &p, hits, 40, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "NaN"));
    memset(bad, 0, sizeof bad);
    assert_int_equal(sembed_store_search(s, bad, 1, dim, &p, hits, 40, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "zero vector"));
    assert_int_equal(sembed_store_search(s, q, 9, dim, &p, hits, 40, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT); /* hits too small */
    /* The dot score ranks by raw inner product. */
    p.score = SEMBED_SCORE_DOT;
    assert_int_equal(sembed_store_search(s, q, 1, dim, &p, hits, 40, nh, &err), SEMBED_OK);
    double best = -INFINITY;
    int64_t best_id = -1;
    for (size_t i = 0; i < n; i++) {
        double dot = 0;
        for (int d = 0; d < dim; d++)
            dot += (double)q[d] * v[i * dim + d];
        if (dot > best)
            best = dot, best_id = (int64_t)i;
    }
    assert_int_equal(hits[0].corpus_id, best_id);
    sembed_store_close(s);
    free(v);
    free(q);
}

static double overlap(const sembed_hit *a, const sembed_hit *b, size_t nq, int k) {
    size_t same = 0;
    for (size_t i = 0; i < nq; i++)
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++)
                if (a[i * k + x].corpus_id == b[i * k + y].corpus_id)
                    same++;
    return (double)same / (double)(nq * (size_t)k);
}

static void test_search_modes(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("modes.db", path, sizeof path);
    sembed_error err;
    const int dim = 32, k = 10;
    const size_t n = 2000, nq = 20;
    float *v = random_vectors(n, dim, 9), *q = random_vectors(nq, dim, 10);
    assert_int_equal(sembed_store_add(s, n, NULL, NULL, NULL, NULL, v, dim, NULL, &err),
                     SEMBED_OK);
    sembed_hit exact[200], got[200];
    size_t nh[20];
    sembed_store_search_params p = sembed_store_search_default_params();
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, exact, 200, nh, &err), SEMBED_OK);

    p.mode = SEMBED_STORE_INT8;
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, got, 200, nh, &err), SEMBED_OK);
    double r_int8 = overlap(exact, got, nq, k);
    p.mode = SEMBED_STORE_BINARY;
    p.rescore_multiplier = 10;
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, got, 200, nh, &err), SEMBED_OK);
    double r_bin = overlap(exact, got, nq, k);
    print_message("store recall@10 vs exact: int8 %.3f, binary (x10 rescore) %.3f\n", r_int8,
                  r_bin);
    assert_true(r_int8 >= 0.8);
    assert_true(r_bin >= 0.5);

    /* HNSW: absent, built, stale after an add, extended. */
    p = sembed_store_search_default_params();
    p.mode = SEMBED_STORE_HNSW;
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "build-hnsw"));
    assert_int_equal(sembed_store_build_hnsw(s, NULL, 0, &err), SEMBED_OK);
    sembed_store_info info;
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.has_hnsw, 1);
    assert_int_equal(info.hnsw_rows, (int64_t)n);
    assert_int_equal(info.hnsw_M, 16);
    assert_int_equal(info.hnsw_ef_construction, 200);
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, got, 200, nh, &err), SEMBED_OK);
    double r_hnsw = overlap(exact, got, nq, k);
    print_message("store recall@10 vs exact: hnsw %.3f\n", r_hnsw);
    assert_true(r_hnsw >= 0.9);

    /* Another handle (another process, say) sees the index too. */
    sembed_store *r = NULL;
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    assert_int_equal(sembed_store_search(r, q, nq, dim, &p, got, 200, nh, &err), SEMBED_OK);

    float *more = random_vectors(50, dim, 11);
    assert_int_equal(sembed_store_add(s, 50, NULL, NULL, NULL, NULL, more, dim, NULL, &err),
                     SEMBED_OK);
    assert_int_equal(sembed_store_search(s, q, nq, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "covers 2000 of its 2050 rows"));
    assert_int_equal(sembed_store_search(r, q, nq, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_MISMATCH);
    assert_int_equal(sembed_store_build_hnsw(s, NULL, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.hnsw_rows, (int64_t)n + 50);
    /* Each new row finds itself first, through both handles. */
    for (int i = 0; i < 50; i += 7) {
        assert_int_equal(sembed_store_search(s, more + i * dim, 1, dim, &p, got, 200, nh, &err),
                         SEMBED_OK);
        assert_int_equal(got[0].corpus_id, (int64_t)n + i);
        assert_int_equal(sembed_store_search(r, more + i * dim, 1, dim, &p, got, 200, nh, &err),
                         SEMBED_OK);
        assert_int_equal(got[0].corpus_id, (int64_t)n + i);
    }
    /* Up to date: building again changes nothing. */
    assert_int_equal(sembed_store_build_hnsw(s, NULL, 0, &err), SEMBED_OK);

    /* A damaged index file is refused, then rebuilt by the next build. */
    struct stat sb;
    assert_int_equal(stat(info.hnsw_path, &sb), 0);
    FILE *fp = fopen(info.hnsw_path, "r+b");
    assert_non_null(fp);
    fseek(fp, sb.st_size / 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, sb.st_size / 2, SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
    sembed_store_close(r);
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, ".hnsw"));
    assert_int_equal(sembed_store_build_hnsw(s, NULL, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, got, 200, nh, &err), SEMBED_OK);
    /* A missing one is named. */
    char saved[600];
    snprintf(saved, sizeof saved, "%s.saved", info.hnsw_path);
    assert_int_equal(rename(info.hnsw_path, saved), 0);
    sembed_store_close(r);
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "missing"));
    assert_int_equal(rename(saved, info.hnsw_path), 0);
    /* Explicit parameters that differ rebuild with them. */
    sembed_hnsw_params hp = sembed_hnsw_default_params();
    hp.M = 8;
    hp.ef_construction = 50;
    assert_int_equal(sembed_store_build_hnsw(s, &hp, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.hnsw_M, 8);
    assert_int_equal(info.hnsw_ef_construction, 50);
    assert_int_equal(sembed_store_search(r, q, nq, dim, &p, got, 200, nh, &err), SEMBED_OK);
    /* An index built for dot scores answers dot searches only. */
    hp.score = SEMBED_SCORE_DOT;
    assert_int_equal(sembed_store_build_hnsw(s, &hp, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_store_search(r, q, nq, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "dot scores"));
    p.score = SEMBED_SCORE_DOT;
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, got, 200, nh, &err), SEMBED_OK);
    p.mode = SEMBED_STORE_EXACT;
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, exact, 200, nh, &err), SEMBED_OK);
    assert_int_equal(got[0].corpus_id, exact[0].corpus_id);
    assert_true(fabsf(got[0].score - exact[0].score) < 1e-4f);
    /* HNSW parameters out of range in the database (one that would wrap
     * to a plausible int) are damage, not a build parameter. */
    sembed_store_close(r);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE meta SET value = '4294967346' "
                                  "WHERE key = 'hnsw_ef_construction'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    p.mode = SEMBED_STORE_HNSW;
    assert_int_equal(sembed_store_search(r, q, 1, dim, &p, got, 200, nh, &err),
                     SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "bad HNSW metadata"));
    /* No temporary files are left next to the index. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_null(strstr(e->d_name, ".tmp"));
    closedir(d);
    sembed_store_close(r);
    sembed_store_close(s);
    free(v);
    free(q);
    free(more);
}

static void test_model_identity(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("model.db", path, sizeof path);
    sembed_error err;
    sembed_store_model a = model_id("org/model-a", sha_a, 4);
    /* No model recorded: any model of the store's dim passes. */
    assert_int_equal(sembed_store_check_model(s, &a, &err), SEMBED_OK);
    assert_int_equal(sembed_store_set_model(s, &a, &err), SEMBED_OK);
    assert_int_equal(sembed_store_set_model(s, &a, &err), SEMBED_OK); /* again: a check */
    sembed_store_info info;
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.has_model, 1);
    assert_string_equal(info.model.name, "org/model-a");
    assert_string_equal(info.model.weights_sha256, sha_a);
    assert_string_equal(info.model.pooling, "mean");
    assert_int_equal(info.model.dim, 4);
    assert_int_equal(info.model.normalize, 1);
    assert_int_equal(info.model.max_seq_length, 256);

    /* The same weights under another name (a folder path) are the same. */
    sembed_store_model same = a;
    snprintf(same.name, sizeof same.name, "/models/a");
    assert_int_equal(sembed_store_check_model(s, &same, &err), SEMBED_OK);

    struct {
        sembed_store_model m;
        const char *says;
    } cases[6];
    cases[0].m = model_id("org/model-b", sha_b, 4), cases[0].says = "weights differ";
    cases[1].m = a, cases[1].m.dim = 8, cases[1].says = "8 dimensions";
    cases[2].m = a, snprintf(cases[2].m.pooling, 96, "cls"), cases[2].says = "pooling";
    cases[3].m = a, cases[3].m.normalize = 0, cases[3].says = "normalize";
    cases[4].m = a, cases[4].m.max_seq_length = 128, cases[4].says = "max_seq_length";
    cases[5].m = model_id("org/model-c", "", 4), cases[5].says = "name differs";
    for (int i = 0; i < 6; i++) {
        assert_int_equal(sembed_store_check_model(s, &cases[i].m, &err), SEMBED_ERR_MISMATCH);
        if (!strstr(err.message, cases[i].says))
            fail_msg("case %d: \"%s\" lacks \"%s\"", i, err.message, cases[i].says);
        assert_non_null(strstr(err.message, "org/model-a"));
        assert_non_null(strstr(err.message, path));
        assert_int_equal(sembed_store_set_model(s, &cases[i].m, &err), SEMBED_ERR_MISMATCH);
    }
    /* Vectors of another length than the model's are refused. */
    float v8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v8, 8, NULL, &err),
                     SEMBED_ERR_MISMATCH);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v8, 4, NULL, &err), SEMBED_OK);
    sembed_store_close(s);

    /* A store without a model but with rows takes only a model of its dim. */
    s = create_store("nomodel.db", path, sizeof path);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v8, 8, NULL, &err), SEMBED_OK);
    assert_int_equal(sembed_store_set_model(s, &a, &err), SEMBED_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "8 dimensions"));
    sembed_store_model a8 = model_id("org/model-a8", sha_a, 8);
    assert_int_equal(sembed_store_set_model(s, &a8, &err), SEMBED_OK);
    sembed_store_model bad = a8;
    bad.dim = 0;
    assert_int_equal(sembed_store_set_model(s, &bad, &err), SEMBED_ERR_INVALID_ARGUMENT);
    sembed_store_close(s);
}

static void test_bad_rows_and_limits(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("limits.db", path, sizeof path);
    sembed_error err;
    float v[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    /* Vectors. */
    float nan_v[4] = {1, NAN, 3, 4}, inf_v[4] = {1, 2, -INFINITY, 4}, zero[4] = {0, 0, 0, 0};
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, nan_v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "NaN"));
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, inf_v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "Inf"));
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, zero, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "zero vector"));
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v, 0, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v, SEMBED_STORE_MAX_DIM + 1,
                                      NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* n = 0 is a no-op that records nothing. */
    assert_int_equal(sembed_store_add(s, 0, NULL, NULL, NULL, NULL, NULL, 4, NULL, &err),
                     SEMBED_OK);
    assert_int_equal(sembed_store_count(s, &err), 0);
    /* The second row's NaN refuses the whole add. */
    float mixed[8] = {1, 2, 3, 4, 1, 2, NAN, 4};
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, NULL, NULL, mixed, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "vector 1"));
    assert_int_equal(sembed_store_count(s, &err), 0);
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, NULL, NULL, v, 4, NULL, &err), SEMBED_OK);
    /* Another dim than the store's. */
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v, 8, NULL, &err),
                     SEMBED_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "4 dimensions"));

    /* Ids: at the limit, over it, empty, duplicated (in one add: nothing
     * of it lands; against an earlier add). */
    char *long_id = malloc(SEMBED_STORE_MAX_ID_BYTES + 2);
    memset(long_id, 'i', SEMBED_STORE_MAX_ID_BYTES + 1);
    long_id[SEMBED_STORE_MAX_ID_BYTES + 1] = 0;
    const char *ids[2] = {long_id, NULL};
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, ids, NULL, v, 4, NULL, &err),
                     SEMBED_ERR_LIMIT);
    long_id[SEMBED_STORE_MAX_ID_BYTES] = 0;
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, ids, NULL, v, 4, NULL, &err), SEMBED_OK);
    ids[0] = "";
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, ids, NULL, v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    const char *dup[2] = {"x", "x"};
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, dup, NULL, v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "\"x\" is already"));
    assert_int_equal(sembed_store_count(s, &err), 3);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, dup, NULL, v, 4, NULL, &err), SEMBED_OK);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, dup, NULL, v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_store_count(s, &err), 4);
    free(long_id);

    /* Metadata: valid JSON only, at most the limit. */
    const char *meta[1] = {"{not json"};
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, meta, v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "JSON"));
    char *big = malloc(SEMBED_STORE_MAX_METADATA_BYTES + 2);
    memset(big, ' ', SEMBED_STORE_MAX_METADATA_BYTES + 1);
    big[0] = '1';
    big[SEMBED_STORE_MAX_METADATA_BYTES] = 0; /* exactly at the limit */
    meta[0] = big;
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, meta, v, 4, NULL, &err), SEMBED_OK);
    big[SEMBED_STORE_MAX_METADATA_BYTES] = ' ';
    big[SEMBED_STORE_MAX_METADATA_BYTES + 1] = 0;
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, meta, v, 4, NULL, &err),
                     SEMBED_ERR_LIMIT);
    free(big);

    /* Texts: at the limit and one byte over. */
    size_t tl = SEMBED_STORE_MAX_TEXT_BYTES;
    char *text = malloc(tl + 1);
    memset(text, 't', tl + 1);
    const char *texts[1] = {text};
    size_t lens[1] = {tl + 1};
    assert_int_equal(sembed_store_add(s, 1, texts, lens, NULL, NULL, v, 4, NULL, &err),
                     SEMBED_ERR_LIMIT);
    lens[0] = tl;
    int64_t row_id = -1;
    assert_int_equal(sembed_store_add(s, 1, texts, lens, NULL, NULL, v, 4, &row_id, &err),
                     SEMBED_OK);
    sembed_store_row row;
    assert_int_equal(sembed_store_get_row(s, row_id, &row, &err), SEMBED_OK);
    assert_int_equal(row.text_len, tl);
    sembed_store_row_clear(&row);
    free(text);
    assert_int_equal(sembed_store_verify(s, &err), SEMBED_OK);
    sembed_store_close(s);
}

static void test_transactions(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("txn.db", path, sizeof path);
    sembed_error err;
    float v[8] = {1, 2, 3, 4, 4, 3, 2, 1}, nan_v[4] = {NAN, 0, 0, 1};
    assert_int_equal(sembed_store_begin(s, &err), SEMBED_OK);
    assert_int_equal(sembed_store_begin(s, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, NULL, NULL, v, 4, NULL, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(s, &err), 2);
    sembed_store_rollback(s);
    assert_int_equal(sembed_store_count(s, &err), 0);
    sembed_store_info info;
    assert_int_equal(sembed_store_get_info(s, &info, &err), SEMBED_OK);
    assert_int_equal(info.dim, 0); /* the dim went with the rollback */

    /* A failing chunk inside an outer transaction leaves the others. */
    assert_int_equal(sembed_store_begin(s, &err), SEMBED_OK);
    const char *ids[1] = {"one"};
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, ids, NULL, v, 4, NULL, &err), SEMBED_OK);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, ids, NULL, v + 4, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT); /* duplicate id: rolled back to its savepoint */
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, nan_v, 4, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_store_add(s, 1, NULL, NULL, NULL, NULL, v + 4, 4, NULL, &err),
                     SEMBED_OK);
    /* Another handle does not see the uncommitted rows. */
    sembed_store *r = NULL;
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(r, &err), 0);
    assert_int_equal(sembed_store_commit(s, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(r, &err), 2);
    assert_int_equal(sembed_store_commit(s, &err), SEMBED_ERR_INVALID_ARGUMENT);
    sembed_store_close(r);
    /* Closing with an open transaction rolls it back. */
    assert_int_equal(sembed_store_begin(s, &err), SEMBED_OK);
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, NULL, NULL, v, 4, NULL, &err), SEMBED_OK);
    sembed_store_close(s);
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &s, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(s, &err), 2);
    assert_int_equal(sembed_store_verify(s, &err), SEMBED_OK);
    sembed_store_close(s);
}

/* ---- a reader while another thread writes (WAL) ----------------------- */

enum { WAL_BATCHES = 40, WAL_BATCH = 25, WAL_DIM = 8 };

typedef struct writer_arg {
    const char *path;
    int rc;
    char msg[512];
} writer_arg;

/* Row r holds the vector (r + 1, 1, 1, ...) and the text "row r". */
static void fill_batch(int b, float *v, char texts[][32], const char **tp) {
    for (int i = 0; i < WAL_BATCH; i++) {
        int r = b * WAL_BATCH + i;
        for (int d = 0; d < WAL_DIM; d++)
            v[i * WAL_DIM + d] = d == 0 ? (float)(r + 1) : 1.0f;
        snprintf(texts[i], 32, "row %d", r);
        tp[i] = texts[i];
    }
}

static void *writer_main(void *argp) {
    writer_arg *a = argp;
    sembed_store *w = NULL;
    sembed_error err;
    a->rc = sembed_store_open(a->path, SEMBED_STORE_READWRITE, &w, &err);
    float v[WAL_BATCH * WAL_DIM];
    char texts[WAL_BATCH][32];
    const char *tp[WAL_BATCH];
    for (int b = 0; b < WAL_BATCHES && a->rc == SEMBED_OK; b++) {
        fill_batch(b, v, texts, tp);
        a->rc = sembed_store_add(w, WAL_BATCH, tp, NULL, NULL, NULL, v, WAL_DIM, NULL, &err);
    }
    if (a->rc != SEMBED_OK)
        snprintf(a->msg, sizeof a->msg, "%s", err.message);
    sembed_store_close(w);
    return NULL;
}

static void test_wal_reader_while_writing(void **state) {
    (void)state;
    char path[512];
    sembed_store *s = create_store("wal.db", path, sizeof path);
    sembed_store_close(s);
    sembed_store *r = NULL;
    sembed_error err;
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &r, &err), SEMBED_OK);
    writer_arg a = {path, 0, ""};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, writer_main, &a), 0);
    int64_t last = 0;
    int reads = 0;
    sembed_store_search_params p = sembed_store_search_default_params();
    p.top_k = 1;
    p.score = SEMBED_SCORE_DOT;
    float q[WAL_DIM] = {1, 0, 0, 0, 0, 0, 0, 0};
    while (last < WAL_BATCHES * WAL_BATCH) {
        int64_t n = sembed_store_count(r, &err);
        if (n < 0)
            fail_msg("count while writing: %s", err.message);
        assert_true(n >= last);
        assert_int_equal(n % WAL_BATCH, 0); /* whole transactions only */
        if (n > 0) {
            sembed_store_row row;
            assert_int_equal(sembed_store_get_row(r, n - 1, &row, &err), SEMBED_OK);
            char want[32];
            snprintf(want, sizeof want, "row %lld", (long long)(n - 1));
            assert_string_equal(row.text, want);
            sembed_store_row_clear(&row);
            sembed_hit hit;
            size_t nh;
            sembed_status st = sembed_store_search(r, q, 1, WAL_DIM, &p, &hit, 1, &nh, &err);
            if (st != SEMBED_OK)
                fail_msg("search while writing: %s", err.message);
            /* The largest first value is in the newest row seen so far. */
            assert_true(hit.corpus_id >= n - 1);
        }
        last = n;
        reads++;
        if (a.rc != SEMBED_OK)
            break;
    }
    pthread_join(tid, NULL);
    if (a.rc != SEMBED_OK)
        fail_msg("writer: %s", a.msg);
    print_message("reads while writing: %d\n", reads);
    assert_int_equal(sembed_store_count(r, &err), WAL_BATCHES * WAL_BATCH);
    sembed_store_close(r);
}

/* ---- damaged files ---------------------------------------------------- */

static void write_file_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n)
        assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static void remove_db(const char *path) {
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void expect_open_refused(const char *path, sembed_status want, const char *says) {
    sembed_store *s = NULL;
    sembed_error err;
    sembed_status st = sembed_store_open(path, SEMBED_STORE_READWRITE, &s, &err);
    if (st != want)
        fail_msg("%s: status %d (%s), wanted %d", path, (int)st, err.message, (int)want);
    assert_null(s);
    assert_non_null(strstr(err.message, path));
    if (says && !strstr(err.message, says))
        fail_msg("\"%s\" lacks \"%s\"", err.message, says);
}

/* Opens and reads everything; the first failure must be a clean error
 * naming the file. Returns 1 when everything read and verified. */
static int read_all(const char *path) {
    sembed_store *s = NULL;
    sembed_error err;
    sembed_status st = sembed_store_open(path, SEMBED_STORE_READONLY, &s, &err);
    if (st == SEMBED_OK) {
        sembed_store_info info;
        st = sembed_store_get_info(s, &info, &err);
        if (st == SEMBED_OK && info.rows > 0 && info.dim > 0) {
            float *q = calloc((size_t)info.dim, sizeof *q);
            q[0] = 1;
            sembed_hit hits[5];
            size_t nh;
            sembed_store_search_params p = sembed_store_search_default_params();
            p.top_k = 5;
            st = sembed_store_search(s, q, 1, info.dim, &p, hits, 5, &nh, &err);
            free(q);
            for (int64_t i = 0; st == SEMBED_OK && i < info.rows; i += 37) {
                sembed_store_row row;
                st = sembed_store_get_row(s, i, &row, &err);
                sembed_store_row_clear(&row);
            }
        }
        if (st == SEMBED_OK)
            st = sembed_store_verify(s, &err);
    }
    sembed_store_close(s);
    if (st != SEMBED_OK) {
        if (st != SEMBED_ERR_FORMAT && st != SEMBED_ERR_IO && st != SEMBED_ERR_NOT_FOUND)
            fail_msg("%s: unexpected status %d: %s", path, (int)st, err.message);
        assert_non_null(strstr(err.message, path));
        return 0;
    }
    return 1;
}

/* A damaged store that still reads must hold exactly the original rows. */
static void assert_intact(const char *path, const float *vv, int n, int dim, char texts[][40]) {
    sembed_store *t = NULL;
    sembed_error err;
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &t, &err), SEMBED_OK);
    assert_int_equal(sembed_store_count(t, &err), n);
    float *back = malloc((size_t)n * dim * sizeof *back);
    assert_int_equal(sembed_store_load_vectors(t, 0, (size_t)n, back, (size_t)n * dim, &err),
                     SEMBED_OK);
    assert_memory_equal(back, vv, (size_t)n * dim * sizeof *back);
    free(back);
    for (int i = 0; i < n; i++) {
        sembed_store_row row;
        assert_int_equal(sembed_store_get_row(t, i, &row, &err), SEMBED_OK);
        assert_string_equal(row.text, texts[i]);
        sembed_store_row_clear(&row);
    }
    sembed_store_close(t);
}

static void test_damaged_files(void **state) {
    (void)state;
    char path[512], bad[512];
    db_path(bad, sizeof bad, "bad.db");
    /* Not SQLite at all. */
    const char text[] = "question,answer\nHow can Medicare help me?,...\n";
    write_file_bytes(bad, text, sizeof text - 1);
    expect_open_refused(bad, SEMBED_ERR_FORMAT, "not a sembed store");
    unsigned char junk[8192];
    uint64_t rs = 5;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rng_next(&rs);
    write_file_bytes(bad, junk, sizeof junk);
    expect_open_refused(bad, SEMBED_ERR_FORMAT, NULL);
    /* An empty file, without the create flag. */
    write_file_bytes(bad, "", 0);
    expect_open_refused(bad, SEMBED_ERR_FORMAT, "empty");
    /* A database of another program, and one from a newer sembed. */
    unlink(bad);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(bad, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_refused(bad, SEMBED_ERR_FORMAT, "another program");
    sembed_store *s = create_store("newer.db", path, sizeof path);
    sembed_store_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_refused(path, SEMBED_ERR_UNSUPPORTED, "schema 99");

    /* A store with vectors of the wrong size inside (written behind our
     * back) is reported by search and verify, not read out of bounds. */
    s = create_store("wrongsize.db", path, sizeof path);
    float v[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    sembed_error err;
    assert_int_equal(sembed_store_add(s, 2, NULL, NULL, NULL, NULL, v, 4, NULL, &err), SEMBED_OK);
    sembed_store_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE vectors SET vector = x'0000' WHERE corpus_id = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(read_all(path), 0);

    /* A row number far past the end (written behind our back) is refused
     * before anything is sized by it: loading would otherwise ask for
     * terabytes. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE vectors SET vector = x'0000803f000000400000404000008040' "
                                      "WHERE corpus_id = 1; "
                                      "UPDATE items SET corpus_id = 400000000000 WHERE corpus_id = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sembed_store_open(path, SEMBED_STORE_READONLY, &s, &err), SEMBED_OK);
    float q4[4] = {1, 0, 0, 0};
    sembed_hit hit4[2];
    size_t nh4;
    sembed_store_search_params sp = sembed_store_search_default_params();
    sp.top_k = 2;
    assert_int_equal(sembed_store_search(s, q4, 1, 4, &sp, hit4, 2, &nh4, &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "cannot fit"));
    print_message("row number far past the end: %s\n", err.message);
    sembed_store_close(s);
    assert_int_equal(read_all(path), 0);

    /* A real store of a few hundred rows, truncated at many lengths. */
    s = create_store("full.db", path, sizeof path);
    const int dim = 32;
    float *vv = random_vectors(600, dim, 3);
    char texts[600][40];
    const char *tp[600];
    for (int i = 0; i < 600; i++) {
        snprintf(texts[i], sizeof texts[i], "text number %d of the store", i);
        tp[i] = texts[i];
    }
    assert_int_equal(sembed_store_add(s, 600, tp, NULL, NULL, NULL, vv, dim, NULL, &err),
                     SEMBED_OK);
    sembed_store_close(s); /* the last close checkpoints the WAL into the file */
    char *img = NULL;
    size_t len = 0;
    assert_int_equal(read_file(path, 1 << 26, &img, &len, &err), SEMBED_OK);
    assert_true(len > 8192);
    assert_int_equal(read_all(path), 1);
    int clean = 0, refused = 0;
    for (size_t cut = 1; cut < len; cut += cut < 200 ? 7 : 509) {
        remove_db(bad); /* no stale -wal / -shm from the last round */
        write_file_bytes(bad, img, cut);
        if (read_all(bad)) {
            /* Only the unused tail of the last page went: then every row
             * must read back exactly. */
            clean++;
            assert_intact(bad, vv, 600, dim, texts);
        } else {
            refused++;
        }
    }
    print_message("truncated stores: %d refused, %d intact (only unused bytes cut)\n", refused,
                  clean);
    assert_true(refused > 250);
    /* Random byte damage: a clean error, or (damage in unused space) the
     * original rows exactly; never a crash or a changed row. */
    int intact = 0;
    for (int t = 0; t < 60; t++) {
        unsigned char *c = malloc(len);
        memcpy(c, img, len);
        for (int k = 0; k < 8; k++)
            c[rng_next(&rs) % len] = (unsigned char)rng_next(&rs);
        remove_db(bad);
        write_file_bytes(bad, c, len);
        if (read_all(bad)) {
            intact++;
            assert_intact(bad, vv, 600, dim, texts);
        }
        free(c);
    }
    print_message("damaged stores (8 random bytes): %d of 60 intact, the rest refused\n", intact);
    free(img);
    free(vv);
    clear_tmpdir();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_info_rows),
        cmocka_unit_test(test_search_exact),
        cmocka_unit_test(test_search_modes),
        cmocka_unit_test(test_model_identity),
        cmocka_unit_test(test_bad_rows_and_limits),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_wal_reader_while_writing),
        cmocka_unit_test(test_damaged_files),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
