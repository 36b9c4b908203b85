//! Cross-validation, search, feature selection and ensembles.

use fathom_core::{Bitmap, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::cv::{CvConfig, CvSummary, FoldScore, Metric, cv_folds, mean_std};
use fathom_learn::ensemble::EnsembleConfig;
use fathom_learn::feature_selection::{
    SelectionConfig, SelectionRule, bin_of, chi2_sf, mutual_information, quantile_edges,
};
use fathom_learn::linear::{LogisticParams, fit_logistic};
use fathom_learn::metrics::{ThresholdRule, binary_report, choose_threshold};
use fathom_learn::pipeline::{PipelineOptions, fit_pipeline};
use fathom_learn::search::{ParamSpec, SearchConfig, SearchMethod, SearchSpace, trials};
use fathom_learn::split::stratified_split;
use fathom_learn::trainer::{TrainConfig, TrainResult, train_binary};
use fathom_model::artifact::{EnsembleMethod, Estimator, ModelArtifact};
use fathom_model::pipeline::{InputTransform, Value};
use fathom_model::predictor::Predictor;
use std::collections::{BTreeMap, BTreeSet};

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from `(row, stream)`.
fn u(i: usize, stream: u64) -> f64 {
    (mix(i as u64 * 7 + stream) >> 11) as f64 / (1u64 << 53) as f64
}

const LEVELS: [&str; 4] = ["gas", "grocery", "travel", "jewelry"];

/// A small fraud-like table: `amount` (with nulls, more often missing for
/// fraud), `merchant` (categorical), `noise` (unrelated) and `label`.
fn table(n: usize) -> (Frame, Schema) {
    let mut amount = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(n);
    let mut merchant = Vec::with_capacity(n);
    let mut noise = Vec::with_capacity(n);
    let mut label = Vec::with_capacity(n);
    for i in 0..n {
        let a = (u(i, 1) * 6.0).exp();
        let m = (u(i, 2) * 4.0) as usize;
        let z = -3.2 + 0.55 * a.ln() + [0.0, -0.5, 0.8, 1.6][m] + 1.2 * (u(i, 3) - 0.5);
        let y = u(i, 4) < 1.0 / (1.0 + (-z).exp());
        let missing = u(i, 5) < if y { 0.25 } else { 0.06 };
        amount.push(if missing { f64::NAN } else { a });
        valid.push(!missing);
        merchant.push(LEVELS[m]);
        noise.push(u(i, 6) * 100.0);
        label.push(f64::from(u8::from(y)));
    }
    let frame = Frame::new(vec![
        Column::new(
            "amount",
            ColumnData::Numeric(amount),
            Some(Bitmap::from_bools(&valid)),
        ),
        Column::categorical("merchant", &merchant),
        Column::numeric("noise", noise),
        Column::numeric("label", label),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("merchant", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("noise", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("label", ColumnType::Numeric, Role::Label),
    ]);
    (frame, schema)
}

fn labels(frame: &Frame) -> Vec<f64> {
    (0..frame.num_rows())
        .map(|r| frame.column("label").unwrap().f64_at(r).unwrap())
        .collect()
}

/// A quick configuration: few boosting rounds.
fn quick(candidates: &[&str]) -> TrainConfig {
    let mut c = TrainConfig {
        candidates: candidates.iter().map(|s| s.to_string()).collect(),
        ..TrainConfig::default()
    };
    c.gbdt.num_rounds = 40;
    c.gbdt.early_stopping_rounds = Some(10);
    c.gbdt.min_data_in_leaf = 10;
    c
}

fn candidate<'a>(r: &'a TrainResult, name: &str) -> &'a fathom_learn::trainer::CandidateResult {
    r.candidates.iter().find(|c| c.name == name).unwrap()
}

/// Scores `frame` through a [`Predictor`] both ways, checks they agree
/// bit for bit with each other and with the estimator on transformed
/// features, and returns the scores.
fn score_both_ways(art: &ModelArtifact, frame: &Frame) -> Vec<f64> {
    let p = Predictor::new(art.clone()).unwrap();
    let batch = p.score_frame(frame).unwrap();
    let members: Vec<_> = match &art.estimator {
        Estimator::Ensemble { members, .. } => members.iter().map(|m| &m.pipeline).collect(),
        _ => vec![&art.pipeline],
    };
    let feats: Vec<Vec<f64>> = members.iter().map(|p| p.transform_frame(frame)).collect();
    let mut scratch = Vec::new();
    for r in 0..frame.num_rows() {
        let mut row = Vec::new();
        for (p, f) in members.iter().zip(&feats) {
            let w = p.width();
            row.extend_from_slice(&f[r * w..(r + 1) * w]);
        }
        assert_eq!(
            art.estimator.predict(&row).to_bits(),
            batch[r].to_bits(),
            "row {r}"
        );
        let values: Vec<Value<'_>> = art
            .pipeline
            .inputs
            .iter()
            .map(|t| fathom_model::pipeline::value_at(frame.column(t.column()), r))
            .collect();
        assert_eq!(
            p.score_values(&values, &mut scratch).to_bits(),
            batch[r].to_bits(),
            "row {r}"
        );
    }
    batch
}

#[test]
fn cv_mean_and_sample_std_by_hand() {
    // mean 0.75; deviations ±0.05, ±0.15: sum of squares 0.05, / (4 - 1).
    let (m, s) = mean_std(&[0.8, 0.9, 0.7, 0.6]);
    assert!((m - 0.75).abs() < 1e-15);
    assert!((s - (0.05f64 / 3.0).sqrt()).abs() < 1e-15, "{s}");
    assert!(mean_std(&[0.5]).1.is_nan());
    let fold = |auc_pr: f64, logloss: f64| FoldScore {
        threshold: 0.5,
        metrics: fathom_learn::cv::CvMetrics {
            auc_roc: 0.9,
            auc_pr,
            logloss,
            f1: 0.5,
        },
    };
    let s = CvSummary::from_folds(vec![fold(0.2, 1.0), fold(0.4, 2.0), fold(0.6, 6.0)]);
    assert!((s.mean.auc_pr - 0.4).abs() < 1e-15);
    assert!((s.std.auc_pr - 0.2).abs() < 1e-15);
    assert!((s.mean.logloss - 3.0).abs() < 1e-15);
    // ((−2)² + (−1)² + 3²) / 2 = 7
    assert!((s.std.logloss - 7f64.sqrt()).abs() < 1e-15);
    assert_eq!(s.std.auc_roc, 0.0);
    assert_eq!(s.mean_std_text(Metric::AucPr), "0.4000 ± 0.2000");
}

#[test]
fn cv_folds_are_stratified_disjoint_and_never_touch_test_rows() {
    let (frame, _) = table(1000);
    let y = labels(&frame);
    let outer = stratified_split(&y, 0.2, 42).unwrap();
    let folds = cv_folds(&y, &outer.train, 4, 0.2, 42).unwrap();
    assert_eq!(folds.len(), 4);
    let positives = outer.train.iter().filter(|&&r| y[r] == 1.0).count();
    let mut held_out = Vec::new();
    for f in &folds {
        let fit: BTreeSet<usize> = f.fit.iter().copied().collect();
        let valid: BTreeSet<usize> = f.valid.iter().copied().collect();
        let test: BTreeSet<usize> = f.test.iter().copied().collect();
        assert!(fit.is_disjoint(&valid) && fit.is_disjoint(&test) && valid.is_disjoint(&test));
        assert_eq!(fit.len() + valid.len() + test.len(), outer.train.len());
        for r in fit.iter().chain(&valid).chain(&test) {
            assert!(
                outer.train.binary_search(r).is_ok(),
                "row {r} is a test row"
            );
        }
        // Stratified: each fold holds out a quarter of the positives (±1).
        let p = f.test.iter().filter(|&&r| y[r] == 1.0).count();
        assert!(
            (p as f64 - positives as f64 / 4.0).abs() <= 1.0,
            "{p} of {positives}"
        );
        assert!(f.valid.iter().any(|&r| y[r] == 1.0));
        held_out.extend_from_slice(&f.test);
        assert_eq!(
            f.test,
            f.test_positions
                .iter()
                .map(|&p| outer.train[p])
                .collect::<Vec<_>>()
        );
    }
    held_out.sort_unstable();
    assert_eq!(
        held_out, outer.train,
        "every training row held out exactly once"
    );
    assert_eq!(cv_folds(&y, &outer.train, 4, 0.2, 42).unwrap(), folds);
    assert_ne!(cv_folds(&y, &outer.train, 4, 0.2, 43).unwrap(), folds);
}

#[test]
fn each_fold_refits_the_pipeline_on_its_own_rows() {
    let (frame, schema) = table(900);
    let y = labels(&frame);
    let mut config = quick(&["logistic"]);
    config.cv = Some(CvConfig {
        folds: 3,
        metric: Metric::AucPr,
    });
    let result = train_binary(&frame, &schema, &config).unwrap();
    let cv = candidate(&result, "logistic").cv.clone().unwrap();
    // The same recipe by hand, from public parts.
    let outer = stratified_split(&y, 0.2, 42).unwrap();
    let folds = cv_folds(&y, &outer.train, 3, 0.2, 42).unwrap();
    let linear = PipelineOptions {
        linear: true,
        ..Default::default()
    };
    let whole = fit_pipeline(&frame, &schema, &outer.train, &linear).unwrap();
    let median = |p: &fathom_model::pipeline::FeaturePipeline| match &p.inputs[0] {
        InputTransform::Numeric { impute, .. } => *impute,
        other => panic!("{other:?}"),
    };
    let score_fold = |pipe: &fathom_model::pipeline::FeaturePipeline,
                      f: &fathom_learn::cv::CvFold| {
        let x = pipe.transform_frame(&frame);
        let w = pipe.width();
        let cols: Vec<Vec<f64>> = (0..w)
            .map(|j| f.fit.iter().map(|&r| x[r * w + j]).collect())
            .collect();
        let fy: Vec<f64> = f.fit.iter().map(|&r| y[r]).collect();
        let m = fit_logistic(&cols, &fy, None, &LogisticParams::default()).unwrap();
        let s = |rows: &[usize]| -> Vec<f64> {
            rows.iter()
                .map(|&r| m.predict(&x[r * w..(r + 1) * w]))
                .collect()
        };
        let vy: Vec<f64> = f.valid.iter().map(|&r| y[r]).collect();
        let t = choose_threshold(&vy, &s(&f.valid), ThresholdRule::MaxF1, None)
            .map_or(0.5, |c| c.threshold);
        let ty: Vec<f64> = f.test.iter().map(|&r| y[r]).collect();
        binary_report(&ty, &s(&f.test), t, None).unwrap()
    };
    let mut differs = false;
    for (k, f) in folds.iter().enumerate() {
        let own = fit_pipeline(&frame, &schema, &f.fit, &linear).unwrap();
        // The folds' imputation medians differ from the training part's, ...
        differs |= median(&own) != median(&whole);
        let by_hand = score_fold(&own, f);
        let got = cv.folds[k];
        // (The model's sigmoid and the fitter's differ in the last bits.)
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-3);
        assert!(close(got.threshold, by_hand.threshold), "fold {k}");
        assert!(close(got.metrics.auc_pr, by_hand.auc_pr), "fold {k}");
        assert!(close(got.metrics.auc_roc, by_hand.auc_roc), "fold {k}");
        assert!(close(got.metrics.logloss, by_hand.logloss), "fold {k}");
        assert!(close(got.metrics.f1, by_hand.f1), "fold {k}");
        // ... and a pipeline fitted on rows that include the held-out fold
        // would have given other figures.
        assert!(
            (score_fold(&whole, f).logloss - by_hand.logloss).abs() > 1e-6,
            "fold {k}"
        );
    }
    assert!(differs);
    assert_eq!(result.cv_folds, Some(3));
    assert_eq!(
        result.ranked_by,
        "mean AUC-PR over 3 cross-validation folds"
    );
    assert!(result.artifact.metrics.contains_key("cv_auc_pr_mean"));
}

