//! Cron and time-zone math: a parsed `spec.schedule` in `spec.timeZone`, and the slots it
//! makes around an instant (a DST gap time has none, a fold time has two).

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::InvalidSchedule;

/// How far a civil time can be from its instant across a transition; time-zone offset changes
/// are far smaller (at most a few hours; DST is one hour, Lord Howe half an hour).
const TRANSITION_WINDOW: SignedDuration = SignedDuration::from_hours(3);
/// Upper bound on cron candidates examined for one answer.
const MAX_STEPS: usize = 2000;

/// A parsed `spec.schedule` in `spec.timeZone`.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    pub(super) tz: TimeZone,
}

/// Parses five cron fields (or `@hourly`, `@daily`, `@weekly`, `@monthly`) and an IANA time
/// zone.
pub fn parse_schedule(expr: &str, time_zone: &str) -> Result<CronSchedule, InvalidSchedule> {
    let expr = expr.trim();
    let macro_ok = matches!(expr, "@hourly" | "@daily" | "@weekly" | "@monthly");
    if expr.starts_with('@') && !macro_ok {
        return Err(InvalidSchedule(format!(
            "spec.schedule {expr:?}: use five cron fields or @hourly, @daily, @weekly, @monthly"
        )));
    }
    if !macro_ok && expr.split_whitespace().count() != 5 {
        return Err(InvalidSchedule(format!(
            "spec.schedule {expr:?} must have five fields: minute hour day-of-month month day-of-week"
        )));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| InvalidSchedule(format!("spec.schedule {expr:?} is not valid cron: {e}")))?;
    let tz = TimeZone::get(time_zone.trim()).map_err(|e| {
        InvalidSchedule(format!(
            "spec.timeZone {time_zone:?} is not an IANA time zone (e.g. UTC, Europe/Berlin): {e}"
        ))
    })?;
    Ok(CronSchedule { cron, tz })
}

impl CronSchedule {
    fn civil(&self, t: Timestamp) -> DateTime {
        self.tz.to_datetime(t)
    }

    /// The instants a civil time of the zone denotes: none in a gap (spring forward), two in
    /// a fold (fall back), else one.
    fn instants(&self, civil: DateTime) -> Vec<Timestamp> {
        match self.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => {
                offset.to_timestamp(civil).ok().into_iter().collect()
            }
            AmbiguousOffset::Gap { .. } => Vec::new(),
            AmbiguousOffset::Fold { before, after } => {
                let mut v: Vec<Timestamp> = [before, after]
                    .into_iter()
                    .filter_map(|o| o.to_timestamp(civil).ok())
                    .collect();
                v.sort();
                v
            }
        }
    }

    /// Whether the zone's offset is the same over `t ± 3 h` (no transition near `t`).
    fn steady_near(&self, t: Timestamp) -> bool {
        let (Ok(a), Ok(b)) = (
            t.checked_sub(TRANSITION_WINDOW),
            t.checked_add(TRANSITION_WINDOW),
        ) else {
            return false;
        };
        self.tz.to_offset(a) == self.tz.to_offset(b)
    }

    fn step(&self, civil: DateTime, forward: bool, inclusive: bool) -> Option<DateTime> {
        let z = civil.to_zoned(TimeZone::UTC).ok()?;
        let found = if forward {
            self.cron.find_next_occurrence(&z, inclusive)
        } else {
            self.cron.find_previous_occurrence(&z, inclusive)
        };
        found.ok().map(|z| z.datetime())
    }

    /// The first slot strictly after `t`.
    ///
    /// Cron fields are matched on the zone's wall clock; a wall-clock time in a DST gap does
    /// not exist and is skipped, one in a fold occurs twice and both instants are slots —
    /// what a Kubernetes CronJob with `timeZone` does.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let start = if self.steady_near(t) {
            t
        } else {
            t.checked_sub(TRANSITION_WINDOW).ok()?
        };
        let mut civil = self.civil(start);
        let mut best: Option<Timestamp> = None;
        for _ in 0..MAX_STEPS {
            civil = self.step(civil, true, false)?;
            if let Some(b) = best
                && civil > self.civil(b.checked_add(TRANSITION_WINDOW).ok()?)
            {
                break;
            }
            for i in self.instants(civil) {
                if i > t && best.is_none_or(|b| i < b) {
                    best = Some(i);
                }
            }
        }
        best
    }

    /// The latest slot at or before `t` (same DST rules as [`CronSchedule::next_after`]).
    pub fn latest_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let (start, inclusive) = if self.steady_near(t) {
            (t, true)
        } else {
            (t.checked_add(TRANSITION_WINDOW).ok()?, true)
        };
        let mut civil = self.civil(start);
        let mut inclusive = inclusive;
        let mut best: Option<Timestamp> = None;
        for _ in 0..MAX_STEPS {
            civil = self.step(civil, false, inclusive)?;
            inclusive = false;
            if let Some(b) = best
                && civil < self.civil(b.checked_sub(TRANSITION_WINDOW).ok()?)
            {
                break;
            }
            for i in self.instants(civil) {
                if i <= t && best.is_none_or(|b| i > b) {
                    best = Some(i);
                }
            }
        }
        best
    }

    /// The zone (for retention buckets).
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}
