//! `DbsRestoreTask`: what is specific to Database Backup (DBS) restores.
//!
//! `CreateRestoreTask` carries a `ClientToken` and a `RestoreTaskName` derived from the
//! object's UID; after a crash the task is found by that name in `DescribeRestoreTaskList`.
//! A task that was created but not started (`init`, no error) is started
//! (`StartRestoreTask`, its own token) when it is observed, so a crash between the two calls
//! loses nothing. DBS documents no success state; `finish` (what a full backup set ends
//! with) is taken as success, `stop` as failure, `init` with an error as a failed pre-check.
//! DBS has no per-task cancel: a task still running when its object is deleted runs on.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::plan::{self, reasons};
use super::{Cancel, Check, Lookup, Observed, Prepared, RestoreKind, Started, restore_kind};
use crate::cloud::api::{
    CreateRestoreTaskRequest, DescribeFullBackupListRequest, DescribeRestoreRangeInfoRequest,
    DescribeRestoreTaskListRequest, RestoreTaskDetail, StartRestoreTaskRequest,
};
use crate::cloud::{CloudError, ErrorClass, Target};
use crate::controller::kinds::dbs::secret::read_password;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::Result;
use crate::crd::{
    DbsBackupPlan, DbsRestoreTask, DbsRestoreTaskSpec, PendingCreate, RestorePlan, RestoreStatus,
};

restore_kind!(
    DbsRestoreTask,
    "DbsRestoreTask",
    extra_secret = DbsRestoreTask::password_secret
);

/// Pages of `DescribeRestoreTaskList` searched for a task by name (100 each).
const MAX_PAGES: u32 = 10;
/// How far back `DescribeRestoreRangeInfo` is asked about (the ranges are clipped to it).
const RANGE_LOOKBACK_MS: i64 = 400 * 86_400_000;
/// How far past the point in time (or now) the ranges are asked for.
const RANGE_MARGIN_MS: i64 = 60_000;

impl DbsRestoreTask {
    /// The destination password Secret's name (watched: a change is tried at once).
    pub fn password_secret(&self) -> Option<&str> {
        self.spec
            .destination
            .password_secret_ref
            .as_ref()
            .map(|r| r.name.as_str())
    }
}

/// `RestoreTaskName` of an object (unique and stable: found again after a crash).
pub fn task_name(uid: &str) -> String {
    format!("abo-restore-{uid}")
}

#[async_trait]
impl RestoreKind for DbsRestoreTask {
    type Request = CreateRestoreTaskRequest;

    async fn prepare(
        &self,
        ctx: &Context,
        target: &Target,
        uid: &str,
    ) -> Result<Check<Prepared<CreateRestoreTaskRequest>>> {
        let spec = &self.spec;
        let plan_id = super::ready!(resolve_plan(self, ctx).await?);
        let restore_ms = match spec.source.restore_time.as_deref().map(plan::parse_time) {
            Some(Ok(t)) => Some(t.as_millisecond()),
            Some(Err(m)) => return Ok(Check::refused(reasons::INVALID_SPEC, m)),
            None => None,
        };
        let Some(target_id) = spec.destination.target_id() else {
            return Ok(Check::refused(
                reasons::INVALID_SPEC,
                "destination needs instanceId, or ip and port",
            ));
        };
        if let Some(refused) =
            plan::confirm_overwrite(spec.overwrite.as_ref(), &target_id, "database endpoint")
        {
            return Ok(refused);
        }
        let set = match &spec.source.backup_set_id {
            Some(set) => Some(set.clone()),
            None if spec.source.latest_backup_set => {
                Some(super::ready!(latest_set(ctx, target, &plan_id).await))
            }
            None => None,
        };
        super::ready!(check_source(ctx, target, &plan_id, set.as_deref(), restore_ms).await);
        let password = super::ready!(destination_password(self, ctx).await?);
        let source = Source {
            plan_id,
            backup_set_id: set,
            restore_ms,
        };
        Ok(Check::Ready(build(spec, &source, uid, password, target_id)))
    }

