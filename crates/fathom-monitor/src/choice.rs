//! The automatic choice of a drift test, the rule Evidently's
//! `DataDriftPreset` follows:
//!
//! | reference values | numbers, > 5 distinct | categories, or numbers with ≤ 5 distinct |
//! |---|---|---|
//! | ≤ `small_sample` (1,000) | `ks` (p < 0.05) | `z` when ≤ 2 distinct, else `chisquare` (p < 0.05) |
//! | > `small_sample` | `wasserstein`, normed (≥ 0.1) | `jensenshannon` (≥ 0.1) |
//!
//! Distinct values are counted over both samples together; booleans are
//! categories with two levels.

use crate::config::DriftTest;

/// Whether a column is compared as numbers or as levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Numbers (numeric and timestamp columns).
    Number,
    /// Levels (categorical and boolean columns).
    Level,
}

/// The test for a column of `kind` with `reference_values` present
/// reference values and `distinct` distinct values over both samples.
pub fn auto_test(
    kind: ValueKind,
    reference_values: u64,
    distinct: usize,
    small_sample: u64,
) -> DriftTest {
    let levels = kind == ValueKind::Level || distinct <= 5;
    match (reference_values <= small_sample, levels) {
        (true, false) => DriftTest::Ks,
        (true, true) if distinct <= 2 => DriftTest::Z,
        (true, true) => DriftTest::Chisquare,
        (false, false) => DriftTest::Wasserstein,
        (false, true) => DriftTest::Jensenshannon,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_by_size_kind_and_distinct_values() {
        use ValueKind::*;
        assert_eq!(auto_test(Number, 1000, 300, 1000), DriftTest::Ks);
        assert_eq!(auto_test(Number, 1000, 5, 1000), DriftTest::Chisquare);
        assert_eq!(auto_test(Number, 500, 2, 1000), DriftTest::Z);
        assert_eq!(auto_test(Level, 500, 2, 1000), DriftTest::Z);
        assert_eq!(auto_test(Level, 500, 12, 1000), DriftTest::Chisquare);
        assert_eq!(auto_test(Number, 1001, 6, 1000), DriftTest::Wasserstein);
        assert_eq!(auto_test(Number, 1001, 5, 1000), DriftTest::Jensenshannon);
        assert_eq!(auto_test(Level, 100_000, 2, 1000), DriftTest::Jensenshannon);
    }
}
