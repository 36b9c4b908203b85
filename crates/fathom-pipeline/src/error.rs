//! What can go wrong defining, configuring or running a pipeline.

use fathom_registry::RegistryError;
use thiserror::Error;

/// Errors of pipeline definitions, schedules and runs. A task's own
/// failure is not an error here: it is recorded and reported in the run's
/// outcome.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// A pipeline has no tasks.
    #[error("pipeline '{pipeline}' has no tasks; give it at least one")]
    Empty {
        /// The pipeline.
        pipeline: String,
    },
    /// A task or pipeline name is not usable.
    #[error(
        "pipeline '{pipeline}': '{name}' is not a usable name; use letters, digits, '_', '-' and '.', 1 to 100 characters"
    )]
    BadName {
        /// The pipeline.
        pipeline: String,
        /// The name given.
        name: String,
    },
    /// Two tasks share a name.
    #[error("pipeline '{pipeline}': task '{task}' is declared twice; task names must be unique")]
    DuplicateTask {
        /// The pipeline.
        pipeline: String,
        /// The repeated name.
        task: String,
    },
    /// A task depends on a task the pipeline does not have.
    #[error(
        "pipeline '{pipeline}': task '{task}' depends on '{dependency}', which is not a task of it; tasks are {}",
        known.join(", ")
    )]
    UnknownDependency {
        /// The pipeline.
        pipeline: String,
        /// The task with the bad dependency.
        task: String,
        /// The dependency named.
        dependency: String,
        /// The pipeline's tasks.
        known: Vec<String>,
    },
    /// The dependencies form a cycle.
    #[error(
        "pipeline '{pipeline}': the dependencies form a cycle ({}); a task cannot wait for itself",
        cycle.join(" → ")
    )]
    Cycle {
        /// The pipeline.
        pipeline: String,
        /// The tasks of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A setting of a pipeline or task is not acceptable.
    #[error("{what}: {message}")]
    BadSetting {
        /// Which setting (e.g. `pipelines.data.tasks.ingest.timeout_secs`).
        what: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A cron expression could not be read.
    #[error(
        "pipeline '{pipeline}': schedule '{expression}' is not a cron expression ({detail}); use five fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" for 02:00 UTC daily"
    )]
    BadCron {
        /// The pipeline.
        pipeline: String,
        /// The expression given.
        expression: String,
        /// The parser's message.
        detail: String,
    },
    /// A logical date could not be read.
    #[error(
        "'{value}' is not a logical date; use YYYY-MM-DD (e.g. 2026-03-02) or an RFC 3339 time (e.g. 2026-03-02T14:00:00Z)"
    )]
    BadLogicalDate {
        /// The text given.
        value: String,
    },
    /// A pipeline name is not known to the scheduler or configuration.
    #[error("pipeline '{name}' is not defined; pipelines are {}", known.join(", "))]
    UnknownPipeline {
        /// The name given.
        name: String,
        /// The defined pipelines.
        known: Vec<String>,
    },
    /// A task name is not a task of the pipeline.
    #[error("pipeline '{pipeline}' has no task '{task}'; its tasks are {}", known.join(", "))]
    UnknownTask {
        /// The pipeline.
        pipeline: String,
        /// The name given.
        task: String,
        /// The pipeline's tasks, in run order.
        known: Vec<String>,
    },
    /// A task run on its own needs upstream tasks that have not succeeded
    /// for the date yet.
    #[error(
        "pipeline '{pipeline}' for {logical_date}: task '{task}' needs the output of {} first, which has not succeeded for this date; run {} first, or the whole pipeline",
        waiting.join(", "),
        if waiting.len() == 1 { "it" } else { "them" }
    )]
    UpstreamNotDone {
        /// The pipeline.
        pipeline: String,
        /// The logical date.
        logical_date: String,
        /// The task asked for.
        task: String,
        /// Its upstream tasks without a recorded success, in run order.
        waiting: Vec<String>,
    },
    /// The runner lost its lease on a run while working on it (it stopped
    /// renewing in time, or the store's clock jumped), so another runner
    /// may have taken the run over. Nothing more was recorded.
    #[error(
        "lost the lease '{lease}' while running it (now held by {holder}); stopped so that the run is not worked on twice — check the store's clock and the lease time"
    )]
    LeaseLost {
        /// The lease.
        lease: String,
        /// Who holds it now, if anyone.
        holder: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RegistryError),
}
