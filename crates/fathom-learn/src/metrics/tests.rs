//! Tests of the metrics: the scikit-learn cross-check on the committed
//! fixture (`tests/fixtures/metrics/fixture.json`, made by
//! `make_fixture.py` next to it), invariants, edge cases and error messages.

use serde::Deserialize;

use super::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics/fixture.json"
);

/// Relative tolerance against scikit-learn.
const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    meta: Meta,
    binary: Vec<BinaryCase>,
    regression: Vec<RegressionCase>,
}

#[derive(Deserialize)]
struct Meta {
    sklearn: String,
    thresholds: Vec<f64>,
    target_precision: f64,
    target_recall: f64,
    calibration_bins: usize,
}

#[derive(Deserialize)]
struct BinaryCase {
    name: String,
    y: Vec<f64>,
    score: Vec<f64>,
    w: Option<Vec<f64>>,
    roc_auc: f64,
    average_precision: f64,
    roc_curve: RocFixture,
    pr_curve: PrFixture,
    log_loss: f64,
    brier: f64,
    confusion: Vec<ConfusionFixture>,
    max_f1: Option<ThresholdChoice>,
    target_precision: Option<ThresholdChoice>,
    target_recall: Option<ThresholdChoice>,
    calibration_uniform: CalibrationFixture,
    calibration_quantile: CalibrationFixture,
}

#[derive(Deserialize)]
struct RocFixture {
    fpr: Vec<f64>,
    tpr: Vec<f64>,
    /// `None` stands for +inf (JSON has no infinity).
    thresholds: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct PrFixture {
    precision: Vec<f64>,
    recall: Vec<f64>,
    thresholds: Vec<f64>,
}

#[derive(Deserialize)]
struct ConfusionFixture {
    threshold: f64,
    tp: f64,
    fp: f64,
    tn: f64,
    #[serde(rename = "fn")]
    fn_: f64,
    accuracy: f64,
    precision: f64,
    recall: f64,
    f1: f64,
}

#[derive(Deserialize)]
struct CalibrationFixture {
    lower: Vec<f64>,
    upper: Vec<f64>,
    count: Vec<usize>,
    mean_predicted: Vec<f64>,
    fraction_positive: Vec<f64>,
}

#[derive(Deserialize)]
struct RegressionCase {
    name: String,
    y: Vec<f64>,
    pred: Vec<f64>,
    w: Option<Vec<f64>>,
    mae: f64,
    rmse: f64,
    r2: f64,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(FIXTURE).expect("read fixture.json");
    serde_json::from_str(&text).expect("parse fixture.json")
}

/// Asserts `got` equals `want` to [`TOL`] relative (exactly for zeros and
/// infinities).
#[track_caller]
fn close(what: &str, got: f64, want: f64) {
    let ok = got == want || (got - want).abs() <= TOL * got.abs().max(want.abs());
    assert!(ok, "{what}: got {got:e}, sklearn {want:e}");
}

#[track_caller]
fn close_all(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        close(&format!("{what}[{i}]"), g, w);
    }
}

#[track_caller]
fn close_choice(what: &str, got: &ThresholdChoice, want: &ThresholdChoice) {
    close(&format!("{what}.threshold"), got.threshold, want.threshold);
    close(&format!("{what}.precision"), got.precision, want.precision);
    close(&format!("{what}.recall"), got.recall, want.recall);
    close(&format!("{what}.f1"), got.f1, want.f1);
}

#[track_caller]
fn close_calibration(what: &str, got: &[CalibrationBin], want: &CalibrationFixture) {
    let col = |f: fn(&CalibrationBin) -> f64| got.iter().map(f).collect::<Vec<_>>();
    close_all(&format!("{what}.lower"), &col(|b| b.lower), &want.lower);
    close_all(&format!("{what}.upper"), &col(|b| b.upper), &want.upper);
    let counts: Vec<usize> = got.iter().map(|b| b.count).collect();
    assert_eq!(counts, want.count, "{what}.count");
    close_all(
        &format!("{what}.mean_predicted"),
        &col(|b| b.mean_predicted),
        &want.mean_predicted,
    );
    close_all(
        &format!("{what}.fraction_positive"),
        &col(|b| b.fraction_positive),
        &want.fraction_positive,
    );
}

