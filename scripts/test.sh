#!/usr/bin/env bash
# Builds sembed and runs the whole test suite, installing what is missing.
#
#   scripts/test.sh            release build + full suite; then the same suite
#                              under AddressSanitizer + UBSan; then the
#                              multi-threaded tests under ThreadSanitizer;
#                              then each libFuzzer harness briefly
#   scripts/test.sh --quick    release build + suite only
#
# Tests that need ../shared (the reference outputs) skip with a message when
# it is absent; after each suite, every skipped test is listed with that
# message (as "skipped NAME: REASON" on stderr). FUZZ_SECONDS (default 8) sets the time per fuzz harness and
# FUZZ_SEED (default 1, 0 for a new one each run) its random seed.
# The last line printed on stdout is CTest's summary of the release suite
# (of the sanitizer suite when that one failed); the exit status is non-zero
# when any part failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
quick=0
[[ ${1:-} == --quick ]] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)

scripts/deps.sh --test || exit 1

# The tokenizer differential test compares against Hugging Face tokenizers'
# own Node binding (npm); without it that one test skips.
if command -v npm >/dev/null && [[ ! -d build/node/node_modules/tokenizers ]]; then
    mkdir -p build/node
    npm install --prefix build/node --no-audit --no-fund --silent tokenizers@0.23.2 >/dev/null 2>&1 ||
        echo "note: npm could not install tokenizers@0.23.2; tokenizer_diff will skip" >&2
fi
export NODE_PATH=$PWD/build/node/node_modules

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build build -j"$jobs" || exit 1

# Prints each skipped test of a build's last ctest run with the last line
# of its output, its reason (ctest shows a skipped test's output only in
# its own log).
skip_reasons() {
    local tlog=$1/Testing/Temporary/LastTest.log name
    [[ -f $tlog ]] || return 0
    grep -oE '^[[:space:]]+[0-9]+ - [^ ]+ \(Skipped\)' "$2" | awk '{print $3}' | sort -u |
        while read -r name; do
            echo "skipped $name: $(awk -v t=" Test: $name" '
                substr($0, length($0) - length(t) + 1) == t { on = 1; next }
                on && /^<end of output>/ { print last; exit }
                on && NF { last = $0 }' "$tlog")" >&2
        done
}

echo "== release suite" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --test-dir build -j"$jobs" --no-tests=error --output-on-failure --timeout 1200 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
skip_reasons build "$log"

if [[ $quick == 0 ]]; then
    echo "== sanitizers: the whole suite under AddressSanitizer + UBSan" >&2
    cmake -S . -B build-asan -DSEMBED_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build-asan -j"$jobs" || rc=1
    # Reuse the release build's model folders rather than writing them again.
    if [[ -d build/fixtures/minilm && ! -e build-asan/fixtures/minilm ]]; then
        mkdir -p build-asan/fixtures && ln -s "$PWD/build/fixtures/minilm" build-asan/fixtures/minilm
    fi
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan -j"$jobs" --no-tests=error --output-on-failure --timeout 1200 >build-asan/ctest.log 2>&1
    asan_rc=$?
    grep -E 'tests passed|\(Failed\)|\(Timeout\)|Subprocess|Skipped' build-asan/ctest.log >&2
    skip_reasons build-asan build-asan/ctest.log
    [[ $asan_rc -eq 0 ]] || { echo "sanitizer suite FAILED (build-asan/ctest.log)" >&2; rc=1; }

    # The thread pool and the encoder's handoff of sequences between
    # threads (forced at fixed step counts by test_encoder_split); a data
    # race fails the test.
    echo "== ThreadSanitizer: the multi-threaded tests" >&2
    tsan_tests='test_threadpool|test_encoder_split|test_embed_api'
    if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-fsanitize=thread \
        -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
        -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null &&
        cmake --build build-tsan -j"$jobs" --target test_threadpool test_encoder_split \
            test_embed_api make_tiny_model >build-tsan/build.log 2>&1; then
        TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan -R "$tsan_tests" --no-tests=error \
            --output-on-failure --timeout 600 >build-tsan/ctest.log 2>&1 ||
            { echo "ThreadSanitizer suite FAILED (build-tsan/ctest.log)" >&2; rc=1; }
        grep -E 'tests passed|\(Failed\)|\(Timeout\)' build-tsan/ctest.log >&2
    else
        echo "ThreadSanitizer build FAILED (build-tsan/build.log)" >&2
        rc=1
    fi

    echo "== fuzz smoke: each libFuzzer harness for ${FUZZ_SECONDS:-8} s" >&2
    if CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DSEMBED_FUZZ=ON \
        -DSEMBED_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build-fuzz -j"$jobs" >build-fuzz/build.log 2>&1; then
        scripts/fuzz.sh build-fuzz "${FUZZ_SECONDS:-8}" || rc=1
    else
        echo "fuzz build FAILED" >&2
        rc=1
    fi
fi

# The summary of the suite that failed, else the release suite's.
summary=$log
[[ $quick == 0 && ${asan_rc:-0} -ne 0 && -f build-asan/ctest.log ]] && summary=build-asan/ctest.log
grep -E '^[0-9]+% tests passed' "$summary" | tail -n 1
[[ $rc -eq 0 ]] || echo "FAILED: see the messages above" >&2
exit "$rc"
