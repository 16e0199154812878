#!/usr/bin/env bash
# Validates the PyTorch oracle (tests/scripts/torch_reference.py) against the
# outputs of the real sentence-transformers in the reference material: fed
# the reference token ids, on the synthetic MiniLM (${SEMBED_FIXTURES}/minilm),
# its embeddings must match embeddings.npy within 1e-6 (max abs), in fp32
# and in fp64, and its token embeddings token_embeddings.jsonl within 1e-5:
# those vectors are not normalized (values up to about 4) and the reference
# itself carries about 3.4e-6 of fp32 rounding there (the fp64 oracle's
# distance to it).
#
# By default a sample keeps the run short: the first 20 texts (those with
# token embeddings) and every 50th text. SEMBED_ORACLE_FULL=1 runs all
# 1275 texts (about a minute of CPU).
# Skips (exit 77) without the reference material, torch, numpy or the
# minilm fixture.
set -euo pipefail
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
ref="${SEMBED_SHARED:-}/reference/visible"
model="${SEMBED_FIXTURES:-}/minilm"

if [[ -z "${SEMBED_SHARED:-}" || ! -f "$ref/tokens.jsonl" ]]; then
    echo "skipped: the reference material (SEMBED_SHARED) is not available"
    exit 77
fi
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "skipped: $py lacks torch or numpy (apt-get install python3-torch python3-numpy)"
    exit 77
fi
if [[ ! -f "$model/model.safetensors" ]]; then
    echo "skipped: no minilm fixture in SEMBED_FIXTURES (run the fixture_minilm_model test)"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$ref" "$tmp" "${SEMBED_ORACLE_FULL:-0}" <<'PY'
import json, sys
ref, tmp, full = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
# Only "\n" ends a record: texts may hold U+2028 and other separators.
lines = open(f"{ref}/tokens.jsonl", encoding="utf-8").read().rstrip("\n").split("\n")
rows = list(range(len(lines))) if full else sorted(set(range(20)) | set(range(0, len(lines), 50)))
with open(f"{tmp}/ids.jsonl", "w") as f:
    for i in rows:
        f.write(json.dumps(json.loads(lines[i])["ids"]) + "\n")
json.dump(rows, open(f"{tmp}/rows.json", "w"))
with open(f"{tmp}/ids20.jsonl", "w") as f:
    for i in range(20):
        f.write(json.dumps(json.loads(lines[i])["ids"]) + "\n")
PY

"$py" "$here/torch_reference.py" "$model" "$tmp/ids.jsonl" "$tmp/fp32.npy" \
    --token-embeddings "$tmp/tok.jsonl"
"$py" "$here/torch_reference.py" "$model" "$tmp/ids20.jsonl" "$tmp/fp64.npy" --float64

"$py" - "$ref" "$tmp" <<'PY'
import json, sys
import numpy as np
ref, tmp = sys.argv[1], sys.argv[2]
rows = json.load(open(f"{tmp}/rows.json"))
want = np.load(f"{ref}/embeddings.npy")
ok = True

def check(what, got, exp, tol=1e-6):
    global ok
    d = float(np.abs(np.asarray(got, np.float64) - np.asarray(exp, np.float64)).max())
    print(f"{what}: max abs diff {d:.3g} (limit {tol:g})")
    ok &= d <= tol

got = np.load(f"{tmp}/fp32.npy")
assert got.dtype == np.float32 and got.shape == (len(rows), want.shape[1]), got.shape
check(f"embeddings fp32, {len(rows)} texts", got, want[rows])
check("embeddings fp64, 20 texts", np.load(f"{tmp}/fp64.npy"), want[:20])
ref_tok = [json.loads(l)["token_embeddings"] for l in open(f"{ref}/token_embeddings.jsonl")]
got_tok = [json.loads(l)["token_embeddings"] for l in open(f"{tmp}/tok.jsonl")]
assert len(ref_tok) == 20 and len(got_tok) == len(rows) and rows[:20] == list(range(20))
for r, g in zip(ref_tok, got_tok):
    assert np.shape(r) == np.shape(g), (np.shape(r), np.shape(g))
check("token embeddings fp32, 20 texts", np.concatenate(got_tok[:20]),
      np.concatenate(ref_tok), 1e-5)
sys.exit(0 if ok else 1)
PY
