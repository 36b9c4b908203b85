//! Checking data against a schema contract, batch by batch.

use crate::error::Result;
use crate::ingest::{BadValuePolicy, BadValues, ReadOptions, open};
use ahash::{AHashMap, AHashSet};
use fathom_core::{Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// The kinds of check a contract makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A contract column is not in the data.
    MissingColumn,
    /// The data has a column the contract does not declare.
    ExtraColumn,
    /// A column or value has the wrong type.
    TypeMismatch,
    /// A non-nullable column has nulls.
    NotNullable,
    /// A column has more nulls than allowed.
    NullRate,
    /// Numeric values outside the declared range.
    OutOfRange,
    /// Categorical levels the contract does not list.
    UnseenCategory,
    /// The id column repeats a value.
    DuplicateId,
    /// The label's positive rate is outside the expected range, or the label is not 0/1.
    LabelRate,
    /// The data has no rows.
    NoRows,
}

impl Check {
    /// A short readable name.
    pub fn title(self) -> &'static str {
        match self {
            Check::MissingColumn => "missing column",
            Check::ExtraColumn => "extra column",
            Check::TypeMismatch => "type mismatch",
            Check::NotNullable => "null in non-nullable column",
            Check::NullRate => "null rate too high",
            Check::OutOfRange => "out of range",
            Check::UnseenCategory => "unseen category",
            Check::DuplicateId => "duplicate id",
            Check::LabelRate => "label rate",
            Check::NoRows => "no rows",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Which check.
    pub check: Check,
    /// The column, if the check is about one.
    pub column: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
    /// How many values or rows are affected.
    pub count: u64,
    /// A few examples, e.g. `row 17: 'abc'`.
    pub examples: Vec<String>,
}

/// Per-column figures from a validation run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// Type in the contract.
    pub column_type: ColumnType,
    /// Role in the contract.
    pub role: Role,
    /// Null values.
    pub nulls: u64,
    /// Share of nulls.
    pub null_rate: f64,
    /// Whether every check on this column passed.
    pub ok: bool,
}

/// The outcome of validating a table against a contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    /// What was validated (a file path, or a description).
    pub source: String,
    /// Rows read.
    pub rows: u64,
    /// Hash of the contract used.
    pub schema_hash: String,
    /// Whether there are no violations.
    pub passed: bool,
    /// Every broken rule.
    pub violations: Vec<Violation>,
    /// Per-column figures, in contract order.
    pub columns: Vec<ColumnSummary>,
}

#[derive(Default)]
struct State {
    nulls: u64,
    out_of_range: u64,
    range_examples: Vec<String>,
    unseen: AHashMap<String, (u64, u64)>,
    ids: AHashSet<u64>,
    id_strings: AHashSet<String>,
    duplicates: u64,
    dup_examples: Vec<String>,
    positives: u64,
    non_binary: u64,
    non_binary_examples: Vec<String>,
}

struct Target {
    spec: ColumnSpec,
    /// Index in the data's columns, if present with the right type.
    present: Option<usize>,
    allowed: Option<AHashSet<String>>,
}

/// Validates batches of one table against a contract.
pub struct Validator {
    schema: Schema,
    targets: Vec<Target>,
    states: Vec<State>,
    structural: Vec<Violation>,
    rows: u64,
}

fn push_example(v: &mut Vec<String>, s: impl FnOnce() -> String) {
    if v.len() < 5 {
        v.push(s());
    }
}

fn show(x: f64) -> String {
    let mut b = Vec::new();
    crate::export::push_number(&mut b, x);
    String::from_utf8(b).unwrap_or_default()
}

