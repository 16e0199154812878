/*
 * test_safetensors.c - every validation rule of the safetensors reader
 * (robustness cases ML-01..ML-09, ML-15, ML-16), on byte images built in
 * memory. Images are parsed from the very end of a readable page with a
 * PROT_NONE page after them, so that a one-byte over-read crashes the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "model/safetensors.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct guarded {
    uint8_t *base;
    size_t total;
    uint8_t *data;
} guarded;

/* Copies len bytes so that they end exactly where an inaccessible page
 * begins. */
static guarded guard(const uint8_t *bytes, size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    if (body == 0)
        body = page;
    guarded g;
    g.total = body + page;
    g.base = mmap(NULL, g.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.base != MAP_FAILED);
    assert_int_equal(mprotect(g.base + body, page, PROT_NONE), 0);
    g.data = g.base + body - len;
    if (len)
        memcpy(g.data, bytes, len);
    return g;
}

static void unguard(guarded *g) {
    munmap(g->base, g->total);
}

/* 8-byte length + header + data_len bytes (0, 1, 2, ...). */
static uint8_t *image(const char *header, size_t hlen, size_t data_len, size_t *len) {
    *len = 8 + hlen + data_len;
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hlen + i] = (uint8_t)i;
    return b;
}

/* Parses header + data_len bytes from a guarded copy; returns the status
 * and leaves the message in err. */
static sembed_status parse_str(const char *header, size_t data_len, sembed_error *err) {
    size_t len;
    uint8_t *b = image(header, strlen(header), data_len, &len);
    guarded g = guard(b, len);
    safetensors_file f;
    sembed_status rc = safetensors_parse(g.data, len, "model.safetensors", &f, err);
    safetensors_close(&f);
    unguard(&g);
    free(b);
    return rc;
}

static void expect_error(const char *header, size_t data_len, sembed_status want,
                         const char *needle) {
    sembed_error err;
    memset(&err, 0, sizeof err);
    sembed_status rc = parse_str(header, data_len, &err);
    if (rc != want || (needle && !strstr(err.message, needle)))
        fail_msg("header %.120s: got status %d \"%s\", want %d with \"%s\"", header, rc,
                 err.message, want, needle ? needle : "");
    /* Every message names the file. */
    assert_non_null(strstr(err.message, "model.safetensors"));
}

static const char *VALID =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"a.bias\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
    "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[30,32]}}   ";

/* ---- valid files ------------------------------------------------------ */

static void test_valid(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = image(VALID, strlen(VALID), 32, &len);
    guarded g = guard(b, len);
    safetensors_file f;
    sembed_error err;
    assert_int_equal(safetensors_parse(g.data, len, "x.safetensors", &f, &err), SEMBED_OK);
    assert_int_equal(f.n_tensors, 3);
    /* Sorted by name. */
    assert_string_equal(f.tensors[0].name, "a.bias");
    assert_string_equal(f.tensors[1].name, "b.weight");
    assert_string_equal(f.tensors[2].name, "c");
    const st_tensor *t = safetensors_find(&f, "b.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->n_elements, 6);
    const uint8_t *data = g.data + 8 + strlen(VALID);
    assert_ptr_equal(t->data, data);
    t = safetensors_find(&f, "a.bias");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F16);
    assert_ptr_equal(t->data, data + 24);
    assert_int_equal(((const uint8_t *)t->data)[0], 24);
    t = safetensors_find(&f, "c");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elements, 1);
    assert_null(safetensors_find(&f, "d"));
    assert_null(safetensors_find(&f, "a"));
    assert_null(safetensors_find(&f, "__metadata__"));
    safetensors_close(&f);
    safetensors_close(&f); /* idempotent */
    unguard(&g);
    free(b);
}

