#!/usr/bin/env bash
# Writes ${SEMBED_FIXTURES}/minilm: the synthetic all-MiniLM-L6-v2 behind
# the reference outputs, made by the generator in the reference material
# ($SEMBED_SHARED/tools/make_synthetic_model.py, numpy needed). It runs only
# when the folder is missing or incomplete: the folder is written under a
# temporary name and renamed when complete, and a marker file records that.
# Skips (exit 77) without the reference material or numpy.
set -euo pipefail
: "${SEMBED_FIXTURES:?SEMBED_FIXTURES is not set}"
py=/usr/bin/python3
gen="${SEMBED_SHARED:-}/tools/make_synthetic_model.py"
out="$SEMBED_FIXTURES/minilm"
marker="$out/.sembed-fixture-complete"

if [[ -f "$marker" && -f "$out/model.safetensors" && -f "$out/config.json" &&
      -f "$out/modules.json" && -f "$out/1_Pooling/config.json" && -f "$out/vocab.txt" ]]; then
    echo "minilm fixture present: $out"
    exit 0
fi
if [[ -z "${SEMBED_SHARED:-}" || ! -f "$gen" ]]; then
    echo "skipped: the reference material (SEMBED_SHARED) is not available"
    exit 77
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "skipped: $py has no numpy (apt-get install python3-numpy)"
    exit 77
fi
mkdir -p "$SEMBED_FIXTURES"
tmp=$(mktemp -d "$SEMBED_FIXTURES/.minilm-tmp-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" "$gen" "$tmp/minilm" > "$tmp/log"
cat "$tmp/log"
mv "$tmp/log" "$tmp/minilm/.sembed-fixture-complete"
rm -rf "$out"
mv "$tmp/minilm" "$out"
echo "minilm fixture written: $out"
