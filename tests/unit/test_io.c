/*
 * test_io.c - embedding files (src/io): number text, the RFC 4180 parser,
 * the CSV / .npy / JSON Lines readers and writers, their limits (at, below
 * and above), corrupted and truncated input, and atomic writes. Python
 * interoperability (pandas, numpy) is checked by tests/scripts/io_python.sh;
 * the csv-spectrum cases by test_csv_spectrum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/csv.h"
#include "io/npy.h"
#include "io/numfmt.h"
#include "sembed.h"

static char tmpdir[4096];

static void tmp_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* Reads bytes in the given format with default limits (or p). */
static sembed_status read_mem(const char *bytes, size_t len, sembed_file_format fmt,
                              const sembed_matrix_read_params *p, sembed_matrix *m,
                              sembed_error *err) {
    sembed_matrix_read_params d = p ? *p : sembed_matrix_read_default_params();
    d.format = fmt;
    return sembed_matrix_read_mem(bytes, len, &d, m, err);
}

#define READ_OK(str, fmt, m)                                                                  \
    do {                                                                                    \
        sembed_error e_;                                                                    \
        if (read_mem(str, sizeof(str) - 1, fmt, NULL, m, &e_) != SEMBED_OK)                 \
            fail_msg("unexpected error: %s", e_.message);                                   \
    } while (0)

/* Expects an error whose message contains `needle`. */
static void read_fails(const char *bytes, size_t len, sembed_file_format fmt,
                       const sembed_matrix_read_params *p, sembed_status want,
                       const char *needle) {
    sembed_matrix m;
    sembed_error err;
    memset(&err, 0, sizeof err);
    sembed_status st = read_mem(bytes, len, fmt, p, &m, &err);
    if (st != want || (needle && !strstr(err.message, needle)))
        fail_msg("want status %d with \"%s\"; got %d: %s", want, needle ? needle : "", st,
                 err.message);
    assert_null(m.data);
    assert_int_equal(m.rows, 0);
}

#define READ_FAILS(str, fmt, want, needle) read_fails(str, sizeof(str) - 1, fmt, NULL, want, needle)

/* ---- numbers --------------------------------------------------------------- */

static void test_format_float(void **state) {
    (void)state;
    static const struct {
        float v;
        const char *s;
    } cases[] = {
        {0.1f, "0.1"},       {1e-5f, "1e-05"},          {-0.02388945f, "-0.02388945"},
        {1.0f, "1.0"},       {0.0f, "0.0"},             {-0.0f, "-0.0"},
        {1e-45f, "1e-45"},   {123456790.0f, "123456790.0"}, {0.0001f, "0.0001"},
        {1e16f, "1e+16"},    {3.4028235e38f, "3.4028235e+38"}, {1.5f, "1.5"},
        {-2.0f, "-2.0"},     {1234567.0f, "1234567.0"},
    };
    char buf[NUMFMT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        numfmt_float(buf, cases[i].v);
        assert_string_equal(buf, cases[i].s);
    }
    /* Random bit patterns round-trip through float32 and through float64. */
    uint32_t x = 12345;
    for (int i = 0; i < 50000; i++) {
        x = x * 1664525u + 1013904223u;
        float v;
        memcpy(&v, &x, 4);
        if (!isfinite(v))
            continue;
        numfmt_float(buf, v);
        float back;
        assert_int_equal(numfmt_parse_float(buf, strlen(buf), &back), NUMFMT_OK);
        if (memcmp(&back, &v, 4) != 0)
            fail_msg("%.9g printed as %s reads back as %.9g", v, buf, back);
        assert_true(strtof(buf, NULL) == v);
    }
}

static void test_format_double(void **state) {
    (void)state;
    char buf[NUMFMT_MAX];
    /* Python's repr of float(np.float32(...)). */
    numfmt_double(buf, (double)0.1f);
    assert_string_equal(buf, "0.10000000149011612");
    numfmt_double(buf, 0.75653076171875);
    assert_string_equal(buf, "0.75653076171875");
    numfmt_double(buf, 1.0);
    assert_string_equal(buf, "1.0");
    numfmt_double(buf, 1e22);
    assert_string_equal(buf, "1e+22");
    numfmt_double(buf, 1.5e-7);
    assert_string_equal(buf, "1.5e-07");
}

