/*
 * test_config.c - the model-folder config parsers: both layouts of the
 * shared MiniLM folder (skipped without SEMBED_SHARED), and inline JSON for
 * every rule: pooling flags and modes, max_seq_length precedence, Dense,
 * modules.json (unsupported types, order, path traversal), hidden_act,
 * range checks (robustness case ML-11) and the JSONTestSuite n_ files as
 * config files (ML-12).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/common.h"
#include "model/config.h"

static char tmpdir[256];
static int case_no;

/* ---- helpers ---------------------------------------------------------- */

static void write_text(const char *dir, const char *rel, const char *text) {
    char path[1024], sub[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* Create the parent folders. */
    snprintf(sub, sizeof sub, "%s", path);
    for (char *p = sub + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(sub, 0755);
        *p = '/';
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static const char *BERT =
    "{\"model_type\":\"bert\",\"vocab_size\":100,\"hidden_size\":16,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":4,\"intermediate_size\":32,\"max_position_embeddings\":64,"
    "\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-12,\"type_vocab_size\":2}";
static const char *MODULES =
    "[{\"idx\":0,\"name\":\"0\",\"path\":\"\","
    "\"type\":\"sentence_transformers.models.Transformer\"},"
    "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\","
    "\"type\":\"sentence_transformers.models.Pooling\"},"
    "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\","
    "\"type\":\"sentence_transformers.models.Normalize\"}]";
static const char *POOL = "{\"word_embedding_dimension\":16,\"pooling_mode_mean_tokens\":true}";

/* A fresh model folder; files are (relative path, text) pairs, NULL-ended.
 * A text of NULL leaves the default file out. */
static const char *model_dir(const char *first, ...) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/m%d", tmpdir, case_no++);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *defaults[][2] = {{"config.json", BERT},
                                 {"modules.json", MODULES},
                                 {"1_Pooling/config.json", POOL}};
    int overridden[3] = {0, 0, 0};
    va_list ap;
    va_start(ap, first);
    for (const char *rel = first; rel; rel = va_arg(ap, const char *)) {
        const char *text = va_arg(ap, const char *);
        for (int i = 0; i < 3; i++)
            if (strcmp(rel, defaults[i][0]) == 0)
                overridden[i] = 1;
        if (text)
            write_text(dir, rel, text);
    }
    va_end(ap);
    for (int i = 0; i < 3; i++)
        if (!overridden[i])
            write_text(dir, defaults[i][0], defaults[i][1]);
    return dir;
}

static void expect_load(const char *dir, sembed_status want, const char *needle) {
    st_config c;
    sembed_error err;
    memset(&err, 0, sizeof err);
    sembed_status rc = config_load_dir(dir, &c, &err);
    if (rc != want || (needle && !strstr(err.message, needle)))
        fail_msg("%s: got status %d \"%s\", want %d with \"%s\"", dir, rc, err.message, want,
                 needle ? needle : "");
}

static st_config load_ok(const char *dir) {
    st_config c;
    sembed_error err;
    sembed_status rc = config_load_dir(dir, &c, &err);
    if (rc != SEMBED_OK)
        fail_msg("%s: %s", dir, err.message);
    return c;
}

static sembed_status bert(const char *json, bert_config *out, sembed_error *err) {
    return config_parse_bert(json, strlen(json), out, err);
}

static void expect_bert(const char *json, sembed_status want, const char *needle) {
    bert_config b;
    sembed_error err;
    memset(&err, 0, sizeof err);
    sembed_status rc = bert(json, &b, &err);
    if (rc != want || (needle && !strstr(err.message, needle)))
        fail_msg("%s: got status %d \"%s\", want %d with \"%s\"", json, rc, err.message, want,
                 needle ? needle : "");
    if (rc != SEMBED_OK)
        assert_non_null(strstr(err.message, "config.json"));
}

/* BERT with one field added or replaced: for a repeated key the last one
 * counts (as in Python's json), so the override goes last. */
static char *bert_with(const char *field) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%.*s,%s}", (int)strlen(BERT) - 1, BERT, field);
    return buf;
}

static sembed_status pool(const char *json, unsigned *bits, int *dim, int *inc,
                          sembed_error *err) {
    return config_parse_pooling(json, strlen(json), bits, dim, inc, err);
}

static unsigned pool_bits(const char *json) {
    unsigned bits = 0;
    int dim = 0, inc = 0;
    sembed_error err;
    if (pool(json, &bits, &dim, &inc, &err) != SEMBED_OK)
        fail_msg("%s: %s", json, err.message);
    return bits;
}

