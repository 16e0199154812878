/*
 * config.c - the JSON files of a sentence-transformers model folder.
 *
 * sentence-transformers decides what a folder computes from several small
 * files, and two layouts are in use (classic, written by ST <= 5.3, and the
 * one of ST >= 5.4 / 6). This file turns them into one st_config and
 * refuses, with a message naming the file and field, anything that would
 * make sembed compute something else than sentence-transformers does:
 * another architecture, an unknown activation or pooling mode, a module
 * chain it cannot run. The rules and their sources are in docs/MODEL.md.
 *
 * Every parser takes bytes and a length; numbers from the files are range
 * checked before anything uses them (they size allocations later).
 */
#include "model/config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"

/* ---- JSON loading ----------------------------------------------------- */

sembed_status config_json_load(const char *buf, size_t len, const char *what,
                               const config_json_limits *limits, size_t flags, json_t **out,
                               sembed_error *err) {
    *out = NULL;
    /* A linear pass over the bytes first, so that deep nesting or a huge
     * number of values is refused before jansson recurses or allocates. */
    int depth = 0, in_str = 0, esc = 0;
    size_t values = 1, members = 0;
    int any_top = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            if (depth == 1)
                any_top = 1;
            break;
        case '{':
        case '[':
            if (depth == 1)
                any_top = 1;
            if (++depth > limits->max_depth)
                return set_error(err, SEMBED_ERR_LIMIT, "%s: JSON nested deeper than %d levels",
                                 what, limits->max_depth);
            values++;
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        case ',':
            values++;
            if (depth == 1)
                members++;
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        default:
            if (depth == 1)
                any_top = 1;
            break;
        }
        if (limits->max_values && values > limits->max_values)
            return set_error(err, SEMBED_ERR_LIMIT, "%s: more than %zu JSON values", what,
                             limits->max_values);
    }
    members += any_top;
    if (limits->max_members && members > limits->max_members)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: more than %zu top-level entries", what,
                         limits->max_members);

    json_error_t je;
    json_t *root = json_loadb(buf, len, flags, &je);
    if (!root)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s",
                         what, je.line, je.column, je.text);
    *out = root;
    return SEMBED_OK;
}

static const config_json_limits file_limits = {CONFIG_MAX_JSON_DEPTH, CONFIG_MAX_JSON_VALUES, 0};

static sembed_status load_object(const char *json, size_t len, const char *what, size_t flags,
                                 json_t **out, sembed_error *err) {
    if (!json && len)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: no buffer", what);
    if (len > CONFIG_MAX_JSON_BYTES)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: larger than %u bytes", what,
                         CONFIG_MAX_JSON_BYTES);
    sembed_status rc = config_json_load(json ? json : "", len, what, &file_limits, flags, out, err);
    if (rc != SEMBED_OK)
        return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return set_error(err, SEMBED_ERR_FORMAT, "%s: not a JSON object", what);
    }
    return SEMBED_OK;
}

/* A short rendering of a JSON value for messages. */
static const char *show(const json_t *v, char *buf, size_t cap) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, cap, "?");
        return buf;
    }
    if (strlen(s) > 40)
        snprintf(buf, cap, "%.40s...", s);
    else
        snprintf(buf, cap, "%s", s);
    free(s);
    return buf;
}

/* An integer member in [lo, hi]. Absent (or null when null_ok) gives def;
 * required members have no default. Reals such as 384.0 or 1e9 are
 * refused: the files sentence-transformers writes hold plain integers. */
static sembed_status get_int(const json_t *obj, const char *key, int required, int null_ok,
                             long long def, long long lo, long long hi, int *out,
                             const char *what, sembed_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v || (null_ok && json_is_null(v))) {
        if (required)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: %s is missing", what, key);
        *out = (int)def;
        return SEMBED_OK;
    }
    char b[64];
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s must be an integer in %lld..%lld (got %s)",
                         what, key, lo, hi, show(v, b, sizeof b));
    *out = (int)json_integer_value(v);
    return SEMBED_OK;
}

static sembed_status get_bool(const json_t *obj, const char *key, int def, int *out,
                              const char *what, sembed_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return SEMBED_OK;
    }
    char b[64];
    if (!json_is_boolean(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s must be true or false (got %s)", what,
                         key, show(v, b, sizeof b));
    *out = json_is_true(v);
    return SEMBED_OK;
}

