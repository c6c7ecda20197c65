//! The claims of the other objects on the instance and the resolution of an unresolved create
//! intent (pure): rules 2 and 3 of the exactly-once rules in [`super::super`]
//! (`docs/architecture.md#exactly-once`).

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::cloud::api::{
    CreateBackupRequest, RdsBackup as CloudBackupSet, RdsBackupJob, TaskState,
};
use crate::controller::reconcile::times;
use crate::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, RdsBackup, RdsBackupPhase, RdsBackupSpec, RdsBackupStatus,
};

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
