/*
 * test_search_golden.c - search and quantization against the outputs of
 * sentence-transformers in $SEMBED_SHARED/reference/visible:
 *
 *   search.json   util.semantic_search(emb[:50], emb, top_k=5): every score
 *                 within 1e-6 and the same corpus ids, rank by rank, except
 *                 where two rows tie (their exact cosines to the query differ
 *                 by less than 1e-6: duplicated texts), whose order
 *                 sentence-transformers leaves unspecified;
 *   int8.npy, binary.npy, ubinary.npy
 *                 quantize_embeddings(emb, ...): identical bytes.
 *
 * Runs once per kernel set this CPU has. Skips (77) without SEMBED_SHARED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "common/common.h"
#include "io/npy.h"
#include "search/flat.h"
#include "sembed.h"

static char ref_dir[4096];
static sembed_matrix emb;

/* Loads a reference .npy of any dtype: its header and raw data. */
static char *load_npy(const char *name, npy_header *h) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", ref_dir, name);
    char *buf = NULL;
    size_t len = 0;
    sembed_error err;
    if (read_file(path, (size_t)1 << 30, &buf, &len, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    if (npy_parse_header(buf, len, 10000, path, h, NULL, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    assert_int_equal(len - h->data_offset, h->data_bytes);
    return buf;
}

static double exact_cosine(size_t a, size_t b) {
    const float *x = emb.data + a * emb.cols, *y = emb.data + b * emb.cols;
    double d = 0, nx = 0, ny = 0;
    for (size_t i = 0; i < emb.cols; i++) {
        d += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
    }
    return d / sqrt(nx * ny);
}

static void check_search_json(const char *kernel) {
    char path[4200];
    snprintf(path, sizeof path, "%s/search.json", ref_dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s: %s", path, je.text);
    json_t *queries = json_object_get(root, "queries"), *want = json_object_get(root, "hits");
    int top_k = (int)json_integer_value(json_object_get(root, "top_k"));
    size_t nq = json_array_size(queries);
    assert_true(nq > 0 && top_k > 0);
    float *q = malloc(nq * emb.cols * sizeof(float));
    for (size_t i = 0; i < nq; i++) {
        size_t row = (size_t)json_integer_value(json_array_get(queries, i));
        memcpy(q + i * emb.cols, emb.data + row * emb.cols, emb.cols * sizeof(float));
    }
    sembed_hit *hits = calloc(nq * (size_t)top_k, sizeof *hits);
    size_t *n_hits = calloc(nq, sizeof *n_hits);
    sembed_search_params p = sembed_search_default_params();
    p.top_k = top_k;
    sembed_error err;
    if (sembed_search(q, nq, emb.data, emb.rows, (int)emb.cols, &p, hits, nq * (size_t)top_k,
                      n_hits, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    double max_diff = 0;
    size_t ties = 0, failures = 0;
    for (size_t i = 0; i < nq; i++) {
        json_t *wl = json_array_get(want, i);
        assert_int_equal(n_hits[i], json_array_size(wl));
        size_t qrow = (size_t)json_integer_value(json_array_get(queries, i));
        for (size_t r = 0; r < n_hits[i]; r++) {
            json_t *w = json_array_get(wl, r);
            int64_t wid = json_integer_value(json_object_get(w, "corpus_id"));
            double ws = json_real_value(json_object_get(w, "score"));
            const sembed_hit *h = &hits[i * (size_t)top_k + r];
            double d = fabs((double)h->score - ws);
            if (d > max_diff)
                max_diff = d;
            int ok = d <= 1e-6;
            if (h->corpus_id != wid) {
                double gap = fabs(exact_cosine(qrow, (size_t)h->corpus_id) -
                                  exact_cosine(qrow, (size_t)wid));
                if (gap <= 1e-6)
                    ties++;
                else
                    ok = 0;
            }
            if (!ok && failures++ < 10)
                fprintf(stderr, "[%s] query %zu rank %zu: got id %lld score %.9g, want id %lld "
                        "score %.9g\n",
                        kernel, i, r, (long long)h->corpus_id, h->score, (long long)wid, ws);
        }
    }
    printf("[%s] search.json: %zu queries, max |score diff| %.3g, %zu tied ranks in another "
           "order\n",
           kernel, nq, max_diff, ties);
    assert_int_equal(failures, 0);
    free(q);
    free(hits);
    free(n_hits);
    json_decref(root);
}

static void test_semantic_search(void **state) {
    (void)state;
    const char *names[] = {"generic", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (!flat_kernels_by_name(names[i]))
            continue;
        setenv("SEMBED_SEARCH_KERNEL", names[i], 1);
        check_search_json(names[i]);
    }
    unsetenv("SEMBED_SEARCH_KERNEL");
}

static void check_quantized(const char *file, sembed_precision prec, const float *ranges) {
    npy_header h;
    char *buf = load_npy(file, &h);
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], emb.rows);
    size_t rb = sembed_quantized_row_bytes(prec, (int)emb.cols);
    assert_int_equal(h.shape[1], rb);
    assert_int_equal(h.itemsize, 1);
    size_t n = emb.rows * rb;
    uint8_t *got = malloc(n);
    sembed_error err;
    if (sembed_quantize(emb.data, emb.rows, (int)emb.cols, prec, ranges, got, n, &err))
        fail_msg("%s", err.message);
    const uint8_t *want = (const uint8_t *)buf + h.data_offset;
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && diff++ == 0)
            first = i;
    printf("%s: %zu of %zu bytes differ\n", file, diff, n);
    if (diff)
        fail_msg("%s: first difference at row %zu, byte %zu: got %d, want %d", file, first / rb,
                 first % rb, got[first], want[first]);
    free(got);
    free(buf);
}

static void test_quantize_embeddings(void **state) {
    (void)state;
    /* int8 with calibration_embeddings=emb: the same as the own ranges. */
    float *ranges = malloc(2 * emb.cols * sizeof(float));
    assert_int_equal(sembed_quantize_ranges(emb.data, emb.rows, (int)emb.cols, ranges, NULL), 0);
    check_quantized("int8.npy", SEMBED_PRECISION_INT8, ranges);
    check_quantized("int8.npy", SEMBED_PRECISION_INT8, NULL);
    check_quantized("binary.npy", SEMBED_PRECISION_BINARY, NULL);
    check_quantized("ubinary.npy", SEMBED_PRECISION_UBINARY, NULL);
    free(ranges);
}

/* Binary candidates + float32 rescoring on the reference corpus: the top
 * hit of every query is found (it is the query itself or a duplicate). */
static void test_quantized_search(void **state) {
    (void)state;
    const size_t nq = 50;
    const int k = 5;
    sembed_hit exact[50 * 5], got[50 * 5];
    size_t ne[50], ng[50];
    sembed_search_params p = sembed_search_default_params();
    p.top_k = k;
    assert_int_equal(sembed_search(emb.data, nq, emb.data, emb.rows, (int)emb.cols, &p, exact,
                                   nq * k, ne, NULL),
                     0);
    const sembed_precision precs[] = {SEMBED_PRECISION_INT8, SEMBED_PRECISION_BINARY};
    for (int pi = 0; pi < 2; pi++) {
        p.precision = precs[pi];
        assert_int_equal(sembed_search(emb.data, nq, emb.data, emb.rows, (int)emb.cols, &p, got,
                                       nq * k, ng, NULL),
                         0);
        size_t same = 0;
        for (size_t q = 0; q < nq; q++) {
            assert_true(got[q * k].score == exact[q * k].score);
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    same += got[q * k + i].corpus_id == exact[q * k + j].corpus_id;
        }
        printf("reference corpus, %s + rescore x2: recall@5 %.3f\n",
               sembed_precision_name(p.precision), (double)same / (double)(nq * k));
    }
}

int main(void) {
    const char *shared = getenv("SEMBED_SHARED");
    if (!shared || !*shared) {
        printf("SEMBED_SHARED is not set: skipping the golden search test\n");
        return 77;
    }
    snprintf(ref_dir, sizeof ref_dir, "%s/reference/visible", shared);
    char path[4200];
    snprintf(path, sizeof path, "%s/embeddings.npy", ref_dir);
    if (!file_exists(path)) {
        printf("%s is missing: skipping the golden search test\n", path);
        return 77;
    }
    sembed_error err;
    if (sembed_matrix_read(path, NULL, &emb, &err) != SEMBED_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_semantic_search),
        cmocka_unit_test(test_quantize_embeddings),
        cmocka_unit_test(test_quantized_search),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sembed_matrix_free(&emb);
    return rc;
}
