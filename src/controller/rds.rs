//! The `RdsBackup` controller: one manual ApsaraDB RDS backup, created exactly once, tracked to
//! its end, and cleaned up per `deletionPolicy`.
//!
//! Reconcile is `load → validate → plan → act → status` (DESIGN §4):
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
//! # Exactly once (DESIGN §6)
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

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::backoff::poll_interval;
use super::conditions::Health;
use super::context::Context;
use super::credentials::{self, CredentialsProblem};
use super::error::{Error, Result};
use super::runtime::{self, ManagedResource};
use super::work::{self};
use crate::cloud::api::{
    CreateBackupRequest, DeleteBackupRequest, DescribeBackupTasksRequest, DescribeBackupsRequest,
    RdsApi, RdsBackup as CloudBackupSet, RdsBackupJob,
};
use crate::cloud::{CloudError, ErrorClass, Target};
use crate::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, DeletionPolicy, PendingCreate, RdsBackup, RdsBackupMethod,
    RdsBackupPhase, RdsBackupSet, RdsBackupSpec, RdsBackupStatus, RdsBackupStrategy,
    adopt_backup_id, create_token, orphan_on_delete,
};

/// Kind name used in metrics and logs.
pub const KIND: &str = "RdsBackup";

/// `BackupStatus` of a task that finished successfully.
pub const TASK_FINISHED: &str = "Finished";
/// `BackupStatus` of a task that failed.
pub const TASK_FAILED: &str = "Failed";
/// Error code of `CreateBackup` when a backup already runs on the instance.
pub const BACKUP_JOB_EXISTS: &str = "BackupJobExists";
/// Error code of `DeleteBackup` for a set whose `StoreStatus` is `Disabled`.
pub const INCORRECT_BACKUP_SET_STATE: &str = "IncorrectBackupSetState";

/// Condition reasons (stable PascalCase; also event reasons).
pub mod reasons {
    /// Spec rejected by `validate`.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Intent recorded; `CreateBackup` is being sent.
    pub const CREATING: &str = "Creating";
    /// `CreateBackup` returned a job id.
    pub const BACKUP_CREATED: &str = "BackupCreated";
    /// An unknown-outcome create was resolved by finding our task.
    pub const BACKUP_ADOPTED: &str = "BackupAdopted";
    /// The task runs.
    pub const BACKUP_RUNNING: &str = "BackupRunning";
    /// The task finished; the backup set is not visible in `DescribeBackups` yet.
    pub const WAITING_FOR_BACKUP_SET: &str = "WaitingForBackupSet";
    /// The task is not (or no longer) visible in `DescribeBackupTasks`.
    pub const TASK_NOT_FOUND: &str = "BackupTaskNotFound";
    /// Done.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// The task failed in the cloud.
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// Another backup runs on the instance (`BackupJobExists`).
    pub const WAITING_FOR_RUNNING_BACKUP: &str = "WaitingForRunningBackup";
    /// Another object on the instance has an unresolved create.
    pub const WAITING_FOR_INSTANCE: &str = "WaitingForInstance";
    /// The object is being deleted; cleanup in progress.
    pub const DELETING: &str = "Deleting";
    /// Deletion waits for the running task to end.
    pub const WAITING_FOR_TASK_TO_END: &str = "WaitingForTaskToEnd";
    /// The backup set cannot be deleted (`StoreStatus: Disabled`).
    pub const BACKUP_NOT_DELETABLE: &str = "BackupNotDeletable";
    /// The backup set was deleted.
    pub const BACKUP_DELETED: &str = "BackupDeleted";
    /// Deletion let the object go without touching the cloud.
    pub const CLOUD_CLEANUP_SKIPPED: &str = "CloudCleanupSkipped";
    /// A create's outcome cannot be proven (see [`super::outcome_unknown_message`]).
    pub const CREATE_OUTCOME_UNKNOWN: &str = "CreateOutcomeUnknown";
    /// The set named by the adopt annotation is held by another object.
    pub const ADOPTION_REFUSED: &str = "AdoptionRefused";
    /// The set named by the adopt annotation does not exist.
    pub const BACKUP_SET_NOT_FOUND: &str = "BackupSetNotFound";
    /// `CreateBackup` was refused for good (the spec can never work): phase `Failed`.
    pub const CREATE_REFUSED: &str = super::work::reasons::CREATE_REFUSED;
}

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
}

