//! `RdsRestore`: data back from an ApsaraDB RDS backup — a new instance (`CloneDBInstance`) or
//! databases/tables restored into the source instance (`RestoreTable`).

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LocalObjectRef, RestoreCommon, RestoreOverwrite, RestoreStatus};
use crate::crd::common::custom_resource;

custom_resource! {
    kube(
        kind = "RdsRestore",
        plural = "rdsrestores",
        shortname = "rdsrs",
        status = "RestoreStatus",
        doc = "A restore from an ApsaraDB RDS backup: a clone instance (CloneDBInstance) or tables restored into the source instance (RestoreTable).",
        printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
        printcolumn(name = "Source", type_ = "string", json_path = ".status.source"),
        printcolumn(name = "Target", type_ = "string", json_path = ".status.targetId")
    ) + progress;
    /// A restore from an ApsaraDB RDS backup set or point in time. `mode: Clone` makes a new
    /// instance (`CloneDBInstance`, exactly once through its `ClientToken` and an owner tag);
    /// `mode: Tables` restores databases or tables into the live source instance (`RestoreTable`)
    /// and needs `overwrite.confirmTargetId`. Immutable: create a new object for a new restore.
    /// Deleting it never deletes the new instance or restored tables.
    #[serde(rename_all = "camelCase")]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("RdsRestore spec is immutable: a restore is an event; create a new RdsRestore instead"),
        validation = Rule::new("!has(self.mode) || self.mode != 'Tables' || (has(self.tables) && size(self.tables) > 0)").message("mode Tables needs at least one entry in tables"),
        validation = Rule::new("(has(self.mode) && self.mode == 'Tables') || !has(self.tables) || size(self.tables) == 0").message("tables applies only to mode Tables"),
        validation = Rule::new("!has(self.mode) || self.mode != 'Tables' || has(self.overwrite)").message("mode Tables writes into the live source instance: set overwrite.confirmTargetId to the instance id"),
        validation = Rule::new("!has(self.mode) || self.mode != 'Tables' || !has(self.clone)").message("clone applies only to mode Clone"),
    )]
    pub struct RdsRestoreSpec {
        /// Alibaba Cloud region of the source instance, e.g. `cn-hangzhou` (`RegionId`; the clone
        /// is made in the same region).
        #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
        pub region: String,

        /// The credentials and the dry run (flattened).
        #[serde(flatten)]
        pub common: RestoreCommon,

        /// `Clone` (default): a new instance from the source (`CloneDBInstance`). `Tables`:
        /// databases/tables restored into the source instance under new names (`RestoreTable`).
        #[serde(default)]
        pub mode: RdsRestoreMode,

        /// Where the data comes from: exactly one of `backupRef`, `{dbInstanceId, backupId}` or
        /// `{dbInstanceId, restoreTime}`.
        pub source: RdsRestoreSource,

        /// Parameters of the new instance (mode `Clone`); unset fields take the source's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub clone: Option<RdsCloneParams>,

        /// What to restore in mode `Tables` (`TableMeta`): databases, each with tables under new
        /// names, or (PostgreSQL, which restores whole databases only) a new database name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 64))]
        pub tables: Vec<RdsRestoreDatabase>,

        /// Confirms a restore into an existing instance (mode `Tables`): `confirmTargetId` must be
        /// the source instance's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub overwrite: Option<RestoreOverwrite>,
    }
}

/// `spec.mode` of an `RdsRestore`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsRestoreMode {
    /// A new instance (`CloneDBInstance`).
    #[default]
    Clone,
    /// Databases/tables into the source instance (`RestoreTable`).
    Tables,
}

impl RdsRestoreMode {
    /// The mode name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clone => "Clone",
            Self::Tables => "Tables",
        }
    }
}

/// `spec.source` of an `RdsRestore`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.backupRef) ? 1 : 0) + (has(self.backupId) ? 1 : 0) + (has(self.restoreTime) ? 1 : 0) == 1").message("source needs exactly one of backupRef, backupId or restoreTime"),
    validation = Rule::new("has(self.backupRef) != has(self.dbInstanceId)").message("backupId and restoreTime need dbInstanceId; backupRef names the instance itself (leave dbInstanceId out)"),
)]
pub struct RdsRestoreSource {
    /// An `RdsBackup` in this namespace; it must be `Succeeded` (its instance and `backupId`
    /// are used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<LocalObjectRef>,

