//! `CreateRestoreTask` and `StartRestoreTask` (with the pre-check of the destination).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{DbsRestoreObject, DbsRestoreTask, no_task};
use crate::api::{ApiError, ApiResult, Params, obj, rand_alnum};
use crate::dbs::DbsState;
use crate::dbs::params::{ENDPOINT_TYPES, check_port, required_endpoint_params};
use crate::dbs::{invalid, invalid_msg, one_of, required_when};
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

/// Checks the destination parameters of `CreateRestoreTask` for a destination of type `ty`
/// and a database of type `db_type` (lower case); returns the parsed `RestoreObjects`.
fn destination(p: &Params, ty: &str, db_type: &str) -> Result<Vec<DbsRestoreObject>, ApiError> {
    one_of(p, "DestinationEndpointInstanceType", ENDPOINT_TYPES)?;
    let lty = ty.to_ascii_lowercase();
    required_endpoint_params(p, "Destination", &lty, ty, db_type)?;
    if lty == "agent" && db_type == "mysql" && p.opt("RestoreDir").is_none() {
        return Err(required_when(
            "RestoreDir",
            "the destination is a backup gateway and the database is MySQL",
        ));
    }
    check_port(p, "DestinationEndpointPort")?;
    p.int("BackupGatewayId", invalid)?;
    p.bool("EnableDestinationEndpointSsl", invalid)?;
    match p.opt("RestoreObjects") {
        Some(raw) => parse_objects(raw),
        None if lty == "agent" => Ok(Vec::new()),
        None => Err(required_when(
            "RestoreObjects",
            "the destination is not a backup gateway",
        )),
    }
}

/// The fields a restore task records and echoes: the destination (never the password) and
/// the other options as sent.
fn task_fields(p: &Params, conflict: &str) -> BTreeMap<String, Value> {
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
    fields
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
        let objects = destination(p, ty, &db_type)?;
        let conflict = p.opt("DuplicateConflict").unwrap_or("failure");
        if !matches!(conflict, "failure" | "renamenew") {
            return Err(invalid("DuplicateConflict"));
        }
        let (set, time) = self.restore_point(p, plan_id, now)?;
        if self
            .restore_tasks
            .iter()
            .any(|t| t.plan_id == plan_id && t.name == name)
        {
            return Err(invalid_msg(format!(
                "A restore task named {name} already exists in backup plan {plan_id}."
            )));
        }
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
            fields: task_fields(p, conflict),
            success_status: success.to_owned(),
        });
        Ok(obj([("RestoreTaskId", json!(id))]))
    }

    /// What a restore task of plan `plan_id` restores: exactly one of `BackupSetId` (a
    /// finished full backup set of the plan) and `RestoreTime` (inside the restorable range).
    fn restore_point<'a>(
        &self,
        p: &'a Params,
        plan_id: &str,
        now: i64,
    ) -> Result<(Option<&'a str>, Option<i64>), ApiError> {
        let set = p.opt("BackupSetId");
        let time = p.int("RestoreTime", invalid)?;
        match (set, time) {
            (None, None) => Err(ApiError::product(
                400,
                "Param.NotFound",
                "One of the parameters BackupSetId and RestoreTime is required.",
            )),
            (Some(_), Some(_)) => Err(invalid_msg(
                "BackupSetId and RestoreTime are mutually exclusive.".into(),
            )),
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
                Ok((set, time))
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
                Ok((set, time))
            }
        }
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
        if running(task, now)? {
            // Already running: nothing more to start.
            return Ok(obj([("RestoreTaskId", json!(id))]));
        }
        let precheck = self.precheck(task, now, rds, ecs);
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

    /// The pre-check of a started task: the destination exists, and no target database
    /// exists unless `DuplicateConflict=renamenew`. The failure message, if it fails.
    fn precheck(
        &self,
        task: &DbsRestoreTask,
        now: i64,
        rds: &RdsState,
        ecs: &[String],
    ) -> Option<String> {
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
        if lty == "rds" && !rds.instances.contains_key(&dest) {
            return Some(format!(
                "Precheck failed: the destination RDS instance {dest} does not exist or is not accessible."
            ));
        }
        if lty == "ecs" && !ecs.contains(&dest) {
            return Some(format!(
                "Precheck failed: the destination ECS instance {dest} does not exist or is not accessible."
            ));
        }
        if task.duplicate_conflict != "failure" {
            return None;
        }
        let taken: Vec<&str> = task
            .objects
            .iter()
            .filter(|o| self.db_exists(task, &o.new_db, now, rds))
            .map(|o| o.new_db.as_str())
            .collect();
        (!taken.is_empty()).then(|| {
            format!(
                "Precheck failed: the databases exist at the destination: {} (DuplicateConflict=failure).",
                taken.join(", ")
            )
        })
    }
}

/// Whether a started task is running (so starting it again changes nothing); a task that
/// failed its pre-check or was paused is started again, and an ended one is refused.
fn running(task: &DbsRestoreTask, now: i64) -> Result<bool, ApiError> {
    let (st, _, err) = task.status(now);
    let precheck_failed = st == "init" && !err.is_empty();
    if task.started_ms.is_some() && !precheck_failed && st != "pause" {
        if task.ended(now) {
            return Err(invalid_msg(format!(
                "The restore task {} has already ended ({st}).",
                task.id
            )));
        }
        return Ok(true);
    }
    Ok(false)
}
