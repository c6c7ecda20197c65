//! Adopting the plan `spec.backupPlanId` names (pure): who else holds it, whether it is what
//! the spec describes, and what adopting it takes.

use super::{DesiredPlan, validate::nonempty, validate_adoption};
use crate::cloud::api::dbs::{BackupPlanDetail, PlanState};
use crate::controller::reconcile::work::adopted_message as adopted;
use crate::crd::{DbsBackupPlanSpec, DbsBackupPlanStatus};

/// The other `DbsBackupPlan` (`namespace/name`, any namespace) that holds `plan_id` in its
/// status or names it in its spec, if any: such a plan is never adopted
/// (`docs/architecture.md#exactly-once`).
pub fn adoption_holder(
    me_uid: &str,
    plan_id: &str,
    all: &[crate::crd::DbsBackupPlan],
) -> Option<crate::controller::reconcile::adoption::Claim> {
    crate::controller::reconcile::adoption::find_claim(
        me_uid,
        all,
        |o| o.status.as_ref().and_then(|s| s.backup_plan_id.as_deref()) == Some(plan_id),
        |o| nonempty(&o.spec.backup_plan_id).as_deref() == Some(plan_id),
    )
}

/// The message of the condition `Adopted` when the status holds the plan the spec names;
/// `None` for an object whose plan the operator bought.
pub fn adopted_message(spec: &DbsBackupPlanSpec, status: &DbsBackupPlanStatus) -> Option<String> {
    let id = validate_adoption(spec).ok().flatten()?;
    let held = status.backup_plan_id.as_deref() == Some(id.as_str());
    held.then(|| adopted(&format!("plan {id}"), spec.management_policy))
}

/// What the spec says that the plan `spec.backupPlanId` names must be: its engine, class and
/// method (which cannot change on a plan) and the database it backs up
/// ([`crate::controller::reconcile::adoption`]); the fields that differ. A purchased plan that was never
/// configured reports no source, so only what it was bought with is compared.
pub fn identity_mismatches(
    spec: &DbsBackupPlanSpec,
    found: &BackupPlanDetail,
) -> Vec<crate::controller::reconcile::adoption::Mismatch> {
    crate::controller::reconcile::adoption::Identity::new()
        .field(
            "databaseType",
            Some(spec.database_type.as_str()),
            found.database_type.as_deref(),
        )
        .field(
            "instanceClass",
            Some(spec.instance_class.as_str()),
            found.instance_class.as_deref(),
        )
        .field(
            "backupMethod",
            Some(spec.backup_method.as_str()),
            found.backup_method.as_deref(),
        )
        .field(
            "source.instanceType",
            Some(spec.source.instance_type.as_str()),
            found.source_endpoint_instance_type.as_deref(),
        )
        .field(
            "source.instanceId",
            spec.source.instance_id.as_deref(),
            found.source_endpoint_instance_id.as_deref(),
        )
        .field(
            "source.region",
            spec.source.region.as_deref(),
            found.source_endpoint_region.as_deref(),
        )
        .mismatches()
}

/// What adopting a plan the cloud reports takes: a purchased plan that was never configured
/// (`wait`) is configured and started with `CreateAndStartBackupPlan` under `Manage`; any
/// other plan (and any plan under `ObserveOnly`) is recorded as it is.
pub fn adopt_configures(desired: &DesiredPlan, found: &BackupPlanDetail) -> bool {
    !desired.observe_only && found.state() == PlanState::Wait
}

/// The `suspend` the observed plan is judged against: the spec's, or under `ObserveOnly`
/// whatever the cloud says (a paused plan is then what is wanted, not something to resume).
pub fn judged_suspend(desired: &DesiredPlan, observed: &BackupPlanDetail) -> bool {
    if desired.observe_only {
        observed.state() == PlanState::Pause
    } else {
        desired.suspend
    }
}
