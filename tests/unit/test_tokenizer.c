/*
 * test_tokenizer.c - unit tests of the BERT WordPiece tokenizer, stage by
 * stage, on inline vocabularies (no files needed): clean_text, CJK padding,
 * NFD + Mn removal, lowercase, punctuation and whitespace splitting,
 * WordPiece, added tokens, truncation, invalid UTF-8, loading rules and
 * detokenize. Expected values follow Hugging Face tokenizers' BERT pipeline
 * (docs/TOKENIZER.md cites the rule behind each).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* ---- helpers --------------------------------------------------------------- */

static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"            /* 0-4 */
    "a\nb\nc\nab\n##b\n##c\nun\n##aff\n##able\n"      /* 5-13 */
    "hello\nworld\n!\n?\n$\n[\n]\nmask\n+\n"          /* 14-22 */
    "##a\nx\n##x\n\xd0\xb6\n##\xd0\xb6\n"             /* 23-27: ж */
    "\xd8\x9f\ne\ni\n\xcf\x83\n\xc3\x9f\n,\n.\n";     /* 28-34: ؟ e i σ ß , . */

enum { PAD = 0, UNK = 1, CLS = 2, SEP = 3, MASK = 4, A = 5, B = 6, C = 7, AB = 8, HB = 9,
       HC = 10, UN = 11, HAFF = 12, HABLE = 13, HELLO = 14, WORLD = 15, EXCL = 16, QUES = 17,
       DOLLAR = 18, LBR = 19, RBR = 20, MASKW = 21, PLUS = 22, HA = 23, X = 24, HX = 25,
       ZHE = 26, HZHE = 27, AQ = 28, E = 29, I = 30, SIGMA = 31, SZ = 32, COMMA = 33, DOT = 34 };

static sembed_tokenizer *load_vocab(const char *vocab, const char *config) {
    sembed_tokenizer *t = NULL;
    sembed_error err;
    sembed_status st = tokenizer_load_memory(NULL, 0, vocab, strlen(vocab), config,
                                             config ? strlen(config) : 0, &t, &err);
    if (st != SEMBED_OK)
        fail_msg("load: %s", err.message);
    return t;
}

/* Encodes len bytes (copied into an exact-size heap buffer so that ASan
 * catches any read past the end) and compares with want[0..n). */
