//! The feature pipeline: no training/serving skew, no leakage, out-of-fold
//! target encoding, clear errors.

use fathom_core::{Bitmap, Column, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::pipeline::{
    CategoricalEncoding, Clipping, DeriveOp, DerivedSpec, Imputation, MissingIndicator,
    PipelineError, PipelineOptions, TrainEncodings, fit_pipeline, fit_pipeline_with_oof,
};
use fathom_learn::split::stratified_split;
use fathom_model::pipeline::{FeaturePipeline, InputTransform, Value};

const LEVELS: [&str; 4] = ["gas", "grocery", "travel", "jewelry"];

#[derive(Clone)]
struct Source {
    amount: Vec<Option<f64>>,
    avg: Vec<Option<f64>>,
    delta: Vec<f64>,
    online: Vec<bool>,
    mcc: Vec<Option<&'static str>>,
    card: Vec<String>,
    ts: Vec<i64>,
    label: Vec<f64>,
}

fn source(n: usize) -> Source {
    let mcc: Vec<Option<&'static str>> = (0..n)
        .map(|i| (i % 13 != 0).then_some(LEVELS[i * 7 % 4]))
        .collect();
    Source {
        amount: (0..n)
            .map(|i| (i % 11 != 0).then_some((i * 37 % 500) as f64 + 0.25))
            .collect(),
        avg: (0..n)
            .map(|i| match i % 17 {
                0 => None,
                1 => Some(0.0),
                _ => Some((i * 53 % 300) as f64 / 4.0 + 1.0),
            })
            .collect(),
        delta: (0..n).map(|i| (i * 29 % 200) as f64 - 120.5).collect(),
        online: (0..n).map(|i| i % 3 == 0).collect(),
        card: (0..n).map(|i| format!("card{}", i * 13 % 37)).collect(),
        ts: (0..n)
            .map(|i| 1_704_067_200_000_000 + i as i64 * 3_600_000_000 * 7)
            .collect(),
        // Travel and jewelry carry more positives, so target means differ.
        label: (0..n)
            .map(|i| {
                let risky = matches!(mcc[i], Some("travel" | "jewelry"));
                f64::from(i % 10 == 0 || (risky && i % 4 == 0))
            })
            .collect(),
        mcc,
    }
}

fn with_nulls(name: &str, v: &[Option<f64>]) -> Column {
    Column::new(
        name,
        fathom_core::ColumnData::Numeric(v.iter().map(|a| a.unwrap_or(f64::NAN)).collect()),
        Some(Bitmap::from_bools(
            &v.iter().map(Option::is_some).collect::<Vec<_>>(),
        )),
    )
}

fn frame(s: &Source) -> Frame {
    let mut mcc = Column::categorical(
        "mcc",
        &s.mcc.iter().map(|m| m.unwrap_or("")).collect::<Vec<_>>(),
    );
    mcc.validity = Some(Bitmap::from_bools(
        &s.mcc.iter().map(Option::is_some).collect::<Vec<_>>(),
    ));
    Frame::new(vec![
        with_nulls("amount", &s.amount),
        with_nulls("avg", &s.avg),
        Column::numeric("delta", s.delta.clone()),
        Column::boolean("online", s.online.clone()),
        mcc,
        Column::categorical("card", &s.card),
        Column::timestamp("ts", s.ts.clone()),
        Column::numeric("y", s.label.clone()),
    ])
    .unwrap()
}

fn schema() -> Schema {
    Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("avg", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("delta", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("online", ColumnType::Bool, Role::Feature),
        ColumnSpec::new("mcc", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("card", ColumnType::Categorical, Role::Key),
        ColumnSpec::new("ts", ColumnType::Timestamp, Role::Feature),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ])
}

/// One raw value of row `i` for input `column`, as a request carries it.
fn request_value<'a>(s: &'a Source, column: &str, i: usize) -> Value<'a> {
    match column {
        "amount" => s.amount[i].map_or(Value::Missing, Value::Number),
        "avg" => s.avg[i].map_or(Value::Missing, Value::Number),
        "delta" => Value::Number(s.delta[i]),
        "online" => Value::Bool(s.online[i]),
        "mcc" => s.mcc[i].map_or(Value::Missing, Value::Text),
        "card" => Value::Text(&s.card[i]),
        "ts" => Value::Time(s.ts[i]),
        other => panic!("no input {other}"),
    }
}

fn derived(name: &str, op: DeriveOp, of: &[&str]) -> DerivedSpec {
    DerivedSpec {
        name: name.into(),
        op,
        of: of.iter().map(|s| s.to_string()).collect(),
    }
}

