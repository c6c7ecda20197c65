//! RDS (ApsaraDB RDS, `2014-08-15`) requests and responses.

use serde::{Deserialize, Serialize};

use super::de;

/// Owner parameters accepted by most RDS actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdsOwner {
    /// `OwnerId`.
    pub owner_id: Option<i64>,
    /// `OwnerAccount`.
    pub owner_account: Option<String>,
    /// `ResourceOwnerId`.
    pub resource_owner_id: Option<i64>,
    /// `ResourceOwnerAccount`.
    pub resource_owner_account: Option<String>,
}

/// `CreateBackup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateBackupRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `DBName`: database names (sent comma-separated; only with `BackupStrategy=db`).
    pub db_names: Vec<String>,
    /// `BackupStrategy` (`db` | `instance`).
    pub backup_strategy: Option<String>,
    /// `BackupMethod` (`Logical` | `Physical` | `Snapshot`).
    pub backup_method: Option<String>,
    /// `BackupType` (`Auto` | `FullBackup`).
    pub backup_type: Option<String>,
    /// `BackupRetentionPeriod` (7–730 days, or -1).
    pub backup_retention_period: Option<i64>,
    /// Owner parameters (`ResourceOwnerId`, …).
    pub owner: RdsOwner,
}

/// Response of `CreateBackup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBackupResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `BackupJobId` (a string of digits).
    #[serde(default, deserialize_with = "de::string")]
    pub backup_job_id: String,
}

/// `DescribeBackupTasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeBackupTasksRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `BackupJobId` (integer on the wire; the value returned by `CreateBackup`).
    pub backup_job_id: Option<String>,
    /// `BackupJobStatus` (`NoStart` | `Progressing`).
    pub backup_job_status: Option<String>,
    /// `BackupMode` (`Automated` | `Manual`).
    pub backup_mode: Option<String>,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `Flag`.
    pub flag: Option<String>,
    /// Owner parameters.
    pub owner: RdsOwner,
}

impl DescribeBackupTasksRequest {
    /// Task `job_id` of `instance` (the API takes one `BackupJobId` per call; only with it does
    /// a finished task show its `BackupId`).
    pub fn by_id(instance: &str, job_id: &str) -> Self {
        DescribeBackupTasksRequest {
            db_instance_id: instance.to_string(),
            backup_job_id: Some(job_id.to_string()),
            ..DescribeBackupTasksRequest::default()
        }
    }
}

/// One task of `DescribeBackupTasks` (`Items.BackupJob[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RdsBackupJob {
    /// `BackupJobId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_job_id: String,
    /// `BackupId` (backup set id, once `Finished`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_id: Option<String>,
    /// `BackupStatus` (`NoStart`, `Checking`, `Preparing`, `Waiting`, `Uploading`, `Finished`, `Failed`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_status: Option<String>,
    /// `BackupProgressStatus`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_progress_status: Option<String>,
    /// `JobMode` (`Automated` | `Manual`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub job_mode: Option<String>,
    /// `Process` (percent).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub process: Option<i64>,
    /// `TaskAction` (`TempBackupTask` | `NormalBackupTask`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub task_action: Option<String>,
}

/// Response of `DescribeBackupTasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBackupTasksResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.BackupJob[]`.
    #[serde(default, deserialize_with = "task_items")]
    pub items: Vec<RdsBackupJob>,
}

fn task_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RdsBackupJob>, D::Error> {
    de::wrapped_list(d, "BackupJob")
}

/// `DescribeBackups`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeBackupsRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `BackupId`.
    pub backup_id: Option<String>,
    /// `BackupStatus` (`Success` | `Failed`).
    pub backup_status: Option<String>,
    /// `BackupMode` (`Automated` | `Manual`).
    pub backup_mode: Option<String>,
    /// `BackupType` (`FullBackup` | `IncrementalBackup`).
    pub backup_type: Option<String>,
    /// `StartTime` (`yyyy-MM-ddTHH:mmZ`, UTC).
    pub start_time: Option<String>,
    /// `EndTime` (`yyyy-MM-ddTHH:mmZ`, UTC).
    pub end_time: Option<String>,
    /// `PageNumber` (1-based).
    pub page_number: Option<u32>,
    /// `PageSize` (30/50/100).
    pub page_size: Option<u32>,
    /// Owner parameters.
    pub owner: RdsOwner,
}

