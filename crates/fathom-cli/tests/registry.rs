//! Tracking and registry from the command line, against a real SQLite
//! store in a temporary folder (and PostgreSQL when
//! FATHOM_TEST_POSTGRES_URL is set): `train` records every candidate as a
//! run and registers the winner; `runs` lists, filters, sorts and compares;
//! `models` promotes through the gate, refuses, forces, rolls back; `audit`
//! shows every change with who and why; `quickstart` twice gives versions
//! 1 and 2 with production set.

mod common;
use common::{fathom_with, sha256_file, text};
use serde_json::Value;
use std::path::Path;

const USER: &str = "tester";

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec![("USER", USER)];
    all.extend_from_slice(env);
    fathom_with(dir, args, &all)
}

fn json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let o = run(dir, &full, env);
    assert!(o.status.success(), "fathom {full:?} failed:\n{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn generate(dir: &Path) {
    let o = run(
        dir,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "4000",
            "-o",
            "t.parquet",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
}

fn train(dir: &Path, candidates: &str, out: &str, model: &str, env: &[(&str, &str)]) -> Value {
    json(
        dir,
        &[
            "train",
            "--data",
            "t.parquet",
            "--candidates",
            candidates,
            "-o",
            out,
            "--model",
            model,
        ],
        env,
    )
}

fn production(dir: &Path, model: &str, env: &[(&str, &str)]) -> i64 {
    json(
        dir,
        &["models", "show", &format!("{model}@production")],
        env,
    )["version"]["version"]
        .as_i64()
        .unwrap()
}

#[test]
fn train_records_every_candidate_and_runs_list_filter_order_compare() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    let t = train(d, "baseline,logistic,gbdt", "m.fathom", "fraud", &[]);
    let cands = t["candidates"].as_array().unwrap();
    let runs = t["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(t["version"]["version"], 1);
    assert_eq!(t["version"]["model"], "fraud");
    assert_eq!(t["version"]["owner"], USER);
    let best = t["best"].as_str().unwrap();
    let best_run = runs.iter().find(|r| r["best"] == true).unwrap();
    assert_eq!(best_run["candidate"], best);
    assert_eq!(t["version"]["run_id"], best_run["id"]);

    // Every candidate's run holds its held-out figures as the training
    // reported them.
    let listed = json(d, &["runs", "list", "--experiment", "fraud"], &[]);
    let listed = listed["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for c in cands {
        let r = listed
            .iter()
            .find(|r| r["params"]["candidate"] == c["name"])
            .unwrap();
        assert_eq!(r["metrics"]["auc_pr"], c["report"]["auc_pr"]);
        assert_eq!(r["metrics"]["logloss"], c["report"]["logloss"]);
        assert_eq!(r["info"]["status"], "finished");
        assert_eq!(r["info"]["seed"], 42);
        assert_eq!(r["info"]["data_snapshot"], t["snapshot"]);
        assert_eq!(r["tags"]["candidate"], c["name"]);
        assert_eq!(r["tags"].get("best").is_some(), c["name"] == best);
    }
    // The winner's run keeps the model file, byte for byte.
    let shown = json(d, &["runs", "show", &best_run["id"].to_string()], &[]);
    let model = shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "model")
        .unwrap();
    assert_eq!(model["sha256"], sha256_file(&d.join("m.fathom")));
    assert_eq!(t["version"]["artifact_sha256"], model["sha256"]);

    // Filter and order agree with the training's own figures.
    let gbdt_pr = cands.iter().find(|c| c["name"] == "gbdt").unwrap()["report"]["auc_pr"]
        .as_f64()
        .unwrap();
    let f = format!(
        "metrics.auc_pr >= {} and params.candidate = 'gbdt'",
        gbdt_pr - 1e-9
    );
    let only = json(d, &["runs", "list", "--filter", &f], &[]);
    let only = only["runs"].as_array().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["info"]["name"], "gbdt");
    let ordered = json(
        d,
        &[
            "runs",
            "list",
            "--order-by",
            "metrics.auc_pr desc",
            "--limit",
            "2",
        ],
        &[],
    );
    let mut want: Vec<f64> = cands
        .iter()
        .map(|c| c["report"]["auc_pr"].as_f64().unwrap())
        .collect();
    want.sort_by(|a, b| b.total_cmp(a));
    let got: Vec<f64> = ordered["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["auc_pr"].as_f64().unwrap())
        .collect();
    assert_eq!(got, want[..2]);
    assert_eq!(ordered["next_offset"], 2);

    // Compare: the best per metric is the candidate the figures say.
    let ids: Vec<String> = runs.iter().map(|r| r["id"].to_string()).collect();
    let mut args = vec!["runs", "compare"];
    args.extend(ids.iter().map(String::as_str));
    let cmp = json(d, &args, &[]);
    let auc = cmp["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "auc_pr")
        .unwrap();
    let best_i = auc["best"].as_u64().unwrap() as usize;
    let top = want[0];
    assert_eq!(auc["values"][best_i].as_f64().unwrap(), top);
    let table = run(d, &args, &[]);
    let out = text(&table);
    assert!(table.status.success(), "{out}");
    assert!(out.contains(&format!("★ {top:.4}")), "{out}");
    assert!(out.contains("params.candidate ≠"), "{out}");

    // A bad filter is a clear error, not a panic.
    let bad = run(d, &["runs", "list", "--filter", "metrics.auc_pr >"], &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("at character"), "{}", text(&bad));
}

/// Promote → resolve; a clearly worse version is refused with exit status
/// 4 and the store unchanged; --force moves it and is audited; rollback
/// moves back; the audit log has every change with actor and reason.
fn promotion_cycle(d: &Path, model: &str, env: &[(&str, &str)]) {
    let v1 = train(d, "baseline,gbdt", "a.fathom", model, env);
    assert_eq!(v1["version"]["version"], 1);
    let o = run(
        d,
        &["models", "promote", model, "1", "--reason", "first model"],
        env,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(production(d, model, env), 1);

    let v2 = train(d, "baseline", "b.fathom", model, env);
    assert_eq!(v2["version"]["version"], 2);
    let history = |d: &Path| {
        json(d, &["models", "show", model], env)["alias_history"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = history(d);
    let refused = run(d, &["models", "promote", model, "2"], env);
    let msg = text(&refused);
    assert_eq!(refused.status.code(), Some(4), "{msg}");
    assert!(msg.contains("refused by the gate"), "{msg}");
    assert!(msg.contains("worse_than_current"), "{msg}");
    let pr1 = v1["version"]["metrics"]["auc_pr"].as_f64().unwrap();
    assert!(msg.contains(&format!("{pr1:.6}")), "{msg}");
    assert_eq!(production(d, model, env), 1);
    assert_eq!(history(d), before);
    let refused_json = run(d, &["--json", "models", "promote", model, "2"], env);
    assert_eq!(refused_json.status.code(), Some(4));
    let v: Value = serde_json::from_slice(&refused_json.stdout).unwrap();
    assert_eq!(v["failures"][0]["rule"], "worse_than_current");
    assert_eq!(v["failures"][0]["current"].as_f64().unwrap(), pr1);

    let forced = run(
        d,
        &[
            "models", "promote", model, "2", "--force", "--reason", "drill",
        ],
        env,
    );
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(text(&forced).contains("FORCED"), "{}", text(&forced));
    assert_eq!(production(d, model, env), 2);

    let back = run(d, &["models", "rollback", model, "--reason", "worse"], env);
    assert!(back.status.success(), "{}", text(&back));
    assert_eq!(production(d, model, env), 1);

    let audit = json(d, &["audit", "--model", model], env);
    let entries: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            assert_eq!(e["actor"], USER);
            assert!(!e["host"].as_str().unwrap().is_empty());
            (
                e["action"].as_str().unwrap().to_string(),
                e["version"].to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("model_created", "null", "fathom train"),
        ("version_registered", "1", "fathom train"),
        ("promoted", "1", "first model"),
        ("version_registered", "2", "fathom train"),
        ("promotion_refused", "2", "promoted from the command line"),
        ("promotion_refused", "2", "promoted from the command line"),
        ("promoted_forced", "2", "drill"),
        ("rolled_back", "1", "worse"),
    ];
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(a, v, r)| (a.as_str(), v.as_str(), r.as_str()))
        .collect();
    assert_eq!(got, expect);
}

#[test]
fn promote_refuse_force_rollback_and_audit_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    promotion_cycle(d, "fraud", &[]);
    assert!(d.join(".fathom/fathom.db").is_file());
    // Archiving the version production moved away from is refused within
    // the retention window; the card says what the model is.
    let o = run(d, &["models", "archive", "fraud", "2"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("kept for rollback"), "{}", text(&o));
    // A model file registered by hand gets the same holdout id as when
    // `train` registered it, so the gate can compare it.
    let v1 = json(d, &["models", "show", "fraud@1"], &[]);
    let v3 = json(
        d,
        &[
            "models",
            "register",
            "--model-file",
            "a.fathom",
            "--name",
            "fraud",
        ],
        &[],
    );
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["run_id"], Value::Null);
    assert_eq!(v3["artifact_sha256"], sha256_file(&d.join("a.fathom")));
    assert_eq!(v3["holdout_snapshot"], v1["version"]["holdout_snapshot"]);
    assert_eq!(v3["metrics"], v1["version"]["metrics"]);
    let o = run(d, &["models", "promote", "fraud", "3"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(production(d, "fraud", &[]), 3);
    let listed = json(d, &["models", "list"], &[]);
    assert_eq!(listed[0]["latest_version"], 3);
    let card = run(d, &["models", "card", "fraud", "1", "-o", "card.md"], &[]);
    assert!(card.status.success(), "{}", text(&card));
    let md = std::fs::read_to_string(d.join("card.md")).unwrap();
    assert!(md.starts_with("# Model card: fraud version 1"), "{md}");
    assert!(md.contains("gbdt"), "{md}");
}

#[test]
fn promote_refuse_force_rollback_and_audit_on_postgres() {
    let Ok(url) = std::env::var("FATHOM_TEST_POSTGRES_URL") else {
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promote_refuse_force_rollback_and_audit on PostgreSQL: FATHOM_TEST_POSTGRES_URL is not set"
            );
        }
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    // A model name of its own keeps this test apart from others sharing
    // the database.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let model = format!("cli-{}-{nanos}", std::process::id());
    promotion_cycle(d, &model, &[("FATHOM_DATABASE_URL", url.as_str())]);
    assert!(!d.join(".fathom/fathom.db").exists());
}

#[test]
fn quickstart_twice_registers_versions_one_and_two_with_production_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for round in 1..=2 {
        let o = run(d, &["quickstart", "--rows", "3000", "--requests", "0"], &[]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(
            out.contains(&format!("fraud@{round}, promoted to production")),
            "{out}"
        );
    }
    let shown = json(d, &["models", "show", "fraud"], &[]);
    let versions = shown["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(shown["model"]["aliases"]["production"], 2);
    // Same data and seed: the same model, judged on the same holdout.
    assert_eq!(versions[0]["metrics"], versions[1]["metrics"]);
    assert_eq!(
        versions[0]["artifact_sha256"],
        versions[1]["artifact_sha256"]
    );
    assert_eq!(
        versions[0]["holdout_snapshot"],
        versions[1]["holdout_snapshot"]
    );
    let runs = json(d, &["runs", "list", "--experiment", "fraud"], &[]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 8);
}

#[test]
fn unreachable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &["runs", "list"],
        &[(
            "FATHOM_DATABASE_URL",
            "postgres://nobody:secret@127.0.0.1:1/none",
        )],
    );
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(1), "{msg}");
    assert!(msg.contains("cannot connect to PostgreSQL"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

#[test]
fn runs_span_their_training_and_a_failed_training_leaves_failed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    let before = chrono::Utc::now();
    let t = train(d, "baseline,logistic,gbdt,voting", "m.fathom", "fraud", &[]);
    let after = chrono::Utc::now();
    let mut spans = Vec::new();
    for r in t["runs"].as_array().unwrap() {
        let shown = json(d, &["runs", "show", &r["id"].to_string()], &[]);
        let info = &shown["info"];
        assert_eq!(info["status"], "finished");
        let (start, end) = (time(&info["start_time"]), time(&info["end_time"]));
        assert!(before <= start && end <= after, "{start} {end}");
        // The run covers its candidate's measured training time.
        let seconds = shown["metrics"]["train_seconds"]["value"].as_f64().unwrap();
        let span = (end - start).as_seconds_f64();
        assert!(span + 1e-3 >= seconds, "{span} s < {seconds} s of training");
        spans.push((start, end));
    }
    // Every run was started before any candidate was done: they were
    // running while the training ran.
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(spans.iter().all(|s| s.0 <= first_end), "{spans:?}");

    // Too few positive rows: the training fails after its runs started.
    let o = run(
        d,
        &["-q", "data", "generate", "--rows", "60", "-o", "small.csv"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        d,
        &[
            "train",
            "--data",
            "small.csv",
            "--candidates",
            "baseline,gbdt",
            "--model",
            "tiny",
            "-o",
            "s.fathom",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains("training needs at least"), "{err}");
    let listed = json(d, &["runs", "list", "--experiment", "tiny"], &[]);
    let listed = listed["runs"].as_array().unwrap();
    let mut names: Vec<&str> = listed
        .iter()
        .map(|r| r["info"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["baseline", "gbdt"]);
    for r in listed {
        assert_eq!(r["info"]["status"], "failed");
        assert!(r["info"]["end_time"].is_string());
        let failure = r["info"]["failure"].as_str().unwrap();
        assert!(failure.contains("training needs at least"), "{failure}");
        assert_eq!(r["tags"]["candidate"], r["info"]["name"]);
    }
    assert!(!d.join("s.fathom").exists());
    // An unknown candidate is refused before any run is started.
    let o = run(
        d,
        &[
            "train",
            "--data",
            "t.parquet",
            "--candidates",
            "gbdt,nope",
            "--model",
            "typo",
        ],
        &[],
    );
    assert!(
        text(&o).contains("unknown candidate 'nope'"),
        "{}",
        text(&o)
    );
    let o = run(d, &["runs", "list", "--experiment", "typo"], &[]);
    assert!(
        text(&o).contains("experiment 'typo' does not exist"),
        "{}",
        text(&o)
    );
}

#[test]
fn runs_show_metric_prints_the_step_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = {
        let mut store =
            fathom_registry::Store::open(&d.join(".fathom").display().to_string()).unwrap();
        let id = store
            .start_run(&fathom_registry::NewRun::new("curves", "gbdt"))
            .unwrap();
        for (step, loss) in [(1, 0.61), (2, 0.45), (3, 0.39)] {
            store.log_metric(id, "val_logloss", loss, step).unwrap();
        }
        store.log_metric(id, "auc_pr", 0.7, 0).unwrap();
        store.finish_run(id).unwrap();
        id.to_string()
    };
    let h = json(d, &["runs", "show", &id, "--metric", "val_logloss"], &[]);
    let got: Vec<(i64, f64)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["step"].as_i64().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(got, [(1, 0.61), (2, 0.45), (3, 0.39)]);
    assert_eq!(h["metric"], "val_logloss");
    let o = run(d, &["runs", "show", &id, "--metric", "val_logloss"], &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("0.450000"), "{out}");
    assert!(out.contains("3 value(s) of val_logloss"), "{out}");
    assert!(out.contains("latest (step 3): 0.390000"), "{out}");
    // The run's page points at the history when a metric has steps.
    let o = run(d, &["runs", "show", &id], &[]);
    assert!(text(&o).contains("--metric NAME"), "{}", text(&o));
    // A metric the run does not have is a clear error naming those it has.
    let o = run(d, &["runs", "show", &id, "--metric", "nope"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("has no metric 'nope'; its metrics are: auc_pr, val_logloss"),
        "{}",
        text(&o)
    );
}

#[test]
fn lineage_answers_data_features_params_code_and_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    let t = train(d, "baseline,gbdt", "m.fathom", "fraud", &[]);
    let version = &t["version"];
    let run_id = version["run_id"].to_string();
    let shown = json(d, &["runs", "show", &run_id], &[]);
    let artifact = fathom_model::artifact::ModelArtifact::load(&d.join("m.fathom")).unwrap();

    let l = json(d, &["models", "lineage", "fraud@1"], &[]);
    // Data: the snapshot the training made, read from the store folder.
    assert_eq!(l["data"]["snapshot"], t["snapshot"]);
    let manifest = &l["data"]["manifest"];
    assert_eq!(manifest["id"], t["snapshot"]);
    assert_eq!(manifest["rows"], 4000);
    assert_eq!(manifest["source"], "t.parquet");
    assert_eq!(
        manifest["schema_hash"],
        artifact.lineage.schema_hash.as_str()
    );
    assert_eq!(l["schema_hash"], version["schema_hash"]);
    assert_eq!(l["holdout_snapshot"], version["holdout_snapshot"]);
    assert_eq!(l["holdout_snapshot"], shown["params"]["holdout"]);
    // Features: the input contract and the fitted pipeline of the artifact.
    let f = &l["features"];
    let columns: Vec<(String, String)> = f["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = artifact
        .schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.role.name().to_string()))
        .collect();
    assert_eq!(columns, expected);
    let fitted: Vec<Value> = f["transforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["fitted"].clone())
        .collect();
    let expected: Vec<Value> = artifact
        .pipeline
        .inputs
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(fitted, expected);
    assert_eq!(
        f["feature_names"],
        serde_json::to_value(artifact.pipeline.feature_names()).unwrap()
    );
    // The run: all its parameters, code version, seed, fathom version.
    assert_eq!(l["run"]["info"]["id"], version["run_id"]);
    assert_eq!(l["run"]["info"]["experiment"], "fraud");
    assert_eq!(l["run"]["info"]["name"], t["best"]);
    assert_eq!(l["run"]["params"], shown["params"]);
    assert_eq!(l["code_version"], shown["info"]["source_version"]);
    assert_eq!(l["seed"], 42);
    assert_eq!(
        l["fathom_version"],
        artifact.lineage.fathom_version.as_str()
    );
    // The artifact.
    assert_eq!(l["artifact"]["uri"], version["artifact_uri"]);
    assert_eq!(l["artifact"]["sha256"], sha256_file(&d.join("m.fathom")));

    let o = run(d, &["models", "lineage", "fraud@1"], &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let snapshot = t["snapshot"].as_str().unwrap();
    for needle in [
        snapshot,
        "4000",
        "t.parquet",
        "fitted transform",
        "parameters of run",
        "num_leaves",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }

    // A version registered from a file has no run; the artifact's own
    // lineage still names the snapshot and seed.
    json(
        d,
        &[
            "models",
            "register",
            "--model-file",
            "m.fathom",
            "--name",
            "copy",
        ],
        &[],
    );
    let l = json(d, &["models", "lineage", "copy@1"], &[]);
    assert!(l["run"].is_null());
    assert_eq!(l["data"]["snapshot"], t["snapshot"]);
    assert_eq!(l["seed"], 42);
    assert_eq!(
        l["features"]["columns"].as_array().unwrap().len(),
        artifact.schema.columns.len()
    );

    let o = run(d, &["models", "lineage", "fraud@9"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("fraud has versions 1 to 1"),
        "{}",
        text(&o)
    );
}

#[test]
fn describe_sets_the_card_sections_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Described before its first training: the model is created, owned by
    // whoever described it.
    let m = json(
        d,
        &[
            "models",
            "describe",
            "fraud",
            "--intended-use",
            "Rank card transactions for manual review.",
        ],
        &[],
    );
    assert_eq!(m["owner"], USER);
    generate(d);
    train(d, "baseline,gbdt", "m.fathom", "fraud", &[]);
    let m = json(
        d,
        &[
            "models",
            "describe",
            "fraud",
            "--limitations",
            "Trained on synthetic transactions; not for chargeback decisions.",
            "--owner",
            "risk-team",
            "--description",
            "Card fraud scores",
            "--reason",
            "card review",
        ],
        &[],
    );
    assert_eq!(
        m["intended_use"],
        "Rank card transactions for manual review."
    );
    assert_eq!(m["owner"], "risk-team");

    let o = run(d, &["models", "card", "fraud", "1"], &[]);
    let card = text(&o);
    assert!(o.status.success(), "{card}");
    for needle in [
        "## Intended use\n\nRank card transactions for manual review.",
        "## Limitations\n\nTrained on synthetic transactions; not for chargeback decisions.",
        "## Owner\n\nrisk-team",
    ] {
        assert!(card.contains(needle), "missing {needle:?} in\n{card}");
    }
    assert!(!card.contains("Not stated"), "{card}");

    let audit = json(d, &["audit", "--model", "fraud"], &[]);
    let updated = &audit.as_array().unwrap()[0];
    assert_eq!(updated["action"], "model_updated");
    assert_eq!(updated["actor"], USER);
    assert_eq!(updated["reason"], "card review");
    assert_eq!(updated["detail"]["owner"]["from"], USER);
    assert_eq!(updated["detail"]["owner"]["to"], "risk-team");

    // Without options it prints what is recorded.
    let shown = json(d, &["models", "describe", "fraud"], &[]);
    assert_eq!(shown["limitations"], m["limitations"]);
    let o = run(d, &["models", "describe", "no-such-model"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no-such-model"), "{}", text(&o));
}
