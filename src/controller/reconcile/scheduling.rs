//! What a schedule kind and the child kind it makes are, below the kind modules: the traits
//! [`BackupSchedule`] (`RdsBackupSchedule`, `HbrBackupSchedule`) and [`ScheduledChild`]
//! (`RdsBackup`, `HbrBackupJob`) with their implementations, and where a child stands
//! ([`ChildState`]). The schedule controller (`controller/kinds/schedule/`) is written over them, and
//! so is what reads schedules without being a controller (the sandbox's observer), which must
//! not import a kind module (`docs/architecture.md#rooms`). Pure: no API calls.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controller::reconcile::conditions;
use crate::controller::reconcile::kind::{ManagedResource, Tracked};
use crate::crd::{
    BackupScheduleSpec, BackupScheduleStatus, DeletionPolicy, HbrBackupJob, HbrBackupJobPhase,
    HbrBackupJobSpec, HbrBackupSchedule, RdsBackup, RdsBackupPhase, RdsBackupSchedule,
    RdsBackupSpec,
};

/// Where a child stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Not finished.
    Running,
    /// Not finished, and its `Stalled` condition is True: it waits for the user (e.g. its
    /// credentials Secret is missing).
    Stalled,
    /// Succeeded.
    Succeeded,
    /// Ended without a full success.
    Failed,
}

impl ChildState {
    /// Succeeded or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, ChildState::Succeeded | ChildState::Failed)
    }
}

/// A child kind a schedule makes.
pub trait ScheduledChild: ManagedResource {
    /// The child's spec (the schedule's `template.spec`).
    type Spec: Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static;
    /// A new child.
    fn build(metadata: ObjectMeta, spec: Self::Spec) -> Self;
    /// Whether the cloud can stop a running backup of this kind (`concurrencyPolicy:
    /// Replace` needs it).
    const CANCELLABLE: bool;
    /// Its phase only (running, succeeded or failed).
    fn phase_state(&self) -> ChildState;
    /// The reason and message of its `Stalled` condition, when that is True.
    fn stalled(&self) -> Option<(String, String)>;
    /// Where it stands: a child that has not finished and whose `Stalled` condition is True
    /// waits for the user.
    fn state(&self) -> ChildState {
        match self.phase_state() {
            ChildState::Running if self.stalled().is_some() => ChildState::Stalled,
            s => s,
        }
    }
    /// When its backup ended successfully: the cloud's end time where the child records one.
    fn succeeded_at(&self) -> Option<jiff::Timestamp>;
    /// `spec.deletionPolicy` of a child spec.
    fn deletion_policy(spec: &Self::Spec) -> Option<DeletionPolicy>;
    /// `spec.region` of a child spec.
    fn region(spec: &Self::Spec) -> &str;
}

/// A schedule kind: a [`Tracked`] kind whose status is the shared [`BackupScheduleStatus`].
pub trait BackupSchedule: Tracked<Status = BackupScheduleStatus> {
    /// The kind it makes.
    type Child: ScheduledChild;
    /// The shared spec.
    fn schedule_spec(&self) -> &BackupScheduleSpec<<Self::Child as ScheduledChild>::Spec>;
    /// `.status`.
    fn schedule_status(&self) -> Option<&BackupScheduleStatus> {
        self.status()
    }
}

impl BackupSchedule for RdsBackupSchedule {
    type Child = RdsBackup;
    fn schedule_spec(&self) -> &BackupScheduleSpec<RdsBackupSpec> {
        &self.spec.schedule
    }
}

impl BackupSchedule for HbrBackupSchedule {
    type Child = HbrBackupJob;
    fn schedule_spec(&self) -> &BackupScheduleSpec<HbrBackupJobSpec> {
        &self.spec.schedule
    }
}

/// The reason and message of a True `Stalled` condition in `conds`.
fn stalled_condition(conds: &[Condition]) -> Option<(String, String)> {
    conditions::find(conds, conditions::STALLED)
        .filter(|c| c.status == conditions::TRUE)
        .map(|c| (c.reason.clone(), c.message.clone()))
}

impl ScheduledChild for RdsBackup {
    type Spec = RdsBackupSpec;
    // RDS has no call that stops a running backup task.
    const CANCELLABLE: bool = false;
    fn build(metadata: ObjectMeta, spec: RdsBackupSpec) -> Self {
        RdsBackup {
            metadata,
            spec,
            status: None,
        }
    }
    fn phase_state(&self) -> ChildState {
        match self.status.as_ref().and_then(|s| s.phase) {
            Some(RdsBackupPhase::Succeeded) => ChildState::Succeeded,
            Some(RdsBackupPhase::Failed) => ChildState::Failed,
            _ => ChildState::Running,
        }
    }
    fn stalled(&self) -> Option<(String, String)> {
        stalled_condition(&self.status.as_ref()?.conditions)
    }
    /// The set's `BackupEndTime` from `DescribeBackups` where recorded
    /// (`backupSetDetails: Record`); else `completionTime`, when the operator saw the task
    /// finish (RDS's task list reports no end time).
    fn succeeded_at(&self) -> Option<jiff::Timestamp> {
        let st = self.status.as_ref()?;
        if st.phase != Some(RdsBackupPhase::Succeeded) {
            return None;
        }
        st.backup_set
            .as_ref()
            .and_then(|b| b.end_time.as_ref())
            .or(st.completion_time.as_ref())
            .map(|t| t.0)
    }
    fn deletion_policy(spec: &RdsBackupSpec) -> Option<DeletionPolicy> {
        spec.deletion_policy
    }
    fn region(spec: &RdsBackupSpec) -> &str {
        &spec.region
    }
}

impl ScheduledChild for HbrBackupJob {
    type Spec = HbrBackupJobSpec;
    const CANCELLABLE: bool = true;
    fn build(metadata: ObjectMeta, spec: HbrBackupJobSpec) -> Self {
        HbrBackupJob {
            metadata,
            spec,
            status: None,
        }
    }
    fn phase_state(&self) -> ChildState {
        match self.status.as_ref().and_then(|s| s.phase) {
            Some(HbrBackupJobPhase::Succeeded) => ChildState::Succeeded,
            Some(
                HbrBackupJobPhase::Failed
                | HbrBackupJobPhase::Cancelled
                | HbrBackupJobPhase::PartiallySucceeded,
            ) => ChildState::Failed,
            _ => ChildState::Running,
        }
    }
    fn stalled(&self) -> Option<(String, String)> {
        stalled_condition(&self.status.as_ref()?.conditions)
    }
    /// `completionTime`: the job's `CompleteTime` from HBR.
    fn succeeded_at(&self) -> Option<jiff::Timestamp> {
        self.last_success()
    }
    fn deletion_policy(spec: &HbrBackupJobSpec) -> Option<DeletionPolicy> {
        spec.deletion_policy
    }
    fn region(spec: &HbrBackupJobSpec) -> &str {
        &spec.region
    }
}
