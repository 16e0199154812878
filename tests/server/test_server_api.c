/*
 * test_server_api.c - the server's request layer (src/server/api.c and
 * buf.c) driven in-process with a stub backend: every route's response
 * shape, every error path and status code, the limits at, below and above
 * their values, API keys, admission (429), JSON conformance against
 * JSONTestSuite (when the reference material is present), and the JSON
 * writers (floats that read back exactly, base64, string escapes).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/stub_backend.h"

static srv_config cfg;
static stub_backend stub;
static srv_app *app;

static int setup(void **state) {
    (void)state;
    srv_config_defaults(&cfg);
    cfg.served_model_name = "org/model";
    stub_init(&stub);
    app = srv_app_new(&cfg, &stub.be);
    return app ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    srv_app_free(app);
    app = NULL;
    return 0;
}

typedef struct reply {
    int status;
    char *text;        /* the body, NUL-terminated */
    json_t *json;      /* parsed body, or NULL */
    int close, www_auth;
    char allow[32];
    char content_type[64];
} reply;

static void reply_free(reply *r) {
    free(r->text);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static reply call_n(const char *method, const char *url, const char *auth, const char *body,
                    size_t len) {
    srv_request req = {method, url, auth, body, len};
    srv_exchange *ex = srv_handle_sync(app, &req);
    assert_non_null(ex);
    srv_response *resp = srv_exchange_response(ex);
    reply r;
    memset(&r, 0, sizeof r);
    r.status = resp->status;
    r.text = strndup(resp->body.data ? resp->body.data : "", resp->body.len);
    r.close = resp->close;
    r.www_auth = resp->www_authenticate;
    snprintf(r.allow, sizeof r.allow, "%s", resp->allow);
    snprintf(r.content_type, sizeof r.content_type, "%s",
             resp->content_type ? resp->content_type : "");
    json_error_t jerr;
    r.json = json_loadb(r.text, strlen(r.text), JSON_DECODE_ANY, &jerr);
    srv_exchange_free(ex);
    return r;
}

static reply call(const char *method, const char *url, const char *body) {
    return call_n(method, url, NULL, body, body ? strlen(body) : 0);
}

static reply post(const char *url, const char *body) { return call("POST", url, body); }

/* Asserts the status and, for errors, the family's error shape. */
static void expect_status(const reply *r, int status) {
    if (r->status != status)
        fprintf(stderr, "expected %d, got %d: %s\n", status, r->status, r->text);
    assert_int_equal(r->status, status);
}

static void expect_tei_error(const reply *r, int status, const char *type, const char *contains) {
    expect_status(r, status);
    assert_non_null(r->json);
    assert_true(json_is_string(json_object_get(r->json, "error")));
    assert_string_equal(json_string_value(json_object_get(r->json, "error_type")), type);
    if (contains && !strstr(json_string_value(json_object_get(r->json, "error")), contains)) {
        fprintf(stderr, "message '%s' lacks '%s'\n",
                json_string_value(json_object_get(r->json, "error")), contains);
        fail();
    }
}

static void expect_hf_error(const reply *r, int status, const char *equals) {
    expect_status(r, status);
    assert_non_null(r->json);
    assert_int_equal(json_object_size(r->json), 1);
    const char *msg = json_string_value(json_object_get(r->json, "error"));
    assert_non_null(msg);
    if (equals)
        assert_string_equal(msg, equals);
}

static void expect_openai_error(const reply *r, int status, const char *type) {
    expect_status(r, status);
    json_t *e = json_object_get(r->json, "error");
    assert_true(json_is_object(e));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    assert_non_null(json_object_get(e, "param"));
    assert_non_null(json_object_get(e, "code"));
}

/* A list of n numbers. */
static void expect_vector(json_t *v, size_t n) {
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), n);
    for (size_t i = 0; i < n; i++)
        assert_true(json_is_number(json_array_get(v, i)));
}

/* A list of rows lists of n numbers. */
static void expect_matrix(json_t *m, size_t rows, size_t n) {
    assert_true(json_is_array(m));
    assert_int_equal(json_array_size(m), rows);
    for (size_t i = 0; i < rows; i++)
        expect_vector(json_array_get(m, i), n);
}

static double norm_of(json_t *v) {
    double s = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        double x = json_number_value(json_array_get(v, i));
        s += x * x;
    }
    return sqrt(s);
}

/* "w w w ..." with n words: n + 2 tokens with the specials. */
static char *words(int n) {
    char *s = calloc((size_t)n * 2 + 1, 1);
    for (int i = 0; i < n; i++)
        strcat(s, i ? " w" : "w");
    return s;
}

/* ==== JSON writers ========================================================== */

/* Significant digits of a decimal number text. */
static int sig_digits(const char *s) {
    char d[64];
    int n = 0;
    for (; *s && *s != 'e' && n < 63; s++)
        if (*s >= '0' && *s <= '9')
            d[n++] = *s;
    int a = 0, b = n;
    while (a < n && d[a] == '0')
        a++;
    while (b > a && d[b - 1] == '0')
        b--;
    return b - a;
}

static void test_float_format(void **state) {
    (void)state;
    char buf[64];
    struct {
        float v;
        const char *text;
    } known[] = {{0.5f, "0.5"},          {-0.0f, "-0.0"},   {0.0f, "0.0"},
                 {1.0f, "1.0"},          {100.0f, "100.0"}, {0.1f, "0.1"},
                 {1e-45f, "1e-45"},      {1e10f, "1e+10"},  {3.4028235e38f, "3.4028235e+38"},
                 {0.02388945f, "0.02388945"}, {-1.5e-5f, "-1.5e-05"}, {0.0001f, "0.0001"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        srv_format_float(buf, known[i].v);
        assert_string_equal(buf, known[i].text);
    }
    /* Every output reads back to the same float, whatever the exponent. */
    uint32_t x = 12345;
    for (int i = 0; i < 2000000; i++) {
        x = x * 1664525u + 1013904223u;
        float v;
        memcpy(&v, &x, 4);
        if (!isfinite(v))
            continue;
        size_t n = srv_format_float(buf, v);
        assert_true(n > 0 && n < 24);
        float back = strtof(buf, NULL);
        if (back != v || signbit(back) != signbit(v)) {
            fprintf(stderr, "%a printed as %s\n", (double)v, buf);
            fail();
        }
        /* Never more than 9 digits, and below 2^24 (where floats are not
         * integers spaced 2 or more apart, so exact ties are rare) at most one
         * digit longer than printf's shortest round trip. */
        assert_true(sig_digits(buf) <= 9);
        char ref[64];
        for (int p = 1; p <= 9 && fabsf(v) < 16777216.0f; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, (double)v);
            if (strtof(ref, NULL) == v) {
                if (sig_digits(buf) > p + 1)
                    fprintf(stderr, "%s is longer than %s\n", buf, ref);
                assert_true(sig_digits(buf) <= p + 1);
                break;
            }
        }
    }
    /* A whole array is valid JSON and round-trips. */
    float arr[5] = {1.0f / 3.0f, -2.5f, 1e-30f, 123456.78f, 0.0f};
    srv_buf b = {0};
    srv_buf_float_array(&b, arr, 5);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    for (int i = 0; i < 5; i++)
        assert_true((float)json_number_value(json_array_get(j, (size_t)i)) == arr[i]);
    json_decref(j);
    srv_buf_free(&b);
}

