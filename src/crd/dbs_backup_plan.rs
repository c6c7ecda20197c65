//! `DbsBackupPlan`: a long-lived Database Backup (DBS) backup plan
//! (`CreateAndStartBackupPlan`, then `ConfigureBackupPlan` / `StopBackupPlan` /
//! `StartBackupPlan` / `ReleaseBackupPlan`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CredentialsRef, CrossAccount, DeletionPolicy, ManagementPolicy, PendingCreate, RenderError,
    SecretKeyRef, render_json,
};

/// A Database Backup (DBS) backup plan: created and started once, then kept in line with the
/// spec. Identity fields (`region`, `databaseType`, `instanceClass`, `backupMethod`, `billing`,
/// `backupPlanId`) cannot change; the schedule, retention, objects, source endpoint and name can.
// `printcolumn(...)` entries repeat keys such as `type_`, which clippy mistakes for duplicated
// attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "backup.aliyun.dev",
    version = "v1alpha1",
    kind = "DbsBackupPlan",
    plural = "dbsbackupplans",
    shortname = "dbsplan",
    category = "aliyunbackup",
    namespaced,
    status = "DbsBackupPlanStatus",
    derive = "PartialEq",
    doc = "A Database Backup (DBS) backup plan (CreateAndStartBackupPlan), kept configured, paused or resumed as the spec says.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Plan", type_ = "string", json_path = ".status.backupPlanId"),
    printcolumn(
        name = "Cloud",
        type_ = "string",
        json_path = ".status.cloudStatus",
        description = "Raw BackupPlanStatus"
    ),
    printcolumn(
        name = "LastFull",
        type_ = "string",
        json_path = ".status.latestFullBackupSet.status",
        description = "Status of the latest full backup set"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.billing) == has(oldSelf.billing)").message("billing is immutable"),
    validation = Rule::new("has(self.backupPlanId) == has(oldSelf.backupPlanId)").message("backupPlanId is immutable"),
    validation = Rule::new("!(self.databaseType in ['PostgreSQL', 'MongoDB']) || has(self.source.databaseName)").message("databaseType PostgreSQL and MongoDB need source.databaseName"),
    validation = Rule::new("self.databaseType != 'Oracle' || has(self.source.oracleSid)").message("databaseType Oracle needs source.oracleSid"),
    validation = Rule::new("(has(self.managementPolicy) && self.managementPolicy == 'ObserveOnly') || self.databaseType == 'Redis' || (self.databaseType == 'MSSQL' && self.source.instanceType == 'Agent') || (has(self.source.userName) && has(self.source.passwordSecretRef))").message("source.userName and source.passwordSecretRef are required (except for Redis, and MSSQL through a backup gateway)"),
    validation = Rule::new("!has(self.billing) || !has(self.billing.payType) || self.billing.payType != 'postpay' || self.backupMethod == 'duplication'").message("billing.payType postpay is only available with backupMethod duplication"),
    validation = Rule::new("!has(self.billing) || !has(self.billing.payType) || self.billing.payType != 'postpay' || has(self.source.databaseInstanceType)").message("billing.payType postpay needs source.databaseInstanceType"),
    validation = Rule::new("!has(self.limits) || (!has(self.limits.diskIoKBps) && !has(self.limits.networkKBps)) || (self.databaseType == 'MySQL' && self.backupMethod == 'physical')").message("limits apply only to physical MySQL backups (databaseType MySQL, backupMethod physical)"),
    validation = Rule::new("!has(self.logBackup) || !has(self.logBackup.intervalSeconds) || self.backupMethod == 'physical'").message("logBackup.intervalSeconds applies only to backupMethod physical"),
    validation = Rule::new("!has(self.crossAccount) || has(self.crossAccount.userId) == has(self.crossAccount.roleName)").message("crossAccount needs both userId and roleName for a DbsBackupPlan"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'ObserveOnly' || has(self.backupPlanId)").message("managementPolicy ObserveOnly needs backupPlanId (the plan to observe)"),
)]
pub struct DbsBackupPlanSpec {
    /// Region where DBS is used and the plan lives (`Region`), e.g. `cn-hangzhou`. Selects the
    /// DBS endpoint. Immutable.
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: String,