/* A string member; absent gives def (may be NULL). */
static sembed_status get_str(const json_t *obj, const char *key, const char *def,
                             const char **out, const char *what, sembed_error *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return SEMBED_OK;
    }
    char b[64];
    if (!json_is_string(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s must be a string (got %s)", what, key,
                         show(v, b, sizeof b));
    *out = json_string_value(v);
    return SEMBED_OK;
}

/* ---- activations ------------------------------------------------------ */

/* config.json hidden_act names (transformers ACT2FN) that sembed runs. */
static const struct {
    const char *name;
    bert_act act;
} act_names[] = {
    {"gelu", BERT_ACT_GELU},
    {"gelu_python", BERT_ACT_GELU},
    {"gelu_new", BERT_ACT_GELU_TANH},
    {"gelu_pytorch_tanh", BERT_ACT_GELU_TANH},
    {"gelu_accurate", BERT_ACT_GELU_TANH},
    {"gelu_fast", BERT_ACT_GELU_FAST},
    {"quick_gelu", BERT_ACT_QUICK_GELU},
    {"gelu_10", BERT_ACT_GELU_10},
    {"relu", BERT_ACT_RELU},
    {"silu", BERT_ACT_SILU},
    {"swish", BERT_ACT_SILU},
    {"tanh", BERT_ACT_TANH},
    {"linear", BERT_ACT_IDENTITY},
};

/* Dense modules' activation_function: the torch class path. nn.GELU is
 * saved without its `approximate` argument, whose default is the exact
 * erf form. */
static const struct {
    const char *name;
    bert_act act;
} act_classes[] = {
    {"torch.nn.modules.activation.Tanh", BERT_ACT_TANH},
    {"torch.nn.modules.linear.Identity", BERT_ACT_IDENTITY},
    {"torch.nn.modules.activation.ReLU", BERT_ACT_RELU},
    {"torch.nn.modules.activation.GELU", BERT_ACT_GELU},
    {"torch.nn.modules.activation.SiLU", BERT_ACT_SILU},
};

static int act_from_hidden_act(const char *name) {
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(name, act_names[i].name) == 0)
            return (int)act_names[i].act;
    return -1;
}

static int act_from_class(const char *name) {
    for (size_t i = 0; i < sizeof act_classes / sizeof act_classes[0]; i++)
        if (strcmp(name, act_classes[i].name) == 0)
            return (int)act_classes[i].act;
    return -1;
}

int config_act_from_name(const char *name) {
    if (!name)
        return -1;
    int a = act_from_hidden_act(name);
    return a >= 0 ? a : act_from_class(name);
}

const char *config_act_name(bert_act act) {
    switch (act) {
    case BERT_ACT_GELU: return "gelu";
    case BERT_ACT_GELU_TANH: return "gelu_new";
    case BERT_ACT_GELU_FAST: return "gelu_fast";
    case BERT_ACT_QUICK_GELU: return "quick_gelu";
    case BERT_ACT_GELU_10: return "gelu_10";
    case BERT_ACT_RELU: return "relu";
    case BERT_ACT_SILU: return "silu";
    case BERT_ACT_TANH: return "tanh";
    case BERT_ACT_IDENTITY: return "linear";
    }
    return "?";
}

/* ---- config.json ------------------------------------------------------ */

