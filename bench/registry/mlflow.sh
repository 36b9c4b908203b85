#!/usr/bin/env bash
# Tracking side by side with an MLflow tracking server: logging 100 runs x
# (10 params + 50 metric values) and searching them; idle memory; and
# fathom's promotion and rollback times on SQLite.
#
#   bench/registry/mlflow.sh          # RUNS=5 by default
#
# Builds the two examples, makes its own venv with MLflow (pinned) under
# bench/.venv-mlflow, starts `mlflow server` on 127.0.0.1 with an SQLite
# back end in a temporary folder and its default workers, waits for it,
# lets it sit idle and reads its memory (resident set summed over the
# server's process tree). Then, RUNS times, alternating: the Python client
# logs and searches through the server (a new experiment each time), and
# fathom does the same work in-process against a new SQLite store
# (`tracking_bench log`). fathom's idle memory is `tracking_bench idle`: a
# process holding an open store after reading one page of runs. Prints the
# medians and ratios. Run it on an otherwise idle machine: the load average
# is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs="${RUNS:-5}"
mlflow_version="3.17.2"
out="${OUT:-$root/bench/out/registry}"
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$out"
cargo build --release -p fathom-registry --example tracking_bench --example registry_scale
venv="$root/bench/.venv-mlflow"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==$mlflow_version"

tmp=$(mktemp -d)
server=""
idle_pid=""
cleanup() {
  [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null || true
  if [ -n "$server" ]; then
    # The server's workers are its children: stop the whole group.
    kill -- -"$server" 2>/dev/null || kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Memory in KiB of a process and all its descendants, summed: resident
# set (RSS; pages shared after fork count once per process) or
# proportional set (PSS; shared pages split between their processes).
tree_mem() {
  local field=$1 pid=$2 total=0 child
  total=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
  for child in $(pgrep -P "$pid" || true); do
    total=$((total + $(tree_mem "$field" "$child")))
  done
  echo "$total"
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# setsid: the server and its workers form their own process group.
setsid "$venv/bin/mlflow" server \
  --backend-store-uri "sqlite:///$tmp/mlflow.db" \
  --default-artifact-root "$tmp/mlflow-artifacts" \
  --host 127.0.0.1 --port "$port" >"$out/mlflow-server.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  if python3 -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1).status == 200 else 1)" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" \
  || { echo "mlflow server did not start; see $out/mlflow-server.log"; exit 1; }
sleep 15
mlflow_idle=$(tree_mem Rss "$server")
mlflow_pss=$(tree_mem Pss "$server")
echo "mlflow server idle: RSS $((mlflow_idle / 1024)) MiB, PSS $((mlflow_pss / 1024)) MiB over $(pgrep -g "$server" | wc -l) processes"

log="$out/runs.jsonl"
: >"$log"
for i in $(seq 1 "$runs"); do
  # The client also prints a link per run; keep the JSON line only.
  "$venv/bin/python" bench/registry/mlflow_client.py "http://127.0.0.1:$port" "bench-$i" \
    | grep '^{' | tee -a "$log"
  "$target/release/examples/tracking_bench" log "$tmp/fathom-$i" | tee -a "$log"
done

# fathom idle: a process holding an open store (the last one logged).
fifo="$tmp/idle.out"
"$target/release/examples/tracking_bench" idle "$tmp/fathom-$runs" 30 >"$fifo" &
idle_pid=$!
for _ in $(seq 1 100); do grep -q ready "$fifo" 2>/dev/null && break; sleep 0.1; done
sleep 2
fathom_idle=$(tree_mem Rss "$idle_pid")
fathom_pss=$(tree_mem Pss "$idle_pid")
kill "$idle_pid" 2>/dev/null || true
wait "$idle_pid" 2>/dev/null || true
idle_pid=""
echo "fathom idle (open store): RSS $fathom_idle KiB, PSS $fathom_pss KiB"
echo "{\"side\": \"memory\", \"mlflow_idle_kib\": $mlflow_idle, \"fathom_idle_kib\": $fathom_idle, \"mlflow_pss_kib\": $mlflow_pss, \"fathom_pss_kib\": $fathom_pss}" >>"$log"

# Promotion and rollback on SQLite: the registry example on a store of
# 10,000 runs (it compares runs up to id 9,970).
"$target/release/examples/registry_scale" 10000 50 | grep -E "promote|rollback" | tee "$out/promote.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$log" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
side = lambda s: [r for r in rows if r["side"] == s]
f, m = side("fathom"), side("mlflow")
mem = side("memory")[0]
for a, b in zip(f, m):
    assert (a["found_metric"], a["found_param"]) == (b["found_metric"], b["found_param"]), (a, b)
    assert a["complete"] and b["complete"]
print(f"runs found: {f[0]['found_metric']} by metric, {f[0]['found_param']} by param (same on both sides)")
print("| | fathom | MLflow | MLflow ÷ fathom |")
print("|---|---:|---:|---:|")
for key, label in [("log_ms", "log 100 runs"), ("search_metric_ms", "search: metric filter + order"),
                   ("search_param_ms", "search: param filter")]:
    a = statistics.median(r[key] for r in f)
    b = statistics.median(r[key] for r in m)
    print(f"| {label} | {a:.2f} ms | {b:.1f} ms | {b / a:.0f}× |")
tf = statistics.median(r["log_ms"] + r["search_metric_ms"] + r["search_param_ms"] for r in f)
tm = statistics.median(r["log_ms"] + r["search_metric_ms"] + r["search_param_ms"] for r in m)
print(f"| log + both searches | {tf:.2f} ms | {tm:.1f} ms | {tm / tf:.0f}× |")
fi, mi = mem["fathom_idle_kib"] / 1024, mem["mlflow_idle_kib"] / 1024
print(f"| idle memory (RSS, summed over processes) | {fi:.1f} MiB | {mi:.0f} MiB | {mi / fi:.0f}× |")
fp, mp = mem["fathom_pss_kib"] / 1024, mem["mlflow_pss_kib"] / 1024
print(f"| idle memory (PSS, summed over processes) | {fp:.1f} MiB | {mp:.0f} MiB | {mp / fp:.0f}× |")
print("run by run (log ms, fathom / MLflow):",
      ", ".join(f"{a['log_ms']:.1f}/{b['log_ms']:.0f}" for a, b in zip(f, m)))
EOF
