#!/usr/bin/env bash
# store_cli.sh - the store commands end to end with the tiny test model
# ($SEMBED_FIXTURES/tiny, made by the tiny_models fixture): sembed index
# add / info / build-hnsw, sembed search --db in every mode (the same
# ranking as sembed search --corpus/--texts on the same data), sembed faq,
# and their failures: another model, another dim, NaN vectors, empty input,
# k = 0, a damaged store, no model reachable, bad options.
set -u
bin=${SEMBED_BIN:-}
fx=${SEMBED_FIXTURES:-}
py=/usr/bin/python3
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "skipped: SEMBED_BIN is not set to the sembed tool"; exit 77
fi
if [[ -z "$fx" || ! -f "$fx/tiny/config.json" || ! -f "$fx/tiny-cls/config.json" ]]; then
    echo "skipped: no tiny models in SEMBED_FIXTURES (the tiny_models fixture makes them)"
    exit 77
fi
if ! "$py" -c 'import json' 2>/dev/null; then
    echo "skipped: no $py"; exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sembed-store-cli-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
# Temporary files of the tools go here, so that leftovers can be seen.
mkdir -p "$tmp/t"
export TMPDIR="$tmp/t"
tiny=$fx/tiny
fails=0
passed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; shift; for l in "$@"; do echo "  $l"; done; fails=$((fails + 1)); }
check() {  # check NAME WANT GOT
    if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "want: $2" "got:  $3"; fi
}
# pycheck NAME [ARGS...]: runs the Python check on standard input.
pycheck() {
    local name=$1
    shift
    if "$py" - "$@" > py.txt 2>&1; then ok "$name"; else bad "$name" "$(tail -n 8 py.txt)"; fi
}
# expect NAME RC SUBSTRING cmd...: exit status RC and SUBSTRING on stderr.
expect() {
    local name=$1 want_rc=$2 says=$3
    shift 3
    "$@" > out.txt 2> err.txt
    local rc=$?
    if [[ $rc -ne $want_rc ]]; then
        bad "$name" "exit $rc, wanted $want_rc" "stderr: $(head -c 300 err.txt)"
    elif [[ -n "$says" ]] && ! grep -qF -- "$says" err.txt; then
        bad "$name" "stderr lacks: $says" "stderr: $(head -c 300 err.txt)"
    elif [[ $want_rc -ne 0 && $(wc -l < err.txt) -ne 1 ]]; then
        bad "$name" "not a one-line error:" "$(cat err.txt)"
    else
        ok "$name"
    fi
}
rows() { "$bin" index info --db "$1" --json | "$py" -c \
    'import json,sys; print(json.load(sys.stdin)["rows"])'; }

cat > faqs.txt <<'TXT'
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
TXT
Q="How can Medicare help me?"

# ---- help and usage ----------------------------------------------------
for c in "index --help" "index add --help" "index info --help" "index build-hnsw --help" \
         "faq --help"; do
    expect "sembed $c exits 0" 0 "" "$bin" $c
done
expect "index with no subcommand is a usage error" 2 "" "$bin" index
expect "unknown index subcommand" 2 "unknown subcommand" "$bin" index frobnicate
expect "unknown option" 2 "unknown option" "$bin" index add --db x.db --frob
expect "add needs --input or --vectors" 2 "--input FILE or --vectors FILE" "$bin" index add --db \
    x.db
expect "search -k 0" 2 "-k must be" "$bin" search --db x.db --query "$Q" -k 0
expect "search -k not a number" 2 "-k must be" "$bin" search --db x.db --query "$Q" -k 5x
expect "search --mode unknown" 2 "--mode must be" "$bin" search --db x.db --query "$Q" --mode fast
expect "search without a query" 2 "--query" "$bin" search --db x.db
expect "faq -k 14" 2 "-k must be 1 to 13" "$bin" faq --model "$tiny" -k 14
[[ ! -e x.db ]] && ok "usage errors create no store" || bad "usage errors create no store"

