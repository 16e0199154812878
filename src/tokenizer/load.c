/*
 * load.c - builds a tokenizer from tokenizer.json, or from vocab.txt +
 * tokenizer_config.json (+ special_tokens_map.json), with jansson.
 *
 * Only what this engine reproduces exactly is accepted: a WordPiece model,
 * BertNormalizer (optionally with Lowercase), BertPreTokenizer and a
 * single-sequence template. Anything else is SEMBED_ERR_UNSUPPORTED naming
 * the component, never a silently different tokenization. As transformers
 * v5 does, tokenizer_config.json's do_lower_case, strip_accents and
 * tokenize_chinese_chars win over the file's BertNormalizer options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* What tokenizer_config.json (and special_tokens_map.json) say. */
typedef struct tok_cfg {
    int has_lower, lower;
    int has_strip, strip;        /* strip: -1 null, 0, 1 */
    int has_cjk, cjk;
    char unk[128], cls[128], sep[128], pad[128], mask[128];
    json_t *added_decoder;       /* added_tokens_decoder (borrowed) */
} tok_cfg;

/* One string owned by the tokenizer (the arena of entries). */
typedef struct tok_strs {
    char **items;
    size_t n, cap;
} tok_strs;

typedef struct tok_owned {
    char *arena;                 /* vocabulary strings */
    tok_strs extra;              /* other strings (added tokens) */
} tok_owned;

/* The tokenizer and what it owns, freed together. */
typedef struct tok_full {
    sembed_tokenizer tok;
    tok_owned own;
} tok_full;

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Reads an optional boolean field: 1/0 into *out, or leaves it (absent). */
static sembed_status get_bool(const char *file, const char *path, json_t *obj, const char *key,
                              int *out, sembed_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v)
        return SEMBED_OK;
    if (!json_is_boolean(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s%s must be a boolean, not %s", file,
                         path, key, json_type_name(v));
    *out = json_is_true(v);
    return SEMBED_OK;
}

/* A token name in tokenizer_config.json: a string or {"content": "..."}. */
static sembed_status get_token_name(const char *file, json_t *obj, const char *key, char *out,
                                    size_t cap, sembed_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return SEMBED_OK;
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!v || !json_is_string(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s must be a string or an object with "
                         "\"content\"", file, key);
    if (json_string_length(v) >= cap || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: %s is empty, too long or holds NUL",
                         file, key);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return SEMBED_OK;
}

static sembed_status parse_json(const char *file, const char *bytes, size_t len, json_t **out,
                                sembed_error *err) {
    json_error_t je;
    *out = json_loadb(bytes, len, JSON_ALLOW_NUL, &je);
    if (!*out)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s",
                         file, je.line, je.column, je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return set_error(err, SEMBED_ERR_FORMAT, "%s: the top level must be an object", file);
    }
    return SEMBED_OK;
}

static sembed_status read_cfg(json_t *root, const char *file, tok_cfg *c, int flags,
                              sembed_error *err) {
    sembed_status st;
    if (flags) {
        json_t *v;
        if ((v = json_object_get(root, "do_lower_case"))) {
            if (!json_is_boolean(v))
                return set_error(err, SEMBED_ERR_FORMAT, "%s: do_lower_case must be a boolean",
                                 file);
            c->has_lower = 1;
            c->lower = json_is_true(v);
        }
        if ((v = json_object_get(root, "strip_accents"))) {
            if (!json_is_boolean(v) && !json_is_null(v))
                return set_error(err, SEMBED_ERR_FORMAT,
                                 "%s: strip_accents must be a boolean or null", file);
            c->has_strip = 1;
            c->strip = json_is_null(v) ? -1 : json_is_true(v);
        }
        if ((v = json_object_get(root, "tokenize_chinese_chars"))) {
            if (!json_is_boolean(v))
                return set_error(err, SEMBED_ERR_FORMAT,
                                 "%s: tokenize_chinese_chars must be a boolean", file);
            c->has_cjk = 1;
            c->cjk = json_is_true(v);
        }
        json_t *d = json_object_get(root, "added_tokens_decoder");
        if (d && !json_is_object(d))
            return set_error(err, SEMBED_ERR_FORMAT, "%s: added_tokens_decoder must be an object",
                             file);
        c->added_decoder = d;
    }
    /* Names already set (by tokenizer_config.json) are not overwritten. */
    struct { const char *key; char *dst; } names[] = {
        {"unk_token", c->unk}, {"cls_token", c->cls}, {"sep_token", c->sep},
        {"pad_token", c->pad}, {"mask_token", c->mask}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char tmp[128] = "";
        if ((st = get_token_name(file, root, names[i].key, tmp, sizeof tmp, err)) != SEMBED_OK)
            return st;
        if (tmp[0] && !names[i].dst[0])
            memcpy(names[i].dst, tmp, sizeof tmp);
    }
    return SEMBED_OK;
}

/* ---- the tokenizer being built ------------------------------------------ */

static char *own_copy(tok_full *f, const char *s, size_t len) {
    tok_strs *x = &f->own.extra;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        char **p = realloc(x->items, cap * sizeof(char *));
        if (!p)
            return NULL;
        x->items = p;
        x->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    x->items[x->n++] = c;
    return c;
}