fn all_derived() -> Vec<DerivedSpec> {
    vec![
        derived("amount_log", DeriveOp::Log1p, &["amount"]),
        derived("delta_log", DeriveOp::Log1p, &["delta"]),
        derived("amount_to_avg", DeriveOp::Ratio, &["amount", "avg"]),
        derived("amount_minus_avg", DeriveOp::Difference, &["amount", "avg"]),
        derived(
            "amount_times_online",
            DeriveOp::Product,
            &["amount", "online"],
        ),
        derived("card_share", DeriveOp::Frequency, &["card"]),
        derived("mcc_share", DeriveOp::Frequency, &["mcc"]),
    ]
}

/// Every transform kind and strategy, for trees and for linear models.
fn option_sets() -> Vec<(&'static str, PipelineOptions)> {
    let base = PipelineOptions {
        seed: 11,
        derived: all_derived(),
        ..PipelineOptions::default()
    };
    vec![
        ("trees, defaults", base.clone()),
        (
            "trees, constant, quantiles, indicators",
            PipelineOptions {
                impute: Imputation::Constant { value: -1.0 },
                clip: Clipping::Quantiles { lo: 0.1, hi: 0.9 },
                missing_indicator: MissingIndicator::Always,
                ..base.clone()
            },
        ),
        (
            "linear, one-hot",
            PipelineOptions {
                linear: true,
                ..base.clone()
            },
        ),
        (
            "linear, target, iqr, mean",
            PipelineOptions {
                linear: true,
                impute: Imputation::Mean,
                clip: Clipping::Iqr { k: 1.5 },
                missing_indicator: MissingIndicator::WhenMissing,
                linear_encoding: CategoricalEncoding::Target {
                    smoothing: 5.0,
                    folds: 4,
                },
                ..base
            },
        ),
    ]
}

fn fit(s: &Source, train: &[usize], o: &PipelineOptions) -> (FeaturePipeline, TrainEncodings) {
    fit_pipeline_with_oof(&frame(s), &schema(), train, &s.label, o).unwrap()
}

fn json(p: &FeaturePipeline) -> String {
    serde_json::to_string(p).unwrap()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn one_row_at_a_time_equals_the_batch() {
    let s = source(600);
    let f = frame(&s);
    let split = stratified_split(&s.label, 0.25, 1).unwrap();
    for (what, o) in option_sets() {
        let (p, _) = fit(&s, &split.train, &o);
        // The pipeline as serving loads it from the model file.
        let served: FeaturePipeline =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        let batch = p.transform_frame(&f);
        let w = p.width();
        assert_eq!(p.feature_names().len(), w);
        let mut out = vec![0.0; w];
        let mut out_served = vec![0.0; w];
        for i in 0..600 {
            // Built from the source values, as a request would carry them.
            let row: Vec<Value> = p
                .inputs
                .iter()
                .map(|t| request_value(&s, t.column(), i))
                .collect();
            p.transform_row(&row, &mut out);
            served.apply(&row, &mut out_served);
            let expect = &batch[i * w..(i + 1) * w];
            assert_eq!(
                bits(&out),
                bits(expect),
                "{what}, row {i}: {out:?} vs {expect:?}"
            );
            assert_eq!(
                bits(&out_served),
                bits(expect),
                "{what}, row {i}, from JSON"
            );
        }
    }
}

#[test]
fn every_transform_kind_is_covered() {
    let s = source(300);
    let train: Vec<usize> = (0..300).collect();
    let kinds: Vec<String> = option_sets()
        .iter()
        .flat_map(|(_, o)| {
            let (p, _) = fit(&s, &train, o);
            let inputs: Vec<String> = p
                .inputs
                .iter()
                .map(|t| match t {
                    InputTransform::Numeric { indicator, .. } => format!("numeric {indicator}"),
                    InputTransform::Bool { .. } => "bool".into(),
                    InputTransform::Categorical { one_hot, .. } => format!("categorical {one_hot}"),
                    InputTransform::Target { .. } => "target".into(),
                    InputTransform::Timestamp { .. } => "timestamp".into(),
                    InputTransform::Source { .. } => "source".into(),
                })
                .collect();
            let formulas = p
                .derived
                .iter()
                .map(|d| serde_json::to_value(&d.formula).unwrap()["op"].to_string());
            inputs.into_iter().chain(formulas).collect::<Vec<_>>()
        })
        .collect();
    for kind in [
        "numeric true",
        "numeric false",
        "bool",
        "categorical true",
        "categorical false",
        "target",
        "timestamp",
        "source",
        "\"log1p\"",
        "\"ratio\"",
        "\"difference\"",
        "\"product\"",
        "\"frequency\"",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} not covered: {kinds:?}"
        );
    }
}

