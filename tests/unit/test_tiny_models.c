/*
 * test_tiny_models.c - checks the folders written by make_tiny_model (the
 * tiny_models fixture) with the project's own readers: every config parses
 * to what the variant asked for, every tensor a BertModel needs is present
 * with the shape config.json implies and the variant's dtype, the offsets
 * tile the file, and vocab.txt has vocab_size lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "model/config.h"
#include "model/safetensors.h"

static const char *fixtures;

typedef struct variant {
    const char *name;
    st_dtype dtype;
    const char *prefix;
    int gamma_beta;
    bert_act act;
    unsigned pooling;
    int n_dense;
    int normalize;
    int tokenizer_json;
} variant;

static const variant variants[] = {
    {"tiny", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-f16", ST_F16, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-bf16", ST_BF16, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-prefix", ST_F32, "bert.", 1, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-gelu-new", ST_F32, "", 0, BERT_ACT_GELU_TANH, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-cls", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_CLS, 0, 1, 1},
    {"tiny-max", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MAX, 0, 1, 1},
    {"tiny-sqrt", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN_SQRT_LEN, 0, 1, 1},
    {"tiny-weightedmean", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_WEIGHTED_MEAN, 0, 1, 1},
    {"tiny-lasttoken", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_LAST_TOKEN, 0, 1, 1},
    {"tiny-multi", ST_F32, "", 0, BERT_ACT_GELU,
     SEMBED_POOL_CLS | SEMBED_POOL_MAX | SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-dense", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 2, 1, 1},
    {"tiny-no-normalize", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 0, 1},
    {"tiny-st6", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 1},
    {"tiny-st6-dense", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_CLS | SEMBED_POOL_MEAN, 1, 1, 1},
    {"tiny-vocab-only", ST_F32, "", 0, BERT_ACT_GELU, SEMBED_POOL_MEAN, 0, 1, 0},
};

static void expect_tensor(const safetensors_file *f, st_dtype dt, int64_t rows, int64_t cols,
                          const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const st_tensor *t = safetensors_find(f, name);
    if (!t)
        fail_msg("%s: tensor %s missing", f->path, name);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->n_dims, cols ? 2 : 1);
    assert_int_equal(t->shape[0], rows);
    if (cols)
        assert_int_equal(t->shape[1], cols);
}

static void check_variant(const variant *v) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", fixtures, v->name);
    st_config c;
    sembed_error err;
    if (config_load_dir(dir, &c, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    const bert_config *b = &c.bert;
    assert_int_equal(b->n_layers, 2);
    assert_int_equal(b->hidden_size, 32);
    assert_int_equal(b->n_heads, 4);
    assert_int_equal(b->intermediate_size, 64);
    assert_int_equal(b->max_position_embeddings, 128);
    assert_int_equal(c.max_seq_length, 64);
    assert_int_equal(b->act, v->act);
    assert_int_equal(c.pooling, v->pooling);
    assert_int_equal(c.n_dense, v->n_dense);
    assert_int_equal(c.normalize, v->normalize);
    assert_int_equal(c.weights, CONFIG_WEIGHTS_SAFETENSORS);

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    safetensors_file f;
    if (safetensors_open(path, &f, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    /* Data starts 8-aligned, as the generator pads the header. */
    assert_int_equal(((uintptr_t)f.tensors[0].data - (uintptr_t)f.map) % 8, 0);
    int H = b->hidden_size, F = b->intermediate_size;
    const char *p = v->prefix, *w = v->gamma_beta ? "gamma" : "weight",
               *bi = v->gamma_beta ? "beta" : "bias";
    expect_tensor(&f, v->dtype, b->vocab_size, H, "%sembeddings.word_embeddings.weight", p);
    expect_tensor(&f, v->dtype, b->max_position_embeddings, H,
                  "%sembeddings.position_embeddings.weight", p);
    expect_tensor(&f, v->dtype, b->type_vocab_size, H, "%sembeddings.token_type_embeddings.weight",
                  p);
    expect_tensor(&f, v->dtype, H, 0, "%sembeddings.LayerNorm.%s", p, w);
    expect_tensor(&f, v->dtype, H, 0, "%sembeddings.LayerNorm.%s", p, bi);
    for (int i = 0; i < b->n_layers; i++) {
        const char *qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            expect_tensor(&f, v->dtype, H, H, "%sencoder.layer.%d.attention.self.%s.weight", p, i,
                          qkv[k]);
            expect_tensor(&f, v->dtype, H, 0, "%sencoder.layer.%d.attention.self.%s.bias", p, i,
                          qkv[k]);
        }
        expect_tensor(&f, v->dtype, H, H, "%sencoder.layer.%d.attention.output.dense.weight", p, i);
        expect_tensor(&f, v->dtype, H, 0, "%sencoder.layer.%d.attention.output.LayerNorm.%s", p, i,
                      w);
        expect_tensor(&f, v->dtype, F, H, "%sencoder.layer.%d.intermediate.dense.weight", p, i);
        expect_tensor(&f, v->dtype, F, 0, "%sencoder.layer.%d.intermediate.dense.bias", p, i);
        expect_tensor(&f, v->dtype, H, F, "%sencoder.layer.%d.output.dense.weight", p, i);
        expect_tensor(&f, v->dtype, H, 0, "%sencoder.layer.%d.output.LayerNorm.%s", p, i, bi);
    }
    /* 5 embedding tensors, 16 per layer, 2 for the pooler. */
    assert_int_equal(f.n_tensors, 5 + 16 * (size_t)b->n_layers + 2);
    safetensors_close(&f);

    for (int i = 0; i < c.n_dense; i++) {
        const dense_config *d = &c.dense[i];
        assert_int_equal(d->weights, CONFIG_WEIGHTS_SAFETENSORS);
        snprintf(path, sizeof path, "%s/%s/model.safetensors", dir, d->path);
        if (safetensors_open(path, &f, &err) != SEMBED_OK)
            fail_msg("%s", err.message);
        expect_tensor(&f, v->dtype, d->out_features, d->in_features, "linear.weight");
        expect_tensor(&f, v->dtype, d->out_features, 0, "linear.bias");
        safetensors_close(&f);
    }

    /* vocab.txt: one token a line, vocab_size lines. */
    char *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    assert_int_equal(read_file(path, 1u << 20, &buf, &len, &err), SEMBED_OK);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    free(buf);
    assert_int_equal(lines, b->vocab_size);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(file_exists(path), v->tokenizer_json);
}

static void test_variants(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        check_variant(&variants[i]);
}

/* The same options give the same bytes; another seed gives others. */
static void test_deterministic(void **state) {
    (void)state;
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/tiny/model.safetensors", fixtures);
    snprintf(b, sizeof b, "%s/tiny-cls/model.safetensors", fixtures);
    char *x, *y;
    size_t lx, ly;
    sembed_error err;
    assert_int_equal(read_file(a, 1u << 24, &x, &lx, &err), SEMBED_OK);
    assert_int_equal(read_file(b, 1u << 24, &y, &ly, &err), SEMBED_OK);
    assert_int_equal(lx, ly);
    assert_memory_equal(x, y, lx);
    free(x);
    free(y);
}

int main(void) {
    fixtures = getenv("SEMBED_FIXTURES");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/tiny/config.json", fixtures ? fixtures : "");
    if (!fixtures || !file_exists(probe)) {
        printf("skipped: no tiny models in SEMBED_FIXTURES (run the fixture_tiny_models test)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
