//! Data quality of a window of inputs against the model's contract: null
//! rate per feature, values outside the expected range, categories never
//! seen in training, a changed schema, an unusual number of records and
//! stale data. Read from the `[monitor.quality]` table of `fathom.toml`:
//!
//! ```toml
//! [monitor.quality]
//! null_rate = 0.05          # null share of a feature above which it is flagged
//! out_of_range = 0.01       # share of values outside the expected range
//! unseen = 0.01             # share of values in categories never seen
//! freshness_minutes = 15    # age of the newest record above which data is stale
//! volume_low = 0.5          # rows ÷ median of previous windows' rows below this …
//! volume_high = 2.0         # … or above this is a volume anomaly
//! ```
//!
//! The expectations per feature come from the schema (`min`/`max`,
//! `categories`, `max_null_rate`); a feature whose schema entry has no
//! range or categories takes them from the reference data when one is
//! given (its smallest and largest value, the levels it has).
//!
//! Nothing here fails on odd data: an empty window, an all-null feature, a
//! feature absent from the data or of another type are findings, and the
//! rest is still checked. Errors are only for invalid settings.

use crate::MonitorError;
use crate::sample::levels;
use fathom_core::{Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Unseen levels listed per feature (the most frequent ones).
const TOP_UNSEEN: usize = 5;

/// Settings of the data-quality checks. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// A feature whose null share is above this is flagged. A feature whose
    /// schema entry allows more nulls (`max_null_rate`) is held to that.
    pub null_rate: f64,
    /// A feature whose share of present values outside the expected range
    /// is above this is flagged.
    pub out_of_range: f64,
    /// A categorical feature whose share of present values in categories
    /// never seen is above this is flagged.
    pub unseen: f64,
    /// Data is stale when the newest record is older than this many minutes.
    pub freshness_minutes: f64,
    /// The window's row count divided by the median row count of the
    /// previous equal windows below this is a volume anomaly.
    pub volume_low: f64,
    /// … and above this too.
    pub volume_high: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            null_rate: 0.05,
            out_of_range: 0.01,
            unseen: 0.01,
            freshness_minutes: 15.0,
            volume_low: 0.5,
            volume_high: 2.0,
        }
    }
}

impl QualityConfig {
    /// Checks the settings: shares in `[0, 1)`, a positive freshness, and
    /// `0 ≤ volume_low < 1 < volume_high`.
    pub fn check(&self) -> Result<(), MonitorError> {
        let bad = |detail: String| {
            Err(MonitorError::Settings {
                section: "quality",
                detail,
            })
        };
        for (name, v, default) in [
            ("null_rate", self.null_rate, "0.05"),
            ("out_of_range", self.out_of_range, "0.01"),
            ("unseen", self.unseen, "0.01"),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!(
                    "{name} is {v}; it is a share and must lie in [0, 1) (default {default})"
                ));
            }
        }
        if !(self.freshness_minutes > 0.0 && self.freshness_minutes.is_finite()) {
            return bad(format!(
                "freshness_minutes is {}; give a positive number of minutes (default 15)",
                self.freshness_minutes
            ));
        }
        if !(self.volume_low >= 0.0 && self.volume_low < 1.0) {
            return bad(format!(
                "volume_low is {}; it is a ratio to the usual volume and must lie in [0, 1) (default 0.5)",
                self.volume_low
            ));
        }
        if !(self.volume_high > 1.0 && self.volume_high.is_finite()) {
            return bad(format!(
                "volume_high is {}; it is a ratio to the usual volume and must be above 1 (default 2)",
                self.volume_high
            ));
        }
        Ok(())
    }
}

