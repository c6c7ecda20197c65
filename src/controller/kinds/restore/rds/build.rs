//! The `RdsRestore` requests and their plans (pure): `CloneDBInstance` (a new instance, tagged
//! with the owner tag) and `RestoreTable` (into the source instance, with `TableMeta`).

use super::Source;
use crate::cloud::Target;
use crate::cloud::api::{CloneDbInstanceRequest, RestoreTableRequest};
use crate::controller::kinds::restore::Prepared;
use crate::controller::kinds::restore::plan::{self, OWNER_TAG};
use crate::crd::{RdsRestoreMode, RdsRestoreSpec, RestorePlan};

use super::RdsRequest;

/// The `TableMeta` JSON of `spec.tables`.
pub fn table_meta(spec: &RdsRestoreSpec) -> String {
    let dbs: Vec<serde_json::Value> = spec
        .tables
        .iter()
        .map(|d| {
            let mut db = serde_json::json!({
                "type": "db",
                "name": d.database,
                "newname": d.new_database.clone().unwrap_or_else(|| d.database.clone()),
            });
            if !d.tables.is_empty() {
                db["tables"] = d
                    .tables
                    .iter()
                    .map(|t| serde_json::json!({"type": "table", "name": t.name, "newname": t.new_name}))
                    .collect();
            }
            db
        })
        .collect();
    serde_json::Value::Array(dbs).to_string()
}

/// The request and plan of a checked spec (pure).
pub fn build(
    spec: &RdsRestoreSpec,
    source: &Source,
    uid: &str,
    target: &Target,
) -> Prepared<RdsRequest> {
    let token = crate::crd::create_token(uid, None);
    let restore_time = source.restore_time.map(plan::rds_time);
    match spec.mode {
        RdsRestoreMode::Clone => {
            let req = clone_request(spec, source, uid, restore_time, token);
            let parameters = clone_parameters(&req, target);
            Prepared {
                request: RdsRequest::Clone(Box::new(req)),
                plan: RestorePlan {
                    operation: "RDS CloneDBInstance".into(),
                    target: format!("a new instance cloned from {}", source.instance),
                    overwrites: false,
                    parameters,
                },
                source: source.describe(),
                target_id: format!("new clone of {}", source.instance),
                exclusive: false,
            }
        }
        RdsRestoreMode::Tables => build_tables(spec, source, target, restore_time, token),
    }
}

/// `CloneDBInstance` from `spec.clone`, tagged with the owner tag (this object's UID).
fn clone_request(
    spec: &RdsRestoreSpec,
    source: &Source,
    uid: &str,
    restore_time: Option<String>,
    token: String,
) -> CloneDbInstanceRequest {
    let c = spec.clone.clone().unwrap_or_default();
    let mut tags: Vec<(String, String)> = c.tags.clone().into_iter().collect();
    tags.push((OWNER_TAG.to_string(), uid.to_string()));
    CloneDbInstanceRequest {
        db_instance_id: source.instance.clone(),
        pay_type: c.pay_type.as_str().to_string(),
        period: c.period.map(|p| p.as_str().to_string()),
        used_time: c.used_time,
        backup_id: source.backup_id.clone(),
        restore_time,
        db_instance_class: c.db_instance_class.clone(),
        db_instance_storage: c.db_instance_storage,
        db_instance_storage_type: c.db_instance_storage_type.clone(),
        zone_id: c.zone_id.clone(),
        zone_id_slave1: c.zone_id_slave1.clone(),
        zone_id_slave2: c.zone_id_slave2.clone(),
        instance_network_type: c.instance_network_type.clone(),
        vpc_id: c.vpc_id.clone(),
        vswitch_id: c.v_switch_id.clone(),
        private_ip_address: c.private_ip_address.clone(),
        db_instance_description: c.db_instance_description.clone(),
        deletion_protection: c.deletion_protection,
        tags,
        client_token: Some(token),
        ..CloneDbInstanceRequest::default()
    }
}

/// The wire parameters of a clone (`status.plan`), its tags included.
fn clone_parameters(
    req: &CloneDbInstanceRequest,
    target: &Target,
) -> std::collections::BTreeMap<String, String> {
    let mut parameters = plan::params([
        ("RegionId", Some(target.region.clone())),
        ("DBInstanceId", Some(req.db_instance_id.clone())),
        ("PayType", Some(req.pay_type.clone())),
        ("Period", req.period.clone()),
        ("UsedTime", req.used_time.map(|u| u.to_string())),
        ("BackupId", req.backup_id.clone()),
        ("RestoreTime", req.restore_time.clone()),
        ("DBInstanceClass", req.db_instance_class.clone()),
        (
            "DBInstanceStorage",
            req.db_instance_storage.map(|s| s.to_string()),
        ),
        (
            "DBInstanceStorageType",
            req.db_instance_storage_type.clone(),
        ),
        ("ZoneId", req.zone_id.clone()),
        ("InstanceNetworkType", req.instance_network_type.clone()),
        ("VPCId", req.vpc_id.clone()),
        ("VSwitchId", req.vswitch_id.clone()),
        ("DBInstanceDescription", req.db_instance_description.clone()),
        (
            "DeletionProtection",
            req.deletion_protection.map(|d| d.to_string()),
        ),
    ]);
    for (k, v) in &req.tags {
        parameters.insert(format!("Tag.{k}"), v.clone());
    }
    parameters
}

/// `RestoreTable` into the source instance, and its plan.
fn build_tables(
    spec: &RdsRestoreSpec,
    source: &Source,
    target: &Target,
    restore_time: Option<String>,
    token: String,
) -> Prepared<RdsRequest> {
    let req = RestoreTableRequest {
        db_instance_id: source.instance.clone(),
        table_meta: table_meta(spec),
        backup_id: source.backup_id.clone(),
        restore_time,
        client_token: Some(token),
        ..RestoreTableRequest::default()
    };
    let parameters = plan::params([
        ("RegionId", Some(target.region.clone())),
        ("DBInstanceId", Some(req.db_instance_id.clone())),
        ("TableMeta", Some(req.table_meta.clone())),
        ("BackupId", req.backup_id.clone()),
        ("RestoreTime", req.restore_time.clone()),
    ]);
    Prepared {
        request: RdsRequest::Tables(req),
        plan: RestorePlan {
            operation: "RDS RestoreTable".into(),
            target: format!("instance {}", source.instance),
            overwrites: true,
            parameters,
        },
        source: source.describe(),
        target_id: source.instance.clone(),
        exclusive: true,
    }
}
