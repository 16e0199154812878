#!/bin/bash
# hub_names.sh - model names: a bare NAME is sentence-transformers/NAME,
# ORG/NAME@REV and --revision pick a revision (refs/pr/1 is sent as
# refs%2Fpr%2F1 and stored as refs/refs/pr/1), a commit id is used as is,
# file names are percent-encoded keeping '/', a renamed repo's relative
# redirect is followed, and invalid names are refused before any request.
source "$(dirname "$0")/hub_lib.sh"

make_model "$T/main"
cp -r "$T/main" "$T/pr"
echo '{"note": "the pull request"}' > "$T/pr/config_sentence_transformers.json"
cp -r "$T/main" "$T/v1"
echo '{"note": "version 1.0"}' > "$T/v1/config_sentence_transformers.json"
# A module folder whose name needs encoding.
cp -r "$T/main" "$T/odd"
odd_dir='1 Pooling+é'
mkdir -p "$T/odd/$odd_dir"
echo '{"pooling_mode_mean_tokens": true}' > "$T/odd/$odd_dir/config.json"
cat > "$T/odd/modules.json" <<JSON
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "$odd_dir", "type": "sentence_transformers.models.Pooling"}]
JSON

start_hub --repo sentence-transformers/all-MiniLM-L6-v2="$T/main" \
          --repo test-org/tiny="$T/main" --repo test-org/tiny@refs/pr/1="$T/pr" \
          --repo test-org/tiny@v1.0="$T/v1" --repo test-org/odd="$T/odd" \
          --rename old-org/tiny=test-org/tiny

run_sembed pull all-MiniLM-L6-v2
expect_ok "bare name"
case "$(cat "$T/out")" in
    "$CACHE/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/"*) ;;
    *) fail "bare name went to $(cat "$T/out")" ;;
esac
grep -q '"/sentence-transformers/all-MiniLM-L6-v2/resolve/main/modules.json"' "$LOG" ||
    fail "bare name did not ask for sentence-transformers/all-MiniLM-L6-v2"
ok "all-MiniLM-L6-v2 is sentence-transformers/all-MiniLM-L6-v2"

run_sembed pull test-org/tiny
expect_ok "main"
MAIN=$(cat "$CACHE/models--test-org--tiny/refs/main")
run_sembed pull test-org/tiny@refs/pr/1
expect_ok "refs/pr/1"
grep -q '"/test-org/tiny/resolve/refs%2Fpr%2F1/modules.json"' "$LOG" ||
    fail "revision not sent as refs%2Fpr%2F1: $(grep refs "$LOG" | head -2)"
PR=$(cat "$CACHE/models--test-org--tiny/refs/refs/pr/1")
[[ "$PR" =~ ^[0-9a-f]{40}$ ]] && [ "$PR" != "$MAIN" ] || fail "refs/refs/pr/1 holds '$PR'"
[ "$(cat "$T/out")" = "$CACHE/models--test-org--tiny/snapshots/$PR" ] || fail "pr folder $(cat "$T/out")"
cmp -s "$T/pr/config_sentence_transformers.json" "$(cat "$T/out")/config_sentence_transformers.json" ||
    fail "refs/pr/1 snapshot has the wrong file"
ok "@refs/pr/1: encoded as refs%2Fpr%2F1, stored as refs/refs/pr/1"

run_sembed pull --revision v1.0 test-org/tiny
expect_ok "--revision v1.0"
V1=$(cat "$CACHE/models--test-org--tiny/refs/v1.0")
cmp -s "$T/v1/config_sentence_transformers.json" "$(cat "$T/out")/config_sentence_transformers.json" ||
    fail "v1.0 snapshot has the wrong file"
run_sembed pull --revision v1.0 test-org/tiny@main
[ "$RC" = 2 ] || fail "--revision with @REV accepted"
ok "--revision v1.0"

before=$(requests)
run_sembed pull "test-org/tiny@$PR"
expect_ok "by commit"
[ "$(requests)" = "$before" ] || fail "a cached commit made a request"
[ "$(cat "$T/out")" = "$CACHE/models--test-org--tiny/snapshots/$PR" ] || fail "commit folder"
export HF_HUB_CACHE="$T/cache2"
run_sembed pull "test-org/tiny@$V1"
expect_ok "by commit, not cached"
grep -q "\"/test-org/tiny/resolve/$V1/config.json\"" "$LOG" || fail "commit not used in URLs"
[ ! -e "$T/cache2/models--test-org--tiny/refs" ] || fail "a commit id was written as a ref"
export HF_HUB_CACHE="$CACHE"
ok "a commit id is used as is and written to no ref"

run_sembed pull test-org/odd
expect_ok "odd file names"
grep -q '"/test-org/odd/resolve/[0-9a-f]*/1%20Pooling%2B%C3%A9/config.json"' "$LOG" ||
    fail "file name not percent-encoded: $(grep -i pooling "$LOG")"
cmp -s "$T/odd/$odd_dir/config.json" "$(cat "$T/out")/$odd_dir/config.json" || fail "odd file differs"
ok "file names percent-encoded keeping '/'"

run_sembed pull old-org/tiny
expect_ok "renamed repo"
grep -q '"status": 307' "$LOG" || fail "no redirect served"
cmp -s "$T/main/config.json" "$(cat "$T/out")/config.json" || fail "renamed repo: wrong file"
ok "a renamed repo's relative redirect is followed"

before=$(requests)
for bad in "bad--name/x" "org/na me" "a/b/c" "-x/y" "x/y.git" "x/.y" "org/" "/" "x/y@" \
           "x/y@../z" "x/y@a b" "x/y@a:b" "x/y@/main" "x/y@main/"; do
    run_sembed pull -- "$bad"
    expect_fail "'$bad'" "valid"
done
id96="o/$(head -c 94 /dev/zero | tr '\0' n)"
run_sembed pull "$id96"
expect_fail "a 96-byte repo id" "answered 401 for $id96"
run_sembed pull "${id96}n"
expect_fail "a 97-byte repo id" "not a valid Hub repo id"
rev255=$(head -c 255 /dev/zero | tr '\0' r)
run_sembed pull "test-org/tiny@$rev255"
expect_fail "a 255-byte revision" "revision '$rev255' not found"
run_sembed pull "test-org/tiny@${rev255}r"
expect_fail "a 256-byte revision" "not a valid revision"
[ "$(requests)" = $((before + 2)) ] || fail "invalid names reached the Hub"
ok "invalid repo ids and revisions are refused without a request; 96/255-byte limits"
echo "PASS"
