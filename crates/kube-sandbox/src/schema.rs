//! Structural-schema handling for custom resources: defaulting, pruning and
//! validation against `openAPIV3Schema` (CEL rules are not evaluated).

use serde_json::{Map, Value};

/// A validation failure: `(reason, field, message)` as in `Status.details.causes`.
pub type Cause = (String, String, String);

/// Outcome of [`apply_schema`].
#[derive(Debug, Default)]
pub struct SchemaOutcome {
    /// Validation failures.
    pub causes: Vec<Cause>,
    /// Paths of unknown fields that were pruned.
    pub pruned: Vec<String>,
}

/// Defaults, prunes and validates a whole custom-resource object in place.
/// `apiVersion`, `kind` and `metadata` at the root are left alone.
pub fn apply_schema(obj: &mut Value, schema: &Value) -> SchemaOutcome {
    let mut out = SchemaOutcome::default();
    let Some(map) = obj.as_object_mut() else {
        out.causes.push((
            "FieldValueTypeInvalid".into(),
            String::new(),
            "object must be a JSON object".into(),
        ));
        return out;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = bool_kw(schema, "x-kubernetes-preserve-unknown-fields");
    // Defaults for missing root properties.
    if let Some(props) = props {
        for (k, ps) in props {
            if is_root_meta(k) {
                continue;
            }
            if !map.contains_key(k)
                && let Some(d) = ps.get("default")
            {
                map.insert(k.clone(), d.clone());
            }
        }
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        if is_root_meta(&k) {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(ps) => {
                let remove = map.get(&k).is_some_and(Value::is_null) && !bool_kw(ps, "nullable");
                if remove {
                    map.remove(&k);
                    continue;
                }
                if let Some(v) = map.get_mut(&k) {
                    walk(v, ps, &k, true, &mut out);
                }
            }
            None if !preserve => {
                map.remove(&k);
                out.pruned.push(k.clone());
            }
            None => {}
        }
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                out.causes.push((
                    "FieldValueRequired".into(),
                    r.to_string(),
                    "Required value".into(),
                ));
            }
        }
    }
    out
}

/// Evaluates `x-kubernetes-validations` CEL rules (including transition
/// rules against `old`) with kube-cel. A panic inside the evaluator is
/// contained and reported as a failed rule.
pub fn cel_rules(
    compiled: &kube_cel::CompiledSchema,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<Cause> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kube_cel::validate_compiled(compiled, obj, old)
    }));
    match run {
        Ok(Ok(())) => vec![],
        Ok(Err(errs)) => errs
            .iter()
            .map(|e| {
                let value_type = lookup(obj, &e.field_path)
                    .map(type_name)
                    .unwrap_or("object");
                (
                    e.reason
                        .clone()
                        .unwrap_or_else(|| "FieldValueInvalid".into()),
                    e.field_path.clone(),
                    format!("Invalid value: \"{value_type}\": {}", e.message),
                )
            })
            .collect(),
        Err(_) => vec![(
            "InternalError".into(),
            String::new(),
            "CEL evaluation failed".into(),
        )],
    }
}

fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (name, idx) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        cur = cur.get(name)?;
        if let Some(i) = idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn is_root_meta(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

fn bool_kw(schema: &Value, kw: &str) -> bool {
    schema.get(kw).and_then(Value::as_bool).unwrap_or(false)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn push(out: &mut SchemaOutcome, reason: &str, field: &str, msg: String) {
    out.causes
        .push((reason.to_string(), field.to_string(), msg));
}

/// Validates (and, when `prune`, defaults and prunes) `v` against `s` at `path`.
fn walk(v: &mut Value, s: &Value, path: &str, prune: bool, out: &mut SchemaOutcome) {
    if v.is_null() {
        if bool_kw(s, "nullable") {
            return;
        }
        push(
            out,
            "FieldValueTypeInvalid",
            path,
            format!(
                "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                s.get("type").and_then(Value::as_str).unwrap_or("object")
            ),
        );
        return;
    }
    let int_or_string = bool_kw(s, "x-kubernetes-int-or-string");
    if int_or_string {
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
            return;
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
            return;
        }
    }
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
    match v {
        Value::String(st) => check_string(st, s, path, out),
        Value::Number(n) => check_number(
            n.as_f64().unwrap_or(0.0),
            &Value::Number(n.clone()),
            s,
            path,
            out,
        ),
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && n < min
            {
                push(
                    out,
                    "FieldValueInvalid",
                    path,
                    format!("Invalid value: {n}: {path} in body should have at least {min} items"),
                );
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && n > max
            {
                push(
                    out,
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
            let list_type = s
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .unwrap_or("atomic");
            if list_type == "map" {
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
        Value::Object(map) => check_object(map, s, path, prune, out),
        _ => {}
    }
    // Combinators (best effort; structural schemas only put value validations here).
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

fn check_string(st: &str, s: &Value, path: &str, out: &mut SchemaOutcome) {
    let n = st.chars().count() as u64;
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && n < min
    {
        push(
            out,
            "FieldValueInvalid",
            path,
            format!("Invalid value: \"{st}\": {path} in body should be at least {min} chars long"),
        );
    }
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && n > max
    {
        push(
            out,
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} bytes"),
        );
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        match pattern(p) {
            Some(re) if !re.is_match(st) => push(
                out,
                "FieldValueInvalid",
                path,
                format!("Invalid value: \"{st}\": {path} in body should match '{p}'"),
            ),
            _ => {}
        }
    }
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        let ok = match f {
            "date-time" => st.parse::<jiff::Timestamp>().is_ok(),
            "date" => st.parse::<jiff::civil::Date>().is_ok(),
            "int32" | "int64" => st.parse::<i64>().is_ok(),
            "uuid" => {
                st.len() == 36
                    && st.chars().enumerate().all(|(i, c)| {
                        if matches!(i, 8 | 13 | 18 | 23) {
                            c == '-'
                        } else {
                            c.is_ascii_hexdigit()
                        }
                    })
            }
            "byte" => st
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')),
            _ => true,
        };
        if !ok {
            push(
                out,
                "FieldValueInvalid",
                path,
                format!("Invalid value: \"{st}\": {path} in body must be of type {f}: \"{st}\""),
            );
        }
    }
}

fn check_number(x: f64, raw: &Value, s: &Value, path: &str, out: &mut SchemaOutcome) {
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let excl = bool_kw(s, "exclusiveMinimum");
        if (excl && x <= min) || (!excl && x < min) {
            let op = if excl {
                "greater than"
            } else {
                "greater than or equal to"
            };
            push(
                out,
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {raw}: {path} in body should be {op} {}",
                    s.get("minimum").map(|v| v.to_string()).unwrap_or_default()
                ),
            );
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let excl = bool_kw(s, "exclusiveMaximum");
        if (excl && x >= max) || (!excl && x > max) {
            let op = if excl {
                "less than"
            } else {
                "less than or equal to"
            };
            push(
                out,
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {raw}: {path} in body should be {op} {}",
                    s.get("maximum").map(|v| v.to_string()).unwrap_or_default()
                ),
            );
        }
    }
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        let bad = match f {
            "int32" => x < i32::MIN as f64 || x > i32::MAX as f64,
            _ => false,
        };
        if bad {
            push(
                out,
                "FieldValueInvalid",
                path,
                format!("Invalid value: {raw}: {path} in body must be of type int32"),
            );
        }
    }
}

fn check_object(
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
    if prune && let Some(props) = props {
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
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                let f = if path.is_empty() {
                    r.to_string()
                } else {
                    format!("{path}.{r}")
                };
                push(out, "FieldValueRequired", &f, "Required value".into());
            }
        }
    }
    let n = map.len() as u64;
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        push(
            out,
            "FieldValueInvalid",
            path,
            format!("Invalid value: {n}: {path} in body should have at least {min} properties"),
        );
    }
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
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

/// The compiled `pattern` of a schema (`None`: not a valid regex), compiled once per process:
/// the patterns come from installed CRDs, a small set, and every validated write uses them.
fn pattern(p: &str) -> Option<regex::Regex> {
    static CACHE: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| regex::Regex::new(p).ok())
        .clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "n": {"type": "integer", "minimum": 1, "maximum": 3},
                "port": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "opt": {"type": "string", "nullable": true}
            }},
            "status": {"type": "object", "properties": {"x": {"type": "string"}}}
        }})
    }

    #[test]
    fn defaults_prunes_and_accepts() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"name": "abc", "extra": 1, "port": "http", "free": {"any": [1]}, "opt": null}});
        let r = apply_schema(&mut o, &schema());
        assert!(r.causes.is_empty(), "{:?}", r.causes);
        assert_eq!(r.pruned, vec!["spec.extra".to_string()]);
        assert_eq!(o["spec"]["mode"], "a");
        assert_eq!(o["spec"]["free"]["any"][0], 1);
        assert!(o["spec"]["opt"].is_null());
    }

    #[test]
    fn rejects_bad_values() {
        let mut o =
            json!({"spec": {"name": "ABCDEFG", "mode": "c", "n": 9, "port": true, "tags": []}});
        let r = apply_schema(&mut o, &schema());
        let fields: Vec<&str> = r.causes.iter().map(|c| c.1.as_str()).collect();
        for f in ["spec.name", "spec.mode", "spec.n", "spec.port", "spec.tags"] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
        let mut o = json!({"spec": {}});
        let r = apply_schema(&mut o, &schema());
        assert_eq!(r.causes[0].0, "FieldValueRequired");
        assert_eq!(r.causes[0].1, "spec.name");
    }
}
