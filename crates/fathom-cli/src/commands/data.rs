//! `fathom data …`: generate, infer a schema, validate, snapshot, profile.

use crate::config::Config;
use crate::ui::{Ui, bytes, table, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_core::{Role, Schema};
use fathom_data::contract::{InferOptions, SchemaInferrer};
use fathom_data::export::{WriteSummary, write_atomic};
use fathom_data::generate::{Generator, GeneratorConfig, Scenario};
use fathom_data::ingest::{ReadOptions, open, read_frame};
use fathom_data::profile::{Profile, ProfileOptions, profile_frame, render_html};
use fathom_data::snapshot::{Created, SnapshotStore};
use fathom_data::validate::{ValidationReport, validate_file};
use std::path::{Path, PathBuf};

/// `fathom data generate`
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Output file; `.csv` or `.parquet` picks the format.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Number of transactions (default 200000; env FATHOM_ROWS).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Random seed: the same seed gives the same file, byte for byte (env FATHOM_SEED).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of fraudulent transactions, e.g. 0.015 (env FATHOM_FRAUD_RATE).
    #[arg(long)]
    pub fraud_rate: Option<f64>,
    /// Drift scenario: baseline, gradual (amounts inflate, new merchant
    /// categories appear), sudden (a shift to online shopping half-way),
    /// concept (same inputs, fraud patterns change half-way).
    #[arg(long)]
    pub scenario: Option<String>,
    /// First day of the data, YYYY-MM-DD.
    #[arg(long, default_value = "2024-01-01")]
    pub start: String,
    /// Number of days the data spans.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
}

/// The generator settings from flags over config.
pub fn generator_config(config: &Config, args: &GenerateArgs) -> Result<GeneratorConfig> {
    let scenario: Scenario = args
        .scenario
        .as_deref()
        .unwrap_or(&config.data.scenario)
        .parse()?;
    let start = fathom_core::time::parse_timestamp(args.start.as_bytes()).with_context(|| {
        format!(
            "--start {:?} is not a date; write it as YYYY-MM-DD",
            args.start
        )
    })?;
    Ok(GeneratorConfig {
        rows: args.rows.unwrap_or(config.data.rows),
        seed: args.seed.unwrap_or(config.data.seed),
        fraud_rate: args.fraud_rate.unwrap_or(config.data.fraud_rate),
        scenario,
        start,
        days: args.days,
        ..GeneratorConfig::default()
    })
}

