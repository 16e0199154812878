/*
 * hub_names.c - the naming rules of the Hugging Face Hub and its cache:
 * repo ids, revisions, file paths inside a repo, URL encoding, ETags as
 * blob names and the relative links of snapshot folders. Everything here
 * is pure string work, so that it can be tested and fuzzed on its own.
 */
#include "hub/hub.h"

#include <stdio.h>
#include <string.h>

#include "common/common.h"

int hub_env_true(const char *v) {
    if (!v)
        return 0;
    static const char *const yes[] = {"1", "on", "yes", "true"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!strcasecmp(v, yes[i]))
            return 1;
    return 0;
}

static int is_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c) {
    return is_alnum(c) || c == '_' || c == '.' || c == '-' || c == '~';
}

sembed_status hub_quote(const char *s, int keep_slash, char *out, size_t cap, sembed_error *err) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            if (o + 1 >= cap)
                goto too_long;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= cap)
                goto too_long;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (cap == 0)
        goto too_long;
    out[o] = 0;
    return SEMBED_OK;
too_long:
    if (cap)
        out[0] = 0;
    return set_error(err, SEMBED_ERR_LIMIT, "name too long to encode in a URL: %.64s...", s);
}

/* One part of a repo id: [A-Za-z0-9_.-]+, first and last a word char. */
static int valid_id_part(const char *s, size_t n) {
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_alnum(c) || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    unsigned char a = (unsigned char)s[0], z = (unsigned char)s[n - 1];
    return (is_alnum(a) || a == '_') && (is_alnum(z) || z == '_');
}

int hub_valid_repo_id(const char *s) {
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > HUB_MAX_REPO_ID)
        return 0;
    if (strstr(s, "--") || strstr(s, ".."))
        return 0;
    if (n >= 4 && !strcmp(s + n - 4, ".git"))
        return 0;
    const char *slash = strchr(s, '/');
    if (!slash)
        return valid_id_part(s, n);
    if (strchr(slash + 1, '/'))
        return 0;
    return valid_id_part(s, (size_t)(slash - s)) &&
           valid_id_part(slash + 1, n - (size_t)(slash - s) - 1);
}

/* Components separated by '/', none empty, "." or "..". */
static int valid_components(const char *s) {
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

int hub_valid_revision(const char *s) {
    if (!s || !*s || strlen(s) > HUB_MAX_REVISION)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || strchr("\\:?*[~^", *p))
            return 0;
    }
    return valid_components(s);
}

int hub_is_commit(const char *s) {
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 40 || n == 64;
}

int hub_valid_repo_path(const char *s) {
    if (!s || !*s || strlen(s) > HUB_MAX_REPO_PATH)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            return 0;
    return valid_components(s);
}

sembed_status hub_parse_name(const char *name, char *repo_id, size_t repo_cap, char *revision,
                             size_t rev_cap, sembed_error *err) {
    if (!name || !*name)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "empty model name");
    const char *at = strchr(name, '@');
    size_t id_len = at ? (size_t)(at - name) : strlen(name);
    const char *rev = at ? at + 1 : "main";
    char id[HUB_MAX_REPO_ID + 32];
    if (id_len > HUB_MAX_REPO_ID)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "'%.64s...' is not a valid Hub repo id (longer than %d bytes)", name,
                         HUB_MAX_REPO_ID);
    /* A bare name is a sentence-transformers model, as in SentenceTransformer("NAME"). */
    int bare = memchr(name, '/', id_len) == NULL;
    snprintf(id, sizeof id, "%s%.*s", bare ? "sentence-transformers/" : "", (int)id_len, name);
    if (!hub_valid_repo_id(id))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "'%.*s' is not a folder nor a valid Hub repo id (ORG/NAME of letters, "
                         "digits, '-', '_', '.')",
                         (int)(id_len > 200 ? 200 : id_len), name);
    if (!hub_valid_revision(rev))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "'%.200s' is not a valid revision",
                         rev);
    if (strlen(id) >= repo_cap || strlen(rev) >= rev_cap)
        return set_error(err, SEMBED_ERR_LIMIT, "model name too long: %.200s", name);
    strcpy(repo_id, id);
    strcpy(revision, rev);
    return SEMBED_OK;
}

