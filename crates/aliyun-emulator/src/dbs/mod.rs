//! DBS (Database Backup) `2019-03-06`: backup plans and full backup sets, and the action
//! dispatch with its `ClientToken` idempotency.
//!
//! The pieces: [`DbsPlan`] and [`FullBackupSet`] (`plan`: a plan and a full backup set, with
//! their status on the emulator clock), `params` (the checks of the plan parameters, and of
//! the endpoint parameters a restore destination shares), `plans` (the plan operations),
//! `lists` (`DescribeBackupPlanList`, `DescribeFullBackupList`) and [`restore`] (the restore
//! operations; also reachable as [`crate::dbs_restore`]). The public items of the pieces are
//! re-exported here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, COMMON, Params, obj, page as page_of};
use crate::rds::RdsState;
use crate::scenario::Scenario;

mod lists;
mod params;
mod plan;
mod plans;
pub mod restore;

pub use params::valid_hhmm;
pub use plan::{DbsPlan, FullBackupSet};

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
    pub restore_tasks: Vec<restore::DbsRestoreTask>,
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
        if !ACTIONS.contains(&action) && !restore::RESTORE_ACTIONS.contains(&action) {
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
