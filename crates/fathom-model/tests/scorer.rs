//! The compiled scorer against the ensemble it was compiled from: every
//! prediction must have the same bits, for random ensembles with numeric
//! and categorical splits and random rows full of edge cases (missing and
//! infinite values, values exactly on thresholds, ±0, unseen, negative and
//! non-integral category codes, short rows).

use fathom_model::scorer::Scorer;
use fathom_model::tree::{Ensemble, SplitKind, Tree};

/// SplitMix64: a small, seedable generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// Thresholds shared by all trees, so that trees split on the same values
/// and rows can fall exactly on them.
const POOL: [f64; 10] = [-2.5, -1.0, -0.0, 0.0, 0.1, 0.3, 1.0, 2.0, 7.25, 1e300];

/// How the test ensemble treats each feature.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    Numeric,
    Categorical,
    /// Both kinds of split on the same feature.
    Both,
}

fn threshold(r: &mut Rng) -> f64 {
    match r.below(40) {
        0..=23 => r.pick(&POOL),
        24..=35 => (r.unit() - 0.5) * 8.0,
        // Thresholds no finite value passes, or every one does.
        36 => r.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        _ => {
            // Neighbours of pool values: one ulp either side.
            let t: f64 = r.pick(&POOL[4..]);
            if r.chance(0.5) {
                t.next_up()
            } else {
                t.next_down()
            }
        }
    }
}

/// A random tree grown leaf-wise with `splits` internal nodes, numbered as
/// the ensemble stores them (children `>= 0` nodes, `< 0` leaves `!c`).
fn random_tree(r: &mut Rng, uses: &[Use], splits: usize) -> Tree {
    let mut t = Tree::constant(r.unit() - 0.5, 1, 1.0);
    // For each leaf: (parent node, is left child).
    let mut parent: Vec<Option<(usize, bool)>> = vec![None];
    for n in 0..splits {
        let leaf = r.below(t.num_leaves());
        match parent[leaf] {
            Some((p, true)) => t.left_child[p] = n as i32,
            Some((p, false)) => t.right_child[p] = n as i32,
            None => {}
        }
        let new_leaf = t.num_leaves();
        t.left_child.push(!(leaf as i32));
        t.right_child.push(!(new_leaf as i32));
        parent[leaf] = Some((n, true));
        parent.push(Some((n, false)));
        let f = r.below(uses.len());
        let categorical = match uses[f] {
            Use::Numeric => false,
            Use::Categorical => true,
            Use::Both => r.chance(0.5),
        };
        t.split_feature.push(f as u32);
        if categorical {
            let words = 1 + r.below(4);
            t.cat_index.push(t.cat_boundaries.len() as u32 - 1);
            for w in 0..words {
                // Sparse bitsets, sometimes with empty trailing words.
                let word = if w > 0 && r.chance(0.3) {
                    0
                } else {
                    (r.next() & r.next()) as u32
                };
                t.cat_words.push(word);
            }
            t.cat_boundaries.push(t.cat_words.len() as u32);
            t.split_kind.push(SplitKind::Categorical);
            t.threshold.push(0.0);
            t.default_left.push(false);
        } else {
            t.cat_index.push(u32::MAX);
            t.split_kind.push(SplitKind::Numeric);
            t.threshold.push(threshold(r));
            t.default_left.push(r.chance(0.5));
        }
        t.split_gain.push(1.0);
        t.internal_count.push(1);
        t.internal_hess.push(1.0);
        t.internal_value.push(0.0);
        t.leaf_value.push(r.unit() - 0.5);
        t.leaf_count.push(1);
        t.leaf_hess.push(1.0);
    }
    t
}

fn random_ensemble(r: &mut Rng, trees: usize, uses: &[Use]) -> Ensemble {
    Ensemble {
        trees: (0..trees)
            .map(|_| {
                let splits = match r.below(8) {
                    0 => 0,
                    1 => 1 + r.below(3),
                    _ => 5 + r.below(40),
                };
                random_tree(r, uses, splits)
            })
            .collect(),
        base_score: r.unit() * 4.0 - 2.0,
        num_features: uses.len(),
        objective: if r.chance(0.5) {
            "binary"
        } else {
            "regression"
        }
        .into(),
    }
}

fn numeric_value(r: &mut Rng) -> f64 {
    match r.below(12) {
        0..=3 => r.pick(&POOL),
        4 => f64::NAN,
        5 => r.pick(&[f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN]),
        6 => {
            let t: f64 = r.pick(&POOL);
            if r.chance(0.5) {
                t.next_up()
            } else {
                t.next_down()
            }
        }
        _ => (r.unit() - 0.5) * 10.0,
    }
}

