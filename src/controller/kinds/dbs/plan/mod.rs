//! Pure steps of the `DbsBackupPlan` reconcile: `validate` (spec → typed, rendered request
//! parts), request rendering (`CreateAndStartBackupPlan`, `ConfigureBackupPlan`), the
//! desired-vs-observed diff (drift), `plan` (one next step) and the mapping of the cloud's
//! `BackupPlanStatus` to phase and conditions.
//!
//! Nothing here performs I/O; the reconcile in [`super`] loads inputs, calls these functions,
//! performs at most one mutating cloud call and writes status. One file per concern:
//! [`validate`](validate()) (spec → [`DesiredPlan`]), `request` (the create and configure
//! requests), `drift` (spec vs cloud), `health` (cloud state → phase and conditions), `step`
//! ([`plan`](plan()): the one next step), `adoption`, `password`, `backups` (full backup sets,
//! finding our plan after a crash) and `cleanup`.

mod adoption;
mod backups;
mod cleanup;
mod drift;
mod health;
mod password;
mod request;
mod step;
mod validate;

use serde::Serialize;

use crate::crd::SecretKeyRef;

pub use adoption::{
    adopt_configures, adopted_message, adoption_holder, identity_mismatches, judged_suspend,
};
pub use backups::{
    CLOCK_SLACK_MS, find_own_plan, full_backup_in_progress, last_successful_backup,
    latest_full_backup,
};
pub use cleanup::{
    CleanupStep, NOTE_OBSERVE_ONLY, NOTE_ORPHAN, NOTE_RETAIN, plan_cleanup, plan_cleanup_managed,
};
pub use drift::{Difference, config_differences, describe_differences, name_differs};
pub use health::{observed_health, rpo_verdict, settled_health};
pub use password::{PasswordProblem, password_from_secret, secret_version};
pub use request::{configure_request, create_request};
pub use step::{PlanInput, Step, plan};
pub use validate::{validate, validate_adoption};

#[cfg(test)]
use crate::cloud::Secret;
#[cfg(test)]
use crate::cloud::api::dbs::{BackupObjects, BackupPlanDetail, FullBackupFile};
#[cfg(test)]
use crate::controller::reconcile::conditions::Health;
#[cfg(test)]
use crate::crd::{
    DbsBackupMethod, DbsBackupPlanPhase, DbsBackupPlanSpec, DbsBackupPlanStatus, DbsDatabaseType,
    DbsFullBackupSet, DbsSourceInstanceType, DbsStorageType,
};
#[cfg(test)]
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Annotation recording the fingerprint of the plan configuration last pushed to the cloud
/// (`CreateAndStartBackupPlan` or `ConfigureBackupPlan`). A spec change of a configurable field
/// changes the fingerprint and is pushed with `ConfigureBackupPlan`; a change of only `suspend`
/// or `planName` is not.
pub const ANNOTATION_APPLIED_CONFIG: &str = "backup.aliyun.dev/applied-config";

/// Annotation recording which version of the password Secret (`source.passwordSecretRef`) the
/// password last pushed to the cloud came from: `<Secret uid>/<resourceVersion>`
/// ([`secret_version`]). Never the password or anything derived from it. A Secret whose
/// version differs (changed, recreated or deleted) is a rotation, pushed once with
/// `ConfigureBackupPlan`.
pub const ANNOTATION_APPLIED_PASSWORD: &str = "backup.aliyun.dev/applied-password-secret";

/// Condition / event reasons of the `DbsBackupPlan` controller (stable PascalCase).
pub mod reasons {
    /// The spec cannot be turned into a request; the message says what to change.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The source password Secret or key is missing.
    pub const PASSWORD_SECRET_NOT_FOUND: &str = "PasswordSecretNotFound";
    /// The source password Secret key is empty or not UTF-8.
    pub const PASSWORD_SECRET_INVALID: &str = "PasswordSecretInvalid";
    /// `CreateAndStartBackupPlan` is being sent.
    pub const CREATING: &str = "Creating";
    /// `CreateAndStartBackupPlan` returned the plan.
    pub const PLAN_CREATED: &str = "PlanCreated";
    /// The plan of an earlier, unrecorded create was found and adopted.
    pub const PLAN_ADOPTED: &str = "PlanAdopted";
    /// The plan is being pre-checked / started (`init`, `check_pass`, `wait`).
    pub const PLAN_STARTING: &str = "PlanStarting";
    /// The plan runs.
    pub const PLAN_RUNNING: &str = "PlanRunning";
    /// The plan is paused as `suspend: true` asks.
    pub const PLAN_PAUSED: &str = "PlanPaused";
    /// `StopBackupPlan` was sent.
    pub const PAUSING: &str = "Pausing";
    /// `StartBackupPlan` was sent.
    pub const RESUMING: &str = "Resuming";
    /// `ConfigureBackupPlan` pushed a spec change.
    pub const CONFIGURING: &str = "Configuring";
    /// The password Secret changed; `ConfigureBackupPlan` pushed the new password.
    pub const PASSWORD_ROTATED: &str = "PasswordRotated";
    /// `ModifyBackupPlanName` pushed a name change.
    pub const RENAMING: &str = "Renaming";
    /// The cloud plan differs from the spec; corrected with `ConfigureBackupPlan`.
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    /// The plan failed its pre-check or was stopped by the cloud (`stop`).
    pub const PLAN_STOPPED: &str = "PlanStopped";
    /// The plan is locked (`locked`, e.g. overdue payment).
    pub const PLAN_LOCKED: &str = "PlanLocked";
    /// The cloud rejected a call for this plan.
    pub const CLOUD_REJECTED: &str = "CloudRequestRejected";
    /// The recorded plan (or the plan `spec.backupPlanId` names) does not exist in the cloud.
    pub const PLAN_NOT_FOUND: &str = "PlanNotFound";
    /// The plan `spec.backupPlanId` names is held by another object.
    pub const ADOPTION_REFUSED: &str =
        crate::controller::reconcile::work::reasons::ADOPTION_REFUSED;
    /// Waiting for the plan to show up in `DescribeBackupPlanList`.
    pub const WAITING_FOR_PLAN: &str = "WaitingForPlan";
    /// Cleanup: `ReleaseBackupPlan`.
    pub const RELEASING: &str = "Releasing";
    /// Cleanup: the plan was released.
    pub const RELEASED: &str = "PlanReleased";
}

