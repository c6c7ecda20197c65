//! Wire parameters of every typed request, and the product traits implemented over
//! [`ProductClient`].

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::api::listed;
use super::api::*;
use super::client::{Call, ProductClient};
use super::error::CloudError;
use super::params::{Location, Params};
use super::retry::Idempotency;

/// Builds the RPC parameters of a request.
pub(crate) trait ToParams {
    /// API action name.
    const ACTION: &'static str;
    /// Wire parameters.
    fn params(&self) -> Params;
    /// Whether repeating the call after an ambiguous failure is safe.
    fn idempotency(&self) -> Idempotency;
    /// Client-side checks of documented ranges (so a bad page size fails before a call).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// The ready-to-send call.
    fn call(&self) -> Call {
        Call {
            action: Self::ACTION,
            params: self.params(),
            idempotency: self.idempotency(),
        }
    }
}

pub(super) fn check_range(
    name: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), String> {
    match value {
        Some(v) if v < min || v > max => {
            Err(format!("{name} must be between {min} and {max}, got {v}"))
        }
        _ => Ok(()),
    }
}

pub(super) fn token_safe(token: &Option<String>) -> Idempotency {
    if token.as_deref().is_some_and(|t| !t.is_empty()) {
        Idempotency::Safe
    } else {
        Idempotency::Unsafe
    }
}

fn backup_objects_json(o: &BackupObjects) -> String {
    match o {
        BackupObjects::Raw(s) => s.clone(),
        BackupObjects::List(list) => {
            serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string())
        }
    }
}

fn source_params(p: &mut Params, s: &SourceEndpoint) {
    p.str("SourceEndpointInstanceType", &s.instance_type)
        .opt_str("SourceEndpointRegion", s.region.as_deref())
        .opt_str("SourceEndpointInstanceID", s.instance_id.as_deref())
        .opt_str("SourceEndpointIP", s.ip.as_deref())
        .opt_int("SourceEndpointPort", s.port)
        .opt_str("SourceEndpointDatabaseName", s.database_name.as_deref())
        .opt_str("SourceEndpointUserName", s.user_name.as_deref())
        .opt_str(
            "SourceEndpointPassword",
            s.password.as_ref().map(|p| p.expose()),
        )
        .opt_str("SourceEndpointOracleSID", s.oracle_sid.as_deref())
        .opt_int("BackupGatewayId", s.backup_gateway_id);
}

// ----- DBS -----------------------------------------------------------------------------------

