"""LightGBM side of bench/score/run.sh: trains the same-size model (200
rounds, 31 leaves) on the same data, then times Booster.predict on the
200,000 test rows: batch rows/s with num_threads=2, and single-row latency
through Python (predict on a 1-row matrix) and through the C API's fast
single-row path (LGBM_BoosterPredictForMatSingleRowFast, called via ctypes)."""
import ctypes, os, statistics, sys, time
import numpy as np, lightgbm as lgb

d = os.environ.get("OUT", "bench/out/score")
threads = int(os.environ.get("THREADS", "2"))
passes = int(os.environ.get("PASSES", "7"))
ncol = 31
te = np.ascontiguousarray(np.fromfile(f"{d}/test.f64", dtype="<f8").reshape(-1, ncol)[:, 1:])
cats = list(range(26, 30))
params = dict(objective="binary", num_leaves=31, learning_rate=0.1, max_bin=255, min_data_in_leaf=20,
              num_threads=threads, verbose=-1, seed=0)
model_path = f"{d}/lightgbm.txt"
if os.environ.get("REUSE") and os.path.exists(model_path):
    b = lgb.Booster(model_file=model_path)
else:
    tr = np.fromfile(f"{d}/train.f64", dtype="<f8").reshape(-1, ncol)
    ds = lgb.Dataset(tr[:, 1:], tr[:, 0], categorical_feature=cats, params=params)
    b = lgb.train(params, ds, num_boost_round=200)
    b.save_model(model_path)
    del ds, tr
n = te.shape[0]
depth = []
for t in b.dump_model()["tree_info"]:
    def go(node):
        return 0 if "leaf_value" in node else 1 + max(go(node["left_child"]), go(node["right_child"]))
    depth.append(go(t["tree_structure"]))
print(f"lightgbm model: {b.num_trees()} trees, depth mean {np.mean(depth):.1f} max {max(depth)}")

# Batch: the whole test matrix per pass, one warm-up pass first.
rates = []
for p in range(passes + 1):
    t0 = time.perf_counter()
    b.predict(te, num_threads=threads)
    s = time.perf_counter() - t0
    if p:
        rates.append(n / s)
batch = statistics.median(rates)

def pct(lat):
    lat = sorted(lat)
    return lat[len(lat) // 2], lat[len(lat) * 99 // 100]

# Single row through Python: the per-call overhead of Booster.predict dominates.
m = int(os.environ.get("PY_ROWS", "20000"))
rows = [te[i:i + 1] for i in range(m)]
for r in rows[:1000]:
    b.predict(r, num_threads=1)
lat = []
for r in rows:
    t0 = time.perf_counter_ns()
    b.predict(r, num_threads=1)
    lat.append((time.perf_counter_ns() - t0) / 1e3)
py50, py99 = pct(lat)

# Single row through the C API's fast path (prepared once), via ctypes.
lib = lgb.basic._LIB
cfg = ctypes.c_void_p()
C_API_DTYPE_FLOAT64, C_API_PREDICT_NORMAL = 1, 0
rc = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
    b._handle, ctypes.c_int(C_API_PREDICT_NORMAL), ctypes.c_int(0), ctypes.c_int(-1),
    ctypes.c_int(C_API_DTYPE_FLOAT64), ctypes.c_int32(te.shape[1]),
    ctypes.c_char_p(b"num_threads=1"), ctypes.byref(cfg))
assert rc == 0, lib.LGBM_GetLastError()
fast = lib.LGBM_BoosterPredictForMatSingleRowFast
out_len = ctypes.c_int64()
res = np.zeros(1)
res_ptr = res.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
out_ptr = ctypes.byref(out_len)
ptrs = [ctypes.c_void_p(te.ctypes.data + i * te.strides[0]) for i in range(n)]
# The floor: one ctypes call into the same library that does nothing.
noop = lib.LGBM_GetLastError
floor = []
for p in ptrs:
    t0 = time.perf_counter_ns()
    noop()
    floor.append((time.perf_counter_ns() - t0) / 1e3)
for p in ptrs[:10000]:
    fast(cfg, p, out_ptr, res_ptr)
c50s, c99s = [], []
for _ in range(3):
    lat = []
    for p in ptrs:
        t0 = time.perf_counter_ns()
        fast(cfg, p, out_ptr, res_ptr)
        lat.append((time.perf_counter_ns() - t0) / 1e3)
    a, z = pct(lat)
    c50s.append(a)
    c99s.append(z)
assert abs(res[0] - b.predict(te[n - 1:n])[0]) < 1e-12
lib.LGBM_FastConfigFree(cfg)
f50, f99 = pct(floor)
c50, c99 = statistics.median(c50s), statistics.median(c99s)
print(f"lightgbm score: batch {batch / 1e6:.3f} M rows/s on {threads} threads (median of {passes}); "
      f"single row via Python p50 {py50:.2f} µs, p99 {py99:.2f} µs ({m} calls); "
      f"C API fast path via ctypes p50 {c50:.2f} µs, p99 {c99:.2f} µs "
      f"({n} calls × 3, ctypes floor p50 {f50:.2f} µs, p99 {f99:.2f} µs)")
print(f"RESULT side=lightgbm batch_rows_per_s={batch:.0f} python_p50_us={py50:.3f} python_p99_us={py99:.3f} "
      f"capi_p50_us={c50:.3f} capi_p99_us={c99:.3f} ctypes_floor_p50_us={f50:.3f}")
