/*
 * embed.c - contexts and the embedding calls of the public API.
 *
 * A call tokenizes its texts into the context's id buffer and groups
 * consecutive texts into forward passes of at most max_batch_tokens real
 * tokens (no padding exists anywhere, so grouping changes only speed, never
 * results). After the encoder come Normalize, truncate_dim and the
 * optional re-normalization, in sentence-transformers' order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_MAX_BATCH_TOKENS 4096
#define MAX_BATCH_TOKENS_LIMIT (1 << 20)

struct sembed_context {
    const sembed_model *model;
    encoder_state *enc;
    tok_scratch *scratch;
    int budget;                  /* tokens per forward pass */
    int max_len;                 /* tokens per sequence */
    int32_t *ids;                /* [budget + max_len] */
    const int32_t **seq;         /* [budget + 1] */
    int *len;                    /* [budget + 1] */
    float *rows;                 /* [budget + 1][row_width] pooled / Dense out */
    size_t row_width;
    char *text_buf;              /* prompt + text */
    size_t text_cap;
    uint64_t tokens_processed;
};

sembed_context_params sembed_context_default_params(void) {
    sembed_context_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS;
    return p;
}

sembed_embed_params sembed_embed_default_params(void) {
    sembed_embed_params p;
    memset(&p, 0, sizeof p);
    p.normalize = -1;
    p.dimensions = 0;
    p.truncate = 1;
    p.truncation_side = SEMBED_TRUNCATE_RIGHT;
    p.prompt = NULL;
    return p;
}

sembed_status sembed_context_init(const sembed_model *model, const sembed_context_params *params,
                                  sembed_context **out, sembed_error *err) {
    clear_error(err);
    if (!model || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_context_init: NULL argument");
    *out = NULL;
    sembed_context_params p = params ? *params : sembed_context_default_params();
    if (p.n_threads < 0 || p.n_threads > 1024)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "n_threads %d is out of range [0, 1024]",
                         p.n_threads);
    if (p.max_batch_tokens < 0 || p.max_batch_tokens > MAX_BATCH_TOKENS_LIMIT)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "max_batch_tokens %d is out of range [0, %d]", p.max_batch_tokens,
                         MAX_BATCH_TOKENS_LIMIT);
    int n_threads = p.n_threads ? p.n_threads : cpu_count();
    sembed_context *c = calloc(1, sizeof *c);
    if (!c)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    c->model = model;
    c->max_len = model->cfg.max_seq_length;
    c->budget = p.max_batch_tokens ? p.max_batch_tokens : DEFAULT_MAX_BATCH_TOKENS;
    if (c->budget < c->max_len)
        c->budget = c->max_len;
    c->row_width = (size_t)model->pooled_dim;
    for (int i = 0; i < model->cfg.n_dense; i++)
        if ((size_t)model->cfg.dense[i].out_features > c->row_width)
            c->row_width = (size_t)model->cfg.dense[i].out_features;
    size_t nb = (size_t)c->budget + 1;
    c->ids = malloc(((size_t)c->budget + (size_t)c->max_len) * sizeof *c->ids);
    c->seq = malloc(nb * sizeof *c->seq);
    c->len = malloc(nb * sizeof *c->len);
    c->scratch = tok_scratch_new();
    if (model->ops)
        c->enc = encoder_state_new(model, c->budget, n_threads);
    if (!c->ids || !c->seq || !c->len || !c->scratch || (model->ops && !c->enc)) {
        sembed_context_free(c);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory creating a context");
    }
    *out = c;
    return SEMBED_OK;
}

void sembed_context_free(sembed_context *c) {
    if (!c)
        return;
    encoder_state_free(c->enc);
    tok_scratch_free(c->scratch);
    free(c->ids);
    free(c->seq);
    free(c->len);
    free(c->rows);
    free(c->text_buf);
    free(c);
}

uint64_t sembed_context_tokens_processed(const sembed_context *c) {
    return c ? c->tokens_processed : 0;
}

/* ==== Helpers ============================================================= */

static sembed_status check_params(const sembed_context *c, const sembed_embed_params *p,
                                  int *dim_out, sembed_error *err) {
    if (p->normalize < -1 || p->normalize > 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "normalize must be -1, 0 or 1");
    if (p->dimensions < 0 || p->dimensions > c->model->dim)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "dimensions %d is out of range: the model gives %d", p->dimensions,
                         c->model->dim);
    if (p->truncation_side != SEMBED_TRUNCATE_RIGHT && p->truncation_side != SEMBED_TRUNCATE_LEFT)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "unknown truncation side");
    *dim_out = p->dimensions ? p->dimensions : c->model->dim;
    return SEMBED_OK;
}

