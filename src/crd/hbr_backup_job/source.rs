//! What an `HbrBackupJob` backs up and how: the source and backup types, the `UDM_ECS`
//! detail, the `ECS_FILE` throttling windows and options, the `CONTAINER` volumes.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `SourceType` of `CreateBackupJob`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrSourceType {
    /// Files on an ECS instance.
    #[serde(rename = "ECS_FILE")]
    EcsFile,
    /// A whole ECS instance.
    #[serde(rename = "UDM_ECS")]
    UdmEcs,
    /// Container (ACK) volumes.
    #[serde(rename = "CONTAINER")]
    Container,
}

impl HbrSourceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcsFile => "ECS_FILE",
            Self::UdmEcs => "UDM_ECS",
            Self::Container => "CONTAINER",
        }
    }
}

/// `BackupType` of `CreateBackupJob`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrBackupType {
    /// Full backup.
    #[serde(rename = "COMPLETE")]
    Complete,
    /// Incremental backup.
    #[serde(rename = "INCREMENTAL")]
    Incremental,
}

impl HbrBackupType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "COMPLETE",
            Self::Incremental => "INCREMENTAL",
        }
    }
}

/// ECS instance backup details (the `Detail` JSON of `CreateBackupJob`). Field names are the
/// API's JSON keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.doCopy) || !self.doCopy || has(self.destinationRegionId)").message("detail.doCopy needs detail.destinationRegionId"),
    validation = Rule::new("!has(self.appConsistent) || !self.appConsistent || (has(self.preScriptPath) && has(self.postScriptPath))").message("detail.appConsistent needs detail.preScriptPath and detail.postScriptPath"),
)]
pub struct HbrDetail {
    /// Copy the backup to another region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_copy: Option<bool>,
    /// Destination region of the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub destination_region_id: Option<String>,
    /// Retention (days) of the copied backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub destination_retention: Option<i64>,
    /// Disks to back up; empty means all disks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 64)))]
    pub disk_id_list: Vec<String>,
    /// Use a snapshot-consistent group (all disks must be ESSDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_group: Option<bool>,
    /// Application-consistent backup; use with `preScriptPath` and `postScriptPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_consistent: Option<bool>,
    /// Path of the pre-freeze script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub pre_script_path: Option<String>,
    /// Path of the post-thaw script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub post_script_path: Option<String>,
    /// With `appConsistent`: application-consistent (true, default) or file-system-consistent
    /// (false) snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_writers: Option<bool>,
    /// With `appConsistent`: freeze Linux file systems (fsfreeze) first. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_fs_freeze: Option<bool>,
    /// With `appConsistent`: I/O freeze timeout in seconds. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i64>,
}

/// One throttling window of an `ECS_FILE` job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.endHour > self.startHour").message("endHour must be after startHour"))]
pub struct HbrSpeedLimit {
    /// First hour of the window (0-23).
    #[schemars(range(min = 0, max = 23))]
    pub start_hour: i32,
    /// Hour the window ends (1-24).
    #[schemars(range(min = 1, max = 24))]
    pub end_hour: i32,
    /// Bandwidth limit in KB/s.
    #[serde(rename = "bandwidthKBps")]
    #[schemars(range(min = 1))]
    pub bandwidth_kbps: i64,
}

/// Options of an `ECS_FILE` job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HbrOptions {
    /// Use Windows Volume Shadow Copy Service (Windows instances only; a single include path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_vss: Option<bool>,
}

/// One container resource (volume) of a `CONTAINER` job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HbrContainerResource {
    /// Resource type, e.g. `PV`.
    #[schemars(length(min = 1, max = 64))]
    pub resource_type: String,
    /// Backup method, e.g. `FILE`.
    #[schemars(length(min = 1, max = 64))]
    pub backup_method: String,
    /// Resource ID (the volume UID).
    #[schemars(length(min = 1, max = 256))]
    pub resource_id: String,
    /// Details of the persistent volume (sent as the JSON string `resourceInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_info: Option<HbrPvInfo>,
    /// Node that mounts the volume, e.g. `cn-hangzhou.192.168.0.10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub host: Option<String>,
    /// Mount path prefix on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub host_prefix: Option<String>,
    /// Path inside the volume to back up, e.g. `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub pv_path: Option<String>,
}

/// Persistent-volume details of a container resource (the API's `resourceInfo`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HbrPvInfo {
    /// PersistentVolume name (`pv_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub pv_name: Option<String>,
    /// PersistentVolume size, e.g. `8Gi` (`pv_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub pv_size: Option<String>,
    /// StorageClass name (`storage_class`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class: Option<String>,
    /// PersistentVolumeClaim name (`pvc_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub pvc_name: Option<String>,
    /// Namespace of the claim (`namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}
