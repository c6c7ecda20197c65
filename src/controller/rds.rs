//! The `RdsBackup` controller: one manual ApsaraDB RDS backup, created exactly once, tracked to
//! its end, and cleaned up per `deletionPolicy`.
//!
//! Reconcile is `load → validate → plan → act → status` (`docs/architecture.md#one-reconcile`):
//!
//! * **load**: the object (and, for a create, a fresh list of the `RdsBackup`s on the same
//!   instance), the credentials Secret.
//! * **validate** ([`validate`], pure): spec → `CreateBackupRequest`, or a message for
//!   `Stalled/InvalidSpec`.
//! * **plan** ([`plan`], pure): status → one [`Step`].
//! * **act**: at most one mutating cloud call (`CreateBackup` or `DeleteBackup`), plus the
//!   describes that observe it.
//! * **status**: computed from the observation by pure functions ([`observe_task`],
//!   [`record_backup_set`]) and written with server-side apply only when it changed.
//!
//! # Exactly once (`docs/architecture.md#rdsbackup`)
//!
//! RDS `CreateBackup` has no idempotency token, so the operator keeps these rules:
//!
//! 1. **Intent first.** Before `CreateBackup`, status records `pendingCreate {token, startedAt}`.
//!    The intent is cleared when the outcome is known: a `BackupJobId` (recorded in the same
//!    write), or an error that proves the call did not run (an RDS 4xx error response with a
//!    code, such as `BackupJobExists`, `InvalidParameter` or throttling; a refused connection).
//!    After a timeout, a 5xx or a crash the intent stays: **the outcome is unknown**.
//! 2. **Unknown outcome ⇒ adopt, never re-create blindly.** With `pendingCreate` set and no
//!    `backupJobId`, the next reconcile first looks for the task:
//!    `DescribeBackupTasks(DBInstanceId, BackupMode=Manual)` lists the running manual tasks; if
//!    none is ours, `DescribeBackups(BackupMode=Manual, StartTime≥startedAt)` lists the finished
//!    sets (a task that ended while the operator was down). Only when both come back without a
//!    candidate is `CreateBackup` called again (under the same intent).
//! 3. **Telling ours from theirs.** Neither list says who created a task, so the operator makes
//!    the answer unambiguous: **at most one object per instance may hold an unresolved intent.**
//!    The whole critical section (fresh list of the `RdsBackup`s on the instance → adopt or
//!    record intent → `CreateBackup` → record the job id) runs under a per-instance lock, and an
//!    object does not record an intent while another object on the same instance has an
//!    unresolved one (it waits with reason `WaitingForInstance`). A task or backup set whose id
//!    is recorded in another object's status is **claimed** and never adopted. So an unclaimed
//!    manual task on the instance can only be ours. Leader election makes the lock global.
//! 4. **`BackupJobExists` on a fresh intent is theirs.** The error proves our call did not run;
//!    another backup (another object's, or one started outside the operator) is running. The
//!    intent is cleared and the object waits with exponential backoff (`WaitingForRunningBackup`)
//!    and tries again. On an intent whose outcome was unknown, `BackupJobExists` triggers one
//!    more adoption lookup first (our earlier call may just have become visible).
//!
//! Residual risk: a manual backup started *outside* the operator on the same instance while one
//! of our intents is unresolved (after a crash or a lost response) would be adopted as ours.
//!
//! # Deletion
//!
//! Through kube-runtime's finalizer helper (`backup.aliyun.dev/cleanup`): the orphan annotation
//! lets go at once (no Secret read, no cloud call); `Retain` lets go without cloud calls;
//! `Delete` waits for a running task to end, then deletes the backup set (`NotFound` = done;
//! `StoreStatus: Disabled` → `Stalled`).

pub mod plan;

use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use self::plan::{
    BACKUP_JOB_EXISTS, BACKUP_MODE_MANUAL, INCORRECT_BACKUP_SET_STATE, Peers, Resolution,
    STORE_STATUS_DISABLED, Step, TASK_FAILED, TASK_FINISHED, TASK_NO_START, candidate_sets,
    create_not_executed, describe_backups_start_time, observe_task, outcome_unknown_message, peers,
    pick_task, reasons, record_backup_set, resolve_intent, task_ended, terminal_health, validate,
};
use super::conditions::Health;
use super::context::Context;
use super::error::{Error, Result};
use super::kind::{self, ManagedResource};
use super::runtime;
use super::work::{self};
use crate::cloud::api::{
    CreateBackupRequest, DeleteBackupRequest, DescribeBackupTasksRequest, DescribeBackupsRequest,
    RdsApi, RdsBackupJob,
};
use crate::cloud::{CloudError, ErrorClass};
use crate::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, DeletionPolicy, PendingCreate, RdsBackup, RdsBackupPhase,
    adopt_backup_id, create_token, orphan_on_delete,
};

