//! Tracking a task to its end: observe it, settle what the observation comes to (progress,
//! failure, the deadline), and fetch the backup set it produced.

use super::Work;
use super::describe::describe_set;
use super::plan::{observe_task, reasons, record_backup_set};
use crate::cloud::api::{RdsApi, RdsBackupJob, TaskState};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::Outcome;
use crate::crd::RdsBackupPhase;

/// Observes the task; past `deadline` (`spec.timeout`) a task that has not ended fails the
/// object and is left running (RDS cannot cancel one).
pub(super) async fn track(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    job_id: &str,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let task = match rds
        .observe_task(w.obj.spec.instance(), job_id, w.timing.observe_age())
        .await
    {
        Ok(t) => t,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    settle_task(w, rds, job_id, task, deadline).await
}

/// [`observe_task`] into `w`'s status, with its spec's `backupSetDetails` and the timing.
pub(super) fn observe(
    w: &mut Work<'_>,
    task: Option<&RdsBackupJob>,
    now: jiff::Timestamp,
) -> (Health, Option<std::time::Duration>) {
    observe_task(
        &mut w.status,
        task,
        w.obj.spec.backup_set_details,
        now,
        w.timing,
    )
}

/// What an observation of the task comes to: progress, the failure, or (finished) the
/// backup set; past `deadline` a task that has not ended fails the object.
pub(super) async fn settle_task(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    job_id: &str,
    task: Option<RdsBackupJob>,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let now = jiff::Timestamp::now();
    let (health, next) = observe(w, task.as_ref(), now);
    let ended = w.status.backup_id.is_some()
        || matches!(
            w.status.phase,
            Some(RdsBackupPhase::Succeeded | RdsBackupPhase::Failed)
        );
    if !ended && policy::past(deadline, now) {
        return Ok(w.exceed_deadline(format!(
            "backup task {job_id} was still {} when spec.timeout ({}) passed; RDS has no API to \
             cancel a backup task, so it is left running and its backup set is not recorded \
             here (with deletionPolicy Delete, deleting this object waits for the task and \
             deletes its set)",
            w.status.cloud_status.as_deref().unwrap_or("running"),
            w.obj.spec.timeout.as_deref().unwrap_or_default()
        )));
    }
    Ok(match (next, w.status.backup_id.clone()) {
        (Some(d), Some(backup_id)) if d.is_zero() => fetch_backup_set(w, rds, &backup_id).await?,
        (Some(d), _) => Outcome::requeue(health, policy::until_deadline(d, deadline, now)),
        (None, _) => Outcome::requeue(health, w.timing.resync),
    })
}

/// Reads the backup set from `DescribeBackups` and records it; a set not listed yet (the list
/// lags behind the task) is waited for, never failed.
pub(super) async fn fetch_backup_set(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    backup_id: &str,
) -> Result<Outcome> {
    let set = match describe_set(rds, w.obj.spec.instance(), backup_id).await {
        Ok(s) => s,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    Ok(match set {
        Some(set) => {
            let health = record_backup_set(&mut w.status, &set, jiff::Timestamp::now());
            Outcome::requeue(health, w.timing.resync)
        }
        None => {
            // DescribeBackups lags behind the task: keep waiting, never fail.
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.cloud_status = Some(TaskState::Finished.as_str().into());
            Outcome::requeue(
                Health::progressing(
                    reasons::WAITING_FOR_BACKUP_SET,
                    format!(
                        "task finished; backup set {backup_id} is not listed by DescribeBackups yet"
                    ),
                ),
                w.timing.wait,
            )
        }
    })
}