static sembed_status alloc_ids(tok_full *f, int32_t n_ids, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    t->n_ids = n_ids;
    t->id_text = calloc((size_t)n_ids + 1, sizeof(char *));
    t->id_len = calloc((size_t)n_ids + 1, sizeof(uint32_t));
    t->id_special = calloc((size_t)n_ids + 1, 1);
    if (!t->id_text || !t->id_len || !t->id_special)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for %d ids", n_ids);
    return SEMBED_OK;
}

/* The id of a token string: an added token first, then the vocabulary. */
static int32_t find_token(const sembed_tokenizer *t, const char *s) {
    size_t len = strlen(s);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, s, len) == 0 &&
            !t->added[i].normalized)
            return t->added[i].id;
    return tok_vocab_find(t, "", 0, s, len);
}

/* ---- tokenizer.json ------------------------------------------------------ */

static sembed_status parse_normalizer_one(json_t *n, tok_norm *norm, int *seen_bert,
                                          int *strip_opt, sembed_error *err) {
    const char *F = "tokenizer.json";
    json_t *type = json_object_get(n, "type");
    if (!json_is_string(type))
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: normalizer without a \"type\"", F);
    const char *ty = json_string_value(type);
    sembed_status st;
    if (!strcmp(ty, "BertNormalizer")) {
        if (*seen_bert)
            return set_error(err, SEMBED_ERR_UNSUPPORTED,
                             "%s: more than one BertNormalizer is not supported", F);
        *seen_bert = 1;
        norm->has_bert = 1;
        int clean = 1, cjk = 1, lower = 1;
        if ((st = get_bool(F, "normalizer.", n, "clean_text", &clean, err)) != SEMBED_OK ||
            (st = get_bool(F, "normalizer.", n, "handle_chinese_chars", &cjk, err)) != SEMBED_OK ||
            (st = get_bool(F, "normalizer.", n, "lowercase", &lower, err)) != SEMBED_OK)
            return st;
        json_t *sa = json_object_get(n, "strip_accents");
        if (sa && !json_is_null(sa) && !json_is_boolean(sa))
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: normalizer.strip_accents must be a boolean or null", F);
        *strip_opt = (!sa || json_is_null(sa)) ? -1 : json_is_true(sa);
        norm->clean_text = clean;
        norm->handle_cjk = cjk;
        norm->bert_lower = lower;
        return SEMBED_OK;
    }
    if (!strcmp(ty, "Lowercase")) {
        norm->has_lowercase = 1;
        if (*seen_bert)
            norm->post_lower = 1;  /* after the BertNormalizer: acts as its last step */
        else
            norm->pre_lower = 1;
        return SEMBED_OK;
    }
    return set_error(err, SEMBED_ERR_UNSUPPORTED,
                     "%s: normalizer \"%s\" is not supported (BertNormalizer and Lowercase are)",
                     F, ty);
}

static sembed_status parse_normalizer(json_t *root, tok_norm *norm, int *strip_opt,
                                      sembed_error *err) {
    json_t *n = json_object_get(root, "normalizer");
    int seen = 0;
    *strip_opt = -1;
    memset(norm, 0, sizeof *norm);
    if (!n || json_is_null(n))
        return SEMBED_OK;
    if (!json_is_object(n))
        return set_error(err, SEMBED_ERR_FORMAT, "tokenizer.json: normalizer must be an object");
    json_t *type = json_object_get(n, "type");
    if (json_is_string(type) && !strcmp(json_string_value(type), "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return set_error(err, SEMBED_ERR_FORMAT,
                             "tokenizer.json: normalizer.normalizers must be an array");
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            if (!json_is_object(item))
                return set_error(err, SEMBED_ERR_FORMAT,
                                 "tokenizer.json: normalizer.normalizers[%zu] must be an object",
                                 i);
            sembed_status st = parse_normalizer_one(item, norm, &seen, strip_opt, err);
            if (st != SEMBED_OK)
                return st;
        }
        return SEMBED_OK;
    }
    return parse_normalizer_one(n, norm, &seen, strip_opt, err);
}

static sembed_status check_pretokenizer(json_t *root, sembed_error *err) {
    json_t *p = json_object_get(root, "pre_tokenizer");
    if (!p || json_is_null(p))
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "tokenizer.json: no pre_tokenizer; only BertPreTokenizer is supported");
    json_t *type = json_object_get(p, "type");
    const char *ty = json_is_string(type) ? json_string_value(type) : "?";
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (json_is_array(list) && json_array_size(list) == 1) {
            p = json_array_get(list, 0);
            type = json_object_get(p, "type");
            ty = json_is_string(type) ? json_string_value(type) : "?";
        }
    }
    if (strcmp(ty, "BertPreTokenizer") != 0)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "tokenizer.json: pre_tokenizer \"%s\" is not supported "
                         "(only BertPreTokenizer)", ty);
    return SEMBED_OK;
}

