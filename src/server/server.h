/*
 * server.h - internal interface of `sembed serve`, the embedding server.
 *
 * The server is split so that everything between the bytes of a request
 * and the bytes of its response can be tested and fuzzed without sockets
 * or a model:
 *
 *   api.c     routing, JSON decoding, validation, limits, API keys and the
 *             response bodies of the HF Inference API, TEI and OpenAI
 *             routes and /search. It knows the model only through a
 *             srv_backend (a table of functions), so tests plug in a stub.
 *   buf.c     a growable byte buffer with the JSON writers the responses
 *             need (floats that read back to the same float32, strings,
 *             base64).
 *   engine.c  the real backend: the model's tokenizer, dynamic batching of
 *             concurrent requests into token-budgeted batches run by worker
 *             threads (one sembed_context each), prompts and the /search
 *             corpus.
 *   http.c    libmicrohttpd glue: connections, body limits, deadlines,
 *             suspend/resume around the batcher, request logs, signals
 *             and graceful shutdown.
 *
 * The server uses only the public header sembed.h (and tools/cli.h), like
 * any other client of the library.
 */
#ifndef SEMBED_SERVER_H
#define SEMBED_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

/* ==== Limits and defaults (docs/SERVER.md lists them all) =============== */

#define SRV_DEFAULT_PORT 8080
#define SRV_DEFAULT_PAYLOAD_LIMIT 2000000u     /* bytes, TEI's --payload-limit */
#define SRV_DEFAULT_CLIENT_BATCH 32            /* inputs per request, TEI's */
#define SRV_DEFAULT_OPENAI_BATCH 2048          /* inputs per /v1/embeddings call */
#define SRV_DEFAULT_BATCH_TOKENS 16384         /* tokens per forward pass */
#define SRV_DEFAULT_CONCURRENT 512             /* requests in flight, then 429 */
#define SRV_DEFAULT_MAX_CONNECTIONS 1024
#define SRV_DEFAULT_HEADER_BYTES 32768u        /* per-connection memory: headers */
#define SRV_DEFAULT_REQUEST_TIMEOUT 30         /* s to receive a whole request */
#define SRV_DEFAULT_IDLE_TIMEOUT 60            /* s a keep-alive connection may idle */
#define SRV_DEFAULT_DRAIN_TIMEOUT 30           /* s to finish requests on SIGTERM */
#define SRV_DEFAULT_TOP_K 10                   /* /search, as semantic_search */
#define SRV_MAX_TOP_K 10000
#define SRV_JSON_MAX_DEPTH 64                  /* nesting refused before parsing */

typedef struct srv_config {
    const char *host;              /* "127.0.0.1" */
    int port;                      /* 0 = any free port (printed) */
    const char *port_file;         /* optional: the bound port is written here */
    const char *served_model_name; /* the {model_id} of the HF routes */
    const char *api_key;           /* NULL = no authentication */
    size_t payload_limit;
    int max_client_batch_size;     /* HF and TEI routes, /search queries */
    int max_openai_batch_size;     /* /v1/embeddings */
    int max_batch_tokens;
    int max_concurrent_requests;
    int auto_truncate;             /* default of `truncate` on every route */
    int http_threads;              /* libmicrohttpd pool threads */
    int max_connections;
    size_t max_header_bytes;
    int request_timeout;           /* seconds */
    int idle_timeout;              /* seconds */
    int drain_timeout;             /* seconds */
    int log_requests;              /* one line per request on stderr */
} srv_config;

/* Fills the defaults above. */
void srv_config_defaults(srv_config *cfg);

/* ==== Byte buffer and JSON writers (buf.c) ================================ */

typedef struct srv_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;       /* an append failed: the content is incomplete */
} srv_buf;