impl Validator {
    /// Starts validating a table whose columns are `data_columns`.
    pub fn new(schema: &Schema, data_columns: &[(String, ColumnType)]) -> Self {
        let mut structural = Vec::new();
        let mut targets = Vec::new();
        for spec in &schema.columns {
            let found = data_columns.iter().position(|(n, _)| n == &spec.name);
            let present = match found {
                None => {
                    let near: Vec<&str> = data_columns
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .filter(|n| schema.column(n).is_none())
                        .collect();
                    structural.push(Violation {
                        check: Check::MissingColumn,
                        column: Some(spec.name.clone()),
                        message: if near.is_empty() {
                            format!("the contract requires column '{}' ({}), but the data has no such column", spec.name, spec.column_type)
                        } else {
                            format!(
                                "the contract requires column '{}' ({}), but the data has no such column; undeclared columns in the data: {}",
                                spec.name,
                                spec.column_type,
                                near.join(", ")
                            )
                        },
                        count: 1,
                        examples: vec![],
                    });
                    None
                }
                Some(i) if data_columns[i].1 != spec.column_type => {
                    structural.push(Violation {
                        check: Check::TypeMismatch,
                        column: Some(spec.name.clone()),
                        message: format!(
                            "column '{}' is {} in the data but {} in the contract; convert the column or update the contract",
                            spec.name, data_columns[i].1, spec.column_type
                        ),
                        count: 1,
                        examples: vec![],
                    });
                    None
                }
                Some(i) => Some(i),
            };
            let allowed = spec
                .categories
                .as_ref()
                .map(|c| c.iter().cloned().collect());
            targets.push(Target {
                spec: spec.clone(),
                present,
                allowed,
            });
        }
        for (name, ty) in data_columns {
            if schema.column(name).is_none() {
                structural.push(Violation {
                    check: Check::ExtraColumn,
                    column: Some(name.clone()),
                    message: format!(
                        "the data has column '{name}' ({ty}) that the contract does not declare; drop it, or add it to the contract (role = \"ignore\" to carry it unused)"
                    ),
                    count: 1,
                    examples: vec![],
                });
            }
        }
        let states = targets.iter().map(|_| State::default()).collect();
        Validator {
            schema: schema.clone(),
            targets,
            states,
            structural,
            rows: 0,
        }
    }

    /// Checks one batch; `first_row` is the 1-based row number of its first row.
    pub fn update(&mut self, frame: &Frame) {
        let first_row = self.rows + 1;
        self.rows += frame.num_rows() as u64;
        self.targets
            .par_iter()
            .zip(self.states.par_iter_mut())
            .for_each(|(t, st)| {
                if let Some(col) = t.present.and_then(|i| frame.columns().get(i)) {
                    check_column(t, st, col, first_row);
                }
            });
    }

