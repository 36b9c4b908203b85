//! fathom's prediction log.
//!
//! Every answered prediction (request id, time, model version, rollout
//! variant, inputs, score, decision, latency) and every feedback label is
//! appended to a durable log in a local folder, off the serving hot path:
//!
//! * [`PredictionLog`]: `append` is one send into a bounded queue; a writer
//!   thread sanitises inputs ([`Sanitizer`]: PII fields hashed or dropped),
//!   frames records with a checksum, and writes them in groups with one
//!   write and, under [`Durability::Fsync`], one fsync per group. Each
//!   append returns a [`Ticket`] that resolves once the record is durable;
//! * segment files (`seg-<seq>.log`), rotated by size; a torn tail left by a
//!   crash is cut and reported ([`Recovery`]) when the log is opened;
//! * [`compact`]: closed segments to Parquet, atomically; [`purge`]:
//!   retention by age;
//! * [`LogReader`]: windows of predictions and labels, joined by request
//!   id, and the window's inputs as a typed [`fathom_core::Frame`]; several
//!   folders (replicas, shipped copies) read as one log;
//! * [`ship`]: replica ids, compacted segments not yet shipped, and a cache
//!   of shipped ones, for a copier to an object store.
//!
//! The crate is synchronous (std threads); tickets are plain futures that
//! need no particular runtime, or can be waited on from a thread.
//! The file formats and the durability trade-off are described in
//! `docs/prediction-log.md`.
//!
//! ```
//! use fathom_predlog::{FeedbackRecord, LogConfig, LogReader, PredictionLog, PredictionRecord, Variant};
//! # let dir = tempfile::tempdir().unwrap();
//! let log = PredictionLog::open(LogConfig::new(dir.path()))?;
//! let request_id = "0190a1b2-0000-7000-8000-00000000002a".to_string();
//! log.append(PredictionRecord {
//!     request_id: request_id.clone(),
//!     time_ms: 1_700_000_000_000,
//!     model: "fraud".into(),
//!     version: 3,
//!     variant: Variant::Canary,
//!     inputs: bytes::Bytes::from_static(br#"{"amount": 99.0, "merchant": "m-17"}"#),
//!     score: 0.93,
//!     decision: Some(true),
//!     latency_us: 210,
//!     degraded: false,
//! })?;
//! log.append_feedback(FeedbackRecord { request_id, time_ms: 1_700_000_900_000, label: 1.0 })?.wait()?;
//! log.shutdown()?;
//!
//! let joined = LogReader::open(dir.path())?.joined(1_700_000_000_000, 1_700_000_060_000)?;
//! assert_eq!(joined[0].1.as_ref().map(|f| f.label), Some(1.0));
//! # Ok::<(), fathom_predlog::LogError>(())
//! ```

mod compact;
mod config;
mod error;
mod inputs;
mod log;
mod parquet_io;
mod purge;
mod reader;
mod record;
mod sanitize;
mod segment;
pub mod ship;
mod stats;
mod ticket;
mod writer;

pub use compact::{CompactReport, compact};
pub use config::{Durability, LogConfig};
pub use error::{LogError, Result};
pub use inputs::inputs_frame;
pub use log::{PredictionLog, Recovery};
pub use purge::{PurgeReport, purge};
pub use reader::LogReader;
pub use record::{FeedbackRecord, PredictionRecord, Variant};
pub use sanitize::{NotAnObject, Sanitizer};
pub use stats::LogStats;
pub use ticket::Ticket;
