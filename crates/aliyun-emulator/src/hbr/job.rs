//! One HBR backup job: its progress on the emulator clock, its answer, and the snapshot it
//! leaves.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::obj;
use crate::scenario::HbrOutcome;

pub(crate) const FAIL_AT: f64 = 0.5;

/// `Progress` (0–10000) of work that is `f` of the way through its duration (running from a
/// tenth of it).
pub(crate) fn running_progress(f: f64) -> i64 {
    (((f - 0.1) / 0.9 * 10_000.0) as i64).clamp(0, 9_999)
}

/// The end an injected outcome forces at fraction `f` (a failure half-way, a partial
/// completion at the end), shared by backup and restore jobs; `at` maps a fraction to unix ms.
pub(crate) fn injected_end(
    outcome: Option<&(HbrOutcome, String)>,
    f: f64,
    start: Option<i64>,
    at: impl Fn(f64) -> i64,
) -> Option<JobProgress> {
    match outcome {
        Some((HbrOutcome::Failed, msg)) if f >= FAIL_AT => Some(JobProgress {
            status: "FAILED",
            progress: running_progress(FAIL_AT),
            error: msg.clone(),
            start,
            complete: Some(at(FAIL_AT) / 1000),
        }),
        Some((HbrOutcome::PartialComplete, msg)) if f >= 1.0 => Some(JobProgress {
            status: "PARTIAL_COMPLETE",
            progress: 10_000,
            error: msg.clone(),
            start,
            complete: Some(at(1.0) / 1000),
        }),
        _ => None,
    }
}

/// One backup job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HbrJob {
    /// `JobId`.
    pub id: String,
    /// `JobName`.
    pub name: String,
    /// `SourceType`.
    pub source_type: String,
    /// ECS `InstanceId` (UDM_ECS / ECS_FILE).
    pub instance_id: String,
    /// `VaultId`.
    pub vault_id: String,
    /// `BackupType`.
    pub backup_type: String,
    /// Retention days.
    pub retention: i64,
    /// Creation time (emulator ms).
    pub created_ms: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// Injected end state.
    pub outcome: Option<(HbrOutcome, String)>,
    /// Cancelled at (emulator ms).
    pub canceled_ms: Option<i64>,
    /// Total bytes to back up.
    pub bytes_total: i64,
    /// Parsed `Detail` (UDM_ECS).
    pub detail: Value,
    /// Other request fields echoed back (`Include`, `Exclude`, `Options`, `SpeedLimit`,
    /// `ClusterId`, `ContainerClusterId`, `CrossAccount*`).
    pub extra: Map<String, Value>,
    /// Snapshot produced by the job (`UDM_ECS` and `ECS_FILE` jobs that complete).
    pub snapshot_id: String,
    /// Snapshot deleted by `DeleteSnapshot`.
    pub snapshot_deleted: bool,
}

/// Job progress at a point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProgress {
    /// `Status`.
    pub status: &'static str,
    /// `Progress` 0–10000.
    pub progress: i64,
    /// `ErrorMessage`.
    pub error: String,
    /// `StartTime` (unix s), once running.
    pub start: Option<i64>,
    /// `CompleteTime` (unix s), once ended.
    pub complete: Option<i64>,
}

impl HbrJob {
    fn at(&self, f: f64) -> i64 {
        self.created_ms + (self.duration_ms as f64 * f) as i64
    }

    /// `CREATED → RUNNING → COMPLETE` (or `PARTIAL_COMPLETE` / `FAILED` / `CANCELED`).
    pub fn progress(&self, now: i64) -> JobProgress {
        let d = self.duration_ms.max(1) as f64;
        let f = (now - self.created_ms) as f64 / d;
        let start = (f >= 0.1).then(|| self.at(0.1) / 1000);
        let running = running_progress;
        if let Some(c) = self.canceled_ms {
            let fc = (c - self.created_ms) as f64 / d;
            if fc < 1.0
                && now >= c
                && !(self
                    .outcome
                    .as_ref()
                    .is_some_and(|(o, _)| *o == HbrOutcome::Failed)
                    && fc >= FAIL_AT)
            {
                return JobProgress {
                    status: "CANCELED",
                    progress: if fc < 0.1 { 0 } else { running(fc) },
                    error: "The job was canceled by the user.".into(),
                    start: (fc >= 0.1).then(|| self.at(0.1) / 1000),
                    complete: Some(c / 1000),
                };
            }
        }
        if let Some(end) = injected_end(self.outcome.as_ref(), f, start, |x| self.at(x)) {
            return end;
        }
        let (status, progress) = match f {
            f if f < 0.1 => ("CREATED", 0),
            f if f < 1.0 => ("RUNNING", running(f)),
            _ => ("COMPLETE", 10_000),
        };
        JobProgress {
            status,
            progress,
            error: String::new(),
            start,
            complete: (status == "COMPLETE").then(|| self.at(1.0) / 1000),
        }
    }