static sembed_status parse_bert(const char *json, size_t len, const char *what, bert_config *out,
                                sembed_error *err) {
    json_t *root = NULL;
    sembed_status rc = load_object(json, len, what, 0, &root, err);
    if (rc != SEMBED_OK)
        return rc;
    memset(out, 0, sizeof *out);
    char b[64];
    const char *s;

    /* transformers picks the architecture from model_type; without it
     * AutoConfig cannot tell what the folder is either. */
    const json_t *mt = json_object_get(root, "model_type");
    if (!mt) {
        rc = set_error(err, SEMBED_ERR_FORMAT, "%s: model_type is missing (expected \"bert\")",
                       what);
        goto done;
    }
    if (!json_is_string(mt) || strcmp(json_string_value(mt), "bert") != 0) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                       "%s: model_type %s is not supported (only \"bert\")", what,
                       show(mt, b, sizeof b));
        goto done;
    }

    /* Absent keys take BertConfig's defaults, as transformers does. */
    if ((rc = get_int(root, "vocab_size", 0, 0, 30522, 1, CONFIG_MAX_VOCAB, &out->vocab_size,
                      what, err)) ||
        (rc = get_int(root, "hidden_size", 0, 0, 768, 1, CONFIG_MAX_HIDDEN, &out->hidden_size,
                      what, err)) ||
        (rc = get_int(root, "num_hidden_layers", 0, 0, 12, 1, CONFIG_MAX_LAYERS, &out->n_layers,
                      what, err)) ||
        (rc = get_int(root, "num_attention_heads", 0, 0, 12, 1, CONFIG_MAX_HEADS, &out->n_heads,
                      what, err)) ||
        (rc = get_int(root, "intermediate_size", 0, 0, 3072, 1, CONFIG_MAX_FFN,
                      &out->intermediate_size, what, err)) ||
        (rc = get_int(root, "max_position_embeddings", 0, 0, 512, 1, CONFIG_MAX_POSITIONS,
                      &out->max_position_embeddings, what, err)) ||
        (rc = get_int(root, "type_vocab_size", 0, 0, 2, 1, CONFIG_MAX_TYPE_VOCAB,
                      &out->type_vocab_size, what, err)))
        goto done;
    if ((rc = get_int(root, "pad_token_id", 0, 1, 0, 0, out->vocab_size - 1, &out->pad_token_id,
                      what, err)))
        goto done;
    if (out->hidden_size % out->n_heads != 0) {
        rc = set_error(err, SEMBED_ERR_FORMAT,
                       "%s: hidden_size %d is not a multiple of num_attention_heads %d", what,
                       out->hidden_size, out->n_heads);
        goto done;
    }

    out->layer_norm_eps = 1e-12;
    const json_t *eps = json_object_get(root, "layer_norm_eps");
    if (eps) {
        double e = json_is_number(eps) ? json_number_value(eps) : NAN;
        if (!(e > 0 && e < 1)) {
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: layer_norm_eps must be a number in (0, 1) (got %s)", what,
                           show(eps, b, sizeof b));
            goto done;
        }
        out->layer_norm_eps = e;
    }

    if ((rc = get_str(root, "hidden_act", "gelu", &s, what, err)))
        goto done;
    int act = act_from_hidden_act(s);
    if (act < 0 || strlen(s) >= sizeof out->hidden_act) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: hidden_act \"%.64s\" is not supported",
                       what, s);
        goto done;
    }
    out->act = (bert_act)act;
    snprintf(out->hidden_act, sizeof out->hidden_act, "%s", s);

    const json_t *pe = json_object_get(root, "position_embedding_type");
    if (pe && !(json_is_string(pe) && strcmp(json_string_value(pe), "absolute") == 0)) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                       "%s: position_embedding_type %s is not supported (only \"absolute\")",
                       what, show(pe, b, sizeof b));
        goto done;
    }
    rc = SEMBED_OK;
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_bert(const char *json, size_t len, bert_config *out,
                                sembed_error *err) {
    return parse_bert(json, len, "config.json", out, err);
}

/* ---- 1_Pooling/config.json -------------------------------------------- */

/* In sentence-transformers' concatenation order (the bit order). */
static const struct {
    const char *mode;
    const char *legacy_key;
    unsigned bit;
} pool_modes[] = {
    {"cls", "pooling_mode_cls_token", SEMBED_POOL_CLS},
    {"max", "pooling_mode_max_tokens", SEMBED_POOL_MAX},
    {"mean", "pooling_mode_mean_tokens", SEMBED_POOL_MEAN},
    {"mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens", SEMBED_POOL_MEAN_SQRT_LEN},
    {"weightedmean", "pooling_mode_weightedmean_tokens", SEMBED_POOL_WEIGHTED_MEAN},
    {"lasttoken", "pooling_mode_lasttoken", SEMBED_POOL_LAST_TOKEN},
};
#define N_POOL_MODES (sizeof pool_modes / sizeof pool_modes[0])

static int pool_mode_index(const char *mode) {
    for (size_t i = 0; i < N_POOL_MODES; i++)
        if (strcmp(mode, pool_modes[i].mode) == 0)
            return (int)i;
    return -1;
}

