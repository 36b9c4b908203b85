//! What differs between two model artifacts: named checks (lineage,
//! contract, pipeline, estimator and its trees, threshold, every metric,
//! reference histograms) and every differing JSON path with both values.

use anyhow::Result;
use fathom_model::artifact::{Estimator, ModelArtifact};
use fathom_model::tree::Ensemble;
use serde::Serialize;
use serde_json::Value;

/// One named comparison of the registered and the reproduced artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is compared (`seed`, `metric auc_pr`, …).
    pub what: String,
    /// The registered artifact's value, as text.
    pub registered: String,
    /// The reproduced artifact's value, as text.
    pub reproduced: String,
    /// Whether they are equal.
    pub same: bool,
}

/// One place in the artifacts' JSON where they differ.
#[derive(Debug, Clone, Serialize)]
pub struct PathDiff {
    /// Dotted path, with `[i]` for list items (`lineage.params.seed`).
    pub path: String,
    /// The registered value; `"(absent)"` when it has none, and a list or
    /// table by its size (`"[3 items]"`, `"{2 keys}"`).
    pub registered: Value,
    /// The reproduced value, shown the same way.
    pub reproduced: Value,
}

/// How two artifacts differ.
#[derive(Debug, Clone, Serialize)]
pub struct Differences {
    /// The named checks, in a fixed order.
    pub checks: Vec<Check>,
    /// The first differing paths, lineage first.
    pub paths: Vec<PathDiff>,
    /// Differing paths not listed.
    pub more: usize,
}

/// Compares `registered` with `reproduced`, listing at most `max_paths`
/// differing paths.
pub fn compare(
    registered: &ModelArtifact,
    reproduced: &ModelArtifact,
    max_paths: usize,
) -> Result<Differences> {
    let a = serde_json::to_value(registered)?;
    let b = serde_json::to_value(reproduced)?;
    let mut walk = Walk {
        cap: max_paths,
        paths: Vec::new(),
        total: 0,
    };
    // Lineage and the small parts first, so a capped list shows the cause
    // before the thousands of tree values it leads to.
    const ORDER: [&str; 7] = [
        "lineage",
        "schema",
        "threshold",
        "metrics",
        "pipeline",
        "estimator",
        "reference",
    ];
    let mut keys: Vec<String> = ORDER.iter().map(|k| k.to_string()).collect();
    for v in [&a, &b] {
        if let Value::Object(m) = v {
            for k in m.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    for k in &keys {
        walk.value(k.clone(), a.get(k), b.get(k));
    }
    Ok(Differences {
        checks: checks(registered, reproduced, &a, &b),
        more: walk.total - walk.paths.len(),
        paths: walk.paths,
    })
}

struct Walk {
    cap: usize,
    paths: Vec<PathDiff>,
    total: usize,
}

impl Walk {
    fn differ(&mut self, path: String, a: Option<&Value>, b: Option<&Value>) {
        self.total += 1;
        if self.paths.len() < self.cap {
            self.paths.push(PathDiff {
                path,
                registered: shown(a),
                reproduced: shown(b),
            });
        }
    }

    fn value(&mut self, path: String, a: Option<&Value>, b: Option<&Value>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    self.value(format!("{path}.{k}"), x.get(k), y.get(k));
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) => {
                if x.len() != y.len() {
                    self.differ(path.clone(), a, b);
                }
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    self.value(format!("{path}[{i}]"), Some(p), Some(q));
                }
            }
            _ if a == b => {}
            _ => self.differ(path, a, b),
        }
    }
}

/// A value as listed: scalars as they are, lists and tables by size.
fn shown(v: Option<&Value>) -> Value {
    match v {
        None => Value::String("(absent)".into()),
        Some(Value::Array(a)) => Value::String(format!("[{}]", count(a.len(), "item"))),
        Some(Value::Object(m)) => Value::String(format!("{{{}}}", count(m.len(), "key"))),
        Some(other) => other.clone(),
    }
}

