//! `HbrBackupJob`: one Cloud Backup (HBR) backup job (`CreateBackupJob`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CredentialsRef, CrossAccount, DeletionPolicy, ManagementPolicy, PendingCreate, RenderError,
    render_json as json,
};

/// One Cloud Backup (HBR) backup job for ECS files, a whole ECS instance or ACK container
/// volumes. A one-shot object: the job is created once and tracked to its end; the spec cannot
/// be changed after creation.
// `printcolumn(...)` entries repeat keys such as `type_`, which clippy mistakes for duplicated
// attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "backup.aliyun.dev",
    version = "v1alpha1",
    kind = "HbrBackupJob",
    plural = "hbrbackupjobs",
    shortname = "hbrjob",
    category = "aliyunbackup",
    namespaced,
    status = "HbrBackupJobStatus",
    derive = "PartialEq",
    doc = "A Cloud Backup (HBR) backup job (CreateBackupJob) for ECS files, an ECS instance or container volumes, tracked until it ends.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceType"),
    printcolumn(name = "Job", type_ = "string", json_path = ".status.jobId"),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.progress",
        description = "Percent done"
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
    validation = Rule::new("self == oldSelf").message("HbrBackupJob spec is immutable: it describes one job; create a new HbrBackupJob instead"),
    validation = Rule::new("!(self.sourceType in ['UDM_ECS', 'ECS_FILE']) || has(self.instanceId)").message("sourceType UDM_ECS and ECS_FILE need instanceId (the ECS instance to back up)"),
    validation = Rule::new("!(self.sourceType in ['ECS_FILE', 'CONTAINER']) || has(self.vaultId)").message("sourceType ECS_FILE and CONTAINER need vaultId (the backup vault that stores the data)"),
    validation = Rule::new("self.sourceType != 'UDM_ECS' || !has(self.backupType) || self.backupType == 'COMPLETE'").message("sourceType UDM_ECS supports only backupType COMPLETE"),
    validation = Rule::new("has(self.jobId) || self.sourceType != 'CONTAINER' || (has(self.containerClusterId) && has(self.containerResources) && size(self.containerResources) > 0)").message("sourceType CONTAINER needs containerClusterId and at least one containerResources entry"),
    validation = Rule::new("has(self.jobId) || self.sourceType != 'ECS_FILE' || (has(self.include) && size(self.include) > 0)").message("sourceType ECS_FILE needs at least one include path"),
    validation = Rule::new("self.sourceType == 'ECS_FILE' || ((!has(self.include) || size(self.include) == 0) && (!has(self.exclude) || size(self.exclude) == 0) && (!has(self.speedLimits) || size(self.speedLimits) == 0) && !has(self.options))").message("include, exclude, speedLimits and options apply only to sourceType ECS_FILE"),
    validation = Rule::new("self.sourceType == 'CONTAINER' || ((!has(self.containerResources) || size(self.containerResources) == 0) && !has(self.containerClusterId))").message("containerClusterId and containerResources apply only to sourceType CONTAINER"),
    validation = Rule::new("self.sourceType == 'UDM_ECS' || !has(self.detail)").message("detail applies only to sourceType UDM_ECS"),
    validation = Rule::new("!has(self.options) || !has(self.options.useVss) || !self.options.useVss || !has(self.include) || size(self.include) <= 1").message("options.useVss allows a single include path"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'ObserveOnly' || has(self.jobId)").message("managementPolicy ObserveOnly needs jobId (the job to observe)"),
)]
pub struct HbrBackupJobSpec {
    /// Alibaba Cloud region of the source and vault, e.g. `cn-hangzhou`. Selects the HBR
    /// endpoint.
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    pub region: String,

    /// Secret (same namespace) with `accessKeyId`, `accessKeySecret` and optional
    /// `securityToken`. Without it, the operator's own credentials chain is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialsRef>,

