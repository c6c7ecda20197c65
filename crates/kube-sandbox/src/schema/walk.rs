//! The recursive walk of a value against its schema: `nullable`, `type`
//! (and `x-kubernetes-int-or-string`), `enum`, arrays, objects (defaults,
//! pruning, `required`) and the combinators (`allOf`, `anyOf`, `oneOf`,
//! `not`).

use serde_json::{Map, Value};

use super::scalars::{check_number, check_string};
use super::{SchemaOutcome, bool_kw, check_required, is_integer, push, short, type_name};

/// Validates (and, when `prune`, defaults and prunes) `v` against `s` at `path`.
pub(super) fn walk(v: &mut Value, s: &Value, path: &str, prune: bool, out: &mut SchemaOutcome) {
    if v.is_null() {
        if !bool_kw(s, "nullable") {
            push(
                out,
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    s.get("type").and_then(Value::as_str).unwrap_or("object")
                ),
            );
        }
        return;
    }
    if !check_type(v, s, path, out) {
        return;
    }
    check_enum(v, s, path, out);
    match v {
        Value::String(st) => check_string(st, s, path, out),
        Value::Number(n) => check_number(
            n.as_f64().unwrap_or(0.0),
            &Value::Number(n.clone()),
            s,
            path,
            out,
        ),
        Value::Array(items) => check_array(items, s, path, prune, out),
        Value::Object(map) => check_object(map, s, path, prune, out),
        _ => {}
    }
    check_combinators(v, s, path, out);
}

/// `x-kubernetes-int-or-string`, else `type`. Returns false (after
/// recording the cause) when `v` has the wrong type: nothing else is
/// checked then.
fn check_type(v: &Value, s: &Value, path: &str, out: &mut SchemaOutcome) -> bool {
    if bool_kw(s, "x-kubernetes-int-or-string") {
        if !(is_integer(v) || v.is_string()) {
            push(
                out,
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body must be of type integer or string: \"{}\"",
                    short(v),
                    type_name(v)
                ),
            );
            return false;
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => is_integer(v),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            push(
                out,
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"{}\": {path} in body must be of type {t}: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
            );
            return false;
        }
    }
    true
}

/// `enum`: the value must be one of the listed values.
fn check_enum(v: &Value, s: &Value, path: &str, out: &mut SchemaOutcome) {
    if let Some(en) = s.get("enum").and_then(Value::as_array)
        && !en.contains(v)
    {
        let allowed: Vec<String> = en.iter().map(|e| e.to_string()).collect();
        push(
            out,
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                short(v),
                allowed.join(", ")
            ),
        );
    }
}

/// An array: `minItems`, `maxItems`, duplicate keys of a
/// `x-kubernetes-list-type: map`, duplicates of a `set` or `uniqueItems`
/// list, then each item against `items`.
fn check_array(items: &mut [Value], s: &Value, path: &str, prune: bool, out: &mut SchemaOutcome) {
    check_size(items.len(), s, ("minItems", "maxItems"), "items", path, out);
    let list_type = s
        .get("x-kubernetes-list-type")
        .and_then(Value::as_str)
        .unwrap_or("atomic");
    if list_type == "map" {
        check_map_keys(items, s, path, out);
    }
    if bool_kw(s, "uniqueItems") || list_type == "set" {
        for i in 0..items.len() {
            if items[..i].contains(&items[i]) {
                push(
                    out,
                    "FieldValueDuplicate",
                    &format!("{path}[{i}]"),
                    format!("Duplicate value: {}", short(&items[i])),
                );
            }
        }
    }
    if let Some(is) = s.get("items") {
        for (i, item) in items.iter_mut().enumerate() {
            walk(item, is, &format!("{path}[{i}]"), prune, out);
        }
    }
}

/// The size of an array or object (`n` items or properties) against the
/// `(min, max)` keywords; kube-apiserver says "items" in both "Too many"
/// messages.
fn check_size(
    n: usize,
    s: &Value,
    (min_kw, max_kw): (&str, &str),
    noun: &str,
    path: &str,
    out: &mut SchemaOutcome,
) {
    let n = n as u64;
    if let Some(min) = s.get(min_kw).and_then(Value::as_u64)
        && n < min
    {
        push(
            out,
            "FieldValueInvalid",
            path,
            format!("Invalid value: {n}: {path} in body should have at least {min} {noun}"),
        );
    }
    if let Some(max) = s.get(max_kw).and_then(Value::as_u64)
        && n > max
    {
        push(
            out,
            "FieldValueTooMany",
            path,
            format!("Too many: {n}: must have at most {max} items"),
        );
    }
}