    /// The report, including values that did not parse (`bad`).
    pub fn finish(self, source: &str, bad: &BadValues) -> ValidationReport {
        let mut violations = self.structural;
        let rows = self.rows;
        if rows == 0 {
            violations.push(Violation {
                check: Check::NoRows,
                column: None,
                message: "the data has no rows; check the export that produced it".into(),
                count: 0,
                examples: vec![],
            });
        }
        let mut columns = Vec::new();
        for (t, st) in self.targets.iter().zip(&self.states) {
            let spec = &t.spec;
            let name = &spec.name;
            let before = violations.len();
            if let Some(b) = bad.columns.get(name) {
                violations.push(Violation {
                    check: Check::TypeMismatch,
                    column: Some(name.clone()),
                    message: format!(
                        "{} value(s) in column '{name}' are not {}; fix them at the source or change the column's type in the contract",
                        b.count, spec.column_type
                    ),
                    count: b.count,
                    examples: b.examples.iter().map(|(r, c)| format!("row {r}: '{c}'")).collect(),
                });
            }
            let bad_count = bad.columns.get(name).map_or(0, |b| b.count);
            let nulls = st.nulls.saturating_sub(bad_count);
            let rate = if rows == 0 {
                0.0
            } else {
                nulls as f64 / rows as f64
            };
            if t.present.is_some() {
                if !spec.nullable && nulls > 0 {
                    violations.push(Violation {
                        check: Check::NotNullable,
                        column: Some(name.clone()),
                        message: format!("column '{name}' must not be null, but {nulls} row(s) are; fill them or set nullable = true"),
                        count: nulls,
                        examples: vec![],
                    });
                } else if spec.nullable && rate > self.schema.null_rate_limit(spec) {
                    violations.push(Violation {
                        check: Check::NullRate,
                        column: Some(name.clone()),
                        message: format!(
                            "column '{name}' is {:.2}% null, over the limit of {:.2}%; find why values are missing or raise max_null_rate",
                            rate * 100.0,
                            self.schema.null_rate_limit(spec) * 100.0
                        ),
                        count: nulls,
                        examples: vec![],
                    });
                }
            }
            if st.out_of_range > 0 {
                violations.push(Violation {
                    check: Check::OutOfRange,
                    column: Some(name.clone()),
                    message: format!(
                        "{} value(s) in column '{name}' lie outside [{}, {}]; check the source, or widen min/max in the contract",
                        st.out_of_range,
                        spec.min.map_or("-inf".into(), show),
                        spec.max.map_or("inf".into(), show)
                    ),
                    count: st.out_of_range,
                    examples: st.range_examples.clone(),
                });
            }
            if !st.unseen.is_empty() {
                let mut levels: Vec<(&String, &(u64, u64))> = st.unseen.iter().collect();
                levels.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
                let count = levels.iter().map(|l| l.1.0).sum();
                violations.push(Violation {
                    check: Check::UnseenCategory,
                    column: Some(name.clone()),
                    message: format!(
                        "column '{name}' has {} level(s) the contract does not list ({count} rows); add them to categories if they are legitimate",
                        levels.len()
                    ),
                    count,
                    examples: levels.iter().take(5).map(|(l, (n, r))| format!("'{l}' ×{n} (first at row {r})")).collect(),
                });
            }
            if st.duplicates > 0 {
                violations.push(Violation {
                    check: Check::DuplicateId,
                    column: Some(name.clone()),
                    message: format!("id column '{name}' repeats {} value(s); ids must be unique: deduplicate the data", st.duplicates),
                    count: st.duplicates,
                    examples: st.dup_examples.clone(),
                });
            }
            if spec.role == Role::Label && t.present.is_some() {
                let labelled = rows.saturating_sub(st.nulls);
                if st.non_binary > 0 {
                    violations.push(Violation {
                        check: Check::LabelRate,
                        column: Some(name.clone()),
                        message: format!("label '{name}' has {} value(s) other than 0 and 1; a binary label must be 0 or 1", st.non_binary),
                        count: st.non_binary,
                        examples: st.non_binary_examples.clone(),
                    });
                } else if labelled > 0 {
                    let p = st.positives as f64 / labelled as f64;
                    let lo = spec.positive_rate_min.unwrap_or(0.0);
                    let hi = spec.positive_rate_max.unwrap_or(1.0);
                    if p < lo || p > hi {
                        violations.push(Violation {
                            check: Check::LabelRate,
                            column: Some(name.clone()),
                            message: format!(
                                "label '{name}' is positive in {:.3}% of rows, outside the expected {:.3}%–{:.3}%; check the labelling, or update positive_rate_min/max",
                                p * 100.0,
                                lo * 100.0,
                                hi * 100.0
                            ),
                            count: st.positives,
                            examples: vec![],
                        });
                    }
                }
            }
            columns.push(ColumnSummary {
                name: name.clone(),
                column_type: spec.column_type,
                role: spec.role,
                nulls,
                null_rate: rate,
                ok: violations.len() == before && !structural_mentions(&violations, name),
            });
        }
        ValidationReport {
            source: source.to_string(),
            rows,
            schema_hash: self.schema.hash(),
            passed: violations.is_empty(),
            violations,
            columns,
        }
    }
}

