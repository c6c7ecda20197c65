//! DBS (Database Backup, `2019-03-06`) requests and responses.

use serde::{Deserialize, Serialize};

use super::de;
use crate::cloud::secret::Secret;

/// One database (and optionally schema/tables) to back up; rendered into the `BackupObjects` JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupObject {
    /// `DBName`.
    #[serde(rename = "DBName")]
    pub db_name: String,
    /// `SchemaName`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub schema_name: Option<String>,
    /// `TableIncludes`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub table_includes: Vec<TableRef>,
    /// `TableExcludes`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub table_excludes: Vec<TableRef>,
}

/// `{"TableName": …}` inside a [`BackupObject`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableRef {
    /// `TableName`.
    pub table_name: String,
}

/// The `BackupObjects` parameter: a typed list (rendered to JSON) or a raw JSON string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupObjects {
    /// Typed list, serialised as the documented JSON array.
    List(Vec<BackupObject>),
    /// A JSON string sent as-is.
    Raw(String),
}

/// Source database endpoint parameters shared by `CreateAndStartBackupPlan` and `ConfigureBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceEndpoint {
    /// `SourceEndpointInstanceType` (`RDS`, `ECS`, `Express`, `Agent`, `DDS`, `Other`, `dg`). Required.
    pub instance_type: String,
    /// `SourceEndpointRegion`.
    pub region: Option<String>,
    /// `SourceEndpointInstanceID`.
    pub instance_id: Option<String>,
    /// `SourceEndpointIP`.
    pub ip: Option<String>,
    /// `SourceEndpointPort`.
    pub port: Option<i64>,
    /// `SourceEndpointDatabaseName`.
    pub database_name: Option<String>,
    /// `SourceEndpointUserName`.
    pub user_name: Option<String>,
    /// `SourceEndpointPassword` (redacted in `Debug`).
    pub password: Option<Secret>,
    /// `SourceEndpointOracleSID`.
    pub oracle_sid: Option<String>,
    /// `BackupGatewayId`.
    pub backup_gateway_id: Option<i64>,
}

/// `CreateAndStartBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateAndStartBackupPlanRequest {
    /// `BackupPlanId`.
    pub backup_plan_id: Option<String>,
    /// `Region`.
    pub region: Option<String>,
    /// `InstanceClass` (`micro` … `xlarge`). Required.
    pub instance_class: String,
    /// `DatabaseType`. Required.
    pub database_type: String,
    /// `BackupMethod` (`logical`, `physical`, `duplication`). Required.
    pub backup_method: String,
    /// `Period` (`Year` | `Month`).
    pub period: Option<String>,
    /// `UsedTime`.
    pub used_time: Option<i64>,
    /// `PayType` (`prepay` | `postpay`).
    pub pay_type: Option<String>,
    /// `DatabaseRegion`.
    pub database_region: Option<String>,
    /// `StorageRegion`.
    pub storage_region: Option<String>,
    /// `InstanceType`.
    pub instance_type: Option<String>,
    /// `StorageType` (documented as unavailable).
    pub storage_type: Option<String>,
    /// `FromApp`.
    pub from_app: Option<String>,
    /// `SourceEndpoint*` and `BackupGatewayId`.
    pub source: SourceEndpoint,
    /// `OSSBucketName`.
    pub oss_bucket_name: Option<String>,
    /// `BackupObjects`.
    pub backup_objects: Option<BackupObjects>,
    /// `BackupPeriod` (comma-separated weekdays).
    pub backup_period: Option<String>,
    /// `BackupStartTime` (`HH:mm`, UTC).
    pub backup_start_time: Option<String>,
    /// `EnableBackupLog`.
    pub enable_backup_log: Option<bool>,
    /// `BackupLogIntervalSeconds`.
    pub backup_log_interval_seconds: Option<i64>,
    /// `BackupRetentionPeriod` (days).
    pub backup_retention_period: Option<i64>,
    /// `DuplicationInfrequentAccessPeriod` (days).
    pub duplication_infrequent_access_period: Option<i64>,
    /// `DuplicationArchivePeriod` (days).
    pub duplication_archive_period: Option<i64>,
    /// `BackupPlanName`. Required.
    pub backup_plan_name: String,
    /// `BackupStorageType`.
    pub backup_storage_type: Option<String>,
    /// `BackupSpeedLimit`.
    pub backup_speed_limit: Option<i64>,
    /// `BackupRateLimit`.
    pub backup_rate_limit: Option<i64>,
    /// `BackupStrategyType` (`simple` | `manual`).
    pub backup_strategy_type: Option<String>,
    /// `CrossAliyunId`.
    pub cross_aliyun_id: Option<String>,
    /// `CrossRoleName`.
    pub cross_role_name: Option<String>,
    /// `ClientToken` (idempotency; makes the call safe to retry).
    pub client_token: Option<String>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// Response of `CreateAndStartBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAndStartBackupPlanResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `BackupPlanId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_plan_id: String,
    /// `OrderId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub order_id: Option<String>,
    /// `CreateBackupSet`.
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub create_backup_set: Option<bool>,
}

