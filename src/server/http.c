/*
 * http.c - the server's HTTP side on libmicrohttpd: a thread pool on epoll
 * reads requests, api.c turns each into a response or into work for the
 * batching engine, and a connection waiting for its embeddings is
 * suspended (it holds no thread) until a batch worker resumes it.
 *
 * Defences: the body is counted against --payload-limit as it arrives
 * (413); a request must arrive whole within --request-timeout of its first
 * byte, or of the connection's start, and a reaper thread shuts down the
 * sockets of connections that dribble (slowloris); idle keep-alive
 * connections close after --idle-timeout; the per-connection memory pool
 * (--max-header-bytes) bounds the request line and headers; --max-connections
 * bounds sockets. SIGTERM/SIGINT: stop accepting, answer 503 to new
 * requests, finish those in flight, exit 0. A second signal exits at once.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A TCP connection, tracked for the request deadline. */
typedef struct conn_node {
    struct conn_node *prev, *next;
    int fd;            /* our own dup of the socket: shutdown() on it is safe
                          even after libmicrohttpd closed its descriptor */
    double deadline;   /* monotonic seconds; 0 = none (request in work) */
    int reaped;
} conn_node;

typedef enum req_state {
    REQ_RECEIVING = 0,
    REQ_DISCARDING,    /* an error is decided; the rest of the body is dropped */
    REQ_WAITING,       /* work submitted; the connection is suspended */
    REQ_DONE
} req_state;

typedef struct srv_http srv_http;

typedef struct http_req {
    srv_http *h;
    struct MHD_Connection *conn;
    conn_node *node;
    double t0;
    char method[16];
    char url[160];
    srv_buf body;
    size_t discarded;       /* body bytes dropped after a 413 was decided */
    req_state state;
    srv_exchange *ex;
    srv_response err;       /* the HTTP layer's own error response */
    int err_class;          /* its srv_errclass, or -1 */
    pthread_mutex_t mu;
    int suspended, work_done;
    int status;
} http_req;

struct srv_http {
    const srv_config *cfg;
    srv_app *app;
    struct MHD_Daemon *daemon;
    pthread_mutex_t conn_mu;
    conn_node *conns;
    atomic_int active;         /* requests between first byte parsed and end */
    atomic_int pending_work;   /* submitted and not yet resumed */
    pthread_t reaper;
    int reaper_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopping;
};

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sembed serve: %s\n", line);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    fprintf(stderr, "sembed serve: http: %s\n", line);
}

/* ==== Connections and the request deadline =================================== */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_node *n = calloc(1, sizeof *n);
        if (!n)
            return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        n->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        n->deadline = mono_now() + h->cfg->request_timeout;
        pthread_mutex_lock(&h->conn_mu);
        n->next = h->conns;
        if (h->conns)
            h->conns->prev = n;
        h->conns = n;
        pthread_mutex_unlock(&h->conn_mu);
        *socket_context = n;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_node *n = *socket_context;
        if (!n)
            return;
        pthread_mutex_lock(&h->conn_mu);
        if (n->prev)
            n->prev->next = n->next;
        else
            h->conns = n->next;
        if (n->next)
            n->next->prev = n->prev;
        if (n->fd >= 0)
            close(n->fd);
        pthread_mutex_unlock(&h->conn_mu);
        free(n);
        *socket_context = NULL;
    }
}

static conn_node *node_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_deadline(srv_http *h, conn_node *n, double deadline) {
    if (!n)
        return;
    pthread_mutex_lock(&h->conn_mu);
    n->deadline = deadline;
    pthread_mutex_unlock(&h->conn_mu);
}

/* The request line arrived: the whole request must follow in time. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    srv_http *h = cls;
    (void)uri;
    set_deadline(h, node_of(conn), mono_now() + h->cfg->request_timeout);
    return NULL;
}

static void *reaper_main(void *arg) {
    srv_http *h = arg;
    pthread_mutex_lock(&h->stop_mu);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->stop_cv, &h->stop_mu, &ts);
        if (h->stopping)
            break;
        double now = mono_now();
        int reaped = 0;
        pthread_mutex_lock(&h->conn_mu);
        for (conn_node *n = h->conns; n; n = n->next) {
            if (n->reaped || n->deadline == 0 || now <= n->deadline || n->fd < 0)
                continue;
            shutdown(n->fd, SHUT_RDWR);
            n->reaped = 1;
            reaped++;
        }
        pthread_mutex_unlock(&h->conn_mu);
        if (reaped && h->cfg->log_requests)
            logf_("closed %d connection(s) that sent no complete request within %d s", reaped,
                  h->cfg->request_timeout);
    }
    pthread_mutex_unlock(&h->stop_mu);
    return NULL;
}

/* ==== Responses ============================================================== */

