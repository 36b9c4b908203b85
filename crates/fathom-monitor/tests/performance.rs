//! Live performance: the windows' metrics against scikit-learn on a
//! committed fixture (`tests/fixtures/make_performance.py` wrote
//! `performance_reference.json`), and the windowing itself on small hand-made
//! cases: count and time windows, pending predictions, late labels,
//! degradation, bad input.

use fathom_monitor::{
    MonitorError, Outcome, PerformanceConfig, Span, Window, WindowStatus, performance,
};
use serde_json::Value;
use std::collections::BTreeMap;

const RTOL: f64 = 1e-9;
const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000;

fn close(got: f64, want: f64, what: &str) {
    let scale = want.abs().max(1e-300);
    assert!(
        (got - want).abs() / scale <= RTOL || (got - want).abs() < 1e-15,
        "{what}: got {got}, sklearn {want}"
    );
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/performance_reference.json")).unwrap()
}

fn no_baseline() -> BTreeMap<String, f64> {
    BTreeMap::new()
}

#[test]
fn window_metrics_equal_sklearn() {
    let fx = fixture();
    let outcomes: Vec<Outcome> = serde_json::from_value(fx["outcomes"].clone()).unwrap();
    assert_eq!(outcomes.len(), 300);
    for case in fx["cases"].as_array().unwrap() {
        let windows: Vec<Window> = case["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| match w["window"].get("last") {
                Some(n) => Window::Last(n.as_u64().unwrap()),
                None => Window::Span(Span::from_ms(w["window"]["span_ms"].as_i64().unwrap())),
            })
            .collect();
        let config = PerformanceConfig {
            windows,
            label_delay: Span::from_ms(case["label_delay_ms"].as_i64().unwrap()),
            min_labels: 20,
            ..PerformanceConfig::default()
        };
        let now = case["now_ms"].as_i64().unwrap();
        let threshold = case["threshold"].as_f64().unwrap();
        let report = performance(&outcomes, now, threshold, &no_baseline(), &config).unwrap();
        assert_eq!(
            report.pending_predictions,
            case["pending"].as_u64().unwrap()
        );
        for (got, want) in report
            .windows
            .iter()
            .zip(case["windows"].as_array().unwrap())
        {
            let n = &got.name;
            assert_eq!(got.status, WindowStatus::Ok, "{n}");
            assert_eq!(
                got.predictions,
                want["predictions"].as_u64().unwrap(),
                "{n}"
            );
            assert_eq!(got.labeled, want["labeled"].as_u64().unwrap(), "{n}");
            assert_eq!(got.positives, want["positives"].as_u64().unwrap(), "{n}");
            for (name, value) in [
                ("auc_roc", got.auc_roc),
                ("auc_pr", got.auc_pr),
                ("precision", got.precision),
                ("recall", got.recall),
                ("f1", got.f1),
                ("brier", got.brier),
            ] {
                close(
                    value.unwrap(),
                    want[name].as_f64().unwrap(),
                    &format!("{n} {name}"),
                );
            }
            let truth = want["calibration_true"].as_array().unwrap();
            let pred = want["calibration_pred"].as_array().unwrap();
            assert_eq!(got.calibration.len(), truth.len(), "{n} calibration bins");
            for (bin, (t, p)) in got.calibration.iter().zip(truth.iter().zip(pred)) {
                close(bin.fraction_positive, t.as_f64().unwrap(), "prob_true");
                close(bin.mean_predicted, p.as_f64().unwrap(), "prob_pred");
            }
            close(
                got.label_coverage.unwrap(),
                got.labeled as f64 / got.predictions as f64,
                "coverage",
            );
        }
    }
}

