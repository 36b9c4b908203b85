//! Quickstart's closed loop: the production model serves day after day of
//! traffic over HTTP, a sudden shift arrives half-way, and the pipelines do
//! the rest — the monitoring pipeline checks each day, its policy asks for
//! a retraining, the data and training pipelines produce the next version
//! and deploy it as the canary, the server routes part of the traffic to
//! it, and the next monitoring run promotes it. Every step is a real
//! pipeline run in the store and an entry in the audit log.

use crate::commands::traffic::{Burst, send};
use crate::config::Config;
use crate::pipelines;
use anyhow::{Context, Result, bail};
use fathom_core::{ColumnData, Frame};
use fathom_data::generate::{GeneratorConfig, Scenario, generate_all};
use fathom_pipeline::{LogicalDate, RunOutcome, RunReport, RunRequest, Runner};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How much traffic to replay.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Days of traffic; the shift comes at the half.
    pub days: usize,
    /// Transactions per day.
    pub per_day: usize,
}

/// One replayed day in the summary's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// The simulated date.
    pub date: String,
    /// `normal` or `shifted`.
    pub phase: &'static str,
    /// Which versions answered, e.g. `v1` or `v1 + v2 (canary)`.
    pub serving: String,
    /// Predictions answered.
    pub answered: u64,
    /// The drift verdict and share of drifted features.
    pub drift: String,
    /// The share of drifted features.
    pub drift_score: Option<f64>,
    /// AUC-ROC over the day's labelled answers.
    pub auc: Option<f64>,
    /// The monitoring policy's decision.
    pub decision: String,
    /// What the pipelines did about it.
    pub action: String,
    /// The day's monitoring report.
    pub report: Option<PathBuf>,
}

/// What the replay did.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// Day by day.
    pub days: Vec<Day>,
    /// Every burst of traffic, day by day.
    pub bursts: Vec<Burst>,
    /// Records written to the prediction log.
    pub logged: u64,
    /// Records the log could not take.
    pub dropped: u64,
    /// The production version at the end.
    pub production: Option<i64>,
}

/// Added to the replayed transactions' ids, so they never collide with
/// those of the training data.
const TRAFFIC_ID_OFFSET: f64 = 1e9;

/// The traffic after the training period: `plan.days` days of the `sudden`
/// scenario (the shift at the half), split into days.
fn traffic(settings: &GeneratorConfig, plan: Plan) -> Result<Vec<(String, Frame)>> {
    let start = settings.start + i64::from(settings.days) * 86_400_000_000;
    let frame = generate_all(GeneratorConfig {
        rows: (plan.days * plan.per_day) as u64,
        seed: settings.seed.wrapping_add(1),
        scenario: Scenario::Sudden,
        start,
        days: plan.days as u32,
        ..settings.clone()
    })?;
    // New transactions get new ids: the generator numbers every data set
    // from the same base.
    let columns = frame
        .columns()
        .iter()
        .map(|c| match (&c.data, c.name.as_str()) {
            (ColumnData::Numeric(v), "transaction_id") => fathom_core::Column::numeric(
                c.name.clone(),
                v.iter().map(|id| id + TRAFFIC_ID_OFFSET).collect(),
            ),
            _ => c.clone(),
        })
        .collect();
    let frame = Frame::new(columns)?;
    let ts = match frame.column("timestamp").map(|c| &c.data) {
        Some(ColumnData::Timestamp(v)) => v.clone(),
        _ => bail!("the generated traffic has no timestamp column"),
    };
    let mut days = Vec::new();
    let mut at = 0;
    for d in 0..plan.days {
        let end_ts = start + (d as i64 + 1) * 86_400_000_000;
        let end = at + ts[at..].partition_point(|&t| t < end_ts);
        let date = fathom_core::time::format_micros(start + d as i64 * 86_400_000_000);
        days.push((date[..10].to_string(), frame.slice(at, end - at)));
        at = end;
    }
    Ok(days)
}

