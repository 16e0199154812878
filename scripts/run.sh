#!/usr/bin/env bash
# The main job: installs what is missing, builds sembed, and runs the FAQ
# engine of "Getting Started With Embeddings" with
# sentence-transformers/all-MiniLM-L6-v2 (from the Hugging Face cache, or
# downloaded once from the Hub):
#
#   scripts/run.sh                          # "How can Medicare help me?"
#   scripts/run.sh --query "Can I get help with my premiums?"
#   scripts/run.sh --model path/to/model    # any other arguments go to `sembed faq`
#
# Where the Hub cannot be reached and no copy is cached, but a developer
# checkout has ../shared beside it, the job falls back to the synthetic
# all-MiniLM-L6-v2 built from ../shared (same shapes and tokenizer, seeded
# random weights) and says so.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh || exit 1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null || exit 1

build/sembed faq "$@"
rc=$?
[[ $rc -eq 0 ]] && exit 0
gen=../shared/tools/make_synthetic_model.py
if [[ $rc -ne 2 && -f $gen && " $* " != *" --model "* && " $* " != *" -m "* ]]; then
    echo >&2
    echo "run.sh: no all-MiniLM-L6-v2 reachable; using the synthetic all-MiniLM-L6-v2 from" \
         "../shared (real shapes and tokenizer, random weights: the ranking is not meaningful)" >&2
    model=build/models/minilm-synthetic
    if [[ ! -f $model/model.safetensors ]]; then
        dpkg-query -W -f='${Status}' python3-numpy 2>/dev/null | grep -q "install ok installed" || {
            sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-numpy >&2
        }
        mkdir -p build/models
        /usr/bin/python3 "$gen" "$model.tmp" >/dev/null && rm -rf "$model" && mv "$model.tmp" "$model" || exit 1
    fi
    exec build/sembed faq --model "$model" "$@"
fi
exit $rc
