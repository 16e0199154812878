/*
 * model.h - the loaded model (configuration, weights, tokenizer) and the
 * encoder entry points. Configuration, weights and run state are kept
 * apart, as in llama2.c: st_config holds numbers from the JSON files,
 * bert_weights holds pointers into the memory-mapped safetensors file,
 * and encoder_state (per context) holds the activation arena.
 *
 * Row-major throughout; a weight W[out][in] is PyTorch's Linear layout.
 */
#ifndef SEMBED_MODEL_H
#define SEMBED_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/threadpool.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "sembed.h"

typedef struct bert_layer {
    const float *wq, *bq;        /* attention.self.query   [H][H], [H] */
    const float *wk, *bk;        /* attention.self.key     [H][H], [H] */
    const float *wv, *bv;        /* attention.self.value   [H][H], [H] */
    const float *wo, *bo;        /* attention.output.dense [H][H], [H] */
    const float *ln1_g, *ln1_b;  /* attention.output.LayerNorm [H] */
    const float *wi, *bi;        /* intermediate.dense     [F][H], [F] */
    const float *w2, *b2;        /* output.dense           [H][F], [H] */
    const float *ln2_g, *ln2_b;  /* output.LayerNorm       [H] */
} bert_layer;

/* The products of a layer in reduced precision (dtype bf16 / int8). The
 * query, key and value weights are stacked into one [3H][H] matrix (with
 * its [3H] bias), so that the activations are converted once for all three:
 * the quantization is per output row, so each row is what it would be on
 * its own. */
typedef struct bert_layer_q {
    kern_qmat qkv, o, i, out;
    float *bqkv;
} bert_layer_q;

typedef struct bert_weights {
    const float *word;           /* embeddings.word_embeddings       [V][H] */
    const float *pos;            /* embeddings.position_embeddings   [P][H] */
    const float *type;           /* embeddings.token_type_embeddings [TV][H] */
    const float *ln_g, *ln_b;    /* embeddings.LayerNorm             [H] */
    bert_layer *layers;          /* [n_layers] */
    bert_layer_q *qlayers;       /* [n_layers] when dtype is bf16 / int8 */
} bert_weights;

typedef struct dense_weights {
    const float *w;              /* linear.weight [out][in] */
    const float *b;              /* linear.bias [out], or NULL */
} dense_weights;

struct sembed_model {
    char path[4096];
    sembed_model_params params;
    st_config cfg;
    safetensors_file st;                      /* the Transformer's weights */
    safetensors_file dense_st[CONFIG_MAX_DENSE];
    bert_weights w;
    dense_weights dense[CONFIG_MAX_DENSE];
    void **owned;                             /* converted (non-F32) tensors */
    size_t n_owned;
    void *copy_map;                           /* copy_weights: the mapping, */
    size_t copy_map_size;                     /* NULL when not copied */
    sembed_tokenizer *tok;
    const kern_ops *ops;                      /* NULL: the reference path */
    kern_ops ops_storage;                     /* what ops points to */
    int pooled_dim;                           /* hidden_size x pooling modes */
    int dim;                                  /* after the Dense modules */
    char pooling_name[96];
};

/* ---- weights.c ---- */

/* Binds every tensor of the Transformer (and Dense modules) to
 * model->w / model->dense, checking each shape against config.json and
 * converting F16/BF16 to F32. */
sembed_status weights_bind(sembed_model *model, sembed_error *err);
/* For dtype bf16 / int8: prepares the six products of every layer. */
sembed_status weights_quantize(sembed_model *model, sembed_error *err);
/* For copy_weights with dtype fp32: moves the six matrices of every layer
 * into one private mapping that asks for huge pages. */
sembed_status weights_copy(sembed_model *model, sembed_error *err);
void weights_release(sembed_model *model);

/* ---- quant.c ---- */

/* Prepares W [N][K] for the bf16 or int8 products; -1 when out of memory. */
int quant_init(kern_qmat *q, const float *W, int N, int K, sembed_dtype dtype);
void quant_free(kern_qmat *q);

/* ---- encoder.c ---- */

typedef struct encoder_state encoder_state;

encoder_state *encoder_state_new(const sembed_model *model, int max_tokens, int n_threads);
void encoder_state_free(encoder_state *s);
int encoder_state_threads(const encoder_state *s);

/* For tests of the per-sequence path (run_by_sequence): with every > 0, a
 * thread hands half of its sequences over at every `every`-th step
 * boundary whether or not another thread waits, and one thread runs that
 * path too; 0 restores the normal rule. Resets the handoff counts, which
 * encoder_state_handoffs reads: handoffs of the later part of a run (at
 * the giver's step) and of the earlier part (a step ahead). */
void encoder_state_set_handoff(encoder_state *s, int every);
void encoder_state_handoffs(const encoder_state *s, long *later, long *earlier);

/* A batch of sequences, already tokenized (special tokens included), each
 * at most max_seq_length long, totalling at most the state's max_tokens. */
typedef struct encoder_batch {
    int n;                       /* sequences */
    const int32_t *const *ids;   /* ids[i][0 .. len[i]) */
    const int *len;
} encoder_batch;

/* Runs the encoder, pooling and Dense modules. out receives n rows of
 * model->dim floats (row stride out_ld), before normalization. When
 * tokens_out is not NULL (n must be 1), it receives the last hidden state,
 * len[0] x hidden_size, and pooling is skipped. */
sembed_status encoder_forward(encoder_state *s, const encoder_batch *batch, float *out,
                              size_t out_ld, float *tokens_out, sembed_error *err);

/* The plain reference forward pass for one sequence (token-major loops,
 * libm functions); the fast path is tested against it. */
sembed_status encoder_forward_reference(const sembed_model *model, const int32_t *ids, int len,
                                        float *out, float *tokens_out, sembed_error *err);

/* ---- pooling.c ---- */

/* Pools one sequence's token states: T is [H][ld] feature-major (column
 * j = token j, len columns). Writes model->pooled_dim floats. */
void pooling_apply_fm(const sembed_model *model, const float *T, size_t ld, int len, float *out);

/* The same for token-major states X[len][H] (the reference path). */
void pooling_apply_tm(const sembed_model *model, const float *X, int len, float *out);

/* x / max(||x||, 1e-12), in double for the norm as torch does in float
 * accumulations of at most 1 ulp difference. */
void pooling_normalize(float *x, int n);

/* Activation by config name, one element (reference and Dense paths). */
float act_apply(bert_act act, float x);

#endif /* SEMBED_MODEL_H */