/* Model vocabulary from model.vocab (string -> id). */
static sembed_status parse_model(tok_full *f, json_t *root, const tok_vocab_scan *vs,
                                 json_t **vocab_out, int32_t *max_id, char *unk, size_t unk_cap,
                                 sembed_error *err) {
    const char *F = "tokenizer.json";
    sembed_tokenizer *t = &f->tok;
    json_t *m = json_object_get(root, "model");
    if (!json_is_object(m))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: no \"model\" object", F);
    json_t *type = json_object_get(m, "type");
    const char *ty = json_is_string(type) ? json_string_value(type) : NULL;
    if (!ty) {
        /* Old files leave the type out; WordPiece is the one with these keys. */
        if (json_object_get(m, "merges"))
            ty = "BPE";
        else if (json_object_get(m, "continuing_subword_prefix") &&
                 json_object_get(m, "max_input_chars_per_word"))
            ty = "WordPiece";
        else
            ty = "(unknown)";
    }
    if (strcmp(ty, "WordPiece") != 0)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: model type \"%s\" is not supported (only WordPiece)", F, ty);
    json_t *vocab = json_object_get(m, "vocab");
    if (!json_is_object(vocab))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: model.vocab must be an object", F);
    json_t *v = json_object_get(m, "unk_token");
    if (v && !json_is_string(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: model.unk_token must be a string", F);
    const char *u = v ? json_string_value(v) : "[UNK]";
    if (strlen(u) + 1 > unk_cap)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: model.unk_token is too long", F);
    strcpy(unk, u);
    v = json_object_get(m, "continuing_subword_prefix");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) >= sizeof t->prefix)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: model.continuing_subword_prefix must "
                             "be a string of at most %zu bytes", F, sizeof t->prefix - 1);
        memcpy(t->prefix, json_string_value(v), json_string_length(v));
        t->prefix_len = json_string_length(v);
    } else {
        memcpy(t->prefix, "##", 3);
        t->prefix_len = 2;
    }
    v = json_object_get(m, "max_input_chars_per_word");
    t->max_word_chars = 100;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: model.max_input_chars_per_word must be a non-negative integer",
                             F);
        json_int_t x = json_integer_value(v);
        t->max_word_chars = x > TOK_MAX_WORD_CHARS ? TOK_MAX_WORD_CHARS : (size_t)x;
    }
    size_t n = vs ? vs->n : json_object_size(vocab);
    if (n > TOK_MAX_VOCAB)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: model.vocab has %zu entries, more than %d",
                         F, n, TOK_MAX_VOCAB);
    *max_id = -1;
    if (vs) {
        /* The same checks on the scanned entries; max_id is taken after the
         * table is filled, where repeated keys have kept their last id. */
        for (size_t i = 0; i < vs->n; i++) {
            const tok_vocab_entry *e = &vs->entries[i];
            if (e->id < 0 || e->id >= TOK_MAX_VOCAB)
                return set_error(err, SEMBED_ERR_FORMAT, "%s: model.vocab[\"%.40s\"] must be an "
                                 "id in 0..%d", F, e->text, TOK_MAX_VOCAB - 1);
            if (e->len > TOK_MAX_TOKEN_BYTES)
                return set_error(err, SEMBED_ERR_LIMIT, "%s: model.vocab entry \"%.40s...\" is "
                                 "longer than %d bytes", F, e->text, TOK_MAX_TOKEN_BYTES);
        }
        *vocab_out = vocab;
        return tok_vocab_init(t, n, err);
    }
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it)) {
        json_t *idv = json_object_iter_value(it);
        size_t klen = json_object_iter_key_len(it);
        if (!json_is_integer(idv) || json_integer_value(idv) < 0 ||
            json_integer_value(idv) >= TOK_MAX_VOCAB)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: model.vocab[\"%.40s\"] must be an id "
                             "in 0..%d", F, json_object_iter_key(it), TOK_MAX_VOCAB - 1);
        if (klen > TOK_MAX_TOKEN_BYTES)
            return set_error(err, SEMBED_ERR_LIMIT, "%s: model.vocab entry \"%.40s...\" is longer "
                             "than %d bytes", F, json_object_iter_key(it), TOK_MAX_TOKEN_BYTES);
        if ((int32_t)json_integer_value(idv) > *max_id)
            *max_id = (int32_t)json_integer_value(idv);
    }
    *vocab_out = vocab;
    return tok_vocab_init(t, n, err);
}

/* Fills the vocabulary table from the scanned entries (taking over their
 * arena); *max_id becomes the largest id that remains. */
static void fill_vocab_scan(tok_full *f, tok_vocab_scan *vs, int32_t *max_id) {
    sembed_tokenizer *t = &f->tok;
    f->own.arena = vs->arena;
    vs->arena = NULL;
    for (size_t i = 0; i < vs->n; i++)
        tok_vocab_put(t, vs->entries[i].text, vs->entries[i].len, (int32_t)vs->entries[i].id);
    *max_id = -1;
    for (size_t e = 0; e < t->n_model; e++)
        if (t->m_id[e] > *max_id)
            *max_id = t->m_id[e];
}

/* Fills the vocabulary table from model.vocab. */
static sembed_status fill_vocab_json(tok_full *f, json_t *vocab, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    size_t total = 0;
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it))
        total += json_object_iter_key_len(it) + 1;
    f->own.arena = malloc(total ? total : 1);
    if (!f->own.arena)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for the vocabulary");
    size_t o = 0;
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it)) {
        size_t klen = json_object_iter_key_len(it);
        int32_t id = (int32_t)json_integer_value(json_object_iter_value(it));
        char *dst = f->own.arena + o;
        memcpy(dst, json_object_iter_key(it), klen);
        dst[klen] = '\0';
        o += klen + 1;
        tok_vocab_put(t, dst, (uint32_t)klen, id);
    }
    return SEMBED_OK;
}

/* id -> text of the model entries; the first entry of an id wins. */
static void fill_id_text(sembed_tokenizer *t) {
    for (size_t e = 0; e < t->n_model; e++) {
        int32_t id = t->m_id[e];
        if (!t->id_text[id]) {
            t->id_text[id] = t->m_text[e];
            t->id_len[id] = t->m_len[e];
        }
    }
}

