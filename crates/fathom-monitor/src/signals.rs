//! System and business signals of a window of serving: latency quantiles
//! against a target, the error rate, the success rate of scheduled jobs,
//! and a business KPI (by default the decline rate, the share of
//! transactions declined as fraud) against its value on a reference
//! window. Read from the `[monitor.signals]` table of `fathom.toml`:
//!
//! ```toml
//! [monitor.signals]
//! latency_p95_ms = 50      # p95 latency above this (milliseconds) is flagged
//! error_rate = 0.01        # share of failed requests above this is flagged
//! job_success_rate = 0.95  # share of successful jobs below this is flagged
//! kpi = { name = "decline_rate", relative_drop = 0.10, direction = "drop" }
//! ```
//!
//! The KPI `decline_rate` is the share of positive decisions,
//! `approval_rate` the share of negative ones; any other name takes its
//! value from the caller ([`SignalInput::kpi_value`]). It is flagged when it
//! moves by more than `relative_drop` (a share of the baseline value) in
//! the watched `direction`: `drop` (default), `rise` or `both`.
//!
//! Quantiles are numpy's default (`numpy.percentile`, linear
//! interpolation between closest ranks: rank `(n − 1)·q`).

use crate::MonitorError;
use serde::{Deserialize, Serialize};

/// Which way of a KPI's change is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A fall below the baseline is flagged.
    Drop,
    /// A rise above the baseline is flagged.
    Rise,
    /// A change either way is flagged.
    Both,
}

/// The business KPI and its rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KpiConfig {
    /// The KPI's name: `decline_rate`, `approval_rate`, or a name whose
    /// value the caller supplies.
    pub name: String,
    /// Relative change, as a share of the baseline value, beyond which the
    /// KPI is flagged (0.10: a 10 % change).
    pub relative_drop: f64,
    /// Which way of change is flagged.
    pub direction: Direction,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            name: "decline_rate".to_string(),
            relative_drop: 0.10,
            direction: Direction::Drop,
        }
    }
}

/// Settings of the system and business signals. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalsConfig {
    /// The p95 latency target, in milliseconds.
    pub latency_p95_ms: f64,
    /// The largest acceptable share of failed requests.
    pub error_rate: f64,
    /// The smallest acceptable share of successful jobs.
    pub job_success_rate: f64,
    /// The business KPI.
    pub kpi: KpiConfig,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            latency_p95_ms: 50.0,
            error_rate: 0.01,
            job_success_rate: 0.95,
            kpi: KpiConfig::default(),
        }
    }
}

impl SignalsConfig {
    /// Checks the settings: a positive latency target, rates in `[0, 1]`, a
    /// KPI name and a positive relative change.
    pub fn check(&self) -> Result<(), MonitorError> {
        let bad = |detail: String| {
            Err(MonitorError::Settings {
                section: "signals",
                detail,
            })
        };
        if !(self.latency_p95_ms > 0.0 && self.latency_p95_ms.is_finite()) {
            return bad(format!(
                "latency_p95_ms is {}; give a positive number of milliseconds (default 50)",
                self.latency_p95_ms
            ));
        }
        for (name, v, default) in [
            ("error_rate", self.error_rate, "0.01"),
            ("job_success_rate", self.job_success_rate, "0.95"),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!(
                    "{name} is {v}; it is a share and must lie in [0, 1] (default {default})"
                ));
            }
        }
        if self.kpi.name.trim().is_empty() {
            return bad("kpi.name is empty; name the KPI, e.g. \"decline_rate\"".into());
        }
        if !(self.kpi.relative_drop > 0.0 && self.kpi.relative_drop.is_finite()) {
            return bad(format!(
                "kpi.relative_drop is {}; give a positive share of the baseline (default 0.10)",
                self.kpi.relative_drop
            ));
        }
        Ok(())
    }
}

/// What happened in the window, gathered by the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalInput {
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Requests received: answered and failed.
    pub requests: u64,
    /// Of which failed (no answer, or a server error); `None` when the
    /// source does not know (a prediction log holds answers only), and then
    /// no error rate is reported.
    pub errors: Option<u64>,
    /// Answers that were degraded (fallback, missing features, ...).
    pub degraded: u64,
    /// Scheduled jobs that succeeded.
    pub jobs_succeeded: u64,
    /// Scheduled jobs that failed.
    pub jobs_failed: u64,
    /// Positive decisions (transactions declined as fraud).
    pub decisions_positive: u64,
    /// All decisions.
    pub decisions_total: u64,
    /// The KPI's value, for a KPI other than `decline_rate` and
    /// `approval_rate` (ignored for those two).
    pub kpi_value: Option<f64>,
    /// The same KPI on the reference or previous window.
    pub kpi_baseline: Option<f64>,
}

