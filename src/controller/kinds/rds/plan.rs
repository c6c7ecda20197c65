//! Pure steps of the `RdsBackup` reconcile: `validate` (spec → the `CreateBackup` request),
//! the plan (status → one [`Step`]), the claims of the other objects on the instance and the
//! adoption decisions of the exactly-once rules (`docs/architecture.md#exactly-once`), and the
//! mapping of the cloud task and backup set to phase, conditions and progress.
//!
//! Nothing here performs I/O; the reconcile in [`super`] does.

use crate::controller::reconcile::times;
use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::cloud::CloudError;
use crate::cloud::api::{
    CreateBackupRequest, RdsBackup as CloudBackupSet, RdsBackupJob, TaskState,
};
use crate::controller::Timing;
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::conditions::Health;
use crate::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, DeletionPolicy, ManagementPolicy, RdsBackup, RdsBackupMethod,
    RdsBackupPhase, RdsBackupSet, RdsBackupSetDetails, RdsBackupSpec, RdsBackupStatus,
    RdsBackupStrategy,
};

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
    pub const CLOUD_CLEANUP_SKIPPED: &str =
        crate::controller::reconcile::work::reasons::CLOUD_CLEANUP_SKIPPED;
    /// A create's outcome cannot be proven (see [`super::outcome_unknown_message`]).
    pub const CREATE_OUTCOME_UNKNOWN: &str = "CreateOutcomeUnknown";
    /// The answer of a create was lost and the evidence named the object's backup set
    /// (`Resolution::Resolved`).
    pub const CREATE_OUTCOME_RESOLVED: &str = "CreateOutcomeResolved";
    /// The set named by the adopt annotation (or the task or set named by the spec) is held by
    /// another object.
    pub const ADOPTION_REFUSED: &str =
        crate::controller::reconcile::work::reasons::ADOPTION_REFUSED;
    /// The set named by the adopt annotation or by `spec.backupId` does not exist.
    pub const BACKUP_SET_NOT_FOUND: &str = "BackupSetNotFound";
    /// `CreateBackup` was refused for good (the spec can never work): phase `Failed`.
    pub const CREATE_REFUSED: &str = crate::controller::reconcile::work::reasons::CREATE_REFUSED;
}

// ---------------------------------------------------------------------------------------------
// validate (pure)
// ---------------------------------------------------------------------------------------------

