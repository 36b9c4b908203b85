"""MLflow's side of bench/registry/mlflow.sh: against a running tracking
server, logs 100 runs x (10 params + 50 metric values) with one log_batch
call per run (create_run, log_batch, set_terminated: three requests, as
fathom's three transactions), then searches them, timed with perf_counter.

    python mlflow_client.py URI EXPERIMENT_NAME

Prints one JSON line. The params and metrics follow the same formulas as
crates/fathom-registry/examples/tracking_bench.rs, so both sides must find
the same number of runs.
"""

import json
import sys
import time

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

RUNS, PARAMS, METRICS = 100, 10, 50


def param(r, k):
    return str((r * (k + 3)) % 7)


def metric(r, k):
    return ((r * (7919 + 31 * k) + k * 104729) % 10007) / 10007.0


def main():
    uri, name = sys.argv[1], sys.argv[2]
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(name)
    now = int(time.time() * 1000)

    t = time.perf_counter()
    for r in range(RUNS):
        run = client.create_run(exp, run_name=f"run-{r}")
        rid = run.info.run_id
        client.log_batch(
            rid,
            params=[Param(f"p{k}", param(r, k)) for k in range(PARAMS)],
            metrics=[Metric(f"m{k}", metric(r, k), now, 0) for k in range(METRICS)],
            synchronous=True,
        )
        client.set_terminated(rid)
    log = time.perf_counter() - t

    t = time.perf_counter()
    by_metric = client.search_runs(
        [exp], filter_string="metrics.m0 > 0.5", order_by=["metrics.m1 DESC"], max_results=1000
    )
    search_metric = time.perf_counter() - t
    t = time.perf_counter()
    by_param = client.search_runs([exp], filter_string="params.p1 = '3'", max_results=1000)
    search_param = time.perf_counter() - t
    complete = all(
        len(r.data.params) == PARAMS and len(r.data.metrics) == METRICS
        for r in list(by_metric) + list(by_param)
    )
    print(
        json.dumps(
            {
                "side": "mlflow",
                "log_ms": log * 1000,
                "search_metric_ms": search_metric * 1000,
                "search_param_ms": search_param * 1000,
                "found_metric": len(by_metric),
                "found_param": len(by_param),
                "complete": complete,
            }
        )
    )


if __name__ == "__main__":
    main()
