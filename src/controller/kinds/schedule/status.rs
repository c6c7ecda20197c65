//! The **status** step of a schedule's reconcile: what the children and the plan come to —
//! `counts`, `active`, `nextScheduleTime`, `lastSuccessfulTime`, `phase`, `warnings`, the
//! health conditions, `RetentionBlocked` and `RPOMet` — set on the status being built
//! ([`Work::status`]), with the events of what changed, as the [`Outcome`] that
//! `work::finish` commits (server-side apply only when changed, `observedGeneration`, the
//! requeue). Also what a paused schedule still does ([`while_paused`]): judge its RPO.
//!
//! Conditions are stamped with the reconcile's time on `ctx.clock` ([`Work::now`]). Every
//! event is an outcome note, published only when what it reports changed against the status
//! as last read; the health itself is committed silently.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::children::{self, Loaded};
use super::plan::{self, ChildState, ChildView, InvalidSchedule, Plan, SlotPlan, reasons};
use super::{ACTION, child_kind, some_names};
use crate::controller::operator::context::Context;
use crate::controller::reconcile::conditions::{self, Health};
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::WhilePaused;
use crate::controller::reconcile::policy;
use crate::controller::reconcile::rpo::{self, RpoVerdict};
use crate::controller::reconcile::scheduling::{BackupSchedule, ScheduledChild};
use crate::controller::reconcile::work::{Next, Outcome, Publish, Work};
use crate::crd::{
    BackupScheduleSpec, BackupScheduleStatus, CONDITION_RETENTION_BLOCKED, CONDITION_RPO_MET,
    ChildCounts, ConcurrencyPolicy, DeletionPolicy, SchedulePhase,
};

/// Longest wait before a schedule looks again (in the clock's time), whatever its next slot.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The outcome of a valid schedule after the act: `kept` are the children retention would
/// prune but keeps. Looks again at the next slot, when the RPO verdict would flip, or after
/// [`MAX_WAIT`], whichever comes first.
pub(super) async fn valid<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    ctx: &Context,
    loaded: &Loaded<S::Child>,
    plan: &Plan,
    kept: &[(String, String)],
    prunes_successes: bool,
) -> Result<Outcome> {
    let spec = w.obj.schedule_spec();
    let kind = child_kind::<S>();
    let census = census(&loaded.children, &loaded.views);
    let stalled = stalled_note(&kind, &census.stalled);
    let forbid = spec.concurrency_policy == ConcurrencyPolicy::Forbid;
    let st = &mut w.status;
    st.last_successful_time = plan.last_success.map(Time);
    st.counts = Some(census.counts);
    st.active = census.active;
    st.next_schedule_time = plan.slots.next.map(Time);
    st.phase = Some(if spec.suspend {
        SchedulePhase::Suspended
    } else {
        SchedulePhase::Active
    });
    st.warnings = Vec::new();
    if prunes_successes && let Some(warning) = retention_warning(w.obj, ctx).await? {
        w.status.warnings.push(warning);
    }
    let health = health(spec, stalled.as_deref(), &plan.slots, &w.status.active);
    if let Some(note) = &stalled
        && !forbid
    {
        w.status.warnings.push(note.clone());
    }
    let blocked = retention_blocked(&kind, kept);
    let mut notes = Notes::against(w.current.as_ref());
    notes.stalled(&health, stalled.as_deref(), forbid);
    notes.waiting(plan.slots.waiting, &health, &w.status.active);
    notes.blocked(blocked.as_deref(), kept);
    let (now, generation) = (w.now(), w.obj.meta().generation);
    // The health first (the order of the conditions as ever); `finish` applies it again.
    conditions::apply_health(&mut w.status.conditions, &health, generation, now);
    set_retention_blocked(&mut w.status, blocked.as_deref(), generation, now);
    let mut wait = MAX_WAIT;
    if let Some(next) = plan.slots.next {
        wait = wait.min(to_duration(next.duration_since(now)));
    }
    let (missed, flip) = set_rpo(
        &mut w.status,
        plan.rpo.clone(),
        stalled.as_deref(),
        generation,
        now,
    );
    if let Some(flip) = flip {
        wait = wait.min(flip);
    }
    let outcome = Outcome::requeue(health, wait).publish(Publish::Silent);
    Ok(notes.into_outcome(missed, outcome))
}

