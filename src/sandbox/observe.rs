//! Observed state: where each object of our kinds stands, read from the API server.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::{Applied, SandboxError, TrackedKind, kube_err};
use crate::crd::{
    CONDITION_READY, CONDITION_STALLED, DbsBackupPlan, DbsBackupPlanPhase, HbrBackupJob,
    HbrBackupJobPhase, RdsBackup, RdsBackupPhase, find_condition,
};

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
        }
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

    /// `Kind/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Reads the current state of every tracked object (one list per kind and namespace).
pub async fn observe(
    client: &Client,
    tracked: &[Applied],
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
        let lp = ListParams::default();
        let what = || format!("list {kind} in {ns}");
        let states: Vec<ObjectState> = match kind {
            TrackedKind::RdsBackup => Api::<RdsBackup>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_rds)
                .collect(),
            TrackedKind::HbrBackupJob => Api::<HbrBackupJob>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_hbr)
                .collect(),
            TrackedKind::DbsBackupPlan => Api::<DbsBackupPlan>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_dbs)
                .collect(),
        };
        for s in states {
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

/// Reads every object of the three kinds in all namespaces.
pub async fn observe_all(client: &Client) -> Result<Vec<ObjectState>, SandboxError> {
    let lp = ListParams::default();
    let mut states: Vec<ObjectState> = Vec::new();
    states.extend(
        Api::<DbsBackupPlan>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list DbsBackupPlans"))?
            .iter()
            .map(ObjectState::from_dbs),
    );
    states.extend(
        Api::<HbrBackupJob>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list HbrBackupJobs"))?
            .iter()
            .map(ObjectState::from_hbr),
    );
    states.extend(
        Api::<RdsBackup>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list RdsBackups"))?
            .iter()
            .map(ObjectState::from_rds),
    );
    Ok(states)
}
