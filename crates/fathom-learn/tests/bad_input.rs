//! What training does with bad input: a clear error, or a documented,
//! tested handling — never a panic, never a silently wrong model.

use fathom_core::{Bitmap, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::gbdt::GbdtParams;
use fathom_learn::trainer::{TrainConfig, TrainError, train_binary};

fn schema(extra: &[(&str, ColumnType)]) -> Schema {
    let mut cols = vec![ColumnSpec::new("x", ColumnType::Numeric, Role::Feature)];
    cols.extend(
        extra
            .iter()
            .map(|(n, t)| ColumnSpec::new(*n, *t, Role::Feature)),
    );
    cols.push(ColumnSpec::new("y", ColumnType::Numeric, Role::Label));
    Schema::new(cols)
}

/// A learnable table: y = 1 when x is high, with some noise.
fn base(n: usize) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64).collect();
    let y = (0..n)
        .map(|i| f64::from(x[i] > 800.0 || i % 31 == 0))
        .collect();
    (x, y)
}

fn config() -> TrainConfig {
    let mut c = TrainConfig {
        candidates: vec!["baseline".into(), "logistic".into(), "gbdt".into()],
        ..TrainConfig::default()
    };
    c.gbdt = GbdtParams {
        num_rounds: 20,
        ..c.gbdt
    };
    c
}

fn err(frame: &Frame, schema: &Schema) -> String {
    train_binary(frame, schema, &config())
        .expect_err("training must refuse this input")
        .to_string()
}

#[test]
fn an_empty_training_set_is_refused() {
    let f = Frame::new(vec![
        Column::numeric("x", vec![]),
        Column::numeric("y", vec![]),
    ])
    .unwrap();
    let e = err(&f, &schema(&[]));
    assert!(
        e.contains("has 0 positive and 0 negative rows; training needs at least 10 of each class"),
        "{e}"
    );
}

#[test]
fn a_single_class_is_refused() {
    let (x, _) = base(500);
    let f = Frame::new(vec![
        Column::numeric("x", x),
        Column::numeric("y", vec![0.0; 500]),
    ])
    .unwrap();
    let e = err(&f, &schema(&[]));
    assert!(
        e.contains("label column 'y' has 0 positive and 500 negative rows"),
        "{e}"
    );
}

#[test]
fn a_label_that_is_not_binary_names_the_row() {
    let (x, mut y) = base(500);
    y[41] = 2.0;
    let f = Frame::new(vec![Column::numeric("x", x), Column::numeric("y", y)]).unwrap();
    let e = err(&f, &schema(&[]));
    assert!(e.contains("row 42 is 2"), "{e}");
    let (x, y) = base(500);
    let mut yc = Column::numeric("y", y);
    let mut valid = vec![true; 500];
    valid[9] = false;
    yc.validity = Some(Bitmap::from_bools(&valid));
    let f = Frame::new(vec![Column::numeric("x", x), yc]).unwrap();
    let e = err(&f, &schema(&[]));
    assert!(e.contains("row 10 is null"), "{e}");
}

/// All-null and constant features are kept (a later batch may fill them)
/// but carry no signal: the model trains on the others and gives them no
/// importance.
#[test]
fn all_null_and_constant_features_train_and_get_no_importance() {
    let n = 2000;
    let (x, y) = base(n);
    let empty = Column::new(
        "empty",
        ColumnData::Numeric(vec![f64::NAN; n]),
        Some(Bitmap::from_bools(&vec![false; n])),
    );
    let f = Frame::new(vec![
        Column::numeric("x", x),
        empty,
        Column::numeric("constant", vec![3.5; n]),
        Column::numeric("y", y),
    ])
    .unwrap();
    let s = schema(&[
        ("empty", ColumnType::Numeric),
        ("constant", ColumnType::Numeric),
    ]);
    let r = train_binary(&f, &s, &config()).unwrap();
    let gbdt = r.candidates.iter().find(|c| c.name == "gbdt").unwrap();
    for (name, gain) in &gbdt.importance {
        if name == "empty" || name == "constant" {
            assert_eq!(*gain, 0.0, "{name}");
        }
    }
    assert!(gbdt.report.auc_roc > 0.9, "{}", gbdt.report.auc_roc);
    let lin = r.candidates.iter().find(|c| c.name == "logistic").unwrap();
    assert!(lin.report.auc_roc.is_finite());
    assert!(
        lin.importance.iter().all(|(_, v)| v.is_finite()),
        "{:?}",
        lin.importance
    );
}

/// NaN is missing; ±inf is an extreme value, clipped to the trained range
/// by the pipeline, so every score stays a finite probability.
#[test]
fn nan_and_infinite_feature_values_give_finite_scores() {
    let n = 2000;
    let (mut x, y) = base(n);
    for i in (0..n).step_by(17) {
        x[i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][i % 3];
    }
    let f = Frame::new(vec![Column::numeric("x", x), Column::numeric("y", y)]).unwrap();
    let r = train_binary(&f, &schema(&[]), &config()).unwrap();
    for c in &r.candidates {
        assert!(
            c.test_scores
                .iter()
                .all(|s| s.is_finite() && (0.0..=1.0).contains(s)),
            "{}",
            c.name
        );
    }
}

/// A categorical with 100,000 levels keeps its 1,000 most frequent levels;
/// the rest share the "other" code.
#[test]
fn a_categorical_with_100k_levels_is_capped() {
    let n = 100_000;
    let (x, y) = base(n);
    let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let f = Frame::new(vec![
        Column::numeric("x", x),
        Column::categorical("card", &ids),
        Column::numeric("y", y),
    ])
    .unwrap();
    let mut c = config();
    c.candidates = vec!["gbdt".into()];
    let r = train_binary(&f, &schema(&[("card", ColumnType::Categorical)]), &c).unwrap();
    let levels = r
        .artifact
        .pipeline
        .inputs
        .iter()
        .find_map(|t| match t {
            fathom_model::pipeline::InputTransform::Categorical { levels, .. } => {
                Some(levels.len())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(levels, 1000);
}

#[test]
fn a_schema_without_label_or_features_is_refused() {
    let (x, y) = base(100);
    let f = Frame::new(vec![Column::numeric("x", x), Column::numeric("y", y)]).unwrap();
    let no_label = Schema::new(vec![ColumnSpec::new(
        "x",
        ColumnType::Numeric,
        Role::Feature,
    )]);
    assert!(matches!(
        train_binary(&f, &no_label, &config()),
        Err(TrainError::NoLabel)
    ));
    let no_features = Schema::new(vec![ColumnSpec::new("y", ColumnType::Numeric, Role::Label)]);
    let e = err(&f, &no_features);
    assert!(e.contains("no feature columns"), "{e}");
}
