#!/bin/bash
# hub_errors.sh - 401/403, 404 (repo, revision, file), 500, an unreachable
# or silent Hub, and the limits (file size, timeouts, token, endpoint): each
# gives one clear line and exit status 1, and leaves nothing partial behind.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
start_hub --repo test-org/tiny="$T/model" --repo test-org/private="$T/model" \
          --private test-org/private --token hf_secret123

# fresh NAME: an empty cache for the next case.
fresh() {
    CACHE="$T/cache-$1"
    export HF_HUB_CACHE="$CACHE"
}
# nothing_kept REPO: no blob, snapshot entry or ref; only empty folders or
# .no_exist markers and lock files may exist.
nothing_kept() {
    local dir="$CACHE/models--${1/\//--}"
    no_partials
    [ -z "$(find "$CACHE" -type f ! -path '*/.locks/*' ! -path '*/.no_exist/*' 2>/dev/null)" ] ||
        fail "files left in the cache: $(find "$CACHE" -type f)"
    [ ! -e "$dir/refs" ] || fail "refs written after a failure"
}

fresh anon
run_sembed pull test-org/private
expect_fail "private repo without a token" "answered 401 for test-org/private" "HF_TOKEN"
nothing_kept test-org/private
ok "401 without a token says to set HF_TOKEN"

fresh badtoken
HF_TOKEN=hf_wrong run_sembed pull test-org/private
expect_fail "wrong token" "answered 401 for test-org/private" "token was refused"
nothing_kept test-org/private
ok "a refused token is named"

fresh norepo
run_sembed pull test-org/nope
expect_fail "unknown repo" "401" "test-org/nope" "does not exist"
nothing_kept test-org/nope
HF_TOKEN=hf_secret123 run_sembed pull test-org/nope
expect_fail "unknown repo with a token" "repository test-org/nope not found on $HF_ENDPOINT" "token"
nothing_kept test-org/nope
ok "404 for a repo"

fresh norev
run_sembed pull test-org/tiny@v9
expect_fail "unknown revision" "revision 'v9' not found in test-org/tiny"
nothing_kept test-org/tiny
ok "404 for a revision"

fresh nofile
echo "404 config.json" > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "missing required file" "config.json not found in test-org/tiny"
[ ! -e "$CACHE/models--test-org--tiny/refs" ] || fail "refs written after a failure"
no_partials
ok "404 for a required file"

fresh forbidden
echo "403 *" > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "403" "answered 403" "HF_TOKEN"
nothing_kept test-org/tiny
ok "403"

fresh e500
echo "500 model.safetensors" > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "500" "HTTP 500" "model.safetensors" "HF_HUB_OFFLINE=1"
[ ! -e "$CACHE/models--test-org--tiny/refs" ] || fail "refs written after a failure"
[ -z "$(find "$CACHE" -name model.safetensors)" ] || fail "weights linked after a 500"
no_partials
HF_HUB_OFFLINE=1 run_sembed pull test-org/tiny
expect_fail "offline after a 500" "not in the cache"
: > "$FAULTS"
run_sembed pull test-org/tiny
expect_ok "pull after the 500 is gone"
ok "500 leaves no partial model; the next run completes it"

# Repos that are not models sembed can load: named before any weights come down.
cp -r "$T/model" "$T/notok"
rm -f "$T/notok/vocab.txt" "$T/notok/tokenizer.json"
cp -r "$T/model" "$T/nodense"
mkdir -p "$T/nodense/2_Dense"
echo '{"in_features": 32, "out_features": 8}' > "$T/nodense/2_Dense/config.json"
cat > "$T/nodense/modules.json" <<'JSON'
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
JSON
cp -r "$T/model" "$T/badmodules"
echo '[{"path": "../escape", "type": "sentence_transformers.models.Pooling"}]' > "$T/badmodules/modules.json"
stop_hub
start_hub --repo test-org/tiny="$T/model" --repo test-org/notok="$T/notok" \
          --repo test-org/nodense="$T/nodense" --repo test-org/badmodules="$T/badmodules" \
          --repo test-org/private="$T/model" --private test-org/private --token hf_secret123
fresh notok
run_sembed pull test-org/notok
expect_fail "no tokenizer" "test-org/notok" "has no tokenizer.json nor vocab.txt"
[ ! -e "$CACHE/models--test-org--notok/refs" ] || fail "refs written for a repo without a tokenizer"
[ -z "$(find "$CACHE" -name '*.safetensors')" ] || fail "weights fetched for a repo without a tokenizer"
fresh nodense
run_sembed pull test-org/nodense
expect_fail "Dense without weights" "2_Dense/model.safetensors not found in test-org/nodense"
[ -z "$(find "$CACHE" -name model.safetensors)" ] || fail "weights fetched for an unusable repo"
fresh badmodules
run_sembed pull test-org/badmodules
expect_fail "unsafe modules.json" "modules.json" "unsafe path"
[ ! -e "$T/escape" ] && [ -z "$(find "$CACHE" -name escape)" ] || fail "a path outside the snapshot"
ok "a repo without a tokenizer, a Dense module without weights or an unsafe modules.json is refused"

