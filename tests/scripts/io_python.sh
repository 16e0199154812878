#!/bin/bash
# io_python.sh - embedding files against the Python tools that write and
# read them (Debian's python3-pandas and python3-numpy, run with
# /usr/bin/python3):
#   - pandas writes CSV (float32 and float64 frames, index=False and True,
#     id/text columns) -> sembed reads identical float32 values and texts;
#   - sembed writes CSV -> pandas.read_csv gives identical float32 values;
#   - numpy.save (float32/float64, little/big endian, versions 1.0/2.0/3.0)
#     -> sembed reads; Fortran order is refused with a clear message;
#   - sembed writes .npy -> numpy.load(allow_pickle=False) bit-exact, header
#     padded to 64 bytes; sembed writes JSONL -> json gives the floats.
# Usage: io_python.sh IO_CONVERT (the tests/tools/io_convert helper).
set -u
conv=${1:-}
py=/usr/bin/python3
if [ -z "$conv" ] || [ ! -x "$conv" ]; then
    echo "io_convert helper not given: skipping"; exit 77
fi
if ! "$py" -c 'import numpy, pandas' 2>/dev/null; then
    echo "$py lacks numpy or pandas (apt-get install python3-numpy python3-pandas): skipping"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# Test data: random float32 values plus the awkward ones (denormals, the
# largest float, -0.0, tiny and huge exponents), and texts that need quoting.
"$py" - <<'EOF' || exit 1
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
bits = rng.integers(0, 2**32, size=(300, 17), dtype=np.uint64).astype(np.uint32)
a = bits.view(np.float32).copy()
a[~np.isfinite(a)] = 1.5
a[:, 0] = rng.standard_normal(300).astype(np.float32) * 0.05
special = np.array([0.0, -0.0, 1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 1e-5, 0.1,
                    123456790.0, 1e16, -2.5e-10, 0.3, 2.0**-126, 1.0, -1.0, 65504.0, 7e-30],
                   dtype=np.float32)
a[0] = special
np.save("a.npy", a)
pd.DataFrame(a).to_csv("pd32.csv", index=False)
pd.DataFrame(a.astype(np.float64)).to_csv("pd64.csv", index=False)
pd.DataFrame(a.tolist()).to_csv("pdlist_index.csv")                  # index=True
texts = ['plain', 'comma, here', 'quote "q" inside', 'new\nline', ' lead', '=1+2', 'ünïcödé ✓', '']
df = pd.DataFrame(a[:8, :4])
df.insert(0, "text", texts)
df.insert(0, "id", [f"doc-{i}" for i in range(8)])
df.to_csv("pdtext.csv", index=False)
np.save("f8.npy", a.astype(np.float64))
np.save("be4.npy", a.astype(">f4"))
np.save("be8.npy", a.astype(">f8"))
with open("v2.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open("v3.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(3, 0))
np.save("fortran.npy", np.asfortranarray(a))
np.save("row.npy", a[3])
EOF

fails=0
passed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# same NAME FILE: FILE (an .npy written by sembed) equals a.npy bit for bit.
same() {
    if "$py" -c "
import numpy as np, sys
a = np.load('a.npy'); b = np.load(sys.argv[1], allow_pickle=False)
if sys.argv[2] == 'row': a = a[3:4]
sys.exit(0 if b.dtype == np.float32 and a.shape == b.shape and a.tobytes() == b.tobytes() else 1)
" "$2" "${3:-}"; then ok "$1"; else bad "$1"; fi
}

for f in pd32 pd64 pdlist_index; do
    if "$conv" "$f.csv" "$f.npy"; then same "pandas $f.csv -> sembed: same float32 bits" "$f.npy"
    else bad "sembed reads pandas $f.csv"; fi
done
for f in f8 be4 be8 v2 v3; do
    if "$conv" "$f.npy" "out_$f.npy"; then same "numpy $f.npy -> sembed" "out_$f.npy"
    else bad "sembed reads numpy $f.npy"; fi
done
if "$conv" row.npy out_row.npy; then same "1-D .npy is one row" out_row.npy row
else bad "sembed reads a 1-D .npy"; fi
msg=$("$conv" fortran.npy out.npy 2>&1); rc=$?
case "$msg" in *Fortran*) m=yes ;; *) m=no ;; esac
if [ "$rc" -eq 1 ] && [ "$m" = yes ] && [ "$(echo "$msg" | wc -l)" -eq 1 ]; then
    ok "Fortran order refused in one line"
else bad "Fortran order refused ($rc: $msg)"; fi

# sembed writes; numpy / pandas / json read.
"$conv" a.npy sembed.npy && same "sembed .npy -> numpy.load bit-exact" sembed.npy
if "$py" -c "
import sys
h = open('sembed.npy', 'rb').read(128)
hl = h[8] | h[9] << 8
sys.exit(0 if h[:8] == b'\x93NUMPY\x01\x00' and (10 + hl) % 64 == 0 else 1)"; then
    ok ".npy header v1.0 padded to 64 bytes"; else bad ".npy header layout"; fi
"$conv" a.npy sembed.csv
if "$py" -c "
import numpy as np, pandas as pd, sys
a = np.load('a.npy')
df = pd.read_csv('sembed.csv')
b = df.to_numpy().astype(np.float32)
sys.exit(0 if list(df.columns) == [str(i) for i in range(a.shape[1])] and a.tobytes() == b.tobytes() else 1)
"; then ok "sembed .csv -> pandas.read_csv: header 0..dim-1, same float32 bits"
else bad "sembed .csv read by pandas"; fi
"$conv" a.npy sembed.jsonl
if "$py" -c "
import numpy as np, json, sys
a = np.load('a.npy')
b = np.array([json.loads(l) for l in open('sembed.jsonl')], dtype=np.float64).astype(np.float32)
sys.exit(0 if a.tobytes() == b.tobytes() else 1)
"; then ok "sembed .jsonl -> json: same float32 values"; else bad "sembed .jsonl read by json"; fi

# Texts and ids: pandas CSV -> sembed -> JSONL -> json, and sembed CSV -> pandas.
if "$conv" pdtext.csv text.jsonl && "$conv" pdtext.csv text.csv && "$py" -c "
import numpy as np, pandas as pd, json, sys
want = pd.read_csv('pdtext.csv', keep_default_na=False)
rows = [json.loads(l) for l in open('text.jsonl')]
ok = [r['text'] for r in rows] == list(want['text']) and [r['id'] for r in rows] == list(want['id'])
emb = np.array([r['embedding'] for r in rows], dtype=np.float32)
ok = ok and emb.tobytes() == want[['0', '1', '2', '3']].to_numpy().astype(np.float32).tobytes()
back = pd.read_csv('text.csv', keep_default_na=False)
ok = ok and list(back['text']) == list(want['text']) and list(back.columns) == ['id', 'text', '0', '1', '2', '3']
sys.exit(0 if ok else 1)
"; then ok "ids and texts (quotes, commas, newlines, UTF-8) survive both ways"
else bad "ids and texts round trip"; fi

echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ]
