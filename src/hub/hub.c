/*
 * hub.c - models by name: resolve a --model argument to a folder, using
 * the huggingface_hub cache (read and written in its layout so that Python
 * and sembed share downloads) and downloading what is missing.
 *
 * Cache layout, as huggingface_hub writes it:
 *   <cache>/models--ORG--NAME/refs/<revision>        the commit id
 *   <cache>/models--ORG--NAME/blobs/<etag>            file contents
 *   <cache>/models--ORG--NAME/snapshots/<commit>/<f>  relative symlink to blobs/
 *   <cache>/models--ORG--NAME/.no_exist/<commit>/<f>  "the repo has no f"
 *   <cache>/.locks/models--ORG--NAME/<etag>.lock      flock while downloading
 * A blob is written as blobs/<etag>.incomplete (resumable), checked (size,
 * and sha256 for LFS files) and renamed; only then does a snapshot link
 * point at it, and refs/<revision> is written once the whole model is
 * there. So no failure leaves a snapshot that looks complete but is not.
 */
#include "hub/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"

_Static_assert(HUB_MAX_ENDPOINT < sizeof(((sembed_hub_info *)0)->endpoint),
               "sembed_hub_info.endpoint holds any endpoint");
_Static_assert(HUB_MAX_REPO_ID < sizeof(((sembed_hub_info *)0)->repo_id),
               "sembed_hub_info.repo_id holds any repo id");
_Static_assert(HUB_MAX_REVISION < sizeof(((sembed_hub_info *)0)->revision),
               "sembed_hub_info.revision holds any revision");

sembed_hub_params sembed_hub_default_params(void) {
    sembed_hub_params p;
    memset(&p, 0, sizeof p);
    p.offline = -1;
    return p;
}

/* ==== Settings ============================================================ */

/* The effective settings of one call, with the environment applied. */
typedef struct hub_settings {
    char endpoint[HUB_MAX_ENDPOINT + 1];
    char cache[HUB_PATH_CAP];
    char token[HUB_MAX_TOKEN + 1];
    int offline;
    const char *offline_why;   /* what turned offline mode on, for messages */
    long etag_timeout_s;
    long download_timeout_s;
    uint64_t max_file_bytes;
} hub_settings;

/* getenv that treats an empty value as unset. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Writes path into out with a leading "~" expanded to $HOME. */
static sembed_status expand_user(const char *path, char *out, size_t cap, sembed_error *err) {
    int n;
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0)) {
        const char *home = env("HOME");
        if (!home)
            return set_error(err, SEMBED_ERR_NOT_FOUND,
                             "HOME is not set: set HF_HUB_CACHE or HF_HOME to choose the cache");
        n = snprintf(out, cap, "%s%s", home, path + 1);
    } else {
        n = snprintf(out, cap, "%s", path);
    }
    if (n < 0 || (size_t)n >= cap)
        return set_error(err, SEMBED_ERR_LIMIT, "path too long: %.64s...", path);
    return SEMBED_OK;
}

/* $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
static sembed_status hf_home(char *out, size_t cap, sembed_error *err) {
    const char *home = env("HF_HOME");
    if (home)
        return expand_user(home, out, cap, err);
    char buf[HUB_PATH_CAP];
    const char *xdg = env("XDG_CACHE_HOME");
    int n = snprintf(buf, sizeof buf, "%s/huggingface", xdg ? xdg : "~/.cache");
    if (n < 0 || (size_t)n >= sizeof buf)
        return set_error(err, SEMBED_ERR_LIMIT, "XDG_CACHE_HOME is too long");
    return expand_user(buf, out, cap, err);
}

sembed_status sembed_hub_cache_dir(const sembed_hub_params *params, char *out, size_t cap,
                                   sembed_error *err) {
    if (!out || cap == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "no output buffer for the cache dir");
    out[0] = 0;
    if (params && params->cache_dir && *params->cache_dir)
        return expand_user(params->cache_dir, out, cap, err);
    const char *c = env("HF_HUB_CACHE");
    if (!c)
        c = env("HUGGINGFACE_HUB_CACHE");
    if (c)
        return expand_user(c, out, cap, err);
    char home[HUB_PATH_CAP];
    sembed_status st = hf_home(home, sizeof home, err);
    if (st)
        return st;
    return path_join(out, cap, home, "hub", err);
}

/* A positive whole number of seconds from the environment, or def. */
static sembed_status env_seconds(const char *name, long def, long *out, sembed_error *err) {
    const char *v = env(name);
    *out = def;
    if (!v)
        return SEMBED_OK;
    long n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || n > HUB_MAX_TIMEOUT_S)
            goto bad;
        n = n * 10 + (*p - '0');
    }
    if (n < 1 || n > HUB_MAX_TIMEOUT_S)
        goto bad;
    *out = n;
    return SEMBED_OK;
