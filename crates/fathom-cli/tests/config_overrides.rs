//! The generic environment overrides `FATHOM_<SECTION>__<KEY>` and the
//! merged view of `fathom config show`: every key with its effective
//! value (the built-in pipelines' schedules, owners and task settings,
//! unset optional sections) and where it came from.

mod common;
use common::{fathom_with, text};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// `--json config show` as key → (value, source).
fn show(dir: &Path, env: &[(&str, &str)]) -> BTreeMap<String, (Value, String)> {
    let o = fathom_with(dir, &["--json", "config", "show"], env);
    assert!(o.status.success(), "{}", text(&o));
    let list: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    list.into_iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                (
                    e["value"].clone(),
                    e["source"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn is(e: &BTreeMap<String, (Value, String)>, key: &str, value: Value, source: &str) {
    let got = e.get(key).unwrap_or_else(|| panic!("no key {key}"));
    assert_eq!(got, &(value, source.to_string()), "{key}");
}

/// Runs `config show` with `env` and expects it to fail; its stderr.
fn refused(dir: &Path, env: &[(&str, &str)]) -> String {
    let o = fathom_with(dir, &["config", "show"], env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn nested_keys_are_overridden_by_name_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fathom.toml"),
        "[train.gbdt]\nnum_rounds = 20\n[pipelines.training]\nschedule = \"0 4 * * 0\"\n",
    )
    .unwrap();
    let e = show(
        d,
        &[
            ("FATHOM_TRAIN__GBDT__NUM_ROUNDS", "50"),
            ("FATHOM_ROLLOUT__CANARY_PERIOD", "2h"),
            ("FATHOM_PIPELINES__DATA__TASKS__INGEST__RETRIES", "4"),
            ("FATHOM_TRAIN__CV", "{ folds = 3 }"),
            ("FATHOM_SERVE__GUARDRAILS__ENABLED", "false"),
            ("FATHOM_STORE__PATH", "generic"),
            ("FATHOM_STORE", "named"),
        ],
    );
    // A number, a text without quotes, a task of a pipeline, an inline
    // table, a boolean; the environment beats the file.
    is(
        &e,
        "train.gbdt.num_rounds",
        json!(50),
        "env FATHOM_TRAIN__GBDT__NUM_ROUNDS",
    );
    is(
        &e,
        "rollout.canary_period",
        json!("2h"),
        "env FATHOM_ROLLOUT__CANARY_PERIOD",
    );
    is(
        &e,
        "pipelines.data.tasks.ingest.retries",
        json!(4),
        "env FATHOM_PIPELINES__DATA__TASKS__INGEST__RETRIES",
    );
    is(&e, "train.cv.folds", json!(3), "env FATHOM_TRAIN__CV");
    is(
        &e,
        "train.cv.metric",
        json!("auc_pr"),
        "env FATHOM_TRAIN__CV",
    );
    is(
        &e,
        "serve.guardrails.enabled",
        json!(false),
        "env FATHOM_SERVE__GUARDRAILS__ENABLED",
    );
    // The file's other keys stay, the named variable beats the generic one.
    is(
        &e,
        "pipelines.training.schedule",
        json!("0 4 * * 0"),
        "fathom.toml",
    );
    is(&e, "store.path", json!("named"), "env FATHOM_STORE");
    // The readable form names the rule.
    let o = fathom_with(
        d,
        &["config", "show"],
        &[("FATHOM_TRAIN__GBDT__NUM_ROUNDS", "50")],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("FATHOM_<SECTION>__<KEY>")
            && out.contains("env FATHOM_TRAIN__GBDT__NUM_ROUNDS"),
        "{out}"
    );
}

#[test]
fn bad_values_and_unknown_keys_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = refused(d, &[("FATHOM_DATA__ROWS", "many")]);
    assert!(
        err.contains("FATHOM_DATA__ROWS=\"many\" (setting data.rows) is not valid")
            && err.contains("expected u64"),
        "{err}"
    );
    let err = refused(d, &[("FATHOM_TRAIN__GBDT__NUM_ROUND", "5")]);
    assert!(
        err.contains("FATHOM_TRAIN__GBDT__NUM_ROUND")
            && err.contains("unknown field `num_round`")
            && err.contains("num_rounds"),
        "{err}"
    );
    let err = refused(d, &[("FATHOM_SERVEX__LISTEN", "0.0.0.0:1")]);
    assert!(
        err.contains("FATHOM_SERVEX__LISTEN") && err.contains("unknown field `servex`"),
        "{err}"
    );
    // A map section takes any name; the pipeline check then names the
    // variable.
    let err = refused(d, &[("FATHOM_PIPELINES__NIGHTLY__SCHEDULE", "0 1 * * *")]);
    assert!(
        err.contains("FATHOM_PIPELINES__NIGHTLY__SCHEDULE")
            && err.contains("no pipeline named 'nightly'"),
        "{err}"
    );
    // A cron the schedule cannot read.
    let err = refused(d, &[("FATHOM_PIPELINES__DATA__SCHEDULE", "61 * * * *")]);
    assert!(err.contains("FATHOM_PIPELINES__DATA__SCHEDULE"), "{err}");
}

#[test]
fn the_merged_view_shows_built_in_pipelines_and_unset_sections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fathom.toml"),
        "[pipelines.monitoring]\nowner = \"ml-oncall\"\n[pipelines.monitoring.tasks.check]\ntimeout_secs = 60\n",
    )
    .unwrap();
    let e = show(d, &[]);
    // The built-in schedules, catch-up, owners and task settings.
    is(&e, "pipelines.data.schedule", json!("0 2 * * *"), "default");
    is(
        &e,
        "pipelines.training.schedule",
        json!("0 3 * * 0"),
        "default",
    );
    is(
        &e,
        "pipelines.monitoring.schedule",
        json!("0 * * * *"),
        "default",
    );
    is(&e, "pipelines.data.catch_up", json!("latest"), "default");
    is(
        &e,
        "pipelines.training.owner",
        json!("data-science"),
        "default",
    );
    is(
        &e,
        "pipelines.training.tasks.train.retries",
        json!(1),
        "default",
    );
    is(
        &e,
        "pipelines.monitoring.tasks.canary.owner",
        json!("platform-oncall"),
        "default",
    );
    // The file's changes to them.
    is(
        &e,
        "pipelines.monitoring.owner",
        json!("ml-oncall"),
        "fathom.toml",
    );
    is(
        &e,
        "pipelines.monitoring.tasks.check.timeout_secs",
        json!(60.0),
        "fathom.toml",
    );
    is(
        &e,
        "pipelines.monitoring.tasks.check.owner",
        json!("ml-oncall"),
        "default",
    );
    for task in [
        "snapshot", "train", "evaluate", "register", "gate", "deploy",
    ] {
        assert!(
            e.contains_key(&format!("pipelines.training.tasks.{task}.timeout_secs")),
            "{task}"
        );
    }
    // Optional training sections: shown, unset.
    for key in ["train.cv", "train.search", "train.feature_selection"] {
        is(&e, key, Value::Null, "default");
    }
    assert!(e.keys().any(|k| k.starts_with("train.ensemble.")));
    let o = fathom_with(d, &["config", "show"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.contains("train.cv ") && l.contains("(unset)")),
        "{out}"
    );
}
