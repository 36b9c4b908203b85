#!/usr/bin/env bash
# Scoring speed: fathom's compiled scorer against LightGBM's predictor on
# the same synthetic data (1,000,000 training rows × 30 features: 26
# numeric, 4 categorical, ~1.5 % positives; 200,000 test rows), each side
# scoring its own model of the same size (200 rounds, 31 leaves, learning
# rate 0.1, 255 bins), 2 threads for batches.
#
#   bench/score/run.sh            # RUNS=3 by default
#
# Builds first, makes its own venv with lightgbm under bench/.venv-score,
# trains both models once (fathom's run writes the data), then measures each
# side RUNS times, alternating, and prints the medians and the ratios.
# Run it on an otherwise idle machine: the load average is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OUT="${OUT:-$root/bench/out/score}"
runs="${RUNS:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -p fathom-learn --example scorer_speed
venv="$root/bench/.venv-score"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check lightgbm numpy scikit-learn
mkdir -p "$OUT"
log="$OUT/runs.txt"
: >"$log"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# First runs train (and write the data); later runs reuse both models.
WRITE=1 "$target/release/examples/scorer_speed" | tee -a "$log"
"$venv/bin/python" bench/score/score_lightgbm.py | tee -a "$log"
for _ in $(seq 2 "$runs"); do
  REUSE=1 "$target/release/examples/scorer_speed" | tee -a "$log"
  REUSE=1 "$venv/bin/python" bench/score/score_lightgbm.py | tee -a "$log"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" bench/score/summary.py "$log"
