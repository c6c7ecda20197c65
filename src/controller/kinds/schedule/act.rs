//! The **act** step of a schedule's reconcile: what the plan does to the children — delete the
//! running children a new slot replaces, make the due children, record a skipped slot, prune —
//! and, when the schedule is deleted, orphan or delete them all.
//!
//! Each child is made *before* the status records its slot, under a deterministic name, and a
//! name found taken by a child the schedule owns counts as made (a crash in between is found,
//! not repeated). The act's events are published as each call is made, so a later failure does
//! not hide what was done; its status edits (`lastScheduleTime`, `lastTrigger`, `lastSkipped`)
//! are written by `work::finish` with the rest of the status.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::children::{self, Loaded};
use super::plan::{ChildState, ChildView, Plan, Run, RunKind, reasons};
use super::{ACTION, child_kind, some_names};
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::scheduling::BackupSchedule;
use crate::controller::reconcile::work::{Outcome, Work};
use crate::crd::{
    ANNOTATION_DELETION_PROTECTION, ANNOTATION_SCHEDULED_AT, ANNOTATION_TRIGGER, SkippedRun,
    deletion_protected,
};

/// Acts on `plan`, keeping `loaded.views` what the children are now. Returns the children
/// retention would prune but keeps, with why (deletion protection, or the API server refused).
pub(super) async fn act<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    loaded: &mut Loaded<S::Child>,
    plan: &Plan,
) -> Result<Vec<(String, String)>> {
    replace(w, loaded, &plan.slots.replace).await?;
    for run in &plan.slots.runs {
        make(w, loaded, run).await?;
    }
    if let Some((slot, why)) = plan.slots.skip {
        skip(w, slot, why).await;
    }
    prune(w, loaded, &plan.prune).await
}

/// Deletes the running children a new slot replaces (`concurrencyPolicy: Replace`); a delete
/// the API server refuses leaves the child running beside the new one.
async fn replace<S: BackupSchedule>(
    w: &Work<'_, S>,
    loaded: &mut Loaded<S::Child>,
    victims: &[String],
) -> Result<()> {
    let kind = child_kind::<S>();
    for victim in victims {
        match children::delete(&loaded.api, victim).await {
            Ok(()) => {
                loaded.views.retain(|v| &v.name != victim);
                let note = format!(
                    "deleted running {kind} {victim} for a new slot (concurrencyPolicy Replace)"
                );
                w.event(EventType::Normal, reasons::RUN_REPLACED, ACTION, &note)
                    .await;
            }
            Err(e) => match children::refusal(&e) {
                Some(why) => {
                    let note = format!(
                        "could not delete running {kind} {victim} for a new slot (concurrencyPolicy Replace), the API server refused: {why}; the new child runs alongside it"
                    );
                    w.event(EventType::Warning, reasons::RUN_REPLACED, ACTION, &note)
                        .await;
                }
                None => return Err(e),
            },
        }
    }
    Ok(())
}

/// Makes the child of `run` and records the run (`lastScheduleTime`, or `lastTrigger`). A
/// trigger value whose child is still there makes nothing new.
async fn make<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    loaded: &mut Loaded<S::Child>,
    run: &Run,
) -> Result<()> {
    let kind = child_kind::<S>();
    let existed = loaded.children.iter().find(|c| c.name_any() == run.name);
    if let (RunKind::Trigger { value }, Some(existing)) = (&run.kind, existed) {
        // The value was used before and its child is still here: nothing new is made.
        let made = existing
            .annotations()
            .get(ANNOTATION_SCHEDULED_AT)
            .cloned()
            .unwrap_or_default();
        let note = format!(
            "{ANNOTATION_TRIGGER}={value:?} was used before: its {kind} {} exists (made at {made}), so no new child is made; set a new value for another run",
            run.name
        );
        w.event(
            EventType::Normal,
            reasons::TRIGGER_ALREADY_USED,
            ACTION,
            &note,
        )
        .await;
        w.status.last_trigger = Some(value.clone());
        return Ok(());
    }
    let child = children::build(w.obj, &run.name, run.at)?;
    if children::create(w.obj, &loaded.api, &child).await? {
        if !loaded.views.iter().any(|v| v.name == run.name) {
            loaded.views.push(ChildView {
                name: run.name.clone(),
                at: run.at,
                state: ChildState::Running,
            });
        }
        let (reason, note) = made_note(run, &kind);
        w.event(EventType::Normal, reason, ACTION, &note).await;
    } else {
        let note = format!(
            "{kind} {} exists and is not owned by this schedule; the run is skipped",
            run.name
        );
        w.event(EventType::Warning, reasons::CHILD_NAME_TAKEN, ACTION, &note)
            .await;
    }
    match &run.kind {
        RunKind::Trigger { value } => w.status.last_trigger = Some(value.clone()),
        _ => w.status.last_schedule_time = Some(Time(run.at)),
    }
    Ok(())
}

