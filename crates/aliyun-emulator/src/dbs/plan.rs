//! A backup plan and a full backup set, with their status on the emulator clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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

impl DbsPlan {
    /// A configuration field, `""` when unset.
    pub(crate) fn field(&self, k: &str) -> Value {
        self.fields.get(k).cloned().unwrap_or(json!(""))
    }

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

    pub(super) fn running_at(&self) -> i64 {
        self.started_ms.unwrap_or(self.created_ms) + (self.duration_ms as f64 * CHECK_END) as i64
    }

    pub(super) fn detail(&self, now: i64) -> Value {
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