static void test_parse_float(void **state) {
    (void)state;
    static const struct {
        const char *s;
        numfmt_status st;
        float v;
    } cases[] = {
        {"1", NUMFMT_OK, 1},        {"-1.5e3", NUMFMT_OK, -1500},  {".5", NUMFMT_OK, 0.5f},
        {"5.", NUMFMT_OK, 5},       {" 1.0 ", NUMFMT_OK, 1},       {"+2", NUMFMT_OK, 2},
        {"1e-999", NUMFMT_OK, 0},   {"1E+2", NUMFMT_OK, 100},      {"nan", NUMFMT_NONFINITE, 0},
        {"NaN", NUMFMT_NONFINITE, 0}, {"inf", NUMFMT_NONFINITE, 0}, {"-inf", NUMFMT_NONFINITE, 0},
        {"Infinity", NUMFMT_NONFINITE, 0}, {"1e999", NUMFMT_RANGE, 0}, {"1e39", NUMFMT_RANGE, 0},
        {"0x1p3", NUMFMT_SYNTAX, 0}, {"1,5", NUMFMT_SYNTAX, 0},   {"", NUMFMT_EMPTY, 0},
        {"  ", NUMFMT_EMPTY, 0},    {"1.0.0", NUMFMT_SYNTAX, 0},  {"e5", NUMFMT_SYNTAX, 0},
        {"+", NUMFMT_SYNTAX, 0},    {"--1", NUMFMT_SYNTAX, 0},    {"1e", NUMFMT_SYNTAX, 0},
        {"1 2", NUMFMT_SYNTAX, 0},  {"abc", NUMFMT_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float v = -99;
        numfmt_status st = numfmt_parse_float(cases[i].s, strlen(cases[i].s), &v);
        if (st != cases[i].st)
            fail_msg("'%s': status %d, want %d", cases[i].s, st, cases[i].st);
        if (st == NUMFMT_OK)
            assert_true(v == cases[i].v);
    }
    /* A 400-digit number is a number. */
    char big[420] = "0.";
    memset(big + 2, '1', 400);
    big[402] = 0;
    float v;
    assert_int_equal(numfmt_parse_float(big, strlen(big), &v), NUMFMT_OK);
    assert_true(fabsf(v - 0.11111111f) < 1e-7f);
    /* Not NUL-terminated: only len bytes count. */
    assert_int_equal(numfmt_parse_float("12345", 2, &v), NUMFMT_OK);
    assert_true(v == 12.0f);
}

/* Results do not depend on LC_NUMERIC (a decimal-comma locale when the
 * system has one; otherwise the check runs in "C" and proves less). */
static void test_locale_independence(void **state) {
    (void)state;
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *set = NULL;
    for (size_t i = 0; i < 4 && !set; i++)
        set = setlocale(LC_NUMERIC, locales[i]);
    if (!set)
        printf("no decimal-comma locale installed: checking in the C locale only\n");
    char buf[NUMFMT_MAX];
    numfmt_float(buf, 0.5f);
    assert_string_equal(buf, "0.5");
    float v;
    assert_int_equal(numfmt_parse_float("1.25", 4, &v), NUMFMT_OK);
    assert_true(v == 1.25f);
    sembed_matrix m;
    READ_OK("0,1\n0.5,1.5\n", SEMBED_FORMAT_CSV, &m);
    assert_true(m.data[0] == 0.5f && m.data[1] == 1.5f);
    sembed_matrix_free(&m);
    setlocale(LC_NUMERIC, "C");
}

/* ---- the CSV record parser ----------------------------------------------- */

/* Parses all records of s; fields joined by '|' and records by '\n'. With
 * bytewise, the input is offered one byte more at a time. */
static int parse_all(const char *s, size_t len, int bytewise, char *out, size_t cap,
                     char *msg) {
    csv_parser p;
    csv_parser_init(&p, 0);
    csv_record rec = {0};
    size_t pos = 0, o = 0, visible = bytewise ? 0 : len;
    int rc = 0;
    out[0] = 0;
    for (;;) {
        size_t used;
        csv_result r = csv_parse_record(&p, s + pos, visible - pos, visible == len, &rec, &used);
        if (r == CSV_NEED_MORE) {
            assert_true(visible < len);
            visible++;
            continue;
        }
        if (r == CSV_ERROR) {
            strcpy(msg, p.msg);
            rc = -1;
            break;
        }
        if (r == CSV_END)
            break;
        pos += used;
        for (size_t i = 0; i < rec.n_fields; i++) {
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : "", (int)rec.fields[i].len,
                                  rec.fields[i].ptr);
        }
        o += (size_t)snprintf(out + o, cap - o, "\n");
    }
    csv_record_free(&rec);
    return rc;
}

