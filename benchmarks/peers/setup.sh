#!/usr/bin/env bash
# Create (or bring up to date) one venv per peer tool under benchmarks/.venvs/.
# Idempotent: re-running only re-checks the pins. The peers are never dependencies of autorr.
#
#   benchmarks/peers/setup.sh            # all three
#   benchmarks/peers/setup.sh vcrpy      # just one
#
# PY311 / PY312 override the interpreters (tracefork needs Python >= 3.12).
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(dirname "$BENCH")
VENVS=$BENCH/.venvs
first() { for p in "$@"; do if "$p" -c pass 2>/dev/null; then echo "$p"; return; fi; done; echo "$1"; }
PY311=${PY311:-$(first /root/.pyenv/versions/3.11.7/bin/python python3.11)}
PY312=${PY312:-$(first /root/.pyenv/versions/3.12.1/bin/python python3.12)}
FIND_LINKS=()
[ -d /tmp/peerpk ] && FIND_LINKS=(--find-links /tmp/peerpk)   # pre-downloaded wheels, if any

# The same SDK versions as the project venv, so the workload is the same code on both sides.
pin() {
    "$ROOT/.venv/bin/python" -c "from importlib.metadata import version; print('$1==' + version('$1'))" \
        2>/dev/null || echo "$1"
}
SDK=("$(pin openai)" "$(pin httpx2)" "$(pin wrapt)")

venv() {  # name interpreter packages...
    local name=$1 py=$2
    shift 2
    [ -x "$VENVS/$name/bin/python" ] || "$py" -m venv "$VENVS/$name"
    "$VENVS/$name/bin/python" -m pip install -q --disable-pip-version-check "${FIND_LINKS[@]}" "$@" "${SDK[@]}"
    echo "$name: $("$VENVS/$name/bin/python" -c 'import sys; print(sys.version.split()[0])') at $VENVS/$name"
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $TOOL "* ]]; }
for TOOL in vcrpy cassetter tracefork; do
    want "$@" || continue
    case $TOOL in
        vcrpy) venv vcrpy "$PY311" vcrpy==9.4.2 ;;
        cassetter) venv cassetter "$PY311" "cassetter[httpx2]==0.16.1" ;;
        tracefork) venv tracefork "$PY312" tracefork==1.0.0 ;;
    esac
done