static sembed_status parse_pooling(const char *json, size_t len, const char *what,
                                   unsigned *pooling, int *pooling_dim, int *include_prompt,
                                   sembed_error *err) {
    json_t *root = NULL;
    sembed_status rc = load_object(json, len, what, 0, &root, err);
    if (rc != SEMBED_OK)
        return rc;
    char b[64];
    unsigned bits = 0;

    /* embedding_dimension (ST 6) was word_embedding_dimension before. */
    int dim = 0, old_dim = 0;
    int has_new = json_object_get(root, "embedding_dimension") != NULL;
    int has_old = json_object_get(root, "word_embedding_dimension") != NULL;
    if (!has_new && !has_old) {
        rc = set_error(err, SEMBED_ERR_FORMAT, "%s: embedding_dimension is missing", what);
        goto done;
    }
    if ((has_new && (rc = get_int(root, "embedding_dimension", 1, 0, 0, 1, CONFIG_MAX_HIDDEN,
                                  &dim, what, err))) ||
        (has_old && (rc = get_int(root, "word_embedding_dimension", 1, 0, 0, 1,
                                  CONFIG_MAX_HIDDEN, &old_dim, what, err))))
        goto done;
    if (has_new && has_old && dim != old_dim) {
        rc = set_error(err, SEMBED_ERR_FORMAT,
                       "%s: embedding_dimension %d and word_embedding_dimension %d disagree",
                       what, dim, old_dim);
        goto done;
    }
    if (!has_new)
        dim = old_dim;

    const json_t *pm = json_object_get(root, "pooling_mode");
    if (pm && !json_is_null(pm)) {
        /* ST 6: one mode or a list, concatenated in the listed order; the
         * legacy flags are then ignored, as ST 6 drops them. */
        size_t n = json_is_array(pm) ? json_array_size(pm) : 1;
        if (!json_is_string(pm) && !(json_is_array(pm) && n > 0)) {
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: pooling_mode must be a mode name or a non-empty list of them "
                           "(got %s)",
                           what, show(pm, b, sizeof b));
            goto done;
        }
        int last = -1;
        for (size_t i = 0; i < n; i++) {
            const json_t *m = json_is_array(pm) ? json_array_get(pm, i) : pm;
            if (!json_is_string(m)) {
                rc = set_error(err, SEMBED_ERR_FORMAT, "%s: pooling_mode entry %s is not a string",
                               what, show(m, b, sizeof b));
                goto done;
            }
            int k = pool_mode_index(json_string_value(m));
            if (k < 0) {
                rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                               "%s: unknown pooling mode \"%.40s\" (known: cls, max, mean, "
                               "mean_sqrt_len_tokens, weightedmean, lasttoken)",
                               what, json_string_value(m));
                goto done;
            }
            /* sembed concatenates in the canonical order only (a bit set). */
            if (k <= last) {
                rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                               "%s: pooling_mode list %s repeats a mode or is not in the order "
                               "cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken",
                               what, show(pm, b, sizeof b));
                goto done;
            }
            last = k;
            bits |= pool_modes[k].bit;
        }
    } else {
        /* Legacy flags (ST <= 5.3): a missing mean flag is true, as the
         * Pooling constructor's default; no flag true at all means mean. */
        for (size_t i = 0; i < N_POOL_MODES; i++) {
            int on = 0;
            if ((rc = get_bool(root, pool_modes[i].legacy_key, pool_modes[i].bit == SEMBED_POOL_MEAN,
                               &on, what, err)))
                goto done;
            if (on)
                bits |= pool_modes[i].bit;
        }
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            if (strncmp(key, "pooling_mode_", 13) != 0 || !json_is_true(v))
                continue;
            int known = 0;
            for (size_t i = 0; i < N_POOL_MODES; i++)
                known |= strcmp(key, pool_modes[i].legacy_key) == 0;
            if (!known) {
                rc = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unknown pooling flag %.64s", what,
                               key);
                goto done;
            }
        }
        if (!bits)
            bits = SEMBED_POOL_MEAN;
    }

    int inc = 1;
    if ((rc = get_bool(root, "include_prompt", 1, &inc, what, err)))
        goto done;
    *pooling = bits;
    *pooling_dim = dim;
    *include_prompt = inc;
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_pooling(const char *json, size_t len, unsigned *pooling,
                                   int *pooling_dim, int *include_prompt, sembed_error *err) {
    return parse_pooling(json, len, "1_Pooling/config.json", pooling, pooling_dim,
                         include_prompt, err);
}

/* ---- N_Dense/config.json ---------------------------------------------- */

