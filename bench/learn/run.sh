#!/usr/bin/env bash
# GBDT training speed: fathom against LightGBM on the same synthetic
# 1,000,000 × 30 data (26 numeric, 4 categorical, ~1.5 % positives),
# 200 rounds, 31 leaves, learning rate 0.1, 255 bins, 2 threads.
#
#   bench/learn/run.sh                       # RUNS=3 by default
#   VENV=/path/to/venv bench/learn/run.sh    # a venv that has lightgbm
#
# Builds first (in $CARGO_TARGET_DIR if set), makes its own venv with
# lightgbm and scikit-learn under bench/.venv-learn unless VENV is given,
# writes the data once, then times each side RUNS times, alternating.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OUT="${OUT:-$root/bench/out/learn}"
runs="${RUNS:-3}"
cargo build --release -p fathom-learn --example gbdt_speed
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/gbdt_speed"
venv="${VENV:-$root/bench/.venv-learn}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check lightgbm scikit-learn numpy
fi
mkdir -p "$OUT"
[ -f "$OUT/train.f64" ] || WRITE=1 ROUNDS=1 "$bin" >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$runs"); do
  "$bin" | tail -1
  "$venv/bin/python" bench/learn/lightgbm_speed.py
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