/// Generates into `path` with a progress bar.
pub fn write_generated(settings: GeneratorConfig, path: &Path, ui: &Ui) -> Result<WriteSummary> {
    let rows = settings.rows;
    let generator = Generator::new(settings)?;
    let bar = ui.bar(rows, "generate");
    let summary = fathom_data::export::write_generated(&generator, path, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Runs `fathom data generate`.
pub fn generate(config: &Config, ui: &Ui, args: GenerateArgs) -> Result<u8> {
    let settings = generator_config(config, &args)?;
    let (seed, scenario, rate) = (settings.seed, settings.scenario, settings.fraud_rate);
    let t0 = std::time::Instant::now();
    let summary = write_generated(settings, &args.output, ui)?;
    let secs = t0.elapsed().as_secs_f64();
    if ui.json {
        ui.print_json(&serde_json::json!({
            "output": args.output, "rows": summary.rows, "bytes": summary.bytes, "seed": seed,
            "scenario": scenario.to_string(), "fraud_rate": rate, "seconds": secs,
        }))?;
    } else {
        println!(
            "wrote {} transactions ({} scenario, seed {seed}, fraud rate {rate}) to {} ({}) in {secs:.2}s",
            thousands(summary.rows),
            scenario,
            args.output.display(),
            bytes(summary.bytes)
        );
    }
    Ok(0)
}

/// `fathom data schema infer`
#[derive(Args, Debug)]
pub struct InferArgs {
    /// The CSV or Parquet file to learn the contract from.
    pub file: PathBuf,
    /// Where to write the contract.
    #[arg(short, long, value_name = "FILE", default_value = "schema.toml")]
    pub output: PathBuf,
    /// The label column (default: a 0/1 column named like label, target, is_fraud, …).
    #[arg(long)]
    pub label: Option<String>,
    /// The unique row id column (default: a unique column named id or *_id).
    #[arg(long)]
    pub id: Option<String>,
    /// The event-time column (default: the first timestamp column).
    #[arg(long)]
    pub timestamp: Option<String>,
    /// Categorical columns with more levels than this accept any level.
    #[arg(long, default_value_t = 1000)]
    pub max_categories: usize,
}

/// Infers a contract from a file, with a progress bar.
pub fn infer_schema_of(path: &Path, options: InferOptions, ui: &Ui) -> Result<Schema> {
    let mut reader = open(path, &ReadOptions::default())?;
    let columns = reader.columns();
    for (flag, name) in [
        ("--label", &options.label),
        ("--id", &options.id),
        ("--timestamp", &options.timestamp),
    ] {
        if let Some(n) = name
            && !columns.iter().any(|(c, _)| c == n)
        {
            let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            bail!(
                "{flag} {n:?}: {} has no such column; its columns are: {}",
                path.display(),
                names.join(", ")
            );
        }
    }
    let mut inferrer = SchemaInferrer::new(columns, options);
    let bar = ui.bar(1000, "infer");
    let mut rows = 0usize;
    while let Some(batch) = reader.next() {
        let batch = batch?;
        rows += batch.num_rows();
        inferrer.update(&batch)?;
        bar.set_position((reader.progress() * 1000.0) as u64);
    }
    bar.finish_and_clear();
    if rows == 0 {
        return Err(fathom_data::DataError::NoDataRows {
            path: path.to_path_buf(),
            what: "a contract",
        }
        .into());
    }
    Ok(inferrer.finish())
}

fn describe_rules(spec: &fathom_core::ColumnSpec) -> String {
    let mut parts = Vec::new();
    if let (Some(lo), Some(hi)) = (spec.min, spec.max) {
        parts.push(format!("range [{}, {}]", short(lo), short(hi)));
    }
    if let Some(c) = &spec.categories {
        let shown: Vec<&str> = c.iter().take(4).map(String::as_str).collect();
        parts.push(format!(
            "{} levels: {}{}",
            c.len(),
            shown.join(", "),
            if c.len() > 4 { ", …" } else { "" }
        ));
    }
    if let (Some(lo), Some(hi)) = (spec.positive_rate_min, spec.positive_rate_max) {
        parts.push(format!(
            "positive rate {:.2}%–{:.2}%",
            lo * 100.0,
            hi * 100.0
        ));
    }
    if let Some(r) = spec.max_null_rate {
        parts.push(format!("nulls ≤ {:.1}%", r * 100.0));
    }
    parts.join("; ")
}

fn short(x: f64) -> String {
    if x.abs() >= 1e4 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// Runs `fathom data schema infer`.
pub fn infer(ui: &Ui, args: InferArgs) -> Result<u8> {
    let options = InferOptions {
        label: args.label,
        id: args.id,
        timestamp: args.timestamp,
        max_categories: args.max_categories,
    };
    let schema = infer_schema_of(&args.file, options, ui)?;
    write_atomic(&args.output, schema.to_toml().as_bytes())?;
    if ui.json {
        ui.print_json(&serde_json::json!({ "output": args.output, "schema_hash": schema.hash(), "schema": schema }))?;
        return Ok(0);
    }
    let mut t = table(&["column", "type", "role", "nullable", "rules"]);
    for c in &schema.columns {
        t.add_row(vec![
            c.name.clone(),
            c.column_type.to_string(),
            c.role.to_string(),
            if c.nullable { "yes" } else { "no" }.into(),
            describe_rules(c),
        ]);
    }
    println!("{t}");
    println!(
        "wrote the contract for {} columns to {} (schema hash {})",
        schema.columns.len(),
        args.output.display(),
        &schema.hash()[..12]
    );
    Ok(0)
}

/// Reads a schema contract file.
pub fn load_schema(path: &Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path).map_err(|e| fathom_data::DataError::io(path, e))?;
    Schema::from_toml(&text).map_err(|source| {
        fathom_data::DataError::Schema {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

/// `fathom data validate`
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The CSV or Parquet file to check.
    pub file: PathBuf,
    /// The schema contract (from `fathom data schema infer`).
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
}

/// Prints a validation report as a table.
pub fn print_report(report: &ValidationReport) {
    if report.passed {
        println!(
            "✓ {}: {} rows pass every check of contract {}",
            report.source,
            thousands(report.rows),
            &report.schema_hash[..12]
        );
        return;
    }
    let mut t = table(&["check", "column", "count", "what is wrong", "examples"]);
    for v in &report.violations {
        t.add_row(vec![
            v.check.title().to_string(),
            v.column.clone().unwrap_or_default(),
            thousands(v.count),
            v.message.clone(),
            v.examples.join("\n"),
        ]);
    }
    println!("{t}");
    println!(
        "✗ {}: {} violation(s) in {} rows against contract {}",
        report.source,
        report.violations.len(),
        thousands(report.rows),
        &report.schema_hash[..12]
    );
}

/// Validates with a progress bar.
pub fn validate_with_progress(file: &Path, schema: &Schema, ui: &Ui) -> Result<ValidationReport> {
    let bar = ui.bar(1000, "validate");
    let report = validate_file(file, schema, |p| bar.set_position((p * 1000.0) as u64))?;
    bar.finish_and_clear();
    Ok(report)
}

/// Runs `fathom data validate`.
pub fn validate(ui: &Ui, args: ValidateArgs) -> Result<u8> {
    let schema = load_schema(&args.schema)?;
    let report = validate_with_progress(&args.file, &schema, ui)?;
    if ui.json {
        ui.print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(if report.passed {
        0
    } else {
        crate::EXIT_VIOLATIONS
    })
}

/// `fathom data snapshot`
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The CSV or Parquet file to snapshot.
    pub file: PathBuf,
    /// A schema contract whose hash is recorded (and whose types are used to read CSV).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

/// Snapshots with a progress bar.
pub fn snapshot_with_progress(
    config: &Config,
    file: &Path,
    schema: Option<&Schema>,
    ui: &Ui,
) -> Result<Created> {
    let store = SnapshotStore::new(&config.store.path);
    let bar = ui.bar(1000, "snapshot");
    let created = store.create(file, schema, |p| bar.set_position((p * 1000.0) as u64))?;
    bar.finish_and_clear();
    Ok(created)
}

/// Runs `fathom data snapshot`.
pub fn snapshot(config: &Config, ui: &Ui, args: SnapshotArgs) -> Result<u8> {
    let schema = args.schema.as_deref().map(load_schema).transpose()?;
    let created = snapshot_with_progress(config, &args.file, schema.as_ref(), ui)?;
    let m = &created.manifest;
    if ui.json {
        ui.print_json(&serde_json::json!({ "is_new": created.is_new, "manifest": m }))?;
    } else {
        println!(
            "{} snapshot {} ({} rows, {} columns, {}) at {}",
            if created.is_new {
                "stored"
            } else {
                "already had identical"
            },
            m.id,
            thousands(m.rows),
            m.columns.len(),
            bytes(m.bytes),
            SnapshotStore::new(&config.store.path)
                .root()
                .join(&m.id)
                .display()
        );
    }
    Ok(0)
}

/// Runs `fathom data snapshots`.
pub fn snapshots(config: &Config, ui: &Ui) -> Result<u8> {
    let store = SnapshotStore::new(&config.store.path);
    let list = store.list()?;
    if ui.json {
        ui.print_json(&list)?;
        return Ok(0);
    }
    if list.is_empty() {
        println!(
            "no snapshots in {} yet; make one with `fathom data snapshot FILE`",
            store.root().display()
        );
        return Ok(0);
    }
    let mut t = table(&["id", "rows", "columns", "size", "created", "source"]);
    for m in &list {
        t.add_row(vec![
            m.id[..16].to_string(),
            thousands(m.rows),
            m.columns.len().to_string(),
            bytes(m.bytes),
            m.created_at.clone(),
            m.source.clone(),
        ]);
    }
    println!("{t}");
    Ok(0)
}

/// `fathom data profile`
#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The CSV or Parquet file to profile (read whole into memory).
    pub file: PathBuf,
    /// Where to write the HTML report (default: FILE's name with .profile.html).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The label column for label-rate charts (default: from --schema, or guessed).
    #[arg(long)]
    pub label: Option<String>,
    /// A schema contract: its types are used to read CSV, its label for label rates.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Histogram bins per numeric column.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
}

/// Profiles a file and writes the HTML report; returns the profile.
pub fn profile_file(
    file: &Path,
    output: &Path,
    label: Option<String>,
    schema: Option<&Schema>,
    bins: usize,
    ui: &Ui,
) -> Result<Profile> {
    let options = ReadOptions {
        schema: schema.cloned(),
        ..Default::default()
    };
    let bar = ui.bar(1000, "read");
    let frame = read_frame(file, &options)?;
    bar.finish_and_clear();
    let label = match label.or_else(|| schema.and_then(|s| s.label()).map(|c| c.name.clone())) {
        Some(l) => {
            frame
                .require(&l)
                .map_err(|e| anyhow::anyhow!("--label {l:?}: {e}"))?;
            Some(l)
        }
        None => {
            let cols = frame
                .columns()
                .iter()
                .map(|c| (c.name.clone(), c.column_type()))
                .collect();
            let mut inf = SchemaInferrer::new(cols, InferOptions::default());
            inf.update(&frame)?;
            inf.finish().with_role(Role::Label).map(|c| c.name.clone())
        }
    };
    let options = ProfileOptions {
        bins: bins.max(1),
        label,
        ..ProfileOptions::default()
    };
    let mut profile = profile_frame(&frame, &options);
    profile.source = Some(file.display().to_string());
    let title = format!(
        "Profile of {}",
        file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    write_atomic(output, render_html(&profile, &title).as_bytes())?;
    Ok(profile)
}

/// Runs `fathom data profile`.
pub fn profile(ui: &Ui, args: ProfileArgs) -> Result<u8> {
    let schema = args.schema.as_deref().map(load_schema).transpose()?;
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args
            .file
            .file_stem()
            .map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
        args.file.with_file_name(format!("{stem}.profile.html"))
    });
    let profile = profile_file(
        &args.file,
        &output,
        args.label,
        schema.as_ref(),
        args.bins,
        ui,
    )?;
    if ui.json {
        ui.print_json(&profile)?;
    } else {
        println!(
            "profiled {} rows × {} columns; report: {}",
            thousands(profile.rows as u64),
            profile.columns.len(),
            output.display()
        );
    }
    Ok(0)
}

/// `fathom data inspect`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The CSV or Parquet file to read.
    pub file: PathBuf,
}

/// Runs `fathom data inspect`: reads the whole file and shows its shape.
pub fn inspect(ui: &Ui, args: InspectArgs) -> Result<u8> {
    let t0 = std::time::Instant::now();
    let frame = read_frame(&args.file, &ReadOptions::default())?;
    let secs = t0.elapsed().as_secs_f64();
    let columns: Vec<serde_json::Value> = frame
        .columns()
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "type": c.column_type().to_string(), "nulls": c.null_count()}))
        .collect();
    if ui.json {
        ui.print_json(&serde_json::json!({"file": args.file, "rows": frame.num_rows(), "columns": columns, "read_seconds": secs}))?;
        return Ok(0);
    }
    let mut t = table(&["column", "type", "nulls", "first value"]);
    for c in frame.columns() {
        let first = if frame.num_rows() > 0 {
            c.display_value(0)
        } else {
            String::new()
        };
        t.add_row(vec![
            c.name.clone(),
            c.column_type().to_string(),
            thousands(c.null_count() as u64),
            first,
        ]);
    }
    println!("{t}");
    println!(
        "{}: {} rows × {} columns, read in {secs:.3}s",
        args.file.display(),
        thousands(frame.num_rows() as u64),
        frame.num_columns()
    );
    Ok(0)
}
