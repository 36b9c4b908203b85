//! The data profile (exploratory data analysis) of a [`Frame`].
//!
//! [`profile_frame`] computes, per column, counts, nulls, distinct values,
//! numeric statistics (mean, sample std, quantiles, histogram), top
//! categories and timestamp ranges; then the Pearson correlation matrix of the
//! numeric and bool columns and, when a 0/1 label is named, the label rate per
//! category. The [`Profile`] is plain data (serde), and [`render_html`] turns
//! it into one self-contained HTML report with inline SVG charts.
//!
//! # Conventions (they match pandas/numpy)
//!
//! * Nulls are skipped (pandas `skipna`). In a numeric column a NaN value is a
//!   null even when its validity bit is set.
//! * Infinite values are non-null: they are counted in `count`, `distinct` and
//!   [`ColumnProfile::infinities`], but excluded from mean, std, min, max,
//!   quantiles, zeros, histogram and correlation, which therefore describe the
//!   finite values only.
//! * `std` is the sample standard deviation (ddof = 1), computed two-pass
//!   around a compensated mean; it is 0 with fewer than two values.
//! * Quantiles use linear interpolation at `q * (n - 1)` (numpy's default);
//!   the histogram is `numpy.histogram(values, bins)`. Strongly right-skewed
//!   positive columns also get a log-spaced histogram, which the report draws
//!   on a log axis.
//! * Distinct numeric values are distinct bit patterns with -0.0 counted as
//!   0.0 (pandas `nunique`).
//! * Top categories are sorted by count, descending, ties by name.
//! * The correlation is pairwise-complete Pearson r, like
//!   `DataFrame.corr()`, with bool as 0/1; `None` where fewer than two rows are
//!   complete or a side is constant.
//!
//! Every number in a profile is finite, so a profile survives JSON.

mod html;
mod stats;

pub use html::render_html;

use fathom_core::time::format_micros;
use fathom_core::{Column, ColumnData, ColumnType, Frame};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Upper bound on [`ProfileOptions::bins`].
pub const MAX_BINS: usize = 1000;

/// What to compute; [`Default`] gives 20 bins, top 10 categories, no label
/// and at most 40 columns in the correlation matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileOptions {
    /// Number of histogram bins for numeric and timestamp columns (taken
    /// within 1..=[`MAX_BINS`]).
    pub bins: usize,
    /// Number of most frequent categories kept per categorical/bool column.
    pub top_k: usize,
    /// Name of a 0/1 (numeric) or bool label column for the label section.
    pub label: Option<String>,
    /// Largest number of columns in the correlation matrix; beyond it the
    /// label and then the first columns in frame order are kept.
    pub max_correlation_columns: usize,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            bins: 20,
            top_k: 10,
            label: None,
            max_correlation_columns: 40,
        }
    }
}

/// The profile of a whole frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Number of rows.
    pub rows: usize,
    /// One profile per column, in frame order.
    pub columns: Vec<ColumnProfile>,
    /// Pearson correlation of the numeric and bool columns.
    pub correlation: Correlation,
    /// Label section, when a usable label column was named.
    pub label: Option<LabelSummary>,
    /// Where the data came from (a path or a snapshot id); set by the caller.
    pub source: Option<String>,
    /// Things the reader should know, e.g. why the label section is missing.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Profile {
    /// The profile of the column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The profile of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// Column name.
    pub name: String,
    /// Column type.
    pub column_type: ColumnType,
    /// Number of non-null values (infinities included).
    pub count: u64,
    /// Number of nulls (for numeric columns NaN counts as null).
    pub nulls: u64,
    /// `nulls / rows` (0 for an empty frame).
    pub null_rate: f64,
    /// Number of distinct non-null values.
    pub distinct: u64,
    /// Number of infinite values (numeric columns; 0 otherwise).
    #[serde(default)]
    pub infinities: u64,
    /// Statistics of the finite values of a numeric column (`None` when it
    /// has none, and for other types).
    pub numeric: Option<NumericStats>,
    /// The most frequent categories with their counts (categorical and bool
    /// columns), by count descending, ties by name.
    pub top: Vec<(String, u64)>,
    /// Range and histogram of a timestamp column with at least one value.
    pub timestamp: Option<TimestampStats>,
}

