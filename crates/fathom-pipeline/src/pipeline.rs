//! Pipeline definitions: tasks with dependencies, retries, backoff,
//! timeouts and owners, checked once (names, dependencies, cycles) and
//! put in one deterministic order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::PipelineError;
use crate::task::{TaskBody, TaskContext, TaskError, TaskOutput};

/// How long to wait before each retry: `initial`, doubling, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// No waiting between attempts.
    pub const NONE: Backoff = Backoff {
        initial: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The wait before retry `n` (1 for the first retry).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Default retries of a task.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default timeout of one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One task's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Unique name within the pipeline.
    pub name: String,
    /// Tasks that must succeed before this one runs.
    pub depends_on: Vec<String>,
    /// Attempts after the first one when an attempt fails retryably or
    /// times out (default 2).
    pub retries: u32,
    /// Waits between attempts.
    pub backoff: Backoff,
    /// How long one attempt may run (default 30 min).
    pub timeout: Duration,
    /// Who is alerted when the task fails (a team or person); the
    /// pipeline's owner when not set.
    pub owner: Option<String>,
}

impl TaskSpec {
    /// A task with no dependencies and the default retries, backoff and
    /// timeout.
    pub fn new(name: impl Into<String>) -> Self {
        TaskSpec {
            name: name.into(),
            depends_on: Vec::new(),
            retries: DEFAULT_RETRIES,
            backoff: Backoff::default(),
            timeout: DEFAULT_TIMEOUT,
            owner: None,
        }
    }

    /// Runs after `tasks`.
    pub fn after<I, S>(mut self, tasks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on.extend(tasks.into_iter().map(Into::into));
        self
    }

    /// Sets the retries.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the timeout of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the owner alerted on failure.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// A task: its declaration and its code.
#[derive(Clone)]
pub struct Task {
    /// The declaration.
    pub spec: TaskSpec,
    /// The code.
    pub body: TaskBody,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("spec", &self.spec).finish()
    }
}

/// A checked pipeline: named tasks whose dependencies exist and form no
/// cycle, with their run order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    owner: Option<String>,
    tasks: Vec<Task>,
    order: Vec<usize>,
}

/// Builds a [`Pipeline`] task by task.
#[derive(Debug)]
pub struct PipelineBuilder {
    name: String,
    owner: Option<String>,
    tasks: Vec<Task>,
}

impl PipelineBuilder {
    /// Sets who is alerted of failures of tasks without an owner.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Adds a task.
    pub fn task<F>(mut self, spec: TaskSpec, body: F) -> Self
    where
        F: Fn(&TaskContext) -> Result<TaskOutput, TaskError> + Send + Sync + 'static,
    {
        self.tasks.push(Task {
            spec,
            body: std::sync::Arc::new(body),
        });
        self
    }

    /// Adds a task whose body is already shared.
    pub fn task_body(mut self, spec: TaskSpec, body: TaskBody) -> Self {
        self.tasks.push(Task { spec, body });
        self
    }

    /// Checks the tasks and builds the pipeline.
    pub fn build(self) -> Result<Pipeline, PipelineError> {
        Pipeline::new(self.name, self.owner, self.tasks)
    }
}