    /// What deleting this object does in the cloud. A running job is always cancelled
    /// (`CancelBackupJob`); `Delete` additionally deletes the job's snapshot (`DeleteSnapshot`,
    /// found with `DescribeUdmSnapshots` for `UDM_ECS` and `SearchHistoricalSnapshots` for
    /// `ECS_FILE`; the finalizer stays until it is gone). A `CONTAINER` snapshot cannot be found
    /// (the snapshot search covers `ECS_FILE`, `OSS` and `NAS`): it stays in the vault and a
    /// `SnapshotRetained` Warning event says so. `Retain` keeps the snapshot. Unset: the namespace annotation
    /// `backup.aliyun.dev/default-deletion-policy`, else the operator's
    /// `--default-deletion-policy` (chart `defaults.deletionPolicy`, default `Retain`);
    /// `status.deletionPolicy` shows the policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Deadline of the backup from its creation, e.g. `6h` (units `s`, `m`, `h`, `d`). Past it,
    /// the object ends `Failed` with reason `DeadlineExceeded` and the running job is
    /// cancelled (`CancelBackupJob`). Unset: no deadline. Not applied with
    /// `managementPolicy: ObserveOnly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"), length(max = 64))]
    pub timeout: Option<String>,

    /// Data source (`SourceType`): `ECS_FILE` (files on an ECS instance), `UDM_ECS` (a whole ECS
    /// instance) or `CONTAINER` (ACK volumes).
    pub source_type: HbrSourceType,

    /// Days to keep the backup (`Retention`).
    #[schemars(range(min = 1))]
    pub retention: i64,

    /// ECS instance to back up (`InstanceId`). Required for `UDM_ECS` and `ECS_FILE` (the
    /// instance whose files are backed up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub instance_id: Option<String>,

    /// `COMPLETE` (full) or `INCREMENTAL` (`BackupType`). `UDM_ECS` supports only `COMPLETE`,
    /// which the operator sends when this is unset for `UDM_ECS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_type: Option<HbrBackupType>,

    /// Backup vault (`VaultId`). Required for `ECS_FILE` and `CONTAINER`; optional for
    /// `UDM_ECS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub vault_id: Option<String>,

    /// Prefix of the cloud job name (`JobName`). The operator appends the object's UID so the job
    /// can be found again after a crash; the full name is in `status.jobName`, at most 64
    /// characters (a longer prefix is shortened, never the UID). Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub job_name: Option<String>,

    /// ECS instance backup details (`Detail`, sent as a JSON object). `UDM_ECS` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<HbrDetail>,

    /// Paths to back up (`Include`, sent as a JSON array). `ECS_FILE` only; required there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 255)))]
    pub include: Vec<String>,

    /// Paths to leave out (`Exclude`, sent as a JSON array). `ECS_FILE` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 255)))]
    pub exclude: Vec<String>,

    /// Bandwidth throttling windows (`SpeedLimit`, rendered `start:end:bandwidth|...`).
    /// `ECS_FILE` only. Windows must not overlap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 24))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["startHour".into()]))]
    #[x_kube(validation = Rule::new("self.all(a, self.all(b, a == b || a.endHour <= b.startHour || b.endHour <= a.startHour))").message("speedLimits windows must not overlap"))]
    pub speed_limits: Vec<HbrSpeedLimit>,

    /// Backup client options (`Options`). `ECS_FILE` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<HbrOptions>,

    /// ID of the ACK cluster (`ClusterId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub cluster_id: Option<String>,

    /// HBR container cluster ID (`ContainerClusterId`, `cc-...`). Required for `CONTAINER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub container_cluster_id: Option<String>,

    /// Volumes to back up (`ContainerResources`, sent as a JSON array). Required for `CONTAINER`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub container_resources: Vec<HbrContainerResource>,

    /// Whether the request is initiated by Container Service for Kubernetes (`InitiatedByAck`).
    /// Cloud default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by_ack: Option<bool>,

    /// Cross-account backup (`CrossAccountType`, `CrossAccountUserId`, `CrossAccountRoleName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_account: Option<CrossAccount>,

