//! The `RdsBackup` controller: one manual ApsaraDB RDS backup, created exactly once, tracked to
//! its end, and cleaned up per `deletionPolicy`.
//!
//! Reconcile is `load → validate → plan → act → status` (`docs/architecture.md#one-reconcile`):
//!
//! * **load**: the object (and, for a create, a fresh list of the `RdsBackup`s on the same
//!   instance), the credentials Secret.
//! * **validate** ([`plan::validate`], pure): spec → `CreateBackupRequest`, or a message for
//!   `Stalled/InvalidSpec`.
//! * **plan** ([`plan::plan`], pure): status → one [`Step`].
//! * **act**: at most one mutating cloud call (`CreateBackup` or `DeleteBackup`), plus the
//!   describes that observe it.
//! * **status**: computed from the observation by pure functions ([`plan::observe_task`],
//!   [`plan::record_backup_set`]) and written with server-side apply only when it changed.
//!
//! This file is the [`Reconciler`] impl; the acts live next to it: `create` (the create
//! critical section), `intent` (an intent whose outcome is unknown), `adopt` (an id a person
//! names), `track` (a task to its end), `cleanup` (deletion) and `describe` (the reads they
//! share). The pure decisions are in [`plan`].
//!
//! # Exactly once (`docs/architecture.md#rdsbackup`)
//!
//! RDS `CreateBackup` has no idempotency token, so the operator keeps these rules:
//!
//! 1. **Intent first.** Before `CreateBackup`, status records `pendingCreate {token, startedAt}`.
//!    The intent is cleared when the outcome is known: a `BackupJobId` (recorded in the same
//!    write), or an error that proves the call did not run (an RDS 4xx error response with a
//!    code, such as `BackupJobExists`, `InvalidParameter` or throttling; a refused connection).
//!    After a timeout, a 5xx or a crash the intent stays: **the outcome is unknown**.
//! 2. **Unknown outcome ⇒ adopt, never re-create blindly.** With `pendingCreate` set and no
//!    `backupJobId`, the next reconcile first looks for the task:
//!    `DescribeBackupTasks(DBInstanceId, BackupMode=Manual)` lists the running manual tasks; if
//!    none is ours, `DescribeBackups(BackupMode=Manual, StartTime≥startedAt)` lists the finished
//!    sets (a task that ended while the operator was down). Only when both come back without a
//!    candidate is `CreateBackup` called again (under the same intent).
//! 3. **Telling ours from theirs.** Neither list says who created a task, so the operator makes
//!    the answer unambiguous: **at most one object per instance may hold an unresolved intent.**
//!    The whole critical section (fresh list of the `RdsBackup`s on the instance → adopt or
//!    record intent → `CreateBackup` → record the job id) runs under a per-instance lock, and an
//!    object does not record an intent while another object on the same instance has an
//!    unresolved one (it waits with reason `WaitingForInstance`). A task or backup set whose id
//!    is recorded in another object's status is **claimed** and never adopted. So an unclaimed
//!    manual task on the instance can only be ours. Leader election makes the lock global.
//! 4. **`BackupJobExists` on a fresh intent is theirs.** The error proves our call did not run;
//!    another backup (another object's, or one started outside the operator) is running. The
//!    intent is cleared and the object waits with exponential backoff (`WaitingForRunningBackup`)
//!    and tries again. On an intent whose outcome was unknown, `BackupJobExists` triggers one
//!    more adoption lookup first (our earlier call may just have become visible).
//!
//! Residual risk: a manual backup started *outside* the operator on the same instance while one
//! of our intents is unresolved (after a crash or a lost response) would be adopted as ours.
//!
//! # Deletion
//!
//! Through kube-runtime's finalizer helper (`backup.aliyun.dev/cleanup`): the orphan annotation
//! lets go at once (no Secret read, no cloud call); `Retain` lets go without cloud calls;
//! `Delete` waits for a running task to end, then deletes the backup set (`NotFound` = done;
//! `StoreStatus: Disabled` → `Stalled`).

mod adopt;
mod cleanup;
mod create;
mod describe;
mod intent;
pub mod plan;
mod track;

use async_trait::async_trait;

use self::adopt::adopt_existing;
use self::cleanup::act_cleanup;
use self::create::{create_or_adopt, load_claims};
use self::plan::{
    CleanupStep, Peers, Step, peers, plan_cleanup_managed, same_instance, terminal_health,
    validate, validate_adoption,
};
use self::track::{fetch_backup_set, track};
use crate::cloud::Target;
use crate::cloud::api::CreateBackupRequest;
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{DeletionPolicy, RdsBackup, RdsBackupPhase, RdsBackupStatus};

/// Kind name used in metrics and logs.
pub const KIND: &str = "RdsBackup";

kind::one_shot_backup!(RdsBackup, KIND, RdsBackupPhase);

kind::tracked!(
    RdsBackup,
    crate::crd::RdsBackupStatus,
    RdsBackupPhase,
    settled = plan::settled_health,
    completion_time = completion_time,
    progress = [cloud_status, cloud_progress_status, progress],
    ended = plan::ended
);

// ---------------------------------------------------------------------------------------------
// the pipeline steps (`controller::pipeline`): validate, plan, act; cleanup
// ---------------------------------------------------------------------------------------------

type Work<'a> = work::Work<'a, RdsBackup>;

