//! The in-memory object store: resource types, objects, the global
//! resourceVersion counter, the bounded change history and write semantics.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::error::{ApiError, group_resource};
use crate::schema;
use crate::selector::{FieldSelector, LabelSelector};
use crate::ssa::{self, Managed};

/// A printer column (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `number`, `boolean`, `date`).
    pub type_: String,
    /// Optional format.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 = shown by default, >0 = only in `-o wide`.
    pub priority: i64,
    /// JSONPath (subset) evaluated against the object.
    pub json_path: String,
}

/// One served version of a resource type.
#[derive(Debug, Clone)]
pub struct VersionDef {
    /// Version name, e.g. `v1`.
    pub name: String,
    /// `openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// Whether the `status` subresource is enabled.
    pub status: bool,
    /// Printer columns.
    pub columns: Vec<Column>,
    /// CEL rules compiled once (present when the schema has `x-kubernetes-validations`).
    pub cel: Option<Arc<kube_cel::CompiledSchema>>,
}

/// A served resource type (built-in or from a CRD).
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// List kind.
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Served versions (first = preferred).
    pub versions: Vec<VersionDef>,
    /// Built into the server (not from a CRD).
    pub builtin: bool,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Extra selectable fields (CRD `selectableFields`), as `a.b` paths.
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    /// The version definition named `v`.
    pub fn version(&self, v: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|d| d.name == v)
    }

    /// Whether version `v` has a status subresource.
    pub fn has_status(&self, v: &str) -> bool {
        self.version(v).is_some_and(|d| d.status)
    }

    /// `group/version` or `version`.
    pub fn api_version(&self, v: &str) -> String {
        if self.group.is_empty() {
            v.to_string()
        } else {
            format!("{}/{}", self.group, v)
        }
    }

    /// Fields allowed in field selectors (`None` = any path).
    pub fn field_selectors(&self) -> Option<Vec<String>> {
        if self.builtin && self.group != "apiextensions.k8s.io" {
            return None;
        }
        let mut v = vec!["metadata.name".to_string()];
        if self.namespaced {
            v.push("metadata.namespace".into());
        }
        v.extend(self.selectable_fields.iter().cloned());
        Some(v)
    }
}

/// Key of a resource type: `(group, plural)`.
pub type TypeKey = (String, String);
/// Key of an object: `(namespace or "", name)`.
pub type ObjKey = (String, String);

/// One change, as delivered to watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Type of the object.
    pub type_key: TypeKey,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub event: &'static str,
    /// The object after the change (for DELETED: its last state).
    pub object: Value,
    /// The object before the change (MODIFIED only).
    pub previous: Option<Value>,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// Target subresource (`Some("status")`).
    pub subresource: Option<String>,
    /// Field manager.
    pub manager: String,
    /// Don't persist.
    pub dry_run: bool,
    /// `fieldValidation=Strict`.
    pub strict: bool,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct WriteResult {
    /// The resulting object.
    pub object: Value,
    /// Warnings (pruned unknown fields).
    pub warnings: Vec<String>,
    /// True when the object was created.
    pub created: bool,
}

/// The whole server state.
pub struct Store {
    rv: u64,
    types: BTreeMap<TypeKey, Arc<ResourceType>>,
    objects: BTreeMap<TypeKey, BTreeMap<ObjKey, Value>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Change>>,
    cel: bool,
}

/// Current time as RFC 3339 seconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta_mut(v: &mut Value) -> Option<&mut Map<String, Value>> {
    if !v.get("metadata").is_some_and(Value::is_object)
        && let Some(o) = v.as_object_mut()
    {
        o.insert("metadata".into(), json!({}));
    }
    v.get_mut("metadata").and_then(Value::as_object_mut)
}

fn finalizers(v: &Value) -> Vec<Value> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null())
}

/// Whether `name` is a valid DNS-1123 subdomain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// The name of an object being created: `metadata.name`, or
/// `generateName` plus a random suffix; 422 when neither is set or the name
/// is not a DNS-1123 subdomain (Namespace names cannot contain dots).
fn new_object_name(rt: &ResourceType, meta: &Map<String, Value>) -> Result<String, ApiError> {
    let mut name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        if let Some(prefix) = meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            name = format!("{prefix}{}", random_suffix());
        } else {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                "",
                &[(
                    "FieldValueRequired".into(),
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
    }
    if !valid_name(&name) || (rt.plural == "namespaces" && name.contains('.')) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            &[(
                "FieldValueInvalid".into(),
                "metadata.name".into(),
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            )],
        ));
    }
    Ok(name)
}

fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHA[(*b as usize) % ALPHA.len()] as char)
        .collect()
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn builtin(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        versions: vec![VersionDef {
            name: "v1".into(),
            schema: None,
            cel: None,
            status,
            columns: vec![],
        }],
        builtin: true,
        generation: false,
        selectable_fields: vec![],
    }
}