    /// Secret (same namespace) with `accessKeyId`, `accessKeySecret` and optional
    /// `securityToken`. Without it, the operator's own credentials chain is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialsRef>,

    /// What deleting this object does in the cloud: `Retain` leaves the plan running;
    /// `Delete` releases it (`ReleaseBackupPlan`). Unset: the namespace annotation
    /// `backup.aliyun.dev/default-deletion-policy`, else the operator's
    /// `--default-deletion-policy` (chart `defaults.deletionPolicy`, default `Retain`);
    /// `status.deletionPolicy` shows the policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Name of the plan (`BackupPlanName`). Can be changed (`ModifyBackupPlanName`).
    #[schemars(length(min = 1, max = 64))]
    pub plan_name: String,

    /// Database engine (`DatabaseType`). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("databaseType is immutable"))]
    pub database_type: DbsDatabaseType,

    /// Plan specification (`InstanceClass`): `micro`, `small`, `medium`, `large` or `xlarge`;
    /// bigger is faster. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceClass is immutable"))]
    pub instance_class: DbsInstanceClass,

    /// How backups are made (`BackupMethod`): `logical`, `physical` or `duplication` (dump).
    /// Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("backupMethod is immutable"))]
    pub backup_method: DbsBackupMethod,

    /// Take over an existing plan (`BackupPlanId`) instead of buying one. A purchased plan
    /// that was never configured (cloud status `wait`) is configured and started with
    /// `CreateAndStartBackupPlan`; a configured plan is adopted: recorded in status and, with
    /// `managementPolicy: Manage`, kept in line with the spec like a plan the operator created
    /// (`ConfigureBackupPlan` pushes the spec, drift is corrected, `suspend` applies,
    /// `deletionPolicy: Delete` releases it). Refused (`Stalled/AdoptionRefused`) when another
    /// `DbsBackupPlan` holds it. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("backupPlanId is immutable"))]
    pub backup_plan_id: Option<String>,

    /// The database to back up (`SourceEndpoint*` parameters).
    pub source: DbsSourceEndpoint,

    /// What to back up (`BackupObjects`, rendered to the API's JSON). Empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub backup_objects: Vec<DbsBackupObject>,

    /// When full backups run (`BackupStrategyType`, `BackupPeriod`, `BackupStartTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<DbsSchedule>,

    /// Incremental log backup (`EnableBackupLog`, `BackupLogIntervalSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_backup: Option<DbsLogBackup>,

    /// Where and how long backups are kept (`BackupStorageType`, `OSSBucketName`,
    /// `StorageRegion`, `BackupRetentionPeriod`, `DuplicationInfrequentAccessPeriod`,
    /// `DuplicationArchivePeriod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<DbsStorage>,

    /// How the plan is paid (`PayType`, `Period`, `UsedTime`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("billing is immutable"))]
    pub billing: Option<DbsBilling>,

    /// Throughput limits for physical MySQL backups (`BackupSpeedLimit`, `BackupRateLimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<DbsLimits>,

    /// Back up a database of another Alibaba Cloud account (`CrossAliyunId`, `CrossRoleName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_account: Option<CrossAccount>,

    /// Resource group of the plan (`ResourceGroupId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub resource_group_id: Option<String>,

    /// Pause the plan (`StopBackupPlan`) while true; resume it (`StartBackupPlan`) when set back
    /// to false.
    #[serde(default)]
    pub suspend: bool,

    /// `Manage` (default): the operator creates (or adopts) the plan, pushes the spec to it,
    /// corrects drift, pauses/resumes it and releases it per `deletionPolicy`. `ObserveOnly`:
    /// status follows the plan named by `backupPlanId` (required); the operator never writes
    /// to the cloud (no configure, start, stop, rename or password push), and deleting the
    /// object never touches the cloud, whatever `deletionPolicy` says. `source.userName` and
    /// `source.passwordSecretRef` are not needed then. Can be changed: switching to `Manage`
    /// takes the plan over (the spec is pushed to it).
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// Recovery point objective, e.g. `26h` (units `s`, `m`, `h`, `d`): condition `RPOMet` turns
    /// False (and the `AliyunBackupRPOMissed` alert fires) when the newest successful full backup
    /// set of the plan (`status.lastSuccessfulBackupTime`) is older, or when no full backup has
    /// succeeded this long after the object was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"), length(max = 64))]
    pub rpo: Option<String>,
}

