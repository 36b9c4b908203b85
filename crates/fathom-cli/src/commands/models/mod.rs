//! `fathom models` and `fathom audit`: the model registry from the command
//! line.

pub mod describe;
pub mod lineage;

use crate::commands::events::after_change;
use crate::config::Config;
use crate::store::{EXIT_REFUSED, actor, holdout_id, open, print_refusal};
use crate::ui::{Ui, print_out, table};
use anyhow::{Context, Result};
use clap::Args;
use fathom_data::export::write_atomic;
use fathom_model::artifact::ModelArtifact;
use fathom_registry::{AuditQuery, ModelVersion, NewVersion, PRODUCTION, Promotion, RegistryError};
use std::path::PathBuf;

/// `fathom models show`
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// NAME (the model and its versions), NAME@ALIAS or NAME@VERSION (one
    /// version and the run that produced it).
    pub reference: String,
}

/// `fathom models register`
#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The model file to register (copied into the artifact store).
    #[arg(long, value_name = "FILE")]
    pub model_file: PathBuf,
    /// Registered model name (created if new).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// What this version is.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Why it is registered (audit log).
    #[arg(long, default_value = "registered from a model file")]
    pub reason: String,
}

/// `fathom models promote`
#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// Registered model name.
    pub name: String,
    /// Version to promote.
    #[arg(value_name = "VERSION")]
    pub number: i64,
    /// Alias to point at it; aliases in [registry.promotion] gated_aliases
    /// (default production) must pass the gate.
    #[arg(long, default_value = PRODUCTION)]
    pub alias: String,
    /// Move the alias even though the gate refuses (recorded in the audit
    /// log with the rules it overrode; give a --reason).
    #[arg(long)]
    pub force: bool,
    /// Why (audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `fathom models rollback`
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Registered model name.
    pub name: String,
    /// Alias to move back to the version it named before.
    #[arg(long, default_value = PRODUCTION)]
    pub alias: String,
    /// Why (audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `fathom models archive`
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// Registered model name.
    pub name: String,
    /// Version to archive (kept, but no longer promotable).
    #[arg(value_name = "VERSION")]
    pub number: i64,
    /// Why (audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `fathom models card`
