//! Cron schedules (UTC) and what is due after downtime.
//!
//! [`due`] is a pure function: given the last occurrence a pipeline has a
//! run for and the time now, it lists the occurrences to run now and those
//! to record as skipped, by the schedule's catch-up policy.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

use crate::date::LogicalDate;
use crate::error::PipelineError;

/// Most missed occurrences looked at after downtime; older ones are
/// neither run nor recorded.
pub const MAX_CATCH_UP: usize = 1000;

/// How late an occurrence may be found and still count as on time (for
/// [`CatchUp::None`]).
pub const ON_TIME: Duration = Duration::minutes(5);

/// What to do with the occurrences missed while no scheduler ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Run only the latest missed occurrence; record the others as
    /// skipped (the default: the latest data matters, and one run covers
    /// it).
    #[default]
    Latest,
    /// Run every missed occurrence, oldest first.
    All,
    /// Run none of them (only an occurrence found on time runs); record
    /// them as skipped and wait for the next.
    None,
}

impl CatchUp {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
            CatchUp::None => "none",
        }
    }
}

/// When a pipeline runs: a cron expression in UTC and a catch-up policy.
#[derive(Debug, Clone)]
pub struct Schedule {
    pipeline: String,
    expression: String,
    cron: Cron,
    catch_up: CatchUp,
    daily: bool,
}

