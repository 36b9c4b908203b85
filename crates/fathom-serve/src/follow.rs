//! Following the registry: which versions the aliases name, loading them
//! (checksum verified), building the next [`Deployment`], and the canary
//! guardrails.
//!
//! Everything here is synchronous and runs on a blocking thread; the
//! server calls [`Follower::sync`] every poll interval and swaps the
//! deployment in one atomic store, so requests never see half a change.

use crate::config::{Fallback, Guardrails, ServeConfig};
use crate::contract::UnknownFields;
use crate::model::ServedModel;
use crate::rollout::{Deployment, SCORE_BUCKETS, Slot, StatsSnapshot};
use fathom_model::artifact::ModelArtifact;
use fathom_registry::{Actor, RegistryError, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the aliases name now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targets {
    /// The production alias's version.
    pub production: Option<i64>,
    /// The canary alias's version.
    pub canary: Option<i64>,
    /// Shadow versions (deduplicated, without production or canary).
    pub shadows: Vec<i64>,
    /// The versions the fallback may answer with, in order: earlier
    /// production versions, newest first (`previous`), or the baseline
    /// alias's version (`baseline`).
    pub previous: Vec<i64>,
}

/// A change the follower made or refused, for the server's log.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A slot now serves a version.
    Deployed {
        /// `production`, `canary`, `shadow` or `fallback`.
        slot: &'static str,
        /// The version.
        version: i64,
    },
    /// A version could not be loaded.
    LoadFailed {
        /// The version.
        version: i64,
        /// Why.
        reason: String,
    },
    /// A slot's alias no longer names a version, so the slot is gone.
    Removed {
        /// `canary` or `shadow`.
        slot: &'static str,
        /// The version it served.
        version: i64,
    },
    /// The guardrails removed the canary alias.
    CanaryRolledBack {
        /// The canary's version.
        version: i64,
        /// The rule that failed, with the figures.
        reason: String,
    },
}

/// The findings of a finished monitoring check.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestCheck {
    /// When the check started, ms since the Unix epoch.
    pub at_ms: i64,
    /// Its metrics by name (`drift_score`, `drift:FEATURE`, ...).
    pub metrics: BTreeMap<String, f64>,
}

