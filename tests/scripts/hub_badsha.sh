#!/bin/bash
# hub_badsha.sh - an LFS file whose bytes do not hash to the sha256 the Hub
# announced (X-Linked-Etag) is refused and not kept, anywhere in the cache.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
start_hub --repo test-org/tiny="$T/model"
REPO_DIR="$CACHE/models--test-org--tiny"
SHA=$(sha256 "$T/model/model.safetensors")

echo "badsha model.safetensors" > "$FAULTS"
run_sembed pull test-org/tiny
expect_fail "wrong sha256" "sha256" "does not match" "$SHA" "not kept"
[ ! -e "$REPO_DIR/blobs/$SHA" ] && [ ! -e "$REPO_DIR/blobs/$SHA.incomplete" ] ||
    fail "the corrupt file was kept"
[ -z "$(find "$REPO_DIR/snapshots" -name model.safetensors)" ] || fail "snapshot links corrupt weights"
[ ! -e "$REPO_DIR/refs/main" ] || fail "refs/main written for a failed download"
no_partials
ok "a wrong sha256 is refused and nothing is kept"

HF_HUB_OFFLINE=1 run_sembed pull test-org/tiny
expect_fail "offline after a refused download" "not in the cache"
ok "the refused model is not usable offline"

: > "$FAULTS"
run_sembed pull test-org/tiny
expect_ok "pull after the fault is gone"
[ "$(sha256 "$(cat "$T/out")/model.safetensors")" = "$SHA" ] || fail "wrong weights after retry"
no_partials
ok "the next run downloads the right bytes"
echo "PASS"
