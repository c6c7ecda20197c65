//! DBS (Database Backup) `2019-03-06` restore operations: `CreateRestoreTask`,
//! `StartRestoreTask`, `DescribeRestoreTaskList`, `DescribeRestoreRangeInfo`, and
//! `DescribeJobErrorCode` (the reason a restore task or full backup set failed).
//!
//! A restore task is created (`init`), then started; it runs `init` (pre-check) →
//! `check_pass` → `running` → the success status (`finish` by default; no success value is
//! documented, see [`crate::EmulatorConfig::with_dbs_restore_success_status`]), or `stop`
//! (failed) / `pause` (`StopBackupPlan(StopMethod=ALL)`). A failed pre-check leaves it `init`
//! with an `ErrMessage`. There is no per-task cancel, as in the API. Times are epoch ms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Params, obj, rand_alnum};
use crate::dbs::DbsState;
use crate::rds::RdsState;
use crate::scenario::{Scenario, take, target_matches};

/// Emulated DBS restore actions.
pub const RESTORE_ACTIONS: &[&str] = &[
    "CreateRestoreTask",
    "StartRestoreTask",
    "DescribeRestoreTaskList",
    "DescribeRestoreRangeInfo",
    "DescribeJobErrorCode",
];

/// Fractions of the job duration (from `StartRestoreTask`) at which the task leaves the
/// pre-check (`init`), leaves `check_pass`, and fails when a failure is injected.
const PRECHECK_END: f64 = 0.1;
const CHECK_PASS_END: f64 = 0.2;
const FAIL_AT: f64 = 0.6;

/// What a restore writes: `DBName` restored as `NewDBName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbsRestoreObject {
    /// Source database.
    pub db: String,
    /// Target database.
    pub new_db: String,
}

/// One restore task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbsRestoreTask {
    /// `RestoreTaskId`.
    pub id: String,
    /// `RestoreTaskName`.
    pub name: String,
    /// `BackupPlanId`.
    pub plan_id: String,
    /// `BackupSetId`, when restored from a full backup set.
    pub backup_set_id: Option<String>,
    /// `RestoreTime` (ms), when restored to a point in time.
    pub restore_time_ms: Option<i64>,
    /// `CreateRestoreTask` time (emulator ms).
    pub created_ms: i64,
    /// `StartRestoreTask` time (emulator ms); none = not started.
    pub started_ms: Option<i64>,
    /// Duration from the start (ms).
    pub duration_ms: i64,
    /// Pre-check failure (the task stays `init` with this `ErrMessage`).
    pub precheck_fail: Option<String>,
    /// Injected failure while running (`stop` with this `ErrMessage`).
    pub fail: Option<String>,
    /// Paused by `StopBackupPlan(StopMethod=ALL)` at this time.
    pub paused_ms: Option<i64>,
    /// `DuplicateConflict` (`failure` when omitted).
    pub duplicate_conflict: String,
    /// Databases restored.
    pub objects: Vec<DbsRestoreObject>,
    /// `RestoreObjects` as sent.
    pub restore_objects: String,
    /// Destination and other echoed fields (never the password).
    pub fields: BTreeMap<String, Value>,
    /// The success `RestoreStatus` (configurable; `finish` by default).
    pub success_status: String,
}

impl DbsRestoreTask {
    fn frac(&self, start: i64, t: i64) -> f64 {
        (t - start) as f64 / self.duration_ms.max(1) as f64
    }

    /// `(RestoreStatus, progress percent, ErrMessage)` at `now`.
    pub fn status(&self, now: i64) -> (String, u32, String) {
        let Some(start) = self.started_ms else {
            return ("init".into(), 0, String::new());
        };
        let natural = |t: i64| -> (String, u32, String) {
            let f = self.frac(start, t);
            if f < PRECHECK_END {
                return ("init".into(), 0, String::new());
            }
            if let Some(m) = &self.precheck_fail {
                return ("init".into(), 0, m.clone());
            }
            if f < CHECK_PASS_END {
                return ("check_pass".into(), 0, String::new());
            }
            if let Some(m) = &self.fail
                && f >= FAIL_AT
            {
                return ("stop".into(), (FAIL_AT * 100.0) as u32, m.clone());
            }
            if f < 1.0 {
                let pct = ((f - CHECK_PASS_END) / (1.0 - CHECK_PASS_END) * 100.0) as u32;
                return ("running".into(), pct.min(99), String::new());
            }
            (self.success_status.clone(), 100, String::new())
        };
        if let Some(p) = self.paused_ms
            && now >= p
        {
            let (st, pct, err) = natural(p);
            if matches!(st.as_str(), "init" | "check_pass" | "running") && err.is_empty() {
                return (
                    "pause".into(),
                    pct,
                    "The restore task was paused by StopBackupPlan.".into(),
                );
            }
        }
        natural(now)
    }