static sembed_status parse_dense(const char *json, size_t len, const char *what,
                                 dense_config *out, sembed_error *err) {
    json_t *root = NULL;
    sembed_status rc = load_object(json, len, what, 0, &root, err);
    if (rc != SEMBED_OK)
        return rc;
    const char *s;
    int residual = 0;
    memset(out, 0, sizeof *out);
    if ((rc = get_int(root, "in_features", 1, 0, 0, 1, CONFIG_MAX_FFN, &out->in_features, what,
                      err)) ||
        (rc = get_int(root, "out_features", 1, 0, 0, 1, CONFIG_MAX_FFN, &out->out_features, what,
                      err)) ||
        (rc = get_bool(root, "bias", 1, &out->bias, what, err)) ||
        (rc = get_bool(root, "use_residual", 0, &residual, what, err)))
        goto done;
    if (residual) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: use_residual is not supported", what);
        goto done;
    }
    static const char *const io_keys[] = {"module_input_name", "module_output_name"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(root, io_keys[i]);
        if (v && !json_is_null(v) &&
            !(json_is_string(v) && strcmp(json_string_value(v), "sentence_embedding") == 0)) {
            char b[64];
            rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                           "%s: %s %s is not supported (only \"sentence_embedding\")", what,
                           io_keys[i], show(v, b, sizeof b));
            goto done;
        }
    }
    /* The default is nn.Tanh, as in the Dense constructor. */
    if ((rc = get_str(root, "activation_function", "torch.nn.modules.activation.Tanh", &s, what,
                      err)))
        goto done;
    int act = act_from_class(s);
    if (act < 0) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                       "%s: activation_function \"%.80s\" is not supported", what, s);
        goto done;
    }
    out->act = (bert_act)act;
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_dense(const char *json, size_t len, dense_config *out,
                                 sembed_error *err) {
    return parse_dense(json, len, "2_Dense/config.json", out, err);
}

/* ---- sentence_bert_config.json, tokenizer_config.json ------------------ */

static sembed_status parse_sbert(const char *json, size_t len, const char *what, int *max_seq,
                                 int *lower, sembed_error *err) {
    json_t *root = NULL;
    sembed_status rc = load_object(json, len, what, 0, &root, err);
    if (rc != SEMBED_OK)
        return rc;
    if ((rc = get_int(root, "max_seq_length", 0, 1, 0, 1, CONFIG_MAX_POSITIONS, max_seq, what,
                      err)) ||
        (rc = get_bool(root, "do_lower_case", 0, lower, what, err)))
        goto done;
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_sbert(const char *json, size_t len, int *max_seq_length,
                                 int *do_lower_case, sembed_error *err) {
    int lower = 0, ms = 0;
    sembed_status rc = parse_sbert(json, len, "sentence_bert_config.json", &ms, &lower, err);
    if (rc == SEMBED_OK) {
        *max_seq_length = ms;
        *do_lower_case = lower;
    }
    return rc;
}

static sembed_status parse_tokenizer_config(const char *json, size_t len, const char *what,
                                            long long *out, sembed_error *err) {
    json_t *root = NULL;
    /* Many real files hold model_max_length = 1000000000000000019884624838656
     * (transformers' VERY_LARGE_INTEGER), beyond jansson's integers, so
     * every number is read as a double here. */
    sembed_status rc = load_object(json, len, what, JSON_DECODE_INT_AS_REAL, &root, err);
    if (rc != SEMBED_OK)
        return rc;
    *out = 0;
    const json_t *v = json_object_get(root, "model_max_length");
    if (v && !json_is_null(v)) {
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        char b[64];
        if (!(x >= 1) || x != floor(x)) {
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: model_max_length must be a positive integer (got %s)", what,
                           show(v, b, sizeof b));
            goto done;
        }
        *out = x > (double)INT_MAX ? -1 : (long long)x;
    }
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_tokenizer_config(const char *json, size_t len,
                                            long long *model_max_length, sembed_error *err) {
    return parse_tokenizer_config(json, len, "tokenizer_config.json", model_max_length, err);
}

/* ---- modules.json ----------------------------------------------------- */

typedef enum { MOD_TRANSFORMER, MOD_POOLING, MOD_DENSE, MOD_NORMALIZE, MOD_UNKNOWN } module_kind;

/* sentence_transformers.models.X (ST <= 5.3) or
 * sentence_transformers.<...>.<x>.X, where <x> is the lower-case class name
 * (ST >= 5.4: base.modules.transformer.Transformer,
 * sentence_transformer.modules.pooling.Pooling, base.modules.dense.Dense,
 * base.modules.normalize.Normalize). */
static module_kind module_kind_of(const char *type) {
    static const char *const names[] = {"Transformer", "Pooling", "Dense", "Normalize"};
    static const char *const lower[] = {"transformer", "pooling", "dense", "normalize"};
    if (strncmp(type, "sentence_transformers.", 22) != 0)
        return MOD_UNKNOWN;
    const char *cls = strrchr(type, '.') + 1;
    for (int k = 0; k < 4; k++) {
        if (strcmp(cls, names[k]) != 0)
            continue;
        static const char models[] = "sentence_transformers.models";
        size_t plen = (size_t)(cls - 1 - type), ol = strlen(lower[k]);
        if (plen == sizeof models - 1 && memcmp(type, models, plen) == 0)
            return (module_kind)k;
        if (plen > 22 + ol && type[plen - ol - 1] == '.' &&
            memcmp(type + plen - ol, lower[k], ol) == 0)
            return (module_kind)k;
    }
    return MOD_UNKNOWN;
}

/* A module folder must stay inside the model folder: relative, with no
 * ".." component (symbolic links inside the folder are followed, as the
 * Hugging Face cache links every file into a blob store). */
static sembed_status check_module_path(const char *what, const char *path, size_t plen,
                                       sembed_error *err) {
    if (plen != strlen(path))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: module path contains a NUL byte", what);
    if (plen >= CONFIG_MAX_PATH)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: module path longer than %d bytes", what,
                         CONFIG_MAX_PATH - 1);
    if (path[0] == '/' || strchr(path, '\\'))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: module path \"%s\" leaves the model folder",
                         what, path);
    for (const char *p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: module path \"%s\" leaves the model folder", what, path);
        p += n + (e ? 1 : 0);
    }
    return SEMBED_OK;
}

