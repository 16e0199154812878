/*
 * buf.c - the growable buffer the server writes its responses into, and the
 * JSON writers on the hot path: float arrays (an embedding response is
 * mostly floats), string literals and base64.
 *
 * Floats are written as the shortest decimal of at most 9 significant
 * digits that reads back to the same float32, as TEI (serde/ryu) does. A
 * printf("%.9g") round trip is exact but slow and long; here the digits
 * come from one multiplication by a power of ten in double precision, and
 * a shorter candidate is kept only when its double value lies inside the
 * float's rounding interval with a margin far larger than the error of
 * that multiplication, so every output reads back exactly.
 */
#include "server.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Buffer ============================================================== */

void srv_buf_free(srv_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Room for n more bytes plus the terminating NUL the writers keep. */
int srv_buf_reserve(srv_buf *b, size_t n) {
    if (b->oom)
        return -1;
    if (b->data && n < b->cap - b->len)
        return 0;
    size_t need;
    if (__builtin_add_overflow(b->len, n, &need) || need >= ((size_t)-1) / 2) {
        b->oom = 1;
        return -1;
    }
    need++;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void srv_buf_append(srv_buf *b, const void *data, size_t n) {
    if (srv_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_append(b, s, strlen(s)); }

void srv_buf_putc(srv_buf *b, char c) {
    if (srv_buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        srv_buf_append(b, small, (size_t)n);
        return;
    }
    if (srv_buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ==== JSON strings ======================================================== */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 1;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 2;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 3;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n <= k)
        return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k + 1;
}

int srv_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void srv_buf_json_string(srv_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX or \ufffd. */
    size_t worst;
    if (__builtin_mul_overflow(n, (size_t)6, &worst) || srv_buf_reserve(b, worst + 2))
        return;
    const unsigned char *u = (const unsigned char *)s;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            /* Valid sequences pass; a stray byte becomes U+FFFD, so the
             * output is always valid UTF-8 (error messages quote input). */
            size_t k = utf8_seq(u + i, n - i);
            if (k) {
                memcpy(o, u + i, k);
                o += k;
                i += k - 1;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
            }
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20) {
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}

/* ==== Floats ============================================================== */

/* Powers of ten as correctly rounded doubles (the compiler rounds the
 * literals); float32 needs exponents from -45 to 38, plus 9 digits. */
static double pow10_of(int e) {
    static const double pos[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12,
        1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25,
        1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38,
        1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51,
        1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60};
    static const double neg[] = {
        1e-0,  1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10,
        1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21,
        1e-22, 1e-23, 1e-24, 1e-25, 1e-26, 1e-27, 1e-28, 1e-29, 1e-30, 1e-31, 1e-32,
        1e-33, 1e-34, 1e-35, 1e-36, 1e-37, 1e-38, 1e-39, 1e-40, 1e-41, 1e-42, 1e-43,
        1e-44, 1e-45, 1e-46, 1e-47, 1e-48, 1e-49, 1e-50, 1e-51, 1e-52, 1e-53, 1e-54,
        1e-55, 1e-56, 1e-57, 1e-58, 1e-59, 1e-60};
    if (e >= 0)
        return e <= 60 ? pos[e] : HUGE_VAL;
    return -e <= 60 ? neg[-e] : 0.0;
}

/* x * 10^e in double, splitting the exponent so no factor overflows. */
static double scale10(double x, int e) {
    while (e > 60) {
        x *= 1e60;
        e -= 60;
    }
    while (e < -60) {
        x *= 1e-60;
        e += 60;
    }
    return x * pow10_of(e);
}

size_t srv_format_float(char *out, float v) {
    char *o = out;
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (v == 0.0f) {
        memcpy(o, "0.0", 4);
        return (size_t)(o - out) + 3;
    }
    if (!isfinite(v)) { /* callers never pass these; stay valid JSON anyway */
        memcpy(out, "null", 5);
        return 4;
    }
    double a = (double)v;
    int e10 = (int)floor(log10(a));
    /* scaled = a * 10^(8 - e10) lies in [1e8, 1e9) once e10 is right. */
    double scaled = scale10(a, 8 - e10);
    if (scaled >= 1e9) {
        e10++;
        scaled = scale10(a, 8 - e10);
    } else if (scaled < 1e8) {
        e10--;
        scaled = scale10(a, 8 - e10);
    }
    /* The float's rounding interval (lo, hi), narrowed by a margin much
     * larger than the rounding error of scale10() (about 1e-16 relative). */
    float up = nextafterf(v, INFINITY), down = nextafterf(v, 0.0f);
    double hi = isfinite(up) ? (a + (double)up) * 0.5 : a + (a - (double)down) * 0.5;
    double lo = v == down ? a * 0.5 : (a + (double)down) * 0.5;
    double margin = (hi - lo) * 1e-6;
    lo += margin;
    hi -= margin;
    /* Nine digits always read back; try fewer while they still do. */
    double digits = nearbyint(scaled);
    int exp10 = e10 - 8;
    for (int drop = 1; drop <= 8; drop++) {
        double cand = nearbyint(scaled / pow10_of(drop));
        double back = scale10(cand, e10 - 8 + drop);
        if (!(back > lo && back < hi))
            break;
        digits = cand;
        exp10 = e10 - 8 + drop;
    }
    /* Digits of the integer (at most 10), without trailing zeros. */
    uint64_t u = (uint64_t)digits;
    while (u >= 10 && u % 10 == 0) {
        u /= 10;
        exp10++;
    }
    char d[24];
    int nd = 0;
    char rev[24];
    do {
        rev[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (int i = 0; i < nd; i++)
        d[i] = rev[nd - 1 - i];
    /* The value is 0.d[0..nd) * 10^point. */
    int point = nd + exp10;
    if (point > 0 && point <= 9) {
        if (nd <= point) { /* integer: digits, zeros, ".0" */
            memcpy(o, d, (size_t)nd);
            o += nd;
            for (int i = nd; i < point; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, d, (size_t)point);
            o += point;
            *o++ = '.';
            memcpy(o, d + point, (size_t)(nd - point));
            o += nd - point;
        }
    } else if (point <= 0 && point > -4) { /* 0.000ddd, as Python's repr down to 1e-4 */
        *o++ = '0';
        *o++ = '.';
        for (int i = point; i < 0; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o += nd;
    } else { /* d.ddde±XX */
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        o += snprintf(o, 8, "e%c%02d", point - 1 < 0 ? '-' : '+', abs(point - 1));
    }
    *o = 0;
    return (size_t)(o - out);
}

void srv_buf_float(srv_buf *b, float v) {
    if (srv_buf_reserve(b, 32))
        return;
    b->len += srv_format_float(b->data + b->len, v);
}

void srv_buf_float_array(srv_buf *b, const float *v, size_t n) {
    /* 16 bytes cover "-0.123456789," and most exponents; reserve per float
     * so that huge arrays grow the buffer once. */
    size_t worst;
    if (__builtin_mul_overflow(n, (size_t)18, &worst) || srv_buf_reserve(b, worst + 2))
        return;
    char *o = b->data + b->len;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        o += srv_format_float(o, v[i]);
    }
    *o++ = ']';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}

/* ==== Base64 ============================================================== */

void srv_buf_base64(srv_buf *b, const void *data, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t groups = n / 3 + (n % 3 != 0);
    size_t outlen;
    if (__builtin_mul_overflow(groups, (size_t)4, &outlen) || srv_buf_reserve(b, outlen))
        return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = tbl[(x >> 6) & 63];
        *o++ = tbl[x & 63];
    }
    if (n - i == 1) {
        uint32_t x = (uint32_t)p[i] << 16;
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = tbl[(x >> 6) & 63];
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
}

void srv_buf_base64_floats(srv_buf *b, const float *v, size_t n) {
    size_t bytes;
    if (__builtin_mul_overflow(n, (size_t)4, &bytes)) {
        b->oom = 1;
        return;
    }
    unsigned char *le = malloc(bytes ? bytes : 1);
    if (!le) {
        b->oom = 1;
        return;
    }
    /* Little-endian whatever the host is. */
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        le[4 * i] = (unsigned char)u;
        le[4 * i + 1] = (unsigned char)(u >> 8);
        le[4 * i + 2] = (unsigned char)(u >> 16);
        le[4 * i + 3] = (unsigned char)(u >> 24);
    }
    srv_buf_putc(b, '"');
    srv_buf_base64(b, le, bytes);
    srv_buf_putc(b, '"');
    free(le);
}
