/*
 * api.c - everything between the bytes of a request and the bytes of its
 * response: routing, API keys, admission (the concurrency limit), JSON
 * decoding and validation, and the response bodies of the three APIs the
 * server speaks (HF Inference API feature-extraction, TEI, OpenAI) plus
 * /search. It sees the model only through a srv_backend, so the unit tests
 * and the fuzzer drive it with a stub and no sockets.
 *
 * A request is a srv_exchange: srv_exchange_begin() either produces the
 * response at once (errors, /health, /tokenize, ...) or hands back work for
 * the backend (embeddings), after which srv_exchange_finish() writes the
 * response from the results.
 */
#include "server.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== Routes ============================================================== */

typedef enum route_id {
    R_NONE = 0,
    R_HEALTH,
    R_INFO,
    R_METRICS,
    R_EMBED,
    R_EMBED_ALL,
    R_SIMILARITY,
    R_TOKENIZE,
    R_DECODE,
    R_OPENAI,
    R_SEARCH,
    R_HF,          /* /pipeline/feature-extraction/{id}, /models/{id}/... */
    R_HF_MODELS,   /* /models/{id}: feature extraction, or sentence similarity */
    R_COUNT_
} route_id;

/* Names for logs and the metrics' method="" label. */
static const char *const route_names[R_COUNT_] = {
    "-", "health", "info", "metrics", "embed", "embed_all", "similarity",
    "tokenize", "decode", "openai", "search", "hf", "hf"};

enum { ERRCLASS_COUNT_ = SRV_ERR_INTERNAL + 1 };

static const char *const errclass_names[ERRCLASS_COUNT_] = {
    "syntax", "empty", "validation", "tokenizer", "payload_too_large", "overloaded",
    "backend", "unhealthy", "not_found", "method_not_allowed", "unauthorized", "timeout",
    "internal"};

/* Request-duration histogram buckets (seconds). */
static const double dur_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
enum { N_DUR_BUCKETS = sizeof dur_buckets / sizeof dur_buckets[0] };

struct srv_app {
    const srv_config *cfg;
    const srv_backend *be;
    atomic_int inflight;
    atomic_int draining;
    double t_start;
    /* Metrics. */
    atomic_ullong req_count[R_COUNT_];
    atomic_ullong req_success[R_COUNT_];
    atomic_ullong req_failure[ERRCLASS_COUNT_];
    atomic_ullong status_4xx, status_5xx;
    atomic_ullong inputs_total, tokens_total;
    atomic_ullong dur_bucket[N_DUR_BUCKETS + 1];
    atomic_ullong dur_count, dur_sum_us;
};

struct srv_exchange {
    srv_app *app;
    route_id route;
    srv_family family;
    int admitted;
    srv_errclass last_error;
    int failed;
    json_t *root;

    /* Inputs, each a text (texts[i] != NULL) or token ids. */
    size_t n;
    const char **texts;
    size_t *lens;
    int32_t **ids;
    size_t *n_ids;
    int *ids_from_client;
    size_t n_tokens;
    int single;             /* a bare string: 1-D output on the HF routes */
    int base64;             /* OpenAI encoding_format */
    int top_k;              /* /search */
    int similarity;         /* HF /models/{id} given source_sentence */

    srv_work work;
    int has_work;
    srv_response resp;
};

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void srv_config_defaults(srv_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = SRV_DEFAULT_PORT;
    cfg->payload_limit = SRV_DEFAULT_PAYLOAD_LIMIT;
    cfg->max_client_batch_size = SRV_DEFAULT_CLIENT_BATCH;
    cfg->max_openai_batch_size = SRV_DEFAULT_OPENAI_BATCH;
    cfg->max_batch_tokens = SRV_DEFAULT_BATCH_TOKENS;
    cfg->max_concurrent_requests = SRV_DEFAULT_CONCURRENT;
    cfg->auto_truncate = 1;
    cfg->http_threads = 2;
    cfg->max_connections = SRV_DEFAULT_MAX_CONNECTIONS;
    cfg->max_header_bytes = SRV_DEFAULT_HEADER_BYTES;
    cfg->request_timeout = SRV_DEFAULT_REQUEST_TIMEOUT;
    cfg->idle_timeout = SRV_DEFAULT_IDLE_TIMEOUT;
    cfg->drain_timeout = SRV_DEFAULT_DRAIN_TIMEOUT;
    cfg->log_requests = 1;
}

srv_app *srv_app_new(const srv_config *cfg, const srv_backend *backend) {
    srv_app *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->cfg = cfg;
    app->be = backend;
    app->t_start = mono_now();
    return app;
}

void srv_app_free(srv_app *app) { free(app); }

void srv_app_set_draining(srv_app *app) { atomic_store(&app->draining, 1); }

int srv_app_inflight(const srv_app *app) {
    return atomic_load(&((srv_app *)app)->inflight);
}

/* ==== Small helpers ======================================================== */

int srv_auth_ok(const char *authorization, const char *key) {
    static const char prefix[] = "Bearer ";
    if (!key)
        return 1;
    if (!authorization)
        return 0;
    /* Build "Bearer <key>" conceptually and compare every byte of it, so the
     * time taken depends only on the expected length. */
    size_t klen = strlen(key), plen = sizeof prefix - 1, alen = strlen(authorization);
    size_t want = plen + klen;
    unsigned diff = (unsigned)(alen != want);
    for (size_t i = 0; i < want; i++) {
        unsigned char expect = (unsigned char)(i < plen ? prefix[i] : key[i - plen]);
        unsigned char got = (unsigned char)(i < alen ? authorization[i] : 0);
        diff |= (unsigned)(expect ^ got);
    }
    return diff == 0;
}

int srv_json_precheck(const char *s, size_t len, int max_depth, char *msg, size_t cap) {
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == 0) {
            snprintf(msg, cap, "the body holds a NUL byte at offset %zu", i);
            return -1;
        }
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                snprintf(msg, cap, "JSON nested deeper than %d levels", max_depth);
                return -1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

static int errclass_status(srv_errclass cls, srv_family fam) {
    switch (cls) {
    case SRV_ERR_SYNTAX:
    case SRV_ERR_EMPTY:
        return 400;
    case SRV_ERR_VALIDATION:
    case SRV_ERR_TOKENIZER:
        return fam == SRV_FAMILY_TEI ? 422 : 400;
    case SRV_ERR_TOO_LARGE:
        return 413;
    case SRV_ERR_OVERLOADED:
        return 429;
    case SRV_ERR_BACKEND:
        return fam == SRV_FAMILY_TEI ? 424 : 500;
    case SRV_ERR_UNHEALTHY:
        return 503;
    case SRV_ERR_NOT_FOUND:
        return 404;
    case SRV_ERR_METHOD:
        return 405;
    case SRV_ERR_AUTH:
        return 401;
    case SRV_ERR_TIMEOUT:
        return 408;
    case SRV_ERR_INTERNAL:
        break;
    }
    return 500;
}

static const char *openai_type(srv_errclass cls) {
    switch (cls) {
    case SRV_ERR_OVERLOADED:
        return "rate_limit_error";
    case SRV_ERR_BACKEND:
    case SRV_ERR_UNHEALTHY:
    case SRV_ERR_INTERNAL:
        return "server_error";
    default:
        return "invalid_request_error";
    }
}

/* Writes an error body in the family's shape into resp. */
static void write_error(srv_response *resp, srv_family fam, srv_errclass cls, const char *param,
                        const char *msg) {
    srv_buf_free(&resp->body);
    resp->status = errclass_status(cls, fam);
    resp->content_type = "application/json";
    srv_buf *b = &resp->body;
    size_t mlen = strlen(msg);
    switch (fam) {
    case SRV_FAMILY_HF:
        srv_buf_puts(b, "{\"error\":");
        srv_buf_json_string(b, msg, mlen);
        srv_buf_puts(b, "}");
        break;
    case SRV_FAMILY_OPENAI:
        srv_buf_puts(b, "{\"error\":{\"message\":");
        srv_buf_json_string(b, msg, mlen);
        srv_buf_printf(b, ",\"type\":\"%s\",\"param\":", openai_type(cls));
        if (param)
            srv_buf_json_string(b, param, strlen(param));
        else
            srv_buf_puts(b, "null");
        srv_buf_printf(b, ",\"code\":\"%s\"}}",
                       cls == SRV_ERR_AUTH ? "invalid_api_key" : errclass_names[cls]);
        break;
    case SRV_FAMILY_TEI:
        srv_buf_puts(b, "{\"error\":");
        srv_buf_json_string(b, msg, mlen);
        srv_buf_printf(b, ",\"error_type\":\"%s\"}", errclass_names[cls]);
        break;
    }
    if (cls == SRV_ERR_AUTH)
        resp->www_authenticate = 1;
}

