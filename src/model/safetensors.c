/*
 * safetensors.c - validating reader of .safetensors files.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON, then
 * the tensor bytes. Everything in the header is attacker-controlled, so the
 * checks follow the reference implementation (huggingface/safetensors) and
 * go a little further: the header is bounded before anything is allocated,
 * its JSON is pre-scanned for size and depth before jansson builds a tree,
 * every tensor's byte count is computed with checked multiplications, the
 * offsets must tile the data area exactly, and duplicate names are refused
 * (the reference accepts them; an auditor and a loader could then read
 * different tensors). Opening a file maps it read-only and never touches
 * the tensor bytes, so loading costs only the header.
 */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "common/common.h"
#include "model/config.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_F64] = {"F64", 8},         [ST_I64] = {"I64", 8},         [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},         [ST_I8] = {"I8", 1},           [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},       [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_U16] = {"U16", 2},         [ST_U32] = {"U32", 4},         [ST_U64] = {"U64", 8},
};

/* Valid in the format, but with no reader here: refused as unsupported
 * rather than as malformed. */
static const char *const other_dtypes[] = {"F4",          "F6_E2M3",     "F6_E3M2", "F8_E8M0",
                                           "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64"};

size_t safetensors_dtype_size(st_dtype dtype) {
    return (unsigned)dtype < ST_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

const char *safetensors_dtype_name(st_dtype dtype) {
    return (unsigned)dtype < ST_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

int safetensors_dtype_from_name(const char *name) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0)
            return i;
    return -1;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns the offset of the first bad byte, or len when all is valid. */
static size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

static uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A non-negative JSON integer, or -1. */
static int64_t json_nonneg(const json_t *v) {
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 ? -1 : (int64_t)x;
}

static sembed_status check_metadata(const char *what, const json_t *meta, sembed_error *err) {
    if (json_is_null(meta))
        return SEMBED_OK;
    if (!json_is_object(meta))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: __metadata__ is not a JSON object", what);
    if (json_object_size(meta) > SAFETENSORS_MAX_METADATA_ENTRIES)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: __metadata__ has %zu entries (limit %d)",
                         what, json_object_size(meta), SAFETENSORS_MAX_METADATA_ENTRIES);
    size_t bytes = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: __metadata__ value of '%.100s' is not a string", what, key);
        bytes += strlen(key) + json_string_length(v);
        if (bytes > SAFETENSORS_MAX_METADATA_BYTES)
            return set_error(err, SEMBED_ERR_LIMIT, "%s: __metadata__ is larger than %u bytes",
                             what, SAFETENSORS_MAX_METADATA_BYTES);
    }
    return SEMBED_OK;
}

/* Fills t from one header entry: exactly dtype, shape and data_offsets,
 * with data_offsets holding exactly shape x dtype-size bytes. */
static sembed_status parse_entry(const char *what, const char *name, json_t *v, st_tensor *t,
                                 sembed_error *err) {
    if (!json_is_object(v))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s': entry is not a JSON object",
                         what, name);
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    for (size_t k = 0; k < 3; k++)
        if (!json_object_get(v, keys[k]))
            return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s': missing \"%s\"", what,
                             name, keys[k]);
    if (json_object_size(v) != 3) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) {
            if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
                return set_error(err, SEMBED_ERR_FORMAT,
                                 "%s: tensor '%.200s': unknown key \"%.64s\"", what, name, key);
        }
    }

    json_t *jd = json_object_get(v, "dtype");
    if (!json_is_string(jd))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s': dtype is not a string",
                         what, name);
    const char *dname = json_string_value(jd);
    int dt = safetensors_dtype_from_name(dname);
    if (dt < 0) {
        for (size_t i = 0; i < sizeof other_dtypes / sizeof other_dtypes[0]; i++)
            if (strcmp(dname, other_dtypes[i]) == 0)
                return set_error(err, SEMBED_ERR_UNSUPPORTED,
                                 "%s: tensor '%.200s': dtype %s is not supported", what, name,
                                 dname);
        return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s': unknown dtype \"%.32s\"",
                         what, name, dname);
    }
    t->dtype = (st_dtype)dt;

    json_t *js = json_object_get(v, "shape");
    if (!json_is_array(js))
        return set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s': shape is not an array",
                         what, name);
    size_t nd = json_array_size(js);
    if (nd > SAFETENSORS_MAX_DIMS)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': shape has %zu dimensions (at most %d)", what, name,
                         nd, SAFETENSORS_MAX_DIMS);
    /* Left-to-right checked product, as the reference folds it: an
     * overflow is refused even when a later dimension is 0. */
    uint64_t n_el = 1, nbytes = 0;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        int64_t d = json_nonneg(json_array_get(js, i));
        if (d < 0)
            return set_error(err, SEMBED_ERR_FORMAT,
                             "%s: tensor '%.200s': shape[%zu] is not a non-negative integer", what,
                             name, i);
        t->shape[i] = d;
        if (!overflow && __builtin_mul_overflow(n_el, (uint64_t)d, &n_el))
            overflow = 1;
    }
    t->n_dims = (int)nd;
    if (overflow || __builtin_mul_overflow(n_el, (uint64_t)dtypes[dt].size, &nbytes))
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': shape size overflows 64 bits", what, name);
    t->n_elements = n_el;

    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets is not an array [begin, end]", what,
                         name);
    int64_t b = json_nonneg(json_array_get(jo, 0)), e = json_nonneg(json_array_get(jo, 1));
    if (b < 0 || e < 0)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets are not non-negative integers", what,
                         name);
    if (e < b)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets [%" PRId64 ", %" PRId64
                         "] end before they begin",
                         what, name, b, e);
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    if (t->end - t->begin != nbytes)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] hold %" PRIu64 " bytes but %" PRIu64 " elements of %s need %" PRIu64,
                         what, name, t->begin, t->end, t->end - t->begin, n_el, dtypes[dt].name,
                         nbytes);
    return SEMBED_OK;
}

