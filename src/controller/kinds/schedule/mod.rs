//! The schedule controller, written once for both schedule kinds ([`BackupSchedule`]) over
//! their child kinds ([`ScheduledChild`]): `RdsBackupSchedule` → `RdsBackup`,
//! `HbrBackupSchedule` → `HbrBackupJob`. See `docs/architecture.md#schedules`.
//!
//! The schedules run through the shared runtime like every kind: `runtime::controllers` (with
//! their children watched: [`Tracked::watch_owned`]), `work::reconcile` (pause, finalizer),
//! the shared error policy and backoff, and `work::finish` for the status (server-side apply
//! only when changed, conditions with `observedGeneration`) and the requeue. A schedule keeps
//! time on `ctx.clock` ([`Tracked::KEEPS_TIME`]); paused, it still judges its RPO
//! ([`Tracked::while_paused`]).
//!
//! One reconcile, in the named steps of the one pipeline (`impl Reconciler` in
//! `schedule_kind!`; no credentials gate: a schedule makes no cloud calls):
//!
//! * **validate** ([`plan::validate`], [`plan::check_concurrency`], pure): cron, time zone,
//!   durations; else `Stalled/InvalidSpec` (`invalid`: the children loaded and reported, the
//!   RPO judged, `status::invalid`);
//! * **observe** (`children::load`): the children, listed fresh from the API server, and the
//!   time from `ctx.clock`;
//! * **plan** ([`plan::plan`], pure): the slots, retention and the RPO verdict;
//! * **act** (`act::act`): delete replaced children, create due children, prune; an Event for
//!   each;
//! * **status** (`status::valid`): counts, conditions and the events of what changed, as the
//!   outcome `work::finish` writes.
//!
//! Children are created *before* the status records them and carry deterministic names, so a
//! crash in between finds the child (`AlreadyExists`, owned by this schedule) and records it
//! instead of making a second one.
//!
//! Deleting a schedule (finalizer `backup.aliyun.dev/cleanup`): `childrenDeletionPolicy:
//! Orphan` (default) removes the schedule's ownerReference from every child first, so they
//! stay (and so do their cloud backups); `Delete` deletes them, and each child then follows
//! its own `deletionPolicy` (`act::orphan_all`, `act::delete_all`).

mod act;
pub mod children;
pub mod plan;
mod status;

use std::time::Duration;

use async_trait::async_trait;
use kube::runtime::Controller;
use kube::{Client, Resource, ResourceExt};

use self::plan::{InvalidSchedule, Plan, SlotInput, ValidSpec};
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{
    self, ManagedResource, Tracked, TrackedStatus, WhilePaused,
};
use crate::controller::reconcile::pipeline::{Act, Cleanup, NoCloud, Reconciler};
pub use crate::controller::reconcile::scheduling::{BackupSchedule, ScheduledChild};
use crate::controller::reconcile::work::{Outcome, Work};
use crate::crd::{
    ANNOTATION_TRIGGER, BackupScheduleSpec, BackupScheduleStatus, ChildrenDeletionPolicy,
    DeletionPolicy, HbrBackupSchedule, RdsBackupSchedule, SchedulePhase,
};

/// The action of every event a schedule publishes.
const ACTION: &str = "Schedule";

impl TrackedStatus for BackupScheduleStatus {
    type Phase = SchedulePhase;
    // `Active` or `Suspended` is set once the spec is valid; before, there is no phase.
    const DEFAULT_PHASE: bool = false;
    kind::status_core!(SchedulePhase);
    fn event_action(_: SchedulePhase) -> &'static str {
        ACTION
    }
    // A schedule makes no cloud object itself: no deletion policy (`childrenDeletionPolicy`
    // is about its children), no request id, no create intent, no `Failed`/`Deleting` phase.
    fn deletion_policy_mut(
        &mut self,
    ) -> Option<(&mut Option<DeletionPolicy>, &mut Option<String>)> {
        None
    }
}

