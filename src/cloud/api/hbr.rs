//! HBR (Cloud Backup, `2017-09-08`) requests and responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;

/// `CreateBackupJob`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateBackupJobRequest {
    /// `JobName`.
    pub job_name: Option<String>,
    /// `SourceType` (`UDM_ECS`, `ECS_FILE`, `CONTAINER`, …). Required.
    pub source_type: String,
    /// `Retention` (days). Required.
    pub retention: i64,
    /// `InstanceId`.
    pub instance_id: Option<String>,
    /// `Detail`: JSON object (`doCopy`, `diskIdList`, …), sent as a JSON string ("shrink").
    pub detail: Option<Value>,
    /// `BackupType` (`COMPLETE` | `INCREMENTAL`).
    pub backup_type: Option<String>,
    /// `VaultId`.
    pub vault_id: Option<String>,
    /// `SpeedLimit` (`start:end:bandwidth|…`).
    pub speed_limit: Option<String>,
    /// `Options` (JSON, e.g. `{"UseVSS":false}`).
    pub options: Option<Value>,
    /// `Include`: paths, sent as a JSON array string.
    pub include: Option<Vec<String>>,
    /// `Exclude`: paths, sent as a JSON array string.
    pub exclude: Option<Vec<String>>,
    /// `ClusterId`.
    pub cluster_id: Option<String>,
    /// `ContainerResources` (JSON array), sent as a JSON string.
    pub container_resources: Option<Value>,
    /// `InitiatedByAck`.
    pub initiated_by_ack: Option<bool>,
    /// `ContainerClusterId`.
    pub container_cluster_id: Option<String>,
    /// `CrossAccountType` (`SELF_ACCOUNT` | `CROSS_ACCOUNT`).
    pub cross_account_type: Option<String>,
    /// `CrossAccountUserId`.
    pub cross_account_user_id: Option<i64>,
    /// `CrossAccountRoleName`.
    pub cross_account_role_name: Option<String>,
}

/// Response of `CreateBackupJob`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBackupJobResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `JobId`.
    #[serde(default, deserialize_with = "de::string")]
    pub job_id: String,
}

/// One `Filters.N` entry of `DescribeBackupJobs2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbrFilter {
    /// `Filters.N.Key` (`JobId`, `InstanceId`, `Status`, `CreatedTime`, …).
    pub key: String,
    /// `Filters.N.Operator` (`EQUAL`, `IN` (default), `BETWEEN`, …).
    pub operator: Option<String>,
    /// `Filters.N.Values.M`.
    pub values: Vec<String>,
}

/// `DescribeBackupJobs2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeBackupJobs2Request {
    /// `SourceType`.
    pub source_type: Option<String>,
    /// `Filters` (repeat list).
    pub filters: Vec<HbrFilter>,
    /// `PageNumber` (1-based).
    pub page_number: Option<u32>,
    /// `PageSize` (1–99).
    pub page_size: Option<u32>,
    /// `SortDirection` (`ASCEND` | `DESCEND`).
    pub sort_direction: Option<String>,
    /// `Edition` (`BASIC` | `STANDARD`).
    pub edition: Option<String>,
}

impl DescribeBackupJobs2Request {
    /// The most job ids one call can ask for: a page holds at most 99 jobs.
    pub const MAX_IDS: usize = 99;

    /// The jobs `ids` (at most [`Self::MAX_IDS`]) of `source_type`, on one page.
    pub fn by_ids(source_type: &str, ids: &[String]) -> Self {
        DescribeBackupJobs2Request {
            source_type: Some(source_type.to_string()),
            filters: vec![HbrFilter {
                key: "JobId".into(),
                operator: Some("IN".into()),
                values: ids.to_vec(),
            }],
            page_number: Some(1),
            page_size: Some(u32::try_from(ids.len().clamp(1, Self::MAX_IDS)).unwrap_or(99)),
            sort_direction: None,
            edition: None,
        }
    }
}

/// One job of `DescribeBackupJobs2` (`BackupJobs.BackupJob[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HbrBackupJob {
    /// `JobId`.
    #[serde(default, deserialize_with = "de::string")]
    pub job_id: String,
    /// `JobName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_name: Option<String>,
    /// `Status` (`CREATED`, `RUNNING`, `COMPLETE`, `PARTIAL_COMPLETE`, `FAILED`, `CANCELED`, …).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    /// `Progress`, 0–10000 (10000 = 100 %).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub progress: Option<i64>,
    /// `ErrorMessage`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub error_message: Option<String>,
    /// `CreatedTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub created_time: Option<i64>,
    /// `StartTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub start_time: Option<i64>,
    /// `CompleteTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub complete_time: Option<i64>,
    /// `UpdatedTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub updated_time: Option<i64>,
    /// `BytesDone`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_done: Option<i64>,
    /// `BytesTotal`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_total: Option<i64>,
    /// `ActualBytes`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub actual_bytes: Option<i64>,
    /// `PlanId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub plan_id: Option<String>,
    /// `VaultId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub vault_id: Option<String>,
    /// `InstanceId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// `SourceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_type: Option<String>,
    /// `BackupType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_type: Option<String>,
    /// `Detail` (object, or a JSON string decoded).
    #[serde(default, deserialize_with = "de::opt_json")]
    pub detail: Option<Value>,
    /// `Report` (object, or a JSON string decoded).
    #[serde(default, deserialize_with = "de::opt_json")]
    pub report: Option<Value>,
}

