//! **validate** (pure): the spec → [`DesiredPlan`] (the rendered request parts), or
//! [`InvalidSpec`] with what to change. Each rule the schema cannot express is one named check.

use super::{DesiredPlan, InvalidSpec, PlanConfig};
use crate::crd::{
    DbsBackupMethod, DbsBackupPlanSpec, DbsDatabaseType, DbsSourceInstanceType, DbsStorage,
    DbsStorageType,
};

pub(super) fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Validates what the schema cannot express and renders the request parts.
pub fn validate(spec: &DbsBackupPlanSpec) -> Result<DesiredPlan, InvalidSpec> {
    let src = &spec.source;
    let rpo = rpo(spec)?;
    check_limits_and_log_backup(spec)?;
    let storage = spec.storage.clone().unwrap_or_default();
    check_storage(&storage)?;
    let cross = cross_account(spec)?;
    check_backup_objects(spec)?;
    check_password(spec)?;
    let backup_objects = spec
        .backup_objects_param()
        .map_err(|e| InvalidSpec(e.to_string()))?;
    let config = plan_config(spec, &storage, backup_objects, cross);
    let billing = spec.billing.as_ref();
    Ok(DesiredPlan {
        name: spec.plan_name.trim().to_string(),
        region: spec.region.clone(),
        database_type: spec.database_type.as_str(),
        instance_class: spec.instance_class.as_str(),
        backup_method: spec.backup_method.as_str(),
        backup_plan_id: nonempty(&spec.backup_plan_id),
        pay_type: billing.and_then(|b| b.pay_type).map(|p| p.as_str()),
        period: billing.and_then(|b| b.period).map(|p| p.as_str()),
        used_time: billing.and_then(|b| b.used_time).map(i64::from),
        database_instance_type: src.database_instance_type.map(|t| t.as_str()),
        storage_region: spec.storage_region().to_string(),
        config,
        suspend: spec.suspend,
        rpo,
        observe_only: spec.management_policy.is_observe_only(),
    })
}

/// `spec.rpo`, parsed, with its text.
fn rpo(spec: &DbsBackupPlanSpec) -> Result<Option<(std::time::Duration, String)>, InvalidSpec> {
    Ok(match spec.rpo.as_deref() {
        Some(text) => Some((
            crate::controller::reconcile::rpo::parse_duration(text)
                .map_err(|e| InvalidSpec(format!("spec.rpo: {e}")))?,
            text.to_string(),
        )),
        None => None,
    })
}

/// `limits` only for physical MySQL backups; `logBackup.intervalSeconds` only for physical
/// backups with log backup enabled.
fn check_limits_and_log_backup(spec: &DbsBackupPlanSpec) -> Result<(), InvalidSpec> {
    let physical_mysql = spec.backup_method == DbsBackupMethod::Physical
        && spec.database_type == DbsDatabaseType::MySQL;
    if let Some(limits) = &spec.limits
        && (limits.disk_io_kbps.is_some() || limits.network_kbps.is_some())
        && !physical_mysql
    {
        return Err(InvalidSpec(
            "limits apply only to physical MySQL backups (databaseType MySQL, backupMethod physical); remove spec.limits".into(),
        ));
    }
    if let Some(log) = &spec.log_backup
        && log.interval_seconds.is_some()
        && spec.backup_method != DbsBackupMethod::Physical
    {
        return Err(InvalidSpec(
            "logBackup.intervalSeconds applies only to backupMethod physical; remove it".into(),
        ));
    }
    if let Some(log) = &spec.log_backup
        && !log.enabled
        && log.interval_seconds.is_some()
    {
        return Err(InvalidSpec(
            "logBackup.intervalSeconds needs logBackup.enabled: true".into(),
        ));
    }
    Ok(())
}

/// `storage`: no bucket with DBS's built-in storage; archive after infrequent access.
fn check_storage(storage: &DbsStorage) -> Result<(), InvalidSpec> {
    if storage.type_ == Some(DbsStorageType::System) && storage.oss_bucket_name.is_some() {
        return Err(InvalidSpec(
            "storage.ossBucketName cannot be combined with storage.type system (DBS's built-in storage); remove one".into(),
        ));
    }
    if let (Some(ia), Some(archive)) = (
        storage.infrequent_access_after_days,
        storage.archive_after_days,
    ) && archive <= ia
    {
        return Err(InvalidSpec(format!(
            "storage.archiveAfterDays ({archive}) must be greater than storage.infrequentAccessAfterDays ({ia})"
        )));
    }
    Ok(())
}