bad:
    return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                     "%s must be a whole number of seconds from 1 to %d, not '%.32s'", name,
                     HUB_MAX_TIMEOUT_S, v);
}

/* Copies a token, trimming surrounding white space (token files end with
 * a newline); refuses control characters, which would corrupt the header. */
static sembed_status set_token(hub_settings *s, const char *tok, size_t len, const char *from,
                               sembed_error *err) {
    while (len && (*tok == ' ' || *tok == '\t' || *tok == '\r' || *tok == '\n')) {
        tok++;
        len--;
    }
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t' || tok[len - 1] == '\r' ||
                   tok[len - 1] == '\n'))
        len--;
    if (len > HUB_MAX_TOKEN)
        return set_error(err, SEMBED_ERR_LIMIT, "the token from %s is longer than %d bytes", from,
                         HUB_MAX_TOKEN);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] < 0x20 || tok[i] == 0x7f)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "the token from %s contains a control character", from);
    memcpy(s->token, tok, len);
    s->token[len] = 0;
    return SEMBED_OK;
}

static sembed_status load_token(const sembed_hub_params *p, hub_settings *s, sembed_error *err) {
    s->token[0] = 0;
    if (p->token)
        return set_token(s, p->token, strlen(p->token), "the parameters", err);
    if (hub_env_true(env("HF_HUB_DISABLE_IMPLICIT_TOKEN")))
        return SEMBED_OK;
    const char *t = env("HF_TOKEN");
    if (t)
        return set_token(s, t, strlen(t), "HF_TOKEN", err);
    char path[HUB_PATH_CAP];
    sembed_status st;
    const char *tp = env("HF_TOKEN_PATH");
    if (tp) {
        st = expand_user(tp, path, sizeof path, err);
    } else {
        char home[HUB_PATH_CAP];
        st = hf_home(home, sizeof home, err);
        if (!st)
            st = path_join(path, sizeof path, home, "token", err);
    }
    if (st)
        return st;
    /* As huggingface_hub: an absent or unreadable token file means no token. */
    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, HUB_MAX_TOKEN + 64, &buf, &len, NULL) != SEMBED_OK)
        return SEMBED_OK;
    st = set_token(s, buf, len, path, err);
    memset(buf, 0, len);
    free(buf);
    return st;
}

static sembed_status load_settings(const sembed_hub_params *p, hub_settings *s,
                                   sembed_error *err) {
    sembed_status st;
    memset(s, 0, sizeof *s);
    const char *ep = p->endpoint && *p->endpoint ? p->endpoint : env("HF_ENDPOINT");
    if (!ep)
        ep = DEFAULT_ENDPOINT;
    size_t n = strlen(ep);
    while (n && ep[n - 1] == '/')
        n--;
    if (n > HUB_MAX_ENDPOINT)
        return set_error(err, SEMBED_ERR_LIMIT, "endpoint longer than %d bytes", HUB_MAX_ENDPOINT);
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "endpoint '%.200s' must start with http:// or https://", ep);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ep[i] <= 0x20 || ep[i] == 0x7f)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "endpoint '%.200s' contains a space or control character", ep);
    memcpy(s->endpoint, ep, n);
    s->endpoint[n] = 0;

    if ((st = sembed_hub_cache_dir(p, s->cache, sizeof s->cache, err)))
        return st;
    if (p->offline >= 0) {
        s->offline = p->offline != 0;
        s->offline_why = "offline was asked for";
    } else if (hub_env_true(env("HF_HUB_OFFLINE"))) {
        s->offline = 1;
        s->offline_why = "HF_HUB_OFFLINE is set";
    } else if (hub_env_true(env("TRANSFORMERS_OFFLINE"))) {
        s->offline = 1;
        s->offline_why = "TRANSFORMERS_OFFLINE is set";
    }
    if (p->etag_timeout_s < 0 || p->download_timeout_s < 0 ||
        p->etag_timeout_s > HUB_MAX_TIMEOUT_S || p->download_timeout_s > HUB_MAX_TIMEOUT_S)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "timeouts must be 0 to %d seconds",
                         HUB_MAX_TIMEOUT_S);
    if (p->etag_timeout_s > 0)
        s->etag_timeout_s = p->etag_timeout_s;
    else if ((st = env_seconds("HF_HUB_ETAG_TIMEOUT", HUB_DEFAULT_TIMEOUT_S, &s->etag_timeout_s,
                               err)))
        return st;
    if (p->download_timeout_s > 0)
        s->download_timeout_s = p->download_timeout_s;
    else if ((st = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", HUB_DEFAULT_TIMEOUT_S,
                               &s->download_timeout_s, err)))
        return st;
    s->max_file_bytes = p->max_file_bytes ? p->max_file_bytes : SEMBED_HUB_DEFAULT_MAX_FILE_BYTES;
    if (s->offline)
        return SEMBED_OK; /* no token is needed and none should be read */
    return load_token(p, s, err);
}

