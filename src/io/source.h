/*
 * source.h - bytes to parse, from a file read in chunks or from memory,
 * seen through one window so that every parser takes bytes + length.
 *
 * A file is read into a buffer that grows only as far as the caller's
 * limit, so a huge record or line costs an error, not unbounded memory.
 * Memory input is used in place.
 */
#ifndef SEMBED_IO_SOURCE_H
#define SEMBED_IO_SOURCE_H

#include <stddef.h>

#include "sembed.h"

typedef struct io_source {
    const char *name;    /* for messages: the path, or "input" */
    int fd;              /* -1 for memory */
    const char *mem;     /* memory input */
    size_t mem_len;
    char *buf;           /* file window storage */
    size_t cap;
    size_t start, end;   /* the unconsumed bytes are [start, end) */
    int eof;             /* no bytes beyond `end` */
    unsigned long long offset; /* file offset of buf[start] (for messages) */
} io_source;

/* Opens path for reading (regular files only). */
sembed_status io_source_open(io_source *s, const char *path, sembed_error *err);
void io_source_mem(io_source *s, const void *bytes, size_t len, const char *name);
void io_source_close(io_source *s);

/* The unconsumed bytes. */
static inline const char *io_source_ptr(const io_source *s) {
    if (s->fd < 0)
        return s->mem + s->start;
    return s->buf ? s->buf + s->start : ""; /* nothing read yet */
}
static inline size_t io_source_avail(const io_source *s) { return s->end - s->start; }

void io_source_consume(io_source *s, size_t n);

/* Reads more bytes so that more than the current io_source_avail() are
 * buffered, keeping at most `limit` bytes in the window. Returns 1 when
 * bytes were added, 0 at the end of the input, SEMBED_ERR_LIMIT (negated)
 * when the window already holds `limit` bytes, or another negated status
 * (with *err set) on a read error. */
int io_source_more(io_source *s, size_t limit, sembed_error *err);

/* Reads exactly n bytes into dst, first from the window, then straight
 * from the file. SEMBED_ERR_FORMAT when the input ends first. */
sembed_status io_source_read(io_source *s, void *dst, size_t n, sembed_error *err);

/* 1 when nothing is left (reads ahead one chunk to find out). */
int io_source_at_end(io_source *s, sembed_error *err);

#endif /* SEMBED_IO_SOURCE_H */
