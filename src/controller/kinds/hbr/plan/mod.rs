//! Pure steps of the `HbrBackupJob` reconcile: the mapping of the cloud job to
//! phase/conditions/progress, adoption by spec, and the apply and cleanup plans, here;
//! `validate` (spec → typed `CreateBackupJob` request) and the job name carrying the object's
//! UID in [`validate`](mod@validate); the requests of the lookups (the job by id, crash recovery by name,
//! the snapshots) in [`lookup`]. Their items are re-exported here: `plan::X` is the one path
//! to each.
//!
//! Nothing here performs I/O; the reconcile in [`super`] does.

pub mod lookup;
pub mod validate;

pub use self::lookup::*;
pub use self::validate::*;

use crate::controller::reconcile::times;

use crate::cloud::api::hbr::{HbrBackupJob as CloudJob, JobState};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::adopted_message as adopted;
use crate::crd::{
    HbrBackupJob, HbrBackupJobPhase, HbrBackupJobSpec, HbrBackupJobStatus, HbrSourceType,
};

/// Condition / event reasons of the `HbrBackupJob` controller (stable PascalCase).
pub mod reasons {
    /// The spec cannot be turned into a request.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `CreateBackupJob` is being sent.
    pub const CREATING: &str = "Creating";
    /// The job was found by name after a restart and adopted.
    pub const JOB_ADOPTED: &str = "JobAdopted";
    /// The job runs.
    pub const BACKUP_RUNNING: &str = "BackupRunning";
    /// `COMPLETE`.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// `PARTIAL_COMPLETE` (Ready, with this warning reason).
    pub const BACKUP_PARTIALLY_SUCCEEDED: &str = "BackupPartiallySucceeded";
    /// `FAILED`, `EXPIRED`, `UNAVAILABLE`.
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// `CANCELED`.
    pub const BACKUP_CANCELLED: &str = "BackupCancelled";
    /// The recorded job (or the job `spec.jobId` names) cannot be found.
    pub const JOB_NOT_FOUND: &str = "JobNotFound";
    /// The job `spec.jobId` names is held by another object.
    pub const ADOPTION_REFUSED: &str =
        crate::controller::reconcile::work::reasons::ADOPTION_REFUSED;
    /// Cleanup: `CancelBackupJob` was sent; waiting for the job to end.
    pub const CANCELLING: &str = "CancellingJob";
    /// Cleanup: deleting the job's snapshots.
    pub const DELETING_SNAPSHOTS: &str = "DeletingSnapshots";
    /// Cleanup with `Delete` deleted the job's snapshots.
    pub const SNAPSHOTS_DELETED: &str = "SnapshotsDeleted";
    /// Cleanup with `Delete`: the snapshot of a `CONTAINER` job stays in the vault (the snapshot
    /// search covers `ECS_FILE`, `OSS` and `NAS` only).
    pub const SNAPSHOT_RETAINED: &str = "SnapshotRetained";
}

/// Cloud job `Status` values that end a job.
pub fn is_terminal_status(raw: &str) -> bool {
    JobState::parse(Some(raw)).is_terminal()
}

/// `Progress` (0–10000) as a percentage (0–100).
pub fn progress_percent(progress: Option<i64>) -> Option<i32> {
    progress.map(|p| i32::try_from((p.clamp(0, 10_000)) / 100).unwrap_or(0))
}

/// What a cloud job means for the object.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// Phase.
    pub phase: HbrBackupJobPhase,
    /// Conditions.
    pub health: Health,
    /// Whether a warning event should accompany the transition (partial success, failure).
    pub warning: bool,
}

/// Maps a cloud job to phase and health.
pub fn job_view(job: &CloudJob) -> JobView {
    let raw = job
        .status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let id = &job.job_id;
    let err = job
        .error_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let with_err = |base: String| match err {
        Some(e) => format!("{base}: {e}"),
        None => base,
    };
    match job.state() {
        JobState::Complete => JobView {
            phase: HbrBackupJobPhase::Succeeded,
            health: Health::ready(reasons::BACKUP_SUCCEEDED, format!("job {id} completed")),
            warning: false,
        },
        JobState::PartialComplete => JobView {
            phase: HbrBackupJobPhase::PartiallySucceeded,
            health: Health::ready(
                reasons::BACKUP_PARTIALLY_SUCCEEDED,
                with_err(format!(
                    "job {id} completed partially; some data was not backed up"
                )),
            ),
            warning: true,
        },
        JobState::Failed => JobView {
            phase: HbrBackupJobPhase::Failed,
            health: Health::stalled(
                reasons::BACKUP_FAILED,
                with_err(format!("job {id} ended {raw}")),
            ),
            warning: true,
        },
        JobState::Cancelled => JobView {
            phase: HbrBackupJobPhase::Cancelled,
            health: Health::stalled(
                reasons::BACKUP_CANCELLED,
                with_err(format!("job {id} was cancelled")),
            ),
            warning: true,
        },
        JobState::Created | JobState::Running => {
            let pct = progress_percent(job.progress)
                .map(|p| format!(", {p}%"))
                .unwrap_or_default();
            let state = if raw.is_empty() {
                JobState::Created.as_str()
            } else {
                raw.as_str()
            };
            JobView {
                phase: HbrBackupJobPhase::Running,
                health: Health::progressing(
                    reasons::BACKUP_RUNNING,
                    format!("job {id} is {state}{pct}"),
                ),
                warning: false,
            }
        }
    }
}

