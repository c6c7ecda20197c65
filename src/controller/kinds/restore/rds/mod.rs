//! `RdsRestore`: what is specific to ApsaraDB RDS restores.
//!
//! * **Clone** (`CloneDBInstance`): a new instance; exactly once through the `ClientToken`
//!   (from the object's UID) and the owner tag [`plan::OWNER_TAG`] set in the same call — after
//!   a crash the clone is found with `DescribeDBInstances(Tags)`. Tracked with
//!   `DescribeDBInstanceAttribute` until `Running`; `Deleting`/gone is a failure. Never
//!   deleted by the operator (RDS has no other way to stop a clone).
//! * **Tables** (`RestoreTable`): into the live source instance, with
//!   `overwrite.confirmTargetId` and new names; the call returns no id, so the task is found in
//!   `DescribeHistoryTasks` (type `RestoreTable`, started at or after the intent) and tracked
//!   there; the `ClientToken` makes a re-send after a lost answer harmless. Restores into one
//!   instance run one at a time. RDS has no cancel for it.

//!
//! Files: this one (the [`RestoreKind`] impl, the source and the read-only checks), `build`
//! (the requests and plans, pure) and `tasks` (finding and following the restore).

mod build;
mod tasks;

pub use build::{build, table_meta};
use tasks::{clone_gone, table_tasks};
pub use tasks::{clone_lookup, clone_state, table_lookup, table_state};

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::plan::{self, OWNER_TAG, reasons};
use super::{Cancel, Check, Lookup, Observed, Prepared, RestoreKind, Started, restore_kind};
use crate::cloud::api::{
    CloneDbInstanceRequest, DbInstanceAttribute, DescribeBackupsRequest,
    DescribeDbInstanceAttributeRequest, DescribeDbInstancesRequest,
    DescribeLocalAvailableRecoveryTimeRequest, RestoreTableRequest,
};
use crate::cloud::{CloudError, ErrorClass, Target};
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::Result;
use crate::crd::{
    PendingCreate, RdsBackup, RdsBackupPhase, RdsRestore, RdsRestoreMode, RdsRestoreSpec,
    RestorePlan, RestoreStatus,
};

restore_kind!(RdsRestore, "RdsRestore");

/// The state-changing call of an `RdsRestore`.
#[derive(Debug, Clone)]
pub enum RdsRequest {
    /// `CloneDBInstance`.
    Clone(Box<CloneDbInstanceRequest>),
    /// `RestoreTable`.
    Tables(RestoreTableRequest),
}

/// The source as resolved: the instance and a backup set or a point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// `DBInstanceId`.
    pub instance: String,
    /// `BackupId`.
    pub backup_id: Option<String>,
    /// `RestoreTime`.
    pub restore_time: Option<jiff::Timestamp>,
}

impl Source {
    fn describe(&self) -> String {
        match (&self.backup_id, self.restore_time) {
            (Some(b), _) => format!("{} backup {b}", self.instance),
            (None, Some(t)) => format!("{} at {}", self.instance, plan::rds_time(t)),
            (None, None) => self.instance.clone(),
        }
    }
}

#[async_trait]
impl RestoreKind for RdsRestore {
    type Request = RdsRequest;

    async fn prepare(
        &self,
        ctx: &Context,
        target: &Target,
        uid: &str,
    ) -> Result<Check<Prepared<RdsRequest>>> {
        let source = super::ready!(resolve_source(self, ctx).await?);
        let attr = super::ready!(check_instance(ctx, target, &source.instance).await);
        super::ready!(check_source(ctx, target, &source).await);
        if self.spec.mode == RdsRestoreMode::Tables {
            if let Some(refused) = plan::confirm_overwrite(
                self.spec.overwrite.as_ref(),
                &source.instance,
                "RDS instance",
            ) {
                return Ok(refused);
            }
            super::ready!(check_table_engine(&self.spec, &attr));
        }
        Ok(Check::Ready(build(&self.spec, &source, uid, target)))
    }

