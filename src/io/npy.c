/*
 * npy.c - .npy files: a strict header parser (numpy's rules: versions 1.0,
 * 2.0 and 3.0, exactly the keys descr / fortran_order / shape, a bounded
 * header), the float32/float64 matrix reader and the float32 writer.
 *
 * Every size in a header is hostile until checked: the dims are parsed with
 * overflow checks, their product times the item size is a checked multiply,
 * and the result must equal the bytes that follow the header exactly.
 */
#include "io/npy.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "io/io.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- header dict parser ------------------------------------------------- */

typedef struct dict_lexer {
    const char *p, *end;
} dict_lexer;

static void skip_ws(dict_lexer *lx) {
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' ||
                               *lx->p == '\r'))
        lx->p++;
}

static int eat(dict_lexer *lx, char c) {
    skip_ws(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

/* A Python string literal in ' or " without escapes (numpy never writes
 * any in these three keys). */
static int lex_string(dict_lexer *lx, char *out, size_t cap) {
    skip_ws(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
        return -1;
    char q = *lx->p++;
    size_t n = 0;
    while (lx->p < lx->end && *lx->p != q) {
        if (*lx->p == '\\' || *lx->p == '\n' || n + 1 >= cap)
            return -1;
        out[n++] = *lx->p++;
    }
    if (lx->p >= lx->end)
        return -1;
    lx->p++;
    out[n] = 0;
    return 0;
}

/* A non-negative decimal integer, with Python 2's optional L suffix. */
static int lex_uint(dict_lexer *lx, uint64_t *out) {
    skip_ws(lx);
    uint64_t v = 0;
    int digits = 0;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*lx->p - '0');
        lx->p++;
        digits++;
    }
    if (!digits)
        return -1;
    if (lx->p < lx->end && (*lx->p == 'L' || *lx->p == 'l'))
        lx->p++;
    *out = v;
    return 0;
}

static int lex_word(dict_lexer *lx, const char *w) {
    skip_ws(lx);
    size_t n = strlen(w);
    if ((size_t)(lx->end - lx->p) >= n && memcmp(lx->p, w, n) == 0) {
        lx->p += n;
        return 0;
    }
    return -1;
}

static sembed_status bad_header(sembed_error *err, const char *name, const char *what) {
    return set_error(err, SEMBED_ERR_FORMAT, "%s: bad .npy header: %s", name, what);
}

/* Fills kind, itemsize and byteorder from a descr such as '<f4'. */
static sembed_status parse_descr(npy_header *h, const char *name, sembed_error *err) {
    const char *d = h->descr;
    if (!strchr("<>|=", d[0]) || !d[1])
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'", name,
                         d);
    h->byteorder = d[0];
    h->kind = d[1];
    uint64_t sz = 0;
    const char *p = d + 2;
    if (!*p)
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'", name,
                         d);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || sz > 1000)
            return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'",
                             name, d);
        sz = sz * 10 + (uint64_t)(*p - '0');
    }
    if (sz == 0 && h->kind != 'O')
        return set_error(err, SEMBED_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'", name,
                         d);
    h->itemsize = (int)sz;
    return SEMBED_OK;
}