/// The items of a `x-kubernetes-list-type: map` list must differ in their
/// `x-kubernetes-list-map-keys`.
fn check_map_keys(items: &[Value], s: &Value, path: &str, out: &mut SchemaOutcome) {
    let keys: Vec<&str> = s
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut seen: Vec<Value> = vec![];
    for (i, item) in items.iter().enumerate() {
        let key: Value = keys
            .iter()
            .map(|k| (k.to_string(), item.get(*k).cloned().unwrap_or(Value::Null)))
            .collect::<Map<_, _>>()
            .into();
        if seen.contains(&key) {
            push(
                out,
                "FieldValueDuplicate",
                &format!("{path}[{i}]"),
                format!("Duplicate value: {key}"),
            );
        }
        seen.push(key);
    }
}

/// The combinators (best effort; structural schemas only put value
/// validations here): every `allOf` schema applies, at least one `anyOf`
/// schema and exactly one `oneOf` schema must pass, the `not` schema must
/// not.
fn check_combinators(v: &Value, s: &Value, path: &str, out: &mut SchemaOutcome) {
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            let mut c = v.clone();
            walk(&mut c, sub, path, false, out);
        }
    }
    let passes = |sub: &Value| {
        let mut c = v.clone();
        let mut o = SchemaOutcome::default();
        walk(&mut c, sub, path, false, &mut o);
        o.causes.is_empty()
    };
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any.is_empty()
        && !any.iter().any(passes)
    {
        push(
            out,
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must match at least one schema in anyOf",
                short(v)
            ),
        );
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array)
        && !one.is_empty()
    {
        let n = one.iter().filter(|sub| passes(sub)).count();
        if n != 1 {
            push(
                out,
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body must match exactly one schema in oneOf",
                    short(v)
                ),
            );
        }
    }
    if let Some(not) = s.get("not")
        && passes(not)
    {
        push(
            out,
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must not match the schema in not",
                short(v)
            ),
        );
    }
}

/// An object: defaults (when pruning), each property against its schema
/// (or `additionalProperties`), unknown fields pruned unless preserved,
/// then `required`, `minProperties` and `maxProperties`.
fn check_object(
    map: &mut Map<String, Value>,
    s: &Value,
    path: &str,
    prune: bool,
    out: &mut SchemaOutcome,
) {
    if prune && let Some(props) = s.get("properties").and_then(Value::as_object) {
        apply_defaults(map, props);
    }
    walk_properties(map, s, path, prune, out);
    check_required(map, s, path, out);
    check_size(
        map.len(),
        s,
        ("minProperties", "maxProperties"),
        "properties",
        path,
        out,
    );
}

/// Defaulting: a property that is missing (or null without `nullable`)
/// takes its `default`; a null one without a default is removed.
fn apply_defaults(map: &mut Map<String, Value>, props: &Map<String, Value>) {
    for (k, ps) in props {
        let missing_or_null = match map.get(k) {
            None => true,
            Some(Value::Null) => !bool_kw(ps, "nullable"),
            Some(_) => false,
        };
        if missing_or_null {
            if let Some(d) = ps.get("default") {
                map.insert(k.clone(), d.clone());
            } else if map.get(k).is_some_and(Value::is_null) {
                map.remove(k);
            }
        }
    }
}

/// Walks each field against its property schema (or an object
/// `additionalProperties`); a field without one is pruned (when pruning)
/// unless unknown fields are preserved, the object is an embedded resource
/// or `additionalProperties` is `true`.
fn walk_properties(
    map: &mut Map<String, Value>,
    s: &Value,
    path: &str,
    prune: bool,
    out: &mut SchemaOutcome,
) {
    let props = s.get("properties").and_then(Value::as_object);
    let preserve = bool_kw(s, "x-kubernetes-preserve-unknown-fields")
        || bool_kw(s, "x-kubernetes-embedded-resource");
    let addl = s.get("additionalProperties");
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let child_path = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let child_schema = props.and_then(|p| p.get(&k)).or(match addl {
            Some(a) if a.is_object() => Some(a),
            _ => None,
        });
        match child_schema {
            Some(cs) => {
                if let Some(v) = map.get_mut(&k) {
                    walk(v, cs, &child_path, prune, out);
                }
            }
            None => {
                let allowed = preserve || matches!(addl, Some(Value::Bool(true)));
                if !allowed && prune {
                    map.remove(&k);
                    out.pruned.push(child_path);
                }
            }
        }
    }
}
