"""Times Evidently's DataDriftPreset on two Parquet files, from data loaded
to HTML written, and prints one JSON line like fathom's drift_bench.

    python evidently_bench.py REFERENCE CURRENT OUT_DIR
"""

import json
import os
import sys
import time

import pandas as pd

NOT_FEATURES = ["transaction_id", "card_id", "timestamp"]
LABEL = "is_fraud"


def run_new(ref, cur, html):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    features = [c for c in ref.columns if c not in NOT_FEATURES + [LABEL]]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(ref[c]) and not pd.api.types.is_bool_dtype(ref[c])]
    categorical = [c for c in features if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric + [LABEL], categorical_columns=categorical)
    r = Dataset.from_pandas(ref, data_definition=definition)
    c = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=c, reference_data=r)
    snapshot.save_html(html)
    drifted = []
    for m in snapshot.dict().get("metrics", []):
        cfg = m.get("config", {})
        col = cfg.get("column")
        value = m.get("value")
        threshold = cfg.get("threshold")
        method = str(cfg.get("method", ""))
        if col is None or not isinstance(value, (int, float)) or threshold is None:
            continue
        is_p = "p_value" in method or "test" in method.lower() and "distance" not in method.lower()
        if (value < threshold) if is_p else (value >= threshold):
            drifted.append(col)
    return drifted


def run_legacy(ref, cur, html):
    from evidently.metric_preset import DataDriftPreset
    from evidently.pipeline.column_mapping import ColumnMapping
    from evidently.report import Report

    features = [c for c in ref.columns if c not in NOT_FEATURES + [LABEL]]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(ref[c]) and not pd.api.types.is_bool_dtype(ref[c])]
    mapping = ColumnMapping(target=LABEL, numerical_features=numeric,
                            categorical_features=[c for c in features if c not in numeric])
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    report.save_html(html)
    drifted = []
    for m in report.as_dict()["metrics"]:
        by = m.get("result", {}).get("drift_by_columns")
        if by:
            drifted = [k for k, v in by.items() if v.get("drift_detected")]
    return drifted


def main():
    ref_path, cur_path, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    ref = pd.read_parquet(ref_path).drop(columns=NOT_FEATURES)
    cur = pd.read_parquet(cur_path).drop(columns=NOT_FEATURES)
    t_load = time.perf_counter() - t0
    html = os.path.join(out_dir, "drift.html")
    t1 = time.perf_counter()
    try:
        drifted = run_new(ref, cur, html)
    except ImportError:
        drifted = run_legacy(ref, cur, html)
    total = time.perf_counter() - t1
    import evidently

    print(json.dumps({
        "tool": f"evidently {evidently.__version__}",
        "reference_rows": len(ref), "current_rows": len(cur),
        "load_seconds": t_load, "drift_and_html_seconds": total,
        "drifted": sorted(set(drifted) - {LABEL}),
    }))


if __name__ == "__main__":
    main()
