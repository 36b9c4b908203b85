//! Black-box tests of what happens after training: the HTML training
//! report, `fathom predict` and `fathom model inspect`.

mod common;

use common::{fathom, fathom_with, ok, sha256_file, text};
use fathom_core::{ColumnData, Frame};
use fathom_data::ingest::{ReadOptions, read_frame};
use fathom_model::artifact::{Estimator, ModelArtifact};
use fathom_model::predictor::Predictor;
use std::path::Path;

/// Generates 5,000 training rows and trains `candidates` into `model`.
fn trained(dir: &Path, model: &str, candidates: &str) -> serde_json::Value {
    ok(
        dir,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "5000",
            "-o",
            "train.parquet",
        ],
    );
    let o = ok(
        dir,
        &[
            "--json",
            "train",
            "--data",
            "train.parquet",
            "--candidates",
            candidates,
            "-o",
            model,
        ],
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn numbers(frame: &Frame, name: &str) -> Vec<f64> {
    match &frame.column(name).unwrap().data {
        ColumnData::Numeric(v) => v.clone(),
        other => panic!("{name} is {:?}", other.column_type()),
    }
}

fn bools(frame: &Frame, name: &str) -> Vec<bool> {
    match &frame.column(name).unwrap().data {
        ColumnData::Bool(v) => v.clone(),
        other => panic!("{name} is {:?}", other.column_type()),
    }
}

/// Opening and closing tags of `tag` in `html` (self-closing ones count as both).
fn assert_balanced(html: &str, tag: &str) {
    let open =
        html.matches(&format!("<{tag} ")).count() + html.matches(&format!("<{tag}>")).count();
    let self_closed = html
        .match_indices(&format!("<{tag} "))
        .filter(|(i, _)| {
            html[*i..]
                .split('>')
                .next()
                .is_some_and(|s| s.ends_with('/'))
        })
        .count();
    let close = html.matches(&format!("</{tag}>")).count();
    assert_eq!(open, close + self_closed, "unbalanced <{tag}>");
}

#[test]
fn training_writes_one_self_contained_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = trained(d, "m.fathom", "baseline,logistic,random_forest,gbdt");
    assert_eq!(v["report"], "m.report.html");
    assert_eq!(v["reference"], "m.reference.parquet");
    let mut files: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // Beside the data: the model, its report and its monitoring
    // reference; the runs, snapshot and artifacts go to the store folder.
    assert_eq!(
        files,
        [
            ".fathom",
            "m.fathom",
            "m.reference.parquet",
            "m.report.html",
            "train.parquet"
        ]
    );
    let html = std::fs::read_to_string(d.join("m.report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    for banned in [
        "http://", "https://", "<script", "<link", "<img", "<iframe", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "the report contains {banned}");
    }
    // One chart each: ROC, PR, confusion, calibration, importance.
    assert_eq!(html.matches("<svg").count(), 5);
    for label in [
        "ROC curves of all candidates",
        "Precision-recall curves of all candidates",
        "Confusion matrix of the best candidate",
        "Calibration of the best candidate",
        "Feature importance of the best candidate",
    ] {
        assert!(html.contains(&format!("aria-label=\"{label}\"")), "{label}");
    }
    for tag in [
        "svg", "g", "text", "title", "path", "table", "tr", "td", "div", "article", "h2",
    ] {
        assert_balanced(&html, tag);
    }
    // Every candidate is in the table with the metrics the trainer reported,
    // and the winner is highlighted.
    let best = v["best"].as_str().unwrap();
    for c in v["candidates"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let r = &c["report"];
        let mark = if name == best { "★ " } else { "" };
        let row = format!(
            "<td class=\"l\">{mark}{name}</td><td>{:.4}</td><td>{:.4}</td>",
            r["auc_roc"].as_f64().unwrap(),
            r["auc_pr"].as_f64().unwrap()
        );
        assert!(html.contains(&row), "{row}");
        assert!(
            html.contains(&format!("{name} (AUC ")),
            "{name} on the ROC plot"
        );
    }
    assert!(html.contains(&format!("<tr class=\"best\"><td class=\"l\">★ {best}</td>")));
    // The confusion matrix adds up to the 1,000 test rows (20 % of 5,000).
    let best_report = &v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == best)
        .unwrap()["report"]["confusion"];
    let total: f64 = ["tp", "fp", "tn", "fn"]
        .iter()
        .map(|k| best_report[k].as_f64().unwrap())
        .sum();
    assert_eq!(total, 1000.0);
    assert!(html.contains("<div class=\"v\">1,000</div><div class=\"k\">test rows</div>"));
    // Curves are thinned: no path has more than 400 points.
    for d in html.split("<path d=\"").skip(1) {
        let d = d.split('"').next().unwrap();
        assert!(d.matches(['M', 'L']).count() <= 400);
    }
    // The baseline alone has no importance: a note, not a chart.
    let o = ok(
        d,
        &[
            "-q",
            "train",
            "--data",
            "train.parquet",
            "--candidates",
            "baseline",
            "-o",
            "b.fathom",
        ],
    );
    assert!(text(&o).contains("b.report.html"), "{}", text(&o));
    let html = std::fs::read_to_string(d.join("b.report.html")).unwrap();
    assert!(html.contains("baseline has no feature importance"));
    assert_eq!(html.matches("<svg").count(), 4);
}

