//! Writes: create, update (PUT) and patch, and the write path that every
//! write, server-side apply included, ends with ([`Store::finalize_write`]:
//! admission, bookkeeping, commit).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::object::{
    apply_json_patch, finalizers, is_deleting, meta_mut, new_object_name, strip_directives,
    strip_volatile, to_storage,
};
use super::pending::PendingWrite;
use super::{ObjKey, ResourceType, Store, now};
use crate::error::{ApiError, group_resource};
use crate::ssa::Managed;

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

impl Store {
    /// A written body must be a JSON object whose `kind` and `apiVersion`,
    /// when set, are the type's at the request's version (400 otherwise).
    pub(super) fn check_body_identity(
        rt: &ResourceType,
        version: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
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

    /// Creates an object, with the `managedFields` computed by apply (if
    /// any): the body must match the type and the request's namespace, gets
    /// its name ([`new_object_name`]) and server metadata
    /// ([`init_new_metadata`]) and, on the main resource of a type with a
    /// status subresource, loses its `status`.
    pub(super) fn create_with(
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
        self.check_create_namespace(rt, ns, &name)?;
        let key = Self::ns_key(rt, ns, &name);
        if self
            .objects
            .get(&Self::key(rt))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        init_new_metadata(rt, meta, &name, ns);
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

    /// Where a new object goes: a namespaced type needs a namespace (400)
    /// that exists (404) and is not terminating (403).
    fn check_create_namespace(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
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
        Ok(())
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

    /// The preconditions a written body carries: a `resourceVersion` other
    /// than the stored one is 409 (the object has been modified), a `uid`
    /// other than the stored one is 409 (precondition failed).
    pub(super) fn check_rv(
        rt: &ResourceType,
        name: &str,
        old: &Value,
        body: &Value,
    ) -> Result<(), ApiError> {
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
            return Err(precondition_failed(rt, name, "UID", uid, old, "uid"));
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
    pub(super) fn finalize_write(
        &mut self,
        mut w: PendingWrite<'_>,
    ) -> Result<WriteResult, ApiError> {
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
        self.stamp_next_rv(&mut new);
        let tk = Self::key(rt);
        let created = old.is_none();
        if !created && is_deleting(&new) && finalizers(&new).is_empty() {
            self.remove_object(tk, &key, new.clone());
            self.after_removal(rt, &key, &new);
        } else {
            let event = if created { "ADDED" } else { "MODIFIED" };
            self.put_object(tk, key, new.clone(), event, old);
            if rt.group == "apiextensions.k8s.io" {
                self.register_crd(&new);
            }
        }
        new
    }
}

/// The 409 of a failed precondition: the request wants `what` (`UID` or
/// `ResourceVersion`) to be `want`; the stored object has its
/// `metadata.<field>`.
pub(super) fn precondition_failed(
    rt: &ResourceType,
    name: &str,
    what: &str,
    want: &str,
    old: &Value,
    field: &str,
) -> ApiError {
    let have = old
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default();
    ApiError::conflict(
        &rt.group,
        &rt.plural,
        name,
        &format!(
            "Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"
        ),
    )
}

/// The metadata of a new object: its name and namespace, a new `uid`, the
/// creation time and `generation` 1 (types that keep one); what the request
/// may not set (deletion, resourceVersion, selfLink, managedFields) is
/// dropped.
fn init_new_metadata(
    rt: &ResourceType,
    meta: &mut Map<String, Value>,
    name: &str,
    ns: Option<&str>,
) {
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
}