static void test_base64(void **state) {
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        srv_buf b = {0};
        srv_buf_base64(&b, in[i], strlen(in[i]));
        assert_string_equal(b.data ? b.data : "", out[i]);
        srv_buf_free(&b);
    }
    /* Little-endian float32: 1.0f is 00 00 80 3f. */
    float one = 1.0f;
    srv_buf b = {0};
    srv_buf_base64_floats(&b, &one, 1);
    assert_string_equal(b.data, "\"AACAPw==\"");
    srv_buf_free(&b);
}

static void test_json_string(void **state) {
    (void)state;
    const char raw[] = "a\"b\\c\n\t\x01\x1f\xc3\xa9\0z";
    srv_buf b = {0};
    srv_buf_json_string(&b, raw, sizeof raw - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\\u0000z\"");
    json_t *j = json_loads(b.data, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), sizeof raw - 1);
    assert_memory_equal(json_string_value(j), raw, sizeof raw - 1);
    json_decref(j);
    srv_buf_free(&b);
    /* Invalid UTF-8 never reaches the output. */
    const char bad[] = "a\xff\xc3(\xed\xa0\x80\xf0\x9f\x98\x80";
    srv_buf_json_string(&b, bad, sizeof bad - 1);
    assert_string_equal(b.data, "\"a\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80\"");
    assert_true(srv_utf8_valid(b.data, b.len));
    assert_false(srv_utf8_valid(bad, sizeof bad - 1));
    srv_buf_free(&b);
}

static void test_auth_compare(void **state) {
    (void)state;
    assert_true(srv_auth_ok(NULL, NULL));
    assert_true(srv_auth_ok("anything", NULL));
    assert_true(srv_auth_ok("Bearer sekret", "sekret"));
    assert_false(srv_auth_ok(NULL, "sekret"));
    assert_false(srv_auth_ok("", "sekret"));
    assert_false(srv_auth_ok("bearer sekret", "sekret"));
    assert_false(srv_auth_ok("Bearer sekret ", "sekret"));
    assert_false(srv_auth_ok("Bearer sekre", "sekret"));
    assert_false(srv_auth_ok("Bearer sekretX", "sekret"));
    assert_false(srv_auth_ok("Bearer ", "sekret"));
    assert_false(srv_auth_ok("sekret", "sekret"));
    assert_false(srv_auth_ok("Basic sekret", "sekret"));
}

static void test_precheck(void **state) {
    (void)state;
    char msg[128];
    char deep[200];
    for (int d = 63; d <= 65; d++) {
        memset(deep, 0, sizeof deep);
        for (int i = 0; i < d; i++)
            deep[i] = '[';
        for (int i = 0; i < d; i++)
            deep[d + i] = ']';
        int rc = srv_json_precheck(deep, strlen(deep), SRV_JSON_MAX_DEPTH, msg, sizeof msg);
        assert_int_equal(rc, d <= SRV_JSON_MAX_DEPTH ? 0 : -1);
    }
    /* Brackets inside strings do not count, escaped quotes do not end them. */
    const char s[] = "{\"a\":\"[[[[\\\"[[[\"}";
    assert_int_equal(srv_json_precheck(s, sizeof s - 1, 2, msg, sizeof msg), 0);
    const char nul[] = "[1]\0";
    assert_int_equal(srv_json_precheck(nul, sizeof nul - 1, 64, msg, sizeof msg), -1);
}

/* ==== Routes ================================================================= */

static void test_health_info_metrics(void **state) {
    (void)state;
    reply r = call("GET", "/health", NULL);
    expect_status(&r, 200);
    assert_string_equal(r.text, "");
    reply_free(&r);
    r = call("HEAD", "/ping", NULL);
    expect_status(&r, 200);
    reply_free(&r);
    r = call("GET", "/info", NULL);
    expect_status(&r, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "served_model_name")),
                        "org/model");
    assert_int_equal(json_integer_value(json_object_get(r.json, "max_client_batch_size")), 32);
    assert_int_equal(json_integer_value(json_object_get(r.json, "max_input_length")),
                     STUB_MAX_SEQ);
    assert_int_equal(json_integer_value(json_object_get(r.json, "max_batch_tokens")), 16384);
    assert_int_equal(json_integer_value(json_object_get(r.json, "max_concurrent_requests")), 512);
    assert_int_equal(json_integer_value(json_object_get(r.json, "payload_limit")), 2000000);
    assert_true(json_is_true(json_object_get(r.json, "auto_truncate")));
    reply_free(&r);

    srv_exchange_stats st = {.route = "embed", .n_inputs = 3, .n_tokens = 9, .error_class = -1};
    srv_app_record(app, &st, 200, 0.004);
    st.error_class = SRV_ERR_VALIDATION;
    srv_app_record(app, &st, 422, 0.001);
    r = call("GET", "/metrics", NULL);
    expect_status(&r, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.text, "te_request_count{method=\"embed\"} 2\n"));
    assert_non_null(strstr(r.text, "te_request_success{method=\"embed\"} 1\n"));
    assert_non_null(strstr(r.text, "te_request_failure{err=\"validation\"} 1\n"));
    assert_non_null(strstr(r.text, "te_request_duration_seconds_count 2\n"));
    assert_non_null(strstr(r.text, "sembed_tokens_total 18\n"));
    assert_non_null(strstr(r.text, "# TYPE te_request_duration_seconds histogram\n"));
    reply_free(&r);
}