/// Statistics of the finite values of a numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); 0 with a single value.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 1st percentile (linear interpolation).
    pub p01: f64,
    /// 5th percentile.
    pub p05: f64,
    /// First quartile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// Third quartile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Number of values equal to zero.
    pub zeros: u64,
    /// Equal-width histogram.
    pub histogram: Histogram,
    /// For strongly right-skewed positive data (all values > 0, max/min at
    /// least 100, median in the lowest tenth of the range), a histogram with
    /// bins of equal width in log10 space (edges in original units), which
    /// the report draws on a log axis. `None` otherwise.
    #[serde(default)]
    pub log_histogram: Option<Histogram>,
}

/// An equal-width histogram: `counts[i]` values lie in
/// `[edges[i], edges[i + 1])`, the last bin being closed. A constant column
/// has a single bin whose two edges are equal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges, one more than bins.
    pub edges: Vec<f64>,
    /// Number of values per bin.
    pub counts: Vec<u64>,
}

/// Range and histogram of a timestamp column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimestampStats {
    /// Earliest instant, RFC 3339.
    pub min: String,
    /// Latest instant, RFC 3339.
    pub max: String,
    /// Earliest instant in microseconds since the epoch.
    pub min_micros: i64,
    /// Latest instant in microseconds since the epoch.
    pub max_micros: i64,
    /// Histogram over microseconds since the epoch.
    pub histogram: Histogram,
}

/// Pearson correlation matrix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Correlation {
    /// Column names, the order of rows and columns of `matrix`.
    pub columns: Vec<String>,
    /// Symmetric matrix of r; `None` where undefined.
    pub matrix: Vec<Vec<Option<f64>>>,
    /// Numeric/bool columns left out because of `max_correlation_columns`.
    #[serde(default)]
    pub omitted: Vec<String>,
}

/// Label section: the positive rate overall and per category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSummary {
    /// Label column name.
    pub column: String,
    /// Rows with a non-null label.
    pub count: u64,
    /// Rows with label 1 / true.
    pub positives: u64,
    /// `positives / count`.
    pub positive_rate: f64,
    /// Per categorical and bool column (label excluded), in frame order.
    pub by_column: Vec<LabelRates>,
}

/// Label rates for the top categories of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRates {
    /// Column name.
    pub column: String,
    /// One entry per top category, in the order of [`ColumnProfile::top`].
    pub categories: Vec<CategoryRate>,
}

/// The label rate within one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryRate {
    /// Category value.
    pub category: String,
    /// Rows of this category with a non-null label.
    pub count: u64,
    /// Of which positive.
    pub positives: u64,
    /// `positives / count`; `None` when `count` is 0.
    pub rate: Option<f64>,
}

/// Profiles `frame`: columns in parallel (rayon), then correlation and label
/// section. Deterministic, and never panics.
pub fn profile_frame(frame: &Frame, options: &ProfileOptions) -> Profile {
    let columns: Vec<ColumnProfile> = frame
        .columns()
        .par_iter()
        .map(|c| profile_column(c, options))
        .collect();
    let mut warnings = Vec::new();
    let label =
        options
            .label
            .as_deref()
            .and_then(|name| match label_summary(frame, name, &columns) {
                Ok(summary) => Some(summary),
                Err(why) => {
                    warnings.push(why);
                    None
                }
            });
    let correlation = correlation(frame, options);
    if !correlation.omitted.is_empty() {
        warnings.push(format!(
            "the correlation matrix is limited to {} columns; {} numeric/bool columns were left out",
            options.max_correlation_columns,
            correlation.omitted.len()
        ));
    }
    Profile {
        rows: frame.num_rows(),
        columns,
        correlation,
        label,
        source: None,
        warnings,
    }
}

/// Whether row `i` of `col` holds a value (a validity bitmap shorter than
/// the data counts as null rather than panicking).
fn valid(col: &Column, i: usize) -> bool {
    col.validity.as_ref().is_none_or(|v| i < v.len()) && col.is_valid(i)
}

