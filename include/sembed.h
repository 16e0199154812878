/*
 * sembed.h - the public API of libsembed, a text-embedding engine and
 * semantic-search library that computes what sentence-transformers computes.
 *
 * Basic usage (error handling shortened):
 *
 *     #include <sembed.h>
 *
 *     sembed_error err;
 *     sembed_model *model = NULL;
 *     sembed_model_params mp = sembed_model_default_params();
 *     if (sembed_model_load("all-MiniLM-L6-v2/", &mp, &model, &err) != SEMBED_OK) {
 *         fprintf(stderr, "sembed: %s\n", err.message);
 *         return 1;
 *     }
 *     sembed_context *ctx = NULL;
 *     sembed_context_params cp = sembed_context_default_params();
 *     sembed_context_init(model, &cp, &ctx, &err);
 *
 *     const char *texts[] = { "How do I get a replacement Medicare card?",
 *                             "How can Medicare help me?" };
 *     int dim = sembed_model_dim(model);                  // 384
 *     float *vecs = malloc(sizeof(float) * 2 * dim);
 *     sembed_embed_params ep = sembed_embed_default_params();
 *     sembed_embed(ctx, texts, NULL, 2, &ep, vecs, 2 * (size_t)dim, &err);
 *
 *     sembed_context_free(ctx);
 *     sembed_model_free(model);
 *
 * Conventions
 *   - Every fallible call returns a sembed_status (SEMBED_OK is 0) and takes
 *     an optional `sembed_error *err` (NULL allowed) that receives a one-line
 *     message naming the file, field or tensor at fault. There is no global
 *     error state; sembed_strerror() names a status.
 *   - Handles are opaque. Objects come in init/free (or load/free, open/close)
 *     pairs; free functions accept NULL.
 *   - Callers pass output buffers together with their capacity; nothing the
 *     library returns needs a special free unless the function says so.
 *   - Threads: a sembed_model is read-only after loading and may be shared by
 *     any number of threads. A sembed_context holds the per-thread state
 *     (activation arena, scratch, worker pool) and must be used by one thread
 *     at a time; create one per thread.
 *   - Matrices are row-major float32: row i of an (n, dim) matrix starts at
 *     element i * dim.
 *   - Text is UTF-8 with an explicit length. Invalid UTF-8 bytes are replaced
 *     by U+FFFD, which the BERT normalizer then deletes, so invalid bytes act
 *     as if they were absent (this is documented in docs/TOKENIZER.md).
 */
#ifndef SEMBED_H
#define SEMBED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEMBED_VERSION_MAJOR 0
#define SEMBED_VERSION_MINOR 1
#define SEMBED_VERSION_PATCH 0
#define SEMBED_VERSION_STRING "0.1.0"

/* The library version, "MAJOR.MINOR.PATCH". */
const char *sembed_version(void);

/* ==== Status codes ======================================================= */

/* One list makes both the enum and the strings (libuv's UV_ERRNO_MAP idea). */
#define SEMBED_STATUS_MAP(X)                                                  \
    X(OK, "success")                                                          \
    X(ERR_INVALID_ARGUMENT, "invalid argument")                               \
    X(ERR_OUT_OF_MEMORY, "out of memory")                                     \
    X(ERR_IO, "input/output error")                                           \
    X(ERR_FORMAT, "malformed input")                                          \
    X(ERR_UNSUPPORTED, "unsupported")                                         \
    X(ERR_NOT_FOUND, "not found")                                             \
    X(ERR_LIMIT, "limit exceeded")                                            \
    X(ERR_MISMATCH, "mismatch")                                               \
    X(ERR_NETWORK, "network error")                                           \
    X(ERR_AUTH, "authentication required or refused")                         \
    X(ERR_CPU, "the CPU lacks the required instructions")                     \
    X(ERR_BUSY, "busy")                                                       \
    X(ERR_INTERRUPTED, "interrupted")                                         \
    X(ERR_INTERNAL, "internal error")

typedef enum sembed_status {
#define SEMBED_STATUS_ENUM_(name, str) SEMBED_##name,
    SEMBED_STATUS_MAP(SEMBED_STATUS_ENUM_)
#undef SEMBED_STATUS_ENUM_
    SEMBED_STATUS_COUNT_
} sembed_status;

/* A constant, never-NULL description of a status. */
const char *sembed_strerror(sembed_status status);

/* Details of a failure: the status again and a one-line message. */
typedef struct sembed_error {
    sembed_status status;
    char message[512];
} sembed_error;

/* ==== Models ============================================================= */

typedef struct sembed_model sembed_model;
typedef struct sembed_tokenizer sembed_tokenizer;
typedef struct sembed_context sembed_context;

/* Numeric format of the encoder's matrix products. FP32 is exact (matches
 * sentence-transformers to ~1e-7); BF16 and INT8 trade accuracy for speed
 * and need AVX512_BF16 / AVX512_VNNI (SEMBED_ERR_CPU otherwise). */
