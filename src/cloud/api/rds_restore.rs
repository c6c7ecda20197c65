//! RDS (ApsaraDB RDS, `2014-08-15`) restore requests and responses: `CloneDBInstance` (into a
//! new instance), `RestoreTable` (into the live source), and the calls that check and track
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RdsOwner;
use super::de;

/// `CloneDBInstance`: restores a backup set or a point in time into a **new** instance.
///
/// Exactly one of `backup_id` / `restore_time` should be set (the API requires at least one;
/// the client refuses a request with neither before sending it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneDbInstanceRequest {
    /// `DBInstanceId`: the **source** instance. Required.
    pub db_instance_id: String,
    /// `PayType` (`Postpaid` | `Prepaid` | `Serverless`). Required.
    pub pay_type: String,
    /// `Period` (`Year` | `Month`; with `Prepaid`).
    pub period: Option<String>,
    /// `UsedTime` (Year 1–3, Month 1–9; with `Prepaid`).
    pub used_time: Option<i64>,
    /// `BackupId`: the backup set to restore.
    pub backup_id: Option<String>,
    /// `RestoreTime` (`yyyy-MM-ddTHH:mm:ssZ`, UTC): the point in time to restore.
    pub restore_time: Option<String>,
    /// `BackupType` (`FullBackup` | `IncrementalBackup`).
    pub backup_type: Option<String>,
    /// `RestoreTable` (`true` to restore individual databases and tables, with `TableMeta`).
    pub restore_table: Option<bool>,
    /// `DBInstanceClass` (default: the source's).
    pub db_instance_class: Option<String>,
    /// `DBInstanceStorage` (GB, 5 GB steps; default: the source's).
    pub db_instance_storage: Option<i64>,
    /// `DBInstanceStorageType` (`local_ssd`, `cloud_ssd`, `cloud_essd`, …).
    pub db_instance_storage_type: Option<String>,
    /// `Category` (the clone inherits the source's edition; normally unset).
    pub category: Option<String>,
    /// `ZoneId` (default: the source's).
    pub zone_id: Option<String>,
    /// `ZoneIdSlave1`.
    pub zone_id_slave1: Option<String>,
    /// `ZoneIdSlave2`.
    pub zone_id_slave2: Option<String>,
    /// `InstanceNetworkType` (`VPC` | `Classic`).
    pub instance_network_type: Option<String>,
    /// `VPCId` (this exact wire spelling).
    pub vpc_id: Option<String>,
    /// `VSwitchId` (two comma-separated ids with `ZoneIdSlave1`).
    pub vswitch_id: Option<String>,
    /// `PrivateIpAddress`.
    pub private_ip_address: Option<String>,
    /// `DBInstanceDescription` (2–255 characters).
    pub db_instance_description: Option<String>,
    /// `DeletionProtection` (default false).
    pub deletion_protection: Option<bool>,
    /// `AutoPay` (default true; false leaves an unpaid order).
    pub auto_pay: Option<bool>,
    /// `DedicatedHostGroupId`.
    pub dedicated_host_group_id: Option<String>,
    /// `BurstingEnabled`.
    pub bursting_enabled: Option<bool>,
    /// `IoAccelerationEnabled`.
    pub io_acceleration_enabled: Option<String>,
    /// `BpeEnabled`.
    pub bpe_enabled: Option<String>,
    /// `ServerlessConfig` (JSON string).
    pub serverless_config: Option<String>,
    /// `DbNames` (`db1,db2`).
    pub db_names: Option<String>,
    /// `TableMeta` (JSON, same shape as for `RestoreTable`).
    pub table_meta: Option<String>,
    /// `Tag.N.Key` / `Tag.N.Value`: tags put on the clone in the same call.
    pub tags: Vec<(String, String)>,
    /// `ClientToken` (≤ 64 ASCII): makes the call idempotent.
    pub client_token: Option<String>,
    /// `RegionId`.
    pub region_id: Option<String>,
    /// Owner parameters.
    pub owner: RdsOwner,
}

/// Response of `CloneDBInstance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CloneDbInstanceResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `DBInstanceId`: the **new** instance (the clone).
    #[serde(default, rename = "DBInstanceId", deserialize_with = "de::string")]
    pub db_instance_id: String,
    /// `OrderId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub order_id: Option<String>,
    /// `ConnectionString`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub connection_string: Option<String>,
    /// `Port`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub port: Option<String>,
}

/// `DescribeDBInstanceAttribute` (one instance per call).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeDbInstanceAttributeRequest {
    /// `DBInstanceId`: exactly one id. Required.
    pub db_instance_id: String,
    /// `Expired` (`True` | `False`).
    pub expired: Option<String>,
    /// `ResourceOwnerId`.
    pub resource_owner_id: Option<i64>,
}