/// What the caller knows about the window besides its rows. Times are
/// milliseconds since the Unix epoch; nothing here reads a clock.
#[derive(Debug, Clone, Default)]
pub struct QualityContext<'a> {
    /// The time the check is made.
    pub now_ms: i64,
    /// Time of the newest record seen (in this window or before); `None`
    /// when unknown, which skips the freshness check.
    pub newest_ms: Option<i64>,
    /// The hash of the contract the model expects; the schema's own
    /// [`Schema::hash`] when `None`.
    pub expected_schema_hash: Option<String>,
    /// The hash of the contract the data was produced under; `None` skips
    /// the schema-change check.
    pub current_schema_hash: Option<String>,
    /// How the data's schema differs from the model's, for people (e.g.
    /// "new field 'device_os'"); shown with a schema-change finding.
    pub schema_differences: Vec<String>,
    /// Row counts of the previous windows of the same length, for the
    /// volume check; empty skips it.
    pub previous_counts: Vec<u64>,
    /// Reference data (e.g. the training data) for features whose schema
    /// entry has no range or categories.
    pub reference: Option<&'a Frame>,
}

/// Which check a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityCheck {
    /// The window holds no records.
    EmptyWindow,
    /// A feature of the contract is absent from the data.
    MissingFeature,
    /// A feature has another type in the data than in the contract.
    TypeMismatch,
    /// A feature's null share is above its limit.
    NullRate,
    /// Too many values outside the expected range.
    OutOfRange,
    /// Too many values in categories never seen.
    UnseenCategories,
    /// The data's schema hash differs from the model's.
    SchemaChanged,
    /// Far fewer records than usual.
    VolumeLow,
    /// Far more records than usual.
    VolumeHigh,
    /// The newest record is too old.
    Freshness,
}

impl QualityCheck {
    /// The snake-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            QualityCheck::EmptyWindow => "empty_window",
            QualityCheck::MissingFeature => "missing_feature",
            QualityCheck::TypeMismatch => "type_mismatch",
            QualityCheck::NullRate => "null_rate",
            QualityCheck::OutOfRange => "out_of_range",
            QualityCheck::UnseenCategories => "unseen_categories",
            QualityCheck::SchemaChanged => "schema_changed",
            QualityCheck::VolumeLow => "volume_low",
            QualityCheck::VolumeHigh => "volume_high",
            QualityCheck::Freshness => "freshness",
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityFinding {
    /// The check that failed.
    pub check: QualityCheck,
    /// The feature concerned, for per-feature checks.
    pub feature: Option<String>,
    /// The measured value (a share, a ratio, minutes), when there is one.
    pub value: Option<f64>,
    /// The limit it broke, when there is one.
    pub threshold: Option<f64>,
    /// A sentence for people.
    pub message: String,
}

/// Where an expectation (range or categories) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The schema's `min`/`max` or `categories`.
    Schema,
    /// The reference data's values.
    Reference,
}

/// The expected range of a numeric feature (either end may be open).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueRange {
    /// Smallest expected value.
    pub min: Option<f64>,
    /// Largest expected value.
    pub max: Option<f64>,
    /// Where the range comes from.
    pub source: Source,
}

impl ValueRange {
    fn contains(&self, v: f64) -> bool {
        !(self.min.is_some_and(|m| v < m) || self.max.is_some_and(|m| v > m))
    }
}

/// A category seen in the window but not expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnseenLevel {
    /// The level.
    pub value: String,
    /// Rows holding it.
    pub count: u64,
}

/// The quality figures of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQuality {
    /// Feature name.
    pub name: String,
    /// Its type in the contract.
    pub column_type: ColumnType,
    /// Whether the data has the feature with the contract's type; when not,
    /// the figures below are empty and a finding says why.
    pub checked: bool,
    /// Rows in the window.
    pub rows: u64,
    /// Null rows (NaN counts as null).
    pub nulls: u64,
    /// `nulls / rows`; absent for an empty window.
    pub null_rate: Option<f64>,
    /// The null share above which the feature is flagged.
    pub null_limit: f64,
    /// The expected range (numeric features with one).
    pub range: Option<ValueRange>,
    /// Present values outside the range.
    pub out_of_range: u64,
    /// `out_of_range / present values`; absent without a range or values.
    pub out_of_range_share: Option<f64>,
    /// Where the expected categories come from (categorical features with
    /// them).
    pub categories_source: Option<Source>,
    /// Rows holding a category never seen.
    pub unseen: u64,
    /// Distinct categories never seen.
    pub unseen_levels: u64,
    /// `unseen / present values`; absent without categories or values.
    pub unseen_share: Option<f64>,
    /// The most frequent unseen categories (at most five), most frequent
    /// first.
    pub unseen_top: Vec<UnseenLevel>,
}

