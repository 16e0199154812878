/*
 * fuzz_hub.c - libFuzzer harness for what a Hub (or a hostile server, or a
 * hostile modules.json) hands the hub module: modules.json bytes through
 * the file plan, header lines through the response parser, and names,
 * revisions, paths and ETags through their checks. Whatever is accepted
 * must be safe to use as a path under the cache.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hub_plan plan;

/* An accepted repo path never climbs out of the snapshot folder. */
static void check_path(const char *p) {
    if (!hub_valid_repo_path(p) || p[0] == '/' || strstr(p, "\\") || !strcmp(p, "..") ||
        !strncmp(p, "../", 3) || strstr(p, "/../") ||
        (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sembed_error err;
    if (hub_plan_build(&plan, (const char *)data, size, &err) == SEMBED_OK) {
        if (plan.n == 0 || plan.n > HUB_MAX_PLAN_FILES)
            abort();
        for (size_t i = 0; i < plan.n; i++)
            check_path(plan.files[i].path);
    }

    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;

    /* Header lines, as libcurl hands them over. */
    hub_response r;
    memset(&r, 0, sizeof r);
    const char *line = s;
    while (line < s + size) {
        const char *nl = memchr(line, '\n', (size_t)(s + size - line));
        size_t n = nl ? (size_t)(nl - line) + 1 : (size_t)(s + size - line);
        hub_response_header(&r, line, n);
        if (memchr(r.commit, 0, sizeof r.commit) == NULL ||
            memchr(r.etag, 0, sizeof r.etag) == NULL ||
            memchr(r.location, 0, sizeof r.location) == NULL)
            abort();
        line += n;
    }

    char repo[HUB_MAX_REPO_ID + 32], rev[HUB_MAX_REVISION + 1], out[4 * 4096];
    if (hub_parse_name(s, repo, sizeof repo, rev, sizeof rev, &err) == SEMBED_OK) {
        if (!hub_valid_repo_id(repo) || !hub_valid_revision(rev))
            abort();
        check_path(rev);
        if (hub_repo_folder(repo, out, sizeof out, &err) != SEMBED_OK || strchr(out, '/'))
            abort();
    }
    if (hub_normalize_etag(s, out, sizeof out) == 0) {
        if (strchr(out, '/') || out[0] == '.' || strlen(out) > 128)
            abort();
    }
    if (hub_valid_repo_path(s))
        check_path(s);
    if (size < 4096 && hub_quote(s, 1, out, sizeof out, &err) == SEMBED_OK) {
        for (const char *p = out; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                abort();
    }
    char id[128], commit[72];
    if (hub_parse_snapshot_path(s, id, sizeof id, commit, sizeof commit) &&
        (!hub_valid_repo_id(id) || !hub_is_commit(commit)))
        abort();
    free(s);
    return 0;
}
