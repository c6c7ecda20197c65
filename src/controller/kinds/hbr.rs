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

pub mod plan;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use self::plan::{CleanupStep, Step, reasons};
use crate::cloud::api::hbr::{
    CancelBackupJobRequest, CreateBackupJobRequest, DeleteSnapshotRequest,
    HbrBackupJob as CloudJob, JobState,
};
use crate::cloud::{CloudError, ErrorClass, HbrApi, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::backoff::{Timing, poll_interval};
use crate::controller::reconcile::conditions::{self, Health};
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, ManagedResource};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::{self, Next, Outcome, Publish};
use crate::crd::{
    DeletionPolicy, HbrBackupJob, HbrBackupJobPhase, HbrBackupJobStatus, HbrSourceType,
    PendingCreate, create_token,
};

/// Kind name used in metrics and logs.
pub const KIND: &str = "HbrBackupJob";

/// Error code of `CancelBackupJob` for a job that already ended.
pub const JOB_STATUS_NOT_ALLOW_CANCEL: &str = "JobStatusNotAllowCancel";

/// Pages of `DescribeBackupJobs2` searched for a job by name (99 jobs each).
const MAX_SEARCH_PAGES: u32 = 20;

impl ManagedResource for HbrBackupJob {
    const KIND: &'static str = KIND;

    fn credentials_secret(&self) -> Option<&str> {
        self.spec.credentials_ref.as_ref().map(|r| r.name.as_str())
    }

    fn last_success(&self) -> Option<jiff::Timestamp> {
        let st = self.status.as_ref()?;
        (st.phase == Some(HbrBackupJobPhase::Succeeded))
            .then(|| st.completion_time.as_ref().map(|t| t.0))
            .flatten()
    }

    fn region(&self) -> &str {
        &self.spec.region
    }

    fn deletion_policy(&self) -> Option<crate::crd::DeletionPolicy> {
        self.spec.deletion_policy
    }

    fn observe_only(&self) -> bool {
        self.spec.management_policy.is_observe_only()
    }

    fn timeout(&self) -> Option<&str> {
        self.spec.timeout.as_deref()
    }
}

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
        Step::RecordIntent => {
            let uid = kind::uid(w.obj)?;
            w.status.pending_create = Some(PendingCreate {
                token: create_token(&uid, w.obj.metadata.generation),
                started_at: Time(jiff::Timestamp::now()),
            });
            w.status.job_name = request.job_name.clone();
            w.status.phase = Some(HbrBackupJobPhase::Creating);
            w.commit(&Health::progressing(
                reasons::CREATING,
                format!(
                    "creating {} backup job {}",
                    w.obj.spec.source_type.as_str(),
                    request.job_name.as_deref().unwrap_or_default()
                ),
            ))
            .await?;
            create(w, hbr, request).await?
        }
        Step::RecoverOrCreate => match find_own_job(w, hbr).await {
            Ok(Some(job)) => adopt(w, hbr, &job).await?,
            Ok(None) => create(w, hbr, request).await?,
            Err(e) => w.cloud_error(e),
        },
        // Planned only through `apply`, which reads the claims first.
        Step::AdoptExisting { .. } => Outcome::fields(Next::After(w.timing.poll_initial)),
        Step::Track { job_id } => track(w, hbr, &job_id, deadline).await?,
        Step::FetchSnapshots { job_id } => fetch_snapshots(w, hbr, &job_id).await,
        Step::Done => Outcome::fields(Next::After(w.timing.resync)),
    })
}

/// Looks for our job by name among the jobs created since the intent.
async fn find_own_job(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
) -> std::result::Result<Option<CloudJob>, CloudError> {
    let Some(name) = w.status.job_name.clone().or_else(|| {
        kind::uid(w.obj)
            .ok()
            .map(|u| plan::job_name(&w.obj.spec, &w.name, &u))
    }) else {
        return Ok(None);
    };
    let started_at = w
        .status
        .pending_create
        .as_ref()
        .map(|p| p.started_at.clone())
        .unwrap_or_else(|| Time(jiff::Timestamp::now()));
    let mut seen: i64 = 0;
    for page in 1..=MAX_SEARCH_PAGES {
        let req = plan::describe_candidates(&w.obj.spec, &started_at, page);
        let resp = hbr.describe_backup_jobs2(&req).await?;
        if let Some(job) = plan::find_by_name(&resp.backup_jobs, &name) {
            return Ok(Some(job.clone()));
        }
        seen += i64::try_from(resp.backup_jobs.len()).unwrap_or(i64::MAX);
        if resp.backup_jobs.is_empty() || seen >= resp.total_count {
            break;
        }
    }
    Ok(None)
}

