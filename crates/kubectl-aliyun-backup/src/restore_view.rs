//! What the commands read from a restore object (`RdsRestore`, `HbrRestoreJob`,
//! `DbsRestoreTask`): the common [`View`] plus [`RestoreInfo`].

use aliyun_backup_operator::crd::{
    DbsRestoreTask, DbsRestoreTaskSpec, DbsSourceInstanceType, HbrRestoreJob, HbrRestoreJobSpec,
    HbrRestoreType, RdsCloneParams, RdsRestore, RdsRestoreMode, RdsRestoreSpec, RestoreOverwrite,
    RestorePlan, RestoreStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::model::{Kind, View, base, ids};

/// What a restore adds to its [`View`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreInfo {
    /// `spec.dryRun`.
    pub dry_run: bool,
    /// The backup object the source names, `KIND/NAME` (`rdsbackup/nightly`), if it names one.
    pub source_ref: Option<String>,
    /// The source as the spec writes it (the reference, or the raw cloud ids).
    pub spec_source: String,
    /// `status.source`: the source as resolved.
    pub source: Option<String>,
    /// What the spec writes into: `new instance` (RDS clone), else the id it names (may be
    /// unknown until resolved, e.g. a table restore from a backup reference).
    pub spec_target: Option<String>,
    /// `spec.overwrite.confirmTargetId`.
    pub confirm_target_id: Option<String>,
    /// `spec.mode` (RDS) or `spec.target.restoreType` (HBR).
    pub mode: Option<String>,
    /// `status.plan`.
    pub plan: Option<RestorePlan>,
    pub cloud_status: Option<String>,
    pub cloud_message: Option<String>,
    /// A DBS destination's password Secret (`NAME`, `KEY`).
    pub password_secret: Option<(String, String)>,
    /// The `restore` flags (after `--from source_ref`) that make this same restore, when the
    /// plugin can express it.
    pub args: Option<Vec<String>>,
}

fn flag(out: &mut Vec<String>, name: &str, value: Option<String>) {
    if let Some(v) = value {
        out.push(name.into());
        out.push(v);
    }
}

/// The `restore` flags of an `RdsRestore` spec (`None`: not expressible with the flags).
pub fn rds_args(spec: &RdsRestoreSpec) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match spec.mode {
        RdsRestoreMode::Clone => {
            let c = spec.clone.clone().unwrap_or_default();
            let known = RdsCloneParams {
                db_instance_class: c.db_instance_class.clone(),
                db_instance_storage: c.db_instance_storage,
                db_instance_description: c.db_instance_description.clone(),
                ..RdsCloneParams::default()
            };
            if known != c {
                return None;
            }
            flag(&mut out, "--class", c.db_instance_class);
            flag(
                &mut out,
                "--storage",
                c.db_instance_storage.map(|s| s.to_string()),
            );
            flag(&mut out, "--description", c.db_instance_description);
        }
        RdsRestoreMode::Tables => {
            let mut entries = Vec::new();
            for d in &spec.tables {
                if let Some(n) = &d.new_database {
                    entries.push(format!("{}={n}", d.database));
                }
                for t in &d.tables {
                    entries.push(format!("{}.{}={}", d.database, t.name, t.new_name));
                }
            }
            flag(&mut out, "--tables", Some(entries.join(",")));
            flag(&mut out, "--to", confirm(&spec.overwrite));
        }
    }
    Some(out)
}

/// The `restore` flags of an `HbrRestoreJob` spec.
pub fn hbr_args(spec: &HbrRestoreJobSpec) -> Option<Vec<String>> {
    let t = &spec.target;
    let plain = t.include.is_empty() && t.exclude.is_empty() && t.boot_after_restore.is_none();
    let mut out = Vec::new();
    match t.restore_type {
        HbrRestoreType::EcsFile | HbrRestoreType::UdmEcsRollback if plain => {
            flag(&mut out, "--to", confirm(&spec.overwrite));
            flag(&mut out, "--path", t.path.clone());
            Some(out)
        }
        _ => None,
    }
}

