//! Observed state: where each object of our kinds stands, read from the API server.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};

use super::{Applied, SandboxError, TrackedKind, kube_err};
use crate::controller::reconcile::scheduling::{BackupSchedule, ChildState, ScheduledChild};
use crate::crd::{
    CONDITION_READY, CONDITION_RPO_MET, CONDITION_STALLED, ChildCounts, DbsBackupPlan,
    DbsBackupPlanPhase, DbsRestoreTask, HbrBackupJob, HbrBackupJobPhase, HbrBackupSchedule,
    HbrRestoreJob, RdsBackup, RdsBackupPhase, RdsBackupSchedule, RdsRestore, RestorePhase,
    RestoreStatus, find_condition,
};

/// Annotation of a schedule that the sandbox (only) reads: wait until this many of its
/// children succeeded, and the schedule's status has caught up with them (retention applied),
/// before the schedule counts as done. Without it a schedule is done once it is `Ready`.
pub const ANNOTATION_WAIT_FOR_SUCCESSES: &str = "sandbox.backup.aliyun.dev/wait-for-successes";

/// Where an object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still working.
    InProgress,
    /// Reached its kind's good end state.
    Succeeded,
    /// Failed, or stalled (needs a human).
    Failed,
}

/// What the sandbox shows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    /// Kind.
    pub kind: TrackedKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `status.phase` (`None` before the operator wrote it).
    pub phase: Option<String>,
    /// Percent done, where the kind reports it.
    pub progress: Option<i32>,
    /// Cloud identifiers (`job 123`, `backup 456`, `plan dbs…`).
    pub cloud_id: Option<String>,
    /// The raw cloud status string.
    pub cloud_status: Option<String>,
    /// Reason of the condition that is `True` among `Stalled` and `Ready` (else `Ready`'s).
    pub reason: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// Done or not, good or bad.
    pub verdict: Verdict,
    /// What a schedule did (`None` for the other kinds).
    pub schedule: Option<ScheduleState>,
}

/// What the sandbox shows of a schedule: its spec, its status and the children it made, as far
/// as the sandbox saw them (see [`ScheduleTally`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    /// `spec.schedule`.
    pub cron: String,
    /// `spec.timeZone`.
    pub time_zone: String,
    /// Children made (seen by the sandbox, including those gone since).
    pub made: u32,
    /// Of those, children that succeeded (including those gone since).
    pub succeeded: u32,
    /// Of those, children that failed (including those gone since).
    pub failed: u32,
    /// Children running now.
    pub running: u32,
    /// Children that finished and are gone (retention prunes them; with `--serve` also
    /// `kubectl delete`).
    pub pruned: u32,
    /// `status.lastSuccessfulTime` (in the schedule clock's time).
    pub last_successful_time: Option<String>,
    /// Status of the `RPOMet` condition (`None` without `spec.rpo` or before it is set).
    pub rpo_met: Option<String>,
    /// [`ANNOTATION_WAIT_FOR_SUCCESSES`].
    pub wait_for_successes: Option<u32>,
}

/// The children of each schedule the sandbox has seen, with the state it last saw them in, so
/// that children retention deleted since still count. Keep one across the reads of a run.
#[derive(Debug, Default)]
pub struct ScheduleTally {
    seen: HashMap<String, BTreeMap<String, ChildState>>,
}

/// What [`ScheduleTally::record`] counts.
#[derive(Debug, Clone, Default)]
struct Tallied {
    made: u32,
    succeeded: u32,
    failed: u32,
    pruned: u32,
    now: ChildCounts,
}

impl ScheduleTally {
    /// Records the children of schedule `uid` listed now and counts them with those seen before.
    fn record(&mut self, uid: &str, now: &[(String, ChildState)]) -> Tallied {
        let seen = self.seen.entry(uid.to_string()).or_default();
        let mut t = Tallied::default();
        for (name, state) in now {
            seen.insert(name.clone(), *state);
            match state {
                ChildState::Running | ChildState::Stalled => t.now.running += 1,
                ChildState::Succeeded => t.now.succeeded += 1,
                ChildState::Failed => t.now.failed += 1,
            }
        }
        for (name, state) in seen.iter() {
            t.made += 1;
            match state {
                ChildState::Succeeded => t.succeeded += 1,
                ChildState::Failed => t.failed += 1,
                ChildState::Running | ChildState::Stalled => {}
            }
            if state.is_finished() && !now.iter().any(|(n, _)| n == name) {
                t.pruned += 1;
            }
        }
        t
    }
}

