//! `RdsBackupSchedule` and `HbrBackupSchedule`: a cron schedule that creates one child backup
//! object (`RdsBackup` / `HbrBackupJob`) per slot, prunes old children by a retention rule and
//! reports whether the newest successful backup is within the recovery point objective.
//!
//! Both kinds share one spec shape ([`BackupScheduleSpec`], flattened into each kind's spec)
//! and one status ([`BackupScheduleStatus`]); only the child's spec type differs. The controller
//! is `src/controller/kinds/schedule/`; behaviour in `docs/architecture.md#schedules`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::hbr_backup_job::HbrBackupJobSpec;
use super::rds_backup::RdsBackupSpec;

/// Label on every child: the name of the schedule that made it (hash-shortened to 63
/// characters when longer).
pub const LABEL_SCHEDULE: &str = "backup.aliyun.dev/schedule";
/// Annotation on every child: the slot it was made for (RFC 3339, UTC), or the time of the
/// trigger that made it.
pub const ANNOTATION_SCHEDULED_AT: &str = "backup.aliyun.dev/scheduled-at";
/// Annotation on a schedule: any new value makes one extra child at once, once per value
/// (echoed in `status.lastTrigger`).
pub const ANNOTATION_TRIGGER: &str = "backup.aliyun.dev/trigger";
/// Condition type: the newest successful backup is within `spec.rpo`.
pub const CONDITION_RPO_MET: &str = "RPOMet";
/// Condition type (present only while True): retention would prune children that cannot be
/// deleted (deletion protection, or refused by the API server); they are kept.
pub const CONDITION_RETENTION_BLOCKED: &str = "RetentionBlocked";

/// Regular expression of `spec.schedule`: five cron fields or one of the four macros.
pub const SCHEDULE_PATTERN: &str = r"^(@(hourly|daily|weekly|monthly)|\S+(\s+\S+){4})$";
/// Regular expression of the durations `rpo` and `retention.maxAge`: one or more
/// `<integer><unit>` with unit `s`, `m`, `h` or `d` (24 h), e.g. `26h`, `1h30m`, `7d`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(s|m|h|d))+$";

/// What a schedule does when a slot comes while an earlier child still runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum ConcurrencyPolicy {
    /// No second child while one has not finished: a due slot waits for it (a `RunWaiting`
    /// event and the `Ready` message say so) and runs when it is seen finished, unless the next
    /// slot comes first (then the newest waits; never a burst) or `startingDeadlineSeconds`
    /// passes (then the slot is skipped: `RunSkipped`).
    #[default]
    Forbid,
    /// Delete the running children (each follows its own `deletionPolicy`; an `HbrBackupJob`
    /// cancels its job), then make the new one. Not for `RdsBackupSchedule`: RDS cannot stop a
    /// running backup, so the CRD refuses it there.
    Replace,
    /// Make the new child anyway. An RDS instance runs one backup at a time, so a second
    /// `RdsBackup` on the same instance waits (`WaitingForRunningBackup`) until the first ends.
    Allow,
}

/// What deleting the schedule does to the children it made.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum ChildrenDeletionPolicy {
    /// Keep the children: the schedule's ownerReference is removed from each before the
    /// schedule goes, so neither the garbage collector nor the operator deletes them and no
    /// cloud backup is touched.
    #[default]
    Orphan,
    /// Delete the children; what happens in the cloud then follows each child's own
    /// `deletionPolicy` (`Retain` keeps the backup set / snapshot, `Delete` removes it).
    Delete,
}

/// Which children stay. A successful child kept by any rule stays (grandfather-father-son);
/// the newest successful child always stays; running children are never pruned. Pruning
/// deletes the child object, and the cloud then follows the child's `deletionPolicy`:
/// `Delete` removes the backup set / snapshot, `Retain` (the default) keeps it in the cloud.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Keep the newest N successful children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_last: Option<u32>,
    /// Keep the newest successful child of each of the last N hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_hourly: Option<u32>,
    /// Keep the newest successful child of each of the last N days that have one (days in
    /// `timeZone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_daily: Option<u32>,
    /// Keep the newest successful child of each of the last N ISO weeks that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest successful child of each of the last N months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_monthly: Option<u32>,
    /// Keep the newest successful child of each of the last N years that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_yearly: Option<u32>,
    /// Keep every successful child younger than this (e.g. `7d`, `36h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"), length(max = 64))]
    pub max_age: Option<String>,
    /// Keep the newest N failed children (default 3); older failed children are pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub keep_failed: Option<u32>,
}