static void test_routing_errors(void **state) {
    (void)state;
    reply r = post("/nope", "{}");
    expect_tei_error(&r, 404, "not_found", "/nope");
    reply_free(&r);
    r = post("/v1/nope", "{}");
    expect_openai_error(&r, 404, "invalid_request_error");
    reply_free(&r);
    r = call("GET", "/embed", NULL);
    expect_tei_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(r.allow, "POST");
    reply_free(&r);
    r = post("/health", "");
    expect_status(&r, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    reply_free(&r);
    r = call("DELETE", "/pipeline/feature-extraction/org/model", NULL);
    expect_hf_error(&r, 405, NULL);
    reply_free(&r);
    r = call("OPTIONS", "/", NULL);
    expect_status(&r, 405);
    reply_free(&r);
    /* Malformed JSON: 400; well-formed but the wrong shape: 422. */
    const char *bad[] = {"{", "{\"inputs\":\"a\",}", "[NaN]", "{\"inputs\": Infinity}",
                         "\xef\xbb\xbf{\"inputs\":\"a\"}", "{\"inputs\":\"a\tb\"}",
                         "{\"inputs\":\"\\ud800\"}", "{\"inputs\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/embed", bad[i]);
        expect_tei_error(&r, 400, "syntax", "invalid JSON");
        reply_free(&r);
    }
    r = call_n("POST", "/embed", NULL, "{\"inputs\":\"a\"}\0", 15);
    expect_tei_error(&r, 400, "syntax", "NUL");
    reply_free(&r);
    r = post("/embed", "");
    expect_tei_error(&r, 400, "syntax", "empty");
    reply_free(&r);
    const char *shape[] = {"[]", "5", "null", "\"a\"", "{}", "{\"inputs\":5}", "{\"inputs\":{}}",
                           "{\"inputs\":null}", "{\"inputs\":[[[\"a\"]]]}", "{\"inputs\":[1,\"a\"]}",
                           "{\"inputs\":[true]}"};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++) {
        r = post("/embed", shape[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
    /* Nesting: 64 levels parse (and fail validation), 65 are refused unparsed. */
    char deep[160] = {0};
    for (int d = 64; d <= 65; d++) {
        memset(deep, 0, sizeof deep);
        for (int i = 0; i < d; i++)
            deep[i] = '[';
        for (int i = 0; i < d; i++)
            deep[d + i] = ']';
        r = post("/embed", deep);
        expect_status(&r, d == 64 ? 422 : 400);
        reply_free(&r);
    }
    /* Duplicate keys are ambiguous: refused, whatever their values. */
    r = post("/embed", "{\"inputs\":\"a\",\"inputs\":\"b\"}");
    expect_tei_error(&r, 422, "validation", "duplicate key");
    reply_free(&r);
    r = post("/embed", "{\"inputs\":\"a\",\"x\":{\"k\":1,\"k\":1}}");
    expect_tei_error(&r, 422, "validation", "duplicate key");
    reply_free(&r);
    /* Unknown fields are ignored. */
    r = post("/embed", "{\"inputs\":\"a\",\"unknown\":[1,2,{}]}");
    expect_status(&r, 200);
    reply_free(&r);
}

static void test_hf_route(void **state) {
    (void)state;
    const char *url = "/pipeline/feature-extraction/org/model";
    reply r = post(url, "{\"inputs\":\"How can Medicare help me?\"}");
    expect_status(&r, 200);
    expect_vector(r.json, STUB_DIM); /* a string gives a 1-D list */
    double n1 = norm_of(r.json);
    assert_true(fabs(n1 - 1.0) < 1e-5); /* the model's own normalization */
    reply_free(&r);
    r = post(url, "{\"inputs\":[\"a b\",\"c\"],\"options\":{\"wait_for_model\":true}}");
    expect_status(&r, 200);
    expect_matrix(r.json, 2, STUB_DIM); /* a list gives a 2-D list */
    reply_free(&r);
    r = post(url, "{\"inputs\":[\"a\"]}");
    expect_matrix(r.json, 1, STUB_DIM);
    reply_free(&r);
    /* Raw bodies: text, a JSON string, a number, a list, nothing. */
    const char *single[] = {"raw text, not JSON", "\"a JSON string\"", "42", " 3.5 ", "",
                            "{broken json"};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        r = post(url, single[i]);
        expect_status(&r, 200);
        expect_vector(r.json, STUB_DIM);
        reply_free(&r);
    }
    r = post(url, "[\"a\",\"b\",\"c\"]");
    expect_matrix(r.json, 3, STUB_DIM);
    reply_free(&r);
    /* The number 42 is embedded as the text "42". */
    reply a = post(url, "42"), b = post(url, "{\"inputs\":\"42\"}");
    assert_string_equal(a.text, b.text);
    reply_free(&a);
    reply_free(&b);
    /* Errors: {"error": "..."} with 400. */
    r = post(url, "{\"inputs\":[]}");
    expect_hf_error(&r, 400, "The inputs are invalid, at least one input is required");
    reply_free(&r);
    r = post(url, "[]");
    expect_hf_error(&r, 400, "The inputs are invalid, at least one input is required");
    reply_free(&r);
    const char *bad[] = {"{\"inputs\":5}", "{\"inputs\":[1,2]}", "{\"inputs\":[\"a\",null]}",
                         "{}", "true", "null", "{\"inputs\":\"a\",\"parameters\":5}",
                         "{\"inputs\":\"a\",\"options\":{\"use_cache\":\"no\"}}",
                         "{\"inputs\":\"a\",\"normalize\":\"yes\"}",
                         "{\"inputs\":\"a\",\"parameters\":{\"truncation_direction\":\"up\"}}",
                         "{\"inputs\":\"a\",\"prompt_name\":\"nope\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post(url, bad[i]);
        expect_hf_error(&r, 400, NULL);
        reply_free(&r);
    }
    r = call_n("POST", url, NULL, "caf\xc3", 4); /* neither JSON nor UTF-8 */
    expect_hf_error(&r, 400, NULL);
    reply_free(&r);
    /* Another model id: 404 naming both. */
    r = post("/pipeline/feature-extraction/other/model", "{\"inputs\":\"a\"}");
    expect_hf_error(&r, 404, NULL);
    assert_non_null(strstr(r.text, "other/model"));
    assert_non_null(strstr(r.text, "org/model"));
    reply_free(&r);
    r = post("/pipeline/feature-extraction/org/model/", "{\"inputs\":\"a\"}");
    expect_status(&r, 404);
    reply_free(&r);
    /* The other URL forms of the same API. */
    const char *urls[] = {"/models/org/model", "/models/org/model/pipeline/feature-extraction",
                          "/hf-inference/models/org/model/pipeline/feature-extraction"};
    for (size_t i = 0; i < 3; i++) {
        r = post(urls[i], "{\"inputs\":\"a\"}");
        expect_status(&r, 200);
        expect_vector(r.json, STUB_DIM);
        reply_free(&r);
    }
    /* Options: top level and under parameters. */
    r = post(url, "{\"inputs\":\"a b\",\"normalize\":false}");
    expect_status(&r, 200);
    assert_true(fabs(norm_of(r.json) - 1.0) > 1e-3);
    reply_free(&r);
    r = post(url, "{\"inputs\":\"a b\",\"parameters\":{\"normalize\":false}}");
    assert_true(fabs(norm_of(r.json) - 1.0) > 1e-3);
    reply_free(&r);
    a = post(url, "{\"inputs\":\"a b\",\"prompt_name\":\"query\"}");
    b = post(url, "{\"inputs\":\"a b\"}");
    expect_status(&a, 200);
    assert_string_not_equal(a.text, b.text);
    reply_free(&a);
    reply_free(&b);
    /* /models/{id} of a sentence-similarity model. */
    r = post("/models/org/model",
             "{\"inputs\":{\"source_sentence\":\"a b\",\"sentences\":[\"a b\",\"c\",\"d e\"]}}");
    expect_status(&r, 200);
    expect_vector(r.json, 3);
    assert_true(fabs(json_number_value(json_array_get(r.json, 0)) - 1.0) < 1e-6);
    reply_free(&r);
}

static void test_tei_embed(void **state) {
    (void)state;
    reply r = post("/embed", "{\"inputs\":\"a b\"}");
    expect_status(&r, 200);
    expect_matrix(r.json, 1, STUB_DIM); /* always 2-D */
    assert_true(fabs(norm_of(json_array_get(r.json, 0)) - 1.0) < 1e-5);
    reply_free(&r);
    r = post("/", "{\"inputs\":[\"a\",\"b\"]}"); /* POST / is /embed */
    expect_matrix(r.json, 2, STUB_DIM);
    reply_free(&r);
    r = post("/embed", "{\"inputs\":[1,7,2]}"); /* one input of token ids */
    expect_matrix(r.json, 1, STUB_DIM);
    reply_free(&r);
    r = post("/embed", "{\"inputs\":[\"a\",[1,7,2],[1,2]]}");
    expect_matrix(r.json, 3, STUB_DIM);
    reply_free(&r);
    /* Token ids equal to the text's own tokens give the same vector. */
    reply t = post("/tokenize", "{\"inputs\":\"x y\"}");
    char body[256];
    json_t *toks = json_array_get(t.json, 0);
    snprintf(body, sizeof body, "{\"inputs\":[%lld,%lld,%lld,%lld]}",
             (long long)json_integer_value(json_object_get(json_array_get(toks, 0), "id")),
             (long long)json_integer_value(json_object_get(json_array_get(toks, 1), "id")),
             (long long)json_integer_value(json_object_get(json_array_get(toks, 2), "id")),
             (long long)json_integer_value(json_object_get(json_array_get(toks, 3), "id")));
    reply a = post("/embed", body), b = post("/embed", "{\"inputs\":\"x y\"}");
    assert_string_equal(a.text, b.text);
    reply_free(&a);
    reply_free(&b);
    reply_free(&t);
    /* Empty input: 400 "empty". */
    const char *empty[] = {"{\"inputs\":\"\"}", "{\"inputs\":[]}", "{\"inputs\":[\"\"]}",
                           "{\"inputs\":[\"a\",\"\"]}", "{\"inputs\":[[]]}"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        r = post("/embed", empty[i]);
        expect_tei_error(&r, 400, "empty", "cannot be empty");
        reply_free(&r);
    }
    /* dimensions: TEI's messages; truncate, then normalize. */
    r = post("/embed", "{\"inputs\":\"a\",\"dimensions\":0}");
    expect_tei_error(&r, 422, "validation", "`dimensions` should be positive");
    reply_free(&r);
    r = post("/embed", "{\"inputs\":\"a\",\"dimensions\":-3}");
    expect_tei_error(&r, 422, "validation", "`dimensions` should be positive");
    reply_free(&r);
    r = post("/embed", "{\"inputs\":\"a\",\"dimensions\":9}");
    expect_tei_error(&r, 422, "validation", "should be smaller than the maximum");
    reply_free(&r);
    r = post("/embed", "{\"inputs\":\"a\",\"dimensions\":\"4\"}");
    expect_tei_error(&r, 422, "validation", "integer");
    reply_free(&r);
    r = post("/embed", "{\"inputs\":\"a\",\"dimensions\":1e9}");
    expect_tei_error(&r, 422, "validation", NULL);
    reply_free(&r);
    for (int d = 1; d <= STUB_DIM; d += STUB_DIM - 1) {
        snprintf(body, sizeof body, "{\"inputs\":\"a b\",\"dimensions\":%d}", d);
        r = post("/embed", body);
        expect_status(&r, 200);
        expect_matrix(r.json, 1, (size_t)d);
        assert_true(fabs(norm_of(json_array_get(r.json, 0)) - 1.0) < 1e-5);
        reply_free(&r);
    }
    /* normalize=false skips normalization. */
    r = post("/embed", "{\"inputs\":\"a b\",\"normalize\":false}");
    assert_true(fabs(norm_of(json_array_get(r.json, 0)) - 1.0) > 1e-3);
    reply_free(&r);
    const char *bad[] = {"{\"inputs\":\"a\",\"normalize\":2}",
                         "{\"inputs\":\"a\",\"truncate\":\"yes\"}",
                         "{\"inputs\":\"a\",\"truncation_direction\":\"up\"}",
                         "{\"inputs\":\"a\",\"truncation_direction\":5}",
                         "{\"inputs\":\"a\",\"prompt_name\":\"document\"}",
                         "{\"inputs\":\"a\",\"prompt_name\":7}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/embed", bad[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
    r = post("/embed", "{\"inputs\":\"a\",\"truncation_direction\":\"left\",\"truncate\":null}");
    expect_status(&r, 200);
    reply_free(&r);
    /* Tokenizer failures are 422 "tokenizer". */
    r = post("/embed", "{\"inputs\":\"x __tokerr_\"}");
    expect_tei_error(&r, 422, "tokenizer", "stub tokenizer failure");
    reply_free(&r);
}

static void test_client_batch_limit(void **state) {
    (void)state;
    for (int n = 31; n <= 33; n++) {
        char *body = malloc(64 + (size_t)n * 4);
        strcpy(body, "{\"inputs\":[");
        for (int i = 0; i < n; i++)
            strcat(body, i ? ",\"a\"" : "\"a\"");
        strcat(body, "]}");
        reply r = post("/embed", body);
        if (n <= 32) {
            expect_status(&r, 200);
            expect_matrix(r.json, (size_t)n, STUB_DIM);
        } else {
            expect_tei_error(&r, 422, "validation", NULL);
            assert_string_equal(json_string_value(json_object_get(r.json, "error")),
                                "batch size 33 > maximum allowed batch size 32");
        }
        reply_free(&r);
        r = post("/pipeline/feature-extraction/org/model", body);
        expect_status(&r, n <= 32 ? 200 : 400);
        reply_free(&r);
        /* /v1/embeddings has its own, larger limit. */
        size_t cap = 64 + (size_t)n * 4;
        char *oai = malloc(cap);
        snprintf(oai, cap, "{\"input\":%s", body + strlen("{\"inputs\":"));
        r = post("/v1/embeddings", oai);
        expect_status(&r, 200);
        reply_free(&r);
        free(oai);
        free(body);
    }
    /* /similarity counts the source sentence too. */
    reply r = post("/similarity", "{\"inputs\":{\"source_sentence\":\"a\",\"sentences\":["
                                  "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
                                  "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
                                  "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
                                  "\"a\",\"a\"]}}");
    expect_tei_error(&r, 422, "validation", "batch size 33 > maximum allowed batch size 32");
    reply_free(&r);
}

static void test_openai_batch_limit(void **state) {
    (void)state;
    cfg.max_openai_batch_size = 40;
    for (int n = 39; n <= 41; n++) {
        char *body = malloc(64 + (size_t)n * 4);
        strcpy(body, "{\"input\":[");
        for (int i = 0; i < n; i++)
            strcat(body, i ? ",\"a\"" : "\"a\"");
        strcat(body, "]}");
        reply r = post("/v1/embeddings", body);
        if (n <= 40) {
            expect_status(&r, 200);
            assert_int_equal(json_array_size(json_object_get(r.json, "data")), (size_t)n);
        } else {
            expect_openai_error(&r, 400, "invalid_request_error");
        }
        reply_free(&r);
        free(body);
    }
    cfg.max_openai_batch_size = SRV_DEFAULT_OPENAI_BATCH;
}

/* Tokens per input: STUB_MAX_SEQ (16) with truncate off, at, below, above. */
static void test_token_limit(void **state) {
    (void)state;
    char body[512];
    for (int tokens = 15; tokens <= 17; tokens++) {
        char *w = words(tokens - 2);
        snprintf(body, sizeof body, "{\"inputs\":\"%s\",\"truncate\":false}", w);
        reply r = post("/embed", body);
        if (tokens <= STUB_MAX_SEQ) {
            expect_status(&r, 200);
        } else {
            expect_tei_error(&r, 422, "validation", NULL);
            assert_string_equal(json_string_value(json_object_get(r.json, "error")),
                                "`inputs` must have less than 17 tokens. Given: 17");
        }
        reply_free(&r);
        /* truncate on (the default): always embedded. */
        snprintf(body, sizeof body, "{\"inputs\":\"%s\"}", w);
        r = post("/embed", body);
        expect_status(&r, 200);
        reply_free(&r);
        /* The HF route answers 400; OpenAI follows --auto-truncate. */
        snprintf(body, sizeof body, "{\"inputs\":\"%s\",\"truncate\":false}", w);
        r = post("/pipeline/feature-extraction/org/model", body);
        expect_status(&r, tokens <= STUB_MAX_SEQ ? 200 : 400);
        reply_free(&r);
        free(w);
    }
    /* Token-id inputs too. */
    for (int n = 15; n <= 17; n++) {
        char ids[256] = "";
        for (int i = 0; i < n; i++)
            strcat(ids, i ? ",7" : "7");
        snprintf(body, sizeof body, "{\"inputs\":[%s],\"truncate\":false}", ids);
        reply r = post("/embed", body);
        expect_status(&r, n <= STUB_MAX_SEQ ? 200 : 422);
        reply_free(&r);
    }
    /* --auto-truncate false: over-long OpenAI input is refused. */
    cfg.auto_truncate = 0;
    char *w = words(STUB_MAX_SEQ);
    snprintf(body, sizeof body, "{\"input\":\"%s\"}", w);
    reply r = post("/v1/embeddings", body);
    expect_openai_error(&r, 400, "invalid_request_error");
    reply_free(&r);
    free(w);
    cfg.auto_truncate = 1;
}

static void test_token_ids(void **state) {
    (void)state;
    char body[128];
    snprintf(body, sizeof body, "{\"inputs\":[1,%d,2]}", STUB_VOCAB - 1);
    reply r = post("/embed", body);
    expect_status(&r, 200);
    reply_free(&r);
    snprintf(body, sizeof body, "{\"inputs\":[1,%d,2]}", STUB_VOCAB);
    r = post("/embed", body);
    expect_tei_error(&r, 422, "validation", "outside the vocabulary");
    reply_free(&r);
    const char *bad[] = {"{\"inputs\":[1,-1,2]}", "{\"inputs\":[[1,2],[3,9999999999]]}",
                         "{\"inputs\":[[1,2.5]]}", "{\"inputs\":[[1,\"a\"]]}",
                         "{\"inputs\":[1,2.0]}", "{\"inputs\":[[1,null]]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/embed", bad[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
    r = post("/v1/embeddings", "{\"input\":[[1,2],[1,100]]}");
    expect_openai_error(&r, 400, "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "error"),
                                                          "param")),
                        "input");
    reply_free(&r);
    r = post("/v1/embeddings", "{\"input\":[[1,2],[1,99]]}");
    expect_status(&r, 200);
    reply_free(&r);
}

static void test_openai(void **state) {
    (void)state;
    reply f = post("/v1/embeddings", "{\"input\":[\"a b\",\"c\"],\"model\":\"whatever\"}");
    expect_status(&f, 200);
    assert_string_equal(json_string_value(json_object_get(f.json, "object")), "list");
    assert_string_equal(json_string_value(json_object_get(f.json, "model")), "org/model");
    json_t *data = json_object_get(f.json, "data");
    assert_int_equal(json_array_size(data), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *d = json_array_get(data, i);
        assert_string_equal(json_string_value(json_object_get(d, "object")), "embedding");
        assert_int_equal(json_integer_value(json_object_get(d, "index")), (json_int_t)i);
        expect_vector(json_object_get(d, "embedding"), STUB_DIM);
        assert_true(fabs(norm_of(json_object_get(d, "embedding")) - 1.0) < 1e-5);
    }
    json_t *usage = json_object_get(f.json, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 4 + 3);
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 4 + 3);
    /* base64: little-endian float32 equal to the float output. */
    reply b = post("/v1/embeddings", "{\"input\":[\"a b\",\"c\"],\"encoding_format\":\"base64\"}");
    expect_status(&b, 200);
    for (size_t i = 0; i < 2; i++) {
        const char *s = json_string_value(
            json_object_get(json_array_get(json_object_get(b.json, "data"), i), "embedding"));
        assert_non_null(s);
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned char bytes[STUB_DIM * 4 + 4];
        size_t nb = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (const char *c = s; *c && *c != '='; c++) {
            acc = acc << 6 | (uint32_t)(strchr(tbl, *c) - tbl);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                bytes[nb++] = (unsigned char)(acc >> bits);
            }
        }
        assert_int_equal(nb, STUB_DIM * 4);
        json_t *fv = json_object_get(json_array_get(data, i), "embedding");
        for (int d = 0; d < STUB_DIM; d++) {
            uint32_t u = (uint32_t)bytes[4 * d] | (uint32_t)bytes[4 * d + 1] << 8 |
                         (uint32_t)bytes[4 * d + 2] << 16 | (uint32_t)bytes[4 * d + 3] << 24;
            float v;
            memcpy(&v, &u, 4);
            assert_true(v == (float)json_number_value(json_array_get(fv, (size_t)d)));
        }
    }
    reply_free(&b);
    reply_free(&f);
    /* Forms of input. */
    reply r = post("/v1/embeddings", "{\"input\":\"one\"}");
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    reply_free(&r);
    r = post("/v1/embeddings", "{\"input\":[1,7,2]}");
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "usage"),
                                                        "prompt_tokens")),
                     3);
    reply_free(&r);
    r = post("/v1/embeddings", "{\"input\":[[1,7,2],[1,2]],\"dimensions\":3}");
    expect_vector(json_object_get(json_array_get(json_object_get(r.json, "data"), 1),
                                  "embedding"),
                  3);
    reply_free(&r);
    /* Errors: OpenAI's nested shape. */
    const char *bad[] = {"{\"input\":\"\"}", "{\"input\":[]}", "{}", "{\"input\":5}",
                         "{\"input\":\"a\",\"encoding_format\":\"hex\"}",
                         "{\"input\":\"a\",\"dimensions\":0}", "{\"input\":\"a\",\"model\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/v1/embeddings", bad[i]);
        expect_openai_error(&r, 400, "invalid_request_error");
        reply_free(&r);
    }
    r = post("/v1/embeddings", "{\"input\":\"a\",\"encoding_format\":\"hex\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "error"),
                                                          "param")),
                        "encoding_format");
    reply_free(&r);
    r = post("/v1/embeddings", "{bad");
    expect_openai_error(&r, 400, "invalid_request_error");
    reply_free(&r);
    r = post("/embeddings", "{\"input\":\"a\"}"); /* TEI's alias */
    expect_status(&r, 200);
    reply_free(&r);
}

