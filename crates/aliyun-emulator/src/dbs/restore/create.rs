//! `CreateRestoreTask` and `StartRestoreTask` (with the pre-check of the destination).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{DbsRestoreObject, DbsRestoreTask, invalid, invalid_msg, no_task, required_when};
use crate::api::{ApiError, ApiResult, Params, obj, rand_alnum};
use crate::dbs::DbsState;
use crate::rds::RdsState;
use crate::scenario::{Scenario, take, target_matches};

/// Parses `RestoreObjects`: `[{"DBName": "<src>", "NewDBName": "<target>"}]`.
pub(super) fn parse_objects(raw: &str) -> Result<Vec<DbsRestoreObject>, ApiError> {
    let bad = || {
        invalid_msg(
            "The parameter RestoreObjects must be a JSON array of {\"DBName\", \"NewDBName\"}."
                .into(),
        )
    };
    let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
    items
        .iter()
        .map(|o| {
            let s = |k: &str| {
                o.get(k)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let db = s("DBName").ok_or_else(bad)?;
            // No NewDBName: restored under the original name.
            let new_db = s("NewDBName").unwrap_or_else(|| db.clone());
            Ok(DbsRestoreObject { db, new_db })
        })
        .collect()
}

impl DbsState {
    pub(super) fn create_restore(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        success: &str,
    ) -> ApiResult {
        let plan_id = p.req("BackupPlanId")?;
        let ty = p.req("DestinationEndpointInstanceType")?;
        let name = p.req("RestoreTaskName")?;
        let plan = self.plan(plan_id)?;
        let db_type = plan
            .fields
            .get("DatabaseType")
            .and_then(Value::as_str)
            .unwrap_or("MySQL")
            .to_ascii_lowercase();
        let types = ["RDS", "ECS", "Express", "Agent", "DDS", "Other", "dg"];
        if !types.iter().any(|t| t.eq_ignore_ascii_case(ty)) {
            return Err(invalid_msg(format!(
                "The specified parameter DestinationEndpointInstanceType value {ty} is not valid. Valid values: {}.",
                types.join(", ")
            )));
        }
        let lty = ty.to_ascii_lowercase();
        let need = |k: &str, when: &[&str]| -> Result<(), ApiError> {
            if when.contains(&lty.as_str()) && p.opt(k).is_none() {
                return Err(required_when(
                    k,
                    &format!("DestinationEndpointInstanceType is {ty}"),
                ));
            }
            Ok(())
        };
        need(
            "DestinationEndpointRegion",
            &["rds", "ecs", "dds", "express", "agent"],
        )?;
        need(
            "DestinationEndpointInstanceID",
            &["rds", "ecs", "dds", "express"],
        )?;
        need("DestinationEndpointIP", &["express", "agent", "other"])?;
        need(
            "DestinationEndpointPort",
            &["express", "agent", "other", "ecs"],
        )?;
        need("BackupGatewayId", &["agent"])?;
        let no_account = db_type == "redis" || (lty == "agent" && db_type == "mssql");
        if !no_account {
            for k in ["DestinationEndpointUserName", "DestinationEndpointPassword"] {
                if p.opt(k).is_none() {
                    return Err(required_when(
                        k,
                        "the database is not Redis or SQL Server via a backup gateway",
                    ));
                }
            }
        }
        if matches!(db_type.as_str(), "postgresql" | "mongodb")
            && p.opt("DestinationEndpointDatabaseName").is_none()
        {
            return Err(required_when(
                "DestinationEndpointDatabaseName",
                "DatabaseType is PostgreSQL or MongoDB",
            ));
        }
        if db_type == "oracle" && p.opt("DestinationEndpointOracleSID").is_none() {
            return Err(required_when(
                "DestinationEndpointOracleSID",
                "DatabaseType is Oracle",
            ));
        }
        if lty == "agent" && db_type == "mysql" && p.opt("RestoreDir").is_none() {
            return Err(required_when(
                "RestoreDir",
                "the destination is a backup gateway and the database is MySQL",
            ));
        }
        if let Some(port) = p.int("DestinationEndpointPort", invalid)?
            && !(1..=65_535).contains(&port)
        {
            return Err(invalid("DestinationEndpointPort"));
        }
        p.int("BackupGatewayId", invalid)?;
        p.bool("EnableDestinationEndpointSsl", invalid)?;
        let objects = match p.opt("RestoreObjects") {
            Some(raw) => parse_objects(raw)?,
            None if lty == "agent" => Vec::new(),
            None => {
                return Err(required_when(
                    "RestoreObjects",
                    "the destination is not a backup gateway",
                ));
            }
        };
        let conflict = p.opt("DuplicateConflict").unwrap_or("failure");
        if !matches!(conflict, "failure" | "renamenew") {
            return Err(invalid("DuplicateConflict"));
        }
        let set = p.opt("BackupSetId");
        let time = p.int("RestoreTime", invalid)?;
        match (set, time) {
            (None, None) => {
                return Err(ApiError::product(
                    400,
                    "Param.NotFound",
                    "One of the parameters BackupSetId and RestoreTime is required.",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(invalid_msg(
                    "BackupSetId and RestoreTime are mutually exclusive.".into(),
                ));
            }
            (Some(s), None) => {
                if !self
                    .finished_sets(plan_id, now)
                    .iter()
                    .any(|(id, _, _)| id == s)
                {
                    return Err(invalid_msg(format!(
                        "The full backup set {s} does not exist in backup plan {plan_id} or is not finished."
                    )));
                }
            }
            (None, Some(t)) => {
                let inside = self
                    .restore_range(plan_id, now)
                    .is_some_and(|(b, e)| b <= t && t <= e);
                if !inside {
                    return Err(invalid_msg(format!(
                        "The RestoreTime {t} is outside the restorable time range of backup plan {plan_id} (see DescribeRestoreRangeInfo)."
                    )));
                }
            }
        }
        if self
            .restore_tasks
            .iter()
            .any(|t| t.plan_id == plan_id && t.name == name)
        {
            return Err(invalid_msg(format!(
                "A restore task named {name} already exists in backup plan {plan_id}."
            )));
        }
        let mut fields = BTreeMap::new();
        for k in [
            "DestinationEndpointInstanceType",
            "DestinationEndpointRegion",
            "DestinationEndpointInstanceID",
            "DestinationEndpointIP",
            "DestinationEndpointPort",
            "DestinationEndpointUserName",
            "DestinationEndpointDatabaseName",
            "DestinationEndpointOracleSID",
            "EnableDestinationEndpointSsl",
            "BackupGatewayId",
            "RestoreDir",
            "RestoreHome",
            "CrossAliyunId",
            "CrossRoleName",
            "RestoreDestinationMode",
        ] {
            if let Some(v) = p.opt(k) {
                fields.insert(k.to_owned(), json!(v));
            }
        }
        fields.insert("DuplicateConflict".into(), json!(conflict));
        let id = format!("s{}", rand_alnum(11));
        self.restore_tasks.push(DbsRestoreTask {
            id: id.clone(),
            name: name.to_owned(),
            plan_id: plan_id.to_owned(),
            backup_set_id: set.map(str::to_owned),
            restore_time_ms: time,
            created_ms: now,
            started_ms: None,
            duration_ms: job_ms,
            precheck_fail: None,
            fail: None,
            paused_ms: None,
            duplicate_conflict: conflict.to_owned(),
            objects,
            restore_objects: p.opt("RestoreObjects").unwrap_or("").to_owned(),
            fields,
            success_status: success.to_owned(),
        });
        Ok(obj([("RestoreTaskId", json!(id))]))
    }

    /// Whether database `db` exists at the destination of `task` (checked by the pre-check).
    fn db_exists(&self, task: &DbsRestoreTask, db: &str, now: i64, rds: &RdsState) -> bool {
        let dest = task
            .fields
            .get("DestinationEndpointInstanceID")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let src = self
            .plans
            .iter()
            .find(|p| p.id == task.plan_id)
            .and_then(|p| p.fields.get("SourceEndpointInstanceID"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let restored_here = self.restore_tasks.iter().any(|t| {
            t.id != task.id
                && t.fields
                    .get("DestinationEndpointInstanceID")
                    .and_then(Value::as_str)
                    == Some(dest)
                && t.status(now).0 == t.success_status
                && t.objects.iter().any(|o| o.new_db == db)
        });
        let backed_up_from_here =
            task.objects.iter().any(|o| o.db == db) && !dest.is_empty() && dest == src;
        restored_here || backed_up_from_here || rds.has_object(dest, db, now)
    }

    pub(super) fn start_restore(
        &mut self,
        p: &Params,
        now: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> ApiResult {
        let id = p.req("RestoreTaskId")?.to_owned();
        let idx = self
            .restore_tasks
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| no_task(&id))?;
        let task = self.restore_tasks.get(idx).ok_or_else(|| no_task(&id))?;
        if self.plan(&task.plan_id).is_err() {
            return Err(no_task(&id));
        }
        let (st, _, err) = task.status(now);
        let precheck_failed = st == "init" && !err.is_empty();
        if task.started_ms.is_some() && !precheck_failed && st != "pause" {
            if task.ended(now) {
                return Err(invalid_msg(format!(
                    "The restore task {id} has already ended ({st})."
                )));
            }
            // Already running: nothing more to start.
            return Ok(obj([("RestoreTaskId", json!(id))]));
        }
        // The pre-check: the destination exists, and no target database exists unless
        // DuplicateConflict=renamenew.
        let dest = task
            .fields
            .get("DestinationEndpointInstanceID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let lty = task
            .fields
            .get("DestinationEndpointInstanceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut precheck = if lty == "rds" && !rds.instances.contains_key(&dest) {
            Some(format!(
                "Precheck failed: the destination RDS instance {dest} does not exist or is not accessible."
            ))
        } else if lty == "ecs" && !ecs.contains(&dest) {
            Some(format!(
                "Precheck failed: the destination ECS instance {dest} does not exist or is not accessible."
            ))
        } else {
            None
        };
        if precheck.is_none() && task.duplicate_conflict == "failure" {
            let taken: Vec<&str> = task
                .objects
                .iter()
                .filter(|o| self.db_exists(task, &o.new_db, now, rds))
                .map(|o| o.new_db.as_str())
                .collect();
            if !taken.is_empty() {
                precheck = Some(format!(
                    "Precheck failed: the databases exist at the destination: {} (DuplicateConflict=failure).",
                    taken.join(", ")
                ));
            }
        }
        let (plan_id, name) = (task.plan_id.clone(), task.name.clone());
        let fail = take(pending, |s| match s {
            Scenario::DbsRestoreFailure {
                target,
                err_message,
            } if target_matches(target, &[&id, &plan_id, &name]) => Some(err_message.clone()),
            _ => None,
        });
        let task = self
            .restore_tasks
            .get_mut(idx)
            .ok_or_else(|| no_task(&id))?;
        task.started_ms = Some(now);
        task.paused_ms = None;
        task.precheck_fail = precheck;
        if fail.is_some() {
            task.fail = fail;
        }
        Ok(obj([("RestoreTaskId", json!(id))]))
    }
}
