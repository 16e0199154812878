/*
 * hub_http.c - the libcurl side of Hub downloads: HEAD for a file's
 * metadata (commit, ETag, size) and GET into a partial file that a later
 * run resumes with a Range request. Only http and https are allowed, also
 * on redirects, and a body is written to disk only when the answer is a
 * success, so an error page never lands in the cache.
 */
#include "hub/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

struct hub_http {
    CURL *curl;
    struct curl_slist *headers;
    long etag_timeout_s;
    long download_timeout_s;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- headers ------------------------------------------------------------- */

/* Copies value into a field; marks the response truncated when it does not fit. */
static void copy_field(hub_response *r, char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) {
        r->truncated = 1;
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* Strict decimal for header numbers; 0 on success. */
static int parse_u64(const char *s, size_t n, uint64_t *out) {
    if (n == 0 || n > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

void hub_response_header(hub_response *r, const char *line, size_t len) {
    /* A status line starts a new response (the next hop of a redirect). */
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        memset(r, 0, sizeof *r);
        const char *sp = memchr(line, ' ', len);
        uint64_t code = 0;
        if (sp && (size_t)(line + len - sp) >= 4 && !parse_u64(sp + 1, 3, &code))
            r->status = (long)code;
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vn = len - name_len - 1;
    while (vn && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
#define IS(name) (name_len == sizeof(name) - 1 && !strncasecmp(line, name, name_len))
    if (IS("x-repo-commit"))
        copy_field(r, r->commit, sizeof r->commit, v, vn);
    else if (IS("etag"))
        copy_field(r, r->etag, sizeof r->etag, v, vn);
    else if (IS("x-linked-etag"))
        copy_field(r, r->linked_etag, sizeof r->linked_etag, v, vn);
    else if (IS("location"))
        copy_field(r, r->location, sizeof r->location, v, vn);
    else if (IS("x-error-code"))
        copy_field(r, r->error_code, sizeof r->error_code, v, vn);
    else if (IS("x-error-message"))
        copy_field(r, r->error_message, sizeof r->error_message, v, vn);
    else if (IS("content-length"))
        r->has_content_length = !parse_u64(v, vn, &r->content_length);
    else if (IS("x-linked-size"))
        r->has_linked_size = !parse_u64(v, vn, &r->linked_size);
    else if (IS("content-range")) {
        /* "bytes START-END/TOTAL" */
        if (vn > 6 && !strncasecmp(v, "bytes ", 6)) {
            const char *s = v + 6;
            const char *dash = memchr(s, '-', vn - 6);
            r->has_content_range = dash && !parse_u64(s, (size_t)(dash - s), &r->range_start);
        }
    }
#undef IS
}

static size_t on_header(char *buf, size_t size, size_t n, void *user) {
    hub_response_header(user, buf, size * n);
    return size * n;
}

/* ---- handle -------------------------------------------------------------- */

sembed_status hub_http_open(hub_http **out, const char *token, long etag_timeout_s,
                            long download_timeout_s, sembed_error *err) {
    *out = NULL;
    hub_http *h = calloc(1, sizeof *h);
    if (!h)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    h->etag_timeout_s = etag_timeout_s;
    h->download_timeout_s = download_timeout_s;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return set_error(err, SEMBED_ERR_INTERNAL, "cannot initialise libcurl");
    }
    /* As huggingface_hub: no compression, so sizes are those of the file. */
    h->headers = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (!h->headers) {
        hub_http_close(h);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *line = malloc(n);
        if (!line) {
            hub_http_close(h);
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        }
        snprintf(line, n, "Authorization: Bearer %s", token);
        struct curl_slist *l = curl_slist_append(h->headers, line);
        /* Do not leave the token in freed heap memory. */
        memset(line, 0, n);
        free(line);
        if (!l) {
            hub_http_close(h);
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        }
        h->headers = l;
    }
    *out = h;
    return SEMBED_OK;
}

void hub_http_close(hub_http *h) {
    if (!h)
        return;
    /* The header list holds the token: wipe it before freeing. */
    for (struct curl_slist *l = h->headers; l; l = l->next)
        if (l->data)
            memset(l->data, 0, strlen(l->data));
    curl_slist_free_all(h->headers);
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h);
}

/* Options every request shares. */
static void setup_common(hub_http *h, const char *url, hub_response *r) {
    CURL *c = h->curl;
    curl_easy_reset(c);
    h->errbuf[0] = 0;
    memset(r, 0, sizeof *r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sembed/" SEMBED_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
}

static void set_msg(char *msg, size_t cap, CURLcode rc, const char *errbuf) {
    snprintf(msg, cap, "%s", errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* Resolves a relative Location against url (same scheme and host). */
static int join_relative(const char *url, const char *loc, char *out, size_t cap) {
    const char *scheme = strstr(url, "://");
    if (!scheme)
        return -1;
    const char *path = strchr(scheme + 3, '/');
    size_t host_len = path ? (size_t)(path - url) : strlen(url);
    int n = snprintf(out, cap, "%.*s%s", (int)host_len, url, loc);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int hub_http_head(hub_http *h, const char *url, hub_response *r, char *msg, size_t msg_cap) {
    char cur[HUB_MAX_URL];
    snprintf(cur, sizeof cur, "%s", url);
    for (int hop = 0;; hop++) {
        setup_common(h, cur, r);
        CURL *c = h->curl;
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->etag_timeout_s);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, h->etag_timeout_s);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
            set_msg(msg, msg_cap, rc, h->errbuf);
            return (int)rc;
        }
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        r->status = code;
        /* Follow only a relative redirect (a renamed repo); a redirect to
         * another host is the CDN, whose answer carries no Hub headers. */
        int relative = r->location[0] == '/' && r->location[1] != '/';
        if (code < 300 || code >= 400 || !relative)
            return 0;
        if (hop >= HUB_MAX_REDIRECTS) {
            snprintf(msg, msg_cap, "more than %d redirects", HUB_MAX_REDIRECTS);
            return (int)CURLE_TOO_MANY_REDIRECTS;
        }
        char next[HUB_MAX_URL];
        if (join_relative(cur, r->location, next, sizeof next)) {
            snprintf(msg, msg_cap, "redirect to a URL that is too long");
            return (int)CURLE_URL_MALFORMAT;
        }
        memcpy(cur, next, sizeof cur);
    }
}

/* ---- GET into a file ----------------------------------------------------- */

typedef struct get_state {
    hub_http *h;
    hub_response *r;
    const char *dest;
    int fd;
    uint64_t offset;      /* bytes already in dest before this request */
    uint64_t written;     /* bytes written by this request */
    uint64_t max_bytes;
    int started;          /* the first body byte of a 2xx answer arrived */
    int skip_body;        /* the answer is not a success: ignore its body */
    int werrno;
    int too_big;
    int bad_range;
    const char *label;
    hub_progress_fn progress;
    void *progress_user;
} get_state;

/* Opens dest at the first byte of a successful body. */
static int start_body(get_state *s) {
    long code = 0;
    curl_easy_getinfo(s->h->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        s->skip_body = 1;
        return 0;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (code == 206) {
        /* The server must continue exactly where the file ends. */
        if (!s->r->has_content_range || s->r->range_start != s->offset) {
            s->bad_range = 1;
            return -1;
        }
    } else {
        /* A full answer (the server ignored Range): start again. */
        s->offset = 0;
        flags |= O_TRUNC;
    }
    s->fd = open(s->dest, flags, 0644);
    if (s->fd < 0 || lseek(s->fd, (off_t)s->offset, SEEK_SET) < 0) {
        s->werrno = errno;
        return -1;
    }
    s->started = 1;
    return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *user) {
    get_state *s = user;
    size_t len = size * n;
    if (!s->started && !s->skip_body && start_body(s))
        return 0;
    if (s->skip_body)
        return len;
    if (s->offset + s->written + len > s->max_bytes) {
        s->too_big = 1;
        return 0;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(s->fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->werrno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    s->written += len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)ultotal;
    (void)ulnow;
    get_state *s = user;
    if (s->progress && s->started && !s->skip_body && dltotal > 0)
        s->progress(s->progress_user, s->label, s->offset + (uint64_t)dlnow,
                    s->offset + (uint64_t)dltotal);
    return 0;
}

int hub_http_get(hub_http *h, const char *url, const char *dest, uint64_t max_bytes,
                 const char *label, hub_progress_fn progress, void *progress_user,
                 hub_response *r, uint64_t *size, int *werrno, char *msg, size_t msg_cap) {
    get_state s = {.h = h, .r = r, .dest = dest, .fd = -1, .max_bytes = max_bytes,
                   .label = label, .progress = progress, .progress_user = progress_user};
    struct stat st;
    if (stat(dest, &st) == 0 && S_ISREG(st.st_mode))
        s.offset = (uint64_t)st.st_size;
    *werrno = 0;

    setup_common(h, url, r);
    CURL *c = h->curl;
    char range[48];
    if (s.offset > 0) {
        snprintf(range, sizeof range, "%" PRIu64 "-", s.offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HUB_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->download_timeout_s);
    /* No total limit (files can be large): a stall of download_timeout_s
     * seconds is the failure, as huggingface_hub's read timeout. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->download_timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);

    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    r->status = code;
    if (s.fd >= 0) {
        if (rc == CURLE_OK && fsync(s.fd) != 0 && !s.werrno)
            s.werrno = errno;
        if (close(s.fd) != 0 && !s.werrno)
            s.werrno = errno;
    }
    *size = s.started ? s.offset + s.written : s.offset;
    if (s.too_big) {
        snprintf(msg, msg_cap, "the file is larger than %" PRIu64 " bytes", max_bytes);
        return (int)CURLE_FILESIZE_EXCEEDED;
    }
    if (s.bad_range) {
        snprintf(msg, msg_cap, "the server resumed at the wrong offset");
        return (int)CURLE_RANGE_ERROR;
    }
    if (s.werrno) {
        *werrno = s.werrno;
        snprintf(msg, msg_cap, "%s: %s", dest, strerror(s.werrno));
        return (int)CURLE_WRITE_ERROR;
    }
    if (rc != CURLE_OK) {
        set_msg(msg, msg_cap, rc, h->errbuf);
        return (int)rc;
    }
    return 0;
}