async fn adopt(w: &mut Work<'_>, hbr: &dyn HbrApi, job: &CloudJob) -> Result<Outcome> {
    w.status.job_id = Some(job.job_id.clone());
    if job.job_name.is_some() {
        w.status.job_name.clone_from(&job.job_name);
    }
    w.status.pending_create = None;
    let view = w.record(job);
    if view.phase.is_terminal() {
        return finish_job(w, hbr, &job.job_id, view).await;
    }
    Ok(Outcome::requeue(
        Health::progressing(
            reasons::JOB_ADOPTED,
            format!(
                "adopted job {} created before the operator could record it",
                job.job_id
            ),
        ),
        w.timing.poll_initial,
    ))
}

/// Takes over the job `spec.jobId` names: refused when another object holds it (`holder`,
/// from a fresh list), `Stalled/JobNotFound` when the cloud does not know it; otherwise
/// recorded (no cloud write) and tracked like a job the operator created.
async fn adopt_existing(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
    holder: Option<adoption::Claim>,
) -> Result<Outcome> {
    if let Some(holder) = holder {
        return Ok(Outcome::requeue(
            Health::stalled(
                reasons::ADOPTION_REFUSED,
                plan::adoption_refused_message(job_id, &holder),
            ),
            w.timing.error_max,
        ));
    }
    let source_type = w.obj.spec.source_type.as_str();
    let job = match describe_job(hbr, source_type, job_id).await {
        Ok(j) => j,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    let Some(job) = job else {
        return Ok(Outcome::requeue(
            Health::stalled(
                reasons::JOB_NOT_FOUND,
                format!(
                    "job {job_id} named by spec.jobId does not exist in Cloud Backup (sourceType \
                     {source_type}, DescribeBackupJobs2); nothing was recorded. Create a new \
                     HbrBackupJob with the right id"
                ),
            ),
            w.timing.error_max,
        ));
    };
    let what = format!("job {job_id} named by spec.jobId");
    if let Some(refused) =
        adoption::mismatch_health(&what, &plan::identity_mismatches(&w.obj.spec, &job))
    {
        return Ok(Outcome::requeue(refused, w.timing.error_max));
    }
    w.status.job_id = Some(job.job_id.clone());
    w.status.job_name.clone_from(&job.job_name);
    let view = w.record(&job);
    if view.phase.is_terminal() {
        return finish_job(w, hbr, &job.job_id, view).await;
    }
    Ok(Outcome::requeue(view.health, w.timing.poll_initial))
}

async fn create(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    request: &CreateBackupJobRequest,
) -> Result<Outcome> {
    Ok(match hbr.create_backup_job(request).await {
        Ok(resp) if !resp.job_id.is_empty() => {
            let job_id = resp.job_id;
            w.status.job_id = Some(job_id.clone());
            w.status.pending_create = None;
            w.status.phase = Some(HbrBackupJobPhase::Running);
            w.status.cloud_status = Some(JobState::Created.as_str().into());
            w.status.progress = Some(0);
            w.status.start_time = Some(Time(jiff::Timestamp::now()));
            let created = Outcome::requeue(
                Health::progressing(
                    reasons::BACKUP_RUNNING,
                    format!("backup job {job_id} created"),
                ),
                w.timing.poll_initial,
            );
            // One look at once (batched with the other new jobs): a job that ended already is
            // recorded with the create, in one status write and one event. Any doubt records
            // the job as created and polls it.
            let source_type = w.obj.spec.source_type.as_str();
            match hbr
                .observe_job(source_type, &job_id, w.timing.observe_age())
                .await
            {
                Ok(Some(job)) if job.state().is_terminal() => {
                    settle_job(w, hbr, &job_id, Some(job), None).await?
                }
                _ => created,
            }
        }
        // Success without a JobId: the outcome is unknown; the intent stays and the next
        // reconcile looks for the job by name.
        Ok(_) => Outcome::retry(
            Health::progressing(
                reasons::CREATING,
                "CreateBackupJob returned no JobId; looking for the job by name",
            ),
            Next::backoff(reasons::CREATING),
        ),
        // Refused for good (e.g. `InstanceNotExist`): the call did not run and the immutable
        // spec can never work. The object fails; no intent is left behind.
        Err(e) if work::create_refused_for_good(&e) => {
            w.fail_create(e, work::IMMUTABLE_CREATE_REFUSED)
        }
        // The intent stays whatever other error: the next attempt looks for the job by name
        // first, so an unknown outcome (timeout, 5xx) never leads to a second job.
        Err(e) => w.cloud_error(e),
    })
}

/// Describes the tracked job; `Ok(None)` when the cloud does not know it.
async fn describe_job(
    hbr: &dyn HbrApi,
    source_type: &str,
    job_id: &str,
) -> std::result::Result<Option<CloudJob>, CloudError> {
    match hbr
        .describe_backup_jobs2(&plan::describe_by_id(source_type, job_id))
        .await
    {
        Ok(r) => Ok(plan::find_by_id(&r.backup_jobs, job_id).cloned()),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Observes the job; past `deadline` a job that has not ended is cancelled and the object fails.
async fn track(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let source_type = w.obj.spec.source_type.as_str();
    let job = match hbr
        .observe_job(source_type, job_id, w.timing.observe_age())
        .await
    {
        Ok(j) => j,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    settle_job(w, hbr, job_id, job, deadline).await
}

/// What an observation of the job comes to: progress, the end (with its snapshots), a job
/// gone missing; past `deadline` a job that has not ended is cancelled.
async fn settle_job(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
    job: Option<CloudJob>,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let Some(job) = job else {
        // Right after the create the list may lag; a job missing for longer is gone.
        let now = jiff::Timestamp::now();
        let known_since = w.status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
        if now.duration_since(known_since).as_secs() > plan::CLOCK_SLACK_SECONDS {
            w.status.phase = Some(HbrBackupJobPhase::Failed);
            return Ok(Outcome::requeue(
                Health::stalled(
                    reasons::JOB_NOT_FOUND,
                    format!(
                        "job {job_id} no longer exists in Cloud Backup (deleted outside the \
                         operator); create a new HbrBackupJob to back up again"
                    ),
                ),
                w.timing.resync,
            ));
        }
        return Ok(Outcome::requeue(
            Health::progressing(
                reasons::JOB_NOT_FOUND,
                format!("job {job_id} is not listed by DescribeBackupJobs2 yet; retrying"),
            ),
            w.timing.wait,
        ));
    };
    let view = w.record(&job);
    if view.phase.is_terminal() {
        return finish_job(w, hbr, job_id, view).await;
    }
    let now = jiff::Timestamp::now();
    if policy::past(deadline, now) {
        return Ok(cancel_past_deadline(w, hbr, &job).await);
    }
    let started = w.status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
    let elapsed = now.duration_since(started).unsigned_abs();
    Ok(Outcome::requeue(
        view.health,
        policy::until_deadline(poll_interval(elapsed, w.timing), deadline, now),
    ))
}

/// `spec.timeout` passed while the job runs: `CancelBackupJob`, then the object fails. A job
/// that ended meanwhile (the cancel is refused) is observed again at once instead.
async fn cancel_past_deadline(w: &mut Work<'_>, hbr: &dyn HbrApi, job: &CloudJob) -> Outcome {
    let req = CancelBackupJobRequest {
        job_id: job.job_id.clone(),
        vault_id: w.obj.spec.vault_id.clone(),
        edition: None,
    };
    let cancelled = match hbr.cancel_backup_job(&req).await {
        Ok(_) => "it was cancelled (CancelBackupJob)",
        Err(e) if e.class() == ErrorClass::NotFound => "it no longer exists",
        Err(e)
            if e.class() == ErrorClass::Conflict
                || e.code() == Some(JOB_STATUS_NOT_ALLOW_CANCEL) =>
        {
            return Outcome::fields(Next::After(w.timing.poll_initial));
        }
        Err(e) => return w.cloud_error(e),
    };
    w.exceed_deadline(format!(
        "job {} was still {} when spec.timeout ({}) passed; {cancelled}",
        job.job_id,
        job.status.as_deref().unwrap_or("running"),
        w.obj.spec.timeout.as_deref().unwrap_or_default()
    ))
}

/// The job ended: record snapshot ids (`UDM_ECS`, `ECS_FILE`) and the terminal status.
async fn finish_job(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
    view: plan::JobView,
) -> Result<Outcome> {
    let publish = if view.warning {
        Publish::Warning
    } else {
        Publish::Auto
    };
    if plan::needs_snapshot_ids(&w.obj.spec, &w.status) {
        match lookup_snapshots(w, hbr, job_id).await {
            Ok(ids) => w.status.snapshot_ids = ids,
            Err(e) => {
                // The job's outcome is known: record it (a checkpoint), then report the lookup
                // error; the `FetchSnapshots` step retries the lookup.
                w.commit_with(&view.health, publish).await?;
                return Ok(w.cloud_error(e));
            }
        }
    }
    let after = if plan::needs_snapshot_ids(&w.obj.spec, &w.status) {
        w.timing.wait
    } else {
        w.timing.resync
    };
    Ok(Outcome::requeue(view.health, after).publish(publish))
}

/// The snapshot ids of the job: `UDM_ECS` with `DescribeUdmSnapshots`, `ECS_FILE` with
/// `SearchHistoricalSnapshots` (see [`plan::snapshots_findable`]).
async fn lookup_snapshots(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Vec<String>, CloudError> {
    if w.obj.spec.source_type == HbrSourceType::EcsFile {
        return search_snapshots(w, hbr, job_id).await;
    }
    let now = jiff::Timestamp::now().as_second();
    let since = w
        .status
        .start_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(now);
    let until = w
        .status
        .completion_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(now)
        .max(now);
    let req = plan::describe_snapshots(&w.obj.spec, job_id, since, until);
    let resp = hbr.describe_udm_snapshots(&req).await?;
    Ok(plan::snapshot_ids(&resp.snapshots, job_id))
}

/// Pages of `SearchHistoricalSnapshots` searched for the snapshot of an `ECS_FILE` job.
const MAX_SNAPSHOT_PAGES: u32 = 20;

/// Pages through `SearchHistoricalSnapshots` (the job's vault and instance, completed since the
/// job started) until the job's snapshots show up.
async fn search_snapshots(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Vec<String>, CloudError> {
    let since = w
        .status
        .start_time
        .as_ref()
        .or(w.status.pending_create.as_ref().map(|p| &p.started_at))
        .map(|t| t.0.as_second())
        .unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let mut token = None;
    for _ in 0..MAX_SNAPSHOT_PAGES {
        let req = plan::search_snapshots(&w.obj.spec, since, token);
        let resp = hbr.search_historical_snapshots(&req).await?;
        let ids = plan::historical_snapshot_ids(&resp.snapshots, job_id);
        if !ids.is_empty() {
            return Ok(ids);
        }
        token = resp.next_token.filter(|t| !t.is_empty());
        if token.is_none() || resp.snapshots.is_empty() {
            break;
        }
    }
    Ok(Vec::new())
}

async fn fetch_snapshots(w: &mut Work<'_>, hbr: &dyn HbrApi, job_id: &str) -> Outcome {
    match lookup_snapshots(w, hbr, job_id).await {
        Ok(ids) => w.status.snapshot_ids = ids,
        Err(e) => return w.cloud_error(e),
    }
    let after = if w.status.snapshot_ids.is_empty() {
        w.timing.wait
    } else {
        w.timing.resync
    };
    // Conditions are unchanged (the job's terminal outcome); only the ids are new.
    Outcome::fields(Next::After(after))
}

// ---------------------------------------------------------------------------------------------
// cleanup: plan_cleanup (pure) picks the step, act_cleanup takes it
// ---------------------------------------------------------------------------------------------

/// Why an object with the orphan annotation goes without cloud cleanup.
const NOTE_ORPHAN: &str =
    "orphan-on-delete annotation set: the job and its snapshots are left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup once its job ended.
const NOTE_RETAIN: &str = "deletionPolicy Retain: the job's backup is kept in the cloud";

/// Observes the job, then takes the steps [`plan::plan_cleanup`] picks until one needs to
/// wait or the cleanup is done.
/// `delete`: the deletion policy in effect is `Delete`.
async fn act_cleanup(w: &mut Work<'_>, hbr: &dyn HbrApi, delete: bool) -> Outcome {
    let cancelling = Next::wait(reasons::CANCELLING, w.timing.error_max);
    let source_type = w.obj.spec.source_type.as_str();
    if w.status.job_id.is_none() {
        // A create may have run before the crash: find it before deciding there is nothing.
        match find_own_job(w, hbr).await {
            Ok(Some(job)) => {
                w.status.job_id = Some(job.job_id.clone());
                w.status.pending_create = None;
            }
            Ok(None) => return Outcome::finished(),
            Err(e) => return w.cloud_error(e).or_retry(cancelling),
        }
    }
    let Some(job_id) = w.status.job_id.clone() else {
        return Outcome::finished();
    };
    let job = match describe_job(hbr, source_type, &job_id).await {
        Ok(j) => j,
        Err(e) => return w.cloud_error(e).or_retry(cancelling),
    };
    if let Some(j) = &job {
        plan::record_job(&mut w.status, j);
    }
    let cancel_sent = conditions::find(&w.status.conditions, conditions::RECONCILING)
        .is_some_and(|c| c.status == conditions::TRUE && c.reason == reasons::CANCELLING);
    let mut fetched = false;
    loop {
        let step = plan::plan_cleanup(
            &w.obj.spec,
            &w.status,
            job.as_ref(),
            cancel_sent,
            delete,
            fetched,
        );
        tracing::debug!(kind = KIND, name = %w.name, ?step, "cleanup step");
        match step {
            CleanupStep::Cancel => {
                let req = CancelBackupJobRequest {
                    job_id: job_id.clone(),
                    vault_id: w.obj.spec.vault_id.clone(),
                    edition: None,
                };
                match hbr.cancel_backup_job(&req).await {
                    Ok(_) => {}
                    Err(e) if e.class() == ErrorClass::NotFound => return Outcome::finished(),
                    // Ended between the describe and the cancel: the next round sees it.
                    Err(e)
                        if e.class() == ErrorClass::Conflict
                            || e.code() == Some(JOB_STATUS_NOT_ALLOW_CANCEL) => {}
                    Err(e) => return w.cloud_error(e).or_retry(cancelling),
                }
                w.status.phase = Some(HbrBackupJobPhase::Deleting);
                return Outcome::retry(
                    Health::progressing(
                        reasons::CANCELLING,
                        format!("job {job_id} is running; cancelled it and waiting for it to end"),
                    ),
                    Next::wait(reasons::CANCELLING, w.timing.poll_initial),
                );
            }
            CleanupStep::AwaitCancel => {
                w.status.phase = Some(HbrBackupJobPhase::Deleting);
                return Outcome::retry(
                    Health::progressing(
                        reasons::CANCELLING,
                        format!("waiting for cancelled job {job_id} to end"),
                    ),
                    Next::wait(reasons::CANCELLING, w.timing.poll_initial),
                );
            }
            CleanupStep::FetchSnapshots => {
                fetched = true;
                match lookup_snapshots(w, hbr, &job_id).await {
                    Ok(ids) => w.status.snapshot_ids = ids,
                    Err(e) => {
                        return w
                            .cloud_error(e)
                            .or_retry(Next::wait(reasons::DELETING_SNAPSHOTS, w.timing.error_max));
                    }
                }
            }
            CleanupStep::DeleteSnapshots(ids) => {
                for id in &ids {
                    let req = DeleteSnapshotRequest {
                        snapshot_id: id.clone(),
                        source_type: Some(source_type.to_string()),
                        vault_id: w.obj.spec.vault_id.clone(),
                        instance_id: w.obj.spec.instance_id.clone(),
                        ..DeleteSnapshotRequest::default()
                    };
                    match hbr.delete_snapshot(&req).await {
                        Ok(_) => {}
                        Err(e) if e.class() == ErrorClass::NotFound => {}
                        Err(e) => {
                            w.status.phase = Some(HbrBackupJobPhase::Deleting);
                            return w.cloud_error(e).or_retry(Next::wait(
                                reasons::DELETING_SNAPSHOTS,
                                w.timing.error_max,
                            ));
                        }
                    }
                }
                return Outcome::finished().note(
                    EventType::Normal,
                    reasons::SNAPSHOTS_DELETED,
                    "Deleting",
                    format!("deleted snapshot(s) {}", ids.join(", ")),
                );
            }
            CleanupStep::Done => {
                if !plan::snapshot_left_in_vault(&w.obj.spec, job.as_ref(), delete) {
                    return Outcome::finished();
                }
                return Outcome::finished().note(
                    EventType::Warning,
                    reasons::SNAPSHOT_RETAINED,
                    "Delete",
                    format!(
                        "deletionPolicy Delete: the snapshot of {source_type} job {job_id} stays \
                         in vault {}: Cloud Backup's snapshot search (SearchHistoricalSnapshots) \
                         covers ECS_FILE, OSS and NAS backups only, so the operator cannot find \
                         it. Delete it in the Cloud Backup console",
                        w.obj.spec.vault_id.as_deref().unwrap_or("-")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
