/*
 * numfmt.h - locale-independent number text for embedding files: strict
 * decimal parsing and the shortest text that reads back to the same float
 * (Python's repr layout), so that files round-trip bit-exactly through
 * pandas, numpy and json whatever LC_NUMERIC the host program set.
 */
#ifndef SEMBED_IO_NUMFMT_H
#define SEMBED_IO_NUMFMT_H

#include <stddef.h>

/* Longest text numfmt_* writes, NUL included. */
#define NUMFMT_MAX 40

/* The shortest decimal that reads back (as float32, and through float64
 * then float32 as pandas does) to v, laid out as Python's repr: "0.1",
 * "1e-05", "123456790.0", "-0.0". v must be finite. Returns the length. */
int numfmt_float(char *buf, float v);

/* The same for a float64 (what json.dumps writes for a Python float). */
int numfmt_double(char *buf, double v);

typedef enum numfmt_status {
    NUMFMT_OK = 0,
    NUMFMT_EMPTY,       /* no characters (after trimming spaces) */
    NUMFMT_SYNTAX,      /* not a decimal number */
    NUMFMT_NONFINITE,   /* nan, inf, infinity */
    NUMFMT_RANGE        /* beyond float32 */
} numfmt_status;

/* Parses len bytes as a decimal number: optional spaces/tabs around, an
 * optional sign, digits with an optional '.', an optional exponent. No
 * hex, no locale decimal comma, no nan/inf. The value goes through
 * float64 and is then rounded to float32 (as pandas + astype do);
 * underflow gives zero. */
numfmt_status numfmt_parse_float(const char *s, size_t len, float *out);

/* A short English reason for a status ("not a number", ...). */
const char *numfmt_reason(numfmt_status st);

#endif /* SEMBED_IO_NUMFMT_H */
