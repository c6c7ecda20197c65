//! HBR (Cloud Backup) `2017-09-08` restore operations: `CreateRestoreJob`,
//! `DescribeRestoreJobs2`, `CancelRestoreJob`.
//!
//! A restore job restores a snapshot the emulator made (`ECS_FILE` snapshots of file backups,
//! `UDM_ECS` snapshots of whole-machine backups). Behaviour the documentation leaves open is
//! listed in the crate README ("Restore: where the documentation is silent").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Params, obj, page as page_of, rand_alnum};
use crate::hbr::{
    CROSS_ACCOUNT_TYPES, HbrState, check_edition, filter_matches, invalid, invalid_msg, json_param,
    paging, parse_filters_with,
};
use crate::scenario::{HbrOutcome, Scenario, take, target_matches};

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

/// `SourceType` values.
const SOURCE_TYPES: &[&str] = &[
    "ECS_FILE",
    "OSS",
    "NAS",
    "COMMON_FILE_SYSTEM",
    "OTS_TABLE",
    "UDM_ECS",
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

const GIB: i64 = 1024 * 1024 * 1024;

/// One restore job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HbrRestoreJob {
    /// `RestoreId`.
    pub id: String,
    /// `RestoreType`.
    pub restore_type: String,
    /// `SourceType`.
    pub source_type: String,
    /// `SnapshotId`.
    pub snapshot_id: String,
    /// `SnapshotHash`.
    pub snapshot_hash: String,
    /// `VaultId`.
    pub vault_id: String,
    /// The backup job that made the snapshot.
    pub backup_job_id: String,
    /// The ECS instance the snapshot was taken of.
    pub source_instance_id: String,
    /// Creation time (emulator ms).
    pub created_ms: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// Injected end state.
    pub outcome: Option<(HbrOutcome, String)>,
    /// `CancelRestoreJob` time (emulator ms).
    pub canceled_ms: Option<i64>,
    /// Bytes to restore.
    pub bytes_total: i64,
    /// Request fields echoed back (`TargetInstanceId`, `TargetPath`, `Include`, `Options`,
    /// `UdmDetail`, …).
    pub fields: Map<String, Value>,
}

/// A restore job's state at a point in time (the same fields as a backup job's).
pub type RestoreProgress = crate::hbr::JobProgress;

impl HbrRestoreJob {
    fn at(&self, f: f64) -> i64 {
        self.created_ms + (self.duration_ms as f64 * f) as i64
    }

    fn frac(&self, t: i64) -> f64 {
        (t - self.created_ms) as f64 / self.duration_ms.max(1) as f64
    }

    /// The state without a cancel: `CREATED → QUEUED → RUNNING → COMPLETE`, or `FAILED`
    /// half-way / `PARTIAL_COMPLETE` at the end when injected.
    fn natural(&self, now: i64) -> RestoreProgress {
        let f = self.frac(now);
        let start = (f >= 0.1).then(|| self.at(0.1) / 1000);
        let running = crate::hbr::running_progress;
        if let Some(end) = crate::hbr::injected_end(self.outcome.as_ref(), f, start, |x| self.at(x))
        {
            return end;
        }
        let (status, progress) = match f {
            f if f < 0.05 => ("CREATED", 0),
            f if f < 0.1 => ("QUEUED", 0),
            f if f < 1.0 => ("RUNNING", running(f)),
            _ => ("COMPLETE", 10_000),
        };
        RestoreProgress {
            status,
            progress,
            error: String::new(),
            start,
            complete: (status == "COMPLETE").then(|| self.at(1.0) / 1000),
        }
    }

    /// The state at `now`. A cancel accepted while the job ran shows `CANCELING` for a tenth
    /// of the job duration, then `CANCELED`.
    pub fn progress(&self, now: i64) -> RestoreProgress {
        if let Some(c) = self.canceled_ms
            && now >= c
        {
            let at_cancel = self.natural(c);
            let settle = c + (self.duration_ms / 10).max(1);
            let status = if now < settle {
                "CANCELING"
            } else {
                "CANCELED"
            };
            return RestoreProgress {
                status,
                progress: at_cancel.progress,
                error: if status == "CANCELED" {
                    "The job was canceled by the user.".into()
                } else {
                    String::new()
                },
                start: at_cancel.start,
                complete: (status == "CANCELED").then_some(settle / 1000),
            };
        }
        self.natural(now)
    }

