//! Model cards: a Markdown page per version saying what the model is for,
//! what data made it, how well it did, its limits and who owns it.

use std::fmt::Write;

use crate::registry::{Lineage, RegisteredModel};

fn or_missing(s: &str, what: &str) -> String {
    if s.trim().is_empty() {
        format!("_Not stated. Record the {what} when creating the model._")
    } else {
        s.trim().to_owned()
    }
}

fn code(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => format!("`{s}`"),
        _ => "not recorded".into(),
    }
}

/// Renders the card of the version in `lineage` of `model`.
pub fn render(model: &RegisteredModel, lineage: &Lineage) -> String {
    let v = &lineage.version;
    let mut out = String::new();
    let _ = writeln!(out, "# Model card: {} version {}\n", model.name, v.version);
    let aliases = if v.aliases.is_empty() {
        "none".to_owned()
    } else {
        v.aliases.join(", ")
    };
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Owner | {} |",
        if v.owner.is_empty() {
            &model.owner
        } else {
            &v.owner
        }
    );
    let _ = writeln!(
        out,
        "| Registered | {} |",
        v.created_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "| Status | {:?} |", v.status);
    let _ = writeln!(out, "| Aliases | {aliases} |");
    let _ = writeln!(out, "| Artifact | `{}` |", v.artifact_uri);
    let _ = writeln!(out, "| SHA-256 | `{}` |\n", v.artifact_sha256);

    let _ = writeln!(
        out,
        "## Intended use\n\n{}\n",
        or_missing(&model.intended_use, "intended use")
    );
    let description = if v.description.trim().is_empty() {
        &model.description
    } else {
        &v.description
    };
    if !description.trim().is_empty() {
        let _ = writeln!(out, "## Description\n\n{}\n", description.trim());
    }

    let run = lineage.run.as_ref();
    let _ = writeln!(out, "## Data\n");
    let _ = writeln!(
        out,
        "- Training data snapshot: {}",
        code(run.and_then(|r| r.info.data_snapshot.as_deref()))
    );
    let _ = writeln!(
        out,
        "- Evaluation (holdout) snapshot: {}",
        code(v.holdout_snapshot.as_deref())
    );
    let _ = writeln!(out, "- Input schema hash: {}", code(Some(&v.schema_hash)));
    match run {
        Some(r) => {
            let _ = writeln!(
                out,
                "- Run: {} (`{}` in experiment `{}`)",
                r.info.id, r.info.name, r.info.experiment
            );
            let _ = writeln!(
                out,
                "- Code version: {}",
                code(r.info.source_version.as_deref())
            );
            let _ = writeln!(
                out,
                "- Seed: {}",
                r.info
                    .seed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "not recorded".into())
            );
            let _ = writeln!(
                out,
                "- Trained with fathom {} on {}",
                r.info.fathom_version, r.info.host
            );
        }
        None => {
            let _ = writeln!(out, "- Run: not recorded");
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Metrics\n");
    if v.metrics.is_empty() {
        let _ = writeln!(out, "_No metrics were recorded with this version._\n");
    } else {
        let _ = writeln!(out, "| metric | value |\n|---|---:|");
        for (k, val) in &v.metrics {
            let _ = writeln!(out, "| {k} | {val:.6} |");
        }
        out.push('\n');
    }
    if let Some(r) = run.filter(|r| !r.params.is_empty()) {
        let _ = writeln!(out, "## Parameters\n\n| parameter | value |\n|---|---|");
        for (k, val) in &r.params {
            let _ = writeln!(out, "| {k} | {val} |");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## Limitations\n\n{}\n",
        or_missing(&model.limitations, "limitations")
    );
    let _ = writeln!(
        out,
        "## Owner\n\n{}",
        if model.owner.is_empty() {
            "_Not stated._"
        } else {
            &model.owner
        }
    );
    out
}