/// Sorts `(name, count)` by count descending, ties by name, keeping `k`.
fn top_k(mut counts: Vec<(String, u64)>, k: usize) -> Vec<(String, u64)> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(k);
    counts
}

/// Per-category counts of a categorical column (keyed by string, so that a
/// dictionary with repeated strings still counts correctly), plus the number
/// of nulls. Codes outside the dictionary count as nulls.
fn category_counts(col: &Column) -> (Vec<(String, u64)>, u64) {
    let ColumnData::Categorical(c) = &col.data else {
        return (Vec::new(), 0);
    };
    let mut per_code = vec![0u64; c.dictionary.len()];
    let mut nulls = 0u64;
    for (i, &code) in c.codes.iter().enumerate() {
        match per_code.get_mut(code as usize) {
            Some(n) if valid(col, i) => *n += 1,
            _ => nulls += 1,
        }
    }
    let mut merged: HashMap<&str, u64> = HashMap::new();
    for (name, &n) in c.dictionary.iter().zip(&per_code) {
        if n > 0 {
            *merged.entry(name.as_str()).or_default() += n;
        }
    }
    let counts = merged
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    (counts, nulls)
}

fn profile_column(col: &Column, options: &ProfileOptions) -> ColumnProfile {
    let rows = col.len() as u64;
    let bins = options.bins.clamp(1, MAX_BINS);
    let mut p = ColumnProfile {
        name: col.name.clone(),
        column_type: col.column_type(),
        count: 0,
        nulls: 0,
        null_rate: 0.0,
        distinct: 0,
        infinities: 0,
        numeric: None,
        top: Vec::new(),
        timestamp: None,
    };
    match &col.data {
        ColumnData::Numeric(values) => {
            let mut finite = Vec::with_capacity(values.len());
            let (mut pos_inf, mut neg_inf) = (0u64, 0u64);
            for (i, &x) in values.iter().enumerate() {
                if !valid(col, i) || x.is_nan() {
                    p.nulls += 1;
                } else if x == f64::INFINITY {
                    pos_inf += 1;
                } else if x == f64::NEG_INFINITY {
                    neg_inf += 1;
                } else {
                    finite.push(x);
                }
            }
            finite.sort_by(f64::total_cmp);
            // Adjacent after sorting; `!=` treats -0.0 and 0.0 as equal.
            let distinct_finite = finite
                .iter()
                .enumerate()
                .filter(|&(i, x)| i == 0 || *x != finite[i - 1])
                .count() as u64;
            p.distinct = distinct_finite + u64::from(pos_inf > 0) + u64::from(neg_inf > 0);
            p.infinities = pos_inf + neg_inf;
            p.numeric = numeric_stats(&finite, bins);
        }
        ColumnData::Categorical(_) => {
            let (counts, nulls) = category_counts(col);
            p.nulls = nulls;
            p.distinct = counts.len() as u64;
            p.top = top_k(counts, options.top_k);
        }
        ColumnData::Bool(values) => {
            let (mut t, mut f) = (0u64, 0u64);
            for (i, &b) in values.iter().enumerate() {
                match (valid(col, i), b) {
                    (false, _) => p.nulls += 1,
                    (true, true) => t += 1,
                    (true, false) => f += 1,
                }
            }
            let counts: Vec<(String, u64)> = [("true", t), ("false", f)]
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect();
            p.distinct = counts.len() as u64;
            p.top = top_k(counts, options.top_k);
        }
        ColumnData::Timestamp(values) => {
            let mut present: Vec<i64> = values
                .iter()
                .enumerate()
                .filter(|&(i, _)| valid(col, i))
                .map(|(_, &t)| t)
                .collect();
            p.nulls = rows - present.len() as u64;
            present.sort_unstable();
            if let (Some(&lo), Some(&hi)) = (present.first(), present.last()) {
                let as_f64: Vec<f64> = present.iter().map(|&t| t as f64).collect();
                p.timestamp = Some(TimestampStats {
                    min: format_micros(lo),
                    max: format_micros(hi),
                    min_micros: lo,
                    max_micros: hi,
                    histogram: stats::histogram(&as_f64, bins),
                });
            }
            present.dedup();
            p.distinct = present.len() as u64;
        }
    }
    p.count = rows.saturating_sub(p.nulls);
    p.null_rate = if rows == 0 {
        0.0
    } else {
        p.nulls as f64 / rows as f64
    };
    p
}

