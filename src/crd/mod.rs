//! Custom resource types of `backup.aliyun.dev/v1alpha1` (see `docs/architecture.md`).
//!
//! - [`RdsBackup`]: one manual ApsaraDB RDS backup (one-shot, spec immutable).
//! - [`HbrBackupJob`]: one Cloud Backup (HBR) job (one-shot, spec immutable).
//! - [`DbsBackupPlan`]: a long-lived Database Backup (DBS) plan (identity fields immutable).
//! - [`RdsBackupSchedule`], [`HbrBackupSchedule`]: cron schedules that make `RdsBackup` /
//!   `HbrBackupJob` children, prune them by retention and report `RPOMet`.
//! - [`RdsRestore`], [`HbrRestoreJob`], [`DbsRestoreTask`]: one restore each (one-shot, spec
//!   immutable, never deletes restored data; see [`restore`]).
//!
//! The generated CRDs live in `crds/` (one file per kind); regenerate them with
//! `UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crd::tests::crds_dir_is_up_to_date`.

pub mod common;
pub mod dbs_backup_plan;
pub mod hbr_backup_job;
pub mod rds_backup;
pub mod restore;
pub mod schedule;

pub use common::*;
pub use dbs_backup_plan::*;
pub use hbr_backup_job::*;
pub use rds_backup::*;
pub use restore::*;
pub use schedule::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of all kinds, in a stable (alphabetical) order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        DbsBackupPlan::crd(),
        DbsRestoreTask::crd(),
        HbrBackupJob::crd(),
        HbrBackupSchedule::crd(),
        HbrRestoreJob::crd(),
        RdsBackup::crd(),
        RdsBackupSchedule::crd(),
        RdsRestore::crd(),
    ]
}

/// File name under `crds/` for a CRD: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as a YAML document (with a leading `---` and a generated-file header).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    Ok(format!(
        "# Generated from the Rust types in src/crd; do not edit. Regenerate with:\n#   UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crds_dir_is_up_to_date\n---\n{}",
        serde_norway::to_string(crd)?
    ))
}

/// All CRDs as one multi-document YAML stream (what `aliyun-backup-operator crd` prints).
pub fn crds_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