static enum MHD_Result send_response(http_req *r, srv_response *resp) {
    size_t len = resp->body.len;
    char *data = resp->body.data;
    resp->body.data = NULL;
    resp->body.len = resp->body.cap = 0;
    struct MHD_Response *mr =
        data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->close)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    if (resp->allow[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->www_authenticate)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    /* Extra headers: "name: value" lines. */
    char *line = resp->headers;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            const char *value = colon + 1;
            while (*value == ' ')
                value++;
            MHD_add_response_header(mr, line, value);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    r->status = resp->status;
    r->state = REQ_DONE;
    return ret;
}

/* The HTTP layer's own errors, in the shape of the route's API. */
static void set_http_error(http_req *r, const char *url, srv_errclass cls, const char *msg,
                           int close) {
    srv_error_for_url(r->h->app, url, cls, msg, &r->err);
    r->err.close = close;
    r->err_class = (int)cls;
}

/* ==== Work completion ========================================================= */

static void on_work_done(srv_work *w) {
    http_req *r = w->done_cls;
    srv_http *h = r->h;
    pthread_mutex_lock(&r->mu);
    r->work_done = 1;
    if (r->suspended)
        MHD_resume_connection(r->conn);
    atomic_fetch_sub(&h->pending_work, 1);
    pthread_mutex_unlock(&r->mu);
    /* r may be gone from here on. */
}

/* Counts the request's Content-Length headers. */
static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind;
    (void)value;
    if (key && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        (*(int *)cls)++;
    return MHD_YES;
}

/* Strict Content-Length: digits only, no sign, space or hex. */
static int parse_length(const char *s, unsigned long long *out) {
    if (!s || !*s)
        return -1;
    unsigned long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (~0ULL - 9) / 10)
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    *out = v;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    srv_http *h = cls;
    http_req *r = *con_cls;
    (void)version;
    if (!r) {
        /* Headers complete: set the request up. */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->h = h;
        r->conn = conn;
        r->node = node_of(conn);
        r->t0 = mono_now();
        r->err_class = -1;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        for (char *p = r->url; *p; p++) /* the log stays one line per request */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        pthread_mutex_init(&r->mu, NULL);
        r->ex = srv_exchange_new(h->app);
        *con_cls = r;
        atomic_fetch_add(&h->active, 1);
        if (!r->ex)
            return MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);
        unsigned long long declared = 0;
        int n_lengths = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &n_lengths);
        if (n_lengths > 1) { /* request smuggling: refuse, don't resolve */
            set_http_error(r, url, SRV_ERR_SYNTAX, "more than one Content-Length: refused", 1);
            return send_response(r, &r->err);
        }
        if (te && strcasecmp(te, "chunked") != 0) {
            set_http_error(r, url, SRV_ERR_SYNTAX,
                           "Transfer-Encoding other than chunked: refused", 1);
            return send_response(r, &r->err);
        }
        if (cl && te) {
            set_http_error(r, url, SRV_ERR_SYNTAX,
                           "both Content-Length and Transfer-Encoding: refused", 1);
            return send_response(r, &r->err);
        }
        if (cl && parse_length(cl, &declared)) {
            set_http_error(r, url, SRV_ERR_SYNTAX, "invalid Content-Length", 1);
            return send_response(r, &r->err);
        }
        if (declared > h->cfg->payload_limit) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "the body (%llu bytes) is over the payload limit of %zu bytes", declared,
                     h->cfg->payload_limit);
            set_http_error(r, url, SRV_ERR_TOO_LARGE, msg, 1);
            return send_response(r, &r->err);
        }
        if (declared && srv_buf_reserve(&r->body, (size_t)declared))
            return MHD_NO;
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->state == REQ_DISCARDING) {
            /* Answer 413 once the body ends, but never read more than
             * another payload limit's worth: then just close. */
            r->discarded += n;
            return r->discarded > h->cfg->payload_limit ? MHD_NO : MHD_YES;
        }
        if (r->state != REQ_RECEIVING)
            return MHD_YES;
        if (mono_now() > r->t0 + h->cfg->request_timeout) {
            /* A body that trickles in: drop the connection. */
            r->err_class = SRV_ERR_TIMEOUT;
            return MHD_NO;
        }
        if (n > h->cfg->payload_limit - r->body.len) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body is over the payload limit of %zu bytes",
                     h->cfg->payload_limit);
            set_http_error(r, url, SRV_ERR_TOO_LARGE, msg, 1);
            r->state = REQ_DISCARDING;
            srv_buf_free(&r->body);
            return MHD_YES;
        }
        srv_buf_append(&r->body, upload_data, n);
        return r->body.oom ? MHD_NO : MHD_YES;
    }

    switch (r->state) {
    case REQ_DONE:
        return MHD_YES;
    case REQ_DISCARDING:
        return send_response(r, &r->err);
    case REQ_WAITING:
        /* Resumed: the batch with our inputs has run. */
        srv_exchange_finish(r->ex);
        return send_response(r, srv_exchange_response(r->ex));
    case REQ_RECEIVING:
        break;
    }

    /* The whole request is here. */
    set_deadline(h, r->node, 0);
    srv_request req = {
        .method = method,
        .url = url,
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION),
        .body = r->body.data,
        .body_len = r->body.len,
    };
    if (srv_exchange_begin(r->ex, &req) == SRV_STEP_RESPOND)
        return send_response(r, srv_exchange_response(r->ex));

    srv_work *w = srv_exchange_work(r->ex);
    w->done = on_work_done;
    w->done_cls = r;
    r->state = REQ_WAITING;
    atomic_fetch_add(&h->pending_work, 1);
    /* Submit, then suspend unless the work is already done. Suspending under
     * r->mu, which on_work_done() also takes, guarantees the resume comes
     * after the suspend. */
    srv_app_submit(h->app, w);
    pthread_mutex_lock(&r->mu);
    if (r->work_done) {
        pthread_mutex_unlock(&r->mu);
        srv_exchange_finish(r->ex);
        return send_response(r, srv_exchange_response(r->ex));
    }
    MHD_suspend_connection(conn);
    r->suspended = 1;
    pthread_mutex_unlock(&r->mu);
    return MHD_YES;
}