/* ==== One resolution ====================================================== */

typedef struct hub_job {
    hub_settings set;
    const sembed_hub_params *params;
    sembed_hub_info *info;
    char repo_id[HUB_MAX_REPO_ID + 1];
    char revision[HUB_MAX_REVISION + 1];
    char commit[72];
    char folder[HUB_MAX_REPO_ID + 16];   /* models--ORG--NAME */
    char repo_dir[HUB_PATH_CAP];         /* <cache>/models--ORG--NAME */
    hub_http *http;
    sembed_error *err;
} hub_job;

/* Formats a path under the repo folder; SEMBED_ERR_LIMIT when too long. */
static sembed_status repo_path(hub_job *j, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sembed_status repo_path(hub_job *j, char *out, size_t cap, const char *fmt, ...) {
    int n = snprintf(out, cap, "%s/", j->repo_dir);
    if (n < 0 || (size_t)n >= cap)
        goto too_long;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
        goto too_long;
    return SEMBED_OK;
too_long:
    return set_error(j->err, SEMBED_ERR_LIMIT, "cache path too long under %.200s", j->repo_dir);
}

/* Creates every missing directory above path (not path itself). */
static sembed_status make_parents(const char *path, sembed_error *err) {
    char buf[HUB_PATH_CAP];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return set_error(err, SEMBED_ERR_LIMIT, "path too long: %.200s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return set_error(err, SEMBED_ERR_IO, "cannot create %s: %s", buf, strerror(e));
        }
        buf[i] = '/';
    }
    return SEMBED_OK;
}

/* Writes data to path through a temporary file and a rename. */
static sembed_status write_atomic(const char *path, const char *data, size_t len,
                                  sembed_error *err) {
    sembed_status st = make_parents(path, err);
    if (st)
        return st;
    char tmp[HUB_PATH_CAP + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return set_error(err, SEMBED_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, data, len);
    int bad = w < 0 || (size_t)w != len;
    if (close(fd) != 0)
        bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return set_error(err, SEMBED_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return SEMBED_OK;
}

/* Reads refs/<revision>; 0 and the commit when present and valid. */
static int read_ref(hub_job *j, char *commit, size_t cap) {
    char path[HUB_PATH_CAP];
    if (repo_path(j, path, sizeof path, "refs/%s", j->revision))
        return -1;
    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, 256, &buf, &len, NULL) != SEMBED_OK)
        return -1;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = 0;
    int ok = hub_is_commit(buf) && len < cap;
    if (ok)
        memcpy(commit, buf, len + 1);
    free(buf);
    return ok ? 0 : -1;
}

/* 1 when snapshots/<commit>/<path> is a readable regular file (symlinks
 * followed: a link to a missing blob does not count). */
static int snapshot_has(const char *path, void *user) {
    hub_job *j = user;
    char p[HUB_PATH_CAP];
    if (repo_path(j, p, sizeof p, "snapshots/%s/%s", j->commit, path))
        return 0;
    return file_exists(p);
}

static int no_exist_has(hub_job *j, const char *path) {
    char p[HUB_PATH_CAP];
    struct stat st;
    if (repo_path(j, p, sizeof p, ".no_exist/%s/%s", j->commit, path))
        return 0;
    return lstat(p, &st) == 0;
}

/* Records that the repo has no such file at this commit (best effort). */
static void mark_no_exist(hub_job *j, const char *path) {
    char p[HUB_PATH_CAP];
    if (repo_path(j, p, sizeof p, ".no_exist/%s/%s", j->commit, path) ||
        make_parents(p, NULL))
        return;
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

/* Points snapshots/<commit>/<path> at blobs/<etag> with a relative link,
 * replacing whatever was there in one rename. */
static sembed_status link_snapshot(hub_job *j, const char *path, const char *etag) {
    char dst[HUB_PATH_CAP], target[HUB_PATH_CAP], tmp[HUB_PATH_CAP + 32];
    sembed_status st;
    if ((st = repo_path(j, dst, sizeof dst, "snapshots/%s/%s", j->commit, path)) ||
        (st = hub_blob_link_target(path, etag, target, sizeof target, j->err)) ||
        (st = make_parents(dst, j->err)))
        return st;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", dst, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return set_error(j->err, SEMBED_ERR_IO, "cannot link %s to the blob %s: %s", dst, etag,
                         strerror(e));
    }
    return SEMBED_OK;
}