#[test]
fn grid_enumerates_every_combination_exactly_once() {
    let mut space = SearchSpace::default();
    space
        .params
        .insert("num_leaves".into(), ParamSpec::values(&[7.0, 15.0, 31.0]));
    space
        .params
        .insert("learning_rate".into(), ParamSpec::values(&[0.05, 0.1]));
    space
        .params
        .insert("lambda_l2".into(), ParamSpec::values(&[0.0, 1.0]));
    let grid = trials("gbdt", &space, SearchMethod::Grid, 0, 1).unwrap();
    assert_eq!(grid.len(), 12);
    let mut seen = BTreeSet::new();
    for t in &grid {
        assert_eq!(t.len(), 3);
        seen.insert(t.values().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
    assert_eq!(seen.len(), 12, "no combination twice");
    for l in [7.0, 15.0, 31.0] {
        for r in [0.05, 0.1] {
            for l2 in [0.0, 1.0] {
                assert!(grid.iter().any(|t| t["num_leaves"] == l
                    && t["learning_rate"] == r
                    && t["lambda_l2"] == l2));
            }
        }
    }
    // Names in order, the last fastest (scikit-learn's ParameterGrid).
    let first: Vec<(&str, f64)> = grid[0].iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        first,
        [
            ("lambda_l2", 0.0),
            ("learning_rate", 0.05),
            ("num_leaves", 7.0)
        ]
    );
    assert_eq!(grid[1]["num_leaves"], 15.0);
    assert_eq!(grid[3]["learning_rate"], 0.1);
}

#[test]
fn random_search_is_seeded_reproducible_and_in_range() {
    let mut space = SearchSpace::default();
    space
        .params
        .insert("learning_rate".into(), ParamSpec::range(0.01, 0.3, true));
    space.params.insert(
        "min_data_in_leaf".into(),
        ParamSpec::range(5.0, 50.0, false),
    );
    space
        .params
        .insert("num_leaves".into(), ParamSpec::values(&[7.0, 31.0]));
    let a = trials("gbdt", &space, SearchMethod::Random, 200, 9).unwrap();
    assert_eq!(a.len(), 200);
    assert_eq!(
        a,
        trials("gbdt", &space, SearchMethod::Random, 200, 9).unwrap()
    );
    assert_ne!(
        a,
        trials("gbdt", &space, SearchMethod::Random, 200, 10).unwrap()
    );
    let mut below_geometric_mid = 0;
    for t in &a {
        let lr = t["learning_rate"];
        assert!((0.01..=0.3).contains(&lr));
        // Log-uniform: half the draws below the geometric mean.
        if lr < (0.01f64 * 0.3).sqrt() {
            below_geometric_mid += 1;
        }
        let m = t["min_data_in_leaf"];
        assert!((5.0..=50.0).contains(&m) && m.fract() == 0.0);
        assert!(t["num_leaves"] == 7.0 || t["num_leaves"] == 31.0);
    }
    assert!(
        (70..=130).contains(&below_geometric_mid),
        "{below_geometric_mid}"
    );
    // Lists only: grid points without replacement.
    let mut lists = SearchSpace::default();
    lists
        .params
        .insert("c".into(), ParamSpec::values(&[0.1, 1.0, 10.0]));
    let t = trials("logistic", &lists, SearchMethod::Random, 2, 3).unwrap();
    assert_eq!(t.len(), 2);
    assert_ne!(t[0]["c"], t[1]["c"]);
    assert_eq!(
        trials("logistic", &lists, SearchMethod::Random, 10, 3)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn search_space_mistakes_are_named() {
    let one = |name: &str, spec: ParamSpec| SearchSpace {
        params: [(name.to_string(), spec)].into_iter().collect(),
    };
    let e = trials(
        "gbdt",
        &one("leaves", ParamSpec::values(&[3.0])),
        SearchMethod::Grid,
        1,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("'gbdt' has no parameter 'leaves' to search; its parameters are: bagging_fraction, bagging_freq,"), "{e}");
    assert!(e.contains("num_leaves"), "{e}");
    let e = trials("gbdt", &SearchSpace::default(), SearchMethod::Grid, 1, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the search space of 'gbdt' is empty"), "{e}");
    let e = trials(
        "gbdt",
        &one("learning_rate", ParamSpec::range(0.01, 0.1, true)),
        SearchMethod::Grid,
        1,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("grid search needs values = [...]"), "{e}");
    let e = trials(
        "logistic",
        &one("c", ParamSpec::range(0.0, 10.0, true)),
        SearchMethod::Random,
        1,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("log = true needs low > 0"), "{e}");
    let e = trials(
        "gbdt",
        &one("num_leaves", ParamSpec::values(&[7.5])),
        SearchMethod::Grid,
        1,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a whole number"), "{e}");
    // Through the trainer: a space for a candidate not trained, and an
    // out-of-range trial, are refused before any training.
    let (frame, schema) = table(300);
    let mut config = quick(&["logistic"]);
    let mut search = SearchConfig::default();
    search
        .space
        .insert("gbdt".into(), one("num_leaves", ParamSpec::values(&[7.0])));
    config.search = Some(search.clone());
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a search space is declared for 'gbdt', but it is not among the candidates to train (logistic)"), "{e}");
    config.candidates = vec!["gbdt".into()];
    search.space.insert(
        "gbdt".into(),
        one("feature_fraction", ParamSpec::values(&[1.5])),
    );
    config.search = Some(search);
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("feature_fraction = 1.5: must be in (0, 1]"),
        "{e}"
    );
    config.search = Some(SearchConfig::default());
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("the search declares no space"), "{e}");
}

#[test]
fn too_few_rows_of_a_class_for_the_folds_says_what_to_do() {
    let (frame, schema) = table(60);
    let y = labels(&frame);
    let mut config = quick(&["baseline"]);
    config.cv = Some(CvConfig {
        folds: 30,
        metric: Metric::AucPr,
    });
    let outer = stratified_split(&y, 0.2, 42).unwrap();
    let pos = outer.train.iter().filter(|&&r| y[r] == 1.0).count();
    let neg = outer.train.len() - pos;
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "cross-validation with 30 folds needs at least 30 rows of each class in the training part (the test rows are set aside first), but it has {neg} row(s) labelled 0 and {pos} labelled 1; set [train.cv] folds to at most {} or gather more rows of the rare class",
            pos.min(neg)
        )
    );
}

/// Values from scikit-learn 1.x, computed once:
/// `sklearn.metrics.mutual_info_score(y, codes)` on the literal arrays below.
#[test]
fn mutual_information_equals_scikit_learn() {
    let codes = [
        0, 1, 2, 0, 1, 2, 3, 0, 0, 1, 2, 2, 3, 3, 0, 1, 1, 2, 0, 3, 2, 1, 0, 0, 4, 4, 1, 2, 3, 0,
    ];
    let y = [
        0., 0., 1., 0., 1., 1., 0., 0., 0., 0., 1., 1., 0., 1., 0., 0., 1., 1., 0., 0., 1., 0., 0.,
        0., 1., 0., 0., 1., 0., 0.,
    ];
    assert!((mutual_information(&codes, &y) - 0.38795130820041934).abs() < 1e-9);
}

/// scipy, computed once: `scipy.stats.chi2.sf(x, df)`.
#[test]
fn chi_square_tail_equals_scipy() {
    for (x, df, p) in [
        (18.8, 9.0, 0.026948185023042272),
        (0.5, 1.0, 0.47950012218695337),
        (3.0, 2.0, 0.22313016014842982),
        (40.0, 9.0, 7.598525229464264e-06),
        (120.0, 30.0, 1.0202758541470007e-12),
        (2.0, 7.0, 0.9598403687301016),
        (1e-3, 4.0, 0.9999998750416589),
        (250.0, 3.0, 6.543750030967994e-54),
    ] {
        let got = chi2_sf(x, df);
        assert!(
            (got - p).abs() <= 1e-10 * p,
            "chi2.sf({x}, {df}) = {p}, got {got}"
        );
    }
}

/// numpy, computed once: `edges = np.unique(np.quantile(x[~np.isnan(x)],
/// np.arange(1, bins) / bins))`, `codes = np.searchsorted(edges, x,
/// side="left")` with NaN as `len(edges) + 1`, then scikit-learn's
/// `mutual_info_score(y, codes)`.
#[test]
fn quantile_bins_match_numpy_and_their_information_scikit_learn() {
    let nan = f64::NAN;
    let x = [
        3.5, 1.0, nan, 7.25, 2.0, 2.0, 9.0, 0.5, 4.0, nan, 6.0, 2.0, 5.5, 8.0, 1.5, 3.0, 2.0, 10.0,
        0.0, 4.5,
    ];
    let y = [
        0., 0., 1., 1., 0., 0., 1., 0., 0., 1., 1., 0., 0., 1., 0., 0., 0., 1., 0., 1.,
    ];
    let cases: [(usize, &[f64], &[usize], f64); 2] = [
        (
            4,
            &[2.0, 3.25, 5.875],
            &[2, 0, 4, 3, 0, 0, 3, 0, 2, 4, 3, 0, 2, 3, 0, 1, 0, 3, 0, 2],
            0.5605446380854946,
        ),
        (
            10,
            &[
                0.8500000000000001,
                1.7000000000000002,
                2.0,
                3.25,
                4.1,
                5.399999999999999,
                6.750000000000002,
                8.3,
            ],
            &[4, 1, 9, 7, 2, 2, 8, 0, 4, 9, 6, 2, 6, 7, 1, 3, 2, 8, 0, 5],
            0.6036969489532618,
        ),
    ];
    for (bins, edges, codes, mi) in cases {
        let got = quantile_edges(&x, bins);
        assert_eq!(got.len(), edges.len(), "{bins} bins: {got:?}");
        for (g, e) in got.iter().zip(edges) {
            assert!((g - e).abs() <= 1e-12, "{bins} bins: {got:?}");
        }
        let c: Vec<usize> = x.iter().map(|&v| bin_of(v, &got)).collect();
        assert_eq!(c, codes, "{bins} bins");
        assert!(
            (mutual_information(&c, &y) - mi).abs() < 1e-9,
            "{bins} bins"
        );
    }
}

#[test]
fn voting_is_the_mean_of_its_members_and_scores_the_same_from_the_artifact() {
    let (frame, schema) = table(1200);
    let result = train_binary(&frame, &schema, &quick(&["logistic", "gbdt", "voting"])).unwrap();
    let (a, b) = (candidate(&result, "logistic"), candidate(&result, "gbdt"));
    let v = candidate(&result, "voting");
    for i in 0..v.test_scores.len() {
        let mean = (a.test_scores[i] + b.test_scores[i]) / 2.0;
        assert_eq!(v.test_scores[i].to_bits(), mean.to_bits(), "row {i}");
    }
    let summary = v.ensemble.as_ref().unwrap();
    assert_eq!(summary.members, ["logistic", "gbdt"]);
    assert_eq!(
        summary.method,
        EnsembleMethod::SoftVoting {
            weights: vec![1.0, 1.0]
        }
    );
    assert!(v.importance.is_empty() && v.cv.is_none());

    // Voting alone, over members that are not candidates themselves: the
    // artifact is the ensemble.
    let mut config = quick(&["voting"]);
    config.ensemble = EnsembleConfig {
        members: vec!["random_forest".into(), "logistic".into()],
        weights: vec![3.0, 1.0],
        ..Default::default()
    };
    let result = train_binary(&frame, &schema, &config).unwrap();
    assert_eq!(result.best, "voting");
    assert_eq!(result.candidates.len(), 1);
    let art = &result.artifact;
    let Estimator::Ensemble { members, method } = &art.estimator else {
        panic!("{:?}", art.estimator)
    };
    assert_eq!(members.len(), 2);
    assert_eq!(art.pipeline, members[0].pipeline);
    assert!(matches!(members[0].estimator, Estimator::Trees { .. }));
    assert!(matches!(members[1].estimator, Estimator::Linear { .. }));
    assert_eq!(
        *method,
        EnsembleMethod::SoftVoting {
            weights: vec![3.0, 1.0]
        }
    );
    let bytes = art.to_bytes().unwrap();
    let back = ModelArtifact::from_bytes(&bytes, "m.fathom").unwrap();
    assert_eq!(&back, art);
    assert_eq!(back.to_bytes().unwrap(), bytes);
    let (fresh, _) = table(400);
    let scores = score_both_ways(&back, &fresh);
    // The weighted mean of the members, each scored alone.
    for r in [0, 17, 399] {
        let member = |k: usize| {
            let m = &members[k];
            let x = m.pipeline.transform_frame(&fresh);
            let w = m.pipeline.width();
            m.estimator.predict(&x[r * w..(r + 1) * w])
        };
        let expected = (3.0 * member(0) + member(1)) / 4.0;
        assert!((scores[r] - expected).abs() < 1e-15, "row {r}");
    }
    // A frame lacking a member's input is refused with the column named.
    let lacking = Frame::new(vec![
        fresh.column("amount").unwrap().clone(),
        fresh.column("noise").unwrap().clone(),
    ])
    .unwrap();
    let e = Predictor::new(back)
        .unwrap()
        .score_frame(&lacking)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("column 'merchant' is missing (expected categorical)"),
        "{e}"
    );
}

