//! Black-box tests of the `fathom` binary.

mod common;

use common::{fathom, sha256_file, text};
use std::process::Command;

#[test]
fn quickstart_runs_the_loop_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let o = fathom(dir.path(), &["--json", "quickstart", "--fast"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "generate", "schema", "validate", "snapshot", "profile", "train", "register", "serve"
        ]
    );
    assert_eq!(v["rows"], 30000);
    let qs = dir.path().join("fathom-quickstart");
    let html = std::fs::read_to_string(qs.join("profile.html")).unwrap();
    assert!(
        html.contains("<svg")
            && !html.contains("<script src")
            && !html.contains("http://")
            && !html.contains("https://")
    );
    assert!(qs.join("schema.toml").is_file() && qs.join("transactions.parquet").is_file());
    let report = std::fs::read_to_string(qs.join("model.report.html")).unwrap();
    assert!(report.contains("<svg") && !report.contains("https://"));
    // The ladder is honest: trees beat the linear model, which beats the prior.
    let auc = |name: &str| {
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["report"]["auc_roc"]
            .as_f64()
            .unwrap()
    };
    assert!(
        auc("gbdt") > auc("logistic") && auc("logistic") > auc("baseline") + 0.2,
        "{}",
        v["candidates"]
    );
    let model = fathom_model::artifact::ModelArtifact::load(&qs.join("model.fathom")).unwrap();
    assert_eq!(
        model.lineage.data_snapshot.as_deref(),
        v["snapshot"]["id"].as_str(),
        "lineage names the snapshot"
    );
    assert_eq!(
        model.lineage.schema_hash,
        v["schema_hash"].as_str().unwrap()
    );

    // The loop: normal days, then the shift; the monitoring pipeline sees
    // the drift and the drop in AUC, retrains, deploys a canary and
    // promotes it; every answer is in the prediction log.
    let replay = &v["replay"];
    let days = replay["days"].as_array().unwrap();
    assert_eq!(days.len(), 6, "{replay}");
    let answered: u64 = replay["bursts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["failed"], 0, "{b}");
            assert_eq!(b["feedback"], b["answered"], "{b}");
            b["answered"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(answered, 9000);
    assert_eq!(
        replay["logged"].as_u64(),
        Some(2 * answered),
        "answers and labels"
    );
    assert_eq!(replay["dropped"], 0);
    let normal: Vec<&serde_json::Value> = days.iter().filter(|d| d["phase"] == "normal").collect();
    let shifted: Vec<&serde_json::Value> =
        days.iter().filter(|d| d["phase"] == "shifted").collect();
    assert!(normal.iter().all(|d| d["decision"] == "none"), "{replay}");
    assert!(
        shifted
            .iter()
            .any(|d| d["drift"].as_str().unwrap().starts_with("severe")),
        "drift detected: {replay}"
    );
    // Each day's check left its report where the summary says.
    for day in days {
        let report = day["report"].as_str().unwrap_or_else(|| panic!("{day}"));
        let path = dir.path().join(report);
        let html =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            html.contains(">Decision<") && html.contains("<svg"),
            "{}",
            path.display()
        );
    }
    let worst_before = normal
        .iter()
        .filter_map(|d| d["auc"].as_f64())
        .fold(1.0, f64::min);
    let first_shifted = shifted[0]["auc"].as_f64().unwrap();
    assert!(first_shifted < worst_before - 0.05, "AUC drop: {replay}");
    let actions: String = days
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(
        actions.contains("retrained v2") && actions.contains("→ canary"),
        "{actions}"
    );
    assert!(
        actions.contains("canary v2 promoted to production"),
        "{actions}"
    );
    assert!(
        days.iter().any(|d| d["serving"] == "v1 + v2 (canary)"),
        "{replay}"
    );
    assert!(replay["production"].as_i64().unwrap() >= 2, "{replay}");
    let audit = text(&fathom(dir.path(), &["audit", "--model", "fraud"]));
    assert!(
        audit.contains("canary promoted by the monitoring pipeline"),
        "{audit}"
    );
    let history = text(&fathom(dir.path(), &["pipeline", "history"]));
    assert!(
        history.contains("training") && history.contains("policy"),
        "{history}"
    );

    // Again: the same data is the same snapshot; the new version meets a
    // production that was retrained on other rows, so the gate refuses to
    // compare them (exit 4) and says why.
    let again = fathom(
        dir.path(),
        &["--json", "quickstart", "--fast", "--requests", "0"],
    );
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        w["snapshot"]["id"], v["snapshot"]["id"],
        "same data, same snapshot"
    );
    assert!(w["refused"].is_array(), "{}", w["refused"]);
    // Batch scoring through the registry gives the same bytes as scoring
    // with the model file (the same training, version 1).
    let data = qs.join("transactions.parquet");
    let by_file = fathom(
        dir.path(),
        &[
            "-q",
            "predict",
            "--model",
            qs.join("model.fathom").to_str().unwrap(),
            "--input",
            data.to_str().unwrap(),
            "--output",
            "a.csv",
        ],
    );
    assert!(by_file.status.success(), "{}", text(&by_file));
    let by_alias = fathom(
        dir.path(),
        &[
            "predict",
            "--model",
            "fraud@1",
            "--input",
            data.to_str().unwrap(),
            "--output",
            "b.csv",
        ],
    );
    assert!(by_alias.status.success(), "{}", text(&by_alias));
    assert!(text(&by_alias).contains("fraud@1"), "{}", text(&by_alias));
    assert_eq!(
        std::fs::read(dir.path().join("a.csv")).unwrap(),
        std::fs::read(dir.path().join("b.csv")).unwrap()
    );
    let missing = fathom(
        dir.path(),
        &[
            "predict",
            "--model",
            "fraud@staging",
            "--input",
            data.to_str().unwrap(),
            "--output",
            "c.csv",
        ],
    );
    assert!(!missing.status.success());
    assert!(text(&missing).contains("staging"), "{}", text(&missing));
}

