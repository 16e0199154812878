/*
 * test_hnsw.c - the HNSW index (src/search/hnsw*): build, search, save and
 * load; recall@10 against an exact double-precision oracle; every prefix of
 * a small index file is refused, 1,000 bit flips never crash (and are all
 * refused with the checksum); header lies; concurrent searches with
 * different ef; the run-time distance kernels against each other; argument
 * checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "search/hnsw.h"
#include "sembed.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Roughly Gaussian values (sum of uniforms), so that directions are
 * spread over the sphere. */
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

/* Vectors with the low intrinsic dimension of real embeddings: a random
 * latent point (`latent` values) through a fixed random projection, plus
 * a little noise. Uniform random vectors of many dimensions are the worst
 * case for any graph index (their nearest neighbours are barely nearer
 * than the rest); bench/bench_hnsw.c reports that case too. */
static float *structured_vectors(size_t n, int dim, int latent, uint64_t seed) {
    float *proj = random_vectors((size_t)latent, dim, 1000);
    float *z = random_vectors(n, latent, seed);
    float *noise = random_vectors(n, dim, seed + 1);
    float *v = malloc(n * (size_t)dim * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) {
            double a = 0;
            for (int l = 0; l < latent; l++)
                a += (double)z[i * latent + l] * proj[(size_t)l * dim + d];
            v[i * dim + d] = (float)(a + 0.1 * noise[i * dim + d]);
        }
    free(proj);
    free(z);
    free(noise);
    return v;
}

static char tmpdir[256];