impl Store {
    /// A store with the built-in types and the standard namespaces.
    pub fn new(history_limit: usize, cel: bool) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        let mut s = Self {
            rv: 1,
            types: BTreeMap::new(),
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted_rv: 0,
            tx,
            cel,
        };
        let mut crd = builtin(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
        );
        crd.generation = true;
        crd.categories = vec!["api-extensions".into()];
        for t in [
            builtin("", "namespaces", "Namespace", false, &["ns"], true),
            builtin("", "secrets", "Secret", true, &[], false),
            builtin("", "configmaps", "ConfigMap", true, &["cm"], false),
            builtin("", "events", "Event", true, &["ev"], false),
            builtin("events.k8s.io", "events", "Event", true, &["ev"], false),
            builtin("coordination.k8s.io", "leases", "Lease", true, &[], false),
            builtin(
                "admissionregistration.k8s.io",
                "validatingadmissionpolicies",
                "ValidatingAdmissionPolicy",
                false,
                &[],
                true,
            ),
            builtin(
                "admissionregistration.k8s.io",
                "validatingadmissionpolicybindings",
                "ValidatingAdmissionPolicyBinding",
                false,
                &[],
                false,
            ),
            crd,
        ] {
            s.types
                .insert((t.group.clone(), t.plural.clone()), Arc::new(t));
        }
        let ns_type = s
            .types
            .get(&(String::new(), "namespaces".to_string()))
            .cloned();
        if let Some(ns_type) = ns_type {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let _ = s.create(
                    &ns_type,
                    "v1",
                    None,
                    json!({"metadata": {"name": ns}}),
                    &WriteOpts {
                        manager: "kube-apiserver".into(),
                        ..Default::default()
                    },
                );
            }
        }
        s
    }

    /// Current global resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Drops all retained history (watches from older versions get 410).
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// All resource types.
    pub fn types(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// Looks a type up by group and plural.
    pub fn type_of(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    fn record(
        &mut self,
        type_key: TypeKey,
        event: &'static str,
        object: Value,
        previous: Option<Value>,
    ) {
        let c = Arc::new(Change {
            rv: self.rv,
            type_key,
            event,
            object,
            previous,
        });
        self.history.push_back(c.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        let _ = self.tx.send(c);
    }

    /// Storage key of a type: `events.k8s.io` events share storage with core events.
    pub fn key(rt: &ResourceType) -> TypeKey {
        if is_new_events(rt) {
            return (String::new(), "events".into());
        }
        (rt.group.clone(), rt.plural.clone())
    }

    fn ns_key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
        (
            if rt.namespaced {
                ns.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    /// Rewrites `apiVersion` for serving at `version`.
    pub fn serve(rt: &ResourceType, version: &str, obj: Value) -> Value {
        let mut obj = if is_new_events(rt) {
            convert_event(obj, false)
        } else {
            obj
        };
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(rt.api_version(version)));
            o.insert("kind".into(), json!(rt.kind));
        }
        obj
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(rt))
            .and_then(|m| m.get(&Self::ns_key(rt, ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// Every stored object of a type (by group and plural), in key order.
    pub fn objects_of(&self, group: &str, plural: &str) -> Vec<Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether CEL evaluation is on (CRD rules and admission policies).
    pub fn cel_enabled(&self) -> bool {
        self.cel
    }

    fn namespace_state(&self, ns: &str) -> Option<bool> {
        self.objects
            .get(&(String::new(), "namespaces".to_string()))
            .and_then(|m| m.get(&(String::new(), ns.to_string())))
            .map(is_deleting)
    }

    /// Lists objects matching selectors; returns items, continue token and remaining count.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_after: Option<ObjKey>,
    ) -> (Vec<Value>, Option<ObjKey>, usize) {
        let Some(m) = self.objects.get(&Self::key(rt)) else {
            return (vec![], None, 0);
        };
        let matching: Vec<(&ObjKey, &Value)> = m
            .iter()
            .filter(|(k, _)| ns.is_none_or(|n| !rt.namespaced || k.0 == n))
            .filter(|(k, _)| continue_after.as_ref().is_none_or(|c| *k > c))
            .filter(|(_, v)| labels.matches(v) && fields.matches(v))
            .collect();
        match limit {
            Some(l) if l > 0 && matching.len() > l => {
                let last = matching[l - 1].0.clone();
                let rest = matching.len() - l;
                (
                    matching[..l].iter().map(|(_, v)| (*v).clone()).collect(),
                    Some(last),
                    rest,
                )
            }
            _ => (
                matching.into_iter().map(|(_, v)| v.clone()).collect(),
                None,
                0,
            ),
        }
    }

    /// State needed to start a watch: initial objects (if `initial`) and the
    /// replayed history after `from` (if given), plus a receiver for live changes.
    #[allow(clippy::type_complexity)]
    pub fn watch_start(
        &self,
        rt: &ResourceType,
        from: Option<u64>,
        initial: bool,
    ) -> Result<
        (
            Vec<Value>,
            Vec<Arc<Change>>,
            u64,
            broadcast::Receiver<Arc<Change>>,
        ),
        ApiError,
    > {
        let rx = self.tx.subscribe();
        let key = Self::key(rt);
        let mut init = vec![];
        let mut replay = vec![];
        if initial {
            init = self
                .objects
                .get(&key)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
        } else if let Some(from) = from {
            if from < self.compacted_rv {
                return Err(ApiError::gone(format!(
                    "too old resource version: {from} ({})",
                    self.compacted_rv + 1
                )));
            }
            replay = self
                .history
                .iter()
                .filter(|c| c.rv > from && c.type_key == key)
                .cloned()
                .collect();
        }
        Ok((init, replay, self.rv, rx))
    }

    fn check_body_identity(rt: &ResourceType, version: &str, body: &Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        if let Some(k) = body.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
            && av != rt.api_version(version)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.api_version(version)
            )));
        }
        Ok(())
    }

    /// Creates an object.
    pub fn create(
        &mut self,
        rt: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        body: Value,
        o: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        self.create_with(rt, version, ns, body, o, None)
    }

    fn create_with(
        &mut self,
        rt: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        body: Value,
        o: &WriteOpts,
        managed: Option<Vec<Managed>>,
    ) -> Result<WriteResult, ApiError> {
        Self::check_body_identity(rt, version, &body)?;
        let mut body = to_storage(rt, body);
        let ns = if rt.namespaced { ns } else { None };
        let Some(meta) = meta_mut(&mut body) else {
            return Err(ApiError::bad_request("metadata must be an object"));
        };
        if let (Some(want), Some(have)) = (ns, meta.get("namespace").and_then(Value::as_str))
            && !have.is_empty()
            && have != want
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = new_object_name(rt, meta)?;
        if let Some(ns) = ns {
            match self.namespace_state(ns) {
                None => return Err(ApiError::not_found("", "namespaces", ns)),
                Some(true) => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!(
                            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            group_resource(&rt.group, &rt.plural)
                        ),
                    ));
                }
                Some(false) => {}
            }
        } else if rt.namespaced {
            return Err(ApiError::bad_request(
                "the namespace must be set for a namespaced resource",
            ));
        }
        let key = Self::ns_key(rt, ns, &name);
        if self
            .objects
            .get(&Self::key(rt))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        meta.insert("name".into(), json!(name));
        if let Some(ns) = ns {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
            "managedFields",
        ] {
            meta.remove(k);
        }
        if rt.generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        if rt.has_status(version)
            && o.subresource.is_none()
            && let Some(obj) = body.as_object_mut()
        {
            obj.remove("status");
        }
        self.finalize_write(PendingWrite {
            rt,
            version,
            key,
            old: None,
            new: body,
            opts: o,
            managed,
        })
    }

    /// Replaces an object (PUT), optionally of a subresource.
    pub fn update(
        &mut self,
        rt: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        body: Value,
        o: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        Self::check_body_identity(rt, version, &body)?;
        let body = to_storage(rt, body);
        let old = self.get(rt, ns, name)?;
        if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str)
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Self::check_rv(rt, name, &old, &body)?;
        self.finalize_write(PendingWrite {
            rt,
            version,
            key: Self::ns_key(rt, ns, name),
            old: Some(old),
            new: body,
            opts: o,
            managed: None,
        })
    }

    fn check_rv(rt: &ResourceType, name: &str, old: &Value, body: &Value) -> Result<(), ApiError> {
        if let Some(rv) = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && Some(rv)
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::modified(&rt.group, &rt.plural, name));
        }
        if let Some(uid) = body.pointer("/metadata/uid").and_then(Value::as_str)
            && !uid.is_empty()
            && Some(uid) != old.pointer("/metadata/uid").and_then(Value::as_str)
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Patches an object with a JSON, merge or strategic-merge patch.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        patch_type: &str,
        patch: &Value,
        o: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let old = self.get(rt, ns, name)?;
        let mut doc = Self::serve(rt, version, old.clone());
        match patch_type {
            "json" => apply_json_patch(&mut doc, patch)?,
            "merge" | "strategic" => {
                if !patch.is_object() {
                    return Err(ApiError::bad_request("patch body must be a JSON object"));
                }
                let mut p = patch.clone();
                if patch_type == "strategic" {
                    strip_directives(&mut p);
                }
                json_patch::merge(&mut doc, &p);
            }
            _ => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "unsupported patch type",
                ));
            }
        }
        let doc = to_storage(rt, doc);
        Self::check_rv(rt, name, &old, &doc)?;
        if doc.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::bad_request(
                "the name of the object may not be changed by a patch",
            ));
        }
        self.finalize_write(PendingWrite {
            rt,
            version,
            key: Self::ns_key(rt, ns, name),
            old: Some(old),
            new: doc,
            opts: o,
            managed: None,
        })
    }

    /// Server-side apply.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        rt: &Arc<ResourceType>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        config: Value,
        force: bool,
        o: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        if config
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            || config
                .get("kind")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(
                "apply configuration must set apiVersion and kind",
            ));
        }
        Self::check_body_identity(rt, version, &config)?;
        let config = to_storage(rt, config);
        if config
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| n != name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object does not match the name on the URL ({name})"
            )));
        }
        let sub = o.subresource.clone().unwrap_or_default();
        let status_sub = rt.has_status(version);
        // Restrict the configuration to what this endpoint may write.
        let mut config = config;
        if let Some(c) = config.as_object_mut() {
            if sub == "status" {
                c.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind");
            } else if status_sub {
                c.remove("status");
            }
        }
        let old = match self.get(rt, ns, name) {
            Ok(v) => Some(v),
            Err(e) if e.code == 404 && sub.is_empty() => None,
            Err(e) => return Err(e),
        };
        if let Some(old) = &old {
            Self::check_rv(rt, name, old, &config)?;
        }
        let live = old
            .clone()
            .unwrap_or_else(|| json!({"metadata": {"name": name}}));
        let mut managed = ssa::read_managed(&live);
        let schema = rt.version(version).and_then(|d| d.schema.clone());
        let cfg_fields = ssa::fields_of(&config, schema.as_ref());
        // What applying would produce, to detect changes to others' fields.
        let mut trial = live.clone();
        ssa::merge_config(&mut trial, &config, schema.as_ref());
        let me =
            |m: &Managed| m.manager == o.manager && m.operation == "Apply" && m.subresource == sub;
        let previously: ssa::FieldSet = managed
            .iter()
            .filter(|m| me(m))
            .flat_map(|m| m.fields.iter().cloned())
            .collect();
        // Conflicts.
        let mut conflicts: Vec<(String, Vec<String>)> = vec![];
        for path in &cfg_fields {
            if ssa::is_item(path) || ssa::get_at(&trial, path) == ssa::get_at(&live, path) {
                continue;
            }
            for m in managed.iter().filter(|m| !me(m)) {
                let atomic = !matches!(ssa::get_at(&config, path), Some(Value::Object(_)));
                let hit = |p: &&Vec<String>| {
                    *p == path || (atomic && p.len() > path.len() && p.starts_with(path))
                };
                for p in m.fields.iter().filter(hit) {
                    conflicts.push((m.manager.clone(), p.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": ssa::render_path(p)}))
                    .collect();
                let lines: Vec<String> = conflicts
                    .iter()
                    .map(|(m, p)| format!("- conflict with \"{m}\": {}", ssa::render_path(p)))
                    .collect();
                let msg = if conflicts.len() == 1 {
                    format!(
                        "Apply failed with 1 conflict: conflict with \"{}\": {}",
                        conflicts[0].0,
                        ssa::render_path(&conflicts[0].1)
                    )
                } else {
                    format!(
                        "Apply failed with {} conflicts: {}",
                        conflicts.len(),
                        lines.join("\n")
                    )
                };
                return Err(ApiError::new(409, "Conflict", msg).with_details(
                    json!({"causes": causes, "name": name, "group": rt.group, "kind": rt.plural}),
                ));
            }
            for m in managed.iter_mut().filter(|m| {
                !(m.manager == o.manager && m.operation == "Apply" && m.subresource == sub)
            }) {
                m.fields.retain(|p| !conflicts.iter().any(|(_, c)| c == p));
            }
        }
        // Remove fields this manager no longer applies and nobody else owns.
        let mut result = live.clone();
        for path in previously.difference(&cfg_fields) {
            let owned_elsewhere = managed
                .iter()
                .filter(|m| !me(m))
                .any(|m| m.fields.iter().any(|p| p.starts_with(path)));
            if !owned_elsewhere {
                ssa::remove_at(&mut result, path);
                ssa::prune_empty(&mut result, path);
            }
        }
        ssa::merge_config(&mut result, &config, schema.as_ref());
        let time = now();
        let entry = Managed {
            manager: o.manager.clone(),
            operation: "Apply".into(),
            api_version: rt.api_version(version),
            time,
            subresource: sub.clone(),
            fields: cfg_fields,
        };
        // Keep the entry's position so that re-applying the same configuration is a no-op.
        match managed.iter().position(&me) {
            Some(i) => {
                managed[i] = entry;
                let mut i = i + 1;
                while i < managed.len() {
                    if me(&managed[i]) {
                        managed.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => managed.push(entry),
        }
        ssa::write_managed(&mut result, &managed);
        match old {
            Some(old) => {
                if let Some(m) = meta_mut(&mut result) {
                    m.remove("resourceVersion");
                }
                self.finalize_write(PendingWrite {
                    rt,
                    version,
                    key: Self::ns_key(rt, ns, name),
                    old: Some(old),
                    new: result,
                    opts: o,
                    managed: Some(managed),
                })
            }
            None => {
                let mut body = result;
                if let Some(m) = meta_mut(&mut body) {
                    m.remove("managedFields");
                }
                self.create_with(rt, version, ns, body, o, Some(managed))
            }
        }
    }

    /// The shared tail of every write (`create`, `update`, `patch`, `apply`).
    ///
    /// The callers have already decoded the request and checked what is
    /// specific to their verb (identity, name, resourceVersion
    /// preconditions, apply conflicts). The write then goes through four
    /// phases, in this order; the first error ends it and nothing is stored:
    ///
    /// 1. [`PendingWrite::prepare`]: subresource scoping, server-owned
    ///    metadata, the finalizer rule while deleting, `apiVersion`/`kind`;
    /// 2. [`Store::admit`]: schema defaulting, pruning and validation, CEL
    ///    rules, type-specific rules (immutability, Secret/Namespace/CRD);
    /// 3. [`PendingWrite::bookkeep`]: `metadata.generation` and
    ///    `managedFields`;
    /// 4. [`Store::commit`]: no-op detection, dry run, new resourceVersion,
    ///    storage and the watch event.
    fn finalize_write(&mut self, mut w: PendingWrite<'_>) -> Result<WriteResult, ApiError> {
        w.prepare()?;
        let warnings = self.admit(&mut w)?;
        w.bookkeep();
        Ok(self.commit(w, warnings))
    }

    /// Phase 2, admission: the schema (defaulting, pruning, validation),
    /// then the CEL rules (when enabled for this store), then the
    /// type-specific rules of [`Store::type_hooks`].
    ///
    /// Returns the warnings for pruned unknown fields.
    fn admit(&self, w: &mut PendingWrite<'_>) -> Result<Vec<String>, ApiError> {
        let warnings = w.apply_schema()?;
        if self.cel {
            w.check_cel()?;
        }
        self.type_hooks(w.rt, &w.key, w.old.as_ref(), &mut w.new)?;
        Ok(warnings)
    }

    /// Phase 4, commit. A write that changes nothing but volatile metadata
    /// returns the stored object (no new resourceVersion, no event); a dry
    /// run returns the would-be object carrying the stored resourceVersion;
    /// anything else is stored by [`Store::store_change`].
    fn commit(&mut self, w: PendingWrite<'_>, warnings: Vec<String>) -> WriteResult {
        let PendingWrite {
            rt,
            key,
            old,
            mut new,
            opts,
            ..
        } = w;
        if let Some(old) = old.as_ref()
            && strip_volatile(old) == strip_volatile(&new)
        {
            return WriteResult {
                object: old.clone(),
                warnings,
                created: false,
            };
        }
        let created = old.is_none();
        if opts.dry_run {
            if let (Some(m), Some(rv)) = (
                meta_mut(&mut new),
                old.as_ref()
                    .and_then(|v| v.pointer("/metadata/resourceVersion"))
                    .cloned(),
            ) {
                m.insert("resourceVersion".into(), rv);
            }
            return WriteResult {
                object: new,
                warnings,
                created,
            };
        }
        WriteResult {
            object: self.store_change(rt, key, old, new),
            warnings,
            created,
        }
    }

    /// Stores a change under a new resourceVersion and tells the watchers.
    ///
    /// An update that leaves a deleting object without finalizers removes it
    /// (`DELETED`, then the removal cascades); otherwise the object is stored
    /// (`ADDED` or `MODIFIED`) and a stored CRD (re)registers its type.
    /// Returns the object as stored (or as last seen, when removed).
    fn store_change(
        &mut self,
        rt: &ResourceType,
        key: ObjKey,
        old: Option<Value>,
        mut new: Value,
    ) -> Value {
        self.rv += 1;
        let rv = self.rv;
        if let Some(m) = meta_mut(&mut new) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let tk = Self::key(rt);
        let created = old.is_none();
        if !created && is_deleting(&new) && finalizers(&new).is_empty() {
            self.objects.entry(tk.clone()).or_default().remove(&key);
            self.record(tk, "DELETED", new.clone(), None);
            self.after_removal(rt, &key, &new);
        } else {
            self.objects
                .entry(tk.clone())
                .or_default()
                .insert(key, new.clone());
            self.record(
                tk,
                if created { "ADDED" } else { "MODIFIED" },
                new.clone(),
                old,
            );
            if rt.group == "apiextensions.k8s.io" {
                self.register_crd(&new);
            }
        }
        new
    }

    /// Type-specific admission rules, the last step of [`Store::admit`]:
    /// the `immutable` rule of Secrets and ConfigMaps
    /// ([`check_immutable_data`]), then the rules of Secrets
    /// ([`admit_secret`]), Namespaces ([`admit_namespace`]) and CRDs
    /// ([`Store::admit_crd`]).
    fn type_hooks(
        &self,
        rt: &ResourceType,
        key: &ObjKey,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        if rt.group.is_empty()
            && (rt.plural == "secrets" || rt.plural == "configmaps")
            && let Some(old) = old
        {
            check_immutable_data(&rt.kind, &key.1, old, new)?;
        }
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "secrets") => admit_secret(&key.1, old, new),
            ("", "namespaces") => {
                admit_namespace(&key.1, new);
                Ok(())
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                self.admit_crd(rt, &key.1, old, new)
            }
            _ => Ok(()),
        }
    }

    /// CRD admission: validates the definition (422), refuses a group and
    /// plural served by a built-in type, and sets the status a real API
    /// server reaches at once (`NamesAccepted` and `Established` = True, the
    /// accepted names with `singular`/`listKind` filled in, the stored
    /// versions). The conditions keep their stored `lastTransitionTime`.
    fn admit_crd(
        &self,
        rt: &ResourceType,
        name: &str,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        let causes = validate_crd(new, name);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, name, &causes));
        }
        if let (Some(g), Some(p)) = (
            new.pointer("/spec/group").and_then(Value::as_str),
            new.pointer("/spec/names/plural").and_then(Value::as_str),
        ) && let Some(existing) = self.types.get(&(g.to_string(), p.to_string()))
            && existing.builtin
        {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                name,
                &[(
                    "FieldValueInvalid".into(),
                    "spec.names.plural".into(),
                    "Invalid value: conflicts with a built-in resource".into(),
                )],
            ));
        }
        let ts = old
            .and_then(|v| v.pointer("/status/conditions/0/lastTransitionTime"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(now);
        let names = new
            .pointer("/spec/names")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let stored: Vec<Value> = new
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                    .filter_map(|v| v.get("name").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let mut names = names;
        if let Some(n) = names.as_object_mut() {
            if !n.contains_key("singular")
                && let Some(k) = n.get("kind").and_then(Value::as_str)
            {
                n.insert("singular".into(), json!(k.to_lowercase()));
            }
            if !n.contains_key("listKind")
                && let Some(k) = n.get("kind").and_then(Value::as_str)
            {
                n.insert("listKind".into(), json!(format!("{k}List")));
            }
        }
        if let Some(o) = new.as_object_mut() {
            o.insert("status".into(), json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": ts},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": ts}
                ],
                "acceptedNames": names,
                "storedVersions": stored,
            }));
        }
        Ok(())
    }

    fn register_crd(&mut self, crd: &Value) {
        if let Some(rt) = crd_to_type(crd) {
            let key = (rt.group.clone(), rt.plural.clone());
            self.types.insert(key, Arc::new(rt));
        }
    }

    /// Deletes one object. Returns the object and whether it is gone.
    pub fn delete(
        &mut self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        preconditions: &Value,
        dry_run: bool,
    ) -> Result<(Value, bool), ApiError> {
        let old = self.get(rt, ns, name)?;
        if let Some(uid) = preconditions.get("uid").and_then(Value::as_str)
            && Some(uid) != old.pointer("/metadata/uid").and_then(Value::as_str)
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = preconditions.get("resourceVersion").and_then(Value::as_str)
            && Some(rv)
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    old.pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
            ));
        }
        let key = Self::ns_key(rt, ns, name);
        let tk = Self::key(rt);
        let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
        if !finalizers(&old).is_empty() || is_ns {
            if is_deleting(&old) {
                return Ok((old, false));
            }
            let mut new = old.clone();
            if let Some(m) = meta_mut(&mut new) {
                m.insert("deletionTimestamp".into(), json!(now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                // Like kube-apiserver's markAsDeleting: setting deletionTimestamp bumps generation.
                if let Some(g) = m
                    .get("generation")
                    .and_then(Value::as_i64)
                    .filter(|g| *g > 0)
                {
                    m.insert("generation".into(), json!(g + 1));
                }
            }
            if is_ns && let Some(o) = new.as_object_mut() {
                o.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if dry_run {
                return Ok((new, false));
            }
            self.rv += 1;
            if let Some(m) = meta_mut(&mut new) {
                m.insert("resourceVersion".into(), json!(self.rv.to_string()));
            }
            self.objects
                .entry(tk.clone())
                .or_default()
                .insert(key.clone(), new.clone());
            self.record(tk, "MODIFIED", new.clone(), Some(old));
            if is_ns {
                self.delete_namespace_contents(name);
                let gone = self.try_finish_namespace(name);
                return Ok((new, gone));
            }
            return Ok((new, false));
        }
        if dry_run {
            return Ok((old, true));
        }
        self.rv += 1;
        let mut last = old;
        if let Some(m) = meta_mut(&mut last) {
            m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        self.objects.entry(tk.clone()).or_default().remove(&key);
        self.record(tk, "DELETED", last.clone(), None);
        self.after_removal(rt, &key, &last);
        Ok((last, true))
    }

    fn delete_namespace_contents(&mut self, ns: &str) {
        let types: Vec<Arc<ResourceType>> = self
            .types
            .values()
            .filter(|t| t.namespaced)
            .cloned()
            .collect();
        for t in types {
            let names: Vec<String> = self
                .objects
                .get(&Self::key(&t))
                .map(|m| {
                    m.keys()
                        .filter(|k| k.0 == ns)
                        .map(|k| k.1.clone())
                        .collect()
                })
                .unwrap_or_default();
            for n in names {
                let _ = self.delete(&t, Some(ns), &n, &Value::Null, false);
            }
        }
    }

    /// Removes a terminating namespace once it is empty. Returns true if removed.
    fn try_finish_namespace(&mut self, ns: &str) -> bool {
        let Some(ns_type) = self.type_of("", "namespaces") else {
            return false;
        };
        let Ok(obj) = self.get(&ns_type, None, ns) else {
            return false;
        };
        if !is_deleting(&obj) || !finalizers(&obj).is_empty() {
            return false;
        }
        let occupied = self
            .objects
            .iter()
            .filter(|(tk, _)| self.types.get(*tk).is_some_and(|t| t.namespaced))
            .any(|(_, m)| m.keys().any(|k| k.0 == ns));
        if occupied {
            return false;
        }
        self.rv += 1;
        let mut last = obj;
        if let Some(m) = meta_mut(&mut last) {
            m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        let tk = Self::key(&ns_type);
        self.objects
            .entry(tk.clone())
            .or_default()
            .remove(&(String::new(), ns.to_string()));
        self.record(tk, "DELETED", last, None);
        true
    }

    /// Cascades after an object is really gone: namespace completion, CRD
    /// instance removal, and background garbage collection of dependents.
    fn after_removal(&mut self, rt: &ResourceType, key: &ObjKey, obj: &Value) {
        if rt.namespaced && !key.0.is_empty() {
            self.try_finish_namespace(&key.0.clone());
        }
        if rt.group == "apiextensions.k8s.io"
            && let Some(t) = crd_to_type(obj)
        {
            let tk = (t.group.clone(), t.plural.clone());
            if let Some(objs) = self.objects.remove(&tk) {
                for (_, mut o) in objs {
                    self.rv += 1;
                    if let Some(m) = meta_mut(&mut o) {
                        m.insert("resourceVersion".into(), json!(self.rv.to_string()));
                    }
                    self.record(tk.clone(), "DELETED", o, None);
                }
            }
            self.types.remove(&tk);
        }
        let Some(uid) = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return;
        };
        let mut dependents: Vec<(Arc<ResourceType>, ObjKey)> = vec![];
        for (tk, m) in &self.objects {
            let Some(t) = self.types.get(tk) else {
                continue;
            };
            for (k, v) in m {
                if rt.namespaced && t.namespaced && k.0 != key.0 {
                    continue;
                }
                let refs = v
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array);
                if refs.is_some_and(|r| {
                    r.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                }) {
                    dependents.push((t.clone(), k.clone()));
                }
            }
        }
        for (t, k) in dependents {
            let ns = if k.0.is_empty() {
                None
            } else {
                Some(k.0.as_str())
            };
            let _ = self.delete(&t, ns, &k.1, &Value::Null, false);
        }
    }
}

/// One write on its way through the shared write path
/// ([`Store::finalize_write`]): the arguments of the write, grouped.
///
/// `create`, `update`, `patch` and `apply` build it after decoding the request
/// (identity checks, conversion to the storage shape) and their own checks.
struct PendingWrite<'a> {
    /// Type of the object.
    rt: &'a ResourceType,
    /// Version the request was made at (selects the schema, the CEL rules and
    /// whether there is a status subresource).
    version: &'a str,
    /// Storage key of the object.
    key: ObjKey,
    /// The stored object, `None` when creating.
    old: Option<Value>,
    /// The requested object, in storage shape; each phase refines it into the
    /// object to store.
    new: Value,
    /// Request options (subresource, manager, dry run, strict validation).
    opts: &'a WriteOpts,
    /// `managedFields` computed by server-side apply; `None` lets
    /// [`PendingWrite::bookkeep`] record `Update` ownership itself.
    managed: Option<Vec<Managed>>,
}

