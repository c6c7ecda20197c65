//! `CreateRestoreJob`: a restore job of a snapshot the emulator made.

use serde_json::{Map, Value, json};

use super::{HbrRestoreJob, RESTORE_TYPES, not_found, restore_matches, same_kind, udm_str};
use crate::api::{ApiError, ApiResult, Params, obj, rand_alnum};
use crate::hbr::{
    CROSS_ACCOUNT_TYPES, GIB, HbrJob, HbrState, check_edition, invalid, invalid_msg, json_param,
};
use crate::scenario::{Scenario, take};

/// `SourceType` values.
const SOURCE_TYPES: &[&str] = &[
    "ECS_FILE",
    "OSS",
    "NAS",
    "COMMON_FILE_SYSTEM",
    "OTS_TABLE",
    "UDM_ECS",
];

/// The fields a restore job echoes (`Include`/`Exclude` JSON arrays of at most 255
/// characters, the JSON-object details, the targets as sent).
fn restore_fields(p: &Params) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::new();
    for k in ["Include", "Exclude"] {
        if let Some(v) = p.opt(k) {
            if v.chars().count() > 255 {
                return Err(invalid_msg(format!(
                    "The parameter {k} must be at most 255 characters."
                )));
            }
            json_param(p, k, true)?;
            fields.insert(k.into(), json!(v));
        }
    }
    for k in ["Options", "UdmDetail", "FailbackDetail", "OtsDetail"] {
        if json_param(p, k, false)?.is_some() {
            fields.insert(k.into(), json!(p.opt(k).unwrap_or_default()));
        }
    }
    for k in [
        "TargetInstanceId",
        "TargetPath",
        "TargetBucket",
        "TargetPrefix",
        "TargetFileSystemId",
        "TargetInstanceName",
        "TargetTableName",
        "UdmRegionId",
    ] {
        if let Some(v) = p.opt(k) {
            fields.insert(k.into(), json!(v));
        }
    }
    for k in ["TargetCreateTime", "TargetTime"] {
        if let Some(v) = p.int(k, invalid)? {
            fields.insert(k.into(), json!(v));
        }
    }
    Ok(fields)
}

/// A non-empty `UdmDetail.{k}`, required for restore type `rt`.
fn udm_required(udm: &Value, k: &str, rt: &str) -> Result<String, ApiError> {
    udm_str(Some(udm), k)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid_msg(format!(
                "The UdmDetail.{k} parameter is required for RestoreType {rt}."
            ))
        })
}