/// The `RdsBackup` controller futures (one per watched namespace).
pub fn controllers(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
) -> Vec<BoxFuture<'static, ()>> {
    runtime::controllers::<RdsBackup, _, _>(ctx, concurrency, shutdown, reconcile)
}

// ---------------------------------------------------------------------------------------------
// validate (pure)
// ---------------------------------------------------------------------------------------------

/// Checks what the CRD schema cannot (or what a server without CEL lets through) and builds the
/// `CreateBackup` request. The error is a message saying what to change.
pub fn validate(spec: &RdsBackupSpec) -> Result<CreateBackupRequest, String> {
    if spec.db_instance_id.trim().is_empty() {
        return Err("spec.dbInstanceId must not be empty".into());
    }
    if spec.region.trim().is_empty() {
        return Err("spec.region must not be empty".into());
    }
    let is_db = spec.backup_strategy == Some(RdsBackupStrategy::Db);
    if !spec.db_names.is_empty() && !is_db {
        return Err("spec.dbNames needs spec.backupStrategy: db".into());
    }
    if is_db && spec.db_names.is_empty() {
        return Err("spec.backupStrategy db needs at least one entry in spec.dbNames".into());
    }
    if let Some(bad) = spec
        .db_names
        .iter()
        .find(|n| n.trim().is_empty() || n.contains(',') || n.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "spec.dbNames entry {bad:?} is invalid: names must be non-empty, without commas or spaces"
        ));
    }
    if spec.backup_type.is_some() && spec.backup_method != RdsBackupMethod::Physical {
        return Err("spec.backupType applies only to backupMethod Physical".into());
    }
    if let Some(r) = spec.backup_retention_period
        && r != -1
        && !(7..=730).contains(&r)
    {
        return Err(format!(
            "spec.backupRetentionPeriod {r} is invalid: use -1 (keep until deleted) or 7 to 730 days"
        ));
    }
    Ok(CreateBackupRequest {
        db_instance_id: spec.db_instance_id.trim().to_string(),
        db_names: spec.db_names.clone(),
        backup_strategy: spec.backup_strategy.map(|s| s.as_str().to_string()),
        backup_method: Some(spec.backup_method.as_str().to_string()),
        backup_type: spec.backup_type.map(|t| t.as_str().to_string()),
        backup_retention_period: spec.backup_retention_period.map(i64::from),
        ..CreateBackupRequest::default()
    })
}

// ---------------------------------------------------------------------------------------------
// plan (pure)
// ---------------------------------------------------------------------------------------------

/// The one next step of an `RdsBackup` that is not being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing was sent yet: record the intent, then `CreateBackup`.
    Create,
    /// An intent is recorded but its outcome is unknown: look for our task, adopt it, or
    /// create again if there is none.
    Adopt,
    /// Poll the task until it ends.
    Track {
        /// `BackupJobId`.
        job_id: String,
    },
    /// The task finished; fetch the backup set details (`DescribeBackups` can lag).
    FetchBackupSet {
        /// `BackupId`.
        backup_id: String,
    },
    /// Terminal: nothing to do.
    Done,
}

/// Whether a raw task status is final.
pub fn task_ended(status: Option<&str>) -> bool {
    matches!(status, Some(TASK_FINISHED) | Some(TASK_FAILED))
}

/// Chooses the next step from the status alone.
pub fn plan(status: Option<&RdsBackupStatus>) -> Step {
    let Some(s) = status else {
        return Step::Create;
    };
    match s.phase {
        Some(RdsBackupPhase::Failed) => return Step::Done,
        Some(RdsBackupPhase::Succeeded) if s.backup_set.is_some() => return Step::Done,
        _ => {}
    }
    if let Some(backup_id) = &s.backup_id
        && (s.backup_job_id.is_none() || s.cloud_status.as_deref() == Some(TASK_FINISHED))
    {
        return Step::FetchBackupSet {
            backup_id: backup_id.clone(),
        };
    }
    if let Some(job_id) = &s.backup_job_id {
        return Step::Track {
            job_id: job_id.clone(),
        };
    }
    if s.pending_create.is_some() {
        return Step::Adopt;
    }
    Step::Create
}

// ---------------------------------------------------------------------------------------------
// peers and adoption (pure)
// ---------------------------------------------------------------------------------------------

