//! `HbrRestoreJob`: what is specific to Cloud Backup (HBR) restores.
//!
//! `CreateRestoreJob` has no idempotency token, name or tag, so exactly-once rests on the
//! intent and the serialisation of restores per target: with an intent on record the job is
//! looked for with `DescribeRestoreJobs2` (same snapshot, same target, created at or after the
//! intent minus a minute) before anything is sent again. A `backupJobRef` is turned into its
//! snapshot (`DescribeUdmSnapshots` / `SearchHistoricalSnapshots`, matched by job id). A running
//! restore is cancelled on deletion (`CancelRestoreJob`).

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::plan::{self, reasons};
use super::{Cancel, Check, Lookup, Observed, Prepared, RestoreKind, Started, restore_kind};
use crate::cloud::api::{
    CancelRestoreJobRequest, CreateRestoreJobRequest, DescribeRestoreJobs2Request, HbrFilter,
    HbrRestoreJob as CloudRestoreJob,
};
use crate::cloud::{CloudError, ErrorClass, Target};
use crate::controller::kinds::hbr::plan as backup_plan;
use crate::controller::kinds::hbr::snapshots;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::Result;
use crate::crd::{
    HbrBackupJob, HbrBackupJobPhase, HbrRestoreJob, HbrRestoreJobSpec, HbrRestoreSourceType,
    HbrRestoreType, HbrSourceType, PendingCreate, RestorePlan, RestoreStatus,
};

restore_kind!(HbrRestoreJob, "HbrRestoreJob");

/// How far before the intent a found job may have been created (clock skew), seconds.
const SKEW_SECONDS: i64 = 60;
/// Pages of `DescribeRestoreJobs2` searched (99 jobs each).
const MAX_PAGES: u32 = 10;
/// Error code of `CancelRestoreJob` for a job that already ended.
const NOT_ALLOW_CANCEL: &str = "JobStatusNotAllowCancel";

/// A snapshot to restore, as resolved: given in the spec, or the one the referenced
/// `HbrBackupJob` made.
pub type Snapshot = backup_plan::JobSnapshot;

#[async_trait]
impl RestoreKind for HbrRestoreJob {
    type Request = CreateRestoreJobRequest;

    async fn prepare(
        &self,
        ctx: &Context,
        target: &Target,
        _uid: &str,
    ) -> Result<Check<Prepared<CreateRestoreJobRequest>>> {
        let spec = &self.spec;
        let wanted = spec.target.restore_type.source_type();
        if let Some(given) = spec.source.source_type
            && given != wanted
        {
            return Ok(Check::refused(
                reasons::INVALID_SPEC,
                format!(
                    "restoreType {} restores {} snapshots, but source.sourceType is {}",
                    spec.target.restore_type.as_str(),
                    wanted.as_str(),
                    given.as_str()
                ),
            ));
        }
        let snapshot = super::ready!(resolve_snapshot(self, ctx, target, wanted).await?);
        let Some(target_id) = spec.target.target_id().map(str::to_string) else {
            return Ok(Check::refused(
                reasons::INVALID_SPEC,
                "the target names no instance, bucket or file system",
            ));
        };
        if let Some(refused) = plan::confirm_overwrite(
            spec.overwrite.as_ref(),
            &target_id,
            target_kind(spec.target.restore_type),
        ) {
            return Ok(refused);
        }
        if spec.target.restore_type == HbrRestoreType::UdmEcsRollback
            && let Some(taken_of) = &snapshot.instance_id
            && taken_of != &target_id
        {
            return Ok(Check::refused(
                reasons::TARGET_INCOMPATIBLE,
                format!(
                    "UDM_ECS_ROLLBACK rolls back the instance the snapshot was taken of \
                     ({taken_of}), not {target_id}"
                ),
            ));
        }
        Ok(Check::Ready(build(
            spec,
            &snapshot,
            &target.region,
            target_id,
        )))
    }

    async fn find(
        &self,
        ctx: &Context,
        target: &Target,
        plan: &RestorePlan,
        intent: &PendingCreate,
        claimed: &BTreeSet<String>,
    ) -> std::result::Result<Lookup, CloudError> {
        let since = intent.started_at.0.as_second() - SKEW_SECONDS;
        let mut jobs = list_jobs(ctx, target, plan).await?;
        jobs.retain(|j| !claimed.contains(&j.restore_id));
        Ok(lookup(&jobs, plan, since))
    }

