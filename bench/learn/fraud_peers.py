"""Peers of bench/learn/fraud.sh: LightGBM or XGBoost (argv[1]) on the matrices
fraud_benchmark wrote, with the same settings; prints the same figures."""
import json, os, sys, time
import numpy as np
from sklearn.metrics import roc_auc_score

which = sys.argv[1]
d = os.environ.get("OUT", "bench/out/learn")
threads = int(os.environ.get("THREADS", "2"))
rounds = int(os.environ.get("ROUNDS", "200"))
meta = json.load(open(f"{d}/fraud_meta.json"))
ncol = len(meta["features"]) + 1
tr = np.fromfile(f"{d}/fraud_train.f64", dtype="<f8").reshape(-1, ncol)
te = np.fromfile(f"{d}/fraud_test.f64", dtype="<f8").reshape(-1, ncol)
xtr, ytr, xte, yte = np.ascontiguousarray(tr[:, 1:]), tr[:, 0], np.ascontiguousarray(te[:, 1:]), te[:, 0]
del tr, te
cats = meta["categorical"]


def mib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


try:
    open("/proc/self/clear_refs", "w").write("5")
except OSError:
    pass
before = mib("VmRSS:")
if which == "lightgbm":
    import lightgbm as lgb
    params = dict(objective="binary", num_leaves=31, learning_rate=0.1, max_bin=255,
                  min_data_in_leaf=20, num_threads=threads, verbose=-1, seed=0)
    t0 = time.perf_counter()
    ds = lgb.Dataset(xtr, ytr, categorical_feature=cats, params=params)
    ds.construct()
    t1, c1 = time.perf_counter(), time.process_time()
    model = lgb.train(params, ds, num_boost_round=rounds)
    t2, c2 = time.perf_counter(), time.process_time()
    predict = lambda x: model.predict(x, num_threads=threads)
    version = lgb.__version__
else:
    import xgboost as xgb
    types = ["c" if j in cats else "q" for j in range(xtr.shape[1])]
    params = dict(objective="binary:logistic", tree_method="hist", grow_policy="lossguide",
                  max_leaves=31, max_depth=0, eta=0.1, max_bin=255, min_child_weight=1e-3,
                  nthread=threads, seed=0, max_cat_to_onehot=1)
    t0 = time.perf_counter()
    ds = xgb.DMatrix(xtr, ytr, feature_types=types, enable_categorical=True, nthread=threads)
    t1, c1 = time.perf_counter(), time.process_time()
    model = xgb.train(params, ds, num_boost_round=rounds)
    t2, c2 = time.perf_counter(), time.process_time()
    predict = lambda x: model.inplace_predict(x)
    version = xgb.__version__
peak = mib("VmHWM:")
scores = predict(xte)
auc = roc_auc_score(yte, scores)
batch = []
for _ in range(5):
    t = time.perf_counter()
    predict(xte)
    batch.append(len(xte) / (time.perf_counter() - t))
lat = []
for row in xte[:20000]:
    r = row.reshape(1, -1)
    t = time.perf_counter()
    predict(r)
    lat.append((time.perf_counter() - t) * 1e6)
lat.sort()
print(f"{which} version {version}")
print(f"{which} dataset_seconds {t1 - t0:.3f}")
print(f"{which} train_seconds {t2 - t1:.3f}")
print(f"{which} train_cpu_seconds {c2 - c1:.2f}")
print(f"{which} auc_roc {auc:.5f}")
print(f"{which} train_peak_rss_mib {peak:.0f} (before training {before:.0f})")
print(f"{which} batch_rows_per_s {sorted(batch)[2]:.0f}")
print(f"{which} single_row_us p50 {lat[len(lat) // 2]:.2f} p99 {lat[len(lat) * 99 // 100]:.2f}")
