/*
 * io.h - what the embedding-file readers and writers share: a growing
 * matrix, the atomic output file, and the per-format entry points that
 * matrix.c dispatches to.
 */
#ifndef SEMBED_IO_IO_H
#define SEMBED_IO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/source.h"
#include "sembed.h"

/* ---- a matrix that grows one row at a time (CSV, JSONL) ---------------- */

typedef struct io_builder {
    sembed_matrix m;
    size_t cap_rows;
    size_t max_rows;
} io_builder;

void io_builder_init(io_builder *b, size_t cols, size_t max_rows);
/* Room for one more row; *row gets its floats (m.rows is not yet counted:
 * the caller increments it once the row is complete). */
sembed_status io_builder_row(io_builder *b, const char *name, float **row, sembed_error *err);
/* Sets the id / text of row m.rows (the row being filled); copies s. */
sembed_status io_builder_set_id(io_builder *b, const char *s, size_t len, sembed_error *err);
sembed_status io_builder_set_text(io_builder *b, const char *s, size_t len, sembed_error *err);
/* Moves the result into *out (shrinking the allocation) or frees it. */
void io_builder_finish(io_builder *b, sembed_matrix *out);
void io_builder_free(io_builder *b);

/* ---- atomic output --------------------------------------------------- */

typedef struct io_out {
    FILE *fp;
    char *path;
    char *tmp;
} io_out;

/* Creates a temporary file beside path. */
sembed_status io_out_open(io_out *o, const char *path, sembed_error *err);
/* Flushes, fsyncs, renames over path and fsyncs the folder. */
sembed_status io_out_commit(io_out *o, sembed_error *err);
/* Removes the temporary file (NULL-safe, idempotent). */
void io_out_abort(io_out *o);

/* ---- formats ----------------------------------------------------------- */

sembed_status npy_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                              sembed_matrix *out, sembed_error *err);
sembed_status csv_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                              sembed_matrix *out, sembed_error *err);
sembed_status jsonl_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                                sembed_matrix *out, sembed_error *err);

sembed_status npy_write_matrix(FILE *fp, const sembed_matrix *m, const char *name,
                               sembed_error *err);
sembed_status csv_write_matrix(FILE *fp, const sembed_matrix *m,
                               const sembed_matrix_write_params *p, const char *name,
                               sembed_error *err);
sembed_status jsonl_write_matrix(FILE *fp, const sembed_matrix *m, const char *name,
                                 sembed_error *err);

/* First non-finite value of n floats, or n when all are finite. */
size_t io_first_nonfinite(const float *v, size_t n);

#endif /* SEMBED_IO_IO_H */
