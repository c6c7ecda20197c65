//! DBS (Database Backup) `2019-03-06`: backup plans and full backup sets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, COMMON, Params, obj, page as page_of, rand_alnum};
use crate::rds::RdsState;
use crate::scenario::{Scenario, take, target_matches};

/// Emulated DBS actions.
pub const ACTIONS: &[&str] = &[
    "CreateBackupPlan",
    "CreateAndStartBackupPlan",
    "ConfigureBackupPlan",
    "StartBackupPlan",
    "StopBackupPlan",
    "ReleaseBackupPlan",
    "ModifyBackupPlanName",
    "DescribeBackupPlanList",
    "DescribeFullBackupList",
];

/// Fraction of the job duration a plan spends in `init` (pre-check).
const INIT_END: f64 = 0.2;
/// Fraction of the job duration after which the plan is `running`.
const CHECK_END: f64 = 0.4;

/// A backup plan ("backup schedule").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbsPlan {
    /// `BackupPlanId`.
    pub id: String,
    /// Creation time (emulator clock, ms).
    pub created_ms: i64,
    /// When the pre-check started (`None` while the plan is unconfigured: `wait`).
    pub started_ms: Option<i64>,
    /// Job duration captured at creation, ms.
    pub duration_ms: i64,
    /// Pre-check failure message (the plan ends `stop`).
    pub precheck_fail: Option<String>,
    /// Paused by `StopBackupPlan`.
    pub paused: bool,
    /// Released by `ReleaseBackupPlan`.
    pub released: bool,
    /// Configuration fields as reported by `DescribeBackupPlanList`.
    pub fields: BTreeMap<String, Value>,
}

/// A full backup set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullBackupSet {
    /// `BackupSetId`.
    pub id: String,
    /// Plan id.
    pub plan_id: String,
    /// When the backup starts (emulator ms); hidden before that.
    pub start_ms: i64,
    /// Duration, ms.
    pub duration_ms: i64,
    /// Injected failure message.
    pub fail: Option<String>,
    /// Stopped by `StopBackupPlan(StopMethod=ALL)` at this time.
    pub stopped_ms: Option<i64>,
}

impl FullBackupSet {
    /// `(BackupStatus, progress percent, ErrMessage)` at `now`; `None` before it starts.
    pub fn status(&self, now: i64) -> Option<(&'static str, u32, String)> {
        if now < self.start_ms {
            return None;
        }
        let d = self.duration_ms.max(1) as f64;
        let f = (now - self.start_ms) as f64 / d;
        if let Some(stop) = self.stopped_ms {
            let fs = (stop - self.start_ms) as f64 / d;
            if fs < 1.0 && now >= stop {
                return Some((
                    "stop",
                    (fs * 100.0) as u32,
                    "The backup was stopped by StopBackupPlan.".into(),
                ));
            }
        }
        if let Some(msg) = &self.fail
            && f >= 0.6
        {
            return Some(("failed", 60, msg.clone()));
        }
        Some(match f {
            f if f < 0.1 => ("schedule", 0, String::new()),
            f if f < 1.0 => ("running", ((f * 100.0) as u32).min(99), String::new()),
            _ => ("finish", 100, String::new()),
        })
    }
}

/// Stored result of a request with a `ClientToken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idempotent {
    /// Action.
    pub action: String,
    /// Canonical parameters.
    pub fingerprint: String,
    /// The successful answer.
    pub result: Map<String, Value>,
}

/// All DBS resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbsState {
    /// Plans, oldest first.
    pub plans: Vec<DbsPlan>,
    /// Full backup sets, oldest first.
    pub sets: Vec<FullBackupSet>,
    /// `ClientToken` → stored result.
    pub tokens: BTreeMap<String, Idempotent>,
    /// Restore tasks, oldest first.
    #[serde(default)]
    pub restore_tasks: Vec<crate::dbs_restore::DbsRestoreTask>,
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

fn no_plan(id: &str) -> ApiError {
    ApiError::product(
        404,
        "InvalidJobId",
        format!("The specified backup plan {id} does not exist."),
    )
}

fn one_of<'a>(p: &'a Params, k: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
    match p.opt(k) {
        None => Ok(None),
        Some(v) if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(Some(v)),
        Some(v) => Err(invalid_msg(format!(
            "The specified parameter {k} value {v} is not valid. Valid values: {}.",
            allowed.join(", ")
        ))),
    }
}

const WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `HH:mm` (optionally with a trailing `Z`), 00:00–23:59.
pub fn valid_hhmm(s: &str) -> bool {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u8>().is_ok_and(|h| h < 24)
        && m.parse::<u8>().is_ok_and(|m| m < 60)
}

