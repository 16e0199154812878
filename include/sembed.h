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
    /* 1: copy the encoder's fp32 weight matrices out of the file mapping
     * into private memory that asks for 2 MiB pages (transparent huge
     * pages, where the kernel grants them). A call with few tokens streams
     * every weight from memory, and through 4 KiB pages that means a TLB
     * miss every 4 KiB, which is dear in a virtual machine. The cost is a
     * copy at load (42.5 MB for all-MiniLM-L6-v2) and that much private
     * memory per process. Meant for long-running processes (`sembed serve`
     * and `sembed bench` set it). Default 0: the weights are read in place
     * from the mapping. Ignored for bf16 / int8, which own their copies. */
    int copy_weights;
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
    int weights_copied;          /* 1 when copy_weights copied the fp32 weights */
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
 * joined to the previous piece, others separated by a space, then the
 * decoder's cleanup: " ." -> "." and the like, as tokenizers does), into out
 * of capacity cap (NUL-terminated). skip_special drops [CLS], [SEP], [PAD] ...
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
/* (section owned by the search module; see docs/SEARCH.md)
 *
 * Exact top-k search, the same as sentence_transformers.util.semantic_search:
 * every query is scored against every corpus row, the best top_k are kept,
 * best first. Ties go to the lower corpus_id (sentence-transformers leaves
 * their order unspecified). A score depends only on the query and the row,
 * never on the thread count, chunk sizes or the row's position in a batch.
 * Quantized corpora (int8, uint8, binary, ubinary) are searched in two
 * passes: cheap candidates, then exact float32 rescoring of the best
 * top_k * rescore_multiplier of them. */

typedef enum sembed_score {
    SEMBED_SCORE_COSINE = 0,     /* sentence_transformers.util.cos_sim */
    SEMBED_SCORE_DOT = 1         /* util.dot_score */
} sembed_score;

typedef struct sembed_hit {
    int64_t corpus_id;
    float score;
} sembed_hit;

/* Embedding precisions of sentence_transformers.quantization. */
typedef enum sembed_precision {
    SEMBED_PRECISION_FLOAT32 = 0,
    SEMBED_PRECISION_INT8 = 1,   /* per-dimension ranges, 256 buckets, -128 .. 127 */
    SEMBED_PRECISION_UINT8 = 2,  /* the same buckets as 0 .. 255 */
    SEMBED_PRECISION_BINARY = 3, /* sign bits packed 8 per byte, minus 128 (int8) */
    SEMBED_PRECISION_UBINARY = 4 /* sign bits packed 8 per byte (uint8) */
} sembed_precision;

/* "float32", "int8", "uint8", "binary", "ubinary" (NULL when unknown). */
const char *sembed_precision_name(sembed_precision precision);
/* The precision of a name above; -1 when unknown. */
int sembed_precision_from_name(const char *name);

/* Bytes of one quantized row: 4 * dim, dim, dim, (dim + 7) / 8, (dim + 7) / 8.
 * 0 for an unknown precision or dim < 1. */
size_t sembed_quantized_row_bytes(sembed_precision precision, int dim);

/* The int8/uint8 calibration ranges of n rows: ranges[0 .. dim) gets the
 * per-dimension minimum, ranges[dim .. 2 * dim) the maximum (the (2, dim)
 * array of sentence-transformers). Rows must be finite. */
sembed_status sembed_quantize_ranges(const float *embeddings, size_t n, int dim, float *ranges,
                                     sembed_error *err);

/* quantize_embeddings(embeddings, precision, ranges): n rows into out
 * (out_cap bytes, at least n * sembed_quantized_row_bytes()), the same
 * bytes as sentence-transformers 6. int8 and uint8 use ranges (2 * dim
 * floats as above), or the rows' own ranges when ranges is NULL: bucket =
 * floor((x - min) / ((max - min) / 255)) in float32, clipped to 0 .. 255
 * (values outside the ranges saturate); int8 is the bucket minus 128.
 * Binary rows of a dim that is not a multiple of 8 are zero-padded per row
 * (sentence-transformers packs the flattened array; see docs/SEARCH.md).
 * Rows must be finite. */
sembed_status sembed_quantize(const float *embeddings, size_t n, int dim,
                              sembed_precision precision, const float *ranges, void *out,
                              size_t out_cap, sembed_error *err);

