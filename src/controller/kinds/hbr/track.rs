//! Tracking the job to its end: observe it, settle what the observation comes to (progress,
//! the end with its snapshot ids, a job gone missing), and cancel it past `spec.timeout`.

use super::plan::{self, reasons};
use super::snapshots::lookup_snapshots;
use super::{JOB_STATUS_NOT_ALLOW_CANCEL, Work};
use crate::cloud::api::hbr::{CancelBackupJobRequest, HbrBackupJob as CloudJob};
use crate::cloud::{CloudError, ErrorClass, HbrApi};
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::{Next, Outcome, Publish};
use crate::crd::HbrBackupJobPhase;

/// Describes the tracked job; `Ok(None)` when the cloud does not know it.
pub(super) async fn describe_job(
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
pub(super) async fn track(
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
pub(super) async fn settle_job(
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
    let cancelled = match cancel_job(w, hbr, &job.job_id).await {
        Ok(Cancel::Sent) => "it was cancelled (CancelBackupJob)",
        Ok(Cancel::Gone) => "it no longer exists",
        Ok(Cancel::Ended) => return Outcome::fields(Next::After(w.timing.poll_initial)),
        Err(e) => return w.cloud_error(e),
    };
    w.exceed_deadline(format!(
        "job {} was still {} when spec.timeout ({}) passed; {cancelled}",
        job.job_id,
        job.status.as_deref().unwrap_or("running"),
        w.obj.spec.timeout.as_deref().unwrap_or_default()
    ))
}

/// What `CancelBackupJob` answered ([`cancel_job`]).
pub(super) enum Cancel {
    /// Accepted: the job is being cancelled.
    Sent,
    /// The cloud no longer knows the job (`NotFound`).
    Gone,
    /// Refused because the job ended meanwhile (`Conflict`, [`JOB_STATUS_NOT_ALLOW_CANCEL`]).
    Ended,
}

/// `CancelBackupJob` for `job_id` in the spec's vault (past the deadline, or on deletion);
/// any other error is returned.
pub(super) async fn cancel_job(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Cancel, CloudError> {
    let req = CancelBackupJobRequest {
        job_id: job_id.to_string(),
        vault_id: w.obj.spec.vault_id.clone(),
        edition: None,
    };
    match hbr.cancel_backup_job(&req).await {
        Ok(_) => Ok(Cancel::Sent),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(Cancel::Gone),
        Err(e)
            if e.class() == ErrorClass::Conflict
                || e.code() == Some(JOB_STATUS_NOT_ALLOW_CANCEL) =>
        {
            Ok(Cancel::Ended)
        }
        Err(e) => Err(e),
    }
}

/// The job ended: record snapshot ids (`UDM_ECS`, `ECS_FILE`) and the terminal status.
pub(super) async fn finish_job(
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
