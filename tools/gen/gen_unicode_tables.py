#!/usr/bin/python3
"""gen_unicode_tables.py - writes src/tokenizer/unicode_tables.c, the Unicode
data that Hugging Face tokenizers' BERT pipeline uses and that utf8proc (a
newer Unicode) cannot give directly.

Why each input (all paths come from the command line; regen.sh fetches them):
  --uc-tables   tables.rs of the Rust crate unicode_categories 0.1.1 (Debian
                librust-unicode-categories-dev). tokenizers takes Cc, Cf, Co,
                Mn and P* from this crate, whose tables are Unicode 8.0.
  --derived-age DerivedAge.txt (Debian unicode-data). NFD in tokenizers uses
                Unicode 9.0 data, so only characters assigned by 9.0 may
                decompose or carry a combining class.
  --rust-lower  output of lowercase_dump.rs (Rust char::to_lowercase for every
                character). It is diffed against utf8proc_tolower() and the
                differences become an override table.

Run with the Debian Python (/usr/bin/python3); it loads libutf8proc through
ctypes for the lowercase diff.
"""
import argparse
import ctypes
import ctypes.util
import re
import sys


def parse_uc_tables(path):
    src = open(path, encoding="utf-8").read()
    tables = {}
    for m in re.finditer(r"pub static (\w+) : &'static \[char\] = &\[(.*?)\];", src, re.S):
        cps = [int(x, 16) for x in re.findall(r"\\u\{([0-9A-Fa-f]+)\}", m.group(2))]
        # The crate looks characters up with binary_search, which is only a
        # membership test when the table is sorted; check that it is.
        if cps != sorted(set(cps)):
            sys.exit("table %s is not sorted/unique: membership would differ" % m.group(1))
        tables[m.group(1)] = set(cps)
    return tables


def to_ranges(cps):
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] + 1 == cp:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def parse_assigned_by(path, major, minor):
    cps = set()
    for line in open(path, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        rng, ver = [x.strip() for x in line.split(";")]
        vmaj, vmin = [int(x) for x in ver.split(".")]
        if (vmaj, vmin) > (major, minor):
            continue
        if ".." in rng:
            lo, hi = [int(x, 16) for x in rng.split("..")]
        else:
            lo = hi = int(rng, 16)
        cps.update(range(lo, hi + 1))
    return cps


def lowercase_overrides(path):
    lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.2")
    lib.utf8proc_tolower.restype = ctypes.c_int32
    lib.utf8proc_tolower.argtypes = [ctypes.c_int32]
    lib.utf8proc_unicode_version.restype = ctypes.c_char_p
    rust = {}
    for line in open(path, encoding="ascii"):
        parts = [int(x, 16) for x in line.split()]
        rust[parts[0]] = parts[1:]
    over = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        want = rust.get(cp, [cp])
        if cp == 0x130:
            # The one multi-character lowercase; the C code handles it.
            if want != [0x69, 0x307]:
                sys.exit("U+0130 no longer lowercases to U+0069 U+0307")
            continue
        if len(want) != 1:
            sys.exit("U+%04X lowercases to %d characters; the C code expects 1" % (cp, len(want)))
        got = lib.utf8proc_tolower(cp)
        if got != want[0]:
            over.append((cp, want[0]))
    return over, lib.utf8proc_unicode_version().decode()


def emit_ranges(out, name, ranges, comment):
    out.append("/* %s (%d ranges). */" % (comment, len(ranges)))
    out.append("const tok_range %s[] = {" % name)
    line = "   "
    for lo, hi in ranges:
        item = " {0x%04X, 0x%04X}," % (lo, hi)
        if len(line) + len(item) > 96:
            out.append(line)
            line = "   "
        line += item
    out.append(line)
    out.append("};")
    out.append("const size_t %s_len = sizeof %s / sizeof %s[0];" % (name, name, name))
    out.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uc-tables", required=True)
    ap.add_argument("--derived-age", required=True)
    ap.add_argument("--rust-lower", required=True)
    ap.add_argument("--rustc-version", default="")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()

    t = parse_uc_tables(a.uc_tables)
    control = t["OTHER_CONTROL"] | t["OTHER_FORMAT"]
    # unicode_categories tests Co with explicit ranges, not its table.
    control |= set(range(0xE000, 0xF8FF + 1)) | set(range(0xF0000, 0xFFFFD + 1))
    control |= set(range(0x100000, 0x10FFFD + 1))
    punct = set()
    for k in ("PUNCTUATION_CONNECTOR", "PUNCTUATION_DASH", "PUNCTUATION_CLOSE",
              "PUNCTUATION_FINAL_QUOTE", "PUNCTUATION_INITIAL_QUOTE", "PUNCTUATION_OTHER",
              "PUNCTUATION_OPEN"):
        punct |= t[k]
    n_p = len(punct)
    # Rust's is_ascii_punctuation joins the category test in is_bert_punc.
    for lo, hi in ((33, 47), (58, 64), (91, 96), (123, 126)):
        punct |= set(range(lo, hi + 1))
    mn = t["MARK_NONSPACING"]
    assigned9 = parse_assigned_by(a.derived_age, 9, 0)
    over, u8ver = lowercase_overrides(a.rust_lower)

    out = []
    out.append("/*")
    out.append(" * unicode_tables.c - GENERATED by tools/gen/gen_unicode_tables.py; do not edit.")
    out.append(" * Regenerate with tools/gen/regen.sh.")
    out.append(" *")
    out.append(" * The character classes of Hugging Face tokenizers' BERT pipeline, which")
    out.append(" * come from older Unicode versions than utf8proc's: Cc/Cf/Co and Mn and P*")
    out.append(" * of Unicode 8.0 (crate unicode_categories 0.1.1: %d P* code points, %d Mn)," % (n_p, len(mn)))
    out.append(" * the code points assigned by Unicode 9.0 (NFD data of")
    out.append(" * unicode-normalization-alignments) and the lowercase mappings where Rust's")
    out.append(" * char::to_lowercase%s differs from utf8proc %s." %
               ((" (" + a.rustc_version + ")") if a.rustc_version else "", u8ver))
    out.append(" */")
    out.append('#include "tokenizer/unicode.h"')
    out.append("")
    emit_ranges(out, "tok_control8", to_ranges(control),
                "Cc, Cf and Co of Unicode 8.0: deleted by clean_text (except tab, LF, CR)")
    emit_ranges(out, "tok_mn8", to_ranges(mn), "Mn of Unicode 8.0: deleted after NFD by strip_accents")
    emit_ranges(out, "tok_punct8", to_ranges(punct),
                "P* of Unicode 8.0 plus ASCII 33-47, 58-64, 91-96, 123-126: isolated by the pre-tokenizer")
    emit_ranges(out, "tok_assigned9", to_ranges(assigned9),
                "Code points assigned in Unicode 9.0 or earlier: only these decompose")
    out.append("/* Rust to_lowercase where utf8proc_tolower() gives another answer (%d). */" % len(over))
    out.append("const tok_case_pair tok_lower_override[] = {")
    line = "   "
    for cp, lc in over:
        item = " {0x%04X, 0x%04X}," % (cp, lc)
        if len(line) + len(item) > 96:
            out.append(line)
            line = "   "
        line += item
    out.append(line)
    out.append("};")
    out.append("const size_t tok_lower_override_len = "
               "sizeof tok_lower_override / sizeof tok_lower_override[0];")
    open(a.output, "w", encoding="ascii").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