typedef struct sembed_search_params {
    int top_k;                   /* hits per query, >= 1 (default 10) */
    sembed_score score;          /* default SEMBED_SCORE_COSINE */
    int n_threads;               /* 0 = online CPUs (default); at most 256 */
    size_t query_chunk_size;     /* queries per pass over the corpus (default 100) */
    size_t corpus_chunk_size;    /* most corpus rows scored per block (default
                                    500000); results never depend on it */
    sembed_precision precision;  /* candidate pass of sembed_search():
                                    FLOAT32 (default) is exact; others quantize
                                    the corpus first, then rescore */
    int rescore;                 /* 1 (default): rescore candidates with the
                                    float32 rows; 0: report candidate scores */
    int rescore_multiplier;      /* candidates = top_k * this (default 2, as
                                    sentence-transformers); 1 .. 1000 */
    const float *ranges;         /* int8/uint8: 2 * dim calibration ranges;
                                    NULL = the corpus's own (default) */
} sembed_search_params;

sembed_search_params sembed_search_default_params(void);

/* Searches n_queries rows of `queries` against n_corpus rows of `corpus`
 * (both row-major, dim floats per row). hits gets top_k entries per query
 * (hits_cap >= n_queries * top_k), query q's from hits[q * top_k];
 * n_hits[q] says how many are valid: min(top_k, n_corpus). An empty corpus
 * gives n_hits[q] = 0 for every query. Cosine normalizes like
 * torch.nn.functional.normalize (x / max(||x||, 1e-12)), so a zero vector
 * scores 0 against everything. A NaN or infinite value is an error that
 * names the row. */
sembed_status sembed_search(const float *queries, size_t n_queries, const float *corpus,
                            size_t n_corpus, int dim, const sembed_search_params *params,
                            sembed_hit *hits, size_t hits_cap, size_t *n_hits,
                            sembed_error *err);

/* A corpus quantized once and searched many times. The float32 rows are
 * not kept: pass them to sembed_qcorpus_search() for rescoring. */
typedef struct sembed_qcorpus sembed_qcorpus;

/* Quantizes n rows (precision INT8, UINT8, BINARY or UBINARY; ranges as
 * for sembed_quantize()). Rows must be finite. */
sembed_status sembed_qcorpus_init(const float *corpus, size_t n, int dim,
                                  sembed_precision precision, const float *ranges,
                                  sembed_qcorpus **out, sembed_error *err);
void sembed_qcorpus_free(sembed_qcorpus *qc);

size_t sembed_qcorpus_rows(const sembed_qcorpus *qc);
int sembed_qcorpus_dim(const sembed_qcorpus *qc);
sembed_precision sembed_qcorpus_precision(const sembed_qcorpus *qc);
/* The quantized rows, rows * sembed_quantized_row_bytes() bytes. */
const void *sembed_qcorpus_data(const sembed_qcorpus *qc);

/* Searches as sembed_search() does, with params->precision ignored: the
 * candidate pass runs over the quantized rows (Hamming distance for
 * binary, the dequantized vectors for int8/uint8), then, when corpus (the
 * same n * dim float32 rows) is given and params->rescore is 1, the best
 * top_k * rescore_multiplier candidates are rescored exactly. Without
 * rescoring a hit's score is the candidate score: 1 - 2 * hamming / dim for
 * binary, the cosine or dot product of the dequantized row for int8. */
sembed_status sembed_qcorpus_search(const sembed_qcorpus *qc, const float *corpus,
                                    const float *queries, size_t n_queries, int dim,
                                    const sembed_search_params *params, sembed_hit *hits,
                                    size_t hits_cap, size_t *n_hits, sembed_error *err);

/* ==== Embedding files (CSV, .npy, JSON Lines) ============================ */
/* (section owned by the io module; see docs/FORMATS.md)
 *
 * Files of embeddings as Python writes and reads them: .npy (numpy.save /
 * numpy.load), CSV (pandas.DataFrame(emb).to_csv(index=False), read by
 * pandas.read_csv and datasets.load_dataset("csv")) and JSON Lines (one
 * array of numbers per line, or {"id", "text", "embedding"} objects).
 * Reading checks every size and limit before allocating; writing is atomic
 * (a temporary file, fsync, rename, fsync of the folder), so a failed write
 * never leaves a half-written file under the real name. */