static void test_similarity_embed_all(void **state) {
    (void)state;
    reply r = post("/similarity",
                   "{\"inputs\":{\"source_sentence\":\"a b\",\"sentences\":[\"a b\",\"c d\"]}}");
    expect_status(&r, 200);
    expect_vector(r.json, 2);
    assert_true(fabs(json_number_value(json_array_get(r.json, 0)) - 1.0) < 1e-6);
    assert_true(json_number_value(json_array_get(r.json, 1)) < 0.9999);
    reply_free(&r);
    const char *bad[] = {"{\"inputs\":\"a\"}", "{\"inputs\":{\"sentences\":[\"a\"]}}",
                         "{\"inputs\":{\"source_sentence\":\"a\",\"sentences\":\"b\"}}",
                         "{\"inputs\":{\"source_sentence\":\"a\",\"sentences\":[5]}}",
                         ("{\"inputs\":{\"source_sentence\":\"a\",\"sentences\":[\"b\"]},"
                          "\"parameters\":[]}")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/similarity", bad[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
    r = post("/similarity", "{\"inputs\":{\"source_sentence\":\"a\",\"sentences\":[]}}");
    expect_tei_error(&r, 400, "empty", NULL);
    reply_free(&r);
    r = post("/similarity", "{\"inputs\":{\"source_sentence\":\"\",\"sentences\":[\"a\"]}}");
    expect_tei_error(&r, 400, "empty", NULL);
    reply_free(&r);

    /* /embed_all: one vector of hidden_size per token, specials included. */
    r = post("/embed_all", "{\"inputs\":[\"a b c\",\"d\"]}");
    expect_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 2);
    expect_matrix(json_array_get(r.json, 0), 5, STUB_HIDDEN);
    expect_matrix(json_array_get(r.json, 1), 3, STUB_HIDDEN);
    reply_free(&r);
    char ids[256] = "";
    for (int i = 0; i < STUB_MAX_SEQ + 4; i++)
        strcat(ids, i ? ",7" : "7");
    char body[300];
    snprintf(body, sizeof body, "{\"inputs\":[%s]}", ids); /* truncated to max_seq */
    r = post("/embed_all", body);
    expect_status(&r, 200);
    expect_matrix(json_array_get(r.json, 0), STUB_MAX_SEQ, STUB_HIDDEN);
    reply_free(&r);
    r = post("/embed_all", "{\"inputs\":\"a\",\"dimensions\":2}"); /* ignored there */
    expect_status(&r, 200);
    reply_free(&r);
}

