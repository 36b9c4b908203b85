//! Data quality on small hand-made windows whose figures are counted by
//! hand: null rates, ranges, unseen categories, schema change, volume,
//! freshness, and the odd inputs (empty window, all-null feature, missing
//! feature, wrong type) that must give findings, not errors or NaN.

use fathom_core::{Bitmap, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_monitor::quality::Source;
use fathom_monitor::{QualityCheck, QualityConfig, QualityContext, QualityReport, quality};
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000;
const NOW: i64 = 1_767_225_600_000;

fn schema() -> Schema {
    let mut amount = ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature);
    amount.min = Some(0.0);
    amount.max = Some(100.0);
    let mut country = ColumnSpec::new("country", ColumnType::Categorical, Role::Feature);
    country.categories = Some(vec!["DE".into(), "FR".into(), "NL".into()]);
    let mut age = ColumnSpec::new("age", ColumnType::Numeric, Role::Feature);
    age.max_null_rate = Some(0.2);
    Schema::new(vec![
        ColumnSpec::new("id", ColumnType::Numeric, Role::Id),
        amount,
        country,
        age,
        ColumnSpec::new("online", ColumnType::Bool, Role::Feature),
        ColumnSpec::new("is_fraud", ColumnType::Bool, Role::Label),
    ])
}

/// 40 clean rows: amounts 0.5..=98, countries cycling, ages, flags.
fn clean(rows: usize) -> Vec<Column> {
    let countries = ["DE", "FR", "NL", "DE"];
    vec![
        Column::numeric("id", (0..rows).map(|i| i as f64).collect()),
        Column::numeric(
            "amount",
            (0..rows).map(|i| 0.5 + (i % 40) as f64 * 2.5).collect(),
        ),
        Column::categorical(
            "country",
            &(0..rows).map(|i| countries[i % 4]).collect::<Vec<_>>(),
        ),
        Column::numeric("age", (0..rows).map(|i| 20.0 + (i % 50) as f64).collect()),
        Column::boolean("online", (0..rows).map(|i| i % 3 == 0).collect()),
    ]
}

fn replace(columns: &mut [Column], column: Column) {
    let slot = columns.iter_mut().find(|c| c.name == column.name).unwrap();
    *slot = column;
}

fn context() -> QualityContext<'static> {
    QualityContext {
        now_ms: NOW,
        newest_ms: Some(NOW - 2 * MINUTE),
        previous_counts: vec![40, 38, 44],
        ..QualityContext::default()
    }
}

fn run(frame: &Frame, ctx: &QualityContext<'_>) -> QualityReport {
    quality(frame, &schema(), ctx, &QualityConfig::default()).unwrap()
}

fn signals(r: &QualityReport) -> BTreeMap<String, f64> {
    let s = r.signals();
    for (name, v) in &s {
        assert!(v.is_finite(), "{name} = {v}");
    }
    s.into_iter().collect()
}

fn checks(r: &QualityReport) -> Vec<(QualityCheck, Option<String>)> {
    r.findings
        .iter()
        .map(|f| (f.check, f.feature.clone()))
        .collect()
}

#[test]
fn a_clean_window_passes_every_check() {
    let frame = Frame::new(clean(40)).unwrap();
    let r = run(&frame, &context());
    assert!(r.ok, "{:?}", r.findings);
    assert_eq!(r.rows, 40);
    // The features in schema order; id and the label are not features.
    let names: Vec<&str> = r.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["amount", "country", "age", "online"]);
    let s = signals(&r);
    assert_eq!(s["null_rate:amount"], 0.0);
    assert_eq!(s["null_rate_max"], 0.0);
    assert_eq!(s["out_of_range_share:amount"], 0.0);
    assert_eq!(s["unseen_share:country"], 0.0);
    // Median of 38, 40, 44 is 40.
    assert_eq!(s["volume_ratio"], 1.0);
    assert_eq!(s["freshness_minutes"], 2.0);
    assert_eq!(s["quality_findings"], 0.0);
    // No range or categories for age and online: no such signals.
    assert!(!s.contains_key("out_of_range_share:age"));
    assert!(!s.contains_key("unseen_share:online"));
    // The data's schema hash is unknown: not checked, said so.
    assert!(!s.contains_key("schema_changed"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("schema change not checked"))
    );
}