static sembed_status parse_modules(const char *json, size_t len, const char *what,
                                   st_config *out, sembed_error *err) {
    sembed_status rc;
    json_t *root = NULL;
    if (len > CONFIG_MAX_JSON_BYTES)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: larger than %u bytes", what,
                         CONFIG_MAX_JSON_BYTES);
    if ((rc = config_json_load(json ? json : "", json ? len : 0, what, &file_limits, 0, &root,
                               err)))
        return rc;
    char b[64];
    if (!json_is_array(root)) {
        rc = set_error(err, SEMBED_ERR_FORMAT, "%s: not a JSON array", what);
        goto done;
    }
    size_t n = json_array_size(root);
    if (n > CONFIG_MAX_MODULES) {
        rc = set_error(err, SEMBED_ERR_LIMIT, "%s: %zu modules (limit %d)", what, n,
                       CONFIG_MAX_MODULES);
        goto done;
    }
    out->transformer_path[0] = out->pooling_path[0] = 0;
    out->n_dense = 0;
    out->normalize = 0;
    /* The chain sembed runs: Transformer, Pooling, Dense..., Normalize. */
    int stage = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(root, i);
        const json_t *jt = json_object_get(m, "type"), *jp = json_object_get(m, "path");
        if (!json_is_object(m) || !json_is_string(jt) || !json_is_string(jp)) {
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: module %zu is not an object with string \"type\" and \"path\"",
                           what, i);
            goto done;
        }
        const char *type = json_string_value(jt), *path = json_string_value(jp);
        module_kind k = module_kind_of(type);
        if (k == MOD_UNKNOWN || json_string_length(jt) != strlen(type)) {
            rc = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unsupported module %.120s", what,
                           type);
            goto done;
        }
        if ((rc = check_module_path(what, path, json_string_length(jp), err)))
            goto done;
        int ok = (k == MOD_TRANSFORMER && stage == -1) ||
                 (k == MOD_POOLING && stage == MOD_TRANSFORMER) ||
                 (k == MOD_DENSE && (stage == MOD_POOLING || stage == MOD_DENSE)) ||
                 (k == MOD_NORMALIZE && stage >= MOD_POOLING && stage <= MOD_DENSE);
        if (!ok) {
            rc = set_error(err, SEMBED_ERR_UNSUPPORTED,
                           "%s: module %zu (%.80s) is out of place: sembed runs Transformer, "
                           "Pooling, Dense..., Normalize in that order",
                           what, i, type);
            goto done;
        }
        if (k != MOD_TRANSFORMER && k != MOD_NORMALIZE && !*path) {
            rc = set_error(err, SEMBED_ERR_FORMAT, "%s: module %zu (%.80s) has an empty path",
                           what, i, type);
            goto done;
        }
        stage = (int)k;
        if (k == MOD_TRANSFORMER) {
            snprintf(out->transformer_path, sizeof out->transformer_path, "%s", path);
        } else if (k == MOD_POOLING) {
            snprintf(out->pooling_path, sizeof out->pooling_path, "%s", path);
        } else if (k == MOD_DENSE) {
            if (out->n_dense >= CONFIG_MAX_DENSE) {
                rc = set_error(err, SEMBED_ERR_LIMIT, "%s: more than %d Dense modules", what,
                               CONFIG_MAX_DENSE);
                goto done;
            }
            dense_config *d = &out->dense[out->n_dense++];
            memset(d, 0, sizeof *d);
            snprintf(d->path, sizeof d->path, "%s", path);
        } else {
            out->normalize = 1;
        }
    }
    if (stage < MOD_POOLING) {
        rc = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: no %s module (%s)", what,
                       stage < 0 ? "Transformer" : "Pooling", show(root, b, sizeof b));
        goto done;
    }
    rc = SEMBED_OK;