/// What the other `RdsBackup`s on the same instance hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers {
    /// `backupJobId`s recorded by other objects.
    pub claimed_jobs: HashSet<String>,
    /// `backupId`s recorded by other objects, plus the sets their recorded tasks produced
    /// (added by the adoption lookup once resolved, see [`Peers::open_jobs`]).
    pub claimed_backups: HashSet<String>,
    /// Another object (`namespace/name`) with an unresolved create intent, if any.
    pub unresolved: Option<String>,
    /// Tasks other objects hold whose backup set they have not recorded yet (job id, sorted).
    /// Their sets are claimed too, but nobody knows their `BackupId` until the task is
    /// resolved with `DescribeBackupTasks(BackupJobId)`.
    pub open_jobs: Vec<String>,
}

/// Whether `other` targets the same instance as `spec`.
fn same_instance(spec: &RdsBackupSpec, other: &RdsBackupSpec) -> bool {
    spec.region == other.region && spec.db_instance_id.trim() == other.db_instance_id.trim()
}

/// Claims and unresolved intents of the objects other than `me_uid` on the instance of `spec`.
pub fn peers(me_uid: &str, spec: &RdsBackupSpec, all: &[RdsBackup]) -> Peers {
    let mut p = Peers::default();
    for o in all {
        if o.metadata.uid.as_deref() == Some(me_uid) || !same_instance(spec, &o.spec) {
            continue;
        }
        let Some(s) = o.status.as_ref() else {
            continue;
        };
        if let Some(j) = &s.backup_job_id {
            p.claimed_jobs.insert(j.clone());
            if s.backup_id.is_none()
                && s.phase != Some(RdsBackupPhase::Failed)
                && s.cloud_status.as_deref() != Some(TASK_FAILED)
            {
                p.open_jobs.push(j.clone());
            }
        }
        if let Some(b) = &s.backup_id {
            p.claimed_backups.insert(b.clone());
        }
        if s.pending_create.is_some()
            && s.backup_job_id.is_none()
            && s.backup_id.is_none()
            && p.unresolved.is_none()
        {
            p.unresolved = Some(format!(
                "{}/{}",
                o.namespace().unwrap_or_default(),
                o.name_any()
            ));
        }
    }
    p.open_jobs.sort();
    p.open_jobs.dedup();
    p
}

/// The running manual task to adopt: the oldest unclaimed one (by numeric job id). RDS runs
/// one backup at a time per instance, so there is at most one in practice.
pub fn pick_task<'a>(tasks: &'a [RdsBackupJob], peers: &Peers) -> Option<&'a RdsBackupJob> {
    tasks
        .iter()
        .filter(|t| t.job_mode.as_deref().is_none_or(|m| m == "Manual"))
        .filter(|t| !t.backup_job_id.is_empty() && !peers.claimed_jobs.contains(&t.backup_job_id))
        .min_by_key(|t| {
            (
                t.backup_job_id.parse::<u64>().unwrap_or(u64::MAX),
                t.backup_job_id.clone(),
            )
        })
}

/// The finished manual backup sets that may be the product of our unrecorded create: not
/// claimed by another object, started at or after `not_before`; oldest first.
pub fn candidate_sets<'a>(
    sets: &'a [CloudBackupSet],
    peers: &Peers,
    not_before: jiff::Timestamp,
) -> Vec<&'a CloudBackupSet> {
    let mut out: Vec<&CloudBackupSet> = sets
        .iter()
        .filter(|b| b.backup_mode.as_deref().is_none_or(|m| m == "Manual"))
        .filter(|b| !b.backup_id.is_empty() && !peers.claimed_backups.contains(&b.backup_id))
        .filter(|b| {
            b.backup_start_time
                .as_deref()
                .and_then(parse_time)
                .is_none_or(|t| t.0 >= not_before)
        })
        .collect();
    out.sort_by_key(|b| {
        (
            b.backup_start_time
                .as_deref()
                .and_then(parse_time)
                .map(|t| t.0),
            b.backup_id.clone(),
        )
    });
    out
}

/// What an unresolved create intent comes to once the cloud has been searched (no unclaimed
/// running task was found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No task and no backup set can be ours: the create did not run. Create (again).
    NotCreated,
    /// Other objects' tasks could not be resolved to their sets yet, so unclaimed sets may be
    /// theirs: wait and look again.
    WaitForPeers {
        /// The unresolved job ids.
        jobs: Vec<String>,
    },
    /// Finished sets exist that may be ours, but nothing proves it (the task that made them is
    /// not known): `Stalled/CreateOutcomeUnknown` until a human decides.
    Unknown {
        /// `BackupId`s of the candidate sets, oldest first.
        candidates: Vec<String>,
    },
}

