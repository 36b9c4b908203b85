//! `fathom quickstart`: the whole loop, as far as fathom goes today, on
//! generated data with embedded defaults.

use super::data::{
    GenerateArgs, generator_config, infer_schema_of, print_report, profile_file,
    snapshot_with_progress, validate_with_progress, write_generated,
};
use crate::config::Config;
use crate::store::{EXIT_REFUSED, print_refusal};
use crate::tracking::{TrainingInput, record_training};
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
    /// Predictions to send to the server in the serving step (0 skips it).
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
}

/// Runs `fathom quickstart`.
pub fn run(config: &Config, ui: &Ui, args: QuickstartArgs) -> Result<u8> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.dir).map_err(|e| fathom_data::DataError::io(&args.dir, e))?;
    let data = args.dir.join("transactions.parquet");
    let schema_path = args.dir.join("schema.toml");
    let report_path = args.dir.join("profile.html");
    let mut steps: Vec<(String, String, f64)> = Vec::new();

    ui.note("1/9 generating card transactions …");
    let t = Instant::now();
    let gen_args = GenerateArgs {
        output: data.clone(),
        rows: args.rows,
        seed: args.seed,
        fraud_rate: None,
        scenario: None,
        start: "2024-01-01".into(),
        days: 90,
    };
    let settings = generator_config(config, &gen_args)?;
    let seed = settings.seed;
    // Traffic after the training period, after a sudden shift.
    let shift = fathom_data::generate::GeneratorConfig {
        seed: seed.wrapping_add(1),
        scenario: fathom_data::generate::Scenario::Sudden,
        start: settings.start + i64::from(settings.days) * 86_400_000_000,
        days: 2,
        ..settings.clone()
    };
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

    ui.note("2/9 inferring the schema contract …");
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

    ui.note("3/9 validating the data against the contract …");
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

    ui.note("4/9 storing a content-addressed snapshot …");
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

    ui.note("5/9 profiling the data …");
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

    ui.note("6/9 training baseline, logistic regression, random forest and GBDT …");
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
    let trained_files = super::train::train_file(
        &data,
        &contract,
        &model_path,
        &train,
        Some(created.manifest.id.clone()),
        ui,
    )?;
    let training_report = trained_files.report.clone();
    let model_name = args
        .model
        .clone()
        .or_else(|| config.registry.model.clone())
        .unwrap_or_else(|| "fraud".into());
    let recorded = record_training(
        &mut opened,
        &TrainingInput {
            model: &model_name,
            data: &data,
            snapshot: Some(&created.manifest.id),
            config: &train,
            register: true,
        },
        &trained_files,
        &model_path,
    )?;
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

    ui.note("7/9 registering the best model and promoting it through the gate …");
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

    let mut served = None;
    let mut monitored = None;
    if refused.is_none() && args.requests > 0 {
        ui.note("8/9 serving it over HTTP: a burst of transactions, then traffic after a sudden shift …");
        let t = Instant::now();
        let label = contract
            .label()
            .map_or_else(|| "is_fraud".to_string(), |c| c.name.clone());
        let normal = last_rows(&data, args.requests)?;
        let shifted = shifted_traffic(&shift, args.requests)?;
        let (bursts, report, log_dir) =
            serve_burst(config, &version.model, &[normal, shifted], &label)?;
        let answered: u64 = bursts.iter().map(|b| b.answered).sum();
        let failed: u64 = bursts.iter().map(|b| b.failed).sum();
        let positives: u64 = bursts.iter().map(|b| b.positives).sum();
        let feedback: u64 = bursts.iter().map(|b| b.feedback).sum();
        let [p50, p90, p99, _] = bursts[0].latency_us;
        steps.push((
            "serve".into(),
            format!(
                "{} predictions over HTTP, half of them after a sudden shift to online shopping ({} failed, {:.0}/s from 4 connections): latency p50 {p50} µs, p90 {p90} µs, p99 {p99} µs at the client; {} flagged as fraud; {} records and {} feedback labels in the prediction log {}",
                thousands(answered),
                failed,
                bursts[0].per_second,
                thousands(positives),
                thousands(report.logged.saturating_sub(feedback)),
                feedback,
                log_dir.display()
            ),
            t.elapsed().as_secs_f64(),
        ));
        served = Some((bursts, report));

        ui.note("9/9 monitoring the traffic against the training data …");
        let t = Instant::now();
        let checked = super::monitor::check::run_check(
            config,
            &super::monitor::CheckArgs {
                model: Some(format!("{}@{}", version.model, version.version)),
                window: "1h".into(),
                reference: None,
                output: None,
            },
        )?;
        steps.push((
            "monitor".into(),
            format!(
                "{}; report {} (run {})",
                checked.summary,
                checked.files.html.display(),
                checked.run
            ),
            t.elapsed().as_secs_f64(),
        ));
        monitored = Some(checked);
    }

    if ui.json {
        ui.print_json(&serde_json::json!({
            "model": model_path, "best": trained.best, "candidates": trained.candidates,
            "data": data, "schema": schema_path, "schema_hash": schema.hash(), "snapshot": created.manifest,
            "profile": report_path, "training_report": training_report, "rows": written.rows, "seconds": started.elapsed().as_secs_f64(),
            "runs": recorded.runs, "version": version, "promotion": promoted, "refused": refused,
            "serve": served.as_ref().map(|(b, r)| serde_json::json!({"bursts": b, "logged": r.logged, "dropped": r.dropped})),
            "monitor": monitored.as_ref().map(|m| serde_json::json!({"report": m.files, "run": m.run, "verdict": m.summary, "decision": m.report.decision.action.name()})),
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
        "Serving: `fathom serve` answers POST /v1/predict on 127.0.0.1:8080 with {m}@production (docs at /docs); `fathom predict --model {m}@production --input FILE --output scores.csv` scores a file with the same version.",
        m = version.model
    );
    println!(
        "Monitoring and the loop: `fathom monitor` checks the last hour of traffic; `fathom serve --with-scheduler` also runs the data, training and monitoring pipelines on their schedules (`fathom pipeline status`), retraining when the monitoring policy says so."
    );
    Ok(status)
}

/// The last `n` rows of the generated data: today's normal traffic.
fn last_rows(data: &std::path::Path, n: usize) -> Result<fathom_core::Frame> {
    let mut batches = Vec::new();
    for b in fathom_data::ingest::open(data, &fathom_data::ingest::ReadOptions::default())? {
        batches.push(b?);
    }
    let frame = fathom_core::Frame::concat(&batches)?;
    let take = n.min(frame.num_rows());
    Ok(frame.slice(frame.num_rows() - take, take))
}

/// `n` transactions after the `sudden` shock (the second half of a
/// scenario run of 2·n rows).
fn shifted_traffic(
    settings: &fathom_data::generate::GeneratorConfig,
    n: usize,
) -> Result<fathom_core::Frame> {
    let settings = fathom_data::generate::GeneratorConfig {
        rows: 2 * n as u64,
        ..settings.clone()
    };
    let frame = fathom_data::generate::generate_all(settings)?;
    Ok(frame.slice(n, frame.num_rows() - n))
}

/// Starts the server for `model` on a free local port, sends every frame
/// of `phases` in turn (with their labels as later feedback for one in
/// ten), stops it, and reports one burst per phase.
fn serve_burst(
    config: &Config,
    model: &str,
    phases: &[fathom_core::Frame],
    label: &str,
) -> Result<(
    Vec<super::traffic::Burst>,
    fathom_serve::ServeReport,
    PathBuf,
)> {
    let mut serve = config.serve.clone();
    serve.listen = "127.0.0.1:0".into();
    let log_dir = super::monitor::log_dir(config);
    let options = fathom_serve::ServeOptions {
        config: serve,
        store: config.store.database_location(),
        artifacts: Some(config.store.artifacts_location()),
        model: model.to_string(),
        default_log_dir: config.store.path.join("predictions"),
        print_events: false,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let label = label.to_string();
    let (bursts, report) = rt.block_on(async move {
        let running = fathom_serve::start(options).await?;
        if running.state.deployment.load().is_none() {
            bail!("the server could not load {model}@production");
        }
        let addr = running.addr;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(running.serve(async move {
            let _ = stopped.await;
        }));
        let mut bursts = Vec::new();
        for frame in phases {
            bursts.push(super::traffic::send(addr, frame, &label, 4, 10).await);
        }
        let _ = stop.send(());
        let report = server
            .await
            .map_err(|e| anyhow::anyhow!("the server task failed: {e}"))??;
        Ok((bursts.into_iter().collect::<Result<Vec<_>>>()?, report))
    })?;
    Ok((bursts, report, log_dir))
}
