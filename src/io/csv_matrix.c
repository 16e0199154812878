/*
 * csv_matrix.c - embeddings as CSV, in the layout pandas writes with
 * DataFrame(emb).to_csv(index=False): a header "0,1,...,dim-1", then one
 * row of numbers per vector.
 *
 * Reading: the first record is the header. Columns named "id" and "text"
 * hold per-row ids and texts; an unnamed first column is the index that
 * to_csv(index=True) writes and is skipped; every other column is a vector
 * component, in file order. A first record made of numbers that are not
 * all integers is data, not a header (a file written with header=False).
 * Blank lines are skipped, as pandas does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "io/csv.h"
#include "io/io.h"
#include "io/numfmt.h"

enum { ROLE_VALUE = 0, ROLE_ID, ROLE_TEXT, ROLE_INDEX };

typedef struct csv_layout {
    size_t n_fields;
    unsigned char *role;  /* per field */
    size_t n_values;
    int has_id, has_text;
    char **names;         /* header names, for messages (NULL when headerless) */
} csv_layout;

static void layout_free(csv_layout *l) {
    if (l->names)
        for (size_t i = 0; i < l->n_fields; i++)
            free(l->names[i]);
    free(l->names);
    free(l->role);
    memset(l, 0, sizeof *l);
}

static int field_is(const csv_field *f, const char *name) {
    size_t n = strlen(name);
    return f->len == n && memcmp(f->ptr, name, n) == 0;
}

/* A number with a fraction or an exponent: what a header never holds. */
static int looks_like_data(const csv_field *f) {
    float v;
    if (numfmt_parse_float(f->ptr, f->len, &v) != NUMFMT_OK)
        return 0;
    for (size_t i = 0; i < f->len; i++)
        if (f->ptr[i] == '.' || f->ptr[i] == 'e' || f->ptr[i] == 'E')
            return 1;
    return 0;
}

/* Decides each column's role from the first record; *headerless is set
 * when that record is data. */
static sembed_status layout_from_first(const csv_record *rec, const char *name, size_t max_cols,
                                       csv_layout *l, int *headerless, sembed_error *err) {
    memset(l, 0, sizeof *l);
    l->n_fields = rec->n_fields;
    l->role = calloc(rec->n_fields, 1);
    l->names = calloc(rec->n_fields, sizeof *l->names);
    if (!l->role || !l->names)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    int all_numbers = 1, any_data = 0;
    for (size_t i = 0; i < rec->n_fields; i++) {
        float v;
        if (numfmt_parse_float(rec->fields[i].ptr, rec->fields[i].len, &v) != NUMFMT_OK)
            all_numbers = 0;
        any_data |= looks_like_data(&rec->fields[i]);
    }
    *headerless = all_numbers && any_data;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const csv_field *f = &rec->fields[i];
        if (!*headerless) {
            l->names[i] = strndup(f->ptr, f->len < 200 ? f->len : 200);
            if (!l->names[i])
                return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        }
        if (*headerless) {
            l->role[i] = ROLE_VALUE;
        } else if (field_is(f, "id")) {
            if (l->has_id++)
                return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: two \"id\" columns",
                                 name, rec->line);
            l->role[i] = ROLE_ID;
        } else if (field_is(f, "text")) {
            if (l->has_text++)
                return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: two \"text\" columns",
                                 name, rec->line);
            l->role[i] = ROLE_TEXT;
        } else if (i == 0 && f->len == 0 && rec->n_fields > 1) {
            l->role[i] = ROLE_INDEX;
        } else {
            l->role[i] = ROLE_VALUE;
        }
        if (l->role[i] == ROLE_VALUE)
            l->n_values++;
    }
    if (l->n_values == 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: no embedding columns", name,
                         rec->line);
    if (l->n_values > max_cols)
        return set_error(err, SEMBED_ERR_LIMIT, "%s: %zu columns exceed the limit of %zu", name,
                         l->n_values, max_cols);
    return SEMBED_OK;
}

/* Stores one data record as a row. */
static sembed_status add_row(io_builder *b, const csv_layout *l, const csv_record *rec,
                             const char *name, sembed_error *err) {
    if (rec->n_fields != l->n_fields)
        return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu: expected %zu fields, found %zu",
                         name, rec->line, l->n_fields, rec->n_fields);
    float *row = NULL;
    sembed_status rs = io_builder_row(b, name, &row, err);
    if (rs)
        return rs;
    size_t k = 0;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const csv_field *f = &rec->fields[i];
        sembed_status st = SEMBED_OK;
        switch (l->role[i]) {
        case ROLE_VALUE: {
            numfmt_status ns = numfmt_parse_float(f->ptr, f->len, &row[k]);
            if (ns != NUMFMT_OK) {
                int show = f->len > 40 ? 40 : (int)f->len;
                if (l->names)
                    return set_error(err, SEMBED_ERR_FORMAT,
                                     "%s: line %zu, column \"%s\": %s: \"%.*s%s\"", name,
                                     rec->line, l->names[i], numfmt_reason(ns), show, f->ptr,
                                     f->len > 40 ? "..." : "");
                return set_error(err, SEMBED_ERR_FORMAT, "%s: line %zu, field %zu: %s: \"%.*s%s\"",
                                 name, rec->line, i + 1, numfmt_reason(ns), show, f->ptr,
                                 f->len > 40 ? "..." : "");
            }
            k++;
            break;
        }
        case ROLE_ID:
            st = io_builder_set_id(b, f->ptr, f->len, err);
            break;
        case ROLE_TEXT:
            st = io_builder_set_text(b, f->ptr, f->len, err);
            break;
        default:
            break;
        }
        if (st)
            return st;
    }
    b->m.rows++;
    return SEMBED_OK;
}

