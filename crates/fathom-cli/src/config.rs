//! Project settings: `fathom.toml`, overridden by `FATHOM_*` environment
//! variables, overridden by command-line flags.

use anyhow::{Context, Result};
use fathom_learn::pipeline::PipelineOptions;
use fathom_learn::trainer::TrainConfig;
use fathom_registry::{DeliveryPolicy, PromotionPolicy, Webhook};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything `fathom.toml` can say. Every key has a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where fathom keeps snapshots (and, later, runs and models).
    pub store: StoreConfig,
    /// The synthetic data generator's defaults.
    pub data: DataConfig,
    /// How raw columns become features (`[features]`).
    pub features: PipelineOptions,
    /// Training: candidates, splits, cross-validation, search, selection,
    /// ensembles (`[train]`).
    pub train: TrainConfig,
    /// The model registry: default model name, archive retention and the
    /// promotion gate (`[registry]`).
    pub registry: RegistryConfig,
    /// The HTTP server (`[serve]`).
    pub serve: fathom_serve::ServeConfig,
    /// Monitoring: drift thresholds, tests and overrides (`[monitor]`).
    pub monitor: MonitorConfig,
    /// Schedules, owners and task settings of the pipelines
    /// (`[pipelines.data]`, `[pipelines.training]`, `[pipelines.monitoring]`).
    pub pipelines: std::collections::BTreeMap<String, fathom_pipeline::PipelineConfig>,
    /// How a canary becomes production (`[rollout]`).
    pub rollout: RolloutConfig,
    /// Where the settings that are not defaults came from (not a table of
    /// the file; filled by [`Config::load`] and the global flags).
    #[serde(skip)]
    pub sources: Sources,
}

/// `[rollout]`: what the monitoring pipeline does with a canary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    /// How long a version stays canary before it is judged (`1h`, `1d`).
    pub canary_period: fathom_monitor::Span,
    /// Promote a canary that held automatically (else only roll back the
    /// ones that did not).
    pub auto_promote: bool,
    /// Labelled canary answers needed to compare live metrics; with fewer,
    /// the guardrails alone decide.
    pub min_labels: u64,
    /// How much lower the canary's live AUC-ROC may be than production's.
    pub tolerance: f64,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            canary_period: fathom_monitor::Span::hours(1),
            auto_promote: true,
            min_labels: 200,
            tolerance: 0.02,
        }
    }
}

/// Where settings came from, for `fathom config show`. Keys are dotted
/// paths (`store.path`, `train.gbdt.num_rounds`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// Every key the file sets, as a dotted path (a list or an inline
    /// table is one key).
    pub file_keys: Vec<String>,
    /// Settings taken from the environment: key → variable.
    pub env: std::collections::BTreeMap<String, String>,
    /// Settings given by a command-line flag: key → flag.
    pub flags: std::collections::BTreeMap<String, String>,
}

impl Sources {
    /// Notes that environment variable `var` set `key`.
    pub fn set_by_env(&mut self, key: &str, var: &str) {
        self.env.insert(key.into(), var.into());
    }

    /// Notes that command-line flag `flag` set `key`.
    pub fn set_by_flag(&mut self, key: &str, flag: &str) {
        self.flags.insert(key.into(), flag.into());
    }
}

/// The dotted keys a TOML table sets; arrays are leaves.
fn toml_keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => toml_keys(&key, t, out),
            _ => out.push(key),
        }
    }
}

/// `[monitor]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// The drift computation (`[monitor.drift]`).
    pub drift: fathom_monitor::DriftConfig,
    /// Data-quality limits (`[monitor.quality]`).
    pub quality: fathom_monitor::QualityConfig,
    /// Live-performance windows and limits (`[monitor.performance]`).
    pub performance: fathom_monitor::PerformanceConfig,
    /// Latency, error, job and business-KPI limits (`[monitor.signals]`).
    pub signals: fathom_monitor::SignalsConfig,
    /// Alert rules (`[[monitor.alerts]]`); the default rules when none.
    pub alerts: Vec<fathom_monitor::alert::AlertRule>,
    /// Where notifications go, by name (`[monitor.routes.NAME]`); `log`
    /// and `dashboard` exist without being declared.
    pub routes: std::collections::BTreeMap<String, fathom_monitor::alert::Route>,
    /// Who is told first and when an alert is handed off
    /// (`[monitor.escalation]`).
    pub escalation: fathom_monitor::alert::Escalation,
    /// What the findings lead to (`[monitor.policy]`).
    pub policy: fathom_monitor::policy::PolicyConfig,
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The local store folder (env `FATHOM_STORE`).
    pub path: PathBuf,
    /// The tracking and registry database: a folder (SQLite file
    /// `fathom.db` in it), a `.db` file, or a `postgres://` URL (env
    /// `FATHOM_DATABASE_URL`). Default: the store folder.
    pub database: Option<String>,
    /// The checksummed artifact store: a folder, or an S3-compatible
    /// bucket as `s3://bucket/prefix` (env `FATHOM_ARTIFACTS`; endpoint,
    /// region and credentials from the standard `AWS_*` variables).
    /// Default: `artifacts` in the store folder.
    pub artifacts: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from(".fathom"),
            database: None,
            artifacts: None,
        }
    }
}

