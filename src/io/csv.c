/*
 * csv.c - the RFC 4180 record parser (see csv.h for what it accepts).
 *
 * Field text is copied into the record's own buffer (quoted fields need
 * their doubled quotes undone anyway), so a record stays valid while the
 * caller refills or moves its input buffer.
 */
#include "io/csv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_parser_init(csv_parser *p, size_t max_fields) {
    memset(p, 0, sizeof *p);
    p->line = 1;
    p->col = 1;
    p->max_fields = max_fields;
}

void csv_record_free(csv_record *rec) {
    if (!rec)
        return;
    free(rec->fields);
    free(rec->buf);
    memset(rec, 0, sizeof *rec);
}

/* Grows the record's text buffer to hold `need` bytes. */
static int rec_reserve(csv_record *rec, size_t need) {
    if (need <= rec->buf_cap)
        return 0;
    size_t cap = rec->buf_cap ? rec->buf_cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *b = realloc(rec->buf, cap);
    if (!b)
        return -1;
    rec->buf = b;
    rec->buf_cap = cap;
    return 0;
}

/* Field boundaries are kept as offsets while the buffer may still move;
 * ptr is set once the record is complete. */
static int rec_push_field(csv_record *rec, size_t start, size_t end) {
    if (rec->n_fields == rec->fields_cap) {
        size_t cap = rec->fields_cap ? rec->fields_cap * 2 : 64;
        csv_field *f = realloc(rec->fields, cap * sizeof *f);
        if (!f)
            return -1;
        rec->fields = f;
        rec->fields_cap = cap;
    }
    rec->fields[rec->n_fields].ptr = (const char *)(uintptr_t)start;
    rec->fields[rec->n_fields].len = end - start;
    rec->n_fields++;
    return 0;
}

static csv_result fail(csv_parser *p, size_t line, size_t col, const char *what) {
    snprintf(p->msg, sizeof p->msg, "line %zu, column %zu: %s", line, col, what);
    return CSV_ERROR;
}

static csv_result oom(csv_parser *p) {
    snprintf(p->msg, sizeof p->msg, "line %zu: out of memory", p->line);
    return CSV_ERROR;
}

csv_result csv_parse_record(csv_parser *p, const char *buf, size_t len, int at_eof,
                            csv_record *rec, size_t *consumed) {
    size_t pos = 0;
    *consumed = 0;
    rec->n_fields = 0;
    if (!p->started) {
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        const unsigned char *u = (const unsigned char *)buf;
        if (len < 3 && !at_eof && (len == 0 || memcmp(u, bom, len) == 0))
            return CSV_NEED_MORE;
        if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
            return fail(p, 1, 1, "UTF-16 text is not supported (save the file as UTF-8)");
        if (len >= 3 && memcmp(u, bom, 3) == 0)
            pos = 3;
    }
    if (pos == len) {
        if (!at_eof)
            return CSV_NEED_MORE;
        p->started = 1;
        *consumed = pos;
        return CSV_END;
    }
    size_t line = p->line, col = p->col, used = 0;
    rec->line = line;
    for (;;) {
        size_t start = used;
        if (buf[pos] == '"') {
            size_t qline = line, qcol = col;
            pos++, col++;
            for (;;) {
                if (pos == len) {
                    if (!at_eof)
                        return CSV_NEED_MORE;
                    return fail(p, qline, qcol, "quoted field is never closed");
                }
                char c = buf[pos];
                if (c == '"') {
                    if (pos + 1 == len && !at_eof)
                        return CSV_NEED_MORE; /* "" or the closing quote? */
                    if (pos + 1 < len && buf[pos + 1] == '"') {
                        if (rec_reserve(rec, used + 1))
                            return oom(p);
                        rec->buf[used++] = '"';
                        pos += 2, col += 2;
                        continue;
                    }
                    pos++, col++;
                    break;
                }
                if (c == 0)
                    return fail(p, line, col, "NUL byte in the text");
                if (rec_reserve(rec, used + 1))
                    return oom(p);
                rec->buf[used++] = c;
                pos++;
                if (c == '\n' || (c == '\r' && !(pos < len && buf[pos] == '\n'))) {
                    if (c == '\r' && pos == len && !at_eof)
                        return CSV_NEED_MORE; /* CR LF may be split */
                    line++, col = 1;
                } else {
                    col++;
                }
            }
            if (pos < len && buf[pos] != ',' && buf[pos] != '\r' && buf[pos] != '\n')
                return fail(p, line, col,
                            "unexpected character after a closing quote (quotes inside a "
                            "field must be doubled)");
        } else {
            for (;;) {
                if (pos == len) {
                    if (!at_eof)
                        return CSV_NEED_MORE;
                    break;
                }
                char c = buf[pos];
                if (c == ',' || c == '\r' || c == '\n')
                    break;
                if (c == '"')
                    return fail(p, line, col,
                                "quote inside an unquoted field (quote the whole field)");
                if (c == 0)
                    return fail(p, line, col, "NUL byte in the text");
                if (rec_reserve(rec, used + 1))
                    return oom(p);
                rec->buf[used++] = c;
                pos++, col++;
            }
        }
        if (p->max_fields && rec->n_fields >= p->max_fields)
            return fail(p, rec->line, col, "too many fields in one record");
        if (rec_push_field(rec, start, used))
            return oom(p);
        if (pos == len)
            break; /* at_eof: the last record may lack its newline */
        char c = buf[pos];
        if (c == ',') {
            pos++, col++;
            if (pos == len && !at_eof)
                return CSV_NEED_MORE;
            if (pos == len || buf[pos] == '\r' || buf[pos] == '\n') {
                /* A trailing separator: one more, empty field. */
                if (p->max_fields && rec->n_fields >= p->max_fields)
                    return fail(p, rec->line, col, "too many fields in one record");
                if (rec_push_field(rec, used, used))
                    return oom(p);
                if (pos == len)
                    break;
                c = buf[pos];
            } else {
                continue;
            }
        }
        if (c == '\r') {
            if (pos + 1 == len && !at_eof)
                return CSV_NEED_MORE;
            pos++;
            if (pos < len && buf[pos] == '\n')
                pos++;
        } else {
            pos++; /* '\n' */
        }
        line++, col = 1;
        break;
    }
    if (rec_reserve(rec, used + 1))
        return oom(p);
    rec->buf[used] = 0;
    for (size_t i = 0; i < rec->n_fields; i++)
        rec->fields[i].ptr = rec->buf + (uintptr_t)rec->fields[i].ptr;
    p->line = line;
    p->col = col;
    p->started = 1;
    *consumed = pos;
    return CSV_RECORD;
}

int csv_needs_quotes(const char *s, size_t len) {
    if (len == 0)
        return 0;
    if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
        return 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
            return 1;
    return 0;
}
