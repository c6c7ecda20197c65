//! Adoption of a task or set a person names (`docs/architecture.md#adoption-by-spec`): the
//! `adopt-backup-id` annotation on an unresolved intent, and `spec.backupJobId`/`spec.backupId`.
//! Nothing is recorded for an id another object holds or the cloud does not know.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Work;
use super::create::Claims;
use super::describe::{describe_set, describe_task};
use super::intent::{hold_intent, resolve_peer_jobs};
use super::plan::{
    AdoptId, Peers, Resolution, Step, reasons, record_adopted_set, record_backup_set,
};
use super::track::settle_task;
use crate::cloud::api::{RdsApi, RdsBackup as CloudBackupSet, TaskState};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::ANNOTATION_ADOPT_BACKUP_ID;

/// What the lookup of a backup set named for adoption comes to ([`find_named_set`]).
enum NamedSet {
    /// The set, on the instance and claimed by no other object: it may be adopted.
    Found(Box<CloudBackupSet>),
    /// Another object holds it, or a task another object holds produced it.
    Claimed,
    /// Tasks of other objects whose sets are not known yet: the set may be theirs.
    WaitForPeers(Vec<String>),
    /// The instance has no such set.
    NotFound,
    /// A lookup failed (the outcome of the cloud error).
    Failed(Outcome),
}

/// Looks up the set `backup_id` for adoption: first the sets the tasks of other objects
/// produced (they are claimed too), then the set itself.
async fn find_named_set(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    instance: &str,
    peers: &mut Peers,
    backup_id: &str,
) -> NamedSet {
    let unresolved = match resolve_peer_jobs(rds, instance, peers).await {
        Ok(u) => u,
        Err(e) => return NamedSet::Failed(w.cloud_error(e)),
    };
    if peers.claimed_backups.contains(backup_id) {
        return NamedSet::Claimed;
    }
    if !unresolved.is_empty() {
        return NamedSet::WaitForPeers(unresolved);
    }
    match describe_set(rds, instance, backup_id).await {
        Ok(Some(set)) => NamedSet::Found(Box::new(set)),
        Ok(None) => NamedSet::NotFound,
        Err(e) => NamedSet::Failed(w.cloud_error(e)),
    }
}

/// Adopts the backup set named by the `adopt-backup-id` annotation: it must exist on the
/// instance and must not be held by another object (or be the product of a task another
/// object holds).
pub(super) async fn adopt_named(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
    backup_id: &str,
) -> Outcome {
    let instance = w.obj.spec.instance().to_string();
    let set = match find_named_set(w, rds, &instance, peers, backup_id).await {
        NamedSet::Found(set) => *set,
        NamedSet::Failed(o) => return o,
        NamedSet::Claimed => {
            return w.stall(
                reasons::ADOPTION_REFUSED,
                format!(
                    "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} belongs to \
                     another RdsBackup on instance {instance}; name a set no other object holds"
                ),
            );
        }
        NamedSet::WaitForPeers(jobs) => {
            return hold_intent(w, &Resolution::WaitForPeers { jobs });
        }
        NamedSet::NotFound => {
            return w.stall(
                reasons::BACKUP_SET_NOT_FOUND,
                format!(
                    "backup set {backup_id} named by {ANNOTATION_ADOPT_BACKUP_ID} does not exist \
                     on instance {instance}; correct the annotation"
                ),
            );
        }
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

/// Takes over the task or set the spec names (`backupJobId`/`backupId`) after the fresh reads
/// ([`load_claims`](super::create::load_claims)): refused when another object holds it,
/// `Stalled` when the cloud does not know it; otherwise recorded (no cloud write) and tracked
/// like a task the operator created.
pub(super) async fn adopt_existing(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    claims: Claims,
) -> Result<Outcome> {
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
        return Ok(w.refuse_adoption(&id.named(), "backup", &holder));
    }
    match &id {
        AdoptId::Task(job_id) => adopt_task(w, rds, job_id).await,
        AdoptId::Set(backup_id) => Ok(adopt_set(w, rds, &mut peers, backup_id).await),
    }
}

/// `spec.backupJobId`: the task, recorded and tracked like a task of ours from here (no
/// deadline for an adopted task).
async fn adopt_task(w: &mut Work<'_>, rds: &dyn RdsApi, job_id: &str) -> Result<Outcome> {
    let instance = w.obj.spec.instance().to_string();
    let task = match describe_task(rds, &instance, job_id).await {
        Ok(t) => t,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    if task.is_none() {
        return Ok(w.stall(
            reasons::TASK_NOT_FOUND,
            format!(
                "backup task {job_id} named by spec.backupJobId does not exist on instance \
                 {instance} (DescribeBackupTasks); nothing was recorded. Create a new RdsBackup \
                 with the right id"
            ),
        ));
    }
    w.status.backup_job_id = Some(job_id.to_string());
    w.status.start_time = Some(Time(jiff::Timestamp::now()));
    settle_task(w, rds, job_id, task, None).await
}

/// `spec.backupId`: the set, recorded ([`record_adopted_set`]). A set that a task another
/// object holds produced is theirs, even before they recorded it.
async fn adopt_set(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
    backup_id: &str,
) -> Outcome {
    let instance = w.obj.spec.instance().to_string();
    let set = match find_named_set(w, rds, &instance, peers, backup_id).await {
        NamedSet::Found(set) => *set,
        NamedSet::Failed(o) => return o,
        NamedSet::Claimed => {
            return w.stall(
                reasons::ADOPTION_REFUSED,
                format!(
                    "backup set {backup_id} named by spec.backupId was produced by a backup task \
                     another RdsBackup on instance {instance} holds; nothing was recorded"
                ),
            );
        }
        NamedSet::WaitForPeers(unresolved) => {
            return Outcome::requeue(
                Health::progressing(
                    reasons::WAITING_FOR_INSTANCE,
                    format!(
                        "waiting until the backup task(s) {} of other RdsBackups on instance \
                         {instance} show their backup sets before adopting {backup_id}",
                        unresolved.join(", ")
                    ),
                ),
                w.timing.wait,
            );
        }
        NamedSet::NotFound => {
            return w.stall(
                reasons::BACKUP_SET_NOT_FOUND,
                format!(
                    "backup set {backup_id} named by spec.backupId does not exist on instance \
                     {instance} (DescribeBackups); nothing was recorded. Create a new RdsBackup \
                     with the right id"
                ),
            );
        }
    };
    let health = record_adopted_set(&mut w.status, &set, jiff::Timestamp::now());
    Outcome::requeue(health, w.timing.resync)
}
