//! ApsaraDB RDS `2014-08-15` restore operations: `CloneDBInstance` (a new instance from a
//! backup set or a point in time), `DescribeDBInstanceAttribute` and `DescribeDBInstances`
//! (track and adopt a clone), `DescribeLocalAvailableRecoveryTime` (the point-in-time window),
//! `RestoreTable` (databases/tables restored into the live source instance) and
//! `DescribeHistoryTasks` (the task centre, where a table restore is tracked).
//!
//! Behaviour the documentation leaves open is chosen to be the safest for the user's data and
//! is listed in the crate README ("Restore operations").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{
    ApiError, ApiResult, COMMON, Params, iso_seconds, obj, page as page_of, parse_utc_seconds,
    rand_alnum,
};
use crate::rds::{RdsInstance, RdsState, instance_not_found, invalid};
use crate::scenario::{Scenario, take, target_matches};

/// Emulated RDS restore actions.
pub const ACTIONS: &[&str] = &[
    "CloneDBInstance",
    "DescribeDBInstanceAttribute",
    "DescribeDBInstances",
    "DescribeLocalAvailableRecoveryTime",
    "RestoreTable",
    "DescribeHistoryTasks",
];

/// Storage types `CloneDBInstance` accepts.
const STORAGE_TYPES: &[&str] = &[
    "general_essd",
    "local_ssd",
    "cloud_ssd",
    "cloud_essd",
    "cloud_essd2",
    "cloud_essd3",
];

/// Fraction of the job duration at which a failed clone turns `Deleting`.
const CLONE_FAIL_AT: f64 = 0.6;
/// Fraction of the job duration at which a table restore leaves `Scheduled`.
const TASK_START_AT: f64 = 0.1;
/// Fraction of the job duration at which a failing table restore ends `Failed`.
const TASK_FAIL_AT: f64 = 0.25;
/// `DescribeHistoryTasks` looks back at most this far ("The earliest supported time is 30
/// days ago").
const HISTORY_WINDOW_MS: i64 = 30 * 86_400_000;
const DAY_MS: i64 = 86_400_000;

/// Instance attributes shown by `DescribeDBInstanceAttribute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceAttrs {
    /// `DBInstanceClass`.
    pub class: String,
    /// `DBInstanceStorage` (GB).
    pub storage: i64,
    /// `DBInstanceStorageType`.
    pub storage_type: String,
    /// `Category`.
    pub category: String,
    /// `PayType`.
    pub pay_type: String,
    /// `ZoneId`.
    pub zone_id: String,
    /// `InstanceNetworkType`.
    pub network_type: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// `VSwitchId`.
    pub vswitch_id: String,
    /// `DBInstanceDescription`.
    pub description: String,
    /// `DeletionProtection`.
    pub deletion_protection: bool,
    /// Creation time (emulator ms; 0 = seeded).
    pub created_ms: i64,
}

impl Default for InstanceAttrs {
    fn default() -> Self {
        Self {
            class: "mysql.n2.medium.1".into(),
            storage: 100,
            storage_type: "cloud_essd".into(),
            category: "HighAvailability".into(),
            pay_type: "Postpaid".into(),
            zone_id: "cn-hangzhou-i".into(),
            network_type: "VPC".into(),
            vpc_id: "vpc-emulator".into(),
            vswitch_id: "vsw-emulator".into(),
            description: String::new(),
            deletion_protection: false,
            created_ms: 0,
        }
    }
}

/// Where a cloned instance came from and its creation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneOrigin {
    /// Source `DBInstanceId`.
    pub source_id: String,
    /// `BackupId`, when cloned from a backup set.
    pub backup_id: Option<String>,
    /// `RestoreTime` (epoch ms), when cloned to a point in time.
    pub restore_time_ms: Option<i64>,
    /// `CloneDBInstance` time (emulator ms).
    pub created_ms: i64,
    /// Creation job duration (ms).
    pub duration_ms: i64,
    /// `OrderId`.
    pub order_id: String,
    /// Injected failure (`RdsCloneFailure`).
    pub fail: bool,
}

impl CloneOrigin {
    fn frac(&self, now: i64) -> f64 {
        if self.duration_ms <= 0 {
            return 1.0;
        }
        (now - self.created_ms) as f64 / self.duration_ms as f64
    }

    /// Whether the creation job has ended (Running, or gone after a failure).
    pub fn terminal(&self, now: i64) -> bool {
        self.frac(now) >= 1.0
    }
}