void srv_buf_free(srv_buf *b);
/* Makes room for n more bytes and a NUL; 0 on success. */
int srv_buf_reserve(srv_buf *b, size_t n);
void srv_buf_append(srv_buf *b, const void *data, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_putc(srv_buf *b, char c);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when n bytes are valid UTF-8 (no overlong forms, surrogates or values
 * past U+10FFFF). */
int srv_utf8_valid(const char *s, size_t n);
/* A JSON string literal (quotes included) of n bytes of UTF-8; invalid
 * bytes become U+FFFD, so the output is always valid JSON. */
void srv_buf_json_string(srv_buf *b, const char *s, size_t n);
/* A finite float as the shortest decimal (at most 9 significant digits)
 * that reads back to the same float32. The caller checks finiteness. */
void srv_buf_float(srv_buf *b, float v);
/* "[v0,v1,...]" */
void srv_buf_float_array(srv_buf *b, const float *v, size_t n);
/* The standard base64 (RFC 4648, with padding) of n bytes. */
void srv_buf_base64(srv_buf *b, const void *data, size_t n);
/* The little-endian float32 bytes of v, base64 encoded, quoted. */
void srv_buf_base64_floats(srv_buf *b, const float *v, size_t n);

/* Writes the float text into out (at least 32 bytes); returns its length. */
size_t srv_format_float(char *out, float v);

/* ==== Work handed to the backend ========================================== */

typedef enum srv_work_kind {
    SRV_WORK_EMBED = 0,   /* one pooled vector per input */
    SRV_WORK_TOKENS = 1   /* the last hidden state of each input (/embed_all) */
} srv_work_kind;

typedef struct srv_work srv_work;

/* Called once when every input of the work is done (or failed), from a
 * backend thread. */
typedef void (*srv_work_done_fn)(srv_work *work);

struct srv_work {
    srv_work_kind kind;
    size_t n;                      /* inputs */
    const char **texts;            /* texts[i] (lens[i] bytes), or NULL when
                                      the input is token ids */
    size_t *lens;
    int32_t **ids;                 /* ids[i]: the input's token ids (always
                                      filled: the tokenized text, or the
                                      client's ids) */
    size_t *n_ids;
    size_t n_tokens_total;         /* sum of n_ids: the batch budget */
    sembed_embed_params params;    /* prompt points into request memory */
    int dim_out;                   /* floats per vector (EMBED) */
    float *out;                    /* EMBED: n * dim_out floats */
    float **tok_out;               /* TOKENS: n_ids[i] * hidden floats each */
    int hidden;

    /* Results. */
    sembed_status status;
    char error[512];
    double t_queued, t_start, t_end;   /* seconds, for the timing headers */

    srv_work_done_fn done;
    void *done_cls;

    /* Scheduler state (engine.c). */
    size_t next;                   /* first input not yet taken by a batch */
    size_t finished;               /* inputs whose batch has run */
    srv_work *qnext;
};

/* ==== Backend: the model behind the routes ================================ */

typedef struct srv_backend {
    void *self;

    /* Model facts, for validation and /info. */
    const char *model_id;          /* what /info reports as model_id */
    int dim;                       /* sentence embedding length */
    int hidden_size;               /* token embedding length (/embed_all) */
    int max_seq_length;            /* tokens per input, specials included */
    int vocab_size;
    const char *pooling;           /* e.g. "mean" */
    const char *dtype;             /* e.g. "float32" */

    /* Tokenizer (thread-safe). */
    sembed_status (*tokenize)(void *self, const char *text, size_t len,
                              const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                              size_t *n_ids, size_t *n_untruncated, sembed_error *err);
    sembed_status (*detokenize)(void *self, const int32_t *ids, size_t n_ids, int skip_special,
                                char *out, size_t cap, size_t *len, sembed_error *err);
    const char *(*token_text)(void *self, int32_t id);
    int (*is_special)(void *self, int32_t id);

    /* The text of a named prompt (config_sentence_transformers.json), or
     * NULL when the model has no such prompt. */
    const char *(*prompt)(void *self, const char *name);

    /* Runs the work, on any thread, and then calls work->done(work). */
    void (*submit)(void *self, srv_work *work);

    /* The /search corpus: corpus_size rows (0 = no corpus loaded). */
    size_t corpus_size;
    sembed_status (*search)(void *self, const float *queries, size_t n_queries, int top_k,
                            sembed_hit *hits, size_t *n_hits, sembed_error *err);
    const char *(*corpus_text)(void *self, int64_t id, size_t *len);

    /* Appends the backend's own Prometheus metrics (may be NULL). */
    void (*metrics)(void *self, srv_buf *out);
} srv_backend;

/* ==== Requests and responses (api.c) ====================================== */

typedef struct srv_request {
    const char *method;            /* "GET", "POST", ... */
    const char *url;               /* path, without the query string */
    const char *authorization;     /* the Authorization header, or NULL */
    const char *body;
    size_t body_len;
} srv_request;

typedef struct srv_response {
    int status;
    srv_buf body;
    const char *content_type;      /* static string */
    int close;                     /* answer with Connection: close */
    char allow[32];                /* Allow header of a 405 */
    int www_authenticate;          /* add WWW-Authenticate: Bearer */
    char headers[384];             /* extra "name: value\n" lines */
} srv_response;

/* Which API a route belongs to: it decides the error body shape. */
typedef enum srv_family {
    SRV_FAMILY_TEI = 0,   /* {"error","error_type"}: TEI routes, /search, misc */
    SRV_FAMILY_HF = 1,    /* {"error"} */
    SRV_FAMILY_OPENAI = 2 /* {"error":{"message","type","param","code"}} */
} srv_family;

/* Error classes, mapped to a status per family (TEI's error_type names). */
typedef enum srv_errclass {
    SRV_ERR_SYNTAX,       /* body is not JSON: 400 */
    SRV_ERR_EMPTY,        /* no input / empty input: 400 */
    SRV_ERR_VALIDATION,   /* well-formed but invalid: 422 (HF, OpenAI: 400) */
    SRV_ERR_TOKENIZER,    /* 422 (HF, OpenAI: 400) */
    SRV_ERR_TOO_LARGE,    /* payload over the limit: 413 */
    SRV_ERR_OVERLOADED,   /* concurrency limit: 429 */
    SRV_ERR_BACKEND,      /* inference failed or non-finite: 424 (HF, OpenAI: 500) */
    SRV_ERR_UNHEALTHY,    /* shutting down: 503 */
    SRV_ERR_NOT_FOUND,    /* 404 */
    SRV_ERR_METHOD,       /* 405 */
    SRV_ERR_AUTH,         /* 401 */
    SRV_ERR_TIMEOUT,      /* request not received in time: 408 */
    SRV_ERR_INTERNAL      /* 500 */
} srv_errclass;

typedef struct srv_app srv_app;
typedef struct srv_exchange srv_exchange;

/* The app holds the configuration, the backend and the counters shared by
 * every request. It keeps pointers to cfg and backend. */
srv_app *srv_app_new(const srv_config *cfg, const srv_backend *backend);
void srv_app_free(srv_app *app);

/* From now on every request is answered 503 (shutdown has begun). */
void srv_app_set_draining(srv_app *app);
/* Requests between admission and srv_exchange_free(). */
int srv_app_inflight(const srv_app *app);

typedef enum srv_step {
    SRV_STEP_RESPOND = 0, /* ex's response is ready */
    SRV_STEP_WORK = 1     /* submit srv_exchange_work(ex), then srv_exchange_finish() */
} srv_step;

/* Starts a request: routing, authentication, admission (the concurrency
 * limit), decoding and validation. */
srv_exchange *srv_exchange_new(srv_app *app);
srv_step srv_exchange_begin(srv_exchange *ex, const srv_request *req);
srv_work *srv_exchange_work(srv_exchange *ex);
/* Hands the exchange's work to the backend (which calls work->done). */
void srv_app_submit(srv_app *app, srv_work *work);
/* Turns finished work into the response. */
void srv_exchange_finish(srv_exchange *ex);
srv_response *srv_exchange_response(srv_exchange *ex);
/* Frees the exchange and releases its admission permit. */
void srv_exchange_free(srv_exchange *ex);

/* Facts for the request log and metrics. */
typedef struct srv_exchange_stats {
    const char *route;     /* e.g. "embed", "openai", "hf" ("-" when none) */
    size_t n_inputs;
    size_t n_tokens;
    double queue_s, inference_s;
    int error_class;       /* srv_errclass of an error response, or -1 */
} srv_exchange_stats;
void srv_exchange_get_stats(const srv_exchange *ex, srv_exchange_stats *st);

/* Called by the HTTP layer when the request ends (response sent or not),
 * for the metrics. */
void srv_app_record(srv_app *app, const srv_exchange_stats *st, int status, double seconds);

/* An error response in the shape of the API that url belongs to, for the
 * errors found by the HTTP layer itself (413 while reading, 408, ...). */
void srv_error_for_url(srv_app *app, const char *url, srv_errclass cls, const char *msg,
                       srv_response *resp);

/* Runs a whole request synchronously: begin, backend->submit (which must
 * complete the work before it returns), finish. For the fuzzer and the
 * unit tests; the response stays valid until srv_exchange_free(). */
srv_exchange *srv_handle_sync(srv_app *app, const srv_request *req);

/* The JSON pre-check: 0 when bytes hold no NUL byte and nest at most
 * max_depth arrays/objects; -1 otherwise (message in msg). */
int srv_json_precheck(const char *bytes, size_t len, int max_depth, char *msg, size_t cap);

/* Compares a presented "Authorization" value to "Bearer <key>" in time
 * that does not depend on where they differ. 1 when equal. */
int srv_auth_ok(const char *authorization, const char *key);

/* ==== Engine: the real backend (engine.c) ================================= */

typedef struct srv_engine srv_engine;

typedef struct srv_engine_params {
    int workers;              /* batch workers, one sembed_context each */
    int threads;              /* threads per context (0 = online CPUs) */
    int max_batch_tokens;
    int debug_batch_delay_ms; /* sleep before each batch (tests only) */
    const char *model_id;
} srv_engine_params;

sembed_status srv_engine_start(const sembed_model *model, const srv_engine_params *params,
                               srv_engine **out, sembed_error *err);
/* Finishes the queued work, then joins the workers and frees. */
void srv_engine_stop(srv_engine *eng);
/* The srv_backend over this engine (valid while the engine lives). */
const srv_backend *srv_engine_backend(srv_engine *eng);

/* The /search corpus (corpus.c): vectors and their texts, from a store
 * (--db) or from an embedding file plus a text file (--corpus, --texts). */
typedef struct srv_corpus srv_corpus;

sembed_status srv_corpus_load_files(const char *vectors_path, const char *texts_path, int dim,
                                    srv_corpus **out, sembed_error *err);
sembed_status srv_corpus_load_db(const char *db_path, int dim, srv_corpus **out,
                                 sembed_error *err);
size_t srv_corpus_size(const srv_corpus *c);
/* top_k hits per query, best first (ties: lower corpus_id first). */
sembed_status srv_corpus_search(const srv_corpus *c, const float *queries, size_t n_queries,
                                int dim, int top_k, sembed_hit *hits, size_t *n_hits,
                                sembed_error *err);
const char *srv_corpus_text(const srv_corpus *c, int64_t id, size_t *len);
void srv_corpus_free(srv_corpus *c);

/* Hands the corpus to the engine (which frees it). */
void srv_engine_set_corpus(srv_engine *eng, srv_corpus *corpus);

/* ==== HTTP (http.c) ======================================================= */

/* Serves until SIGTERM/SIGINT, then drains. Returns the exit status. The
 * caller has blocked SIGTERM, SIGINT and SIGHUP in every thread. */
int srv_http_run(const srv_config *cfg, srv_app *app);

#endif /* SEMBED_SERVER_H */
