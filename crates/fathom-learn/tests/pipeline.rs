//! The feature pipeline: no training/serving skew, no leakage.

use fathom_core::{Bitmap, Column, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::pipeline::{PipelineOptions, fit_pipeline};
use fathom_learn::split::stratified_split;
use fathom_model::pipeline::Value;

const LEVELS: [&str; 4] = ["gas", "grocery", "travel", "jewelry"];

struct Source {
    amount: Vec<Option<f64>>,
    online: Vec<bool>,
    mcc: Vec<Option<&'static str>>,
    ts: Vec<i64>,
    label: Vec<f64>,
}

fn source(n: usize) -> Source {
    Source {
        amount: (0..n)
            .map(|i| {
                if i % 11 == 0 {
                    None
                } else {
                    Some((i * 37 % 500) as f64 + 0.25)
                }
            })
            .collect(),
        online: (0..n).map(|i| i % 3 == 0).collect(),
        mcc: (0..n)
            .map(|i| {
                if i % 13 == 0 {
                    None
                } else {
                    Some(LEVELS[i * 7 % 4])
                }
            })
            .collect(),
        ts: (0..n)
            .map(|i| 1_704_067_200_000_000 + i as i64 * 3_600_000_000 * 7)
            .collect(),
        label: (0..n).map(|i| f64::from(i % 10 == 0)).collect(),
    }
}

fn frame(s: &Source) -> Frame {
    let amount = Column::new(
        "amount",
        fathom_core::ColumnData::Numeric(s.amount.iter().map(|a| a.unwrap_or(f64::NAN)).collect()),
        Some(Bitmap::from_bools(
            &s.amount.iter().map(Option::is_some).collect::<Vec<_>>(),
        )),
    );
    let mut mcc = Column::categorical(
        "mcc",
        &s.mcc.iter().map(|m| m.unwrap_or("")).collect::<Vec<_>>(),
    );
    mcc.validity = Some(Bitmap::from_bools(
        &s.mcc.iter().map(Option::is_some).collect::<Vec<_>>(),
    ));
    Frame::new(vec![
        amount,
        Column::boolean("online", s.online.clone()),
        mcc,
        Column::timestamp("ts", s.ts.clone()),
        Column::numeric("y", s.label.clone()),
    ])
    .unwrap()
}

fn schema() -> Schema {
    Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("online", ColumnType::Bool, Role::Feature),
        ColumnSpec::new("mcc", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("ts", ColumnType::Timestamp, Role::Feature),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ])
}

#[test]
fn one_row_at_a_time_equals_the_batch() {
    let s = source(600);
    let f = frame(&s);
    let split = stratified_split(&s.label, 0.25, 1).unwrap();
    for linear in [false, true] {
        let p = fit_pipeline(
            &f,
            &schema(),
            &split.train,
            &PipelineOptions {
                linear,
                ..Default::default()
            },
        )
        .unwrap();
        let batch = p.transform_frame(&f);
        let w = p.width();
        assert_eq!(p.feature_names().len(), w);
        let mut out = vec![0.0; w];
        for i in 0..600 {
            // Built from the source values, as a request would carry them.
            let row = [
                s.amount[i].map_or(Value::Missing, Value::Number),
                Value::Bool(s.online[i]),
                s.mcc[i].map_or(Value::Missing, Value::Text),
                Value::Time(s.ts[i]),
            ];
            p.transform_row(&row, &mut out);
            let expect = &batch[i * w..(i + 1) * w];
            assert!(
                out.iter()
                    .zip(expect)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "row {i} linear={linear}: {out:?} vs {expect:?}"
            );
        }
    }
}

#[test]
fn nothing_is_learned_from_rows_outside_the_training_split() {
    let s = source(600);
    let split = stratified_split(&s.label, 0.25, 2).unwrap();
    let options = PipelineOptions {
        linear: true,
        ..Default::default()
    };
    let p = fit_pipeline(&frame(&s), &schema(), &split.train, &options).unwrap();
    // Wreck every held-out row: the fitted pipeline must not change.
    let mut wrecked = source(600);
    for &i in &split.test {
        wrecked.amount[i] = Some(1e9);
        wrecked.mcc[i] = Some("held_out_only");
        wrecked.online[i] = true;
    }
    assert_eq!(
        fit_pipeline(&frame(&wrecked), &schema(), &split.train, &options).unwrap(),
        p
    );
    // And the statistics are the training rows' own.
    let mut train_amounts: Vec<f64> = split.train.iter().filter_map(|&i| s.amount[i]).collect();
    train_amounts.sort_by(f64::total_cmp);
    let n = train_amounts.len();
    let median = if n % 2 == 1 {
        train_amounts[n / 2]
    } else {
        (train_amounts[n / 2 - 1] + train_amounts[n / 2]) / 2.0
    };
    match &p.inputs[0] {
        fathom_model::pipeline::InputTransform::Numeric {
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
    let mut out = vec![0.0; p.width()];
    p.transform_row(
        &[
            Value::Number(1e12),
            Value::Missing,
            Value::Text("crypto"),
            Value::Missing,
        ],
        &mut out,
    );
    assert_eq!(out[2], 4.0, "4 trained levels, so 'other' is code 4");
    assert_eq!(out[0], 499.25, "clipped to the trained maximum");
    assert!(out[3].is_nan(), "missing time stays missing for trees");
}