/// `DatabaseType` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsDatabaseType {
    /// MySQL.
    MySQL,
    /// SQL Server.
    #[serde(rename = "MSSQL")]
    Mssql,
    /// Oracle.
    Oracle,
    /// MariaDB.
    MariaDB,
    /// PostgreSQL.
    PostgreSQL,
    /// PolarDB-X 1.0 (DRDS).
    #[serde(rename = "DRDS")]
    Drds,
    /// MongoDB.
    MongoDB,
    /// Redis.
    Redis,
}

impl DbsDatabaseType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MySQL => "MySQL",
            Self::Mssql => "MSSQL",
            Self::Oracle => "Oracle",
            Self::MariaDB => "MariaDB",
            Self::PostgreSQL => "PostgreSQL",
            Self::Drds => "DRDS",
            Self::MongoDB => "MongoDB",
            Self::Redis => "Redis",
        }
    }
}

/// `InstanceClass` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsInstanceClass {
    /// micro
    Micro,
    /// small
    Small,
    /// medium
    Medium,
    /// large
    Large,
    /// xlarge
    Xlarge,
}

impl DbsInstanceClass {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Xlarge => "xlarge",
        }
    }
}

/// `BackupMethod` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsBackupMethod {
    /// Logical backup.
    Logical,
    /// Physical backup.
    Physical,
    /// Dump backup.
    Duplication,
}

impl DbsBackupMethod {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logical => "logical",
            Self::Physical => "physical",
            Self::Duplication => "duplication",
        }
    }
}

/// Where the source database is reached from (`SourceEndpointInstanceType`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsSourceInstanceType {
    /// ApsaraDB RDS instance.
    #[serde(rename = "RDS")]
    Rds,
    /// Self-managed database on ECS.
    #[serde(rename = "ECS")]
    Ecs,
    /// Connected over Express Connect, VPN Gateway or Smart Access Gateway.
    Express,
    /// Connected through a DBS backup gateway.
    Agent,
    /// ApsaraDB for MongoDB.
    #[serde(rename = "DDS")]
    Dds,
    /// Reached by IP address and port.
    Other,
}

impl DbsSourceInstanceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rds => "RDS",
            Self::Ecs => "ECS",
            Self::Express => "Express",
            Self::Agent => "Agent",
            Self::Dds => "DDS",
            Self::Other => "Other",
        }
    }
}

/// Product type of the database instance (`InstanceType`, needed for pay-as-you-go plans).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsDatabaseInstanceType {
    /// ApsaraDB RDS.
    #[serde(rename = "RDS")]
    Rds,
    /// PolarDB.
    PolarDB,
    /// ApsaraDB for MongoDB.
    #[serde(rename = "DDS")]
    Dds,
    /// ApsaraDB for Redis (Tair).
    Kvstore,
    /// Anything else.
    Other,
}

impl DbsDatabaseInstanceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rds => "RDS",
            Self::PolarDB => "PolarDB",
            Self::Dds => "DDS",
            Self::Kvstore => "Kvstore",
            Self::Other => "Other",
        }
    }
}

