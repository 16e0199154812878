/*
 * hub.h - internals of the Hugging Face Hub module: name and URL rules,
 * the huggingface_hub cache layout, the list of files a model needs, and
 * the libcurl transfer layer. Split out of hub.c so that the pure parts
 * can be unit-tested and fuzzed without a network.
 */
#ifndef SEMBED_HUB_INTERNAL_H
#define SEMBED_HUB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

/* ---- limits (documented in docs/HUB.md) ---------------------------------- */

#define HUB_MAX_REPO_ID 96            /* huggingface_hub's validate_repo_id */
#define HUB_MAX_REVISION 255          /* bytes of a branch, tag or ref name */
#define HUB_MAX_REPO_PATH 512         /* bytes of a file path inside a repo */
#define HUB_MAX_PLAN_FILES 96         /* files fetched for one model */
#define HUB_MAX_MODULES 32            /* entries of modules.json */
#define HUB_MAX_MODULES_JSON (1u << 20) /* bytes of modules.json */
#define HUB_MAX_TOKEN 4096            /* bytes of an access token */
#define HUB_MAX_ENDPOINT 1000         /* bytes of HF_ENDPOINT */
#define HUB_MAX_URL 8192
#define HUB_MAX_REDIRECTS 10
#define HUB_DEFAULT_TIMEOUT_S 10      /* HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT */
#define HUB_MAX_TIMEOUT_S 86400
#define HUB_PATH_CAP 4096

/* ---- names and encodings (hub_names.c) ------------------------------------ */

/* 1 for "1", "ON", "YES", "TRUE" in any case (huggingface_hub's rule). */
int hub_env_true(const char *value);

/* Percent-encodes s into out as Python's urllib.parse.quote does: the
 * unreserved characters A-Z a-z 0-9 _ . - ~ stay, and '/' stays when
 * keep_slash; every other byte becomes %XX (upper-case hex).
 * SEMBED_ERR_LIMIT when out is too small. */
sembed_status hub_quote(const char *s, int keep_slash, char *out, size_t cap, sembed_error *err);

/* huggingface_hub's repo id rule: "name" or "org/name", each part of
 * A-Z a-z 0-9 _ . - starting and ending with a letter, digit or '_', no
 * "--" or "..", not ending in ".git", at most 96 bytes. */
int hub_valid_repo_id(const char *s);

/* A branch, tag or ref name (also used as a path under refs/): printable
 * ASCII without space, '\\', ':', '?', '*', '[', '~', '^'; no empty, "."
 * or ".." component; at most HUB_MAX_REVISION bytes. */
int hub_valid_revision(const char *s);

/* 1 when s is a commit id: 40 (or 64) lower-case hex digits. */
int hub_is_commit(const char *s);

/* A relative file path inside a repo, safe to create under the cache:
 * no leading '/', no '\\', no control byte, no empty, "." or ".."
 * component, at most HUB_MAX_REPO_PATH bytes. */
int hub_valid_repo_path(const char *s);

/* Splits a --model name into a repo id and a revision: "org/name",
 * "org/name@rev", "name" (read as "sentence-transformers/name"),
 * "name@rev". The revision defaults to "main". */
sembed_status hub_parse_name(const char *name, char *repo_id, size_t repo_cap, char *revision,
                             size_t rev_cap, sembed_error *err);

/* Strips a weak-validator prefix "W/" and the quotes from an ETag header
 * value and checks that the result can be a file name in blobs/ (1..128
 * bytes of A-Z a-z 0-9 _ - . not starting with '.'). Returns 0 on success,
 * -1 when the ETag is unusable. */
int hub_normalize_etag(const char *raw, char *out, size_t cap);

/* "models--" + repo_id with '/' replaced by "--". */
sembed_status hub_repo_folder(const char *repo_id, char *out, size_t cap, sembed_error *err);

/* The relative symlink target from snapshots/<commit>/<file> to
 * blobs/<blob>: one "../" per directory level, then "blobs/<blob>". */
sembed_status hub_blob_link_target(const char *file, const char *blob, char *out, size_t cap,
                                   sembed_error *err);

/* If dir is (inside) <cache>/models--ORG--NAME/snapshots/<commit>, fills
 * repo_id ("ORG/NAME") and commit and returns 1; else returns 0. */