/* sha256 of a file as 64 lower-case hex digits. */
static sembed_status file_sha256(const char *path, char out[65], sembed_error *err) {
    sembed_status st = SEMBED_OK;
    unsigned char *buf = NULL;
    EVP_MD_CTX *md = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return set_error(err, SEMBED_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(1u << 20);
    md = EVP_MD_CTX_new();
    if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "cannot start sha256");
        goto done;
    }
    for (;;) {
        ssize_t r = read(fd, buf, 1u << 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = set_error(err, SEMBED_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)r);
    }
    unsigned char d[32];
    unsigned dn = 0;
    EVP_DigestFinal_ex(md, d, &dn);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
done:
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return st;
}

/* ---- messages ------------------------------------------------------------ */

static sembed_status network_error(hub_job *j, const char *what, const char *msg) {
    return set_error(j->err, SEMBED_ERR_NETWORK,
                     "cannot reach %s (%s) for %s of %s; check the network or proxy settings, "
                     "or set HF_HUB_OFFLINE=1 to use models already in the cache",
                     j->set.endpoint, msg, what, j->repo_id);
}

/* An HTTP answer that is not a success. */
static sembed_status status_error(hub_job *j, const hub_response *r, const char *file) {
    long code = r->status;
    const char *ec = r->error_code;
    if (code == 401 || code == 403) {
        if (!j->set.token[0])
            return set_error(j->err, SEMBED_ERR_AUTH,
                             "%s answered %ld for %s: the repository does not exist, or it is "
                             "private or gated; for a private or gated model set HF_TOKEN to an "
                             "access token that may read it",
                             j->set.endpoint, code, j->repo_id);
        return set_error(j->err, SEMBED_ERR_AUTH,
                         "%s answered %ld for %s: the repository does not exist, or the token "
                         "was refused or may not read it (gated models need their terms "
                         "accepted on the Hub)",
                         j->set.endpoint, code, j->repo_id);
    }
    if (code == 404 && !strcmp(ec, "RepoNotFound"))
        return set_error(j->err, SEMBED_ERR_NOT_FOUND, "repository %s not found on %s%s",
                         j->repo_id, j->set.endpoint,
                         j->set.token[0] ? ", or the token may not read it" : "");
    if (code == 404 && !strcmp(ec, "RevisionNotFound"))
        return set_error(j->err, SEMBED_ERR_NOT_FOUND, "revision '%s' not found in %s on %s",
                         j->revision, j->repo_id, j->set.endpoint);
    if (code == 404)
        return set_error(j->err, SEMBED_ERR_NOT_FOUND,
                         "%s not found in %s at revision '%s' on %s (a sembed model needs it)",
                         file, j->repo_id, j->revision, j->set.endpoint);
    return set_error(j->err, SEMBED_ERR_NETWORK,
                     "%s answered HTTP %ld for %s of %s%s%s; try again later, or set "
                     "HF_HUB_OFFLINE=1 to use models already in the cache",
                     j->set.endpoint, code, file, j->repo_id, r->error_message[0] ? ": " : "",
                     r->error_message);
}

/* ---- transfers ----------------------------------------------------------- */

static sembed_status file_url(hub_job *j, const char *rev, const char *file, char *url,
                              size_t cap) {
    char qrev[3 * HUB_MAX_REVISION + 1], qfile[3 * HUB_MAX_REPO_PATH + 1];
    sembed_status st;
    if ((st = hub_quote(rev, 0, qrev, sizeof qrev, j->err)) ||
        (st = hub_quote(file, 1, qfile, sizeof qfile, j->err)))
        return st;
    int n = snprintf(url, cap, "%s/%s/resolve/%s/%s", j->set.endpoint, j->repo_id, qrev, qfile);
    if (n < 0 || (size_t)n >= cap)
        return set_error(j->err, SEMBED_ERR_LIMIT, "URL too long for %.64s", file);
    return SEMBED_OK;
}

static sembed_status open_http(hub_job *j) {
    if (j->http)
        return SEMBED_OK;
    return hub_http_open(&j->http, j->set.token, j->set.etag_timeout_s, j->set.download_timeout_s,
                         j->err);
}