impl StoreConfig {
    /// Where the tracking and registry database is.
    pub fn database_location(&self) -> String {
        match &self.database {
            Some(d) => d.clone(),
            None => self.path.display().to_string(),
        }
    }

    /// Where the artifact store is: a folder or an `s3://` location.
    pub fn artifacts_location(&self) -> String {
        match &self.artifacts {
            Some(a) => a.clone(),
            None => self.path.join("artifacts").display().to_string(),
        }
    }
}

/// `[registry]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registered model `fathom train` and `quickstart` record under
    /// when `--model` is not given. Default: `train` uses the data file's
    /// name without extension, `quickstart` uses `fraud`.
    pub model: Option<String>,
    /// Days a version stays un-archivable after an alias moved away from
    /// it (it is a rollback target).
    pub retention_days: u32,
    /// The promotion gate (`[registry.promotion]`).
    pub promotion: PromotionPolicy,
    /// Where registry events are POSTed (`[[registry.webhooks]]`).
    pub webhooks: Vec<Webhook>,
    /// How failed deliveries are retried (`[registry.delivery]`).
    pub delivery: DeliveryPolicy,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            model: None,
            retention_days: 30,
            promotion: PromotionPolicy::default(),
            webhooks: Vec::new(),
            delivery: DeliveryPolicy::default(),
        }
    }
}

/// `[data]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Rows to generate (env `FATHOM_ROWS`).
    pub rows: u64,
    /// Random seed (env `FATHOM_SEED`).
    pub seed: u64,
    /// Share of fraudulent transactions (env `FATHOM_FRAUD_RATE`).
    pub fraud_rate: f64,
    /// Drift scenario: baseline, gradual, sudden or concept (env `FATHOM_SCENARIO`).
    pub scenario: String,
    /// Where the data pipeline reads each batch: a CSV or Parquet file,
    /// `{date}` replaced by the run's logical date (`landing/tx-{date}.csv`).
    pub source: Option<String>,
    /// The schema contract batches are validated against (from `fathom data
    /// schema infer`); default: the production model's contract.
    pub schema: Option<PathBuf>,
    /// The data pipeline's reference window: the validated batches of this
    /// many logical days before a batch, which its quality report compares
    /// it with (drift); 0 turns the comparison off (default 7).
    pub reference_days: u32,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            rows: 200_000,
            seed: 42,
            fraud_rate: 0.015,
            scenario: "baseline".into(),
            source: None,
            schema: None,
            reference_days: 7,
        }
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("environment variable {name}={v:?} is not valid: {e}")),
        Err(_) => Ok(None),
    }
}

/// The environment variables of the generic form
/// `FATHOM_<SECTION>__<KEY>[__<KEY>…]`, sorted by name.
fn env_overrides() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| override_key(k).is_some())
        .collect();
    vars.sort();
    vars
}

/// The dotted key a generic override sets: `FATHOM_TRAIN__GBDT__NUM_ROUNDS`
/// → `train.gbdt.num_rounds`; `None` for any other name.
pub fn override_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("FATHOM_")?;
    if !rest.contains("__") {
        return None;
    }
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    parts.iter().all(|p| !p.is_empty()).then(|| parts.join("."))
}

/// A variable's text as a TOML value: a number, a boolean, a date, a
/// quoted string, an array or an inline table as TOML reads it; any other
/// text as a string.
fn override_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Applies the generic `FATHOM_<SECTION>__<KEY>` overrides over the file,
/// one variable at a time so that an unknown key or a bad value is
/// reported with the variable's name.
fn apply_env_overrides(
    config: &mut Config,
    file: &Option<PathBuf>,
    vars: Vec<(String, String)>,
) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut table = match file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read config file {}", p.display()))?
            .parse::<toml::Table>()
            .with_context(|| format!("{} is not a valid fathom config", p.display()))?,
        None => toml::Table::new(),
    };
    for (var, text) in vars {
        let Some(key) = override_key(&var) else {
            continue;
        };
        let mut at = &mut table;
        let parts: Vec<&str> = key.split('.').collect();
        let (last, parents) = parts.split_last().expect("a key has parts");
        for part in parents {
            let slot = at
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !slot.is_table() {
                anyhow::bail!(
                    "environment variable {var}: {key} goes inside `{part}`, which is not a table; \
                     unset the variable or name a key that exists (`fathom config show` lists them)"
                );
            }
            at = slot.as_table_mut().expect("checked to be a table");
        }
        at.insert(last.to_string(), override_value(&text));
        let merged: Config = toml::Value::Table(table.clone()).try_into().map_err(|e| {
            let e = e.to_string().replace('\n', " ");
            anyhow::anyhow!(
                "environment variable {var}={text:?} (setting {key}) is not valid: {}; \
                 `fathom config show` lists every key and its value",
                e.trim()
            )
        })?;
        let sources = std::mem::take(&mut config.sources);
        *config = merged;
        config.sources = sources;
        config.sources.set_by_env(&key, &var);
    }
    Ok(())
}

