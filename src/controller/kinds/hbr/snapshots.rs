//! The snapshot ids of an ended job: `UDM_ECS` with `DescribeUdmSnapshots`, `ECS_FILE` with
//! `SearchHistoricalSnapshots` (see [`plan::snapshots_findable`]).

use super::Work;
use super::plan;
use crate::cloud::{CloudError, HbrApi};
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::HbrSourceType;

/// The snapshot ids of the job: `UDM_ECS` with `DescribeUdmSnapshots`, `ECS_FILE` with
/// `SearchHistoricalSnapshots` (see [`plan::snapshots_findable`]).
pub(super) async fn lookup_snapshots(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Vec<String>, CloudError> {
    if w.obj.spec.source_type == HbrSourceType::EcsFile {
        return search_snapshots(w, hbr, job_id).await;
    }
    let now = jiff::Timestamp::now().as_second();
    let since = w
        .status
        .start_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(now);
    let until = w
        .status
        .completion_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(now)
        .max(now);
    let req = plan::describe_snapshots(&w.obj.spec, job_id, since, until);
    let resp = hbr.describe_udm_snapshots(&req).await?;
    Ok(plan::snapshot_ids(&resp.snapshots, job_id))
}

/// Pages of `SearchHistoricalSnapshots` searched for the snapshot of an `ECS_FILE` job.
const MAX_SNAPSHOT_PAGES: u32 = 20;

/// Pages through `SearchHistoricalSnapshots` (the job's vault and instance, completed since the
/// job started) until the job's snapshots show up.
async fn search_snapshots(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Vec<String>, CloudError> {
    let since = w
        .status
        .start_time
        .as_ref()
        .or(w.status.pending_create.as_ref().map(|p| &p.started_at))
        .map(|t| t.0.as_second())
        .unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let mut token = None;
    for _ in 0..MAX_SNAPSHOT_PAGES {
        let req = plan::search_snapshots(&w.obj.spec, since, token);
        let resp = hbr.search_historical_snapshots(&req).await?;
        let ids = plan::historical_snapshot_ids(&resp.snapshots, job_id);
        if !ids.is_empty() {
            return Ok(ids);
        }
        token = resp.next_token.filter(|t| !t.is_empty());
        if token.is_none() || resp.snapshots.is_empty() {
            break;
        }
    }
    Ok(Vec::new())
}

/// The `FetchSnapshots` step: the ids of an ended job looked up again (an earlier lookup
/// failed or found none yet); only the ids change.
pub(super) async fn fetch_snapshots(w: &mut Work<'_>, hbr: &dyn HbrApi, job_id: &str) -> Outcome {
    match lookup_snapshots(w, hbr, job_id).await {
        Ok(ids) => w.status.snapshot_ids = ids,
        Err(e) => return w.cloud_error(e),
    }
    let after = if w.status.snapshot_ids.is_empty() {
        w.timing.wait
    } else {
        w.timing.resync
    };
    // Conditions are unchanged (the job's terminal outcome); only the ids are new.
    Outcome::fields(Next::After(after))
}