/// `StartBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartBackupPlanRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// Response of `StartBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartBackupPlanResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `BackupPlanId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_plan_id: Option<String>,
    /// `CreatedFullBackupsetId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub created_full_backupset_id: Option<String>,
}

/// `StopBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopBackupPlanRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `StopMethod` (`ALL` | `PLAN`). Required.
    pub stop_method: String,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// Response of `StopBackupPlan`, `ReleaseBackupPlan`, `ConfigureBackupPlan`, `ModifyBackupPlanName`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupPlanIdResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `BackupPlanId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_plan_id: Option<String>,
}

/// Response of `StopBackupPlan`.
pub type StopBackupPlanResponse = BackupPlanIdResponse;
/// Response of `ReleaseBackupPlan`.
pub type ReleaseBackupPlanResponse = BackupPlanIdResponse;
/// Response of `ConfigureBackupPlan`.
pub type ConfigureBackupPlanResponse = BackupPlanIdResponse;
/// Response of `ModifyBackupPlanName`.
pub type ModifyBackupPlanNameResponse = BackupPlanIdResponse;

/// `ReleaseBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseBackupPlanRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// `ModifyBackupPlanName`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyBackupPlanNameRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `BackupPlanName`. Required.
    pub backup_plan_name: String,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// `ConfigureBackupPlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigureBackupPlanRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `BackupPlanName`. Required.
    pub backup_plan_name: String,
    /// `SourceEndpoint*` and `BackupGatewayId`.
    pub source: SourceEndpoint,
    /// `OSSBucketName`.
    pub oss_bucket_name: Option<String>,
    /// `BackupObjects`.
    pub backup_objects: Option<BackupObjects>,
    /// `BackupPeriod`.
    pub backup_period: Option<String>,
    /// `BackupStartTime` (`HH:mm`, UTC).
    pub backup_start_time: Option<String>,
    /// `EnableBackupLog`.
    pub enable_backup_log: Option<bool>,
    /// `BackupLogIntervalSeconds`.
    pub backup_log_interval_seconds: Option<i64>,
    /// `BackupRetentionPeriod`.
    pub backup_retention_period: Option<i64>,
    /// `DuplicationInfrequentAccessPeriod`.
    pub duplication_infrequent_access_period: Option<i64>,
    /// `DuplicationArchivePeriod`.
    pub duplication_archive_period: Option<i64>,
    /// `AutoStartBackup`.
    pub auto_start_backup: Option<bool>,
    /// `BackupStorageType`.
    pub backup_storage_type: Option<String>,
    /// `BackupSpeedLimit`.
    pub backup_speed_limit: Option<i64>,
    /// `BackupRateLimit`.
    pub backup_rate_limit: Option<i64>,
    /// `BackupStrategyType`.
    pub backup_strategy_type: Option<String>,
    /// `EnableSourceEndpointSsl`… kept for completeness of the reference.
    pub enable_source_endpoint_ssl: Option<bool>,
    /// `SslCaPem`.
    pub ssl_ca_pem: Option<String>,
    /// `BackupStorageEncryptMethod`.
    pub backup_storage_encrypt_method: Option<String>,
    /// `CrossAliyunId`.
    pub cross_aliyun_id: Option<String>,
    /// `CrossRoleName`.
    pub cross_role_name: Option<String>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
    /// `ClientToken` (≤ 64 ASCII).
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// `DescribeBackupPlanList`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeBackupPlanListRequest {
    /// `BackupPlanId`: one or more plan ids (sent comma-separated).
    pub backup_plan_ids: Vec<String>,
    /// `BackupPlanName`.
    pub backup_plan_name: Option<String>,
    /// `BackupPlanStatus`.
    pub backup_plan_status: Option<String>,
    /// `Region`.
    pub region: Option<String>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
    /// `PageNum` (0-based).
    pub page_num: Option<u32>,
    /// `PageSize` (1–100).
    pub page_size: Option<u32>,
    /// `ShowBackupStrategyInfo`.
    pub show_backup_strategy_info: Option<bool>,
    /// `ShowStorageStrategyInfo`.
    pub show_storage_strategy_info: Option<bool>,
    /// `ShowRecoverTimeRange`.
    pub show_recover_time_range: Option<bool>,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