static void expect_pool(const char *json, sembed_status want, const char *needle) {
    unsigned bits;
    int dim, inc;
    sembed_error err;
    memset(&err, 0, sizeof err);
    sembed_status rc = pool(json, &bits, &dim, &inc, &err);
    if (rc != want || (needle && !strstr(err.message, needle)))
        fail_msg("%s: got status %d \"%s\", want %d with \"%s\"", json, rc, err.message, want,
                 needle ? needle : "");
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/sembed-cfg-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the shared MiniLM folder, both layouts --------------------------- */

static const char *shared_dir(void) {
    const char *s = getenv("SEMBED_SHARED");
    static char d[1024];
    if (!s || !*s)
        return NULL;
    snprintf(d, sizeof d, "%s/models/minilm-synthetic", s);
    return dir_exists(d) ? s : NULL;
}

static void check_minilm(const st_config *c) {
    assert_int_equal(c->bert.vocab_size, 30522);
    assert_int_equal(c->bert.hidden_size, 384);
    assert_int_equal(c->bert.n_layers, 6);
    assert_int_equal(c->bert.n_heads, 12);
    assert_int_equal(c->bert.intermediate_size, 1536);
    assert_int_equal(c->bert.max_position_embeddings, 512);
    assert_int_equal(c->bert.type_vocab_size, 2);
    assert_int_equal(c->bert.pad_token_id, 0);
    assert_true(c->bert.layer_norm_eps == 1e-12);
    assert_int_equal(c->bert.act, BERT_ACT_GELU);
    assert_string_equal(c->bert.hidden_act, "gelu");
    assert_int_equal(c->max_seq_length, 256);
    assert_int_equal(c->pooling, SEMBED_POOL_MEAN);
    assert_int_equal(c->pooling_dim, 384);
    assert_int_equal(c->include_prompt, 1);
    assert_int_equal(c->n_dense, 0);
    assert_int_equal(c->normalize, 1);
    assert_string_equal(c->transformer_path, "");
    assert_string_equal(c->pooling_path, "1_Pooling");
    assert_int_equal(c->has_modules_json, 1);
}

static void test_shared_classic(void **state) {
    (void)state;
    const char *s = shared_dir();
    if (!s) {
        print_message("SEMBED_SHARED not set or incomplete: skipping the shared layouts\n");
        skip();
    }
    char d[1024];
    snprintf(d, sizeof d, "%s/models/minilm-synthetic", s);
    st_config c = load_ok(d);
    check_minilm(&c);
    assert_int_equal(c.do_lower_case, 0);
    int ms = 0;
    sembed_error err;
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, 256);
}

static void test_shared_st6(void **state) {
    (void)state;
    const char *s = shared_dir();
    if (!s) {
        print_message("SEMBED_SHARED not set or incomplete: skipping the shared layouts\n");
        skip();
    }
    char d[1024];
    snprintf(d, sizeof d, "%s/reference/st6-layout", s);
    st_config c = load_ok(d);
    check_minilm(&c);
    int ms = 0;
    sembed_error err;
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, 256);
}

/* ---- config.json ------------------------------------------------------ */

static void test_bert_fields(void **state) {
    (void)state;
    bert_config b;
    sembed_error err;
    assert_int_equal(bert(BERT, &b, &err), SEMBED_OK);
    assert_int_equal(b.vocab_size, 100);
    assert_int_equal(b.hidden_size, 16);
    assert_int_equal(b.n_layers, 2);
    assert_int_equal(b.n_heads, 4);
    assert_int_equal(b.intermediate_size, 32);
    assert_int_equal(b.max_position_embeddings, 64);
    /* Absent keys take BertConfig's defaults. */
    assert_int_equal(bert("{\"model_type\":\"bert\"}", &b, &err), SEMBED_OK);
    assert_int_equal(b.vocab_size, 30522);
    assert_int_equal(b.hidden_size, 768);
    assert_int_equal(b.n_layers, 12);
    assert_int_equal(b.n_heads, 12);
    assert_int_equal(b.intermediate_size, 3072);
    assert_int_equal(b.max_position_embeddings, 512);
    assert_int_equal(b.type_vocab_size, 2);
    assert_true(b.layer_norm_eps == 1e-12);
    assert_int_equal(b.act, BERT_ACT_GELU);
    /* eps as written. */
    assert_int_equal(bert(bert_with("\"layer_norm_eps\":1e-5"), &b, &err), SEMBED_OK);
    assert_true(b.layer_norm_eps == 1e-5);
    assert_int_equal(bert(bert_with("\"pad_token_id\":null"), &b, &err), SEMBED_OK);
    assert_int_equal(b.pad_token_id, 0);
    assert_int_equal(bert(bert_with("\"pad_token_id\":99"), &b, &err), SEMBED_OK);
    assert_int_equal(b.pad_token_id, 99);
    assert_int_equal(bert(bert_with("\"position_embedding_type\":\"absolute\""), &b, &err),
                     SEMBED_OK);
}

static void test_bert_model_type(void **state) {
    (void)state;
    expect_bert("{\"hidden_size\":16}", SEMBED_ERR_FORMAT, "model_type is missing");
    expect_bert("{\"model_type\":\"roberta\"}", SEMBED_ERR_UNSUPPORTED,
                "model_type \"roberta\" is not supported");
    expect_bert("{\"model_type\":\"BERT\"}", SEMBED_ERR_UNSUPPORTED, "model_type");
    expect_bert("{\"model_type\":1}", SEMBED_ERR_UNSUPPORTED, "model_type");
    expect_bert(bert_with("\"position_embedding_type\":\"relative_key\""),
                SEMBED_ERR_UNSUPPORTED, "position_embedding_type");
    expect_bert(bert_with("\"position_embedding_type\":null"), SEMBED_ERR_UNSUPPORTED,
                "position_embedding_type");
    expect_bert("[]", SEMBED_ERR_FORMAT, "not a JSON object");
    expect_bert("", SEMBED_ERR_FORMAT, "invalid JSON");
}

