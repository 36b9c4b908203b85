//! `fathom`: production machine learning for tabular data in one program.

// Large columnar buffers are allocated and freed all the time; mimalloc
// keeps freed memory for reuse instead of returning it to the system and
// faulting it in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod config;
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
/// and used to score files; (in later releases) tracked, served, monitored
/// and retrained. Start with
/// `fathom quickstart`, which runs the whole loop on generated card
/// transactions with embedded defaults.
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
    /// The local store folder for snapshots (default .fathom; env FATHOM_STORE).
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
    /// Run the whole loop on generated data: generate → infer schema →
    /// validate → snapshot → profile → train, and say what was made where.
    Quickstart(commands::quickstart::QuickstartArgs),
    /// Train the candidate ladder (baseline, logistic regression, random
    /// forest, gradient-boosted trees) on a data file, compare them on
    /// held-out rows and write the best as a checksummed model file, with an
    /// HTML training report beside it.
    Train(commands::train::TrainArgs),
    /// Score a CSV or Parquet file with a model: id columns, score and
    /// decision (score ≥ the model's threshold), written as CSV or Parquet.
    /// Input that does not fit the model's contract is refused before
    /// anything is written.
    Predict(commands::predict::PredictArgs),
    /// Look inside model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Generate, inspect, validate, snapshot and profile data sets.
    #[command(subcommand)]
    Data(DataCommand),
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
        }
        match cli.command {
            Command::Quickstart(a) => commands::quickstart::run(&config, &ui, a),
            Command::Train(a) => commands::train::run(&config, &ui, a),
            Command::Predict(a) => commands::predict::run(&ui, a),
            Command::Model(ModelCommand::Inspect(a)) => commands::model::inspect(&ui, a),
            Command::Data(DataCommand::Generate(a)) => commands::data::generate(&config, &ui, a),
            Command::Data(DataCommand::Inspect(a)) => commands::data::inspect(&ui, a),
            Command::Data(DataCommand::Schema(SchemaCommand::Infer(a))) => {
                commands::data::infer(&ui, a)
            }
            Command::Data(DataCommand::Validate(a)) => commands::data::validate(&ui, a),
            Command::Data(DataCommand::Snapshot(a)) => commands::data::snapshot(&config, &ui, a),
            Command::Data(DataCommand::Snapshots(_)) => commands::data::snapshots(&config, &ui),
            Command::Data(DataCommand::Profile(a)) => commands::data::profile(&ui, a),
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