/// Which rule a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalCheck {
    /// No requests in the window.
    NoTraffic,
    /// p95 latency above the target.
    Latency,
    /// Error rate above the limit.
    ErrorRate,
    /// Job success rate below the limit.
    JobSuccessRate,
    /// The KPI moved too far from its baseline.
    Kpi,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalFinding {
    /// The rule.
    pub check: SignalCheck,
    /// The measured value, when there is one.
    pub value: Option<f64>,
    /// The limit it broke, when there is one.
    pub threshold: Option<f64>,
    /// A sentence for people.
    pub message: String,
}

/// Latency quantiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Answered requests measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// The KPI and its change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    /// Its name.
    pub name: String,
    /// Its value in the window, when known.
    pub value: Option<f64>,
    /// Its value on the reference window, when given.
    pub baseline: Option<f64>,
    /// `(value − baseline) / baseline`, when both are known and the
    /// baseline is not 0.
    pub relative_change: Option<f64>,
}

/// System and business signals of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalsReport {
    /// Requests received.
    pub requests: u64,
    /// Latency quantiles, when any request was answered.
    pub latency: Option<Latency>,
    /// `errors / requests`, when there were requests.
    pub error_rate: Option<f64>,
    /// `degraded / requests`, when there were requests.
    pub degraded_rate: Option<f64>,
    /// `succeeded / (succeeded + failed)`, when jobs ran.
    pub job_success_rate: Option<f64>,
    /// The business KPI.
    pub kpi: Kpi,
    /// Every broken rule.
    pub findings: Vec<SignalFinding>,
    /// Figures that could not be computed, and why.
    pub notes: Vec<String>,
    /// Whether no rule was broken.
    pub ok: bool,
}

impl SignalsReport {
    /// Flat named values for alert rules: `latency_p95_ms`,
    /// `latency_p99_ms`, `error_rate`, `degraded_rate`, `job_success_rate`,
    /// `kpi:<name>` and `kpi_drop:<name>` (relative drop, positive when the
    /// KPI fell). A value that could not be computed is left out.
    pub fn signals(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if let Some(l) = self.latency {
            out.push(("latency_p95_ms".to_string(), l.p95_ms));
            out.push(("latency_p99_ms".to_string(), l.p99_ms));
        }
        if let Some(r) = self.error_rate {
            out.push(("error_rate".to_string(), r));
        }
        if let Some(r) = self.degraded_rate {
            out.push(("degraded_rate".to_string(), r));
        }
        if let Some(r) = self.job_success_rate {
            out.push(("job_success_rate".to_string(), r));
        }
        if let Some(v) = self.kpi.value {
            out.push((format!("kpi:{}", self.kpi.name), v));
        }
        if let Some(c) = self.kpi.relative_change {
            out.push((format!("kpi_drop:{}", self.kpi.name), -c));
        }
        out
    }
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of ascending values, as
/// `numpy.percentile(values, 100·q)` with its default linear method;
/// `None` for no values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // numpy's _lerp: a + (b − a)·t, taken from the upper end when t ≥ 0.5.
    let d = b - a;
    Some(if frac >= 0.5 {
        b - d * (1.0 - frac)
    } else {
        a + d * frac
    })
}