/// Loads versions and keeps them, so an alias moving back is instant.
pub struct Follower {
    store: Store,
    model: String,
    config: ServeConfig,
    cache: HashMap<i64, Arc<ServedModel>>,
    failed: HashMap<i64, String>,
    /// Production's counters when the current canary started.
    canary_baseline: Option<(i64, StatsSnapshot)>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("model", &self.model)
            .field("loaded", &self.cache.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Follower {
    /// Follows `model` in `store`.
    pub fn new(store: Store, model: &str, config: ServeConfig) -> Self {
        Self {
            store,
            model: model.to_string(),
            config,
            cache: HashMap::new(),
            failed: HashMap::new(),
            canary_baseline: None,
        }
    }

    /// The registry store it reads.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The registered model followed.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Reads the aliases.
    pub fn targets(&mut self) -> Result<Targets, RegistryError> {
        let versions = self.store.model_versions(&self.model)?;
        let mut by_alias: BTreeMap<&str, i64> = BTreeMap::new();
        for v in &versions {
            for a in &v.aliases {
                by_alias.insert(a.as_str(), v.version);
            }
        }
        let production = by_alias.get(self.config.production_alias.as_str()).copied();
        let canary = by_alias
            .get(self.config.canary_alias.as_str())
            .copied()
            .filter(|&c| Some(c) != production && self.config.canary_percent > 0.0);
        let mut shadows = Vec::new();
        for a in &self.config.shadow_aliases {
            if let Some(&v) = by_alias.get(a.as_str())
                && Some(v) != production
                && Some(v) != canary
                && !shadows.contains(&v)
            {
                shadows.push(v);
            }
        }
        let mut previous = Vec::new();
        if self.config.fallback == Fallback::Baseline
            && let Some(&v) = by_alias.get(self.config.baseline_alias.as_str())
            && Some(v) != production
        {
            previous.push(v);
        }
        if self.config.fallback == Fallback::Previous {
            let history = self
                .store
                .alias_history(&self.model, Some(&self.config.production_alias))?;
            let mut events = history;
            events.sort_by_key(|e| std::cmp::Reverse(e.at));
            for e in events {
                for v in [e.to, e.from].into_iter().flatten() {
                    if Some(v) != production && !previous.contains(&v) {
                        previous.push(v);
                    }
                }
            }
        }
        Ok(Targets {
            production,
            canary,
            shadows,
            previous,
        })
    }

    /// The findings of the model's latest finished monitoring check (the
    /// metrics of the newest finished run of `NAME-monitoring`, written by
    /// `fathom monitor`), with that run's start time in ms since the Unix
    /// epoch; `None` when no check has finished yet.
    pub fn latest_check(&mut self) -> Result<Option<LatestCheck>, RegistryError> {
        let experiment = format!("{}-monitoring", self.model);
        let page = match self.store.list_runs(&fathom_registry::RunQuery {
            experiment: Some(experiment),
            filter: "status = 'finished'".into(),
            order_by: None,
            limit: 1,
            offset: 0,
        }) {
            Ok(p) => p,
            // Nothing monitored yet: the experiment does not exist.
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(page.runs.into_iter().next().map(|r| LatestCheck {
            at_ms: r.info.start_time.timestamp_millis(),
            metrics: r.metrics,
        }))
    }

    /// Loads a version (from the cache when already loaded).
    pub fn load(&mut self, version: i64) -> Result<Arc<ServedModel>, String> {
        if let Some(m) = self.cache.get(&version) {
            return Ok(m.clone());
        }
        let loaded = (|| {
            let v = self
                .store
                .model_version(&self.model, version)
                .map_err(|e| e.to_string())?;
            let bytes = self
                .store
                .load_artifact(&self.model, version)
                .map_err(|e| e.to_string())?;
            let artifact =
                ModelArtifact::from_bytes(&bytes, &v.artifact_uri).map_err(|e| e.to_string())?;
            ServedModel::new(
                &self.model,
                version,
                &v.artifact_sha256,
                artifact,
                self.config.sticky_key.as_deref(),
                self.config.unknown_fields,
            )
            .map_err(|e| e.to_string())
        })();
        match loaded {
            Ok(m) => {
                let m = Arc::new(m);
                self.cache.insert(version, m.clone());
                self.failed.remove(&version);
                Ok(m)
            }
            Err(e) => {
                self.failed.insert(version, e.clone());
                Err(e)
            }
        }
    }

    /// Computes the deployment the aliases ask for, reusing the slots (and
    /// their counters) of `current` where the version is unchanged.
    /// Returns `Ok(None)` when nothing can answer (no production alias, or
    /// it fails to load and no fallback loads either).
    pub fn sync(
        &mut self,
        current: Option<&Deployment>,
        events: &mut Vec<Event>,
    ) -> Result<Option<Deployment>, RegistryError> {
        let targets = self.targets()?;
        let reuse = |version: i64, model: Arc<ServedModel>| -> Arc<Slot> {
            current
                .into_iter()
                .flat_map(|d| {
                    std::iter::once(&d.primary)
                        .chain(d.canary.iter().map(|(s, _)| s))
                        .chain(d.shadows.iter())
                        .chain(d.fallback.iter())
                })
                .find(|s| s.model.version == version)
                .cloned()
                .unwrap_or_else(|| Slot::new(model))
        };
        let newly_failed = |this: &mut Self, v: i64, events: &mut Vec<Event>| {
            let before = this.failed.contains_key(&v);
            let r = this.load(v);
            if let Err(e) = &r
                && !before
            {
                events.push(Event::LoadFailed {
                    version: v,
                    reason: e.clone(),
                });
            }
            r
        };

        // Production, or the newest earlier version that loads.
        let mut degraded = None;
        let mut primary = None;
        if let Some(p) = targets.production {
            match newly_failed(self, p, events) {
                Ok(m) => primary = Some(m),
                Err(e) => {
                    let keep = current
                        .map(|d| d.primary.model.clone())
                        .filter(|m| m.version != p);
                    let fallback = match keep {
                        Some(m) => Some(m),
                        None => targets
                            .previous
                            .iter()
                            .find_map(|&v| newly_failed(self, v, events).ok()),
                    };
                    if let Some(m) = fallback
                        && self.config.fallback != Fallback::None
                    {
                        degraded = Some(format!(
                            "{} names version {p}, which cannot be loaded ({e}); version {} answers instead",
                            self.config.production_alias, m.version
                        ));
                        primary = Some(m);
                    }
                }
            }
        }
        let Some(primary) = primary else {
            return Ok(None);
        };
        let primary_slot = reuse(primary.version, primary.clone());

        let share = (self.config.canary_percent.clamp(0.0, 100.0) * 100.0).round() as u32;
        let canary = match targets.canary {
            Some(c) => newly_failed(self, c, events)
                .ok()
                .map(|m| (reuse(c, m), share)),
            None => None,
        };
        match &canary {
            Some((slot, _)) => {
                let v = slot.model.version;
                if self.canary_baseline.as_ref().map(|b| b.0) != Some(v) {
                    self.canary_baseline = Some((v, primary_slot.stats.snapshot()));
                }
            }
            None => self.canary_baseline = None,
        }
        let mut shadows = Vec::new();
        for &s in &targets.shadows {
            if let Ok(m) = newly_failed(self, s, events) {
                shadows.push(reuse(s, m));
            }
        }
        // What answers a record production fails to score: the newest
        // earlier version (or the baseline) that loads, loaded ahead.
        let fallback = if self.config.fallback == Fallback::None {
            None
        } else {
            targets
                .previous
                .iter()
                .filter(|&&v| v != primary.version)
                .find_map(|&v| newly_failed(self, v, events).ok())
                .map(|m| reuse(m.version, m))
        };
        let next = Deployment {
            model: self.model.clone(),
            primary: primary_slot,
            degraded,
            canary,
            shadows,
            fallback,
        };
        if let Some(cur) = current {
            let slots = |d: &Deployment| {
                (
                    d.primary.model.version,
                    d.canary.as_ref().map(|(s, _)| s.model.version),
                    d.shadows
                        .iter()
                        .map(|s| s.model.version)
                        .collect::<Vec<_>>(),
                )
            };
            if slots(cur) != slots(&next) || cur.degraded != next.degraded {
                push_deployed(&next, cur, events);
            }
        } else {
            events.push(Event::Deployed {
                slot: if next.degraded.is_some() {
                    "fallback"
                } else {
                    "production"
                },
                version: next.primary.model.version,
            });
            if let Some((c, _)) = &next.canary {
                events.push(Event::Deployed {
                    slot: "canary",
                    version: c.model.version,
                });
            }
            for s in &next.shadows {
                events.push(Event::Deployed {
                    slot: "shadow",
                    version: s.model.version,
                });
            }
        }
        Ok(Some(next))
    }

    /// Judges the canary of `deployment` against production; when a rule
    /// fails, removes the canary alias (audited, with the figures) and
    /// returns why.
    pub fn check_guardrails(
        &mut self,
        deployment: &Deployment,
        actor: &Actor,
    ) -> Result<Option<Event>, RegistryError> {
        let rules = self.config.guardrails.clone();
        let Some((canary, _)) = &deployment.canary else {
            return Ok(None);
        };
        let Some((v, baseline)) = &self.canary_baseline else {
            return Ok(None);
        };
        if *v != canary.model.version || !rules.enabled {
            return Ok(None);
        }
        let prod = delta(&deployment.primary.stats.snapshot(), baseline);
        let can = canary.stats.snapshot();
        let Some(reason) = judge(&rules, &prod, &can) else {
            return Ok(None);
        };
        let why = format!("canary guardrail: {reason}");
        self.store
            .remove_alias(&self.model, &self.config.canary_alias, actor, &why)?;
        self.canary_baseline = None;
        Ok(Some(Event::CanaryRolledBack {
            version: canary.model.version,
            reason,
        }))
    }

    /// Why the last load of a version failed, if it did.
    pub fn failure(&self, version: i64) -> Option<&str> {
        self.failed.get(&version).map(String::as_str)
    }

    /// Changes the unknown-fields policy for versions loaded from now on.
    pub fn set_unknown_fields(&mut self, unknown: UnknownFields) {
        self.config.unknown_fields = unknown;
    }
}

fn push_deployed(next: &Deployment, cur: &Deployment, events: &mut Vec<Event>) {
    if next.primary.model.version != cur.primary.model.version || next.degraded != cur.degraded {
        events.push(Event::Deployed {
            slot: if next.degraded.is_some() {
                "fallback"
            } else {
                "production"
            },
            version: next.primary.model.version,
        });
    }
    let cv = |d: &Deployment| d.canary.as_ref().map(|(s, _)| s.model.version);
    if cv(next) != cv(cur) {
        if let Some(v) = cv(cur) {
            events.push(Event::Removed {
                slot: "canary",
                version: v,
            });
        }
        if let Some(v) = cv(next) {
            events.push(Event::Deployed {
                slot: "canary",
                version: v,
            });
        }
    }
    for s in &cur.shadows {
        if !next
            .shadows
            .iter()
            .any(|n| n.model.version == s.model.version)
        {
            events.push(Event::Removed {
                slot: "shadow",
                version: s.model.version,
            });
        }
    }
    for s in &next.shadows {
        if !cur
            .shadows
            .iter()
            .any(|c| c.model.version == s.model.version)
        {
            events.push(Event::Deployed {
                slot: "shadow",
                version: s.model.version,
            });
        }
    }
}

fn delta(now: &StatsSnapshot, base: &StatsSnapshot) -> StatsSnapshot {
    StatsSnapshot {
        requests: now.requests.saturating_sub(base.requests),
        errors: now.errors.saturating_sub(base.errors),
        scores: std::array::from_fn(|i| now.scores[i].saturating_sub(base.scores[i])),
        latency: std::array::from_fn(|i| now.latency[i].saturating_sub(base.latency[i])),
    }
}

/// Population stability index between two bucket counts, with empty
/// buckets smoothed to half a count.
pub fn psi(expected: &[u64; SCORE_BUCKETS], actual: &[u64; SCORE_BUCKETS]) -> f64 {
    let e_total: u64 = expected.iter().sum();
    let a_total: u64 = actual.iter().sum();
    if e_total == 0 || a_total == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..SCORE_BUCKETS {
        let e = (expected[i] as f64).max(0.5) / e_total as f64;
        let a = (actual[i] as f64).max(0.5) / a_total as f64;
        sum += (a - e) * (a / e).ln();
    }
    sum
}

/// The first failed guardrail, described with its figures.
pub fn judge(
    rules: &Guardrails,
    production: &StatsSnapshot,
    canary: &StatsSnapshot,
) -> Option<String> {
    if canary.requests + canary.errors < rules.min_requests
        || production.requests + production.errors < rules.min_requests
    {
        return None;
    }
    let (pe, ce) = (production.error_rate(), canary.error_rate());
    if ce - pe > rules.max_error_rate_increase {
        return Some(format!(
            "error rate {ce:.4} against production's {pe:.4} (allowed increase {})",
            rules.max_error_rate_increase
        ));
    }
    let (pl, cl) = (
        production.latency_quantile_us(0.95),
        canary.latency_quantile_us(0.95),
    );
    if pl > 0 && cl as f64 > pl as f64 * rules.max_latency_ratio && cl > rules.min_latency_us {
        return Some(format!(
            "p95 latency ≤{cl} µs against production's ≤{pl} µs (allowed ratio {}, and up to {} µs in any case)",
            rules.max_latency_ratio, rules.min_latency_us
        ));
    }
    let p = psi(&production.scores, &canary.scores);
    if p > rules.max_score_psi {
        return Some(format!(
            "score distribution PSI {p:.3} against production (allowed {})",
            rules.max_score_psi
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_matches_a_hand_computed_value() {
        // Two buckets carry everything: expected 50/50, actual 80/20.
        let mut e = [0u64; SCORE_BUCKETS];
        let mut a = [0u64; SCORE_BUCKETS];
        e[0] = 500;
        e[9] = 500;
        a[0] = 800;
        a[9] = 200;
        // Empty buckets contribute (0.0005-0.0005)·ln(1) = 0.
        let want = (0.8 - 0.5) * (0.8f64 / 0.5).ln() + (0.2 - 0.5) * (0.2f64 / 0.5).ln();
        assert!((psi(&e, &a) - want).abs() < 1e-12);
        assert_eq!(psi(&e, &e), 0.0);
    }

    #[test]
    fn guardrails_wait_for_enough_requests_then_name_the_rule() {
        let rules = Guardrails {
            min_requests: 100,
            ..Guardrails::default()
        };
        let mut prod = StatsSnapshot {
            requests: 1000,
            ..StatsSnapshot::default()
        };
        prod.scores[0] = 1000;
        prod.latency[0] = 1000;
        let mut can = prod.clone();
        can.requests = 50;
        assert_eq!(judge(&rules, &prod, &can), None);
        can.requests = 1000;
        can.errors = 100;
        let why = judge(&rules, &prod, &can).unwrap();
        assert!(why.starts_with("error rate"), "{why}");
        can.errors = 0;
        can.scores = [0; SCORE_BUCKETS];
        can.scores[9] = 1000;
        assert!(judge(&rules, &prod, &can).unwrap().contains("PSI"));
        can.scores = prod.scores;
        // Twenty times slower but still under the floor: accepted.
        can.latency = [0; crate::rollout::LATENCY_BOUNDS_US.len()];
        can.latency[4] = 1000;
        assert!(crate::rollout::LATENCY_BOUNDS_US[4] <= rules.min_latency_us);
        assert_eq!(judge(&rules, &prod, &can), None);
        // Slower than the ratio and the floor: removed.
        can.latency = [0; crate::rollout::LATENCY_BOUNDS_US.len()];
        can.latency[8] = 1000;
        assert!(crate::rollout::LATENCY_BOUNDS_US[8] > rules.min_latency_us);
        assert!(judge(&rules, &prod, &can).unwrap().contains("p95"));
    }
}
