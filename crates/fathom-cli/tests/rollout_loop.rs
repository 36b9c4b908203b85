//! The training pipeline's candidates and the canary's fate, through the
//! binary: a retrained version carries `[features]` and its
//! cross-validation; a candidate worse than production is registered but
//! not deployed, with both figures in the run note and the audit log; a
//! canary waits for enough answers, is rolled back when its live AUC-ROC
//! is worse, and is promoted when it is within limits, each move audited
//! with the figures and the paths of the reports behind it.

mod common;

use common::{fathom, ok, ok_json, row_json, text};
use fathom_predlog::{FeedbackRecord, LogConfig, PredictionLog, PredictionRecord, Variant};
use serde_json::Value;
use std::path::Path;

fn run_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let o = fathom(dir, args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code().unwrap_or(-1), v)
}

fn task<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {report}"))
}

/// A production model (`fraud@1`, GBDT) and the id of its snapshot.
fn production(d: &Path) -> String {
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    ok_json(d, &["--json", "data", "snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run_training(d: &Path, date: &str, snapshot: &str) -> Value {
    let (code, tr) = run_json(
        d,
        &[
            "--json",
            "pipeline",
            "run",
            "training",
            "--date",
            date,
            "--snapshot",
            snapshot,
        ],
    );
    assert_eq!(code, 0, "{tr}");
    tr
}

fn run_monitoring(d: &Path, date: &str) -> Value {
    let (code, mon) = run_json(
        d,
        &["--json", "pipeline", "run", "monitoring", "--date", date],
    );
    assert_eq!(code, 0, "{mon}");
    mon
}

/// The version of `fraud` that holds `alias`, if any.
fn holder(d: &Path, alias: &str) -> Option<i64> {
    ok_json(d, &["--json", "models", "show", "fraud"])["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["aliases"].as_array().unwrap().iter().any(|a| a == alias))
        .map(|v| v["version"].as_i64().unwrap())
}

/// The audit entries of `fraud`, newest first.
fn audit(d: &Path) -> Vec<Value> {
    ok_json(d, &["--json", "audit", "--model", "fraud"])
        .as_array()
        .unwrap()
        .clone()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Live traffic: `rows` fresh transactions scored by production and by
/// the canary, labelled.
struct Traffic {
    header: Vec<String>,
    lines: Vec<String>,
    labels: Vec<f64>,
    production: Vec<f64>,
    canary: Vec<f64>,
}

fn scores(d: &Path, model: &str, input: &str) -> Vec<f64> {
    let out = format!("scores-{}.csv", model.replace('@', "-"));
    ok(
        d,
        &[
            "-q", "predict", "--model", model, "--input", input, "--output", &out,
        ],
    );
    let text = std::fs::read_to_string(d.join(out)).unwrap();
    let mut lines = text.lines();
    let at = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "score")
        .unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap())
        .collect()
}

fn traffic(d: &Path, rows: usize) -> Traffic {
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            "11",
            "--fraud-rate",
            "0.05",
            "--start",
            "2024-04-01",
            "--days",
            "10",
            "-o",
            "live.csv",
        ],
    );
    let text = std::fs::read_to_string(d.join("live.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let lines: Vec<String> = lines.map(String::from).collect();
    let li = header.iter().position(|c| c == "is_fraud").unwrap();
    let labels = lines
        .iter()
        .map(|l| match l.split(',').nth(li).unwrap() {
            "true" | "1" => 1.0,
            _ => 0.0,
        })
        .collect();
    Traffic {
        production: scores(d, "fraud@production", "live.csv"),
        canary: scores(d, "fraud@canary", "live.csv"),
        header,
        lines,
        labels,
    }
}

/// Writes every row of `t` to the prediction log, answered now by
/// production (v1) and, when given, by the canary (its version and
/// scores), each answer with its label; request ids start with `batch`.
fn serve(d: &Path, t: &Traffic, batch: &str, canary: Option<(i64, &[f64])>) {
    let log = PredictionLog::open(LogConfig::new(d.join(".fathom").join("predictions"))).unwrap();
    let header: Vec<&str> = t.header.iter().map(String::as_str).collect();
    let start = now_ms();
    for (i, line) in t.lines.iter().enumerate() {
        let mut answers = vec![(Variant::Production, 1, t.production[i])];
        if let Some((version, scores)) = canary {
            answers.push((Variant::Canary, version, scores[i]));
        }
        for (variant, v, score) in answers {
            let id = format!("{batch}-{}-{i}", variant.name());
            log.append_detached(PredictionRecord {
                request_id: id.clone(),
                time_ms: start + (i / 20) as i64,
                model: "fraud".into(),
                version: v,
                variant,
                inputs: bytes::Bytes::from(row_json(&header, line)),
                score,
                decision: Some(score >= 0.5),
                latency_us: 300,
                degraded: false,
            })
            .unwrap();
            log.append_feedback_detached(FeedbackRecord {
                request_id: id,
                time_ms: start + 100,
                label: t.labels[i],
            })
            .unwrap();
        }
    }
    log.shutdown().unwrap();
    // The answers are in the past when the monitoring run reads them.
    while now_ms() <= start + 200 {
        std::thread::yield_now();
    }
}

const ROLLOUT: &str = r#"
[features]
derived = [{ name = "amount_log", op = "log1p", of = "amount" }]

[train]
candidates = ["logistic"]

[registry.promotion]
tolerance = 1.0

[rollout]
canary_period = "0s"
min_labels = 100

[serve.guardrails]
min_requests = 300
"#;

/// Trains v2 through the pipeline and checks it carries `[features]` and
/// its cross-validation, and that the canary alias was set with the
/// gate's figures and the training report.
fn deploy_canary(d: &Path, snapshot: &str) -> Value {
    std::fs::write(d.join("fathom.toml"), ROLLOUT).unwrap();
    let tr = run_training(d, "2026-03-05", snapshot);
    let train = &task(&tr, "train")["output"];
    // Cross-validation by default: 5 folds, the figures in the run.
    assert_eq!(train["cv"]["folds"], 5, "{train}");
    assert!(
        train["cv"]["auc_pr"].as_str().unwrap().contains('±'),
        "{train}"
    );
    let run = train["run"].as_i64().unwrap().to_string();
    let shown = ok_json(d, &["--json", "runs", "show", &run]);
    for m in ["cv_auc_pr_mean", "cv_auc_pr_std", "cv_auc_roc_mean"] {
        let v = shown["metrics"][m]["value"].as_f64();
        assert!(
            v.is_some_and(f64::is_finite),
            "{m} missing from run {run}: {shown}"
        );
    }
    // The configured derived feature is in the retrained version.
    let model = train["model"].as_str().unwrap();
    let inspected = ok_json(d, &["--json", "model", "inspect", model]).to_string();
    assert!(inspected.contains("amount_log"), "{inspected}");
    assert_eq!(task(&tr, "deploy")["output"]["alias"], "canary", "{tr}");
    // The alias was set with the gate's figures, the CV and the report.
    let report = train["report"].as_str().unwrap();
    assert!(d.join(report).is_file(), "{report}");
    let set = audit(d)
        .into_iter()
        .find(|e| e["action"] == "alias_set" && e["alias"] == "canary")
        .expect("the canary alias_set entry");
    let reason = set["reason"].as_str().unwrap();
    for s in [
        "against production's",
        "5-fold CV AUC-PR",
        &format!("training run {run}"),
        &format!("report {report}"),
        "artifact ",
    ] {
        assert!(reason.contains(s), "{s} missing: {reason}");
    }
    tr
}

/// The monitoring report and decision record named in `reason` exist.
fn check_paths_exist(d: &Path, reason: &str) {
    for key in ["report ", "decision record "] {
        let path = reason
            .split(key)
            .nth(1)
            .and_then(|rest| rest.split([',', ';']).next())
            .unwrap_or_else(|| panic!("no {key}path in {reason}"));
        assert!(d.join(path.trim()).is_file(), "{path}: {reason}");
    }
}

#[test]
fn a_canary_waits_for_answers_then_a_worse_one_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let snapshot = production(d);
    deploy_canary(d, &snapshot);
    let t = traffic(d, 1200);

    // Production answered, the canary not yet: the period (0s) is over,
    // but it waits, with the counts.
    serve(d, &t, "first", None);
    let mon = run_monitoring(d, "2026-03-05T10:00:00Z");
    let canary = &task(&mon, "canary")["output"];
    assert_eq!(canary["decision"], "waiting", "{canary}");
    assert_eq!(canary["answers"]["canary"], 0, "{canary}");
    assert_eq!(canary["answers"]["needed"], 300, "{canary}");
    assert!(
        canary["evidence"]
            .as_str()
            .unwrap()
            .contains("300 canary answers needed"),
        "{canary}"
    );
    assert_eq!(holder(d, "canary"), Some(2), "still the canary");

    // The canary's answers rank the cases no better than chance: the
    // production scores, shifted by one row (the same distribution, so no
    // guardrail fails; only the labels tell).
    let mut blind = t.production.clone();
    blind.rotate_left(1);
    serve(d, &t, "second", Some((2, &blind)));
    let mon = run_monitoring(d, "2026-03-05T11:00:00Z");
    let canary = &task(&mon, "canary")["output"];
    assert_eq!(canary["decision"], "rolled_back", "{canary}");
    assert_eq!(canary["answers"]["canary"], 1200, "{canary}");
    let (c, p) = (
        canary["auc_canary"].as_f64().unwrap(),
        canary["auc_production"].as_f64().unwrap(),
    );
    assert!(c < p - 0.02, "canary {c}, production {p}");
    assert_eq!(holder(d, "canary"), None, "alias removed");
    assert_eq!(holder(d, "production"), Some(1));
    let removed = audit(d)
        .into_iter()
        .find(|e| e["action"] == "alias_removed" && e["alias"] == "canary")
        .expect("the roll-back entry");
    let reason = removed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("canary rolled back: live AUC-ROC")
            && reason.contains(&format!("{c:.4} against production's {p:.4}"))
            && reason.contains("1200 canary answers (1200 labelled)"),
        "{reason}"
    );
    check_paths_exist(d, reason);
}

