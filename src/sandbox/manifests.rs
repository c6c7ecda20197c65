//! Manifests: reading multi-document YAML files and applying them with server-side apply.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams, PostParams,
    TypeMeta,
};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;

use super::{FIELD_MANAGER, SandboxError, kube_err};
use crate::crd::RdsBackup;

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `path#N` (N counts documents from 1), for messages.
    pub source: String,
    /// Group, version and kind from `apiVersion`/`kind`.
    pub gvk: GroupVersionKind,
    /// The object as written.
    pub object: DynamicObject,
}

impl Manifest {
    /// True for our own kinds (`backup.aliyun.dev`).
    pub fn is_ours(&self) -> bool {
        self.gvk.group == <RdsBackup as kube::Resource>::group(&())
    }
}

/// Parses a multi-document YAML stream into objects (empty documents are skipped).
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Manifest>, SandboxError> {
    let mut out = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let source_name = format!("{source}#{}", i + 1);
        let bad = |message: String| SandboxError::Manifest {
            source_name: source_name.clone(),
            message,
        };
        let value = serde_norway::Value::deserialize(doc).map_err(|e| bad(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value).map_err(|e| bad(e.to_string()))?;
        let object: DynamicObject =
            serde_json::from_value(json).map_err(|e| bad(format!("not an object: {e}")))?;
        let types: &TypeMeta = object
            .types
            .as_ref()
            .ok_or_else(|| bad("apiVersion and kind are required".into()))?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| bad(e.to_string()))?;
        if object
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(bad("metadata.name is required".into()));
        }
        out.push(Manifest {
            source: source_name,
            gvk,
            object,
        });
    }
    Ok(out)
}

/// Reads manifests from files and directories (a directory contributes its `*.yaml` and
/// `*.yml` files in name order). Objects of other API groups (Secrets, …) come first, our own
/// kinds last, so that what they reference exists when the operator sees them.
pub fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Manifest>, SandboxError> {
    let mut files = Vec::new();
    for path in paths {
        let read_err = |source| SandboxError::Read {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            // A missing file gets its read error below.
            files.push(path.clone());
        }
    }
    let mut manifests = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| SandboxError::Read {
            path: file.clone(),
            source,
        })?;
        manifests.extend(parse_manifests(&text, &file.display().to_string())?);
    }
    if manifests.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(SandboxError::NoManifests(list.join(", ")));
    }
    // Stable partition: foreign kinds first.
    manifests.sort_by_key(Manifest::is_ours);
    Ok(manifests)
}

/// A kind whose progress the sandbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackedKind {
    /// `DbsBackupPlan`.
    DbsBackupPlan,
    /// `HbrBackupJob`.
    HbrBackupJob,
    /// `RdsBackup`.
    RdsBackup,
    /// `RdsBackupSchedule`.
    RdsBackupSchedule,
    /// `HbrBackupSchedule`.
    HbrBackupSchedule,
    /// `RdsRestore`.
    RdsRestore,
    /// `HbrRestoreJob`.
    HbrRestoreJob,
    /// `DbsRestoreTask`.
    DbsRestoreTask,
}

impl TrackedKind {
    /// Every kind, in the order the sandbox lists them.
    pub const ALL: [TrackedKind; 8] = [
        Self::DbsBackupPlan,
        Self::HbrBackupJob,
        Self::RdsBackup,
        Self::HbrBackupSchedule,
        Self::RdsBackupSchedule,
        Self::RdsRestore,
        Self::HbrRestoreJob,
        Self::DbsRestoreTask,
    ];

    /// The kind for a `kind` name of our group.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "DbsBackupPlan" => Some(Self::DbsBackupPlan),
            "HbrBackupJob" => Some(Self::HbrBackupJob),
            "RdsBackup" => Some(Self::RdsBackup),
            "RdsBackupSchedule" => Some(Self::RdsBackupSchedule),
            "HbrBackupSchedule" => Some(Self::HbrBackupSchedule),
            "RdsRestore" => Some(Self::RdsRestore),
            "HbrRestoreJob" => Some(Self::HbrRestoreJob),
            "DbsRestoreTask" => Some(Self::DbsRestoreTask),
            _ => None,
        }
    }

    /// The kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DbsBackupPlan => "DbsBackupPlan",
            Self::HbrBackupJob => "HbrBackupJob",
            Self::RdsBackup => "RdsBackup",
            Self::RdsBackupSchedule => "RdsBackupSchedule",
            Self::HbrBackupSchedule => "HbrBackupSchedule",
            Self::RdsRestore => "RdsRestore",
            Self::HbrRestoreJob => "HbrRestoreJob",
            Self::DbsRestoreTask => "DbsRestoreTask",
        }
    }
}

impl std::fmt::Display for TrackedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object the sandbox applied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Applied {
    /// `kind` as written.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Set for our kinds.
    pub tracked: Option<TrackedKind>,
}

/// Server-side applies `manifests` (kinds resolved by discovery), putting namespaced objects
/// without a namespace into `default_namespace`. Every namespace used is created if missing.
pub async fn apply_manifests(
    client: &Client,
    manifests: &[Manifest],
    default_namespace: &str,
) -> Result<Vec<Applied>, SandboxError> {
    let mut kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::new();
    for m in manifests {
        let (ar, caps) = match kinds.get(&m.gvk) {
            Some(found) => found.clone(),
            None => {
                let found =
                    kube::discovery::pinned_kind(client, &m.gvk)
                        .await
                        .map_err(kube_err(format!(
                            "{}: kind {} of {} is not served",
                            m.source,
                            m.gvk.kind,
                            m.gvk.api_version()
                        )))?;
                kinds.insert(m.gvk.clone(), found.clone());
                found
            }
        };
        let mut object = m.object.clone();
        let name = object.name_any();
        let namespace = match caps.scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(
                object
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            ),
        };
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => {
                if namespaces.insert(ns.clone()) {
                    ensure_namespace(client, ns).await?;
                }
                object.metadata.namespace = Some(ns.clone());
                Api::namespaced_with(client.clone(), ns, &ar)
            }
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(&name, &pp, &Patch::Apply(&object))
            .await
            .map_err(kube_err(format!(
                "{}: apply {}/{name}",
                m.source, m.gvk.kind
            )))?;
        applied.push(Applied {
            kind: m.gvk.kind.clone(),
            namespace,
            name,
            tracked: if m.is_ours() {
                TrackedKind::from_kind(&m.gvk.kind)
            } else {
                None
            },
        });
    }
    Ok(applied)
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<(), SandboxError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("get namespace {name}")))?
        .is_some()
    {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(kube_err(format!("create namespace {name}"))(e)),
    }
}
