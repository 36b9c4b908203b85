//! The `[pipelines.<name>]` section of `fathom.toml`: schedule, catch-up,
//! owner, and per-task retries, backoff and timeouts.
//!
//! ```toml
//! [pipelines.data]
//! schedule = "0 2 * * *"       # cron, UTC; none: runs only when asked
//! catch_up = "latest"          # latest | all | none
//! owner = "data-team"          # alerted when a task without its own owner fails
//!
//! [pipelines.data.tasks.ingest]
//! retries = 3
//! backoff_secs = 1             # first wait; doubles up to backoff_max_secs
//! backoff_max_secs = 300
//! timeout_secs = 1800
//! owner = "data-platform"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::pipeline::Pipeline;
use crate::schedule::{CatchUp, Schedule};

/// One pipeline's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Cron expression (UTC); none runs the pipeline only on demand or
    /// when queued.
    pub schedule: Option<String>,
    /// What to do with occurrences missed while no scheduler ran.
    pub catch_up: CatchUp,
    /// `false` keeps the schedule from running (runs on demand still do).
    pub enabled: bool,
    /// Who is alerted when a task without its own owner fails.
    pub owner: Option<String>,
    /// Per-task settings, by task name.
    pub tasks: BTreeMap<String, TaskConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            schedule: None,
            catch_up: CatchUp::Latest,
            enabled: true,
            owner: None,
            tasks: BTreeMap::new(),
        }
    }
}

/// One task's settings; what is not given keeps the task's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// Attempts after the first.
    pub retries: Option<u32>,
    /// Seconds before the first retry (doubling after).
    pub backoff_secs: Option<f64>,
    /// Longest wait between attempts, in seconds.
    pub backoff_max_secs: Option<f64>,
    /// Seconds one attempt may run.
    pub timeout_secs: Option<f64>,
    /// Who is alerted when the task fails.
    pub owner: Option<String>,
}

fn seconds(what: String, v: f64) -> Result<Duration, PipelineError> {
    Duration::try_from_secs_f64(v).map_err(|_| PipelineError::BadSetting {
        what,
        message: format!("{v} is not a number of seconds; give a non-negative number"),
    })
}

impl PipelineConfig {
    /// Applies the settings to `pipeline`: its owner and each named
    /// task's settings. A task name the pipeline does not have is an
    /// error listing its tasks.
    pub fn apply(&self, pipeline: &mut Pipeline) -> Result<(), PipelineError> {
        if self.owner.is_some() {
            pipeline.set_owner(self.owner.clone());
        }
        let name = pipeline.name().to_owned();
        for (task, c) in &self.tasks {
            let key = |k: &str| format!("pipelines.{name}.tasks.{task}.{k}");
            let backoff = c
                .backoff_secs
                .map(|v| seconds(key("backoff_secs"), v))
                .transpose()?;
            let backoff_max = c
                .backoff_max_secs
                .map(|v| seconds(key("backoff_max_secs"), v))
                .transpose()?;
            let timeout = c
                .timeout_secs
                .map(|v| seconds(key("timeout_secs"), v))
                .transpose()?;
            pipeline.configure_task(task, |spec| {
                if let Some(r) = c.retries {
                    spec.retries = r;
                }
                if let Some(b) = backoff {
                    spec.backoff.initial = b;
                    spec.backoff.max = spec.backoff.max.max(b);
                }
                if let Some(m) = backoff_max {
                    spec.backoff.max = m;
                }
                if let Some(t) = timeout {
                    spec.timeout = t;
                }
                if let Some(o) = &c.owner {
                    spec.owner = Some(o.clone());
                }
            })?;
        }
        Ok(())
    }

    /// The schedule of pipeline `name`, if it has one and is enabled: what
    /// a scheduler runs.
    pub fn schedule(&self, name: &str) -> Result<Option<Schedule>, PipelineError> {
        if !self.enabled {
            return Ok(None);
        }
        self.cron(name)
    }

    /// The cron of pipeline `name` whether or not it is enabled: its runs'
    /// logical dates follow it, also when an outside orchestrator starts
    /// them.
    pub fn cron(&self, name: &str) -> Result<Option<Schedule>, PipelineError> {
        self.schedule
            .as_deref()
            .map(|expr| Schedule::new(name, expr, self.catch_up))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::TaskSpec;
    use crate::task::{TaskContext, TaskError, TaskOutput};

    fn ok(_: &TaskContext) -> Result<TaskOutput, TaskError> {
        Ok(TaskOutput::none())
    }

    fn data() -> Pipeline {
        Pipeline::builder("data")
            .task(TaskSpec::new("ingest"), ok)
            .task(TaskSpec::new("validate").after(["ingest"]), ok)
            .build()
            .unwrap()
    }

    #[derive(Deserialize)]
    struct File {
        pipelines: BTreeMap<String, PipelineConfig>,
    }

    #[test]
    fn settings_from_toml_change_the_named_tasks() {
        let file: File = toml::from_str(
            r#"
            [pipelines.data]
            schedule = "0 2 * * *"
            catch_up = "all"
            owner = "data-team"
            [pipelines.data.tasks.ingest]
            retries = 5
            backoff_secs = 0.5
            timeout_secs = 60
            [pipelines.data.tasks.validate]
            owner = "quality"
            "#,
        )
        .unwrap();
        let c = &file.pipelines["data"];
        let mut p = data();
        c.apply(&mut p).unwrap();
        let ingest = &p.task("ingest").unwrap().spec;
        assert_eq!(ingest.retries, 5);
        assert_eq!(ingest.backoff.initial, Duration::from_millis(500));
        assert_eq!(ingest.backoff.max, Duration::from_secs(300));
        assert_eq!(ingest.timeout, Duration::from_secs(60));
        assert_eq!(p.owner_of(ingest), Some("data-team"));
        let validate = &p.task("validate").unwrap().spec;
        assert_eq!(p.owner_of(validate), Some("quality"));
        assert_eq!(validate.depends_on, ["ingest"]);
        let s = c.schedule("data").unwrap().unwrap();
        assert_eq!((s.expression(), s.catch_up()), ("0 2 * * *", CatchUp::All));
        let off = PipelineConfig {
            enabled: false,
            ..c.clone()
        };
        assert!(off.schedule("data").unwrap().is_none());
        // Its dates still follow the cron.
        let cron = off.cron("data").unwrap().unwrap();
        assert_eq!(cron.expression(), "0 2 * * *");
    }

    #[test]
    fn unknown_tasks_and_keys_are_refused() {
        let c: PipelineConfig = toml::from_str("[tasks.ingset]\nretries = 1").unwrap();
        let err = c.apply(&mut data()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pipelines.data.tasks.ingset: 'ingset' is not a task of pipeline 'data'; its tasks are ingest, validate"
        );
        let err = toml::from_str::<PipelineConfig>("schedul = \"0 2 * * *\"").unwrap_err();
        assert!(err.to_string().contains("schedul"), "{err}");
        let err = toml::from_str::<PipelineConfig>("catch_up = \"some\"").unwrap_err();
        assert!(err.to_string().contains("latest"), "{err}");
        let c: PipelineConfig = toml::from_str("[tasks.ingest]\ntimeout_secs = -1").unwrap();
        let err = c.apply(&mut data()).unwrap_err();
        assert!(err.to_string().contains("timeout_secs"), "{err}");
        let c: PipelineConfig = toml::from_str("[tasks.ingest]\ntimeout_secs = 0").unwrap();
        let err = c.apply(&mut data()).unwrap_err();
        assert!(err.to_string().contains("more than zero"), "{err}");
    }
}
