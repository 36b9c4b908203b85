//! Schema inference: turning a data file into a schema contract.

use crate::error::Result;
use ahash::{AHashMap, AHashSet};
use fathom_core::{ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};

/// Options for [`SchemaInferrer`].
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// The label column; guessed from common names when absent.
    pub label: Option<String>,
    /// The unique row id column; guessed when absent.
    pub id: Option<String>,
    /// The event-time column; the first timestamp column when absent.
    pub timestamp: Option<String>,
    /// Categorical columns with more distinct levels than this get no
    /// category list (any level is allowed).
    pub max_categories: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        InferOptions {
            label: None,
            id: None,
            timestamp: None,
            max_categories: 1000,
        }
    }
}

const LABEL_NAMES: &[&str] = &[
    "label", "target", "y", "class", "is_fraud", "fraud", "churn", "outcome", "default",
];

#[derive(Default)]
struct ColumnState {
    rows: u64,
    nulls: u64,
    min: f64,
    max: f64,
    seen_value: bool,
    levels: AHashMap<String, u64>,
    too_many_levels: bool,
    unique: AHashSet<u64>,
    unique_possible: bool,
    binary: bool,
    positives: u64,
}

/// Accumulates what a schema contract needs over batches of a table.
pub struct SchemaInferrer {
    columns: Vec<(String, ColumnType)>,
    states: Vec<ColumnState>,
    options: InferOptions,
}

fn looks_like_id(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "id" || n == "uuid" || n.ends_with("_id") || (name.len() > 2 && name.ends_with("Id"))
}

impl SchemaInferrer {
    /// Starts inference over a table with these columns.
    pub fn new(columns: Vec<(String, ColumnType)>, options: InferOptions) -> Self {
        let states = columns
            .iter()
            .map(|(name, ty)| ColumnState {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                unique_possible: looks_like_id(name) || options.id.as_deref() == Some(name),
                binary: matches!(ty, ColumnType::Numeric | ColumnType::Bool),
                ..Default::default()
            })
            .collect();
        SchemaInferrer {
            columns,
            states,
            options,
        }
    }

    /// Feeds one batch.
    pub fn update(&mut self, frame: &Frame) -> Result<()> {
        use rayon::prelude::*;
        let max_levels = self.options.max_categories;
        let cols: Vec<&fathom_core::Column> = self
            .columns
            .iter()
            .map(|(n, _)| frame.require(n))
            .collect::<std::result::Result<_, _>>()?;
        self.states
            .par_iter_mut()
            .zip(cols.par_iter())
            .for_each(|(st, col)| {
                st.rows += col.len() as u64;
                st.nulls += col.null_count() as u64;
                match &col.data {
                    ColumnData::Numeric(v) => {
                        for (i, &x) in v.iter().enumerate() {
                            if !col.is_valid(i) || !x.is_finite() {
                                continue;
                            }
                            st.seen_value = true;
                            st.min = st.min.min(x);
                            st.max = st.max.max(x);
                            if st.binary {
                                if x == 1.0 {
                                    st.positives += 1;
                                } else if x != 0.0 {
                                    st.binary = false;
                                }
                            }
                            if st.unique_possible
                                && !st.unique.insert((if x == 0.0 { 0.0 } else { x }).to_bits())
                            {
                                st.unique_possible = false;
                                st.unique.clear();
                            }
                        }
                    }
                    ColumnData::Bool(v) => {
                        st.positives += v
                            .iter()
                            .enumerate()
                            .filter(|&(i, &b)| b && col.is_valid(i))
                            .count() as u64;
                        st.seen_value |= col.null_count() < col.len();
                    }
                    ColumnData::Timestamp(_) => st.seen_value |= col.null_count() < col.len(),
                    ColumnData::Categorical(c) => {
                        let mut counts = vec![0u64; c.dictionary.len()];
                        for (i, &code) in c.codes.iter().enumerate() {
                            if col.is_valid(i) {
                                counts[code as usize] += 1;
                            }
                        }
                        for (level, &n) in c.dictionary.iter().zip(&counts) {
                            if n == 0 {
                                continue;
                            }
                            st.seen_value = true;
                            if st.unique_possible && (n > 1 || st.levels.contains_key(level)) {
                                st.unique_possible = false;
                            }
                            if !st.too_many_levels || st.unique_possible {
                                *st.levels.entry(level.clone()).or_insert(0) += n;
                                if st.levels.len() > max_levels && !st.unique_possible {
                                    st.too_many_levels = true;
                                    st.levels.clear();
                                }
                            }
                        }
                        if st.levels.len() > max_levels {
                            st.too_many_levels = true;
                        }
                    }
                }
            });
        Ok(())
    }