static sembed_status head(hub_job *j, const char *rev, const char *file, hub_response *r) {
    char url[HUB_MAX_URL], msg[CURL_ERROR_SIZE + 64];
    sembed_status st;
    if ((st = file_url(j, rev, file, url, sizeof url)) || (st = open_http(j)))
        return st;
    if (hub_http_head(j->http, url, r, msg, sizeof msg))
        return network_error(j, file, msg);
    return SEMBED_OK;
}

/* Takes the download lock of a blob (shared with huggingface_hub, which
 * flocks the same file) into *fd. */
static sembed_status lock_blob(hub_job *j, const char *etag, int *fd) {
    char path[HUB_PATH_CAP];
    int n = snprintf(path, sizeof path, "%s/.locks/%s/%s.lock", j->set.cache, j->folder, etag);
    if (n < 0 || (size_t)n >= sizeof path)
        return set_error(j->err, SEMBED_ERR_LIMIT, "lock path too long under %.200s",
                         j->set.cache);
    sembed_status st = make_parents(path, j->err);
    if (st)
        return st;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return set_error(j->err, SEMBED_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return set_error(j->err, SEMBED_ERR_IO, "cannot lock %s: %s", path, strerror(e));
        }
    }
    return SEMBED_OK;
}

/* Downloads one blob: blobs/<etag>.incomplete (resumed when present),
 * checked against the announced size and, for LFS files, the sha256 that
 * is their ETag, then renamed to blobs/<etag>. */
static sembed_status fetch_blob(hub_job *j, const char *file, const char *etag, int lfs,
                                int has_size, uint64_t size, const char *blob) {
    char part[HUB_PATH_CAP + 16], url[HUB_MAX_URL], msg[CURL_ERROR_SIZE + 256];
    sembed_status st;
    snprintf(part, sizeof part, "%s.incomplete", blob);
    if ((st = file_url(j, j->commit, file, url, sizeof url)) || (st = make_parents(part, j->err)) ||
        (st = open_http(j)))
        return st;
    struct stat sb;
    if (has_size && stat(part, &sb) == 0 && (uint64_t)sb.st_size > size)
        unlink(part); /* longer than the file: not a prefix of it */

    uint64_t got = 0;
    for (int attempt = 0;; attempt++) {
        if (has_size && stat(part, &sb) == 0 && (uint64_t)sb.st_size == size) {
            got = size; /* a previous run finished the bytes but not the checks */
            break;
        }
        hub_response r;
        int werr = 0;
        int rc = hub_http_get(j->http, url, part, j->set.max_file_bytes, file,
                              j->params->progress, j->params->progress_user, &r, &got, &werr,
                              msg, sizeof msg);
        if (rc == 0 && r.status == 416 && attempt == 0) {
            unlink(part); /* the server cannot continue this partial file */
            continue;
        }
        if (rc == (int)CURLE_FILESIZE_EXCEEDED) {
            unlink(part);
            return set_error(j->err, SEMBED_ERR_LIMIT, "%s of %s: %s", file, j->repo_id, msg);
        }
        if (rc == (int)CURLE_WRITE_ERROR)
            return set_error(j->err, SEMBED_ERR_IO, "cannot write %s", msg);
        if (rc == (int)CURLE_RANGE_ERROR) {
            unlink(part);
            return set_error(j->err, SEMBED_ERR_NETWORK, "%s of %s: %s; run again to restart it",
                             file, j->repo_id, msg);
        }
        if (rc != 0) {
            if (got == 0) {
                unlink(part);
                return network_error(j, file, msg);
            }
            char total[40] = "?";
            if (has_size)
                snprintf(total, sizeof total, "%" PRIu64, size);
            return set_error(j->err, SEMBED_ERR_NETWORK,
                             "download of %s from %s was interrupted after %" PRIu64 " of %s "
                             "bytes (%s); run the same command again to resume it",
                             file, j->set.endpoint, got, total, msg);
        }
        if (r.status < 200 || r.status >= 300) {
            if (got == 0)
                unlink(part);
            return status_error(j, &r, file);
        }
        break;
    }
    if (has_size && got != size) {
        unlink(part);
        return set_error(j->err, SEMBED_ERR_MISMATCH,
                         "%s of %s: received %" PRIu64 " bytes but the Hub announced %" PRIu64
                         "; the partial file was removed",
                         file, j->repo_id, got, size);
    }
    if (lfs) {
        char sha[65];
        if ((st = file_sha256(part, sha, j->err)))
            return st;
        if (strcmp(sha, etag) != 0) {
            unlink(part);
            return set_error(j->err, SEMBED_ERR_MISMATCH,
                             "%s of %s: sha256 %s does not match %s announced by the Hub; the "
                             "file was not kept",
                             file, j->repo_id, sha, etag);
        }
    }
    if (rename(part, blob) != 0)
        return set_error(j->err, SEMBED_ERR_IO, "cannot rename %s: %s", part, strerror(errno));
    if (j->info) {
        j->info->files_downloaded++;
        j->info->bytes_downloaded += got;
    }
    return SEMBED_OK;
}