impl RdsInstance {
    /// `DBInstanceStatus` at `now`; `None` once a failed clone is gone. A clone is `Creating`
    /// for the job duration, then takes its stored status (`Running`); a failed clone turns
    /// `Deleting` at 60 % and is gone at the end.
    pub fn status_at(&self, now: i64) -> Option<&str> {
        match &self.clone {
            Some(c) if c.fail => {
                let f = c.frac(now);
                if f < CLONE_FAIL_AT {
                    Some("Creating")
                } else if f < 1.0 {
                    Some("Deleting")
                } else {
                    None
                }
            }
            Some(c) if c.frac(now) < 1.0 => Some("Creating"),
            _ => Some(self.status.as_str()),
        }
    }
}

/// A database or table of a `TableMeta` entry and the name it is restored to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreObject {
    /// Source object (`db` or `db.table`).
    pub name: String,
    /// Target object (`newdb` or `newdb.newtable`).
    pub newname: String,
}

/// A task of the task centre (`DescribeHistoryTasks`): one `RestoreTable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryTask {
    /// `TaskId`.
    pub id: String,
    /// `InstanceId`.
    pub instance_id: String,
    /// `TaskType` (`RestoreTable`; the real value is undocumented).
    pub task_type: String,
    /// `RestoreTable` time (emulator ms).
    pub created_ms: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// `BackupId`, when restored from a backup set.
    pub backup_id: Option<String>,
    /// `RestoreTime` (epoch ms), when restored to a point in time.
    pub restore_time_ms: Option<i64>,
    /// What is restored where.
    pub objects: Vec<RestoreObject>,
    /// Why the task fails (a target name exists, or an injected failure); none = succeeds.
    pub fail_reason: Option<String>,
}

/// Status and progress of a table restore at a point in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskStatus {
    /// `Status`: `Scheduled`, `Running`, `Succeed` or `Failed`.
    pub status: &'static str,
    /// `Progress` (percent).
    pub progress: f64,
}

impl HistoryTask {
    fn frac(&self, now: i64) -> f64 {
        if self.duration_ms <= 0 {
            return 1.0;
        }
        (now - self.created_ms) as f64 / self.duration_ms as f64
    }

    /// `Scheduled → Running → Succeed`, or `Failed` at 25 % when it fails.
    pub fn status(&self, now: i64) -> TaskStatus {
        let f = self.frac(now);
        if self.fail_reason.is_some() && f >= TASK_FAIL_AT {
            return TaskStatus {
                status: "Failed",
                progress: (TASK_FAIL_AT * 100.0).floor(),
            };
        }
        if f < TASK_START_AT {
            TaskStatus {
                status: "Scheduled",
                progress: 0.0,
            }
        } else if f < 1.0 {
            TaskStatus {
                status: "Running",
                progress: (f * 100.0).floor().min(99.0),
            }
        } else {
            TaskStatus {
                status: "Succeed",
                progress: 100.0,
            }
        }
    }

    /// Whether the task has ended.
    pub fn terminal(&self, now: i64) -> bool {
        matches!(self.status(now).status, "Succeed" | "Failed")
    }

    fn end_ms(&self) -> i64 {
        let f = if self.fail_reason.is_some() {
            TASK_FAIL_AT
        } else {
            1.0
        };
        self.created_ms + (self.duration_ms as f64 * f) as i64
    }

    fn json(&self, now: i64) -> Value {
        let st = self.status(now);
        let ended = self.terminal(now);
        let detail = json!({
            "BackupId": self.backup_id.clone().unwrap_or_default(),
            "RestoreTime": self.restore_time_ms.map(iso_seconds).unwrap_or_default(),
            "Objects": self.objects,
        });
        json!({
            "TaskId": self.id,
            "TaskType": self.task_type,
            "InstanceId": self.instance_id,
            "InstanceName": self.instance_id,
            "InstanceType": "Instance",
            "Status": st.status,
            "Progress": st.progress,
            "CurrentStepName": match st.status {
                "Scheduled" => "wait_start",
                "Running" => "restore_tables",
                _ => "finished",
            },
            "StartTime": iso_seconds(self.created_ms),
            "EndTime": if ended { iso_seconds(self.end_ms()) } else { String::new() },
            "RemainTime": if ended { 0 } else { ((self.created_ms + self.duration_ms - now) / 1000).max(0) },
            "ReasonCode": if st.status == "Failed" { "RestoreTargetExists" } else { "" },
            "TaskDetail": if st.status == "Failed" {
                json!({ "Reason": self.fail_reason, "Restore": detail }).to_string()
            } else {
                detail.to_string()
            },
            "ActionInfo": "{}",
            "DbType": "MySQL",
            "Product": "rds",
            "RegionId": "cn-hangzhou",
            "Uid": "",
            "CallerSource": "User",
            "CallerUid": "",
        })
    }
}

