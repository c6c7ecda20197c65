//! Server-side apply: the configuration a manager applies, conflicts with
//! the fields other managers own, and the `managedFields` that result.

use std::sync::Arc;

use serde_json::{Value, json};

use super::object::{meta_mut, to_storage};
use super::pending::PendingWrite;
use super::{ResourceType, Store, WriteOpts, WriteResult, now};
use crate::error::ApiError;
use crate::ssa::{self, FieldSet, Managed};

/// A field owned by another manager that an apply would change:
/// `(manager, path)`.
type Conflict = (String, Vec<String>);

impl Store {
    /// Server-side apply.
    ///
    /// The configuration is checked and restricted to the endpoint
    /// ([`Store::apply_configuration`]); fields of other managers that it
    /// would change are conflicts (409, unless `force`: then they change
    /// hands); fields this manager applied before and no longer applies are
    /// removed unless someone else owns them; the result goes through the
    /// shared write path, as an update or as a create.
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
        let sub = o.subresource.clone().unwrap_or_default();
        let config = Self::apply_configuration(rt, version, name, config, &sub)?;
        let old = self.apply_target(rt, ns, name, &sub)?;
        if let Some(old) = &old {
            Self::check_rv(rt, name, old, &config)?;
        }
        let live = old
            .clone()
            .unwrap_or_else(|| json!({"metadata": {"name": name}}));
        let schema = rt.version(version).and_then(|d| d.schema.clone());
        let req = ApplyRequest {
            manager: &o.manager,
            sub: &sub,
            config: &config,
            schema: schema.as_ref(),
            live: &live,
        };
        let mut managed = ssa::read_managed(&live);
        let cfg_fields = ssa::fields_of(&config, schema.as_ref());
        let previously = req.previously_applied(&managed);
        let conflicts = req.conflicts(&managed, &cfg_fields);
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_error(rt, name, &conflicts));
            }
            req.take_over(&mut managed, &conflicts);
        }
        let mut result = req.merged(&managed, &previously, &cfg_fields);
        req.record_entry(&mut managed, rt.api_version(version), cfg_fields);
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

    /// The apply configuration as this endpoint may write it: it must set
    /// `apiVersion` and `kind` (400) matching the type, and its name (if
    /// any) the name on the URL (400). A `/status` apply keeps `status`
    /// only; a main-resource apply to a type with a status subresource
    /// drops `status`.
    fn apply_configuration(
        rt: &ResourceType,
        version: &str,
        name: &str,
        config: Value,
        sub: &str,
    ) -> Result<Value, ApiError> {
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
        let mut config = to_storage(rt, config);
        if config
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| n != name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object does not match the name on the URL ({name})"
            )));
        }
        let status_sub = rt.has_status(version);
        if let Some(c) = config.as_object_mut() {
            if sub == "status" {
                c.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind");
            } else if status_sub {
                c.remove("status");
            }
        }
        Ok(config)
    }

    /// The stored object an apply changes; `None` when the apply creates it
    /// (only a main-resource apply can: a subresource apply to a missing
    /// object is 404).
    fn apply_target(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: &str,
    ) -> Result<Option<Value>, ApiError> {
        match self.get(rt, ns, name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code == 404 && sub.is_empty() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One server-side apply: who applies what, to which object.
struct ApplyRequest<'a> {
    /// The field manager.
    manager: &'a str,
    /// The subresource (`""` for the main resource).
    sub: &'a str,
    /// The configuration, in storage shape and restricted to the endpoint.
    config: &'a Value,
    /// The schema of the version applied at, if any.
    schema: Option<&'a Value>,
    /// The stored object (a stub with the name only, when creating).
    live: &'a Value,
}

impl ApplyRequest<'_> {
    /// Whether `m` is this manager's `Apply` entry for this subresource.
    fn is_mine(&self, m: &Managed) -> bool {
        m.manager == self.manager && m.operation == "Apply" && m.subresource == self.sub
    }

    /// The fields this manager applied last time.
    fn previously_applied(&self, managed: &[Managed]) -> FieldSet {
        managed
            .iter()
            .filter(|m| self.is_mine(m))
            .flat_map(|m| m.fields.iter().cloned())
            .collect()
    }

    /// The fields of other managers that applying would change: a field of
    /// the configuration whose value would change, or (when its configured
    /// value is not an object, so atomic) any field below it.
    fn conflicts(&self, managed: &[Managed], cfg_fields: &FieldSet) -> Vec<Conflict> {
        // What applying would produce, to detect changes to others' fields.
        let mut trial = self.live.clone();
        ssa::merge_config(&mut trial, self.config, self.schema);
        let mut conflicts: Vec<Conflict> = vec![];
        for path in cfg_fields {
            if ssa::is_item(path) || ssa::get_at(&trial, path) == ssa::get_at(self.live, path) {
                continue;
            }
            for m in managed.iter().filter(|m| !self.is_mine(m)) {
                let atomic = !matches!(ssa::get_at(self.config, path), Some(Value::Object(_)));
                let hit = |p: &&Vec<String>| {
                    *p == path || (atomic && p.len() > path.len() && p.starts_with(path))
                };
                for p in m.fields.iter().filter(hit) {
                    conflicts.push((m.manager.clone(), p.clone()));
                }
            }
        }
        conflicts
    }

    /// A forced apply: the other managers lose the conflicting fields.
    fn take_over(&self, managed: &mut [Managed], conflicts: &[Conflict]) {
        for m in managed.iter_mut().filter(|m| !self.is_mine(m)) {
            m.fields.retain(|p| !conflicts.iter().any(|(_, c)| c == p));
        }
    }

    /// The applied object: the stored one without the fields this manager
    /// no longer applies and nobody else owns, with the configuration merged
    /// in.
    fn merged(&self, managed: &[Managed], previously: &FieldSet, cfg_fields: &FieldSet) -> Value {
        let mut result = self.live.clone();
        for path in previously.difference(cfg_fields) {
            let owned_elsewhere = managed
                .iter()
                .filter(|m| !self.is_mine(m))
                .any(|m| m.fields.iter().any(|p| p.starts_with(path)));
            if !owned_elsewhere {
                ssa::remove_at(&mut result, path);
                ssa::prune_empty(&mut result, path);
            }
        }
        ssa::merge_config(&mut result, self.config, self.schema);
        result
    }

    /// Records this manager's `Apply` entry (owning `fields`) in the place
    /// of its previous one, dropping any duplicates after it, or at the end.
    /// Keeping the position makes re-applying the same configuration a
    /// no-op.
    fn record_entry(&self, managed: &mut Vec<Managed>, api_version: String, fields: FieldSet) {
        let entry = Managed {
            manager: self.manager.to_string(),
            operation: "Apply".into(),
            api_version,
            time: now(),
            subresource: self.sub.to_string(),
            fields,
        };
        match managed.iter().position(|m| self.is_mine(m)) {
            Some(i) => {
                managed[i] = entry;
                let mut i = i + 1;
                while i < managed.len() {
                    if self.is_mine(&managed[i]) {
                        managed.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => managed.push(entry),
        }
    }
}

/// The 409 of an apply with conflicts (without `force`): one cause per
/// conflicting field, and a message naming them as kube-apiserver does.
fn conflict_error(rt: &ResourceType, name: &str, conflicts: &[Conflict]) -> ApiError {
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
    ApiError::new(409, "Conflict", msg)
        .with_details(json!({"causes": causes, "name": name, "group": rt.group, "kind": rt.plural}))
}
