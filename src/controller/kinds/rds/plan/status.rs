//! Observation → status (pure): the cloud task and backup set mapped to phase, conditions and
//! progress.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{reasons, task_ended};
use crate::cloud::CloudError;
use crate::cloud::api::{RdsBackup as CloudBackupSet, RdsBackupJob, TaskState};
use crate::controller::Timing;
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::times;
use crate::crd::{RdsBackupPhase, RdsBackupSet, RdsBackupSetDetails, RdsBackupStatus};

/// The `StartTime` parameter of `DescribeBackups` for adoption: one minute before `t`,
/// truncated to the minute (`yyyy-MM-ddTHH:mmZ`, UTC).
pub fn describe_backups_start_time(t: jiff::Timestamp) -> String {
    let earlier = t
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(t);
    earlier.strftime("%Y-%m-%dT%H:%MZ").to_string()
}

/// Records an observation of the tracked task in `status`; returns the resulting health and
/// when to look again (`None` = terminal, `Some(0)` = fetch the backup set now). A task that
/// finished with its `BackupId` is `Succeeded` here with `details` `Skip`
/// ([`record_task_success`]); with `Record` the set is fetched next.
pub fn observe_task(
    status: &mut RdsBackupStatus,
    task: Option<&RdsBackupJob>,
    details: RdsBackupSetDetails,
    now: jiff::Timestamp,
    timing: &Timing,
) -> (Health, Option<Duration>) {
    let Some(task) = task else {
        return (
            Health::progressing(
                reasons::TASK_NOT_FOUND,
                format!(
                    "backup task {} is not visible in DescribeBackupTasks; retrying",
                    status.backup_job_id.as_deref().unwrap_or_default()
                ),
            ),
            Some(timing.wait),
        );
    };
    status.cloud_status.clone_from(&task.backup_status);
    status
        .cloud_progress_status
        .clone_from(&task.backup_progress_status);
    if let Some(p) = task.process {
        status.progress = Some(i32::try_from(p.clamp(0, 100)).unwrap_or(0));
    }
    match task.state() {
        TaskState::Finished => observe_finished(status, task, details, now, timing),
        TaskState::Failed => observe_failed(status, task, now),
        TaskState::NoStart | TaskState::Running => observe_running(status, task, now, timing),
    }
}

/// [`observe_task`] of a finished task: the backup set it names, recorded now (`Skip`) or
/// fetched next (`Record`), or its `BackupId` still awaited.
fn observe_finished(
    status: &mut RdsBackupStatus,
    task: &RdsBackupJob,
    details: RdsBackupSetDetails,
    now: jiff::Timestamp,
    timing: &Timing,
) -> (Health, Option<Duration>) {
    status.progress = Some(100);
    status.phase = Some(RdsBackupPhase::Running);
    match task.backup_id.clone().filter(|b| !b.is_empty()) {
        Some(b) if details == RdsBackupSetDetails::Skip => {
            status.backup_id = Some(b);
            (record_task_success(status, now), None)
        }
        Some(b) => {
            status.backup_id = Some(b.clone());
            (
                Health::progressing(
                    reasons::WAITING_FOR_BACKUP_SET,
                    format!("task finished; waiting for backup set {b} in DescribeBackups"),
                ),
                Some(Duration::ZERO),
            )
        }
        None => (
            Health::progressing(
                reasons::WAITING_FOR_BACKUP_SET,
                "task finished; waiting for its BackupId",
            ),
            Some(timing.wait),
        ),
    }
}

/// [`observe_task`] of a task that failed in the cloud: the object fails (terminal).
fn observe_failed(
    status: &mut RdsBackupStatus,
    task: &RdsBackupJob,
    now: jiff::Timestamp,
) -> (Health, Option<Duration>) {
    status.phase = Some(RdsBackupPhase::Failed);
    status.pending_create = None;
    status.completion_time.get_or_insert(Time(now));
    (
        Health::stalled(
            reasons::BACKUP_FAILED,
            format!(
                "backup task {} failed in RDS; create a new RdsBackup to retry",
                task.backup_job_id
            ),
        ),
        None,
    )
}

/// [`observe_task`] of a task not started or running: progress, polled adaptively.
fn observe_running(
    status: &mut RdsBackupStatus,
    task: &RdsBackupJob,
    now: jiff::Timestamp,
    timing: &Timing,
) -> (Health, Option<Duration>) {
    status.phase = Some(RdsBackupPhase::Running);
    let started = status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
    let elapsed = now.duration_since(started).unsigned_abs();
    (
        Health::progressing(
            reasons::BACKUP_RUNNING,
            format!(
                "backup task {} is {} ({}%)",
                task.backup_job_id,
                task.backup_status
                    .as_deref()
                    .unwrap_or(TaskState::NoStart.as_str()),
                status.progress.unwrap_or(0)
            ),
        ),
        Some(poll_interval(elapsed, timing)),
    )
}