typedef enum sembed_file_format {
    SEMBED_FORMAT_AUTO = 0,      /* from the file name: .npy, .csv, .jsonl/.ndjson */
    SEMBED_FORMAT_NPY = 1,
    SEMBED_FORMAT_CSV = 2,
    SEMBED_FORMAT_JSONL = 3
} sembed_file_format;

/* The format a path's extension names (case-insensitive); AUTO when none. */
sembed_file_format sembed_file_format_from_path(const char *path);

/* rows x cols float32 values, row-major, with optional per-row external ids
 * and texts (NULL arrays when the file has none; entries NULL when a row
 * lacks one). For writing, fill the fields with your own buffers. */
typedef struct sembed_matrix {
    size_t rows;
    size_t cols;
    float *data;
    char **ids;
    char **texts;
} sembed_matrix;

typedef struct sembed_matrix_read_params {
    sembed_file_format format;   /* AUTO (default): from the file name */
    size_t max_rows;             /* default 100,000,000 */
    size_t max_cols;             /* default 65,536 */
    size_t max_line_bytes;       /* one CSV record or JSONL line; default 16 MiB */
    size_t max_header_bytes;     /* .npy header; default 10,000 (numpy's cap) */
} sembed_matrix_read_params;

sembed_matrix_read_params sembed_matrix_read_default_params(void);

/* Reads a whole file into *out (zeroed first; on failure it stays empty).
 * params NULL uses the defaults. Errors name the file and, for text
 * formats, the line. Release with sembed_matrix_free(). */
sembed_status sembed_matrix_read(const char *path, const sembed_matrix_read_params *params,
                                 sembed_matrix *out, sembed_error *err);
/* The same from len bytes in memory; params->format must not be AUTO. */
sembed_status sembed_matrix_read_mem(const void *bytes, size_t len,
                                     const sembed_matrix_read_params *params, sembed_matrix *out,
                                     sembed_error *err);

typedef struct sembed_matrix_write_params {
    sembed_file_format format;   /* AUTO (default): from the file name */
    int csv_escape_formulas;     /* 1: CSV text cells starting with = + - @ or
                                    a tab/CR get a leading ' (OWASP); 0 (default):
                                    written as they are */
} sembed_matrix_write_params;

sembed_matrix_write_params sembed_matrix_write_default_params(void);

/* Writes m atomically. npy: float32 little-endian, version 1.0, C order
 * (ids and texts are not stored). CSV: a header "id,text,0,1,..." (id and
 * text only when present) and floats written so that they read back to the
 * same float32. JSONL: arrays, or objects when ids or texts are present.
 * Values must be finite. */
sembed_status sembed_matrix_write(const char *path, const sembed_matrix *m,
                                  const sembed_matrix_write_params *params, sembed_error *err);

/* Releases what sembed_matrix_read() allocated and zeroes *m (NULL allowed). */
void sembed_matrix_free(sembed_matrix *m);

/* ==== Store (SQLite) ===================================================== */
/* (section owned by the store module; see docs/STORE.md)
 *
 * A store is one SQLite database file holding texts, optional external ids
 * and JSON metadata, their vectors (float32) and the identity of the model
 * that made them. Rows are numbered 0, 1, 2 ... in insertion order; that
 * number is the corpus_id that searches return. The database runs in WAL
 * mode: any number of readers (processes or handles) work while one writer
 * adds. A sembed_store handle is used by one thread at a time; open one
 * handle per thread. */

typedef struct sembed_store sembed_store;

/* sembed_store_open() flags. */
enum {
    SEMBED_STORE_READONLY = 0,        /* the file must exist; no writes */
    SEMBED_STORE_READWRITE = 1u << 0, /* the file must exist */
    SEMBED_STORE_CREATE = 1u << 1     /* with READWRITE: create when absent */
};

/* Limits (documented in docs/STORE.md). */
#define SEMBED_STORE_MAX_DIM 65536              /* floats per vector */
#define SEMBED_STORE_MAX_TEXT_BYTES (64u << 20) /* one text */
#define SEMBED_STORE_MAX_ID_BYTES 1024          /* one external id */
#define SEMBED_STORE_MAX_METADATA_BYTES (1u << 20)
#define SEMBED_STORE_BUSY_TIMEOUT_MS 5000       /* wait for another writer */

