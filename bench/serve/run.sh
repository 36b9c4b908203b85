#!/usr/bin/env bash
# The serving benchmark: `fathom serve` (prediction logging on, the
# default buffered mode) against LightGBM behind FastAPI + uvicorn (async
# endpoint, uvloop + httptools, 2 workers) and a minimal axum server that
# parses the same JSON and answers a constant (the ceiling), all on
# 127.0.0.1 with wrk sharing the 2 cores (2 threads, 32 connections).
#
#   bench/serve/run.sh          # ROWS=200000 RUNS=3 DURATION=15
#
# Builds first, then measures with nothing else built or run: requests/s
# and p50/p99 latency for each server, peak RSS under load, batches of
# 1000 records (fathom, and the ceiling parsing the same batch body), and cold start to ready (fathom).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
rows="${ROWS:-200000}" runs="${RUNS:-3}" dur="${DURATION:-15}"
out="${OUT:-$root/bench/out/serve}"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)"; exit 1; }
cargo build --release -p fathom-cli
cargo build --release -p fathom-serve --example ceiling
bin="$target/release/fathom" ceiling="$target/release/examples/ceiling"
venv="${VENV:-$root/bench/.venv-serve}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check fastapi "uvicorn[standard]" lightgbm pandas pyarrow numpy

rm -rf "$out" && mkdir -p "$out"
(cd "$out" && "$bin" --quiet quickstart --rows "$rows" --requests 0 >/dev/null)
data="$out/fathom-quickstart/transactions.parquet"
"$venv/bin/python" bench/serve/peer.py train "$data" "$out"
"$venv/bin/python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
bodies = [json.loads(l) for l in open(f"{out}/bodies.jsonl")]
batch = [bodies[i % len(bodies)] for i in range(1000)]
open(f"{out}/batch.jsonl", "w").write(json.dumps({"records": batch}) + "\n")
PY

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() { # url
  for _ in $(seq 400); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "server at $1 did not become ready"; exit 1
}
rss_tree_mib() { # pid: peak RSS of the process and its children, MiB
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}
load() { # name url bodies connections
  BODIES="$3" wrk -t2 -c"$4" -d3s -s bench/serve/post.lua "$2" >/dev/null
  BODIES="$3" wrk -t2 -c"$4" -d"${dur}s" --latency -s bench/serve/post.lua "$2" | awk -v n="$1" '/^RESULT/ {print n, $0}'
}

log="$out/serve.log"
: >"$log"
for run in $(seq "$runs"); do
  # fathom
  (cd "$out" && exec "$bin" --quiet serve --listen 127.0.0.1:18080 2>"$out/fathom-serve.err") &
  pid=$!; pids+=("$pid")
  wait_ready http://127.0.0.1:18080/ready
  load fathom http://127.0.0.1:18080/v1/predict "$out/bodies.jsonl" 32 | tee -a "$log"
  echo "fathom RSS_MIB $(rss_tree_mib "$pid")" | tee -a "$log"
  load fathom_batch1000 http://127.0.0.1:18080/v1/predict/batch "$out/batch.jsonl" 4 | tee -a "$log"
  kill -TERM "$pid"; wait "$pid" || true
  # Every answer was logged (about 700 bytes each): say how much, then
  # free the disk for the next run.
  echo "fathom LOG_MIB $(du -sm "$out/.fathom/predictions" | cut -f1)" | tee -a "$log"
  rm -rf "$out/.fathom/predictions"
  # ceiling
  "$ceiling" 127.0.0.1:18090 2>/dev/null &
  pid=$!; pids+=("$pid")
  sleep 0.3
  load ceiling http://127.0.0.1:18090/v1/predict "$out/bodies.jsonl" 32 | tee -a "$log"
  echo "ceiling RSS_MIB $(rss_tree_mib "$pid")" | tee -a "$log"
  load ceiling_batch1000 http://127.0.0.1:18090/v1/predict/batch "$out/batch.jsonl" 4 | tee -a "$log"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # FastAPI
  MODEL_DIR="$out" "$venv/bin/uvicorn" peer:app --app-dir bench/serve --host 127.0.0.1 --port 18070 \
    --workers 2 --loop uvloop --http httptools --log-level warning --no-access-log &
  pid=$!; pids+=("$pid")
  for _ in $(seq 400); do
    curl -sf -o /dev/null -X POST -H 'content-type: application/json' --data-binary @<(head -1 "$out/bodies.jsonl") \
      http://127.0.0.1:18070/v1/predict && break; sleep 0.05
  done
  load fastapi http://127.0.0.1:18070/v1/predict "$out/bodies.jsonl" 32 | tee -a "$log"
  echo "fastapi RSS_MIB $(rss_tree_mib "$pid")" | tee -a "$log"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

# Cold start: process start to the first 200 from /ready, 5 times.
"$venv/bin/python" - "$bin" "$out" <<'PY' | tee -a "$log"
import http.client, statistics, subprocess, sys, time
bin, out = sys.argv[1], sys.argv[2]
times = []
for _ in range(5):
    t0 = time.perf_counter()
    p = subprocess.Popen([bin, "--quiet", "serve", "--listen", "127.0.0.1:18081"], cwd=out,
                         stderr=subprocess.DEVNULL)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", 18081, timeout=1)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.001)
    times.append(time.perf_counter() - t0)
    p.terminate(); p.wait()
    subprocess.run(["rm", "-rf", f"{out}/.fathom/predictions"])
print("fathom COLD_START_MS %.1f" % (statistics.median(times) * 1e3))
PY

"$venv/bin/python" - "$log" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) > 2 and p[1] == "RESULT":
        for k in ("rps", "p50_us", "p99_us", "non2xx", "errors"):
            vals.setdefault((p[0], k), []).append(float(p[p.index(k) + 1]))
    elif len(p) == 3:
        vals.setdefault((p[0], p[1]), []).append(float(p[2]))
m = {k: statistics.median(v) for k, v in vals.items()}
g = lambda s, k: m.get((s, k), float("nan"))
print(f"\nmedians of {len(vals.get(('fathom', 'rps'), []))} runs")
print(f"{'server':18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} {'non-2xx':>8}")
for s in ("fathom", "ceiling", "fastapi"):
    print(f"{s:18} {g(s, 'rps'):10.0f} {g(s, 'p50_us') / 1e3:8.3f} {g(s, 'p99_us') / 1e3:8.3f} {g(s, 'RSS_MIB'):8.0f} {g(s, 'non2xx'):8.0f}")
print(f"fathom / FastAPI requests/s: {g('fathom', 'rps') / g('fastapi', 'rps'):.2f}x (target >= 5x)")
print(f"fathom / ceiling requests/s: {g('fathom', 'rps') / g('ceiling', 'rps'):.1%} (target >= 70 %)")
print(f"batch of 1000: {g('fathom_batch1000', 'rps') * 1000 / 1e6:.2f} M records/s (target >= 1 M), p99 {g('fathom_batch1000', 'p99_us') / 1e3:.1f} ms")
print(f"batch ceiling (HTTP + parsing the body as JSON, nothing else): {g('ceiling_batch1000', 'rps') * 1000 / 1e6:.2f} M records/s")
print(f"cold start to ready: {g('fathom', 'COLD_START_MS'):.0f} ms (target < 200 ms)")
PY
