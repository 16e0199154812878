/*
 * engine.c - the server's backend over the public library: the model's
 * tokenizer, its prompts, the /search corpus, and dynamic batching.
 *
 * Batching: requests queue their work (already tokenized, so every input's
 * token count is known); each worker thread owns one sembed_context and
 * takes inputs from the head of the queue, across requests with the same
 * embedding parameters, until the next input would pass the token budget
 * (--max-batch-tokens). The library packs sequences without padding, so
 * the budget counts real tokens. A large request may be split over several
 * batches; a request is answered as soon as its own inputs are done. The
 * library guarantees a text's vector is bit-identical whatever else is in
 * the call, so batching never changes a result.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


typedef struct segment {
    srv_work *work;
    size_t start, count;
    sembed_status status;
    char error[512];
} segment;

typedef struct worker {
    struct srv_engine *eng;
    pthread_t thread;
    int started;
    sembed_context *ctx;
    segment *segs;
    size_t n_segs, cap_segs;
    /* Scratch for one batch, grown as needed. */
    const char **texts;
    size_t *lens;
    const int32_t **ids;
    size_t *n_ids;
    size_t *slot_seg, *slot_index;
    size_t cap_slots;
    float *out;
    size_t cap_out;
    int32_t *trunc;           /* truncated client ids (/embed_all) */
    size_t cap_trunc;
} worker;

typedef struct prompt {
    char *name;
    char *text;
} prompt;

struct srv_engine {
    const sembed_model *model;
    const sembed_tokenizer *tok;
    sembed_model_info info;
    srv_backend be;
    char model_id[512];
    int max_batch_tokens;
    int delay_ms;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_work *head, *tail;
    size_t queued_inputs;
    int stop;

    worker *workers;
    int n_workers;

    prompt *prompts;
    size_t n_prompts;
    srv_corpus *corpus;

    /* Metrics (under mu). */
    unsigned long long batches, batch_inputs, batch_tokens;
};

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ==== Backend functions ===================================================== */

static sembed_status be_tokenize(void *self, const char *text, size_t len,
                                 const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                                 size_t *n_ids, size_t *n_untruncated, sembed_error *err) {
    srv_engine *e = self;
    return sembed_tokenize(e->tok, text, len, params, ids, cap, n_ids, n_untruncated, err);
}

static sembed_status be_detokenize(void *self, const int32_t *ids, size_t n_ids, int skip_special,
                                   char *out, size_t cap, size_t *len, sembed_error *err) {
    srv_engine *e = self;
    return sembed_detokenize(e->tok, ids, n_ids, skip_special, out, cap, len, err);
}

static const char *be_token_text(void *self, int32_t id) {
    srv_engine *e = self;
    return sembed_token_text(e->tok, id);
}

static int be_is_special(void *self, int32_t id) {
    srv_engine *e = self;
    return sembed_tokenizer_is_special(e->tok, id);
}

static const char *be_prompt(void *self, const char *name) {
    srv_engine *e = self;
    for (size_t i = 0; i < e->n_prompts; i++)
        if (!strcmp(e->prompts[i].name, name))
            return e->prompts[i].text;
    return NULL;
}

