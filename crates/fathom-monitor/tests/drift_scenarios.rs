//! Drift on the generator's scenarios: concept drift (inputs unchanged,
//! the label's meaning changed) shows no input drift, the sudden shock
//! does; results do not depend on the thread count; bad input is refused
//! with a clear message.

use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_data::generate::{Generator, GeneratorConfig, Scenario, generate_all};
use fathom_monitor::{DriftConfig, DriftTest, FeatureRule, MonitorError, Verdict, drift};

fn schema() -> Schema {
    Schema::new(
        Generator::columns()
            .iter()
            .map(|&(name, ty)| {
                let role = match name {
                    "transaction_id" => Role::Id,
                    "card_id" => Role::Key,
                    "timestamp" => Role::Timestamp,
                    "is_fraud" => Role::Label,
                    _ => Role::Feature,
                };
                ColumnSpec::new(name, ty, role)
            })
            .collect(),
    )
}

fn data(rows: u64, seed: u64, scenario: Scenario) -> Frame {
    generate_all(GeneratorConfig {
        rows,
        seed,
        scenario,
        chunk_rows: 8_192,
        ..GeneratorConfig::default()
    })
    .unwrap()
}

/// The rows after the scenario's switch half-way through the window.
fn second_half(frame: &Frame) -> Frame {
    let n = frame.num_rows();
    frame.slice(n / 2, n - n / 2)
}

#[test]
fn concept_drift_leaves_the_inputs_alone() {
    let reference = data(20_000, 1, Scenario::Baseline);
    let current = second_half(&data(40_000, 2, Scenario::Concept));
    let report = drift(&reference, &current, &schema(), &DriftConfig::default()).unwrap();
    assert_eq!(report.tested, 29, "every feature is tested");
    assert_eq!(
        report.drifted_features(),
        Vec::<&str>::new(),
        "no input drift on the concept scenario"
    );
    assert_eq!(report.verdict, Verdict::NoDrift);
    // Large samples: distances, by type.
    let by_name = |n: &str| report.features.iter().find(|f| f.name == n).unwrap();
    assert_eq!(by_name("amount").test, Some(DriftTest::Wasserstein));
    assert_eq!(
        by_name("merchant_category").test,
        Some(DriftTest::Jensenshannon)
    );
    assert_eq!(by_name("is_online").test, Some(DriftTest::Jensenshannon));
    assert!(report.label.is_some(), "label drift is reported apart");
}

#[test]
fn the_sudden_shock_is_input_drift() {
    let reference = data(20_000, 1, Scenario::Baseline);
    let current = second_half(&data(40_000, 3, Scenario::Sudden));
    let report = drift(&reference, &current, &schema(), &DriftConfig::default()).unwrap();
    let drifted = report.drifted_features();
    for f in ["is_online", "entry_mode"] {
        assert!(
            drifted.contains(&f),
            "{f} should drift; drifted: {drifted:?}"
        );
    }
    assert!(report.share_drifted >= 0.2, "{drifted:?}");
    assert_eq!(report.verdict, Verdict::Severe);
}

#[test]
fn small_samples_use_hypothesis_tests_and_overrides_win() {
    let reference = data(800, 1, Scenario::Baseline);
    let current = data(800, 4, Scenario::Baseline);
    let mut config = DriftConfig::default();
    config
        .features
        .insert("customer_age".into(), FeatureRule::Test(DriftTest::Psi));
    let report = drift(&reference, &current, &schema(), &config).unwrap();
    let test = |n: &str| report.features.iter().find(|f| f.name == n).unwrap().test;
    assert_eq!(test("amount"), Some(DriftTest::Ks));
    assert_eq!(test("merchant_category"), Some(DriftTest::Chisquare));
    assert_eq!(test("is_online"), Some(DriftTest::Z));
    assert_eq!(test("customer_age"), Some(DriftTest::Psi));
    for f in &report.features {
        let tested = f.test.unwrap();
        assert_eq!(
            f.p_value.is_some(),
            tested.is_hypothesis_test(),
            "{}",
            f.name
        );
    }
}

#[test]
fn the_report_is_the_same_for_any_thread_count() {
    let reference = data(6_000, 1, Scenario::Baseline);
    let current = data(6_000, 5, Scenario::Sudden);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let r = drift(&reference, &current, &schema(), &DriftConfig::default()).unwrap();
                serde_json::to_string(&r).unwrap()
            })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_input_is_refused_with_advice() {
    let schema = Schema::new(vec![
        ColumnSpec::new("x", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("c", ColumnType::Categorical, Role::Feature),
    ]);
    let good = Frame::new(vec![
        Column::numeric("x", vec![1.0, 2.0, 3.0]),
        Column::categorical("c", &["a", "b", "c"]),
    ])
    .unwrap();
    let missing = Frame::new(vec![Column::numeric("x", vec![1.0])]).unwrap();
    let err = drift(&good, &missing, &schema, &DriftConfig::default()).unwrap_err();
    assert!(matches!(err, MonitorError::MissingColumn { .. }));
    assert!(err.to_string().contains("'c'") && err.to_string().contains("current"));

    let mistyped = Frame::new(vec![
        Column::categorical("x", &["1"]),
        Column::categorical("c", &["a"]),
    ])
    .unwrap();
    let err = drift(&good, &mistyped, &schema, &DriftConfig::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is categorical in the current data"),
        "{err}"
    );

    let mut config = DriftConfig::default();
    config
        .features
        .insert("c".into(), FeatureRule::Test(DriftTest::Ks));
    let err = drift(&good, &good, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'ks' test does not apply") && err.contains("chisquare"),
        "{err}"
    );

    let mut config = DriftConfig::default();
    config
        .features
        .insert("c".into(), FeatureRule::Test(DriftTest::Z));
    let err = drift(&good, &good, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 distinct"), "{err}");

    // A side without values is reported, not tested.
    let empty = Frame::new(vec![
        Column::numeric("x", vec![f64::NAN, f64::NAN]),
        Column::categorical("c", &["a", "b"]),
    ])
    .unwrap();
    let report = drift(&good, &empty, &schema, &DriftConfig::default()).unwrap();
    assert_eq!(report.tested, 1);
    assert!(report.features[0].test.is_none());
    assert!(report.notes[0].contains("no values in the current data"));
}