/// Response of `DescribeBackupJobs2`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBackupJobs2Response {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `BackupJobs.BackupJob[]`.
    #[serde(default, deserialize_with = "job_items")]
    pub backup_jobs: Vec<HbrBackupJob>,
    /// `TotalCount`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_count: i64,
    /// `PageNumber`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_number: i64,
    /// `PageSize`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_size: i64,
}

fn job_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<HbrBackupJob>, D::Error> {
    de::wrapped_list(d, "BackupJob")
}

/// `CancelBackupJob`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelBackupJobRequest {
    /// `JobId`. Required.
    pub job_id: String,
    /// `VaultId`.
    pub vault_id: Option<String>,
    /// `Edition`.
    pub edition: Option<String>,
}

/// Response of `CancelBackupJob` and `DeleteSnapshot` (the HBR envelope only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HbrAckResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Code` (`200` on success).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub code: Option<String>,
    /// `Message`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub message: Option<String>,
}

/// Response of `CancelBackupJob`.
pub type CancelBackupJobResponse = HbrAckResponse;
/// Response of `DeleteSnapshot`.
pub type DeleteSnapshotResponse = HbrAckResponse;

/// `DescribeUdmSnapshots`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeUdmSnapshotsRequest {
    /// `SourceType` (`UDM_ECS`, `UDM_ECS_DISK`, `UDM_DISK`). Required.
    pub source_type: String,
    /// `StartTime` (unix seconds). Required.
    pub start_time: i64,
    /// `EndTime` (unix seconds). Required.
    pub end_time: i64,
    /// `UdmRegionId`. Required.
    pub udm_region_id: String,
    /// `JobId`.
    pub job_id: Option<String>,
    /// `InstanceId`.
    pub instance_id: Option<String>,
    /// `DiskId`.
    pub disk_id: Option<String>,
    /// `SnapshotIds`: sent JSON-encoded in the form body.
    pub snapshot_ids: Vec<String>,
}

/// One snapshot of `DescribeUdmSnapshots`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UdmSnapshot {
    /// `SnapshotId`.
    #[serde(default, deserialize_with = "de::string")]
    pub snapshot_id: String,
    /// `SnapshotHash` (`CreateRestoreJob` takes it with the `SnapshotId`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub snapshot_hash: Option<String>,
    /// `JobId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_id: Option<String>,
    /// `Status` (`COMPLETE` | `PARTIAL_COMPLETE` | `FAILED`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    /// `NativeSnapshotId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub native_snapshot_id: Option<String>,
    /// `InstanceId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// `SourceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_type: Option<String>,
    /// `CreatedTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub created_time: Option<i64>,
    /// `CompleteTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub complete_time: Option<i64>,
    /// `ExpireTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub expire_time: Option<i64>,
    /// `Retention` (days).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub retention: Option<i64>,
    /// `BytesTotal`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_total: Option<i64>,
}

/// Response of `DescribeUdmSnapshots`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeUdmSnapshotsResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `TotalCount`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_count: i64,
    /// `Snapshots[]` (bare list, or wrapped as `{"Snapshot": [...]}`).
    #[serde(default, deserialize_with = "snapshot_items")]
    pub snapshots: Vec<UdmSnapshot>,
}

fn snapshot_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<UdmSnapshot>, D::Error> {
    de::wrapped_list(d, "Snapshot")
}

/// One condition of `SearchHistoricalSnapshots.Query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotQuery {
    /// `field`: `VaultId` (required), `InstanceId` (required for `ECS_FILE`), `Bucket`,
    /// `FileSystemId`, `CreateTime`, `CompleteTime`, `PlanId`.
    pub field: String,
    /// `value`: a string; a JSON array for `IN`, `NOT_IN` and `BETWEEN` (`[lower, upper]`).
    pub value: Value,
    /// `operation`: `MATCH_TERM`, `GREATER_THAN`, `GREATER_THAN_OR_EQUAL`, `LESS_THAN`,
    /// `LESS_THAN_OR_EQUAL`, `BETWEEN`, `IN`, `NOT_IN`.
    pub operation: String,
}

impl SnapshotQuery {
    /// `field` `MATCH_TERM` `value`.
    pub fn term(field: &str, value: &str) -> Self {
        Self {
            field: field.to_string(),
            value: Value::String(value.to_string()),
            operation: "MATCH_TERM".to_string(),
        }
    }
}