/// Checks what the CRD schema cannot (or what a server without CEL lets through) and builds the
/// `CreateBackup` request. The error is a message saying what to change.
pub fn validate(spec: &RdsBackupSpec) -> Result<CreateBackupRequest, String> {
    if spec.instance().is_empty() {
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
        db_instance_id: spec.instance().to_string(),
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
    /// The set to read from `DescribeBackups` (which can lag behind the task): the task
    /// finished and `backupSetDetails` is `Record`, or the set was adopted without a task.
    FetchBackupSet {
        /// `BackupId`.
        backup_id: String,
    },
    /// Take over the task or set the spec names (`backupJobId`/`backupId`): nothing is
    /// recorded yet.
    AdoptExisting(AdoptId),
    /// Terminal: nothing to do.
    Done,
}

/// Whether a raw task status is final.
pub fn task_ended(status: Option<&str>) -> bool {
    TaskState::parse(status).is_ended()
}

/// Chooses the next step from the status and `spec.backupSetDetails`. A finished task with
/// `Skip` is tracked once more (its answer is the proof) rather than read from `DescribeBackups`;
/// that status only exists when the operator stopped while waiting for a set with `Record`.
pub fn plan(status: Option<&RdsBackupStatus>, details: RdsBackupSetDetails) -> Step {
    let Some(s) = status else {
        return Step::Create;
    };
    if matches!(
        s.phase,
        Some(RdsBackupPhase::Failed | RdsBackupPhase::Succeeded)
    ) {
        return Step::Done;
    }
    let finished = TaskState::parse(s.cloud_status.as_deref()) == TaskState::Finished;
    if let Some(backup_id) = &s.backup_id
        && (s.backup_job_id.is_none() || (finished && details == RdsBackupSetDetails::Record))
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

/// Whether the object's work is over with `status` (the plan has nothing left to do):
/// [`Tracked::ended`](crate::controller::reconcile::kind::Tracked::ended).
pub fn ended(spec: &RdsBackupSpec, status: &RdsBackupStatus) -> bool {
    plan_spec(spec, Some(status)) == Step::Done
}

/// Chooses the next step from the spec's adoption fields and the status: an object that names
/// a task or set to adopt ([`validate_adoption`]) and has recorded nothing yet (no task, no
/// set, no intent, not failed) adopts it; everything else is [`plan`].
pub fn plan_spec(spec: &RdsBackupSpec, status: Option<&RdsBackupStatus>) -> Step {
    let nothing_recorded = status.is_none_or(|s| {
        s.backup_job_id.is_none()
            && s.backup_id.is_none()
            && s.pending_create.is_none()
            && s.phase != Some(RdsBackupPhase::Failed)
    });
    match validate_adoption(spec) {
        Ok(Some(id)) if nothing_recorded => Step::AdoptExisting(id),
        _ => plan(status, spec.backup_set_details),
    }
}

/// What deleting an `RdsBackup` takes next (`docs/architecture.md#deletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// Let the object go without touching the cloud; the note says why.
    LetGo(&'static str),
    /// Nothing (more) in the cloud to clean up: the finalizer goes.
    Finished,
    /// A create may have run (intent without a task id): find what it made first.
    ResolveIntent,
    /// A task of ours is running: wait for it to end (its set cannot be deleted before).
    AwaitTask {
        /// The task.
        job_id: String,
    },
    /// Delete our backup set.
    DeleteSet {
        /// The set.
        backup_id: String,
    },
}

/// Why an object with the orphan annotation goes without cloud cleanup.
pub const NOTE_ORPHAN: &str = "orphan-on-delete annotation set: the backup is left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup.
pub const NOTE_RETAIN: &str = "deletionPolicy Retain: the backup set is kept in the cloud";

/// The next cleanup step of a deleted object: `orphan` is the orphan annotation.
pub fn plan_cleanup(orphan: bool, policy: DeletionPolicy, s: &RdsBackupStatus) -> CleanupStep {
    if orphan {
        return CleanupStep::LetGo(NOTE_ORPHAN);
    }
    if policy == DeletionPolicy::Retain {
        return CleanupStep::LetGo(NOTE_RETAIN);
    }
    if s.backup_job_id.is_none() && s.backup_id.is_none() {
        return if s.pending_create.is_some() {
            CleanupStep::ResolveIntent
        } else {
            // Nothing was ever created.
            CleanupStep::Finished
        };
    }
    if let Some(job_id) = &s.backup_job_id
        && !task_ended(s.cloud_status.as_deref())
    {
        return CleanupStep::AwaitTask {
            job_id: job_id.clone(),
        };
    }
    match &s.backup_id {
        Some(backup_id) => CleanupStep::DeleteSet {
            backup_id: backup_id.clone(),
        },
        // Failed, or ended without a visible backup id: nothing we can address.
        None => CleanupStep::Finished,
    }
}

// ---------------------------------------------------------------------------------------------
// adoption by spec (pure)
// ---------------------------------------------------------------------------------------------

/// What the spec names to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdoptId {
    /// `spec.backupJobId`: a backup task, tracked to its set.
    Task(String),
    /// `spec.backupId`: a backup set, fetched and recorded.
    Set(String),
}

impl AdoptId {
    /// What it is, for messages: `backup task 123` / `backup set 456`.
    pub fn describe(&self) -> String {
        match self {
            Self::Task(id) => format!("backup task {id}"),
            Self::Set(id) => format!("backup set {id}"),
        }
    }

    /// The spec field that names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Task(_) => "spec.backupJobId",
            Self::Set(_) => "spec.backupId",
        }
    }
}

