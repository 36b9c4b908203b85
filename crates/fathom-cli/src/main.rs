//! `fathom`: production machine learning for tabular data in one program.

// Large columnar buffers are allocated and freed all the time; mimalloc
// keeps freed memory for reuse instead of returning it to the system and
// faulting it in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod config;
mod pipelines;
mod reference_profile;
mod store;
mod tracking;
mod train_report;
mod ui;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// fathom: tabular machine learning in production, end to end.
///
/// Data in, validated, snapshotted and profiled; models trained, inspected
/// and used to score files; every training tracked as runs, models
/// registered, promoted through a gate, rolled back and audited; served
/// over HTTP with canary and shadow rollouts and a prediction log;
/// monitored for drift, data quality and decay, with alerts to their
/// owners; retrained on the evidence by scheduled pipelines, through a
/// gated canary. Start with `fathom quickstart`, which runs the whole loop
/// on generated card transactions with embedded defaults.
///
/// Settings come from `fathom.toml` in the current folder (or --config),
/// overridden by FATHOM_* environment variables, overridden by flags.
#[derive(Parser, Debug)]
#[command(
    name = "fathom",
    version,
    about,
    long_about,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Config file (default: ./fathom.toml if it exists).
    #[arg(long, global = true, env = "FATHOM_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The local store folder: snapshots, artifacts and (unless [store]
    /// database or FATHOM_DATABASE_URL says otherwise) the SQLite database
    /// of runs and models (default .fathom; env FATHOM_STORE).
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars or notes.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole loop on generated data: generate a year of
    /// transactions → infer schema → validate → snapshot → profile → train
    /// (every candidate tracked as a run) → register the best as model
    /// `fraud` and promote it to production through the gate → serve it
    /// over HTTP day after day, a sudden shift half-way, while the
    /// monitoring, data and training pipelines detect it, retrain, canary
    /// and promote → a day-by-day timeline (--fast for a small run).
    Quickstart(commands::quickstart::QuickstartArgs),
    /// Train the candidate ladder (baseline, logistic regression, random
    /// forest, gradient-boosted trees) on a data file, compare them on
    /// held-out rows and write the best as a checksummed model file, with an
    /// HTML training report beside it. Every candidate is recorded as a run
    /// and the best is registered as a new model version.
    Train(commands::train::TrainArgs),
    /// Score a CSV or Parquet file with a model: id columns, score and
    /// decision (score ≥ the model's threshold), written as CSV or Parquet.
    /// Input that does not fit the model's contract is refused before
    /// anything is written.
    Predict(commands::predict::PredictArgs),
    /// Look inside model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Tracked runs: list (filter, sort, page), show, compare.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// The model registry: versions, aliases, promotion through the gate,
    /// rollback, archive, model cards.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// The registry's audit log: who changed what, when, from where and why.
    Audit(commands::models::AuditArgs),
    /// Serve a registered model over HTTP: predictions, explanations and
    /// feedback, following its production, canary and shadow aliases.
    Serve(commands::serve::ServeArgs),
    /// Registry events (version registered, alias moved, promotion
    /// refused, rollback, …) and their delivery to the webhooks of
    /// [[registry.webhooks]].
    #[command(subcommand)]
    Events(EventsCommand),
    /// Delete what nothing needs any more: failed (or, with
    /// --runs-older-than, old) runs without a registered version, and
    /// artifacts no version, run, alias or retention rule needs. A dry run
    /// unless --apply; says what it frees; audited.
    Gc(commands::gc::GcArgs),
    /// Generate, inspect, validate, snapshot and profile data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// The project settings: `fathom config show` prints every key of the
    /// merged result and where its value came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Monitoring: has the data moved away from what the model learned on,
    /// and does the model still do its job? Without a subcommand, checks a
    /// registered model over a window of its prediction log.
    Monitor(MonitorArgs),
    /// The built-in pipelines (data, training, monitoring): run one for a
    /// date, see their state and history. A date that succeeded is not run
    /// again; a failed one resumes from the failed task.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Run the pipelines on their cron schedules (UTC) until interrupted;
    /// missed runs after downtime follow each pipeline's catch-up policy,
    /// queued runs and runs a killed process left behind are run, and two
    /// schedulers on one store never run the same run twice.
    Scheduler(commands::pipeline::SchedulerArgs),
}

