/*
 * common.h - small helpers every module shares: error reporting into a
 * caller's sembed_error, checked arithmetic, bounded whole-file reads and
 * path joining. Nothing here allocates without a stated bound.
 */
#ifndef SEMBED_COMMON_H
#define SEMBED_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

/* Fills *err (when not NULL) with status and a printf-style message and
 * returns status, so that failures read `return set_error(err, ...)`. */
sembed_status set_error(sembed_error *err, sembed_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears *err to SEMBED_OK with an empty message. */
void clear_error(sembed_error *err);

/* Checked size arithmetic: return 1 on overflow. */
static inline int mul_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline int add_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* Opens path read-only as a regular file: directories, FIFOs and devices
 * are refused ("<path>: not a regular file"), and a FIFO cannot hang the
 * open. Sets *fd (close it) and *size (when not NULL). SEMBED_ERR_NOT_FOUND
 * when missing. */
sembed_status open_regular_file(const char *path, int *fd, uint64_t *size, sembed_error *err);

/* Reads a whole regular file of at most max_bytes into a fresh buffer with
 * a NUL appended (not counted in *len). Refuses directories, FIFOs and
 * devices. Messages name the path. Free with free(). */
sembed_status read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                        sembed_error *err);

/* 1 when path exists and is a regular file / directory. */
int file_exists(const char *path);
int dir_exists(const char *path);

/* Writes dir "/" name into out (cap bytes); SEMBED_ERR_LIMIT when too long.
 * An empty dir gives name; an empty name gives dir. */
sembed_status path_join(char *out, size_t cap, const char *dir, const char *name,
                        sembed_error *err);

/* Monotonic seconds. */
double now_seconds(void);

/* Number of online CPUs (at least 1). */
int cpu_count(void);

#endif /* SEMBED_COMMON_H */