#[test]
fn a_canary_within_limits_is_promoted_with_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let snapshot = production(d);
    deploy_canary(d, &snapshot);
    // The canary's own scores. Within these limits: its live AUC-ROC at
    // most 0.2 below production's, and the two models (logistic and GBDT)
    // may score on different scales, so the score guardrail is wide.
    std::fs::write(
        d.join("fathom.toml"),
        format!(
            "{}max_score_psi = 100.0\n",
            ROLLOUT.replace("min_labels = 100", "min_labels = 100\ntolerance = 0.2")
        ),
    )
    .unwrap();
    let t = traffic(d, 1200);
    serve(d, &t, "first", Some((2, &t.canary)));
    let mon = run_monitoring(d, "2026-03-05T10:00:00Z");
    let canary = &task(&mon, "canary")["output"];
    assert_eq!(canary["decision"], "promoted", "{canary}");
    let (c, p) = (
        canary["auc_canary"].as_f64().unwrap(),
        canary["auc_production"].as_f64().unwrap(),
    );
    assert!(c >= p - 0.2, "canary {c}, production {p}");
    assert_eq!(holder(d, "canary"), None);
    assert_eq!(holder(d, "production"), Some(2));
    let promoted = audit(d)
        .into_iter()
        .find(|e| e["alias"] == "production" && e["version"] == 2)
        .expect("the promotion entry");
    let reason = promoted["reason"].as_str().unwrap();
    for s in [
        "canary promoted by the monitoring pipeline: live AUC-ROC",
        "guardrails held on the logged answers",
        "1200 canary answers (1200 labelled)",
        "; at deployment: training pipeline 2026-03-05",
        "training run ",
    ] {
        assert!(reason.contains(s), "{s} missing: {reason}");
    }
    check_paths_exist(d, reason);
}

