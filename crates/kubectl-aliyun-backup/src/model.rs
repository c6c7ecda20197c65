//! One view of every kind: what the commands read from an object, taken from the operator's own
//! CRD types (no second definition of a kind). The commands' logic works on [`View`]s, so it is
//! pure and tested without an API server.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use aliyun_backup_operator::crd::{
    CONDITION_PAUSED, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, DbsBackupPlan,
    HbrBackupJob, HbrBackupSchedule, LABEL_SCHEDULE, RdsBackup, RdsBackupSchedule, find_condition,
};

pub use crate::restore_view::RestoreInfo;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use serde::Serialize;

/// The eight kinds of `backup.aliyun.dev/v1alpha1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    RdsBackup,
    HbrBackupJob,
    DbsBackupPlan,
    RdsBackupSchedule,
    HbrBackupSchedule,
    RdsRestore,
    HbrRestoreJob,
    DbsRestoreTask,
}

impl Kind {
    /// Every kind, in the order tables list them.
    pub const ALL: [Kind; 8] = [
        Kind::RdsBackupSchedule,
        Kind::HbrBackupSchedule,
        Kind::DbsBackupPlan,
        Kind::RdsBackup,
        Kind::HbrBackupJob,
        Kind::RdsRestore,
        Kind::HbrRestoreJob,
        Kind::DbsRestoreTask,
    ];

    /// The kinds that protect something (what `status` lists).
    pub const PROTECTING: [Kind; 5] = [
        Kind::RdsBackupSchedule,
        Kind::HbrBackupSchedule,
        Kind::DbsBackupPlan,
        Kind::RdsBackup,
        Kind::HbrBackupJob,
    ];

    /// The kind's name (`RdsBackup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RdsBackup => "RdsBackup",
            Kind::HbrBackupJob => "HbrBackupJob",
            Kind::DbsBackupPlan => "DbsBackupPlan",
            Kind::RdsBackupSchedule => "RdsBackupSchedule",
            Kind::HbrBackupSchedule => "HbrBackupSchedule",
            Kind::RdsRestore => "RdsRestore",
            Kind::HbrRestoreJob => "HbrRestoreJob",
            Kind::DbsRestoreTask => "DbsRestoreTask",
        }
    }

    /// What kubectl calls it on the command line (`rdsbackup`).
    pub fn cli_name(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// Whether the kind is a schedule.
    pub fn is_schedule(self) -> bool {
        matches!(self, Kind::RdsBackupSchedule | Kind::HbrBackupSchedule)
    }

    /// Whether the kind is a restore.
    pub fn is_restore(self) -> bool {
        matches!(
            self,
            Kind::RdsRestore | Kind::HbrRestoreJob | Kind::DbsRestoreTask
        )
    }

    /// The cloud service the kind protects (or restores) with.
    pub fn service(self) -> &'static str {
        match self {
            Kind::RdsBackup | Kind::RdsBackupSchedule | Kind::RdsRestore => "RDS",
            Kind::HbrBackupJob | Kind::HbrBackupSchedule | Kind::HbrRestoreJob => "HBR",
            Kind::DbsBackupPlan | Kind::DbsRestoreTask => "DBS",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Kind::RdsBackup => &["rdsbackup", "rdsbackups", "rdsbk"],
            Kind::HbrBackupJob => &["hbrbackupjob", "hbrbackupjobs", "hbrjob"],
            Kind::DbsBackupPlan => &["dbsbackupplan", "dbsbackupplans", "dbsplan"],
            Kind::RdsBackupSchedule => &["rdsbackupschedule", "rdsbackupschedules", "rdssched"],
            Kind::HbrBackupSchedule => &["hbrbackupschedule", "hbrbackupschedules", "hbrsched"],
            Kind::RdsRestore => &["rdsrestore", "rdsrestores", "rdsrs"],
            Kind::HbrRestoreJob => &["hbrrestorejob", "hbrrestorejobs", "hbrrs"],
            Kind::DbsRestoreTask => &["dbsrestoretask", "dbsrestoretasks", "dbsrs"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    /// Kind, plural or short name, any case, with or without `.backup.aliyun.dev`.
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let bare = lower.strip_suffix(".backup.aliyun.dev").unwrap_or(&lower);
        Kind::ALL
            .into_iter()
            .find(|k| k.aliases().contains(&bare))
            .ok_or_else(|| {
                format!(
                    "unknown kind {s:?} (expected rdsbackup, hbrbackupjob, dbsbackupplan, \
                     rdsbackupschedule, hbrbackupschedule, rdsrestore, hbrrestorejob or \
                     dbsrestoretask, or their short names)"
                )
            })
    }
}

/// `KIND/NAME` of the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: Kind,
    pub name: String,
}

impl FromStr for ObjectRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, name) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected KIND/NAME, e.g. rdsbackup/nightly-orders"))?;
        if name.is_empty() {
            return Err(format!("{s:?}: the name is empty"));
        }
        Ok(ObjectRef {
            kind: kind.parse()?,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.cli_name(), self.name)
    }
}

