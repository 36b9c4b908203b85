//! The `[features]` choices reach the trained model: target encoding and
//! derived features in the winner's pipeline, scored the same from a frame
//! and from single records.

use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::pipeline::{CategoricalEncoding, DeriveOp, DerivedSpec, PipelineOptions};
use fathom_learn::trainer::{TrainConfig, train_binary};
use fathom_model::pipeline::{InputTransform, Value};
use fathom_model::predictor::Predictor;

fn table(n: usize) -> (Frame, Schema) {
    let amount: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 + 1.0).collect();
    let avg: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 300) as f64 + 50.0)
        .collect();
    let shop: Vec<String> = (0..n).map(|i| format!("s{}", i * 31 % 40)).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let risky_shop = (i * 31 % 40) < 6;
            f64::from((amount[i] / avg[i] > 4.0 && risky_shop) || i % 37 == 0)
        })
        .collect();
    let frame = Frame::new(vec![
        Column::numeric("amount", amount),
        Column::numeric("avg", avg),
        Column::categorical("shop", &shop),
        Column::numeric("y", y),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("avg", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("shop", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ]);
    (frame, schema)
}

#[test]
fn configured_features_reach_the_model_and_score_identically_both_ways() {
    let (frame, schema) = table(4000);
    let config = TrainConfig {
        candidates: vec!["logistic".into()],
        features: PipelineOptions {
            linear_encoding: CategoricalEncoding::Target {
                smoothing: 10.0,
                folds: 5,
            },
            derived: vec![DerivedSpec {
                name: "amount_to_avg".into(),
                op: DeriveOp::Ratio,
                of: vec!["amount".into(), "avg".into()],
            }],
            ..PipelineOptions::default()
        },
        ..TrainConfig::default()
    };
    let r = train_binary(&frame, &schema, &config).unwrap();
    let p = &r.artifact.pipeline;
    assert!(
        p.inputs
            .iter()
            .any(|t| matches!(t, InputTransform::Target { .. })),
        "{:?}",
        p.inputs
    );
    assert!(p.feature_names().iter().any(|n| n == "amount_to_avg"));
    // The ratio carries the signal a linear model cannot build itself.
    assert!(
        r.candidates[0].report.auc_roc > 0.8,
        "{}",
        r.candidates[0].report.auc_roc
    );
    let predictor = Predictor::new(r.artifact.clone()).unwrap();
    let batch = predictor.score_frame(&frame).unwrap();
    let mut scratch = Vec::new();
    for i in (0..4000).step_by(97) {
        let shop = format!("s{}", i * 31 % 40);
        let values: Vec<Value<'_>> = p
            .inputs
            .iter()
            .map(|t| match t.column() {
                "amount" => Value::Number(frame.column("amount").unwrap().f64_at(i).unwrap()),
                "avg" => Value::Number(frame.column("avg").unwrap().f64_at(i).unwrap()),
                "shop" => Value::Text(&shop),
                _ => Value::Missing,
            })
            .collect();
        let one = predictor.score_values(&values, &mut scratch);
        assert_eq!(one.to_bits(), batch[i].to_bits(), "row {i}");
    }
    // The choices are recorded in the lineage.
    let params = r.artifact.lineage.params.to_string();
    assert!(params.contains("amount_to_avg"), "{params}");
}
