/*
 * fuzz_safetensors.c - libFuzzer harness: arbitrary bytes as a whole
 * .safetensors file image. Every accepted file must describe tensors that
 * lie inside the buffer; anything else must be a clean error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors_file f;
    sembed_error err;
    if (safetensors_parse(data, size, "fuzz.safetensors", &f, &err) == SEMBED_OK) {
        for (size_t i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            const uint8_t *p = t->data;
            if (p < data || p + (t->end - t->begin) > data + size)
                abort();
            if (safetensors_find(&f, t->name) != t)
                abort();
            /* Touch the first and last byte so ASan sees any bad pointer. */
            if (t->end > t->begin) {
                volatile uint8_t x = p[0];
                x = p[t->end - t->begin - 1];
                (void)x;
            }
        }
    } else if (!memchr(err.message, 0, sizeof err.message) || !err.message[0]) {
        abort();
    }
    safetensors_close(&f);
    return 0;
}
