#!/usr/bin/env bash
# Runs the peer harness (ONNX Runtime, optionally PyTorch) and `sembed bench`
# side by side on the same token ids, batches and threads, workload by
# workload (peer, then sembed, so both see the same machine load), and
# prints the table with sembed's rows and its ratio to ONNX Runtime.
#
#   bench/run.sh                       ORT fp32 vs sembed fp32 / bf16 / int8
#   FULL=1 bench/run.sh                + PyTorch fp32/int8/bf16 peers
#   WORKLOADS=b_short1024,e_latency1 DTYPES=fp32 bench/run.sh
#
# Needs ../shared/bench (the peer harness) beside the checkout; its work dir
# is BENCH_WORK (default /tmp/sembed-peers). Results are appended to
# $BENCH_WORK/results.jsonl; the report is also written to
# $BENCH_WORK/sembed-report.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=$root/../shared/bench/run_peers.sh
[[ -x $harness || -f $harness ]] || { echo "bench/run.sh: $harness not found" >&2; exit 1; }
export BENCH_WORK=${BENCH_WORK:-/tmp/sembed-peers}
threads=${THREADS:-2}
dtypes=${DTYPES:-fp32 bf16 int8}
workloads=${WORKLOADS:-a_faq13,b_short1024,c_len128,d_len256,e_latency1,f_mixed}
peers=${PEERS:-ort}
[[ ${FULL:-0} == 1 ]] && peers="ort torch-fp32 torch-int8 torch-bf16"

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target sembed_cli >/dev/null
bin=$root/build/sembed

# The harness writes the model and the workloads and measures the peak first
# (a peak-only run has no result rows, which the harness reports as an error;
# what matters is that the workloads exist afterwards). It also starts a new
# results.jsonl, keeping the previous one as results.prev.jsonl.
PEERS=peak WORKLOADS=a_faq13 bash "$harness" >/dev/null 2>"$BENCH_WORK.setup.log" || true
[[ -f $BENCH_WORK/workloads/manifest.json && -f $BENCH_WORK/model/model.safetensors ]] ||
    { cat "$BENCH_WORK.setup.log" >&2; exit 1; }
peak_core=$(awk '/fp32_fma_GFLOPs/ && /threads=1/ {print $3}' "$BENCH_WORK/peak.txt" 2>/dev/null | tail -n 1)
peak=$(awk -v p="${peak_core:-261.5}" -v t="$threads" 'BEGIN {printf "%.1f", p * t}')
model=$BENCH_WORK/model
manifest=$BENCH_WORK/workloads/manifest.json

# A dtype this CPU cannot run (bf16 needs AVX512_BF16, int8 AVX512_VNNI) is
# left out of the table with sembed's own reason, rather than failing on
# every workload.
kept=""
for dt in $dtypes; do
    if why=$("$bin" bench --model "$model" --input "$BENCH_WORK/workloads/a_faq13.ids.jsonl" \
            --input-format ids --batch-size 13 --threads 1 --dtype "$dt" --warmup 0 --reps 1 \
            --json 2>&1 >/dev/null); then
        kept="$kept $dt"
    else
        echo "bench/run.sh: sembed $dt left out: ${why#sembed: }" >&2
    fi
done
dtypes=$kept

for w in ${workloads//,/ }; do
    echo "== $w: $peers" >&2
    PEERS="$peers" WORKLOADS=$w THREADS=$threads APPEND=1 bash "$harness" >/dev/null 2>>"$BENCH_WORK.peers.log"
    batch=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['batch'])" "$manifest" "$w")
    case $w in
        a_faq13) timing=(--warmup 5 --reps 5 --min-calls 30) ;;
        e_latency1) timing=(--warmup 20 --reps 5 --min-calls 200) ;;
        *) timing=(--warmup 1 --reps "${REPS:-5}") ;;
    esac
    for dt in $dtypes; do
        echo "== $w: sembed $dt" >&2
        "$bin" bench --model "$model" --input "$BENCH_WORK/workloads/$w.ids.jsonl" --input-format ids \
            --batch-size "$batch" --threads "$threads" --dtype "$dt" --peak "$peak" --workload "$w" \
            "${timing[@]}" --json >>"$BENCH_WORK/results.jsonl" ||
            echo "sembed $dt on $w failed (see above)" >&2
    done
done
/usr/bin/python3 "$root/bench/report.py" "$BENCH_WORK/results.jsonl" "$threads" | tee "$BENCH_WORK/sembed-report.md"
