#!/usr/bin/env bash
# The seed's 13 FAQ questions and its query, typed into `sembed embed` as
# plain text lines, give sentence-transformers' vectors (reference/visible
# rows 0-13) to 1e-5, through both the npy and the CSV output.
set -euo pipefail
py=/usr/bin/python3
bin=${SEMBED_BIN:?}
ref=${SEMBED_SHARED:-}/reference/visible
model=${SEMBED_FIXTURES:?}/minilm
if [[ ! -f $ref/embeddings.npy || ! -f $model/model.safetensors ]]; then
    echo "skipped: needs ../shared and the minilm_model fixture"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/faqs.txt" <<'TXT'
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
How can Medicare help me?
TXT
"$bin" embed --model "$model" --input "$work/faqs.txt" --output "$work/faqs.npy"
"$bin" embed --model "$model" --input "$work/faqs.txt" --output "$work/embeddings.csv"
"$py" - "$work" "$ref" <<'PY'
import sys
import numpy as np
import pandas as pd
work, ref = sys.argv[1], sys.argv[2]
r = np.load(f"{ref}/embeddings.npy")[:14]
for name, a in (("npy", np.load(f"{work}/faqs.npy")),
                ("csv", pd.read_csv(f"{work}/embeddings.csv").to_numpy(dtype=np.float32))):
    d = np.abs(a - r).max(axis=1)
    cos = (a * r).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(r, axis=1)
    print(f"{name}: 13 FAQs + query, max |diff| {d.max():.3g} (row {d.argmax()}), "
          f"min cosine {cos.min():.9f}")
    assert a.shape == (14, 384) and d.max() <= 1e-5 and cos.min() >= 0.99999
print("ok")
PY
