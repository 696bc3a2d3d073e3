//! `--retain-days N`: bounded state for jobs that run for years.
//!
//! The dataflow's timestamp is an ingest time `u64` whose high 32 bits, with retention on, are
//! the day of the event-time watermark (the latest event time a worker has read, never more
//! than a day past the wall clock, so one bad timestamp cannot retire everything). Each event
//! is inserted together with its own retraction at the time its day leaves the window:
//!
//! ```text
//!   event of day d:   (+1 at now)   (-1 at day d + N + margin)
//! ```
//!
//! so every arrangement downstream forgets it once the frontier passes that day (differential
//! compacts updates that cancel), without the runtime keeping a copy. `margin` covers what
//! reads an event after its own day: a recommendation of day r reads the deliveries of its
//! window (`window_hours` back, so day r - 1 with the default 24 h), and each of those reads
//! its order's creation, possibly the day before (an order delivered after midnight).
//!
//! The sinks freeze rows instead of deleting them: a change at time `t` to a row whose day is
//! before `day(t) - N` is ignored, so the published lake and Postgres keep every retired day as
//! it was last published. Rows of days inside the window are exact, as without retention. An
//! event that arrives after its day was retired changes nothing; it is counted
//! (`late_beyond_retention`) and stays in bronze.

use caspers_dataflows::time::{day_of, Day, Micros, MICROS_PER_DAY};

/// Bits of the ingest time below the watermark day: room for 4 G epochs per day.
const DAY_SHIFT: u32 = 32;

/// The retention window of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days kept exact behind the watermark (`--retain-days`).
    pub days: u32,
    /// Extra days the input is kept beyond the window (see the module comment).
    pub margin: u32,
}

impl Retention {
    /// The window for `--retain-days days` with a refund window of `window_hours`.
    pub fn new(days: u32, window_hours: i64) -> Retention {
        // Whole days the refund window spans, rounded up.
        let window_days = u32::try_from((window_hours.max(1) + 23) / 24).unwrap_or(u32::MAX);
        Retention {
            days,
            margin: window_days.saturating_add(2),
        }
    }

    /// The least ingest time whose watermark is `day`.
    pub fn time_of_day(day: Day) -> u64 {
        u64::try_from(day.max(0)).unwrap_or(0) << DAY_SHIFT
    }

    /// The watermark day of an ingest time.
    pub fn day_of_time(time: u64) -> Day {
        Day::try_from(time >> DAY_SHIFT).unwrap_or(Day::MAX)
    }

    /// When an event of day `day` leaves the input.
    pub fn expiry(&self, day: Day) -> u64 {
        let last = i64::from(day.max(0)) + i64::from(self.days) + i64::from(self.margin);
        Self::time_of_day(Day::try_from(last).unwrap_or(Day::MAX))
    }

    /// The first day still inside the window at ingest time `time`.
    pub fn cutoff(&self, time: u64) -> Day {
        Self::day_of_time(time).saturating_sub(Day::try_from(self.days).unwrap_or(Day::MAX))
    }

    /// Whether a change at `time` to a row of `day` is to be ignored (the row is retired).
    pub fn frozen(&self, day: Day, time: u64) -> bool {
        day < self.cutoff(time)
    }

    /// The watermark an event time moves a worker to: its day, but never past tomorrow by the
    /// wall clock, so a record dated 2099 does not retire every day before it.
    pub fn watermark_day(ts: Micros, now: Micros) -> Day {
        day_of(ts.min(now.saturating_add(MICROS_PER_DAY)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_retracted_only_after_every_row_reading_it_is_frozen() {
        let r = Retention::new(7, 24);
        assert_eq!(r.margin, 3);
        let d = 20_000;
        let gone = r.expiry(d);
        // An order created on day d is delivered on d + 1 at the latest; its delivery sits in
        // the 24 h windows of recommendations up to day d + 2. All of them are frozen by then.
        assert!(r.frozen(d, gone) && r.frozen(d + 1, gone) && r.frozen(d + 2, gone));
        assert!(!r.frozen(d + 3, gone));
        // Just before, day d + 2 is still live.
        assert!(!r.frozen(d + 2, gone - 1));
        assert_eq!(Retention::day_of_time(Retention::time_of_day(d) + 5), d);
    }

    #[test]
    fn longer_refund_windows_keep_more_input() {
        assert_eq!(Retention::new(1, 25).margin, 4);
        assert_eq!(Retention::new(1, 48).margin, 4);
        assert_eq!(Retention::new(1, 0).margin, 3);
    }

    #[test]
    fn the_watermark_never_runs_past_tomorrow() {
        let now = 20_000 * MICROS_PER_DAY;
        assert_eq!(Retention::watermark_day(now * 2, now), 20_001);
        assert_eq!(Retention::watermark_day(now - 1, now), 19_999);
    }
}
