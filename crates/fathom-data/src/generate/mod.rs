//! The seeded synthetic card-transaction generator.
//!
//! [`Generator`] produces a realistic fraud-detection table of
//! [`Generator::columns`] — card payments with behavioural aggregates, device
//! and network signals, and an `is_fraud` label — in chunks that can be built
//! in any order and on any number of threads: chunk `i` is a function of the
//! configuration and `i` only. Chunks cover consecutive slices of the time
//! window, so timestamps are sorted within and across chunks, and every
//! categorical column of every chunk shares one dictionary, which makes
//! [`Frame::concat`] cheap.
//!
//! Fraud is a mixture of patterns (card testing, account takeover, skimmed
//! cards used in person, bust-out, and fraud that looks legitimate) with
//! thresholds and interactions that reward non-linear models, and some
//! legitimate behaviour looks suspicious (travellers, big planned purchases,
//! shoppers behind risky networks, commuters tapping many small payments).
//! A [`Scenario`] adds drift over the window.
//!
//! The columns, in order: `transaction_id` (unique), `card_id` (about one
//! card per 20 rows), `timestamp`, `amount`, `merchant_category`, `country`
//! (ISO code), `device_type`, `entry_mode`, `is_online`, `is_international`,
//! `hour` and `day_of_week` (UTC, Monday = 0), `distance_from_home` (km),
//! the card's recent activity (`transactions_1h`, `transactions_24h`,
//! `amount_sum_24h`, `avg_amount_30d`, `distinct_merchants_7d`,
//! `distinct_countries_30d`, `time_since_last_txn_min`,
//! `failed_attempts_24h`), the account (`card_age_days`, `customer_age`,
//! `credit_limit`, `utilization`, `chargebacks_365d`), online signals
//! (`ip_risk_score`, `email_age_days`, `is_3ds_authenticated`, `cvv_match`),
//! scores (`merchant_risk_score`, `velocity_score`) and the label `is_fraud`
//! (0/1). Only [`Generator::nullable_columns`] hold nulls: the network
//! signals of in-person payments, a few percent of devices, distances and
//! customer ages, and most online distances.
//!
//! ```
//! use fathom_data::generate::{GeneratorConfig, Scenario, generate_all};
//! let frame = generate_all(GeneratorConfig {
//!     rows: 10_000,
//!     scenario: Scenario::Sudden,
//!     ..GeneratorConfig::default()
//! })
//! .unwrap();
//! assert_eq!(frame.num_rows(), 10_000);
//! ```

mod columns;
mod distributions;
mod output;
mod scenario;
mod synth;
mod timeline;

pub use scenario::Scenario;

use fathom_core::time::MICROS_PER_DAY;
use fathom_core::{ColumnType, Frame};
use serde::{Deserialize, Serialize};

/// 2024-01-01T00:00:00Z in microseconds since the epoch.
const DEFAULT_START: i64 = 19_723 * MICROS_PER_DAY;

/// The longest window the generator accepts, in days (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Number of rows (transactions) in total.
    pub rows: u64,
    /// Seed: the same configuration and seed always give the same data.
    pub seed: u64,
    /// Expected share of fraudulent rows, in `(0, 0.5]`.
    pub fraud_rate: f64,
    /// Drift scenario over the window.
    pub scenario: Scenario,
    /// Start of the time window, microseconds since the Unix epoch.
    pub start: i64,
    /// Length of the time window in days.
    pub days: u32,
    /// Rows per chunk (the unit of parallel generation).
    pub chunk_rows: usize,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            rows: 100_000,
            seed: 42,
            fraud_rate: 0.015,
            scenario: Scenario::Baseline,
            start: DEFAULT_START,
            days: 90,
            chunk_rows: 65_536,
        }
    }
}

/// Why a generator could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// `fraud_rate` was not in `(0, 0.5]`.
    #[error(
        "fraud_rate must be greater than 0 and at most 0.5, got {0}: pass a share such as 0.015 for 1.5% fraud"
    )]
    FraudRate(f64),
    /// `rows` was zero.
    #[error("rows must be at least 1: ask for a positive number of rows, e.g. 100000")]
    NoRows,
    /// `chunk_rows` was zero.
    #[error(
        "chunk_rows must be at least 1: leave it at the default of 65536 or pass a positive size"
    )]
    NoChunkRows,
    /// `days` was zero.
    #[error("days must be at least 1: the time window needs one day or more, e.g. 90")]
    NoDays,
    /// `days` was larger than [`MAX_DAYS`].
    #[error("days must be at most 36500 (100 years), got {0}: pass a shorter window")]
    TooManyDays(u32),
    /// The window does not fit in the timestamp range.
    #[error(
        "the window of {days} days from start {start} ends past the largest timestamp: pass an earlier start"
    )]
    WindowOverflow {
        /// The configured start.
        start: i64,
        /// The configured length.
        days: u32,
    },
    /// A scenario name was not recognised.
    #[error("unknown scenario '{0}': valid scenarios are baseline, gradual, sudden, concept")]
    UnknownScenario(String),
}

