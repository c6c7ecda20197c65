//! HBR (Cloud Backup) `2017-09-08`: backup jobs, UDM snapshots (`UDM_ECS`) and the snapshots
//! of file backups (`ECS_FILE`, found with `SearchHistoricalSnapshots`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Params, obj, page as page_of, rand_alnum};
use crate::scenario::{HbrOutcome, Scenario, take, target_matches};

/// Emulated HBR actions.
pub const ACTIONS: &[&str] = &[
    "CreateBackupJob",
    "DescribeBackupJobs2",
    "CancelBackupJob",
    "DescribeUdmSnapshots",
    "SearchHistoricalSnapshots",
    "DeleteSnapshot",
];

const SOURCE_TYPES: &[&str] = &["UDM_ECS", "ECS_FILE", "CONTAINER"];
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
const GIB: i64 = 1024 * 1024 * 1024;

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

    fn terminal(&self, now: i64) -> bool {
        !matches!(self.progress(now).status, "CREATED" | "RUNNING")
    }

    fn json(&self, now: i64) -> Value {
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

    fn snapshot_json(&self, now: i64) -> Option<Value> {
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

/// All HBR resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HbrState {
    /// Seeded ECS instances.
    pub ecs_instances: Vec<String>,
    /// Jobs, oldest first.
    pub jobs: Vec<HbrJob>,
    /// Restore jobs, oldest first.
    #[serde(default)]
    pub restore_jobs: Vec<crate::hbr_restore::HbrRestoreJob>,
}

pub(crate) fn invalid(k: &str) -> ApiError {
    ApiError::product(
        400,
        "InvalidParameter",
        format!("The specified parameter {k} is not valid."),
    )
}

pub(crate) fn invalid_msg(msg: String) -> ApiError {
    ApiError::product(400, "InvalidParameter", msg)
}

/// `CrossAccountType` values.
pub(crate) const CROSS_ACCOUNT_TYPES: &[&str] = &["SELF_ACCOUNT", "CROSS_ACCOUNT"];

/// `Edition` (`BASIC` | `STANDARD`), when given.
pub(crate) fn check_edition(p: &Params) -> Result<(), ApiError> {
    p.choice("Edition", &["BASIC", "STANDARD"], invalid)
        .map(drop)
}

/// The 1-based `PageNumber` (default 1) and `PageSize` (1–99, default 10) of the HBR lists.
pub(crate) fn paging(p: &Params) -> Result<(i64, i64), ApiError> {
    let page = p.int("PageNumber", invalid)?.unwrap_or(1);
    if page < 1 {
        return Err(invalid("PageNumber"));
    }
    let size = p.int("PageSize", invalid)?.unwrap_or(10);
    if !(1..=99).contains(&size) {
        return Err(invalid_msg(format!(
            "The PageSize {size} is not valid. Valid values: 1 to 99."
        )));
    }
    Ok((page, size))
}

pub(crate) fn json_param(p: &Params, k: &str, want_array: bool) -> Result<Option<Value>, ApiError> {
    match p.opt(k) {
        None => Ok(None),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) if (want_array && v.is_array()) || (!want_array && v.is_object()) => Ok(Some(v)),
            _ => Err(invalid_msg(format!(
                "The parameter {k} must be a JSON {}.",
                if want_array { "array" } else { "object" }
            ))),
        },
    }
}

/// `{start}:{end}:{bandwidth}` rules separated by `|` (hours 0–24, KB/s).
pub fn valid_speed_limit(s: &str) -> bool {
    s.split('|').all(|rule| {
        let parts: Vec<&str> = rule.split(':').collect();
        match parts.as_slice() {
            [a, b, bw] => {
                let (Ok(a), Ok(b)) = (a.parse::<u8>(), b.parse::<u8>()) else {
                    return false;
                };
                a < b && b <= 24 && bw.parse::<u64>().is_ok()
            }
            _ => false,
        }
    })
}

enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Between,
    In,
}

pub(crate) struct Filter {
    pub(crate) key: String,
    op: Cmp,
    values: Vec<String>,
}

const FILTER_KEYS: &[&str] = &[
    "RegionId",
    "PlanId",
    "JobId",
    "VaultId",
    "InstanceId",
    "Bucket",
    "FileSystemId",
    "Status",
    "CreatedTime",
    "CompleteTime",
    "InstanceName",
    "BackupType",
    "ParentId",
    "JobName",
];