impl ToParams for CreateAndStartBackupPlanRequest {
    const ACTION: &'static str = "CreateAndStartBackupPlan";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("BackupPlanId", self.backup_plan_id.as_deref())
            .opt_str("Region", self.region.as_deref())
            .str("InstanceClass", &self.instance_class)
            .str("DatabaseType", &self.database_type)
            .str("BackupMethod", &self.backup_method)
            .opt_str("Period", self.period.as_deref())
            .opt_int("UsedTime", self.used_time)
            .opt_str("PayType", self.pay_type.as_deref())
            .opt_str("DatabaseRegion", self.database_region.as_deref())
            .opt_str("StorageRegion", self.storage_region.as_deref())
            .opt_str("InstanceType", self.instance_type.as_deref())
            .opt_str("StorageType", self.storage_type.as_deref())
            .opt_str("FromApp", self.from_app.as_deref());
        source_params(&mut p, &self.source);
        p.opt_str("OSSBucketName", self.oss_bucket_name.as_deref())
            .opt_str(
                "BackupObjects",
                self.backup_objects
                    .as_ref()
                    .map(backup_objects_json)
                    .as_deref(),
            )
            .opt_str("BackupPeriod", self.backup_period.as_deref())
            .opt_str("BackupStartTime", self.backup_start_time.as_deref())
            .opt_bool("EnableBackupLog", self.enable_backup_log)
            .opt_int("BackupLogIntervalSeconds", self.backup_log_interval_seconds)
            .opt_int("BackupRetentionPeriod", self.backup_retention_period)
            .opt_int(
                "DuplicationInfrequentAccessPeriod",
                self.duplication_infrequent_access_period,
            )
            .opt_int("DuplicationArchivePeriod", self.duplication_archive_period)
            .str("BackupPlanName", &self.backup_plan_name)
            .opt_str("BackupStorageType", self.backup_storage_type.as_deref())
            .opt_int("BackupSpeedLimit", self.backup_speed_limit)
            .opt_int("BackupRateLimit", self.backup_rate_limit)
            .opt_str("BackupStrategyType", self.backup_strategy_type.as_deref())
            .opt_str("CrossAliyunId", self.cross_aliyun_id.as_deref())
            .opt_str("CrossRoleName", self.cross_role_name.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("ResourceGroupId", self.resource_group_id.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for StartBackupPlanRequest {
    const ACTION: &'static str = "StartBackupPlan";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    /// Starting may create a full backup set, so only a `ClientToken` makes it repeatable.
    fn idempotency(&self) -> Idempotency {
        token_safe(&self.client_token)
    }
}

impl ToParams for StopBackupPlanRequest {
    const ACTION: &'static str = "StopBackupPlan";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .str("StopMethod", &self.stop_method)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    /// Stopping a stopped plan changes nothing.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for ReleaseBackupPlanRequest {
    const ACTION: &'static str = "ReleaseBackupPlan";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    /// Releasing twice yields `InvalidJobId` (NotFound), which callers treat as done.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for ModifyBackupPlanNameRequest {
    const ACTION: &'static str = "ModifyBackupPlanName";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .str("BackupPlanName", &self.backup_plan_name)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for ConfigureBackupPlanRequest {
    const ACTION: &'static str = "ConfigureBackupPlan";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .str("BackupPlanName", &self.backup_plan_name);
        source_params(&mut p, &self.source);
        p.opt_str("OSSBucketName", self.oss_bucket_name.as_deref())
            .opt_str(
                "BackupObjects",
                self.backup_objects
                    .as_ref()
                    .map(backup_objects_json)
                    .as_deref(),
            )
            .opt_str("BackupPeriod", self.backup_period.as_deref())
            .opt_str("BackupStartTime", self.backup_start_time.as_deref())
            .opt_bool("EnableBackupLog", self.enable_backup_log)
            .opt_int("BackupLogIntervalSeconds", self.backup_log_interval_seconds)
            .opt_int("BackupRetentionPeriod", self.backup_retention_period)
            .opt_int(
                "DuplicationInfrequentAccessPeriod",
                self.duplication_infrequent_access_period,
            )
            .opt_int("DuplicationArchivePeriod", self.duplication_archive_period)
            .opt_bool("AutoStartBackup", self.auto_start_backup)
            .opt_str("BackupStorageType", self.backup_storage_type.as_deref())
            .opt_int("BackupSpeedLimit", self.backup_speed_limit)
            .opt_int("BackupRateLimit", self.backup_rate_limit)
            .opt_str("BackupStrategyType", self.backup_strategy_type.as_deref())
            .opt_bool("EnableSourceEndpointSsl", self.enable_source_endpoint_ssl)
            .opt_str("SslCaPem", self.ssl_ca_pem.as_deref())
            .opt_str(
                "BackupStorageEncryptMethod",
                self.backup_storage_encrypt_method.as_deref(),
            )
            .opt_str("CrossAliyunId", self.cross_aliyun_id.as_deref())
            .opt_str("CrossRoleName", self.cross_role_name.as_deref())
            .opt_str("ResourceGroupId", self.resource_group_id.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    /// Configuration is state-setting; with `AutoStartBackup=true` it may also start a
    /// backup, so then only a `ClientToken` makes it repeatable.
    fn idempotency(&self) -> Idempotency {
        if self.auto_start_backup == Some(true) {
            token_safe(&self.client_token)
        } else {
            Idempotency::Safe
        }
    }
}

impl ToParams for DescribeBackupPlanListRequest {
    const ACTION: &'static str = "DescribeBackupPlanList";
    fn validate(&self) -> Result<(), String> {
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.comma_list("BackupPlanId", &self.backup_plan_ids)
            .opt_str("BackupPlanName", self.backup_plan_name.as_deref())
            .opt_str("BackupPlanStatus", self.backup_plan_status.as_deref())
            .opt_str("Region", self.region.as_deref())
            .opt_str("ResourceGroupId", self.resource_group_id.as_deref())
            .opt_int("PageNum", self.page_num.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_bool("ShowBackupStrategyInfo", self.show_backup_strategy_info)
            .opt_bool("ShowStorageStrategyInfo", self.show_storage_strategy_info)
            .opt_bool("ShowRecoverTimeRange", self.show_recover_time_range)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeFullBackupListRequest {
    const ACTION: &'static str = "DescribeFullBackupList";
    fn validate(&self) -> Result<(), String> {
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("BackupPlanId", &self.backup_plan_id)
            .opt_str("BackupSetId", self.backup_set_id.as_deref())
            .opt_str("BackupSetStatus", self.backup_set_status.as_deref())
            .opt_int("StartTimestamp", self.start_timestamp)
            .opt_int("EndTimestamp", self.end_timestamp)
            .opt_int("PageNum", self.page_num.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_bool("ShowStorageType", self.show_storage_type)
            .opt_bool("ShowProgress", self.show_progress)
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("OwnerId", self.owner_id.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- RDS -----------------------------------------------------------------------------------

pub(super) fn owner_params(p: &mut Params, o: &RdsOwner) {
    p.opt_int("OwnerId", o.owner_id)
        .opt_str("OwnerAccount", o.owner_account.as_deref())
        .opt_int("ResourceOwnerId", o.resource_owner_id)
        .opt_str("ResourceOwnerAccount", o.resource_owner_account.as_deref());
}

impl ToParams for CreateBackupRequest {
    const ACTION: &'static str = "CreateBackup";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .comma_list("DBName", &self.db_names)
            .opt_str("BackupStrategy", self.backup_strategy.as_deref())
            .opt_str("BackupMethod", self.backup_method.as_deref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_int("BackupRetentionPeriod", self.backup_retention_period);
        owner_params(&mut p, &self.owner);
        p
    }
    /// No idempotency token: a repeat after a timeout/5xx could create a second backup.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Unsafe
    }
}

impl ToParams for DescribeBackupTasksRequest {
    const ACTION: &'static str = "DescribeBackupTasks";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("BackupJobId", self.backup_job_id.as_deref())
            .opt_str("BackupJobStatus", self.backup_job_status.as_deref())
            .opt_str("BackupMode", self.backup_mode.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("Flag", self.flag.as_deref());
        owner_params(&mut p, &self.owner);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeBackupsRequest {
    const ACTION: &'static str = "DescribeBackups";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("BackupId", self.backup_id.as_deref())
            .opt_str("BackupStatus", self.backup_status.as_deref())
            .opt_str("BackupMode", self.backup_mode.as_deref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_str("StartTime", self.start_time.as_deref())
            .opt_str("EndTime", self.end_time.as_deref())
            .opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from));
        owner_params(&mut p, &self.owner);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DeleteBackupRequest {
    const ACTION: &'static str = "DeleteBackup";
    fn validate(&self) -> Result<(), String> {
        match self.backup_ids.len() {
            0 => Err("at least one BackupId is required".to_string()),
            n if n > 100 => Err(format!("at most 100 BackupIds per call, got {n}")),
            _ => Ok(()),
        }
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .str("BackupId", &self.backup_ids.join(","));
        owner_params(&mut p, &self.owner);
        p
    }
    /// Deleting twice yields NotFound, which callers treat as done.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- HBR -----------------------------------------------------------------------------------

impl ToParams for CreateBackupJobRequest {
    const ACTION: &'static str = "CreateBackupJob";
    fn params(&self) -> Params {
        let mut p = Params::new();
        let strings =
            |v: &Vec<String>| Value::Array(v.iter().cloned().map(Value::String).collect());
        p.opt_str("JobName", self.job_name.as_deref())
            .str("SourceType", &self.source_type)
            .int("Retention", self.retention)
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_json(Location::Query, "Detail", self.detail.as_ref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("SpeedLimit", self.speed_limit.as_deref())
            .opt_json(Location::Query, "Options", self.options.as_ref())
            .opt_json(
                Location::Query,
                "Include",
                self.include.as_ref().map(strings).as_ref(),
            )
            .opt_json(
                Location::Query,
                "Exclude",
                self.exclude.as_ref().map(strings).as_ref(),
            )
            .opt_str("ClusterId", self.cluster_id.as_deref())
            .opt_json(
                Location::Query,
                "ContainerResources",
                self.container_resources.as_ref(),
            )
            .opt_bool("InitiatedByAck", self.initiated_by_ack)
            .opt_str("ContainerClusterId", self.container_cluster_id.as_deref())
            .opt_str("CrossAccountType", self.cross_account_type.as_deref())
            .opt_int("CrossAccountUserId", self.cross_account_user_id)
            .opt_str(
                "CrossAccountRoleName",
                self.cross_account_role_name.as_deref(),
            );
        p
    }
    /// No idempotency token: never repeated after a timeout/5xx.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Unsafe
    }
}

/// `Filters.N.Key` / `Filters.N.Operator` / `Filters.N.Values.M` (left out when empty).
pub(super) fn hbr_filters(p: &mut Params, filters: &[HbrFilter]) {
    let filters: Vec<Value> = filters
        .iter()
        .map(|f| {
            let mut m = serde_json::Map::new();
            m.insert("Key".into(), Value::String(f.key.clone()));
            if let Some(op) = &f.operator {
                m.insert("Operator".into(), Value::String(op.clone()));
            }
            m.insert(
                "Values".into(),
                Value::Array(f.values.iter().cloned().map(Value::String).collect()),
            );
            Value::Object(m)
        })
        .collect();
    if !filters.is_empty() {
        p.repeat_list(Location::Query, "Filters", &Value::Array(filters));
    }
}

impl ToParams for DescribeBackupJobs2Request {
    const ACTION: &'static str = "DescribeBackupJobs2";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 99)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("SourceType", self.source_type.as_deref());
        hbr_filters(&mut p, &self.filters);
        p.opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_str("SortDirection", self.sort_direction.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for CancelBackupJobRequest {
    const ACTION: &'static str = "CancelBackupJob";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("JobId", &self.job_id)
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeUdmSnapshotsRequest {
    const ACTION: &'static str = "DescribeUdmSnapshots";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("SourceType", &self.source_type)
            .int("StartTime", self.start_time)
            .int("EndTime", self.end_time)
            .str("UdmRegionId", &self.udm_region_id)
            .opt_str("JobId", self.job_id.as_deref())
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_str("DiskId", self.disk_id.as_deref());
        if !self.snapshot_ids.is_empty() {
            let ids = Value::Array(
                self.snapshot_ids
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            );
            p.json(Location::Body, "SnapshotIds", &ids);
        }
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for SearchHistoricalSnapshotsRequest {
    const ACTION: &'static str = "SearchHistoricalSnapshots";
    fn validate(&self) -> Result<(), String> {
        match self.limit {
            Some(l) if l < 0 => Err(format!("Limit must not be negative, got {l}")),
            _ => Ok(()),
        }
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("SourceType", self.source_type.as_deref());
        if !self.query.is_empty() {
            // The SDK sends the array as one JSON string ("Query", style json).
            let query = serde_json::to_value(&self.query).unwrap_or(Value::Array(Vec::new()));
            p.json(Location::Query, "Query", &query);
        }
        p.opt_int("Limit", self.limit)
            .opt_str("NextToken", self.next_token.as_deref())
            .opt_str("SortBy", self.sort_by.as_deref())
            .opt_str("Order", self.order.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DeleteSnapshotRequest {
    const ACTION: &'static str = "DeleteSnapshot";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("SnapshotId", &self.snapshot_id)
            .opt_str("SourceType", self.source_type.as_deref())
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_str("ClientId", self.client_id.as_deref())
            .opt_str("Token", self.token.as_deref())
            .opt_bool("Force", self.force);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

// ----- trait impls ---------------------------------------------------------------------------

impl ProductClient {
    pub(super) async fn run<R: ToParams + Sync, T: serde::de::DeserializeOwned>(
        &self,
        req: &R,
    ) -> Result<T, CloudError> {
        self.execute::<T>(self.checked(req)?).await
    }

    /// [`Self::run`] for an observer round, whose token [`ProductClient::pay`] took.
    async fn run_paid<R: ToParams + Sync, T: serde::de::DeserializeOwned>(
        &self,
        req: &R,
    ) -> Result<T, CloudError> {
        self.execute_paid::<T>(self.checked(req)?, true).await
    }

    /// `req` as a call, once it passed its own checks.
    fn checked<R: ToParams + Sync>(&self, req: &R) -> Result<Call, CloudError> {
        req.validate().map_err(|m| {
            CloudError::new(
                self.product,
                R::ACTION,
                super::error::ErrorKind::InvalidRequest,
                m,
            )
        })?;
        Ok(req.call())
    }
}

/// Implements a product trait for [`ProductClient`] from a table: one line per RPC
/// (`method => Request => Response`), each sent with [`ProductClient::run`]; `then |client,
/// req| …` runs after the call whatever its answer (e.g. dropping a shared observation the call
/// made stale); the trait's other methods follow the table.
macro_rules! rpc_table {
    ($api:ident {
        $($method:ident => $req:ty => $resp:ty $(, then |$c:ident, $r:ident| $after:expr)?;)+
    } $($extra:tt)*) => {
        #[async_trait]
        impl $api for ProductClient {
            $(
                async fn $method(&self, req: &$req) -> Result<$resp, CloudError> {
                    let result = self.run::<_, $resp>(req).await;
                    $(
                        let ($c, $r) = (self, req);
                        $after;
                    )?
                    result
                }
            )+
            $($extra)*
        }
    };
}
pub(super) use rpc_table;

rpc_table!(DbsApi {
    create_and_start_backup_plan => CreateAndStartBackupPlanRequest => CreateAndStartBackupPlanResponse,
        then |c, r| if let Some(id) = &r.backup_plan_id {
            c.shared.observers.dbs_plans.invalidate(id)
        };
    start_backup_plan => StartBackupPlanRequest => StartBackupPlanResponse,
        then |c, r| c.shared.observers.dbs_plans.invalidate(&r.backup_plan_id);
    stop_backup_plan => StopBackupPlanRequest => StopBackupPlanResponse,
        then |c, r| c.shared.observers.dbs_plans.invalidate(&r.backup_plan_id);
    release_backup_plan => ReleaseBackupPlanRequest => ReleaseBackupPlanResponse,
        then |c, r| c.shared.observers.dbs_plans.invalidate(&r.backup_plan_id);
    configure_backup_plan => ConfigureBackupPlanRequest => ConfigureBackupPlanResponse,
        then |c, r| c.shared.observers.dbs_plans.invalidate(&r.backup_plan_id);
    modify_backup_plan_name => ModifyBackupPlanNameRequest => ModifyBackupPlanNameResponse,
        then |c, r| c.shared.observers.dbs_plans.invalidate(&r.backup_plan_id);
    describe_backup_plan_list => DescribeBackupPlanListRequest => DescribeBackupPlanListResponse;
    describe_full_backup_list => DescribeFullBackupListRequest => DescribeFullBackupListResponse;
}
    async fn observe_plan(
        &self,
        region: &str,
        id: &str,
        max_age: Duration,
    ) -> Result<Option<BackupPlanDetail>, CloudError> {
        let fetch = |ids: Vec<String>| async move {
            let req = DescribeBackupPlanListRequest::by_ids(region, &ids);
            let resp = listed(
                self.run_paid::<_, DescribeBackupPlanListResponse>(&req)
                    .await,
            )?;
            Ok(resp
                .items
                .into_iter()
                .map(|p| (p.backup_plan_id.clone(), p))
                .collect())
        };
        let observers = &self.shared.observers;
        observers
            .dbs_plans
            .get(&self.scope(region), id, max_age, || self.pay(), fetch)
            .await
    }
);

rpc_table!(RdsApi {
    create_backup => CreateBackupRequest => CreateBackupResponse;
    describe_backup_tasks => DescribeBackupTasksRequest => DescribeBackupTasksResponse;
    describe_backups => DescribeBackupsRequest => DescribeBackupsResponse;
    delete_backup => DeleteBackupRequest => DeleteBackupResponse;
}
    async fn observe_task(
        &self,
        instance: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<RdsBackupJob>, CloudError> {
        let fetch = |ids: Vec<String>| async move {
            let mut found = Vec::new();
            // One id per call (the observer's limit for RDS): the first call's token is paid.
            for (i, id) in ids.into_iter().enumerate() {
                let req = DescribeBackupTasksRequest::by_id(instance, &id);
                let resp = listed(if i == 0 {
                    self.run_paid::<_, DescribeBackupTasksResponse>(&req).await
                } else {
                    self.describe_backup_tasks(&req).await
                })?;
                found.extend(
                    resp.items
                        .into_iter()
                        .filter(|t| t.backup_job_id == id)
                        .map(|t| (id.clone(), t)),
                );
            }
            Ok(found)
        };
        let observers = &self.shared.observers;
        observers
            .rds_tasks
            .get(&self.scope(instance), job_id, max_age, || self.pay(), fetch)
            .await
    }
);

rpc_table!(HbrApi {
    create_backup_job => CreateBackupJobRequest => CreateBackupJobResponse;
    describe_backup_jobs2 => DescribeBackupJobs2Request => DescribeBackupJobs2Response;
    cancel_backup_job => CancelBackupJobRequest => CancelBackupJobResponse,
        then |c, r| c.shared.observers.hbr_jobs.invalidate(&r.job_id);
    describe_udm_snapshots => DescribeUdmSnapshotsRequest => DescribeUdmSnapshotsResponse;
    search_historical_snapshots => SearchHistoricalSnapshotsRequest => SearchHistoricalSnapshotsResponse;
    delete_snapshot => DeleteSnapshotRequest => DeleteSnapshotResponse;
}
    async fn observe_job(
        &self,
        source_type: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<HbrBackupJob>, CloudError> {
        let fetch = |ids: Vec<String>| async move {
            let req = DescribeBackupJobs2Request::by_ids(source_type, &ids);
            let resp = listed(self.run_paid::<_, DescribeBackupJobs2Response>(&req).await)?;
            Ok(resp
                .backup_jobs
                .into_iter()
                .map(|j| (j.job_id.clone(), j))
                .collect())
        };
        let observers = &self.shared.observers;
        observers
            .hbr_jobs
            .get(
                &self.scope(source_type),
                job_id,
                max_age,
                || self.pay(),
                fetch,
            )
            .await
    }
);