impl DescribeBackupPlanListRequest {
    /// The most plan ids one call can ask for: a page holds at most 100 plans.
    pub const MAX_IDS: usize = 100;

    /// The plans `ids` (at most [`Self::MAX_IDS`]) of `region`, on one page.
    pub fn by_ids(region: &str, ids: &[String]) -> Self {
        DescribeBackupPlanListRequest {
            backup_plan_ids: ids.to_vec(),
            region: Some(region.to_string()),
            page_num: Some(0),
            page_size: Some(u32::try_from(ids.len().clamp(10, Self::MAX_IDS)).unwrap_or(100)),
            ..DescribeBackupPlanListRequest::default()
        }
    }
}

/// One plan of `DescribeBackupPlanList` (`Items.BackupPlanDetail[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupPlanDetail {
    /// `BackupPlanId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_plan_id: String,
    /// `BackupPlanName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_plan_name: Option<String>,
    /// `BackupPlanStatus` (`wait`, `init`, `running`, `stop`, `pause`, `locked`, `check_pass`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_plan_status: Option<String>,
    /// `BackupMethod`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_method: Option<String>,
    /// `BackupPeriod`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_period: Option<String>,
    /// `BackupStartTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_start_time: Option<String>,
    /// `BackupRetentionPeriod`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub backup_retention_period: Option<i64>,
    /// `DatabaseType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub database_type: Option<String>,
    /// `InstanceClass`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_class: Option<String>,
    /// `SourceEndpointInstanceType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_endpoint_instance_type: Option<String>,
    /// `SourceEndpointInstanceID`.
    #[serde(
        default,
        rename = "SourceEndpointInstanceID",
        deserialize_with = "de::opt_string"
    )]
    pub source_endpoint_instance_id: Option<String>,
    /// `SourceEndpointRegion`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_endpoint_region: Option<String>,
    /// `SourceEndpointIpPort`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_endpoint_ip_port: Option<String>,
    /// `SourceEndpointUserName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_endpoint_user_name: Option<String>,
    /// `OSSBucketName`.
    #[serde(default, rename = "OSSBucketName", deserialize_with = "de::opt_string")]
    pub oss_bucket_name: Option<String>,
    /// `BackupObjects` (JSON string as returned).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_objects: Option<String>,
    /// `EnableBackupLog`.
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub enable_backup_log: Option<bool>,
    /// `BackupStorageType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_storage_type: Option<String>,
    /// `ResourceGroupId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub resource_group_id: Option<String>,
    /// `ErrMessage`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub err_message: Option<String>,
    /// `BackupPlanCreateTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub backup_plan_create_time: Option<i64>,
    /// `EndTimestampForRestore` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub end_timestamp_for_restore: Option<i64>,
    /// `BeginTimestampForRestore` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub begin_timestamp_for_restore: Option<i64>,
}

/// Response of `DescribeBackupPlanList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBackupPlanListResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.BackupPlanDetail[]`.
    #[serde(default, deserialize_with = "plan_items")]
    pub items: Vec<BackupPlanDetail>,
    /// `PageNum` (0-based).
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_num: i64,
    /// `PageSize`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_size: i64,
    /// `TotalElements`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_elements: i64,
    /// `TotalPages`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_pages: i64,
}