static sembed_status ensure_rows(sembed_context *c, size_t n, sembed_error *err) {
    if (c->rows)
        return SEMBED_OK;
    (void)n;
    c->rows = malloc(((size_t)c->budget + 1) * c->row_width * sizeof *c->rows);
    if (!c->rows)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    return SEMBED_OK;
}

/* Runs the sequences c->seq[0 .. n) and writes their final vectors. */
static sembed_status run_group(sembed_context *c, int n, const sembed_embed_params *p,
                               int dim_out, float *out, sembed_error *err) {
    const sembed_model *m = c->model;
    sembed_status st = ensure_rows(c, (size_t)n, err);
    if (st != SEMBED_OK)
        return st;
    if (m->ops) {
        encoder_batch b = {.n = n, .ids = c->seq, .len = c->len};
        st = encoder_forward(c->enc, &b, c->rows, c->row_width, NULL, err);
    } else {
        for (int i = 0; i < n && st == SEMBED_OK; i++)
            st = encoder_forward_reference(m, c->seq[i], c->len[i], c->rows + (size_t)i * c->row_width,
                                           NULL, err);
    }
    if (st != SEMBED_OK)
        return st;
    for (int i = 0; i < n; i++) {
        float *r = c->rows + (size_t)i * c->row_width;
        c->tokens_processed += (uint64_t)c->len[i];
        if (p->normalize != 0 && m->cfg.normalize)
            pooling_normalize(r, m->dim);
        if (p->normalize == 1)
            pooling_normalize(r, dim_out);
        memcpy(out + (size_t)i * dim_out, r, (size_t)dim_out * sizeof *r);
    }
    return SEMBED_OK;
}

/* ==== Public calls ======================================================== */

sembed_status sembed_embed(sembed_context *c, const char *const *texts, const size_t *lens,
                           size_t n, const sembed_embed_params *params, float *out,
                           size_t out_cap, sembed_error *err) {
    clear_error(err);
    if (!c || (n && (!texts || !out)))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_embed: NULL argument");
    sembed_embed_params p = params ? *params : sembed_embed_default_params();
    int dim_out;
    sembed_status st = check_params(c, &p, &dim_out, err);
    if (st != SEMBED_OK)
        return st;
    size_t need;
    if (mul_overflow_size(n, (size_t)dim_out, &need) || need > out_cap)
        return set_error(err, SEMBED_ERR_LIMIT, "output buffer holds %zu floats; %zu texts need %zu",
                         out_cap, n, n * (size_t)dim_out);
    sembed_tokenize_params tp = sembed_tokenize_default_params();
    tp.max_length = c->max_len;
    tp.truncate = p.truncate;
    tp.truncation_side = p.truncation_side;
    size_t plen = p.prompt ? strlen(p.prompt) : 0;

    size_t i = 0;
    while (i < n) {
        int group = 0, used = 0;
        size_t first = i;
        while (i < n) {
            const char *t = texts[i];
            if (!t)
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
            size_t len = lens ? lens[i] : strlen(t);
            if (plen) {
                size_t total;
                if (add_overflow_size(plen, len, &total) || total == SIZE_MAX)
                    return set_error(err, SEMBED_ERR_LIMIT, "text %zu is too long", i);
                if (total + 1 > c->text_cap) {
                    char *nb = realloc(c->text_buf, total + 1);
                    if (!nb)
                        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
                    c->text_buf = nb;
                    c->text_cap = total + 1;
                }
                memcpy(c->text_buf, p.prompt, plen);
                memcpy(c->text_buf + plen, t, len);
                t = c->text_buf;
                len = total;
            }
            size_t n_ids = 0;
            st = tokenizer_encode(c->model->tok, c->scratch, t, len, &tp, c->ids + used,
                                  (size_t)c->max_len, &n_ids, NULL, err);
            if (st != SEMBED_OK) {
                if (err && st == SEMBED_ERR_LIMIT) {
                    char msg[sizeof err->message];
                    memcpy(msg, err->message, sizeof msg);
                    snprintf(err->message, sizeof err->message, "text %zu: %.480s", i, msg);
                }
                return st;
            }
            if (used + (int)n_ids > c->budget && group > 0)
                break; /* re-tokenized at the start of the next group */
            c->seq[group] = c->ids + used;
            c->len[group] = (int)n_ids;
            used += (int)n_ids;
            group++;
            i++;
        }
        st = run_group(c, group, &p, dim_out, out + first * (size_t)dim_out, err);
        if (st != SEMBED_OK)
            return st;
    }
    return SEMBED_OK;
}

