//! The requests of the lookups (pure): the tracked job by id, the jobs that may be ours after a
//! crash (by name), and the snapshots an ended job made; and the picks among their answers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cloud::api::hbr::{
    DescribeBackupJobs2Request, DescribeUdmSnapshotsRequest, HbrBackupJob as CloudJob, HbrFilter,
    HistoricalSnapshot, SearchHistoricalSnapshotsRequest, SnapshotQuery, UdmSnapshot,
};
use crate::crd::{HbrBackupJobSpec, HbrSourceType};

/// Allowed clock difference between the operator and the cloud when searching by creation time.
pub const CLOCK_SLACK_SECONDS: i64 = 15 * 60;

/// `DescribeBackupJobs2` tracking one job by id.
pub fn describe_by_id(source_type: &str, job_id: &str) -> DescribeBackupJobs2Request {
    DescribeBackupJobs2Request {
        source_type: Some(source_type.to_string()),
        filters: vec![HbrFilter {
            key: "JobId".into(),
            operator: Some("EQUAL".into()),
            values: vec![job_id.to_string()],
        }],
        page_number: Some(1),
        page_size: Some(10),
        sort_direction: None,
        edition: None,
    }
}

/// `DescribeBackupJobs2` listing the jobs that may be ours after a crash: same source type
/// (and instance), created at or after the intent (minus clock slack). Page `page` (1-based).
pub fn describe_candidates(
    spec: &HbrBackupJobSpec,
    started_at: &Time,
    page: u32,
) -> DescribeBackupJobs2Request {
    let since = started_at.0.as_second() - CLOCK_SLACK_SECONDS;
    let mut filters = vec![HbrFilter {
        key: "CreatedTime".into(),
        operator: Some("GREATER_THAN_OR_EQUAL".into()),
        values: vec![since.to_string()],
    }];
    if let Some(i) = &spec.instance_id {
        filters.push(HbrFilter {
            key: "InstanceId".into(),
            operator: Some("EQUAL".into()),
            values: vec![i.clone()],
        });
    }
    DescribeBackupJobs2Request {
        source_type: Some(spec.source_type.as_str().to_string()),
        filters,
        page_number: Some(page),
        page_size: Some(99),
        sort_direction: Some("DESCEND".into()),
        edition: None,
    }
}

/// The job named `name` among `jobs` (the newest if, against all odds, several match).
pub fn find_by_name<'a>(jobs: &'a [CloudJob], name: &str) -> Option<&'a CloudJob> {
    jobs.iter()
        .filter(|j| j.job_name.as_deref() == Some(name))
        .max_by_key(|j| j.created_time.unwrap_or(0))
}

/// The job with id `id` among `jobs`.
pub fn find_by_id<'a>(jobs: &'a [CloudJob], id: &str) -> Option<&'a CloudJob> {
    jobs.iter().find(|j| j.job_id == id)
}

/// `DescribeUdmSnapshots` for a `UDM_ECS` job.
pub fn describe_snapshots(
    spec: &HbrBackupJobSpec,
    job_id: &str,
    since: i64,
    until: i64,
) -> DescribeUdmSnapshotsRequest {
    DescribeUdmSnapshotsRequest {
        source_type: HbrSourceType::UdmEcs.as_str().to_string(),
        start_time: since - CLOCK_SLACK_SECONDS,
        end_time: until + CLOCK_SLACK_SECONDS,
        udm_region_id: spec.region.clone(),
        job_id: Some(job_id.to_string()),
        instance_id: spec.instance_id.clone(),
        disk_id: None,
        snapshot_ids: Vec::new(),
    }
}

/// Rows per `SearchHistoricalSnapshots` page.
pub const SEARCH_PAGE_SIZE: i64 = 100;