static void test_csv_parser(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"a,b\n1,2\n", "a|b\n1|2\n"},
        {"a,b\r\n1,2\r\n", "a|b\n1|2\n"},
        {"a,b\r1,2", "a|b\n1|2\n"},
        {"\xEF\xBB\xBFx,y\n", "x|y\n"},
        {"\"a,b\",\"c\"\"d\"\n", "a,b|c\"d\n"},
        {"\"line\nbreak\",z\n", "line\nbreak|z\n"},
        {"\"cr\r\nlf\",z", "cr\r\nlf|z\n"},
        {"a,,\n", "a||\n"},
        {",\n", "|\n"},
        {"\"\"\n", "\n"},
        {"\n\nx\n", "\n\nx\n"},
        {"only", "only\n"},
    };
    char out[256], msg[256], out2[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (parse_all(ok[i].in, strlen(ok[i].in), 0, out, sizeof out, msg))
            fail_msg("case %zu: %s", i, msg);
        assert_string_equal(out, ok[i].out);
        /* Fed one byte at a time, the parser gives the same records. */
        if (parse_all(ok[i].in, strlen(ok[i].in), 1, out2, sizeof out2, msg))
            fail_msg("case %zu bytewise: %s", i, msg);
        assert_string_equal(out2, ok[i].out);
    }
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"a,b\n1,\"open\n", "line 2, column 3: quoted field is never closed"},
        {"a\"b\n", "line 1, column 2: quote inside an unquoted field"},
        {"x\n\"a\"b\n", "line 2, column 4: unexpected character after a closing quote"},
        {"\xFF\xFE" "a\0,\0", "UTF-16"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].in);
        if (i == 3)
            len = 6;
        assert_int_equal(parse_all(bad[i].in, len, 0, out, sizeof out, msg), -1);
        if (!strstr(msg, bad[i].msg))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, msg, bad[i].msg);
    }
    const char nul[] = "a,b\n1,\0\n";
    assert_int_equal(parse_all(nul, sizeof nul - 1, 0, out, sizeof out, msg), -1);
    assert_non_null(strstr(msg, "line 2, column 3: NUL byte"));
    assert_true(csv_needs_quotes("a,b", 3));
    assert_true(csv_needs_quotes(" a", 2));
    assert_true(csv_needs_quotes("a\"", 2));
    assert_false(csv_needs_quotes("plain text", 10));
}

/* ---- CSV embedding files --------------------------------------------------- */

static void test_csv_read(void **state) {
    (void)state;
    sembed_matrix m;
    /* pandas' DataFrame(emb).to_csv(index=False). */
    READ_OK("0,1,2\n0.1,-0.2,3e-05\n1.0,2.0,3.0\n", SEMBED_FORMAT_CSV, &m);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, 3);
    assert_true(m.data[0] == 0.1f && m.data[1] == -0.2f && m.data[2] == 3e-5f);
    assert_true(m.data[5] == 3.0f);
    assert_null(m.ids);
    assert_null(m.texts);
    sembed_matrix_free(&m);
    assert_null(m.data);
    /* to_csv(index=True): an unnamed first column is skipped. CRLF, a BOM
     * and blank lines are fine. */
    READ_OK("\xEF\xBB\xBF,0,1\r\n0,0.5,0.25\r\n\r\n1,1.5,2.5\r\n", SEMBED_FORMAT_CSV, &m);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, 2);
    assert_true(m.data[2] == 1.5f && m.data[3] == 2.5f);
    sembed_matrix_free(&m);
    /* id and text columns, anywhere, with RFC 4180 quoting. */
    READ_OK("id,0,text,1\nq1,1,\"Hello, \"\"world\"\"\nagain\",2\n7,3,,4\n", SEMBED_FORMAT_CSV,
            &m);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, 2);
    assert_string_equal(m.ids[0], "q1");
    assert_string_equal(m.ids[1], "7");
    assert_string_equal(m.texts[0], "Hello, \"world\"\nagain");
    assert_string_equal(m.texts[1], "");
    assert_true(m.data[0] == 1 && m.data[1] == 2 && m.data[2] == 3 && m.data[3] == 4);
    sembed_matrix_free(&m);
    /* header=False: a first line of non-integer numbers is data. */
    READ_OK("0.5,1.5\n2.5,3.5", SEMBED_FORMAT_CSV, &m);
    assert_int_equal(m.rows, 2);
    assert_true(m.data[0] == 0.5f);
    sembed_matrix_free(&m);
    /* A header only: zero rows. */
    READ_OK("0,1,2\n", SEMBED_FORMAT_CSV, &m);
    assert_int_equal(m.rows, 0);
    assert_int_equal(m.cols, 3);
    assert_non_null(m.data);
    sembed_matrix_free(&m);
}