#[test]
fn stacking_fits_its_meta_model_on_out_of_fold_predictions() {
    let (frame, schema) = table(900);
    let y = labels(&frame);
    let mut config = quick(&["stacking"]);
    config.cv = Some(CvConfig {
        folds: 3,
        metric: Metric::AucPr,
    });
    config.ensemble.members = vec!["baseline".into(), "logistic".into()];
    let result = train_binary(&frame, &schema, &config).unwrap();
    assert_eq!(result.best, "stacking");
    let Estimator::Ensemble {
        method: EnsembleMethod::Stacking { coef, intercept },
        members,
    } = &result.artifact.estimator
    else {
        panic!("{:?}", result.artifact.estimator)
    };
    assert_eq!(members.len(), 2);
    // Out-of-fold member predictions, by hand.
    let outer = stratified_split(&y, 0.2, 42).unwrap();
    let folds = cv_folds(&y, &outer.train, 3, 0.2, 42).unwrap();
    let linear = PipelineOptions {
        linear: true,
        ..Default::default()
    };
    let n = outer.train.len();
    let (mut oof_base, mut oof_lin) = (vec![f64::NAN; n], vec![f64::NAN; n]);
    for f in &folds {
        let rate = f.fit.iter().map(|&r| y[r]).sum::<f64>() / f.fit.len() as f64;
        let pipe = fit_pipeline(&frame, &schema, &f.fit, &linear).unwrap();
        let x = pipe.transform_frame(&frame);
        let w = pipe.width();
        let cols: Vec<Vec<f64>> = (0..w)
            .map(|j| f.fit.iter().map(|&r| x[r * w + j]).collect())
            .collect();
        let fy: Vec<f64> = f.fit.iter().map(|&r| y[r]).collect();
        let m = fit_logistic(&cols, &fy, None, &LogisticParams::default()).unwrap();
        for (&p, &r) in f.test_positions.iter().zip(&f.test) {
            oof_base[p] = rate;
            oof_lin[p] = m.predict(&x[r * w..(r + 1) * w]);
        }
    }
    assert!(oof_lin.iter().all(|v| v.is_finite()));
    let train_y: Vec<f64> = outer.train.iter().map(|&r| y[r]).collect();
    let meta = fit_logistic(
        &[oof_base.clone(), oof_lin],
        &train_y,
        None,
        &LogisticParams::default(),
    )
    .unwrap();
    // (The model's sigmoid and the fitter's differ in the last bits.)
    for (c, m) in coef.iter().zip(&meta.coef) {
        assert!((c - m).abs() < 1e-9, "{coef:?} vs {:?}", meta.coef);
    }
    assert!((intercept - meta.intercept).abs() < 1e-9);
    // In-sample predictions of the final members would give another model.
    let final_lin = &members[1];
    let x = final_lin.pipeline.transform_frame(&frame);
    let w = final_lin.pipeline.width();
    let in_sample: Vec<f64> = outer
        .train
        .iter()
        .map(|&r| final_lin.estimator.predict(&x[r * w..(r + 1) * w]))
        .collect();
    let leaky = fit_logistic(
        &[oof_base, in_sample],
        &train_y,
        None,
        &LogisticParams::default(),
    )
    .unwrap();
    assert!((leaky.coef[1] - meta.coef[1]).abs() > 0.1, "{leaky:?}");
    // Stacking is cross-validated too and scores the same from the artifact.
    let s = candidate(&result, "stacking");
    assert_eq!(s.cv.as_ref().unwrap().folds.len(), 3);
    let back = ModelArtifact::from_bytes(&result.artifact.to_bytes().unwrap(), "m").unwrap();
    score_both_ways(&back, &table(300).0);
}

