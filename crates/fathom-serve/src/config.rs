//! `[serve]` in `fathom.toml`: what the server deploys and how it guards
//! itself. Every key has a default.

use crate::contract::UnknownFields;
use serde::{Deserialize, Serialize};

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: String,
    /// Registered model to serve (default: `[registry] model`).
    pub model: Option<String>,
    /// Alias that takes the traffic.
    pub production_alias: String,
    /// Alias of the canary, served to `canary_percent` of entity keys when set.
    pub canary_alias: String,
    /// Share of traffic for the canary, in percent (0–100).
    pub canary_percent: f64,
    /// Field whose value keeps an entity on one variant (default: the
    /// schema's `key` column, e.g. the card id).
    pub sticky_key: Option<String>,
    /// Aliases whose versions score every request in the shadow.
    pub shadow_aliases: Vec<String>,
    /// How often aliases are checked for moves, in milliseconds.
    pub poll_ms: u64,
    /// How often the server records its request and error totals in the
    /// store (a run of `NAME-serving`), in milliseconds; 0 never.
    pub record_ms: u64,
    /// Most records in one batch request.
    pub max_batch: usize,
    /// Largest request body, in bytes (larger → 413).
    pub max_body_bytes: usize,
    /// Time limit per request, in milliseconds (→ 408).
    pub timeout_ms: u64,
    /// Fields the schema does not know: `ignore` or `reject`.
    pub unknown_fields: UnknownFields,
    /// When the aliased version cannot be loaded (and no version serves
    /// already): `previous` (walk back the alias's history to a version
    /// that loads), `baseline` (the version `baseline_alias` names, e.g. a
    /// simple model kept for this), answering degraded either way; or
    /// `none` (not ready until it loads).
    pub fallback: Fallback,
    /// The alias `fallback = "baseline"` answers with.
    pub baseline_alias: String,
    /// Canary guardrails.
    pub guardrails: Guardrails,
    /// Bearer tokens and who may call what.
    pub auth: AuthConfig,
    /// One JSON line per request on standard error.
    pub access_log: bool,
    /// The prediction log.
    pub log: PredictionLogConfig,
    /// HTTPS: serve TLS with this certificate and key (PEM files).
    pub tls: Option<TlsConfig>,
}

/// `[serve.tls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM.
    pub cert: std::path::PathBuf,
    /// The private key, PEM.
    pub key: std::path::PathBuf,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            model: None,
            production_alias: "production".into(),
            canary_alias: "canary".into(),
            canary_percent: 10.0,
            sticky_key: None,
            shadow_aliases: vec!["shadow".into()],
            poll_ms: 1000,
            record_ms: 60_000,
            max_batch: 10_000,
            max_body_bytes: 16 * 1024 * 1024,
            timeout_ms: 10_000,
            unknown_fields: UnknownFields::Ignore,
            fallback: Fallback::Previous,
            baseline_alias: "baseline".into(),
            guardrails: Guardrails::default(),
            auth: AuthConfig::default(),
            access_log: false,
            log: PredictionLogConfig::default(),
            tls: None,
        }
    }
}

/// What answers when the aliased version cannot be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The newest earlier version the alias named that still loads.
    Previous,
    /// The version the baseline alias names.
    Baseline,
    /// Nothing: the server is not ready.
    None,
}

/// Limits beyond which the server removes the canary alias by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Guardrails {
    /// Check them at all.
    pub enabled: bool,
    /// Canary answers needed before judging.
    pub min_requests: u64,
    /// Largest allowed canary error rate minus production's.
    pub max_error_rate_increase: f64,
    /// Largest allowed canary p95 latency ÷ production's.
    pub max_latency_ratio: f64,
    /// A canary p95 latency up to this many microseconds is always
    /// accepted (a fast model a few times slower than a faster one is
    /// still fast).
    pub min_latency_us: u64,
    /// Largest allowed population stability index between the two score
    /// distributions (in ten buckets, finer near zero).
    pub max_score_psi: f64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            enabled: true,
            min_requests: 500,
            max_error_rate_increase: 0.01,
            max_latency_ratio: 3.0,
            min_latency_us: 2_000,
            max_score_psi: 0.25,
        }
    }
}

/// `[serve.auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Prediction endpoints need no token (for internal networks).
    /// Everything else needs one as soon as any token is configured.
    pub open_predict: bool,
    /// Reading endpoints (`/v1/models`) need no token.
    pub open_read: bool,
    /// The accepted tokens.
    pub tokens: Vec<TokenConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            open_predict: true,
            open_read: true,
            tokens: Vec::new(),
        }
    }
}

/// `[[serve.auth.tokens]]`: one bearer token, stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (shown in logs and the audit trail).
    pub name: String,
    /// Hex SHA-256 of the token (`fathom serve token` makes both).
    pub sha256: String,
    /// `predict`, `read`, `operate`, `admin`.
    pub roles: Vec<String>,
    /// Requests per second allowed (burst of the same size); 0 = no limit.
    #[serde(default)]
    pub rate_per_second: f64,
}

/// `[serve.log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictionLogConfig {
    /// Log predictions at all.
    pub enabled: bool,
    /// Folder of the log (default: `predictions` in the store folder).
    pub dir: Option<std::path::PathBuf>,
    /// `buffered` (acknowledge at once; written every `flush_ms`) or
    /// `fsync` (acknowledge after the record is on disk).
    pub durability: String,
    /// Records waiting to be written before new ones are dropped.
    pub queue_capacity: usize,
    /// Flush interval in buffered mode, milliseconds.
    pub flush_ms: u64,
    /// Input fields replaced by a salted SHA-256 in the log.
    pub hash_fields: Vec<String>,
    /// Input fields left out of the log.
    pub drop_fields: Vec<String>,
    /// Salt for hashed fields (env `FATHOM_LOG_SALT`).
    pub salt: String,
    /// Days of segments kept; older ones are purged (locally, and the
    /// shipped copies when `ship` is on).
    pub retention_days: Option<u32>,
    /// Ship compacted segments to the artifact store, so that monitoring
    /// reads the log of every replica (each keeps its own `dir`).
    pub ship: bool,
    /// With `ship`: how often, in milliseconds; a segment is also closed
    /// once it is this old, so a quiet server ships too.
    pub ship_ms: u64,
}

impl Default for PredictionLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            durability: "buffered".into(),
            queue_capacity: 65_536,
            flush_ms: 200,
            hash_fields: Vec::new(),
            drop_fields: Vec::new(),
            salt: String::new(),
            retention_days: Some(30),
            ship: false,
            ship_ms: 60_000,
        }
    }
}
