//! `fathom serve`: answer predictions over HTTP for a registered model.

use crate::config::Config;
use crate::ui::Ui;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use fathom_serve::{ServeOptions, shutdown_signal};

/// Serve a registered model over HTTP.
#[derive(Args, Debug)]
#[command(
    after_help = "The server follows the model's registry aliases: `production` takes the \
traffic, `canary` (when set) takes [serve] canary_percent of entity keys, `shadow` versions score \
every request without answering. `fathom models promote` and `fathom models rollback` take effect \
within [serve] poll_ms without a restart.

Endpoints: POST /v1/predict, /v1/predict/batch, /v1/explain, /v1/feedback;
GET /v1/models, /health, /ready, /metrics, /openapi.json, /docs, and /dashboard (a web page:
what answers, live latency and scores, drift and rolling AUC over the latest checks, alerts,
versions and alias moves).

Examples:
  fathom serve                                  # model [registry] model (or `fraud`) on 127.0.0.1:8080
  fathom serve --model fraud --listen 0.0.0.0:8080
  curl -s localhost:8080/v1/predict -d @record.json
  fathom serve token --name checkout --role predict   # make a bearer token"
)]
pub struct ServeArgs {
    /// The registered model (default: [serve] model, then [registry] model, then `fraud`).
    #[arg(long)]
    pub model: Option<String>,
    /// Address to listen on (default: [serve] listen, env FATHOM_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Prediction-log durability: `buffered` or `fsync`.
    #[arg(long, value_name = "MODE")]
    pub durability: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also run the pipelines on their schedules in this process (the
    /// all-in-one single node; see `fathom scheduler`).
    #[arg(long)]
    pub with_scheduler: bool,
    #[command(subcommand)]
    pub action: Option<ServeAction>,
}

/// Helpers around the server.
#[derive(Subcommand, Debug)]
pub enum ServeAction {
    /// Make a random bearer token and the `[[serve.auth.tokens]]` entry
    /// (holding only its SHA-256) to paste into fathom.toml.
    Token(TokenArgs),
}

/// `fathom serve token`
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Who will hold it.
    #[arg(long)]
    pub name: String,
    /// Roles: predict, read, operate, admin (repeatable).
    #[arg(long = "role", default_value = "predict")]
    pub roles: Vec<String>,
}

/// The model name `serve` uses.
pub fn model_name(config: &Config, explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| config.serve.model.clone())
        .or_else(|| config.registry.model.clone())
        .unwrap_or_else(|| "fraud".into())
}

/// The options `serve` starts with.
pub fn options(config: &Config, args: &ServeArgs) -> ServeOptions {
    let mut serve = config.serve.clone();
    if let Some(l) = &args.listen {
        serve.listen = l.clone();
    }
    if let Some(d) = &args.durability {
        serve.log.durability = d.clone();
    }
    ServeOptions {
        model: model_name(config, args.model.as_deref()),
        store: config.store.database_location(),
        artifacts: Some(config.store.artifacts_location()),
        default_log_dir: config.store.path.join("predictions"),
        config: serve,
        print_events: true,
        promotion: config.registry.promotion.clone(),
    }
}

/// Runs `fathom serve`.
pub fn run(config: &Config, ui: &Ui, args: ServeArgs) -> Result<u8> {
    if let Some(ServeAction::Token(t)) = &args.action {
        return token(ui, t);
    }
    let options = options(config, &args);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().context("cannot start the async runtime")?;
    let model = options.model.clone();
    // The scheduler runs beside the server on its own thread and store
    // connection, and stops with it.
    let stop_scheduler = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scheduler = if args.with_scheduler {
        let stop = stop_scheduler.clone();
        let config = config.clone();
        let quiet = ui.quiet;
        Some(
            std::thread::Builder::new()
                .name("fathom-scheduler".into())
                .spawn(move || {
                    if let Err(e) = crate::commands::pipeline::run_scheduler(
                        &config,
                        &stop,
                        quiet,
                        fathom_pipeline::DEFAULT_POLL,
                    ) {
                        eprintln!("scheduler: stopped: {e:#}");
                    }
                })
                .context("cannot start the scheduler")?,
        )
    } else {
        None
    };
    let report = rt.block_on(async move {
        let running = fathom_serve::start(options).await?;
        let addr = running.addr;
        match running.state.deployment.load_full() {
            Some(d) => ui.note(format!(
                "serving {model} v{} on http://{addr} (docs: http://{addr}/docs, dashboard: http://{addr}/dashboard)",
                d.primary.model.version
            )),
            None => ui.note(format!(
                "listening on http://{addr}, but no version of {model} could be loaded yet: \
                 it needs a production alias (`fathom models promote {model} VERSION production`); \
                 /ready says 503 until then"
            )),
        }
        running.serve(shutdown_signal()).await
    });
    stop_scheduler.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(handle) = scheduler {
        let _ = handle.join();
    }
    let report = report?;
    ui.note(format!(
        "stopped: {} predictions logged, {} dropped",
        report.logged, report.dropped
    ));
    if config.serve.log.ship {
        match &report.ship_error {
            None => ui.note(format!(
                "log shipping: {} file(s) shipped at stop",
                report.shipped_files
            )),
            // A warning, printed even when quiet.
            Some(e) => eprintln!(
                "warning: log shipping at stop failed: {e}; the files are shipped when a server next runs on this log folder"
            ),
        }
    }
    Ok(0)
}

fn token(ui: &Ui, args: &TokenArgs) -> Result<u8> {
    use std::io::Read;
    for r in &args.roles {
        if fathom_serve::auth::Role::parse(r).is_none() {
            anyhow::bail!("unknown role '{r}': use predict, read, operate or admin");
        }
    }
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("cannot read random bytes from /dev/urandom")?;
    let secret = format!("fth_{}", hex_encode(&raw));
    let hash = fathom_serve::auth::token_hash(&secret);
    if ui.json {
        ui.print_json(&serde_json::json!({"name": args.name, "token": secret, "sha256": hash, "roles": args.roles}))?;
    } else {
        crate::ui::print_out(&format!(
            "token (shown once; give it to {}): {secret}\n\nadd to fathom.toml:\n[[serve.auth.tokens]]\nname = {:?}\nsha256 = \"{hash}\"\nroles = {:?}",
            args.name, args.name, args.roles
        ))?;
    }
    Ok(0)
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
