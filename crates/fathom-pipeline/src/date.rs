//! Logical dates: the day (or, for schedules that run more than once a
//! day, the UTC time) a pipeline run is for. It names the run: one run per
//! pipeline and logical date.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::PipelineError;

/// The date or time a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogicalDate {
    /// A day (`YYYY-MM-DD`).
    Day(NaiveDate),
    /// A UTC time, whole seconds (`YYYY-MM-DDTHH:MM:SSZ`).
    Time(DateTime<Utc>),
}

impl LogicalDate {
    /// Reads `YYYY-MM-DD` or an RFC 3339 time (any offset; kept as UTC,
    /// whole seconds).
    pub fn parse(s: &str) -> Result<Self, PipelineError> {
        let t = s.trim();
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
            && t.len() == 10
        {
            return Ok(LogicalDate::Day(d));
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(LogicalDate::time(dt.with_timezone(&Utc)));
        }
        Err(PipelineError::BadLogicalDate {
            value: s.to_owned(),
        })
    }

    /// The time `t`, cut to whole seconds.
    pub fn time(t: DateTime<Utc>) -> Self {
        let secs = t.timestamp();
        LogicalDate::Time(DateTime::from_timestamp(secs, 0).unwrap_or(t))
    }

    /// The day of `t` (UTC).
    pub fn day_of(t: DateTime<Utc>) -> Self {
        LogicalDate::Day(t.date_naive())
    }

    /// When the logical date begins: the day's midnight UTC, or the time.
    pub fn start(&self) -> DateTime<Utc> {
        match self {
            LogicalDate::Day(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
            LogicalDate::Time(t) => *t,
        }
    }
}

impl std::fmt::Display for LogicalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogicalDate::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            LogicalDate::Time(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

impl std::str::FromStr for LogicalDate {
    type Err = PipelineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogicalDate::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_read_and_print_canonically() {
        let d = LogicalDate::parse("2026-03-02").unwrap();
        assert_eq!(d.to_string(), "2026-03-02");
        assert_eq!(d.start().to_rfc3339(), "2026-03-02T00:00:00+00:00");
        // Offsets become UTC; fractions of a second are dropped.
        let t = LogicalDate::parse("2026-03-02T16:00:00.75+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-03-02T14:00:00Z");
        assert_eq!(t, LogicalDate::parse(" 2026-03-02T14:00:00Z ").unwrap());
        for bad in [
            "2026-3-2",
            "2026-02-30",
            "yesterday",
            "",
            "2026-03-02 14:00",
        ] {
            let err = LogicalDate::parse(bad).unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD"), "{bad}: {err}");
        }
    }
}