/// Decides an unresolved intent after the search (pure). A set is never adopted on a guess:
/// without our task's id the operator cannot prove a set is ours.
pub fn resolve_intent(
    candidates: &[&CloudBackupSet],
    unresolved_peer_jobs: &[String],
) -> Resolution {
    if candidates.is_empty() {
        Resolution::NotCreated
    } else if !unresolved_peer_jobs.is_empty() {
        Resolution::WaitForPeers {
            jobs: unresolved_peer_jobs.to_vec(),
        }
    } else {
        Resolution::Unknown {
            candidates: candidates.iter().map(|b| b.backup_id.clone()).collect(),
        }
    }
}

/// The message of `Stalled/CreateOutcomeUnknown`.
pub fn outcome_unknown_message(instance: &str, started_at: &Time, candidates: &[String]) -> String {
    format!(
        "the outcome of CreateBackup on instance {instance} (sent at {}) is unknown: its answer was \
         lost or the operator stopped before recording it, and its task is no longer running. \
         Unclaimed manual backup set(s) started since then: {}. The operator cannot prove which \
         is this object's, so it neither adopts one nor creates another (other RdsBackups on the \
         instance wait too). Check the set(s) in the RDS console (DescribeBackups); to adopt one, \
         annotate this object with {ANNOTATION_ADOPT_BACKUP_ID}=<BackupId>; if none is this \
         object's, delete this RdsBackup and create a new one",
        started_at.0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        candidates.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// observation → status (pure)
// ---------------------------------------------------------------------------------------------

/// Parses an Alibaba timestamp (`2024-01-01T00:00:00Z`, also without seconds).
pub fn parse_time(s: &str) -> Option<Time> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(Time(t));
    }
    // `yyyy-MM-ddTHH:mmZ`
    let with_secs = s.strip_suffix('Z').map(|p| format!("{p}:00Z"))?;
    with_secs.parse::<jiff::Timestamp>().ok().map(Time)
}

/// The `StartTime` parameter of `DescribeBackups` for adoption: one minute before `t`,
/// truncated to the minute (`yyyy-MM-ddTHH:mmZ`, UTC).
pub fn describe_backups_start_time(t: jiff::Timestamp) -> String {
    let earlier = t
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(t);
    earlier.strftime("%Y-%m-%dT%H:%MZ").to_string()
}

/// Records an observation of the tracked task in `status`; returns the resulting health and
/// when to look again (`None` = terminal, `Some(0)` = fetch the backup set now).
pub fn observe_task(
    status: &mut RdsBackupStatus,
    task: Option<&RdsBackupJob>,
    now: jiff::Timestamp,
    timing: &super::Timing,
) -> (Health, Option<Duration>) {
    let Some(task) = task else {
        return (
            Health::progressing(
                reasons::TASK_NOT_FOUND,
                format!(
                    "backup task {} is not visible in DescribeBackupTasks; retrying",
                    status.backup_job_id.as_deref().unwrap_or_default()
                ),
            ),
            Some(timing.wait),
        );
    };
    status.cloud_status.clone_from(&task.backup_status);
    status
        .cloud_progress_status
        .clone_from(&task.backup_progress_status);
    if let Some(p) = task.process {
        status.progress = Some(i32::try_from(p.clamp(0, 100)).unwrap_or(0));
    }
    match task.backup_status.as_deref() {
        Some(TASK_FINISHED) => {
            status.progress = Some(100);
            status.phase = Some(RdsBackupPhase::Running);
            match task.backup_id.clone().filter(|b| !b.is_empty()) {
                Some(b) => {
                    status.backup_id = Some(b.clone());
                    (
                        Health::progressing(
                            reasons::WAITING_FOR_BACKUP_SET,
                            format!("task finished; waiting for backup set {b} in DescribeBackups"),
                        ),
                        Some(Duration::ZERO),
                    )
                }
                None => (
                    Health::progressing(
                        reasons::WAITING_FOR_BACKUP_SET,
                        "task finished; waiting for its BackupId",
                    ),
                    Some(timing.wait),
                ),
            }
        }
        Some(TASK_FAILED) => {
            status.phase = Some(RdsBackupPhase::Failed);
            status.pending_create = None;
            status.completion_time.get_or_insert(Time(now));
            (
                Health::stalled(
                    reasons::BACKUP_FAILED,
                    format!(
                        "backup task {} failed in RDS; create a new RdsBackup to retry",
                        task.backup_job_id
                    ),
                ),
                None,
            )
        }
        other => {
            status.phase = Some(RdsBackupPhase::Running);
            let started = status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
            let elapsed = now.duration_since(started).unsigned_abs();
            (
                Health::progressing(
                    reasons::BACKUP_RUNNING,
                    format!(
                        "backup task {} is {} ({}%)",
                        task.backup_job_id,
                        other.unwrap_or("NoStart"),
                        status.progress.unwrap_or(0)
                    ),
                ),
                Some(poll_interval(elapsed, timing)),
            )
        }
    }
}

