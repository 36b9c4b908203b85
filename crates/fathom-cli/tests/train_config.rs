//! `fathom train` reads `[train]` and `[features]` from fathom.toml:
//! cross-validation, search, feature selection, ensembles and derived
//! features show up in the comparison, the JSON, the report and the model.

mod common;
use common::{ok, text};

#[test]
fn fathom_toml_drives_cross_validation_search_selection_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            "6000",
            "-o",
            "t.parquet",
        ],
    );
    std::fs::write(
        d.join("fathom.toml"),
        r#"
[train]
candidates = ["baseline", "logistic", "voting"]

[train.cv]
folds = 3

[train.search]
method = "grid"

[train.search.space.logistic]
c = { values = [0.1, 1.0] }

[train.feature_selection]
apply = false

[train.ensemble]
members = ["logistic", "gbdt"]

[train.gbdt]
num_rounds = 20

[features]
clip = { method = "iqr", k = 3.0 }

[[features.derived]]
name = "amount_log"
op = "log1p"
of = "amount"
"#,
    )
    .unwrap();
    let table = ok(d, &["train", "--data", "t.parquet", "-o", "m.fathom"]);
    let out = text(&table);
    assert!(out.contains("CV AUC-PR (mean ± std)"), "{out}");
    assert!(out.contains("search of logistic"), "{out}");
    assert!(out.contains("feature selection"), "{out}");
    assert!(out.contains("mean AUC-PR over 3"), "{out}");
    let json = ok(
        d,
        &["--json", "train", "--data", "t.parquet", "-o", "m2.fathom"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let names: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["baseline", "logistic", "voting"]);
    let logistic = &v["candidates"][1];
    assert_eq!(logistic["search"]["trials"].as_array().unwrap().len(), 2);
    assert_eq!(logistic["cv"]["folds"].as_array().unwrap().len(), 3);
    assert!(v["selection"]["features"].as_array().unwrap().len() > 10);
    // Both runs trained the same model: the configuration is the recipe.
    assert_eq!(
        common::sha256_file(&d.join("m.fathom")),
        common::sha256_file(&d.join("m2.fathom"))
    );
    let html = std::fs::read_to_string(d.join("m.report.html")).unwrap();
    for section in [
        "Cross-validation",
        "Search of logistic",
        "Feature selection",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    let inspect = ok(d, &["--json", "model", "inspect", "m.fathom"]);
    let i = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        i.contains("amount_log"),
        "the derived feature is in the model: {i}"
    );
}
