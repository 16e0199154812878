/*
 * encoder.c - the BERT encoder forward pass: embeddings, post-LN layers,
 * pooling and Dense modules, in two forms.
 *
 * The fast path packs the sequences of a batch side by side as columns of
 * feature-major matrices ([features][tokens], no padding), so the linear
 * layers are single large products over all tokens of the batch while
 * attention runs per sequence over exactly its own tokens. Work is split
 * over a persistent thread pool: a batch that deals out evenly gives each
 * thread a share of its sequences to run through the whole encoder (a
 * thread that finishes early takes over half of another's remaining
 * sequences), and any other runs each product by column or row ranges.
 * Since every kernel computes each element in a fixed order, a text's
 * vector is the same bits whatever else is in the batch and however many
 * threads run.
 *
 * The reference path (encoder_forward_reference) is the plain version:
 * token-major loops over one sequence with double accumulators and libm
 * functions, written to be read. Tests check the fast path against it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "model/model.h"

/* Token columns of the FFN intermediate buffer: the FFN runs over the
 * batch in chunks of this many tokens so that its [F][chunk] buffer stays
 * small whatever the batch size. */
#define FFN_CHUNK 512
/* Row strides are kept off multiples of 1 KiB: rows a power of two apart
 * share cache sets, and a micro-tile that touches 12 of them at once, or a
 * pack that walks 384 of them, then evicts its own lines. The FFN buffer's
 * stride is a multiple of 256 floats plus this pad. */
#define F_LD_PAD 16
/* FFN buffer columns each thread owns when it runs whole sequences alone
 * (run_by_sequence): half of FFN_CHUNK, the share a thread gets of a
 * chunk split between two threads. With more than 2 threads the buffer
 * widens to n_threads x 256 columns (6 MB more per 4 threads for MiniLM's
 * 1536 rows). */
#define FFN_CHUNK_THREAD 256
/* Below this many tokens per thread, products are split by rows. */
#define SPLIT_COLS_MIN 128
/* A batch whose sequences can be dealt out to the threads with no thread
 * holding more than 1/16 above an equal share of the tokens runs each
 * share through the whole encoder on one thread (run_by_sequence). */
#define SEQ_SPLIT_SLACK 16
/* A thread hands over part of its sequences only when both parts keep at
 * least this many tokens. */
#define HANDOFF_COLS_MIN 32
/* Tokens per step of a run (whole sequences, or one longer sequence):
 * the FFN buffer's share per thread. */
#define STEP_COLS FFN_CHUNK_THREAD
/* Room for tasks posted beyond one per thread, used only when tests force
 * handoffs with no thread waiting. */
#define HANDOFF_QUEUE_EXTRA 8
/* Regions with less work than this (FLOPs, or element updates for the
 * element-wise passes) run on the calling thread alone: waking another
 * thread costs more than it saves. */
#define PARALLEL_MIN_FLOPS 2e6
#define PARALLEL_MIN_ELEMS 32768

/* ==== Activations ========================================================= */