/* Fails the exchange: its response becomes the error. Returns RESPOND. */
static srv_step fail_param(srv_exchange *ex, srv_errclass cls, const char *param, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
static srv_step fail_param(srv_exchange *ex, srv_errclass cls, const char *param, const char *fmt,
                           ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    write_error(&ex->resp, ex->family, cls, param, msg);
    ex->failed = 1;
    ex->last_error = cls;
    return SRV_STEP_RESPOND;
}
#define fail(ex, cls, ...) fail_param(ex, cls, NULL, __VA_ARGS__)

/* ==== Routing ============================================================== */

static int str_eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static int has_prefix(const char *s, const char *p, const char **rest) {
    size_t n = strlen(p);
    if (strncmp(s, p, n) != 0)
        return 0;
    *rest = s + n;
    return 1;
}

/* An HF route: the model id is the text between the prefix and the
 * suffix. Returns the route or R_NONE; id and id_len get the model id. */
static route_id match_hf(const char *url, const char **id, size_t *id_len) {
    static const char suffix[] = "/pipeline/feature-extraction";
    const char *rest;
    if (has_prefix(url, "/pipeline/feature-extraction/", &rest)) {
        *id = rest;
        *id_len = strlen(rest);
        return R_HF;
    }
    if (has_prefix(url, "/hf-inference/models/", &rest) || has_prefix(url, "/models/", &rest)) {
        size_t n = strlen(rest), sl = sizeof suffix - 1;
        *id = rest;
        if (n > sl && str_eq(rest + n - sl, suffix)) {
            *id_len = n - sl;
            return R_HF;
        }
        *id_len = n;
        return R_HF_MODELS;
    }
    return R_NONE;
}

/* Returns the route for (method, url); R_NONE with *method_ok = 0 when the
 * path exists for another method (*allow names it). */
static route_id route_lookup(const char *method, const char *url, int *method_ok,
                             const char **allow, const char **id, size_t *id_len) {
    static const struct {
        const char *path;
        route_id post, get;
    } table[] = {
        {"/health", R_NONE, R_HEALTH},   {"/ping", R_NONE, R_HEALTH},
        {"/", R_EMBED, R_HEALTH},        {"/invocations", R_EMBED, R_NONE},
        {"/info", R_NONE, R_INFO},       {"/metrics", R_NONE, R_METRICS},
        {"/embed", R_EMBED, R_NONE},     {"/embed_all", R_EMBED_ALL, R_NONE},
        {"/similarity", R_SIMILARITY, R_NONE}, {"/tokenize", R_TOKENIZE, R_NONE},
        {"/decode", R_DECODE, R_NONE},   {"/v1/embeddings", R_OPENAI, R_NONE},
        {"/embeddings", R_OPENAI, R_NONE}, {"/search", R_SEARCH, R_NONE},
    };
    int is_get = str_eq(method, "GET") || str_eq(method, "HEAD");
    int is_post = str_eq(method, "POST");
    *method_ok = 1;
    *allow = NULL;
    *id = NULL;
    *id_len = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!str_eq(url, table[i].path))
            continue;
        route_id r = is_get ? table[i].get : is_post ? table[i].post : R_NONE;
        if (r != R_NONE)
            return r;
        *method_ok = 0;
        *allow = table[i].post && table[i].get ? "GET, HEAD, POST"
                 : table[i].post               ? "POST"
                                               : "GET, HEAD";
        return R_NONE;
    }
    route_id hf = match_hf(url, id, id_len);
    if (hf != R_NONE) {
        if (is_post)
            return hf;
        *method_ok = 0;
        *allow = "POST";
    }
    return R_NONE;
}

static srv_family family_of_url(const char *url) {
    const char *rest;
    if (has_prefix(url, "/v1/", &rest) || str_eq(url, "/embeddings"))
        return SRV_FAMILY_OPENAI;
    if (has_prefix(url, "/pipeline/", &rest) || has_prefix(url, "/models/", &rest) ||
        has_prefix(url, "/hf-inference/", &rest))
        return SRV_FAMILY_HF;
    return SRV_FAMILY_TEI;
}

static srv_family family_of_route(route_id r) {
    switch (r) {
    case R_OPENAI:
        return SRV_FAMILY_OPENAI;
    case R_HF:
    case R_HF_MODELS:
        return SRV_FAMILY_HF;
    default:
        return SRV_FAMILY_TEI;
    }
}

void srv_error_for_url(srv_app *app, const char *url, srv_errclass cls, const char *msg,
                       srv_response *resp) {
    (void)app;
    write_error(resp, family_of_url(url ? url : "/"), cls, NULL, msg);
}

/* ==== Exchanges ============================================================= */

srv_exchange *srv_exchange_new(srv_app *app) {
    srv_exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->app = app;
    ex->top_k = SRV_DEFAULT_TOP_K;
    ex->resp.content_type = "application/json";
    return ex;
}

srv_work *srv_exchange_work(srv_exchange *ex) { return ex->has_work ? &ex->work : NULL; }

srv_response *srv_exchange_response(srv_exchange *ex) { return &ex->resp; }

void srv_app_submit(srv_app *app, srv_work *work) { app->be->submit(app->be->self, work); }

static void free_inputs(srv_exchange *ex) {
    if (ex->ids)
        for (size_t i = 0; i < ex->n; i++)
            free(ex->ids[i]);
    free(ex->texts);
    free(ex->lens);
    free(ex->ids);
    free(ex->n_ids);
    free(ex->ids_from_client);
    ex->texts = NULL;
    ex->lens = NULL;
    ex->ids = NULL;
    ex->n_ids = NULL;
    ex->ids_from_client = NULL;
}

void srv_exchange_free(srv_exchange *ex) {
    if (!ex)
        return;
    if (ex->admitted)
        atomic_fetch_sub(&ex->app->inflight, 1);
    free_inputs(ex);
    free(ex->work.out);
    if (ex->work.tok_out)
        for (size_t i = 0; i < ex->work.n; i++)
            free(ex->work.tok_out[i]);
    free(ex->work.tok_out);
    json_decref(ex->root);
    srv_buf_free(&ex->resp.body);
    free(ex);
}

void srv_exchange_get_stats(const srv_exchange *ex, srv_exchange_stats *st) {
    memset(st, 0, sizeof *st);
    st->route = route_names[ex ? ex->route : R_NONE];
    st->error_class = -1;
    if (!ex)
        return;
    if (ex->failed)
        st->error_class = (int)ex->last_error;
    st->n_inputs = ex->n;
    st->n_tokens = ex->n_tokens;
    if (ex->has_work && ex->work.t_end > 0) {
        st->queue_s = ex->work.t_start - ex->work.t_queued;
        st->inference_s = ex->work.t_end - ex->work.t_start;
    }
}

void srv_app_record(srv_app *app, const srv_exchange_stats *st, int status, double seconds) {
    int r = R_NONE;
    for (int i = 0; i < R_COUNT_; i++)
        if (st->route == route_names[i] || (st->route && str_eq(st->route, route_names[i]))) {
            r = i;
            break;
        }
    atomic_fetch_add(&app->req_count[r], 1);
    if (st->error_class >= 0 && st->error_class < ERRCLASS_COUNT_)
        atomic_fetch_add(&app->req_failure[st->error_class], 1);
    if (status < 400)
        atomic_fetch_add(&app->req_success[r], 1);
    else if (status < 500)
        atomic_fetch_add(&app->status_4xx, 1);
    else
        atomic_fetch_add(&app->status_5xx, 1);
    atomic_fetch_add(&app->inputs_total, st->n_inputs);
    atomic_fetch_add(&app->tokens_total, st->n_tokens);
    int b = 0;
    while (b < N_DUR_BUCKETS && seconds > dur_buckets[b])
        b++;
    atomic_fetch_add(&app->dur_bucket[b], 1);
    atomic_fetch_add(&app->dur_count, 1);
    atomic_fetch_add(&app->dur_sum_us, (unsigned long long)(seconds * 1e6));
}