#[test]
fn fixture_is_from_a_known_sklearn() {
    let f = fixture();
    assert!(f.meta.sklearn.starts_with("1."), "{}", f.meta.sklearn);
    let names: Vec<&str> = f.binary.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["imbalanced", "ties", "weighted", "tiny"]);
    assert_eq!(f.binary[0].y.len(), 2000);
    assert_eq!(f.binary[0].y.iter().sum::<f64>(), 40.0);
    assert!(f.binary[2].w.as_ref().unwrap().contains(&0.0));
}

#[test]
fn ranking_matches_sklearn() {
    for c in fixture().binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        let n = &c.name;
        close(
            &format!("{n} roc_auc"),
            roc_auc(y, s, w).unwrap(),
            c.roc_auc,
        );
        close(
            &format!("{n} average_precision"),
            average_precision(y, s, w).unwrap(),
            c.average_precision,
        );

        let roc = roc_curve(y, s, w).unwrap();
        close_all(&format!("{n} roc fpr"), &roc.fpr, &c.roc_curve.fpr);
        close_all(&format!("{n} roc tpr"), &roc.tpr, &c.roc_curve.tpr);
        let want: Vec<f64> = c
            .roc_curve
            .thresholds
            .iter()
            .map(|t| t.unwrap_or(f64::INFINITY))
            .collect();
        close_all(&format!("{n} roc thresholds"), &roc.thresholds, &want);

        let pr = precision_recall_curve(y, s, w).unwrap();
        close_all(
            &format!("{n} pr precision"),
            &pr.precision,
            &c.pr_curve.precision,
        );
        close_all(&format!("{n} pr recall"), &pr.recall, &c.pr_curve.recall);
        close_all(
            &format!("{n} pr thresholds"),
            &pr.thresholds,
            &c.pr_curve.thresholds,
        );
    }
}

#[test]
fn probabilistic_metrics_match_sklearn() {
    let f = fixture();
    let bins = f.meta.calibration_bins;
    for c in f.binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        let n = &c.name;
        close(
            &format!("{n} log_loss"),
            log_loss(y, s, w).unwrap(),
            c.log_loss,
        );
        close(
            &format!("{n} brier"),
            brier_score(y, s, w).unwrap(),
            c.brier,
        );
        let uniform = calibration_table(y, s, bins, BinStrategy::Uniform).unwrap();
        close_calibration(
            &format!("{n} calibration uniform"),
            &uniform,
            &c.calibration_uniform,
        );
        let quantile = calibration_table(y, s, bins, BinStrategy::Quantile).unwrap();
        close_calibration(
            &format!("{n} calibration quantile"),
            &quantile,
            &c.calibration_quantile,
        );
    }
}

#[test]
fn confusion_matches_sklearn() {
    let f = fixture();
    for c in f.binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        assert_eq!(c.confusion.len(), f.meta.thresholds.len());
        for want in &c.confusion {
            let what = format!("{} @ {}", c.name, want.threshold);
            let got = confusion_at(y, s, want.threshold, w).unwrap();
            if w.is_none() {
                // Unweighted counts are exact.
                assert_eq!(
                    (got.tp, got.fp, got.tn, got.fn_),
                    (want.tp, want.fp, want.tn, want.fn_),
                    "{what}"
                );
            }
            close(&format!("{what} tp"), got.tp, want.tp);
            close(&format!("{what} fp"), got.fp, want.fp);
            close(&format!("{what} tn"), got.tn, want.tn);
            close(&format!("{what} fn"), got.fn_, want.fn_);
            close(&format!("{what} accuracy"), got.accuracy(), want.accuracy);
            close(
                &format!("{what} precision"),
                got.precision(),
                want.precision,
            );
            close(&format!("{what} recall"), got.recall(), want.recall);
            close(&format!("{what} f1"), got.f1(), want.f1);
        }
    }
}