/// The schema-hash comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaCheck {
    /// The hash the model expects.
    pub expected: String,
    /// The hash of the data's contract, when known.
    pub current: Option<String>,
    /// Whether they differ; absent when the current hash is unknown.
    pub changed: Option<bool>,
}

/// The volume comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeCheck {
    /// Rows in the window.
    pub rows: u64,
    /// Median row count of the previous windows, when there were some.
    pub previous_median: Option<f64>,
    /// `rows / previous_median`; absent without previous windows or when
    /// their median is 0.
    pub ratio: Option<f64>,
}

/// The data-quality report of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Rows in the window.
    pub rows: u64,
    /// Every feature of the contract, in schema order.
    pub features: Vec<FeatureQuality>,
    /// The schema-hash comparison.
    pub schema: SchemaCheck,
    /// The volume comparison.
    pub volume: VolumeCheck,
    /// Minutes since the newest record (0 when it is in the future);
    /// absent when its time is unknown.
    pub freshness_minutes: Option<f64>,
    /// Every failed check.
    pub findings: Vec<QualityFinding>,
    /// Checks that could not be made, and why.
    pub notes: Vec<String>,
    /// Whether every check passed.
    pub ok: bool,
}

impl QualityReport {
    /// Flat named values for alert rules: `null_rate:<feature>`,
    /// `null_rate_max`, `null_excess:<feature>` (null rate minus the
    /// feature's limit), `out_of_range_share:<feature>`,
    /// `unseen_share:<feature>`, `schema_changed` (0 or 1), `volume_ratio`,
    /// `freshness_minutes` and `quality_findings` (the count). A value that
    /// could not be computed is left out.
    pub fn signals(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut max: Option<f64> = None;
        for f in &self.features {
            if let Some(r) = f.null_rate {
                out.push((format!("null_rate:{}", f.name), r));
                max = Some(max.map_or(r, |m| m.max(r)));
            }
        }
        if let Some(m) = max {
            out.push(("null_rate_max".to_string(), m));
        }
        // Above zero when a feature has more nulls than its limit (the
        // configured rate, or the contract's own when higher).
        for f in &self.features {
            if let Some(r) = f.null_rate {
                out.push((format!("null_excess:{}", f.name), r - f.null_limit));
            }
        }
        for f in &self.features {
            if let Some(s) = f.out_of_range_share {
                out.push((format!("out_of_range_share:{}", f.name), s));
            }
        }
        for f in &self.features {
            if let Some(s) = f.unseen_share {
                out.push((format!("unseen_share:{}", f.name), s));
            }
        }
        if let Some(c) = self.schema.changed {
            out.push(("schema_changed".to_string(), f64::from(u8::from(c))));
        }
        if let Some(r) = self.volume.ratio {
            out.push(("volume_ratio".to_string(), r));
        }
        if let Some(m) = self.freshness_minutes {
            out.push(("freshness_minutes".to_string(), m));
        }
        out.push(("quality_findings".to_string(), self.findings.len() as f64));
        out
    }
}

