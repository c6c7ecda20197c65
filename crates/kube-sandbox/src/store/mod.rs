//! The in-memory object store: resource types, objects, the global
//! resourceVersion counter, the bounded change history and write semantics.
//!
//! This module holds the [`Store`] itself, its type registry and its reads
//! (get, list, the start of a watch). The rest is split by concern:
//!
//! - [`types`]: what a served type is, the built-in types, types from CRDs;
//! - [`object`]: helpers on stored objects (metadata, names, Event shapes,
//!   JSON patches);
//! - [`write`](mod@write): create, update and patch, and the write path
//!   they share with apply (admission, bookkeeping, commit);
//! - [`pending`]: a write on its way through that path, phase by phase;
//! - [`apply`]: server-side apply (field ownership and conflicts);
//! - [`type_rules`]: admission rules of Secrets, ConfigMaps, Namespaces and
//!   CRDs;
//! - [`delete`]: deletion, finalizers, namespace termination and garbage
//!   collection.

mod apply;
mod delete;
mod object;
mod pending;
mod type_rules;
mod types;
mod write;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};

pub use object::apply_json_patch;
pub use types::{Column, ObjKey, ResourceType, TypeKey, crd_to_type};
pub use write::{WriteOpts, WriteResult};

use object::{convert_event, is_deleting, is_new_events, meta_mut};
use types::builtin;

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

    /// Takes the next resourceVersion and writes it into `obj`.
    fn stamp_next_rv(&mut self, obj: &mut Value) {
        self.rv += 1;
        if let Some(m) = meta_mut(obj) {
            m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
    }

    /// Stores `obj` under `key` and records the change (`event`, with the
    /// previous state for `MODIFIED`).
    fn put_object(
        &mut self,
        tk: TypeKey,
        key: ObjKey,
        obj: Value,
        event: &'static str,
        previous: Option<Value>,
    ) {
        self.objects
            .entry(tk.clone())
            .or_default()
            .insert(key, obj.clone());
        self.record(tk, event, obj, previous);
    }

    /// Removes the object at `key` and records `DELETED` with its last state.
    fn remove_object(&mut self, tk: TypeKey, key: &ObjKey, last: Value) {
        self.objects.entry(tk.clone()).or_default().remove(key);
        self.record(tk, "DELETED", last, None);
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

    /// Registers (or replaces) the type that a stored CRD defines.
    fn register_crd(&mut self, crd: &Value) {
        if let Some(rt) = crd_to_type(crd) {
            let key = (rt.group.clone(), rt.plural.clone());
            self.types.insert(key, Arc::new(rt));
        }
    }
}
