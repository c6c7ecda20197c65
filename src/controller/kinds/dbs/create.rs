//! Creating the plan exactly once: the intent (`pendingCreate` with its `ClientToken`) before
//! `CreateAndStartBackupPlan`, adopting the plan of an earlier unrecorded create, and taking
//! over the plan `spec.backupPlanId` names.

use super::Work;
use super::act::record_observed;
use super::lookup::describe_plan;
use super::plan::{self, DesiredPlan, reasons};
use super::secret::PasswordRead;
use crate::cloud::DbsApi;
use crate::cloud::api::dbs::BackupPlanDetail;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::DbsBackupPlanPhase;

/// Records the create intent (a checkpoint: durable before the call), then
/// `CreateAndStartBackupPlan` with its `ClientToken`.
pub(super) async fn record_intent_and_create(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    password: PasswordRead,
) -> Result<Outcome> {
    let intent = kind::new_intent(w.obj)?;
    let token = intent.token.clone();
    w.status.pending_create = Some(intent);
    w.status.phase = Some(DbsBackupPlanPhase::Creating);
    w.hold_generation = true;
    w.commit(&Health::progressing(
        reasons::CREATING,
        format!("creating backup plan {:?}", desired.name),
    ))
    .await?;
    create(w, dbs, desired, &token, password).await
}

/// Takes over the plan `spec.backupPlanId` names: refused when another object holds it
/// (`holder`, from a fresh list), `Stalled/PlanNotFound` when the cloud does not know it. A
/// purchased plan that was never configured is configured and started under `Manage`
/// ([`plan::adopt_configures`]); any other plan is recorded (no cloud write) and, under
/// `Manage`, the spec is pushed to it by the next reconcile (no applied configuration yet).
pub(super) async fn adopt_existing(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    plan_id: &str,
    holder: Option<adoption::Claim>,
    password: PasswordRead,
) -> Result<Outcome> {
    let what = format!("plan {plan_id} named by spec.backupPlanId");
    if let Some(holder) = holder {
        return Ok(w.refuse_adoption(&what, "plan", &holder));
    }
    let found = match describe_plan(dbs, &desired.region, plan_id).await {
        Ok(p) => p,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    let Some(found) = found else {
        return Ok(w.stall(
            reasons::PLAN_NOT_FOUND,
            format!(
                "plan {plan_id} named by spec.backupPlanId does not exist in DBS region {} \
                     (DescribeBackupPlanList); nothing was recorded. Correct spec.backupPlanId \
                     (delete and recreate this object)",
                desired.region
            ),
        ));
    };
    if let Some(refused) =
        adoption::mismatch_health(&what, &plan::identity_mismatches(&w.obj.spec, &found))
    {
        return Ok(Outcome::requeue(refused, w.timing.error_max));
    }
    if plan::adopt_configures(desired, &found) {
        return record_intent_and_create(w, dbs, desired, password).await;
    }
    Ok(record_adopted(w, desired, &found))
}

/// Records the plan `spec.backupPlanId` names as ours (no cloud write); under `Manage` the
/// next reconcile pushes the spec to it.
fn record_adopted(w: &mut Work<'_>, desired: &DesiredPlan, found: &BackupPlanDetail) -> Outcome {
    w.status.backup_plan_id = Some(found.backup_plan_id.clone());
    record_observed(&mut w.status, found);
    let (phase, health) = plan::observed_health(found, plan::judged_suspend(desired, found));
    w.status.phase = Some(phase);
    if desired.observe_only {
        return Outcome::requeue(health, w.timing.poll_initial);
    }
    Outcome::requeue(
        Health::progressing(
            reasons::PLAN_ADOPTED,
            format!(
                "adopted plan {}; pushing the spec to it (ConfigureBackupPlan)",
                found.backup_plan_id
            ),
        ),
        w.timing.poll_initial,
    )
}

/// Records a plan found by [`find_own_plan`](super::lookup::find_own_plan) as ours.
pub(super) fn adopt(w: &mut Work<'_>, found: &BackupPlanDetail) -> Outcome {
    w.status.backup_plan_id = Some(found.backup_plan_id.clone());
    w.status.pending_create = None;
    record_observed(&mut w.status, found);
    w.status.phase = Some(plan::observed_health(found, w.obj.spec.suspend).0);
    Outcome::requeue(
        Health::progressing(
            reasons::PLAN_ADOPTED,
            format!(
                "adopted plan {} created before the operator could record it",
                found.backup_plan_id
            ),
        ),
        w.timing.poll_initial,
    )
}

/// `CreateAndStartBackupPlan` with the intent's `ClientToken` (the intent is on record), then
/// the applied-configuration annotation (a checkpoint) before the plan id goes to status.
pub(super) async fn create(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    token: &str,
    password: PasswordRead,
) -> Result<Outcome> {
    let password = match password {
        Ok(p) => p,
        Err(problem) => {
            w.hold_generation = false;
            return Ok(w.stall(problem.reason(), problem.to_string()));
        }
    };
    let version = password.as_ref().map(|p| p.version.clone());
    let req = plan::create_request(desired, password.map(|p| p.value), token);
    w.hold_generation = true;
    Ok(match dbs.create_and_start_backup_plan(&req).await {
        Ok(resp) if !resp.backup_plan_id.is_empty() => {
            // The fingerprint first: a crash after it and before the status write re-sends the
            // same ClientToken and gets the same plan back.
            w.set_applied(&desired.fingerprint(), version.as_deref())
                .await?;
            w.hold_generation = false;
            w.status.backup_plan_id = Some(resp.backup_plan_id.clone());
            if let Some(order) = resp.order_id.filter(|o| !o.is_empty()) {
                w.status.order_id = Some(order);
            }
            w.status.pending_create = None;
            w.status.phase = Some(DbsBackupPlanPhase::Starting);
            Outcome::requeue(
                Health::progressing(
                    reasons::PLAN_CREATED,
                    format!(
                        "backup plan {} created; waiting for it to run",
                        resp.backup_plan_id
                    ),
                ),
                w.timing.poll_initial,
            )
        }
        Ok(_) => Outcome::retry(
            Health::progressing(
                reasons::CREATING,
                "CreateAndStartBackupPlan returned no BackupPlanId; retrying with the same \
                 ClientToken",
            ),
            Next::backoff(reasons::CREATING),
        ),
        // Refused for good (e.g. an invalid parameter): nothing was created. The plan fails;
        // a changed spec is tried again with a new ClientToken.
        Err(e) if work::create_refused_for_good(&e) => w.fail_create(
            e,
            "fix the spec (the operator tries again when the spec changes) or the cloud side",
        ),
        Err(e) => w.cloud_error(e),
    })
}
