#!/usr/bin/env bash
# Run-time kernel dispatch on CPUs this machine is not: the same binary run
# under QEMU's user-mode emulation as a Haswell (AVX2 + FMA, no AVX-512) and
# as a baseline x86-64 (no AVX at all). Each must pick its kernel set on its
# own (`sembed info`), give vectors bit-identical to the native run (the
# kernel sets agree bit for bit by design), and refuse --dtype bf16 / int8
# with a one-line error rather than crash on an illegal instruction.
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"
qemu=$(command -v qemu-x86_64 || true)
if [[ -z $qemu ]]; then
    echo "skipped: qemu-x86_64 is not installed (Debian package qemu-user)"
    exit 77
fi
# A sanitizer build maps shadow memory that user-mode QEMU cannot provide.
# (ldd's output is taken whole: `grep -q` would close the pipe early, and
# with pipefail the test would read as false.)
libs=$(ldd "$bin" 2>/dev/null || true)
if [[ $libs == *libasan* || $libs == *libtsan* ]]; then
    echo "skipped: $bin is a sanitizer build, which does not run under qemu-user"
    exit 77
fi
need_tiny

printf '%s\n' "How can Medicare help me?" "What is TRICARE ?" "Ünïcödé, 中文 and a longer sentence with several words in it." \
    "x" >"$work/texts.txt"
models=("$fix/tiny")
[[ -f $fix/minilm/model.safetensors ]] && models+=("$fix/minilm")

# cpu model, kernel set it must pick
for pair in "Haswell avx2" "qemu64 scalar"; do
    cpu=${pair% *}
    want=${pair#* }
    run() { timeout 120 "$qemu" -cpu "$cpu" "$bin" "$@"; }
    kern=$(run info --model "$fix/tiny" 2>/dev/null | awk -F': *' '/^kernels:/ {print $2}')
    if [[ $kern == "$want "* ]]; then
        ok "$cpu: picks $want ($kern)"
    else
        bad "$cpu: expected the $want kernels, sembed info says '$kern'"
    fi
    for m in "${models[@]}"; do
        name=$(basename "$m")
        "$bin" embed --model "$m" --input "$work/texts.txt" --output "$work/native.npy" 2>"$work/err" ||
            bad "$name: native embed failed: $(cat "$work/err")"
        if run embed --model "$m" --input "$work/texts.txt" --output "$work/emu.npy" 2>"$work/err" &&
            cmp -s "$work/native.npy" "$work/emu.npy"; then
            ok "$cpu/$name: vectors bit-identical to the native run"
        else
            bad "$cpu/$name: vectors differ from the native run or the run failed: $(grep -v "TCG doesn't" "$work/err" | head -c 300)"
        fi
    done
    for dt in bf16 int8; do
        run embed --model "$fix/tiny" --input "$work/texts.txt" --output "$work/q.npy" --dtype "$dt" \
            >/dev/null 2>"$work/err.all"
        rc=$?
        # QEMU's own warnings about CPU features it does not emulate
        grep -v "TCG doesn't support" "$work/err.all" >"$work/err"
        if [[ $rc -eq 1 ]] && grep -q "needs AVX512" "$work/err" && [[ $(wc -l <"$work/err") -eq 1 ]]; then
            ok "$cpu: --dtype $dt refused: $(cat "$work/err")"
        else
            bad "$cpu: --dtype $dt: exit $rc, $(head -c 300 "$work/err")"
        fi
    done
done

finish dispatch_qemu
