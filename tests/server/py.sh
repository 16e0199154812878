#!/usr/bin/env bash
# Runs a server test script with Debian's Python (python3-requests,
# python3-numpy, python3-pandas); skips (77) when it or requests is missing.
#   py.sh tests/server/SCRIPT.py [args...]
set -euo pipefail
py=/usr/bin/python3
if [[ ! -x $py ]]; then
    echo "skipped: $py is not installed"
    exit 77
fi
if ! "$py" -c 'import requests' 2>/dev/null; then
    echo "skipped: $py has no requests module (apt-get install python3-requests)"
    exit 77
fi
script=$1
shift
exec "$py" "${SEMBED_SOURCE_DIR:-.}/$script" "$@"