    /// Whether the job has ended.
    pub fn terminal(&self, now: i64) -> bool {
        !matches!(
            self.progress(now).status,
            "CREATED" | "QUEUED" | "RUNNING" | "CANCELING"
        )
    }

    fn field(&self, k: &str) -> Value {
        self.fields.get(k).cloned().unwrap_or(json!(""))
    }

    /// The job as `DescribeRestoreJobs2` lists it.
    pub fn json(&self, now: i64) -> Value {
        let pr = self.progress(now);
        let done = self.bytes_total * pr.progress / 10_000;
        let items_total = if self.source_type == "ECS_FILE" {
            12_000
        } else {
            0
        };
        let items_done = items_total * pr.progress / 10_000;
        let mut m = obj([
            ("RestoreId", json!(self.id)),
            ("RestoreType", json!(self.restore_type)),
            ("SourceType", json!(self.source_type)),
            ("Status", json!(pr.status)),
            ("Progress", json!(pr.progress)),
            ("ErrorMessage", json!(pr.error)),
            ("ErrorFile", json!("")),
            ("SnapshotId", json!(self.snapshot_id)),
            ("SnapshotHash", json!(self.snapshot_hash)),
            ("VaultId", json!(self.vault_id)),
            ("SourceInstanceId", json!(self.source_instance_id)),
            ("SourceResourceId", json!(self.source_instance_id)),
            ("CreatedTime", json!(self.created_ms / 1000)),
            ("UpdatedTime", json!(pr.complete.unwrap_or(now / 1000))),
            ("ExpireTime", json!(self.created_ms / 1000 + 7 * 86_400)),
            ("BytesTotal", json!(self.bytes_total)),
            ("BytesDone", json!(done)),
            ("ActualBytes", json!(done)),
            ("ItemsTotal", json!(items_total)),
            ("ItemsDone", json!(items_done)),
            ("ActualItems", json!(items_done)),
            (
                "Speed",
                json!(if pr.status == "RUNNING" { 51_200 } else { 0 }),
            ),
            ("ParentId", json!("")),
            ("StorageClass", json!("STANDARD")),
        ]);
        for k in [
            "TargetInstanceId",
            "TargetPath",
            "TargetBucket",
            "TargetPrefix",
            "TargetFileSystemId",
            "TargetCreateTime",
            "TargetInstanceName",
            "TargetTableName",
            "TargetTime",
            "Include",
            "Exclude",
            "Options",
            "UdmDetail",
            "FailbackDetail",
            "OtsDetail",
        ] {
            m.insert(k.into(), self.field(k));
        }
        if let Some(s) = pr.start {
            m.insert("StartTime".into(), json!(s));
        }
        if let Some(c) = pr.complete {
            m.insert("CompleteTime".into(), json!(c));
        }
        if self.source_type == "ECS_FILE" {
            let ended = self.terminal(now);
            let ok = matches!(pr.status, "COMPLETE" | "PARTIAL_COMPLETE");
            m.insert(
                "Report".into(),
                json!({
                    "ReportTaskStatus": if ended { "COMPLETE" } else { "CREATED" },
                    "TotalFiles": if ended { items_total.to_string() } else { String::new() },
                    "SuccessFiles": if ok { items_done.to_string() } else { String::new() },
                    "FailedFiles": if pr.status == "PARTIAL_COMPLETE" { "3" } else { "" },
                    "SkippedFiles": "",
                }),
            );
        }
        Value::Object(m)
    }