fn structural_mentions(violations: &[Violation], name: &str) -> bool {
    violations.iter().any(|v| {
        v.column.as_deref() == Some(name)
            && matches!(v.check, Check::MissingColumn | Check::TypeMismatch)
    })
}

fn check_column(t: &Target, st: &mut State, col: &Column, first_row: u64) {
    let spec = &t.spec;
    st.nulls += col.null_count() as u64;
    match &col.data {
        ColumnData::Numeric(v) => {
            let ranged = spec.min.is_some() || spec.max.is_some();
            let is_id = spec.role == Role::Id;
            let is_label = spec.role == Role::Label;
            for (i, &x) in v.iter().enumerate() {
                if !col.is_valid(i) {
                    continue;
                }
                if ranged && !spec.in_range(x) {
                    st.out_of_range += 1;
                    push_example(&mut st.range_examples, || {
                        format!("row {}: {}", first_row + i as u64, show(x))
                    });
                }
                if is_id && !st.ids.insert((if x == 0.0 { 0.0 } else { x }).to_bits()) {
                    st.duplicates += 1;
                    push_example(&mut st.dup_examples, || {
                        format!("row {}: {}", first_row + i as u64, show(x))
                    });
                }
                if is_label {
                    if x == 1.0 {
                        st.positives += 1;
                    } else if x != 0.0 {
                        st.non_binary += 1;
                        push_example(&mut st.non_binary_examples, || {
                            format!("row {}: {}", first_row + i as u64, show(x))
                        });
                    }
                }
            }
        }
        ColumnData::Bool(v) => {
            if spec.role == Role::Label {
                st.positives += v
                    .iter()
                    .enumerate()
                    .filter(|&(i, &b)| b && col.is_valid(i))
                    .count() as u64;
            }
        }
        ColumnData::Timestamp(_) => {}
        ColumnData::Categorical(c) => {
            let allowed: Option<Vec<bool>> = t
                .allowed
                .as_ref()
                .map(|a| c.dictionary.iter().map(|l| a.contains(l)).collect());
            let is_id = spec.role == Role::Id;
            for (i, &code) in c.codes.iter().enumerate() {
                if !col.is_valid(i) {
                    continue;
                }
                if let Some(ok) = &allowed
                    && !ok[code as usize]
                {
                    let e = st
                        .unseen
                        .entry(c.dictionary[code as usize].clone())
                        .or_insert((0, first_row + i as u64));
                    e.0 += 1;
                }
                if is_id && !st.id_strings.insert(c.dictionary[code as usize].clone()) {
                    st.duplicates += 1;
                    push_example(&mut st.dup_examples, || {
                        format!("row {}: '{}'", first_row + i as u64, c.value(i))
                    });
                }
            }
        }
    }
}

/// Validates a file against a contract, reading it in batches. Values
/// that do not parse as their declared type are reported, not fatal.
/// `progress` is called after each batch with the fraction read.
pub fn validate_file(
    path: &Path,
    schema: &Schema,
    mut progress: impl FnMut(f64),
) -> Result<ValidationReport> {
    let options = ReadOptions {
        schema: Some(schema.clone()),
        bad_values: BadValuePolicy::RecordAsNull,
        ..Default::default()
    };
    let mut reader = open(path, &options)?;
    let mut validator = Validator::new(schema, &reader.columns());
    #[allow(clippy::while_let_on_iterator)] // the reader is asked for progress inside the loop
    while let Some(batch) = reader.next() {
        validator.update(&batch?);
        progress(reader.progress());
    }
    progress(1.0);
    Ok(validator.finish(&path.display().to_string(), reader.bad_values()))
}

/// Validates an in-memory frame against a contract.
pub fn validate_frame(frame: &Frame, schema: &Schema, source: &str) -> ValidationReport {
    let cols: Vec<(String, ColumnType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    let mut v = Validator::new(schema, &cols);
    v.update(frame);
    v.finish(source, &BadValues::default())
}
