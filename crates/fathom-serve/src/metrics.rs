//! The server's Prometheus metrics, in the text exposition format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// Labels of a request count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route, e.g. `/v1/predict` (`other` for unknown paths).
    pub endpoint: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Who the request was routed to: `production`, `canary`, `fallback`,
    /// `mixed` (a batch answered by several), or `none` (not routed:
    /// refused before routing, or not a prediction).
    pub variant: &'static str,
}

/// Labels of a latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The route.
    pub endpoint: &'static str,
}

/// Labels of a prediction count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PredictionLabels {
    /// production, canary, shadow or fallback.
    pub variant: &'static str,
    /// `positive`, `negative` or `none` (regression).
    pub decision: &'static str,
}

/// Labels of a score histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VariantLabels {
    /// production, canary, shadow or fallback.
    pub variant: &'static str,
}

/// Labels of the deployed-model gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Registered model.
    pub model: String,
    /// Version.
    pub version: String,
    /// Slot.
    pub variant: &'static str,
}

/// Labels of a per-model monitoring gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Registered model.
    pub model: String,
}

/// Labels of a per-feature monitoring gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeatureLabels {
    /// Registered model.
    pub model: String,
    /// Input feature.
    pub feature: String,
}

/// A gauge holding a real number.
pub type RealGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Labels of the build gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// fathom's version.
    pub version: &'static str,
}

/// Labels of prediction-log record counts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabels {
    /// `logged` or `dropped`.
    pub result: &'static str,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by endpoint, seconds.
    pub latency: Family<EndpointLabels, Histogram>,
    /// Predictions by variant and decision.
    pub predictions: Family<PredictionLabels, Counter>,
    /// Score distribution by variant.
    pub scores: Family<VariantLabels, Histogram>,
    /// Records waiting in the prediction log's queue.
    pub log_queue: Gauge,
    /// Prediction-log records written or dropped.
    pub log_records: Family<LogLabels, Counter>,
    /// 1 for each deployed version.
    pub models: Family<ModelLabels, Gauge>,
    /// Canaries removed by the guardrails.
    pub canary_rollbacks: Counter,
    /// Versions that failed to load.
    pub load_failures: Counter,
    /// Prediction-log files shipped to the artifact store.
    pub log_shipped: Counter,
    /// Shipping rounds that failed (tried again at the next round).
    pub log_ship_failures: Counter,
    /// Whether the registry store answered the last poll (1) or not (0).
    pub store_up: Gauge,
    /// From the latest `fathom monitor` check: the share of drifted features.
    pub drift_score: Family<CheckLabels, RealGauge>,
    /// From the latest check: 1 for each drifted feature, 0 for the others.
    pub feature_drift: Family<FeatureLabels, RealGauge>,
    /// From the latest check: each feature's share of missing values.
    pub null_rate: Family<FeatureLabels, RealGauge>,
    /// From the latest check: AUC-ROC over the labelled predictions.
    pub rolling_auc: Family<CheckLabels, RealGauge>,
    /// When the latest check ran, seconds since the Unix epoch.
    pub last_check: Family<CheckLabels, RealGauge>,
    last_log: Mutex<(u64, u64)>,
    /// Requests to the prediction endpoints other than answered single
    /// predictions (those are `hot.predict_ok`), and those answered with an
    /// error status, since the start.
    scored: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    hot: Hot,
}

/// Handles to the series every prediction touches, looked up once: a
/// family lookup hashes its labels under a lock, a handle does not.
#[derive(Debug)]
struct Hot {
    /// Answered single predictions, by variant (production, canary,
    /// fallback).
    predict_ok: [Counter; 3],
    predict_latency: Histogram,
    /// By variant (production, canary, shadow, fallback), then decision
    /// (positive, negative, none).
    predictions: [[Counter; 3]; 4],
    scores: [Histogram; 4],
}

const VARIANTS: [&str; 4] = ["production", "canary", "shadow", "fallback"];
/// The variants that answer requests.
const ANSWERING: [&str; 3] = ["production", "canary", "fallback"];
const DECISIONS: [&str; 3] = ["positive", "negative", "none"];