impl Schedule {
    /// Reads `expression`: five fields (minute hour day-of-month month
    /// day-of-week), with lists, ranges, steps, names (`MON`, `JAN`) and
    /// the nicknames `@hourly`, `@daily`, `@weekly`, `@monthly`; times in
    /// UTC.
    pub fn new(
        pipeline: impl Into<String>,
        expression: &str,
        catch_up: CatchUp,
    ) -> Result<Self, PipelineError> {
        let pipeline = pipeline.into();
        let bad = |detail: String| PipelineError::BadCron {
            pipeline: pipeline.clone(),
            expression: expression.to_owned(),
            detail,
        };
        let trimmed = expression.trim();
        if !trimmed.starts_with('@') && trimmed.split_whitespace().count() != 5 {
            return Err(bad(format!(
                "{} fields",
                trimmed.split_whitespace().count()
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(trimmed)
            .map_err(|e| bad(e.to_string()))?;
        // At most once a day when it fires at one minute of one hour.
        let p = &cron.pattern;
        let daily = p.hours.values().len() == 1
            && p.minutes.values().len() == 1
            && p.seconds.values().len() <= 1;
        // A pattern that never matches (30 February) is refused now, not
        // at the first tick.
        cron.find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, false)
            .map_err(|e| bad(format!("it never fires: {e}")))?;
        Ok(Schedule {
            pipeline,
            expression: trimmed.to_owned(),
            cron,
            catch_up,
            daily,
        })
    }

    /// The pipeline it runs.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The cron expression.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The catch-up policy.
    pub fn catch_up(&self) -> CatchUp {
        self.catch_up
    }

    /// The logical date of the occurrence `at`: its day for schedules
    /// that fire at most once a day, else the time itself.
    pub fn logical_date(&self, at: DateTime<Utc>) -> LogicalDate {
        if self.daily {
            LogicalDate::day_of(at)
        } else {
            LogicalDate::time(at)
        }
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The latest occurrence at or before `t` (for a run by hand of the
    /// current period: its logical date is `logical_date` of this).
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.at_or_before(t, true)
    }

    fn at_or_before(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t, inclusive).ok()
    }
}

/// What a schedule has due at a given time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// Occurrences to run now, oldest first.
    pub run: Vec<DateTime<Utc>>,
    /// Missed occurrences to record as skipped, oldest first.
    pub skipped: Vec<DateTime<Utc>>,
    /// Whether more occurrences were missed than [`MAX_CATCH_UP`] (the
    /// oldest are left out of both lists).
    pub truncated: bool,
    /// The first occurrence after now.
    pub next: Option<DateTime<Utc>>,
}

/// What `schedule` has due at `now`, given `last`, the latest occurrence
/// its pipeline has a run for (none: nothing before now is due).
///
/// The missed occurrences are those after `last` up to `now`. `latest`
/// runs the newest of them and skips the rest; `all` runs them all;
/// `none` runs only the newest, and only if it is at most [`ON_TIME`]
/// old, and skips the rest.
pub fn due(schedule: &Schedule, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Due {
    let next = schedule.next_after(now);
    let Some(last) = last else {
        return Due {
            next,
            ..Due::default()
        };
    };
    // Walk back from now to `last`, keeping at most MAX_CATCH_UP.
    let mut missed = VecDeque::new();
    let mut truncated = false;
    let mut cursor = schedule.at_or_before(now, true);
    while let Some(t) = cursor {
        if t <= last {
            break;
        }
        if missed.len() == MAX_CATCH_UP {
            truncated = true;
            break;
        }
        missed.push_front(t);
        cursor = schedule.at_or_before(t, false);
    }
    let mut missed: Vec<DateTime<Utc>> = missed.into();
    let run = match schedule.catch_up() {
        CatchUp::All => std::mem::take(&mut missed),
        CatchUp::Latest => missed.pop().into_iter().collect(),
        CatchUp::None => match missed.last() {
            Some(&t) if now - t <= ON_TIME => {
                missed.pop();
                vec![t]
            }
            _ => Vec::new(),
        },
    };
    Due {
        run,
        skipped: missed,
        truncated,
        next,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    fn daily(catch_up: CatchUp) -> Schedule {
        Schedule::new("data", "0 2 * * *", catch_up).unwrap()
    }

    #[test]
    fn three_days_down_runs_the_latest_by_default() {
        // Last run for 1 March 02:00; back at noon on 4 March.
        let d = due(&daily(CatchUp::default()), Some(t(1, 2, 0)), t(4, 12, 0));
        assert_eq!(d.run, [t(4, 2, 0)]);
        assert_eq!(d.skipped, [t(2, 2, 0), t(3, 2, 0)]);
        assert_eq!(d.next, Some(t(5, 2, 0)));
        assert!(!d.truncated);
    }

    #[test]
    fn catch_up_all_runs_every_missed_date_in_order() {
        let d = due(&daily(CatchUp::All), Some(t(1, 2, 0)), t(4, 12, 0));
        assert_eq!(d.run, [t(2, 2, 0), t(3, 2, 0), t(4, 2, 0)]);
        assert!(d.skipped.is_empty());
        let s = daily(CatchUp::All);
        let dates: Vec<String> = d
            .run
            .iter()
            .map(|&x| s.logical_date(x).to_string())
            .collect();
        assert_eq!(dates, ["2026-03-02", "2026-03-03", "2026-03-04"]);
    }

    #[test]
    fn catch_up_none_waits_for_the_next() {
        let d = due(&daily(CatchUp::None), Some(t(1, 2, 0)), t(4, 12, 0));
        assert!(d.run.is_empty());
        assert_eq!(d.skipped, [t(2, 2, 0), t(3, 2, 0), t(4, 2, 0)]);
        assert_eq!(d.next, Some(t(5, 2, 0)));
        // On time (woken at 02:00:30 for 02:00): it runs.
        let on_time = t(5, 2, 0) + Duration::seconds(30);
        let d = due(&daily(CatchUp::None), Some(t(4, 2, 0)), on_time);
        assert_eq!(d.run, [t(5, 2, 0)]);
        assert!(d.skipped.is_empty());
    }

    #[test]
    fn nothing_is_due_between_occurrences_or_without_history() {
        let s = daily(CatchUp::All);
        // Exactly at the occurrence it is due; a second before, not.
        assert_eq!(due(&s, Some(t(1, 2, 0)), t(2, 2, 0)).run, [t(2, 2, 0)]);
        let before = t(2, 2, 0) - Duration::seconds(1);
        assert!(due(&s, Some(t(1, 2, 0)), before).run.is_empty());
        // Already run for the latest occurrence.
        assert!(due(&s, Some(t(2, 2, 0)), t(2, 23, 0)).run.is_empty());
        let d = due(&s, None, t(2, 23, 0));
        assert!(d.run.is_empty() && d.skipped.is_empty());
        assert_eq!(d.next, Some(t(3, 2, 0)));
    }

    #[test]
    fn hourly_schedules_name_runs_by_time_and_long_downtime_is_capped() {
        let s = Schedule::new("monitoring", "@hourly", CatchUp::All).unwrap();
        assert_eq!(
            s.logical_date(t(2, 14, 0)).to_string(),
            "2026-03-02T14:00:00Z"
        );
        let d = due(&s, Some(t(2, 10, 0)), t(2, 13, 30));
        assert_eq!(d.run, [t(2, 11, 0), t(2, 12, 0), t(2, 13, 0)]);
        // A year down: the newest MAX_CATCH_UP only.
        let year_ago = t(2, 10, 0) - Duration::days(365);
        let d = due(&s, Some(year_ago), t(2, 13, 30));
        assert!(d.truncated);
        assert_eq!(d.run.len(), MAX_CATCH_UP);
        assert_eq!(d.run.last(), Some(&t(2, 13, 0)));
        // Weekly on Sunday 03:00 is named by its day.
        let w = Schedule::new("training", "0 3 * * SUN", CatchUp::Latest).unwrap();
        let next = w.next_after(t(2, 0, 0)).unwrap();
        assert_eq!(next, t(8, 3, 0));
        assert_eq!(w.latest_at_or_before(t(8, 3, 0)), Some(t(8, 3, 0)));
        assert_eq!(w.latest_at_or_before(t(8, 2, 59)), Some(t(1, 3, 0)));
        assert_eq!(w.logical_date(next).to_string(), "2026-03-08");
    }

    #[test]
    fn bad_expressions_are_refused_with_an_example() {
        for bad in [
            "0 2 * *",
            "0 25 * * *",
            "every day",
            "0 0 30 2 *",
            "0 0 2 * * *",
        ] {
            let err = Schedule::new("data", bad, CatchUp::Latest).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("\"0 2 * * *\""), "{bad}: {text}");
            assert!(text.contains("pipeline 'data'"), "{bad}: {text}");
        }
    }
}