fn trimmed(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Checks the adoption fields (what the CEL rules say, for servers without CEL): at most one
/// of `backupJobId` and `backupId`; `ObserveOnly` needs one. The id to adopt, if any.
pub fn validate_adoption(spec: &RdsBackupSpec) -> Result<Option<AdoptId>, String> {
    let job = trimmed(spec.backup_job_id.as_ref());
    let set = trimmed(spec.backup_id.as_ref());
    match (job, set) {
        (Some(_), Some(_)) => Err(
            "spec.backupJobId and spec.backupId are mutually exclusive: adopt either a backup \
             task or a backup set"
                .into(),
        ),
        (Some(j), None) => Ok(Some(AdoptId::Task(j))),
        (None, Some(b)) => Ok(Some(AdoptId::Set(b))),
        (None, None) if spec.management_policy.is_observe_only() => Err(
            "managementPolicy ObserveOnly needs spec.backupJobId or spec.backupId (the backup \
             to observe); the operator never creates a backup for an ObserveOnly object"
                .into(),
        ),
        (None, None) => Ok(None),
    }
}

/// The other `RdsBackup` (`namespace/name`, any namespace) that holds `id` in its status or
/// names it in its spec, if any: such an id is never adopted
/// (`docs/architecture.md#exactly-once`).
pub fn adoption_holder(
    me_uid: &str,
    id: &AdoptId,
    all: &[RdsBackup],
) -> Option<crate::controller::reconcile::adoption::Claim> {
    // The id an object holds (status) and the one its spec names, for the kind of id.
    type Held = fn(&RdsBackup) -> Option<&str>;
    type Named = fn(&RdsBackup) -> Option<String>;
    let (held, named): (Held, Named) = match id {
        AdoptId::Task(_) => (
            |o| o.status.as_ref().and_then(|s| s.backup_job_id.as_deref()),
            |o| trimmed(o.spec.backup_job_id.as_ref()),
        ),
        AdoptId::Set(_) => (
            |o| o.status.as_ref().and_then(|s| s.backup_id.as_deref()),
            |o| trimmed(o.spec.backup_id.as_ref()),
        ),
    };
    let want = match id {
        AdoptId::Task(j) | AdoptId::Set(j) => j.as_str(),
    };
    crate::controller::reconcile::adoption::find_claim(
        me_uid,
        all,
        |o| held(o) == Some(want),
        |o| named(o).as_deref() == Some(want),
    )
}

/// The message of `Stalled/AdoptionRefused` for an id another object holds or names.
pub fn adoption_refused_message(
    id: &AdoptId,
    claim: &crate::controller::reconcile::adoption::Claim,
) -> String {
    crate::controller::reconcile::adoption::refused_message(
        &format!("{} named by {}", id.describe(), id.field()),
        "RdsBackup",
        "backup",
        claim,
    )
}

/// The message of the condition `Adopted` when the status holds the task or set the spec
/// names; `None` for an object whose backup the operator created.
pub fn adopted_message(spec: &RdsBackupSpec, status: &RdsBackupStatus) -> Option<String> {
    let id = validate_adoption(spec).ok().flatten()?;
    let held = match &id {
        AdoptId::Task(j) => status.backup_job_id.as_deref() == Some(j.as_str()),
        AdoptId::Set(b) => {
            status.backup_job_id.is_none() && status.backup_id.as_deref() == Some(b.as_str())
        }
    };
    held.then(|| {
        crate::controller::reconcile::work::adopted_message(&id.describe(), spec.management_policy)
    })
}

/// Records an adopted backup set (`spec.backupId`): `Succeeded` when the set is a successful
/// one, else `Failed` (`Stalled/BackupFailed`).
pub fn record_adopted_set(
    status: &mut RdsBackupStatus,
    set: &CloudBackupSet,
    now: jiff::Timestamp,
) -> Health {
    let health = record_backup_set(status, set, now);
    status.cloud_status = Some(TaskState::Finished.as_str().into());
    let ok = set
        .backup_status
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("Success"));
    if ok {
        return health;
    }
    status.phase = Some(RdsBackupPhase::Failed);
    status.cloud_status = Some(TaskState::Failed.as_str().into());
    Health::stalled(
        reasons::BACKUP_FAILED,
        format!(
            "adopted backup set {} is not a successful one (BackupStatus {})",
            set.backup_id,
            set.backup_status.as_deref().unwrap_or("unknown")
        ),
    )
}

/// Why an `ObserveOnly` object goes without cloud cleanup.
pub const NOTE_OBSERVE_ONLY: &str = "managementPolicy ObserveOnly: the operator never changes \
     the cloud, so the backup is left as it is whatever deletionPolicy says";

