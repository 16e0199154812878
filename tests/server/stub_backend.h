/*
 * stub_backend.h - a srv_backend without a model, for the server's unit
 * tests and its fuzzer: whitespace "tokenization" into hashed ids,
 * deterministic vectors computed from the ids, a five-row /search corpus,
 * and switches that make the next work fail or produce NaN. It lets every
 * route and error path of src/server/api.c run in-process, in
 * milliseconds, with no socket and no model file.
 */
#ifndef SEMBED_TEST_STUB_BACKEND_H
#define SEMBED_TEST_STUB_BACKEND_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define STUB_DIM 8
#define STUB_HIDDEN 4
#define STUB_MAX_SEQ 16
#define STUB_VOCAB 100
#define STUB_CLS 1
#define STUB_SEP 2
#define STUB_CORPUS 5

typedef struct stub_backend {
    srv_backend be;
    char names[STUB_VOCAB][16];
    int fail_next;      /* the next submitted work fails (backend error) */
    int nan_next;       /* the next submitted work produces a NaN */
    int submits;        /* works submitted so far */
} stub_backend;

static int32_t stub_word_id(const char *w, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    return (int32_t)(5 + h % (STUB_VOCAB - 5));
}

static int stub_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static sembed_status stub_tokenize(void *self, const char *text, size_t len,
                                   const sembed_tokenize_params *p, int32_t *ids, size_t cap,
                                   size_t *n_ids, size_t *n_untruncated, sembed_error *err) {
    (void)self;
    size_t words = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && stub_space(text[i]))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && !stub_space(text[i]))
            i++;
        if (i - s == 9 && !memcmp(text + s, "__tokerr_", 9)) {
            if (err)
                snprintf(err->message, sizeof err->message, "stub tokenizer failure");
            return SEMBED_ERR_FORMAT;
        }
        words++;
    }
    int special = p->add_special_tokens != 0;
    size_t full = words + (special ? 2 : 0);
    int32_t *all = malloc((full ? full : 1) * sizeof *all);
    if (!all)
        return SEMBED_ERR_OUT_OF_MEMORY;
    size_t k = 0;
    if (special)
        all[k++] = STUB_CLS;
    for (size_t i = 0; i < len;) {
        while (i < len && stub_space(text[i]))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && !stub_space(text[i]))
            i++;
        all[k++] = stub_word_id(text + s, i - s);
    }
    if (special)
        all[k++] = STUB_SEP;
    size_t max = p->max_length > 0 ? (size_t)p->max_length : STUB_MAX_SEQ;
    if (full > max && !p->truncate) {
        free(all);
        return SEMBED_ERR_LIMIT;
    }
    size_t n = full < max ? full : max;
    if (n > cap) {
        free(all);
        return SEMBED_ERR_LIMIT;
    }
    if (n == full) {
        memcpy(ids, all, n * sizeof *ids);
    } else if (p->truncation_side == SEMBED_TRUNCATE_LEFT) {
        size_t o = 0;
        if (special && n > 1)
            ids[o++] = STUB_CLS;
        memcpy(ids + o, all + full - (n - o), (n - o) * sizeof *ids);
    } else {
        memcpy(ids, all, n * sizeof *ids);
        if (special && n > 1)
            ids[n - 1] = STUB_SEP;
    }
    free(all);
    *n_ids = n;
    if (n_untruncated)
        *n_untruncated = full;
    return SEMBED_OK;
}

static const char *stub_token_text(void *self, int32_t id) {
    stub_backend *s = self;
    if (id < 0 || id >= STUB_VOCAB)
        return NULL;
    return s->names[id];
}

static int stub_is_special(void *self, int32_t id) {
    (void)self;
    return id >= 0 && id < 5;
}

static sembed_status stub_detokenize(void *self, const int32_t *ids, size_t n, int skip,
                                     char *out, size_t cap, size_t *len, sembed_error *err) {
    (void)err;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && stub_is_special(self, ids[i]))
            continue;
        const char *t = stub_token_text(self, ids[i]);
        if (!t)
            return SEMBED_ERR_INVALID_ARGUMENT;
        size_t tl = strlen(t) + (o ? 1 : 0);
        if (o + tl + 1 > cap)
            return SEMBED_ERR_LIMIT;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, t, strlen(t));
        o += strlen(t);
    }
    if (cap == 0)
        return SEMBED_ERR_LIMIT;
    out[o] = 0;
    if (len)
        *len = o;
    return SEMBED_OK;
}

static const char *stub_prompt(void *self, const char *name) {
    (void)self;
    return strcmp(name, "query") == 0 ? "query: " : NULL;
}

/* A vector from ids: each dimension a different mix of the ids. */
static void stub_vector(const int32_t *ids, size_t n, float *v, int dim) {
    for (int d = 0; d < dim; d++) {
        double x = 0;
        for (size_t k = 0; k < n && k < STUB_MAX_SEQ; k++)
            x += sin((double)(ids[k] + 1) * (d + 1) + (double)k);
        v[d] = (float)x;
    }
}