/// Checks the quality of `current`, a window of inputs, against the
/// contract `schema` (its columns with role `feature`).
///
/// Errors only on invalid settings; everything about the data is reported
/// as findings.
pub fn quality(
    current: &Frame,
    schema: &Schema,
    context: &QualityContext<'_>,
    config: &QualityConfig,
) -> Result<QualityReport, MonitorError> {
    config.check()?;
    let rows = current.num_rows() as u64;
    let mut findings = Vec::new();
    let mut notes = Vec::new();

    if rows == 0 {
        findings.push(QualityFinding {
            check: QualityCheck::EmptyWindow,
            feature: None,
            value: Some(0.0),
            threshold: None,
            message: "no records in the window; per-feature checks were skipped".to_string(),
        });
    }

    let specs: Vec<&ColumnSpec> = schema
        .columns
        .iter()
        .filter(|c| c.role == Role::Feature)
        .collect();
    let checked: Vec<(FeatureQuality, Vec<QualityFinding>, Vec<String>)> = specs
        .par_iter()
        .map(|spec| feature_quality(current, spec, context.reference, config))
        .collect();
    let mut features = Vec::with_capacity(checked.len());
    for (f, found, noted) in checked {
        if rows > 0 {
            findings.extend(found);
        }
        notes.extend(noted);
        features.push(f);
    }

    let expected = context
        .expected_schema_hash
        .clone()
        .unwrap_or_else(|| schema.hash());
    let changed = context.current_schema_hash.as_ref().map(|c| *c != expected);
    if changed == Some(true) {
        findings.push(QualityFinding {
            check: QualityCheck::SchemaChanged,
            feature: None,
            value: None,
            threshold: None,
            message: format!(
                "the data's schema hash {} differs from the model's {}; the inputs were produced under another contract{}",
                short(context.current_schema_hash.as_deref().unwrap_or_default()),
                short(&expected),
                if context.schema_differences.is_empty() {
                    String::new()
                } else {
                    format!(": {}", context.schema_differences.join(", "))
                }
            ),
        });
    }
    if changed.is_none() {
        notes.push("the data's schema hash is unknown; schema change not checked".to_string());
    }

    let previous_median = median(&context.previous_counts);
    let ratio = match previous_median {
        Some(m) if m > 0.0 => Some(rows as f64 / m),
        Some(_) => {
            notes.push("the previous windows had no records; volume not compared".to_string());
            None
        }
        None => {
            notes.push("no previous windows; volume not compared".to_string());
            None
        }
    };
    if let (Some(r), Some(m)) = (ratio, previous_median) {
        let (check, threshold, word) = if r < config.volume_low {
            (Some(QualityCheck::VolumeLow), config.volume_low, "below")
        } else if r > config.volume_high {
            (Some(QualityCheck::VolumeHigh), config.volume_high, "above")
        } else {
            (None, 0.0, "")
        };
        if let Some(check) = check {
            findings.push(QualityFinding {
                check,
                feature: None,
                value: Some(r),
                threshold: Some(threshold),
                message: format!(
                    "{rows} records against a usual {m} (median of {} previous windows): ratio {} is {word} {threshold}",
                    context.previous_counts.len(),
                    round4(r)
                ),
            });
        }
    }

    let freshness_minutes = context
        .newest_ms
        .map(|t| (context.now_ms.saturating_sub(t)).max(0) as f64 / 60_000.0);
    match freshness_minutes {
        Some(m) if m > config.freshness_minutes => findings.push(QualityFinding {
            check: QualityCheck::Freshness,
            feature: None,
            value: Some(m),
            threshold: Some(config.freshness_minutes),
            message: format!(
                "the newest record is {} minutes old, more than {}; is the data still flowing?",
                round4(m),
                config.freshness_minutes
            ),
        }),
        Some(_) => {}
        None => {
            notes.push("the time of the newest record is unknown; freshness not checked".into())
        }
    }

    let ok = findings.is_empty();
    Ok(QualityReport {
        rows,
        features,
        schema: SchemaCheck {
            expected,
            current: context.current_schema_hash.clone(),
            changed,
        },
        volume: VolumeCheck {
            rows,
            previous_median,
            ratio,
        },
        freshness_minutes,
        findings,
        notes,
        ok,
    })
}

