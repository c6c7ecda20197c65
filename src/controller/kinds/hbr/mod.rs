//! The `HbrBackupJob` controller: one Cloud Backup (HBR) job, created exactly once, tracked to
//! its end, cancelled and cleaned up per `deletionPolicy`.
//!
//! Reconcile is `load → validate → plan → act → status` (`docs/architecture.md#one-reconcile`):
//!
//! * **validate** ([`plan::validate`], pure): spec → `CreateBackupJobRequest` (the `Detail`
//!   object, include/exclude lists, speed limits, container resources, cross-account fields and
//!   the job name carrying the object's UID), or `Stalled/InvalidSpec`.
//! * **plan** ([`plan::plan`], pure): status → one [`plan::Step`].
//! * **act**: at most one `CreateBackupJob`, plus the describes that observe it.
//! * **status**: [`plan::job_view`] / [`plan::record_job`] (pure) and a server-side-apply write
//!   only when something changed; an event on every transition.
//!
//! # Exactly once (`docs/architecture.md#exactly-once`)
//!
//! `CreateBackupJob` has no idempotency token. Status records `pendingCreate` and the job name
//! (prefix + UID) before the call; while an intent has no `jobId`, every reconcile first looks
//! for the job by name with `DescribeBackupJobs2` (creation time at or after the intent) and
//! adopts it. Only when it is not there is `CreateBackupJob` sent (again). Mutating calls are
//! planned only on the latest version of the object (never on a lagging cache).
//!
//! # Deletion
//!
//! The orphan annotation lets go at once. Otherwise a running job is cancelled
//! (`CancelBackupJob`) and awaited; with `deletionPolicy: Delete` the job's snapshots are
//! looked up (`UDM_ECS`: `DescribeUdmSnapshots`; `ECS_FILE`: `SearchHistoricalSnapshots` in the
//! job's vault, matched by `JobId`) and deleted (`DeleteSnapshot`); the finalizer stays until
//! they are gone, NotFound = done. A `CONTAINER` job's snapshot cannot be looked up (the
//! snapshot search covers `ECS_FILE`, `OSS` and `NAS`): it stays, with a `SnapshotRetained`
//! Warning event.
//!
//! This file is the [`Reconciler`] impl and the apply step; the acts live next to it: `create`
//! (intent, create, the search by name, adoption), `track` (the job to its end), `snapshots`
//! (the snapshot ids), `cleanup` (deletion). The pure decisions are in [`plan`].

mod cleanup;
mod create;
pub mod plan;
pub(crate) mod snapshots;
mod track;

use async_trait::async_trait;
use kube::ResourceExt;

use self::cleanup::act_cleanup;
use self::create::{adopt_existing, record_intent_and_create, recover_or_create};
use self::plan::Step;
use self::snapshots::fetch_snapshots;
use self::track::track;
use crate::cloud::api::hbr::{CreateBackupJobRequest, HbrBackupJob as CloudJob};
use crate::cloud::{HbrApi, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{DeletionPolicy, HbrBackupJob, HbrBackupJobPhase, HbrBackupJobStatus};

/// Kind name used in metrics and logs.
pub const KIND: &str = "HbrBackupJob";

/// Error code of `CancelBackupJob` for a job that already ended.
pub const JOB_STATUS_NOT_ALLOW_CANCEL: &str = "JobStatusNotAllowCancel";

kind::one_shot_backup!(HbrBackupJob, KIND, HbrBackupJobPhase);

kind::tracked!(
    HbrBackupJob,
    crate::crd::HbrBackupJobStatus,
    HbrBackupJobPhase,
    settled = plan::settled_health,
    completion_time = completion_time,
    progress = [
        cloud_status,
        progress,
        bytes_done,
        bytes_total,
        actual_bytes
    ],
    ended = plan::ended
);

type Work<'a> = work::Work<'a, HbrBackupJob>;

impl Work<'_> {
    /// Records a freshly observed job and returns its view.
    fn record(&mut self, job: &CloudJob) -> plan::JobView {
        plan::record_job(&mut self.status, job);
        let view = plan::job_view(job);
        self.status.phase = Some(view.phase);
        view
    }
}

/// Whether `step` starts cloud work (an intent, a create, an adoption).
fn starting(step: &Step) -> bool {
    matches!(
        step,
        Step::RecordIntent | Step::RecoverOrCreate | Step::AdoptExisting { .. }
    )
}

#[async_trait]
impl Reconciler for HbrBackupJob {
    /// The create request (a default one when no create can follow: a job is tracked, or
    /// adopted, whatever the spec says).
    type Valid = CreateBackupJobRequest;
    /// Nothing is read before the plan: a running job is described by its act.
    type Seen = ();
    type Step = Step;
    /// Whether the job's snapshots are deleted too (`deletionPolicy: Delete`).
    type CleanupStep = bool;
    type Reach = Target;

    /// Mutating calls are planned only on the latest version of the object.
    fn needs_fresh(&self, status: &HbrBackupJobStatus) -> bool {
        starting(&plan::plan(&self.spec, status))
    }

