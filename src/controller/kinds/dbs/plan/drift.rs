//! Drift (pure): where the plan the cloud reports differs from the spec.

use super::DesiredPlan;
use crate::cloud::api::dbs::BackupPlanDetail;

/// One field where the cloud plan differs from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Spec field (camelCase path).
    pub field: &'static str,
    /// Value the spec asks for.
    pub desired: String,
    /// Value the cloud reports.
    pub observed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: spec {:?}, cloud {:?}",
            self.field, self.desired, self.observed
        )
    }
}

/// Joins differences for a condition message / event note.
pub fn describe_differences(d: &[Difference]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn weekdays(s: &str) -> std::collections::BTreeSet<String> {
    s.split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

fn start_time_norm(s: &str) -> String {
    s.trim().trim_end_matches(['Z', 'z']).to_string()
}

fn json_eq(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// Compares the configurable fields the cloud reports (`DescribeBackupPlanList`) with the
/// spec. Only fields the spec sets and the cloud reports are compared. The plan name is not
/// included (see [`name_differs`]).
pub fn config_differences(desired: &DesiredPlan, observed: &BackupPlanDetail) -> Vec<Difference> {
    let c = &desired.config;
    let mut out = Vec::new();
    let mut push = |field: &'static str, d: String, o: String| {
        out.push(Difference {
            field,
            desired: d,
            observed: o,
        })
    };
    if let (Some(d), Some(o)) = (&c.backup_period, &observed.backup_period)
        && weekdays(d) != weekdays(o)
    {
        push("schedule.days", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.backup_start_time, &observed.backup_start_time)
        && start_time_norm(d) != start_time_norm(o)
    {
        push("schedule.startTime", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (c.retention_days, observed.backup_retention_period)
        && d != o
    {
        push("storage.retentionDays", d.to_string(), o.to_string());
    }
    if let (Some(d), Some(o)) = (&c.backup_objects, &observed.backup_objects)
        && !o.trim().is_empty()
        && !json_eq(d, o)
    {
        push("backupObjects", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (c.enable_backup_log, observed.enable_backup_log)
        && d != o
    {
        push("logBackup.enabled", d.to_string(), o.to_string());
    }
    if let (Some(d), Some(o)) = (&c.oss_bucket_name, &observed.oss_bucket_name)
        && d != o
    {
        push("storage.ossBucketName", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.source_instance_id, &observed.source_endpoint_instance_id)
        && !o.is_empty()
        && d != o
    {
        push("source.instanceId", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.source_user_name, &observed.source_endpoint_user_name)
        && !o.is_empty()
        && d != o
    {
        push("source.userName", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.resource_group_id, &observed.resource_group_id)
        && !o.is_empty()
        && d != o
    {
        push("resourceGroupId", d.clone(), o.clone());
    }
    out
}

/// Whether the cloud's plan name differs from `planName`.
pub fn name_differs(desired: &DesiredPlan, observed: &BackupPlanDetail) -> bool {
    observed
        .backup_plan_name
        .as_deref()
        .is_some_and(|n| n != desired.name)
}
