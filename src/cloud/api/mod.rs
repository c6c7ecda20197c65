//! Typed operations: one request/response pair per API action, and one trait per product.
//!
//! Requests hold every parameter of the API reference; optional parameters are `Option`s
//! (or empty `Vec`s) and are left out of the wire request when unset. Responses hold the
//! documented fields; unknown fields are ignored, and numbers/booleans are accepted both as
//! JSON numbers/booleans and as strings (RDS sends some paging numbers as strings).

pub mod dbs;
pub mod dbs_restore;
pub mod hbr;
pub mod hbr_restore;
pub mod rds;
pub mod rds_restore;

pub(crate) mod de;

use std::time::Duration;

use async_trait::async_trait;

use super::{CloudError, ErrorClass};

/// A describe's answer, with a `NotFound` error read as "nothing listed" (how the observation
/// methods report an item the cloud does not know: `None`).
pub(crate) fn listed<T: Default>(answer: Result<T, CloudError>) -> Result<T, CloudError> {
    match answer {
        Err(e) if e.class() == ErrorClass::NotFound => Ok(T::default()),
        answer => answer,
    }
}

pub use dbs::*;
pub use dbs_restore::*;
pub use hbr::*;
pub use hbr_restore::*;
pub use rds::*;
pub use rds_restore::*;

/// Database Backup (DBS, `2019-03-06`).
#[async_trait]
pub trait DbsApi: Send + Sync {
    /// `CreateAndStartBackupPlan`: create, configure and start a backup plan.
    async fn create_and_start_backup_plan(
        &self,
        req: &CreateAndStartBackupPlanRequest,
    ) -> Result<CreateAndStartBackupPlanResponse, CloudError>;
    /// `StartBackupPlan`.
    async fn start_backup_plan(
        &self,
        req: &StartBackupPlanRequest,
    ) -> Result<StartBackupPlanResponse, CloudError>;
    /// `StopBackupPlan` (`StopMethod=ALL` pauses the plan).
    async fn stop_backup_plan(
        &self,
        req: &StopBackupPlanRequest,
    ) -> Result<StopBackupPlanResponse, CloudError>;
    /// `ReleaseBackupPlan` (`InvalidJobId` = already gone → [`super::ErrorClass::NotFound`]).
    async fn release_backup_plan(
        &self,
        req: &ReleaseBackupPlanRequest,
    ) -> Result<ReleaseBackupPlanResponse, CloudError>;
    /// `ConfigureBackupPlan`.
    async fn configure_backup_plan(
        &self,
        req: &ConfigureBackupPlanRequest,
    ) -> Result<ConfigureBackupPlanResponse, CloudError>;
    /// `ModifyBackupPlanName`.
    async fn modify_backup_plan_name(
        &self,
        req: &ModifyBackupPlanNameRequest,
    ) -> Result<ModifyBackupPlanNameResponse, CloudError>;
    /// `DescribeBackupPlanList` (0-based `PageNum`).
    async fn describe_backup_plan_list(
        &self,
        req: &DescribeBackupPlanListRequest,
    ) -> Result<DescribeBackupPlanListResponse, CloudError>;
    /// `DescribeFullBackupList` (0-based `PageNum`).
    async fn describe_full_backup_list(
        &self,
        req: &DescribeFullBackupListRequest,
    ) -> Result<DescribeFullBackupListResponse, CloudError>;

    /// Observes plan `id` in `region` (`None`: not listed, or `NotFound`). Here one `DescribeBackupPlanList`
    /// per call; the production client answers from its shared observation (answers at most
    /// `max_age` old, describes batched: `cloud::observe`).
    async fn observe_plan(
        &self,
        region: &str,
        id: &str,
        max_age: Duration,
    ) -> Result<Option<BackupPlanDetail>, CloudError> {
        let _ = max_age;
        let req = DescribeBackupPlanListRequest::by_ids(region, &[id.to_string()]);
        let resp = listed(self.describe_backup_plan_list(&req).await)?;
        Ok(resp.items.into_iter().find(|p| p.backup_plan_id == id))
    }
}

