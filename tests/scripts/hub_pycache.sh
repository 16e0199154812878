#!/bin/bash
# hub_pycache.sh - a cache laid out as huggingface_hub lays it out (built
# here: blobs named by git sha1 / sha256, refs/main, snapshots/<commit>/
# with relative symlinks, every file of the repo) is used as it is, with the
# network unreachable: by branch, by commit id, offline or not.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
"$PY" - "$T/model" "$CACHE" <<'PYEOF' || fail "cannot build the cache"
import hashlib, os, sys
src, cache = sys.argv[1], sys.argv[2]
repo = os.path.join(cache, "models--py-org--py-model")
commit = hashlib.sha1(b"a commit of py-org/py-model").hexdigest()
for dirpath, _, names in os.walk(src):
    for n in names:
        full = os.path.join(dirpath, n)
        rel = os.path.relpath(full, src)
        data = open(full, "rb").read()
        if n.endswith((".safetensors", ".bin")):
            blob = hashlib.sha256(data).hexdigest()
        else:
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        bpath = os.path.join(repo, "blobs", blob)
        os.makedirs(os.path.dirname(bpath), exist_ok=True)
        open(bpath, "wb").write(data)
        link = os.path.join(repo, "snapshots", commit, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(bpath, os.path.dirname(link)), link)
os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
open(os.path.join(repo, "refs", "main"), "w").write(commit)
print(commit)
PYEOF
REPO_DIR="$CACHE/models--py-org--py-model"
COMMIT=$(cat "$REPO_DIR/refs/main")
SNAP="$REPO_DIR/snapshots/$COMMIT"
export HF_ENDPOINT="http://127.0.0.1:$(dead_port)"
listing() { find "$CACHE" | sort; }
listing > "$T/before"

run_sembed pull py-org/py-model
expect_ok "pull of a huggingface_hub cache"
[ "$(cat "$T/out")" = "$SNAP" ] || fail "printed $(cat "$T/out"), expected $SNAP"
grep -q "already complete in the cache" "$T/err" || fail "$(cat "$T/err")"
run_sembed pull "py-org/py-model@$COMMIT"
expect_ok "pull by commit id"
[ "$(cat "$T/out")" = "$SNAP" ] || fail "by commit: printed $(cat "$T/out")"
HF_HUB_OFFLINE=1 run_sembed pull py-org/py-model
expect_ok "offline pull"
listing > "$T/after"
cmp -s "$T/before" "$T/after" || fail "the cache changed: $(diff "$T/before" "$T/after")"
ok "used without any download and without changing the cache"

run_sembed pull --refresh py-org/py-model
expect_fail "--refresh with the Hub down" "cannot reach $HF_ENDPOINT"
ok "--refresh does ask the network (and fails here)"

# When the engine can embed, --model with the repo id embeds as the folder.
printf 'hello world\n' > "$T/texts.txt"
if can_embed "$T/model" "$T/texts.txt" "$T/src.jsonl"; then
    embed --model py-org/py-model --input "$T/texts.txt" --output "$T/id.jsonl" \
        2> "$T/embed.err" || fail "embed --model py-org/py-model: $(cat "$T/embed.err")"
    cmp -s "$T/src.jsonl" "$T/id.jsonl" || fail "the cached model embeds differently"
    grep -q "from the cache: $SNAP" "$T/embed.err" || fail "embed: $(cat "$T/embed.err")"
    ok "embed --model with the repo id uses the Python-made cache"
else
    echo "note: 'sembed embed' cannot run here yet; checked resolution only"
fi
echo "PASS"