static int by_offsets(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* The offsets must tile [0, data_len) exactly, in offset order: the first
 * tensor starts at 0, each begins where the one before ends (zero-size
 * tensors may therefore share an offset, as in the reference), and the
 * last ends at the end of the file. */
static sembed_status check_tiling(const char *what, st_tensor *t, size_t n, uint64_t data_len,
                                  sembed_error *err) {
    sembed_status rc = SEMBED_OK;
    const st_tensor **order = NULL;
    if (n) {
        order = malloc(n * sizeof *order);
        if (!order)
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &t[i];
    if (n > 1)
        qsort(order, n, sizeof *order, by_offsets);
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *x = order[i];
        if (x->end > data_len) {
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                           "] run past the end of the data (%" PRIu64 " bytes)",
                           what, x->name, x->begin, x->end, data_len);
            goto done;
        }
        if (x->begin != expect) {
            const char *why = i == 0             ? "the first tensor must start at offset 0"
                              : x->begin > expect ? "leave a gap after the previous tensor"
                                                  : "overlap the previous tensor";
            rc = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                           "] %s (which ends at %" PRIu64 ")",
                           what, x->name, x->begin, x->end, why, expect);
            goto done;
        }
        expect = x->end;
    }
    if (expect != data_len)
        rc = set_error(err, SEMBED_ERR_FORMAT,
                       "%s: %" PRIu64 " bytes after the last tensor are not described by the "
                       "header (tensors end at %" PRIu64 " of %" PRIu64 ")",
                       what, data_len - expect, expect, data_len);
done:
    free(order);
    return rc;
}

