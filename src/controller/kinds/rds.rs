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

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use self::plan::{
    AdoptId, BACKUP_JOB_EXISTS, CleanupStep, INCORRECT_BACKUP_SET_STATE, Peers, Resolution, Step,
    adoption_holder, adoption_refused_message, candidate_sets, create_not_executed, create_window,
    describe_backups_start_time, observe_task, outcome_unknown_message, peers, pick_task,
    plan_cleanup, plan_cleanup_managed, reasons, record_adopted_set, record_backup_set,
    resolve_intent, same_instance, task_ended, terminal_health, validate, validate_adoption,
};
use crate::cloud::api::{
    BackupMode, CreateBackupRequest, DeleteBackupRequest, DescribeBackupTasksRequest,
    DescribeBackupsRequest, RdsApi, RdsBackup as CloudBackupSet, RdsBackupJob, TaskState,
};
use crate::cloud::{CloudError, ErrorClass, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, ManagedResource};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, ANNOTATION_ORPHAN_ON_DELETE, DeletionPolicy, PendingCreate,
    RdsBackup, RdsBackupPhase, RdsBackupStatus, adopt_backup_id, create_token,
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

    fn deletion_policy(&self) -> Option<crate::crd::DeletionPolicy> {
        self.spec.deletion_policy
    }

    fn observe_only(&self) -> bool {
        self.spec.management_policy.is_observe_only()
    }

    fn timeout(&self) -> Option<&str> {
        self.spec.timeout.as_deref()
    }
}

kind::tracked!(
    RdsBackup,
    crate::crd::RdsBackupStatus,
    RdsBackupPhase,
    settled = plan::settled_health,
    completion_time = completion_time,
    progress = [cloud_status, cloud_progress_status, progress],
    ended = plan::ended
);

// ---------------------------------------------------------------------------------------------
// the pipeline steps (`controller::pipeline`): validate, plan, act; cleanup
// ---------------------------------------------------------------------------------------------

type Work<'a> = work::Work<'a, RdsBackup>;

/// The per-instance lock of the create critical section (`docs/architecture.md#rdsbackup`).
fn instance_lock_key(spec: &crate::crd::RdsBackupSpec) -> String {
    format!("rds/{}/{}", spec.region, spec.instance())
}

#[async_trait]
impl Reconciler for RdsBackup {
    /// The create request, when the next step starts a backup.
    type Valid = Option<CreateBackupRequest>;
    /// Nothing is read before the plan: a running task is described by its act.
    type Seen = ();
    type Step = Step;
    type CleanupStep = CleanupStep;

    fn at_rest(&self, status: &RdsBackupStatus, timing: &Timing) -> Option<Outcome> {
        (plan::plan_spec(&self.spec, Some(status)) == Step::Done).then(|| {
            match terminal_health(status) {
                Some(h) => Outcome::requeue(h, timing.resync),
                None => Outcome::fields(Next::After(timing.resync)),
            }
        })
    }

    /// Only a create needs the request (a recorded task is tracked whatever the spec says);
    /// the adoption fields are checked before anything is recorded.
    fn validate(
        &self,
        status: &RdsBackupStatus,
    ) -> std::result::Result<Option<CreateBackupRequest>, String> {
        let starting = matches!(
            plan::plan_spec(&self.spec, Some(status)),
            Step::Create | Step::Adopt | Step::AdoptExisting(_)
        );
        match validate(&self.spec).and_then(|r| validate_adoption(&self.spec).map(|_| r)) {
            Ok(r) => Ok(Some(r)),
            Err(message) if starting => Err(message),
            Err(_) => Ok(None),
        }
    }

    async fn observe(
        _: &mut Work<'_>,
        _: &Context,
        _: &Target,
        _: &Option<CreateBackupRequest>,
    ) -> Result<std::result::Result<(), Outcome>> {
        Ok(Ok(()))
    }

    fn plan(&self, status: &RdsBackupStatus, _: &Option<CreateBackupRequest>, _: &()) -> Step {
        plan::plan_spec(&self.spec, Some(status))
    }

