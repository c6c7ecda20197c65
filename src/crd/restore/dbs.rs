//! `DbsRestoreTask`: databases back from a Database Backup (DBS) plan
//! (`CreateRestoreTask` + `StartRestoreTask`).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{LocalObjectRef, RestoreCommon, RestoreOverwrite, RestoreStatus};
use crate::crd::common::{SecretKeyRef, custom_resource};
use crate::crd::dbs_backup_plan::DbsSourceInstanceType;

custom_resource! {
    kube(
        kind = "DbsRestoreTask",
        plural = "dbsrestoretasks",
        shortname = "dbsrs",
        status = "RestoreStatus",
        doc = "A restore from a Database Backup (DBS) plan into an existing database endpoint (CreateRestoreTask + StartRestoreTask), tracked to its end.",
        printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Source", type_ = "string", json_path = ".status.source"),
        printcolumn(name = "Target", type_ = "string", json_path = ".status.targetId")
    ) + progress;
    /// A restore of databases from a Database Backup (DBS) plan's full backup set or a point in
    /// time into an existing database endpoint (`CreateRestoreTask` + `StartRestoreTask`, both
    /// with a `ClientToken` from the object's UID), tracked to its end. The destination exists, so
    /// `overwrite.confirmTargetId` must name it; databases are restored under new names and a name
    /// conflict fails the task (`DuplicateConflict=failure`). Immutable. DBS has no per-task
    /// cancel: deleting the object while the task runs lets it run to its end and says so.
    #[serde(rename_all = "camelCase")]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("DbsRestoreTask spec is immutable: a restore is an event; create a new DbsRestoreTask instead"),
        validation = Rule::new("has(self.overwrite)").message("a DBS restore writes into an existing database endpoint: set overwrite.confirmTargetId to destination.instanceId (or ip:port)"),
    )]
    pub struct DbsRestoreTaskSpec {
        /// Alibaba Cloud region of the backup plan, e.g. `cn-hangzhou`.
        #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
        pub region: String,

        /// The credentials and the dry run (flattened).
        #[serde(flatten)]
        pub common: RestoreCommon,

        /// The backup: a plan (`backupPlanRef` or `backupPlanId`) and exactly one of
        /// `backupSetId`, `restoreTime` or `latestBackupSet: true`.
        pub source: DbsRestoreSource,

        /// The existing database endpoint the data goes to (`DestinationEndpoint*`).
        pub destination: DbsRestoreDestination,

        /// The databases to restore (`RestoreObjects`), each under a new name that must not exist
        /// at the destination.
        #[schemars(length(min = 1, max = 256))]
        pub objects: Vec<DbsRestoreObject>,

        /// Confirms the write: `confirmTargetId` must equal `destination.instanceId` (RDS, ECS) or
        /// `destination.ip:port` (Express, Other).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub overwrite: Option<RestoreOverwrite>,
    }
}

/// `spec.source` of a `DbsRestoreTask`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.backupPlanRef) != has(self.backupPlanId)").message("source needs exactly one of backupPlanRef or backupPlanId"),
    validation = Rule::new("(has(self.backupSetId) ? 1 : 0) + (has(self.restoreTime) ? 1 : 0) + ((has(self.latestBackupSet) && self.latestBackupSet) ? 1 : 0) == 1").message("source needs exactly one of backupSetId, restoreTime or latestBackupSet: true"),
)]
pub struct DbsRestoreSource {
    /// A `DbsBackupPlan` in this namespace (its `status.backupPlanId` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_plan_ref: Option<LocalObjectRef>,

    /// A DBS backup plan id (`BackupPlanId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub backup_plan_id: Option<String>,

    /// A full backup set of the plan (`BackupSetId`); it must have finished
    /// (`DescribeFullBackupList`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub backup_set_id: Option<String>,

    /// A point in time, UTC `yyyy-MM-ddTHH:mm:ssZ` (sent as `RestoreTime` in milliseconds); it
    /// must lie in a range `DescribeRestoreRangeInfo` reports for the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))]
    pub restore_time: Option<String>,

    /// Restore the plan's newest finished full backup set (`DescribeFullBackupList`), as found
    /// when the restore starts (`status.source` names it); waits for the plan's first one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub latest_backup_set: bool,
}

/// `spec.destination` of a `DbsRestoreTask`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.instanceType == 'RDS' || self.instanceType == 'ECS' || self.instanceType == 'DDS') || has(self.instanceId)").message("destination instanceType RDS, ECS or DDS needs instanceId"),
    validation = Rule::new("!(self.instanceType == 'Express' || self.instanceType == 'Other') || (has(self.ip) && has(self.port))").message("destination instanceType Express or Other needs ip and port"),
    validation = Rule::new("self.instanceType != 'Agent'").message("destination instanceType Agent is not supported (it needs a backup gateway and a restore directory)"),
    validation = Rule::new("has(self.userName) == has(self.passwordSecretRef)").message("userName and passwordSecretRef go together"),
)]
pub struct DbsRestoreDestination {
    /// `DestinationEndpointInstanceType`: `RDS`, `ECS`, `DDS`, `Express` or `Other`.
    pub instance_type: DbsSourceInstanceType,
    /// `DestinationEndpointRegion` (default: `spec.region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    pub region: Option<String>,
    /// `DestinationEndpointInstanceID` (RDS, ECS, DDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub instance_id: Option<String>,
    /// `DestinationEndpointIP` (Express, Other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub ip: Option<String>,
    /// `DestinationEndpointPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// `DestinationEndpointDatabaseName` (PostgreSQL, MongoDB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub database_name: Option<String>,
    /// `DestinationEndpointOracleSID` (Oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub oracle_sid: Option<String>,
    /// `DestinationEndpointUserName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub user_name: Option<String>,
    /// Secret key holding `DestinationEndpointPassword` (never written anywhere else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
}

impl DbsRestoreDestination {
    /// The id of the endpoint (what `overwrite.confirmTargetId` must repeat): the instance id,
    /// else `ip:port`.
    pub fn target_id(&self) -> Option<String> {
        match (&self.instance_id, &self.ip, self.port) {
            (Some(id), _, _) => Some(id.clone()),
            (None, Some(ip), Some(port)) => Some(format!("{ip}:{port}")),
            _ => None,
        }
    }
}

/// One database of `spec.objects` (`RestoreObjects` entry `{DBName, NewDBName}`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbsRestoreObject {
    /// The database in the backup (`DBName`).
    #[schemars(length(min = 1, max = 64))]
    pub database: String,
    /// The name it is restored under at the destination (`NewDBName`); it must not exist
    /// there (the task fails otherwise, nothing is replaced).
    #[schemars(length(min = 1, max = 64))]
    pub new_database: String,
}
