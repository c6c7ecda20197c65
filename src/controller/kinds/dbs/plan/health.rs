//! The status mapping (pure): the cloud's `BackupPlanStatus` → phase and conditions, the
//! conditions of a resting object, and the `RPOMet` verdict.

use super::DesiredPlan;
use super::reasons;
use crate::cloud::api::dbs::{BackupPlanDetail, PlanState};
use crate::controller::reconcile::conditions::Health;
use crate::crd::{DbsBackupPlanPhase, DbsBackupPlanStatus};

pub(super) fn err_message(p: &BackupPlanDetail) -> Option<&str> {
    p.err_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
}

/// Phase and health that the observed plan alone implies (no pending action).
pub fn observed_health(plan: &BackupPlanDetail, suspend: bool) -> (DbsBackupPlanPhase, Health) {
    use PlanState as cs;
    let raw = plan.backup_plan_status.as_deref().unwrap_or("").trim();
    let id = &plan.backup_plan_id;
    let err = err_message(plan);
    match (plan.state(), err) {
        (cs::Locked, _) => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_LOCKED,
                format!(
                    "plan {id} is locked in the cloud{}",
                    err.map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ),
        ),
        (cs::Stop, Some(e)) | (cs::Init, Some(e)) => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_STOPPED,
                format!("plan {id} stopped ({raw}): {e}"),
            ),
        ),
        (cs::Stop, None) if !suspend => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_STOPPED,
                format!("plan {id} is stopped in the cloud"),
            ),
        ),
        (cs::Pause | cs::Stop, _) if suspend => (
            DbsBackupPlanPhase::Paused,
            Health::ready(reasons::PLAN_PAUSED, format!("plan {id} is paused")),
        ),
        (cs::Pause, _) => (
            DbsBackupPlanPhase::Paused,
            Health::progressing(reasons::RESUMING, format!("plan {id} is paused; resuming")),
        ),
        (cs::Running, _) if suspend => (
            DbsBackupPlanPhase::Running,
            Health::progressing(reasons::PAUSING, format!("plan {id} runs; pausing")),
        ),
        (cs::Running, _) => (
            DbsBackupPlanPhase::Running,
            Health::ready(reasons::PLAN_RUNNING, format!("plan {id} is running")),
        ),
        (cs::Wait | cs::Init | cs::CheckPass, None) => (
            DbsBackupPlanPhase::Starting,
            Health::progressing(
                reasons::PLAN_STARTING,
                format!("plan {id} is starting ({raw})"),
            ),
        ),
        _ => (
            DbsBackupPlanPhase::Starting,
            Health::progressing(
                reasons::PLAN_STARTING,
                format!("plan {id} is in cloud state {raw:?}"),
            ),
        ),
    }
}

/// The conditions of a resting object, from its status alone (after a pause, when the
/// conditions say `Paused`): only a refused create rests without an act that sets them.
pub fn settled_health(status: &DbsBackupPlanStatus) -> Option<Health> {
    (status.backup_plan_id.is_none() && status.phase == Some(DbsBackupPlanPhase::Failed)).then(
        || {
            crate::controller::reconcile::work::create_refused_health(
                status.last_request_id.as_deref(),
                "change the spec to try again",
            )
        },
    )
}

/// The `RPOMet` verdict of a plan with `spec.rpo`: from its newest successful full backup set
/// (`status.lastSuccessfulBackupTime`), counted from the object's creation before the first.
pub fn rpo_verdict(
    desired: &DesiredPlan,
    status: &DbsBackupPlanStatus,
    created: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Option<crate::controller::reconcile::rpo::RpoVerdict> {
    let (rpo, text) = desired.rpo.as_ref()?;
    let last = status.last_successful_backup_time.as_ref().map(|t| t.0);
    Some(crate::controller::reconcile::rpo::evaluate(
        *rpo, text, last, created, now,
    ))
}
