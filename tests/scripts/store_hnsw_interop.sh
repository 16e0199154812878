#!/usr/bin/env bash
# HNSW index files read by hnswlib's Python bindings and the other way
# round (see store_hnsw_interop.py). Skips without Debian's python3-hnswlib.
#
#   store_hnsw_interop.sh PATH/TO/store_helper
set -euo pipefail
helper=${1:?usage: store_hnsw_interop.sh store_helper}
py=/usr/bin/python3
if ! "$py" -c 'import hnswlib, numpy' 2>/dev/null; then
    echo "skipped: $py lacks hnswlib or numpy (apt-get install python3-hnswlib python3-numpy)"
    exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sembed-interop-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$helper" hnsw-export 5000 48 "$dir"
"$py" "$(dirname "$0")/store_hnsw_interop.py" "$dir" 48 "$helper"