typedef enum sembed_dtype {
    SEMBED_DTYPE_FP32 = 0,
    SEMBED_DTYPE_BF16 = 1,
    SEMBED_DTYPE_INT8 = 2
} sembed_dtype;

/* Which kernels run the forward pass. AUTO picks the fastest set the CPU
 * supports at run time. REFERENCE is the plain, readable path that the
 * fast paths are tested against. */
typedef enum sembed_kernel {
    SEMBED_KERNEL_AUTO = 0,
    SEMBED_KERNEL_REFERENCE = 1,
    SEMBED_KERNEL_SCALAR = 2,
    SEMBED_KERNEL_AVX2 = 3,
    SEMBED_KERNEL_AVX512 = 4
} sembed_kernel;

typedef struct sembed_model_params {
    sembed_dtype dtype;     /* default SEMBED_DTYPE_FP32 */
    sembed_kernel kernel;   /* default SEMBED_KERNEL_AUTO */
    int max_seq_length;     /* 0 = as the model folder says (default) */
} sembed_model_params;

sembed_model_params sembed_model_default_params(void);

/* Loads a sentence-transformers model folder (classic or
 * sentence-transformers 6 layout): modules.json, config.json,
 * 1_Pooling/config.json, optional Dense and Normalize modules, the tokenizer
 * (tokenizer.json, else vocab.txt + tokenizer_config.json) and
 * model.safetensors, which is memory-mapped. On success *out owns the model;
 * release it with sembed_model_free(). */
sembed_status sembed_model_load(const char *dir, const sembed_model_params *params,
                                sembed_model **out, sembed_error *err);
void sembed_model_free(sembed_model *model);

/* Length of the sentence embedding (after pooling and Dense modules). */
int sembed_model_dim(const sembed_model *model);

/* Pooling modes, as a bit set (several modes are concatenated in
 * sentence-transformers' order: cls, max, mean, mean_sqrt_len_tokens,
 * weightedmean, lasttoken). */
enum {
    SEMBED_POOL_CLS = 1u << 0,
    SEMBED_POOL_MAX = 1u << 1,
    SEMBED_POOL_MEAN = 1u << 2,
    SEMBED_POOL_MEAN_SQRT_LEN = 1u << 3,
    SEMBED_POOL_WEIGHTED_MEAN = 1u << 4,
    SEMBED_POOL_LAST_TOKEN = 1u << 5
};

typedef struct sembed_model_info {
    const char *path;            /* the folder it was loaded from */
    int dim;                     /* sentence embedding length */
    int hidden_size;
    int n_layers;
    int n_heads;
    int intermediate_size;
    int vocab_size;
    int max_position_embeddings;
    int max_seq_length;          /* tokens per text, [CLS] and [SEP] included */
    unsigned pooling;            /* SEMBED_POOL_* bits */
    char pooling_name[96];       /* e.g. "mean" or "cls+mean" */
    int normalize;               /* 1 when modules.json lists Normalize */
    int n_dense;                 /* number of Dense modules */
    const char *hidden_act;      /* "gelu", "gelu_new", ... */
    sembed_dtype dtype;
    const char *kernel;          /* kernel set in use, e.g. "avx512" */
} sembed_model_info;

void sembed_model_get_info(const sembed_model *model, sembed_model_info *info);

/* SHA-256 of model.safetensors as 64 lowercase hex digits plus NUL. It
 * reads the whole file, so it is computed on demand and not at load. */
sembed_status sembed_model_weights_sha256(const sembed_model *model, char out[65],
                                          sembed_error *err);

/* ==== Tokenizer ========================================================== */

/* The model's tokenizer; owned by the model, valid until it is freed. */
const sembed_tokenizer *sembed_model_tokenizer(const sembed_model *model);

/* A tokenizer loaded on its own from a model folder (tokenizer.json, else
 * vocab.txt + tokenizer_config.json). max_seq_length is read as for a
 * model. Release with sembed_tokenizer_free(). */
sembed_status sembed_tokenizer_load(const char *dir, sembed_tokenizer **out, sembed_error *err);
void sembed_tokenizer_free(sembed_tokenizer *tok);

typedef enum sembed_truncation_side {
    SEMBED_TRUNCATE_RIGHT = 0,   /* keep the first pieces (default) */
    SEMBED_TRUNCATE_LEFT = 1     /* keep the last pieces */
} sembed_truncation_side;

typedef struct sembed_tokenize_params {
    int max_length;              /* 0 = the tokenizer's max_seq_length */
    int add_special_tokens;      /* 1 (default): [CLS] ... [SEP] */
    int truncate;                /* 1 (default): cut to max_length;
                                    0: SEMBED_ERR_LIMIT when longer */
    sembed_truncation_side truncation_side;
} sembed_tokenize_params;

sembed_tokenize_params sembed_tokenize_default_params(void);

/* Tokenizes `len` bytes of UTF-8 `text` into at most `cap` ids. *n_ids gets
 * the number written; n_untruncated (may be NULL) gets the length the
 * sequence would have without truncation, special tokens included.
 * Thread-safe: any number of threads may tokenize with one tokenizer. */