/// ApsaraDB RDS (`2014-08-15`).
#[async_trait]
pub trait RdsApi: Send + Sync {
    /// `CreateBackup` (not idempotent: never retried after a timeout or 5xx).
    async fn create_backup(
        &self,
        req: &CreateBackupRequest,
    ) -> Result<CreateBackupResponse, CloudError>;
    /// `DescribeBackupTasks`.
    async fn describe_backup_tasks(
        &self,
        req: &DescribeBackupTasksRequest,
    ) -> Result<DescribeBackupTasksResponse, CloudError>;
    /// `DescribeBackups` (1-based `PageNumber`).
    async fn describe_backups(
        &self,
        req: &DescribeBackupsRequest,
    ) -> Result<DescribeBackupsResponse, CloudError>;
    /// `DeleteBackup`.
    async fn delete_backup(
        &self,
        req: &DeleteBackupRequest,
    ) -> Result<DeleteBackupResponse, CloudError>;

    /// Observes task `job_id` of `instance` (`None`: not listed, or `NotFound`). Here one
    /// `DescribeBackupTasks` per call; the production client answers from its shared
    /// observation (answers at most `max_age` old, one call in flight per instance:
    /// `cloud::observe`).
    async fn observe_task(
        &self,
        instance: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<RdsBackupJob>, CloudError> {
        let _ = max_age;
        let req = DescribeBackupTasksRequest::by_id(instance, job_id);
        let resp = listed(self.describe_backup_tasks(&req).await)?;
        Ok(resp.items.into_iter().find(|t| t.backup_job_id == job_id))
    }
}

/// Cloud Backup (HBR, `2017-09-08`).
#[async_trait]
pub trait HbrApi: Send + Sync {
    /// `CreateBackupJob` (no idempotency token: never retried after a timeout or 5xx).
    async fn create_backup_job(
        &self,
        req: &CreateBackupJobRequest,
    ) -> Result<CreateBackupJobResponse, CloudError>;
    /// `DescribeBackupJobs2` (filters, 1-based paging, page size ≤ 99).
    async fn describe_backup_jobs2(
        &self,
        req: &DescribeBackupJobs2Request,
    ) -> Result<DescribeBackupJobs2Response, CloudError>;
    /// `CancelBackupJob`.
    async fn cancel_backup_job(
        &self,
        req: &CancelBackupJobRequest,
    ) -> Result<CancelBackupJobResponse, CloudError>;
    /// `DescribeUdmSnapshots`.
    async fn describe_udm_snapshots(
        &self,
        req: &DescribeUdmSnapshotsRequest,
    ) -> Result<DescribeUdmSnapshotsResponse, CloudError>;
    /// `SearchHistoricalSnapshots` (the snapshots of `ECS_FILE`, `OSS` and `NAS` backups,
    /// `NextToken` paging).
    async fn search_historical_snapshots(
        &self,
        req: &SearchHistoricalSnapshotsRequest,
    ) -> Result<SearchHistoricalSnapshotsResponse, CloudError>;
    /// `DeleteSnapshot`.
    async fn delete_snapshot(
        &self,
        req: &DeleteSnapshotRequest,
    ) -> Result<DeleteSnapshotResponse, CloudError>;