static void test_csv_errors(void **state) {
    (void)state;
    READ_FAILS("0,1\n1,2\n3\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT,
               "line 3: expected 2 fields, found 1");
    READ_FAILS("0,1\n1,2,3\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT,
               "line 2: expected 2 fields, found 3");
    READ_FAILS("a,b\n1,x\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT,
               "line 2, column \"b\": not a number: \"x\"");
    READ_FAILS("a,b\n1,nan\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "not a finite number");
    READ_FAILS("a,b\n1,\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "empty cell");
    READ_FAILS("a,b\n1,1e39\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "out of float32 range");
    READ_FAILS("a,b\n1,\"2\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "never closed");
    READ_FAILS("a,b\n1,2\"\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "quote inside");
    READ_FAILS("", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "empty CSV file");
    READ_FAILS("\n\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "empty CSV file");
    READ_FAILS("id,text\nx,y\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "no embedding columns");
    READ_FAILS("id,id,0\n", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "two \"id\" columns");
    const char nul[] = "0,1\n1,\0002\n";
    read_fails(nul, sizeof nul - 1, SEMBED_FORMAT_CSV, NULL, SEMBED_ERR_FORMAT, "NUL byte");
    READ_FAILS("\xFF\xFE" "0", SEMBED_FORMAT_CSV, SEMBED_ERR_FORMAT, "UTF-16");
}

static void test_csv_limits(void **state) {
    (void)state;
    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    assert_int_equal(p.format, SEMBED_FORMAT_AUTO);
    assert_int_equal(p.max_rows, 100000000);
    assert_int_equal(p.max_cols, 65536);
    assert_int_equal(p.max_line_bytes, 16u << 20);
    assert_int_equal(p.max_header_bytes, 10000);
    sembed_matrix m;
    sembed_error err;
    const char three[] = "0,1,2\n1,2,3\n4,5,6\n";
    /* max_cols at, below (ok) and above (error). */
    p.format = SEMBED_FORMAT_CSV;
    p.max_cols = 3;
    assert_int_equal(sembed_matrix_read_mem(three, sizeof three - 1, &p, &m, &err), SEMBED_OK);
    sembed_matrix_free(&m);
    p.max_cols = 2;
    read_fails(three, sizeof three - 1, SEMBED_FORMAT_CSV, &p, SEMBED_ERR_LIMIT, "limit of 2");
    p.max_cols = 65536;
    /* max_rows. */
    p.max_rows = 2;
    assert_int_equal(sembed_matrix_read_mem(three, sizeof three - 1, &p, &m, &err), SEMBED_OK);
    sembed_matrix_free(&m);
    p.max_rows = 1;
    read_fails(three, sizeof three - 1, SEMBED_FORMAT_CSV, &p, SEMBED_ERR_LIMIT,
               "more than 1 rows");
    p.max_rows = 100;
    /* max_line_bytes: each record here is 6 bytes with its newline. */
    p.max_line_bytes = 6;
    assert_int_equal(sembed_matrix_read_mem(three, sizeof three - 1, &p, &m, &err), SEMBED_OK);
    sembed_matrix_free(&m);
    p.max_line_bytes = 5;
    read_fails(three, sizeof three - 1, SEMBED_FORMAT_CSV, &p, SEMBED_ERR_LIMIT,
               "longer than 5 bytes");
    /* The default column limit itself: 65536 columns pass, 65537 fail. */
    size_t cap = 65537 * 8 * 2 + 16;
    char *wide = malloc(cap);
    assert_non_null(wide);
    for (size_t ncol = 65536; ncol <= 65537; ncol++) {
        size_t o = 0;
        for (size_t j = 0; j < ncol; j++)
            o += (size_t)sprintf(wide + o, j ? ",%zu" : "%zu", j);
        wide[o++] = '\n';
        for (size_t j = 0; j < ncol; j++)
            o += (size_t)sprintf(wide + o, j ? ",1" : "1");
        wide[o++] = '\n';
        sembed_status st = read_mem(wide, o, SEMBED_FORMAT_CSV, NULL, &m, &err);
        if (ncol == 65536) {
            assert_int_equal(st, SEMBED_OK);
            assert_int_equal(m.cols, 65536);
            sembed_matrix_free(&m);
        } else {
            assert_int_equal(st, SEMBED_ERR_LIMIT);
        }
    }
    free(wide);
}

/* ---- .npy ------------------------------------------------------------------- */

/* Builds a .npy file: magic, version, header dict (padded to 64), data. */
static size_t make_npy(char *buf, int major, const char *dict, const void *data, size_t n) {
    size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (prefix + dl + 1 + 63) / 64 * 64, hl = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)major;
    buf[7] = 0;
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)((hl >> 8) & 0xff);
    if (major > 1) {
        buf[10] = (char)((hl >> 16) & 0xff);
        buf[11] = (char)((hl >> 24) & 0xff);
    }
    memcpy(buf + prefix, dict, dl);
    memset(buf + prefix + dl, ' ', hl - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, n);
    return total + n;
}

static void test_npy_read(void **state) {
    (void)state;
    char buf[1024];
    const float f[6] = {1, 2, 3, 4, 5, -0.5f};
    sembed_matrix m;
    sembed_error err;
    for (int major = 1; major <= 3; major++) {
        size_t n = make_npy(buf, major,
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f,
                            sizeof f);
        assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
        assert_int_equal(m.rows, 2);
        assert_int_equal(m.cols, 3);
        assert_memory_equal(m.data, f, sizeof f);
        sembed_matrix_free(&m);
    }
    /* float64, big-endian float32 and float64: converted. */
    const double d[2] = {0.1, -2.5};
    size_t n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", d,
                        sizeof d);
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
    assert_true(m.data[0] == 0.1f && m.data[1] == -2.5f);
    sembed_matrix_free(&m);
    unsigned char be4[8], be8[16];
    for (int i = 0; i < 2; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int b = 0; b < 4; b++)
            be4[i * 4 + b] = (unsigned char)(u >> (24 - 8 * b));
        uint64_t w;
        memcpy(&w, &d[i], 8);
        for (int b = 0; b < 8; b++)
            be8[i * 8 + b] = (unsigned char)(w >> (56 - 8 * b));
    }
    n = make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be4, 8);
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
    assert_int_equal(m.rows, 1); /* 1-D: one row */
    assert_int_equal(m.cols, 2);
    assert_true(m.data[0] == 1 && m.data[1] == 2);
    sembed_matrix_free(&m);
    n = make_npy(buf, 2, "{\"descr\": \">f8\", \"fortran_order\": False, \"shape\": (2L, 1L)}", be8,
                 16);
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
    assert_int_equal(m.rows, 2);
    assert_true(m.data[0] == 0.1f && m.data[1] == -2.5f);
    sembed_matrix_free(&m);
    /* Keys in any order; Fortran order of a single row is the same layout. */
    n = make_npy(buf, 1, "{'shape': (1, 3), 'fortran_order': True, 'descr': '<f4'}", f, 12);
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
    sembed_matrix_free(&m);
    /* An empty (0, 4) array. */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", f, 0);
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
    assert_int_equal(m.rows, 0);
    assert_int_equal(m.cols, 4);
    sembed_matrix_free(&m);
}

static void npy_fails(const char *dict, int major, const void *data, size_t n, sembed_status st,
                      const char *needle) {
    char buf[1024];
    size_t len = make_npy(buf, major, dict, data, n);
    read_fails(buf, len, SEMBED_FORMAT_NPY, NULL, st, needle);
}

static void test_npy_errors(void **state) {
    (void)state;
    const float f[8] = {0};
    npy_fails("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, f, 24,
              SEMBED_ERR_UNSUPPORTED, "Fortran-order");
    npy_fails("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 1, f, 4,
              SEMBED_ERR_UNSUPPORTED, "'<f2' is not supported");
    npy_fails("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 1, f, 8,
              SEMBED_ERR_UNSUPPORTED, "dtype");
    npy_fails("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 1, f, 8,
              SEMBED_ERR_UNSUPPORTED, "float32 or float64 only");
    npy_fails("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 1, f, 4,
              SEMBED_ERR_UNSUPPORTED, "structured");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, f, 20,
              SEMBED_ERR_FORMAT, "needs 24 data bytes but the file has 20 (truncated)");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, f, 28,
              SEMBED_ERR_FORMAT, "needs 24 data bytes but the file has 28");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, "
              "4611686018427387904), }",
              1, f, 8, SEMBED_ERR_FORMAT, "overflows");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 1, f, 8,
              SEMBED_ERR_FORMAT, "non-negative integers");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': ((2), 3), }", 1, f, 8,
              SEMBED_ERR_FORMAT, "bad .npy header");
    npy_fails("{'descr': '<f4', 'fortran_order': False}", 1, f, 8, SEMBED_ERR_FORMAT,
              "missing key");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 1, f, 8,
              SEMBED_ERR_FORMAT, "unexpected key");
    npy_fails("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 1, f, 8,
              SEMBED_ERR_FORMAT, "duplicate key");
    npy_fails("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 1, f, 8, SEMBED_ERR_FORMAT,
              "True or False");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", 1, f, 32,
              SEMBED_ERR_UNSUPPORTED, "3 dimensions");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, f, 4,
              SEMBED_ERR_UNSUPPORTED, "0 dimensions");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }", 1, f, 0,
              SEMBED_ERR_FORMAT, "length 0");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 1, f, 8,
              SEMBED_ERR_FORMAT, "text after the dict");
    const float nanv[2] = {1, NAN};
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 1, nanv, 8,
              SEMBED_ERR_FORMAT, "row 0, column 1 is NaN");
    const double huge[1] = {1e300};
    npy_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", 1, huge, 8,
              SEMBED_ERR_FORMAT, "out of float32 range");
    /* Magic and versions. */
    char buf[256];
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f, 4);
    buf[1] = 'X';
    read_fails(buf, n, SEMBED_FORMAT_NPY, NULL, SEMBED_ERR_FORMAT, "bad magic");
    buf[1] = 'N';
    const int versions[][2] = {{0, 0}, {4, 0}, {1, 1}};
    for (int i = 0; i < 3; i++) {
        buf[6] = (char)versions[i][0];
        buf[7] = (char)versions[i][1];
        read_fails(buf, n, SEMBED_FORMAT_NPY, NULL, SEMBED_ERR_UNSUPPORTED, "version");
    }
    buf[6] = 1;
    buf[7] = 0;
    /* Header length past the end of the file. */
    buf[8] = (char)0xff;
    buf[9] = 0x0f;
    read_fails(buf, n, SEMBED_FORMAT_NPY, NULL, SEMBED_ERR_FORMAT, "truncated");
}

