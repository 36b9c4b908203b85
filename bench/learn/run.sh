#!/usr/bin/env bash
# GBDT training speed: fathom against LightGBM on the same synthetic
# 1,000,000 × 30 data (26 numeric, 4 categorical, ~1.5 % positives),
# 200 rounds, 31 leaves, learning rate 0.1, 255 bins, 2 threads.
#
#   bench/learn/run.sh
#
# Builds first, makes its own venv with lightgbm and scikit-learn under
# bench/.venv-learn, writes the data once, then times each side RUNS times.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OUT="${OUT:-$root/bench/out/learn}"
runs="${RUNS:-3}"
cargo build --release -p fathom-learn --example gbdt_speed
venv="$root/bench/.venv-learn"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check lightgbm scikit-learn numpy
mkdir -p "$OUT"
WRITE=1 ROUNDS=1 ./target/release/examples/gbdt_speed >/dev/null
for _ in $(seq "$runs"); do
  ./target/release/examples/gbdt_speed | tail -1
  "$venv/bin/python" bench/learn/lightgbm_speed.py
done
