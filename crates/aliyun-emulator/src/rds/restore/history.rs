//! The task centre (`DescribeHistoryTasks`), where a `RestoreTable` task is tracked.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{RestoreObject, msg, paging};
use crate::api::{
    ApiError, ApiResult, Params, iso_seconds, obj, page as page_of, parse_utc_seconds,
};
use crate::rds::{RdsState, invalid};

/// Fraction of the job duration at which a table restore leaves `Scheduled`.
const TASK_START_AT: f64 = 0.1;
/// Fraction of the job duration at which a failing table restore ends `Failed`.
const TASK_FAIL_AT: f64 = 0.25;
/// `DescribeHistoryTasks` looks back at most this far ("The earliest supported time is 30
/// days ago").
const HISTORY_WINDOW_MS: i64 = 30 * 86_400_000;

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

    pub(super) fn json(&self, now: i64) -> Value {
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

impl RdsState {
    pub(super) fn describe_history_tasks(&self, p: &Params, now: i64) -> ApiResult {
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
        let (page, size) = paging(p, 10, 10..=100)?;
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