fn counts_eq(a: &ChildCounts, b: &ChildCounts) -> bool {
    (a.running, a.succeeded, a.failed) == (b.running, b.succeeded, b.failed)
}

fn condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// `Ready` only counts when it describes the current generation.
fn ready_now(conditions: &[Condition], generation: Option<i64>) -> bool {
    find_condition(conditions, CONDITION_READY).is_some_and(|c| {
        c.status == "True"
            && (generation.is_none()
                || c.observed_generation.is_none()
                || c.observed_generation == generation)
    })
}

fn headline(conditions: &[Condition]) -> (Option<String>, Option<String>) {
    let pick = find_condition(conditions, CONDITION_STALLED)
        .filter(|c| c.status == "True")
        .or_else(|| find_condition(conditions, CONDITION_READY));
    match pick {
        Some(c) => (
            Some(c.reason.clone()).filter(|s| !s.is_empty()),
            Some(c.message.clone()).filter(|s| !s.is_empty()),
        ),
        None => (None, None),
    }
}

fn join_ids(parts: &[(&str, Option<&String>)]) -> Option<String> {
    let s: Vec<String> = parts
        .iter()
        .filter_map(|(label, id)| id.map(|id| format!("{label} {id}")))
        .collect();
    (!s.is_empty()).then(|| s.join(", "))
}

impl ObjectState {
    /// An object the API server does not show (yet).
    pub fn missing(kind: TrackedKind, namespace: &str, name: &str) -> Self {
        ObjectState {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            phase: None,
            progress: None,
            cloud_id: None,
            cloud_status: None,
            reason: None,
            message: None,
            verdict: Verdict::InProgress,
            schedule: None,
        }
    }