fresh unreachable
PORT_DEAD=$(dead_port)
HF_ENDPOINT="http://127.0.0.1:$PORT_DEAD" run_sembed pull test-org/tiny
expect_fail "unreachable Hub" "cannot reach http://127.0.0.1:$PORT_DEAD" "HF_HUB_OFFLINE=1"
nothing_kept test-org/tiny
ok "an unreachable Hub names the endpoint and offline mode"

fresh silent
echo "hang modules.json" > "$FAULTS"
t0=$(date +%s)
HF_HUB_ETAG_TIMEOUT=1 run_sembed pull test-org/tiny
t1=$(date +%s)
expect_fail "silent Hub" "cannot reach" "timed out"
[ $((t1 - t0)) -le 3 ] || fail "HF_HUB_ETAG_TIMEOUT=1 took $((t1 - t0)) s"
nothing_kept test-org/tiny
: > "$FAULTS"
ok "HF_HUB_ETAG_TIMEOUT bounds a silent Hub"

for v in 0 abc 86401 -1 1.5; do
    HF_HUB_ETAG_TIMEOUT=$v run_sembed pull test-org/tiny
    expect_fail "HF_HUB_ETAG_TIMEOUT=$v" "HF_HUB_ETAG_TIMEOUT must be"
    HF_HUB_DOWNLOAD_TIMEOUT=$v run_sembed pull test-org/tiny
    expect_fail "HF_HUB_DOWNLOAD_TIMEOUT=$v" "HF_HUB_DOWNLOAD_TIMEOUT must be"
done
fresh timeouts-max
HF_HUB_ETAG_TIMEOUT=86400 HF_HUB_DOWNLOAD_TIMEOUT=86400 run_sembed pull test-org/tiny
expect_ok "timeouts at the limit"
ok "timeouts: 1..86400 s accepted, others refused"

# The largest file decides: at the limit it passes, one byte below it fails.
fresh size
run_sembed pull test-org/tiny
expect_ok "pull for sizes"
biggest=$(find -L "$(cat "$T/out")" -type f -printf '%s\n' | sort -n | tail -1)
fresh size-at
run_sembed pull --max-file-size "$biggest" test-org/tiny
expect_ok "--max-file-size at the largest file"
fresh size-below
run_sembed pull --max-file-size $((biggest - 1)) test-org/tiny
expect_fail "--max-file-size below the largest file" "more than the limit of $((biggest - 1))"
[ ! -e "$CACHE/models--test-org--tiny/refs" ] || fail "refs written after a failure"
no_partials
for v in 0 -5 12X 1.5G ""; do
    run_sembed pull --max-file-size "$v" test-org/tiny
    [ "$RC" = 2 ] || fail "--max-file-size '$v' accepted"
done
ok "--max-file-size: at the limit passes, below fails, bad values are usage errors"

fresh token
tok4096=$(head -c 4096 /dev/zero | tr '\0' a)
HF_TOKEN=$tok4096 run_sembed pull test-org/private
expect_fail "a 4096-byte token" "token"
grep -q "longer than" "$T/err" && fail "a 4096-byte token was refused as too long"
HF_TOKEN=${tok4096}a run_sembed pull test-org/private
expect_fail "a 4097-byte token" "longer than 4096 bytes"
HF_TOKEN=$'hf_a\nX-Evil: 1' run_sembed pull test-org/private
expect_fail "a token with a newline" "control character"
ok "token: 4096 bytes accepted, 4097 and control characters refused"

HF_ENDPOINT=ftp://127.0.0.1 run_sembed pull test-org/tiny
expect_fail "ftp endpoint" "must start with http:// or https://"
HF_ENDPOINT="http://127.0.0.1:$PORT/" run_sembed pull test-org/tiny
expect_ok "endpoint with a trailing slash"
ep="http://127.0.0.1:$PORT/$(head -c $((1000 - 18 - ${#PORT})) /dev/zero | tr '\0' a)"
[ ${#ep} = 1000 ] || fail "test endpoint is ${#ep} bytes"
fresh ep
HF_ENDPOINT=$ep run_sembed pull test-org/tiny
expect_fail "a 1000-byte endpoint" "http://127.0.0.1:$PORT/aaaa"
grep -q "longer than" "$T/err" && fail "a 1000-byte endpoint was refused as too long"
HF_ENDPOINT=${ep}a run_sembed pull test-org/tiny
expect_fail "a 1001-byte endpoint" "endpoint longer than 1000 bytes"
ok "endpoint: http(s) only, trailing '/' stripped, 1000 bytes at most"
echo "PASS"
