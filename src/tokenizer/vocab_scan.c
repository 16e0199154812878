/*
 * vocab_scan.c - a fast path for tokenizer.json's model.vocab.
 *
 * The vocabulary is most of tokenizer.json (30,522 entries, 0.7 MB for
 * all-MiniLM-L6-v2), and building it as a jansson object tree (one
 * allocation per key and per value, a hash table, then freeing it all) took
 * most of the model's load time. This scanner finds root.model.vocab with a
 * small linear JSON walker, reads its "token": id pairs directly, and lets
 * the caller hand jansson the rest of the file with the vocabulary replaced
 * by {}. Anything outside the simple, common shape (escaped or repeated
 * "model"/"vocab" keys, non-integer ids, invalid UTF-8, deep nesting) makes
 * the scanner give up, and the caller parses the whole file with jansson as
 * before, so the error messages and edge cases stay jansson's.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

#define SCAN_MAX_DEPTH 64

typedef struct scan {
    const unsigned char *p, *end;
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Length of a valid UTF-8 sequence at p (1-4), or 0 when invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (!n || c > 0xF4 || end - p < n)
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
        return 0; /* overlong, surrogate */
    if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
        return 0; /* overlong, beyond U+10FFFF */
    return n;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Reads a string at s->p (which is at '"'). With dst, writes the decoded
 * bytes there (the caller sizes dst to at least the raw length) and their
 * count to *len; *escaped tells whether the raw form had a backslash. */
