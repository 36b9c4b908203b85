//! Garbage collection: what the registry no longer needs, found, shown and
//! (when asked) deleted.
//!
//! [`Store::gc`] plans first and changes nothing unless `apply` is set. It
//! may delete:
//!
//! * **runs** that produced no registered version and either failed, or
//!   (with [`GcPolicy::runs_older_than`]) started before the cut-off (a run
//!   still marked running then was killed), with their params, metrics,
//!   tags and artifact records;
//! * **artifacts** of the configured artifact store that nothing needs: no
//!   version, no kept run and no shipped prediction-log record names them,
//!   or only archived versions past their retention do.
//!
//! It never deletes what an alias, the retention rule or lineage still
//! needs. A version's artifact is needed unless the version is archived,
//! was archived more than the retention ago, no alias names it, and no
//! alias moved to or away from it within the retention (the rule
//! [`Store::archive_version`] enforces). A version's run is its lineage and
//! is never deleted; its records stay, but once every version it produced
//! is past retention its artifact files are no longer needed. Artifacts
//! written less than [`GcPolicy::min_artifact_age`] ago are spared, so a
//! training that has stored its files but not yet recorded them keeps
//! them.
//!
//! Applying deletes the runs and appends one audit entry in one
//! transaction, re-checking every rule inside it, then deletes the
//! artifact files; a file that cannot be deleted is reported and found
//! again by the next collection. Only the configured artifact store is
//! collected: artifacts recorded under other locations are left alone, and
//! two registries must not share one artifact store.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::actor::Actor;
use crate::artifacts::ArtifactStore;
use crate::audit::{AuditAction, AuditRecord, append};
use crate::clock::from_micros;
use crate::error::Result;
use crate::store::{Store, Tx};
use crate::tracking::RunId;
use crate::value::params;

/// What a collection may delete.
#[derive(Debug, Clone, PartialEq)]
pub struct GcPolicy {
    /// How long an archived version keeps its artifact after it was
    /// archived and after an alias last moved to or from it
    /// (`[registry] retention_days`).
    pub retention: Duration,
    /// Also delete runs that started longer ago than this and produced no
    /// registered version, whatever their status.
    pub runs_older_than: Option<Duration>,
    /// Spare artifacts written more recently than this (by the wall clock
    /// against the file's or object's modification time).
    pub min_artifact_age: Duration,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            retention: Duration::days(30),
            runs_older_than: None,
            min_artifact_age: Duration::hours(1),
        }
    }
}

/// Why a run may be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunReason {
    /// It failed.
    Failed,
    /// It started before the cut-off and was never ended (killed).
    Abandoned,
    /// It finished before the cut-off.
    Old,
}

impl RunReason {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunReason::Failed => "failed",
            RunReason::Abandoned => "abandoned",
            RunReason::Old => "old",
        }
    }
}

/// A run a collection deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcRun {
    /// The run.
    pub id: RunId,
    /// Its experiment.
    pub experiment: String,
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: RunReason,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// Rows deleted with it: params, metric values, tags, artifact records.
    pub records: u64,
}

/// Why an artifact may be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactReason {
    /// Nothing records it.
    Unreferenced,
    /// Only archived versions past retention (or their runs) record it.
    ArchivedVersion,
    /// Only runs this collection deletes record it.
    DeletedRun,
}

impl ArtifactReason {
    /// The displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactReason::Unreferenced => "unreferenced",
            ArtifactReason::ArchivedVersion => "archived version",
            ArtifactReason::DeletedRun => "deleted run",
        }
    }
}

/// An artifact a collection deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcArtifact {
    /// Where it is.
    pub uri: String,
    /// Its size.
    pub size_bytes: u64,
    /// Why.
    pub reason: ArtifactReason,
    /// The versions past retention that recorded it (`model@version`).
    pub versions: Vec<String>,
    /// The runs that recorded it.
    pub runs: Vec<RunId>,
}