static void check_ids_n(sembed_tokenizer *t, const char *text, size_t len,
                        const sembed_tokenize_params *p, const int32_t *want, size_t n) {
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    int32_t ids[4096];
    size_t got = 0, full = 0;
    sembed_error err;
    sembed_status st = tokenizer_encode(t, NULL, buf, len, p, ids, 4096, &got, &full, &err);
    free(buf);
    if (st != SEMBED_OK)
        fail_msg("encode: %s", err.message);
    int same = got == n;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    if (!same) {
        char msg[2048];
        size_t o = (size_t)snprintf(msg, sizeof msg, "text \"%.*s\": got", (int)len, text);
        for (size_t i = 0; i < got && o < sizeof msg - 16; i++)
            o += (size_t)snprintf(msg + o, sizeof msg - o, " %d", ids[i]);
        o += (size_t)snprintf(msg + o, sizeof msg - o, ", want");
        for (size_t i = 0; i < n && o < sizeof msg - 16; i++)
            o += (size_t)snprintf(msg + o, sizeof msg - o, " %d", want[i]);
        fail_msg("%s", msg);
    }
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (sizeof((const int32_t[]){__VA_ARGS__}) / 4)
#define CHECK(t, text, ...) check_ids_n(t, text, sizeof(text) - 1, NULL, IDS(__VA_ARGS__))

/* The normalizer alone, BERT defaults unless changed. */
static void check_norm_with(const tok_norm *n, const char *in, size_t in_len, const char *want) {
    tok_scratch *s = tok_scratch_new();
    assert_non_null(s);
    assert_int_equal(tok_normalize(n, s, in, in_len), 0);
    if (s->norm.len != strlen(want) || memcmp(s->norm.p, want, s->norm.len) != 0) {
        char got[512], exp[512];
        size_t o = 0;
        for (size_t i = 0; i < s->norm.len && o < sizeof got - 4; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%02x", (unsigned char)s->norm.p[i]);
        got[o] = 0;
        o = 0;
        for (size_t i = 0; want[i] && o < sizeof exp - 4; i++)
            o += (size_t)snprintf(exp + o, sizeof exp - o, "%02x", (unsigned char)want[i]);
        exp[o] = 0;
        tok_scratch_free(s);
        fail_msg("normalize: got %s, want %s", got, exp);
    }
    tok_scratch_free(s);
}

static tok_norm bert_norm(int strip, int lower) {
    tok_norm n;
    memset(&n, 0, sizeof n);
    n.has_bert = 1;
    n.clean_text = 1;
    n.handle_cjk = 1;
    n.strip_accents = strip;
    n.lowercase = lower;
    tok_norm_finish(&n);
    return n;
}

#define NORM(in, want)                                                                    \
    do {                                                                                  \
        tok_norm n_ = bert_norm(1, 1);                                                    \
        check_norm_with(&n_, in, sizeof(in) - 1, want);                                   \
    } while (0)

/* ---- clean_text ------------------------------------------------------------ */

static void test_clean_text(void **state) {
    (void)state;
    NORM("a\x0b" "b", "ab");          /* VT: Cc, deleted before the space mapping */
    NORM("a\x0c" "b", "ab");          /* FF */
    NORM("a\xc2\x85" "b", "ab");      /* NEL U+0085 */
    NORM("a\tb\nc\rd e", "a b c d e");
    NORM("a\xc2\xa0" "b", "a b");     /* NBSP is White_Space */
    NORM("a\xe2\x80\xa8" "b", "a b"); /* U+2028 */
    NORM("a\xe3\x80\x80" "b", "a b"); /* U+3000 */
    NORM("a\xe2\x80\x8d" "b", "ab");  /* ZWJ: Cf */
    NORM("a\xe2\x80\x8b" "b", "ab");  /* ZWSP */
    NORM("a\xef\xbb\xbf" "b", "ab");  /* BOM */
    NORM("a\xc2\xad" "b", "ab");      /* soft hyphen */
    NORM("a\x1c" "b", "ab");          /* U+001C: Cc, though Python calls it space */
    NORM("a\xee\x80\x80" "b", "ab");  /* U+E000: Co */
    NORM("a\xef\xbf\xbd" "b", "ab");  /* U+FFFD */
    NORM("a\xd8\x9c" "b", "ab");      /* U+061C: Cf in 8.0 */
    NORM("a\xcd\xb8" "b", "a\xcd\xb8" "b");  /* U+0378 unassigned (Cn): kept */
    NORM("a\xe0\xa2\x90" "b", "a\xe0\xa2\x90" "b");  /* U+0890: Cf since 14.0, kept */
    NORM("a\xf3\xa0\x80\x81" "b", "ab");  /* U+E0001 tag */
    static const char nul[] = {'a', 0, 'b'};
    tok_norm n = bert_norm(1, 1);
    check_norm_with(&n, nul, 3, "ab");
    /* clean_text off: nothing deleted or mapped. */
    n.clean_text = 0;
    tok_norm_finish(&n);
    check_norm_with(&n, "a\x0b\tb", 4, "a\x0b\tb");
}

/* ---- CJK ------------------------------------------------------------------- */

static void test_cjk(void **state) {
    (void)state;
    NORM("a\xe4\xb8\x80" "b", "a \xe4\xb8\x80 b");        /* U+4E00 */
    NORM("\xf0\xab\xa0\x9f", " \xf0\xab\xa0\x9f ");        /* U+2B81F: ext D */
    NORM("\xf0\xab\xa0\xa0", "\xf0\xab\xa0\xa0");          /* U+2B820: not in the list */
    NORM("\xf0\xab\xa4\x9f", "\xf0\xab\xa4\x9f");          /* U+2B91F */
    NORM("\xf0\xab\xa4\xa0", " \xf0\xab\xa4\xa0 ");        /* U+2B920 */
    NORM("\xf0\xac\xba\xaf", " \xf0\xac\xba\xaf ");        /* U+2CEAF */
    NORM("\xf0\xac\xba\xb0", "\xf0\xac\xba\xb0");          /* U+2CEB0: ext F, not padded */
    NORM("\xe3\x81\x82", "\xe3\x81\x82");                  /* hiragana */
    /* U+F900 is padded, then NFD maps it to U+8C48. */
    NORM("\xef\xa4\x80", " \xe8\xb1\x88 ");
    tok_norm n = bert_norm(1, 1);
    n.handle_cjk = 0;
    tok_norm_finish(&n);
    check_norm_with(&n, "a\xe4\xb8\x80" "b", 5, "a\xe4\xb8\x80" "b");
}

/* ---- strip_accents ----------------------------------------------------------- */

static void test_strip_accents(void **state) {
    (void)state;
    NORM("\xc3\xa9", "e");                 /* é precomposed */
    NORM("e\xcc\x81", "e");                /* e + U+0301 */
    NORM("\xc3\x85", "a");                 /* Å */
    NORM("\xe0\xa4\x83", "\xe0\xa4\x83");  /* U+0903: Mc, kept */
    NORM("\xe1\x9c\xb4", "");              /* U+1734: Mn in 8.0 (Mc later), deleted */
    NORM("\xe0\xb4\x80", "\xe0\xb4\x80");  /* U+0D00: Mn added in 10.0, kept */
    NORM("\xed\x95\x9c", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab");  /* 한 -> jamo */
    NORM("\xe2\x84\xaa", "k");             /* KELVIN SIGN -> K -> k */
    NORM("\xe2\x84\xa6", "\xcf\x89");      /* OHM SIGN -> Ω -> ω */
    /* U+1D15E decomposes to U+1D157 U+1D165 (kept: not Mn). */
    NORM("\xf0\x9d\x85\x9e", "\xf0\x9d\x85\x97\xf0\x9d\x85\xa5");
    /* Canonical ordering: U+1D16D (ccc 226) after U+1D165 (ccc 216). */
    NORM("x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5", "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    /* U+11938 decomposes only since Unicode 13: not here (9.0 data). */
    NORM("x\xf0\x91\xa4\xb8", "x\xf0\x91\xa4\xb8");
    /* U+1E4EC has ccc 232 only since 15.0: it is a starter here, so U+1E944
     * (ccc 230) is not moved in front of it. */
    NORM("a\xf0\x9e\x93\xac\xf0\x9e\xa5\x84", "a\xf0\x9e\x93\xac\xf0\x9e\xa5\x84");
    /* Without stripping there is no NFD at all. */
    tok_norm n = bert_norm(0, 1);
    check_norm_with(&n, "a\xcc\x88\xcc\xa3", 5, "a\xcc\x88\xcc\xa3");
    check_norm_with(&n, "\xc3\xa9", 2, "\xc3\xa9");
    /* A long run of marks (counting sort) stays stable: with stripping off
     * but NFD forced through strip_accents + Mn kept by using marks that
     * are not Mn in 8.0 (U+1D165 ccc 216, U+1D16D ccc 226). */
    char in[1 + 4 * 100], want[1 + 4 * 100];
    in[0] = want[0] = 'x';
    for (int i = 0; i < 100; i++)
        memcpy(in + 1 + 4 * i, (i % 2) ? "\xf0\x9d\x85\xa5" : "\xf0\x9d\x85\xad", 4);
    for (int i = 0; i < 100; i++)
        memcpy(want + 1 + 4 * i, i < 50 ? "\xf0\x9d\x85\xa5" : "\xf0\x9d\x85\xad", 4);
    char wz[sizeof want + 1];
    memcpy(wz, want, sizeof want);
    wz[sizeof want] = 0;
    n = bert_norm(1, 1);
    check_norm_with(&n, in, sizeof in, wz);
}

/* ---- lowercase ------------------------------------------------------------------ */

static void test_lowercase(void **state) {
    (void)state;
    NORM("HeLLo", "hello");
    NORM("\xc4\xb0", "i");                       /* İ, stripped: I + U+0307 -> i */
    NORM("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x83");  /* ΣΑΣ: no final sigma */
    NORM("\xc3\x9f", "\xc3\x9f");                /* ß stays */
    NORM("\xe1\xba\x9e", "\xc3\x9f");            /* ẞ -> ß */
    NORM("\xe1\x8e\xa0", "\xea\xad\xb0");        /* Cherokee U+13A0 -> U+AB70 */
    NORM("\xe1\x8f\xb0", "\xe1\x8f\xb8");        /* U+13F0 -> U+13F8 */
    NORM("\xea\x9f\x8b", "\xc9\xa4");            /* U+A7CB -> U+0264 (Unicode 16, Rust) */
    tok_norm n = bert_norm(0, 1);
    check_norm_with(&n, "\xc4\xb0", 2, "i\xcc\x87");  /* not stripped: two characters */
    n = bert_norm(0, 0);
    check_norm_with(&n, "HeLLo \xc4\xb0", 8, "HeLLo \xc4\xb0");
    /* ST6's Lowercase before the BertNormalizer. */
    n = bert_norm(0, 0);
    n.pre_lower = 1;
    tok_norm_finish(&n);
    check_norm_with(&n, "AB\xc4\xb0", 4, "ab" "i\xcc\x87");
}

/* ---- pre-tokenizer and WordPiece ---------------------------------------------------- */

static void test_punctuation(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    CHECK(t, "a$b", CLS, A, DOLLAR, B, SEP);     /* $ is ASCII punctuation (Sc) */
    CHECK(t, "a+b", CLS, A, PLUS, B, SEP);       /* + (Sm) */
    CHECK(t, "a!?b", CLS, A, EXCL, QUES, B, SEP);
    CHECK(t, "a\xd8\x9f" "b", CLS, A, AQ, B, SEP);  /* U+061F: Po in 8.0 */
    CHECK(t, "a\xd8\x9d" "b", CLS, UNK, SEP);       /* U+061D: Po only since 14.0 */
    CHECK(t, "a\xe2\x82\xac" "b", CLS, UNK, SEP);   /* € is a symbol, stays in the word */
    CHECK(t, "  a \t b  ", CLS, A, B, SEP);
    tokenizer_free(t);
}

static void test_wordpiece(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    CHECK(t, "unaffable", CLS, UN, HAFF, HABLE, SEP);
    CHECK(t, "abc", CLS, AB, HC, SEP);          /* longest match first */
    CHECK(t, "abz", CLS, UNK, SEP);             /* unmatchable tail: one [UNK] */
    CHECK(t, "a abz b", CLS, A, UNK, B, SEP);
    CHECK(t, "hello, world.", CLS, HELLO, COMMA, WORLD, DOT, SEP);
    /* 100 characters are tokenized, 101 are one [UNK]. */
    char w[202];
    memset(w, 'a', 101);
    int32_t want[102];
    want[0] = CLS;
    want[1] = A;
    for (int i = 2; i <= 100; i++)
        want[i] = HA;
    want[101] = SEP;
    check_ids_n(t, w, 100, NULL, want, 102);
    check_ids_n(t, w, 101, NULL, IDS(CLS, UNK, SEP));
    /* The limit counts characters: 100 x ж (200 bytes) is fine. */
    char z[202 * 2];
    for (int i = 0; i < 101; i++)
        memcpy(z + 2 * i, "\xd0\xb6", 2);
    want[1] = ZHE;
    for (int i = 2; i <= 100; i++)
        want[i] = HZHE;
    check_ids_n(t, z, 200, NULL, want, 102);
    check_ids_n(t, z, 202, NULL, IDS(CLS, UNK, SEP));
    tokenizer_free(t);
}

static void test_special_literals(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    CHECK(t, "a[MASK]b", CLS, A, MASK, B, SEP);
    CHECK(t, "a [mask] b", CLS, A, LBR, MASKW, RBR, B, SEP);
    CHECK(t, "[CLS][SEP][PAD][UNK]", CLS, CLS, SEP, PAD, UNK, SEP);
    CHECK(t, "[MASK", CLS, LBR, MASKW, SEP);
    CHECK(t, "[[MASK]]", CLS, LBR, MASK, RBR, SEP);
    assert_true(sembed_tokenizer_is_special(t, MASK));
    assert_false(sembed_tokenizer_is_special(t, A));
    assert_false(sembed_tokenizer_is_special(t, 99999));
    tokenizer_free(t);
}

static void test_empty_and_space(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    check_ids_n(t, "", 0, NULL, IDS(CLS, SEP));
    CHECK(t, " \t\n\r ", CLS, SEP);
    CHECK(t, "\x01\x02\x7f", CLS, SEP);
    CHECK(t, "\xe2\x80\x8b\xef\xbb\xbf", CLS, SEP);
    sembed_tokenize_params p = sembed_tokenize_default_params();
    p.add_special_tokens = 0;
    check_ids_n(t, "a b", 3, &p, IDS(A, B));
    check_ids_n(t, "", 0, &p, NULL, 0);
    tokenizer_free(t);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    CHECK(t, "a\x80" "b", CLS, AB, SEP);               /* lone continuation */
    CHECK(t, "a\xc0\xaf" "b", CLS, AB, SEP);           /* overlong */
    CHECK(t, "a\xed\xa0\x80" "b", CLS, AB, SEP);       /* surrogate */
    CHECK(t, "a\xf5" "b", CLS, AB, SEP);
    CHECK(t, "a\xff" "b", CLS, AB, SEP);
    CHECK(t, "a\xf4\x90\x80\x80" "b", CLS, AB, SEP);   /* above U+10FFFF */
    CHECK(t, "a\xe2\x82" "b", CLS, AB, SEP);           /* cut sequence, then ASCII */
    CHECK(t, "ab\xe2\x82", CLS, AB, SEP);              /* cut at the end of the buffer */
    CHECK(t, "ab\xf0", CLS, AB, SEP);
    CHECK(t, "\xc3", CLS, SEP);
    /* U+FFFD is a character when added tokens are matched, as in a Python
     * string decoded with errors="replace". */
    CHECK(t, "[MA\xffSK]", CLS, LBR, MASKW, RBR, SEP);
    CHECK(t, "\xe2[MASK]", CLS, MASK, SEP);
    tokenizer_free(t);
}

/* ---- truncation ----------------------------------------------------------------- */

static void test_truncation(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    tokenizer_set_max_length(t, 5);
    assert_int_equal(sembed_tokenizer_max_length(t), 5);
    /* 2 pieces + 2 specials = 4 < 5; 3 = max; 4 = max + 1. */
    CHECK(t, "a b", CLS, A, B, SEP);
    CHECK(t, "a b c", CLS, A, B, C, SEP);
    CHECK(t, "a b c x", CLS, A, B, C, SEP);
    sembed_tokenize_params p = sembed_tokenize_default_params();
    p.truncation_side = SEMBED_TRUNCATE_LEFT;
    check_ids_n(t, "a b c", 5, &p, IDS(CLS, A, B, C, SEP));
    check_ids_n(t, "a b c x", 7, &p, IDS(CLS, B, C, X, SEP));
    /* The cut is per piece and can split a word. */
    check_ids_n(t, "x unaffable", 11, NULL, IDS(CLS, X, UN, HAFF, SEP));
    check_ids_n(t, "x unaffable", 11, &p, IDS(CLS, UN, HAFF, HABLE, SEP));

    /* truncate = 0: at the limit fine, one over is SEMBED_ERR_LIMIT. */
    p = sembed_tokenize_default_params();
    p.truncate = 0;
    check_ids_n(t, "a b c", 5, &p, IDS(CLS, A, B, C, SEP));
    int32_t ids[16];
    size_t n = 99, full = 0;
    sembed_error err;
    assert_int_equal(tokenizer_encode(t, NULL, "a b c x", 7, &p, ids, 16, &n, &full, &err),
                     SEMBED_ERR_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(full, 6);
    assert_non_null(strstr(err.message, "input has 6 tokens, more than the maximum 5"));

    /* params.max_length overrides the tokenizer's; n_untruncated counts all. */
    p = sembed_tokenize_default_params();
    p.max_length = 3;
    assert_int_equal(tokenizer_encode(t, NULL, "a b c x", 7, &p, ids, 16, &n, &full, &err),
                     SEMBED_OK);
    assert_int_equal(n, 3);
    assert_int_equal(full, 6);
    assert_int_equal(ids[1], A);
    /* Fewer places than special tokens, or a buffer too small: errors. */
    p.max_length = 1;
    assert_int_equal(tokenizer_encode(t, NULL, "a", 1, &p, ids, 16, &n, &full, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    p.max_length = 0;
    assert_int_equal(tokenizer_encode(t, NULL, "a b", 3, &p, ids, 3, &n, &full, &err),
                     SEMBED_ERR_LIMIT);
    assert_int_equal(full, 4);
    p.max_length = -1;
    assert_int_equal(tokenizer_encode(t, NULL, "a", 1, &p, ids, 16, &n, &full, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    /* Unset max length (0): nothing is cut. */
    tokenizer_set_max_length(t, 0);
    CHECK(t, "a b c x a b c", CLS, A, B, C, X, A, B, C, SEP);
    /* The public wrapper (no scratch) gives the same. */
    assert_int_equal(sembed_tokenize(t, "a b", 3, NULL, ids, 16, &n, NULL, NULL), SEMBED_OK);
    assert_int_equal(n, 4);
    tokenizer_free(t);
}

/* ---- loading rules ---------------------------------------------------------------- */

static void test_vocab_txt_rules(void **state) {
    (void)state;
    /* trim_end (spaces, \r), repeated line keeps the last index, no final
     * newline needed. */
    sembed_tokenizer *t = load_vocab("[PAD]\r\n[UNK]  \n[CLS]\n[SEP]\nfoo\nbar\nfoo\t\nbaz", NULL);
    check_ids_n(t, "foo bar baz", 11, NULL, IDS(2, 6, 5, 7, 3));
    assert_string_equal(sembed_token_text(t, 1), "[UNK]");
    assert_null(sembed_token_text(t, 4));     /* the earlier "foo": a hole */
    assert_null(sembed_token_text(t, 8));
    assert_null(sembed_token_text(t, -1));
    assert_int_equal(sembed_tokenizer_vocab_size(t), 8);
    assert_int_equal(tokenizer_unk_id(t), 1);
    assert_int_equal(tokenizer_cls_id(t), 2);
    assert_int_equal(tokenizer_sep_id(t), 3);
    assert_int_equal(tokenizer_pad_id(t), 0);
    assert_int_equal(tokenizer_max_id(t), 7);
    tokenizer_free(t);

    sembed_error err;
    sembed_tokenizer *bad = NULL;
    const char no_unk[] = "[CLS]\n[SEP]\na\n";
    assert_int_equal(tokenizer_load_memory(NULL, 0, no_unk, strlen(no_unk), NULL, 0, &bad, &err),
                     SEMBED_ERR_FORMAT);
    assert_null(bad);
    assert_non_null(strstr(err.message, "[UNK]"));
    const char no_cls[] = "[UNK]\n[SEP]\na\n";
    assert_int_equal(tokenizer_load_memory(NULL, 0, no_cls, strlen(no_cls), NULL, 0, &bad, &err),
                     SEMBED_ERR_FORMAT);
    const char bad_utf8[] = "[UNK]\n[CLS]\n[SEP]\n\xff\n";
    assert_int_equal(tokenizer_load_memory(NULL, 0, bad_utf8, strlen(bad_utf8), NULL, 0, &bad,
                                           &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "line 4"));
    assert_int_equal(tokenizer_load_memory(NULL, 0, "", 0, NULL, 0, &bad, &err),
                     SEMBED_ERR_FORMAT);
    assert_int_equal(tokenizer_load_memory(NULL, 0, NULL, 0, NULL, 0, &bad, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
}

static void test_config_flags(void **state) {
    (void)state;
    /* tokenizer_config.json: do_lower_case false keeps case (and, with
     * strip_accents null, accents). */
    const char vocab[] = "[UNK]\n[CLS]\n[SEP]\nHello\nhello\n\xc3\xa9\ne\n\xe4\xb8\x80\n";
    sembed_tokenizer *t = load_vocab(vocab, "{\"do_lower_case\": false}");
    check_ids_n(t, "Hello \xc3\xa9", 8, NULL, IDS(1, 3, 5, 2));
    tokenizer_free(t);
    t = load_vocab(vocab, NULL);
    check_ids_n(t, "Hello \xc3\xa9", 8, NULL, IDS(1, 4, 6, 2));
    tokenizer_free(t);
    t = load_vocab(vocab, "{\"do_lower_case\": true, \"strip_accents\": false}");
    check_ids_n(t, "Hello \xc3\xa9", 8, NULL, IDS(1, 4, 5, 2));
    tokenizer_free(t);
    t = load_vocab(vocab, "{\"tokenize_chinese_chars\": false}");
    check_ids_n(t, "e\xe4\xb8\x80", 4, NULL, IDS(1, 0, 2));
    tokenizer_free(t);
    t = load_vocab(vocab, NULL);
    check_ids_n(t, "e\xe4\xb8\x80", 4, NULL, IDS(1, 6, 7, 2));
    /* ST6's do_lower_case: a Lowercase in front. */
    tokenizer_free(t);
    t = load_vocab(vocab, "{\"do_lower_case\": false}");
    tokenizer_set_force_lowercase(t, 1);
    check_ids_n(t, "Hello", 5, NULL, IDS(1, 4, 2));
    tokenizer_set_force_lowercase(t, 0);
    check_ids_n(t, "Hello", 5, NULL, IDS(1, 3, 2));
    tokenizer_free(t);
    /* Custom special token names from the config. */
    t = load_vocab("<unk>\n<s>\n</s>\na\n",
                   "{\"unk_token\": \"<unk>\", \"cls_token\": {\"content\": \"<s>\"}, "
                   "\"sep_token\": \"</s>\"}");
    check_ids_n(t, "a<s>", 4, NULL, IDS(1, 3, 1, 2));
    tokenizer_free(t);
    sembed_tokenizer *bad = NULL;
    sembed_error err;
    const char cfg[] = "{\"do_lower_case\": 1}";
    assert_int_equal(tokenizer_load_memory(NULL, 0, vocab, strlen(vocab), cfg, strlen(cfg), &bad,
                                           &err), SEMBED_ERR_FORMAT);
    assert_non_null(strstr(err.message, "do_lower_case"));
}

/* A minimal tokenizer.json around a normalizer/pre-tokenizer/model. */
static sembed_status load_json(const char *model, const char *normalizer, const char *pre,
                               const char *post, const char *added, const char *config,
                               sembed_tokenizer **out, sembed_error *err) {
    char json[16384];
    snprintf(json, sizeof json,
             "{\"version\": \"1.0\", \"added_tokens\": %s, \"normalizer\": %s, "
             "\"pre_tokenizer\": %s, \"post_processor\": %s, \"model\": %s}",
             added, normalizer, pre, post, model);
    return tokenizer_load_memory(json, strlen(json), NULL, 0, config,
                                 config ? strlen(config) : 0, out, err);
}

#define WP_MODEL(extra)                                                                    \
    "{\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", " \
    extra "\"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3, \"##a\": 4, "           \
    "\"A\": 5, \"\xc3\xa9\": 6, \"e\": 7}}"
#define BERT_NORM "{\"type\": \"BertNormalizer\", \"lowercase\": true, \"strip_accents\": null}"
#define BERT_PRE "{\"type\": \"BertPreTokenizer\"}"
#define TEMPLATE                                                                          \
    "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", "   \
    "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "     \
    "{\"id\": \"[SEP]\", \"type_id\": 0}}], \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", " \
    "\"ids\": [1], \"tokens\": [\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [2], "     \
    "\"tokens\": [\"[SEP]\"]}}}"
#define SPECIALS                                                                          \
    "[{\"id\": 0, \"content\": \"[UNK]\", \"special\": true, \"normalized\": false}, "      \
    "{\"id\": 1, \"content\": \"[CLS]\", \"special\": true, \"normalized\": false}, "       \
    "{\"id\": 2, \"content\": \"[SEP]\", \"special\": true, \"normalized\": false}]"

static void test_tokenizer_json(void **state) {
    (void)state;
    sembed_tokenizer *t = NULL;
    sembed_error err;
    assert_int_equal(load_json(WP_MODEL("\"max_input_chars_per_word\": 3, "), BERT_NORM, BERT_PRE,
                               TEMPLATE, SPECIALS, NULL, &t, &err), SEMBED_OK);
    check_ids_n(t, "aaa aaaa \xc3\x89", 11, NULL, IDS(1, 3, 4, 4, 0, 7, 2));
    tokenizer_free(t);
    /* The v5 rule: tokenizer_config.json flags win over the file's. */
    assert_int_equal(load_json(WP_MODEL(""), BERT_NORM, BERT_PRE, TEMPLATE, SPECIALS,
                               "{\"do_lower_case\": false}", &t, &err), SEMBED_OK);
    check_ids_n(t, "A \xc3\xa9", 4, NULL, IDS(1, 5, 6, 2));
    tokenizer_free(t);
    /* post_processor null: BERT defaults. A normalizer Sequence with
     * Lowercase. */
    assert_int_equal(load_json(WP_MODEL(""), "{\"type\": \"Sequence\", \"normalizers\": "
                               "[{\"type\": \"Lowercase\"}]}", BERT_PRE, "null", SPECIALS, NULL,
                               &t, &err), SEMBED_OK);
    check_ids_n(t, "A \xc3\x89", 4, NULL, IDS(1, 3, 6, 2));
    tokenizer_free(t);
    /* Added tokens: normalized ones match on normalized text; lstrip and
     * rstrip take the spaces around them; the id comes from the vocabulary
     * when the content is already there. */
    assert_int_equal(load_json(WP_MODEL(""), BERT_NORM, BERT_PRE, TEMPLATE,
                               "[{\"id\": 0, \"content\": \"[UNK]\", \"special\": true, "
                               "\"normalized\": false}, {\"id\": 8, \"content\": \"XY\", "
                               "\"normalized\": true}, {\"id\": 9, \"content\": \"<m>\", "
                               "\"normalized\": false, \"lstrip\": true, \"rstrip\": true, "
                               "\"special\": true}, {\"id\": 42, \"content\": \"a\", "
                               "\"normalized\": false}]",
                               NULL, &t, &err), SEMBED_OK);
    check_ids_n(t, "xy e  <m>  e", 12, NULL, IDS(1, 8, 7, 9, 7, 2));
    check_ids_n(t, "ea", 2, NULL, IDS(1, 7, 3, 2));
    assert_int_equal(sembed_tokenizer_vocab_size(t), 10);
    assert_string_equal(sembed_token_text(t, 8), "XY");
    assert_true(sembed_tokenizer_is_special(t, 9));
    tokenizer_free(t);

    /* Unsupported components are refused by name. */
    struct { const char *model, *norm, *pre, *post, *added, *want; sembed_status st; } bad[] = {
        {"{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}", BERT_NORM, BERT_PRE, TEMPLATE,
         "[]", "model type \"BPE\"", SEMBED_ERR_UNSUPPORTED},
        {WP_MODEL(""), "{\"type\": \"NFKC\"}", BERT_PRE, TEMPLATE, "[]", "normalizer \"NFKC\"",
         SEMBED_ERR_UNSUPPORTED},
        {WP_MODEL(""), BERT_NORM, "{\"type\": \"Whitespace\"}", TEMPLATE, "[]",
         "pre_tokenizer \"Whitespace\"", SEMBED_ERR_UNSUPPORTED},
        {WP_MODEL(""), BERT_NORM, "null", TEMPLATE, "[]", "pre_tokenizer", SEMBED_ERR_UNSUPPORTED},
        {WP_MODEL(""), BERT_NORM, BERT_PRE, "{\"type\": \"ByteLevel\"}", "[]",
         "post_processor \"ByteLevel\"", SEMBED_ERR_UNSUPPORTED},
        {WP_MODEL(""), BERT_NORM, BERT_PRE, TEMPLATE,
         "[{\"id\": 9, \"content\": \"<m>\", \"single_word\": true}]", "single_word",
         SEMBED_ERR_UNSUPPORTED},
        {"{\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"a\": 0}}", BERT_NORM,
         BERT_PRE, "null", "[]", "unk_token", SEMBED_ERR_FORMAT},
        {"{\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": -1}}", BERT_NORM, BERT_PRE, "null",
         "[]", "model.vocab", SEMBED_ERR_FORMAT},
        {WP_MODEL(""), BERT_NORM, BERT_PRE,
         "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
         "\"[CLS]\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"[CLS]\": "
         "{\"ids\": [77]}}}", "[]", "outside the vocabulary", SEMBED_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        sembed_status st = load_json(bad[i].model, bad[i].norm, bad[i].pre, bad[i].post,
                                     bad[i].added, NULL, &t, &err);
        if (st != bad[i].st || !strstr(err.message, bad[i].want))
            fail_msg("case %zu: status %d, message \"%s\"", i, st, err.message);
        assert_null(t);
    }
    const char junk[] = "{\"model\": ";
    assert_int_equal(tokenizer_load_memory(junk, strlen(junk), NULL, 0, NULL, 0, &t, &err),
                     SEMBED_ERR_FORMAT);
}

/* Limits: a vocabulary entry of TOK_MAX_TOKEN_BYTES loads, one byte more
 * does not; a template of TOK_MAX_TEMPLATE items loads, one more does not. */
static void test_limits(void **state) {
    (void)state;
    size_t n = TOK_MAX_TOKEN_BYTES + 1;
    char *v = malloc(64 + n);
    assert_non_null(v);
    for (int extra = -1; extra <= 1; extra++) {
        size_t len = (size_t)((int)TOK_MAX_TOKEN_BYTES + extra);
        strcpy(v, "[UNK]\n[CLS]\n[SEP]\n");
        size_t o = strlen(v);
        memset(v + o, 'q', len);
        v[o + len] = '\n';
        sembed_tokenizer *t = NULL;
        sembed_error err;
        sembed_status st = tokenizer_load_memory(NULL, 0, v, o + len + 1, NULL, 0, &t, &err);
        assert_int_equal(st, extra <= 0 ? SEMBED_OK : SEMBED_ERR_LIMIT);
        if (t) {
            /* The longest entry is found by lookup too. */
            int32_t ids[4];
            size_t got = 0;
            assert_int_equal(tokenizer_encode(t, NULL, v + o, len, NULL, ids, 4, &got, NULL,
                                              NULL), SEMBED_OK);
            /* Over 100 characters: one [UNK] whatever the vocabulary. */
            assert_int_equal(ids[1], 0);
            tokenizer_free(t);
        } else {
            assert_non_null(strstr(err.message, "longer than 1024 bytes"));
        }
    }
    free(v);
    for (int items = TOK_MAX_TEMPLATE - 1; items <= TOK_MAX_TEMPLATE + 1; items++) {
        char post[4096];
        size_t o = (size_t)snprintf(post, sizeof post,
                                    "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": "
                                    "{\"id\": \"A\"}}");
        for (int i = 1; i < items; i++)
            o += (size_t)snprintf(post + o, sizeof post - o,
                                  ", {\"SpecialToken\": {\"id\": \"[SEP]\"}}");
        snprintf(post + o, sizeof post - o, "], \"special_tokens\": {\"[SEP]\": {\"ids\": [2]}}}");
        sembed_tokenizer *t = NULL;
        sembed_error err;
        sembed_status st = load_json(WP_MODEL(""), BERT_NORM, BERT_PRE, post, SPECIALS, NULL, &t,
                                     &err);
        assert_int_equal(st, items <= TOK_MAX_TEMPLATE ? SEMBED_OK : SEMBED_ERR_UNSUPPORTED);
        if (t) {
            int32_t ids[32];
            size_t got = 0;
            assert_int_equal(tokenizer_encode(t, NULL, "a", 1, NULL, ids, 32, &got, NULL, NULL),
                             SEMBED_OK);
            assert_int_equal(got, (size_t)items);
            assert_int_equal(ids[0], 3);
            tokenizer_free(t);
        }
    }
}

/* ---- detokenize -------------------------------------------------------------------- */

static void test_detokenize(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    const int32_t ids[] = {CLS, HELLO, UN, HAFF, HABLE, WORLD, EXCL, COMMA, SEP};
    char out[128];
    size_t len = 0;
    sembed_error err;
    assert_int_equal(sembed_detokenize(t, ids, 9, 1, out, sizeof out, &len, &err), SEMBED_OK);
    assert_string_equal(out, "hello unaffable world!,");
    assert_int_equal(len, strlen(out));
    assert_int_equal(sembed_detokenize(t, ids, 9, 0, out, sizeof out, &len, &err), SEMBED_OK);
    assert_string_equal(out, "[CLS] hello unaffable world!, [SEP]");
    /* A leading "##" piece keeps its prefix. */
    const int32_t cont[] = {HB, A};
    assert_int_equal(sembed_detokenize(t, cont, 2, 1, out, sizeof out, &len, &err), SEMBED_OK);
    assert_string_equal(out, "##b a");
    /* Exactly fitting, one byte short, bad ids. */
    assert_int_equal(sembed_detokenize(t, cont, 2, 1, out, 6, &len, &err), SEMBED_OK);
    assert_int_equal(sembed_detokenize(t, cont, 2, 1, out, 5, &len, &err), SEMBED_ERR_LIMIT);
    assert_string_equal(out, "");
    const int32_t bad[] = {A, 9999};
    assert_int_equal(sembed_detokenize(t, bad, 2, 1, out, sizeof out, &len, &err),
                     SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "index 1"));
    assert_int_equal(sembed_detokenize(t, NULL, 0, 1, out, sizeof out, &len, &err), SEMBED_OK);
    assert_string_equal(out, "");
    tokenizer_free(t);
}

/* ---- threads ------------------------------------------------------------------------ */

typedef struct worker {
    const sembed_tokenizer *tok;
    int ok;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    tok_scratch *s = tok_scratch_new();
    int32_t ids[64];
    size_t n;
    w->ok = s != NULL;
    for (int i = 0; i < 2000 && w->ok; i++) {
        const char *text = (i % 2) ? "hello unaffable world!" : "a\xcc\x81" "b [MASK] \xe4\xb8\x80";
        w->ok = tokenizer_encode(w->tok, (i % 3) ? s : NULL, text, strlen(text), NULL, ids, 64, &n,
                                 NULL, NULL) == SEMBED_OK &&
                n == ((i % 2) ? 8u : 5u) && ids[1] == ((i % 2) ? HELLO : AB);
    }
    tok_scratch_free(s);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    sembed_tokenizer *t = load_vocab(VOCAB, NULL);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].tok = t;
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_text),      cmocka_unit_test(test_cjk),
        cmocka_unit_test(test_strip_accents),   cmocka_unit_test(test_lowercase),
        cmocka_unit_test(test_punctuation),     cmocka_unit_test(test_wordpiece),
        cmocka_unit_test(test_special_literals), cmocka_unit_test(test_empty_and_space),
        cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_vocab_txt_rules), cmocka_unit_test(test_config_flags),
        cmocka_unit_test(test_tokenizer_json),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_detokenize),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