#[derive(Subcommand, Debug)]
enum PipelineCommand {
    /// Run a pipeline for a logical date (default: its latest cron time),
    /// task by task, retrying what may pass later; or one task of it
    /// (--task); or the queued and interrupted runs (--queued).
    Run(commands::pipeline::RunArgs),
    /// Queue a run for a scheduler (or `pipeline run --queued`) to run.
    Trigger(commands::pipeline::TriggerArgs),
    /// Each pipeline's schedule, next run and last run.
    Status,
    /// Past runs, newest first (--tasks for attempts and their logs).
    History(commands::pipeline::HistoryArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Every setting of the merged configuration (fathom.toml < FATHOM_*
    /// environment < flags) as `section.key`, its value and its source:
    /// default, the file, env FATHOM_X or flag; the built-in pipelines'
    /// schedules and task settings included. Any key can be set as
    /// FATHOM_<SECTION>__<KEY> (`__` between nested keys, the value read
    /// as TOML): FATHOM_TRAIN__GBDT__NUM_ROUNDS=50. Secrets are redacted.
    Show(NoArgs),
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct MonitorArgs {
    #[command(subcommand)]
    command: Option<MonitorCommand>,
    #[command(flatten)]
    check: commands::monitor::CheckArgs,
}

#[derive(Subcommand, Debug)]
enum MonitorCommand {
    /// Compare current data (a file, or a window of the prediction log)
    /// with a reference, feature by feature: a test per feature, the share
    /// of drifted features and a verdict (none, warn, severe); optionally
    /// the self-contained HTML report. Exit status 0 for any computed
    /// report, drifted or not.
    Drift(commands::monitor::DriftArgs),
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Generate synthetic card transactions with a fraud label (CSV or
    /// Parquet by the output's extension).
    Generate(commands::data::GenerateArgs),
    /// Read a CSV or Parquet file and show its columns, types and nulls.
    Inspect(commands::data::InspectArgs),
    /// Schema contracts: infer one from a data file.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Check a data file against a schema contract; exits with status 3
    /// when any rule is broken.
    Validate(commands::data::ValidateArgs),
    /// Store an immutable, content-addressed copy of a data file.
    Snapshot(commands::data::SnapshotArgs),
    /// List stored snapshots.
    Snapshots(NoArgs),
    /// Profile a data file: statistics per column, charts, correlations
    /// and label rates, as a self-contained HTML report (or --json).
    Profile(commands::data::ProfileArgs),
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Verify a model file's checksum and show what it holds: estimator and
    /// size, threshold, metrics, input contract, feature pipeline, reference
    /// histograms and lineage (--json for all of it as JSON).
    Inspect(commands::model::InspectArgs),
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// List runs, newest first or sorted by --order-by, filtered by
    /// --filter, one page at a time (★ marks each training's best).
    List(commands::runs::ListArgs),
    /// One run: its record, params, metrics, tags and artifacts; with
    /// --metric NAME, that metric's values step by step.
    Show(commands::runs::ShowArgs),
    /// Runs side by side: metrics (★ the best of each) and params (≠ where
    /// they differ).
    Compare(commands::runs::CompareArgs),
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// Registered models with their latest version and aliases.
    List(NoArgs),
    /// A model's versions and alias history (NAME), or one version with
    /// the run, data snapshot, code version and seed that produced it
    /// (NAME@ALIAS, NAME@VERSION).
    Show(commands::models::ShowArgs),
    /// Register a model file as a new version (copied into the artifact
    /// store with its checksum).
    Register(commands::models::RegisterArgs),
    /// Point an alias at a version. Gated aliases (production) need the
    /// version to pass the promotion gate; a refusal lists each failed rule
    /// and exits with status 4, changing nothing.
    Promote(commands::models::PromoteArgs),
    /// Move an alias back to the version it named before.
    Rollback(commands::models::RollbackArgs),
    /// Archive a version: kept, but no longer promotable.
    Archive(commands::models::ArchiveArgs),
    /// A version's model card (Markdown): intended use, data, metrics,
    /// limitations, owner.
    Card(commands::models::CardArgs),
    /// Say what a model is for, its known limitations and its owner (the
    /// text of its model cards); audited. Without options, print them.
    Describe(commands::models::describe::DescribeArgs),
    /// Where a version came from: data snapshot (rows, schema hash,
    /// source), holdout, input contract and fitted features, the run with
    /// all its parameters, code version, seed, fathom version, artifact.
    Lineage(commands::models::lineage::LineageArgs),
    /// Re-train a version from its recorded data snapshot, training
    /// settings and seed, and compare the new artifact with the registered
    /// one byte for byte: identical (exit status 0), or what differs, field
    /// by field (exit status 5). Recorded as a run of NAME-reproduce.
    Reproduce(commands::reproduce::ReproduceArgs),
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// Events, newest first, with each webhook's delivery state (pending
    /// with attempts and last error, delivered, or failed).
    List(commands::events::ListArgs),
    /// Send the events that are due (new ones and retries whose backoff
    /// has passed) to the configured webhooks; for cron or CI. Exits with
    /// status 1 if a delivery failed.
    Deliver(commands::events::DeliverArgs),
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Infer a schema contract (types, roles, nulls, ranges, categories)
    /// from a CSV or Parquet file and write it as TOML.
    Infer(commands::data::InferArgs),
}

#[derive(Args, Debug)]
struct NoArgs {}

/// Exit status when validation finds violations.
pub const EXIT_VIOLATIONS: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = ui::Ui {
        json: cli.json,
        quiet: cli.quiet,
    };
    let result = config::Config::load(cli.config.as_deref()).and_then(|mut config| {
        if let Some(store) = cli.store {
            config.store.path = store;
            config.sources.set_by_flag("store.path", "--store");
        }
        match cli.command {
            Command::Quickstart(a) => commands::quickstart::run(&config, &ui, a),
            Command::Train(a) => commands::train::run(&config, &ui, a),
            Command::Predict(a) => commands::predict::run(&config, &ui, a),
            Command::Model(ModelCommand::Inspect(a)) => commands::model::inspect(&ui, a),
            Command::Runs(RunsCommand::List(a)) => commands::runs::list(&config, &ui, a),
            Command::Runs(RunsCommand::Show(a)) => commands::runs::show(&config, &ui, a),
            Command::Runs(RunsCommand::Compare(a)) => commands::runs::compare(&config, &ui, a),
            Command::Models(ModelsCommand::List(_)) => commands::models::list(&config, &ui),
            Command::Models(ModelsCommand::Show(a)) => commands::models::show(&config, &ui, a),
            Command::Models(ModelsCommand::Register(a)) => {
                commands::models::register(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Promote(a)) => {
                commands::models::promote(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Rollback(a)) => {
                commands::models::rollback(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Archive(a)) => {
                commands::models::archive(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Card(a)) => commands::models::card(&config, &ui, a),
            Command::Models(ModelsCommand::Describe(a)) => {
                commands::models::describe::run(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Lineage(a)) => {
                commands::models::lineage::run(&config, &ui, a)
            }
            Command::Models(ModelsCommand::Reproduce(a)) => {
                commands::reproduce::run(&config, &ui, a)
            }
            Command::Config(ConfigCommand::Show(_)) => commands::config_show::run(&config, &ui),
            Command::Audit(a) => commands::models::audit(&config, &ui, a),
            Command::Serve(a) => commands::serve::run(&config, &ui, a),
            Command::Pipeline(PipelineCommand::Run(a)) => commands::pipeline::run(&config, &ui, a),
            Command::Pipeline(PipelineCommand::Trigger(a)) => {
                commands::pipeline::trigger(&config, &ui, a)
            }
            Command::Pipeline(PipelineCommand::Status) => commands::pipeline::status(&config, &ui),
            Command::Pipeline(PipelineCommand::History(a)) => {
                commands::pipeline::history(&config, &ui, a)
            }
            Command::Scheduler(a) => commands::pipeline::scheduler_command(&config, &ui, &a),
            Command::Events(EventsCommand::List(a)) => commands::events::list(&config, &ui, a),
            Command::Events(EventsCommand::Deliver(a)) => {
                commands::events::deliver(&config, &ui, a)
            }
            Command::Gc(a) => commands::gc::run(&config, &ui, a),
            Command::Data(DataCommand::Generate(a)) => commands::data::generate(&config, &ui, a),
            Command::Data(DataCommand::Inspect(a)) => commands::data::inspect(&ui, a),
            Command::Data(DataCommand::Schema(SchemaCommand::Infer(a))) => {
                commands::data::infer(&ui, a)
            }
            Command::Data(DataCommand::Validate(a)) => commands::data::validate(&ui, a),
            Command::Data(DataCommand::Snapshot(a)) => commands::data::snapshot(&config, &ui, a),
            Command::Data(DataCommand::Snapshots(_)) => commands::data::snapshots(&config, &ui),
            Command::Data(DataCommand::Profile(a)) => commands::data::profile(&ui, a),
            Command::Monitor(MonitorArgs {
                command: Some(MonitorCommand::Drift(a)),
                ..
            }) => commands::monitor::drift_command(&config, &ui, a),
            Command::Monitor(MonitorArgs {
                command: None,
                check,
            }) => commands::monitor::check_command(&config, &ui, check),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