/// [`plan_cleanup`] with the management policy: an `ObserveOnly` object is let go without
/// touching the cloud (after the orphan annotation, whose note wins).
pub fn plan_cleanup_managed(
    orphan: bool,
    policy: DeletionPolicy,
    management: ManagementPolicy,
    s: &RdsBackupStatus,
) -> CleanupStep {
    if !orphan && management.is_observe_only() {
        return CleanupStep::LetGo(NOTE_OBSERVE_ONLY);
    }
    plan_cleanup(orphan, policy, s)
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
    /// Lost create answers may be resolved from the evidence ([`Resolution::Resolved`]):
    /// `--auto-resolve-lost-creates` and the namespace allow it (set by the caller).
    pub auto_resolve: bool,
    /// Tasks other objects hold whose backup set they have not recorded yet (job id, sorted).
    /// Their sets are claimed too, but nobody knows their `BackupId` until the task is
    /// resolved with `DescribeBackupTasks(BackupJobId)`.
    pub open_jobs: Vec<String>,
}

/// Whether `other` targets the same instance as `spec`.
/// Whether two specs name the same instance (region and id).
pub fn same_instance(spec: &RdsBackupSpec, other: &RdsBackupSpec) -> bool {
    spec.region == other.region && spec.instance() == other.instance()
}

