//! Starting, running and stopping the server.

use crate::access::Accounted;
use crate::api::{self, Shared};
use crate::auth::Auth;
use crate::config::ServeConfig;
use crate::follow::{Event, Follower};
use crate::limits::{Limits, LimitsLayer};
use crate::metrics::{Metrics, ModelLabels};
use crate::rollout::Deployment;
use crate::state::AppState;
use crate::{ServeError, dashboard, docs, operate};
use arc_swap::ArcSwapOption;
use axum::Router;
use axum::ServiceExt;
use axum::extract::Request;
use axum::routing::{get, post};
use fathom_registry::{Actor, Store};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_layer::Layer;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `[serve]` settings.
    pub config: ServeConfig,
    /// The registry store location (folder, `.db` file or `postgres://` URL).
    pub store: String,
    /// The artifact store (a folder or `s3://bucket/prefix`); `None` reads
    /// artifacts by their URIs alone.
    pub artifacts: Option<String>,
    /// The registered model to serve.
    pub model: String,
    /// Folder of the prediction log when `[serve.log] dir` is unset.
    pub default_log_dir: PathBuf,
    /// Print deployment events (a version deployed, a load failure, a
    /// canary rolled back) as JSON lines on standard error.
    pub print_events: bool,
    /// The promotion gate (`[registry] promotion`) that promotions made
    /// through `POST /v1/models/{name}/promote` must pass.
    pub promotion: fathom_registry::PromotionPolicy,
}

