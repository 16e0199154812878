/*
 * weights.c - binds the tensors of model.safetensors to bert_weights.
 *
 * Names: the plain sentence-transformers names ("encoder.layer.0...") or
 * the same under a "bert." prefix (checkpoints saved from BertFor* heads),
 * and the old LayerNorm names gamma/beta for weight/bias. Every tensor's
 * shape is checked against config.json before any compute, so a bad file
 * fails at load with a message naming the tensor.
 *
 * F32 tensors are used in place from the memory map (no copy at load);
 * F16 and BF16 tensors are converted to F32 once, into owned buffers. With
 * copy_weights the layers' matrices move into one private mapping backed
 * by huge pages (weights_copy).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/common.h"
#include "model/model.h"

/* ==== Conversion ========================================================== */

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* Subnormal half: normalize into a float exponent. */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3FFu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static sembed_status keep_owned(sembed_model *m, void *p, sembed_error *err) {
    void **o = realloc(m->owned, (m->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory converting weights");
    }
    m->owned = o;
    m->owned[m->n_owned++] = p;
    return SEMBED_OK;
}

/* Returns a float32 view of a tensor: in place when it is F32 and 4-byte
 * aligned, otherwise a converted copy that the model owns. */
static sembed_status as_f32(sembed_model *m, const safetensors_file *f, const st_tensor *t,
                            const float **out, sembed_error *err) {
    if (t->dtype == ST_F32 && ((uintptr_t)t->data & 3u) == 0) {
        *out = t->data;
        return SEMBED_OK;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has dtype %s; sembed reads F32, F16 and BF16 weights",
                         f->path, t->name, safetensors_dtype_name(t->dtype));
    size_t n = (size_t)t->n_elements;
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory for tensor '%s'",
                         f->path, t->name);
    const unsigned char *src = t->data;
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == ST_F32) {
            memcpy(&p[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            p[i] = t->dtype == ST_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
    }
    sembed_status st = keep_owned(m, p, err);
    if (st != SEMBED_OK)
        return st;
    *out = p;
    return SEMBED_OK;
}

/* ==== Lookup ============================================================== */

/* Finds `name` under the accepted spellings: as is, with "bert." in front,
 * and with .gamma/.beta for a LayerNorm's .weight/.bias. */
static const st_tensor *find_tensor(const safetensors_file *f, const char *name) {
    static const char *const prefixes[] = {"", "bert."};
    char buf[512];
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        snprintf(buf, sizeof buf, "%s%s", prefixes[p], name);
        const st_tensor *t = safetensors_find(f, buf);
        if (t)
            return t;
        size_t n = strlen(buf);
        if (strstr(buf, "LayerNorm.") == NULL)
            continue;
        if (n > 7 && strcmp(buf + n - 7, ".weight") == 0)
            snprintf(buf + n - 7, sizeof buf - (n - 7), ".gamma");
        else if (n > 5 && strcmp(buf + n - 5, ".bias") == 0)
            snprintf(buf + n - 5, sizeof buf - (n - 5), ".beta");
        else
            continue;
        t = safetensors_find(f, buf);
        if (t)
            return t;
    }
    return NULL;
}

/* Binds a tensor that must have shape [d0] (d1 == 0) or [d0][d1]. */
static sembed_status bind(sembed_model *m, const safetensors_file *f, const char *name, long d0,
                          long d1, const float **out, sembed_error *err) {
    const st_tensor *t = find_tensor(f, name);
    if (!t)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    int want_dims = d1 ? 2 : 1;
    int ok = t->n_dims == want_dims && t->shape[0] == d0 && (!d1 || t->shape[1] == d1);
    if (!ok) {
        char got[128] = "";
        size_t used = 0;
        for (int i = 0; i < t->n_dims && used < sizeof got - 24; i++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", i ? "," : "",
                                     (long long)t->shape[i]);
        if (d1)
            return set_error(err, SEMBED_ERR_MISMATCH,
                             "%s: tensor '%s' has shape [%s], but config.json implies [%ld,%ld]",
                             f->path, t->name, got, d0, d1);
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "%s: tensor '%s' has shape [%s], but config.json implies [%ld]", f->path,
                         t->name, got, d0);
    }
    return as_f32(m, f, t, out, err);
}

/* ==== Binding ============================================================= */