    /// Observes job `job_id` of `source_type` (`None`: not listed, or `NotFound`). Here one
    /// `DescribeBackupJobs2` per call; the production client answers from its shared
    /// observation (answers at most `max_age` old, describes batched: `cloud::observe`).
    async fn observe_job(
        &self,
        source_type: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<HbrBackupJob>, CloudError> {
        let _ = max_age;
        let req = DescribeBackupJobs2Request::by_ids(source_type, &[job_id.to_string()]);
        let resp = listed(self.describe_backup_jobs2(&req).await)?;
        Ok(resp.backup_jobs.into_iter().find(|j| j.job_id == job_id))
    }
}

/// ApsaraDB RDS restores (`2014-08-15`): clones into a new instance, table restores into the
/// source, and the calls that check and track them.
#[async_trait]
pub trait RdsRestoreApi: Send + Sync {
    /// `CloneDBInstance` (repeated after a timeout or 5xx only with a `ClientToken`).
    async fn clone_db_instance(
        &self,
        req: &CloneDbInstanceRequest,
    ) -> Result<CloneDbInstanceResponse, CloudError>;
    /// `DescribeDBInstanceAttribute` (an unknown or released instance is
    /// `InvalidDBInstanceId.NotFound` → [`super::ErrorClass::NotFound`]).
    async fn describe_db_instance_attribute(
        &self,
        req: &DescribeDbInstanceAttributeRequest,
    ) -> Result<DescribeDbInstanceAttributeResponse, CloudError>;
    /// `DescribeDBInstances` (by tag, search key or id; `MaxResults`/`NextToken` or 1-based paging).
    async fn describe_db_instances(
        &self,
        req: &DescribeDbInstancesRequest,
    ) -> Result<DescribeDbInstancesResponse, CloudError>;
    /// `DescribeLocalAvailableRecoveryTime` (the point-in-time window).
    async fn describe_local_available_recovery_time(
        &self,
        req: &DescribeLocalAvailableRecoveryTimeRequest,
    ) -> Result<DescribeLocalAvailableRecoveryTimeResponse, CloudError>;
    /// `RestoreTable` (repeated after a timeout or 5xx only with a `ClientToken`).
    async fn restore_table(
        &self,
        req: &RestoreTableRequest,
    ) -> Result<RestoreTableResponse, CloudError>;
    /// `DescribeHistoryTasks` (the task centre; 1-based paging, page size 10–100).
    async fn describe_history_tasks(
        &self,
        req: &DescribeHistoryTasksRequest,
    ) -> Result<DescribeHistoryTasksResponse, CloudError>;
}

/// Cloud Backup restores (HBR, `2017-09-08`).
#[async_trait]
pub trait HbrRestoreApi: Send + Sync {
    /// `CreateRestoreJob` (no idempotency token: never repeated after a timeout or 5xx).
    async fn create_restore_job(
        &self,
        req: &CreateRestoreJobRequest,
    ) -> Result<CreateRestoreJobResponse, CloudError>;
    /// `DescribeRestoreJobs2` (filters, 1-based paging, page size ≤ 99).
    async fn describe_restore_jobs2(
        &self,
        req: &DescribeRestoreJobs2Request,
    ) -> Result<DescribeRestoreJobs2Response, CloudError>;
    /// `CancelRestoreJob` (an unknown job is `ResourceNotFound` → [`super::ErrorClass::NotFound`]).
    async fn cancel_restore_job(
        &self,
        req: &CancelRestoreJobRequest,
    ) -> Result<HbrAckResponse, CloudError>;
}

/// Database Backup restores (DBS, `2019-03-06`). There is no per-task cancel in the API.
#[async_trait]
pub trait DbsRestoreApi: Send + Sync {
    /// `CreateRestoreTask` (repeated after a timeout or 5xx only with a `ClientToken`).
    async fn create_restore_task(
        &self,
        req: &CreateRestoreTaskRequest,
    ) -> Result<CreateRestoreTaskResponse, CloudError>;
    /// `StartRestoreTask` (repeated after a timeout or 5xx only with a `ClientToken`; an
    /// unknown task is `InvalidJobId` → [`super::ErrorClass::NotFound`]).
    async fn start_restore_task(
        &self,
        req: &StartRestoreTaskRequest,
    ) -> Result<StartRestoreTaskResponse, CloudError>;
    /// `DescribeRestoreTaskList` (exactly one of plan id / task ids; 0-based `PageNum`).
    async fn describe_restore_task_list(
        &self,
        req: &DescribeRestoreTaskListRequest,
    ) -> Result<DescribeRestoreTaskListResponse, CloudError>;
    /// `DescribeRestoreRangeInfo` (the point-in-time window of a plan, in ms).
    async fn describe_restore_range_info(
        &self,
        req: &DescribeRestoreRangeInfoRequest,
    ) -> Result<DescribeRestoreRangeInfoResponse, CloudError>;
    /// `DescribeJobErrorCode` (why a restore task or full backup set failed).
    async fn describe_job_error_code(
        &self,
        req: &DescribeJobErrorCodeRequest,
    ) -> Result<DescribeJobErrorCodeResponse, CloudError>;
}