/// Validates the source-endpoint parameters shared by `CreateAndStartBackupPlan` and
/// `ConfigureBackupPlan` and returns them as plan fields.
fn endpoint_fields(
    p: &Params,
    db_type: &str,
    f: &mut BTreeMap<String, Value>,
) -> Result<(), ApiError> {
    let ty = p.req("SourceEndpointInstanceType")?;
    let ty = one_of(
        p,
        "SourceEndpointInstanceType",
        &["RDS", "ECS", "Express", "Agent", "DDS", "Other", "dg"],
    )?
    .unwrap_or(ty)
    .to_ascii_lowercase();
    let need = |k: &str, types: &[&str]| -> Result<(), ApiError> {
        if types.contains(&ty.as_str()) && p.opt(k).is_none() {
            return Err(required_when(
                k,
                &format!("SourceEndpointInstanceType is {ty}"),
            ));
        }
        Ok(())
    };
    need(
        "SourceEndpointRegion",
        &["rds", "ecs", "dds", "express", "agent"],
    )?;
    need(
        "SourceEndpointInstanceID",
        &["rds", "ecs", "dds", "express"],
    )?;
    need("SourceEndpointIP", &["express", "agent", "other"])?;
    need("SourceEndpointPort", &["express", "agent", "other", "ecs"])?;
    need("BackupGatewayId", &["agent"])?;
    let db = db_type.to_ascii_lowercase();
    let no_account = db == "redis" || (ty == "agent" && db == "mssql");
    if !no_account {
        for k in ["SourceEndpointUserName", "SourceEndpointPassword"] {
            if p.opt(k).is_none() {
                return Err(required_when(
                    k,
                    "the database is not Redis or SQL Server via a backup gateway",
                ));
            }
        }
    }
    if matches!(db.as_str(), "postgresql" | "mongodb")
        && p.opt("SourceEndpointDatabaseName").is_none()
    {
        return Err(required_when(
            "SourceEndpointDatabaseName",
            "DatabaseType is PostgreSQL or MongoDB",
        ));
    }
    if db == "oracle" && p.opt("SourceEndpointOracleSID").is_none() {
        return Err(required_when(
            "SourceEndpointOracleSID",
            "DatabaseType is Oracle",
        ));
    }
    if let Some(port) = p.int("SourceEndpointPort", invalid)?
        && !(1..=65_535).contains(&port)
    {
        return Err(invalid("SourceEndpointPort"));
    }
    let gw = p.int("BackupGatewayId", invalid)?;
    f.insert(
        "SourceEndpointInstanceType".into(),
        json!(p.opt("SourceEndpointInstanceType")),
    );
    for (param, field) in [
        ("SourceEndpointRegion", "SourceEndpointRegion"),
        ("SourceEndpointInstanceID", "SourceEndpointInstanceID"),
        ("SourceEndpointUserName", "SourceEndpointUserName"),
        ("SourceEndpointDatabaseName", "SourceEndpointDatabaseName"),
        ("SourceEndpointOracleSID", "SourceEndpointOracleSID"),
        ("SourceEndpointPort", "SourceEndpointPort"),
    ] {
        if let Some(v) = p.opt(param) {
            f.insert(field.into(), json!(v));
        }
    }
    if let Some(ip) = p.opt("SourceEndpointIP") {
        f.insert("SourceEndpointHost".into(), json!(ip));
        f.insert(
            "SourceEndpointIpPort".into(),
            json!(format!(
                "{ip}:{}",
                p.opt("SourceEndpointPort").unwrap_or("3306")
            )),
        );
    }
    if let Some(g) = gw {
        f.insert("BackupGatewayId".into(), json!(g));
    }
    Ok(())
}

