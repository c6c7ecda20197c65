//! String and number keywords of a structural schema: lengths, `pattern`,
//! `format`, bounds.

use serde_json::Value;

use super::{SchemaOutcome, bool_kw, push};

/// `minLength`, `maxLength`, `pattern` and `format` (`date-time`, `date`,
/// `int32`/`int64`, `uuid`, `byte`) of a string.
pub(super) fn check_string(st: &str, s: &Value, path: &str, out: &mut SchemaOutcome) {
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

/// `minimum`/`maximum` (with their exclusive forms) and `format: int32` of
/// a number (`raw` is the number as sent, for the messages).
pub(super) fn check_number(x: f64, raw: &Value, s: &Value, path: &str, out: &mut SchemaOutcome) {
    check_bound(x, raw, s, path, out, &MINIMUM);
    check_bound(x, raw, s, path, out, &MAXIMUM);
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

/// A numeric bound keyword and its exclusive form.
struct Bound {
    /// `minimum` or `maximum`.
    keyword: &'static str,
    /// `exclusiveMinimum` or `exclusiveMaximum`.
    exclusive: &'static str,
    /// Whether values must lie above the bound (a minimum).
    lower: bool,
    /// The relation a valid value has to the bound, for the message.
    relation: &'static str,
}

const MINIMUM: Bound = Bound {
    keyword: "minimum",
    exclusive: "exclusiveMinimum",
    lower: true,
    relation: "greater than",
};

const MAXIMUM: Bound = Bound {
    keyword: "maximum",
    exclusive: "exclusiveMaximum",
    lower: false,
    relation: "less than",
};

/// One bound of a number: a cause when `x` is beyond it (or on it, when
/// exclusive).
fn check_bound(x: f64, raw: &Value, s: &Value, path: &str, out: &mut SchemaOutcome, b: &Bound) {
    let Some(bound) = s.get(b.keyword).and_then(Value::as_f64) else {
        return;
    };
    let excl = bool_kw(s, b.exclusive);
    let beyond = match (b.lower, excl) {
        (true, true) => x <= bound,
        (true, false) => x < bound,
        (false, true) => x >= bound,
        (false, false) => x > bound,
    };
    if !beyond {
        return;
    }
    let op = if excl {
        b.relation.to_string()
    } else {
        format!("{} or equal to", b.relation)
    };
    push(
        out,
        "FieldValueInvalid",
        path,
        format!(
            "Invalid value: {raw}: {path} in body should be {op} {}",
            s.get(b.keyword).map(|v| v.to_string()).unwrap_or_default()
        ),
    );
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
