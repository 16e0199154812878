/*
 * test_embed_api.c - the public embedding API on the project's tiny test
 * model (no reference material needed): argument checks, options
 * (normalize, dimensions, prompt, truncation), id input, token states,
 * one model shared by several threads, the same bits on 1, 2 and 3
 * threads and with the weights copied, and the status strings.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sembed.h"

static char tiny_dir[4096];
static sembed_model *model;
static sembed_context *ctx;
static int dim;

static int setup(void **state) {
    const char *fix = getenv("SEMBED_FIXTURES");
    if (!fix) {
        printf("skipped: SEMBED_FIXTURES is not set\n");
        exit(77);
    }
    snprintf(tiny_dir, sizeof tiny_dir, "%s/tiny", fix);
    sembed_error err;
    if (sembed_model_load(tiny_dir, NULL, &model, &err) != SEMBED_OK) {
        printf("skipped: cannot load %s (%s); run the fixture_tiny_models test\n", tiny_dir,
               err.message);
        exit(77);
    }
    assert_int_equal(sembed_context_init(model, NULL, &ctx, &err), SEMBED_OK);
    dim = sembed_model_dim(model);
    return 0;
}

static int teardown(void **state) {
    sembed_context_free(ctx);
    sembed_model_free(model);
    return 0;
}

static void embed1(const char *text, const sembed_embed_params *p, float *out, int n) {
    sembed_error err;
    sembed_status st = sembed_embed(ctx, &text, NULL, 1, p, out, (size_t)n, &err);
    if (st != SEMBED_OK)
        fail_msg("embed '%s': %s", text, err.message);
}

static double norm(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

static void test_load_errors(void **state) {
    sembed_error err;
    sembed_model *m = NULL;
    assert_int_equal(sembed_model_load(NULL, NULL, &m, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_model_load("/nonexistent/model", NULL, &m, &err), SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "/nonexistent/model"));
    assert_null(m);
    sembed_model_params p = sembed_model_default_params();
    p.max_seq_length = 1;
    assert_int_equal(sembed_model_load(tiny_dir, &p, &m, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p.max_seq_length = 100000;
    assert_int_equal(sembed_model_load(tiny_dir, &p, &m, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "max_position_embeddings"));
    sembed_model_free(NULL); /* allowed */
}

static void test_info(void **state) {
    sembed_model_info in;
    sembed_model_get_info(model, &in);
    assert_int_equal(in.dim, dim);
    assert_int_equal(in.hidden_size, 32);
    assert_int_equal(in.pooling, SEMBED_POOL_MEAN);
    assert_string_equal(in.pooling_name, "mean");
    assert_int_equal(in.normalize, 1);
    assert_true(in.max_seq_length >= 2);
    char hex[65];
    sembed_error err;
    assert_int_equal(sembed_model_weights_sha256(model, hex, &err), SEMBED_OK);
    assert_int_equal(strlen(hex), 64);
    assert_non_null(sembed_model_tokenizer(model));
}

static void test_basic_and_empty(void **state) {
    float *v = malloc((size_t)dim * sizeof *v);
    embed1("", NULL, v, dim); /* an empty string embeds, as in sentence-transformers */
    assert_true(fabs(norm(v, dim) - 1.0) < 1e-6);
    embed1("how do i get a replacement card", NULL, v, dim);
    assert_true(fabs(norm(v, dim) - 1.0) < 1e-6);
    for (int i = 0; i < dim; i++)
        assert_true(isfinite(v[i]));
    /* n = 0 is a no-op */
    sembed_error err;
    assert_int_equal(sembed_embed(ctx, NULL, NULL, 0, NULL, NULL, 0, &err), SEMBED_OK);
    /* an output buffer that is too small */
    const char *t = "a";
    assert_int_equal(sembed_embed(ctx, &t, NULL, 1, NULL, v, (size_t)dim - 1, &err), SEMBED_ERR_LIMIT);
    free(v);
}