/// Records the backup set in `status` and marks the backup `Succeeded`.
pub fn record_backup_set(
    status: &mut RdsBackupStatus,
    set: &CloudBackupSet,
    now: jiff::Timestamp,
) -> Health {
    let details = RdsBackupSet {
        backup_id: Some(set.backup_id.clone()),
        status: set.backup_status.clone(),
        store_status: set.store_status.clone(),
        meta_status: set.meta_status.clone(),
        backup_method: set.backup_method.clone(),
        backup_type: set.backup_type.clone(),
        backup_mode: set.backup_mode.clone(),
        start_time: set.backup_start_time.as_deref().and_then(parse_time),
        end_time: set.backup_end_time.as_deref().and_then(parse_time),
        consistent_time: set
            .consistent_time
            .filter(|t| *t > 0)
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(Time),
        size_bytes: set.backup_size,
    };
    status.backup_id = Some(set.backup_id.clone());
    status.size_bytes = set.backup_size;
    status.progress = Some(100);
    if status.completion_time.is_none() {
        status.completion_time = Some(details.end_time.clone().unwrap_or(Time(now)));
    }
    status.backup_set = Some(details);
    status.phase = Some(RdsBackupPhase::Succeeded);
    status.pending_create = None;
    Health::ready(
        reasons::BACKUP_SUCCEEDED,
        format!("backup set {} is available", set.backup_id),
    )
}

/// The health that matches a status in a terminal phase.
pub fn terminal_health(status: &RdsBackupStatus) -> Option<Health> {
    match status.phase {
        Some(RdsBackupPhase::Succeeded) => Some(Health::ready(
            reasons::BACKUP_SUCCEEDED,
            format!(
                "backup set {} is available",
                status.backup_id.as_deref().unwrap_or_default()
            ),
        )),
        Some(RdsBackupPhase::Failed) => Some(Health::stalled(
            reasons::BACKUP_FAILED,
            format!(
                "backup task {} failed in RDS; create a new RdsBackup to retry",
                status.backup_job_id.as_deref().unwrap_or_default()
            ),
        )),
        _ => None,
    }
}

pub use super::work::cloud_error_message;

/// Whether a `CreateBackup` error proves the call did not take effect.
pub fn create_not_executed(e: &CloudError) -> bool {
    // An RDS error response with a code and a 4xx status is a refusal: the gateway and the
    // service answer it before doing anything. 5xx, timeouts and lost connections are unknown.
    let refused = e.code().is_some() && e.http_status.is_some_and(|s| (400..500).contains(&s));
    refused || e.proves_not_executed()
}

// ---------------------------------------------------------------------------------------------
// reconcile (I/O)
// ---------------------------------------------------------------------------------------------

async fn reconcile(obj: Arc<RdsBackup>, ctx: Arc<Context>) -> Result<Action> {
    runtime::reconcile_with_finalizer(obj, ctx, apply, cleanup).await
}

type Work<'a> = work::Work<'a, RdsBackup>;

async fn target(obj: &RdsBackup, ctx: &Context) -> Result<Result<Target, CredentialsProblem>> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let creds = credentials::resolve(&ctx.client, &ns, obj.credentials_secret()).await?;
    Ok(creds.map(|credentials| Target {
        region: obj.spec.region.clone(),
        credentials,
    }))
}

