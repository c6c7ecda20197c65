//! ApsaraDB RDS `2014-08-15`: the product's resources and its action dispatch.
//!
//! The pieces: [`RdsInstance`] (`instance`: instances, their attributes and status),
//! [`RdsTask`] (`task`: a `CreateBackup` task and the progress of its backup set), `backups`
//! (`CreateBackup`, `DescribeBackupTasks`, `DescribeBackups`, `DeleteBackup`) and [`restore`]
//! (`CloneDBInstance`, `RestoreTable` and the calls that track them; also reachable as
//! [`crate::rds_restore`]). The public items of the pieces are re-exported here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, Params, iso_seconds};
use crate::scenario::{Scenario, target_matches};

mod backups;
mod instance;
pub mod restore;
mod task;

pub use backups::valid_db_name;
pub use instance::RdsInstance;
pub use task::{RdsTask, TaskProgress};

/// Manual backups allowed per instance per UTC day.
pub const DAILY_BACKUP_LIMIT: usize = 20;

/// All RDS resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RdsState {
    /// Instances by id.
    pub instances: BTreeMap<String, RdsInstance>,
    /// Backup tasks, oldest first.
    pub tasks: Vec<RdsTask>,
    /// Next `BackupJobId`.
    pub next_job_id: u64,
    /// Next `BackupId`.
    pub next_backup_id: u64,
    /// Restore state: table-restore tasks, idempotency tokens, id counters.
    #[serde(default)]
    pub restore: restore::RestoreBook,
}

pub(crate) fn invalid(k: &str) -> ApiError {
    ApiError::product(
        400,
        "InvalidParameter",
        format!("The specified parameter \"{k}\" is not valid."),
    )
}

pub(crate) fn instance_not_found(status: u16) -> ApiError {
    ApiError::product(
        status,
        "InvalidDBInstanceId.NotFound",
        "The DBInstanceId provided does not exist in records.",
    )
}

impl RdsState {
    /// Seeds running MySQL instances.
    pub fn seeded(ids: &[String]) -> Self {
        let instances = ids
            .iter()
            .map(|id| (id.clone(), RdsInstance::running(id)))
            .collect();
        Self {
            instances,
            tasks: Vec::new(),
            next_job_id: 5_073_731,
            next_backup_id: 1_530_000_001,
            restore: restore::RestoreBook::default(),
        }
    }

    /// Adds finished manual backup sets `(instance, BackupId)` made a day before `now` (one
    /// task each); sets of instances that are not seeded are left out.
    pub fn with_sets(mut self, sets: &[(String, u64)], now: i64) -> Self {
        for (instance, backup_id) in sets {
            if !self.instances.contains_key(instance) {
                continue;
            }
            let job_id = self.next_job_id;
            self.next_job_id += 1;
            self.next_backup_id = self.next_backup_id.max(backup_id.saturating_add(1));
            self.tasks.push(RdsTask {
                job_id,
                backup_id: *backup_id,
                instance_id: instance.clone(),
                created_ms: now - 86_400_000,
                duration_ms: 60_000,
                method: "Physical".into(),
                strategy: None,
                db_names: None,
                backup_type: "FullBackup".into(),
                retention_days: 7,
                fail: false,
                deleted: false,
            });
        }
        self
    }

    /// Applies a scenario to an existing resource; returns false when nothing matched.
    pub fn apply_now(&mut self, s: &Scenario, now: i64) -> bool {
        match s {
            Scenario::RdsTaskFailure { target } => {
                for t in self.tasks.iter_mut() {
                    let job = t.job_id.to_string();
                    if target.is_some()
                        && target_matches(target, &[&job, &t.instance_id])
                        && !t.terminal(now)
                    {
                        t.fail = true;
                        return true;
                    }
                }
                false
            }
            Scenario::RdsInstanceStatus {
                instance_id,
                status,
            } => match self.instances.get_mut(instance_id) {
                Some(i) => {
                    i.status.clone_from(status);
                    true
                }
                None => false,
            },
            _ => self.apply_restore_now(s, now),
        }
    }

    /// JSON view for the admin API.
    pub fn view(&self, now: i64) -> Value {
        let tasks: Vec<Value> = self
            .tasks
            .iter()
            .map(|t| {
                let pr = t.progress(now);
                json!({
                    "BackupJobId": t.job_id.to_string(),
                    "BackupId": t.backup_id.to_string(),
                    "DBInstanceId": t.instance_id,
                    "BackupStatus": pr.status,
                    "Process": pr.process,
                    "BackupMethod": t.method,
                    "CreatedTime": iso_seconds(t.created_ms),
                    "Deleted": t.deleted,
                })
            })
            .collect();
        let instances: serde_json::Map<String, Value> = self
            .instances
            .iter()
            .map(|(k, i)| {
                let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
                if let Some(m) = v.as_object_mut() {
                    // A failed clone that is gone stays visible here as `Released`.
                    m.insert(
                        "status".into(),
                        json!(i.status_at(now).unwrap_or("Released")),
                    );
                }
                (k.clone(), v)
            })
            .collect();
        json!({
            "instances": instances,
            "tasks": tasks,
            "history_tasks": self.restore.view(now),
        })
    }

    /// Dispatches one RDS action.
    pub fn handle(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CreateBackup" => self.create_backup(p, now, job_ms, pending),
            "DescribeBackupTasks" => self.describe_backup_tasks(p, now),
            "DescribeBackups" => self.describe_backups(p, now),
            "DeleteBackup" => self.delete_backup(p, now),
            _ => return self.handle_restore(action, p, now, job_ms, pending),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
