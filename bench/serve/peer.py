"""The serving benchmark's peer: LightGBM behind FastAPI.

  peer.py train DATA.parquet OUT_DIR   # trains LightGBM, writes model + schema + request bodies
  uvicorn peer:app ...                 # serves it (MODEL_DIR env), the set-up run.sh measures

The app is FastAPI's best set-up for this job: an async endpoint, a
pydantic model validating every field (as the contract demands), the
category levels mapped to LightGBM's codes, `Booster.predict` on a 1-row
array, run by uvicorn with uvloop and httptools.
"""
import json
import os
import sys

TARGET = "is_fraud"
DROP = {"transaction_id", "card_id", "timestamp", TARGET}


def train(data, out):
    import lightgbm as lgb
    import pandas as pd

    df = pd.read_parquet(data)
    feats = [c for c in df.columns if c not in DROP]
    cats = [c for c in feats if df[c].dtype == object or str(df[c].dtype) in ("string", "category", "str")]
    levels = {}
    for c in cats:
        df[c] = df[c].astype("category")
        levels[c] = [str(x) for x in df[c].cat.categories]
    bools = [c for c in feats if df[c].dtype == bool]
    for c in bools:
        df[c] = df[c].astype(float)
    y = df[TARGET].astype(float)
    n = len(df)
    cut = int(n * 0.8)
    params = dict(objective="binary", num_leaves=31, learning_rate=0.1, max_bin=255, num_threads=2, verbose=-1)
    ds = lgb.Dataset(df[feats].iloc[:cut], y.iloc[:cut], categorical_feature=cats)
    booster = lgb.train(params, ds, num_boost_round=200)
    os.makedirs(out, exist_ok=True)
    booster.save_model(os.path.join(out, "lightgbm.txt"))
    kinds = {c: ("category" if c in cats else "bool" if c in bools else "number") for c in feats}
    json.dump({"features": feats, "kinds": kinds, "levels": levels}, open(os.path.join(out, "peer_schema.json"), "w"))
    # Request bodies: 200 held-out rows, as clients would send them.
    raw = pd.read_parquet(data).iloc[cut:cut + 200]
    with open(os.path.join(out, "bodies.jsonl"), "w") as f:
        for rec in raw.to_dict(orient="records"):
            clean = {}
            for k, v in rec.items():
                if k == TARGET:
                    continue
                if hasattr(v, "isoformat"):
                    v = v.isoformat()
                elif hasattr(v, "item"):
                    v = v.item()
                if isinstance(v, float) and v != v:
                    v = None
                clean[k] = v
            f.write(json.dumps(clean) + "\n")
    print(f"trained LightGBM on {cut} rows, {len(feats)} features ({len(cats)} categorical)")


if len(sys.argv) > 1 and sys.argv[1] == "train":
    train(sys.argv[2], sys.argv[3])
    sys.exit(0)

# --- the server -------------------------------------------------------------
from typing import Optional  # noqa: E402

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import create_model  # noqa: E402

MODEL_DIR = os.environ.get("MODEL_DIR", ".")
meta = json.load(open(os.path.join(MODEL_DIR, "peer_schema.json")))
booster = lgb.Booster(model_file=os.path.join(MODEL_DIR, "lightgbm.txt"))
FEATS = meta["features"]
KINDS = meta["kinds"]
CODES = {c: {lvl: i for i, lvl in enumerate(lv)} for c, lv in meta["levels"].items()}
py_type = {"number": Optional[float], "bool": Optional[bool], "category": Optional[str]}
fields = {c: (py_type[KINDS[c]], None) for c in FEATS}
fields.update({"transaction_id": (Optional[float], None), "card_id": (Optional[float], None), "timestamp": (Optional[str], None)})
Record = create_model("Record", **fields)

app = FastAPI()


@app.post("/v1/predict")
async def predict(record: Record):
    row = np.empty((1, len(FEATS)))
    for j, c in enumerate(FEATS):
        v = getattr(record, c)
        if v is None:
            row[0, j] = np.nan
        elif KINDS[c] == "category":
            row[0, j] = CODES[c].get(v, np.nan)
        else:
            row[0, j] = float(v)
    score = float(booster.predict(row, num_threads=1)[0])
    return {"score": score, "decision": score >= 0.5}
