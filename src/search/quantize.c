/*
 * quantize.c - sentence_transformers.quantization.quantize_embeddings, bit
 * for bit, and search over quantized corpora with float32 rescoring.
 *
 * int8/uint8 follow sentence-transformers 6 (its "clip out-of-range
 * values" change): starts = min, steps = (max - min) / 255 with a zero step
 * replaced by 1, bucket = clip(floor((x - starts) / steps), 0, 255) in
 * float32 arithmetic; uint8 is the bucket, int8 the bucket minus 128.
 * Values outside the calibration ranges saturate. binary/ubinary are
 * np.packbits(x > 0) (most significant bit first), minus 128 for binary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "search/search_impl.h"
#include "search/topk.h"

struct sembed_qcorpus {
    sembed_precision precision;
    size_t n;
    int dim;
    size_t row_bytes;
    uint8_t *data;        /* n * row_bytes, as sembed_quantize() writes it */
    float *base, *step;   /* int8/uint8 dequantization, dim each */
};

const char *sembed_precision_name(sembed_precision precision) {
    switch (precision) {
    case SEMBED_PRECISION_FLOAT32:
        return "float32";
    case SEMBED_PRECISION_INT8:
        return "int8";
    case SEMBED_PRECISION_UINT8:
        return "uint8";
    case SEMBED_PRECISION_BINARY:
        return "binary";
    case SEMBED_PRECISION_UBINARY:
        return "ubinary";
    }
    return NULL;
}

int sembed_precision_from_name(const char *name) {
    if (!name)
        return -1;
    for (int p = SEMBED_PRECISION_FLOAT32; p <= SEMBED_PRECISION_UBINARY; p++)
        if (!strcmp(name, sembed_precision_name((sembed_precision)p)))
            return p;
    return -1;
}

size_t sembed_quantized_row_bytes(sembed_precision precision, int dim) {
    if (dim < 1)
        return 0;
    switch (precision) {
    case SEMBED_PRECISION_FLOAT32:
        return (size_t)dim * 4;
    case SEMBED_PRECISION_INT8:
    case SEMBED_PRECISION_UINT8:
        return (size_t)dim;
    case SEMBED_PRECISION_BINARY:
    case SEMBED_PRECISION_UBINARY:
        return ((size_t)dim + 7) / 8;
    }
    return 0;
}

static sembed_status check_rows(const float *v, size_t n, int dim, const char *what,
                                sembed_error *err) {
    if (dim < 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: dim must be at least 1");
    if (n > 0 && !v)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: %s is NULL", what);
    size_t cells;
    if (mul_overflow_size(n, (size_t)dim, &cells))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: too many rows");
    size_t col, bad = search_first_bad_row(v, n, (size_t)dim, &col);
    if (bad < n)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: %s row %zu, column %zu is %s",
                         what, bad, col, isnan(v[bad * (size_t)dim + col]) ? "NaN" : "infinite");
    return SEMBED_OK;
}

sembed_status sembed_quantize_ranges(const float *embeddings, size_t n, int dim, float *ranges,
                                     sembed_error *err) {
    sembed_status st = check_rows(embeddings, n, dim, "embeddings", err);
    if (st)
        return st;
    if (n == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "quantize: calibration needs at least one row");
    if (!ranges)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: ranges is NULL");
    const size_t d = (size_t)dim;
    memcpy(ranges, embeddings, d * sizeof(float));
    memcpy(ranges + d, embeddings, d * sizeof(float));
    for (size_t i = 1; i < n; i++) {
        const float *r = embeddings + i * d;
        for (size_t j = 0; j < d; j++) {
            if (r[j] < ranges[j])
                ranges[j] = r[j];
            if (r[j] > ranges[d + j])
                ranges[d + j] = r[j];
        }
    }
    return SEMBED_OK;
}

