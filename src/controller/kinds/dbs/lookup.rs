//! The describes and lists of a `DbsBackupPlan`: its plan in the cloud (shared, batched
//! observation; a single describe), the plans other objects hold, and our plan after an unknown
//! create outcome.

use std::collections::HashSet;

use super::Work;
use super::plan::{self, DesiredPlan};
use crate::cloud::api::dbs::{BackupPlanDetail, DescribeBackupPlanListRequest};
use crate::cloud::{CloudError, DbsApi, ErrorClass};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::error::Result;
use crate::crd::{DbsBackupPlan, DbsBackupPlanPhase};

/// The `backupPlanId`s other `DbsBackupPlan`s hold, read fresh (the cache may lag behind
/// another object's write). Needed only on the rare paths after an unknown create outcome.
pub(super) async fn claimed_plans(obj: &DbsBackupPlan, ctx: &Context) -> Result<HashSet<String>> {
    let me = obj.metadata.uid.as_deref();
    Ok(runtime::list_fresh::<DbsBackupPlan>(ctx)
        .await?
        .into_iter()
        .filter(|o| o.metadata.uid.as_deref() != me)
        .filter_map(|o| o.status.and_then(|s| s.backup_plan_id))
        .collect())
}

/// The shared observation of plan `id` ([`DbsApi::observe_plan`]: describes batched with the
/// other plans of the account and region). A plan at rest (its generation observed, `Running`
/// or `Paused`) accepts an answer up to half the resync interval old, so one batched describe
/// serves up to 100 resting plans; any other plan an answer at most half the first poll
/// interval old; an object a user changed since its last read
/// ([`SeenFingerprints`](crate::controller::operator::context::SeenFingerprints): spec, annotations such as
/// `reconcile-requested-at`) a new describe (still batched with the others in flight). A
/// mutating call on the plan drops its answer. `Ok(None)`: not listed.
pub(super) async fn observe_plan(
    dbs: &dyn DbsApi,
    region: &str,
    id: &str,
    w: &Work<'_>,
    ctx: &Context,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let key = runtime::object_key(w.obj);
    let fingerprint = runtime::fingerprint(w.obj);
    let at_rest = w.status.observed_generation == w.obj.metadata.generation
        && matches!(
            w.status.phase,
            Some(DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused)
        );
    let max_age = if ctx.seen.changed(&key, fingerprint) {
        std::time::Duration::ZERO
    } else if at_rest {
        w.timing.resync / 2
    } else {
        w.timing.observe_age()
    };
    let observed = dbs.observe_plan(region, id, max_age).await;
    if observed.is_ok() {
        ctx.seen.seen(&key, fingerprint);
    }
    observed
}

/// `DescribeBackupPlanList` for one plan id; `Ok(None)` when the cloud does not know it.
pub(super) async fn describe_plan(
    dbs: &dyn DbsApi,
    region: &str,
    id: &str,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let req = DescribeBackupPlanListRequest {
        backup_plan_ids: vec![id.to_string()],
        region: Some(region.to_string()),
        page_num: Some(0),
        page_size: Some(10),
        ..DescribeBackupPlanListRequest::default()
    };
    Ok(list_plans(dbs, &req)
        .await?
        .into_iter()
        .find(|p| p.backup_plan_id == id))
}

/// Lists the plans named like ours and picks ours ([`plan::find_own_plan`]); `claimed` are the
/// plans other objects hold (never ours: names may repeat).
pub(super) async fn find_own_plan(
    w: &Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    claimed: &HashSet<String>,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let Some(started_at) = w
        .status
        .pending_create
        .as_ref()
        .map(|p| p.started_at.clone())
    else {
        return Ok(None);
    };
    let req = DescribeBackupPlanListRequest {
        backup_plan_name: Some(desired.name.clone()),
        region: Some(desired.region.clone()),
        page_num: Some(0),
        page_size: Some(100),
        ..DescribeBackupPlanListRequest::default()
    };
    let items = list_plans(dbs, &req).await?;
    Ok(plan::find_own_plan(desired, &started_at, &items, claimed).cloned())
}

/// `DescribeBackupPlanList`; a `NotFound` answer lists nothing.
async fn list_plans(
    dbs: &dyn DbsApi,
    req: &DescribeBackupPlanListRequest,
) -> std::result::Result<Vec<BackupPlanDetail>, CloudError> {
    match dbs.describe_backup_plan_list(req).await {
        Ok(r) => Ok(r.items),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
