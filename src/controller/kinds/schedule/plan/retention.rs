//! Retention: which children a rule keeps (grandfather-father-son, `maxAge`, `keepFailed`).

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::InvalidSchedule;
pub use crate::controller::reconcile::scheduling::ChildState;
use crate::crd::Retention;

/// A child as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildView {
    /// Its name.
    pub name: String,
    /// Its slot (newest first is the order of every rule).
    pub at: Timestamp,
    /// Its state.
    pub state: ChildState,
}

/// A retention rule with its durations parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRule {
    /// `keepLast`.
    pub keep_last: Option<u32>,
    /// `keepHourly`.
    pub keep_hourly: Option<u32>,
    /// `keepDaily`.
    pub keep_daily: Option<u32>,
    /// `keepWeekly`.
    pub keep_weekly: Option<u32>,
    /// `keepMonthly`.
    pub keep_monthly: Option<u32>,
    /// `keepYearly`.
    pub keep_yearly: Option<u32>,
    /// `maxAge`.
    pub max_age: Option<Duration>,
    /// `keepFailed`.
    pub keep_failed: u32,
}

impl RetentionRule {
    /// The rule of `spec.retention` (its default when unset); `Err` names a bad `maxAge`.
    pub fn from_spec(r: Option<&Retention>) -> Result<Self, InvalidSchedule> {
        let default = Retention::backup_default();
        let r = r.unwrap_or(&default);
        let max_age = r
            .max_age
            .as_deref()
            .map(crate::controller::reconcile::rpo::parse_duration)
            .transpose()
            .map_err(|e| InvalidSchedule(format!("spec.retention.maxAge: {e}")))?;
        Ok(RetentionRule {
            keep_last: r.keep_last,
            keep_hourly: r.keep_hourly,
            keep_daily: r.keep_daily,
            keep_weekly: r.keep_weekly,
            keep_monthly: r.keep_monthly,
            keep_yearly: r.keep_yearly,
            max_age,
            keep_failed: r.keep_failed.unwrap_or(crate::crd::DEFAULT_KEEP_FAILED),
        })
    }

    /// Whether no rule for successful children is set (then no successful child is pruned).
    pub fn keeps_all_successes(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_hourly.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
            && self.keep_yearly.is_none()
            && self.max_age.is_none()
    }
}

/// The period a wall-clock time falls in, for one `keep*` rule.
type BucketOf = fn(DateTime) -> Bucket;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bucket {
    Hour(i16, i8, i8, i8),
    Day(i16, i8, i8),
    Week(i16, i8),
    Month(i16, i8),
    Year(i16),
}

/// The children retention deletes. Successful children: kept when any rule keeps them
/// (`keepLast` newest N; `keepHourly`/`Daily`/`Weekly`/`Monthly`/`Yearly` the newest of each
/// of the last N periods, in `tz`, that have one; `maxAge` all younger than it); the newest
/// successful child is always kept; no rule at all keeps every one. Failed children: the
/// newest `keepFailed`. Unfinished (running or stalled) children are never pruned.
pub fn select_pruned(
    children: &[ChildView],
    rule: &RetentionRule,
    tz: &TimeZone,
    now: Timestamp,
) -> BTreeSet<String> {
    let mut sorted: Vec<&ChildView> = children.iter().collect();
    sorted.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.name.cmp(&a.name)));
    let successes: Vec<&ChildView> = sorted
        .iter()
        .copied()
        .filter(|c| c.state == ChildState::Succeeded)
        .collect();
    let mut keep: HashSet<&str> = HashSet::new();
    if rule.keeps_all_successes() {
        keep.extend(successes.iter().map(|c| c.name.as_str()));
    }
    if let Some(first) = successes.first() {
        keep.insert(first.name.as_str());
    }
    if let Some(n) = rule.keep_last {
        keep.extend(successes.iter().take(n as usize).map(|c| c.name.as_str()));
    }
    let bucket_rules: [(Option<u32>, BucketOf); 5] = [
        (rule.keep_hourly, |d| {
            Bucket::Hour(d.year(), d.month(), d.day(), d.hour())
        }),
        (rule.keep_daily, |d| {
            Bucket::Day(d.year(), d.month(), d.day())
        }),
        (rule.keep_weekly, |d| {
            let w = d.date().iso_week_date();
            Bucket::Week(w.year(), w.week())
        }),
        (rule.keep_monthly, |d| Bucket::Month(d.year(), d.month())),
        (rule.keep_yearly, |d| Bucket::Year(d.year())),
    ];
    for (n, bucket_of) in bucket_rules {
        let Some(n) = n else { continue };
        let mut last: Option<Bucket> = None;
        let mut kept = 0u32;
        for c in &successes {
            if kept >= n {
                break;
            }
            let b = bucket_of(tz.to_datetime(c.at));
            if last != Some(b) {
                keep.insert(c.name.as_str());
                last = Some(b);
                kept += 1;
            }
        }
    }
    if let Some(max_age) = rule.max_age {
        for c in &successes {
            if Duration::try_from(now.duration_since(c.at)).unwrap_or(Duration::ZERO) <= max_age {
                keep.insert(c.name.as_str());
            }
        }
    }
    keep.extend(
        sorted
            .iter()
            .filter(|c| c.state == ChildState::Failed)
            .take(rule.keep_failed as usize)
            .map(|c| c.name.as_str()),
    );
    sorted
        .iter()
        .filter(|c| c.state.is_finished() && !keep.contains(c.name.as_str()))
        .map(|c| c.name.clone())
        .collect()
}
