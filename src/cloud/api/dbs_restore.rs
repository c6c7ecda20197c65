//! DBS (Database Backup, `2019-03-06`) restore requests and responses: `CreateRestoreTask`,
//! `StartRestoreTask`, and the calls that check and track a restore task.

use serde::{Deserialize, Serialize};

use super::de;
use crate::cloud::secret::Secret;

/// `CreateRestoreTask`: a restore task into an **existing** destination endpoint. The task is
/// `init` until [`StartRestoreTaskRequest`] starts it.
///
/// Exactly one of `backup_set_id` / `restore_time` (checked before sending). Every parameter
/// travels in the query string, the password too: never log the wire request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRestoreTaskRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `RestoreTaskName` (unique in the plan; the adoption key). Required.
    pub restore_task_name: String,
    /// `DestinationEndpointInstanceType` (`RDS`, `ECS`, `Express`, `Agent`, `DDS`, `Other`, `dg`). Required.
    pub destination_endpoint_instance_type: String,
    /// `DestinationEndpointRegion`.
    pub destination_endpoint_region: Option<String>,
    /// `DestinationEndpointInstanceID`.
    pub destination_endpoint_instance_id: Option<String>,
    /// `DestinationEndpointIP`.
    pub destination_endpoint_ip: Option<String>,
    /// `DestinationEndpointPort`.
    pub destination_endpoint_port: Option<i64>,
    /// `DestinationEndpointUserName`.
    pub destination_endpoint_user_name: Option<String>,
    /// `DestinationEndpointPassword` (never shown by `Debug`).
    pub destination_endpoint_password: Option<Secret>,
    /// `DestinationEndpointDatabaseName` (PostgreSQL/MongoDB).
    pub destination_endpoint_database_name: Option<String>,
    /// `DestinationEndpointOracleSID` (Oracle).
    pub destination_endpoint_oracle_sid: Option<String>,
    /// `BackupGatewayId` (agent).
    pub backup_gateway_id: Option<i64>,
    /// `RestoreDir` (agent + MySQL).
    pub restore_dir: Option<String>,
    /// `RestoreHome`.
    pub restore_home: Option<String>,
    /// `RestoreObjects`: JSON `[{"DBName":"<src>","NewDBName":"<target>"}]`.
    pub restore_objects: Option<String>,
    /// `BackupSetId`: the full backup set to restore (exclusive with `restore_time`).
    pub backup_set_id: Option<String>,
    /// `RestoreTime` (unix **milliseconds**; exclusive with `backup_set_id`).
    pub restore_time: Option<i64>,
    /// `DuplicateConflict` (`failure` (default) | `renamenew`).
    pub duplicate_conflict: Option<String>,
    /// `CrossAliyunId`.
    pub cross_aliyun_id: Option<String>,
    /// `CrossRoleName`.
    pub cross_role_name: Option<String>,
    /// `EnableDestinationEndpointSsl`.
    pub enable_destination_endpoint_ssl: Option<bool>,
    /// `SslCaPem`.
    pub ssl_ca_pem: Option<String>,
    /// `ClientToken`: makes the call idempotent.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// Response of `CreateRestoreTask`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRestoreTaskResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `RestoreTaskId`.
    #[serde(default, deserialize_with = "de::string")]
    pub restore_task_id: String,
}

/// `StartRestoreTask`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRestoreTaskRequest {
    /// `RestoreTaskId`. Required.
    pub restore_task_id: String,
    /// `ClientToken`: makes the call idempotent.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// Response of `StartRestoreTask`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartRestoreTaskResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `RestoreTaskId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub restore_task_id: Option<String>,
}

/// `DescribeRestoreTaskList`: exactly one of `backup_plan_id` / `restore_task_id` (checked
/// before sending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeRestoreTaskListRequest {
    /// `BackupPlanId`.
    pub backup_plan_id: Option<String>,
    /// `RestoreTaskId` (comma-separated).
    pub restore_task_id: Option<String>,
    /// `StartTimestamp` (ms, on the creation time).
    pub start_timestamp: Option<i64>,
    /// `EndTimestamp` (ms).
    pub end_timestamp: Option<i64>,
    /// `PageNum` (0-based).
    pub page_num: Option<u32>,
    /// `PageSize` (1–100).
    pub page_size: Option<u32>,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// `DestinationEndpoint` of a restore task (no password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreDestinationView {
    /// `InstanceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_type: Option<String>,
    /// `InstanceID`.
    #[serde(default, rename = "InstanceID", deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// `Region`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub region: Option<String>,
    /// `DatabaseName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub database_name: Option<String>,
}

