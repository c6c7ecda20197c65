//! The requests (pure): `CreateAndStartBackupPlan` and `ConfigureBackupPlan` rendered from a
//! [`DesiredPlan`] and the password read at act time.

use super::{DesiredPlan, PlanConfig};
use crate::cloud::Secret;
use crate::cloud::api::dbs::{
    BackupObjects, ConfigureBackupPlanRequest, CreateAndStartBackupPlanRequest, SourceEndpoint,
};

fn source_endpoint(c: &PlanConfig, password: Option<Secret>) -> SourceEndpoint {
    SourceEndpoint {
        instance_type: c.source_instance_type.to_string(),
        region: c.source_region.clone(),
        instance_id: c.source_instance_id.clone(),
        ip: c.source_ip.clone(),
        port: c.source_port,
        database_name: c.source_database_name.clone(),
        user_name: c.source_user_name.clone(),
        password,
        oracle_sid: c.oracle_sid.clone(),
        backup_gateway_id: c.backup_gateway_id,
    }
}

/// `CreateAndStartBackupPlan` for `desired`, with the password read at act time and the
/// `ClientToken` of the recorded intent.
pub fn create_request(
    desired: &DesiredPlan,
    password: Option<Secret>,
    client_token: &str,
) -> CreateAndStartBackupPlanRequest {
    let c = &desired.config;
    let postpay = desired.pay_type == Some("postpay");
    CreateAndStartBackupPlanRequest {
        backup_plan_id: desired.backup_plan_id.clone(),
        region: Some(desired.region.clone()),
        instance_class: desired.instance_class.to_string(),
        database_type: desired.database_type.to_string(),
        backup_method: desired.backup_method.to_string(),
        period: desired.period.map(str::to_string),
        used_time: desired.used_time,
        pay_type: desired.pay_type.map(str::to_string),
        database_region: postpay.then(|| {
            c.source_region
                .clone()
                .unwrap_or_else(|| desired.region.clone())
        }),
        storage_region: Some(desired.storage_region.clone()),
        instance_type: desired.database_instance_type.map(str::to_string),
        storage_type: None,
        from_app: None,
        source: source_endpoint(c, password),
        oss_bucket_name: c.oss_bucket_name.clone(),
        backup_objects: c.backup_objects.clone().map(BackupObjects::Raw),
        backup_period: c.backup_period.clone(),
        backup_start_time: c.backup_start_time.clone(),
        enable_backup_log: c.enable_backup_log,
        backup_log_interval_seconds: c.backup_log_interval_seconds,
        backup_retention_period: c.retention_days,
        duplication_infrequent_access_period: c.infrequent_access_days,
        duplication_archive_period: c.archive_days,
        backup_plan_name: desired.name.clone(),
        backup_storage_type: c.backup_storage_type.map(str::to_string),
        backup_speed_limit: c.speed_limit,
        backup_rate_limit: c.rate_limit,
        backup_strategy_type: c.strategy_type.map(str::to_string),
        cross_aliyun_id: c.cross_aliyun_id.clone(),
        cross_role_name: c.cross_role_name.clone(),
        client_token: Some(client_token.to_string()),
        resource_group_id: c.resource_group_id.clone(),
        owner_id: None,
    }
}

/// `ConfigureBackupPlan` pushing the whole configurable state of `desired` to `plan_id`.
pub fn configure_request(
    desired: &DesiredPlan,
    plan_id: &str,
    password: Option<Secret>,
) -> ConfigureBackupPlanRequest {
    let c = &desired.config;
    ConfigureBackupPlanRequest {
        backup_plan_id: plan_id.to_string(),
        backup_plan_name: desired.name.clone(),
        source: source_endpoint(c, password),
        oss_bucket_name: c.oss_bucket_name.clone(),
        backup_objects: c.backup_objects.clone().map(BackupObjects::Raw),
        backup_period: c.backup_period.clone(),
        backup_start_time: c.backup_start_time.clone(),
        enable_backup_log: c.enable_backup_log,
        backup_log_interval_seconds: c.backup_log_interval_seconds,
        backup_retention_period: c.retention_days,
        duplication_infrequent_access_period: c.infrequent_access_days,
        duplication_archive_period: c.archive_days,
        auto_start_backup: None,
        backup_storage_type: c.backup_storage_type.map(str::to_string),
        backup_speed_limit: c.speed_limit,
        backup_rate_limit: c.rate_limit,
        backup_strategy_type: c.strategy_type.map(str::to_string),
        enable_source_endpoint_ssl: None,
        ssl_ca_pem: None,
        backup_storage_encrypt_method: None,
        cross_aliyun_id: c.cross_aliyun_id.clone(),
        cross_role_name: c.cross_role_name.clone(),
        resource_group_id: c.resource_group_id.clone(),
        client_token: None,
        owner_id: None,
    }
}
