/*
 * test_csv_spectrum.c - the RFC 4180 parser (src/io/csv.c) against the
 * csv-spectrum acid test in $SEMBED_SHARED/data/csv-spectrum: each CSV,
 * read with its first record as the header, must give exactly the objects
 * of its JSON twin. location_coordinates is left out: its JSON does not
 * hold the data of its CSV (another phone number, U+FFFD for raw bytes).
 * Skips (77) without SEMBED_SHARED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/common.h"
#include "io/csv.h"

static char dir[4096];

static const char *const cases[] = {
    "comma_in_quotes", "empty",  "empty_crlf",    "escaped_quotes",      "json",
    "newlines",        "newlines_crlf", "quotes_and_newlines", "simple", "simple_crlf",
    "utf8",
};

/* Parses a whole CSV into a JSON array of objects keyed by the header. */
static json_t *csv_to_json(const char *buf, size_t len, char *msg, size_t cap) {
    csv_parser p;
    csv_parser_init(&p, 0);
    csv_record rec = {0};
    json_t *rows = json_array(), *header = NULL;
    size_t pos = 0;
    for (;;) {
        size_t used;
        csv_result r = csv_parse_record(&p, buf + pos, len - pos, 1, &rec, &used);
        if (r == CSV_ERROR) {
            snprintf(msg, cap, "%s", p.msg);
            json_decref(rows);
            rows = NULL;
            break;
        }
        if (r != CSV_RECORD)
            break;
        pos += used;
        if (!header) {
            header = json_array();
            for (size_t i = 0; i < rec.n_fields; i++)
                json_array_append_new(header, json_stringn(rec.fields[i].ptr, rec.fields[i].len));
            continue;
        }
        json_t *o = json_object();
        for (size_t i = 0; i < rec.n_fields && i < json_array_size(header); i++)
            json_object_set_new(o, json_string_value(json_array_get(header, i)),
                                json_stringn(rec.fields[i].ptr, rec.fields[i].len));
        if (rec.n_fields != json_array_size(header))
            json_object_set_new(o, "__field_count_mismatch__", json_true());
        json_array_append_new(rows, o);
    }
    json_decref(header);
    csv_record_free(&rec);
    return rows;
}

static void test_spectrum(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/csvs/%s.csv", dir, cases[i]);
        char *csv = NULL;
        size_t len = 0;
        sembed_error err;
        if (read_file(path, 1 << 20, &csv, &len, &err) != SEMBED_OK)
            fail_msg("%s", err.message);
        char msg[300] = "";
        json_t *got = csv_to_json(csv, len, msg, sizeof msg);
        if (!got)
            fail_msg("%s: %s", cases[i], msg);
        snprintf(path, sizeof path, "%s/json/%s.json", dir, cases[i]);
        json_error_t je;
        json_t *want = json_load_file(path, 0, &je);
        if (!want)
            fail_msg("%s: %s", path, je.text);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
            fail_msg("%s:\n got  %s\n want %s", cases[i], g, w);
        }
        printf("csv-spectrum %-20s ok (%zu rows)\n", cases[i], json_array_size(got));
        json_decref(got);
        json_decref(want);
        free(csv);
    }
}

int main(void) {
    const char *shared = getenv("SEMBED_SHARED");
    if (!shared || !*shared) {
        printf("SEMBED_SHARED is not set: skipping the csv-spectrum test\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/data/csv-spectrum", shared);
    if (!dir_exists(dir)) {
        printf("%s is missing: skipping the csv-spectrum test\n", dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_spectrum)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