/// One task of `DescribeRestoreTaskList` (`Items.RestoreTaskDetail[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreTaskDetail {
    /// `RestoreTaskId`.
    #[serde(default, deserialize_with = "de::string")]
    pub restore_task_id: String,
    /// `RestoreTaskName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub restore_task_name: Option<String>,
    /// `RestoreStatus` (`init`, `check_pass`, `running`, `stop` (failed), `pause`; success
    /// undocumented, `finish` assumed).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub restore_status: Option<String>,
    /// `BackupPlanId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_plan_id: Option<String>,
    /// `BackupSetId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_set_id: Option<String>,
    /// `RestoreTime` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub restore_time: Option<i64>,
    /// `RestoreTaskCreateTime` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub restore_task_create_time: Option<i64>,
    /// `RestoreTaskFinishTime` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub restore_task_finish_time: Option<i64>,
    /// `ErrMessage`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub err_message: Option<String>,
    /// `FullDataRestoreProgress` (percent).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub full_data_restore_progress: Option<i64>,
    /// `DestinationEndpoint`.
    #[serde(default)]
    pub destination_endpoint: Option<RestoreDestinationView>,
}

/// Response of `DescribeRestoreTaskList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRestoreTaskListResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.RestoreTaskDetail[]`.
    #[serde(default, deserialize_with = "task_items")]
    pub items: Vec<RestoreTaskDetail>,
    /// `PageNum`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub page_num: Option<i64>,
    /// `PageSize`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub page_size: Option<i64>,
    /// `TotalElements`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_elements: Option<i64>,
    /// `TotalPages`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_pages: Option<i64>,
}

fn task_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RestoreTaskDetail>, D::Error> {
    de::wrapped_list(d, "RestoreTaskDetail")
}

/// `DescribeRestoreRangeInfo`: the point-in-time restore window of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeRestoreRangeInfoRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `BeginTimestampForRestore` (ms). Required.
    pub begin_timestamp_for_restore: i64,
    /// `EndTimestampForRestore` (ms). Required.
    pub end_timestamp_for_restore: i64,
    /// `RecentlyRestore`.
    pub recently_restore: Option<bool>,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// One full backup set of a range (`FullBackupList.FullBackupDetail[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RangeFullBackup {
    /// `BackupSetId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_set_id: String,
    /// `StartTime` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub start_time: Option<i64>,
    /// `EndTime` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub end_time: Option<i64>,
}

/// One range of `DescribeRestoreRangeInfo` (`Items.DBSRecoverRange[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecoverRange {
    /// `BeginTimestampForRestore` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub begin_timestamp_for_restore: Option<i64>,
    /// `EndTimestampForRestore` (ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub end_timestamp_for_restore: Option<i64>,
    /// `RangeType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub range_type: Option<String>,
    /// `SourceEndpointInstanceID`.
    #[serde(
        default,
        rename = "SourceEndpointInstanceID",
        deserialize_with = "de::opt_string"
    )]
    pub source_endpoint_instance_id: Option<String>,
    /// `FullBackupList.FullBackupDetail[]`.
    #[serde(default, rename = "FullBackupList", deserialize_with = "full_backups")]
    pub full_backups: Vec<RangeFullBackup>,
}

fn full_backups<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RangeFullBackup>, D::Error> {
    de::wrapped_list(d, "FullBackupDetail")
}

/// Response of `DescribeRestoreRangeInfo` (empty: nothing restorable in the window).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRestoreRangeInfoResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.DBSRecoverRange[]`.
    #[serde(default, deserialize_with = "range_items")]
    pub items: Vec<RecoverRange>,
}

fn range_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RecoverRange>, D::Error> {
    de::wrapped_list(d, "DBSRecoverRange")
}

/// `DescribeJobErrorCode`: why a restore task (or full backup set) failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeJobErrorCodeRequest {
    /// `TaskId`: a restore task id or a full backup set id. Required.
    pub task_id: String,
    /// `Language` (`en` | `cn`).
    pub language: Option<String>,
}

/// `Item` of `DescribeJobErrorCode`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobErrorCode {
    /// `ErrorCode` (empty/`None`: no error).
    #[serde(default, deserialize_with = "de::opt_nonempty_string")]
    pub error_code: Option<String>,
    /// `ErrorMessage`.
    #[serde(default, deserialize_with = "de::opt_nonempty_string")]
    pub error_message: Option<String>,
    /// `JobId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_id: Option<String>,
    /// `JobState`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_state: Option<String>,
    /// `JobType` (`RESTORE`, `FULL_BACKUP`, …).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_type: Option<String>,
}

/// Response of `DescribeJobErrorCode`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeJobErrorCodeResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Item`.
    #[serde(default)]
    pub item: Option<JobErrorCode>,
}