/// What a collection found: what it deletes and what it keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcPlan {
    /// The artifact store collected.
    pub artifact_store: String,
    /// Runs to delete.
    pub runs: Vec<GcRun>,
    /// Artifacts to delete.
    pub artifacts: Vec<GcArtifact>,
    /// Archived versions past retention (their records stay).
    pub expired_versions: Vec<String>,
    /// Artifacts kept because something needs them.
    pub kept_artifacts: u64,
    /// Their bytes.
    pub kept_bytes: u64,
    /// Artifacts not needed but spared as too recent.
    pub spared_recent: u64,
}

impl GcPlan {
    /// Bytes the artifacts to delete take.
    pub fn bytes(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size_bytes).sum()
    }

    /// Whether there is nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.artifacts.is_empty()
    }
}

/// What a collection did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcReport {
    /// Whether the collection was applied (false for a dry run).
    pub applied: bool,
    /// What was found (for a dry run, what would be deleted).
    pub plan: GcPlan,
    /// Runs deleted.
    pub deleted_runs: u64,
    /// Artifacts deleted.
    pub deleted_artifacts: u64,
    /// Bytes freed in the artifact store.
    pub freed_bytes: u64,
    /// Artifacts that could not be deleted.
    pub failures: Vec<GcFailure>,
    /// The audit entry of an applied collection.
    pub audit_id: Option<i64>,
}

/// An artifact a collection could not delete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcFailure {
    /// The artifact.
    pub uri: String,
    /// What went wrong.
    pub error: String,
}

/// What the database says, read in one transaction.
struct Facts {
    /// Runs that may be deleted.
    runs: Vec<GcRun>,
    /// Archived versions past retention, `model@version` by URI.
    expired: BTreeMap<String, Vec<String>>,
    /// Every expired version's name.
    expired_names: Vec<String>,
    /// URIs something still needs.
    needed: BTreeSet<String>,
    /// URIs recorded by runs deleted or only kept as lineage, by URI.
    released_by_runs: BTreeMap<String, Vec<RunId>>,
}

