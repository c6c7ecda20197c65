//! Database Backup (DBS) plans: the wire parameters of the plan requests and [`DbsApi`]
//! over [`ProductClient`], with the shared observation of plans.

use std::time::Duration;

use async_trait::async_trait;

use super::super::api::listed;
use super::super::api::*;
use super::super::client::ProductClient;
use super::super::error::CloudError;
use super::super::params::Params;
use super::super::retry::Idempotency;
use super::{ToParams, check_range, token_safe};

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

/// The storage, objects, schedule and retention parameters that `CreateAndStartBackupPlan`
/// and `ConfigureBackupPlan` both send, in this order (the two requests name these fields
/// alike).
macro_rules! plan_settings {
    ($p:ident, $r:ident) => {
        $p.opt_str("OSSBucketName", $r.oss_bucket_name.as_deref())
            .opt_str(
                "BackupObjects",
                $r.backup_objects
                    .as_ref()
                    .map(backup_objects_json)
                    .as_deref(),
            )
            .opt_str("BackupPeriod", $r.backup_period.as_deref())
            .opt_str("BackupStartTime", $r.backup_start_time.as_deref())
            .opt_bool("EnableBackupLog", $r.enable_backup_log)
            .opt_int("BackupLogIntervalSeconds", $r.backup_log_interval_seconds)
            .opt_int("BackupRetentionPeriod", $r.backup_retention_period)
            .opt_int(
                "DuplicationInfrequentAccessPeriod",
                $r.duplication_infrequent_access_period,
            )
            .opt_int("DuplicationArchivePeriod", $r.duplication_archive_period);
    };
}

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
        plan_settings!(p, self);
        p.str("BackupPlanName", &self.backup_plan_name)
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
        plan_settings!(p, self);
        p.opt_bool("AutoStartBackup", self.auto_start_backup)
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
        let observer = &self.shared.observers.dbs_plans;
        self.observed(observer, region, id, max_age, fetch)
            .await
    }
);