fn categorical_value(r: &mut Rng) -> f64 {
    match r.below(12) {
        0..=6 => r.below(130) as f64,
        7 => f64::NAN,
        8 => r.pick(&[-1.0, -0.0, -0.5, 2.5, 1e9, 4294967296.0, 127.999]),
        9 => r.pick(&[f64::INFINITY, f64::NEG_INFINITY]),
        _ => (1000 + r.below(100)) as f64,
    }
}

fn random_row(r: &mut Rng, uses: &[Use]) -> Vec<f64> {
    uses.iter()
        .map(|&u| match u {
            Use::Numeric => numeric_value(r),
            Use::Categorical => categorical_value(r),
            Use::Both => {
                if r.chance(0.5) {
                    numeric_value(r)
                } else {
                    categorical_value(r)
                }
            }
        })
        .collect()
}

fn assert_same(scorer: &Scorer, model: &Ensemble, row: &[f64]) {
    assert_eq!(
        scorer.predict_raw(row).to_bits(),
        model.predict_raw(row).to_bits(),
        "raw score of {row:?}"
    );
    assert_eq!(
        scorer.predict(row).to_bits(),
        model.predict(row).to_bits(),
        "prediction of {row:?}"
    );
}

#[test]
fn random_ensembles_score_bit_identically() {
    let mut r = Rng(2024);
    for case in 0..40 {
        let width = 1 + r.below(12);
        let uses: Vec<Use> = (0..width)
            .map(|_| r.pick(&[Use::Numeric, Use::Numeric, Use::Categorical, Use::Both]))
            .collect();
        let trees = r.pick(&[0, 1, 3, 7, 8, 9, 16, 31, 60]);
        let model = random_ensemble(&mut r, trees, &uses);
        let scorer = Scorer::compile(&model).expect("a well-formed ensemble compiles");
        assert_eq!(scorer.num_trees(), trees);
        assert_eq!(scorer.num_features(), width);
        let rows: Vec<Vec<f64>> = (0..700).map(|_| random_row(&mut r, &uses)).collect();
        for row in &rows {
            assert_same(&scorer, &model, row);
            // Absent trailing features read as missing.
            assert_same(&scorer, &model, &row[..r.below(width + 1)]);
        }
        // A batch scores each row as the single-row path does; a last row
        // that is cut short reads as all missing.
        let mut flat: Vec<f64> = rows.iter().flatten().copied().collect();
        flat.truncate(flat.len() - width / 2);
        let mut out = vec![0.0; rows.len()];
        scorer.predict_batch(&flat, &mut out);
        for (i, (o, row)) in out.iter().zip(&rows).enumerate() {
            let row = if i + 1 == rows.len() && width > 1 {
                &[]
            } else {
                &row[..]
            };
            assert_eq!(
                o.to_bits(),
                model.predict(row).to_bits(),
                "case {case}, batch row {i}"
            );
        }
    }
}

#[test]
fn batch_results_do_not_depend_on_the_thread_count() {
    let mut r = Rng(7);
    let uses = [Use::Numeric, Use::Categorical, Use::Numeric, Use::Both];
    let model = random_ensemble(&mut r, 37, &uses);
    let scorer = Scorer::compile(&model).unwrap();
    let n = 5000;
    let flat: Vec<f64> = (0..n).flat_map(|_| random_row(&mut r, &uses)).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut out = vec![0.0; n];
        pool.install(|| scorer.predict_batch(&flat, &mut out));
        out
    };
    let one = run(1);
    for (i, (a, b)) in one.iter().zip(run(3)).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "row {i}");
        assert_eq!(
            a.to_bits(),
            model.predict(&flat[i * 4..i * 4 + 4]).to_bits()
        );
    }
}

#[test]
fn large_ensembles_score_bit_identically() {
    // Enough nodes that a row's decisions no longer fit the stack buffer.
    let mut r = Rng(11);
    let uses = [Use::Numeric, Use::Both, Use::Categorical, Use::Numeric];
    let model = random_ensemble(&mut r, 1200, &uses);
    let nodes: usize = model.trees.iter().map(|t| t.num_nodes()).sum();
    assert!(nodes > 20_000, "{nodes} nodes");
    let scorer = Scorer::compile(&model).unwrap();
    for _ in 0..300 {
        assert_same(&scorer, &model, &random_row(&mut r, &uses));
    }
}

