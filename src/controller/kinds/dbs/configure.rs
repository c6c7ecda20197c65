//! Pushing the spec to an existing plan: `ConfigureBackupPlan` (a spec change, drift, a
//! rotated password), `ModifyBackupPlanName`, and `suspend` with `StopBackupPlan` /
//! `StartBackupPlan`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;

use super::Work;
use super::act::after_push;
use super::plan::{self, DesiredPlan, reasons};
use super::secret::PasswordRead;
use crate::cloud::api::dbs::{
    BackupPlanDetail, ModifyBackupPlanNameRequest, StartBackupPlanRequest, StopBackupPlanRequest,
};
use crate::cloud::{CloudError, DbsApi};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::work::{Outcome, Publish};

/// Why the configuration is pushed with `ConfigureBackupPlan`.
pub(super) enum Push {
    /// The spec changed (no differences), or the cloud drifted from it (the differences).
    Spec(Vec<plan::Difference>),
    /// The password Secret changed (rotation).
    Password,
}

/// `ConfigureBackupPlan` with the whole configurable state of the spec (and the password), then
/// the applied-configuration annotation (a checkpoint). Drift is reported with a Warning event
/// whatever the push comes to.
pub(super) async fn configure(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    plan_id: &str,
    why: Push,
    observed: Option<&BackupPlanDetail>,
    password: PasswordRead,
) -> Result<Outcome> {
    let (drift, rotation) = match why {
        Push::Spec(drift) => (drift, false),
        Push::Password => (Vec::new(), true),
    };
    let drift_note = (!drift.is_empty()).then(|| {
        format!(
            "plan {plan_id} differs from the spec: {}; correcting it with ConfigureBackupPlan",
            plan::describe_differences(&drift)
        )
    });
    let with_drift_note = |o: Outcome| match &drift_note {
        Some(n) => o.note(
            EventType::Warning,
            reasons::DRIFT_DETECTED,
            "Configure",
            n.clone(),
        ),
        None => o,
    };
    let password = match password {
        Ok(p) => p,
        Err(problem) => {
            let message = if rotation {
                format!(
                    "{problem}; plan {plan_id} keeps the password last pushed until the Secret \
                     is fixed"
                )
            } else {
                problem.to_string()
            };
            return Ok(with_drift_note(w.stall(problem.reason(), message)));
        }
    };
    let version = password.as_ref().map(|p| p.version.clone());
    let req = plan::configure_request(desired, plan_id, password.map(|p| p.value));
    w.hold_generation = !rotation;
    let outcome = match dbs.configure_backup_plan(&req).await {
        Ok(_) => {
            w.set_applied(&desired.fingerprint(), version.as_deref())
                .await?;
            w.hold_generation = false;
            if rotation {
                rotated(w, desired, plan_id, observed)
            } else {
                configured(w, plan_id, &drift, observed)
            }
        }
        Err(e) => w.cloud_error(e),
    };
    Ok(with_drift_note(outcome))
}

/// After a password push: `Reconciling/PasswordRotated` and its event.
fn rotated(
    w: &mut Work<'_>,
    desired: &DesiredPlan,
    plan_id: &str,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    let secret = desired
        .config
        .password_ref
        .as_ref()
        .map(|r| format!("{:?} (key {:?})", r.name, r.key))
        .unwrap_or_default();
    let note = format!(
        "password Secret {secret} changed; pushed the new password to plan {plan_id} \
         with ConfigureBackupPlan"
    );
    let health = Health::progressing(reasons::PASSWORD_ROTATED, note.clone());
    after_push(w, observed, health)
        .publish(Publish::Silent)
        .note(
            EventType::Normal,
            reasons::PASSWORD_ROTATED,
            "Configure",
            note,
        )
}

