#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages sembed needs that are missing.
#
#   scripts/deps.sh          what building and running sembed needs
#   scripts/deps.sh --test   also what the test suite needs (Python with numpy,
#                            pandas, requests, torch and hnswlib; wrk; clang for
#                            the fuzzers; Node.js for the tokenizer oracle;
#                            qemu-user to run the binary as CPUs without AVX-512)
#
# Runs apt-get only when something is missing, through sudo when not root.
set -euo pipefail
build=(cmake make gcc g++ pkg-config libutf8proc-dev libjansson-dev libsqlite3-dev
       libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libhnswlib-dev)
test=(libcmocka-dev python3 python3-numpy python3-pandas python3-requests python3-torch
      python3-hnswlib wrk curl clang-14 libclang-rt-14-dev nodejs npm qemu-user)
want=("${build[@]}")
[[ ${1:-} == --test ]] && want+=("${test[@]}")
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian: then its packages are not needed.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}")
    missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