typedef enum fetch_result { FETCH_PRESENT, FETCH_ABSENT } fetch_result;

/* Makes snapshots/<commit>/<file> present, or records that the repo lacks
 * it. pre, when not NULL, is the HEAD answer already received for file. */
static sembed_status fetch_file(hub_job *j, const char *file, hub_need need,
                                const hub_response *pre, fetch_result *res) {
    sembed_status st;
    *res = FETCH_PRESENT;
    if (snapshot_has(file, j))
        return SEMBED_OK;
    if (no_exist_has(j, file)) {
        *res = FETCH_ABSENT;
        if (need == HUB_REQUIRED)
            return set_error(j->err, SEMBED_ERR_NOT_FOUND, "%s not found in %s at commit %s",
                             file, j->repo_id, j->commit);
        return SEMBED_OK;
    }
    hub_response r;
    if (pre)
        r = *pre;
    else if ((st = head(j, j->commit, file, &r)))
        return st;

    int ok = (r.status >= 200 && r.status < 300) || (r.status >= 300 && r.status < 400);
    if (r.status == 404 && need != HUB_REQUIRED && strcmp(r.error_code, "RepoNotFound") &&
        strcmp(r.error_code, "RevisionNotFound")) {
        mark_no_exist(j, file);
        *res = FETCH_ABSENT;
        return SEMBED_OK;
    }
    if (!ok)
        return status_error(j, &r, file);

    char etag[160];
    int lfs = r.linked_etag[0] != 0;
    if (hub_normalize_etag(lfs ? r.linked_etag : r.etag, etag, sizeof etag))
        return set_error(j->err, SEMBED_ERR_FORMAT,
                         "%s sent no usable ETag for %s of %s (got '%.64s')", j->set.endpoint,
                         file, j->repo_id, lfs ? r.linked_etag : r.etag);
    /* An LFS ETag is the file's sha256, which is then checked. */
    lfs = lfs && strlen(etag) == 64 && hub_is_commit(etag);
    int has_size = 0;
    uint64_t size = 0;
    if (r.has_linked_size) {
        has_size = 1;
        size = r.linked_size;
    } else if (r.status >= 200 && r.status < 300 && r.has_content_length) {
        has_size = 1;
        size = r.content_length;
    }
    if (has_size && size > j->set.max_file_bytes)
        return set_error(j->err, SEMBED_ERR_LIMIT,
                         "%s of %s is %" PRIu64 " bytes, more than the limit of %" PRIu64, file,
                         j->repo_id, size, j->set.max_file_bytes);

    char blob[HUB_PATH_CAP];
    if ((st = repo_path(j, blob, sizeof blob, "blobs/%s", etag)))
        return st;
    if (!file_exists(blob)) {
        int lock = -1;
        if ((st = lock_blob(j, etag, &lock)))
            return st;
        /* Another process may have finished it while we waited. */
        st = file_exists(blob) ? SEMBED_OK : fetch_blob(j, file, etag, lfs, has_size, size, blob);
        close(lock);
        if (st)
            return st;
    }
    return link_snapshot(j, file, etag);
}

/* ---- the whole model ----------------------------------------------------- */

/* Builds the plan from the snapshot's modules.json (or none). */
static sembed_status snapshot_plan(hub_job *j, hub_plan *plan) {
    char path[HUB_PATH_CAP];
    sembed_status st = repo_path(j, path, sizeof path, "snapshots/%s/modules.json", j->commit);
    if (st)
        return st;
    if (!file_exists(path))
        return hub_plan_build(plan, NULL, 0, j->err);
    char *buf = NULL;
    size_t len = 0;
    if ((st = read_file(path, HUB_MAX_MODULES_JSON, &buf, &len, j->err)))
        return st;
    st = hub_plan_build(plan, buf, len, j->err);
    free(buf);
    return st;
}

