//! HBR (Cloud Backup) `2017-09-08` restore operations: `CreateRestoreJob`,
//! `DescribeRestoreJobs2`, `CancelRestoreJob`.
//!
//! A restore job restores a snapshot the emulator made (`ECS_FILE` snapshots of file backups,
//! `UDM_ECS` snapshots of whole-machine backups). Behaviour the documentation leaves open is
//! listed in the crate README ("Restore: where the documentation is silent").
//!
//! The pieces: [`HbrRestoreJob`] (`job`: a restore job, its progress and its answer) and
//! `create` (`CreateRestoreJob`). Here: the dispatch, the list and the cancel.

use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, Params, obj, page as page_of};
use crate::hbr::filter::{filter_matches, parse_filters_with};
use crate::hbr::{HbrState, check_edition, invalid, paging};
use crate::scenario::{Scenario, target_matches};

mod create;
mod job;

pub use job::{HbrRestoreJob, RestoreProgress};

/// Emulated HBR restore actions.
pub const ACTIONS: &[&str] = &[
    "CreateRestoreJob",
    "DescribeRestoreJobs2",
    "CancelRestoreJob",
];

/// `RestoreType` values: the documented enum plus the `UDM_ECS` subtypes named in the
/// `UdmDetail` description.
const RESTORE_TYPES: &[&str] = &[
    "ECS_FILE",
    "OSS",
    "NAS",
    "COMMON_FILE_SYSTEM",
    "OTS_TABLE",
    "UDM_ECS_ROLLBACK",
    "UDM_ECS",
    "UDM_ECS_DISK",
    "UDM_ECS_DISK_ROLLBACK",
];

/// `DescribeRestoreJobs2` filter keys: the documented ones and the lower-camel keys of the
/// official Terraform provider's `alicloud_hbr_restore_jobs`.
const FILTER_KEYS: &[&str] = &[
    "RegionId",
    "PlanId",
    "JobId",
    "VaultId",
    "InstanceId",
    "Bucket",
    "FileSystemId",
    "Status",
    "CompleteTime",
    "vaultId",
    "restoreId",
    "sourceType",
    "targetBucket",
    "targetFileSystemId",
    "targetInstanceId",
];

fn udm_str(v: Option<&Value>, key: &str) -> Option<String> {
    v?.get(key)?.as_str().map(str::to_owned)
}

fn not_found(what: String) -> ApiError {
    ApiError::product(404, "ResourceNotFound", what)
}

/// Whether the restore type fits the source type ("The source and destination must have the
/// same data source type").
fn same_kind(restore: &str, source: &str) -> bool {
    if source == "UDM_ECS" {
        restore.starts_with("UDM_ECS")
    } else {
        restore == source
    }
}

impl HbrState {
    /// Applies a restore scenario to an unfinished restore job.
    pub(crate) fn apply_restore_now(&mut self, s: &Scenario, now: i64) -> bool {
        let Scenario::HbrRestoreOutcome {
            target: target @ Some(_),
            outcome,
            message,
        } = s
        else {
            return false;
        };
        for j in self.restore_jobs.iter_mut() {
            if j.outcome.is_none() && !j.terminal(now) && restore_matches(target, j) {
                j.outcome = Some((*outcome, message.clone()));
                return true;
            }
        }
        false
    }

    /// Dispatches one HBR restore action.
    pub(crate) fn handle_restore(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CreateRestoreJob" => self.create_restore(p, now, job_ms, pending),
            "DescribeRestoreJobs2" => self.describe_restores(p, now),
            "CancelRestoreJob" => self.cancel_restore(p, now),
            _ => return None,
        })
    }

    fn describe_restores(&self, p: &Params, now: i64) -> ApiResult {
        let rt = p.choice("RestoreType", RESTORE_TYPES, invalid)?;
        check_edition(p)?;
        let (page, size) = paging(p)?;
        let filters = parse_filters_with(p, FILTER_KEYS)?;
        // Newest first.
        let all: Vec<Value> = self
            .restore_jobs
            .iter()
            .rev()
            .filter(|j| rt.is_none_or(|t| t == j.restore_type))
            .filter(|j| {
                let views = j.filter_views(now);
                filters
                    .iter()
                    .all(|f| views.iter().any(|v| filter_matches(f, v)))
            })
            .map(|j| j.json(now))
            .collect();
        let total = all.len();
        let items = page_of(all, page - 1, size);
        Ok(obj([
            ("RestoreJobs", json!({ "RestoreJob": items })),
            ("TotalCount", json!(total)),
            ("PageNumber", json!(page)),
            ("PageSize", json!(size)),
        ]))
    }

    fn cancel_restore(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("RestoreId")?;
        check_edition(p)?;
        let job = self
            .restore_jobs
            .iter_mut()
            .find(|j| j.id == id)
            .ok_or_else(|| not_found(format!("The restore job {id} does not exist.")))?;
        if let Some(v) = p.opt("VaultId")
            && job.vault_id != v
        {
            return Err(not_found(format!(
                "The restore job {id} does not exist in vault {v}."
            )));
        }
        if job.canceled_ms.is_some() && !job.terminal(now) {
            // Already CANCELING: accepted again, nothing changes.
            return Ok(obj([]));
        }
        if job.terminal(now) {
            return Err(ApiError::product(
                400,
                "JobStatusNotAllowCancel",
                format!(
                    "The restore job {id} has already ended ({}).",
                    job.progress(now).status
                ),
            ));
        }
        job.canceled_ms = Some(now);
        Ok(obj([]))
    }
}

fn restore_matches(target: &Option<String>, j: &HbrRestoreJob) -> bool {
    let target_instance = j
        .fields
        .get("TargetInstanceId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    target_matches(
        target,
        &[
            &j.id,
            &j.snapshot_id,
            &j.source_instance_id,
            target_instance,
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