/// A configured generator; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    ctx: synth::Context,
}

impl Generator {
    /// Checks `config` and prepares the generator.
    pub fn new(config: GeneratorConfig) -> Result<Self, GenerateError> {
        let rate = config.fraud_rate;
        if !(rate > 0.0 && rate <= 0.5) {
            return Err(GenerateError::FraudRate(rate));
        }
        if config.rows == 0 {
            return Err(GenerateError::NoRows);
        }
        if config.chunk_rows == 0 {
            return Err(GenerateError::NoChunkRows);
        }
        if config.days == 0 {
            return Err(GenerateError::NoDays);
        }
        if config.days > MAX_DAYS {
            return Err(GenerateError::TooManyDays(config.days));
        }
        if config
            .start
            .checked_add(i64::from(config.days) * MICROS_PER_DAY)
            .is_none()
        {
            return Err(GenerateError::WindowOverflow {
                start: config.start,
                days: config.days,
            });
        }
        let ctx = synth::Context::new(
            config.seed,
            config.scenario,
            config.rows,
            config.chunk_rows,
            config.fraud_rate,
            config.start,
            config.days,
        );
        Ok(Generator { config, ctx })
    }

    /// The configuration this generator was built from.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Number of chunks: `rows / chunk_rows`, rounded up.
    pub fn num_chunks(&self) -> usize {
        self.ctx.num_chunks()
    }

    /// Rows `index * chunk_rows ..` (at most `chunk_rows` of them), covering
    /// the `index`-th of consecutive slices of the time window that hold
    /// equal shares of the expected transaction volume. Depends only on the
    /// configuration and `index`. Panics if `index >= num_chunks()`.
    pub fn chunk(&self, index: usize) -> Frame {
        self.ctx.chunk(index)
    }

    /// The output columns, in order, with their types.
    pub fn columns() -> &'static [(&'static str, ColumnType)] {
        &columns::COLUMNS
    }

    /// The columns that may hold nulls; every other column never does.
    pub fn nullable_columns() -> &'static [&'static str] {
        &columns::NULLABLE
    }

    /// Every chunk, built in parallel on the current rayon pool, in one
    /// frame: the same as [`Frame::concat`] of the chunks in order, but
    /// written in place without copying.
    pub fn generate_all(&self) -> Frame {
        self.ctx.generate_all()
    }
}

