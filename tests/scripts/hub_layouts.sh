#!/bin/bash
# hub_layouts.sh - the tiny fixture models of every layout (Dense modules,
# sentence-transformers 6 names, vocab.txt only) come down complete through
# a fake Hub: every file of the folder is in the snapshot, identical, and the
# snapshot embeds exactly as the folder.
source "$(dirname "$0")/hub_lib.sh"

[ -n "${SEMBED_FIXTURES:-}" ] && [ -d "$SEMBED_FIXTURES/tiny-dense" ] ||
    skip "the tiny_models fixture (\$SEMBED_FIXTURES/tiny-dense) is missing"
variants=(tiny-dense tiny-st6 tiny-st6-dense tiny-vocab-only)
args=()
for v in "${variants[@]}"; do
    [ -f "$SEMBED_FIXTURES/$v/modules.json" ] || skip "fixture $v is missing"
    args+=(--repo "test-org/$v=$SEMBED_FIXTURES/$v")
done
start_hub "${args[@]}"
printf 'hello world\nthe quick brown fox\n' > "$T/texts.txt"

for v in "${variants[@]}"; do
    run_sembed pull "test-org/$v"
    expect_ok "pull $v"
    snap=$(cat "$T/out")
    n=0
    while IFS= read -r f; do
        cmp -s "$SEMBED_FIXTURES/$v/$f" "$snap/$f" || fail "$v: $f missing or different"
        n=$((n + 1))
    done < <(cd "$SEMBED_FIXTURES/$v" && find . -type f | sed 's|^\./||')
    if can_embed "$SEMBED_FIXTURES/$v" "$T/texts.txt" "$T/src.jsonl"; then
        embed --model "test-org/$v" --input "$T/texts.txt" --output "$T/hub.jsonl" \
            2> "$T/embed.err" || fail "$v: embed --model test-org/$v: $(cat "$T/embed.err")"
        cmp -s "$T/src.jsonl" "$T/hub.jsonl" || fail "$v: embeds differently from the Hub"
        ok "$v: all $n files downloaded; embeds as the folder"
    else
        ok "$v: all $n files downloaded (the engine cannot embed it here)"
    fi
done
echo "PASS"
