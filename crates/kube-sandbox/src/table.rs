//! `Table` rendering (meta.k8s.io/v1) with printer columns, and a JSONPath subset.

use serde_json::{Value, json};

use crate::store::{Column, ResourceType};

/// One step of a parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(Vec<String>, Value),
}

/// Parses a JSONPath subset (optionally in `{...}`, optionally from `$`)
/// into steps; `None` when a bracket expression is malformed.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut steps = vec![];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let (name, end) = read_name(&chars, i + 1);
                i = end;
                if !name.is_empty() {
                    steps.push(if name == "*" {
                        Step::All
                    } else {
                        Step::Field(name)
                    });
                }
            }
            '[' => {
                let close = closing_bracket(&chars, i);
                let inner: String = chars.get(i + 1..close)?.iter().collect();
                i = close + 1;
                steps.push(bracket_step(inner.trim())?);
            }
            _ => {
                // A path without a leading dot: treat as a field name.
                let (name, end) = read_name(&chars, i);
                i = end;
                steps.push(Step::Field(name));
            }
        }
    }
    Some(steps)
}

/// The field name starting at `start` (up to the next `.` or `[`), and
/// where it ends.
fn read_name(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start;
    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}

/// The index of the `]` that closes the `[` at `open` (nested brackets
/// included), or the end of the path when it is not closed.
fn closing_bracket(chars: &[char], open: usize) -> usize {
    let mut i = open;
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The step of a bracket expression: `[*]`, `[0]`, `[?(@.a.b=="v")]` or a
/// quoted field name (`['a.b']`).
fn bracket_step(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(n) = inner.parse::<usize>() {
        return Some(Step::Index(n));
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|r| r.strip_suffix(')')) {
        let (lhs, rhs) = f.split_once("==")?;
        let lhs = lhs.trim().strip_prefix("@.")?;
        let rhs = rhs.trim();
        let val = if rhs.len() >= 2
            && ((rhs.starts_with('"') && rhs.ends_with('"'))
                || (rhs.starts_with('\'') && rhs.ends_with('\'')))
        {
            json!(rhs[1..rhs.len().saturating_sub(1)].to_string())
        } else {
            serde_json::from_str(rhs).ok()?
        };
        return Some(Step::Filter(
            lhs.split('.').map(str::to_string).collect(),
            val,
        ));
    }
    let name = inner.trim_matches(|c| c == '\'' || c == '"');
    Some(Step::Field(name.to_string()))
}

/// Evaluates a JSONPath subset (`.a.b`, `.a[0].b`, `.a[*].b`,
/// `.a[?(@.type=="Ready")].status`) and returns all matches.
pub fn jsonpath(obj: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse_path(path) else {
        return vec![];
    };
    let mut cur = vec![obj.clone()];
    for step in &steps {
        let mut next = vec![];
        for v in &cur {
            match step {
                Step::Field(f) => {
                    if let Some(c) = v.get(f) {
                        next.push(c.clone());
                    }
                }
                Step::Index(n) => {
                    if let Some(c) = v.get(*n) {
                        next.push(c.clone());
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Step::Filter(key, want) => {
                    if let Some(a) = v.as_array() {
                        for item in a {
                            let mut x = Some(item);
                            for k in key {
                                x = x.and_then(|x| x.get(k));
                            }
                            if x == Some(want) {
                                next.push(item.clone());
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// Kubernetes' `HumanDuration` of the time since `ts`.
pub fn age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    human_duration(secs)
}

/// Formats a duration in seconds like kubectl.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    let y = d / 365;
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        let mm = m % 60;
        if mm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{mm}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let hh = h % 24;
        if hh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{hh}h")
        }
    } else if y < 2 {
        format!("{d}d")
    } else if y < 8 {
        let dd = d % 365;
        if dd == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{dd}d")
        }
    } else {
        format!("{y}y")
    }
}

fn col(name: &str, type_: &str, path: &str) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
        json_path: path.into(),
    }
}

/// Columns after `Name` for a type at a version.
pub fn columns(rt: &ResourceType, version: &str) -> Vec<Column> {
    let age = col("Age", "date", ".metadata.creationTimestamp");
    if !rt.builtin {
        let cs = rt
            .version(version)
            .map(|v| v.columns.clone())
            .unwrap_or_default();
        return if cs.is_empty() { vec![age] } else { cs };
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => vec![col("Status", "string", ".status.phase"), age],
        ("", "secrets") => vec![
            col("Type", "string", ".type"),
            col("Data", "integer", "#count:data"),
            age,
        ],
        ("", "configmaps") => vec![col("Data", "integer", "#count:data,binaryData"), age],
        ("", "events") => vec![
            col("Last Seen", "string", "#lastseen"),
            col("Type", "string", ".type"),
            col("Reason", "string", ".reason"),
            col("Object", "string", "#object:involvedObject"),
            col("Message", "string", ".message"),
        ],
        ("events.k8s.io", "events") => vec![
            col("Last Seen", "string", "#lastseen"),
            col("Type", "string", ".type"),
            col("Reason", "string", ".reason"),
            col("Object", "string", "#object:regarding"),
            col("Message", "string", ".note"),
        ],
        ("coordination.k8s.io", "leases") => {
            vec![col("Holder", "string", ".spec.holderIdentity"), age]
        }
        ("apiextensions.k8s.io", _) => {
            vec![col("Created At", "string", ".metadata.creationTimestamp")]
        }
        _ => vec![age],
    }
}

fn cell(c: &Column, obj: &Value) -> Value {
    if let Some(keys) = c.json_path.strip_prefix("#count:") {
        let n: usize = keys
            .split(',')
            .filter_map(|k| obj.get(k).and_then(Value::as_object))
            .map(|m| m.len())
            .sum();
        return json!(n);
    }
    if c.json_path == "#lastseen" {
        let ts = [
            "/series/lastObservedTime",
            "/lastTimestamp",
            "/deprecatedLastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find_map(|p| obj.pointer(p).and_then(Value::as_str));
        return ts.map(|t| json!(age(t))).unwrap_or(Value::Null);
    }
    if let Some(k) = c.json_path.strip_prefix("#object:") {
        let r = obj.get(k);
        let kind = r
            .and_then(|r| r.get("kind"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase();
        let name = r
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        return json!(format!("{kind}/{name}"));
    }
    let vals = jsonpath(obj, &c.json_path);
    if vals.is_empty() {
        return Value::Null;
    }
    if c.type_ == "date" {
        return match vals[0].as_str() {
            Some(s) => json!(age(s)),
            None => Value::Null,
        };
    }
    if vals.len() == 1 {
        match &vals[0] {
            Value::Object(_) | Value::Array(_) => json!(vals[0].to_string()),
            v => v.clone(),
        }
    } else {
        let parts: Vec<String> = vals
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect();
        json!(parts.join(","))
    }
}

/// Renders objects as a `Table`.
pub fn table(
    rt: &ResourceType,
    version: &str,
    objs: &[Value],
    include: &str,
    rv: &str,
    cont: Option<&str>,
) -> Value {
    let cols = columns(rt, version);
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &cols {
        defs.push(json!({"name": c.name, "type": if c.type_ == "date" { "string" } else { c.type_.as_str() }, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            cells.extend(cols.iter().map(|c| cell(c, o)));
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let (Some(c), Some(m)) = (cont, meta.as_object_mut()) {
        m.insert("continue".into(), json!(c));
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_forms() {
        let o = json!({"spec": {"a": [{"b": 1}, {"b": 2}]}, "status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}]}});
        assert_eq!(jsonpath(&o, ".spec.a[0].b"), vec![json!(1)]);
        assert_eq!(jsonpath(&o, ".spec.a[*].b"), vec![json!(1), json!(2)]);
        assert_eq!(
            jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(
            jsonpath(&o, "{.status.conditions[?(@.type=='Stalled')].status}"),
            vec![json!("False")]
        );
        assert!(jsonpath(&o, ".nope.x").is_empty());
        // Malformed expressions never panic.
        for bad in [".a[?(@.x==\")]", ".a[", "[?(@.x==')]", ".a[?(x)]", "{", ""] {
            let _ = jsonpath(&o, bad);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600), "4h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
    }
}
