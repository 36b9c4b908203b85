//! `fathom pipeline run|trigger|status|history` and `fathom scheduler`: the
//! built-in pipelines (see [`crate::pipelines`]) run by hand, one task at a
//! time, from the queue, or on their schedules.

use crate::config::Config;
use crate::pipelines::{self, BUILT_IN};
use crate::ui::{Ui, print_out, table};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use fathom_monitor::alert::{Cause, Notification, NotificationKind, Severity};
use fathom_pipeline::{
    Alert, EventDelivery, LogicalDate, PipelineError, RunEvent, RunEventKind, RunObserver,
    RunOutcome, RunReport, RunRequest, Runner, Scheduler, ThreadSleeper, TickReport,
};
use fathom_registry::{PipelineRunQuery, PipelineTrigger, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `fathom pipeline run`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom pipeline run data --date 2026-03-02
  fathom pipeline run training --reason \"new fraud pattern\"
  fathom pipeline run monitoring --window 6h
  fathom pipeline run data --date 2026-03-02 --task validate
  fathom pipeline run --queued

A date that already succeeded is not run again; a failed one resumes
from the task that failed. Without --date the logical date is the
pipeline's latest cron time (its cron counts even with enabled = false,
so an hourly pipeline started hourly from outside gets one date an hour).

--task runs one task of the run, like `airflow tasks run`: the tasks it
depends on must have succeeded for the date (their recorded outputs feed
it); a task that succeeded is not run again; the rest of the run is left
in the queue for `--queued` or a scheduler.

--queued runs what waits in the store, oldest first: runs queued by
`fathom pipeline trigger` or by the monitoring policy (a retraining),
and runs a killed runner left behind once their lease expired (resumed
from the task that did not finish).

Exit status 0 when the runs succeeded (or had already, or nothing was
waiting), 1 when a task failed, 3 when another runner holds a run.")]
pub struct RunArgs {
    /// data, training or monitoring (with --queued: only its runs).
    #[arg(required_unless_present = "queued")]
    pub name: Option<String>,
    /// The logical date (YYYY-MM-DD, or an RFC 3339 time for hourly
    /// pipelines); default: the pipeline's latest cron time.
    #[arg(long, value_name = "DATE", conflicts_with = "queued")]
    pub date: Option<String>,
    /// Run only this task of the run (idempotent; its upstream tasks must
    /// have succeeded for the date).
    #[arg(long, value_name = "TASK", conflicts_with = "queued")]
    pub task: Option<String>,
    /// Run the queued and interrupted runs instead of one date.
    #[arg(long)]
    pub queued: bool,
    /// Why the run is started (recorded with it).
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "",
        conflicts_with = "queued"
    )]
    pub reason: String,
    /// monitoring: the prediction-log window to check (default 1h).
    #[arg(long, value_name = "DURATION", conflicts_with = "queued")]
    pub window: Option<String>,
    /// training: the snapshot to train on (default: the newest validated).
    #[arg(long, value_name = "ID", conflicts_with = "queued")]
    pub snapshot: Option<String>,
}

/// `fathom pipeline trigger`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom pipeline trigger training --reason \"new labels arrived\"
  fathom pipeline trigger data --date 2026-03-02

Queues the run without running it: a scheduler (`fathom scheduler`,
`fathom serve --with-scheduler`) or `fathom pipeline run --queued` runs it.
A date that already has a run is not queued again.")]
pub struct TriggerArgs {
    /// data, training or monitoring.
    pub name: String,
    /// The logical date; default: the pipeline's latest cron time.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Why (recorded with the run).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
}

/// `fathom scheduler`
#[derive(Args, Debug)]
#[command(
    after_help = "Runs until Ctrl-C or SIGTERM. Each pipeline runs on its own thread;
runs a killed process left behind are resumed once their lease expires,
and with [[registry.webhooks]] configured, due registry events (and
their retries) are delivered at every poll."
)]
pub struct SchedulerArgs {
    /// How often to look for queued runs and due event deliveries, in
    /// seconds, when no cron time comes sooner.
    #[arg(long, value_name = "SECS", default_value_t = fathom_pipeline::DEFAULT_POLL.as_secs())]
    pub poll: u64,
}

