#!/bin/bash
# search_cli.sh - `sembed search` over embedding files, against
# util.semantic_search's output in $SEMBED_SHARED/reference/visible
# (search.json: semantic_search(emb[:50], emb, top_k=5)):
#   - --json output is exactly what json.dumps writes for that structure,
#     scores within 1e-6, the same ids except where rows tie (duplicated
#     texts, whose order sentence-transformers leaves unspecified);
#   - the same hits from .npy, pandas CSV and JSONL files;
#   - quantized search (--precision int8/binary) finds each query's best hit;
#   - usage errors exit 2, failures exit 1, each with one line on stderr.
# Needs /usr/bin/python3 with numpy and pandas.
set -u
bin=${SEMBED_BIN:-}
py=/usr/bin/python3
ref=${SEMBED_SHARED:-}/reference/visible
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "SEMBED_BIN is not set to the sembed tool: skipping"; exit 77
fi
if [ -z "${SEMBED_SHARED:-}" ] || [ ! -f "$ref/search.json" ]; then
    echo "SEMBED_SHARED has no reference/visible/search.json: skipping"; exit 77
fi
if ! "$py" -c 'import numpy, pandas' 2>/dev/null; then
    echo "$py lacks numpy or pandas: skipping"; exit 77
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

"$py" - "$ref" "$tmp" <<'EOF' || exit 1
import numpy as np, pandas as pd, json, sys
ref, tmp = sys.argv[1], sys.argv[2]
e = np.load(ref + "/embeddings.npy")
q = e[json.load(open(ref + "/search.json"))["queries"]]
np.save(tmp + "/q.npy", q)
pd.DataFrame(e).to_csv(tmp + "/corpus.csv", index=False)
with open(tmp + "/q.jsonl", "w") as f:
    for row in q.tolist():
        f.write(json.dumps(row) + "\n")
bad = q[:3].copy(); bad[2, 7] = np.nan
np.save(tmp + "/nan.npy", bad)
np.save(tmp + "/small.npy", e[:3, :10])
np.save(tmp + "/empty.npy", np.zeros((0, 384), np.float32))
EOF

# compare FILE: the --json output against search.json, tie-aware.
compare() {
    "$py" - "$ref" "$1" <<'EOF'
import json, sys, numpy as np
ref, path = sys.argv[1], sys.argv[2]
text = open(path).read()
out = json.loads(text)
if json.dumps(out) + "\n" != text:
    sys.exit("not json.dumps' layout")
want = json.load(open(ref + "/search.json"))
e = np.load(ref + "/embeddings.npy").astype(np.float64)
e /= np.linalg.norm(e, axis=1, keepdims=True)
worst, ties = 0.0, 0
for qi, got, exp in zip(want["queries"], out, want["hits"]):
    if len(got) != len(exp):
        sys.exit(f"query {qi}: {len(got)} hits, want {len(exp)}")
    for g, w in zip(got, exp):
        if set(g) != {"corpus_id", "score"}:
            sys.exit(f"keys {sorted(g)}")
        worst = max(worst, abs(g["score"] - w["score"]))
        if g["corpus_id"] != w["corpus_id"]:
            gap = abs(e[qi] @ e[g["corpus_id"]] - e[qi] @ e[w["corpus_id"]])
            if gap > 1e-6:
                sys.exit(f"query {qi}: id {g['corpus_id']} where {w['corpus_id']} (gap {gap:.2g})")
            ties += 1
if worst > 1e-6:
    sys.exit(f"score differs by {worst:.3g}")
print(f"max |score diff| {worst:.3g}, {ties} tied ranks in another order")
EOF
}

"$bin" search --corpus "$ref/embeddings.npy" --queries "$tmp/q.npy" -k 5 --json > "$tmp/npy.json"
check "npy corpus and queries exit 0" 0 $?
r=$(compare "$tmp/npy.json"); rc=$?
echo "     $r"
check "--json equals semantic_search (1e-6, ties aside)" 0 $rc
"$bin" search --corpus "$tmp/corpus.csv" --queries "$tmp/q.jsonl" -k 5 --json > "$tmp/csv.json"
check "pandas CSV corpus + JSONL queries give the same bytes" "$(cat "$tmp/npy.json")" \
    "$(cat "$tmp/csv.json")"
