//! Full backup sets and finding our plan after a crash (pure).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::DesiredPlan;
use crate::cloud::api::dbs::{BackupPlanDetail, FullBackupFile};
use crate::controller::reconcile::times;
use crate::crd::DbsFullBackupSet;

/// Allowed clock difference between the operator and the cloud when matching creation times.
pub const CLOCK_SLACK_MS: i64 = 15 * 60 * 1000;

/// After a crash between `CreateAndStartBackupPlan` and the status write: the plan among
/// `plans` (listed by name) that is ours — same name, engine and source, created at or after
/// the intent (minus clock slack), and not held by another object (`claimed`: the
/// `backupPlanId`s other `DbsBackupPlan`s recorded; two objects may use the same plan name).
/// `None` unless exactly one plan matches; the caller then re-sends the create with the
/// intent's `ClientToken`, which returns the same plan if it exists.
pub fn find_own_plan<'a>(
    desired: &DesiredPlan,
    started_at: &Time,
    plans: &'a [BackupPlanDetail],
    claimed: &std::collections::HashSet<String>,
) -> Option<&'a BackupPlanDetail> {
    let since = started_at.0.as_millisecond() - CLOCK_SLACK_MS;
    let mut matching = plans.iter().filter(|p| {
        !claimed.contains(&p.backup_plan_id)
            && p.backup_plan_name.as_deref() == Some(desired.name.as_str())
            && p.database_type
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(desired.database_type))
            && desired
                .config
                .source_instance_id
                .as_deref()
                .is_none_or(|i| {
                    p.source_endpoint_instance_id
                        .as_deref()
                        .is_none_or(|o| o == i)
                })
            && p.backup_plan_create_time.is_some_and(|t| t >= since)
    });
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}

/// Whether a full backup set is still being made (`schedule`, `running`, ...). `finish`, a
/// failure (`failed`, anything containing `fail`) and `stop` are final (DBS `DescribeFullBackupList` documentation).
pub fn full_backup_in_progress(set: &DbsFullBackupSet) -> bool {
    let s = set
        .status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    !(s.is_empty() || s == "finish" || s == "stop" || s.contains("fail"))
}

/// When the most recent successful (`finish`) full backup set of a `DescribeFullBackupList`
/// page ended.
pub fn last_successful_backup(items: &[FullBackupFile]) -> Option<Time> {
    items
        .iter()
        .filter(|f| {
            f.backup_status
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("finish"))
        })
        .filter_map(|f| f.end_time.or(f.finish_time))
        .max()
        .and_then(|ms| times::from_unix_ms(Some(ms)))
}

/// The latest full backup set of a `DescribeFullBackupList` page (by start, then create time).
pub fn latest_full_backup(items: &[FullBackupFile]) -> Option<DbsFullBackupSet> {
    items
        .iter()
        .max_by_key(|f| {
            (
                f.start_time.or(f.create_time).unwrap_or(0),
                f.create_time.unwrap_or(0),
                f.backup_set_id.clone(),
            )
        })
        .map(|f| DbsFullBackupSet {
            id: Some(f.backup_set_id.clone()).filter(|s| !s.is_empty()),
            status: f.backup_status.clone(),
            start_time: times::from_unix_ms(f.start_time.or(f.create_time)),
            end_time: times::from_unix_ms(f.end_time.or(f.finish_time)),
            size_bytes: f.backup_size,
        })
}