/// Statistics of ascending finite values (`None` when there are none).
fn numeric_stats(sorted: &[f64], bins: usize) -> Option<NumericStats> {
    let (min, max) = (*sorted.first()?, *sorted.last()?);
    let mean = stats::mean(sorted)?;
    let q = |p: f64| stats::quantile_sorted(sorted, p).unwrap_or(mean);
    let p50 = q(0.5);
    let skewed = min > 0.0 && max / min >= 100.0 && p50 - min <= (max - min) / 10.0;
    let log_histogram = skewed.then(|| {
        let logs: Vec<f64> = sorted.iter().map(|x| x.log10()).collect();
        let mut h = stats::histogram(&logs, bins);
        for e in &mut h.edges {
            *e = 10f64.powf(*e);
        }
        // Exact ends, not 10^log10(x).
        if let [first, .., last] = h.edges.as_mut_slice() {
            (*first, *last) = (min, max);
        }
        h
    });
    Some(NumericStats {
        mean,
        std: stats::sample_std(sorted, mean),
        min,
        max,
        p01: q(0.01),
        p05: q(0.05),
        p25: q(0.25),
        p50,
        p75: q(0.75),
        p95: q(0.95),
        p99: q(0.99),
        zeros: sorted.iter().filter(|&&x| x == 0.0).count() as u64,
        histogram: stats::histogram(sorted, bins),
        log_histogram,
    })
}

/// The label of each row (`None` for a null label), or why the column cannot
/// serve as a binary label.
fn label_values(col: &Column) -> Result<Vec<Option<bool>>, String> {
    match &col.data {
        ColumnData::Numeric(v) => v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if !valid(col, i) || x.is_nan() {
                    Ok(None)
                } else if x == 0.0 {
                    Ok(Some(false))
                } else if x == 1.0 {
                    Ok(Some(true))
                } else {
                    Err(format!(
                        "label column '{}' holds {x} (row {}), not 0/1; the label section is left out",
                        col.name,
                        i + 1
                    ))
                }
            })
            .collect(),
        ColumnData::Bool(v) => Ok(v
            .iter()
            .enumerate()
            .map(|(i, &b)| valid(col, i).then_some(b))
            .collect()),
        other => Err(format!(
            "label column '{}' is {}, not 0/1 numeric or bool; the label section is left out",
            col.name,
            other.column_type()
        )),
    }
}

fn label_summary(
    frame: &Frame,
    name: &str,
    profiles: &[ColumnProfile],
) -> Result<LabelSummary, String> {
    let col = frame.column(name).ok_or_else(|| {
        format!("label column '{name}' is not in the data; the label section is left out")
    })?;
    let labels = label_values(col)?;
    let count = labels.iter().flatten().count() as u64;
    let positives = labels.iter().flatten().filter(|&&b| b).count() as u64;
    if count == 0 {
        return Err(format!(
            "label column '{name}' has no values; the label section is left out"
        ));
    }
    let by_column = frame
        .columns()
        .par_iter()
        .zip(profiles.par_iter())
        .filter(|(c, _)| {
            c.name != name && matches!(c.column_type(), ColumnType::Categorical | ColumnType::Bool)
        })
        .map(|(c, p)| label_rates(c, p, &labels))
        .collect();
    Ok(LabelSummary {
        column: name.to_string(),
        count,
        positives,
        positive_rate: positives as f64 / count as f64,
        by_column,
    })
}