/* The identity of the model behind a store's vectors. Two models are the
 * same when their weights hash, dim, pooling, normalization and
 * max_seq_length agree; the name may differ (a folder versus a repo id). */
typedef struct sembed_store_model {
    char name[1024];          /* Hub repo id or absolute folder path */
    char revision[128];       /* Hub revision or commit; "" when unknown */
    char weights_sha256[65];  /* hex SHA-256 of model.safetensors; "" unknown */
    int dim;                  /* embedding length */
    char pooling[96];         /* e.g. "mean"; "" unknown */
    int normalize;            /* 1 / 0; -1 unknown */
    int max_seq_length;       /* tokens; 0 unknown */
} sembed_store_model;

/* Fills *out from a loaded model; `name` is what the user named it (a repo
 * id or a folder, made absolute when it is a folder) and `revision` may be
 * NULL. Hashes the weights file (sembed_model_weights_sha256). */
sembed_status sembed_store_model_from(const sembed_model *model, const char *name,
                                      const char *revision, sembed_store_model *out,
                                      sembed_error *err);

/* Opens (or with CREATE creates) the store at path. A file that is not a
 * SQLite database, is corrupted, truncated or is a database of another
 * application gives SEMBED_ERR_FORMAT with a message naming the file; a
 * store written by a newer schema gives SEMBED_ERR_UNSUPPORTED. */
sembed_status sembed_store_open(const char *path, unsigned flags, sembed_store **out,
                                sembed_error *err);
/* Closes the handle (NULL allowed); an open transaction is rolled back. */
void sembed_store_close(sembed_store *store);

typedef struct sembed_store_info {
    const char *path;         /* the database file (valid until close) */
    int schema_version;       /* PRAGMA user_version */
    int64_t rows;
    int dim;                  /* 0 while the store is empty */
    int has_model;            /* 1 when a model identity is recorded */
    sembed_store_model model;
    int has_hnsw;             /* 1 when an HNSW index was built */
    const char *hnsw_path;    /* "<path>.hnsw" (valid until close) */
    int64_t hnsw_rows;        /* rows the index covers (< rows: stale) */
    int hnsw_M, hnsw_ef_construction;
    sembed_score hnsw_score;
} sembed_store_info;

sembed_status sembed_store_get_info(sembed_store *store, sembed_store_info *info,
                                    sembed_error *err);
/* Rows in the store (reads the database; -1 on error). */
int64_t sembed_store_count(sembed_store *store, sembed_error *err);

/* Records the model identity when the store has none (its dim must agree
 * with the rows already there), otherwise checks it as
 * sembed_store_check_model() does. */
sembed_status sembed_store_set_model(sembed_store *store, const sembed_store_model *model,
                                     sembed_error *err);
/* SEMBED_ERR_MISMATCH, with a message that names the field that differs,
 * when `model` is not the model recorded in the store. A store with no
 * recorded model accepts any model of its dim. */
sembed_status sembed_store_check_model(sembed_store *store, const sembed_store_model *model,
                                       sembed_error *err);

/* Adds n rows in one transaction: all of them or, on any error or crash,
 * none. texts (NULL: rows without text), text_lens (NULL: NUL-terminated),
 * ids and metadata (NULL, or entries NULL, when absent; metadata is JSON
 * text) and vectors (n * dim floats). Vectors must be finite and non-zero;
 * dim must equal the store's. External ids are unique within a store.
 * *first_row (may be NULL) receives the corpus_id of the first new row.
 * Inside sembed_store_begin() .. commit() the rows join that transaction. */
sembed_status sembed_store_add(sembed_store *store, size_t n, const char *const *texts,
                               const size_t *text_lens, const char *const *ids,
                               const char *const *metadata, const float *vectors, int dim,
                               int64_t *first_row, sembed_error *err);

/* An outer transaction, so that a large add can go in bounded chunks and
 * still commit (or vanish) as one. Other writers wait until commit. */
sembed_status sembed_store_begin(sembed_store *store, sembed_error *err);
sembed_status sembed_store_commit(sembed_store *store, sembed_error *err);
void sembed_store_rollback(sembed_store *store);