    async fn act(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        act: Act<'_, RdsBackup>,
    ) -> Result<Outcome> {
        let rds = ctx.cloud.rds(target);
        let spec = &w.obj.spec;
        Ok(match act.step {
            Step::Create | Step::Adopt => {
                let Some(request) = act.valid else {
                    return Ok(Outcome::fields(Next::After(ctx.timing.resync)));
                };
                // The create critical section: lock, fresh claims, act, commit.
                let _guard = ctx.locks.lock(&instance_lock_key(spec)).await;
                let Some(claims) = load_claims(w, ctx).await? else {
                    return Ok(Outcome::await_change());
                };
                // Decided on the fresh status: no intent is lost. (An unresolved intent is
                // resolved first, whatever the deadline.)
                let missed = (claims.step == Step::Create)
                    .then(|| w.missed_start(act.deadline, "RDS"))
                    .flatten();
                match missed {
                    Some(outcome) => outcome,
                    None => create_or_adopt(w, rds.as_ref(), request, claims).await?,
                }
            }
            Step::AdoptExisting(_) => {
                // The adoption critical section: the same lock and fresh claims as a create.
                let _guard = ctx.locks.lock(&instance_lock_key(spec)).await;
                let Some(claims) = load_claims(w, ctx).await? else {
                    return Ok(Outcome::await_change());
                };
                adopt_existing(w, rds.as_ref(), claims).await?
            }
            Step::Track { job_id } => track(w, rds.as_ref(), &job_id, act.deadline).await?,
            Step::FetchBackupSet { backup_id } => {
                fetch_backup_set(w, rds.as_ref(), &backup_id).await?
            }
            Step::Done => Outcome::fields(Next::After(ctx.timing.resync)),
        })
    }

    fn adopted(&self, status: &RdsBackupStatus) -> Option<String> {
        plan::adopted_message(&self.spec, status)
    }

    fn plan_cleanup(
        &self,
        orphan: bool,
        policy: DeletionPolicy,
        status: &RdsBackupStatus,
    ) -> Cleanup<CleanupStep> {
        match plan_cleanup_managed(orphan, policy, self.spec.management_policy, status) {
            CleanupStep::LetGo(note) => Cleanup::LetGo(note),
            CleanupStep::Finished => Cleanup::Finished,
            step => Cleanup::Act {
                step,
                cannot: "delete the backup set".to_string(),
            },
        }
    }

    async fn act_cleanup(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        step: CleanupStep,
    ) -> Result<Outcome> {
        let rds = ctx.cloud.rds(target);
        if step != CleanupStep::ResolveIntent {
            return Ok(act_cleanup(w, rds.as_ref(), Peers::default()).await);
        }
        // A create may have run: find it (under the instance lock, with fresh claims) before
        // deciding there is nothing to delete.
        let obj = w.obj;
        let _guard = ctx.locks.lock(&instance_lock_key(&obj.spec)).await;
        let all = runtime::fresh_claims(ctx, obj, |o| same_instance(&obj.spec, &o.spec))
            .await?
            .unwrap_or_default();
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let mut peers = peers(&uid, &obj.spec, &all);
        peers.auto_resolve = policy::auto_resolve_lost_creates(obj, ctx).await?;
        Ok(act_cleanup(w, rds.as_ref(), peers).await)
    }
}

/// What the create critical section reads fresh, under the per-instance lock.
struct Claims {
    /// The claims of the other objects on the instance.
    peers: Peers,
    /// The step planned from our own fresh status.
    step: Step,
    /// The `adopt-backup-id` annotation.
    adopt: Option<String>,
    /// For [`Step::AdoptExisting`]: the other object that holds the id to adopt, if any.
    holder: Option<adoption::Claim>,
}

/// Fresh reads under the lock: our own status (the cache can lag behind our last write, so
/// `w` is rebased on it) and the claims of the other objects on the instance. `None` when the
/// object was deleted meanwhile.
async fn load_claims(w: &mut Work<'_>, ctx: &Context) -> Result<Option<Claims>> {
    let spec = &w.obj.spec;
    let Some(all) = runtime::fresh_claims(ctx, w.obj, |o| same_instance(spec, &o.spec)).await?
    else {
        return Ok(None);
    };
    let uid = kind::uid(w.obj)?;
    let Some(me) = all
        .iter()
        .find(|o| o.metadata.uid.as_deref() == Some(uid.as_str()))
    else {
        return Ok(None);
    };
    w.rebase(me.status.clone());
    let step = plan::plan_spec(&w.obj.spec, w.current.as_ref());
    let holder = match &step {
        Step::AdoptExisting(id) => adoption_holder(&uid, id, &all),
        _ => None,
    };
    let mut peers = peers(&uid, &w.obj.spec, &all);
    if step == Step::Adopt {
        // Only an intent left unresolved reads the namespace's switch (rare).
        peers.auto_resolve = policy::auto_resolve_lost_creates(w.obj, ctx).await?;
    }
    Ok(Some(Claims {
        peers,
        step,
        adopt: adopt_backup_id(me.metadata.annotations.as_ref()).map(str::to_string),
        holder,
    }))
}

