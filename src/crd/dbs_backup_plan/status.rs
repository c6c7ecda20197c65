//! The observed state of a `DbsBackupPlan`: its phase, status and full backup sets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::common::tracked_status;

/// Lifecycle phase of a `DbsBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsBackupPlanPhase {
    /// Accepted, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `CreateAndStartBackupPlan` is being sent (intent recorded in `pendingCreate`).
    Creating,
    /// The plan exists and is being checked/started (`init`, `check_pass`, `wait`).
    Starting,
    /// The plan runs (`running`).
    Running,
    /// Paused by `suspend: true` (`stop`).
    Paused,
    /// The plan failed (e.g. pre-check failure); see conditions.
    Failed,
    /// The object is being deleted (release per `deletionPolicy`).
    Deleting,
}

impl DbsBackupPlanPhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Starting => "Starting",
            Self::Running => "Running",
            Self::Paused => "Paused",
            Self::Failed => "Failed",
            Self::Deleting => "Deleting",
        }
    }
}

impl std::fmt::Display for DbsBackupPlanPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tracked_status! {
    /// Observed state of a `DbsBackupPlan`. Every field is optional so that partial
    /// server-side-apply writes are possible.
    pub struct DbsBackupPlanStatus {
        phase: DbsBackupPlanPhase,
        generation: " `metadata.generation` this status describes (set once the spec of that generation is\napplied in the cloud).",
        intent: " Intent record written before `CreateAndStartBackupPlan`; its token is the `ClientToken`.",
        deletion_policy,

        /// `BackupPlanId` of the plan.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_plan_id: Option<String>,

        /// `OrderId` of the purchase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub order_id: Option<String>,

        /// `CreatedFullBackupsetId` returned when the plan was (re)started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub created_full_backupset_id: Option<String>,

        /// Raw `BackupPlanStatus` (`init`, `check_pass`, `wait`, `running`, `stop`, `locked`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_status: Option<String>,

        /// The plan's `ErrMessage` from `DescribeBackupPlanList`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_message: Option<String>,

        /// When the plan was created (`BackupPlanCreateTime`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub create_time: Option<Time>,

        /// Last time the cloud plan was compared with the spec (drift resync).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_sync_time: Option<Time>,

        /// The latest full backup set (`DescribeFullBackupList`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub latest_full_backup_set: Option<DbsFullBackupSet>,

        /// When the most recent successful (`finish`) full backup set ended; kept when later sets
        /// run or fail. Exported as `aliyun_backup_last_success_timestamp_seconds`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_successful_backup_time: Option<Time>,
    }
}

/// A full backup set as reported by `DescribeFullBackupList`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbsFullBackupSet {
    /// `BackupSetId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Raw `BackupStatus` of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `StartTime` of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// `EndTime` of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// `BackupSize` in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}