/// After a push of the spec: drift corrected, or a spec change pushed.
fn configured(
    w: &mut Work<'_>,
    plan_id: &str,
    drift: &[plan::Difference],
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    let health = if drift.is_empty() {
        Health::progressing(
            reasons::CONFIGURING,
            format!("spec pushed to plan {plan_id} (ConfigureBackupPlan)"),
        )
    } else {
        w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
        Health::progressing(
            reasons::DRIFT_DETECTED,
            format!(
                "plan {plan_id} differed from the spec ({}); corrected with \
                 ConfigureBackupPlan",
                plan::describe_differences(drift)
            ),
        )
    };
    after_push(w, observed, health)
}

/// The answer to a rename, stop or start: `health` (given the answer) says what it did; a cloud
/// error gets the shared handling.
fn pushed<'a, T>(
    w: &mut Work<'a>,
    answer: std::result::Result<T, CloudError>,
    observed: Option<&BackupPlanDetail>,
    health: impl FnOnce(&mut Work<'a>, T) -> Health,
) -> Outcome {
    match answer {
        Ok(resp) => {
            w.hold_generation = false;
            let health = health(w, resp);
            after_push(w, observed, health)
        }
        Err(e) => w.cloud_error(e),
    }
}

/// `ModifyBackupPlanName`: the spec's name changed, or (`drift`) the cloud's name was changed
/// outside the operator (a Warning event).
pub(super) async fn rename(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    plan_id: &str,
    drift: Option<plan::Difference>,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    let mut notes = Vec::new();
    if let Some(d) = &drift {
        notes.push(format!(
            "plan {plan_id} differs from the spec: {d}; correcting it with \
             ModifyBackupPlanName"
        ));
    }
    w.hold_generation = true;
    let req = ModifyBackupPlanNameRequest {
        backup_plan_id: plan_id.to_string(),
        backup_plan_name: desired.name.clone(),
        ..ModifyBackupPlanNameRequest::default()
    };
    let answer = dbs.modify_backup_plan_name(&req).await;
    let outcome = pushed(w, answer, observed, |w, _| match &drift {
        Some(d) => {
            w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
            Health::progressing(
                reasons::DRIFT_DETECTED,
                format!(
                    "plan {plan_id} differed from the spec ({d}); corrected with \
                     ModifyBackupPlanName"
                ),
            )
        }
        None => Health::progressing(
            reasons::RENAMING,
            format!("plan {plan_id} renamed to {:?}", desired.name),
        ),
    });
    notes.into_iter().fold(outcome, |o, note| {
        o.note(EventType::Warning, reasons::DRIFT_DETECTED, "Rename", note)
    })
}

/// `StopBackupPlan(StopMethod=ALL)`: `suspend: true`.
pub(super) async fn stop(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    plan_id: &str,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    w.hold_generation = true;
    let req = StopBackupPlanRequest {
        backup_plan_id: plan_id.to_string(),
        stop_method: "ALL".into(),
        ..StopBackupPlanRequest::default()
    };
    let answer = dbs.stop_backup_plan(&req).await;
    pushed(w, answer, observed, |_, _| {
        Health::progressing(
            reasons::PAUSING,
            format!("pausing plan {plan_id} (StopBackupPlan, StopMethod ALL)"),
        )
    })
}

/// `StartBackupPlan`: `suspend: false`, or a restart after a reconfigured failure.
pub(super) async fn start(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    plan_id: &str,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    w.hold_generation = true;
    let req = StartBackupPlanRequest {
        backup_plan_id: plan_id.to_string(),
        ..StartBackupPlanRequest::default()
    };
    let answer = dbs.start_backup_plan(&req).await;
    pushed(w, answer, observed, |w, resp| {
        if let Some(set) = resp.created_full_backupset_id.filter(|s| !s.is_empty()) {
            w.status.created_full_backupset_id = Some(set);
        }
        Health::progressing(
            reasons::RESUMING,
            format!("resuming plan {plan_id} (StartBackupPlan)"),
        )
    })
}
