#!/usr/bin/env bash
# `sembed embed` end to end on the tiny test model: output formats read back
# by numpy and pandas, and every bad input of the engine issue giving a
# one-line error and a non-zero exit (never a crash): missing or truncated
# model.safetensors, overlapping offsets, a shape that disagrees with
# config.json, a missing vocab.txt, an empty input file, an empty string
# (embeds), invalid UTF-8 (embeds; invalid bytes are dropped), a 1 MB line
# (truncated, not rejected), bad token ids.
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"
py=/usr/bin/python3
tiny=$fix/tiny
need_tiny

# expect_fail NAME PATTERN CMD...: exit status 1, one stderr line matching PATTERN.
expect_fail() {
    local name=$1 pattern=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    local lines
    lines=$(wc -l <"$work/err")
    if [[ $rc -eq 1 ]] && grep -q -- "$pattern" "$work/err" && [[ $lines -ge 1 ]] &&
        ! grep -qiE 'sanitizer|segmentation|core dumped' "$work/err"; then
        ok "$name: $(head -c 200 "$work/err" | head -1)"
    else
        bad "$name (exit $rc): $(head -c 300 "$work/err")"
    fi
}

have_numpy=1
"$py" -c 'import numpy, pandas' 2>/dev/null || have_numpy=0

# ---- usage ----
"$bin" embed --help >"$work/out" && grep -q -- "--output-format" "$work/out" && ok "--help" || bad "--help"
"$bin" embed >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "no --model is a usage error (2)" || bad "no --model"
"$bin" embed --model "$tiny" --bogus >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "unknown option is a usage error (2)" || bad "unknown option"
"$bin" embed --model "$tiny" --batch-size 0 >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "--batch-size 0 is a usage error" || bad "--batch-size 0"

# ---- formats ----
printf 'how do i get a replacement card?\nwhat is medicare\n\n' >"$work/in.txt"
"$bin" embed --model "$tiny" --input "$work/in.txt" --output "$work/e.npy" &&
    "$bin" embed --model "$tiny" --input "$work/in.txt" --output "$work/e.csv" &&
    "$bin" embed --model "$tiny" --input "$work/in.txt" --output "$work/e.jsonl" &&
    "$bin" embed --model "$tiny" --input - --output-format jsonl <"$work/in.txt" >"$work/stdout.jsonl" &&
    ok "npy, csv, jsonl and stdout outputs written" || bad "outputs"
if [[ $have_numpy == 1 ]]; then
    if "$py" - "$work" <<'PY'
import json, sys
import numpy as np, pandas as pd
w = sys.argv[1]
a = np.load(f"{w}/e.npy")
assert a.dtype == np.float32 and a.shape == (3, 32), a.shape
c = pd.read_csv(f"{w}/e.csv")
assert list(c.columns) == [str(i) for i in range(32)], list(c.columns)[:3]
assert np.array_equal(c.to_numpy(dtype=np.float32), a)
j = np.array([json.loads(l) for l in open(f"{w}/e.jsonl")], dtype=np.float32)
s = np.array([json.loads(l) for l in open(f"{w}/stdout.jsonl")], dtype=np.float32)
assert np.array_equal(j, a) and np.array_equal(s, a)
assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)   # the empty line embeds too
PY
    then ok "numpy/pandas read the same float32 values from npy, csv and jsonl"
    else bad "formats differ"; fi
fi

# ---- inputs that must embed ----
printf 'a\xffb\n' >"$work/bad_utf8.txt"
printf 'ab\n' >"$work/ab.txt"
"$bin" embed --model "$tiny" --input "$work/bad_utf8.txt" --output "$work/u1.npy" &&
    "$bin" embed --model "$tiny" --input "$work/ab.txt" --output "$work/u2.npy" &&
    cmp -s "$work/u1.npy" "$work/u2.npy" &&
    ok "invalid UTF-8 embeds; the invalid byte is dropped" || bad "invalid UTF-8"