/// An idempotency token already used: the parameters of its first call and what it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenUse {
    /// The business parameters of the first call (canonical JSON).
    pub fingerprint: String,
    /// `DBInstanceId` (clone) or `TaskId` (table restore) made by the first call.
    pub result: String,
}

/// RDS restore bookkeeping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreBook {
    /// `RestoreTable` tasks, oldest first.
    pub tasks: Vec<HistoryTask>,
    /// `ClientToken` of `CloneDBInstance` calls.
    pub clone_tokens: BTreeMap<String, TokenUse>,
    /// `ClientToken` of `RestoreTable` calls.
    pub table_tokens: BTreeMap<String, TokenUse>,
    /// Next `OrderId` / `TaskId` number.
    pub next_seq: u64,
}

impl RestoreBook {
    /// JSON view of the table-restore tasks.
    pub fn view(&self, now: i64) -> Value {
        json!(self.tasks.iter().map(|t| t.json(now)).collect::<Vec<_>>())
    }

    fn seq(&mut self) -> u64 {
        self.next_seq = self.next_seq.max(20_000_000_000) + 1;
        self.next_seq
    }
}

fn msg(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::product(status, code, message)
}

fn incorrect_state() -> ApiError {
    msg(
        403,
        "IncorrectDBInstanceState",
        "The operation is not permitted due to status of instance.",
    )
}

fn mismatch() -> ApiError {
    msg(
        400,
        "IdempotentParameterMismatch",
        "The ClientToken was used before with different request parameters.",
    )
}

/// The business parameters of a call as canonical JSON (signature and protocol parameters
/// left out), to compare the calls made with one `ClientToken`.
fn fingerprint(p: &Params) -> String {
    let m: BTreeMap<&String, &String> =
        p.0.iter()
            .filter(|(k, _)| !COMMON.contains(&k.as_str()) && k.as_str() != "RegionId")
            .collect();
    json!(m).to_string()
}

fn client_token(p: &Params) -> Result<Option<&str>, ApiError> {
    match p.opt("ClientToken") {
        Some(t) if t.len() > 64 || !t.is_ascii() => Err(invalid("ClientToken")),
        t => Ok(t),
    }
}

/// Parses an RDS `RestoreTime` (`yyyy-MM-ddTHH:mm:ssZ`, UTC, seconds required).
fn restore_time(p: &Params) -> Result<Option<i64>, ApiError> {
    let Some(s) = p.opt("RestoreTime") else {
        return Ok(None);
    };
    parse_utc_seconds(s).map(Some).ok_or_else(|| {
        msg(
            400,
            "InvalidUtcDateFormat.Format",
            "Specified UTC date format is not valid, it must be yyyy-MM-ddTHH:mm:ssZ.",
        )
    })
}

/// Exactly one of `BackupId` / `RestoreTime`.
fn one_source(p: &Params) -> Result<(Option<&str>, Option<i64>), ApiError> {
    let backup = p.opt("BackupId");
    let time = restore_time(p)?;
    match (backup, time) {
        (None, None) => Err(msg(
            400,
            "InvalidParameter",
            "You must specify at least one of the BackupId and RestoreTime parameters.",
        )),
        (Some(_), Some(_)) => Err(msg(
            400,
            "InvalidParameter",
            "Specify only one of the BackupId and RestoreTime parameters.",
        )),
        (b, t) => Ok((b, t)),
    }
}

/// Parses `TableMeta` into (source, target) object pairs.
fn parse_table_meta(raw: &str, engine: &str) -> Result<Vec<RestoreObject>, ApiError> {
    let bad = || invalid("TableMeta");
    let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let dbs = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
    let name_of = |o: &Value, key: &str| -> Option<String> {
        o.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.contains('.'))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for db in dbs {
        if db.get("type").and_then(Value::as_str) != Some("db") {
            return Err(bad());
        }
        let name = name_of(db, "name").ok_or_else(bad)?;
        // No `newname` means the original name: a restore over the existing database.
        let newname = name_of(db, "newname").unwrap_or_else(|| name.clone());
        let tables = match db.get("tables") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad()),
        };
        if tables.is_empty() {
            out.push(RestoreObject { name, newname });
            continue;
        }
        if engine.eq_ignore_ascii_case("PostgreSQL") {
            // "ApsaraDB RDS for PostgreSQL supports only the restoration of specific
            // databases, not specific tables".
            return Err(msg(
                400,
                "InvalidParameter",
                "PostgreSQL supports only the restoration of specific databases, not specific tables.",
            ));
        }
        for t in &tables {
            if t.get("type").and_then(Value::as_str) != Some("table") {
                return Err(bad());
            }
            let tname = name_of(t, "name").ok_or_else(bad)?;
            let tnew = name_of(t, "newname").unwrap_or_else(|| tname.clone());
            out.push(RestoreObject {
                name: format!("{name}.{tname}"),
                newname: format!("{newname}.{tnew}"),
            });
        }
    }
    Ok(out)
}