#[test]
fn the_report_does_not_depend_on_input_order() {
    let fx = fixture();
    let outcomes: Vec<Outcome> = serde_json::from_value(fx["outcomes"].clone()).unwrap();
    let config = PerformanceConfig {
        min_labels: 20,
        ..PerformanceConfig::default()
    };
    let now = T0 + 20 * DAY;
    let a = performance(&outcomes, now, 0.35, &no_baseline(), &config).unwrap();
    // Reversing changes the order of tied prediction times too, so reverse
    // only within runs of distinct times: sort by time descending, keeping
    // ties in their original order.
    let mut shuffled = outcomes.clone();
    shuffled.sort_by_key(|o| std::cmp::Reverse(o.time_ms));
    let b = performance(&shuffled, now, 0.35, &no_baseline(), &config).unwrap();
    assert_eq!(a, b);
    let again = performance(&outcomes, now, 0.35, &no_baseline(), &config).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

fn outcome(id: usize, time_ms: i64, score: f64, label: Option<f64>) -> Outcome {
    Outcome {
        request_id: format!("r{id}"),
        time_ms,
        score,
        decision: None,
        label,
        label_time_ms: label.map(|_| time_ms + 1000),
    }
}

fn small(windows: Vec<Window>) -> PerformanceConfig {
    PerformanceConfig {
        windows,
        min_labels: 1,
        min_positives: 1,
        ..PerformanceConfig::default()
    }
}

#[test]
fn a_count_window_takes_the_latest_labeled_predictions() {
    // Ten predictions, one a minute; labeled ones at 0..=9 except 6 and 7.
    let outcomes: Vec<Outcome> = (0..10)
        .map(|i| {
            let label = (i != 6 && i != 7).then_some((i % 2) as f64);
            outcome(i, T0 + i as i64 * 60_000, 0.1 * i as f64, label)
        })
        .collect();
    let report = performance(
        &outcomes,
        T0 + DAY,
        0.5,
        &no_baseline(),
        &small(vec![Window::Last(4)]),
    )
    .unwrap();
    let w = &report.windows[0];
    // The last four labeled are 4, 5, 8, 9; 6 and 7 are unlabeled between them.
    assert_eq!(w.labeled, 4);
    assert_eq!(w.predictions, 6);
    assert_eq!(w.from_ms, Some(T0 + 4 * 60_000));
    assert_eq!(w.to_ms, Some(T0 + 9 * 60_000));
    assert_eq!(w.label_coverage, Some(4.0 / 6.0));
    assert_eq!(w.positives, 2); // 5 and 9
    // Scores 0.4, 0.5, 0.8, 0.9 with labels 0, 1, 0, 1: of the four
    // positive-negative pairs, (0.5, 0.4), (0.9, 0.4), (0.9, 0.8) are ordered
    // right: AUC 3/4.
    assert_eq!(w.auc_roc, Some(0.75));
    // Decisions at 0.5: 5, 8, 9 positive → tp 2, fp 1, fn 0.
    assert_eq!(w.precision, Some(2.0 / 3.0));
    assert_eq!(w.recall, Some(1.0));
}

#[test]
fn a_time_window_ends_at_the_cutoff() {
    // One prediction per hour over two days, all labeled.
    let outcomes: Vec<Outcome> = (0..48)
        .map(|i| outcome(i, T0 + i as i64 * 3_600_000, 0.5, Some((i % 2) as f64)))
        .collect();
    let now = T0 + 47 * 3_600_000;
    let config = PerformanceConfig {
        label_delay: Span::parse("6h").unwrap(),
        ..small(vec![Window::Span(Span::parse("12h").unwrap())])
    };
    let report = performance(&outcomes, now, 0.5, &no_baseline(), &config).unwrap();
    // Cutoff at hour 41: hours 42..=47 are pending; the window is
    // (29h, 41h], i.e. hours 30..=41.
    assert_eq!(report.cutoff_ms, T0 + 41 * 3_600_000);
    assert_eq!(report.pending_predictions, 6);
    let w = &report.windows[0];
    assert_eq!(w.predictions, 12);
    assert_eq!(w.labeled, 12);
    assert_eq!(w.from_ms, Some(T0 + 29 * 3_600_000));
    assert_eq!(w.to_ms, Some(T0 + 41 * 3_600_000));
    // Every score ties: AUC 0.5 exactly.
    assert_eq!(w.auc_roc, Some(0.5));
}

#[test]
fn pending_predictions_are_left_out_of_every_window() {
    let mut outcomes: Vec<Outcome> = (0..20)
        .map(|i| {
            outcome(
                i,
                T0 + i as i64 * 60_000,
                0.05 * i as f64,
                Some((i % 2) as f64),
            )
        })
        .collect();
    // Three recent predictions, already labeled, but inside the delay.
    for i in 20..23 {
        outcomes.push(outcome(i, T0 + DAY - 60_000, 0.9, Some(0.0)));
    }
    let config = PerformanceConfig {
        label_delay: Span::parse("1h").unwrap(),
        ..small(vec![
            Window::Last(1000),
            Window::Span(Span::parse("2d").unwrap()),
        ])
    };
    let report = performance(&outcomes, T0 + DAY, 0.5, &no_baseline(), &config).unwrap();
    assert_eq!(report.pending_predictions, 3);
    for w in &report.windows {
        assert_eq!(w.predictions, 20, "{}", w.name);
        assert_eq!(w.labeled, 20, "{}", w.name);
    }
    let signals: BTreeMap<String, f64> = report.signals().into_iter().collect();
    assert_eq!(signals["pending_predictions"], 3.0);
}

#[test]
fn a_late_label_counts_once_it_has_arrived() {
    let mut outcomes: Vec<Outcome> = (0..6)
        .map(|i| {
            outcome(
                i,
                T0 + i as i64 * 60_000,
                0.1 * i as f64,
                Some((i % 2) as f64),
            )
        })
        .collect();
    let mut late = outcome(6, T0 + 10 * 60_000, 0.95, Some(1.0));
    late.label_time_ms = Some(T0 + 3 * DAY);
    outcomes.push(late);
    let config = small(vec![Window::Last(100)]);
    let before = performance(&outcomes, T0 + DAY, 0.5, &no_baseline(), &config).unwrap();
    let w = &before.windows[0];
    assert_eq!((w.predictions, w.labeled, w.positives), (6, 6, 3));
    // The last labeled prediction is number 5: the unlabeled late one comes
    // after it and lies outside the window.
    assert_eq!(w.to_ms, Some(T0 + 5 * 60_000));
    let after = performance(&outcomes, T0 + 3 * DAY, 0.5, &no_baseline(), &config).unwrap();
    let w = &after.windows[0];
    assert_eq!((w.predictions, w.labeled, w.positives), (7, 7, 4));
    assert_eq!(w.to_ms, Some(T0 + 10 * 60_000));
}

#[test]
fn a_logged_decision_wins_over_the_threshold() {
    let mut outcomes = vec![
        outcome(0, T0, 0.9, Some(1.0)),
        outcome(1, T0 + 1, 0.8, Some(0.0)),
        outcome(2, T0 + 2, 0.1, Some(0.0)),
        outcome(3, T0 + 3, 0.2, Some(1.0)),
    ];
    // Logged at a higher threshold: 0.8 was not declined.
    outcomes[1].decision = Some(false);
    // Logged at a lower threshold: 0.2 was declined.
    outcomes[3].decision = Some(true);
    let report = performance(
        &outcomes,
        T0 + DAY,
        0.5,
        &no_baseline(),
        &small(vec![Window::Last(10)]),
    )
    .unwrap();
    let c = report.windows[0].confusion.unwrap();
    assert_eq!((c.tp, c.fp, c.tn, c.fn_), (2.0, 0.0, 2.0, 0.0));
}

/// AUC-ROC by counting ordered pairs (ties half): the Mann–Whitney form.
fn pairwise_auc(outcomes: &[Outcome]) -> f64 {
    let (mut good, mut pairs) = (0.0, 0.0);
    for p in outcomes.iter().filter(|o| o.label == Some(1.0)) {
        for n in outcomes.iter().filter(|o| o.label == Some(0.0)) {
            pairs += 1.0;
            good += if p.score > n.score {
                1.0
            } else if p.score == n.score {
                0.5
            } else {
                0.0
            };
        }
    }
    good / pairs
}

/// 200 labeled outcomes whose positives outrank negatives by `shift`.
fn separated(shift: f64) -> Vec<Outcome> {
    (0..200)
        .map(|i| {
            let positive = i % 4 == 0;
            let base = ((i * 37) % 101) as f64 / 101.0 * 0.6;
            let score = if positive { base + shift } else { base };
            outcome(
                i,
                T0 + i as i64 * 1000,
                score.min(1.0),
                Some(f64::from(u8::from(positive))),
            )
        })
        .collect()
}

#[test]
fn a_low_auc_degrades_and_the_drop_from_the_baseline_is_reported() {
    let config = PerformanceConfig::default();
    let weak = separated(0.02);
    let report = performance(&weak, T0 + DAY, 0.5, &no_baseline(), &config).unwrap();
    let auc = report.windows[0].auc_roc.unwrap();
    assert!((auc - pairwise_auc(&weak)).abs() < 1e-12);
    assert!(auc < 0.65, "{auc}");
    assert!(report.degraded);
    assert!(report.message.contains("below 0.65"), "{}", report.message);

    let strong = separated(0.25);
    let auc = pairwise_auc(&strong);
    assert!(auc > 0.65 && auc < 0.95, "{auc}");
    let baseline: BTreeMap<String, f64> = [("auc_roc".to_string(), 0.95), ("auc_pr".into(), 0.9)]
        .into_iter()
        .collect();
    let report = performance(&strong, T0 + DAY, 0.5, &baseline, &config).unwrap();
    assert!(report.degraded, "{}", report.message);
    assert!(report.message.contains("holdout"), "{}", report.message);
    let signals: BTreeMap<String, f64> = report.signals().into_iter().collect();
    assert!((signals["auc_roc_drop"] - (0.95 - auc)).abs() < 1e-12);
    let pr = report.windows[0]
        .vs_baseline
        .iter()
        .find(|c| c.metric == "auc_pr")
        .unwrap();
    assert_eq!(pr.drop, 0.9 - pr.current);

    // The same figures against a baseline within tolerance: not degraded.
    let near: BTreeMap<String, f64> = [("auc_roc".to_string(), auc + 0.01)].into_iter().collect();
    let report = performance(&strong, T0 + DAY, 0.5, &near, &config).unwrap();
    assert!(!report.degraded, "{}", report.message);
    assert!(report.message.ends_with("ok"), "{}", report.message);
}

#[test]
fn too_few_labels_say_so_instead_of_a_number() {
    let outcomes: Vec<Outcome> = (0..30)
        .map(|i| {
            let label = (i % 3 == 0).then_some(((i / 3) % 2) as f64);
            outcome(i, T0 + i as i64, 0.5, label)
        })
        .collect();
    let report = performance(
        &outcomes,
        T0 + DAY,
        0.5,
        &no_baseline(),
        &PerformanceConfig::default(),
    )
    .unwrap();
    let w = &report.windows[0];
    assert_eq!(w.status, WindowStatus::InsufficientLabels);
    // Labeled: 0, 3, ..., 27; the window runs from the first to the last of
    // them; 28 and 29 come after the latest label.
    assert_eq!((w.predictions, w.labeled), (28, 10));
    assert!(w.auc_roc.is_none() && w.precision.is_none() && w.brier.is_none());
    assert!(!report.degraded);
    assert!(report.message.contains("not judged"), "{}", report.message);
    let names: Vec<String> = report.signals().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["label_coverage", "pending_predictions"]);
    for (_, v) in report.signals() {
        assert!(v.is_finite());
    }

    // Enough labels but a single positive: decisions are measured, the AUCs
    // are not.
    let config = PerformanceConfig {
        min_labels: 5,
        ..PerformanceConfig::default()
    };
    let one: Vec<Outcome> = (0..10)
        .map(|i| {
            outcome(
                i,
                T0 + i as i64,
                0.1 * i as f64,
                Some(f64::from(u8::from(i == 9))),
            )
        })
        .collect();
    let report = performance(&one, T0 + DAY, 0.5, &no_baseline(), &config).unwrap();
    let w = &report.windows[0];
    assert_eq!(w.status, WindowStatus::Ok);
    assert!(w.auc_roc.is_none() && w.auc_pr.is_none());
    assert_eq!(w.recall, Some(1.0));
    assert!(
        w.notes.iter().any(|n| n.contains("AUC-ROC needs")),
        "{:?}",
        w.notes
    );
    assert!(report.message.contains("not judged"), "{}", report.message);
}