fn read_facts(tx: &mut Tx<'_>, now: i64, policy: &GcPolicy) -> Result<Facts> {
    let cutoff = now.saturating_sub(policy.retention.num_microseconds().unwrap_or(i64::MAX));
    // Every version with whether it is past retention.
    let versions = tx.rows(
        "SELECT v.id, m.name, v.version, v.run_id, v.artifact_uri,
                CASE WHEN v.status = 'archived'
                      AND v.archived_at IS NOT NULL AND v.archived_at < $1
                      AND NOT EXISTS (SELECT 1 FROM model_aliases a WHERE a.version_id = v.id)
                      AND NOT EXISTS (SELECT 1 FROM alias_history h
                                      WHERE (h.version_id = v.id OR h.previous_version_id = v.id)
                                        AND h.moved_at >= $1)
                     THEN 1 ELSE 0 END
         FROM model_versions v JOIN registered_models m ON m.id = v.model_id
         ORDER BY m.name, v.version",
        params![cutoff],
    )?;
    let mut needed = BTreeSet::new();
    let mut expired: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut expired_names = Vec::new();
    // Per run: does it have a version still needed?
    let mut run_needed: BTreeMap<RunId, bool> = BTreeMap::new();
    for r in &versions {
        let name = format!("{}@{}", r.text(1)?, r.int(2)?);
        let uri = r.text(4)?;
        let is_expired = r.int(5)? == 1;
        if let Some(run) = r.opt_int(3)? {
            let e = run_needed.entry(run).or_insert(false);
            *e |= !is_expired;
        }
        if is_expired {
            expired.entry(uri).or_default().push(name.clone());
            expired_names.push(name);
        } else {
            needed.insert(uri);
        }
    }
    // Runs that may be deleted: no version, and failed or too old.
    let old_cutoff = policy
        .runs_older_than
        .map(|d| now.saturating_sub(d.num_microseconds().unwrap_or(i64::MAX)));
    let mut runs = Vec::new();
    for r in tx.rows(
        "SELECT r.id, e.name, r.name, r.status, r.start_time,
                (SELECT COUNT(*) FROM run_params p WHERE p.run_id = r.id)
              + (SELECT COUNT(*) FROM metric_history h WHERE h.run_id = r.id)
              + (SELECT COUNT(*) FROM run_tags t WHERE t.run_id = r.id)
              + (SELECT COUNT(*) FROM run_artifacts a WHERE a.run_id = r.id)
         FROM runs r JOIN experiments e ON e.id = r.experiment_id
         WHERE NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.run_id = r.id)
         ORDER BY r.id",
        params![],
    )? {
        let start = r.int(4)?;
        let old = old_cutoff.is_some_and(|c| start < c);
        let reason = match (r.text(3)?.as_str(), old) {
            ("failed", _) => RunReason::Failed,
            ("running", true) => RunReason::Abandoned,
            ("finished", true) => RunReason::Old,
            _ => continue,
        };
        runs.push(GcRun {
            id: r.int(0)?,
            experiment: r.text(1)?,
            name: r.text(2)?,
            reason,
            start_time: from_micros(start),
            records: r.int(5)? as u64,
        });
    }
    let deleted: BTreeSet<RunId> = runs.iter().map(|r| r.id).collect();
    // Run artifact records: needed while the run is kept, unless every
    // version the run produced is past retention.
    let mut released_by_runs: BTreeMap<String, Vec<RunId>> = BTreeMap::new();
    for r in tx.rows(
        "SELECT run_id, uri FROM run_artifacts ORDER BY run_id, name",
        params![],
    )? {
        let run = r.int(0)?;
        let uri = r.text(1)?;
        let released = deleted.contains(&run) || run_needed.get(&run) == Some(&false);
        if released {
            released_by_runs.entry(uri).or_default().push(run);
        } else {
            needed.insert(uri);
        }
    }
    // Shipped prediction-log files: needed while recorded.
    for r in tx.rows("SELECT uri FROM log_segments", params![])? {
        needed.insert(r.text(0)?);
    }
    Ok(Facts {
        runs,
        expired,
        expired_names,
        needed,
        released_by_runs,
    })
}

/// Deletes a run and everything it logged; `false` if it is gone already.
fn delete_run(tx: &mut Tx<'_>, run: RunId) -> Result<bool> {
    for table in [
        "metric_history",
        "latest_metrics",
        "run_params",
        "run_tags",
        "run_artifacts",
    ] {
        tx.exec(
            &format!("DELETE FROM {table} WHERE run_id = $1"),
            params![run],
        )?;
    }
    Ok(tx.exec("DELETE FROM runs WHERE id = $1", params![run])? > 0)
}

impl Store {
    /// What a collection of `artifacts` under `policy` would delete now,
    /// without changing anything.
    pub fn gc_plan(&mut self, artifacts: &dyn ArtifactStore, policy: &GcPolicy) -> Result<GcPlan> {
        let now = self.now_micros();
        let facts = self.read(|tx| read_facts(tx, now, policy))?;
        let listed = artifacts.list()?;
        let recent_after = Utc::now() - policy.min_artifact_age;
        let deleted_runs: BTreeSet<RunId> = facts.runs.iter().map(|r| r.id).collect();
        let mut plan = GcPlan {
            artifact_store: artifacts.location(),
            runs: facts.runs,
            artifacts: Vec::new(),
            expired_versions: facts.expired_names,
            kept_artifacts: 0,
            kept_bytes: 0,
            spared_recent: 0,
        };
        for a in listed {
            if facts.needed.contains(&a.uri) {
                plan.kept_artifacts += 1;
                plan.kept_bytes += a.size_bytes;
                continue;
            }
            if policy.min_artifact_age > Duration::zero() && a.modified > recent_after {
                plan.spared_recent += 1;
                continue;
            }
            let versions = facts.expired.get(&a.uri).cloned().unwrap_or_default();
            let runs = facts
                .released_by_runs
                .get(&a.uri)
                .cloned()
                .unwrap_or_default();
            let reason = if !versions.is_empty() || runs.iter().any(|r| !deleted_runs.contains(r)) {
                ArtifactReason::ArchivedVersion
            } else if !runs.is_empty() {
                ArtifactReason::DeletedRun
            } else {
                ArtifactReason::Unreferenced
            };
            plan.artifacts.push(GcArtifact {
                uri: a.uri,
                size_bytes: a.size_bytes,
                reason,
                versions,
                runs,
            });
        }
        Ok(plan)
    }