#[derive(Args, Debug)]
pub struct CardArgs {
    /// Registered model name.
    pub name: String,
    /// Version.
    #[arg(value_name = "VERSION")]
    pub number: i64,
    /// Write the Markdown to this file instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `fathom audit`
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only this model's entries.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Most entries to show, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

fn reason_or(reason: &str, default: &str) -> String {
    if reason.trim().is_empty() {
        default.to_string()
    } else {
        reason.to_string()
    }
}

fn metric(v: &ModelVersion, key: &str) -> String {
    v.metrics
        .get(key)
        .map_or_else(|| "–".into(), |x| format!("{x:.4}"))
}

fn versions_table(versions: &[ModelVersion]) -> String {
    let mut t = table(&[
        "version",
        "aliases",
        "status",
        "AUC-PR",
        "AUC-ROC",
        "run",
        "owner",
        "registered",
        "description",
    ]);
    for v in versions {
        t.add_row(vec![
            v.version.to_string(),
            v.aliases.join(", "),
            format!("{:?}", v.status).to_lowercase(),
            metric(v, "auc_pr"),
            metric(v, "auc_roc"),
            v.run_id.map_or_else(|| "–".into(), |r| r.to_string()),
            v.owner.clone(),
            v.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            v.description.clone(),
        ]);
    }
    t.to_string()
}

/// Runs `fathom models list`.
pub fn list(config: &Config, ui: &Ui) -> Result<u8> {
    let mut opened = open(config)?;
    let models = opened.store.models()?;
    if ui.json {
        ui.print_json(&models)?;
        return Ok(0);
    }
    let mut t = table(&["model", "latest version", "aliases", "owner", "updated"]);
    for m in &models {
        t.add_row(vec![
            m.name.clone(),
            m.latest_version.to_string(),
            m.aliases
                .iter()
                .map(|(a, v)| format!("{a} → {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            m.owner.clone(),
            m.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    print_out(&t.to_string())?;
    print_out(&format!("{} registered models", models.len()))?;
    Ok(0)
}

/// Runs `fathom models show`.
pub fn show(config: &Config, ui: &Ui, args: ShowArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let store = &mut opened.store;
    if !args.reference.contains('@') {
        let model = store.model(&args.reference)?;
        let versions = store.model_versions(&args.reference)?;
        let history = store.alias_history(&args.reference, None)?;
        if ui.json {
            ui.print_json(&serde_json::json!({
                "model": model, "versions": versions, "alias_history": history,
            }))?;
            return Ok(0);
        }
        print_out(&format!(
            "model {} (owner {}, {} versions)",
            model.name,
            if model.owner.is_empty() {
                "–"
            } else {
                &model.owner
            },
            versions.len()
        ))?;
        print_out(&versions_table(&versions))?;
        if !history.is_empty() {
            let mut t = table(&["when", "alias", "move", "from", "to"]);
            for h in &history {
                let v = |x: Option<i64>| x.map_or_else(|| "–".into(), |x| x.to_string());
                t.add_row(vec![
                    h.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    h.alias.clone(),
                    h.kind.clone(),
                    v(h.from),
                    v(h.to),
                ]);
            }
            print_out(&format!("alias history:\n{t}"))?;
        }
        return Ok(0);
    }
    let v = store.resolve(&args.reference)?;
    let lineage = store.lineage(&v.model, v.version)?;
    if ui.json {
        ui.print_json(&lineage)?;
        return Ok(0);
    }
    let mut t = table(&[&format!("{}@{}", v.model, v.version), ""]);
    let run = lineage.run.as_ref();
    let param = |k: &str| {
        run.and_then(|r| r.params.get(k).cloned())
            .unwrap_or_else(|| "–".into())
    };
    for (k, x) in [
        ("aliases", v.aliases.join(", ")),
        ("status", format!("{:?}", v.status).to_lowercase()),
        ("owner", v.owner.clone()),
        ("registered", v.created_at.to_rfc3339()),
        ("description", v.description.clone()),
        ("artifact", v.artifact_uri.clone()),
        ("sha256", v.artifact_sha256.clone()),
        ("schema hash", v.schema_hash.clone()),
        (
            "holdout",
            v.holdout_snapshot.clone().unwrap_or_else(|| "–".into()),
        ),
        (
            "run",
            v.run_id.map_or_else(|| "–".into(), |r| r.to_string()),
        ),
        ("candidate", param("candidate")),
        (
            "data snapshot",
            run.and_then(|r| r.info.data_snapshot.clone())
                .unwrap_or_else(|| "–".into()),
        ),
        (
            "source version",
            run.and_then(|r| r.info.source_version.clone())
                .unwrap_or_else(|| "–".into()),
        ),
        (
            "seed",
            run.and_then(|r| r.info.seed)
                .map_or_else(|| "–".into(), |s| s.to_string()),
        ),
    ] {
        t.add_row(vec![k.to_string(), x]);
    }
    print_out(&t.to_string())?;
    let mut m = table(&["metric", "value"]);
    for (k, x) in &v.metrics {
        m.add_row(vec![k.clone(), format!("{x:.6}")]);
    }
    print_out(&m.to_string())?;
    Ok(0)
}

/// Runs `fathom models register`.
pub fn register(config: &Config, ui: &Ui, args: RegisterArgs) -> Result<u8> {
    let artifact = ModelArtifact::load(&args.model_file)?;
    let mut opened = open(config)?;
    let stored = opened
        .artifacts
        .put_file(&args.model_file)
        .with_context(|| format!("storing {}", args.model_file.display()))?;
    let lineage = &artifact.lineage;
    let who = actor();
    let v = opened.store.register_version(
        &NewVersion {
            model: args.name.clone(),
            run_id: None,
            artifact_uri: stored.uri,
            artifact_sha256: stored.sha256,
            schema_hash: lineage.schema_hash.clone(),
            holdout_snapshot: holdout_id(lineage.data_snapshot.as_deref(), &lineage.params),
            metrics: artifact
                .metrics
                .iter()
                .filter(|(_, x)| x.is_finite())
                .map(|(k, x)| (k.clone(), *x))
                .collect(),
            owner: who.user.clone(),
            description: if args.description.is_empty() {
                format!("registered from {}", args.model_file.display())
            } else {
                args.description.clone()
            },
        },
        &who,
        &args.reason,
    )?;
    if ui.json {
        ui.print_json(&v)?;
    } else {
        print_out(&format!(
            "registered {}@{} (sha256 {}); promote it with `fathom models promote {} {}`",
            v.model,
            v.version,
            &v.artifact_sha256[..16],
            v.model,
            v.version
        ))?;
    }
    after_change(config, &mut opened.store);
    Ok(0)
}

/// Runs `fathom models promote`. A refusal by the gate prints each failed
/// rule and returns [`EXIT_REFUSED`]; the store is left as it was (the
/// refusal itself is audited).
pub fn promote(config: &Config, ui: &Ui, args: PromoteArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let request = Promotion {
        model: args.name.clone(),
        version: args.number,
        alias: args.alias.clone(),
        force: args.force,
    };
    let reason = reason_or(
        &args.reason,
        if args.force {
            "forced from the command line (no reason given)"
        } else {
            "promoted from the command line"
        },
    );
    match opened
        .store
        .promote(&request, &config.registry.promotion, &actor(), &reason)
    {
        Ok(m) => {
            if ui.json {
                ui.print_json(&m)?;
            } else if !m.changed {
                print_out(&format!(
                    "{}@{} already names version {}; nothing changed",
                    m.model, m.alias, args.number
                ))?;
            } else {
                let from = m
                    .from
                    .map_or_else(|| "nothing".into(), |v| format!("version {v}"));
                print_out(&format!(
                    "{}@{} → version {} (was {from}){}",
                    m.model,
                    m.alias,
                    args.number,
                    if m.overridden.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; FORCED past {} failed rule(s), recorded in the audit log",
                            m.overridden.len()
                        )
                    }
                ))?;
            }
            after_change(config, &mut opened.store);
            Ok(0)
        }
        Err(RegistryError::PromotionRefused {
            model,
            version,
            alias,
            failures,
        }) => {
            if ui.json {
                ui.print_json(&serde_json::json!({
                    "refused": true, "model": model, "version": version, "alias": alias,
                    "failures": failures,
                    "messages": failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))?;
            }
            print_refusal(&model, version, &alias, &failures);
            after_change(config, &mut opened.store);
            Ok(EXIT_REFUSED)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `fathom models rollback`.
pub fn rollback(config: &Config, ui: &Ui, args: RollbackArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let reason = reason_or(&args.reason, "rolled back from the command line");
    let m = opened
        .store
        .rollback(&args.name, &args.alias, &actor(), &reason)?;
    if ui.json {
        ui.print_json(&m)?;
    } else {
        let v = |x: Option<i64>| x.map_or_else(|| "–".into(), |x| x.to_string());
        print_out(&format!(
            "{}@{} rolled back: version {} → version {}",
            m.model,
            m.alias,
            v(m.from),
            v(m.to)
        ))?;
    }
    after_change(config, &mut opened.store);
    Ok(0)
}

/// Runs `fathom models archive`.
pub fn archive(config: &Config, ui: &Ui, args: ArchiveArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let reason = reason_or(&args.reason, "archived from the command line");
    let retention = chrono::Duration::days(i64::from(config.registry.retention_days));
    let v = opened
        .store
        .archive_version(&args.name, args.number, retention, &actor(), &reason)?;
    if ui.json {
        ui.print_json(&v)?;
    } else {
        print_out(&format!(
            "{}@{} archived: kept, no longer promotable",
            v.model, v.version
        ))?;
    }
    after_change(config, &mut opened.store);
    Ok(0)
}

/// Runs `fathom models card`.
pub fn card(config: &Config, ui: &Ui, args: CardArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let md = opened.store.model_card(&args.name, args.number)?;
    match &args.output {
        Some(p) => {
            write_atomic(p, md.as_bytes())?;
            if ui.json {
                ui.print_json(&serde_json::json!({ "card": p }))?;
            } else {
                print_out(&format!(
                    "model card of {}@{} → {}",
                    args.name,
                    args.number,
                    p.display()
                ))?;
            }
        }
        None if ui.json => ui.print_json(&serde_json::json!({ "card": md }))?,
        None => print_out(&md)?,
    }
    Ok(0)
}

/// Runs `fathom audit`.
pub fn audit(config: &Config, ui: &Ui, args: AuditArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let entries = opened.store.audit(&AuditQuery {
        model: args.model,
        limit: args.limit,
        ..AuditQuery::default()
    })?;
    if ui.json {
        ui.print_json(&entries)?;
        return Ok(0);
    }
    let mut t = table(&[
        "id", "when", "who", "host", "action", "model", "version", "alias", "reason",
    ]);
    for e in &entries {
        t.add_row(vec![
            e.id.to_string(),
            e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.actor.clone(),
            e.host.clone(),
            e.action.as_str().to_string(),
            e.model.clone().unwrap_or_default(),
            e.version.map_or_else(String::new, |v| v.to_string()),
            e.alias.clone().unwrap_or_default(),
            e.reason.clone(),
        ]);
    }
    print_out(&t.to_string())?;
    print_out(&format!("{} entries, newest first", entries.len()))?;
    Ok(0)
}