fn usable_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Pipeline {
    /// Starts a pipeline named `name`.
    pub fn builder(name: impl Into<String>) -> PipelineBuilder {
        PipelineBuilder {
            name: name.into(),
            owner: None,
            tasks: Vec::new(),
        }
    }

    /// Checks `tasks` — usable and unique names, known dependencies, no
    /// cycle — and orders them: a task comes after everything it depends
    /// on, and ties go by declaration order, so the order is always the
    /// same.
    pub fn new(
        name: String,
        owner: Option<String>,
        tasks: Vec<Task>,
    ) -> Result<Pipeline, PipelineError> {
        if !usable_name(&name) {
            return Err(PipelineError::BadName {
                pipeline: name.clone(),
                name,
            });
        }
        if tasks.is_empty() {
            return Err(PipelineError::Empty { pipeline: name });
        }
        let mut index = BTreeMap::new();
        for (i, t) in tasks.iter().enumerate() {
            if !usable_name(&t.spec.name) {
                return Err(PipelineError::BadName {
                    pipeline: name,
                    name: t.spec.name.clone(),
                });
            }
            if index.insert(t.spec.name.as_str(), i).is_some() {
                return Err(PipelineError::DuplicateTask {
                    pipeline: name,
                    task: t.spec.name.clone(),
                });
            }
        }
        let known = || tasks.iter().map(|t| t.spec.name.clone()).collect();
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(tasks.len());
        for t in &tasks {
            let mut d = Vec::new();
            for dep in &t.spec.depends_on {
                match index.get(dep.as_str()) {
                    Some(&j) => {
                        if !d.contains(&j) {
                            d.push(j);
                        }
                    }
                    None => {
                        return Err(PipelineError::UnknownDependency {
                            pipeline: name,
                            task: t.spec.name.clone(),
                            dependency: dep.clone(),
                            known: known(),
                        });
                    }
                }
            }
            deps.push(d);
        }
        check_settings(&name, &tasks)?;
        let order = order(&deps).map_err(|cycle| PipelineError::Cycle {
            pipeline: name.clone(),
            cycle: cycle
                .into_iter()
                .map(|i| tasks[i].spec.name.clone())
                .collect(),
        })?;
        Ok(Pipeline {
            name,
            owner,
            tasks,
            order,
        })
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Who is alerted of failures of tasks without an owner.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The tasks, as declared.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The tasks in run order.
    pub fn ordered(&self) -> impl Iterator<Item = &Task> {
        self.order.iter().map(|&i| &self.tasks[i])
    }

    /// The task named `name`.
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.spec.name == name)
    }

    /// Who is alerted when `task` fails.
    pub fn owner_of<'a>(&'a self, task: &'a TaskSpec) -> Option<&'a str> {
        task.owner.as_deref().or(self.owner.as_deref())
    }

    /// Every task `task` depends on, directly or not, in run order.
    pub fn ancestors(&self, task: &str) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = self
            .task(task)
            .map(|t| t.spec.depends_on.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(t) = stack.pop() {
            if seen.insert(t)
                && let Some(t) = self.task(t)
            {
                stack.extend(t.spec.depends_on.iter().map(String::as_str));
            }
        }
        self.ordered()
            .map(|t| t.spec.name.as_str())
            .filter(|n| seen.contains(n))
            .collect()
    }

    /// Changes a task's settings in place (from configuration); the
    /// dependencies cannot change this way.
    pub fn configure_task(
        &mut self,
        task: &str,
        change: impl FnOnce(&mut TaskSpec),
    ) -> Result<(), PipelineError> {
        let known: Vec<String> = self.tasks.iter().map(|t| t.spec.name.clone()).collect();
        let Some(t) = self.tasks.iter_mut().find(|t| t.spec.name == task) else {
            return Err(PipelineError::BadSetting {
                what: format!("pipelines.{}.tasks.{task}", self.name),
                message: format!(
                    "'{task}' is not a task of pipeline '{}'; its tasks are {}",
                    self.name,
                    known.join(", ")
                ),
            });
        };
        let deps = t.spec.depends_on.clone();
        change(&mut t.spec);
        t.spec.depends_on = deps;
        check_settings(&self.name, &self.tasks)
    }

    /// Sets who is alerted of failures of tasks without an owner.
    pub fn set_owner(&mut self, owner: Option<String>) {
        self.owner = owner;
    }
}

fn check_settings(pipeline: &str, tasks: &[Task]) -> Result<(), PipelineError> {
    for t in tasks {
        let what = |key: &str| format!("pipelines.{pipeline}.tasks.{}.{key}", t.spec.name);
        if t.spec.timeout.is_zero() {
            return Err(PipelineError::BadSetting {
                what: what("timeout_secs"),
                message: "must be more than zero".into(),
            });
        }
        if t.spec.retries > 100 {
            return Err(PipelineError::BadSetting {
                what: what("retries"),
                message: format!("{} is too many; use 0 to 100", t.spec.retries),
            });
        }
        if t.spec.backoff.initial > t.spec.backoff.max {
            return Err(PipelineError::BadSetting {
                what: what("backoff_secs"),
                message: format!(
                    "the first wait ({:?}) is longer than the longest ({:?})",
                    t.spec.backoff.initial, t.spec.backoff.max
                ),
            });
        }
    }
    Ok(())
}