"$py" -c "import sys; sys.stdout.write('medicare card ' * 75000 + '\n')" >"$work/long.txt"
"$bin" embed --model "$tiny" --input "$work/long.txt" --output "$work/long.npy" 2>"$work/err" &&
    ok "a 1 MB line is truncated, not rejected" || bad "1 MB line: $(cat "$work/err")"
expect_fail "--no-truncate refuses the 1 MB line" "more than the maximum" \
    "$bin" embed --model "$tiny" --input "$work/long.txt" --output "$work/x.npy" --no-truncate
[[ ! -e $work/x.npy ]] && ok "no output file after a failure" || bad "a failed run left an output file"
printf '"line one\\nstill one"\n' >"$work/nl.jsonl"
"$bin" embed --model "$tiny" --input "$work/nl.jsonl" --input-format jsonl --output "$work/nl.npy" &&
    ok "jsonl texts may hold newlines" || bad "jsonl with newline"

# ---- bad inputs ----
: >"$work/empty.txt"
expect_fail "empty input file" "empty input" "$bin" embed --model "$tiny" --input "$work/empty.txt"
expect_fail "missing input file" "cannot open" "$bin" embed --model "$tiny" --input "$work/nope.txt"
expect_fail "missing model folder" "not found" "$bin" embed --model "$work/no-model" --input "$work/in.txt"
printf '[101, 99999999, 102]\n' >"$work/ids.jsonl"
expect_fail "token id outside the vocabulary" "outside the vocabulary" \
    "$bin" embed --model "$tiny" --input "$work/ids.jsonl" --input-format ids
printf '[101, "x", 102]\n' >"$work/ids2.jsonl"
expect_fail "non-integer token id" "line 1" \
    "$bin" embed --model "$tiny" --input "$work/ids2.jsonl" --input-format ids
printf '{"text": 5}\n' >"$work/bad.jsonl"
expect_fail "jsonl line without a text" "line 1" \
    "$bin" embed --model "$tiny" --input "$work/bad.jsonl" --input-format jsonl

copy() { rm -rf "$work/m"; cp -r "$tiny" "$work/m"; }
copy
rm "$work/m/model.safetensors"
expect_fail "missing model.safetensors" "model.safetensors" "$bin" embed --model "$work/m" --input "$work/in.txt"
copy
size=$(stat -c %s "$work/m/model.safetensors")
truncate -s $((size / 2)) "$work/m/model.safetensors"
expect_fail "truncated model.safetensors" "model.safetensors" "$bin" embed --model "$work/m" --input "$work/in.txt"
copy
truncate -s 5 "$work/m/model.safetensors"
expect_fail "5-byte model.safetensors" "model.safetensors" "$bin" embed --model "$work/m" --input "$work/in.txt"
if [[ $have_numpy == 1 ]]; then
    copy
    # Rewrite the header so that the second tensor starts inside the first.
    "$py" - "$work/m/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
names = sorted((v["data_offsets"][0], k) for k, v in h.items() if k != "__metadata__")
second = names[1][1]
h[second]["data_offsets"] = [h[second]["data_offsets"][0] - 4, h[second]["data_offsets"][1] - 4]
raw = json.dumps(h).encode()
raw += b" " * ((8 - len(raw) % 8) % 8)
open(p, "wb").write(struct.pack("<Q", len(raw)) + raw + b[8 + n:])
PY
    expect_fail "overlapping tensor offsets" "model.safetensors" "$bin" embed --model "$work/m" --input "$work/in.txt"
    copy
    "$py" - "$work/m/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["intermediate_size"] = c["intermediate_size"] * 2
json.dump(c, open(p, "w"))
PY
    expect_fail "shape mismatch against config.json" "intermediate.dense.weight" \
        "$bin" embed --model "$work/m" --input "$work/in.txt"
fi
rm -rf "$work/m"
cp -r "$fix/tiny-vocab-only" "$work/m"
rm "$work/m/vocab.txt"
expect_fail "missing vocab.txt" "vocab.txt" "$bin" embed --model "$work/m" --input "$work/in.txt"

finish
