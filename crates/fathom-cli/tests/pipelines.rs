//! The built-in pipelines end to end through the binary: data batches
//! validated and snapshotted (idempotent by date, a bad batch stopped and
//! its owner alerted, a fixed one resumed), training gated and deployed as
//! the canary, monitoring that decides to retrain and queues training, the
//! canary promoted after its period, single tasks run on their own, and
//! `fathom pipeline run --queued` running what was queued; the built-in
//! schedules and the logical dates of a pipeline whose schedule is off.

mod common;

use common::{fathom, ok, ok_json, serve_scenario, text};
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

const CONFIG: &str = r#"
[data]
source = "landing/tx-{date}.csv"
schema = "fathom-quickstart/schema.toml"

[registry.promotion]
tolerance = 1.0

[monitor.performance]
windows = [{ last = 100000 }]

[rollout]
canary_period = "0s"

# The canary here answers nothing (the traffic is logged as production's):
# no minimum of answers, so the guardrails and labels decide at once.
[serve.guardrails]
min_requests = 0
"#;

#[test]
fn the_closed_loop_from_a_batch_to_a_promoted_canary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    std::fs::write(d.join("fathom.toml"), CONFIG).unwrap();
    std::fs::create_dir_all(d.join("landing")).unwrap();
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "20000",
            "--seed",
            "5",
            "--start",
            "2024-04-01",
            "--days",
            "30",
            "-o",
            "landing/tx-2026-03-02.csv",
        ],
    );

    // data: every task, then the same date again is a no-op.
    let (code, v) = run_json(
        d,
        &["--json", "pipeline", "run", "data", "--date", "2026-03-02"],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "ran");
    for t in [
        "ingest",
        "validate",
        "snapshot",
        "reference",
        "quality_report",
    ] {
        assert_eq!(task(&v, t)["status"], "succeeded", "{t}: {v}");
    }
    // The first batch has no reference window yet: nothing to compare.
    assert_eq!(
        task(&v, "reference")["output"]["window"],
        serde_json::json!([])
    );
    assert!(task(&v, "quality_report")["output"]["drift"].is_null());
    let snapshot = task(&v, "snapshot")["output"]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        d.join(
            task(&v, "quality_report")["output"]["report"]
                .as_str()
                .unwrap()
        )
        .is_file()
    );
    let (code, again) = run_json(
        d,
        &["--json", "pipeline", "run", "data", "--date", "2026-03-02"],
    );
    assert_eq!(
        (code, again["outcome"].as_str()),
        (0, Some("already_succeeded")),
        "{again}"
    );

    // One task at a time, like an orchestrator running each step: a task
    // whose upstream has not run is refused and told what to run first;
    // each task is idempotent; the rest of the run waits in the queue.
    std::fs::copy(
        d.join("landing/tx-2026-03-02.csv"),
        d.join("landing/tx-2026-03-04.csv"),
    )
    .unwrap();
    let one = |task: &str| {
        run_json(
            d,
            &[
                "--json",
                "pipeline",
                "run",
                "data",
                "--date",
                "2026-03-04",
                "--task",
                task,
            ],
        )
    };
    let o = fathom(
        d,
        &[
            "pipeline",
            "run",
            "data",
            "--date",
            "2026-03-04",
            "--task",
            "validate",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("needs ingest to have succeeded for this date first")
            && text(&o).contains("--task ingest"),
        "{}",
        text(&o)
    );
    let (code, ingest) = one("ingest");
    assert_eq!(code, 0, "{ingest}");
    assert_eq!(task(&ingest, "ingest")["status"], "succeeded");
    assert_eq!(ingest["run"]["status"], "queued");
    let (code, again) = one("ingest");
    assert_eq!(
        (code, task(&again, "ingest")["reused"].as_bool()),
        (0, Some(true))
    );
    let (code, validate) = one("validate");
    assert_eq!(code, 0, "{validate}");
    assert_eq!(task(&validate, "validate")["status"], "succeeded");
    assert!(
        validate["run"]["note"]
            .as_str()
            .unwrap()
            .contains("left to run: snapshot, reference, quality_report"),
        "{validate}"
    );

    // A batch that breaks the contract stops at validate, for good, and
    // its owner is told (on-call log).
    let good = std::fs::read_to_string(d.join("landing/tx-2026-03-02.csv")).unwrap();
    let broken: String = good
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                // The amount column (fourth) becomes text.
                let mut cells: Vec<&str> = l.split(',').collect();
                cells[3] = "lots";
                cells.join(",")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("landing/tx-2026-03-03.csv"), &broken).unwrap();
    let (code, bad) = run_json(
        d,
        &["--json", "pipeline", "run", "data", "--date", "2026-03-03"],
    );
    assert_eq!(code, 1, "{bad}");
    assert_eq!(task(&bad, "validate")["status"], "failed");
    assert_eq!(
        task(&bad, "validate")["attempts"],
        1,
        "a broken batch is not retried"
    );
    assert_eq!(task(&bad, "snapshot")["status"], "upstream_failed");
    assert_eq!(bad["alerts"][0]["owner"], "data-platform");
    let alerts = std::fs::read_to_string(d.join(".fathom/alerts.jsonl")).unwrap();
    assert!(
        alerts.contains("data-platform") && alerts.contains("validate"),
        "{alerts}"
    );
    // Fixed: the run resumes; ingest's output is reused.
    std::fs::write(d.join("landing/tx-2026-03-03.csv"), &good).unwrap();
    let (code, fixed) = run_json(
        d,
        &["--json", "pipeline", "run", "data", "--date", "2026-03-03"],
    );
    assert_eq!(code, 0, "{fixed}");
    assert_eq!(fixed["resumed"], true);
    assert_eq!(task(&fixed, "ingest")["reused"], true);
    assert_eq!(task(&fixed, "validate")["status"], "succeeded");
    // The batch is compared with its reference window: the validated
    // batch of the day before (the same rows here, so nothing drifted).
    let window = &task(&fixed, "reference")["output"]["window"];
    assert_eq!(window.as_array().map(Vec::len), Some(1), "{window}");
    assert_eq!(window[0]["date"], "2026-03-02", "{window}");
    let drift = &task(&fixed, "quality_report")["output"]["drift"];
    assert_eq!(drift["verdict"], "none", "{drift}");
    assert_eq!(drift["reference_rows"], 20000, "{drift}");
    let html = std::fs::read_to_string(d.join(drift["report"].as_str().unwrap())).unwrap();
    assert!(html.contains("reference window: 2026-03-02 (1 batches)"));

    // training: the newest validated data, compared with production on the
    // same held-out rows, deployed as the canary.
    let (code, tr) = run_json(
        d,
        &[
            "--json",
            "pipeline",
            "run",
            "training",
            "--date",
            "2026-03-03",
        ],
    );
    assert_eq!(code, 0, "{tr}");
    assert_eq!(
        task(&tr, "snapshot")["output"]["snapshot"],
        snapshot.as_str()
    );
    let ev = &task(&tr, "evaluate")["output"];
    assert_eq!(ev["metric"], "auc_pr");
    assert_eq!(ev["production_version"], 1);
    assert!(
        ev["candidate"].is_f64() && ev["production"].is_f64(),
        "{ev}"
    );
    assert_eq!(task(&tr, "deploy")["output"]["alias"], "canary");
    let models = ok_json(d, &["--json", "models", "show", "fraud"]);
    let aliases = models.to_string();
    assert!(aliases.contains("\"canary\""), "{aliases}");

    // Traffic after a concept switch, labelled. The first monitoring run
    // promotes the canary (period 0s, guardrails held, too few canary
    // labels to compare) and so does not retrain yet; the next hour's run
    // judges the new production on its own answers, decides to retrain
    // and queues training.
    serve_scenario(d, "concept", "7", 16000);
    let (code, mon) = run_json(
        d,
        &[
            "--json",
            "pipeline",
            "run",
            "monitoring",
            "--date",
            "2026-03-03T10:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{mon}");
    assert_eq!(task(&mon, "check")["output"]["action"], "retrain", "{mon}");
    let canary = &task(&mon, "canary")["output"];
    assert_eq!(canary["decision"], "promoted", "{canary}");
    let decide = &task(&mon, "decide")["output"];
    assert_eq!(decide["triggered"], false, "{decide}");
    assert!(
        decide["note"]
            .as_str()
            .unwrap()
            .contains("promoted in this run"),
        "{decide}"
    );
    let audit = text(&ok(d, &["audit", "--model", "fraud"]));
    assert!(
        audit.contains("canary promoted by the monitoring pipeline"),
        "{audit}"
    );
    assert!(
        audit.contains("at deployment"),
        "the gate's evidence: {audit}"
    );
    serve_scenario(d, "concept", "8", 16000);
    let (code, mon) = run_json(
        d,
        &[
            "--json",
            "pipeline",
            "run",
            "monitoring",
            "--date",
            "2026-03-03T11:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{mon}");
    assert_eq!(task(&mon, "canary")["output"]["canary"], Value::Null);
    let decide = &task(&mon, "decide")["output"];
    assert_eq!(decide["triggered"], true, "{decide}");
    assert_eq!(decide["date"], "2026-03-03T11:00:00Z");

    let history = ok_json(d, &["--json", "pipeline", "history", "training"]);
    let queued = history
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"]["trigger"] == "policy")
        .unwrap_or_else(|| panic!("no policy-triggered training in {history}"));
    assert_eq!(queued["run"]["status"], "queued");
    assert!(
        queued["run"]["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("concept drift"),
        "{queued}"
    );

    // `pipeline run --queued` (a CronJob where no scheduler runs) runs
    // what waits, oldest first: the rest of the data run left by the
    // single tasks, then the training the policy queued.
    let (code, waiting) = run_json(d, &["--json", "pipeline", "run", "--queued"]);
    assert_eq!(code, 0, "{waiting}");
    let rows: Vec<(&str, &str, &str, &str)> = waiting
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["pipeline"].as_str().unwrap(),
                r["logical_date"].as_str().unwrap(),
                r["trigger"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("data", "2026-03-04", "manual", "succeeded"),
            ("training", "2026-03-03T11:00:00Z", "policy", "succeeded"),
        ],
        "{waiting}"
    );
    assert_eq!(waiting[0]["outcome"], "resumed");
    let (code, none) = run_json(d, &["--json", "pipeline", "run", "--queued", "training"]);
    assert_eq!((code, none), (0, Value::Array(vec![])));
}

#[test]
fn built_in_schedules_and_dates_of_a_pipeline_whose_schedule_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The defaults: data daily 02:00, training Sunday 03:00, monitoring
    // hourly, all UTC, each catching up the latest missed run only.
    let status = ok_json(d, &["--json", "pipeline", "status"]);
    let got: Vec<(&str, &str, &str, bool)> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["pipeline"].as_str().unwrap(),
                r["schedule"].as_str().unwrap(),
                r["catch_up"].as_str().unwrap(),
                r["enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("data", "0 2 * * *", "latest", true),
            ("training", "0 3 * * 0", "latest", true),
            ("monitoring", "0 * * * *", "latest", true),
        ]
    );

    // Started from outside (enabled = false), the hourly pipeline's date
    // is still its hour, not the day.
    std::fs::write(
        d.join("fathom.toml"),
        "[pipelines.monitoring]\nenabled = false\n",
    )
    .unwrap();
    let status = text(&ok(d, &["pipeline", "status"]));
    assert!(status.contains("0 * * * * (disabled)"), "{status}");
    let (_, run) = run_json(d, &["--json", "pipeline", "run", "monitoring"]);
    let date = run["run"]["logical_date"].as_str().unwrap();
    let hour = chrono::DateTime::parse_from_rfc3339(date)
        .unwrap_or_else(|e| panic!("{date}: {e}"))
        .with_timezone(&chrono::Utc);
    assert_eq!(hour.format("%M:%S").to_string(), "00:00", "an hour: {date}");
    let age = chrono::Utc::now() - hour;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::hours(2),
        "the latest hour: {date}"
    );
    let (code, empty) = run_json(d, &["--json", "pipeline", "run", "--queued"]);
    assert_eq!((code, empty), (0, Value::Array(vec![])));
}