fn parse_filters(p: &Params) -> Result<Vec<Filter>, ApiError> {
    parse_filters_with(p, FILTER_KEYS)
}

/// Parses `Filters.N.*` with the accepted `keys`.
pub(crate) fn parse_filters_with(p: &Params, keys: &[&str]) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    for i in 1.. {
        let Some(key) = p.opt(&format!("Filters.{i}.Key")) else {
            if p.opt(&format!("Filters.{i}.Operator")).is_some() {
                return Err(ApiError::missing(&format!("Filters.{i}.Key")));
            }
            break;
        };
        if !keys.contains(&key) {
            return Err(invalid_msg(format!(
                "The filter key {key} is not supported."
            )));
        }
        let op = match p.opt(&format!("Filters.{i}.Operator")).unwrap_or("IN") {
            "EQUAL" => Cmp::Eq,
            "NOT_EQUAL" => Cmp::Ne,
            "GREATER_THAN" => Cmp::Gt,
            "GREATER_THAN_OR_EQUAL" => Cmp::Ge,
            "LESS_THAN" => Cmp::Lt,
            "LESS_THAN_OR_EQUAL" => Cmp::Le,
            "BETWEEN" => Cmp::Between,
            "IN" => Cmp::In,
            other => {
                return Err(invalid_msg(format!(
                    "The filter operator {other} is not supported."
                )));
            }
        };
        if key == "CompleteTime" && matches!(op, Cmp::In) {
            return Err(invalid_msg(
                "The IN operator is not supported for the CompleteTime key.".into(),
            ));
        }
        let mut values = p.list(&format!("Filters.{i}.Values"));
        if matches!(op, Cmp::Between) {
            if let [one] = values.as_slice()
                && let Ok(Value::Array(a)) = serde_json::from_str::<Value>(one)
            {
                values = a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
            }
            if values.len() != 2 {
                return Err(invalid_msg(format!(
                    "The BETWEEN filter on {key} needs [start,end]."
                )));
            }
        }
        if values.is_empty() {
            return Err(ApiError::missing(&format!("Filters.{i}.Values")));
        }
        if matches!(key, "CreatedTime" | "CompleteTime")
            && values.iter().any(|v| v.parse::<i64>().is_err())
        {
            return Err(invalid_msg(format!(
                "The values of the {key} filter must be UNIX timestamps in seconds."
            )));
        }
        out.push(Filter {
            key: key.to_owned(),
            op,
            values,
        });
    }
    Ok(out)
}

/// Whether the `EQUAL`/`IN` filters on string field `key` (if any) admit `value` (the other
/// operators are left to [`filter_matches`]).
fn admits(filters: &[Filter], key: &str, value: &str) -> bool {
    filters.iter().filter(|f| f.key == key).all(|f| match f.op {
        Cmp::In => f.values.iter().any(|v| v == value),
        Cmp::Eq => f.values.first().is_some_and(|v| v == value),
        _ => true,
    })
}

pub(crate) fn filter_matches(f: &Filter, job: &Value) -> bool {
    let field = match f.key.as_str() {
        "RegionId" => Some(Value::String("cn-hangzhou".into())),
        k => job.get(k).cloned(),
    };
    let Some(field) = field else {
        return false;
    };
    let numeric = field.is_i64();
    let cmp = |v: &str| -> Option<std::cmp::Ordering> {
        if numeric {
            Some(field.as_i64()?.cmp(&v.parse::<i64>().ok()?))
        } else {
            Some(field.as_str()?.cmp(v))
        }
    };
    use std::cmp::Ordering::*;
    let first = f.values.first().map(String::as_str).unwrap_or_default();
    match f.op {
        Cmp::In => f.values.iter().any(|v| cmp(v) == Some(Equal)),
        Cmp::Eq => cmp(first) == Some(Equal),
        Cmp::Ne => f.values.iter().all(|v| cmp(v).is_some_and(|o| o != Equal)),
        Cmp::Gt => cmp(first) == Some(Greater),
        Cmp::Ge => matches!(cmp(first), Some(Greater | Equal)),
        Cmp::Lt => cmp(first) == Some(Less),
        Cmp::Le => matches!(cmp(first), Some(Less | Equal)),
        Cmp::Between => {
            let lo = f.values.first().map(String::as_str).unwrap_or_default();
            let hi = f.values.get(1).map(String::as_str).unwrap_or_default();
            matches!(cmp(lo), Some(Greater | Equal)) && matches!(cmp(hi), Some(Less | Equal))
        }
    }
}

