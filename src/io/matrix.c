/*
 * matrix.c - the public side of embedding files: format choice, limits,
 * the growing matrix the text formats fill, and atomic writes.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "io/io.h"

/* Defaults of sembed_matrix_read_params (documented in docs/FORMATS.md). */
#define IO_DEFAULT_MAX_ROWS ((size_t)100000000)
#define IO_DEFAULT_MAX_COLS ((size_t)65536)
#define IO_DEFAULT_MAX_LINE ((size_t)16 << 20)
#define IO_DEFAULT_MAX_HEADER ((size_t)10000)

sembed_matrix_read_params sembed_matrix_read_default_params(void) {
    sembed_matrix_read_params p;
    p.format = SEMBED_FORMAT_AUTO;
    p.max_rows = IO_DEFAULT_MAX_ROWS;
    p.max_cols = IO_DEFAULT_MAX_COLS;
    p.max_line_bytes = IO_DEFAULT_MAX_LINE;
    p.max_header_bytes = IO_DEFAULT_MAX_HEADER;
    return p;
}

sembed_matrix_write_params sembed_matrix_write_default_params(void) {
    sembed_matrix_write_params p;
    p.format = SEMBED_FORMAT_AUTO;
    p.csv_escape_formulas = 0;
    return p;
}

sembed_file_format sembed_file_format_from_path(const char *path) {
    if (!path)
        return SEMBED_FORMAT_AUTO;
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return SEMBED_FORMAT_AUTO;
    if (!strcasecmp(dot, ".npy"))
        return SEMBED_FORMAT_NPY;
    if (!strcasecmp(dot, ".csv"))
        return SEMBED_FORMAT_CSV;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson"))
        return SEMBED_FORMAT_JSONL;
    return SEMBED_FORMAT_AUTO;
}

size_t io_first_nonfinite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return n;
}

void sembed_matrix_free(sembed_matrix *m) {
    if (!m)
        return;
    if (m->ids)
        for (size_t i = 0; i < m->rows; i++)
            free(m->ids[i]);
    if (m->texts)
        for (size_t i = 0; i < m->rows; i++)
            free(m->texts[i]);
    free(m->ids);
    free(m->texts);
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- builder ----------------------------------------------------------- */

void io_builder_init(io_builder *b, size_t cols, size_t max_rows) {
    memset(b, 0, sizeof *b);
    b->m.cols = cols;
    b->max_rows = max_rows;
}

static int grow_ptrs(char ***arr, size_t old_cap, size_t cap) {
    if (!*arr)
        return 0;
    char **p = realloc(*arr, cap * sizeof *p);
    if (!p)
        return -1;
    memset(p + old_cap, 0, (cap - old_cap) * sizeof *p);
    *arr = p;
    return 0;
}

sembed_status io_builder_row(io_builder *b, const char *name, float **row, sembed_error *err) {
    if (b->m.rows >= b->max_rows)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: more than %zu rows (max_rows)", name,
                         b->max_rows);
    if (b->m.rows == b->cap_rows) {
        size_t cap = b->cap_rows ? b->cap_rows * 2 : 64;
        if (cap > b->max_rows)
            cap = b->max_rows;
        size_t bytes;
        if (mul_overflow_size(cap, b->m.cols, &bytes) ||
            mul_overflow_size(bytes, sizeof(float), &bytes))
            return set_error(err, SEMBED_ERR_LIMIT, "%s: too many rows", name);
        float *d = realloc(b->m.data, bytes ? bytes : 1);
        if (!d)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory at row %zu", name,
                             b->m.rows);
        b->m.data = d;
        if (grow_ptrs(&b->m.ids, b->cap_rows, cap) || grow_ptrs(&b->m.texts, b->cap_rows, cap))
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory at row %zu", name,
                             b->m.rows);
        b->cap_rows = cap;
    }
    *row = b->m.data + b->m.rows * b->m.cols;
    return SEMBED_OK;
}

static sembed_status set_str(io_builder *b, char ***arr, const char *s, size_t len,
                             sembed_error *err) {
    if (!*arr) {
        *arr = calloc(b->cap_rows ? b->cap_rows : 1, sizeof **arr);
        if (!*arr)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    }
    char *c = malloc(len + 1);
    if (!c)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(c, s, len);
    c[len] = 0;
    free((*arr)[b->m.rows]);
    (*arr)[b->m.rows] = c;
    return SEMBED_OK;
}

sembed_status io_builder_set_id(io_builder *b, const char *s, size_t len, sembed_error *err) {
    return set_str(b, &b->m.ids, s, len, err);
}

sembed_status io_builder_set_text(io_builder *b, const char *s, size_t len, sembed_error *err) {
    return set_str(b, &b->m.texts, s, len, err);
}

void io_builder_finish(io_builder *b, sembed_matrix *out) {
    /* Give back the spare capacity of the doubling. */
    if (b->m.rows < b->cap_rows && b->m.rows > 0) {
        float *d = realloc(b->m.data, b->m.rows * b->m.cols * sizeof(float));
        if (d)
            b->m.data = d;
    }
    if (!b->m.data)
        b->m.data = malloc(sizeof(float)); /* an empty matrix still has a buffer */
    *out = b->m;
    memset(b, 0, sizeof *b);
}

void io_builder_free(io_builder *b) {
    /* Unused entries are NULL, and the row being filled may have strings. */
    if (b->m.ids)
        for (size_t i = 0; i < b->cap_rows; i++)
            free(b->m.ids[i]);
    if (b->m.texts)
        for (size_t i = 0; i < b->cap_rows; i++)
            free(b->m.texts[i]);
    free(b->m.ids);
    free(b->m.texts);
    free(b->m.data);
    memset(b, 0, sizeof *b);
}

