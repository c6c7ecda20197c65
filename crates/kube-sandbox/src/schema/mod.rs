//! Structural-schema handling for custom resources: defaulting, pruning and
//! validation against `openAPIV3Schema` ([`apply_schema`]), and the CEL
//! rules (`x-kubernetes-validations`, [`cel_rules`]).
//!
//! The walk of a value against its schema is in [`walk`](mod@walk), the string and
//! number keywords in [`scalars`].

mod scalars;
mod walk;

use serde_json::{Map, Value};

use walk::walk;

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
    check_required(map, schema, "", &mut out);
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

/// The value at a CEL field path (`a.b[0].c`), for the messages.
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

/// `apiVersion`, `kind` and `metadata`: the root fields a schema does not govern.
fn is_root_meta(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// A boolean keyword of a schema (`false` when absent).
fn bool_kw(schema: &Value, kw: &str) -> bool {
    schema.get(kw).and_then(Value::as_bool).unwrap_or(false)
}

/// A value as JSON, cut to 80 characters (77 and `...`), for the messages.
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

/// The OpenAPI type name of a value.
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

/// Whether a value is an integer (a float without a fraction counts).
fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// Records a cause.
fn push(out: &mut SchemaOutcome, reason: &str, field: &str, msg: String) {
    out.causes
        .push((reason.to_string(), field.to_string(), msg));
}

/// `required`: each listed field must be present in the object at `path`.
fn check_required(map: &Map<String, Value>, s: &Value, path: &str, out: &mut SchemaOutcome) {
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
