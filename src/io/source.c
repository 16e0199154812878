/*
 * source.c - chunked file reading behind one window (see source.h).
 */
#include "io/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

/* Bytes asked of read() at a time. */
#define IO_CHUNK ((size_t)1 << 20)

sembed_status io_source_open(io_source *s, const char *path, sembed_error *err) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->name = path;
    int fd;
    sembed_status rc = open_regular_file(path, &fd, NULL, err);
    if (rc != SEMBED_OK)
        return rc;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    s->fd = fd;
    return SEMBED_OK;
}

void io_source_mem(io_source *s, const void *bytes, size_t len, const char *name) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->name = name ? name : "input";
    s->mem = bytes ? (const char *)bytes : "";
    s->mem_len = len;
    s->end = len;
    s->eof = 1;
}

void io_source_close(io_source *s) {
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    s->fd = -1;
    s->buf = NULL;
}

void io_source_consume(io_source *s, size_t n) {
    if (n > s->end - s->start)
        n = s->end - s->start;
    s->start += n;
    s->offset += n;
}

/* One read() of up to n bytes at buf, retried on EINTR. */
static ssize_t read_some(int fd, void *buf, size_t n) {
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

int io_source_more(io_source *s, size_t limit, sembed_error *err) {
    if (s->eof)
        return 0;
    size_t avail = s->end - s->start;
    if (avail >= limit)
        return -(int)SEMBED_ERR_LIMIT;
    /* Move the unconsumed bytes to the front, then make room for a chunk
     * (but no more than the limit allows). */
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, avail);
        s->start = 0;
        s->end = avail;
    }
    size_t want = limit - avail < IO_CHUNK ? limit - avail : IO_CHUNK;
    if (s->cap - s->end < want) {
        size_t cap = s->cap ? s->cap : IO_CHUNK;
        while (cap - s->end < want)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -(int)set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", s->name);
        s->buf = b;
        s->cap = cap;
    }
    ssize_t r = read_some(s->fd, s->buf + s->end, s->cap - s->end);
    if (r < 0)
        return -(int)set_error(err, SEMBED_ERR_IO, "%s: %s", s->name, strerror(errno));
    if (r == 0) {
        s->eof = 1;
        return 0;
    }
    s->end += (size_t)r;
    return 1;
}

sembed_status io_source_read(io_source *s, void *dst, size_t n, sembed_error *err) {
    char *d = dst;
    size_t avail = s->end - s->start;
    size_t take = avail < n ? avail : n;
    memcpy(d, io_source_ptr(s), take);
    io_source_consume(s, take);
    d += take;
    n -= take;
    while (n > 0) {
        if (s->fd < 0 || s->eof)
            return set_error(err, SEMBED_ERR_FORMAT, "%s: the file ends early (truncated)",
                             s->name);
        ssize_t r = read_some(s->fd, d, n);
        if (r < 0)
            return set_error(err, SEMBED_ERR_IO, "%s: %s", s->name, strerror(errno));
        if (r == 0) {
            s->eof = 1;
            continue;
        }
        d += r;
        n -= (size_t)r;
        s->offset += (unsigned long long)r;
    }
    return SEMBED_OK;
}

int io_source_at_end(io_source *s, sembed_error *err) {
    while (s->end == s->start && !s->eof) {
        int r = io_source_more(s, IO_CHUNK, err);
        if (r < 0)
            return r;
    }
    return s->end == s->start;
}