/// `crossAccount`: both `userId` and `roleName`, or neither.
fn cross_account(
    spec: &DbsBackupPlanSpec,
) -> Result<(Option<String>, Option<String>), InvalidSpec> {
    let Some(c) = &spec.cross_account else {
        return Ok((None, None));
    };
    let id = nonempty(&c.user_id);
    let role = nonempty(&c.role_name);
    if id.is_some() != role.is_some() {
        return Err(InvalidSpec(
            "crossAccount needs both userId and roleName for a DbsBackupPlan".into(),
        ));
    }
    Ok((id, role))
}

/// `backupObjects`: each database once, with table includes or excludes, not both.
fn check_backup_objects(spec: &DbsBackupPlanSpec) -> Result<(), InvalidSpec> {
    let mut seen = std::collections::BTreeSet::new();
    for o in &spec.backup_objects {
        if !seen.insert((o.db_name.as_str(), o.schema_name.as_deref())) {
            return Err(InvalidSpec(format!(
                "backupObjects lists database {:?} twice; merge the entries",
                o.db_name
            )));
        }
        if !o.table_includes.is_empty() && !o.table_excludes.is_empty() {
            return Err(InvalidSpec(format!(
                "backupObjects entry {:?} has both tableIncludes and tableExcludes; use one",
                o.db_name
            )));
        }
    }
    Ok(())
}

/// `source.passwordSecretRef`, where the database type needs a password.
fn check_password(spec: &DbsBackupPlanSpec) -> Result<(), InvalidSpec> {
    let src = &spec.source;
    let needs_password = !(spec.management_policy.is_observe_only()
        || spec.database_type == DbsDatabaseType::Redis
        || (spec.database_type == DbsDatabaseType::Mssql
            && src.instance_type == DbsSourceInstanceType::Agent));
    if needs_password && src.password_secret_ref.is_none() {
        return Err(InvalidSpec(
            "source.passwordSecretRef is required for this database type".into(),
        ));
    }
    Ok(())
}

/// The configurable fields rendered to API values.
fn plan_config(
    spec: &DbsBackupPlanSpec,
    storage: &DbsStorage,
    backup_objects: Option<String>,
    (cross_id, cross_role): (Option<String>, Option<String>),
) -> PlanConfig {
    let src = &spec.source;
    let schedule = spec.schedule.as_ref();
    let source_region = match src.instance_type {
        DbsSourceInstanceType::Other => src.region.clone(),
        _ => Some(spec.source_region().to_string()),
    };
    PlanConfig {
        source_instance_type: src.instance_type.as_str(),
        source_region,
        source_instance_id: nonempty(&src.instance_id),
        source_ip: nonempty(&src.ip),
        source_port: src.port.map(i64::from),
        source_database_name: nonempty(&src.database_name),
        source_user_name: nonempty(&src.user_name),
        password_ref: src.password_secret_ref.clone(),
        oracle_sid: nonempty(&src.oracle_sid),
        backup_gateway_id: src.backup_gateway_id,
        backup_objects,
        strategy_type: schedule.map(|s| s.strategy_type.as_str()),
        backup_period: spec.backup_period_param(),
        backup_start_time: schedule.and_then(|s| s.start_time.clone()),
        enable_backup_log: spec.log_backup.as_ref().map(|l| l.enabled),
        backup_log_interval_seconds: spec
            .log_backup
            .as_ref()
            .and_then(|l| l.interval_seconds)
            .map(i64::from),
        backup_storage_type: match storage.type_ {
            Some(DbsStorageType::System) => Some("system"),
            Some(DbsStorageType::Oss) | None => None,
        },
        oss_bucket_name: nonempty(&storage.oss_bucket_name),
        retention_days: storage.retention_days.map(i64::from),
        infrequent_access_days: storage.infrequent_access_after_days.map(i64::from),
        archive_days: storage.archive_after_days.map(i64::from),
        speed_limit: spec.limits.as_ref().and_then(|l| l.disk_io_kbps),
        rate_limit: spec.limits.as_ref().and_then(|l| l.network_kbps),
        cross_aliyun_id: cross_id,
        cross_role_name: cross_role,
        resource_group_id: nonempty(&spec.resource_group_id),
    }
}

/// The plan `spec.backupPlanId` names, if any (trimmed). `ObserveOnly` needs one (what the CEL
/// rule says, for servers without CEL).
pub fn validate_adoption(spec: &DbsBackupPlanSpec) -> Result<Option<String>, InvalidSpec> {
    let id = nonempty(&spec.backup_plan_id);
    if id.is_none() && spec.management_policy.is_observe_only() {
        return Err(InvalidSpec(
            "managementPolicy ObserveOnly needs spec.backupPlanId (the plan to observe); the \
             operator never creates a plan for an ObserveOnly object"
                .into(),
        ));
    }
    Ok(id)
}