/// `SourceType` values of `SearchHistoricalSnapshots` (API reference).
const SEARCH_SOURCE_TYPES: &[&str] = &["ECS_FILE", "OSS", "NAS"];

/// `Query` fields of `SearchHistoricalSnapshots` (API reference).
const QUERY_FIELDS: &[&str] = &[
    "VaultId",
    "InstanceId",
    "Bucket",
    "FileSystemId",
    "CreateTime",
    "CompleteTime",
    "PlanId",
];

/// One `Query` condition of `SearchHistoricalSnapshots`.
struct QueryCondition {
    field: String,
    op: String,
    values: Vec<String>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `Query` (a JSON array of `{field, value, operation}`; `operation` defaults to
/// `MATCH_TERM`; `value` is an array, or a JSON-array string, for `BETWEEN`, `IN`, `NOT_IN`).
fn parse_query(raw: &str) -> Result<Vec<QueryCondition>, ApiError> {
    let bad = |m: &str| invalid_msg(format!("The parameter Query is not valid: {m}."));
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(bad("it must be a JSON array of {field, value, operation}"));
    };
    let mut out = Vec::new();
    for item in &items {
        let field = item
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("every condition needs a field"))?;
        if !QUERY_FIELDS.contains(&field) {
            return Err(invalid_msg(format!(
                "The query field {field} is not supported. Supported fields: {}.",
                QUERY_FIELDS.join(", ")
            )));
        }
        let op = item
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("MATCH_TERM");
        let many = matches!(op, "BETWEEN" | "IN" | "NOT_IN");
        if !many
            && !matches!(
                op,
                "MATCH_TERM"
                    | "GREATER_THAN"
                    | "GREATER_THAN_OR_EQUAL"
                    | "LESS_THAN"
                    | "LESS_THAN_OR_EQUAL"
            )
        {
            return Err(invalid_msg(format!(
                "The query operation {op} is not supported."
            )));
        }
        let value = item
            .get("value")
            .ok_or_else(|| bad("every condition needs a value"))?;
        let values: Vec<String> = match value {
            Value::Array(a) => a.iter().map(value_text).collect(),
            Value::String(s) if many => match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => a.iter().map(value_text).collect(),
                _ => vec![s.clone()],
            },
            other => vec![value_text(other)],
        };
        if op == "BETWEEN" && values.len() != 2 {
            return Err(bad("BETWEEN needs [lower bound, upper bound]"));
        }
        if values.is_empty() {
            return Err(bad("a condition has no value"));
        }
        out.push(QueryCondition {
            field: field.to_owned(),
            op: op.to_owned(),
            values,
        });
    }
    Ok(out)
}

/// Orders two snapshot fields: numerically when both are numbers, else as text.
fn compare_field(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_i64), b.and_then(Value::as_i64)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.map(value_text).cmp(&b.map(value_text)),
    }
}

impl QueryCondition {
    fn matches(&self, snapshot: &Value) -> bool {
        let Some(field) = snapshot.get(&self.field) else {
            return false;
        };
        let cmp = |v: &str| -> std::cmp::Ordering {
            match (field.as_i64(), v.parse::<i64>()) {
                (Some(x), Ok(y)) => x.cmp(&y),
                _ => value_text(field).as_str().cmp(v),
            }
        };
        use std::cmp::Ordering::*;
        let first = self.values.first().map(String::as_str).unwrap_or_default();
        match self.op.as_str() {
            "MATCH_TERM" => cmp(first) == Equal,
            "GREATER_THAN" => cmp(first) == Greater,
            "GREATER_THAN_OR_EQUAL" => cmp(first) != Less,
            "LESS_THAN" => cmp(first) == Less,
            "LESS_THAN_OR_EQUAL" => cmp(first) != Greater,
            "BETWEEN" => {
                let hi = self.values.get(1).map(String::as_str).unwrap_or_default();
                cmp(first) != Less && cmp(hi) != Greater
            }
            "IN" => self.values.iter().any(|v| cmp(v) == Equal),
            "NOT_IN" => self.values.iter().all(|v| cmp(v) != Equal),
            _ => false,
        }
    }
}

