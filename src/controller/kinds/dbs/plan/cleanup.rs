//! **plan_cleanup** (pure): what deleting a `DbsBackupPlan` takes.

use crate::crd::{DbsBackupPlanStatus, DeletionPolicy};

/// What deleting a `DbsBackupPlan` takes (`docs/architecture.md#deletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// Let the object go without touching the cloud; the note says why.
    LetGo(&'static str),
    /// Nothing was ever sent to the cloud: the finalizer goes.
    Finished,
    /// A create whose outcome was never recorded: find the plan it made (if any), release it.
    FindPlan,
    /// Release our plan.
    Release {
        /// The plan.
        plan_id: String,
    },
}

/// Why an object with the orphan annotation goes without cloud cleanup.
pub const NOTE_ORPHAN: &str =
    "orphan-on-delete annotation set: the backup plan is left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup.
pub const NOTE_RETAIN: &str = "deletionPolicy Retain: the backup plan keeps running in the cloud";

/// The cleanup step of a deleted object: `orphan` is the orphan annotation.
pub fn plan_cleanup(
    orphan: bool,
    policy: DeletionPolicy,
    status: &DbsBackupPlanStatus,
) -> CleanupStep {
    if orphan {
        return CleanupStep::LetGo(NOTE_ORPHAN);
    }
    if policy == DeletionPolicy::Retain {
        return CleanupStep::LetGo(NOTE_RETAIN);
    }
    match (&status.backup_plan_id, &status.pending_create) {
        (Some(plan_id), _) => CleanupStep::Release {
            plan_id: plan_id.clone(),
        },
        (None, Some(_)) => CleanupStep::FindPlan,
        (None, None) => CleanupStep::Finished,
    }
}

/// Why an `ObserveOnly` object goes without cloud cleanup.
pub const NOTE_OBSERVE_ONLY: &str = "managementPolicy ObserveOnly: the operator never changes \
     the cloud, so the backup plan is left as it is whatever deletionPolicy says";

/// [`plan_cleanup`] with the management policy: an `ObserveOnly` object is let go without
/// touching the cloud (after the orphan annotation, whose note wins).
pub fn plan_cleanup_managed(
    orphan: bool,
    policy: DeletionPolicy,
    management: crate::crd::ManagementPolicy,
    status: &DbsBackupPlanStatus,
) -> CleanupStep {
    if !orphan && management.is_observe_only() {
        return CleanupStep::LetGo(NOTE_OBSERVE_ONLY);
    }
    plan_cleanup(orphan, policy, status)
}
