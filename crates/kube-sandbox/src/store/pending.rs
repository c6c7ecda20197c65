//! A write on its way through the shared write path: [`PendingWrite`] and
//! its phases (prepare, schema and CEL admission, bookkeeping).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::object::{finalizers, is_deleting, meta_mut, spec_of};
use super::{ObjKey, ResourceType, WriteOpts, now};
use crate::error::ApiError;
use crate::schema;
use crate::ssa::{self, Managed};

/// One write on its way through the shared write path
/// ([`Store::finalize_write`](super::Store::finalize_write)): the arguments of the write, grouped.
///
/// `create`, `update`, `patch` and `apply` build it after decoding the request
/// (identity checks, conversion to the storage shape) and their own checks.
pub(super) struct PendingWrite<'a> {
    /// Type of the object.
    pub(super) rt: &'a ResourceType,
    /// Version the request was made at (selects the schema, the CEL rules and
    /// whether there is a status subresource).
    pub(super) version: &'a str,
    /// Storage key of the object.
    pub(super) key: ObjKey,
    /// The stored object, `None` when creating.
    pub(super) old: Option<Value>,
    /// The requested object, in storage shape; each phase refines it into the
    /// object to store.
    pub(super) new: Value,
    /// Request options (subresource, manager, dry run, strict validation).
    pub(super) opts: &'a WriteOpts,
    /// `managedFields` computed by server-side apply; `None` lets
    /// [`PendingWrite::bookkeep`] record `Update` ownership itself.
    pub(super) managed: Option<Vec<Managed>>,
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
    /// The 422 of this write with `causes`.
    fn invalid(&self, causes: &[schema::Cause]) -> ApiError {
        ApiError::invalid(&self.rt.group, &self.rt.kind, &self.key.1, causes)
    }

    /// Whether the write targets the `status` subresource.
    fn to_status(&self) -> bool {
        self.opts.subresource.as_deref() == Some("status")
    }

    /// Phase 1, prepare: on an update, [`Self::scope_to_subresource`],
    /// [`Self::keep_server_metadata`] and
    /// [`Self::forbid_new_finalizers_while_deleting`]; then
    /// [`Self::stamp_type`].
    pub(super) fn prepare(&mut self) -> Result<(), ApiError> {
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
        Err(self.invalid(&[(
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
    pub(super) fn apply_schema(&mut self) -> Result<Vec<String>, ApiError> {
        let rt = self.rt;
        let Some(schema) = rt.version(self.version).and_then(|d| d.schema.as_ref()) else {
            return Ok(vec![]);
        };
        let out = schema::apply_schema(&mut self.new, schema);
        if !out.causes.is_empty() {
            return Err(self.invalid(&out.causes));
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
    pub(super) fn check_cel(&self) -> Result<(), ApiError> {
        let Some(compiled) = self.rt.version(self.version).and_then(|d| d.cel.as_ref()) else {
            return Ok(());
        };
        let causes = schema::cel_rules(compiled, &self.new, self.old.as_ref());
        if causes.is_empty() {
            return Ok(());
        }
        Err(self.invalid(&causes))
    }

    /// Phase 3, bookkeeping: [`Self::set_generation`], then `managedFields`
    /// (those computed by apply, or [`Self::update_ownership`]).
    pub(super) fn bookkeep(&mut self) {
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