/// System metadata owned by the server: kept from the stored object on every
/// update, whatever the request says.
const SERVER_OWNED_METADATA: [&str; 7] = [
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

impl PendingWrite<'_> {
    /// Whether the write targets the `status` subresource.
    fn to_status(&self) -> bool {
        self.opts.subresource.as_deref() == Some("status")
    }

    /// Phase 1, prepare: on an update, [`Self::scope_to_subresource`],
    /// [`Self::keep_server_metadata`] and
    /// [`Self::forbid_new_finalizers_while_deleting`]; then
    /// [`Self::stamp_type`].
    fn prepare(&mut self) -> Result<(), ApiError> {
        if self.old.is_some() {
            self.scope_to_subresource();
            self.keep_server_metadata()?;
            self.forbid_new_finalizers_while_deleting()?;
        }
        self.stamp_type();
        Ok(())
    }

    /// Subresource rules of an update: a `/status` write changes `status`
    /// only (everything else comes from the stored object, except the
    /// `managedFields` computed by apply, which travel with it); a
    /// main-resource write to a type with a status subresource keeps the
    /// stored `status`.
    fn scope_to_subresource(&mut self) {
        let Some(old) = &self.old else {
            return;
        };
        if self.to_status() {
            let mut merged = old.clone();
            if let Some(m) = merged.as_object_mut() {
                match self.new.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
            if let (Some(mm), Some(nm)) = (merged.get_mut("metadata"), self.new.get("metadata")) {
                // managedFields written by apply travel with the status write.
                if self.managed.is_some()
                    && let (Some(mm), Some(mf)) = (mm.as_object_mut(), nm.get("managedFields"))
                {
                    mm.insert("managedFields".into(), mf.clone());
                }
            }
            self.new = merged;
        } else if self.rt.has_status(self.version)
            && let Some(m) = self.new.as_object_mut()
        {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
    }

    /// System metadata is owned by the server: on an update the
    /// [`SERVER_OWNED_METADATA`] fields come from the stored object, and
    /// `resourceVersion` and `selfLink` are dropped (commit sets the new
    /// version). 400 when `metadata` is not an object.
    fn keep_server_metadata(&mut self) -> Result<(), ApiError> {
        let Some(old) = &self.old else {
            return Ok(());
        };
        let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let Some(meta) = meta_mut(&mut self.new) else {
            return Err(ApiError::bad_request("metadata must be an object"));
        };
        for k in SERVER_OWNED_METADATA {
            match old_meta.get(k) {
                Some(v) => meta.insert(k.into(), v.clone()),
                None => meta.remove(k),
            };
        }
        meta.remove("resourceVersion");
        meta.remove("selfLink");
        Ok(())
    }

    /// Once an object is being deleted (`deletionTimestamp` set), finalizers
    /// may be removed but not added (422, as kube-apiserver).
    fn forbid_new_finalizers_while_deleting(&self) -> Result<(), ApiError> {
        let Some(old) = self.old.as_ref().filter(|old| is_deleting(old)) else {
            return Ok(());
        };
        let before = finalizers(old);
        let added: Vec<Value> = finalizers(&self.new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if added.is_empty() {
            return Ok(());
        }
        Err(ApiError::invalid(
            &self.rt.group,
            &self.rt.kind,
            &self.key.1,
            &[(
                "FieldValueForbidden".into(),
                "metadata.finalizers".into(),
                format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    Value::Array(added)
                ),
            )],
        ))
    }

    /// Sets `apiVersion` and `kind` to the request's version and the type's
    /// kind (what the schema and the CEL rules see).
    fn stamp_type(&mut self) {
        if let Some(o) = self.new.as_object_mut() {
            o.insert(
                "apiVersion".into(),
                json!(self.rt.api_version(self.version)),
            );
            o.insert("kind".into(), json!(self.rt.kind));
        }
    }

    /// Admission by the version's `openAPIV3Schema` (if any): defaulting,
    /// pruning of unknown fields and validation (422 with the causes).
    /// Pruned fields are a 400 under `fieldValidation=Strict`, otherwise
    /// they are returned as warnings.
    fn apply_schema(&mut self) -> Result<Vec<String>, ApiError> {
        let rt = self.rt;
        let Some(schema) = rt.version(self.version).and_then(|d| d.schema.as_ref()) else {
            return Ok(vec![]);
        };
        let out = schema::apply_schema(&mut self.new, schema);
        if !out.causes.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &self.key.1,
                &out.causes,
            ));
        }
        if !out.pruned.is_empty() && self.opts.strict {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                rt.kind,
                self.version,
                rt.kind,
                out.pruned
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(out
            .pruned
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect())
    }

    /// Admission by the version's CEL `x-kubernetes-validations` (if any),
    /// with the stored object as `oldSelf` for transition rules (422 with
    /// the causes).
    fn check_cel(&self) -> Result<(), ApiError> {
        let Some(compiled) = self.rt.version(self.version).and_then(|d| d.cel.as_ref()) else {
            return Ok(());
        };
        let causes = schema::cel_rules(compiled, &self.new, self.old.as_ref());
        if causes.is_empty() {
            return Ok(());
        }
        Err(ApiError::invalid(
            &self.rt.group,
            &self.rt.kind,
            &self.key.1,
            &causes,
        ))
    }

    /// Phase 3, bookkeeping: [`Self::set_generation`], then `managedFields`
    /// (those computed by apply, or [`Self::update_ownership`]).
    fn bookkeep(&mut self) {
        self.set_generation();
        let managed = match self.managed.take() {
            Some(m) => m,
            None => self.update_ownership(),
        };
        ssa::write_managed(&mut self.new, &managed);
    }

    /// `metadata.generation` (types that keep one): 1 on create; on update
    /// the stored generation, plus one when anything outside `metadata` (and
    /// outside `status` when the version has a status subresource) changed.
    fn set_generation(&mut self) {
        if !self.rt.generation {
            return;
        }
        let status_sub = self.rt.has_status(self.version);
        let old_gen = self
            .old
            .as_ref()
            .and_then(|v| v.pointer("/metadata/generation"))
            .and_then(Value::as_i64);
        let gen_ = match (&self.old, old_gen) {
            (Some(old), Some(g)) => {
                if spec_of(old, status_sub) != spec_of(&self.new, status_sub) {
                    g + 1
                } else {
                    g
                }
            }
            _ => 1,
        };
        if let Some(m) = meta_mut(&mut self.new) {
            m.insert("generation".into(), json!(gen_));
        }
    }

    /// Field ownership of a non-apply write: every manager loses the fields
    /// this write changed or removed, and the request's manager (if any)
    /// owns the changed fields in its `Update` entry for this subresource,
    /// created at the end of the list when missing.
    fn update_ownership(&self) -> Vec<Managed> {
        let mut managed = self.old.as_ref().map(ssa::read_managed).unwrap_or_default();
        let empty = json!({});
        let base = self.old.as_ref().unwrap_or(&empty);
        let schema = self
            .rt
            .version(self.version)
            .and_then(|d| d.schema.as_ref());
        let changed = ssa::changed_fields(base, &self.new, schema);
        let removed = ssa::removed_fields(base, &self.new, schema);
        let sub = self.opts.subresource.clone().unwrap_or_default();
        for m in managed.iter_mut() {
            m.fields.retain(|p| {
                !changed
                    .iter()
                    .any(|c| ssa::overlaps(c, p) && c.len() <= p.len())
                    && !removed.contains(p)
            });
        }
        let manager = &self.opts.manager;
        if !changed.is_empty() && !manager.is_empty() {
            let pos = managed.iter().position(|m| {
                &m.manager == manager && m.operation == "Update" && m.subresource == sub
            });
            let entry = match pos {
                Some(i) => &mut managed[i],
                None => {
                    managed.push(Managed {
                        manager: manager.clone(),
                        operation: "Update".into(),
                        api_version: self.rt.api_version(self.version),
                        time: String::new(),
                        subresource: sub,
                        fields: BTreeSet::new(),
                    });
                    let last = managed.len() - 1;
                    &mut managed[last]
                }
            };
            entry.fields.extend(changed);
            entry.time = now();
            entry.api_version = self.rt.api_version(self.version);
        }
        managed
    }
}