sembed_status safetensors_parse(const uint8_t *buf, size_t len, const char *what,
                                safetensors_file *out, sembed_error *err) {
    sembed_status rc;
    json_t *root = NULL;
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "safetensors_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!what)
        what = "safetensors";
    snprintf(out->path, sizeof out->path, "%s", what);
    if (!buf && len)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: no buffer", what);
    if (len < 8)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: header too small (the file has %zu bytes, at least 8 needed)", what,
                         len);
    uint64_t n = load_le64(buf);
    if (n > SAFETENSORS_MAX_HEADER)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: header length %" PRIu64 " is larger than the limit of %u bytes",
                         what, n, SAFETENSORS_MAX_HEADER);
    if (n > len - 8)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                         what, n, len);
    const uint8_t *hdr = buf + 8;
    if (n == 0 || hdr[0] != '{')
        return set_error(err, SEMBED_ERR_FORMAT, "%s: header does not start with '{'", what);
    size_t bad = utf8_check(hdr, (size_t)n);
    if (bad != n)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: header is not valid UTF-8 (at byte %zu)",
                         what, bad + 8);

    char hwhat[1100];
    snprintf(hwhat, sizeof hwhat, "%s: header", what);
    /* One entry per tensor plus __metadata__; each entry is ~10 values. */
    config_json_limits lim = {SAFETENSORS_MAX_DEPTH, 16u * (SAFETENSORS_MAX_TENSORS + 1),
                              SAFETENSORS_MAX_TENSORS + 1};
    rc = config_json_load((const char *)hdr, (size_t)n, hwhat, &lim, JSON_REJECT_DUPLICATES,
                          &root, err);
    if (rc != SEMBED_OK)
        goto fail;
    if (!json_is_object(root)) {
        rc = set_error(err, SEMBED_ERR_FORMAT, "%s: header is not a JSON object", what);
        goto fail;
    }

    json_t *meta = json_object_get(root, "__metadata__");
    if (meta && (rc = check_metadata(what, meta, err)) != SEMBED_OK)
        goto fail;
    size_t count = json_object_size(root) - (meta ? 1 : 0);
    if (count > SAFETENSORS_MAX_TENSORS) {
        rc = set_error(err, SEMBED_ERR_LIMIT, "%s: %zu tensors (limit %d)", what, count,
                       SAFETENSORS_MAX_TENSORS);
        goto fail;
    }

    /* One block for all the names; jansson keys never hold a NUL. */
    size_t names_len = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        names_len += strlen(key) + 1;
    }
    out->tensors = calloc(count ? count : 1, sizeof *out->tensors);
    out->names = malloc(names_len ? names_len : 1);
    if (!out->tensors || !out->names) {
        rc = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
        goto fail;
    }
    size_t i = 0, pos = 0;
    json_object_foreach(root, key, v) {
        if (v == meta)
            continue;
        st_tensor *t = &out->tensors[i++];
        size_t kl = strlen(key) + 1;
        memcpy(out->names + pos, key, kl);
        t->name = out->names + pos;
        pos += kl;
        if ((rc = parse_entry(what, key, v, t, err)) != SEMBED_OK)
            goto fail;
    }
    out->n_tensors = count;

    uint64_t data_len = (uint64_t)len - 8 - n;
    if ((rc = check_tiling(what, out->tensors, count, data_len, err)) != SEMBED_OK)
        goto fail;

    if (count > 1)
        qsort(out->tensors, count, sizeof *out->tensors, by_name);
    for (i = 1; i < count; i++) {
        if (strcmp(out->tensors[i - 1].name, out->tensors[i].name) == 0) {
            rc = set_error(err, SEMBED_ERR_FORMAT, "%s: tensor '%.200s' appears twice", what,
                           out->tensors[i].name);
            goto fail;
        }
    }
    const uint8_t *data = hdr + n;
    for (i = 0; i < count; i++)
        out->tensors[i].data = data + out->tensors[i].begin;
    json_decref(root);
    return SEMBED_OK;

fail:
    json_decref(root);
    safetensors_close(out);
    snprintf(out->path, sizeof out->path, "%s", what);
    return rc;
}

sembed_status safetensors_open(const char *path, safetensors_file *out, sembed_error *err) {
    if (!out || !path)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "safetensors_open: NULL argument");
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t fsize;
    sembed_status orc = open_regular_file(path, &fd, &fsize, err);
    if (orc != SEMBED_OK)
        return orc;
    if (fsize < 8) {
        close(fd);
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s: header too small (the file has %" PRIu64 " bytes, at least 8 needed)",
                         path, fsize);
    }
    if (fsize > SIZE_MAX) {
        close(fd);
        return set_error(err, SEMBED_ERR_LIMIT, "%s: file too large to map", path);
    }
    size_t size = (size_t)fsize;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return set_error(err, SEMBED_ERR_IO, "%s: mmap: %s", path, strerror(e));
    sembed_status rc = safetensors_parse(map, size, path, out, err);
    if (rc != SEMBED_OK) {
        munmap(map, size);
        return rc;
    }
    out->map = map;
    out->map_size = size;
    return SEMBED_OK;
}

void safetensors_close(safetensors_file *f) {
    if (!f)
        return;
    free(f->tensors);
    free(f->names);
    if (f->map)
        munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

static int find_cmp(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const st_tensor *)elem)->name);
}

const st_tensor *safetensors_find(const safetensors_file *f, const char *name) {
    if (!f || !name || !f->tensors || f->n_tensors == 0)
        return NULL;
    return bsearch(name, f->tensors, f->n_tensors, sizeof *f->tensors, find_cmp);
}
