#!/bin/bash
# hub_offline.sh - HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE / --offline use the
# cache and never the network; a model missing from the cache fails with a
# message naming the repo and the cache path. Without offline mode a
# complete cached model needs no network either.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/model"
start_hub --repo test-org/tiny="$T/model"
run_sembed pull test-org/tiny
expect_ok "pull"
SNAP=$(cat "$T/out")

before=$(requests)
for setting in HF_HUB_OFFLINE=1 HF_HUB_OFFLINE=ON HF_HUB_OFFLINE=yes HF_HUB_OFFLINE=True \
               TRANSFORMERS_OFFLINE=1 TRANSFORMERS_OFFLINE=TRUE; do
    env "$setting" "$SEMBED_BIN" pull --refresh test-org/tiny > "$T/out" 2> "$T/err"
    RC=$?
    expect_ok "$setting"
    [ "$(cat "$T/out")" = "$SNAP" ] || fail "$setting: another folder"
done
[ "$(requests)" = "$before" ] || fail "offline mode made $(( $(requests) - before )) requests"
ok "offline values 1/ON/yes/True (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) use the cache without a request"

for setting in HF_HUB_OFFLINE=0 HF_HUB_OFFLINE=false HF_HUB_OFFLINE=off HF_HUB_OFFLINE=; do
    before=$(requests)
    env "$setting" "$SEMBED_BIN" pull --refresh test-org/tiny > "$T/out" 2> "$T/err"
    RC=$?
    expect_ok "$setting"
    [ "$(( $(requests) - before ))" = 1 ] || fail "$setting did not reach the Hub"
done
ok "0/false/off/empty are not offline"

stop_hub
before=$(requests)
HF_HUB_OFFLINE=1 run_sembed pull test-org/tiny
expect_ok "offline with the Hub down"
run_sembed pull test-org/tiny
expect_ok "online with the Hub down, model cached"
[ "$(cat "$T/out")" = "$SNAP" ] || fail "cached pull printed another folder"
ok "a cached model needs no network, offline or not"

HF_HUB_OFFLINE=1 run_sembed pull test-org/missing
expect_fail "missing model offline" "test-org/missing" "$CACHE/models--test-org--missing" "offline"
[ ! -e "$CACHE/models--test-org--missing" ] || fail "offline mode created a cache folder"
run_sembed pull --offline test-org/missing
expect_fail "missing model --offline" "test-org/missing" "$CACHE/models--test-org--missing"
HF_HUB_OFFLINE=1 run_sembed pull test-org/tiny@v2
expect_fail "missing revision offline" "test-org/tiny" "revision 'v2'" "$CACHE/models--test-org--tiny"
ok "a model missing offline names the repo and the cache path"

# A snapshot without its weights is not complete: offline names what is missing.
rm "$SNAP/model.safetensors"
HF_HUB_OFFLINE=1 run_sembed pull test-org/tiny
expect_fail "incomplete snapshot offline" "model.safetensors" "$CACHE/models--test-org--tiny"
run_sembed pull test-org/tiny
expect_fail "incomplete snapshot, Hub down" "cannot reach" "HF_HUB_OFFLINE=1"
ok "an incomplete snapshot is not used"
echo "PASS"