/// What the commands know of one object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub kind: Option<Kind>,
    pub namespace: String,
    pub name: String,
    #[serde(skip)]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub conditions: Vec<Condition>,
    /// `status.phase` (schedules: `Active`/`Suspended`).
    pub phase: Option<String>,
    /// What is protected: the RDS instance, the HBR instance (or source type), the DBS source.
    pub target: String,
    /// Cloud ids (`backupJobId`, `backupId`, `jobId`, `backupPlanId`, …) in order.
    pub cloud_ids: Vec<(String, String)>,
    pub progress: Option<i32>,
    /// When the last successful backup ended.
    pub last_success: Option<Timestamp>,
    /// `spec.rpo` of a schedule or plan.
    pub rpo: Option<String>,
    /// `spec.suspend` of a schedule or plan.
    pub suspended: bool,
    /// The schedule that made this child (its label).
    pub schedule: Option<String>,
    pub created: Option<Timestamp>,
    pub deleting: bool,
    /// A schedule's next slot.
    pub next_run: Option<Timestamp>,
    /// A schedule's unfinished children.
    pub active: Vec<String>,
    /// `spec.credentialsRef.name` (schedules: of the template).
    pub credentials: Option<String>,
    /// `spec.timeout` (schedules: of the template).
    pub timeout: Option<String>,
    pub management_policy: String,
    pub region: String,
    /// A schedule's `status.lastTrigger`.
    pub last_trigger: Option<String>,
    /// A schedule's `status.warnings`.
    pub warnings: Vec<String>,
    /// What a restore kind adds (source, plan, cloud status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreInfo>,
}

pub(crate) fn ts(
    t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

pub(crate) fn ids(pairs: &[(&str, &Option<String>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_string(), v.clone())))
        .collect()
}

pub(crate) fn base(kind: Kind, meta: &ObjectMeta) -> View {
    View {
        kind: Some(kind),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        schedule: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SCHEDULE))
            .cloned(),
        created: ts(&meta.creation_timestamp),
        deleting: meta.deletion_timestamp.is_some(),
        ..View::default()
    }
}

impl From<&RdsBackup> for View {
    fn from(o: &RdsBackup) -> View {
        let mut v = base(Kind::RdsBackup, &o.metadata);
        v.target = o.spec.db_instance_id.clone();
        v.region = o.spec.region.clone();
        v.credentials = o.spec.credentials_ref.as_ref().map(|c| c.name.clone());
        v.timeout = o.spec.timeout.clone();
        v.management_policy = o.spec.management_policy.as_str().to_string();
        if let Some(s) = &o.status {
            v.phase = s.phase.map(|p| p.as_str().to_string());
            v.conditions = s.conditions.clone();
            v.cloud_ids = ids(&[
                ("backupJobId", &s.backup_job_id),
                ("backupId", &s.backup_id),
            ]);
            v.progress = s.progress;
            if v.phase.as_deref() == Some("Succeeded") {
                v.last_success = ts(&s.completion_time);
            }
        } else {
            v.cloud_ids = ids(&[
                ("backupJobId", &o.spec.backup_job_id),
                ("backupId", &o.spec.backup_id),
            ]);
        }
        v
    }
}

impl From<&HbrBackupJob> for View {
    fn from(o: &HbrBackupJob) -> View {
        let mut v = base(Kind::HbrBackupJob, &o.metadata);
        v.target = hbr_target(
            o.spec.instance_id.as_deref(),
            o.spec.source_type.as_str(),
            o.spec.vault_id.as_deref(),
        );
        v.region = o.spec.region.clone();
        v.credentials = o.spec.credentials_ref.as_ref().map(|c| c.name.clone());
        v.timeout = o.spec.timeout.clone();
        v.management_policy = o.spec.management_policy.as_str().to_string();
        if let Some(s) = &o.status {
            v.phase = s.phase.map(|p| p.as_str().to_string());
            v.conditions = s.conditions.clone();
            v.cloud_ids = ids(&[("jobId", &s.job_id)]);
            for snap in &s.snapshot_ids {
                v.cloud_ids.push(("snapshotId".into(), snap.clone()));
            }
            v.progress = s.progress;
            if matches!(
                v.phase.as_deref(),
                Some("Succeeded") | Some("PartiallySucceeded")
            ) {
                v.last_success = ts(&s.completion_time);
            }
        } else {
            v.cloud_ids = ids(&[("jobId", &o.spec.job_id)]);
        }
        v
    }
}

/// What an HBR job protects: its instance, else its source type (and vault).
pub fn hbr_target(instance: Option<&str>, source_type: &str, vault: Option<&str>) -> String {
    match (instance, vault) {
        (Some(i), _) => i.to_string(),
        (None, Some(vault)) => format!("{source_type} in {vault}"),
        (None, None) => source_type.to_string(),
    }
}