static const char *termination_name(enum MHD_RequestTerminationCode toe) {
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "idle timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client closed the connection";
    default:
        return "connection error";
    }
}

/* The request is over (answered, or its connection is gone): log it,
 * count it and free it. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    srv_http *h = cls;
    http_req *r = *con_cls;
    *con_cls = NULL;
    set_deadline(h, node_of(conn), mono_now() + h->cfg->idle_timeout);
    if (!r)
        return;
    /* Wait for a worker that is still inside on_work_done(). */
    pthread_mutex_lock(&r->mu);
    pthread_mutex_unlock(&r->mu);
    double secs = mono_now() - r->t0;
    srv_exchange_stats st;
    srv_exchange_get_stats(r->ex, &st);
    if (r->err_class >= 0 && r->status == r->err.status)
        st.error_class = r->err_class;
    srv_app_record(h->app, &st, r->status, secs);
    if (h->cfg->log_requests) {
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        const char *why = termination_name(toe);
        fprintf(stderr, "%s %s %s %d inputs=%zu tokens=%zu %.2fms%s%s\n", when, r->method,
                r->url, r->status, st.n_inputs, st.n_tokens, secs * 1e3, why ? " " : "",
                why ? why : "");
    }
    srv_exchange_free(r->ex);
    srv_buf_free(&r->body);
    srv_buf_free(&r->err.body);
    pthread_mutex_destroy(&r->mu);
    free(r);
    atomic_fetch_sub(&h->active, 1);
}

/* ==== Listening socket ======================================================== */

/* Binds host:port (port 0: any free port); returns the socket or -1. */
static int listen_on(const char *host, int port, int *family, int *bound_port, char *addr_text,
                     size_t cap) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        logf_("cannot listen on %s:%d: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            *family = ai->ai_family;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        logf_("cannot listen on %s:%d: %s", host, port, strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char text[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        *bound_port = ntohs(a->sin6_port);
        snprintf(addr_text, cap, "[%s]", text);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        *bound_port = ntohs(a->sin_port);
        snprintf(addr_text, cap, "%s", text);
    }
    return fd;
}

