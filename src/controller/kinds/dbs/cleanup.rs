//! Cleanup: [`plan::plan_cleanup`] (pure) picks the step, [`act_cleanup`] takes it
//! (`ReleaseBackupPlan`; `InvalidJobId`/not found = already gone).

use std::collections::HashSet;

use kube::runtime::events::EventType;

use super::Work;
use super::lookup::find_own_plan;
use super::plan::{self, CleanupStep, reasons};
use crate::cloud::api::dbs::ReleaseBackupPlanRequest;
use crate::cloud::{DbsApi, ErrorClass};
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::DbsBackupPlanPhase;

/// Takes the cleanup step [`plan::plan_cleanup`] picked (finding the plan of an unknown create
/// first); `claimed` are the plans other objects hold.
pub(super) async fn act_cleanup(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    step: CleanupStep,
    claimed: &HashSet<String>,
) -> Outcome {
    w.status.phase = Some(DbsBackupPlanPhase::Deleting);
    let plan_id = match step {
        CleanupStep::LetGo(note) => return work::let_go(note),
        CleanupStep::Finished => return Outcome::finished(),
        CleanupStep::Release { plan_id } => plan_id,
        CleanupStep::FindPlan => {
            // A create whose outcome was never recorded: release the plan if it exists.
            let Ok(desired) = plan::validate(&w.obj.spec) else {
                return Outcome::finished();
            };
            match find_own_plan(w, dbs, &desired, claimed).await {
                Ok(Some(found)) => found.backup_plan_id,
                Ok(None) => return Outcome::finished(),
                Err(e) => {
                    return w.cloud_error(e).or_retry(Next::backoff(reasons::RELEASING));
                }
            }
        }
    };
    let req = ReleaseBackupPlanRequest {
        backup_plan_id: plan_id.clone(),
        ..ReleaseBackupPlanRequest::default()
    };
    match dbs.release_backup_plan(&req).await {
        Ok(_) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) => {
            return w.cloud_error(e).or_retry(Next::backoff(reasons::RELEASING));
        }
    }
    Outcome::finished().note(
        EventType::Normal,
        reasons::RELEASED,
        "Deleting",
        format!("backup plan {plan_id} released"),
    )
}
