/*
 * normalize.c - the normalizer of Hugging Face tokenizers' BERT pipeline:
 * an optional Lowercase (ST6's do_lower_case), then BertNormalizer's
 * clean_text, CJK padding, strip_accents (NFD, then drop Mn) and lowercase,
 * in that order, streamed one code point at a time into UTF-8.
 *
 * Every step is local to a character except NFD's canonical ordering, which
 * sorts each run of combining marks by class. The runs are buffered and
 * sorted with a counting sort when long, so a text of nothing but marks
 * stays linear (utf8proc's own ordering is quadratic there).
 */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* Runs of marks up to this length are insertion-sorted. */
#define SHORT_RUN 32

void tok_norm_finish(tok_norm *norm) {
    for (int c = 0; c < 128; c++) {
        int v = c;
        if ((norm->pre_lower || norm->lowercase) && v >= 'A' && v <= 'Z')
            v += 32;
        if (norm->clean_text) {
            if (tok_is_deleted((uint32_t)v))
                v = -1;
            else if (tok_is_whitespace((uint32_t)v))
                v = ' ';
        }
        norm->ascii[c] = (int16_t)v;
    }
}

static int buf_grow(tok_scratch *s, tok_buf *b, size_t extra) {
    size_t need;
    if (add_overflow_size(b->len, extra, &need)) {
        s->failed = 1;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (mul_overflow_size(cap, 2, &cap)) {
            s->failed = 1;
            return -1;
        }
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        s->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

typedef struct nstate {
    const tok_norm *n;
    tok_scratch *s;
    tok_buf *out;
} nstate;

static void put(nstate *st, uint32_t cp) {
    tok_buf *b = st->out;
    if (b->len + 4 > b->cap && buf_grow(st->s, b, 4) != 0)
        return;
    b->len += tok_utf8_put(b->p + b->len, cp);
}

/* After NFD and ordering: drop Mn (when stripping), lowercase, write. */
static void emit_final(nstate *st, uint32_t cp) {
    if (st->n->strip_accents && tok_is_mn8(cp))
        return;
    if (st->n->lowercase) {
        uint32_t l[2];
        int k = tok_lower(cp, l);
        for (int i = 0; i < k; i++)
            put(st, l[i]);
    } else {
        put(st, cp);
    }
}

/* Canonical ordering of the buffered run: a stable sort by class. */
static void flush_marks(nstate *st) {
    tok_scratch *s = st->s;
    size_t n = s->n_marks;
    tok_mark *m = s->marks;
    if (n <= SHORT_RUN) {
        for (size_t i = 1; i < n; i++) {
            tok_mark x = m[i];
            size_t j = i;
            while (j > 0 && m[j - 1].ccc > x.ccc) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = x;
        }
    } else {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[m[i].ccc + 1]++;
        for (int c = 1; c < 257; c++)
            count[c] += count[c - 1];
        for (size_t i = 0; i < n; i++)
            s->marks_tmp[count[m[i].ccc]++] = m[i];
        tok_mark *t = s->marks;
        s->marks = s->marks_tmp;
        s->marks_tmp = t;
        m = s->marks;
    }
    for (size_t i = 0; i < n; i++)
        emit_final(st, m[i].cp);
    s->n_marks = 0;
}

static void push_mark(nstate *st, uint32_t cp, int ccc) {
    tok_scratch *s = st->s;
    if (s->n_marks == s->marks_cap) {
        size_t cap = s->marks_cap ? s->marks_cap * 2 : 64;
        size_t bytes;
        if (mul_overflow_size(cap, sizeof(tok_mark), &bytes)) {
            s->failed = 1;
            return;
        }
        tok_mark *a = realloc(s->marks, bytes);
        if (!a) {
            s->failed = 1;
            return;
        }
        s->marks = a;
        tok_mark *b = realloc(s->marks_tmp, bytes);
        if (!b) {
            s->failed = 1;
            return;
        }
        s->marks_tmp = b;
        s->marks_cap = cap;
    }
    s->marks[s->n_marks].cp = cp;
    s->marks[s->n_marks].ccc = (uint32_t)ccc;
    s->n_marks++;
}

/* strip_accents: NFD (decomposition, then ordering at each starter). */
static void stage_nfd(nstate *st, uint32_t cp) {
    if (!st->n->strip_accents) {
        emit_final(st, cp);
        return;
    }
    uint32_t d[TOK_NFD_MAX];
    int k = tok_nfd(cp, d);
    for (int i = 0; i < k; i++) {
        int ccc = tok_ccc(d[i]);
        if (ccc == 0) {
            if (st->s->n_marks)
                flush_marks(st);
            emit_final(st, d[i]);
        } else {
            push_mark(st, d[i], ccc);
        }
    }
}

/* clean_text (delete, then map whitespace) and CJK padding. */
static void stage_bert(nstate *st, uint32_t cp) {
    const tok_norm *n = st->n;
    if (n->clean_text) {
        if (tok_is_deleted(cp))
            return;
        if (tok_is_whitespace(cp))
            cp = ' ';
    }
    if (n->handle_cjk && tok_is_cjk(cp)) {
        stage_nfd(st, ' ');
        stage_nfd(st, cp);
        stage_nfd(st, ' ');
        return;
    }
    stage_nfd(st, cp);
}

int tok_normalize(const tok_norm *norm, tok_scratch *s, const char *text, size_t len) {
    nstate st = {norm, s, &s->norm};
    const unsigned char *p = (const unsigned char *)text;
    s->norm.len = 0;
    s->n_marks = 0;
    /* Normalized text is rarely longer than the input; put() grows it. */
    if (buf_grow(s, &s->norm, len + 16) != 0)
        return -1;
    size_t i = 0;
    while (i < len && !s->failed) {
        unsigned c = p[i];
        if (c < 0x80) {
            /* ASCII is a starter with no decomposition, never CJK or Mn. */
            if (s->n_marks)
                flush_marks(&st);
            int v = norm->ascii[c];
            if (v >= 0) {
                if (s->norm.len + 1 > s->norm.cap && buf_grow(s, &s->norm, 1) != 0)
                    break;
                s->norm.p[s->norm.len++] = (char)v;
            }
            i++;
            continue;
        }
        size_t n;
        uint32_t cp = tok_utf8_next(p + i, &n);
        i += n;
        if (norm->pre_lower) {
            uint32_t l[2];
            int k = tok_lower(cp, l);
            for (int j = 0; j < k; j++)
                stage_bert(&st, l[j]);
        } else {
            stage_bert(&st, cp);
        }
    }
    if (s->n_marks && !s->failed)
        flush_marks(&st);
    return s->failed ? -1 : 0;
}
