/*
 * io_convert.c - a test helper: reads an embedding file and writes it in
 * another format with the library's own reader and writer, so that the
 * scripts can check files against pandas and numpy.
 *
 *   io_convert IN OUT [--escape-formulas]
 *
 * Exit status 0, or 1 with the library's message on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "sembed.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: io_convert IN OUT [--escape-formulas]\n");
        return 2;
    }
    sembed_matrix m;
    sembed_error err;
    if (sembed_matrix_read(argv[1], NULL, &m, &err) != SEMBED_OK) {
        fprintf(stderr, "io_convert: %s\n", err.message);
        return 1;
    }
    sembed_matrix_write_params wp = sembed_matrix_write_default_params();
    wp.csv_escape_formulas = argc > 3 && !strcmp(argv[3], "--escape-formulas");
    int rc = 0;
    if (sembed_matrix_write(argv[2], &m, &wp, &err) != SEMBED_OK) {
        fprintf(stderr, "io_convert: %s\n", err.message);
        rc = 1;
    }
    sembed_matrix_free(&m);
    return rc;
}