/// Implements [`ManagedResource`] and [`Tracked`] for a schedule kind.
macro_rules! schedule_kind {
    ($kind:ty, $name:literal) => {
        impl ManagedResource for $kind {
            const KIND: &'static str = $name;
            fn credentials_secret(&self) -> Option<&str> {
                // A schedule makes no cloud calls; its children read their own Secret.
                None
            }
            fn last_success(&self) -> Option<jiff::Timestamp> {
                self.status
                    .as_ref()
                    .and_then(|s| s.last_successful_time.as_ref())
                    .map(|t| t.0)
            }
            fn region(&self) -> &str {
                <<$kind as BackupSchedule>::Child as ScheduledChild>::region(
                    &self.spec.schedule.template.spec,
                )
            }
            fn rpo(&self) -> Option<&str> {
                self.spec.schedule.rpo.as_deref()
            }
            fn next_run(&self) -> Option<jiff::Timestamp> {
                self.status
                    .as_ref()
                    .and_then(|s| s.next_schedule_time.as_ref())
                    .map(|t| t.0)
            }
        }
        impl Tracked for $kind {
            type Status = BackupScheduleStatus;
            const KEEPS_TIME: bool = true;
            fn status(&self) -> Option<&BackupScheduleStatus> {
                self.status.as_ref()
            }
            fn watch_owned(
                controller: Controller<Self>,
                client: &Client,
                namespace: Option<&str>,
            ) -> Controller<Self> {
                children::watch(controller, client, namespace)
            }
            fn while_paused(
                &self,
                ctx: &Context,
                status: &mut BackupScheduleStatus,
                now: jiff::Timestamp,
            ) -> WhilePaused {
                status::while_paused(self, ctx, status, now)
            }
        }
        #[async_trait]
        impl Reconciler for $kind {
            type Valid = ValidSpec;
            type Seen = children::Loaded<<$kind as BackupSchedule>::Child>;
            type Step = Plan;
            type CleanupStep = ChildrenDeletionPolicy;
            type Reach = NoCloud;
            const DELETION_POLICY: bool = false;
            fn validate(&self, _: &BackupScheduleStatus) -> std::result::Result<ValidSpec, String> {
                validate::<$kind>(self.schedule_spec()).map_err(|e| e.0)
            }
            async fn invalid(
                w: &mut Work<'_, Self>,
                ctx: &Context,
                message: String,
            ) -> Result<Outcome> {
                invalid(w, ctx, message).await
            }
            async fn observe(
                w: &mut Work<'_, Self>,
                ctx: &Context,
                _: &NoCloud,
                _: &ValidSpec,
            ) -> Result<std::result::Result<Self::Seen, Outcome>> {
                Ok(Ok(children::load(w.obj, ctx, w.now()).await?))
            }
            fn plan(
                &self,
                status: &BackupScheduleStatus,
                valid: &ValidSpec,
                loaded: &Self::Seen,
            ) -> Plan {
                plan_step(self, status, valid, loaded)
            }
            async fn act(
                w: &mut Work<'_, Self>,
                ctx: &Context,
                _: &NoCloud,
                act: Act<'_, Self>,
            ) -> Result<Outcome> {
                act_step(w, ctx, act.valid, act.seen, &act.step).await
            }
            fn plan_cleanup(
                &self,
                _: bool,
                _: DeletionPolicy,
                _: &BackupScheduleStatus,
            ) -> Cleanup<ChildrenDeletionPolicy> {
                Cleanup::Act {
                    step: self.spec.schedule.children_deletion_policy,
                    cannot: "clean up its children".to_string(),
                }
            }
            async fn act_cleanup(
                w: &mut Work<'_, Self>,
                ctx: &Context,
                _: &NoCloud,
                policy: ChildrenDeletionPolicy,
            ) -> Result<Outcome> {
                cleanup_children(w, ctx, policy).await
            }
        }
    };
}