/// The spec cannot be turned into a valid request; `Stalled` with reason `InvalidSpec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

impl InvalidSpec {
    /// Fixed low-cardinality name.
    pub fn name(&self) -> &'static str {
        reasons::INVALID_SPEC
    }
}

/// The configurable part of a plan: everything `ConfigureBackupPlan` can change, rendered to
/// API values. Its fingerprint decides whether a spec change must be pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanConfig {
    /// `SourceEndpointInstanceType`.
    pub source_instance_type: &'static str,
    /// `SourceEndpointRegion`.
    pub source_region: Option<String>,
    /// `SourceEndpointInstanceID`.
    pub source_instance_id: Option<String>,
    /// `SourceEndpointIP`.
    pub source_ip: Option<String>,
    /// `SourceEndpointPort`.
    pub source_port: Option<i64>,
    /// `SourceEndpointDatabaseName`.
    pub source_database_name: Option<String>,
    /// `SourceEndpointUserName`.
    pub source_user_name: Option<String>,
    /// Where `SourceEndpointPassword` comes from (the reference, never the value).
    pub password_ref: Option<SecretKeyRef>,
    /// `SourceEndpointOracleSID`.
    pub oracle_sid: Option<String>,
    /// `BackupGatewayId`.
    pub backup_gateway_id: Option<i64>,
    /// `BackupObjects` (the API's JSON string).
    pub backup_objects: Option<String>,
    /// `BackupStrategyType`.
    pub strategy_type: Option<&'static str>,
    /// `BackupPeriod`.
    pub backup_period: Option<String>,
    /// `BackupStartTime`.
    pub backup_start_time: Option<String>,
    /// `EnableBackupLog`.
    pub enable_backup_log: Option<bool>,
    /// `BackupLogIntervalSeconds`.
    pub backup_log_interval_seconds: Option<i64>,
    /// `BackupStorageType`.
    pub backup_storage_type: Option<&'static str>,
    /// `OSSBucketName`.
    pub oss_bucket_name: Option<String>,
    /// `BackupRetentionPeriod`.
    pub retention_days: Option<i64>,
    /// `DuplicationInfrequentAccessPeriod`.
    pub infrequent_access_days: Option<i64>,
    /// `DuplicationArchivePeriod`.
    pub archive_days: Option<i64>,
    /// `BackupSpeedLimit`.
    pub speed_limit: Option<i64>,
    /// `BackupRateLimit`.
    pub rate_limit: Option<i64>,
    /// `CrossAliyunId`.
    pub cross_aliyun_id: Option<String>,
    /// `CrossRoleName`.
    pub cross_role_name: Option<String>,
    /// `ResourceGroupId`.
    pub resource_group_id: Option<String>,
}

impl PlanConfig {
    /// Stable fingerprint (FNV-1a 64 over the canonical JSON), as 16 hex digits.
    pub fn fingerprint(&self) -> String {
        // Serializing a struct of strings, numbers and options cannot fail; fall back to the
        // Debug text so a fingerprint is always produced.
        let text = serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}"));
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// The validated desired state of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPlan {
    /// `BackupPlanName`.
    pub name: String,
    /// `Region`.
    pub region: String,
    /// Identity: `DatabaseType`.
    pub database_type: &'static str,
    /// Identity: `InstanceClass`.
    pub instance_class: &'static str,
    /// Identity: `BackupMethod`.
    pub backup_method: &'static str,
    /// Identity: `BackupPlanId` of a purchased, unconfigured plan.
    pub backup_plan_id: Option<String>,
    /// Billing: `PayType`, `Period`, `UsedTime`.
    pub pay_type: Option<&'static str>,
    /// `Period`.
    pub period: Option<&'static str>,
    /// `UsedTime`.
    pub used_time: Option<i64>,
    /// `InstanceType` (pay-as-you-go).
    pub database_instance_type: Option<&'static str>,
    /// `StorageRegion`.
    pub storage_region: String,
    /// The configurable fields.
    pub config: PlanConfig,
    /// `suspend`.
    pub suspend: bool,
    /// `rpo`, parsed, with its text.
    pub rpo: Option<(std::time::Duration, String)>,
    /// `managementPolicy: ObserveOnly`: never write to the cloud.
    pub observe_only: bool,
}

impl DesiredPlan {
    /// Fingerprint of [`DesiredPlan::config`].
    pub fn fingerprint(&self) -> String {
        self.config.fingerprint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests;
