//! Types and constants shared by all three custom resources.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every custom resource of this operator.
pub const API_GROUP: &str = "backup.aliyun.dev";
/// API version of every custom resource of this operator.
pub const API_VERSION: &str = "v1alpha1";
/// `kubectl get aliyunbackup` lists all three kinds.
pub const CATEGORY: &str = "aliyunbackup";
/// Field manager for server-side apply and reporter name for events.
pub const FIELD_MANAGER: &str = "aliyun-backup-operator";

/// Finalizer that guards cloud-side cleanup.
pub const FINALIZER: &str = "backup.aliyun.dev/cleanup";
/// Annotation: when `"true"`, deleting the object never touches the cloud (even with broken
/// credentials); the finalizer is simply removed.
pub const ANNOTATION_ORPHAN_ON_DELETE: &str = "backup.aliyun.dev/orphan-on-delete";
/// Annotation: when `"true"`, the operator leaves the object alone: no cloud call, no status
/// change but the `Paused` condition, and deletion waits (unless `orphan-on-delete` is set).
/// Removing it resumes where the object stopped.
pub const ANNOTATION_PAUSED: &str = "backup.aliyun.dev/paused";
/// Namespace annotation: the `deletionPolicy` (`Retain` or `Delete`) of the objects in the
/// namespace whose spec sets none.
pub const ANNOTATION_DEFAULT_DELETION_POLICY: &str = "backup.aliyun.dev/default-deletion-policy";
/// Annotation: changing its value (conventionally an RFC 3339 timestamp) asks for an immediate
/// reconcile.
pub const ANNOTATION_RECONCILE_REQUESTED_AT: &str = "backup.aliyun.dev/reconcile-requested-at";

/// Condition type: the desired end state is reached (normal-true).
pub const CONDITION_READY: &str = "Ready";
/// Condition type: work is in progress (abnormal-true, kstatus).
pub const CONDITION_RECONCILING: &str = "Reconciling";
/// Condition type: progress needs a human (abnormal-true, kstatus).
pub const CONDITION_STALLED: &str = "Stalled";
/// Condition type: the operator is paused for this object (annotation `backup.aliyun.dev/paused`
/// or a paused namespace); present only while paused.
pub const CONDITION_PAUSED: &str = "Paused";
/// Condition type: the object took over a cloud object that existed before it (`True`, reason
/// `AdoptedExisting`, the message names the id and the management policy). Absent on objects
/// whose cloud object the operator created.
pub const CONDITION_ADOPTED: &str = "Adopted";

/// Regular expression an Alibaba Cloud region id must match (`cn-hangzhou`, `ap-southeast-1`,
/// `cn-shanghai-finance-1`, ...).
pub const REGION_PATTERN: &str = r"^[a-z]{2,}(-[a-z0-9]+)+$";

/// Schema transform for enums: drop the type-level description so that the *field's* rustdoc
/// becomes the `kubectl explain` text (kube's `Option<enum>` flattening would otherwise let the
/// type's description win).
pub fn field_doc_only(schema: &mut schemars::Schema) {
    schema.remove("description");
}

/// Annotation that resolves an `RdsBackup` whose create outcome is unknown (reason
/// `CreateOutcomeUnknown`): the `BackupId` of the backup set the user confirms as this
/// object's. See `docs/architecture.md#exactly-once`.
pub const ANNOTATION_ADOPT_BACKUP_ID: &str = "backup.aliyun.dev/adopt-backup-id";