/// Kind name used in metrics and logs.
pub const KIND: &str = "RdsBackup";

impl ManagedResource for RdsBackup {
    const KIND: &'static str = KIND;

    fn credentials_secret(&self) -> Option<&str> {
        self.spec.credentials_ref.as_ref().map(|r| r.name.as_str())
    }

    fn last_success(&self) -> Option<jiff::Timestamp> {
        let st = self.status.as_ref()?;
        (st.phase == Some(RdsBackupPhase::Succeeded))
            .then(|| st.completion_time.as_ref().map(|t| t.0))
            .flatten()
    }

    fn region(&self) -> &str {
        &self.spec.region
    }
}

kind::tracked!(
    RdsBackup,
    crate::crd::RdsBackupStatus,
    crate::crd::RdsBackupPhase,
    failed = crate::crd::RdsBackupPhase::Failed,
    completion_time = completion_time
);

/// The `RdsBackup` controller futures (one per watched namespace).
pub fn controllers(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
) -> Vec<BoxFuture<'static, ()>> {
    runtime::controllers::<RdsBackup, _, _>(ctx, concurrency, shutdown, reconcile)
}

// ---------------------------------------------------------------------------------------------
// reconcile (I/O)
// ---------------------------------------------------------------------------------------------

async fn reconcile(obj: Arc<RdsBackup>, ctx: Arc<Context>) -> Result<Action> {
    runtime::reconcile_with_finalizer(obj, ctx, apply, cleanup).await
}

type Work<'a> = work::Work<'a, RdsBackup>;

/// The per-instance lock of the create critical section (`docs/architecture.md#rdsbackup`).
fn instance_lock_key(spec: &crate::crd::RdsBackupSpec) -> String {
    format!("rds/{}/{}", spec.region, spec.instance())
}

async fn apply(obj: Arc<RdsBackup>, ctx: &Context, api: &Api<RdsBackup>) -> Result<Action> {
    let mut w = Work::new(&obj, ctx, api);
    let step = plan::plan(w.current.as_ref());
    if step == Step::Done {
        if let Some(h) = terminal_health(&w.status) {
            w.commit(&h).await?;
        }
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync));
    }
    // Validated once; only a create needs the request (a recorded task is tracked whatever
    // the spec says).
    let request = match validate(&obj.spec) {
        Ok(r) => Some(r),
        Err(message) if matches!(step, Step::Create | Step::Adopt) => {
            w.commit(&Health::stalled(reasons::INVALID_SPEC, message))
                .await?;
            return Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync));
        }
        Err(_) => None,
    };
    let target = match kind::target(obj.as_ref(), ctx).await? {
        Ok(t) => t,
        Err(problem) => {
            w.commit(&Health::stalled(problem.reason(), problem.to_string()))
                .await?;
            // A change of the Secret requeues the object at once (Secret watch).
            return Ok(runtime::requeue(ctx, w.obj, ctx.timing.error_max));
        }
    };
    let rds = ctx.cloud.rds(&target);
    match step {
        Step::Create | Step::Adopt => match &request {
            Some(request) => create_or_adopt(&mut w, rds.as_ref(), request).await,
            None => Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync)),
        },
        Step::Track { job_id } => track(&mut w, rds.as_ref(), &job_id).await,
        Step::FetchBackupSet { backup_id } => {
            fetch_backup_set(&mut w, rds.as_ref(), &backup_id).await
        }
        Step::Done => Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync)),
    }
}

/// Result of an adoption lookup.
enum Adoption {
    /// Our task was found and recorded; requeue with this action.
    Adopted(Action),
    /// The search ended without a running task of ours: what the intent comes to.
    Unresolved(Resolution),
    /// The lookup failed with a terminal error (status written as `Stalled`).
    Stalled(Action),
}