/// The source database endpoint of a plan. Which fields are required depends on
/// `instanceType` (and on the plan's `databaseType`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.instanceType in ['RDS', 'ECS', 'DDS', 'Express']) || has(self.instanceId)").message("source.instanceId is required for instanceType RDS, ECS, DDS and Express"),
    validation = Rule::new("!(self.instanceType in ['Express', 'Agent', 'Other']) || has(self.ip)").message("source.ip is required for instanceType Express, Agent and Other"),
    validation = Rule::new("!(self.instanceType in ['Express', 'Agent', 'Other', 'ECS']) || has(self.port)").message("source.port is required for instanceType Express, Agent, Other and ECS"),
    validation = Rule::new("self.instanceType != 'Agent' || has(self.backupGatewayId)").message("source.backupGatewayId is required for instanceType Agent"),
)]
pub struct DbsSourceEndpoint {
    /// Where the database is (`SourceEndpointInstanceType`): `RDS`, `ECS`, `Express`, `Agent`
    /// (DBS backup gateway), `DDS` (MongoDB) or `Other` (IP and port).
    pub instance_type: DbsSourceInstanceType,
    /// Region of the database (`SourceEndpointRegion`, and `DatabaseRegion` for pay-as-you-go).
    /// Defaults to `spec.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    pub region: Option<String>,
    /// Database instance ID (`SourceEndpointInstanceID`), e.g. `rm-uf6wjk5xxxx`. Required for
    /// `RDS`, `ECS`, `DDS` and `Express`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub instance_id: Option<String>,
    /// Host name or IP address of the database (`SourceEndpointIP`). Required for `Express`,
    /// `Agent` and `Other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub ip: Option<String>,
    /// Port of the database (`SourceEndpointPort`). Required for `Express`, `Agent`, `Other`
    /// and `ECS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Database name (`SourceEndpointDatabaseName`). Required for PostgreSQL and MongoDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub database_name: Option<String>,
    /// Account used to connect (`SourceEndpointUserName`). Required except for Redis and for
    /// SQL Server through a backup gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub user_name: Option<String>,
    /// Secret key holding the account's password (`SourceEndpointPassword`). The password is
    /// read at create/configure time and never written anywhere else. The Secret is watched: a
    /// change (rotation) is pushed to the plan once with `ConfigureBackupPlan` (event
    /// `PasswordRotated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// Oracle system ID (`SourceEndpointOracleSID`). Required for Oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub oracle_sid: Option<String>,
    /// DBS backup gateway ID (`BackupGatewayId`). Required for `Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub backup_gateway_id: Option<i64>,
    /// Product type of the database instance (`InstanceType`): `RDS`, `PolarDB`, `DDS`,
    /// `Kvstore` or `Other`. Required when `billing.payType` is `postpay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_instance_type: Option<DbsDatabaseInstanceType>,
}

/// One entry of `BackupObjects`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.tableIncludes) || size(self.tableIncludes) == 0 || !has(self.tableExcludes) || size(self.tableExcludes) == 0").message("a backupObjects entry takes tableIncludes or tableExcludes, not both"))]
pub struct DbsBackupObject {
    /// Database to back up (`DBName`).
    #[schemars(length(min = 1, max = 128))]
    pub db_name: String,
    /// Schema to back up (`SchemaName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub schema_name: Option<String>,
    /// Tables to back up (`TableIncludes[].TableName`); empty: all tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 128)))]
    pub table_includes: Vec<String>,
    /// Tables to leave out (`TableExcludes[].TableName`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 128)))]
    pub table_excludes: Vec<String>,
}

/// Full-backup schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.strategyType) && self.strategyType == 'manual' || (has(self.days) && size(self.days) > 0 && has(self.startTime))").message("schedule.strategyType simple needs days and startTime"))]
pub struct DbsSchedule {
    /// `simple` (default): full backups on `days` at `startTime`; `manual`: only on demand
    /// (`BackupStrategyType`).
    #[serde(default)]
    pub strategy_type: DbsStrategyType,
    /// Days of the week the full backup runs (`BackupPeriod`, sent comma-separated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 7))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub days: Vec<Weekday>,
    /// Start time of the full backup, `HH:mm` in UTC (`BackupStartTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), length(max = 5))]
    pub start_time: Option<String>,
}

/// `BackupStrategyType`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsStrategyType {
    /// Scheduled full backups.
    #[default]
    Simple,
    /// Manual full backups only.
    Manual,
}

impl DbsStrategyType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Manual => "manual",
        }
    }
}

