//! Deletion with `deletionPolicy: Delete` (`docs/architecture.md#deletion`): resolve an
//! unresolved intent first (never delete on a guess), wait for a running task to end, then
//! delete the backup set (`NotFound` = done; `StoreStatus: Disabled` → `Stalled`).

use kube::runtime::events::EventType;

use super::describe::{describe_set, describe_task};
use super::intent::{Adoption, hold_intent, try_adopt};
use super::plan::{
    CleanupStep, INCORRECT_BACKUP_SET_STATE, Peers, Resolution, plan_cleanup, reasons, task_ended,
};
use super::track::observe;
use super::{KIND, Work};
use crate::cloud::ErrorClass;
use crate::cloud::api::{DeleteBackupRequest, RdsApi, TaskState};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{ANNOTATION_ORPHAN_ON_DELETE, DeletionPolicy, RdsBackupPhase};

/// Takes the cleanup steps [`plan_cleanup`] picks until one needs to wait or the cleanup is
/// done. `peers` are the fresh claims on the instance (needed only to resolve an intent).
pub(super) async fn act_cleanup(w: &mut Work<'_>, rds: &dyn RdsApi, mut peers: Peers) -> Outcome {
    let instance = w.obj.spec.instance().to_string();
    w.status.phase = Some(RdsBackupPhase::Deleting);
    loop {
        let step = plan_cleanup(false, DeletionPolicy::Delete, &w.status);
        tracing::debug!(kind = KIND, name = %w.name, ?step, "cleanup step");
        let done = match step {
            CleanupStep::LetGo(note) => Some(work::let_go(note)),
            CleanupStep::Finished => Some(Outcome::finished()),
            CleanupStep::ResolveIntent => {
                resolve_before_delete(w, rds, &mut peers, &instance).await
            }
            CleanupStep::AwaitTask { job_id } => await_task(w, rds, &instance, &job_id).await,
            CleanupStep::DeleteSet { backup_id } => Some(
                delete_set(w, rds, &instance, &backup_id)
                    .await
                    .or_retry(deleting(w)),
            ),
        };
        if let Some(outcome) = done {
            return outcome;
        }
    }
}

/// What a cleanup step that did not finish asks for: `Reconciling/Deleting`, look again slowly.
fn deleting(w: &Work<'_>) -> Next {
    Next::wait(reasons::DELETING, w.timing.error_max)
}

/// [`CleanupStep::ResolveIntent`]: what a create whose outcome is unknown made. `None` when our
/// task was found (the next step waits for it); otherwise the outcome that ends the round.
async fn resolve_before_delete(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
    instance: &str,
) -> Option<Outcome> {
    Some(match try_adopt(w, rds, peers).await {
        Adoption::Adopted(_) => {
            w.status.phase = Some(RdsBackupPhase::Deleting);
            return None;
        }
        Adoption::Unresolved(Resolution::NotCreated) => Outcome::finished(),
        Adoption::Unresolved(r @ (Resolution::Unknown { .. } | Resolution::Resolved { .. })) => {
            let candidates = r.candidates();
            // No set is provably ours: deleting one on a guess could destroy another
            // backup. Let go and say what stays.
            Outcome::finished().note(
                EventType::Warning,
                reasons::CLOUD_CLEANUP_SKIPPED,
                "Deleting",
                format!(
                    "the outcome of CreateBackup was unknown; backup set(s) {} on \
                     instance {instance} may be this object's and were left in the cloud",
                    candidates.join(", ")
                ),
            )
        }
        Adoption::Unresolved(wait @ Resolution::WaitForPeers { .. }) => {
            hold_intent(w, &wait).or_retry(deleting(w))
        }
        Adoption::Failed(o) => o.or_retry(deleting(w)),
    })
}

/// [`CleanupStep::AwaitTask`]: `None` once the task ended (or is gone from the task list);
/// otherwise wait for it (its set cannot be deleted before).
async fn await_task(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    instance: &str,
    job_id: &str,
) -> Option<Outcome> {
    let task = match describe_task(rds, instance, job_id).await {
        Ok(t) => t,
        Err(e) => return Some(w.cloud_error(e).or_retry(deleting(w))),
    };
    let now = jiff::Timestamp::now();
    let (_, next) = observe(w, task.as_ref(), now);
    w.status.phase = Some(RdsBackupPhase::Deleting);
    if task.is_none() {
        // The task is gone from the task list: nothing left to wait for.
        w.status.cloud_status = Some(TaskState::Finished.as_str().into());
    } else if !task_ended(w.status.cloud_status.as_deref()) {
        return Some(Outcome::retry(
            Health::progressing(
                reasons::WAITING_FOR_TASK_TO_END,
                format!("waiting for backup task {job_id} to end before deleting its backup set"),
            ),
            Next::wait(
                reasons::WAITING_FOR_TASK_TO_END,
                next.unwrap_or(w.timing.wait),
            ),
        ));
    }
    None
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

/// `Stalled/BackupNotDeletable`: RDS keeps the set (`StoreStatus: Disabled`); the finalizer
/// stays until it can go or the object is orphaned.
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
