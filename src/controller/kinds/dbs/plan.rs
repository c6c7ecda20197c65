//! Pure steps of the `DbsBackupPlan` reconcile: `validate` (spec → typed, rendered request
//! parts), request rendering (`CreateAndStartBackupPlan`, `ConfigureBackupPlan`), the
//! desired-vs-observed diff (drift), `plan` (one next step) and the mapping of the cloud's
//! `BackupPlanStatus` to phase and conditions.
//!
//! Nothing here performs I/O; the reconcile in [`super`] loads inputs, calls these functions,
//! performs at most one mutating cloud call and writes status.

use crate::controller::reconcile::times;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::cloud::Secret;
use crate::cloud::api::dbs::{
    BackupObjects, BackupPlanDetail, ConfigureBackupPlanRequest, CreateAndStartBackupPlanRequest,
    FullBackupFile, PlanState, SourceEndpoint,
};
use crate::controller::reconcile::conditions::Health;
use crate::crd::{
    DbsBackupMethod, DbsBackupPlanPhase, DbsBackupPlanSpec, DbsBackupPlanStatus, DbsDatabaseType,
    DbsFullBackupSet, DbsSourceInstanceType, DbsStorageType, DeletionPolicy, SecretKeyRef,
};

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

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Validates what the schema cannot express and renders the request parts.
pub fn validate(spec: &DbsBackupPlanSpec) -> Result<DesiredPlan, InvalidSpec> {
    let src = &spec.source;
    let rpo = match spec.rpo.as_deref() {
        Some(text) => Some((
            crate::controller::reconcile::rpo::parse_duration(text)
                .map_err(|e| InvalidSpec(format!("spec.rpo: {e}")))?,
            text.to_string(),
        )),
        None => None,
    };
    let physical_mysql = spec.backup_method == DbsBackupMethod::Physical
        && spec.database_type == DbsDatabaseType::MySQL;
    if let Some(limits) = &spec.limits
        && (limits.disk_io_kbps.is_some() || limits.network_kbps.is_some())
        && !physical_mysql
    {
        return Err(InvalidSpec(
            "limits apply only to physical MySQL backups (databaseType MySQL, backupMethod physical); remove spec.limits".into(),
        ));
    }
    if let Some(log) = &spec.log_backup
        && log.interval_seconds.is_some()
        && spec.backup_method != DbsBackupMethod::Physical
    {
        return Err(InvalidSpec(
            "logBackup.intervalSeconds applies only to backupMethod physical; remove it".into(),
        ));
    }
    if let Some(log) = &spec.log_backup
        && !log.enabled
        && log.interval_seconds.is_some()
    {
        return Err(InvalidSpec(
            "logBackup.intervalSeconds needs logBackup.enabled: true".into(),
        ));
    }
    let storage = spec.storage.clone().unwrap_or_default();
    if storage.type_ == Some(DbsStorageType::System) && storage.oss_bucket_name.is_some() {
        return Err(InvalidSpec(
            "storage.ossBucketName cannot be combined with storage.type system (DBS's built-in storage); remove one".into(),
        ));
    }
    if let (Some(ia), Some(archive)) = (
        storage.infrequent_access_after_days,
        storage.archive_after_days,
    ) && archive <= ia
    {
        return Err(InvalidSpec(format!(
            "storage.archiveAfterDays ({archive}) must be greater than storage.infrequentAccessAfterDays ({ia})"
        )));
    }
    let (cross_id, cross_role) = match &spec.cross_account {
        None => (None, None),
        Some(c) => {
            let id = nonempty(&c.user_id);
            let role = nonempty(&c.role_name);
            if id.is_some() != role.is_some() {
                return Err(InvalidSpec(
                    "crossAccount needs both userId and roleName for a DbsBackupPlan".into(),
                ));
            }
            (id, role)
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for o in &spec.backup_objects {
        if !seen.insert((o.db_name.as_str(), o.schema_name.as_deref())) {
            return Err(InvalidSpec(format!(
                "backupObjects lists database {:?} twice; merge the entries",
                o.db_name
            )));
        }
        if !o.table_includes.is_empty() && !o.table_excludes.is_empty() {
            return Err(InvalidSpec(format!(
                "backupObjects entry {:?} has both tableIncludes and tableExcludes; use one",
                o.db_name
            )));
        }
    }
    let needs_password = !(spec.management_policy.is_observe_only()
        || spec.database_type == DbsDatabaseType::Redis
        || (spec.database_type == DbsDatabaseType::Mssql
            && src.instance_type == DbsSourceInstanceType::Agent));
    if needs_password && src.password_secret_ref.is_none() {
        return Err(InvalidSpec(
            "source.passwordSecretRef is required for this database type".into(),
        ));
    }
    let backup_objects = spec
        .backup_objects_param()
        .map_err(|e| InvalidSpec(e.to_string()))?;
    let schedule = spec.schedule.as_ref();
    let source_region = match src.instance_type {
        DbsSourceInstanceType::Other => src.region.clone(),
        _ => Some(spec.source_region().to_string()),
    };
    let config = PlanConfig {
        source_instance_type: src.instance_type.as_str(),
        source_region,
        source_instance_id: nonempty(&src.instance_id),
        source_ip: nonempty(&src.ip),
        source_port: src.port.map(i64::from),
        source_database_name: nonempty(&src.database_name),
        source_user_name: nonempty(&src.user_name),
        password_ref: src.password_secret_ref.clone(),
        oracle_sid: nonempty(&src.oracle_sid),
        backup_gateway_id: src.backup_gateway_id,
        backup_objects,
        strategy_type: schedule.map(|s| s.strategy_type.as_str()),
        backup_period: spec.backup_period_param(),
        backup_start_time: schedule.and_then(|s| s.start_time.clone()),
        enable_backup_log: spec.log_backup.as_ref().map(|l| l.enabled),
        backup_log_interval_seconds: spec
            .log_backup
            .as_ref()
            .and_then(|l| l.interval_seconds)
            .map(i64::from),
        backup_storage_type: match storage.type_ {
            Some(DbsStorageType::System) => Some("system"),
            Some(DbsStorageType::Oss) | None => None,
        },
        oss_bucket_name: nonempty(&storage.oss_bucket_name),
        retention_days: storage.retention_days.map(i64::from),
        infrequent_access_days: storage.infrequent_access_after_days.map(i64::from),
        archive_days: storage.archive_after_days.map(i64::from),
        speed_limit: spec.limits.as_ref().and_then(|l| l.disk_io_kbps),
        rate_limit: spec.limits.as_ref().and_then(|l| l.network_kbps),
        cross_aliyun_id: cross_id,
        cross_role_name: cross_role,
        resource_group_id: nonempty(&spec.resource_group_id),
    };
    let billing = spec.billing.as_ref();
    Ok(DesiredPlan {
        name: spec.plan_name.trim().to_string(),
        region: spec.region.clone(),
        database_type: spec.database_type.as_str(),
        instance_class: spec.instance_class.as_str(),
        backup_method: spec.backup_method.as_str(),
        backup_plan_id: nonempty(&spec.backup_plan_id),
        pay_type: billing.and_then(|b| b.pay_type).map(|p| p.as_str()),
        period: billing.and_then(|b| b.period).map(|p| p.as_str()),
        used_time: billing.and_then(|b| b.used_time).map(i64::from),
        database_instance_type: src.database_instance_type.map(|t| t.as_str()),
        storage_region: spec.storage_region().to_string(),
        config,
        suspend: spec.suspend,
        rpo,
        observe_only: spec.management_policy.is_observe_only(),
    })
}

/// The plan `spec.backupPlanId` names, if any (trimmed). `ObserveOnly` needs one (what the CEL
/// rule says, for servers without CEL).
pub fn validate_adoption(spec: &DbsBackupPlanSpec) -> Result<Option<String>, InvalidSpec> {
    let id = nonempty(&spec.backup_plan_id);
    if id.is_none() && spec.management_policy.is_observe_only() {
        return Err(InvalidSpec(
            "managementPolicy ObserveOnly needs spec.backupPlanId (the plan to observe); the \
             operator never creates a plan for an ObserveOnly object"
                .into(),
        ));
    }
    Ok(id)
}

/// The other `DbsBackupPlan` (`namespace/name`, any namespace) that holds `plan_id` in its
/// status or names it in its spec, if any: such a plan is never adopted
/// (`docs/architecture.md#exactly-once`).
pub fn adoption_holder(
    me_uid: &str,
    plan_id: &str,
    all: &[crate::crd::DbsBackupPlan],
) -> Option<crate::controller::reconcile::adoption::Claim> {
    crate::controller::reconcile::adoption::find_claim(
        me_uid,
        all,
        |o| o.status.as_ref().and_then(|s| s.backup_plan_id.as_deref()) == Some(plan_id),
        |o| nonempty(&o.spec.backup_plan_id).as_deref() == Some(plan_id),
    )
}

/// The message of `Stalled/AdoptionRefused` for a plan another object holds or names.
pub fn adoption_refused_message(
    plan_id: &str,
    claim: &crate::controller::reconcile::adoption::Claim,
) -> String {
    crate::controller::reconcile::adoption::refused_message(
        &format!("plan {plan_id} named by spec.backupPlanId"),
        "DbsBackupPlan",
        "plan",
        claim,
    )
}

/// The message of the condition `Adopted` when the status holds the plan the spec names;
/// `None` for an object whose plan the operator bought.
pub fn adopted_message(spec: &DbsBackupPlanSpec, status: &DbsBackupPlanStatus) -> Option<String> {
    let id = validate_adoption(spec).ok().flatten()?;
    (status.backup_plan_id.as_deref() == Some(id.as_str())).then(|| {
        crate::controller::reconcile::work::adopted_message(
            &format!("plan {id}"),
            spec.management_policy,
        )
    })
}

/// What the spec says that the plan `spec.backupPlanId` names must be: its engine, class and
/// method (which cannot change on a plan) and the database it backs up
/// ([`crate::controller::reconcile::adoption`]); the fields that differ. A purchased plan that was never
/// configured reports no source, so only what it was bought with is compared.
pub fn identity_mismatches(
    spec: &DbsBackupPlanSpec,
    found: &BackupPlanDetail,
) -> Vec<crate::controller::reconcile::adoption::Mismatch> {
    crate::controller::reconcile::adoption::Identity::new()
        .field(
            "databaseType",
            Some(spec.database_type.as_str()),
            found.database_type.as_deref(),
        )
        .field(
            "instanceClass",
            Some(spec.instance_class.as_str()),
            found.instance_class.as_deref(),
        )
        .field(
            "backupMethod",
            Some(spec.backup_method.as_str()),
            found.backup_method.as_deref(),
        )
        .field(
            "source.instanceType",
            Some(spec.source.instance_type.as_str()),
            found.source_endpoint_instance_type.as_deref(),
        )
        .field(
            "source.instanceId",
            spec.source.instance_id.as_deref(),
            found.source_endpoint_instance_id.as_deref(),
        )
        .field(
            "source.region",
            spec.source.region.as_deref(),
            found.source_endpoint_region.as_deref(),
        )
        .mismatches()
}

/// What adopting a plan the cloud reports takes: a purchased plan that was never configured
/// (`wait`) is configured and started with `CreateAndStartBackupPlan` under `Manage`; any
/// other plan (and any plan under `ObserveOnly`) is recorded as it is.
pub fn adopt_configures(desired: &DesiredPlan, found: &BackupPlanDetail) -> bool {
    !desired.observe_only && found.state() == PlanState::Wait
}

/// The `suspend` the observed plan is judged against: the spec's, or under `ObserveOnly`
/// whatever the cloud says (a paused plan is then what is wanted, not something to resume).
pub fn judged_suspend(desired: &DesiredPlan, observed: &BackupPlanDetail) -> bool {
    if desired.observe_only {
        observed.state() == PlanState::Pause
    } else {
        desired.suspend
    }
}

/// Why an `ObserveOnly` object goes without cloud cleanup.
pub const NOTE_OBSERVE_ONLY: &str = "managementPolicy ObserveOnly: the operator never changes \
     the cloud, so the backup plan is left as it is whatever deletionPolicy says";

/// [`plan_cleanup`] with the management policy: an `ObserveOnly` object is let go without
/// touching the cloud (after the orphan annotation, whose note wins).
pub fn plan_cleanup_managed(
    orphan: bool,
    policy: DeletionPolicy,
    management: crate::crd::ManagementPolicy,
    status: &DbsBackupPlanStatus,
) -> CleanupStep {
    if !orphan && management.is_observe_only() {
        return CleanupStep::LetGo(NOTE_OBSERVE_ONLY);
    }
    plan_cleanup(orphan, policy, status)
}

fn source_endpoint(c: &PlanConfig, password: Option<Secret>) -> SourceEndpoint {
    SourceEndpoint {
        instance_type: c.source_instance_type.to_string(),
        region: c.source_region.clone(),
        instance_id: c.source_instance_id.clone(),
        ip: c.source_ip.clone(),
        port: c.source_port,
        database_name: c.source_database_name.clone(),
        user_name: c.source_user_name.clone(),
        password,
        oracle_sid: c.oracle_sid.clone(),
        backup_gateway_id: c.backup_gateway_id,
    }
}

/// `CreateAndStartBackupPlan` for `desired`, with the password read at act time and the
/// `ClientToken` of the recorded intent.
pub fn create_request(
    desired: &DesiredPlan,
    password: Option<Secret>,
    client_token: &str,
) -> CreateAndStartBackupPlanRequest {
    let c = &desired.config;
    let postpay = desired.pay_type == Some("postpay");
    CreateAndStartBackupPlanRequest {
        backup_plan_id: desired.backup_plan_id.clone(),
        region: Some(desired.region.clone()),
        instance_class: desired.instance_class.to_string(),
        database_type: desired.database_type.to_string(),
        backup_method: desired.backup_method.to_string(),
        period: desired.period.map(str::to_string),
        used_time: desired.used_time,
        pay_type: desired.pay_type.map(str::to_string),
        database_region: postpay.then(|| {
            c.source_region
                .clone()
                .unwrap_or_else(|| desired.region.clone())
        }),
        storage_region: Some(desired.storage_region.clone()),
        instance_type: desired.database_instance_type.map(str::to_string),
        storage_type: None,
        from_app: None,
        source: source_endpoint(c, password),
        oss_bucket_name: c.oss_bucket_name.clone(),
        backup_objects: c.backup_objects.clone().map(BackupObjects::Raw),
        backup_period: c.backup_period.clone(),
        backup_start_time: c.backup_start_time.clone(),
        enable_backup_log: c.enable_backup_log,
        backup_log_interval_seconds: c.backup_log_interval_seconds,
        backup_retention_period: c.retention_days,
        duplication_infrequent_access_period: c.infrequent_access_days,
        duplication_archive_period: c.archive_days,
        backup_plan_name: desired.name.clone(),
        backup_storage_type: c.backup_storage_type.map(str::to_string),
        backup_speed_limit: c.speed_limit,
        backup_rate_limit: c.rate_limit,
        backup_strategy_type: c.strategy_type.map(str::to_string),
        cross_aliyun_id: c.cross_aliyun_id.clone(),
        cross_role_name: c.cross_role_name.clone(),
        client_token: Some(client_token.to_string()),
        resource_group_id: c.resource_group_id.clone(),
        owner_id: None,
    }
}

/// `ConfigureBackupPlan` pushing the whole configurable state of `desired` to `plan_id`.
pub fn configure_request(
    desired: &DesiredPlan,
    plan_id: &str,
    password: Option<Secret>,
) -> ConfigureBackupPlanRequest {
    let c = &desired.config;
    ConfigureBackupPlanRequest {
        backup_plan_id: plan_id.to_string(),
        backup_plan_name: desired.name.clone(),
        source: source_endpoint(c, password),
        oss_bucket_name: c.oss_bucket_name.clone(),
        backup_objects: c.backup_objects.clone().map(BackupObjects::Raw),
        backup_period: c.backup_period.clone(),
        backup_start_time: c.backup_start_time.clone(),
        enable_backup_log: c.enable_backup_log,
        backup_log_interval_seconds: c.backup_log_interval_seconds,
        backup_retention_period: c.retention_days,
        duplication_infrequent_access_period: c.infrequent_access_days,
        duplication_archive_period: c.archive_days,
        auto_start_backup: None,
        backup_storage_type: c.backup_storage_type.map(str::to_string),
        backup_speed_limit: c.speed_limit,
        backup_rate_limit: c.rate_limit,
        backup_strategy_type: c.strategy_type.map(str::to_string),
        enable_source_endpoint_ssl: None,
        ssl_ca_pem: None,
        backup_storage_encrypt_method: None,
        cross_aliyun_id: c.cross_aliyun_id.clone(),
        cross_role_name: c.cross_role_name.clone(),
        resource_group_id: c.resource_group_id.clone(),
        client_token: None,
        owner_id: None,
    }
}

/// One field where the cloud plan differs from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Spec field (camelCase path).
    pub field: &'static str,
    /// Value the spec asks for.
    pub desired: String,
    /// Value the cloud reports.
    pub observed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: spec {:?}, cloud {:?}",
            self.field, self.desired, self.observed
        )
    }
}

