//! Which slot is due, what the concurrency policy makes of it, and the children's names.

use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::CronSchedule;
use super::reasons;
use crate::crd::ConcurrencyPolicy;

/// Longest child name the schedules make (a DNS label, so it also fits label values and the
/// HBR job name prefix).
pub const MAX_CHILD_NAME: usize = 63;

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
