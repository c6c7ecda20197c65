//! Pure steps of the `RdsBackup` reconcile: `validate` (spec → the `CreateBackup` request),
//! the plan (status → one [`Step`]) and the cleanup plan, here; the claims of the other objects
//! on the instance and the decisions on an unresolved intent of the exactly-once rules
//! (`docs/architecture.md#exactly-once`) in [`claims`]; adoption by spec in [`adoption`]; the
//! mapping of the cloud task and backup set to phase, conditions and progress in [`status`].
//! Their items are re-exported here: `plan::X` is the one path to each.
//!
//! Nothing here performs I/O; the reconcile in [`super`] does.

pub mod adoption;
pub mod claims;
pub mod status;

pub use self::adoption::*;
pub use self::claims::*;
pub use self::status::*;

use crate::cloud::api::{CreateBackupRequest, TaskState};
use crate::crd::{
    DeletionPolicy, ManagementPolicy, RdsBackupMethod, RdsBackupPhase, RdsBackupSetDetails,
    RdsBackupSpec, RdsBackupStatus, RdsBackupStrategy,
};

/// Error code of `CreateBackup` when a backup already runs on the instance.
pub const BACKUP_JOB_EXISTS: &str = "BackupJobExists";
/// Error code of `DeleteBackup` for a set whose `StoreStatus` is `Disabled`.
pub const INCORRECT_BACKUP_SET_STATE: &str = "IncorrectBackupSetState";

/// Condition reasons (stable PascalCase; also event reasons).
pub mod reasons {
    /// Spec rejected by `validate`.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Intent recorded; `CreateBackup` is being sent.
    pub const CREATING: &str = "Creating";
    /// `CreateBackup` returned a job id.
    pub const BACKUP_CREATED: &str = "BackupCreated";
    /// An unknown-outcome create was resolved by finding our task.
    pub const BACKUP_ADOPTED: &str = "BackupAdopted";
    /// The task runs.
    pub const BACKUP_RUNNING: &str = "BackupRunning";
    /// The task finished; the backup set is not visible in `DescribeBackups` yet.
    pub const WAITING_FOR_BACKUP_SET: &str = "WaitingForBackupSet";
    /// The task is not (or no longer) visible in `DescribeBackupTasks`.
    pub const TASK_NOT_FOUND: &str = "BackupTaskNotFound";
    /// Done.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// The task failed in the cloud.
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// Another backup runs on the instance (`BackupJobExists`).
    pub const WAITING_FOR_RUNNING_BACKUP: &str = "WaitingForRunningBackup";
    /// Another object on the instance has an unresolved create.
    pub const WAITING_FOR_INSTANCE: &str = "WaitingForInstance";
    /// The object is being deleted; cleanup in progress.
    pub const DELETING: &str = "Deleting";
    /// Deletion waits for the running task to end.
    pub const WAITING_FOR_TASK_TO_END: &str = "WaitingForTaskToEnd";
    /// The backup set cannot be deleted (`StoreStatus: Disabled`).
    pub const BACKUP_NOT_DELETABLE: &str = "BackupNotDeletable";
    /// The backup set was deleted.
    pub const BACKUP_DELETED: &str = "BackupDeleted";
    /// Deletion let the object go without touching the cloud.
    pub const CLOUD_CLEANUP_SKIPPED: &str =
        crate::controller::reconcile::work::reasons::CLOUD_CLEANUP_SKIPPED;
    /// A create's outcome cannot be proven (see [`super::outcome_unknown_message`]).
    pub const CREATE_OUTCOME_UNKNOWN: &str = "CreateOutcomeUnknown";
    /// The answer of a create was lost and the evidence named the object's backup set
    /// (`Resolution::Resolved`).
    pub const CREATE_OUTCOME_RESOLVED: &str = "CreateOutcomeResolved";
    /// The set named by the adopt annotation (or the task or set named by the spec) is held by
    /// another object.
    pub const ADOPTION_REFUSED: &str =
        crate::controller::reconcile::work::reasons::ADOPTION_REFUSED;
    /// The set named by the adopt annotation or by `spec.backupId` does not exist.
    pub const BACKUP_SET_NOT_FOUND: &str = "BackupSetNotFound";
    /// `CreateBackup` was refused for good (the spec can never work): phase `Failed`.
    pub const CREATE_REFUSED: &str = crate::controller::reconcile::work::reasons::CREATE_REFUSED;
}