static void test_tokenize_decode(void **state) {
    (void)state;
    reply r = post("/tokenize", "{\"inputs\":\"a b\"}");
    expect_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 1);
    json_t *toks = json_array_get(r.json, 0);
    assert_int_equal(json_array_size(toks), 4);
    json_t *first = json_array_get(toks, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), STUB_CLS);
    assert_string_equal(json_string_value(json_object_get(first, "text")), "[CLS]");
    assert_true(json_is_true(json_object_get(first, "special")));
    assert_true(json_is_false(json_object_get(json_array_get(toks, 1), "special")));
    assert_non_null(json_object_get(first, "start"));
    assert_non_null(json_object_get(first, "stop"));
    reply_free(&r);
    r = post("/tokenize", "{\"inputs\":[\"a\",\"b c\"],\"add_special_tokens\":false}");
    assert_int_equal(json_array_size(json_array_get(r.json, 0)), 1);
    assert_int_equal(json_array_size(json_array_get(r.json, 1)), 2);
    reply_free(&r);
    /* No truncation on /tokenize: all the tokens. */
    char *w = words(40);
    char body[256];
    snprintf(body, sizeof body, "{\"inputs\":\"%s\"}", w);
    free(w);
    r = post("/tokenize", body);
    assert_int_equal(json_array_size(json_array_get(r.json, 0)), 42);
    reply_free(&r);
    r = post("/tokenize", "{\"inputs\":\"a\",\"prompt_name\":\"query\"}");
    assert_int_equal(json_array_size(json_array_get(r.json, 0)), 4);
    reply_free(&r);
    r = post("/tokenize", "{\"inputs\":[]}");
    expect_tei_error(&r, 400, "empty", NULL);
    reply_free(&r);

    r = post("/decode", "{\"ids\":[1,7,8,2]}");
    expect_status(&r, 200);
    assert_string_equal(r.text, "[\"w7 w8\"]");
    reply_free(&r);
    r = post("/decode", "{\"ids\":[[1,7,2],[9],[]],\"skip_special_tokens\":false}");
    assert_string_equal(r.text, "[\"[CLS] w7 [SEP]\",\"w9\",\"\"]");
    reply_free(&r);
    const char *bad[] = {"{\"ids\":\"a\"}", "{\"ids\":[1,100]}", "{\"ids\":[[1],[-1]]}",
                         "{\"ids\":[[1],5]}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/decode", bad[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
}

static void test_search(void **state) {
    (void)state;
    reply r = post("/search", "{\"query\":\"doc3\",\"top_k\":3}");
    expect_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 1);
    json_t *hits = json_array_get(r.json, 0);
    assert_int_equal(json_array_size(hits), 3);
    double prev = 2;
    for (size_t i = 0; i < 3; i++) {
        json_t *h = json_array_get(hits, i);
        assert_true(json_is_integer(json_object_get(h, "corpus_id")));
        assert_true(json_is_string(json_object_get(h, "text")));
        double s = json_number_value(json_object_get(h, "score"));
        assert_true(s <= prev);
        prev = s;
    }
    /* The query "doc3" is exactly row 3. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hits, 0), "corpus_id")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 0), "text")),
                        "doc3");
    reply_free(&r);
    r = post("/search", "{\"query\":[\"doc0\",\"doc1\"]}"); /* top_k 10 > 5 rows */
    expect_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 2);
    assert_int_equal(json_array_size(json_array_get(r.json, 0)), STUB_CORPUS);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_array_get(r.json, 0), 0), "text")),
        "doc0 \"zero\"");
    reply_free(&r);
    const char *bad[] = {"{\"query\":\"a\",\"top_k\":0}", "{\"query\":\"a\",\"top_k\":10001}",
                         "{\"query\":\"a\",\"top_k\":\"5\"}", "{\"query\":5}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/search", bad[i]);
        expect_tei_error(&r, 422, "validation", NULL);
        reply_free(&r);
    }
    r = post("/search", "{\"query\":\"a\",\"top_k\":10000}");
    expect_status(&r, 200);
    reply_free(&r);
    r = post("/search", "{\"query\":[]}");
    expect_tei_error(&r, 400, "empty", NULL);
    reply_free(&r);
    stub.be.corpus_size = 0;
    r = post("/search", "{\"query\":\"a\"}");
    expect_tei_error(&r, 404, "not_found", "no corpus");
    reply_free(&r);
    stub.be.corpus_size = STUB_CORPUS;
}