/// The `immutable` rule of Secrets and ConfigMaps: once the stored object
/// says `immutable: true`, `data`, `binaryData` and `immutable` cannot change
/// and `stringData` cannot be sent (422).
fn check_immutable_data(kind: &str, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let same = |k: &str| old.get(k) == new.get(k);
    let string_data = new
        .get("stringData")
        .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    if !same("data") || !same("binaryData") || !same("immutable") || string_data {
        return Err(ApiError::invalid(
            "",
            kind,
            name,
            &[(
                "FieldValueForbidden".into(),
                "data".into(),
                "Forbidden: field is immutable when `immutable` is set".into(),
            )],
        ));
    }
    Ok(())
}

/// Secret admission: `stringData` is folded into `data` (base64), `type`
/// defaults to the stored type or `Opaque`, and `type` cannot change (422).
fn admit_secret(name: &str, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
    let Some(o) = new.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                d.insert(
                    k,
                    json!(base64_encode(v.as_str().unwrap_or_default().as_bytes())),
                );
            }
        }
    }
    if o.get("type")
        .is_none_or(|t| t.as_str().is_none_or(str::is_empty))
    {
        o.insert(
            "type".into(),
            json!(
                old.and_then(|v| v.get("type"))
                    .cloned()
                    .unwrap_or(json!("Opaque"))
            ),
        );
    }
    if let (Some(ot), Some(nt)) = (old.and_then(|v| v.get("type")), o.get("type"))
        && ot != nt
    {
        return Err(ApiError::invalid(
            "",
            "Secret",
            name,
            &[(
                "FieldValueInvalid".into(),
                "type".into(),
                "Invalid value: field is immutable".into(),
            )],
        ));
    }
    Ok(())
}