float act_apply(bert_act act, float x) {
    switch (act) {
    case BERT_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case BERT_ACT_GELU_TANH: {
        float c = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    case BERT_ACT_GELU_FAST:
        return 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
    case BERT_ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    case BERT_ACT_GELU_10: {
        float g = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
        return g < -10.0f ? -10.0f : (g > 10.0f ? 10.0f : g);
    }
    case BERT_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case BERT_ACT_SILU:
        return x / (1.0f + expf(-x));
    case BERT_ACT_TANH:
        return tanhf(x);
    case BERT_ACT_IDENTITY:
        return x;
    }
    return x;
}

/* ==== State =============================================================== */

/* A run of sequences [q0, q1) on its way through the encoder, at step
 * `step` of layer `layer`: sequences [q0, qc) have been through that step
 * and [qc, q1) not yet. */
enum { STEP_EMBED, STEP_QKV, STEP_ATTN, STEP_OUT, STEP_FFN };
typedef struct seq_task {
    int q0, q1, qc;
    int layer, step;
} seq_task;

struct encoder_state {
    const sembed_model *model;
    const kern_ops *ops;
    threadpool *pool;
    int max_tokens;
    size_t cap;                  /* token columns allocated */
    size_t ld;                   /* row stride of the [*][ld] buffers */
    float *arena;
    float *X;                    /* hidden states        [H][ld] */
    float *QKV;                  /* query, key, value    [3H][ld] */
    float *C;                    /* attention context    [H][ld] */
    float *A;                    /* attention output     [H][ld] */
    float *F;                    /* FFN intermediate     [Fd][f_ld] */
    size_t f_ld;
    float *scratch;              /* attention, per thread */
    size_t scratch_per_thread;
    float *lin_scratch;          /* packed panels, per thread */
    /* the batch being run */
    int n_seq;
    int *seq_start;              /* first column of each sequence */
    int *seq_len;
    int n_tok;
    int *part;                   /* run_by_sequence: thread i starts with
                                    sequences [part[i], part[i + 1]) */
    /* run_by_sequence's handoff of work between threads, under mu: tasks
     * running or posted (active), threads waiting for one (idle), and
     * tasks posted for them; hungry mirrors idle - n_posted for a
     * lock-free look. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active, idle, n_posted, posted_cap;
    atomic_int hungry;
    seq_task *posted;
    int handoff_every;           /* tests: force a handoff every n steps */
    long handoffs[2];            /* later / earlier part given, for tests */
};

encoder_state *encoder_state_new(const sembed_model *model, int max_tokens, int n_threads) {
    encoder_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->model = model;
    s->ops = model->ops;
    s->max_tokens = max_tokens;
    s->pool = threadpool_new(n_threads);
    size_t per = kern_linear_scratch();
    int nth = s->pool ? threadpool_size(s->pool) : 1;
    s->lin_scratch = aligned_alloc(64, per * (size_t)nth * sizeof(float));
    s->part = malloc(((size_t)nth + 1) * sizeof *s->part);
    s->posted_cap = nth + HANDOFF_QUEUE_EXTRA;
    s->posted = malloc((size_t)s->posted_cap * sizeof *s->posted);
    size_t fw = (size_t)nth * FFN_CHUNK_THREAD;
    s->f_ld = (fw > FFN_CHUNK ? fw : FFN_CHUNK) + F_LD_PAD;
    if (!s->pool || !s->lin_scratch || !s->part || !s->posted) {
        threadpool_free(s->pool);
        free(s->lin_scratch);
        free(s->part);
        free(s->posted);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void encoder_state_free(encoder_state *s) {
    if (!s)
        return;
    threadpool_free(s->pool);
    free(s->arena);
    free(s->scratch);
    free(s->lin_scratch);
    free(s->seq_start);
    free(s->seq_len);
    free(s->part);
    free(s->posted);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int encoder_state_threads(const encoder_state *s) { return threadpool_size(s->pool); }

void encoder_state_set_handoff(encoder_state *s, int every) {
    s->handoff_every = every > 0 ? every : 0;
    s->handoffs[0] = s->handoffs[1] = 0;
}

void encoder_state_handoffs(const encoder_state *s, long *later, long *earlier) {
    *later = s->handoffs[0];
    *earlier = s->handoffs[1];
}

/* Grows the arena to hold n_tok token columns and n_seq sequences. The
 * arena only grows, so steady-state batches allocate nothing. */
static sembed_status ensure_capacity(encoder_state *s, int n_tok, int n_seq, int max_len,
                                     sembed_error *err) {
    const bert_config *c = &s->model->cfg.bert;
    if ((size_t)n_tok > s->cap) {
        size_t ld = ((size_t)n_tok + 15) & ~(size_t)15;
        if (ld % 256 == 0)
            ld += 16;
        size_t H = (size_t)c->hidden_size, Fd = (size_t)c->intermediate_size;
        size_t total = 6 * H * ld + Fd * s->f_ld;
        float *arena = aligned_alloc(64, ((total * sizeof(float)) + 63) & ~(size_t)63);
        if (!arena)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY,
                             "out of memory for a batch of %d tokens", n_tok);
        free(s->arena);
        s->arena = arena;
        s->X = arena;
        s->QKV = s->X + H * ld;
        s->C = s->QKV + 3 * H * ld;
        s->A = s->C + H * ld;
        s->F = s->A + H * ld;
        s->cap = ld;
        s->ld = ld;
    }
    size_t per = kern_attention_scratch(max_len);
    if (per > s->scratch_per_thread) {
        size_t nth = (size_t)threadpool_size(s->pool);
        float *sc = aligned_alloc(64, ((per * nth * sizeof(float)) + 63) & ~(size_t)63);
        if (!sc)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory for attention");
        free(s->scratch);
        s->scratch = sc;
        s->scratch_per_thread = per;
    }
    int *st = realloc(s->seq_start, (size_t)n_seq * sizeof *st);
    if (!st)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    s->seq_start = st;
    int *sl = realloc(s->seq_len, (size_t)n_seq * sizeof *sl);
    if (!sl)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    s->seq_len = sl;
    return SEMBED_OK;
}

/* ==== Work splitting ====================================================== */

/* Splits a product with N output rows over T columns among nth threads:
 * by columns (multiples of 32) when there are enough, else by rows. */
static void split_work(int N, int T, int gran, int ith, int nth, int *n0, int *n1, int *t0,
                       int *t1) {
    if (nth == 1 || T >= SPLIT_COLS_MIN * nth) {
        int blocks = (T + 31) / 32;
        *t0 = (int)((long)blocks * ith / nth) * 32;
        *t1 = (int)((long)blocks * (ith + 1) / nth) * 32;
        if (*t1 > T)
            *t1 = T;
        if (*t0 > T)
            *t0 = T;
        *n0 = 0;
        *n1 = N;
    } else {
        int units = (N + gran - 1) / gran;
        *n0 = (int)((long)units * ith / nth) * gran;
        *n1 = (int)((long)units * (ith + 1) / nth) * gran;
        if (*n1 > N)
            *n1 = N;
        if (*n0 > N)
            *n0 = N;
        *t0 = 0;
        *t1 = T;
    }
}

/* Splits [0, T) into nth contiguous column ranges. */
static void split_cols(int T, int ith, int nth, int *t0, int *t1) {
    *t0 = (int)((long)T * ith / nth);
    *t1 = (int)((long)T * (ith + 1) / nth);
}

/* Threads worth using for a region of `work` units against `min`. */
static int threads_for(const encoder_state *s, double work, double min) {
    return work < min ? 1 : threadpool_size(s->pool);
}

/* ==== Parallel regions ==================================================== */

typedef struct linear_job {
    const kern_ops *ops;
    int n_mats;
    struct {
        const float *W, *b;
        const kern_qmat *Q;      /* reduced-precision weights, or NULL */
        float *Y;
        const float *R;
        size_t ldy, ldr;
        int N;
    } m[3];
    kern_linear_q_fn qfn;        /* the bf16 / int8 product for Q */
    const float *X;
    size_t ldx;
    int K, T;
    kern_act act;
    float *scratch;              /* kern_linear_scratch() floats per thread */
} linear_job;

/* Y[n0..n1)[t0..t1) of one product, on the calling thread: the bf16 /
 * int8 product qfn when the matrix has a reduced-precision form Q, else
 * the fp32 one. */
static void linear_part(const kern_ops *ops, kern_linear_q_fn qfn, const float *W,
                        const kern_qmat *Q, const float *b, const float *X, size_t ldx, float *Y,
                        size_t ldy, const float *R, size_t ldr, int K, int n0, int n1, int t0,
                        int t1, kern_act act, float *scratch) {
    if (Q)
        qfn(Q, b, X, ldx, Y, ldy, R, ldr, n0, n1, t0, t1, act, scratch);
    else
        ops->linear(W, b, X, ldx, Y, ldy, R, ldr, K, n0, n1, t0, t1, act, scratch);
}

static void linear_region(void *arg, int ith, int nth) {
    linear_job *j = arg;
    for (int i = 0; i < j->n_mats; i++) {
        int n0, n1, t0, t1;
        split_work(j->m[i].N, j->T, j->ops->linear_rows, ith, nth, &n0, &n1, &t0, &t1);
        if (n0 >= n1 || t0 >= t1)
            continue;
        linear_part(j->ops, j->qfn, j->m[i].W, j->m[i].Q, j->m[i].b, j->X, j->ldx, j->m[i].Y,
                    j->m[i].ldy, j->m[i].R, j->m[i].ldr, j->K, n0, n1, t0, t1, j->act,
                    j->scratch + (size_t)ith * kern_linear_scratch());
    }
}

typedef struct ln_job {
    const kern_ops *ops;
    float *X;
    size_t ld;
    int N, T;
    const float *g, *b;
    double eps;
} ln_job;

static void layernorm_region(void *arg, int ith, int nth) {
    ln_job *j = arg;
    int t0, t1;
    split_cols(j->T, ith, nth, &t0, &t1);
    if (t0 < t1)
        j->ops->layernorm(j->X, j->ld, j->X, j->ld, j->N, t0, t1, j->g, j->b, j->eps);
}

typedef struct embed_job {
    encoder_state *s;
    const encoder_batch *batch;
} embed_job;

/* X[:, t] = (word[id] + type[0]) + pos[p], then LayerNorm, for the
 * columns t in [t0, t1). */
static void embed_cols(encoder_state *s, const encoder_batch *batch, int t0, int t1) {
    const sembed_model *m = s->model;
    int H = m->cfg.bert.hidden_size;
    /* Blocks of 16 tokens, feature by feature, so that the writes into the
     * feature-major X are contiguous (one token at a time would write 384
     * scattered lines). */
    int seq = 0;
    const float *te = m->w.type;
    for (int tb = t0; tb < t1; tb += 16) {
        int nt = t1 - tb < 16 ? t1 - tb : 16;
        const float *we[16], *pe[16];
        for (int i = 0; i < nt; i++) {
            int t = tb + i;
            while (t >= s->seq_start[seq] + s->seq_len[seq])
                seq++;
            int p = t - s->seq_start[seq];
            we[i] = m->w.word + (size_t)batch->ids[seq][p] * H;
            pe[i] = m->w.pos + (size_t)p * H;
        }
        for (int n = 0; n < H; n++) {
            float *x = s->X + (size_t)n * s->ld + tb;
            for (int i = 0; i < nt; i++)
                x[i] = (we[i][n] + te[n]) + pe[i][n];
        }
    }
    if (t0 < t1)
        s->ops->layernorm(s->X, s->ld, s->X, s->ld, H, t0, t1, m->w.ln_g, m->w.ln_b,
                          m->cfg.bert.layer_norm_eps);
}

static void embed_region(void *arg, int ith, int nth) {
    embed_job *j = arg;
    int t0, t1;
    split_cols(j->s->n_tok, ith, nth, &t0, &t1);
    embed_cols(j->s, j->batch, t0, t1);
}

typedef struct attn_job {
    encoder_state *s;
    long long total_cost;
    kern_attention_fn fn;
} attn_job;

/* Attention of head h of sequence q, from QKV into C. */
static void attend(const encoder_state *s, kern_attention_fn fn, int q, int h, float *scratch) {
    const bert_config *c = &s->model->cfg.bert;
    int D = c->hidden_size / c->n_heads, L = s->seq_len[q];
    size_t H = (size_t)c->hidden_size, ld = s->ld, col = (size_t)s->seq_start[q];
    float scale = (float)(1.0 / sqrt((double)D));
    const float *Q = s->QKV + (size_t)h * D * ld + col;
    const float *K = s->QKV + (H + (size_t)h * D) * ld + col;
    const float *V = s->QKV + (2 * H + (size_t)h * D) * ld + col;
    fn(Q, K, V, ld, L, D, scale, s->C + (size_t)h * D * ld + col, ld, 0, L, scratch);
}

/* Tasks are (sequence, head) pairs; each thread takes a contiguous run of
 * tasks holding about 1/nth of the total cost (L^2 per task). */
static void attention_region(void *arg, int ith, int nth) {
    attn_job *j = arg;
    encoder_state *s = j->s;
    int heads = s->model->cfg.bert.n_heads;
    float *scratch = s->scratch + (size_t)ith * s->scratch_per_thread;
    long long lo = j->total_cost * ith / nth, hi = j->total_cost * (ith + 1) / nth, acc = 0;
    for (int q = 0; q < s->n_seq; q++) {
        int L = s->seq_len[q];
        long long cost = (long long)L * L + 64;
        for (int h = 0; h < heads; h++) {
            long long mid = acc + cost / 2;
            acc += cost;
            if (mid < lo || mid >= hi)
                continue;
            attend(s, j->fn, q, h, scratch);
        }
    }
}

typedef struct act_job {
    float *Y;
    size_t ld;
    int N, T;
    bert_act act;
} act_job;

/* Activations other than the exact GELU run as a separate element-wise
 * pass (they are rare in sentence-transformers models), over columns
 * [t0, t1) of Y [N][ld]. */
static void act_cols(float *Y, size_t ld, int N, int t0, int t1, bert_act act) {
    for (int n = 0; n < N; n++)
        for (int t = t0; t < t1; t++)
            Y[(size_t)n * ld + t] = act_apply(act, Y[(size_t)n * ld + t]);
}

static void act_region(void *arg, int ith, int nth) {
    act_job *j = arg;
    int t0, t1;
    split_cols(j->T, ith, nth, &t0, &t1);
    act_cols(j->Y, j->ld, j->N, t0, t1, j->act);
}

/* ==== Forward ============================================================= */

/* The product for the model's dtype: fp32 W, or its bf16 / int8 form. */
static kern_linear_q_fn qfn_of(const encoder_state *s) {
    sembed_dtype dt = s->model->params.dtype;
    return dt == SEMBED_DTYPE_BF16 ? s->ops->linear_bf16
                                   : (dt == SEMBED_DTYPE_INT8 ? s->ops->linear_int8 : NULL);
}

/* bf16 / int8 models also run attention's two products in bf16 (the
 * softmax stays fp32), as PyTorch's bf16 autocast does. */
static kern_attention_fn attention_fn_of(const encoder_state *s) {
    const bert_config *c = &s->model->cfg.bert;
    if (s->model->params.dtype != SEMBED_DTYPE_FP32 && s->ops->attention_bf16 &&
        c->hidden_size / c->n_heads <= KERN_ATTN_DMAX)
        return s->ops->attention_bf16;
    return s->ops->attention;
}

static void run_linear(encoder_state *s, const float *W, const kern_qmat *Q, const float *b,
                       const float *X, size_t ldx, float *Y, size_t ldy, const float *R, int N,
                       int K, int T, kern_act act) {
    linear_job j = {.ops = s->ops, .n_mats = 1, .X = X, .ldx = ldx, .K = K, .T = T, .act = act,
                    .scratch = s->lin_scratch, .qfn = qfn_of(s)};
    j.m[0].W = W;
    j.m[0].Q = Q;
    j.m[0].b = b;
    j.m[0].Y = Y;
    j.m[0].R = R;
    j.m[0].ldy = ldy;
    j.m[0].ldr = ldy;
    j.m[0].N = N;
    threadpool_run_n(s->pool, linear_region, &j,
                     threads_for(s, 2.0 * N * K * T, PARALLEL_MIN_FLOPS));
}

static void run_layernorm(encoder_state *s, float *X, int N, int T, const float *g,
                          const float *b) {
    ln_job j = {.ops = s->ops, .X = X, .ld = s->ld, .N = N, .T = T, .g = g, .b = b,
                .eps = s->model->cfg.bert.layer_norm_eps};
    threadpool_run_n(s->pool, layernorm_region, &j,
                     threads_for(s, (double)N * T, PARALLEL_MIN_ELEMS));
}

static void run_layer(encoder_state *s, const bert_layer *L, const bert_layer_q *LQ) {
    const bert_config *c = &s->model->cfg.bert;
    int H = c->hidden_size, Fd = c->intermediate_size, T = s->n_tok;
    size_t ld = s->ld;

    /* q, k, v = x W^T + b, in one region: three fp32 matrices read in place
     * from the weights file, or the stacked reduced-precision one. */
    linear_job qkv = {.ops = s->ops, .n_mats = LQ ? 1 : 3, .X = s->X, .ldx = ld, .K = H, .T = T,
                      .act = KERN_ACT_NONE, .scratch = s->lin_scratch, .qfn = qfn_of(s)};
    const float *Ws[3] = {L->wq, L->wk, L->wv}, *bs[3] = {L->bq, L->bk, L->bv};
    for (int i = 0; i < qkv.n_mats; i++) {
        qkv.m[i].W = Ws[i];
        qkv.m[i].Q = LQ ? &LQ->qkv : NULL;
        qkv.m[i].b = LQ ? LQ->bqkv : bs[i];
        qkv.m[i].Y = s->QKV + (size_t)i * H * ld;
        qkv.m[i].R = NULL;
        qkv.m[i].ldy = ld;
        qkv.m[i].ldr = 0;
        qkv.m[i].N = LQ ? 3 * H : H;
    }
    threadpool_run_n(s->pool, linear_region, &qkv,
                     threads_for(s, 6.0 * H * H * T, PARALLEL_MIN_FLOPS));

    attn_job aj = {.s = s, .total_cost = 0, .fn = attention_fn_of(s)};
    for (int q = 0; q < s->n_seq; q++)
        aj.total_cost += ((long long)s->seq_len[q] * s->seq_len[q] + 64) * c->n_heads;
    threadpool_run_n(s->pool, attention_region, &aj,
                     threads_for(s, 4.0 * (double)aj.total_cost * (H / c->n_heads),
                                 PARALLEL_MIN_FLOPS));

    /* x1 = LayerNorm(ctx Wo^T + bo + x) */
    run_linear(s, L->wo, LQ ? &LQ->o : NULL, L->bo, s->C, ld, s->A, ld, s->X, H, H, T,
               KERN_ACT_NONE);
    run_layernorm(s, s->A, H, T, L->ln1_g, L->ln1_b);

    /* x2 = LayerNorm(act(x1 Wi^T + bi) W2^T + b2 + x1), FFN_CHUNK columns
     * at a time. */
    int fused = c->act == BERT_ACT_GELU;
    for (int c0 = 0; c0 < T; c0 += FFN_CHUNK) {
        int cols = T - c0 < FFN_CHUNK ? T - c0 : FFN_CHUNK;
        run_linear(s, L->wi, LQ ? &LQ->i : NULL, L->bi, s->A + c0, ld, s->F, s->f_ld, NULL, Fd,
                   H, cols, fused ? KERN_ACT_GELU_ERF : KERN_ACT_NONE);
        if (!fused) {
            act_job aj2 = {.Y = s->F, .ld = s->f_ld, .N = Fd, .T = cols, .act = c->act};
            threadpool_run_n(s->pool, act_region, &aj2,
                             threads_for(s, (double)Fd * cols, PARALLEL_MIN_ELEMS));
        }
        linear_job j2 = {.ops = s->ops, .n_mats = 1, .X = s->F, .ldx = s->f_ld, .K = Fd,
                         .T = cols, .act = KERN_ACT_NONE, .scratch = s->lin_scratch,
                         .qfn = qfn_of(s)};
        j2.m[0].W = L->w2;
        j2.m[0].Q = LQ ? &LQ->out : NULL;
        j2.m[0].b = L->b2;
        j2.m[0].Y = s->X + c0;
        j2.m[0].R = s->A + c0;
        j2.m[0].ldy = ld;
        j2.m[0].ldr = ld;
        j2.m[0].N = H;
        threadpool_run_n(s->pool, linear_region, &j2,
                         threads_for(s, 2.0 * H * Fd * cols, PARALLEL_MIN_FLOPS));
    }
    run_layernorm(s, s->X, H, T, L->ln2_g, L->ln2_b);
}

/* ==== One thread per share of the sequences ============================== */

/* The steps of one layer for a run of sequences on one thread. Each works
 * on its own columns with the same kernels as run_layer, so the same bits. */

/* q, k, v for columns [t0, t1). */
static void qkv_cols(encoder_state *s, const bert_layer *L, const bert_layer_q *LQ, float *lscr,
                     int t0, int t1) {
    int H = s->model->cfg.bert.hidden_size;
    size_t ld = s->ld;
    kern_linear_q_fn qfn = qfn_of(s);
    if (LQ) {
        linear_part(s->ops, qfn, NULL, &LQ->qkv, LQ->bqkv, s->X, ld, s->QKV, ld, NULL, 0, H, 0,
                    3 * H, t0, t1, KERN_ACT_NONE, lscr);
        return;
    }
    const float *Ws[3] = {L->wq, L->wk, L->wv}, *bs[3] = {L->bq, L->bk, L->bv};
    for (int i = 0; i < 3; i++)
        linear_part(s->ops, qfn, Ws[i], NULL, bs[i], s->X, ld, s->QKV + (size_t)i * H * ld, ld,
                    NULL, 0, H, 0, H, t0, t1, KERN_ACT_NONE, lscr);
}

/* x1 = LayerNorm(ctx Wo^T + bo + x) for columns [t0, t1). */
static void out_cols(encoder_state *s, const bert_layer *L, const bert_layer_q *LQ, float *lscr,
                     int t0, int t1) {
    const bert_config *c = &s->model->cfg.bert;
    int H = c->hidden_size;
    size_t ld = s->ld;
    linear_part(s->ops, qfn_of(s), L->wo, LQ ? &LQ->o : NULL, L->bo, s->C, ld, s->A, ld, s->X, ld,
                H, 0, H, t0, t1, KERN_ACT_NONE, lscr);
    s->ops->layernorm(s->A, ld, s->A, ld, H, t0, t1, L->ln1_g, L->ln1_b, c->layer_norm_eps);
}

/* x2 = LayerNorm(act(x1 Wi^T + bi) W2^T + b2 + x1) for columns [t0, t1),
 * FFN_CHUNK_THREAD at a time through thread ith's own columns of F. */
static void ffn_cols(encoder_state *s, const bert_layer *L, const bert_layer_q *LQ, int ith,
                     float *lscr, int t0, int t1) {
    const bert_config *c = &s->model->cfg.bert;
    int H = c->hidden_size, Fd = c->intermediate_size;
    size_t ld = s->ld;
    kern_linear_q_fn qfn = qfn_of(s);
    int fused = c->act == BERT_ACT_GELU;
    float *F = s->F + (size_t)ith * FFN_CHUNK_THREAD;
    for (int c0 = t0; c0 < t1; c0 += FFN_CHUNK_THREAD) {
        int cols = t1 - c0 < FFN_CHUNK_THREAD ? t1 - c0 : FFN_CHUNK_THREAD;
        linear_part(s->ops, qfn, L->wi, LQ ? &LQ->i : NULL, L->bi, s->A + c0, ld, F, s->f_ld, NULL,
                    0, H, 0, Fd, 0, cols, fused ? KERN_ACT_GELU_ERF : KERN_ACT_NONE, lscr);
        if (!fused)
            act_cols(F, s->f_ld, Fd, 0, cols, c->act);
        linear_part(s->ops, qfn, L->w2, LQ ? &LQ->out : NULL, L->b2, F, s->f_ld, s->X + c0, ld,
                    s->A + c0, ld, Fd, 0, H, 0, cols, KERN_ACT_NONE, lscr);
    }
    s->ops->layernorm(s->X, ld, s->X, ld, H, t0, t1, L->ln2_g, L->ln2_b, c->layer_norm_eps);
}

/* The first column of sequence q, or n_tok for q == n_seq. */
static int seq_col(const encoder_state *s, int q) {
    return q < s->n_seq ? s->seq_start[q] : s->n_tok;
}

static int task_done(const encoder_state *s, const seq_task *t) {
    return t->layer >= s->model->cfg.bert.n_layers || t->q0 >= t->q1;
}

/* Moves t to the step after (layer, step), with none of its sequences
 * through that step yet. */
static void task_next_step(seq_task *t) {
    if (t->step == STEP_FFN) {
        t->layer++;
        t->step = STEP_QKV;
    } else {
        t->step++;
    }
    t->qc = t->q0;
}

/* Runs t's current step on its next sequences on thread ith: whole
 * sequences up to STEP_COLS tokens (or one longer sequence), so that work
 * can change hands between any two of them. */
static void task_step(encoder_state *s, const encoder_batch *batch, seq_task *t, int ith) {
    const sembed_model *m = s->model;
    const bert_config *c = &m->cfg.bert;
    const bert_layer *L = &m->w.layers[t->layer];
    const bert_layer_q *LQ = m->w.qlayers ? &m->w.qlayers[t->layer] : NULL;
    float *lscr = s->lin_scratch + (size_t)ith * kern_linear_scratch();
    int qe = t->qc, toks = 0;
    while (qe < t->q1 && (qe == t->qc || toks + s->seq_len[qe] <= STEP_COLS))
        toks += s->seq_len[qe++];
    int t0 = seq_col(s, t->qc), t1 = seq_col(s, qe);
    switch (t->step) {
    case STEP_EMBED:
        embed_cols(s, batch, t0, t1);
        break;
    case STEP_QKV:
        qkv_cols(s, L, LQ, lscr, t0, t1);
        break;
    case STEP_ATTN: {
        kern_attention_fn fn = attention_fn_of(s);
        float *ascr = s->scratch + (size_t)ith * s->scratch_per_thread;
        for (int q = t->qc; q < qe; q++)
            for (int h = 0; h < c->n_heads; h++)
                attend(s, fn, q, h, ascr);
        break;
    }
    case STEP_OUT:
        out_cols(s, L, LQ, lscr, t0, t1);
        break;
    case STEP_FFN:
        ffn_cols(s, L, LQ, ith, lscr, t0, t1);
        /* After the last layer, finished sequences leave the run. */
        if (t->layer == c->n_layers - 1)
            t->q0 = qe;
        break;
    }
    t->qc = qe;
    if (qe == t->q1)
        task_next_step(t);
}

/* Splits t at the sequence boundary nearest the middle of its tokens into
 * the part it keeps and *give. Returns 0 when either part would hold fewer
 * than HANDOFF_COLS_MIN tokens. */
static int task_split(const encoder_state *s, seq_task *t, seq_task *give) {
    int a = seq_col(s, t->q0), b = seq_col(s, t->q1);
    if (t->q1 - t->q0 < 2 || b - a < 2 * HANDOFF_COLS_MIN)
        return 0;
    int mid = a + (b - a) / 2, qm = t->q0 + 1;
    while (qm < t->q1 - 1 && seq_col(s, qm + 1) <= mid)
        qm++;
    if (qm < t->q1 - 1 && mid - seq_col(s, qm) > seq_col(s, qm + 1) - mid)
        qm++;
    if (seq_col(s, qm) - a < HANDOFF_COLS_MIN || b - seq_col(s, qm) < HANDOFF_COLS_MIN)
        return 0;
    *give = *t;
    if (qm >= t->qc) {
        /* The later part, at t's step. */
        give->q0 = give->qc = qm;
        t->q1 = qm;
    } else {
        /* The cut falls among the sequences already through this step:
         * give the earlier part, which starts the next step. */
        give->q1 = qm;
        task_next_step(give);
        t->q0 = qm;
    }
    return 1;
}

/* Updates the lock-free copy of "threads waiting with no task posted for
 * them" (under mu). */
static void set_hungry(encoder_state *s) {
    atomic_store_explicit(&s->hungry, s->idle - s->n_posted, memory_order_relaxed);
}

/* Hands half of t to a thread that has run out of work, if one waits (or,
 * under encoder_state_set_handoff, every `handoff_every` step boundaries
 * whether or not one waits, while the queue has room). */
static void task_share(encoder_state *s, seq_task *t, int forced) {
    seq_task keep = *t, give;
    if (!task_split(s, &keep, &give))
        return;
    pthread_mutex_lock(&s->mu);
    if (s->n_posted < s->posted_cap && (forced || s->idle > s->n_posted)) {
        *t = keep;
        s->posted[s->n_posted++] = give;
        s->active++;
        /* The earlier part is the one that starts below the kept one. */
        s->handoffs[give.q0 < keep.q0]++;
        set_hungry(s);
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Called when a thread's task is done: takes a posted task, waiting for
 * one while other tasks run. Returns 0 when every task of the batch is
 * done. A task posted counts as active until it is done, so active == 0
 * means none is running or waiting to be taken. */
static int task_take(encoder_state *s, seq_task *t) {
    int got = 0;
    pthread_mutex_lock(&s->mu);
    s->active--;
    for (;;) {
        if (s->n_posted > 0) {
            *t = s->posted[--s->n_posted];
            got = 1;
            break;
        }
        if (s->active == 0) {
            pthread_cond_broadcast(&s->cv);
            break;
        }
        s->idle++;
        set_hungry(s);
        pthread_cond_wait(&s->cv, &s->mu);
        s->idle--;
    }
    set_hungry(s);
    pthread_mutex_unlock(&s->mu);
    return got;
}

/* Deals the batch's sequences out to nth threads as contiguous runs of
 * about equal token counts, into s->part. Returns 0 when some thread would
 * get fewer than SPLIT_COLS_MIN tokens or more than its share plus
 * 1/SEQ_SPLIT_SLACK: then the layers run one product at a time across
 * all threads instead. */
static int split_sequences(encoder_state *s, int nth) {
    if (nth < 2 || s->n_seq < nth || s->n_tok < SPLIT_COLS_MIN * nth)
        return 0;
    s->part[0] = 0;
    int q = 0;
    for (int i = 1; i < nth; i++) {
        long long target = (long long)s->n_tok * i / nth;
        /* The sequence boundary nearest the target, leaving at least one
         * sequence to each later thread. */
        while (q < s->n_seq - (nth - i) && s->seq_start[q] + s->seq_len[q] <= target)
            q++;
        if (q < s->n_seq - (nth - i) &&
            target - s->seq_start[q] > s->seq_start[q] + s->seq_len[q] - target)
            q++;
        if (q <= s->part[i - 1])
            q = s->part[i - 1] + 1;
        s->part[i] = q;
    }
    s->part[nth] = s->n_seq;
    long long limit =
        (long long)s->n_tok * (SEQ_SPLIT_SLACK + 1) / ((long long)SEQ_SPLIT_SLACK * nth);
    for (int i = 0; i < nth; i++) {
        int toks = seq_col(s, s->part[i + 1]) - seq_col(s, s->part[i]);
        if (toks < SPLIT_COLS_MIN || toks > limit)
            return 0;
    }
    return 1;
}

typedef struct seq_job {
    encoder_state *s;
    const encoder_batch *batch;
} seq_job;

static void sequence_region(void *arg, int ith, int nth) {
    (void)nth;
    seq_job *j = arg;
    encoder_state *s = j->s;
    seq_task t = {.q0 = s->part[ith], .q1 = s->part[ith + 1], .qc = s->part[ith], .layer = 0,
                  .step = STEP_EMBED};
    unsigned steps = 0;
    do {
        while (!task_done(s, &t)) {
            task_step(s, j->batch, &t, ith);
            if (task_done(s, &t))
                break;
            int forced = s->handoff_every > 0 && ++steps % (unsigned)s->handoff_every == 0;
            if (forced || atomic_load_explicit(&s->hungry, memory_order_relaxed) > 0)
                task_share(s, &t, forced);
        }
    } while (task_take(s, &t));
}

/* Runs embeddings and layers with each thread taking a share of the
 * sequences through the whole encoder, when the batch splits evenly
 * (split_sequences). A thread then meets the others once per batch
 * instead of at each of the ~40 products, layer norms and attention
 * passes, and never waits on a slower one mid-layer. On 2 Zen 3 cores,
 * old and new alternated, the medians moved by +1 to +12 % on (b) 32 x 16
 * tokens, -2 to +7 % on (c) 32 x 128, +10 % on (d) 8 x 256 and +9 % on
 * (f) mixed lengths.
 *
 * The two cores of a shared machine do not run at the same speed: equal
 * shares left one thread idle for 6-14 % of the batch time (traced on (b),
 * (c) and (d)). A thread that finishes early therefore takes half of the
 * sequences of one still working, at that one's next step boundary
 * (task_share / task_take). Returns 0 when the batch does not split. */
static int run_by_sequence(encoder_state *s, const encoder_batch *batch) {
    int nth = threadpool_size(s->pool);
    if (nth == 1 && s->handoff_every > 0) {
        s->part[0] = 0;
        s->part[1] = s->n_seq;
    } else if (!split_sequences(s, nth)) {
        return 0;
    }
    s->active = nth;
    s->idle = 0;
    s->n_posted = 0;
    set_hungry(s);
    seq_job j = {.s = s, .batch = batch};
    threadpool_run(s->pool, sequence_region, &j);
    return 1;
}

/* Dense modules over pooled vectors P [n][in] (token-major rows), in place
 * through a small feature-major scratch. */
static sembed_status run_dense(const sembed_model *m, float *rows, size_t row_ld, int n,
                               sembed_error *err) {
    int in = m->pooled_dim;
    for (int d = 0; d < m->cfg.n_dense; d++) {
        const dense_config *dc = &m->cfg.dense[d];
        float *y = malloc((size_t)dc->out_features * sizeof *y);
        if (!y)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        for (int r = 0; r < n; r++) {
            float *x = rows + (size_t)r * row_ld;
            for (int o = 0; o < dc->out_features; o++) {
                const float *w = m->dense[d].w + (size_t)o * dc->in_features;
                double acc = m->dense[d].b ? m->dense[d].b[o] : 0.0;
                for (int k = 0; k < in; k++)
                    acc += (double)w[k] * x[k];
                y[o] = act_apply(dc->act, (float)acc);
            }
            memcpy(x, y, (size_t)dc->out_features * sizeof *y);
        }
        free(y);
        in = dc->out_features;
    }
    return SEMBED_OK;
}

sembed_status encoder_forward(encoder_state *s, const encoder_batch *batch, float *out,
                              size_t out_ld, float *tokens_out, sembed_error *err) {
    const sembed_model *m = s->model;
    const bert_config *c = &m->cfg.bert;
    int H = c->hidden_size;
    if (batch->n <= 0)
        return SEMBED_OK;
    int n_tok = 0, max_len = 0;
    for (int i = 0; i < batch->n; i++) {
        if (batch->len[i] <= 0 || batch->len[i] > c->max_position_embeddings)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sequence %d has %d tokens", i,
                             batch->len[i]);
        n_tok += batch->len[i];
        if (batch->len[i] > max_len)
            max_len = batch->len[i];
    }
    sembed_status st = ensure_capacity(s, n_tok, batch->n, max_len, err);
    if (st != SEMBED_OK)
        return st;
    s->n_seq = batch->n;
    s->n_tok = n_tok;
    for (int i = 0, col = 0; i < batch->n; i++) {
        s->seq_start[i] = col;
        s->seq_len[i] = batch->len[i];
        col += batch->len[i];
    }
    if (!run_by_sequence(s, batch)) {
        embed_job ej = {.s = s, .batch = batch};
        threadpool_run_n(s->pool, embed_region, &ej,
                         threads_for(s, (double)n_tok * H, PARALLEL_MIN_ELEMS));
        for (int l = 0; l < c->n_layers; l++)
            run_layer(s, &m->w.layers[l], m->w.qlayers ? &m->w.qlayers[l] : NULL);
    }
    if (tokens_out) {
        for (int t = 0; t < batch->len[0]; t++)
            for (int n = 0; n < H; n++)
                tokens_out[(size_t)t * H + n] = s->X[(size_t)n * s->ld + t];
        return SEMBED_OK;
    }
    for (int i = 0; i < batch->n; i++)
        pooling_apply_fm(m, s->X + s->seq_start[i], s->ld, s->seq_len[i], out + (size_t)i * out_ld);
    return run_dense(m, out, out_ld, batch->n, err);
}

/* ==== Reference path ====================================================== */

/* y[t][n] = sum_k x[t][k] W[n][k] + b[n], accumulated in double. */
static void ref_linear(const float *x, int T, int K, const float *W, const float *b, int N,
                       float *y) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double acc = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++)
                acc += (double)x[(size_t)t * K + k] * W[(size_t)n * K + k];
            y[(size_t)t * N + n] = (float)acc;
        }
}

static void ref_layernorm(float *x, int T, int N, const float *g, const float *b, double eps) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * N;
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++)
            mean += r[n];
        mean /= N;
        for (int n = 0; n < N; n++)
            var += (r[n] - mean) * (r[n] - mean);
        var /= N;
        double rstd = 1.0 / sqrt(var + eps);
        for (int n = 0; n < N; n++)
            r[n] = (float)((r[n] - mean) * rstd * g[n] + b[n]);
    }
}