#[test]
fn generation_is_byte_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    for (threads, name) in [
        ("1", "a.parquet"),
        ("2", "b.parquet"),
        ("1", "a.csv"),
        ("2", "b.csv"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_fathom"))
            .args([
                "-q", "data", "generate", "--rows", "150000", "--seed", "7", "-o", name,
            ])
            .current_dir(dir.path())
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        hashes.push(sha256_file(&dir.path().join(name)));
    }
    assert_eq!(
        hashes[0], hashes[1],
        "Parquet bytes differ between 1 and 2 threads"
    );
    assert_eq!(
        hashes[2], hashes[3],
        "CSV bytes differ between 1 and 2 threads"
    );
    let o = fathom(
        dir.path(),
        &[
            "-q", "data", "generate", "--rows", "150000", "--seed", "8", "-o", "c.csv",
        ],
    );
    assert!(o.status.success());
    assert_ne!(
        sha256_file(&dir.path().join("c.csv")),
        hashes[2],
        "another seed, other data"
    );
}

/// On a terminal, generating a large file draws a progress bar (rows done
/// of the total, rows per second); through a pipe, or with `--quiet`, it
/// draws nothing. The terminal is a real pseudo-terminal from `script`.
#[test]
fn generate_draws_a_progress_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.parquet");
    let bin = env!("CARGO_BIN_EXE_fathom");
    let command = format!("{bin} data generate --rows 300000 -o {}", out.display());
    let Ok(o) = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .output()
    else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED generate_draws_a_progress_bar_on_a_terminal_only: `script` (util-linux) is not installed"
        );
        return;
    };
    assert!(o.status.success(), "{}", text(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("generate"), "{screen}");
    assert!(screen.contains("/300,000"), "{screen}");
    assert!(screen.contains("%") && screen.contains("/s,"), "{screen}");
    // Whole numbers per second, not four decimals.
    let rate = screen
        .split(" (")
        .filter_map(|s| s.split_once("/s,").map(|(r, _)| r))
        .last()
        .unwrap_or_else(|| panic!("no rate in {screen}"));
    assert!(
        rate.chars().all(|c| c.is_ascii_digit() || c == ','),
        "{rate:?}"
    );
    assert!(out.is_file());

    // `--quiet` on the same terminal: the result line, no bar.
    std::fs::remove_file(&out).unwrap();
    let quiet = format!("{bin} -q data generate --rows 300000 -o {}", out.display());
    let o = Command::new("script")
        .args(["-qefc", &quiet, "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(
        !screen.contains('%') && !screen.contains("\u{1b}["),
        "{screen}"
    );
    assert!(screen.contains("wrote 300,000 transactions"), "{screen}");
    assert!(out.is_file());

    // Through a pipe: the summary line only, and no bar.
    std::fs::remove_file(&out).unwrap();
    let o = fathom(
        dir.path(),
        &["data", "generate", "--rows", "300000", "-o", "big.parquet"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let all = text(&o);
    assert!(!all.contains('%') && !all.contains("\u{1b}["), "{all}");
    assert!(all.contains("wrote 300,000 transactions"), "{all}");
}

#[test]
fn validate_reports_violations_with_exit_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        fathom(
            d,
            &[
                "-q",
                "data",
                "generate",
                "--rows",
                "5000",
                "-o",
                "train.csv"
            ]
        )
        .status
        .success()
    );
    let o = fathom(
        d,
        &[
            "-q",
            "data",
            "schema",
            "infer",
            "train.csv",
            "-o",
            "schema.toml",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = fathom(
        d,
        &["data", "validate", "train.csv", "--schema", "schema.toml"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("5,000 rows pass every check"));
    // Break the file: a bad amount on data row 3 and a drifted scenario.
    let csv = std::fs::read_to_string(d.join("train.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let mut row: Vec<String> = lines[3].split(',').map(String::from).collect();
    row[amount] = "twelve".into();
    lines[3] = row.join(",");
    std::fs::write(d.join("bad.csv"), lines.join("\n")).unwrap();
    let o = fathom(
        d,
        &["data", "validate", "bad.csv", "--schema", "schema.toml"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("row 3: 'twelve'"), "{}", text(&o));
    let o = fathom(
        d,
        &[
            "--json",
            "data",
            "validate",
            "bad.csv",
            "--schema",
            "schema.toml",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["violations"][0]["check"], "type_mismatch");
}

#[test]
fn bad_input_gives_one_clear_error_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ragged.csv"), "a,b\n1,2\n3\n").unwrap();
    let o = fathom(d, &["data", "profile", "ragged.csv", "-o", "p.html"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.starts_with(
            "error: ragged.csv: row 2, line 3: the row has 1 fields but the header has 2"
        ),
        "{e}"
    );
    assert!(!d.join("p.html").exists(), "no half-written report");
    // Each bad file: exit 1, one error naming the file and what to do,
    // nothing written.
    std::fs::write(d.join("empty.csv"), "").unwrap();
    std::fs::write(d.join("latin1.csv"), b"a,b\n1,caf\xe9\n").unwrap();
    std::fs::write(d.join("cut.parquet"), b"PAR1\x00\x01").unwrap();
    for (file, says) in [
        ("empty.csv", "the file is empty; it needs a header line"),
        (
            "latin1.csv",
            "row 1, line 2, column 'b': the value is not valid UTF-8; save the file as UTF-8",
        ),
        ("cut.parquet", "the file may be truncated or corrupt"),
    ] {
        let o = fathom(d, &["data", "profile", file, "-o", "p.html"]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.starts_with(&format!("error: {file}: ")) && e.contains(says),
            "{file}: {e}"
        );
        assert!(!d.join("p.html").exists(), "{file}: no half-written report");
    }
    // A header without rows makes neither a contract nor a snapshot.
    std::fs::write(d.join("header.csv"), "a,b\n").unwrap();
    for (args, what) in [
        (
            vec!["data", "schema", "infer", "header.csv", "-o", "h.toml"],
            "a contract",
        ),
        (vec!["data", "snapshot", "header.csv"], "a snapshot"),
    ] {
        let o = fathom(d, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains(&format!(
                "header.csv: has a header but no data rows; {what} needs at least one row"
            )),
            "{e}"
        );
    }
    assert!(!d.join("h.toml").exists());
    let snapshots = d.join(".fathom").join("snapshots");
    let kept: Vec<_> = std::fs::read_dir(&snapshots)
        .map(|r| r.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(kept.is_empty(), "{kept:?}");
    let o = fathom(
        d,
        &[
            "data",
            "generate",
            "--rows",
            "10",
            "--fraud-rate",
            "2",
            "-o",
            "x.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fraud"),
        "{}",
        text(&o)
    );
    assert!(!d.join("x.csv").exists());
    std::fs::write(d.join("fathom.toml"), "[data]\nrowz = 5\n").unwrap();
    let o = fathom(d, &["data", "snapshots"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown field `rowz`"),
        "{}",
        text(&o)
    );
    std::fs::remove_file(d.join("fathom.toml")).unwrap();
    std::fs::write(
        d.join("s.toml"),
        "[[columns]]\nname = 'a'\ntype = 'numeric'\nmin = 5\nmax = 1\n",
    )
    .unwrap();
    let o = fathom(d, &["data", "validate", "ragged.csv", "--schema", "s.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "s.toml: schema contract is not valid: column 'a': min 5 is greater than max 1"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn training_gives_identical_model_bytes_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        fathom(
            d,
            &[
                "-q",
                "data",
                "generate",
                "--rows",
                "8000",
                "-o",
                "t.parquet"
            ]
        )
        .status
        .success()
    );
    let mut sums = Vec::new();
    for (threads, out) in [("1", "a.fathom"), ("2", "b.fathom")] {
        let o = Command::new(env!("CARGO_BIN_EXE_fathom"))
            .args([
                "-q",
                "train",
                "--data",
                "t.parquet",
                "--candidates",
                "logistic,gbdt",
                "-o",
                out,
            ])
            .current_dir(d)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        sums.push(sha256_file(&d.join(out)));
    }
    assert_eq!(sums[0], sums[1]);
    // A tampered model is refused on load.
    let mut bytes = std::fs::read(d.join("a.fathom")).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 1;
    std::fs::write(d.join("bad.fathom"), &bytes).unwrap();
    let e = fathom_model::artifact::ModelArtifact::load(&d.join("bad.fathom"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the checksum does not match"), "{e}");
}

/// The generated data is realistic in difficulty: a good GBDT lands in
/// AUC-ROC 0.90–0.97 (not 1.0), and logistic regression clearly below it.
#[test]
fn generated_fraud_is_learnable_but_not_trivially() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = fathom(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "60000",
            "--seed",
            "7",
            "-o",
            "t.parquet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = fathom(
        d,
        &[
            "--json",
            "train",
            "--data",
            "t.parquet",
            "--candidates",
            "logistic,gbdt",
            "--no-register",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let auc = |name: &str| {
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["report"]["auc_roc"]
            .as_f64()
            .unwrap()
    };
    let (gbdt, logistic) = (auc("gbdt"), auc("logistic"));
    assert!((0.90..=0.97).contains(&gbdt), "GBDT AUC-ROC {gbdt}");
    assert!(
        gbdt - logistic >= 0.03,
        "GBDT {gbdt} against logistic {logistic}"
    );
}
