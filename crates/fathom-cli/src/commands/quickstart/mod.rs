//! `fathom quickstart`: the whole loop on generated data with embedded
//! defaults — a year of transactions, a trained and promoted model, then
//! day after day of traffic over HTTP with a sudden shift half-way, which
//! the pipelines answer with a retrained canary and its promotion
//! ([`replay`]).

pub mod replay;

use super::data::{
    GenerateArgs, generator_config, infer_schema_of, print_report, profile_file,
    snapshot_with_progress, validate_with_progress, write_generated,
};
use crate::config::Config;
use crate::store::{EXIT_REFUSED, print_refusal};
use crate::tracking::{TrainingInput, fail_runs, record_started, start_runs};
use crate::ui::{Ui, bytes, table, thousands};
use anyhow::{Context, Result, bail};
use clap::Args;
use fathom_data::contract::InferOptions;
use fathom_data::export::write_atomic;
use fathom_registry::{PRODUCTION, Promotion, RegistryError};
use std::path::PathBuf;
use std::time::Instant;

/// `fathom quickstart`
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Folder for the generated files (data, contract, report).
    #[arg(long, default_value = "fathom-quickstart", value_name = "DIR")]
    pub dir: PathBuf,
    /// Number of transactions to generate (default 200000; env FATHOM_ROWS).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Random seed (env FATHOM_SEED).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Registered model to record the runs under and register the winner
    /// as (default: [registry] model in fathom.toml, else fraud).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Transactions sent to the server per replayed day (default 4000, 1500
    /// with --fast; 0 skips serving and the loop).
    #[arg(long)]
    pub requests: Option<usize>,
    /// Days of traffic to replay; the sudden shift comes at the half
    /// (default 8, 6 with --fast).
    #[arg(long)]
    pub days: Option<usize>,
    /// Smaller everything (30,000 transactions to train on, 6 days of 1,500):
    /// the whole story in well under a minute.
    #[arg(long)]
    pub fast: bool,
}