    async fn start(
        &self,
        ctx: &Context,
        target: &Target,
        prepared: &Prepared<CreateRestoreJobRequest>,
        _intent: &PendingCreate,
    ) -> std::result::Result<Option<Started>, CloudError> {
        let resp = ctx
            .cloud
            .hbr_restore(target)
            .create_restore_job(&prepared.request)
            .await?;
        Ok(Some(Started {
            restore_id: resp.restore_id,
            ..Started::default()
        }))
    }

    async fn observe(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        status: &RestoreStatus,
    ) -> std::result::Result<Observed, CloudError> {
        let Some(plan) = &status.plan else {
            return Ok(Observed::Missing);
        };
        let jobs = list_jobs(ctx, target, plan).await?;
        Ok(jobs
            .iter()
            .find(|j| j.restore_id == id)
            .map(job_state)
            .unwrap_or(Observed::Missing))
    }

    async fn cancel(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        status: &RestoreStatus,
    ) -> std::result::Result<Cancel, CloudError> {
        let req = CancelRestoreJobRequest {
            restore_id: id.to_string(),
            vault_id: status
                .plan
                .as_ref()
                .and_then(|p| plan::param(p, "VaultId"))
                .map(str::to_string),
            edition: None,
        };
        match ctx.cloud.hbr_restore(target).cancel_restore_job(&req).await {
            Ok(_) => Ok(Cancel::Requested(format!(
                "the running restore {id} was cancelled (CancelRestoreJob); data it restored \
                 so far is kept"
            ))),
            Err(e) if e.code() == Some(NOT_ALLOW_CANCEL) || e.class() == ErrorClass::NotFound => {
                Ok(Cancel::AlreadyEnded)
            }
            Err(e) => Err(e),
        }
    }
}

/// What the target kind is called in messages.
fn target_kind(t: HbrRestoreType) -> &'static str {
    match t {
        HbrRestoreType::EcsFile => "ECS instance",
        HbrRestoreType::UdmEcsRollback => "ECS instance (its disks, in place)",
        HbrRestoreType::Oss => "OSS bucket",
        HbrRestoreType::Nas => "NAS file system",
    }
}

/// `spec.source` → the snapshot: as given, or the snapshot the referenced `HbrBackupJob` made.
async fn resolve_snapshot(
    obj: &HbrRestoreJob,
    ctx: &Context,
    target: &Target,
    wanted: HbrRestoreSourceType,
) -> Result<Check<Snapshot>> {
    let s = &obj.spec.source;
    let Some(r) = &s.backup_job_ref else {
        return Ok(Check::Ready(Snapshot {
            id: s.snapshot_id.clone().unwrap_or_default(),
            hash: s.snapshot_hash.clone(),
            vault_id: s.vault_id.clone(),
            instance_id: None,
            job_id: None,
        }));
    };
    let job: HbrBackupJob =
        match super::referenced(obj, ctx, "source.backupJobRef", &r.name).await? {
            Ok(j) => j,
            Err(refused) => return Ok(refused),
        };
    let job_id = super::ready!(backup_job_ready(&job, &r.name, wanted));
    Ok(find_snapshot(ctx, target, &job, &job_id).await)
}

/// The job id of a referenced `HbrBackupJob` that can be restored from (pure).
pub fn backup_job_ready(
    job: &HbrBackupJob,
    name: &str,
    wanted: HbrRestoreSourceType,
) -> Check<String> {
    let source_type = match job.spec.source_type {
        HbrSourceType::EcsFile => HbrRestoreSourceType::EcsFile,
        HbrSourceType::UdmEcs => HbrRestoreSourceType::UdmEcs,
        HbrSourceType::Container => {
            return Check::refused(
                reasons::SOURCE_INVALID,
                format!(
                    "HbrBackupJob {name} backs up CONTAINER volumes: HBR documents no way to \
                     look up or restore their snapshots through the API"
                ),
            );
        }
    };
    if source_type != wanted {
        return Check::refused(
            reasons::INVALID_SPEC,
            format!(
                "HbrBackupJob {name} made a {} snapshot, which restoreType cannot restore (it \
                 takes {})",
                source_type.as_str(),
                wanted.as_str()
            ),
        );
    }
    let status = job.status.clone().unwrap_or_default();
    match (status.phase, status.job_id) {
        (Some(HbrBackupJobPhase::Succeeded), Some(id)) => Check::Ready(id),
        (Some(p), _) if p.is_terminal() => Check::refused(
            reasons::SOURCE_INVALID,
            format!(
                "HbrBackupJob {name} ended {}, not Succeeded: restore from a complete snapshot",
                p.as_str()
            ),
        ),
        (phase, _) => Check::source_not_ready("HbrBackupJob", name, phase.map(|p| p.as_str())),
    }
}

