#!/usr/bin/env bash
# store_minilm.sh - the store commands with the synthetic all-MiniLM-L6-v2
# ($SEMBED_FIXTURES/minilm) against the sentence-transformers reference in
# $SEMBED_SHARED/reference/visible:
#   - `sembed faq` answers the seed's question with the FAQs and scores that
#     util.semantic_search gives over the reference embeddings of the same
#     texts (computed here with numpy from embeddings.npy);
#   - `sembed search --db` ranks as `sembed search --corpus/--texts`;
#   - the reference embeddings added with --vectors and searched through
#     HNSW find the exact top 5 (recall measured against exact mode).
# Skips without the reference material, the fixture or numpy.
set -u
bin=${SEMBED_BIN:-}
model=${SEMBED_FIXTURES:-}/minilm
ref=${SEMBED_SHARED:-}/reference/visible
py=/usr/bin/python3
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "skipped: SEMBED_BIN is not set to the sembed tool"; exit 77
fi
if [[ -z "${SEMBED_SHARED:-}" || ! -f "$ref/embeddings.npy" || ! -f "$ref/tokens.jsonl" ]]; then
    echo "skipped: no reference material (SEMBED_SHARED)"; exit 77
fi
if [[ ! -f "$model/model.safetensors" ]]; then
    echo "skipped: no $model (the minilm_model fixture makes it)"; exit 77
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "skipped: $py has no numpy"; exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sembed-store-minilm-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
passed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; shift; for l in "$@"; do echo "  $l"; done; fails=$((fails + 1)); }
# pycheck NAME [ARGS...]: runs the Python check on standard input.
pycheck() {
    local name=$1
    shift
    if "$py" - "$@" > py.txt 2>&1; then ok "$name"; else bad "$name" "$(tail -n 8 py.txt)"; fi
}

# The FAQs as the seed lists them (the program has its own copy; the
# reference has their embeddings).
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

if "$bin" faq --model "$model" --json > faq.json 2> err.txt; then
    ok "faq runs"
else
    bad "faq runs" "$(cat err.txt)"
fi
pycheck "faq = semantic_search over the reference embeddings" "$ref" <<'PY'
import json, sys
import numpy as np
ref = sys.argv[1]
texts = [json.loads(l)["text"] for l in open(f"{ref}/tokens.jsonl")]
emb = np.load(f"{ref}/embeddings.npy")
faqs = open("faqs.txt").read().rstrip("\n").split("\n")
rows = [texts.index(t) for t in faqs]
q = emb[texts.index("How can Medicare help me?")]
c = emb[rows]
scores = (c / np.linalg.norm(c, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
want = sorted(range(len(faqs)), key=lambda i: (-scores[i], i))[:5]
got = json.load(open("faq.json"))[0]
print("reference:", [(i, round(float(scores[i]), 6)) for i in want])
print("sembed:   ", [(h["corpus_id"], round(h["score"], 6)) for h in got])
assert [h["corpus_id"] for h in got] == want
for h in got:
    assert abs(h["score"] - float(scores[h["corpus_id"]])) < 1e-5, h
    assert h["text"] == faqs[h["corpus_id"]]
PY

"$bin" index add --db faq.db --model "$model" --input faqs.txt > /dev/null 2> err.txt ||
    bad "index add" "$(cat err.txt)"
"$bin" embed --model "$model" --input faqs.txt --output emb.npy 2> /dev/null
Q="How can Medicare help me?"
"$bin" search --db faq.db --query "$Q" -k 5 --json > db.json 2> err.txt
"$bin" search --model "$model" --corpus emb.npy --texts faqs.txt --query "$Q" -k 5 --json \
    > files.json 2>> err.txt
pycheck "search --db = search --corpus/--texts" <<'PY'
import json
a, b = json.load(open("db.json"))[0], json.load(open("files.json"))[0]
assert [x["corpus_id"] for x in a] == [x["corpus_id"] for x in b], (a, b)
assert all(abs(x["score"] - y["score"]) < 1e-6 for x, y in zip(a, b)), (a, b)
PY

# The 1275 reference embeddings through HNSW.
"$py" -c "import numpy as np; np.save('q.npy', np.load('$ref/embeddings.npy')[:50])"
"$bin" index add --db ref.db --vectors "$ref/embeddings.npy" > /dev/null 2> err.txt &&
    "$bin" index build-hnsw --db ref.db > /dev/null 2>> err.txt &&
    "$bin" search --db ref.db --queries q.npy -k 5 --json > exact.json 2>> err.txt &&
    "$bin" search --db ref.db --queries q.npy -k 5 --mode hnsw --json > hnsw.json 2>> err.txt
pycheck "hnsw recall@5 on the reference embeddings" "$ref" <<'PY'
import json, sys
ex, hn = json.load(open("exact.json")), json.load(open("hnsw.json"))
ref = json.load(open(f"{sys.argv[1]}/search.json"))
# Exact mode is util.semantic_search (search.json holds emb[:50] vs emb):
# the same scores in the same order; equal scores (duplicate texts) may
# list their ids in another order, which sentence-transformers leaves open.
for a, r in zip(ex, ref["hits"]):
    assert len(a) == len(r) == 5
    assert all(abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, r)), (a, r)
    for x, y in zip(a, r):
        if x["corpus_id"] != y["corpus_id"]:
            tied = [z["corpus_id"] for z in r if abs(z["score"] - x["score"]) < 1e-6]
            assert x["corpus_id"] in tied or abs(x["score"] - r[-1]["score"]) < 1e-6, (a, r)
# A hit counts when its score reaches the exact k-th score: the reference
# holds duplicate texts, whose equal vectors can stand for each other.
found = sum(sum(1 for h in b if h["score"] >= a[-1]["score"] - 1e-6) for a, b in zip(ex, hn))
recall = found / (5 * len(ex))
print(f"hnsw recall@5 vs exact (ties counted), 1275 reference embeddings, 50 queries: {recall:.4f}")
assert recall >= 0.99, recall
PY
grep "recall" py.txt

echo "$passed passed, $fails failed"
[[ $fails -eq 0 ]]