#[test]
fn threshold_choice_matches_python() {
    let f = fixture();
    for c in f.binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        let rules = [
            ("max_f1", ThresholdRule::MaxF1, &c.max_f1),
            (
                "target_precision",
                ThresholdRule::TargetPrecision(f.meta.target_precision),
                &c.target_precision,
            ),
            (
                "target_recall",
                ThresholdRule::TargetRecall(f.meta.target_recall),
                &c.target_recall,
            ),
        ];
        for (name, rule, want) in rules {
            let what = format!("{} {name}", c.name);
            match (choose_threshold(y, s, rule, w), want) {
                (Ok(got), Some(want)) => close_choice(&what, &got, want),
                (Err(MetricError::TargetUnreachable { .. }), None) => {}
                (got, want) => panic!("{what}: got {got:?}, python {want:?}"),
            }
        }
    }
}

#[test]
fn regression_matches_sklearn() {
    for c in fixture().regression {
        let (y, p, w) = (&c.y, &c.pred, c.w.as_deref());
        let n = &c.name;
        close(&format!("{n} mae"), mae(y, p, w).unwrap(), c.mae);
        close(&format!("{n} rmse"), rmse(y, p, w).unwrap(), c.rmse);
        close(&format!("{n} r2"), r2(y, p, w).unwrap(), c.r2);
        let report = regression_report(y, p, w).unwrap();
        assert_eq!(
            (report.mae, report.rmse, report.r2),
            (
                mae(y, p, w).unwrap(),
                rmse(y, p, w).unwrap(),
                r2(y, p, w).unwrap()
            )
        );
    }
}

#[test]
fn binary_report_bundles_the_metrics() {
    for c in fixture().binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        let report = binary_report(y, s, 0.5, w).unwrap();
        close("auc_roc", report.auc_roc, c.roc_auc);
        close("auc_pr", report.auc_pr, c.average_precision);
        close("logloss", report.logloss, c.log_loss);
        close("brier", report.brier, c.brier);
        let at_half = c.confusion.iter().find(|x| x.threshold == 0.5).unwrap();
        close("accuracy", report.accuracy, at_half.accuracy);
        close("precision", report.precision, at_half.precision);
        close("recall", report.recall, at_half.recall);
        close("f1", report.f1, at_half.f1);
        assert_eq!(report.confusion, confusion_at(y, s, 0.5, w).unwrap());

        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"fn\":"), "{json}");
        // serde_json without `float_roundtrip` may be off by one ulp.
        let back: BinaryReport = serde_json::from_str(&json).unwrap();
        let fields = |r: &BinaryReport| {
            [
                r.threshold,
                r.auc_roc,
                r.auc_pr,
                r.logloss,
                r.brier,
                r.accuracy,
                r.precision,
                r.recall,
                r.f1,
                r.confusion.tp,
                r.confusion.fp,
                r.confusion.tn,
                r.confusion.fn_,
            ]
        };
        close_all("round trip", &fields(&back), &fields(&report));
    }
}

/// Every ROC point is reproduced by `confusion_at` at its threshold: the
/// `score >= threshold` convention is the curves' one.
#[test]
fn curve_thresholds_follow_the_confusion_convention() {
    for c in fixture().binary {
        let (y, s, w) = (&c.y, &c.score, c.w.as_deref());
        let roc = roc_curve(y, s, w).unwrap();
        for i in 0..roc.thresholds.len() {
            let m = confusion_at(y, s, roc.thresholds[i], w).unwrap();
            let what = format!("{} roc[{i}]", c.name);
            close(&format!("{what} tpr"), m.recall(), roc.tpr[i]);
            close(&format!("{what} fpr"), 1.0 - m.specificity(), roc.fpr[i]);
        }
        let pr = precision_recall_curve(y, s, w).unwrap();
        for i in 0..pr.thresholds.len() {
            let m = confusion_at(y, s, pr.thresholds[i], w).unwrap();
            let what = format!("{} pr[{i}]", c.name);
            close(&format!("{what} precision"), m.precision(), pr.precision[i]);
            close(&format!("{what} recall"), m.recall(), pr.recall[i]);
        }
    }
}