    /// Plans a collection of `artifacts` under `policy` and, if `apply`,
    /// carries it out: the runs are deleted and one audit entry appended in
    /// one transaction (every rule checked again inside it), then the
    /// artifact files are deleted. A dry run (`apply` false) changes
    /// nothing.
    pub fn gc(
        &mut self,
        artifacts: &dyn ArtifactStore,
        policy: &GcPolicy,
        apply: bool,
        actor: &Actor,
        reason: &str,
    ) -> Result<GcReport> {
        let mut plan = self.gc_plan(artifacts, policy)?;
        if !apply || plan.is_empty() {
            return Ok(GcReport {
                applied: apply,
                plan,
                deleted_runs: 0,
                deleted_artifacts: 0,
                freed_bytes: 0,
                failures: Vec::new(),
                audit_id: None,
            });
        }
        let now = self.now_micros();
        let (deleted_runs, audit_id, doomed) = self.write(|tx| {
            // The facts again, under the write lock: a run registered or an
            // alias moved since the plan keeps what it needs.
            let facts = read_facts(tx, now, policy)?;
            let still: BTreeSet<RunId> = facts.runs.iter().map(|r| r.id).collect();
            let mut deleted = Vec::new();
            for r in plan.runs.iter().filter(|r| still.contains(&r.id)) {
                if delete_run(tx, r.id)? {
                    deleted.push(r.id);
                }
            }
            let doomed: Vec<&GcArtifact> = plan
                .artifacts
                .iter()
                .filter(|a| !facts.needed.contains(&a.uri))
                .collect();
            let bytes: u64 = doomed.iter().map(|a| a.size_bytes).sum();
            let audit_id = append(
                tx,
                now,
                actor,
                reason,
                AuditRecord {
                    action: AuditAction::GarbageCollected,
                    model: None,
                    version: None,
                    alias: None,
                    detail: json!({
                        "artifact_store": plan.artifact_store,
                        "runs_deleted": deleted,
                        "artifacts_deleted": doomed.len(),
                        "bytes_freed": bytes,
                        "expired_versions": plan.expired_versions,
                        "retention_days": policy.retention.num_days(),
                        "runs_older_than_days": policy.runs_older_than.map(|d| d.num_days()),
                    }),
                },
            )?;
            let doomed: Vec<String> = doomed.iter().map(|a| a.uri.clone()).collect();
            Ok((deleted, audit_id, doomed))
        })?;
        plan.runs.retain(|r| deleted_runs.contains(&r.id));
        plan.artifacts.retain(|a| doomed.contains(&a.uri));
        let mut report = GcReport {
            applied: true,
            deleted_runs: deleted_runs.len() as u64,
            deleted_artifacts: 0,
            freed_bytes: 0,
            failures: Vec::new(),
            audit_id: Some(audit_id),
            plan,
        };
        for a in &report.plan.artifacts {
            match artifacts.delete(&a.uri) {
                Ok(()) => {
                    report.deleted_artifacts += 1;
                    report.freed_bytes += a.size_bytes;
                }
                Err(e) => report.failures.push(GcFailure {
                    uri: a.uri.clone(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(report)
    }
}