/// `fathom pipeline history`
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only this pipeline's runs.
    pub name: Option<String>,
    /// Most runs to show, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Show each run's task attempts, with their logs.
    #[arg(long)]
    pub tasks: bool,
}

/// Exit status when another runner holds the run's lease.
const EXIT_BUSY: u8 = 3;

/// Prints each task's progress as it happens.
struct Progress {
    quiet: bool,
}

impl RunObserver for Progress {
    fn on_event(&self, e: &RunEvent<'_>) {
        if self.quiet {
            return;
        }
        let what = match &e.kind {
            RunEventKind::Reused => "done earlier, output reused".to_string(),
            RunEventKind::Started { attempt } => format!("started (attempt {attempt})"),
            RunEventKind::Ended {
                status,
                error: None,
                ..
            } => status.as_str().to_string(),
            RunEventKind::Ended {
                status,
                error: Some(err),
                ..
            } => format!("{}: {err}", status.as_str()),
            RunEventKind::Retrying { wait } => {
                format!("retrying in {}", fathom_pipeline::show_duration(*wait))
            }
            RunEventKind::NotRun { status, reason } => format!("{}: {reason}", status.as_str()),
        };
        eprintln!("{} {}: {} {what}", e.pipeline, e.logical_date, e.task);
    }
}

/// The default logical date of `name` at `now`: its latest cron time
/// (enabled or not), else the day.
fn default_date(config: &Config, name: &str, now: DateTime<Utc>) -> Result<LogicalDate> {
    let schedule = pipelines::settings(config, name).cron(name)?;
    Ok(match schedule {
        Some(s) => s
            .latest_at_or_before(now)
            .map_or_else(|| LogicalDate::day_of(now), |t| s.logical_date(t)),
        None => LogicalDate::day_of(now),
    })
}

fn open_store(config: &Config) -> Result<Store> {
    Ok(crate::store::open(config)?.store)
}

/// Tells the owners of failed tasks, through the monitoring routes: the
/// on-call team's routes, and the owner's name in the message.
pub fn alert_owners(config: &Config, alerts: &[Alert]) {
    let esc = &config.monitor.escalation;
    let now = Utc::now().timestamp_millis();
    let notes: Vec<Notification> = alerts
        .iter()
        .map(|a| Notification {
            kind: NotificationKind::Firing,
            rule: format!("pipeline-{}", a.pipeline),
            instance: format!("{}/{}", a.task, a.logical_date),
            severity: Severity::Critical,
            cause: Cause::System,
            owner: a.owner.clone().unwrap_or_else(|| esc.oncall.clone()),
            team: a.owner.clone().unwrap_or_else(|| esc.oncall.clone()),
            routes: esc.oncall_routes.clone(),
            value: 1.0,
            threshold: "task failed".into(),
            since_ms: now,
            at_ms: now,
            message: format!(
                "pipeline {} ({}) stopped: task {} failed: {} — owner {}",
                a.pipeline,
                a.logical_date,
                a.task,
                a.error,
                a.owner.as_deref().unwrap_or("unassigned")
            ),
        })
        .collect();
    for d in crate::commands::monitor::notify::deliver(config, &notes) {
        if !d.delivered {
            eprintln!(
                "warning: the alert for {} did not reach {}: {}",
                d.alert, d.route, d.detail
            );
        }
    }
}

fn print_report(report: &RunReport) -> Result<()> {
    let mut t = table(&["task", "status", "attempts", "note"]);
    for task in &report.tasks {
        t.add_row(vec![
            task.task.clone(),
            task.status.as_str().to_string(),
            task.attempts.to_string(),
            task.error.clone().unwrap_or_else(|| {
                if task.reused {
                    "done in an earlier invocation".into()
                } else {
                    String::new()
                }
            }),
        ]);
    }
    print_out(&t.to_string())?;
    let run = &report.run;
    print_out(&format!(
        "{} {}: {}{}{}",
        run.pipeline,
        run.logical_date,
        run.status.as_str(),
        if report.resumed { " (resumed)" } else { "" },
        run.note
            .as_deref()
            .map(|n| format!(" — {n}"))
            .unwrap_or_default()
    ))?;
    for a in &report.alerts {
        print_out(&format!(
            "alert to {}: task {} failed: {}",
            a.owner.as_deref().unwrap_or("the on-call team"),
            a.task,
            a.error
        ))?;
    }
    Ok(())
}