#[test]
fn huge_categorical_codes_are_scored_without_the_answer_table() {
    // A code of five million makes the answer table too large; single rows
    // are then walked with the node tests.
    let mut t = small_tree();
    t.cat_words = vec![0; 156_251];
    t.cat_boundaries = vec![0, 156_251];
    t.cat_words[1] = 1 << 2; // code 34
    t.cat_words[156_250] = 1 << 0; // code 5,000,000
    let mut r = Rng(5);
    let uses = [Use::Numeric, Use::Categorical, Use::Both];
    let mut model = random_ensemble(&mut r, 20, &uses);
    model.trees.insert(3, t);
    let scorer = Scorer::compile(&model).unwrap();
    let mut rows: Vec<Vec<f64>> = (0..500).map(|_| random_row(&mut r, &uses)).collect();
    for code in [34.0, 5e6, 5e6 - 1.0, 5e6 + 1.0, 5e6 + 0.5, 1e12] {
        rows.push(vec![0.7, code, 1.0]);
    }
    for row in &rows {
        assert_same(&scorer, &model, row);
    }
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let mut out = vec![0.0; rows.len()];
    scorer.predict_batch(&flat, &mut out);
    for (o, row) in out.iter().zip(&rows) {
        assert_eq!(o.to_bits(), model.predict(row).to_bits());
    }
}

/// x0 <= 0.5 (missing left) → leaf 0 (-1); else x1 in {1, 33} → leaf 1
/// (2), else leaf 2 (5).
fn small_tree() -> Tree {
    Tree {
        split_feature: vec![0, 1],
        split_kind: vec![SplitKind::Numeric, SplitKind::Categorical],
        threshold: vec![0.5, 0.0],
        default_left: vec![true, false],
        cat_index: vec![u32::MAX, 0],
        cat_boundaries: vec![0, 2],
        cat_words: vec![1 << 1, 1 << 1],
        left_child: vec![!0, !1],
        right_child: vec![1, !2],
        split_gain: vec![3.0, 1.0],
        internal_count: vec![10, 6],
        internal_hess: vec![10.0, 6.0],
        internal_value: vec![0.0, 0.0],
        leaf_value: vec![-1.0, 2.0, 5.0],
        leaf_count: vec![4, 3, 3],
        leaf_hess: vec![4.0, 3.0, 3.0],
    }
}

#[test]
fn worked_example_by_hand() {
    let model = Ensemble {
        trees: vec![small_tree(), Tree::constant(0.25, 10, 10.0)],
        base_score: 1.0,
        num_features: 2,
        objective: "regression".into(),
    };
    let s = Scorer::compile(&model).unwrap();
    // Raw score = 1.0 + (tree 1) + 0.25.
    for (row, tree1) in [
        (vec![0.5, 1.0], -1.0),
        (vec![f64::NAN, 1.0], -1.0),
        (vec![f64::NEG_INFINITY, 33.0], -1.0),
        (vec![0.5000000000000001, 1.0], 2.0),
        (vec![0.6, 33.0], 2.0),
        (vec![0.6, 2.0], 5.0),
        (vec![0.6, f64::NAN], 5.0),
        (vec![0.6, 64.0], 5.0),
        (vec![0.6, -1.0], 5.0),
        (vec![0.6, 1.5], 5.0),
        (vec![0.6], 5.0),
    ] {
        assert_eq!(s.predict(&row), 1.0 + tree1 + 0.25, "{row:?}");
    }
    // The sum starts at -0.0: an ensemble of trees worth -0.0 around a
    // base of -0.0 scores -0.0, not 0.0.
    let zero = Ensemble {
        trees: vec![Tree::constant(-0.0, 1, 1.0); 9],
        base_score: -0.0,
        num_features: 1,
        objective: "regression".into(),
    };
    let s = Scorer::compile(&zero).unwrap();
    assert_eq!(s.predict(&[1.0]).to_bits(), (-0.0f64).to_bits());
    let mut out = [1.0; 3];
    s.predict_batch(&[1.0, 2.0, 3.0], &mut out);
    assert!(out.iter().all(|o| o.to_bits() == (-0.0f64).to_bits()));
}

#[test]
fn malformed_trees_are_refused() {
    let mut t = small_tree();
    t.right_child[0] = 0; // a cycle back to the root
    let mut u = small_tree();
    u.left_child[1] = !7; // no such leaf
    let mut v = small_tree();
    v.cat_boundaries = vec![0, 9]; // beyond cat_words
    let mut w = small_tree();
    w.leaf_value.pop();
    for tree in [t, u, v, w] {
        let model = Ensemble {
            trees: vec![tree],
            base_score: 0.0,
            num_features: 2,
            objective: "binary".into(),
        };
        assert!(Scorer::compile(&model).is_none());
    }
}