/// Whether the object is `Stalled` (waiting for what only a person can fix: its evidence was
/// ambiguous, `CreateOutcomeUnknown`, or its Secret, key or permissions are wrong). Such an
/// object's unresolved intent does not hold up the instance ([`peers`]), and from then on
/// only a person resolves it (the adopt annotation), never the evidence: other creates on the
/// instance went ahead meanwhile, so later evidence could mislead.
pub fn awaits_person(status: &RdsBackupStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == crate::crd::CONDITION_STALLED && c.status == "True")
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
            // A task that failed makes no set. An object `Failed` while its task still ran
            // (`spec.timeout`) still owns the set that task makes.
            let task = TaskState::parse(s.cloud_status.as_deref());
            let may_make_set = task != TaskState::Failed
                && (s.phase != Some(RdsBackupPhase::Failed) || !task.is_ended());
            if s.backup_id.is_none() && may_make_set {
                p.open_jobs.push(j.clone());
            }
        }
        if let Some(b) = &s.backup_id {
            p.claimed_backups.insert(b.clone());
        }
        // An intent whose object waits for a person (ambiguous evidence, unusable credentials)
        // no longer holds up the instance (issue #26): later creates' sets are claimed by their
        // objects, and the stalled object never resolves from the evidence again.
        if s.pending_create.is_some()
            && s.backup_job_id.is_none()
            && s.backup_id.is_none()
            && !awaits_person(s)
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
        .filter(|t| t.is_manual())
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
        .filter(|b| b.is_manual())
        .filter(|b| !b.backup_id.is_empty() && !peers.claimed_backups.contains(&b.backup_id))
        .filter(|b| {
            b.backup_start_time
                .as_deref()
                .and_then(times::from_iso)
                .is_none_or(|t| t.0 >= not_before)
        })
        .collect();
    out.sort_by_key(|b| {
        (
            b.backup_start_time
                .as_deref()
                .and_then(times::from_iso)
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
    /// The evidence names one set: the only unclaimed manual set of the instance that started
    /// inside the create's window, made with the create's parameters, while this object's
    /// intent was the only unresolved one on the instance (rule 1 of
    /// `docs/architecture.md#exactly-once`). It is this object's.
    Resolved {
        /// `BackupId` of the set.
        backup_id: String,
    },
    /// Finished sets exist that may be ours, but the evidence is ambiguous (several sets in the
    /// window, or one made with other parameters, or automatic resolution is off):
    /// `Stalled/CreateOutcomeUnknown` until a person decides.
    Unknown {
        /// `BackupId`s of the candidate sets, oldest first.
        candidates: Vec<String>,
    },
}

impl Resolution {
    /// The sets that may be the object's (for messages): the candidates, or the resolved set.
    pub fn candidates(&self) -> Vec<String> {
        match self {
            Resolution::Unknown { candidates } => candidates.clone(),
            Resolution::Resolved { backup_id } => vec![backup_id.clone()],
            Resolution::NotCreated | Resolution::WaitForPeers { .. } => Vec::new(),
        }
    }
}

/// How long after the intent a set made by the create can have started: the call is sent
/// right after the intent is written and RDS starts a manual backup at once (a busy instance
/// refuses with `BackupJobExists`), so its set starts within the call's time plus RDS's start
/// delay. Five minutes covers a slow answer and a slow start; together with a minute of clock
/// slack before the intent, this is the window in which a backup started outside the operator
/// could be taken for ours (the residual risk, `docs/architecture.md#exactly-once`).
pub const CREATE_WINDOW_AFTER: std::time::Duration = std::time::Duration::from_secs(300);
/// Clock slack between the operator and RDS, before the intent.
pub const CREATE_WINDOW_BEFORE: std::time::Duration = std::time::Duration::from_secs(60);

/// The interval in which the set of a create sent right after an intent recorded at
/// `started_at` starts: `[started_at − CREATE_WINDOW_BEFORE, started_at + CREATE_WINDOW_AFTER]`.
pub fn create_window(started_at: jiff::Timestamp) -> (jiff::Timestamp, jiff::Timestamp) {
    let before = jiff::SignedDuration::try_from(CREATE_WINDOW_BEFORE).unwrap_or_default();
    let after = jiff::SignedDuration::try_from(CREATE_WINDOW_AFTER).unwrap_or_default();
    (
        started_at.checked_sub(before).unwrap_or(started_at),
        started_at.checked_add(after).unwrap_or(started_at),
    )
}

/// Whether `set` was made with the parameters of `request` (method, and type where both say).
pub fn made_by(set: &CloudBackupSet, request: &CreateBackupRequest) -> bool {
    let same = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    };
    // `BackupMethod` defaults to Physical in the API.
    let method = request.backup_method.as_deref().unwrap_or("Physical");
    same(Some(method), set.backup_method.as_deref())
        && same(request.backup_type.as_deref(), set.backup_type.as_deref())
}

/// Decides an unresolved intent after the search (pure). `candidates` are the unclaimed manual
/// sets started since the window's start ([`candidate_sets`]); `window` is
/// [`create_window`] of the intent; `auto` allows the automatic resolution. Only sets inside
/// the window can be ours: later ones are someone else's, and with none inside the create did
/// not run. Inside the window, exactly one set made with the request's parameters is ours
/// ([`Resolution::Resolved`]); anything else is ambiguous.
pub fn resolve_intent(
    candidates: &[&CloudBackupSet],
    unresolved_peer_jobs: &[String],
    window: (jiff::Timestamp, jiff::Timestamp),
    request: &CreateBackupRequest,
    auto: bool,
) -> Resolution {
    let in_window: Vec<&CloudBackupSet> = candidates
        .iter()
        .copied()
        .filter(|b| {
            b.backup_start_time
                .as_deref()
                .and_then(times::from_iso)
                .is_none_or(|t| t.0 >= window.0 && t.0 <= window.1)
        })
        .collect();
    if in_window.is_empty() {
        Resolution::NotCreated
    } else if !unresolved_peer_jobs.is_empty() {
        Resolution::WaitForPeers {
            jobs: unresolved_peer_jobs.to_vec(),
        }
    } else if auto && in_window.len() == 1 && made_by(in_window[0], request) {
        Resolution::Resolved {
            backup_id: in_window[0].backup_id.clone(),
        }
    } else {
        Resolution::Unknown {
            candidates: in_window.iter().map(|b| b.backup_id.clone()).collect(),
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

/// The `StartTime` parameter of `DescribeBackups` for adoption: one minute before `t`,
/// truncated to the minute (`yyyy-MM-ddTHH:mmZ`, UTC).
pub fn describe_backups_start_time(t: jiff::Timestamp) -> String {
    let earlier = t
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .unwrap_or(t);
    earlier.strftime("%Y-%m-%dT%H:%MZ").to_string()
}

/// Records an observation of the tracked task in `status`; returns the resulting health and
/// when to look again (`None` = terminal, `Some(0)` = fetch the backup set now). A task that
/// finished with its `BackupId` is `Succeeded` here with `details` `Skip`
/// ([`record_task_success`]); with `Record` the set is fetched next.
pub fn observe_task(
    status: &mut RdsBackupStatus,
    task: Option<&RdsBackupJob>,
    details: RdsBackupSetDetails,
    now: jiff::Timestamp,
    timing: &Timing,
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
    match task.state() {
        TaskState::Finished => {
            status.progress = Some(100);
            status.phase = Some(RdsBackupPhase::Running);
            match task.backup_id.clone().filter(|b| !b.is_empty()) {
                Some(b) if details == RdsBackupSetDetails::Skip => {
                    status.backup_id = Some(b);
                    (record_task_success(status, now), None)
                }
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
        TaskState::Failed => {
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
        TaskState::NoStart | TaskState::Running => {
            status.phase = Some(RdsBackupPhase::Running);
            let started = status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
            let elapsed = now.duration_since(started).unsigned_abs();
            (
                Health::progressing(
                    reasons::BACKUP_RUNNING,
                    format!(
                        "backup task {} is {} ({}%)",
                        task.backup_job_id,
                        task.backup_status
                            .as_deref()
                            .unwrap_or(TaskState::NoStart.as_str()),
                        status.progress.unwrap_or(0)
                    ),
                ),
                Some(poll_interval(elapsed, timing)),
            )
        }
    }
}

/// Marks the backup `Succeeded` on its task's answer alone (`backupSetDetails: Skip`): the
/// task finished and named its set (`status.backupId`, already recorded).
pub fn record_task_success(status: &mut RdsBackupStatus, now: jiff::Timestamp) -> Health {
    status.progress = Some(100);
    status.completion_time.get_or_insert(Time(now));
    status.phase = Some(RdsBackupPhase::Succeeded);
    status.pending_create = None;
    succeeded_health(status)
}

/// The health of a `Succeeded` backup.
fn succeeded_health(status: &RdsBackupStatus) -> Health {
    Health::ready(
        reasons::BACKUP_SUCCEEDED,
        format!(
            "backup set {} is available",
            status.backup_id.as_deref().unwrap_or_default()
        ),
    )
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
        start_time: set.backup_start_time.as_deref().and_then(times::from_iso),
        end_time: set.backup_end_time.as_deref().and_then(times::from_iso),
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
    succeeded_health(status)
}

/// The health that matches a status in a terminal phase.
pub fn terminal_health(status: &RdsBackupStatus) -> Option<Health> {
    match status.phase {
        Some(RdsBackupPhase::Succeeded) => Some(succeeded_health(status)),
        // A refused create keeps the conditions that carry the service's answer, a deadline
        // (the task had not ended) those that say so.
        Some(RdsBackupPhase::Failed)
            if status.backup_job_id.is_none() || !task_ended(status.cloud_status.as_deref()) =>
        {
            None
        }
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

/// The conditions of a resting object, from its status alone (after a pause, when the
/// conditions say `Paused`): [`terminal_health`], or the refused create.
pub fn settled_health(status: &RdsBackupStatus) -> Option<Health> {
    if status.phase != Some(RdsBackupPhase::Failed) {
        return terminal_health(status);
    }
    terminal_health(status).or_else(|| {
        Some(match &status.backup_job_id {
            None => crate::controller::reconcile::work::create_refused_health(
                status.last_request_id.as_deref(),
                crate::controller::reconcile::work::IMMUTABLE_CREATE_REFUSED,
            ),
            Some(job_id) => Health::stalled(
                crate::controller::reconcile::work::reasons::DEADLINE_EXCEEDED,
                format!(
                    "spec.timeout passed before backup task {job_id} ended; the task was left \
                     running (RDS cannot cancel one)"
                ),
            ),
        })
    })
}

/// Whether a `CreateBackup` error proves the call did not take effect.
pub fn create_not_executed(e: &CloudError) -> bool {
    // An RDS error response with a code and a 4xx status is a refusal: the gateway and the
    // service answer it before doing anything. 5xx, timeouts and lost connections are unknown.
    let refused = e.code().is_some() && e.http_status.is_some_and(|s| (400..500).contains(&s));
    refused || e.proves_not_executed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