static void test_api_key(void **state) {
    (void)state;
    cfg.api_key = "sekret";
    const char *body = "{\"inputs\":\"a\"}";
    reply r = call_n("POST", "/embed", NULL, body, strlen(body));
    expect_tei_error(&r, 401, "unauthorized", NULL);
    assert_true(r.www_auth);
    reply_free(&r);
    const char *wrong[] = {"Bearer nope", "bearer sekret", "Bearer sekret ", "sekret", "Bearer"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        r = call_n("POST", "/embed", wrong[i], body, strlen(body));
        expect_status(&r, 401);
        reply_free(&r);
    }
    r = call_n("POST", "/embed", "Bearer sekret", body, strlen(body));
    expect_status(&r, 200);
    reply_free(&r);
    r = call_n("POST", "/v1/embeddings", NULL, "{\"input\":\"a\"}", 13);
    expect_openai_error(&r, 401, "invalid_request_error");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
        "invalid_api_key");
    reply_free(&r);
    r = call_n("POST", "/pipeline/feature-extraction/org/model", NULL, body, strlen(body));
    expect_hf_error(&r, 401, NULL);
    reply_free(&r);
    r = call_n("GET", "/info", NULL, NULL, 0);
    expect_status(&r, 401);
    reply_free(&r);
    /* Health and metrics stay open. */
    r = call_n("GET", "/health", NULL, NULL, 0);
    expect_status(&r, 200);
    reply_free(&r);
    r = call_n("GET", "/metrics", NULL, NULL, 0);
    expect_status(&r, 200);
    reply_free(&r);
    cfg.api_key = NULL;
}