fn plan_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<BackupPlanDetail>, D::Error> {
    de::wrapped_list(d, "BackupPlanDetail")
}

/// `DescribeFullBackupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeFullBackupListRequest {
    /// `BackupPlanId`. Required.
    pub backup_plan_id: String,
    /// `BackupSetId`.
    pub backup_set_id: Option<String>,
    /// `BackupSetStatus`.
    pub backup_set_status: Option<String>,
    /// `StartTimestamp` (epoch ms).
    pub start_timestamp: Option<i64>,
    /// `EndTimestamp` (epoch ms).
    pub end_timestamp: Option<i64>,
    /// `PageNum` (0-based).
    pub page_num: Option<u32>,
    /// `PageSize` (30/50/100).
    pub page_size: Option<u32>,
    /// `ShowStorageType`.
    pub show_storage_type: Option<bool>,
    /// `ShowProgress`.
    pub show_progress: Option<bool>,
    /// `ClientToken`.
    pub client_token: Option<String>,
    /// `OwnerId`.
    pub owner_id: Option<String>,
}

/// One full backup set (`Items.FullBackupFile[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FullBackupFile {
    /// `BackupSetId`.
    #[serde(default, deserialize_with = "de::string")]
    pub backup_set_id: String,
    /// `BackupStatus` (`schedule`, `running`, `finish`, …).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_status: Option<String>,
    /// `BackupSize` (bytes).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub backup_size: Option<i64>,
    /// `CreateTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub create_time: Option<i64>,
    /// `StartTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub start_time: Option<i64>,
    /// `EndTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub end_time: Option<i64>,
    /// `FinishTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub finish_time: Option<i64>,
    /// `BackupSetExpiredTime` (epoch ms).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub backup_set_expired_time: Option<i64>,
    /// `ErrMessage`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub err_message: Option<String>,
    /// `StorageMethod`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub storage_method: Option<String>,
    /// `SourceEndpointIpPort`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub source_endpoint_ip_port: Option<String>,
    /// `BackupObjects`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub backup_objects: Option<String>,
    /// `Progress` (percent, with `ShowProgress`).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub progress: Option<i64>,
}

/// Response of `DescribeFullBackupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeFullBackupListResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.FullBackupFile[]`.
    #[serde(default, deserialize_with = "full_items")]
    pub items: Vec<FullBackupFile>,
    /// `PageNum`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_num: i64,
    /// `PageSize`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub page_size: i64,
    /// `TotalElements`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_elements: i64,
    /// `TotalPages`.
    #[serde(default, deserialize_with = "de::i64_or_zero")]
    pub total_pages: i64,
}

fn full_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<FullBackupFile>, D::Error> {
    de::wrapped_list(d, "FullBackupFile")
}

/// `BackupPlanStatus` of a DBS backup plan, as the controllers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanState {
    /// `wait`: not configured yet.
    Wait,
    /// `init`: not started / pre-checking (a pre-check failure when `ErrMessage` is set).
    Init,
    /// `check_pass`: the pre-check passed.
    CheckPass,
    /// `running`.
    Running,
    /// `stop`: stopped (failed).
    Stop,
    /// `pause`: paused by `StopBackupPlan`.
    Pause,
    /// `locked`.
    Locked,
    /// A value this operator does not know (treated as starting).
    Other,
}

impl PlanState {
    /// The state of a raw `BackupPlanStatus`.
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim).unwrap_or_default() {
            "wait" => PlanState::Wait,
            "init" => PlanState::Init,
            "check_pass" => PlanState::CheckPass,
            "running" => PlanState::Running,
            "stop" => PlanState::Stop,
            "pause" => PlanState::Pause,
            "locked" => PlanState::Locked,
            _ => PlanState::Other,
        }
    }
}

impl BackupPlanDetail {
    /// The plan's [`PlanState`].
    pub fn state(&self) -> PlanState {
        PlanState::parse(self.backup_plan_status.as_deref())
    }
}
