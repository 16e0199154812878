/*
 * numfmt.c - strict, locale-independent number parsing and shortest
 * round-trip formatting for the embedding file formats.
 *
 * printf and strtod follow LC_NUMERIC, which a host program may have set
 * to a locale with a decimal comma. Parsing therefore validates the syntax
 * itself and converts with strtod_l() in a "C" locale object made once;
 * formatting takes only the digits and the exponent from "%.*e" (whatever
 * the radix character) and lays the text out itself.
 */
#include "io/numfmt.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj;

static void c_locale_init(void) { c_locale_obj = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static double parse_double_c(const char *s) {
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale_obj)
        return strtod_l(s, NULL, c_locale_obj);
    return strtod(s, NULL); /* only when newlocale failed: the process locale */
}

static float parse_float_c(const char *s) {
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale_obj)
        return strtof_l(s, NULL, c_locale_obj);
    return strtof(s, NULL);
}

/* Digits and decimal exponent of v rounded to prec significant digits:
 * "%.*e" gives "-d.ddde+XX" (the radix character depends on the locale, so
 * it is skipped, not matched). Returns the number of digits. */
static int sci_digits(double v, int prec, char *digits, int *exp10, int *neg) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    const char *p = tmp;
    *neg = 0;
    if (*p == '-') {
        *neg = 1;
        p++;
    }
    int n = 0;
    while (*p && *p != 'e') {
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
        p++;
    }
    digits[n] = 0;
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
    /* Python drops trailing zeros of the shortest form ("1e-05", not "1.0e-05"). */
    while (n > 1 && digits[n - 1] == '0')
        digits[--n] = 0;
    return n;
}

/* Lays out digits d (n of them) times 10^(e - n + 1) as Python's repr does:
 * positional for -4 <= e < 16, else d.ddde+XX. */
static int layout(char *buf, const char *d, int n, int e, int neg) {
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -e - 1; i++)
                *o++ = '0';
            memcpy(o, d, (size_t)n);
            o += n;
        } else {
            for (int i = 0; i <= e; i++)
                *o++ = i < n ? d[i] : '0';
            *o++ = '.';
            if (n > e + 1) {
                memcpy(o, d + e + 1, (size_t)(n - e - 1));
                o += n - e - 1;
            } else {
                *o++ = '0';
            }
        }
    } else {
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(n - 1));
            o += n - 1;
        }
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = 0;
    return (int)(o - buf);
}

/* Whether text reads back to the value: a float32 must read back both
 * directly and through float64 (pandas and datasets read CSV as float64,
 * then cast), a float64 directly. */
static int round_trips(const char *text, double v, int is_float) {
    if (is_float)
        return parse_float_c(text) == (float)v && (float)parse_double_c(text) == (float)v;
    return parse_double_c(text) == v;
}

/* The fewest significant digits (1 .. maxp, where maxp always works) that
 * round-trip, found by bisection: more digits never read back further
 * from v. Writes the text into buf and returns its length. */
static int shortest(char *buf, double v, int maxp, int is_float) {
    if (v == 0.0)
        return (int)strlen(strcpy(buf, signbit(v) ? "-0.0" : "0.0"));
    char d[32];
    int e = 0, neg = 0, lo = 1, hi = maxp;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int n = sci_digits(v, mid, d, &e, &neg);
        layout(buf, d, n, e, neg);
        if (round_trips(buf, v, is_float))
            hi = mid;
        else
            lo = mid + 1;
    }
    int n = sci_digits(v, hi, d, &e, &neg);
    return layout(buf, d, n, e, neg);
}

int numfmt_float(char *buf, float v) { return shortest(buf, (double)v, 9, 1); }

int numfmt_double(char *buf, double v) { return shortest(buf, v, 17, 0); }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

numfmt_status numfmt_parse_float(const char *s, size_t len, float *out) {
    size_t a = 0, b = len;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    if (a == b)
        return NUMFMT_EMPTY;
    /* Syntax: [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits] */
    size_t i = a, mant = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    size_t letters = i;
    while (i < b && is_digit(s[i]))
        i++, mant++;
    if (i < b && s[i] == '.') {
        i++;
        while (i < b && is_digit(s[i]))
            i++, mant++;
    }
    if (mant == 0) {
        /* Name the non-finite spellings that pandas would accept. */
        size_t n = b - letters;
        const char *w = s + letters;
        if ((n == 3 && (!strncasecmp(w, "nan", 3) || !strncasecmp(w, "inf", 3))) ||
            (n == 8 && !strncasecmp(w, "infinity", 8)))
            return NUMFMT_NONFINITE;
        return NUMFMT_SYNTAX;
    }
    if (i < b && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < b && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < b && is_digit(s[i]))
            i++, ed++;
        if (ed == 0)
            return NUMFMT_SYNTAX;
    }
    if (i != b)
        return NUMFMT_SYNTAX;
    /* strtod needs a NUL-terminated copy; long digit strings are legal. */
    char small[128];
    char *tmp = small;
    size_t n = b - a;
    if (n >= sizeof small) {
        tmp = malloc(n + 1);
        if (!tmp)
            return NUMFMT_RANGE;
    }
    memcpy(tmp, s + a, n);
    tmp[n] = 0;
    double d = parse_double_c(tmp);
    if (tmp != small)
        free(tmp);
    float f = (float)d;
    if (!isfinite(d) || !isfinite(f))
        return NUMFMT_RANGE;
    *out = f;
    return NUMFMT_OK;
}

const char *numfmt_reason(numfmt_status st) {
    switch (st) {
    case NUMFMT_OK:
        return "ok";
    case NUMFMT_EMPTY:
        return "empty cell, expected a number";
    case NUMFMT_SYNTAX:
        return "not a number";
    case NUMFMT_NONFINITE:
        return "not a finite number (NaN and infinity are refused)";
    case NUMFMT_RANGE:
        return "number out of float32 range";
    }
    return "bad number";
}