/* The concurrency limit at 3: requests 1..3 admitted, the 4th gets 429. */
static void test_concurrency_limit(void **state) {
    (void)state;
    cfg.max_concurrent_requests = 3;
    srv_request req = {"POST", "/embed", NULL, "{\"inputs\":\"a\"}", 14};
    srv_exchange *held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = srv_exchange_new(app);
        assert_int_equal(srv_exchange_begin(held[i], &req), SRV_STEP_WORK);
        assert_int_equal(srv_app_inflight(app), i + 1);
    }
    srv_exchange *over = srv_exchange_new(app);
    assert_int_equal(srv_exchange_begin(over, &req), SRV_STEP_RESPOND);
    srv_response *resp = srv_exchange_response(over);
    assert_int_equal(resp->status, 429);
    assert_non_null(strstr(resp->body.data, "\"error\":\"Model is overloaded\""));
    assert_non_null(strstr(resp->body.data, "\"error_type\":\"overloaded\""));
    srv_exchange_free(over);
    assert_int_equal(srv_app_inflight(app), 3);
    /* GET routes are never refused. */
    reply r = call("GET", "/health", NULL);
    expect_status(&r, 200);
    reply_free(&r);
    srv_exchange_free(held[0]);
    srv_exchange *again = srv_exchange_new(app);
    assert_int_equal(srv_exchange_begin(again, &req), SRV_STEP_WORK);
    srv_exchange_free(again);
    srv_exchange_free(held[1]);
    srv_exchange_free(held[2]);
    assert_int_equal(srv_app_inflight(app), 0);
    /* OpenAI's 429 shape. */
    cfg.max_concurrent_requests = 0;
    r = post("/v1/embeddings", "{\"input\":\"a\"}");
    expect_openai_error(&r, 429, "rate_limit_error");
    reply_free(&r);
    cfg.max_concurrent_requests = SRV_DEFAULT_CONCURRENT;
}