/// `SearchHistoricalSnapshots`: the snapshots (backup points) in a vault that match `Query`
/// (the snapshot search of `ECS_FILE`, `OSS` and `NAS` backups).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHistoricalSnapshotsRequest {
    /// `SourceType` (`ECS_FILE` | `OSS` | `NAS`).
    pub source_type: Option<String>,
    /// `Query`: the conditions, sent as one JSON array string.
    pub query: Vec<SnapshotQuery>,
    /// `Limit`: rows per page.
    pub limit: Option<i64>,
    /// `NextToken` of the previous page.
    pub next_token: Option<String>,
    /// `SortBy`.
    pub sort_by: Option<String>,
    /// `Order` (`ASC` (default) | `DESC`).
    pub order: Option<String>,
    /// `Edition` (`BASIC` | `STANDARD`).
    pub edition: Option<String>,
}

/// One snapshot of `SearchHistoricalSnapshots` (`Snapshots.Snapshot[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoricalSnapshot {
    /// `SnapshotId`.
    #[serde(default, deserialize_with = "de::string")]
    pub snapshot_id: String,
    /// `SnapshotHash` (`CreateRestoreJob` takes it with the `SnapshotId`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub snapshot_hash: Option<String>,
    /// `JobId` of the backup job that made it.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_id: Option<String>,
    /// `Status` (`COMPLETE`, `PARTIAL_COMPLETE`, …).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    /// `SourceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_type: Option<String>,
    /// `VaultId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub vault_id: Option<String>,
    /// `InstanceId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// `ClientId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub client_id: Option<String>,
    /// `BackupType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_type: Option<String>,
    /// `CreatedTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub created_time: Option<i64>,
    /// `CompleteTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub complete_time: Option<i64>,
    /// `ExpireTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub expire_time: Option<i64>,
    /// `Retention` (days).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub retention: Option<i64>,
    /// `BytesTotal`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_total: Option<i64>,
    /// `ActualBytes`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub actual_bytes: Option<i64>,
}

/// Response of `SearchHistoricalSnapshots`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchHistoricalSnapshotsResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Snapshots.Snapshot[]`.
    #[serde(default, deserialize_with = "historical_snapshot_items")]
    pub snapshots: Vec<HistoricalSnapshot>,
    /// `NextToken`: empty or absent on the last page.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub next_token: Option<String>,
    /// `TotalCount`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_count: i64,
    /// `Limit`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub limit: i64,
}

fn historical_snapshot_items<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<HistoricalSnapshot>, D::Error> {
    de::wrapped_list(d, "Snapshot")
}

/// `DeleteSnapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteSnapshotRequest {
    /// `SnapshotId`. Required.
    pub snapshot_id: String,
    /// `SourceType`.
    pub source_type: Option<String>,
    /// `VaultId`.
    pub vault_id: Option<String>,
    /// `InstanceId`.
    pub instance_id: Option<String>,
    /// `ClientId`.
    pub client_id: Option<String>,
    /// `Token`.
    pub token: Option<String>,
    /// `Force` (deprecated).
    pub force: Option<bool>,
}

/// `Status` of a Cloud Backup job, as the controllers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// `CREATED` (or not reported yet).
    Created,
    /// `RUNNING`, or any value this operator does not know (not an end).
    Running,
    /// `COMPLETE`.
    Complete,
    /// `PARTIAL_COMPLETE`: some data was not backed up.
    PartialComplete,
    /// `FAILED`, `EXPIRED` or `UNAVAILABLE`.
    Failed,
    /// `CANCELED` (also spelled `CANCELLED`).
    Cancelled,
}

impl JobState {
    /// The state of a raw `Status` (any case, as reported or as recorded in
    /// `status.cloudStatus`).
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw
            .map(|r| r.trim().to_ascii_uppercase())
            .unwrap_or_default();
        match raw.as_str() {
            "" | "CREATED" => JobState::Created,
            "COMPLETE" => JobState::Complete,
            "PARTIAL_COMPLETE" => JobState::PartialComplete,
            "FAILED" | "EXPIRED" | "UNAVAILABLE" => JobState::Failed,
            "CANCELED" | "CANCELLED" => JobState::Cancelled,
            _ => JobState::Running,
        }
    }

    /// The wire name (`Failed` has several; `FAILED` stands for them).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Complete => "COMPLETE",
            JobState::PartialComplete => "PARTIAL_COMPLETE",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELED",
        }
    }

    /// Whether the job ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Created | JobState::Running)
    }

    /// Whether the job made a backup (complete or partially complete).
    pub fn made_backup(self) -> bool {
        matches!(self, JobState::Complete | JobState::PartialComplete)
    }
}

impl HbrBackupJob {
    /// The job's [`JobState`].
    pub fn state(&self) -> JobState {
        JobState::parse(self.status.as_deref())
    }
}