/// Lists the running manual tasks of the instance.
async fn running_tasks(
    rds: &dyn RdsApi,
    instance: &str,
) -> std::result::Result<Vec<RdsBackupJob>, CloudError> {
    rds.describe_backup_tasks(&DescribeBackupTasksRequest {
        db_instance_id: instance.to_string(),
        backup_mode: Some(BACKUP_MODE_MANUAL.into()),
        ..DescribeBackupTasksRequest::default()
    })
    .await
    .map(|r| r.items)
}

/// Resolves the tasks other objects hold without a recorded set ([`Peers::open_jobs`]) to the
/// sets they produced, and adds those to the claimed sets. Returns the job ids that could not
/// be resolved (finished, but without a visible `BackupId`, or not listed at all): their sets
/// are unknown, so no unclaimed set can be told apart from theirs.
///
/// Call it *after* listing the sets: a task still running now was running when the sets were
/// listed, so its set cannot be among them; a task that finished in between is resolved here.
async fn resolve_peer_jobs(
    rds: &dyn RdsApi,
    instance: &str,
    peers: &mut Peers,
) -> std::result::Result<Vec<String>, CloudError> {
    let mut unresolved = Vec::new();
    for job in peers.open_jobs.clone() {
        let items = rds
            .describe_backup_tasks(&DescribeBackupTasksRequest {
                db_instance_id: instance.to_string(),
                backup_job_id: Some(job.clone()),
                ..DescribeBackupTasksRequest::default()
            })
            .await?
            .items;
        let task = items.iter().find(|t| t.backup_job_id == job);
        match task {
            Some(t) if t.backup_status.as_deref() == Some(TASK_FAILED) => {}
            Some(t) if !task_ended(t.backup_status.as_deref()) => {}
            Some(t) => match t.backup_id.as_deref().filter(|b| !b.is_empty()) {
                Some(b) => {
                    peers.claimed_backups.insert(b.to_string());
                }
                None => unresolved.push(job),
            },
            None => unresolved.push(job),
        }
    }
    Ok(unresolved)
}

/// Looks for our running task and records it in status; otherwise searches the finished sets
/// and says what the intent comes to. Never adopts a finished set: only a task id proves
/// ownership. Retryable lookup errors are returned as `Err`.
async fn try_adopt(w: &mut Work<'_>, rds: &dyn RdsApi, peers: &mut Peers) -> Result<Adoption> {
    let instance = w.obj.spec.instance().to_string();
    let started_at = w
        .status
        .pending_create
        .as_ref()
        .map(|p| p.started_at.0)
        .unwrap_or_else(jiff::Timestamp::now);
    let tasks = match running_tasks(rds, &instance).await {
        Ok(t) => t,
        Err(e) => return w.cloud_error(e).await.map(Adoption::Stalled),
    };
    if let Some(task) = pick_task(&tasks, peers) {
        let now = jiff::Timestamp::now();
        w.status.backup_job_id = Some(task.backup_job_id.clone());
        w.status.pending_create = None;
        w.status.start_time.get_or_insert(Time(now));
        let (health, next) = observe_task(&mut w.status, Some(task), now, &w.ctx.timing);
        let health = match health {
            Health::Progressing { .. } => Health::progressing(
                reasons::BACKUP_ADOPTED,
                format!(
                    "adopted backup task {} created before the operator could record it",
                    task.backup_job_id
                ),
            ),
            other => other,
        };
        w.commit(&health).await?;
        let after = next.unwrap_or(w.ctx.timing.resync);
        return Ok(Adoption::Adopted(runtime::requeue(w.ctx, w.obj, after)));
    }
    let sets = match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.clone(),
            backup_mode: Some(BACKUP_MODE_MANUAL.into()),
            start_time: Some(describe_backups_start_time(started_at)),
            page_size: Some(100),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => r.items,
        Err(e) => return w.cloud_error(e).await.map(Adoption::Stalled),
    };
    let unresolved_peers = match resolve_peer_jobs(rds, &instance, peers).await {
        Ok(u) => u,
        Err(e) => return w.cloud_error(e).await.map(Adoption::Stalled),
    };
    // The StartTime filter has minute precision; compare exactly here, with a minute of
    // tolerance for clock differences between the operator and the service.
    let not_before = started_at
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(started_at);
    let candidates = candidate_sets(&sets, peers, not_before);
    Ok(Adoption::Unresolved(resolve_intent(
        &candidates,
        &unresolved_peers,
    )))
}

