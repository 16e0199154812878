/*
 * test_tokenizer_golden.c - the tokenizer against Hugging Face tokenizers'
 * own output: every text of $SEMBED_SHARED/reference/visible/tokens.jsonl
 * must give the same ids (max_length 256), untruncated ids and word pieces,
 * once through the model folder's tokenizer.json and once through vocab.txt
 * + tokenizer_config.json alone. Skips (77) without SEMBED_SHARED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/common.h"
#include "tokenizer/tokenizer.h"

static char model_dir[4096];
static char tokens_path[4096];

/* Prints where ids and want first differ, with the text. */
static int compare(const char *what, size_t line, const char *text, const int32_t *ids,
                   size_t n, json_t *want) {
    size_t wn = json_array_size(want);
    size_t i = 0;
    while (i < n && i < wn && json_integer_value(json_array_get(want, i)) == ids[i])
        i++;
    if (i == n && i == wn)
        return 0;
    fprintf(stderr, "line %zu: %s differ at index %zu (got %zu ids, want %zu)\ntext: %.300s\n",
            line, what, i, n, wn, text);
    for (size_t k = i > 3 ? i - 3 : 0; k < i + 4 && (k < n || k < wn); k++)
        fprintf(stderr, "  [%zu] got %d want %lld\n", k, k < n ? ids[k] : -1,
                k < wn ? (long long)json_integer_value(json_array_get(want, k)) : -1LL);
    return 1;
}

static void run_golden(sembed_tokenizer *tok, const char *label) {
    FILE *fp = fopen(tokens_path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0, lineno = 0, checked = 0, failures = 0;
    ssize_t got;
    size_t ids_cap = 1 << 16;
    int32_t *ids = malloc(ids_cap * sizeof(int32_t));
    assert_non_null(ids);
    tok_scratch *s = tok_scratch_new();
    assert_non_null(s);
    while ((got = getline(&line, &cap, fp)) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &je);
        assert_non_null(o);
        json_t *jt = json_object_get(o, "text");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        sembed_tokenize_params p = sembed_tokenize_default_params();
        size_t n = 0, nu = 0;
        sembed_error err;
        p.max_length = 256;
        assert_int_equal(tokenizer_encode(tok, s, text, len, &p, ids, ids_cap, &n, &nu, &err),
                         SEMBED_OK);
        int bad = compare("ids", lineno, text, ids, n, json_object_get(o, "ids"));
        if (nu != json_array_size(json_object_get(o, "ids_untruncated"))) {
            fprintf(stderr, "line %zu: n_untruncated %zu, want %zu\n", lineno, nu,
                    json_array_size(json_object_get(o, "ids_untruncated")));
            bad = 1;
        }
        p.max_length = 1 << 30;
        assert_int_equal(tokenizer_encode(tok, s, text, len, &p, ids, ids_cap, &n, &nu, &err),
                         SEMBED_OK);
        bad |= compare("ids_untruncated", lineno, text, ids, n,
                       json_object_get(o, "ids_untruncated"));
        json_t *pieces = json_object_get(o, "tokens");
        if (!bad && json_array_size(pieces) + 2 == n) {
            for (size_t i = 0; i < json_array_size(pieces); i++) {
                const char *want = json_string_value(json_array_get(pieces, i));
                const char *have = sembed_token_text(tok, ids[i + 1]);
                if (!have || strcmp(want, have) != 0) {
                    fprintf(stderr, "line %zu: piece %zu is \"%s\", want \"%s\"\n", lineno, i,
                            have ? have : "(null)", want);
                    bad = 1;
                    break;
                }
            }
        } else if (!bad) {
            fprintf(stderr, "line %zu: %zu pieces, want %zu\n", lineno, n - 2,
                    json_array_size(pieces));
            bad = 1;
        }
        failures += bad;
        checked++;
        json_decref(o);
        if (failures >= 5)
            break;
    }
    printf("golden (%s): %zu texts checked, %zu mismatches\n", label, checked, failures);
    free(line);
    free(ids);
    tok_scratch_free(s);
    fclose(fp);
    assert_int_equal(failures, 0);
    assert_true(checked >= 1275);
}

static void test_golden_tokenizer_json(void **state) {
    (void)state;
    sembed_tokenizer *tok = NULL;
    sembed_error err;
    if (tokenizer_load(model_dir, &tok, &err) != SEMBED_OK)
        fail_msg("%s", err.message);
    run_golden(tok, "tokenizer.json");
    tokenizer_free(tok);
}

static int copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    FILE *in = fopen(a, "rb"), *out = in ? fopen(b, "wb") : NULL;
    if (!in || !out) {
        if (in)
            fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out);
}

static void test_golden_vocab_txt(void **state) {
    (void)state;
    char tmp[] = "/tmp/sembed-tok-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    assert_int_equal(copy_file(model_dir, tmp, "vocab.txt"), 0);
    assert_int_equal(copy_file(model_dir, tmp, "tokenizer_config.json"), 0);
    sembed_tokenizer *tok = NULL;
    sembed_error err;
    sembed_status st = tokenizer_load(tmp, &tok, &err);
    char p[4200];
    snprintf(p, sizeof p, "%s/vocab.txt", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", tmp);
    unlink(p);
    rmdir(tmp);
    if (st != SEMBED_OK)
        fail_msg("%s", err.message);
    run_golden(tok, "vocab.txt");
    tokenizer_free(tok);
}

int main(void) {
    const char *shared = getenv("SEMBED_SHARED");
    if (!shared || !*shared) {
        printf("SEMBED_SHARED is not set: no reference tokens to compare with\n");
        return 77;
    }
    snprintf(model_dir, sizeof model_dir, "%s/models/minilm-synthetic", shared);
    snprintf(tokens_path, sizeof tokens_path, "%s/reference/visible/tokens.jsonl", shared);
    if (!file_exists(tokens_path) || !dir_exists(model_dir)) {
        printf("%s or %s is missing: skipping the golden tokenizer test\n", tokens_path,
               model_dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_tokenizer_json),
        cmocka_unit_test(test_golden_vocab_txt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