/* ML-11 and the limits, at, below and above. */
static void test_bert_ranges(void **state) {
    (void)state;
    expect_bert(bert_with("\"num_hidden_layers\":1e9"), SEMBED_ERR_FORMAT, "num_hidden_layers");
    expect_bert(bert_with("\"num_hidden_layers\":1000000000"), SEMBED_ERR_FORMAT,
                "num_hidden_layers must be an integer in 1..128 (got 1000000000)");
    expect_bert(bert_with("\"num_attention_heads\":0"), SEMBED_ERR_FORMAT,
                "num_attention_heads");
    expect_bert(bert_with("\"num_attention_heads\":3"), SEMBED_ERR_FORMAT,
                "hidden_size 16 is not a multiple of num_attention_heads 3");
    expect_bert(bert_with("\"vocab_size\":-1"), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":\"384\""), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":3.5"), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":384.0"), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":true"), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":null"), SEMBED_ERR_FORMAT, "vocab_size");
    expect_bert(bert_with("\"vocab_size\":99999999999999999999"), SEMBED_ERR_FORMAT,
                "invalid JSON");
    expect_bert(bert_with("\"layer_norm_eps\":NaN"), SEMBED_ERR_FORMAT, "invalid JSON");
    expect_bert(bert_with("\"layer_norm_eps\":\"1e-12\""), SEMBED_ERR_FORMAT, "layer_norm_eps");
    expect_bert(bert_with("\"layer_norm_eps\":0"), SEMBED_ERR_FORMAT, "layer_norm_eps");
    expect_bert(bert_with("\"layer_norm_eps\":-1e-12"), SEMBED_ERR_FORMAT, "layer_norm_eps");
    expect_bert(bert_with("\"layer_norm_eps\":1e400"), SEMBED_ERR_FORMAT, "invalid JSON");
    expect_bert(bert_with("\"max_position_embeddings\":0"), SEMBED_ERR_FORMAT,
                "max_position_embeddings");
    expect_bert(bert_with("\"pad_token_id\":100"), SEMBED_ERR_FORMAT, "pad_token_id");
    expect_bert(bert_with("\"pad_token_id\":-1"), SEMBED_ERR_FORMAT, "pad_token_id");
    expect_bert(bert_with("\"type_vocab_size\":0"), SEMBED_ERR_FORMAT, "type_vocab_size");

    /* Each cap: at the limit accepted, above refused. */
    static const struct {
        const char *key;
        long long max;
    } caps[] = {
        {"num_hidden_layers", CONFIG_MAX_LAYERS},
        {"vocab_size", CONFIG_MAX_VOCAB},
        {"intermediate_size", CONFIG_MAX_FFN},
        {"max_position_embeddings", CONFIG_MAX_POSITIONS},
        {"type_vocab_size", CONFIG_MAX_TYPE_VOCAB},
    };
    char f[128];
    bert_config b;
    sembed_error err;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        snprintf(f, sizeof f, "\"%s\":%lld", caps[i].key, caps[i].max);
        assert_int_equal(bert(bert_with(f), &b, &err), SEMBED_OK);
        snprintf(f, sizeof f, "\"%s\":%lld", caps[i].key, caps[i].max - 1);
        assert_int_equal(bert(bert_with(f), &b, &err), SEMBED_OK);
        snprintf(f, sizeof f, "\"%s\":%lld", caps[i].key, caps[i].max + 1);
        expect_bert(bert_with(f), SEMBED_ERR_FORMAT, caps[i].key);
    }
    /* hidden_size and heads move together (hidden % heads == 0). */
    assert_int_equal(bert(bert_with("\"hidden_size\":16384,\"num_attention_heads\":256"), &b,
                          &err),
                     SEMBED_OK);
    expect_bert(bert_with("\"hidden_size\":16385,\"num_attention_heads\":1"), SEMBED_ERR_FORMAT,
                "hidden_size");
    expect_bert(bert_with("\"hidden_size\":16384,\"num_attention_heads\":257"),
                SEMBED_ERR_FORMAT, "num_attention_heads");
}

static void test_hidden_act(void **state) {
    (void)state;
    static const struct {
        const char *name;
        bert_act act;
    } acts[] = {
        {"gelu", BERT_ACT_GELU},           {"gelu_python", BERT_ACT_GELU},
        {"gelu_new", BERT_ACT_GELU_TANH},  {"gelu_pytorch_tanh", BERT_ACT_GELU_TANH},
        {"gelu_accurate", BERT_ACT_GELU_TANH}, {"gelu_fast", BERT_ACT_GELU_FAST},
        {"quick_gelu", BERT_ACT_QUICK_GELU}, {"gelu_10", BERT_ACT_GELU_10},
        {"relu", BERT_ACT_RELU},           {"silu", BERT_ACT_SILU},
        {"swish", BERT_ACT_SILU},
    };
    char f[128];
    bert_config b;
    sembed_error err;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        snprintf(f, sizeof f, "\"hidden_act\":\"%s\"", acts[i].name);
        assert_int_equal(bert(bert_with(f), &b, &err), SEMBED_OK);
        assert_int_equal(b.act, acts[i].act);
        assert_string_equal(b.hidden_act, acts[i].name);
        assert_int_equal(config_act_from_name(acts[i].name), (int)acts[i].act);
    }
    expect_bert(bert_with("\"hidden_act\":\"gelu_foo\""), SEMBED_ERR_UNSUPPORTED,
                "hidden_act \"gelu_foo\" is not supported");
    expect_bert(bert_with("\"hidden_act\":\"GELU\""), SEMBED_ERR_UNSUPPORTED, "hidden_act");
    expect_bert(bert_with("\"hidden_act\":\"torch.nn.modules.activation.Tanh\""),
                SEMBED_ERR_UNSUPPORTED, "hidden_act");
    expect_bert(bert_with("\"hidden_act\":5"), SEMBED_ERR_FORMAT, "hidden_act must be a string");
    /* Dense class paths. */
    assert_int_equal(config_act_from_name("torch.nn.modules.activation.Tanh"), BERT_ACT_TANH);
    assert_int_equal(config_act_from_name("torch.nn.modules.linear.Identity"),
                     BERT_ACT_IDENTITY);
    assert_int_equal(config_act_from_name("torch.nn.modules.activation.ReLU"), BERT_ACT_RELU);
    assert_int_equal(config_act_from_name("torch.nn.modules.activation.Sigmoid"), -1);
    assert_int_equal(config_act_from_name(NULL), -1);
    assert_string_equal(config_act_name(BERT_ACT_GELU), "gelu");
    assert_string_equal(config_act_name(BERT_ACT_GELU_TANH), "gelu_new");
}

