/*
 * tokenizer_impl.h - the inside of struct sembed_tokenizer and the pieces
 * of the encode pipeline, shared by the tokenizer's .c files and its unit
 * tests (which check each stage on its own). Not for other modules: they
 * use tokenizer.h.
 */
#ifndef SEMBED_TOKENIZER_IMPL_H
#define SEMBED_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* Limits that keep a hostile tokenizer file from driving allocations. */
#define TOK_MAX_FILE_BYTES (256u << 20)   /* tokenizer.json, vocab.txt */
#define TOK_MAX_CONFIG_BYTES (16u << 20)  /* tokenizer_config.json & co. */
#define TOK_MAX_VOCAB 4000000             /* ids (vocabulary and added tokens) */
#define TOK_MAX_TOKEN_BYTES 1024          /* bytes of one vocabulary entry */
#define TOK_MAX_ADDED 100000              /* added tokens */
#define TOK_MAX_TEMPLATE 16               /* items of the single template */
#define TOK_MAX_WORD_CHARS 1000000        /* max_input_chars_per_word */

/* The normalizer, flattened: an optional Lowercase before a BertNormalizer
 * (ST6's do_lower_case), then the BertNormalizer steps in their order. */
typedef struct tok_norm {
    int pre_lower;       /* Lowercase normalizer before the others */
    int clean_text;
    int handle_cjk;
    int strip_accents;   /* effective: strip_accents.unwrap_or(lowercase) */
    int lowercase;
    int has_bert;        /* a BertNormalizer is present */
    int bert_lower;      /* the BertNormalizer's own lowercase option */
    int post_lower;      /* a Lowercase normalizer after the BertNormalizer */
    int has_lowercase;   /* a Lowercase normalizer is present (ST6 rule) */
    int16_t ascii[128];  /* the whole pipeline on one ASCII byte: the byte
                            it becomes, or -1 when deleted (tok_norm_finish) */
} tok_norm;

typedef struct tok_added {
    const char *orig;    /* content as written in the file */
    size_t orig_len;
    char *content;       /* as written in the file (normalized=false) or
                            after normalization (normalized=true) */
    size_t len;
    int32_t id;
    int special;
    int normalized;
    int lstrip;
    int rstrip;
} tok_added;

/* A set of added tokens matched leftmost-longest. */
typedef struct tok_matcher {
    tok_added **tokens;  /* sorted by first byte, then longest first */
    size_t n;
    uint32_t first[257]; /* tokens[first[b] .. first[b+1]) start with byte b */
} tok_matcher;

/* One element of the single-sequence template. */
typedef struct tok_template_item {
    int is_sequence;     /* 1: the word pieces; 0: ids of a special token */
    int32_t ids[4];
    int n_ids;
} tok_template_item;

struct sembed_tokenizer {
    /* id -> text (NULL for holes), for vocabulary and added tokens */
    const char **id_text;
    uint32_t *id_len;
    unsigned char *id_special;
    int32_t n_ids;              /* largest id + 1 */

    /* WordPiece vocabulary: the model's entries (string -> id) and an
     * open-addressing table of entry indexes over them */
    const char **m_text;
    uint32_t *m_len;
    int32_t *m_id;
    size_t n_model;
    int32_t *slots;
    uint32_t slot_mask;
    size_t max_token_len;       /* longest vocabulary entry, bytes */
    char prefix[32];            /* continuing_subword_prefix */
    size_t prefix_len;
    size_t max_word_chars;      /* max_input_chars_per_word */
    int32_t unk_id;

    tok_norm norm;
    tok_added *added;
    size_t n_added;
    tok_matcher raw_match;      /* normalized=false: on the raw text */
    tok_matcher norm_match;     /* normalized=true: on the normalized text */

    tok_template_item tmpl[TOK_MAX_TEMPLATE];
    int n_tmpl;
    int n_special_in_tmpl;      /* ids the template adds */

    int32_t cls_id, sep_id, pad_id;
    int decode_cleanup;         /* WordPiece decoder cleanup */
    int max_length;             /* 0 = unset: no truncation */
};

/* A growable byte buffer of the scratch. */
typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;

typedef struct tok_mark {
    uint32_t cp;
    uint32_t ccc;
} tok_mark;

struct tok_scratch {
    tok_buf clean;              /* input with invalid UTF-8 replaced */
    tok_buf norm;               /* normalized text of one piece */
    int32_t *ids;               /* word pieces */
    size_t n_ids, ids_cap;
    tok_mark *marks, *marks_tmp;  /* a run of combining marks being ordered */
    size_t n_marks, marks_cap;
    int failed;                 /* an allocation failed */
};

/* ---- stages (each testable alone) --------------------------------------- */

/* Fills norm->ascii from the flags; call after changing them. */
void tok_norm_finish(tok_norm *norm);

/* Normalizes len bytes of valid UTF-8 into s->norm (replacing its content).
 * Returns 0, or -1 when memory ran out. */
int tok_normalize(const tok_norm *norm, tok_scratch *s, const char *text, size_t len);

/* Pre-tokenizes normalized text and appends the WordPiece ids of each word
 * to s->ids. Returns 0 or -1 (memory). */
int tok_pretokenize_wordpiece(const sembed_tokenizer *tok, tok_scratch *s, const char *text,
                              size_t len);

/* WordPiece of one word (non-empty, valid UTF-8) into s->ids. */
int tok_wordpiece(const sembed_tokenizer *tok, tok_scratch *s, const char *word, size_t len);

/* Vocabulary lookup of prefix + text; -1 when absent. */
int32_t tok_vocab_find(const sembed_tokenizer *tok, const char *prefix, size_t prefix_len,
                       const char *text, size_t len);

/* Leftmost-longest search of m's tokens in text[from..len): the index of
 * the first match (or len) and the token. */
size_t tok_match_next(const tok_matcher *m, const char *text, size_t len, size_t from,
                      const tok_added **hit);

int tok_ids_push(tok_scratch *s, int32_t id);

/* Creates an empty vocabulary table for up to n entries. */
sembed_status tok_vocab_init(sembed_tokenizer *tok, size_t n, sembed_error *err);

/* ---- vocab_scan.c: tokenizer.json's model.vocab without a JSON tree ---- */

typedef struct tok_vocab_entry {
    const char *text;            /* NUL-terminated, in the scan's arena */
    uint32_t len;
    long long id;
} tok_vocab_entry;

typedef struct tok_vocab_scan {
    const unsigned char *base;   /* the scanned document */
    tok_vocab_entry *entries;    /* in file order */
    size_t n;
    char *arena;                 /* the decoded keys */
    size_t span_begin, span_end; /* the vocab object's bytes, braces included */
} tok_vocab_scan;

/* Finds root.model.vocab and reads its entries; 0 on success, -1 when the
 * document is not in the simple shape (the caller then parses it all with
 * jansson). tok_vocab_scan_free releases what is still owned. */
int tok_vocab_scan_json(const char *json, size_t len, tok_vocab_scan *out);
void tok_vocab_scan_free(tok_vocab_scan *v);
/* Adds text -> id to the model vocabulary; a string already present gets
 * the new id (vocab.txt: a repeated line keeps the last index). The text
 * must outlive the tokenizer. */
void tok_vocab_put(sembed_tokenizer *tok, const char *text, uint32_t len, int32_t id);
sembed_status tok_matcher_build(tok_matcher *m, tok_added *added, size_t n, int normalized,
                                sembed_error *err);
void tok_matcher_free(tok_matcher *m);

#endif /* SEMBED_TOKENIZER_IMPL_H */
