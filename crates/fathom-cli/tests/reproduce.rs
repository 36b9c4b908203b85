//! `fathom models reproduce NAME@VERSION`: a quickstart version re-trains to
//! the same bytes with one thread or several; a version whose recorded recipe
//! is not the one that made its artifact is refused with what differs
//! (the re-trained bytes are those of the version the recipe did make);
//! a missing snapshot is named with what to do.

mod common;
use common::{fathom_with, sha256_file, text};
use fathom_registry::artifacts::open_artifact_store;
use fathom_registry::{Actor, NewVersion, Store};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    fathom_with(dir, args, env)
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let o = run(dir, &full, &[]);
    assert!(o.status.success(), "fathom {full:?} failed:\n{}", text(&o));
    json_of(&o)
}

fn quickstart(dir: &Path) {
    let o = run(
        dir,
        &["-q", "quickstart", "--rows", "5000", "--requests", "0"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// The named check `what` of a `different` outcome.
fn check<'a>(outcome: &'a Value, what: &str) -> &'a Value {
    outcome["differences"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == what)
        .unwrap_or_else(|| panic!("no check '{what}' in {outcome:#}"))
}

#[test]
fn a_quickstart_version_is_reproduced_bit_for_bit_with_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    quickstart(d);
    let v1 = ok_json(d, &["models", "show", "fraud@1"]);
    let registered = v1["version"]["artifact_sha256"].as_str().unwrap();
    assert_eq!(
        registered,
        sha256_file(&d.join("fathom-quickstart/model.fathom"))
    );
    // Today's settings are not the recipe: the recorded ones are.
    std::fs::write(
        d.join("fathom.toml"),
        "[train]\ncandidates = [\"baseline\"]\n[features]\nmax_levels = 3\n",
    )
    .unwrap();
    let mut runs = Vec::new();
    for threads in [None, Some("1"), Some("5")] {
        let mut env = vec![("FATHOM_SEED", "9")];
        env.extend(threads.map(|t| ("RAYON_NUM_THREADS", t)));
        let o = run(d, &["--json", "models", "reproduce", "fraud@1"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = json_of(&o);
        assert_eq!(out["verdict"], "identical", "{out:#}");
        assert_eq!(out["registered_sha256"], registered);
        assert_eq!(out["reproduced_sha256"], registered);
        assert_eq!(out["source_run"], v1["version"]["run_id"]);
        assert_eq!(out["data_snapshot"], v1["run"]["info"]["data_snapshot"]);
        assert_eq!(out["seed"], 42);
        assert!(
            out["settings_from"]
                .as_str()
                .unwrap()
                .contains("train_config.json"),
            "{out:#}"
        );
        assert!(out.get("differences").is_none(), "{out:#}");
        runs.push(out["run"].as_i64().unwrap());
    }
    // Each check is a run of fraud-reproduce with its verdict.
    let listed = ok_json(d, &["runs", "list", "--experiment", "fraud-reproduce"]);
    let mut ids: Vec<i64> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["tags"]["verdict"], "identical", "{r:#}");
            r["info"]["id"].as_i64().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, runs);
    // Human output says so, with the checksum.
    let o = run(d, &["models", "reproduce", "fraud@1"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("reproduced bit for bit") && out.contains(registered),
        "{out}"
    );
    // A version registered from the file has no run: its own lineage
    // holds the recipe.
    let o = run(
        d,
        &[
            "-q",
            "models",
            "register",
            "--model-file",
            "fathom-quickstart/model.fathom",
            "--name",
            "copy",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(d, &["--json", "models", "reproduce", "copy@1"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = json_of(&o);
    assert_eq!(out["reproduced_sha256"], registered);
    assert_eq!(out["settings_from"], "the model's lineage");
    assert!(out["notes"][0].as_str().unwrap().contains("no source run"));
}

#[test]
fn a_version_whose_record_did_not_make_its_artifact_is_refused_with_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    quickstart(d);
    // Version 2: GBDT alone, seed 7, on the same data.
    let trained = ok_json(
        d,
        &[
            "train",
            "--data",
            "fathom-quickstart/transactions.parquet",
            "--schema",
            "fathom-quickstart/schema.toml",
            "--model",
            "fraud",
            "--seed",
            "7",
            "--candidates",
            "gbdt",
            "-o",
            "seed7.fathom",
        ],
    );
    assert_eq!(trained["version"]["version"], 2);
    let v1 = ok_json(d, &["models", "show", "fraud@1"])["version"].clone();
    let v2 = ok_json(d, &["models", "show", "fraud@2"])["version"].clone();
    // Version 3: version 1's artifact, recorded as made by version 2's run.
    let store_dir = d.join(".fathom");
    let artifacts =
        open_artifact_store(&store_dir.join("artifacts").display().to_string()).unwrap();
    let mut store = Store::open(&store_dir.display().to_string())
        .unwrap()
        .with_artifact_store(artifacts);
    let v3 = store
        .register_version(
            &NewVersion {
                model: "fraud".into(),
                run_id: Some(v2["run_id"].as_i64().unwrap()),
                artifact_uri: v1["artifact_uri"].as_str().unwrap().into(),
                artifact_sha256: v1["artifact_sha256"].as_str().unwrap().into(),
                schema_hash: v1["schema_hash"].as_str().unwrap().into(),
                owner: "tester".into(),
                description: "a mislabelled version".into(),
                ..Default::default()
            },
            &Actor::new("tester", "host"),
            "test",
        )
        .unwrap();
    drop(store);
    assert_eq!(v3.version, 3);

    let o = run(d, &["--json", "models", "reproduce", "fraud@3"], &[]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let out = json_of(&o);
    assert_eq!(out["verdict"], "different");
    assert_eq!(out["registered_sha256"], v1["artifact_sha256"]);
    // The recipe re-made version 2, bit for bit.
    assert_eq!(out["reproduced_sha256"], v2["artifact_sha256"]);
    let seed = check(&out, "seed");
    assert_eq!(
        (&seed["registered"], &seed["reproduced"], &seed["same"]),
        (&"42".into(), &"7".into(), &false.into())
    );
    assert_eq!(check(&out, "training settings")["same"], false);
    assert_eq!(check(&out, "estimator")["same"], false);
    for same in [
        "data snapshot",
        "fathom version",
        "git commit",
        "schema hash",
        "input contract",
    ] {
        assert_eq!(check(&out, same)["same"], true, "{same}: {out:#}");
    }
    // Each metric with both values: version 1's and version 2's, as the
    // registry recorded them at training time.
    for m in ["auc_pr", "auc_roc", "logloss"] {
        let c = check(&out, &format!("metric {m}"));
        let value = |s: &Value| s.as_str().unwrap().parse::<f64>().unwrap();
        assert_eq!(
            value(&c["registered"]),
            v1["metrics"][m].as_f64().unwrap(),
            "{m}"
        );
        assert_eq!(
            value(&c["reproduced"]),
            v2["metrics"][m].as_f64().unwrap(),
            "{m}"
        );
    }
    // The differing places start with the lineage, both values given.
    let paths = out["differences"]["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 20);
    let at = |p: &str| paths.iter().find(|x| x["path"] == p);
    let s = at("lineage.seed").unwrap_or_else(|| panic!("{out:#}"));
    assert_eq!(
        (&s["registered"], &s["reproduced"]),
        (&42.into(), &7.into())
    );
    let s = at("lineage.params.seed").unwrap();
    assert_eq!(
        (&s["registered"], &s["reproduced"]),
        (&42.into(), &7.into())
    );
    let more = out["differences"]["more"].as_u64().unwrap();
    assert!(more > 0, "{out:#}");
    // The cap moves; the total stays.
    let o = run(
        d,
        &[
            "--json",
            "models",
            "reproduce",
            "fraud@3",
            "--max-differences",
            "3",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let capped = json_of(&o);
    assert_eq!(capped["differences"]["paths"].as_array().unwrap().len(), 3);
    assert_eq!(capped["differences"]["more"].as_u64().unwrap(), more + 17);
    // Human output: the verdict, both checksums, the checks.
    let o = run(d, &["models", "reproduce", "fraud@3"], &[]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for s in [
        "fraud@3 NOT reproduced",
        v1["artifact_sha256"].as_str().unwrap(),
        v2["artifact_sha256"].as_str().unwrap(),
        "lineage.params.seed",
        "metric auc_pr",
    ] {
        assert!(out.contains(s), "{s} missing:\n{out}");
    }
    let listed = ok_json(
        d,
        &[
            "runs",
            "list",
            "--experiment",
            "fraud-reproduce",
            "--filter",
            "tags.verdict = 'different'",
        ],
    );
    assert_eq!(listed["runs"].as_array().unwrap().len(), 3);
}

#[test]
fn a_missing_snapshot_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    quickstart(d);
    let v1 = ok_json(d, &["models", "show", "fraud@1"]);
    let snapshot = v1["run"]["info"]["data_snapshot"].as_str().unwrap();
    std::fs::remove_dir_all(d.join(".fathom/snapshots").join(snapshot)).unwrap();
    let o = run(d, &["models", "reproduce", "fraud@1"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(snapshot) && err.contains("restore"), "{err}");
    // Nothing was recorded.
    let listed = ok_json(d, &["runs", "list"]);
    let runs = listed["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|r| r["info"]["experiment"] == "fraud"),
        "{listed:#}"
    );
}