/* tokenizers gives an added token the id its content already has (an
 * earlier added token, else the model vocabulary), else the next free id;
 * the "id" written in the file is not used. A small hash set over the
 * added contents finds earlier ones. */
static int32_t added_id(const sembed_tokenizer *t, const tok_added *list, size_t n,
                        int32_t max, const int32_t *set, uint32_t mask, const tok_added *x) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < x->orig_len; i++)
        h = (h ^ (unsigned char)x->orig[i]) * 16777619u;
    for (uint32_t i = h & mask; set[i] >= 0; i = (i + 1) & mask) {
        const tok_added *o = &list[set[i]];
        if (o->orig_len == x->orig_len && memcmp(o->orig, x->orig, x->orig_len) == 0)
            return o->id;
    }
    int32_t id = tok_vocab_find(t, "", 0, x->orig, x->orig_len);
    if (id >= 0)
        return id;
    int32_t vocab_size = (int32_t)t->n_model;
    if (n == 0)
        return vocab_size;
    return (max >= vocab_size || vocab_size == 0) ? max + 1 : vocab_size;
}

static void added_set_put(int32_t *set, uint32_t mask, const tok_added *list, size_t idx) {
    const tok_added *x = &list[idx];
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < x->orig_len; i++)
        h = (h ^ (unsigned char)x->orig[i]) * 16777619u;
    uint32_t i = h & mask;
    while (set[i] >= 0) {
        const tok_added *o = &list[set[i]];
        if (o->orig_len == x->orig_len && memcmp(o->orig, x->orig, x->orig_len) == 0)
            return;
        i = (i + 1) & mask;
    }
    set[i] = (int32_t)idx;
}

static sembed_status parse_added(tok_full *f, json_t *root, int32_t *max_id, sembed_error *err) {
    const char *F = "tokenizer.json";
    sembed_tokenizer *t = &f->tok;
    json_t *list = json_object_get(root, "added_tokens");
    if (!list || json_is_null(list))
        return SEMBED_OK;
    if (!json_is_array(list))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: added_tokens must be an array", F);
    size_t n = json_array_size(list);
    if (n > TOK_MAX_ADDED)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: %zu added_tokens, more than %d", F, n,
                         TOK_MAX_ADDED);
    size_t set_cap = 16;
    while (set_cap < 2 * n + 16)
        set_cap *= 2;
    int32_t *set = malloc(set_cap * sizeof(int32_t));
    t->added = calloc(n + 1, sizeof(tok_added));
    if (!t->added || !set) {
        free(set);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for added tokens");
    }
    memset(set, 0xFF, set_cap * sizeof(int32_t));
    sembed_status st = SEMBED_OK;
    int32_t added_max = -1;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) {
        json_t *content = json_object_get(a, "content");
        if (!json_is_object(a) || !json_is_string(content)) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: added_tokens[%zu] needs a string "
                           "\"content\"", F, i);
            break;
        }
        if (json_string_length(content) > TOK_MAX_TOKEN_BYTES) {
            st = set_error(err, SEMBED_ERR_LIMIT, "%s: added_tokens[%zu] is longer than %d "
                           "bytes", F, i, TOK_MAX_TOKEN_BYTES);
            break;
        }
        tok_added x;
        memset(&x, 0, sizeof x);
        x.len = x.orig_len = json_string_length(content);
        int single = 0;
        /* tokenizers' AddedToken defaults: normalized = !special. */
        if ((st = get_bool(F, "added_tokens[].", a, "special", &x.special, err)) != SEMBED_OK)
            break;
        x.normalized = !x.special;
        if ((st = get_bool(F, "added_tokens[].", a, "normalized", &x.normalized, err)) ||
            (st = get_bool(F, "added_tokens[].", a, "lstrip", &x.lstrip, err)) ||
            (st = get_bool(F, "added_tokens[].", a, "rstrip", &x.rstrip, err)) ||
            (st = get_bool(F, "added_tokens[].", a, "single_word", &single, err)))
            break;
        if (single) {
            st = set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: added token \"%.40s\" has "
                           "single_word: true, which is not supported", F,
                           json_string_value(content));
            break;
        }
        if (x.len == 0)
            continue;   /* tokenizers ignores empty added tokens */
        x.content = own_copy(f, json_string_value(content), x.len);
        if (!x.content) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for added tokens");
            break;
        }
        x.orig = x.content;
        x.id = added_id(t, t->added, t->n_added, added_max, set, (uint32_t)(set_cap - 1), &x);
        if (x.id >= TOK_MAX_VOCAB) {
            st = set_error(err, SEMBED_ERR_LIMIT, "%s: more than %d ids", F, TOK_MAX_VOCAB);
            break;
        }
        t->added[t->n_added] = x;
        added_set_put(set, (uint32_t)(set_cap - 1), t->added, t->n_added);
        t->n_added++;
        if (x.id > *max_id)
            *max_id = x.id;
        if (x.id > added_max)
            added_max = x.id;
    }
    free(set);
    return st;
}

static sembed_status template_special(tok_full *f, json_t *specials, const char *name,
                                      tok_template_item *it, sembed_error *err) {
    const char *F = "tokenizer.json";
    json_t *sp = json_object_get(specials, name);
    json_t *ids = sp ? json_object_get(sp, "ids") : NULL;
    if (!json_is_array(ids))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: post_processor.special_tokens has no ids "
                         "for \"%.40s\"", F, name);
    if (json_array_size(ids) > 4)
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: post_processor special token "
                         "\"%.40s\" has more than 4 ids", F, name);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= f->tok.n_ids)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: post_processor special token "
                             "\"%.40s\" has an id outside the vocabulary", F, name);
        it->ids[it->n_ids++] = (int32_t)json_integer_value(v);
    }
    return SEMBED_OK;
}