    /// The values a filter key is matched against (`InstanceId` matches the target or the
    /// source instance; `JobId` is the backup job of the snapshot).
    fn filter_views(&self, now: i64) -> Vec<Value> {
        let base = self.json(now);
        let target = self
            .fields
            .get("TargetInstanceId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| udm_str(self.fields.get("UdmDetail"), "targetInstanceId"));
        let mut instances = vec![self.source_instance_id.clone()];
        instances.extend(target.clone());
        instances
            .into_iter()
            .map(|inst| {
                let mut v = base.clone();
                if let Some(m) = v.as_object_mut() {
                    let get = |k: &str| m.get(k).cloned().unwrap_or(json!(""));
                    let extra = [
                        ("RegionId", json!("cn-hangzhou")),
                        ("PlanId", json!("")),
                        ("JobId", json!(self.backup_job_id)),
                        ("InstanceId", json!(inst)),
                        ("Bucket", get("TargetBucket")),
                        ("FileSystemId", get("TargetFileSystemId")),
                        ("vaultId", get("VaultId")),
                        ("restoreId", get("RestoreId")),
                        ("sourceType", get("SourceType")),
                        ("targetBucket", get("TargetBucket")),
                        ("targetFileSystemId", get("TargetFileSystemId")),
                        (
                            "targetInstanceId",
                            json!(target.clone().unwrap_or_default()),
                        ),
                    ];
                    for (k, x) in extra {
                        m.insert(k.into(), x);
                    }
                }
                v
            })
            .collect()
    }
}

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

    fn create_restore(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let rt = p.req("RestoreType")?;
        let st = p.req("SourceType")?;
        if !RESTORE_TYPES.contains(&rt) {
            return Err(invalid("RestoreType"));
        }
        if !SOURCE_TYPES.contains(&st) {
            return Err(invalid("SourceType"));
        }
        if !same_kind(rt, st) {
            return Err(invalid_msg(format!(
                "The RestoreType {rt} does not match the SourceType {st}: the source and destination must have the same data source type."
            )));
        }
        // Not required by the SDK model, but no restore can run without them (the official
        // Terraform provider requires all three).
        let snapshot_id = p.req("SnapshotId")?;
        let snapshot_hash = p.opt("SnapshotHash");
        let vault_id = p.opt("VaultId");
        if st != "UDM_ECS" {
            p.req("SnapshotHash")?;
            p.req("VaultId")?;
        }
        check_edition(p)?;
        p.choice("CrossAccountType", CROSS_ACCOUNT_TYPES, invalid)?;
        let mut fields = Map::new();
        for k in ["Include", "Exclude"] {
            if let Some(v) = p.opt(k) {
                if v.chars().count() > 255 {
                    return Err(invalid_msg(format!(
                        "The parameter {k} must be at most 255 characters."
                    )));
                }
                json_param(p, k, true)?;
                fields.insert(k.into(), json!(v));
            }
        }
        for k in ["Options", "UdmDetail", "FailbackDetail", "OtsDetail"] {
            if json_param(p, k, false)?.is_some() {
                fields.insert(k.into(), json!(p.opt(k).unwrap_or_default()));
            }
        }
        for k in [
            "TargetInstanceId",
            "TargetPath",
            "TargetBucket",
            "TargetPrefix",
            "TargetFileSystemId",
            "TargetInstanceName",
            "TargetTableName",
            "UdmRegionId",
        ] {
            if let Some(v) = p.opt(k) {
                fields.insert(k.into(), json!(v));
            }
        }
        for k in ["TargetCreateTime", "TargetTime"] {
            if let Some(v) = p.int(k, invalid)? {
                fields.insert(k.into(), json!(v));
            }
        }
        let udm: Value = p
            .opt("UdmDetail")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!({}));
        let udm_req = |k: &str| -> Result<String, ApiError> {
            udm_str(Some(&udm), k)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    invalid_msg(format!(
                        "The UdmDetail.{k} parameter is required for RestoreType {rt}."
                    ))
                })
        };
        match rt {
            "ECS_FILE" => {
                let target = p.req("TargetInstanceId")?;
                p.req("TargetPath")?;
                self.ecs_must_exist(target)?;
            }
            "OSS" => {
                p.req("TargetBucket")?;
            }
            "NAS" | "COMMON_FILE_SYSTEM" => {
                p.req("TargetFileSystemId")?;
                p.req("TargetCreateTime")?;
            }
            "OTS_TABLE" => {
                p.req("TargetInstanceName")?;
                p.req("TargetTableName")?;
            }
            "UDM_ECS_ROLLBACK" | "UDM_ECS_DISK_ROLLBACK" => {
                let src = udm_req("sourceInstanceId")?;
                self.ecs_must_exist(&src)?;
                for k in ["forceRestore", "foreceRestore", "bootAfterRestore"] {
                    if udm.get(k).is_some_and(|v| !v.is_boolean()) {
                        return Err(invalid_msg(format!("UdmDetail.{k} must be a boolean.")));
                    }
                }
            }
            "UDM_ECS" => {
                for k in [
                    "diskCategory",
                    "instanceType",
                    "restoredNetwork",
                    "securityGroup",
                    "restoredName",
                    "restoredHostName",
                ] {
                    udm_req(k)?;
                }
            }
            "UDM_ECS_DISK" => {
                let target = udm_req("targetInstanceId")?;
                udm_req("diskCategory")?;
                self.ecs_must_exist(&target)?;
            }
            _ => {}
        }
        // The snapshot: made by a finished backup job of the same source type, in the vault
        // given, with the hash given.
        let snap = self
            .jobs
            .iter()
            .filter(|j| j.source_type == st)
            .filter_map(|j| j.snapshot(now).map(|s| (j, s)))
            .find(|(_, s)| s.get("SnapshotId").and_then(Value::as_str) == Some(snapshot_id));
        let Some((job, snap)) = snap else {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} does not exist."
            )));
        };
        let hash = snap
            .get("SnapshotHash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if snapshot_hash.is_some_and(|h| h != hash) {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} with the given SnapshotHash does not exist."
            )));
        }
        if let Some(v) = vault_id
            && !job.vault_id.is_empty()
            && job.vault_id != v
        {
            return Err(not_found(format!(
                "The snapshot {snapshot_id} does not exist in vault {v}."
            )));
        }
        if rt.ends_with("ROLLBACK")
            && let Ok(src) = udm_req("sourceInstanceId")
            && src != job.instance_id
        {
            return Err(invalid_msg(format!(
                "UdmDetail.sourceInstanceId {src} is not the instance {} the snapshot was taken of.",
                job.instance_id
            )));
        }
        let source_instance_id = job.instance_id.clone();
        let backup_job_id = job.id.clone();
        let bytes_total = job.bytes_total.max(GIB);
        let id = format!("r-000{}", rand_alnum(14));
        let probe = HbrRestoreJob {
            id: id.clone(),
            restore_type: rt.to_owned(),
            source_type: st.to_owned(),
            snapshot_id: snapshot_id.to_owned(),
            snapshot_hash: hash,
            vault_id: vault_id.unwrap_or(&job.vault_id).to_owned(),
            backup_job_id,
            source_instance_id,
            created_ms: now,
            duration_ms: job_ms,
            outcome: None,
            canceled_ms: None,
            bytes_total,
            fields,
        };
        let outcome = take(pending, |s| match s {
            Scenario::HbrRestoreOutcome {
                target,
                outcome,
                message,
            } if restore_matches(target, &probe) => Some((*outcome, message.clone())),
            _ => None,
        });
        self.restore_jobs.push(HbrRestoreJob { outcome, ..probe });
        Ok(obj([("RestoreId", json!(id))]))
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
mod tests {
    use super::*;