    /// Whether the task has ended: success, `stop`, or a failed pre-check.
    pub fn ended(&self, now: i64) -> bool {
        let (st, _, err) = self.status(now);
        st == self.success_status || st == "stop" || (st == "init" && !err.is_empty())
    }

    /// Whether the task is started and has not ended or been paused.
    pub fn active(&self, now: i64) -> bool {
        self.started_ms.is_some() && !self.ended(now) && self.status(now).0 != "pause"
    }

    fn finish_ms(&self, now: i64) -> Option<i64> {
        let start = self.started_ms?;
        let (st, _, err) = self.status(now);
        let f = if st == self.success_status {
            1.0
        } else if st == "stop" {
            FAIL_AT
        } else if st == "init" && !err.is_empty() {
            PRECHECK_END
        } else {
            return None;
        };
        Some(start + (self.duration_ms as f64 * f) as i64)
    }

    /// The task as `DescribeRestoreTaskList` lists it.
    pub fn json(&self, now: i64) -> Value {
        let (st, pct, err) = self.status(now);
        let pct = i64::from(pct);
        let mut m: Map<String, Value> = self.fields.clone().into_iter().collect();
        let dest = json!({
            "InstanceType": self.fields.get("DestinationEndpointInstanceType").cloned().unwrap_or(json!("")),
            "InstanceID": self.fields.get("DestinationEndpointInstanceID").cloned().unwrap_or(json!("")),
            "Region": self.fields.get("DestinationEndpointRegion").cloned().unwrap_or(json!("")),
            "Host": self.fields.get("DestinationEndpointIP").cloned().unwrap_or(json!("")),
            "Port": self.fields.get("DestinationEndpointPort").cloned().unwrap_or(json!("")),
            "IpPort": "",
            "DatabaseName": self.fields.get("DestinationEndpointDatabaseName").cloned().unwrap_or(json!("")),
            "UserName": self.fields.get("DestinationEndpointUserName").cloned().unwrap_or(json!("")),
            "OracleSID": self.fields.get("DestinationEndpointOracleSID").cloned().unwrap_or(json!("")),
            "EnableSsl": self.fields.get("EnableDestinationEndpointSsl").cloned().unwrap_or(json!(false)),
        });
        for (k, v) in [
            ("RestoreTaskId", json!(self.id)),
            ("RestoreTaskName", json!(self.name)),
            ("RestoreStatus", json!(st)),
            ("BackupPlanId", json!(self.plan_id)),
            (
                "BackupSetId",
                json!(self.backup_set_id.clone().unwrap_or_default()),
            ),
            ("RestoreTime", json!(self.restore_time_ms.unwrap_or(0))),
            ("RestoreObjects", json!(self.restore_objects)),
            ("RestoreTaskCreateTime", json!(self.created_ms)),
            (
                "RestoreTaskFinishTime",
                json!(self.finish_ms(now).unwrap_or(0)),
            ),
            ("ErrMessage", json!(err)),
            ("DestinationEndpoint", dest),
            ("FullDataRestoreProgress", json!(pct)),
            (
                "FullStruforeRestoreProgress",
                json!(if pct > 0 { 100 } else { 0 }),
            ),
            (
                "FullStruAfterRestoreProgress",
                json!(if pct >= 100 { 100 } else { 0 }),
            ),
            (
                "ContinuousRestoreProgress",
                json!(if self.restore_time_ms.is_some() {
                    pct
                } else {
                    0
                }),
            ),
            ("PhysicalBackupRecoverProgress", json!(0)),
            ("PhysicalFullBackupRecoverProgress", json!(0)),
            ("PhysicalIncrementBackupRecoverProgress", json!(0)),
            ("PhysicalFullAndIncrementBackupRecoverProgress", json!(0)),
            ("PhysicalDatabaseOnlineProgress", json!(0)),
        ] {
            m.insert(k.into(), v);
        }
        Value::Object(m)
    }
}

fn invalid(k: &str) -> ApiError {
    ApiError::product(
        400,
        "InvalidParameterValid",
        format!("The specified parameter {k} value is not valid."),
    )
}

fn invalid_msg(msg: String) -> ApiError {
    ApiError::product(400, "InvalidParameterValid", msg)
}

fn required_when(k: &str, when: &str) -> ApiError {
    ApiError::product(
        400,
        "Param.NotFound",
        format!("The parameter {k} is required when {when}."),
    )
}

fn no_task(id: &str) -> ApiError {
    ApiError::product(
        404,
        "InvalidJobId",
        format!("The specified restore task {id} does not exist."),
    )
}