/// The outcome of a schedule whose spec is invalid (`Stalled/InvalidSpec` until the spec
/// changes): it still reports its children and judges its RPO (and judges it again when it
/// would run out): backups have stopped, and the alert must be able to fire.
pub(super) fn invalid<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    loaded: &Loaded<S::Child>,
    e: InvalidSchedule,
) -> Outcome {
    let (now, generation) = (w.now(), w.obj.meta().generation);
    let was = w
        .current
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, conditions::STALLED))
        .is_some_and(|c| c.status == conditions::TRUE && c.message == e.0);
    let last_success = plan::last_success(
        w.status.last_successful_time.as_ref().map(|t| t.0),
        loaded.newest_success,
    );
    let health = Health::stalled(reasons::INVALID_SPEC, e.0.clone());
    let st = &mut w.status;
    st.last_successful_time = last_success.map(Time);
    conditions::apply_health(&mut st.conditions, &health, generation, now);
    st.next_schedule_time = None;
    let c = census(&loaded.children, &loaded.views);
    st.counts = Some(c.counts);
    st.active = c.active;
    let (missed, flip) = match plan::parse_rpo(w.obj.schedule_spec().rpo.as_deref()) {
        Ok(rpo) => {
            let verdict = plan::rpo_verdict(rpo.as_ref(), last_success, loaded.created, now);
            let why = format!("the schedule makes no backups: {}", e.0);
            set_rpo(st, verdict, Some(&why), generation, now)
        }
        Err(bad) => {
            // An RPO that cannot be read cannot be met.
            conditions::set_condition(
                &mut st.conditions,
                CONDITION_RPO_MET,
                false,
                reasons::INVALID_SPEC,
                &bad.0,
                generation,
                now,
            );
            (None, None)
        }
    };
    let mut outcome = Outcome::requeue(health, Duration::ZERO).publish(Publish::Silent);
    outcome.next = match flip {
        Some(flip) => Next::After(flip),
        // Nothing to look at until the spec changes.
        None => Next::Finished,
    };
    if let Some(message) = missed {
        outcome = outcome.note(
            EventType::Warning,
            rpo::reasons::RPO_MISSED,
            ACTION,
            message,
        );
    }
    if !was {
        outcome = outcome.note(EventType::Warning, reasons::INVALID_SPEC, ACTION, e.0);
    }
    outcome
}

/// What a paused schedule still does at `now` ([`crate::controller::reconcile::kind::Tracked::while_paused`]):
/// it makes, prunes and deletes nothing, but its RPO is still judged (from
/// `status.lastSuccessfulTime`: a paused schedule makes no backups), with a look again when the
/// verdict would flip.
pub(super) fn while_paused<S: BackupSchedule>(
    obj: &S,
    ctx: &Context,
    status: &mut BackupScheduleStatus,
    now: Timestamp,
) -> WhilePaused {
    // An RPO that does not parse is judged (False) once the schedule is resumed and validated.
    let Ok(rpo) = plan::parse_rpo(obj.schedule_spec().rpo.as_deref()) else {
        return WhilePaused::default();
    };
    let created = children::created(obj, ctx.clock.as_ref(), now);
    let last = status.last_successful_time.as_ref().map(|t| t.0);
    let verdict = plan::rpo_verdict(rpo.as_ref(), last, created, now);
    let why = Some("the schedule is paused");
    let (missed, recheck) = set_rpo(status, verdict, why, obj.meta().generation, now);
    WhilePaused {
        events: missed
            .map(|m| (EventType::Warning, rpo::reasons::RPO_MISSED, ACTION, m))
            .into_iter()
            .collect(),
        recheck,
    }
}

/// The health of a valid schedule: a stalled child blocks a `Forbid` schedule until the user
/// fixes it or deletes it; else `Ready` (`Suspended`, or `Scheduled` with the next run and a
/// waiting slot).
fn health<T>(
    spec: &BackupScheduleSpec<T>,
    stalled: Option<&str>,
    slots: &SlotPlan,
    active: &[String],
) -> Health {
    let forbid = spec.concurrency_policy == ConcurrencyPolicy::Forbid;
    let next_text = match slots.next {
        Some(n) => format!("next run at {n}"),
        None => "no next run".to_string(),
    };
    match (stalled, forbid) {
        (Some(note), true) if !spec.suspend => Health::stalled(
            reasons::CHILD_STALLED,
            format!(
                "{note}; concurrencyPolicy Forbid: no new child is made until it finishes or is deleted{}",
                slots
                    .waiting
                    .map(|w| format!(" (the slot {w} waits)"))
                    .unwrap_or_default()
            ),
        ),
        _ if spec.suspend => Health::ready(
            reasons::SUSPENDED,
            "suspended (spec.suspend); no new children are made",
        ),
        _ => Health::ready(
            reasons::SCHEDULED,
            match slots.waiting {
                Some(w) => format!(
                    "the slot {w} waits for {} to finish (concurrencyPolicy Forbid); {next_text}",
                    some_names(active)
                ),
                None => next_text,
            },
        ),
    }
}