/* Every prefix of a valid file is refused, never read as a smaller one. */
static void test_npy_truncation(void **state) {
    (void)state;
    char buf[256];
    const float f[4] = {1, 2, 3, 4};
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f,
                        sizeof f);
    for (size_t len = 0; len < n; len++) {
        sembed_matrix m;
        sembed_error err;
        assert_int_not_equal(read_mem(buf, len, SEMBED_FORMAT_NPY, NULL, &m, &err), SEMBED_OK);
        assert_null(m.data);
    }
}

static void test_npy_header_limit(void **state) {
    (void)state;
    /* A header length of exactly 1014 passes a 1014 limit and fails 1013. */
    char dict[1100];
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }");
    char buf[2048];
    const float f[1] = {7};
    size_t dl = strlen(dict);
    memset(dict + dl, ' ', 1013 - dl);
    dict[1013] = 0;
    size_t n = make_npy(buf, 1, dict, f, 4);
    /* Padded to 64 bytes: 10 + 1014 = 1024. */
    assert_int_equal((unsigned char)buf[8] | (unsigned char)buf[9] << 8, 1014);
    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    sembed_matrix m;
    p.max_header_bytes = 1014;
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, &p, &m, NULL), SEMBED_OK);
    sembed_matrix_free(&m);
    p.max_header_bytes = 1013;
    read_fails(buf, n, SEMBED_FORMAT_NPY, &p, SEMBED_ERR_LIMIT, "exceeds the limit of 1013");
    /* numpy's own cap (10000) is the default. */
    p = sembed_matrix_read_default_params();
    p.max_rows = 0;
    read_fails(buf, n, SEMBED_FORMAT_NPY, &p, SEMBED_ERR_INVALID_ARGUMENT, "positive");
    p = sembed_matrix_read_default_params();
    p.max_rows = 1;
    p.max_cols = 1;
    assert_int_equal(read_mem(buf, n, SEMBED_FORMAT_NPY, &p, &m, NULL), SEMBED_OK);
    sembed_matrix_free(&m);
}