/// Result of an adoption lookup.
enum Adoption {
    /// Our task was found and recorded in status; this outcome reports it.
    Adopted(Outcome),
    /// The search ended without a running task of ours: what the intent comes to.
    Unresolved(Resolution),
    /// A lookup failed (the outcome of the cloud error).
    Failed(Outcome),
}

/// Lists the running manual tasks of the instance.
async fn running_tasks(
    rds: &dyn RdsApi,
    instance: &str,
) -> std::result::Result<Vec<RdsBackupJob>, CloudError> {
    rds.describe_backup_tasks(&DescribeBackupTasksRequest {
        db_instance_id: instance.to_string(),
        backup_mode: Some(BackupMode::Manual.as_str().into()),
        ..DescribeBackupTasksRequest::default()
    })
    .await
    .map(|r| r.items)
}

/// Describes one task of the instance; `None` when it is not listed.
async fn describe_task(
    rds: &dyn RdsApi,
    instance: &str,
    job_id: &str,
) -> std::result::Result<Option<RdsBackupJob>, CloudError> {
    let items = rds
        .describe_backup_tasks(&DescribeBackupTasksRequest {
            db_instance_id: instance.to_string(),
            backup_job_id: Some(job_id.to_string()),
            ..DescribeBackupTasksRequest::default()
        })
        .await?
        .items;
    Ok(items.into_iter().find(|t| t.backup_job_id == job_id))
}

