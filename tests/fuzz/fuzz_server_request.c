/*
 * fuzz_server_request.c - libFuzzer harness for the server's request
 * layer without sockets: arbitrary (method, url, Authorization, body)
 * through routing, JSON decoding, validation and response writing
 * (src/server/api.c), with the stub backend of the unit tests standing in
 * for the model.
 *
 * Input: byte 0 picks the method and switches (API key, truncation,
 * small limits, a failing or NaN-producing backend); then the URL up to
 * '\n'; then, when the switch is on, the Authorization value up to '\n';
 * the rest is the body.
 *
 * Properties checked on every input: a JSON response is valid JSON (so
 * never NaN, Inf or invalid UTF-8), the status is one the server
 * documents, and no admission permit is leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../server/stub_backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static srv_config cfg;
static stub_backend stub;
static srv_app *app;

static int documented_status(int s) {
    static const int ok[] = {200, 400, 401, 404, 405, 408, 413, 422, 424, 429, 500, 503};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s == ok[i])
            return 1;
    return 0;
}

/* Copies bytes up to '\n' (or the end) into a fresh string; advances. */
static char *take_line(const uint8_t **p, size_t *n, size_t max) {
    size_t len = 0;
    while (len < *n && len < max && (*p)[len] != '\n')
        len++;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, *p, len);
    s[len] = 0;
    size_t skip = len < *n ? len + 1 : len;
    *p += skip;
    *n -= skip;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const methods[] = {"POST", "GET", "HEAD", "PUT"};
    if (!app) {
        srv_config_defaults(&cfg);
        cfg.served_model_name = "org/model";
        stub_init(&stub);
        app = srv_app_new(&cfg, &stub.be);
        if (!app)
            abort();
    }
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    cfg.api_key = (flags & 4) ? "k" : NULL;
    cfg.auto_truncate = !(flags & 8);
    cfg.max_client_batch_size = (flags & 16) ? 2 : SRV_DEFAULT_CLIENT_BATCH;
    stub.fail_next = (flags & 32) != 0;
    stub.nan_next = (flags & 64) != 0;

    char *url = take_line(&p, &n, 512);
    char *auth = (flags & 128) ? take_line(&p, &n, 512) : NULL;
    /* The body in a buffer of its exact size, so over-reads are caught. */
    char *body = malloc(n ? n : 1);
    if (!body)
        abort();
    memcpy(body, p, n);

    srv_request req = {methods[flags & 3], url, auth, body, n};
    srv_exchange *ex = srv_handle_sync(app, &req);
    if (!ex)
        abort();
    srv_response *resp = srv_exchange_response(ex);
    if (!documented_status(resp->status))
        abort();
    if (resp->body.len && resp->content_type &&
        !strcmp(resp->content_type, "application/json")) {
        json_error_t jerr;
        json_t *j = json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                               &jerr);
        if (!j)
            abort();
        json_decref(j);
    }
    srv_exchange_free(ex);
    if (srv_app_inflight(app) != 0)
        abort();
    free(body);
    free(auth);
    free(url);
    stub.fail_next = stub.nan_next = 0;
    return 0;
}