impl Retention {
    /// The rule used when `spec.retention` is not set: `keepLast: 5`, `keepDaily: 7`,
    /// `keepWeekly: 4`, `keepMonthly: 12`, `keepFailed: 3` — about a year of history for a
    /// daily schedule in at most 28 objects.
    pub fn backup_default() -> Self {
        Retention {
            keep_last: Some(5),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
            keep_failed: Some(DEFAULT_KEEP_FAILED),
            ..Retention::default()
        }
    }

    /// Whether no rule for successful children is set (then every successful child stays).
    pub fn keeps_all_successes(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_hourly.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
            && self.keep_yearly.is_none()
            && self.max_age.is_none()
    }
}

/// Failed children kept when `retention.keepFailed` is not set.
pub const DEFAULT_KEEP_FAILED: u32 = 3;

/// Labels and annotations put on every child.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildMetadata {
    /// Labels of each child (besides `backup.aliyun.dev/schedule`). GitOps tracking labels
    /// (`app.kubernetes.io/instance`, `argocd.argoproj.io/*`, `kustomize.toolkit.fluxcd.io/*`)
    /// are never copied to children.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of each child. GitOps tracking annotations (`argocd.argoproj.io/*`,
    /// `kustomize.toolkit.fluxcd.io/*`) and `kubectl.kubernetes.io/last-applied-configuration`
    /// are never copied to children.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Removes the immutability rule (`self == oldSelf`) of a child spec embedded in a schedule's
/// template: the child's spec cannot change, the template can.
pub fn mutable_child_spec(schema: &mut schemars::Schema) {
    if let Some(rules) = schema
        .get_mut("x-kubernetes-validations")
        .and_then(|v| v.as_array_mut())
    {
        rules.retain(|r| r.get("rule").and_then(|r| r.as_str()) != Some("self == oldSelf"));
        if rules.is_empty() {
            schema.remove("x-kubernetes-validations");
        }
    }
}

/// The shared part of both schedule specs; `T` is the child kind's spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleSpec<T> {
    /// When to make a backup: five cron fields (minute hour day-of-month month day-of-week,
    /// e.g. `30 2 * * *`) or `@hourly`, `@daily`, `@weekly`, `@monthly`, read in `timeZone`.
    #[schemars(
        regex(pattern = r"^(@(hourly|daily|weekly|monthly)|\S+(\s+\S+){4})$"),
        length(max = 200)
    )]
    pub schedule: String,

    /// IANA time zone of `schedule`, e.g. `Europe/Berlin` (default `UTC`). Daylight saving
    /// time behaves as for a Kubernetes CronJob: a time that does not exist (spring forward)
    /// is skipped; a time that occurs twice (fall back) runs twice.
    #[serde(default = "default_time_zone")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,

    /// Stop making children (running ones go on). When set back to false the most recent
    /// missed slot is made up, unless it is older than `startingDeadlineSeconds`.
    #[serde(default)]
    pub suspend: bool,

    /// Make one child as soon as the schedule is created, without waiting for the first slot
    /// (named after the creation time, so a restart never makes a second one).
    #[serde(default)]
    pub run_on_create: bool,

    /// A slot missed (operator down, suspended) is made up only within this many seconds
    /// after it; unset = always. After any downtime at most one missed slot (the most recent)
    /// is made up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub starting_deadline_seconds: Option<i64>,

    /// What to do when a slot comes while a child has not finished: `Forbid` (default: the
    /// slot waits for it), `Replace` (not for RDS) or `Allow`.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// Which children stay (see `Retention`). Unset: `keepLast: 5`, `keepDaily: 7`,
    /// `keepWeekly: 4`, `keepMonthly: 12`, `keepFailed: 3`. Pruning deletes child objects; the
    /// cloud backup then follows the child's `deletionPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,

    /// Recovery point objective, e.g. `26h`: condition `RPOMet` turns False (and the
    /// `AliyunBackupRPOMissed` alert fires) when the newest successful child is older.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"), length(max = 64))]
    pub rpo: Option<String>,

    /// What deleting the schedule does to its children: `Orphan` (default: they stay, and so
    /// do their cloud backups) or `Delete` (each child follows its own `deletionPolicy`).
    #[serde(default)]
    pub children_deletion_policy: ChildrenDeletionPolicy,

    /// The child every slot makes.
    pub template: ChildTemplate<T>,
}

fn default_time_zone() -> String {
    "UTC".to_string()
}

/// The child every slot makes: its labels/annotations and its full spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildTemplate<T> {
    /// Labels and annotations of each child.
    #[serde(default)]
    pub metadata: ChildMetadata,
    /// The spec of each child, checked by the same schema as the child kind.
    #[schemars(transform = crate::crd::schedule::mutable_child_spec)]
    pub spec: T,
}