/// A warning when retention prunes successful children whose deletion policy in effect is
/// `Retain` (their backups stay in the cloud). Reads the namespace's default when the template
/// sets none (from a short cache).
async fn retention_warning<S: BackupSchedule>(obj: &S, ctx: &Context) -> Result<Option<String>> {
    let template =
        <S::Child as ScheduledChild>::deletion_policy(&obj.schedule_spec().template.spec);
    let effective = policy::resolve_deletion_policy(obj, template, ctx, false).await?;
    Ok((effective.policy == DeletionPolicy::Retain).then(|| {
        format!(
            "retention deletes child objects only: the children's deletion policy is Retain \
             (from {}), so the backups of pruned children stay in the cloud (set \
             template.spec.deletionPolicy to Delete to remove them)",
            effective.source
        )
    }))
}

/// The message of `RetentionBlocked`: the children retention keeps although it would prune
/// them (`None` when it keeps none).
fn retention_blocked(kind: &str, kept: &[(String, String)]) -> Option<String> {
    if kept.is_empty() {
        return None;
    }
    let names: Vec<String> = kept.iter().map(|(n, _)| n.clone()).collect();
    let mut whys: Vec<String> = kept.iter().map(|(_, w)| w.clone()).collect();
    whys.sort();
    whys.dedup();
    Some(format!(
        "retention keeps {} {kind} it would prune, because they cannot be deleted ({}): {}; remove the protection to let retention delete them",
        kept.len(),
        whys.join("; "),
        some_names(&names),
    ))
}

/// Sets the condition `RetentionBlocked` (present only while True).
fn set_retention_blocked(
    status: &mut BackupScheduleStatus,
    blocked: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) {
    match blocked {
        Some(message) => {
            conditions::set_condition(
                &mut status.conditions,
                CONDITION_RETENTION_BLOCKED,
                true,
                reasons::RETENTION_BLOCKED,
                message,
                generation,
                now,
            );
        }
        None => status
            .conditions
            .retain(|c| c.type_ != CONDITION_RETENTION_BLOCKED),
    }
}

/// Sets `RPOMet` from `verdict` (removes it without `spec.rpo`); `why` (e.g. a stalled child)
/// is added to the message of a False verdict. Returns the message of the Warning Event
/// `RPOMissed` when the verdict turns False, and when to judge again.
fn set_rpo(
    status: &mut BackupScheduleStatus,
    verdict: Option<RpoVerdict>,
    why: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) -> (Option<String>, Option<Duration>) {
    let Some(v) = verdict else {
        status.conditions.retain(|c| c.type_ != CONDITION_RPO_MET);
        return (None, None);
    };
    let mut message = v.message.clone();
    if !v.met
        && let Some(why) = why
    {
        message.push_str(&format!("; {why}"));
    }
    let was_missed = conditions::find(&status.conditions, CONDITION_RPO_MET)
        .is_some_and(|c| c.status == conditions::FALSE);
    conditions::set_condition(
        &mut status.conditions,
        CONDITION_RPO_MET,
        v.met,
        v.reason,
        &message,
        generation,
        now,
    );
    ((!v.met && !was_missed).then_some(message), v.flips_in)
}

/// The events of a valid schedule's status, each published only when what it reports changed
/// against the status as last read (a repeat each reconcile would say nothing new).
struct Notes<'s> {
    current: Option<&'s BackupScheduleStatus>,
    events: Vec<(EventType, &'static str, String)>,
}

impl<'s> Notes<'s> {
    /// Against `current`, the status as last read.
    fn against(current: Option<&'s BackupScheduleStatus>) -> Self {
        Notes {
            current,
            events: Vec::new(),
        }
    }

