//! The read-only RDS calls the steps share: the running manual tasks, one task, one set.

use crate::cloud::api::{
    BackupMode, DescribeBackupTasksRequest, DescribeBackupsRequest, RdsApi,
    RdsBackup as CloudBackupSet, RdsBackupJob,
};
use crate::cloud::{CloudError, ErrorClass};

/// Lists the running manual tasks of the instance.
pub(super) async fn running_tasks(
    rds: &dyn RdsApi,
    instance: &str,
) -> std::result::Result<Vec<RdsBackupJob>, CloudError> {
    rds.describe_backup_tasks(&DescribeBackupTasksRequest {
        db_instance_id: instance.to_string(),
        backup_mode: Some(BackupMode::Manual.as_str().into()),
        ..DescribeBackupTasksRequest::default()
    })
    .await
    .map(|r| r.items)
}

/// Describes one task of the instance; `None` when it is not listed.
pub(super) async fn describe_task(
    rds: &dyn RdsApi,
    instance: &str,
    job_id: &str,
) -> std::result::Result<Option<RdsBackupJob>, CloudError> {
    let items = rds
        .describe_backup_tasks(&DescribeBackupTasksRequest {
            db_instance_id: instance.to_string(),
            backup_job_id: Some(job_id.to_string()),
            ..DescribeBackupTasksRequest::default()
        })
        .await?
        .items;
    Ok(items.into_iter().find(|t| t.backup_job_id == job_id))
}

/// Describes one backup set of the instance; `None` when it is not listed (or not found).
pub(super) async fn describe_set(
    rds: &dyn RdsApi,
    instance: &str,
    backup_id: &str,
) -> std::result::Result<Option<CloudBackupSet>, CloudError> {
    match rds
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: instance.to_string(),
            backup_id: Some(backup_id.to_string()),
            ..DescribeBackupsRequest::default()
        })
        .await
    {
        Ok(r) => Ok(r.items.into_iter().find(|s| s.backup_id == backup_id)),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