/// What happened while the server ran.
#[derive(Debug, Clone, Default)]
pub struct ServeReport {
    /// Records written to the prediction log.
    pub logged: u64,
    /// Records lost to a full queue.
    pub dropped: u64,
    /// With `[serve.log] ship`: files shipped by the last round, at stop.
    pub shipped_files: u64,
    /// With `[serve.log] ship`: why the last round failed, if it did (its
    /// files are shipped by the next server on this log folder).
    pub ship_error: Option<String>,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// The shared state (metrics, deployment).
    pub state: Shared,
    stop: Arc<AtomicBool>,
    follower: Option<std::thread::JoinHandle<()>>,
    shipper: Option<std::thread::JoinHandle<crate::ship::Shipper>>,
    listener: Option<tokio::net::TcpListener>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

fn event_line(model: &str, e: &Event) {
    let line = match e {
        Event::Deployed { slot, version } => serde_json::json!({
            "event": "deployed", "model": model, "slot": slot, "version": version,
        }),
        Event::LoadFailed { version, reason } => serde_json::json!({
            "event": "load_failed", "model": model, "version": version, "reason": reason,
        }),
        Event::Removed { slot, version } => serde_json::json!({
            "event": "removed", "model": model, "slot": slot, "version": version,
        }),
        Event::CanaryRolledBack { version, reason } => serde_json::json!({
            "event": "canary_rolled_back", "model": model, "version": version, "reason": reason,
        }),
    };
    eprintln!(
        "{}",
        serde_json::json!({"time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "fathom_serve": line})
    );
}

fn publish(state: &AppState, next: Option<Deployment>) {
    state.metrics.models.clear();
    if let Some(d) = &next {
        let label = |v: i64, variant: &'static str| ModelLabels {
            model: d.model.clone(),
            version: v.to_string(),
            variant,
        };
        let primary = if d.degraded.is_some() {
            "fallback"
        } else {
            "production"
        };
        state
            .metrics
            .models
            .get_or_create(&label(d.primary.model.version, primary))
            .set(1);
        if let Some((c, _)) = &d.canary {
            state
                .metrics
                .models
                .get_or_create(&label(c.model.version, "canary"))
                .set(1);
        }
        for s in &d.shadows {
            state
                .metrics
                .models
                .get_or_create(&label(s.model.version, "shadow"))
                .set(1);
        }
    }
    if let Some(d) = next {
        state.deployment.store(Some(Arc::new(d)));
    }
}

/// One poll: sync with the registry, publish, judge the canary.
/// The server's own run in `NAME-serving`: its request and error totals,
/// logged every `[serve] record_ms`, which the monitoring check turns into
/// an error rate (failed requests are not in the prediction log).
#[derive(Default)]
struct Recorder {
    run: Option<fathom_registry::RunId>,
    step: i64,
}

impl Recorder {
    fn record(&mut self, follower: &mut Follower, state: &AppState) {
        if state.config.record_ms == 0 {
            return;
        }
        let model = follower.model().to_string();
        let store = follower.store();
        if self.run.is_none() {
            let mut new = fathom_registry::NewRun::new(
                format!("{model}-serving"),
                format!(
                    "serve {} pid {}",
                    fathom_registry::host_name(),
                    std::process::id()
                ),
            );
            new.source_version = Some(format!("fathom {}", env!("CARGO_PKG_VERSION")));
            match store.start_run(&new) {
                Ok(id) => {
                    let _ = store.log_param(id, "listen", &state.config.listen);
                    self.run = Some(id);
                }
                // A store that cannot take it does not stop serving.
                Err(_) => return,
            }
        }
        let Some(run) = self.run else { return };
        let (requests, errors) = state.metrics.prediction_totals();
        self.step += 1;
        let batch = fathom_registry::RunBatch {
            params: Vec::new(),
            metrics: vec![
                fathom_registry::MetricPoint {
                    key: "requests".into(),
                    value: requests as f64,
                    step: self.step,
                },
                fathom_registry::MetricPoint {
                    key: "errors".into(),
                    value: errors as f64,
                    step: self.step,
                },
            ],
            tags: Vec::new(),
        };
        // A store that is away now gets the next totals (they are totals).
        let _ = store.log_batch(run, &batch);
    }

    fn finish(&mut self, follower: &mut Follower) {
        if let Some(run) = self.run.take() {
            let _ = follower.store().finish_run(run);
        }
    }
}

/// One round of log shipping, counted on `/metrics`.
/// A failure is printed (as an event line, when events are printed) once
/// per streak, and the recovery after it; `failing` carries the streak.
fn ship_round(
    shipper: &mut crate::ship::Shipper,
    state: &AppState,
    print: bool,
    failing: &mut bool,
) {
    match shipper.round() {
        Ok(round) => {
            state.metrics.log_shipped.inc_by(round.files);
            if std::mem::take(failing) && print {
                let line = serde_json::json!({
                    "event": "log_shipping_recovered", "replica": shipper.replica(),
                    "files": round.files,
                });
                eprintln!("{line}");
            }
        }
        Err(e) => {
            state.metrics.log_ship_failures.inc();
            if !std::mem::replace(failing, true) && print {
                let line = serde_json::json!({
                    "event": "log_shipping_failed", "replica": shipper.replica(),
                    "error": e, "retry": "at every round; nothing is marked shipped before it is recorded",
                });
                eprintln!("{line}");
            }
        }
    }
}

/// How often the latest monitoring check is looked up for `/metrics`.
const CHECK_REFRESH: Duration = Duration::from_secs(15);

/// Shows the latest `fathom monitor` check's findings on `/metrics` when
/// a newer one has finished (`shown` is the start time of the one shown).
fn refresh_check(follower: &mut Follower, state: &AppState, shown: &mut Option<i64>) {
    if let Ok(Some(check)) = follower.latest_check()
        && *shown != Some(check.at_ms)
    {
        state
            .metrics
            .set_check(follower.model(), check.at_ms, &check.metrics);
        *shown = Some(check.at_ms);
    }
}

fn poll(follower: &mut Follower, state: &AppState, actor: &Actor, print: bool) {
    let event_line = |model: &str, e: &Event| {
        if print {
            event_line(model, e);
        }
    };
    let current = state.deployment.load_full();
    let mut events = Vec::new();
    match follower.sync(current.as_deref(), &mut events) {
        Ok(next) => {
            state.store_ok.store(true, Ordering::Relaxed);
            state.metrics.store_up.set(1);
            if let Ok(mut e) = state.store_error.lock() {
                *e = None;
            }
            for e in &events {
                if matches!(e, Event::LoadFailed { .. }) {
                    state.metrics.load_failures.inc();
                }
                event_line(follower.model(), e);
            }
            let shape = |d: &Deployment| {
                (
                    d.primary.model.version,
                    d.degraded.clone(),
                    d.canary
                        .as_ref()
                        .map(|(s, share)| (s.model.version, *share)),
                    d.shadows
                        .iter()
                        .map(|s| s.model.version)
                        .collect::<Vec<_>>(),
                    d.fallback.as_ref().map(|s| s.model.version),
                )
            };
            let changed = match (&current, &next) {
                (Some(c), Some(n)) => shape(c) != shape(n),
                (None, Some(_)) => true,
                _ => false,
            };
            if changed {
                publish(state, next);
            }
        }
        Err(e) => {
            state.store_ok.store(false, Ordering::Relaxed);
            state.metrics.store_up.set(0);
            if let Ok(mut slot) = state.store_error.lock() {
                *slot = Some(e.to_string());
            }
        }
    }
    if let Some(d) = state.deployment.load_full() {
        match follower.check_guardrails(&d, actor) {
            Ok(Some(e)) => {
                state.metrics.canary_rollbacks.inc();
                event_line(follower.model(), &e);
            }
            Ok(None) => {}
            Err(e) => event_line(
                follower.model(),
                &Event::LoadFailed {
                    version: d.canary.as_ref().map_or(0, |(s, _)| s.model.version),
                    reason: format!("could not remove the failing canary's alias: {e}"),
                },
            ),
        }
    }
}

/// Opens the store, loads what the aliases name and binds the address;
/// requests are answered once [`Running::serve`] runs.
pub async fn start(options: ServeOptions) -> Result<Running, ServeError> {
    let auth = Auth::new(&options.config.auth)?;
    let (log, shipper) = if options.config.log.enabled {
        let c = &options.config.log;
        let dir = c
            .dir
            .clone()
            .unwrap_or_else(|| options.default_log_dir.clone());
        let durability = match c.durability.as_str() {
            "fsync" => fathom_predlog::Durability::Fsync,
            "buffered" => fathom_predlog::Durability::Buffered,
            other => {
                return Err(ServeError::Config(format!(
                    "[serve.log] durability = '{other}': use 'buffered' or 'fsync'"
                )));
            }
        };
        let salt = std::env::var("FATHOM_LOG_SALT").unwrap_or_else(|_| c.salt.clone());
        let config = fathom_predlog::LogConfig {
            dir: dir.clone(),
            durability,
            queue_capacity: c.queue_capacity.max(1),
            flush_interval: Duration::from_millis(c.flush_ms.max(1)),
            retention: c
                .retention_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
            sanitize: fathom_predlog::Sanitizer {
                hash: c.hash_fields.clone(),
                drop: c.drop_fields.clone(),
                salt,
            },
            ..fathom_predlog::LogConfig::new(dir.clone())
        };
        if c.ship && c.ship_ms < 100 {
            return Err(ServeError::Config(format!(
                "[serve.log] ship_ms = {} is too short: give at least 100 (milliseconds; 60000, a minute, is the default)",
                c.ship_ms
            )));
        }
        let ship_every = c.ship.then(|| Duration::from_millis(c.ship_ms));
        let config = fathom_predlog::LogConfig {
            segment_max_age: ship_every,
            ..config
        };
        let retention = config.retention;
        let log = fathom_predlog::PredictionLog::open(config)?;
        let shipper = match ship_every {
            Some(every) => {
                let Some(artifacts) = options.artifacts.clone() else {
                    return Err(ServeError::Config(
                        "[serve.log] ship = true needs an artifact store to ship to ([store] artifacts)".into(),
                    ));
                };
                let location = options.store.clone();
                let shipper = tokio::task::spawn_blocking(move || {
                    crate::ship::Shipper::open(&location, &artifacts, dir, retention)
                })
                .await
                .map_err(|e| ServeError::Config(e.to_string()))??;
                Some((shipper, every))
            }
            None => None,
        };
        (Some(log), shipper)
    } else {
        (None, None)
    };
    let state = Arc::new(AppState {
        deployment: ArcSwapOption::empty(),
        metrics: Metrics::new(),
        auth,
        config: options.config.clone(),
        model: options.model.clone(),
        store_location: options.store.clone(),
        store_ok: AtomicBool::new(false),
        store_error: Mutex::new(None),
        log,
        started: Instant::now(),
        fsync: options.config.log.durability == "fsync",
        access_log: crate::access::AccessLog::default(),
        artifacts_location: options.artifacts.clone(),
        promotion: options.promotion.clone(),
    });

    let location = options.store.clone();
    let artifacts = options.artifacts.clone();
    let store = tokio::task::spawn_blocking(move || {
        let store = Store::open(&location)?;
        Ok::<_, fathom_registry::RegistryError>(match artifacts {
            Some(a) => {
                store.with_artifact_store(fathom_registry::artifacts::open_artifact_store(&a)?)
            }
            None => store,
        })
    })
    .await
    .map_err(|e| ServeError::Config(e.to_string()))??;
    let mut follower = Follower::new(store, &options.model, options.config.clone());
    let actor = Actor::new("fathom-serve", fathom_registry::host_name());
    let print = options.print_events;
    // PostgreSQL announces changes at commit; SQLite is polled. Listening
    // starts before the first read of the aliases, so a change committed
    // in between is either read or heard, never missed.
    let (follower, actor, listener, shown_check) = {
        let st = state.clone();
        let location = options.store.clone();
        tokio::task::spawn_blocking(move || {
            let listener = fathom_registry::ChangeListener::open(&location)
                .ok()
                .flatten();
            poll(&mut follower, &st, &actor, print);
            let mut shown_check = None;
            refresh_check(&mut follower, &st, &mut shown_check);
            (follower, actor, listener, shown_check)
        })
        .await
        .map_err(|e| ServeError::Config(e.to_string()))?
    };

    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        let st = state.clone();
        let every = Duration::from_millis(options.config.poll_ms.max(50));
        let location = options.store.clone();
        let model = options.model.clone();
        std::thread::Builder::new()
            .name("fathom-follow".into())
            .spawn(move || {
                let mut follower = follower;
                let mut last = Instant::now();
                let mut listener = listener;
                let mut retry_listen = Instant::now();
                let mut next_check = Instant::now() + CHECK_REFRESH;
                let record_every = Duration::from_millis(st.config.record_ms);
                let mut next_record = Instant::now() + record_every;
                let mut recorder = Recorder::default();
                let mut shown_check = shown_check;
                while !stop.load(Ordering::Relaxed) {
                    let heard = match listener.as_mut() {
                        Some(l) => match l.wait(Duration::from_millis(50)) {
                            Ok(models) => models.contains(&model),
                            Err(_) => {
                                listener = None;
                                retry_listen = Instant::now() + Duration::from_secs(5);
                                false
                            }
                        },
                        None => {
                            std::thread::sleep(Duration::from_millis(25));
                            if retry_listen <= Instant::now() && location.starts_with("postgres") {
                                listener = fathom_registry::ChangeListener::open(&location)
                                    .ok()
                                    .flatten();
                                retry_listen = Instant::now() + Duration::from_secs(5);
                                // Whatever changed while nobody listened.
                                listener.is_some()
                            } else {
                                false
                            }
                        }
                    };
                    if heard || last.elapsed() >= every {
                        poll(&mut follower, &st, &actor, print);
                        last = Instant::now();
                    }
                    if next_check <= Instant::now() {
                        refresh_check(&mut follower, &st, &mut shown_check);
                        next_check = Instant::now() + CHECK_REFRESH;
                    }
                    if record_every > Duration::ZERO && next_record <= Instant::now() {
                        recorder.record(&mut follower, &st);
                        next_record = Instant::now() + record_every;
                    }
                }
                // The last totals, and the run ends with the server.
                recorder.record(&mut follower, &st);
                recorder.finish(&mut follower);
            })
            .map_err(|e| ServeError::Config(format!("cannot start the alias follower: {e}")))?
    };

    let shipper = match shipper {
        Some((mut shipper, every)) => {
            let stop = stop.clone();
            let st = state.clone();
            let print = options.print_events;
            Some(
                std::thread::Builder::new()
                    .name("fathom-ship".into())
                    .spawn(move || {
                        let mut next = Instant::now() + every;
                        let mut failing = false;
                        while !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                            if Instant::now() < next {
                                continue;
                            }
                            ship_round(&mut shipper, &st, print, &mut failing);
                            next = Instant::now() + every;
                        }
                        shipper
                    })
                    .map_err(|e| {
                        ServeError::Config(format!("cannot start the log shipper: {e}"))
                    })?,
            )
        }
        None => None,
    };