static void test_dtypes(void **state) {
    (void)state;
    static const struct {
        const char *name;
        size_t size;
    } want[] = {{"F32", 4}, {"F16", 2},  {"BF16", 2}, {"F64", 8},     {"I64", 8},
                {"I32", 4}, {"I16", 2},  {"I8", 1},   {"U8", 1},      {"BOOL", 1},
                {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int d = safetensors_dtype_from_name(want[i].name);
        assert_true(d >= 0);
        assert_int_equal(safetensors_dtype_size((st_dtype)d), want[i].size);
        assert_string_equal(safetensors_dtype_name((st_dtype)d), want[i].name);
        char h[160];
        snprintf(h, sizeof h, "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}",
                 want[i].name, 3 * want[i].size);
        sembed_error err;
        assert_int_equal(parse_str(h, 3 * want[i].size, &err), SEMBED_OK);
    }
    assert_int_equal(safetensors_dtype_from_name("f32"), -1);
    assert_int_equal(safetensors_dtype_size(ST_DTYPE_COUNT), 0);
}

static void test_empty_file_and_zero_size(void **state) {
    (void)state;
    sembed_error err;
    /* No tensors at all. */
    assert_int_equal(parse_str("{}", 0, &err), SEMBED_OK);
    assert_int_equal(parse_str("{\"__metadata__\":{}}", 0, &err), SEMBED_OK);
    assert_int_equal(parse_str("{\"__metadata__\":null}", 0, &err), SEMBED_OK);
    /* Zero-size tensors may share an offset with each other and with the
     * next tensor, as the reference allows (documented in docs/MODEL.md). */
    assert_int_equal(parse_str("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]},"
                               "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                               "\"d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}",
                               2, &err),
                     SEMBED_OK);
    /* Trailing JSON whitespace after the object is padding. */
    assert_int_equal(parse_str("{} \t\r\n  ", 0, &err), SEMBED_OK);
}

/* ---- ML-01 / ML-02: header length ------------------------------------- */

static void test_short_files(void **state) {
    (void)state;
    uint8_t zeros[8] = {0};
    for (size_t len = 0; len <= 8; len++) {
        guarded g = guard(zeros, len);
        safetensors_file f;
        sembed_error err;
        sembed_status rc = safetensors_parse(g.data, len, "model.safetensors", &f, &err);
        assert_int_equal(rc, SEMBED_ERR_FORMAT);
        if (len < 8)
            assert_non_null(strstr(err.message, "header too small"));
        assert_null(f.tensors);
        unguard(&g);
    }
    /* NULL buffer with a length is an argument error, not a crash. */
    safetensors_file f;
    assert_int_equal(safetensors_parse(NULL, 10, "x", &f, NULL), SEMBED_ERR_INVALID_ARGUMENT);
    assert_int_equal(safetensors_parse(NULL, 0, "x", &f, NULL), SEMBED_ERR_FORMAT);
}

static void test_header_length(void **state) {
    (void)state;
    const char *h = "{}";
    size_t len;
    uint8_t *b = image(h, 2, 0, &len);
    const uint64_t bad[] = {UINT64_MAX, (uint64_t)len, (uint64_t)len - 7, 100000001u,
                            (uint64_t)1 << 63, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int k = 0; k < 8; k++)
            b[k] = (uint8_t)(bad[i] >> (8 * k));
        guarded g = guard(b, len);
        safetensors_file f;
        sembed_error err;
        assert_int_equal(safetensors_parse(g.data, len, "model.safetensors", &f, &err),
                         SEMBED_ERR_FORMAT);
        if (bad[i] != 3)
            assert_non_null(strstr(err.message, "header length"));
        unguard(&g);
    }
    free(b);
}

/* ---- ML-03: header text ----------------------------------------------- */