/// Namespace admission: `status.phase` follows `deletionTimestamp`
/// (`Active`/`Terminating`), `spec` defaults to the `kubernetes` finalizer,
/// and the `kubernetes.io/metadata.name` label is set.
fn admit_namespace(name: &str, new: &mut Value) {
    if let Some(o) = new.as_object_mut() {
        let phase = if is_deleting(&Value::Object(o.clone())) {
            "Terminating"
        } else {
            "Active"
        };
        o.insert("status".into(), json!({"phase": phase}));
        o.entry("spec")
            .or_insert_with(|| json!({"finalizers": ["kubernetes"]}));
    }
    if let Some(m) = meta_mut(new) {
        let labels = m.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
}

fn is_new_events(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

/// Field renames between core/v1 and events.k8s.io/v1 Events.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Converts an Event between core/v1 (`to_core`) and events.k8s.io/v1 shapes.
fn convert_event(mut obj: Value, to_core: bool) -> Value {
    if let Some(o) = obj.as_object_mut() {
        for (core, new) in EVENT_FIELDS {
            let (from, to) = if to_core { (new, core) } else { (core, new) };
            if let Some(v) = o.remove(*from) {
                o.insert(to.to_string(), v);
            }
        }
    }
    obj
}

fn to_storage(rt: &ResourceType, obj: Value) -> Value {
    if is_new_events(rt) {
        convert_event(obj, true)
    } else {
        obj
    }
}

fn spec_of(v: &Value, drop_status: bool) -> Value {
    let mut c = v.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("metadata");
        o.remove("apiVersion");
        o.remove("kind");
        if drop_status {
            o.remove("status");
        }
    }
    c
}

fn strip_volatile(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf.iter_mut() {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    c
}

/// Removes strategic-merge-patch directives (`$patch`, `$setElementOrder/...`, `$retainKeys`).
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            for (_, c) in m.iter_mut() {
                strip_directives(c);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Applies an RFC 6902 JSON patch. A `test` of `null` against a missing
/// path succeeds (as in the Kubernetes API server); a failed test is 422.
pub fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array"))?;
    let invalid = |msg: String| ApiError::new(422, "Invalid", msg);
    let mut work = doc.clone();
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        if kind == "test" {
            let want = op.get("value").cloned().unwrap_or(Value::Null);
            let have = work.pointer(path).cloned().unwrap_or(Value::Null);
            if have != want {
                return Err(invalid(format!(
                    "the server rejected our request due to an error in our request: testing value {path} failed: test failed"
                )));
            }
            continue;
        }
        let one: json_patch::Patch = serde_json::from_value(Value::Array(vec![op.clone()]))
            .map_err(|e| ApiError::bad_request(format!("invalid json patch: {e}")))?;
        json_patch::patch(&mut work, &one).map_err(|e| {
            invalid(format!(
                "the server rejected our request due to an error in our request: {e}"
            ))
        })?;
    }
    *doc = work;
    Ok(())
}

fn validate_crd(crd: &Value, name: &str) -> Vec<schema::Cause> {
    let mut causes = vec![];
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (group, plural, kind) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
    );
    let mut req = |f: &str, v: &str| {
        if v.is_empty() {
            causes.push((
                "FieldValueRequired".into(),
                f.to_string(),
                "Required value".into(),
            ));
        }
    };
    req("spec.group", &group);
    req("spec.names.plural", &plural);
    req("spec.names.kind", &kind);
    let scope = s("/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push((
            "FieldValueNotSupported".into(),
            "spec.scope".into(),
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "FieldValueInvalid".into(),
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "FieldValueRequired".into(),
            "spec.versions".into(),
            "Required value: must have exactly one version marked as storage version".into(),
        ));
    } else if versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count()
        != 1
    {
        causes.push((
            "FieldValueInvalid".into(),
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    causes
}

/// Builds the served type from a CRD object.
pub fn crd_to_type(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let list = |v: &Value, k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = s(names, "kind");
    let mut versions = vec![];
    for v in spec.get("versions").and_then(Value::as_array)? {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| Column {
                        name: s(c, "name"),
                        type_: s(c, "type"),
                        format: s(c, "format"),
                        description: s(c, "description"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: s(c, "jsonPath"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.push(VersionDef {
            name: s(v, "name"),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            cel: v
                .pointer("/schema/openAPIV3Schema")
                .filter(|s| s.to_string().contains("x-kubernetes-validations"))
                .and_then(|s| std::panic::catch_unwind(|| kube_cel::compile_schema(s)).ok())
                .map(Arc::new),
            status: v.pointer("/subresources/status").is_some(),
            columns,
        });
    }
    let selectable_fields = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.first())
        .and_then(|v| v.get("selectableFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_string())
                .collect()
        })
        .unwrap_or_default();
    Some(ResourceType {
        group: s(spec, "group"),
        plural: s(names, "plural"),
        singular: {
            let x = s(names, "singular");
            if x.is_empty() { kind.to_lowercase() } else { x }
        },
        list_kind: {
            let x = s(names, "listKind");
            if x.is_empty() {
                format!("{kind}List")
            } else {
                x
            }
        },
        kind,
        namespaced: s(spec, "scope") == "Namespaced",
        short_names: list(names, "shortNames"),
        categories: list(names, "categories"),
        versions,
        builtin: false,
        generation: true,
        selectable_fields,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn json_patch_test_null_on_missing_path() {
        let mut d = json!({"metadata": {"name": "a"}});
        apply_json_patch(
            &mut d,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
            ]),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"][0], "x");
        let e = apply_json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "y"}]),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }

    /// A namespaced custom type that keeps `metadata.generation`.
    fn widgets(status: bool, schema: Option<Value>) -> ResourceType {
        let mut t = builtin("example.com", "widgets", "Widget", true, &[], status);
        t.builtin = false;
        t.generation = true;
        t.versions[0].schema = schema;
        t
    }

    fn pending<'a>(
        rt: &'a ResourceType,
        opts: &'a WriteOpts,
        old: Option<Value>,
        new: Value,
    ) -> PendingWrite<'a> {
        PendingWrite {
            rt,
            version: "v1",
            key: ("ns".into(), "w".into()),
            old,
            new,
            opts,
            managed: None,
        }
    }

    fn stored_widget() -> Value {
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
                         "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 3},
            "spec": {"a": 1},
            "status": {"s": 1}
        })
    }

    #[test]
    fn prepare_status_write_changes_only_status() {
        let rt = widgets(true, None);
        let opts = WriteOpts {
            subresource: Some("status".into()),
            ..Default::default()
        };
        let new = json!({"metadata": {"name": "w", "uid": "other", "labels": {"x": "y"}},
                         "spec": {"a": 2}, "status": {"s": 2}});
        let mut w = pending(&rt, &opts, Some(stored_widget()), new);
        w.prepare().unwrap();
        assert_eq!(w.new["spec"], json!({"a": 1}));
        assert_eq!(w.new["status"], json!({"s": 2}));
        assert_eq!(w.new["metadata"]["uid"], "u1");
        assert!(w.new["metadata"].get("labels").is_none());
        assert!(w.new["metadata"].get("resourceVersion").is_none());
        assert_eq!(w.new["apiVersion"], "example.com/v1");
        assert_eq!(w.new["kind"], "Widget");
    }

    #[test]
    fn prepare_main_write_keeps_stored_status_and_server_metadata() {
        let rt = widgets(true, None);
        let opts = WriteOpts::default();
        let new = json!({"metadata": {"name": "w", "creationTimestamp": "2030-01-01T00:00:00Z",
                                      "resourceVersion": "5", "selfLink": "/x", "generation": 9,
                                      "deletionTimestamp": "2030-01-01T00:00:00Z"},
                         "spec": {"a": 2}, "status": {"s": 2}});
        let mut w = pending(&rt, &opts, Some(stored_widget()), new);
        w.prepare().unwrap();
        assert_eq!(w.new["spec"], json!({"a": 2}));
        assert_eq!(w.new["status"], json!({"s": 1}));
        let meta = &w.new["metadata"];
        assert_eq!(meta["creationTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(meta["generation"], 3);
        assert_eq!(meta["namespace"], "ns");
        for gone in ["resourceVersion", "selfLink", "deletionTimestamp"] {
            assert!(meta.get(gone).is_none(), "{gone}");
        }

        // Without a status subresource, status is an ordinary field.
        let rt = widgets(false, None);
        let mut w = pending(
            &rt,
            &opts,
            Some(stored_widget()),
            json!({"metadata": {"name": "w"}, "status": {"s": 2}}),
        );
        w.prepare().unwrap();
        assert_eq!(w.new["status"], json!({"s": 2}));

        // A body that is not an object (so has no metadata object) is refused.
        let mut w = pending(&rt, &opts, Some(stored_widget()), json!("w"));
        assert_eq!(w.prepare().unwrap_err().code, 400);
    }

    #[test]
    fn prepare_forbids_new_finalizers_while_deleting() {
        let rt = widgets(false, None);
        let opts = WriteOpts::default();
        let mut old = stored_widget();
        old["metadata"]["deletionTimestamp"] = json!("2024-01-02T00:00:00Z");
        old["metadata"]["finalizers"] = json!(["a"]);
        let with = |f: Value| json!({"metadata": {"name": "w", "finalizers": f}});
        let mut w = pending(&rt, &opts, Some(old.clone()), with(json!(["a", "b"])));
        let e = w.prepare().unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("no new finalizers"), "{}", e.message);
        let mut w = pending(&rt, &opts, Some(old.clone()), with(json!([])));
        w.prepare().unwrap();
        // Not deleting: any finalizer may be added.
        old["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("deletionTimestamp");
        let mut w = pending(&rt, &opts, Some(old), with(json!(["a", "b"])));
        w.prepare().unwrap();
    }

    #[test]
    fn schema_admission_prunes_with_warnings_or_refuses_when_strict() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "a": {"type": "integer"}, "d": {"type": "string", "default": "x"}}}}});
        let rt = widgets(false, Some(schema));
        let body = json!({"metadata": {"name": "w"}, "spec": {"a": 1, "b": 2}});
        let lenient = WriteOpts::default();
        let mut w = pending(&rt, &lenient, None, body.clone());
        let warnings = w.apply_schema().unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("unknown field"), "{warnings:?}");
        assert_eq!(w.new["spec"], json!({"a": 1, "d": "x"}));
        let strict = WriteOpts {
            strict: true,
            ..Default::default()
        };
        let mut w = pending(&rt, &strict, None, body);
        assert_eq!(w.apply_schema().unwrap_err().code, 400);
        let mut w = pending(
            &rt,
            &lenient,
            None,
            json!({"metadata": {"name": "w"}, "spec": {"a": "no"}}),
        );
        assert_eq!(w.apply_schema().unwrap_err().code, 422);
    }

    #[test]
    fn type_rules_immutable_data_secret_and_namespace() {
        let old = json!({"immutable": true, "data": {"k": "dg=="}});
        assert!(check_immutable_data("ConfigMap", "c", &old, &old.clone()).is_ok());
        let changed = json!({"immutable": true, "data": {"k": "eA=="}});
        let e = check_immutable_data("ConfigMap", "c", &old, &changed).unwrap_err();
        assert_eq!(e.code, 422);
        let mutable = json!({"data": {"k": "dg=="}});
        assert!(check_immutable_data("ConfigMap", "c", &mutable, &changed).is_ok());

        let mut secret = json!({"stringData": {"k": "hello"}});
        admit_secret("s", None, &mut secret).unwrap();
        assert_eq!(secret, json!({"data": {"k": "aGVsbG8="}, "type": "Opaque"}));
        let old = json!({"type": "kubernetes.io/tls"});
        let mut secret = json!({"data": {}});
        admit_secret("s", Some(&old), &mut secret).unwrap();
        assert_eq!(secret["type"], "kubernetes.io/tls");
        let mut secret = json!({"type": "Opaque"});
        assert_eq!(
            admit_secret("s", Some(&old), &mut secret).unwrap_err().code,
            422
        );

        let mut ns = json!({"metadata": {"name": "n"}});
        admit_namespace("n", &mut ns);
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "n");
    }

    #[test]
    fn bookkeep_sets_generation_and_update_ownership() {
        let rt = widgets(true, None);
        let opts = WriteOpts {
            manager: "m".into(),
            ..Default::default()
        };
        let mut w = pending(
            &rt,
            &opts,
            None,
            json!({"metadata": {"name": "w"}, "spec": {"a": 1}}),
        );
        w.bookkeep();
        assert_eq!(w.new["metadata"]["generation"], 1);
        let managed = ssa::read_managed(&w.new);
        assert_eq!(managed.len(), 1);
        assert_eq!(managed[0].manager, "m");
        assert_eq!(managed[0].operation, "Update");
        assert_eq!(
            managed[0].fields,
            BTreeSet::from([vec!["f:spec".to_string(), "f:a".to_string()]])
        );

        let stored = w.new.clone();
        // A spec change bumps the generation; metadata and status changes do not.
        let mut changed = stored.clone();
        changed["spec"]["a"] = json!(2);
        let mut w = pending(&rt, &opts, Some(stored.clone()), changed);
        w.bookkeep();
        assert_eq!(w.new["metadata"]["generation"], 2);
        let mut labelled = stored.clone();
        labelled["metadata"]["labels"] = json!({"x": "y"});
        labelled["status"] = json!({"s": 1});
        let mut w = pending(&rt, &opts, Some(stored.clone()), labelled);
        w.bookkeep();
        assert_eq!(w.new["metadata"]["generation"], 1);

        // managedFields computed by apply are written as given (here: none),
        // instead of keeping the stored Update entry.
        let mut w = pending(&rt, &opts, Some(stored.clone()), stored);
        w.managed = Some(vec![]);
        w.bookkeep();
        assert!(w.new["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn commit_skips_no_ops_and_dry_runs_and_stores_the_rest() {
        let mut store = Store::new(100, true);
        let cm = store.type_of("", "configmaps").unwrap();
        let opts = WriteOpts {
            manager: "m".into(),
            ..Default::default()
        };
        let body = json!({"metadata": {"name": "c"}, "data": {"k": "v"}});
        let created = store
            .create(&cm, "v1", Some("default"), body.clone(), &opts)
            .unwrap();
        assert!(created.created);
        let rv = store.rv();
        assert_eq!(
            created.object["metadata"]["resourceVersion"],
            json!(rv.to_string())
        );

        // The same content again: no new resourceVersion, no event.
        let history = store.history.len();
        let same = store
            .update(&cm, "v1", Some("default"), "c", body, &opts)
            .unwrap();
        assert_eq!(store.rv(), rv);
        assert_eq!(store.history.len(), history);
        assert_eq!(same.object, created.object);

        // A dry run shows the result under the stored resourceVersion.
        let changed = json!({"metadata": {"name": "c"}, "data": {"k": "w"}});
        let dry = WriteOpts {
            dry_run: true,
            ..opts.clone()
        };
        let r = store
            .update(&cm, "v1", Some("default"), "c", changed.clone(), &dry)
            .unwrap();
        assert_eq!(r.object["data"]["k"], "w");
        assert_eq!(
            r.object["metadata"]["resourceVersion"],
            json!(rv.to_string())
        );
        assert_eq!(store.rv(), rv);
        assert_eq!(
            store.get(&cm, Some("default"), "c").unwrap()["data"]["k"],
            "v"
        );

        // A real change: new resourceVersion, stored, MODIFIED with the previous object.
        let r = store
            .update(&cm, "v1", Some("default"), "c", changed, &opts)
            .unwrap();
        assert_eq!(store.rv(), rv + 1);
        assert_eq!(
            r.object["metadata"]["resourceVersion"],
            json!((rv + 1).to_string())
        );
        let last = store.history.back().unwrap();
        assert_eq!(last.event, "MODIFIED");
        assert_eq!(last.previous.as_ref().unwrap()["data"]["k"], "v");
    }

    #[test]
    fn commit_removes_a_deleting_object_whose_last_finalizer_goes() {
        let mut store = Store::new(100, true);
        let cm = store.type_of("", "configmaps").unwrap();
        let opts = WriteOpts::default();
        let body = json!({"metadata": {"name": "c", "finalizers": ["f"]}});
        store
            .create(&cm, "v1", Some("default"), body, &opts)
            .unwrap();
        let (deleting, gone) = store
            .delete(&cm, Some("default"), "c", &Value::Null, false)
            .unwrap();
        assert!(!gone);
        let mut released = deleting.clone();
        released["metadata"]["finalizers"] = json!([]);
        let r = store
            .update(&cm, "v1", Some("default"), "c", released, &opts)
            .unwrap();
        assert!(!r.created);
        assert!(store.get(&cm, Some("default"), "c").is_err());
        let last = store.history.back().unwrap();
        assert_eq!(last.event, "DELETED");
        assert_eq!(last.rv, store.rv());
    }
}