/* ---- pooling ---------------------------------------------------------- */

static void test_pooling_legacy(void **state) {
    (void)state;
    /* MiniLM's file. */
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":384,\"pooling_mode_cls_token\":false,"
                               "\"pooling_mode_mean_tokens\":true,\"pooling_mode_max_tokens\":false,"
                               "\"pooling_mode_mean_sqrt_len_tokens\":false}"),
                     SEMBED_POOL_MEAN);
    /* Several flags: concatenated (bit set in ST's order). */
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":true,"
                               "\"pooling_mode_mean_tokens\":true,\"pooling_mode_max_tokens\":true}"),
                     SEMBED_POOL_CLS | SEMBED_POOL_MAX | SEMBED_POOL_MEAN);
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8,\"pooling_mode_mean_tokens\":false,"
                               "\"pooling_mode_weightedmean_tokens\":true,"
                               "\"pooling_mode_lasttoken\":true,"
                               "\"pooling_mode_mean_sqrt_len_tokens\":true}"),
                     SEMBED_POOL_WEIGHTED_MEAN | SEMBED_POOL_LAST_TOKEN |
                         SEMBED_POOL_MEAN_SQRT_LEN);
    /* A missing mean flag is true (ST <= 5.3 constructor default). */
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":true}"),
                     SEMBED_POOL_CLS | SEMBED_POOL_MEAN);
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8}"), SEMBED_POOL_MEAN);
    /* No flag true at all: mean. */
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":false,"
                               "\"pooling_mode_mean_tokens\":false}"),
                     SEMBED_POOL_MEAN);
    expect_pool("{\"word_embedding_dimension\":8,\"pooling_mode_foo_tokens\":true}",
                SEMBED_ERR_UNSUPPORTED, "unknown pooling flag pooling_mode_foo_tokens");
    expect_pool("{\"word_embedding_dimension\":8,\"pooling_mode_cls_token\":1}", SEMBED_ERR_FORMAT,
                "pooling_mode_cls_token must be true or false");
    /* An unknown flag that is false changes nothing. */
    assert_int_equal(pool_bits("{\"word_embedding_dimension\":8,\"pooling_mode_foo\":false}"),
                     SEMBED_POOL_MEAN);
}

static void test_pooling_mode(void **state) {
    (void)state;
    static const struct {
        const char *mode;
        unsigned bit;
    } modes[] = {{"cls", SEMBED_POOL_CLS},
                 {"max", SEMBED_POOL_MAX},
                 {"mean", SEMBED_POOL_MEAN},
                 {"mean_sqrt_len_tokens", SEMBED_POOL_MEAN_SQRT_LEN},
                 {"weightedmean", SEMBED_POOL_WEIGHTED_MEAN},
                 {"lasttoken", SEMBED_POOL_LAST_TOKEN}};
    char j[256];
    for (size_t i = 0; i < 6; i++) {
        snprintf(j, sizeof j, "{\"embedding_dimension\":8,\"pooling_mode\":\"%s\"}", modes[i].mode);
        assert_int_equal(pool_bits(j), modes[i].bit);
        snprintf(j, sizeof j, "{\"embedding_dimension\":8,\"pooling_mode\":[\"%s\"]}",
                 modes[i].mode);
        assert_int_equal(pool_bits(j), modes[i].bit);
    }
    assert_int_equal(pool_bits("{\"embedding_dimension\":8,\"pooling_mode\":[\"cls\",\"mean\"]}"),
                     SEMBED_POOL_CLS | SEMBED_POOL_MEAN);
    /* pooling_mode wins over legacy flags (ST 6 drops them). */
    assert_int_equal(pool_bits("{\"embedding_dimension\":8,\"pooling_mode\":\"max\","
                               "\"pooling_mode_mean_tokens\":true}"),
                     SEMBED_POOL_MAX);
    /* null pooling_mode: the legacy flags decide. */
    assert_int_equal(pool_bits("{\"embedding_dimension\":8,\"pooling_mode\":null,"
                               "\"pooling_mode_cls_token\":true,\"pooling_mode_mean_tokens\":false}"),
                     SEMBED_POOL_CLS);
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":\"foo\"}", SEMBED_ERR_UNSUPPORTED,
                "unknown pooling mode \"foo\"");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":\"CLS\"}", SEMBED_ERR_UNSUPPORTED,
                "unknown pooling mode");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":[\"mean\",\"cls\"]}",
                SEMBED_ERR_UNSUPPORTED, "order");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":[\"mean\",\"mean\"]}",
                SEMBED_ERR_UNSUPPORTED, "repeats");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":[]}", SEMBED_ERR_FORMAT,
                "pooling_mode");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":3}", SEMBED_ERR_FORMAT,
                "pooling_mode");
    expect_pool("{\"embedding_dimension\":8,\"pooling_mode\":[\"cls\",1]}", SEMBED_ERR_FORMAT,
                "not a string");
}

