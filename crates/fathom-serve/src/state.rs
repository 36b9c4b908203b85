//! What every request handler shares.

use crate::auth::Auth;
use crate::config::ServeConfig;
use crate::metrics::Metrics;
use crate::rollout::{Deployment, Variant};
use arc_swap::ArcSwapOption;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One answered record, as handed to the prediction log.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The request id (per record in a batch: `<id>/<index>`).
    pub request_id: String,
    /// Unix epoch milliseconds.
    pub time_ms: i64,
    /// Model version.
    pub version: i64,
    /// Who answered.
    pub variant: Variant,
    /// The record's JSON text as received.
    pub inputs: bytes::Bytes,
    /// The score.
    pub score: f64,
    /// The decision.
    pub decision: Option<bool>,
    /// Handler time so far, µs.
    pub latency_us: u32,
    /// A fallback answered.
    pub degraded: bool,
}

/// The shared state.
#[derive(Debug)]
pub struct AppState {
    /// What answers; `None` until a version loads.
    pub deployment: ArcSwapOption<Deployment>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Tokens and roles.
    pub auth: Auth,
    /// The settings.
    pub config: ServeConfig,
    /// The registered model served.
    pub model: String,
    /// The registry store's location (read by the dashboard).
    pub store_location: String,
    /// Whether the last registry poll worked.
    pub store_ok: AtomicBool,
    /// Why the last poll failed.
    pub store_error: Mutex<Option<String>>,
    /// The prediction log, when enabled.
    pub log: Option<fathom_predlog::PredictionLog>,
    /// When the server started.
    pub started: Instant,
    /// Answers wait until their record is on disk.
    pub fsync: bool,
    /// Where `[serve] access_log` lines go (standard error by default).
    pub access_log: crate::access::AccessLog,
    /// The artifact store (a folder or `s3://...`), for the registry
    /// changes made through the API.
    pub artifacts_location: Option<String>,
    /// The promotion gate (`[registry] promotion`) the API's promotions
    /// pass.
    pub promotion: fathom_registry::PromotionPolicy,
}

impl AppState {
    /// Appends one record to the prediction log (off the hot path: a
    /// queue push). In fsync mode returns the ticket the caller awaits
    /// before answering; `Ok(None)` when the log is off or buffered; an
    /// error when the queue is full (the log counts the record as dropped).
    pub fn log(
        &self,
        rec: Logged,
    ) -> Result<Option<fathom_predlog::Ticket>, fathom_predlog::LogError> {
        let Some(log) = self.log.as_ref() else {
            return Ok(None);
        };
        let record = fathom_predlog::PredictionRecord {
            request_id: rec.request_id,
            time_ms: rec.time_ms,
            model: self.model.clone(),
            version: rec.version,
            variant: match rec.variant {
                Variant::Production => fathom_predlog::Variant::Production,
                Variant::Canary => fathom_predlog::Variant::Canary,
                Variant::Shadow => fathom_predlog::Variant::Shadow,
                Variant::Fallback => fathom_predlog::Variant::Fallback,
            },
            inputs: rec.inputs,
            score: rec.score,
            decision: rec.decision,
            latency_us: rec.latency_us,
            degraded: rec.degraded,
        };
        if self.fsync {
            log.append(record).map(Some)
        } else {
            log.append_detached(record).map(|()| None)
        }
    }

    /// Whether the store answered the last poll.
    pub fn store_reachable(&self) -> bool {
        self.store_ok.load(Ordering::Relaxed)
    }
}