sembed_status npy_parse_header(const char *buf, size_t len, size_t max_header, const char *name,
                               npy_header *h, size_t *need, sembed_error *err) {
    memset(h, 0, sizeof *h);
    if (need)
        *need = 12;
    if (len < 8)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: too short for a .npy file", name);
    if (memcmp(buf, npy_magic, 6) != 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    h->major = (unsigned char)buf[6];
    h->minor = (unsigned char)buf[7];
    if (h->minor != 0 || h->major < 1 || h->major > 3)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: .npy version %d.%d is not supported (1.0, 2.0 and 3.0 are)", name,
                         h->major, h->minor);
    size_t prefix = h->major == 1 ? 10 : 12;
    if (len < prefix)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: the .npy header is truncated", name);
    const unsigned char *u = (const unsigned char *)buf;
    uint64_t hlen = h->major == 1 ? (uint64_t)u[8] | (uint64_t)u[9] << 8
                                  : (uint64_t)u[8] | (uint64_t)u[9] << 8 |
                                        (uint64_t)u[10] << 16 | (uint64_t)u[11] << 24;
    if (hlen > max_header)
        return set_error(err, SEMBED_ERR_LIMIT,
                         "%s: .npy header of %" PRIu64 " bytes exceeds the limit of %zu", name,
                         hlen, max_header);
    h->data_offset = prefix + (size_t)hlen;
    if (need)
        *need = h->data_offset;
    if (len < h->data_offset)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: the .npy header is truncated", name);

    dict_lexer lx = {buf + prefix, buf + h->data_offset};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!eat(&lx, '{'))
        return bad_header(err, name, "expected a dict");
    for (;;) {
        if (eat(&lx, '}'))
            break;
        char key[32];
        if (lex_string(&lx, key, sizeof key) || !eat(&lx, ':'))
            return bad_header(err, name, "expected 'key': value");
        if (!strcmp(key, "descr")) {
            if (seen_descr++)
                return bad_header(err, name, "duplicate key 'descr'");
            skip_ws(&lx);
            if (lx.p < lx.end && *lx.p == '[')
                return set_error(err, SEMBED_ERR_UNSUPPORTED,
                                 "%s: structured .npy dtypes are not supported", name);
            if (lex_string(&lx, h->descr, sizeof h->descr))
                return bad_header(err, name, "'descr' must be a short dtype string");
        } else if (!strcmp(key, "fortran_order")) {
            if (seen_order++)
                return bad_header(err, name, "duplicate key 'fortran_order'");
            if (!lex_word(&lx, "True"))
                h->fortran_order = 1;
            else if (!lex_word(&lx, "False"))
                h->fortran_order = 0;
            else
                return bad_header(err, name, "'fortran_order' must be True or False");
        } else if (!strcmp(key, "shape")) {
            if (seen_shape++)
                return bad_header(err, name, "duplicate key 'shape'");
            if (!eat(&lx, '('))
                return bad_header(err, name, "'shape' must be a tuple");
            for (;;) {
                if (eat(&lx, ')'))
                    break;
                if (h->ndim == NPY_MAX_DIMS)
                    return bad_header(err, name, "too many dimensions");
                if (lex_uint(&lx, &h->shape[h->ndim]))
                    return bad_header(err, name, "'shape' must hold non-negative integers");
                h->ndim++;
                if (eat(&lx, ','))
                    continue;
                if (eat(&lx, ')'))
                    break;
                return bad_header(err, name, "malformed 'shape' tuple");
            }
        } else {
            return bad_header(err, name, "unexpected key (only descr, fortran_order, shape)");
        }
        if (eat(&lx, ','))
            continue;
        if (eat(&lx, '}'))
            break;
        return bad_header(err, name, "expected ',' or '}'");
    }
    skip_ws(&lx);
    while (lx.p < lx.end && *lx.p == '\0')
        lx.p++; /* some writers pad with NULs */
    if (lx.p != lx.end)
        return bad_header(err, name, "text after the dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return bad_header(err, name, "missing key (descr, fortran_order and shape are needed)");
    sembed_status st = parse_descr(h, name, err);
    if (st)
        return st;
    uint64_t items = 1;
    for (int i = 0; i < h->ndim; i++)
        if (__builtin_mul_overflow(items, h->shape[i], &items))
            return set_error(err, SEMBED_ERR_FORMAT, "%s: .npy shape overflows", name);
    uint64_t bytes;
    if (__builtin_mul_overflow(items, (uint64_t)h->itemsize, &bytes))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: .npy shape overflows", name);
    h->n_items = items;
    h->data_bytes = bytes;
    return SEMBED_OK;
}

size_t npy_format_header(char *buf, size_t cap, int ndim, const uint64_t *shape) {
    char dict[256];
    int n;
    if (ndim == 1)
        n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRIu64 ",), }",
                     shape[0]);
    else
        n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRIu64 ", %" PRIu64
                     "), }",
                     shape[0], shape[1]);
    if (n < 0 || (size_t)n >= sizeof dict)
        return 0;
    /* magic + version + 2-byte length, the dict, spaces, and '\n' so that
     * the total is a multiple of 64 (numpy's ARRAY_ALIGN). */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535)
        return 0;
    size_t hlen = total - 10;
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* ---- matrix reader --------------------------------------------------- */

static int host_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static void bswap_inplace(void *p, size_t n_items, int size) {
    unsigned char *b = p;
    for (size_t i = 0; i < n_items; i++, b += size)
        for (int j = 0; j < size / 2; j++) {
            unsigned char t = b[j];
            b[j] = b[size - 1 - j];
            b[size - 1 - j] = t;
        }
}

/* The bytes left in the source after the current position, when known. */
static int remaining_bytes(io_source *s, uint64_t *out) {
    if (s->fd < 0) {
        *out = (uint64_t)io_source_avail(s);
        return 0;
    }
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return -1;
    if ((uint64_t)st.st_size < s->offset) {
        *out = 0;
        return 0;
    }
    *out = (uint64_t)st.st_size - s->offset;
    return 0;
}

