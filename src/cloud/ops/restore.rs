//! Wire parameters of the restore requests (RDS, HBR, DBS), and the restore traits
//! implemented over [`ProductClient`] from one table of RPC methods.

use async_trait::async_trait;
use serde_json::Value;

use super::super::api::*;
use super::super::client::ProductClient;
use super::super::error::CloudError;
use super::super::params::{Location, Params};
use super::super::retry::Idempotency;
use super::hbr::hbr_filters;
use super::rds::owner_params;
use super::{ToParams, check_range, token_safe};

/// "At least one of `a` / `b`" (the restore source of RDS calls).
fn one_of(a: (&str, bool), b: (&str, bool)) -> Result<(), String> {
    if a.1 || b.1 {
        Ok(())
    } else {
        Err(format!("one of {} and {} is required", a.0, b.0))
    }
}

/// "Exactly one of `a` / `b`".
fn exactly_one(a: (&str, bool), b: (&str, bool)) -> Result<(), String> {
    if a.1 && b.1 {
        return Err(format!("{} and {} are mutually exclusive", a.0, b.0));
    }
    one_of(a, b)
}

/// A string sent in the form body as is.
fn body_str(p: &mut Params, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        p.json(Location::Body, key, &Value::String(v.to_string()));
    }
}

// ----- RDS -----------------------------------------------------------------------------------