impl HbrState {
    pub(super) fn create_restore(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let rt = p.req("RestoreType")?;
        let st = p.req("SourceType")?;
        if !RESTORE_TYPES.contains(&rt) {
            return Err(invalid("RestoreType"));
        }
        if !SOURCE_TYPES.contains(&st) {
            return Err(invalid("SourceType"));
        }
        if !same_kind(rt, st) {
            return Err(invalid_msg(format!(
                "The RestoreType {rt} does not match the SourceType {st}: the source and destination must have the same data source type."
            )));
        }
        // Not required by the SDK model, but no restore can run without them (the official
        // Terraform provider requires all three).
        let snapshot_id = p.req("SnapshotId")?;
        let vault_id = p.opt("VaultId");
        if st != "UDM_ECS" {
            p.req("SnapshotHash")?;
            p.req("VaultId")?;
        }
        check_edition(p)?;
        p.choice("CrossAccountType", CROSS_ACCOUNT_TYPES, invalid)?;
        let fields = restore_fields(p)?;
        let udm: Value = p
            .opt("UdmDetail")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!({}));
        self.check_target(p, rt, &udm)?;
        let (job, hash) = self.restored_snapshot(p, st, snapshot_id, now)?;
        if rt.ends_with("ROLLBACK")
            && let Ok(src) = udm_required(&udm, "sourceInstanceId", rt)
            && src != job.instance_id
        {
            return Err(invalid_msg(format!(
                "UdmDetail.sourceInstanceId {src} is not the instance {} the snapshot was taken of.",
                job.instance_id
            )));
        }
        let id = format!("r-000{}", rand_alnum(14));
        let probe = HbrRestoreJob {
            id: id.clone(),
            restore_type: rt.to_owned(),
            source_type: st.to_owned(),
            snapshot_id: snapshot_id.to_owned(),
            snapshot_hash: hash,
            vault_id: vault_id.unwrap_or(&job.vault_id).to_owned(),
            backup_job_id: job.id.clone(),
            source_instance_id: job.instance_id.clone(),
            created_ms: now,
            duration_ms: job_ms,
            outcome: None,
            canceled_ms: None,
            bytes_total: job.bytes_total.max(GIB),
            fields,
        };
        let outcome = take(pending, |s| match s {
            Scenario::HbrRestoreOutcome {
                target,
                outcome,
                message,
            } if restore_matches(target, &probe) => Some((*outcome, message.clone())),
            _ => None,
        });
        self.restore_jobs.push(HbrRestoreJob { outcome, ..probe });
        Ok(obj([("RestoreId", json!(id))]))
    }

    /// The target parameters restore type `rt` needs (`udm`: the parsed `UdmDetail`).
    fn check_target(&self, p: &Params, rt: &str, udm: &Value) -> Result<(), ApiError> {
        match rt {
            "ECS_FILE" => {
                let target = p.req("TargetInstanceId")?;
                p.req("TargetPath")?;
                self.ecs_must_exist(target)?;
            }
            "OSS" => {
                p.req("TargetBucket")?;
            }
            "NAS" | "COMMON_FILE_SYSTEM" => {
                p.req("TargetFileSystemId")?;
                p.req("TargetCreateTime")?;
            }
            "OTS_TABLE" => {
                p.req("TargetInstanceName")?;
                p.req("TargetTableName")?;
            }
            "UDM_ECS_ROLLBACK" | "UDM_ECS_DISK_ROLLBACK" => {
                let src = udm_required(udm, "sourceInstanceId", rt)?;
                self.ecs_must_exist(&src)?;
                for k in ["forceRestore", "foreceRestore", "bootAfterRestore"] {
                    if udm.get(k).is_some_and(|v| !v.is_boolean()) {
                        return Err(invalid_msg(format!("UdmDetail.{k} must be a boolean.")));
                    }
                }
            }
            "UDM_ECS" => {
                for k in [
                    "diskCategory",
                    "instanceType",
                    "restoredNetwork",
                    "securityGroup",
                    "restoredName",
                    "restoredHostName",
                ] {
                    udm_required(udm, k, rt)?;
                }
            }
            "UDM_ECS_DISK" => {
                let target = udm_required(udm, "targetInstanceId", rt)?;
                udm_required(udm, "diskCategory", rt)?;
                self.ecs_must_exist(&target)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The snapshot restored and its `SnapshotHash`: made by a finished backup job of source
    /// type `st`, with the `SnapshotHash` and in the `VaultId` given.
    fn restored_snapshot(
        &self,
        p: &Params,
        st: &str,
        snapshot_id: &str,
        now: i64,
    ) -> Result<(&HbrJob, String), ApiError> {
        let snap = self
            .jobs
            .iter()
            .filter(|j| j.source_type == st)
            .filter_map(|j| j.snapshot(now).map(|s| (j, s)))
            .find(|(_, s)| s.get("SnapshotId").and_then(Value::as_str) == Some(snapshot_id));
        let Some((job, snap)) = snap else {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} does not exist."
            )));
        };
        let hash = snap
            .get("SnapshotHash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if p.opt("SnapshotHash").is_some_and(|h| h != hash) {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} with the given SnapshotHash does not exist."
            )));
        }
        if let Some(v) = p.opt("VaultId")
            && !job.vault_id.is_empty()
            && job.vault_id != v
        {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} does not exist in vault {v}."
            )));
        }
        Ok((job, hash))
    }
}