/// `SearchHistoricalSnapshots` for the snapshot of an `ECS_FILE` job: the snapshots in the job's
/// vault, of its instance, completed at or after `since` (unix seconds, minus clock slack);
/// `next_token` of the previous page. The API reference lists no query field for the job id,
/// so the caller keeps the snapshots whose `JobId` is the job's ([`historical_job_snapshots`]).
pub fn search_snapshots(
    spec: &HbrBackupJobSpec,
    since: i64,
    next_token: Option<String>,
) -> SearchHistoricalSnapshotsRequest {
    let mut query = vec![SnapshotQuery::term(
        "VaultId",
        spec.vault_id.as_deref().unwrap_or_default(),
    )];
    if let Some(i) = &spec.instance_id {
        query.push(SnapshotQuery::term("InstanceId", i));
    }
    query.push(SnapshotQuery {
        field: "CompleteTime".into(),
        value: serde_json::Value::String((since - CLOCK_SLACK_SECONDS).to_string()),
        operation: "GREATER_THAN_OR_EQUAL".into(),
    });
    SearchHistoricalSnapshotsRequest {
        source_type: Some(spec.source_type.as_str().to_string()),
        query,
        limit: Some(SEARCH_PAGE_SIZE),
        next_token,
        ..SearchHistoricalSnapshotsRequest::default()
    }
}

/// A snapshot a job made, with what a restore of it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSnapshot {
    /// `SnapshotId`.
    pub id: String,
    /// `SnapshotHash`.
    pub hash: Option<String>,
    /// `VaultId`.
    pub vault_id: Option<String>,
    /// The instance the snapshot was taken of, when known.
    pub instance_id: Option<String>,
    /// The `JobId` the cloud reports for it (`DescribeUdmSnapshots` may leave it out: asked
    /// by job id, such a row is the job's).
    pub job_id: Option<String>,
}

/// The snapshots `job_id` made in a `SearchHistoricalSnapshots` page, in the page's order
/// (rows without an id are left out); the vault is the job's where the row names none. A
/// snapshot without a `JobId` is never taken: the search spans a whole vault and instance,
/// and deleting or restoring another job's snapshot would lose data.
pub fn historical_job_snapshots(
    snapshots: &[HistoricalSnapshot],
    spec: &HbrBackupJobSpec,
    job_id: &str,
) -> Vec<JobSnapshot> {
    snapshots
        .iter()
        .filter(|s| s.job_id.as_deref() == Some(job_id) && !s.snapshot_id.is_empty())
        .map(|s| JobSnapshot {
            id: s.snapshot_id.clone(),
            hash: s.snapshot_hash.clone(),
            vault_id: s.vault_id.clone().or_else(|| spec.vault_id.clone()),
            instance_id: s.instance_id.clone(),
            job_id: s.job_id.clone(),
        })
        .collect()
}

/// The ids of `found` (sorted, deduplicated): what `status.snapshotIds` records.
pub fn snapshot_ids(found: &[JobSnapshot]) -> Vec<String> {
    let mut ids: Vec<String> = found.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Whether the operator can look up the snapshots of a job of this source type: `UDM_ECS`
/// with `DescribeUdmSnapshots`, `ECS_FILE` with `SearchHistoricalSnapshots`. `CONTAINER` has
/// no such call: the documented `SourceType` values of `SearchHistoricalSnapshots` are
/// `ECS_FILE`, `OSS` and `NAS`, and its query fields name no container cluster.
pub fn snapshots_findable(source_type: HbrSourceType) -> bool {
    matches!(source_type, HbrSourceType::UdmEcs | HbrSourceType::EcsFile)
}

/// The snapshots of `job_id` in a `DescribeUdmSnapshots` answer (asked by `JobId`: a row
/// without one is the job's), in the answer's order (rows without an id are left out); vault
/// and instance are the job's where the row names none.
pub fn udm_job_snapshots(
    snapshots: &[UdmSnapshot],
    spec: &HbrBackupJobSpec,
    job_id: &str,
) -> Vec<JobSnapshot> {
    snapshots
        .iter()
        .filter(|s| s.job_id.as_deref().is_none_or(|j| j == job_id) && !s.snapshot_id.is_empty())
        .map(|s| JobSnapshot {
            id: s.snapshot_id.clone(),
            hash: s.snapshot_hash.clone(),
            vault_id: spec.vault_id.clone(),
            instance_id: s.instance_id.clone().or_else(|| spec.instance_id.clone()),
            job_id: s.job_id.clone(),
        })
        .collect()
}