static sembed_status set_bert_template(tok_full *f, const char *cls, const char *sep,
                                       const char *file, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    int32_t c = find_token(t, cls), s = find_token(t, sep);
    if (c < 0 || s < 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: the vocabulary has no %s token \"%s\"",
                         file, c < 0 ? "cls" : "sep", c < 0 ? cls : sep);
    t->n_tmpl = 3;
    t->tmpl[0] = (tok_template_item){0, {c}, 1};
    t->tmpl[1] = (tok_template_item){1, {0}, 0};
    t->tmpl[2] = (tok_template_item){0, {s}, 1};
    return SEMBED_OK;
}

/* post_processor: TemplateProcessing, BertProcessing or RobertaProcessing
 * (both [CLS] $A [SEP] for one sequence), or null (BERT defaults). */
static sembed_status parse_post(tok_full *f, json_t *root, const tok_cfg *cfg,
                                sembed_error *err) {
    const char *F = "tokenizer.json";
    sembed_tokenizer *t = &f->tok;
    json_t *p = json_object_get(root, "post_processor");
    if (!p || json_is_null(p))
        return set_bert_template(f, cfg->cls, cfg->sep, F, err);
    json_t *type = json_object_get(p, "type");
    const char *ty = json_is_string(type) ? json_string_value(type) : "?";
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        json_t *cls = json_object_get(p, "cls"), *sep = json_object_get(p, "sep");
        json_t *ci = json_array_get(cls, 1), *si = json_array_get(sep, 1);
        if (!json_is_integer(ci) || !json_is_integer(si) || json_integer_value(ci) < 0 ||
            json_integer_value(si) < 0 || json_integer_value(ci) >= t->n_ids ||
            json_integer_value(si) >= t->n_ids)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: post_processor.cls/sep must be "
                             "[token, id] with an id in the vocabulary", F);
        t->n_tmpl = 3;
        t->tmpl[0] = (tok_template_item){0, {(int32_t)json_integer_value(ci)}, 1};
        t->tmpl[1] = (tok_template_item){1, {0}, 0};
        t->tmpl[2] = (tok_template_item){0, {(int32_t)json_integer_value(si)}, 1};
        return SEMBED_OK;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: post_processor \"%s\" is not "
                         "supported (TemplateProcessing, BertProcessing are)", F, ty);
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
    if (!json_is_array(single) || (specials && !json_is_object(specials)))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: post_processor.single must be an array",
                         F);
    if (json_array_size(single) > TOK_MAX_TEMPLATE)
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: post_processor.single has more than "
                         "%d items", F, TOK_MAX_TEMPLATE);
    int n_seq = 0;
    size_t i;
    json_t *item;
    t->n_tmpl = 0;
    json_array_foreach(single, i, item) {
        tok_template_item *it = &t->tmpl[t->n_tmpl++];
        memset(it, 0, sizeof *it);
        json_t *sp = json_object_get(item, "SpecialToken"), *sq = json_object_get(item, "Sequence");
        json_t *id = json_object_get(sp ? sp : sq, "id");
        if ((!sp && !sq) || !json_is_string(id))
            return set_error(err, SEMBED_ERR_FORMAT, "%s: post_processor.single[%zu] must be "
                             "{\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}", F, i);
        if (sq) {
            if (strcmp(json_string_value(id), "A") != 0)
                return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: post_processor.single uses "
                                 "sequence \"%s\"", F, json_string_value(id));
            it->is_sequence = 1;
            n_seq++;
        } else {
            sembed_status st = template_special(f, specials, json_string_value(id), it, err);
            if (st != SEMBED_OK)
                return st;
        }
    }
    if (n_seq != 1)
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: post_processor.single must hold the "
                         "sequence exactly once", F);
    return SEMBED_OK;
}

/* ---- vocab.txt ------------------------------------------------------------ */

/* Rust's str::trim_end: drops trailing White_Space characters. */
static size_t trim_end(const char *s, size_t len) {
    while (len > 0) {
        size_t j = len - 1;
        while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
            j--;
        size_t n;
        if (!tok_is_whitespace(tok_utf8_next((const unsigned char *)s + j, &n)))
            break;
        len = j;
    }
    return len;
}

