//! `HbrRestoreJob`: data back from a Cloud Backup (HBR) snapshot (`CreateRestoreJob`).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LocalObjectRef, RestoreCommon, RestoreOverwrite, RestoreStatus};
use crate::crd::common::custom_resource;

custom_resource! {
    kube(
        kind = "HbrRestoreJob",
        plural = "hbrrestorejobs",
        shortname = "hbrrs",
        status = "RestoreStatus",
        doc = "A restore of a Cloud Backup (HBR) snapshot (CreateRestoreJob), tracked to its end.",
        printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
        printcolumn(
            name = "Type",
            type_ = "string",
            json_path = ".spec.target.restoreType"
        ),
        printcolumn(name = "Source", type_ = "string", json_path = ".status.source"),
        printcolumn(name = "Target", type_ = "string", json_path = ".status.targetId")
    ) + progress;
    /// A restore of a Cloud Backup (HBR) snapshot into an ECS instance's path, back onto the
    /// whole ECS instance, into an OSS bucket or a NAS file system (`CreateRestoreJob`), tracked to
    /// its end. Every HBR restore writes into something that exists, so `overwrite.confirmTargetId`
    /// must name it. Immutable; deleting the object while the restore runs cancels it
    /// (`CancelRestoreJob`) and never deletes restored data.
    #[serde(rename_all = "camelCase")]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("HbrRestoreJob spec is immutable: a restore is an event; create a new HbrRestoreJob instead"),
        validation = Rule::new("has(self.overwrite)").message("every HBR restore writes into an existing instance, bucket or file system: set overwrite.confirmTargetId to its id"),
    )]
    pub struct HbrRestoreJobSpec {
        /// Alibaba Cloud region of the vault, e.g. `cn-hangzhou`.
        #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
        pub region: String,

        /// The credentials and the dry run (flattened).
        #[serde(flatten)]
        pub common: RestoreCommon,

        /// The snapshot: `backupJobRef`, or `{sourceType, snapshotId, snapshotHash, vaultId}`.
        pub source: HbrRestoreSource,

        /// Where the data goes (`RestoreType` and the target parameters).
        pub target: HbrRestoreTarget,

        /// Confirms the write: `confirmTargetId` must equal the target's id (`target.instanceId`,
        /// `target.bucket` or `target.fileSystemId`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub overwrite: Option<RestoreOverwrite>,
    }
}

/// `spec.source` of an `HbrRestoreJob`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.backupJobRef) != has(self.snapshotId)").message("source needs exactly one of backupJobRef or snapshotId"),
    validation = Rule::new("!has(self.snapshotId) || has(self.sourceType)").message("snapshotId needs sourceType"),
    validation = Rule::new("!has(self.snapshotId) || (has(self.sourceType) && self.sourceType == 'UDM_ECS') || (has(self.snapshotHash) && has(self.vaultId))").message("a file, OSS or NAS snapshot needs snapshotHash and vaultId"),
)]
pub struct HbrRestoreSource {
    /// An `HbrBackupJob` in this namespace (`ECS_FILE` or `UDM_ECS`); it must be `Succeeded`.
    /// Its snapshot is looked up by its job id (`SearchHistoricalSnapshots` /
    /// `DescribeUdmSnapshots`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_job_ref: Option<LocalObjectRef>,

    /// `SourceType` of the snapshot: `ECS_FILE`, `UDM_ECS`, `OSS` or `NAS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<HbrRestoreSourceType>,

    /// `SnapshotId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_.-]+$"), length(min = 1, max = 128))]
    pub snapshot_id: Option<String>,

    /// `SnapshotHash` (file, OSS and NAS snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub snapshot_hash: Option<String>,

    /// `VaultId` of the snapshot (file, OSS and NAS snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub vault_id: Option<String>,
}

/// `SourceType` of a restorable HBR snapshot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrRestoreSourceType {
    /// Files of an ECS instance.
    #[serde(rename = "ECS_FILE")]
    EcsFile,
    /// A whole ECS instance.
    #[serde(rename = "UDM_ECS")]
    UdmEcs,
    /// An OSS bucket.
    #[serde(rename = "OSS")]
    Oss,
    /// A NAS file system.
    #[serde(rename = "NAS")]
    Nas,
}