#[test]
fn null_rates_are_held_to_the_configured_or_the_contracts_limit() {
    let mut cols = clean(40);
    // amount: 3 nulls of 40 (one a NaN) = 7.5 % > 5 %.
    let mut amount: Vec<f64> = (0..40).map(|i| i as f64).collect();
    amount[5] = f64::NAN;
    let validity = Bitmap::from_bools(&(0..40).map(|i| i != 7 && i != 9).collect::<Vec<_>>());
    replace(
        &mut cols,
        Column::new("amount", ColumnData::Numeric(amount), Some(validity)),
    );
    // age: 5 of 40 = 12.5 %, within the contract's 20 %.
    let age: Vec<f64> = (0..40)
        .map(|i| if i % 7 == 0 && i > 0 { f64::NAN } else { 30.0 })
        .collect();
    replace(&mut cols, Column::numeric("age", age));
    let r = run(&Frame::new(cols).unwrap(), &context());
    assert_eq!(
        checks(&r),
        vec![(QualityCheck::NullRate, Some("amount".into()))]
    );
    let f = &r.findings[0];
    assert_eq!(f.value, Some(3.0 / 40.0));
    assert_eq!(f.threshold, Some(0.05));
    assert!(f.message.contains("3 of 40"), "{}", f.message);
    let age = &r.features[2];
    assert_eq!((age.nulls, age.null_limit), (5, 0.2));
    let s = signals(&r);
    assert_eq!(s["null_rate:amount"], 0.075);
    // The largest null share of any feature: age's, within its own limit.
    assert_eq!(s["null_rate_max"], 0.125);
    assert_eq!(s["quality_findings"], 1.0);
    // The share of out-of-range values is over present values (37).
    assert_eq!(r.features[0].out_of_range_share, Some(0.0));
}

#[test]
fn an_all_null_feature_is_a_finding_without_nan() {
    let mut cols = clean(20);
    replace(&mut cols, Column::numeric("amount", vec![f64::NAN; 20]));
    let r = run(&Frame::new(cols).unwrap(), &context());
    assert_eq!(
        checks(&r),
        vec![(QualityCheck::NullRate, Some("amount".into()))]
    );
    assert!(
        r.findings[0]
            .message
            .contains("null on every one of the 20")
    );
    let amount = &r.features[0];
    assert_eq!(amount.null_rate, Some(1.0));
    assert_eq!(amount.out_of_range_share, None);
    let s = signals(&r);
    assert_eq!(s["null_rate:amount"], 1.0);
    assert!(!s.contains_key("out_of_range_share:amount"));
}

#[test]
fn values_outside_the_range_are_counted_against_the_contract_or_the_reference() {
    let mut cols = clean(50);
    let amount: Vec<f64> = (0..50)
        .map(|i| match i {
            3 => -1.0,
            10 => 100.5,
            20 => f64::INFINITY,
            _ => 100.0 * i as f64 / 49.0,
        })
        .collect();
    replace(&mut cols, Column::numeric("amount", amount));
    // age has no range in the schema: the reference's 18..=80 is used.
    let age: Vec<f64> = (0..50).map(|i| if i < 2 { 90.0 } else { 40.0 }).collect();
    replace(&mut cols, Column::numeric("age", age));
    let reference = Frame::new(vec![Column::numeric(
        "age",
        vec![18.0, 35.0, f64::NAN, 80.0],
    )])
    .unwrap();
    let ctx = QualityContext {
        reference: Some(&reference),
        ..context()
    };
    let r = run(&Frame::new(cols).unwrap(), &ctx);
    assert_eq!(
        checks(&r),
        vec![
            (QualityCheck::OutOfRange, Some("amount".into())),
            (QualityCheck::OutOfRange, Some("age".into())),
        ]
    );
    let amount = &r.features[0];
    assert_eq!(amount.out_of_range, 3);
    assert_eq!(amount.out_of_range_share, Some(3.0 / 50.0));
    assert_eq!(amount.range.unwrap().source, Source::Schema);
    assert!(
        r.findings[0].message.contains("[0, 100]"),
        "{}",
        r.findings[0].message
    );
    let age = &r.features[2];
    let range = age.range.unwrap();
    assert_eq!(
        (range.min, range.max, range.source),
        (Some(18.0), Some(80.0), Source::Reference)
    );
    assert_eq!(age.out_of_range, 2);
    assert_eq!(signals(&r)["out_of_range_share:age"], 2.0 / 50.0);
}