/// Runs `fathom pipeline run`.
pub fn run(config: &Config, ui: &Ui, args: RunArgs) -> Result<u8> {
    if args.queued {
        return run_queued(config, ui, args.name.as_deref());
    }
    let name = args
        .name
        .clone()
        .context("name the pipeline to run (data, training or monitoring), or pass --queued")?;
    let pipeline = pipelines::build(config, &name)?;
    let date = match &args.date {
        Some(d) => LogicalDate::parse(d).with_context(|| format!("--date {d:?}"))?,
        None => default_date(config, &name, Utc::now())?,
    };
    let mut params = serde_json::Map::new();
    if let Some(w) = &args.window {
        crate::commands::monitor::parse_window(w)?;
        params.insert("window".into(), w.clone().into());
    }
    if let Some(s) = &args.snapshot {
        params.insert("snapshot".into(), s.clone().into());
    }
    let mut request = RunRequest::manual(date).with_params(serde_json::Value::Object(params));
    request.reason = args.reason.clone();
    let mut runner = Runner::new(open_store(config)?).with_observer(Arc::new(Progress {
        quiet: ui.quiet || ui.json,
    }));
    let outcome = match &args.task {
        None => runner.run(&pipeline, &request)?,
        Some(task) => match runner.run_one(&pipeline, &request, task) {
            Err(PipelineError::UpstreamNotDone { waiting, .. }) => bail!(
                "task '{task}' of {name} for {date} needs {} to have succeeded for this date first; run `fathom pipeline run {name} --date {date} --task {}` first, or the whole pipeline (`fathom pipeline run {name} --date {date}`)",
                waiting.join(", "),
                waiting[0]
            ),
            other => other?,
        },
    };
    if let RunOutcome::Ran(report) = &outcome {
        alert_owners(config, &report.alerts);
    }
    if ui.json {
        ui.print_json(&outcome)?;
    }
    Ok(match outcome {
        RunOutcome::Ran(report) => {
            if !ui.json {
                print_report(&report)?;
            }
            if report.run.status == fathom_registry::PipelineRunStatus::Failed {
                1
            } else {
                0
            }
        }
        RunOutcome::AlreadySucceeded(run) => {
            if !ui.json {
                print_out(&format!(
                    "{} {} already succeeded (run {}, ended {}); nothing to do",
                    run.pipeline,
                    run.logical_date,
                    run.id,
                    run.ended_at.map_or("–".into(), |t| t.to_rfc3339())
                ))?;
            }
            0
        }
        RunOutcome::Busy { lease, holder } => {
            if !ui.json {
                print_out(&format!(
                    "another runner ({}) is running it (lease {lease}); try again when it is done",
                    holder.as_deref().unwrap_or("unknown")
                ))?;
            }
            EXIT_BUSY
        }
    })
}

/// Runs `fathom pipeline status`.
pub fn status(config: &Config, ui: &Ui) -> Result<u8> {
    let mut store = open_store(config)?;
    let latest = store.latest_pipeline_runs()?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for name in BUILT_IN {
        let settings = pipelines::settings(config, name);
        let schedule = settings.cron(name)?;
        let last = latest.iter().find(|r| r.pipeline == name);
        rows.push(serde_json::json!({
            "pipeline": name,
            "schedule": schedule.as_ref().map(|s| s.expression().to_string()),
            "enabled": settings.enabled,
            "catch_up": settings.catch_up.as_str(),
            "next": schedule.as_ref().and_then(|s| s.next_after(now)),
            "last": last,
        }));
    }
    if ui.json {
        ui.print_json(&rows)?;
        return Ok(0);
    }
    let mut t = table(&[
        "pipeline",
        "schedule (UTC)",
        "next",
        "last run",
        "status",
        "note",
    ]);
    for r in &rows {
        let last = &r["last"];
        t.add_row(vec![
            r["pipeline"].as_str().unwrap_or_default().to_string(),
            match (r["schedule"].as_str(), r["enabled"].as_bool()) {
                (Some(cron), Some(false)) => format!("{cron} (disabled)"),
                (Some(cron), _) => cron.to_string(),
                (None, _) => "on demand".into(),
            },
            r["next"].as_str().unwrap_or("–").to_string(),
            if last.is_null() {
                "never".into()
            } else {
                format!(
                    "{} (run {})",
                    last["logical_date"].as_str().unwrap_or(""),
                    last["id"]
                )
            },
            last["status"].as_str().unwrap_or("–").to_string(),
            last["error"]
                .as_str()
                .or(last["note"].as_str())
                .unwrap_or("")
                .to_string(),
        ]);
    }
    print_out(&t.to_string())?;
    Ok(0)
}