/// Records that an intent cannot be resolved now (`WaitForPeers`: progressing, look again
/// soon; `Unknown`: `Stalled/CreateOutcomeUnknown`, look again slowly). The intent stays.
async fn hold_intent(w: &mut Work<'_>, resolution: &Resolution) -> Result<Action> {
    let ctx = w.ctx;
    if w.status.phase != Some(RdsBackupPhase::Deleting) {
        w.status.phase = Some(RdsBackupPhase::Creating);
    }
    match resolution {
        Resolution::WaitForPeers { jobs } => {
            w.commit(&Health::progressing(
                reasons::WAITING_FOR_INSTANCE,
                format!(
                    "the outcome of an earlier CreateBackup is being resolved; waiting until the \
                     backup task(s) {} of other RdsBackups on instance {} show their backup sets",
                    jobs.join(", "),
                    w.obj.spec.db_instance_id
                ),
            ))
            .await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.wait))
        }
        Resolution::Unknown { candidates } => {
            let started = w
                .status
                .pending_create
                .as_ref()
                .map(|p| p.started_at.clone())
                .unwrap_or_else(|| Time(jiff::Timestamp::now()));
            let message = outcome_unknown_message(w.obj.spec.instance(), &started, candidates);
            w.commit(&Health::stalled(reasons::CREATE_OUTCOME_UNKNOWN, message))
                .await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.error_max))
        }
        Resolution::NotCreated => Ok(runtime::requeue(ctx, w.obj, ctx.timing.poll_initial)),
    }
}

/// Adopts the backup set named by the `adopt-backup-id` annotation: it must exist on the
/// instance and must not be held by another object (or be the product of a task another
/// object holds).
async fn adopt_named(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
    backup_id: &str,
) -> Result<Action> {
    let ctx = w.ctx;
    let instance = w.obj.spec.instance().to_string();
    let unresolved = match resolve_peer_jobs(rds, &instance, peers).await {
        Ok(u) => u,
        Err(e) => return w.cloud_error(e).await,
    };
    if peers.claimed_backups.contains(backup_id) {
        w.commit(&Health::stalled(
            reasons::ADOPTION_REFUSED,
            format!(
                "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} belongs to another \
                 RdsBackup on instance {instance}; name a set no other object holds"
            ),
        ))
        .await?;
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.error_max));
    }
    if !unresolved.is_empty() {
        return hold_intent(w, &Resolution::WaitForPeers { jobs: unresolved }).await;
    }
    let sets = match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.clone(),
            backup_id: Some(backup_id.to_string()),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => r.items,
        Err(e) if e.class() == ErrorClass::NotFound => Vec::new(),
        Err(e) => return w.cloud_error(e).await,
    };
    let Some(set) = sets.iter().find(|s| s.backup_id == backup_id) else {
        w.commit(&Health::stalled(
            reasons::BACKUP_SET_NOT_FOUND,
            format!(
                "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} does not exist on \
                 instance {instance}; correct the annotation"
            ),
        ))
        .await?;
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.error_max));
    };
    record_backup_set(&mut w.status, set, jiff::Timestamp::now());
    w.status.cloud_status = Some(TASK_FINISHED.into());
    w.commit(&Health::ready(
        reasons::BACKUP_ADOPTED,
        format!("adopted backup set {backup_id}, named by {ANNOTATION_ADOPT_BACKUP_ID}"),
    ))
    .await?;
    Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync))
}

