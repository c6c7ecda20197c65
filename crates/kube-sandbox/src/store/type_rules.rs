//! Type-specific admission rules: the `immutable` rule of Secrets and
//! ConfigMaps, Secret `stringData` and `type`, Namespace status and label,
//! and CRD validation and status.

use serde_json::{Value, json};

use super::object::{is_deleting, meta_mut};
use super::{ObjKey, ResourceType, Store, now};
use crate::error::ApiError;
use crate::schema;

impl Store {
    /// Type-specific admission rules, the last step of [`Store::admit`]:
    /// the `immutable` rule of Secrets and ConfigMaps
    /// ([`check_immutable_data`]), then the rules of Secrets
    /// ([`admit_secret`]), Namespaces ([`admit_namespace`]) and CRDs
    /// ([`Store::admit_crd`]).
    pub(super) fn type_hooks(
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
}

/// The `immutable` rule of Secrets and ConfigMaps: once the stored object
/// says `immutable: true`, `data`, `binaryData` and `immutable` cannot change
/// and `stringData` cannot be sent (422).
pub(super) fn check_immutable_data(
    kind: &str,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
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
pub(super) fn admit_secret(
    name: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> Result<(), ApiError> {
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
pub(super) fn admit_namespace(name: &str, new: &mut Value) {
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

/// The checks of a CRD definition that a real API server makes first: group,
/// names, scope, the object name, exactly one storage version.
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

/// Standard base64 with padding (Secret `stringData` to `data`).
pub(super) fn base64_encode(data: &[u8]) -> String {
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
