//! Adoption by spec (pure): the task or set `spec.backupJobId`/`spec.backupId` names, who
//! else holds it, and how an adopted set is recorded (`docs/architecture.md#adoption-by-spec`).

use super::{RdsBackupSpec, RdsBackupStatus, reasons, record_backup_set};
use crate::cloud::api::{RdsBackup as CloudBackupSet, TaskState};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::adopted_message as adopted;
use crate::crd::{RdsBackup, RdsBackupPhase};

/// What the spec names to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdoptId {
    /// `spec.backupJobId`: a backup task, tracked to its set.
    Task(String),
    /// `spec.backupId`: a backup set, fetched and recorded.
    Set(String),
}

impl AdoptId {
    /// What it is, for messages: `backup task 123` / `backup set 456`.
    pub fn describe(&self) -> String {
        match self {
            Self::Task(id) => format!("backup task {id}"),
            Self::Set(id) => format!("backup set {id}"),
        }
    }

    /// The spec field that names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Task(_) => "spec.backupJobId",
            Self::Set(_) => "spec.backupId",
        }
    }

    /// What it is and the spec field that names it (`backup task 123 named by
    /// spec.backupJobId`), for the adoption refusals.
    pub fn named(&self) -> String {
        format!("{} named by {}", self.describe(), self.field())
    }
}

fn trimmed(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Checks the adoption fields (what the CEL rules say, for servers without CEL): at most one
/// of `backupJobId` and `backupId`; `ObserveOnly` needs one. The id to adopt, if any.
pub fn validate_adoption(spec: &RdsBackupSpec) -> Result<Option<AdoptId>, String> {
    let job = trimmed(spec.backup_job_id.as_ref());
    let set = trimmed(spec.backup_id.as_ref());
    match (job, set) {
        (Some(_), Some(_)) => Err(
            "spec.backupJobId and spec.backupId are mutually exclusive: adopt either a backup \
             task or a backup set"
                .into(),
        ),
        (Some(j), None) => Ok(Some(AdoptId::Task(j))),
        (None, Some(b)) => Ok(Some(AdoptId::Set(b))),
        (None, None) if spec.management_policy.is_observe_only() => Err(
            "managementPolicy ObserveOnly needs spec.backupJobId or spec.backupId (the backup \
             to observe); the operator never creates a backup for an ObserveOnly object"
                .into(),
        ),
        (None, None) => Ok(None),
    }
}

/// The other `RdsBackup` (`namespace/name`, any namespace) that holds `id` in its status or
/// names it in its spec, if any: such an id is never adopted
/// (`docs/architecture.md#exactly-once`).
pub fn adoption_holder(
    me_uid: &str,
    id: &AdoptId,
    all: &[RdsBackup],
) -> Option<crate::controller::reconcile::adoption::Claim> {
    // The id an object holds (status) and the one its spec names, for the kind of id.
    type Held = fn(&RdsBackup) -> Option<&str>;
    type Named = fn(&RdsBackup) -> Option<String>;
    let (held, named): (Held, Named) = match id {
        AdoptId::Task(_) => (
            |o| o.status.as_ref().and_then(|s| s.backup_job_id.as_deref()),
            |o| trimmed(o.spec.backup_job_id.as_ref()),
        ),
        AdoptId::Set(_) => (
            |o| o.status.as_ref().and_then(|s| s.backup_id.as_deref()),
            |o| trimmed(o.spec.backup_id.as_ref()),
        ),
    };
    let want = match id {
        AdoptId::Task(j) | AdoptId::Set(j) => j.as_str(),
    };
    crate::controller::reconcile::adoption::find_claim(
        me_uid,
        all,
        |o| held(o) == Some(want),
        |o| named(o).as_deref() == Some(want),
    )
}

/// The message of the condition `Adopted` when the status holds the task or set the spec
/// names; `None` for an object whose backup the operator created.
pub fn adopted_message(spec: &RdsBackupSpec, status: &RdsBackupStatus) -> Option<String> {
    let id = validate_adoption(spec).ok().flatten()?;
    let held = match &id {
        AdoptId::Task(j) => status.backup_job_id.as_deref() == Some(j.as_str()),
        AdoptId::Set(b) => {
            status.backup_job_id.is_none() && status.backup_id.as_deref() == Some(b.as_str())
        }
    };
    held.then(|| adopted(&id.describe(), spec.management_policy))
}

/// Records an adopted backup set (`spec.backupId`): `Succeeded` when the set is a successful
/// one, else `Failed` (`Stalled/BackupFailed`).
pub fn record_adopted_set(
    status: &mut RdsBackupStatus,
    set: &CloudBackupSet,
    now: jiff::Timestamp,
) -> Health {
    let health = record_backup_set(status, set, now);
    status.cloud_status = Some(TaskState::Finished.as_str().into());
    let ok = set
        .backup_status
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("Success"));
    if ok {
        return health;
    }
    status.phase = Some(RdsBackupPhase::Failed);
    status.cloud_status = Some(TaskState::Failed.as_str().into());
    Health::stalled(
        reasons::BACKUP_FAILED,
        format!(
            "adopted backup set {} is not a successful one (BackupStatus {})",
            set.backup_id,
            set.backup_status.as_deref().unwrap_or("unknown")
        ),
    )
}