/// Day of the week (`BackupPeriod`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum Weekday {
    /// Monday
    Monday,
    /// Tuesday
    Tuesday,
    /// Wednesday
    Wednesday,
    /// Thursday
    Thursday,
    /// Friday
    Friday,
    /// Saturday
    Saturday,
    /// Sunday
    Sunday,
}

impl Weekday {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monday => "Monday",
            Self::Tuesday => "Tuesday",
            Self::Wednesday => "Wednesday",
            Self::Thursday => "Thursday",
            Self::Friday => "Friday",
            Self::Saturday => "Saturday",
            Self::Sunday => "Sunday",
        }
    }
}

/// Incremental log backup.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.intervalSeconds) || self.enabled").message("logBackup.intervalSeconds needs logBackup.enabled: true"))]
pub struct DbsLogBackup {
    /// Enable incremental log backup (`EnableBackupLog`).
    pub enabled: bool,
    /// Interval between log backups in seconds (`BackupLogIntervalSeconds`). Physical backups
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub interval_seconds: Option<i32>,
}

/// Where backups are stored and for how long.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.type) || self.type != 'system' || !has(self.ossBucketName)").message("storage.ossBucketName cannot be combined with storage.type system"),
    validation = Rule::new("!has(self.archiveAfterDays) || !has(self.infrequentAccessAfterDays) || self.archiveAfterDays > self.infrequentAccessAfterDays").message("storage.archiveAfterDays must be greater than storage.infrequentAccessAfterDays"),
)]
pub struct DbsStorage {
    /// `system`: DBS's built-in storage (`BackupStorageType=system`); `oss` (default): your own
    /// OSS bucket (`BackupStorageType` not sent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DbsStorageType>,
    /// OSS bucket for the backup files (`OSSBucketName`). Default: generated by DBS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63))]
    pub oss_bucket_name: Option<String>,
    /// Region where backup data is stored (`StorageRegion`). Defaults to `spec.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    pub storage_region: Option<String>,
    /// Days backup data is kept (`BackupRetentionPeriod`, 0-1825; cloud default 730).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1825))]
    pub retention_days: Option<i32>,
    /// Days after which data moves to Infrequent Access (`DuplicationInfrequentAccessPeriod`;
    /// cloud default 180).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub infrequent_access_after_days: Option<i32>,
    /// Days after which data moves to Archive (`DuplicationArchivePeriod`; cloud default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub archive_after_days: Option<i32>,
}

/// `BackupStorageType`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsStorageType {
    /// DBS's built-in storage.
    System,
    /// Your own OSS bucket.
    Oss,
}

/// How the plan is paid for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.usedTime) || !has(self.period) || (self.period == 'Year' ? self.usedTime <= 9 : self.usedTime <= 11)").message("billing.usedTime is 1-9 for period Year and 1-11 for period Month"),
    validation = Rule::new("!has(self.usedTime) || has(self.period)").message("billing.usedTime needs billing.period"),
)]
pub struct DbsBilling {
    /// `prepay` (subscription, the cloud default) or `postpay` (pay-as-you-go, only with
    /// `backupMethod: duplication`) (`PayType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_type: Option<DbsPayType>,
    /// Subscription unit (`Period`): `Year` or `Month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<DbsPeriod>,
    /// Subscription length in `period` units (`UsedTime`): 1-9 years or 1-11 months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 11))]
    pub used_time: Option<i32>,
}

/// `PayType`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsPayType {
    /// Subscription.
    Prepay,
    /// Pay-as-you-go.
    Postpay,
}

impl DbsPayType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepay => "prepay",
            Self::Postpay => "postpay",
        }
    }
}

/// `Period`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsPeriod {
    /// Yearly subscription.
    Year,
    /// Monthly subscription.
    Month,
}

impl DbsPeriod {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Year => "Year",
            Self::Month => "Month",
        }
    }
}

/// Throughput limits (physical MySQL backups only).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbsLimits {
    /// Disk I/O limit in KB/s (`BackupSpeedLimit`).
    #[serde(
        rename = "diskIoKBps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1))]
    pub disk_io_kbps: Option<i64>,
    /// Network bandwidth limit in KB/s (`BackupRateLimit`; at most 10 GB/s = 10485760).
    #[serde(
        rename = "networkKBps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 10485760))]
    pub network_kbps: Option<i64>,
}