schedule_kind!(RdsBackupSchedule, "RdsBackupSchedule");
schedule_kind!(HbrBackupSchedule, "HbrBackupSchedule");

/// The invalid-spec outcome of a schedule: `Stalled/InvalidSpec`, and its children and RPO
/// still reported (the children are loaded first, as in a valid reconcile).
async fn invalid<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    ctx: &Context,
    message: String,
) -> Result<Outcome> {
    let loaded = children::load(w.obj, ctx, w.now()).await?;
    Ok(status::invalid(w, &loaded, InvalidSchedule(message)))
}

/// The plan step (pure): the slots, the pruning and the RPO verdict from the spec, the status
/// as last read, the children and the trigger annotation.
fn plan_step<S: BackupSchedule>(
    obj: &S,
    status: &BackupScheduleStatus,
    valid: &ValidSpec,
    loaded: &children::Loaded<S::Child>,
) -> Plan {
    let name = obj.name_any();
    let active: Vec<String> = loaded
        .views
        .iter()
        .filter(|v| !v.state.is_finished())
        .map(|v| v.name.clone())
        .collect();
    let trigger = obj.annotations().get(ANNOTATION_TRIGGER).cloned();
    let spec = obj.schedule_spec();
    let input = slot_input(&name, spec, status, loaded, &active, trigger.as_deref());
    let recorded = status.last_successful_time.as_ref().map(|t| t.0);
    let protected = loaded.protected();
    plan::plan(
        valid,
        &input,
        &loaded.views,
        &protected,
        recorded,
        loaded.newest_success,
    )
}

/// The act step (children replaced, created and pruned), then the status of what came of it.
async fn act_step<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    ctx: &Context,
    valid: &ValidSpec,
    mut loaded: children::Loaded<S::Child>,
    plan: &Plan,
) -> Result<Outcome> {
    let kept = act::act(w, &mut loaded, plan).await?;
    let prunes_successes = !valid.rule.keeps_all_successes();
    status::valid(w, ctx, &loaded, plan, &kept, prunes_successes).await
}

/// The validate step: what the CRD schema cannot check ([`plan::validate`]) and
/// `concurrencyPolicy: Replace` for a child kind that cannot be stopped.
fn validate<S: BackupSchedule>(
    spec: &BackupScheduleSpec<<S::Child as ScheduledChild>::Spec>,
) -> std::result::Result<ValidSpec, InvalidSchedule> {
    let valid = plan::validate(spec)?;
    plan::check_concurrency(
        spec.concurrency_policy,
        &child_kind::<S>(),
        <S::Child as ScheduledChild>::CANCELLABLE,
    )?;
    Ok(valid)
}

/// What the slot decision reads: the schedule (`name`, its spec), its status as last read,
/// the time, the children that have not finished (`active`) and the trigger annotation.
fn slot_input<'a, T>(
    name: &'a str,
    spec: &BackupScheduleSpec<T>,
    status: &'a BackupScheduleStatus,
    loaded: &children::Loaded<impl ScheduledChild>,
    active: &'a [String],
    trigger: Option<&'a str>,
) -> SlotInput<'a> {
    SlotInput {
        name,
        now: loaded.now,
        created: loaded.created,
        suspend: spec.suspend,
        run_on_create: spec.run_on_create,
        starting_deadline: spec
            .starting_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        policy: spec.concurrency_policy,
        last_schedule: status.last_schedule_time.as_ref().map(|t| t.0),
        last_skipped: status.last_skipped.as_ref().map(|s| s.time.0),
        active,
        trigger,
        last_trigger: status.last_trigger.as_deref(),
    }
}

