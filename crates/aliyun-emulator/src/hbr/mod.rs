//! HBR (Cloud Backup) `2017-09-08`: backup jobs, UDM snapshots (`UDM_ECS`) and the snapshots
//! of file backups (`ECS_FILE`, found with `SearchHistoricalSnapshots`), and the action
//! dispatch.
//!
//! The pieces: [`HbrJob`] (`job`: a backup job, its progress and its snapshot), `filter` (the
//! `Filters.N.*` of the job lists), `jobs` (`CreateBackupJob`, `DescribeBackupJobs2`,
//! `CancelBackupJob`), `snapshots` (`DescribeUdmSnapshots`, `SearchHistoricalSnapshots`,
//! `DeleteSnapshot`) and [`restore`] (the restore jobs; also reachable as
//! [`crate::hbr_restore`]). Here: the state, the parameter checks the pieces share, the
//! dispatch. The public items of the pieces are re-exported here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, Params};
use crate::scenario::Scenario;

mod filter;
mod job;
mod jobs;
pub mod restore;
mod snapshots;

pub use job::{HbrJob, JobProgress};

/// Emulated HBR actions.
pub const ACTIONS: &[&str] = &[
    "CreateBackupJob",
    "DescribeBackupJobs2",
    "CancelBackupJob",
    "DescribeUdmSnapshots",
    "SearchHistoricalSnapshots",
    "DeleteSnapshot",
];

const GIB: i64 = 1024 * 1024 * 1024;

/// All HBR resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HbrState {
    /// Seeded ECS instances.
    pub ecs_instances: Vec<String>,
    /// Jobs, oldest first.
    pub jobs: Vec<HbrJob>,
    /// Restore jobs, oldest first.
    #[serde(default)]
    pub restore_jobs: Vec<restore::HbrRestoreJob>,
}

pub(crate) fn invalid(k: &str) -> ApiError {
    ApiError::product(
        400,
        "InvalidParameter",
        format!("The specified parameter {k} is not valid."),
    )
}

pub(crate) fn invalid_msg(msg: String) -> ApiError {
    ApiError::product(400, "InvalidParameter", msg)
}

/// `CrossAccountType` values.
pub(crate) const CROSS_ACCOUNT_TYPES: &[&str] = &["SELF_ACCOUNT", "CROSS_ACCOUNT"];

/// `Edition` (`BASIC` | `STANDARD`), when given.
pub(crate) fn check_edition(p: &Params) -> Result<(), ApiError> {
    p.choice("Edition", &["BASIC", "STANDARD"], invalid)
        .map(drop)
}

/// The 1-based `PageNumber` (default 1) and `PageSize` (1–99, default 10) of the HBR lists.
pub(crate) fn paging(p: &Params) -> Result<(i64, i64), ApiError> {
    let page = p.int("PageNumber", invalid)?.unwrap_or(1);
    if page < 1 {
        return Err(invalid("PageNumber"));
    }
    let size = p.int("PageSize", invalid)?.unwrap_or(10);
    if !(1..=99).contains(&size) {
        return Err(invalid_msg(format!(
            "The PageSize {size} is not valid. Valid values: 1 to 99."
        )));
    }
    Ok((page, size))
}

pub(crate) fn json_param(p: &Params, k: &str, want_array: bool) -> Result<Option<Value>, ApiError> {
    match p.opt(k) {
        None => Ok(None),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) if (want_array && v.is_array()) || (!want_array && v.is_object()) => Ok(Some(v)),
            _ => Err(invalid_msg(format!(
                "The parameter {k} must be a JSON {}.",
                if want_array { "array" } else { "object" }
            ))),
        },
    }
}

/// `{start}:{end}:{bandwidth}` rules separated by `|` (hours 0–24, KB/s).
pub fn valid_speed_limit(s: &str) -> bool {
    s.split('|').all(|rule| {
        let parts: Vec<&str> = rule.split(':').collect();
        match parts.as_slice() {
            [a, b, bw] => {
                let (Ok(a), Ok(b)) = (a.parse::<u8>(), b.parse::<u8>()) else {
                    return false;
                };
                a < b && b <= 24 && bw.parse::<u64>().is_ok()
            }
            _ => false,
        }
    })
}

impl HbrState {
    /// Seeds the known ECS instances.
    pub fn seeded(ecs: &[String]) -> Self {
        Self {
            ecs_instances: ecs.to_vec(),
            jobs: Vec::new(),
            restore_jobs: Vec::new(),
        }
    }

    /// JSON view for the admin API.
    pub fn view(&self, now: i64) -> Value {
        let jobs: Vec<Value> = self.jobs.iter().map(|j| j.json(now)).collect();
        let snaps: Vec<Value> = self.jobs.iter().filter_map(|j| j.snapshot(now)).collect();
        let restores: Vec<Value> = self.restore_jobs.iter().map(|j| j.json(now)).collect();
        json!({
            "ecs_instances": self.ecs_instances,
            "jobs": jobs,
            "snapshots": snaps,
            "restore_jobs": restores,
        })
    }

    /// Applies a scenario to an existing running job; false when nothing matched.
    pub fn apply_now(&mut self, s: &Scenario, now: i64) -> bool {
        let Scenario::HbrJobOutcome {
            target: Some(t),
            outcome,
            message,
        } = s
        else {
            return self.apply_restore_now(s, now);
        };
        for j in self.jobs.iter_mut() {
            if (j.id == *t || j.instance_id == *t) && !j.terminal(now) && j.outcome.is_none() {
                j.outcome = Some((*outcome, message.clone()));
                return true;
            }
        }
        false
    }

    /// Dispatches one HBR action.
    pub fn handle(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CreateBackupJob" => self.create(p, now, job_ms, pending),
            "DescribeBackupJobs2" => self.describe_jobs(p, now),
            "CancelBackupJob" => self.cancel(p, now),
            "DescribeUdmSnapshots" => self.describe_snapshots(p, now),
            "SearchHistoricalSnapshots" => self.search_snapshots(p, now),
            "DeleteSnapshot" => self.delete_snapshot(p, now),
            _ => return self.handle_restore(action, p, now, job_ms, pending),
        })
    }

    pub(crate) fn ecs_must_exist(&self, id: &str) -> Result<(), ApiError> {
        if self.ecs_instances.iter().any(|e| e == id) {
            Ok(())
        } else {
            Err(ApiError::product(
                404,
                "InstanceNotExist",
                format!("The ECS instance {id} does not exist."),
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
