//! Drift of every feature between a reference and a current data set, the
//! share of drifted features and the verdict, plus prediction and label
//! drift. Features are computed in parallel, each on its own, so the
//! report is the same for any number of threads.

use crate::MonitorError;
use crate::choice::{ValueKind, auto_test};
use crate::config::{DriftConfig, DriftTest, FeatureRule};
use crate::sample::{LevelCounts, Numbers, distinct_union, levels, numbers, runs};
use crate::stats::chi2::chi2_contingency;
use crate::stats::distance::{
    bin_counts, equal_width_edges, jensenshannon, psi, shares_filled, wasserstein_normed,
};
use crate::stats::ks::ks_2samp;
use crate::stats::proportion::proportions_z;
use fathom_core::{
    Bitmap, CategoricalData, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How far the drifted share of features has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Below the warning share.
    #[serde(rename = "none")]
    NoDrift,
    /// At or above the warning share, below the severe one.
    Warn,
    /// At or above the severe share.
    Severe,
    /// Nothing could be compared: one side had no rows, or no feature had
    /// values on both sides. Not "no drift": there was nothing to judge.
    #[serde(rename = "no_data")]
    NoData,
}

impl Verdict {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NoDrift => "none",
            Verdict::Warn => "warn",
            Verdict::Severe => "severe",
            Verdict::NoData => "no_data",
        }
    }
}

/// One side's values of a feature, as the chart shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Present values compared.
    pub values: u64,
    /// Rows left out: null, NaN or infinite.
    pub missing: u64,
    /// Count per chart bin (see [`Chart`]).
    pub counts: Vec<u64>,
}

/// The bins of a feature's chart, shared by both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Chart {
    /// Equal-width bins between these edges over the central 99 % of both
    /// samples; values beyond fall in the end bins.
    Histogram {
        /// `counts.len() + 1` edges.
        edges: Vec<f64>,
    },
    /// One bar per level (the most common ones; the rest as `(other)`).
    Levels {
        /// Level names, in bar order.
        levels: Vec<String>,
    },
}

/// The drift of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Column name.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// The test applied; absent when one side had no values.
    pub test: Option<DriftTest>,
    /// The statistic: D, chi², z, PSI, normed Wasserstein or JS distance.
    pub statistic: Option<f64>,
    /// The p-value, for hypothesis tests.
    pub p_value: Option<f64>,
    /// Drift when the p-value is below it (tests) or the statistic is at or
    /// above it (distances).
    pub threshold: f64,
    /// Whether the column drifted.
    pub drifted: bool,
    /// The reference side.
    pub reference_summary: Summary,
    /// The current side.
    pub current_summary: Summary,
    /// The chart bins both summaries count into.
    pub chart: Chart,
    /// Why the column was not tested, when it was not.
    pub note: Option<String>,
}

/// The drift report of a reference and a current data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Rows of the reference data.
    pub reference_rows: u64,
    /// Rows of the current data.
    pub current_rows: u64,
    /// Every feature, in schema order.
    pub features: Vec<FeatureDrift>,
    /// Features that could be tested.
    pub tested: usize,
    /// Tested features that drifted.
    pub drifted: usize,
    /// `drifted / tested` (0 when nothing could be tested).
    pub share_drifted: f64,
    /// The verdict from the share.
    pub verdict: Verdict,
    /// The warning share used.
    pub warn_share: f64,
    /// The severe share used.
    pub severe_share: f64,
    /// Drift of the model's score, when both sides have it.
    pub prediction: Option<FeatureDrift>,
    /// Drift of the label, when both sides have it.
    pub label: Option<FeatureDrift>,
    /// Things the reader should know (e.g. a missing prediction column).
    pub notes: Vec<String>,
}

impl DriftReport {
    /// The drifted features' names, in schema order.
    pub fn drifted_features(&self) -> Vec<&str> {
        self.features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| f.name.as_str())
            .collect()
    }
}

