#!/usr/bin/env bash
# Runs the PyTorch oracle over every tiny model variant (tiny_models
# fixture) and checks what must hold without any reference output: the
# embedding length each variant's modules imply, unit length exactly when
# Normalize is listed, and identical vectors for folders that hold the same
# weights in another form (name prefix and gamma/beta, the
# sentence-transformers 6 layout, vocab.txt only). Skips without torch.
set -euo pipefail
py=/usr/bin/python3
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "skipped: $py lacks torch or numpy (apt-get install python3-torch python3-numpy)"
    exit 77
fi
if [[ ! -f "${SEMBED_FIXTURES:-}/tiny/model.safetensors" ]]; then
    echo "skipped: no tiny models in SEMBED_FIXTURES (run the fixture_tiny_models test)"
    exit 77
fi
exec "$py" - "$(cd "$(dirname "$0")" && pwd)" "$SEMBED_FIXTURES" <<'PY'
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
import torch_reference as ref

fix = sys.argv[2]
torch.set_num_threads(1)
# [CLS] words [SEP], of several lengths, ids inside the tiny vocabulary.
rng = np.random.RandomState(7)
seqs = [[101, 102], [101, 7, 102], [101] + list(rng.randint(104, 700, 62)) + [102]]
seqs += [[101] + list(rng.randint(104, 700, n)) + [102] for n in (5, 17, 30)]
seqs = [[int(i) for i in s] for s in seqs]

H = 32
expect = {  # variant: (embedding length, normalized)
    "tiny": (H, True), "tiny-f16": (H, True), "tiny-bf16": (H, True),
    "tiny-prefix": (H, True), "tiny-gelu-new": (H, True), "tiny-cls": (H, True),
    "tiny-max": (H, True), "tiny-sqrt": (H, True), "tiny-weightedmean": (H, True),
    "tiny-lasttoken": (H, True), "tiny-multi": (3 * H, True), "tiny-dense": (16, True),
    "tiny-no-normalize": (H, False), "tiny-st6": (H, True), "tiny-st6-dense": (24, True),
    "tiny-vocab-only": (H, True),
}
out = {}
failed = False
for name, (dim, normalized) in expect.items():
    m = ref.SentenceModel(f"{fix}/{name}", torch.float32)
    with torch.no_grad():
        x = np.concatenate([m.encode([s])[0].numpy() for s in seqs])
    out[name] = x
    norms = np.linalg.norm(x, axis=1)
    ok = x.shape == (len(seqs), dim) and np.isfinite(x).all()
    ok &= bool(np.all(np.abs(norms - 1) < 1e-5)) == normalized
    print(f"{name}: shape {x.shape}, norms {norms.min():.4f}..{norms.max():.4f}:",
          "ok" if ok else "FAILED")
    failed |= not ok

def same(a, b, tol=0.0):
    global failed
    d = float(np.abs(out[a] - out[b]).max())
    ok = d <= tol
    print(f"{a} vs {b}: max abs diff {d:.3g}:", "ok" if ok else "FAILED")
    failed |= not ok

same("tiny", "tiny-prefix")
same("tiny", "tiny-st6")
same("tiny", "tiny-vocab-only")
n = out["tiny-no-normalize"]
out["tiny-no-normalize"] = n / np.linalg.norm(n, axis=1, keepdims=True)
same("tiny", "tiny-no-normalize", 1e-6)
# Each pooling mode, recomputed with numpy from the token vectors of one
# text (the pooling variants share tiny's encoder weights).
base = ref.SentenceModel(f"{fix}/tiny", torch.float32)
def unit(v):
    return v / np.linalg.norm(v)
pooled = {k: [] for k in ("cls", "max", "sqrt", "weightedmean", "lasttoken", "multi")}
for s in seqs:
    with torch.no_grad():
        T = base.encode([s])[1][0].numpy().astype(np.float64)
    n = len(s)
    w = np.arange(1, n + 1, dtype=np.float64)[:, None]
    pooled["cls"].append(unit(T[0]))
    pooled["max"].append(unit(T.max(axis=0)))
    pooled["sqrt"].append(unit(T.sum(axis=0) / np.sqrt(n)))
    pooled["weightedmean"].append(unit((T * w).sum(axis=0) / w.sum()))
    pooled["lasttoken"].append(unit(T[n - 1]))
    pooled["multi"].append(unit(np.concatenate([T[0], T.max(axis=0), T.mean(axis=0)])))
for k, v in pooled.items():
    out["numpy-" + k] = np.stack(v)
    same("tiny-" + k, "numpy-" + k, 1e-5)

# Padding must not change a text's vector: a batch equals one text at a time.
m = ref.SentenceModel(f"{fix}/tiny-multi", torch.float32)
with torch.no_grad():
    batch = m.encode(seqs)[0].numpy()
out["batched"] = batch
same("tiny-multi", "batched", 1e-5)
sys.exit(1 if failed else 0)
PY
