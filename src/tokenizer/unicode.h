/*
 * unicode.h - the character classes and mappings of Hugging Face
 * tokenizers' BERT pipeline, per code point. They mix Unicode versions on
 * purpose, because tokenizers does: categories of Unicode 8.0, NFD of 9.0,
 * lowercase of the Rust toolchain (see docs/TOKENIZER.md). The tables are
 * generated into unicode_tables.c by tools/gen/gen_unicode_tables.py.
 */
#ifndef SEMBED_TOKENIZER_UNICODE_H
#define SEMBED_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_range {
    uint32_t lo, hi;              /* inclusive */
} tok_range;

typedef struct tok_case_pair {
    uint32_t cp, lower;
} tok_case_pair;

extern const tok_range tok_control8[];
extern const size_t tok_control8_len;
extern const tok_range tok_mn8[];
extern const size_t tok_mn8_len;
extern const tok_range tok_punct8[];
extern const size_t tok_punct8_len;
extern const tok_range tok_assigned9[];
extern const size_t tok_assigned9_len;
extern const tok_case_pair tok_lower_override[];
extern const size_t tok_lower_override_len;

/* Longest canonical decomposition of one code point (Unicode has 4). */
#define TOK_NFD_MAX 8

/* 1 when cp lies in one of the sorted, disjoint ranges. */
int tok_in_ranges(uint32_t cp, const tok_range *r, size_t n);

/* clean_text deletes these: U+0000, U+FFFD and Cc/Cf/Co of Unicode 8.0
 * other than tab, LF and CR. */
int tok_is_deleted(uint32_t cp);
/* Rust char::is_whitespace (Unicode White_Space). */
int tok_is_whitespace(uint32_t cp);
/* tokenizers' is_chinese_char ranges (2B920, not 2B820). */
int tok_is_cjk(uint32_t cp);
/* Category Mn of Unicode 8.0. */
int tok_is_mn8(uint32_t cp);
/* Rust is_ascii_punctuation or P* of Unicode 8.0. */
int tok_is_punct(uint32_t cp);

/* Rust char::to_lowercase: writes 1 or 2 code points, returns the count. */
int tok_lower(uint32_t cp, uint32_t out[2]);

/* Canonical decomposition with Unicode 9.0 data (characters assigned later
 * stay as they are). Writes at most TOK_NFD_MAX code points; returns the
 * count (1 when cp does not decompose). */
int tok_nfd(uint32_t cp, uint32_t out[TOK_NFD_MAX]);

/* Canonical combining class with Unicode 9.0 data (0 for characters
 * assigned later). */
int tok_ccc(uint32_t cp);

/* Decodes one UTF-8 character of valid UTF-8 at s (len > 0 bytes left);
 * *n gets its byte length. Callers only pass validated text. */
static inline uint32_t tok_utf8_next(const unsigned char *s, size_t *n) {
    unsigned c = s[0];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c < 0xE0) {
        *n = 2;
        return ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    }
    if (c < 0xF0) {
        *n = 3;
        return ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    }
    *n = 4;
    return ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

/* Writes cp as UTF-8 (1-4 bytes) and returns the byte count. */
static inline size_t tok_utf8_put(char *dst, uint32_t cp) {
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the longest prefix of s[0..len) that is valid UTF-8 (no
 * overlongs, no surrogates, nothing above U+10FFFF). */
size_t tok_utf8_valid_prefix(const unsigned char *s, size_t len);

/* Length of the invalid sequence at s (the "maximal subpart" that one
 * U+FFFD replaces, as WHATWG and Python's errors="replace" do), at least 1. */
size_t tok_utf8_invalid_len(const unsigned char *s, size_t len);

#endif /* SEMBED_TOKENIZER_UNICODE_H */