/// Marks the backup `Succeeded` on its task's answer alone (`backupSetDetails: Skip`): the
/// task finished and named its set (`status.backupId`, already recorded).
pub fn record_task_success(status: &mut RdsBackupStatus, now: jiff::Timestamp) -> Health {
    status.progress = Some(100);
    status.completion_time.get_or_insert(Time(now));
    status.phase = Some(RdsBackupPhase::Succeeded);
    status.pending_create = None;
    succeeded_health(status)
}

/// The health of a `Succeeded` backup.
fn succeeded_health(status: &RdsBackupStatus) -> Health {
    Health::ready(
        reasons::BACKUP_SUCCEEDED,
        format!(
            "backup set {} is available",
            status.backup_id.as_deref().unwrap_or_default()
        ),
    )
}

/// Records the backup set in `status` and marks the backup `Succeeded`.
pub fn record_backup_set(
    status: &mut RdsBackupStatus,
    set: &CloudBackupSet,
    now: jiff::Timestamp,
) -> Health {
    let details = RdsBackupSet {
        backup_id: Some(set.backup_id.clone()),
        status: set.backup_status.clone(),
        store_status: set.store_status.clone(),
        meta_status: set.meta_status.clone(),
        backup_method: set.backup_method.clone(),
        backup_type: set.backup_type.clone(),
        backup_mode: set.backup_mode.clone(),
        start_time: set.backup_start_time.as_deref().and_then(times::from_iso),
        end_time: set.backup_end_time.as_deref().and_then(times::from_iso),
        consistent_time: set
            .consistent_time
            .filter(|t| *t > 0)
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(Time),
        size_bytes: set.backup_size,
    };
    status.backup_id = Some(set.backup_id.clone());
    status.size_bytes = set.backup_size;
    status.progress = Some(100);
    if status.completion_time.is_none() {
        status.completion_time = Some(details.end_time.clone().unwrap_or(Time(now)));
    }
    status.backup_set = Some(details);
    status.phase = Some(RdsBackupPhase::Succeeded);
    status.pending_create = None;
    succeeded_health(status)
}

/// The health that matches a status in a terminal phase.
pub fn terminal_health(status: &RdsBackupStatus) -> Option<Health> {
    match status.phase {
        Some(RdsBackupPhase::Succeeded) => Some(succeeded_health(status)),
        // A refused create keeps the conditions that carry the service's answer, a deadline
        // (the task had not ended) those that say so.
        Some(RdsBackupPhase::Failed)
            if status.backup_job_id.is_none() || !task_ended(status.cloud_status.as_deref()) =>
        {
            None
        }
        Some(RdsBackupPhase::Failed) => Some(Health::stalled(
            reasons::BACKUP_FAILED,
            format!(
                "backup task {} failed in RDS; create a new RdsBackup to retry",
                status.backup_job_id.as_deref().unwrap_or_default()
            ),
        )),
        _ => None,
    }
}

/// The conditions of a resting object, from its status alone (after a pause, when the
/// conditions say `Paused`): [`terminal_health`], or the refused create.
pub fn settled_health(status: &RdsBackupStatus) -> Option<Health> {
    if status.phase != Some(RdsBackupPhase::Failed) {
        return terminal_health(status);
    }
    terminal_health(status).or_else(|| {
        Some(match &status.backup_job_id {
            None => crate::controller::reconcile::work::create_refused_health(
                status.last_request_id.as_deref(),
                crate::controller::reconcile::work::IMMUTABLE_CREATE_REFUSED,
            ),
            Some(job_id) => Health::stalled(
                crate::controller::reconcile::work::reasons::DEADLINE_EXCEEDED,
                format!(
                    "spec.timeout passed before backup task {job_id} ended; the task was left \
                     running (RDS cannot cancel one)"
                ),
            ),
        })
    })
}

/// Whether a `CreateBackup` error proves the call did not take effect.
pub fn create_not_executed(e: &CloudError) -> bool {
    // An RDS error response with a code and a 4xx status is a refusal: the gateway and the
    // service answer it before doing anything. 5xx, timeouts and lost connections are unknown.
    let refused = e.code().is_some() && e.http_status.is_some_and(|s| (400..500).contains(&s));
    refused || e.proves_not_executed()
}