/// Declares the spec of a schedule kind (the CRD `$kind` over children of spec `$child`): the
/// same derive, printer columns and flattened [`BackupScheduleSpec`] for every schedule kind.
macro_rules! schedule_crd {
    (
        $(#[$meta:meta])*
        $spec:ident, $child:ty,
        kind = $kind:literal, plural = $plural:literal, shortname = $short:literal,
        doc = $doc:literal, adoption = $adoption:literal
        $(, rule = $rule:literal, message = $message:literal)?
    ) => {
        $crate::crd::common::custom_resource! {
            kube(
                kind = $kind,
                plural = $plural,
                shortname = $short,
                status = "BackupScheduleStatus",
                doc = $doc,
                printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
                printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
                printcolumn(
                    name = "Last Run",
                    type_ = "date",
                    json_path = ".status.lastScheduleTime"
                ),
                printcolumn(
                    name = "Next Run",
                    type_ = "date",
                    json_path = ".status.nextScheduleTime"
                ),
                printcolumn(
                    name = "Last Success",
                    type_ = "date",
                    json_path = ".status.lastSuccessfulTime"
                ),
                printcolumn(
                    name = "RPO Met",
                    type_ = "string",
                    json_path = ".status.conditions[?(@.type==\"RPOMet\")].status"
                )
            );
            $(#[$meta])*
            #[x_kube(validation = kube::core::Rule::new(concat!(
                "!(", $adoption, ") && (!has(self.template.spec.managementPolicy) || ",
                "self.template.spec.managementPolicy == 'Manage')"
            )).message("a schedule makes new backups: its template cannot adopt an existing cloud object (backupJobId, backupId, jobId) or be ObserveOnly"))]
            $(#[x_kube(validation = kube::core::Rule::new($rule).message($message))])?
            pub struct $spec {
                /// The schedule (flattened: every field sits directly under `spec`).
                #[serde(flatten)]
                pub schedule: BackupScheduleSpec<$child>,
            }
        }
    };
}

schedule_crd!(
    /// A cron schedule of manual ApsaraDB RDS backups: one `RdsBackup` per slot, pruned by
    /// `retention`.
    RdsBackupScheduleSpec,
    RdsBackupSpec,
    kind = "RdsBackupSchedule",
    plural = "rdsbackupschedules",
    shortname = "rdssched",
    doc = "A cron schedule of RDS backups: makes one RdsBackup per slot, prunes old ones by retention, reports RPOMet.",
    adoption = "has(self.template.spec.backupJobId) || has(self.template.spec.backupId)",
    rule = "!has(self.concurrencyPolicy) || self.concurrencyPolicy != 'Replace'",
    message = "concurrencyPolicy Replace cannot stop a running RDS backup (RDS has no cancel call): use Forbid or Allow"
);

schedule_crd!(
    /// A cron schedule of Cloud Backup (HBR) jobs: one `HbrBackupJob` per slot, pruned by
    /// `retention`.
    HbrBackupScheduleSpec,
    HbrBackupJobSpec,
    kind = "HbrBackupSchedule",
    plural = "hbrbackupschedules",
    shortname = "hbrsched",
    doc = "A cron schedule of HBR backup jobs: makes one HbrBackupJob per slot, prunes old ones by retention, reports RPOMet.",
    adoption = "has(self.template.spec.jobId)"
);

/// Phase of a schedule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum SchedulePhase {
    /// Making children on schedule.
    #[default]
    Active,
    /// `spec.suspend` is true.
    Suspended,
}

impl SchedulePhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Suspended => "Suspended",
        }
    }
}

/// Children of a schedule by phase.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildCounts {
    /// Children not finished yet (including stalled ones, which the `Stalled` or `Ready`
    /// condition names).
    pub running: u32,
    /// Children that succeeded.
    pub succeeded: u32,
    /// Children that failed (or ended without a full success).
    pub failed: u32,
}

/// The last slot a schedule skipped, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRun {
    /// The slot.
    pub time: Time,
    /// Why: `MissedDeadline` (`ConcurrencyForbid` in statuses written by earlier versions).
    pub reason: String,
}

/// Observed state of a schedule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Active` or `Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SchedulePhase>,
    /// `Ready`, `Reconciling`, `Stalled` and, with `spec.rpo`, `RPOMet`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The slot of the last child made on schedule (or at creation with `runOnCreate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next slot (unset while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// When the newest successful child finished (kept after that child is pruned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// The last slot skipped (concurrency or starting deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skipped: Option<SkippedRun>,
    /// Names of the children that have not finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// Children by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<ChildCounts>,
    /// The last value of the `backup.aliyun.dev/trigger` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger: Option<String>,
    /// Things that work but may not be what was meant (e.g. retention with a template whose
    /// `deletionPolicy` is `Retain`: pruned children leave their backups in the cloud).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
