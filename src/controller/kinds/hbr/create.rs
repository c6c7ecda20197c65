//! Starting the job exactly once (`docs/architecture.md#exactly-once`; the rules in
//! [`super`]): the intent and the job name recorded before `CreateBackupJob`, the search by
//! name after an unknown outcome, and the adoption of the job `spec.jobId` names.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Work;
use super::plan::{self, reasons};
use super::track::{describe_job, finish_job, settle_job};
use crate::cloud::api::hbr::{CreateBackupJobRequest, HbrBackupJob as CloudJob, JobState};
use crate::cloud::{CloudError, HbrApi};
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::HbrBackupJobPhase;

/// Pages of `DescribeBackupJobs2` searched for a job by name (99 jobs each).
const MAX_SEARCH_PAGES: u32 = 20;

/// Records the intent and the job name (a checkpoint: durable before the call), then creates.
pub(super) async fn record_intent_and_create(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    request: &CreateBackupJobRequest,
) -> Result<Outcome> {
    w.status.pending_create = Some(kind::new_intent(w.obj)?);
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
    create(w, hbr, request).await
}

/// An intent without a job id (the outcome of the create was unknown): our job, found by name,
/// is adopted; only when it is not there is `CreateBackupJob` sent again.
pub(super) async fn recover_or_create(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    request: &CreateBackupJobRequest,
) -> Result<Outcome> {
    Ok(match find_own_job(w, hbr).await {
        Ok(Some(job)) => adopt(w, hbr, &job).await?,
        Ok(None) => create(w, hbr, request).await?,
        Err(e) => w.cloud_error(e),
    })
}

/// Looks for our job by name among the jobs created since the intent.
pub(super) async fn find_own_job(
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

/// Records our job, found by name after an unknown outcome (the intent is resolved).
async fn adopt(w: &mut Work<'_>, hbr: &dyn HbrApi, job: &CloudJob) -> Result<Outcome> {
    w.status.job_id = Some(job.job_id.clone());
    if job.job_name.is_some() {
        w.status.job_name.clone_from(&job.job_name);
    }
    w.status.pending_create = None;
    let adopted = Health::progressing(
        reasons::JOB_ADOPTED,
        format!(
            "adopted job {} created before the operator could record it",
            job.job_id
        ),
    );
    take_over(w, hbr, job, Some(adopted)).await
}

/// The common end of both adoptions, once `jobId` is recorded: the job's state recorded, and
/// the job tracked like one the operator created: an ended job is finished (with its snapshot
/// ids), a running one is looked at again soon, with `running` as its health (default: the
/// job's own).
async fn take_over(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job: &CloudJob,
    running: Option<Health>,
) -> Result<Outcome> {
    let view = w.record(job);
    if view.phase.is_terminal() {
        return finish_job(w, hbr, &job.job_id, view).await;
    }
    Ok(Outcome::requeue(
        running.unwrap_or(view.health),
        w.timing.poll_initial,
    ))
}

/// Takes over the job `spec.jobId` names: refused when another object holds it (`holder`,
/// from a fresh list), `Stalled/JobNotFound` when the cloud does not know it; otherwise
/// recorded (no cloud write) and tracked like a job the operator created.
pub(super) async fn adopt_existing(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
    holder: Option<adoption::Claim>,
) -> Result<Outcome> {
    let what = format!("job {job_id} named by spec.jobId");
    if let Some(holder) = holder {
        return Ok(w.refuse_adoption(&what, "job", &holder));
    }
    let source_type = w.obj.spec.source_type.as_str();
    let job = match describe_job(hbr, source_type, job_id).await {
        Ok(j) => j,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    let Some(job) = job else {
        return Ok(w.stall(
            reasons::JOB_NOT_FOUND,
            format!(
                "job {job_id} named by spec.jobId does not exist in Cloud Backup (sourceType \
                     {source_type}, DescribeBackupJobs2); nothing was recorded. Create a new \
                     HbrBackupJob with the right id"
            ),
        ));
    };
    if let Some(refused) =
        adoption::mismatch_health(&what, &plan::identity_mismatches(&w.obj.spec, &job))
    {
        return Ok(Outcome::requeue(refused, w.timing.error_max));
    }
    w.status.job_id = Some(job.job_id.clone());
    w.status.job_name.clone_from(&job.job_name);
    take_over(w, hbr, &job, None).await
}

/// `CreateBackupJob`, the one mutating call, and what its answer comes to.
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
