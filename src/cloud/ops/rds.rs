//! ApsaraDB RDS backups: the wire parameters of the backup requests and [`RdsApi`] over
//! [`ProductClient`], with the shared observation of backup tasks.

use std::time::Duration;

use async_trait::async_trait;

use super::super::api::listed;
use super::super::api::*;
use super::super::client::ProductClient;
use super::super::error::CloudError;
use super::super::params::Params;
use super::super::retry::Idempotency;
use super::{ToParams, check_range};

pub(super) fn owner_params(p: &mut Params, o: &RdsOwner) {
    p.opt_int("OwnerId", o.owner_id)
        .opt_str("OwnerAccount", o.owner_account.as_deref())
        .opt_int("ResourceOwnerId", o.resource_owner_id)
        .opt_str("ResourceOwnerAccount", o.resource_owner_account.as_deref());
}

impl ToParams for CreateBackupRequest {
    const ACTION: &'static str = "CreateBackup";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .comma_list("DBName", &self.db_names)
            .opt_str("BackupStrategy", self.backup_strategy.as_deref())
            .opt_str("BackupMethod", self.backup_method.as_deref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_int("BackupRetentionPeriod", self.backup_retention_period);
        owner_params(&mut p, &self.owner);
        p
    }
    /// No idempotency token: a repeat after a timeout/5xx could create a second backup.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Unsafe
    }
}

impl ToParams for DescribeBackupTasksRequest {
    const ACTION: &'static str = "DescribeBackupTasks";
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("BackupJobId", self.backup_job_id.as_deref())
            .opt_str("BackupJobStatus", self.backup_job_status.as_deref())
            .opt_str("BackupMode", self.backup_mode.as_deref())
            .opt_str("ClientToken", self.client_token.as_deref())
            .opt_str("Flag", self.flag.as_deref());
        owner_params(&mut p, &self.owner);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DescribeBackupsRequest {
    const ACTION: &'static str = "DescribeBackups";
    fn validate(&self) -> Result<(), String> {
        check_range("PageNumber", self.page_number, 1, u32::MAX)?;
        check_range("PageSize", self.page_size, 1, 100)
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .opt_str("BackupId", self.backup_id.as_deref())
            .opt_str("BackupStatus", self.backup_status.as_deref())
            .opt_str("BackupMode", self.backup_mode.as_deref())
            .opt_str("BackupType", self.backup_type.as_deref())
            .opt_str("StartTime", self.start_time.as_deref())
            .opt_str("EndTime", self.end_time.as_deref())
            .opt_int("PageNumber", self.page_number.map(i64::from))
            .opt_int("PageSize", self.page_size.map(i64::from));
        owner_params(&mut p, &self.owner);
        p
    }
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

impl ToParams for DeleteBackupRequest {
    const ACTION: &'static str = "DeleteBackup";
    fn validate(&self) -> Result<(), String> {
        match self.backup_ids.len() {
            0 => Err("at least one BackupId is required".to_string()),
            n if n > 100 => Err(format!("at most 100 BackupIds per call, got {n}")),
            _ => Ok(()),
        }
    }
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.str("DBInstanceId", &self.db_instance_id)
            .str("BackupId", &self.backup_ids.join(","));
        owner_params(&mut p, &self.owner);
        p
    }
    /// Deleting twice yields NotFound, which callers treat as done.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }
}

rpc_table!(RdsApi {
    create_backup => CreateBackupRequest => CreateBackupResponse;
    describe_backup_tasks => DescribeBackupTasksRequest => DescribeBackupTasksResponse;
    describe_backups => DescribeBackupsRequest => DescribeBackupsResponse;
    delete_backup => DeleteBackupRequest => DeleteBackupResponse;
}
    async fn observe_task(
        &self,
        instance: &str,
        job_id: &str,
        max_age: Duration,
    ) -> Result<Option<RdsBackupJob>, CloudError> {
        let fetch = |ids: Vec<String>| async move {
            let mut found = Vec::new();
            // One id per call (the observer's limit for RDS): the first call's token is paid.
            for (i, id) in ids.into_iter().enumerate() {
                let req = DescribeBackupTasksRequest::by_id(instance, &id);
                let resp = listed(if i == 0 {
                    self.run_paid::<_, DescribeBackupTasksResponse>(&req).await
                } else {
                    self.describe_backup_tasks(&req).await
                })?;
                found.extend(
                    resp.items
                        .into_iter()
                        .filter(|t| t.backup_job_id == id)
                        .map(|t| (id.clone(), t)),
                );
            }
            Ok(found)
        };
        let observer = &self.shared.observers.rds_tasks;
        self.observed(observer, instance, job_id, max_age, fetch)
            .await
    }
);