#[test]
fn categories_never_seen_are_listed_most_frequent_first() {
    let mut cols = clean(40);
    let values: Vec<&str> = (0..40)
        .map(|i| match i {
            0..=2 => "XX",
            3 => "YY",
            4 | 5 => "ZZ",
            _ => "FR",
        })
        .collect();
    let mut country = Column::categorical("country", &values);
    // One null among them, left out of the share.
    country.validity = Some(Bitmap::from_bools(
        &(0..40).map(|i| i != 39).collect::<Vec<_>>(),
    ));
    replace(&mut cols, country);
    let r = run(&Frame::new(cols).unwrap(), &context());
    assert_eq!(
        checks(&r),
        vec![(QualityCheck::UnseenCategories, Some("country".into()))]
    );
    let c = &r.features[1];
    assert_eq!((c.unseen, c.unseen_levels), (6, 3));
    assert_eq!(c.unseen_share, Some(6.0 / 39.0));
    let top: Vec<(&str, u64)> = c
        .unseen_top
        .iter()
        .map(|u| (u.value.as_str(), u.count))
        .collect();
    assert_eq!(top, [("XX", 3), ("ZZ", 2), ("YY", 1)]);
    assert!(
        r.findings[0]
            .message
            .contains("'XX' (3), 'ZZ' (2), 'YY' (1)")
    );
    assert_eq!(c.null_rate, Some(1.0 / 40.0));
}

#[test]
fn without_categories_in_the_contract_the_reference_levels_are_expected() {
    let schema = Schema::new(vec![ColumnSpec::new(
        "merchant",
        ColumnType::Categorical,
        Role::Feature,
    )]);
    let reference = Frame::new(vec![Column::categorical("merchant", &["a", "b", "c"])]).unwrap();
    let current = Frame::new(vec![Column::categorical(
        "merchant",
        &["a", "b", "new", "a"],
    )])
    .unwrap();
    let ctx = QualityContext {
        reference: Some(&reference),
        ..QualityContext::default()
    };
    let r = quality(&current, &schema, &ctx, &QualityConfig::default()).unwrap();
    let m = &r.features[0];
    assert_eq!(m.categories_source, Some(Source::Reference));
    assert_eq!(m.unseen_share, Some(0.25));
    assert!(
        r.findings[0]
            .message
            .contains("never seen in the reference: 'new' (1)")
    );
    // Without a reference there is nothing to compare with: no share.
    let r = quality(
        &current,
        &schema,
        &QualityContext::default(),
        &QualityConfig::default(),
    )
    .unwrap();
    assert_eq!(r.features[0].unseen_share, None);
    assert!(r.findings.is_empty());
}

