/*
 * wordpiece.c - BertPreTokenizer (split on whitespace, isolate punctuation)
 * and the WordPiece model (greedy longest match with a "##" prefix, a word
 * over max_input_chars_per_word characters or with an unmatchable part
 * becomes one [UNK]), as Hugging Face tokenizers runs them.
 *
 * The vocabulary is an open-addressing hash table of ids over the entry
 * strings; a candidate piece is hashed as prefix + text without being
 * copied, and candidates longer than the longest entry are never tried.
 */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* FNV-1a, continued over a second part. */
static inline uint32_t hash_bytes(uint32_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}
#define HASH_SEED 2166136261u

int32_t tok_vocab_find(const sembed_tokenizer *tok, const char *prefix, size_t prefix_len,
                       const char *text, size_t len) {
    size_t total = prefix_len + len;
    if (total > tok->max_token_len)
        return -1;
    uint32_t h = hash_bytes(hash_bytes(HASH_SEED, prefix, prefix_len), text, len);
    uint32_t mask = tok->slot_mask;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        int32_t e = tok->slots[i];
        if (e < 0)
            return -1;
        const char *t = tok->m_text[e];
        if (tok->m_len[e] == total && memcmp(t, prefix, prefix_len) == 0 &&
            memcmp(t + prefix_len, text, len) == 0)
            return tok->m_id[e];
    }
}

sembed_status tok_vocab_init(sembed_tokenizer *tok, size_t n, sembed_error *err) {
    size_t cap = 16;
    while (cap < 2 * n + 16)
        cap *= 2;   /* n <= TOK_MAX_VOCAB, so this cannot overflow */
    tok->slots = malloc(cap * sizeof(int32_t));
    tok->m_text = calloc(n + 1, sizeof(char *));
    tok->m_len = calloc(n + 1, sizeof(uint32_t));
    tok->m_id = calloc(n + 1, sizeof(int32_t));
    if (!tok->slots || !tok->m_text || !tok->m_len || !tok->m_id)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for the vocabulary");
    memset(tok->slots, 0xFF, cap * sizeof(int32_t));
    tok->slot_mask = (uint32_t)(cap - 1);
    tok->n_model = 0;
    tok->max_token_len = 0;
    return SEMBED_OK;
}

void tok_vocab_put(sembed_tokenizer *tok, const char *text, uint32_t len, int32_t id) {
    uint32_t h = hash_bytes(HASH_SEED, text, len);
    uint32_t i = h & tok->slot_mask;
    for (;; i = (i + 1) & tok->slot_mask) {
        int32_t e = tok->slots[i];
        if (e < 0)
            break;
        if (tok->m_len[e] == len && memcmp(tok->m_text[e], text, len) == 0) {
            tok->m_id[e] = id;
            return;
        }
    }
    size_t e = tok->n_model++;
    tok->slots[i] = (int32_t)e;
    tok->m_text[e] = text;
    tok->m_len[e] = len;
    tok->m_id[e] = id;
    if (len > tok->max_token_len)
        tok->max_token_len = len;
}

int tok_ids_push(tok_scratch *s, int32_t id) {
    if (s->n_ids == s->ids_cap) {
        size_t cap = s->ids_cap ? s->ids_cap * 2 : 256;
        size_t bytes;
        if (mul_overflow_size(cap, sizeof(int32_t), &bytes)) {
            s->failed = 1;
            return -1;
        }
        int32_t *p = realloc(s->ids, bytes);
        if (!p) {
            s->failed = 1;
            return -1;
        }
        s->ids = p;
        s->ids_cap = cap;
    }
    s->ids[s->n_ids++] = id;
    return 0;
}

static inline int is_cont(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

int tok_wordpiece(const sembed_tokenizer *tok, tok_scratch *s, const char *word, size_t len) {
    /* The limit counts characters, not bytes; stop counting past it. */
    size_t chars = 0;
    for (size_t i = 0; i < len && chars <= tok->max_word_chars; i++)
        chars += !is_cont((unsigned char)word[i]);
    if (chars > tok->max_word_chars)
        return tok_ids_push(s, tok->unk_id);

    size_t mark = s->n_ids;
    size_t start = 0;
    while (start < len) {
        const char *pre = start > 0 ? tok->prefix : "";
        size_t pre_len = start > 0 ? tok->prefix_len : 0;
        /* No entry is longer than max_token_len: start below that. */
        size_t end = len;
        if (tok->max_token_len < pre_len)
            end = start;
        else if (end - start > tok->max_token_len - pre_len)
            end = start + (tok->max_token_len - pre_len);
        while (end > start && end < len && is_cont((unsigned char)word[end]))
            end--;
        int32_t found = -1;
        while (end > start) {
            found = tok_vocab_find(tok, pre, pre_len, word + start, end - start);
            if (found >= 0)
                break;
            end--;
            while (end > start && is_cont((unsigned char)word[end]))
                end--;
        }
        if (found < 0) {
            /* A part that matches nothing makes the whole word [UNK]. */
            s->n_ids = mark;
            return tok_ids_push(s, tok->unk_id);
        }
        if (tok_ids_push(s, found) != 0)
            return -1;
        start = end;
    }
    return 0;
}

/* ASCII classes for the pre-tokenizer: 0 word, 1 whitespace, 2 punctuation. */
static const unsigned char ascii_class[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0,  /* \t \n \v \f \r */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  /* space ! .. / */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2,  /* 0-9 : .. @ */
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2,  /* [ .. ` */
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0,  /* { .. ~ */
};

int tok_pretokenize_wordpiece(const sembed_tokenizer *tok, tok_scratch *s, const char *text,
                              size_t len) {
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, word = 0;
    while (i < len) {
        unsigned c = p[i];
        int cls;
        size_t n = 1;
        if (c < 0x80) {
            cls = ascii_class[c];
        } else {
            uint32_t cp = tok_utf8_next(p + i, &n);
            cls = tok_is_whitespace(cp) ? 1 : tok_is_punct(cp) ? 2 : 0;
        }
        if (cls == 0) {
            i += n;
            continue;
        }
        if (i > word && tok_wordpiece(tok, s, text + word, i - word) != 0)
            return -1;
        if (cls == 2 && tok_wordpiece(tok, s, text + i, n) != 0)
            return -1;
        i += n;
        word = i;
    }
    if (len > word && tok_wordpiece(tok, s, text + word, len - word) != 0)
        return -1;
    return 0;
}