#[test]
fn no_predictions_is_a_status_not_a_nan() {
    let report = performance(&[], T0, 0.5, &no_baseline(), &PerformanceConfig::default()).unwrap();
    for w in &report.windows {
        assert_eq!(w.status, WindowStatus::NoPredictions);
        assert_eq!(w.label_coverage, None);
    }
    assert_eq!(
        report.signals(),
        vec![("pending_predictions".to_string(), 0.0)]
    );
    assert!(!report.degraded);
}

#[test]
fn a_label_other_than_0_or_1_names_the_request() {
    let mut outcomes = vec![
        outcome(0, T0, 0.5, Some(1.0)),
        outcome(1, T0, 0.5, Some(2.0)),
    ];
    let err = performance(
        &outcomes,
        T0 + DAY,
        0.5,
        &no_baseline(),
        &PerformanceConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        MonitorError::LabelNotBinary { position: 1, .. }
    ));
    let text = err.to_string();
    assert!(
        text.contains("outcome 1 (request r1)") && text.contains("label 2"),
        "{text}"
    );

    outcomes[1].label = Some(0.0);
    outcomes[0].score = f64::NAN;
    let err = performance(
        &outcomes,
        T0 + DAY,
        0.5,
        &no_baseline(),
        &PerformanceConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("outcome 0 (request r0)") && err.contains("NaN"),
        "{err}"
    );
    let err = performance(
        &[],
        T0,
        f64::NAN,
        &no_baseline(),
        &PerformanceConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("threshold"), "{err}");
}

