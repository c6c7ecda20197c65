//! `RdsBackup`: one manual backup of an ApsaraDB RDS instance (`CreateBackup`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CredentialsRef, DeletionPolicy, ManagementPolicy, custom_resource, tracked_status,
};

custom_resource! {
    kube(
        kind = "RdsBackup",
        plural = "rdsbackups",
        shortname = "rdsbk",
        status = "RdsBackupStatus",
        doc = "A manual backup of an ApsaraDB RDS instance (RDS CreateBackup), tracked until its task produced the backup set.",
        printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Instance", type_ = "string", json_path = ".spec.dbInstanceId"),
        printcolumn(name = "Job", type_ = "string", json_path = ".status.backupJobId"),
        printcolumn(name = "Backup", type_ = "string", json_path = ".status.backupId")
    ) + progress;
    /// One manual backup of an ApsaraDB RDS instance. A one-shot object: the operator calls
    /// `CreateBackup` exactly once (or adopts an existing task or set named by `backupJobId` /
    /// `backupId`), tracks the task until it ends and records the backup set.
    /// The spec cannot be changed after creation; create a new object for a new backup.
    #[serde(rename_all = "camelCase")]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("RdsBackup spec is immutable: it describes one backup; create a new RdsBackup instead"),
        validation = Rule::new("!has(self.dbNames) || size(self.dbNames) == 0 || (has(self.backupStrategy) && self.backupStrategy == 'db')").message("dbNames needs backupStrategy: db"),
        validation = Rule::new("!has(self.backupStrategy) || self.backupStrategy != 'db' || (has(self.dbNames) && size(self.dbNames) > 0)").message("backupStrategy db needs at least one entry in dbNames"),
        validation = Rule::new("!has(self.backupType) || !has(self.backupMethod) || self.backupMethod == 'Physical'").message("backupType applies only to backupMethod Physical"),
        validation = Rule::new("!has(self.backupJobId) || !has(self.backupId)").message("backupJobId and backupId are mutually exclusive: adopt either a backup task or a backup set"),
        validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'ObserveOnly' || has(self.backupJobId) || has(self.backupId)").message("managementPolicy ObserveOnly needs backupJobId or backupId (the cloud object to observe)"),
    )]
    pub struct RdsBackupSpec {
        /// Alibaba Cloud region of the instance, e.g. `cn-hangzhou`. Selects the RDS endpoint and
        /// fills the `RegionId` parameter.
        #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
        pub region: String,

        /// Secret (same namespace) with `accessKeyId`, `accessKeySecret` and optional
        /// `securityToken`. Without it, the operator's own credentials chain is used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub credentials_ref: Option<CredentialsRef>,

        /// What deleting this object does in the cloud: `Retain` keeps the backup set;
        /// `Delete` waits for a running task to end and then calls `DeleteBackup`. Unset: the namespace annotation
        /// `backup.aliyun.dev/default-deletion-policy`, else the operator's
        /// `--default-deletion-policy` (chart `defaults.deletionPolicy`, default `Retain`);
        /// `status.deletionPolicy` shows the policy in effect.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub deletion_policy: Option<DeletionPolicy>,

        /// Deadline of the backup from its creation, e.g. `6h` (units `s`, `m`, `h`, `d`). Past it,
        /// the object ends `Failed` with reason `DeadlineExceeded`: RDS has no API to cancel a backup task, so a running task is left to run
        /// (its backup set is not recorded, and `Delete` cleanup still waits for it and deletes
        /// the set). Unset: no deadline. Not applied with
        /// `managementPolicy: ObserveOnly`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"), length(max = 64))]
        pub timeout: Option<String>,

        /// ID of the RDS instance to back up (`DBInstanceId`), e.g. `rm-uf6wjk5xxxx`.
        #[schemars(
            regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"),
            length(min = 1, max = 64)
        )]
        pub db_instance_id: String,

        /// Databases to back up (`DBName`, sent comma-separated). Only with `backupStrategy: db`
        /// (logical backup of MySQL databases, or physical backup of SQL Server databases).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(
            length(max = 256),
            inner(regex(pattern = r"^[^,\s]+$"), length(min = 1, max = 64))
        )]
        pub db_names: Vec<String>,

        /// Backup granularity (`BackupStrategy`): `db` (the databases in `dbNames`) or `instance`.
        /// For MySQL logical backups and SQL Server physical backups.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_strategy: Option<RdsBackupStrategy>,

        /// How the backup is taken (`BackupMethod`): `Logical`, `Physical` (default) or `Snapshot`.
        #[serde(default)]
        pub backup_method: RdsBackupMethod,

        /// `Auto` (the service picks full or incremental) or `FullBackup` (`BackupType`). SQL Server
        /// only, and only with `backupMethod: Physical`. The cloud default is `Auto`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_type: Option<RdsBackupType>,

        /// Days to keep this backup set (`BackupRetentionPeriod`): 7 to 730, or -1 to keep it until
        /// it is deleted. Unset: the instance's backup policy decides.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = -1, max = 730))]
        #[x_kube(validation = Rule::new("self == -1 || (self >= 7 && self <= 730)").message("backupRetentionPeriod must be -1 or between 7 and 730"))]
        pub backup_retention_period: Option<i32>,

        /// Adopt an existing backup task of the instance (`BackupJobId`) instead of calling
        /// `CreateBackup`: the task is tracked to its backup set like one the operator created.
        /// Refused (`Stalled/AdoptionRefused`) when another `RdsBackup` holds it. Not with
        /// `backupId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
        pub backup_job_id: Option<String>,

        /// Adopt an existing backup set of the instance (`BackupId`) instead of calling
        /// `CreateBackup`: the set is fetched with `DescribeBackups` and recorded; the object is
        /// `Succeeded` when the set is a successful one. Refused (`Stalled/AdoptionRefused`) when
        /// another `RdsBackup` holds it. Not with `backupJobId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
        pub backup_id: Option<String>,

        /// `Manage` (default): the operator creates (or adopts), tracks and, per `deletionPolicy`,
        /// deletes the backup. `ObserveOnly`: status follows the task or set named by
        /// `backupJobId`/`backupId` (required), the operator never writes to the cloud, and
        /// deleting the object never touches the cloud, whatever `deletionPolicy` says.
        #[serde(default)]
        pub management_policy: ManagementPolicy,

        /// What `Succeeded` waits for once the task finished. `Skip` (default): the task's own
        /// answer (`DescribeBackupTasks`: `Finished` with its `BackupId`) is the proof, and
        /// `status.backupSet`/`sizeBytes` stay empty. `Record`: also wait until `DescribeBackups`
        /// lists the set (it can lag about a minute behind the task) and record its size, times and
        /// store status in `status.backupSet`: one more cloud call per backup, more while the listing
        /// lags. A set adopted with `backupId` is always read from `DescribeBackups`.
        #[serde(default)]
        pub backup_set_details: RdsBackupSetDetails,
    }
}

