//! **plan** (pure): the one next [`Step`] of a reconcile, from the status, the annotations and
//! the observed plan.

use super::drift::{config_differences, name_differs};
use super::health::err_message;
use super::{DesiredPlan, Difference, reasons};
use crate::cloud::api::dbs::{BackupPlanDetail, PlanState};
use crate::crd::{DbsBackupPlanPhase, DbsBackupPlanStatus};

/// What the reconcile knows about the cloud side, besides status.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated spec.
    pub desired: &'a DesiredPlan,
    /// Current status (default when none).
    pub status: &'a DbsBackupPlanStatus,
    /// The [`ANNOTATION_APPLIED_CONFIG`] value.
    pub applied_fingerprint: Option<&'a str>,
    /// The [`ANNOTATION_APPLIED_PASSWORD`] value: the password Secret version last pushed.
    pub applied_password: Option<&'a str>,
    /// The password Secret's version now ([`secret_version`]); `None` when the spec names no
    /// password Secret or the Secret does not exist.
    pub current_password: Option<&'a str>,
    /// The plan from `DescribeBackupPlanList` (`None`: not described, or not found).
    pub observed: Option<&'a BackupPlanDetail>,
    /// Reason of the condition that is currently true (what the last reconcile did).
    pub last_reason: Option<&'a str>,
    /// Whether the spec changed since status was last written (`observedGeneration` behind).
    pub spec_changed: bool,
}

/// The one next step of a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write `pendingCreate` (no cloud call yet).
    RecordIntent,
    /// `CreateAndStartBackupPlan` with the recorded `ClientToken`.
    Create {
        /// The `ClientToken`.
        token: String,
    },
    /// `ConfigureBackupPlan`: the spec changed (`drift` empty) or the cloud drifted.
    Configure {
        /// `BackupPlanId`.
        plan_id: String,
        /// Observed differences (drift), if any.
        drift: Vec<Difference>,
    },
    /// `ConfigureBackupPlan` with the password of a changed password Secret (rotation).
    RotatePassword {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// Record the version of the password Secret without a cloud call: the configuration was
    /// pushed by an operator version that did not record it.
    RecordPasswordVersion,
    /// `ModifyBackupPlanName`: the spec's name changed, or (with `drift`) the cloud's name was
    /// changed outside the operator.
    Rename {
        /// `BackupPlanId`.
        plan_id: String,
        /// The name difference when no spec change is pending (drift).
        drift: Option<Difference>,
    },
    /// `StopBackupPlan(StopMethod=ALL)`.
    Stop {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// `StartBackupPlan`.
    Start {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// No mutating call: report what is observed.
    Observe {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// The create was refused for good (phase `Failed`, no plan): nothing until the spec
    /// changes.
    AwaitSpecChange,
    /// Take over the plan `spec.backupPlanId` names (nothing recorded yet).
    AdoptExisting {
        /// `BackupPlanId`.
        plan_id: String,
    },
}

/// Chooses the one next step.
pub fn plan(input: &PlanInput<'_>) -> Step {
    let Some(plan_id) = input.status.backup_plan_id.clone() else {
        return before_plan(input);
    };
    let Some(observed) = input.observed else {
        return Step::Observe { plan_id };
    };
    let desired = input.desired;
    if desired.observe_only {
        // Never a write: no configure, password push, rename, start or stop.
        return Step::Observe { plan_id };
    }
    let state = observed.state();
    if input.applied_fingerprint != Some(desired.fingerprint().as_str()) {
        return Step::Configure {
            plan_id,
            drift: Vec::new(),
        };
    }
    if let Some(step) = password_step(input, state, &plan_id) {
        return step;
    }
    if name_differs(desired, observed) {
        let drift = (!input.spec_changed).then(|| Difference {
            field: "planName",
            desired: desired.name.clone(),
            observed: observed.backup_plan_name.clone().unwrap_or_default(),
        });
        return Step::Rename { plan_id, drift };
    }
    if let Some(step) = suspend_step(input, observed, state, &plan_id) {
        return step;
    }
    if matches!(state, PlanState::Running | PlanState::Pause) {
        let drift = config_differences(desired, observed);
        if !drift.is_empty() {
            return Step::Configure { plan_id, drift };
        }
    }
    Step::Observe { plan_id }
}

/// The step of an object with no plan recorded: await a spec change after a refused create,
/// adopt the plan `spec.backupPlanId` names, record the intent, or create.
fn before_plan(input: &PlanInput<'_>) -> Step {
    let status = input.status;
    match &status.pending_create {
        None if status.phase == Some(DbsBackupPlanPhase::Failed) && !input.spec_changed => {
            Step::AwaitSpecChange
        }
        None => match &input.desired.backup_plan_id {
            Some(plan_id) => Step::AdoptExisting {
                plan_id: plan_id.clone(),
            },
            None => Step::RecordIntent,
        },
        Some(p) => Step::Create {
            token: p.token.clone(),
        },
    }
}

/// The password Secret's step, if any: record its version, or push a rotated password.
fn password_step(input: &PlanInput<'_>, state: PlanState, plan_id: &str) -> Option<Step> {
    input.desired.config.password_ref.as_ref()?;
    match (input.applied_password, input.current_password) {
        // Pushed by an operator that did not record the Secret version: record it.
        (None, Some(_)) => Some(Step::RecordPasswordVersion),
        // Rotated, recreated or deleted: push once, in a state that takes a
        // configuration (steady or stopped; not while starting or locked).
        (Some(applied), current)
            if current != Some(applied)
                && matches!(
                    state,
                    PlanState::Running | PlanState::Pause | PlanState::Stop
                ) =>
        {
            Some(Step::RotatePassword {
                plan_id: plan_id.to_string(),
            })
        }
        _ => None,
    }
}

/// `suspend`: stop a running plan, start a paused or stopped one.
fn suspend_step(
    input: &PlanInput<'_>,
    observed: &BackupPlanDetail,
    state: PlanState,
    plan_id: &str,
) -> Option<Step> {
    use PlanState as cs;
    let suspend = input.desired.suspend;
    let errored = err_message(observed).is_some();
    let plan_id = plan_id.to_string();
    match state {
        cs::Running | cs::CheckPass | cs::Wait if suspend => Some(Step::Stop { plan_id }),
        cs::Init if suspend && !errored => Some(Step::Stop { plan_id }),
        cs::Pause if !suspend => Some(Step::Start { plan_id }),
        // Stopped by us, or failed and then reconfigured by a spec change or a new password:
        // (re)start, which runs the pre-check again.
        cs::Stop
            if !suspend
                && (!errored
                    || matches!(
                        input.last_reason,
                        Some(reasons::CONFIGURING | reasons::PASSWORD_ROTATED)
                    )) =>
        {
            Some(Step::Start { plan_id })
        }
        _ => None,
    }
}