# ---- add, info, search -------------------------------------------------
expect "index add (text)" 0 "" "$bin" index add --db faq.db --model "$tiny" --input faqs.txt
grep -q "added 13 rows" out.txt && ok "add reports 13 rows" || bad "add reports 13 rows" \
    "$(cat out.txt)"
check "info: 13 rows" 13 "$(rows faq.db)"
"$bin" index info --db faq.db --json > info.json
pycheck "info --json: model identity" "$tiny" <<'PY'
import json, os, sys
i = json.load(open("info.json"))
m = i["model"]
assert i["schema_version"] == 1 and i["dim"] == m["dim"] > 0, i
assert m["name"] == os.path.realpath(sys.argv[1]), m
assert len(m["weights_sha256"]) == 64 and m["pooling"] == "mean", m
assert i["hnsw"] is None, i
PY
"$bin" index info --db faq.db --check > info.txt 2>&1 && grep -q "check:    ok" info.txt &&
    ok "info --check" || bad "info --check" "$(cat info.txt)"

# The same ranking and scores as a search of embedding files.
"$bin" embed --model "$tiny" --input faqs.txt --output emb.npy 2> /dev/null
"$bin" search --db faq.db --query "$Q" -k 5 --json > db.json 2> err.txt
"$bin" search --model "$tiny" --corpus emb.npy --texts faqs.txt --query "$Q" -k 5 --json \
    > files.json 2> err2.txt
pycheck "search --db equals search --corpus/--texts" <<'PY'
import json
a, b = json.load(open("db.json")), json.load(open("files.json"))
assert len(a) == len(b) == 1 and len(a[0]) == len(b[0]) == 5, (a, b)
for x, y in zip(a[0], b[0]):
    assert x["corpus_id"] == y["corpus_id"], (x, y)
    assert abs(x["score"] - y["score"]) < 1e-6, (x, y)
    assert x["text"] == open("faqs.txt").read().split("\n")[x["corpus_id"]], x
PY
# The table: a header and five ranked lines.
"$bin" search --db faq.db --query "$Q" -k 5 > table.txt 2>&1
check "table: query line and 5 hits" 7 "$(wc -l < table.txt)"
grep -q "^Query: $Q" table.txt && ok "table names the query" || bad "table names the query" \
    "$(cat table.txt)"
# k larger than the store: every row once.
"$bin" search --db faq.db --query "$Q" -k 50 --json > k50.json
check "k > rows gives all rows" 13 \
    "$("$py" -c 'import json; print(len(json.load(open("k50.json"))[0]))')"
# Several queries.
"$bin" search --db faq.db --query "$Q" --query "premium" -k 3 --json > two.json
check "two queries, two lists" "2 3 3" \
    "$("$py" -c 'import json; r=json.load(open("two.json")); print(len(r), len(r[0]), len(r[1]))')"

# Modes: int8 and binary run; hnsw needs the index, then matches exact.
for mode in int8 binary; do
    expect "search --mode $mode" 0 "" "$bin" search --db faq.db --query "$Q" -k 5 --mode $mode \
        --json
done
expect "search --mode hnsw without an index" 1 "build-hnsw" "$bin" search --db faq.db --query "$Q" \
    --mode hnsw
expect "index build-hnsw" 0 "" "$bin" index build-hnsw --db faq.db
[[ -f faq.db.hnsw ]] && ok "the index file is faq.db.hnsw" || bad "the index file is faq.db.hnsw"
"$bin" search --db faq.db --query "$Q" -k 5 --mode hnsw --ef 50 --json > hnsw.json
pycheck "hnsw search equals exact on 13 rows" <<'PY'
import json
a, b = json.load(open("db.json"))[0], json.load(open("hnsw.json"))[0]
assert [x["corpus_id"] for x in a] == [x["corpus_id"] for x in b], (a, b)
assert all(abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, b))
PY
expect "--ef outside hnsw mode" 2 "--ef applies" "$bin" search --db faq.db --query "$Q" --ef 10