impl HbrState {
    /// Seeds the known ECS instances.
    pub fn seeded(ecs: &[String]) -> Self {
        Self {
            ecs_instances: ecs.to_vec(),
            jobs: Vec::new(),
            restore_jobs: Vec::new(),
        }
    }

    /// JSON view for the admin API.
    pub fn view(&self, now: i64) -> Value {
        let jobs: Vec<Value> = self.jobs.iter().map(|j| j.json(now)).collect();
        let snaps: Vec<Value> = self.jobs.iter().filter_map(|j| j.snapshot(now)).collect();
        let restores: Vec<Value> = self.restore_jobs.iter().map(|j| j.json(now)).collect();
        json!({
            "ecs_instances": self.ecs_instances,
            "jobs": jobs,
            "snapshots": snaps,
            "restore_jobs": restores,
        })
    }

    /// Applies a scenario to an existing running job; false when nothing matched.
    pub fn apply_now(&mut self, s: &Scenario, now: i64) -> bool {
        let Scenario::HbrJobOutcome {
            target: Some(t),
            outcome,
            message,
        } = s
        else {
            return self.apply_restore_now(s, now);
        };
        for j in self.jobs.iter_mut() {
            if (j.id == *t || j.instance_id == *t) && !j.terminal(now) && j.outcome.is_none() {
                j.outcome = Some((*outcome, message.clone()));
                return true;
            }
        }
        false
    }