static void quantize_rows(const float *emb, size_t n, size_t dim, sembed_precision prec,
                          const float *starts, const float *steps, uint8_t *out) {
    if (prec == SEMBED_PRECISION_INT8 || prec == SEMBED_PRECISION_UINT8) {
        const uint8_t shift = prec == SEMBED_PRECISION_INT8 ? 0x80 : 0x00;
        for (size_t i = 0; i < n; i++) {
            const float *r = emb + i * dim;
            uint8_t *o = out + i * dim;
            for (size_t j = 0; j < dim; j++) {
                /* float32 roundings as numpy: (x - starts), then / steps.
                 * clip(floor(y), 0, 255) is the truncation of y once y is
                 * known to lie in [0, 255). */
                float y = (r[j] - starts[j]) / steps[j];
                int b = y < 0.0f ? 0 : (y >= 255.0f ? 255 : (int)y);
                /* int8 = b - 128: the same byte as b with its top bit flipped. */
                o[j] = (uint8_t)((unsigned)b ^ shift);
            }
        }
        return;
    }
    const size_t nb = (dim + 7) / 8, full = dim / 8;
    const uint8_t flip = prec == SEMBED_PRECISION_BINARY ? 0x80 : 0x00;
    for (size_t i = 0; i < n; i++) {
        const float *r = emb + i * dim;
        uint8_t *o = out + i * nb;
        for (size_t b = 0; b < full; b++) {
            const float *v = r + 8 * b;
            unsigned byte = (unsigned)(v[0] > 0.0f) << 7 | (unsigned)(v[1] > 0.0f) << 6 |
                            (unsigned)(v[2] > 0.0f) << 5 | (unsigned)(v[3] > 0.0f) << 4 |
                            (unsigned)(v[4] > 0.0f) << 3 | (unsigned)(v[5] > 0.0f) << 2 |
                            (unsigned)(v[6] > 0.0f) << 1 | (unsigned)(v[7] > 0.0f);
            /* packbits(...) - 128 in uint8 wraps to the byte with its top
             * bit flipped; read as int8 that is the value minus 128. */
            o[b] = (uint8_t)(byte ^ flip);
        }
        if (full < nb) {
            unsigned byte = 0;
            for (size_t j = 8 * full; j < dim; j++)
                byte |= (unsigned)(r[j] > 0.0f) << (7 - (j % 8));
            o[full] = (uint8_t)(byte ^ flip);
        }
    }
}

/* starts and steps (dim each) from ranges, as sentence-transformers: a
 * dimension whose range is empty gets the step 1. raw_steps (may be NULL)
 * gets the steps before that replacement, for dequantization. */
static sembed_status make_steps(const float *emb, size_t n, int dim, const float *ranges,
                                float *starts, float *steps, float *raw_steps,
                                sembed_error *err) {
    const size_t d = (size_t)dim;
    float *own = NULL;
    if (!ranges) {
        own = malloc(2 * d * sizeof(float));
        if (!own)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        sembed_status st = sembed_quantize_ranges(emb, n, dim, own, err);
        if (st) {
            free(own);
            return st;
        }
        ranges = own;
    } else {
        size_t col, bad = search_first_bad_row(ranges, 2, d, &col);
        if (bad < 2)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "quantize: ranges row %zu, column %zu is not finite", bad, col);
    }
    for (size_t j = 0; j < d; j++) {
        float step = (ranges[d + j] - ranges[j]) / 255.0f;
        starts[j] = ranges[j];
        steps[j] = step == 0.0f ? 1.0f : step;
        if (raw_steps)
            raw_steps[j] = step;
    }
    free(own);
    return SEMBED_OK;
}

sembed_status sembed_quantize(const float *embeddings, size_t n, int dim,
                              sembed_precision precision, const float *ranges, void *out,
                              size_t out_cap, sembed_error *err) {
    if (!sembed_precision_name(precision))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "quantize: unknown precision %d",
                         (int)precision);
    sembed_status st = check_rows(embeddings, n, dim, "embeddings", err);
    if (st)
        return st;
    size_t rb = sembed_quantized_row_bytes(precision, dim), need;
    if (mul_overflow_size(n, rb, &need) || out_cap < need || (need && !out))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "quantize: the output holds %zu bytes; %zu rows need %zu x %zu", out_cap,
                         n, n, rb);
    if (n == 0)
        return SEMBED_OK;
    if (precision == SEMBED_PRECISION_FLOAT32) {
        memcpy(out, embeddings, need);
        return SEMBED_OK;
    }
    float *starts = NULL, *steps = NULL;
    if (precision == SEMBED_PRECISION_INT8 || precision == SEMBED_PRECISION_UINT8) {
        starts = malloc((size_t)dim * sizeof(float));
        steps = malloc((size_t)dim * sizeof(float));
        if (!starts || !steps) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto done;
        }
        st = make_steps(embeddings, n, dim, ranges, starts, steps, NULL, err);
        if (st)
            goto done;
    }
    quantize_rows(embeddings, n, (size_t)dim, precision, starts, steps, out);
