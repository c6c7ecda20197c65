//! The create critical section (`docs/architecture.md#rdsbackup`; rules 1, 3 and 4 of the
//! exactly-once rules in [`super`]): under the per-instance lock, the fresh claims, then adopt
//! what an earlier attempt made or record the intent (a checkpoint: durable before the call)
//! and send `CreateBackup`, the one mutating call.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::Work;
use super::adopt::adopt_named;
use super::intent::adopt_or_hold;
use super::plan::{
    self, BACKUP_JOB_EXISTS, Peers, Step, adoption_holder, create_not_executed, peers, reasons,
    same_instance,
};
use super::track::settle_task;
use crate::cloud::CloudError;
use crate::cloud::api::{CreateBackupRequest, RdsApi, TaskState};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::policy;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{RdsBackupPhase, adopt_backup_id};

/// What the create critical section reads fresh, under the per-instance lock.
pub(super) struct Claims {
    /// The claims of the other objects on the instance.
    pub(super) peers: Peers,
    /// The step planned from our own fresh status.
    pub(super) step: Step,
    /// The `adopt-backup-id` annotation.
    pub(super) adopt: Option<String>,
    /// For [`Step::AdoptExisting`]: the other object that holds the id to adopt, if any.
    pub(super) holder: Option<adoption::Claim>,
}

/// Fresh reads under the lock: our own status (the cache can lag behind our last write, so
/// `w` is rebased on it) and the claims of the other objects on the instance. `None` when the
/// object was deleted meanwhile.
pub(super) async fn load_claims(w: &mut Work<'_>, ctx: &Context) -> Result<Option<Claims>> {
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

/// The create critical section after the fresh reads ([`load_claims`]): adopt what an earlier
/// attempt made, or record the intent (a checkpoint: durable before the call) and create.
pub(super) async fn create_or_adopt(
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
    let before = if had_intent {
        renew_intent(w, rds, &mut peers).await?
    } else {
        record_intent(w, &peers).await?
    };
    if let Some(outcome) = before {
        return Ok(outcome);
    }
    send_create(w, rds, request, &mut peers, had_intent).await
}

/// Rule 2 before a create again: an intent whose outcome was unknown is resolved first (adopt,
/// or hold the intent); only when nothing of the earlier attempt is found is the intent's time
/// renewed (durably) and `None` returned: create.
async fn renew_intent(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
) -> Result<Option<Outcome>> {
    if let Some(outcome) = adopt_or_hold(w, rds, peers).await {
        return Ok(Some(outcome));
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
    commit_creating(w).await?;
    Ok(None)
}

/// Rules 1 and 3: wait while another object on the instance holds an unresolved intent;
/// otherwise record ours (durable before the call) and return `None`: create.
async fn record_intent(w: &mut Work<'_>, peers: &Peers) -> Result<Option<Outcome>> {
    if let Some(other) = &peers.unresolved {
        w.status.phase = Some(RdsBackupPhase::Pending);
        return Ok(Some(Outcome::retry(
            Health::progressing(
                reasons::WAITING_FOR_INSTANCE,
                format!(
                    "waiting: RdsBackup {other} is creating a backup on instance {}",
                    w.obj.spec.instance()
                ),
            ),
            Next::wait(reasons::WAITING_FOR_INSTANCE, w.timing.wait),
        )));
    }
    // 1. Intent first: durable before the call.
    w.status.pending_create = Some(kind::new_intent(w.obj)?);
    w.status.phase = Some(RdsBackupPhase::Creating);
    commit_creating(w).await?;
    Ok(None)
}

/// The checkpoint before `CreateBackup`: the intent, durable (`Reconciling/Creating`).
async fn commit_creating(w: &mut Work<'_>) -> Result<()> {
    w.commit(&Health::progressing(
        reasons::CREATING,
        format!("creating a backup of instance {}", w.obj.spec.instance()),
    ))
    .await
}

/// 2. The one mutating call, and what its answer comes to.
async fn send_create(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    request: &CreateBackupRequest,
    peers: &mut Peers,
    had_intent: bool,
) -> Result<Outcome> {
    Ok(match rds.create_backup(request).await {
        Ok(resp) if !resp.backup_job_id.is_empty() => created(w, rds, resp.backup_job_id).await,
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
            job_exists(w, rds, peers, had_intent, &e).await
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
    })
}

/// `CreateBackup` answered with `job_id`: recorded (the intent is resolved in the same write),
/// with one look at once: a task that ended already (a small instance) is recorded with the
/// create, in one status write and one event. Any doubt records the task as created and polls
/// it.
async fn created(w: &mut Work<'_>, rds: &dyn RdsApi, job_id: String) -> Outcome {
    let now = jiff::Timestamp::now();
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

/// Rule 4: `BackupJobExists` proves our call did not run; another backup is running on the
/// instance. On an intent whose outcome was unknown, one more adoption lookup comes first (our
/// earlier call may just have become visible). Otherwise the intent is cleared and the object
/// waits with backoff.
async fn job_exists(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
    had_intent: bool,
    e: &CloudError,
) -> Outcome {
    if had_intent && let Some(outcome) = adopt_or_hold(w, rds, peers).await {
        // Our earlier call may have become visible just now.
        return outcome;
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