done:
    json_decref(root);
    return rc;
}

sembed_status config_parse_modules(const char *json, size_t len, st_config *out,
                                   sembed_error *err) {
    return parse_modules(json, len, "modules.json", out, err);
}

/* ---- the folder ------------------------------------------------------- */

/* Reads dir/sub/name (sub may be empty); *buf is NULL and SEMBED_OK is
 * returned when the file does not exist and optional is set. */
static sembed_status read_json_file(const char *dir, const char *sub, const char *name,
                                    int optional, char *path, size_t cap, char **buf,
                                    size_t *len, sembed_error *err) {
    char tmp[4096];
    sembed_status rc;
    *buf = NULL;
    *len = 0;
    if ((rc = path_join(tmp, sizeof tmp, dir, sub, err)) ||
        (rc = path_join(path, cap, tmp, name, err)))
        return rc;
    rc = read_file(path, CONFIG_MAX_JSON_BYTES, buf, len, err);
    if (rc == SEMBED_ERR_NOT_FOUND && optional) {
        clear_error(err);
        return SEMBED_OK;
    }
    return rc;
}

static config_weights weights_in(const char *dir, const char *sub) {
    char tmp[4096], path[4096];
    if (path_join(tmp, sizeof tmp, dir, sub, NULL))
        return CONFIG_WEIGHTS_NONE;
    if (!path_join(path, sizeof path, tmp, "model.safetensors", NULL) && file_exists(path))
        return CONFIG_WEIGHTS_SAFETENSORS;
    if (!path_join(path, sizeof path, tmp, "pytorch_model.bin", NULL) && file_exists(path))
        return CONFIG_WEIGHTS_PYTORCH_BIN;
    return CONFIG_WEIGHTS_NONE;
}

/* max_seq_length, as sentence-transformers resolves it (docs/MODEL.md):
 * sentence_bert_config.json max_seq_length, else tokenizer_config.json
 * model_max_length capped at max_position_embeddings, else
 * max_position_embeddings (CONFIG_DEFAULT_MAX_SEQ without config.json).
 * max_pos is 0 when unknown. */
static sembed_status resolve_max_seq(const char *dir, const char *sub, int max_pos,
                                     int *max_seq, int *lower, sembed_error *err) {
    char path[4096];
    char *buf = NULL;
    size_t len;
    int ms = 0;
    sembed_status rc;
    *lower = 0;
    if ((rc = read_json_file(dir, sub, "sentence_bert_config.json", 1, path, sizeof path, &buf,
                             &len, err)))
        return rc;
    if (buf) {
        rc = parse_sbert(buf, len, path, &ms, lower, err);
        free(buf);
        if (rc)
            return rc;
        if (ms && max_pos && ms > max_pos)
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: max_seq_length %d is larger than max_position_embeddings %d",
                             path, ms, max_pos);
        if (ms) {
            *max_seq = ms;
            return SEMBED_OK;
        }
    }
    long long mml = 0;
    if ((rc = read_json_file(dir, sub, "tokenizer_config.json", 1, path, sizeof path, &buf, &len,
                             err)))
        return rc;
    if (buf) {
        rc = parse_tokenizer_config(buf, len, path, &mml, err);
        free(buf);
        if (rc)
            return rc;
    }
    int cap = max_pos ? max_pos : CONFIG_DEFAULT_MAX_SEQ;
    *max_seq = (mml > 0 && mml < cap) ? (int)mml : cap;
    return SEMBED_OK;
}