    pub(super) fn terminal(&self, now: i64) -> bool {
        !matches!(self.progress(now).status, "CREATED" | "RUNNING")
    }

    pub(super) fn json(&self, now: i64) -> Value {
        let pr = self.progress(now);
        let done = self.bytes_total * pr.progress / 10_000;
        let files_total = if self.source_type == "ECS_FILE" {
            12_000
        } else {
            0
        };
        let files_done = files_total * pr.progress / 10_000;
        let updated = pr.complete.unwrap_or(now / 1000);
        let mut m = obj([
            ("JobId", json!(self.id)),
            ("JobName", json!(self.name)),
            ("SourceType", json!(self.source_type)),
            ("Status", json!(pr.status)),
            ("Progress", json!(pr.progress)),
            ("ErrorMessage", json!(pr.error)),
            ("CreatedTime", json!(self.created_ms / 1000)),
            ("CreateTime", json!(self.created_ms / 1000)),
            ("UpdatedTime", json!(updated)),
            ("BytesTotal", json!(self.bytes_total)),
            ("BytesDone", json!(done)),
            ("ActualBytes", json!(done * 3 / 5)),
            ("ItemsTotal", json!(files_total)),
            ("ItemsDone", json!(files_done)),
            ("FilesTotal", json!(files_total)),
            ("FilesDone", json!(files_done)),
            ("ActualFiles", json!(files_done)),
            ("ActualItems", json!(files_done)),
            (
                "Speed",
                json!(if pr.status == "RUNNING" { 51_200 } else { 0 }),
            ),
            ("PlanId", json!("")),
            ("VaultId", json!(self.vault_id)),
            ("InstanceId", json!(self.instance_id)),
            ("BackupType", json!(self.backup_type)),
            ("TriggerMode", json!("MANUAL")),
        ]);
        if let Some(s) = pr.start {
            m.insert("StartTime".into(), json!(s));
        }
        if let Some(c) = pr.complete {
            m.insert("CompleteTime".into(), json!(c));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        if self.source_type == "UDM_ECS" {
            let native = matches!(pr.status, "COMPLETE" | "PARTIAL_COMPLETE")
                .then(|| format!("s-bp1{}", &self.snapshot_id.trim_start_matches("s-")))
                .unwrap_or_default();
            m.insert(
                "Detail".into(),
                json!({
                    "DoCopy": self.detail.get("doCopy").and_then(Value::as_bool).unwrap_or(false),
                    "DestinationRetention": self.detail.get("destinationRetention").and_then(Value::as_i64).unwrap_or(0),
                    "NativeSnapshotId": native,
                    "DiskNativeSnapshotIdList": { "DiskNativeSnapshotId": if native.is_empty() { vec![] } else { vec![native.clone()] } },
                    "InstanceInfos": {},
                }),
            );
        }
        if self.source_type == "ECS_FILE" {
            m.insert(
                "Report".into(),
                json!({
                    "ReportTaskStatus": if self.terminal(now) { "COMPLETE" } else { "CREATED" },
                    "TotalFiles": "", "SuccessFiles": "", "FailedFiles": "", "SkippedFiles": "",
                }),
            );
        }
        Value::Object(m)
    }

    /// The job's snapshot in the form of its lookup call: `DescribeUdmSnapshots` for `UDM_ECS`,
    /// `SearchHistoricalSnapshots` for `ECS_FILE`. `CONTAINER` jobs leave none.
    pub(crate) fn snapshot(&self, now: i64) -> Option<Value> {
        match self.source_type.as_str() {
            "UDM_ECS" => self.snapshot_json(now),
            "ECS_FILE" => self.file_snapshot_json(now),
            _ => None,
        }
    }

    /// The snapshot of a finished `ECS_FILE` job, as `SearchHistoricalSnapshots` lists it
    /// (fields of `Snapshots.Snapshot[]` in the API reference).
    fn file_snapshot_json(&self, now: i64) -> Option<Value> {
        if self.snapshot_deleted || self.source_type != "ECS_FILE" {
            return None;
        }
        let pr = self.progress(now);
        if !matches!(pr.status, "COMPLETE" | "PARTIAL_COMPLETE") {
            return None;
        }
        let complete = pr.complete.unwrap_or(now / 1000);
        let start = pr.start.unwrap_or(complete);
        let text = |k: &str| {
            self.extra
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let include = text("Include");
        let paths: Vec<String> = serde_json::from_str(&include).unwrap_or_default();
        let items = 12_000;
        Some(json!({
            "SnapshotId": self.snapshot_id,
            "JobId": self.id,
            "Status": pr.status,
            "SourceType": "ECS_FILE",
            "VaultId": self.vault_id,
            "InstanceId": self.instance_id,
            "InstanceName": self.instance_id,
            "ClientId": format!("c-000{}", self.snapshot_id.trim_start_matches("s-000")),
            "BackupType": self.backup_type,
            "CreatedTime": complete,
            "CreateTime": complete,
            "StartTime": start,
            "CompleteTime": complete,
            "UpdatedTime": complete,
            "ExpireTime": complete + self.retention * 86_400,
            "Retention": self.retention,
            "BytesTotal": self.bytes_total,
            "BytesDone": self.bytes_total,
            "ActualBytes": self.bytes_total * 3 / 5,
            "ItemsTotal": items,
            "ItemsDone": items,
            "ActualItems": items,
            "SnapshotHash": format!("{:016x}", complete.wrapping_mul(0x9e37_79b9)),
            "ParentSnapshotHash": "",
            "Path": paths.first().cloned().unwrap_or_default(),
            "Paths": { "Path": paths },
            "Include": include,
            "Exclude": text("Exclude"),
            "Prefix": "",
            "StorageClass": "STANDARD",
            "ErrorFile": "",
        }))
    }

    pub(super) fn snapshot_json(&self, now: i64) -> Option<Value> {
        if self.snapshot_deleted || self.source_type != "UDM_ECS" {
            return None;
        }
        let pr = self.progress(now);
        if !matches!(pr.status, "COMPLETE" | "PARTIAL_COMPLETE") {
            return None;
        }
        let complete = pr.complete.unwrap_or(now / 1000);
        let native = format!("s-bp1{}", self.snapshot_id.trim_start_matches("s-"));
        Some(json!({
            "SnapshotId": self.snapshot_id,
            "JobId": self.id,
            "Status": pr.status,
            "InstanceId": self.instance_id,
            "SourceType": "UDM_ECS",
            "BackupType": self.backup_type,
            "NativeSnapshotId": native,
            "NativeSnapshotInfo": "",
            "CreatedTime": complete,
            "CreateTime": complete,
            "StartTime": pr.start.unwrap_or(complete),
            "CompleteTime": complete,
            "UpdatedTime": complete,
            "RealSnapshotTime": complete,
            "ExpireTime": complete + self.retention * 86_400,
            "Retention": self.retention,
            "BytesTotal": self.bytes_total,
            "ActualBytes": (self.bytes_total * 3 / 5).to_string(),
            "CanBeDeleted": true,
            "SnapshotHash": format!("{:x}", complete),
            "ParentSnapshotHash": "",
            "Prefix": "",
            "DiskId": "",
            "Detail": {
                "DiskIdList": self.detail.get("diskIdList").cloned().unwrap_or(json!([])),
                "NativeSnapshotIdList": [native],
                "ConsistentLevel": if self.detail.get("appConsistent").and_then(Value::as_bool).unwrap_or(false) { "APPLICATION" } else { "CRASH" },
                "ContainOsDisk": true,
                "InstanceName": self.instance_id,
                "HostName": self.instance_id,
                "OsType": "linux",
                "Platform": "Linux",
                "InstanceType": "ecs.g7.large",
            },
        }))
    }
}
