//! The observed state of an `HbrBackupJob`: its phase and status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::common::tracked_status;

/// Lifecycle phase of an `HbrBackupJob`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrBackupJobPhase {
    /// Accepted, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `CreateBackupJob` is being sent (intent recorded in `pendingCreate`).
    Creating,
    /// The job runs in the cloud.
    Running,
    /// `COMPLETE`.
    Succeeded,
    /// `PARTIAL_COMPLETE`: some data was not backed up.
    PartiallySucceeded,
    /// `FAILED` or `EXPIRED`.
    Failed,
    /// `CANCELED`.
    Cancelled,
    /// The object is being deleted (cancel / cloud cleanup per `deletionPolicy`).
    Deleting,
}

impl HbrBackupJobPhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Running => "Running",
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
            Self::Succeeded | Self::PartiallySucceeded | Self::Failed | Self::Cancelled
        )
    }
}

impl std::fmt::Display for HbrBackupJobPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tracked_status! {
    /// Observed state of an `HbrBackupJob`. Every field is optional so that partial
    /// server-side-apply writes are possible.
    pub struct HbrBackupJobStatus {
        phase: HbrBackupJobPhase,
        intent: " Intent record written before `CreateBackupJob` (exactly-once across crashes).",
        deletion_policy,

        /// `JobId` returned by `CreateBackupJob` (or found with `DescribeBackupJobs2`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub job_id: Option<String>,

        /// The full `JobName` sent to the cloud (prefix + object UID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub job_name: Option<String>,

        /// Snapshot IDs produced by the job (`UDM_ECS`: from `DescribeUdmSnapshots`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub snapshot_ids: Vec<String>,

        /// Raw job `Status` (`CREATED`, `RUNNING`, `COMPLETE`, `PARTIAL_COMPLETE`, `FAILED`,
        /// `CANCELED`, `EXPIRED`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_status: Option<String>,

        /// Percent done (0-100; the API reports 0-10000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0, max = 100))]
        pub progress: Option<i32>,

        /// Bytes processed so far (`BytesDone`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bytes_done: Option<i64>,

        /// Bytes to process (`BytesTotal`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bytes_total: Option<i64>,

        /// Bytes actually stored (`ActualBytes`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub actual_bytes: Option<i64>,

        /// The job's `ErrorMessage` when it failed or partially succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error_message: Option<String>,

        /// Job start (`StartTime`, or when it was created).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_time: Option<Time>,

        /// Job end (`CompleteTime`), or when the object reached a terminal phase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub completion_time: Option<Time>,
    }
}
