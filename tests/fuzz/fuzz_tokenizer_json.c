/*
 * fuzz_tokenizer_json.c - arbitrary bytes as tokenizer files: the first
 * byte picks the role (tokenizer.json, vocab.txt, or tokenizer_config.json
 * beside a fixed vocab.txt). Whatever loads must then encode a few strings
 * with every id inside the vocabulary and detokenize them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##a\nb\n";
static const char *texts[] = {"", "a b", "aab [MASK] \xc3\x89 \xe4\xb8\x80!", "[CLS]x[SEP]",
                              "\xff\xfe a\xcc\x81"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    unsigned role = data[0] % 3;
    data++;
    size--;
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    sembed_tokenizer *tok = NULL;
    sembed_status st;
    if (role == 0)
        st = tokenizer_load_memory(buf, size, NULL, 0, NULL, 0, &tok, NULL);
    else if (role == 1)
        st = tokenizer_load_memory(NULL, 0, buf, size, NULL, 0, &tok, NULL);
    else
        st = tokenizer_load_memory(NULL, 0, VOCAB, sizeof VOCAB - 1, buf, size, &tok, NULL);
    free(buf);
    if (st != SEMBED_OK) {
        if (tok)
            abort();
        return 0;
    }
    tokenizer_set_max_length(tok, 64);
    tokenizer_set_force_lowercase(tok, (int)(size & 1));
    int32_t ids[128];
    char out[4096];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = 0;
        if (tokenizer_encode(tok, NULL, texts[i], strlen(texts[i]), NULL, ids, 128, &n, NULL,
                             NULL) != SEMBED_OK)
            continue;
        for (size_t k = 0; k < n; k++)
            if (ids[k] < 0 || ids[k] > tokenizer_max_id(tok))
                abort();
        sembed_detokenize(tok, ids, n, (int)(i & 1), out, sizeof out, NULL, NULL);
        for (size_t k = 0; k < n; k++)
            (void)sembed_token_text(tok, ids[k]);
    }
    tokenizer_free(tok);
    return 0;
}