static void test_header_text(void **state) {
    (void)state;
    expect_error("[]", 0, SEMBED_ERR_FORMAT, "start with '{'");
    expect_error("1234", 0, SEMBED_ERR_FORMAT, "start with '{'");
    expect_error(" {}", 0, SEMBED_ERR_FORMAT, "start with '{'");
    expect_error("{} x", 0, SEMBED_ERR_FORMAT, "invalid JSON");
    expect_error("{}{}", 0, SEMBED_ERR_FORMAT, "invalid JSON");
    expect_error("{\"a\":", 0, SEMBED_ERR_FORMAT, "invalid JSON");
    expect_error("{\"\xff\":1}", 0, SEMBED_ERR_FORMAT, "UTF-8");
    expect_error("{\"\xc0\xaf\":1}", 0, SEMBED_ERR_FORMAT, "UTF-8");       /* overlong */
    expect_error("{\"\xed\xa0\x80\":1}", 0, SEMBED_ERR_FORMAT, "UTF-8");   /* surrogate */
    expect_error("{\"\xf4\x90\x80\x80\":1}", 0, SEMBED_ERR_FORMAT, "UTF-8"); /* > U+10FFFF */
    expect_error("{\"\xe2\x82\":1}", 0, SEMBED_ERR_FORMAT, "UTF-8");       /* cut sequence */
    expect_error("{\"a\":\"\\u0000\"}", 0, SEMBED_ERR_FORMAT, NULL);
    /* A NUL byte inside the header. */
    size_t len;
    uint8_t *b = image("{\"a\":1}\0 ", 9, 0, &len);
    guarded g = guard(b, len);
    safetensors_file f;
    sembed_error err;
    assert_int_equal(safetensors_parse(g.data, len, "model.safetensors", &f, &err),
                     SEMBED_ERR_FORMAT);
    unguard(&g);
    free(b);
    /* Valid non-ASCII names are fine. */
    assert_int_equal(
        parse_str("{\"\xc3\xa9t\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                  1, &err),
        SEMBED_OK);
}

static void test_nesting_and_counts(void **state) {
    (void)state;
    char deep[4096];
    size_t n = 0;
    deep[n++] = '{';
    n += (size_t)sprintf(deep + n, "\"__metadata__\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    expect_error(deep, 0, SEMBED_ERR_LIMIT, "nested deeper");
    /* A huge shape array is refused before a tree is built. */
    size_t cap = 17u * 100001u * 2 + 256;
    char *big = malloc(cap);
    assert_non_null(big);
    n = (size_t)sprintf(big, "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,0],\"shape\":[");
    for (size_t i = 0; i < 17u * 100001u; i++)
        n += (size_t)sprintf(big + n, i ? ",1" : "1");
    n += (size_t)sprintf(big + n, "]}}");
    expect_error(big, 0, SEMBED_ERR_LIMIT, "JSON values");
    free(big);
}

/* ---- ML-04: duplicates ------------------------------------------------ */

static void test_duplicates(void **state) {
    (void)state;
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}",
                 8, SEMBED_ERR_FORMAT, "duplicate");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                 "\"data_offsets\":[0,4]}}",
                 4, SEMBED_ERR_FORMAT, "duplicate");
}

/* ---- ML-05: offsets --------------------------------------------------- */

static void test_offsets(void **state) {
    (void)state;
    /* First tensor not at 0. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
                 SEMBED_ERR_FORMAT, "tensor 'a': data_offsets [4, 8] the first tensor");
    /* A gap. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
                 10, SEMBED_ERR_FORMAT, "tensor 'b'");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
                 10, SEMBED_ERR_FORMAT, "gap");
    /* An overlap. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
                 6, SEMBED_ERR_FORMAT, "overlap");
    /* Two tensors on the same bytes. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                 4, SEMBED_ERR_FORMAT, "overlap");
    /* end < begin. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                 SEMBED_ERR_FORMAT, "end before");
    /* End past the buffer. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 4,
                 SEMBED_ERR_FORMAT, "past the end");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                 "[0,9223372036854775807]}}",
                 4, SEMBED_ERR_FORMAT, "tensor 'a'");
    /* Trailing bytes after the last tensor (no polyglot files). */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 5,
                 SEMBED_ERR_FORMAT, "1 bytes after the last tensor");
    expect_error("{}", 1, SEMBED_ERR_FORMAT, "after the last tensor");
    /* Offsets that are not two non-negative integers. */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0]}}", 0,
                 SEMBED_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0,0]}}", 0,
                 SEMBED_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,-1]}}", 0,
                 SEMBED_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0.0,0]}}", 0,
                 SEMBED_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":{\"b\":0}}}", 0,
                 SEMBED_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                 "[0,18446744073709551616]}}",
                 1, SEMBED_ERR_FORMAT, "invalid JSON");
    /* Out-of-order entries in the header are fine when the offsets tile. */
    sembed_error err;
    assert_int_equal(parse_str("{\"z\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]},"
                               "\"y\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
                               5, &err),
                     SEMBED_OK);
}

