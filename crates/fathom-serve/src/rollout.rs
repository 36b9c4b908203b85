//! What is deployed and who answers a request: `production` takes the
//! traffic, an optional `canary` a share of it (sticky by entity key),
//! `shadow` versions score the same requests without answering.

use crate::model::ServedModel;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which slot of the deployment answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The `production` alias.
    Production,
    /// The `canary` alias, for its share of traffic.
    Canary,
    /// A shadow version (scored, never returned).
    Shadow,
    /// A fallback answering because the aliased version could not be loaded.
    Fallback,
}

impl Variant {
    /// Lower-case name, as in responses, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Production => "production",
            Variant::Canary => "canary",
            Variant::Shadow => "shadow",
            Variant::Fallback => "fallback",
        }
    }
}

/// A loaded version in a slot, with the counters its guardrails read.
#[derive(Debug)]
pub struct Slot {
    /// The model.
    pub model: Arc<ServedModel>,
    /// Live counters since it entered the slot.
    pub stats: SlotStats,
}

impl Slot {
    /// A slot with fresh counters.
    pub fn new(model: Arc<ServedModel>) -> Arc<Self> {
        Arc::new(Self {
            model,
            stats: SlotStats::default(),
        })
    }
}

/// Upper bounds of the score buckets kept per slot: finer near zero,
/// where most scores of a rare-event model lie.
pub const SCORE_BOUNDS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

/// Number of score buckets kept per slot.
pub const SCORE_BUCKETS: usize = SCORE_BOUNDS.len();

/// Bounds (µs) of the latency buckets kept per slot.
pub const LATENCY_BOUNDS_US: [u64; 12] = [
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    u64::MAX,
];

/// Requests, errors, latencies and scores of one slot.
#[derive(Debug, Default)]
pub struct SlotStats {
    /// Answers given.
    pub requests: AtomicU64,
    /// Requests routed to the slot that it did not answer: its contract
    /// refused the record, its score failed, or the prediction log could
    /// not take the answer (fsync mode).
    pub errors: AtomicU64,
    /// Answers by score bucket ([`SCORE_BOUNDS`]).
    pub scores: [AtomicU64; SCORE_BUCKETS],
    /// Answers by latency bucket ([`LATENCY_BOUNDS_US`]).
    pub latency: [AtomicU64; LATENCY_BOUNDS_US.len()],
}

impl SlotStats {
    /// Counts one answer.
    pub fn observe(&self, score: f64, latency_us: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let b = SCORE_BOUNDS
            .iter()
            .position(|&u| score <= u)
            .unwrap_or(SCORE_BUCKETS - 1);
        self.scores[b].fetch_add(1, Ordering::Relaxed);
        let l = LATENCY_BOUNDS_US
            .iter()
            .position(|&u| latency_us <= u)
            .unwrap_or(LATENCY_BOUNDS_US.len() - 1);
        self.latency[l].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request routed here that failed before an answer was
    /// computed.
    pub fn fail(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer already counted by [`observe`](Self::observe)
    /// that was not given after all (the prediction log refused it): it
    /// moves from the answers to the errors.
    pub fn withdraw(&self) {
        self.requests.fetch_sub(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            scores: std::array::from_fn(|i| self.scores[i].load(Ordering::Relaxed)),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        }
    }
}

/// Plain copy of [`SlotStats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Answers given.
    pub requests: u64,
    /// Failures.
    pub errors: u64,
    /// Answers by score bucket ([`SCORE_BOUNDS`]).
    pub scores: [u64; SCORE_BUCKETS],
    /// Answers by latency bucket.
    pub latency: [u64; LATENCY_BOUNDS_US.len()],
}

impl StatsSnapshot {
    /// Share of failed requests.
    pub fn error_rate(&self) -> f64 {
        let total = self.requests + self.errors;
        if total == 0 {
            0.0
        } else {
            self.errors as f64 / total as f64
        }
    }

    /// Upper bound (µs) of the bucket holding quantile `q` of latency.
    pub fn latency_quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.latency.iter().enumerate() {
            seen += c;
            if seen >= want {
                return LATENCY_BOUNDS_US[i];
            }
        }
        LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1]
    }
}

/// The whole deployment of one registered model, swapped atomically when
/// an alias moves.
#[derive(Debug)]
pub struct Deployment {
    /// The registered model's name.
    pub model: String,
    /// Who answers by default: `production`, or a fallback when it could
    /// not be loaded.
    pub primary: Arc<Slot>,
    /// Whether `primary` is a fallback, and why.
    pub degraded: Option<String>,
    /// The canary and its share of traffic in basis points (1/100 %).
    pub canary: Option<(Arc<Slot>, u32)>,
    /// Shadow versions.
    pub shadows: Vec<Arc<Slot>>,
    /// The version that answers a record `primary` fails to score (a
    /// panic or a score that is not a finite number): the configured
    /// fallback (`previous` or `baseline`), loaded ahead; `None` with
    /// `fallback = "none"` or when there is no such version.
    pub fallback: Option<Arc<Slot>>,
}

impl Deployment {
    /// Chooses the slot for a request: the canary for its share of entity
    /// keys (the same key always gets the same answer), else the primary.
    /// Without a key, `fallback_hash` (from the request id) decides.
    pub fn route(&self, key: Option<&str>, fallback_hash: u64) -> (&Arc<Slot>, Variant) {
        if let Some((canary, share)) = &self.canary {
            let h = key.map_or(fallback_hash, |k| fnv1a(k.as_bytes()));
            if (h % 10_000) < u64::from(*share) {
                return (canary, Variant::Canary);
            }
        }
        let variant = if self.degraded.is_some() {
            Variant::Fallback
        } else {
            Variant::Production
        };
        (&self.primary, variant)
    }
}

/// FNV-1a, 64 bit: a stable hash, so every replica routes a key the same
/// way, release after release.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
