/*
 * jsonl.c - embeddings as JSON Lines: each line is a JSON array of numbers,
 * or an object {"id": string|integer, "text": string, "embedding": [...]}
 * (other keys are ignored). Blank lines are skipped. jansson parses each
 * line, so invalid JSON and invalid UTF-8 are refused with the line number.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "io/io.h"
#include "io/numfmt.h"

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* Parses one non-blank line into the builder (creating it on the first
 * line, whose length fixes the dimension). */
static sembed_status parse_line(io_builder *b, int *started, const char *line, size_t len,
                                size_t lineno, const sembed_matrix_read_params *p,
                                const char *name, sembed_error *err) {
    json_error_t jerr;
    json_t *v = json_loadb(line, len, 0, &jerr);
    if (!v)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: invalid JSON: %s", name, lineno,
                         jerr.text);
    sembed_status st = SEMBED_OK;
    json_t *arr = v, *id = NULL, *text = NULL;
    if (json_is_object(v)) {
        arr = json_object_get(v, "embedding");
        id = json_object_get(v, "id");
        text = json_object_get(v, "text");
        if (!arr) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: object has no \"embedding\"",
                           name, lineno);
            goto done;
        }
    }
    if (!json_is_array(arr)) {
        st = set_error(err, SEMBED_ERR_FORMAT,
                       "%s: line %zu: expected an array of numbers or an object with "
                       "\"embedding\"",
                       name, lineno);
        goto done;
    }
    size_t n = json_array_size(arr);
    if (!*started) {
        if (n == 0) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: empty embedding", name,
                           lineno);
            goto done;
        }
        if (n > p->max_cols) {
            st = set_error(err, SEMBED_ERR_LIMIT,
                           "%s: line %zu: %zu values exceed the limit of %zu", name, lineno, n,
                           p->max_cols);
            goto done;
        }
        io_builder_init(b, n, p->max_rows);
        *started = 1;
    } else if (n != b->m.cols) {
        st = set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: %zu values, but line 1 had %zu",
                       name, lineno, n, b->m.cols);
        goto done;
    }
    float *row = NULL;
    st = io_builder_row(b, name, &row, err);
    if (st)
        goto done;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_number(e)) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: element %zu is not a number",
                           name, lineno, i);
            goto done;
        }
        double d = json_number_value(e);
        row[i] = (float)d;
        if (!isfinite(row[i])) {
            st = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: line %zu: element %zu (%g) is out of float32 range", name,
                           lineno, i, d);
            goto done;
        }
    }
    if (id && !json_is_null(id)) {
        if (json_is_string(id)) {
            st = io_builder_set_id(b, json_string_value(id), json_string_length(id), err);
        } else if (json_is_integer(id)) {
            char buf[32];
            int k = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            st = io_builder_set_id(b, buf, (size_t)k, err);
        } else {
            st = set_error(err, SEMBED_ERR_FORMAT,
                           "%s: line %zu: \"id\" must be a string or an integer", name, lineno);
        }
        if (st)
            goto done;
    }
    if (text && !json_is_null(text)) {
        if (!json_is_string(text)) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: \"text\" must be a string",
                           name, lineno);
            goto done;
        }
        st = io_builder_set_text(b, json_string_value(text), json_string_length(text), err);
        if (st)
            goto done;
    }
    b->m.rows++;
done:
    json_decref(v);
    return st;
}

sembed_status jsonl_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                                sembed_matrix *out, sembed_error *err) {
    io_builder b;
    memset(&b, 0, sizeof b);
    int started = 0;
    size_t lineno = 0;
    sembed_status st = SEMBED_OK;
    for (;;) {
        const char *ptr = io_source_ptr(s);
        size_t avail = io_source_avail(s);
        const char *nl = memchr(ptr, '\n', avail);
        if (!nl && !s->eof) {
            int m = io_source_more(s, p->max_line_bytes + 1, err);
            if (m == -(int)SEMBED_ERR_LIMIT) {
                st = set_error(err, SEMBED_ERR_LIMIT,
                               "%s: line %zu is longer than %zu bytes (max_line_bytes)", s->name,
                               lineno + 1, p->max_line_bytes);
                goto done;
            }
            if (m < 0) {
                st = (sembed_status)-m;
                goto done;
            }
            continue;
        }
        if (avail == 0)
            break;
        size_t len = nl ? (size_t)(nl - ptr) : avail;
        lineno++;
        if (len > p->max_line_bytes) {
            st = set_error(err, SEMBED_ERR_LIMIT,
                           "%s: line %zu is longer than %zu bytes (max_line_bytes)", s->name,
                           lineno, p->max_line_bytes);
            goto done;
        }
        const char *line = ptr;
        if (lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
            line += 3, len -= 3;
        if (!blank(line, len)) {
            st = parse_line(&b, &started, line, len, lineno, p, s->name, err);
            if (st)
                goto done;
        }
        io_source_consume(s, nl ? (size_t)(nl - ptr) + 1 : avail);
    }
    if (!started) {
        st = set_error(err, SEMBED_ERR_FORMAT, "%s: no embeddings (empty JSON Lines file)",
                       s->name);
        goto done;
    }
    io_builder_finish(&b, out);
done:
    if (st)
        io_builder_free(&b);
    return st;
}

/* ---- writer ---------------------------------------------------------- */

static sembed_status put_json_string(FILE *fp, const char *s, const char *what, size_t row,
                                     const char *name, sembed_error *err) {
    json_t *j = json_string(s);
    if (!j)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: row %zu: %s is not valid UTF-8 (JSON needs UTF-8)", name, row,
                         what);
    char *enc = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (!enc)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    fputs(enc, fp);
    free(enc);
    return SEMBED_OK;
}

sembed_status jsonl_write_matrix(FILE *fp, const sembed_matrix *m, const char *name,
                                 sembed_error *err) {
    char num[NUMFMT_MAX];
    int objects = m->ids || m->texts;
    for (size_t i = 0; i < m->rows; i++) {
        sembed_status st;
        if (objects) {
            fputc('{', fp);
            int first = 1;
            if (m->ids && m->ids[i]) {
                fputs("\"id\": ", fp);
                if ((st = put_json_string(fp, m->ids[i], "the id", i, name, err)))
                    return st;
                first = 0;
            }
            if (m->texts && m->texts[i]) {
                fputs(first ? "\"text\": " : ", \"text\": ", fp);
                if ((st = put_json_string(fp, m->texts[i], "the text", i, name, err)))
                    return st;
                first = 0;
            }
            fputs(first ? "\"embedding\": " : ", \"embedding\": ", fp);
        }
        fputc('[', fp);
        const float *row = m->data + i * m->cols;
        for (size_t j = 0; j < m->cols; j++) {
            if (j)
                fputs(", ", fp);
            int n = numfmt_float(num, row[j]);
            fwrite(num, 1, (size_t)n, fp);
        }
        fputs(objects ? "]}\n" : "]\n", fp);
        if (ferror(fp))
            return set_error(err, SEMBED_ERR_IO, "%s: write error", name);
    }
    return SEMBED_OK;
}
