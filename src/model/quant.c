/*
 * quant.c - weights prepared at load for the reduced-precision products
 * (--dtype bf16 / int8): bfloat16 copies, or int8 rows quantized per output
 * channel with their scales and sums (layout in kernels/kernels.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int quant_init(kern_qmat *q, const float *W, int N, int K, sembed_dtype dtype) {
    memset(q, 0, sizeof *q);
    q->N = N;
    q->K = K;
    if (dtype == SEMBED_DTYPE_BF16) {
        q->kp = (K + 1) & ~1;
        q->bf16 = calloc((size_t)N * q->kp, sizeof *q->bf16);
        if (!q->bf16)
            return -1;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                q->bf16[(size_t)n * q->kp + k] = kern_f32_to_bf16(W[(size_t)n * K + k]);
        return 0;
    }
    q->kp = (K + 3) & ~3;
    q->i8 = calloc((size_t)N * q->kp, sizeof *q->i8);
    q->scale = malloc((size_t)N * sizeof *q->scale);
    q->rowsum = malloc((size_t)N * sizeof *q->rowsum);
    if (!q->i8 || !q->scale || !q->rowsum) {
        quant_free(q);
        return -1;
    }
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        float mx = 0.0f;
        for (int k = 0; k < K; k++)
            mx = fmaxf(mx, fabsf(w[k]));
        float scale = mx > 0.0f ? mx / 127.0f : 1.0f;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            float v = rintf(w[k] / scale);
            int8_t qv = (int8_t)(v > 127.0f ? 127 : (v < -127.0f ? -127 : v));
            q->i8[(size_t)n * q->kp + k] = qv;
            sum += qv;
        }
        q->scale[n] = scale;
        q->rowsum[n] = (float)sum;
    }
    return 0;
}

void quant_free(kern_qmat *q) {
    if (!q)
        return;
    free(q->bf16);
    free(q->i8);
    free(q->scale);
    free(q->rowsum);
    memset(q, 0, sizeof *q);
}
