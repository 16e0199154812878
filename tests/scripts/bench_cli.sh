#!/usr/bin/env bash
# `sembed bench` on the tiny test model: the JSON row the peer harness reads
# (its fields and their consistency), the three input formats, the weights
# copied into huge pages by default and mapped with --mmap-weights, and
# usage errors (exit 2 with a one-line message).
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"
py=/usr/bin/python3
tiny=$fix/tiny
need_tiny

# A few texts, and the same ones as token ids (what the harness feeds).
printf 'how do i get a replacement medicare card?\nwhat is the late enrollment penalty\nwho can sign up\n' >"$work/in.txt"
"$bin" tokenize --model "$tiny" --input "$work/in.txt" >"$work/in.ids.jsonl" 2>"$work/err" &&
    ok "token ids written for the ids input" || bad "tokenize: $(cat "$work/err")"
while IFS= read -r line; do printf '{"text": "%s"}\n' "$line"; done <"$work/in.txt" >"$work/in.jsonl"

# check_row FILE FORMAT WEIGHTS: one JSON object with the harness's fields.
check_row() {
    "$py" - "$1" "$2" "$3" <<'PY'
import json, sys
path, fmt, weights = sys.argv[1:]
text = open(path).read()
d = json.loads(text)                        # exactly one JSON object
assert text.count("\n") == 1, "more than one line"
for k in ("peer", "variant", "threads", "workload", "n_sent", "tokens", "batch", "n_batches",
          "reps", "sec_median", "sec_min", "sec_max", "sent_per_s", "tok_per_s", "latency_ms",
          "gflops_per_s", "peak_gflops", "pct_peak", "env"):
    assert k in d, f"no field {k}"
assert d["peer"] == "sembed-fp32", d["peer"]
assert d["n_sent"] == 3 and d["batch"] == 2 and d["n_batches"] == 2, d
assert d["reps"] == 3 and d["threads"] == 2, d
assert d["sec_min"] <= d["sec_median"] <= d["sec_max"], d
assert abs(d["sent_per_s"] - d["n_sent"] / d["sec_median"]) <= 0.01 * d["sent_per_s"] + 0.01, d
assert d["tokens"] > d["n_sent"], d         # [CLS] and [SEP] at least
assert d["gflops_per_s"] > 0 and d["peak_gflops"] > 0, d
assert d["env"]["weights"] == weights, (d["env"], weights)
assert d["workload"] == "in", d["workload"]
PY
}

for fmt in ids jsonl text; do
    case $fmt in ids) f=$work/in.ids.jsonl ;; jsonl) f=$work/in.jsonl ;; text) f=$work/in.txt ;; esac
    "$bin" bench --model "$tiny" --input "$f" --input-format $fmt --batch-size 2 --threads 2 \
        --reps 3 --json >"$work/row.json" 2>"$work/err" && check_row "$work/row.json" $fmt copied 2>>"$work/err" &&
        ok "--input-format $fmt: one JSON row, fields consistent, weights copied" ||
        bad "--input-format $fmt: $(head -c 400 "$work/err") $(head -c 400 "$work/row.json")"
done
"$bin" bench --model "$tiny" --input "$work/in.ids.jsonl" --batch-size 2 --threads 2 --reps 3 \
    --json --mmap-weights >"$work/row.json" 2>"$work/err" && check_row "$work/row.json" ids mapped 2>>"$work/err" &&
    ok "--mmap-weights: weights mapped" || bad "--mmap-weights: $(head -c 400 "$work/err")"

# ---- usage errors: exit 2 and one line on stderr ----
usage_error() {
    local name=$1
    shift
    "$bin" bench "$@" >/dev/null 2>"$work/err"
    local rc=$?
    if [[ $rc -eq 2 && $(wc -l <"$work/err") -eq 1 ]]; then
        ok "$name: $(cat "$work/err")"
    else
        bad "$name (exit $rc): $(head -c 300 "$work/err")"
    fi
}
usage_error "no --input" --model "$tiny"
usage_error "--batch-size 0" --model "$tiny" --input "$work/in.txt" --batch-size 0
usage_error "--reps 0" --model "$tiny" --input "$work/in.txt" --reps 0
usage_error "unknown --dtype" --model "$tiny" --input "$work/in.txt" --dtype fp8
usage_error "unknown --input-format" --model "$tiny" --input "$work/in.txt" --input-format xml
usage_error "unknown option" --model "$tiny" --input "$work/in.txt" --bogus
usage_error "an option without its value" --input "$work/in.txt" --model
"$bin" bench --model "$tiny" --input "$work/missing.txt" --input-format text >/dev/null 2>"$work/err"
[[ $? -eq 1 ]] && ok "a missing input file: exit 1: $(head -1 "$work/err")" || bad "missing input file"

finish bench_cli