done:
    free(starts);
    free(steps);
    return st;
}

/* ---- quantized corpora ------------------------------------------------- */

void sembed_qcorpus_free(sembed_qcorpus *qc) {
    if (!qc)
        return;
    free(qc->data);
    free(qc->base);
    free(qc->step);
    free(qc);
}

size_t sembed_qcorpus_rows(const sembed_qcorpus *qc) { return qc ? qc->n : 0; }
int sembed_qcorpus_dim(const sembed_qcorpus *qc) { return qc ? qc->dim : 0; }
sembed_precision sembed_qcorpus_precision(const sembed_qcorpus *qc) {
    return qc ? qc->precision : SEMBED_PRECISION_FLOAT32;
}
const void *sembed_qcorpus_data(const sembed_qcorpus *qc) { return qc ? qc->data : NULL; }

sembed_status sembed_qcorpus_init(const float *corpus, size_t n, int dim,
                                  sembed_precision precision, const float *ranges,
                                  sembed_qcorpus **out, sembed_error *err) {
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "qcorpus: out is NULL");
    *out = NULL;
    if (precision == SEMBED_PRECISION_FLOAT32 || !sembed_precision_name(precision))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "qcorpus: precision must be int8, uint8, binary or ubinary");
    sembed_status st = check_rows(corpus, n, dim, "corpus", err);
    if (st)
        return st;
    float *steps = NULL;
    sembed_qcorpus *qc = calloc(1, sizeof *qc);
    if (!qc)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "qcorpus: out of memory");
    qc->precision = precision;
    qc->n = n;
    qc->dim = dim;
    qc->row_bytes = sembed_quantized_row_bytes(precision, dim);
    size_t bytes = 0;
    if (mul_overflow_size(n, qc->row_bytes, &bytes)) {
        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "qcorpus: corpus too large");
        goto fail;
    }
    qc->data = malloc(bytes ? bytes : 1);
    if (!qc->data) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "qcorpus: out of memory for %zu bytes",
                       bytes);
        goto fail;
    }
    if (precision == SEMBED_PRECISION_INT8 || precision == SEMBED_PRECISION_UINT8) {
        steps = malloc((size_t)dim * sizeof(float));
        qc->base = calloc((size_t)dim, sizeof(float));
        qc->step = calloc((size_t)dim, sizeof(float));
        if (!steps || !qc->base || !qc->step) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "qcorpus: out of memory");
            goto fail;
        }
        if (n > 0 || ranges) {
            st = make_steps(corpus, n, dim, ranges, qc->base, steps, qc->step, err);
            if (st)
                goto fail;
        }
        quantize_rows(corpus, n, (size_t)dim, precision, qc->base, steps, qc->data);
        /* A bucket b covers [start + b * step, start + (b + 1) * step): decode
         * to its middle, base + code * step, with code = b - 128 for int8.
         * An empty range decodes to its single value. */
        const float offset = precision == SEMBED_PRECISION_INT8 ? 128.5f : 0.5f;
        for (int j = 0; j < dim; j++)
            qc->base[j] = qc->base[j] + offset * qc->step[j];
    } else {
        quantize_rows(corpus, n, (size_t)dim, precision, NULL, NULL, qc->data);
    }
    free(steps);
    *out = qc;
    return SEMBED_OK;
fail:
    free(steps);
    sembed_qcorpus_free(qc);
    return st;
}

