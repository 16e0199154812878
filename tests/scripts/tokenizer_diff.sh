#!/bin/bash
# tokenizer_diff.sh - differential test against Hugging Face tokenizers
# itself (npm package "tokenizers", the Rust library's Node binding, same
# version as the reference outputs): a few thousand seeded random texts
# (multilingual, marks, controls, CJK edges, special-token literals, long
# words, texts over 256 tokens, uniform random code points) must give
# identical ids through `sembed tokenize`. Skips (77) when node or the
# package is missing (install: npm install tokenizers@0.23.2, and point
# NODE_PATH at its node_modules).
set -u
bin=${SEMBED_BIN:-}
model=${SEMBED_SHARED:-}/models/minilm-synthetic
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then echo "SEMBED_BIN not set: skipping"; exit 77; fi
if [ -z "${SEMBED_SHARED:-}" ] || [ ! -f "$model/tokenizer.json" ]; then
    echo "SEMBED_SHARED has no models/minilm-synthetic: skipping"; exit 77
fi
if ! command -v node > /dev/null || ! node -e "require('tokenizers')" 2> /dev/null; then
    echo "node with the npm package 'tokenizers' is not available: skipping"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/texts.jsonl" <<'PY'
import json, random, sys
random.seed(20261127)
pieces = ("the quick brown fox Medicare café naïve Straße ΣΊΣΥΦΟΣ İstanbul ǅ ﬁ Ωhm K Å "
          "東京 서울 ﾃｽﾄ ｆｕｌｌ ١٢٣ हिन्दी ภาษาไทย ᏣᎳᎩ [CLS] [SEP] [MASK] [PAD] [UNK] [mask] "
          "[CLS don't U.S.A. 3.14 $5 a+b<c>=d ^_^ `x` |y| ~z~").split()
odd = ["\0", "\ufffd", "\u200b", "\u200d", "\ufeff", "\u00ad", "\x0b", "\x0c", "\x85", "\xa0",
       "\u2028", "\u3000", "\t", "\n", "\r", "\u0301", "\u0327", "\u1734", "\u0d00", "\u061d",
       "\u166d", "\U000111c9", "\u0890", "\U0001f600", "\u2764\ufe0f", "\u0130", "\u03a3",
       "\u1e9e", "\u13a0", "\ua7cb", "\u0344", "\U0001d15e", "\u0390", "\u212a", "\u2126",
       "\U0002b81f", "\U0002b820", "\U0002b91f", "\U0002b920", "\U0002ceaf", "\U0002ceb0",
       "\uf900", "\u0378", "\ue000", "\U000e0001", "\U00011938", "\U0001e4ec\U0001e944"]
def rand_cp(lo, hi):
    c = random.randint(lo, hi)
    return chr(0x41 if 0xD800 <= c <= 0xDFFF else c)
out = []
for i in range(3000):
    parts = []
    for j in range(random.randint(1, 30)):
        r = random.random()
        if r < 0.3: parts.append(random.choice(pieces))
        elif r < 0.5: parts.append(random.choice(odd))
        elif r < 0.7: parts.append("".join(rand_cp(0, 0x3000) for _ in range(random.randint(1, 4))))
        elif r < 0.8: parts.append("".join(rand_cp(0, 0x10FFFF) for _ in range(random.randint(1, 3))))
        elif r < 0.9: parts.append("x" * random.choice([99, 100, 101]))
        else: parts.append(random.choice(pieces) + "\u0301\u0327" * random.randint(1, 3))
    s = random.choice([" ", "", "\n"]).join(parts)
    if random.random() < 0.05: s = s * 30
    out.append(json.dumps(s))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
node "$here/tokenizer_oracle.js" "$model/tokenizer.json" 256 < "$tmp/texts.jsonl" > "$tmp/want" || exit 1
"$bin" tokenize --model "$model" --input "$tmp/texts.jsonl" --input-format jsonl > "$tmp/got" || exit 1
n=$(wc -l < "$tmp/want")
bad=$(paste -d'|' "$tmp/want" "$tmp/got" | awk -F'|' '$1 != $2' | wc -l)
if [ "$bad" -ne 0 ]; then
    line=$(paste -d'|' "$tmp/want" "$tmp/got" | awk -F'|' '$1 != $2 { print NR; exit }')
    echo "first mismatch at text $line: $(sed -n "${line}p" "$tmp/texts.jsonl" | head -c 300)"
    echo "  want $(sed -n "${line}p" "$tmp/want" | head -c 300)"
    echo "  got  $(sed -n "${line}p" "$tmp/got" | head -c 300)"
fi
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
