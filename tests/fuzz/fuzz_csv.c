/*
 * fuzz_csv.c - libFuzzer harness: arbitrary bytes through the RFC 4180
 * record parser (whole, and fed in two parts split at a byte the input
 * chooses, which must give the same records) and through the embedding
 * CSV and JSON Lines readers with small limits. Accepted matrices must
 * respect the limits and hold only finite values.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/csv.h"
#include "sembed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A cheap digest of the records, to compare two parses. */
static uint64_t parse_digest(const char *buf, size_t len, size_t split, int *failed) {
    csv_parser p;
    csv_parser_init(&p, 1000);
    csv_record rec = {0};
    uint64_t h = 1469598103934665603ull;
    size_t pos = 0, visible = split < len ? split : len;
    *failed = 0;
    for (;;) {
        size_t used = 0;
        csv_result r = csv_parse_record(&p, buf + pos, visible - pos, visible == len, &rec, &used);
        if (r == CSV_NEED_MORE) {
            if (visible == len)
                abort(); /* at the end there is nothing more to wait for */
            visible = len;
            continue;
        }
        if (r == CSV_ERROR) {
            *failed = 1;
            break;
        }
        if (r == CSV_END)
            break;
        if (used == 0 || used > visible - pos)
            abort();
        pos += used;
        h = (h ^ rec.n_fields) * 1099511628211ull;
        for (size_t i = 0; i < rec.n_fields; i++)
            for (size_t k = 0; k < rec.fields[i].len; k++)
                h = (h ^ (unsigned char)rec.fields[i].ptr[k]) * 1099511628211ull;
    }
    csv_record_free(&rec);
    return h;
}

static void check_matrix(const sembed_matrix *m, const sembed_matrix_read_params *p) {
    if (m->rows > p->max_rows || m->cols == 0 || m->cols > p->max_cols || !m->data)
        abort();
    for (size_t i = 0; i < m->rows * m->cols; i++)
        if (!isfinite(m->data[i]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    int f1, f2;
    size_t split = size ? data[0] % (size + 1) : 0;
    uint64_t a = parse_digest(s, size, size, &f1);
    uint64_t b = parse_digest(s, size, split, &f2);
    if (f1 != f2 || (!f1 && a != b))
        abort();

    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    p.max_rows = 1000;
    p.max_cols = 64;
    p.max_line_bytes = 4096;
    sembed_matrix m;
    sembed_error err;
    p.format = SEMBED_FORMAT_CSV;
    if (sembed_matrix_read_mem(data, size, &p, &m, &err) == SEMBED_OK) {
        check_matrix(&m, &p);
        sembed_matrix_free(&m);
    } else if (m.data || m.rows || !err.message[0]) {
        abort();
    }
    p.format = SEMBED_FORMAT_JSONL;
    if (sembed_matrix_read_mem(data, size, &p, &m, &err) == SEMBED_OK) {
        check_matrix(&m, &p);
        sembed_matrix_free(&m);
    } else if (m.data || m.rows || !err.message[0]) {
        abort();
    }
    return 0;
}