/// `1 item`, `3 items`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The first 12 hex digits of the SHA-256 of a value's JSON: equal digests,
/// equal values.
fn digest(v: Option<&Value>) -> String {
    let text = v.map(Value::to_string).unwrap_or_default();
    fathom_core::sha256_hex(text.as_bytes())[..12].to_string()
}

fn number(x: f64) -> String {
    // Shortest text that reads back as the same f64: both values in full.
    format!("{x}")
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "–".into())
}

fn check(what: impl Into<String>, registered: String, reproduced: String, same: bool) -> Check {
    Check {
        what: what.into(),
        registered,
        reproduced,
        same,
    }
}

/// The estimator in a few words: `trees (87)`, `linear (31 coefficients)`,
/// `ensemble of gbdt, logistic`.
fn estimator_text(e: &Estimator) -> String {
    match e {
        Estimator::Trees { ensemble } => format!("trees ({})", ensemble.trees.len()),
        Estimator::Linear { coef, .. } => format!("linear ({} coefficients)", coef.len()),
        Estimator::Constant { value } => format!("constant {}", number(*value)),
        Estimator::Ensemble { members, method } => {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            let how = match method {
                fathom_model::artifact::EnsembleMethod::SoftVoting { .. } => "soft voting",
                fathom_model::artifact::EnsembleMethod::Stacking { .. } => "stacking",
            };
            format!("{how} of {}", names.join(", "))
        }
    }
}

