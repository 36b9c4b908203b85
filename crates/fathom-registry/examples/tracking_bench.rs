//! fathom's side of the MLflow comparison (`bench/registry/mlflow.sh`):
//! logs 100 runs × (10 params + 50 metric values) into a new SQLite store
//! through the library, one batch per run, then searches them; or opens a
//! store and sits idle so that its memory can be read.
//!
//! ```sh
//! cargo run --release -p fathom-registry --example tracking_bench -- log DIR
//! cargo run --release -p fathom-registry --example tracking_bench -- idle DIR SECONDS
//! ```
//!
//! `log` prints one JSON line: the wall times in milliseconds and the
//! number of runs each search found (the MLflow side computes the same
//! values with the same formulas, so the counts must agree). `idle` opens
//! the store in DIR, reads one page of runs, prints `ready PID` and sleeps.

use std::time::{Duration, Instant};

use fathom_registry::{MetricPoint, NewRun, RunBatch, RunQuery, SortKey, Store};

/// Runs, params per run, metric values per run.
const RUNS: i64 = 100;
const PARAMS: i64 = 10;
const METRICS: i64 = 50;

/// Param `p{k}` of run `r` (the Python side uses the same formula).
fn param(r: i64, k: i64) -> String {
    ((r * (k + 3)) % 7).to_string()
}

/// Metric `m{k}` of run `r`, in [0, 1).
fn metric(r: i64, k: i64) -> f64 {
    ((r * (7919 + 31 * k) + k * 104_729) % 10_007) as f64 / 10_007.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn log_and_search(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut store = Store::open(dir)?;
    let t = Instant::now();
    for r in 0..RUNS {
        let run = store.start_run(&NewRun::new("bench", format!("run-{r}")))?;
        let batch = RunBatch {
            params: (0..PARAMS)
                .map(|k| (format!("p{k}"), param(r, k)))
                .collect(),
            metrics: (0..METRICS)
                .map(|k| MetricPoint::new(format!("m{k}"), metric(r, k)))
                .collect(),
            tags: vec![],
        };
        store.log_batch(run, &batch)?;
        store.finish_run(run)?;
    }
    let log = t.elapsed();

    let query =
        |filter: &str, order: Option<&str>| -> Result<RunQuery, Box<dyn std::error::Error>> {
            Ok(RunQuery {
                experiment: Some("bench".into()),
                filter: filter.into(),
                order_by: order.map(SortKey::parse).transpose()?,
                limit: 1000,
                offset: 0,
            })
        };
    let by_metric = query("metrics.m0 > 0.5", Some("metrics.m1 desc"))?;
    let t = Instant::now();
    let found_metric = store.list_runs(&by_metric)?.runs;
    let search_metric = t.elapsed();
    let by_param = query("params.p1 = '3'", None)?;
    let t = Instant::now();
    let found_param = store.list_runs(&by_param)?.runs;
    let search_param = t.elapsed();
    // Every run found carries all its params and metrics, as MLflow's do.
    let complete = found_metric
        .iter()
        .chain(&found_param)
        .all(|r| r.params.len() == PARAMS as usize && r.metrics.len() == METRICS as usize);
    println!(
        "{{\"side\": \"fathom\", \"log_ms\": {:.3}, \"search_metric_ms\": {:.3}, \"search_param_ms\": {:.3}, \"found_metric\": {}, \"found_param\": {}, \"complete\": {complete}}}",
        ms(log),
        ms(search_metric),
        ms(search_param),
        found_metric.len(),
        found_param.len()
    );
    Ok(())
}

fn idle(dir: &str, seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut store = Store::open(dir)?;
    let page = store.list_runs(&RunQuery::default())?;
    println!(
        "ready {} ({} runs on the first page)",
        std::process::id(),
        page.runs.len()
    );
    std::thread::sleep(Duration::from_secs(seconds));
    drop(store);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("log"), Some(dir)) => log_and_search(dir),
        (Some("idle"), Some(dir)) => {
            let seconds = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
            idle(dir, seconds)
        }
        _ => Err("usage: tracking_bench log DIR | idle DIR [SECONDS]".into()),
    }
}
