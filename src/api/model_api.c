/*
 * model_api.c - loading a model folder: configuration, weights (mapped),
 * tokenizer, kernel choice, and the consistency checks between them that
 * must fail at load rather than during a forward pass.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

sembed_model_params sembed_model_default_params(void) {
    sembed_model_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SEMBED_DTYPE_FP32;
    p.kernel = SEMBED_KERNEL_AUTO;
    p.max_seq_length = 0;
    return p;
}

static const char *const pool_names[] = {"cls", "max", "mean", "mean_sqrt_len_tokens",
                                         "weightedmean", "lasttoken"};

static const char *dtype_name(sembed_dtype d) {
    return d == SEMBED_DTYPE_BF16 ? "bf16" : (d == SEMBED_DTYPE_INT8 ? "int8" : "fp32");
}

/* Chooses the kernel set and, for bf16 / int8, checks that it has the
 * product (AUTO needs AVX512_BF16 / AVX512_VNNI; SCALAR runs the portable
 * twins, slowly, anywhere). */
static sembed_status pick_kernels(sembed_model *m, sembed_error *err) {
    const kern_ops *base = NULL;
    sembed_dtype dt = m->params.dtype;
    switch (m->params.kernel) {
    case SEMBED_KERNEL_AUTO:
        base = kern_ops_best();
        if (base == &kern_ops_avx512)
            base = &kern_ops_avx512_lowp;
        break;
    case SEMBED_KERNEL_REFERENCE:
        if (dt != SEMBED_DTYPE_FP32)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "the reference path is fp32 only (asked for %s)", dtype_name(dt));
        m->ops = NULL;
        return SEMBED_OK;
    case SEMBED_KERNEL_SCALAR:
        base = &kern_ops_scalar;
        break;
    case SEMBED_KERNEL_AVX2:
        if (!kern_cpu_has_avx2())
            return set_error(err, SEMBED_ERR_CPU, "this CPU lacks AVX2/FMA for --kernel avx2");
        base = &kern_ops_avx2;
        break;
    case SEMBED_KERNEL_AVX512:
        if (!kern_cpu_has_avx512())
            return set_error(err, SEMBED_ERR_CPU, "this CPU lacks AVX-512 for --kernel avx512");
        base = &kern_ops_avx512_lowp;
        break;
    default:
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "unknown kernel choice %d",
                         (int)m->params.kernel);
    }
    m->ops_storage = *base;
    /* AUTO on a CPU without AVX-512 lands on the AVX2 or the scalar set;
     * the scalar one carries the bf16 / int8 twins, but running them by
     * default would be a silent hundredfold slowdown, so AUTO refuses there
     * as it does on AVX2 (--kernel scalar still runs them). */
    if (m->params.kernel == SEMBED_KERNEL_AUTO && base != &kern_ops_avx512_lowp) {
        m->ops_storage.linear_bf16 = NULL;
        m->ops_storage.attention_bf16 = NULL;
        m->ops_storage.linear_int8 = NULL;
    }
    if (base == &kern_ops_avx512_lowp) {
        if (!kern_cpu_has_avx512_bf16()) {
            m->ops_storage.linear_bf16 = NULL;
            m->ops_storage.attention_bf16 = NULL;
        }
        if (!kern_cpu_has_avx512_vnni())
            m->ops_storage.linear_int8 = NULL;
    }
    if (dt == SEMBED_DTYPE_BF16 && !m->ops_storage.linear_bf16)
        return set_error(err, SEMBED_ERR_CPU,
                         "--dtype bf16 needs AVX512_BF16, which this CPU lacks (use fp32)");
    if (dt == SEMBED_DTYPE_INT8 && !m->ops_storage.linear_int8)
        return set_error(err, SEMBED_ERR_CPU,
                         "--dtype int8 needs AVX512_VNNI, which this CPU lacks (use fp32)");
    m->ops = &m->ops_storage;
    return SEMBED_OK;
}

/* Checks that the pieces of the folder fit together. */
static sembed_status check_model(sembed_model *m, sembed_error *err) {
    const bert_config *c = &m->cfg.bert;
    int n_modes = __builtin_popcount(m->cfg.pooling);
    if (n_modes == 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: no pooling mode", m->path);
    if (m->cfg.pooling_dim && m->cfg.pooling_dim != c->hidden_size)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "%s: the Pooling module's dimension %d differs from hidden_size %d",
                         m->path, m->cfg.pooling_dim, c->hidden_size);
    m->pooled_dim = c->hidden_size * n_modes;
    int dim = m->pooled_dim;
    for (int i = 0; i < m->cfg.n_dense; i++) {
        if (m->cfg.dense[i].in_features != dim)
            return set_error(err, SEMBED_ERR_MISMATCH,
                             "%s/%s: in_features %d, but the previous module gives %d", m->path,
                             m->cfg.dense[i].path, m->cfg.dense[i].in_features, dim);
        dim = m->cfg.dense[i].out_features;
    }
    m->dim = dim;
    m->pooling_name[0] = 0;
    for (int b = 0; b < 6; b++)
        if (m->cfg.pooling & (1u << b)) {
            size_t used = strlen(m->pooling_name);
            snprintf(m->pooling_name + used, sizeof m->pooling_name - used, "%s%s",
                     used ? "+" : "", pool_names[b]);
        }
    int max_len = m->params.max_seq_length > 0 ? m->params.max_seq_length : m->cfg.max_seq_length;
    if (max_len < 2)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: max_seq_length %d leaves no room for [CLS] and [SEP]", m->path,
                         max_len);
    if (max_len > c->max_position_embeddings)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: max_seq_length %d exceeds max_position_embeddings %d", m->path,
                         max_len, c->max_position_embeddings);
    m->cfg.max_seq_length = max_len;
    int32_t max_id = tokenizer_max_id(m->tok);
    if (max_id >= c->vocab_size)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "%s: the tokenizer can emit id %d but the embedding table has %d rows",
                         m->path, (int)max_id, c->vocab_size);
    return SEMBED_OK;
}