fn full_run(threads: usize) -> TrainResult {
    let (frame, schema) = table(1000);
    let mut config = quick(&["logistic", "gbdt", "voting", "stacking"]);
    config.cv = Some(CvConfig {
        folds: 3,
        metric: Metric::AucPr,
    });
    let mut search = SearchConfig {
        method: SearchMethod::Random,
        n_iter: 3,
        ..SearchConfig::default()
    };
    search.space.insert(
        "gbdt".into(),
        SearchSpace {
            params: [
                (
                    "num_leaves".to_string(),
                    ParamSpec::values(&[4.0, 8.0, 16.0]),
                ),
                (
                    "learning_rate".to_string(),
                    ParamSpec::range(0.05, 0.3, true),
                ),
            ]
            .into_iter()
            .collect(),
        },
    );
    search.space.insert(
        "logistic".into(),
        SearchSpace {
            params: [("c".to_string(), ParamSpec::values(&[0.01, 1.0]))]
                .into_iter()
                .collect(),
        },
    );
    config.search = Some(search);
    // Drop what carries no significant information about the label.
    config.feature_selection = Some(SelectionConfig {
        rule: SelectionRule::MutualInfo,
        max_p_value: 0.001,
        apply: true,
        ..SelectionConfig::default()
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| train_binary(&frame, &schema, &config).unwrap())
}

#[test]
fn search_cv_selection_and_ensembles_are_identical_with_one_or_two_threads() {
    let a = full_run(1);
    let b = full_run(2);
    assert_eq!(
        a.artifact.to_bytes().unwrap(),
        b.artifact.to_bytes().unwrap()
    );
    for (x, y) in a.candidates.iter().zip(&b.candidates) {
        assert_eq!(x.cv, y.cv);
        assert_eq!(x.search, y.search);
        assert_eq!(x.report, y.report);
    }
    // The search: every trial reported, the best is the best mean, and the
    // candidate reports the best trial's cross-validation.
    let g = candidate(&a, "gbdt");
    let s = g.search.as_ref().unwrap();
    assert_eq!(s.trials.len(), 3);
    let best = s.best_trial().cv.mean.auc_pr;
    assert!(s.trials.iter().all(|t| t.cv.mean.auc_pr <= best));
    assert_eq!(g.cv.as_ref(), Some(&s.best_trial().cv));
    assert_eq!(
        candidate(&a, "logistic")
            .search
            .as_ref()
            .unwrap()
            .trials
            .len(),
        2
    );
    // Every candidate, ensembles included, has cross-validation figures and
    // the winner has the best mean.
    let means: Vec<f64> = a
        .candidates
        .iter()
        .map(|c| c.cv.as_ref().unwrap().mean.auc_pr)
        .collect();
    let winner = candidate(&a, &a.best).cv.as_ref().unwrap().mean.auc_pr;
    assert!(means.iter().all(|&m| m <= winner), "{means:?}");
    // The noise column is weak by both methods and dropped.
    let sel = a.selection.as_ref().unwrap();
    assert_eq!(sel.dropped, ["noise"], "{sel:#?}");
    assert!(
        sel.features
            .iter()
            .all(|f| f.weak_by_mutual_info == (f.feature == "noise"))
    );
    assert!(
        a.artifact
            .pipeline
            .inputs
            .iter()
            .all(|t| t.column() != "noise")
    );
    score_both_ways(&a.artifact, &table(200).0);
}

#[test]
fn feature_selection_reports_both_methods_and_applies_only_when_asked() {
    let (frame, schema) = table(1500);
    let mut config = quick(&["logistic", "gbdt"]);
    config.feature_selection = Some(SelectionConfig {
        rule: SelectionRule::MutualInfo,
        ..SelectionConfig::default()
    });
    let r = train_binary(&frame, &schema, &config).unwrap();
    let sel = r.selection.as_ref().unwrap();
    let names: Vec<&str> = sel.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["amount", "merchant", "noise"]);
    let by = |n: &str| sel.features.iter().find(|f| f.feature == n).unwrap();
    assert!(by("amount").mutual_info > by("noise").mutual_info);
    assert!(by("merchant").mutual_info > by("noise").mutual_info);
    assert!(by("amount").importance_share > by("noise").importance_share);
    let shares: f64 = sel.features.iter().map(|f| f.importance_share).sum();
    assert!((shares - 1.0).abs() < 1e-12);
    assert!(
        sel.features
            .iter()
            .all(|f| f.mutual_info <= sel.label_entropy)
    );
    // Only the noise's information is not significant.
    assert!(by("noise").p_value > 0.01 && by("amount").p_value < 1e-6);
    assert!(
        sel.features
            .iter()
            .all(|f| f.weak_by_mutual_info == (f.feature == "noise"))
    );
    assert_eq!(sel.weak_columns, ["noise"]);
    assert!(sel.dropped.is_empty(), "only reported");
    assert_eq!(r.artifact.pipeline.inputs.len(), 3);
    // A rule that calls everything weak drops nothing, and says so.
    config.feature_selection = Some(SelectionConfig {
        min_mutual_info: 10.0,
        min_importance_share: 1.0,
        rule: SelectionRule::Either,
        apply: true,
        ..SelectionConfig::default()
    });
    let r = train_binary(&frame, &schema, &config).unwrap();
    let sel = r.selection.unwrap();
    assert!(sel.dropped.is_empty());
    assert!(sel.note.unwrap().contains("every input column is weak"));
    config.feature_selection = Some(SelectionConfig {
        bins: 1,
        ..SelectionConfig::default()
    });
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("feature_selection.bins = 1: must be >= 2"),
        "{e}"
    );
}