/// `spec.backupSetDetails` of an `RdsBackup`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsBackupSetDetails {
    /// `Succeeded` on the task's answer alone; no `DescribeBackups` call.
    #[default]
    Skip,
    /// `Succeeded` once `DescribeBackups` lists the set; its details go to `status.backupSet`.
    Record,
}

/// `BackupStrategy` of `CreateBackup`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum RdsBackupStrategy {
    /// Database-level backup of `dbNames`.
    Db,
    /// Instance-level backup.
    Instance,
}

impl RdsBackupStrategy {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Db => "db",
            Self::Instance => "instance",
        }
    }
}

/// `BackupMethod` of `CreateBackup`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsBackupMethod {
    /// Logical backup (needs databases on the instance).
    Logical,
    /// Physical backup (the default).
    #[default]
    Physical,
    /// Snapshot backup (cloud-disk instances).
    Snapshot,
}

impl RdsBackupMethod {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logical => "Logical",
            Self::Physical => "Physical",
            Self::Snapshot => "Snapshot",
        }
    }
}

/// `BackupType` of `CreateBackup` (SQL Server).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsBackupType {
    /// Full or incremental, chosen by the service.
    Auto,
    /// Full backup.
    FullBackup,
}

impl RdsBackupType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "Auto",
            Self::FullBackup => "FullBackup",
        }
    }
}

impl RdsBackupSpec {
    /// The instance id as the cloud takes it (`dbInstanceId`, trimmed).
    pub fn instance(&self) -> &str {
        self.db_instance_id.trim()
    }

    /// The `DBName` parameter: `dbNames` joined with commas, or `None` when empty.
    pub fn db_name_param(&self) -> Option<String> {
        if self.db_names.is_empty() {
            None
        } else {
            Some(self.db_names.join(","))
        }
    }
}

/// Lifecycle phase of an `RdsBackup`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsBackupPhase {
    /// Accepted, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `CreateBackup` is being sent (intent recorded in `pendingCreate`).
    Creating,
    /// The backup task runs in the cloud.
    Running,
    /// The task finished and its backup set is recorded (`backupSetDetails`).
    Succeeded,
    /// The task failed in the cloud.
    Failed,
    /// The object is being deleted (cloud cleanup per `deletionPolicy`).
    Deleting,
}

impl RdsBackupPhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Deleting => "Deleting",
        }
    }

    /// True for phases after which no cloud work remains (`Succeeded`, `Failed`).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::fmt::Display for RdsBackupPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tracked_status! {
    /// Observed state of an `RdsBackup`. Every field is optional so that partial server-side-apply
    /// writes are possible.
    pub struct RdsBackupStatus {
        phase: RdsBackupPhase,
        intent: " Intent record written before `CreateBackup` (exactly-once across crashes).",
        deletion_policy,

        /// `BackupJobId` returned by `CreateBackup` (or adopted from `DescribeBackupTasks`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_job_id: Option<String>,

        /// `BackupId` of the backup set, once the task finished.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_id: Option<String>,

        /// Raw `BackupStatus` of the task (`NoStart`, `Checking`, `Preparing`, `Waiting`,
        /// `Uploading`, `Finished`, `Failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_status: Option<String>,

        /// Raw `BackupProgressStatus` of the task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cloud_progress_status: Option<String>,

        /// Percent done (0-100), from the task's `Process`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0, max = 100))]
        pub progress: Option<i32>,

        /// When the cloud task was created or adopted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_time: Option<Time>,

        /// When the backup reached a terminal phase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub completion_time: Option<Time>,

        /// Size of the backup set in bytes (when `backupSet` is recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub size_bytes: Option<i64>,

        /// Details of the backup set from `DescribeBackups` (with `spec.backupSetDetails: Record`,
        /// or a set adopted with `spec.backupId`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backup_set: Option<RdsBackupSet>,
    }
}

/// A backup set as reported by `DescribeBackups`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RdsBackupSet {
    /// `BackupId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// `BackupStatus`: `Success` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `StoreStatus`: `Enabled` (can be deleted) or `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_status: Option<String>,
    /// `MetaStatus`: `OK`, `LARGE` or `EMPTY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_status: Option<String>,
    /// `BackupMethod` of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_method: Option<String>,
    /// `BackupType`: `FullBackup` or `IncrementalBackup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_type: Option<String>,
    /// `BackupMode`: `Manual` or `Automated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_mode: Option<String>,
    /// `BackupStartTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// `BackupEndTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// `ConsistentTime` (point in time the set is consistent to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_time: Option<Time>,
    /// `BackupSize` in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}