/// Kahn's algorithm, taking the earliest-declared ready task each step.
/// On a cycle, returns one cycle (first task repeated at the end).
fn order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &k in &dependents[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert(k);
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    // Walk dependencies among the unplaced tasks until one repeats.
    let placed: BTreeSet<usize> = out.into_iter().collect();
    let start = (0..n).find(|i| !placed.contains(i)).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = deps[cur]
            .iter()
            .copied()
            .find(|j| !placed.contains(j))
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            // path[pos..] runs from a task to what it depends on; read
            // backwards it is the run order, closed by `next` in front.
            let mut cycle: Vec<usize> = path[pos..].iter().rev().copied().collect();
            cycle.insert(0, next);
            return Err(cycle);
        }
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &TaskContext) -> Result<TaskOutput, TaskError> {
        Ok(TaskOutput::none())
    }

    fn names(p: &Pipeline) -> Vec<&str> {
        p.ordered().map(|t| t.spec.name.as_str()).collect()
    }

    #[test]
    fn order_follows_dependencies_then_declaration() {
        let p = Pipeline::builder("training")
            .task(TaskSpec::new("register").after(["evaluate"]), ok)
            .task(TaskSpec::new("snapshot"), ok)
            .task(TaskSpec::new("train").after(["snapshot"]), ok)
            .task(TaskSpec::new("report"), ok)
            .task(TaskSpec::new("evaluate").after(["train", "snapshot"]), ok)
            .build()
            .unwrap();
        assert_eq!(
            names(&p),
            ["snapshot", "train", "report", "evaluate", "register"]
        );
        assert_eq!(p.ancestors("register"), ["snapshot", "train", "evaluate"]);
        assert!(p.ancestors("report").is_empty());
    }

    #[test]
    fn bad_graphs_are_refused_naming_the_tasks() {
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("ingest"), ok)
            .task(TaskSpec::new("validate").after(["ingets"]), ok)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pipeline 'data': task 'validate' depends on 'ingets', which is not a task of it; tasks are ingest, validate"
        );
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("ingest"), ok)
            .task(TaskSpec::new("ingest"), ok)
            .build()
            .unwrap_err();
        assert!(matches!(err, PipelineError::DuplicateTask { ref task, .. } if task == "ingest"));
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("a").after(["c"]), ok)
            .task(TaskSpec::new("b").after(["a"]), ok)
            .task(TaskSpec::new("c").after(["b"]), ok)
            .task(TaskSpec::new("d"), ok)
            .build()
            .unwrap_err();
        match &err {
            PipelineError::Cycle { cycle, .. } => {
                assert_eq!(cycle.first(), cycle.last());
                let mut inner: Vec<_> = cycle[1..].to_vec();
                inner.sort();
                assert_eq!(inner, ["a", "b", "c"]);
                // Each step names a task that the next one depends on.
                let p: BTreeMap<&str, &str> = [("a", "c"), ("b", "a"), ("c", "b")].into();
                for w in cycle.windows(2) {
                    assert_eq!(p[w[1].as_str()], w[0], "{cycle:?}");
                }
            }
            other => panic!("expected a cycle, got {other}"),
        }
        assert!(err.to_string().contains("form a cycle"), "{err}");
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("a").after(["a"]), ok)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("a → a"), "{err}");
        let err = Pipeline::builder("data").build().unwrap_err();
        assert!(matches!(err, PipelineError::Empty { .. }));
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("has space"), ok)
            .build()
            .unwrap_err();
        assert!(matches!(err, PipelineError::BadName { .. }));
        let err = Pipeline::builder("data")
            .task(TaskSpec::new("a").timeout(Duration::ZERO), ok)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("timeout_secs"), "{err}");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        let waits: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert_eq!(b.delay(200), Duration::from_secs(5));
        assert_eq!(Backoff::NONE.delay(3), Duration::ZERO);
    }
}
