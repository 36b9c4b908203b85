//! Building, saving and loading a model artifact.

use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::gbdt::{Dataset, FeatureValues, GbdtParams, train};
use fathom_learn::pipeline::{PipelineOptions, fit_pipeline};
use fathom_model::artifact::{Estimator, Lineage, ModelArtifact, ReferenceHistogram};
use fathom_model::pipeline::FeaturePipeline;

fn table(n: usize) -> (Frame, Schema) {
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 10.0).collect();
    let c: Vec<&str> = (0..n).map(|i| ["a", "b", "c"][i * 31 % 3]).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| f64::from(x[i] > 60.0 && c[i] != "b" || i % 17 == 0))
        .collect();
    let frame = Frame::new(vec![
        Column::numeric("x", x),
        Column::categorical("c", &c),
        Column::numeric("y", y),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        ColumnSpec::new("x", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("c", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ]);
    (frame, schema)
}

fn build(threads: usize) -> ModelArtifact {
    let (frame, schema) = table(3000);
    let rows: Vec<usize> = (0..3000).collect();
    let pipeline: FeaturePipeline =
        fit_pipeline(&frame, &schema, &rows, &PipelineOptions::default()).unwrap();
    let width = pipeline.width();
    let feats = pipeline.transform_frame(&frame);
    let column = |j: usize| -> Vec<f64> { (0..3000).map(|r| feats[r * width + j]).collect() };
    let label: Vec<f64> = (0..3000)
        .map(|r| frame.column("y").unwrap().f64_at(r).unwrap())
        .collect();
    let ds = Dataset {
        features: vec![
            ("x".into(), FeatureValues::Numeric(column(0))),
            (
                "c".into(),
                FeatureValues::Categorical {
                    codes: column(1).iter().map(|&v| v as u32).collect(),
                    levels: 4,
                },
            ),
        ],
        label,
        weight: None,
    };
    let params = GbdtParams {
        objective: "binary".into(),
        num_rounds: 20,
        seed: 5,
        bagging_fraction: 0.8,
        bagging_freq: 1,
        ..GbdtParams::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let ensemble = pool.install(|| train(&params, &ds, None).unwrap().ensemble);
    let scores: Vec<f64> = (0..3000)
        .map(|r| ensemble.predict(&feats[r * width..(r + 1) * width]))
        .collect();
    let mut reference: Vec<ReferenceHistogram> = (0..width)
        .map(|j| ReferenceHistogram::from_values(&pipeline.feature_names()[j], &column(j), 10))
        .collect();
    reference.push(ReferenceHistogram::from_values("__score", &scores, 10));
    ModelArtifact {
        schema: schema.clone(),
        pipeline,
        estimator: Estimator::Trees { ensemble },
        threshold: 0.5,
        metrics: [("auc_roc".to_string(), 0.9)].into_iter().collect(),
        reference,
        lineage: Lineage {
            data_snapshot: None,
            schema_hash: schema.hash(),
            seed: 5,
            params: serde_json::to_value(&params).unwrap(),
            fathom_version: "test".into(),
            git_commit: None,
        },
    }
}

#[test]
fn same_training_gives_identical_artifact_bytes_with_any_thread_count() {
    let a = build(1).to_bytes().unwrap();
    let b = build(2).to_bytes().unwrap();
    assert_eq!(a, b);
}

#[test]
fn artifacts_round_trip_and_refuse_tampering() {
    let art = build(2);
    let bytes = art.to_bytes().unwrap();
    let back = ModelArtifact::from_bytes(&bytes, "m.fathom").unwrap();
    assert_eq!(back, art);
    let row = [42.0, 1.0];
    assert_eq!(back.estimator.predict(&row), art.estimator.predict(&row));
    let hist = &art.reference[0];
    assert_eq!(hist.counts.iter().sum::<u64>() + hist.missing, 3000);
    assert_eq!(hist.edges.len(), hist.counts.len() + 1);
    // Flip one digit of the threshold inside the body.
    let text =
        String::from_utf8(bytes)
            .unwrap()
            .replacen("\"threshold\":0.5", "\"threshold\":0.1", 1);
    let e = ModelArtifact::from_bytes(text.as_bytes(), "m.fathom")
        .unwrap_err()
        .to_string();
    assert!(e.contains("m.fathom: the checksum does not match"), "{e}");
    let e = ModelArtifact::load(std::path::Path::new("/nonexistent/m.fathom"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read the model file"), "{e}");
}

#[test]
fn predictor_scores_frames_and_single_records_identically() {
    use fathom_model::pipeline::Value;
    use fathom_model::predictor::Predictor;
    let art = build(2);
    let (frame, _) = table(500);
    let p = Predictor::new(art.clone()).unwrap();
    let batch = p.score_frame(&frame).unwrap();
    let width = art.pipeline.width();
    let feats = art.pipeline.transform_frame(&frame);
    let mut scratch = Vec::new();
    for r in 0..500 {
        let reference = art.estimator.predict(&feats[r * width..(r + 1) * width]);
        assert_eq!(batch[r].to_bits(), reference.to_bits(), "row {r}");
        let x = frame.column("x").unwrap().f64_at(r).unwrap();
        let c = match &frame.column("c").unwrap().data {
            fathom_core::ColumnData::Categorical(d) => d.value(r).to_string(),
            _ => unreachable!(),
        };
        let one = p.score_values(&[Value::Number(x), Value::Text(&c)], &mut scratch);
        assert_eq!(one.to_bits(), batch[r].to_bits(), "row {r}");
    }
    // A frame that lacks a column, or has it with another type, is refused
    // with every problem named.
    let bad = Frame::new(vec![Column::categorical("x", &["1"; 3])]).unwrap();
    let e = p.score_frame(&bad).unwrap_err().to_string();
    assert!(
        e.contains("column 'x' is categorical but the model expects numeric"),
        "{e}"
    );
    assert!(
        e.contains("column 'c' is missing (expected categorical)"),
        "{e}"
    );
}
