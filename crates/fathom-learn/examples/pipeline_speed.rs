//! Feature pipeline speed: fit on 800,000 of 1,000,000 synthetic card
//! transactions, then transform all rows as a batch and again one row at a
//! time through the serving path, for a tree pipeline (codes, seven derived
//! features including a 20,000-level frequency encoding) and a linear one
//! (one-hot, standardised, target encoded with out-of-fold values).
//!
//!     cargo run --release -p fathom-learn --example pipeline_speed
use std::time::Instant;

use fathom_core::{Bitmap, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::pipeline::{
    CategoricalEncoding, DeriveOp, DerivedSpec, PipelineOptions, fit_pipeline_with_oof,
};
use fathom_model::pipeline::value_at;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const ROWS: usize = 1_000_000;

fn unit(r: &mut ChaCha8Rng) -> f64 {
    (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn table() -> (Frame, Schema, Vec<f64>) {
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let mcc_levels: Vec<String> = (0..50).map(|i| format!("mcc{i}")).collect();
    let mut amount = Vec::with_capacity(ROWS);
    let mut present = Vec::with_capacity(ROWS);
    let mut avg = Vec::with_capacity(ROWS);
    let mut delta = Vec::with_capacity(ROWS);
    let mut online = Vec::with_capacity(ROWS);
    let mut mcc = Vec::with_capacity(ROWS);
    let mut card = Vec::with_capacity(ROWS);
    let mut ts = Vec::with_capacity(ROWS);
    let mut y = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        let a = (unit(&mut r) * 6.0).exp();
        amount.push(a);
        present.push(unit(&mut r) > 0.05);
        avg.push((unit(&mut r) * 4.0).exp().round());
        delta.push(unit(&mut r) * 200.0 - 100.0);
        online.push(unit(&mut r) < 0.3);
        let m = (unit(&mut r) * unit(&mut r) * 50.0) as usize;
        mcc.push(mcc_levels[m].as_str());
        card.push(format!("card{}", r.next_u64() % 20_000));
        ts.push(1_704_067_200_000_000 + i as i64 * 30_000_000);
        y.push(f64::from(unit(&mut r) < 0.01 + 0.002 * (m % 7) as f64));
    }
    let frame = Frame::new(vec![
        Column::new(
            "amount",
            ColumnData::Numeric(amount),
            Some(Bitmap::from_bools(&present)),
        ),
        Column::numeric("avg", avg),
        Column::numeric("delta", delta),
        Column::boolean("online", online),
        Column::categorical("mcc", &mcc),
        Column::categorical("card", &card),
        Column::timestamp("ts", ts),
        Column::numeric("y", y.clone()),
    ])
    .expect("columns of equal length");
    let schema = Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("avg", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("delta", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("online", ColumnType::Bool, Role::Feature),
        ColumnSpec::new("mcc", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("card", ColumnType::Categorical, Role::Key),
        ColumnSpec::new("ts", ColumnType::Timestamp, Role::Feature),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ]);
    (frame, schema, y)
}

fn spec(name: &str, op: DeriveOp, of: &[&str]) -> DerivedSpec {
    DerivedSpec {
        name: name.into(),
        op,
        of: of.iter().map(|s| s.to_string()).collect(),
    }
}

fn main() {
    let (frame, schema, y) = table();
    let train: Vec<usize> = (0..ROWS * 4 / 5).collect();
    let derived = vec![
        spec("amount_log", DeriveOp::Log1p, &["amount"]),
        spec("delta_log", DeriveOp::Log1p, &["delta"]),
        spec("amount_to_avg", DeriveOp::Ratio, &["amount", "avg"]),
        spec("amount_minus_avg", DeriveOp::Difference, &["amount", "avg"]),
        spec("amount_online", DeriveOp::Product, &["amount", "online"]),
        spec("card_share", DeriveOp::Frequency, &["card"]),
        spec("mcc_share", DeriveOp::Frequency, &["mcc"]),
    ];
    let threads = rayon::current_num_threads();
    for (what, options) in [
        (
            "trees ",
            PipelineOptions {
                derived: derived.clone(),
                max_levels: 50_000,
                ..PipelineOptions::default()
            },
        ),
        (
            "linear",
            PipelineOptions {
                linear: true,
                seed: 7,
                linear_encoding: CategoricalEncoding::Target {
                    smoothing: 10.0,
                    folds: 5,
                },
                derived: derived.clone(),
                max_levels: 50_000,
                ..PipelineOptions::default()
            },
        ),
    ] {
        let t = Instant::now();
        let (pipeline, oof) = fit_pipeline_with_oof(&frame, &schema, &train, &y, &options)
            .expect("the pipeline fits");
        let fit = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut x = pipeline.transform_frame(&frame);
        oof.overwrite(&mut x, pipeline.width());
        let batch = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let columns = pipeline.input_columns(&frame);
        let mut values = Vec::with_capacity(columns.len());
        let mut out = vec![0.0; pipeline.width()];
        let mut check = 0.0;
        for r in 0..ROWS {
            values.clear();
            values.extend(columns.iter().map(|c| value_at(*c, r)));
            pipeline.apply(&values, &mut out);
            check += out[0];
        }
        let single = t.elapsed().as_secs_f64();
        println!(
            "{what}: {} features; fit {fit:.3} s; batch {batch:.3} s ({threads} threads, {:.0} ns/row); \
             one row at a time {single:.3} s ({:.0} ns/row, 1 thread) [{check:.3e}]",
            pipeline.width(),
            batch * 1e9 / ROWS as f64,
            single * 1e9 / ROWS as f64,
        );
    }
}