impl ToParams for CloneDbInstanceRequest {
    const ACTION: &'static str = "CloneDBInstance";
    fn validate(&self) -> Result<(), String> {
        one_of(
            ("BackupId", self.backup_id.is_some()),
            ("RestoreTime", self.restore_time.is_some()),
        )
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .str("PayType", &self.pay_type)
            .opt_str("Period", self.period.as_deref())
            .opt_int("UsedTime", self.used_time)
            .opt_str("BackupId", self.backup_id.as_deref())
            .opt_str("RestoreTime", self.restore_time.as_deref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_bool("RestoreTable", self.restore_table)
            .opt_str("DBInstanceClass", self.db_instance_class.as_deref())
            .opt_int("DBInstanceStorage", self.db_instance_storage)
            .opt_str(
                "DBInstanceStorageType",
                self.db_instance_storage_type.as_deref(),
            )
            .opt_str("Category", self.category.as_deref())
            .opt_str("ZoneId", self.zone_id.as_deref())
            .opt_str("ZoneIdSlave1", self.zone_id_slave1.as_deref())
            .opt_str("ZoneIdSlave2", self.zone_id_slave2.as_deref())
            .opt_str("InstanceNetworkType", self.instance_network_type.as_deref())
            .opt_str("VPCId", self.vpc_id.as_deref())
            .opt_str("VSwitchId", self.vswitch_id.as_deref())
            .opt_str("PrivateIpAddress", self.private_ip_address.as_deref())
            .opt_str(
                "DBInstanceDescription",
                self.db_instance_description.as_deref(),
            )
            .opt_bool("DeletionProtection", self.deletion_protection)
            .opt_bool("AutoPay", self.auto_pay)
            .opt_str(
                "DedicatedHostGroupId",
                self.dedicated_host_group_id.as_deref(),
            )
            .opt_bool("BurstingEnabled", self.bursting_enabled)
            .opt_str(
                "IoAccelerationEnabled",
                self.io_acceleration_enabled.as_deref(),
            )
            .opt_str("BpeEnabled", self.bpe_enabled.as_deref())
            .opt_str("ServerlessConfig", self.serverless_config.as_deref())
            .opt_str("DbNames", self.db_names.as_deref())
            .opt_str("TableMeta", self.table_meta.as_deref());
        for (i, (k, v)) in self.tags.iter().enumerate() {
            p.str(&format!("Tag.{}.Key", i + 1), k)
                .str(&format!("Tag.{}.Value", i + 1), v);
        }
        p.opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("RegionId", self.region_id.as_deref());
        owner_params(&mut p, &self.owner);
        p
    }
    /// A repeat could create a second clone; only a `ClientToken` makes it safe.
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for DescribeDbInstanceAttributeRequest {
    const ACTION: &'static str = "DescribeDBInstanceAttribute";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("Expired", self.expired.as_deref())
            .opt_int("ResourceOwnerId", self.resource_owner_id);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeDbInstancesRequest {
    const ACTION: &'static str = "DescribeDBInstances";
    fn validate(&self) -> Result<(), String> {
        check_range("MaxResults", self.max_results, 1, 100)?;
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("RegionId", &self.region_id);
        if !self.tags.is_empty() {
            let tags = serde_json::to_value(&self.tags).unwrap_or(Value::Null);
            p.json(Location::Query, "Tags", &tags);
        }
        p.opt_str("SearchKey", self.search_key.as_deref())
            .opt_str("DBInstanceId", self.db_instance_id.as_deref())
            .opt_str("DBInstanceStatus", self.db_instance_status.as_deref())
            .opt_str("Engine", self.engine.as_deref())
            .opt_str("DBInstanceType", self.db_instance_type.as_deref())
            .opt_int("MaxResults", self.max_results.map(i64::from))
            .opt_str("NextToken", self.next_token.as_deref())
            .opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from));
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeLocalAvailableRecoveryTimeRequest {
    const ACTION: &'static str = "DescribeLocalAvailableRecoveryTime";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("Region", self.region.as_deref())
            .opt_str("ResourceGroupId", self.resource_group_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for RestoreTableRequest {
    const ACTION: &'static str = "RestoreTable";
    fn validate(&self) -> Result<(), String> {
        one_of(
            ("BackupId", self.backup_id.is_some()),
            ("RestoreTime", self.restore_time.is_some()),
        )
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .str("TableMeta", &self.table_meta)
            .opt_str("BackupId", self.backup_id.as_deref())
            .opt_str("RestoreTime", self.restore_time.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_bool("InstantRecovery", self.instant_recovery);
        owner_params(&mut p, &self.owner);
        p
    }
    /// A repeat could start a second restore; only a `ClientToken` makes it safe.
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for DescribeHistoryTasksRequest {
    const ACTION: &'static str = "DescribeHistoryTasks";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 10, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("RegionId", self.region_id.as_deref())
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_str("TaskId", self.task_id.as_deref())
            .opt_str("TaskType", self.task_type.as_deref())
            .opt_str("Status", self.status.as_deref())
            .opt_str("InstanceType", self.instance_type.as_deref())
            .str("FromStartTime", &self.from_start_time)
            .str("ToStartTime", &self.to_start_time)
            .opt_int("FromExecTime", self.from_exec_time)
            .opt_int("ToExecTime", self.to_exec_time)
            .opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_str("ResourceGroupId", self.resource_group_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- HBR -----------------------------------------------------------------------------------

impl ToParams for CreateRestoreJobRequest {
    const ACTION: &'static str = "CreateRestoreJob";
    fn params(&self) -> Params {
        let q = Location::Query;
        let mut p = Params::new();
        p.str("RestoreType", &self.restore_type)
            .str("SourceType", &self.source_type)
            .str("SnapshotId", &self.snapshot_id)
            .opt_str("SnapshotHash", self.snapshot_hash.as_deref())
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_json(q, "UdmDetail", self.udm_detail.as_ref())
            .opt_json(q, "FailbackDetail", self.failback_detail.as_ref())
            .opt_json(q, "Options", self.options.as_ref())
            .opt_str("TargetBucket", self.target_bucket.as_deref())
            .opt_str("TargetPrefix", self.target_prefix.as_deref())
            .opt_str("TargetFileSystemId", self.target_file_system_id.as_deref())
            .opt_int("TargetCreateTime", self.target_create_time)
            .opt_str("TargetInstanceName", self.target_instance_name.as_deref())
            .opt_str("TargetTableName", self.target_table_name.as_deref())
            .opt_int("TargetTime", self.target_time)
            .opt_str("TargetContainer", self.target_container.as_deref())
            .opt_str(
                "TargetContainerClusterId",
                self.target_container_cluster_id.as_deref(),
            )
            .opt_str("UdmRegionId", self.udm_region_id.as_deref())
            .opt_bool("InitiatedByAck", self.initiated_by_ack)
            .opt_str("CrossAccountType", self.cross_account_type.as_deref())
            .opt_int("CrossAccountUserId", self.cross_account_user_id)
            .opt_str(
                "CrossAccountRoleName",
                self.cross_account_role_name.as_deref(),
            )
            .opt_str("Edition", self.edition.as_deref());
        body_str(
            &mut p,
            "TargetInstanceId",
            self.target_instance_id.as_deref(),
        );
        body_str(&mut p, "TargetPath", self.target_path.as_deref());
        body_str(&mut p, "Include", self.include.as_deref());
        body_str(&mut p, "Exclude", self.exclude.as_deref());
        p.opt_json(Location::Body, "OtsDetail", self.ots_detail.as_ref());
        p
    }
    /// No idempotency token: a repeat after a timeout/5xx could start a second restore.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Unsafe
    }
}

impl ToParams for DescribeRestoreJobs2Request {
    const ACTION: &'static str = "DescribeRestoreJobs2";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 99)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("RestoreType", self.restore_type.as_deref());
        hbr_filters(&mut p, &self.filters);
        p.opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for CancelRestoreJobRequest {
    const ACTION: &'static str = "CancelRestoreJob";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("RestoreId", &self.restore_id)
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    /// Cancelling is state-setting: a repeat is accepted again or answers that the job ended.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- DBS -----------------------------------------------------------------------------------

impl ToParams for CreateRestoreTaskRequest {
    const ACTION: &'static str = "CreateRestoreTask";
    fn validate(&self) -> Result<(), String> {
        exactly_one(
            ("BackupSetId", self.backup_set_id.is_some()),
            ("RestoreTime", self.restore_time.is_some()),
        )
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .str("RestoreTaskName", &self.restore_task_name)
            .str(
                "DestinationEndpointInstanceType",
                &self.destination_endpoint_instance_type,
            )
            .opt_str(
                "DestinationEndpointRegion",
                self.destination_endpoint_region.as_deref(),
            )
            .opt_str(
                "DestinationEndpointInstanceID",
                self.destination_endpoint_instance_id.as_deref(),
            )
            .opt_str(
                "DestinationEndpointIP",
                self.destination_endpoint_ip.as_deref(),
            )
            .opt_int("DestinationEndpointPort", self.destination_endpoint_port)
            .opt_str(
                "DestinationEndpointUserName",
                self.destination_endpoint_user_name.as_deref(),
            )
            .opt_str(
                "DestinationEndpointPassword",
                self.destination_endpoint_password
                    .as_ref()
                    .map(|s| s.expose()),
            )
            .opt_str(
                "DestinationEndpointDatabaseName",
                self.destination_endpoint_database_name.as_deref(),
            )
            .opt_str(
                "DestinationEndpointOracleSID",
                self.destination_endpoint_oracle_sid.as_deref(),
            )
            .opt_int("BackupGatewayId", self.backup_gateway_id)
            .opt_str("RestoreDir", self.restore_dir.as_deref())
            .opt_str("RestoreHome", self.restore_home.as_deref())
            .opt_str("RestoreObjects", self.restore_objects.as_deref())
            .opt_str("BackupSetId", self.backup_set_id.as_deref())
            .opt_int("RestoreTime", self.restore_time)
            .opt_str("DuplicateConflict", self.duplicate_conflict.as_deref())
            .opt_str("CrossAliyunId", self.cross_aliyun_id.as_deref())
            .opt_str("CrossRoleName", self.cross_role_name.as_deref())
            .opt_bool(
                "EnableDestinationEndpointSsl",
                self.enable_destination_endpoint_ssl,
            )
            .opt_str("SslCaPem", self.ssl_ca_pem.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for StartRestoreTaskRequest {
    const ACTION: &'static str = "StartRestoreTask";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("RestoreTaskId", &self.restore_task_id)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    /// Starting a task that failed its pre-check runs it again: only a `ClientToken` makes a
    /// repeat safe.
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for DescribeRestoreTaskListRequest {
    const ACTION: &'static str = "DescribeRestoreTaskList";
    fn validate(&self) -> Result<(), String> {
        exactly_one(
            ("BackupPlanId", self.backup_plan_id.is_some()),
            ("RestoreTaskId", self.restore_task_id.is_some()),
        )?;
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("BackupPlanId", self.backup_plan_id.as_deref())
            .opt_str("RestoreTaskId", self.restore_task_id.as_deref())
            .opt_int("StartTimestamp", self.start_timestamp)
            .opt_int("EndTimestamp", self.end_timestamp)
            .opt_int("PageNum", self.page_num.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeRestoreRangeInfoRequest {
    const ACTION: &'static str = "DescribeRestoreRangeInfo";
    fn validate(&self) -> Result<(), String> {
        if self.end_timestamp_for_restore < self.begin_timestamp_for_restore {
            return Err(
                "EndTimestampForRestore must not be before BeginTimestampForRestore".into(),
            );
        }
        Ok(())
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .int("BeginTimestampForRestore", self.begin_timestamp_for_restore)
            .int("EndTimestampForRestore", self.end_timestamp_for_restore)
            .opt_bool("RecentlyRestore", self.recently_restore)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeJobErrorCodeRequest {
    const ACTION: &'static str = "DescribeJobErrorCode";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("TaskId", &self.task_id)
            .opt_str("Language", self.language.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- trait impls, from one table -----------------------------------------------------------

rpc_table!(RdsRestoreApi {
    clone_db_instance => CloneDbInstanceRequest => CloneDbInstanceResponse;
    describe_db_instance_attribute => DescribeDbInstanceAttributeRequest => DescribeDbInstanceAttributeResponse;
    describe_db_instances => DescribeDbInstancesRequest => DescribeDbInstancesResponse;
    describe_local_available_recovery_time => DescribeLocalAvailableRecoveryTimeRequest => DescribeLocalAvailableRecoveryTimeResponse;
    restore_table => RestoreTableRequest => RestoreTableResponse;
    describe_history_tasks => DescribeHistoryTasksRequest => DescribeHistoryTasksResponse;
});

rpc_table!(HbrRestoreApi {
    create_restore_job => CreateRestoreJobRequest => CreateRestoreJobResponse;
    describe_restore_jobs2 => DescribeRestoreJobs2Request => DescribeRestoreJobs2Response;
    cancel_restore_job => CancelRestoreJobRequest => HbrAckResponse;
});

rpc_table!(DbsRestoreApi {
    create_restore_task => CreateRestoreTaskRequest => CreateRestoreTaskResponse;
    start_restore_task => StartRestoreTaskRequest => StartRestoreTaskResponse;
    describe_restore_task_list => DescribeRestoreTaskListRequest => DescribeRestoreTaskListResponse;
    describe_restore_range_info => DescribeRestoreRangeInfoRequest => DescribeRestoreRangeInfoResponse;
    describe_job_error_code => DescribeJobErrorCodeRequest => DescribeJobErrorCodeResponse;
});