    /// Adopt an existing job (`JobId`) of `sourceType` instead of calling `CreateBackupJob`:
    /// it is tracked like a job the operator created (with `Manage`, cancelled on deletion
    /// while it runs and its snapshot deleted with `deletionPolicy: Delete`). Refused
    /// (`Stalled/AdoptionRefused`) when another `HbrBackupJob` holds it. With it, `include`
    /// (`ECS_FILE`) and the container fields (`CONTAINER`) are not needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub job_id: Option<String>,

    /// `Manage` (default): the operator creates (or adopts), tracks and cleans up the job.
    /// `ObserveOnly`: status follows the job named by `jobId` (required), the operator never
    /// writes to the cloud (no create, no cancel, no snapshot deletion), and deleting the
    /// object never touches the cloud, whatever `deletionPolicy` says.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
}

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

/// Lifecycle phase of an `HbrBackupJob`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum HbrBackupJobPhase {
    /// Accepted, nothing sent to the cloud yet.
    #[default]
    Pending,
    /// `CreateBackupJob` is being sent (intent recorded in `pendingCreate`).
    Creating,
    /// The job runs in the cloud.
    Running,
    /// `COMPLETE`.
    Succeeded,
    /// `PARTIAL_COMPLETE`: some data was not backed up.
    PartiallySucceeded,
    /// `FAILED` or `EXPIRED`.
    Failed,
    /// `CANCELED`.
    Cancelled,
    /// The object is being deleted (cancel / cloud cleanup per `deletionPolicy`).
    Deleting,
}

impl HbrBackupJobPhase {
    /// The phase name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Creating => "Creating",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::PartiallySucceeded => "PartiallySucceeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
            Self::Deleting => "Deleting",
        }
    }

    /// True for phases after which no cloud work remains.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::PartiallySucceeded | Self::Failed | Self::Cancelled
        )
    }
}

impl std::fmt::Display for HbrBackupJobPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of an `HbrBackupJob`. Every field is optional so that partial
/// server-side-apply writes are possible.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HbrBackupJobStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<HbrBackupJobPhase>,

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

    /// Intent record written before `CreateBackupJob` (exactly-once across crashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,

    /// `JobId` returned by `CreateBackupJob` (or found with `DescribeBackupJobs2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,

    /// The full `JobName` sent to the cloud (prefix + object UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,

    /// Snapshot IDs produced by the job (`UDM_ECS`: from `DescribeUdmSnapshots`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_ids: Vec<String>,

    /// Raw job `Status` (`CREATED`, `RUNNING`, `COMPLETE`, `PARTIAL_COMPLETE`, `FAILED`,
    /// `CANCELED`, `EXPIRED`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_status: Option<String>,

    /// Percent done (0-100; the API reports 0-10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub progress: Option<i32>,

    /// Bytes processed so far (`BytesDone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_done: Option<i64>,

    /// Bytes to process (`BytesTotal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<i64>,

    /// Bytes actually stored (`ActualBytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_bytes: Option<i64>,

    /// The job's `ErrorMessage` when it failed or partially succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,

    /// Job start (`StartTime`, or when it was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// Job end (`CompleteTime`), or when the object reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// Alibaba Cloud `RequestId` of the last failed call (for support tickets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_id: Option<String>,
}

impl HbrBackupJobSpec {
    /// `SpeedLimit`: `start:end:bandwidth` windows joined with `|`; `None` when empty.
    pub fn speed_limit_param(&self) -> Option<String> {
        if self.speed_limits.is_empty() {
            return None;
        }
        Some(
            self.speed_limits
                .iter()
                .map(|s| format!("{}:{}:{}", s.start_hour, s.end_hour, s.bandwidth_kbps))
                .collect::<Vec<_>>()
                .join("|"),
        )
    }

    /// `Include`: JSON array of paths; `None` when empty.
    pub fn include_param(&self) -> Result<Option<String>, RenderError> {
        if self.include.is_empty() {
            return Ok(None);
        }
        json("include", &self.include).map(Some)
    }