#[test]
fn predict_scores_every_row_like_the_model_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d, "m.fathom", "logistic,gbdt");
    for name in ["new.csv", "new.parquet"] {
        ok(
            d,
            &[
                "-q", "data", "generate", "--rows", "3000", "--seed", "7", "-o", name,
            ],
        );
    }
    let o = ok(
        d,
        &[
            "--json", "predict", "--model", "m.fathom", "--input", "new.csv", "--output", "s.csv",
        ],
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["rows"], 3000);
    assert_eq!(summary["model_checksum"], sha256_file(&d.join("m.fathom")));

    // The expected scores, by the artifact's plain (uncompiled) path.
    let artifact = ModelArtifact::load(&d.join("m.fathom")).unwrap();
    let Estimator::Trees { .. } = artifact.estimator else {
        panic!("gbdt should win over logistic here");
    };
    let input = read_frame(
        d.join("new.csv"),
        &ReadOptions {
            schema: Some(artifact.schema.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let width = artifact.pipeline.width();
    let features = artifact.pipeline.transform_frame(&input);
    let plain: Vec<f64> = features
        .chunks(width)
        .map(|row| artifact.estimator.predict(row))
        .collect();
    let compiled = Predictor::new(artifact.clone())
        .unwrap()
        .score_frame(&input)
        .unwrap();

    let out = read_frame(d.join("s.csv"), &ReadOptions::default()).unwrap();
    assert_eq!(
        out.column_names(),
        ["transaction_id", "card_id", "score", "decision"]
    );
    let scores = numbers(&out, "score");
    assert_eq!(scores.len(), 3000);
    assert_eq!(
        scores, compiled,
        "the written scores are the Predictor's, exactly"
    );
    for (i, (s, p)) in scores.iter().zip(&plain).enumerate() {
        assert!((s - p).abs() <= 1e-12, "row {i}: {s} vs {p}");
    }
    assert_eq!(
        numbers(&out, "transaction_id"),
        numbers(&input, "transaction_id")
    );
    let decisions = bools(&out, "decision");
    for (s, dec) in scores.iter().zip(&decisions) {
        assert_eq!(*dec, *s >= artifact.threshold);
    }
    let flagged = decisions.iter().filter(|&&b| b).count();
    assert!(flagged > 0 && flagged < 3000, "{flagged}");
    assert_eq!(summary["positives"], flagged);

    // Parquet in, Parquet out, inputs copied: the same scores.
    ok(
        d,
        &[
            "-q",
            "predict",
            "-m",
            "m.fathom",
            "-i",
            "new.parquet",
            "-o",
            "p.parquet",
            "--with-features",
        ],
    );
    let out = read_frame(d.join("p.parquet"), &ReadOptions::default()).unwrap();
    assert_eq!(numbers(&out, "score"), scores);
    assert_eq!(
        out.column_names()[..4],
        ["transaction_id", "card_id", "score", "decision"]
    );
    assert!(out.column("merchant_category").is_some() && out.column("is_fraud").is_none());

    // Identical bytes with one or two threads (CSV input batches differ).
    for ext in ["csv", "parquet"] {
        let mut sums = Vec::new();
        for threads in ["1", "2"] {
            let name = format!("t{threads}.{ext}");
            let o = fathom_with(
                d,
                &[
                    "-q",
                    "predict",
                    "-m",
                    "m.fathom",
                    "-i",
                    "new.csv",
                    "-o",
                    &name,
                    "--with-features",
                ],
                &[("RAYON_NUM_THREADS", threads)],
            );
            assert!(o.status.success(), "{}", text(&o));
            sums.push(sha256_file(&d.join(&name)));
        }
        assert_eq!(
            sums[0], sums[1],
            "{ext} output differs between 1 and 2 threads"
        );
    }

    // A file without two of the model's inputs: one clear error, no output.
    let csv = std::fs::read_to_string(d.join("new.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let drop: Vec<usize> = ["amount", "country"]
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let cut: String = csv
        .lines()
        .map(|l| {
            let kept: Vec<&str> = l
                .split(',')
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, c)| c)
                .collect();
            kept.join(",") + "\n"
        })
        .collect();
    std::fs::write(d.join("cut.csv"), cut).unwrap();
    let o = fathom(
        d,
        &[
            "predict",
            "-m",
            "m.fathom",
            "-i",
            "cut.csv",
            "-o",
            "cut-scores.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.starts_with("error: cut.csv cannot be scored by m.fathom: the input does not fit the model's schema contract")
            && e.contains("column 'amount' is missing (expected numeric)")
            && e.contains("column 'country' is missing (expected categorical)"),
        "{e}"
    );
    assert!(!d.join("cut-scores.csv").exists(), "no output file");
    // A bad value half-way through: the error names it, and no output file.
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let mut row: Vec<String> = lines[2000].split(',').map(String::from).collect();
    row[amount] = "lots".into();
    lines[2000] = row.join(",");
    std::fs::write(d.join("bad.csv"), lines.join("\n")).unwrap();
    let o = fathom(
        d,
        &[
            "predict",
            "-m",
            "m.fathom",
            "-i",
            "bad.csv",
            "-o",
            "bad-scores.parquet",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("'lots'"), "{}", text(&o));
    assert!(!d.join("bad-scores.parquet").exists(), "no output file");
    let leftovers = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".fathom-tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary file left behind");
    // An unknown --id-column names the valid ones.
    let o = fathom(
        d,
        &[
            "predict",
            "-m",
            "m.fathom",
            "-i",
            "new.csv",
            "-o",
            "x.csv",
            "--id-column",
            "nope",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--id-column \"nope\": new.csv has no such column; its columns are: transaction_id, card_id"),
        "{}",
        text(&o)
    );
}

#[test]
fn model_inspect_shows_checksum_and_estimator_and_refuses_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d, "m.fathom", "logistic,gbdt");
    let artifact = ModelArtifact::load(&d.join("m.fathom")).unwrap();
    let Estimator::Trees { ensemble } = &artifact.estimator else {
        panic!("gbdt should win over logistic here");
    };
    let sum = sha256_file(&d.join("m.fathom"));
    let o = ok(d, &["model", "inspect", "m.fathom"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&sum), "{out}");
    assert!(out.contains("checksum verified"), "{out}");
    assert!(
        out.contains(&format!(
            "tree ensemble (binary): {} trees",
            ensemble.trees.len()
        )),
        "{out}"
    );
    assert!(out.contains(&artifact.schema.hash()), "{out}");
    assert!(out.contains("merchant_category"), "{out}");

    let o = ok(d, &["--json", "model", "inspect", "m.fathom"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"]["file_sha256"], sum);
    assert_eq!(v["estimator"]["kind"], "trees");
    assert_eq!(v["estimator"]["trees"], ensemble.trees.len());
    let leaves: usize = ensemble.trees.iter().map(|t| t.num_leaves()).sum();
    assert_eq!(v["estimator"]["leaves"], leaves);
    assert_eq!(v["threshold"], artifact.threshold);
    assert_eq!(v["schema"]["hash"], artifact.schema.hash());
    assert_eq!(
        v["pipeline"]["inputs"].as_array().unwrap().len(),
        artifact.pipeline.inputs.len()
    );
    assert_eq!(v["lineage"]["seed"], artifact.lineage.seed);
    assert_eq!(
        v["reference"]["histograms"].as_array().unwrap().len(),
        artifact.reference.len()
    );

    // A linear model lists its largest coefficients first.
    ok(
        d,
        &[
            "-q",
            "train",
            "--data",
            "train.parquet",
            "--candidates",
            "logistic",
            "-o",
            "lin.fathom",
        ],
    );
    let lin = ModelArtifact::load(&d.join("lin.fathom")).unwrap();
    let Estimator::Linear { coef, .. } = &lin.estimator else {
        panic!("a linear model");
    };
    let o = ok(d, &["--json", "model", "inspect", "lin.fathom"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top: Vec<f64> = v["estimator"]["top_coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coef"].as_f64().unwrap())
        .collect();
    let mut by_size: Vec<f64> = coef.clone();
    by_size.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
    assert_eq!(top, by_size[..10]);

    // One flipped bit: refused with the model crate's message, exit status 1.
    let mut bytes = std::fs::read(d.join("m.fathom")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(d.join("bad.fathom"), &bytes).unwrap();
    let o = fathom(d, &["model", "inspect", "bad.fathom"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.starts_with("error: bad.fathom: the checksum does not match"),
        "{e}"
    );
    let o = fathom(
        d,
        &[
            "predict",
            "-m",
            "bad.fathom",
            "-i",
            "train.parquet",
            "-o",
            "x.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!d.join("x.csv").exists());
}
