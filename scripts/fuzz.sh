#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build for a few seconds each, on a
# copy of its seed corpus, and fails on the first crash, leak or timeout.
#
#   scripts/fuzz.sh BUILD_DIR [SECONDS]     (default 8 s per harness)
#
# For a long run: FUZZ_SEED=0 scripts/fuzz.sh build-fuzz 3600
#
# FUZZ_SEED (default 1) fixes libFuzzer's random seed, so that the short
# smoke run in the test suite explores the same inputs each time and a
# failure there can be reproduced; 0 picks a new seed per run, which is what
# a long bug-hunting run wants.
set -euo pipefail
dir=${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}
secs=${2:-8}
seed=${FUZZ_SEED:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for bin in "$dir"/tests/fuzz/fuzz_*; do
    [[ -x $bin && ! -d $bin ]] || continue
    name=$(basename "$bin")
    target=${name#fuzz_}
    mkdir -p "$work/$target"
    seeds=$root/tests/fuzz/corpus/$target
    [[ -d $seeds ]] && cp -r "$seeds"/. "$work/$target"/
    dict=()
    [[ -f $root/tests/fuzz/$target.dict ]] && dict=(-dict="$root/tests/fuzz/$target.dict")
    if ! "$bin" "${dict[@]}" -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" "$work/$target" >"$work/$name.log" 2>&1; then
        tail -n 40 "$work/$name.log"
        echo "fuzz: $name FAILED" >&2
        exit 1
    fi
    # libFuzzer's closing "Done N runs" line (a '#N' elsewhere may be part
    # of a recommended dictionary entry).
    runs=$(grep -oE '^Done [0-9]+ runs' "$work/$name.log" | grep -oE '[0-9]+' | tail -n 1)
    echo "fuzz: $name ok (${runs:-?} runs in ${secs} s)" >&2
    n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "fuzz: no harness found in $dir" >&2; exit 1; }
echo "fuzz: $n harnesses, 0 crashes" >&2