static int make_tmpdir(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sembed-hnsw-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static void tmp_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Exact cosine top-k in double precision (ties to the lower id). */
static void oracle_topk(const float *corpus, size_t n, const float *q, int dim, int k,
                        int64_t *ids) {
    double *best = malloc((size_t)k * sizeof *best);
    assert_non_null(best);
    for (int j = 0; j < k; j++)
        best[j] = -INFINITY, ids[j] = -1;
    double qn = 0;
    for (int d = 0; d < dim; d++)
        qn += (double)q[d] * q[d];
    qn = sqrt(qn);
    for (size_t i = 0; i < n; i++) {
        const float *v = corpus + i * (size_t)dim;
        double dot = 0, vn = 0;
        for (int d = 0; d < dim; d++)
            dot += (double)q[d] * v[d], vn += (double)v[d] * v[d];
        double s = dot / (qn * sqrt(vn));
        if (s <= best[k - 1])
            continue;
        int j = k - 1;
        while (j > 0 && best[j - 1] < s) {
            best[j] = best[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        best[j] = s;
        ids[j] = (int64_t)i;
    }
    free(best);
}

static sembed_hnsw *build(const float *v, size_t n, int dim, const sembed_hnsw_params *p) {
    sembed_hnsw *h = NULL;
    sembed_error err;
    assert_int_equal(sembed_hnsw_init(dim, p, &h, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_add(h, v, n, dim, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_count(h), n);
    return h;
}

/* ---- tests ------------------------------------------------------------ */

static void test_roundtrip(void **state) {
    (void)state;
    const int dim = 24, k = 10;
    const size_t n = 1500, nq = 40;
    float *v = random_vectors(n, dim, 1);
    float *q = random_vectors(nq, dim, 2);
    sembed_hnsw_params p = sembed_hnsw_default_params();
    p.n_threads = 1;
    sembed_hnsw *h = build(v, n, dim, &p);
    sembed_hit hits[40 * 10], hits2[40 * 10];
    size_t nh[40], nh2[40];
    sembed_error err;
    assert_int_equal(sembed_hnsw_search(h, q, nq, dim, k, 0, hits, 400, nh, &err), SEMBED_OK);

    char path[512], sha[65], sha2[65];
    tmp_path(path, sizeof path, "a.hnsw");
    assert_int_equal(sembed_hnsw_save(h, path, sha, &err), SEMBED_OK);
    assert_int_equal(strlen(sha), 64);
    /* Saving the same graph again gives the same bytes. */
    assert_int_equal(sembed_hnsw_save(h, path, sha2, &err), SEMBED_OK);
    assert_string_equal(sha, sha2);

    sembed_hnsw *h2 = NULL;
    assert_int_equal(sembed_hnsw_load(path, dim, &p, sha, &h2, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_count(h2), n);
    assert_int_equal(sembed_hnsw_dim(h2), dim);
    assert_int_equal(sembed_hnsw_search(h2, q, nq, dim, k, 0, hits2, 400, nh2, &err), SEMBED_OK);
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(nh[i], k);
        assert_int_equal(nh2[i], k);
        for (int j = 0; j < k; j++) {
            assert_int_equal(hits[i * k + j].corpus_id, hits2[i * k + j].corpus_id);
            assert_true(hits[i * k + j].score == hits2[i * k + j].score);
            if (j)
                assert_true(hits[i * k + j - 1].score >= hits[i * k + j].score);
        }
    }
    assert_true(hnsw_index_labels_dense(h2, n));
    assert_false(hnsw_index_labels_dense(h2, n + 1));

    /* A wrong expected checksum, or another dim, is refused. */
    sembed_hnsw *h3 = NULL;
    char bad[65];
    memcpy(bad, sha, 65);
    bad[0] = bad[0] == '0' ? '1' : '0';
    assert_int_equal(sembed_hnsw_load(path, dim, &p, bad, &h3, &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "SHA-256"));
    assert_null(h3);
    assert_int_equal(sembed_hnsw_load(path, dim + 1, &p, NULL, &h3, &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "other vectors"));

    /* Adding to a loaded index works (it was sized to its elements). */
    float *more = random_vectors(100, dim, 3);
    assert_int_equal(sembed_hnsw_add(h2, more, 100, dim, (int64_t)n, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_count(h2), n + 100);
    assert_true(hnsw_index_labels_dense(h2, n + 100));
    /* The same labels again are refused. */
    assert_int_equal(sembed_hnsw_add(h2, more, 1, dim, (int64_t)n, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* Each new vector finds itself. */
    sembed_hit self[1];
    size_t ns;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sembed_hnsw_search(h2, more + i * dim, 1, dim, 1, 64, self, 1, &ns, &err),
                         SEMBED_OK);
        assert_int_equal(ns, 1);
        assert_int_equal(self[0].corpus_id, (int64_t)n + i);
        assert_true(fabsf(self[0].score - 1.0f) < 1e-5f);
    }
    sembed_hnsw_free(h);
    sembed_hnsw_free(h2);
    free(v);
    free(q);
    free(more);
}

static double recall_at(const sembed_hnsw *h, const float *v, size_t n, const float *q,
                        size_t nq, int dim, int ef) {
    const int k = 10;
    sembed_hit *hits = malloc(nq * k * sizeof *hits);
    size_t *nh = malloc(nq * sizeof *nh);
    sembed_error err;
    assert_int_equal(sembed_hnsw_search(h, q, nq, dim, k, ef, hits, nq * k, nh, &err), SEMBED_OK);
    size_t found = 0;
    int64_t ids[10];
    for (size_t i = 0; i < nq; i++) {
        oracle_topk(v, n, q + i * dim, dim, k, ids);
        assert_int_equal(nh[i], k);
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (hits[i * k + a].corpus_id == ids[b])
                    found++;
    }
    free(hits);
    free(nh);
    return (double)found / (double)(nq * k);
}

static void test_recall(void **state) {
    (void)state;
    /* 20,000 vectors of 48 dimensions with 16 intrinsic ones: the brief's
     * scale, built in seconds on two cores. */
    const int dim = 48;
    const size_t n = 20000, nq = 100;
    float *v = structured_vectors(n, dim, 16, 7);
    float *q = structured_vectors(nq, dim, 16, 8);
    sembed_hnsw_params p = sembed_hnsw_default_params();
    sembed_hnsw *h = build(v, n, dim, &p);
    double r_default = recall_at(h, v, n, q, nq, dim, 0);
    double r_small = recall_at(h, v, n, q, nq, dim, 10);
    print_message("recall@10, 20000 x %d: %.4f at ef 64 (default), %.4f at ef 10\n", dim,
                  r_default, r_small);
    assert_true(r_default >= 0.95);
    assert_true(r_small <= r_default);
    /* Scores are exact cosines: compare one with the oracle. */
    sembed_hit hit;
    size_t nh;
    sembed_error err;
    assert_int_equal(sembed_hnsw_search(h, q, 1, dim, 1, 0, &hit, 1, &nh, &err), SEMBED_OK);
    const float *x = v + hit.corpus_id * dim;
    double dot = 0, xn = 0, qn = 0;
    for (int d = 0; d < dim; d++)
        dot += (double)x[d] * q[d], xn += (double)x[d] * x[d], qn += (double)q[d] * q[d];
    assert_true(fabs(dot / sqrt(xn * qn) - hit.score) < 1e-5);
    sembed_hnsw_free(h);
    free(v);
    free(q);
}

/* Writes a small index and returns its bytes. */
static unsigned char *small_index(size_t *len, int dim, size_t n) {
    float *v = random_vectors(n, dim, 11);
    sembed_hnsw_params p = sembed_hnsw_default_params();
    p.M = 4;
    p.n_threads = 1;
    sembed_hnsw *h = build(v, n, dim, &p);
    char path[512];
    tmp_path(path, sizeof path, "small.hnsw");
    sembed_error err;
    assert_int_equal(sembed_hnsw_save(h, path, NULL, &err), SEMBED_OK);
    char *buf = NULL;
    assert_int_equal(read_file(path, 1 << 24, &buf, len, &err), SEMBED_OK);
    sembed_hnsw_free(h);
    free(v);
    return (unsigned char *)buf;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static void test_truncated_every_prefix(void **state) {
    (void)state;
    size_t len;
    const int dim = 4;
    unsigned char *b = small_index(&len, dim, 40);
    char path[512];
    tmp_path(path, sizeof path, "prefix.hnsw");
    sembed_error err;
    sembed_hnsw_params p = sembed_hnsw_default_params();
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(path, b, cut);
        sembed_hnsw *h = NULL;
        sembed_status st = sembed_hnsw_load(path, dim, &p, NULL, &h, &err);
        if (st == SEMBED_OK)
            fail_msg("prefix of %zu of %zu bytes loaded", cut, len);
        assert_int_equal(st, SEMBED_ERR_FORMAT);
        assert_null(h);
    }
    /* One byte more is trailing data. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    write_bytes(path, longer, len + 1);
    sembed_hnsw *h = NULL;
    assert_int_equal(sembed_hnsw_load(path, dim, &p, NULL, &h, &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "trailing"));
    /* The whole file loads. */
    write_bytes(path, b, len);
    assert_int_equal(sembed_hnsw_load(path, dim, &p, NULL, &h, &err), SEMBED_OK);
    sembed_hnsw_free(h);
    free(longer);
    free(b);
}

/* Bit flips: without a checksum a load either fails cleanly or gives an
 * index that searches without crashing; with the checksum every flip is
 * refused. */
static void test_bit_flips(void **state) {
    (void)state;
    size_t len;
    const int dim = 4;
    unsigned char *b = small_index(&len, dim, 40);
    char path[512];
    tmp_path(path, sizeof path, "flip.hnsw");
    sembed_error err;
    sembed_hnsw_params p = sembed_hnsw_default_params();
    char sha[65];
    {
        write_bytes(path, b, len);
        sembed_hnsw *h = NULL;
        assert_int_equal(sembed_hnsw_load(path, dim, &p, NULL, &h, &err), SEMBED_OK);
        assert_int_equal(sembed_hnsw_save(h, path, sha, &err), SEMBED_OK);
        sembed_hnsw_free(h);
    }
    uint64_t s = 99;
    float q[4] = {0.5f, -0.25f, 1.0f, 0.125f};
    int loaded = 0;
    for (int t = 0; t < 1000; t++) {
        size_t pos = (size_t)(rng_next(&s) % len);
        unsigned bit = (unsigned)(rng_next(&s) % 8);
        b[pos] ^= (unsigned char)(1u << bit);
        write_bytes(path, b, len);
        sembed_hnsw *h = NULL;
        sembed_status st = sembed_hnsw_load(path, dim, &p, NULL, &h, &err);
        if (st == SEMBED_OK) {
            loaded++;
            sembed_hit hits[10];
            size_t nh;
            assert_int_equal(sembed_hnsw_search(h, q, 1, dim, 10, 32, hits, 10, &nh, &err),
                             SEMBED_OK);
            sembed_hnsw_free(h);
        } else {
            assert_int_equal(st, SEMBED_ERR_FORMAT);
        }
        assert_int_equal(sembed_hnsw_load(path, dim, &p, sha, &h, &err), SEMBED_ERR_FORMAT);
        b[pos] ^= (unsigned char)(1u << bit);
    }
    print_message("bit flips that still load without a checksum: %d of 1000\n", loaded);
    free(b);
}

static void put_u64(unsigned char *b, size_t off, uint64_t v) {
    memcpy(b + off, &v, sizeof v);
}

static void put_u32(unsigned char *b, size_t off, uint32_t v) {
    memcpy(b + off, &v, sizeof v);
}

static void expect_refused(const unsigned char *b, size_t len, int dim, const char *what) {
    char path[512];
    tmp_path(path, sizeof path, "lie.hnsw");
    write_bytes(path, b, len);
    sembed_hnsw *h = NULL;
    sembed_error err;
    sembed_hnsw_params p = sembed_hnsw_default_params();
    sembed_status st = sembed_hnsw_load(path, dim, &p, NULL, &h, &err);
    if (st != SEMBED_ERR_FORMAT)
        fail_msg("%s: status %d", what, (int)st);
    assert_null(h);
}

/* Header fields (offsets in hnswlib's layout) that lie. */
static void test_header_lies(void **state) {
    (void)state;
    size_t len;
    const int dim = 4;
    unsigned char *b = small_index(&len, dim, 40);
    unsigned char *c = malloc(len);
    struct {
        size_t off;
        int is64;
        uint64_t value;
        const char *what;
    } lies[] = {
        {0, 1, 8, "level-0 offset"},
        {8, 1, 1, "capacity below count"},
        {16, 1, 1ull << 40, "count past the end of the file"},
        {16, 1, UINT64_MAX / 2, "count x size overflow"},
        {16, 1, 41, "one element more"},
        {24, 1, 12, "element size"},
        {32, 1, 0, "label offset"},
        {40, 1, 7, "data offset"},
        {48, 0, 100, "top layer too high"},
        {48, 0, (uint32_t)-5, "negative top layer"},
        {52, 0, 40, "entry point out of range"},
        {56, 1, 5, "maxM differs from M"},
        {64, 1, 9, "maxM0 differs from 2M"},
        {72, 1, 1, "M of 1"},
        {72, 1, 100000, "M too large"},
        {80, 1, 0x7ff8000000000000ull, "NaN level multiplier"},
        {88, 1, 0, "ef_construction 0"},
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        memcpy(c, b, len);
        if (lies[i].is64)
            put_u64(c, lies[i].off, lies[i].value);
        else
            put_u32(c, lies[i].off, (uint32_t)lies[i].value);
        expect_refused(c, len, dim, lies[i].what);
    }
    /* A neighbour id out of range in element 0's layer-0 list (M 4: the
     * list is a 4-byte count then 8 ids, at byte 96). */
    memcpy(c, b, len);
    uint32_t count;
    memcpy(&count, c + 96, 4);
    assert_true((count & 0xffff) > 0);
    put_u32(c, 100, 40);
    expect_refused(c, len, dim, "neighbour id out of range");
    /* A list longer than maxM0. */
    memcpy(c, b, len);
    put_u32(c, 96, 9);
    expect_refused(c, len, dim, "list longer than 2M");
    /* A non-finite value in a stored vector (element 0's data at 96 + 36). */
    memcpy(c, b, len);
    float inf = INFINITY;
    memcpy(c + 96 + 36, &inf, 4);
    expect_refused(c, len, dim, "infinite vector value");
    /* The same label twice (labels at 96 + 36 + 16 in each element of 60
     * bytes). */
    memcpy(c, b, len);
    memcpy(c + 96 + 60 + 52, c + 96 + 52, 8);
    expect_refused(c, len, dim, "duplicate label");
    free(c);
    free(b);
}

static void test_empty_index(void **state) {
    (void)state;
    sembed_hnsw *h = NULL, *h2 = NULL;
    sembed_error err;
    assert_int_equal(sembed_hnsw_init(8, NULL, &h, &err), SEMBED_OK);
    char path[512];
    tmp_path(path, sizeof path, "empty.hnsw");
    assert_int_equal(sembed_hnsw_save(h, path, NULL, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_load(path, 8, NULL, NULL, &h2, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_count(h2), 0);
    float q[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    sembed_hit hits[5];
    size_t nh = 99;
    assert_int_equal(sembed_hnsw_search(h2, q, 1, 8, 5, 0, hits, 5, &nh, &err), SEMBED_OK);
    assert_int_equal(nh, 0);
    /* k larger than the index gives what there is. */
    float v[16] = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8};
    assert_int_equal(sembed_hnsw_add(h2, v, 2, 8, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_search(h2, q, 1, 8, 5, 0, hits, 5, &nh, &err), SEMBED_OK);
    assert_int_equal(nh, 2);
    assert_int_equal(hits[0].corpus_id, 0);
    assert_int_equal(hits[1].corpus_id, 1);
    sembed_hnsw_free(h);
    sembed_hnsw_free(h2);
}

static void test_bad_arguments(void **state) {
    (void)state;
    sembed_hnsw *h = NULL;
    sembed_error err;
    sembed_hnsw_params p = sembed_hnsw_default_params();
    p.M = 1;
    assert_int_equal(sembed_hnsw_init(8, &p, &h, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p.M = SEMBED_HNSW_MAX_M + 1;
    assert_int_equal(sembed_hnsw_init(8, &p, &h, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_hnsw_default_params();
    p.M = SEMBED_HNSW_MAX_M; /* at the limit: accepted */
    assert_int_equal(sembed_hnsw_init(8, &p, &h, &err), SEMBED_OK);
    sembed_hnsw_free(h);
    h = NULL;
    p = sembed_hnsw_default_params();
    p.ef_construction = 0;
    assert_int_equal(sembed_hnsw_init(8, &p, &h, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_hnsw_default_params();
    p.ef = SEMBED_HNSW_MAX_EF + 1;
    assert_int_equal(sembed_hnsw_init(8, &p, &h, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_init(0, NULL, &h, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_init(SEMBED_STORE_MAX_DIM + 1, NULL, &h, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);

    assert_int_equal(sembed_hnsw_init(4, NULL, &h, &err), SEMBED_OK);
    float nan_v[4] = {1, NAN, 0, 0}, zero[4] = {0, 0, 0, 0}, ok[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    assert_int_equal(sembed_hnsw_add(h, nan_v, 1, 4, 0, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "non-finite"));
    assert_int_equal(sembed_hnsw_add(h, zero, 1, 4, 0, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "zero vector"));
    assert_int_equal(sembed_hnsw_add(h, ok, 1, 3, 0, &err), SEMBED_ERR_MISMATCH);
    assert_int_equal(sembed_hnsw_add(h, ok, 1, 4, -1, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_count(h), 0);
    assert_int_equal(sembed_hnsw_add(h, ok, 2, 4, 0, &err), SEMBED_OK);

    sembed_hit hits[4];
    size_t nh[2];
    assert_int_equal(sembed_hnsw_search(h, ok, 1, 4, 0, 0, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_search(h, ok, 2, 4, 3, 0, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT); /* 2 x 3 > 4 */
    assert_int_equal(sembed_hnsw_search(h, ok, 1, 3, 1, 0, hits, 4, nh, &err),
                     SEMBED_ERR_MISMATCH);
    assert_int_equal(sembed_hnsw_search(h, nan_v, 1, 4, 1, 0, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_search(h, zero, 1, 4, 1, 0, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hnsw_search(h, ok, 1, 4, 1, -1, hits, 4, nh, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* Zero queries are fine for the dot score. */
    sembed_hnsw_free(h);
    p = sembed_hnsw_default_params();
    p.score = SEMBED_SCORE_DOT;
    assert_int_equal(sembed_hnsw_init(4, &p, &h, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_add(h, ok, 2, 4, 0, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_search(h, zero, 1, 4, 1, 0, hits, 4, nh, &err), SEMBED_OK);
    assert_int_equal(sembed_hnsw_search(h, ok, 1, 4, 2, 0, hits, 4, nh, &err), SEMBED_OK);
    assert_true(fabsf(hits[0].score - 30.0f) < 1e-5f); /* <ok0, ok0> = 1+4+9+16 */

    /* A save into a missing folder fails and leaves nothing behind. */
    char path[512];
    tmp_path(path, sizeof path, "missing/x.hnsw");
    assert_int_equal(sembed_hnsw_save(h, path, NULL, &err), SEMBED_ERR_IO);
    sembed_hnsw *h2 = NULL;
    assert_int_equal(sembed_hnsw_load(path, 4, NULL, NULL, &h2, &err), SEMBED_ERR_NOT_FOUND);
    assert_null(h2);
    sembed_hnsw_free(h);
}

typedef struct search_thread {
    const sembed_hnsw *h;
    const float *q;
    size_t nq;
    int dim, ef;
    sembed_hit *hits;
    size_t *nh;
    int rc;
} search_thread;

static void *search_thread_main(void *arg) {
    search_thread *t = arg;
    for (int r = 0; r < 5 && t->rc == 0; r++)
        t->rc = sembed_hnsw_search(t->h, t->q, t->nq, t->dim, 10, t->ef, t->hits, t->nq * 10,
                                   t->nh, NULL);
    return NULL;
}

/* Searches with different ef at once give what they give alone. */
static void test_concurrent_search(void **state) {
    (void)state;
    const int dim = 16;
    const size_t n = 3000, nq = 30;
    float *v = random_vectors(n, dim, 21);
    float *q = random_vectors(nq, dim, 22);
    sembed_hnsw_params p = sembed_hnsw_default_params();
    p.n_threads = 2;
    sembed_hnsw *h = build(v, n, dim, &p);
    const int efs[4] = {10, 40, 100, 400};
    sembed_hit ref[4][300], got[4][300];
    size_t nref[4][30], ngot[4][30];
    sembed_error err;
    for (int t = 0; t < 4; t++)
        assert_int_equal(sembed_hnsw_search(h, q, nq, dim, 10, efs[t], ref[t], 300, nref[t], &err),
                         SEMBED_OK);
    search_thread th[4];
    pthread_t tid[4];
    for (int t = 0; t < 4; t++) {
        th[t] = (search_thread){h, q, nq, dim, efs[t], got[t], ngot[t], 0};
        assert_int_equal(pthread_create(&tid[t], NULL, search_thread_main, &th[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(tid[t], NULL);
        assert_int_equal(th[t].rc, SEMBED_OK);
        for (size_t i = 0; i < nq; i++) {
            assert_int_equal(ngot[t][i], nref[t][i]);
            for (size_t j = 0; j < ngot[t][i]; j++)
                assert_int_equal(got[t][i * 10 + j].corpus_id, ref[t][i * 10 + j].corpus_id);
        }
    }
    sembed_hnsw_free(h);
    free(v);
    free(q);
}

/* The three distance kernels agree on every length 1..100 (those the CPU
 * runs). */
static void test_kernels_agree(void **state) {
    (void)state;
    float *a = random_vectors(1, 100, 31), *b = random_vectors(1, 100, 32);
    __builtin_cpu_init();
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int has512 = __builtin_cpu_supports("avx512f");
    for (size_t n = 1; n <= 100; n++) {
        double ref = 0;
        for (size_t i = 0; i < n; i++)
            ref += (double)a[i] * b[i];
        float want = (float)(1.0 - ref);
        assert_true(fabsf(hnsw_ip_distance_sse(a, b, &n) - want) < 1e-5f);
        if (has2)
            assert_true(fabsf(hnsw_ip_distance_avx2(a, b, &n) - want) < 1e-5f);
        if (has512)
            assert_true(fabsf(hnsw_ip_distance_avx512(a, b, &n) - want) < 1e-5f);
    }
    const char *name = NULL;
    assert_non_null(hnsw_distance_pick(&name));
    assert_non_null(name);
    print_message("HNSW distance kernel: %s\n", name);
    free(a);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_recall),
        cmocka_unit_test(test_truncated_every_prefix),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_header_lies),
        cmocka_unit_test(test_empty_index),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent_search),
        cmocka_unit_test(test_kernels_agree),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