sembed_status config_load_dir(const char *dir, st_config *out, sembed_error *err) {
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    sembed_status rc;
    if (!dir || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "config_load_dir: NULL argument");
    memset(out, 0, sizeof *out);

    if ((rc = read_json_file(dir, "", "modules.json", 1, path, sizeof path, &buf, &len, err)))
        goto fail;
    if (buf) {
        out->has_modules_json = 1;
        if ((rc = parse_modules(buf, len, path, out, err)))
            goto fail;
        free(buf);
        buf = NULL;
    }

    if ((rc = read_json_file(dir, out->transformer_path, "config.json", 0, path, sizeof path,
                             &buf, &len, err)) ||
        (rc = parse_bert(buf, len, path, &out->bert, err)))
        goto fail;
    free(buf);
    buf = NULL;
    out->weights = weights_in(dir, out->transformer_path);
    if ((rc = resolve_max_seq(dir, out->transformer_path, out->bert.max_position_embeddings,
                              &out->max_seq_length, &out->do_lower_case, err)))
        goto fail;

    int hidden = out->bert.hidden_size;
    if (!out->has_modules_json) {
        /* What sentence-transformers builds for a plain transformers
         * folder: Transformer + mean Pooling, no Normalize. */
        out->pooling = SEMBED_POOL_MEAN;
        out->pooling_dim = hidden;
        out->include_prompt = 1;
        return SEMBED_OK;
    }

    if ((rc = read_json_file(dir, out->pooling_path, "config.json", 0, path, sizeof path, &buf,
                             &len, err)) ||
        (rc = parse_pooling(buf, len, path, &out->pooling, &out->pooling_dim,
                            &out->include_prompt, err)))
        goto fail;
    free(buf);
    buf = NULL;
    if (out->pooling_dim != hidden) {
        rc = set_error(err, SEMBED_ERR_MISMATCH,
                       "%s: embedding dimension %d does not match hidden_size %d of config.json",
                       path, out->pooling_dim, hidden);
        goto fail;
    }

    int dim = hidden * __builtin_popcount(out->pooling);
    for (int i = 0; i < out->n_dense; i++) {
        dense_config *d = &out->dense[i];
        char keep[sizeof d->path];
        memcpy(keep, d->path, sizeof keep);
        if ((rc = read_json_file(dir, keep, "config.json", 0, path, sizeof path, &buf, &len,
                                 err)) ||
            (rc = parse_dense(buf, len, path, d, err)))
            goto fail;
        free(buf);
        buf = NULL;
        memcpy(d->path, keep, sizeof keep);
        if (d->in_features != dim) {
            rc = set_error(err, SEMBED_ERR_MISMATCH,
                           "%s: in_features %d does not match the %d values it receives", path,
                           d->in_features, dim);
            goto fail;
        }
        dim = d->out_features;
        d->weights = weights_in(dir, d->path);
    }
    return SEMBED_OK;

fail:
    free(buf);
    return rc;
}

sembed_status config_max_seq_length(const char *dir, int *out, sembed_error *err) {
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    sembed_status rc;
    st_config mods;
    if (!dir || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "config_max_seq_length: NULL argument");
    memset(&mods, 0, sizeof mods);
    /* The tokenizer files sit in the Transformer module's folder. */
    if ((rc = read_json_file(dir, "", "modules.json", 1, path, sizeof path, &buf, &len, err)))
        return rc;
    if (buf) {
        rc = parse_modules(buf, len, path, &mods, err);
        free(buf);
        buf = NULL;
        if (rc)
            return rc;
    }
    int max_pos = 0;
    if ((rc = read_json_file(dir, mods.transformer_path, "config.json", 1, path, sizeof path,
                             &buf, &len, err)))
        return rc;
    if (buf) {
        bert_config bc;
        rc = parse_bert(buf, len, path, &bc, err);
        free(buf);
        if (rc)
            return rc;
        max_pos = bc.max_position_embeddings;
    }
    int lower;
    return resolve_max_seq(dir, mods.transformer_path, max_pos, out, &lower, err);
}
