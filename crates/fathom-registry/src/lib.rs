//! fathom's tracking store and model registry.
//!
//! One [`Store`] type over two database back ends, chosen by location:
//! SQLite (the embedded default, a file under the store folder, WAL mode)
//! and PostgreSQL (a `postgres://` URL). Both run the same SQL through the
//! [`backend::Backend`] trait and pass the same test suite.
//!
//! * tracking ([`tracking`]): experiments, runs, params, metrics with step
//!   history and their latest values kept apart for fast listings, tags,
//!   artifacts; filtered, sorted, paginated listing ([`filter`]) and
//!   side-by-side comparison;
//! * registry ([`registry`]): registered models, versions, aliases with
//!   history, the promotion gate ([`gate`]), rollback, archiving, lineage
//!   and model cards ([`card`]);
//! * the audit log ([`audit`]), written in the same transaction as every
//!   registry change;
//! * registry events ([`events`]): an outbox row per change, in the same
//!   transaction, delivered to webhooks with retries and backoff;
//! * the artifact store ([`artifacts`]): checksummed, atomic,
//!   content-addressed files in a local folder or (feature `s3`) an
//!   S3-compatible bucket;
//! * garbage collection ([`gc`]): runs and artifacts nothing needs any
//!   more, shown by a dry run, deleted on request and audited;
//! * pipeline state ([`pipelines`]): runs per (pipeline, logical date),
//!   their task attempts with outputs and logs, and leases;
//! * shipped prediction-log files ([`log_segments`]): where each serving
//!   replica's compacted log segments are in the artifact store, by time.
//!
//! The API is synchronous; each call is one transaction.
//!
//! ```
//! use fathom_registry::{Actor, NewRun, NewVersion, Promotion, PromotionPolicy, RunBatch, Store};
//! use fathom_registry::artifacts::{ArtifactStore, LocalArtifactStore};
//! # let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open(dir.path().join(".fathom").to_str().unwrap())?;
//! let artifacts = LocalArtifactStore::new(dir.path().join(".fathom/artifacts"))?;
//!
//! let run = store.start_run(&NewRun::new("fraud", "gbdt"))?;
//! store.log_batch(run, &RunBatch {
//!     params: vec![("model".into(), "gbdt".into())],
//!     metrics: vec![fathom_registry::MetricPoint::new("auc_pr", 0.71)],
//!     tags: vec![],
//! })?;
//! store.finish_run(run)?;
//!
//! let stored = artifacts.put_bytes(b"model bytes")?;
//! let me = Actor::new("ana", "laptop");
//! let v = store.register_version(&NewVersion {
//!     model: "fraud".into(),
//!     run_id: Some(run),
//!     artifact_uri: stored.uri,
//!     artifact_sha256: stored.sha256,
//!     schema_hash: "5f1c".into(),
//!     holdout_snapshot: Some("a1b2".into()),
//!     metrics: [("auc_pr".to_string(), 0.71)].into(),
//!     owner: "ana".into(),
//!     ..NewVersion::default()
//! }, &me, "first model")?;
//! let promotion = Promotion { model: "fraud".into(), version: v.version, alias: "production".into(), force: false };
//! store.promote(&promotion, &PromotionPolicy::default(), &me, "beats nothing yet")?;
//! assert_eq!(store.resolve("fraud@production")?.version, 1);
//! # Ok::<(), fathom_registry::RegistryError>(())
//! ```

mod actor;
pub mod artifacts;
pub mod audit;
pub mod backend;
pub mod card;
mod clock;
mod error;
pub mod events;
pub mod filter;
pub mod gate;
pub mod gc;
pub mod listen;
pub mod log_segments;
pub mod pipelines;
pub mod registry;
mod store;
pub mod tracking;
mod value;

pub use actor::{Actor, host_name};
pub use audit::{AuditAction, AuditEntry, AuditQuery};
pub use backend::sqlite::SqliteOptions;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{RegistryError, Result};
pub use events::{
    DeliveryPolicy, DeliveryReport, Event, EventKind, EventQuery, EventRecord, Webhook,
    WebhookTransport, deliver_due,
};
pub use filter::{Filter, SortKey};
pub use gate::{GateFailure, PromotionPolicy};
pub use gc::{GcPlan, GcPolicy, GcReport};
pub use listen::ChangeListener;
pub use log_segments::{LogSegment, NewLogSegment};
pub use pipelines::{
    Lease, NewPipelineRun, PipelineRun, PipelineRunEnd, PipelineRunId, PipelineRunQuery,
    PipelineRunStatus, PipelineTrigger, TaskAttemptEnd, TaskRun, TaskRunStatus,
};
pub use registry::{
    AliasEvent, AliasMove, Lineage, ModelDescription, ModelVersion, NewModel, NewVersion,
    PRODUCTION, Promotion, RegisteredModel, VersionStatus,
};
pub use store::{SQLITE_FILE_NAME, Store, StoreLocation};
pub use tracking::{
    ArtifactRecord, ComparedMetric, ComparedParam, Experiment, MetricGoal, MetricPoint,
    MetricRecord, NewRun, Run, RunBatch, RunComparison, RunId, RunInfo, RunPage, RunQuery,
    RunStatus, RunSummary,
};
pub use value::{Row, SqlValue};
