//! `fathom monitor` (the whole check of a registered model) end to end:
//! quickstart serves normal and shifted traffic, the check finds the
//! shift, writes its reports and records itself as a run.

mod common;

use common::{fathom, ok, text};
use serde_json::Value;
use std::path::Path;

fn json(dir: &Path, args: &[&str]) -> Value {
    let o = ok(dir, args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

#[test]
fn quickstart_traffic_after_a_shift_is_found_reported_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let qs = json(
        d,
        &[
            "--json",
            "quickstart",
            "--rows",
            "20000",
            "--requests",
            "400",
        ],
    );
    // Quickstart's own monitoring step saw the shift.
    let verdict = qs["monitor"]["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("drift warn") || verdict.starts_with("drift severe"),
        "{verdict}"
    );

    let done = json(d, &["--json", "monitor", "--model", "fraud@production"]);
    let report = &done["report"];
    assert_eq!(report["model"], "fraud@1");
    assert_eq!(report["predictions"].as_u64(), Some(800));
    // One in ten answers got its label as feedback.
    assert_eq!(report["labelled"].as_u64(), Some(80));
    let drift = &report["drift"];
    assert_ne!(drift["verdict"], "none");
    let drifted: Vec<&str> = drift["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // The shift is to online and contactless shopping.
    assert!(drifted.contains(&"device_type"), "{drifted:?}");
    assert!(drifted.contains(&"entry_mode"), "{drifted:?}");
    // The model's score is compared too (the reference scored by the model).
    assert!(drift["prediction"]["test"].is_string(), "{drift}");

    // Reports on disk, and the run records them as artifacts.
    let html = std::fs::read_to_string(d.join(done["files"]["html"].as_str().unwrap())).unwrap();
    assert!(html.contains("entry_mode"));
    let json_file: Value = serde_json::from_slice(
        &std::fs::read(d.join(done["files"]["json"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(json_file["model"], "fraud@1");
    let run = done["run"].as_i64().unwrap().to_string();
    let shown = json(d, &["--json", "runs", "show", &run]);
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
    let done = json(d, &["--json", "monitor", "--window", "30m"]);
    assert_eq!(done["report"]["predictions"].as_u64(), Some(0));
    assert!(done["report"]["drift"].is_null());
    assert!(
        done["report"]["verdict"]
            .as_str()
            .unwrap()
            .contains("no predictions of fraud in the last 30m"),
        "{}",
        done["report"]
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
