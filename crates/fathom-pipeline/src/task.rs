//! What a task is given and gives back: its context (logical date, run
//! params, upstream outputs, a logger, the cancellation flag), its output
//! and its error.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fathom_registry::PipelineTrigger;
use fathom_registry::pipelines::MAX_TASK_LOG;
use serde_json::Value;

use crate::date::LogicalDate;

/// The code of a task: called on a worker thread with the attempt's
/// context. It may be abandoned when it runs past its timeout, so it owns
/// what it uses (`'static`) and should check [`TaskContext::is_cancelled`]
/// at safe points.
pub type TaskBody = Arc<dyn Fn(&TaskContext) -> Result<TaskOutput, TaskError> + Send + Sync>;

/// Everything one attempt of a task can read.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The pipeline.
    pub pipeline: String,
    /// This task.
    pub task: String,
    /// The pipeline run's id in the store.
    pub run_id: i64,
    /// This attempt's number (from 1, counted across resumes).
    pub attempt: i64,
    /// The logical date the run is for.
    pub logical_date: LogicalDate,
    /// What started the run.
    pub trigger: PipelineTrigger,
    /// Why it was started (e.g. the policy decision behind a retraining).
    pub reason: String,
    /// The run's params (a JSON object).
    pub params: Value,
    upstream: BTreeMap<String, Value>,
    log: TaskLog,
    cancel: Arc<AtomicBool>,
}

impl TaskContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pipeline: &str,
        task: &str,
        run_id: i64,
        attempt: i64,
        logical_date: LogicalDate,
        trigger: PipelineTrigger,
        reason: &str,
        params: &Value,
        upstream: BTreeMap<String, Value>,
        log: TaskLog,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        TaskContext {
            pipeline: pipeline.to_owned(),
            task: task.to_owned(),
            run_id,
            attempt,
            logical_date,
            trigger,
            reason: reason.to_owned(),
            params: params.clone(),
            upstream,
            log,
            cancel,
        }
    }

    /// The output of an upstream task (a task this one depends on,
    /// directly or not), once it succeeded — in this invocation or an
    /// earlier one of the same run.
    pub fn upstream(&self, task: &str) -> Option<&Value> {
        self.upstream.get(task)
    }

    /// The outputs of all upstream tasks, by name.
    pub fn upstream_outputs(&self) -> &BTreeMap<String, Value> {
        &self.upstream
    }

    /// A run param, if given.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// Appends one line to this attempt's log (kept in the store, the last
    /// 64 KiB of it).
    pub fn log(&self, line: impl Display) {
        self.log.push(&line.to_string());
    }

    /// Whether the runner gave up on this attempt (it ran past its
    /// timeout): the body should stop as soon as it safely can.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// `Err` (a retryable error) once the attempt is cancelled: for `?` at
    /// safe points of a long task.
    pub fn check_cancelled(&self) -> Result<(), TaskError> {
        if self.is_cancelled() {
            Err(TaskError::retryable(
                "cancelled: the attempt ran past its timeout",
            ))
        } else {
            Ok(())
        }
    }
}

/// An attempt's log: lines shared between the task's thread and the
/// runner, bounded (the oldest lines go first).
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskLog(Arc<Mutex<LogLines>>);

#[derive(Debug, Default)]
struct LogLines {
    text: String,
    dropped: usize,
}

impl TaskLog {
    pub(crate) fn push(&self, line: &str) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.text.push_str(line.trim_end_matches('\n'));
        g.text.push('\n');
        // Keep about twice what the store keeps; the store cuts the rest.
        if g.text.len() > 2 * MAX_TASK_LOG {
            let mut cut = g.text.len() - MAX_TASK_LOG;
            while !g.text.is_char_boundary(cut) {
                cut += 1;
            }
            g.text.drain(..cut);
            g.dropped += cut;
        }
    }

    pub(crate) fn text(&self) -> String {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.dropped == 0 {
            g.text.clone()
        } else {
            format!("[{} bytes of earlier log dropped]\n{}", g.dropped, g.text)
        }
    }
}

/// What a task gives back on success.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutput {
    /// Small JSON (paths, ids, metrics; at most 64 KiB): recorded, and
    /// read by downstream tasks through [`TaskContext::upstream`].
    pub value: Value,
    /// Set to stop the pipeline here on purpose (e.g. the promotion gate
    /// refused the candidate): downstream tasks are skipped and the run
    /// succeeds with this reason as its note.
    pub stop: Option<String>,
}

impl TaskOutput {
    /// Success with `value` as the output.
    pub fn new(value: Value) -> Self {
        TaskOutput { value, stop: None }
    }

    /// Success with no output.
    pub fn none() -> Self {
        TaskOutput::new(Value::Null)
    }

    /// Success that stops the pipeline here, for `reason`.
    pub fn stop(value: Value, reason: impl Into<String>) -> Self {
        TaskOutput {
            value,
            stop: Some(reason.into()),
        }
    }
}

/// Whether a failed attempt is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskErrorKind {
    /// A passing failure (network, a busy store): retried with backoff.
    Retryable,
    /// A failure that another attempt would repeat (a failed validation,
    /// a bad configuration): not retried; downstream tasks do not run and
    /// the task's owner is alerted.
    Fatal,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// Retryable or fatal.
    pub kind: TaskErrorKind,
    /// What went wrong and what to do (recorded and sent to the owner).
    pub message: String,
}

impl TaskError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        TaskError {
            kind: TaskErrorKind::Retryable,
            message: message.into(),
        }
    }

    /// A failure not worth retrying (e.g. a failed validation).
    pub fn fatal(message: impl Into<String>) -> Self {
        TaskError {
            kind: TaskErrorKind::Fatal,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_keeps_its_end() {
        let log = TaskLog::default();
        for i in 0..20_000 {
            log.push(&format!("line {i:05}"));
        }
        let text = log.text();
        assert!(text.starts_with('['), "{}", &text[..40]);
        assert!(text.ends_with("line 19999\n"));
        assert!(text.len() <= 2 * MAX_TASK_LOG + 64);
    }
}
