#!/usr/bin/env bash
# The engine against the PyTorch oracle (tests/scripts/torch_reference.py) on
# every tiny model variant: dtypes F32/F16/BF16, bert. prefix with
# gamma/beta names, tanh GELU, every pooling mode and their concatenation,
# Dense modules, no Normalize, the sentence-transformers 6 layout and a
# vocab.txt-only tokenizer. Self-contained: needs no reference material,
# only Debian's python3-torch. Prints the largest difference per variant.
set -euo pipefail
py=/usr/bin/python3
bin=${SEMBED_BIN:?}
fix=${SEMBED_FIXTURES:?}
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "skipped: $py lacks torch or numpy (apt-get install python3-torch python3-numpy)"
    exit 77
fi
if [[ ! -f "$fix/tiny/model.safetensors" ]]; then
    echo "skipped: no tiny models in $fix (run the fixture_tiny_models test)"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Sequences of several lengths, ids inside the tiny vocabulary; the longest
# is longer than the tiny models' max_seq_length (64), so truncation runs too.
"$py" - "$work/ids.jsonl" <<'PY'
import json, sys
import numpy as np
rng = np.random.RandomState(11)
seqs = [[101, 102], [101, 7, 102]]
seqs += [[101] + [int(i) for i in rng.randint(104, 700, n)] + [102] for n in (1, 5, 17, 30, 62, 90)]
with open(sys.argv[1], "w") as f:
    for s in seqs:
        f.write(json.dumps(s) + "\n")
PY
# The oracle gets the sequences as sembed cuts them (first 63 ids + [SEP]).
"$py" - "$work/ids.jsonl" "$work/ids_cut.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as g:
    for line in f:
        s = json.loads(line)
        if len(s) > 64:
            s = s[:63] + [s[-1]]
        g.write(json.dumps(s) + "\n")
PY

fail=0
for dir in "$fix"/tiny*/; do
    name=$(basename "$dir")
    for kernel in auto reference; do
        "$bin" embed --model "$dir" --input "$work/ids.jsonl" --input-format ids \
            --kernel "$kernel" --output "$work/$name.$kernel.npy"
    done
    "$py" "$here/torch_reference.py" "$dir" "$work/ids_cut.jsonl" "$work/$name.oracle.npy" >/dev/null
    if ! "$py" - "$work" "$name" <<'PY'
import sys
import numpy as np
work, name = sys.argv[1], sys.argv[2]
o = np.load(f"{work}/{name}.oracle.npy")
ok = True
for kernel in ("auto", "reference"):
    a = np.load(f"{work}/{name}.{kernel}.npy")
    if a.shape != o.shape:
        print(f"{name} [{kernel}]: shape {a.shape} vs oracle {o.shape}: FAILED")
        ok = False
        continue
    d = float(np.abs(a - o).max())
    cos = float(((a * o).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(o, axis=1)).min())
    good = d <= 2e-6 and cos >= 0.99999
    print(f"{name} [{kernel}]: dim {a.shape[1]}, max |diff| {d:.3g}, min cosine {cos:.9f}:",
          "ok" if good else "FAILED")
    ok &= good
sys.exit(0 if ok else 1)
PY
    then
        fail=1
    fi
done
exit $fail