static sembed_status parse_vocab_txt(tok_full *f, const char *txt, size_t len,
                                     sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    if (tok_utf8_valid_prefix((const unsigned char *)txt, len) != len) {
        size_t at = tok_utf8_valid_prefix((const unsigned char *)txt, len), line = 1;
        for (size_t i = 0; i < at; i++)
            line += txt[i] == '\n';
        return set_error(err, SEMBED_ERR_FORMAT, "vocab.txt: line %zu is not valid UTF-8", line);
    }
    /* Lines as Rust's BufRead::lines() gives them: split at \n, a final
     * line without \n counts, "\r\n" loses its \r. */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += txt[i] == '\n';
    if (len > 0 && txt[len - 1] != '\n')
        n++;
    if (n == 0)
        return set_error(err, SEMBED_ERR_FORMAT, "vocab.txt: the file is empty");
    if (n > TOK_MAX_VOCAB)
        return set_error(err, SEMBED_ERR_LIMIT, "vocab.txt: %zu lines, more than %d", n,
                         TOK_MAX_VOCAB);
    f->own.arena = malloc(len + n + 1);
    if (!f->own.arena)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for vocab.txt");
    sembed_status st = alloc_ids(f, (int32_t)n, err);
    if (st == SEMBED_OK)
        st = tok_vocab_init(t, n, err);
    if (st != SEMBED_OK)
        return st;
    size_t o = 0, start = 0;
    int32_t id = 0;
    while (start < len) {
        const char *nl = memchr(txt + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - txt) : len;
        size_t l = end - start;
        if (l > 0 && txt[start + l - 1] == '\r')
            l--;
        l = trim_end(txt + start, l);
        if (l > TOK_MAX_TOKEN_BYTES)
            return set_error(err, SEMBED_ERR_LIMIT, "vocab.txt: line %d is longer than %d bytes",
                             id + 1, TOK_MAX_TOKEN_BYTES);
        char *dst = f->own.arena + o;
        memcpy(dst, txt + start, l);
        dst[l] = '\0';
        o += l + 1;
        tok_vocab_put(t, dst, (uint32_t)l, id);
        id++;
        start = end + 1;
    }
    /* id -> text from the final map: a repeated line leaves a hole at its
     * earlier index, as tokenizers' vocab_r does. */
    fill_id_text(t);
    memcpy(t->prefix, "##", 3);
    t->prefix_len = 2;
    t->max_word_chars = 100;
    return SEMBED_OK;
}

/* The special tokens of a vocab.txt tokenizer become added tokens
 * (normalized: false, special: true), as transformers registers them. */
static sembed_status vocab_specials(tok_full *f, const tok_cfg *cfg, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    const char *names[] = {cfg->pad, cfg->unk, cfg->cls, cfg->sep, cfg->mask};
    size_t extra = cfg->added_decoder ? json_object_size(cfg->added_decoder) : 0;
    if (extra > TOK_MAX_ADDED)
        return set_error(err, SEMBED_ERR_LIMIT, "tokenizer_config.json: more than %d added tokens",
                         TOK_MAX_ADDED);
    t->added = calloc(5 + extra + 1, sizeof(tok_added));
    if (!t->added)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for added tokens");
    for (size_t i = 0; i < 5; i++) {
        int32_t id = tok_vocab_find(t, "", 0, names[i], strlen(names[i]));
        if (id < 0)
            continue;
        tok_added *x = &t->added[t->n_added++];
        x->content = (char *)t->id_text[id];
        x->len = x->orig_len = t->id_len[id];
        x->orig = x->content;
        x->id = id;
        x->special = 1;
    }
    if (!cfg->added_decoder)
        return SEMBED_OK;
    /* added_tokens_decoder: {"id": {"content", "special", "normalized", ...}};
     * only entries that name a vocabulary id are taken. */
    const char *key;
    json_t *v;
    json_object_foreach(cfg->added_decoder, key, v) {
        char *endp;
        long id = strtol(key, &endp, 10);
        json_t *c = json_object_get(v, "content");
        if (*endp || id < 0 || id >= t->n_ids || !json_is_string(c))
            return set_error(err, SEMBED_ERR_FORMAT, "tokenizer_config.json: "
                             "added_tokens_decoder[\"%.20s\"] must map an id of the vocabulary "
                             "to {\"content\": ...}", key);
        tok_added tmp = {0};
        tmp.id = (int32_t)id;
        tmp.len = json_string_length(c);
        if (tmp.len == 0 || tmp.len > TOK_MAX_TOKEN_BYTES)
            continue;
        int single = 0;
        sembed_status st;
        if ((st = get_bool("tokenizer_config.json", "added_tokens_decoder.", v, "special",
                           &tmp.special, err)) != SEMBED_OK)
            return st;
        tmp.normalized = !tmp.special;
        if ((st = get_bool("tokenizer_config.json", "added_tokens_decoder.", v, "normalized",
                           &tmp.normalized, err)) ||
            (st = get_bool("tokenizer_config.json", "added_tokens_decoder.", v, "lstrip",
                           &tmp.lstrip, err)) ||
            (st = get_bool("tokenizer_config.json", "added_tokens_decoder.", v, "rstrip",
                           &tmp.rstrip, err)) ||
            (st = get_bool("tokenizer_config.json", "added_tokens_decoder.", v, "single_word",
                           &single, err)))
            return st;
        if (single)
            return set_error(err, SEMBED_ERR_UNSUPPORTED, "tokenizer_config.json: added token "
                             "\"%.40s\" has single_word: true, which is not supported",
                             json_string_value(c));
        /* Replace the entry made from the names above, or add one. */
        tok_added *x = NULL;
        for (size_t i = 0; i < t->n_added; i++)
            if (t->added[i].id == tmp.id)
                x = &t->added[i];
        if (!x)
            x = &t->added[t->n_added++];
        tmp.content = own_copy(f, json_string_value(c), tmp.len);
        tmp.orig = tmp.content;
        tmp.orig_len = tmp.len;
        if (!tmp.content)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for added tokens");
        *x = tmp;
    }
    return SEMBED_OK;
}

/* ---- assembly --------------------------------------------------------------- */