async fn create_or_adopt(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    request: &CreateBackupRequest,
) -> Result<Action> {
    let ctx = w.ctx;
    let lock_key = instance_lock_key(&w.obj.spec);
    let _guard = ctx.locks.lock(&lock_key).await;

    // Fresh reads under the lock: our own status (the cache can lag behind our last write)
    // and the claims of the other objects on the instance.
    let all = runtime::list_fresh::<RdsBackup>(ctx).await?;
    let uid = w
        .obj
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    let Some(me) = all
        .iter()
        .find(|o| o.metadata.uid.as_deref() == Some(uid.as_str()))
    else {
        // Deleted meanwhile.
        return Ok(Action::await_change());
    };
    w.rebase(me.status.clone());
    let step = plan::plan(w.current.as_ref());
    if !matches!(step, Step::Create | Step::Adopt) {
        // Resolved by an earlier reconcile whose write the cache had not seen yet.
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.poll_initial));
    }
    let mut peers = peers(&uid, &w.obj.spec, &all);
    if let Some(backup_id) = adopt_backup_id(me.metadata.annotations.as_ref()) {
        return adopt_named(w, rds, &mut peers, backup_id).await;
    }

    let had_intent = step == Step::Adopt;
    if had_intent {
        match try_adopt(w, rds, &mut peers).await? {
            Adoption::Adopted(action) | Adoption::Stalled(action) => return Ok(action),
            Adoption::Unresolved(Resolution::NotCreated) => {}
            Adoption::Unresolved(other) => return hold_intent(w, &other).await,
        }
        tracing::info!(
            namespace = w.obj.namespace().unwrap_or_default(),
            name = %w.name,
            "no task or backup set of the earlier create attempt found; creating"
        );
    } else {
        if let Some(other) = &peers.unresolved {
            w.status.phase = Some(RdsBackupPhase::Pending);
            w.commit(&Health::progressing(
                reasons::WAITING_FOR_INSTANCE,
                format!(
                    "waiting: RdsBackup {other} is creating a backup on instance {}",
                    w.obj.spec.db_instance_id
                ),
            ))
            .await?;
            return Err(Error::wait(reasons::WAITING_FOR_INSTANCE, ctx.timing.wait));
        }
        // 1. Intent first.
        w.status.pending_create = Some(PendingCreate {
            token: create_token(&uid, w.obj.metadata.generation),
            started_at: Time(jiff::Timestamp::now()),
        });
        w.status.phase = Some(RdsBackupPhase::Creating);
        w.commit(&Health::progressing(
            reasons::CREATING,
            format!(
                "creating a backup of instance {}",
                w.obj.spec.db_instance_id
            ),
        ))
        .await?;
    }

    // 2. The one mutating call.
    match rds.create_backup(request).await {
        Ok(resp) if !resp.backup_job_id.is_empty() => {
            let now = jiff::Timestamp::now();
            w.status.backup_job_id = Some(resp.backup_job_id.clone());
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.start_time = Some(Time(now));
            w.status.cloud_status = Some(TASK_NO_START.into());
            w.status.progress = Some(0);
            w.commit(&Health::progressing(
                reasons::BACKUP_CREATED,
                format!("backup task {} created", resp.backup_job_id),
            ))
            .await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.poll_initial))
        }
        Ok(_) => {
            // A success without a job id: the outcome is unknown; keep the intent and adopt.
            w.status.phase = Some(RdsBackupPhase::Creating);
            w.commit(&Health::progressing(
                reasons::CREATING,
                "CreateBackup returned no BackupJobId; looking for the task",
            ))
            .await?;
            Err(Error::backoff(reasons::CREATING))
        }
        Err(e) if e.code() == Some(BACKUP_JOB_EXISTS) => {
            if had_intent {
                // Our earlier call may have become visible just now.
                match try_adopt(w, rds, &mut peers).await? {
                    Adoption::Adopted(action) | Adoption::Stalled(action) => return Ok(action),
                    Adoption::Unresolved(Resolution::NotCreated) => {}
                    Adoption::Unresolved(other) => return hold_intent(w, &other).await,
                }
            }
            // Refused: our call did not run. Another backup is running on the instance.
            if let Some(id) = e.request_id() {
                w.status.last_request_id = Some(id.to_string());
            }
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Pending);
            w.commit(&Health::progressing(
                reasons::WAITING_FOR_RUNNING_BACKUP,
                format!(
                    "another backup is running on instance {} (BackupJobExists); retrying with backoff",
                    w.obj.spec.db_instance_id
                ),
            ))
            .await?;
            Err(Error::backoff(reasons::WAITING_FOR_RUNNING_BACKUP))
        }
        Err(e) if work::create_refused_for_good(&e) => {
            // The spec is immutable: this object can never succeed.
            w.fail_create(e, work::IMMUTABLE_CREATE_REFUSED).await
        }
        Err(e) => {
            if create_not_executed(&e) {
                w.status.pending_create = None;
                w.status.phase = Some(RdsBackupPhase::Pending);
            }
            w.cloud_error(e).await
        }
    }
}

