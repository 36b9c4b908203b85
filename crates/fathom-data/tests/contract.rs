//! Schema inference, validation against the contract, and snapshots.

use fathom_core::{ColumnType, Role, Schema};
use fathom_data::contract::{InferOptions, infer_schema};
use fathom_data::ingest::{ReadOptions, open};
use fathom_data::snapshot::SnapshotStore;
use fathom_data::validate::{Check, validate_file};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn training_csv() -> String {
    let mut s = String::from("transaction_id,card_id,ts,amount,mcc,online,distance,is_fraud\n");
    for i in 0..400u32 {
        let mcc = ["grocery", "travel", "gas"][(i % 3) as usize];
        let distance = if i % 10 == 0 {
            String::new()
        } else {
            format!("{}.5", i % 40)
        };
        s.push_str(&format!(
            "{},{},2024-02-{:02}T{:02}:15:00Z,{}.25,{mcc},{},{distance},{}\n",
            1000 + i,
            i % 37,
            i % 28 + 1,
            i % 24,
            10 + i % 90,
            i % 2 == 0,
            u32::from(i % 25 == 0)
        ));
    }
    s
}

fn infer(path: &Path) -> Schema {
    let r = open(path, &ReadOptions::default()).unwrap();
    let cols = r.columns();
    infer_schema(r, cols, InferOptions::default()).unwrap()
}

#[test]
fn inference_finds_roles_ranges_categories_and_rates() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "train.csv", &training_csv());
    let s = infer(&p);
    let role = |n: &str| s.column(n).unwrap().role;
    assert_eq!(role("transaction_id"), Role::Id);
    assert_eq!(role("card_id"), Role::Key);
    assert_eq!(role("ts"), Role::Timestamp);
    assert_eq!(role("is_fraud"), Role::Label);
    assert_eq!(role("amount"), Role::Feature);
    let amount = s.column("amount").unwrap();
    // observed 10.25..99.25, widened by half the span, not below zero
    assert_eq!((amount.min, amount.max), (Some(0.0), Some(99.25 + 44.5)));
    assert!(!amount.nullable);
    let mcc = s.column("mcc").unwrap();
    assert_eq!(mcc.column_type, ColumnType::Categorical);
    assert_eq!(
        mcc.categories.as_deref().unwrap(),
        ["gas", "grocery", "travel"]
    );
    let distance = s.column("distance").unwrap();
    assert!(distance.nullable);
    assert_eq!(
        distance.max_null_rate,
        Some(0.16),
        "10% nulls get 1.5x + 1 point headroom"
    );
    let label = s.column("is_fraud").unwrap();
    assert_eq!(
        (label.positive_rate_min, label.positive_rate_max),
        (Some(0.02), Some(0.08))
    );
    // Round trip through TOML keeps the hash stable.
    assert_eq!(Schema::from_toml(&s.to_toml()).unwrap().hash(), s.hash());
    // The data it came from passes.
    let report = validate_file(&p, &s, |_| {}).unwrap();
    assert!(report.passed, "{:?}", report.violations);
    assert_eq!(report.rows, 400);
}

