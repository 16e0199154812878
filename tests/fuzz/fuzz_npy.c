/*
 * fuzz_npy.c - libFuzzer harness: arbitrary bytes through the .npy header
 * parser and the matrix reader (with small limits). A parsed header must
 * be self-consistent (data offset inside the bytes, checked sizes); an
 * accepted matrix must match its header, respect the limits and hold only
 * finite values.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "sembed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    npy_header h;
    size_t need = 0;
    sembed_error err;
    if (npy_parse_header(s, size, 4096, "fuzz", &h, &need, &err) == SEMBED_OK) {
        if (h.data_offset > size || h.data_offset != need || h.ndim < 0 ||
            h.ndim > NPY_MAX_DIMS || h.itemsize < 0)
            abort();
        uint64_t items = 1;
        for (int i = 0; i < h.ndim; i++)
            items *= h.shape[i];
        if (items != h.n_items || h.n_items * (uint64_t)h.itemsize != h.data_bytes)
            abort();
    }

    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    p.format = SEMBED_FORMAT_NPY;
    p.max_rows = 4096;
    p.max_cols = 256;
    p.max_header_bytes = 4096;
    sembed_matrix m;
    if (sembed_matrix_read_mem(data, size, &p, &m, &err) == SEMBED_OK) {
        if (m.rows > p.max_rows || m.cols == 0 || m.cols > p.max_cols || !m.data)
            abort();
        for (size_t i = 0; i < m.rows * m.cols; i++)
            if (!isfinite(m.data[i]))
                abort();
        sembed_matrix_free(&m);
    } else if (m.data || m.rows || !err.message[0]) {
        abort();
    }
    return 0;
}
