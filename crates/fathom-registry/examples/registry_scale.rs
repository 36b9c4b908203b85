//! Times the store at scale: fills it with many runs (set-based SQL, so
//! the fill takes seconds, not hours), then times the first page of
//! filtered, sorted listings, a comparison, logging through the API, and
//! promotion and rollback.
//!
//! ```sh
//! cargo run --release -p fathom-registry --example registry_scale -- [RUNS] [METRICS] [postgres://…]
//! ```
//!
//! Without a URL the store is an SQLite file in a temporary folder. With a
//! PostgreSQL URL the example works in a schema `fathom_bench`, which it
//! drops and creates. `FATHOM_BENCH_SQLITE=PATH` keeps the SQLite file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore};
use fathom_registry::{
    Actor, MetricPoint, NewRun, NewVersion, Promotion, PromotionPolicy, RunBatch, RunQuery,
    SortKey, Store,
};

fn fill_sql(runs: i64, metrics: i64) -> String {
    format!(
        "INSERT INTO experiments (name, description, created_at) VALUES ('bench', '', 0);
         INSERT INTO runs (experiment_id, name, status, start_time, end_time, seed, host, fathom_version)
           WITH RECURSIVE s(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {runs})
           SELECT 1, 'run-' || i, 'finished', 1767225600000000 + i * 1000000, 1767225600000000 + i * 1000000 + 5000000,
                  i, 'bench-host', '0.1.0' FROM s;
         INSERT INTO run_params (run_id, key, value)
           WITH RECURSIVE s(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {runs}),
                k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 9)
           SELECT i, CASE WHEN j = 0 THEN 'model' ELSE 'p' || j END,
                  CASE WHEN j = 0 THEN (CASE i % 3 WHEN 0 THEN 'gbdt' WHEN 1 THEN 'logistic' ELSE 'forest' END)
                       ELSE CAST((i * (j + 3)) % 97 AS TEXT) END
           FROM s, k;
         INSERT INTO latest_metrics (run_id, key, step, value, recorded_at)
           WITH RECURSIVE s(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {runs}),
                k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < {last})
           SELECT i, CASE j WHEN 0 THEN 'auc_pr' WHEN 1 THEN 'auc_roc' WHEN 2 THEN 'logloss' ELSE 'm' || j END,
                  0, CAST(((i * (7919 + 31 * j) + j * 104729) % 10007) AS DOUBLE PRECISION) / 10007.0, 0
           FROM s, k;
         INSERT INTO metric_history (run_id, key, step, value, recorded_at)
           SELECT run_id, key, step, value, recorded_at FROM latest_metrics;",
        last = metrics - 1
    )
}

