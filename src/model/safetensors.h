/*
 * safetensors.h - a validating reader of the safetensors format
 * (8-byte little-endian header length, JSON header, tensor bytes).
 *
 * The checks follow the reference implementation (huggingface/safetensors):
 * header at most 100 MB, valid UTF-8 JSON object, every tensor entry with a
 * known dtype, a shape of non-negative integers whose element count times
 * the dtype size (checked multiplications) equals end - begin, and offsets
 * that tile the data area exactly: sorted, starting at 0, no gap, no
 * overlap, ending at the end of the file. Duplicate names are refused. Every
 * violation is a SEMBED_ERR_FORMAT whose message names the file and tensor.
 */
#ifndef SEMBED_SAFETENSORS_H
#define SEMBED_SAFETENSORS_H

#include <stdint.h>
#include <stddef.h>

#include "sembed.h"

#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)
#define SAFETENSORS_MAX_DIMS 8
/* 100k entries parse in ~0.3 s and ~100 MB; a million would take 1 GB of
 * JSON tree, so the count is checked before the header is parsed. */
#define SAFETENSORS_MAX_TENSORS 100000
/* __metadata__: at most this many entries and bytes of keys plus values. */
#define SAFETENSORS_MAX_METADATA_ENTRIES 1024
#define SAFETENSORS_MAX_METADATA_BYTES (1u << 20)
/* Nesting of the header JSON (the schema needs 3 levels). */
#define SAFETENSORS_MAX_DEPTH 8

typedef enum st_dtype {
    ST_F32 = 0, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
    ST_F8_E4M3, ST_F8_E5M2, ST_U16, ST_U32, ST_U64, ST_DTYPE_COUNT
} st_dtype;

typedef struct st_tensor {
    const char *name;             /* NUL-terminated, owned by the file object */
    st_dtype dtype;
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t n_elements;
    uint64_t begin, end;          /* offsets in the data area */
    const void *data;             /* points into the mapping; may be unaligned */
} st_tensor;

typedef struct safetensors_file {
    char path[1024];
    void *map;                    /* whole-file read-only mapping */
    size_t map_size;
    size_t n_tensors;
    st_tensor *tensors;           /* sorted by name */
    char *names;                  /* storage for the names */
} safetensors_file;

/* Size in bytes of one element of dtype. */
size_t safetensors_dtype_size(st_dtype dtype);
const char *safetensors_dtype_name(st_dtype dtype);

/* Parses and validates a whole file image of `len` bytes (header length,
 * header, data). `what` names the file in error messages. On success *out
 * holds the tensor table with data pointers into buf (buf must outlive it);
 * map/map_size are left empty. Free with safetensors_close(). */
sembed_status safetensors_parse(const uint8_t *buf, size_t len, const char *what,
                                safetensors_file *out, sembed_error *err);

/* Maps path read-only and parses it (fstat first: FIFOs, directories and
 * files shorter than 8 bytes are refused). */
sembed_status safetensors_open(const char *path, safetensors_file *out, sembed_error *err);

void safetensors_close(safetensors_file *f);

/* Binary search by exact name; NULL when absent. */
const st_tensor *safetensors_find(const safetensors_file *f, const char *name);

/* Parses a dtype name exactly as the format spells it ("F32", "BF16", ...);
 * returns -1 when it is not one of st_dtype. */
int safetensors_dtype_from_name(const char *name);

#endif /* SEMBED_SAFETENSORS_H */
