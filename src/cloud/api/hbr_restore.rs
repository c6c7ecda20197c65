//! HBR (Cloud Backup, `2017-09-08`) restore requests and responses: `CreateRestoreJob`,
//! `DescribeRestoreJobs2`, `CancelRestoreJob`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HbrFilter;
use super::de;

/// `CreateRestoreJob`. There is no idempotency token: the call is never repeated after an
/// ambiguous failure (adopt by listing `DescribeRestoreJobs2` instead).
///
/// `TargetInstanceId`, `TargetPath`, `Include`, `Exclude` and `OtsDetail` travel in the form
/// body, everything else in the query (as the SDK sends them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateRestoreJobRequest {
    /// `RestoreType` (`ECS_FILE`, `OSS`, `NAS`, `COMMON_FILE_SYSTEM`, `OTS_TABLE`,
    /// `UDM_ECS_ROLLBACK`, …). Required.
    pub restore_type: String,
    /// `SourceType` (`ECS_FILE`, `OSS`, `NAS`, `COMMON_FILE_SYSTEM`, `OTS_TABLE`, `UDM_ECS`). Required.
    pub source_type: String,
    /// `SnapshotId`. Required in practice.
    pub snapshot_id: String,
    /// `SnapshotHash` (required in practice for non-UDM sources).
    pub snapshot_hash: Option<String>,
    /// `VaultId` (required in practice for non-UDM sources).
    pub vault_id: Option<String>,
    /// `TargetInstanceId` (`ECS_FILE`; form body).
    pub target_instance_id: Option<String>,
    /// `TargetPath` (`ECS_FILE`; form body).
    pub target_path: Option<String>,
    /// `Include`: a JSON array string such as `["/home/alice/*.pdf"]` (≤ 255 chars; form body).
    pub include: Option<String>,
    /// `Exclude`: a JSON array string (≤ 255 chars; form body).
    pub exclude: Option<String>,
    /// `Options` (JSON, e.g. `{"conflictPolicy":"OVERWRITE_EXISTING"}`), sent as a JSON string.
    pub options: Option<Value>,
    /// `TargetBucket` (`OSS`).
    pub target_bucket: Option<String>,
    /// `TargetPrefix` (`OSS`).
    pub target_prefix: Option<String>,
    /// `TargetFileSystemId` (`NAS`).
    pub target_file_system_id: Option<String>,
    /// `TargetCreateTime` (`NAS`; unix seconds).
    pub target_create_time: Option<i64>,
    /// `TargetInstanceName` (`OTS_TABLE`).
    pub target_instance_name: Option<String>,
    /// `TargetTableName` (`OTS_TABLE`).
    pub target_table_name: Option<String>,
    /// `TargetTime` (`OTS_TABLE`; unix seconds).
    pub target_time: Option<i64>,
    /// `OtsDetail` (JSON: `OverwriteExisting`, `BatchChannelCount`; form body).
    pub ots_detail: Option<Value>,
    /// `TargetContainer`.
    pub target_container: Option<String>,
    /// `TargetContainerClusterId`.
    pub target_container_cluster_id: Option<String>,
    /// `UdmDetail` (JSON map per restore subtype, e.g. `{"sourceInstanceId":"i-…"}`), sent as a JSON string.
    pub udm_detail: Option<Value>,
    /// `UdmRegionId`.
    pub udm_region_id: Option<String>,
    /// `FailbackDetail` (JSON map), sent as a JSON string.
    pub failback_detail: Option<Value>,
    /// `InitiatedByAck`.
    pub initiated_by_ack: Option<bool>,
    /// `CrossAccountType` (`SELF_ACCOUNT` | `CROSS_ACCOUNT`).
    pub cross_account_type: Option<String>,
    /// `CrossAccountUserId`.
    pub cross_account_user_id: Option<i64>,
    /// `CrossAccountRoleName`.
    pub cross_account_role_name: Option<String>,
    /// `Edition` (`STANDARD` (default) | `BASIC`).
    pub edition: Option<String>,
}

/// Response of `CreateRestoreJob`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRestoreJobResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `RestoreId` (`r-…`).
    #[serde(default, deserialize_with = "de::string")]
    pub restore_id: String,
}

/// `DescribeRestoreJobs2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeRestoreJobs2Request {
    /// `RestoreType`.
    pub restore_type: Option<String>,
    /// `Filters` (repeat list; documented keys `RegionId`, `PlanId`, `JobId`, `VaultId`,
    /// `InstanceId`, `Bucket`, `FileSystemId`, `Status`, `CompleteTime`).
    pub filters: Vec<HbrFilter>,
    /// `PageNumber` (1-based).
    pub page_number: Option<u32>,
    /// `PageSize` (1–99).
    pub page_size: Option<u32>,
    /// `Edition` (`BASIC` | `STANDARD`).
    pub edition: Option<String>,
}

/// One job of `DescribeRestoreJobs2` (`RestoreJobs.RestoreJob[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HbrRestoreJob {
    /// `RestoreId`.
    #[serde(default, deserialize_with = "de::string")]
    pub restore_id: String,
    /// `RestoreType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub restore_type: Option<String>,
    /// `SourceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_type: Option<String>,
    /// `Status` (`CREATED`, `QUEUED`, `RUNNING`, `CANCELING`, `CANCELED`, `COMPLETE`,
    /// `PARTIAL_COMPLETE`, `FAILED`, `EXPIRED`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    /// `Progress`, 0–10000 (10000 = 100 %).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub progress: Option<i64>,
    /// `ErrorMessage`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub error_message: Option<String>,
    /// `SnapshotId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub snapshot_id: Option<String>,
    /// `SnapshotHash`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub snapshot_hash: Option<String>,
    /// `VaultId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub vault_id: Option<String>,
    /// `TargetInstanceId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub target_instance_id: Option<String>,
    /// `TargetPath`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub target_path: Option<String>,
    /// `TargetBucket`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub target_bucket: Option<String>,
    /// `TargetPrefix`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub target_prefix: Option<String>,
    /// `TargetFileSystemId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub target_file_system_id: Option<String>,
    /// `UdmDetail` (an object, or a JSON string decoded).
    #[serde(default, deserialize_with = "de::opt_json")]
    pub udm_detail: Option<Value>,
    /// `CreatedTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub created_time: Option<i64>,
    /// `StartTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub start_time: Option<i64>,
    /// `CompleteTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub complete_time: Option<i64>,
    /// `BytesDone`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_done: Option<i64>,
    /// `BytesTotal`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub bytes_total: Option<i64>,
}

/// Response of `DescribeRestoreJobs2`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRestoreJobs2Response {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `RestoreJobs.RestoreJob[]`.
    #[serde(default, deserialize_with = "restore_job_items")]
    pub restore_jobs: Vec<HbrRestoreJob>,
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

fn restore_job_items<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<HbrRestoreJob>, D::Error> {
    de::wrapped_list(d, "RestoreJob")
}

/// `CancelRestoreJob` (answered by [`super::HbrAckResponse`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelRestoreJobRequest {
    /// `RestoreId`. Required.
    pub restore_id: String,
    /// `VaultId`.
    pub vault_id: Option<String>,
    /// `Edition`.
    pub edition: Option<String>,
}
