/*
 * test_vocab_scan.c - the fast reader of tokenizer.json's model.vocab
 * (src/tokenizer/vocab_scan.c) gives exactly the tokenizer that the full
 * jansson parse gives: escaped keys, a repeated key (the last id wins, in
 * the first key's place), and documents outside the simple shape, which
 * must fall back to jansson (escaped "model" key, a fractional id, invalid
 * UTF-8, a repeated "vocab" key, bad JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokenizer/tokenizer_impl.h"

#define HEAD "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":{\"type\":\"BertNormalizer\"," \
             "\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null," \
             "\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
#define MODEL(key, vocab) "\"" key "\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\"," \
             "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100," \
             "\"vocab\":" vocab "}}"
#define VOCAB "{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"hello\":4,\"\\u00e9t\\u00e9\":5," \
              "\"q\\\"t\":6,\"hello\":7,\"\\ud83d\\ude00\":8, \"##s\" : 9 }"

static void encode(const char *json, const char *text, int32_t *ids, size_t *n) {
    sembed_tokenizer *t = NULL;
    sembed_error err;
    if (tokenizer_load_memory(json, strlen(json), NULL, 0, NULL, 0, &t, &err) != SEMBED_OK)
        fail_msg("load: %s", err.message);
    tokenizer_set_max_length(t, 64);
    assert_int_equal(tokenizer_encode(t, NULL, text, strlen(text), NULL, ids, 64, n, NULL, &err),
                     SEMBED_OK);
    tokenizer_free(t);
}

static void test_scan_reads_entries(void **state) {
    const char *json = HEAD MODEL("model", VOCAB);
    tok_vocab_scan vs;
    assert_int_equal(tok_vocab_scan_json(json, strlen(json), &vs), 0);
    assert_int_equal(vs.n, 10);
    assert_string_equal(vs.entries[5].text, "\xc3\xa9t\xc3\xa9");
    assert_string_equal(vs.entries[6].text, "q\"t");
    assert_string_equal(vs.entries[8].text, "\xf0\x9f\x98\x80");
    assert_int_equal(vs.entries[9].id, 9);
    assert_memory_equal(json + vs.span_begin, "{\"[PAD]\"", 8);
    assert_int_equal(json[vs.span_end - 1], '}');
    tok_vocab_scan_free(&vs);
}

static void test_same_as_jansson(void **state) {
    /* The escaped "model" key makes the scanner give up: the jansson path. */
    const char *fast = HEAD MODEL("model", VOCAB);
    const char *slow = HEAD MODEL("mod\\u0065l", VOCAB);
    tok_vocab_scan vs;
    assert_int_equal(tok_vocab_scan_json(slow, strlen(slow), &vs), -1);
    const char *texts[] = {"hello", "Été hellos", "q\"t", "\xf0\x9f\x98\x80", "x"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t a[64], b[64];
        size_t na, nb;
        encode(fast, texts[i], a, &na);
        encode(slow, texts[i], b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
    }
    int32_t ids[64];
    size_t n;
    encode(fast, "hello", ids, &n); /* the repeated key: its last id */
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 7);
}

static void test_fallbacks(void **state) {
    static const char *const docs[] = {
        HEAD MODEL("model", "{\"[UNK]\":1.0}"),             /* fractional id */
        HEAD MODEL("model", "{\"[UNK]\":1,\"\xff\":2}"),    /* invalid UTF-8 */
        HEAD "\"model\":{\"vocab\":{},\"vocab\":{\"[UNK]\":0}}}", /* repeated vocab */
        HEAD MODEL("model", "{\"[UNK]\":1,}"),              /* trailing comma */
        "[1, 2, 3]",
        "",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        tok_vocab_scan vs;
        assert_int_equal(tok_vocab_scan_json(docs[i], strlen(docs[i]), &vs), -1);
        tok_vocab_scan_free(&vs);
    }
    /* The fractional id is then refused by the full parse, with a message. */
    sembed_tokenizer *t = NULL;
    sembed_error err;
    const char *bad = docs[0];
    assert_int_not_equal(tokenizer_load_memory(bad, strlen(bad), NULL, 0, NULL, 0, &t, &err),
                         SEMBED_OK);
    assert_non_null(strstr(err.message, "vocab"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_reads_entries),
        cmocka_unit_test(test_same_as_jansson),
        cmocka_unit_test(test_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