impl DbsBackupPlanSpec {
    /// `BackupObjects`: the API's JSON array
    /// (`[{"DBName":..,"SchemaName":..,"TableIncludes":[{"TableName":..}],"TableExcludes":[..]}]`);
    /// `None` when empty.
    pub fn backup_objects_param(&self) -> Result<Option<String>, RenderError> {
        if self.backup_objects.is_empty() {
            return Ok(None);
        }
        let tables = |names: &[String]| -> serde_json::Value {
            names
                .iter()
                .map(|n| serde_json::json!({ "TableName": n }))
                .collect()
        };
        let items: Vec<serde_json::Value> = self
            .backup_objects
            .iter()
            .map(|o| {
                let mut m = serde_json::Map::new();
                m.insert("DBName".into(), o.db_name.clone().into());
                if let Some(s) = &o.schema_name {
                    m.insert("SchemaName".into(), s.clone().into());
                }
                if !o.table_includes.is_empty() {
                    m.insert("TableIncludes".into(), tables(&o.table_includes));
                }
                if !o.table_excludes.is_empty() {
                    m.insert("TableExcludes".into(), tables(&o.table_excludes));
                }
                serde_json::Value::Object(m)
            })
            .collect();
        render_json("backupObjects", &items).map(Some)
    }

    /// `BackupPeriod`: the schedule's days, in week order, comma-separated; `None` when unset.
    pub fn backup_period_param(&self) -> Option<String> {
        let days = &self.schedule.as_ref()?.days;
        if days.is_empty() {
            return None;
        }
        let mut days = days.clone();
        days.sort();
        days.dedup();
        Some(
            days.iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// `SourceEndpointRegion` / `DatabaseRegion`: `source.region`, else `spec.region`.
    pub fn source_region(&self) -> &str {
        self.source.region.as_deref().unwrap_or(&self.region)
    }

    /// `StorageRegion`: `storage.storageRegion`, else `spec.region`.
    pub fn storage_region(&self) -> &str {
        self.storage
            .as_ref()
            .and_then(|s| s.storage_region.as_deref())
            .unwrap_or(&self.region)
    }
}

/// Lifecycle phase of a `DbsBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsBackupPlanPhase {
    /// Accepted, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `CreateAndStartBackupPlan` is being sent (intent recorded in `pendingCreate`).
    Creating,
    /// The plan exists and is being checked/started (`init`, `check_pass`, `wait`).
    Starting,
    /// The plan runs (`running`).
    Running,
    /// Paused by `suspend: true` (`stop`).
    Paused,
    /// The plan failed (e.g. pre-check failure); see conditions.
    Failed,
    /// The object is being deleted (release per `deletionPolicy`).
    Deleting,
}

impl DbsBackupPlanPhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Starting => "Starting",
            Self::Running => "Running",
            Self::Paused => "Paused",
            Self::Failed => "Failed",
            Self::Deleting => "Deleting",
        }
    }
}

impl std::fmt::Display for DbsBackupPlanPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of a `DbsBackupPlan`. Every field is optional so that partial
/// server-side-apply writes are possible.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbsBackupPlanStatus {
    /// `metadata.generation` this status describes (set once the spec of that generation is
    /// applied in the cloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DbsBackupPlanPhase>,

    /// `Ready`, `Reconciling` and `Stalled` (metav1 conditions with `observedGeneration`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The deletion policy in effect: `spec.deletionPolicy`, else the namespace's
    /// `backup.aliyun.dev/default-deletion-policy`, else the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Where `deletionPolicy` comes from (`spec`, the namespace annotation or the operator
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy_source: Option<String>,

    /// Intent record written before `CreateAndStartBackupPlan`; its token is the `ClientToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,

    /// `BackupPlanId` of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_plan_id: Option<String>,

    /// `OrderId` of the purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,

    /// `CreatedFullBackupsetId` returned when the plan was (re)started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_full_backupset_id: Option<String>,

    /// Raw `BackupPlanStatus` (`init`, `check_pass`, `wait`, `running`, `stop`, `locked`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_status: Option<String>,

    /// The plan's `ErrMessage` from `DescribeBackupPlanList`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_message: Option<String>,

    /// When the plan was created (`BackupPlanCreateTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Time>,

    /// Last time the cloud plan was compared with the spec (drift resync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,

    /// The latest full backup set (`DescribeFullBackupList`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_full_backup_set: Option<DbsFullBackupSet>,

    /// When the most recent successful (`finish`) full backup set ended; kept when later sets
    /// run or fail. Exported as `aliyun_backup_last_success_timestamp_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup_time: Option<Time>,

    /// Alibaba Cloud `RequestId` of the last failed call (for support tickets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_id: Option<String>,
}