    /// The source instance (`DBInstanceId`), with `backupId` or `restoreTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"),
        length(min = 1, max = 64)
    )]
    pub db_instance_id: Option<String>,

    /// A backup set of the instance (`BackupId`); checked with `DescribeBackups` (it must
    /// belong to the instance and have succeeded) before anything is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub backup_id: Option<String>,

    /// A point in time, UTC `yyyy-MM-ddTHH:mm:ssZ` (`RestoreTime`); it must lie in the window
    /// `DescribeLocalAvailableRecoveryTime` reports for the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))]
    pub restore_time: Option<String>,
}

/// `spec.clone` of an `RdsRestore`: the new instance (`CloneDBInstance` parameters).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.payType) || self.payType != 'Prepaid' || (has(self.period) && has(self.usedTime))").message("payType Prepaid needs period and usedTime"),
    validation = Rule::new("!has(self.usedTime) || !has(self.period) || (self.period == 'Year' ? self.usedTime <= 3 : self.usedTime <= 9)").message("usedTime is 1-3 years or 1-9 months"),
)]
pub struct RdsCloneParams {
    /// `PayType`: `Postpaid` (default), `Prepaid` or `Serverless`.
    #[serde(default)]
    pub pay_type: RdsPayType,
    /// `Period` of a `Prepaid` instance: `Year` or `Month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<RdsPeriod>,
    /// `UsedTime` of a `Prepaid` instance (1-3 years, 1-9 months).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 9))]
    pub used_time: Option<i64>,
    /// `DBInstanceClass`, e.g. `mysql.n2.medium.1` (default: the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub db_instance_class: Option<String>,
    /// `DBInstanceStorage` in GB, in steps of 5, not below the source's (default: the
    /// source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 64000))]
    #[x_kube(validation = Rule::new("self % 5 == 0").message("dbInstanceStorage goes in steps of 5 GB"))]
    pub db_instance_storage: Option<i64>,
    /// `DBInstanceStorageType`: `general_essd`, `local_ssd`, `cloud_ssd`, `cloud_essd`,
    /// `cloud_essd2` or `cloud_essd3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(general_essd|local_ssd|cloud_ssd|cloud_essd|cloud_essd2|cloud_essd3)$"
    ))]
    pub db_instance_storage_type: Option<String>,
    /// `ZoneId` (default: the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub zone_id: Option<String>,
    /// `ZoneIdSlave1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub zone_id_slave1: Option<String>,
    /// `ZoneIdSlave2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub zone_id_slave2: Option<String>,
    /// `InstanceNetworkType`: `VPC` or `Classic` (default: the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(VPC|Classic)$"))]
    pub instance_network_type: Option<String>,
    /// `VPCId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub vpc_id: Option<String>,
    /// `VSwitchId` (two comma-separated ids with `zoneIdSlave1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub v_switch_id: Option<String>,
    /// `PrivateIpAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub private_ip_address: Option<String>,
    /// `DBInstanceDescription` of the new instance (2-255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 255))]
    pub db_instance_description: Option<String>,
    /// `DeletionProtection` of the new instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,
    /// Tags of the new instance (`Tag.N.Key/Value`), set in the same call; the operator adds
    /// its own owner tag `aliyun-backup-operator/restore-uid`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 19))]
    pub tags: BTreeMap<String, String>,
}

/// `PayType` of `CloneDBInstance`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsPayType {
    /// Pay-as-you-go (the default).
    #[default]
    Postpaid,
    /// Subscription (needs `period` and `usedTime`).
    Prepaid,
    /// Serverless.
    Serverless,
}

impl RdsPayType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postpaid => "Postpaid",
            Self::Prepaid => "Prepaid",
            Self::Serverless => "Serverless",
        }
    }
}

/// `Period` of a `Prepaid` clone.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum RdsPeriod {
    /// Years.
    Year,
    /// Months.
    Month,
}

impl RdsPeriod {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Year => "Year",
            Self::Month => "Month",
        }
    }
}

/// One database of `spec.tables` (a `TableMeta` entry of type `db`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.newDatabase) && self.newDatabase != self.database) || (has(self.tables) && size(self.tables) > 0 && self.tables.all(t, t.newName != t.name))").message("restore into a newDatabase, or restore tables under new names (newName different from name): restored data never replaces existing data"),
)]
pub struct RdsRestoreDatabase {
    /// The database in the backup (`name`).
    #[schemars(length(min = 1, max = 64))]
    pub database: String,
    /// The database the data goes to (`newname`; default: the same database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub new_database: Option<String>,
    /// Tables restored under new names (MySQL; PostgreSQL restores whole databases only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub tables: Vec<RdsRestoreTableName>,
}

/// One table of `spec.tables[].tables`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RdsRestoreTableName {
    /// The table in the backup.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// The name it is restored under; it must not exist in the instance.
    #[schemars(length(min = 1, max = 64))]
    pub new_name: String,
}