/// Runs `f` `times` times; prints the first (cold), median and best time.
fn time<T>(label: &str, times: usize, mut f: impl FnMut() -> T) -> T {
    let mut all = Vec::with_capacity(times);
    let mut out = None;
    for _ in 0..times {
        let t = Instant::now();
        out = Some(f());
        all.push(t.elapsed());
    }
    let first = all[0];
    all.sort();
    println!(
        "{label:<62} first {:>8.2} ms   median {:>8.2} ms   best {:>8.2} ms",
        ms(first),
        ms(all[all.len() / 2]),
        ms(all[0])
    );
    out.expect("at least one run")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let runs: i64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let metrics: i64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let url = args.get(3).cloned();
    let dir = tempfile::tempdir()?;

    let (location, backend) = match &url {
        Some(url) => {
            let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
            admin.batch_execute(
                "DROP SCHEMA IF EXISTS fathom_bench CASCADE; CREATE SCHEMA fathom_bench",
            )?;
            let sep = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}options=-c%20search_path%3Dfathom_bench"),
                "PostgreSQL",
            )
        }
        None => match std::env::var("FATHOM_BENCH_SQLITE") {
            // Keep the filled file for a closer look (it must not exist yet).
            Ok(path) => (path, "SQLite"),
            Err(_) => (dir.path().join("fathom.db").display().to_string(), "SQLite"),
        },
    };
    println!("{backend}: {runs} runs x {metrics} metrics, 10 params each");
    let mut store = Store::open(&location)?;

    let t = Instant::now();
    let sql = fill_sql(runs, metrics);
    match &url {
        Some(_) => {
            let mut c = postgres::Client::connect(&location, postgres::NoTls)?;
            c.batch_execute(&format!("BEGIN; {sql} COMMIT;"))?;
            // What autovacuum would do to a store that grew over time.
            c.batch_execute("VACUUM ANALYZE")?;
        }
        None => {
            let c = rusqlite::Connection::open(&location)?;
            c.execute_batch(&format!("BEGIN; {sql} COMMIT; ANALYZE;"))?;
        }
    }
    println!(
        "fill (set-based SQL, not timed as a store operation): {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let page = |filter: &str, order: &str| RunQuery {
        experiment: Some("bench".into()),
        filter: filter.into(),
        order_by: Some(SortKey::parse(order).expect("sort key")),
        limit: 50,
        offset: 0,
    };
    let queries = [
        (
            "metrics.auc_pr > 0.6 and params.model = 'gbdt'",
            "metrics.auc_pr desc",
        ),
        ("", "start_time desc"),
        ("params.model = 'logistic'", "metrics.logloss asc"),
        (
            "metrics.auc_roc >= 0.9 and metrics.logloss < 0.2",
            "metrics.auc_pr desc",
        ),
        ("status = 'finished' and seed > HALF", "metrics.m10 desc"),
    ];
    for (filter, order) in queries {
        let filter = filter.replace("HALF", &(runs / 2).to_string());
        let q = page(&filter, order);
        let p = time(&format!("list 50: {filter:?} by {order}"), 5, || {
            store.list_runs(&q).expect("list")
        });
        if p.runs.len() < 50 {
            println!("  (only {} runs match)", p.runs.len());
        }
    }
    let mut q = page(
        "metrics.auc_pr > 0.6 and params.model = 'gbdt'",
        "metrics.auc_pr desc",
    );
    q.offset = 5000;
    time("list 50 at offset 5000 (same filter)", 5, || {
        store.list_runs(&q).expect("list")
    });
    time("count matching (same filter)", 3, || {
        store.count_runs(&q).expect("count")
    });
    let ids: Vec<i64> = (1..=10).map(|i| i * 997).collect();
    time("compare 10 runs side by side", 5, || {
        store.compare_runs(&ids).expect("compare")
    });

    // Logging through the API: 100 runs x (10 params + 50 metric values).
    let t = Instant::now();
    for r in 0..100 {
        let run = store.start_run(&NewRun::new("logging", format!("r{r}")))?;
        let batch = RunBatch {
            params: (0..10)
                .map(|k| (format!("p{k}"), format!("{}", r * k)))
                .collect(),
            metrics: (0..50)
                .map(|k| MetricPoint::new(format!("m{k}"), (r * k) as f64 / 5000.0))
                .collect(),
            tags: vec![],
        };
        store.log_batch(run, &batch)?;
        store.finish_run(run)?;
    }
    println!(
        "{:<62} {:>8.1} ms",
        "log 100 runs x (10 params + 50 metrics), batch per run",
        ms(t.elapsed())
    );

    // Promotion and rollback.
    let artifacts = LocalArtifactStore::new(dir.path().join("artifacts"))?;
    let me = Actor::new("bench", "bench-host");
    for v in 0..3 {
        let stored = artifacts.put_bytes(format!("model {v}").as_bytes())?;
        let metrics: BTreeMap<String, f64> = [("auc_pr".to_string(), 0.7)].into();
        store.register_version(
            &NewVersion {
                model: "bench".into(),
                artifact_uri: stored.uri,
                artifact_sha256: stored.sha256,
                schema_hash: "s".into(),
                holdout_snapshot: Some("h".into()),
                metrics,
                owner: "bench".into(),
                ..NewVersion::default()
            },
            &me,
            "bench",
        )?;
    }
    let policy = PromotionPolicy::default();
    let mut i = 0;
    time(
        "promote to production (gate + checksum + audit)",
        50,
        || {
            i += 1;
            store
                .promote(
                    &Promotion {
                        model: "bench".into(),
                        version: (i % 2) + 1,
                        alias: "production".into(),
                        force: false,
                    },
                    &policy,
                    &me,
                    "bench",
                )
                .expect("promote")
        },
    );
    store.promote(
        &Promotion {
            model: "bench".into(),
            version: 3,
            alias: "production".into(),
            force: false,
        },
        &policy,
        &me,
        "bench",
    )?;
    time("rollback production", 20, || {
        store
            .rollback("bench", "production", &me, "bench")
            .expect("rollback")
    });
    Ok(())
}