#[test]
fn every_violation_is_reported_with_where_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let schema = infer(&write(dir.path(), "train.csv", &training_csv()));
    let mut bad = String::from("transaction_id,card_id,ts,amount,mcc,extra,is_fraud\n");
    for i in 0..100u32 {
        let id = if i == 50 { 1000 } else { 1000 + i };
        let amount = match i {
            3 => "abc".to_string(),
            7 => "5000".to_string(),
            _ if i % 4 == 0 => String::new(),
            _ => "20".to_string(),
        };
        let mcc = if i == 9 { "crypto" } else { "gas" };
        s_push(
            &mut bad,
            &format!(
                "{id},{},2024-03-01T00:00:00Z,{amount},{mcc},x,{}\n",
                i % 5,
                u32::from(i < 40)
            ),
        );
    }
    let p = write(dir.path(), "new.csv", &bad);
    let r = validate_file(&p, &schema, |_| {}).unwrap();
    assert!(!r.passed);
    let find = |c: Check| {
        r.violations
            .iter()
            .find(|v| v.check == c)
            .unwrap_or_else(|| panic!("no {c:?} in {:#?}", r.violations))
    };
    let v = find(Check::MissingColumn);
    assert_eq!(v.column.as_deref(), Some("online"));
    assert!(v.message.contains("the contract requires column 'online' (bool), but the data has no such column; undeclared columns in the data: extra"), "{}", v.message);
    assert!(
        find(Check::ExtraColumn).message.contains(
            "the data has column 'extra' (categorical) that the contract does not declare"
        )
    );
    let v = find(Check::TypeMismatch);
    assert_eq!(v.examples, vec!["row 4: 'abc'"]);
    assert!(
        v.message
            .contains("1 value(s) in column 'amount' are not numeric"),
        "{}",
        v.message
    );
    let v = find(Check::OutOfRange);
    assert_eq!(v.examples, vec!["row 8: 5000"]);
    assert!(
        v.message.contains("lie outside [0, 143.75]"),
        "{}",
        v.message
    );
    let v = find(Check::UnseenCategory);
    assert_eq!(v.examples, vec!["'crypto' ×1 (first at row 10)"]);
    let v = find(Check::DuplicateId);
    assert_eq!(v.examples, vec!["row 51: 1000"]);
    let v = find(Check::NotNullable);
    assert_eq!((v.column.as_deref(), v.count), (Some("amount"), 25));
    let v = find(Check::LabelRate);
    assert!(
        v.message
            .contains("positive in 40.000% of rows, outside the expected 2.000%–8.000%"),
        "{}",
        v.message
    );
}

fn s_push(s: &mut String, t: &str) {
    s.push_str(t);
}

#[test]
fn null_rate_and_non_binary_label() {
    let dir = tempfile::tempdir().unwrap();
    let schema = infer(&write(dir.path(), "train.csv", &training_csv()));
    let mut text = training_csv().replace(",0\n", ",2\n");
    text = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > 0 && i % 2 == 0 {
                // blank every second distance value
                let mut parts: Vec<&str> = l.split(',').collect();
                parts[6] = "";
                parts.join(",")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let p = write(dir.path(), "n.csv", &text);
    let r = validate_file(&p, &schema, |_| {}).unwrap();
    let null = r
        .violations
        .iter()
        .find(|v| v.check == Check::NullRate)
        .unwrap();
    assert!(
        null.message
            .contains("column 'distance' is 60.00% null, over the limit of 16.00%"),
        "{}",
        null.message
    );
    let label = r
        .violations
        .iter()
        .find(|v| v.check == Check::LabelRate)
        .unwrap();
    assert!(
        label
            .message
            .contains("has 384 value(s) other than 0 and 1"),
        "{}",
        label.message
    );
}

#[test]
fn snapshots_are_content_addressed_idempotent_and_format_independent() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "train.csv", &training_csv());
    let store = SnapshotStore::new(dir.path().join(".fathom"));
    let a = store.create(&csv, None, |_| {}).unwrap();
    assert!(a.is_new);
    assert_eq!(a.manifest.rows, 400);
    let b = store.create(&csv, None, |_| {}).unwrap();
    assert!(!b.is_new);
    assert_eq!(a.manifest.id, b.manifest.id);
    // The stored Parquet copy has the same content, so snapshotting it is the same snapshot.
    let c = store
        .create(&store.data_path(&a.manifest.id), None, |_| {})
        .unwrap();
    assert_eq!(c.manifest.id, a.manifest.id);
    assert!(!c.is_new);
    // Changing one value changes the id.
    let changed = write(
        dir.path(),
        "changed.csv",
        &training_csv().replacen("10.25", "10.26", 1),
    );
    let d = store.create(&changed, None, |_| {}).unwrap();
    assert_ne!(d.manifest.id, a.manifest.id);
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(store.get(&a.manifest.id[..8]).unwrap().id, a.manifest.id);
    // An unknown id says where to look, with the command that lists them.
    let err = store.get("0000000000ff").unwrap_err().to_string();
    assert!(
        err.contains("no such snapshot") && err.contains("`fathom data snapshots` lists them"),
        "{err}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no staging folders left: {leftovers:?}"
    );
    // A failed snapshot (bad input) leaves the store as it was.
    let broken = write(dir.path(), "broken.csv", "a,b\n1,2\n3\n");
    let e = store.create(&broken, None, |_| {}).unwrap_err().to_string();
    assert!(e.contains("row 2"), "{e}");
    assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 2);
}