/// The `restore` flags of a `DbsRestoreTask` spec.
pub fn dbs_args(spec: &DbsRestoreTaskSpec) -> Option<Vec<String>> {
    let d = &spec.destination;
    if d.instance_type != DbsSourceInstanceType::Rds || d.database_name.is_some() {
        return None;
    }
    let mut out = Vec::new();
    flag(&mut out, "--to", confirm(&spec.overwrite));
    let dbs: Vec<String> = spec
        .objects
        .iter()
        .map(|o| format!("{}={}", o.database, o.new_database))
        .collect();
    flag(&mut out, "--databases", Some(dbs.join(",")));
    flag(&mut out, "--backup-set", spec.source.backup_set_id.clone());
    flag(&mut out, "--time", spec.source.restore_time.clone());
    if let (Some(u), Some(s)) = (&d.user_name, &d.password_secret_ref) {
        flag(&mut out, "--user", Some(u.clone()));
        flag(
            &mut out,
            "--password-secret",
            Some(format!("{}:{}", s.name, s.key)),
        );
    }
    Some(out)
}

fn restore_base(
    kind: Kind,
    meta: &ObjectMeta,
    region: &str,
    credentials: Option<String>,
    status: Option<&RestoreStatus>,
    mut info: RestoreInfo,
) -> View {
    let mut v = base(kind, meta);
    v.region = region.to_string();
    v.credentials = credentials;
    v.target = info.spec_target.clone().unwrap_or_default();
    if let Some(s) = status {
        v.phase = s.phase.map(|p| p.as_str().to_string());
        v.conditions = s.conditions.clone();
        v.progress = s.progress;
        v.cloud_ids = ids(&[
            ("restoreId", &s.restore_id),
            ("dbInstanceId", &s.db_instance_id),
            ("orderId", &s.order_id),
            ("restoreTaskName", &s.restore_task_name),
        ]);
        // `dbInstanceId` repeats `restoreId` for a clone.
        if s.db_instance_id.is_some() && s.db_instance_id == s.restore_id {
            v.cloud_ids.retain(|(k, _)| k != "restoreId");
        }
        if let Some(t) = &s.target_id {
            v.target = t.clone();
        }
        info.source = s.source.clone();
        info.plan = s.plan.clone();
        info.cloud_status = s.cloud_status.clone();
        info.cloud_message = s.cloud_message.clone();
    }
    v.restore = Some(info);
    v
}

fn confirm(o: &Option<RestoreOverwrite>) -> Option<String> {
    o.as_ref().map(|o| o.confirm_target_id.clone())
}

impl From<&RdsRestore> for View {
    fn from(o: &RdsRestore) -> View {
        let src = &o.spec.source;
        let source_ref = src
            .backup_ref
            .as_ref()
            .map(|r| format!("{}/{}", Kind::RdsBackup.cli_name(), r.name));
        let instance = src.db_instance_id.clone().unwrap_or_default();
        let spec_source = match (&source_ref, &src.backup_id, &src.restore_time) {
            (Some(r), _, _) => r.clone(),
            (None, Some(b), _) => format!("{instance} backup {b}"),
            (None, None, Some(t)) => format!("{instance} at {t}"),
            _ => instance.clone(),
        };
        let spec_target = match o.spec.mode {
            RdsRestoreMode::Clone => Some("new instance".to_string()),
            RdsRestoreMode::Tables => src.db_instance_id.clone(),
        };
        let info = RestoreInfo {
            dry_run: o.spec.common.dry_run,
            source_ref,
            spec_source,
            spec_target,
            confirm_target_id: confirm(&o.spec.overwrite),
            mode: Some(o.spec.mode.as_str().to_string()),
            args: rds_args(&o.spec),
            ..RestoreInfo::default()
        };
        let creds = o
            .spec
            .common
            .credentials_ref
            .as_ref()
            .map(|c| c.name.clone());
        restore_base(
            Kind::RdsRestore,
            &o.metadata,
            &o.spec.region,
            creds,
            o.status.as_ref(),
            info,
        )
    }
}

impl From<&HbrRestoreJob> for View {
    fn from(o: &HbrRestoreJob) -> View {
        let src = &o.spec.source;
        let source_ref = src
            .backup_job_ref
            .as_ref()
            .map(|r| format!("{}/{}", Kind::HbrBackupJob.cli_name(), r.name));
        let spec_source = match (&source_ref, &src.snapshot_id) {
            (Some(r), _) => r.clone(),
            (None, Some(s)) => format!("snapshot {s}"),
            _ => String::new(),
        };
        let info = RestoreInfo {
            dry_run: o.spec.common.dry_run,
            source_ref,
            spec_source,
            spec_target: o.spec.target.target_id().map(str::to_string),
            confirm_target_id: confirm(&o.spec.overwrite),
            mode: Some(o.spec.target.restore_type.as_str().to_string()),
            args: hbr_args(&o.spec),
            ..RestoreInfo::default()
        };
        let creds = o
            .spec
            .common
            .credentials_ref
            .as_ref()
            .map(|c| c.name.clone());
        restore_base(
            Kind::HbrRestoreJob,
            &o.metadata,
            &o.spec.region,
            creds,
            o.status.as_ref(),
            info,
        )
    }
}

