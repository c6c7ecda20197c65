//! Pure decisions of the schedule controller: cron and time-zone math, which slot is due,
//! what the concurrency policy makes of it, child names, and which children retention keeps.
//! Everything comes in as arguments (including "now"); nothing here reads a clock or the API.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::crd::{BackupScheduleSpec, ConcurrencyPolicy, Retention};

/// Condition and event reasons of the schedules.
pub mod reasons {
    /// The schedule is valid and makes children on schedule.
    pub const SCHEDULED: &str = "Scheduled";
    /// `spec.suspend` is true.
    pub const SUSPENDED: &str = "Suspended";
    /// A spec field is invalid (the message names it).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Event: a child was made for a slot.
    pub const RUN_CREATED: &str = "RunCreated";
    /// Event: a child was made for the most recent slot missed while the operator was down
    /// or the schedule suspended.
    pub const MISSED_RUN_CREATED: &str = "MissedRunCreated";
    /// Event: a child was made for a new value of the trigger annotation.
    pub const TRIGGERED_RUN_CREATED: &str = "TriggeredRunCreated";
    /// Event: a slot was skipped (the note says why).
    pub const RUN_SKIPPED: &str = "RunSkipped";
    /// Event: running children were deleted for a new slot (`concurrencyPolicy: Replace`).
    pub const RUN_REPLACED: &str = "RunReplaced";
    /// Event: retention deleted a child.
    pub const CHILD_PRUNED: &str = "ChildPruned";
    /// Event: the child name of a slot is taken by an object the schedule does not own.
    pub const CHILD_NAME_TAKEN: &str = "ChildNameTaken";
    /// Event: deleting the schedule left its children in place (`childrenDeletionPolicy: Orphan`).
    pub const CHILDREN_ORPHANED: &str = "ChildrenOrphaned";
    /// Event: deleting the schedule deleted its children (`childrenDeletionPolicy: Delete`).
    pub const CHILDREN_DELETED: &str = "ChildrenDeleted";
    /// Stalled: a child waits for the user (its `Stalled` condition is True) and, with
    /// `concurrencyPolicy: Forbid`, no new child is made until it finishes or is deleted. Also
    /// the Warning Event that says so.
    pub const CHILD_STALLED: &str = "ChildStalled";
    /// Event: a due slot waits for a child that has not finished (`concurrencyPolicy: Forbid`).
    pub const RUN_WAITING: &str = "RunWaiting";
    /// Condition `RetentionBlocked` and its Event: children retention would prune cannot be
    /// deleted (deletion protection, or the API server refused).
    pub const RETENTION_BLOCKED: &str = "RetentionBlocked";
    /// Event: the trigger annotation has a value used before, whose child still exists.
    pub const TRIGGER_ALREADY_USED: &str = "TriggerAlreadyUsed";
    /// Skip reason: the slot is older than `startingDeadlineSeconds`.
    pub const MISSED_DEADLINE: &str = "MissedDeadline";
}

/// Longest child name the schedules make (a DNS label, so it also fits label values and the
/// HBR job name prefix).
pub const MAX_CHILD_NAME: usize = 63;

/// How far a civil time can be from its instant across a transition; time-zone offset changes
/// are far smaller (at most a few hours; DST is one hour, Lord Howe half an hour).
const TRANSITION_WINDOW: SignedDuration = SignedDuration::from_hours(3);
/// Upper bound on cron candidates examined for one answer.
const MAX_STEPS: usize = 2000;

/// A parsed `spec.schedule` in `spec.timeZone`.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: TimeZone,
}

/// Why a schedule cannot be used (message for `Stalled/InvalidSpec`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchedule(pub String);

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

/// A schedule spec that passed [`validate`]: its cron in its zone, its retention rule and its
/// RPO (parsed, and as written for messages).
#[derive(Debug, Clone)]
pub struct ValidSpec {
    /// `spec.schedule` in `spec.timeZone`.
    pub cron: CronSchedule,
    /// `spec.retention` (or its default).
    pub rule: RetentionRule,
    /// `spec.rpo`.
    pub rpo: Option<(Duration, String)>,
}

/// Checks what the CRD schema cannot: the cron fields, the time zone and the durations. `Err`
/// is the message of `Stalled/InvalidSpec`, naming the field.
pub fn validate<T>(spec: &BackupScheduleSpec<T>) -> Result<ValidSpec, InvalidSchedule> {
    let cron = parse_schedule(&spec.schedule, &spec.time_zone)?;
    // Cron has no year field, so a pattern that matches some date does so within a few years
    // of any instant (29 February within eight); one that matches none never runs.
    if cron.next_after(Timestamp::UNIX_EPOCH).is_none() {
        return Err(InvalidSchedule(format!(
            "spec.schedule {:?} matches no date (e.g. 31 February), so it would never run",
            spec.schedule.trim()
        )));
    }
    let rule = RetentionRule::from_spec(spec.retention.as_ref())?;
    let rpo = parse_rpo(spec.rpo.as_deref())?;
    Ok(ValidSpec { cron, rule, rpo })
}

