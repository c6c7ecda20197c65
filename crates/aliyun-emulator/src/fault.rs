//! Injected faults and the call log.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this error. HTTP status ≥ 400 gives a gateway-style error
    /// (`{RequestId, HostId, Code, Message}`); status 200 gives the product's
    /// `Success: false` envelope (DBS/HBR).
    Error {
        /// Error code, e.g. `ServiceUnavailable`, `InternalError`, `Throttling`.
        code: String,
        /// HTTP status (default 503).
        #[serde(default = "default_status")]
        http_status: u16,
        /// Message (a default one is used when absent).
        #[serde(default)]
        message: Option<String>,
    },
    /// Delay the answer by this many milliseconds, then process normally.
    Latency {
        /// Delay in ms.
        millis: u64,
    },
    /// Hold the request (`EmulatorConfig::timeout_hold`) so the client times out; then 504.
    Timeout,
    /// Keep the request until the hold `id` is released ([`Release`]): a latch for tests that
    /// must act while a call is in flight (kill the client, fail its next write, …) without
    /// depending on timing.
    Hold {
        /// Name of the hold (the key of `release`).
        id: String,
    },
}

/// How a held call ends when its hold is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Release {
    /// Process the call normally and answer it.
    Proceed,
    /// Answer with this error without executing the call.
    Fail {
        /// Error code.
        code: String,
        /// HTTP status (default 503).
        #[serde(default = "default_status")]
        http_status: u16,
    },
    /// Execute the call, then answer with this error: the "request succeeded but the response
    /// was lost" case.
    LoseAnswer {
        /// Error code.
        code: String,
        /// HTTP status (default 500).
        #[serde(default = "default_lost_status")]
        http_status: u16,
    },
}

fn default_lost_status() -> u16 {
    500
}

/// A call kept by a [`FaultKind::Hold`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCall {
    /// Hold name.
    pub hold: String,
    /// `RDS`, `DBS`, `HBR` or `STS`.
    pub product: String,
    /// Action.
    pub action: String,
}

fn default_status() -> u16 {
    503
}

/// A fault rule. It matches calls by product and/or action (none = all), fires for the next
/// `count` matching calls (none = unlimited) with probability `rate` (none = always).
/// With `after_apply` the action is executed first and only the answer is replaced — the
/// "request succeeded but the response was lost" case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// `RDS`, `DBS`, `HBR` or `STS`; none = any product.
    #[serde(default)]
    pub product: Option<String>,
    /// Action name, e.g. `CreateBackup`; none = any action.
    #[serde(default)]
    pub action: Option<String>,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire this many times, then expire.
    #[serde(default)]
    pub count: Option<u32>,
    /// Probability in 0..=1 that a matching call is hit.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Execute the action, then answer with the fault.
    #[serde(default)]
    pub after_apply: bool,
    /// Only calls whose request parameters have these values (e.g. `{"BackupJobId": "5"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

impl Fault {
    fn new(action: Option<&str>, kind: FaultKind) -> Self {
        Self {
            product: None,
            action: action.map(str::to_owned),
            kind,
            count: None,
            rate: None,
            after_apply: false,
            params: BTreeMap::new(),
        }
    }

    /// An error answer for `action` (none = every action).
    pub fn error(action: Option<&str>, code: &str, http_status: u16) -> Self {
        Self::new(
            action,
            FaultKind::Error {
                code: code.to_owned(),
                http_status,
                message: None,
            },
        )
    }

    /// Added latency.
    pub fn latency(action: Option<&str>, delay: Duration) -> Self {
        Self::new(
            action,
            FaultKind::Latency {
                millis: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
        )
    }

    /// A held request (client-side timeout).
    pub fn timeout(action: Option<&str>) -> Self {
        Self::new(action, FaultKind::Timeout)
    }

    /// A hold: matching calls wait until [`Release`] is given for `id` (see
    /// `EmulatorHandle::release`). Usually combined with [`Fault::times`]`(1)`.
    pub fn hold(action: Option<&str>, id: &str) -> Self {
        Self::new(action, FaultKind::Hold { id: id.to_owned() })
    }

    /// Only for this product (`RDS`, `DBS`, `HBR`, `STS`).
    pub fn for_product(mut self, product: &str) -> Self {
        self.product = Some(product.to_owned());
        self
    }

    /// Fire only `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }

    /// Fire with probability `rate`.
    pub fn with_rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Only for calls whose parameter `name` has the value `value` (repeatable: all must match).
    pub fn with_param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Execute the action before answering with the fault.
    pub fn after_apply(mut self) -> Self {
        self.after_apply = true;
        self
    }

    pub(crate) fn matches(
        &self,
        product: &str,
        action: &str,
        param: impl Fn(&str) -> Option<String>,
    ) -> bool {
        self.product
            .as_deref()
            .is_none_or(|p| p.eq_ignore_ascii_case(product))
            && self.action.as_deref().is_none_or(|a| a == action)
            && self.count != Some(0)
            && self
                .params
                .iter()
                .all(|(k, v)| param(k).as_deref() == Some(v.as_str()))
    }
}

/// One API call as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequence number from 1.
    pub seq: u64,
    /// Emulator time of the call.
    pub time: String,
    /// `RDS`, `DBS`, `HBR`, `STS` or `-` when unknown.
    pub product: String,
    /// Action (`-` when missing).
    pub action: String,
    /// `OK` or the error code returned.
    pub code: String,
    /// HTTP status returned.
    pub http_status: u16,
    /// Caller AccessKey id, when signed.
    pub access_key_id: Option<String>,
    /// `V3`, `V1` or `none`.
    pub signature: String,
    /// Business parameters (common/signature parameters left out, secrets redacted).
    pub params: BTreeMap<String, String>,
}

/// The ordered call log with counting helpers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// Every call in arrival order.
    pub log: Vec<CallRecord>,
}

impl Calls {
    /// Calls of an action (any result).
    pub fn count(&self, action: &str) -> usize {
        self.log.iter().filter(|c| c.action == action).count()
    }

    /// Calls of an action that ended with `code` (`OK` for success).
    pub fn count_code(&self, action: &str, code: &str) -> usize {
        self.log
            .iter()
            .filter(|c| c.action == action && c.code == code)
            .count()
    }

    /// Records of an action, in order.
    pub fn of<'a>(&'a self, action: &'a str) -> impl Iterator<Item = &'a CallRecord> + 'a {
        self.log.iter().filter(move |c| c.action == action)
    }

    /// Counts keyed `PRODUCT/Action/Code`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.log {
            *m.entry(format!("{}/{}/{}", c.product, c.action, c.code))
                .or_insert(0) += 1;
        }
        m
    }
}