static sembed_status bind_layer(sembed_model *m, int i, bert_layer *L, sembed_error *err) {
    const bert_config *c = &m->cfg.bert;
    const safetensors_file *f = &m->st;
    long H = c->hidden_size, F = c->intermediate_size;
    char p[128], n[192];
    snprintf(p, sizeof p, "encoder.layer.%d.", i);
    sembed_status st;
#define BIND(field, suffix, d0, d1)                                                         \
    do {                                                                                    \
        snprintf(n, sizeof n, "%s%s", p, suffix);                                           \
        if ((st = bind(m, f, n, d0, d1, &L->field, err)) != SEMBED_OK)                      \
            return st;                                                                      \
    } while (0)
    BIND(wq, "attention.self.query.weight", H, H);
    BIND(bq, "attention.self.query.bias", H, 0);
    BIND(wk, "attention.self.key.weight", H, H);
    BIND(bk, "attention.self.key.bias", H, 0);
    BIND(wv, "attention.self.value.weight", H, H);
    BIND(bv, "attention.self.value.bias", H, 0);
    BIND(wo, "attention.output.dense.weight", H, H);
    BIND(bo, "attention.output.dense.bias", H, 0);
    BIND(ln1_g, "attention.output.LayerNorm.weight", H, 0);
    BIND(ln1_b, "attention.output.LayerNorm.bias", H, 0);
    BIND(wi, "intermediate.dense.weight", F, H);
    BIND(bi, "intermediate.dense.bias", F, 0);
    BIND(w2, "output.dense.weight", H, F);
    BIND(b2, "output.dense.bias", H, 0);
    BIND(ln2_g, "output.LayerNorm.weight", H, 0);
    BIND(ln2_b, "output.LayerNorm.bias", H, 0);
#undef BIND
    return SEMBED_OK;
}

static sembed_status bind_dense(sembed_model *m, int i, sembed_error *err) {
    const dense_config *d = &m->cfg.dense[i];
    char path[4096];
    sembed_status st;
    if (d->weights == CONFIG_WEIGHTS_PYTORCH_BIN)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s/%s holds only pytorch_model.bin; sembed reads safetensors "
                         "(convert it with safetensors' convert script)",
                         m->path, d->path);
    if ((st = path_join(path, sizeof path, m->path, d->path, err)) != SEMBED_OK)
        return st;
    char file[4096];
    if ((st = path_join(file, sizeof file, path, "model.safetensors", err)) != SEMBED_OK)
        return st;
    if ((st = safetensors_open(file, &m->dense_st[i], err)) != SEMBED_OK)
        return st;
    const safetensors_file *f = &m->dense_st[i];
    st = bind(m, f, "linear.weight", d->out_features, d->in_features, &m->dense[i].w, err);
    if (st != SEMBED_OK)
        return st;
    m->dense[i].b = NULL;
    if (d->bias)
        return bind(m, f, "linear.bias", d->out_features, 0, &m->dense[i].b, err);
    return SEMBED_OK;
}

/* Maps the pages of every tensor the first forward pass reads in full (all
 * but the word embeddings, of which it reads a few rows) with one call per
 * tensor rather than thousands of page faults. Only a hint: kernels without
 * MADV_POPULATE_READ (before Linux 5.14) simply fault the pages in later. */
static void prefault(const safetensors_file *f, const char *skip) {
#ifdef MADV_POPULATE_READ
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !f->map)
        return;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (skip && strstr(t->name, skip))
            continue;
        uintptr_t b = (uintptr_t)t->data & ~(uintptr_t)(page - 1);
        uintptr_t e = (uintptr_t)t->data + (t->end - t->begin);
        if (e > b)
            (void)madvise((void *)b, e - b, MADV_POPULATE_READ);
    }
#else
    (void)f;
    (void)skip;
#endif
}

sembed_status weights_bind(sembed_model *m, sembed_error *err) {
    const bert_config *c = &m->cfg.bert;
    const safetensors_file *f = &m->st;
    long H = c->hidden_size;
    sembed_status st;
    if ((st = bind(m, f, "embeddings.word_embeddings.weight", c->vocab_size, H, &m->w.word,
                   err)) != SEMBED_OK)
        return st;
    if ((st = bind(m, f, "embeddings.position_embeddings.weight", c->max_position_embeddings, H,
                   &m->w.pos, err)) != SEMBED_OK)
        return st;
    if ((st = bind(m, f, "embeddings.token_type_embeddings.weight", c->type_vocab_size, H,
                   &m->w.type, err)) != SEMBED_OK)
        return st;
    if ((st = bind(m, f, "embeddings.LayerNorm.weight", H, 0, &m->w.ln_g, err)) != SEMBED_OK)
        return st;
    if ((st = bind(m, f, "embeddings.LayerNorm.bias", H, 0, &m->w.ln_b, err)) != SEMBED_OK)
        return st;
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    if (!m->w.layers)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < c->n_layers; i++)
        if ((st = bind_layer(m, i, &m->w.layers[i], err)) != SEMBED_OK)
            return st;
    /* A layer beyond n_layers means config.json and the weights disagree. */
    char extra[64];
    snprintf(extra, sizeof extra, "encoder.layer.%d.output.dense.weight", c->n_layers);
    if (find_tensor(f, extra))
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "%s: has more encoder layers than config.json's num_hidden_layers (%d)",
                         f->path, c->n_layers);
    for (int i = 0; i < m->cfg.n_dense; i++)
        if ((st = bind_dense(m, i, err)) != SEMBED_OK)
            return st;
    prefault(&m->st, "word_embeddings");
    return SEMBED_OK;
}