    /// Dispatches one HBR action.
    pub fn handle(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CreateBackupJob" => self.create(p, now, job_ms, pending),
            "DescribeBackupJobs2" => self.describe_jobs(p, now),
            "CancelBackupJob" => self.cancel(p, now),
            "DescribeUdmSnapshots" => self.describe_snapshots(p, now),
            "SearchHistoricalSnapshots" => self.search_snapshots(p, now),
            "DeleteSnapshot" => self.delete_snapshot(p, now),
            _ => return self.handle_restore(action, p, now, job_ms, pending),
        })
    }

    pub(crate) fn ecs_must_exist(&self, id: &str) -> Result<(), ApiError> {
        if self.ecs_instances.iter().any(|e| e == id) {
            Ok(())
        } else {
            Err(ApiError::product(
                404,
                "InstanceNotExist",
                format!("The ECS instance {id} does not exist."),
            ))
        }
    }

    fn create(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let st = p.req("SourceType")?;
        let retention = p.req("Retention")?;
        if !SOURCE_TYPES.contains(&st) {
            return Err(invalid_msg(format!(
                "The SourceType {st} is not supported. Valid values: UDM_ECS, ECS_FILE, CONTAINER."
            )));
        }
        // A number of days (the API reference states no range): negative is refused.
        let retention: i64 = retention
            .parse()
            .ok()
            .filter(|r| *r >= 0)
            .ok_or_else(|| invalid("Retention"))?;
        let backup_type = p.opt("BackupType").unwrap_or("COMPLETE");
        if !matches!(backup_type, "COMPLETE" | "INCREMENTAL") {
            return Err(invalid("BackupType"));
        }
        // The API reference gives JobName no length limit, and does not say that
        // CROSS_ACCOUNT needs CrossAccountUserId/CrossAccountRoleName: neither is refused.
        let mut extra = Map::new();
        let cross = p.choice("CrossAccountType", CROSS_ACCOUNT_TYPES, invalid)?;
        if let Some(uid) = p.int("CrossAccountUserId", invalid)? {
            extra.insert("CrossAccountUserId".into(), json!(uid));
        }
        if let Some(role) = p.opt("CrossAccountRoleName") {
            extra.insert("CrossAccountRoleName".into(), json!(role));
        }
        if let Some(c) = cross {
            extra.insert("CrossAccountType".into(), json!(c));
        }
        let mut detail = Value::Null;
        let mut instance_id = String::new();
        let mut vault_id = p.opt("VaultId").unwrap_or_default().to_owned();
        match st {
            "UDM_ECS" => {
                let id = p.req("InstanceId")?;
                // Required for UDM_ECS (SDK model of CreateBackupJob).
                if p.opt("BackupType").is_none() {
                    return Err(ApiError::missing("BackupType"));
                }
                // Include, Exclude and SpeedLimit "do not take effect" for UDM_ECS and
                // Options need not be set (SDK model): accepted and ignored.
                self.ecs_must_exist(id)?;
                detail = json_param(p, "Detail", false)?.unwrap_or_else(|| json!({}));
                if let Some(list) = detail.get("diskIdList")
                    && !list.is_array()
                {
                    return Err(invalid_msg("Detail.diskIdList must be an array.".into()));
                }
                if detail.get("appConsistent").and_then(Value::as_bool) == Some(true) {
                    for k in ["preScriptPath", "postScriptPath"] {
                        if detail
                            .get(k)
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            return Err(invalid_msg(format!(
                                "Detail.{k} is required when appConsistent is true."
                            )));
                        }
                    }
                }
                instance_id = id.to_owned();
            }
            "ECS_FILE" => {
                // InstanceId is documented as required only for UDM_ECS; when given it must
                // name a known instance.
                let id = p.opt("InstanceId").unwrap_or_default();
                let include = p.req("Include")?;
                let v = p.req("VaultId")?;
                if !id.is_empty() {
                    self.ecs_must_exist(id)?;
                }
                for k in ["Include", "Exclude"] {
                    if let Some(s) = p.opt(k) {
                        if s.chars().count() > 255 {
                            return Err(invalid_msg(format!(
                                "The parameter {k} must be 1 to 255 characters."
                            )));
                        }
                        let arr = json_param(p, k, true)?;
                        if arr
                            .as_ref()
                            .and_then(Value::as_array)
                            .is_some_and(|a| a.iter().any(|x| !x.is_string()))
                        {
                            return Err(invalid_msg(format!(
                                "The parameter {k} must be a JSON array of paths."
                            )));
                        }
                    }
                }
                if let Some(sl) = p.opt("SpeedLimit") {
                    if !valid_speed_limit(sl) {
                        return Err(invalid_msg(format!(
                            "The SpeedLimit {sl} is not valid. Use start:end:bandwidth rules separated by |."
                        )));
                    }
                    extra.insert("SpeedLimit".into(), json!(sl));
                }
                if let Some(o) = p.opt("Options") {
                    if serde_json::from_str::<Value>(o).is_err() {
                        return Err(invalid("Options"));
                    }
                    extra.insert("Options".into(), json!(o));
                }
                extra.insert("Include".into(), json!(include));
                extra.insert(
                    "Exclude".into(),
                    json!(p.opt("Exclude").unwrap_or_default()),
                );
                instance_id = id.to_owned();
                v.clone_into(&mut vault_id);
            }
            _ => {
                // CONTAINER
                let cluster = p.req("ContainerClusterId")?;
                p.req("ContainerResources")?;
                json_param(p, "ContainerResources", true)?;
                let v = p.req("VaultId")?;
                v.clone_into(&mut vault_id);
                extra.insert("ContainerClusterId".into(), json!(cluster));
                if let Some(c) = p.opt("ClusterId") {
                    extra.insert("ClusterId".into(), json!(c));
                }
                if let Some(i) = p.bool("InitiatedByAck", invalid)? {
                    extra.insert("InitiatedByAck".into(), json!(i));
                }
            }
        }
        let id = format!("job-000{}", rand_alnum(17));
        let outcome = take(pending, |s| match s {
            Scenario::HbrJobOutcome {
                target,
                outcome,
                message,
            } if target_matches(target, &[&id, &instance_id]) => Some((*outcome, message.clone())),
            _ => None,
        });
        let seed = id.bytes().fold(0i64, |a, b| (a * 31 + i64::from(b)) % 1000);
        self.jobs.push(HbrJob {
            id: id.clone(),
            name: p.opt("JobName").unwrap_or_default().to_owned(),
            source_type: st.to_owned(),
            instance_id,
            vault_id,
            backup_type: backup_type.to_owned(),
            retention,
            created_ms: now,
            duration_ms: job_ms,
            outcome,
            canceled_ms: None,
            bytes_total: 20 * GIB + seed * 1024 * 1024,
            detail,
            extra,
            snapshot_id: format!("s-000{}", rand_alnum(17)),
            snapshot_deleted: false,
        });
        Ok(obj([("JobId", json!(id))]))
    }

    fn describe_jobs(&self, p: &Params, now: i64) -> ApiResult {
        let st = p.opt("SourceType").unwrap_or("ECS_FILE");
        let (page, size) = paging(p)?;
        let desc = match p.opt("SortDirection").unwrap_or("DESCEND") {
            "DESCEND" => true,
            "ASCEND" => false,
            _ => return Err(invalid("SortDirection")),
        };
        check_edition(p)?;
        let filters = parse_filters(p)?;
        let mut all: Vec<(i64, usize, Value)> = self
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.source_type == st)
            // The id filters first, on the job itself: the JSON of every job is not built for
            // a describe of a few ids (the same answer, without O(jobs) JSON per call).
            .filter(|(_, j)| admits(&filters, "JobId", &j.id))
            .filter(|(_, j)| admits(&filters, "InstanceId", &j.instance_id))
            .map(|(i, j)| (j.created_ms, i, j.json(now)))
            .filter(|(_, _, v)| filters.iter().all(|f| filter_matches(f, v)))
            .collect();
        all.sort_by_key(|(t, i, _)| (*t, *i));
        if desc {
            all.reverse();
        }
        let total = all.len();
        let items: Vec<Value> = page_of(all, page - 1, size)
            .into_iter()
            .map(|(_, _, v)| v)
            .collect();
        Ok(obj([
            ("BackupJobs", json!({ "BackupJob": items })),
            ("TotalCount", json!(total)),
            ("PageNumber", json!(page)),
            ("PageSize", json!(size)),
        ]))
    }

    fn cancel(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("JobId")?;
        let job = self.jobs.iter_mut().find(|j| j.id == id).ok_or_else(|| {
            ApiError::product(
                404,
                "JobNotExist",
                format!("The backup job {id} does not exist."),
            )
        })?;
        if let Some(v) = p.opt("VaultId")
            && !job.vault_id.is_empty()
            && job.vault_id != v
        {
            return Err(ApiError::product(
                404,
                "JobNotExist",
                format!("The backup job {id} does not exist in vault {v}."),
            ));
        }
        if job.terminal(now) {
            return Err(ApiError::product(
                400,
                "JobStatusNotAllowCancel",
                format!(
                    "The backup job {id} has already ended ({}).",
                    job.progress(now).status
                ),
            ));
        }
        job.canceled_ms = Some(now);
        Ok(obj([]))
    }

    fn describe_snapshots(&self, p: &Params, now: i64) -> ApiResult {
        let st = p.req("SourceType")?;
        let start = p.req("StartTime")?;
        let end = p.req("EndTime")?;
        p.req("UdmRegionId")?;
        if !matches!(st, "UDM_ECS" | "UDM_ECS_DISK" | "UDM_DISK") {
            return Err(invalid("SourceType"));
        }
        let start: i64 = start.parse().map_err(|_| invalid("StartTime"))?;
        let end: i64 = end.parse().map_err(|_| invalid("EndTime"))?;
        let ids: Option<Vec<String>> =
            match p.opt("SnapshotIds") {
                None => None,
                Some(s) => Some(serde_json::from_str::<Vec<String>>(s).map_err(|_| {
                    invalid_msg("SnapshotIds must be a JSON array of strings.".into())
                })?),
            };
        let snaps: Vec<Value> = if st == "UDM_ECS" {
            self.jobs
                .iter()
                .rev()
                .filter(|j| p.opt("JobId").is_none_or(|f| f == j.id))
                .filter(|j| p.opt("InstanceId").is_none_or(|f| f == j.instance_id))
                .filter(|j| ids.as_ref().is_none_or(|ids| ids.contains(&j.snapshot_id)))
                .filter_map(|j| j.snapshot_json(now))
                .filter(|s| {
                    s.get("CreatedTime")
                        .and_then(Value::as_i64)
                        .is_some_and(|t| t >= start && t <= end)
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(obj([
            ("TotalCount", json!(snaps.len())),
            ("Snapshots", json!(snaps)),
        ]))
    }

    /// `SearchHistoricalSnapshots`: the snapshots of file backups matching `Query` (API
    /// reference: `VaultId` is required, `InstanceId` too for `ECS_FILE`), `NextToken` paging.
    fn search_snapshots(&self, p: &Params, now: i64) -> ApiResult {
        let source_type = p.opt("SourceType");
        if let Some(st) = source_type
            && !SEARCH_SOURCE_TYPES.contains(&st)
        {
            return Err(invalid_msg(format!(
                "The SourceType {st} is not supported. Valid values: ECS_FILE, OSS, NAS."
            )));
        }
        let query = parse_query(p.req("Query")?)?;
        if !query.iter().any(|q| q.field == "VaultId") {
            return Err(invalid_msg("The query field VaultId is required.".into()));
        }
        if source_type == Some("ECS_FILE") && !query.iter().any(|q| q.field == "InstanceId") {
            return Err(invalid_msg(
                "The query field InstanceId is required when SourceType is ECS_FILE.".into(),
            ));
        }
        let limit = p.int("Limit", invalid)?.unwrap_or(10);
        if limit < 0 {
            return Err(invalid("Limit"));
        }
        let desc = match p.opt("Order").unwrap_or("ASC") {
            "ASC" => false,
            "DESC" => true,
            _ => return Err(invalid("Order")),
        };
        check_edition(p)?;
        let offset = match p.opt("NextToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => t
                .strip_prefix("next-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| invalid("NextToken"))?,
        };
        let sort_by = p.opt("SortBy").unwrap_or("CompleteTime");
        let mut all: Vec<Value> = self
            .jobs
            .iter()
            .filter_map(|j| j.snapshot(now))
            .filter(|s| {
                let st = s.get("SourceType").and_then(Value::as_str);
                SEARCH_SOURCE_TYPES.iter().any(|t| Some(*t) == st)
                    && source_type.is_none_or(|want| st == Some(want))
            })
            .filter(|s| query.iter().all(|q| q.matches(s)))
            .collect();
        all.sort_by(|a, b| compare_field(a.get(sort_by), b.get(sort_by)));
        if desc {
            all.reverse();
        }
        let total = all.len();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
        let next = offset.saturating_add(page.len());
        let token = if next < total && limit > 0 {
            format!("next-{next}")
        } else {
            String::new()
        };
        Ok(obj([
            ("Snapshots", json!({ "Snapshot": page })),
            ("TotalCount", json!(total)),
            ("Limit", json!(limit)),
            ("NextToken", json!(token)),
        ]))
    }

    fn delete_snapshot(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("SnapshotId")?;
        p.choice(
            "SourceType",
            &["ECS_FILE", "OSS", "NAS", "UDM_ECS"],
            invalid,
        )?;
        let job = self
            .jobs
            .iter_mut()
            .find(|j| j.snapshot_id == id && j.snapshot(now).is_some())
            .ok_or_else(|| {
                ApiError::product(
                    404,
                    "SnapshotNotExist",
                    format!("The snapshot {id} does not exist."),
                )
            })?;
        job.snapshot_deleted = true;
        Ok(obj([]))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn speed_limit_format() {
        assert!(valid_speed_limit("0:24:1024"));
        assert!(valid_speed_limit("0:8:1024|8:24:2048"));
        for bad in ["", "0:25:1", "8:8:1", "0:24", "a:b:c", "0:24:x"] {
            assert!(!valid_speed_limit(bad), "{bad}");
        }
    }

    #[test]
    fn job_progress() {
        let mut j = HbrJob {
            id: "job-1".into(),
            name: String::new(),
            source_type: "UDM_ECS".into(),
            instance_id: "i-1".into(),
            vault_id: String::new(),
            backup_type: "COMPLETE".into(),
            retention: 7,
            created_ms: 0,
            duration_ms: 1000,
            outcome: None,
            canceled_ms: None,
            bytes_total: 100,
            detail: json!({}),
            extra: Map::new(),
            snapshot_id: "s-1".into(),
            snapshot_deleted: false,
        };
        assert_eq!(j.progress(0).status, "CREATED");
        let mid = j.progress(500);
        assert_eq!(mid.status, "RUNNING");
        assert!(mid.progress > 0 && mid.progress < 10_000);
        assert_eq!(j.progress(1000).progress, 10_000);
        assert_eq!(j.progress(1000).status, "COMPLETE");
        assert!(j.snapshot_json(1000).is_some());
        j.outcome = Some((HbrOutcome::Failed, "x".into()));
        assert_eq!(j.progress(400).status, "RUNNING");
        assert_eq!(j.progress(500).status, "FAILED");
        assert!(j.snapshot_json(1000).is_none());
        j.outcome = Some((HbrOutcome::PartialComplete, "y".into()));
        assert_eq!(j.progress(999).status, "RUNNING");
        assert_eq!(j.progress(1000).status, "PARTIAL_COMPLETE");
        j.canceled_ms = Some(300);
        assert_eq!(j.progress(200).status, "RUNNING");
        assert_eq!(j.progress(2000).status, "CANCELED");
    }
}