/// The last `days` days of `history` and every replayed day so far: the
/// data the retraining learns from.
fn retraining_batch(history: &Frame, days: i64, replayed: &[Frame]) -> Result<Frame> {
    let ts = match history.column("timestamp").map(|c| &c.data) {
        Some(ColumnData::Timestamp(v)) => v,
        _ => bail!("the training data has no timestamp column"),
    };
    let cutoff = ts.last().copied().unwrap_or(0) - days * 86_400_000_000;
    let from = ts.partition_point(|&t| t < cutoff);
    let mut parts = vec![history.slice(from, history.num_rows() - from)];
    parts.extend(replayed.iter().cloned());
    Ok(Frame::concat(&parts)?)
}

/// The versions a server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Deployed {
    primary: Option<i64>,
    canary: Option<i64>,
}

impl Deployed {
    /// `v1`, `v1 + v2 (canary)`, or `–` when nothing is deployed.
    fn text(self) -> String {
        match (self.primary, self.canary) {
            (Some(p), Some(c)) => format!("v{p} + v{c} (canary)"),
            (Some(p), None) => format!("v{p}"),
            _ => "–".into(),
        }
    }
}

fn task_output<'a>(report: &'a RunReport, task: &str) -> &'a Value {
    report
        .task(task)
        .and_then(|t| t.output.as_ref())
        .unwrap_or(&Value::Null)
}

fn ran(outcome: RunOutcome, what: &str) -> Result<RunReport> {
    match outcome {
        RunOutcome::Ran(r) if r.succeeded() => Ok(r),
        RunOutcome::Ran(r) => bail!(
            "the {what} run failed at task {}: {}",
            r.run.failed_task.clone().unwrap_or_default(),
            r.run.error.clone().unwrap_or_default()
        ),
        RunOutcome::AlreadySucceeded(r) => bail!(
            "the {what} run {} had already succeeded; nothing was replayed",
            r.id
        ),
        RunOutcome::Busy { lease, .. } => bail!("another runner holds {lease}"),
    }
}

/// Runs the queued training run and says what came of it; waits for the
/// server to pick up a deployed canary.
fn retrain(
    runner: &mut Runner,
    training: &fathom_pipeline::Pipeline,
    date: LogicalDate,
    rows: usize,
    action: &mut Vec<String>,
    serving: &dyn Fn() -> Deployed,
) -> Result<()> {
    // The queued training run (the policy's reason is on it).
    let trained = ran(
        runner.run(training, &RunRequest::policy(date, "monitoring policy"))?,
        "training",
    )?;
    let deploy = task_output(&trained, "deploy");
    let gate = task_output(&trained, "gate");
    if deploy.is_null() {
        action.push(format!(
            "retrained v{}, not deployed: {}",
            task_output(&trained, "register")["version"],
            trained.run.note.clone().unwrap_or_default()
        ));
    } else {
        action.push(format!(
            "retrained v{} on {rows} rows → {} ({})",
            deploy["version"],
            deploy["alias"].as_str().unwrap_or(""),
            gate["evidence"].as_str().unwrap_or("")
        ));
        // The server picks the alias up within its poll.
        let v = deploy["version"].as_i64();
        wait_until(|| {
            let d = serving();
            d.primary == v || d.canary == v
        });
    }
    Ok(())
}

/// Waits (up to 10 s) until `done` says so.
fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !done() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the prediction log shows `answers` answers and `labels`
/// labels since `from_ms` (the writer commits in groups).
fn wait_for_log(config: &Config, from_ms: i64, answers: usize, labels: usize) {
    wait_until(|| {
        crate::commands::monitor::open_log(config, from_ms).is_ok_and(|log| {
            let reader = log.reader;
            reader
                .predictions(from_ms, i64::MAX)
                .is_ok_and(|r| r.len() >= answers)
                && reader
                    .feedback(from_ms, i64::MAX)
                    .is_ok_and(|f| f.len() >= labels)
        })
    });
}

/// What the replay starts from.
pub struct Setup<'a> {
    /// The registered model, with a production version.
    pub model: &'a str,
    /// The quickstart folder (retraining batches land in `batches/`).
    pub dir: &'a Path,
    /// The training data.
    pub history: &'a Path,
    /// Its contract.
    pub schema: &'a Path,
    /// How the training data was generated (the traffic continues it).
    pub settings: &'a GeneratorConfig,
}

