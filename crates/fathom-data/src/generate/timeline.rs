//! Transaction timestamps: a weekly-periodic arrival intensity (quiet nights,
//! busy evenings, livelier weekends) and its inverse, so that chunk `i`
//! receives the `i`-th slice of the expected transaction volume and the
//! hour-of-day mix is realistic whatever the chunk size.

use fathom_core::time::{MICROS_PER_DAY, MICROS_PER_SECOND, day_of_week, hour_of_day};

const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_WEEK: i64 = 7 * MICROS_PER_DAY;
/// 1970-01-05T00:00:00Z, a Monday: hour-of-week 0 is Monday 00:00 UTC.
const MONDAY_ZERO: i64 = 4 * MICROS_PER_DAY;

/// Relative arrival intensity by hour of day (UTC).
pub(crate) const HOUR_WEIGHT: [f64; 24] = [
    0.32, 0.22, 0.16, 0.13, 0.13, 0.19, 0.38, 0.68, 0.98, 1.18, 1.30, 1.42, 1.58, 1.52, 1.40, 1.36,
    1.42, 1.52, 1.62, 1.56, 1.36, 1.12, 0.82, 0.55,
];

/// Relative arrival intensity by day of week, Monday first.
const DAY_WEIGHT: [f64; 7] = [0.94, 0.95, 0.98, 1.0, 1.1, 1.16, 0.87];

/// A generated timestamp with its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instant {
    /// Microseconds since the epoch, a whole second.
    pub micros: i64,
    /// Hour of day, UTC.
    pub hour: u32,
    /// Day of week, Monday = 0.
    pub day_of_week: u32,
}

/// Maps quantiles of expected volume in `[start, end)` to timestamps.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    start: i64,
    end: i64,
    /// Week (since `MONDAY_ZERO`) holding `start`.
    base_week: i64,
    /// Intensity of each hour of the week.
    weight: [f64; 168],
    /// Cumulative intensity at the start of each hour of the week; `[168]`
    /// is the intensity of a whole week.
    cumulative: [f64; 169],
    /// Cumulative intensity at `start` and `end`, relative to `base_week`.
    y_start: f64,
    y_end: f64,
}

impl Timeline {
    /// The timeline of `[start, end)`; `end > start`.
    pub(crate) fn new(start: i64, end: i64) -> Self {
        let mut weight = [0.0; 168];
        let mut cumulative = [0.0; 169];
        for k in 0..168 {
            weight[k] = DAY_WEIGHT[k / 24] * HOUR_WEIGHT[k % 24];
            cumulative[k + 1] = cumulative[k] + weight[k];
        }
        let base_week = (start - MONDAY_ZERO).div_euclid(MICROS_PER_WEEK);
        let mut tl = Timeline {
            start,
            end,
            base_week,
            weight,
            cumulative,
            y_start: 0.0,
            y_end: 0.0,
        };
        tl.y_start = tl.intensity_before(start);
        tl.y_end = tl.intensity_before(end);
        tl
    }

    /// Cumulative intensity from the start of `base_week` to `micros`.
    fn intensity_before(&self, micros: i64) -> f64 {
        let x = micros - MONDAY_ZERO;
        let week = x.div_euclid(MICROS_PER_WEEK) - self.base_week;
        let rem = x.rem_euclid(MICROS_PER_WEEK);
        let k = (rem / MICROS_PER_HOUR) as usize;
        let frac = (rem % MICROS_PER_HOUR) as f64 / MICROS_PER_HOUR as f64;
        week as f64 * self.cumulative[168] + self.cumulative[k] + frac * self.weight[k]
    }

    /// The timestamp (whole seconds, clamped into `[start, end)`) at which
    /// the fraction `q ∈ [0, 1]` of the window's expected volume has passed.
    /// Non-decreasing in `q`. (The generator walks with a [`Cursor`]; this
    /// is the reference it is tested against.)
    #[cfg(test)]
    pub(crate) fn at_quantile(&self, q: f64) -> Instant {
        let (week, r) = self.locate(q);
        let k = (self.cumulative.partition_point(|&c| c <= r) - 1).min(167);
        self.instant(week, r, k)
    }

