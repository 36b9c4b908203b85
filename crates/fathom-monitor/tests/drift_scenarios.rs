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
    // A feature missing from the current data: reported, not tested; the
    // others still get their verdict.
    let missing = Frame::new(vec![Column::numeric("x", vec![1.0, 2.0, 3.0])]).unwrap();
    let report = drift(&good, &missing, &schema, &DriftConfig::default()).unwrap();
    assert_eq!((report.tested, report.drifted), (1, 0));
    assert_eq!(report.verdict, Verdict::NoDrift);
    let c = &report.features[1];
    assert_eq!((c.name.as_str(), c.test), ("c", None));
    assert_eq!(c.current_summary.values, 0);
    assert_eq!(
        report.notes,
        ["c: missing from the current data; not tested (check the source of the current data)"]
    );
    // Missing from the reference is an error: the reference defines what
    // is compared.
    let err = drift(&missing, &good, &schema, &DriftConfig::default()).unwrap_err();
    assert!(matches!(err, MonitorError::MissingColumn { .. }));
    assert!(err.to_string().contains("'c'") && err.to_string().contains("reference"));

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

#[test]
fn gradual_drift_grows_over_the_window() {
    let reference = data(20_000, 1, Scenario::Baseline);
    let gradual = data(60_000, 6, Scenario::Gradual);
    let n = gradual.num_rows();
    // The first tenth: amounts up by at most 3 %, new categories under 1 %.
    let early = gradual.slice(0, n / 10);
    // The last fifth: amounts up by about a quarter, new categories ~12 %.
    let late = gradual.slice(n - n / 5, n / 5);
    let config = DriftConfig::default();
    let early = drift(&reference, &early, &schema(), &config).unwrap();
    let late = drift(&reference, &late, &schema(), &config).unwrap();
    let early_drifted = early.drifted_features();
    let late_drifted = late.drifted_features();
    for f in ["amount", "merchant_category"] {
        assert!(
            !early_drifted.contains(&f),
            "{f} should not drift yet early on; drifted: {early_drifted:?}"
        );
        assert!(
            late_drifted.contains(&f),
            "{f} should drift late in the window; drifted: {late_drifted:?}"
        );
    }
    assert_eq!(early.verdict, Verdict::NoDrift, "{early_drifted:?}");
    assert!(late.share_drifted > early.share_drifted);
}

/// A schema of `n` numeric features `f0..`, and two frames over them in
/// which the first `moved` features are shifted far apart and the rest are
/// the very same values.
fn shifted(n: usize, moved: usize) -> (Schema, Frame, Frame) {
    let schema = Schema::new(
        (0..n)
            .map(|i| ColumnSpec::new(format!("f{i}"), ColumnType::Numeric, Role::Feature))
            .collect(),
    );
    let values: Vec<f64> = (0..2_000).map(|i| (i % 97) as f64).collect();
    let reference = Frame::new(
        (0..n)
            .map(|i| Column::numeric(format!("f{i}"), values.clone()))
            .collect(),
    )
    .unwrap();
    let current = Frame::new(
        (0..n)
            .map(|i| {
                let shift = if i < moved { 500.0 } else { 0.0 };
                Column::numeric(
                    format!("f{i}"),
                    values.iter().map(|v| v + shift).collect::<Vec<_>>(),
                )
            })
            .collect(),
    )
    .unwrap();
    (schema, reference, current)
}

#[test]
fn the_verdict_turns_at_the_warning_and_severe_shares() {
    let config = DriftConfig::default();
    assert_eq!((config.warn_share, config.severe_share), (0.15, 0.2));
    // 20 features: 2, 3 and 4 drifted are shares 0.10, 0.15 and 0.20.
    for (moved, verdict) in [
        (0, Verdict::NoDrift),
        (2, Verdict::NoDrift),
        (3, Verdict::Warn),
        (4, Verdict::Severe),
        (20, Verdict::Severe),
    ] {
        let (schema, reference, current) = shifted(20, moved);
        let report = drift(&reference, &current, &schema, &config).unwrap();
        assert_eq!((report.tested, report.drifted), (20, moved));
        assert_eq!(report.share_drifted, moved as f64 / 20.0);
        assert_eq!(report.verdict, verdict, "{moved} of 20 drifted");
    }
}

#[test]
fn an_empty_window_is_no_data_not_no_drift() {
    let (schema, reference, current) = shifted(3, 1);
    let none = current.slice(0, 0);
    let report = drift(&reference, &none, &schema, &DriftConfig::default()).unwrap();
    assert_eq!(report.verdict, Verdict::NoData);
    assert_eq!(report.verdict.name(), "no_data");
    assert_eq!(
        (report.current_rows, report.tested, report.drifted),
        (0, 0, 0)
    );
    assert_eq!(report.share_drifted, 0.0);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("current data has no rows") && n.contains("widen the window")),
        "{:?}",
        report.notes
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "no_data");
    // Rows, but no feature with values on both sides: also no data.
    let schema = Schema::new(vec![ColumnSpec::new(
        "x",
        ColumnType::Numeric,
        Role::Feature,
    )]);
    let all_null = Frame::new(vec![Column::numeric("x", vec![f64::NAN; 5])]).unwrap();
    let some = Frame::new(vec![Column::numeric("x", vec![1.0, 2.0, 3.0])]).unwrap();
    let report = drift(&some, &all_null, &schema, &DriftConfig::default()).unwrap();
    assert_eq!(report.verdict, Verdict::NoData);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("no feature has values on both sides")),
        "{:?}",
        report.notes
    );
    // The HTML says so too.
    let html = fathom_monitor::report::render(&report, "reference", "current");
    assert!(html.contains("verdict-no_data") && html.contains("No data to compare"));
}