    fn job() -> HbrRestoreJob {
        HbrRestoreJob {
            id: "r-1".into(),
            restore_type: "ECS_FILE".into(),
            source_type: "ECS_FILE".into(),
            snapshot_id: "s-1".into(),
            snapshot_hash: "h".into(),
            vault_id: "v-1".into(),
            backup_job_id: "job-1".into(),
            source_instance_id: "i-1".into(),
            created_ms: 0,
            duration_ms: 1000,
            outcome: None,
            canceled_ms: None,
            bytes_total: GIB,
            fields: Map::new(),
        }
    }

    #[test]
    fn states_in_order_and_cancel() {
        let j = job();
        let seen: Vec<&str> = [0, 60, 500, 1000]
            .iter()
            .map(|t| j.progress(*t).status)
            .collect();
        assert_eq!(seen, ["CREATED", "QUEUED", "RUNNING", "COMPLETE"]);
        let mut c = job();
        c.canceled_ms = Some(300);
        assert_eq!(c.progress(300).status, "CANCELING");
        assert!(!c.terminal(300));
        assert_eq!(c.progress(400).status, "CANCELED");
        assert!(c.terminal(2000));
        let mut f = job();
        f.outcome = Some((HbrOutcome::Failed, "x".into()));
        assert_eq!(f.progress(500).status, "FAILED");
        assert!(same_kind("UDM_ECS_ROLLBACK", "UDM_ECS"));
        assert!(!same_kind("OSS", "ECS_FILE"));
    }
}