sembed_status csv_read_matrix(io_source *s, const sembed_matrix_read_params *p,
                              sembed_matrix *out, sembed_error *err) {
    csv_parser parser;
    csv_parser_init(&parser, p->max_cols + 3);
    csv_record rec = {0};
    csv_layout layout = {0};
    io_builder b;
    int have_layout = 0;
    sembed_status st = SEMBED_OK;
    memset(&b, 0, sizeof b);
    for (;;) {
        size_t used = 0;
        csv_result r = csv_parse_record(&parser, io_source_ptr(s), io_source_avail(s), s->eof,
                                        &rec, &used);
        if (r == CSV_NEED_MORE) {
            int m = io_source_more(s, p->max_line_bytes, err);
            if (m == -(int)SEMBED_ERR_LIMIT) {
                st = set_error(err, SEMBED_ERR_LIMIT,
                               "%s: line %zu: record longer than %zu bytes (max_line_bytes)",
                               s->name, parser.line, p->max_line_bytes);
                goto done;
            }
            if (m < 0) {
                st = (sembed_status)-m;
                goto done;
            }
            continue;
        }
        if (r == CSV_ERROR) {
            st = set_error(err, SEMBED_ERR_FORMAT, "%s: %s", s->name, parser.msg);
            goto done;
        }
        if (r == CSV_END)
            break;
        if (used > p->max_line_bytes) {
            st = set_error(err, SEMBED_ERR_LIMIT,
                           "%s: line %zu: record longer than %zu bytes (max_line_bytes)", s->name,
                           rec.line, p->max_line_bytes);
            goto done;
        }
        io_source_consume(s, used);
        if (rec.n_fields == 1 && rec.fields[0].len == 0)
            continue; /* a blank line */
        if (!have_layout) {
            int headerless = 0;
            st = layout_from_first(&rec, s->name, p->max_cols, &layout, &headerless, err);
            if (st)
                goto done;
            have_layout = 1;
            io_builder_init(&b, layout.n_values, p->max_rows);
            if (!headerless)
                continue;
        }
        st = add_row(&b, &layout, &rec, s->name, err);
        if (st)
            goto done;
    }
    if (!have_layout) {
        st = set_error(err, SEMBED_ERR_FORMAT, "%s: empty CSV file (no header line)", s->name);
        goto done;
    }
    io_builder_finish(&b, out);
done:
    if (st)
        io_builder_free(&b);
    csv_record_free(&rec);
    layout_free(&layout);
    return st;
}

/* ---- writer ---------------------------------------------------------- */

/* Writes one text cell: quoted when needed (RFC 4180), and with a leading
 * apostrophe for would-be spreadsheet formulas when asked. */
static void put_text_cell(FILE *fp, const char *s, int escape_formulas) {
    if (!s)
        return;
    size_t len = strlen(s);
    int defuse = escape_formulas && len > 0 && strchr("=+-@\t\r", s[0]);
    if (!defuse && !csv_needs_quotes(s, len)) {
        fwrite(s, 1, len, fp);
        return;
    }
    fputc('"', fp);
    if (defuse)
        fputc('\'', fp);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            fputc('"', fp);
        fputc(s[i], fp);
    }
    fputc('"', fp);
}

sembed_status csv_write_matrix(FILE *fp, const sembed_matrix *m,
                               const sembed_matrix_write_params *p, const char *name,
                               sembed_error *err) {
    int first = 1;
    if (m->ids) {
        fputs("id", fp);
        first = 0;
    }
    if (m->texts) {
        fputs(first ? "text" : ",text", fp);
        first = 0;
    }
    for (size_t j = 0; j < m->cols; j++)
        fprintf(fp, first && j == 0 ? "%zu" : ",%zu", j);
    fputc('\n', fp);
    char num[NUMFMT_MAX];
    for (size_t i = 0; i < m->rows; i++) {
        first = 1;
        if (m->ids) {
            put_text_cell(fp, m->ids[i], p->csv_escape_formulas);
            first = 0;
        }
        if (m->texts) {
            if (!first)
                fputc(',', fp);
            put_text_cell(fp, m->texts[i], p->csv_escape_formulas);
            first = 0;
        }
        const float *row = m->data + i * m->cols;
        for (size_t j = 0; j < m->cols; j++) {
            if (!first || j)
                fputc(',', fp);
            int n = numfmt_float(num, row[j]);
            fwrite(num, 1, (size_t)n, fp);
        }
        fputc('\n', fp);
        if (ferror(fp))
            return set_error(err, SEMBED_ERR_IO, "%s: write error", name);
    }
    return SEMBED_OK;
}