    /// `Exclude`: JSON array of paths; `None` when empty.
    pub fn exclude_param(&self) -> Result<Option<String>, RenderError> {
        if self.exclude.is_empty() {
            return Ok(None);
        }
        json("exclude", &self.exclude).map(Some)
    }

    /// `Options`: `{"UseVSS":bool}`; `None` when unset.
    pub fn options_param(&self) -> Result<Option<String>, RenderError> {
        match self.options.as_ref().and_then(|o| o.use_vss) {
            None => Ok(None),
            Some(v) => json("options", &serde_json::json!({ "UseVSS": v })).map(Some),
        }
    }

    /// `Detail`: the detail object as JSON (API key names); `None` when unset.
    pub fn detail_param(&self) -> Result<Option<String>, RenderError> {
        match &self.detail {
            None => Ok(None),
            Some(d) => json("detail", d).map(Some),
        }
    }

    /// `ContainerResources`: JSON array; each `resourceInfo` is itself a JSON string with
    /// snake_case keys, as the API expects. `None` when empty.
    pub fn container_resources_param(&self) -> Result<Option<String>, RenderError> {
        if self.container_resources.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(self.container_resources.len());
        for r in &self.container_resources {
            let mut m = serde_json::Map::new();
            m.insert("resourceType".into(), r.resource_type.clone().into());
            m.insert("backupMethod".into(), r.backup_method.clone().into());
            m.insert("resourceId".into(), r.resource_id.clone().into());
            if let Some(info) = &r.resource_info {
                let mut i = serde_json::Map::new();
                for (k, v) in [
                    ("pv_name", &info.pv_name),
                    ("pv_size", &info.pv_size),
                    ("storage_class", &info.storage_class),
                    ("pvc_name", &info.pvc_name),
                    ("namespace", &info.namespace),
                ] {
                    if let Some(v) = v {
                        i.insert(k.into(), v.clone().into());
                    }
                }
                m.insert(
                    "resourceInfo".into(),
                    json("containerResources.resourceInfo", &i)?.into(),
                );
            }
            for (k, v) in [
                ("host", &r.host),
                ("hostPrefix", &r.host_prefix),
                ("pvPath", &r.pv_path),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v.clone().into());
                }
            }
            items.push(serde_json::Value::Object(m));
        }
        json("containerResources", &items).map(Some)
    }

    /// `Detail` as a JSON value (for clients that stringify JSON parameters themselves).
    pub fn detail_value(&self) -> Result<Option<serde_json::Value>, RenderError> {
        self.detail
            .as_ref()
            .map(|d| {
                serde_json::to_value(d).map_err(|source| RenderError::Json {
                    field: "detail",
                    source,
                })
            })
            .transpose()
    }

    /// `Options` as a JSON value (`{"UseVSS":bool}`); `None` when unset.
    pub fn options_value(&self) -> Option<serde_json::Value> {
        self.options
            .as_ref()
            .and_then(|o| o.use_vss)
            .map(|v| serde_json::json!({ "UseVSS": v }))
    }

    /// `ContainerResources` as a JSON value (the array; each `resourceInfo` stays a JSON
    /// string, as the API expects); `None` when empty.
    pub fn container_resources_value(&self) -> Result<Option<serde_json::Value>, RenderError> {
        match self.container_resources_param()? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|source| RenderError::Json {
                    field: "containerResources",
                    source,
                }),
        }
    }

    /// The `BackupType` to send: the spec value, or `COMPLETE` for `UDM_ECS` when unset.
    pub fn backup_type_param(&self) -> Option<HbrBackupType> {
        match (self.backup_type, self.source_type) {
            (Some(t), _) => Some(t),
            (None, HbrSourceType::UdmEcs) => Some(HbrBackupType::Complete),
            (None, _) => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn base() -> HbrBackupJobSpec {
        HbrBackupJobSpec {
            region: "cn-hangzhou".into(),
            credentials_ref: None,
            deletion_policy: Some(DeletionPolicy::Retain),
            timeout: None,
            source_type: HbrSourceType::EcsFile,
            retention: 7,
            instance_id: Some("i-demo01".into()),
            backup_type: None,
            vault_id: None,
            job_name: None,
            detail: None,
            include: vec![],
            exclude: vec![],
            speed_limits: vec![],
            options: None,
            cluster_id: None,
            container_cluster_id: None,
            container_resources: vec![],
            initiated_by_ack: None,
            cross_account: None,
            job_id: None,
            management_policy: ManagementPolicy::Manage,
        }
    }

    #[test]
    fn speed_limits_render() {
        let mut s = base();
        assert_eq!(s.speed_limit_param(), None);
        s.speed_limits = vec![
            HbrSpeedLimit {
                start_hour: 0,
                end_hour: 8,
                bandwidth_kbps: 10240,
            },
            HbrSpeedLimit {
                start_hour: 8,
                end_hour: 24,
                bandwidth_kbps: 1024,
            },
        ];
        assert_eq!(s.speed_limit_param().unwrap(), "0:8:10240|8:24:1024");
    }

    #[test]
    fn lists_and_options_render_as_json() {
        let mut s = base();
        assert_eq!(s.include_param().unwrap(), None);
        assert_eq!(s.options_param().unwrap(), None);
        s.include = vec!["/home/alice/*.pdf".into(), "/data".into()];
        s.exclude = vec!["/var".into()];
        s.options = Some(HbrOptions {
            use_vss: Some(true),
        });
        assert_eq!(
            s.include_param().unwrap().unwrap(),
            r#"["/home/alice/*.pdf","/data"]"#
        );
        assert_eq!(s.exclude_param().unwrap().unwrap(), r#"["/var"]"#);
        assert_eq!(s.options_param().unwrap().unwrap(), r#"{"UseVSS":true}"#);
        assert_eq!(s.options_value(), Some(serde_json::json!({"UseVSS": true})));
    }

    #[test]
    fn detail_uses_api_keys() {
        let mut s = base();
        s.detail = Some(HbrDetail {
            do_copy: Some(false),
            disk_id_list: vec!["d-1".into()],
            app_consistent: Some(true),
            timeout_seconds: Some(60),
            ..Default::default()
        });
        let v: serde_json::Value =
            serde_json::from_str(&s.detail_param().unwrap().unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"doCopy": false, "diskIdList": ["d-1"], "appConsistent": true, "timeoutSeconds": 60})
        );
    }

    #[test]
    fn container_resources_nest_resource_info_as_string() {
        let mut s = base();
        s.source_type = HbrSourceType::Container;
        s.container_resources = vec![HbrContainerResource {
            resource_type: "PV".into(),
            backup_method: "FILE".into(),
            resource_id: "674dac6d".into(),
            resource_info: Some(HbrPvInfo {
                pv_name: Some("nas-1".into()),
                pv_size: Some("8Gi".into()),
                storage_class: None,
                pvc_name: Some("data-0".into()),
                namespace: Some("database".into()),
            }),
            host: Some("cn-hangzhou.192.168.0.1".into()),
            host_prefix: None,
            pv_path: Some("/".into()),
        }];
        let out = s.container_resources_param().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["resourceType"], "PV");
        assert_eq!(v[0]["pvPath"], "/");
        let info: serde_json::Value =
            serde_json::from_str(v[0]["resourceInfo"].as_str().unwrap()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"pv_name": "nas-1", "pv_size": "8Gi", "pvc_name": "data-0", "namespace": "database"})
        );
        assert!(v[0].get("hostPrefix").is_none());
        assert_eq!(s.container_resources_value().unwrap(), Some(v));
    }

    #[test]
    fn udm_ecs_defaults_to_complete() {
        let mut s = base();
        assert_eq!(s.backup_type_param(), None);
        s.source_type = HbrSourceType::UdmEcs;
        assert_eq!(s.backup_type_param(), Some(HbrBackupType::Complete));
        s.backup_type = Some(HbrBackupType::Incremental);
        assert_eq!(s.backup_type_param(), Some(HbrBackupType::Incremental));
    }
}