    async fn find(
        &self,
        ctx: &Context,
        target: &Target,
        plan: &RestorePlan,
        _intent: &PendingCreate,
        _claimed: &BTreeSet<String>,
    ) -> std::result::Result<Lookup, CloudError> {
        let plan_id = plan::param(plan, "BackupPlanId").unwrap_or_default();
        let name = plan::param(plan, "RestoreTaskName").unwrap_or_default();
        let api = ctx.cloud.dbs_restore(target);
        for page in 0..MAX_PAGES {
            let req = DescribeRestoreTaskListRequest {
                backup_plan_id: Some(plan_id.to_string()),
                page_num: Some(page),
                page_size: Some(100),
                ..DescribeRestoreTaskListRequest::default()
            };
            let resp = api.describe_restore_task_list(&req).await?;
            if let Some(t) = resp
                .items
                .iter()
                .find(|t| t.restore_task_name.as_deref() == Some(name))
            {
                return Ok(Lookup::Found(Started {
                    restore_id: t.restore_task_id.clone(),
                    ..Started::default()
                }));
            }
            if resp.items.len() < 100 {
                break;
            }
        }
        Ok(Lookup::NotFound)
    }

    async fn start(
        &self,
        ctx: &Context,
        target: &Target,
        prepared: &Prepared<CreateRestoreTaskRequest>,
        _intent: &PendingCreate,
    ) -> std::result::Result<Option<Started>, CloudError> {
        let api = ctx.cloud.dbs_restore(target);
        let created = api.create_restore_task(&prepared.request).await?;
        let id = created.restore_task_id;
        // A failed start is repeated when the task is observed (`init`, no error).
        if let Err(e) = api
            .start_restore_task(&start_request(&id, &prepared.request))
            .await
        {
            tracing::debug!(task = %id, error = %e, "StartRestoreTask failed; retried on the next look");
        }
        Ok(Some(Started {
            restore_id: id,
            ..Started::default()
        }))
    }

    async fn observe(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        _: &RestoreStatus,
    ) -> std::result::Result<Observed, CloudError> {
        let api = ctx.cloud.dbs_restore(target);
        let req = DescribeRestoreTaskListRequest {
            restore_task_id: Some(id.to_string()),
            ..DescribeRestoreTaskListRequest::default()
        };
        let task = match api.describe_restore_task_list(&req).await {
            Ok(resp) => resp.items.into_iter().find(|t| t.restore_task_id == id),
            Err(e) if e.class() == ErrorClass::NotFound => None,
            Err(e) => return Err(e),
        };
        let Some(task) = task else {
            return Ok(Observed::Missing);
        };
        if needs_start(&task) {
            let token =
                crate::crd::create_token(&self.metadata.uid.clone().unwrap_or_default(), None);
            let req = StartRestoreTaskRequest {
                restore_task_id: id.to_string(),
                client_token: Some(format!("{token}-start")),
                ..StartRestoreTaskRequest::default()
            };
            api.start_restore_task(&req).await?;
        }
        Ok(task_state(&task))
    }

    async fn cancel(
        &self,
        _ctx: &Context,
        _target: &Target,
        id: &str,
        _: &RestoreStatus,
    ) -> std::result::Result<Cancel, CloudError> {
        Ok(Cancel::NotPossible(format!(
            "the restore task {id} runs on to its end: DBS has no call to cancel one task \
             (StopBackupPlan would pause the whole plan)"
        )))
    }
}

/// `StartRestoreTask` for task `id` (its own token: one token per action).
fn start_request(id: &str, create: &CreateRestoreTaskRequest) -> StartRestoreTaskRequest {
    StartRestoreTaskRequest {
        restore_task_id: id.to_string(),
        client_token: create.client_token.as_ref().map(|t| format!("{t}-start")),
        ..StartRestoreTaskRequest::default()
    }
}