impl RdsState {
    /// Applies a restore scenario to an in-progress clone or table restore.
    pub(crate) fn apply_restore_now(&mut self, s: &Scenario, now: i64) -> bool {
        match s {
            Scenario::RdsCloneFailure { target } if target.is_some() => {
                for i in self.instances.values_mut() {
                    let id = i.id.clone();
                    if let Some(c) = i.clone.as_mut()
                        && target_matches(target, &[&id, &c.source_id])
                        && !c.terminal(now)
                    {
                        c.fail = true;
                        return true;
                    }
                }
                false
            }
            Scenario::RdsRestoreTableFailure { target, reason } if target.is_some() => {
                for t in self.restore.tasks.iter_mut() {
                    if target_matches(target, &[&t.id, &t.instance_id]) && !t.terminal(now) {
                        t.fail_reason = Some(reason.clone());
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// Dispatches one RDS restore action.
    pub(crate) fn handle_restore(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CloneDBInstance" => self.clone_db_instance(p, now, job_ms, pending),
            "DescribeDBInstanceAttribute" => self.describe_attribute(p, now),
            "DescribeDBInstances" => self.describe_instances(p, now),
            "DescribeLocalAvailableRecoveryTime" => self.recovery_time(p, now),
            "RestoreTable" => self.restore_table(p, now, job_ms, pending),
            "DescribeHistoryTasks" => self.describe_history_tasks(p, now),
            _ => return None,
        })
    }

    /// The instance, if it exists at `now` (a failed clone that is gone does not).
    fn live(&self, id: &str, now: i64) -> Option<&RdsInstance> {
        self.instances
            .get(id)
            .filter(|i| i.status_at(now).is_some())
    }

    /// The point-in-time window of an instance at `now`: from the end of its oldest
    /// successful, unexpired, undeleted backup set to now (log backup is always on).
    pub fn recovery_window(&self, id: &str, now: i64) -> Option<(i64, i64)> {
        let begin = self
            .tasks
            .iter()
            .filter(|t| t.instance_id == id && !t.deleted)
            .filter(|t| t.progress(now).status == "Finished")
            .filter(|t| t.retention_days < 0 || t.end_ms() + t.retention_days * DAY_MS > now)
            .map(|t| t.end_ms())
            .min()?;
        let end = now - now.rem_euclid(1000);
        (begin <= end).then_some((begin, end))
    }

    /// A successful, undeleted backup set `backup_id` of instance `id`.
    fn has_backup(&self, id: &str, backup_id: &str, now: i64) -> bool {
        self.tasks.iter().any(|t| {
            t.instance_id == id
                && !t.deleted
                && t.backup_id.to_string() == backup_id
                && t.progress(now).status == "Finished"
        })
    }

    /// Checks the restore source of `CloneDBInstance` / `RestoreTable` on instance `id`.
    fn check_source(
        &self,
        id: &str,
        backup: Option<&str>,
        time: Option<i64>,
        now: i64,
    ) -> Result<(), ApiError> {
        if let Some(b) = backup
            && !self.has_backup(id, b, now)
        {
            return Err(msg(
                404,
                "InvalidBackupId.NotFound",
                format!("The specified backup set {b} does not exist."),
            ));
        }
        if let Some(t) = time {
            let inside = self
                .recovery_window(id, now)
                .is_some_and(|(b, e)| b <= t && t <= e);
            if !inside {
                return Err(msg(
                    400,
                    "InvalidRestoreTime",
                    "The specified RestoreTime is outside the time range available for restoration (see DescribeLocalAvailableRecoveryTime).",
                ));
            }
        }
        Ok(())
    }

    fn clone_db_instance(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let src_id = p.req("DBInstanceId")?;
        let pay_type = p.req("PayType")?;
        let token = client_token(p)?;
        if let Some(t) = token
            && let Some(used) = self.restore.clone_tokens.get(t)
        {
            // Same token: the answer of the first call, whatever happened since.
            if used.fingerprint != fingerprint(p) {
                return Err(mismatch());
            }
            let order = self
                .instances
                .get(&used.result)
                .and_then(|i| i.clone.as_ref())
                .map(|c| c.order_id.clone())
                .unwrap_or_default();
            return Ok(clone_answer(&used.result, &order));
        }
        if !matches!(pay_type, "Postpaid" | "Prepaid" | "Serverless") {
            return Err(invalid("PayType"));
        }
        if pay_type == "Prepaid" {
            let period = p.req("Period")?;
            let used = p
                .int("UsedTime", invalid)?
                .ok_or_else(|| ApiError::missing("UsedTime"))?;
            let ok = match period {
                "Year" => (1..=3).contains(&used),
                "Month" => (1..=9).contains(&used),
                _ => return Err(invalid("Period")),
            };
            if !ok {
                return Err(invalid("UsedTime"));
            }
        }
        let (backup, time) = one_source(p)?;
        p.choice("BackupType", &["FullBackup", "IncrementalBackup"], invalid)?;
        p.choice("DBInstanceStorageType", STORAGE_TYPES, invalid)?;
        p.choice("InstanceNetworkType", &["VPC", "Classic"], invalid)?;
        if let Some(d) = p.opt("DBInstanceDescription")
            && !(2..=255).contains(&d.chars().count())
        {
            return Err(invalid("DBInstanceDescription"));
        }
        let deletion_protection = p.bool("DeletionProtection", invalid)?.unwrap_or(false);
        p.bool("AutoPay", invalid)?;
        let storage = p.int("DBInstanceStorage", invalid)?;
        if storage.is_some_and(|s| s <= 0 || s % 5 != 0) {
            return Err(invalid("DBInstanceStorage"));
        }
        let mut tags = BTreeMap::new();
        for i in 1..=21 {
            let key = p.opt(&format!("Tag.{i}.Key"));
            let value = p.raw(&format!("Tag.{i}.Value")).unwrap_or("");
            match key {
                Some(_) if i > 20 => return Err(invalid(&format!("Tag.{i}.Key"))),
                Some(k) => {
                    tags.insert(k.to_owned(), value.to_owned());
                }
                None => break,
            }
        }
        let src = self
            .live(src_id, now)
            .ok_or_else(|| instance_not_found(404))?;
        if src.status_at(now) != Some("Running") {
            return Err(incorrect_state());
        }
        if storage.is_some_and(|s| s < src.attrs.storage) {
            return Err(msg(
                400,
                "NotSupportReduceDiskSize",
                "The storage of the new instance cannot be less than that of the source.",
            ));
        }
        self.check_source(src_id, backup, time, now)?;
        let src = src.clone();
        let new_id = loop {
            let id = format!("rm-{}", rand_alnum(17));
            if !self.instances.contains_key(&id) {
                break id;
            }
        };
        let order_id = self.restore.seq().to_string();
        let fail = take(pending, |s| match s {
            Scenario::RdsCloneFailure { target } if target_matches(target, &[src_id]) => Some(()),
            _ => None,
        })
        .is_some();
        let mut attrs = src.attrs.clone();
        attrs.created_ms = now;
        attrs.pay_type = pay_type.to_owned();
        attrs.deletion_protection = deletion_protection;
        attrs.description = p.opt("DBInstanceDescription").unwrap_or("").to_owned();
        if let Some(s) = storage {
            attrs.storage = s;
        }
        let set = |field: &mut String, key: &str| {
            if let Some(v) = p.opt(key) {
                *field = v.to_owned();
            }
        };
        set(&mut attrs.class, "DBInstanceClass");
        set(&mut attrs.storage_type, "DBInstanceStorageType");
        set(&mut attrs.zone_id, "ZoneId");
        set(&mut attrs.network_type, "InstanceNetworkType");
        set(&mut attrs.vpc_id, "VPCId");
        set(&mut attrs.vswitch_id, "VSwitchId");
        self.instances.insert(
            new_id.clone(),
            RdsInstance {
                id: new_id.clone(),
                status: "Running".into(),
                engine: src.engine.clone(),
                engine_version: src.engine_version.clone(),
                clone: Some(CloneOrigin {
                    source_id: src_id.to_owned(),
                    backup_id: backup.map(str::to_owned),
                    restore_time_ms: time,
                    created_ms: now,
                    duration_ms: job_ms,
                    order_id: order_id.clone(),
                    fail,
                }),
                attrs,
                tags,
                objects: BTreeSet::new(),
            },
        );
        if let Some(t) = token {
            self.restore.clone_tokens.insert(
                t.to_owned(),
                TokenUse {
                    fingerprint: fingerprint(p),
                    result: new_id.clone(),
                },
            );
        }
        Ok(clone_answer(&new_id, &order_id))
    }

    fn describe_attribute(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        p.choice("Expired", &["True", "False"], invalid)?;
        let i = self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        let a = &i.attrs;
        let item = json!({
            "DBInstanceId": i.id,
            "DBInstanceStatus": i.status_at(now).unwrap_or("Released"),
            "Engine": i.engine,
            "EngineVersion": i.engine_version,
            "DBInstanceClass": a.class,
            "DBInstanceStorage": a.storage,
            "DBInstanceStorageType": a.storage_type,
            "Category": a.category,
            "PayType": a.pay_type,
            "ZoneId": a.zone_id,
            "VpcId": a.vpc_id,
            "VSwitchId": a.vswitch_id,
            "InstanceNetworkType": a.network_type,
            "DBInstanceDescription": a.description,
            "DBInstanceType": "Primary",
            "CreationTime": iso_seconds(if a.created_ms > 0 { a.created_ms } else { now - 30 * DAY_MS }),
            "ExpireTime": "",
            "LockMode": "Unlock",
            "LockReason": "",
            "DeletionProtection": a.deletion_protection,
            "MasterInstanceId": "",
            "TempDBInstanceId": "",
            "GuardDBInstanceId": "",
            "ResourceGroupId": "rg-emulator",
            "RegionId": "cn-hangzhou",
            "ConnectionString": format!("{}.mysql.rds.aliyuncs.com", i.id),
            "Port": "3306",
        });
        Ok(obj([("Items", json!({ "DBInstanceAttribute": [item] }))]))
    }

    fn describe_instances(&self, p: &Params, now: i64) -> ApiResult {
        p.req("RegionId")?;
        let tags: Option<BTreeMap<String, String>> = match p.opt("Tags") {
            None => None,
            Some(raw) => {
                let m: BTreeMap<String, String> =
                    serde_json::from_str(raw).map_err(|_| invalid("Tags"))?;
                if m.len() > 5 {
                    return Err(invalid("Tags"));
                }
                Some(m)
            }
        };
        p.choice(
            "DBInstanceType",
            &["Primary", "Readonly", "Guard", "Temp"],
            invalid,
        )?;
        let ids: Option<Vec<&str>> = p
            .opt("DBInstanceId")
            .map(|s| s.split(',').map(str::trim).collect());
        let search = p.opt("SearchKey");
        let mut all: Vec<Value> = Vec::new();
        for i in self.instances.values() {
            let Some(status) = i.status_at(now) else {
                continue;
            };
            if ids.as_ref().is_some_and(|ids| !ids.contains(&i.id.as_str()))
                || p.opt("DBInstanceStatus").is_some_and(|s| s != status)
                || p.opt("Engine").is_some_and(|e| !e.eq_ignore_ascii_case(&i.engine))
                || p.opt("DBInstanceType").is_some_and(|t| t != "Primary")
                || search.is_some_and(|k| !i.id.contains(k) && !i.attrs.description.contains(k))
                // "If an instance matches any of the specified tags, the instance information
                // is returned".
                || tags.as_ref().is_some_and(|t| {
                    !t.iter().any(|(k, v)| i.tags.get(k) == Some(v))
                })
            {
                continue;
            }
            all.push(json!({
                "DBInstanceId": i.id,
                "DBInstanceDescription": i.attrs.description,
                "DBInstanceStatus": status,
                "DBInstanceType": "Primary",
                "DBInstanceClass": i.attrs.class,
                "DBInstanceStorageType": i.attrs.storage_type,
                "Engine": i.engine,
                "EngineVersion": i.engine_version,
                "PayType": i.attrs.pay_type,
                "ZoneId": i.attrs.zone_id,
                "VpcId": i.attrs.vpc_id,
                "VSwitchId": i.attrs.vswitch_id,
                "InstanceNetworkType": i.attrs.network_type,
                "CreateTime": iso_seconds(if i.attrs.created_ms > 0 { i.attrs.created_ms } else { now - 30 * DAY_MS }),
                "MasterInstanceId": "",
                "LockMode": "Unlock",
                "LockReason": "",
                "DeletionProtection": i.attrs.deletion_protection,
                "RegionId": "cn-hangzhou",
                "ResourceGroupId": "rg-emulator",
            }));
        }
        let total = all.len();
        if let Some(max) = p.int("MaxResults", invalid)? {
            // MaxResults/NextToken override PageSize/PageNumber; the total is the page's.
            if !(1..=100).contains(&max) {
                return Err(invalid("MaxResults"));
            }
            let skip = match p.opt("NextToken") {
                None => 0,
                Some(t) => t.parse::<usize>().map_err(|_| invalid("NextToken"))?,
            };
            let max = usize::try_from(max).unwrap_or(30);
            let items: Vec<Value> = all.into_iter().skip(skip).take(max).collect();
            let next = if skip + items.len() < total {
                (skip + items.len()).to_string()
            } else {
                String::new()
            };
            return Ok(obj([
                ("TotalRecordCount", json!(items.len())),
                ("Items", json!({ "DBInstance": items })),
                ("NextToken", json!(next)),
            ]));
        }
        let page = p.int("PageNumber", invalid)?.unwrap_or(1);
        let size = p.int("PageSize", invalid)?.unwrap_or(30);
        if page < 1 {
            return Err(invalid("PageNumber"));
        }
        if !(1..=100).contains(&size) {
            return Err(invalid("PageSize"));
        }
        let items = page_of(all, page - 1, size);
        Ok(obj([
            ("PageNumber", json!(page)),
            ("PageRecordCount", json!(items.len())),
            ("TotalRecordCount", json!(total)),
            ("Items", json!({ "DBInstance": items })),
            ("NextToken", json!("")),
        ]))
    }

    fn recovery_time(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        let (b, e) = match self.recovery_window(id, now) {
            Some((b, e)) => (iso_seconds(b), iso_seconds(e)),
            None => (String::new(), String::new()),
        };
        Ok(obj([
            ("DBInstanceId", json!(id)),
            ("RecoveryBeginTime", json!(b)),
            ("RecoveryEndTime", json!(e)),
        ]))
    }

    /// Whether database or table `name` exists in instance `id` at `now` (for DBS restores
    /// into an RDS instance).
    pub(crate) fn has_object(&self, id: &str, name: &str, now: i64) -> bool {
        self.live(id, now)
            .is_some_and(|i| self.object_exists(i, name, now))
    }

    /// Whether the object `name` (`db` or `db.table`) exists in the instance at `now`.
    fn object_exists(&self, inst: &RdsInstance, name: &str, now: i64) -> bool {
        let restored = self
            .restore
            .tasks
            .iter()
            .filter(|t| t.instance_id == inst.id && t.status(now).status == "Succeed");
        let mut known: BTreeSet<&str> = inst.objects.iter().map(String::as_str).collect();
        for t in restored {
            known.extend(t.objects.iter().map(|o| o.newname.as_str()));
        }
        let db = name.split('.').next().unwrap_or(name);
        known.contains(name)
            // A table target inside a restored database, or a database target that already
            // holds restored tables: taken as existing (the emulator cannot tell).
            || (name != db && known.contains(db))
            || known.iter().any(|k| k.strip_prefix(name).is_some_and(|r| r.starts_with('.')))
    }

    fn restore_table(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        let meta_raw = p.req("TableMeta")?;
        let token = client_token(p)?;
        if let Some(t) = token
            && let Some(used) = self.restore.table_tokens.get(t)
        {
            return if used.fingerprint == fingerprint(p) {
                Ok(obj([]))
            } else {
                Err(mismatch())
            };
        }
        let (backup, time) = one_source(p)?;
        p.bool("InstantRecovery", invalid)?;
        let inst = self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        if !inst.engine.eq_ignore_ascii_case("MySQL")
            && !inst.engine.eq_ignore_ascii_case("PostgreSQL")
        {
            return Err(msg(
                400,
                "IncorrectDBInstanceType",
                "The engine does not support restoring individual databases or tables.",
            ));
        }
        let objects = parse_table_meta(meta_raw, &inst.engine)?;
        if inst.status_at(now) != Some("Running") {
            return Err(incorrect_state());
        }
        if self
            .restore
            .tasks
            .iter()
            .any(|t| t.instance_id == id && !t.terminal(now))
        {
            return Err(msg(
                403,
                "ConcurrentTaskExceeded",
                "A restore task is already running on the instance.",
            ));
        }
        self.check_source(id, backup, time, now)?;
        // "The names that you want to use for the restored tables do not exist in the
        // instance." A target that exists (or the original name itself) fails the task, and
        // nothing is written.
        let taken: Vec<&str> = objects
            .iter()
            .filter(|o| o.newname == o.name || self.object_exists(inst, &o.newname, now))
            .map(|o| o.newname.as_str())
            .collect();
        let mut fail_reason = (!taken.is_empty()).then(|| {
            format!(
                "The names that you want to use for the restored objects exist in the instance: {}",
                taken.join(", ")
            )
        });
        let task_id = self.restore.seq().to_string();
        if let Some(r) = take(pending, |s| match s {
            Scenario::RdsRestoreTableFailure { target, reason }
                if target_matches(target, &[id]) =>
            {
                Some(reason.clone())
            }
            _ => None,
        }) {
            fail_reason.get_or_insert(r);
        }
        self.restore.tasks.push(HistoryTask {
            id: task_id.clone(),
            instance_id: id.to_owned(),
            task_type: "RestoreTable".into(),
            created_ms: now,
            duration_ms: job_ms,
            backup_id: backup.map(str::to_owned),
            restore_time_ms: time,
            objects,
            fail_reason,
        });
        if let Some(t) = token {
            self.restore.table_tokens.insert(
                t.to_owned(),
                TokenUse {
                    fingerprint: fingerprint(p),
                    result: task_id,
                },
            );
        }
        // "RequestId only. No task ID and no job ID".
        Ok(obj([]))
    }

    fn describe_history_tasks(&self, p: &Params, now: i64) -> ApiResult {
        let time = |k: &str| -> Result<i64, ApiError> {
            parse_utc_seconds(p.req(k)?).ok_or_else(|| {
                msg(
                    400,
                    "InvalidUtcDateFormat.Format",
                    format!("Specified {k} is not valid, it must be yyyy-MM-ddTHH:mm:ssZ."),
                )
            })
        };
        // An earlier start than 30 days ago is clamped.
        let from = time("FromStartTime")?.max(now - HISTORY_WINDOW_MS);
        let to = time("ToStartTime")?;
        let list = |k: &str| -> Result<Option<Vec<String>>, ApiError> {
            match p.opt(k) {
                None => Ok(None),
                Some(s) => {
                    let v: Vec<String> = s.split(',').map(|x| x.trim().to_owned()).collect();
                    if v.len() > 30 {
                        return Err(invalid(k));
                    }
                    Ok(Some(v))
                }
            }
        };
        let instances = list("InstanceId")?;
        let task_ids = list("TaskId")?;
        let types = list("TaskType")?;
        let statuses = list("Status")?;
        p.choice("InstanceType", &["Instance"], invalid)?;
        let page = p.int("PageNumber", invalid)?.unwrap_or(1);
        let size = p.int("PageSize", invalid)?.unwrap_or(10);
        if page < 1 {
            return Err(invalid("PageNumber"));
        }
        if !(10..=100).contains(&size) {
            return Err(invalid("PageSize"));
        }
        let has =
            |l: &Option<Vec<String>>, v: &str| l.as_ref().is_none_or(|l| l.iter().any(|x| x == v));
        let all: Vec<Value> = self
            .restore
            .tasks
            .iter()
            .rev()
            .filter(|t| t.created_ms >= from && t.created_ms <= to)
            .filter(|t| {
                has(&instances, &t.instance_id)
                    && has(&task_ids, &t.id)
                    && has(&types, &t.task_type)
            })
            .filter(|t| has(&statuses, t.status(now).status))
            .map(|t| t.json(now))
            .collect();
        let total = all.len();
        let items = page_of(all, page - 1, size);
        Ok(obj([
            ("Items", json!(items)),
            ("TotalCount", json!(total)),
            ("PageNumber", json!(page)),
            ("PageSize", json!(size)),
        ]))
    }
}

fn clone_answer(id: &str, order: &str) -> serde_json::Map<String, Value> {
    obj([
        ("DBInstanceId", json!(id)),
        ("OrderId", json!(order)),
        (
            "ConnectionString",
            json!(format!("{id}.mysql.rds.aliyuncs.com")),
        ),
        ("Port", json!("3306")),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn table_meta_maps_databases_and_tables() {
        let o = parse_table_meta(
            r#"[{"type":"db","name":"orders","newname":"orders_r","tables":[{"type":"table","name":"t1","newname":"t1_r"}]},{"type":"db","name":"users","newname":"users_r"}]"#,
            "MySQL",
        )
        .unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].name, "orders.t1");
        assert_eq!(o[0].newname, "orders_r.t1_r");
        assert_eq!(o[1].newname, "users_r");
        for bad in [
            "",
            "[]",
            "{}",
            r#"[{"type":"table","name":"x"}]"#,
            r#"[{"type":"db"}]"#,
        ] {
            assert!(parse_table_meta(bad, "MySQL").is_err(), "{bad}");
        }
        let pg =
            r#"[{"type":"db","name":"a","newname":"b","tables":[{"type":"table","name":"t"}]}]"#;
        assert!(parse_table_meta(pg, "PostgreSQL").is_err());
    }

    #[test]
    fn failed_clone_goes_deleting_then_gone() {
        let mut i = RdsInstance::running("rm-x");
        i.clone = Some(CloneOrigin {
            source_id: "rm-a".into(),
            backup_id: None,
            restore_time_ms: Some(0),
            created_ms: 0,
            duration_ms: 1000,
            order_id: "1".into(),
            fail: true,
        });
        assert_eq!(i.status_at(0), Some("Creating"));
        assert_eq!(i.status_at(700), Some("Deleting"));
        assert_eq!(i.status_at(1000), None);
        if let Some(c) = i.clone.as_mut() {
            c.fail = false;
        }
        assert_eq!(i.status_at(999), Some("Creating"));
        assert_eq!(i.status_at(1000), Some("Running"));
    }
}