/// Copies the job's raw status, progress, bytes, times and error into `status`.
pub fn record_job(status: &mut HbrBackupJobStatus, job: &CloudJob) {
    status.cloud_status = job.status.clone();
    status.progress = progress_percent(job.progress).or(status.progress);
    if job.state() == JobState::Complete {
        status.progress = Some(100);
    }
    status.bytes_done = job.bytes_done.or(status.bytes_done);
    status.bytes_total = job.bytes_total.or(status.bytes_total);
    status.actual_bytes = job.actual_bytes.or(status.actual_bytes);
    status.error_message = job
        .error_message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .or(status.error_message.take());
    status.start_time =
        times::from_unix_secs(job.start_time.or(job.created_time)).or(status.start_time.take());
    if is_terminal_status(job.status.as_deref().unwrap_or("")) {
        status.completion_time = times::from_unix_secs(job.complete_time.or(job.updated_time))
            .or(status.completion_time.take());
    }
}

/// Whether the job of this phase and source type still lacks the snapshot ids it produced.
pub fn needs_snapshot_ids(spec: &HbrBackupJobSpec, status: &HbrBackupJobStatus) -> bool {
    spec.source_type == HbrSourceType::UdmEcs
        && status.job_id.is_some()
        && status.snapshot_ids.is_empty()
        && matches!(
            status.phase,
            Some(HbrBackupJobPhase::Succeeded | HbrBackupJobPhase::PartiallySucceeded)
        )
}

/// The job `spec.jobId` names, if any (trimmed). `ObserveOnly` needs one (what the CEL rule
/// says, for servers without CEL).
pub fn validate_adoption(spec: &HbrBackupJobSpec) -> Result<Option<String>, InvalidSpec> {
    let id = spec
        .job_id
        .as_deref()
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_string);
    if id.is_none() && spec.management_policy.is_observe_only() {
        return Err(InvalidSpec(
            "managementPolicy ObserveOnly needs spec.jobId (the job to observe); the operator \
             never creates a job for an ObserveOnly object"
                .into(),
        ));
    }
    Ok(id)
}

/// The other `HbrBackupJob` (`namespace/name`, any namespace) that holds `job_id` in its status
/// or names it in its spec, if any: such a job is never adopted
/// (`docs/architecture.md#exactly-once`).
pub fn adoption_holder(
    me_uid: &str,
    job_id: &str,
    all: &[HbrBackupJob],
) -> Option<crate::controller::reconcile::adoption::Claim> {
    crate::controller::reconcile::adoption::find_claim(
        me_uid,
        all,
        |o| o.status.as_ref().and_then(|s| s.job_id.as_deref()) == Some(job_id),
        |o| o.spec.job_id.as_deref().map(str::trim) == Some(job_id),
    )
}

/// What the spec says that the job `spec.jobId` names must be: its source type, instance and
/// vault ([`crate::controller::reconcile::adoption`]); the fields that differ.
pub fn identity_mismatches(
    spec: &HbrBackupJobSpec,
    job: &crate::cloud::api::hbr::HbrBackupJob,
) -> Vec<crate::controller::reconcile::adoption::Mismatch> {
    crate::controller::reconcile::adoption::Identity::new()
        .field(
            "sourceType",
            Some(spec.source_type.as_str()),
            job.source_type.as_deref(),
        )
        .field(
            "instanceId",
            spec.instance_id.as_deref(),
            job.instance_id.as_deref(),
        )
        .field("vaultId", spec.vault_id.as_deref(), job.vault_id.as_deref())
        .mismatches()
}

/// The message of the condition `Adopted` when the status holds the job the spec names;
/// `None` for an object whose job the operator created.
pub fn adopted_message(spec: &HbrBackupJobSpec, status: &HbrBackupJobStatus) -> Option<String> {
    let id = validate_adoption(spec).ok().flatten()?;
    let held = status.job_id.as_deref() == Some(id.as_str());
    held.then(|| adopted(&format!("job {id}"), spec.management_policy))
}

/// Why an `ObserveOnly` object goes without cloud cleanup.
pub const NOTE_OBSERVE_ONLY: &str = "managementPolicy ObserveOnly: the operator never changes \
     the cloud, so the job is neither cancelled nor are its snapshots deleted, whatever \
     deletionPolicy says";

/// The one next step of the apply path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Take over the job `spec.jobId` names (nothing recorded yet).
    AdoptExisting {
        /// `JobId`.
        job_id: String,
    },
    /// Write `pendingCreate` and the job name (no cloud call yet).
    RecordIntent,
    /// Search the jobs for ours by name (after a crash), then create if it is not there.
    RecoverOrCreate,
    /// Poll the job by id.
    Track {
        /// `JobId`.
        job_id: String,
    },
    /// Fetch the snapshot ids of a finished `UDM_ECS` job.
    FetchSnapshots {
        /// `JobId`.
        job_id: String,
    },
    /// Nothing left to do.
    Done,
}

