//! `DbsBackupPlan`: a long-lived Database Backup (DBS) backup plan
//! (`CreateAndStartBackupPlan`, then `ConfigureBackupPlan` / `StopBackupPlan` /
//! `StartBackupPlan` / `ReleaseBackupPlan`).
//!
//! * this file — the spec ([`DbsBackupPlanSpec`]) and the request parameters rendered from it;
//! * `source` — what is backed up: the database kind and endpoint, the backup objects;
//! * `settings` — schedule, log backup, storage, billing and throughput limits;
//! * `status` — the phase and observed state ([`DbsBackupPlanStatus`]).

mod settings;
mod source;
mod status;

pub use settings::*;
pub use source::*;
pub use status::*;

use super::common::{
    CredentialsRef, CrossAccount, DeletionPolicy, ManagementPolicy, RenderError, custom_resource,
    render_json,
};

custom_resource! {
    kube(
        kind = "DbsBackupPlan",
        plural = "dbsbackupplans",
        shortname = "dbsplan",
        status = "DbsBackupPlanStatus",
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
        )
    );
    /// A Database Backup (DBS) backup plan: created and started once, then kept in line with the
    /// spec. Identity fields (`region`, `databaseType`, `instanceClass`, `backupMethod`, `billing`,
    /// `backupPlanId`) cannot change; the schedule, retention, objects, source endpoint and name can.
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
