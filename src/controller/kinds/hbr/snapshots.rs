//! The snapshots of an ended job: `UDM_ECS` with `DescribeUdmSnapshots`, `ECS_FILE` with
//! `SearchHistoricalSnapshots` (see [`plan::snapshots_findable`]). One lookup, used by
//! `HbrBackupJob` (its `status.snapshotIds`) and by `HbrRestoreJob` (the snapshot to restore).

use super::Work;
use super::plan::{self, JobSnapshot};
use crate::cloud::{CloudError, HbrApi};
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::{HbrBackupJobSpec, HbrSourceType};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The snapshot ids of the tracked job (sorted, deduplicated), searched from its start (or
/// its create intent) to its end ([`job_snapshots`]).
pub(super) async fn lookup_snapshots(
    w: &Work<'_>,
    hbr: &dyn HbrApi,
    job_id: &str,
) -> std::result::Result<Vec<String>, CloudError> {
    let now = jiff::Timestamp::now().as_second();
    let since = w
        .status
        .start_time
        .as_ref()
        .or(w.status.pending_create.as_ref().map(|p| &p.started_at))
        .map_or(now, |t| t.0.as_second());
    let until = ended_by(w.status.completion_time.as_ref(), now);
    let found = job_snapshots(hbr, &w.obj.spec, job_id, since, until).await?;
    Ok(plan::snapshot_ids(&found))
}

/// The end of a snapshot search window: the job's completion, or now when that is later or
/// unknown (unix seconds).
pub(crate) fn ended_by(completion: Option<&Time>, now: i64) -> i64 {
    completion.map_or(now, |t| t.0.as_second()).max(now)
}

/// Pages of `SearchHistoricalSnapshots` searched for the snapshot of an `ECS_FILE` job.
const MAX_SNAPSHOT_PAGES: u32 = 20;

/// The snapshots `job_id` (a job of `spec`) made, in the cloud's order; `since` and `until`
/// (unix seconds) bound when it ran. The one lookup of the backup kind and of `HbrRestoreJob`:
/// `UDM_ECS` with `DescribeUdmSnapshots` (by job id); otherwise with
/// `SearchHistoricalSnapshots` (the job's vault and instance, completed since `since`), page
/// after page until the job's snapshots show up (see [`plan::snapshots_findable`]).
pub(crate) async fn job_snapshots(
    hbr: &dyn HbrApi,
    spec: &HbrBackupJobSpec,
    job_id: &str,
    since: i64,
    until: i64,
) -> std::result::Result<Vec<JobSnapshot>, CloudError> {
    if spec.source_type == HbrSourceType::UdmEcs {
        let req = plan::describe_snapshots(spec, job_id, since, until);
        let resp = hbr.describe_udm_snapshots(&req).await?;
        return Ok(plan::udm_job_snapshots(&resp.snapshots, spec, job_id));
    }
    let mut token = None;
    for _ in 0..MAX_SNAPSHOT_PAGES {
        let req = plan::search_snapshots(spec, since, token);
        let resp = hbr.search_historical_snapshots(&req).await?;
        let found = plan::historical_job_snapshots(&resp.snapshots, spec, job_id);
        if !found.is_empty() {
            return Ok(found);
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