static sembed_status download(hub_job *j, hub_plan *plan) {
    sembed_status st;
    hub_response first;
    const hub_response *pre = NULL;
    if (hub_is_commit(j->revision)) {
        memcpy(j->commit, j->revision, strlen(j->revision) + 1); /* a commit id: 40 or 64 bytes */
    } else {
        /* The first answer names the commit; every later URL uses it, so
         * that a push during the download cannot mix two versions. */
        if ((st = head(j, j->revision, "modules.json", &first)))
            return st;
        int usable = first.status < 400 || (first.status == 404 && first.error_code[0] &&
                                            strcmp(first.error_code, "RepoNotFound") &&
                                            strcmp(first.error_code, "RevisionNotFound"));
        if (!usable)
            return status_error(j, &first, "modules.json");
        if (!hub_is_commit(first.commit))
            return set_error(j->err, SEMBED_ERR_FORMAT,
                             "%s sent no valid X-Repo-Commit for %s@%s (is it a Hugging Face "
                             "Hub endpoint?)",
                             j->set.endpoint, j->repo_id, j->revision);
        snprintf(j->commit, sizeof j->commit, "%s", first.commit);
        pre = &first;
    }
    fetch_result res;
    if ((st = fetch_file(j, "modules.json", HUB_OPTIONAL, pre, &res)) ||
        (st = snapshot_plan(j, plan)))
        return st;
    int have_tok = 0, tok_checked = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const hub_plan_file *f = &plan->files[i];
        if (!strcmp(f->path, "modules.json"))
            continue;
        /* The weights come last: refuse a repo without a tokenizer before them. */
        size_t len = strlen(f->path);
        if (!tok_checked && len >= 12 && !strcmp(f->path + len - 12, ".safetensors")) {
            tok_checked = 1;
            if (!have_tok)
                return set_error(j->err, SEMBED_ERR_NOT_FOUND,
                                 "%s at revision '%s' has no tokenizer.json nor vocab.txt: it "
                                 "is not a model sembed can load",
                                 j->repo_id, j->revision);
        }
        if ((st = fetch_file(j, f->path, f->need, NULL, &res)))
            return st;
        if (f->need == HUB_TOKENIZER && res == FETCH_PRESENT)
            have_tok = 1;
    }
    const char *missing = NULL;
    if (!hub_plan_satisfied(plan, snapshot_has, j, &missing))
        return set_error(j->err, SEMBED_ERR_NOT_FOUND,
                         "%s at revision '%s' has no %s: it is not a model sembed can load",
                         j->repo_id, j->revision, missing);
    if (!hub_is_commit(j->revision)) {
        char path[HUB_PATH_CAP];
        if ((st = repo_path(j, path, sizeof path, "refs/%s", j->revision)) ||
            (st = write_atomic(path, j->commit, strlen(j->commit), j->err)))
            return st;
    }
    return SEMBED_OK;
}

/* 1 when the cached snapshot of j->commit has everything the plan needs;
 * else 0 with the first missing file copied into missing. */
static int snapshot_complete(hub_job *j, char *missing, size_t cap) {
    hub_plan *plan = malloc(sizeof *plan);
    if (!plan)
        return 0;
    const char *m = "modules.json";
    int ok = snapshot_plan(j, plan) == SEMBED_OK && hub_plan_satisfied(plan, snapshot_has, j, &m);
    if (!ok)
        snprintf(missing, cap, "%s", m);
    free(plan);
    return ok;
}

