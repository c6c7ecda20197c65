//! Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply.
//!
//! Lists follow the schema's `x-kubernetes-list-type`: `map` lists (keyed by
//! `x-kubernetes-list-map-keys`) merge per item, `set` lists per value, all
//! others are atomic. `metadata.finalizers` is a set; `ownerReferences` atomic.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A set of owned leaf paths; each element is `f:<field>` or `v:<json value>`.
pub type FieldSet = BTreeSet<Vec<String>>;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Managed {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the fields were written with.
    pub api_version: String,
    /// Timestamp of the last change.
    pub time: String,
    /// Subresource (`""` for the main resource).
    pub subresource: String,
    /// Owned fields.
    pub fields: FieldSet,
}

/// How a list merges.
enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

fn list_type(schema: Option<&Value>) -> ListType {
    match schema
        .and_then(|s| s.get("x-kubernetes-list-type"))
        .and_then(Value::as_str)
    {
        Some("set") => ListType::Set,
        Some("map") => ListType::Map(
            schema
                .and_then(|s| s.get("x-kubernetes-list-map-keys"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => ListType::Atomic,
    }
}

/// Schema of property `k` of an object schema.
pub fn child_schema<'a>(schema: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    let s = schema?;
    s.get("properties")
        .and_then(|p| p.get(k))
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

fn items_schema(schema: Option<&Value>) -> Option<&Value> {
    schema?.get("items")
}

/// `k:{...}` path element for a map-list item.
fn key_seg(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        m.insert(k.clone(), item.get(k)?.clone());
    }
    Some(format!("k:{}", Value::Object(m)))
}

fn item_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, v)| item.get(k) == Some(v))
}

/// Leaf paths of an object (apply configuration or live object), using the
/// type's `openAPIV3Schema` (if any) for list semantics.
pub fn fields_of(obj: &Value, schema: Option<&Value>) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let Some(m) = v.as_object() else { continue };
                for key in ["labels", "annotations"] {
                    if let Some(entries) = m.get(key).and_then(Value::as_object) {
                        for ek in entries.keys() {
                            out.insert(vec![
                                "f:metadata".into(),
                                format!("f:{key}"),
                                format!("f:{ek}"),
                            ]);
                        }
                    }
                }
                if let Some(fins) = m.get("finalizers").and_then(Value::as_array) {
                    for f in fins {
                        out.insert(vec![
                            "f:metadata".into(),
                            "f:finalizers".into(),
                            format!("v:{f}"),
                        ]);
                    }
                }
                if m.get("ownerReferences")
                    .is_some_and(|o| o.as_array().is_some_and(|a| !a.is_empty()))
                {
                    out.insert(vec!["f:metadata".into(), "f:ownerReferences".into()]);
                }
            }
            _ => collect(v, vec![format!("f:{k}")], child_schema(schema, k), &mut out),
        }
    }
    out
}