#[test]
fn scores_outside_0_1_skip_brier_and_calibration_only() {
    let outcomes: Vec<Outcome> = (0..10)
        .map(|i| outcome(i, T0 + i as i64, i as f64 - 3.0, Some((i % 2) as f64)))
        .collect();
    let report = performance(
        &outcomes,
        T0 + DAY,
        0.0,
        &no_baseline(),
        &small(vec![Window::Last(10)]),
    )
    .unwrap();
    let w = &report.windows[0];
    assert!(w.brier.is_none() && w.calibration.is_empty());
    assert!(w.auc_roc.is_some());
    assert!(w.notes.iter().any(|n| n.contains("outside [0, 1]")));
}

#[test]
fn settings_read_from_toml_with_clear_errors() {
    let cfg: PerformanceConfig = toml::from_str(
        "windows = [{ last = 500 }, { span = \"6h\" }]\nlabel_delay = \"2d\"\nauc_alert = 0.7\n",
    )
    .unwrap();
    assert_eq!(
        cfg.windows,
        vec![
            Window::Last(500),
            Window::Span(Span::from_ms(6 * 3_600_000))
        ]
    );
    assert_eq!(cfg.label_delay.ms(), 2 * DAY);
    assert_eq!(cfg.min_labels, 100);
    cfg.check().unwrap();
    assert_eq!(cfg.windows[1].to_string(), "last 6h");
    // Round trip through TOML.
    let text = toml::to_string(&cfg).unwrap();
    assert_eq!(toml::from_str::<PerformanceConfig>(&text).unwrap(), cfg);

    let default = PerformanceConfig::default();
    assert_eq!(
        default.windows,
        vec![
            Window::Last(1000),
            Window::Span(Span::parse("14d").unwrap())
        ]
    );
    assert_eq!(default.auc_alert, 0.65);

    let err = toml::from_str::<PerformanceConfig>("windows = [{ last = 5, span = \"1d\" }]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("either { last = 1000 }"), "{err}");
    let err = toml::from_str::<PerformanceConfig>("windows = [{ span = \"two weeks\" }]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("whole number followed by s, m, h or d"),
        "{err}"
    );
    let err = toml::from_str::<PerformanceConfig>("auc = 0.6\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");
    let bad = PerformanceConfig {
        windows: vec![Window::Span(Span::ZERO)],
        ..PerformanceConfig::default()
    };
    let err = bad.check().unwrap_err().to_string();
    assert!(
        err.starts_with("[monitor.performance]") && err.contains("positive span"),
        "{err}"
    );
}