/* ---- reading ----------------------------------------------------------- */

static sembed_status read_source(io_source *s, sembed_file_format fmt,
                                 const sembed_matrix_read_params *p, sembed_matrix *out,
                                 sembed_error *err) {
    if (p->max_rows == 0 || p->max_cols == 0 || p->max_line_bytes == 0 ||
        p->max_header_bytes == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "embedding file limits must be positive");
    switch (fmt) {
    case SEMBED_FORMAT_NPY:
        return npy_read_matrix(s, p, out, err);
    case SEMBED_FORMAT_CSV:
        return csv_read_matrix(s, p, out, err);
    case SEMBED_FORMAT_JSONL:
        return jsonl_read_matrix(s, p, out, err);
    default:
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: unknown embedding file format",
                         s->name);
    }
}

sembed_status sembed_matrix_read(const char *path, const sembed_matrix_read_params *params,
                                 sembed_matrix *out, sembed_error *err) {
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_matrix_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_matrix_read: path is NULL");
    sembed_matrix_read_params p = params ? *params : sembed_matrix_read_default_params();
    sembed_file_format fmt = p.format ? p.format : sembed_file_format_from_path(path);
    if (fmt == SEMBED_FORMAT_AUTO)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: unknown embedding file type (expected .npy, .csv or .jsonl)",
                         path);
    io_source s;
    sembed_status st = io_source_open(&s, path, err);
    if (st)
        return st;
    st = read_source(&s, fmt, &p, out, err);
    io_source_close(&s);
    if (st)
        memset(out, 0, sizeof *out);
    return st;
}

sembed_status sembed_matrix_read_mem(const void *bytes, size_t len,
                                     const sembed_matrix_read_params *params, sembed_matrix *out,
                                     sembed_error *err) {
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_matrix_read_mem: out is NULL");
    memset(out, 0, sizeof *out);
    if (!params || params->format == SEMBED_FORMAT_AUTO)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "sembed_matrix_read_mem: the format must be given");
    if (!bytes && len)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_matrix_read_mem: no bytes");
    io_source s;
    io_source_mem(&s, bytes, len, "input");
    sembed_status st = read_source(&s, params->format, params, out, err);
    io_source_close(&s);
    if (st)
        memset(out, 0, sizeof *out);
    return st;
}

/* ---- atomic output ------------------------------------------------------ */

sembed_status io_out_open(io_out *o, const char *path, sembed_error *err) {
    memset(o, 0, sizeof *o);
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + 16);
    if (!o->path || !o->tmp) {
        io_out_abort(o);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmpXXXXXX", 11);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        io_out_abort(o);
        return set_error(err, SEMBED_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        io_out_abort(o);
        return set_error(err, SEMBED_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    return SEMBED_OK;
}

void io_out_abort(io_out *o) {
    if (o->fp)
        fclose(o->fp);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

sembed_status io_out_commit(io_out *o, sembed_error *err) {
    sembed_status st = SEMBED_OK;
    int bad = fflush(o->fp) != 0 || ferror(o->fp);
    int e = errno;
    if (!bad && fsync(fileno(o->fp)) != 0)
        bad = 1, e = errno;
    if (fclose(o->fp) != 0 && !bad)
        bad = 1, e = errno;
    o->fp = NULL;
    if (bad) {
        st = set_error(err, SEMBED_ERR_IO, "%s: write failed: %s", o->path, strerror(e));
        goto done;
    }
    /* mkstemp creates 0600; give the file the permissions open() would. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(o->tmp, 0666 & ~mask);
    if (rename(o->tmp, o->path) != 0) {
        st = set_error(err, SEMBED_ERR_IO, "%s: cannot replace: %s", o->path, strerror(errno));
        goto done;
    }
    free(o->tmp);
    o->tmp = NULL; /* renamed: nothing to remove */
    /* The rename itself is durable only once the folder is synced. */
    char *dcopy = strdup(o->path);
    if (dcopy) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dcopy);
    }
done:
    io_out_abort(o);
    return st;
}

/* ---- writing ----------------------------------------------------------- */

sembed_status sembed_matrix_write(const char *path, const sembed_matrix *m,
                                  const sembed_matrix_write_params *params, sembed_error *err) {
    if (!path || !m)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_matrix_write: NULL argument");
    sembed_matrix_write_params p = params ? *params : sembed_matrix_write_default_params();
    sembed_file_format fmt = p.format ? p.format : sembed_file_format_from_path(path);
    if (fmt != SEMBED_FORMAT_NPY && fmt != SEMBED_FORMAT_CSV && fmt != SEMBED_FORMAT_JSONL)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: unknown embedding file type (expected .npy, .csv or .jsonl)",
                         path);
    if (m->cols == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: vectors of length 0", path);
    size_t n;
    if (mul_overflow_size(m->rows, m->cols, &n))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: matrix too large", path);
    if (n && !m->data)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: matrix has no data", path);
    size_t bad = io_first_nonfinite(m->data, n);
    if (bad < n)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: row %zu, column %zu is not finite (NaN or infinity)", path,
                         bad / m->cols, bad % m->cols);
    io_out o;
    sembed_status st = io_out_open(&o, path, err);
    if (st)
        return st;
    if (fmt == SEMBED_FORMAT_NPY)
        st = npy_write_matrix(o.fp, m, path, err);
    else if (fmt == SEMBED_FORMAT_CSV)
        st = csv_write_matrix(o.fp, m, &p, path, err);
    else
        st = jsonl_write_matrix(o.fp, m, path, err);
    if (st) {
        io_out_abort(&o);
        return st;
    }
    return io_out_commit(&o, err);
}
