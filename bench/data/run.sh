#!/usr/bin/env bash
# Data-layer benchmark: fathom against pandas on the same generated rows.
#
#   bench/data/run.sh            # 1,000,000 rows, median of 5 runs
#   ROWS=200000 RUNS=3 bench/data/run.sh
#   BIG_ROWS=0 bench/data/run.sh # skip the 5 × ROWS streaming-validation file
#
# Builds fathom in release mode first (nothing is built while measuring),
# creates its own Python venv with pandas + pyarrow (+ polars and DuckDB,
# multithreaded CSV readers for context) under bench/.venv, then
# runs bench/data/compare.py, which prints the table for bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release --manifest-path "$root/Cargo.toml" -p fathom-cli
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${VENV:-$root/bench/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check pandas pyarrow polars duckdb
exec "$venv/bin/python" "$root/bench/data/compare.py" \
  --fathom "$target/release/fathom" \
  --out "${OUT:-$root/bench/out/data}" \
  --rows "${ROWS:-1000000}" --runs "${RUNS:-5}" \
  ${BIG_ROWS:+--big-rows "$BIG_ROWS"}