#[test]
fn a_candidate_worse_than_production_is_registered_not_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let snapshot = production(d);
    // The baseline (a constant score) against production's GBDT, on the
    // same held-out rows, under the default tolerance.
    std::fs::write(
        d.join("fathom.toml"),
        "[train]\ncandidates = [\"baseline\"]\n[train.cv]\nfolds = 2\n",
    )
    .unwrap();
    let tr = run_training(d, "2026-03-06", &snapshot);
    assert_eq!(task(&tr, "register")["status"], "succeeded", "{tr}");
    assert_eq!(task(&tr, "register")["output"]["version"], 2, "{tr}");
    assert_eq!(task(&tr, "deploy")["status"], "skipped", "{tr}");
    let ev = &task(&tr, "evaluate")["output"];
    let (cand, prod, rows) = (
        ev["candidate"].as_f64().unwrap(),
        ev["production"].as_f64().unwrap(),
        ev["rows"].as_u64().unwrap(),
    );
    assert!(cand < prod, "{ev}");
    let figures = format!(
        "auc_pr {cand:.4} is worse than production's {prod:.4} on the same {rows} held-out rows"
    );
    let note = tr["run"]["note"].as_str().unwrap();
    assert!(
        note.contains("the gate refused the candidate") && note.contains(&figures),
        "{note}"
    );
    let registered = audit(d)
        .into_iter()
        .find(|e| e["action"] == "version_registered" && e["version"] == 2)
        .expect("the registration entry");
    let reason = registered["reason"].as_str().unwrap();
    assert!(
        reason.contains("not deployed, the gate refused the candidate")
            && reason.contains(&figures),
        "{reason}"
    );
    assert_eq!(holder(d, "canary"), None);
    assert_eq!(holder(d, "production"), Some(1), "production unchanged");
}
