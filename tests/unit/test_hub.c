/*
 * test_hub.c - unit tests of the Hub module's pure parts (names, URL
 * encoding, ETags, cache paths, the file plan, header parsing) and of the
 * library calls that need no network (cache folder selection, folders,
 * offline misses). The download paths are tested against a fake Hub by
 * tests/scripts/hub_*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hub/hub.h"

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static void test_env_true(void **state) {
    (void)state;
    const char *yes[] = {"1", "ON", "on", "Yes", "YES", "true", "TRUE", "True"};
    const char *no[] = {"0", "off", "no", "false", "", "2", "yes ", "truee"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(hub_env_true(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(hub_env_true(no[i]));
    assert_false(hub_env_true(NULL));
}

static void test_quote(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(hub_quote("refs/pr/1", 0, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "refs%2Fpr%2F1");
    assert_int_equal(hub_quote("a b/c+d.json", 1, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "a%20b/c%2Bd.json");
    assert_int_equal(hub_quote("\xc3\xa9~_.-Az9", 1, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "%C3%A9~_.-Az9");
    assert_int_equal(hub_quote("", 0, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "");
    /* Exactly enough room, then one byte less. */
    assert_int_equal(hub_quote("a/b", 0, out, 6, NULL), SEMBED_OK);
    assert_string_equal(out, "a%2Fb");
    assert_int_equal(hub_quote("a/b", 0, out, 5, NULL), SEMBED_ERR_LIMIT);
    assert_int_equal(hub_quote("ab", 0, out, 2, NULL), SEMBED_ERR_LIMIT);
}