sembed_status weights_quantize(sembed_model *m, sembed_error *err) {
    if (m->params.dtype == SEMBED_DTYPE_FP32)
        return SEMBED_OK;
    const bert_config *c = &m->cfg.bert;
    int H = c->hidden_size, F = c->intermediate_size;
    m->w.qlayers = calloc((size_t)c->n_layers, sizeof *m->w.qlayers);
    if (!m->w.qlayers)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    /* The stacked query/key/value weights pass through one fp32 staging
     * copy, freed again once they are converted. */
    size_t HH = (size_t)H * H;
    float *stack = malloc(3 * HH * sizeof *stack);
    if (!stack)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory preparing weights");
    for (int l = 0; l < c->n_layers; l++) {
        const bert_layer *L = &m->w.layers[l];
        bert_layer_q *Q = &m->w.qlayers[l];
        memcpy(stack, L->wq, HH * sizeof *stack);
        memcpy(stack + HH, L->wk, HH * sizeof *stack);
        memcpy(stack + 2 * HH, L->wv, HH * sizeof *stack);
        Q->bqkv = malloc(3 * (size_t)H * sizeof *Q->bqkv);
        if (!Q->bqkv || quant_init(&Q->qkv, stack, 3 * H, H, m->params.dtype) ||
            quant_init(&Q->o, L->wo, H, H, m->params.dtype) ||
            quant_init(&Q->i, L->wi, F, H, m->params.dtype) ||
            quant_init(&Q->out, L->w2, H, F, m->params.dtype)) {
            free(stack);
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory preparing weights");
        }
        memcpy(Q->bqkv, L->bq, (size_t)H * sizeof *Q->bqkv);
        memcpy(Q->bqkv + H, L->bk, (size_t)H * sizeof *Q->bqkv);
        memcpy(Q->bqkv + 2 * H, L->bv, (size_t)H * sizeof *Q->bqkv);
    }
    free(stack);
    return SEMBED_OK;
}

/* ==== Copy into huge pages ================================================ */

#define HUGE_PAGE ((size_t)2 << 20)

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Drops this process's mapping of the whole pages inside [p, p + n): the
 * copy is used instead, and the page cache keeps the file's pages for
 * whoever maps them next. Only a hint; a page touched again is simply
 * faulted in again from the file. */
static void unmap_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (e > b)
        (void)madvise((void *)b, e - b, MADV_DONTNEED);
}

sembed_status weights_copy(sembed_model *m, sembed_error *err) {
    if (!m->params.copy_weights || m->params.dtype != SEMBED_DTYPE_FP32)
        return SEMBED_OK;
    const bert_config *c = &m->cfg.bert;
    size_t H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t sizes[6] = {H * H, H * H, H * H, H * H, F * H, H * F};
    size_t per_layer = 0;
    for (int j = 0; j < 6; j++)
        per_layer += round64(sizes[j] * sizeof(float));
    size_t total = per_layer * (size_t)c->n_layers;
    /* One mapping, started on a huge-page boundary so that every 2 MiB of
     * it can be one page. */
    size_t map_size = total + HUGE_PAGE;
    void *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY,
                         "copy_weights: cannot map %zu bytes for the weights", map_size);
    char *base = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    /* Without effect where transparent huge pages are off ("never"): the
     * copy then sits on ordinary pages, and only costs its time. */
    (void)madvise(base, total, MADV_HUGEPAGE);
#endif
    char *dst = base;
    for (int l = 0; l < c->n_layers; l++) {
        bert_layer *L = &m->w.layers[l];
        const float **mats[6] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wi, &L->w2};
        for (int j = 0; j < 6; j++) {
            size_t bytes = sizes[j] * sizeof(float);
            memcpy(dst, *mats[j], bytes);
            const char *src = (const char *)*mats[j], *fm = (const char *)m->st.map;
            if (fm && src >= fm && src + bytes <= fm + m->st.map_size)
                unmap_pages(src, bytes); /* not a converted (owned) tensor */
            *mats[j] = (const float *)dst;
            dst += round64(bytes);
        }
    }
    /* Read-only from here on, as the file mapping was. */
    (void)mprotect(base, total, PROT_READ);
    m->copy_map = map;
    m->copy_map_size = map_size;
    return SEMBED_OK;
}

void weights_release(sembed_model *m) {
    if (m->w.qlayers) {
        for (int l = 0; l < m->cfg.bert.n_layers; l++) {
            bert_layer_q *Q = &m->w.qlayers[l];
            quant_free(&Q->qkv);
            free(Q->bqkv);
            quant_free(&Q->o);
            quant_free(&Q->i);
            quant_free(&Q->out);
        }
        free(m->w.qlayers);
        m->w.qlayers = NULL;
    }
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    m->owned = NULL;
    m->n_owned = 0;
    free(m->w.layers);
    m->w.layers = NULL;
    if (m->copy_map) {
        munmap(m->copy_map, m->copy_map_size);
        m->copy_map = NULL;
        m->copy_map_size = 0;
    }
    for (int i = 0; i < CONFIG_MAX_DENSE; i++)
        safetensors_close(&m->dense_st[i]);
    safetensors_close(&m->st);
}