/// The per-instance lock of the create critical section (`docs/architecture.md#rdsbackup`).
fn instance_lock_key(spec: &crate::crd::RdsBackupSpec) -> String {
    format!("rds/{}/{}", spec.region, spec.instance())
}

#[async_trait]
impl Reconciler for RdsBackup {
    /// The create request, when the next step starts a backup.
    type Valid = Option<CreateBackupRequest>;
    /// Nothing is read before the plan: a running task is described by its act.
    type Seen = ();
    type Step = Step;
    type CleanupStep = CleanupStep;
    type Reach = Target;

    fn at_rest(&self, status: &RdsBackupStatus, timing: &Timing) -> Option<Outcome> {
        (plan::plan_spec(&self.spec, Some(status)) == Step::Done).then(|| {
            match terminal_health(status) {
                Some(h) => Outcome::requeue(h, timing.resync),
                None => Outcome::fields(Next::After(timing.resync)),
            }
        })
    }

    /// Only a create needs the request (a recorded task is tracked whatever the spec says);
    /// the adoption fields are checked before anything is recorded.
    fn validate(
        &self,
        status: &RdsBackupStatus,
    ) -> std::result::Result<Option<CreateBackupRequest>, String> {
        let starting = matches!(
            plan::plan_spec(&self.spec, Some(status)),
            Step::Create | Step::Adopt | Step::AdoptExisting(_)
        );
        match validate(&self.spec).and_then(|r| validate_adoption(&self.spec).map(|_| r)) {
            Ok(r) => Ok(Some(r)),
            Err(message) if starting => Err(message),
            Err(_) => Ok(None),
        }
    }

    async fn observe(
        _: &mut Work<'_>,
        _: &Context,
        _: &Target,
        _: &Option<CreateBackupRequest>,
    ) -> Result<std::result::Result<(), Outcome>> {
        Ok(Ok(()))
    }

    fn plan(&self, status: &RdsBackupStatus, _: &Option<CreateBackupRequest>, _: &()) -> Step {
        plan::plan_spec(&self.spec, Some(status))
    }

    async fn act(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        act: Act<'_, RdsBackup>,
    ) -> Result<Outcome> {
        let rds = ctx.cloud.rds(target);
        let spec = &w.obj.spec;
        Ok(match act.step {
            Step::Create | Step::Adopt => {
                let Some(request) = act.valid else {
                    return Ok(Outcome::fields(Next::After(ctx.timing.resync)));
                };
                // The create critical section: lock, fresh claims, act, commit.
                let _guard = ctx.locks.lock(&instance_lock_key(spec)).await;
                let Some(claims) = load_claims(w, ctx).await? else {
                    return Ok(Outcome::await_change());
                };
                // Decided on the fresh status: no intent is lost. (An unresolved intent is
                // resolved first, whatever the deadline.)
                let missed = (claims.step == Step::Create)
                    .then(|| w.missed_start(act.deadline, "RDS"))
                    .flatten();
                match missed {
                    Some(outcome) => outcome,
                    None => create_or_adopt(w, rds.as_ref(), request, claims).await?,
                }
            }
            Step::AdoptExisting(_) => {
                // The adoption critical section: the same lock and fresh claims as a create.
                let _guard = ctx.locks.lock(&instance_lock_key(spec)).await;
                let Some(claims) = load_claims(w, ctx).await? else {
                    return Ok(Outcome::await_change());
                };
                adopt_existing(w, rds.as_ref(), claims).await?
            }
            Step::Track { job_id } => track(w, rds.as_ref(), &job_id, act.deadline).await?,
            Step::FetchBackupSet { backup_id } => {
                fetch_backup_set(w, rds.as_ref(), &backup_id).await?
            }
            Step::Done => Outcome::fields(Next::After(ctx.timing.resync)),
        })
    }

    fn adopted(&self, status: &RdsBackupStatus) -> Option<String> {
        plan::adopted_message(&self.spec, status)
    }

    fn plan_cleanup(
        &self,
        orphan: bool,
        policy: DeletionPolicy,
        status: &RdsBackupStatus,
    ) -> Cleanup<CleanupStep> {
        match plan_cleanup_managed(orphan, policy, self.spec.management_policy, status) {
            CleanupStep::LetGo(note) => Cleanup::LetGo(note),
            CleanupStep::Finished => Cleanup::Finished,
            step => Cleanup::Act {
                step,
                cannot: "delete the backup set".to_string(),
            },
        }
    }

    async fn act_cleanup(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        step: CleanupStep,
    ) -> Result<Outcome> {
        let rds = ctx.cloud.rds(target);
        if step != CleanupStep::ResolveIntent {
            return Ok(act_cleanup(w, rds.as_ref(), Peers::default()).await);
        }
        // A create may have run: find it (under the instance lock, with fresh claims) before
        // deciding there is nothing to delete.
        let obj = w.obj;
        let _guard = ctx.locks.lock(&instance_lock_key(&obj.spec)).await;
        let all = runtime::fresh_claims(ctx, obj, |o| same_instance(&obj.spec, &o.spec))
            .await?
            .unwrap_or_default();
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let mut peers = peers(&uid, &obj.spec, &all);
        peers.auto_resolve = policy::auto_resolve_lost_creates(obj, ctx).await?;
        Ok(act_cleanup(w, rds.as_ref(), peers).await)
    }
}

#[cfg(test)]
mod tests;