    /// The contract for everything fed so far.
    pub fn finish(self) -> Schema {
        let opts = &self.options;
        let label_name = opts.label.clone().or_else(|| {
            LABEL_NAMES.iter().find_map(|cand| {
                self.columns
                    .iter()
                    .zip(&self.states)
                    .find(|((n, t), st)| {
                        n.eq_ignore_ascii_case(cand)
                            && matches!(t, ColumnType::Numeric | ColumnType::Bool)
                            && st.binary
                    })
                    .map(|((n, _), _)| n.clone())
            })
        });
        let ts_name = opts.timestamp.clone().or_else(|| {
            self.columns
                .iter()
                .find(|(_, t)| *t == ColumnType::Timestamp)
                .map(|(n, _)| n.clone())
        });
        let id_name = opts.id.clone().or_else(|| {
            self.columns
                .iter()
                .zip(&self.states)
                .find(|((n, _), st)| {
                    looks_like_id(n) && st.unique_possible && st.nulls == 0 && st.rows > 1
                })
                .map(|((n, _), _)| n.clone())
        });
        let mut specs = Vec::with_capacity(self.columns.len());
        for ((name, ty), st) in self.columns.iter().zip(&self.states) {
            let role = if Some(name) == label_name.as_ref() {
                Role::Label
            } else if Some(name) == id_name.as_ref() {
                Role::Id
            } else if Some(name) == ts_name.as_ref() && *ty == ColumnType::Timestamp {
                Role::Timestamp
            } else if looks_like_id(name) {
                Role::Key
            } else {
                Role::Feature
            };
            let mut spec = ColumnSpec::new(name.clone(), *ty, role);
            let null_rate = if st.rows == 0 {
                0.0
            } else {
                st.nulls as f64 / st.rows as f64
            };
            spec.nullable = st.nulls > 0;
            if null_rate > 0.05 {
                // Allow this column the share of nulls it has, with
                // headroom: half again plus a point, but never more than
                // halfway to all-null, so the check stays on for a mostly
                // null column.
                let limit = (null_rate * 1.5 + 0.01).min(null_rate + (1.0 - null_rate) / 2.0);
                spec.max_null_rate = Some((limit * 1e4 - 1e-6).ceil().min(1e4) / 1e4);
            }
            match role {
                Role::Feature if *ty == ColumnType::Numeric && st.seen_value => {
                    let span = st.max - st.min;
                    let pad = if span > 0.0 {
                        0.5 * span
                    } else {
                        0.5 * st.min.abs().max(1.0)
                    };
                    let mut lo = st.min - pad;
                    if st.min >= 0.0 {
                        lo = lo.max(0.0);
                    }
                    spec.min = Some(lo);
                    spec.max = Some(st.max + pad);
                }
                Role::Feature if *ty == ColumnType::Categorical && !st.too_many_levels => {
                    let mut levels: Vec<String> = st.levels.keys().cloned().collect();
                    levels.sort();
                    spec.categories = Some(levels);
                }
                Role::Label if st.binary && st.rows > st.nulls => {
                    let p = st.positives as f64 / (st.rows - st.nulls) as f64;
                    spec.positive_rate_min = Some(round6(p / 2.0));
                    spec.positive_rate_max = Some(round6((p * 2.0).min(1.0)));
                    spec.nullable = false;
                    spec.max_null_rate = None;
                }
                _ => {}
            }
            specs.push(spec);
        }
        Schema::new(specs)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Infers a contract from every batch of a reader.
pub fn infer_schema(
    reader: impl Iterator<Item = Result<Frame>>,
    columns: Vec<(String, ColumnType)>,
    options: InferOptions,
) -> Result<Schema> {
    let mut inf = SchemaInferrer::new(columns, options);
    for batch in reader {
        inf.update(&batch?)?;
    }
    Ok(inf.finish())
}