/* ==== JSON body ============================================================ */

enum { PARSE_OK = 0, PARSE_NOT_JSON = 1, PARSE_FAILED = 2 };

/* Parses the body into ex->root. PARSE_NOT_JSON: the bytes are not JSON
 * (the HF routes then take them as one text); PARSE_FAILED: the response
 * holds the error. */
static int parse_body(srv_exchange *ex, const srv_request *req) {
    char msg[256];
    if (req->body_len == 0) {
        fail(ex, SRV_ERR_SYNTAX, "the request body is empty: expected JSON");
        return PARSE_NOT_JSON;
    }
    if (srv_json_precheck(req->body, req->body_len, SRV_JSON_MAX_DEPTH, msg, sizeof msg)) {
        int nul = memchr(req->body, 0, req->body_len) != NULL;
        fail(ex, SRV_ERR_SYNTAX, "invalid JSON: %s", msg);
        return nul ? PARSE_NOT_JSON : PARSE_FAILED;
    }
    json_error_t jerr;
    ex->root = json_loadb(req->body, req->body_len,
                          JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (ex->root)
        return PARSE_OK;
    switch (json_error_code(&jerr)) {
    case json_error_duplicate_key:
        /* Well-formed JSON, but which value was meant is ambiguous. */
        fail(ex, SRV_ERR_VALIDATION, "duplicate key in the JSON body (%s)", jerr.text);
        return PARSE_FAILED;
    case json_error_null_byte_in_key:
        fail(ex, SRV_ERR_VALIDATION, "object keys holding \\u0000 are not supported");
        return PARSE_FAILED;
    case json_error_out_of_memory:
        fail(ex, SRV_ERR_INTERNAL, "out of memory while parsing the body");
        return PARSE_FAILED;
    default:
        fail(ex, SRV_ERR_SYNTAX, "invalid JSON at line %d, column %d: %s", jerr.line,
             jerr.column, jerr.text);
        return PARSE_NOT_JSON;
    }
}

/* Optional typed fields. Each returns 0 (absent, null or valid) or -1 after
 * failing the exchange. */
static int opt_bool(srv_exchange *ex, json_t *obj, const char *key, int *out) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        fail_param(ex, SRV_ERR_VALIDATION, key, "`%s` must be a boolean", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int opt_int(srv_exchange *ex, json_t *obj, const char *key, long min, long max,
                   const char *range_msg, long *out, int *present) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        fail_param(ex, SRV_ERR_VALIDATION, key, "`%s` must be an integer", key);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        if (range_msg)
            fail_param(ex, SRV_ERR_VALIDATION, key, "%s", range_msg);
        else
            fail_param(ex, SRV_ERR_VALIDATION, key, "`%s` must be between %ld and %ld", key,
                       min, max);
        return -1;
    }
    *out = (long)x;
    *present = 1;
    return 0;
}

static int opt_string(srv_exchange *ex, json_t *obj, const char *key, const char **out) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        fail_param(ex, SRV_ERR_VALIDATION, key, "`%s` must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int opt_direction(srv_exchange *ex, json_t *obj, const char *key,
                         sembed_truncation_side *out) {
    const char *s = NULL;
    if (opt_string(ex, obj, key, &s))
        return -1;
    if (!s)
        return 0;
    if (!strcasecmp(s, "right")) {
        *out = SEMBED_TRUNCATE_RIGHT;
    } else if (!strcasecmp(s, "left")) {
        *out = SEMBED_TRUNCATE_LEFT;
    } else {
        fail_param(ex, SRV_ERR_VALIDATION, key, "`%s` must be \"Left\" or \"Right\"", key);
        return -1;
    }
    return 0;
}

/* The prompt text of prompt_name, or -1 after failing when unknown. */
static int resolve_prompt(srv_exchange *ex, const char *name, const char **prompt) {
    *prompt = NULL;
    if (!name)
        return 0;
    const srv_backend *be = ex->app->be;
    const char *p = be->prompt ? be->prompt(be->self, name) : NULL;
    if (!p) {
        fail_param(ex, SRV_ERR_VALIDATION, "prompt_name",
                   "prompt_name `%s` is not one of the model's prompts "
                   "(config_sentence_transformers.json)",
                   name);
        return -1;
    }
    *prompt = p;
    return 0;
}

/* ==== Inputs ================================================================ */

