/*
 * test_tokenizer_timing.c - "does not hang, is not quadratic" guards: each
 * large adversarial input must finish well under a second (a generous
 * bound, also under sanitizers) and give the expected ids. Not a benchmark
 * (bench/bench_tokenizer.c is).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "tokenizer/tokenizer.h"

#define MB (1u << 20)
#define MAX_SECONDS 1.0

static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n!\nhello\nworld\n##a\n";
enum { UNK = 1, CLS = 2, SEP = 3, A = 4, EXCL = 5, HELLO = 6, WORLD = 7 };

static sembed_tokenizer *tok;

static int setup(void **state) {
    (void)state;
    sembed_error err;
    if (tokenizer_load_memory(NULL, 0, VOCAB, strlen(VOCAB), NULL, 0, &tok, &err) != SEMBED_OK)
        return -1;
    tokenizer_set_max_length(tok, 256);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tokenizer_free(tok);
    return 0;
}

/* Encodes text, checks the time bound and returns the ids in ids[256]. */
static size_t timed(const char *label, const char *text, size_t len, int32_t *ids,
                    size_t *full) {
    size_t n = 0;
    sembed_error err;
    double t0 = now_seconds();
    sembed_status st = tokenizer_encode(tok, NULL, text, len, NULL, ids, 256, &n, full, &err);
    double dt = now_seconds() - t0;
    printf("%-40s %8.1f ms\n", label, dt * 1e3);
    if (st != SEMBED_OK)
        fail_msg("%s: %s", label, err.message);
    if (dt > MAX_SECONDS)
        fail_msg("%s took %.3f s (bound %.1f s)", label, dt, MAX_SECONDS);
    return n;
}

static void test_one_mb_line(void **state) {
    (void)state;
    const char unit[] = "hello world ";
    size_t reps = MB / (sizeof unit - 1);
    char *text = malloc(reps * (sizeof unit - 1));
    assert_non_null(text);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * (sizeof unit - 1), unit, sizeof unit - 1);
    int32_t ids[256];
    size_t full;
    size_t n = timed("1 MB line of words", text, reps * (sizeof unit - 1), ids, &full);
    free(text);
    assert_int_equal(n, 256);
    assert_int_equal(full, 2 * reps + 2);
    assert_int_equal(ids[0], CLS);
    assert_int_equal(ids[1], HELLO);
    assert_int_equal(ids[254], WORLD);
    assert_int_equal(ids[255], SEP);
}

static void test_combining_run(void **state) {
    (void)state;
    /* "a" + 256 KB of U+0301 U+0327 (classes 230, 202: every pair needs
     * reordering). strip_accents drops them all. */
    size_t marks = 256 * 1024 / 2;
    char *text = malloc(1 + 2 * marks);
    assert_non_null(text);
    text[0] = 'a';
    for (size_t i = 0; i < marks; i++)
        memcpy(text + 1 + 2 * i, (i % 2) ? "\xcc\xa7" : "\xcc\x81", 2);
    int32_t ids[256];
    size_t full;
    size_t n = timed("a + 256 KB of U+0301/U+0327", text, 1 + 2 * marks, ids, &full);
    free(text);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], A);
    assert_int_equal(full, 3);
}

static void test_one_mb_punct(void **state) {
    (void)state;
    char *text = malloc(MB);
    assert_non_null(text);
    memset(text, '!', MB);
    int32_t ids[256];
    size_t full;
    size_t n = timed("1 MB of '!'", text, MB, ids, &full);
    free(text);
    assert_int_equal(n, 256);
    assert_int_equal(full, MB + 2);
    for (size_t i = 1; i < 255; i++)
        assert_int_equal(ids[i], EXCL);
}

static void test_one_mb_word(void **state) {
    (void)state;
    char *text = malloc(MB);
    assert_non_null(text);
    memset(text, 'a', MB);
    int32_t ids[256];
    size_t full;
    size_t n = timed("1 MB single word", text, MB, ids, &full);
    free(text);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], UNK);
}

static void test_one_mb_cjk(void **state) {
    (void)state;
    size_t chars = MB / 3;
    char *text = malloc(3 * chars);
    assert_non_null(text);
    for (size_t i = 0; i < chars; i++)
        memcpy(text + 3 * i, "\xe4\xb8\x80", 3);   /* U+4E00, one word each */
    int32_t ids[256];
    size_t full;
    size_t n = timed("1 MB of CJK", text, 3 * chars, ids, &full);
    free(text);
    assert_int_equal(n, 256);
    assert_int_equal(full, chars + 2);
    assert_int_equal(ids[100], UNK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_mb_line),  cmocka_unit_test(test_combining_run),
        cmocka_unit_test(test_one_mb_punct), cmocka_unit_test(test_one_mb_word),
        cmocka_unit_test(test_one_mb_cjk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