static void test_pooling_other_keys(void **state) {
    (void)state;
    unsigned bits;
    int dim, inc;
    sembed_error err;
    assert_int_equal(pool("{\"embedding_dimension\":384,\"pooling_mode\":\"mean\","
                          "\"include_prompt\":false}",
                          &bits, &dim, &inc, &err),
                     SEMBED_OK);
    assert_int_equal(dim, 384);
    assert_int_equal(inc, 0);
    assert_int_equal(pool("{\"word_embedding_dimension\":12}", &bits, &dim, &inc, &err),
                     SEMBED_OK);
    assert_int_equal(dim, 12);
    assert_int_equal(inc, 1);
    assert_int_equal(pool("{\"word_embedding_dimension\":12,\"embedding_dimension\":12}", &bits,
                          &dim, &inc, &err),
                     SEMBED_OK);
    expect_pool("{\"pooling_mode\":\"mean\"}", SEMBED_ERR_FORMAT, "embedding_dimension is missing");
    expect_pool("{\"word_embedding_dimension\":12,\"embedding_dimension\":13}", SEMBED_ERR_FORMAT,
                "disagree");
    expect_pool("{\"embedding_dimension\":0}", SEMBED_ERR_FORMAT, "embedding_dimension");
    expect_pool("{\"embedding_dimension\":\"8\"}", SEMBED_ERR_FORMAT, "embedding_dimension");
    expect_pool("{\"embedding_dimension\":8,\"include_prompt\":\"no\"}", SEMBED_ERR_FORMAT,
                "include_prompt");
    expect_pool("[1]", SEMBED_ERR_FORMAT, "not a JSON object");
}

/* ---- max_seq_length --------------------------------------------------- */

static void test_max_seq(void **state) {
    (void)state;
    /* sentence_bert_config.json first. */
    st_config c = load_ok(model_dir("sentence_bert_config.json", "{\"max_seq_length\":32}",
                                    "tokenizer_config.json", "{\"model_max_length\":16}", NULL));
    assert_int_equal(c.max_seq_length, 32);
    /* The maximum is max_position_embeddings (64 here). */
    c = load_ok(model_dir("sentence_bert_config.json", "{\"max_seq_length\":64}", NULL));
    assert_int_equal(c.max_seq_length, 64);
    expect_load(model_dir("sentence_bert_config.json", "{\"max_seq_length\":65}", NULL),
                SEMBED_ERR_FORMAT, "max_seq_length 65 is larger than max_position_embeddings 64");
    /* Then tokenizer_config.json model_max_length, capped. */
    c = load_ok(model_dir("sentence_bert_config.json", "{\"do_lower_case\":true}",
                          "tokenizer_config.json", "{\"model_max_length\":16}", NULL));
    assert_int_equal(c.max_seq_length, 16);
    assert_int_equal(c.do_lower_case, 1);
    c = load_ok(model_dir("sentence_bert_config.json", "{\"max_seq_length\":null}",
                          "tokenizer_config.json", "{\"model_max_length\":512}", NULL));
    assert_int_equal(c.max_seq_length, 64);
    c = load_ok(model_dir("tokenizer_config.json",
                          "{\"model_max_length\":1000000000000000019884624838656}", NULL));
    assert_int_equal(c.max_seq_length, 64);
    c = load_ok(model_dir("tokenizer_config.json", "{\"model_max_length\":null}", NULL));
    assert_int_equal(c.max_seq_length, 64);
    /* Neither: max_position_embeddings. */
    c = load_ok(model_dir(NULL));
    assert_int_equal(c.max_seq_length, 64);
    /* Bad values. */
    expect_load(model_dir("sentence_bert_config.json", "{\"max_seq_length\":0}", NULL),
                SEMBED_ERR_FORMAT, "sentence_bert_config.json: max_seq_length");
    expect_load(model_dir("sentence_bert_config.json", "{\"max_seq_length\":\"256\"}", NULL),
                SEMBED_ERR_FORMAT, "max_seq_length");
    expect_load(model_dir("sentence_bert_config.json", "{\"max_seq_length\":1", NULL),
                SEMBED_ERR_FORMAT, "sentence_bert_config.json: invalid JSON");
    expect_load(model_dir("tokenizer_config.json", "{\"model_max_length\":-5}", NULL),
                SEMBED_ERR_FORMAT, "tokenizer_config.json: model_max_length");
    expect_load(model_dir("tokenizer_config.json", "{\"model_max_length\":2.5}", NULL),
                SEMBED_ERR_FORMAT, "model_max_length");

    /* The tokenizer-only rule. */
    int ms;
    sembed_error err;
    const char *d = model_dir("tokenizer_config.json", "{\"model_max_length\":40}", NULL);
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, 40);
    /* No config.json: the tokenizer's own value, or 512. */
    d = model_dir("config.json", NULL, "modules.json", NULL, "tokenizer_config.json",
                  "{\"model_max_length\":1000}", NULL);
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, 512);
    d = model_dir("config.json", NULL, "modules.json", NULL, "tokenizer_config.json",
                  "{\"model_max_length\":300}", NULL);
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, 300);
    d = model_dir("config.json", NULL, "modules.json", NULL, NULL);
    assert_int_equal(config_max_seq_length(d, &ms, &err), SEMBED_OK);
    assert_int_equal(ms, CONFIG_DEFAULT_MAX_SEQ);

    /* The byte-level parsers. */
    int lower;
    assert_int_equal(config_parse_sbert("{}", 2, &ms, &lower, &err), SEMBED_OK);
    assert_int_equal(ms, 0);
    long long mml;
    assert_int_equal(config_parse_tokenizer_config("{\"model_max_length\":1e30}", 25, &mml, &err),
                     SEMBED_OK);
    assert_int_equal(mml, -1);
    assert_int_equal(config_parse_tokenizer_config("{}", 2, &mml, &err), SEMBED_OK);
    assert_int_equal(mml, 0);
}

/* ---- modules.json ----------------------------------------------------- */

#define MOD(path, type) "{\"path\":\"" path "\",\"type\":\"" type "\"}"
#define TR MOD("", "sentence_transformers.models.Transformer")
#define PO MOD("1_Pooling", "sentence_transformers.models.Pooling")
#define NO MOD("2_Normalize", "sentence_transformers.models.Normalize")
#define TR6 MOD("", "sentence_transformers.base.modules.transformer.Transformer")
#define PO6 MOD("1_Pooling", "sentence_transformers.sentence_transformer.modules.pooling.Pooling")
#define NO6 MOD("2_Normalize", "sentence_transformers.base.modules.normalize.Normalize")
#define DE6(path) MOD(path, "sentence_transformers.base.modules.dense.Dense")

