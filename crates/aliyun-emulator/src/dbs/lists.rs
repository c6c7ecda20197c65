//! The plan lists: `DescribeBackupPlanList` and `DescribeFullBackupList`.

use serde_json::{Value, json};

use super::{DbsPlan, DbsState, FullBackupSet, invalid, no_plan, one_of};
use crate::api::{ApiResult, Params, obj};

impl DbsState {
    pub(super) fn describe_plans(&self, p: &Params, now: i64) -> ApiResult {
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

    pub(super) fn describe_sets(&self, p: &Params, now: i64) -> ApiResult {
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
            let Some(state) = s.status(now) else {
                continue;
            };
            if set_filter.is_some_and(|f| f != s.id)
                || status_filter.is_some_and(|f| f != state.0)
                || start.is_some_and(|t| s.start_ms < t)
                || end.is_some_and(|t| s.start_ms > t)
            {
                continue;
            }
            all.push(set_json(plan, s, state, retention));
        }
        Ok(Self::page_out("Items", "FullBackupFile", all, page, size))
    }
}

/// A full backup set of `plan` as `DescribeFullBackupList` lists it, in `state` (`(status,
/// progress, ErrMessage)`).
fn set_json(
    plan: &DbsPlan,
    s: &FullBackupSet,
    (status, progress, err): (&str, u32, String),
    retention: i64,
) -> Value {
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
        ("BackupObjects", plan.field("BackupObjects")),
        (
            "SourceEndpointInstanceId",
            plan.field("SourceEndpointInstanceID"),
        ),
        (
            "SourceEndpointInstanceType",
            plan.field("SourceEndpointInstanceType"),
        ),
        ("SourceEndpointRegion", plan.field("SourceEndpointRegion")),
        (
            "SourceEndpointUserName",
            plan.field("SourceEndpointUserName"),
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
    Value::Object(m)
}