/// One instance of `DescribeDBInstanceAttribute` (`Items.DBInstanceAttribute[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbInstanceAttribute {
    /// `DBInstanceId`.
    #[serde(default, rename = "DBInstanceId", deserialize_with = "de::string")]
    pub db_instance_id: String,
    /// `DBInstanceStatus` (`Creating`, `Running`, `Deleting`, `Restoring`, `INS_CLONING`, …).
    #[serde(
        default,
        rename = "DBInstanceStatus",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_status: Option<String>,
    /// `Engine`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub engine: Option<String>,
    /// `EngineVersion`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub engine_version: Option<String>,
    /// `DBInstanceClass`.
    #[serde(
        default,
        rename = "DBInstanceClass",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_class: Option<String>,
    /// `DBInstanceStorage` (GB).
    #[serde(
        default,
        rename = "DBInstanceStorage",
        deserialize_with = "de::opt_i64"
    )]
    pub db_instance_storage: Option<i64>,
    /// `DBInstanceStorageType`.
    #[serde(
        default,
        rename = "DBInstanceStorageType",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_storage_type: Option<String>,
    /// `ZoneId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub zone_id: Option<String>,
    /// `PayType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub pay_type: Option<String>,
    /// `InstanceNetworkType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_network_type: Option<String>,
    /// `VpcId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub vpc_id: Option<String>,
    /// `VSwitchId`.
    #[serde(default, rename = "VSwitchId", deserialize_with = "de::opt_string")]
    pub vswitch_id: Option<String>,
    /// `DBInstanceDescription`.
    #[serde(
        default,
        rename = "DBInstanceDescription",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_description: Option<String>,
    /// `CreationTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub creation_time: Option<String>,
}

/// Response of `DescribeDBInstanceAttribute`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDbInstanceAttributeResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.DBInstanceAttribute[]` (empty: not found, as Terraform reads it).
    #[serde(default, deserialize_with = "attribute_items")]
    pub items: Vec<DbInstanceAttribute>,
}

fn attribute_items<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<DbInstanceAttribute>, D::Error> {
    de::wrapped_list(d, "DBInstanceAttribute")
}

/// `DescribeDBInstances`: finds instances (a clone) by tag, description or id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeDbInstancesRequest {
    /// `RegionId`. Required.
    pub region_id: String,
    /// `Tags`: sent as one JSON object (`{"k":"v"}`, ≤ 5; an instance matching **any** is listed).
    pub tags: BTreeMap<String, String>,
    /// `SearchKey`: fuzzy match on the instance id or description.
    pub search_key: Option<String>,
    /// `DBInstanceId` (comma-separated).
    pub db_instance_id: Option<String>,
    /// `DBInstanceStatus`.
    pub db_instance_status: Option<String>,
    /// `Engine`.
    pub engine: Option<String>,
    /// `DBInstanceType` (`Primary`, `Readonly`, `Guard`, `Temp`).
    pub db_instance_type: Option<String>,
    /// `MaxResults` (1–100; overrides `PageNumber`/`PageSize`).
    pub max_results: Option<u32>,
    /// `NextToken` of the previous page.
    pub next_token: Option<String>,
    /// `PageNumber` (1-based).
    pub page_number: Option<u32>,
    /// `PageSize` (1–100).
    pub page_size: Option<u32>,
}

/// One instance of `DescribeDBInstances` (`Items.DBInstance[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbInstanceSummary {
    /// `DBInstanceId`.
    #[serde(default, rename = "DBInstanceId", deserialize_with = "de::string")]
    pub db_instance_id: String,
    /// `DBInstanceDescription`.
    #[serde(
        default,
        rename = "DBInstanceDescription",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_description: Option<String>,
    /// `DBInstanceStatus`.
    #[serde(
        default,
        rename = "DBInstanceStatus",
        deserialize_with = "de::opt_string"
    )]
    pub db_instance_status: Option<String>,
    /// `CreateTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub create_time: Option<String>,
    /// `Engine`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub engine: Option<String>,
}

/// Response of `DescribeDBInstances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDbInstancesResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items.DBInstance[]`.
    #[serde(default, deserialize_with = "instance_items")]
    pub items: Vec<DbInstanceSummary>,
    /// `NextToken` (`None` or empty on the last page).
    #[serde(default, deserialize_with = "de::opt_nonempty_string")]
    pub next_token: Option<String>,
    /// `TotalRecordCount` (with `MaxResults`: the records of this page only).
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_record_count: Option<i64>,
}

fn instance_items<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<DbInstanceSummary>, D::Error> {
    de::wrapped_list(d, "DBInstance")
}

/// `DescribeLocalAvailableRecoveryTime`: the point-in-time restore window of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeLocalAvailableRecoveryTimeRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `Region`.
    pub region: Option<String>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
}