fn collect(v: &Value, path: Vec<String>, schema: Option<&Value>, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                collect(c, p, child_schema(schema, k), out);
            }
        }
        Value::Array(a) if !a.is_empty() => match list_type(schema) {
            ListType::Atomic => {
                out.insert(path);
            }
            ListType::Set => {
                for item in a {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            ListType::Map(keys) => {
                let is = items_schema(schema);
                for item in a {
                    let Some(seg) = key_seg(item, &keys) else {
                        continue;
                    };
                    let mut p = path.clone();
                    p.push(seg);
                    out.insert(p.clone());
                    if let Some(m) = item.as_object() {
                        for (k, c) in m {
                            let mut cp = p.clone();
                            cp.push(format!("f:{k}"));
                            collect(c, cp, child_schema(is, k), out);
                        }
                    }
                }
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// Whether a path names a list item (its existence, not a value).
pub fn is_item(path: &[String]) -> bool {
    path.last()
        .is_some_and(|s| s.starts_with("k:") || s.starts_with("v:"))
}

/// Renders a field set as FieldsV1 JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for seg in path {
            let entry = node.entry(seg.clone()).or_insert_with(|| json!({}));
            match entry.as_object_mut() {
                Some(m) => node = m,
                None => break,
            }
        }
    }
    // A leaf that also has owned children is marked with ".".
    fn mark(node: &mut Map<String, Value>, path: &[String]) {
        match path.split_first() {
            None => {
                if !node.is_empty() {
                    node.insert(".".into(), json!({}));
                }
            }
            Some((first, rest)) => {
                if let Some(child) = node.get_mut(first).and_then(Value::as_object_mut) {
                    mark(child, rest);
                }
            }
        }
    }
    for path in set {
        if !path.is_empty() {
            mark(&mut root, path);
        }
    }
    Value::Object(root)
}

/// Parses FieldsV1 JSON into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, c) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(k.clone());
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// Parses `metadata.managedFields`.
pub fn read_managed(obj: &Value) -> Vec<Managed> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Managed {
                    manager: str_of(e, "manager"),
                    operation: str_of(e, "operation"),
                    api_version: str_of(e, "apiVersion"),
                    time: str_of(e, "time"),
                    subresource: str_of(e, "subresource"),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Writes `metadata.managedFields` (empty entries are dropped).
pub fn write_managed(obj: &mut Value, managed: &[Managed]) {
    let arr: Vec<Value> = managed
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty()
                && let Some(o) = e.as_object_mut()
            {
                o.insert("subresource".into(), json!(m.subresource));
            }
            e
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Value at a field path (`v:`/`k:` items return the item itself).
pub fn get_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(v) = seg.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur = cur.as_array()?.iter().find(|x| **x == want)?;
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur.as_array()?.iter().find(|x| item_matches(x, &key))?;
        } else {
            return None;
        }
    }
    Some(cur)
}

fn get_mut_at<'a>(obj: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            cur = cur.get_mut(f)?;
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur
                .as_array_mut()?
                .iter_mut()
                .find(|x| item_matches(x, &key))?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Removes the value at a field path, if present.
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some(cur) = get_mut_at(obj, parent_path) else {
        return;
    };
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(v) = last.strip_prefix("v:") {
        if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut()) {
            a.retain(|x| *x != want);
        }
    } else if let Some(k) = last.strip_prefix("k:")
        && let (Ok(key), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(k),
            cur.as_array_mut(),
        )
    {
        a.retain(|x| !item_matches(x, &key));
    }
}

/// Whether one path is a prefix of the other.
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// `.spec.x` style rendering of a path.
pub fn render_path(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(v) = seg.strip_prefix("v:") {
            s.push_str(&format!("[{v}]"));
        } else if let Some(k) = seg.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            s.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    s
}

/// Deep-merges an apply configuration into `target` (maps merge, lists and
/// scalars replace; `metadata.finalizers` is a set union).
pub fn merge_config(target: &mut Value, config: &Value, schema: Option<&Value>) {
    let (Some(t), Some(c)) = (target.as_object_mut(), config.as_object()) else {
        return;
    };
    for (k, v) in c {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let Some(cm) = v.as_object() else { continue };
                let tm = t.entry("metadata").or_insert_with(|| json!({}));
                let Some(tm) = tm.as_object_mut() else {
                    continue;
                };
                for key in ["labels", "annotations"] {
                    if let Some(entries) = cm.get(key).and_then(Value::as_object) {
                        let te = tm.entry(key).or_insert_with(|| json!({}));
                        if !te.is_object() {
                            *te = json!({});
                        }
                        if let Some(te) = te.as_object_mut() {
                            for (ek, ev) in entries {
                                te.insert(ek.clone(), ev.clone());
                            }
                        }
                    }
                }
                if let Some(fins) = cm.get("finalizers").and_then(Value::as_array) {
                    let tf = tm.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(tf) = tf.as_array_mut() {
                        for f in fins {
                            if !tf.contains(f) {
                                tf.push(f.clone());
                            }
                        }
                    }
                }
                if let Some(o) = cm.get("ownerReferences") {
                    tm.insert("ownerReferences".into(), o.clone());
                }
            }
            _ => merge_value(
                t.entry(k.clone()).or_insert(Value::Null),
                v,
                child_schema(schema, k),
            ),
        }
    }
}