/// The value of the `backup.aliyun.dev/adopt-backup-id` annotation, trimmed, if set.
pub fn adopt_backup_id(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<&str> {
    annotations
        .and_then(|a| a.get(ANNOTATION_ADOPT_BACKUP_ID))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The spellings every boolean annotation of the operator accepts for "true" (any case, spaces
/// around ignored): `true`, `yes`, `on`, `1`.
pub const TRUE_SPELLINGS: [&str; 4] = ["true", "yes", "on", "1"];
/// The spellings every boolean annotation of the operator accepts for "false" (any case, spaces
/// around ignored): `false`, `no`, `off`, `0` and the empty value.
pub const FALSE_SPELLINGS: [&str; 5] = ["false", "no", "off", "0", ""];

/// Namespace annotation: `"false"` (any false spelling, [`falsy`]) turns off the automatic
/// resolution of lost create answers for the namespace's objects (they stop at
/// `CreateOutcomeUnknown` for a person to decide, as with `--auto-resolve-lost-creates=false`).
pub const ANNOTATION_AUTO_RESOLVE_LOST_CREATES: &str =
    "backup.aliyun.dev/auto-resolve-lost-creates";

/// Annotation that makes the API server refuse to delete the object (the chart's
/// ValidatingAdmissionPolicy; see `docs/operations.md#deletion-protection`).
pub const ANNOTATION_DELETION_PROTECTION: &str = "backup.aliyun.dev/deletion-protection";

/// Whether `value` is one of [`TRUE_SPELLINGS`].
pub fn truthy(value: &str) -> bool {
    let v = value.trim();
    TRUE_SPELLINGS.iter().any(|t| v.eq_ignore_ascii_case(t))
}

/// Whether `value` is one of [`FALSE_SPELLINGS`].
pub fn falsy(value: &str) -> bool {
    let v = value.trim();
    FALSE_SPELLINGS.iter().any(|t| v.eq_ignore_ascii_case(t))
}

/// True when the annotation `key` is set to a "true" spelling ([`truthy`]). Anything else,
/// including a typo, is false: these annotations make the operator do less (pause) or skip
/// cloud cleanup, and a typo must not do either.
fn annotation_true(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    key: &str,
) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .is_some_and(|v| truthy(v))
}

/// True when the `backup.aliyun.dev/orphan-on-delete` annotation is set to "true" ([`truthy`]).
pub fn orphan_on_delete(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotation_true(annotations, ANNOTATION_ORPHAN_ON_DELETE)
}

/// True when the `backup.aliyun.dev/paused` annotation is set to "true" ([`truthy`]).
pub fn paused(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotation_true(annotations, ANNOTATION_PAUSED)
}

/// True when the `backup.aliyun.dev/deletion-protection` annotation protects the object. It
/// fails closed: any value but a "false" spelling ([`falsy`]) protects, as the chart's
/// admission policy decides.
pub fn deletion_protected(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    annotations
        .and_then(|a| a.get(ANNOTATION_DELETION_PROTECTION))
        .is_some_and(|v| !falsy(v))
}

/// Reference to a Secret in the object's namespace that holds Alibaba Cloud credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRef {
    /// Name of a Secret in the same namespace with the keys `accessKeyId`, `accessKeySecret` and
    /// optionally `securityToken` (STS). Rotating the Secret takes effect at the next reconcile.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Secret key names read from a [`CredentialsRef`] Secret.
pub mod credential_keys {
    /// AccessKey id.
    pub const ACCESS_KEY_ID: &str = "accessKeyId";
    /// AccessKey secret.
    pub const ACCESS_KEY_SECRET: &str = "accessKeySecret";
    /// Optional STS security token.
    pub const SECURITY_TOKEN: &str = "securityToken";
}

/// Reference to one key of a Secret in the object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret (same namespace as this object).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What happens in the cloud when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DeletionPolicy {
    /// Leave the cloud resource (backup set, snapshot, plan) in place.
    #[default]
    Retain,
    /// Delete (or release) the cloud resource, waiting for running work to end first.
    Delete,
}

/// Whether the operator may change the cloud object, or only report what it sees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum ManagementPolicy {
    /// The operator creates (or adopts), changes and cleans up the cloud object.
    #[default]
    Manage,
    /// The operator only reads: status follows the cloud object named by the adoption field,
    /// nothing is ever written to the cloud, and deletion never touches it.
    ObserveOnly,
}

