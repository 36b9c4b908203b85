"""LightGBM side of bench/learn/run.sh: same data, same settings, training time only."""
import os, sys, time, numpy as np, lightgbm as lgb
from sklearn.metrics import roc_auc_score
d = os.environ.get("OUT", "bench/out/learn")
ncol = 31
tr = np.fromfile(f"{d}/train.f64", dtype="<f8").reshape(-1, ncol)
te = np.fromfile(f"{d}/test.f64", dtype="<f8").reshape(-1, ncol)
cats = list(range(26, 30))
params = dict(objective="binary", num_leaves=31, learning_rate=0.1, max_bin=255, min_data_in_leaf=20,
              num_threads=int(os.environ.get("THREADS", "2")), verbose=-1, seed=0)
if len(sys.argv) > 1: params[sys.argv[1]] = True
ds = lgb.Dataset(tr[:, 1:], tr[:, 0], categorical_feature=cats, params=params)
t0 = time.time(); ds.construct(); t1 = time.time(); c1 = time.process_time()
b = lgb.train(params, ds, num_boost_round=200)
t2 = time.time(); c2 = time.process_time()
print(f"lightgbm {sys.argv[1:]}: dataset {t1-t0:.2f} s, train {t2-t1:.2f} s (cpu {c2-c1:.2f} s), total {t2-t0:.2f} s, test AUC {roc_auc_score(te[:,0], b.predict(te[:,1:])):.5f}")