static void test_modules(void **state) {
    (void)state;
    /* No modules.json: a plain BertModel folder with mean pooling, as
     * sentence-transformers builds it; no Normalize. */
    st_config c = load_ok(model_dir("modules.json", NULL, "1_Pooling/config.json", NULL, NULL));
    assert_int_equal(c.has_modules_json, 0);
    assert_int_equal(c.pooling, SEMBED_POOL_MEAN);
    assert_int_equal(c.pooling_dim, 16);
    assert_int_equal(c.normalize, 0);
    /* Without Normalize. */
    c = load_ok(model_dir("modules.json", "[" TR "," PO "]", NULL));
    assert_int_equal(c.normalize, 0);
    assert_int_equal(c.has_modules_json, 1);
    /* The Normalize folder may be absent; the default files have none. */
    c = load_ok(model_dir(NULL));
    assert_int_equal(c.normalize, 1);
    /* sentence-transformers 6 class paths. */
    c = load_ok(model_dir("modules.json", "[" TR6 "," PO6 "," NO6 "]", NULL));
    assert_int_equal(c.normalize, 1);
    /* A Transformer in its own folder (older ST saves: 0_Transformer). */
    c = load_ok(model_dir("modules.json",
                          "[" MOD("0_Transformer", "sentence_transformers.models.Transformer") "," PO "]",
                          "config.json", NULL, "0_Transformer/config.json", BERT,
                          "0_Transformer/sentence_bert_config.json", "{\"max_seq_length\":20}",
                          NULL));
    assert_string_equal(c.transformer_path, "0_Transformer");
    assert_int_equal(c.max_seq_length, 20);

    /* Unsupported module types. */
    expect_load(model_dir("modules.json",
                          "[" TR "," PO "," MOD("2_X", "sentence_transformers.models.WordWeights") "]",
                          NULL),
                SEMBED_ERR_UNSUPPORTED, "unsupported module sentence_transformers.models.WordWeights");
    expect_load(model_dir("modules.json", "[" MOD("", "my_package.Transformer") "," PO "]", NULL),
                SEMBED_ERR_UNSUPPORTED, "unsupported module my_package.Transformer");
    expect_load(model_dir("modules.json",
                          "[" MOD("", "sentence_transformers.models.StaticEmbedding") "]", NULL),
                SEMBED_ERR_UNSUPPORTED, "unsupported module");
    expect_load(model_dir("modules.json",
                          "[" MOD("", "sentence_transformers.foo.Transformer") "," PO "]", NULL),
                SEMBED_ERR_UNSUPPORTED, "unsupported module");
    /* Order and presence. */
    expect_load(model_dir("modules.json", "[" PO "," TR "]", NULL), SEMBED_ERR_UNSUPPORTED,
                "out of place");
    expect_load(model_dir("modules.json", "[" TR "]", NULL), SEMBED_ERR_UNSUPPORTED,
                "no Pooling module");
    expect_load(model_dir("modules.json", "[]", NULL), SEMBED_ERR_UNSUPPORTED,
                "no Transformer module");
    expect_load(model_dir("modules.json", "[" TR "," PO "," PO "]", NULL), SEMBED_ERR_UNSUPPORTED,
                "out of place");
    expect_load(model_dir("modules.json", "[" TR "," PO "," NO "," NO "]", NULL),
                SEMBED_ERR_UNSUPPORTED, "out of place");
    /* Shape of the entries. */
    expect_load(model_dir("modules.json", "{}", NULL), SEMBED_ERR_FORMAT, "not a JSON array");
    expect_load(model_dir("modules.json", "[1]", NULL), SEMBED_ERR_FORMAT, "module 0");
    expect_load(model_dir("modules.json", "[{\"type\":\"sentence_transformers.models.Transformer\"}]",
                          NULL),
                SEMBED_ERR_FORMAT, "module 0");
    expect_load(model_dir("modules.json", "[" TR "," MOD("", "sentence_transformers.models.Pooling") "]",
                          NULL),
                SEMBED_ERR_FORMAT, "empty path");
    char many[4096] = "[" TR "," PO;
    for (int i = 0; i < CONFIG_MAX_MODULES; i++)
        strcat(many, "," NO);
    strcat(many, "]");
    expect_load(model_dir("modules.json", many, NULL), SEMBED_ERR_LIMIT, "modules");
    /* Pooling dimension must match hidden_size. */
    expect_load(model_dir("1_Pooling/config.json", "{\"word_embedding_dimension\":32}", NULL),
                SEMBED_ERR_MISMATCH, "embedding dimension 32 does not match hidden_size 16");
    /* Missing files name the file. */
    expect_load(model_dir("1_Pooling/config.json", NULL, NULL), SEMBED_ERR_NOT_FOUND,
                "1_Pooling/config.json");
    expect_load(model_dir("config.json", NULL, NULL), SEMBED_ERR_NOT_FOUND, "config.json");
    expect_load(model_dir("config.json", "{\"model_type\":\"bert\",\"hidden_size\":0}", NULL),
                SEMBED_ERR_FORMAT, "config.json: hidden_size");
}

