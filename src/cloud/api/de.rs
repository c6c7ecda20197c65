//! Lenient serde helpers: numbers and booleans may arrive as JSON strings, and strings as numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `Option<String>` from a string, number or boolean; `null` → `None`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            )));
        }
    })
}

/// `String` from a string or number; `null` → empty.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_string(d)?.unwrap_or_default())
}

/// `Option<i64>` from a number or a numeric string; `null`/`""` → `None`.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => match n.as_i64() {
            Some(v) => Some(v),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "expected an integer, got {n}"
                    )));
                }
            },
        },
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s:?}")))?,
        ),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected an integer, got {other}"
            )));
        }
    })
}

/// `i64` (missing/`null` → 0).
pub(crate) fn i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_i64(d)?.unwrap_or_default())
}

/// `Option<bool>` from a boolean or `"true"`/`"false"`.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Bool(b) => Some(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::String(s) if s.is_empty() => None,
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a boolean, got {other}"
            )));
        }
    })
}

/// A list that Alibaba wraps as `{"Item": [...]}` (or sends bare, or as one object, or null).
pub(crate) fn wrapped_list<'de, D, T>(d: D, inner: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => Value::Array(a),
        Value::Object(mut m) => match m.remove(inner) {
            Some(Value::Array(a)) => Value::Array(a),
            Some(Value::Null) | None => return Ok(Vec::new()),
            Some(obj @ Value::Object(_)) => Value::Array(vec![obj]),
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list under {inner}, got {other}"
                )));
            }
        },
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a list, got {other}"
            )));
        }
    };
    serde_json::from_value(list).map_err(serde::de::Error::custom)
}

/// A JSON value that may arrive as a JSON-encoded string; a string that is not JSON is kept as a string.
pub(crate) fn opt_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(serde_json::from_str(&s).unwrap_or(Value::String(s))),
        other => Some(other),
    })
}

/// `Option<String>` like [`opt_string`], with an empty (or blank) string read as `None`.
pub(crate) fn opt_nonempty_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(opt_string(d)?.filter(|s| !s.trim().is_empty()))
}

/// `Option<f64>` from a number or a numeric string; `null`/`""` → `None`.
pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}")))?,
        ),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            )));
        }
    })
}
