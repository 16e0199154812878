#!/bin/bash
# regen.sh - regenerates src/tokenizer/unicode_tables.c from its sources:
# the Debian packages librust-unicode-categories-dev (Unicode 8.0 category
# tables of the crate tokenizers uses) and unicode-data (DerivedAge.txt), and
# Rust's char::to_lowercase (needs rustc). Run from the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download librust-unicode-categories-dev unicode-data >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
rustc -O "$root/tools/gen/lowercase_dump.rs" -o "$work/lowercase_dump"
"$work/lowercase_dump" > "$work/rust_lower.txt"
/usr/bin/python3 "$root/tools/gen/gen_unicode_tables.py" \
    --uc-tables "$(find "$work/x" -path '*unicode_categories-0.1.1/src/tables.rs')" \
    --derived-age "$work/x/usr/share/unicode/DerivedAge.txt" \
    --rust-lower "$work/rust_lower.txt" \
    --rustc-version "$(rustc --version | cut -d' ' -f1-2)" \
    -o "$root/src/tokenizer/unicode_tables.c"
echo "wrote src/tokenizer/unicode_tables.c"