#[test]
fn nothing_is_learned_from_rows_outside_the_training_split() {
    let s = source(600);
    let split = stratified_split(&s.label, 0.25, 2).unwrap();
    // Wreck every held-out row, label included: no fitted statistic, and no
    // training row's encoding, may change.
    let mut wrecked = s.clone();
    for &i in &split.test {
        wrecked.amount[i] = Some(1e9);
        wrecked.avg[i] = Some(1e-9);
        wrecked.delta[i] = -1e7;
        wrecked.mcc[i] = Some("held_out_only");
        wrecked.card[i] = "held_out_card".into();
        wrecked.online[i] = true;
        wrecked.ts[i] += 12 * 3_600_000_000;
        wrecked.label[i] = 1.0 - wrecked.label[i];
    }
    for (what, o) in option_sets() {
        let (p, enc) = fit(&s, &split.train, &o);
        let (p2, enc2) = fit(&wrecked, &split.train, &o);
        // Compared as JSON: a tree pipeline's NaN fill is not equal to itself.
        assert_eq!(json(&p2), json(&p), "{what}");
        assert_eq!(enc2, enc, "{what}");
    }
    // And the statistics are the training rows' own.
    let o = PipelineOptions {
        linear: true,
        ..Default::default()
    };
    let p = fit_pipeline(&frame(&s), &schema(), &split.train, &o).unwrap();
    let mut train_amounts: Vec<f64> = split.train.iter().filter_map(|&i| s.amount[i]).collect();
    train_amounts.sort_by(f64::total_cmp);
    let n = train_amounts.len();
    let median = if n % 2 == 1 {
        train_amounts[n / 2]
    } else {
        (train_amounts[n / 2 - 1] + train_amounts[n / 2]) / 2.0
    };
    match &p.inputs[0] {
        InputTransform::Numeric {
            impute,
            clip,
            indicator,
            ..
        } => {
            assert_eq!(*impute, median);
            assert_eq!(*clip, Some((train_amounts[0], train_amounts[n - 1])));
            assert!(*indicator);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn target_options(seed: u64) -> PipelineOptions {
    PipelineOptions {
        linear: true,
        seed,
        linear_encoding: CategoricalEncoding::Target {
            smoothing: 3.0,
            folds: 5,
        },
        ..Default::default()
    }
}

fn prior(p: &FeaturePipeline) -> f64 {
    p.inputs
        .iter()
        .find_map(|t| match t {
            InputTransform::Target { prior, .. } => Some(*prior),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_training_rows_own_label_never_encodes_it() {
    let s = source(400);
    let train: Vec<usize> = (0..300).collect();
    let o = target_options(9);
    let (p, enc) = fit(&s, &train, &o);
    assert_eq!(enc.features.len(), 1);
    assert_eq!(enc.features[0].name, "mcc__target");
    for &k in &[0usize, 17, 121, 299] {
        let mut flipped = s.clone();
        flipped.label[train[k]] = 1.0 - flipped.label[train[k]];
        let (p2, enc2) = fit(&flipped, &train, &o);
        assert_ne!(
            prior(&p2),
            prior(&p),
            "the label is part of the served encoding"
        );
        assert_eq!(
            enc2.features[0].values[k].to_bits(),
            enc.features[0].values[k].to_bits(),
            "training row {k}'s own label changed its out-of-fold value"
        );
        assert_eq!(enc2.folds, enc.folds, "folds do not depend on labels");
    }
}

#[test]
fn out_of_fold_values_are_the_m_estimate_of_the_other_folds() {
    let s = source(400);
    let train: Vec<usize> = (0..400).step_by(2).collect();
    let (_, enc) = fit(&s, &train, &target_options(4));
    let m = 3.0;
    for (k, &r) in train.iter().enumerate() {
        // By hand, from the rows of the other folds only.
        let others: Vec<usize> = (0..train.len())
            .filter(|&q| enc.folds[q] != enc.folds[k])
            .collect();
        let prior = others.iter().map(|&q| s.label[train[q]]).sum::<f64>() / others.len() as f64;
        let want = match s.mcc[r] {
            None => prior,
            Some(level) => {
                let same: Vec<f64> = others
                    .iter()
                    .filter(|&&q| s.mcc[train[q]] == Some(level))
                    .map(|&q| s.label[train[q]])
                    .collect();
                (same.iter().sum::<f64>() + m * prior) / (same.len() as f64 + m)
            }
        };
        let got = enc.features[0].values[k];
        assert!((got - want).abs() < 1e-12, "row {r}: {got} vs {want}");
    }
}

#[test]
fn the_trainer_overwrites_only_training_rows() {
    let s = source(300);
    let train: Vec<usize> = (100..300).collect();
    let (p, enc) = fit(&s, &train, &target_options(5));
    let served = p.transform_frame(&frame(&s));
    let mut x = served.clone();
    enc.overwrite(&mut x, p.width());
    let j = enc.features[0].index;
    assert_eq!(p.feature_names()[j], "mcc__target");
    for r in 0..300 {
        for c in 0..p.width() {
            let (got, was) = (x[r * p.width() + c], served[r * p.width() + c]);
            if r >= 100 && c == j {
                assert_eq!(got, enc.features[0].values[r - 100]);
            } else {
                assert_eq!(got.to_bits(), was.to_bits(), "row {r} feature {c}");
            }
        }
    }
    // Some training rows do differ from the in-sample encoding.
    assert!((100..300).any(|r| x[r * p.width() + j] != served[r * p.width() + j]));
}

#[test]
fn same_seed_same_encodings() {
    let s = source(300);
    let train: Vec<usize> = (0..300).collect();
    let (p, enc) = fit(&s, &train, &target_options(21));
    let (p2, enc2) = fit(&s, &train, &target_options(21));
    assert_eq!(p2, p);
    assert_eq!(enc2, enc);
    let (p3, enc3) = fit(&s, &train, &target_options(22));
    assert_eq!(p3, p, "the served encoding uses all training rows");
    assert_ne!(enc3.folds, enc.folds);
    assert_ne!(enc3.features[0].values, enc.features[0].values);
    // Without target encoding there is nothing to overwrite.
    let (_, none) = fit(&s, &train, &PipelineOptions::default());
    assert!(none.is_empty());
}

#[test]
fn unseen_and_missing_levels_map_to_other() {
    let s = source(200);
    let p = fit_pipeline(
        &frame(&s),
        &schema(),
        &(0..200).collect::<Vec<_>>(),
        &PipelineOptions::default(),
    )
    .unwrap();
    let names = p.feature_names();
    let at = |n: &str| names.iter().position(|x| x == n).unwrap();
    let mut out = vec![0.0; p.width()];
    let mut row = vec![Value::Missing; p.inputs.len()];
    row[0] = Value::Number(1e12);
    row[4] = Value::Text("crypto");
    p.transform_row(&row, &mut out);
    assert_eq!(
        out[at("mcc")],
        4.0,
        "4 trained levels, so 'other' is code 4"
    );
    assert_eq!(out[at("amount")], 499.25, "clipped to the trained maximum");
    assert!(
        out[at("ts__hour")].is_nan(),
        "missing time stays missing for trees"
    );
}

fn fit_error(o: &PipelineOptions) -> String {
    let s = source(100);
    let train: Vec<usize> = (0..100).collect();
    fit_pipeline_with_oof(&frame(&s), &schema(), &train, &s.label, o)
        .unwrap_err()
        .to_string()
}

fn with_derived(specs: Vec<DerivedSpec>) -> PipelineOptions {
    PipelineOptions {
        derived: specs,
        ..Default::default()
    }
}

#[test]
fn bad_derived_features_are_named() {
    let e = fit_error(&with_derived(vec![derived(
        "x",
        DeriveOp::Ratio,
        &["amount", "amonut"],
    )]));
    assert!(
        e.contains(
            "derived feature 'x' reads column 'amonut', which is not in the schema contract"
        ) && e.contains("amount, avg, delta, online, mcc, card, ts, y"),
        "{e}"
    );
    let e = fit_error(&with_derived(vec![derived("x", DeriveOp::Log1p, &["mcc"])]));
    assert!(
        e.contains("'x' (log1p) reads column 'mcc', which is categorical; log1p takes numeric"),
        "{e}"
    );
    let e = fit_error(&with_derived(vec![derived(
        "x",
        DeriveOp::Frequency,
        &["amount"],
    )]));
    assert!(e.contains("frequency takes a categorical column"), "{e}");
    let e = fit_error(&with_derived(vec![derived("x", DeriveOp::Log1p, &["y"])]));
    assert!(e.contains("reads the label column 'y'"), "{e}");
    let e = fit_error(&with_derived(vec![derived(
        "x",
        DeriveOp::Difference,
        &["amount"],
    )]));
    assert!(
        e.contains("difference takes 2 column(s) in `of`, but 1 are named"),
        "{e}"
    );
    let e = fit_error(&with_derived(vec![derived(
        "amount",
        DeriveOp::Log1p,
        &["avg"],
    )]));
    assert!(e.contains("two features are named 'amount'"), "{e}");
    let e = fit_error(&with_derived(vec![derived(" ", DeriveOp::Log1p, &["avg"])]));
    assert!(
        e.contains("derived.name") && e.contains("log1p of avg"),
        "{e}"
    );
}

#[test]
fn bad_options_are_named() {
    for (o, want) in [
        (
            PipelineOptions {
                clip: Clipping::Iqr { k: -1.0 },
                ..Default::default()
            },
            "clip.k",
        ),
        (
            PipelineOptions {
                clip: Clipping::Quantiles { lo: 0.9, hi: 0.1 },
                ..Default::default()
            },
            "clip.lo, clip.hi",
        ),
        (
            PipelineOptions {
                impute: Imputation::Constant { value: f64::NAN },
                ..Default::default()
            },
            "impute.value",
        ),
        (
            PipelineOptions {
                max_levels: 0,
                ..Default::default()
            },
            "max_levels",
        ),
        (
            PipelineOptions {
                linear_encoding: CategoricalEncoding::Target {
                    smoothing: 1.0,
                    folds: 1,
                },
                ..Default::default()
            },
            "linear_encoding.folds",
        ),
    ] {
        let e = fit_error(&o);
        assert!(e.starts_with(&format!("feature option {want}:")), "{e}");
    }
}

#[test]
fn target_encoding_needs_good_labels() {
    let s = source(50);
    let f = frame(&s);
    let train: Vec<usize> = (0..40).collect();
    let o = target_options(1);
    assert_eq!(
        fit_pipeline(&f, &schema(), &train, &o).unwrap_err(),
        PipelineError::LabelsNeeded
    );
    assert_eq!(
        fit_pipeline_with_oof(&f, &schema(), &train, &s.label[..10], &o).unwrap_err(),
        PipelineError::LabelCount {
            labels: 10,
            rows: 50
        }
    );
    let mut y = s.label.clone();
    y[7] = f64::NAN;
    let e = fit_pipeline_with_oof(&f, &schema(), &train, &y, &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the label of row 8 is NaN"), "{e}");
    assert_eq!(
        fit_pipeline(&f, &schema(), &[3, 50], &PipelineOptions::default()).unwrap_err(),
        PipelineError::RowOutOfRange { row: 50, rows: 50 }
    );
    // A NaN label outside the training rows is never read.
    y[7] = 0.0;
    y[45] = f64::NAN;
    assert!(fit_pipeline_with_oof(&f, &schema(), &train, &y, &o).is_ok());
}

#[test]
fn features_table_from_toml() {
    let o: PipelineOptions = toml::from_str(
        r#"
        impute = { method = "constant", value = 0 }
        missing_indicator = "always"
        clip = { method = "quantiles", lo = 0.01, hi = 0.99 }
        max_levels = 50
        linear_encoding = { method = "target" }
        [[derived]]
        name = "amount_log"
        op = "log1p"
        of = "amount"
        [[derived]]
        name = "amount_to_avg"
        op = "ratio"
        of = ["amount", "avg"]
        "#,
    )
    .unwrap();
    assert_eq!(o.impute, Imputation::Constant { value: 0.0 });
    assert_eq!(o.missing_indicator, MissingIndicator::Always);
    assert_eq!(o.clip, Clipping::Quantiles { lo: 0.01, hi: 0.99 });
    assert_eq!(o.max_levels, 50);
    assert_eq!(
        o.linear_encoding,
        CategoricalEncoding::Target {
            smoothing: 10.0,
            folds: 5
        }
    );
    assert_eq!(
        o.derived,
        vec![
            derived("amount_log", DeriveOp::Log1p, &["amount"]),
            derived("amount_to_avg", DeriveOp::Ratio, &["amount", "avg"]),
        ]
    );
    assert_eq!(
        toml::from_str::<PipelineOptions>("").unwrap(),
        PipelineOptions::default()
    );
    let e = toml::from_str::<PipelineOptions>("clip = { method = \"tukey\" }")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown variant `tukey`") && e.contains("`iqr`"),
        "{e}"
    );
    let e = toml::from_str::<PipelineOptions>("clipp = 1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field"), "{e}");
    let e = toml::from_str::<PipelineOptions>(
        "[[derived]]\nname = \"a\"\nop = \"sqrt\"\nof = \"amount\"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown variant `sqrt`") && e.contains("`ratio`"),
        "{e}"
    );
}
