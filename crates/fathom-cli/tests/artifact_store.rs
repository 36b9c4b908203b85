//! The artifact store and `fathom gc` from the command line: a training
//! whose artifacts go to an S3-compatible bucket (when
//! FATHOM_TEST_S3_ENDPOINT names one; `. .ci/s3-setup.sh` starts moto's
//! server) and a prediction from the registered version; `gc` as a dry run,
//! applied, audited, and a second time with nothing left to free.

mod common;
use common::{create_bucket, fathom_with, s3_env, text};
use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore};
use serde_json::Value;
use std::path::Path;

fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut all: Vec<(&str, &str)> = vec![("USER", "tester")];
    all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    fathom_with(dir, args, &all)
}

fn json(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let o = run(dir, &full, env);
    assert!(o.status.success(), "fathom {full:?} failed:\n{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// Generates a small data set and trains one quick candidate, registered
/// as model `fraud`.
fn train(dir: &Path, env: &[(&str, String)]) -> Value {
    let o = run(
        dir,
        &["-q", "data", "generate", "--rows", "3000", "-o", "t.csv"],
        env,
    );
    assert!(o.status.success(), "{}", text(&o));
    json(
        dir,
        &[
            "train",
            "--data",
            "t.csv",
            "--candidates",
            "logistic",
            "-o",
            "model.fathom",
            "--model",
            "fraud",
        ],
        env,
    )
}

/// Scores `t.csv` with `model` into `out` and returns the output's bytes.
fn predict(dir: &Path, model: &str, out: &str, env: &[(&str, String)]) -> Vec<u8> {
    let o = run(
        dir,
        &[
            "-q", "predict", "--model", model, "--input", "t.csv", "--output", out,
        ],
        env,
    );
    assert!(o.status.success(), "predict {model} failed:\n{}", text(&o));
    std::fs::read(dir.join(out)).unwrap()
}

#[test]
fn gc_dry_run_apply_audit_and_nothing_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &[]);
    let version = json(d, &["models", "show", "fraud@1"], &[]);
    let uri = version["version"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.starts_with("file://"), "{uri}");
    // Something nothing records, and a registered version's artifact.
    let store = LocalArtifactStore::new(d.join(".fathom/artifacts")).unwrap();
    let orphan = store
        .put_bytes(b"left behind by a crashed training")
        .unwrap();
    let orphan_path = fathom_registry::artifacts::uri_path(&orphan.uri).unwrap();

    // Too recent for the default minimum age: spared.
    let o = run(d, &["gc"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("nothing to delete"), "{out}");
    assert!(out.contains("spared 1 written within 1 h"), "{out}");

    // A dry run lists it and deletes nothing.
    let o = run(d, &["gc", "--min-age", "0s"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dry run: would delete 0 run(s) and 1 artifact(s)"),
        "{out}"
    );
    assert!(out.contains("unreferenced"), "{out}");
    assert!(out.contains("Nothing was deleted"), "{out}");
    assert!(orphan_path.exists());

    let applied = json(
        d,
        &["gc", "--min-age", "0s", "--apply", "--reason", "tidy"],
        &[],
    );
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["deleted_artifacts"], 1);
    assert_eq!(applied["freed_bytes"], orphan.size_bytes);
    assert_eq!(applied["plan"]["artifacts"][0]["uri"], orphan.uri.as_str());
    assert!(!orphan_path.exists());
    let audit = json(d, &["audit"], &[]);
    let entries: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "garbage_collected")
        .collect();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["reason"], "tidy");
    assert_eq!(entries[0]["id"], applied["audit_id"]);

    // Again: nothing to free, no new audit entry; the model still scores.
    let again = json(d, &["gc", "--min-age", "0s", "--apply"], &[]);
    assert_eq!(again["deleted_artifacts"], 0);
    assert_eq!(again["plan"]["artifacts"].as_array().unwrap().len(), 0);
    assert_eq!(again["audit_id"], Value::Null);
    let audit = json(d, &["audit"], &[]);
    let n = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "garbage_collected")
        .count();
    assert_eq!(n, 1);
    assert!(
        again["plan"]["kept_artifacts"].as_u64().unwrap() >= 3,
        "{again}"
    );
    assert_eq!(
        predict(d, "fraud@1", "a.csv", &[]),
        predict(d, "model.fathom", "b.csv", &[])
    );
    // Bad ages are refused with the accepted form.
    let o = run(d, &["gc", "--runs-older-than", "3 months"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("90d"), "{}", text(&o));
}

#[test]
fn train_to_s3_and_predict_from_the_registry() {
    let Ok(endpoint) = std::env::var("FATHOM_TEST_S3_ENDPOINT") else {
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED train_to_s3_and_predict_from_the_registry: FATHOM_TEST_S3_ENDPOINT is not set (run `. .ci/s3-setup.sh` to start a local S3-compatible server)"
            );
        }
        return;
    };
    let bucket = format!("cli-{}", std::process::id());
    create_bucket(&endpoint, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fathom.toml"),
        format!("[store]\nartifacts = \"s3://{bucket}/team/fraud\"\n"),
    )
    .unwrap();
    let env = s3_env(&endpoint);
    train(d, &env);
    let v = json(d, &["models", "show", "fraud@1"], &env);
    let uri = v["version"]["artifact_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("s3://{bucket}/team/fraud/sha256/")),
        "{uri}"
    );
    // Nothing local besides the database: the artifacts are in the bucket.
    assert!(!d.join(".fathom/artifacts/sha256").exists());
    let run_id = v["run"]["info"]["id"].as_i64().unwrap().to_string();
    let r = json(d, &["runs", "show", &run_id], &env);
    for a in r["artifacts"].as_array().unwrap() {
        assert!(a["uri"].as_str().unwrap().starts_with("s3://"), "{a}");
    }
    // The registered version scores exactly as the local model file.
    let from_registry = predict(d, "fraud@1", "a.csv", &env);
    assert_eq!(from_registry, predict(d, "model.fathom", "b.csv", &env));
    // Promotion verifies the object; gc keeps everything in use.
    let o = run(
        d,
        &["models", "promote", "fraud", "1", "--alias", "staging"],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o));
    let gc = json(d, &["gc", "--min-age", "0s", "--apply"], &env);
    assert_eq!(
        gc["plan"]["artifact_store"],
        format!("s3://{bucket}/team/fraud")
    );
    assert_eq!(gc["deleted_artifacts"], 0, "{gc}");
    // The model, its report, its reference profile and the settings.
    assert_eq!(gc["plan"]["kept_artifacts"], 4, "{gc}");
    // A plain-HTTP endpoint without AWS_ALLOW_HTTP: the error says what to
    // set.
    let o = run(
        d,
        &[
            "predict", "--model", "fraud@1", "--input", "t.csv", "--output", "c.csv",
        ],
        &env[..4],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("AWS_ALLOW_HTTP=true"), "{}", text(&o));
    assert!(!d.join("c.csv").exists());
}