/// The first 12 characters of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A number rounded to four decimals, for messages.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// The median of counts (the mean of the middle two for an even number).
fn median(counts: &[u64]) -> Option<f64> {
    if counts.is_empty() {
        return None;
    }
    let mut v = counts.to_vec();
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    })
}

/// An empty record of a feature (not checked, or nothing to check).
fn blank(spec: &ColumnSpec, null_limit: f64) -> FeatureQuality {
    FeatureQuality {
        name: spec.name.clone(),
        column_type: spec.column_type,
        checked: false,
        rows: 0,
        nulls: 0,
        null_rate: None,
        null_limit,
        range: None,
        out_of_range: 0,
        out_of_range_share: None,
        categories_source: None,
        unseen: 0,
        unseen_levels: 0,
        unseen_share: None,
        unseen_top: Vec::new(),
    }
}

/// Checks one feature: its figures, its findings and notes.
fn feature_quality(
    current: &Frame,
    spec: &ColumnSpec,
    reference: Option<&Frame>,
    config: &QualityConfig,
) -> (FeatureQuality, Vec<QualityFinding>, Vec<String>) {
    let null_limit = config.null_rate.max(spec.max_null_rate.unwrap_or(0.0));
    let mut out = blank(spec, null_limit);
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let name = &spec.name;
    let Some(column) = current.column(name) else {
        findings.push(QualityFinding {
            check: QualityCheck::MissingFeature,
            feature: Some(name.clone()),
            value: None,
            threshold: None,
            message: format!(
                "feature '{name}' is in the contract but not in the data; the model sees it as missing on every record"
            ),
        });
        return (out, findings, notes);
    };
    if column.column_type() != spec.column_type {
        findings.push(QualityFinding {
            check: QualityCheck::TypeMismatch,
            feature: Some(name.clone()),
            value: None,
            threshold: None,
            message: format!(
                "feature '{name}' is {} in the data but {} in the contract; it was not checked further",
                column.column_type(),
                spec.column_type
            ),
        });
        return (out, findings, notes);
    }
    out.checked = true;
    let rows = column.len() as u64;
    out.rows = rows;
    if rows == 0 {
        return (out, findings, notes);
    }
    let reference_column = reference
        .and_then(|r| r.column(name))
        .filter(|c| c.column_type() == spec.column_type);
    if reference.is_some() && reference_column.is_none() && needs_reference(spec) {
        notes.push(format!(
            "feature '{name}': the reference data has no {} column of that name; no expected {}",
            spec.column_type,
            if spec.column_type == ColumnType::Numeric {
                "range"
            } else {
                "categories"
            }
        ));
    }

    let present: u64 = match &column.data {
        ColumnData::Numeric(values) => {
            let range = if spec.min.is_some() || spec.max.is_some() {
                Some(ValueRange {
                    min: spec.min,
                    max: spec.max,
                    source: Source::Schema,
                })
            } else {
                reference_column.and_then(reference_range)
            };
            let (mut present, mut outside) = (0u64, 0u64);
            for (i, &v) in values.iter().enumerate() {
                if column.is_valid(i) && !v.is_nan() {
                    present += 1;
                    if range.is_some_and(|r| !r.contains(v)) {
                        outside += 1;
                    }
                }
            }
            out.range = range;
            if let Some(r) = range {
                out.out_of_range = outside;
                if present > 0 {
                    let share = outside as f64 / present as f64;
                    out.out_of_range_share = Some(share);
                    if share > config.out_of_range {
                        findings.push(QualityFinding {
                            check: QualityCheck::OutOfRange,
                            feature: Some(name.clone()),
                            value: Some(share),
                            threshold: Some(config.out_of_range),
                            message: format!(
                                "feature '{name}': {outside} of {present} values ({}) lie outside [{}, {}] ({} range)",
                                percent(share),
                                r.min.map_or("-inf".into(), |m| m.to_string()),
                                r.max.map_or("inf".into(), |m| m.to_string()),
                                if r.source == Source::Schema { "the contract's" } else { "the reference's" }
                            ),
                        });
                    }
                }
            }
            present
        }
        ColumnData::Categorical(_) => {
            let counts = levels(column).unwrap_or_default();
            let present: u64 = counts.counts.values().sum();
            let expected: Option<(HashSet<String>, Source)> = match &spec.categories {
                Some(c) => Some((c.iter().cloned().collect(), Source::Schema)),
                None => reference_column
                    .and_then(levels)
                    .map(|l| (l.counts.into_keys().collect(), Source::Reference)),
            };
            if let Some((allowed, source)) = expected {
                let mut unseen: Vec<UnseenLevel> = counts
                    .counts
                    .iter()
                    .filter(|(level, _)| !allowed.contains(*level))
                    .map(|(level, &count)| UnseenLevel {
                        value: level.clone(),
                        count,
                    })
                    .collect();
                unseen.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                out.categories_source = Some(source);
                out.unseen = unseen.iter().map(|u| u.count).sum();
                out.unseen_levels = unseen.len() as u64;
                if present > 0 {
                    let share = out.unseen as f64 / present as f64;
                    out.unseen_share = Some(share);
                    if share > config.unseen {
                        let listed: Vec<String> = unseen
                            .iter()
                            .take(TOP_UNSEEN)
                            .map(|u| format!("'{}' ({})", u.value, u.count))
                            .collect();
                        findings.push(QualityFinding {
                            check: QualityCheck::UnseenCategories,
                            feature: Some(name.clone()),
                            value: Some(share),
                            threshold: Some(config.unseen),
                            message: format!(
                                "feature '{name}': {} of {present} values ({}) are in {} categor{} {}: {}",
                                out.unseen,
                                percent(share),
                                unseen.len(),
                                if unseen.len() == 1 { "y" } else { "ies" },
                                if source == Source::Schema { "not in the contract" } else { "never seen in the reference" },
                                listed.join(", ")
                            ),
                        });
                    }
                }
                unseen.truncate(TOP_UNSEEN);
                out.unseen_top = unseen;
            }
            present
        }
        ColumnData::Bool(_) | ColumnData::Timestamp(_) => {
            (0..column.len()).filter(|&i| column.is_valid(i)).count() as u64
        }
    };
    out.nulls = rows - present;
    let null_rate = out.nulls as f64 / rows as f64;
    out.null_rate = Some(null_rate);
    if null_rate > null_limit {
        let message = if present == 0 {
            format!("feature '{name}' is null on every one of the {rows} records")
        } else {
            format!(
                "feature '{name}': {} of {rows} records are null ({}), above the limit of {}",
                out.nulls,
                percent(null_rate),
                percent(null_limit)
            )
        };
        findings.push(QualityFinding {
            check: QualityCheck::NullRate,
            feature: Some(name.clone()),
            value: Some(null_rate),
            threshold: Some(null_limit),
            message,
        });
    }
    (out, findings, notes)
}

/// Whether a feature would take an expectation from the reference data.
fn needs_reference(spec: &ColumnSpec) -> bool {
    match spec.column_type {
        ColumnType::Numeric => spec.min.is_none() && spec.max.is_none(),
        ColumnType::Categorical => spec.categories.is_none(),
        ColumnType::Bool | ColumnType::Timestamp => false,
    }
}

/// The smallest and largest finite value of a reference column.
fn reference_range(column: &Column) -> Option<ValueRange> {
    let ColumnData::Numeric(values) = &column.data else {
        return None;
    };
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if column.is_valid(i) && v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some(ValueRange {
        min: Some(lo),
        max: Some(hi),
        source: Source::Reference,
    })
}

/// A share as a percentage with up to two decimals.
fn percent(share: f64) -> String {
    format!("{}%", (share * 1e4).round() / 1e2)
}