/// Refuses `concurrencyPolicy: Replace` for a child kind whose running backup cannot be
/// stopped (RDS has no cancel call: deleting the running child leaves its task running, and
/// the new child waits for it). The CRD refuses it too; this is for servers without CEL.
pub fn check_concurrency(
    policy: ConcurrencyPolicy,
    child_kind: &str,
    cancellable: bool,
) -> Result<(), InvalidSchedule> {
    if policy == ConcurrencyPolicy::Replace && !cancellable {
        return Err(InvalidSchedule(format!(
            "spec.concurrencyPolicy Replace cannot stop a running {child_kind} (the cloud has no \
             cancel call for it); use Forbid or Allow"
        )));
    }
    Ok(())
}

/// `spec.rpo`, parsed (`Err` names the field).
pub fn parse_rpo(rpo: Option<&str>) -> Result<Option<(Duration, String)>, InvalidSchedule> {
    rpo.map(|r| {
        crate::controller::reconcile::rpo::parse_duration(r)
            .map(|d| (d, r.to_string()))
            .map_err(|e| InvalidSchedule(format!("spec.rpo: {e}")))
    })
    .transpose()
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

/// Why a child is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKind {
    /// A slot that is due now.
    Slot,
    /// The most recent of the slots missed since `since` (operator down, suspended).
    MissedSlot {
        /// The earliest missed slot.
        since: Timestamp,
    },
    /// `runOnCreate`.
    OnCreate,
    /// A new value of the trigger annotation.
    Trigger {
        /// The value.
        value: String,
    },
}

/// A child to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its name.
    pub name: String,
    /// The slot (or the trigger time).
    pub at: Timestamp,
    /// Why.
    pub kind: RunKind,
}

/// What one reconcile does about slots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotPlan {
    /// Children to make (at most one slot run and one trigger run).
    pub runs: Vec<Run>,
    /// Running children to delete first (`Replace`).
    pub replace: Vec<String>,
    /// A slot skipped now, and the reason.
    pub skip: Option<(Timestamp, &'static str)>,
    /// A due slot that waits for the running children (`Forbid`): not made and not recorded,
    /// so it runs as soon as they are seen finished (unless a newer slot or
    /// `startingDeadlineSeconds` comes first).
    pub waiting: Option<Timestamp>,
    /// The next slot (`None` while suspended or when the cron never matches again).
    pub next: Option<Timestamp>,
}

/// Everything the slot decision reads.
#[derive(Debug, Clone)]
pub struct SlotInput<'a> {
    /// The schedule's name (child names derive from it).
    pub name: &'a str,
    /// Now.
    pub now: Timestamp,
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
    /// `spec.suspend`.
    pub suspend: bool,
    /// `spec.runOnCreate`.
    pub run_on_create: bool,
    /// `spec.startingDeadlineSeconds`.
    pub starting_deadline: Option<Duration>,
    /// `spec.concurrencyPolicy`.
    pub policy: ConcurrencyPolicy,
    /// `status.lastScheduleTime`.
    pub last_schedule: Option<Timestamp>,
    /// `status.lastSkipped.time`.
    pub last_skipped: Option<Timestamp>,
    /// Names of the children that have not finished (running or stalled).
    pub active: &'a [String],
    /// The trigger annotation's value.
    pub trigger: Option<&'a str>,
    /// `status.lastTrigger`.
    pub last_trigger: Option<&'a str>,
}