fn variant_index(variant: &str) -> usize {
    VARIANTS.iter().position(|v| *v == variant).unwrap_or(0)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "fathom_http_requests",
            "HTTP requests by endpoint and status code",
            requests.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ])
        });
        registry.register(
            "fathom_http_request_duration_seconds",
            "Time from request to response, by endpoint",
            latency.clone(),
        );
        let predictions = Family::<PredictionLabels, Counter>::default();
        registry.register(
            "fathom_predictions",
            "Records scored, by variant and decision",
            predictions.clone(),
        );
        let scores = Family::<VariantLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(crate::rollout::SCORE_BOUNDS)
        });
        registry.register(
            "fathom_prediction_score",
            "Distribution of scores, by variant",
            scores.clone(),
        );
        let log_queue = Gauge::default();
        registry.register(
            "fathom_prediction_log_queue_depth",
            "Records waiting to be written to the prediction log",
            log_queue.clone(),
        );
        let log_records = Family::<LogLabels, Counter>::default();
        registry.register(
            "fathom_prediction_log_records",
            "Prediction-log records written (logged) or lost to a full queue (dropped)",
            log_records.clone(),
        );
        let models = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "fathom_model_info",
            "Deployed model versions (value 1), by slot",
            models.clone(),
        );
        let canary_rollbacks = Counter::default();
        registry.register(
            "fathom_canary_rollbacks",
            "Canaries removed automatically by the guardrails",
            canary_rollbacks.clone(),
        );
        let load_failures = Counter::default();
        registry.register(
            "fathom_model_load_failures",
            "Model versions that could not be loaded (corrupt or unreadable artifact)",
            load_failures.clone(),
        );
        let log_shipped = Counter::default();
        registry.register(
            "fathom_log_shipped_files",
            "Prediction-log files (compacted segments) shipped to the artifact store",
            log_shipped.clone(),
        );
        let log_ship_failures = Counter::default();
        registry.register(
            "fathom_log_ship_failures",
            "Rounds of log shipping that failed; their files are shipped by a later round",
            log_ship_failures.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "fathom_registry_up",
            "1 when the registry store answered the last poll, 0 when it did not",
            store_up.clone(),
        );
        let drift_score = Family::<CheckLabels, RealGauge>::default();
        registry.register(
            "fathom_drift_score",
            "Share of drifted input features in the latest monitoring check",
            drift_score.clone(),
        );
        let feature_drift = Family::<FeatureLabels, RealGauge>::default();
        registry.register(
            "fathom_feature_drift",
            "1 when the feature drifted in the latest monitoring check, else 0",
            feature_drift.clone(),
        );
        let null_rate = Family::<FeatureLabels, RealGauge>::default();
        registry.register(
            "fathom_feature_null_rate",
            "Share of missing values of the feature in the latest monitoring check",
            null_rate.clone(),
        );
        let rolling_auc = Family::<CheckLabels, RealGauge>::default();
        registry.register(
            "fathom_rolling_auc",
            "AUC-ROC over the labelled predictions of the latest monitoring check",
            rolling_auc.clone(),
        );
        let last_check = Family::<CheckLabels, RealGauge>::default();
        registry.register(
            "fathom_monitor_last_check_timestamp_seconds",
            "When the latest monitoring check ran",
            last_check.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("fathom_build_info", "The server's build (value 1)", build);
        let hot = Hot {
            predict_ok: ANSWERING.map(|variant| {
                requests
                    .get_or_create(&RequestLabels {
                        endpoint: "/v1/predict",
                        status: 200,
                        variant,
                    })
                    .clone()
            }),
            predict_latency: latency
                .get_or_create(&EndpointLabels {
                    endpoint: "/v1/predict",
                })
                .clone(),
            predictions: std::array::from_fn(|v| {
                std::array::from_fn(|d| {
                    predictions
                        .get_or_create(&PredictionLabels {
                            variant: VARIANTS[v],
                            decision: DECISIONS[d],
                        })
                        .clone()
                })
            }),
            scores: std::array::from_fn(|v| {
                scores
                    .get_or_create(&VariantLabels {
                        variant: VARIANTS[v],
                    })
                    .clone()
            }),
        };
        Self {
            hot,
            registry,
            requests,
            latency,
            predictions,
            scores,
            log_queue,
            log_records,
            models,
            canary_rollbacks,
            load_failures,
            log_shipped,
            log_ship_failures,
            store_up,
            drift_score,
            feature_drift,
            null_rate,
            rolling_auc,
            last_check,
            last_log: Mutex::new((0, 0)),
            scored: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Shows the findings of `model`'s latest monitoring check (the run's
    /// metrics: `drift_score`, `drift:FEATURE`, `null_rate:FEATURE`,
    /// `auc_roc`), replacing the previous check's.
    pub fn set_check(
        &self,
        model: &str,
        at_ms: i64,
        metrics: &std::collections::BTreeMap<String, f64>,
    ) {
        self.feature_drift.clear();
        self.null_rate.clear();
        self.drift_score.clear();
        self.rolling_auc.clear();
        let m = CheckLabels {
            model: model.to_string(),
        };
        self.last_check.get_or_create(&m).set(at_ms as f64 / 1000.0);
        for (key, &value) in metrics {
            let feature = |name: &str| FeatureLabels {
                model: model.to_string(),
                feature: name.to_string(),
            };
            match key.split_once(':') {
                Some(("drift", f)) => {
                    self.feature_drift.get_or_create(&feature(f)).set(value);
                }
                Some(("null_rate", f)) => {
                    self.null_rate.get_or_create(&feature(f)).set(value);
                }
                _ => match key.as_str() {
                    "drift_score" => {
                        self.drift_score.get_or_create(&m).set(value);
                    }
                    "auc_roc" => {
                        self.rolling_auc.get_or_create(&m).set(value);
                    }
                    _ => {}
                },
            }
        }
    }

    /// Counts one scored record.
    #[inline]
    pub fn prediction(&self, variant: &'static str, decision: Option<bool>, score: f64) {
        let d = match decision {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        let v = variant_index(variant);
        self.hot.predictions[v][d].inc();
        self.hot.scores[v].observe(score);
    }

    /// Counts one answered request (every answer, once: see
    /// [`crate::access`]).
    #[inline]
    pub fn request(
        &self,
        endpoint: &'static str,
        variant: &'static str,
        status: u16,
        seconds: f64,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        if endpoint == "/v1/predict"
            && status == 200
            && let Some(v) = ANSWERING.iter().position(|a| *a == variant)
        {
            // Counted once, by its hot handle (also in `prediction_totals`).
            self.hot.predict_ok[v].inc();
            self.hot.predict_latency.observe(seconds);
            return;
        }
        if endpoint.starts_with("/v1/predict") || endpoint == "/v1/explain" {
            self.scored.fetch_add(1, Relaxed);
            if status >= 400 {
                self.failed.fetch_add(1, Relaxed);
            }
        }
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                status,
                variant,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }

    /// Requests to the prediction endpoints since the start, and how many
    /// of them got an error status (4xx or 5xx).
    pub fn prediction_totals(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.hot.predict_ok.iter().map(Counter::get).sum::<u64>() + self.scored.load(Relaxed),
            self.failed.load(Relaxed),
        )
    }

    /// Brings the prediction-log figures up to date: totals as reported by
    /// the log, which only grow.
    pub fn log_totals(&self, queued: u64, logged: u64, dropped: u64) {
        self.log_queue.set(queued as i64);
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if logged > last.0 {
            self.log_records
                .get_or_create(&LogLabels { result: "logged" })
                .inc_by(logged - last.0);
        }
        if dropped > last.1 {
            self.log_records
                .get_or_create(&LogLabels { result: "dropped" })
                .inc_by(dropped - last.1);
        }
        *last = (logged.max(last.0), dropped.max(last.1));
    }

    /// The OpenMetrics exposition text.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The classic Prometheus text format (0.0.4), which every scraper and
    /// `promtool check metrics` read: OpenMetrics with counter families
    /// named by their `_total` samples and without the `# EOF` marker.
    pub fn render_text(&self) -> String {
        to_classic(&self.render_openmetrics())
    }
}

/// Rewrites OpenMetrics text as Prometheus text format 0.0.4.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