static void free_full(tok_full *f) {
    sembed_tokenizer *t = &f->tok;
    for (size_t i = 0; i < f->own.extra.n; i++)
        free(f->own.extra.items[i]);
    free(f->own.extra.items);
    free(f->own.arena);
    free(t->id_text);
    free(t->id_len);
    free(t->id_special);
    free(t->m_text);
    free(t->m_len);
    free(t->m_id);
    free(t->slots);
    free(t->added);
    tok_matcher_free(&t->raw_match);
    tok_matcher_free(&t->norm_match);
    free(f);
}

void tokenizer_free(sembed_tokenizer *tok) {
    if (tok)
        free_full((tok_full *)tok);  /* tok is the first member */
}

/* Normalizes the content of normalized=true added tokens, as tokenizers
 * does before matching them on normalized text. */
static sembed_status normalize_added(tok_full *f, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    tok_scratch *s = NULL;
    sembed_status st = SEMBED_OK;
    for (size_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (!a->normalized)
            continue;
        if (!s && !(s = tok_scratch_new())) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        if (tok_utf8_valid_prefix((const unsigned char *)a->orig, a->orig_len) != a->orig_len) {
            st = set_error(err, SEMBED_ERR_FORMAT, "added token %d is not valid UTF-8", a->id);
            goto fail;
        }
        char *c;
        if (tok_normalize(&t->norm, s, a->orig, a->orig_len) != 0 ||
            !(c = own_copy(f, s->norm.p, s->norm.len))) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        a->content = c;
        a->len = s->norm.len;
    }
fail:
    tok_scratch_free(s);
    return st;
}

static sembed_status finish(tok_full *f, const tok_cfg *cfg, sembed_error *err) {
    sembed_tokenizer *t = &f->tok;
    for (size_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        /* An added token's text wins for id -> text, as in tokenizers. */
        t->id_text[a->id] = a->orig;
        t->id_len[a->id] = (uint32_t)a->orig_len;
        if (a->special)
            t->id_special[a->id] = 1;
    }
    tok_norm_finish(&t->norm);
    sembed_status st = normalize_added(f, err);
    if (st != SEMBED_OK)
        return st;
    if ((st = tok_matcher_build(&t->raw_match, t->added, t->n_added, 0, err)) != SEMBED_OK ||
        (st = tok_matcher_build(&t->norm_match, t->added, t->n_added, 1, err)) != SEMBED_OK)
        return st;
    t->n_special_in_tmpl = 0;
    for (int i = 0; i < t->n_tmpl; i++)
        t->n_special_in_tmpl += t->tmpl[i].n_ids;
    t->cls_id = find_token(t, cfg->cls);
    t->sep_id = find_token(t, cfg->sep);
    t->pad_id = find_token(t, cfg->pad);
    return SEMBED_OK;
}

void tokenizer_set_force_lowercase(sembed_tokenizer *tok, int on) {
    if (!tok)
        return;
    tok_full *f = (tok_full *)tok;
    /* ST6 prepends Lowercase unless the normalizer has one already. */
    int want = on && !tok->norm.has_lowercase;
    if (want == tok->norm.pre_lower)
        return;
    tok_norm old = tok->norm;
    tok->norm.pre_lower = want;
    tok_norm_finish(&tok->norm);
    /* Normalized added tokens are matched in their normalized form. */
    if (tok->norm_match.n > 0) {
        tok_matcher m;
        if (normalize_added(f, NULL) != SEMBED_OK ||
            tok_matcher_build(&m, tok->added, tok->n_added, 1, NULL) != SEMBED_OK) {
            tok->norm = old;   /* out of memory: keep the tokenizer consistent */
            normalize_added(f, NULL);
            return;
        }
        tok_matcher_free(&tok->norm_match);
        tok->norm_match = m;
    }
}

void tokenizer_set_max_length(sembed_tokenizer *tok, int max_length) {
    if (tok)
        tok->max_length = max_length > 0 ? max_length : 0;
}

sembed_status tokenizer_load_memory(const char *tokenizer_json, size_t tokenizer_json_len,
                                    const char *vocab_txt, size_t vocab_txt_len,
                                    const char *tokenizer_config_json, size_t config_len,
                                    sembed_tokenizer **out, sembed_error *err) {
    return tokenizer_load_memory2(tokenizer_json, tokenizer_json_len, vocab_txt, vocab_txt_len,
                                  tokenizer_config_json, config_len, NULL, 0, out, err);
}

