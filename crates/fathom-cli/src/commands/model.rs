//! `fathom model inspect`: what a model file holds, after verifying it.

use crate::ui::{Ui, print_out, table, thousands};
use anyhow::{Context, Result};
use clap::Args;
use fathom_model::artifact::{EnsembleMethod, Estimator, ModelArtifact};
use fathom_model::pipeline::InputTransform;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Number of linear coefficients shown, largest |value| first.
const TOP_COEFFICIENTS: usize = 10;

/// `fathom model inspect`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom model inspect model.fathom
  fathom --json model inspect model.fathom | jq .estimator")]
pub struct InspectArgs {
    /// The model file (from `fathom train`). A file whose checksum does not
    /// match its contents is refused (exit status 1).
    pub file: PathBuf,
}

/// The format line and body checksum from a verified file's header.
fn header_fields(bytes: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let mut lines = text.lines();
    let format = lines.next().unwrap_or_default().to_string();
    let body = lines
        .next()
        .and_then(|l| l.strip_prefix("sha256 "))
        .unwrap_or_default()
        .to_string();
    (format, body)
}

/// Short number for one line of text.
fn num(v: f64) -> String {
    fathom_report::format::fmt_num(v)
}

/// One line saying what a pipeline input does to its column.
pub fn describe_transform(t: &InputTransform) -> String {
    match t {
        InputTransform::Numeric {
            impute,
            clip,
            scale,
            indicator,
            ..
        } => {
            let mut parts = vec![format!("missing → {}", num(*impute))];
            if let Some((lo, hi)) = clip {
                parts.push(format!("clipped to [{}, {}]", num(*lo), num(*hi)));
            }
            if let Some((mean, std)) = scale {
                parts.push(format!(
                    "standardised (mean {}, std {})",
                    num(*mean),
                    num(*std)
                ));
            }
            if *indicator {
                parts.push("+ missing indicator".into());
            }
            format!("number: {}", parts.join(", "))
        }
        InputTransform::Bool { impute, .. } => format!("0/1, missing → {}", num(*impute)),
        InputTransform::Categorical {
            levels, one_hot, ..
        } => {
            let shown: Vec<&str> = levels.iter().take(4).map(String::as_str).collect();
            let more = if levels.len() > 4 { ", …" } else { "" };
            let how = if *one_hot {
                "one-hot over"
            } else {
                "code of one of"
            };
            format!(
                "{how} {} levels ({}{more}); unseen or missing → other",
                levels.len(),
                shown.join(", ")
            )
        }
        InputTransform::Timestamp { fill, .. } => format!(
            "hour, day of week, month, is weekend; missing → {}",
            if fill.is_nan() {
                "NaN".to_string()
            } else {
                num(*fill)
            }
        ),
        InputTransform::Target { levels, prior, .. } => format!(
            "smoothed label mean of one of {} levels; unseen or missing → {}",
            levels.len(),
            num(*prior)
        ),
        InputTransform::Source { .. } => "read only by derived features".into(),
    }
}

/// The estimator's kind and size as JSON.
fn estimator_json(artifact: &ModelArtifact) -> Value {
    match &artifact.estimator {
        Estimator::Trees { ensemble } => {
            let leaves: usize = ensemble.trees.iter().map(|t| t.num_leaves()).sum();
            let depths: Vec<usize> = ensemble.trees.iter().map(|t| t.depth()).collect();
            json!({
                "kind": "trees",
                "objective": ensemble.objective,
                "trees": ensemble.trees.len(),
                "leaves": leaves,
                "max_depth": depths.iter().copied().max().unwrap_or(0),
                "mean_depth": if depths.is_empty() { 0.0 } else { depths.iter().sum::<usize>() as f64 / depths.len() as f64 },
                "features": ensemble.num_features,
                "base_score": ensemble.base_score,
            })
        }
        Estimator::Linear {
            coef,
            intercept,
            objective,
        } => {
            let names = artifact.pipeline.feature_names();
            let mut order: Vec<usize> = (0..coef.len()).collect();
            order.sort_by(|&a, &b| coef[b].abs().total_cmp(&coef[a].abs()).then(a.cmp(&b)));
            let top: Vec<Value> = order
                .iter()
                .take(TOP_COEFFICIENTS)
                .map(|&i| json!({"feature": names.get(i).cloned().unwrap_or_else(|| format!("#{i}")), "coef": coef[i]}))
                .collect();
            json!({
                "kind": "linear",
                "objective": objective,
                "features": coef.len(),
                "intercept": intercept,
                "top_coefficients": top,
            })
        }
        Estimator::Constant { value } => json!({"kind": "constant", "value": value}),
        Estimator::Ensemble { members, method } => {
            let (kind, combine) = match method {
                EnsembleMethod::SoftVoting { weights } => {
                    ("soft_voting", json!({"weights": weights}))
                }
                EnsembleMethod::Stacking { coef, intercept } => {
                    ("stacking", json!({"coef": coef, "intercept": intercept}))
                }
            };
            let members: Vec<Value> = members
                .iter()
                .map(|m| {
                    let inner = ModelArtifact {
                        estimator: m.estimator.clone(),
                        pipeline: m.pipeline.clone(),
                        ..artifact.clone()
                    };
                    json!({
                        "name": m.name,
                        "features": m.pipeline.width(),
                        "estimator": estimator_json(&inner),
                    })
                })
                .collect();
            json!({"kind": "ensemble", "method": kind, "combine": combine, "members": members})
        }
    }
}

