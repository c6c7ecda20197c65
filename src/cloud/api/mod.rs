//! Typed operations: one request/response pair per API action, and one trait per product.
//!
//! Requests hold every parameter of the API reference; optional parameters are `Option`s
//! (or empty `Vec`s) and are left out of the wire request when unset. Responses hold the
//! documented fields; unknown fields are ignored, and numbers/booleans are accepted both as
//! JSON numbers/booleans and as strings (RDS sends some paging numbers as strings).

pub mod dbs;
pub mod hbr;
pub mod rds;

pub(crate) mod de;

use async_trait::async_trait;

use super::CloudError;

pub use dbs::*;
pub use hbr::*;
pub use rds::*;

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
}
