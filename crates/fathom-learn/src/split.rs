//! Train/test splits and cross-validation folds, seeded and reproducible.
//!
//! All functions return row indices in ascending order, so the rows keep
//! their original order inside each part.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use thiserror::Error;

/// Why a split could not be made.
#[derive(Debug, Error, PartialEq)]
pub enum SplitError {
    /// Nothing to split.
    #[error("there are no rows to split")]
    Empty,
    /// A test fraction outside (0, 1).
    #[error("test fraction {0} must lie strictly between 0 and 1, e.g. 0.2")]
    Fraction(f64),
    /// Fewer than two folds.
    #[error("cross-validation needs at least 2 folds, got {0}")]
    TooFewFolds(usize),
    /// A class has fewer rows than folds.
    #[error(
        "label value {label} has only {count} row(s), fewer than the {folds} folds; use at most {count} folds or gather more positives"
    )]
    ClassTooSmall {
        /// The label value.
        label: f64,
        /// Its rows.
        count: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// A split left one side empty.
    #[error("the split leaves the {0} set empty; use more rows or another test fraction")]
    EmptySide(&'static str),
}

/// Row indices of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows to evaluate on.
    pub test: Vec<usize>,
}

fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    // Fisher–Yates with an unbiased bounded draw (rejection sampling).
    for i in (1..v.len()).rev() {
        let bound = (i + 1) as u64;
        let zone = u64::MAX - u64::MAX % bound;
        let j = loop {
            let x = rng.next_u64();
            if x < zone {
                break (x % bound) as usize;
            }
        };
        v.swap(i, j);
    }
}

/// Groups row indices by label value, in order of the label's first appearance.
fn by_class(labels: &[f64]) -> Vec<(f64, Vec<usize>)> {
    let mut classes: Vec<(f64, Vec<usize>)> = Vec::new();
    for (i, &y) in labels.iter().enumerate() {
        match classes.iter_mut().find(|(c, _)| c.to_bits() == y.to_bits()) {
            Some((_, rows)) => rows.push(i),
            None => classes.push((y, vec![i])),
        }
    }
    classes.sort_by(|a, b| a.0.total_cmp(&b.0));
    classes
}

/// A random split that keeps each label value's share in both parts
/// (for a continuous target, use [`random_split`]).
pub fn stratified_split(
    labels: &[f64],
    test_fraction: f64,
    seed: u64,
) -> Result<Split, SplitError> {
    check(labels.len(), test_fraction)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut rows) in by_class(labels) {
        shuffle(&mut rows, &mut rng);
        let n_test = (rows.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    finish(train, test)
}

/// A plain random split.
pub fn random_split(rows: usize, test_fraction: f64, seed: u64) -> Result<Split, SplitError> {
    check(rows, test_fraction)?;
    let mut all: Vec<usize> = (0..rows).collect();
    shuffle(&mut all, &mut ChaCha8Rng::seed_from_u64(seed));
    let n_test = (rows as f64 * test_fraction).round() as usize;
    finish(all[n_test..].to_vec(), all[..n_test].to_vec())
}

/// A time-based split: the latest `test_fraction` of rows are the test set,
/// and every training row is strictly earlier than every test row (rows
/// sharing the cut-off time all go to test), so nothing from the future
/// leaks into training.
pub fn time_split(times: &[i64], test_fraction: f64) -> Result<Split, SplitError> {
    check(times.len(), test_fraction)?;
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let first_test = times.len() - ((times.len() as f64 * test_fraction).round() as usize).max(1);
    let cutoff = times[order[first_test]];
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..times.len()).partition(|&i| times[i] >= cutoff);
    finish(train, test)
}

/// Stratified k-fold cross-validation: each row is in exactly one
/// validation fold, and each fold keeps the label shares.
pub fn stratified_kfold(labels: &[f64], folds: usize, seed: u64) -> Result<Vec<Split>, SplitError> {
    if labels.is_empty() {
        return Err(SplitError::Empty);
    }
    if folds < 2 {
        return Err(SplitError::TooFewFolds(folds));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; labels.len()];
    let mut next = 0;
    for (label, mut rows) in by_class(labels) {
        if rows.len() < folds {
            return Err(SplitError::ClassTooSmall {
                label,
                count: rows.len(),
                folds,
            });
        }
        shuffle(&mut rows, &mut rng);
        for r in rows {
            fold_of[r] = next % folds;
            next += 1;
        }
    }
    Ok((0..folds)
        .map(|k| {
            let (test, train) = (0..labels.len()).partition(|&i| fold_of[i] == k);
            Split { train, test }
        })
        .collect())
}

fn check(rows: usize, fraction: f64) -> Result<(), SplitError> {
    if rows == 0 {
        return Err(SplitError::Empty);
    }
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(SplitError::Fraction(fraction));
    }
    Ok(())
}

fn finish(mut train: Vec<usize>, mut test: Vec<usize>) -> Result<Split, SplitError> {
    if train.is_empty() {
        return Err(SplitError::EmptySide("training"));
    }
    if test.is_empty() {
        return Err(SplitError::EmptySide("test"));
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok(Split { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<f64> {
        (0..1000).map(|i| f64::from(i % 50 == 0)).collect()
    }

    #[test]
    fn stratified_split_keeps_shares_and_is_seeded() {
        let y = labels();
        let s = stratified_split(&y, 0.2, 7).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (800, 200));
        assert_eq!(s.test.iter().filter(|&&i| y[i] == 1.0).count(), 4);
        assert_eq!(s.train.iter().filter(|&&i| y[i] == 1.0).count(), 16);
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(stratified_split(&y, 0.2, 7).unwrap(), s);
        assert_ne!(stratified_split(&y, 0.2, 8).unwrap(), s);
    }

    #[test]
    fn time_split_never_trains_on_the_future() {
        let times: Vec<i64> = (0..100).map(|i| (i * 37 % 100) / 3).collect();
        let s = time_split(&times, 0.25).unwrap();
        let last_train = s.train.iter().map(|&i| times[i]).max().unwrap();
        let first_test = s.test.iter().map(|&i| times[i]).min().unwrap();
        assert!(last_train < first_test);
        assert!(s.test.len() >= 25);
    }

    #[test]
    fn kfold_covers_each_row_once_with_shares() {
        let y = labels();
        let folds = stratified_kfold(&y, 5, 1).unwrap();
        let mut seen = vec![0; 1000];
        for f in &folds {
            assert_eq!(f.test.len(), 200);
            assert_eq!(f.test.iter().filter(|&&i| y[i] == 1.0).count(), 4);
            f.test.iter().for_each(|&i| seen[i] += 1);
            assert_eq!(f.train.len() + f.test.len(), 1000);
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn bad_requests_say_what_to_do() {
        let y = labels();
        assert_eq!(
            stratified_split(&y, 1.5, 0).unwrap_err().to_string(),
            "test fraction 1.5 must lie strictly between 0 and 1, e.g. 0.2"
        );
        assert_eq!(
            stratified_kfold(&y, 30, 0).unwrap_err().to_string(),
            "label value 1 has only 20 row(s), fewer than the 30 folds; use at most 20 folds or gather more positives"
        );
        assert_eq!(
            stratified_kfold(&y, 1, 0).unwrap_err(),
            SplitError::TooFewFolds(1)
        );
        assert_eq!(random_split(0, 0.2, 0).unwrap_err(), SplitError::Empty);
        assert_eq!(
            random_split(1, 0.2, 0).unwrap_err(),
            SplitError::EmptySide("test")
        );
    }
}
