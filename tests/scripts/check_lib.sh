# check_lib.sh - sourced by the command-line checks on the tiny test model
# (embed_cli.sh, dispatch_qemu.sh): their settings, a private temporary
# folder removed on exit, the ok / bad counters and the closing summary.
set -uo pipefail
bin=${SEMBED_BIN:?}
fix=${SEMBED_FIXTURES:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }

# need_tiny: skip (exit 77) unless the fixture step made the tiny model.
need_tiny() {
    if [[ ! -f $fix/tiny/model.safetensors ]]; then
        echo "skipped: $fix/tiny is missing (run the fixture_tiny_models test)"
        exit 77
    fi
}

# finish [NAME]: the summary line, and the status: 0 only when nothing failed.
finish() {
    echo "${1:+$1: }$pass passed, $fail failed"
    [[ $fail -eq 0 ]]
}
