//! Cloud Backup (HBR) jobs: the wire parameters of the job and snapshot requests and
//! [`HbrApi`] over [`ProductClient`], with the shared observation of jobs.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::super::api::listed;
use super::super::api::*;
use super::super::client::ProductClient;
use super::super::error::CloudError;
use super::super::params::{Location, Params};
use super::super::retry::Idempotency;
use super::{ToParams, check_range};

impl ToParams for CreateBackupJobRequest {
    const ACTION: &'static str = "CreateBackupJob";
    fn params(&self) -> Params {
        let mut p = Params::new();
        let strings =
            |v: &Vec<String>| Value::Array(v.iter().cloned().map(Value::String).collect());
        p.opt_str("JobName", self.job_name.as_deref())
            .str("SourceType", &self.source_type)
            .int("Retention", self.retention)
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_json(Location::Query, "Detail", self.detail.as_ref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("SpeedLimit", self.speed_limit.as_deref())
            .opt_json(Location::Query, "Options", self.options.as_ref())
            .opt_json(
                Location::Query,
                "Include",
                self.include.as_ref().map(strings).as_ref(),
            )
            .opt_json(
                Location::Query,
                "Exclude",
                self.exclude.as_ref().map(strings).as_ref(),
            )
            .opt_str("ClusterId", self.cluster_id.as_deref())
            .opt_json(
                Location::Query,
                "ContainerResources",
                self.container_resources.as_ref(),
            )
            .opt_bool("InitiatedByAck", self.initiated_by_ack)
            .opt_str("ContainerClusterId", self.container_cluster_id.as_deref())
            .opt_str("CrossAccountType", self.cross_account_type.as_deref())
            .opt_int("CrossAccountUserId", self.cross_account_user_id)
            .opt_str(
                "CrossAccountRoleName",
                self.cross_account_role_name.as_deref(),
            );
        p
    }
    /// No idempotency token: never repeated after a timeout/5xx.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Unsafe
    }
}

/// `Filters.N.Key` / `Filters.N.Operator` / `Filters.N.Values.M` (left out when empty).
pub(super) fn hbr_filters(p: &mut Params, filters: &[HbrFilter]) {
    let filters: Vec<Value> = filters
        .iter()
        .map(|f| {
            let mut m = serde_json::Map::new();
            m.insert("Key".into(), Value::String(f.key.clone()));
            if let Some(op) = &f.operator {
                m.insert("Operator".into(), Value::String(op.clone()));
            }
            m.insert(
                "Values".into(),
                Value::Array(f.values.iter().cloned().map(Value::String).collect()),
            );
            Value::Object(m)
        })
        .collect();
    if !filters.is_empty() {
        p.repeat_list(Location::Query, "Filters", &Value::Array(filters));
    }
}

impl ToParams for DescribeBackupJobs2Request {
    const ACTION: &'static str = "DescribeBackupJobs2";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 99)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("SourceType", self.source_type.as_deref());
        hbr_filters(&mut p, &self.filters);
        p.opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from))
            .opt_str("SortDirection", self.sort_direction.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for CancelBackupJobRequest {
    const ACTION: &'static str = "CancelBackupJob";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("JobId", &self.job_id)
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeUdmSnapshotsRequest {
    const ACTION: &'static str = "DescribeUdmSnapshots";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("SourceType", &self.source_type)
            .int("StartTime", self.start_time)
            .int("EndTime", self.end_time)
            .str("UdmRegionId", &self.udm_region_id)
            .opt_str("JobId", self.job_id.as_deref())
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_str("DiskId", self.disk_id.as_deref());
        if !self.snapshot_ids.is_empty() {
            let ids = Value::Array(
                self.snapshot_ids
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            );
            p.json(Location::Body, "SnapshotIds", &ids);
        }
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for SearchHistoricalSnapshotsRequest {
    const ACTION: &'static str = "SearchHistoricalSnapshots";
    fn validate(&self) -> Result<(), String> {
        match self.limit {
            Some(l) if l < 0 => Err(format!("Limit must not be negative, got {l}")),
            _ => Ok(()),
        }
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.opt_str("SourceType", self.source_type.as_deref());
        if !self.query.is_empty() {
            // The SDK sends the array as one JSON string ("Query", style json).
            let query = serde_json::to_value(&self.query).unwrap_or(Value::Array(Vec::new()));
            p.json(Location::Query, "Query", &query);
        }
        p.opt_int("Limit", self.limit)
            .opt_str("NextToken", self.next_token.as_deref())
            .opt_str("SortBy", self.sort_by.as_deref())
            .opt_str("Order", self.order.as_deref())
            .opt_str("Edition", self.edition.as_deref());
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DeleteSnapshotRequest {
    const ACTION: &'static str = "DeleteSnapshot";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("SnapshotId", &self.snapshot_id)
            .opt_str("SourceType", self.source_type.as_deref())
            .opt_str("VaultId", self.vault_id.as_deref())
            .opt_str("InstanceId", self.instance_id.as_deref())
            .opt_str("ClientId", self.client_id.as_deref())
            .opt_str("Token", self.token.as_deref())
            .opt_bool("Force", self.force);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

rpc_table!(HbrApi {
    create_backup_job => CreateBackupJobRequest => CreateBackupJobResponse;
    describe_backup_jobs2 => DescribeBackupJobs2Request => DescribeBackupJobs2Response;
    cancel_backup_job => CancelBackupJobRequest => CancelBackupJobResponse,
        then |c, r| c.shared.observers.hbr_jobs.invalidate(&r.job_id);
    describe_udm_snapshots => DescribeUdmSnapshotsRequest => DescribeUdmSnapshotsResponse;
    search_historical_snapshots => SearchHistoricalSnapshotsRequest => SearchHistoricalSnapshotsResponse;
    delete_snapshot => DeleteSnapshotRequest => DeleteSnapshotResponse;
}
    async fn observe_job(
        &self,
        source_type: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<HbrBackupJob>, CloudError> {
        let fetch = |ids: Vec<String>| async move {
            let req = DescribeBackupJobs2Request::by_ids(source_type, &ids);
            let resp = listed(self.run_paid::<_, DescribeBackupJobs2Response>(&req).await)?;
            Ok(resp
                .backup_jobs
                .into_iter()
                .map(|j| (j.job_id.clone(), j))
                .collect())
        };
        let observer = &self.shared.observers.hbr_jobs;
        self.observed(observer, source_type, job_id, max_age, fetch)
            .await
    }
);
