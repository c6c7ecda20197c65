//! One DBS restore task and its status on the emulator clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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