/// The snapshot `job_id` made (read-only lookups, [`snapshots::job_snapshots`]), searched
/// from the job's start (or 30 days back when that is not recorded) to its end.
async fn find_snapshot(
    ctx: &Context,
    target: &Target,
    job: &HbrBackupJob,
    job_id: &str,
) -> Check<Snapshot> {
    let hbr = ctx.cloud.hbr(target);
    let status = job.status.clone().unwrap_or_default();
    let now = jiff::Timestamp::now().as_second();
    let since = status
        .start_time
        .as_ref()
        .map_or(now - 86_400 * 30, |t| t.0.as_second());
    let until = snapshots::ended_by(status.completion_time.as_ref(), now);
    let found = match snapshots::job_snapshots(&*hbr, &job.spec, job_id, since, until).await {
        // A restore takes only a snapshot the cloud says the job made.
        Ok(found) => found
            .into_iter()
            .find(|s| s.job_id.as_deref() == Some(job_id)),
        Err(e) => return Check::Cloud(e),
    };
    match found {
        Some(s) => Check::Ready(s),
        None => Check::refused(
            reasons::SOURCE_NOT_FOUND,
            format!(
                "backup job {job_id} has no snapshot in Cloud Backup (deleted or expired); \
                 nothing was called"
            ),
        ),
    }
}

/// The request and plan (pure).
pub fn build(
    spec: &HbrRestoreJobSpec,
    snapshot: &Snapshot,
    region: &str,
    target_id: String,
) -> Prepared<CreateRestoreJobRequest> {
    let t = &spec.target;
    let json_list = |v: &[String]| (!v.is_empty()).then(|| serde_json::json!(v).to_string());
    let mut req = CreateRestoreJobRequest {
        restore_type: t.restore_type.as_str().to_string(),
        source_type: t.restore_type.source_type().as_str().to_string(),
        snapshot_id: snapshot.id.clone(),
        snapshot_hash: snapshot.hash.clone(),
        vault_id: snapshot.vault_id.clone(),
        ..CreateRestoreJobRequest::default()
    };
    match t.restore_type {
        HbrRestoreType::EcsFile => {
            req.target_instance_id = t.instance_id.clone();
            req.target_path = t.path.clone();
            req.include = json_list(&t.include);
            req.exclude = json_list(&t.exclude);
        }
        HbrRestoreType::UdmEcsRollback => {
            let mut detail = serde_json::json!({ "sourceInstanceId": target_id });
            if let Some(boot) = t.boot_after_restore {
                detail["bootAfterRestore"] = serde_json::json!(boot);
            }
            req.udm_detail = Some(detail);
            req.udm_region_id = Some(region.to_string());
        }
        HbrRestoreType::Oss => {
            req.target_bucket = t.bucket.clone();
            req.target_prefix = t.prefix.clone();
        }
        HbrRestoreType::Nas => {
            req.target_file_system_id = t.file_system_id.clone();
            req.target_create_time = t.file_system_create_time;
        }
    }
    let parameters = plan::params([
        ("RestoreType", Some(req.restore_type.clone())),
        ("SourceType", Some(req.source_type.clone())),
        ("SnapshotId", Some(req.snapshot_id.clone())),
        ("SnapshotHash", req.snapshot_hash.clone()),
        ("VaultId", req.vault_id.clone()),
        ("TargetInstanceId", req.target_instance_id.clone()),
        ("TargetPath", req.target_path.clone()),
        ("Include", req.include.clone()),
        ("Exclude", req.exclude.clone()),
        ("TargetBucket", req.target_bucket.clone()),
        ("TargetPrefix", req.target_prefix.clone()),
        ("TargetFileSystemId", req.target_file_system_id.clone()),
        (
            "TargetCreateTime",
            req.target_create_time.map(|t| t.to_string()),
        ),
        ("UdmDetail", req.udm_detail.as_ref().map(|d| d.to_string())),
        ("UdmRegionId", req.udm_region_id.clone()),
    ]);
    Prepared {
        plan: RestorePlan {
            operation: "HBR CreateRestoreJob".into(),
            target: format!("{} {target_id}", target_kind(t.restore_type)),
            overwrites: true,
            parameters,
        },
        source: format!("snapshot {}", snapshot.id),
        target_id,
        exclusive: true,
        request: req,
    }
}