// ---------------------------------------------------------------------------------------------
// validate (pure)
// ---------------------------------------------------------------------------------------------

/// Checks what the CRD schema cannot (or what a server without CEL lets through) and builds the
/// `CreateBackup` request. The error is a message saying what to change.
pub fn validate(spec: &RdsBackupSpec) -> Result<CreateBackupRequest, String> {
    if spec.instance().is_empty() {
        return Err("spec.dbInstanceId must not be empty".into());
    }
    if spec.region.trim().is_empty() {
        return Err("spec.region must not be empty".into());
    }
    let is_db = spec.backup_strategy == Some(RdsBackupStrategy::Db);
    if !spec.db_names.is_empty() && !is_db {
        return Err("spec.dbNames needs spec.backupStrategy: db".into());
    }
    if is_db && spec.db_names.is_empty() {
        return Err("spec.backupStrategy db needs at least one entry in spec.dbNames".into());
    }
    if let Some(bad) = spec
        .db_names
        .iter()
        .find(|n| n.trim().is_empty() || n.contains(',') || n.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "spec.dbNames entry {bad:?} is invalid: names must be non-empty, without commas or spaces"
        ));
    }
    if spec.backup_type.is_some() && spec.backup_method != RdsBackupMethod::Physical {
        return Err("spec.backupType applies only to backupMethod Physical".into());
    }
    if let Some(r) = spec.backup_retention_period
        && r != -1
        && !(7..=730).contains(&r)
    {
        return Err(format!(
            "spec.backupRetentionPeriod {r} is invalid: use -1 (keep until deleted) or 7 to 730 days"
        ));
    }
    Ok(CreateBackupRequest {
        db_instance_id: spec.instance().to_string(),
        db_names: spec.db_names.clone(),
        backup_strategy: spec.backup_strategy.map(|s| s.as_str().to_string()),
        backup_method: Some(spec.backup_method.as_str().to_string()),
        backup_type: spec.backup_type.map(|t| t.as_str().to_string()),
        backup_retention_period: spec.backup_retention_period.map(i64::from),
        ..CreateBackupRequest::default()
    })
}

// ---------------------------------------------------------------------------------------------
// plan (pure)
// ---------------------------------------------------------------------------------------------

/// The one next step of an `RdsBackup` that is not being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing was sent yet: record the intent, then `CreateBackup`.
    Create,
    /// An intent is recorded but its outcome is unknown: look for our task, adopt it, or
    /// create again if there is none.
    Adopt,
    /// Poll the task until it ends.
    Track {
        /// `BackupJobId`.
        job_id: String,
    },
    /// The set to read from `DescribeBackups` (which can lag behind the task): the task
    /// finished and `backupSetDetails` is `Record`, or the set was adopted without a task.
    FetchBackupSet {
        /// `BackupId`.
        backup_id: String,
    },
    /// Take over the task or set the spec names (`backupJobId`/`backupId`): nothing is
    /// recorded yet.
    AdoptExisting(AdoptId),
    /// Terminal: nothing to do.
    Done,
}

/// Whether a raw task status is final.
pub fn task_ended(status: Option<&str>) -> bool {
    TaskState::parse(status).is_ended()
}

/// Chooses the next step from the status and `spec.backupSetDetails`. A finished task with
/// `Skip` is tracked once more (its answer is the proof) rather than read from `DescribeBackups`;
/// that status only exists when the operator stopped while waiting for a set with `Record`.
pub fn plan(status: Option<&RdsBackupStatus>, details: RdsBackupSetDetails) -> Step {
    let Some(s) = status else {
        return Step::Create;
    };
    if matches!(
        s.phase,
        Some(RdsBackupPhase::Failed | RdsBackupPhase::Succeeded)
    ) {
        return Step::Done;
    }
    let finished = TaskState::parse(s.cloud_status.as_deref()) == TaskState::Finished;
    if let Some(backup_id) = &s.backup_id
        && (s.backup_job_id.is_none() || (finished && details == RdsBackupSetDetails::Record))
    {
        return Step::FetchBackupSet {
            backup_id: backup_id.clone(),
        };
    }
    if let Some(job_id) = &s.backup_job_id {
        return Step::Track {
            job_id: job_id.clone(),
        };
    }
    if s.pending_create.is_some() {
        return Step::Adopt;
    }
    Step::Create
}