/// Compares `current` with `reference` feature by feature.
///
/// The features are the schema's columns with role `feature`; both frames
/// must have them with the schema's types. The label (when both frames
/// have it) and the prediction column named in the configuration (when
/// both have it) are reported apart and do not count towards the share.
pub fn drift(
    reference: &Frame,
    current: &Frame,
    schema: &Schema,
    config: &DriftConfig,
) -> Result<DriftReport, MonitorError> {
    config.check(schema)?;
    let features: Vec<&ColumnSpec> = schema
        .columns
        .iter()
        .filter(|c| c.role == Role::Feature)
        .collect();
    // A feature the current data lacks is reported as not tested (no
    // values there), not an error: the other features still get a verdict.
    let mut notes = Vec::new();
    let absent: Vec<Column> = features
        .iter()
        .filter(|spec| current.column(&spec.name).is_none())
        .map(|spec| {
            notes.push(format!(
                "{}: missing from the current data; not tested (check the source of the current data)",
                spec.name
            ));
            null_column(&spec.name, spec.column_type, current.num_rows())
        })
        .collect();
    let mut jobs: Vec<(&Column, &Column)> = Vec::new();
    for spec in &features {
        let current_column = match absent.iter().find(|c| c.name == spec.name) {
            Some(c) => c,
            None => pick(current, "current", &spec.name, spec.column_type)?,
        };
        jobs.push((
            pick(reference, "reference", &spec.name, spec.column_type)?,
            current_column,
        ));
    }
    let mut extra: Vec<(&Column, &Column)> = Vec::new();
    let label = schema.label().and_then(|spec| {
        match (reference.column(&spec.name), current.column(&spec.name)) {
            (Some(r), Some(c)) if r.column_type() == c.column_type() => Some((r, c)),
            _ => None,
        }
    });
    let prediction = match &config.prediction {
        Some(name) => match (reference.column(name), current.column(name)) {
            (Some(r), Some(c)) if r.column_type() == c.column_type() => Some((r, c)),
            (r, c) => {
                let sides: Vec<&str> = [("reference", r.is_none()), ("current", c.is_none())]
                    .iter()
                    .filter(|(_, absent)| *absent)
                    .map(|(s, _)| *s)
                    .collect();
                notes.push(if sides.is_empty() {
                    format!("prediction column '{name}' has different types in the two data sets; no prediction drift")
                } else {
                    format!(
                        "prediction column '{name}' is not in the {} data; no prediction drift",
                        sides.join(" or ")
                    )
                });
                None
            }
        },
        None => None,
    };
    extra.extend(label);
    extra.extend(prediction);
    let all: Vec<(&Column, &Column)> = jobs.iter().chain(&extra).copied().collect();
    let results: Vec<FeatureDrift> = all
        .par_iter()
        .map(|(r, c)| column_drift(r, c, config.features.get(&r.name), config))
        .collect::<Result<_, _>>()?;
    let mut results = results.into_iter();
    let features: Vec<FeatureDrift> = results.by_ref().take(jobs.len()).collect();
    let label = label.and_then(|_| results.next());
    let prediction = prediction.and_then(|_| results.next());

    let tested = features.iter().filter(|f| f.test.is_some()).count();
    let drifted = features.iter().filter(|f| f.drifted).count();
    let share_drifted = if tested == 0 {
        0.0
    } else {
        drifted as f64 / tested as f64
    };
    let verdict =
        if tested == 0 {
            notes.push(if reference.num_rows() == 0 || current.num_rows() == 0 {
            format!(
                "nothing to compare: the {} data has no rows; widen the window or check the source",
                if current.num_rows() == 0 { "current" } else { "reference" }
            )
        } else {
            "nothing to compare: no feature has values on both sides".to_string()
        });
            Verdict::NoData
        } else if share_drifted >= config.severe_share {
            Verdict::Severe
        } else if share_drifted >= config.warn_share {
            Verdict::Warn
        } else {
            Verdict::NoDrift
        };
    for f in features
        .iter()
        .filter(|f| f.note.is_some() && !absent.iter().any(|a| a.name == f.name))
    {
        notes.push(format!(
            "{}: {}",
            f.name,
            f.note.as_deref().unwrap_or_default()
        ));
    }
    Ok(DriftReport {
        reference_rows: reference.num_rows() as u64,
        current_rows: current.num_rows() as u64,
        features,
        tested,
        drifted,
        share_drifted,
        verdict,
        warn_share: config.warn_share,
        severe_share: config.severe_share,
        prediction,
        label,
        notes,
    })
}

