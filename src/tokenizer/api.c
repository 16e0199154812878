/*
 * api.c - the tokenizer functions of the public API (sembed.h) and the
 * small accessors of tokenizer.h: parameters, ids <-> text, and the
 * WordPiece decoder used by sembed_detokenize().
 */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"

sembed_tokenize_params sembed_tokenize_default_params(void) {
    sembed_tokenize_params p;
    memset(&p, 0, sizeof p);
    p.max_length = 0;
    p.add_special_tokens = 1;
    p.truncate = 1;
    p.truncation_side = SEMBED_TRUNCATE_RIGHT;
    return p;
}

sembed_status sembed_tokenize(const sembed_tokenizer *tok, const char *text, size_t len,
                              const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                              size_t *n_ids, size_t *n_untruncated, sembed_error *err) {
    return tokenizer_encode(tok, NULL, text, len, params, ids, cap, n_ids, n_untruncated, err);
}

const char *sembed_token_text(const sembed_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_ids)
        return NULL;
    return tok->id_text[id];
}

int sembed_tokenizer_vocab_size(const sembed_tokenizer *tok) {
    return tok ? tok->n_ids : 0;
}

int sembed_tokenizer_max_length(const sembed_tokenizer *tok) {
    return tok ? tok->max_length : 0;
}

int sembed_tokenizer_is_special(const sembed_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_ids)
        return 0;
    return tok->id_special[id];
}

void sembed_tokenizer_free(sembed_tokenizer *tok) {
    tokenizer_free(tok);
}

int32_t tokenizer_cls_id(const sembed_tokenizer *tok) {
    return tok->cls_id;
}

int32_t tokenizer_sep_id(const sembed_tokenizer *tok) {
    return tok->sep_id;
}

int32_t tokenizer_pad_id(const sembed_tokenizer *tok) {
    return tok->pad_id;
}

int32_t tokenizer_unk_id(const sembed_tokenizer *tok) {
    return tok->unk_id;
}

int32_t tokenizer_max_id(const sembed_tokenizer *tok) {
    return tok->n_ids - 1;
}

/* tokenizers' decoders::wordpiece::cleanup, applied to one decoded token
 * (with its leading space): " ." -> "." and the like. */
static size_t cleanup(char *s, size_t n) {
    static const struct { const char *from, *to; } rules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        size_t fl = strlen(rules[r].from), tl = strlen(rules[r].to);
        size_t i = 0, o = 0;
        /* Every rule shortens or keeps the length, so it works in place. */
        while (i < n) {
            if (n - i >= fl && memcmp(s + i, rules[r].from, fl) == 0) {
                memmove(s + o, rules[r].to, tl);
                o += tl;
                i += fl;
            } else {
                s[o++] = s[i++];
            }
        }
        n = o;
    }
    return n;
}

sembed_status sembed_detokenize(const sembed_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                int skip_special, char *out, size_t cap, size_t *len,
                                sembed_error *err) {
    sembed_status st = SEMBED_OK;
    char *tmp = NULL;
    size_t o = 0;
    if (len)
        *len = 0;
    if (!tok || (!ids && n_ids > 0) || (!out && cap > 0))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "detokenize: NULL argument");
    if (cap == 0)
        return set_error(err, SEMBED_ERR_LIMIT, "detokenize: no room for the text in 0 bytes");
    out[0] = '\0';
    size_t tmp_cap = 1;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_ids || !tok->id_text[ids[i]])
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "detokenize: id %d at index %zu is not in the vocabulary", ids[i], i);
        if (tok->id_len[ids[i]] + 1 > tmp_cap)
            tmp_cap = tok->id_len[ids[i]] + 1;
    }
    tmp = malloc(tmp_cap + 1);
    if (!tmp)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "detokenize: out of memory");
    int first = 1;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (skip_special && tok->id_special[id])
            continue;
        const char *t = tok->id_text[id];
        size_t tl = tok->id_len[id], n = 0;
        if (!first && tl >= tok->prefix_len && tok->prefix_len > 0 &&
            memcmp(t, tok->prefix, tok->prefix_len) == 0) {
            memcpy(tmp, t + tok->prefix_len, tl - tok->prefix_len);
            n = tl - tok->prefix_len;
        } else {
            if (!first)
                tmp[n++] = ' ';
            memcpy(tmp + n, t, tl);
            n += tl;
        }
        first = 0;
        if (tok->decode_cleanup)
            n = cleanup(tmp, n);
        if (o + n + 1 > cap) {
            st = set_error(err, SEMBED_ERR_LIMIT,
                           "detokenize: the text does not fit in %zu bytes", cap);
            goto fail;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
    if (len)
        *len = o;
fail:
    if (st != SEMBED_OK)
        out[0] = '\0';
    free(tmp);
    return st;
}