    async fn find(
        &self,
        ctx: &Context,
        target: &Target,
        plan: &RestorePlan,
        intent: &PendingCreate,
        claimed: &BTreeSet<String>,
    ) -> std::result::Result<Lookup, CloudError> {
        let api = ctx.cloud.rds_restore(target);
        match self.spec.mode {
            RdsRestoreMode::Clone => {
                let uid = self.uid().unwrap_or_default();
                let req = DescribeDbInstancesRequest {
                    region_id: target.region.clone(),
                    tags: BTreeMap::from([(OWNER_TAG.to_string(), uid)]),
                    ..DescribeDbInstancesRequest::default()
                };
                let resp = api.describe_db_instances(&req).await?;
                Ok(clone_lookup(
                    resp.items
                        .iter()
                        .map(|i| i.db_instance_id.clone())
                        .collect(),
                ))
            }
            RdsRestoreMode::Tables => {
                let instance = plan::param(plan, "DBInstanceId").unwrap_or_default();
                let mut tasks = table_tasks(ctx, target, instance, intent.started_at.0).await?;
                tasks.retain(|t| !claimed.contains(&t.task_id));
                Ok(table_lookup(&tasks))
            }
        }
    }

    async fn start(
        &self,
        ctx: &Context,
        target: &Target,
        prepared: &Prepared<RdsRequest>,
        _intent: &PendingCreate,
    ) -> std::result::Result<Option<Started>, CloudError> {
        let api = ctx.cloud.rds_restore(target);
        match &prepared.request {
            RdsRequest::Clone(req) => {
                let resp = api.clone_db_instance(req).await?;
                Ok(Some(Started {
                    restore_id: resp.db_instance_id.clone(),
                    db_instance_id: Some(resp.db_instance_id),
                    order_id: resp.order_id,
                }))
            }
            RdsRequest::Tables(req) => {
                api.restore_table(req).await?;
                Ok(None)
            }
        }
    }

    async fn observe(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        status: &RestoreStatus,
    ) -> std::result::Result<Observed, CloudError> {
        let api = ctx.cloud.rds_restore(target);
        match self.spec.mode {
            RdsRestoreMode::Clone => {
                let req = DescribeDbInstanceAttributeRequest {
                    db_instance_id: id.to_string(),
                    ..DescribeDbInstanceAttributeRequest::default()
                };
                match api.describe_db_instance_attribute(&req).await {
                    Ok(resp) => Ok(clone_state(resp.items.first())),
                    Err(e) if e.class() == ErrorClass::NotFound => Ok(clone_gone(status)),
                    Err(e) => Err(e),
                }
            }
            RdsRestoreMode::Tables => {
                let instance = status
                    .plan
                    .as_ref()
                    .and_then(|p| plan::param(p, "DBInstanceId"))
                    .unwrap_or_default()
                    .to_string();
                let since = status
                    .start_time
                    .as_ref()
                    .map(|t| t.0)
                    .unwrap_or_else(jiff::Timestamp::now);
                let since = since - jiff::SignedDuration::from_hours(24);
                let tasks = table_tasks(ctx, target, &instance, since).await?;
                Ok(tasks
                    .iter()
                    .find(|t| t.task_id == id)
                    .map(table_state)
                    .unwrap_or(Observed::Missing))
            }
        }
    }

    async fn cancel(
        &self,
        _ctx: &Context,
        _target: &Target,
        id: &str,
        _: &RestoreStatus,
    ) -> std::result::Result<Cancel, CloudError> {
        Ok(Cancel::NotPossible(match self.spec.mode {
            RdsRestoreMode::Clone => format!(
                "the clone {id} is still being created and is kept: RDS has no call to stop a \
                 clone other than deleting the instance, and a restore never deletes data. \
                 Delete the instance yourself if you do not want it"
            ),
            RdsRestoreMode::Tables => format!(
                "the table restore {id} runs on: RDS has no call to cancel a RestoreTable task"
            ),
        }))
    }
}