/// Computes the signals of one window and checks each rule. Errors on
/// invalid settings and inconsistent counts (more errors, latencies or
/// degraded answers than requests, more positive decisions than decisions, a
/// non-finite KPI value).
pub fn signals(input: &SignalInput, config: &SignalsConfig) -> Result<SignalsReport, MonitorError> {
    config.check()?;
    let bad = |m: String| Err(MonitorError::InvalidInput(m));
    let errors = input.errors.unwrap_or(0);
    if errors > input.requests {
        return bad(format!(
            "{} errors but {} requests; count every request received, failed or not, in `requests`",
            errors, input.requests
        ));
    }
    if input.latencies_us.len() as u64 > input.requests {
        return bad(format!(
            "{} latencies but {} requests; every answered request is a request",
            input.latencies_us.len(),
            input.requests
        ));
    }
    if input.degraded > input.requests {
        return bad(format!(
            "{} degraded answers but {} requests; degraded answers are a part of the requests",
            input.degraded, input.requests
        ));
    }
    if input.decisions_positive > input.decisions_total {
        return bad(format!(
            "{} positive decisions but {} decisions in all; `decisions_total` counts both kinds",
            input.decisions_positive, input.decisions_total
        ));
    }
    for (what, v) in [
        ("kpi_value", input.kpi_value),
        ("kpi_baseline", input.kpi_baseline),
    ] {
        if let Some(v) = v
            && !v.is_finite()
        {
            return bad(format!("{what} is {v}; give a finite number or none"));
        }
    }

    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let r4 = |v: f64| (v * 1e4).round() / 1e4;

    let latency = if input.latencies_us.is_empty() {
        notes.push("no answered request; no latency".to_string());
        None
    } else {
        let mut ms: Vec<f64> = input
            .latencies_us
            .iter()
            .map(|&us| f64::from(us) / 1e3)
            .collect();
        ms.sort_unstable_by(f64::total_cmp);
        let q = |p: f64| quantile(&ms, p).unwrap_or_default();
        Some(Latency {
            count: ms.len() as u64,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: ms[ms.len() - 1],
        })
    };
    if let Some(l) = latency
        && l.p95_ms > config.latency_p95_ms
    {
        findings.push(SignalFinding {
            check: SignalCheck::Latency,
            value: Some(l.p95_ms),
            threshold: Some(config.latency_p95_ms),
            message: format!(
                "p95 latency {} ms is above the {} ms target (p99 {} ms, {} requests)",
                r4(l.p95_ms),
                config.latency_p95_ms,
                r4(l.p99_ms),
                l.count
            ),
        });
    }

    let (error_rate, degraded_rate) = if input.requests == 0 {
        findings.push(SignalFinding {
            check: SignalCheck::NoTraffic,
            value: Some(0.0),
            threshold: None,
            message: "no traffic: no request in the window; is the service reachable?".to_string(),
        });
        (None, None)
    } else {
        let n = input.requests as f64;
        (
            input.errors.map(|e| e as f64 / n),
            Some(input.degraded as f64 / n),
        )
    };
    if let Some(r) = error_rate
        && r > config.error_rate
    {
        findings.push(SignalFinding {
            check: SignalCheck::ErrorRate,
            value: Some(r),
            threshold: Some(config.error_rate),
            message: format!(
                "{} of {} requests failed ({}), above the limit of {}",
                errors,
                input.requests,
                r4(r),
                config.error_rate
            ),
        });
    }

    let jobs = input.jobs_succeeded + input.jobs_failed;
    let job_success_rate = if jobs == 0 {
        notes.push("no job ran in the window; no job success rate".to_string());
        None
    } else {
        Some(input.jobs_succeeded as f64 / jobs as f64)
    };
    if let Some(r) = job_success_rate
        && r < config.job_success_rate
    {
        findings.push(SignalFinding {
            check: SignalCheck::JobSuccessRate,
            value: Some(r),
            threshold: Some(config.job_success_rate),
            message: format!(
                "{} of {jobs} jobs failed: success rate {} is below {}",
                input.jobs_failed,
                r4(r),
                config.job_success_rate
            ),
        });
    }

    let name = config.kpi.name.clone();
    let value = match name.as_str() {
        "decline_rate" | "approval_rate" if input.decisions_total == 0 => {
            notes.push(format!("no decisions in the window; no {name}"));
            None
        }
        "decline_rate" => Some(input.decisions_positive as f64 / input.decisions_total as f64),
        "approval_rate" => Some(
            (input.decisions_total - input.decisions_positive) as f64
                / input.decisions_total as f64,
        ),
        _ => {
            if input.kpi_value.is_none() {
                notes.push(format!("no value given for the KPI '{name}'"));
            }
            input.kpi_value
        }
    };
    let relative_change = match (value, input.kpi_baseline) {
        (Some(v), Some(b)) if b != 0.0 => Some((v - b) / b.abs()),
        (Some(_), Some(_)) => {
            notes.push(format!("the baseline {name} is 0; no relative change"));
            None
        }
        (Some(_), None) => {
            notes.push(format!("no baseline for {name}; no relative change"));
            None
        }
        (None, _) => None,
    };
    if let (Some(c), Some(v), Some(b)) = (relative_change, value, input.kpi_baseline) {
        let limit = config.kpi.relative_drop;
        let broken = match config.kpi.direction {
            Direction::Drop => -c > limit,
            Direction::Rise => c > limit,
            Direction::Both => c.abs() > limit,
        };
        if broken {
            findings.push(SignalFinding {
                check: SignalCheck::Kpi,
                value: Some(c),
                threshold: Some(limit),
                message: format!(
                    "{name} {} against {} on the baseline: {} {}%, more than the tolerated {}%",
                    r4(v),
                    r4(b),
                    if c < 0.0 { "down" } else { "up" },
                    r4(c.abs() * 100.0),
                    r4(limit * 100.0)
                ),
            });
        }
    }

    let ok = findings.is_empty();
    Ok(SignalsReport {
        requests: input.requests,
        latency,
        error_rate,
        degraded_rate,
        job_success_rate,
        kpi: Kpi {
            name,
            value,
            baseline: input.kpi_baseline,
            relative_change,
        },
        findings,
        notes,
        ok,
    })
}
