#!/usr/bin/env bash
# Drift-report speed: fathom-monitor against Evidently's DataDriftPreset on
# the same generated card transactions (29 features and the label), the
# reference from the `baseline` scenario and the current data from the
# `sudden` one, at 100k vs 100k and 1M vs 1M rows.
#
#   bench/monitor/run.sh                 # SIZES="100000 1000000" RUNS=3
#
# Builds the fathom binary and the example, makes its own venv with
# Evidently under bench/.venv-monitor, writes the data as Parquet (afresh
# each time, so it is always the current generator's),
# then times each side RUNS times, alternating, from data loaded to HTML
# written (load time reported apart), with peak RSS from /usr/bin/time.
# Run it on an otherwise idle machine: the load average is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="${OUT:-$root/bench/out/monitor}"
runs="${RUNS:-3}"
sizes="${SIZES:-100000 1000000}"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -p fathom-cli -p fathom-monitor --example drift_bench
venv="$root/bench/.venv-monitor"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Evidently 0.7 does not import with pandas 3.
"$venv/bin/pip" install --quiet --disable-pip-version-check "evidently==0.7.23" "pandas<3" pyarrow
mkdir -p "$out"
log="$out/runs.txt"
: >"$log"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $sizes; do
  ref="$out/reference-$n.parquet"
  cur="$out/current-$n.parquet"
  "$target/release/fathom" -q data generate -o "$ref" --rows "$n" --scenario baseline --seed 1
  "$target/release/fathom" -q data generate -o "$cur" --rows "$n" --scenario sudden --seed 2
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -f '{"peak_rss_kb": %M}' -o "$out/rss.json" \
      "$target/release/examples/drift_bench" "$ref" "$cur" "$out/fathom-$n" >"$out/line.json"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); a.update(json.load(open(sys.argv[2]))); print(json.dumps(a))' \
      "$out/line.json" "$out/rss.json" | tee -a "$log"
    /usr/bin/time -f '{"peak_rss_kb": %M}' -o "$out/rss.json" \
      "$venv/bin/python" bench/monitor/evidently_bench.py "$ref" "$cur" "$out/evidently-$n" >"$out/line.json"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); a.update(json.load(open(sys.argv[2]))); print(json.dumps(a))' \
      "$out/line.json" "$out/rss.json" | tee -a "$log"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/monitor/summary.py "$log"