/// The conditions of a resting object, from its status alone (after a pause, when the
/// conditions say `Paused`): the ended job's, or the refused create's.
pub fn settled_health(status: &HbrBackupJobStatus) -> Option<Health> {
    let terminal = status.phase.is_some_and(HbrBackupJobPhase::is_terminal);
    match &status.job_id {
        Some(job_id) if terminal => {
            let job = CloudJob {
                job_id: job_id.clone(),
                status: status.cloud_status.clone(),
                error_message: status.error_message.clone(),
                ..CloudJob::default()
            };
            let view = job_view(&job);
            Some(if Some(view.phase) == status.phase {
                view.health
            } else {
                // Failed while the job ran: spec.timeout passed and the job was cancelled.
                Health::stalled(
                    crate::controller::reconcile::work::reasons::DEADLINE_EXCEEDED,
                    format!("spec.timeout passed before job {job_id} ended; it was cancelled"),
                )
            })
        }
        None if status.phase == Some(HbrBackupJobPhase::Failed) => {
            Some(crate::controller::reconcile::work::create_refused_health(
                status.last_request_id.as_deref(),
                crate::controller::reconcile::work::IMMUTABLE_CREATE_REFUSED,
            ))
        }
        _ => None,
    }
}

/// Whether the object's work is over with `status` (the plan has nothing left to do):
/// [`Tracked::ended`](crate::controller::reconcile::kind::Tracked::ended).
pub fn ended(spec: &HbrBackupJobSpec, status: &HbrBackupJobStatus) -> bool {
    plan(spec, status) == Step::Done
}

/// Chooses the next step of the apply path.
pub fn plan(spec: &HbrBackupJobSpec, status: &HbrBackupJobStatus) -> Step {
    match (&status.job_id, &status.pending_create) {
        // The create was refused for good: nothing exists, nothing more to do.
        (None, None) if status.phase == Some(HbrBackupJobPhase::Failed) => Step::Done,
        (None, None) => match validate_adoption(spec) {
            Ok(Some(job_id)) => Step::AdoptExisting { job_id },
            _ => Step::RecordIntent,
        },
        (None, Some(_)) => Step::RecoverOrCreate,
        (Some(job_id), _) => {
            let job_id = job_id.clone();
            let terminal = status.phase.is_some_and(HbrBackupJobPhase::is_terminal);
            if !terminal {
                Step::Track { job_id }
            } else if needs_snapshot_ids(spec, status) {
                Step::FetchSnapshots { job_id }
            } else {
                Step::Done
            }
        }
    }
}

/// The one next step of the cleanup path, given a fresh look at the job (`None` = gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// `CancelBackupJob`.
    Cancel,
    /// Cancel was sent; wait for the job to end.
    AwaitCancel,
    /// Look up the snapshot ids before deleting them.
    FetchSnapshots,
    /// `DeleteSnapshot` for each id.
    DeleteSnapshots(Vec<String>),
    /// Remove the finalizer.
    Done,
}

/// Whether deleting with `deletionPolicy: Delete` leaves a snapshot behind: the job produced one,
/// but its snapshots cannot be looked up ([`snapshots_findable`]: a `CONTAINER` job), so it
/// stays in the vault.
pub fn snapshot_left_in_vault(
    spec: &HbrBackupJobSpec,
    job: Option<&CloudJob>,
    delete: bool,
) -> bool {
    delete && !snapshots_findable(spec.source_type) && job.is_some_and(|j| j.state().made_backup())
}

/// Chooses the next cleanup step. `job` is the job as just observed (`None` when the cloud no
/// longer knows it); `cancel_sent` whether `CancelBackupJob` was already accepted;
/// `delete` whether `deletionPolicy` is `Delete`; `snapshots_fetched` whether the snapshot
/// lookup already ran in this cleanup.
pub fn plan_cleanup(
    spec: &HbrBackupJobSpec,
    status: &HbrBackupJobStatus,
    job: Option<&CloudJob>,
    cancel_sent: bool,
    delete: bool,
    snapshots_fetched: bool,
) -> CleanupStep {
    let Some(job) = job else {
        return if delete && !status.snapshot_ids.is_empty() {
            CleanupStep::DeleteSnapshots(status.snapshot_ids.clone())
        } else {
            CleanupStep::Done
        };
    };
    let raw = job.status.as_deref().unwrap_or("");
    if !is_terminal_status(raw) {
        return if cancel_sent {
            CleanupStep::AwaitCancel
        } else {
            CleanupStep::Cancel
        };
    }
    if !delete {
        return CleanupStep::Done;
    }
    if status.snapshot_ids.is_empty()
        && snapshots_findable(spec.source_type)
        && !snapshots_fetched
        && JobState::parse(Some(raw)).made_backup()
    {
        return CleanupStep::FetchSnapshots;
    }
    if status.snapshot_ids.is_empty() {
        CleanupStep::Done
    } else {
        CleanupStep::DeleteSnapshots(status.snapshot_ids.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests;