    /// The message of the last read condition `type_`, when it is True.
    fn true_message(&self, type_: &str) -> Option<&'s str> {
        self.current
            .and_then(|s| conditions::find(&s.conditions, type_))
            .filter(|c| c.status == conditions::TRUE)
            .map(|c| c.message.as_str())
    }

    /// `ChildStalled`: a new `Stalled` message, or a new stalled note among the warnings.
    fn stalled(&mut self, health: &Health, stalled: Option<&str>, forbid: bool) {
        if let Health::Stalled { message, .. } = health
            && self.true_message(conditions::STALLED) != Some(message.as_str())
        {
            self.push(EventType::Warning, reasons::CHILD_STALLED, message.clone());
        }
        if let (Some(note), false) = (stalled, forbid)
            && !self
                .current
                .is_some_and(|s| s.warnings.iter().any(|w| w == note))
        {
            self.push(EventType::Warning, reasons::CHILD_STALLED, note.to_string());
        }
    }

    /// `RunWaiting`: a due slot newly waits for a child that has not finished.
    fn waiting(&mut self, waiting: Option<Timestamp>, health: &Health, active: &[String]) {
        if let (Some(w), Health::Ready { message, .. }) = (waiting, health)
            && self.true_message(conditions::READY) != Some(message.as_str())
        {
            self.push(
                EventType::Normal,
                reasons::RUN_WAITING,
                format!(
                    "the slot {w} waits for {} to finish (concurrencyPolicy Forbid); it runs when that is seen finished, unless the next slot comes first",
                    some_names(active)
                ),
            );
        }
    }

    /// `RetentionBlocked`: a new message (a Warning when the API server refused a delete).
    fn blocked(&mut self, blocked: Option<&str>, kept: &[(String, String)]) {
        let before = self
            .current
            .and_then(|s| conditions::find(&s.conditions, CONDITION_RETENTION_BLOCKED))
            .map(|c| c.message.as_str());
        if let Some(message) = blocked
            && before != Some(message)
        {
            let refused = kept
                .iter()
                .any(|(_, w)| w.starts_with("the API server refused"));
            let type_ = if refused {
                EventType::Warning
            } else {
                EventType::Normal
            };
            self.push(type_, reasons::RETENTION_BLOCKED, message.to_string());
        }
    }

    fn push(&mut self, type_: EventType, reason: &'static str, message: String) {
        self.events.push((type_, reason, message));
    }

    /// `outcome` with the events: `RPOMissed` (`missed`) first, then the others.
    fn into_outcome(self, missed: Option<String>, mut outcome: Outcome) -> Outcome {
        if let Some(message) = missed {
            outcome = outcome.note(
                EventType::Warning,
                rpo::reasons::RPO_MISSED,
                ACTION,
                message,
            );
        }
        for (type_, reason, message) in self.events {
            outcome = outcome.note(type_, reason, ACTION, message);
        }
        outcome
    }
}

/// What the children say: how many run, succeeded, failed, which have not finished, and which
/// are stalled (name, reason, message).
struct Census {
    counts: ChildCounts,
    active: Vec<String>,
    stalled: Vec<(String, String, String)>,
}

fn census<C: ScheduledChild>(children: &[C], views: &[ChildView]) -> Census {
    let mut counts = ChildCounts::default();
    let mut active = Vec::new();
    let mut stalled = Vec::new();
    for v in views {
        match v.state {
            // A stalled child has not finished: it counts as running (and blocks `Forbid`)
            // until it ends or is deleted; the schedule's conditions name it.
            ChildState::Running | ChildState::Stalled => {
                counts.running += 1;
                active.push(v.name.clone());
            }
            ChildState::Succeeded => counts.succeeded += 1,
            ChildState::Failed => counts.failed += 1,
        }
        if v.state == ChildState::Stalled
            && let Some((reason, message)) = children
                .iter()
                .find(|c| c.name_any() == v.name)
                .and_then(ScheduledChild::stalled)
        {
            stalled.push((v.name.clone(), reason, message));
        }
    }
    active.sort();
    stalled.sort();
    Census {
        counts,
        active,
        stalled,
    }
}

/// `<kind> <name> is stalled (<reason>: <message>)`, for each stalled child.
fn stalled_note(kind: &str, stalled: &[(String, String, String)]) -> Option<String> {
    if stalled.is_empty() {
        return None;
    }
    let shown: Vec<String> = stalled
        .iter()
        .take(3)
        .map(|(n, r, m)| format!("{kind} {n} is stalled ({r}: {m})"))
        .collect();
    let mut note = shown.join("; ");
    if stalled.len() > 3 {
        note.push_str(&format!("; and {} more", stalled.len() - 3));
    }
    Some(note)
}

fn to_duration(d: jiff::SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}