sembed_status npy_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                              sembed_matrix *out, sembed_error *err) {
    npy_header h;
    size_t need = 12;
    sembed_status st;
    /* Buffer enough bytes for the header, growing as the length says. */
    for (;;) {
        while (io_source_avail(s) < need) {
            int r = io_source_more(s, need > 4096 ? need : 4096, err);
            if (r < 0)
                return (sembed_status)-r;
            if (r == 0)
                break;
        }
        size_t have = io_source_avail(s);
        st = npy_parse_header(io_source_ptr(s), have, p->max_header_bytes, s->name, &h, &need,
                              err);
        if (st == SEMBED_OK)
            break;
        if (need <= have || s->eof)
            return st;
    }
    io_source_consume(s, h.data_offset);

    int is_f4 = h.kind == 'f' && h.itemsize == 4;
    int is_f8 = h.kind == 'f' && h.itemsize == 8;
    if (!is_f4 && !is_f8)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: .npy dtype '%s' is not supported (float32 or float64 only)",
                         s->name, h.descr);
    if (h.fortran_order && h.ndim > 1 && h.shape[0] > 1 && h.shape[1] > 1)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: Fortran-order .npy arrays are not supported (save with "
                         "numpy.ascontiguousarray)",
                         s->name);
    if (h.ndim != 1 && h.ndim != 2)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s: .npy array has %d dimensions; expected (rows, dim) or (dim,)",
                         s->name, h.ndim);
    uint64_t rows = h.ndim == 2 ? h.shape[0] : 1;
    uint64_t cols = h.ndim == 2 ? h.shape[1] : h.shape[0];
    if (cols == 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: .npy vectors have length 0", s->name);
    if (cols > p->max_cols)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: %" PRIu64 " columns exceed the limit of %zu",
                         s->name, cols, p->max_cols);
    if (rows > p->max_rows)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: %" PRIu64 " rows exceed the limit of %zu",
                         s->name, rows, p->max_rows);
    uint64_t left;
    if (remaining_bytes(s, &left) != 0)
        return set_error(err, SEMBED_ERR_IO, "%s: cannot stat the file", s->name);
    if (left != h.data_bytes)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: .npy shape (%" PRIu64 ", %" PRIu64 ") needs %" PRIu64
                         " data bytes but the file has %" PRIu64 "%s",
                         s->name, rows, cols, h.data_bytes, left,
                         left < h.data_bytes ? " (truncated)" : "");
    size_t n_items, n_bytes;
    if (mul_overflow_size((size_t)rows, (size_t)cols, &n_items) ||
        mul_overflow_size(n_items, sizeof(float), &n_bytes))
        return set_error(err, SEMBED_ERR_LIMIT, "%s: array too large", s->name);
    float *data = malloc(n_bytes ? n_bytes : 1);
    if (!data)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes",
                         s->name, n_bytes);
    int swap = (h.byteorder == '>' && host_little_endian()) ||
               (h.byteorder == '<' && !host_little_endian());
    if (is_f4) {
        st = io_source_read(s, data, n_bytes, err);
        if (st)
            goto fail;
        if (swap)
            bswap_inplace(data, n_items, 4);
    } else {
        /* float64: convert in slices so that memory stays at the float32 size. */
        enum { SLICE = 8192 };
        double *tmp = malloc(SLICE * sizeof *tmp);
        if (!tmp) {
            st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", s->name);
            goto fail;
        }
        for (size_t i = 0; i < n_items; i += SLICE) {
            size_t n = n_items - i < SLICE ? n_items - i : SLICE;
            st = io_source_read(s, tmp, n * sizeof *tmp, err);
            if (st) {
                free(tmp);
                goto fail;
            }
            if (swap)
                bswap_inplace(tmp, n, 8);
            for (size_t j = 0; j < n; j++) {
                data[i + j] = (float)tmp[j];
                if (isfinite(tmp[j]) && !isfinite(data[i + j])) {
                    size_t at = i + j;
                    st = set_error(err, SEMBED_ERR_FORMAT,
                                   "%s: row %zu, column %zu: value %g is out of float32 range",
                                   s->name, at / (size_t)cols, at % (size_t)cols, tmp[j]);
                    free(tmp);
                    goto fail;
                }
            }
        }
        free(tmp);
    }
    size_t bad = io_first_nonfinite(data, n_items);
    if (bad < n_items) {
        st = set_error(err, SEMBED_ERR_FORMAT, "%s: row %zu, column %zu is %s", s->name,
                       bad / (size_t)cols, bad % (size_t)cols,
                       isnan(data[bad]) ? "NaN" : "infinite");
        goto fail;
    }
    out->rows = (size_t)rows;
    out->cols = (size_t)cols;
    out->data = data;
    return SEMBED_OK;
fail:
    free(data);
    return st;
}

/* ---- writer ---------------------------------------------------------- */

sembed_status npy_write_matrix(FILE *fp, const sembed_matrix *m, const char *name,
                               sembed_error *err) {
    char head[320];
    uint64_t shape[2] = {m->rows, m->cols};
    size_t hn = npy_format_header(head, sizeof head, 2, shape);
    if (!hn)
        return set_error(err, SEMBED_ERR_INTERNAL, "%s: cannot format the .npy header", name);
    if (fwrite(head, 1, hn, fp) != hn)
        return set_error(err, SEMBED_ERR_IO, "%s: write error", name);
    size_t n = m->rows * m->cols;
    if (host_little_endian()) {
        if (n && fwrite(m->data, sizeof(float), n, fp) != n)
            return set_error(err, SEMBED_ERR_IO, "%s: write error", name);
    } else {
        for (size_t i = 0; i < n; i++) {
            float v = m->data[i];
            bswap_inplace(&v, 1, 4);
            if (fwrite(&v, 4, 1, fp) != 1)
                return set_error(err, SEMBED_ERR_IO, "%s: write error", name);
        }
    }
    return SEMBED_OK;
}