static void test_module_paths(void **state) {
    (void)state;
    static const char *const bad[] = {"../1_Pooling", "/etc", "a/../../b", "..", "x/..",
                                      "..\\\\x", "a\\\\b"};
    char m[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(m, sizeof m,
                 "[" TR ",{\"path\":\"%s\",\"type\":\"sentence_transformers.models.Pooling\"}]",
                 bad[i]);
        expect_load(model_dir("modules.json", m, NULL), SEMBED_ERR_FORMAT, "leaves the model folder");
    }
    snprintf(m, sizeof m,
             "[{\"path\":\"../../etc\",\"type\":\"sentence_transformers.models.Transformer\"}," PO "]");
    expect_load(model_dir("modules.json", m, NULL), SEMBED_ERR_FORMAT, "leaves the model folder");
    /* Names that merely contain dots are fine. */
    st_config c = load_ok(
        model_dir("modules.json",
                  "[" TR "," MOD("./1_Pooling..x", "sentence_transformers.models.Pooling") "]",
                  "1_Pooling..x/config.json", POOL, NULL));
    assert_string_equal(c.pooling_path, "./1_Pooling..x");
    /* Too long. */
    char longp[400];
    memset(longp, 'a', 300);
    longp[300] = 0;
    snprintf(m, sizeof m, "[" TR ",{\"path\":\"%s\",\"type\":\"sentence_transformers.models.Pooling\"}]",
             longp);
    expect_load(model_dir("modules.json", m, NULL), SEMBED_ERR_LIMIT, "longer than");
}

/* ---- Dense ------------------------------------------------------------ */

#define DE(path) MOD(path, "sentence_transformers.models.Dense")

static void test_dense(void **state) {
    (void)state;
    st_config c = load_ok(model_dir(
        "modules.json", "[" TR "," PO "," DE("2_Dense") "," DE("3_Dense") "," NO "]",
        "2_Dense/config.json",
        "{\"in_features\":16,\"out_features\":8,\"bias\":true,"
        "\"activation_function\":\"torch.nn.modules.activation.Tanh\"}",
        "2_Dense/model.safetensors", "",
        "3_Dense/config.json",
        "{\"in_features\":8,\"out_features\":4,\"bias\":false,"
        "\"activation_function\":\"torch.nn.modules.linear.Identity\"}",
        "3_Dense/pytorch_model.bin", "", NULL));
    assert_int_equal(c.n_dense, 2);
    assert_string_equal(c.dense[0].path, "2_Dense");
    assert_int_equal(c.dense[0].in_features, 16);
    assert_int_equal(c.dense[0].out_features, 8);
    assert_int_equal(c.dense[0].bias, 1);
    assert_int_equal(c.dense[0].act, BERT_ACT_TANH);
    assert_int_equal(c.dense[0].weights, CONFIG_WEIGHTS_SAFETENSORS);
    assert_string_equal(c.dense[1].path, "3_Dense");
    assert_int_equal(c.dense[1].bias, 0);
    assert_int_equal(c.dense[1].act, BERT_ACT_IDENTITY);
    assert_int_equal(c.dense[1].weights, CONFIG_WEIGHTS_PYTORCH_BIN);
    assert_int_equal(c.normalize, 1);
    assert_int_equal(c.weights, CONFIG_WEIGHTS_NONE);

    /* Defaults: bias true, Tanh. ST 6 class path; the input of the first
     * Dense is the concatenated pooling output (2 modes x 16). */
    c = load_ok(model_dir("modules.json",
                          "[" TR "," PO "," DE6("2_Dense") "]",
                          "1_Pooling/config.json",
                          "{\"embedding_dimension\":16,\"pooling_mode\":[\"cls\",\"mean\"]}",
                          "2_Dense/config.json",
                          "{\"in_features\":32,\"out_features\":8,"
                          "\"module_input_name\":\"sentence_embedding\",\"use_residual\":false}",
                          "model.safetensors", "", NULL));
    assert_int_equal(c.dense[0].bias, 1);
    assert_int_equal(c.dense[0].act, BERT_ACT_TANH);
    assert_int_equal(c.dense[0].weights, CONFIG_WEIGHTS_NONE);
    assert_int_equal(c.weights, CONFIG_WEIGHTS_SAFETENSORS);

    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":12,\"out_features\":8}", NULL),
                SEMBED_ERR_MISMATCH, "2_Dense/config.json: in_features 12");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "," DE("3_Dense") "]",
                          "2_Dense/config.json", "{\"in_features\":16,\"out_features\":8}",
                          "3_Dense/config.json", "{\"in_features\":16,\"out_features\":8}", NULL),
                SEMBED_ERR_MISMATCH, "3_Dense/config.json: in_features 16");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16,\"out_features\":8,"
                          "\"activation_function\":\"torch.nn.modules.activation.Sigmoid\"}",
                          NULL),
                SEMBED_ERR_UNSUPPORTED, "activation_function");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16,\"out_features\":8,\"activation_function\":null}",
                          NULL),
                SEMBED_ERR_FORMAT, "activation_function");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16,\"out_features\":8,\"use_residual\":true}", NULL),
                SEMBED_ERR_UNSUPPORTED, "use_residual");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16,\"out_features\":8,"
                          "\"module_input_name\":\"token_embeddings\"}",
                          NULL),
                SEMBED_ERR_UNSUPPORTED, "module_input_name");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16}", NULL),
                SEMBED_ERR_FORMAT, "out_features is missing");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", "2_Dense/config.json",
                          "{\"in_features\":16,\"out_features\":0}", NULL),
                SEMBED_ERR_FORMAT, "out_features");
    expect_load(model_dir("modules.json", "[" TR "," PO "," DE("2_Dense") "]", NULL),
                SEMBED_ERR_NOT_FOUND, "2_Dense/config.json");
    /* Dense after Normalize is not a chain sembed runs. */
    expect_load(model_dir("modules.json", "[" TR "," PO "," NO "," DE("3_Dense") "]", NULL),
                SEMBED_ERR_UNSUPPORTED, "out of place");
    /* More than CONFIG_MAX_DENSE. */
    char m[2048] = "[" TR "," PO;
    for (int i = 0; i <= CONFIG_MAX_DENSE; i++)
        strcat(m, "," DE("2_Dense"));
    strcat(m, "]");
    expect_load(model_dir("modules.json", m, NULL), SEMBED_ERR_LIMIT, "Dense modules");

    dense_config d;
    sembed_error err;
    const char *j = "{\"in_features\":3,\"out_features\":2,\"bias\":false}";
    assert_int_equal(config_parse_dense(j, strlen(j), &d, &err), SEMBED_OK);
    assert_int_equal(d.in_features, 3);
    assert_int_equal(d.bias, 0);
}