/// `source.backupPlanRef`/`backupPlanId` → the plan id.
async fn resolve_plan(obj: &DbsRestoreTask, ctx: &Context) -> Result<Check<String>> {
    let s = &obj.spec.source;
    let Some(r) = &s.backup_plan_ref else {
        return Ok(match &s.backup_plan_id {
            Some(id) => Check::Ready(id.trim().to_string()),
            None => Check::refused(
                reasons::INVALID_SPEC,
                "source needs backupPlanRef or backupPlanId",
            ),
        });
    };
    let plan: DbsBackupPlan =
        match super::referenced(obj, ctx, "source.backupPlanRef", &r.name).await? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
    Ok(match plan.status.and_then(|s| s.backup_plan_id) {
        Some(id) => Check::Ready(id),
        None => Check::Wait {
            reason: reasons::SOURCE_NOT_READY,
            message: format!(
                "waiting for DbsBackupPlan {} to have a backup plan id",
                r.name
            ),
        },
    })
}

/// What a task restores: the plan and a full backup set or a point in time (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `BackupPlanId`.
    pub plan_id: String,
    /// `BackupSetId`.
    pub backup_set_id: Option<String>,
    /// `RestoreTime` (unix ms).
    pub restore_ms: Option<i64>,
}

/// The plan's newest finished full backup set (`latestBackupSet`).
async fn latest_set(ctx: &Context, target: &Target, plan_id: &str) -> Check<String> {
    let req = DescribeFullBackupListRequest {
        backup_plan_id: plan_id.to_string(),
        page_size: Some(100),
        ..DescribeFullBackupListRequest::default()
    };
    match ctx.cloud.dbs(target).describe_full_backup_list(&req).await {
        Ok(resp) => newest_finished(&resp.items, plan_id),
        Err(e) => Check::Cloud(e),
    }
}

/// The newest `finish`ed set among `sets` (pure); none yet is a wait.
pub fn newest_finished(sets: &[crate::cloud::api::FullBackupFile], plan_id: &str) -> Check<String> {
    sets.iter()
        .filter(|f| f.backup_status.as_deref() == Some("finish"))
        .max_by_key(|f| {
            (
                f.end_time.or(f.finish_time).unwrap_or_default(),
                f.backup_set_id.clone(),
            )
        })
        .map(|f| Check::Ready(f.backup_set_id.clone()))
        .unwrap_or_else(|| Check::Wait {
            reason: reasons::SOURCE_NOT_READY,
            message: format!(
                "waiting for the first full backup set of plan {plan_id} to finish \
                 (latestBackupSet)"
            ),
        })
}

/// The backup set finished, or the point in time lies in a range the plan can restore.
async fn check_source(
    ctx: &Context,
    target: &Target,
    plan_id: &str,
    set: Option<&str>,
    restore_ms: Option<i64>,
) -> Check<()> {
    if let Some(set) = set {
        let req = DescribeFullBackupListRequest {
            backup_plan_id: plan_id.to_string(),
            backup_set_id: Some(set.to_string()),
            ..DescribeFullBackupListRequest::default()
        };
        return match ctx.cloud.dbs(target).describe_full_backup_list(&req).await {
            Ok(resp) => set_verdict(
                resp.items
                    .iter()
                    .find(|f| f.backup_set_id == set)
                    .and_then(|f| f.backup_status.as_deref()),
                plan_id,
                set,
            ),
            Err(e) if e.class() == ErrorClass::NotFound => set_verdict(None, plan_id, set),
            Err(e) => Check::Cloud(e),
        };
    }
    let Some(t) = restore_ms else {
        return Check::Ready(());
    };
    // The ranges come clipped to the query: ask around `t` (the service clips the end to its
    // own now).
    let now = jiff::Timestamp::now().as_millisecond();
    let req = DescribeRestoreRangeInfoRequest {
        backup_plan_id: plan_id.to_string(),
        begin_timestamp_for_restore: t.min(now) - RANGE_LOOKBACK_MS,
        end_timestamp_for_restore: t.max(now) + RANGE_MARGIN_MS,
        ..DescribeRestoreRangeInfoRequest::default()
    };
    match ctx
        .cloud
        .dbs_restore(target)
        .describe_restore_range_info(&req)
        .await
    {
        Ok(resp) => {
            let ranges: Vec<(i64, i64)> = resp
                .items
                .iter()
                .filter_map(|r| {
                    Some((r.begin_timestamp_for_restore?, r.end_timestamp_for_restore?))
                })
                .collect();
            range_verdict(t, &ranges, plan_id)
        }
        Err(e) if e.class() == ErrorClass::NotFound => range_verdict(t, &[], plan_id),
        Err(e) => Check::Cloud(e),
    }
}

