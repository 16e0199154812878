/*
 * encode.c - text to ids: invalid UTF-8 replaced, added tokens split out of
 * the raw text (leftmost-longest, case-sensitive), each remaining piece
 * normalized, split again on normalized added tokens, pre-tokenized and
 * WordPiece-encoded; then truncation of the word pieces and the template
 * ([CLS] ... [SEP]). This is the order of Hugging Face tokenizers'
 * encode(): added vocabulary, normalizer, pre-tokenizer, model,
 * truncation, post-processor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* ---- added-token matching ------------------------------------------------ */

static int cmp_added(const void *a, const void *b) {
    const tok_added *x = *(tok_added *const *)a, *y = *(tok_added *const *)b;
    unsigned char fx = (unsigned char)x->content[0], fy = (unsigned char)y->content[0];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;  /* longest first */
    return memcmp(x->content, y->content, x->len);
}

sembed_status tok_matcher_build(tok_matcher *m, tok_added *added, size_t n, int normalized,
                                sembed_error *err) {
    memset(m, 0, sizeof *m);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += added[i].normalized == normalized && added[i].len > 0;
    if (k > 0) {
        m->tokens = calloc(k, sizeof *m->tokens);
        if (!m->tokens)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for added tokens");
    }
    for (size_t i = 0; i < n; i++)
        if (added[i].normalized == normalized && added[i].len > 0)
            m->tokens[m->n++] = &added[i];
    if (m->n > 1)
        qsort(m->tokens, m->n, sizeof *m->tokens, cmp_added);
    size_t j = 0;
    for (int b = 0; b < 256; b++) {
        m->first[b] = (uint32_t)j;
        while (j < m->n && (unsigned char)m->tokens[j]->content[0] == b)
            j++;
    }
    m->first[256] = (uint32_t)m->n;
    return SEMBED_OK;
}

void tok_matcher_free(tok_matcher *m) {
    free(m->tokens);
    memset(m, 0, sizeof *m);
}

size_t tok_match_next(const tok_matcher *m, const char *text, size_t len, size_t from,
                      const tok_added **hit) {
    *hit = NULL;
    if (m->n == 0)
        return len;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = from; i < len; i++) {
        unsigned b = p[i];
        /* The first token that fits is the longest one starting here. */
        for (uint32_t t = m->first[b]; t < m->first[b + 1]; t++) {
            const tok_added *a = m->tokens[t];
            if (a->len <= len - i && memcmp(p + i, a->content, a->len) == 0) {
                *hit = a;
                return i;
            }
        }
    }
    return len;
}

/* Bytes of whitespace that end text[0..end) / start text[from..len). */
static size_t space_before(const char *text, size_t end) {
    size_t i = end;
    while (i > 0) {
        size_t j = i - 1;
        while (j > 0 && ((unsigned char)text[j] & 0xC0) == 0x80)
            j--;
        size_t n;
        if (!tok_is_whitespace(tok_utf8_next((const unsigned char *)text + j, &n)))
            break;
        i = j;
    }
    return end - i;
}

static size_t space_after(const char *text, size_t len, size_t from) {
    size_t i = from;
    while (i < len) {
        size_t n;
        if (!tok_is_whitespace(tok_utf8_next((const unsigned char *)text + i, &n)))
            break;
        i += n;
    }
    return i - from;
}

/* Splits text on the matcher's tokens; calls piece() for the text between
 * matches and pushes the ids of the matches. */
typedef int (*piece_fn)(const sembed_tokenizer *tok, tok_scratch *s, const char *text,
                        size_t len);

static int split_added(const sembed_tokenizer *tok, tok_scratch *s, const tok_matcher *m,
                       const char *text, size_t len, piece_fn piece) {
    size_t done = 0, from = 0;
    while (from < len) {
        const tok_added *a;
        size_t at = tok_match_next(m, text, len, from, &a);
        if (!a)
            break;
        size_t start = at, stop = at + a->len;
        if (a->lstrip) {
            size_t ls = start - space_before(text, start);
            start = ls > done ? ls : done;
        }
        if (a->rstrip)
            stop += space_after(text, len, stop);
        if (start > done && piece(tok, s, text + done, start - done) != 0)
            return -1;
        if (tok_ids_push(s, a->id) != 0)
            return -1;
        done = from = stop;
    }
    if (len > done && piece(tok, s, text + done, len - done) != 0)
        return -1;
    return 0;
}

/* A piece of raw text between raw-matched added tokens. */
static int raw_piece(const sembed_tokenizer *tok, tok_scratch *s, const char *text, size_t len) {
    if (tok_normalize(&tok->norm, s, text, len) != 0)
        return -1;
    if (tok->norm_match.n == 0)
        return tok_pretokenize_wordpiece(tok, s, s->norm.p, s->norm.len);
    /* Normalized added tokens match on the normalized text. The norm
     * buffer is not touched again while this piece is split. */
    return split_added(tok, s, &tok->norm_match, s->norm.p, s->norm.len,
                       tok_pretokenize_wordpiece);
}