async fn apply(obj: Arc<RdsBackup>, ctx: &Context, api: &Api<RdsBackup>) -> Result<Action> {
    let mut w = Work::new(&obj, ctx, api);
    let step = plan(w.current.as_ref());
    if step == Step::Done {
        if let Some(h) = terminal_health(&w.status) {
            w.commit(&h).await?;
        }
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync));
    }
    if step == Step::Create
        && let Err(message) = validate(&obj.spec)
    {
        w.commit(&Health::stalled(reasons::INVALID_SPEC, message))
            .await?;
        return Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync));
    }
    let target = match target(&obj, ctx).await? {
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
        Step::Create | Step::Adopt => create_or_adopt(&mut w, rds.as_ref()).await,
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
        backup_mode: Some("Manual".into()),
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
    let instance = w.obj.spec.db_instance_id.trim().to_string();
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
            backup_mode: Some("Manual".into()),
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
            let message =
                outcome_unknown_message(w.obj.spec.db_instance_id.trim(), &started, candidates);
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
    let instance = w.obj.spec.db_instance_id.trim().to_string();
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

async fn create_or_adopt(w: &mut Work<'_>, rds: &dyn RdsApi) -> Result<Action> {
    let ctx = w.ctx;
    let request = match validate(&w.obj.spec) {
        Ok(r) => r,
        Err(message) => {
            w.commit(&Health::stalled(reasons::INVALID_SPEC, message))
                .await?;
            return Ok(runtime::requeue(ctx, w.obj, ctx.timing.resync));
        }
    };
    let lock_key = format!(
        "rds/{}/{}",
        w.obj.spec.region,
        w.obj.spec.db_instance_id.trim()
    );
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
    let step = plan(w.current.as_ref());
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
            return Err(Error::Wait {
                reason: reasons::WAITING_FOR_INSTANCE,
                after: Some(ctx.timing.wait),
            });
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
    match rds.create_backup(&request).await {
        Ok(resp) if !resp.backup_job_id.is_empty() => {
            let now = jiff::Timestamp::now();
            w.status.backup_job_id = Some(resp.backup_job_id.clone());
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Running);
            w.status.start_time = Some(Time(now));
            w.status.cloud_status = Some("NoStart".into());
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
            Err(Error::Wait {
                reason: reasons::CREATING,
                after: None,
            })
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
            Err(Error::Wait {
                reason: reasons::WAITING_FOR_RUNNING_BACKUP,
                after: None,
            })
        }
        Err(e) if work::create_refused_for_good(&e) => {
            // The spec is immutable: this object can never succeed.
            w.status.pending_create = None;
            w.status.phase = Some(RdsBackupPhase::Failed);
            w.status
                .completion_time
                .get_or_insert(Time(jiff::Timestamp::now()));
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
            db_instance_id: w.obj.spec.db_instance_id.trim().to_string(),
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
            db_instance_id: w.obj.spec.db_instance_id.trim().to_string(),
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
    Error::Wait {
        reason: reasons::DELETING,
        after: Some(ctx.timing.error_max),
    }
}

async fn cleanup(obj: Arc<RdsBackup>, ctx: &Context, api: &Api<RdsBackup>) -> Result<Action> {
    if orphan_on_delete(obj.metadata.annotations.as_ref()) {
        ctx.events
            .normal(
                &obj.object_ref(&()),
                reasons::CLOUD_CLEANUP_SKIPPED,
                "Deleting",
                "orphan-on-delete annotation set: the backup is left in the cloud".into(),
            )
            .await;
        return Ok(Action::await_change());
    }
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.events
            .normal(
                &obj.object_ref(&()),
                reasons::CLOUD_CLEANUP_SKIPPED,
                "Deleting",
                "deletionPolicy Retain: the backup set is kept in the cloud".into(),
            )
            .await;
        return Ok(Action::await_change());
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
    let target = match target(&obj, ctx).await? {
        Ok(t) => t,
        Err(problem) => {
            w.commit(&Health::stalled(
                problem.reason(),
                format!(
                    "{problem}; cannot delete the backup set. Fix the Secret, or set the annotation \
                     backup.aliyun.dev/orphan-on-delete=\"true\" to delete the object without cloud cleanup"
                ),
            ))
            .await?;
            return Err(Error::Wait {
                reason: problem.reason(),
                after: Some(ctx.timing.error_max),
            });
        }
    };
    let rds = ctx.cloud.rds(&target);
    let instance = obj.spec.db_instance_id.trim().to_string();

    if unresolved {
        // A create may have run: find it before deciding there is nothing to delete.
        let lock_key = format!("rds/{}/{}", obj.spec.region, instance);
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
            return Err(Error::Wait {
                reason: reasons::WAITING_FOR_TASK_TO_END,
                after: Some(next.unwrap_or(ctx.timing.wait)),
            });
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
    if set.store_status.as_deref() == Some("Disabled") {
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
    Err(Error::Wait {
        reason: reasons::BACKUP_NOT_DELETABLE,
        after: Some(w.ctx.timing.error_max),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
