/*
 * unicode.c - per-code-point predicates and mappings of the BERT pipeline
 * (see unicode.h), on top of the generated tables and utf8proc. utf8proc
 * knows a newer Unicode than tokenizers' NFD data, so its decomposition and
 * combining classes are only used for characters assigned by Unicode 9.0.
 */
#include "tokenizer/unicode.h"

#include <utf8proc.h>

int tok_in_ranges(uint32_t cp, const tok_range *r, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int tok_is_deleted(uint32_t cp) {
    if (cp == 0x09 || cp == 0x0A || cp == 0x0D)
        return 0;
    if (cp == 0 || cp == 0xFFFD)
        return 1;
    return tok_in_ranges(cp, tok_control8, tok_control8_len);
}

int tok_is_whitespace(uint32_t cp) {
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return 0;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

int tok_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int tok_is_mn8(uint32_t cp) {
    return cp >= 0x300 && tok_in_ranges(cp, tok_mn8, tok_mn8_len);
}

int tok_is_punct(uint32_t cp) {
    return tok_in_ranges(cp, tok_punct8, tok_punct8_len);
}

int tok_lower(uint32_t cp, uint32_t out[2]) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp == 0x130) {
        /* The only unconditional lowercase that yields two characters. */
        out[0] = 0x69;
        out[1] = 0x307;
        return 2;
    }
    size_t lo = 0, hi = tok_lower_override_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < tok_lower_override[mid].cp) {
            hi = mid;
        } else if (cp > tok_lower_override[mid].cp) {
            lo = mid + 1;
        } else {
            out[0] = tok_lower_override[mid].lower;
            return 1;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

/* Whether utf8proc's canonical data for cp may be used (assigned by 9.0). */
static int known9(uint32_t cp) {
    return tok_in_ranges(cp, tok_assigned9, tok_assigned9_len);
}

int tok_ccc(uint32_t cp) {
    if (cp < 0x300 || cp > 0x10FFFF)
        return 0;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->combining_class == 0 || !known9(cp))
        return 0;
    return p->combining_class;
}

int tok_nfd(uint32_t cp, uint32_t out[TOK_NFD_MAX]) {
    out[0] = cp;
    if (cp < 0xC0 || cp > 0x10FFFF)
        return 1;
    int hangul = cp >= 0xAC00 && cp <= 0xD7A3;
    if (!hangul) {
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
        /* decomp_type 0 with a sequence is a canonical decomposition. */
        if (p->decomp_seqindex == UINT16_MAX || p->decomp_type != 0 || !known9(cp))
            return 1;
    }
    utf8proc_int32_t buf[TOK_NFD_MAX];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, TOK_NFD_MAX,
                                                 UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 1 || n > TOK_NFD_MAX)
        return 1;
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (int)n;
}

/* Allowed range of the second byte for each lead byte; later bytes are
 * 80..BF. A zero `need` marks bytes that never start a character. */
static int seq_rule(unsigned c, unsigned *lo2, unsigned *hi2) {
    *lo2 = 0x80;
    *hi2 = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 1;
    if (c == 0xE0) {
        *lo2 = 0xA0;
        return 2;
    }
    if (c == 0xED) {
        *hi2 = 0x9F;
        return 2;
    }
    if (c >= 0xE1 && c <= 0xEF)
        return 2;
    if (c == 0xF0) {
        *lo2 = 0x90;
        return 3;
    }
    if (c == 0xF4) {
        *hi2 = 0x8F;
        return 3;
    }
    if (c >= 0xF1 && c <= 0xF3)
        return 3;
    return 0;
}

size_t tok_utf8_invalid_len(const unsigned char *s, size_t len) {
    unsigned lo2, hi2;
    int need = seq_rule(s[0], &lo2, &hi2);
    size_t i = 1;
    for (int k = 0; k < need && i < len; k++, i++) {
        unsigned lo = k == 0 ? lo2 : 0x80, hi = k == 0 ? hi2 : 0xBF;
        if (s[i] < lo || s[i] > hi)
            break;
    }
    return i;
}

size_t tok_utf8_valid_prefix(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* Eight ASCII bytes at a time: most text is mostly ASCII. */
        while (i + 8 <= len) {
            uint64_t w;
            __builtin_memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned lo2, hi2;
        int need = seq_rule(c, &lo2, &hi2);
        if (need == 0 || len - i < (size_t)need + 1)
            return i;
        if (s[i + 1] < lo2 || s[i + 1] > hi2)
            return i;
        for (int k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        i += (size_t)need + 1;
    }
    return i;
}