impl ManagementPolicy {
    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manage => "Manage",
            Self::ObserveOnly => "ObserveOnly",
        }
    }

    /// True for `ObserveOnly`.
    pub fn is_observe_only(self) -> bool {
        self == Self::ObserveOnly
    }
}

/// Whether data is backed up within the same Alibaba Cloud account or across accounts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CrossAccountType {
    /// Same account (`SELF_ACCOUNT`).
    SelfAccount,
    /// Across accounts (`CROSS_ACCOUNT`): needs `userId` and `roleName`.
    CrossAccount,
}

impl CrossAccountType {
    /// The API value (`SELF_ACCOUNT` / `CROSS_ACCOUNT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfAccount => "SELF_ACCOUNT",
            Self::CrossAccount => "CROSS_ACCOUNT",
        }
    }
}

/// Cross-account backup settings: the source account authorises this account through a RAM role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.type) || self.type != 'CROSS_ACCOUNT' || (has(self.userId) && has(self.roleName))").message("crossAccount.type CROSS_ACCOUNT needs userId and roleName"))]
pub struct CrossAccount {
    /// `SELF_ACCOUNT` or `CROSS_ACCOUNT` (HBR `CrossAccountType`). DBS has no such parameter: for
    /// `DbsBackupPlan` setting `userId`/`roleName` is what makes the plan cross-account.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<CrossAccountType>,
    /// UID of the source Alibaba Cloud account that authorised this account (HBR
    /// `CrossAccountUserId`, DBS `CrossAliyunId`). Digits only (a string, so that YAML keeps all
    /// 16 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,18}$"), length(max = 18))]
    pub user_id: Option<String>,
    /// Name of the RAM role in the source account assumed for the backup (HBR
    /// `CrossAccountRoleName`, DBS `CrossRoleName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub role_name: Option<String>,
}

impl CrossAccount {
    /// `userId` as a number (HBR `CrossAccountUserId` is a long). The schema pattern (at most
    /// 18 digits) guarantees it fits; `None` when unset or not a number.
    pub fn user_id_number(&self) -> Option<i64> {
        self.user_id.as_deref().and_then(|u| u.parse().ok())
    }
}

/// Intent record written to status *before* the first cloud create call (`docs/architecture.md#exactly-once`), so that a
/// crash between the call and the status write never leads to a second cloud resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// Idempotency token derived from the object's UID and generation (DBS `ClientToken`; HBR job
    /// name suffix; RDS adoption marker).
    pub token: String,
    /// When the create was first attempted; RDS/HBR adoption only considers cloud work started
    /// at or after this time.
    pub started_at: Time,
}

/// Derive the create token for an object: stable for a given UID and generation, at most 64
/// ASCII characters (DBS `ClientToken` limit).
pub fn create_token(uid: &str, generation: Option<i64>) -> String {
    let mut token = format!("abo-{}-{}", uid, generation.unwrap_or(0));
    token.truncate(64);
    token
}

/// Find a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Errors of the pure request renderers.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A value could not be serialised to JSON.
    #[error("cannot render {field} as JSON: {source}")]
    Json {
        /// Spec field being rendered.
        field: &'static str,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

impl RenderError {
    /// Fixed low-cardinality name (metrics label / event reason).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Json { .. } => "RenderJson",
        }
    }
}

pub(crate) fn render_json<T: Serialize + ?Sized>(
    field: &'static str,
    v: &T,
) -> Result<String, RenderError> {
    serde_json::to_string(v).map_err(|source| RenderError::Json { field, source })
}