/* Writes the port to path atomically (tests wait for this file). */
static int write_port_file(const char *path, int port) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fprintf(f, "%d\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Each connection needs two descriptors (its socket and our dup): keep the
 * connection limit under what the process may open. */
static int fit_connection_limit(int wanted) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return wanted;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = (rlim_t)wanted * 2 + 256;
        rl.rlim_cur = want < rl.rlim_max ? (want > rl.rlim_cur ? want : rl.rlim_cur) : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    long room = ((long)rl.rlim_cur - 128) / 2;
    if (room < 16)
        room = 16;
    if (wanted > room) {
        logf_("--max-connections %d is more than the descriptor limit allows; using %ld", wanted,
              room);
        return (int)room;
    }
    return wanted;
}

/* ==== Run ====================================================================== */

int srv_http_run(const srv_config *cfg, srv_app *app) {
    srv_http h;
    memset(&h, 0, sizeof h);
    h.cfg = cfg;
    h.app = app;
    pthread_mutex_init(&h.conn_mu, NULL);
    pthread_mutex_init(&h.stop_mu, NULL);
    pthread_cond_init(&h.stop_cv, NULL);
    int rc = 1;

    int family = AF_INET, port = 0;
    MHD_socket qfd = MHD_INVALID_SOCKET;
    char addr_text[64];
    int lfd = listen_on(cfg->host, cfg->port, &family, &port, addr_text, sizeof addr_text);
    if (lfd < 0)
        goto out;
    int max_conn = fit_connection_limit(cfg->max_connections);

    /* A pool of threads on epoll; ITC (also implied by suspend/resume)
     * lets MHD_quiesce_daemon() stop accepting in pool mode. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger must come first to catch every message. */
    h.daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, &h,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->http_threads > 0 ? cfg->http_threads : 1),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->max_header_bytes, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &h, MHD_OPTION_URI_LOG_CALLBACK, on_uri, &h,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
    if (!h.daemon) {
        logf_("cannot start the HTTP server on %s:%d", addr_text, port);
        close(lfd);
        goto out;
    }
    if (pthread_create(&h.reaper, NULL, reaper_main, &h) == 0)
        h.reaper_started = 1;
    logf_("listening on http://%s:%d", addr_text, port);
    if (cfg->port_file && write_port_file(cfg->port_file, port) != 0) {
        logf_("cannot write the port file %s: %s", cfg->port_file, strerror(errno));
        goto stop;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    for (;;) {
        struct timespec ts = {1, 0};
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    logf_("%s: finishing %d request(s) in flight, then exiting", strsignal(sig),
          atomic_load(&h.active));
    srv_app_set_draining(app);
    /* The pool threads drop the listening socket from their epoll sets
     * asynchronously: shut it down now (new connections are refused) but
     * close it only once the daemon has stopped. */
    qfd = MHD_quiesce_daemon(h.daemon);
    if (qfd != MHD_INVALID_SOCKET)
        shutdown(qfd, SHUT_RDWR);
    double deadline = mono_now() + cfg->drain_timeout;
    int said = 0;
    while (atomic_load(&h.active) > 0) {
        struct timespec ts = {0, 20 * 1000000L};
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            logf_("second signal: exiting now");
            _exit(1);
        }
        if (mono_now() > deadline) {
            /* libmicrohttpd may not stop with a connection suspended: wait
             * for the batches in progress (they always end). */
            if (atomic_load(&h.pending_work) == 0)
                break;
            if (!said)
                logf_("drain timeout: waiting for %d batch(es) in progress",
                      atomic_load(&h.pending_work));
            said = 1;
        }
    }
    rc = 0;
stop:
    if (h.reaper_started) {
        pthread_mutex_lock(&h.stop_mu);
        h.stopping = 1;
        pthread_cond_signal(&h.stop_cv);
        pthread_mutex_unlock(&h.stop_mu);
        pthread_join(h.reaper, NULL);
    }
    while (atomic_load(&h.pending_work) > 0) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h.daemon);
    if (qfd != MHD_INVALID_SOCKET)
        close(qfd);
    if (rc == 0)
        logf_("stopped");
out:
    pthread_cond_destroy(&h.stop_cv);
    pthread_mutex_destroy(&h.stop_mu);
    pthread_mutex_destroy(&h.conn_mu);
    return rc;
}