static void be_submit(void *self, srv_work *w) {
    srv_engine *e = self;
    w->next = 0;
    w->finished = 0;
    w->status = SEMBED_OK;
    w->error[0] = 0;
    w->qnext = NULL;
    w->t_queued = mono_now();
    w->t_start = w->t_end = 0;
    if (w->n == 0) {
        w->t_start = w->t_end = w->t_queued;
        w->done(w);
        return;
    }
    pthread_mutex_lock(&e->mu);
    if (e->tail)
        e->tail->qnext = w;
    else
        e->head = w;
    e->tail = w;
    e->queued_inputs += w->n;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static sembed_status be_search(void *self, const float *queries, size_t n_queries, int top_k,
                               sembed_hit *hits, size_t *n_hits, sembed_error *err) {
    srv_engine *e = self;
    return srv_corpus_search(e->corpus, queries, n_queries, e->info.dim, top_k, hits, n_hits,
                             err);
}

static const char *be_corpus_text(void *self, int64_t id, size_t *len) {
    srv_engine *e = self;
    return srv_corpus_text(e->corpus, id, len);
}

static void be_metrics(void *self, srv_buf *b) {
    srv_engine *e = self;
    pthread_mutex_lock(&e->mu);
    unsigned long long batches = e->batches, inputs = e->batch_inputs, tokens = e->batch_tokens;
    size_t queued = e->queued_inputs;
    size_t jobs = 0;
    for (srv_work *w = e->head; w; w = w->qnext)
        jobs++;
    pthread_mutex_unlock(&e->mu);
    srv_buf_printf(b,
                   "# HELP te_queue_size Requests waiting for a batch.\n"
                   "# TYPE te_queue_size gauge\nte_queue_size %zu\n"
                   "# HELP sembed_queue_inputs Inputs of queued requests.\n"
                   "# TYPE sembed_queue_inputs gauge\nsembed_queue_inputs %zu\n"
                   "# HELP sembed_batches_total Forward-pass batches run.\n"
                   "# TYPE sembed_batches_total counter\nsembed_batches_total %llu\n"
                   "# HELP sembed_batch_inputs_total Inputs embedded, over all batches.\n"
                   "# TYPE sembed_batch_inputs_total counter\nsembed_batch_inputs_total %llu\n"
                   "# HELP sembed_batch_tokens_total Tokens embedded, over all batches.\n"
                   "# TYPE sembed_batch_tokens_total counter\nsembed_batch_tokens_total %llu\n",
                   jobs, queued, batches, inputs, tokens);
}

/* ==== Batching ============================================================== */

/* Two works may share one library call when their parameters agree. */
static int compatible(const srv_work *a, const srv_work *b) {
    const sembed_embed_params *p = &a->params, *q = &b->params;
    const char *pa = p->prompt ? p->prompt : "", *pb = q->prompt ? q->prompt : "";
    return a->kind == SRV_WORK_EMBED && b->kind == SRV_WORK_EMBED &&
           p->normalize == q->normalize && p->dimensions == q->dimensions &&
           p->truncate == q->truncate && p->truncation_side == q->truncation_side &&
           !strcmp(pa, pb);
}

static size_t input_tokens(const srv_engine *e, const srv_work *w, size_t i) {
    size_t t = w->n_ids[i];
    size_t max = (size_t)e->info.max_seq_length;
    if (t > max)
        t = max;
    return t ? t : 1;
}

static int push_segment(worker *wk, srv_work *w, size_t start, size_t count) {
    if (wk->n_segs == wk->cap_segs) {
        size_t nc = wk->cap_segs ? wk->cap_segs * 2 : 16;
        segment *s = realloc(wk->segs, nc * sizeof *s);
        if (!s)
            return -1;
        wk->segs = s;
        wk->cap_segs = nc;
    }
    segment *s = &wk->segs[wk->n_segs++];
    s->work = w;
    s->start = start;
    s->count = count;
    s->status = SEMBED_OK;
    s->error[0] = 0;
    return 0;
}

/* Takes the next batch from the queue (caller holds mu). */
static void take_batch(srv_engine *e, worker *wk) {
    wk->n_segs = 0;
    size_t used = 0, budget = (size_t)e->max_batch_tokens;
    srv_work *first = NULL, *prev = NULL, *w = e->head;
    double now = mono_now();
    int full = 0;
    while (w && !full) {
        srv_work *next = w->qnext;
        size_t start = w->next;
        if (w->kind == SRV_WORK_TOKENS) {
            if (!first) { /* token embeddings: one request per batch */
                first = w;
                w->next = w->n;
                full = 1;
            }
        } else if (!first || compatible(first, w)) {
            if (!first)
                first = w;
            while (w->next < w->n) {
                size_t t = input_tokens(e, w, w->next);
                if (used > 0 && used + t > budget) {
                    full = 1;
                    break;
                }
                used += t;
                w->next++;
            }
        }
        if (w->next > start) {
            if (push_segment(wk, w, start, w->next - start)) {
                w->next = start; /* out of memory: leave it queued */
                break;
            }
            if (w->t_start == 0)
                w->t_start = now;
            e->queued_inputs -= w->next - start;
        }
        if (w->next == w->n) { /* fully taken: unlink */
            if (prev)
                prev->qnext = next;
            else
                e->head = next;
            if (e->tail == w)
                e->tail = prev;
            w->qnext = NULL;
        } else {
            prev = w;
        }
        w = next;
    }
}

static int grow_slots(worker *wk, size_t n) {
    if (n <= wk->cap_slots)
        return 0;
    size_t nc = wk->cap_slots ? wk->cap_slots : 64;
    while (nc < n)
        nc *= 2;
    const char **t = realloc(wk->texts, nc * sizeof *t);
    if (t)
        wk->texts = t;
    size_t *l = realloc(wk->lens, nc * sizeof *l);
    if (l)
        wk->lens = l;
    const int32_t **ids = realloc(wk->ids, nc * sizeof *ids);
    if (ids)
        wk->ids = ids;
    size_t *ni = realloc(wk->n_ids, nc * sizeof *ni);
    if (ni)
        wk->n_ids = ni;
    size_t *ss = realloc(wk->slot_seg, nc * sizeof *ss);
    if (ss)
        wk->slot_seg = ss;
    size_t *si = realloc(wk->slot_index, nc * sizeof *si);
    if (si)
        wk->slot_index = si;
    if (!t || !l || !ids || !ni || !ss || !si)
        return -1;
    wk->cap_slots = nc;
    return 0;
}

static int grow_out(worker *wk, size_t floats) {
    if (floats <= wk->cap_out)
        return 0;
    float *o = realloc(wk->out, floats * sizeof *o);
    if (!o)
        return -1;
    wk->out = o;
    wk->cap_out = floats;
    return 0;
}

static void seg_fail(segment *s, sembed_status st, const char *msg) {
    s->status = st;
    snprintf(s->error, sizeof s->error, "%s", msg && msg[0] ? msg : sembed_strerror(st));
}

/* Embeds segments [from, to) in one library call per input type (texts,
 * token ids). Returns SEMBED_OK or the failure, with the message in err. */
static sembed_status run_embed(worker *wk, size_t from, size_t to, sembed_error *err) {
    const sembed_embed_params *params = &wk->segs[from].work->params;
    size_t dim = (size_t)wk->segs[from].work->dim_out;
    size_t total = 0;
    for (size_t s = from; s < to; s++)
        total += wk->segs[s].count;
    if (grow_slots(wk, total))
        return SEMBED_ERR_OUT_OF_MEMORY;
    for (int pass = 0; pass < 2; pass++) { /* 0: texts, 1: token ids */
        size_t n = 0;
        for (size_t s = from; s < to; s++) {
            srv_work *w = wk->segs[s].work;
            for (size_t i = wk->segs[s].start; i < wk->segs[s].start + wk->segs[s].count; i++) {
                int is_text = w->texts[i] != NULL;
                if (is_text != (pass == 0))
                    continue;
                wk->texts[n] = w->texts[i];
                wk->lens[n] = w->lens[i];
                wk->ids[n] = w->ids[i];
                wk->n_ids[n] = w->n_ids[i];
                wk->slot_seg[n] = s;
                wk->slot_index[n] = i;
                n++;
            }
        }
        if (n == 0)
            continue;
        size_t floats;
        if (__builtin_mul_overflow(n, dim, &floats) || grow_out(wk, floats))
            return SEMBED_ERR_OUT_OF_MEMORY;
        sembed_status st =
            pass == 0 ? sembed_embed(wk->ctx, wk->texts, wk->lens, n, params, wk->out, floats, err)
                      : sembed_embed_ids(wk->ctx, wk->ids, wk->n_ids, n, params, wk->out, floats,
                                         err);
        if (st != SEMBED_OK)
            return st;
        for (size_t k = 0; k < n; k++) {
            srv_work *w = wk->segs[wk->slot_seg[k]].work;
            memcpy(w->out + wk->slot_index[k] * dim, wk->out + k * dim, dim * sizeof(float));
        }
    }
    return SEMBED_OK;
}

/* Client ids longer than max_seq_length for /embed_all: cut as the library
 * cuts id sequences, keeping a final special token ([SEP]) in place. */
static const int32_t *fit_ids(worker *wk, const int32_t *ids, size_t n, size_t max,
                              sembed_truncation_side side, size_t *out_n) {
    srv_engine *e = wk->eng;
    if (n <= max) {
        *out_n = n;
        return ids;
    }
    if (max > wk->cap_trunc) {
        int32_t *t = realloc(wk->trunc, max * sizeof *t);
        if (!t)
            return NULL;
        wk->trunc = t;
        wk->cap_trunc = max;
    }
    int first_special = sembed_tokenizer_is_special(e->tok, ids[0]);
    int last_special = sembed_tokenizer_is_special(e->tok, ids[n - 1]);
    size_t o = 0;
    if (side == SEMBED_TRUNCATE_RIGHT) {
        size_t keep = max - (size_t)(last_special && max > 1);
        memcpy(wk->trunc, ids, keep * sizeof *ids);
        o = keep;
        if (o < max)
            wk->trunc[o++] = ids[n - 1];
    } else {
        if (first_special && max > 1)
            wk->trunc[o++] = ids[0];
        size_t keep = max - o;
        memcpy(wk->trunc + o, ids + n - keep, keep * sizeof *ids);
        o += keep;
    }
    *out_n = o;
    return wk->trunc;
}

static void run_tokens(worker *wk, segment *s) {
    srv_engine *e = wk->eng;
    srv_work *w = s->work;
    sembed_error err = {0};
    for (size_t i = s->start; i < s->start + s->count; i++) {
        size_t n = 0;
        const int32_t *ids = fit_ids(wk, w->ids[i], w->n_ids[i], (size_t)e->info.max_seq_length,
                                     w->params.truncation_side, &n);
        if (!ids) {
            seg_fail(s, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
            return;
        }
        sembed_status st = sembed_embed_tokens(wk->ctx, ids, n, w->tok_out[i],
                                               n * (size_t)w->hidden, &err);
        if (st != SEMBED_OK) {
            seg_fail(s, st, err.message);
            return;
        }
    }
}

static void run_batch(worker *wk) {
    if (wk->n_segs == 0)
        return;
    if (wk->segs[0].work->kind == SRV_WORK_TOKENS) {
        run_tokens(wk, &wk->segs[0]);
        return;
    }
    sembed_error err = {0};
    sembed_status st = run_embed(wk, 0, wk->n_segs, &err);
    if (st == SEMBED_OK)
        return;
    if (wk->n_segs == 1) {
        seg_fail(&wk->segs[0], st, err.message);
        return;
    }
    /* One request's input failed the shared call: run each request alone
     * so the failure stays with the request that caused it. */
    for (size_t s = 0; s < wk->n_segs; s++) {
        memset(&err, 0, sizeof err);
        st = run_embed(wk, s, s + 1, &err);
        if (st != SEMBED_OK)
            seg_fail(&wk->segs[s], st, err.message);
    }
}

static void *worker_main(void *arg) {
    worker *wk = arg;
    srv_engine *e = wk->eng;
    srv_work **done = NULL;
    size_t cap_done = 0;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->head && !e->stop)
            pthread_cond_wait(&e->cv, &e->mu);
        if (!e->head) { /* stopping, and the queue is drained */
            pthread_mutex_unlock(&e->mu);
            break;
        }
        take_batch(e, wk);
        pthread_mutex_unlock(&e->mu);

        if (e->delay_ms > 0) {
            struct timespec ts = {e->delay_ms / 1000, (long)(e->delay_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
        run_batch(wk);

        size_t n_done = 0, inputs = 0, tokens = 0;
        if (wk->n_segs > cap_done) {
            srv_work **d = realloc(done, wk->n_segs * sizeof *d);
            if (d) {
                done = d;
                cap_done = wk->n_segs;
            }
        }
        pthread_mutex_lock(&e->mu);
        double now = mono_now();
        for (size_t s = 0; s < wk->n_segs; s++) {
            segment *sg = &wk->segs[s];
            srv_work *w = sg->work;
            if (sg->status != SEMBED_OK && w->status == SEMBED_OK) {
                w->status = sg->status;
                snprintf(w->error, sizeof w->error, "%s", sg->error);
            }
            inputs += sg->count;
            for (size_t i = sg->start; i < sg->start + sg->count; i++)
                tokens += input_tokens(e, w, i);
            w->finished += sg->count;
            if (w->finished == w->n) {
                w->t_end = now;
                if (n_done < cap_done)
                    done[n_done++] = w;
                else /* no room to defer: completing under the lock is safe */
                    w->done(w);
            }
        }
        e->batches++;
        e->batch_inputs += inputs;
        e->batch_tokens += tokens;
        pthread_mutex_unlock(&e->mu);
        /* After done() the request may be freed at once: never touch it again. */
        for (size_t i = 0; i < n_done; i++)
            done[i]->done(done[i]);
    }
    free(done);
    return NULL;
}

/* ==== Prompts ============================================================== */

/* Reads "prompts" from config_sentence_transformers.json, when present. */
static void load_prompts(srv_engine *e) {
    if (!e->info.path)
        return;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/config_sentence_transformers.json", e->info.path) >=
        (int)sizeof path)
        return;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return;
    json_t *prompts = json_object_get(root, "prompts");
    if (json_is_object(prompts) && json_object_size(prompts) > 0) {
        e->prompts = calloc(json_object_size(prompts), sizeof *e->prompts);
        const char *key;
        json_t *val;
        json_object_foreach(prompts, key, val) {
            if (!e->prompts || !json_is_string(val))
                continue;
            prompt *p = &e->prompts[e->n_prompts];
            p->name = strdup(key);
            p->text = strdup(json_string_value(val));
            if (p->name && p->text) {
                e->n_prompts++;
            } else {
                free(p->name);
                free(p->text);
            }
        }
    }
    json_decref(root);
}

/* ==== Lifecycle ============================================================ */

sembed_status srv_engine_start(const sembed_model *model, const srv_engine_params *params,
                               srv_engine **out, sembed_error *err) {
    *out = NULL;
    srv_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return err->status = SEMBED_ERR_OUT_OF_MEMORY;
    }
    e->model = model;
    e->tok = sembed_model_tokenizer(model);
    sembed_model_get_info(model, &e->info);
    e->max_batch_tokens = params->max_batch_tokens;
    e->delay_ms = params->debug_batch_delay_ms;
    snprintf(e->model_id, sizeof e->model_id, "%s", params->model_id ? params->model_id : "");
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    load_prompts(e);

    int n = params->workers > 0 ? params->workers : 1;
    e->workers = calloc((size_t)n, sizeof *e->workers);
    if (!e->workers) {
        srv_engine_stop(e);
        snprintf(err->message, sizeof err->message, "out of memory");
        return err->status = SEMBED_ERR_OUT_OF_MEMORY;
    }
    e->n_workers = n;
    sembed_context_params cp = sembed_context_default_params();
    cp.n_threads = params->threads;
    cp.max_batch_tokens = params->max_batch_tokens;
    for (int i = 0; i < n; i++) {
        worker *wk = &e->workers[i];
        wk->eng = e;
        sembed_status st = sembed_context_init(model, &cp, &wk->ctx, err);
        if (st != SEMBED_OK) {
            srv_engine_stop(e);
            return st;
        }
    }
    for (int i = 0; i < n; i++) {
        worker *wk = &e->workers[i];
        if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
            srv_engine_stop(e);
            snprintf(err->message, sizeof err->message, "cannot start a batch worker thread");
            return err->status = SEMBED_ERR_INTERNAL;
        }
        wk->started = 1;
    }

    srv_backend *be = &e->be;
    be->self = e;
    be->model_id = e->model_id;
    be->dim = e->info.dim;
    be->hidden_size = e->info.hidden_size;
    be->max_seq_length = e->info.max_seq_length;
    be->vocab_size = sembed_tokenizer_vocab_size(e->tok);
    be->pooling = e->info.pooling_name;
    be->dtype = e->info.dtype == SEMBED_DTYPE_BF16   ? "bfloat16"
                : e->info.dtype == SEMBED_DTYPE_INT8 ? "int8"
                                                     : "float32";
    be->tokenize = be_tokenize;
    be->detokenize = be_detokenize;
    be->token_text = be_token_text;
    be->is_special = be_is_special;
    be->prompt = be_prompt;
    be->submit = be_submit;
    be->search = be_search;
    be->corpus_text = be_corpus_text;
    be->metrics = be_metrics;
    *out = e;
    return SEMBED_OK;
}

void srv_engine_set_corpus(srv_engine *e, srv_corpus *corpus) {
    srv_corpus_free(e->corpus);
    e->corpus = corpus;
    e->be.corpus_size = corpus ? srv_corpus_size(corpus) : 0;
}

const srv_backend *srv_engine_backend(srv_engine *e) { return &e->be; }

void srv_engine_stop(srv_engine *e) {
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->n_workers; i++) {
        worker *wk = &e->workers[i];
        if (wk->started)
            pthread_join(wk->thread, NULL);
        sembed_context_free(wk->ctx);
        free(wk->segs);
        free(wk->texts);
        free(wk->lens);
        free(wk->ids);
        free(wk->n_ids);
        free(wk->slot_seg);
        free(wk->slot_index);
        free(wk->out);
        free(wk->trunc);
    }
    free(e->workers);
    for (size_t i = 0; i < e->n_prompts; i++) {
        free(e->prompts[i].name);
        free(e->prompts[i].text);
    }
    free(e->prompts);
    srv_corpus_free(e->corpus);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
