//! The restore kinds — [`RdsRestore`], [`HbrRestoreJob`], [`DbsRestoreTask`] — and the pieces
//! they share: one status type ([`RestoreStatus`]), one phase enum ([`RestorePhase`]), the
//! overwrite confirmation ([`RestoreOverwrite`]) and the dry-run plan ([`RestorePlan`]).
//!
//! A restore is an event, not a desired state: the spec is immutable (CEL `self == oldSelf`),
//! deleting the object never deletes restored data, and every restore that writes into
//! something that already exists names it in `spec.overwrite.confirmTargetId`
//! (`docs/restore.md`).

pub mod dbs;
pub mod hbr;
pub mod rds;

pub use dbs::*;
pub use hbr::*;
pub use rds::*;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CredentialsRef, tracked_status};

/// A reference to another object of this operator in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object (same namespace as the restore).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// What every restore spec has besides its source, target and overwrite (flattened: the
/// fields sit directly under `spec`): the credentials and the dry run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreCommon {
    /// Secret (same namespace) with `accessKeyId`, `accessKeySecret` and optional
    /// `securityToken`. Without it, the operator's own credentials chain is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialsRef>,

    /// Validate everything and write the plan to `status.plan` without calling anything that
    /// changes state (phase `Planned`).
    #[serde(default)]
    pub dry_run: bool,
}

/// `spec.overwrite`: the confirmation that a restore may write into something that already
/// exists. Required whenever it does; the id must equal the target the restore writes into.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOverwrite {
    /// The id of the instance, server, bucket, file system or database endpoint the restore
    /// writes into, repeated to confirm it (e.g. `rm-uf6wjk5xxxx`, `i-bp1xxxx`). A restore
    /// whose target differs is stopped before any call (`Stalled/OverwriteNotConfirmed`).
    #[schemars(length(min = 1, max = 253))]
    pub confirm_target_id: String,
}

/// Lifecycle phase of a restore (the same for every restore kind).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RestorePhase {
    /// Accepted; being validated, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `spec.dryRun`: validated, `status.plan` says what would run; nothing was changed.
    Planned,
    /// The restore call is being sent (intent recorded in `pendingCreate`).
    Starting,
    /// The restore runs in the cloud.
    Restoring,
    /// The restore finished and the data is in place.
    Succeeded,
    /// The restore ended with part of the data restored (HBR `PARTIAL_COMPLETE`).
    PartiallySucceeded,
    /// The restore failed in the cloud, or was refused.
    Failed,
    /// The restore was cancelled (HBR `CANCELED`, or cancelled on deletion).
    Cancelled,
    /// The object is being deleted (a running restore is cancelled where the API allows it).
    Deleting,
}

impl RestorePhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Planned => "Planned",
            Self::Starting => "Starting",
            Self::Restoring => "Restoring",
            Self::Succeeded => "Succeeded",
            Self::PartiallySucceeded => "PartiallySucceeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
            Self::Deleting => "Deleting",
        }
    }

    /// True for phases after which no cloud work remains.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Planned
                | Self::Succeeded
                | Self::PartiallySucceeded
                | Self::Failed
                | Self::Cancelled
        )
    }
}

impl std::fmt::Display for RestorePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a restore runs (or, with `spec.dryRun`, would run): the state-changing operation, the
/// target it writes into and its parameters (secrets left out).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// The API operation, e.g. `RDS CloneDBInstance`, `HBR CreateRestoreJob`,
    /// `DBS CreateRestoreTask + StartRestoreTask`.
    pub operation: String,
    /// What the restore writes into: `new instance` or the id of an existing one.
    pub target: String,
    /// Whether the restore writes into something that already exists (then
    /// `spec.overwrite.confirmTargetId` names it).
    pub overwrites: bool,
    /// The wire parameters (passwords and tokens left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

tracked_status! {
    /// Observed state of a restore (`RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask`). Every field
    /// is optional so that partial server-side-apply writes are possible.
    pub struct RestoreStatus {
        phase: RestorePhase,
        intent: " Intent record written before the restore call (exactly-once across crashes).",

        /// The validated plan: what runs, against what, with which parameters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub plan: Option<RestorePlan>,

        /// The cloud's id of the restore: the new instance (`RdsRestore` Clone), the task-centre
        /// task (`RdsRestore` Tables), the `RestoreId` (`HbrRestoreJob`), the `RestoreTaskId`
        /// (`DbsRestoreTask`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restore_id: Option<String>,

        /// `RdsRestore` Clone: the id of the new instance (`DBInstanceId` of `CloneDBInstance`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub db_instance_id: Option<String>,

        /// `RdsRestore` Clone: the order of the new instance (`OrderId`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub order_id: Option<String>,

        /// `DbsRestoreTask`: the task name (`RestoreTaskName`, derived from the object's UID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restore_task_name: Option<String>,

        /// The source as resolved: backup set, snapshot or point in time the data comes from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source: Option<String>,

        /// What the restore writes into (an existing id, or the new instance once known).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub target_id: Option<String>,

        /// Raw status of the restore in the cloud (e.g. `Creating`, `Running`, `Succeed`,
        /// `RUNNING`, `COMPLETE`, `check_pass`, `finish`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_status: Option<String>,

        /// The cloud's reason for a failure (error message or code).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_message: Option<String>,

        /// Percent done (0-100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0, max = 100))]
        pub progress: Option<i32>,

        /// When the restore was started in the cloud (or found after a crash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_time: Option<Time>,

        /// When the restore reached a terminal phase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub completion_time: Option<Time>,
    }
}