/// Parses `RestoreObjects`: `[{"DBName": "<src>", "NewDBName": "<target>"}]`.
fn parse_objects(raw: &str) -> Result<Vec<DbsRestoreObject>, ApiError> {
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
    /// Applies a restore scenario to an unfinished task.
    pub(crate) fn apply_restore_now(&mut self, s: &Scenario, now: i64) -> bool {
        let Scenario::DbsRestoreFailure {
            target: target @ Some(_),
            err_message,
        } = s
        else {
            return false;
        };
        for t in self.restore_tasks.iter_mut() {
            if t.fail.is_none()
                && !t.ended(now)
                && target_matches(target, &[&t.id, &t.plan_id, &t.name])
            {
                t.fail = Some(err_message.clone());
                return true;
            }
        }
        false
    }

    /// Pauses the unfinished restore tasks of a plan (`StopBackupPlan(StopMethod=ALL)`).
    pub(crate) fn pause_restores(&mut self, plan_id: &str, now: i64) {
        for t in self.restore_tasks.iter_mut() {
            if t.plan_id == plan_id && t.active(now) && t.paused_ms.is_none() {
                t.paused_ms = Some(now);
            }
        }
    }

    /// Dispatches one DBS restore action (after the `ClientToken` check of `handle`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_restore(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
        success: &str,
    ) -> Option<ApiResult> {
        Some(match action {
            "CreateRestoreTask" => self.create_restore(p, now, job_ms, success),
            "StartRestoreTask" => self.start_restore(p, now, pending, rds, ecs),
            "DescribeRestoreTaskList" => self.describe_restores(p, now),
            "DescribeRestoreRangeInfo" => self.range_info(p, now),
            "DescribeJobErrorCode" => self.job_error_code(p, now),
            _ => return None,
        })
    }

    /// Finish times (ms) of the plan's finished full backup sets, with their ids and starts.
    fn finished_sets(&self, plan_id: &str, now: i64) -> Vec<(String, i64, i64)> {
        self.sets
            .iter()
            .filter(|s| s.plan_id == plan_id)
            .filter(|s| matches!(s.status(now), Some(("finish", _, _))))
            .map(|s| (s.id.clone(), s.start_ms, s.start_ms + s.duration_ms))
            .collect()
    }

    /// The plan's point-in-time range: from the end of its oldest finished full backup set to
    /// now (log backup is taken as on).
    pub fn restore_range(&self, plan_id: &str, now: i64) -> Option<(i64, i64)> {
        let begin = self
            .finished_sets(plan_id, now)
            .iter()
            .map(|(_, _, end)| *end)
            .min()?;
        (begin <= now).then_some((begin, now))
    }

    fn create_restore(&mut self, p: &Params, now: i64, job_ms: i64, success: &str) -> ApiResult {
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

    fn start_restore(
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

    fn describe_restores(&self, p: &Params, now: i64) -> ApiResult {
        let plan = p.opt("BackupPlanId");
        let ids: Option<Vec<&str>> = p
            .opt("RestoreTaskId")
            .map(|s| s.split(',').map(str::trim).collect());
        match (plan, &ids) {
            (Some(_), Some(_)) => {
                return Err(invalid_msg(
                    "Specify either RestoreTaskId or BackupPlanId, not both.".into(),
                ));
            }
            (None, None) => {
                return Err(ApiError::product(
                    400,
                    "Param.NotFound",
                    "One of the parameters BackupPlanId and RestoreTaskId is required.",
                ));
            }
            (Some(pid), None) => {
                self.plan(pid)?;
            }
            _ => {}
        }
        let (page, size) = Self::paging(p, None)?;
        let start = p.int("StartTimestamp", invalid)?;
        let end = p.int("EndTimestamp", invalid)?;
        let all: Vec<Value> = self
            .restore_tasks
            .iter()
            .rev()
            .filter(|t| plan.is_none_or(|pid| t.plan_id == pid))
            .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.id.as_str())))
            .filter(|t| self.plan(&t.plan_id).is_ok())
            .filter(|t| {
                start.is_none_or(|s| t.created_ms >= s) && end.is_none_or(|e| t.created_ms <= e)
            })
            .map(|t| t.json(now))
            .collect();
        Ok(Self::page_out(
            "Items",
            "RestoreTaskDetail",
            all,
            page,
            size,
        ))
    }

    /// `DescribeJobErrorCode`: the state and error of a restore task or a full backup set.
    fn job_error_code(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("TaskId")?;
        let lang = p.opt("Language").unwrap_or("en");
        if !matches!(lang, "en" | "cn") {
            return Err(invalid("Language"));
        }
        let (state, ty, err, code) = if let Some(t) = self
            .restore_tasks
            .iter()
            .find(|t| t.id == id && self.plan(&t.plan_id).is_ok())
        {
            let (st, _, err) = t.status(now);
            let code = match st.as_str() {
                "init" if !err.is_empty() => "PrecheckFailed",
                "stop" => "RestoreFailed",
                "pause" => "RestorePaused",
                _ => "",
            };
            (st, "RESTORE", err, code)
        } else if let Some(s) = self
            .sets
            .iter()
            .find(|s| s.id == id && self.plan(&s.plan_id).is_ok())
        {
            let (st, _, err) = s.status(now).unwrap_or(("schedule", 0, String::new()));
            let code = match st {
                "failed" => "BackupFailed",
                "stop" => "BackupStopped",
                _ => "",
            };
            (st.to_owned(), "FULL_BACKUP", err, code)
        } else {
            return Err(ApiError::product(
                404,
                "InvalidJobId",
                format!("The specified job {id} does not exist."),
            ));
        };
        Ok(obj([(
            "Item",
            json!({
                "JobId": id,
                "JobState": state,
                "JobType": ty,
                "ErrorCode": code,
                "ErrorMessage": err,
                "Language": lang,
            }),
        )]))
    }

    fn range_info(&self, p: &Params, now: i64) -> ApiResult {
        let plan_id = p.req("BackupPlanId")?;
        let begin = p
            .int("BeginTimestampForRestore", invalid)?
            .ok_or_else(|| ApiError::missing("BeginTimestampForRestore"))?;
        let end = p
            .int("EndTimestampForRestore", invalid)?
            .ok_or_else(|| ApiError::missing("EndTimestampForRestore"))?;
        if end < begin {
            return Err(invalid("EndTimestampForRestore"));
        }
        p.bool("RecentlyRestore", invalid)?;
        let plan = self.plan(plan_id)?;
        let field = |k: &str| plan.fields.get(k).cloned().unwrap_or(json!(""));
        let mut items = Vec::new();
        if let Some((b, e)) = self.restore_range(plan_id, now) {
            let (b, e) = (b.max(begin), e.min(end));
            if b <= e {
                let sets: Vec<Value> = self
                    .finished_sets(plan_id, now)
                    .into_iter()
                    .filter(|(_, _, fin)| *fin <= e)
                    .map(|(id, start, fin)| json!({ "BackupSetId": id, "StartTime": start, "EndTime": fin }))
                    .collect();
                items.push(json!({
                    "BeginTimestampForRestore": b,
                    "EndTimestampForRestore": e,
                    "RangeType": "point_in_time",
                    "SourceEndpointInstanceID": field("SourceEndpointInstanceID"),
                    "SourceEndpointInstanceType": field("SourceEndpointInstanceType"),
                    "BackupSource": {
                        "Host": field("SourceEndpointHost"),
                        "Port": field("SourceEndpointPort"),
                        "InstanceId": field("SourceEndpointInstanceID"),
                        "InstanceType": field("SourceEndpointInstanceType"),
                    },
                    "FullBackupList": { "FullBackupDetail": sets },
                }));
            }
        }
        Ok(obj([("Items", json!({ "DBSRecoverRange": items }))]))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn task() -> DbsRestoreTask {
        DbsRestoreTask {
            id: "s1".into(),
            name: "n".into(),
            plan_id: "p".into(),
            backup_set_id: Some("b".into()),
            restore_time_ms: None,
            created_ms: 0,
            started_ms: None,
            duration_ms: 1000,
            precheck_fail: None,
            fail: None,
            paused_ms: None,
            duplicate_conflict: "failure".into(),
            objects: Vec::new(),
            restore_objects: String::new(),
            fields: BTreeMap::new(),
            success_status: "finish".into(),
        }
    }

    #[test]
    fn status_sequence() {
        let mut t = task();
        assert_eq!(t.status(5000).0, "init");
        assert!(!t.ended(5000));
        t.started_ms = Some(0);
        let seq: Vec<String> = [0, 150, 500, 1000].iter().map(|n| t.status(*n).0).collect();
        assert_eq!(seq, ["init", "check_pass", "running", "finish"]);
        assert!(t.ended(1000));
        t.fail = Some("x".into());
        assert_eq!(t.status(700).0, "stop");
        t.precheck_fail = Some("exists".into());
        assert_eq!(t.status(700), ("init".into(), 0, "exists".into()));
        assert!(t.ended(700));
        let mut p = task();
        p.started_ms = Some(0);
        p.paused_ms = Some(500);
        assert_eq!(p.status(900).0, "pause");
        assert_eq!(p.status(400).0, "running");
    }

    #[test]
    fn restore_objects() {
        let o = parse_objects(r#"[{"DBName":"a","NewDBName":"b"},{"DBName":"c"}]"#).unwrap();
        assert_eq!(o[0].new_db, "b");
        assert_eq!(o[1].new_db, "c");
        assert!(parse_objects("[]").is_err());
        assert!(parse_objects(r#"[{"NewDBName":"b"}]"#).is_err());
    }
}