/// The event of a child made for `run`.
fn made_note(run: &Run, kind: &str) -> (&'static str, String) {
    match &run.kind {
        RunKind::Slot => (
            reasons::RUN_CREATED,
            format!("created {kind} {} for the slot {}", run.name, run.at),
        ),
        RunKind::OnCreate => (
            reasons::RUN_CREATED,
            format!("created {kind} {} (runOnCreate)", run.name),
        ),
        RunKind::MissedSlot { since } => (
            reasons::MISSED_RUN_CREATED,
            format!(
                "created {kind} {} for the missed slot {}; slots missed since {since} are not made up",
                run.name, run.at
            ),
        ),
        RunKind::Trigger { value } => (
            reasons::TRIGGERED_RUN_CREATED,
            format!(
                "created {kind} {} for {ANNOTATION_TRIGGER}={value:?}",
                run.name
            ),
        ),
    }
}

/// Records the slot skipped for `why`.
async fn skip<S: BackupSchedule>(w: &mut Work<'_, S>, slot: Timestamp, why: &str) {
    w.status.last_skipped = Some(SkippedRun {
        time: Time(slot),
        reason: why.to_string(),
    });
    let note = format!("skipped the slot {slot}: it is older than startingDeadlineSeconds");
    w.event(EventType::Normal, reasons::RUN_SKIPPED, ACTION, &note)
        .await;
}

/// Retention. A child protected against deletion is kept (seen before deleting, or refused by
/// the API server's admission): the rest of the reconcile goes on. Returns the kept children.
async fn prune<S: BackupSchedule>(
    w: &Work<'_, S>,
    loaded: &mut Loaded<S::Child>,
    prune: &[(String, bool)],
) -> Result<Vec<(String, String)>> {
    let kind = child_kind::<S>();
    let mut kept: Vec<(String, String)> = Vec::new();
    for (victim, protected) in prune {
        if *protected {
            kept.push((
                victim.clone(),
                format!("annotation {ANNOTATION_DELETION_PROTECTION}"),
            ));
            continue;
        }
        match children::delete(&loaded.api, victim).await {
            Ok(()) => {
                loaded.views.retain(|v| &v.name != victim);
                let note = format!(
                    "deleted {kind} {victim} (retention); its cloud backup follows its deletionPolicy"
                );
                w.event(EventType::Normal, reasons::CHILD_PRUNED, ACTION, &note)
                    .await;
            }
            Err(e) => match children::refusal(&e) {
                Some(why) => kept.push((victim.clone(), format!("the API server refused: {why}"))),
                None => return Err(e),
            },
        }
    }
    Ok(kept)
}

/// Deleting the schedule with `childrenDeletionPolicy: Orphan`: the schedule's ownerReference
/// is removed from every child, so they stay (and so do their cloud backups).
pub(super) async fn orphan_all<S: BackupSchedule>(
    obj: &S,
    api: &Api<S::Child>,
    children: &[S::Child],
) -> Result<Outcome> {
    let uid = obj.uid().unwrap_or_default();
    for child in children {
        children::orphan(api, child, &uid).await?;
    }
    let names: Vec<String> = children.iter().map(ResourceExt::name_any).collect();
    let mut outcome = Outcome::finished();
    if !names.is_empty() {
        outcome = outcome.note(
            EventType::Normal,
            reasons::CHILDREN_ORPHANED,
            ACTION,
            format!(
                "left {} {} in place (childrenDeletionPolicy Orphan): {}",
                names.len(),
                child_kind::<S>(),
                names.join(", ")
            ),
        );
    }
    Ok(outcome)
}

/// Deleting the schedule with `childrenDeletionPolicy: Delete`: every child is deleted (each
/// then follows its own `deletionPolicy`). A protected child (or one whose delete the API
/// server refuses) is left in place without the ownerReference, so the schedule can go and the
/// child stays.
pub(super) async fn delete_all<S: BackupSchedule>(
    obj: &S,
    api: &Api<S::Child>,
    children: &[S::Child],
) -> Result<Outcome> {
    let uid = obj.uid().unwrap_or_default();
    let kind = child_kind::<S>();
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for child in children {
        let n = child.name_any();
        let refused = if deletion_protected(child.meta().annotations.as_ref()) {
            Some(format!("annotation {ANNOTATION_DELETION_PROTECTION}"))
        } else {
            match children::delete(api, &n).await {
                Ok(()) => None,
                Err(e) => Some(children::refusal(&e).ok_or(e)?),
            }
        };
        match refused {
            Some(why) => {
                children::orphan(api, child, &uid).await?;
                kept.push(format!("{n} ({why})"));
            }
            None => deleted.push(n),
        }
    }
    let mut outcome = Outcome::finished();
    if !kept.is_empty() {
        outcome = outcome.note(
            EventType::Warning,
            reasons::CHILDREN_ORPHANED,
            ACTION,
            format!(
                "left {} protected {kind} in place (childrenDeletionPolicy Delete cannot delete them): {}",
                kept.len(),
                some_names(&kept)
            ),
        );
    }
    if !deleted.is_empty() {
        outcome = outcome.note(
            EventType::Normal,
            reasons::CHILDREN_DELETED,
            ACTION,
            format!(
                "deleted {} {kind} (childrenDeletionPolicy Delete; each follows its deletionPolicy): {}",
                deleted.len(),
                deleted.join(", ")
            ),
        );
    }
    Ok(outcome)
}
