//! fathom's pipelines: task graphs run against the registry store, and
//! the cron scheduler that starts them.
//!
//! * [`Pipeline`] — named tasks ([`TaskSpec`]: dependencies, retries with
//!   exponential [`Backoff`], a timeout, an owner) and their code
//!   ([`TaskBody`]); checked once (unknown dependencies, duplicates,
//!   cycles) and run in one deterministic order.
//! * [`Runner`] — runs a pipeline for a [`LogicalDate`] with its state in
//!   the store: a date that succeeded is not run again, a failed one
//!   resumes from the failed task; every attempt is recorded with its
//!   output and log; a failed task stops what depends on it and names
//!   its owner in an [`Alert`]. A lease per run keeps two runners off the
//!   same run. [`Runner::run_one`] runs a single task of a run, on the
//!   recorded outputs of the tasks before it.
//! * [`Schedule`] and [`due`] — cron in UTC with a catch-up policy after
//!   downtime; [`Scheduler`] ticks them, runs queued runs, resumes runs
//!   whose runner died (once their lease expired) and, if asked, delivers
//!   the registry's due events.
//!
//! ```
//! use fathom_pipeline::{LogicalDate, Pipeline, RunOutcome, RunRequest, Runner, TaskOutput, TaskSpec};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = fathom_registry::Store::open(dir.path().to_str().unwrap())?;
//! let pipeline = Pipeline::builder("data")
//!     .owner("data-team")
//!     .task(TaskSpec::new("ingest"), |ctx| {
//!         ctx.log(format!("reading the batch for {}", ctx.logical_date));
//!         Ok(TaskOutput::new(serde_json::json!({"rows": 1000})))
//!     })
//!     .task(TaskSpec::new("validate").after(["ingest"]), |ctx| {
//!         let rows = ctx.upstream("ingest").unwrap()["rows"].as_u64().unwrap();
//!         Ok(TaskOutput::new(serde_json::json!({"checked": rows})))
//!     })
//!     .build()?;
//! let mut runner = Runner::new(store);
//! let date = LogicalDate::parse("2026-03-02")?;
//! let RunOutcome::Ran(report) = runner.run(&pipeline, &RunRequest::manual(date))? else { panic!() };
//! assert!(report.succeeded());
//! // The same date again does nothing.
//! assert!(matches!(runner.run(&pipeline, &RunRequest::manual(date))?, RunOutcome::AlreadySucceeded(_)));
//! # Ok::<(), fathom_pipeline::PipelineError>(())
//! ```

mod config;
mod date;
mod error;
mod pipeline;
mod runner;
mod schedule;
mod scheduler;
mod task;

pub use config::{PipelineConfig, TaskConfig};
pub use date::LogicalDate;
pub use error::PipelineError;
pub use pipeline::{
    Backoff, DEFAULT_RETRIES, DEFAULT_TIMEOUT, Pipeline, PipelineBuilder, Task, TaskSpec,
};
pub use runner::{
    Alert, RunEvent, RunEventKind, RunObserver, RunOutcome, RunReport, RunRequest, Runner,
    RunnerOptions, Sleeper, TaskReport, ThreadSleeper, lease_name, show_duration,
};
pub use schedule::{CatchUp, Due, MAX_CATCH_UP, ON_TIME, Schedule, due};
pub use scheduler::{DEFAULT_POLL, EventDelivery, Scheduler, TickReport, TickRun, enqueue};
pub use task::{TaskBody, TaskContext, TaskError, TaskErrorKind, TaskOutput};
