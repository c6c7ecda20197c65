//! Scenario knobs: injected resource failures that tests set up in advance.

use serde::{Deserialize, Serialize};

/// How an HBR job ends when a failure is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HbrOutcome {
    /// `PARTIAL_COMPLETE`: the job ends with some data backed up and an `ErrorMessage`.
    PartialComplete,
    /// `FAILED`.
    Failed,
}

impl HbrOutcome {
    /// The wire `Status` value.
    pub fn status(self) -> &'static str {
        match self {
            Self::PartialComplete => "PARTIAL_COMPLETE",
            Self::Failed => "FAILED",
        }
    }
}

/// A failure to inject into a resource. `target` selects the resource: an existing
/// in-progress resource with that id (task/job/plan id) or on that instance is changed at once;
/// otherwise the scenario waits for the next resource created for that instance (or, with no
/// target, the next one created at all) and is consumed by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scenario {
    /// The RDS backup task ends `Failed` (at the Uploading step).
    RdsTaskFailure {
        /// `BackupJobId` or `DBInstanceId`; none = the next task.
        #[serde(default)]
        target: Option<String>,
    },
    /// The DBS plan fails its pre-check: `BackupPlanStatus` goes `init` → `stop` with this
    /// `ErrMessage`.
    DbsPrecheckFailure {
        /// `BackupPlanId` or `SourceEndpointInstanceID`; none = the next plan.
        #[serde(default)]
        target: Option<String>,
        /// The plan's `ErrMessage`.
        err_message: String,
    },
    /// The next DBS full backup set of the plan ends `failed` with this `ErrMessage`.
    DbsBackupSetFailure {
        /// `BackupPlanId`; none = the next backup set of any plan.
        #[serde(default)]
        target: Option<String>,
        /// The backup set's `ErrMessage`.
        err_message: String,
    },
    /// The HBR job ends with `outcome` instead of `COMPLETE`.
    HbrJobOutcome {
        /// `JobId` or ECS `InstanceId`; none = the next job.
        #[serde(default)]
        target: Option<String>,
        /// `PARTIAL_COMPLETE` or `FAILED`.
        outcome: HbrOutcome,
        /// The job's `ErrorMessage`.
        message: String,
    },
    /// The RDS clone made by `CloneDBInstance` fails: the new instance goes `Creating` →
    /// `Deleting` and is then gone (`InvalidDBInstanceId.NotFound`).
    RdsCloneFailure {
        /// The new `DBInstanceId` or the source `DBInstanceId`; none = the next clone.
        #[serde(default)]
        target: Option<String>,
    },
    /// The RDS `RestoreTable` task ends `Failed` with this reason (nothing is written).
    RdsRestoreTableFailure {
        /// `TaskId` or `DBInstanceId`; none = the next table restore.
        #[serde(default)]
        target: Option<String>,
        /// The task's `TaskDetail` / `ReasonCode` text.
        reason: String,
    },
    /// The HBR restore job ends with `outcome` instead of `COMPLETE`.
    HbrRestoreOutcome {
        /// `RestoreId`, `SnapshotId` or target/source ECS instance id; none = the next restore.
        #[serde(default)]
        target: Option<String>,
        /// `PARTIAL_COMPLETE` or `FAILED`.
        outcome: HbrOutcome,
        /// The job's `ErrorMessage`.
        message: String,
    },
    /// The DBS restore task fails while running: `RestoreStatus` `stop` with this `ErrMessage`.
    DbsRestoreFailure {
        /// `RestoreTaskId`, `RestoreTaskName` or `BackupPlanId`; none = the next started task.
        #[serde(default)]
        target: Option<String>,
        /// The task's `ErrMessage`.
        err_message: String,
    },
    /// Sets an RDS instance's status (e.g. `Restarting`), so `CreateBackup` is refused.
    RdsInstanceStatus {
        /// `DBInstanceId`.
        instance_id: String,
        /// New `DBInstanceStatus`, e.g. `Running`, `Restarting`, `Locked`.
        status: String,
    },
}

/// Removes and returns the first pending scenario that `pick` accepts.
pub(crate) fn take<T>(
    pending: &mut Vec<Scenario>,
    mut pick: impl FnMut(&Scenario) -> Option<T>,
) -> Option<T> {
    let idx = pending.iter().position(|s| pick(s).is_some())?;
    let s = pending.remove(idx);
    pick(&s)
}

/// Whether a scenario target selects a resource (no target selects anything).
pub(crate) fn target_matches(target: &Option<String>, ids: &[&str]) -> bool {
    match target {
        None => true,
        Some(t) => ids.iter().any(|id| id == t),
    }
}