    let tls = match &options.config.tls {
        Some(t) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&t.cert, &t.key)
                .await
                .map_err(|e| {
                    ServeError::Config(format!(
                        "[serve.tls]: cannot use certificate {} with key {}: {e} (both must be PEM files; the key unencrypted)",
                        t.cert.display(),
                        t.key.display()
                    ))
                })?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&options.config.listen)
        .await
        .map_err(|e| ServeError::Bind {
            addr: options.config.listen.clone(),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| ServeError::Bind {
        addr: options.config.listen.clone(),
        source: e,
    })?;
    Ok(Running {
        addr,
        state,
        stop,
        follower: Some(handle),
        shipper,
        listener: Some(listener),
        tls,
    })
}

/// The routes, without the limits the server wraps around them (see
/// [`crate::limits`]).
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/predict", post(api::predict))
        .route("/v1/predict/batch", post(api::predict_batch))
        .route("/v1/explain", post(api::explain))
        .route("/v1/feedback", post(api::feedback))
        .route("/v1/models", get(api::models))
        .route("/v1/models/{name}/promote", post(operate::promote))
        .route("/v1/models/{name}/rollback", post(operate::rollback))
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .route("/dashboard", get(dashboard::page))
        .with_state(state)
}

/// [`router`] inside the limits every request meets: the body size (→ 413)
/// and the time limit (→ 408), and around those the accounting that counts
/// and logs every answer once ([`crate::access`]). Wrapped around the
/// whole router once, not around each route, so a request does not clone
/// a boxed service per layer.
fn limited(state: Shared) -> Accounted<Limits<Router>> {
    let limits = LimitsLayer::new(
        Duration::from_millis(state.config.timeout_ms.max(1)),
        state.config.max_body_bytes,
    );
    Accounted::new(limits.layer(router(state.clone())), state)
}

