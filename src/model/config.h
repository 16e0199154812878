/*
 * config.h - reading a sentence-transformers model folder's JSON files:
 * modules.json, config.json (BertModel), sentence_bert_config.json,
 * tokenizer_config.json (model_max_length), 1_Pooling/config.json (legacy
 * booleans or the sentence-transformers 6 pooling_mode string),
 * N_Dense/config.json and 2_Normalize. Both the classic and the
 * sentence-transformers 6 layouts are read; the rules and their sources are
 * in docs/MODEL.md.
 *
 * The parse functions take bytes and a length (never a file) so that the
 * fuzzers can drive them; config_load_dir() does the file reading.
 */
#ifndef SEMBED_CONFIG_H
#define SEMBED_CONFIG_H

#include "sembed.h"

/* Activation functions named by config.json hidden_act (ACT2FN) and by
 * Dense modules' activation_function. */
typedef enum bert_act {
    BERT_ACT_GELU = 0,        /* "gelu", "gelu_python": exact erf form */
    BERT_ACT_GELU_TANH,       /* "gelu_new", "gelu_pytorch_tanh", "gelu_accurate" */
    BERT_ACT_GELU_FAST,       /* "gelu_fast" */
    BERT_ACT_QUICK_GELU,      /* "quick_gelu" */
    BERT_ACT_GELU_10,         /* "gelu_10": exact GELU clipped to [-10, 10] */
    BERT_ACT_RELU,            /* "relu" */
    BERT_ACT_SILU,            /* "silu", "swish" */
    BERT_ACT_TANH,            /* Dense default: torch.nn.modules.activation.Tanh */
    BERT_ACT_IDENTITY         /* torch.nn.modules.linear.Identity */
} bert_act;

/* Upper bounds that keep a hostile config.json from driving allocations. */
#define CONFIG_MAX_LAYERS 128
#define CONFIG_MAX_HIDDEN 16384
#define CONFIG_MAX_HEADS 256
#define CONFIG_MAX_FFN 65536
#define CONFIG_MAX_VOCAB 4000000
#define CONFIG_MAX_POSITIONS 131072
#define CONFIG_MAX_TYPE_VOCAB 16
#define CONFIG_MAX_DENSE 4
#define CONFIG_MAX_JSON_BYTES (16u << 20)
#define CONFIG_MAX_JSON_DEPTH 64          /* nesting of arrays/objects */
#define CONFIG_MAX_JSON_VALUES 1000000    /* values in one config file */
#define CONFIG_MAX_MODULES 16             /* entries of modules.json */
#define CONFIG_MAX_PATH 256               /* module folder names */
/* max_seq_length when nothing in the folder gives one and there is no
 * config.json to take max_position_embeddings from (tokenizer-only). */
#define CONFIG_DEFAULT_MAX_SEQ 512

/* Which weight file a module folder holds. pytorch_model.bin is recorded
 * only so that the loader can say "convert to safetensors". */
typedef enum config_weights {
    CONFIG_WEIGHTS_NONE = 0,
    CONFIG_WEIGHTS_SAFETENSORS,       /* model.safetensors */
    CONFIG_WEIGHTS_PYTORCH_BIN        /* pytorch_model.bin only */
} config_weights;

/* config.json of a BertModel. */
typedef struct bert_config {
    int vocab_size;
    int hidden_size;
    int n_layers;
    int n_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    int pad_token_id;
    double layer_norm_eps;
    bert_act act;
    char hidden_act[32];          /* as written in config.json */
} bert_config;

/* One sentence_transformers Dense module (N_Dense/config.json + weights). */
typedef struct dense_config {
    char path[256];               /* module folder relative to the model folder */
    int in_features;
    int out_features;
    int bias;
    bert_act act;
    config_weights weights;       /* what N_Dense/ holds */
} dense_config;

/* Everything sembed needs from a model folder besides weights and vocab. */
typedef struct st_config {
    bert_config bert;
    char transformer_path[256];   /* Transformer module folder ("" = root) */
    int max_seq_length;           /* resolved per docs/MODEL.md */
    int do_lower_case;            /* sentence_bert_config.json do_lower_case */
    unsigned pooling;             /* SEMBED_POOL_* bits */
    int pooling_dim;              /* word_embedding_dimension / embedding_dimension */
    int include_prompt;           /* 1 unless the pooling config says false */
    int n_dense;
    dense_config dense[CONFIG_MAX_DENSE];
    int normalize;                /* modules.json lists Normalize */
    char pooling_path[256];       /* Pooling module folder ("1_Pooling") */
    int has_modules_json;         /* 0: plain BertModel folder, mean pooling */
    config_weights weights;       /* what the Transformer folder holds */
} st_config;

/* Reads and checks every config file of a model folder. Module paths that
 * leave the folder ("..", absolute) are refused. A module type other than
 * Transformer, Pooling, Dense or Normalize is SEMBED_ERR_UNSUPPORTED with
 * the message "unsupported module <type>". */
sembed_status config_load_dir(const char *dir, st_config *out, sembed_error *err);

/* Only the max_seq_length rule (for a tokenizer loaded on its own). */
sembed_status config_max_seq_length(const char *dir, int *out, sembed_error *err);

/* Byte-level parsers behind config_load_dir (file names only for messages). */
sembed_status config_parse_bert(const char *json, size_t len, bert_config *out,
                                sembed_error *err);
sembed_status config_parse_pooling(const char *json, size_t len, unsigned *pooling,
                                   int *pooling_dim, int *include_prompt, sembed_error *err);

/* Maps an activation name (config.json or a Dense module's class path);
 * returns -1 when unknown. */
int config_act_from_name(const char *name);

/* The name of an activation as config.json spells it ("gelu", "tanh"). */
const char *config_act_name(bert_act act);

/* The other byte-level parsers behind config_load_dir(), for the fuzzers
 * and tests. config_parse_modules() fills transformer_path, pooling_path,
 * n_dense with dense[i].path, and normalize. */
sembed_status config_parse_modules(const char *json, size_t len, st_config *out,
                                   sembed_error *err);
sembed_status config_parse_dense(const char *json, size_t len, dense_config *out,
                                 sembed_error *err);
/* sentence_bert_config.json: *max_seq_length is 0 when the file has none. */
sembed_status config_parse_sbert(const char *json, size_t len, int *max_seq_length,
                                 int *do_lower_case, sembed_error *err);
/* tokenizer_config.json model_max_length: 0 when absent or null, -1 when it
 * is larger than any real limit (transformers' VERY_LARGE_INTEGER). */
sembed_status config_parse_tokenizer_config(const char *json, size_t len,
                                            long long *model_max_length, sembed_error *err);

/* Parses JSON with jansson after a linear pre-scan that refuses nesting
 * deeper than max_depth, more than max_values values, or more than
 * max_members members at the top level (0 = no cap), before any tree is
 * built. flags are jansson decoding flags. `what` names the input in the
 * messages. Free *out with json_decref(). */
struct json_t;
typedef struct config_json_limits {
    int max_depth;
    size_t max_values;
    size_t max_members;
} config_json_limits;
sembed_status config_json_load(const char *buf, size_t len, const char *what,
                               const config_json_limits *limits, size_t flags,
                               struct json_t **out, sembed_error *err);

#endif /* SEMBED_CONFIG_H */