/* One row's text, external id and metadata. The strings are allocated;
 * release them with sembed_store_row_clear(). */
typedef struct sembed_store_row {
    int64_t corpus_id;
    char *text;               /* NULL when the row has no text */
    size_t text_len;
    char *id;                 /* NULL when absent */
    char *metadata;           /* JSON text; NULL when absent */
} sembed_store_row;

/* SEMBED_ERR_NOT_FOUND when corpus_id is not a row. */
sembed_status sembed_store_get_row(sembed_store *store, int64_t corpus_id, sembed_store_row *row,
                                   sembed_error *err);
void sembed_store_row_clear(sembed_store_row *row);

/* Copies the vectors of rows [first, first + n) into out (n * dim floats,
 * out_cap the capacity in floats). */
sembed_status sembed_store_load_vectors(sembed_store *store, int64_t first, size_t n, float *out,
                                        size_t out_cap, sembed_error *err);

/* How sembed_store_search() finds the neighbours. */
typedef enum sembed_store_mode {
    SEMBED_STORE_EXACT = 0,   /* exact search over the float32 vectors */
    SEMBED_STORE_INT8 = 1,    /* int8 candidates, float32 rescoring */
    SEMBED_STORE_BINARY = 2,  /* binary (Hamming) candidates, float32 rescoring */
    SEMBED_STORE_HNSW = 3     /* the HNSW index beside the store */
} sembed_store_mode;

typedef struct sembed_store_search_params {
    int top_k;                /* default 10 */
    sembed_score score;       /* default cosine; HNSW: must be the index's */
    sembed_store_mode mode;   /* default SEMBED_STORE_EXACT */
    int ef;                   /* HNSW candidate list; 0 = the default (64) */
    int rescore_multiplier;   /* INT8/BINARY; 0 = the search default */
    int n_threads;            /* 0 = online CPUs */
} sembed_store_search_params;

sembed_store_search_params sembed_store_search_default_params(void);

/* Searches nq query vectors (nq * dim floats) against every row. hits gets
 * top_k entries per query (hits_cap >= nq * top_k), query q's at
 * hits[q * top_k]; n_hits[q] says how many are valid (fewer than top_k
 * when the store is smaller). Best first; ties go to the lower corpus_id.
 * The vectors (or the index) are loaded on the first search and kept in
 * the handle until rows are added. HNSW mode refuses a stale index (one
 * that covers fewer rows than the store) with SEMBED_ERR_MISMATCH. */
sembed_status sembed_store_search(sembed_store *store, const float *queries, size_t nq, int dim,
                                  const sembed_store_search_params *params, sembed_hit *hits,
                                  size_t hits_cap, size_t *n_hits, sembed_error *err);

/* PRAGMA integrity_check plus the store's own checks (vector sizes, row
 * numbering); SEMBED_ERR_FORMAT with the first problem found. */
sembed_status sembed_store_verify(sembed_store *store, sembed_error *err);


/* ==== Approximate search (HNSW) ========================================== */
/* (section owned by the store module; see docs/STORE.md)
 *
 * Hierarchical navigable small-world graphs from hnswlib (Debian
 * libhnswlib-dev). Files are hnswlib's own format (Python's
 * hnswlib.Index(space='ip').load_index() reads them) and are fully checked
 * on load, so a damaged or hostile file is an error, never a crash. Labels
 * are corpus ids. Search on a loaded index is thread-safe. */

typedef struct sembed_hnsw sembed_hnsw;

/* Limits. */
#define SEMBED_HNSW_MAX_M 1024
#define SEMBED_HNSW_MAX_EF 100000
#define SEMBED_HNSW_MAX_ELEMENTS 4000000000u    /* hnswlib ids are 32-bit */

typedef struct sembed_hnsw_params {
    int M;                    /* links per node and layer (default 16; layer
                                 0 gets 2 * M); 2 .. SEMBED_HNSW_MAX_M */
    int ef_construction;      /* candidates while building (default 200) */
    int ef;                   /* candidates while searching (default 64),
                                 raised to top_k when smaller */
    sembed_score score;       /* COSINE (default): vectors and queries are
                                 L2-normalized and compared by inner
                                 product; DOT: raw inner product */
    uint32_t seed;            /* level generator seed (default 100) */
    int n_threads;            /* build threads; 0 = online CPUs. With more
                                 than one the graph depends on timing */
} sembed_hnsw_params;