/// Joins differences for a condition message / event note.
pub fn describe_differences(d: &[Difference]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn weekdays(s: &str) -> std::collections::BTreeSet<String> {
    s.split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

fn start_time_norm(s: &str) -> String {
    s.trim().trim_end_matches(['Z', 'z']).to_string()
}

fn json_eq(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// Compares the configurable fields the cloud reports (`DescribeBackupPlanList`) with the
/// spec. Only fields the spec sets and the cloud reports are compared. The plan name is not
/// included (see [`name_differs`]).
pub fn config_differences(desired: &DesiredPlan, observed: &BackupPlanDetail) -> Vec<Difference> {
    let c = &desired.config;
    let mut out = Vec::new();
    let mut push = |field: &'static str, d: String, o: String| {
        out.push(Difference {
            field,
            desired: d,
            observed: o,
        })
    };
    if let (Some(d), Some(o)) = (&c.backup_period, &observed.backup_period)
        && weekdays(d) != weekdays(o)
    {
        push("schedule.days", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.backup_start_time, &observed.backup_start_time)
        && start_time_norm(d) != start_time_norm(o)
    {
        push("schedule.startTime", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (c.retention_days, observed.backup_retention_period)
        && d != o
    {
        push("storage.retentionDays", d.to_string(), o.to_string());
    }
    if let (Some(d), Some(o)) = (&c.backup_objects, &observed.backup_objects)
        && !o.trim().is_empty()
        && !json_eq(d, o)
    {
        push("backupObjects", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (c.enable_backup_log, observed.enable_backup_log)
        && d != o
    {
        push("logBackup.enabled", d.to_string(), o.to_string());
    }
    if let (Some(d), Some(o)) = (&c.oss_bucket_name, &observed.oss_bucket_name)
        && d != o
    {
        push("storage.ossBucketName", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.source_instance_id, &observed.source_endpoint_instance_id)
        && !o.is_empty()
        && d != o
    {
        push("source.instanceId", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.source_user_name, &observed.source_endpoint_user_name)
        && !o.is_empty()
        && d != o
    {
        push("source.userName", d.clone(), o.clone());
    }
    if let (Some(d), Some(o)) = (&c.resource_group_id, &observed.resource_group_id)
        && !o.is_empty()
        && d != o
    {
        push("resourceGroupId", d.clone(), o.clone());
    }
    out
}

/// Whether the cloud's plan name differs from `planName`.
pub fn name_differs(desired: &DesiredPlan, observed: &BackupPlanDetail) -> bool {
    observed
        .backup_plan_name
        .as_deref()
        .is_some_and(|n| n != desired.name)
}

fn err_message(p: &BackupPlanDetail) -> Option<&str> {
    p.err_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
}

/// Phase and health that the observed plan alone implies (no pending action).
pub fn observed_health(plan: &BackupPlanDetail, suspend: bool) -> (DbsBackupPlanPhase, Health) {
    use PlanState as cs;
    let raw = plan.backup_plan_status.as_deref().unwrap_or("").trim();
    let id = &plan.backup_plan_id;
    let err = err_message(plan);
    match (plan.state(), err) {
        (cs::Locked, _) => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_LOCKED,
                format!(
                    "plan {id} is locked in the cloud{}",
                    err.map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ),
        ),
        (cs::Stop, Some(e)) | (cs::Init, Some(e)) => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_STOPPED,
                format!("plan {id} stopped ({raw}): {e}"),
            ),
        ),
        (cs::Stop, None) if !suspend => (
            DbsBackupPlanPhase::Failed,
            Health::stalled(
                reasons::PLAN_STOPPED,
                format!("plan {id} is stopped in the cloud"),
            ),
        ),
        (cs::Pause | cs::Stop, _) if suspend => (
            DbsBackupPlanPhase::Paused,
            Health::ready(reasons::PLAN_PAUSED, format!("plan {id} is paused")),
        ),
        (cs::Pause, _) => (
            DbsBackupPlanPhase::Paused,
            Health::progressing(reasons::RESUMING, format!("plan {id} is paused; resuming")),
        ),
        (cs::Running, _) if suspend => (
            DbsBackupPlanPhase::Running,
            Health::progressing(reasons::PAUSING, format!("plan {id} runs; pausing")),
        ),
        (cs::Running, _) => (
            DbsBackupPlanPhase::Running,
            Health::ready(reasons::PLAN_RUNNING, format!("plan {id} is running")),
        ),
        (cs::Wait | cs::Init | cs::CheckPass, None) => (
            DbsBackupPlanPhase::Starting,
            Health::progressing(
                reasons::PLAN_STARTING,
                format!("plan {id} is starting ({raw})"),
            ),
        ),
        _ => (
            DbsBackupPlanPhase::Starting,
            Health::progressing(
                reasons::PLAN_STARTING,
                format!("plan {id} is in cloud state {raw:?}"),
            ),
        ),
    }
}

/// What the reconcile knows about the cloud side, besides status.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated spec.
    pub desired: &'a DesiredPlan,
    /// Current status (default when none).
    pub status: &'a DbsBackupPlanStatus,
    /// The [`ANNOTATION_APPLIED_CONFIG`] value.
    pub applied_fingerprint: Option<&'a str>,
    /// The [`ANNOTATION_APPLIED_PASSWORD`] value: the password Secret version last pushed.
    pub applied_password: Option<&'a str>,
    /// The password Secret's version now ([`secret_version`]); `None` when the spec names no
    /// password Secret or the Secret does not exist.
    pub current_password: Option<&'a str>,
    /// The plan from `DescribeBackupPlanList` (`None`: not described, or not found).
    pub observed: Option<&'a BackupPlanDetail>,
    /// Reason of the condition that is currently true (what the last reconcile did).
    pub last_reason: Option<&'a str>,
    /// Whether the spec changed since status was last written (`observedGeneration` behind).
    pub spec_changed: bool,
}

/// The `RPOMet` verdict of a plan with `spec.rpo`: from its newest successful full backup set
/// (`status.lastSuccessfulBackupTime`), counted from the object's creation before the first.
pub fn rpo_verdict(
    desired: &DesiredPlan,
    status: &DbsBackupPlanStatus,
    created: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Option<crate::controller::reconcile::rpo::RpoVerdict> {
    let (rpo, text) = desired.rpo.as_ref()?;
    let last = status.last_successful_backup_time.as_ref().map(|t| t.0);
    Some(crate::controller::reconcile::rpo::evaluate(
        *rpo, text, last, created, now,
    ))
}

/// What deleting a `DbsBackupPlan` takes (`docs/architecture.md#deletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// Let the object go without touching the cloud; the note says why.
    LetGo(&'static str),
    /// Nothing was ever sent to the cloud: the finalizer goes.
    Finished,
    /// A create whose outcome was never recorded: find the plan it made (if any), release it.
    FindPlan,
    /// Release our plan.
    Release {
        /// The plan.
        plan_id: String,
    },
}

/// Why an object with the orphan annotation goes without cloud cleanup.
pub const NOTE_ORPHAN: &str =
    "orphan-on-delete annotation set: the backup plan is left in the cloud";
/// Why an object with `deletionPolicy: Retain` goes without cloud cleanup.
pub const NOTE_RETAIN: &str = "deletionPolicy Retain: the backup plan keeps running in the cloud";

/// The cleanup step of a deleted object: `orphan` is the orphan annotation.
pub fn plan_cleanup(
    orphan: bool,
    policy: DeletionPolicy,
    status: &DbsBackupPlanStatus,
) -> CleanupStep {
    if orphan {
        return CleanupStep::LetGo(NOTE_ORPHAN);
    }
    if policy == DeletionPolicy::Retain {
        return CleanupStep::LetGo(NOTE_RETAIN);
    }
    match (&status.backup_plan_id, &status.pending_create) {
        (Some(plan_id), _) => CleanupStep::Release {
            plan_id: plan_id.clone(),
        },
        (None, Some(_)) => CleanupStep::FindPlan,
        (None, None) => CleanupStep::Finished,
    }
}

/// The one next step of a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write `pendingCreate` (no cloud call yet).
    RecordIntent,
    /// `CreateAndStartBackupPlan` with the recorded `ClientToken`.
    Create {
        /// The `ClientToken`.
        token: String,
    },
    /// `ConfigureBackupPlan`: the spec changed (`drift` empty) or the cloud drifted.
    Configure {
        /// `BackupPlanId`.
        plan_id: String,
        /// Observed differences (drift), if any.
        drift: Vec<Difference>,
    },
    /// `ConfigureBackupPlan` with the password of a changed password Secret (rotation).
    RotatePassword {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// Record the version of the password Secret without a cloud call: the configuration was
    /// pushed by an operator version that did not record it.
    RecordPasswordVersion,
    /// `ModifyBackupPlanName`: the spec's name changed, or (with `drift`) the cloud's name was
    /// changed outside the operator.
    Rename {
        /// `BackupPlanId`.
        plan_id: String,
        /// The name difference when no spec change is pending (drift).
        drift: Option<Difference>,
    },
    /// `StopBackupPlan(StopMethod=ALL)`.
    Stop {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// `StartBackupPlan`.
    Start {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// No mutating call: report what is observed.
    Observe {
        /// `BackupPlanId`.
        plan_id: String,
    },
    /// The create was refused for good (phase `Failed`, no plan): nothing until the spec
    /// changes.
    AwaitSpecChange,
    /// Take over the plan `spec.backupPlanId` names (nothing recorded yet).
    AdoptExisting {
        /// `BackupPlanId`.
        plan_id: String,
    },
}

/// The conditions of a resting object, from its status alone (after a pause, when the
/// conditions say `Paused`): only a refused create rests without an act that sets them.
pub fn settled_health(status: &DbsBackupPlanStatus) -> Option<Health> {
    (status.backup_plan_id.is_none() && status.phase == Some(DbsBackupPlanPhase::Failed)).then(
        || {
            crate::controller::reconcile::work::create_refused_health(
                status.last_request_id.as_deref(),
                "change the spec to try again",
            )
        },
    )
}

/// Chooses the one next step.
pub fn plan(input: &PlanInput<'_>) -> Step {
    use PlanState as cs;
    let status = input.status;
    let Some(plan_id) = status.backup_plan_id.clone() else {
        return match &status.pending_create {
            None if status.phase == Some(DbsBackupPlanPhase::Failed) && !input.spec_changed => {
                Step::AwaitSpecChange
            }
            None => match &input.desired.backup_plan_id {
                Some(plan_id) => Step::AdoptExisting {
                    plan_id: plan_id.clone(),
                },
                None => Step::RecordIntent,
            },
            Some(p) => Step::Create {
                token: p.token.clone(),
            },
        };
    };
    let Some(observed) = input.observed else {
        return Step::Observe { plan_id };
    };
    let desired = input.desired;
    if desired.observe_only {
        // Never a write: no configure, password push, rename, start or stop.
        return Step::Observe { plan_id };
    }
    let state = observed.state();
    if input.applied_fingerprint != Some(desired.fingerprint().as_str()) {
        return Step::Configure {
            plan_id,
            drift: Vec::new(),
        };
    }
    if desired.config.password_ref.is_some() {
        match (input.applied_password, input.current_password) {
            // Pushed by an operator that did not record the Secret version: record it.
            (None, Some(_)) => return Step::RecordPasswordVersion,
            // Rotated, recreated or deleted: push once, in a state that takes a
            // configuration (steady or stopped; not while starting or locked).
            (Some(applied), current)
                if current != Some(applied)
                    && matches!(
                        state,
                        PlanState::Running | PlanState::Pause | PlanState::Stop
                    ) =>
            {
                return Step::RotatePassword { plan_id };
            }
            _ => {}
        }
    }
    if name_differs(desired, observed) {
        let drift = (!input.spec_changed).then(|| Difference {
            field: "planName",
            desired: desired.name.clone(),
            observed: observed.backup_plan_name.clone().unwrap_or_default(),
        });
        return Step::Rename { plan_id, drift };
    }
    let errored = err_message(observed).is_some();
    match state {
        cs::Running | cs::CheckPass | cs::Wait if desired.suspend => {
            return Step::Stop { plan_id };
        }
        cs::Init if desired.suspend && !errored => return Step::Stop { plan_id },
        cs::Pause if !desired.suspend => return Step::Start { plan_id },
        // Stopped by us, or failed and then reconfigured by a spec change or a new password:
        // (re)start, which runs the pre-check again.
        cs::Stop
            if !desired.suspend
                && (!errored
                    || matches!(
                        input.last_reason,
                        Some(reasons::CONFIGURING | reasons::PASSWORD_ROTATED)
                    )) =>
        {
            return Step::Start { plan_id };
        }
        _ => {}
    }
    if matches!(state, cs::Running | cs::Pause) {
        let drift = config_differences(desired, observed);
        if !drift.is_empty() {
            return Step::Configure { plan_id, drift };
        }
    }
    Step::Observe { plan_id }
}

/// Why the source password cannot be read. The texts name the Secret and key, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// The Secret does not exist.
    #[error(
        "password Secret {namespace}/{name} (key {key:?}) not found (spec.source.passwordSecretRef)"
    )]
    SecretNotFound {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// The key is missing, empty or not UTF-8.
    #[error(
        "password Secret {namespace}/{name} has no non-empty UTF-8 key {key:?} (spec.source.passwordSecretRef)"
    )]
    KeyInvalid {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
}

impl PasswordProblem {
    /// Fixed PascalCase reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::SecretNotFound { .. } => reasons::PASSWORD_SECRET_NOT_FOUND,
            Self::KeyInvalid { .. } => reasons::PASSWORD_SECRET_INVALID,
        }
    }
}

/// Reads the source password from the Secret `r` points at (`None` when it does not exist).
/// Trailing newlines (as left by `kubectl create secret --from-file`) are dropped.
pub fn password_from_secret(
    namespace: &str,
    r: &SecretKeyRef,
    secret: Option<&k8s_openapi::api::core::v1::Secret>,
) -> Result<Secret, PasswordProblem> {
    let Some(secret) = secret else {
        return Err(PasswordProblem::SecretNotFound {
            namespace: namespace.to_string(),
            name: r.name.clone(),
            key: r.key.clone(),
        });
    };
    let invalid = || PasswordProblem::KeyInvalid {
        namespace: namespace.to_string(),
        name: r.name.clone(),
        key: r.key.clone(),
    };
    let value = match secret.string_data.as_ref().and_then(|m| m.get(&r.key)) {
        Some(v) => v.clone(),
        None => {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|m| m.get(&r.key))
                .ok_or_else(invalid)?;
            String::from_utf8(bytes.0.clone()).map_err(|_| invalid())?
        }
    };
    let value = value.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        return Err(invalid());
    }
    Ok(Secret::new(value))
}

/// The version of a Secret as recorded in [`ANNOTATION_APPLIED_PASSWORD`]:
/// `<uid>/<resourceVersion>`. It changes whenever the Secret is written or recreated and says
/// nothing about its content (a hash of the password, even a truncated one, would let anyone
/// who can read the object test guesses offline).
pub fn secret_version(secret: &k8s_openapi::api::core::v1::Secret) -> String {
    format!(
        "{}/{}",
        secret.metadata.uid.as_deref().unwrap_or_default(),
        secret
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    )
}

/// Allowed clock difference between the operator and the cloud when matching creation times.
pub const CLOCK_SLACK_MS: i64 = 15 * 60 * 1000;

/// After a crash between `CreateAndStartBackupPlan` and the status write: the plan among
/// `plans` (listed by name) that is ours — same name, engine and source, created at or after
/// the intent (minus clock slack), and not held by another object (`claimed`: the
/// `backupPlanId`s other `DbsBackupPlan`s recorded; two objects may use the same plan name).
/// `None` unless exactly one plan matches; the caller then re-sends the create with the
/// intent's `ClientToken`, which returns the same plan if it exists.
pub fn find_own_plan<'a>(
    desired: &DesiredPlan,
    started_at: &Time,
    plans: &'a [BackupPlanDetail],
    claimed: &std::collections::HashSet<String>,
) -> Option<&'a BackupPlanDetail> {
    let since = started_at.0.as_millisecond() - CLOCK_SLACK_MS;
    let mut matching = plans.iter().filter(|p| {
        !claimed.contains(&p.backup_plan_id)
            && p.backup_plan_name.as_deref() == Some(desired.name.as_str())
            && p.database_type
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(desired.database_type))
            && desired
                .config
                .source_instance_id
                .as_deref()
                .is_none_or(|i| {
                    p.source_endpoint_instance_id
                        .as_deref()
                        .is_none_or(|o| o == i)
                })
            && p.backup_plan_create_time.is_some_and(|t| t >= since)
    });
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}

