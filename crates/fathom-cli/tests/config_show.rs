//! `fathom config show`: every key of the merged settings with its value
//! and source (default, the file, an environment variable, a flag);
//! secrets redacted; an invalid file is the same clear error as for any
//! other command.

mod common;
use common::{fathom_with, text};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = r#"
[data]
rows = 1000

[train]
candidates = ["gbdt", "logistic"]

[train.gbdt]
num_rounds = 20

[features]
clip = { method = "iqr", k = 3.0 }

[store]
database = "postgres://fathom:hunter2@db.example/runs"

[[registry.webhooks]]
url = "https://ci.example/hook"
secret = "webhook-secret-value"

[monitor.routes.slack]
kind = "webhook"
url = "https://hooks.slack.example/services/T0/B0/SLACKPATH"
"#;

/// `--json config show` as key → entry.
fn show(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["config", "show"]);
    let o = fathom_with(dir, &full, env);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for secret in ["hunter2", "webhook-secret-value", "SLACKPATH"] {
        assert!(!out.contains(secret), "{secret} shown:\n{out}");
    }
    let list: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut by_key = BTreeMap::new();
    for e in list {
        let key = e["key"].as_str().unwrap().to_string();
        assert!(by_key.insert(key.clone(), e).is_none(), "{key} twice");
    }
    by_key
}

fn is(e: &BTreeMap<String, Value>, key: &str, value: Value, source: &str, kind: &str) {
    let got = e.get(key).unwrap_or_else(|| panic!("no key {key}"));
    assert_eq!(
        got,
        &json!({"key": key, "value": value, "source": source, "kind": kind})
    );
}

#[test]
fn each_setting_names_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fathom.toml"), FILE).unwrap();
    let env = [("FATHOM_STORE", "elsewhere"), ("FATHOM_SEED", "7")];
    let e = show(d, &[], &env);
    // The file's keys, nested and inline-table keys included.
    is(&e, "data.rows", json!(1000), "fathom.toml", "file");
    is(
        &e,
        "train.candidates",
        json!(["gbdt", "logistic"]),
        "fathom.toml",
        "file",
    );
    is(
        &e,
        "train.gbdt.num_rounds",
        json!(20),
        "fathom.toml",
        "file",
    );
    is(
        &e,
        "features.clip.method",
        json!("iqr"),
        "fathom.toml",
        "file",
    );
    is(&e, "features.clip.k", json!(3.0), "fathom.toml", "file");
    is(
        &e,
        "monitor.routes.slack.kind",
        json!("webhook"),
        "fathom.toml",
        "file",
    );
    // The environment over the file and the defaults.
    is(
        &e,
        "store.path",
        json!("elsewhere"),
        "env FATHOM_STORE",
        "env",
    );
    is(&e, "data.seed", json!(7), "env FATHOM_SEED", "env");
    is(&e, "train.seed", json!(7), "env FATHOM_SEED", "env");
    // Defaults, as the engine crates define them.
    let gbdt = fathom_learn::trainer::default_gbdt();
    is(
        &e,
        "train.gbdt.learning_rate",
        json!(gbdt.learning_rate),
        "default",
        "default",
    );
    is(
        &e,
        "train.gbdt.num_leaves",
        json!(gbdt.num_leaves),
        "default",
        "default",
    );
    is(&e, "data.fraud_rate", json!(0.015), "default", "default");
    is(
        &e,
        "serve.listen",
        json!("127.0.0.1:8080"),
        "default",
        "default",
    );
    is(
        &e,
        "registry.retention_days",
        json!(30),
        "default",
        "default",
    );
    // Secrets redacted, the rest of their values kept.
    is(
        &e,
        "store.database",
        json!("postgres://fathom:(redacted)@db.example/runs"),
        "fathom.toml",
        "file",
    );
    is(
        &e,
        "monitor.routes.slack.url",
        json!("https://hooks.slack.example/(redacted)"),
        "fathom.toml",
        "file",
    );
    let hooks = &e["registry.webhooks"];
    assert_eq!(hooks["value"][0]["secret"], "(redacted)");
    assert_eq!(hooks["value"][0]["url"], "https://ci.example/hook");
    // Every table is there; `[train.features]` is not a setting.
    for section in [
        "store", "data", "features", "train", "registry", "serve", "monitor",
    ] {
        assert!(
            e.keys().any(|k| k.starts_with(&format!("{section}."))),
            "no [{section}]"
        );
    }
    assert!(!e.keys().any(|k| k.starts_with("train.features")));
    // A flag beats the environment.
    let e = show(d, &["--store", "flagged"], &env);
    is(&e, "store.path", json!("flagged"), "flag --store", "flag");
    // The readable form: grouped by table, with the sources.
    let o = fathom_with(d, &["config", "show"], &env);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for s in [
        "config file fathom.toml",
        "[train]",
        "[monitor]",
        "env FATHOM_SEED",
        "train.gbdt.num_rounds",
    ] {
        assert!(out.contains(s), "{s} missing:\n{out}");
    }
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn no_file_means_defaults_and_another_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = show(d, &[], &[]);
    assert!(e.len() > 100, "{} keys", e.len());
    assert!(
        e.values().all(|x| x["kind"] == "default"),
        "{:?}",
        e.values().find(|x| x["kind"] != "default")
    );
    is(&e, "store.path", json!(".fathom"), "default", "default");
    std::fs::write(d.join("other.toml"), "[data]\nscenario = \"gradual\"\n").unwrap();
    let e = show(d, &["--config", "other.toml"], &[]);
    is(&e, "data.scenario", json!("gradual"), "other.toml", "file");
    is(&e, "data.rows", json!(200000), "default", "default");
}

#[test]
fn an_invalid_file_is_the_usual_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fathom.toml"), "[data]\nrowz = 10\n").unwrap();
    let o = fathom_with(d, &["config", "show"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fathom.toml is not a valid fathom config")
            && err.contains("unknown field `rowz`"),
        "{err}"
    );
    std::fs::write(d.join("fathom.toml"), "[data]\nrows = 10\n").unwrap();
    let o = fathom_with(d, &["config", "show"], &[("FATHOM_SEED", "many")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FATHOM_SEED=\"many\" is not valid"),
        "{}",
        text(&o)
    );
}