#[test]
fn default_null_limit_whole_column_types_and_text_id_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema = infer(&write(dir.path(), "train.csv", &training_csv()));
    // A nullable column whose contract gives no limit of its own: the
    // default 5 % applies. 10 % of distances blank here.
    let distance = schema
        .columns
        .iter_mut()
        .find(|c| c.name == "distance")
        .unwrap();
    assert!(distance.nullable);
    distance.max_null_rate = None;
    let p = write(dir.path(), "n.csv", &training_csv());
    let r = validate_file(&p, &schema, |_| {}).unwrap();
    let null = r
        .violations
        .iter()
        .find(|v| v.check == Check::NullRate)
        .unwrap_or_else(|| panic!("{:?}", r.violations));
    assert!(
        null.message
            .contains("column 'distance' is 10.00% null, over the limit of 5.00%"),
        "{}",
        null.message
    );

    // A whole column of another type: amounts written as true/false.
    let text: String = training_csv()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut parts: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 {
                parts[3] = (i % 2 == 0).to_string();
            }
            parts.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    // In CSV each cell is read as the contract's type: every value is
    // named as not numeric.
    let p = write(dir.path(), "t.csv", &text);
    let r = validate_file(&p, &schema, |_| {}).unwrap();
    assert!(
        r.violations.iter().any(|v| v
            .message
            .contains("400 value(s) in column 'amount' are not numeric; fix them at the source")),
        "{:?}",
        r.violations
    );
    // Parquet carries its own types: the column's type is the mismatch.
    let frame = fathom_data::ingest::read_frame(&p, &ReadOptions::default()).unwrap();
    let pq = dir.path().join("t.parquet");
    fathom_data::export::write_frame(&pq, &frame).unwrap();
    let r = validate_file(&pq, &schema, |_| {}).unwrap();
    let mismatch = r
        .violations
        .iter()
        .find(|v| v.check == Check::TypeMismatch)
        .unwrap_or_else(|| panic!("{:?}", r.violations));
    assert!(
        mismatch
            .message
            .contains("'amount' is bool in the data but numeric in the contract"),
        "{}",
        mismatch.message
    );

    // Text ids: a repeated one is found and named.
    let with_text_ids = |repeat: bool| -> String {
        training_csv()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut parts: Vec<String> = l.split(',').map(str::to_string).collect();
                if i > 0 {
                    let n = if repeat && i == 300 { 7 } else { i };
                    parts[0] = format!("tx-{n:05}");
                }
                parts.join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let schema = infer(&write(dir.path(), "ids.csv", &with_text_ids(false)));
    let id = schema.column("transaction_id").unwrap();
    assert_eq!(
        (id.column_type, id.role),
        (ColumnType::Categorical, Role::Id)
    );
    let p = write(dir.path(), "dup.csv", &with_text_ids(true));
    let r = validate_file(&p, &schema, |_| {}).unwrap();
    let dup = r
        .violations
        .iter()
        .find(|v| v.check == Check::DuplicateId)
        .unwrap_or_else(|| panic!("{:?}", r.violations));
    assert_eq!(dup.count, 1, "{}", dup.message);
    assert_eq!(dup.examples, vec!["row 300: 'tx-00007'"]);
}

#[test]
fn inferred_null_limits_keep_headroom_but_stay_below_all_null() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y\n");
    for i in 0..100 {
        let x = if i < 70 { String::new() } else { i.to_string() };
        let y = if i % 10 == 0 {
            String::new()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{x},{y}\n"));
    }
    let schema = infer(&write(dir.path(), "nulls.csv", &text));
    // 70 % null: halfway to all-null (0.85), not 1.5 × 0.7 + 0.01 = 1.06.
    assert_eq!(schema.column("x").unwrap().max_null_rate, Some(0.85));
    // 10 % null: 1.5 × 0.1 + 0.01.
    assert_eq!(schema.column("y").unwrap().max_null_rate, Some(0.16));
}
