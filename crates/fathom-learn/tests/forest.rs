//! Random forest mode of the tree learner.

use fathom_learn::gbdt::{Dataset, FeatureValues, GbdtParams, train};
use fathom_learn::metrics::roc_auc;

fn data(n: usize, seed: u64) -> Dataset {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let cols: Vec<Vec<f64>> = (0..6).map(|_| (0..n).map(|_| next()).collect()).collect();
    let label = (0..n)
        .map(|i| {
            let z = if cols[0][i] > 0.5 {
                2.0 * cols[1][i]
            } else {
                -2.0 * cols[2][i]
            } + (6.0 * cols[3][i]).sin();
            f64::from(next() < 1.0 / (1.0 + (-(3.0 * z)).exp()))
        })
        .collect();
    Dataset {
        features: cols
            .into_iter()
            .enumerate()
            .map(|(j, c)| (format!("x{j}"), FeatureValues::Numeric(c)))
            .collect(),
        label,
        weight: None,
    }
}

fn forest(rounds: usize) -> GbdtParams {
    GbdtParams {
        objective: "binary".into(),
        boosting: "rf".into(),
        num_rounds: rounds,
        bagging_fraction: 0.632,
        bagging_freq: 1,
        feature_fraction: 0.7,
        num_leaves: 31,
        ..GbdtParams::default()
    }
}

fn auc(params: &GbdtParams, train_set: &Dataset, test: &Dataset) -> f64 {
    let model = train(params, train_set, None).unwrap().ensemble;
    let scores: Vec<f64> = (0..test.num_rows())
        .map(|i| model.predict(&test.row(i)))
        .collect();
    roc_auc(&test.label, &scores, None).unwrap()
}

#[test]
fn a_forest_beats_one_of_its_trees_and_is_thread_independent() {
    let (tr, te) = (data(6000, 1), data(3000, 2));
    let one = auc(&forest(1), &tr, &te);
    let many = auc(&forest(60), &tr, &te);
    assert!(many > one + 0.01, "forest {many} vs single tree {one}");
    assert!(many > 0.8, "forest AUC {many}");
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let a = serial.install(|| train(&forest(20), &tr, None).unwrap().ensemble);
    let b = train(&forest(20), &tr, None).unwrap().ensemble;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    // The forest's score is the base plus the mean of its trees: a single
    // tree's probabilities stay within (0, 1) around the base rate.
    let p = a.predict(&tr.row(0));
    assert!(p > 0.0 && p < 1.0);
}

#[test]
fn a_forest_without_sampling_is_refused() {
    let p = GbdtParams {
        boosting: "rf".into(),
        objective: "binary".into(),
        ..GbdtParams::default()
    };
    let e = train(&p, &data(100, 3), None).unwrap_err().to_string();
    assert!(e.contains("boosting = \"rf\" needs bagging"), "{e}");
    let p = GbdtParams {
        boosting: "dart".into(),
        ..GbdtParams::default()
    };
    assert!(
        train(&p, &data(100, 3), None)
            .unwrap_err()
            .to_string()
            .contains("use \"gbdt\" or \"rf\"")
    );
}