impl Running {
    /// Answers requests until `shutdown` completes, then drains in-flight
    /// requests, stops following the registry and flushes the prediction
    /// log.
    pub async fn serve(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ServeReport, ServeError> {
        let listener = self
            .listener
            .take()
            .ok_or_else(|| ServeError::Config("the server was already started".into()))?;
        let app = limited(self.state.clone());
        let bind_error = |e| ServeError::Bind {
            addr: self.addr.to_string(),
            source: e,
        };
        match self.tls.take() {
            None => axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(bind_error)?,
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(Some(Duration::from_secs(30)));
                });
                let std_listener = listener.into_std().map_err(bind_error)?;
                axum_server::from_tcp_rustls(std_listener, tls)
                    .map_err(bind_error)?
                    .handle(handle)
                    .serve(ServiceExt::<Request>::into_make_service(app))
                    .await
                    .map_err(bind_error)?;
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.follower.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        let mut report = ServeReport::default();
        let state = self.state.clone();
        let shipper = self.shipper.take();
        drop(self);
        // The last reference to the state goes once the server is gone;
        // flushing the log needs it.
        if let Ok(state) = Arc::try_unwrap(state)
            && let Some(log) = state.log
        {
            let stats = tokio::task::spawn_blocking(move || log.shutdown())
                .await
                .map_err(|e| ServeError::Config(e.to_string()))??;
            report.logged = stats.written;
            report.dropped = stats.dropped;
        }
        // The log is closed: its last segment is compacted and shipped too.
        if let Some(h) = shipper {
            let last = tokio::task::spawn_blocking(move || {
                h.join()
                    .map_err(|_| "the log shipper stopped with a panic".to_string())
                    .and_then(|mut shipper| shipper.round())
            })
            .await
            .map_err(|e| ServeError::Config(e.to_string()))?;
            match last {
                Ok(round) => report.shipped_files = round.files,
                Err(e) => report.ship_error = Some(e),
            }
        }
        Ok(report)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
