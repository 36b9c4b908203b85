//! TreeSHAP against brute-force Shapley values on trained trees.

use fathom_learn::gbdt::{Dataset, FeatureValues, GbdtParams, train};
use fathom_model::shap::{expected_value, explain};
use fathom_model::tree::Tree;

/// E[tree(x) | features in `known` fixed to x], with unknown splits
/// averaged by cover: the value function TreeSHAP explains.
fn conditional(tree: &Tree, node: i32, row: &[f64], known: u32) -> f64 {
    if node < 0 {
        return tree.leaf_value[!node as usize];
    }
    let n = node as usize;
    let f = tree.split_feature[n] as usize;
    let (l, r) = (tree.left_child[n], tree.right_child[n]);
    if known >> f & 1 == 1 {
        return conditional(
            tree,
            if tree.goes_left(n, row[f]) { l } else { r },
            row,
            known,
        );
    }
    let cover = |c: i32| {
        if c < 0 {
            tree.leaf_count[!c as usize] as f64
        } else {
            tree.internal_count[c as usize] as f64
        }
    };
    let (cl, cr) = (cover(l), cover(r));
    (cl * conditional(tree, l, row, known) + cr * conditional(tree, r, row, known)) / (cl + cr)
}

fn brute_force(trees: &[Tree], row: &[f64], m: usize) -> Vec<f64> {
    let fact = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
    let v = |s: u32| {
        trees
            .iter()
            .map(|t| {
                if t.num_nodes() == 0 {
                    t.leaf_value[0]
                } else {
                    conditional(t, 0, row, s)
                }
            })
            .sum::<f64>()
    };
    (0..m)
        .map(|i| {
            (0u32..1 << m)
                .filter(|s| s >> i & 1 == 0)
                .map(|s| {
                    let k = s.count_ones() as usize;
                    fact(k) * fact(m - k - 1) / fact(m) * (v(s | 1 << i) - v(s))
                })
                .sum()
        })
        .collect()
}

fn data(n: usize) -> Dataset {
    let mut state = 7u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let cols: Vec<Vec<f64>> = (0..4).map(|_| (0..n).map(|_| next()).collect()).collect();
    let cat: Vec<u32> = (0..n).map(|_| (next() * 5.0) as u32).collect();
    let label = (0..n)
        .map(|i| {
            let z = 3.0 * cols[0][i] * cols[1][i] - 2.0 * cols[2][i]
                + if cat[i] == 2 { 1.5 } else { 0.0 };
            f64::from(next() < 1.0 / (1.0 + (-(z - 0.5) * 2.0).exp()))
        })
        .collect();
    let mut features: Vec<(String, FeatureValues)> = cols
        .into_iter()
        .enumerate()
        .map(|(j, c)| (format!("x{j}"), FeatureValues::Numeric(c)))
        .collect();
    // A few missing values exercise the default directions.
    if let FeatureValues::Numeric(c) = &mut features[3].1 {
        for v in c.iter_mut().step_by(9) {
            *v = f64::NAN;
        }
    }
    features.push((
        "c".into(),
        FeatureValues::Categorical {
            codes: cat,
            levels: 5,
        },
    ));
    Dataset {
        features,
        label,
        weight: None,
    }
}

#[test]
fn tree_shap_equals_brute_force_and_adds_up_to_the_margin() {
    let ds = data(3000);
    let params = GbdtParams {
        num_rounds: 12,
        num_leaves: 8,
        min_data_in_leaf: 20,
        ..GbdtParams::default()
    };
    let model = train(&params, &ds, None).unwrap().ensemble;
    assert!(model.trees.iter().any(|t| t.num_nodes() > 3));
    for i in (0..3000).step_by(250) {
        let row = ds.row(i);
        let e = explain(&model, &row);
        let margin = model.predict_raw(&row);
        let total = e.bias + e.contributions.iter().sum::<f64>();
        assert!(
            (total - margin).abs() <= 1e-9 * margin.abs().max(1.0),
            "row {i}: {total} vs {margin}"
        );
        let exact = brute_force(&model.trees, &row, 5);
        for (j, (a, b)) in e.contributions.iter().zip(&exact).enumerate() {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "row {i} feature {j}: {a} vs {b}"
            );
        }
    }
    let bias = model.base_score + model.trees.iter().map(expected_value).sum::<f64>();
    assert_eq!(explain(&model, &ds.row(0)).bias, bias);
}

#[test]
fn compiled_scorer_equals_the_ensemble() {
    use fathom_model::scorer::Scorer;
    let ds = data(4000);
    let params = GbdtParams {
        num_rounds: 30,
        num_leaves: 15,
        ..GbdtParams::default()
    };
    let model = train(&params, &ds, None).unwrap().ensemble;
    let scorer = Scorer::compile(&model).unwrap();
    let mut rows: Vec<Vec<f64>> = (0..4000).map(|i| ds.row(i)).collect();
    // Unseen category, infinities and a short row are scored like the ensemble does.
    rows.push(vec![0.5, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 99.0]);
    rows.push(vec![0.2]);
    for row in &rows {
        assert_eq!(
            scorer.predict_raw(row).to_bits(),
            model.predict_raw(row).to_bits()
        );
    }
    let flat: Vec<f64> = rows[..4000].iter().flatten().copied().collect();
    let mut out = vec![0.0; 4000];
    scorer.predict_batch(&flat, &mut out);
    for (o, row) in out.iter().zip(&rows) {
        assert_eq!(o.to_bits(), model.predict(row).to_bits());
    }
}