impl RdsRestore {
    fn uid(&self) -> Option<String> {
        self.metadata.uid.clone()
    }
}

/// `spec.source` → the instance and the backup set or point in time; a `backupRef` must name
/// a `Succeeded` `RdsBackup` of this namespace.
async fn resolve_source(obj: &RdsRestore, ctx: &Context) -> Result<Check<Source>> {
    let s = &obj.spec.source;
    let restore_time = match s.restore_time.as_deref().map(plan::parse_time) {
        Some(Ok(t)) => Some(t),
        Some(Err(m)) => return Ok(Check::refused(reasons::INVALID_SPEC, m)),
        None => None,
    };
    let Some(r) = &s.backup_ref else {
        return Ok(match &s.db_instance_id {
            Some(instance) => Check::Ready(Source {
                instance: instance.trim().to_string(),
                backup_id: s.backup_id.clone(),
                restore_time,
            }),
            None => Check::refused(
                reasons::INVALID_SPEC,
                "source needs backupRef, or dbInstanceId with backupId or restoreTime",
            ),
        });
    };
    let backup: RdsBackup = match super::referenced(obj, ctx, "source.backupRef", &r.name).await? {
        Ok(b) => b,
        Err(refused) => return Ok(refused),
    };
    Ok(source_of_backup(&backup, &r.name))
}

/// The source an `RdsBackup` gives (pure).
pub fn source_of_backup(backup: &RdsBackup, name: &str) -> Check<Source> {
    let status = backup.status.clone().unwrap_or_default();
    match (status.phase, status.backup_id) {
        (Some(RdsBackupPhase::Succeeded), Some(id)) => Check::Ready(Source {
            instance: backup.spec.instance().to_string(),
            backup_id: Some(id),
            restore_time: None,
        }),
        (Some(RdsBackupPhase::Failed), _) => Check::refused(
            reasons::SOURCE_INVALID,
            format!(
                "source.backupRef names RdsBackup {name}, which failed: it has no backup set to restore"
            ),
        ),
        (phase, _) => Check::source_not_ready("RdsBackup", name, phase.map(|p| p.as_str())),
    }
}

/// The instance exists (and is readable): its attributes.
async fn check_instance(
    ctx: &Context,
    target: &Target,
    instance: &str,
) -> Check<DbInstanceAttribute> {
    let req = DescribeDbInstanceAttributeRequest {
        db_instance_id: instance.to_string(),
        ..DescribeDbInstanceAttributeRequest::default()
    };
    match ctx
        .cloud
        .rds_restore(target)
        .describe_db_instance_attribute(&req)
        .await
    {
        Ok(resp) => match resp.items.into_iter().next() {
            Some(a) => Check::Ready(a),
            None => instance_missing(instance),
        },
        Err(e) if e.class() == ErrorClass::NotFound => instance_missing(instance),
        Err(e) => Check::Cloud(e),
    }
}

fn instance_missing<T>(instance: &str) -> Check<T> {
    Check::refused(
        reasons::SOURCE_NOT_FOUND,
        format!(
            "RDS instance {instance} does not exist in this region (DescribeDBInstanceAttribute); \
             nothing was called"
        ),
    )
}

