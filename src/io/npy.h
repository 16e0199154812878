/*
 * npy.h - the .npy header: parsing (strict: a Python dict literal with
 * exactly descr, fortran_order and shape, never evaluated) and writing.
 * The format is numpy's NEP 1: magic "\x93NUMPY", version 1.0 / 2.0 / 3.0,
 * a little-endian header length, the header padded with spaces and a
 * newline, then the raw array.
 */
#ifndef SEMBED_IO_NPY_H
#define SEMBED_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

#define NPY_MAX_DIMS 8

typedef struct npy_header {
    int major, minor;         /* version */
    char byteorder;           /* '<', '>', '|' or '=' */
    char kind;                /* 'f', 'i', 'u', 'b', 'O', ... */
    int itemsize;             /* bytes per element */
    char descr[32];           /* the dtype string as written */
    int fortran_order;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    size_t data_offset;       /* bytes before the array data */
    uint64_t n_items;         /* product of shape (checked) */
    uint64_t data_bytes;      /* n_items * itemsize (checked) */
} npy_header;

/* Parses the header at the start of buf (len bytes). *need (when not NULL)
 * gets the bytes required to finish parsing: when len is shorter, the
 * result is SEMBED_ERR_FORMAT with *need > len, and the caller may retry
 * with more bytes. The header length may not exceed max_header bytes.
 * `name` prefixes messages. */
sembed_status npy_parse_header(const char *buf, size_t len, size_t max_header, const char *name,
                               npy_header *h, size_t *need, sembed_error *err);

/* Writes a version 1.0 header for a C-order '<f4' array of the given shape
 * (ndim 1 or 2), padded so that the data starts at a multiple of 64.
 * Returns the header size in bytes (at most cap), or 0 when cap is too
 * small. */
size_t npy_format_header(char *buf, size_t cap, int ndim, const uint64_t *shape);

#endif /* SEMBED_IO_NPY_H */
