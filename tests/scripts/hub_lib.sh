# hub_lib.sh - sourced by the Hub tests (tests/scripts/hub_*.sh): a private
# temporary folder and environment, a model folder to serve, and a fake Hub
# (fake_hub.py) on 127.0.0.1 that is stopped by its PID when the test ends.
set -u

PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok - $*"; }

[ -x "$PY" ] || skip "$PY not found (the fake Hub needs Python 3)"
[ -n "${SEMBED_BIN:-}" ] && [ -x "$SEMBED_BIN" ] || skip "SEMBED_BIN is not an executable"

T=$(mktemp -d)
HUB_PID=
stop_hub() {
    if [ -n "$HUB_PID" ]; then
        kill "$HUB_PID" 2>/dev/null
        wait "$HUB_PID" 2>/dev/null
        HUB_PID=
    fi
}
cleanup() {
    stop_hub
    rm -rf "$T"
}
trap cleanup EXIT

# Nothing from the caller's environment may reach the Hub or a real cache.
unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE TRANSFORMERS_OFFLINE HUGGINGFACE_HUB_CACHE \
      HF_HUB_DISABLE_IMPLICIT_TOKEN HF_ENDPOINT HF_HUB_ETAG_TIMEOUT HF_HUB_DOWNLOAD_TIMEOUT \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export no_proxy='*' NO_PROXY='*'
export HF_HOME="$T/hf_home" XDG_CACHE_HOME="$T/xdg" HF_HUB_CACHE="$T/cache"
CACHE="$HF_HUB_CACHE"

# make_model DIR: the tiny fixture model when the fixture step made it, else
# a small folder of the same layout with random weights. Either way it gets
# files sembed must NOT download (other weight formats, a README).
make_model() {
    local d=$1
    if [ -n "${SEMBED_FIXTURES:-}" ] && [ -f "$SEMBED_FIXTURES/tiny/model.safetensors" ]; then
        cp -r "$SEMBED_FIXTURES/tiny" "$d"
    else
        mkdir -p "$d/1_Pooling"
        cat > "$d/modules.json" <<'EOF'
[
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
]
EOF
        echo '{"architectures": ["BertModel"], "hidden_size": 32, "model_type": "bert"}' > "$d/config.json"
        echo '{"max_seq_length": 128, "do_lower_case": false}' > "$d/sentence_bert_config.json"
        echo '{"do_lower_case": true, "model_max_length": 512}' > "$d/tokenizer_config.json"
        echo '{"unk_token": "[UNK]", "sep_token": "[SEP]"}' > "$d/special_tokens_map.json"
        printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n' > "$d/vocab.txt"
        echo '{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}' > "$d/1_Pooling/config.json"
        head -c 300000 /dev/urandom > "$d/model.safetensors"
    fi
    mkdir -p "$d/onnx" "$d/openvino"
    head -c 2000 /dev/urandom > "$d/pytorch_model.bin"
    head -c 2000 /dev/urandom > "$d/onnx/model.onnx"
    head -c 2000 /dev/urandom > "$d/tf_model.h5"
    echo '<xml/>' > "$d/openvino/openvino_model.xml"
    echo '# a model card' > "$d/README.md"
}

# start_hub ARGS...: runs fake_hub.py with ARGS; sets HF_ENDPOINT and PORT.
# Faults are read from $FAULTS on every request; the request log is $LOG.
FAULTS="$T/faults"
LOG="$T/hub.log"
start_hub() {
    rm -f "$T/port"
    : > "$LOG"
    "$PY" "$HERE/fake_hub.py" --port-file "$T/port" --log "$LOG" --faults "$FAULTS" "$@" \
        2> "$T/hub.err" &
    HUB_PID=$!
    for _ in $(seq 100); do
        [ -s "$T/port" ] && break
        kill -0 "$HUB_PID" 2>/dev/null || { cat "$T/hub.err"; fail "fake hub did not start"; }
        sleep 0.05
    done
    [ -s "$T/port" ] || fail "fake hub did not write its port"
    PORT=$(cat "$T/port")
    export HF_ENDPOINT="http://127.0.0.1:$PORT"
}

requests() { wc -l < "$LOG"; }

# A port on which nothing listens (bound, then released).
dead_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# The git blob sha1 of a file: the ETag (and blob name) of a small file.
git_sha1() {
    "$PY" -c 'import hashlib, sys
d = open(sys.argv[1], "rb").read()
print(hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest())' "$1"
}

# run_sembed ARGS...: runs the tool, stdout in $T/out, stderr in $T/err, status in $RC.
run_sembed() {
    "$SEMBED_BIN" "$@" > "$T/out" 2> "$T/err"
    RC=$?
}

# embed ARGS...: `sembed embed` on one thread, bounded in time.
embed() {
    timeout 60 "$SEMBED_BIN" embed --threads 1 "$@"
}

# 0 when `sembed embed` works here on the given model folder (the engine is
# built and can load it): then tests also compare embeddings.
can_embed() {
    "$SEMBED_BIN" embed --help > /dev/null 2>&1 &&
        embed --model "$1" --input "$2" --output "$3" > /dev/null 2>&1
}

expect_fail() { # expect_fail WHAT PATTERN...: the last run failed with status 1 and said PATTERN
    local what=$1
    shift
    [ "$RC" = 1 ] || { cat "$T/err"; fail "$what: exit status $RC, expected 1"; }
    for p in "$@"; do
        grep -qF -- "$p" "$T/err" || { cat "$T/err"; fail "$what: message lacks '$p'"; }
    done
    [ "$(wc -l < "$T/err")" -le 2 ] || { cat "$T/err"; fail "$what: more than a short message"; }
}

expect_ok() {
    [ "$RC" = 0 ] || { cat "$T/err"; fail "$1: exit status $RC"; }
}

# no_partials REPO_DIR: nothing half-written anywhere in the cache, and no
# snapshot entry pointing at a missing blob.
no_partials() {
    local bad
    bad=$(find "$CACHE" \( -name '*.incomplete' -o -name '*.tmp*' \) 2>/dev/null)
    [ -z "$bad" ] || fail "partial files left: $bad"
    bad=$(find "$CACHE" -xtype l 2>/dev/null)
    [ -z "$bad" ] || fail "dangling snapshot links: $bad"
}