impl From<&DbsBackupPlan> for View {
    fn from(o: &DbsBackupPlan) -> View {
        let mut v = base(Kind::DbsBackupPlan, &o.metadata);
        let src = &o.spec.source;
        v.target = match (&src.instance_id, &src.ip, src.port) {
            (Some(id), _, _) => id.clone(),
            (None, Some(ip), Some(port)) => format!("{ip}:{port}"),
            (None, Some(ip), None) => ip.clone(),
            _ => o.spec.plan_name.clone(),
        };
        v.region = o.spec.region.clone();
        v.credentials = o.spec.credentials_ref.as_ref().map(|c| c.name.clone());
        v.rpo = o.spec.rpo.clone();
        v.suspended = o.spec.suspend;
        v.management_policy = o.spec.management_policy.as_str().to_string();
        if let Some(s) = &o.status {
            v.phase = s.phase.map(|p| p.as_str().to_string());
            v.conditions = s.conditions.clone();
            v.cloud_ids = ids(&[
                ("backupPlanId", &s.backup_plan_id),
                ("orderId", &s.order_id),
            ]);
            if let Some(set) = &s.latest_full_backup_set {
                v.cloud_ids
                    .extend(ids(&[("latestFullBackupSetId", &set.id)]));
            }
            v.last_success = ts(&s.last_successful_backup_time);
        } else {
            v.cloud_ids = ids(&[("backupPlanId", &o.spec.backup_plan_id)]);
        }
        v
    }
}

macro_rules! schedule_view {
    ($ty:ty, $kind:expr, $target:expr) => {
        impl From<&$ty> for View {
            fn from(o: &$ty) -> View {
                let mut v = base($kind, &o.metadata);
                let s = &o.spec.schedule;
                let child = &s.template.spec;
                #[allow(clippy::redundant_closure_call)]
                {
                    v.target = ($target)(child);
                }
                v.region = child.region.clone();
                v.credentials = child.credentials_ref.as_ref().map(|c| c.name.clone());
                v.timeout = child.timeout.clone();
                v.rpo = s.rpo.clone();
                v.suspended = s.suspend;
                v.management_policy = child.management_policy.as_str().to_string();
                if let Some(st) = &o.status {
                    v.phase = st.phase.map(|p| p.as_str().to_string());
                    v.conditions = st.conditions.clone();
                    v.last_success = ts(&st.last_successful_time);
                    v.next_run = ts(&st.next_schedule_time);
                    v.active = st.active.clone();
                    v.last_trigger = st.last_trigger.clone();
                    v.warnings = st.warnings.clone();
                }
                v
            }
        }
    };
}

schedule_view!(
    RdsBackupSchedule,
    Kind::RdsBackupSchedule,
    |c: &aliyun_backup_operator::crd::RdsBackupSpec| c.db_instance_id.clone()
);
schedule_view!(
    HbrBackupSchedule,
    Kind::HbrBackupSchedule,
    |c: &aliyun_backup_operator::crd::HbrBackupJobSpec| hbr_target(
        c.instance_id.as_deref(),
        c.source_type.as_str(),
        c.vault_id.as_deref()
    )
);

impl View {
    /// The kind (every view made from an object has one).
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::RdsBackup)
    }

    /// `KIND/NAME`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind().cli_name(), self.name)
    }

    /// The condition of type `t`.
    pub fn condition(&self, t: &str) -> Option<&Condition> {
        find_condition(&self.conditions, t)
    }

    /// Whether condition `t` is `True`.
    pub fn is_true(&self, t: &str) -> bool {
        self.condition(t).is_some_and(|c| c.status == "True")
    }

    /// Whether condition `t` is `False`.
    pub fn is_false(&self, t: &str) -> bool {
        self.condition(t).is_some_and(|c| c.status == "False")
    }

    /// Paused: the `Paused` condition, or the annotation the operator has not acted on yet.
    pub fn is_paused(&self) -> bool {
        self.is_true(CONDITION_PAUSED)
            || aliyun_backup_operator::crd::paused(Some(&self.annotations))
    }

    pub fn is_stalled(&self) -> bool {
        self.is_true(CONDITION_STALLED)
    }

    pub fn is_ready(&self) -> bool {
        self.is_true(CONDITION_READY)
    }

    pub fn is_reconciling(&self) -> bool {
        self.is_true(CONDITION_RECONCILING)
    }

    /// Failed for good (one-shot kinds; a restore that restored only part of the data too).
    pub fn is_failed(&self) -> bool {
        match self.phase.as_deref() {
            Some("Failed") | Some("Cancelled") => true,
            Some("PartiallySucceeded") => self.kind().is_restore(),
            _ => false,
        }
    }

    /// A one-shot backup that has not ended (or a plan that has not started).
    pub fn is_running(&self) -> bool {
        match self.kind() {
            Kind::RdsBackup | Kind::HbrBackupJob => matches!(
                self.phase.as_deref(),
                None | Some("Pending") | Some("Creating") | Some("Running")
            ),
            Kind::DbsBackupPlan => {
                matches!(self.phase.as_deref(), Some("Creating") | Some("Starting"))
            }
            Kind::RdsRestore | Kind::HbrRestoreJob | Kind::DbsRestoreTask => matches!(
                self.phase.as_deref(),
                None | Some("Pending") | Some("Starting") | Some("Restoring")
            ),
            _ => false,
        }
    }

    /// Whether the object's work is finished: `Ready=True`.
    pub fn is_done(&self) -> bool {
        self.is_ready() && !self.is_paused()
    }
}