/// Describes one backup set of the instance; `None` when it is not listed (or not found).
async fn describe_set(
    rds: &dyn RdsApi,
    instance: &str,
    backup_id: &str,
) -> std::result::Result<Option<CloudBackupSet>, CloudError> {
    match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.to_string(),
            backup_id: Some(backup_id.to_string()),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => Ok(r.items.into_iter().find(|s| s.backup_id == backup_id)),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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
        match describe_task(rds, instance, &job).await? {
            Some(t) if t.state() == TaskState::Failed => {}
            Some(t) if !t.state().is_ended() => {}
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
/// ownership.
async fn try_adopt(w: &mut Work<'_>, rds: &dyn RdsApi, peers: &mut Peers) -> Adoption {
    let instance = w.obj.spec.instance().to_string();
    let started_at = w
        .status
        .pending_create
        .as_ref()
        .map(|p| p.started_at.0)
        .unwrap_or_else(jiff::Timestamp::now);
    let tasks = match running_tasks(rds, &instance).await {
        Ok(t) => t,
        Err(e) => return Adoption::Failed(w.cloud_error(e)),
    };
    if let Some(task) = pick_task(&tasks, peers) {
        let now = jiff::Timestamp::now();
        w.status.backup_job_id = Some(task.backup_job_id.clone());
        w.status.pending_create = None;
        w.status.start_time.get_or_insert(Time(now));
        let (health, next) = observe(w, Some(task), now);
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
        return Adoption::Adopted(Outcome::requeue(health, next.unwrap_or(w.timing.resync)));
    }
    let sets = match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.clone(),
            backup_mode: Some(BackupMode::Manual.as_str().into()),
            start_time: Some(describe_backups_start_time(started_at)),
            page_size: Some(100),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => r.items,
        Err(e) => return Adoption::Failed(w.cloud_error(e)),
    };
    let unresolved_peers = match resolve_peer_jobs(rds, &instance, peers).await {
        Ok(u) => u,
        Err(e) => return Adoption::Failed(w.cloud_error(e)),
    };
    // The StartTime filter has minute precision; compare exactly here, with a minute of
    // tolerance for clock differences between the operator and the service.
    let not_before = started_at
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(started_at);
    let candidates = candidate_sets(&sets, peers, not_before);
    // The parameters the create was sent with (the spec is immutable).
    let request = validate(&w.obj.spec).unwrap_or_default();
    let resolution = resolve_intent(
        &candidates,
        &unresolved_peers,
        create_window(started_at),
        &request,
        peers.auto_resolve && !plan::awaits_person(&w.status),
    );
    if let Resolution::Resolved { backup_id } = &resolution
        && let Some(set) = sets.iter().find(|s| &s.backup_id == backup_id)
    {
        let now = jiff::Timestamp::now();
        let sent = w
            .status
            .pending_create
            .as_ref()
            .map(|p| p.started_at.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        record_backup_set(&mut w.status, set, now);
        w.status.pending_create = None;
        w.status.cloud_status = Some(TaskState::Finished.as_str().into());
        let failed = set
            .backup_status
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("Success"));
        let health = if failed {
            w.status.phase = Some(RdsBackupPhase::Failed);
            Health::stalled(
                reasons::BACKUP_FAILED,
                format!(
                    "the answer of CreateBackup (sent at {sent}) was lost; its backup set \
                     {backup_id} (the only candidate on instance {instance}) reports {:?}",
                    set.backup_status.as_deref().unwrap_or_default()
                ),
            )
        } else {
            Health::ready(
                reasons::CREATE_OUTCOME_RESOLVED,
                format!(
                    "the answer of CreateBackup (sent at {sent}) was lost; backup set {backup_id} \
                     is the only unclaimed manual set of instance {instance} that started within \
                     the create's window, made with its parameters, while no other create was \
                     unresolved there: it is this object's"
                ),
            )
        };
        return Adoption::Adopted(Outcome::requeue(health, w.timing.resync));
    }
    Adoption::Unresolved(resolution)
}

/// The outcome of an intent that cannot be resolved now (`WaitForPeers`: progressing, look
/// again soon; `Unknown`: `Stalled/CreateOutcomeUnknown`, look again slowly). The intent stays.
fn hold_intent(w: &mut Work<'_>, resolution: &Resolution) -> Outcome {
    if w.status.phase != Some(RdsBackupPhase::Deleting) {
        w.status.phase = Some(RdsBackupPhase::Creating);
    }
    match resolution {
        Resolution::WaitForPeers { jobs } => Outcome::requeue(
            Health::progressing(
                reasons::WAITING_FOR_INSTANCE,
                format!(
                    "the outcome of an earlier CreateBackup is being resolved; waiting until the \
                     backup task(s) {} of other RdsBackups on instance {} show their backup sets",
                    jobs.join(", "),
                    w.obj.spec.instance()
                ),
            ),
            w.timing.wait,
        ),
        Resolution::Unknown { .. } | Resolution::Resolved { .. } => {
            let candidates = &resolution.candidates();
            let started = w
                .status
                .pending_create
                .as_ref()
                .map(|p| p.started_at.clone())
                .unwrap_or_else(|| Time(jiff::Timestamp::now()));
            let message = outcome_unknown_message(w.obj.spec.instance(), &started, candidates);
            Outcome::requeue(
                Health::stalled(reasons::CREATE_OUTCOME_UNKNOWN, message),
                w.timing.error_max,
            )
        }
        Resolution::NotCreated => Outcome::fields(Next::After(w.timing.poll_initial)),
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
) -> Outcome {
    let instance = w.obj.spec.instance().to_string();
    let unresolved = match resolve_peer_jobs(rds, &instance, peers).await {
        Ok(u) => u,
        Err(e) => return w.cloud_error(e),
    };
    if peers.claimed_backups.contains(backup_id) {
        return Outcome::requeue(
            Health::stalled(
                reasons::ADOPTION_REFUSED,
                format!(
                    "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} belongs to \
                     another RdsBackup on instance {instance}; name a set no other object holds"
                ),
            ),
            w.timing.error_max,
        );
    }
    if !unresolved.is_empty() {
        return hold_intent(w, &Resolution::WaitForPeers { jobs: unresolved });
    }
    let set = match describe_set(rds, &instance, backup_id).await {
        Ok(s) => s,
        Err(e) => return w.cloud_error(e),
    };
    let Some(set) = set else {
        return Outcome::requeue(
            Health::stalled(
                reasons::BACKUP_SET_NOT_FOUND,
                format!(
                    "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} does not exist \
                     on instance {instance}; correct the annotation"
                ),
            ),
            w.timing.error_max,
        );
    };
    record_backup_set(&mut w.status, &set, jiff::Timestamp::now());
    w.status.cloud_status = Some(TaskState::Finished.as_str().into());
    Outcome::requeue(
        Health::ready(
            reasons::BACKUP_ADOPTED,
            format!("adopted backup set {backup_id}, named by {ANNOTATION_ADOPT_BACKUP_ID}"),
        ),
        w.timing.resync,
    )
}

/// The create critical section after the fresh reads ([`load_claims`]): adopt what an earlier
/// attempt made, or record the intent (a checkpoint: durable before the call) and create.
async fn create_or_adopt(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    request: &CreateBackupRequest,
    claims: Claims,
) -> Result<Outcome> {
    let Claims {
        mut peers,
        step,
        adopt,
        ..
    } = claims;
    if !matches!(step, Step::Create | Step::Adopt) {
        // Resolved by an earlier reconcile whose write the cache had not seen yet.
        return Ok(Outcome::fields(Next::After(w.timing.poll_initial)));
    }
    if let Some(backup_id) = adopt {
        return Ok(adopt_named(w, rds, &mut peers, &backup_id).await);
    }

    let had_intent = step == Step::Adopt;
    if had_intent {
        match try_adopt(w, rds, &mut peers).await {
            Adoption::Adopted(o) | Adoption::Failed(o) => return Ok(o),
            Adoption::Unresolved(Resolution::NotCreated) => {}
            Adoption::Unresolved(other) => return Ok(hold_intent(w, &other)),
        }
        tracing::info!(
            namespace = w.obj.namespace().unwrap_or_default(),
            name = %w.name,
            "no task or backup set of the earlier create attempt found; creating"
        );
        // The intent's time is the window in which this create's set will start: it is
        // renewed (durably) before the call is sent again.
        if let Some(p) = w.status.pending_create.as_mut() {
            p.started_at = Time(jiff::Timestamp::now());
        }
        w.commit(&Health::progressing(
            reasons::CREATING,
            format!("creating a backup of instance {}", w.obj.spec.instance()),
        ))
        .await?;
    } else {
        if let Some(other) = &peers.unresolved {
            w.status.phase = Some(RdsBackupPhase::Pending);
            return Ok(Outcome::retry(
                Health::progressing(
                    reasons::WAITING_FOR_INSTANCE,
                    format!(
                        "waiting: RdsBackup {other} is creating a backup on instance {}",
                        w.obj.spec.instance()
                    ),
                ),
                Next::wait(reasons::WAITING_FOR_INSTANCE, w.timing.wait),
            ));
        }
        // 1. Intent first: durable before the call.
        let uid = kind::uid(w.obj)?;
        w.status.pending_create = Some(PendingCreate {
            token: create_token(&uid, w.obj.metadata.generation),
            started_at: Time(jiff::Timestamp::now()),
        });
        w.status.phase = Some(RdsBackupPhase::Creating);
        w.commit(&Health::progressing(
            reasons::CREATING,
            format!("creating a backup of instance {}", w.obj.spec.instance()),
        ))
        .await?;
    }

    // 2. The one mutating call.
    let outcome = match rds.create_backup(request).await {
        Ok(resp) if !resp.backup_job_id.is_empty() => {
            let now = jiff::Timestamp::now();
            let job_id = resp.backup_job_id;
            w.status.backup_job_id = Some(job_id.clone());
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.start_time = Some(Time(now));
            w.status.cloud_status = Some(TaskState::NoStart.as_str().into());
            w.status.progress = Some(0);
            let created = Outcome::requeue(
                Health::progressing(
                    reasons::BACKUP_CREATED,
                    format!("backup task {job_id} created"),
                ),
                w.timing.poll_initial,
            );
            // One look at once: a task that ended already (a small instance) is recorded
            // with the create, in one status write and one event. Any doubt records the
            // task as created and polls it.
            match rds
                .observe_task(w.obj.spec.instance(), &job_id, w.timing.observe_age())
                .await
            {
                Ok(Some(task)) if task.state().is_ended() => {
                    let created_status = w.status.clone();
                    let settled = settle_task(w, rds, &job_id, Some(task), None).await;
                    let ended = matches!(
                        w.status.phase,
                        Some(RdsBackupPhase::Succeeded | RdsBackupPhase::Failed)
                    );
                    match settled {
                        Ok(o) if ended => o,
                        _ => {
                            w.status = created_status;
                            created
                        }
                    }
                }
                _ => created,
            }
        }
        // A success without a job id: the outcome is unknown; keep the intent and adopt.
        Ok(_) => {
            w.status.phase = Some(RdsBackupPhase::Creating);
            Outcome::retry(
                Health::progressing(
                    reasons::CREATING,
                    "CreateBackup returned no BackupJobId; looking for the task",
                ),
                Next::backoff(reasons::CREATING),
            )
        }
        Err(e) if e.code() == Some(BACKUP_JOB_EXISTS) => {
            if had_intent {
                // Our earlier call may have become visible just now.
                match try_adopt(w, rds, &mut peers).await {
                    Adoption::Adopted(o) | Adoption::Failed(o) => return Ok(o),
                    Adoption::Unresolved(Resolution::NotCreated) => {}
                    Adoption::Unresolved(other) => return Ok(hold_intent(w, &other)),
                }
            }
            // Refused: our call did not run. Another backup is running on the instance.
            if let Some(id) = e.request_id() {
                w.status.last_request_id = Some(id.to_string());
            }
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Pending);
            Outcome::retry(
                Health::progressing(
                    reasons::WAITING_FOR_RUNNING_BACKUP,
                    format!(
                        "another backup is running on instance {} (BackupJobExists); retrying \
                         with backoff",
                        w.obj.spec.instance()
                    ),
                ),
                Next::backoff(reasons::WAITING_FOR_RUNNING_BACKUP),
            )
        }
        // The spec is immutable: this object can never succeed.
        Err(e) if work::create_refused_for_good(&e) => {
            w.fail_create(e, work::IMMUTABLE_CREATE_REFUSED)
        }
        Err(e) => {
            if create_not_executed(&e) {
                w.status.pending_create = None;
                w.status.phase = Some(RdsBackupPhase::Pending);
            }
            w.cloud_error(e)
        }
    };
    Ok(outcome)
}

/// Takes over the task or set the spec names (`backupJobId`/`backupId`) after the fresh reads
/// ([`load_claims`]): refused when another object holds it, `Stalled` when the cloud does not
/// know it; otherwise recorded (no cloud write) and tracked like a task the operator created.
async fn adopt_existing(w: &mut Work<'_>, rds: &dyn RdsApi, claims: Claims) -> Result<Outcome> {
    let Claims {
        mut peers,
        step,
        holder,
        ..
    } = claims;
    let Step::AdoptExisting(id) = step else {
        // Recorded by an earlier reconcile whose write the cache had not seen yet.
        return Ok(Outcome::fields(Next::After(w.timing.poll_initial)));
    };
    if let Some(holder) = holder {
        return Ok(Outcome::requeue(
            Health::stalled(
                reasons::ADOPTION_REFUSED,
                adoption_refused_message(&id, &holder),
            ),
            w.timing.error_max,
        ));
    }
    let instance = w.obj.spec.instance().to_string();
    match &id {
        AdoptId::Task(job_id) => {
            let task = match describe_task(rds, &instance, job_id).await {
                Ok(t) => t,
                Err(e) => return Ok(w.cloud_error(e)),
            };
            if task.is_none() {
                return Ok(Outcome::requeue(
                    Health::stalled(
                        reasons::TASK_NOT_FOUND,
                        format!(
                            "backup task {job_id} named by spec.backupJobId does not exist on \
                             instance {instance} (DescribeBackupTasks); nothing was recorded. \
                             Create a new RdsBackup with the right id"
                        ),
                    ),
                    w.timing.error_max,
                ));
            }
            w.status.backup_job_id = Some(job_id.clone());
            w.status.start_time = Some(Time(jiff::Timestamp::now()));
            // Tracked like a task of ours from here (no deadline for an adopted task).
            settle_task(w, rds, job_id, task, None).await
        }
        AdoptId::Set(backup_id) => {
            // A set that a task another object holds produced is theirs, even before they
            // recorded it.
            let unresolved = match resolve_peer_jobs(rds, &instance, &mut peers).await {
                Ok(u) => u,
                Err(e) => return Ok(w.cloud_error(e)),
            };
            if peers.claimed_backups.contains(backup_id) {
                return Ok(Outcome::requeue(
                    Health::stalled(
                        reasons::ADOPTION_REFUSED,
                        format!(
                            "backup set {backup_id} named by spec.backupId was produced by a \
                             backup task another RdsBackup on instance {instance} holds; \
                             nothing was recorded"
                        ),
                    ),
                    w.timing.error_max,
                ));
            }
            if !unresolved.is_empty() {
                return Ok(Outcome::requeue(
                    Health::progressing(
                        reasons::WAITING_FOR_INSTANCE,
                        format!(
                            "waiting until the backup task(s) {} of other RdsBackups on \
                             instance {instance} show their backup sets before adopting {backup_id}",
                            unresolved.join(", ")
                        ),
                    ),
                    w.timing.wait,
                ));
            }
            let set = match describe_set(rds, &instance, backup_id).await {
                Ok(s) => s,
                Err(e) => return Ok(w.cloud_error(e)),
            };
            let Some(set) = set else {
                return Ok(Outcome::requeue(
                    Health::stalled(
                        reasons::BACKUP_SET_NOT_FOUND,
                        format!(
                            "backup set {backup_id} named by spec.backupId does not exist on \
                             instance {instance} (DescribeBackups); nothing was recorded. Create \
                             a new RdsBackup with the right id"
                        ),
                    ),
                    w.timing.error_max,
                ));
            };
            let health = record_adopted_set(&mut w.status, &set, jiff::Timestamp::now());
            Ok(Outcome::requeue(health, w.timing.resync))
        }
    }
}

/// Observes the task; past `deadline` (`spec.timeout`) a task that has not ended fails the
/// object and is left running (RDS cannot cancel one).
async fn track(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    job_id: &str,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let task = match rds
        .observe_task(w.obj.spec.instance(), job_id, w.timing.observe_age())
        .await
    {
        Ok(t) => t,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    settle_task(w, rds, job_id, task, deadline).await
}

/// [`observe_task`] into `w`'s status, with its spec's `backupSetDetails` and the timing.
fn observe(
    w: &mut Work<'_>,
    task: Option<&RdsBackupJob>,
    now: jiff::Timestamp,
) -> (Health, Option<std::time::Duration>) {
    observe_task(
        &mut w.status,
        task,
        w.obj.spec.backup_set_details,
        now,
        w.timing,
    )
}

/// What an observation of the task comes to: progress, the failure, or (finished) the
/// backup set; past `deadline` a task that has not ended fails the object.
async fn settle_task(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    job_id: &str,
    task: Option<RdsBackupJob>,
    deadline: Option<jiff::Timestamp>,
) -> Result<Outcome> {
    let now = jiff::Timestamp::now();
    let (health, next) = observe(w, task.as_ref(), now);
    let ended = w.status.backup_id.is_some()
        || matches!(
            w.status.phase,
            Some(RdsBackupPhase::Succeeded | RdsBackupPhase::Failed)
        );
    if !ended && policy::past(deadline, now) {
        return Ok(w.exceed_deadline(format!(
            "backup task {job_id} was still {} when spec.timeout ({}) passed; RDS has no API to \
             cancel a backup task, so it is left running and its backup set is not recorded \
             here (with deletionPolicy Delete, deleting this object waits for the task and \
             deletes its set)",
            w.status.cloud_status.as_deref().unwrap_or("running"),
            w.obj.spec.timeout.as_deref().unwrap_or_default()
        )));
    }
    Ok(match (next, w.status.backup_id.clone()) {
        (Some(d), Some(backup_id)) if d.is_zero() => fetch_backup_set(w, rds, &backup_id).await?,
        (Some(d), _) => Outcome::requeue(health, policy::until_deadline(d, deadline, now)),
        (None, _) => Outcome::requeue(health, w.timing.resync),
    })
}

async fn fetch_backup_set(w: &mut Work<'_>, rds: &dyn RdsApi, backup_id: &str) -> Result<Outcome> {
    let set = match describe_set(rds, w.obj.spec.instance(), backup_id).await {
        Ok(s) => s,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    Ok(match set {
        Some(set) => {
            let health = record_backup_set(&mut w.status, &set, jiff::Timestamp::now());
            Outcome::requeue(health, w.timing.resync)
        }
        None => {
            // DescribeBackups lags behind the task: keep waiting, never fail.
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.cloud_status = Some(TaskState::Finished.as_str().into());
            Outcome::requeue(
                Health::progressing(
                    reasons::WAITING_FOR_BACKUP_SET,
                    format!(
                        "task finished; backup set {backup_id} is not listed by DescribeBackups yet"
                    ),
                ),
                w.timing.wait,
            )
        }
    })
}

/// Takes the cleanup steps [`plan_cleanup`] picks until one needs to wait or the cleanup is
/// done. `peers` are the fresh claims on the instance (needed only to resolve an intent).
async fn act_cleanup(w: &mut Work<'_>, rds: &dyn RdsApi, mut peers: Peers) -> Outcome {
    let deleting = Next::wait(reasons::DELETING, w.timing.error_max);
    let instance = w.obj.spec.instance().to_string();
    w.status.phase = Some(RdsBackupPhase::Deleting);
    loop {
        let step = plan_cleanup(false, DeletionPolicy::Delete, &w.status);
        tracing::debug!(kind = KIND, name = %w.name, ?step, "cleanup step");
        match step {
            CleanupStep::LetGo(note) => return work::let_go(note),
            CleanupStep::Finished => return Outcome::finished(),
            CleanupStep::ResolveIntent => match try_adopt(w, rds, &mut peers).await {
                Adoption::Adopted(_) => w.status.phase = Some(RdsBackupPhase::Deleting),
                Adoption::Unresolved(Resolution::NotCreated) => return Outcome::finished(),
                Adoption::Unresolved(
                    r @ (Resolution::Unknown { .. } | Resolution::Resolved { .. }),
                ) => {
                    let candidates = r.candidates();
                    // No set is provably ours: deleting one on a guess could destroy another
                    // backup. Let go and say what stays.
                    return Outcome::finished().note(
                        EventType::Warning,
                        reasons::CLOUD_CLEANUP_SKIPPED,
                        "Deleting",
                        format!(
                            "the outcome of CreateBackup was unknown; backup set(s) {} on \
                             instance {instance} may be this object's and were left in the cloud",
                            candidates.join(", ")
                        ),
                    );
                }
                Adoption::Unresolved(wait @ Resolution::WaitForPeers { .. }) => {
                    return hold_intent(w, &wait).or_retry(deleting);
                }
                Adoption::Failed(o) => return o.or_retry(deleting),
            },
            CleanupStep::AwaitTask { job_id } => {
                let task = match describe_task(rds, &instance, &job_id).await {
                    Ok(t) => t,
                    Err(e) => return w.cloud_error(e).or_retry(deleting),
                };
                let now = jiff::Timestamp::now();
                let (_, next) = observe(w, task.as_ref(), now);
                w.status.phase = Some(RdsBackupPhase::Deleting);
                if task.is_none() {
                    // The task is gone from the task list: nothing left to wait for.
                    w.status.cloud_status = Some(TaskState::Finished.as_str().into());
                } else if !task_ended(w.status.cloud_status.as_deref()) {
                    return Outcome::retry(
                        Health::progressing(
                            reasons::WAITING_FOR_TASK_TO_END,
                            format!(
                                "waiting for backup task {job_id} to end before deleting its \
                                 backup set"
                            ),
                        ),
                        Next::wait(
                            reasons::WAITING_FOR_TASK_TO_END,
                            next.unwrap_or(w.timing.wait),
                        ),
                    );
                }
            }
            CleanupStep::DeleteSet { backup_id } => {
                return delete_set(w, rds, &instance, &backup_id)
                    .await
                    .or_retry(deleting);
            }
        }
    }
}

/// Deletes our backup set unless RDS keeps it (`StoreStatus: Disabled`).
async fn delete_set(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    instance: &str,
    backup_id: &str,
) -> Outcome {
    let set = match describe_set(rds, instance, backup_id).await {
        Ok(s) => s,
        Err(e) => return w.cloud_error(e),
    };
    let Some(set) = set else {
        // Already gone.
        return Outcome::finished();
    };
    if set.is_delete_protected() {
        return not_deletable(w, backup_id);
    }
    match rds
        .delete_backup(&DeleteBackupRequest {
            db_instance_id: instance.to_string(),
            backup_ids: vec![backup_id.to_string()],
            ..DeleteBackupRequest::default()
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) if e.code() == Some(INCORRECT_BACKUP_SET_STATE) => {
            return not_deletable(w, backup_id);
        }
        Err(e) => return w.cloud_error(e),
    }
    Outcome::finished().note(
        EventType::Normal,
        reasons::BACKUP_DELETED,
        "Deleting",
        format!("backup set {backup_id} deleted"),
    )
}

fn not_deletable(w: &mut Work<'_>, backup_id: &str) -> Outcome {
    w.status.phase = Some(RdsBackupPhase::Deleting);
    Outcome::retry(
        Health::stalled(
            reasons::BACKUP_NOT_DELETABLE,
            format!(
                "backup set {backup_id} has StoreStatus Disabled: RDS deletes only backup sets \
                 whose StoreStatus is Enabled (sets the instance still needs, or locked ones, are \
                 Disabled). Delete it later in the console, or set the annotation \
                 {ANNOTATION_ORPHAN_ON_DELETE}=\"true\" to delete this object and keep the set"
            ),
        ),
        Next::wait(reasons::BACKUP_NOT_DELETABLE, w.timing.error_max),
    )
}

#[cfg(test)]
mod tests;
