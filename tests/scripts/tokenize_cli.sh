#!/bin/bash
# tokenize_cli.sh - `sembed tokenize`: --help, text and JSONL input (JSONL
# texts may hold newlines), one JSON array per line, truncation to the
# model's max_seq_length, and clear failures (empty input, a folder without
# tokenizer files, bad options). Uses the MiniLM folder of $SEMBED_SHARED.
set -u
bin=${SEMBED_BIN:-}
model=${SEMBED_SHARED:-}/models/minilm-synthetic
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "SEMBED_BIN is not set to the sembed tool: skipping"; exit 77
fi
if [ -z "${SEMBED_SHARED:-}" ] || [ ! -f "$model/vocab.txt" ]; then
    echo "SEMBED_SHARED has no models/minilm-synthetic: skipping"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
passed=0
check() {  # check NAME WANT GOT
    if [ "$2" == "$3" ]; then
        echo "ok   $1"; passed=$((passed + 1))
    else
        echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fails=$((fails + 1))
    fi
}

out=$("$bin" tokenize --help); rc=$?
check "--help exits 0" 0 "$rc"
case "$out" in *"--model"*"--input-format"*"--max-length"*) h=yes ;; *) h=no ;; esac
check "--help lists the options" yes "$h"

printf 'How do I get a replacement Medicare card?\n\nHello [MASK] world\n' > "$tmp/in.txt"
out=$("$bin" tokenize --model "$model" --input "$tmp/in.txt"); rc=$?
check "text input exits 0" 0 "$rc"
want=$'[101,2129,2079,1045,2131,1037,6110,27615,4003,1029,102]\n[101,102]\n[101,7592,103,2088,102]'
check "text input: one array per line" "$want" "$out"
out=$("$bin" tokenize --model "$model" < "$tmp/in.txt")
check "standard input by default" "$want" "$out"

printf '"a\\nb"\n{"text": "How\\r\\ncan Medicare help me?", "id": 7}\n' > "$tmp/in.jsonl"
out=$("$bin" tokenize -m "$model" --input "$tmp/in.jsonl" --input-format jsonl); rc=$?
check "jsonl input exits 0" 0 "$rc"
check "jsonl texts keep their newlines" $'[101,1037,1038,102]\n[101,2129,2064,27615,2393,2033,1029,102]' "$out"

# A long text is cut to the model's max_seq_length (256), [SEP] kept.
words=$(for i in $(seq 400); do printf 'card '; done)
out=$(echo "$words" | "$bin" tokenize -m "$model")
n=$(echo "$out" | tr ',' '\n' | wc -l)
check "truncated to 256 ids" 256 "$n"
case "$out" in *",4003,102]") t=yes ;; *) t=no ;; esac
check "truncation keeps [SEP]" yes "$t"
out=$(echo "a b c d" | "$bin" tokenize -m "$model" --max-length 4)
check "--max-length" "[101,1037,1038,102]" "$out"

: > "$tmp/empty.txt"
err=$("$bin" tokenize -m "$model" --input "$tmp/empty.txt" 2>&1 >/dev/null); rc=$?
check "empty input fails" 1 "$rc"
case "$err" in *"empty input"*) e=yes ;; *) e=no ;; esac
check "empty input message" yes "$e"

mkdir "$tmp/nothing"
err=$("$bin" tokenize -m "$tmp/nothing" < "$tmp/in.txt" 2>&1 >/dev/null); rc=$?
check "folder without tokenizer files fails" 1 "$rc"
case "$err" in *"no tokenizer.json or vocab.txt"*) e=yes ;; *) e=no ;; esac
check "missing tokenizer files message" yes "$e"
n_lines=$(printf '%s\n' "$err" | wc -l)
check "one-line error" 1 "$n_lines"

# vocab.txt alone (no tokenizer.json) gives the same ids.
mkdir "$tmp/vocab_only"
cp "$model/vocab.txt" "$model/tokenizer_config.json" "$model/sentence_bert_config.json" \
   "$model/config.json" "$tmp/vocab_only/"
out=$("$bin" tokenize -m "$tmp/vocab_only" < "$tmp/in.txt")
check "vocab.txt + tokenizer_config.json" "$want" "$out"
rm "$tmp/vocab_only/tokenizer_config.json"
printf 'nothing\n' > "$tmp/vocab_only/vocab.txt"
err=$("$bin" tokenize -m "$tmp/vocab_only" < "$tmp/in.txt" 2>&1 >/dev/null); rc=$?
check "vocab.txt without [UNK] fails" 1 "$rc"
case "$err" in *"[UNK]"*) e=yes ;; *) e=no ;; esac
check "missing [UNK] message" yes "$e"

"$bin" tokenize > /dev/null 2>&1; rc=$?
check "no --model is a usage error" 2 "$rc"
"$bin" tokenize -m "$model" --input-format ids < "$tmp/in.txt" > /dev/null 2>&1; rc=$?
check "--input-format ids is refused" 2 "$rc"
"$bin" tokenize -m "$model" --max-length 0 < "$tmp/in.txt" > /dev/null 2>&1; rc=$?
check "--max-length 0 is refused" 2 "$rc"
"$bin" tokenize -m "$model" --max-length 12x < "$tmp/in.txt" > /dev/null 2>&1; rc=$?
check "--max-length 12x is refused" 2 "$rc"
"$bin" tokenize -m "$model" --bogus < "$tmp/in.txt" > /dev/null 2>&1; rc=$?
check "unknown option is a usage error" 2 "$rc"

echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ]