/// Whether the object's work is over with `status` (the plan has nothing left to do):
/// [`Tracked::ended`](crate::controller::reconcile::kind::Tracked::ended).
pub fn ended(spec: &RdsBackupSpec, status: &RdsBackupStatus) -> bool {
    plan_spec(spec, Some(status)) == Step::Done
}

/// Chooses the next step from the spec's adoption fields and the status: an object that names
/// a task or set to adopt ([`validate_adoption`]) and has recorded nothing yet (no task, no
/// set, no intent, not failed) adopts it; everything else is [`plan`].
pub fn plan_spec(spec: &RdsBackupSpec, status: Option<&RdsBackupStatus>) -> Step {
    let nothing_recorded = status.is_none_or(|s| {
        s.backup_job_id.is_none()
            && s.backup_id.is_none()
            && s.pending_create.is_none()
            && s.phase != Some(RdsBackupPhase::Failed)
    });
    match validate_adoption(spec) {
        Ok(Some(id)) if nothing_recorded => Step::AdoptExisting(id),
        _ => plan(status, spec.backup_set_details),
    }
}

/// What deleting an `RdsBackup` takes next (`docs/architecture.md#deletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// Let the object go without touching the cloud; the note says why.
    LetGo(&'static str),
    /// Nothing (more) in the cloud to clean up: the finalizer goes.
    Finished,
    /// A create may have run (intent without a task id): find what it made first.
    ResolveIntent,
    /// A task of ours is running: wait for it to end (its set cannot be deleted before).
    AwaitTask {
        /// The task.
        job_id: String,
    },
    /// Delete our backup set.
    DeleteSet {
        /// The set.
        backup_id: String,
    },
}

/// Why an object with the orphan annotation goes without cloud cleanup.
pub const NOTE_ORPHAN: &str = "orphan-on-delete annotation set: the backup is left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup.
pub const NOTE_RETAIN: &str = "deletionPolicy Retain: the backup set is kept in the cloud";

/// The next cleanup step of a deleted object: `orphan` is the orphan annotation.
pub fn plan_cleanup(orphan: bool, policy: DeletionPolicy, s: &RdsBackupStatus) -> CleanupStep {
    if orphan {
        return CleanupStep::LetGo(NOTE_ORPHAN);
    }
    if policy == DeletionPolicy::Retain {
        return CleanupStep::LetGo(NOTE_RETAIN);
    }
    if s.backup_job_id.is_none() && s.backup_id.is_none() {
        return if s.pending_create.is_some() {
            CleanupStep::ResolveIntent
        } else {
            // Nothing was ever created.
            CleanupStep::Finished
        };
    }
    if let Some(job_id) = &s.backup_job_id
        && !task_ended(s.cloud_status.as_deref())
    {
        return CleanupStep::AwaitTask {
            job_id: job_id.clone(),
        };
    }
    match &s.backup_id {
        Some(backup_id) => CleanupStep::DeleteSet {
            backup_id: backup_id.clone(),
        },
        // Failed, or ended without a visible backup id: nothing we can address.
        None => CleanupStep::Finished,
    }
}

/// Why an `ObserveOnly` object goes without cloud cleanup.
pub const NOTE_OBSERVE_ONLY: &str = "managementPolicy ObserveOnly: the operator never changes \
     the cloud, so the backup is left as it is whatever deletionPolicy says";

/// [`plan_cleanup`] with the management policy: an `ObserveOnly` object is let go without
/// touching the cloud (after the orphan annotation, whose note wins).
pub fn plan_cleanup_managed(
    orphan: bool,
    policy: DeletionPolicy,
    management: ManagementPolicy,
    s: &RdsBackupStatus,
) -> CleanupStep {
    if !orphan && management.is_observe_only() {
        return CleanupStep::LetGo(NOTE_OBSERVE_ONLY);
    }
    plan_cleanup(orphan, policy, s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