/// The backup set belongs to the instance and succeeded, or the point in time lies in the
/// instance's recovery window.
async fn check_source(ctx: &Context, target: &Target, source: &Source) -> Check<()> {
    if let Some(id) = &source.backup_id {
        let req = DescribeBackupsRequest {
            db_instance_id: source.instance.clone(),
            backup_id: Some(id.clone()),
            ..DescribeBackupsRequest::default()
        };
        return match ctx.cloud.rds(target).describe_backups(&req).await {
            Ok(resp) => backup_verdict(&resp.items, source, id),
            Err(e) if e.class() == ErrorClass::NotFound => backup_verdict(&[], source, id),
            Err(e) => Check::Cloud(e),
        };
    }
    let Some(t) = source.restore_time else {
        return Check::Ready(());
    };
    let req = DescribeLocalAvailableRecoveryTimeRequest {
        db_instance_id: source.instance.clone(),
        ..DescribeLocalAvailableRecoveryTimeRequest::default()
    };
    match ctx
        .cloud
        .rds_restore(target)
        .describe_local_available_recovery_time(&req)
        .await
    {
        Ok(w) => window_verdict(
            t,
            w.recovery_begin_time.as_deref(),
            w.recovery_end_time.as_deref(),
            &source.instance,
        ),
        Err(e) => Check::Cloud(e),
    }
}

/// Whether `DescribeBackups` shows backup `id` as a successful set of the instance (pure).
pub fn backup_verdict(
    items: &[crate::cloud::api::RdsBackup],
    source: &Source,
    id: &str,
) -> Check<()> {
    let found: Vec<_> = items.iter().filter(|b| b.backup_id == id).collect();
    let Some(b) = found.first() else {
        return Check::refused(
            reasons::SOURCE_NOT_FOUND,
            format!(
                "backup {id} is not a backup set of RDS instance {} (DescribeBackups lists none); \
                 nothing was called",
                source.instance
            ),
        );
    };
    if b.db_instance_id
        .as_deref()
        .is_some_and(|i| i != source.instance)
    {
        return Check::refused(
            reasons::SOURCE_INVALID,
            format!(
                "backup {id} belongs to another instance, not {}",
                source.instance
            ),
        );
    }
    match b.backup_status.as_deref() {
        Some("Success") => Check::Ready(()),
        other => Check::refused(
            reasons::SOURCE_INVALID,
            format!(
                "backup {id} of {} has status {}, not Success: it cannot be restored",
                source.instance,
                other.unwrap_or("unknown")
            ),
        ),
    }
}

/// Whether `t` lies in the recovery window `[begin, end]` (pure).
pub fn window_verdict(
    t: jiff::Timestamp,
    begin: Option<&str>,
    end: Option<&str>,
    instance: &str,
) -> Check<()> {
    let parse = |v: Option<&str>| v.and_then(|v| v.parse::<jiff::Timestamp>().ok());
    let (b, e) = (parse(begin), parse(end));
    if plan::within(t, b, e) {
        return Check::Ready(());
    }
    let window = match (b, e) {
        (Some(b), Some(e)) => format!("{} to {}", plan::rds_time(b), plan::rds_time(e)),
        _ => "empty (no backup set or log backup to restore from)".to_string(),
    };
    Check::refused(
        reasons::OUTSIDE_RECOVERY_WINDOW,
        format!(
            "restoreTime {} is outside the recovery window of {instance} \
             (DescribeLocalAvailableRecoveryTime: {window}); nothing was called. Pick a time \
             inside the window in a new object",
            plan::rds_time(t)
        ),
    )
}

/// `RestoreTable` takes MySQL (databases and tables) and PostgreSQL (whole databases).
pub fn check_table_engine(spec: &RdsRestoreSpec, attr: &DbInstanceAttribute) -> Check<()> {
    let engine = attr.engine.clone().unwrap_or_default();
    match engine.to_ascii_lowercase().as_str() {
        "mysql" => Check::Ready(()),
        "postgresql" if spec.tables.iter().all(|d| d.tables.is_empty()) => Check::Ready(()),
        "postgresql" => Check::refused(
            reasons::TARGET_INCOMPATIBLE,
            "RDS for PostgreSQL restores whole databases only: give each tables entry a \
             newDatabase and no tables",
        ),
        other => Check::refused(
            reasons::TARGET_INCOMPATIBLE,
            format!("mode Tables needs a MySQL or PostgreSQL instance; this one runs {other:?}"),
        ),
    }
}