/// One backup set of `DescribeBackups` (`Items.Backup[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RdsBackup {
    /// `BackupId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_id: String,
    /// `BackupStatus` (`Success` | `Failed`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_status: Option<String>,
    /// `StoreStatus` (`Enabled` = deletable | `Disabled`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub store_status: Option<String>,
    /// `MetaStatus` (`OK`, `LARGE`, `EMPTY`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub meta_status: Option<String>,
    /// `BackupStartTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_start_time: Option<String>,
    /// `BackupEndTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_end_time: Option<String>,
    /// `BackupSize` (bytes).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub backup_size: Option<i64>,
    /// `BackupMethod`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_method: Option<String>,
    /// `BackupMode`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_mode: Option<String>,
    /// `BackupType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_type: Option<String>,
    /// `BackupScale`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_scale: Option<String>,
    /// `BackupDBNames`.
    #[serde(default, rename = "BackupDBNames", deserialize_with = "de::opt_string")]
    pub backup_db_names: Option<String>,
    /// `ConsistentTime` (unix seconds).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub consistent_time: Option<i64>,
    /// `BackupDownloadURL`.
    #[serde(
        default,
        rename = "BackupDownloadURL",
        deserialize_with = "de::opt_string"
    )]
    pub backup_download_url: Option<String>,
    /// `BackupIntranetDownloadURL`.
    #[serde(
        default,
        rename = "BackupIntranetDownloadURL",
        deserialize_with = "de::opt_string"
    )]
    pub backup_intranet_download_url: Option<String>,
    /// `BackupLocation`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_location: Option<String>,
    /// `HostInstanceID`.
    #[serde(
        default,
        rename = "HostInstanceID",
        deserialize_with = "de::opt_string"
    )]
    pub host_instance_id: Option<String>,
    /// `DBInstanceId`.
    #[serde(default, rename = "DBInstanceId", deserialize_with = "de::opt_string")]
    pub db_instance_id: Option<String>,
    /// `BackupInitiator`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_initiator: Option<String>,
}

/// Response of `DescribeBackups`. The service sends the paging numbers as strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBackupsResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.Backup[]`.
    #[serde(default, deserialize_with = "backup_items")]
    pub items: Vec<RdsBackup>,
    /// `PageNumber` (string on the wire).
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_number: i64,
    /// `PageRecordCount` (string on the wire).
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_record_count: i64,
    /// `TotalRecordCount` (string on the wire).
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_record_count: i64,
    /// `TotalBackupSize`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_backup_size: Option<i64>,
    /// `TotalEcsSnapshotSize`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_ecs_snapshot_size: Option<i64>,
}

fn backup_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RdsBackup>, D::Error> {
    de::wrapped_list(d, "Backup")
}

/// `DeleteBackup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteBackupRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `BackupId`: one or more backup set ids (sent comma-separated, ≤ 100).
    pub backup_ids: Vec<String>,
    /// Owner parameters.
    pub owner: RdsOwner,
}

/// Response of `DeleteBackup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteBackupResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
}

/// `BackupStatus` of a backup task, as the controllers read it. The service reports
/// `NoStart`, `Checking`, `Preparing`, `Waiting`, `Uploading`, `Finished` and `Failed`;
/// everything between the first and the last two is one state here: running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// `NoStart` (or not reported yet).
    NoStart,
    /// `Checking`, `Preparing`, `Waiting`, `Uploading` (or a value this operator does not
    /// know, which is not an end).
    Running,
    /// `Finished`: the task made its backup set.
    Finished,
    /// `Failed`.
    Failed,
}

impl TaskState {
    /// The state of a raw `BackupStatus` (as reported, or as recorded in `status.cloudStatus`).
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("" | "NoStart") => TaskState::NoStart,
            Some("Finished") => TaskState::Finished,
            Some("Failed") => TaskState::Failed,
            Some(_) => TaskState::Running,
        }
    }

    /// The wire name (`Running` has several; `Uploading` stands for them).
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::NoStart => "NoStart",
            TaskState::Running => "Uploading",
            TaskState::Finished => "Finished",
            TaskState::Failed => "Failed",
        }
    }

    /// Whether the task ended (finished or failed).
    pub fn is_ended(self) -> bool {
        matches!(self, TaskState::Finished | TaskState::Failed)
    }
}

impl RdsBackupJob {
    /// The task's [`TaskState`].
    pub fn state(&self) -> TaskState {
        TaskState::parse(self.backup_status.as_deref())
    }

    /// Whether the task is a manual backup (or the mode is not reported).
    pub fn is_manual(&self) -> bool {
        self.job_mode
            .as_deref()
            .is_none_or(|m| m == BackupMode::Manual.as_str())
    }
}

/// `BackupMode` of a task or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMode {
    /// `Manual`: made by `CreateBackup`.
    Manual,
    /// `Automated`: made by the instance's backup policy.
    Automated,
}

impl BackupMode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BackupMode::Manual => "Manual",
            BackupMode::Automated => "Automated",
        }
    }
}

impl RdsBackup {
    /// Whether the set was made by a manual backup (or the mode is not reported).
    pub fn is_manual(&self) -> bool {
        self.backup_mode
            .as_deref()
            .is_none_or(|m| m == BackupMode::Manual.as_str())
    }

    /// Whether RDS refuses to delete the set: `StoreStatus: Disabled` (sets the instance still
    /// needs, or locked ones); only `Enabled` sets can be deleted.
    pub fn is_delete_protected(&self) -> bool {
        self.store_status.as_deref().map(str::trim) == Some("Disabled")
    }
}
