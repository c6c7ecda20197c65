//! RPC request parameters: scalar encoding, repeat-list flattening, JSON "shrink" parameters,
//! and RFC 3986 percent-encoding.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Everything except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding of UTF-8 text as Alibaba Cloud signs it:
/// space → `%20`, `*` → `%2A`, `~` kept, `/` → `%2F`, upper-case hex.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// URL query string.
    Query,
    /// `application/x-www-form-urlencoded` body.
    Body,
}

/// Ordered RPC parameters of one request (query and form body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Query parameters, in insertion order.
    pub query: Vec<(String, String)>,
    /// Form-body parameters, in insertion order.
    pub body: Vec<(String, String)>,
}

impl Params {
    /// Empty parameters.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, loc: Location, key: String, value: String) {
        match loc {
            Location::Query => self.query.push((key, value)),
            Location::Body => self.body.push((key, value)),
        }
    }

    /// A required string parameter (sent even when empty, so the service reports it).
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.push(Location::Query, key.to_string(), value.to_string());
        self
    }

    /// An optional string parameter; `None` is left out.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, v);
        }
        self
    }

    /// An integer parameter (decimal).
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.str(key, &value.to_string())
    }

    /// An optional integer parameter.
    pub fn opt_int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        if let Some(v) = value {
            self.int(key, v);
        }
        self
    }

    /// An optional boolean parameter, sent as `true`/`false`.
    pub fn opt_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, if v { "true" } else { "false" });
        }
        self
    }

    /// A list sent as one comma-separated parameter; an empty list is left out.
    pub fn comma_list(&mut self, key: &str, values: &[String]) -> &mut Self {
        if !values.is_empty() {
            self.str(key, &values.join(","));
        }
        self
    }

    /// A "shrink" parameter: the value is sent as a compact JSON string.
    pub fn json(&mut self, loc: Location, key: &str, value: &Value) -> &mut Self {
        self.push(loc, key.to_string(), json_string(value));
        self
    }

    /// An optional "shrink" parameter.
    pub fn opt_json(&mut self, loc: Location, key: &str, value: Option<&Value>) -> &mut Self {
        if let Some(v) = value {
            self.json(loc, key, v);
        }
        self
    }

    /// A "repeatList" parameter: `value` is flattened into `key.1.Sub=…`, `key.1.List.2=…`.
    pub fn repeat_list(&mut self, loc: Location, key: &str, value: &Value) -> &mut Self {
        let mut out = Vec::new();
        flatten(key, value, &mut out);
        for (k, v) in out {
            self.push(loc, k, v);
        }
        self
    }

    /// All parameters, query first, then body.
    pub fn all(&self) -> impl Iterator<Item = &(String, String)> {
        self.query.iter().chain(self.body.iter())
    }

    /// Value of the first parameter named `key` (query or body).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Compact JSON text of a value (strings are not re-quoted when the value is a JSON string).
pub fn json_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Flattens a JSON value into RPC repeat-list parameters, as the official SDKs do
/// (`PY-OAPI utils._object_handler`): objects add `.Key`, arrays add `.N` (1-based),
/// scalars become their string form (`null` is left out).
pub fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), item, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
    }
}

/// `k=v&…` with RFC 3986 encoding, in the given order (for the wire query and form body).
pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