#[test]
fn a_missing_or_mistyped_feature_is_named_and_the_rest_still_checked() {
    let mut cols = clean(40);
    cols.retain(|c| c.name != "country");
    replace(&mut cols, Column::categorical("age", &vec!["young"; 40]));
    replace(&mut cols, Column::numeric("amount", vec![f64::NAN; 40]));
    let r = run(&Frame::new(cols).unwrap(), &context());
    assert_eq!(
        checks(&r),
        vec![
            (QualityCheck::NullRate, Some("amount".into())),
            (QualityCheck::MissingFeature, Some("country".into())),
            (QualityCheck::TypeMismatch, Some("age".into())),
        ]
    );
    assert!(
        r.findings[1]
            .message
            .contains("'country' is in the contract but not in the data")
    );
    assert!(
        r.findings[2]
            .message
            .contains("categorical in the data but numeric")
    );
    assert!(!r.features[1].checked && !r.features[2].checked);
    let s = signals(&r);
    assert!(!s.contains_key("null_rate:country"));
    assert_eq!(s["quality_findings"], 3.0);
}

#[test]
fn an_empty_window_says_so_and_freshness_still_counts() {
    let empty = Frame::new(clean(0)).unwrap();
    let ctx = QualityContext {
        newest_ms: Some(NOW - 40 * MINUTE),
        ..context()
    };
    let r = run(&empty, &ctx);
    assert_eq!(
        checks(&r),
        vec![
            (QualityCheck::EmptyWindow, None),
            (QualityCheck::VolumeLow, None),
            (QualityCheck::Freshness, None),
        ]
    );
    assert_eq!(
        r.findings[0].message,
        "no records in the window; per-feature checks were skipped"
    );
    assert!(r.features.iter().all(|f| f.null_rate.is_none()));
    let s = signals(&r);
    assert_eq!(s["volume_ratio"], 0.0);
    assert_eq!(s["freshness_minutes"], 40.0);
    assert!(!s.contains_key("null_rate_max"));

    // A frame with no columns at all, and nothing known: one finding.
    let r = quality(
        &Frame::default(),
        &schema(),
        &QualityContext::default(),
        &QualityConfig::default(),
    )
    .unwrap();
    assert_eq!(checks(&r), vec![(QualityCheck::EmptyWindow, None)]);
    assert!(!r.ok);
}

#[test]
fn schema_volume_and_freshness_checks() {
    let frame = Frame::new(clean(40)).unwrap();
    let expected = schema().hash();
    let same = QualityContext {
        current_schema_hash: Some(expected.clone()),
        ..context()
    };
    let r = run(&frame, &same);
    assert_eq!(r.schema.changed, Some(false));
    assert_eq!(signals(&r)["schema_changed"], 0.0);
    let other = QualityContext {
        current_schema_hash: Some("0123456789abcdef".into()),
        schema_differences: vec!["new field 'device_os'".into()],
        ..context()
    };
    let r = run(&frame, &other);
    assert_eq!(checks(&r), vec![(QualityCheck::SchemaChanged, None)]);
    assert!(r.findings[0].message.contains("0123456789ab"));
    assert!(
        r.findings[0]
            .message
            .ends_with("another contract: new field 'device_os'"),
        "{}",
        r.findings[0].message
    );
    assert_eq!(signals(&r)["schema_changed"], 1.0);

    // Median of an even number of windows: (20 + 30) / 2 = 25; 40 rows is
    // 1.6 times that, within [0.5, 2]; against a median of 10 it is 4.
    let even = QualityContext {
        previous_counts: vec![30, 10, 20, 100],
        ..context()
    };
    let r = run(&frame, &even);
    assert_eq!(r.volume.previous_median, Some(25.0));
    assert_eq!(r.volume.ratio, Some(1.6));
    assert!(r.ok);
    let busy = QualityContext {
        previous_counts: vec![10, 9, 11],
        ..context()
    };
    let r = run(&frame, &busy);
    assert_eq!(checks(&r), vec![(QualityCheck::VolumeHigh, None)]);
    assert_eq!(r.findings[0].value, Some(4.0));
    // Previous windows all empty: no ratio, a note, no finding.
    let silent = QualityContext {
        previous_counts: vec![0, 0],
        ..context()
    };
    let r = run(&frame, &silent);
    assert!(r.ok && r.volume.ratio.is_none());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("previous windows had no records"))
    );

    // Freshness: 16 minutes is stale, 15 is not, a future time is 0.
    for (age, stale) in [(16, true), (15, false), (-3, false)] {
        let ctx = QualityContext {
            newest_ms: Some(NOW - age * MINUTE),
            ..context()
        };
        let r = run(&frame, &ctx);
        assert_eq!(!r.ok, stale, "{age} minutes");
        assert_eq!(r.freshness_minutes, Some(age.max(0) as f64));
    }
}