/* Copies text into s->clean with each invalid sequence replaced by U+FFFD. */
static int sanitize(tok_scratch *s, const char *text, size_t len) {
    size_t cap;
    /* Each invalid byte becomes at most 3 bytes. */
    if (mul_overflow_size(len, 3, &cap) || add_overflow_size(cap, 1, &cap))
        return -1;
    if (cap > s->clean.cap) {
        char *p = realloc(s->clean.p, cap);
        if (!p)
            return -1;
        s->clean.p = p;
        s->clean.cap = cap;
    }
    const unsigned char *u = (const unsigned char *)text;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t v = tok_utf8_valid_prefix(u + i, len - i);
        memcpy(s->clean.p + o, text + i, v);
        o += v;
        i += v;
        if (i >= len)
            break;
        i += tok_utf8_invalid_len(u + i, len - i);
        memcpy(s->clean.p + o, "\xEF\xBF\xBD", 3);
        o += 3;
    }
    s->clean.len = o;
    return 0;
}

/* ---- scratch -------------------------------------------------------------- */

tok_scratch *tok_scratch_new(void) {
    return calloc(1, sizeof(tok_scratch));
}

void tok_scratch_free(tok_scratch *s) {
    if (!s)
        return;
    free(s->clean.p);
    free(s->norm.p);
    free(s->ids);
    free(s->marks);
    free(s->marks_tmp);
    free(s);
}

/* ---- encode --------------------------------------------------------------- */

sembed_status tokenizer_encode(const sembed_tokenizer *tok, tok_scratch *scratch,
                               const char *text, size_t len,
                               const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                               size_t *n_ids, size_t *n_untruncated, sembed_error *err) {
    sembed_status st = SEMBED_OK;
    tok_scratch *own = NULL;
    if (n_ids)
        *n_ids = 0;
    if (n_untruncated)
        *n_untruncated = 0;
    if (!tok || (!text && len > 0) || (!ids && cap > 0))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "tokenize: NULL tokenizer, text or ids buffer");
    sembed_tokenize_params def = sembed_tokenize_default_params();
    const sembed_tokenize_params *pp = params ? params : &def;
    if (pp->max_length < 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "tokenize: max_length %d is negative", pp->max_length);
    if (pp->truncation_side != SEMBED_TRUNCATE_RIGHT && pp->truncation_side != SEMBED_TRUNCATE_LEFT)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "tokenize: unknown truncation_side %d", (int)pp->truncation_side);
    tok_scratch *s = scratch;
    if (!s) {
        s = own = tok_scratch_new();
        if (!s)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    }
    s->n_ids = 0;
    s->failed = 0;

    const unsigned char *u = (const unsigned char *)text;
    size_t valid = len ? tok_utf8_valid_prefix(u, len) : 0;
    if (valid < len) {
        if (sanitize(s, text, len) != 0) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
            goto done;
        }
        text = s->clean.p;
        len = s->clean.len;
    }
    if (len > 0 && split_added(tok, s, &tok->raw_match, text, len, raw_piece) != 0) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
        goto done;
    }

    int add = pp->add_special_tokens != 0;
    size_t n_special = add ? (size_t)tok->n_special_in_tmpl : 0;
    size_t n_pieces = s->n_ids;
    size_t total = n_pieces + n_special;
    if (n_untruncated)
        *n_untruncated = total;
    size_t max = pp->max_length > 0 ? (size_t)pp->max_length : (size_t)tok->max_length;
    size_t keep = n_pieces, skip = 0;
    if (max > 0 && total > max) {
        if (!pp->truncate) {
            st = set_error(err, SEMBED_ERR_LIMIT, "input has %zu tokens, more than the maximum %zu",
                           total, max);
            goto done;
        }
        if (max < n_special) {
            st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                           "max_length %zu is less than the %zu special tokens", max, n_special);
            goto done;
        }
        keep = max - n_special;
        if (pp->truncation_side == SEMBED_TRUNCATE_LEFT)
            skip = n_pieces - keep;
    }
    size_t out_n = keep + n_special;
    if (out_n > cap) {
        st = set_error(err, SEMBED_ERR_LIMIT, "tokenize: %zu ids do not fit in a buffer of %zu",
                       out_n, cap);
        goto done;
    }
    size_t o = 0;
    if (add) {
        for (int t = 0; t < tok->n_tmpl; t++) {
            const tok_template_item *it = &tok->tmpl[t];
            if (it->is_sequence) {
                if (keep > 0)
                    memcpy(ids + o, s->ids + skip, keep * sizeof(int32_t));
                o += keep;
            } else {
                for (int k = 0; k < it->n_ids; k++)
                    ids[o++] = it->ids[k];
            }
        }
    } else if (keep > 0) {
        memcpy(ids, s->ids + skip, keep * sizeof(int32_t));
        o = keep;
    }
    if (n_ids)
        *n_ids = o;
done:
    tok_scratch_free(own);
    return st;
}