fn merge_value(target: &mut Value, config: &Value, schema: Option<&Value>) {
    if let (Some(t), Some(c)) = (target.as_object_mut(), config.as_object()) {
        for (k, v) in c {
            merge_value(
                t.entry(k.clone()).or_insert(Value::Null),
                v,
                child_schema(schema, k),
            );
        }
        return;
    }
    if let (Some(t), Some(c)) = (target.as_array_mut(), config.as_array()) {
        match list_type(schema) {
            ListType::Set => {
                for item in c {
                    if !t.contains(item) {
                        t.push(item.clone());
                    }
                }
                return;
            }
            ListType::Map(keys) => {
                let is = items_schema(schema);
                for item in c {
                    let key: Map<String, Value> = keys
                        .iter()
                        .map(|k| (k.clone(), item.get(k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    match t.iter_mut().find(|x| item_matches(x, &key)) {
                        Some(existing) => merge_value(existing, item, is),
                        None => t.push(item.clone()),
                    }
                }
                return;
            }
            ListType::Atomic => {}
        }
    }
    *target = config.clone();
}

/// Removes now-empty maps along removed paths (labels/annotations/finalizers
/// containers and intermediate objects).
pub fn prune_empty(obj: &mut Value, path: &[String]) {
    for n in (1..path.len()).rev() {
        if !path[n - 1].starts_with("f:") {
            break;
        }
        if let Some(v) = get_at(obj, &path[..n]) {
            let empty = match v {
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => {
                    a.is_empty() && path[..n].last().is_some_and(|s| s == "f:finalizers")
                }
                _ => false,
            };
            if empty {
                remove_at(obj, &path[..n]);
            } else {
                break;
            }
        }
    }
}

/// Leaves of `new` whose value differs from `old`.
pub fn changed_fields(old: &Value, new: &Value, schema: Option<&Value>) -> FieldSet {
    fields_of(new, schema)
        .into_iter()
        .filter(|p| {
            if is_item(p) {
                get_at(old, p).is_none()
            } else {
                get_at(old, p) != get_at(new, p)
            }
        })
        .collect()
}

/// Leaves of `old` that are gone from `new`.
pub fn removed_fields(old: &Value, new: &Value, schema: Option<&Value>) -> FieldSet {
    fields_of(old, schema)
        .into_iter()
        .filter(|p| get_at(new, p).is_none())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn fields_roundtrip() {
        let o = json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "x", "labels": {"a": "1"}, "finalizers": ["f/x"]},
            "spec": {"a": 1, "b": {"c": [1, 2]}, "e": {}}});
        let f = fields_of(&o, None);
        assert_eq!(f.len(), 5);
        let v1 = to_fields_v1(&f);
        assert_eq!(from_fields_v1(&v1), f);
        assert!(v1["f:metadata"]["f:finalizers"].get("v:\"f/x\"").is_some());
        for p in &f {
            assert!(get_at(&o, p).is_some(), "{p:?}");
        }
    }

    #[test]
    fn map_lists_merge_by_key() {
        let schema = json!({"properties": {"status": {"properties": {"conditions": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
            "items": {"type": "object"}}}}}});
        let live = json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        let cfg = json!({"status": {"conditions": [{"type": "B", "status": "True"}]}});
        let f = fields_of(&cfg, Some(&schema));
        assert!(f.contains(&vec![
            "f:status".to_string(),
            "f:conditions".into(),
            "k:{\"type\":\"B\"}".into(),
            "f:status".into()
        ]));
        let mut out = live.clone();
        merge_config(&mut out, &cfg, Some(&schema));
        assert_eq!(out["status"]["conditions"][0]["status"], "True");
        assert_eq!(out["status"]["conditions"][0]["type"], "A");
        assert_eq!(out["status"]["conditions"][1]["status"], "True");
        remove_at(
            &mut out,
            &[
                "f:status".to_string(),
                "f:conditions".into(),
                "k:{\"type\":\"A\"}".into(),
            ],
        );
        assert_eq!(out["status"]["conditions"].as_array().unwrap().len(), 1);
        let v1 = to_fields_v1(&f);
        assert!(
            v1["f:status"]["f:conditions"]["k:{\"type\":\"B\"}"]
                .get(".")
                .is_some()
        );
    }
}
