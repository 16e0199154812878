/*
 * pooling.c - sentence-transformers' Pooling and Normalize modules.
 *
 * Modes are concatenated in sentence-transformers' order: cls, max, mean,
 * mean_sqrt_len_tokens, weightedmean, lasttoken. Every token of the
 * sequence counts, [CLS] and [SEP] included, as the attention mask does.
 * Sums run sequentially over the tokens so that a text's vector does not
 * depend on its batch.
 */
#include <math.h>
#include <string.h>

#include "model/model.h"

/* One pooling pass over a sequence whose token t, feature n sits at
 * T[n * sn + t * st] (feature-major: sn = ld, st = 1; token-major: sn = 1,
 * st = H). */
static void pool(const sembed_model *m, const float *T, size_t sn, size_t st, int len,
                 float *out) {
    int H = m->cfg.bert.hidden_size;
    unsigned modes = m->cfg.pooling;
    float *o = out;
    float count = (float)len < 1e-9f ? 1e-9f : (float)len;
    if (modes & SEMBED_POOL_CLS) {
        for (int n = 0; n < H; n++)
            o[n] = T[(size_t)n * sn];
        o += H;
    }
    if (modes & SEMBED_POOL_MAX) {
        for (int n = 0; n < H; n++) {
            float mx = -INFINITY;
            for (int t = 0; t < len; t++)
                mx = fmaxf(mx, T[(size_t)n * sn + (size_t)t * st]);
            o[n] = mx;
        }
        o += H;
    }
    if (modes & SEMBED_POOL_MEAN) {
        for (int n = 0; n < H; n++) {
            float sum = 0.0f;
            for (int t = 0; t < len; t++)
                sum += T[(size_t)n * sn + (size_t)t * st];
            o[n] = sum / count;
        }
        o += H;
    }
    if (modes & SEMBED_POOL_MEAN_SQRT_LEN) {
        float root = sqrtf(count);
        for (int n = 0; n < H; n++) {
            float sum = 0.0f;
            for (int t = 0; t < len; t++)
                sum += T[(size_t)n * sn + (size_t)t * st];
            o[n] = sum / root;
        }
        o += H;
    }
    if (modes & SEMBED_POOL_WEIGHTED_MEAN) {
        /* Weights are the 1-based positions. */
        float wsum = 0.0f;
        for (int t = 0; t < len; t++)
            wsum += (float)(t + 1);
        if (wsum < 1e-9f)
            wsum = 1e-9f;
        for (int n = 0; n < H; n++) {
            float sum = 0.0f;
            for (int t = 0; t < len; t++)
                sum += (float)(t + 1) * T[(size_t)n * sn + (size_t)t * st];
            o[n] = sum / wsum;
        }
        o += H;
    }
    if (modes & SEMBED_POOL_LAST_TOKEN) {
        for (int n = 0; n < H; n++)
            o[n] = T[(size_t)n * sn + (size_t)(len - 1) * st];
        o += H;
    }
}

void pooling_apply_fm(const sembed_model *m, const float *T, size_t ld, int len, float *out) {
    pool(m, T, ld, 1, len, out);
}

void pooling_apply_tm(const sembed_model *m, const float *X, int len, float *out) {
    pool(m, X, 1, (size_t)m->cfg.bert.hidden_size, len, out);
}

void pooling_normalize(float *x, int n) {
    /* torch: x / max(||x||_2, 1e-12) */
    double sq = 0.0;
    for (int i = 0; i < n; i++)
        sq += (double)x[i] * x[i];
    float norm = (float)sqrt(sq);
    if (norm < 1e-12f)
        norm = 1e-12f;
    for (int i = 0; i < n; i++)
        x[i] = x[i] / norm;
}