    /// A schedule (`RdsBackupSchedule`, `HbrBackupSchedule`) and `children` (any objects of
    /// its child kind; those it owns count): failed when `Stalled`; succeeded when `Ready`
    /// for the current generation, `RPOMet` is not `False` and, with
    /// [`ANNOTATION_WAIT_FOR_SUCCESSES`] = N, at least N of its children succeeded and its
    /// status counts the children the sandbox sees now (so retention has run on them).
    pub fn from_schedule<S: BackupSchedule>(
        kind: TrackedKind,
        o: &S,
        children: &[S::Child],
        tally: &mut ScheduleTally,
    ) -> Self {
        let mut s = Self::missing(kind, &o.namespace().unwrap_or_default(), &o.name_any());
        let spec = o.schedule_spec();
        let uid = o.uid().unwrap_or_default();
        let mine: Vec<(String, ChildState)> = children
            .iter()
            .filter(|c| c.owner_references().iter().any(|r| r.uid == uid))
            .filter(|c| c.meta().deletion_timestamp.is_none())
            .map(|c| (c.name_any(), c.state()))
            .collect();
        let t = tally.record(&uid, &mine);
        let wait_for_successes = o
            .annotations()
            .get(ANNOTATION_WAIT_FOR_SUCCESSES)
            .and_then(|v| v.trim().parse::<u32>().ok());
        let status = o.schedule_status();
        let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.map(|t| t.0.to_string())
        };
        let rpo_met = status
            .and_then(|st| find_condition(&st.conditions, CONDITION_RPO_MET))
            .map(|c| c.status.clone());
        s.schedule = Some(ScheduleState {
            cron: spec.schedule.clone(),
            time_zone: spec.time_zone.clone(),
            made: t.made,
            succeeded: t.succeeded,
            failed: t.failed,
            running: t.now.running,
            pruned: t.pruned,
            last_successful_time: time(status.and_then(|st| st.last_successful_time.as_ref())),
            rpo_met: rpo_met.clone(),
            wait_for_successes,
        });
        if let Some(st) = status {
            s.phase = st.phase.map(|p| p.as_str().to_string());
            (s.reason, s.message) = headline(&st.conditions);
            let ready = ready_now(&st.conditions, o.meta().generation);
            let caught_up = st.counts.as_ref().is_some_and(|c| counts_eq(c, &t.now));
            let waited = match wait_for_successes {
                None | Some(0) => true,
                Some(n) => t.succeeded >= n && caught_up && st.last_successful_time.is_some(),
            };
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else if ready && waited && rpo_met.as_deref() != Some("False") {
                Verdict::Succeeded
            } else {
                Verdict::InProgress
            };
        }
        s
    }

    /// `RdsBackup`: done at `Succeeded` or `Failed` (or `Stalled`).
    pub fn from_rds(o: &RdsBackup) -> Self {
        let mut s = Self::missing(
            TrackedKind::RdsBackup,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.progress = st.progress;
            s.cloud_id = join_ids(&[
                ("job", st.backup_job_id.as_ref()),
                ("backup", st.backup_id.as_ref()),
            ]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(RdsBackupPhase::Succeeded) => Verdict::Succeeded,
                    Some(RdsBackupPhase::Failed) => Verdict::Failed,
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `HbrBackupJob`: succeeded at `Succeeded`; failed at `PartiallySucceeded`, `Failed`,
    /// `Cancelled` or `Stalled`.
    pub fn from_hbr(o: &HbrBackupJob) -> Self {
        let mut s = Self::missing(
            TrackedKind::HbrBackupJob,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.progress = st.progress;
            let snapshot = st.snapshot_ids.first();
            s.cloud_id = join_ids(&[("job", st.job_id.as_ref()), ("snapshot", snapshot)]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(HbrBackupJobPhase::Succeeded) => Verdict::Succeeded,
                    // Part of the data was skipped: done, but not a success (Argo CD reports
                    // it as Degraded, see docs/gitops.md).
                    Some(
                        HbrBackupJobPhase::PartiallySucceeded
                        | HbrBackupJobPhase::Failed
                        | HbrBackupJobPhase::Cancelled,
                    ) => Verdict::Failed,
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `DbsBackupPlan` (long-lived): done when `Running` (or `Paused`) with `Ready=True` for
    /// the current generation; failed at `Failed` or `Stalled`.
    pub fn from_dbs(o: &DbsBackupPlan) -> Self {
        let mut s = Self::missing(
            TrackedKind::DbsBackupPlan,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.cloud_id = join_ids(&[
                ("plan", st.backup_plan_id.as_ref()),
                (
                    "full backup",
                    st.latest_full_backup_set
                        .as_ref()
                        .and_then(|b| b.id.as_ref()),
                ),
            ]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            let ready = ready_now(&st.conditions, o.metadata.generation);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(DbsBackupPlanPhase::Failed) => Verdict::Failed,
                    Some(DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused) if ready => {
                        Verdict::Succeeded
                    }
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// A restore (`RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask`): succeeded at `Succeeded`
    /// or `Planned` (a dry run); failed at `PartiallySucceeded`, `Failed`, `Cancelled` or
    /// `Stalled`.
    pub fn from_restore<K>(kind: TrackedKind, o: &K) -> Self
    where
        K: ResourceExt + crate::controller::reconcile::kind::Tracked<Status = RestoreStatus>,
    {
        let mut s = Self::missing(kind, &o.namespace().unwrap_or_default(), &o.name_any());
        if let Some(st) = o.status() {
            s.phase = st.phase.map(|p| p.to_string());
            s.progress = st.progress;
            s.cloud_id = if st.db_instance_id.is_some() {
                join_ids(&[("clone", st.db_instance_id.as_ref())])
            } else {
                join_ids(&[
                    ("restore", st.restore_id.as_ref()),
                    ("into", st.target_id.as_ref()),
                ])
            };
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(RestorePhase::Succeeded | RestorePhase::Planned) => Verdict::Succeeded,
                    Some(p) if p.is_terminal() => Verdict::Failed,
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `Kind/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The states of every object of `kind` in `ns` (all namespaces for `None`); the children of
/// schedules are counted in `tally`.
async fn states_of(
    client: &Client,
    kind: TrackedKind,
    ns: Option<&str>,
    tally: &mut ScheduleTally,
) -> Result<Vec<ObjectState>, SandboxError> {
    Ok(match kind {
        TrackedKind::RdsBackup => list(client, ns, kind, ObjectState::from_rds).await?,
        TrackedKind::HbrBackupJob => list(client, ns, kind, ObjectState::from_hbr).await?,
        TrackedKind::DbsBackupPlan => list(client, ns, kind, ObjectState::from_dbs).await?,
        TrackedKind::RdsBackupSchedule => {
            schedules::<RdsBackupSchedule>(client, ns, kind, tally).await?
        }
        TrackedKind::HbrBackupSchedule => {
            schedules::<HbrBackupSchedule>(client, ns, kind, tally).await?
        }
        TrackedKind::RdsRestore => {
            list(client, ns, kind, |o: &RdsRestore| {
                ObjectState::from_restore(kind, o)
            })
            .await?
        }
        TrackedKind::HbrRestoreJob => {
            list(client, ns, kind, |o: &HbrRestoreJob| {
                ObjectState::from_restore(kind, o)
            })
            .await?
        }
        TrackedKind::DbsRestoreTask => {
            list(client, ns, kind, |o: &DbsRestoreTask| {
                ObjectState::from_restore(kind, o)
            })
            .await?
        }
    })
}

/// The states of the objects of `K` in `ns` (all namespaces for `None`).
async fn list<K>(
    client: &Client,
    ns: Option<&str>,
    kind: TrackedKind,
    state: impl Fn(&K) -> ObjectState,
) -> Result<Vec<ObjectState>, SandboxError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let where_ = ns.map(|n| format!(" in {n}")).unwrap_or_default();
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(kube_err(format!("list {kind}{where_}")))?
        .iter()
        .map(state)
        .collect())
}

/// Reads the states of the schedules of kind `S` in `ns` (all namespaces for `None`) and
/// of their children.
async fn schedules<S: BackupSchedule>(
    client: &Client,
    ns: Option<&str>,
    kind: TrackedKind,
    tally: &mut ScheduleTally,
) -> Result<Vec<ObjectState>, SandboxError> {
    let (api, children): (Api<S>, Api<S::Child>) = match ns {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let lp = ListParams::default();
    let where_ = ns.map(|n| format!(" in {n}")).unwrap_or_default();
    let list = api
        .list(&lp)
        .await
        .map_err(kube_err(format!("list {kind}{where_}")))?;
    if list.items.is_empty() {
        return Ok(Vec::new());
    }
    let child_kind = <S::Child as kube::Resource>::kind(&());
    let children = children
        .list(&ListParams::default().labels(crate::crd::LABEL_SCHEDULE))
        .await
        .map_err(kube_err(format!("list {child_kind}{where_}")))?;
    Ok(list
        .iter()
        .map(|o| ObjectState::from_schedule(kind, o, &children.items, tally))
        .collect())
}

/// Reads the current state of every tracked object (one list per kind and namespace); the
/// children of schedules are counted in `tally`.
pub async fn observe(
    client: &Client,
    tracked: &[Applied],
    tally: &mut ScheduleTally,
) -> Result<Vec<ObjectState>, SandboxError> {
    let mut wanted: BTreeMap<(TrackedKind, String), Vec<&str>> = BTreeMap::new();
    for a in tracked {
        if let (Some(kind), Some(ns)) = (a.tracked, &a.namespace) {
            wanted
                .entry((kind, ns.clone()))
                .or_default()
                .push(a.name.as_str());
        }
    }
    let mut found: HashMap<(TrackedKind, String, String), ObjectState> = HashMap::new();
    for (kind, ns) in wanted.keys() {
        for s in states_of(client, *kind, Some(ns), tally).await? {
            found.insert((s.kind, s.namespace.clone(), s.name.clone()), s);
        }
    }
    Ok(tracked
        .iter()
        .filter_map(|a| {
            let kind = a.tracked?;
            let ns = a.namespace.clone()?;
            let key = (kind, ns.clone(), a.name.clone());
            Some(
                found
                    .remove(&key)
                    .unwrap_or_else(|| ObjectState::missing(kind, &ns, &a.name)),
            )
        })
        .collect())
}

/// Reads every object of our kinds in all namespaces; the children of schedules are counted
/// in `tally`.
pub async fn observe_all(
    client: &Client,
    tally: &mut ScheduleTally,
) -> Result<Vec<ObjectState>, SandboxError> {
    let mut states: Vec<ObjectState> = Vec::new();
    for kind in TrackedKind::ALL {
        states.extend(states_of(client, kind, None, tally).await?);
    }
    Ok(states)
}
