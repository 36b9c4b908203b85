"""Times fathom and pandas side by side on one generated data set (and, for
context, three multithreaded CSV readers: polars, pyarrow, DuckDB).

Called by bench/data/run.sh; prints a Markdown table of medians and ratios.
Wall times of fathom commands are whole-process times; read times are the
in-process figures each side reports (fathom `data inspect --json`, pandas
`perf_counter` around the call), so interpreter start-up is not counted
against pandas. Peak memory is the maximum resident set of a separate
process doing only that step (`/usr/bin/time -f %M`).
"""
import argparse, json, os, statistics, subprocess, sys, time


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr}")
    return wall, p.stdout


def peak_kib(cmd):
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr}")
    return int(p.stderr.strip().splitlines()[-1])


PANDAS_READ = """
import sys, time, pandas as pd
path, kind = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
df = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
print(time.perf_counter() - t0, len(df), df.shape[1])
"""

# Three multithreaded CSV readers, for context: they use both cores, as
# fathom does, where pandas' reader uses one. Same protocol as pandas: a
# fresh process per read, the time around the call, the whole typed table
# in memory (DuckDB's: a table of an in-memory database).
PEER_READ = """
import sys, time
path, reader = sys.argv[1], sys.argv[2]
if reader == "polars":
    import polars as pl
    t0 = time.perf_counter()
    df = pl.read_csv(path)
    print(time.perf_counter() - t0, df.height, df.width)
elif reader == "duckdb":
    import duckdb
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [path])
    took = time.perf_counter() - t0
    print(took, con.execute("SELECT count(*) FROM t").fetchone()[0], len(con.execute("SELECT * FROM t LIMIT 0").description))
else:
    import pyarrow.csv as pc
    t0 = time.perf_counter()
    t = pc.read_csv(path)
    print(time.perf_counter() - t0, t.num_rows, t.num_columns)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fathom", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big-rows", type=int, default=None,
                    help="rows of the larger CSV whose streaming validation's peak memory is measured (default 5 × --rows; 0 skips)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    pq, csv, schema = (os.path.join(a.out, n) for n in ("tx.parquet", "tx.csv", "schema.toml"))
    f = a.fathom
    med = statistics.median
    rows = a.rows
    import duckdb, pandas, polars, pyarrow
    print(f"# {rows:,} rows, median of {a.runs} runs, {os.cpu_count()} cores; pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, polars {polars.__version__}, duckdb {duckdb.__version__}; load average {os.getloadavg()[0]:.2f} at the start", file=sys.stderr)

    gen_pq = med(run([f, "-q", "data", "generate", "--rows", str(rows), "-o", pq])[0] for _ in range(a.runs))
    gen_csv = med(run([f, "-q", "data", "generate", "--rows", str(rows), "-o", csv])[0] for _ in range(a.runs))
    run([f, "-q", "data", "schema", "infer", pq, "-o", schema])

    def fathom_read(path):
        return json.loads(run([f, "--json", "data", "inspect", path])[1])["read_seconds"]

    def pandas_read(path, kind):
        out = run([sys.executable, "-c", PANDAS_READ, path, kind])[1].split()
        assert int(out[1]) == rows, out
        return float(out[0])

    def peer_read(path, reader):
        out = run([sys.executable, "-c", PEER_READ, path, reader])[1].split()
        assert int(out[1]) == rows, out
        return float(out[0])

    r = {}
    for kind, path in (("csv", csv), ("parquet", pq)):
        # Each side's runs follow one another, not interleaved: on a virtual
        # machine that hands freed memory back to its host, first touches of
        # memory are up to twice as slow after a pause or after a process
        # that freed less than the next one needs; back to back, both sides
        # are measured with the same warm memory.
        r[f"fathom_{kind}"] = med(fathom_read(path) for _ in range(a.runs))
        r[f"pandas_{kind}"] = med(pandas_read(path, kind) for _ in range(a.runs))
        r[f"fathom_{kind}_mem"] = peak_kib([f, "--json", "data", "inspect", path])
        r[f"pandas_{kind}_mem"] = peak_kib([sys.executable, "-c", PANDAS_READ, path, kind])
    for reader in ("polars", "pyarrow", "duckdb"):
        r[reader] = med(peer_read(csv, reader) for _ in range(a.runs))
    val_pq = med(run([f, "-q", "data", "validate", pq, "--schema", schema])[0] for _ in range(a.runs))
    val_csv = med(run([f, "-q", "data", "validate", csv, "--schema", schema])[0] for _ in range(a.runs))
    val_mem = peak_kib([f, "-q", "data", "validate", pq, "--schema", schema])
    val_csv_mem = peak_kib([f, "-q", "data", "validate", csv, "--schema", schema])
    # Validation streams: a file five times larger should need little more
    # memory (what grows is the duplicate-id check, a set of every id).
    big_rows = 5 * rows if a.big_rows is None else a.big_rows
    big = None
    if big_rows > 0:
        big_csv = os.path.join(a.out, "big.csv")
        big_schema = os.path.join(a.out, "big.schema.toml")
        run([f, "-q", "data", "generate", "--rows", str(big_rows), "-o", big_csv])
        # Its own contract: its timestamps lie past the smaller file's range.
        run([f, "-q", "data", "schema", "infer", big_csv, "-o", big_schema])
        big = (os.path.getsize(big_csv), peak_kib([f, "-q", "data", "validate", big_csv, "--schema", big_schema]))
        os.remove(big_csv)
        os.remove(big_schema)
    gen_mem = peak_kib([f, "-q", "data", "generate", "--rows", str(rows), "-o", pq])

    mib = lambda k: f"{k / 1024:.0f} MiB"
    print(f"| step ({rows:,} rows × 33 columns) | fathom | pandas | fathom / pandas | target |")
    print("|---|---|---|---|---|")
    print(f"| generate → Parquet | {gen_pq:.3f} s ({rows / gen_pq / 1e6:.2f} M rows/s), peak {mib(gen_mem)} | – | – | ≥ 2 M rows/s |")
    print(f"| generate → CSV | {gen_csv:.3f} s ({rows / gen_csv / 1e6:.2f} M rows/s) | – | – | – |")
    for kind, name in (("csv", "read CSV"), ("parquet", "read Parquet")):
        fr, pr = r[f"fathom_{kind}"], r[f"pandas_{kind}"]
        print(f"| {name} | {fr:.3f} s, peak {mib(r[f'fathom_{kind}_mem'])} | {pr:.3f} s, peak {mib(r[f'pandas_{kind}_mem'])} | {fr / pr:.2f}× time | ≤ 0.33× |")
    for reader, name in (("polars", "polars `read_csv`"), ("pyarrow", "pyarrow `csv.read_csv`"), ("duckdb", "DuckDB `read_csv` into a table")):
        fr, pr = r["fathom_csv"], r[reader]
        print(f"| read CSV, against {name} (both cores; context) | {fr:.3f} s | {pr:.3f} s | {fr / pr:.2f}× time | – |")
    print(f"| validate Parquet (whole command: read + all checks) | {val_pq:.3f} s, peak {mib(val_mem)} | – | – | < 0.5 s |")
    print(f"| validate CSV (whole command: parse + all checks) | {val_csv:.3f} s, peak {mib(val_csv_mem)} (file {os.path.getsize(csv) / 2**20:.0f} MiB) | – | – | – |")
    if big:
        print(f"| validate CSV, {big_rows:,} rows | peak {mib(big[1])} (file {big[0] / 2**20:.0f} MiB) | – | – | streams |")


if __name__ == "__main__":
    main()
    print(f"# load average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