out=$("$bin" search --corpus "$tmp/corpus.csv" --queries "$tmp/q.npy" -k 5 --threads 1 --json)
check "--threads 1 gives the same bytes" "$(cat "$tmp/npy.json")" "$out"

# Quantized candidates + rescoring: the best hit's score is exact.
for p in int8 binary; do
    "$bin" search --corpus "$ref/embeddings.npy" --queries "$tmp/q.npy" -k 5 --json \
        --precision $p --oversample 4 > "$tmp/$p.json"
    top=$("$py" -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print(all(x[0]['score'] == y[0]['score'] for x, y in zip(a, b)))" "$tmp/$p.json" "$tmp/npy.json")
    check "--precision $p --oversample 4: every best hit found, exact score" True "$top"
done

# Table output.
out=$("$bin" search --corpus "$ref/embeddings.npy" --queries "$tmp/q.npy" -k 2 | head -4)
want=$'query 0\n  rank  corpus_id  score     \n     1          0  1.000000  \n     2          2  0.958020  '
check "table output" "$(echo "$want" | sed 's/ *$//')" "$(echo "$out" | sed 's/ *$//')"

# k > corpus size: all rows; an empty corpus: empty lists.
out=$("$bin" search --corpus "$tmp/small.npy" --queries "$tmp/small.npy" -k 50 --json | \
      "$py" -c "import json,sys; print([len(h) for h in json.load(sys.stdin)])")
check "-k larger than the corpus gives every row" "[3, 3, 3]" "$out"
out=$("$bin" search --corpus "$tmp/empty.npy" --queries "$tmp/q.npy" -k 3 --json | \
      "$py" -c "import json,sys; h=json.load(sys.stdin); print(len(h), sum(map(len, h)))")
check "an empty corpus gives empty hit lists" "50 0" "$out"

# Errors: one line on stderr, exit 2 for usage and 1 for failures.
err_case() {  # err_case NAME WANT_RC NEEDLE ARGS...
    local name=$1 want=$2 needle=$3
    shift 3
    local msg rc
    msg=$("$bin" search "$@" 2>&1 >/dev/null); rc=$?
    local lines
    lines=$(printf '%s\n' "$msg" | wc -l)
    case "$msg" in *"$needle"*) m=yes ;; *) m=no ;; esac
    check "$name" "$want 1 yes" "$rc $lines $m"
    [ "$m" = yes ] || echo "  message: $msg"
}
c=(--corpus "$ref/embeddings.npy")
err_case "-k 0 is a usage error" 2 "-k must be an integer >= 1" "${c[@]}" --queries "$tmp/q.npy" -k 0
err_case "-k abc is a usage error" 2 "-k must be" "${c[@]}" --queries "$tmp/q.npy" -k abc
err_case "--score bad" 2 "--score must be cos or dot" "${c[@]}" --queries "$tmp/q.npy" --score l2
err_case "--precision bad" 2 "--precision must be" "${c[@]}" --queries "$tmp/q.npy" --precision int4
err_case "--oversample without --precision" 2 "need --precision" "${c[@]}" --queries "$tmp/q.npy" --oversample 3
err_case "no queries" 2 "no queries" "${c[@]}"
err_case "--query without --model" 2 "need --model" "${c[@]}" --query "hello"
err_case "unknown option" 2 "unknown option" "${c[@]}" --queries "$tmp/q.npy" --frobnicate
err_case "dim mismatch" 1 "the queries have 10 dimensions but the corpus" "${c[@]}" --queries "$tmp/small.npy"
err_case "NaN in a query file names the row" 1 "nan.npy: row 2, column 7 is NaN" "${c[@]}" --queries "$tmp/nan.npy"
err_case "missing corpus file" 1 "no-such.npy" --corpus "$tmp/no-such.npy" --queries "$tmp/q.npy"
err_case "unknown file type" 1 "unknown embedding file type" --corpus "$ref/search.json" --queries "$tmp/q.npy"
printf 'a\nb\n' > "$tmp/texts.txt"
err_case "--texts line count must match" 1 "has 2 lines but the corpus has 1275 rows" "${c[@]}" --queries "$tmp/q.npy" --texts "$tmp/texts.txt"
out=$("$bin" search --help); rc=$?
case "$out" in *"--corpus"*"--queries"*"--precision"*"--json"*) h=yes ;; *) h=no ;; esac
check "--help exits 0 and lists the options" "0 yes" "$rc $h"

echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ]
