/*
 * fuzz_tokenizer.c - arbitrary bytes as text through the whole encode
 * pipeline with a small fixed vocabulary. Checks what must hold for any
 * input: every id is inside the vocabulary, the sequence is framed by
 * [CLS] ... [SEP], truncation keeps the bound, and a scratch reused across
 * inputs gives the same ids as a fresh one. The first byte picks the
 * options (truncation side, max length, strip_accents / lowercase off).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nab\n##b\n##a\n!\n\xc3\xa9\n##\xc3\xa9\n"
    "\xe4\xb8\x80\ni\n\xcf\x83\nmask\n[\n]\n";

static sembed_tokenizer *toks[3];
static tok_scratch *shared_scratch;

static void init(void) {
    static const char *configs[3] = {NULL, "{\"do_lower_case\": false}",
                                     "{\"strip_accents\": false, \"tokenize_chinese_chars\": false}"};
    for (int i = 0; i < 3; i++) {
        if (tokenizer_load_memory(NULL, 0, VOCAB, sizeof VOCAB - 1, configs[i],
                                  configs[i] ? strlen(configs[i]) : 0, &toks[i], NULL) != SEMBED_OK)
            abort();
    }
    shared_scratch = tok_scratch_new();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!toks[0])
        init();
    if (size == 0)
        return 0;
    unsigned opt = data[0];
    data++;
    size--;
    const sembed_tokenizer *tok = toks[opt % 3];
    sembed_tokenize_params p = sembed_tokenize_default_params();
    p.truncation_side = (opt & 4) ? SEMBED_TRUNCATE_LEFT : SEMBED_TRUNCATE_RIGHT;
    p.max_length = (opt & 8) ? 2 + (int)(opt >> 4) : 0;
    p.add_special_tokens = (opt & 0x80) ? 0 : 1;
    int32_t a[4096], b[4096];
    size_t na = 0, nb = 0, fa = 0, fb = 0;
    /* An exact-size copy: reads past the end are caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    sembed_status sa = tokenizer_encode(tok, shared_scratch, text, size, &p, a, 4096, &na, &fa, NULL);
    sembed_status sb = tokenizer_encode(tok, NULL, text, size, &p, b, 4096, &nb, &fb, NULL);
    free(text);
    if (sa != sb || na != nb || fa != fb || memcmp(a, b, na * sizeof(int32_t)) != 0)
        abort();
    if (sa != SEMBED_OK)
        return 0;   /* only "does not fit in 4096" is expected here */
    int32_t n_ids = sembed_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < na; i++)
        if (a[i] < 0 || a[i] >= n_ids)
            abort();
    if (p.add_special_tokens) {
        if (na < 2 || a[0] != tokenizer_cls_id(tok) || a[na - 1] != tokenizer_sep_id(tok))
            abort();
    }
    if (p.max_length > 0 && na > (size_t)p.max_length)
        abort();
    if (na > fa)
        abort();
    return 0;
}