static void test_backend_failures(void **state) {
    (void)state;
    stub.fail_next = 1;
    reply r = post("/embed", "{\"inputs\":\"a\"}");
    expect_tei_error(&r, 424, "backend", "stub backend failure");
    reply_free(&r);
    stub.nan_next = 1;
    r = post("/embed", "{\"inputs\":\"a\"}");
    expect_tei_error(&r, 424, "backend", "non-finite");
    assert_null(strstr(r.text, "NaN"));
    reply_free(&r);
    stub.nan_next = 1;
    r = post("/embed_all", "{\"inputs\":\"a\"}");
    expect_tei_error(&r, 424, "backend", "non-finite");
    reply_free(&r);
    stub.nan_next = 1;
    r = post("/pipeline/feature-extraction/org/model", "{\"inputs\":\"a\"}");
    expect_hf_error(&r, 500, NULL);
    reply_free(&r);
    stub.fail_next = 1;
    r = post("/v1/embeddings", "{\"input\":\"a\"}");
    expect_openai_error(&r, 500, "server_error");
    reply_free(&r);
    /* The next request is fine. */
    r = post("/embed", "{\"inputs\":\"a\"}");
    expect_status(&r, 200);
    reply_free(&r);
}

static void test_draining(void **state) {
    (void)state;
    srv_app *old = app;
    app = srv_app_new(&cfg, &stub.be);
    srv_app_set_draining(app);
    reply r = post("/embed", "{\"inputs\":\"a\"}");
    expect_tei_error(&r, 503, "unhealthy", "shutting down");
    assert_true(r.close);
    reply_free(&r);
    r = call("GET", "/health", NULL);
    expect_status(&r, 503);
    reply_free(&r);
    srv_app_free(app);
    app = old;
}

/* JSONTestSuite: y_ files parse (never 400), n_ files are 400, i_ files
 * never crash. Skipped without the reference material. */
static void test_json_test_suite(void **state) {
    (void)state;
    const char *shared = getenv("SEMBED_SHARED");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/JSONTestSuite/test_parsing", shared ? shared : "");
    DIR *d = shared ? opendir(dir) : NULL;
    if (!d) {
        printf("# skipped JSONTestSuite: SEMBED_SHARED/data/JSONTestSuite is not available\n");
        skip();
    }
    struct dirent *e;
    int y = 0, n = 0, i = 0;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strlen(name) < 6 || name[1] != '_' || !strstr(name, ".json"))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *buf = malloc(1 << 20);
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        reply r = call_n("POST", "/embed", NULL, buf, len);
        if (name[0] == 'y') {
            if (r.status == 400)
                fprintf(stderr, "%s refused: %s\n", name, r.text);
            assert_int_not_equal(r.status, 400);
            y++;
        } else if (name[0] == 'n') {
            if (r.status != 400)
                fprintf(stderr, "%s accepted: %d %s\n", name, r.status, r.text);
            assert_int_equal(r.status, 400);
            n++;
        } else {
            assert_true(r.status == 400 || r.status == 422 || r.status == 200);
            i++;
        }
        /* Every answer is valid JSON. */
        if (!r.json)
            fprintf(stderr, "%s: the answer is not JSON: %s\n", name, r.text);
        assert_non_null(r.json);
        reply_free(&r);
        free(buf);
    }
    closedir(d);
    printf("# JSONTestSuite: %d y_ accepted, %d n_ refused with 400, %d i_ answered\n", y, n, i);
    assert_true(y >= 95 && n >= 188);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_auth_compare),
        cmocka_unit_test(test_precheck),
        cmocka_unit_test_setup_teardown(test_health_info_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hf_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tei_embed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_batch_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_batch_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai, setup, teardown),
        cmocka_unit_test_setup_teardown(test_similarity_embed_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokenize_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_test_suite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
