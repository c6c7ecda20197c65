//! Pure decisions of the schedule controller: cron and time-zone math (`cron.rs`), which slot
//! is due, what the concurrency policy makes of it and the children's names (`slots.rs`), which
//! children retention keeps (`retention.rs`), the RPO verdict, and the one [`plan`] of a
//! reconcile that combines them. Everything comes in as arguments (including "now"); nothing
//! here reads a clock or the API.

mod cron;
mod retention;
mod slots;

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;

pub use self::cron::{CronSchedule, parse_schedule};
pub use self::retention::{ChildState, ChildView, RetentionRule, select_pruned};
pub use self::slots::{
    MAX_CHILD_NAME, Run, RunKind, SlotInput, SlotPlan, is_tracking_key, plan_slots,
    schedule_label_value, slot_child_name, trigger_child_name,
};
use crate::controller::reconcile::rpo::{self, RpoVerdict};
use crate::crd::{BackupScheduleSpec, ConcurrencyPolicy};

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

/// Why a schedule cannot be used (message for `Stalled/InvalidSpec`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchedule(pub String);

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
        rpo::parse_duration(r)
            .map(|d| (d, r.to_string()))
            .map_err(|e| InvalidSchedule(format!("spec.rpo: {e}")))
    })
    .transpose()
}

/// What one reconcile of a valid schedule does, decided from what was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The children to make, the running children to delete first (`Replace`), a slot skipped
    /// or waiting, and the next slot.
    pub slots: SlotPlan,
    /// The children retention deletes, in name order, each with whether deletion protection
    /// keeps it (then it is not asked).
    pub prune: Vec<(String, bool)>,
    /// When the newest successful backup finished ([`last_success`]).
    pub last_success: Option<Timestamp>,
    /// The RPO verdict (`None` without `spec.rpo`).
    pub rpo: Option<RpoVerdict>,
}

/// The plan of a valid schedule: the slots ([`plan_slots`]), retention ([`select_pruned`]) over
/// the children as loaded (`protected`: those with deletion protection) and the RPO verdict
/// from `recorded` (`status.lastSuccessfulTime`) and the newest success among the children.
///
/// Retention is decided before the act: the children the act makes and the running children
/// it deletes (`Replace`) have not finished, and unfinished children neither are pruned nor
/// count for any rule.
pub fn plan(
    valid: &ValidSpec,
    input: &SlotInput<'_>,
    children: &[ChildView],
    protected: &BTreeSet<String>,
    recorded: Option<Timestamp>,
    newest: Option<Timestamp>,
) -> Plan {
    let last_success = last_success(recorded, newest);
    Plan {
        slots: plan_slots(&valid.cron, input),
        prune: select_pruned(children, &valid.rule, valid.cron.time_zone(), input.now)
            .into_iter()
            .map(|name| {
                let kept = protected.contains(&name);
                (name, kept)
            })
            .collect(),
        last_success,
        rpo: rpo_verdict(valid.rpo.as_ref(), last_success, input.created, input.now),
    }
}

/// When the newest successful backup finished: the later of `status.lastSuccessfulTime` (kept
/// after its child is pruned) and the newest success among the children.
pub fn last_success(recorded: Option<Timestamp>, newest: Option<Timestamp>) -> Option<Timestamp> {
    [recorded, newest].into_iter().flatten().max()
}

/// The `RPOMet` verdict of `rpo` (`None` without one) at `now`, for a schedule created at
/// `created` whose newest successful backup finished at `last_success`.
pub fn rpo_verdict(
    rpo: Option<&(Duration, String)>,
    last_success: Option<Timestamp>,
    created: Timestamp,
    now: Timestamp,
) -> Option<RpoVerdict> {
    rpo.map(|(rpo, text)| rpo::evaluate(*rpo, text, last_success, created, now))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