#[test]
fn the_report_is_the_same_on_any_number_of_threads() {
    let mut cols = clean(5000);
    replace(
        &mut cols,
        Column::numeric("amount", (0..5000).map(|i| (i % 130) as f64).collect()),
    );
    let frame = Frame::new(cols).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = one.install(|| run(&frame, &context()));
    let b = four.install(|| run(&frame, &context()));
    assert_eq!(a, b);
    // 101..=129 in each of the 38 full cycles of 130; none in the last 60.
    assert_eq!(a.features[0].out_of_range, 29 * 38);
}

#[test]
fn settings_read_from_toml_with_clear_errors() {
    let cfg: QualityConfig = toml::from_str("null_rate = 0.1\nfreshness_minutes = 30\n").unwrap();
    assert_eq!(cfg.null_rate, 0.1);
    assert_eq!(cfg.freshness_minutes, 30.0);
    assert_eq!(cfg.volume_high, 2.0);
    cfg.check().unwrap();
    let err = toml::from_str::<QualityConfig>("null = 0.1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");
    let bad = QualityConfig {
        volume_low: 1.5,
        ..QualityConfig::default()
    };
    let err = bad.check().unwrap_err().to_string();
    assert!(
        err.starts_with("[monitor.quality]") && err.contains("volume_low"),
        "{err}"
    );
    let bad = QualityConfig {
        null_rate: 5.0,
        ..QualityConfig::default()
    };
    assert!(bad.check().unwrap_err().to_string().contains("share"));
}

/// Generated card transactions: `rows` of a scenario.
fn generated(rows: u64, seed: u64, scenario: fathom_data::generate::Scenario) -> Frame {
    fathom_data::generate::generate_all(fathom_data::generate::GeneratorConfig {
        rows,
        seed,
        scenario,
        chunk_rows: 8_192,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn new_merchant_categories_are_caught_under_the_inferred_contract() {
    use fathom_data::contract::{InferOptions, SchemaInferrer};
    use fathom_data::generate::Scenario;
    let reference = generated(20_000, 1, Scenario::Baseline);
    let columns = reference
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    let mut inferrer = SchemaInferrer::new(columns, InferOptions::default());
    inferrer.update(&reference).unwrap();
    let contract = inferrer.finish();

    // Another sample of the same stationary data passes.
    let same = generated(10_000, 2, Scenario::Baseline);
    let r = quality(
        &same,
        &contract,
        &QualityContext::default(),
        &QualityConfig::default(),
    )
    .unwrap();
    assert!(r.ok, "{:#?}", r.findings);

    // The end of the gradual scenario has two merchant categories the
    // training data never had.
    let gradual = generated(40_000, 3, Scenario::Gradual);
    let late = gradual.slice(30_000, 10_000);
    let r = quality(
        &late,
        &contract,
        &QualityContext::default(),
        &QualityConfig::default(),
    )
    .unwrap();
    assert_eq!(
        checks(&r),
        vec![(
            QualityCheck::UnseenCategories,
            Some("merchant_category".into())
        )]
    );
    assert!(r.findings[0].message.contains("not in the contract"));
    let merchant = r
        .features
        .iter()
        .find(|f| f.name == "merchant_category")
        .unwrap();
    let mut names: Vec<&str> = merchant
        .unseen_top
        .iter()
        .map(|u| u.value.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["crypto_exchange", "gift_cards"]);
}