#[test]
fn hand_checked_values() {
    // One tie between a positive and a negative counts half.
    let y = [0.0, 1.0, 0.0, 1.0];
    assert_eq!(roc_auc(&y, &[0.1, 0.5, 0.5, 0.9], None).unwrap(), 0.875);
    // Perfect and inverted rankings.
    assert_eq!(roc_auc(&y, &[0.1, 0.8, 0.2, 0.9], None).unwrap(), 1.0);
    assert_eq!(roc_auc(&y, &[0.9, 0.2, 0.8, 0.1], None).unwrap(), 0.0);
    // Integer weights equal repeated samples.
    let weighted = roc_auc(&y, &[0.1, 0.3, 0.4, 0.9], Some(&[2.0, 1.0, 1.0, 3.0])).unwrap();
    let repeated = roc_auc(
        &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        &[0.1, 0.1, 0.3, 0.4, 0.9, 0.9, 0.9],
        None,
    )
    .unwrap();
    assert_eq!(weighted, repeated);
    // AP: all positives ranked first.
    assert_eq!(
        average_precision(&y, &[0.1, 0.8, 0.2, 0.9], None).unwrap(),
        1.0
    );
    // All-positive y is fine for the PR side (sklearn gives 1.0).
    assert_eq!(
        average_precision(&[1.0, 1.0], &[0.2, 0.7], None).unwrap(),
        1.0
    );
    // Zero-weight samples leave no threshold behind.
    let pr =
        precision_recall_curve(&y, &[0.1, 0.8, 0.2, 0.9], Some(&[1.0, 1.0, 0.0, 1.0])).unwrap();
    assert_eq!(pr.thresholds, [0.1, 0.8, 0.9]);
    // Log-loss clipping: a perfect prediction costs -ln(1 - eps).
    let perfect = log_loss(&[0.0, 1.0], &[0.0, 1.0], None).unwrap();
    assert_eq!(perfect, -(1.0 - f64::EPSILON).ln());
    let wrong = log_loss(&[1.0], &[0.0], None).unwrap();
    assert_eq!(wrong, -f64::EPSILON.ln());
    // Single-class log-loss and Brier are defined.
    assert!(log_loss(&[1.0, 1.0], &[0.9, 0.6], None).unwrap() > 0.0);
    close(
        "brier",
        brier_score(&[1.0, 0.0], &[0.75, 0.5], None).unwrap(),
        0.15625,
    );
}

#[test]
fn confusion_rates_are_zero_when_undefined() {
    let none = Confusion {
        tp: 0.0,
        fp: 0.0,
        tn: 0.0,
        fn_: 0.0,
    };
    assert_eq!(
        (
            none.accuracy(),
            none.precision(),
            none.recall(),
            none.f1(),
            none.specificity()
        ),
        (0.0, 0.0, 0.0, 0.0, 0.0)
    );
    let m = confusion_at(&[0.0, 1.0, 1.0, 0.0], &[0.2, 0.9, 0.4, 0.6], 0.5, None).unwrap();
    assert_eq!(
        m,
        Confusion {
            tp: 1.0,
            fp: 1.0,
            tn: 1.0,
            fn_: 1.0
        }
    );
    assert_eq!((m.accuracy(), m.f1(), m.specificity()), (0.5, 0.5, 0.5));
    // Nothing predicted positive: precision is 0, not NaN.
    let m = confusion_at(&[0.0, 1.0], &[0.2, 0.4], 0.5, None).unwrap();
    assert_eq!((m.precision(), m.recall(), m.f1()), (0.0, 0.0, 0.0));
}