/// A column of `len` nulls of type `ty`.
fn null_column(name: &str, ty: ColumnType, len: usize) -> Column {
    let data = match ty {
        ColumnType::Numeric => ColumnData::Numeric(vec![f64::NAN; len]),
        ColumnType::Categorical => ColumnData::Categorical(CategoricalData {
            codes: vec![0; len],
            dictionary: std::sync::Arc::new(Vec::new()),
        }),
        ColumnType::Bool => ColumnData::Bool(vec![false; len]),
        ColumnType::Timestamp => ColumnData::Timestamp(vec![0; len]),
    };
    Column::new(name, data, Some(Bitmap::new(len, false)))
}

/// The column `name` of `frame`, which must have type `ty`.
fn pick<'a>(
    frame: &'a Frame,
    side: &'static str,
    name: &str,
    ty: ColumnType,
) -> Result<&'a Column, MonitorError> {
    let c = frame
        .column(name)
        .ok_or_else(|| MonitorError::MissingColumn {
            column: name.to_string(),
            side,
            valid: frame.column_names(),
        })?;
    if c.column_type() != ty {
        return Err(MonitorError::TypeMismatch {
            column: name.to_string(),
            side,
            expected: ty,
            found: c.column_type(),
        });
    }
    Ok(c)
}

/// The values of a column pair, read for the tests.
enum Values {
    Numbers(Numbers, Numbers),
    Levels(LevelCounts, LevelCounts),
}

/// Level names with counts on both sides, in a fixed order (numbers
/// ascending, names alphabetically).
struct Aligned {
    names: Vec<String>,
    reference: Vec<u64>,
    current: Vec<u64>,
}

