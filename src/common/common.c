/*
 * common.c - error reporting, bounded file reads, paths, clocks.
 */
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

sembed_status set_error(sembed_error *err, sembed_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void clear_error(sembed_error *err) {
    if (err) {
        err->status = SEMBED_OK;
        err->message[0] = 0;
    }
}

sembed_status open_regular_file(const char *path, int *fd_out, uint64_t *size,
                                sembed_error *err) {
    *fd_out = -1;
    /* O_NONBLOCK so that a FIFO in place of a file cannot hang the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return set_error(err, errno == ENOENT ? SEMBED_ERR_NOT_FOUND : SEMBED_ERR_IO,
                         "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return set_error(err, SEMBED_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        int is_dir = S_ISDIR(st.st_mode);
        close(fd);
        return set_error(err, SEMBED_ERR_IO, "%s: not a regular file%s", path,
                         is_dir ? " (a directory)" : "");
    }
    *fd_out = fd;
    if (size)
        *size = (uint64_t)st.st_size;
    return SEMBED_OK;
}

sembed_status read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                        sembed_error *err) {
    *out = NULL;
    if (len)
        *len = 0;
    int fd;
    uint64_t fsize;
    sembed_status rc = open_regular_file(path, &fd, &fsize, err);
    if (rc != SEMBED_OK)
        return rc;
    if (fsize > (uint64_t)max_bytes) {
        close(fd);
        return set_error(err, SEMBED_ERR_LIMIT, "%s: file is larger than %zu bytes", path,
                         max_bytes);
    }
    size_t size = (size_t)fsize;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(buf);
            close(fd);
            return set_error(err, SEMBED_ERR_IO, "%s: %s", path,
                             e ? strerror(e) : "file shrank while being read");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = 0;
    *out = buf;
    if (len)
        *len = size;
    return SEMBED_OK;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

sembed_status path_join(char *out, size_t cap, const char *dir, const char *name,
                        sembed_error *err) {
    int n;
    if (!dir || !*dir)
        n = snprintf(out, cap, "%s", name);
    else if (!name || !*name)
        n = snprintf(out, cap, "%s", dir);
    else
        n = snprintf(out, cap, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (n < 0 || (size_t)n >= cap)
        return set_error(err, SEMBED_ERR_LIMIT, "path too long: %s/%s", dir ? dir : "",
                         name ? name : "");
    return SEMBED_OK;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