#[test]
fn r2_special_cases() {
    // 0.1 has no exact mean in floating point; constancy is still seen.
    let y = [0.1, 0.1, 0.1];
    assert_eq!(r2(&y, &y, None).unwrap(), 1.0);
    assert_eq!(r2(&y, &[0.1, 0.2, 0.1], None).unwrap(), 0.0);
    // Constant among the weighted samples.
    let w = [1.0, 1.0, 0.0];
    assert_eq!(
        r2(&[2.0, 2.0, 5.0], &[2.0, 1.0, 5.0], Some(&w)).unwrap(),
        0.0
    );
    assert!(r2(&[1.0], &[2.0], None).unwrap().is_nan());
    assert_eq!(rmse(&[1.0, 3.0], &[2.0, 2.0], None).unwrap(), 1.0);
    assert_eq!(
        mae(&[1.0, 3.0], &[2.0, 5.0], Some(&[3.0, 1.0])).unwrap(),
        1.25
    );
}

#[test]
fn calibration_edges_and_empty_bins() {
    // A sample on an inner edge goes to the lower bin, as in sklearn.
    let y = [0.0, 1.0, 1.0, 0.0];
    let table = calibration_table(&y, &[0.0, 0.5, 0.5, 1.0], 2, BinStrategy::Uniform).unwrap();
    assert_eq!(table.len(), 2);
    assert_eq!((table[0].count, table[1].count), (3, 1));
    assert_eq!(table[0].fraction_positive, 2.0 / 3.0);
    // Empty bins are dropped.
    let table = calibration_table(&y, &[0.01, 0.02, 0.03, 0.04], 10, BinStrategy::Uniform).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(
        (table[0].lower, table[0].upper, table[0].count),
        (0.0, 0.1, 4)
    );
    // Quantile bins of a constant collapse into one.
    let table = calibration_table(&y, &[0.3; 4], 5, BinStrategy::Quantile).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(
        (table[0].lower, table[0].upper, table[0].count),
        (0.3, 0.3, 4)
    );
}