sembed_hnsw_params sembed_hnsw_default_params(void);

/* An empty index for vectors of length dim. */
sembed_status sembed_hnsw_init(int dim, const sembed_hnsw_params *params, sembed_hnsw **out,
                               sembed_error *err);
void sembed_hnsw_free(sembed_hnsw *index);

/* Adds n vectors labelled first_label .. first_label + n - 1 (labels must
 * be new). Vectors must be finite (and non-zero for COSINE). */
sembed_status sembed_hnsw_add(sembed_hnsw *index, const float *vectors, size_t n, int dim,
                              int64_t first_label, sembed_error *err);

size_t sembed_hnsw_count(const sembed_hnsw *index);
int sembed_hnsw_dim(const sembed_hnsw *index);

/* Searches as sembed_store_search() does: hits[q * top_k], n_hits[q].
 * ef = 0 uses the index's params. Scores are recomputed exactly (cosine or
 * dot in float32) for the neighbours found. */
sembed_status sembed_hnsw_search(const sembed_hnsw *index, const float *queries, size_t nq,
                                 int dim, int top_k, int ef, sembed_hit *hits, size_t hits_cap,
                                 size_t *n_hits, sembed_error *err);

/* Writes the index atomically (a temporary file, fsync, rename, fsync of
 * the folder). sha256 (may be NULL) receives the hex SHA-256 of the file. */
sembed_status sembed_hnsw_save(const sembed_hnsw *index, const char *path, char sha256[65],
                               sembed_error *err);
/* Loads an index of vectors of length dim; params gives score, ef and
 * n_threads (M and ef_construction come from the file). expect_sha256
 * (NULL or "": no check) refuses a file whose SHA-256 differs. */
sembed_status sembed_hnsw_load(const char *path, int dim, const sembed_hnsw_params *params,
                               const char *expect_sha256, sembed_hnsw **out, sembed_error *err);

/* Builds (or, when the store has an index, extends with the rows it lacks)
 * the HNSW index of a store and saves it as "<store path>.hnsw". params
 * NULL uses the defaults, or the recorded ones when extending. A rebuild
 * (rebuild = 1) starts from scratch. */
sembed_status sembed_store_build_hnsw(sembed_store *store, const sembed_hnsw_params *params,
                                      int rebuild, sembed_error *err);


/* ==== Hugging Face Hub =================================================== */
/* (section owned by the hub module; see docs/HUB.md)
 *
 * Models by name. "ORG/NAME", "ORG/NAME@REVISION" or a bare "NAME" (read
 * as sentence-transformers/NAME, as SentenceTransformer("NAME") does) are
 * downloaded with libcurl into the cache that huggingface_hub uses, in its
 * layout (models--ORG--NAME/{blobs,refs,snapshots}), so that Python and
 * sembed share one cache. Only the files the engine reads are fetched:
 * config and tokenizer files, module configs listed in modules.json and the
 * safetensors weights (never pytorch_model.bin, ONNX, TF or OpenVINO).
 *
 * Settings left at their defaults follow the huggingface_hub environment
 * variables, read at each call: HF_ENDPOINT, HF_HUB_CACHE (legacy
 * HUGGINGFACE_HUB_CACHE), HF_HOME, XDG_CACHE_HOME, HF_TOKEN, HF_TOKEN_PATH,
 * HF_HUB_DISABLE_IMPLICIT_TOKEN, HF_HUB_OFFLINE (legacy
 * TRANSFORMERS_OFFLINE), HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT.
 * The functions print nothing. */

/* The largest single file accepted when params.max_file_bytes is 0. */
#define SEMBED_HUB_DEFAULT_MAX_FILE_BYTES (32ull << 30)

typedef enum sembed_hub_source {
    SEMBED_HUB_FOLDER = 0,      /* the name is an existing folder */
    SEMBED_HUB_CACHED = 1,      /* complete in the cache: no request made */
    SEMBED_HUB_DOWNLOADED = 2   /* the Hub was asked; missing files fetched */
} sembed_hub_source;

/* Progress of one file: done of total bytes. Called from the downloading
 * thread, often; keep it cheap. */
