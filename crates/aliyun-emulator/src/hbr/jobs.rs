//! The backup-job operations: `CreateBackupJob`, `DescribeBackupJobs2`, `CancelBackupJob`.

use serde_json::{Map, Value, json};

use super::filter::{admits, filter_matches, parse_filters};
use super::{
    CROSS_ACCOUNT_TYPES, GIB, HbrJob, HbrState, check_edition, invalid, invalid_msg, json_param,
    paging, valid_speed_limit,
};
use crate::api::{ApiError, ApiResult, Params, obj, page as page_of, rand_alnum};
use crate::scenario::{Scenario, take, target_matches};

const SOURCE_TYPES: &[&str] = &["UDM_ECS", "ECS_FILE", "CONTAINER"];

/// What the source-type specific parameters of `CreateBackupJob` give the job.
struct JobSource {
    /// ECS `InstanceId` (empty for `CONTAINER`, and for `ECS_FILE` without one).
    instance_id: String,
    /// `VaultId`.
    vault_id: String,
    /// Parsed `Detail` (`UDM_ECS`).
    detail: Value,
}

/// `CrossAccountType`, `CrossAccountUserId` and `CrossAccountRoleName`, as echoed fields.
fn cross_account_fields(p: &Params) -> Result<Map<String, Value>, ApiError> {
    // The API reference does not say that CROSS_ACCOUNT needs CrossAccountUserId or
    // CrossAccountRoleName: neither is refused.
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
    Ok(extra)
}

/// `Detail` of a `UDM_ECS` job: a JSON object; `diskIdList` an array; `appConsistent` needs
/// the pre/post script paths.
fn udm_detail(p: &Params) -> Result<Value, ApiError> {
    let detail = json_param(p, "Detail", false)?.unwrap_or_else(|| json!({}));
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
    Ok(detail)
}

/// `Include` / `Exclude` of an `ECS_FILE` job: JSON arrays of paths, 1 to 255 characters.
fn check_paths(p: &Params) -> Result<(), ApiError> {
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
    Ok(())
}

/// A `CONTAINER` job: `ContainerClusterId`, JSON-array `ContainerResources`, `VaultId`.
fn container_source(p: &Params, extra: &mut Map<String, Value>) -> Result<JobSource, ApiError> {
    let cluster = p.req("ContainerClusterId")?;
    p.req("ContainerResources")?;
    json_param(p, "ContainerResources", true)?;
    let v = p.req("VaultId")?;
    extra.insert("ContainerClusterId".into(), json!(cluster));
    if let Some(c) = p.opt("ClusterId") {
        extra.insert("ClusterId".into(), json!(c));
    }
    if let Some(i) = p.bool("InitiatedByAck", invalid)? {
        extra.insert("InitiatedByAck".into(), json!(i));
    }
    Ok(JobSource {
        instance_id: String::new(),
        vault_id: v.to_owned(),
        detail: Value::Null,
    })
}

impl HbrState {
    pub(super) fn create(
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
        // The API reference gives JobName no length limit: it is not refused.
        let mut extra = cross_account_fields(p)?;
        let src = match st {
            "UDM_ECS" => self.udm_source(p)?,
            "ECS_FILE" => self.file_source(p, &mut extra)?,
            _ => container_source(p, &mut extra)?,
        };
        let id = format!("job-000{}", rand_alnum(17));
        let outcome = take(pending, |s| match s {
            Scenario::HbrJobOutcome {
                target,
                outcome,
                message,
            } if target_matches(target, &[&id, &src.instance_id]) => {
                Some((*outcome, message.clone()))
            }
            _ => None,
        });
        let seed = id.bytes().fold(0i64, |a, b| (a * 31 + i64::from(b)) % 1000);
        self.jobs.push(HbrJob {
            id: id.clone(),
            name: p.opt("JobName").unwrap_or_default().to_owned(),
            source_type: st.to_owned(),
            instance_id: src.instance_id,
            vault_id: src.vault_id,
            backup_type: backup_type.to_owned(),
            retention,
            created_ms: now,
            duration_ms: job_ms,
            outcome,
            canceled_ms: None,
            bytes_total: 20 * GIB + seed * 1024 * 1024,
            detail: src.detail,
            extra,
            snapshot_id: format!("s-000{}", rand_alnum(17)),
            snapshot_deleted: false,
        });
        Ok(obj([("JobId", json!(id))]))
    }

    /// A `UDM_ECS` job: a known ECS `InstanceId`, `BackupType`, `Detail`.
    fn udm_source(&self, p: &Params) -> Result<JobSource, ApiError> {
        let id = p.req("InstanceId")?;
        // Required for UDM_ECS (SDK model of CreateBackupJob).
        if p.opt("BackupType").is_none() {
            return Err(ApiError::missing("BackupType"));
        }
        // Include, Exclude and SpeedLimit "do not take effect" for UDM_ECS and Options need
        // not be set (SDK model): accepted and ignored.
        self.ecs_must_exist(id)?;
        Ok(JobSource {
            instance_id: id.to_owned(),
            vault_id: p.opt("VaultId").unwrap_or_default().to_owned(),
            detail: udm_detail(p)?,
        })
    }

    /// An `ECS_FILE` job: `Include`, `VaultId`, optional `InstanceId` (a known instance when
    /// given), `Exclude`, `SpeedLimit`, `Options`.
    fn file_source(
        &self,
        p: &Params,
        extra: &mut Map<String, Value>,
    ) -> Result<JobSource, ApiError> {
        // InstanceId is documented as required only for UDM_ECS; when given it must name a
        // known instance.
        let id = p.opt("InstanceId").unwrap_or_default();
        let include = p.req("Include")?;
        let v = p.req("VaultId")?;
        if !id.is_empty() {
            self.ecs_must_exist(id)?;
        }
        check_paths(p)?;
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
        Ok(JobSource {
            instance_id: id.to_owned(),
            vault_id: v.to_owned(),
            detail: Value::Null,
        })
    }

    pub(super) fn describe_jobs(&self, p: &Params, now: i64) -> ApiResult {
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

    pub(super) fn cancel(&mut self, p: &Params, now: i64) -> ApiResult {
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
}