impl Config {
    /// The training settings with `[features]` in place.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            features: self.features.clone(),
            ..self.train.clone()
        }
    }

    /// Loads `path`, or `./fathom.toml` if it exists, else defaults; then
    /// applies the environment: first the generic overrides
    /// `FATHOM_<SECTION>__<KEY>` (`__` between nested keys, values read as
    /// TOML), then the named variables (`FATHOM_STORE`, `FATHOM_SEED`, …).
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let default_path = Path::new("fathom.toml");
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default_path.is_file() => Some(default_path.to_path_buf()),
            None => None,
        };
        let mut config = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                let mut config: Config = toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid fathom config", p.display()))?;
                if let Ok(table) = text.parse::<toml::Table>() {
                    toml_keys("", &table, &mut config.sources.file_keys);
                }
                config.sources.file = Some(p.clone());
                config
            }
            None => Config::default(),
        };
        apply_env_overrides(&mut config, &file, env_overrides())?;
        if let Some(v) = env_parse::<PathBuf>("FATHOM_STORE")? {
            config.store.path = v;
            config.sources.set_by_env("store.path", "FATHOM_STORE");
        }
        if let Some(v) = env_parse::<String>("FATHOM_DATABASE_URL")? {
            config.store.database = Some(v);
            config
                .sources
                .set_by_env("store.database", "FATHOM_DATABASE_URL");
        }
        if let Some(v) = env_parse::<String>("FATHOM_LISTEN")? {
            config.serve.listen = v;
            config.sources.set_by_env("serve.listen", "FATHOM_LISTEN");
        }
        if let Some(v) = env_parse::<String>("FATHOM_ARTIFACTS")? {
            config.store.artifacts = Some(v);
            config
                .sources
                .set_by_env("store.artifacts", "FATHOM_ARTIFACTS");
        }
        if let Some(v) = env_parse("FATHOM_ROWS")? {
            config.data.rows = v;
            config.sources.set_by_env("data.rows", "FATHOM_ROWS");
        }
        if config.train.features != PipelineOptions::default() {
            anyhow::bail!(
                "{}: feature settings belong in the top-level [features] table, not in [train.features]",
                file.as_deref().unwrap_or(default_path).display()
            );
        }
        let generic: Vec<String> = config
            .sources
            .env
            .values()
            .filter(|v| override_key(v).is_some())
            .cloned()
            .collect();
        let file_name = || {
            let file = file
                .as_deref()
                .unwrap_or(default_path)
                .display()
                .to_string();
            if generic.is_empty() {
                file
            } else {
                format!("{file} with {}", generic.join(", "))
            }
        };
        for w in &config.registry.webhooks {
            w.validate().with_context(file_name)?;
        }
        config
            .registry
            .delivery
            .validate()
            .with_context(file_name)?;
        crate::pipelines::check(&config).with_context(file_name)?;
        let m = &config.monitor;
        fathom_monitor::alert::check_alerting(&m.alerts, &m.routes, &m.escalation)
            .and_then(|()| m.policy.check())
            .and_then(|()| m.quality.check())
            .and_then(|()| m.performance.check())
            .and_then(|()| m.signals.check())
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{}: [monitor]", file_name()))?;
        if let Some(v) = env_parse("FATHOM_SEED")? {
            config.data.seed = v;
            config.train.seed = v;
            config.sources.set_by_env("data.seed", "FATHOM_SEED");
            config.sources.set_by_env("train.seed", "FATHOM_SEED");
        }
        if let Some(v) = env_parse("FATHOM_FRAUD_RATE")? {
            config.data.fraud_rate = v;
            config
                .sources
                .set_by_env("data.fraud_rate", "FATHOM_FRAUD_RATE");
        }
        if let Some(v) = env_parse::<String>("FATHOM_SCENARIO")? {
            config.data.scenario = v;
            config
                .sources
                .set_by_env("data.scenario", "FATHOM_SCENARIO");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_override_names_and_values() {
        assert_eq!(
            override_key("FATHOM_TRAIN__GBDT__NUM_ROUNDS").as_deref(),
            Some("train.gbdt.num_rounds")
        );
        assert_eq!(override_key("FATHOM_STORE"), None);
        assert_eq!(override_key("FATHOM_LOG_SALT"), None);
        assert_eq!(override_key("FATHOM_TRAIN____X"), None);
        assert_eq!(override_key("OTHER_TRAIN__SEED"), None);
        assert_eq!(override_value("50"), toml::Value::Integer(50));
        assert_eq!(override_value("0.5"), toml::Value::Float(0.5));
        assert_eq!(override_value("true"), toml::Value::Boolean(true));
        assert_eq!(override_value("\"a b\""), toml::Value::String("a b".into()));
        assert_eq!(override_value("2h"), toml::Value::String("2h".into()));
        assert_eq!(
            override_value("0 3 * * 0"),
            toml::Value::String("0 3 * * 0".into())
        );
        assert!(override_value("[\"gbdt\"]").is_array());
    }

    #[test]
    fn monitor_drift_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fathom.toml");
        std::fs::write(
            &p,
            "[monitor.drift]\nwarn_share = 0.1\nprediction = \"score\"\n[monitor.drift.features]\namount = \"psi\"\n",
        )
        .unwrap();
        let d = Config::load(Some(&p)).unwrap().monitor.drift;
        assert_eq!(d.warn_share, 0.1);
        assert_eq!(d.severe_share, 0.2);
        assert_eq!(d.prediction.as_deref(), Some("score"));
        assert_eq!(
            d.features["amount"].test(),
            Some(fathom_monitor::DriftTest::Psi)
        );
        std::fs::write(&p, "[monitor.drift]\nwarn_shares = 0.1\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("unknown field `warn_shares`"), "{e}");
    }

    #[test]
    fn file_values_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fathom.toml");
        std::fs::write(&p, "[data]\nrows = 10\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.data.rows, 10);
        assert_eq!(c.data.seed, 42);
        std::fs::write(
            &p,
            "[train]\ncandidates = [\"gbdt\", \"voting\"]\n[train.cv]\nfolds = 3\n[features]\nclip = { method = \"iqr\", k = 3.0 }\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        let t = c.train_config();
        assert_eq!(t.candidates, ["gbdt", "voting"]);
        assert_eq!(t.cv.map(|cv| cv.folds), Some(3));
        // One [train.gbdt] key changes that key only.
        std::fs::write(&p, "[train.gbdt]\nnum_rounds = 20\n").unwrap();
        let g = Config::load(Some(&p)).unwrap().train_config().gbdt;
        assert_eq!(g.num_rounds, 20);
        assert_eq!(
            g,
            fathom_learn::gbdt::GbdtParams {
                num_rounds: 20,
                ..fathom_learn::trainer::default_gbdt()
            }
        );
        assert_ne!(t.features, PipelineOptions::default());
        std::fs::write(&p, "[train.features]\nmax_levels = 5\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("top-level [features] table"), "{e}");
        std::fs::write(
            &p,
            "[store]\ndatabase = \"runs.db\"\n[registry]\nmodel = \"fraud\"\n[registry.promotion]\ntolerance = 0.01\nthreshold = 0.5\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.store.database_location(), "runs.db");
        assert_eq!(c.store.artifacts_location(), ".fathom/artifacts");
        assert_eq!(c.registry.model.as_deref(), Some("fraud"));
        assert_eq!(c.registry.promotion.tolerance, 0.01);
        assert_eq!(c.registry.promotion.threshold, Some(0.5));
        assert_eq!(c.registry.promotion.metric, "auc_pr");
        std::fs::write(&p, "[registry.promotion]\ntolerence = 0.01\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("unknown field `tolerence`"), "{e}");
        std::fs::write(
            &p,
            "[[registry.webhooks]]\nurl = \"https://ci.example/hook\"\nevents = [\"alias_moved\", \"rollback\"]\nsecret_env = \"HOOK_SECRET\"\n[registry.delivery]\nmax_attempts = 3\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        let w = &c.registry.webhooks[0];
        assert_eq!(w.url, "https://ci.example/hook");
        assert_eq!(w.events.len(), 2);
        assert_eq!(w.timeout_ms, 5000);
        assert_eq!(c.registry.delivery.max_attempts, 3);
        assert_eq!(c.registry.delivery.first_retry_secs, 30);
        std::fs::write(&p, "[[registry.webhooks]]\nurl = \"https://ci.example/hook\"\nevents = [\"alias_moves\"]\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(
            e.contains("unknown variant `alias_moves`") && e.contains("alias_moved"),
            "{e}"
        );
        std::fs::write(&p, "[[registry.webhooks]]\nurl = \"ci.example/hook\"\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("must start with http:// or https://"), "{e}");
        std::fs::write(&p, "[data]\nrowz = 10\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("unknown field `rowz`"), "{e}");
    }
}
