#!/bin/bash
# hub_pull.sh - `sembed pull` against a fake Hub: the files a model needs
# (and no others) land in the huggingface_hub cache layout, byte-identical,
# as relative links to blobs named by ETag; the token goes to the Hub but
# not to the CDN host; a second run makes no request; --refresh makes one.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
start_hub --repo test-org/tiny="$T/model" --repo test-org/private="$T/model" \
          --private test-org/private --token hf_secret123

run_sembed pull test-org/tiny
expect_ok "pull"
REPO_DIR="$CACHE/models--test-org--tiny"
COMMIT=$(cat "$REPO_DIR/refs/main")
[[ "$COMMIT" =~ ^[0-9a-f]{40}$ ]] || fail "refs/main holds '$COMMIT', not a commit id"
SNAP="$REPO_DIR/snapshots/$COMMIT"
[ "$(cat "$T/out")" = "$SNAP" ] || fail "pull printed '$(cat "$T/out")', expected $SNAP"
grep -q "downloaded test-org/tiny (commit ${COMMIT:0:12}) from $HF_ENDPOINT" "$T/err" ||
    fail "no download summary: $(cat "$T/err")"
ok "pull prints the snapshot folder and refs/main names its commit"

# The files sembed needs: each present, identical, a relative link to blobs/<etag>.
cd "$T/model" || fail "no model folder"
needed=(modules.json config.json sentence_bert_config.json config_sentence_transformers.json
        tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json model.safetensors)
for d in */; do
    d=${d%/}
    case "$d" in onnx|openvino) continue ;; esac
    needed+=("$d/config.json" "$d/model.safetensors")
