//! `fathom monitor` (the whole check of a registered model) end to end:
//! traffic after a shift is found, reported and recorded; concept drift is
//! a performance drop without input drift; alerts reach their routes once.

mod common;

use common::{fathom, ok, ok_json, serve_scenario, text};
use serde_json::Value;

#[test]
fn traffic_after_a_shift_is_found_reported_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    // Traffic after a sudden shift, answered and labelled.
    let served = serve_scenario(d, "sudden", "3", 4000) as u64;
    let done = ok_json(d, &["--json", "monitor", "--model", "fraud@production"]);
    let report = &done["report"];
    assert_eq!(report["model"], "fraud");
    assert_eq!(report["version"], 1);
    assert_eq!(report["predictions"].as_u64(), Some(served));
    assert_eq!(report["labelled"].as_u64(), Some(served));
    let drift = &report["drift"];
    assert_ne!(drift["verdict"], "none");
    let drifted: Vec<&str> = drift["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // The clients send the contract's fields: no schema change.
    assert_eq!(
        report["quality"]["schema"]["changed"], false,
        "{}",
        report["quality"]
    );
    // The shift is to online and contactless shopping.
    assert!(drifted.contains(&"device_type"), "{drifted:?}");
    assert!(drifted.contains(&"entry_mode"), "{drifted:?}");
    // The model's score is compared too (the reference scored by the model).
    assert!(drift["prediction"]["test"].is_string(), "{drift}");

    // Reports on disk, and the run records them as artifacts.
    let html = std::fs::read_to_string(d.join(done["files"]["html"].as_str().unwrap())).unwrap();
    assert!(html.contains("entry_mode"));
    for section in [
        "Decision",
        "Alerts",
        "Data quality",
        "Live performance",
        "System and business signals",
        "Features",
    ] {
        assert!(
            html.contains(&format!(">{section}<")),
            "no {section} section"
        );
    }
    assert!(html.contains("<svg") && !html.contains("<script"));
    let json_file: Value = serde_json::from_slice(
        &std::fs::read(d.join(done["files"]["json"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(json_file["model"], "fraud");
    let run = done["run"].as_i64().unwrap().to_string();
    let shown = ok_json(d, &["--json", "runs", "show", &run]);
    assert_eq!(shown["info"]["experiment"], "fraud-monitoring");
    assert_eq!(shown["info"]["status"], "finished");
    let names: Vec<&str> = shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"report.html") && names.contains(&"report.json"),
        "{names:?}"
    );
    assert_eq!(
        shown["metrics"]["drift_score"]["value"].as_f64(),
        drift["share_drifted"].as_f64()
    );
    assert_eq!(
        shown["metrics"]["drift:entry_mode"]["value"].as_f64(),
        Some(1.0)
    );
}

#[test]
fn an_empty_window_is_a_verdict_and_bad_references_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "5000", "--requests", "0"],
    );
    // No prediction log yet: say how to get one.
    let o = fathom(d, &["monitor"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("fathom serve"), "{}", text(&o));

    std::fs::create_dir_all(d.join(".fathom").join("predictions")).unwrap();
    let done = ok_json(d, &["--json", "monitor", "--window", "30m"]);
    assert_eq!(done["report"]["predictions"].as_u64(), Some(0));
    assert!(done["report"]["drift"].is_null());
    assert!(
        done["summary"]
            .as_str()
            .unwrap()
            .contains("no predictions of fraud in the last 30m"),
        "{}",
        done["summary"]
    );

    for (args, says) in [
        (vec!["monitor", "--model", "fraud@9"], "fraud@9"),
        (
            vec!["monitor", "--model", "nosuch@production"],
            "nosuch@production",
        ),
        (vec!["monitor", "--window", "1y"], "--window"),
    ] {
        let o = fathom(d, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}

/// Measures over every labelled prediction of the window.
const WHOLE_WINDOW: &str = "[monitor.performance]\nwindows = [{ last = 100000 }]\n";

#[test]
fn concept_drift_is_a_performance_drop_without_input_drift() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fathom.toml"), WHOLE_WINDOW).unwrap();
    ok(
        d,
        &["-q", "quickstart", "--rows", "30000", "--requests", "0"],
    );
    let served = serve_scenario(d, "concept", "7", 16000);
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let r = &done["report"];
    assert_eq!(r["predictions"].as_u64(), Some(served as u64));
    assert_eq!(r["labelled"].as_u64(), Some(served as u64));
    // The inputs did not move …
    assert_eq!(r["drift"]["verdict"], "none", "{}", r["drift"]);
    // The labels that came back are compared with the training labels too.
    assert!(
        r["drift"]["label"]["test"].is_string(),
        "{}",
        r["drift"]["label"]
    );
    assert_eq!(
        r["drift"]["label"]["current_summary"]["values"].as_u64(),
        Some(served as u64)
    );
    // … but the model no longer separates fraud as it did on the holdout.
    let p = &r["performance"];
    assert_eq!(p["degraded"], true, "{p}");
    let w = &p["windows"][0];
    let auc = w["auc_roc"].as_f64().unwrap();
    let drop = w["vs_baseline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "auc_roc")
        .unwrap()["drop"]
        .as_f64()
        .unwrap();
    assert!(drop > 0.05, "AUC-ROC {auc}, drop {drop}");
    // The policy calls it concept drift and retrains.
    let decision = &r["decision"];
    assert_eq!(decision["action"], "retrain", "{decision}");
    let reasons = decision["reasons"].to_string().to_lowercase();
    assert!(reasons.contains("concept drift"), "{reasons}");
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(d.join(done["files"]["decision"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(&on_disk, decision);
}

#[test]
fn a_sudden_shift_is_input_drift_and_alerts_reach_their_routes_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A local webhook receiver standing in for the chat tool.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        for stream in receiver.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .unwrap();
            tx.send(format!(
                "{} {}",
                first.trim(),
                String::from_utf8(body).unwrap()
            ))
            .unwrap();
        }
    });
    std::fs::write(
        d.join("fathom.toml"),
        format!(
            r#"{WHOLE_WINDOW}
[[monitor.alerts]]
name = "inputs-moved"
signal = "drift_score"
condition = ">= 0.1"
severity = "warning"
owner = "data-science"
routes = ["ds-chat"]

[monitor.routes.ds-chat]
kind = "webhook"
url = "http://127.0.0.1:{port}/hook"

[monitor.routes.oncall-log]
kind = "log"
path = "oncall.jsonl"

[monitor.escalation]
oncall = "platform-oncall"
oncall_routes = ["oncall-log"]
"#
        ),
    )
    .unwrap();
    ok(
        d,
        &["-q", "quickstart", "--rows", "30000", "--requests", "0"],
    );
    serve_scenario(d, "sudden", "8", 8000);
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let r = &done["report"];
    let verdict = r["drift"]["verdict"].as_str().unwrap();
    assert!(verdict == "warn" || verdict == "severe", "{}", r["drift"]);
    let drifted: Vec<&str> = r["drift"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(drifted.contains(&"is_online"), "{drifted:?}");

    // First the on-call team hears of it (its log), then the data-science
    // owner gets it in its chat (a Slack-compatible message).
    let kinds: Vec<(&str, &str)> = r["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap(), n["team"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("firing", "platform-oncall"), ("handoff", "data-science")]
    );
    let oncall = std::fs::read_to_string(d.join("oncall.jsonl")).unwrap();
    assert_eq!(oncall.lines().count(), 1, "{oncall}");
    let line: Value = serde_json::from_str(oncall.trim()).unwrap();
    assert_eq!(line["rule"], "inputs-moved");
    let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    let (request_line, body) = got
        .split_once(' ')
        .map(|(m, rest)| {
            let (path, body) = rest.split_once(' ').unwrap();
            (format!("{m} {path}"), body.to_string())
        })
        .unwrap();
    assert_eq!(request_line, "POST /hook");
    let body = body
        .split_once(' ')
        .map_or(body.as_str(), |(_, b)| b)
        .to_string();
    let slack: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(
        slack["text"].as_str().unwrap().contains("inputs-moved"),
        "{slack}"
    );
    assert_eq!(slack["blocks"][0]["type"], "section");
    assert!(
        done["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["delivered"] == true)
    );

    // The next check still sees the drift: the alert keeps firing, nobody
    // is told twice.
    let again = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    assert_eq!(
        again["report"]["notifications"].as_array().unwrap().len(),
        0
    );
    assert_eq!(again["report"]["firing"][0], "inputs-moved/drift_score");
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("oncall.jsonl")).unwrap(),
        oncall
    );
}

/// Writes `n` answers of `fraud` version `version` with `inputs` made
/// `made_ago_ms` ago whose labels arrived `labelled_ago_ms` ago; scores follow the label
/// (with a few mistakes), so the AUC is high but not 1.
fn log_old_answers(
    d: &std::path::Path,
    version: i64,
    n: u64,
    made_ago_ms: i64,
    labelled_ago_ms: i64,
    inputs: &str,
) {
    use fathom_predlog::{FeedbackRecord, LogConfig, PredictionLog, PredictionRecord, Variant};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let log = PredictionLog::open(LogConfig::new(d.join(".fathom").join("predictions"))).unwrap();
    for i in 0..n {
        let label = (i % 4 == 0) as u8 as f64;
        let noise = ((i * 37) % 100) as f64 / 100.0;
        let score = if i % 10 == 3 {
            noise
        } else {
            0.1 + 0.6 * label + 0.2 * noise
        };
        let request_id = format!("0190a1b2-{version:04x}-7000-8000-{i:012x}");
        log.append_detached(PredictionRecord {
            request_id: request_id.clone(),
            time_ms: now - made_ago_ms + i as i64,
            model: "fraud".into(),
            version,
            variant: Variant::Production,
            inputs: inputs.to_string().into(),
            score,
            decision: Some(score >= 0.5),
            latency_us: 300,
            degraded: false,
        })
        .unwrap();
        log.append_feedback_detached(FeedbackRecord {
            request_id,
            time_ms: now - labelled_ago_ms + i as i64,
            label,
        })
        .unwrap();
    }
    log.shutdown().unwrap();
}

#[test]
fn labels_that_arrive_days_late_are_measured_by_an_hourly_check() {
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "5000", "--requests", "0"],
    );
    // Answered three days ago, labelled yesterday; plus answers of
    // another version, which a check of version 1 leaves out.
    log_old_answers(d, 1, 400, 3 * DAY, DAY, "{}");
    log_old_answers(d, 7, 50, 3 * DAY, DAY, "{}");
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let report = &done["report"];
    // Nothing in the last hour to compare …
    assert_eq!(report["predictions"].as_u64(), Some(0));
    // … but the performance windows look back two weeks (the default
    // lookback) and find the 400 late-labelled answers of version 1.
    let windows = report["performance"]["windows"].as_array().unwrap();
    let last = &windows[0];
    assert_eq!(last["name"], "last 1000 labeled", "{last}");
    assert_eq!(last["labeled"].as_u64(), Some(400), "{last}");
    assert!(last["auc_roc"].as_f64().unwrap() > 0.8, "{last}");
    let span = &windows[1];
    assert_eq!(span["labeled"].as_u64(), Some(400), "{span}");

    // With the lookback off, only the check's window counts: nothing.
    std::fs::write(
        d.join("fathom.toml"),
        "[monitor.performance]\nlookback = \"0s\"\n",
    )
    .unwrap();
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let windows = done["report"]["performance"]["windows"].as_array().unwrap();
    assert_eq!(windows[0]["labeled"].as_u64(), Some(0));
    // A label delay longer than the answers' age leaves them pending.
    std::fs::write(
        d.join("fathom.toml"),
        "[monitor.performance]\nlabel_delay = \"4d\"\n",
    )
    .unwrap();
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let perf = &done["report"]["performance"];
    assert_eq!(perf["windows"][0]["labeled"].as_u64(), Some(0), "{perf}");
    assert_eq!(perf["pending_predictions"].as_u64(), Some(400), "{perf}");
}

