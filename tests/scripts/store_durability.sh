#!/usr/bin/env bash
# Durability of the store and of the HNSW file under SIGKILL (robustness
# cases IX-06 and IX-10), with store_helper so that no model is needed:
#
#   1. 50 times: a writer adds 40-row transactions in a loop (half of them as
#      four chunks inside one outer transaction) and is killed at a random
#      moment. The store must then open, pass its checks, hold only whole
#      transactions with the right content, and keep every transaction the
#      writer saw committed.
#   2. 25 times: a process saving two HNSW indexes in turn to one path is
#      killed at a random moment. The file under that name must load and be
#      exactly one of the two indexes, never a mix or a partial file.
#
#   store_durability.sh PATH/TO/store_helper
set -euo pipefail
helper=${1:?usage: store_durability.sh store_helper}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sembed-durability-XXXXXX")
pid=
cleanup() {
    [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

db="$dir/store.db"
prev=0
for i in $(seq 1 50); do
    "$helper" add-loop "$db" 40 16 > "$dir/out" 2> "$dir/err" &
    pid=$!
    # Odd rounds kill within 100 ms of the start (opening, creating, the
    # first commit); even rounds wait for a commit of their own first, so
    # that the kills also land between later transactions on a slow
    # (sanitizer, busy) machine.
    if (( i % 2 == 0 )); then
        for _ in $(seq 1 3000); do
            [[ -s "$dir/out" ]] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.01
        done
    fi
    sleep "0.0$(( RANDOM % 9 ))$(( RANDOM % 10 ))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
    if [[ -s "$dir/err" ]]; then
        cat "$dir/err" >&2
        fail "round $i: the writer failed on its own"
    fi
    acked=$(grep -o '[0-9]*$' "$dir/out" | tail -n 1 || true)
    acked=${acked:-0}
    rows=$("$helper" check "$db" 40 16) || fail "round $i: the store does not check out"
    (( rows >= acked )) || fail "round $i: $acked rows were acknowledged, $rows survived"
    (( rows >= prev )) || fail "round $i: rows went from $prev to $rows"
    prev=$rows
done
echo "store: 50 kills, $prev rows, every transaction whole"
(( prev > 0 )) || fail "no transaction ever committed: the kill window is too short"

idx="$dir/index.hnsw"
for i in $(seq 1 25); do
    rm -f "$idx"
    "$helper" hnsw-save-loop "$idx" 500 16 > "$dir/out" 2> "$dir/err" &
    pid=$!
    # Saves fsync, and on a busy machine an fsync can take seconds.
    for _ in $(seq 1 120); do
        for _ in $(seq 1 100); do
            [[ $(grep -c '^sha ' "$dir/out" || true) -ge 2 ]] && break 2
            kill -0 "$pid" 2>/dev/null || break 2
            sleep 0.01
        done
    done
    if [[ $(grep -c "^sha " "$dir/out" || true) -lt 2 ]]; then
        state=$(tr '\0' ' ' < "/proc/$pid/wchan" 2>/dev/null || echo gone)
        fail "round $i: the saver did not start (waiting in: $state): $(cat "$dir/err")"
    fi
    sleep "0.0$(( RANDOM % 5 ))$(( RANDOM % 10 ))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
    "$helper" hnsw-check "$idx" 16 || fail "round $i: the index under its name does not load"
    got=$(sha256sum "$idx" | cut -d' ' -f1)
    grep -q "^sha $got\$" "$dir/out" || fail \
        "round $i: the index is neither the old nor the new one"
done
echo "hnsw: 25 kills during saves, the file was always one whole index"