/// Whether a full backup set with this status can be restored (pure).
pub fn set_verdict(status: Option<&str>, plan_id: &str, set: &str) -> Check<()> {
    match status {
        Some("finish") => Check::Ready(()),
        None => Check::refused(
            reasons::SOURCE_NOT_FOUND,
            format!(
                "backup set {set} is not a full backup set of plan {plan_id}; nothing was called"
            ),
        ),
        Some(other) => Check::refused(
            reasons::SOURCE_INVALID,
            format!(
                "backup set {set} of plan {plan_id} is {other}, not finish: it cannot be restored"
            ),
        ),
    }
}

/// Whether `t` (ms) lies in one of the plan's restorable ranges (pure).
pub fn range_verdict(t: i64, ranges: &[(i64, i64)], plan_id: &str) -> Check<()> {
    if ranges.iter().any(|(b, e)| *b <= t && t <= *e) {
        return Check::Ready(());
    }
    let fmt = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(plan::rds_time)
            .unwrap_or_else(|_| ms.to_string())
    };
    let window = if ranges.is_empty() {
        "none".to_string()
    } else {
        ranges
            .iter()
            .map(|(b, e)| format!("{} to {}", fmt(*b), fmt(*e)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Check::refused(
        reasons::OUTSIDE_RECOVERY_WINDOW,
        format!(
            "restoreTime {} is outside what plan {plan_id} can restore \
             (DescribeRestoreRangeInfo: {window}); nothing was called. Pick a time inside a range \
             in a new object",
            fmt(t)
        ),
    )
}

/// The destination password, if the spec names one.
async fn destination_password(
    obj: &DbsRestoreTask,
    ctx: &Context,
) -> Result<Check<Option<crate::cloud::Secret>>> {
    let Some(r) = &obj.spec.destination.password_secret_ref else {
        return Ok(Check::Ready(None));
    };
    let (password, _) = read_password(obj, r, ctx).await?;
    Ok(match password {
        Ok(p) => Check::Ready(Some(p)),
        Err(problem) => Check::refused(
            "PasswordSecretInvalid",
            problem
                .to_string()
                .replace("spec.source.", "spec.destination."),
        ),
    })
}

/// The request and plan (pure). The password goes into the request only.
pub fn build(
    spec: &DbsRestoreTaskSpec,
    source: &Source,
    uid: &str,
    password: Option<crate::cloud::Secret>,
    target_id: String,
) -> Prepared<CreateRestoreTaskRequest> {
    let plan_id = source.plan_id.as_str();
    let req = create_request(spec, source, uid, password);
    let parameters = parameters(&req);
    let source = match (&req.backup_set_id, &spec.source.restore_time) {
        (Some(set), _) => format!("plan {plan_id} set {set}"),
        (None, Some(t)) => format!("plan {plan_id} at {t}"),
        (None, None) => format!("plan {plan_id}"),
    };
    Prepared {
        plan: RestorePlan {
            operation: "DBS CreateRestoreTask + StartRestoreTask".into(),
            target: format!("database endpoint {target_id}"),
            overwrites: true,
            parameters,
        },
        source,
        target_id,
        exclusive: true,
        request: req,
    }
}

/// `CreateRestoreTask` (pure): named and tokened from the object's UID.
fn create_request(
    spec: &DbsRestoreTaskSpec,
    source: &Source,
    uid: &str,
    password: Option<crate::cloud::Secret>,
) -> CreateRestoreTaskRequest {
    let d = &spec.destination;
    let objects: Vec<serde_json::Value> = spec
        .objects
        .iter()
        .map(|o| serde_json::json!({"DBName": o.database, "NewDBName": o.new_database}))
        .collect();
    CreateRestoreTaskRequest {
        backup_plan_id: source.plan_id.clone(),
        restore_task_name: task_name(uid),
        destination_endpoint_instance_type: d.instance_type.as_str().to_string(),
        destination_endpoint_region: Some(d.region.clone().unwrap_or_else(|| spec.region.clone())),
        destination_endpoint_instance_id: d.instance_id.clone(),
        destination_endpoint_ip: d.ip.clone(),
        destination_endpoint_port: d.port.map(i64::from),
        destination_endpoint_user_name: d.user_name.clone(),
        destination_endpoint_password: password,
        destination_endpoint_database_name: d.database_name.clone(),
        destination_endpoint_oracle_sid: d.oracle_sid.clone(),
        restore_objects: Some(serde_json::Value::Array(objects).to_string()),
        backup_set_id: source.backup_set_id.clone(),
        restore_time: source.restore_ms,
        duplicate_conflict: Some("failure".into()),
        client_token: Some(crate::crd::create_token(uid, None)),
        ..CreateRestoreTaskRequest::default()
    }
}

/// The wire parameters of a request (`status.plan`; the password left out).
fn parameters(req: &CreateRestoreTaskRequest) -> std::collections::BTreeMap<String, String> {
    plan::params([
        ("BackupPlanId", Some(req.backup_plan_id.clone())),
        ("RestoreTaskName", Some(req.restore_task_name.clone())),
        (
            "DestinationEndpointInstanceType",
            Some(req.destination_endpoint_instance_type.clone()),
        ),
        (
            "DestinationEndpointRegion",
            req.destination_endpoint_region.clone(),
        ),
        (
            "DestinationEndpointInstanceID",
            req.destination_endpoint_instance_id.clone(),
        ),
        ("DestinationEndpointIP", req.destination_endpoint_ip.clone()),
        (
            "DestinationEndpointPort",
            req.destination_endpoint_port.map(|p| p.to_string()),
        ),
        (
            "DestinationEndpointUserName",
            req.destination_endpoint_user_name.clone(),
        ),
        (
            "DestinationEndpointDatabaseName",
            req.destination_endpoint_database_name.clone(),
        ),
        ("RestoreObjects", req.restore_objects.clone()),
        ("BackupSetId", req.backup_set_id.clone()),
        ("RestoreTime", req.restore_time.map(|t| t.to_string())),
        ("DuplicateConflict", req.duplicate_conflict.clone()),
    ])
}

/// A task created but never started (`init` without an error).
pub fn needs_start(task: &RestoreTaskDetail) -> bool {
    task.restore_status.as_deref() == Some("init")
        && task.err_message.as_deref().is_none_or(str::is_empty)
}

/// The state of a restore task (pure).
pub fn task_state(task: &RestoreTaskDetail) -> Observed {
    let status = task.restore_status.clone().unwrap_or_default();
    let message = task
        .err_message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("the task ended {status}"));
    match status.as_str() {
        "finish" => Observed::Succeeded {
            cloud_status: status,
        },
        "stop" => Observed::Failed {
            message,
            cloud_status: status,
        },
        "init" if !needs_start(task) => Observed::Failed {
            message: format!("the pre-check failed: {message}"),
            cloud_status: status,
        },
        _ => Observed::Running {
            progress: task
                .full_data_restore_progress
                .map(|p| i32::try_from(p.clamp(0, 100)).unwrap_or(0)),
            cloud_status: status,
        },
    }
}
