//! TreeSHAP: exact Shapley values of a tree ensemble's raw score, by the
//! path-dependent algorithm of Lundberg, Erion & Lee (2018), with node
//! covers taken from the training row counts stored in each tree.
//!
//! For every row, `bias + Σ contributions` equals the raw score, where
//! `bias` is the base score plus each tree's cover-weighted mean leaf value.

use crate::tree::{Ensemble, Tree};

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i64,
    zero_fraction: f64,
    one_fraction: f64,
    weight: f64,
}

/// Per-row explanation of a raw score.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The expected raw score over the training data (the same for every row).
    pub bias: f64,
    /// One contribution per feature; `bias + sum` is the row's raw score.
    pub contributions: Vec<f64>,
}

fn cover(tree: &Tree, child: i32) -> f64 {
    if child < 0 {
        tree.leaf_count[!child as usize] as f64
    } else {
        tree.internal_count[child as usize] as f64
    }
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].weight = path[i].weight * (depth + 1) as f64 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            total += path[i].weight / zero / ((depth - i) as f64 / (depth + 1) as f64);
        }
    }
    total
}

#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    node: i32,
    row: &[f64],
    phi: &mut [f64],
    parent: &[PathElement],
    mut depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let mut path = parent.to_vec();
    path.resize(depth + 1, PathElement::default());
    extend(&mut path, depth, zero, one, feature);
    if node < 0 {
        let value = tree.leaf_value[!node as usize];
        for i in 1..=depth {
            let w = unwound_sum(&path, depth, i);
            let el = path[i];
            if let Some(p) = phi.get_mut(el.feature as usize) {
                *p += w * (el.one_fraction - el.zero_fraction) * value;
            }
        }
        return;
    }
    let n = node as usize;
    let split = tree.split_feature[n] as i64;
    let value = row.get(split as usize).copied().unwrap_or(f64::NAN);
    let (left, right) = (tree.left_child[n], tree.right_child[n]);
    let (hot, cold) = if tree.goes_left(n, value) {
        (left, right)
    } else {
        (right, left)
    };
    let total = cover(tree, node);
    let share = |c: i32| {
        if total > 0.0 {
            cover(tree, c) / total
        } else {
            0.5
        }
    };
    let (mut in_zero, mut in_one) = (1.0, 1.0);
    if let Some(k) = (1..=depth).find(|&k| path[k].feature == split) {
        in_zero = path[k].zero_fraction;
        in_one = path[k].one_fraction;
        unwind(&mut path, depth, k);
        depth -= 1;
    }
    recurse(
        tree,
        hot,
        row,
        phi,
        &path[..=depth],
        depth + 1,
        share(hot) * in_zero,
        in_one,
        split,
    );
    recurse(
        tree,
        cold,
        row,
        phi,
        &path[..=depth],
        depth + 1,
        share(cold) * in_zero,
        0.0,
        split,
    );
}

/// The cover-weighted mean leaf value of a tree: its expected output.
pub fn expected_value(tree: &Tree) -> f64 {
    let total: f64 = tree.leaf_count.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return tree.leaf_value.iter().sum::<f64>() / tree.leaf_value.len().max(1) as f64;
    }
    tree.leaf_value
        .iter()
        .zip(&tree.leaf_count)
        .map(|(v, &c)| v * c as f64)
        .sum::<f64>()
        / total
}

/// Adds one tree's SHAP values for `row` into `phi`.
pub fn tree_shap(tree: &Tree, row: &[f64], phi: &mut [f64]) {
    if tree.num_nodes() == 0 {
        return;
    }
    recurse(tree, 0, row, phi, &[], 0, 1.0, 1.0, -1);
}

/// Explains one row's raw score.
pub fn explain(ensemble: &Ensemble, row: &[f64]) -> Explanation {
    let mut contributions = vec![0.0; ensemble.num_features.max(row.len())];
    let mut bias = ensemble.base_score;
    for tree in &ensemble.trees {
        bias += expected_value(tree);
        tree_shap(tree, row, &mut contributions);
    }
    if ensemble.num_features > 0 {
        contributions.truncate(ensemble.num_features);
    }
    Explanation {
        bias,
        contributions,
    }
}

/// Mean absolute contribution per feature over `rows`: global importance.
pub fn mean_abs_contributions(ensemble: &Ensemble, rows: &[Vec<f64>]) -> Vec<f64> {
    let mut total = vec![0.0; ensemble.num_features];
    for row in rows {
        for (t, c) in total.iter_mut().zip(explain(ensemble, row).contributions) {
            *t += c.abs();
        }
    }
    let n = rows.len().max(1) as f64;
    total.iter_mut().for_each(|t| *t /= n);
    total
}