/// Deleting a schedule: its children are orphaned or deleted, per
/// `childrenDeletionPolicy`.
async fn cleanup_children<S: BackupSchedule>(
    w: &mut Work<'_, S>,
    ctx: &Context,
    policy: ChildrenDeletionPolicy,
) -> Result<Outcome> {
    let obj = w.obj;
    let children_api = children::api(obj, ctx)?;
    let all = children::list(obj, &children_api).await?;
    match policy {
        ChildrenDeletionPolicy::Orphan => act::orphan_all(obj, &children_api, &all).await,
        ChildrenDeletionPolicy::Delete => act::delete_all(obj, &children_api, &all).await,
    }
}

/// The kind of the children of `S` (`RdsBackup`, `HbrBackupJob`).
fn child_kind<S: BackupSchedule>() -> String {
    <S::Child as Resource>::kind(&()).to_string()
}

/// At most five names, then how many more.
fn some_names(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::controller::reconcile::scheduling::ChildState;
    use crate::crd::{HbrBackupJob, RdsBackup};

    fn rds_child(status: serde_json::Value) -> RdsBackup {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "RdsBackup",
            "metadata": { "name": "c", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "dbInstanceId": "rm-1" },
            "status": status,
        }))
        .unwrap()
    }

    /// Issue 30, schedules 6: the RPO counts from when the backup ended in the cloud, not
    /// from when the operator noticed (after downtime, minutes later).
    #[test]
    fn the_rpo_uses_the_clouds_end_time_where_the_child_has_it() {
        let ended: jiff::Timestamp = "2025-03-01T19:36:46Z".parse().unwrap();
        let noticed: jiff::Timestamp = "2025-03-01T19:38:25Z".parse().unwrap();
        let recorded = rds_child(serde_json::json!({
            "phase": "Succeeded",
            "completionTime": noticed.to_string(),
            "backupSet": { "backupId": "1", "endTime": ended.to_string() },
        }));
        assert_eq!(recorded.succeeded_at(), Some(ended));
        // backupSetDetails Skip: RDS's task list has no end time; the time it was seen.
        let skipped = rds_child(serde_json::json!({
            "phase": "Succeeded",
            "completionTime": noticed.to_string(),
        }));
        assert_eq!(skipped.succeeded_at(), Some(noticed));
        let failed = rds_child(serde_json::json!({
            "phase": "Failed",
            "completionTime": noticed.to_string(),
            "backupSet": { "endTime": ended.to_string() },
        }));
        assert_eq!(failed.succeeded_at(), None);
        // HBR: completionTime is the job's CompleteTime.
        let job: HbrBackupJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "HbrBackupJob",
            "metadata": { "name": "j", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "sourceType": "UDM_ECS", "instanceId": "i-1", "retention": 7 },
            "status": { "phase": "Succeeded", "completionTime": ended.to_string() },
        }))
        .unwrap();
        assert_eq!(job.succeeded_at(), Some(ended));
    }

    #[test]
    fn a_child_stalled_before_it_finished_is_stalled_not_running() {
        let cond = |t: &str, s: &str, r: &str| {
            serde_json::json!({"type": t, "status": s, "reason": r, "message": "m",
                               "lastTransitionTime": "2025-03-01T00:00:00Z"})
        };
        let stuck = rds_child(serde_json::json!({
            "phase": "Pending",
            "conditions": [cond("Stalled", "True", "CredentialsSecretNotFound")],
        }));
        assert_eq!(stuck.state(), ChildState::Stalled);
        assert_eq!(
            stuck.stalled(),
            Some(("CredentialsSecretNotFound".into(), "m".into()))
        );
        let running = rds_child(serde_json::json!({
            "phase": "Running",
            "conditions": [cond("Stalled", "False", "BackupRunning")],
        }));
        assert_eq!(running.state(), ChildState::Running);
        // A failed backup is Stalled too, but finished.
        let failed = rds_child(serde_json::json!({
            "phase": "Failed",
            "conditions": [cond("Stalled", "True", "BackupFailed")],
        }));
        assert_eq!(failed.state(), ChildState::Failed);
    }
}