fn align_numbers(a: &[f64], b: &[f64]) -> Aligned {
    let (ra, rb) = (runs(a), runs(b));
    let (mut i, mut j) = (0, 0);
    let mut out = Aligned {
        names: Vec::new(),
        reference: Vec::new(),
        current: Vec::new(),
    };
    while i < ra.len() || j < rb.len() {
        let v = match (ra.get(i), rb.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let take = |r: &[(f64, u64)], k: &mut usize| match r.get(*k) {
            Some(&(x, n)) if x == v => {
                *k += 1;
                n
            }
            _ => 0,
        };
        out.names.push(format!("{v}"));
        out.reference.push(take(&ra, &mut i));
        out.current.push(take(&rb, &mut j));
    }
    out
}

fn align_levels(a: &LevelCounts, b: &LevelCounts) -> Aligned {
    let mut names: Vec<&String> = a.counts.keys().chain(b.counts.keys()).collect();
    names.sort();
    names.dedup();
    Aligned {
        reference: names
            .iter()
            .map(|n| a.counts.get(*n).copied().unwrap_or(0))
            .collect(),
        current: names
            .iter()
            .map(|n| b.counts.get(*n).copied().unwrap_or(0))
            .collect(),
        names: names.into_iter().cloned().collect(),
    }
}

fn column_drift(
    reference: &Column,
    current: &Column,
    rule: Option<&FeatureRule>,
    config: &DriftConfig,
) -> Result<FeatureDrift, MonitorError> {
    let name = reference.name.clone();
    let values = match (numbers(reference), numbers(current)) {
        (Some(a), Some(b)) => Values::Numbers(a, b),
        _ => {
            let (a, b) = rayon::join(|| levels(reference), || levels(current));
            Values::Levels(a.unwrap_or_default(), b.unwrap_or_default())
        }
    };
    let (present, missing) = match &values {
        Values::Numbers(a, b) => (
            [a.sorted.len() as u64, b.sorted.len() as u64],
            [a.missing, b.missing],
        ),
        Values::Levels(a, b) => (
            [a.counts.values().sum(), b.counts.values().sum()],
            [a.missing, b.missing],
        ),
    };
    let chart = chart_of(&values, config.chart_bins);
    let summary = |side: usize| Summary {
        values: present[side],
        missing: missing[side],
        counts: chart.1[side].clone(),
    };
    let mut out = FeatureDrift {
        name: name.clone(),
        column_type: reference.column_type(),
        test: None,
        statistic: None,
        p_value: None,
        threshold: 0.0,
        drifted: false,
        reference_summary: summary(0),
        current_summary: summary(1),
        chart: chart.0,
        note: None,
    };
    if present[0] == 0 || present[1] == 0 {
        let side = if present[0] == 0 {
            "reference"
        } else {
            "current"
        };
        out.note = Some(format!("no values in the {side} data; not tested"));
        return Ok(out);
    }
    let (kind, distinct) = match &values {
        Values::Numbers(a, b) => (ValueKind::Number, distinct_union(&a.sorted, &b.sorted)),
        Values::Levels(a, b) => (ValueKind::Level, align_levels(a, b).names.len()),
    };
    let test = rule
        .and_then(FeatureRule::test)
        .unwrap_or_else(|| auto_test(kind, present[0], distinct, config.small_sample));
    let threshold = rule
        .and_then(FeatureRule::threshold)
        .unwrap_or_else(|| config.default_threshold(test));
    let not_applicable = |reason: String| MonitorError::TestNotApplicable {
        feature: name.clone(),
        test: test.name(),
        reason,
    };
    let aligned = || match &values {
        Values::Numbers(a, b) => align_numbers(&a.sorted, &b.sorted),
        Values::Levels(a, b) => align_levels(a, b),
    };
    let (statistic, p_value) = match (test, &values) {
        (DriftTest::Ks | DriftTest::Wasserstein, Values::Levels(..)) => {
            return Err(not_applicable(format!(
                "it compares numbers and '{name}' is {}; use chisquare, z, jensenshannon or psi",
                reference.column_type()
            )));
        }
        (DriftTest::Ks, Values::Numbers(a, b)) => {
            let r = ks_2samp(&a.sorted, &b.sorted).ok_or_else(|| not_applicable("empty".into()))?;
            (r.statistic, Some(r.p_value))
        }
        (DriftTest::Wasserstein, Values::Numbers(a, b)) => {
            (wasserstein_normed(&a.sorted, &b.sorted), None)
        }
        (DriftTest::Chisquare, _) => {
            let t = aligned();
            let r = chi2_contingency(&t.reference, &t.current)
                .ok_or_else(|| not_applicable("a side has no values".into()))?;
            (r.statistic, Some(r.p_value))
        }
        (DriftTest::Z, _) => {
            let t = aligned();
            if t.names.len() > 2 {
                return Err(not_applicable(format!(
                    "it compares two values and '{name}' has {} distinct ones; use chisquare or jensenshannon",
                    t.names.len()
                )));
            }
            let r = proportions_z(t.reference[0], present[0], t.current[0], present[1])
                .ok_or_else(|| not_applicable("a side has no values".into()))?;
            (r.statistic, Some(r.p_value))
        }
        (DriftTest::Psi | DriftTest::Jensenshannon, _) => {
            let (rc, cc) = match &values {
                Values::Numbers(a, b) if runs(&a.sorted).len() > 20 => {
                    let lo = a.sorted[0].min(b.sorted[0]);
                    let hi = a.sorted[a.sorted.len() - 1].max(b.sorted[b.sorted.len() - 1]);
                    let edges = equal_width_edges(lo, hi, config.bins);
                    (bin_counts(&a.sorted, &edges), bin_counts(&b.sorted, &edges))
                }
                _ => {
                    let t = aligned();
                    (t.reference, t.current)
                }
            };
            let (r, c) = shares_filled(&rc, &cc);
            if test == DriftTest::Psi {
                (psi(&r, &c), None)
            } else {
                (jensenshannon(&r, &c), None)
            }
        }
    };
    out.drifted = match p_value {
        Some(p) => p < threshold,
        None => statistic >= threshold,
    };
    out.test = Some(test);
    out.statistic = Some(statistic);
    out.p_value = p_value;
    out.threshold = threshold;
    Ok(out)
}

/// Most bars of a level chart; the rest are summed as `(other)`.
const CHART_LEVELS: usize = 15;
/// Numbers with at most this many distinct values are charted as levels.
const CHART_DISTINCT: usize = 20;

/// The chart bins and both sides' counts in them.
fn chart_of(values: &Values, bins: usize) -> (Chart, [Vec<u64>; 2]) {
    let levels_chart = |t: Aligned| {
        let (sa, sb) = (
            t.reference.iter().sum::<u64>().max(1) as f64,
            t.current.iter().sum::<u64>().max(1) as f64,
        );
        let mut order: Vec<usize> = (0..t.names.len()).collect();
        let weight = |i: usize| t.reference[i] as f64 / sa + t.current[i] as f64 / sb;
        order.sort_by(|&x, &y| weight(y).total_cmp(&weight(x)).then(x.cmp(&y)));
        let mut names = Vec::new();
        let mut counts = [Vec::new(), Vec::new()];
        for (k, &i) in order.iter().enumerate() {
            if k < CHART_LEVELS || order.len() == CHART_LEVELS + 1 {
                names.push(t.names[i].clone());
                counts[0].push(t.reference[i]);
                counts[1].push(t.current[i]);
            } else {
                if names.len() == CHART_LEVELS {
                    names.push("(other)".to_string());
                    counts[0].push(0);
                    counts[1].push(0);
                }
                counts[0][CHART_LEVELS] += t.reference[i];
                counts[1][CHART_LEVELS] += t.current[i];
            }
        }
        (Chart::Levels { levels: names }, counts)
    };
    match values {
        Values::Levels(a, b) => levels_chart(align_levels(a, b)),
        Values::Numbers(a, b) => {
            let (a, b) = (&a.sorted, &b.sorted);
            if distinct_union(a, b) <= CHART_DISTINCT {
                return levels_chart(align_numbers(a, b));
            }
            let q = |s: &[f64], p: f64| -> Option<f64> {
                (!s.is_empty()).then(|| s[((s.len() - 1) as f64 * p).round() as usize])
            };
            let lo = [q(a, 0.005), q(b, 0.005)]
                .into_iter()
                .flatten()
                .fold(f64::INFINITY, f64::min);
            let hi = [q(a, 0.995), q(b, 0.995)]
                .into_iter()
                .flatten()
                .fold(f64::NEG_INFINITY, f64::max);
            let edges = equal_width_edges(lo, hi, bins);
            let count = |s: &[f64]| {
                let mut c = bin_counts(s, &edges);
                if let (Some(first), Some(&e0), Some(&e1)) =
                    (c.first_mut(), edges.first(), edges.last())
                {
                    *first += s.partition_point(|v| *v < e0) as u64;
                    let above = s.len() - s.partition_point(|v| *v <= e1);
                    if let Some(last) = c.last_mut() {
                        *last += above as u64;
                    }
                }
                c
            };
            let counts = [count(a), count(b)];
            (Chart::Histogram { edges }, counts)
        }
    }
}