/// Declares the status of a kind that makes cloud work (the backup and restore kinds), with
/// the fields the driver keeps for every such kind written once: `observedGeneration`,
/// `phase`, `conditions`, `pendingCreate` (documented by `intent`), `lastRequestId` and, with
/// `deletion_policy`, the deletion policy in effect and its source; then the kind's own
/// fields as written. Every field is optional, so partial server-side-apply writes are
/// possible. `generation` replaces the description of `observedGeneration`.
///
/// ```text
/// tracked_status! {
///     /// Observed state of an `HbrBackupJob`. …
///     pub struct HbrBackupJobStatus {
///         phase: HbrBackupJobPhase,
///         intent: "Intent record written before `CreateBackupJob` (exactly-once across crashes).",
///         deletion_policy,
///         /// `JobId` returned by `CreateBackupJob` …
///         #[serde(default, skip_serializing_if = "Option::is_none")]
///         pub job_id: Option<String>,
///     }
/// }
/// ```
macro_rules! tracked_status {
    (@emit $(#[$meta:meta])* $name:ident, $phase:ty, $generation:literal, $intent:literal,
     [$($extra:tt)*] $($body:tt)*) => {
        $(#[$meta])*
        #[derive(
            serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, kube::KubeSchema,
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[doc = $generation]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,

            /// Lifecycle phase.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub phase: Option<$phase>,

            /// `Ready`, `Reconciling` and `Stalled` (metav1 conditions with `observedGeneration`).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
            pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,

            $($extra)*

            #[doc = $intent]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub pending_create: Option<$crate::crd::common::PendingCreate>,

            $($body)*

            /// Alibaba Cloud `RequestId` of the last failed call (for support tickets).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_request_id: Option<String>,
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident {
        phase: $phase:ty,
        generation: $generation:literal,
        intent: $intent:literal,
        deletion_policy,
        $($body:tt)*
    }) => {
        $crate::crd::common::tracked_status!(@emit $(#[$meta])* $name, $phase, $generation, $intent, [
            /// The deletion policy in effect: `spec.deletionPolicy`, else the namespace's
            /// `backup.aliyun.dev/default-deletion-policy`, else the operator's default.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deletion_policy: Option<$crate::crd::common::DeletionPolicy>,

            /// Where `deletionPolicy` comes from (`spec`, the namespace annotation or the operator
            /// default).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deletion_policy_source: Option<String>,
        ] $($body)*);
    };
    ($(#[$meta:meta])* pub struct $name:ident {
        phase: $phase:ty,
        intent: $intent:literal,
        deletion_policy,
        $($body:tt)*
    }) => {
        $crate::crd::common::tracked_status! {
            $(#[$meta])* pub struct $name {
                phase: $phase,
                generation: " `metadata.generation` this status describes.",
                intent: $intent,
                deletion_policy,
                $($body)*
            }
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident {
        phase: $phase:ty,
        intent: $intent:literal,
        $($body:tt)*
    }) => {
        $crate::crd::common::tracked_status!(@emit $(#[$meta])* $name, $phase,
            " `metadata.generation` this status describes.", $intent, [] $($body)*);
    };
}

pub(crate) use tracked_status;

/// Declares a custom resource of this operator around its spec struct: the derives, the
/// group, version, category `aliyunbackup`, `namespaced` and `derive = "PartialEq"`, then the
/// kind's own `#[kube(...)]` items as given (kind, plural, shortname, status, doc and its
/// first printer columns), with `+ progress` the `Progress` column, and last the columns every
/// kind ends with: `Age`, and with `-o wide` the `Ready` condition's reason and message.
///
/// ```text
/// custom_resource! {
///     kube(kind = "HbrBackupJob", plural = "hbrbackupjobs", …, printcolumn(name = "Phase", …)) + progress;
///     /// The spec's doc.
///     #[serde(rename_all = "camelCase")]
///     pub struct HbrBackupJobSpec { … }
/// }
/// ```
///
/// rustfmt does not format inside a macro: keep the struct's style by hand.
macro_rules! custom_resource {
    (@emit [$($kube:tt)*] $($item:tt)*) => {
        // `printcolumn(...)` entries repeat keys such as `type_`, which clippy mistakes for
        // duplicated attributes.
        #[allow(clippy::duplicated_attributes)]
        #[derive(
            kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq,
            kube::KubeSchema,
        )]
        #[kube(
            group = "backup.aliyun.dev",
            version = "v1alpha1",
            category = "aliyunbackup",
            namespaced,
            derive = "PartialEq",
            $($kube)*,
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
        $($item)*
    };
    (kube($($kube:tt)*) + progress; $($item:tt)*) => {
        $crate::crd::common::custom_resource!(@emit [
            $($kube)*,
            printcolumn(
                name = "Progress",
                type_ = "integer",
                json_path = ".status.progress",
                description = "Percent done"
            )
        ] $($item)*);
    };
    (kube($($kube:tt)*); $($item:tt)*) => {
        $crate::crd::common::custom_resource!(@emit [$($kube)*] $($item)*);
    };
}

pub(crate) use custom_resource;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn orphan_annotation() {
        let mut a = std::collections::BTreeMap::new();
        assert!(!orphan_on_delete(Some(&a)));
        a.insert(ANNOTATION_ORPHAN_ON_DELETE.to_owned(), "True".to_owned());
        assert!(orphan_on_delete(Some(&a)));
        a.insert(ANNOTATION_ORPHAN_ON_DELETE.to_owned(), "no".to_owned());
        assert!(!orphan_on_delete(Some(&a)));
        assert!(!orphan_on_delete(None));
        a.insert(ANNOTATION_PAUSED.to_owned(), " true ".to_owned());
        assert!(paused(Some(&a)));
        a.insert(ANNOTATION_PAUSED.to_owned(), "false".to_owned());
        assert!(!paused(Some(&a)));
    }

    #[test]
    fn boolean_annotations_accept_the_same_spellings() {
        let with =
            |key: &str, v: &str| std::collections::BTreeMap::from([(key.to_owned(), v.to_owned())]);
        for v in ["true", "True", "TRUE", " yes ", "on", "1"] {
            assert!(paused(Some(&with(ANNOTATION_PAUSED, v))), "{v:?}");
            assert!(
                orphan_on_delete(Some(&with(ANNOTATION_ORPHAN_ON_DELETE, v))),
                "{v:?}"
            );
            assert!(
                deletion_protected(Some(&with(ANNOTATION_DELETION_PROTECTION, v))),
                "{v:?}"
            );
        }
        for v in ["false", "False", "no", "OFF", "0", "", " "] {
            assert!(!paused(Some(&with(ANNOTATION_PAUSED, v))), "{v:?}");
            assert!(
                !orphan_on_delete(Some(&with(ANNOTATION_ORPHAN_ON_DELETE, v))),
                "{v:?}"
            );
            assert!(
                !deletion_protected(Some(&with(ANNOTATION_DELETION_PROTECTION, v))),
                "{v:?}"
            );
        }
        // A typo: pause and orphan do nothing, protection fails closed.
        assert!(!paused(Some(&with(ANNOTATION_PAUSED, "ture"))));
        assert!(!orphan_on_delete(Some(&with(
            ANNOTATION_ORPHAN_ON_DELETE,
            "ture"
        ))));
        assert!(deletion_protected(Some(&with(
            ANNOTATION_DELETION_PROTECTION,
            "ture"
        ))));
        assert!(!deletion_protected(None));
    }

    #[test]
    fn cross_account_user_id_as_number() {
        let c = CrossAccount {
            type_: Some(CrossAccountType::CrossAccount),
            user_id: Some("1589750000004625".into()),
            role_name: Some("BackupRole".into()),
        };
        assert_eq!(c.user_id_number(), Some(1_589_750_000_004_625));
        assert_eq!(CrossAccountType::CrossAccount.as_str(), "CROSS_ACCOUNT");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"type": "CROSS_ACCOUNT", "userId": "1589750000004625", "roleName": "BackupRole"})
        );
    }

    #[test]
    fn token_is_stable_and_bounded() {
        let uid = "0f6f0a7e-4a2b-4c4e-9d1c-1c2b3d4e5f60";
        assert_eq!(create_token(uid, Some(1)), create_token(uid, Some(1)));
        assert_ne!(create_token(uid, Some(1)), create_token(uid, Some(2)));
        assert!(create_token(&"x".repeat(100), Some(1)).len() <= 64);
    }
}
