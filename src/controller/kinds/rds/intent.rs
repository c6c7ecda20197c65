//! An intent whose outcome is unknown (rule 2 of the exactly-once rules in [`super`]): look
//! for our running task, then for the finished sets that may be ours, and say what the intent
//! comes to ([`Resolution`]); a finished set is adopted only when the evidence names it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Work;
use super::describe::{describe_task, running_tasks};
use super::plan::{
    self, Peers, Resolution, candidate_sets, create_window, describe_backups_start_time,
    outcome_unknown_message, pick_task, reasons, record_backup_set, resolve_intent, validate,
};
use super::track::observe;
use crate::cloud::CloudError;
use crate::cloud::api::{
    BackupMode, DescribeBackupsRequest, RdsApi, RdsBackup as CloudBackupSet, RdsBackupJob,
    TaskState,
};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::RdsBackupPhase;

/// Result of an adoption lookup.
pub(super) enum Adoption {
    /// Our task was found and recorded in status; this outcome reports it.
    Adopted(Outcome),
    /// The search ended without a running task of ours: what the intent comes to.
    Unresolved(Resolution),
    /// A lookup failed (the outcome of the cloud error).
    Failed(Outcome),
}

/// Resolves the tasks other objects hold without a recorded set ([`Peers::open_jobs`]) to the
/// sets they produced, and adds those to the claimed sets. Returns the job ids that could not
/// be resolved (finished, but without a visible `BackupId`, or not listed at all): their sets
/// are unknown, so no unclaimed set can be told apart from theirs.
///
/// Call it *after* listing the sets: a task still running now was running when the sets were
/// listed, so its set cannot be among them; a task that finished in between is resolved here.
pub(super) async fn resolve_peer_jobs(
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
/// and says what the intent comes to. Never adopts a finished set on a guess: only a task id,
/// or evidence that names one set ([`Resolution::Resolved`]), proves ownership.
pub(super) async fn try_adopt(w: &mut Work<'_>, rds: &dyn RdsApi, peers: &mut Peers) -> Adoption {
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
        return Adoption::Adopted(adopt_running(w, task));
    }
    let sets = match finished_sets(rds, &instance, started_at).await {
        Ok(s) => s,
        Err(e) => return Adoption::Failed(w.cloud_error(e)),
    };
    let unresolved_peers = match resolve_peer_jobs(rds, &instance, peers).await {
        Ok(u) => u,
        Err(e) => return Adoption::Failed(w.cloud_error(e)),
    };
    let resolution = resolve(w, &sets, peers, &unresolved_peers, started_at);
    if let Resolution::Resolved { backup_id } = &resolution
        && let Some(set) = sets.iter().find(|s| &s.backup_id == backup_id)
    {
        return Adoption::Adopted(adopt_resolved(w, set, &instance));
    }
    Adoption::Unresolved(resolution)
}

/// [`try_adopt`] where the create goes on: `None` when the earlier attempt made nothing
/// ([`Resolution::NotCreated`]); otherwise the outcome that ends the reconcile (our task or set
/// adopted, a failed lookup, or the intent held: [`hold_intent`]).
pub(super) async fn adopt_or_hold(
    w: &mut Work<'_>,
    rds: &dyn RdsApi,
    peers: &mut Peers,
) -> Option<Outcome> {
    match try_adopt(w, rds, peers).await {
        Adoption::Adopted(o) | Adoption::Failed(o) => Some(o),
        Adoption::Unresolved(Resolution::NotCreated) => None,
        Adoption::Unresolved(other) => Some(hold_intent(w, &other)),
    }
}

/// Records our running task (the oldest unclaimed manual one) and reports it as adopted.
fn adopt_running(w: &mut Work<'_>, task: &RdsBackupJob) -> Outcome {
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
    Outcome::requeue(health, next.unwrap_or(w.timing.resync))
}

/// The finished manual sets of the instance started since a minute before `started_at`
/// (`DescribeBackups`, minute precision).
async fn finished_sets(
    rds: &dyn RdsApi,
    instance: &str,
    started_at: jiff::Timestamp,
) -> std::result::Result<Vec<CloudBackupSet>, CloudError> {
    rds.describe_backups(&DescribeBackupsRequest {
        db_instance_id: instance.to_string(),
        backup_mode: Some(BackupMode::Manual.as_str().into()),
        start_time: Some(describe_backups_start_time(started_at)),
        page_size: Some(100),
        ..DescribeBackupsRequest::default()
    })
    .await
    .map(|r| r.items)
}

/// What the sets found say about the intent recorded at `started_at` ([`resolve_intent`]).
fn resolve(
    w: &Work<'_>,
    sets: &[CloudBackupSet],
    peers: &Peers,
    unresolved_peers: &[String],
    started_at: jiff::Timestamp,
) -> Resolution {
    // The StartTime filter has minute precision; compare exactly here, with a minute of
    // tolerance for clock differences between the operator and the service.
    let not_before = started_at
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(started_at);
    let candidates = candidate_sets(sets, peers, not_before);
    // The parameters the create was sent with (the spec is immutable).
    let request = validate(&w.obj.spec).unwrap_or_default();
    resolve_intent(
        &candidates,
        unresolved_peers,
        create_window(started_at),
        &request,
        peers.auto_resolve && !plan::awaits_person(&w.status),
    )
}

/// Records the set the evidence names ([`Resolution::Resolved`]) as this object's: `Ready`
/// with `CreateOutcomeResolved`, or `Stalled/BackupFailed` when the set is not a successful one.
fn adopt_resolved(w: &mut Work<'_>, set: &CloudBackupSet, instance: &str) -> Outcome {
    let backup_id = &set.backup_id;
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
    Outcome::requeue(health, w.timing.resync)
}

/// The outcome of an intent that cannot be resolved now (`WaitForPeers`: progressing, look
/// again soon; `Unknown`: `Stalled/CreateOutcomeUnknown`, look again slowly). The intent stays.
pub(super) fn hold_intent(w: &mut Work<'_>, resolution: &Resolution) -> Outcome {
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
            w.stall(reasons::CREATE_OUTCOME_UNKNOWN, message)
        }
        Resolution::NotCreated => Outcome::fields(Next::After(w.timing.poll_initial)),
    }
}
