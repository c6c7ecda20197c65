//! One HBR restore job: its progress on the emulator clock and its answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::udm_str;
use crate::api::obj;
use crate::scenario::HbrOutcome;

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
        let running = crate::hbr::job::running_progress;
        if let Some(end) =
            crate::hbr::job::injected_end(self.outcome.as_ref(), f, start, |x| self.at(x))
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
            m.insert(
                "Report".into(),
                report(self.terminal(now), pr.status, items_total, items_done),
            );
        }
        Value::Object(m)
    }

    /// The values a filter key is matched against (`InstanceId` matches the target or the
    /// source instance; `JobId` is the backup job of the snapshot).
    pub(super) fn filter_views(&self, now: i64) -> Vec<Value> {
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

/// The file report of an `ECS_FILE` restore job (`ended`: the job has ended; `status` its
/// `Status`).
fn report(ended: bool, status: &str, items_total: i64, items_done: i64) -> Value {
    let ok = matches!(status, "COMPLETE" | "PARTIAL_COMPLETE");
    json!({
        "ReportTaskStatus": if ended { "COMPLETE" } else { "CREATED" },
        "TotalFiles": if ended { items_total.to_string() } else { String::new() },
        "SuccessFiles": if ok { items_done.to_string() } else { String::new() },
        "FailedFiles": if status == "PARTIAL_COMPLETE" { "3" } else { "" },
        "SkippedFiles": "",
    })
}