#[test]
fn a_worse_candidate_is_not_deployed_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    let snapshot = ok_json(d, &["--json", "data", "snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A threshold no model reaches: the gate stops the run with its reason,
    // nothing is deployed, and the run still succeeds (a finding, not a
    // failure).
    std::fs::write(
        d.join("fathom.toml"),
        "[registry.promotion]\nthreshold = 0.999\n",
    )
    .unwrap();
    let (code, tr) = run_json(
        d,
        &[
            "--json",
            "pipeline",
            "run",
            "training",
            "--date",
            "2026-03-05",
            "--snapshot",
            &snapshot,
        ],
    );
    assert_eq!(code, 0, "{tr}");
    assert_eq!(task(&tr, "deploy")["status"], "skipped", "{tr}");
    let note = tr["run"]["note"].as_str().unwrap();
    assert!(
        note.contains("the gate refused the candidate") && note.contains("threshold"),
        "{note}"
    );
    let shown = ok_json(d, &["--json", "models", "show", "fraud"]).to_string();
    assert!(!shown.contains("\"canary\""), "{shown}");

    // Settings that cannot work are refused before anything runs.
    for (toml, says) in [
        (
            "[pipelines.data]\nschedule = \"61 * * * *\"\n",
            "pipelines.data",
        ),
        (
            "[pipelines.nightly]\nschedule = \"0 1 * * *\"\n",
            "no pipeline named 'nightly'",
        ),
        ("[pipelines.training.tasks.fly]\nretries = 1\n", "fly"),
    ] {
        std::fs::write(d.join("fathom.toml"), toml).unwrap();
        let o = fathom(d, &["pipeline", "status"]);
        assert_eq!(o.status.code(), Some(1), "{toml}");
        assert!(text(&o).contains(says), "{toml}: {}", text(&o));
    }
}
