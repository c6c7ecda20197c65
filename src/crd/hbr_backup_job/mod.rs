//! `HbrBackupJob`: one Cloud Backup (HBR) backup job (`CreateBackupJob`).
//!
//! * this file — the spec ([`HbrBackupJobSpec`]);
//! * `source` — the source types and what `ECS_FILE`, `UDM_ECS` and `CONTAINER` jobs take;
//! * `params` — the request parameters rendered from the spec;
//! * `status` — the phase and observed state ([`HbrBackupJobStatus`]).

mod params;
mod source;
mod status;

pub use source::*;
pub use status::*;

use super::common::{
    CredentialsRef, CrossAccount, DeletionPolicy, ManagementPolicy, custom_resource,
};

custom_resource! {
    kube(
        kind = "HbrBackupJob",
        plural = "hbrbackupjobs",
        shortname = "hbrjob",
        status = "HbrBackupJobStatus",
        doc = "A Cloud Backup (HBR) backup job (CreateBackupJob) for ECS files, an ECS instance or container volumes, tracked until it ends.",
        printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
        printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceType"),
        printcolumn(name = "Job", type_ = "string", json_path = ".status.jobId")
    ) + progress;
    /// One Cloud Backup (HBR) backup job for ECS files, a whole ECS instance or ACK container
    /// volumes. A one-shot object: the job is created once and tracked to its end; the spec cannot
    /// be changed after creation.
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