done
n_checked=0
for f in "${needed[@]}"; do
    if [ ! -f "$f" ]; then
        [ ! -e "$SNAP/$f" ] || fail "$f is not in the repo but is in the snapshot"
        continue
    fi
    [ -L "$SNAP/$f" ] || fail "$f is not a symlink in the snapshot"
    target=$(readlink "$SNAP/$f")
    case "$target" in /*) fail "$f links to an absolute path $target" ;; esac
    cmp -s "$f" "$SNAP/$f" || fail "$f differs from the served file"
    case "$f" in
        *.safetensors) blob=$(sha256 "$f") ;;
        *) blob=$(git_sha1 "$f") ;;
    esac
    [ "$(basename "$target")" = "$blob" ] || fail "$f links to $target, expected blob $blob"
    link_dir=$(cd "$(dirname "$SNAP/$f")" && cd "$(dirname "$target")" && pwd -P)
    [ "$link_dir" = "$(cd "$REPO_DIR/blobs" && pwd -P)" ] || fail "$f does not link into blobs/"
    n_checked=$((n_checked + 1))
done
[ "$n_checked" -ge 5 ] || fail "only $n_checked model files checked"
ok "$n_checked model files are byte-identical relative links to their blobs"

for f in pytorch_model.bin onnx/model.onnx tf_model.h5 openvino/openvino_model.xml README.md; do
    [ ! -e "$SNAP/$f" ] || fail "$f was downloaded but sembed does not need it"
    grep -qF "/$f\"" "$LOG" && fail "$f was requested"
done
ok "no pytorch_model.bin, ONNX, TF, OpenVINO or README request"
[ "$(grep -vc '"encoding": "identity"' "$LOG")" = 0 ] || fail "a request allowed compression"
ok "every request asks for Accept-Encoding: identity"

absent=()
for f in config_sentence_transformers.json tokenizer.json; do
    [ -e "$T/model/$f" ] || absent+=("$f")
done
if grep -q '"2_Normalize"' "$T/model/modules.json" && [ ! -e "$T/model/2_Normalize/config.json" ]; then
    absent+=(2_Normalize/config.json)
fi
for f in "${absent[@]}"; do
    [ -f "$REPO_DIR/.no_exist/$COMMIT/$f" ] || fail "no .no_exist marker for the absent $f"
done
ok "absent optional files are recorded in .no_exist"
no_partials

# A second run answers from the cache without a request.
before=$(requests)
run_sembed pull test-org/tiny
expect_ok "second pull"
[ "$(cat "$T/out")" = "$SNAP" ] || fail "second pull printed another folder"
[ "$(requests)" = "$before" ] || fail "second pull made $(( $(requests) - before )) requests"
grep -q "already complete in the cache" "$T/err" || fail "second pull: $(cat "$T/err")"
ok "second pull makes no request"

before=$(requests)
run_sembed pull --refresh test-org/tiny
expect_ok "pull --refresh"
made=$(( $(requests) - before ))
[ "$made" = 1 ] || fail "--refresh made $made requests, expected 1"
grep -q "up to date" "$T/err" || fail "--refresh: $(cat "$T/err")"
ok "pull --refresh asks the Hub once and downloads nothing"

# Private repo: the token goes to the Hub, never to the CDN host.
for how in env file path; do
    rm -rf "$CACHE/models--test-org--private"
    : > "$LOG"
    case $how in
        env) HF_TOKEN=hf_secret123 run_sembed pull test-org/private ;;
        file) mkdir -p "$HF_HOME"; printf 'hf_secret123\n' > "$HF_HOME/token"
              run_sembed pull test-org/private; rm "$HF_HOME/token" ;;
        path) printf 'hf_secret123' > "$T/tok"; HF_TOKEN_PATH="$T/tok" run_sembed pull test-org/private ;;
    esac
    expect_ok "private pull with the token from $how"
    hub_req=$(grep -c '"host": "127.0.0.1' "$LOG")
    hub_auth=$(grep '"host": "127.0.0.1' "$LOG" | grep -c '"auth": "Bearer hf_secret123"')
    cdn_req=$(grep -c '"host": "localhost' "$LOG")
    cdn_auth=$(grep '"host": "localhost' "$LOG" | grep -vc '"auth": null')
    [ "$hub_req" -gt 0 ] && [ "$hub_req" = "$hub_auth" ] ||
        fail "$how: token sent on $hub_auth of $hub_req Hub requests"
    [ "$cdn_req" -gt 0 ] || fail "$how: no CDN request"
    [ "$cdn_auth" = 0 ] || fail "$how: the token went to the CDN host"
done
ok "token from HF_TOKEN, \$HF_HOME/token and HF_TOKEN_PATH; not sent to the CDN"

HF_TOKEN=hf_secret123 HF_HUB_DISABLE_IMPLICIT_TOKEN=1 run_sembed pull --refresh test-org/private
expect_fail "HF_HUB_DISABLE_IMPLICIT_TOKEN" "401" "HF_TOKEN"
ok "HF_HUB_DISABLE_IMPLICIT_TOKEN: no token is sent"

# When the engine can embed, the downloaded folder embeds as the source does.
cd "$T" || fail "cd"
printf 'hello world\nthe quick brown fox\n' > "$T/texts.txt"
if can_embed "$T/model" "$T/texts.txt" "$T/src.jsonl"; then
    embed --model "$SNAP" --input "$T/texts.txt" --output "$T/snap.jsonl" 2> "$T/embed.err" ||
        fail "embed from the snapshot failed: $(cat "$T/embed.err")"
    cmp -s "$T/src.jsonl" "$T/snap.jsonl" || fail "the snapshot embeds differently"
    before=$(requests)
    embed --model test-org/tiny --input "$T/texts.txt" --output "$T/id.jsonl" 2> "$T/embed.err" ||
        fail "embed --model test-org/tiny failed: $(cat "$T/embed.err")"
    cmp -s "$T/src.jsonl" "$T/id.jsonl" || fail "--model test-org/tiny embeds differently"
    grep -q "using test-org/tiny (commit ${COMMIT:0:12}) from the cache" "$T/embed.err" ||
        fail "embed did not say where the model came from: $(cat "$T/embed.err")"
    [ "$(requests)" = "$before" ] || fail "embed --model of a cached model made a request"
    # Implicit download: a fresh cache, the repo id, one run.
    HF_HUB_CACHE="$T/cache-implicit" embed --model test-org/tiny --input "$T/texts.txt" \
        --output "$T/implicit.jsonl" 2> "$T/embed.err" ||
        fail "embed with an implicit download failed: $(cat "$T/embed.err")"
    cmp -s "$T/src.jsonl" "$T/implicit.jsonl" || fail "the implicitly downloaded model differs"
    grep -q "downloaded test-org/tiny (commit ${COMMIT:0:12}) from $HF_ENDPOINT" "$T/embed.err" ||
        fail "embed did not say it downloaded: $(cat "$T/embed.err")"
    ok "the snapshot, the cached repo id and an implicit download embed exactly as the source"
else
    echo "note: 'sembed embed' cannot run here yet; compared file bytes only"
fi
echo "PASS"