/// Validates the optional strategy/storage parameters and records them as plan fields.
fn strategy_fields(
    p: &Params,
    f: &mut BTreeMap<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    if let Some(period) = p.opt("BackupPeriod") {
        if !period.split(',').all(|d| WEEKDAYS.contains(&d.trim())) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupPeriod value {period} is not valid. Use comma-separated weekdays such as Monday,Thursday."
            )));
        }
        f.insert("BackupPeriod".into(), json!(period));
    }
    if let Some(t) = p.opt("BackupStartTime") {
        if !valid_hhmm(t) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupStartTime value {t} is not valid. Use HH:mm (UTC)."
            )));
        }
        f.insert("BackupStartTime".into(), json!(t));
    }
    let strategy = one_of(p, "BackupStrategyType", &["simple", "manual"])?;
    // "If you specify this value (simple) ..., you must also specify BackupPeriod and
    // BackupStartTime" (CreateAndStartBackupPlan): only an explicit `simple` needs them.
    if create && strategy.is_some_and(|s| s.eq_ignore_ascii_case("simple")) {
        for k in ["BackupPeriod", "BackupStartTime"] {
            if p.opt(k).is_none() {
                return Err(required_when(k, "BackupStrategyType is simple"));
            }
        }
    }
    if let Some(s) = strategy {
        f.insert("BackupStrategyType".into(), json!(s));
    }
    if let Some(r) = p.int("BackupRetentionPeriod", invalid)? {
        if !(0..=1825).contains(&r) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupRetentionPeriod value {r} is not valid. Valid values: 0 to 1825."
            )));
        }
        f.insert("BackupRetentionPeriod".into(), json!(r));
    } else if create {
        f.insert("BackupRetentionPeriod".into(), json!(730));
    }
    for (k, default) in [
        ("DuplicationInfrequentAccessPeriod", 180),
        ("DuplicationArchivePeriod", 365),
    ] {
        match p.int(k, invalid)? {
            Some(v) if v < 0 => return Err(invalid(k)),
            Some(v) => {
                f.insert(k.into(), json!(v));
            }
            None if create => {
                f.insert(k.into(), json!(default));
            }
            None => {}
        }
    }
    for k in [
        "BackupLogIntervalSeconds",
        "BackupRateLimit",
        "BackupSpeedLimit",
    ] {
        if let Some(v) = p.int(k, invalid)?
            && v < 0
        {
            return Err(invalid(k));
        }
    }
    if let Some(b) = p.bool("EnableBackupLog", invalid)? {
        f.insert("EnableBackupLog".into(), json!(b));
    } else if create {
        f.insert("EnableBackupLog".into(), json!(false));
    }
    if let Some(objs) = p.opt("BackupObjects") {
        if serde_json::from_str::<Value>(objs).is_err() {
            return Err(invalid_msg(
                "The specified parameter BackupObjects must be a JSON array.".into(),
            ));
        }
        f.insert("BackupObjects".into(), json!(objs));
    }
    if let Some(st) = p.raw("BackupStorageType") {
        if !(st.is_empty() || st == "system") {
            return Err(invalid("BackupStorageType"));
        }
        f.insert("BackupStorageType".into(), json!(st));
    }
    for k in [
        "OSSBucketName",
        "ResourceGroupId",
        "CrossAliyunId",
        "CrossRoleName",
    ] {
        if let Some(v) = p.opt(k) {
            f.insert(k.into(), json!(v));
        }
    }
    Ok(())
}

/// Validates the purchase parameters of `CreateBackupPlan` / `CreateAndStartBackupPlan`.
fn purchase_fields(p: &Params, f: &mut BTreeMap<String, Value>) -> Result<String, ApiError> {
    let method = p.req("BackupMethod")?;
    let db_type = p.req("DatabaseType")?;
    let class = p.req("InstanceClass")?;
    one_of(p, "BackupMethod", &["logical", "physical", "duplication"])?;
    one_of(
        p,
        "DatabaseType",
        &[
            "MySQL",
            "MSSQL",
            "Oracle",
            "MariaDB",
            "PostgreSQL",
            "DRDS",
            "MongoDB",
            "Redis",
        ],
    )?;
    one_of(
        p,
        "InstanceClass",
        &["micro", "small", "medium", "large", "xlarge"],
    )?;
    let period = one_of(p, "Period", &["Year", "Month"])?;
    let used = p.int("UsedTime", invalid)?;
    // The API reference gives UsedTime's range per Period; it does not say that Period needs
    // UsedTime, so Period alone is accepted.
    if let (Some(per), Some(u)) = (period, used) {
        let max = if per.eq_ignore_ascii_case("Year") {
            9
        } else {
            11
        };
        if !(1..=max).contains(&u) {
            return Err(invalid_msg(format!(
                "The specified parameter UsedTime value {u} is not valid. Valid values for Period {per}: 1 to {max}."
            )));
        }
    }
    let pay = one_of(p, "PayType", &["prepay", "postpay", "Postpaid"])?.unwrap_or("prepay");
    if !pay.eq_ignore_ascii_case("prepay") {
        if !method.eq_ignore_ascii_case("duplication") {
            return Err(invalid_msg(
                "PayType can be postpay only when BackupMethod is duplication.".into(),
            ));
        }
        for k in ["DatabaseRegion", "StorageRegion", "InstanceType"] {
            if p.opt(k).is_none() {
                return Err(required_when(k, "PayType is postpay"));
            }
        }
        one_of(
            p,
            "InstanceType",
            &["RDS", "PolarDB", "DDS", "Kvstore", "Other"],
        )?;
    }
    f.insert("BackupMethod".into(), json!(method));
    f.insert("DatabaseType".into(), json!(db_type));
    f.insert("InstanceClass".into(), json!(class));
    f.insert(
        "InstanceChargeType".into(),
        json!(if pay.eq_ignore_ascii_case("prepay") {
            "PREPAY"
        } else {
            "POSTPAY"
        }),
    );
    if let Some(r) = p.opt("Region") {
        f.insert("BackupPlanRegion".into(), json!(r));
    }
    Ok(db_type.to_owned())
}