sembed_status sembed_qcorpus_search(const sembed_qcorpus *qc, const float *corpus,
                                    const float *queries, size_t n_queries, int dim,
                                    const sembed_search_params *params, sembed_hit *hits,
                                    size_t hits_cap, size_t *n_hits, sembed_error *err) {
    if (!qc)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "qcorpus search: qc is NULL");
    int n_threads;
    sembed_status st = search_check_params(params, &n_threads, err);
    if (st)
        return st;
    st = search_check_args(queries, n_queries, dim, params->top_k, hits, hits_cap, n_hits, err);
    if (st || n_queries == 0)
        return st;
    if (dim != qc->dim)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "qcorpus search: queries have %d dimensions, the corpus %d", dim,
                         qc->dim);
    if (qc->n == 0) {
        for (size_t q = 0; q < n_queries; q++)
            n_hits[q] = 0;
        return SEMBED_OK;
    }
    const size_t n = qc->n, d = (size_t)dim, top_k = (size_t)params->top_k;
    const int rescore = params->rescore && corpus;
    size_t keep = top_k;
    if (rescore && mul_overflow_size(top_k, (size_t)params->rescore_multiplier, &keep))
        keep = n;
    if (keep > n)
        keep = n;
    const flat_kernels *k = flat_kernels_pick();
    const int bits = qc->precision == SEMBED_PRECISION_BINARY ||
                     qc->precision == SEMBED_PRECISION_UBINARY;
    float *qf = NULL;
    uint8_t *qb = NULL;
    sembed_hit *cand = NULL;
    size_t n_cand;
    st = search_prepare_queries(k, queries, n_queries, d, params->score, &qf, err);
    if (st)
        goto done;
    if (mul_overflow_size(n_queries, keep, &n_cand) ||
        !(cand = malloc(n_cand * sizeof *cand))) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "qcorpus search: out of memory");
        goto done;
    }
    scan_corpus c = {.n = n, .dim = d};
    if (bits) {
        qb = malloc(n_queries * qc->row_bytes);
        if (!qb) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "qcorpus search: out of memory");
            goto done;
        }
        /* Signs do not change under normalization: quantize the raw rows. */
        quantize_rows(queries, n_queries, d, qc->precision, NULL, NULL, qb);
        c.kind = SCAN_BITS;
        c.codes = qc->data;
        c.nbytes = qc->row_bytes;
    } else {
        c.kind = SCAN_CODES8;
        c.codes = qc->data;
        c.is_signed = qc->precision == SEMBED_PRECISION_INT8;
        c.base = qc->base;
        c.step = qc->step;
    }
    scan_params sp = {
        .score = params->score,
        .keep = keep,
        .n_threads = n_threads,
        .query_chunk = params->query_chunk_size,
        .corpus_chunk = params->corpus_chunk_size,
    };
    st = search_scan(k, &c, bits ? (const void *)qb : (const void *)qf, n_queries, &sp, cand,
                     keep, err);
    if (st)
        goto done;
    for (size_t q = 0; q < n_queries; q++) {
        sembed_hit *h = cand + q * keep;
        if (rescore) {
            /* Exact float32 scores, computed as the exact search does. */
            for (size_t i = 0; i < keep; i++) {
                size_t id = (size_t)h[i].corpus_id;
                const float *row = corpus + id * d;
                h[i].score = search_exact_score(k, qf + q * d, row, d, params->score);
                /* A NaN or infinity anywhere in the row makes the score
                 * non-finite, so only then is the row searched. */
                if (!isfinite(h[i].score)) {
                    size_t col, bad = search_first_bad_row(row, 1, d, &col);
                    if (bad < 1)
                        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                       "search: corpus row %zu, column %zu is %s", id, col,
                                       isnan(row[col]) ? "NaN" : "infinite");
                    else
                        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                       "search: the score of corpus row %zu overflows float32",
                                       id);
                    goto done;
                }
            }
            topk_sort_hits(h, keep);
        } else if (bits) {
            for (size_t i = 0; i < keep; i++)
                h[i].score /= (float)d;
        }
        size_t m = keep < top_k ? keep : top_k;
        memcpy(hits + q * top_k, h, m * sizeof *h);
        n_hits[q] = m;
    }
done:
    free(qf);
    free(qb);
    free(cand);
    return st;
}
