#!/usr/bin/env bash
# The learning-engine benchmark: fathom, LightGBM and XGBoost on the same
# 1,000,000 generated card transactions (stratified 80/20 split, the tree
# feature pipeline fitted on the training rows), 200 rounds, 31 leaves,
# learning rate 0.1, 255 bins, 2 threads. Prints training time and CPU
# time (fathom's includes binning, whose time is also printed alone; the
# peers' exclude their Dataset construction, printed alone), holdout
# AUC-ROC, peak memory during training, batch and single-row scoring for
# each side, RUNS times (default 3), then the medians and ratios.
#
#   bench/learn/fraud.sh                        # ROWS=1000000 RUNS=3 THREADS=2
#   VENV=/path/to/venv PEERS=lightgbm bench/learn/fraud.sh
#
# Builds first (in $CARGO_TARGET_DIR if set), makes its own venv with
# lightgbm, xgboost and scikit-learn under bench/.venv-learn unless VENV is
# given, writes the matrices once. PEERS (default "lightgbm xgboost") picks
# the peers run beside fathom.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OUT="${OUT:-$root/bench/out/learn}" ROWS="${ROWS:-1000000}" THREADS="${THREADS:-2}"
runs="${RUNS:-3}"
peers="${PEERS:-lightgbm xgboost}"
cargo build --release -p fathom-learn --example fraud_benchmark
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/fraud_benchmark"
venv="${VENV:-$root/bench/.venv-learn}"
if [ -z "${VENV:-}" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check lightgbm xgboost scikit-learn numpy
fi
mkdir -p "$OUT"
log="$OUT/fraud.log"
: >"$log"
WRITE=1 ROUNDS=1 "$bin" >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
for _ in $(seq "$runs"); do
  "$bin" | tee -a "$log"
  for p in $peers; do
    "$venv/bin/python" bench/learn/fraud_peers.py "$p" | tee -a "$log"
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
"$venv/bin/python" - "$log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 3 and p[1] in ("train_seconds", "train_cpu_seconds", "dataset_seconds", "binning_seconds", "auc_roc", "train_peak_rss_mib", "batch_rows_per_s"):
        rows.setdefault((p[0], p[1]), []).append(float(p[2]))
    if len(p) >= 6 and p[1] == "single_row_us":
        rows.setdefault((p[0], "p99_us"), []).append(float(p[5]))
        rows.setdefault((p[0], "p50_us"), []).append(float(p[3]))
med = {k: statistics.median(v) for k, v in rows.items()}
print("\nmedians of", len(rows.get(("fathom", "train_seconds"), [])), "runs")
print(f"{'figure':22} {'fathom':>12} {'lightgbm':>12} {'xgboost':>12} {'fathom/lgb':>11} {'fathom/xgb':>11}")
for f in ("train_seconds", "train_cpu_seconds", "dataset_seconds", "binning_seconds", "auc_roc", "train_peak_rss_mib", "batch_rows_per_s", "p50_us", "p99_us"):
    a, b, c = (med.get((s, f), float("nan")) for s in ("fathom", "lightgbm", "xgboost"))
    print(f"{f:22} {a:12.4g} {b:12.4g} {c:12.4g} {a / b:11.3f} {a / c:11.3f}")
PY