/// Error variants and their exact messages.
#[test]
fn errors_say_what_and_what_to_do() {
    let msg = |e: MetricError| e.to_string();
    let y = [0.0, 1.0, 1.0];
    let s = [0.2, 0.7, 0.4];

    assert_eq!(
        msg(roc_auc(&[], &[], None).unwrap_err()),
        "empty input: roc_auc needs at least one sample; evaluate on a non-empty set"
    );
    assert_eq!(
        msg(roc_auc(&y, &s[..2], None).unwrap_err()),
        "length mismatch: `score` has 2 values but `y` has 3; pass exactly one value per sample"
    );
    assert_eq!(
        msg(log_loss(&y, &s, Some(&[1.0])).unwrap_err()),
        "length mismatch: `w` has 1 values but `y` has 3; pass exactly one value per sample"
    );
    assert_eq!(
        msg(roc_auc(&[1.0, 1.0], &[0.1, 0.2], None).unwrap_err()),
        "only class 1 is present in `y` (after dropping zero-weight samples): roc_auc needs both a 0 and a 1 label; evaluate on a set that contains both classes (e.g. a stratified split)"
    );
    assert_eq!(
        msg(average_precision(&[0.0, 0.0], &[0.1, 0.2], None).unwrap_err()),
        "only class 0 is present in `y` (after dropping zero-weight samples): average_precision needs at least one positive (1) label; evaluate on a set that contains both classes (e.g. a stratified split)"
    );
    // A class present only with zero weight does not count.
    assert!(matches!(
        roc_curve(&y, &s, Some(&[0.0, 1.0, 1.0])).unwrap_err(),
        MetricError::SingleClass { present: 1, .. }
    ));
    assert_eq!(
        msg(roc_auc(&[0.0, 2.0], &[0.1, 0.2], None).unwrap_err()),
        "label y[1] = 2 is not 0 or 1; encode the positive class as 1.0 and the negative class as 0.0"
    );
    assert_eq!(
        msg(roc_auc(&y, &[0.2, f64::NAN, 0.4], None).unwrap_err()),
        "score[1] = NaN is not finite; drop or impute NaN and infinite values before computing metrics"
    );
    assert!(matches!(
        confusion_at(&y, &[0.2, 0.3, f64::INFINITY], 0.5, None).unwrap_err(),
        MetricError::NonFinite {
            what: "score",
            index: 2,
            ..
        }
    ));
    assert_eq!(
        msg(mae(&[1.0, 2.0], &[1.0, f64::NEG_INFINITY], None).unwrap_err()),
        "pred[1] = -inf is not finite; drop or impute NaN and infinite values before computing metrics"
    );
    assert_eq!(
        msg(log_loss(&y, &[0.2, 1.5, 0.4], None).unwrap_err()),
        "p[1] = 1.5 is outside [0, 1]; pass probabilities (e.g. apply a sigmoid to raw margins)"
    );
    assert!(matches!(
        binary_report(&y, &[-2.0, 1.0, 3.0], 0.5, None).unwrap_err(),
        MetricError::ProbabilityOutOfRange { index: 0, .. }
    ));
    assert_eq!(
        msg(roc_auc(&y, &s, Some(&[1.0, -1.0, 1.0])).unwrap_err()),
        "weight w[1] = -1 is invalid; sample weights must be finite and >= 0"
    );
    assert_eq!(
        msg(rmse(&y, &s, Some(&[0.0, 0.0, 0.0])).unwrap_err()),
        "sample weights sum to zero; give at least one sample a positive weight"
    );
    assert_eq!(
        msg(calibration_table(&y, &s, 0, BinStrategy::Quantile).unwrap_err()),
        "invalid parameter bins = 0: must be at least 1"
    );
    assert_eq!(
        msg(choose_threshold(&y, &s, ThresholdRule::TargetRecall(1.5), None).unwrap_err()),
        "invalid parameter target recall = 1.5: must be in (0, 1]"
    );
    assert_eq!(
        msg(confusion_at(&y, &s, f64::NAN, None).unwrap_err()),
        "invalid parameter threshold = NaN: a number (not NaN)"
    );
    assert_eq!(
        msg(choose_threshold(
            &[1.0, 0.0, 0.0, 1.0],
            &[0.2, 0.9, 0.8, 0.1],
            ThresholdRule::TargetPrecision(0.9),
            None
        )
        .unwrap_err()),
        "no threshold reaches precision >= 0.9 (the best is 0.5); lower the target or improve the model"
    );
}

#[test]
fn choose_threshold_rules_on_a_small_case() {
    let y = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let s = [0.1, 0.9, 0.3, 0.6, 0.4, 0.5];
    // Thresholds 0.1, 0.3, 0.4, 0.5, 0.6, 0.9 give precision / recall
    // .5/1, .6/1, .75/1, .667/.667, 1/.667, 1/.333 and F1 .667, .75, .857,
    // .667, .8, .5.
    let best = choose_threshold(&y, &s, ThresholdRule::MaxF1, None).unwrap();
    assert_eq!(
        (best.threshold, best.precision, best.recall),
        (0.4, 0.75, 1.0)
    );
    close("f1", best.f1, 6.0 / 7.0);
    // Exact F1 ties go to the highest threshold: F1 is 2/3 at 0.9 (P = 1,
    // R = 1/2) and at 0.6 (P = 1/2, R = 1).
    let tie = choose_threshold(
        &[1.0, 0.0, 0.0, 1.0, 0.0],
        &[0.9, 0.8, 0.7, 0.6, 0.1],
        ThresholdRule::MaxF1,
        None,
    );
    assert_eq!(tie.unwrap().threshold, 0.9);
    let c = choose_threshold(&y, &s, ThresholdRule::TargetPrecision(0.7), None).unwrap();
    assert_eq!((c.threshold, c.recall), (0.4, 1.0));
    let c = choose_threshold(&y, &s, ThresholdRule::TargetRecall(1.0), None).unwrap();
    assert_eq!((c.threshold, c.precision), (0.4, 0.75));
    let c = choose_threshold(&y, &s, ThresholdRule::TargetRecall(0.5), None).unwrap();
    assert_eq!(c.threshold, 0.6);
}
