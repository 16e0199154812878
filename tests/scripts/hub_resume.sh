#!/bin/bash
# hub_resume.sh - a connection dropped halfway through the weights: the run
# fails with a clear message, keeps only blobs/<sha256>.incomplete (no
# snapshot entry, no ref), and the next run resumes it with a Range request
# and checks the sha256 of the whole file.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
start_hub --repo test-org/tiny="$T/model"
REPO_DIR="$CACHE/models--test-org--tiny"
SHA=$(sha256 "$T/model/model.safetensors")
SIZE=$(stat -c %s "$T/model/model.safetensors")

echo "drop model.safetensors 1" > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "dropped connection" "interrupted" "model.safetensors" "run the same command again"
PART="$REPO_DIR/blobs/$SHA.incomplete"
[ -f "$PART" ] || fail "no partial file $PART"
have=$(stat -c %s "$PART")
[ "$have" -gt 0 ] && [ "$have" -lt "$SIZE" ] || fail "partial file has $have of $SIZE bytes"
[ ! -e "$REPO_DIR/refs/main" ] || fail "refs/main written for an unfinished model"
[ -z "$(find "$REPO_DIR/snapshots" -name model.safetensors)" ] || fail "snapshot links the unfinished weights"
[ ! -e "$REPO_DIR/blobs/$SHA" ] || fail "the unfinished blob has its final name"
ok "interrupted download keeps only blobs/$SHA.incomplete ($have of $SIZE bytes)"

: > "$LOG"
run_sembed pull test-org/tiny
expect_ok "resumed pull"
grep '"/cdn/' "$LOG" | grep -q "\"range\": \"bytes=$have-\"" ||
    fail "the second run did not ask for bytes=$have-: $(cat "$LOG")"
[ "$(grep -c '"/cdn/' "$LOG")" = 1 ] || fail "the weights were requested more than once"
[ "$(sha256 "$REPO_DIR/blobs/$SHA")" = "$SHA" ] || fail "resumed blob has the wrong sha256"
cmp -s "$T/model/model.safetensors" "$(cat "$T/out")/model.safetensors" || fail "resumed file differs"
[ -s "$REPO_DIR/refs/main" ] || fail "no refs/main after the resumed download"
no_partials
ok "second run resumes with a Range request; sha256 checked"

# A server that ignores Range sends the whole file again: the partial is
# restarted, not appended to.
rm -rf "$CACHE"
printf 'drop model.safetensors 1\nnorange model.safetensors\n' > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "dropped connection" "interrupted"
run_sembed pull test-org/tiny
expect_ok "pull from a server without Range"
cmp -s "$T/model/model.safetensors" "$(cat "$T/out")/model.safetensors" || fail "restarted file differs"
no_partials
ok "a 200 answer to a Range request restarts the file"
echo "PASS"