/// Whether a full backup set is still being made (`schedule`, `running`, ...). `finish`, a
/// failure (`failed`, anything containing `fail`) and `stop` are final (DBS `DescribeFullBackupList` documentation).
pub fn full_backup_in_progress(set: &DbsFullBackupSet) -> bool {
    let s = set
        .status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    !(s.is_empty() || s == "finish" || s == "stop" || s.contains("fail"))
}

/// When the most recent successful (`finish`) full backup set of a `DescribeFullBackupList`
/// page ended.
pub fn last_successful_backup(items: &[FullBackupFile]) -> Option<Time> {
    items
        .iter()
        .filter(|f| {
            f.backup_status
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("finish"))
        })
        .filter_map(|f| f.end_time.or(f.finish_time))
        .max()
        .and_then(|ms| times::from_unix_ms(Some(ms)))
}

/// The latest full backup set of a `DescribeFullBackupList` page (by start, then create time).
pub fn latest_full_backup(items: &[FullBackupFile]) -> Option<DbsFullBackupSet> {
    items
        .iter()
        .max_by_key(|f| {
            (
                f.start_time.or(f.create_time).unwrap_or(0),
                f.create_time.unwrap_or(0),
                f.backup_set_id.clone(),
            )
        })
        .map(|f| DbsFullBackupSet {
            id: Some(f.backup_set_id.clone()).filter(|s| !s.is_empty()),
            status: f.backup_status.clone(),
            start_time: times::from_unix_ms(f.start_time.or(f.create_time)),
            end_time: times::from_unix_ms(f.end_time.or(f.finish_time)),
            size_bytes: f.backup_size,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests;