/// Decides what is due. At most one missed slot is made up (the most recent); older missed
/// slots are dropped. A trigger bypasses `suspend` and the concurrency policy (it is an
/// explicit request). With `Forbid` a due slot waits while a child has not finished
/// ([`SlotPlan::waiting`]): it is not recorded as skipped, because the child may have ended
/// already without being seen yet (after downtime); it runs once the children are seen
/// finished, within `startingDeadlineSeconds` when set, and is dropped for the next slot.
pub fn plan_slots(cron: &CronSchedule, input: &SlotInput<'_>) -> SlotPlan {
    let mut plan = SlotPlan::default();
    if let Some(value) = input.trigger.map(str::trim).filter(|v| !v.is_empty())
        && Some(value) != input.last_trigger.map(str::trim)
    {
        plan.runs.push(Run {
            name: trigger_child_name(input.name, value),
            at: input.now,
            kind: RunKind::Trigger {
                value: value.to_string(),
            },
        });
    }
    if input.suspend {
        return plan;
    }
    plan.next = cron.next_after(input.now);
    let never_ran = input.last_schedule.is_none() && input.last_skipped.is_none();
    if input.run_on_create && never_ran {
        // Named after the creation, not the reconcile's minute: a reconcile after a crash or
        // restart, whenever it runs, finds the child made before instead of making another.
        plan.runs.push(Run {
            name: slot_child_name(input.name, input.created),
            at: input.created,
            kind: RunKind::OnCreate,
        });
        return plan;
    }
    let cursor = [input.last_schedule, input.last_skipped]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(input.created);
    let Some(slot) = cron.latest_at_or_before(input.now).filter(|s| *s > cursor) else {
        return plan;
    };
    if let Some(deadline) = input.starting_deadline
        && late_by(slot, input.now) > deadline
    {
        plan.skip = Some((slot, reasons::MISSED_DEADLINE));
        return plan;
    }
    let name = slot_child_name(input.name, slot);
    // The slot's own child may exist already (made before a crash, before the status said
    // so): it is this slot's run, not a concurrent one.
    let active: Vec<String> = input
        .active
        .iter()
        .filter(|a| **a != name)
        .cloned()
        .collect();
    if !active.is_empty() {
        match input.policy {
            ConcurrencyPolicy::Forbid => {
                plan.waiting = Some(slot);
                return plan;
            }
            ConcurrencyPolicy::Replace => plan.replace = active,
            ConcurrencyPolicy::Allow => {}
        }
    }
    let first_missed = cron.next_after(cursor).filter(|f| *f < slot);
    let kind = match first_missed {
        Some(since) => RunKind::MissedSlot { since },
        None if late_by(slot, input.now) > Duration::from_secs(60) => {
            RunKind::MissedSlot { since: slot }
        }
        None => RunKind::Slot,
    };
    plan.runs.push(Run {
        name,
        at: slot,
        kind,
    });
    plan
}

fn late_by(slot: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(slot)).unwrap_or(Duration::ZERO)
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..4])
}

/// `<name>-<suffix>`, at most [`MAX_CHILD_NAME`] characters: a long `name` is cut and a hash
/// of the whole name keeps different schedules apart.
fn with_suffix(name: &str, suffix: &str) -> String {
    let full = format!("{name}-{suffix}");
    if full.len() <= MAX_CHILD_NAME {
        return full;
    }
    let hash = short_hash(name);
    let keep = MAX_CHILD_NAME.saturating_sub(suffix.len() + hash.len() + 2);
    let prefix: String = name.chars().take(keep).collect();
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}-{suffix}")
}

/// The child of the slot `at`: `<schedule>-<yyyymmddhhmm>` (UTC), shortened with a hash when
/// long. Deterministic, so a crash between making the child and recording it cannot make a
/// second child for the slot.
pub fn slot_child_name(schedule: &str, at: Timestamp) -> String {
    with_suffix(schedule, &at.strftime("%Y%m%d%H%M").to_string())
}

/// The child of a trigger value: `<schedule>-trigger-<hash of the value>`.
pub fn trigger_child_name(schedule: &str, value: &str) -> String {
    with_suffix(schedule, &format!("trigger-{}", short_hash(value)))
}

/// The value of the `backup.aliyun.dev/schedule` label: the name, or a cut name plus hash
/// when longer than 63 characters (the limit of a label value).
pub fn schedule_label_value(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    let hash = short_hash(name);
    let prefix: String = name.chars().take(63 - hash.len() - 1).collect();
    format!("{}-{hash}", prefix.trim_end_matches(['-', '.', '_']))
}

/// Whether a label or annotation key is a GitOps tracking key that must not be copied to
/// children (Argo CD would show them as part of the application and prune them; Flux labels
/// name the Kustomization that applied the object).
pub fn is_tracking_key(key: &str) -> bool {
    key == "app.kubernetes.io/instance"
        || key == "kubectl.kubernetes.io/last-applied-configuration"
        || key.starts_with("argocd.argoproj.io/")
        || key.starts_with("kustomize.toolkit.fluxcd.io/")
        || key.starts_with("helm.toolkit.fluxcd.io/")
}

// ------------------------------------------------------------------------------------------
// retention
// ------------------------------------------------------------------------------------------

/// Where a child stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Not finished.
    Running,
    /// Not finished, and its `Stalled` condition is True: it waits for the user (e.g. its
    /// credentials Secret is missing).
    Stalled,
    /// Succeeded.
    Succeeded,
    /// Ended without a full success.
    Failed,
}

impl ChildState {
    /// Succeeded or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, ChildState::Succeeded | ChildState::Failed)
    }
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