async fn track(w: &mut Work<'_>, rds: &dyn RdsApi, job_id: &str) -> Result<Action> {
    let ctx = w.ctx;
    let resp = rds
        .describe_backup_tasks(&DescribeBackupTasksRequest {
            db_instance_id: w.obj.spec.instance().to_string(),
            backup_job_id: Some(job_id.to_string()),
            ..DescribeBackupTasksRequest::default()
        })
        .await;
    let tasks = match resp {
        Ok(r) => r.items,
        Err(e) => return w.cloud_error(e).await,
    };
    let task = tasks.iter().find(|t| t.backup_job_id == job_id);
    let now = jiff::Timestamp::now();
    let (health, next) = observe_task(&mut w.status, task, now, &ctx.timing);
    match (next, w.status.backup_id.clone()) {
        (Some(d), Some(backup_id)) if d.is_zero() => fetch_backup_set(w, rds, &backup_id).await,
        (Some(d), _) => {
            w.commit(&health).await?;
            Ok(runtime::requeue(ctx, w.obj, d))
        }
        (None, _) => {
            w.commit(&health).await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync))
        }
    }
}

async fn fetch_backup_set(w: &mut Work<'_>, rds: &dyn RdsApi, backup_id: &str) -> Result<Action> {
    let ctx = w.ctx;
    let resp = rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: w.obj.spec.instance().to_string(),
            backup_id: Some(backup_id.to_string()),
            ..DescribeBackupsRequest::default()
        })
        .await;
    let sets = match resp {
        Ok(r) => r.items,
        Err(e) => return w.cloud_error(e).await,
    };
    match sets.iter().find(|s| s.backup_id == backup_id) {
        Some(set) => {
            let health = record_backup_set(&mut w.status, set, jiff::Timestamp::now());
            w.commit(&health).await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync))
        }
        None => {
            // DescribeBackups lags behind the task: keep waiting, never fail.
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.cloud_status = Some(TASK_FINISHED.into());
            w.commit(&Health::progressing(
                reasons::WAITING_FOR_BACKUP_SET,
                format!(
                    "task finished; backup set {backup_id} is not listed by DescribeBackups yet"
                ),
            ))
            .await?;
            Ok(runtime::requeue(ctx, w.obj, ctx.timing.wait))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// cleanup
// ---------------------------------------------------------------------------------------------

fn wait_deleting(ctx: &Context) -> Error {
    Error::wait(reasons::DELETING, ctx.timing.error_max)
}

async fn cleanup(obj: Arc<RdsBackup>, ctx: &Context, api: &Api<RdsBackup>) -> Result<Action> {
    if orphan_on_delete(obj.metadata.annotations.as_ref()) {
        let note = "orphan-on-delete annotation set: the backup is left in the cloud";
        return Ok(runtime::let_go(obj.as_ref(), ctx, note).await);
    }
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        let note = "deletionPolicy Retain: the backup set is kept in the cloud";
        return Ok(runtime::let_go(obj.as_ref(), ctx, note).await);
    }
    let mut w = Work::new(&obj, ctx, api);
    let unresolved = w.status.pending_create.is_some()
        && w.status.backup_job_id.is_none()
        && w.status.backup_id.is_none();
    if w.status.backup_job_id.is_none() && w.status.backup_id.is_none() && !unresolved {
        // Nothing was ever created.
        return Ok(Action::await_change());
    }
    w.status.phase = Some(RdsBackupPhase::Deleting);
    let target = match kind::target(obj.as_ref(), ctx).await? {
        Ok(t) => t,
        Err(problem) => {
            return w
                .cleanup_needs_credentials(&problem, "delete the backup set")
                .await;
        }
    };
    let rds = ctx.cloud.rds(&target);
    let instance = obj.spec.instance().to_string();

    if unresolved {
        // A create may have run: find it before deciding there is nothing to delete.
        let lock_key = instance_lock_key(&obj.spec);
        let _guard = ctx.locks.lock(&lock_key).await;
        let all = runtime::list_fresh::<RdsBackup>(ctx).await?;
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let mut peers = peers(&uid, &obj.spec, &all);
        match try_adopt(&mut w, rds.as_ref(), &mut peers).await? {
            Adoption::Adopted(_) => w.status.phase = Some(RdsBackupPhase::Deleting),
            Adoption::Unresolved(Resolution::NotCreated) => return Ok(Action::await_change()),
            Adoption::Unresolved(Resolution::Unknown { candidates }) => {
                // No set is provably ours: deleting one on a guess could destroy another
                // backup. Let go and say what stays.
                ctx.events
                    .publish(
                        &obj.object_ref(&()),
                        EventType::Warning,
                        reasons::CLOUD_CLEANUP_SKIPPED,
                        "Deleting",
                        format!(
                            "the outcome of CreateBackup was unknown; backup set(s) {} on \
                             instance {instance} may be this object's and were left in the cloud",
                            candidates.join(", ")
                        ),
                    )
                    .await;
                return Ok(Action::await_change());
            }
            Adoption::Unresolved(wait @ Resolution::WaitForPeers { .. }) => {
                w.status.phase = Some(RdsBackupPhase::Deleting);
                hold_intent(&mut w, &wait).await?;
                return Err(wait_deleting(ctx));
            }
            Adoption::Stalled(_) => return Err(wait_deleting(ctx)),
        }
    }

    // Wait for a running task to end.
    if let Some(job_id) = w.status.backup_job_id.clone()
        && !task_ended(w.status.cloud_status.as_deref())
    {
        let tasks = match rds
            .describe_backup_tasks(&DescribeBackupTasksRequest {
                db_instance_id: instance.clone(),
                backup_job_id: Some(job_id.clone()),
                ..DescribeBackupTasksRequest::default()
            })
            .await
        {
            Ok(r) => r.items,
            Err(e) => {
                w.cloud_error(e).await?;
                return Err(wait_deleting(ctx));
            }
        };
        let now = jiff::Timestamp::now();
        let task = tasks.iter().find(|t| t.backup_job_id == job_id);
        let (_, next) = observe_task(&mut w.status, task, now, &ctx.timing);
        w.status.phase = Some(RdsBackupPhase::Deleting);
        if task.is_none() {
            // The task is gone from the task list: nothing left to wait for.
            w.status.cloud_status = Some(TASK_FINISHED.into());
        } else if !task_ended(w.status.cloud_status.as_deref()) {
            w.commit(&Health::progressing(
                reasons::WAITING_FOR_TASK_TO_END,
                format!("waiting for backup task {job_id} to end before deleting its backup set"),
            ))
            .await?;
            return Err(Error::wait(
                reasons::WAITING_FOR_TASK_TO_END,
                next.unwrap_or(ctx.timing.wait),
            ));
        }
    }
    if w.status.cloud_status.as_deref() == Some(TASK_FAILED) && w.status.backup_id.is_none() {
        return Ok(Action::await_change());
    }
    let Some(backup_id) = w.status.backup_id.clone() else {
        // Ended without a visible backup id: nothing we can address.
        return Ok(Action::await_change());
    };

    let sets = match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.clone(),
            backup_id: Some(backup_id.clone()),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => r.items,
        Err(e) if e.class() == ErrorClass::NotFound => return Ok(Action::await_change()),
        Err(e) => {
            w.cloud_error(e).await?;
            return Err(wait_deleting(ctx));
        }
    };
    let Some(set) = sets.iter().find(|s| s.backup_id == backup_id) else {
        // Already gone.
        return Ok(Action::await_change());
    };
    if set.store_status.as_deref() == Some(STORE_STATUS_DISABLED) {
        return not_deletable(&mut w, &backup_id).await;
    }
    match rds
        .delete_backup(&DeleteBackupRequest {
            db_instance_id: instance,
            backup_ids: vec![backup_id.clone()],
            ..DeleteBackupRequest::default()
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) if e.code() == Some(INCORRECT_BACKUP_SET_STATE) => {
            return not_deletable(&mut w, &backup_id).await;
        }
        Err(e) => {
            w.cloud_error(e).await?;
            return Err(wait_deleting(ctx));
        }
    }
    ctx.events
        .normal(
            &obj.object_ref(&()),
            reasons::BACKUP_DELETED,
            "Deleting",
            format!("backup set {backup_id} deleted"),
        )
        .await;
    Ok(Action::await_change())
}

async fn not_deletable(w: &mut Work<'_>, backup_id: &str) -> Result<Action> {
    w.status.phase = Some(RdsBackupPhase::Deleting);
    w.commit(&Health::stalled(
        reasons::BACKUP_NOT_DELETABLE,
        format!(
            "backup set {backup_id} has StoreStatus Disabled: RDS deletes only backup sets whose \
             StoreStatus is Enabled (sets the instance still needs, or locked ones, are Disabled). \
             Delete it later in the console, or set the annotation \
             backup.aliyun.dev/orphan-on-delete=\"true\" to delete this object and keep the set"
        ),
    ))
    .await?;
    Err(Error::wait(
        reasons::BACKUP_NOT_DELETABLE,
        w.ctx.timing.error_max,
    ))
}
