//! [`Step::Observe`](super::plan::Step::Observe): what the plan and its full backup sets say
//! (no mutating call), and when to look again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Work;
use super::act::record_observed;
use super::plan::{self, DesiredPlan, reasons};
use crate::cloud::api::dbs::{BackupPlanDetail, DescribeFullBackupListRequest};
use crate::cloud::{CloudError, DbsApi};
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::Outcome;
use crate::crd::DbsBackupPlanPhase;

/// Reports what the observed plan says (no mutating call): a plan not listed is awaited right
/// after the create and `Stalled/PlanNotFound` later; a steady plan also records its full
/// backup sets.
pub(super) async fn observe(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    plan_id: &str,
    desired: &DesiredPlan,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    let Some(p) = observed else {
        return not_listed(w, plan_id);
    };
    record_observed(&mut w.status, p);
    let (phase, health) = plan::observed_health(p, plan::judged_suspend(desired, p));
    w.status.phase = Some(phase);
    let steady = matches!(
        phase,
        DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused
    );
    if steady {
        // The drift comparison just ran (plan() found no difference).
        w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
        if let Err(e) = record_full_backups(w, dbs, plan_id).await {
            return w.cloud_error(e);
        }
    }
    let delay = next_look(w, &health, phase);
    Outcome::requeue(health, delay)
}

/// The recorded plan is not listed: not yet (right after the create), or gone.
fn not_listed(w: &mut Work<'_>, plan_id: &str) -> Outcome {
    if w.status.cloud_status.is_none() {
        return Outcome::requeue(
            Health::progressing(
                reasons::WAITING_FOR_PLAN,
                format!("plan {plan_id} is not listed by DescribeBackupPlanList yet"),
            ),
            w.timing.wait,
        );
    }
    w.status.phase = Some(DbsBackupPlanPhase::Failed);
    Outcome::requeue(
        Health::stalled(
            reasons::PLAN_NOT_FOUND,
            format!(
                "plan {plan_id} no longer exists in DBS (released outside the operator); \
                 delete this object and create it again for a new plan"
            ),
        ),
        w.timing.resync,
    )
}

/// `DescribeFullBackupList`: the latest full backup set and the last successful backup time
/// (which never moves backwards).
async fn record_full_backups(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    plan_id: &str,
) -> std::result::Result<(), CloudError> {
    let req = DescribeFullBackupListRequest {
        backup_plan_id: plan_id.to_string(),
        page_num: Some(0),
        page_size: Some(100),
        ..DescribeFullBackupListRequest::default()
    };
    let r = dbs.describe_full_backup_list(&req).await?;
    if let Some(latest) = plan::latest_full_backup(&r.items) {
        w.status.latest_full_backup_set = Some(latest);
    }
    // Never move backwards (the page may no longer list an older success).
    if let Some(t) = plan::last_successful_backup(&r.items)
        && w.status
            .last_successful_backup_time
            .as_ref()
            .is_none_or(|prev| prev.0 < t.0)
    {
        w.status.last_successful_backup_time = Some(t);
    }
    Ok(())
}

/// When to look again: a running full backup is followed to its end, a starting plan polled
/// adaptively, anything at rest resynced.
fn next_look(w: &Work<'_>, health: &Health, phase: DbsBackupPlanPhase) -> std::time::Duration {
    let set_running = w
        .status
        .latest_full_backup_set
        .as_ref()
        .is_some_and(plan::full_backup_in_progress);
    match (health, phase) {
        // Follow a running full backup to its end, then only resync.
        (Health::Ready { .. }, _) if set_running => w.timing.poll_max,
        (Health::Ready { .. } | Health::Stalled { .. } | Health::Paused { .. }, _) => {
            w.timing.resync
        }
        (Health::Progressing { .. }, DbsBackupPlanPhase::Starting) => {
            let since = w
                .status
                .create_time
                .as_ref()
                .or(w.status.pending_create.as_ref().map(|p| &p.started_at))
                .map(|t| t.0)
                .unwrap_or_else(jiff::Timestamp::now);
            let elapsed = jiff::Timestamp::now().duration_since(since).unsigned_abs();
            poll_interval(elapsed, w.timing)
        }
        (Health::Progressing { .. }, _) => w.timing.poll_initial,
    }
}