/// Response of `DescribeLocalAvailableRecoveryTime` (empty times → `None`: nothing restorable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLocalAvailableRecoveryTimeResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `DBInstanceId`.
    #[serde(
        default,
        rename = "DBInstanceId",
        deserialize_with = "de::opt_nonempty_string"
    )]
    pub db_instance_id: Option<String>,
    /// `RecoveryBeginTime` (`yyyy-MM-ddTHH:mm:ssZ`).
    #[serde(default, deserialize_with = "de::opt_nonempty_string")]
    pub recovery_begin_time: Option<String>,
    /// `RecoveryEndTime` (`yyyy-MM-ddTHH:mm:ssZ`).
    #[serde(default, deserialize_with = "de::opt_nonempty_string")]
    pub recovery_end_time: Option<String>,
}

/// `RestoreTable`: restores databases/tables into the **live source** instance (under new
/// names, which must not exist there). At least one of `backup_id` / `restore_time` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreTableRequest {
    /// `DBInstanceId`. Required.
    pub db_instance_id: String,
    /// `TableMeta` (JSON: `[{"type":"db","name","newname","tables":[…]}]`). Required.
    pub table_meta: String,
    /// `BackupId`.
    pub backup_id: Option<String>,
    /// `RestoreTime` (`yyyy-MM-ddTHH:mm:ssZ`, UTC; needs log backup).
    pub restore_time: Option<String>,
    /// `ClientToken` (≤ 64 ASCII): makes the call idempotent.
    pub client_token: Option<String>,
    /// `InstantRecovery` (fast restoration).
    pub instant_recovery: Option<bool>,
    /// Owner parameters.
    pub owner: RdsOwner,
}

/// Response of `RestoreTable`: `RequestId` only (no task id; see `DescribeHistoryTasks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreTableResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
}

/// `DescribeHistoryTasks` (the task centre; tasks of the last 30 days).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeHistoryTasksRequest {
    /// `RegionId`.
    pub region_id: Option<String>,
    /// `InstanceId` (comma-separated, ≤ 30).
    pub instance_id: Option<String>,
    /// `TaskId` (comma-separated, ≤ 30).
    pub task_id: Option<String>,
    /// `TaskType` (comma-separated, ≤ 30).
    pub task_type: Option<String>,
    /// `Status` (comma-separated: `Scheduled`, `Running`, `Succeed`, `Failed`, …).
    pub status: Option<String>,
    /// `InstanceType` (`Instance`).
    pub instance_type: Option<String>,
    /// `FromStartTime` (`yyyy-MM-ddTHH:mm:ssZ`). Required.
    pub from_start_time: String,
    /// `ToStartTime` (`yyyy-MM-ddTHH:mm:ssZ`). Required.
    pub to_start_time: String,
    /// `FromExecTime` (seconds).
    pub from_exec_time: Option<i64>,
    /// `ToExecTime` (seconds).
    pub to_exec_time: Option<i64>,
    /// `PageNumber` (1-based).
    pub page_number: Option<u32>,
    /// `PageSize` (10–100).
    pub page_size: Option<u32>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
}

/// One task of `DescribeHistoryTasks` (`Items[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryTask {
    /// `TaskId`.
    #[serde(default, deserialize_with = "de::string")]
    pub task_id: String,
    /// `TaskType`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub task_type: Option<String>,
    /// `InstanceId`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// `Status` (`Scheduled`, `Waiting`, `Running`, `Succeed`, `Failed`, `Cancelling`, `Canceled`).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub status: Option<String>,
    /// `Progress` (percent, a float).
    #[serde(default, deserialize_with = "de::opt_f64")]
    pub progress: Option<f64>,
    /// `CurrentStepName`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub current_step_name: Option<String>,
    /// `StartTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub start_time: Option<String>,
    /// `EndTime`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub end_time: Option<String>,
    /// `ReasonCode`.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub reason_code: Option<String>,
    /// `TaskDetail` (JSON text).
    #[serde(default, deserialize_with = "de::opt_string")]
    pub task_detail: Option<String>,
}

/// Response of `DescribeHistoryTasks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeHistoryTasksResponse {
    /// `RequestId`.
    #[serde(default, deserialize_with = "de::string")]
    pub request_id: String,
    /// `Items[]`.
    #[serde(default, deserialize_with = "history_items")]
    pub items: Vec<HistoryTask>,
    /// `TotalCount`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub total_count: Option<i64>,
    /// `PageNumber`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub page_number: Option<i64>,
    /// `PageSize`.
    #[serde(default, deserialize_with = "de::opt_i64")]
    pub page_size: Option<i64>,
}

fn history_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<HistoryTask>, D::Error> {
    de::wrapped_list(d, "Items")
}