static sembed_status run(hub_job *j, char *dir, size_t cap) {
    sembed_status st;
    if ((st = hub_repo_folder(j->repo_id, j->folder, sizeof j->folder, j->err)) ||
        (st = path_join(j->repo_dir, sizeof j->repo_dir, j->set.cache, j->folder, j->err)))
        return st;
    if (j->info) {
        snprintf(j->info->repo_id, sizeof j->info->repo_id, "%s", j->repo_id);
        snprintf(j->info->revision, sizeof j->info->revision, "%s", j->revision);
    }

    /* The cache first: a complete snapshot of a known commit needs no request. */
    int cached = 0;
    char missing[HUB_MAX_REPO_PATH + 1] = "";
    if (hub_is_commit(j->revision)) {
        memcpy(j->commit, j->revision, strlen(j->revision) + 1); /* a commit id: 40 or 64 bytes */
        cached = snapshot_complete(j, missing, sizeof missing);
    } else if (read_ref(j, j->commit, sizeof j->commit) == 0) {
        cached = snapshot_complete(j, missing, sizeof missing);
    }
    if (cached && (j->set.offline || !j->params->refresh)) {
        if (j->info)
            j->info->source = SEMBED_HUB_CACHED;
    } else if (j->set.offline) {
        return set_error(j->err, SEMBED_ERR_NOT_FOUND,
                         "%s (revision '%s') is not in the cache %s%s%s, and offline mode is on "
                         "(%s): download it once while online",
                         j->repo_id, j->revision, j->repo_dir, j->commit[0] ? ": no " : "",
                         j->commit[0] ? missing : "", j->set.offline_why);
    } else {
        if (j->info) {
            j->info->source = SEMBED_HUB_DOWNLOADED;
            memcpy(j->info->endpoint, j->set.endpoint, strlen(j->set.endpoint) + 1);
        }
        j->commit[0] = 0;
        hub_plan *plan = malloc(sizeof *plan);
        if (!plan)
            return set_error(j->err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        st = download(j, plan);
        free(plan);
        if (st)
            return st;
    }
    if (j->info)
        snprintf(j->info->commit, sizeof j->info->commit, "%s", j->commit);
    int n = snprintf(dir, cap, "%s/snapshots/%s", j->repo_dir, j->commit);
    if (n < 0 || (size_t)n >= cap)
        return set_error(j->err, SEMBED_ERR_LIMIT, "model folder path longer than %zu bytes", cap);
    return SEMBED_OK;
}

sembed_status sembed_hub_download(const char *repo_id, const char *revision,
                                  const sembed_hub_params *params, char *dir, size_t cap,
                                  sembed_hub_info *info, sembed_error *err) {
    if (!repo_id || !dir || cap == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "no repo id or output folder buffer");
    dir[0] = 0;
    if (!revision)
        revision = "main";
    if (!hub_valid_repo_id(repo_id))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "'%.200s' is not a valid Hub repo id",
                         repo_id);
    if (!hub_valid_revision(revision))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "'%.200s' is not a valid revision",
                         revision);
    sembed_hub_params defaults = sembed_hub_default_params();
    if (!params)
        params = &defaults;
    if (info)
        memset(info, 0, sizeof *info);
    hub_job *j = calloc(1, sizeof *j);
    if (!j)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    j->params = params;
    j->info = info;
    j->err = err;
    snprintf(j->repo_id, sizeof j->repo_id, "%s", repo_id);
    snprintf(j->revision, sizeof j->revision, "%s", revision);
    sembed_status st = load_settings(params, &j->set, err);
    if (!st)
        st = run(j, dir, cap);
    if (st)
        dir[0] = 0;
    hub_http_close(j->http);
    /* The token must not linger in freed memory. */
    memset(j->set.token, 0, sizeof j->set.token);
    free(j);
    return st;
}

sembed_status sembed_hub_parse_name(const char *name, char *repo_id, size_t repo_cap,
                                    char *revision, size_t rev_cap, sembed_error *err) {
    if (!repo_id || !revision || !repo_cap || !rev_cap)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "no output buffers");
    return hub_parse_name(name, repo_id, repo_cap, revision, rev_cap, err);
}

/* Looks like a file-system path rather than a repo id. */
static int path_like(const char *name) {
    return name[0] == '/' || name[0] == '~' || !strncmp(name, "./", 2) ||
           !strncmp(name, "../", 3) || !strcmp(name, ".") || !strcmp(name, "..");
}

sembed_status sembed_hub_resolve(const char *name, const sembed_hub_params *params, char *dir,
                                 size_t cap, sembed_hub_info *info, sembed_error *err) {
    if (!name || !*name)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "no model given (a folder or a Hub repo id)");
    if (!dir || cap == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "no output folder buffer");
    dir[0] = 0;
    if (info)
        memset(info, 0, sizeof *info);
    struct stat st;
    if (stat(name, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "%s is a file; a model is a folder or a Hub repo id", name);
        if (strlen(name) >= cap)
            return set_error(err, SEMBED_ERR_LIMIT, "model path longer than %zu bytes", cap);
        strcpy(dir, name);
        if (info) {
            info->source = SEMBED_HUB_FOLDER;
            /* A snapshot folder of the cache still knows its repo and commit. */
            char real[PATH_MAX];
            if (realpath(name, real))
                hub_parse_snapshot_path(real, info->repo_id, sizeof info->repo_id, info->commit,
                                        sizeof info->commit);
        }
        return SEMBED_OK;
    }
    if (path_like(name))
        return set_error(err, SEMBED_ERR_NOT_FOUND, "model folder %s not found", name);
    char repo[HUB_MAX_REPO_ID + 32], rev[HUB_MAX_REVISION + 1];
    sembed_status s = hub_parse_name(name, repo, sizeof repo, rev, sizeof rev, err);
    if (s)
        return s;
    return sembed_hub_download(repo, rev, params, dir, cap, info, err);
}