/* ---- JSON Lines ----------------------------------------------------------- */

static void test_jsonl(void **state) {
    (void)state;
    sembed_matrix m;
    READ_OK("[0.5, 1, -2e-3]\n\n  \n[1.5,2,3]", SEMBED_FORMAT_JSONL, &m);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, 3);
    assert_true(m.data[2] == -2e-3f && m.data[3] == 1.5f);
    assert_null(m.ids);
    sembed_matrix_free(&m);
    READ_OK("\xEF\xBB\xBF{\"id\": 5, \"text\": \"a\\nb\", \"embedding\": [1, 2], \"x\": {}}\r\n"
            "{\"embedding\": [3, 4], \"id\": \"k\"}\n",
            SEMBED_FORMAT_JSONL, &m);
    assert_int_equal(m.rows, 2);
    assert_string_equal(m.ids[0], "5");
    assert_string_equal(m.ids[1], "k");
    assert_string_equal(m.texts[0], "a\nb");
    assert_null(m.texts[1]);
    sembed_matrix_free(&m);
    READ_FAILS("[1,2]\n[1,2,3]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT,
               "line 2: 3 values, but line 1 had 2");
    READ_FAILS("[1,2]\n[1,\"x\"]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT,
               "line 2: element 1 is not a number");
    READ_FAILS("[1,2]\n[1,\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "line 2: invalid JSON");
    READ_FAILS("[1, NaN]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "invalid JSON");
    READ_FAILS("[1, 1e39]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "out of float32 range");
    READ_FAILS("{\"text\": \"x\"}\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "no \"embedding\"");
    READ_FAILS("{\"id\": [1], \"embedding\": [1]}\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT,
               "\"id\" must be");
    READ_FAILS("[]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "empty embedding");
    READ_FAILS("\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "empty JSON Lines");
    READ_FAILS("[\"\xff\"]\n", SEMBED_FORMAT_JSONL, SEMBED_ERR_FORMAT, "invalid JSON");
    /* Limits. */
    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    const char two[] = "[1,2]\n[3,4]\n";
    p.max_line_bytes = 5;
    p.format = SEMBED_FORMAT_JSONL;
    assert_int_equal(sembed_matrix_read_mem(two, sizeof two - 1, &p, &m, NULL), SEMBED_OK);
    sembed_matrix_free(&m);
    p.max_line_bytes = 4;
    read_fails(two, sizeof two - 1, SEMBED_FORMAT_JSONL, &p, SEMBED_ERR_LIMIT,
               "longer than 4 bytes");
    p.max_line_bytes = 100;
    p.max_cols = 1;
    read_fails(two, sizeof two - 1, SEMBED_FORMAT_JSONL, &p, SEMBED_ERR_LIMIT, "limit of 1");
    p.max_cols = 2;
    p.max_rows = 1;
    read_fails(two, sizeof two - 1, SEMBED_FORMAT_JSONL, &p, SEMBED_ERR_LIMIT, "more than 1 rows");
}

/* ---- writing and files ----------------------------------------------------- */

static int count_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static void test_write_round_trip(void **state) {
    (void)state;
    float data[3 * 4] = {0.1f, -0.0f, 3.4028235e38f, 1e-45f, 1, 2, 3, 4, -1e-7f, 5.5f, 6, 7};
    char *ids[3] = {"a", "=SUM(A1)", NULL};
    char *texts[3] = {"plain", "comma, \"quote\"\nnewline", " spaced "};
    sembed_matrix m = {.rows = 3, .cols = 4, .data = data, .ids = ids, .texts = texts};
    const char *names[] = {"rt.csv", "rt.jsonl", "rt.npy"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        tmp_path(path, sizeof path, names[i]);
        sembed_error err;
        if (sembed_matrix_write(path, &m, NULL, &err) != SEMBED_OK)
            fail_msg("%s", err.message);
        sembed_matrix r;
        if (sembed_matrix_read(path, NULL, &r, &err) != SEMBED_OK)
            fail_msg("%s", err.message);
        assert_int_equal(r.rows, 3);
        assert_int_equal(r.cols, 4);
        assert_memory_equal(r.data, data, sizeof data);
        if (i < 2) {
            assert_string_equal(r.ids[0], "a");
            assert_string_equal(r.ids[1], "=SUM(A1)");
            assert_true(r.ids[2] == NULL || r.ids[2][0] == 0);
            for (int k = 0; k < 3; k++)
                assert_string_equal(r.texts[k], texts[k]);
        } else {
            assert_null(r.ids);
            assert_null(r.texts);
        }
        sembed_matrix_free(&r);
    }
    assert_int_equal(count_tmp_files(), 0);
    /* The npy header is what numpy writes: v1.0, padded to 64 bytes. */
    char path[4200];
    tmp_path(path, sizeof path, "rt.npy");
    FILE *fp = fopen(path, "rb");
    char head[128];
    assert_int_equal(fread(head, 1, 128, fp), 128);
    fclose(fp);
    assert_memory_equal(head, "\x93NUMPY\x01\x00\x76\x00", 10);
    assert_memory_equal(head + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
                        59);
    assert_int_equal(head[127], '\n');
    /* CSV formula escaping on request. */
    sembed_matrix_write_params wp = sembed_matrix_write_default_params();
    assert_int_equal(wp.csv_escape_formulas, 0);
    wp.csv_escape_formulas = 1;
    tmp_path(path, sizeof path, "esc.csv");
    assert_int_equal(sembed_matrix_write(path, &m, &wp, NULL), SEMBED_OK);
    sembed_matrix r;
    assert_int_equal(sembed_matrix_read(path, NULL, &r, NULL), SEMBED_OK);
    assert_string_equal(r.ids[1], "'=SUM(A1)");
    assert_true(r.data[2] == 3.4028235e38f); /* numbers are never escaped */
    sembed_matrix_free(&r);
}

static void test_write_errors(void **state) {
    (void)state;
    float data[2] = {1, 2};
    sembed_matrix m = {.rows = 1, .cols = 2, .data = data};
    char path[4200];
    sembed_error err;
    /* A failed write leaves the old file as it was and no temporary file. */
    tmp_path(path, sizeof path, "keep.npy");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, &err), SEMBED_OK);
    data[1] = NAN;
    assert_int_equal(sembed_matrix_write(path, &m, NULL, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "row 0, column 1"));
    sembed_matrix r;
    assert_int_equal(sembed_matrix_read(path, NULL, &r, NULL), SEMBED_OK);
    assert_true(r.data[1] == 2);
    sembed_matrix_free(&r);
    assert_int_equal(count_tmp_files(), 0);
    data[1] = 2;
    /* Unknown extension, missing folder, invalid UTF-8 text in JSON. */
    tmp_path(path, sizeof path, "x.txt");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, &err), SEMBED_ERR_INVALID_ARGUMENT);
    tmp_path(path, sizeof path, "no/such/dir/x.npy");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, &err), SEMBED_ERR_IO);
    char *bad_text[1] = {"\xff"};
    m.texts = bad_text;
    tmp_path(path, sizeof path, "bad.jsonl");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_tmp_files(), 0);
    /* Reading: missing file, a folder, unknown extension, mem without format. */
    tmp_path(path, sizeof path, "missing.npy");
    assert_int_equal(sembed_matrix_read(path, NULL, &r, &err), SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "missing.npy"));
    assert_int_not_equal(sembed_matrix_read(tmpdir, NULL, &r, &err), SEMBED_OK);
    tmp_path(path, sizeof path, "x.bin");
    assert_int_equal(sembed_matrix_read(path, NULL, &r, &err), SEMBED_ERR_INVALID_ARGUMENT);
    sembed_matrix_read_params p = sembed_matrix_read_default_params();
    assert_int_equal(sembed_matrix_read_mem("[1]", 3, &p, &r, &err), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(sembed_file_format_from_path("a/b.NPY"), SEMBED_FORMAT_NPY);
    assert_int_equal(sembed_file_format_from_path("a.ndjson"), SEMBED_FORMAT_JSONL);
    assert_int_equal(sembed_file_format_from_path("a.csv/x"), SEMBED_FORMAT_AUTO);
    sembed_matrix_free(NULL);
}