sembed_status sembed_model_load(const char *dir, const sembed_model_params *params,
                                sembed_model **out, sembed_error *err) {
    clear_error(err);
    if (!dir || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_model_load: NULL argument");
    *out = NULL;
    if (!dir_exists(dir))
        return set_error(err, SEMBED_ERR_NOT_FOUND, "%s: no such model folder", dir);
    sembed_model *m = calloc(1, sizeof *m);
    if (!m)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    m->params = params ? *params : sembed_model_default_params();
    sembed_status st;
    if (snprintf(m->path, sizeof m->path, "%s", dir) >= (int)sizeof m->path) {
        st = set_error(err, SEMBED_ERR_LIMIT, "model path too long");
        goto fail;
    }
    if (m->params.dtype != SEMBED_DTYPE_FP32 && m->params.dtype != SEMBED_DTYPE_BF16 &&
        m->params.dtype != SEMBED_DTYPE_INT8) {
        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "unknown dtype %d", (int)m->params.dtype);
        goto fail;
    }
    if ((st = pick_kernels(m, err)) != SEMBED_OK)
        goto fail;
    if ((st = config_load_dir(dir, &m->cfg, err)) != SEMBED_OK)
        goto fail;
    char tdir[4096], file[4096];
    if ((st = path_join(tdir, sizeof tdir, dir, m->cfg.transformer_path, err)) != SEMBED_OK)
        goto fail;
    if (m->cfg.weights == CONFIG_WEIGHTS_PYTORCH_BIN) {
        st = set_error(err, SEMBED_ERR_UNSUPPORTED,
                       "%s holds only pytorch_model.bin; sembed reads model.safetensors "
                       "(convert it with safetensors' convert script)",
                       tdir);
        goto fail;
    }
    if ((st = path_join(file, sizeof file, tdir, "model.safetensors", err)) != SEMBED_OK)
        goto fail;
    if ((st = safetensors_open(file, &m->st, err)) != SEMBED_OK)
        goto fail;
    if ((st = weights_bind(m, err)) != SEMBED_OK)
        goto fail;
    if ((st = weights_quantize(m, err)) != SEMBED_OK)
        goto fail;
    if ((st = weights_copy(m, err)) != SEMBED_OK)
        goto fail;
    if ((st = tokenizer_load(tdir, &m->tok, err)) != SEMBED_OK)
        goto fail;
    if ((st = check_model(m, err)) != SEMBED_OK)
        goto fail;
    tokenizer_set_max_length(m->tok, m->cfg.max_seq_length);
    if (m->cfg.do_lower_case)
        tokenizer_set_force_lowercase(m->tok, 1);
    *out = m;
    return SEMBED_OK;
fail:
    sembed_model_free(m);
    return st;
}

void sembed_model_free(sembed_model *m) {
    if (!m)
        return;
    tokenizer_free(m->tok);
    weights_release(m);
    free(m);
}

int sembed_model_dim(const sembed_model *m) { return m ? m->dim : 0; }

const sembed_tokenizer *sembed_model_tokenizer(const sembed_model *m) { return m ? m->tok : NULL; }

void sembed_model_get_info(const sembed_model *m, sembed_model_info *info) {
    memset(info, 0, sizeof *info);
    if (!m)
        return;
    const bert_config *c = &m->cfg.bert;
    info->path = m->path;
    info->dim = m->dim;
    info->hidden_size = c->hidden_size;
    info->n_layers = c->n_layers;
    info->n_heads = c->n_heads;
    info->intermediate_size = c->intermediate_size;
    info->vocab_size = c->vocab_size;
    info->max_position_embeddings = c->max_position_embeddings;
    info->max_seq_length = m->cfg.max_seq_length;
    info->pooling = m->cfg.pooling;
    snprintf(info->pooling_name, sizeof info->pooling_name, "%s", m->pooling_name);
    info->normalize = m->cfg.normalize;
    info->n_dense = m->cfg.n_dense;
    info->hidden_act = c->hidden_act;
    info->dtype = m->params.dtype;
    info->kernel = m->ops ? m->ops->name : "reference";
    info->weights_copied = m->copy_map != NULL;
}

sembed_status sembed_model_weights_sha256(const sembed_model *m, char out[65], sembed_error *err) {
    if (!m || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "NULL argument");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(m->st.map, m->st.map_size, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return set_error(err, SEMBED_ERR_INTERNAL, "SHA-256 of %s failed", m->st.path);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return SEMBED_OK;
}
