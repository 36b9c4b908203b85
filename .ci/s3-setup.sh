#!/usr/bin/env bash
# Starts a throw-away S3-compatible server (moto's, from PyPI) for the
# artifact store's S3 tests and exports FATHOM_TEST_S3_ENDPOINT with the
# credentials the tests use. Source it (`. .ci/s3-setup.sh`) so the
# variables reach the caller. Installs Debian's python3 and python3-venv if
# missing; the virtual environment lives outside the repository in
# $FATHOM_MOTO_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/fathom-ci/moto).
# The server listens on 127.0.0.1 only, keeps everything in memory, and is
# stopped when the sourcing shell exits (or with `.ci/s3-setup.sh stop`).
set -euo pipefail

FATHOM_MOTO_VENV="${FATHOM_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fathom-ci/moto}"
FATHOM_MOTO_PORT="${FATHOM_MOTO_PORT:-54330}"
FATHOM_MOTO_VERSION="${FATHOM_MOTO_VERSION:-5.2.5}"
FATHOM_MOTO_LOG="${FATHOM_MOTO_LOG:-/tmp/fathom-moto.log}"
FATHOM_MOTO_PIDFILE="${FATHOM_MOTO_PIDFILE:-/tmp/fathom-moto.pid}"

moto_stop() {
    if [ -f "$FATHOM_MOTO_PIDFILE" ]; then
        kill "$(cat "$FATHOM_MOTO_PIDFILE")" 2>/dev/null || true
        rm -f "$FATHOM_MOTO_PIDFILE"
    fi
}

if [ "${1:-}" = stop ]; then
    moto_stop
    return 0 2>/dev/null || exit 0
fi

moto_answers() {
    "$FATHOM_MOTO_VENV/bin/python" - "$FATHOM_MOTO_PORT" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
EOF
}

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "== installing python3 and python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi

if [ ! -x "$FATHOM_MOTO_VENV/bin/moto_server" ]; then
    echo "== installing moto[server]==$FATHOM_MOTO_VERSION into $FATHOM_MOTO_VENV"
    mkdir -p "$(dirname "$FATHOM_MOTO_VENV")"
    python3 -m venv "$FATHOM_MOTO_VENV"
    "$FATHOM_MOTO_VENV/bin/pip" install -q --disable-pip-version-check \
        "moto[server]==$FATHOM_MOTO_VERSION"
fi

if ! moto_answers; then
    moto_stop
    "$FATHOM_MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$FATHOM_MOTO_PORT" \
        >"$FATHOM_MOTO_LOG" 2>&1 &
    echo $! >"$FATHOM_MOTO_PIDFILE"
    trap moto_stop EXIT
    for _ in $(seq 1 100); do
        if moto_answers; then break; fi
        sleep 0.2
    done
    if ! moto_answers; then
        echo "moto_server did not answer on 127.0.0.1:$FATHOM_MOTO_PORT; its log:" >&2
        cat "$FATHOM_MOTO_LOG" >&2
        exit 1
    fi
fi

export FATHOM_TEST_S3_ENDPOINT="http://127.0.0.1:$FATHOM_MOTO_PORT"
# moto accepts any credentials; these only have to be present.
export FATHOM_TEST_S3_ACCESS_KEY_ID="fathom-test"
export FATHOM_TEST_S3_SECRET_ACCESS_KEY="fathom-test-secret"
echo "== S3-compatible server for tests at $FATHOM_TEST_S3_ENDPOINT"
