#!/bin/bash
# search_text.sh - `sembed search --model M --query TEXT`: the FAQ engine of
# "Getting Started With Embeddings" in one command, with the tiny model of
# the tiny_models fixture. The hits of a text query must be exactly the
# hits of its vector (embedded by `sembed embed`) searched as a file; texts
# come from --texts (lines or JSONL); mismatched counts and dims fail in
# one line.
set -u
bin=${SEMBED_BIN:-}
model=${SEMBED_FIXTURES:-}/tiny
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "SEMBED_BIN is not set to the sembed tool: skipping"; exit 77
fi
if [ -z "${SEMBED_FIXTURES:-}" ] || [ ! -f "$model/config.json" ]; then
    echo "no tiny model in SEMBED_FIXTURES (the fixture_tiny_models test makes it): skipping"
    exit 77
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

cat > "$tmp/faqs.txt" <<'EOF'
How do I get a replacement Medicare card?
What is the monthly premium for Medicare Part B?
How do I terminate my Medicare Part B (medical insurance)?
How do I sign up for Medicare?
Can I sign up for Medicare Part B if I am working and have health insurance through an employer?
How do I sign up for Medicare Part B if I already have Part A?
What are Medicare late enrollment penalties?
What is Medicare and who can get it?
How can I get help with my Medicare Part A and Part B premiums?
What are the different parts of Medicare?
Will my Medicare premiums be higher because of my higher income?
What is TRICARE ?
Should I sign up for Medicare Part B if I have Veterans' Benefits?
EOF
if ! "$bin" embed --model "$model" --input "$tmp/faqs.txt" --output "$tmp/faqs.csv" 2>"$tmp/err"; then
    echo "sembed embed does not work here ($(cat "$tmp/err")): skipping"; exit 77
fi
printf 'How can Medicare help me?\n' > "$tmp/q.txt"
"$bin" embed --model "$model" --input "$tmp/q.txt" --output "$tmp/q.npy" || exit 1

# The text query and its embedded vector give the same hits.
text_json=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" \
    --query "How can Medicare help me?" -k 5 --json); rc=$?
check "text query exits 0" 0 $rc
vec_json=$("$bin" search --corpus "$tmp/faqs.csv" --queries "$tmp/q.npy" -k 5 --json)
check "--query gives the hits of the embedded query vector" "$vec_json" "$text_json"

# With --texts the table and the JSON carry the FAQ texts.
out=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --texts "$tmp/faqs.txt" \
    --query "How can Medicare help me?" -k 5)
lines=$(printf '%s\n' "$out" | grep -c 'Medicare\|TRICARE')
check "table: the query line and five FAQ texts" 6 "$lines"
first=$(printf '%s\n' "$out" | sed -n 1p)
check "table starts with the query" "query: How can Medicare help me?" "$first"
json=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --texts "$tmp/faqs.txt" \
    --query "How can Medicare help me?" -k 1 --json)
id=$(printf '%s' "$json" | sed 's/.*"corpus_id": \([0-9]*\),.*/\1/')
want_text=$(sed -n "$((id + 1))p" "$tmp/faqs.txt")
case "$json" in *"\"text\": \"$want_text\""*) t=yes ;; *) t=no ;; esac
check "--json adds the text of each hit" yes "$t"

# Several queries, from --query twice and from --queries-text.
printf 'How can Medicare help me?\nsign up\n' > "$tmp/qs.txt"
a=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --query "How can Medicare help me?" \
    --query "sign up" -k 3 --json)
b=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --queries-text "$tmp/qs.txt" -k 3 --json)
check "--queries-text equals repeated --query" "$a" "$b"
case "$a" in "[["*"], ["*"]]") two=yes ;; *) two=no ;; esac
check "two queries give two hit lists" yes "$two"

# --texts as JSON Lines.
sed 's/.*/{"text": "&"}/' "$tmp/faqs.txt" > "$tmp/faqs.jsonl"
c=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --texts "$tmp/faqs.jsonl" \
    --query "How can Medicare help me?" -k 1 --json)
check "--texts FILE.jsonl reads the \"text\" of each line" "$json" "$c"

# Failures.
head -3 "$tmp/faqs.txt" > "$tmp/short.txt"
msg=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --texts "$tmp/short.txt" \
    --query x 2>&1 >/dev/null); rc=$?
case "$msg" in *"has 3 lines but the corpus has 13 rows"*) m=yes ;; *) m=no ;; esac
check "--texts count mismatch fails in one line" "1 yes 1" "$rc $m $(printf '%s\n' "$msg" | wc -l)"
printf '[1, 2, 3]\n' > "$tmp/dim3.jsonl"
msg=$("$bin" search --model "$model" --corpus "$tmp/dim3.jsonl" --query x 2>&1 >/dev/null); rc=$?
case "$msg" in *"dimensions but the corpus"*) m=yes ;; *) m=no ;; esac
check "model dim != corpus dim fails" "1 yes" "$rc $m"
msg=$("$bin" search --model "$tmp/no-model" --corpus "$tmp/faqs.csv" --query x 2>&1 >/dev/null)
check "a missing model fails" 1 $?
msg=$("$bin" search --model "$model" --corpus "$tmp/faqs.csv" --query x --queries "$tmp/q.npy" \
    2>&1 >/dev/null)
check "--query with --queries is a usage error" 2 $?

echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ]