/// A full backup set as reported by `DescribeFullBackupList`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbsFullBackupSet {
    /// `BackupSetId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Raw `BackupStatus` of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `StartTime` of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// `EndTime` of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// `BackupSize` in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn spec() -> DbsBackupPlanSpec {
        DbsBackupPlanSpec {
            region: "cn-hangzhou".into(),
            credentials_ref: None,
            deletion_policy: Some(DeletionPolicy::Retain),
            plan_name: "orders".into(),
            database_type: DbsDatabaseType::MySQL,
            instance_class: DbsInstanceClass::Micro,
            backup_method: DbsBackupMethod::Logical,
            backup_plan_id: None,
            management_policy: ManagementPolicy::Manage,
            source: DbsSourceEndpoint {
                instance_type: DbsSourceInstanceType::Rds,
                region: None,
                instance_id: Some("rm-demo01".into()),
                ip: None,
                port: None,
                database_name: None,
                user_name: Some("backup".into()),
                password_secret_ref: Some(SecretKeyRef {
                    name: "db".into(),
                    key: "password".into(),
                }),
                oracle_sid: None,
                backup_gateway_id: None,
                database_instance_type: None,
            },
            backup_objects: vec![],
            schedule: None,
            log_backup: None,
            storage: None,
            billing: None,
            limits: None,
            cross_account: None,
            resource_group_id: None,
            suspend: false,
            rpo: None,
        }
    }

    #[test]
    fn backup_objects_render_to_api_json() {
        let mut s = spec();
        assert_eq!(s.backup_objects_param().unwrap(), None);
        s.backup_objects = vec![
            DbsBackupObject {
                db_name: "shop".into(),
                schema_name: None,
                table_includes: vec!["orders".into(), "items".into()],
                table_excludes: vec![],
            },
            DbsBackupObject {
                db_name: "crm".into(),
                schema_name: Some("public".into()),
                table_includes: vec![],
                table_excludes: vec!["tmp".into()],
            },
        ];
        let v: serde_json::Value =
            serde_json::from_str(&s.backup_objects_param().unwrap().unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"DBName": "shop", "TableIncludes": [{"TableName": "orders"}, {"TableName": "items"}]},
                {"DBName": "crm", "SchemaName": "public", "TableExcludes": [{"TableName": "tmp"}]}
            ])
        );
    }

    #[test]
    fn backup_period_is_sorted_and_deduplicated() {
        let mut s = spec();
        assert_eq!(s.backup_period_param(), None);
        s.schedule = Some(DbsSchedule {
            strategy_type: DbsStrategyType::Simple,
            days: vec![Weekday::Sunday, Weekday::Monday, Weekday::Sunday],
            start_time: Some("02:30".into()),
        });
        assert_eq!(s.backup_period_param().unwrap(), "Monday,Sunday");
    }

    #[test]
    fn regions_default_to_spec_region() {
        let mut s = spec();
        assert_eq!(s.source_region(), "cn-hangzhou");
        assert_eq!(s.storage_region(), "cn-hangzhou");
        s.source.region = Some("cn-shanghai".into());
        s.storage = Some(DbsStorage {
            storage_region: Some("cn-beijing".into()),
            ..Default::default()
        });
        assert_eq!(s.source_region(), "cn-shanghai");
        assert_eq!(s.storage_region(), "cn-beijing");
    }
}