/// Runs `fathom quickstart`.
pub fn run(config: &Config, ui: &Ui, args: QuickstartArgs) -> Result<u8> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.dir).map_err(|e| fathom_data::DataError::io(&args.dir, e))?;
    let data = args.dir.join("transactions.parquet");
    let schema_path = args.dir.join("schema.toml");
    let report_path = args.dir.join("profile.html");
    let mut steps: Vec<(String, String, f64)> = Vec::new();

    ui.note("1/8 generating card transactions …");
    let t = Instant::now();
    let gen_args = GenerateArgs {
        output: data.clone(),
        rows: args.rows.or(args.fast.then_some(30_000)),
        seed: args.seed,
        fraud_rate: None,
        scenario: None,
        start: "2024-01-01".into(),
        days: 365,
    };
    let settings = generator_config(config, &gen_args)?;
    let seed = settings.seed;
    let generated = settings.clone();
    let written = write_generated(settings, &data, ui)?;
    steps.push((
        "generate".into(),
        format!(
            "{} rows (seed {seed}) → {} ({})",
            thousands(written.rows),
            data.display(),
            bytes(written.bytes)
        ),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("2/8 inferring the schema contract …");
    let t = Instant::now();
    let schema = infer_schema_of(&data, InferOptions::default(), ui)?;
    write_atomic(&schema_path, schema.to_toml().as_bytes())?;
    let label = schema
        .label()
        .map_or("none".to_string(), |c| c.name.clone());
    steps.push((
        "schema".into(),
        format!(
            "{} columns, label '{label}', hash {} → {}",
            schema.columns.len(),
            &schema.hash()[..12],
            schema_path.display()
        ),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("3/8 validating the data against the contract …");
    let t = Instant::now();
    let report = validate_with_progress(&data, &schema, ui)?;
    if !report.passed {
        print_report(&report);
        bail!("the generated data does not pass its own contract; this is a bug, please report it");
    }
    steps.push((
        "validate".into(),
        format!("{} rows pass all checks", thousands(report.rows)),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("4/8 storing a content-addressed snapshot …");
    let t = Instant::now();
    let created = snapshot_with_progress(config, &data, Some(&schema), ui)?;
    let snap_dir = config
        .store
        .path
        .join("snapshots")
        .join(&created.manifest.id);
    steps.push((
        "snapshot".into(),
        format!(
            "{} {} → {}",
            if created.is_new {
                "stored"
            } else {
                "reused identical"
            },
            &created.manifest.id[..16],
            snap_dir.display()
        ),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("5/8 profiling the data …");
    let t = Instant::now();
    let profile = profile_file(&data, &report_path, None, Some(&schema), 20, ui)?;
    let rate = profile.label.as_ref().map_or(String::new(), |l| {
        format!(", fraud rate {:.2}%", l.positive_rate * 100.0)
    });
    steps.push((
        "profile".into(),
        format!(
            "{} columns{rate} → {}",
            profile.columns.len(),
            report_path.display()
        ),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("6/8 training baseline, logistic regression, random forest and GBDT …");
    let t = Instant::now();
    let model_path = args.dir.join("model.fathom");
    let mut train = fathom_learn::trainer::TrainConfig {
        seed,
        ..config.train_config()
    };
    train.gbdt.seed = seed;
    let mut opened = crate::store::open(config)?;
    // Train on the contract as written to disk, as `fathom train --schema`
    // would.
    let contract = super::data::load_schema(&schema_path)?;
    let model_name = args
        .model
        .clone()
        .or_else(|| config.registry.model.clone())
        .unwrap_or_else(|| "fraud".into());
    let input = TrainingInput {
        model: &model_name,
        data: &data,
        snapshot: Some(&created.manifest.id),
        config: &train,
        register: true,
    };
    // Each candidate's run is `running` while it trains, and `failed`
    // with the error if the training fails.
    let runs = start_runs(&mut opened, &input, true)?;
    let trained_files = match super::train::train_file(
        &data,
        &contract,
        &model_path,
        &train,
        Some(created.manifest.id.clone()),
        ui,
    ) {
        Ok(t) => t,
        Err(e) => {
            fail_runs(&mut opened, &runs, &format!("{e:#}"));
            return Err(e);
        }
    };
    let training_report = trained_files.report.clone();
    let recorded = record_started(&mut opened, runs, &input, &trained_files, &model_path)?;
    let trained = trained_files.result;
    let best = trained
        .candidates
        .iter()
        .find(|c| c.name == trained.best)
        .map(|c| c.report);
    steps.push((
        "train".into(),
        format!(
            "best {} (AUC-ROC {:.3}, AUC-PR {:.3} on held-out rows) → {}, report {}",
            trained.best,
            best.map_or(f64::NAN, |r| r.auc_roc),
            best.map_or(f64::NAN, |r| r.auc_pr),
            model_path.display(),
            training_report.display()
        ),
        t.elapsed().as_secs_f64(),
    ));

    ui.note("7/8 registering the best model and promoting it through the gate …");
    let t = Instant::now();
    let version = recorded
        .version
        .clone()
        .context("the winner was not registered")?;
    let who = crate::store::actor();
    let promotion = opened.store.promote(
        &Promotion {
            model: version.model.clone(),
            version: version.version,
            alias: PRODUCTION.into(),
            force: false,
        },
        &config.registry.promotion,
        &who,
        "fathom quickstart",
    );
    let (promoted, refused) = match promotion {
        Ok(m) => (Some(m), None),
        Err(RegistryError::PromotionRefused { failures, .. }) => (None, Some(failures)),
        Err(e) => return Err(e.into()),
    };
    let alias_text = match (&promoted, &refused) {
        (Some(m), _) if !m.changed => format!("already {PRODUCTION}"),
        (Some(m), _) => match m.from {
            Some(from) => format!("promoted to {PRODUCTION} (was version {from})"),
            None => format!("promoted to {PRODUCTION}"),
        },
        _ => format!("NOT promoted to {PRODUCTION}: the gate refused it"),
    };
    steps.push((
        "register".into(),
        format!(
            "{}@{}, {alias_text}; {}",
            version.model,
            version.version,
            recorded.runs_text()
        ),
        t.elapsed().as_secs_f64(),
    ));
    super::events::after_change(config, &mut opened.store);
    let status = if refused.is_some() { EXIT_REFUSED } else { 0 };

    let plan = replay::Plan {
        days: args.days.unwrap_or(if args.fast { 6 } else { 8 }),
        per_day: args.requests.unwrap_or(if args.fast { 1500 } else { 4000 }),
    };
    let mut replayed = None;
    if refused.is_none() && plan.days > 0 && plan.per_day > 0 {
        ui.note(format!(
            "8/8 serving it over HTTP: {} days of {} transactions, a sudden shift half-way; the pipelines monitor, retrain, canary and promote …",
            plan.days,
            thousands(plan.per_day as u64)
        ));
        let t = Instant::now();
        let r = replay::run(
            config,
            &replay::Setup {
                model: &version.model,
                dir: &args.dir,
                history: &data,
                schema: &schema_path,
                settings: &generated,
            },
            plan,
            ui,
        )?;
        let answered: u64 = r.bursts.iter().map(|b| b.answered).sum();
        let failed: u64 = r.bursts.iter().map(|b| b.failed).sum();
        let [p50, _, p99, _] = r.bursts[0].latency_us;
        steps.push((
            "serve".into(),
            format!(
                "{} predictions over HTTP in {} days ({} failed; latency p50 {p50} µs, p99 {p99} µs at the client on day 1); {} records in the prediction log {}; production is v{} at the end",
                thousands(answered),
                r.days.len(),
                failed,
                thousands(r.logged),
                super::monitor::log_dir(config).display(),
                r.production.unwrap_or(0)
            ),
            t.elapsed().as_secs_f64(),
        ));
        replayed = Some(r);
    }

    if ui.json {
        ui.print_json(&serde_json::json!({
            "model": model_path, "best": trained.best, "candidates": trained.candidates,
            "data": data, "schema": schema_path, "schema_hash": schema.hash(), "snapshot": created.manifest,
            "profile": report_path, "training_report": training_report, "rows": written.rows, "seconds": started.elapsed().as_secs_f64(),
            "runs": recorded.runs, "version": version, "promotion": promoted, "refused": refused,
            "replay": replayed,
            "steps": steps.iter().map(|(s, d, t)| serde_json::json!({"step": s, "result": d, "seconds": t})).collect::<Vec<_>>(),
        }))?;
        return Ok(status);
    }
    let mut t = table(&["step", "result", "time"]);
    for (step, result, secs) in &steps {
        t.add_row(vec![step.clone(), result.clone(), format!("{secs:.2}s")]);
    }
    println!("{t}");
    super::train::print_comparison(&trained);
    if let Some(r) = &replayed {
        print_timeline(r);
    }
    if let Some(failures) = &refused {
        print_refusal(&version.model, version.version, PRODUCTION, failures);
    }
    println!(
        "done in {:.1}s. Open {} in a browser to look at the data, and {} for the model comparison.",
        started.elapsed().as_secs_f64(),
        report_path.display(),
        training_report.display()
    );
    println!(
        "Next: `fathom data validate FILE --schema {}` checks new data against the same contract; `fathom predict --model {} --input FILE --output scores.csv` scores it.",
        schema_path.display(),
        model_path.display()
    );
    println!(
        "Registry: `fathom runs list --experiment {m}` shows the runs, `fathom models show {m}` the versions, `fathom audit --model {m}` every change.",
        m = version.model
    );
    println!(
        "Serving: `fathom serve` answers POST /v1/predict on 127.0.0.1:8080 with {m}@production (docs at /docs, the dashboard at /dashboard); `fathom predict --model {m}@production --input FILE --output scores.csv` scores a file with the same version.",
        m = version.model
    );
    println!(
        "Monitoring and the loop: `fathom monitor` checks the last hour of traffic; `fathom serve --with-scheduler` also runs the data, training and monitoring pipelines on their schedules (`fathom pipeline status`), retraining when the monitoring policy says so."
    );
    Ok(status)
}

/// The replay as a table: one row per day.
fn print_timeline(r: &replay::Replay) {
    let mut t = table(&[
        "day",
        "traffic",
        "serving",
        "answers",
        "drift",
        "AUC-ROC",
        "decision",
        "what happened",
    ]);
    for d in &r.days {
        t.add_row(vec![
            d.date.clone(),
            d.phase.to_string(),
            d.serving.clone(),
            thousands(d.answered),
            d.drift.clone(),
            d.auc.map_or("–".into(), |a| format!("{a:.3}")),
            d.decision.clone(),
            d.action.clone(),
        ]);
    }
    println!("{t}");
    if let Some(last) = r.days.iter().rev().find_map(|d| d.report.as_ref()) {
        println!(
            "Each day's monitoring report is in its pipeline folder (the last: {}); `fathom pipeline history` lists the runs, `fathom audit --model fraud` every alias move with its evidence.",
            last.display()
        );
    }
}
