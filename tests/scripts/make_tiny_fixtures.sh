#!/usr/bin/env bash
# Writes the tiny model folders that model tests read, into $SEMBED_FIXTURES,
# with the project's own generator (no reference material needed). Each
# folder is written beside its final name and renamed into place by the
# generator, so a reader never sees a half-written model. The variants are
# listed in docs/MODEL.md.
#
#   make_tiny_fixtures.sh PATH/TO/make_tiny_model
set -euo pipefail
gen=${1:?usage: make_tiny_fixtures.sh make_tiny_model}
: "${SEMBED_FIXTURES:?SEMBED_FIXTURES is not set}"
mkdir -p "$SEMBED_FIXTURES"

make() {
    local name=$1
    shift
    "$gen" "$SEMBED_FIXTURES/$name" "$@"
}

make tiny
make tiny-f16 --dtype f16
make tiny-bf16 --dtype bf16
make tiny-prefix --prefix bert. --gamma-beta
make tiny-gelu-new --act gelu_new
make tiny-cls --pooling cls
make tiny-max --pooling max
make tiny-sqrt --pooling mean_sqrt_len_tokens
make tiny-weightedmean --pooling weightedmean
make tiny-lasttoken --pooling lasttoken
make tiny-multi --pooling cls,max,mean
make tiny-dense --dense 2 --dense-out 16
make tiny-no-normalize --no-normalize
make tiny-st6 --st6
make tiny-st6-dense --st6 --pooling cls,mean --dense 1 --dense-out 24
make tiny-vocab-only --no-tokenizer-json
echo "tiny models written to $SEMBED_FIXTURES"
