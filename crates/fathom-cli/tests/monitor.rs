//! `fathom monitor drift` end to end: generated data, an inferred
//! contract, files and a prediction-log window as the current data.

mod common;

use common::{fathom, ok, text};
use fathom_predlog::{LogConfig, PredictionLog, PredictionRecord, Variant};
use serde_json::Value;
use std::path::Path;

/// Generates baseline (seeds 1 and 2) and sudden (seed 3) data and the
/// contract inferred from the first baseline. The sudden file keeps only
/// the rows after its half-way shock.
fn setup(dir: &Path) {
    for (file, seed, scenario, rows) in [
        ("base.csv", "1", "baseline", "5000"),
        ("base2.csv", "2", "baseline", "5000"),
        ("sudden_all.csv", "3", "sudden", "10000"),
    ] {
        ok(
            dir,
            &[
                "data",
                "generate",
                "-o",
                file,
                "--rows",
                rows,
                "--seed",
                seed,
                "--scenario",
                scenario,
                "-q",
            ],
        );
    }
    let all = std::fs::read_to_string(dir.join("sudden_all.csv")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let rows = lines.len() - 1;
    let mut after = vec![lines[0]];
    after.extend(&lines[1 + rows / 2..]);
    std::fs::write(dir.join("sudden.csv"), after.join("\n") + "\n").unwrap();
    ok(
        dir,
        &[
            "data",
            "schema",
            "infer",
            "base.csv",
            "-o",
            "schema.toml",
            "-q",
        ],
    );
}

fn drifted(report: &Value) -> Vec<String> {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == Value::Bool(true))
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

fn json_report(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "monitor", "drift"];
    all.extend(args);
    let o = ok(dir, &all);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

#[test]
fn same_process_no_drift_sudden_shock_severe_with_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);

    let same = json_report(
        d,
        &[
            "--reference",
            "base.csv",
            "--current",
            "base2.csv",
            "--schema",
            "schema.toml",
        ],
    );
    assert_eq!(same["verdict"], "none", "{:?}", drifted(&same));
    assert_eq!(same["tested"].as_u64(), Some(29));
    assert_eq!(same["reference_rows"].as_u64(), Some(5000));
    assert_eq!(same["label"]["name"], "is_fraud");

    let o = ok(
        d,
        &[
            "monitor",
            "drift",
            "--reference",
            "base.csv",
            "--current",
            "sudden.csv",
            "--schema",
            "schema.toml",
            "--output",
            "drift.html",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("verdict: severe"), "{}", text(&o));
    assert!(out.contains("is_online"), "{out}");
    let html = std::fs::read_to_string(d.join("drift.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.contains("is_online") && html.contains("severe"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report must not load anything"
    );

    let shock = json_report(
        d,
        &[
            "--reference",
            "base.csv",
            "--current",
            "sudden.csv",
            "--schema",
            "schema.toml",
        ],
    );
    assert_eq!(shock["verdict"], "severe");
    let names = drifted(&shock);
    assert!(names.iter().any(|n| n == "is_online"), "{names:?}");
    assert!(shock["share_drifted"].as_f64().unwrap() >= 0.2);

    // The contract of a registered model gives the same report.
    ok(
        d,
        &[
            "--store",
            "store",
            "train",
            "--data",
            "base.csv",
            "--schema",
            "schema.toml",
            "--model",
            "fraud",
            "-q",
        ],
    );
    let by_model = json_report(
        d,
        &[
            "--store",
            "store",
            "--reference",
            "base.csv",
            "--current",
            "sudden.csv",
            "--model",
            "fraud@1",
        ],
    );
    assert_eq!(by_model["verdict"], "severe");
    assert_eq!(drifted(&by_model), names);
}

/// One CSV row as the JSON object a client would have sent.
fn row_json(header: &[&str], line: &str) -> String {
    let mut obj = serde_json::Map::new();
    for (name, cell) in header.iter().zip(line.split(',')) {
        let v = if cell.is_empty() {
            continue;
        } else if let Ok(x) = cell.parse::<f64>() {
            Value::from(x)
        } else if let Ok(b) = cell.parse::<bool>() {
            Value::Bool(b)
        } else {
            Value::String(cell.to_string())
        };
        obj.insert(name.to_string(), v);
    }
    Value::Object(obj).to_string()
}

#[test]
fn a_window_of_the_prediction_log_as_current_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let log_dir = d.join("store").join("predictions");
    let log = PredictionLog::open(LogConfig::new(&log_dir)).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let csv = std::fs::read_to_string(d.join("sudden.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for (i, line) in lines.enumerate() {
        log.append_detached(PredictionRecord {
            request_id: format!("req-{i}"),
            time_ms: now_ms - 60_000,
            model: "fraud".into(),
            version: 1,
            variant: Variant::Production,
            inputs: bytes::Bytes::from(row_json(&header, line)),
            score: 0.1,
            decision: Some(false),
            latency_us: 100,
            degraded: false,
        })
        .unwrap();
    }
    // One prediction from long before the window: not read.
    log.append(PredictionRecord {
        request_id: "old".into(),
        time_ms: now_ms - 10 * 3_600_000,
        model: "fraud".into(),
        version: 1,
        variant: Variant::Production,
        inputs: bytes::Bytes::from_static(b"{}"),
        score: 0.1,
        decision: Some(false),
        latency_us: 100,
        degraded: false,
    })
    .unwrap()
    .wait()
    .unwrap();
    log.shutdown().unwrap();

    let report = json_report(
        d,
        &[
            "--store",
            "store",
            "--reference",
            "base.csv",
            "--current-log",
            "--window",
            "1h",
            "--schema",
            "schema.toml",
        ],
    );
    assert_eq!(report["current_rows"].as_u64(), Some(5000));
    assert_eq!(report["verdict"], "severe");
    assert!(drifted(&report).iter().any(|n| n == "is_online"));
    // The label arrives as feedback, not as an input: no label drift.
    assert!(report["label"].is_null());

    let o = fathom(
        d,
        &[
            "--store",
            "store",
            "monitor",
            "drift",
            "--reference",
            "base.csv",
            "--current-log",
            "--window",
            "1x",
            "--schema",
            "schema.toml",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--window \"1x\""), "{}", text(&o));
}

#[test]
fn errors_say_what_is_wrong_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "data", "generate", "-o", "base.csv", "--rows", "300", "--seed", "1", "-q",
        ],
    );
    ok(
        d,
        &[
            "data",
            "schema",
            "infer",
            "base.csv",
            "-o",
            "schema.toml",
            "-q",
        ],
    );
    let run = |args: &[&str]| {
        let mut all = vec!["monitor", "drift"];
        all.extend(args);
        let o = fathom(d, &all);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        text(&o)
    };
    let e = run(&[
        "--reference",
        "base.csv",
        "--current",
        "missing.csv",
        "--schema",
        "schema.toml",
    ]);
    assert!(e.contains("missing.csv does not exist"), "{e}");
    let e = run(&["--reference", "base.csv", "--current", "base.csv"]);
    assert!(e.contains("--schema") && e.contains("--model"), "{e}");

    // A text value in the numeric column `amount`.
    let csv = std::fs::read_to_string(d.join("base.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let amount = lines[0].split(',').position(|c| c == "amount").unwrap();
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    cells[amount] = "lots";
    lines[1] = cells.join(",");
    std::fs::write(d.join("bad.csv"), lines.join("\n") + "\n").unwrap();
    let e = run(&[
        "--reference",
        "base.csv",
        "--current",
        "bad.csv",
        "--schema",
        "schema.toml",
    ]);
    assert!(e.contains("bad.csv") && e.contains("amount"), "{e}");
}