sembed_status encoder_forward_reference(const sembed_model *m, const int32_t *ids, int L,
                                        float *out, float *tokens_out, sembed_error *err) {
    const bert_config *c = &m->cfg.bert;
    int H = c->hidden_size, Fd = c->intermediate_size, heads = c->n_heads, D = H / heads;
    if (L <= 0 || L > c->max_position_embeddings)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sequence has %d tokens", L);
    size_t LH = (size_t)L * H;
    float *x = malloc(LH * sizeof *x), *q = malloc(LH * sizeof *q), *k = malloc(LH * sizeof *k),
          *v = malloc(LH * sizeof *v), *ctx = malloc(LH * sizeof *ctx),
          *a = malloc(LH * sizeof *a), *h = malloc((size_t)L * Fd * sizeof *h),
          *p = malloc((size_t)L * sizeof *p);
    sembed_status st = SEMBED_OK;
    if (!x || !q || !k || !v || !ctx || !a || !h || !p) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    /* Embeddings: (word + token_type) + position, then LayerNorm. */
    for (int t = 0; t < L; t++)
        for (int n = 0; n < H; n++)
            x[(size_t)t * H + n] = (m->w.word[(size_t)ids[t] * H + n] + m->w.type[n]) +
                                   m->w.pos[(size_t)t * H + n];
    ref_layernorm(x, L, H, m->w.ln_g, m->w.ln_b, c->layer_norm_eps);
    for (int l = 0; l < c->n_layers; l++) {
        const bert_layer *W = &m->w.layers[l];
        ref_linear(x, L, H, W->wq, W->bq, H, q);
        ref_linear(x, L, H, W->wk, W->bk, H, k);
        ref_linear(x, L, H, W->wv, W->bv, H, v);
        double scale = 1.0 / sqrt((double)D);
        for (int hd = 0; hd < heads; hd++)
            for (int i = 0; i < L; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < L; j++) {
                    double dot = 0;
                    for (int d = 0; d < D; d++)
                        dot += (double)q[(size_t)i * H + hd * D + d] * k[(size_t)j * H + hd * D + d];
                    p[j] = (float)(dot * scale);
                    if (p[j] > mx)
                        mx = p[j];
                }
                for (int j = 0; j < L; j++)
                    sum += p[j] = (float)exp(p[j] - mx);
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int j = 0; j < L; j++)
                        acc += p[j] / sum * v[(size_t)j * H + hd * D + d];
                    ctx[(size_t)i * H + hd * D + d] = (float)acc;
                }
            }
        ref_linear(ctx, L, H, W->wo, W->bo, H, a);
        for (size_t i = 0; i < LH; i++)
            a[i] += x[i];
        ref_layernorm(a, L, H, W->ln1_g, W->ln1_b, c->layer_norm_eps);
        ref_linear(a, L, H, W->wi, W->bi, Fd, h);
        for (size_t i = 0; i < (size_t)L * Fd; i++)
            h[i] = act_apply(c->act, h[i]);
        ref_linear(h, L, Fd, W->w2, W->b2, H, x);
        for (size_t i = 0; i < LH; i++)
            x[i] += a[i];
        ref_layernorm(x, L, H, W->ln2_g, W->ln2_b, c->layer_norm_eps);
    }
    if (tokens_out) {
        memcpy(tokens_out, x, LH * sizeof *x);
        goto done;
    }
    pooling_apply_tm(m, x, L, out);
    st = run_dense(m, out, (size_t)m->dim > (size_t)m->pooled_dim ? (size_t)m->dim
                                                                 : (size_t)m->pooled_dim,
                   1, err);
done:
    free(x);
    free(q);
    free(k);
    free(v);
    free(ctx);
    free(a);
    free(h);
    free(p);
    return st;
}
