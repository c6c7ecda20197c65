//! Helpers on stored objects: metadata access, names of new objects, the
//! Event shapes (core/v1 and events.k8s.io/v1), the comparisons behind
//! generation bumps and no-op detection, and JSON patches.

use serde_json::{Map, Value, json};

use super::types::ResourceType;
use crate::error::ApiError;

/// The `metadata` map of an object, inserted (empty) when missing or not an object;
/// `None` when the object itself is not a JSON object.
pub(super) fn meta_mut(v: &mut Value) -> Option<&mut Map<String, Value>> {
    if !v.get("metadata").is_some_and(Value::is_object)
        && let Some(o) = v.as_object_mut()
    {
        o.insert("metadata".into(), json!({}));
    }
    v.get_mut("metadata").and_then(Value::as_object_mut)
}

/// `metadata.finalizers` (empty when unset).
pub(super) fn finalizers(v: &Value) -> Vec<Value> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub(super) fn is_deleting(v: &Value) -> bool {
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
pub(super) fn new_object_name(
    rt: &ResourceType,
    meta: &Map<String, Value>,
) -> Result<String, ApiError> {
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

/// Five random characters for `generateName` (the alphabet of kube-apiserver).
pub(super) fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHA[(*b as usize) % ALPHA.len()] as char)
        .collect()
}

/// Whether the type is `events.k8s.io` Events (stored as core Events).
pub(super) fn is_new_events(rt: &ResourceType) -> bool {
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
pub(super) fn convert_event(mut obj: Value, to_core: bool) -> Value {
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

/// An object in storage shape (`events.k8s.io` Events become core Events).
pub(super) fn to_storage(rt: &ResourceType, obj: Value) -> Value {
    if is_new_events(rt) {
        convert_event(obj, true)
    } else {
        obj
    }
}

/// The object without `metadata`, `apiVersion`, `kind` (and `status` when
/// `drop_status`): what a generation bump compares.
pub(super) fn spec_of(v: &Value, drop_status: bool) -> Value {
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

/// The object without `resourceVersion` and managedFields times: what a
/// no-op write detection compares.
pub(super) fn strip_volatile(v: &Value) -> Value {
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
pub(super) fn strip_directives(v: &mut Value) {
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