/// Everything `inspect` shows, as JSON.
pub fn describe(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the model file {}", path.display()))?;
    let artifact = ModelArtifact::from_bytes(&bytes, &path.display().to_string())?;
    let file_sha = fathom_core::sha256_hex(&bytes);
    let (format, body_sha) = header_fields(&bytes);
    let schema = &artifact.schema;
    let transforms: Vec<Value> = artifact
        .pipeline
        .inputs
        .iter()
        .map(|t| {
            json!({
                "column": t.column(),
                "kind": serde_json::to_value(t).ok().and_then(|v| v.get("kind").cloned()),
                "features": t.feature_names(),
                "transform": describe_transform(t),
            })
        })
        .collect();
    let columns: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.column_type.name(),
                "role": c.role.name(),
                "nullable": c.nullable,
                "model_input": artifact.pipeline.inputs.iter().any(|t| t.column() == c.name),
            })
        })
        .collect();
    let histograms: Vec<Value> = artifact
        .reference
        .iter()
        .map(|h| {
            json!({
                "name": h.name,
                "bins": h.counts.len(),
                "rows": h.counts.iter().sum::<u64>() + h.missing,
                "missing": h.missing,
            })
        })
        .collect();
    let features = artifact
        .reference
        .iter()
        .filter(|h| h.name != "__score")
        .count();
    Ok(json!({
        "file": path,
        "format": {
            "header": format,
            "version": fathom_model::container::VERSION,
            "body_sha256": body_sha,
            "file_sha256": file_sha,
            "bytes": bytes.len(),
            "checksum_verified": true,
        },
        "estimator": estimator_json(&artifact),
        "threshold": artifact.threshold,
        "metrics": artifact.metrics,
        "schema": {
            "hash": schema.hash(),
            "columns": columns,
        },
        "pipeline": {
            "features": artifact.pipeline.width(),
            "inputs": transforms,
        },
        "reference": {
            "features": features,
            "score": artifact.reference.iter().any(|h| h.name == "__score"),
            "max_bins": artifact.reference.iter().map(|h| h.counts.len()).max().unwrap_or(0),
            "histograms": histograms,
        },
        "lineage": artifact.lineage,
    }))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

/// Runs `fathom model inspect`.
pub fn inspect(ui: &Ui, args: InspectArgs) -> Result<u8> {
    let d = describe(&args.file)?;
    if ui.json {
        ui.print_json(&d)?;
        return Ok(0);
    }
    let f = &d["format"];
    let e = &d["estimator"];
    let estimator = match e["kind"].as_str() {
        Some("trees") => format!(
            "tree ensemble ({}): {} trees, {} leaves, depth ≤ {} (mean {:.1}), {} features",
            text(&e["objective"]),
            thousands(e["trees"].as_u64().unwrap_or(0)),
            thousands(e["leaves"].as_u64().unwrap_or(0)),
            e["max_depth"],
            e["mean_depth"].as_f64().unwrap_or(0.0),
            e["features"]
        ),
        Some("linear") => {
            let top: Vec<String> = e["top_coefficients"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} {:+.4}",
                        text(&c["feature"]),
                        c["coef"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .collect();
            format!(
                "linear ({}), {} features, intercept {:.4}; largest |coefficients|: {}",
                text(&e["objective"]),
                e["features"],
                e["intercept"].as_f64().unwrap_or(f64::NAN),
                top.join(", ")
            )
        }
        _ => format!(
            "constant prediction {}",
            e["value"].as_f64().map_or("–".into(), num)
        ),
    };
    let metrics: Vec<String> = d["metrics"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {:.4}", v.as_f64().unwrap_or(f64::NAN)))
        .collect();
    let r = &d["reference"];
    let l = &d["lineage"];
    let lines: Vec<(&str, String)> = vec![
        ("file", args.file.display().to_string()),
        (
            "format",
            format!(
                "{}, checksum verified (body sha256 {})",
                text(&f["header"]),
                text(&f["body_sha256"])
            ),
        ),
        (
            "file sha256",
            format!(
                "{} ({} bytes)",
                text(&f["file_sha256"]),
                thousands(f["bytes"].as_u64().unwrap_or(0))
            ),
        ),
        ("estimator", estimator),
        (
            "threshold",
            format!(
                "{:.6} (score ≥ threshold → positive)",
                d["threshold"].as_f64().unwrap_or(f64::NAN)
            ),
        ),
        ("metrics", metrics.join(", ")),
        (
            "schema",
            format!(
                "{} columns, hash {}",
                d["schema"]["columns"].as_array().map_or(0, Vec::len),
                text(&d["schema"]["hash"])
            ),
        ),
        (
            "pipeline",
            format!(
                "{} inputs → {} features",
                d["pipeline"]["inputs"].as_array().map_or(0, Vec::len),
                d["pipeline"]["features"]
            ),
        ),
        (
            "reference",
            format!(
                "{} feature histograms{}, up to {} bins each",
                r["features"],
                if r["score"] == true {
                    " + the score"
                } else {
                    ""
                },
                r["max_bins"]
            ),
        ),
        ("data snapshot", text(&l["data_snapshot"])),
        ("seed", text(&l["seed"])),
        (
            "trained by",
            format!(
                "fathom {} (commit {})",
                text(&l["fathom_version"]),
                text(&l["git_commit"])
            ),
        ),
        ("params", text(&l["params"])),
    ];
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k:<14} {v}");
    }
    let mut cols = table(&["column", "type", "role", "model input → features"]);
    let inputs = d["pipeline"]["inputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in d["schema"]["columns"].as_array().into_iter().flatten() {
        let name = text(&c["name"]);
        let how = inputs
            .iter()
            .find(|i| i["column"] == c["name"])
            .map_or("–".to_string(), |i| text(&i["transform"]));
        cols.add_row(vec![name, text(&c["type"]), text(&c["role"]), how]);
    }
    out.push_str(&cols.to_string());
    print_out(&out)?;
    Ok(0)
}
