//! `fathom monitor …`: is the data a model sees still the data it learned
//! from, and does the model still do its job?
//!
//! * `fathom monitor` ([`check`]): the whole check of a registered model
//!   over a window of the prediction log — drift against the reference
//!   profile stored with it (or its training snapshot), data quality, live performance from feedback labels, system
//!   and business signals, alerts, and the policy's decision — recorded as
//!   a tracked run with its reports as artifacts.
//! * `fathom monitor drift` ([`drift`]): one data set against another,
//!   feature by feature.
//! * [`shipped`]: the log of every replica, local and shipped.

pub mod check;
pub mod drift;
pub mod notify;
pub mod shipped;

pub use check::{CheckArgs, check_command};
pub use drift::{DriftArgs, drift_command};
pub use shipped::{OpenedLog, open_log};

use crate::config::Config;
use anyhow::{Context, Result, bail};
use fathom_predlog::{LogReader, PredictionRecord};
use std::path::PathBuf;

/// A stretch of time ending now, as given on the command line.
#[derive(Debug, Clone)]
pub struct Window {
    /// As written (`1h`).
    pub text: String,
    /// Its length in milliseconds.
    pub ms: i64,
}

impl Window {
    /// Parses `30s`, `15m`, `1h`, `7d`.
    pub fn parse(text: &str) -> Result<Window> {
        Ok(Window {
            text: text.trim().to_string(),
            ms: parse_window(text)?,
        })
    }
}

/// Parses `30s`, `15m`, `1h`, `7d` into milliseconds (more than zero).
pub fn parse_window(text: &str) -> Result<i64> {
    let span =
        fathom_monitor::Span::parse(text).map_err(|e| anyhow::anyhow!("--window {text:?}: {e}"))?;
    if span.is_zero() {
        bail!("--window {text:?}: the window must be longer than zero (e.g. 1h, 30m, 7d)");
    }
    Ok(span.ms())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The prediction log's folder: `[serve.log] dir`, else `predictions` in
/// the store folder.
pub fn log_dir(config: &Config) -> PathBuf {
    config
        .serve
        .log
        .dir
        .clone()
        .unwrap_or_else(|| config.store.path.join("predictions"))
}

/// The answered predictions of the last `window` ending at `now` (of
/// `model` only when named; shadow scores left out, they answered nobody).
pub fn window_records(
    reader: &LogReader,
    dir: &std::path::Path,
    window: &Window,
    now: i64,
    model: Option<&str>,
) -> Result<Vec<PredictionRecord>> {
    let mut records = reader
        .predictions(now.saturating_sub(window.ms), now.saturating_add(1))
        .with_context(|| format!("cannot read the prediction log at {}", dir.display()))?;
    records.retain(|r| {
        r.variant != fathom_predlog::Variant::Shadow && model.is_none_or(|m| r.model == m)
    });
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_in_each_unit_and_bad_ones_refused() {
        assert_eq!(parse_window("90s").unwrap(), 90_000);
        assert_eq!(parse_window("30m").unwrap(), 1_800_000);
        assert_eq!(parse_window("1h").unwrap(), 3_600_000);
        assert_eq!(parse_window("7d").unwrap(), 604_800_000);
        for bad in ["", "h", "1", "-1h", "0m", "1.5h", "1w"] {
            let e = format!("{:#}", parse_window(bad).unwrap_err());
            assert!(e.contains("--window"), "{bad}: {e}");
        }
    }
}