#[test]
fn ensemble_mistakes_are_named() {
    let (frame, schema) = table(300);
    let e = train_binary(&frame, &schema, &quick(&["baseline", "gbdt", "voting"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("ensemble: an ensemble needs at least two members, but it has 1 (gbdt)"),
        "{e}"
    );
    let mut config = quick(&["logistic", "gbdt", "voting"]);
    config.ensemble.weights = vec![1.0];
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 weight(s) for 2 members (logistic, gbdt)"),
        "{e}"
    );
    config.ensemble.weights = Vec::new();
    config.ensemble.members = vec!["gbdt".into(), "stacking".into()];
    let e = train_binary(&frame, &schema, &config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("member 'stacking' is not a base candidate"),
        "{e}"
    );
    let e = train_binary(&frame, &schema, &quick(&["gbdt", "gbdt"]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "candidate 'gbdt' is listed twice; list each candidate once"
    );
    // A malformed ensemble artifact is refused when loaded for scoring.
    let mut art = train_binary(&frame, &schema, &quick(&["voting", "logistic", "gbdt"]))
        .unwrap()
        .artifact;
    let member = fathom_model::artifact::Member {
        name: "x".into(),
        pipeline: art.pipeline.clone(),
        estimator: art.estimator.clone(),
    };
    art.estimator = Estimator::Ensemble {
        members: vec![member],
        method: EnsembleMethod::SoftVoting {
            weights: vec![1.0, 1.0],
        },
    };
    let e = Predictor::new(art).unwrap_err().to_string();
    assert!(
        e.contains("the ensemble has 1 member(s) but its combiner expects 2"),
        "{e}"
    );
}

#[test]
fn train_config_reads_from_toml_form() {
    let json = serde_json::json!({
        "candidates": ["gbdt", "stacking"],
        "cv": {"folds": 4, "metric": "logloss"},
        "search": {"method": "grid", "space": {"gbdt": {
            "num_leaves": {"values": [15, 31]},
            "learning_rate": {"values": [0.05, 0.1]}
        }}},
        "feature_selection": {"apply": true, "rule": "either"},
        "ensemble": {"members": ["logistic", "gbdt"]}
    });
    let c: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(c.cv.as_ref().unwrap().folds, 4);
    assert_eq!(c.cv.as_ref().unwrap().metric, Metric::Logloss);
    let s = c.search.as_ref().unwrap();
    assert_eq!(s.method, SearchMethod::Grid);
    assert_eq!(
        s.space["gbdt"].params["num_leaves"],
        ParamSpec::values(&[15.0, 31.0])
    );
    assert_eq!(c.gbdt.num_rounds, 300, "unset keys keep their defaults");
    let bad: Result<TrainConfig, _> =
        serde_json::from_value(serde_json::json!({"cv": {"fold": 3}}));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unknown field `fold`")
    );
    let _ = BTreeMap::<String, f64>::new();
}

#[test]
fn progress_reports_every_step_of_each_stage() {
    use fathom_learn::progress::Progress;
    use std::sync::Mutex;
    #[derive(Default)]
    struct Count {
        stages: Mutex<Vec<(String, u64, u64)>>,
        items: Mutex<Vec<String>>,
    }
    impl Progress for Count {
        fn stage(&self, name: &str, total: u64) {
            self.stages.lock().unwrap().push((name.into(), total, 0));
        }
        fn item(&self, label: &str) {
            self.items.lock().unwrap().push(label.into());
        }
        fn inc(&self, n: u64) {
            self.stages.lock().unwrap().last_mut().unwrap().2 += n;
        }
    }
    let (frame, schema) = table(400);
    let mut config = quick(&["baseline", "logistic", "voting"]);
    config.cv = Some(CvConfig {
        folds: 3,
        metric: Metric::AucRoc,
    });
    config.feature_selection = Some(SelectionConfig::default());
    config.ensemble.members = vec!["baseline".into(), "logistic".into()];
    let count = Count::default();
    let r = fathom_learn::trainer::train_binary_with_progress(&frame, &schema, &config, &count)
        .unwrap();
    assert_eq!(
        *count.stages.lock().unwrap(),
        [
            ("feature selection".to_string(), 1, 1),
            ("cross-validation".to_string(), 6, 6),
            ("training".to_string(), 3, 3),
        ]
    );
    let items = count.items.lock().unwrap();
    assert_eq!(items[0], "fold 1/3 · baseline");
    assert_eq!(items.last().unwrap(), "voting");
    assert_eq!(r.ranked_by, "mean AUC-ROC over 3 cross-validation folds");
}