sembed_status sembed_embed_ids(sembed_context *c, const int32_t *const *ids, const size_t *n_ids,
                               size_t n, const sembed_embed_params *params, float *out,
                               size_t out_cap, sembed_error *err) {
    clear_error(err);
    if (!c || (n && (!ids || !n_ids || !out)))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_embed_ids: NULL argument");
    sembed_embed_params p = params ? *params : sembed_embed_default_params();
    int dim_out;
    sembed_status st = check_params(c, &p, &dim_out, err);
    if (st != SEMBED_OK)
        return st;
    size_t need;
    if (mul_overflow_size(n, (size_t)dim_out, &need) || need > out_cap)
        return set_error(err, SEMBED_ERR_LIMIT, "output buffer holds %zu floats; %zu inputs need %zu",
                         out_cap, n, n * (size_t)dim_out);
    int vocab = c->model->cfg.bert.vocab_size;
    int32_t sep = tokenizer_sep_id(c->model->tok);
    size_t i = 0;
    while (i < n) {
        int group = 0, used = 0;
        size_t first = i;
        while (i < n) {
            size_t len = n_ids[i];
            if (len == 0 || !ids[i])
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "input %zu has no token ids", i);
            if (len > (size_t)c->max_len && !p.truncate)
                return set_error(err, SEMBED_ERR_LIMIT,
                                 "input %zu has %zu tokens, more than the maximum %d", i, len,
                                 c->max_len);
            size_t keep = len > (size_t)c->max_len ? (size_t)c->max_len : len;
            if (used + (int)keep > c->budget && group > 0)
                break;
            int32_t *dst = c->ids + used;
            for (size_t k = 0; k < len; k++) {
                int32_t id = ids[i][k];
                if (id < 0 || id >= vocab)
                    return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                     "input %zu: token id %d at position %zu is outside the "
                                     "vocabulary [0, %d)",
                                     i, (int)id, k, vocab);
            }
            if (keep == len) {
                memcpy(dst, ids[i], len * sizeof *dst);
            } else if (p.truncation_side == SEMBED_TRUNCATE_LEFT) {
                /* Keep the first id ([CLS]) and the last keep - 1. */
                dst[0] = ids[i][0];
                memcpy(dst + 1, ids[i] + (len - keep + 1), (keep - 1) * sizeof *dst);
            } else {
                memcpy(dst, ids[i], keep * sizeof *dst);
                if (ids[i][len - 1] == sep)
                    dst[keep - 1] = sep;
            }
            c->seq[group] = dst;
            c->len[group] = (int)keep;
            used += (int)keep;
            group++;
            i++;
        }
        st = run_group(c, group, &p, dim_out, out + first * (size_t)dim_out, err);
        if (st != SEMBED_OK)
            return st;
    }
    return SEMBED_OK;
}

sembed_status sembed_embed_tokens(sembed_context *c, const int32_t *ids, size_t n_ids, float *out,
                                  size_t out_cap, sembed_error *err) {
    clear_error(err);
    if (!c || !ids || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_embed_tokens: NULL argument");
    const sembed_model *m = c->model;
    int H = m->cfg.bert.hidden_size;
    if (n_ids == 0 || n_ids > (size_t)c->max_len)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "a sequence must have 1 to %d token ids, not %zu", c->max_len, n_ids);
    if (n_ids * (size_t)H > out_cap)
        return set_error(err, SEMBED_ERR_LIMIT, "output buffer holds %zu floats; %zu needed",
                         out_cap, n_ids * (size_t)H);
    for (size_t k = 0; k < n_ids; k++)
        if (ids[k] < 0 || ids[k] >= m->cfg.bert.vocab_size)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "token id %d at position %zu is outside the vocabulary", (int)ids[k], k);
    c->tokens_processed += n_ids;
    if (!m->ops)
        return encoder_forward_reference(m, ids, (int)n_ids, NULL, out, err);
    const int32_t *seq[1] = {ids};
    int len[1] = {(int)n_ids};
    encoder_batch b = {.n = 1, .ids = seq, .len = len};
    return encoder_forward(c->enc, &b, NULL, 0, out, err);
}