static int alloc_inputs(srv_exchange *ex, size_t n) {
    ex->n = 0;
    ex->texts = calloc(n ? n : 1, sizeof *ex->texts);
    ex->lens = calloc(n ? n : 1, sizeof *ex->lens);
    ex->ids = calloc(n ? n : 1, sizeof *ex->ids);
    ex->n_ids = calloc(n ? n : 1, sizeof *ex->n_ids);
    ex->ids_from_client = calloc(n ? n : 1, sizeof *ex->ids_from_client);
    if (!ex->texts || !ex->lens || !ex->ids || !ex->n_ids || !ex->ids_from_client) {
        fail(ex, SRV_ERR_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* An array whose elements are all integers (a token id sequence)? */
static int is_int_array(json_t *v) {
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_integer(x)) return 0;
    return 1;
}

/* Copies a JSON array of token ids into input slot k after checking every
 * id against the vocabulary. */
static int take_ids(srv_exchange *ex, json_t *arr, size_t k, const char *field) {
    size_t n = json_array_size(arr);
    int vocab = ex->app->be->vocab_size;
    if (n == 0) {
        fail_param(ex, SRV_ERR_EMPTY, field, "`%s` cannot be empty", field);
        return -1;
    }
    int32_t *ids = malloc(n * sizeof *ids);
    if (!ids) {
        fail(ex, SRV_ERR_INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        json_int_t id = json_is_integer(x) ? json_integer_value(x) : -1;
        if (!json_is_integer(x) || id < 0 || id >= vocab) {
            free(ids);
            if (!json_is_integer(x))
                fail_param(ex, SRV_ERR_VALIDATION, field,
                           "`%s` item %zu: token ids must be integers", field, i);
            else
                fail_param(ex, SRV_ERR_VALIDATION, field,
                           "`%s` item %zu: token id %lld is outside the vocabulary (0..%d)",
                           field, i, (long long)id, vocab - 1);
            return -1;
        }
        ids[i] = (int32_t)id;
    }
    ex->ids[k] = ids;
    ex->n_ids[k] = n;
    ex->ids_from_client[k] = 1;
    return 0;
}

typedef struct inputs_rules {
    const char *field;     /* "inputs" or "input" */
    int allow_ids;         /* token id sequences accepted */
    int allow_empty;       /* "" is a valid text (HF routes) */
    int max_inputs;
    const char *empty_msg; /* message for [] */
} inputs_rules;

/* Decodes inputs: a string, a list of strings, and when allowed a list of
 * token ids (one input) or a list mixing strings and id lists. */
static int take_inputs(srv_exchange *ex, json_t *v, const inputs_rules *r) {
    const char *f = r->field;
    if (!v) {
        fail_param(ex, SRV_ERR_VALIDATION, f, "missing field `%s`", f);
        return -1;
    }
    if (json_is_string(v)) {
        if (!r->allow_empty && json_string_length(v) == 0) {
            fail_param(ex, SRV_ERR_EMPTY, f, "`%s` cannot be empty", f);
            return -1;
        }
        if (alloc_inputs(ex, 1))
            return -1;
        ex->texts[0] = json_string_value(v);
        ex->lens[0] = json_string_length(v);
        ex->n = 1;
        ex->single = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        fail_param(ex, SRV_ERR_VALIDATION, f,
                   r->allow_ids ? "`%s` must be a string, a list of strings or token ids"
                                : "`%s` must be a string or a list of strings",
                   f);
        return -1;
    }
    size_t n = json_array_size(v);
    if (n == 0) {
        fail_param(ex, SRV_ERR_EMPTY, f, "%s", r->empty_msg);
        return -1;
    }
    if (r->allow_ids && is_int_array(v)) { /* [1, 2, 3]: one tokenized input */
        if (alloc_inputs(ex, 1) || take_ids(ex, v, 0, f))
            return -1;
        ex->n = 1;
        return 0;
    }
    if (n > (size_t)r->max_inputs) {
        fail_param(ex, SRV_ERR_VALIDATION, f, "batch size %zu > maximum allowed batch size %d", n,
                   r->max_inputs);
        return -1;
    }
    if (alloc_inputs(ex, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (json_is_string(x)) {
            if (!r->allow_empty && json_string_length(x) == 0) {
                fail_param(ex, SRV_ERR_EMPTY, f, "`%s` cannot be empty (item %zu is \"\")", f, i);
                return -1;
            }
            ex->texts[i] = json_string_value(x);
            ex->lens[i] = json_string_length(x);
        } else if (r->allow_ids && json_is_array(x)) {
            if (take_ids(ex, x, i, f))
                return -1;
        } else {
            fail_param(ex, SRV_ERR_VALIDATION, f,
                       r->allow_ids ? "`%s` item %zu must be a string or a list of token ids"
                                    : "`%s` item %zu must be a string",
                       f, i);
            return -1;
        }
        ex->n = i + 1;
    }
    return 0;
}

/* Tokenizes every text input (prompt first), checks lengths against
 * max_seq_length and fills n_ids/ids. With truncate off an over-long input
 * is refused, as TEI does. */
static int tokenize_inputs(srv_exchange *ex, const char *prompt, int truncate,
                           sembed_truncation_side side, const char *field) {
    const srv_backend *be = ex->app->be;
    size_t max_len = (size_t)be->max_seq_length;
    size_t plen = prompt ? strlen(prompt) : 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    ex->n_tokens = 0;
    for (size_t i = 0; i < ex->n; i++) {
        if (!ex->texts[i]) {
            size_t n = ex->n_ids[i];
            if (n > max_len && !truncate) {
                free(joined);
                fail_param(ex, SRV_ERR_VALIDATION, field,
                           "`%s` must have less than %zu tokens. Given: %zu", field, max_len + 1,
                           n);
                return -1;
            }
            ex->n_tokens += n < max_len ? n : max_len;
            continue;
        }
        const char *text = ex->texts[i];
        size_t len = ex->lens[i];
        if (plen) {
            size_t need = plen + len;
            if (need + 1 > joined_cap) {
                char *p = realloc(joined, need + 1);
                if (!p) {
                    free(joined);
                    fail(ex, SRV_ERR_INTERNAL, "out of memory");
                    return -1;
                }
                joined = p;
                joined_cap = need + 1;
            }
            memcpy(joined, prompt, plen);
            memcpy(joined + plen, text, len);
            text = joined;
            len = need;
        }
        int32_t *ids = malloc(max_len * sizeof *ids);
        if (!ids) {
            free(joined);
            fail(ex, SRV_ERR_INTERNAL, "out of memory");
            return -1;
        }
        sembed_tokenize_params tp = sembed_tokenize_default_params();
        tp.max_length = (int)max_len;
        tp.truncate = 1;
        tp.truncation_side = side;
        size_t n = 0, full = 0;
        sembed_error err = {0};
        sembed_status st = be->tokenize(be->self, text, len, &tp, ids, max_len, &n, &full, &err);
        if (st != SEMBED_OK) {
            free(ids);
            free(joined);
            fail_param(ex, SRV_ERR_TOKENIZER, field, "`%s` item %zu: %s", field, i,
                       err.message[0] ? err.message : sembed_strerror(st));
            return -1;
        }
        if (full > max_len && !truncate) {
            free(ids);
            free(joined);
            fail_param(ex, SRV_ERR_VALIDATION, field,
                       "`%s` must have less than %zu tokens. Given: %zu", field, max_len + 1, full);
            return -1;
        }
        ex->ids[i] = ids;
        ex->n_ids[i] = n;
        ex->n_tokens += n;
    }
    free(joined);
    return 0;
}

/* Sets up ex->work for the inputs. */
static int make_work(srv_exchange *ex, srv_work_kind kind, const sembed_embed_params *params) {
    const srv_backend *be = ex->app->be;
    srv_work *w = &ex->work;
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->n = ex->n;
    w->texts = ex->texts;
    w->lens = ex->lens;
    w->ids = ex->ids;
    w->n_ids = ex->n_ids;
    w->n_tokens_total = ex->n_tokens;
    w->params = *params;
    w->dim_out = params->dimensions > 0 ? params->dimensions : be->dim;
    w->hidden = be->hidden_size;
    if (kind == SRV_WORK_EMBED) {
        size_t floats;
        if (__builtin_mul_overflow(ex->n, (size_t)w->dim_out, &floats) ||
            !(w->out = calloc(floats ? floats : 1, sizeof *w->out))) {
            fail(ex, SRV_ERR_INTERNAL, "out of memory for %zu embeddings", ex->n);
            return -1;
        }
    } else {
        w->tok_out = calloc(ex->n, sizeof *w->tok_out);
        if (!w->tok_out) {
            fail(ex, SRV_ERR_INTERNAL, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < ex->n; i++) {
            size_t rows = ex->n_ids[i] < (size_t)be->max_seq_length ? ex->n_ids[i]
                                                                    : (size_t)be->max_seq_length;
            size_t floats;
            if (__builtin_mul_overflow(rows, (size_t)w->hidden, &floats) ||
                !(w->tok_out[i] = calloc(floats ? floats : 1, sizeof(float)))) {
                fail(ex, SRV_ERR_INTERNAL, "out of memory for token embeddings");
                return -1;
            }
        }
    }
    ex->has_work = 1;
    return 0;
}

/* ==== Routes: decoding ====================================================== */

static srv_step begin_health(srv_exchange *ex) {
    if (atomic_load(&ex->app->draining))
        return fail(ex, SRV_ERR_UNHEALTHY, "the server is shutting down");
    ex->resp.status = 200;
    ex->resp.content_type = "text/plain";
    return SRV_STEP_RESPOND;
}

static srv_step begin_info(srv_exchange *ex) {
    const srv_config *cfg = ex->app->cfg;
    const srv_backend *be = ex->app->be;
    srv_buf *b = &ex->resp.body;
    const char *served = cfg->served_model_name ? cfg->served_model_name : "";
    srv_buf_puts(b, "{\"model_id\":");
    srv_buf_json_string(b, be->model_id ? be->model_id : served,
                        strlen(be->model_id ? be->model_id : served));
    srv_buf_puts(b, ",\"model_sha\":null,\"model_dtype\":");
    srv_buf_json_string(b, be->dtype ? be->dtype : "float32",
                        strlen(be->dtype ? be->dtype : "float32"));
    srv_buf_puts(b, ",\"served_model_name\":");
    srv_buf_json_string(b, served, strlen(served));
    srv_buf_puts(b, ",\"model_type\":{\"embedding\":{\"pooling\":");
    srv_buf_json_string(b, be->pooling ? be->pooling : "mean",
                        strlen(be->pooling ? be->pooling : "mean"));
    srv_buf_printf(b,
                   "}},\"max_concurrent_requests\":%d,\"max_input_length\":%d,"
                   "\"max_batch_tokens\":%d,\"max_batch_requests\":null,"
                   "\"max_client_batch_size\":%d,\"max_openai_batch_size\":%d,"
                   "\"auto_truncate\":%s,\"tokenization_workers\":%d,"
                   "\"payload_limit\":%zu,\"embedding_dim\":%d,\"hidden_size\":%d,"
                   "\"vocab_size\":%d,\"corpus_size\":%zu,\"version\":\"%s\","
                   "\"sha\":null,\"docker_label\":null}",
                   cfg->max_concurrent_requests, be->max_seq_length, cfg->max_batch_tokens,
                   cfg->max_client_batch_size, cfg->max_openai_batch_size,
                   cfg->auto_truncate ? "true" : "false", cfg->http_threads, cfg->payload_limit,
                   be->dim, be->hidden_size, be->vocab_size, be->corpus_size, sembed_version());
    ex->resp.status = 200;
    return SRV_STEP_RESPOND;
}

static void metric(srv_buf *b, const char *name, const char *type, const char *help) {
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static srv_step begin_metrics(srv_exchange *ex) {
    srv_app *app = ex->app;
    srv_buf *b = &ex->resp.body;
    metric(b, "te_request_count", "counter", "Requests received, by route.");
    for (int r = 1; r < R_COUNT_; r++)
        if (r != R_HF_MODELS)
            srv_buf_printf(b, "te_request_count{method=\"%s\"} %llu\n", route_names[r],
                           atomic_load(&app->req_count[r]) +
                               (r == R_HF ? atomic_load(&app->req_count[R_HF_MODELS]) : 0));
    metric(b, "te_request_success", "counter", "Requests answered with a 2xx status, by route.");
    for (int r = 1; r < R_COUNT_; r++)
        if (r != R_HF_MODELS)
            srv_buf_printf(b, "te_request_success{method=\"%s\"} %llu\n", route_names[r],
                           atomic_load(&app->req_success[r]) +
                               (r == R_HF ? atomic_load(&app->req_success[R_HF_MODELS]) : 0));
    metric(b, "te_request_failure", "counter", "Failed requests, by error type.");
    for (int c = 0; c < ERRCLASS_COUNT_; c++)
        srv_buf_printf(b, "te_request_failure{err=\"%s\"} %llu\n", errclass_names[c],
                       atomic_load(&app->req_failure[c]));
    metric(b, "te_request_duration_seconds", "histogram", "Time from request to response.");
    unsigned long long cum = 0;
    for (int i = 0; i < N_DUR_BUCKETS; i++) {
        cum += atomic_load(&app->dur_bucket[i]);
        srv_buf_printf(b, "te_request_duration_seconds_bucket{le=\"%g\"} %llu\n", dur_buckets[i],
                       cum);
    }
    cum += atomic_load(&app->dur_bucket[N_DUR_BUCKETS]);
    srv_buf_printf(b, "te_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    srv_buf_printf(b, "te_request_duration_seconds_sum %.6f\n",
                   (double)atomic_load(&app->dur_sum_us) * 1e-6);
    srv_buf_printf(b, "te_request_duration_seconds_count %llu\n", atomic_load(&app->dur_count));
    metric(b, "sembed_inputs_total", "counter", "Inputs (texts or id sequences) received.");
    srv_buf_printf(b, "sembed_inputs_total %llu\n", atomic_load(&app->inputs_total));
    metric(b, "sembed_tokens_total", "counter", "Tokens of the inputs received.");
    srv_buf_printf(b, "sembed_tokens_total %llu\n", atomic_load(&app->tokens_total));
    metric(b, "sembed_responses_4xx_total", "counter", "Responses with a 4xx status.");
    srv_buf_printf(b, "sembed_responses_4xx_total %llu\n", atomic_load(&app->status_4xx));
    metric(b, "sembed_responses_5xx_total", "counter", "Responses with a 5xx status.");
    srv_buf_printf(b, "sembed_responses_5xx_total %llu\n", atomic_load(&app->status_5xx));
    metric(b, "sembed_inflight_requests", "gauge", "Requests admitted and not yet answered.");
    srv_buf_printf(b, "sembed_inflight_requests %d\n", atomic_load(&app->inflight));
    metric(b, "sembed_uptime_seconds", "gauge", "Seconds since the server started.");
    srv_buf_printf(b, "sembed_uptime_seconds %.3f\n", mono_now() - app->t_start);
    if (app->be->metrics)
        app->be->metrics(app->be->self, b);
    ex->resp.status = 200;
    ex->resp.content_type = "text/plain; version=0.0.4";
    return SRV_STEP_RESPOND;
}

/* Shared options of the embedding routes. */
typedef struct embed_opts {
    int normalize;          /* -1 model default, 0, 1 */
    int truncate;
    sembed_truncation_side side;
    const char *prompt_name;
    long dimensions;
    int has_dimensions;
} embed_opts;

static int read_embed_opts(srv_exchange *ex, json_t *obj, embed_opts *o, int want_dims) {
    int nz = o->normalize;
    if (opt_bool(ex, obj, "normalize", &nz))
        return -1;
    o->normalize = nz;
    if (opt_bool(ex, obj, "truncate", &o->truncate) ||
        opt_direction(ex, obj, "truncation_direction", &o->side) ||
        opt_string(ex, obj, "prompt_name", &o->prompt_name))
        return -1;
    if (want_dims) {
        json_t *d = json_object_get(obj, "dimensions");
        if (d && json_is_integer(d) && json_integer_value(d) <= 0) {
            fail_param(ex, SRV_ERR_VALIDATION, "dimensions", "`dimensions` should be positive");
            return -1;
        }
        if (opt_int(ex, obj, "dimensions", 1, ex->app->be->dim,
                    "`dimensions` should be smaller than the maximum embedding dimension.",
                    &o->dimensions, &o->has_dimensions))
            return -1;
    }
    return 0;
}

static int embed_params_from(srv_exchange *ex, const embed_opts *o, sembed_embed_params *p) {
    *p = sembed_embed_default_params();
    p->normalize = o->normalize;
    p->truncate = o->truncate;
    p->truncation_side = o->side;
    p->dimensions = o->has_dimensions ? (int)o->dimensions : 0;
    return resolve_prompt(ex, o->prompt_name, &p->prompt);
}

/* TEI /embed and /embed_all (and POST / and /invocations). */
static srv_step begin_embed(srv_exchange *ex, int all) {
    json_t *root = ex->root;
    if (!json_is_object(root))
        return fail(ex, SRV_ERR_VALIDATION, "the body must be a JSON object with `inputs`");
    embed_opts o = {.normalize = 1, .truncate = ex->app->cfg->auto_truncate,
                    .side = SEMBED_TRUNCATE_RIGHT};
    if (read_embed_opts(ex, root, &o, !all))
        return SRV_STEP_RESPOND;
    inputs_rules rules = {"inputs", 1, 0, ex->app->cfg->max_client_batch_size,
                          "`inputs` cannot be empty"};
    if (take_inputs(ex, json_object_get(root, "inputs"), &rules))
        return SRV_STEP_RESPOND;
    sembed_embed_params p;
    if (embed_params_from(ex, &o, &p))
        return SRV_STEP_RESPOND;
    if (all)
        p.normalize = 0;
    if (tokenize_inputs(ex, p.prompt, o.truncate, o.side, "inputs") ||
        make_work(ex, all ? SRV_WORK_TOKENS : SRV_WORK_EMBED, &p))
        return SRV_STEP_RESPOND;
    return SRV_STEP_WORK;
}

/* Inputs {source_sentence, sentences} of /similarity and HF /models/{id}.
 * Returns 0, or -1 after failing the exchange. */
static int take_similarity_inputs(srv_exchange *ex, json_t *in) {
    json_t *src = json_object_get(in, "source_sentence");
    json_t *sents = json_object_get(in, "sentences");
    size_t n = json_array_size(sents);
    int limit = ex->app->cfg->max_client_batch_size;
    if (!json_is_string(src)) {
        fail_param(ex, SRV_ERR_VALIDATION, "inputs", "`inputs.source_sentence` must be a string");
        return -1;
    }
    if (!json_is_array(sents)) {
        fail_param(ex, SRV_ERR_VALIDATION, "inputs",
                   "`inputs.sentences` must be a list of strings");
        return -1;
    }
    if (json_string_length(src) == 0 || n == 0) {
        fail(ex, SRV_ERR_EMPTY, "`inputs.%s` cannot be empty",
             n == 0 ? "sentences" : "source_sentence");
        return -1;
    }
    if (n + 1 > (size_t)limit) {
        fail(ex, SRV_ERR_VALIDATION, "batch size %zu > maximum allowed batch size %d", n + 1,
             limit);
        return -1;
    }
    if (alloc_inputs(ex, n + 1))
        return -1;
    ex->texts[0] = json_string_value(src);
    ex->lens[0] = json_string_length(src);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(sents, i);
        if (!json_is_string(x)) {
            fail(ex, SRV_ERR_VALIDATION, "`inputs.sentences` item %zu must be a string", i);
            return -1;
        }
        if (json_string_length(x) == 0) {
            fail(ex, SRV_ERR_EMPTY, "`inputs.sentences` item %zu cannot be empty", i);
            return -1;
        }
        ex->texts[i + 1] = json_string_value(x);
        ex->lens[i + 1] = json_string_length(x);
    }
    ex->n = n + 1;
    return 0;
}

static srv_step begin_similarity(srv_exchange *ex) {
    json_t *root = ex->root;
    if (!json_is_object(root) || !json_is_object(json_object_get(root, "inputs")))
        return fail_param(ex, SRV_ERR_VALIDATION, "inputs",
                          "the body must be {\"inputs\": {\"source_sentence\": ..., "
                          "\"sentences\": [...]}}");
    json_t *params = json_object_get(root, "parameters");
    if (params && !json_is_null(params) && !json_is_object(params))
        return fail(ex, SRV_ERR_VALIDATION, "`parameters` must be an object");
    embed_opts o = {.normalize = 0, .truncate = ex->app->cfg->auto_truncate,
                    .side = SEMBED_TRUNCATE_RIGHT};
    if (opt_bool(ex, params, "truncate", &o.truncate) ||
        opt_direction(ex, params, "truncation_direction", &o.side) ||
        opt_string(ex, params, "prompt_name", &o.prompt_name))
        return SRV_STEP_RESPOND;
    if (take_similarity_inputs(ex, json_object_get(root, "inputs")))
        return SRV_STEP_RESPOND;
    sembed_embed_params p;
    if (embed_params_from(ex, &o, &p) ||
        tokenize_inputs(ex, p.prompt, o.truncate, o.side, "inputs") ||
        make_work(ex, SRV_WORK_EMBED, &p))
        return SRV_STEP_RESPOND;
    ex->similarity = 1;
    return SRV_STEP_WORK;
}

/* The HF Inference API feature-extraction routes. A body that is not JSON
 * is the text itself; a JSON string or number is one input; an object
 * carries `inputs` plus options at the top level or under `parameters`. */
static srv_step begin_hf(srv_exchange *ex, const srv_request *req, int parsed) {
    json_t *root = ex->root;
    const char *raw = NULL;
    size_t raw_len = 0;
    if (parsed == PARSE_NOT_JSON) {
        if (!srv_utf8_valid(req->body, req->body_len))
            return fail(ex, SRV_ERR_VALIDATION, "the body is neither JSON nor valid UTF-8 text");
        raw = req->body ? req->body : "";
        raw_len = req->body_len;
    } else if (json_is_number(root)) {
        /* A number is embedded as its text, as the Inference API does. */
        raw = req->body;
        raw_len = req->body_len;
        while (raw_len && strchr(" \t\r\n", raw[0])) {
            raw++;
            raw_len--;
        }
        while (raw_len && strchr(" \t\r\n", raw[raw_len - 1]))
            raw_len--;
    }
    ex->failed = 0;
    srv_buf_free(&ex->resp.body);
    embed_opts o = {.normalize = -1, .truncate = ex->app->cfg->auto_truncate,
                    .side = SEMBED_TRUNCATE_RIGHT};
    inputs_rules rules = {"inputs", 0, 1, ex->app->cfg->max_client_batch_size,
                          "The inputs are invalid, at least one input is required"};
    if (raw) {
        if (alloc_inputs(ex, 1))
            return SRV_STEP_RESPOND;
        ex->texts[0] = raw;
        ex->lens[0] = raw_len;
        ex->n = 1;
        ex->single = 1;
    } else if (json_is_object(root)) {
        json_t *params = json_object_get(root, "parameters");
        json_t *options = json_object_get(root, "options");
        if (params && !json_is_null(params) && !json_is_object(params))
            return fail(ex, SRV_ERR_VALIDATION, "`parameters` must be an object");
        if (options && !json_is_null(options) && !json_is_object(options))
            return fail(ex, SRV_ERR_VALIDATION, "`options` must be an object");
        int ignored = 0;
        if (opt_bool(ex, options, "wait_for_model", &ignored) ||
            opt_bool(ex, options, "use_cache", &ignored))
            return SRV_STEP_RESPOND;
        /* parameters{} first; the top-level fields (today's API) win. */
        if (read_embed_opts(ex, params, &o, 0) || read_embed_opts(ex, root, &o, 0))
            return SRV_STEP_RESPOND;
        json_t *in = json_object_get(root, "inputs");
        if (ex->route == R_HF_MODELS && json_is_object(in)) {
            /* /models/{id} of a sentence-similarity model, as the Hub routes it. */
            if (take_similarity_inputs(ex, in))
                return SRV_STEP_RESPOND;
            o.normalize = 0;
            ex->similarity = 1;
        } else if (take_inputs(ex, in, &rules)) {
            return SRV_STEP_RESPOND;
        }
    } else if (take_inputs(ex, root, &rules)) {
        return SRV_STEP_RESPOND;
    }
    sembed_embed_params p;
    if (embed_params_from(ex, &o, &p) ||
        tokenize_inputs(ex, p.prompt, o.truncate, o.side, "inputs") ||
        make_work(ex, SRV_WORK_EMBED, &p))
        return SRV_STEP_RESPOND;
    return SRV_STEP_WORK;
}

static srv_step begin_openai(srv_exchange *ex) {
    json_t *root = ex->root;
    if (!json_is_object(root))
        return fail(ex, SRV_ERR_VALIDATION, "the body must be a JSON object with `input`");
    const char *model = NULL, *fmt = NULL, *user = NULL;
    if (opt_string(ex, root, "model", &model) || opt_string(ex, root, "encoding_format", &fmt) ||
        opt_string(ex, root, "user", &user))
        return SRV_STEP_RESPOND;
    if (fmt && !str_eq(fmt, "float") && !str_eq(fmt, "base64"))
        return fail_param(ex, SRV_ERR_VALIDATION, "encoding_format",
                          "`encoding_format` must be \"float\" or \"base64\"");
    ex->base64 = fmt && str_eq(fmt, "base64");
    embed_opts o = {.normalize = 1, .truncate = ex->app->cfg->auto_truncate,
                    .side = SEMBED_TRUNCATE_RIGHT};
    json_t *d = json_object_get(root, "dimensions");
    if (d && json_is_integer(d) && json_integer_value(d) <= 0)
        return fail_param(ex, SRV_ERR_VALIDATION, "dimensions", "`dimensions` should be positive");
    if (opt_int(ex, root, "dimensions", 1, ex->app->be->dim,
                "`dimensions` should be smaller than the maximum embedding dimension.",
                &o.dimensions, &o.has_dimensions))
        return SRV_STEP_RESPOND;
    inputs_rules rules = {"input", 1, 0, ex->app->cfg->max_openai_batch_size,
                          "`input` cannot be an empty list"};
    if (take_inputs(ex, json_object_get(root, "input"), &rules))
        return SRV_STEP_RESPOND;
    sembed_embed_params p;
    if (embed_params_from(ex, &o, &p) || tokenize_inputs(ex, NULL, o.truncate, o.side, "input") ||
        make_work(ex, SRV_WORK_EMBED, &p))
        return SRV_STEP_RESPOND;
    return SRV_STEP_WORK;
}

static srv_step begin_search(srv_exchange *ex) {
    const srv_backend *be = ex->app->be;
    json_t *root = ex->root;
    if (!be->corpus_size || !be->search)
        return fail(ex, SRV_ERR_NOT_FOUND,
                    "no corpus is loaded: start the server with --db or --corpus and --texts");
    if (!json_is_object(root))
        return fail(ex, SRV_ERR_VALIDATION, "the body must be a JSON object with `query`");
    long top_k = SRV_DEFAULT_TOP_K;
    int present = 0;
    if (opt_int(ex, root, "top_k", 1, SRV_MAX_TOP_K, NULL, &top_k, &present))
        return SRV_STEP_RESPOND;
    ex->top_k = (int)top_k;
    inputs_rules rules = {"query", 0, 0, ex->app->cfg->max_client_batch_size,
                          "`query` cannot be empty"};
    if (take_inputs(ex, json_object_get(root, "query"), &rules))
        return SRV_STEP_RESPOND;
    sembed_embed_params p = sembed_embed_default_params();
    p.truncate = 1;
    if (tokenize_inputs(ex, NULL, 1, SEMBED_TRUNCATE_RIGHT, "query") ||
        make_work(ex, SRV_WORK_EMBED, &p))
        return SRV_STEP_RESPOND;
    return SRV_STEP_WORK;
}

static srv_step begin_tokenize(srv_exchange *ex) {
    const srv_backend *be = ex->app->be;
    json_t *root = ex->root;
    if (!json_is_object(root))
        return fail(ex, SRV_ERR_VALIDATION, "the body must be a JSON object with `inputs`");
    int add_special = 1;
    const char *prompt_name = NULL, *prompt = NULL;
    if (opt_bool(ex, root, "add_special_tokens", &add_special) ||
        opt_string(ex, root, "prompt_name", &prompt_name) ||
        resolve_prompt(ex, prompt_name, &prompt))
        return SRV_STEP_RESPOND;
    inputs_rules rules = {"inputs", 0, 0, ex->app->cfg->max_client_batch_size,
                          "`inputs` cannot be empty"};
    if (take_inputs(ex, json_object_get(root, "inputs"), &rules))
        return SRV_STEP_RESPOND;
    srv_buf *b = &ex->resp.body;
    srv_buf_putc(b, '[');
    size_t plen = prompt ? strlen(prompt) : 0;
    for (size_t i = 0; i < ex->n; i++) {
        char *joined = NULL;
        const char *text = ex->texts[i];
        size_t len = ex->lens[i];
        if (plen) {
            joined = malloc(plen + len + 1);
            if (!joined)
                return fail(ex, SRV_ERR_INTERNAL, "out of memory");
            memcpy(joined, prompt, plen);
            memcpy(joined + plen, text, len);
            text = joined;
            len += plen;
        }
        /* All the tokens: no truncation on this route. A text of n bytes
         * has at most n + 2 tokens. */
        size_t cap = len + 2;
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!ids || cap > (size_t)0x7fffffff) {
            free(ids);
            free(joined);
            return fail(ex, SRV_ERR_INTERNAL, "out of memory");
        }
        sembed_tokenize_params tp = sembed_tokenize_default_params();
        tp.max_length = (int)cap;
        tp.truncate = 1;
        tp.add_special_tokens = add_special;
        size_t n = 0, full = 0;
        sembed_error err = {0};
        sembed_status st = be->tokenize(be->self, text, len, &tp, ids, cap, &n, &full, &err);
        free(joined);
        if (st != SEMBED_OK) {
            free(ids);
            return fail_param(ex, SRV_ERR_TOKENIZER, "inputs", "`inputs` item %zu: %s", i,
                              err.message[0] ? err.message : sembed_strerror(st));
        }
        ex->n_tokens += n;
        srv_buf_puts(b, i ? ",[" : "[");
        for (size_t k = 0; k < n; k++) {
            const char *piece = be->token_text(be->self, ids[k]);
            if (!piece)
                piece = "";
            srv_buf_printf(b, "%s{\"id\":%d,\"text\":", k ? "," : "", (int)ids[k]);
            srv_buf_json_string(b, piece, strlen(piece));
            /* The public API gives no character offsets yet: start/stop
             * are null (docs/SERVER.md). */
            srv_buf_printf(b, ",\"special\":%s,\"start\":null,\"stop\":null}",
                           be->is_special(be->self, ids[k]) ? "true" : "false");
        }
        srv_buf_putc(b, ']');
        free(ids);
    }
    srv_buf_putc(b, ']');
    ex->resp.status = 200;
    return SRV_STEP_RESPOND;
}

static srv_step begin_decode(srv_exchange *ex) {
    const srv_backend *be = ex->app->be;
    json_t *root = ex->root;
    if (!json_is_object(root))
        return fail(ex, SRV_ERR_VALIDATION, "the body must be a JSON object with `ids`");
    int skip = 1;
    if (opt_bool(ex, root, "skip_special_tokens", &skip))
        return SRV_STEP_RESPOND;
    json_t *ids = json_object_get(root, "ids");
    if (!json_is_array(ids))
        return fail_param(ex, SRV_ERR_VALIDATION, "ids",
                          "`ids` must be a list of token ids or a list of such lists");
    size_t n = json_array_size(ids);
    int nested = n > 0 && json_is_array(json_array_get(ids, 0));
    size_t count = nested ? n : 1;
    if (count > (size_t)ex->app->cfg->max_client_batch_size)
        return fail_param(ex, SRV_ERR_VALIDATION, "ids",
                          "batch size %zu > maximum allowed batch size %d", count,
                          ex->app->cfg->max_client_batch_size);
    if (alloc_inputs(ex, count))
        return SRV_STEP_RESPOND;
    for (size_t i = 0; i < count; i++) {
        json_t *seq = nested ? json_array_get(ids, i) : ids;
        if (!json_is_array(seq))
            return fail_param(ex, SRV_ERR_VALIDATION, "ids", "`ids` item %zu must be a list", i);
        ex->n = i + 1;
        if (json_array_size(seq) == 0)
            continue; /* decodes to "" */
        if (take_ids(ex, seq, i, "ids"))
            return SRV_STEP_RESPOND;
    }
    srv_buf *b = &ex->resp.body;
    srv_buf_putc(b, '[');
    for (size_t i = 0; i < count; i++) {
        size_t cap = 1;
        for (size_t k = 0; k < ex->n_ids[i]; k++) {
            const char *t = be->token_text(be->self, ex->ids[i][k]);
            cap += (t ? strlen(t) : 0) + 1;
        }
        char *text = NULL;
        size_t len = 0;
        sembed_status st = SEMBED_ERR_LIMIT;
        sembed_error err = {0};
        for (int tries = 0; tries < 4 && st == SEMBED_ERR_LIMIT; tries++, cap *= 2) {
            free(text);
            text = malloc(cap);
            if (!text)
                return fail(ex, SRV_ERR_INTERNAL, "out of memory");
            st = be->detokenize(be->self, ex->ids[i], ex->n_ids[i], skip, text, cap, &len, &err);
        }
        if (st != SEMBED_OK) {
            free(text);
            return fail_param(ex, SRV_ERR_TOKENIZER, "ids", "`ids` item %zu: %s", i,
                              err.message[0] ? err.message : sembed_strerror(st));
        }
        if (i)
            srv_buf_putc(b, ',');
        srv_buf_json_string(b, text, len);
        free(text);
    }
    srv_buf_putc(b, ']');
    ex->resp.status = 200;
    return SRV_STEP_RESPOND;
}

srv_step srv_exchange_begin(srv_exchange *ex, const srv_request *req) {
    srv_app *app = ex->app;
    const srv_config *cfg = app->cfg;
    int method_ok;
    const char *allow, *id;
    size_t id_len;
    const char *url = req->url ? req->url : "/";
    const char *method = req->method ? req->method : "GET";
    ex->route = route_lookup(method, url, &method_ok, &allow, &id, &id_len);
    ex->family = ex->route != R_NONE ? family_of_route(ex->route) : family_of_url(url);
    if (ex->route == R_NONE && !method_ok) {
        snprintf(ex->resp.allow, sizeof ex->resp.allow, "%s", allow);
        return fail(ex, SRV_ERR_METHOD, "method %s is not allowed on %s (use %s)", method, url,
                    allow);
    }
    if (ex->route == R_NONE)
        return fail(ex, SRV_ERR_NOT_FOUND, "no route %s %s", method, url);

    /* Health and metrics stay public, as in TEI. */
    if (ex->route != R_HEALTH && ex->route != R_METRICS &&
        !srv_auth_ok(req->authorization, cfg->api_key))
        return fail(ex, SRV_ERR_AUTH,
                    req->authorization ? "invalid API key"
                                       : "missing API key: send Authorization: Bearer <key>");
    if (ex->route == R_HEALTH)
        return begin_health(ex);
    if (ex->route == R_METRICS)
        return begin_metrics(ex);
    if (atomic_load(&app->draining)) {
        ex->resp.close = 1;
        return fail(ex, SRV_ERR_UNHEALTHY, "the server is shutting down");
    }
    if (ex->route == R_INFO)
        return begin_info(ex);

    if (ex->route == R_HF || ex->route == R_HF_MODELS) {
        const char *served = cfg->served_model_name ? cfg->served_model_name : "";
        if (id_len != strlen(served) || memcmp(id, served, id_len) != 0)
            return fail(ex, SRV_ERR_NOT_FOUND,
                        "Model %.*s is not served here (this server serves %s)",
                        (int)(id_len > 200 ? 200 : id_len), id, served);
    }

    /* Admission: immediate 429 past the concurrency limit (no queueing
     * without bound). Every POST route takes one permit per request. */
    int now = atomic_fetch_add(&app->inflight, 1);
    ex->admitted = 1;
    if (now >= cfg->max_concurrent_requests)
        return fail(ex, SRV_ERR_OVERLOADED, "Model is overloaded");

    int parsed = parse_body(ex, req);
    if (parsed == PARSE_FAILED)
        return SRV_STEP_RESPOND;
    if (ex->route == R_HF || ex->route == R_HF_MODELS)
        return begin_hf(ex, req, parsed);
    if (parsed != PARSE_OK)
        return SRV_STEP_RESPOND;
    switch (ex->route) {
    case R_EMBED:
        return begin_embed(ex, 0);
    case R_EMBED_ALL:
        return begin_embed(ex, 1);
    case R_SIMILARITY:
        return begin_similarity(ex);
    case R_TOKENIZE:
        return begin_tokenize(ex);
    case R_DECODE:
        return begin_decode(ex);
    case R_OPENAI:
        return begin_openai(ex);
    case R_SEARCH:
        return begin_search(ex);
    default:
        return fail(ex, SRV_ERR_INTERNAL, "unhandled route");
    }
}

/* ==== Routes: responses ===================================================== */

/* First non-finite value of the work's output, or -1. */
static long first_non_finite(const srv_exchange *ex) {
    const srv_work *w = &ex->work;
    if (w->kind == SRV_WORK_EMBED) {
        size_t total = w->n * (size_t)w->dim_out;
        for (size_t i = 0; i < total; i++)
            if (!isfinite(w->out[i]))
                return (long)(i / (size_t)w->dim_out);
        return -1;
    }
    for (size_t i = 0; i < w->n; i++) {
        size_t rows = w->n_ids[i] < (size_t)ex->app->be->max_seq_length
                          ? w->n_ids[i]
                          : (size_t)ex->app->be->max_seq_length;
        for (size_t k = 0; k < rows * (size_t)w->hidden; k++)
            if (!isfinite(w->tok_out[i][k]))
                return (long)i;
    }
    return -1;
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0)
        return 0;
    return ab / (sqrt(aa) * sqrt(bb));
}

static void write_similarity(srv_exchange *ex) {
    const srv_work *w = &ex->work;
    srv_buf *b = &ex->resp.body;
    srv_buf_putc(b, '[');
    for (size_t i = 1; i < w->n; i++) {
        if (i > 1)
            srv_buf_putc(b, ',');
        srv_buf_float(b, (float)cosine(w->out, w->out + i * (size_t)w->dim_out, w->dim_out));
    }
    srv_buf_putc(b, ']');
}

static void finish_search(srv_exchange *ex) {
    const srv_backend *be = ex->app->be;
    const srv_work *w = &ex->work;
    size_t k = (size_t)ex->top_k < be->corpus_size ? (size_t)ex->top_k : be->corpus_size;
    size_t n_all = w->n * k;
    sembed_hit *hits = calloc(n_all ? n_all : 1, sizeof *hits);
    size_t *n_hits = calloc(w->n ? w->n : 1, sizeof *n_hits);
    if (!hits || !n_hits) {
        free(hits);
        free(n_hits);
        fail(ex, SRV_ERR_INTERNAL, "out of memory");
        return;
    }
    sembed_error err = {0};
    sembed_status st = be->search(be->self, w->out, w->n, (int)k, hits, n_hits, &err);
    if (st != SEMBED_OK) {
        free(hits);
        free(n_hits);
        fail(ex, SRV_ERR_BACKEND, "search failed: %s",
             err.message[0] ? err.message : sembed_strerror(st));
        return;
    }
    srv_buf *b = &ex->resp.body;
    srv_buf_putc(b, '[');
    for (size_t q = 0; q < w->n; q++) {
        srv_buf_puts(b, q ? ",[" : "[");
        for (size_t j = 0; j < n_hits[q] && j < k; j++) {
            const sembed_hit *h = &hits[q * k + j];
            size_t tlen = 0;
            const char *text = be->corpus_text ? be->corpus_text(be->self, h->corpus_id, &tlen)
                                               : NULL;
            srv_buf_printf(b, "%s{\"corpus_id\":%lld,\"score\":", j ? "," : "",
                           (long long)h->corpus_id);
            if (isfinite(h->score))
                srv_buf_float(b, h->score);
            else
                srv_buf_puts(b, "null");
            srv_buf_puts(b, ",\"text\":");
            if (text)
                srv_buf_json_string(b, text, tlen);
            else
                srv_buf_puts(b, "null");
            srv_buf_putc(b, '}');
        }
        srv_buf_putc(b, ']');
    }
    srv_buf_putc(b, ']');
    free(hits);
    free(n_hits);
}

static void write_openai(srv_exchange *ex) {
    const srv_work *w = &ex->work;
    const char *served = ex->app->cfg->served_model_name ? ex->app->cfg->served_model_name : "";
    srv_buf *b = &ex->resp.body;
    srv_buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < w->n; i++) {
        srv_buf_printf(b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "",
                       i);
        const float *v = w->out + i * (size_t)w->dim_out;
        if (ex->base64)
            srv_buf_base64_floats(b, v, (size_t)w->dim_out);
        else
            srv_buf_float_array(b, v, (size_t)w->dim_out);
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, "],\"model\":");
    srv_buf_json_string(b, served, strlen(served));
    srv_buf_printf(b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", ex->n_tokens,
                   ex->n_tokens);
}

void srv_exchange_finish(srv_exchange *ex) {
    srv_work *w = &ex->work;
    if (!ex->has_work)
        return;
    if (w->status != SEMBED_OK) {
        fail(ex, w->status == SEMBED_ERR_INTERRUPTED ? SRV_ERR_UNHEALTHY : SRV_ERR_BACKEND,
             "inference failed: %s", w->error[0] ? w->error : sembed_strerror(w->status));
        return;
    }
    long bad = first_non_finite(ex);
    if (bad >= 0) {
        fail(ex, SRV_ERR_BACKEND,
             "the model produced a non-finite value (not a number or infinite) for input %ld", bad);
        return;
    }
    srv_buf *b = &ex->resp.body;
    srv_buf_free(b);
    if (ex->similarity) {
        write_similarity(ex);
    } else if (ex->route == R_SEARCH) {
        finish_search(ex);
        if (ex->failed)
            return;
    } else if (ex->route == R_OPENAI) {
        write_openai(ex);
    } else if (w->kind == SRV_WORK_TOKENS) {
        srv_buf_putc(b, '[');
        for (size_t i = 0; i < w->n; i++) {
            size_t rows = w->n_ids[i] < (size_t)ex->app->be->max_seq_length
                              ? w->n_ids[i]
                              : (size_t)ex->app->be->max_seq_length;
            srv_buf_puts(b, i ? ",[" : "[");
            for (size_t r = 0; r < rows; r++) {
                if (r)
                    srv_buf_putc(b, ',');
                srv_buf_float_array(b, w->tok_out[i] + r * (size_t)w->hidden, (size_t)w->hidden);
            }
            srv_buf_putc(b, ']');
        }
        srv_buf_putc(b, ']');
    } else if (ex->family == SRV_FAMILY_HF && ex->single) {
        srv_buf_float_array(b, w->out, (size_t)w->dim_out); /* 1-D for one string */
    } else {
        srv_buf_putc(b, '[');
        for (size_t i = 0; i < w->n; i++) {
            if (i)
                srv_buf_putc(b, ',');
            srv_buf_float_array(b, w->out + i * (size_t)w->dim_out, (size_t)w->dim_out);
        }
        srv_buf_putc(b, ']');
    }
    if (b->oom) {
        fail(ex, SRV_ERR_INTERNAL, "out of memory while writing the response");
        return;
    }
    ex->resp.status = 200;
    ex->resp.content_type = "application/json";
    double inference = w->t_end - w->t_start, queue = w->t_start - w->t_queued;
    snprintf(ex->resp.headers, sizeof ex->resp.headers,
             "x-compute-type: cpu\nx-compute-time: %.3f\nx-compute-tokens: %zu\n"
             "x-queue-time: %.3f\nx-inference-time: %.3f\n",
             inference, ex->n_tokens, queue * 1e3, inference * 1e3);
}

static void sync_done(srv_work *work) { (void)work; }

srv_exchange *srv_handle_sync(srv_app *app, const srv_request *req) {
    srv_exchange *ex = srv_exchange_new(app);
    if (!ex)
        return NULL;
    if (srv_exchange_begin(ex, req) == SRV_STEP_WORK) {
        ex->work.done = sync_done;
        app->be->submit(app->be->self, &ex->work);
        srv_exchange_finish(ex);
    }
    return ex;
}
