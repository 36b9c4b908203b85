"""Medians of the RESULT lines of bench/score/run.sh and fathom ÷ LightGBM ratios."""
import statistics, sys

runs = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        fields = dict(f.split("=") for f in line.split()[1:])
        side = fields.pop("side")
        for k, v in fields.items():
            runs.setdefault((side, k), []).append(float(v))
med = {k: statistics.median(v) for k, v in runs.items()}
n = {k: len(v) for k, v in runs.items()}
print(f"medians over {n.get(('fathom', 'batch_rows_per_s'), 0)} runs")
f_batch, l_batch = med[("fathom", "batch_rows_per_s")], med[("lightgbm", "batch_rows_per_s")]
print(f"batch, 2 threads:  fathom {f_batch / 1e6:.3f} M rows/s, LightGBM {l_batch / 1e6:.3f} M rows/s"
      f" -> fathom is {f_batch / l_batch:.2f}x LightGBM's rows/s")
# Each fathom run is followed by a LightGBM run under much the same load.
pairs = [f / l for f, l in zip(runs[("fathom", "batch_rows_per_s")], runs[("lightgbm", "batch_rows_per_s")])]
print("batch ratio run by run: " + ", ".join(f"{r:.2f}x" for r in pairs)
      + f" (median {statistics.median(pairs):.2f}x)")
f50, f99 = med[("fathom", "single_p50_us")], med[("fathom", "single_p99_us")]
for path in ("capi", "python"):
    l50, l99 = med[("lightgbm", f"{path}_p50_us")], med[("lightgbm", f"{path}_p99_us")]
    name = "C API fast path (ctypes)" if path == "capi" else "Booster.predict on 1 row"
    print(f"single row vs LightGBM {name}: p50 {f50:.2f} vs {l50:.2f} us ({l50 / f50:.1f}x faster),"
          f" p99 {f99:.2f} vs {l99:.2f} us ({l99 / f99:.1f}x faster)")
floor = med[("lightgbm", "ctypes_floor_p50_us")]
print(f"(a ctypes call that does nothing takes p50 {floor:.2f} us)")