/* ---- ML-12: JSONTestSuite n_ files and deep nesting -------------------- */

static void parse_everything(const char *buf, size_t len, const char *name) {
    bert_config b;
    unsigned bits;
    int dim, inc, ms, lower;
    long long mml;
    dense_config d;
    st_config m;
    sembed_error err;
    if (config_parse_bert(buf, len, &b, &err) == SEMBED_OK ||
        config_parse_pooling(buf, len, &bits, &dim, &inc, &err) == SEMBED_OK ||
        config_parse_dense(buf, len, &d, &err) == SEMBED_OK ||
        config_parse_modules(buf, len, &m, &err) == SEMBED_OK)
        fail_msg("%s accepted", name);
    /* These two accept any object; the n_ files are not JSON objects. */
    if (config_parse_sbert(buf, len, &ms, &lower, &err) == SEMBED_OK ||
        config_parse_tokenizer_config(buf, len, &mml, &err) == SEMBED_OK)
        fail_msg("%s accepted", name);
}

static void test_json_test_suite(void **state) {
    (void)state;
    const char *s = getenv("SEMBED_SHARED");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/JSONTestSuite/test_parsing", s ? s : "");
    DIR *d = s ? opendir(dir) : NULL;
    if (!d) {
        print_message("no JSONTestSuite under SEMBED_SHARED: skipping\n");
        skip();
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "n_", 2) != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *buf;
        size_t len;
        sembed_error err;
        assert_int_equal(read_file(path, 1u << 24, &buf, &len, &err), SEMBED_OK);
        parse_everything(buf, len, e->d_name);
        free(buf);
        n++;
    }
    closedir(d);
    print_message("%d n_ files refused by every config parser\n", n);
    assert_true(n > 150);
}

static void test_deep_nesting(void **state) {
    (void)state;
    size_t n = 100000;
    char *buf = malloc(2 * n + 2);
    assert_non_null(buf);
    memset(buf, '[', n);
    parse_everything(buf, n, "100000 [");
    memset(buf + n, ']', n);
    parse_everything(buf, 2 * n, "100000 [ ... ]");
    /* Inside an object, as a value. */
    size_t k = (size_t)sprintf(buf, "{\"model_type\":\"bert\",\"x\":");
    memset(buf + k, '[', 1000);
    memset(buf + k + 1000, ']', 1000);
    buf[k + 2000] = '}';
    bert_config b;
    sembed_error err;
    assert_int_equal(config_parse_bert(buf, k + 2001, &b, &err), SEMBED_ERR_LIMIT);
    assert_non_null(strstr(err.message, "nested deeper than 64"));
    /* At the limit it parses. */
    k = (size_t)sprintf(buf, "{\"model_type\":\"bert\",\"x\":");
    memset(buf + k, '[', CONFIG_MAX_JSON_DEPTH - 1);
    memset(buf + k + CONFIG_MAX_JSON_DEPTH - 1, ']', CONFIG_MAX_JSON_DEPTH - 1);
    buf[k + 2 * (CONFIG_MAX_JSON_DEPTH - 1)] = '}';
    assert_int_equal(config_parse_bert(buf, k + 2 * (CONFIG_MAX_JSON_DEPTH - 1) + 1, &b, &err),
                     SEMBED_OK);
    free(buf);
    /* Brackets inside strings do not count. */
    const char *j = "{\"model_type\":\"bert\",\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}";
    assert_int_equal(config_parse_bert(j, strlen(j), &b, &err), SEMBED_OK);
    /* Oversized input. */
    assert_int_equal(config_parse_bert("{}", (size_t)CONFIG_MAX_JSON_BYTES + 1, &b, &err),
                     SEMBED_ERR_LIMIT);
    assert_int_equal(config_parse_bert(NULL, 5, &b, &err), SEMBED_ERR_INVALID_ARGUMENT);
}

static void test_special_files(void **state) {
    (void)state;
    /* config.json that is a directory or a FIFO: a clean error, no hang. */
    const char *d = model_dir("config.json", NULL, NULL);
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", d);
    assert_int_equal(mkfifo(p, 0644), 0);
    expect_load(d, SEMBED_ERR_IO, "config.json: not a regular file");
    d = model_dir("config.json", NULL, NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    assert_int_equal(mkdir(p, 0755), 0);
    expect_load(d, SEMBED_ERR_IO, "not a regular file");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist", tmpdir);
    expect_load(missing, SEMBED_ERR_NOT_FOUND, "config.json");
    st_config c;
    assert_int_equal(config_load_dir(NULL, &c, NULL), SEMBED_ERR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_classic),
        cmocka_unit_test(test_shared_st6),
        cmocka_unit_test(test_bert_fields),
        cmocka_unit_test(test_bert_model_type),
        cmocka_unit_test(test_bert_ranges),
        cmocka_unit_test(test_hidden_act),
        cmocka_unit_test(test_pooling_legacy),
        cmocka_unit_test(test_pooling_mode),
        cmocka_unit_test(test_pooling_other_keys),
        cmocka_unit_test(test_max_seq),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_module_paths),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_json_test_suite),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_special_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
