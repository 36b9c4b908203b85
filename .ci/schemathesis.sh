#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from the
# server's own /openapi.json (valid and invalid ones, edge values, odd
# encodings) and checks every answer: no 5xx, responses as documented,
# schema-valid requests accepted and invalid ones refused.
#
#   .ci/schemathesis.sh [path/to/fathom]     # default target/debug/fathom
#
# Installs schemathesis into a cached virtual environment outside the
# repository, trains a small model into a throw-away store, serves it on
# 127.0.0.1 and runs every check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$(realpath "${1:-$root/target/debug/fathom}")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/fathom-ci/schemathesis"
if [ ! -x "$cache/bin/schemathesis" ]; then
  command -v python3 >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; }
  python3 -m venv "$cache" 2>/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; python3 -m venv "$cache"; }
  "$cache/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
work=$(mktemp -d)
port="${FATHOM_ST_PORT:-54331}"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
(cd "$work" && "$bin" -q quickstart --rows 5000 --requests 0 >/dev/null)
# One admin token, sent with every request, so that the operate routes
# (promote, rollback; never open) are exercised too, not only refused.
token_json=$(cd "$work" && "$bin" --json serve token --name schemathesis --role admin)
token=$(printf '%s' "$token_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
sha=$(printf '%s' "$token_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
printf '[[serve.auth.tokens]]\nname = "schemathesis"\nsha256 = "%s"\nroles = ["admin"]\n' "$sha" >>"$work/fathom.toml"
# The served model's name for the routes that take one (else every
# generated name is an unknown model, 404).
printf '[parameters]\n"path.name" = "fraud"\n' >"$work/schemathesis.toml"
(cd "$work" && exec "$bin" -q serve --listen "127.0.0.1:$port" 2>"$work/serve.err") &
pid=$!
"$cache/bin/python" - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(400):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ready", timeout=1).status == 200:
            break
    except OSError:
        time.sleep(0.05)
PY
# Run from the work folder: schemathesis keeps its state in ./.schemathesis.
(cd "$work" && "$cache/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --checks all --max-examples 100 --seed 1 \
  -H "Authorization: Bearer $token")
kill -0 "$pid" || { echo "the server died during the run:"; cat "$work/serve.err"; exit 1; }
