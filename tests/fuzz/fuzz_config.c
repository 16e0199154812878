/*
 * fuzz_config.c - libFuzzer harness: arbitrary bytes through every
 * model-folder config parser (config.json, 1_Pooling/config.json,
 * modules.json, Dense config, sentence_bert_config.json,
 * tokenizer_config.json). Accepted values must lie within the documented
 * ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    sembed_error err;
    bert_config b;
    if (config_parse_bert(s, size, &b, &err) == SEMBED_OK) {
        if (b.hidden_size < 1 || b.hidden_size > CONFIG_MAX_HIDDEN || b.n_heads < 1 ||
            b.hidden_size % b.n_heads || b.n_layers < 1 || b.n_layers > CONFIG_MAX_LAYERS ||
            !(b.layer_norm_eps > 0) || b.pad_token_id < 0 || b.pad_token_id >= b.vocab_size)
            abort();
    }
    unsigned bits;
    int dim, inc;
    if (config_parse_pooling(s, size, &bits, &dim, &inc, &err) == SEMBED_OK) {
        if (!bits || bits >= (1u << 6) || dim < 1)
            abort();
    }
    st_config m;
    memset(&m, 0, sizeof m);
    if (config_parse_modules(s, size, &m, &err) == SEMBED_OK) {
        if (m.n_dense < 0 || m.n_dense > CONFIG_MAX_DENSE || !m.pooling_path[0] ||
            strstr(m.pooling_path, "..") == m.pooling_path)
            abort();
    }
    dense_config d;
    if (config_parse_dense(s, size, &d, &err) == SEMBED_OK) {
        if (d.in_features < 1 || d.out_features < 1)
            abort();
    }
    int ms, lower;
    if (config_parse_sbert(s, size, &ms, &lower, &err) == SEMBED_OK && ms < 0)
        abort();
    long long mml;
    if (config_parse_tokenizer_config(s, size, &mml, &err) == SEMBED_OK && mml < -1)
        abort();
    return 0;
}