impl From<&DbsRestoreTask> for View {
    fn from(o: &DbsRestoreTask) -> View {
        let src = &o.spec.source;
        let source_ref = src
            .backup_plan_ref
            .as_ref()
            .map(|r| format!("{}/{}", Kind::DbsBackupPlan.cli_name(), r.name));
        let plan = source_ref
            .clone()
            .or_else(|| src.backup_plan_id.as_ref().map(|p| format!("plan {p}")))
            .unwrap_or_default();
        let spec_source = match (&src.backup_set_id, &src.restore_time) {
            (Some(b), _) => format!("{plan} backup set {b}"),
            (None, Some(t)) => format!("{plan} at {t}"),
            _ => format!("{plan} latest backup set"),
        };
        let dest = &o.spec.destination;
        let info = RestoreInfo {
            dry_run: o.spec.common.dry_run,
            source_ref,
            spec_source,
            spec_target: dest.target_id(),
            confirm_target_id: confirm(&o.spec.overwrite),
            mode: None,
            password_secret: dest
                .password_secret_ref
                .as_ref()
                .map(|s| (s.name.clone(), s.key.clone())),
            args: dbs_args(&o.spec),
            ..RestoreInfo::default()
        };
        let creds = o
            .spec
            .common
            .credentials_ref
            .as_ref()
            .map(|c| c.name.clone());
        restore_base(
            Kind::DbsRestoreTask,
            &o.metadata,
            &o.spec.region,
            creds,
            o.status.as_ref(),
            info,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_clone_reads_its_reference_ids_and_plan() {
        let o: RdsRestore = serde_json::from_value(json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsRestore",
            "metadata": { "name": "c", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "source": { "backupRef": { "name": "nightly" } } },
            "status": {
                "phase": "Succeeded", "restoreId": "rm-new", "dbInstanceId": "rm-new",
                "orderId": "o-1", "targetId": "rm-new", "source": "rm-demo01 backup 7",
                "plan": { "operation": "RDS CloneDBInstance", "target": "new instance",
                          "overwrites": false, "parameters": { "BackupId": "7" } }
            }
        }))
        .unwrap();
        let v = View::from(&o);
        assert_eq!(v.kind(), Kind::RdsRestore);
        assert_eq!(v.target, "rm-new");
        assert_eq!(
            v.cloud_ids,
            vec![
                ("dbInstanceId".to_string(), "rm-new".to_string()),
                ("orderId".into(), "o-1".into())
            ]
        );
        assert!(!v.is_running(), "Succeeded is not running");
        let info = v.restore.unwrap();
        assert_eq!(info.source_ref.as_deref(), Some("rdsbackup/nightly"));
        assert_eq!(info.mode.as_deref(), Some("Clone"));
        assert_eq!(info.plan.unwrap().parameters["BackupId"], "7");
    }

    #[test]
    fn a_dbs_task_reads_its_destination_and_secret() {
        let o: DbsRestoreTask = serde_json::from_value(json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "DbsRestoreTask",
            "metadata": { "name": "d", "namespace": "ns" },
            "spec": {
                "region": "cn-hangzhou",
                "source": { "backupPlanRef": { "name": "orders" }, "latestBackupSet": true },
                "destination": { "instanceType": "RDS", "instanceId": "rm-2", "userName": "u",
                                 "passwordSecretRef": { "name": "pw", "key": "password" } },
                "objects": [ { "database": "a", "newDatabase": "b" } ],
                "overwrite": { "confirmTargetId": "rm-2" }
            }
        }))
        .unwrap();
        let v = View::from(&o);
        assert_eq!(v.target, "rm-2");
        assert!(v.is_running(), "no status yet: pending");
        let info = v.restore.unwrap();
        assert_eq!(info.spec_source, "dbsbackupplan/orders latest backup set");
        assert_eq!(
            info.password_secret,
            Some(("pw".to_string(), "password".to_string()))
        );
    }
}