/// Runs `fathom pipeline history`.
pub fn history(config: &Config, ui: &Ui, args: HistoryArgs) -> Result<u8> {
    if let Some(n) = &args.name
        && !BUILT_IN.contains(&n.as_str())
    {
        bail!(
            "no pipeline named '{n}'; the pipelines are: {}",
            BUILT_IN.join(", ")
        );
    }
    let mut store = open_store(config)?;
    let runs = store.pipeline_runs(&PipelineRunQuery {
        pipeline: args.name.clone(),
        status: None,
        before_id: None,
        limit: args.limit.clamp(1, 1000),
    })?;
    let mut with_tasks = Vec::new();
    if args.tasks || ui.json {
        for r in &runs {
            with_tasks.push(store.pipeline_task_runs(r.id)?);
        }
    }
    if ui.json {
        let out: Vec<_> = runs
            .iter()
            .zip(with_tasks.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(r, t)| serde_json::json!({"run": r, "tasks": t}))
            .collect();
        ui.print_json(&out)?;
        return Ok(0);
    }
    let mut t = table(&[
        "run", "pipeline", "date", "trigger", "status", "started", "note",
    ]);
    for r in &runs {
        t.add_row(vec![
            r.id.to_string(),
            r.pipeline.clone(),
            r.logical_date.clone(),
            r.trigger.as_str().to_string(),
            r.status.as_str().to_string(),
            r.started_at
                .map_or("–".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            r.error
                .clone()
                .or_else(|| r.note.clone())
                .or_else(|| (!r.reason.is_empty()).then(|| r.reason.clone()))
                .unwrap_or_default(),
        ]);
    }
    print_out(&t.to_string())?;
    if args.tasks {
        for (r, tasks) in runs.iter().zip(&with_tasks) {
            print_out(&format!(
                "\nrun {} ({} {}):",
                r.id, r.pipeline, r.logical_date
            ))?;
            for a in tasks {
                print_out(&format!(
                    "  {} attempt {}: {}{}",
                    a.task,
                    a.attempt,
                    a.status.as_str(),
                    a.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ))?;
                for line in a.log.lines() {
                    print_out(&format!("    | {line}"))?;
                }
            }
        }
    }
    Ok(0)
}

/// A scheduler of one built-in pipeline, on its own store connection. A
/// pipeline without a schedule still runs what is queued for it (training,
/// when the monitoring policy asks for it).
pub fn scheduler(config: &Config, name: &str, quiet: bool) -> Result<Scheduler> {
    let runner = Runner::new(open_store(config)?).with_observer(Arc::new(Progress { quiet }));
    let mut scheduler = Scheduler::new(runner);
    let settings = pipelines::settings(config, name);
    scheduler.add(pipelines::build(config, name)?, settings.schedule(name)?)?;
    Ok(scheduler)
}

/// Runs every built-in pipeline's scheduler until `stop` is set, each on
/// its own thread, so that a long training does not hold up the hourly
/// monitoring, and, with webhooks configured, one more that delivers the
/// registry's due events at every poll; prints what each tick did. The
/// store's leases keep them (and any other scheduler) from running one
/// run twice.
pub fn run_scheduler(
    config: &Config,
    stop: &AtomicBool,
    quiet: bool,
    poll: Duration,
) -> Result<()> {
    let mut schedulers = Vec::new();
    for name in BUILT_IN {
        let s = scheduler(config, name, quiet)?.with_poll(poll);
        if !quiet {
            for sc in s.schedules() {
                eprintln!(
                    "scheduler: {} at \"{}\" UTC (catch-up {}), next {}",
                    sc.pipeline(),
                    sc.expression(),
                    sc.catch_up().as_str(),
                    sc.next_after(Utc::now())
                        .map_or("–".into(), |t| t.to_rfc3339())
                );
            }
        }
        schedulers.push(s);
    }
    let hooks = &config.registry.webhooks;
    if !hooks.is_empty() {
        let mut store = open_store(config)?;
        store.subscribe(hooks)?;
        let events = Scheduler::new(Runner::new(store))
            .with_poll(poll)
            .with_events(EventDelivery {
                webhooks: hooks.clone(),
                policy: config.registry.delivery.clone(),
                transport: Box::new(crate::commands::events::HttpTransport::new(None)),
            });
        if !quiet {
            eprintln!(
                "scheduler: delivering registry events to {} webhook(s) every {}",
                hooks.len(),
                fathom_pipeline::show_duration(poll)
            );
        }
        schedulers.push(events);
    }
    std::thread::scope(|scope| {
        for mut s in schedulers {
            scope.spawn(move || {
                s.run_forever(
                    &fathom_registry::SystemClock,
                    &ThreadSleeper,
                    stop,
                    |tick| report_tick(config, tick, quiet),
                );
            });
        }
    });
    Ok(())
}

/// Prints a tick's runs, deliveries and errors, and alerts the owners of
/// failed tasks.
fn report_tick(config: &Config, tick: &TickReport, quiet: bool) {
    for r in &tick.runs {
        let what = match &r.result {
            Ok(RunOutcome::Ran(report)) => {
                alert_owners(config, &report.alerts);
                format!(
                    "{}{}",
                    report.run.status.as_str(),
                    if report.resumed { " (resumed)" } else { "" }
                )
            }
            Ok(RunOutcome::AlreadySucceeded(_)) => "already succeeded".into(),
            Ok(RunOutcome::Busy { .. }) => "held by another runner".into(),
            Err(e) => format!("error: {e}"),
        };
        if !quiet {
            eprintln!(
                "scheduler: {} {} ({}): {what}",
                r.pipeline,
                r.logical_date,
                r.trigger.as_str()
            );
        }
    }
    if let Some(d) = &tick.deliveries {
        if d.delivered > 0 && !quiet {
            eprintln!("scheduler: {} registry event(s) delivered", d.delivered);
        }
        crate::commands::events::warn_failures(d);
    }
    for (name, e) in &tick.errors {
        eprintln!("scheduler: {name}: {e}");
    }
}

/// Runs `fathom pipeline run --queued [NAME]`: the queued and interrupted
/// runs, oldest first, through the same leases as the scheduler.
fn run_queued(config: &Config, ui: &Ui, name: Option<&str>) -> Result<u8> {
    let names: Vec<&str> = match name {
        Some(n) if BUILT_IN.contains(&n) => vec![n],
        Some(n) => bail!(
            "no pipeline named '{n}'; the pipelines are: {}",
            BUILT_IN.join(", ")
        ),
        None => BUILT_IN.to_vec(),
    };
    let runner = Runner::new(open_store(config)?).with_observer(Arc::new(Progress {
        quiet: ui.quiet || ui.json,
    }));
    let mut scheduler = Scheduler::new(runner);
    for n in names {
        scheduler.add(pipelines::build(config, n)?, None)?;
    }
    let report = scheduler.run_waiting(Utc::now());
    let mut code = 0;
    let mut rows = Vec::new();
    for r in &report.runs {
        let (outcome, status, note) = match &r.result {
            Ok(RunOutcome::Ran(rep)) => {
                alert_owners(config, &rep.alerts);
                if rep.run.status == fathom_registry::PipelineRunStatus::Failed {
                    code = 1;
                }
                (
                    if rep.resumed { "resumed" } else { "ran" },
                    rep.run.status.as_str().to_string(),
                    rep.run.error.clone().or_else(|| rep.run.note.clone()),
                )
            }
            Ok(RunOutcome::AlreadySucceeded(_)) => {
                ("already_succeeded", "succeeded".to_string(), None)
            }
            Ok(RunOutcome::Busy { holder, .. }) => {
                if code == 0 {
                    code = EXIT_BUSY;
                }
                (
                    "busy",
                    "running".to_string(),
                    Some(format!(
                        "held by {}",
                        holder.as_deref().unwrap_or("another runner")
                    )),
                )
            }
            Err(e) => {
                code = 1;
                ("error", "–".to_string(), Some(e.to_string()))
            }
        };
        rows.push(serde_json::json!({
            "pipeline": r.pipeline,
            "logical_date": r.logical_date,
            "trigger": r.trigger.as_str(),
            "outcome": outcome,
            "status": status,
            "note": note,
        }));
    }
    for (what, e) in &report.errors {
        eprintln!("error: {what}: {e}");
        code = 1;
    }
    if ui.json {
        ui.print_json(&rows)?;
        return Ok(code);
    }
    if rows.is_empty() {
        print_out("nothing is queued or waiting to be resumed")?;
        return Ok(code);
    }
    let mut t = table(&["pipeline", "date", "trigger", "outcome", "status", "note"]);
    for r in &rows {
        t.add_row(
            [
                "pipeline",
                "logical_date",
                "trigger",
                "outcome",
                "status",
                "note",
            ]
            .iter()
            .map(|k| r[*k].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        );
    }
    print_out(&t.to_string())?;
    Ok(code)
}

/// Runs `fathom pipeline trigger`: queues a run for a scheduler.
pub fn trigger(config: &Config, ui: &Ui, args: TriggerArgs) -> Result<u8> {
    // Building checks the name and the pipeline's settings.
    pipelines::build(config, &args.name)?;
    let date = match &args.date {
        Some(d) => LogicalDate::parse(d).with_context(|| format!("--date {d:?}"))?,
        None => default_date(config, &args.name, Utc::now())?,
    };
    let mut store = open_store(config)?;
    let (run, created) = fathom_pipeline::enqueue(
        &mut store,
        &args.name,
        &date,
        PipelineTrigger::Manual,
        &args.reason,
        serde_json::json!({}),
    )?;
    if ui.json {
        ui.print_json(&serde_json::json!({"queued": created, "run": run}))?;
    } else if created {
        print_out(&format!(
            "queued {} {} (run {}); a scheduler or `fathom pipeline run --queued` runs it",
            run.pipeline, run.logical_date, run.id
        ))?;
    } else {
        print_out(&format!(
            "{} {} already has a run (run {}, {}); not queued again",
            run.pipeline, run.logical_date, run.id, run.status
        ))?;
    }
    Ok(0)
}

/// Runs `fathom scheduler` until interrupted (Ctrl-C or SIGTERM).
pub fn scheduler_command(config: &Config, ui: &Ui, args: &SchedulerArgs) -> Result<u8> {
    if args.poll == 0 {
        bail!("--poll 0: give the number of seconds between looks at the queue, at least 1");
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("fathom-signals".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(fathom_serve::shutdown_signal());
                }
                stop.store(true, Ordering::SeqCst);
            })
            .context("cannot start the signal listener")?;
    }
    run_scheduler(config, &stop, ui.quiet, Duration::from_secs(args.poll))?;
    if !ui.quiet {
        eprintln!("scheduler: stopped");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    #[test]
    fn default_dates_follow_the_cron_even_when_the_schedule_is_disabled() {
        let mut config: Config = toml::from_str(
            "[pipelines.monitoring]\nenabled = false\n[pipelines.training]\nenabled = false\n[pipelines.data]\nenabled = false\nschedule = \"*/15 * * * *\"\n",
        )
        .unwrap();
        let date = |c: &Config, name: &str, t| default_date(c, name, t).unwrap().to_string();
        // Hourly: one date an hour, not one a day.
        assert_eq!(
            date(&config, "monitoring", at(26, 10, 30)),
            "2026-11-26T10:00:00Z"
        );
        assert_eq!(
            date(&config, "monitoring", at(26, 11, 5)),
            "2026-11-26T11:00:00Z"
        );
        // Weekly on Sunday 03:00: the latest Sunday (22 November 2026).
        assert_eq!(date(&config, "training", at(26, 11, 5)), "2026-11-22");
        assert_eq!(
            date(&config, "data", at(26, 11, 50)),
            "2026-11-26T11:45:00Z"
        );
        config.pipelines.clear();
        assert_eq!(date(&config, "data", at(26, 1, 0)), "2026-11-25");
    }
}
