//! Derived features: the user's declarations checked against the schema
//! contract and turned into formulas over pipeline inputs, with their
//! statistics fitted on training rows.

use super::options::{DeriveOp, DerivedSpec, PipelineOptions};
use super::{PipelineError, fit_numeric, level_counts};
use fathom_core::{ColumnType, Frame, Role, Schema};
use fathom_model::pipeline::{DerivedFeature, Formula, InputTransform, Levels, value_at};

/// Resolves every declared derived feature, adding a feature-less
/// [`InputTransform::Source`] input for a source column that is not a
/// feature, and fits each one's numeric steps on the `train` rows.
pub(super) fn fit_derived(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    options: &PipelineOptions,
    inputs: &mut Vec<InputTransform>,
) -> Result<Vec<DerivedFeature>, PipelineError> {
    let mut formulas = Vec::with_capacity(options.derived.len());
    for spec in &options.derived {
        formulas.push(resolve(frame, schema, train, options, spec, inputs)?);
    }
    // The raw value of every derived feature on every training row, read
    // through the same formula code that serves.
    let columns: Vec<_> = inputs.iter().map(|t| frame.column(t.column())).collect();
    let mut raw: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(train.len()); formulas.len()];
    let mut values = Vec::with_capacity(columns.len());
    let mut derived: Vec<DerivedFeature> = options
        .derived
        .iter()
        .zip(formulas)
        .map(|(spec, formula)| DerivedFeature {
            name: spec.name.clone(),
            formula,
            impute: 0.0,
            clip: None,
            scale: None,
            indicator: false,
        })
        .collect();
    for &r in train {
        values.clear();
        values.extend(columns.iter().map(|c| value_at(*c, r)));
        for (d, out) in derived.iter().zip(raw.iter_mut()) {
            out.push(d.raw_value(&values));
        }
    }
    for (d, raw) in derived.iter_mut().zip(&raw) {
        if matches!(d.formula, Formula::Frequency { .. }) {
            // A share is never missing and already bounded; clipping it to
            // the training range would move "unseen" (0) off zero. Only
            // linear models scale it.
            let fit = fit_numeric(raw, options, false);
            d.scale = fit.scale;
        } else {
            let fit = fit_numeric(raw, options, true);
            d.impute = fit.impute;
            d.clip = fit.clip;
            d.scale = fit.scale;
            d.indicator = fit.indicator;
        }
    }
    Ok(derived)
}

/// Checks one declaration and builds its formula.
fn resolve(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    options: &PipelineOptions,
    spec: &DerivedSpec,
    inputs: &mut Vec<InputTransform>,
) -> Result<Formula, PipelineError> {
    if spec.name.trim().is_empty() {
        return Err(PipelineError::BadOption {
            option: "derived.name".into(),
            problem: format!(
                "a derived feature ({} of {}) has no name; give it one",
                spec.op.name(),
                spec.of.join(", ")
            ),
        });
    }
    if spec.of.len() != spec.op.arity() {
        return Err(PipelineError::DerivedArity {
            feature: spec.name.clone(),
            op: spec.op.name(),
            expected: spec.op.arity(),
            found: spec.of.len(),
        });
    }
    let mut index = Vec::with_capacity(spec.of.len());
    for name in &spec.of {
        let Some(col_spec) = schema.column(name) else {
            return Err(PipelineError::DerivedUnknownColumn {
                feature: spec.name.clone(),
                column: name.clone(),
                known: schema.columns.iter().map(|c| c.name.clone()).collect(),
            });
        };
        if col_spec.role == Role::Label {
            return Err(PipelineError::DerivedReadsLabel {
                feature: spec.name.clone(),
                column: name.clone(),
            });
        }
        let column = frame
            .column(name)
            .ok_or_else(|| PipelineError::MissingColumn(name.clone()))?;
        let found = column.column_type();
        let fits = match spec.op {
            DeriveOp::Frequency => found == ColumnType::Categorical,
            _ => matches!(found, ColumnType::Numeric | ColumnType::Bool),
        };
        if !fits {
            return Err(PipelineError::DerivedColumnType {
                feature: spec.name.clone(),
                op: spec.op.name(),
                column: name.clone(),
                found,
            });
        }
        let at = match inputs.iter().position(|t| t.column() == name) {
            Some(at) => at,
            None => {
                inputs.push(InputTransform::Source {
                    column: name.clone(),
                });
                inputs.len() - 1
            }
        };
        index.push(at);
    }
    Ok(match spec.op {
        DeriveOp::Log1p => Formula::Log1p { of: index[0] },
        DeriveOp::Ratio => Formula::Ratio {
            a: index[0],
            b: index[1],
        },
        DeriveOp::Difference => Formula::Difference {
            a: index[0],
            b: index[1],
        },
        DeriveOp::Product => Formula::Product {
            a: index[0],
            b: index[1],
        },
        DeriveOp::Frequency => {
            let column = frame
                .column(&spec.of[0])
                .ok_or_else(|| PipelineError::MissingColumn(spec.of[0].clone()))?;
            let kept = level_counts(column, train, options.max_levels);
            let n = train.len() as f64;
            Formula::Frequency {
                of: index[0],
                shares: kept.iter().map(|(_, c)| *c as f64 / n).collect(),
                levels: Levels::new(kept.into_iter().map(|(l, _)| l).collect()),
            }
        }
    })
}
