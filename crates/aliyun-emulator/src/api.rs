//! Shared request/response plumbing for the product handlers: typed API errors, request
//! parameters (and their common checks), paging, ids and time formatting.

use std::collections::BTreeMap;

use rand::Rng as _;
use serde_json::{Map, Value};

/// Parameters that are part of the signing protocol, not of the operation.
pub const COMMON: &[&str] = &[
    "AccessKeyId",
    "Action",
    "Version",
    "Format",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

/// The product an API version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Product {
    /// ApsaraDB RDS, `2014-08-15`.
    Rds,
    /// Database Backup, `2019-03-06`.
    Dbs,
    /// Cloud Backup, `2017-09-08`.
    Hbr,
    /// Security Token Service, `2015-04-01`.
    Sts,
}

impl Product {
    /// The product for an API version string.
    pub fn from_version(v: &str) -> Option<Self> {
        match v {
            "2014-08-15" => Some(Self::Rds),
            "2019-03-06" => Some(Self::Dbs),
            "2017-09-08" => Some(Self::Hbr),
            "2015-04-01" => Some(Self::Sts),
            _ => None,
        }
    }

    /// Short upper-case name used in the call log (`RDS`, `DBS`, `HBR`, `STS`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rds => "RDS",
            Self::Dbs => "DBS",
            Self::Hbr => "HBR",
            Self::Sts => "STS",
        }
    }
}

/// An error answer. `gateway` errors (signature, throttling, missing parameters, injected
/// faults) always use the `{RequestId, HostId, Code, Message, Recommend}` shape with an HTTP
/// error status; product errors use the product's envelope (DBS/HBR: HTTP 200 with
/// `Success: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (for DBS/HBR product errors it is only reported inside the body).
    pub status: u16,
    /// Error code, e.g. `SignatureDoesNotMatch`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Whether the API gateway (not the product) produced the error.
    pub gateway: bool,
}

impl ApiError {
    /// A gateway-level error.
    pub fn gateway(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            gateway: true,
        }
    }

    /// A product-level error.
    pub fn product(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            gateway: false,
        }
    }

    /// `MissingParameter` for a required parameter (checked by the gateway from the API
    /// metadata, as on the real service).
    pub fn missing(name: &str) -> Self {
        Self::gateway(
            400,
            "MissingParameter",
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }
}

/// Result of a product handler: the payload fields (without envelope) or an error.
pub type ApiResult = Result<Map<String, Value>, ApiError>;

/// Decoded request parameters (query and form body merged; later values win).
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// The raw value, including an empty string.
    pub fn raw(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A non-empty value.
    pub fn opt(&self, k: &str) -> Option<&str> {
        self.raw(k).filter(|v| !v.is_empty())
    }

    /// A required non-empty value, else `MissingParameter`.
    pub fn req(&self, k: &str) -> Result<&str, ApiError> {
        self.opt(k).ok_or_else(|| ApiError::missing(k))
    }

    /// An optional integer; a malformed value gives `invalid(k)`.
    pub fn int(&self, k: &str, invalid: fn(&str) -> ApiError) -> Result<Option<i64>, ApiError> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| invalid(k)),
        }
    }

    /// An optional boolean (`true`/`false`, any case).
    pub fn bool(&self, k: &str, invalid: fn(&str) -> ApiError) -> Result<Option<bool>, ApiError> {
        match self.opt(k).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid(k)),
        }
    }

    /// An optional value that must be one of `allowed` (exact match), else `invalid(k)`.
    pub fn choice(
        &self,
        k: &str,
        allowed: &[&str],
        invalid: fn(&str) -> ApiError,
    ) -> Result<Option<&str>, ApiError> {
        match self.opt(k) {
            Some(v) if !allowed.contains(&v) => Err(invalid(k)),
            v => Ok(v),
        }
    }

    /// Repeat-list values `K.1`, `K.2`, … (1-based, stops at the first gap).
    pub fn list(&self, k: &str) -> Vec<String> {
        let mut out = Vec::new();
        for i in 1.. {
            match self.raw(&format!("{k}.{i}")) {
                Some(v) => out.push(v.to_owned()),
                None => break,
            }
        }
        out
    }
}

/// Builds a JSON object from pairs.
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Page `index` (0-based) of `size` items (`size` ≥ 1) of `all`: the paging of every list
/// operation.
pub fn page<T>(all: Vec<T>, index: i64, size: i64) -> Vec<T> {
    let skip = usize::try_from(index.saturating_mul(size)).unwrap_or(usize::MAX);
    all.into_iter()
        .skip(skip)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect()
}

/// A random lower-case alphanumeric string.
pub fn rand_alnum(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let i = rng.random_range(0..CHARS.len());
            char::from(CHARS.get(i).copied().unwrap_or(b'a'))
        })
        .collect()
}

/// An upper-case UUID, the RequestId format of the real services.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// Formats epoch milliseconds as `yyyy-MM-ddTHH:mm:ssZ`.
pub fn iso_seconds(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => String::new(),
    }
}

/// Parses `yyyy-MM-ddTHH:mm:ssZ` (seconds optional) to epoch milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    for fmt in ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"] {
        if let Ok(dt) = jiff::civil::DateTime::strptime(fmt, s)
            && let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::UTC)
        {
            return Some(z.timestamp().as_millisecond());
        }
    }
    None
}

/// Parses `yyyy-MM-ddTHH:mm:ssZ` (UTC, seconds required) to epoch milliseconds.
pub fn parse_utc_seconds(s: &str) -> Option<i64> {
    jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%SZ", s.trim())
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
}

/// The UTC calendar day of epoch milliseconds (days since the epoch).
pub fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}