static int string(scan *s, char *dst, size_t *len, int *escaped) {
    if (s->p >= s->end || *s->p != '"')
        return -1;
    s->p++;
    size_t n = 0;
    if (escaped)
        *escaped = 0;
    while (s->p < s->end) {
        unsigned c = *s->p;
        if (c == '"') {
            s->p++;
            if (len)
                *len = n;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (escaped)
                *escaped = 1;
            if (s->end - s->p < 2)
                return -1;
            unsigned e = s->p[1];
            s->p += 2;
            unsigned cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (s->end - s->p < 4 || hex4(s->p, &cp))
                    return -1;
                s->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                        hex4(s->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    s->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return -1;
                }
                break;
            default:
                return -1;
            }
            if (dst) {
                if (cp < 0x80) {
                    dst[n++] = (char)cp;
                } else if (cp < 0x800) {
                    dst[n++] = (char)(0xC0 | cp >> 6);
                    dst[n++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    dst[n++] = (char)(0xE0 | cp >> 12);
                    dst[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                    dst[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    dst[n++] = (char)(0xF0 | cp >> 18);
                    dst[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
                    dst[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                    dst[n++] = (char)(0x80 | (cp & 0x3F));
                }
            }
            continue;
        }
        int l = utf8_len(s->p, s->end);
        if (!l)
            return -1;
        if (dst)
            memcpy(dst + n, s->p, (size_t)l);
        n += (size_t)l;
        s->p += l;
    }
    return -1;
}

/* Skips any JSON value without building it (iterative, depth-capped). */
static int skip_value(scan *s) {
    int depth = 0;
    for (;;) {
        ws(s);
        if (s->p >= s->end)
            return -1;
        unsigned c = *s->p;
        if (c == '{' || c == '[') {
            if (++depth > SCAN_MAX_DEPTH)
                return -1;
            s->p++;
            ws(s);
            if (s->p < s->end && (*s->p == '}' || *s->p == ']')) {
                s->p++;
                depth--;
                goto after;
            }
            if (c == '{') {
                if (string(s, NULL, NULL, NULL))
                    return -1;
                ws(s);
                if (s->p >= s->end || *s->p != ':')
                    return -1;
                s->p++;
            }
            continue;
        }
        if (c == '"') {
            if (string(s, NULL, NULL, NULL))
                return -1;
        } else {
            /* a number or a literal: its characters up to a delimiter */
            const unsigned char *b = s->p;
            while (s->p < s->end && strchr("+-.0123456789eEtruefalsn", *s->p) && *s->p)
                s->p++;
            if (s->p == b)
                return -1;
        }
    after:
        for (;;) {
            if (depth == 0)
                return 0;
            ws(s);
            if (s->p >= s->end)
                return -1;
            if (*s->p == ',') {
                s->p++;
                ws(s);
                /* inside an object, the next member starts with its key */
                break;
            }
            if (*s->p == '}' || *s->p == ']') {
                s->p++;
                depth--;
                continue;
            }
            return -1;
        }
        /* Objects and arrays are told apart by what follows the comma. */
        if (s->p < s->end && *s->p == '"') {
            const unsigned char *save = s->p;
            if (string(s, NULL, NULL, NULL))
                return -1;
            ws(s);
            if (s->p < s->end && *s->p == ':') {
                s->p++;
                continue;
            }
            s->p = save; /* an array element that is a string */
        }
    }
}

/* Reads an integer id: digits only (an optional '-'), no fraction. */
static int integer(scan *s, long long *out) {
    int neg = 0;
    if (s->p < s->end && *s->p == '-') {
        neg = 1;
        s->p++;
    }
    const unsigned char *b = s->p;
    long long v = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (v > 1000000000000LL)
            return -1;
        v = v * 10 + (*s->p - '0');
        s->p++;
    }
    if (s->p == b || (s->p - b > 1 && *b == '0'))
        return -1;
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
        return -1;
    *out = neg ? -v : v;
    return 0;
}

/* Parses the vocab object at s->p into entries. */
static int read_vocab(scan *s, tok_vocab_scan *out) {
    const unsigned char *begin = s->p;
    s->p++; /* '{' */
    size_t cap = 1024, n = 0;
    tok_vocab_entry *e = malloc(cap * sizeof *e);
    /* Decoded keys never exceed their raw length: one arena of the span. */
    char *arena = NULL;
    size_t used = 0;
    if (!e)
        return -1;
    /* Find the end first to size the arena (a cheap second pass). */
    scan probe = {begin, s->end};
    if (skip_value(&probe)) {
        free(e);
        return -1;
    }
    arena = malloc((size_t)(probe.p - begin) + 1);
    if (!arena) {
        free(e);
        return -1;
    }
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        goto done;
    }
    for (;;) {
        ws(s);
        size_t len;
        if (string(s, arena + used, &len, NULL))
            goto fail;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            goto fail;
        s->p++;
        ws(s);
        long long id;
        if (integer(s, &id))
            goto fail;
        if (n == cap) {
            cap *= 2;
            tok_vocab_entry *ne = realloc(e, cap * sizeof *e);
            if (!ne)
                goto fail;
            e = ne;
        }
        e[n].text = arena + used;
        e[n].len = (uint32_t)len;
        e[n].id = id;
        n++;
        arena[used + len] = 0;
        used += len + 1;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        goto fail;
    }
done:
    out->entries = e;
    out->n = n;
    out->arena = arena;
    out->span_begin = (size_t)(begin - out->base);
    out->span_end = (size_t)(s->p - out->base);
    return 0;
fail:
    free(e);
    free(arena);
    return -1;
}

/* Walks the members of the object at s->p; for the member named `key`
 * (unescaped, appearing once) leaves s->p at its value and returns 1. */
static int find_member(scan *s, const char *key, const unsigned char **value) {
    ws(s);
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    size_t klen = strlen(key);
    *value = NULL;
    ws(s);
    if (s->p < s->end && *s->p == '}')
        return 0;
    for (;;) {
        ws(s);
        const unsigned char *kb = s->p + 1;
        int escaped;
        if (string(s, NULL, NULL, &escaped))
            return -1;
        size_t raw = (size_t)(s->p - kb) - 1;
        int match = raw == klen && memcmp(kb, key, klen) == 0;
        if (escaped && !match) {
            /* an escaped key could still spell `key`: not the simple shape */
            return -1;
        }
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        ws(s);
        if (match) {
            if (*value)
                return -1; /* repeated: jansson's last-wins rule applies */
            *value = s->p;
        }
        if (skip_value(s))
            return -1;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return *value ? 1 : 0;
        }
        return -1;
    }
}

int tok_vocab_scan_json(const char *json, size_t len, tok_vocab_scan *out) {
    memset(out, 0, sizeof *out);
    out->base = (const unsigned char *)json;
    scan s = {(const unsigned char *)json, (const unsigned char *)json + len};
    const unsigned char *model, *vocab;
    if (find_member(&s, "model", &model) != 1)
        return -1;
    s.p = model;
    if (find_member(&s, "vocab", &vocab) != 1)
        return -1;
    s.p = vocab;
    if (*s.p != '{')
        return -1;
    return read_vocab(&s, out);
}

void tok_vocab_scan_free(tok_vocab_scan *v) {
    free(v->entries);
    free(v->arena);
    memset(v, 0, sizeof *v);
}