    /// A cursor for non-decreasing quantiles: the same instants as
    /// `at_quantile`, found by walking forwards hour by hour.
    pub(crate) fn cursor(&self) -> Cursor<'_> {
        Cursor {
            timeline: self,
            week: f64::NAN,
            hour: 0,
        }
    }

    /// The week (relative to `base_week`) holding quantile `q`, and the
    /// cumulative intensity reached within that week.
    #[inline]
    fn locate(&self, q: f64) -> (f64, f64) {
        let y = self.y_start + (self.y_end - self.y_start) * q;
        let per_week = self.cumulative[168];
        let week = (y / per_week).floor();
        (week, (y - week * per_week).clamp(0.0, per_week))
    }

    /// The instant at intensity `r` into hour `k` of `week`.
    #[inline]
    fn instant(&self, week: f64, r: f64, k: usize) -> Instant {
        let frac = ((r - self.cumulative[k]) / self.weight[k]).clamp(0.0, 1.0);
        // Whole seconds into the hour (frac < 1 up to rounding).
        let second = ((frac * 3_600.0) as i64).min(3_599);
        let micros = MONDAY_ZERO
            + (self.base_week + week as i64) * MICROS_PER_WEEK
            + k as i64 * MICROS_PER_HOUR
            + second * MICROS_PER_SECOND;
        let clamped = micros.clamp(self.start, self.end - 1);
        if clamped == micros {
            Instant {
                micros,
                hour: (k % 24) as u32,
                day_of_week: (k / 24) as u32,
            }
        } else {
            Instant {
                micros: clamped,
                hour: hour_of_day(clamped),
                day_of_week: day_of_week(clamped),
            }
        }
    }

    /// Position of `micros` in the window, in `[0, 1)`.
    #[inline]
    pub(crate) fn position(&self, micros: i64) -> f64 {
        ((micros - self.start) as f64 / (self.end - self.start) as f64).clamp(0.0, 0.999_999_999)
    }
}

/// Walks a [`Timeline`] forwards; see [`Timeline::cursor`].
pub(crate) struct Cursor<'a> {
    timeline: &'a Timeline,
    week: f64,
    hour: usize,
}

impl Cursor<'_> {
    /// The timestamp (whole seconds, clamped into `[start, end)`) at which
    /// the fraction `q ∈ [0, 1]` of the window's expected volume has passed;
    /// `q` must be no smaller than at the previous call.
    #[inline]
    pub(crate) fn at_quantile(&mut self, q: f64) -> Instant {
        let tl = self.timeline;
        let (week, r) = tl.locate(q);
        if week != self.week {
            self.week = week;
            self.hour = 0;
        }
        while self.hour < 167 && tl.cumulative[self.hour + 1] <= r {
            self.hour += 1;
        }
        tl.instant(week, r, self.hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fathom_core::time::days_from_civil;

    #[test]
    fn quantiles_are_monotone_and_follow_the_hourly_intensity() {
        let start = days_from_civil(2024, 1, 1) * MICROS_PER_DAY + 1_234_567;
        let tl = Timeline::new(start, start + 14 * MICROS_PER_DAY);
        let mut last = i64::MIN;
        let mut by_hour = [0usize; 24];
        let n = 100_000;
        let mut cursor = tl.cursor();
        for i in 0..=n {
            let at = tl.at_quantile(i as f64 / n as f64);
            assert_eq!(at, cursor.at_quantile(i as f64 / n as f64));
            let t = at.micros;
            assert!(t >= last && t >= start && t < start + 14 * MICROS_PER_DAY);
            assert_eq!((at.hour, at.day_of_week), (hour_of_day(t), day_of_week(t)));
            last = t;
            by_hour[at.hour as usize] += 1;
        }
        // Noon is far busier than 3 am.
        assert!(by_hour[12] > 8 * by_hour[3], "{by_hour:?}");
        assert!((tl.position(start + 7 * MICROS_PER_DAY) - 0.5).abs() < 1e-9);
    }
}