fn fingerprint(action: &str, p: &Params) -> String {
    let mut s = String::from(action);
    for (k, v) in &p.0 {
        if COMMON.contains(&k.as_str()) || k == "ClientToken" || k == "RegionId" {
            continue;
        }
        s.push('\n');
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

impl DbsPlan {
    /// `BackupPlanStatus` at `now` (`None` once released).
    pub fn status(&self, now: i64) -> Option<&'static str> {
        if self.released {
            return None;
        }
        let Some(start) = self.started_ms else {
            return Some("wait");
        };
        let f = (now - start) as f64 / self.duration_ms.max(1) as f64;
        if f < INIT_END {
            return Some(if self.paused { "pause" } else { "init" });
        }
        if self.precheck_fail.is_some() {
            return Some("stop");
        }
        if self.paused {
            return Some("pause");
        }
        Some(if f < CHECK_END {
            "check_pass"
        } else {
            "running"
        })
    }

    fn running_at(&self) -> i64 {
        self.started_ms.unwrap_or(self.created_ms) + (self.duration_ms as f64 * CHECK_END) as i64
    }

    fn detail(&self, now: i64) -> Value {
        let mut m: Map<String, Value> = self.fields.clone().into_iter().collect();
        m.insert("BackupPlanId".into(), json!(self.id));
        m.insert(
            "BackupPlanStatus".into(),
            json!(self.status(now).unwrap_or("release")),
        );
        m.insert("BackupPlanCreateTime".into(), json!(self.created_ms));
        m.insert(
            "ErrMessage".into(),
            json!(if self.status(now) == Some("stop") {
                self.precheck_fail.clone().unwrap_or_default()
            } else {
                String::new()
            }),
        );
        m.insert(
            "InstanceExpiredTimestamp".into(),
            json!(self.created_ms + 365 * 86_400_000),
        );
        m.entry("BackupPlanRegion").or_insert(json!("cn-hangzhou"));
        m.entry("OSSBucketName")
            .or_insert(json!(format!("dbs-backup-{}", self.id)));
        m.entry("OSSBucketRegion").or_insert(json!("cn-hangzhou"));
        m.entry("BackupStorageType").or_insert(json!("system"));
        m.entry("ResourceGroupId").or_insert(json!("rg-emulator"));
        Value::Object(m)
    }
}

impl DbsState {
    /// JSON view for the admin API.
    pub fn view(&self, now: i64) -> Value {
        let plans: Vec<Value> = self
            .plans
            .iter()
            .map(|p| {
                let mut d = p.detail(now);
                if let Some(m) = d.as_object_mut() {
                    m.insert("Released".into(), json!(p.released));
                }
                d
            })
            .collect();
        let sets: Vec<Value> = self
            .sets
            .iter()
            .map(|s| {
                let (st, pr, err) = s.status(now).unwrap_or(("pending", 0, String::new()));
                json!({ "BackupSetId": s.id, "BackupPlanId": s.plan_id, "BackupStatus": st, "Progress": pr, "ErrMessage": err })
            })
            .collect();
        let restores: Vec<Value> = self.restore_tasks.iter().map(|t| t.json(now)).collect();
        json!({ "plans": plans, "full_backup_sets": sets, "restore_tasks": restores })
    }

    /// Applies a scenario to an existing plan/set; false when nothing matched.
    pub fn apply_now(&mut self, s: &Scenario, now: i64) -> bool {
        match s {
            Scenario::DbsPrecheckFailure {
                target: Some(t),
                err_message,
            } => {
                let Some(plan) = self.plans.iter_mut().find(|p| {
                    !p.released
                        && (p.id == *t
                            || p.fields
                                .get("SourceEndpointInstanceID")
                                .and_then(Value::as_str)
                                == Some(t.as_str()))
                        && matches!(p.status(now), Some("wait" | "init"))
                }) else {
                    return false;
                };
                plan.precheck_fail = Some(err_message.clone());
                let id = plan.id.clone();
                self.sets.retain(|s| s.plan_id != id || s.start_ms <= now);
                true
            }
            Scenario::DbsBackupSetFailure {
                target: Some(t),
                err_message,
            } => {
                let Some(set) = self.sets.iter_mut().find(|s| {
                    s.plan_id == *t
                        && s.fail.is_none()
                        && !matches!(s.status(now), Some(("finish" | "failed" | "stop", _, _)))
                }) else {
                    return false;
                };
                set.fail = Some(err_message.clone());
                true
            }
            _ => self.apply_restore_now(s, now),
        }
    }

    /// A plan that is not released, else `InvalidJobId`.
    pub(crate) fn plan(&self, id: &str) -> Result<&DbsPlan, ApiError> {
        self.plans
            .iter()
            .find(|p| p.id == id && !p.released)
            .ok_or_else(|| no_plan(id))
    }

    fn plan_mut(&mut self, id: &str) -> Result<&mut DbsPlan, ApiError> {
        self.plans
            .iter_mut()
            .find(|p| p.id == id && !p.released)
            .ok_or_else(|| no_plan(id))
    }

    /// Dispatches one DBS action (with `ClientToken` idempotency for writes).
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
        restore_success: &str,
    ) -> Option<ApiResult> {
        if !ACTIONS.contains(&action) && !crate::dbs_restore::RESTORE_ACTIONS.contains(&action) {
            return None;
        }
        let token = if action.starts_with("Describe") {
            None
        } else {
            p.opt("ClientToken")
        };
        if let Some(t) = token {
            if t.len() > 64 || !t.is_ascii() {
                return Some(Err(invalid_msg(
                    "The ClientToken must be at most 64 ASCII characters.".into(),
                )));
            }
            let fp = fingerprint(action, p);
            if let Some(prev) = self.tokens.get(t) {
                return Some(if prev.action == action && prev.fingerprint == fp {
                    Ok(prev.result.clone())
                } else {
                    Err(ApiError::product(
                        400,
                        "IdempotentParameterMismatch",
                        "The request uses the same client token as a previous, but non-identical request.",
                    ))
                });
            }
        }
        let res = match action {
            "CreateBackupPlan" => self.create_plan(p, now, job_ms),
            "CreateAndStartBackupPlan" => self.create_and_start(p, now, job_ms, pending, rds, ecs),
            "ConfigureBackupPlan" => self.configure(p, now, job_ms, pending, rds, ecs),
            "StartBackupPlan" => self.start(p, now, job_ms, pending),
            "StopBackupPlan" => self.stop(p, now),
            "ReleaseBackupPlan" => self.release(p),
            "ModifyBackupPlanName" => self.modify_name(p),
            "DescribeBackupPlanList" => self.describe_plans(p, now),
            "DescribeFullBackupList" => self.describe_sets(p, now),
            other => {
                self.handle_restore(other, p, now, job_ms, pending, rds, ecs, restore_success)?
            }
        };
        if let (Some(t), Ok(result)) = (token, &res) {
            self.tokens.insert(
                t.to_owned(),
                Idempotent {
                    action: action.to_owned(),
                    fingerprint: fingerprint(action, p),
                    result: result.clone(),
                },
            );
        }
        Some(res)
    }

    fn new_plan(&mut self, fields: BTreeMap<String, Value>, now: i64, job_ms: i64) -> String {
        let id = format!("dbs{}", rand_alnum(12));
        self.plans.push(DbsPlan {
            id: id.clone(),
            created_ms: now,
            started_ms: None,
            duration_ms: job_ms,
            precheck_fail: None,
            paused: false,
            released: false,
            fields,
        });
        id
    }

    fn order_id() -> String {
        let n: u64 = rand::random::<u64>() % 90_000_000_000 + 10_000_000_000;
        n.to_string()
    }

    fn create_plan(&mut self, p: &Params, now: i64, job_ms: i64) -> ApiResult {
        p.req("Region")?;
        let mut f = BTreeMap::new();
        purchase_fields(p, &mut f)?;
        let id = self.new_plan(f, now, job_ms);
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("OrderId", json!(Self::order_id())),
        ]))
    }

    /// Starts the plan's pre-check now and schedules its first full backup.
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        idx: usize,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> Option<String> {
        let plan = self.plans.get_mut(idx)?;
        plan.started_ms = Some(now);
        plan.duration_ms = job_ms;
        plan.paused = false;
        plan.precheck_fail = None;
        let src = plan
            .fields
            .get("SourceEndpointInstanceID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ty = plan
            .fields
            .get("SourceEndpointInstanceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let plan_id = plan.id.clone();
        // The pre-check looks the source database up.
        if ty == "rds" && !rds.instances.contains_key(&src) {
            plan.precheck_fail = Some(format!(
                "Precheck failed: the source RDS instance {src} does not exist or is not accessible."
            ));
        } else if ty == "ecs" && !ecs.contains(&src) {
            plan.precheck_fail = Some(format!(
                "Precheck failed: the source ECS instance {src} does not exist or is not accessible."
            ));
        } else if let Some(msg) = take(pending, |s| match s {
            Scenario::DbsPrecheckFailure {
                target,
                err_message,
            } if target_matches(target, &[&plan_id, &src]) => Some(err_message.clone()),
            _ => None,
        }) {
            plan.precheck_fail = Some(msg);
        }
        if plan.precheck_fail.is_some() {
            return None;
        }
        let at = plan.running_at();
        Some(self.new_set(&plan_id, at, job_ms, pending))
    }

    fn new_set(
        &mut self,
        plan_id: &str,
        start_ms: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> String {
        let id = rand_alnum(12);
        let fail = take(pending, |s| match s {
            Scenario::DbsBackupSetFailure {
                target,
                err_message,
            } if target_matches(target, &[plan_id]) => Some(err_message.clone()),
            _ => None,
        });
        self.sets.push(FullBackupSet {
            id: id.clone(),
            plan_id: plan_id.to_owned(),
            start_ms,
            duration_ms: job_ms,
            fail,
            stopped_ms: None,
        });
        id
    }

    fn create_and_start(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> ApiResult {
        let name = p.req("BackupPlanName")?.to_owned();
        p.req("SourceEndpointInstanceType")?;
        let mut f = BTreeMap::new();
        let db_type = purchase_fields(p, &mut f)?;
        endpoint_fields(p, &db_type, &mut f)?;
        strategy_fields(p, &mut f, true)?;
        f.insert("BackupPlanName".into(), json!(name));
        let idx = match p.opt("BackupPlanId") {
            Some(id) => {
                let idx = self
                    .plans
                    .iter()
                    .position(|pl| pl.id == id && !pl.released)
                    .ok_or_else(|| no_plan(id))?;
                if let Some(pl) = self.plans.get_mut(idx) {
                    if pl.started_ms.is_some() {
                        return Err(invalid_msg(format!(
                            "The backup plan {id} is already configured and started."
                        )));
                    }
                    pl.fields.extend(f);
                }
                idx
            }
            None => {
                self.new_plan(f, now, job_ms);
                self.plans.len().saturating_sub(1)
            }
        };
        let set = self.begin(idx, now, job_ms, pending, rds, ecs);
        let id = self
            .plans
            .get(idx)
            .map(|p| p.id.clone())
            .unwrap_or_default();
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("OrderId", json!(Self::order_id())),
            ("CreateBackupSet", json!(set.is_some())),
        ]))
    }

    fn configure(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let name = p.req("BackupPlanName")?.to_owned();
        p.req("SourceEndpointInstanceType")?;
        let idx = self
            .plans
            .iter()
            .position(|pl| pl.id == id && !pl.released)
            .ok_or_else(|| no_plan(&id))?;
        let db_type = self
            .plans
            .get(idx)
            .and_then(|pl| pl.fields.get("DatabaseType"))
            .and_then(Value::as_str)
            .unwrap_or("MySQL")
            .to_owned();
        let mut f = BTreeMap::new();
        endpoint_fields(p, &db_type, &mut f)?;
        strategy_fields(p, &mut f, false)?;
        let auto = p.bool("AutoStartBackup", invalid)?.unwrap_or(false);
        if let Some(b) = p.bool("EnableSourceEndpointSsl", invalid)? {
            f.insert("SourceEndpointEnableSsl".into(), json!(b.to_string()));
        }
        f.insert("BackupPlanName".into(), json!(name));
        let not_started = match self.plans.get_mut(idx) {
            Some(pl) => {
                pl.fields.extend(f);
                pl.started_ms.is_none()
            }
            None => false,
        };
        if auto && not_started {
            self.begin(idx, now, job_ms, pending, rds, ecs);
        }
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    fn start(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let plan = self.plan_mut(&id)?;
        let set_id = match plan.status(now) {
            Some("wait") => {
                return Err(invalid_msg(format!(
                    "The backup plan {id} is not configured; call ConfigureBackupPlan first."
                )));
            }
            Some("stop") => {
                // Retry the pre-check.
                plan.started_ms = Some(now);
                plan.precheck_fail = None;
                plan.paused = false;
                plan.duration_ms = job_ms;
                let at = plan.running_at();
                self.new_set(&id, at, job_ms, pending)
            }
            _ => {
                plan.paused = false;
                let at = plan.running_at().max(now);
                self.new_set(&id, at, job_ms, pending)
            }
        };
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("CreatedFullBackupsetId", json!(set_id)),
        ]))
    }

    fn stop(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let method = p.req("StopMethod")?.to_owned();
        if !matches!(method.as_str(), "ALL" | "PLAN") {
            return Err(invalid_msg(format!(
                "The specified parameter StopMethod value {method} is not valid. Valid values: ALL, PLAN."
            )));
        }
        let plan = self.plan_mut(&id)?;
        if plan.status(now) == Some("wait") {
            return Err(invalid_msg(format!("The backup plan {id} is not started.")));
        }
        plan.paused = true;
        if method == "ALL" {
            // "Pauses the backup schedule, full data backup jobs, incremental log backup jobs,
            // and restore jobs".
            self.pause_restores(&id, now);
            for s in self.sets.iter_mut().filter(|s| s.plan_id == id) {
                let running = matches!(s.status(now), None | Some(("schedule" | "running", _, _)));
                if running && s.stopped_ms.is_none() {
                    s.stopped_ms = Some(now.max(s.start_ms));
                }
            }
        }
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    fn release(&mut self, p: &Params) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        self.plan_mut(&id)?.released = true;
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    fn modify_name(&mut self, p: &Params) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let name = p.req("BackupPlanName")?.to_owned();
        self.plan_mut(&id)?
            .fields
            .insert("BackupPlanName".into(), json!(name));
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    pub(crate) fn paging(p: &Params, sizes: Option<&[i64]>) -> Result<(i64, i64), ApiError> {
        let page = p.int("PageNum", invalid)?.unwrap_or(0);
        if page < 0 {
            return Err(invalid("PageNum"));
        }
        let size = p.int("PageSize", invalid)?.unwrap_or(30);
        let ok = match sizes {
            Some(allowed) => allowed.contains(&size),
            None => (1..=100).contains(&size),
        };
        if !ok {
            return Err(invalid("PageSize"));
        }
        Ok((page, size))
    }

    pub(crate) fn page_out(
        items_key: &str,
        item_name: &str,
        all: Vec<Value>,
        page: i64,
        size: i64,
    ) -> Map<String, Value> {
        let total = all.len() as i64;
        let items = page_of(all, page, size);
        let total_pages = if total == 0 {
            0
        } else {
            (total + size - 1) / size
        };
        obj([
            (items_key, json!({ item_name: items })),
            ("PageNum", json!(page)),
            ("PageSize", json!(size)),
            ("TotalElements", json!(total)),
            ("TotalPages", json!(total_pages)),
        ])
    }

    fn describe_plans(&self, p: &Params, now: i64) -> ApiResult {
        let (page, size) = Self::paging(p, None)?;
        let ids: Option<Vec<&str>> = p.opt("BackupPlanId").map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        });
        let status = one_of(
            p,
            "BackupPlanStatus",
            &[
                "wait",
                "init",
                "running",
                "stop",
                "pause",
                "locked",
                "check_pass",
            ],
        )?;
        let name = p.opt("BackupPlanName");
        let region = p.opt("Region");
        let all: Vec<Value> = self
            .plans
            .iter()
            .filter(|pl| pl.status(now).is_some())
            .filter(|pl| ids.as_ref().is_none_or(|ids| ids.contains(&pl.id.as_str())))
            .filter(|pl| status.is_none_or(|s| pl.status(now) == Some(s)))
            .filter(|pl| {
                name.is_none_or(|n| {
                    pl.fields
                        .get("BackupPlanName")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.contains(n))
                })
            })
            .filter(|pl| {
                region.is_none_or(|r| {
                    pl.fields
                        .get("BackupPlanRegion")
                        .and_then(Value::as_str)
                        .is_none_or(|v| v == r)
                })
            })
            .map(|pl| pl.detail(now))
            .collect();
        Ok(Self::page_out("Items", "BackupPlanDetail", all, page, size))
    }

    fn describe_sets(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("BackupPlanId")?;
        let plan = self
            .plans
            .iter()
            .find(|pl| pl.id == id && !pl.released)
            .ok_or_else(|| no_plan(id))?;
        let (page, size) = Self::paging(p, Some(&[30, 50, 100]))?;
        let start = p.int("StartTimestamp", invalid)?;
        let end = p.int("EndTimestamp", invalid)?;
        let set_filter = p.opt("BackupSetId");
        let status_filter = p.opt("BackupSetStatus");
        let retention = plan
            .fields
            .get("BackupRetentionPeriod")
            .and_then(Value::as_i64)
            .unwrap_or(730);
        let mut all = Vec::new();
        for s in self.sets.iter().rev().filter(|s| s.plan_id == id) {
            let Some((status, progress, err)) = s.status(now) else {
                continue;
            };
            if set_filter.is_some_and(|f| f != s.id)
                || status_filter.is_some_and(|f| f != status)
                || start.is_some_and(|t| s.start_ms < t)
                || end.is_some_and(|t| s.start_ms > t)
            {
                continue;
            }
            let full_size: i64 = 256 * 1024 * 1024;
            let size_now = full_size * i64::from(progress) / 100;
            let mut m = obj([
                ("BackupSetId", json!(s.id)),
                ("BackupStatus", json!(status)),
                ("BackupSize", json!(size_now)),
                ("CreateTime", json!(s.start_ms)),
                ("StartTime", json!(s.start_ms)),
                ("ErrMessage", json!(err)),
                ("StorageMethod", json!("system")),
                ("LogicalFullBackupProgress", json!(progress)),
                ("LogicalStructureBackupProgress", json!(progress)),
                (
                    "BackupObjects",
                    plan.fields
                        .get("BackupObjects")
                        .cloned()
                        .unwrap_or(json!("")),
                ),
                (
                    "SourceEndpointInstanceId",
                    plan.fields
                        .get("SourceEndpointInstanceID")
                        .cloned()
                        .unwrap_or(json!("")),
                ),
                (
                    "SourceEndpointInstanceType",
                    plan.fields
                        .get("SourceEndpointInstanceType")
                        .cloned()
                        .unwrap_or(json!("")),
                ),
                (
                    "SourceEndpointRegion",
                    plan.fields
                        .get("SourceEndpointRegion")
                        .cloned()
                        .unwrap_or(json!("")),
                ),
                (
                    "SourceEndpointUserName",
                    plan.fields
                        .get("SourceEndpointUserName")
                        .cloned()
                        .unwrap_or(json!("")),
                ),
                ("StorageEncryptMethod", json!("")),
                ("SourceEndpointEnableSsl", json!("false")),
            ]);
            if status == "finish" {
                let end_ms = s.start_ms + s.duration_ms;
                m.insert("EndTime".into(), json!(end_ms));
                m.insert("FinishTime".into(), json!(end_ms));
                m.insert(
                    "BackupSetExpiredTime".into(),
                    json!(end_ms + retention * 86_400_000),
                );
            }
            all.push(Value::Object(m));
        }
        Ok(Self::page_out("Items", "FullBackupFile", all, page, size))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn hhmm() {
        for ok in ["00:00", "23:59", "14:22Z"] {
            assert!(valid_hhmm(ok), "{ok}");
        }
        for bad in ["24:00", "12:60", "1:00", "12-00", "", "12:00ZZ"] {
            assert!(!valid_hhmm(bad), "{bad}");
        }
    }

    #[test]
    fn backup_set_status_sequence() {
        let mut s = FullBackupSet {
            id: "x".into(),
            plan_id: "p".into(),
            start_ms: 100,
            duration_ms: 1000,
            fail: None,
            stopped_ms: None,
        };
        assert!(s.status(50).is_none());
        assert_eq!(s.status(100).unwrap().0, "schedule");
        assert_eq!(s.status(600).unwrap().0, "running");
        assert_eq!(s.status(1100).unwrap().0, "finish");
        s.fail = Some("boom".into());
        assert_eq!(s.status(1100).unwrap(), ("failed", 60, "boom".into()));
        s.fail = None;
        s.stopped_ms = Some(400);
        assert_eq!(s.status(1100).unwrap().0, "stop");
        assert_eq!(s.status(300).unwrap().0, "running");
    }

    #[test]
    fn plan_status_sequence() {
        let mut p = DbsPlan {
            id: "dbs1".into(),
            created_ms: 0,
            started_ms: None,
            duration_ms: 1000,
            precheck_fail: None,
            paused: false,
            released: false,
            fields: BTreeMap::new(),
        };
        assert_eq!(p.status(0), Some("wait"));
        p.started_ms = Some(0);
        assert_eq!(p.status(100), Some("init"));
        assert_eq!(p.status(300), Some("check_pass"));
        assert_eq!(p.status(500), Some("running"));
        p.paused = true;
        assert_eq!(p.status(500), Some("pause"));
        p.paused = false;
        p.precheck_fail = Some("x".into());
        assert_eq!(p.status(100), Some("init"));
        assert_eq!(p.status(500), Some("stop"));
        p.released = true;
        assert_eq!(p.status(500), None);
    }
}
