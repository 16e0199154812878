/*
 * csv.h - an RFC 4180 record parser over bytes, and the embedding CSV
 * layout on top of it.
 *
 * The parser is incremental: it is handed whatever bytes are buffered and
 * either returns one complete record, asks for more bytes, or reports an
 * error with its line and column. It never reads past len, so the same code
 * serves a file read in chunks and a buffer in memory (the fuzzer).
 *
 * Accepted: fields separated by ',', records ended by LF, CRLF or a lone
 * CR (and by the end of the input), quoted fields with doubled quotes and
 * embedded separators/newlines, a UTF-8 byte order mark at the start.
 * Refused: a quote inside an unquoted field ("a\"b"), anything but a
 * separator or a record end after a closing quote ("\"a\"b"), an
 * unterminated quoted field, NUL bytes, UTF-16 byte order marks.
 */
#ifndef SEMBED_IO_CSV_H
#define SEMBED_IO_CSV_H

#include <stddef.h>

#include "sembed.h"

typedef struct csv_field {
    const char *ptr;    /* into the record's storage; valid until the next call */
    size_t len;
} csv_field;

typedef struct csv_record {
    csv_field *fields;
    size_t n_fields;
    size_t line;        /* line number (1-based) where the record starts */
    /* storage, owned by the record */
    char *buf;
    size_t buf_cap;
    size_t fields_cap;
} csv_record;

typedef enum csv_result {
    CSV_RECORD = 0,     /* *rec holds one record; *consumed bytes were used */
    CSV_NEED_MORE,      /* the bytes end inside a record: call again with more */
    CSV_END,            /* no bytes left (only when at_eof) */
    CSV_ERROR           /* msg says what and where */
} csv_result;

typedef struct csv_parser {
    size_t line;        /* line of the next byte (1-based) */
    size_t col;         /* column of the next byte (1-based, in bytes) */
    int started;        /* the byte order mark check is done */
    size_t max_fields;  /* 0 = no limit */
    char msg[256];
} csv_parser;

void csv_parser_init(csv_parser *p, size_t max_fields);

/* Parses one record from buf[0 .. len). When at_eof is 0 and the bytes end
 * inside a record (or right after a CR that an LF may follow), returns
 * CSV_NEED_MORE without consuming anything. Blank lines are records with
 * one empty field; callers decide whether to skip them. */
csv_result csv_parse_record(csv_parser *p, const char *buf, size_t len, int at_eof,
                            csv_record *rec, size_t *consumed);

void csv_record_free(csv_record *rec);

/* Whether a text cell needs quotes: separators, quotes, CR/LF, or spaces
 * at either end. */
int csv_needs_quotes(const char *s, size_t len);

#endif /* SEMBED_IO_CSV_H */