/// The tree ensembles inside an estimator, each with a label: `""` for a
/// tree model, the member's name inside an ensemble.
fn tree_sets(e: &Estimator) -> Vec<(String, &Ensemble)> {
    match e {
        Estimator::Trees { ensemble } => vec![(String::new(), ensemble)],
        Estimator::Ensemble { members, .. } => members
            .iter()
            .flat_map(|m| {
                tree_sets(&m.estimator)
                    .into_iter()
                    .map(|(_, t)| (m.name.clone(), t))
                    .collect::<Vec<_>>()
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn checks(r: &ModelArtifact, p: &ModelArtifact, a: &Value, b: &Value) -> Vec<Check> {
    let (lr, lp) = (&r.lineage, &p.lineage);
    let mut out = vec![
        check(
            "fathom version",
            lr.fathom_version.clone(),
            lp.fathom_version.clone(),
            lr.fathom_version == lp.fathom_version,
        ),
        check(
            "git commit",
            opt(&lr.git_commit),
            opt(&lp.git_commit),
            lr.git_commit == lp.git_commit,
        ),
        check(
            "data snapshot",
            opt(&lr.data_snapshot),
            opt(&lp.data_snapshot),
            lr.data_snapshot == lp.data_snapshot,
        ),
        check(
            "seed",
            lr.seed.to_string(),
            lp.seed.to_string(),
            lr.seed == lp.seed,
        ),
        check(
            "schema hash",
            lr.schema_hash.clone(),
            lp.schema_hash.clone(),
            lr.schema_hash == lp.schema_hash,
        ),
        check(
            "training settings",
            digest(a.pointer("/lineage/params")),
            digest(b.pointer("/lineage/params")),
            lr.params == lp.params,
        ),
        check(
            "input contract",
            digest(a.get("schema")),
            digest(b.get("schema")),
            r.schema == p.schema,
        ),
        check(
            "feature pipeline",
            format!(
                "{} features · {}",
                r.pipeline.width(),
                digest(a.get("pipeline"))
            ),
            format!(
                "{} features · {}",
                p.pipeline.width(),
                digest(b.get("pipeline"))
            ),
            r.pipeline == p.pipeline,
        ),
        check(
            "estimator",
            format!(
                "{} · {}",
                estimator_text(&r.estimator),
                digest(a.get("estimator"))
            ),
            format!(
                "{} · {}",
                estimator_text(&p.estimator),
                digest(b.get("estimator"))
            ),
            r.estimator == p.estimator,
        ),
    ];
    let (tr, tp) = (tree_sets(&r.estimator), tree_sets(&p.estimator));
    for ((name, x), (other, y)) in tr.iter().zip(&tp) {
        if name != other || x == y {
            continue;
        }
        let what = if name.is_empty() {
            "first differing tree".to_string()
        } else {
            format!("member {name}: first differing tree")
        };
        let first = x
            .trees
            .iter()
            .zip(&y.trees)
            .position(|(s, t)| s != t)
            .unwrap_or(x.trees.len().min(y.trees.len()));
        let at = |e: &Ensemble| {
            if first < e.trees.len() {
                format!("tree {first} of {}", e.trees.len())
            } else {
                format!("none of {} (fewer trees)", e.trees.len())
            }
        };
        out.push(check(what, at(x), at(y), false));
        if x.base_score != y.base_score {
            let what = if name.is_empty() {
                "base score".to_string()
            } else {
                format!("member {name}: base score")
            };
            out.push(check(
                what,
                number(x.base_score),
                number(y.base_score),
                false,
            ));
        }
    }
    out.push(check(
        "threshold",
        number(r.threshold),
        number(p.threshold),
        r.threshold.to_bits() == p.threshold.to_bits(),
    ));
    let mut names: Vec<&String> = r.metrics.keys().chain(p.metrics.keys()).collect();
    names.sort();
    names.dedup();
    for k in names {
        let (x, y) = (r.metrics.get(k), p.metrics.get(k));
        let text = |v: Option<&f64>| v.map_or_else(|| "–".into(), |v| number(*v));
        out.push(check(
            format!("metric {k}"),
            text(x),
            text(y),
            x.map(|v| v.to_bits()) == y.map(|v| v.to_bits()),
        ));
    }
    out.push(check(
        "reference histograms",
        format!("{} · {}", r.reference.len(), digest(a.get("reference"))),
        format!("{} · {}", p.reference.len(), digest(b.get("reference"))),
        r.reference == p.reference,
    ));
    if let Some((x, y)) = r.reference.iter().zip(&p.reference).find(|(x, y)| x != y) {
        out.push(check(
            "first differing histogram",
            x.name.clone(),
            y.name.clone(),
            false,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn walk(a: Value, b: Value, cap: usize) -> (Vec<PathDiff>, usize) {
        let mut w = Walk {
            cap,
            paths: Vec::new(),
            total: 0,
        };
        w.value("x".into(), Some(&a), Some(&b));
        (w.paths, w.total)
    }

    #[test]
    fn lists_each_differing_path_with_both_values() {
        let (paths, total) = walk(
            json!({"a": 1, "b": {"c": [1, 2, 3], "d": "s"}, "e": true}),
            json!({"a": 1, "b": {"c": [1, 5], "d": "t"}, "f": null}),
            10,
        );
        let got: Vec<(String, Value, Value)> = paths
            .into_iter()
            .map(|p| (p.path, p.registered, p.reproduced))
            .collect();
        assert_eq!(
            got,
            vec![
                ("x.b.c".into(), json!("[3 items]"), json!("[2 items]")),
                ("x.b.c[1]".into(), json!(2), json!(5)),
                ("x.b.d".into(), json!("s"), json!("t")),
                ("x.e".into(), json!(true), json!("(absent)")),
                ("x.f".into(), json!("(absent)"), json!(null)),
            ]
        );
        assert_eq!(total, 5);
    }

    #[test]
    fn caps_the_list_and_counts_the_rest() {
        let a: Vec<u32> = (0..100).collect();
        let b: Vec<u32> = (1..101).collect();
        let (paths, total) = walk(json!(a), json!(b), 3);
        assert_eq!(paths.len(), 3);
        assert_eq!(total, 100);
        assert_eq!(paths[2].path, "x[2]");
        let (paths, total) = walk(json!({"a": [1.5]}), json!({"a": [1.5]}), 3);
        assert!(paths.is_empty());
        assert_eq!(total, 0);
    }
}