    fn at_rest(&self, status: &HbrBackupJobStatus, timing: &Timing) -> Option<Outcome> {
        (plan::plan(&self.spec, status) == Step::Done)
            .then(|| Outcome::fields(Next::After(timing.resync)))
    }

    fn validate(
        &self,
        status: &HbrBackupJobStatus,
    ) -> std::result::Result<CreateBackupJobRequest, String> {
        let step = plan::plan(&self.spec, status);
        if starting(&step) {
            plan::validate_adoption(&self.spec).map_err(|e| e.0)?;
        }
        let uid = self.metadata.uid.as_deref().unwrap_or_default();
        match plan::validate(&self.spec, &self.name_any(), uid) {
            // An adopted job is never created: the create request does not matter.
            _ if matches!(step, Step::AdoptExisting { .. }) => Ok(Default::default()),
            Ok(r) => Ok(r),
            Err(e) if matches!(step, Step::RecordIntent | Step::RecoverOrCreate) => Err(e.0),
            // A job exists: keep tracking it whatever the spec says.
            Err(_) => Ok(Default::default()),
        }
    }

    async fn observe(
        _: &mut Work<'_>,
        _: &Context,
        _: &Target,
        _: &CreateBackupJobRequest,
    ) -> Result<std::result::Result<(), Outcome>> {
        Ok(Ok(()))
    }

    fn plan(&self, status: &HbrBackupJobStatus, _: &CreateBackupJobRequest, _: &()) -> Step {
        plan::plan(&self.spec, status)
    }

    async fn act(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        act: Act<'_, HbrBackupJob>,
    ) -> Result<Outcome> {
        if act.step == Step::RecordIntent
            && let Some(outcome) = w.missed_start(act.deadline, "Cloud Backup")
        {
            // Planned on the latest version: nothing was sent.
            return Ok(outcome);
        }
        let hbr = ctx.cloud.hbr(target);
        match act.step {
            Step::AdoptExisting { job_id } => {
                // The claims of the other objects, read fresh (the cache may lag behind theirs).
                let all = runtime::list_fresh::<HbrBackupJob>(ctx).await?;
                let holder = plan::adoption_holder(&kind::uid(w.obj)?, &job_id, &all);
                adopt_existing(w, hbr.as_ref(), &job_id, holder).await
            }
            step => self::act(w, hbr.as_ref(), step, act.valid, act.deadline).await,
        }
    }

    fn adopted(&self, status: &HbrBackupJobStatus) -> Option<String> {
        plan::adopted_message(&self.spec, status)
    }

    fn plan_cleanup(
        &self,
        orphan: bool,
        policy: DeletionPolicy,
        status: &HbrBackupJobStatus,
    ) -> Cleanup<bool> {
        if orphan {
            Cleanup::LetGo(NOTE_ORPHAN)
        } else if self.spec.management_policy.is_observe_only() {
            Cleanup::LetGo(plan::NOTE_OBSERVE_ONLY)
        } else if status.job_id.is_none() && status.pending_create.is_none() {
            // Nothing was ever sent to the cloud.
            Cleanup::Finished
        } else if policy != DeletionPolicy::Delete
            && status.phase.is_some_and(HbrBackupJobPhase::is_terminal)
        {
            Cleanup::LetGo(NOTE_RETAIN)
        } else {
            Cleanup::Act {
                step: policy == DeletionPolicy::Delete,
                cannot: "clean up the backup job".to_string(),
            }
        }
    }

    async fn act_cleanup(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        delete: bool,
    ) -> Result<Outcome> {
        Ok(act_cleanup(w, ctx.cloud.hbr(target).as_ref(), delete).await)
    }
}

/// Why an object with the orphan annotation goes without cloud cleanup.
const NOTE_ORPHAN: &str =
    "orphan-on-delete annotation set: the job and its snapshots are left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup once its job ended.
const NOTE_RETAIN: &str = "deletionPolicy Retain: the job's backup is kept in the cloud";

/// Takes one step of the apply path; the outcome is committed by [`work::finish`]. The only
/// write before a cloud call is the intent (a checkpoint). `deadline`: `spec.timeout` from the
/// object's creation.
async fn act(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    step: Step,
    request: &CreateBackupJobRequest,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    Ok(match step {
        Step::RecordIntent => record_intent_and_create(w, hbr, request).await?,
        Step::RecoverOrCreate => recover_or_create(w, hbr, request).await?,
        // Planned only through `apply`, which reads the claims first.
        Step::AdoptExisting { .. } => Outcome::fields(Next::After(w.timing.poll_initial)),
        Step::Track { job_id } => track(w, hbr, &job_id, deadline).await?,
        Step::FetchSnapshots { job_id } => fetch_snapshots(w, hbr, &job_id).await,
        Step::Done => Outcome::fields(Next::After(w.timing.resync)),
    })
}

#[cfg(test)]
mod tests;