static void test_normalize_and_dimensions(void **state) {
    float *full = malloc((size_t)dim * sizeof(float)), *raw = malloc((size_t)dim * sizeof(float)),
          *cut = malloc((size_t)dim * sizeof(float));
    const char *text = "what is medicare";
    embed1(text, NULL, full, dim);
    sembed_embed_params p = sembed_embed_default_params();
    p.normalize = 0;
    embed1(text, &p, raw, dim);
    double n = norm(raw, dim);
    assert_true(fabs(n - 1.0) > 1e-3); /* the tiny model's raw vectors are not unit length */
    for (int i = 0; i < dim; i++)
        assert_true(fabs(raw[i] / n - full[i]) < 1e-6);
    /* truncate_dim after Normalize: a prefix of the full vector */
    p = sembed_embed_default_params();
    p.dimensions = 8;
    embed1(text, &p, cut, 8);
    assert_memory_equal(cut, full, 8 * sizeof(float));
    p.normalize = 1;
    embed1(text, &p, cut, 8);
    assert_true(fabs(norm(cut, 8) - 1.0) < 1e-6);
    sembed_error err;
    p.dimensions = dim + 1;
    const char *t = text;
    assert_int_equal(sembed_embed(ctx, &t, NULL, 1, &p, cut, (size_t)dim, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p.dimensions = 0;
    p.normalize = 2;
    assert_int_equal(sembed_embed(ctx, &t, NULL, 1, &p, cut, (size_t)dim, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    free(full);
    free(raw);
    free(cut);
}

static void test_prompt(void **state) {
    float *a = malloc((size_t)dim * sizeof(float)), *b = malloc((size_t)dim * sizeof(float));
    embed1("query: what is medicare", NULL, a, dim);
    sembed_embed_params p = sembed_embed_default_params();
    p.prompt = "query: ";
    embed1("what is medicare", &p, b, dim);
    assert_memory_equal(a, b, (size_t)dim * sizeof(float));
    free(a);
    free(b);
}

static void test_truncation(void **state) {
    sembed_model_info in;
    sembed_model_get_info(model, &in);
    /* Far more words than max_seq_length tokens. */
    size_t cap = 10 * (size_t)in.max_seq_length + 16; /* 2 x max_seq_length words of 5 bytes */
    char *long_text = malloc(cap);
    long_text[0] = 0;
    for (int i = 0; i < 2 * in.max_seq_length; i++)
        strcat(long_text, "card ");
    float *v = malloc((size_t)dim * sizeof(float));
    embed1(long_text, NULL, v, dim); /* truncated, not refused */
    sembed_embed_params p = sembed_embed_default_params();
    p.truncate = 0;
    sembed_error err;
    const char *t = long_text;
    assert_int_equal(sembed_embed(ctx, &t, NULL, 1, &p, v, (size_t)dim, &err), SEMBED_ERR_LIMIT);
    printf("truncate=0 message: %s\n", err.message);
    assert_non_null(strstr(err.message, "text 0"));
    free(long_text);
    free(v);
}

static void test_ids(void **state) {
    const sembed_tokenizer *tok = sembed_model_tokenizer(model);
    int32_t ids[256];
    size_t n = 0;
    sembed_error err;
    const char *text = "how do i sign up";
    assert_int_equal(sembed_tokenize(tok, text, strlen(text), NULL, ids, 256, &n, NULL, &err),
                     SEMBED_OK);
    float *a = malloc((size_t)dim * sizeof(float)), *b = malloc((size_t)dim * sizeof(float));
    embed1(text, NULL, a, dim);
    const int32_t *seq = ids;
    assert_int_equal(sembed_embed_ids(ctx, &seq, &n, 1, NULL, b, (size_t)dim, &err), SEMBED_OK);
    assert_memory_equal(a, b, (size_t)dim * sizeof(float));
    int32_t bad[3] = {101, 1 << 30, 102};
    size_t nb = 3;
    seq = bad;
    assert_int_equal(sembed_embed_ids(ctx, &seq, &nb, 1, NULL, b, (size_t)dim, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "position 1"));
    bad[1] = -1;
    assert_int_equal(sembed_embed_ids(ctx, &seq, &nb, 1, NULL, b, (size_t)dim, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    nb = 0;
    assert_int_equal(sembed_embed_ids(ctx, &seq, &nb, 1, NULL, b, (size_t)dim, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    free(a);
    free(b);
}

static void test_token_states(void **state) {
    sembed_model_info in;
    sembed_model_get_info(model, &in);
    int32_t ids[4] = {101, 200, 300, 102};
    float *t = malloc(4 * (size_t)in.hidden_size * sizeof(float));
    sembed_error err;
    assert_int_equal(sembed_embed_tokens(ctx, ids, 4, t, 4 * (size_t)in.hidden_size, &err), SEMBED_OK);
    /* Mean pooling of the token states, normalized, is the sentence vector. */
    float *mean = calloc((size_t)in.hidden_size, sizeof(float)), *v = malloc((size_t)dim * sizeof(float));
    for (int k = 0; k < in.hidden_size; k++) {
        for (int i = 0; i < 4; i++)
            mean[k] += t[i * in.hidden_size + k];
        mean[k] /= 4;
    }
    double n = norm(mean, in.hidden_size);
    const int32_t *seq = ids;
    size_t len = 4;
    assert_int_equal(sembed_embed_ids(ctx, &seq, &len, 1, NULL, v, (size_t)dim, &err), SEMBED_OK);
    for (int k = 0; k < dim; k++)
        assert_true(fabs(mean[k] / n - v[k]) < 1e-5);
    assert_int_equal(sembed_embed_tokens(ctx, ids, 4, t, 3, &err), SEMBED_ERR_LIMIT);
    free(t);
    free(mean);
    free(v);
}

typedef struct thread_arg {
    const char *const *texts;
    size_t n;
    float *out;
    int ok;
} thread_arg;

static void *worker(void *p) {
    thread_arg *a = p;
    sembed_context *c = NULL;
    sembed_error err;
    a->ok = sembed_context_init(model, NULL, &c, &err) == SEMBED_OK &&
            sembed_embed(c, a->texts, NULL, a->n, NULL, a->out, a->n * (size_t)dim, &err) == SEMBED_OK;
    sembed_context_free(c);
    return NULL;
}

/* One model, four threads, each with its own context: same bits. */
static void test_threads_share_model(void **state) {
    static const char *const texts[] = {"what is medicare", "how do i sign up", "premium",
                                        "card replacement", "", "tricare ?"};
    size_t n = sizeof texts / sizeof texts[0];
    float *want = malloc(n * (size_t)dim * sizeof(float));
    sembed_error err;
    assert_int_equal(sembed_embed(ctx, texts, NULL, n, NULL, want, n * (size_t)dim, &err), SEMBED_OK);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){.texts = texts, .n = n, .out = malloc(n * (size_t)dim * sizeof(float))};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
        assert_memory_equal(args[i].out, want, n * (size_t)dim * sizeof(float));
        free(args[i].out);
    }
    free(want);
}

/* Texts of equal length, enough of them (12 x ~42 tokens) that 2 and 3
 * threads each run a share of the sequences through the whole encoder:
 * the vectors are the same bits as on 1 thread. tiny-gelu-new runs its
 * activation as a separate pass, tiny fuses GELU into the product. */
static void test_thread_splits(void **state) {
    static const char *words[] = {"medicare", "part", "help", "sign", "up", "premium",
                                  "late", "penalty", "who", "can", "get", "plan"};
    enum { N_TEXTS = 12, N_WORDS = 40 };
    char *texts[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) {
        texts[i] = malloc(N_WORDS * 12);
        texts[i][0] = 0;
        for (int w = 0; w < N_WORDS; w++) {
            strcat(texts[i], words[(i * 7 + w * (i + 1)) % 12]);
            strcat(texts[i], " ");
        }
    }
    const char *models[] = {"tiny", "tiny-gelu-new"};
    for (size_t mi = 0; mi < 2; mi++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", getenv("SEMBED_FIXTURES"), models[mi]);
        sembed_model *m = NULL;
        sembed_error err;
        assert_int_equal(sembed_model_load(dir, NULL, &m, &err), SEMBED_OK);
        int d = sembed_model_dim(m);
        float *ref = malloc((size_t)N_TEXTS * d * sizeof(float));
        float *out = malloc((size_t)N_TEXTS * d * sizeof(float));
        for (int threads = 1; threads <= 3; threads++) {
            sembed_context *c = NULL;
            sembed_context_params cp = sembed_context_default_params();
            cp.n_threads = threads;
            assert_int_equal(sembed_context_init(m, &cp, &c, &err), SEMBED_OK);
            assert_int_equal(sembed_embed(c, (const char *const *)texts, NULL, N_TEXTS, NULL,
                                          threads == 1 ? ref : out, (size_t)N_TEXTS * d, &err),
                             SEMBED_OK);
            if (threads > 1 && memcmp(ref, out, (size_t)N_TEXTS * d * sizeof(float)) != 0)
                fail_msg("%s: %d threads differ from 1", models[mi], threads);
            sembed_context_free(c);
        }
        free(ref);
        free(out);
        sembed_model_free(m);
    }
    for (int i = 0; i < N_TEXTS; i++)
        free(texts[i]);
}

/* Loads dir with mp and checks whether its weights were copied. */
static sembed_model *load_copied(const char *dir, const sembed_model_params *mp, int copied) {
    sembed_model *m = NULL;
    sembed_error err;
    assert_int_equal(sembed_model_load(dir, mp, &m, &err), SEMBED_OK);
    sembed_model_info info;
    sembed_model_get_info(m, &info);
    assert_int_equal(info.weights_copied, copied);
    return m;
}

/* copy_weights moves the fp32 matrices into a private mapping: the same
 * bits as reading them from the file, for F32 tensors (tiny, tiny-gelu-new)
 * and converted F16 ones (tiny-f16), and nothing copied for bf16, which
 * owns its converted weights. */
static void test_copy_weights(void **state) {
    const char *texts[] = {"medicare part b premium help", "who can sign up late",
                           "a longer sentence about the penalty for signing up late for part b"};
    enum { N_TEXTS = 3 };
    const char *models[] = {"tiny", "tiny-gelu-new", "tiny-f16"};
    for (size_t mi = 0; mi < 3; mi++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", getenv("SEMBED_FIXTURES"), models[mi]);
        float *out[2] = {NULL, NULL};
        int d = 0;
        for (int copy = 0; copy < 2; copy++) {
            sembed_model_params mp = sembed_model_default_params();
            mp.copy_weights = copy;
            sembed_model *m = load_copied(dir, &mp, copy);
            sembed_error err;
            d = sembed_model_dim(m);
            out[copy] = malloc((size_t)N_TEXTS * d * sizeof(float));
            sembed_context *c = NULL;
            sembed_context_params cp = sembed_context_default_params();
            cp.n_threads = 2;
            assert_int_equal(sembed_context_init(m, &cp, &c, &err), SEMBED_OK);
            assert_int_equal(sembed_embed(c, texts, NULL, N_TEXTS, NULL, out[copy],
                                          (size_t)N_TEXTS * d, &err),
                             SEMBED_OK);
            sembed_context_free(c);
            sembed_model_free(m);
        }
        if (memcmp(out[0], out[1], (size_t)N_TEXTS * d * sizeof(float)) != 0)
            fail_msg("%s: copied weights give other vectors than mapped ones", models[mi]);
        free(out[0]);
        free(out[1]);
    }
    /* bf16 (on the scalar twins, which run anywhere) keeps its own copy. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tiny", getenv("SEMBED_FIXTURES"));
    sembed_model_params mp = sembed_model_default_params();
    mp.copy_weights = 1;
    mp.dtype = SEMBED_DTYPE_BF16;
    mp.kernel = SEMBED_KERNEL_SCALAR;
    sembed_model_free(load_copied(dir, &mp, 0));
}

static void test_context_params(void **state) {
    sembed_error err;
    sembed_context *c = NULL;
    sembed_context_params p = sembed_context_default_params();
    p.n_threads = -1;
    assert_int_equal(sembed_context_init(model, &p, &c, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p = sembed_context_default_params();
    p.max_batch_tokens = (1 << 20) + 1;
    assert_int_equal(sembed_context_init(model, &p, &c, &err), SEMBED_ERR_INVALID_ARGUMENT);
    p.max_batch_tokens = 1; /* raised to one sequence */
    assert_int_equal(sembed_context_init(model, &p, &c, &err), SEMBED_OK);
    sembed_context_free(c);
    assert_int_equal(sembed_context_init(NULL, NULL, &c, &err), SEMBED_ERR_INVALID_ARGUMENT);
}

static void test_status_strings(void **state) {
    for (int s = 0; s < SEMBED_STATUS_COUNT_; s++) {
        assert_non_null(sembed_strerror((sembed_status)s));
        assert_true(strlen(sembed_strerror((sembed_status)s)) > 0);
    }
    assert_string_equal(sembed_strerror((sembed_status)1000), "unknown status");
    assert_string_equal(sembed_strerror(SEMBED_OK), "success");
    assert_string_equal(sembed_version(), SEMBED_VERSION_STRING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_basic_and_empty),
        cmocka_unit_test(test_normalize_and_dimensions),
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_token_states),
        cmocka_unit_test(test_threads_share_model),
        cmocka_unit_test(test_thread_splits),
        cmocka_unit_test(test_copy_weights),
        cmocka_unit_test(test_context_params),
        cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
