//! Server-side apply: the configuration a manager applies, conflicts with
//! the fields other managers own, and the `managedFields` that result.

use std::sync::Arc;

use serde_json::{Value, json};

use super::object::{meta_mut, to_storage};
use super::pending::PendingWrite;
use super::{ResourceType, Store, WriteOpts, WriteResult, now};
use crate::error::ApiError;
use crate::ssa::{self, Managed};

impl Store {
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
}