/// Label count and positives per category of `col`, for its top categories.
fn label_rates(col: &Column, profile: &ColumnProfile, labels: &[Option<bool>]) -> LabelRates {
    let mut by_name: HashMap<&str, (u64, u64)> = HashMap::new();
    match &col.data {
        ColumnData::Categorical(c) => {
            // Accumulate per code, then merge by string.
            let mut per_code = vec![(0u64, 0u64); c.dictionary.len()];
            for (i, (&code, label)) in c.codes.iter().zip(labels).enumerate() {
                if let (Some(label), true) = (label, valid(col, i))
                    && let Some(e) = per_code.get_mut(code as usize)
                {
                    e.0 += 1;
                    e.1 += u64::from(*label);
                }
            }
            for (name, &(n, pos)) in c.dictionary.iter().zip(&per_code) {
                let e = by_name.entry(name.as_str()).or_default();
                e.0 += n;
                e.1 += pos;
            }
        }
        ColumnData::Bool(v) => {
            for (i, (&b, label)) in v.iter().zip(labels).enumerate() {
                if let (Some(label), true) = (label, valid(col, i)) {
                    let e = by_name.entry(if b { "true" } else { "false" }).or_default();
                    e.0 += 1;
                    e.1 += u64::from(*label);
                }
            }
        }
        _ => {}
    }
    let categories = profile
        .top
        .iter()
        .map(|(cat, _)| {
            let (count, positives) = by_name.get(cat.as_str()).copied().unwrap_or_default();
            CategoryRate {
                category: cat.clone(),
                count,
                positives,
                rate: (count > 0).then(|| positives as f64 / count as f64),
            }
        })
        .collect();
    LabelRates {
        column: col.name.clone(),
        categories,
    }
}

/// Pairwise-complete Pearson matrix of the numeric and bool columns.
fn correlation(frame: &Frame, options: &ProfileOptions) -> Correlation {
    let candidates: Vec<&Column> = frame
        .columns()
        .iter()
        .filter(|c| matches!(c.column_type(), ColumnType::Numeric | ColumnType::Bool))
        .collect();
    let limit = options.max_correlation_columns;
    let keep: Vec<bool> = if candidates.len() <= limit {
        vec![true; candidates.len()]
    } else {
        let label = options.label.as_deref();
        let has_label = candidates.iter().any(|c| Some(c.name.as_str()) == label);
        let mut room = limit.saturating_sub(usize::from(has_label && limit > 0));
        candidates
            .iter()
            .map(|c| {
                if Some(c.name.as_str()) == label {
                    limit > 0
                } else if room > 0 {
                    room -= 1;
                    true
                } else {
                    false
                }
            })
            .collect()
    };
    let mut chosen: Vec<&Column> = Vec::new();
    let mut omitted: Vec<&Column> = Vec::new();
    for (c, keep) in candidates.into_iter().zip(keep) {
        if keep {
            chosen.push(c);
        } else {
            omitted.push(c);
        }
    }
    let inputs: Vec<stats::CorrInput> = chosen
        .par_iter()
        .map(|c| stats::CorrInput::new(corr_values(c)))
        .collect();
    let k = inputs.len();
    let pairs: Vec<(usize, usize)> = (0..k).flat_map(|i| (i..k).map(move |j| (i, j))).collect();
    let values: Vec<Option<f64>> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let r = stats::pearson(&inputs[i], &inputs[j]);
            if i == j { r.map(|_| 1.0) } else { r }
        })
        .collect();
    let mut matrix = vec![vec![None; k]; k];
    for (&(i, j), r) in pairs.iter().zip(values) {
        matrix[i][j] = r;
        matrix[j][i] = r;
    }
    Correlation {
        columns: chosen.iter().map(|c| c.name.clone()).collect(),
        matrix,
        omitted: omitted.iter().map(|c| c.name.clone()).collect(),
    }
}

/// A numeric or bool column as f64 with NaN for missing (null, NaN, ±inf).
fn corr_values(col: &Column) -> Vec<f64> {
    match &col.data {
        ColumnData::Numeric(v) => v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if valid(col, i) && x.is_finite() {
                    x
                } else {
                    f64::NAN
                }
            })
            .collect(),
        ColumnData::Bool(v) => v
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if valid(col, i) {
                    f64::from(u8::from(b))
                } else {
                    f64::NAN
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