# JSONL with ids and metadata; the existing HNSW index follows the add.
cat > more.jsonl <<'TXT'
{"text": "Where is my Social Security office?", "id": "ssa-1", "metadata": {"topic": "offices"}}
{"text": "How do I apply for retirement benefits?", "id": 42}
"Can I work and get benefits?"
TXT
expect "index add (jsonl)" 0 "" "$bin" index add --db faq.db --input more.jsonl
grep -q "HNSW index" out.txt && ok "the HNSW index is extended by add" || bad \
    "the HNSW index is extended by add" "$(cat out.txt)"
"$bin" index info --db faq.db --json > info2.json
covered=$("$py" -c 'import json; i=json.load(open("info2.json"))
print(i["rows"], i["hnsw"]["rows"], i["hnsw"]["stale"])')
check "index covers 16 rows" "16 16 False" "$covered"
"$bin" search --db faq.db --query "Social Security office" -k 16 --json > ids.json
pycheck "ids and metadata come back" <<'PY'
import json
hits = {h["corpus_id"]: h for h in json.load(open("ids.json"))[0]}
assert hits[13]["id"] == "ssa-1" and hits[13]["metadata"] == {"topic": "offices"}, hits[13]
assert hits[14]["id"] == "42" and "metadata" not in hits[14], hits[14]
assert "id" not in hits[15] and hits[15]["text"] == "Can I work and get benefits?", hits[15]
PY
expect "a duplicate id is refused" 1 "already in" "$bin" index add --db faq.db --input more.jsonl
check "nothing of a refused add lands" 16 "$(rows faq.db)"

# ---- another model, another dim ---------------------------------------
expect "search with another model" 1 "pooling" "$bin" search --db faq.db --model "$fx/tiny-cls" \
    --query "$Q"
expect "add with another model" 1 "was built with model" "$bin" index add --db faq.db --model \
    "$fx/tiny-cls" --input faqs.txt
check "rows unchanged after the refusal" 16 "$(rows faq.db)"
if [[ -f "$fx/tiny-dense/config.json" ]]; then
    expect "add with a model of another dim" 1 "dimensions" "$bin" index add --db faq.db --model \
        "$fx/tiny-dense" --input faqs.txt
fi

# ---- precomputed vectors ------------------------------------------------
expect "add --vectors with texts" 0 "" "$bin" index add --db vec.db --vectors emb.npy --input \
    faqs.txt
check "vectors store: 13 rows" 13 "$(rows vec.db)"
expect "search a store without a model, no --model" 1 "records no model" "$bin" search --db vec.db \
    --query "$Q"
"$bin" search --db vec.db --model "$tiny" --query "$Q" -k 5 --json > vec.json 2> err.txt
pycheck "vectors store ranks as the embedded store" <<'PY'
import json
a, b = json.load(open("db.json"))[0], json.load(open("vec.json"))[0]
assert [x["corpus_id"] for x in a] == [x["corpus_id"] for x in b], (a, b)
PY
"$bin" embed --model "$tiny" --output q.npy <<< "$Q" 2> /dev/null
"$bin" search --db vec.db --queries q.npy -k 5 --json > qv.json 2> err.txt
pycheck "search with --queries vectors" <<'PY'
import json
a, b = json.load(open("db.json"))[0], json.load(open("qv.json"))[0]
assert [x["corpus_id"] for x in a] == [x["corpus_id"] for x in b], (a, b)
PY
expect "--vectors rows differ from --input" 1 "has 13 vectors but" "$bin" index add --db vec.db \
    --vectors emb.npy --input more.jsonl
"$bin" embed --model "$fx/tiny-dense" --input faqs.txt --output emb16.npy 2> /dev/null
if [[ -s emb16.npy ]]; then
    expect "--vectors of another dim" 1 "dimensions" "$bin" index add --db vec.db --vectors \
        emb16.npy
fi
# A NaN in a vector file (patched into the float data of the .npy).
"$py" - <<'PY'
import struct
b = bytearray(open("emb.npy", "rb").read())
hl = struct.unpack("<H", b[8:10])[0]
b[10 + hl + 4 * 5: 10 + hl + 4 * 6] = struct.pack("<f", float("nan"))
open("nan.npy", "wb").write(bytes(b))
PY
expect "NaN vectors are refused" 1 "" "$bin" index add --db vec.db --vectors nan.npy
grep -qi "nan\|finite" err.txt && ok "the NaN refusal says why" || bad "the NaN refusal says why" \
    "$(cat err.txt)"
check "rows unchanged after NaN" 13 "$(rows vec.db)"
: > empty.txt
expect "empty input" 1 "empty input" "$bin" index add --db vec.db --model "$tiny" --input empty.txt

# ---- damaged and missing stores ---------------------------------------
printf 'this is not a database, just text that is long enough to look like one........\n' > junk.db
expect "a text file as store" 1 "not a sembed store" "$bin" search --db junk.db --query "$Q"
grep -q "junk.db" err.txt && ok "the error names the file" || bad "the error names the file"
expect "a missing store" 1 "index add" "$bin" search --db nowhere.db --query "$Q"
head -c 8192 faq.db > cut.db
expect "a truncated store" 1 "cut.db" "$bin" search --db cut.db --query "$Q"

# ---- default store -------------------------------------------------------
mkdir -p d && (cd d && "$bin" index add --model "$tiny" --input ../faqs.txt > /dev/null 2>&1)
[[ -f d/sembed.db ]] && ok "default store: sembed.db in the working directory" || bad \
    "default store: sembed.db in the working directory"
SEMBED_DB="$tmp/env.db" "$bin" index add --model "$tiny" --input faqs.txt > /dev/null 2>&1
[[ -f env.db ]] && ok "default store: \$SEMBED_DB" || bad "default store: \$SEMBED_DB"
(cd d && "$bin" search --query "$Q" -k 1 > ../d.txt 2>&1) && grep -q "0\." d.txt &&
    ok "search without --db uses the default store" || bad \
        "search without --db uses the default store" "$(cat d.txt)"

# ---- faq ------------------------------------------------------------------
"$bin" faq --model "$tiny" > faq.txt 2> err.txt
check "faq exits 0 with 5 hits" 9 "$(wc -l < faq.txt)"
grep -q "Query: How can Medicare help me?" faq.txt && ok "faq answers the seed's question" || bad \
    "faq answers the seed's question" "$(cat faq.txt)"
"$bin" faq --model "$tiny" --json > faq.json
pycheck "faq equals search over the same FAQs" <<'PY'
import json
a, b = json.load(open("db.json"))[0], json.load(open("faq.json"))[0]
assert [(x["corpus_id"], x["text"]) for x in a] == [(x["corpus_id"], x["text"]) for x in b], (a, b)
PY
expect "faq --db (first run makes it)" 0 "" "$bin" faq --model "$tiny" --db faqkeep.db
expect "faq --db (second run reuses it)" 0 "" "$bin" faq --model "$tiny" --db faqkeep.db -q \
    "What is TRICARE?"
check "faq store keeps 13 rows" 13 "$(rows faqkeep.db)"
expect "faq --db of other rows" 1 "not the 13 FAQs" "$bin" faq --model "$tiny" --db faq.db
ls "$TMPDIR" | grep -q "^sembed-faq-" && leftover=yes || leftover=no
check "faq leaves no temporary store" no "$leftover"
mkdir -p emptycache
expect "faq with no model reachable says how to get one" 1 \
    "get one with 'sembed pull sentence-transformers/all-MiniLM-L6-v2', or pass --model DIR" \
    env HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/emptycache" "$bin" faq

echo "$passed passed, $fails failed"
[[ $fails -eq 0 ]]