#[test]
fn the_check_compares_with_the_profile_stored_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "20000", "--requests", "0"],
    );
    // Training kept the profile beside the model and as an artifact of
    // the version's run.
    let quick = d.join("fathom-quickstart");
    assert!(quick.join("model.reference.parquet").is_file());
    let version = ok_json(d, &["--json", "models", "show", "fraud@production"]);
    let run = version["version"]["run_id"].as_i64().unwrap().to_string();
    let shown = ok_json(d, &["--json", "runs", "show", &run]);
    let profile = shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "reference")
        .unwrap_or_else(|| panic!("no reference artifact in {shown}"))
        .clone();
    serve_scenario(d, "sudden", "3", 4000);

    // Without the training snapshot, the stored profile is the reference.
    let snapshots = d.join(".fathom").join("snapshots");
    let moved = d.join("snapshots-elsewhere");
    std::fs::rename(&snapshots, &moved).unwrap();
    let done = ok_json(d, &["--json", "monitor", "--model", "fraud@production"]);
    let report = &done["report"];
    let reference = report["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("reference profile (20,000 training rows"),
        "{reference}"
    );
    let drift = &report["drift"];
    assert_eq!(drift["reference_rows"].as_u64(), Some(20_000));
    let drifted: Vec<&str> = drift["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(drifted.contains(&"entry_mode"), "{drifted:?}");
    // The stored scores are the reference side of the prediction drift.
    assert!(drift["prediction"]["test"].is_string(), "{drift}");

    // The profile is verified like every artifact: an altered one is a
    // clear error that names it.
    let uri = profile["uri"].as_str().unwrap();
    let file = std::path::PathBuf::from(uri.strip_prefix("file://").unwrap());
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"not the profile").unwrap();
    let o = fathom(d, &["monitor", "--model", "fraud@production"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("reference profile of fraud@1"),
        "{}",
        text(&o)
    );
    std::fs::write(&file, good).unwrap();

    // A version without a stored profile (registered from a model file)
    // is compared with its training snapshot, as before profiles existed.
    std::fs::rename(&moved, &snapshots).unwrap();
    ok(
        d,
        &[
            "-q",
            "models",
            "register",
            "--name",
            "fraud",
            "--model-file",
            "fathom-quickstart/model.fathom",
        ],
    );
    ok(
        d,
        &[
            "-q",
            "models",
            "promote",
            "fraud",
            "2",
            "--force",
            "--reason",
            "a version without a profile",
        ],
    );
    serve_scenario(d, "sudden", "4", 4000);
    let done = ok_json(d, &["--json", "monitor", "--model", "fraud@2"]);
    assert_eq!(done["report"]["predictions"].as_u64(), Some(2000));
    let reference = done["report"]["reference"].as_str().unwrap();
    assert!(reference.starts_with("training snapshot"), "{reference}");
}

#[test]
fn a_field_added_and_a_feature_dropped_upstream_are_a_schema_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &["-q", "quickstart", "--rows", "5000", "--requests", "0"],
    );
    // Answers of the last minute whose clients send a field the contract
    // does not know and none of its features (the server ignores unknown
    // fields and answers with nulls).
    log_old_answers(d, 1, 120, 60_000, 30_000, r#"{"device_os": "ios"}"#);
    let done = ok_json(d, &["--json", "monitor", "--window", "1h"]);
    let quality = &done["report"]["quality"];
    assert_eq!(quality["schema"]["changed"], true, "{quality}");
    let finding = quality["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "schema_changed")
        .unwrap_or_else(|| panic!("no schema_changed finding in {quality}"));
    let message = finding["message"].as_str().unwrap();
    for says in [
        "new field 'device_os'",
        "feature 'amount' absent from every answer",
        "another contract",
    ] {
        assert!(message.contains(says), "{says}: {message}");
    }
    // And the alert rules see it as a signal.
    let run = done["run"].as_i64().unwrap().to_string();
    let shown = ok_json(d, &["--json", "runs", "show", &run]);
    assert_eq!(
        shown["metrics"]["schema_changed"]["value"].as_f64(),
        Some(1.0),
        "{}",
        shown["metrics"]
    );
}