impl HbrRestoreSourceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcsFile => "ECS_FILE",
            Self::UdmEcs => "UDM_ECS",
            Self::Oss => "OSS",
            Self::Nas => "NAS",
        }
    }
}

/// `RestoreType` of `CreateRestoreJob` (the destination; it must match the source's data
/// type).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrRestoreType {
    /// Files into a path of an ECS instance (from an `ECS_FILE` snapshot).
    #[serde(rename = "ECS_FILE")]
    EcsFile,
    /// The whole ECS instance rolled back in place (from a `UDM_ECS` snapshot).
    #[serde(rename = "UDM_ECS_ROLLBACK")]
    UdmEcsRollback,
    /// Objects into an OSS bucket (from an `OSS` snapshot).
    #[serde(rename = "OSS")]
    Oss,
    /// Files into a NAS file system (from a `NAS` snapshot).
    #[serde(rename = "NAS")]
    Nas,
}

impl HbrRestoreType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcsFile => "ECS_FILE",
            Self::UdmEcsRollback => "UDM_ECS_ROLLBACK",
            Self::Oss => "OSS",
            Self::Nas => "NAS",
        }
    }

    /// The snapshot source type this restore type takes.
    pub fn source_type(self) -> HbrRestoreSourceType {
        match self {
            Self::EcsFile => HbrRestoreSourceType::EcsFile,
            Self::UdmEcsRollback => HbrRestoreSourceType::UdmEcs,
            Self::Oss => HbrRestoreSourceType::Oss,
            Self::Nas => HbrRestoreSourceType::Nas,
        }
    }
}

/// `spec.target` of an `HbrRestoreJob`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.restoreType != 'ECS_FILE' || (has(self.instanceId) && has(self.path))").message("restoreType ECS_FILE needs instanceId and path"),
    validation = Rule::new("self.restoreType != 'UDM_ECS_ROLLBACK' || has(self.instanceId)").message("restoreType UDM_ECS_ROLLBACK needs instanceId (the instance the snapshot was taken of)"),
    validation = Rule::new("self.restoreType != 'OSS' || has(self.bucket)").message("restoreType OSS needs bucket"),
    validation = Rule::new("self.restoreType != 'NAS' || (has(self.fileSystemId) && has(self.fileSystemCreateTime))").message("restoreType NAS needs fileSystemId and fileSystemCreateTime"),
)]
pub struct HbrRestoreTarget {
    /// `RestoreType`: `ECS_FILE`, `UDM_ECS_ROLLBACK`, `OSS` or `NAS`.
    pub restore_type: HbrRestoreType,
    /// `TargetInstanceId` (ECS_FILE) or `UdmDetail.sourceInstanceId` (UDM_ECS_ROLLBACK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z_-]+$"), length(min = 1, max = 64))]
    pub instance_id: Option<String>,
    /// `TargetPath` (ECS_FILE): restore into an empty, dedicated directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: Option<String>,
    /// `Include` (ECS_FILE): paths to restore (sent as a JSON array; at most 255 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 255)))]
    pub include: Vec<String>,
    /// `Exclude` (ECS_FILE): paths not to restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 255)))]
    pub exclude: Vec<String>,
    /// `TargetBucket` (OSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63))]
    pub bucket: Option<String>,
    /// `TargetPrefix` (OSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub prefix: Option<String>,
    /// `TargetFileSystemId` (NAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub file_system_id: Option<String>,
    /// `TargetCreateTime` (NAS): the file system's creation time, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub file_system_create_time: Option<i64>,
    /// `UdmDetail.bootAfterRestore` (UDM_ECS_ROLLBACK): start the instance afterwards.
    /// (`forceRestore`, documented as "proceed with caution", is never sent.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_after_restore: Option<bool>,
}

impl HbrRestoreTarget {
    /// The id of what the restore writes into (what `overwrite.confirmTargetId` must repeat).
    pub fn target_id(&self) -> Option<&str> {
        match self.restore_type {
            HbrRestoreType::EcsFile | HbrRestoreType::UdmEcsRollback => self.instance_id.as_deref(),
            HbrRestoreType::Oss => self.bucket.as_deref(),
            HbrRestoreType::Nas => self.file_system_id.as_deref(),
        }
    }
}