sembed_status tokenizer_load_memory2(const char *tokenizer_json, size_t tokenizer_json_len,
                                     const char *vocab_txt, size_t vocab_txt_len,
                                     const char *tokenizer_config_json, size_t config_len,
                                     const char *special_map_json, size_t special_map_len,
                                     sembed_tokenizer **out, sembed_error *err) {
    sembed_status st = SEMBED_OK;
    json_t *root = NULL, *cfg_root = NULL, *map_root = NULL;
    tok_full *f = NULL;
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "tokenizer: NULL output");
    *out = NULL;
    if (!tokenizer_json && !vocab_txt)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "tokenizer: neither tokenizer.json nor vocab.txt given");
    f = calloc(1, sizeof *f);
    if (!f)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    sembed_tokenizer *t = &f->tok;
    t->decode_cleanup = 1;

    tok_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    if (tokenizer_config_json) {
        if ((st = parse_json("tokenizer_config.json", tokenizer_config_json, config_len,
                             &cfg_root, err)) != SEMBED_OK ||
            (st = read_cfg(cfg_root, "tokenizer_config.json", &cfg, 1, err)) != SEMBED_OK)
            goto fail;
    }
    if (special_map_json) {
        if ((st = parse_json("special_tokens_map.json", special_map_json, special_map_len,
                             &map_root, err)) != SEMBED_OK ||
            (st = read_cfg(map_root, "special_tokens_map.json", &cfg, 0, err)) != SEMBED_OK)
            goto fail;
    }
    if (!cfg.cls[0])
        strcpy(cfg.cls, "[CLS]");
    if (!cfg.sep[0])
        strcpy(cfg.sep, "[SEP]");
    if (!cfg.pad[0])
        strcpy(cfg.pad, "[PAD]");
    if (!cfg.mask[0])
        strcpy(cfg.mask, "[MASK]");

    int strip_opt = -1;
    if (tokenizer_json) {
        json_t *vocab = NULL;
        int32_t max_id = -1;
        char unk[256];
        /* The vocabulary is read by the fast scanner when it can; jansson
         * then parses the rest of the file with the vocabulary as {}. */
        tok_vocab_scan vs;
        char *rest = NULL;
        int fast = tok_vocab_scan_json(tokenizer_json, tokenizer_json_len, &vs) == 0;
        if (fast) {
            size_t cut = vs.span_end - vs.span_begin, rest_len = tokenizer_json_len - cut + 2;
            rest = malloc(rest_len);
            if (!rest) {
                tok_vocab_scan_free(&vs);
                st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
                goto fail;
            }
            memcpy(rest, tokenizer_json, vs.span_begin);
            memcpy(rest + vs.span_begin, "{}", 2);
            memcpy(rest + vs.span_begin + 2, tokenizer_json + vs.span_end,
                   tokenizer_json_len - vs.span_end);
            st = parse_json("tokenizer.json", rest, rest_len, &root, err);
            free(rest);
            if (st == SEMBED_OK)
                st = parse_model(f, root, &vs, &vocab, &max_id, unk, sizeof unk, err);
            if (st == SEMBED_OK)
                fill_vocab_scan(f, &vs, &max_id);
            tok_vocab_scan_free(&vs);
            if (st != SEMBED_OK)
                goto fail;
        } else if ((st = parse_json("tokenizer.json", tokenizer_json, tokenizer_json_len, &root,
                                    err)) ||
                   (st = parse_model(f, root, NULL, &vocab, &max_id, unk, sizeof unk, err)) ||
                   (st = fill_vocab_json(f, vocab, err))) {
            goto fail;
        }
        if ((st = parse_added(f, root, &max_id, err)) ||
            (st = parse_normalizer(root, &t->norm, &strip_opt, err)) ||
            (st = check_pretokenizer(root, err)))
            goto fail;
        if (max_id < 0) {
            st = set_error(err, SEMBED_ERR_FORMAT, "tokenizer.json: the vocabulary is empty");
            goto fail;
        }
        if ((st = alloc_ids(f, max_id + 1, err)) != SEMBED_OK)
            goto fail;
        fill_id_text(t);
        t->unk_id = tok_vocab_find(t, "", 0, unk, strlen(unk));
        if (t->unk_id < 0) {
            st = set_error(err, SEMBED_ERR_FORMAT, "tokenizer.json: model.vocab has no "
                           "unk_token \"%.40s\"", unk);
            goto fail;
        }
        json_t *dec = json_object_get(root, "decoder");
        if (json_is_object(dec) && json_is_false(json_object_get(dec, "cleanup")))
            t->decode_cleanup = 0;
        if ((st = parse_post(f, root, &cfg, err)) != SEMBED_OK)
            goto fail;
    } else {
        if (!cfg.unk[0])
            strcpy(cfg.unk, "[UNK]");
        if ((st = parse_vocab_txt(f, vocab_txt, vocab_txt_len, err)) != SEMBED_OK)
            goto fail;
        t->unk_id = tok_vocab_find(t, "", 0, cfg.unk, strlen(cfg.unk));
        if (t->unk_id < 0) {
            st = set_error(err, SEMBED_ERR_FORMAT, "vocab.txt: no unk_token \"%.40s\" line",
                           cfg.unk);
            goto fail;
        }
        /* transformers' BertTokenizer defaults. */
        t->norm.has_bert = 1;
        t->norm.clean_text = 1;
        t->norm.handle_cjk = 1;
        t->norm.bert_lower = 1;
        if ((st = vocab_specials(f, &cfg, err)) != SEMBED_OK ||
            (st = set_bert_template(f, cfg.cls, cfg.sep, "vocab.txt", err)) != SEMBED_OK)
            goto fail;
    }
    if (!cfg.unk[0])
        strcpy(cfg.unk, "[UNK]");

    /* transformers v5 rebuilds the BertNormalizer from these flags; the
     * effective strip_accents is strip_accents.unwrap_or(lowercase). */
    if (t->norm.has_bert) {
        if (cfg.has_lower)
            t->norm.bert_lower = cfg.lower;
        if (cfg.has_cjk)
            t->norm.handle_cjk = cfg.cjk;
        if (cfg.has_strip)
            strip_opt = cfg.strip;
        t->norm.strip_accents = strip_opt < 0 ? t->norm.bert_lower : strip_opt;
    }
    t->norm.lowercase = t->norm.bert_lower || t->norm.post_lower;
    if ((st = finish(f, &cfg, err)) != SEMBED_OK)
        goto fail;
    json_decref(root);
    json_decref(cfg_root);
    json_decref(map_root);
    *out = t;
    return SEMBED_OK;
fail:
    json_decref(root);
    json_decref(cfg_root);
    json_decref(map_root);
    free_full(f);
    return st;
}