/* ---- ML-06: shapes ---------------------------------------------------- */

static void test_shapes(void **state) {
    (void)state;
    /* safetensors-cpp's overflow: the product wraps to 16 bytes in 64 bits. */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4194305,4194305,211106198978564],"
                 "\"data_offsets\":[0,16]}}",
                 16, SEMBED_ERR_FORMAT, "overflow");
    expect_error("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                 "\"data_offsets\":[0,0]}}",
                 0, SEMBED_ERR_FORMAT, "overflow");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape[1]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape[0]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "shape is not an array");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,1]}}",
                 1, SEMBED_ERR_FORMAT, "9 dimensions");
    /* Shape and byte count disagree. */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "need 8");
    sembed_error err;
    assert_int_equal(parse_str("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],"
                               "\"data_offsets\":[0,2]}}",
                               2, &err),
                     SEMBED_OK);
}

/* ---- ML-07: dtypes and entries ---------------------------------------- */

static void test_entries(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "tensor 'a': unknown dtype \"F33\"");
    expect_error("{\"a\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "unknown dtype");
    expect_error("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 SEMBED_ERR_FORMAT, "dtype is not a string");
    expect_error("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                 SEMBED_ERR_UNSUPPORTED, "C64");
    expect_error("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
                 SEMBED_ERR_UNSUPPORTED, "F4");
    expect_error("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SEMBED_ERR_FORMAT,
                 "missing \"dtype\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, SEMBED_ERR_FORMAT,
                 "missing \"shape\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SEMBED_ERR_FORMAT,
                 "missing \"data_offsets\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                 SEMBED_ERR_FORMAT, "unknown key \"x\"");
    expect_error("{\"a\":[1,2]}", 0, SEMBED_ERR_FORMAT, "tensor 'a': entry is not");
    expect_error("{\"a\":null}", 0, SEMBED_ERR_FORMAT, "entry is not");
    /* The message names the tensor in the form the loader reports it. */
    expect_error("{\"encoder.layer.0.attention.self.query.weight\":{\"dtype\":\"F32\","
                 "\"shape\":[2],\"data_offsets\":[0,4]}}",
                 4, SEMBED_ERR_FORMAT,
                 "model.safetensors: tensor 'encoder.layer.0.attention.self.query.weight': ");
}

/* ---- ML-08: metadata -------------------------------------------------- */

static void test_metadata(void **state) {
    (void)state;
    expect_error("{\"__metadata__\":{\"format\":1}}", 0, SEMBED_ERR_FORMAT, "not a string");
    expect_error("{\"__metadata__\":{\"format\":{\"a\":\"b\"}}}", 0, SEMBED_ERR_FORMAT,
                 "not a string");
    expect_error("{\"__metadata__\":[\"pt\"]}", 0, SEMBED_ERR_FORMAT, "not a JSON object");
    expect_error("{\"__metadata__\":\"pt\"}", 0, SEMBED_ERR_FORMAT, "not a JSON object");
    /* 2 MB of metadata: over the bound. */
    size_t n = 2u << 20;
    char *h = malloc(n + 64);
    assert_non_null(h);
    int k = sprintf(h, "{\"__metadata__\":{\"big\":\"");
    memset(h + k, 'x', n);
    strcpy(h + k + n, "\"}}");
    expect_error(h, 0, SEMBED_ERR_LIMIT, "__metadata__");
    /* Just under the bound is accepted. */
    n = SAFETENSORS_MAX_METADATA_BYTES - 3;
    k = sprintf(h, "{\"__metadata__\":{\"big\":\"");
    memset(h + k, 'x', n);
    strcpy(h + k + n, "\"}}");
    sembed_error err;
    assert_int_equal(parse_str(h, 0, &err), SEMBED_OK);
    free(h);
    /* Too many entries. */
    char *m = malloc(64 * 2000);
    assert_non_null(m);
    size_t p = (size_t)sprintf(m, "{\"__metadata__\":{");
    for (int i = 0; i <= SAFETENSORS_MAX_METADATA_ENTRIES; i++)
        p += (size_t)sprintf(m + p, "%s\"k%d\":\"v\"", i ? "," : "", i);
    strcpy(m + p, "}}");
    expect_error(m, 0, SEMBED_ERR_LIMIT, "entries");
    free(m);
}

/* ---- ML-09: many tensors ---------------------------------------------- */

static char *many_tensors(int n, size_t *data_len) {
    char *h = malloc((size_t)n * 80 + 16);
    assert_non_null(h);
    size_t p = 0;
    h[p++] = '{';
    for (int i = 0; i < n; i++)
        p += (size_t)sprintf(h + p, "%s\"t%06d\":{\"dtype\":\"U8\",\"shape\":[1],"
                                    "\"data_offsets\":[%d,%d]}",
                             i ? "," : "", n - 1 - i, i, i + 1);
    h[p++] = '}';
    h[p] = 0;
    *data_len = (size_t)n;
    return h;
}

static void test_many_tensors(void **state) {
    (void)state;
    size_t dl;
    char *h = many_tensors(SAFETENSORS_MAX_TENSORS, &dl);
    size_t len;
    uint8_t *b = image(h, strlen(h), dl, &len);
    safetensors_file f;
    sembed_error err;
    double t0 = now_seconds();
    assert_int_equal(safetensors_parse(b, len, "model.safetensors", &f, &err), SEMBED_OK);
    double t1 = now_seconds();
    assert_int_equal(f.n_tensors, SAFETENSORS_MAX_TENSORS);
    char name[16];
    const uint8_t *data = b + 8 + strlen(h);
    for (int i = 0; i < SAFETENSORS_MAX_TENSORS; i++) {
        snprintf(name, sizeof name, "t%06d", i);
        const st_tensor *t = safetensors_find(&f, name);
        assert_non_null(t);
        assert_int_equal((const uint8_t *)t->data - data, SAFETENSORS_MAX_TENSORS - 1 - i);
    }
    double t2 = now_seconds();
    print_message("ML-09: %d tensors parsed in %.3f s, %d lookups in %.3f s\n",
                  SAFETENSORS_MAX_TENSORS, t1 - t0, SAFETENSORS_MAX_TENSORS, t2 - t1);
    /* Generous bounds: sanitizer builds are several times slower. */
    assert_true(t1 - t0 < 10.0);
    assert_true(t2 - t1 < 2.0);
    safetensors_close(&f);
    free(b);
    free(h);

    /* One more is refused before any tree is built. */
    h = many_tensors(SAFETENSORS_MAX_TENSORS + 1, &dl);
    b = image(h, strlen(h), dl, &len);
    assert_int_equal(safetensors_parse(b, len, "model.safetensors", &f, &err), SEMBED_ERR_LIMIT);
    free(b);
    free(h);
}

/* ---- ML-15: truncation ------------------------------------------------ */

static void test_truncation(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = image(VALID, strlen(VALID), 32, &len);
    /* Every prefix of a valid file is refused, with the header length kept
     * (the file was cut) and with it adjusted to the cut (a cut header). */
    for (size_t cut = 0; cut < len; cut++) {
        for (int adjust = 0; adjust < 2; adjust++) {
            uint8_t *c = malloc(len);
            memcpy(c, b, len);
            if (adjust && cut > 8)
                for (int k = 0; k < 8; k++)
                    c[k] = (uint8_t)((uint64_t)(cut - 8) >> (8 * k));
            guarded g = guard(c, cut);
            safetensors_file f;
            sembed_error err;
            sembed_status rc = safetensors_parse(g.data, cut, "model.safetensors", &f, &err);
            if (rc == SEMBED_OK)
                fail_msg("prefix of %zu bytes (adjust %d) accepted", cut, adjust);
            assert_non_null(strstr(err.message, "model.safetensors"));
            unguard(&g);
            free(c);
        }
    }
    /* Every single-byte corruption either parses (a harmless change) or
     * gives a clean error; never a crash or an over-read. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t *c = malloc(len);
            memcpy(c, b, len);
            c[i] ^= (uint8_t)(1u << bit);
            guarded g = guard(c, len);
            safetensors_file f;
            sembed_status rc = safetensors_parse(g.data, len, "model.safetensors", &f, NULL);
            if (rc == SEMBED_OK)
                for (size_t t = 0; t < f.n_tensors; t++)
                    assert_true((const uint8_t *)f.tensors[t].data + (f.tensors[t].end -
                                                                      f.tensors[t].begin) <=
                                g.data + len);
            safetensors_close(&f);
            unguard(&g);
            free(c);
        }
    }
    free(b);
}

/* ---- files: safetensors_open ------------------------------------------ */

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/sembed-st-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const uint8_t *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
}

static void test_open(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    size_t len;
    uint8_t *b = image(VALID, strlen(VALID), 32, &len);
    write_bytes(path, b, len);
    safetensors_file f;
    sembed_error err;
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_OK);
    assert_non_null(f.map);
    assert_int_equal(f.map_size, len);
    assert_string_equal(f.path, path);
    const st_tensor *t = safetensors_find(&f, "a.bias");
    assert_non_null(t);
    assert_memory_equal(t->data, b + 8 + strlen(VALID) + 24, 6);
    safetensors_close(&f);
    assert_null(f.map);

    /* Truncated files on disk (ML-15). */
    for (size_t cut = 0; cut < len; cut += 7) {
        write_bytes(path, b, cut);
        sembed_status rc = safetensors_open(path, &f, &err);
        assert_int_equal(rc, SEMBED_ERR_FORMAT);
        assert_non_null(strstr(err.message, path));
        assert_null(f.map);
    }
    free(b);
}

static void test_open_special(void **state) {
    (void)state;
    char path[512];
    safetensors_file f;
    sembed_error err;
    /* Missing file. */
    snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "missing.safetensors"));
    /* A directory. */
    snprintf(path, sizeof path, "%s/dir.safetensors", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_ERR_IO);
    assert_non_null(strstr(err.message, "not a regular file"));
    /* A FIFO: refused at once, no hang (ML-16). */
    snprintf(path, sizeof path, "%s/fifo.safetensors", tmpdir);
    assert_int_equal(mkfifo(path, 0644), 0);
    double t0 = now_seconds();
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_ERR_IO);
    assert_true(now_seconds() - t0 < 1.0);
    /* A symlink loop. */
    char loop[512];
    snprintf(path, sizeof path, "%s/loop1", tmpdir);
    snprintf(loop, sizeof loop, "%s/loop2", tmpdir);
    assert_int_equal(symlink(loop, path), 0);
    assert_int_equal(symlink(path, loop), 0);
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_ERR_IO);
    /* A symlink to a good file works (the Hugging Face cache layout). */
    size_t len;
    uint8_t *b = image("{}", 2, 0, &len);
    char real[512];
    snprintf(real, sizeof real, "%s/blob", tmpdir);
    write_bytes(real, b, len);
    snprintf(path, sizeof path, "%s/link.safetensors", tmpdir);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(safetensors_open(path, &f, &err), SEMBED_OK);
    safetensors_close(&f);
    /* Permission denied (root reads anything, so only checked for others). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(real, 0), 0);
        assert_int_equal(safetensors_open(path, &f, &err), SEMBED_ERR_IO);
        chmod(real, 0644);
    }
    free(b);
    assert_int_equal(safetensors_open(NULL, &f, &err), SEMBED_ERR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_empty_file_and_zero_size),
        cmocka_unit_test(test_short_files),
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_header_text),
        cmocka_unit_test(test_nesting_and_counts),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_many_tensors),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_open_special),
    };
    int rc = cmocka_run_group_tests(tests, setup_dir, teardown_dir);
    return rc;
}