int hub_normalize_etag(const char *raw, char *out, size_t cap) {
    if (!raw)
        return -1;
    const char *s = raw;
    if (s[0] == 'W' && s[1] == '/')
        s += 2;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    if (n == 0 || n > 128 || n >= cap || s[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_alnum(c) || c == '_' || c == '-' || c == '.'))
            return -1;
    }
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

sembed_status hub_repo_folder(const char *repo_id, char *out, size_t cap, sembed_error *err) {
    size_t o = 0;
    const char *prefix = "models--";
    for (const char *p = prefix; *p; p++) {
        if (o + 1 >= cap)
            goto too_long;
        out[o++] = *p;
    }
    for (const char *p = repo_id; *p; p++) {
        if (o + (*p == '/' ? 2 : 1) >= cap)
            goto too_long;
        if (*p == '/') {
            out[o++] = '-';
            out[o++] = '-';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    return SEMBED_OK;
too_long:
    if (cap)
        out[0] = 0;
    return set_error(err, SEMBED_ERR_LIMIT, "repo id too long: %.64s", repo_id);
}

sembed_status hub_blob_link_target(const char *file, const char *blob, char *out, size_t cap,
                                   sembed_error *err) {
    size_t depth = 2; /* snapshots/<commit>/ */
    for (const char *p = file; *p; p++)
        depth += *p == '/';
    size_t o = 0;
    for (size_t i = 0; i < depth; i++) {
        if (o + 3 >= cap)
            goto too_long;
        memcpy(out + o, "../", 3);
        o += 3;
    }
    int n = snprintf(out + o, cap - o, "blobs/%s", blob);
    if (n < 0 || (size_t)n >= cap - o)
        goto too_long;
    return SEMBED_OK;
too_long:
    if (cap)
        out[0] = 0;
    return set_error(err, SEMBED_ERR_LIMIT, "link target too long for %.64s", file);
}

int hub_parse_snapshot_path(const char *dir, char *repo_id, size_t repo_cap, char *commit,
                            size_t commit_cap) {
    /* Find the last ".../models--X/snapshots/<commit>" in the path. */
    const char *best = NULL;
    for (const char *p = strstr(dir, "models--"); p; p = strstr(p + 1, "models--"))
        if (p == dir || p[-1] == '/')
            best = p;
    if (!best)
        return 0;
    const char *folder = best + 8;
    const char *slash = strchr(folder, '/');
    if (!slash || strncmp(slash, "/snapshots/", 11) != 0)
        return 0;
    const char *c = slash + 11;
    size_t cn = strcspn(c, "/");
    char cbuf[72];
    if (cn >= sizeof cbuf)
        return 0;
    memcpy(cbuf, c, cn);
    cbuf[cn] = 0;
    if (!hub_is_commit(cbuf))
        return 0;
    /* The folder is the repo id with '/' written as "--"; ids contain no "--". */
    char id[HUB_MAX_REPO_ID + 8];
    size_t fn = (size_t)(slash - folder), o = 0;
    if (fn >= sizeof id)
        return 0;
    for (size_t i = 0; i < fn; i++) {
        if (folder[i] == '-' && i + 1 < fn && folder[i + 1] == '-') {
            id[o++] = '/';
            i++;
        } else {
            id[o++] = folder[i];
        }
    }
    id[o] = 0;
    if (!hub_valid_repo_id(id) || o >= repo_cap || cn >= commit_cap)
        return 0;
    memcpy(repo_id, id, o + 1);
    memcpy(commit, cbuf, cn + 1);
    return 1;
}
