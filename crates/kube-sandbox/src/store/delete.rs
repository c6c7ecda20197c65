//! Deletion: preconditions, finalizers (marking an object as deleting),
//! namespace termination, the removal of a CRD's objects and background
//! garbage collection of dependents.

use std::sync::Arc;

use serde_json::{Value, json};

use super::object::{finalizers, is_deleting, meta_mut};
use super::{ObjKey, ResourceType, Store, crd_to_type, now};
use crate::error::ApiError;

impl Store {
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
    pub(super) fn after_removal(&mut self, rt: &ResourceType, key: &ObjKey, obj: &Value) {
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