/// Generates the whole table for `config` (see [`Generator::generate_all`]).
pub fn generate_all(config: GeneratorConfig) -> Result<Frame, GenerateError> {
    Ok(Generator::new(config)?.generate_all())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fathom_core::time::{day_of_week, hour_of_day};
    use fathom_core::{Column, ColumnData};

    fn config(rows: u64, scenario: Scenario) -> GeneratorConfig {
        GeneratorConfig {
            rows,
            seed: 7,
            scenario,
            chunk_rows: 8_192,
            ..GeneratorConfig::default()
        }
    }

    fn numbers<'a>(frame: &'a Frame, name: &str) -> &'a [f64] {
        match &frame.column(name).unwrap().data {
            ColumnData::Numeric(v) => v,
            other => panic!("{name} is {:?}", other.column_type()),
        }
    }

    fn bools<'a>(frame: &'a Frame, name: &str) -> &'a [bool] {
        match &frame.column(name).unwrap().data {
            ColumnData::Bool(v) => v,
            other => panic!("{name} is {:?}", other.column_type()),
        }
    }

    fn mean(v: impl Iterator<Item = f64>) -> f64 {
        let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
        s / n as f64
    }

    #[test]
    fn same_seed_same_data_whatever_the_threads_or_order() {
        let cfg = config(30_000, Scenario::Concept);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| generate_all(cfg.clone()).unwrap())
        };
        let one = run(1);
        assert!(identical(&one, &run(2)));
        assert_eq!(one.num_rows(), 30_000);

        let g = Generator::new(cfg.clone()).unwrap();
        assert_eq!(g.num_chunks(), 4);
        let backwards: Vec<Frame> = (0..4).rev().map(|i| g.chunk(i)).collect();
        assert!(identical(&backwards[0], &g.chunk(3)));
        assert!(identical(&backwards[3], &one.slice(0, 8_192)));
        assert!(identical(
            &backwards[0],
            &one.slice(3 * 8_192, 30_000 - 3 * 8_192)
        ));

        let other = generate_all(GeneratorConfig { seed: 8, ..cfg }).unwrap();
        assert!(!identical(&one, &other));
        assert_ne!(numbers(&one, "amount"), numbers(&other, "amount"));
    }

    /// Bit-for-bit equality (`NaN` placeholders of nulls compare equal).
    fn identical(a: &Frame, b: &Frame) -> bool {
        let bits = |f: &Frame| -> Vec<(String, Option<fathom_core::Bitmap>, Vec<u64>)> {
            f.columns()
                .iter()
                .map(|c| {
                    let values = match &c.data {
                        ColumnData::Numeric(v) => v.iter().map(|x| x.to_bits()).collect(),
                        ColumnData::Categorical(k) => {
                            k.codes.iter().map(|&x| u64::from(x)).collect()
                        }
                        ColumnData::Bool(v) => v.iter().map(|&x| u64::from(x)).collect(),
                        ColumnData::Timestamp(v) => v.iter().map(|&x| x as u64).collect(),
                    };
                    (c.name.clone(), c.validity.clone(), values)
                })
                .collect()
        };
        let (x, y) = (bits(a), bits(b));
        for (cx, cy) in x.iter().zip(&y) {
            if cx != cy {
                eprintln!("column {} differs (validity equal: {})", cx.0, cx.1 == cy.1);
            }
        }
        x == y
    }

    #[test]
    fn columns_types_and_invariants() {
        let frame = generate_all(config(100_000, Scenario::Baseline)).unwrap();
        let declared: Vec<(String, ColumnType)> = Generator::columns()
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect();
        let actual: Vec<(String, ColumnType)> = frame
            .columns()
            .iter()
            .map(|c| (c.name.clone(), c.column_type()))
            .collect();
        assert_eq!(declared, actual);

        // Fraud rate: 1.5% of 100k has a standard deviation of about 0.04%.
        let fraud = mean(numbers(&frame, "is_fraud").iter().copied());
        assert!((fraud - 0.015).abs() < 0.0015, "fraud rate {fraud}");
        assert!(
            numbers(&frame, "is_fraud")
                .iter()
                .all(|&y| y == 0.0 || y == 1.0)
        );

        // Nulls only where documented, and each documented column has some.
        for c in frame.columns() {
            let nullable = Generator::nullable_columns().contains(&c.name.as_str());
            assert_eq!(nullable, c.null_count() > 0, "nulls of {}", c.name);
        }
        let share = |name: &str| frame.column(name).unwrap().null_count() as f64 / 1e5;
        assert!((0.01..0.04).contains(&share("device_type")));
        assert!((0.01..0.03).contains(&share("customer_age")));

        let ColumnData::Timestamp(ts) = &frame.column("timestamp").unwrap().data else {
            panic!("timestamp is not a timestamp")
        };
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "timestamps sorted");
        let cfg = GeneratorConfig::default();
        assert!(ts[0] >= cfg.start && ts[ts.len() - 1] < cfg.start + 90 * MICROS_PER_DAY);
        let hour = numbers(&frame, "hour");
        let dow = numbers(&frame, "day_of_week");
        for (i, &t) in ts.iter().enumerate() {
            assert_eq!(hour[i], f64::from(hour_of_day(t)));
            assert_eq!(dow[i], f64::from(day_of_week(t)));
        }

        let ids = numbers(&frame, "transaction_id");
        assert!(
            ids.iter()
                .enumerate()
                .all(|(i, &id)| id == (i + 1_000_000) as f64)
        );
        let t1 = numbers(&frame, "transactions_1h");
        let t24 = numbers(&frame, "transactions_24h");
        assert!(t1.iter().zip(t24).all(|(a, b)| *a >= 1.0 && b >= a));
        let amount = numbers(&frame, "amount");
        let sum24 = numbers(&frame, "amount_sum_24h");
        assert!(amount.iter().zip(sum24).all(|(a, s)| *a > 0.0 && s >= a));
        assert!(amount.iter().all(|a| (a * 100.0).round() / 100.0 == *a));

        let in_range = |name: &str, lo: f64, hi: f64| {
            let c = frame.column(name).unwrap();
            (0..c.len())
                .filter_map(|i| c.f64_at(i))
                .all(|v| (lo..=hi).contains(&v) && v.fract() == 0.0 || lo == hi)
        };
        assert!(in_range("customer_age", 18.0, 95.0));
        assert!(in_range("hour", 0.0, 23.0));
        assert!(in_range("card_age_days", 1.0, 1e6));
        let util = numbers(&frame, "utilization");
        assert!(util.iter().all(|u| (0.0..=1.2).contains(u)));
        for name in ["ip_risk_score", "merchant_risk_score", "velocity_score"] {
            let c = frame.column(name).unwrap();
            assert!(
                (0..c.len())
                    .filter_map(|i| c.f64_at(i))
                    .all(|v| (0.0..=1.0).contains(&v))
            );
        }
        // In-person rows have no network signals, online rows always do.
        let online = bools(&frame, "is_online");
        let ip = frame.column("ip_risk_score").unwrap();
        let email = frame.column("email_age_days").unwrap();
        assert!(
            (0..online.len())
                .all(|i| online[i] == ip.is_valid(i) && online[i] == email.is_valid(i))
        );
        let online_share = mean(online.iter().map(|&b| f64::from(u8::from(b))));
        assert!((0.25..0.4).contains(&online_share), "online {online_share}");

        // Distinct cards: about rows / 20, at least 1000.
        let mut cards: Vec<u64> = numbers(&frame, "card_id")
            .iter()
            .map(|&c| c as u64)
            .collect();
        cards.sort_unstable();
        cards.dedup();
        assert!(
            (3_000..=5_000).contains(&cards.len()),
            "{} cards",
            cards.len()
        );

        // Plausible correlations.
        let corr = |a: &[f64], b: &[f64]| {
            let (ma, mb) = (mean(a.iter().copied()), mean(b.iter().copied()));
            let cov = mean(a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)));
            let va = mean(a.iter().map(|x| (x - ma).powi(2)));
            let vb = mean(b.iter().map(|y| (y - mb).powi(2)));
            cov / (va * vb).sqrt()
        };
        assert!(corr(t24, sum24) > 0.2);
        assert!(corr(numbers(&frame, "credit_limit"), util) < -0.1);
        let age = frame.column("customer_age").unwrap();
        let card_age = numbers(&frame, "card_age_days");
        let (a, c): (Vec<f64>, Vec<f64>) = (0..age.len())
            .filter_map(|i| age.f64_at(i).map(|x| (x, card_age[i])))
            .unzip();
        assert!(corr(&a, &c) > 0.3);
    }

    #[test]
    fn dictionaries_are_shared_and_hold_every_level() {
        let g = Generator::new(config(20_000, Scenario::Baseline)).unwrap();
        let (a, b) = (g.chunk(0), g.chunk(1));
        for name in ["merchant_category", "country", "device_type", "entry_mode"] {
            let (ColumnData::Categorical(x), ColumnData::Categorical(y)) =
                (&a.column(name).unwrap().data, &b.column(name).unwrap().data)
            else {
                panic!("{name} is not categorical")
            };
            assert!(std::sync::Arc::ptr_eq(&x.dictionary, &y.dictionary));
        }
        let all = g.generate_all();
        let Column {
            data: ColumnData::Categorical(mc),
            ..
        } = all.column("merchant_category").unwrap()
        else {
            panic!()
        };
        assert_eq!(mc.dictionary.len(), 17);
        assert!(mc.dictionary.iter().any(|l| l == "crypto_exchange"));
    }

    /// Share of rows whose `merchant_category` is one of `levels`.
    fn category_share(frame: &Frame, rows: std::ops::Range<usize>, levels: &[&str]) -> f64 {
        let c = frame.column("merchant_category").unwrap();
        let n = rows.len() as f64;
        rows.filter(|&i| levels.contains(&c.display_value(i).as_str()))
            .count() as f64
            / n
    }

    #[test]
    fn gradual_inflates_amounts_and_grows_new_categories() {
        let frame = generate_all(config(60_000, Scenario::Gradual)).unwrap();
        let amount = numbers(&frame, "amount");
        let tenth = 6_000;
        let first = mean(amount[..tenth].iter().copied());
        let last = mean(amount[amount.len() - tenth..].iter().copied());
        assert!(last > first * 1.15, "first {first}, last {last}");
        let new = ["crypto_exchange", "gift_cards"];
        assert!(category_share(&frame, 0..600, &new) < 0.002);
        let end = category_share(&frame, 60_000 - tenth..60_000, &new);
        assert!(
            (0.03..0.1).contains(&end),
            "new categories at the end: {end}"
        );
        let base = generate_all(config(60_000, Scenario::Baseline)).unwrap();
        assert_eq!(category_share(&base, 0..60_000, &new), 0.0);
    }

    #[test]
    fn sudden_doubles_the_online_share() {
        let frame = generate_all(config(40_000, Scenario::Sudden)).unwrap();
        let online = bools(&frame, "is_online");
        let share = |r: &[bool]| mean(r.iter().map(|&b| f64::from(u8::from(b))));
        let (before, after) = (share(&online[..18_000]), share(&online[22_000..]));
        assert!(
            before < 0.38 && after > 0.55,
            "before {before}, after {after}"
        );
    }

    #[test]
    fn concept_keeps_inputs_but_moves_the_label() {
        // Fraud among small online payments made in quick succession.
        let frame = generate_all(config(100_000, Scenario::Concept)).unwrap();
        let online = bools(&frame, "is_online");
        let amount = numbers(&frame, "amount");
        let t1 = numbers(&frame, "transactions_1h");
        let y = numbers(&frame, "is_fraud");
        let stats = |rows: std::ops::Range<usize>| {
            let hits: Vec<usize> = rows
                .filter(|&i| online[i] && amount[i] < 5.0 && t1[i] >= 3.0)
                .collect();
            (hits.len(), mean(hits.iter().map(|&i| y[i])))
        };
        let (n_before, fraud_before) = stats(0..45_000);
        let (n_after, fraud_after) = stats(55_000..100_000);
        assert!(
            fraud_before > 0.8 && fraud_after < 0.2,
            "{fraud_before} {fraud_after}"
        );
        let ratio = n_after as f64 / n_before as f64;
        assert!((0.7..1.4).contains(&ratio), "{n_before} vs {n_after}");
    }

    #[test]
    fn bad_configs_explain_themselves() {
        let err = |cfg: GeneratorConfig| Generator::new(cfg).unwrap_err().to_string();
        let ok = GeneratorConfig::default();
        for rate in [0.0, -0.1, 0.51, f64::NAN] {
            let e = err(GeneratorConfig {
                fraud_rate: rate,
                ..ok.clone()
            });
            assert!(
                e.starts_with("fraud_rate must be greater than 0 and at most 0.5, got "),
                "{e}"
            );
            assert!(
                e.ends_with("pass a share such as 0.015 for 1.5% fraud"),
                "{e}"
            );
        }
        assert_eq!(
            err(GeneratorConfig {
                rows: 0,
                ..ok.clone()
            }),
            "rows must be at least 1: ask for a positive number of rows, e.g. 100000"
        );
        assert_eq!(
            err(GeneratorConfig {
                chunk_rows: 0,
                ..ok.clone()
            }),
            "chunk_rows must be at least 1: leave it at the default of 65536 or pass a positive size"
        );
        assert_eq!(
            err(GeneratorConfig {
                days: 0,
                ..ok.clone()
            }),
            "days must be at least 1: the time window needs one day or more, e.g. 90"
        );
        assert!(
            err(GeneratorConfig {
                days: 40_000,
                ..ok.clone()
            })
            .contains("at most 36500")
        );
        assert!(
            err(GeneratorConfig {
                start: i64::MAX - 10,
                ..ok.clone()
            })
            .contains("pass an earlier start")
        );
        assert!(
            Generator::new(GeneratorConfig {
                fraud_rate: 0.5,
                ..ok
            })
            .is_ok()
        );
    }

    #[test]
    fn the_fraud_rate_follows_the_setting() {
        // 60k rows: the share's standard deviation is at most 0.2 points.
        for rate in [0.005, 0.05, 0.2] {
            let frame = generate_all(GeneratorConfig {
                fraud_rate: rate,
                ..config(60_000, Scenario::Baseline)
            })
            .unwrap();
            let fraud = mean(numbers(&frame, "is_fraud").iter().copied());
            let sd = (rate * (1.0 - rate) / 60_000.0).sqrt();
            assert!((fraud - rate).abs() < 5.0 * sd, "asked {rate}, got {fraud}");
        }
    }

    #[test]
    fn config_reads_from_json_with_defaults() {
        let cfg: GeneratorConfig =
            serde_json::from_str(r#"{"rows": 5, "scenario": "sudden"}"#).unwrap();
        assert_eq!(cfg.rows, 5);
        assert_eq!(cfg.scenario, Scenario::Sudden);
        assert_eq!(cfg.fraud_rate, 0.015);
        assert_eq!(cfg.days, 90);
        assert_eq!(
            fathom_core::time::format_micros(cfg.start),
            "2024-01-01T00:00:00Z"
        );
        let tiny = generate_all(GeneratorConfig { rows: 5, ..cfg }).unwrap();
        assert_eq!(tiny.num_rows(), 5);
    }
}