static void stub_submit(void *self, srv_work *w) {
    stub_backend *s = self;
    s->submits++;
    w->status = SEMBED_OK;
    w->t_queued = 1.0;
    w->t_start = 1.0;
    w->t_end = 1.001;
    if (s->fail_next) {
        s->fail_next = 0;
        w->status = SEMBED_ERR_INTERNAL;
        snprintf(w->error, sizeof w->error, "stub backend failure");
    } else if (w->kind == SRV_WORK_EMBED) {
        for (size_t i = 0; i < w->n; i++) {
            float full[STUB_DIM];
            stub_vector(w->ids[i], w->n_ids[i], full, STUB_DIM);
            float *out = w->out + i * (size_t)w->dim_out;
            memcpy(out, full, (size_t)w->dim_out * sizeof *out);
            if (w->params.normalize != 0) { /* the stub "model" normalizes */
                double ss = 0;
                for (int d = 0; d < w->dim_out; d++)
                    ss += (double)out[d] * out[d];
                double norm = sqrt(ss);
                for (int d = 0; d < w->dim_out; d++)
                    out[d] = (float)(out[d] / (norm > 1e-12 ? norm : 1e-12));
            }
        }
    } else {
        for (size_t i = 0; i < w->n; i++) {
            size_t rows = w->n_ids[i] < STUB_MAX_SEQ ? w->n_ids[i] : STUB_MAX_SEQ;
            for (size_t r = 0; r < rows; r++)
                for (int h = 0; h < w->hidden; h++)
                    w->tok_out[i][r * (size_t)w->hidden + (size_t)h] =
                        (float)w->ids[i][r] * 0.01f + (float)h;
        }
    }
    if (s->nan_next && w->status == SEMBED_OK) {
        s->nan_next = 0;
        if (w->kind == SRV_WORK_EMBED)
            w->out[0] = NAN;
        else
            w->tok_out[0][0] = NAN;
    }
    w->done(w);
}

/* The corpus: row j is the vector of the one-word text "doc<j>". */
static void stub_corpus_row(int j, float *v) {
    char word[16];
    int n = snprintf(word, sizeof word, "doc%d", j);
    int32_t ids[3] = {STUB_CLS, stub_word_id(word, (size_t)n), STUB_SEP};
    stub_vector(ids, 3, v, STUB_DIM);
}

static sembed_status stub_search(void *self, const float *q, size_t nq, int top_k,
                                 sembed_hit *hits, size_t *n_hits, sembed_error *err) {
    (void)self;
    (void)err;
    size_t k = top_k < STUB_CORPUS ? (size_t)top_k : STUB_CORPUS;
    for (size_t i = 0; i < nq; i++) {
        sembed_hit all[STUB_CORPUS];
        for (int j = 0; j < STUB_CORPUS; j++) {
            float row[STUB_DIM];
            stub_corpus_row(j, row);
            double ab = 0, aa = 0, bb = 0;
            for (int d = 0; d < STUB_DIM; d++) {
                ab += (double)q[i * STUB_DIM + d] * row[d];
                aa += (double)q[i * STUB_DIM + d] * q[i * STUB_DIM + d];
                bb += (double)row[d] * row[d];
            }
            all[j].corpus_id = j;
            all[j].score = (float)(ab / (sqrt(aa) * sqrt(bb)));
        }
        for (int a = 0; a < STUB_CORPUS; a++) /* best first, ties by id */
            for (int b = a + 1; b < STUB_CORPUS; b++)
                if (all[b].score > all[a].score) {
                    sembed_hit t = all[a];
                    all[a] = all[b];
                    all[b] = t;
                }
        memcpy(hits + i * k, all, k * sizeof *hits);
        n_hits[i] = k;
    }
    return SEMBED_OK;
}

static const char *stub_corpus_text(void *self, int64_t id, size_t *len) {
    static const char *const texts[STUB_CORPUS] = {"doc0 \"zero\"", "doc1", "doc2", "doc3",
                                                   "doc4"};
    (void)self;
    if (id < 0 || id >= STUB_CORPUS)
        return NULL;
    *len = strlen(texts[id]);
    return texts[id];
}

static void stub_init(stub_backend *s) {
    memset(s, 0, sizeof *s);
    static const char *const specials[5] = {"[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"};
    for (int i = 0; i < STUB_VOCAB; i++) {
        if (i < 5)
            snprintf(s->names[i], sizeof s->names[i], "%s", specials[i]);
        else
            snprintf(s->names[i], sizeof s->names[i], "w%d", i);
    }
    srv_backend *be = &s->be;
    be->self = s;
    be->model_id = "stub/model";
    be->dim = STUB_DIM;
    be->hidden_size = STUB_HIDDEN;
    be->max_seq_length = STUB_MAX_SEQ;
    be->vocab_size = STUB_VOCAB;
    be->pooling = "mean";
    be->dtype = "float32";
    be->tokenize = stub_tokenize;
    be->detokenize = stub_detokenize;
    be->token_text = stub_token_text;
    be->is_special = stub_is_special;
    be->prompt = stub_prompt;
    be->submit = stub_submit;
    be->corpus_size = STUB_CORPUS;
    be->search = stub_search;
    be->corpus_text = stub_corpus_text;
    be->metrics = NULL;
}

#endif /* SEMBED_TEST_STUB_BACKEND_H */