static void test_repo_id(void **state) {
    (void)state;
    const char *good[] = {"a", "gpt2", "org/name", "sentence-transformers/all-MiniLM-L6-v2",
                          "a_b.c-d/E_9", "_x/y_", "BAAI/bge-small-en-v1.5"};
    const char *bad[] = {"", "a--b/c", "a/b..c", "x/y.git", "-a", "a-", ".a/b", "a/b.",
                         "a/", "/a", "a/b/c", "a b", "a@b", "a/b\n", "\xc3\xa9/x", "a\\b"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(hub_valid_repo_id(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hub_valid_repo_id(bad[i]));
    assert_false(hub_valid_repo_id(NULL));
    char *s = repeat('n', HUB_MAX_REPO_ID);
    s[0] = 'o';
    s[1] = '/';
    assert_true(hub_valid_repo_id(s));
    free(s);
    s = repeat('n', HUB_MAX_REPO_ID + 1);
    s[1] = '/';
    assert_false(hub_valid_repo_id(s));
    free(s);
}

static void test_revision(void **state) {
    (void)state;
    const char *good[] = {"main", "refs/pr/1", "v1.0", "release-2024_01",
                          "0123456789abcdef0123456789abcdef01234567", "a+b", "feature/x@y"};
    const char *bad[] = {"", "a b", "../x", "a/../b", "a/./b", "/a", "a/", "a//b", "a:b",
                         "a\\b", "a~1", "a^", "a?", "a*", "a[", "a\tb", "a\x7f", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(hub_valid_revision(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hub_valid_revision(bad[i]));
    char *s = repeat('r', HUB_MAX_REVISION);
    assert_true(hub_valid_revision(s));
    free(s);
    s = repeat('r', HUB_MAX_REVISION + 1);
    assert_false(hub_valid_revision(s));
    free(s);
}

static void test_commit(void **state) {
    (void)state;
    assert_true(hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
    assert_true(hub_is_commit(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(hub_is_commit("0123456789abcdef0123456789abcdef0123456"));
    assert_false(hub_is_commit("0123456789ABCDEF0123456789abcdef01234567"));
    assert_false(hub_is_commit("main"));
    assert_false(hub_is_commit(""));
    assert_false(hub_is_commit(NULL));
}

static void test_repo_path(void **state) {
    (void)state;
    const char *good[] = {"config.json", "1_Pooling/config.json", "1 Pooling+\xc3\xa9/c.json",
                          "a/b/c/d.txt", ".hidden"};
    const char *bad[] = {"", "/etc/passwd", "../x", "a/../b", "a/./b", ".", "a\\b", "a\x01",
                         "a//b", "a/", "a\x7f"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(hub_valid_repo_path(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hub_valid_repo_path(bad[i]));
    char *s = repeat('p', HUB_MAX_REPO_PATH);
    assert_true(hub_valid_repo_path(s));
    free(s);
    s = repeat('p', HUB_MAX_REPO_PATH + 1);
    assert_false(hub_valid_repo_path(s));
    free(s);
}

static void test_parse_name(void **state) {
    (void)state;
    char repo[160], rev[300];
    sembed_error err;
    assert_int_equal(hub_parse_name("all-MiniLM-L6-v2", repo, sizeof repo, rev, sizeof rev, &err),
                     SEMBED_OK);
    assert_string_equal(repo, "sentence-transformers/all-MiniLM-L6-v2");
    assert_string_equal(rev, "main");
    assert_int_equal(hub_parse_name("org/x@refs/pr/1", repo, sizeof repo, rev, sizeof rev, &err),
                     SEMBED_OK);
    assert_string_equal(repo, "org/x");
    assert_string_equal(rev, "refs/pr/1");
    assert_int_equal(hub_parse_name("x@v1", repo, sizeof repo, rev, sizeof rev, &err), SEMBED_OK);
    assert_string_equal(repo, "sentence-transformers/x");
    assert_string_equal(rev, "v1");
    assert_int_equal(hub_parse_name("org/x@", repo, sizeof repo, rev, sizeof rev, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "revision"));
    assert_int_equal(hub_parse_name("a/b/c", repo, sizeof repo, rev, sizeof rev, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "a/b/c"));
    assert_int_equal(hub_parse_name("", repo, sizeof repo, rev, sizeof rev, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(hub_parse_name(NULL, repo, sizeof repo, rev, sizeof rev, NULL),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* Output buffers too small. */
    assert_int_equal(hub_parse_name("org/x", repo, 5, rev, sizeof rev, NULL), SEMBED_ERR_LIMIT);
    assert_int_equal(hub_parse_name("org/x@main", repo, sizeof repo, rev, 4, NULL),
                     SEMBED_ERR_LIMIT);
    /* A bare name must still be a valid id once prefixed (at most 96 bytes). */
    char *name = repeat('n', HUB_MAX_REPO_ID - 22);
    assert_int_equal(hub_parse_name(name, repo, sizeof repo, rev, sizeof rev, NULL), SEMBED_OK);
    free(name);
    name = repeat('n', HUB_MAX_REPO_ID - 21);
    assert_int_equal(hub_parse_name(name, repo, sizeof repo, rev, sizeof rev, NULL),
                     SEMBED_ERR_INVALID_ARGUMENT);
    free(name);
    /* The public wrapper checks its buffers. */
    assert_int_equal(sembed_hub_parse_name("x", NULL, 0, rev, sizeof rev, NULL),
                     SEMBED_ERR_INVALID_ARGUMENT);
}

static void test_etag(void **state) {
    (void)state;
    char out[160];
    assert_int_equal(hub_normalize_etag("\"abc\"", out, sizeof out), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(hub_normalize_etag("W/\"abc-1\"", out, sizeof out), 0);
    assert_string_equal(out, "abc-1");
    assert_int_equal(hub_normalize_etag("abc", out, sizeof out), 0);
    assert_string_equal(out, "abc");
    const char *bad[] = {"", "\"\"", "\"../x\"", "\".x\"", "a/b", "a b", "\"a", "W/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hub_normalize_etag(bad[i], out, sizeof out), -1);
    assert_int_equal(hub_normalize_etag(NULL, out, sizeof out), -1);
    char *s = repeat('e', 128);
    assert_int_equal(hub_normalize_etag(s, out, sizeof out), 0);
    assert_int_equal(hub_normalize_etag(s, out, 128), -1); /* no room for the NUL */
    free(s);
    s = repeat('e', 129);
    assert_int_equal(hub_normalize_etag(s, out, sizeof out), -1);
    free(s);
}

static void test_cache_names(void **state) {
    (void)state;
    char out[128];
    assert_int_equal(hub_repo_folder("org/name", out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "models--org--name");
    assert_int_equal(hub_repo_folder("gpt2", out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "models--gpt2");
    assert_int_equal(hub_repo_folder("org/name", out, 17, NULL), SEMBED_ERR_LIMIT);
    assert_int_equal(hub_repo_folder("org/name", out, 18, NULL), SEMBED_OK);

    assert_int_equal(hub_blob_link_target("config.json", "b1", out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "../../blobs/b1");
    assert_int_equal(hub_blob_link_target("1_Pooling/config.json", "b2", out, sizeof out, NULL),
                     SEMBED_OK);
    assert_string_equal(out, "../../../blobs/b2");
    assert_int_equal(hub_blob_link_target("a/b/c", "b3", out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "../../../../blobs/b3");
    assert_int_equal(hub_blob_link_target("a", "b", out, 13, NULL), SEMBED_ERR_LIMIT);
    assert_int_equal(hub_blob_link_target("a", "b", out, 14, NULL), SEMBED_OK);
}

static void test_snapshot_path(void **state) {
    (void)state;
    char repo[128], commit[72];
    const char *c40 = "0123456789abcdef0123456789abcdef01234567";
    char path[512];
    snprintf(path, sizeof path, "/home/u/.cache/huggingface/hub/models--org--na.me/snapshots/%s",
             c40);
    assert_int_equal(hub_parse_snapshot_path(path, repo, sizeof repo, commit, sizeof commit), 1);
    assert_string_equal(repo, "org/na.me");
    assert_string_equal(commit, c40);
    snprintf(path, sizeof path, "models--gpt2/snapshots/%s/sub/", c40);
    assert_int_equal(hub_parse_snapshot_path(path, repo, sizeof repo, commit, sizeof commit), 1);
    assert_string_equal(repo, "gpt2");
    snprintf(path, sizeof path, "/x/models--org--name/snapshots/main");
    assert_int_equal(hub_parse_snapshot_path(path, repo, sizeof repo, commit, sizeof commit), 0);
    snprintf(path, sizeof path, "/x/models--org--name/blobs/%s", c40);
    assert_int_equal(hub_parse_snapshot_path(path, repo, sizeof repo, commit, sizeof commit), 0);
    snprintf(path, sizeof path, "/x/mymodels--org--name/snapshots/%s", c40);
    assert_int_equal(hub_parse_snapshot_path(path, repo, sizeof repo, commit, sizeof commit), 0);
    assert_int_equal(hub_parse_snapshot_path("/plain/folder", repo, sizeof repo, commit,
                                             sizeof commit),
                     0);
}

/* Index of path in the plan, or -1. */
static int plan_find(const hub_plan *p, const char *path) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->files[i].path, path))
            return (int)i;
    return -1;
}

static void test_plan_classic(void **state) {
    (void)state;
    static hub_plan plan;
    const char *json =
        "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models."
        "Transformer\"},{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":"
        "\"sentence_transformers.models.Pooling\"},{\"idx\":2,\"name\":\"2\",\"path\":"
        "\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";
    assert_int_equal(hub_plan_build(&plan, json, strlen(json), NULL), SEMBED_OK);
    assert_int_equal(plan_find(&plan, "modules.json"), 0);
    int pool = plan_find(&plan, "1_Pooling/config.json");
    assert_true(pool > 0);
    assert_int_equal(plan.files[pool].need, HUB_REQUIRED);
    int norm = plan_find(&plan, "2_Normalize/config.json");
    assert_true(norm > 0);
    assert_int_equal(plan.files[norm].need, HUB_OPTIONAL);
    assert_int_equal(plan.files[plan_find(&plan, "config.json")].need, HUB_REQUIRED);
    assert_int_equal(plan.files[plan_find(&plan, "tokenizer.json")].need, HUB_TOKENIZER);
    assert_int_equal(plan.files[plan_find(&plan, "vocab.txt")].need, HUB_TOKENIZER);
    /* The weights come last and nothing else heavy is listed. */
    assert_int_equal(plan_find(&plan, "model.safetensors"), (int)plan.n - 1);
    assert_int_equal(plan.files[plan.n - 1].need, HUB_REQUIRED);
    for (size_t i = 0; i < plan.n; i++) {
        assert_null(strstr(plan.files[i].path, ".bin"));
        assert_null(strstr(plan.files[i].path, "onnx"));
        assert_null(strstr(plan.files[i].path, ".h5"));
    }
    assert_int_equal(plan.n, 11);
}

static void test_plan_variants(void **state) {
    (void)state;
    static hub_plan plan;
    /* sentence-transformers 6 type names and a Dense module. */
    const char *st6 =
        "[{\"path\":\"\",\"type\":\"sentence_transformers.base.modules.transformer.Transformer\"},"
        "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.sentence_transformer.modules."
        "pooling.Pooling\"},{\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}"
        ",{\"path\":\"3_Normalize\",\"type\":\"sentence_transformers.base.modules.normalize."
        "Normalize\"}]";
    assert_int_equal(hub_plan_build(&plan, st6, strlen(st6), NULL), SEMBED_OK);
    assert_int_equal(plan.files[plan_find(&plan, "1_Pooling/config.json")].need, HUB_REQUIRED);
    int dense_w = plan_find(&plan, "2_Dense/model.safetensors");
    assert_true(dense_w > 0);
    assert_int_equal(plan.files[dense_w].need, HUB_REQUIRED);
    assert_int_equal(plan.files[plan_find(&plan, "2_Dense/config.json")].need, HUB_REQUIRED);
    assert_true(dense_w < plan_find(&plan, "model.safetensors"));

    /* A Transformer in its own folder (older models): its files move there. */
    const char *sub =
        "[{\"path\":\"0_BERT\",\"type\":\"sentence_transformers.models.Transformer\"},"
        "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]";
    assert_int_equal(hub_plan_build(&plan, sub, strlen(sub), NULL), SEMBED_OK);
    assert_true(plan_find(&plan, "0_BERT/config.json") > 0);
    assert_true(plan_find(&plan, "0_BERT/vocab.txt") > 0);
    assert_true(plan_find(&plan, "0_BERT/model.safetensors") > 0);
    assert_true(plan_find(&plan, "config_sentence_transformers.json") > 0);
    assert_int_equal(plan_find(&plan, "config.json"), -1);

    /* No modules.json: the root files only. */
    assert_int_equal(hub_plan_build(&plan, NULL, 0, NULL), SEMBED_OK);
    assert_int_equal(plan.n, 9);
    assert_int_equal(plan_find(&plan, "model.safetensors"), 8);

    /* A null path and an unknown module type are accepted. */
    const char *odd = "[{\"path\":null,\"type\":\"sentence_transformers.models.Transformer\"},"
                      "{\"path\":\"1_CNN\",\"type\":\"sentence_transformers.models.CNN\"}]";
    assert_int_equal(hub_plan_build(&plan, odd, strlen(odd), NULL), SEMBED_OK);
    assert_int_equal(plan.files[plan_find(&plan, "1_CNN/config.json")].need, HUB_OPTIONAL);
}

static void test_plan_errors(void **state) {
    (void)state;
    static hub_plan plan;
    sembed_error err;
    const struct {
        const char *json;
        sembed_status st;
    } cases[] = {
        {"", SEMBED_ERR_FORMAT},
        {"{", SEMBED_ERR_FORMAT},
        {"{}", SEMBED_ERR_FORMAT},
        {"[1]", SEMBED_ERR_FORMAT},
        {"[{\"path\":\"x\"}]", SEMBED_ERR_FORMAT},
        {"[{\"path\":3,\"type\":\"a.Pooling\"}]", SEMBED_ERR_FORMAT},
        {"[{\"path\":\"../x\",\"type\":\"a.Pooling\"}]", SEMBED_ERR_FORMAT},
        {"[{\"path\":\"/abs\",\"type\":\"a.Pooling\"}]", SEMBED_ERR_FORMAT},
        {"[{\"path\":\"a\\u0000b\",\"type\":\"a.Pooling\"}]", SEMBED_ERR_FORMAT},
        {"[\"\xff\"]", SEMBED_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(hub_plan_build(&plan, cases[i].json, strlen(cases[i].json), &err),
                         cases[i].st);
        assert_non_null(strstr(err.message, "modules.json"));
    }
    /* HUB_MAX_MODULES modules pass, one more does not. */
    char *json = malloc(64 * (HUB_MAX_MODULES + 2));
    assert_non_null(json);
    for (int n = HUB_MAX_MODULES; n <= HUB_MAX_MODULES + 1; n++) {
        size_t o = 0;
        json[o++] = '[';
        for (int i = 0; i < n; i++)
            o += (size_t)sprintf(json + o, "%s{\"path\":\"%d_P\",\"type\":\"a.Pooling\"}",
                                 i ? "," : "", i);
        json[o++] = ']';
        assert_int_equal(hub_plan_build(&plan, json, o, &err),
                         n == HUB_MAX_MODULES ? SEMBED_OK : SEMBED_ERR_LIMIT);
    }
    free(json);
    /* A module path at the length limit once "/model.safetensors" is added. */
    size_t room = HUB_MAX_REPO_PATH - strlen("/model.safetensors");
    for (size_t len = room; len <= room + 1; len++) {
        char *p = repeat('d', len);
        char *j = malloc(len + 64);
        assert_non_null(j);
        int n = sprintf(j, "[{\"path\":\"%s\",\"type\":\"a.Dense\"}]", p);
        assert_int_equal(hub_plan_build(&plan, j, (size_t)n, &err),
                         len == room ? SEMBED_OK : SEMBED_ERR_LIMIT);
        free(p);
        free(j);
    }
    /* modules.json larger than its limit. */
    assert_int_equal(hub_plan_build(&plan, "[]", HUB_MAX_MODULES_JSON + 1, &err),
                     SEMBED_ERR_LIMIT);
}

static const char *const *present_files;
static int present(const char *path, void *user) {
    (void)user;
    for (const char *const *p = present_files; *p; p++)
        if (!strcmp(*p, path))
            return 1;
    return 0;
}

static void test_plan_satisfied(void **state) {
    (void)state;
    static hub_plan plan;
    const char *json = "[{\"path\":\"\",\"type\":\"a.Transformer\"},"
                       "{\"path\":\"1_Pooling\",\"type\":\"a.Pooling\"}]";
    assert_int_equal(hub_plan_build(&plan, json, strlen(json), NULL), SEMBED_OK);
    const char *missing = NULL;
    static const char *const all[] = {"config.json", "vocab.txt", "1_Pooling/config.json",
                                      "model.safetensors", NULL};
    present_files = all;
    assert_int_equal(hub_plan_satisfied(&plan, present, NULL, &missing), 1);
    static const char *const no_tok[] = {"config.json", "1_Pooling/config.json",
                                         "model.safetensors", NULL};
    present_files = no_tok;
    assert_int_equal(hub_plan_satisfied(&plan, present, NULL, &missing), 0);
    assert_string_equal(missing, "tokenizer.json");
    static const char *const no_pool[] = {"config.json", "tokenizer.json", "model.safetensors",
                                          NULL};
    present_files = no_pool;
    assert_int_equal(hub_plan_satisfied(&plan, present, NULL, &missing), 0);
    assert_string_equal(missing, "1_Pooling/config.json");
}

static void header(hub_response *r, const char *line) {
    hub_response_header(r, line, strlen(line));
}

static void test_headers(void **state) {
    (void)state;
    hub_response r;
    memset(&r, 0, sizeof r);
    header(&r, "HTTP/1.1 302 Found\r\n");
    assert_int_equal(r.status, 302);
    header(&r, "x-repo-commit: 0123456789abcdef0123456789abcdef01234567\r\n");
    header(&r, "X-Linked-Etag:   \"abc\"  \r\n");
    header(&r, "X-LINKED-SIZE: 12345\r\n");
    header(&r, "Content-Length: 12x\r\n");
    header(&r, "Location: http://cdn/x\r\n");
    header(&r, "X-Error-Code: EntryNotFound\r\n");
    header(&r, "no colon here\r\n");
    header(&r, "\r\n");
    assert_string_equal(r.commit, "0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(r.linked_etag, "\"abc\"");
    assert_true(r.has_linked_size);
    assert_int_equal(r.linked_size, 12345);
    assert_false(r.has_content_length);
    assert_string_equal(r.location, "http://cdn/x");
    assert_string_equal(r.error_code, "EntryNotFound");
    assert_false(r.truncated);
    /* The next hop's status line starts afresh. */
    header(&r, "HTTP/2 206\r\n");
    assert_int_equal(r.status, 206);
    assert_string_equal(r.commit, "");
    header(&r, "Content-Range: bytes 100-199/200\r\n");
    assert_true(r.has_content_range);
    assert_int_equal(r.range_start, 100);
    header(&r, "Content-Length: 18446744073709551615\r\n");
    assert_false(r.has_content_length); /* 20 digits: refused */
    header(&r, "Content-Length: 9999999999999999999\r\n");
    assert_true(r.has_content_length);
    /* A value longer than its field is cut and flagged. */
    char line[400];
    char *big = repeat('c', 200);
    snprintf(line, sizeof line, "X-Error-Code: %s\r\n", big);
    free(big);
    header(&r, line);
    assert_true(r.truncated);
    assert_int_equal(strlen(r.error_code), sizeof r.error_code - 1);
}

/* ---- library calls without a network ------------------------------------ */

static const char *const hub_env[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                                      "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                      "HF_ENDPOINT", "HF_TOKEN"};

static void clear_env(void) {
    for (size_t i = 0; i < sizeof hub_env / sizeof hub_env[0]; i++)
        unsetenv(hub_env[i]);
}

static void test_cache_dir(void **state) {
    (void)state;
    char out[4096];
    clear_env();
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/home/u", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/home/u/.cache/huggingface/hub");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/xdg/huggingface/hub");
    setenv("HF_HOME", "~/hf", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/home/u/hf/hub");
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/legacy");
    setenv("HF_HUB_CACHE", "/new", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/new");
    sembed_hub_params p = sembed_hub_default_params();
    p.cache_dir = "/given";
    assert_int_equal(sembed_hub_cache_dir(&p, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/given");
    /* An empty variable counts as unset. */
    setenv("HF_HUB_CACHE", "", 1);
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, NULL), SEMBED_OK);
    assert_string_equal(out, "/legacy");
    assert_int_equal(sembed_hub_cache_dir(NULL, out, 5, NULL), SEMBED_ERR_LIMIT);
    assert_int_equal(sembed_hub_cache_dir(NULL, NULL, 0, NULL), SEMBED_ERR_INVALID_ARGUMENT);
    /* Without HOME the default cannot be found: a clear error, not "/.cache". */
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    sembed_error err;
    assert_int_equal(sembed_hub_cache_dir(NULL, out, sizeof out, &err), SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "HF_HUB_CACHE"));
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
    clear_env();
}

static void test_default_params(void **state) {
    (void)state;
    sembed_hub_params p = sembed_hub_default_params();
    assert_null(p.endpoint);
    assert_null(p.cache_dir);
    assert_null(p.token);
    assert_int_equal(p.offline, -1);
    assert_int_equal(p.refresh, 0);
    assert_int_equal(p.etag_timeout_s, 0);
    assert_int_equal(p.download_timeout_s, 0);
    assert_int_equal(p.max_file_bytes, 0);
    assert_null(p.progress);
}

static void test_resolve_local(void **state) {
    (void)state;
    const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tmpl[1024];
    snprintf(tmpl, sizeof tmpl, "%s/sembed_test_hub_XXXXXX", tmpdir);
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    char dir[4096], snap[4096], file[4096];
    sembed_hub_info info;
    sembed_error err;
    clear_env();
    setenv("HF_HUB_CACHE", root, 1);

    /* A plain folder. */
    assert_int_equal(sembed_hub_resolve(root, NULL, dir, sizeof dir, &info, &err), SEMBED_OK);
    assert_string_equal(dir, root);
    assert_int_equal(info.source, SEMBED_HUB_FOLDER);
    assert_string_equal(info.repo_id, "");
    /* Output buffer one byte short. */
    assert_int_equal(sembed_hub_resolve(root, NULL, dir, strlen(root), &info, &err),
                     SEMBED_ERR_LIMIT);

    /* A snapshot folder knows its repo and commit. */
    const char *c40 = "0123456789abcdef0123456789abcdef01234567";
    snprintf(snap, sizeof snap, "%s/models--org--name", root);
    assert_int_equal(mkdir(snap, 0777), 0);
    snprintf(snap, sizeof snap, "%s/models--org--name/snapshots", root);
    assert_int_equal(mkdir(snap, 0777), 0);
    snprintf(snap, sizeof snap, "%s/models--org--name/snapshots/%s", root, c40);
    assert_int_equal(mkdir(snap, 0777), 0);
    assert_int_equal(sembed_hub_resolve(snap, NULL, dir, sizeof dir, &info, &err), SEMBED_OK);
    assert_int_equal(info.source, SEMBED_HUB_FOLDER);
    assert_string_equal(info.repo_id, "org/name");
    assert_string_equal(info.commit, c40);

    /* A file is not a model; a missing path-like name is a missing folder. */
    snprintf(file, sizeof file, "%s/file.txt", root);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(sembed_hub_resolve(file, NULL, dir, sizeof dir, &info, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hub_resolve("./no/such/dir", NULL, dir, sizeof dir, &info, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "./no/such/dir"));
    assert_int_equal(sembed_hub_resolve("", NULL, dir, sizeof dir, &info, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);

    /* Offline, a repo missing from the cache names the repo and the path. */
    sembed_hub_params p = sembed_hub_default_params();
    p.offline = 1;
    assert_int_equal(sembed_hub_resolve("org/other", &p, dir, sizeof dir, &info, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "org/other"));
    assert_non_null(strstr(err.message, root));
    assert_string_equal(dir, "");
    setenv("HF_HUB_OFFLINE", "1", 1);
    assert_int_equal(sembed_hub_resolve("other", NULL, dir, sizeof dir, &info, &err),
                     SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "sentence-transformers/other"));
    assert_non_null(strstr(err.message, "HF_HUB_OFFLINE"));
    assert_string_equal(info.repo_id, "sentence-transformers/other");

    /* Invalid arguments. */
    assert_int_equal(sembed_hub_download("a/b/c", NULL, NULL, dir, sizeof dir, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hub_download("a/b", "../x", NULL, dir, sizeof dir, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_hub_download("a/b", NULL, NULL, NULL, 0, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p.offline = 0;
    p.endpoint = "file:///etc";
    assert_int_equal(sembed_hub_download("a/b", NULL, &p, dir, sizeof dir, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "http"));
    p.endpoint = NULL;
    p.etag_timeout_s = -1;
    assert_int_equal(sembed_hub_download("a/b", NULL, &p, dir, sizeof dir, NULL, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);

    clear_env();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_true),      cmocka_unit_test(test_quote),
        cmocka_unit_test(test_repo_id),       cmocka_unit_test(test_revision),
        cmocka_unit_test(test_commit),        cmocka_unit_test(test_repo_path),
        cmocka_unit_test(test_parse_name),    cmocka_unit_test(test_etag),
        cmocka_unit_test(test_cache_names),   cmocka_unit_test(test_snapshot_path),
        cmocka_unit_test(test_plan_classic),  cmocka_unit_test(test_plan_variants),
        cmocka_unit_test(test_plan_errors),   cmocka_unit_test(test_plan_satisfied),
        cmocka_unit_test(test_headers),       cmocka_unit_test(test_cache_dir),
        cmocka_unit_test(test_default_params), cmocka_unit_test(test_resolve_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
