//! Deletion: preconditions, finalizers (marking an object as deleting),
//! namespace termination, the removal of a CRD's objects and background
//! garbage collection of dependents.

use std::sync::Arc;

use serde_json::{Value, json};

use super::object::{finalizers, is_deleting, meta_mut};
use super::write::precondition_failed;
use super::{ObjKey, ResourceType, Store, crd_to_type, now};
use crate::error::ApiError;

impl Store {
    /// Deletes one object. Returns the object and whether it is gone.
    ///
    /// After the `preconditions` ([`check_delete_preconditions`]), an object
    /// with finalizers, and every Namespace, is only marked as deleting
    /// ([`Store::mark_deleting`]); anything else is removed at once and the
    /// removal cascades ([`Store::after_removal`]). A dry run changes nothing.
    pub fn delete(
        &mut self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        preconditions: &Value,
        dry_run: bool,
    ) -> Result<(Value, bool), ApiError> {
        let old = self.get(rt, ns, name)?;
        check_delete_preconditions(rt, name, &old, preconditions)?;
        if !finalizers(&old).is_empty() || is_namespace(rt) {
            return Ok(self.mark_deleting(rt, ns, name, old, dry_run));
        }
        if dry_run {
            return Ok((old, true));
        }
        let key = Self::ns_key(rt, ns, name);
        let mut last = old;
        self.stamp_next_rv(&mut last);
        self.remove_object(Self::key(rt), &key, last.clone());
        self.after_removal(rt, &key, &last);
        Ok((last, true))
    }

    /// Graceful deletion of an object with finalizers, or of a Namespace:
    /// `deletionTimestamp` is set (and `generation` bumped, like
    /// kube-apiserver's markAsDeleting), stored as `MODIFIED`; a Namespace
    /// turns `Terminating`, its contents are deleted and it goes once empty.
    /// An object already deleting is returned unchanged. Returns the object
    /// and whether it is gone.
    fn mark_deleting(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        old: Value,
        dry_run: bool,
    ) -> (Value, bool) {
        if is_deleting(&old) {
            return (old, false);
        }
        let is_ns = is_namespace(rt);
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
            return (new, false);
        }
        self.stamp_next_rv(&mut new);
        let key = Self::ns_key(rt, ns, name);
        self.put_object(Self::key(rt), key, new.clone(), "MODIFIED", Some(old));
        if is_ns {
            self.delete_namespace_contents(name);
            let gone = self.try_finish_namespace(name);
            return (new, gone);
        }
        (new, false)
    }

    /// Deletes every object in namespace `ns` (which is terminating).
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
        let mut last = obj;
        self.stamp_next_rv(&mut last);
        self.remove_object(Self::key(&ns_type), &(String::new(), ns.to_string()), last);
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
            self.remove_custom_type(&t);
        }
        let Some(uid) = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return;
        };
        for (t, k) in self.dependents(rt, key, &uid) {
            let ns = if k.0.is_empty() {
                None
            } else {
                Some(k.0.as_str())
            };
            let _ = self.delete(&t, ns, &k.1, &Value::Null, false);
        }
    }

    /// A removed CRD takes its type and every object of it along (each one
    /// `DELETED` under its own resourceVersion).
    fn remove_custom_type(&mut self, t: &ResourceType) {
        let tk = (t.group.clone(), t.plural.clone());
        if let Some(objs) = self.objects.remove(&tk) {
            for (_, mut o) in objs {
                self.stamp_next_rv(&mut o);
                self.record(tk.clone(), "DELETED", o, None);
            }
        }
        self.types.remove(&tk);
    }

    /// The objects with an owner reference to `uid` (the object of type `rt`
    /// at `key` just removed); a namespaced owner only owns objects in its
    /// namespace (or cluster-scoped ones).
    fn dependents(
        &self,
        rt: &ResourceType,
        key: &ObjKey,
        uid: &str,
    ) -> Vec<(Arc<ResourceType>, ObjKey)> {
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
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                }) {
                    dependents.push((t.clone(), k.clone()));
                }
            }
        }
        dependents
    }
}

/// Whether the type is the core Namespace.
fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "namespaces"
}

/// The preconditions of a DELETE (`uid`, `resourceVersion`): each one set
/// must equal the stored object's (409 otherwise).
fn check_delete_preconditions(
    rt: &ResourceType,
    name: &str,
    old: &Value,
    preconditions: &Value,
) -> Result<(), ApiError> {
    if let Some(uid) = preconditions.get("uid").and_then(Value::as_str)
        && Some(uid) != old.pointer("/metadata/uid").and_then(Value::as_str)
    {
        return Err(precondition_failed(rt, name, "UID", uid, old, "uid"));
    }
    if let Some(rv) = preconditions.get("resourceVersion").and_then(Value::as_str)
        && Some(rv)
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(precondition_failed(
            rt,
            name,
            "ResourceVersion",
            rv,
            old,
            "resourceVersion",
        ));
    }
    Ok(())
}