/* A file larger than the reader's chunk, so that records straddle reads. */
static void test_large_csv_file(void **state) {
    (void)state;
    const size_t rows = 30000, cols = 8;
    float *data = malloc(rows * cols * sizeof(float));
    for (size_t i = 0; i < rows * cols; i++)
        data[i] = (float)i * 0.001f - 7.0f;
    sembed_matrix m = {.rows = rows, .cols = cols, .data = data};
    char path[4200];
    tmp_path(path, sizeof path, "large.csv");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, NULL), SEMBED_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (1 << 20));
    sembed_matrix r;
    assert_int_equal(sembed_matrix_read(path, NULL, &r, NULL), SEMBED_OK);
    assert_int_equal(r.rows, rows);
    assert_memory_equal(r.data, data, rows * cols * sizeof(float));
    sembed_matrix_free(&r);
    tmp_path(path, sizeof path, "large.jsonl");
    assert_int_equal(sembed_matrix_write(path, &m, NULL, NULL), SEMBED_OK);
    assert_int_equal(sembed_matrix_read(path, NULL, &r, NULL), SEMBED_OK);
    assert_memory_equal(r.data, data, rows * cols * sizeof(float));
    sembed_matrix_free(&r);
    free(data);
}

static int setup(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sembed-test-io-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_float),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_parse_float),
        cmocka_unit_test(test_locale_independence),
        cmocka_unit_test(test_csv_parser),
        cmocka_unit_test(test_csv_read),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_csv_limits),
        cmocka_unit_test(test_npy_read),
        cmocka_unit_test(test_npy_errors),
        cmocka_unit_test(test_npy_truncation),
        cmocka_unit_test(test_npy_header_limit),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_large_csv_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