/// Replays the traffic through a server of the model and lets the
/// pipelines react.
pub fn run(config: &Config, setup: &Setup<'_>, plan: Plan, ui: &crate::ui::Ui) -> Result<Replay> {
    let Setup {
        model,
        dir,
        history,
        schema,
        settings,
    } = *setup;
    // The loop's settings: batches land in the quickstart folder, a canary
    // is judged as soon as the next day's traffic has labels, and the whole
    // day is measured.
    let mut cfg = config.clone();
    cfg.data.source = Some(
        dir.join("batches")
            .join("batch-{date}.parquet")
            .display()
            .to_string(),
    );
    cfg.data.schema = Some(schema.to_path_buf());
    cfg.serve.listen = "127.0.0.1:0".into();
    cfg.serve.poll_ms = 100;
    cfg.serve.canary_percent = 30.0;
    // A version retrained after the shift is meant to score differently:
    // the score guardrail here only catches a broken canary (constant or
    // random scores), errors and latency are watched as usual.
    cfg.serve.guardrails.max_score_psi = cfg.serve.guardrails.max_score_psi.max(10.0);
    // The replay sends each day as fast as the machine allows, on the same
    // cores as the server: a slow answer then says more about the machine
    // than about the canary.
    cfg.serve.guardrails.min_latency_us = cfg.serve.guardrails.min_latency_us.max(50_000);
    cfg.rollout.canary_period = fathom_monitor::Span::ZERO;
    // Retraining cross-validates with 3 folds (not the pipeline's 5)
    // unless `[train.cv]` says otherwise, to keep the loop short.
    cfg.train.cv.get_or_insert(fathom_learn::cv::CvConfig {
        folds: 3,
        ..Default::default()
    });
    cfg.rollout.min_labels = 100;
    // A day's canary share is a few hundred answers: enough to judge it.
    cfg.serve.guardrails.min_requests = cfg.serve.guardrails.min_requests.min(200);
    // Each replayed day is measured on its own answers (the days pass in
    // seconds here, so a look back in time would mix them).
    cfg.monitor.performance.windows = vec![fathom_monitor::Window::Last(10_000_000)];
    cfg.monitor.performance.lookback = fathom_monitor::Span::ZERO;
    cfg.monitor.performance.min_labels = 100;
    let label = "is_fraud".to_string();
    let days = traffic(settings, plan)?;
    let history = fathom_data::ingest::read_frame(history, &Default::default())?;
    let monitoring = pipelines::build(&cfg, "monitoring")?;
    let data = pipelines::build(&cfg, "data")?;
    let training = pipelines::build(&cfg, "training")?;
    let mut runner = Runner::new(crate::store::open(&cfg)?.store);

    let options = fathom_serve::ServeOptions {
        config: cfg.serve.clone(),
        store: cfg.store.database_location(),
        artifacts: Some(cfg.store.artifacts_location()),
        model: model.to_string(),
        default_log_dir: cfg.store.path.join("predictions"),
        print_events: false,
        promotion: cfg.registry.promotion.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let running = rt.block_on(fathom_serve::start(options))?;
    let state = running.state.clone();
    if state.deployment.load().is_none() {
        bail!("the server could not load {model}@production");
    }
    let addr = running.addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(running.serve(async move {
        let _ = stopped.await;
    }));

    let serving = || {
        let d = state.deployment.load_full();
        Deployed {
            primary: d.as_ref().map(|d| d.primary.model.version),
            canary: d
                .as_ref()
                .and_then(|d| d.canary.as_ref().map(|(c, _)| c.model.version)),
        }
    };
    let mut timeline = Vec::new();
    let mut bursts = Vec::new();
    let mut replayed: Vec<Frame> = Vec::new();
    let bar = ui.bar(plan.days as u64, "days");
    let mut last_check: Option<chrono::DateTime<chrono::Utc>> = None;
    for (k, (date, frame)) in days.iter().enumerate() {
        let phase = if k >= plan.days / 2 {
            "shifted"
        } else {
            "normal"
        };
        let served_by = serving();
        let t0 = crate::commands::monitor::now_ms();
        let burst = rt.block_on(send(addr, frame, &label, 4, 1))?;
        wait_for_log(&cfg, t0, burst.answered as usize, burst.feedback as usize);
        replayed.push(frame.clone());
        // The day's check: everything answered since the day began.

        // Each day's check is its own run: logical times a second apart
        // at least (they are whole seconds).
        let now = chrono::Utc::now();
        let at = match last_check {
            Some(t) if now < t + chrono::Duration::seconds(1) => t + chrono::Duration::seconds(1),
            _ => now,
        };
        last_check = Some(at);
        let when = LogicalDate::time(at);
        let request = RunRequest::manual(when)
            .with_params(serde_json::json!({"window": "1d", "since_ms": t0}));
        let report = ran(runner.run(&monitoring, &request)?, "monitoring")?;
        let check = task_output(&report, "check");
        let decide = task_output(&report, "decide");
        let canary = task_output(&report, "canary");
        let summary: fathom_monitor::check::CheckReport = serde_json::from_slice(
            &std::fs::read(
                PathBuf::from(check["report"].as_str().unwrap_or_default())
                    .with_file_name("report.json"),
            )
            .context("reading the day's monitoring report")?,
        )?;
        let mut action = Vec::new();
        if canary["canary"].is_null()
            && let Some(v) = served_by.canary
        {
            action.push(format!(
                "canary v{v} removed by the server's guardrails (see the audit log)"
            ));
        }
        match canary["decision"].as_str() {
            Some("promoted") => {
                action.push(format!(
                    "canary v{} promoted to production",
                    canary["canary"]
                ));
                let v = canary["canary"].as_i64();
                wait_until(|| {
                    serving()
                        == Deployed {
                            primary: v,
                            canary: None,
                        }
                });
            }
            Some("rolled_back") => action.push(format!("canary v{} rolled back", canary["canary"])),
            _ => {}
        }
        if let Some(note) = decide["note"].as_str() {
            action.push(format!("retraining not started: {note}"));
        }
        if decide["triggered"] == true {
            // The batch for the retraining: the last 30 days of history and
            // the days replayed so far, with their labels.
            let date_text = decide["date"].as_str().unwrap_or_default().to_string();
            let batch = retraining_batch(&history, 30, &replayed)?;
            let path = PathBuf::from(
                cfg.data
                    .source
                    .as_deref()
                    .unwrap_or_default()
                    .replace("{date}", &date_text),
            );
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            fathom_data::export::write_frame(&path, &batch)?;
            let date = LogicalDate::parse(&date_text)?;
            // A batch that breaks the contract stops the data pipeline (and
            // alerts its owner): no retraining on it, the story goes on.
            match runner.run(&data, &RunRequest::manual(date))? {
                RunOutcome::Ran(r) if !r.succeeded() => {
                    crate::commands::pipeline::alert_owners(&cfg, &r.alerts);
                    action.push(format!(
                        "retraining stopped: the data pipeline failed at {} ({})",
                        r.run.failed_task.clone().unwrap_or_default(),
                        r.run.error.clone().unwrap_or_default()
                    ));
                }
                outcome => {
                    ran(outcome, "data")?;
                    retrain(
                        &mut runner,
                        &training,
                        date,
                        batch.num_rows(),
                        &mut action,
                        &serving,
                    )?;
                }
            }
        }
        timeline.push(Day {
            date: date.clone(),
            phase,
            serving: served_by.text(),
            answered: burst.answered,
            drift: summary.drift.as_ref().map_or("–".into(), |d| {
                format!("{} ({:.0}%)", d.verdict.name(), d.share_drifted * 100.0)
            }),
            drift_score: summary.drift.as_ref().map(|d| d.share_drifted),
            auc: summary.performance.windows.first().and_then(|w| w.auc_roc),
            decision: check["action"].as_str().unwrap_or("").to_string(),
            action: if action.is_empty() {
                "–".into()
            } else {
                action.join("; ")
            },
            report: check["report"].as_str().map(PathBuf::from),
        });
        bursts.push(burst);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let production = state
        .deployment
        .load_full()
        .map(|d| d.primary.model.version);
    // The server flushes and counts the log once it holds the last
    // reference to its state.
    drop(state);
    let _ = stop.send(());
    let report = rt
        .block_on(server)
        .map_err(|e| anyhow::anyhow!("the server task failed: {e}"))??;
    Ok(Replay {
        days: timeline,
        bursts,
        logged: report.logged,
        dropped: report.dropped,
        production,
    })
}
