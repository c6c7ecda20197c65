//! DBS (Database Backup) `2019-03-06` restore operations: `CreateRestoreTask`,
//! `StartRestoreTask`, `DescribeRestoreTaskList`, `DescribeRestoreRangeInfo`, and
//! `DescribeJobErrorCode` (the reason a restore task or full backup set failed).
//!
//! A restore task is created (`init`), then started; it runs `init` (pre-check) →
//! `check_pass` → `running` → the success status (`finish` by default; no success value is
//! documented, see [`crate::EmulatorConfig::with_dbs_restore_success_status`]), or `stop`
//! (failed) / `pause` (`StopBackupPlan(StopMethod=ALL)`). A failed pre-check leaves it `init`
//! with an `ErrMessage`. There is no per-task cancel, as in the API. Times are epoch ms.
//!
//! The pieces: [`DbsRestoreTask`] (`task`: a task and its status) and `create`
//! (`CreateRestoreTask`, `StartRestoreTask` and the pre-check). Here: the dispatch, the
//! restorable range and the reads.

use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, Params, obj};
use crate::dbs::{DbsState, invalid, invalid_msg};
use crate::rds::RdsState;
use crate::scenario::{Scenario, target_matches};

mod create;
mod task;

pub use task::{DbsRestoreObject, DbsRestoreTask};

/// Emulated DBS restore actions.
pub const RESTORE_ACTIONS: &[&str] = &[
    "CreateRestoreTask",
    "StartRestoreTask",
    "DescribeRestoreTaskList",
    "DescribeRestoreRangeInfo",
    "DescribeJobErrorCode",
];

fn no_task(id: &str) -> ApiError {
    ApiError::product(
        404,
        "InvalidJobId",
        format!("The specified restore task {id} does not exist."),
    )
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
mod tests;