/// The restore jobs of the plan's type, vault and target instance (all pages).
async fn list_jobs(
    ctx: &Context,
    target: &Target,
    plan: &RestorePlan,
) -> std::result::Result<Vec<CloudRestoreJob>, CloudError> {
    let api = ctx.cloud.hbr_restore(target);
    let mut filters = Vec::new();
    let mut filter = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            filters.push(HbrFilter {
                key: key.into(),
                operator: Some("IN".into()),
                values: vec![v.to_string()],
            });
        }
    };
    filter("VaultId", plan::param(plan, "VaultId"));
    filter(
        "InstanceId",
        plan::param(plan, "TargetInstanceId").or_else(|| udm_instance(plan)),
    );
    let mut jobs = Vec::new();
    for page in 1..=MAX_PAGES {
        let req = DescribeRestoreJobs2Request {
            restore_type: plan::param(plan, "RestoreType").map(str::to_string),
            filters: filters.clone(),
            page_number: Some(page),
            page_size: Some(99),
            ..DescribeRestoreJobs2Request::default()
        };
        let resp = api.describe_restore_jobs2(&req).await?;
        let n = resp.restore_jobs.len();
        jobs.extend(resp.restore_jobs);
        if n == 0 || i64::try_from(jobs.len()).unwrap_or(i64::MAX) >= resp.total_count {
            break;
        }
    }
    Ok(jobs)
}

/// The instance a rollback writes into, from its `UdmDetail`.
fn udm_instance(plan: &RestorePlan) -> Option<&str> {
    let detail = plan::param(plan, "UdmDetail")?;
    let start = detail.find("\"sourceInstanceId\":\"")? + "\"sourceInstanceId\":\"".len();
    let rest = &detail[start..];
    rest.find('"').map(|end| &rest[..end])
}

/// The jobs that restore the plan's snapshot into the plan's target, created at or after
/// `since` (unix seconds); one is ours (pure).
pub fn lookup(jobs: &[CloudRestoreJob], plan: &RestorePlan, since: i64) -> Lookup {
    let same = |field: Option<&String>, key: &str| {
        plan::param(plan, key).is_none_or(|v| field.is_some_and(|f| f == v))
    };
    let mut found: Vec<&CloudRestoreJob> = jobs
        .iter()
        .filter(|j| {
            Some(j.snapshot_id.as_deref().unwrap_or_default()) == plan::param(plan, "SnapshotId")
        })
        .filter(|j| j.created_time.is_none_or(|c| c >= since))
        .filter(|j| same(j.target_instance_id.as_ref(), "TargetInstanceId"))
        .filter(|j| same(j.target_path.as_ref(), "TargetPath"))
        .filter(|j| same(j.target_bucket.as_ref(), "TargetBucket"))
        .filter(|j| same(j.target_file_system_id.as_ref(), "TargetFileSystemId"))
        .collect();
    found.sort_by(|a, b| a.restore_id.cmp(&b.restore_id));
    found.dedup_by(|a, b| a.restore_id == b.restore_id);
    match found.as_slice() {
        [] => Lookup::NotFound,
        [one] => Lookup::Found(Started {
            restore_id: one.restore_id.clone(),
            ..Started::default()
        }),
        many => Lookup::Ambiguous(format!(
            "{} restore jobs of snapshot {} into the same target started since this object's \
             attempt ({}): someone else restores it at the same time, so the operator cannot \
             tell which is this object's; nothing was sent again",
            many.len(),
            plan::param(plan, "SnapshotId").unwrap_or_default(),
            many.iter()
                .map(|j| j.restore_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The state of a restore job (pure). HBR documents `COMPLETE`, `PARTIAL_COMPLETE` and
/// `FAILED` as final; `CANCELED` and `EXPIRED` end it too.
pub fn job_state(job: &CloudRestoreJob) -> Observed {
    let status = job.status.clone().unwrap_or_default();
    let message = || {
        job.error_message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("the job ended {status}"))
    };
    match status.as_str() {
        "COMPLETE" => Observed::Succeeded {
            cloud_status: status,
        },
        "PARTIAL_COMPLETE" => Observed::Partial {
            message: message(),
            cloud_status: status,
        },
        "FAILED" | "EXPIRED" => Observed::Failed {
            message: message(),
            cloud_status: status,
        },
        "CANCELED" => Observed::Cancelled {
            cloud_status: status,
        },
        _ => Observed::Running {
            progress: job
                .progress
                .map(|p| i32::try_from(p.clamp(0, 10_000) / 100).unwrap_or(0)),
            cloud_status: status,
        },
    }
}