int hub_parse_snapshot_path(const char *dir, char *repo_id, size_t repo_cap, char *commit,
                            size_t commit_cap);

/* ---- the files a model needs (hub_plan.c) ---------------------------------- */

typedef enum hub_need {
    HUB_OPTIONAL = 0,   /* a 404 is recorded in .no_exist and skipped */
    HUB_REQUIRED = 1,   /* a 404 is an error */
    HUB_TOKENIZER = 2   /* at least one file of this group must exist */
} hub_need;

typedef struct hub_plan_file {
    char path[HUB_MAX_REPO_PATH + 1];
    hub_need need;
} hub_plan_file;

typedef struct hub_plan {
    size_t n;
    hub_plan_file files[HUB_MAX_PLAN_FILES];
} hub_plan;

/* Builds the list of files to fetch from the bytes of modules.json (or
 * from no modules.json when json is NULL): modules.json itself, config
 * files, tokenizer files, each module's folder files, and the weights
 * last, so that a snapshot that has its weights finished everything before
 * them. Never lists pytorch_model.bin, ONNX, TF or OpenVINO files.
 * SEMBED_ERR_FORMAT names the bad entry of modules.json. */
sembed_status hub_plan_build(hub_plan *plan, const char *json, size_t len, sembed_error *err);

/* Checks a plan against what exists: exists(path, user) answers for one
 * repo path. Returns 1 when every required file exists and at least one
 * tokenizer file does; else 0 and, when missing is not NULL, the first
 * missing path (or "tokenizer.json"). */
int hub_plan_satisfied(const hub_plan *plan, int (*exists)(const char *path, void *user),
                       void *user, const char **missing);

/* ---- transfers (hub_http.c) ------------------------------------------------- */

/* What one HTTP response said (the last hop of a redirect chain). */
typedef struct hub_response {
    long status;
    char commit[72];           /* X-Repo-Commit */
    char etag[192];            /* ETag, raw */
    char linked_etag[192];     /* X-Linked-Etag, raw */
    char location[2048];       /* Location */
    char error_code[64];       /* X-Error-Code */
    char error_message[256];   /* X-Error-Message */
    uint64_t content_length;
    uint64_t linked_size;      /* X-Linked-Size */
    uint64_t range_start;      /* Content-Range: bytes START-... */
    unsigned has_content_length : 1;
    unsigned has_linked_size : 1;
    unsigned has_content_range : 1;
    unsigned truncated : 1;    /* a header did not fit its field */
} hub_response;

/* Parses one raw header line ("Name: value\r\n", or a status line, which
 * clears *r) into r. Exposed for the unit tests and the fuzzer. */
void hub_response_header(hub_response *r, const char *line, size_t len);

typedef void (*hub_progress_fn)(void *user, const char *file, uint64_t done, uint64_t total);

typedef struct hub_http hub_http;

/* One libcurl easy handle (connections are reused between requests) with
 * the token header and timeouts. The token is sent only to the host of
 * the first request of each transfer; libcurl drops custom Authorization
 * headers on redirects to another host. */
sembed_status hub_http_open(hub_http **out, const char *token, long etag_timeout_s,
                            long download_timeout_s, sembed_error *err);
void hub_http_close(hub_http *h);

/* HEAD url, following only relative redirects (a renamed repo), as
 * huggingface_hub does; the redirect to a CDN is reported, not followed.
 * Returns 0 or a libcurl error code, whose text is in *msg. */
int hub_http_head(hub_http *h, const char *url, hub_response *r, char *msg, size_t msg_cap);

/* GET url into dest, resuming from dest's current size with a Range
 * request when it is not empty. Follows redirects (http and https only).
 * A 200 answer to a Range request restarts the file. Only a 2xx body is
 * written; dest is created only then. *size gets dest's size afterwards.
 * Returns 0 or a libcurl error code (CURLE_FILESIZE_EXCEEDED when the body
 * would pass max_bytes, CURLE_WRITE_ERROR with errno in *werrno). */
int hub_http_get(hub_http *h, const char *url, const char *dest, uint64_t max_bytes,
                 const char *label, hub_progress_fn progress, void *progress_user,
                 hub_response *r, uint64_t *size, int *werrno, char *msg, size_t msg_cap);

#endif /* SEMBED_HUB_INTERNAL_H */