typedef void (*sembed_hub_progress_fn)(void *user, const char *file, uint64_t done,
                                       uint64_t total);

typedef struct sembed_hub_params {
    const char *endpoint;        /* NULL (default): $HF_ENDPOINT, else
                                    https://huggingface.co */
    const char *cache_dir;       /* NULL (default): $HF_HUB_CACHE, else
                                    $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub
                                    ($HF_HOME defaults to
                                    $XDG_CACHE_HOME/huggingface, else
                                    ~/.cache/huggingface) */
    const char *token;           /* NULL (default): $HF_TOKEN, else the file
                                    $HF_TOKEN_PATH or $HF_HOME/token; "": send
                                    no token */
    int offline;                 /* -1 (default): $HF_HUB_OFFLINE or
                                    $TRANSFORMERS_OFFLINE; 1: never use the
                                    network; 0: network allowed */
    int refresh;                 /* 0 (default): a complete cached snapshot of
                                    the revision is used without a request;
                                    1: ask the Hub which commit the revision
                                    names now and fetch what is missing */
    int etag_timeout_s;          /* metadata request limit; 0 (default):
                                    $HF_HUB_ETAG_TIMEOUT, else 10 */
    int download_timeout_s;      /* connect limit and longest stall of a
                                    download; 0 (default):
                                    $HF_HUB_DOWNLOAD_TIMEOUT, else 10 */
    uint64_t max_file_bytes;     /* 0 (default):
                                    SEMBED_HUB_DEFAULT_MAX_FILE_BYTES */
    sembed_hub_progress_fn progress;   /* NULL (default): none */
    void *progress_user;
} sembed_hub_params;

sembed_hub_params sembed_hub_default_params(void);

/* Where a model came from; the repo id and commit identify its weights
 * (e.g. for a store that records which model made its vectors). */
typedef struct sembed_hub_info {
    sembed_hub_source source;
    char repo_id[128];           /* "" for a folder outside any Hub cache */
    char revision[256];          /* as asked, e.g. "main" or "refs/pr/1" */
    char commit[72];             /* 40 hex digits; "" when unknown */
    char endpoint[1024];         /* the Hub asked (SEMBED_HUB_DOWNLOADED) */
    int files_downloaded;
    uint64_t bytes_downloaded;
} sembed_hub_info;

/* Resolves a --model argument to a model folder written into dir (cap
 * bytes): an existing folder is used as is; otherwise name is a repo id
 * (see above) whose snapshot is found in the cache or downloaded into it
 * (when not offline). info (may be NULL) says which. Errors:
 * SEMBED_ERR_NOT_FOUND (no such folder, repo, revision or file; a model
 * missing from the cache when offline, naming the cache path),
 * SEMBED_ERR_AUTH (401/403: private or gated, set HF_TOKEN),
 * SEMBED_ERR_NETWORK (unreachable, interrupted, server error),
 * SEMBED_ERR_MISMATCH (sha256 or size differs from what the Hub announced),
 * SEMBED_ERR_LIMIT, SEMBED_ERR_IO. A failed download never leaves a
 * partial file in a snapshot; an interrupted large file is resumed by the
 * next call. */
sembed_status sembed_hub_resolve(const char *name, const sembed_hub_params *params, char *dir,
                                 size_t cap, sembed_hub_info *info, sembed_error *err);

/* The same for a repo id and revision (NULL = "main"; a branch, tag,
 * "refs/pr/N" or a commit id) without the folder and bare-name rules. */
sembed_status sembed_hub_download(const char *repo_id, const char *revision,
                                  const sembed_hub_params *params, char *dir, size_t cap,
                                  sembed_hub_info *info, sembed_error *err);

/* Splits a model name into repo id and revision ("main" when absent),
 * applying the bare-name rule; SEMBED_ERR_INVALID_ARGUMENT when it is not
 * a valid repo id. Does not look at the file system. */
sembed_status sembed_hub_parse_name(const char *name, char *repo_id, size_t repo_cap,
                                    char *revision, size_t rev_cap, sembed_error *err);

/* The cache folder params (or the environment) select. */
sembed_status sembed_hub_cache_dir(const sembed_hub_params *params, char *out, size_t cap,
                                   sembed_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SEMBED_H */