sembed_status sembed_tokenize(const sembed_tokenizer *tok, const char *text, size_t len,
                              const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                              size_t *n_ids, size_t *n_untruncated, sembed_error *err);

/* Writes the word pieces of ids as text, WordPiece-decoded ("##" pieces are
 * joined to the previous piece, others separated by a space), into out of
 * capacity cap (NUL-terminated). skip_special drops [CLS], [SEP], [PAD] ...
 * *len (may be NULL) gets the length without the NUL; SEMBED_ERR_LIMIT
 * when cap is too small. */
sembed_status sembed_detokenize(const sembed_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                int skip_special, char *out, size_t cap, size_t *len,
                                sembed_error *err);

/* The vocabulary entry of an id, or NULL when id is out of range. */
const char *sembed_token_text(const sembed_tokenizer *tok, int32_t id);
int sembed_tokenizer_vocab_size(const sembed_tokenizer *tok);
int sembed_tokenizer_max_length(const sembed_tokenizer *tok);
int sembed_tokenizer_is_special(const sembed_tokenizer *tok, int32_t id);

/* ==== Contexts and embedding ============================================= */

typedef struct sembed_context_params {
    int n_threads;               /* worker threads; 0 = online CPUs (default) */
    int max_batch_tokens;        /* tokens per forward pass; default 16384 */
} sembed_context_params;

sembed_context_params sembed_context_default_params(void);

/* Creates the per-thread state for a model: the activation arena (sized
 * from max_batch_tokens, allocated once), tokenizer scratch and a
 * persistent pool of n_threads - 1 workers. */
sembed_status sembed_context_init(const sembed_model *model, const sembed_context_params *params,
                                  sembed_context **out, sembed_error *err);
void sembed_context_free(sembed_context *ctx);

typedef struct sembed_embed_params {
    int normalize;               /* -1 (default): as the model's modules.json;
                                    0: skip Normalize; 1: L2-normalize the
                                    final vector (after `dimensions`) */
    int dimensions;              /* 0 (default): full length; else keep the
                                    first `dimensions` values (truncate_dim) */
    int truncate;                /* 1 (default): texts longer than
                                    max_seq_length are cut; 0: SEMBED_ERR_LIMIT */
    sembed_truncation_side truncation_side;
    const char *prompt;          /* NULL/"" (default): none; else prepended
                                    to every text, as sentence-transformers'
                                    prompt= does */
} sembed_embed_params;

sembed_embed_params sembed_embed_default_params(void);

/* Embeds n texts (lens[i] bytes each; lens may be NULL for NUL-terminated
 * texts) into out, n * dim floats (dim = sembed_model_dim() or
 * params->dimensions). out_cap is the capacity of out in floats. A text's
 * vector is bit-identical whatever else is in the call. n = 0 is allowed
 * and writes nothing. */
sembed_status sembed_embed(sembed_context *ctx, const char *const *texts, const size_t *lens,
                           size_t n, const sembed_embed_params *params, float *out,
                           size_t out_cap, sembed_error *err);

/* The same from token ids that already include the special tokens (one
 * sequence per text). Ids outside the vocabulary are SEMBED_ERR_INVALID_ARGUMENT;
 * sequences longer than max_seq_length are cut (keeping the last id when it
 * is [SEP]) or refused, per params->truncate. */
sembed_status sembed_embed_ids(sembed_context *ctx, const int32_t *const *ids,
                               const size_t *n_ids, size_t n, const sembed_embed_params *params,
                               float *out, size_t out_cap, sembed_error *err);

/* The last hidden state of one token sequence (ids with special tokens):
 * n_ids * hidden_size floats, before pooling (sentence-transformers'
 * output_value="token_embeddings"). */
sembed_status sembed_embed_tokens(sembed_context *ctx, const int32_t *ids, size_t n_ids,
                                  float *out, size_t out_cap, sembed_error *err);

/* Tokens processed by this context since it was created (for metrics). */
uint64_t sembed_context_tokens_processed(const sembed_context *ctx);

/* ==== Semantic search ==================================================== */
/* (section owned by the search module; see docs/SEARCH.md) */

typedef enum sembed_score {
    SEMBED_SCORE_COSINE = 0,     /* sentence_transformers.util.cos_sim */
    SEMBED_SCORE_DOT = 1         /* util.dot_score */
} sembed_score;

typedef struct sembed_hit {
    int64_t corpus_id;
    float score;
} sembed_hit;

/* ==== Embedding files (CSV, .npy, JSON Lines) ============================ */
/* (section owned by the io module; see docs/FORMATS.md) */

/* ==== Store (SQLite) ===================================================== */
/* (section owned by the store module) */

/* ==== Approximate search (HNSW) ========================================== */
/* (section owned by the search module) */

/* ==== Hugging Face Hub =================================================== */
/* (section owned by the hub module) */

#ifdef __cplusplus
}
#endif

#endif /* SEMBED_H */
