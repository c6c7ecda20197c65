//! Typed errors of the cloud client and their classification.

use std::fmt;
use std::time::Duration;

use super::Product;

/// What a caller should do about a [`CloudError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient: throttling, `ServiceUnavailable`, `InternalError`, HTTP 5xx, timeouts,
    /// connection errors. Try again later (the client already retried where it was safe).
    Retryable,
    /// The addressed resource does not exist (or no longer exists).
    NotFound,
    /// The resource is busy or already in the requested state (e.g. RDS `BackupJobExists`).
    Conflict,
    /// Anything else: invalid parameters, forbidden, signature or credential problems.
    /// A human has to change something.
    Terminal,
}

impl ErrorClass {
    /// Low-cardinality label for metrics and events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::NotFound => "NotFound",
            ErrorClass::Conflict => "Conflict",
            ErrorClass::Terminal => "Terminal",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a [`CloudError`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The service answered with an error envelope (HTTP error status, or `Success: false`).
    Api,
    /// The request could not be sent or the connection failed.
    Transport,
    /// The request timed out (the call may or may not have taken effect).
    Timeout,
    /// The response body could not be decoded.
    Decode,
    /// Credentials could not be obtained (env, RRSA/STS, ECS metadata).
    Credentials,
    /// The request could not be built (bad endpoint, bad parameter value, bad configuration).
    InvalidRequest,
    /// Not sent: Alibaba Cloud refused these credentials a moment ago (authentication failure)
    /// and the per-credential circuit breaker holds calls with them back for a cool-down
    /// (see `cloud::breaker`). The message names the credential's label and the code.
    CredentialsRefused,
}

impl ErrorKind {
    /// Low-cardinality label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Api => "api",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Decode => "decode",
            ErrorKind::Credentials => "credentials",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::CredentialsRefused => "credentials_refused",
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The details of a [`CloudError`] (reachable through `Deref`, e.g. `err.action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    /// Product that was called.
    pub product: Product,
    /// API action, e.g. `CreateBackup`.
    pub action: String,
    /// Where the error came from.
    pub kind: ErrorKind,
    /// HTTP status, when a response was received (for DBS, the body's `HttpStatusCode`).
    pub http_status: Option<u16>,
    /// Alibaba error code (`Code` / `ErrCode`), when present.
    pub code: Option<String>,
    /// Human-readable message (from the service, or describing the local failure).
    pub message: String,
    /// Alibaba `RequestId`, when present.
    pub request_id: Option<String>,
    /// Server-requested delay before retrying (`x-acs-retry-after`, milliseconds on the wire).
    pub retry_after: Option<Duration>,
}

/// An error from an Alibaba Cloud call.
///
/// Carries the product, action, HTTP status, the Alibaba error `Code`, `Message` and `RequestId`
/// when the service sent them ([`ErrorDetails`], through `Deref`), and the underlying
/// transport/decode error as `source`. [`CloudError::class`] tells the caller what to do;
/// [`CloudError::name`] is a fixed low-cardinality name for metrics and event reasons.
///
/// The `Display` text never contains credentials: URLs are stripped from transport errors
/// (V1 requests carry the signature and security token in the query) and request parameters
/// are never included.
#[derive(Debug, thiserror::Error)]
pub struct CloudError {
    details: Box<ErrorDetails>,
    #[source]
    source: Option<BoxError>,
}

/// An error and its sources as one text.
fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

impl std::ops::Deref for CloudError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.details
    }
}

impl std::ops::DerefMut for CloudError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.details
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed", self.product, self.action)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        } else {
            write!(f, ": {}", self.kind.as_str())?;
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [RequestId {id}]")?;
        }
        Ok(())
    }
}

impl CloudError {
    /// Builds an error of `kind` with a message and no service details.
    pub fn new(
        product: Product,
        action: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        CloudError {
            details: Box::new(ErrorDetails {
                product,
                action: action.into(),
                kind,
                http_status: None,
                code: None,
                message: message.into(),
                request_id: None,
                retry_after: None,
            }),
            source: None,
        }
    }

    /// A copy for each caller of a shared call ([`super::observe`]): the same details, and the
    /// source's text as its source.
    pub fn duplicate(&self) -> Self {
        CloudError {
            details: self.details.clone(),
            source: self
                .source
                .as_ref()
                .map(|s| BoxError::from(source_text(s.as_ref()))),
        }
    }

    /// Builds an API error from the service's envelope.
    pub fn api(
        product: Product,
        action: impl Into<String>,
        http_status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        let mut e = CloudError::new(product, action, ErrorKind::Api, message.unwrap_or_default());
        e.http_status = Some(http_status);
        e.code = code;
        e.request_id = request_id;
        e
    }

    /// The details (product, action, status, code, message, request id).
    pub fn details(&self) -> &ErrorDetails {
        &self.details
    }

    /// The HTTP status, if a response was received.
    pub fn http_status(&self) -> Option<u16> {
        self.details.http_status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.details.message
    }

    /// Attaches a source error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Attaches an HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Attaches an error code.
    pub fn with_code(mut self, code: Option<String>) -> Self {
        self.code = code;
        self
    }

    /// Attaches a `RequestId`.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// Attaches a server-requested retry delay.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The Alibaba error code, if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The Alibaba `RequestId`, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Whether this error says the service throttled the request.
    pub fn is_throttling(&self) -> bool {
        self.code.as_deref().is_some_and(is_throttling_code) || self.http_status == Some(429)
    }

    /// What the caller should do about this error. See [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self.kind {
            ErrorKind::Transport | ErrorKind::Timeout => ErrorClass::Retryable,
            ErrorKind::Decode => {
                // A truncated/garbled 5xx body is still a server problem.
                if self.http_status.is_some_and(|s| s >= 500) {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Terminal
                }
            }
            ErrorKind::InvalidRequest | ErrorKind::CredentialsRefused => ErrorClass::Terminal,
            ErrorKind::Credentials => {
                if self.http_status.is_some_and(|s| s >= 500 || s == 429)
                    || self.source_is_transport()
                {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Terminal
                }
            }
            ErrorKind::Api => classify_for(&self.action, self.http_status, self.code.as_deref()),
        }
    }

    fn source_is_transport(&self) -> bool {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<reqwest::Error>())
            .is_some_and(|e| e.is_connect() || e.is_timeout() || e.is_request())
    }

    /// Fixed low-cardinality name, for metrics labels and event reasons.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Transport => "CloudTransportError",
            ErrorKind::Timeout => "CloudTimeout",
            ErrorKind::Decode => "CloudDecodeError",
            ErrorKind::Credentials => "CloudCredentialsError",
            ErrorKind::InvalidRequest => "CloudInvalidRequest",
            ErrorKind::CredentialsRefused => "CloudCredentialsRefused",
            ErrorKind::Api => {
                let code = self.code.as_deref().unwrap_or("");
                if self.is_throttling() {
                    "CloudThrottled"
                } else if is_signature_code(code) {
                    "CloudSignatureError"
                } else if is_auth_code(code)
                    || (self.http_status == Some(403) && is_permission_code(code))
                {
                    "CloudForbidden"
                } else {
                    match self.class() {
                        ErrorClass::Retryable => "CloudServiceError",
                        ErrorClass::NotFound => "CloudNotFound",
                        ErrorClass::Conflict => "CloudConflict",
                        ErrorClass::Terminal => "CloudRequestRejected",
                    }
                }
            }
        }
    }

    /// Whether the service refused the caller's credentials or permissions (bad or disabled
    /// AccessKey, bad signature, expired STS token, missing RAM permission) — the errors named
    /// `CloudSignatureError` or `CloudForbidden`. Fixing the credentials (or the RAM policy)
    /// can make the same request succeed.
    pub fn is_credentials_problem(&self) -> bool {
        match self.kind {
            ErrorKind::Credentials | ErrorKind::CredentialsRefused => true,
            ErrorKind::Api => matches!(self.name(), "CloudSignatureError" | "CloudForbidden"),
            _ => false,
        }
    }

    /// Whether the service refused the credential itself — AccessKey unknown or disabled
    /// (`InvalidAccessKeyId.*`, `Forbidden.AccessKeyDisabled`), wrong secret
    /// (`SignatureDoesNotMatch`), bad or expired STS token (`InvalidSecurityToken.*`,
    /// `MissingSecurityToken`) or RAM refusal (`Forbidden.RAM`). These trip the per-credential
    /// circuit breaker; clock skew, nonce reuse and other 403s do not.
    pub fn is_authentication_failure(&self) -> bool {
        self.kind == ErrorKind::Api && self.code.as_deref().is_some_and(is_authentication_code)
    }

    /// Whether the call was not sent because the credential's circuit breaker is open
    /// (name `CloudCredentialsRefused`).
    pub fn is_breaker_open(&self) -> bool {
        self.kind == ErrorKind::CredentialsRefused
    }

    /// Whether the error proves the service did not execute the call (so even a
    /// non-idempotent call may be repeated): throttling and gateway-level rejections
    /// (signature, timestamp, nonce, credentials), connection failures before sending.
    pub fn proves_not_executed(&self) -> bool {
        match self.kind {
            ErrorKind::Api => {
                let code = self.code.as_deref().unwrap_or("");
                self.is_throttling()
                    || self.retry_after.is_some()
                    || is_signature_code(code)
                    || is_auth_code(code)
            }
            ErrorKind::Transport => self.source_is_connect(),
            ErrorKind::Credentials | ErrorKind::InvalidRequest | ErrorKind::CredentialsRefused => {
                true
            }
            ErrorKind::Timeout | ErrorKind::Decode => false,
        }
    }

    fn source_is_connect(&self) -> bool {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<reqwest::Error>())
            .is_some_and(|e| e.is_connect())
    }
}

/// `Throttling`, `Throttling.User`, `Throttling.Api`, `Rejected.Throttling`, … (Alibaba's API error-code documentation).
pub(crate) fn is_throttling_code(code: &str) -> bool {
    code.contains("Throttling") || code == "Throttled" || code == "RequestLimitExceeded"
}

fn is_signature_code(code: &str) -> bool {
    matches!(
        code,
        "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "InvalidTimeStamp.Expired"
            | "InvalidTimeStamp.Format"
            | "SignatureNonceUsed"
            | "InvalidSignatureMethod"
            | "UnsupportedSignatureType"
    )
}

/// Codes that refuse the credential (see [`CloudError::is_authentication_failure`]).
pub(crate) fn is_authentication_code(code: &str) -> bool {
    code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidSecurityToken")
        || matches!(
            code,
            "SignatureDoesNotMatch"
                | "MissingSecurityToken"
                | "Forbidden.RAM"
                | "Forbidden.AccessKeyDisabled"
        )
}

fn is_auth_code(code: &str) -> bool {
    code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidSecurityToken")
        || code == "MissingSecurityToken"
        || code == "Forbidden.RAM"
        || code == "NoPermission"
        || code == "Forbidden.AccessKeyDisabled"
}

/// Codes of an HTTP 403 that refuse the caller (not the request): no code, `Forbidden*`,
/// `*Permission*`, `*Unauthorized*`. Other 403 codes refuse the request for a reason of the
/// resource, e.g. RDS `Exceeded.BackupTimes` (20 backups a day) or `IncorrectDBInstanceState`.
fn is_permission_code(code: &str) -> bool {
    code.is_empty()
        || code.starts_with("Forbidden")
        || code.contains("Permission")
        || code.contains("Unauthorized")
}

/// Codes that mean "not found" only for a read: DBS answers `InvalidParameterValid` for an
/// unknown plan id in `DescribeBackupPlanList` (Terraform treats it as gone), but the same
/// code on a mutating call is a bad parameter.
const AMBIGUOUS_NOT_FOUND: &[&str] = &["InvalidParameterValid"];

/// Classifies an API error of `action` by HTTP status and code (Alibaba's API error-code documentation).
pub(crate) fn classify_for(
    action: &str,
    http_status: Option<u16>,
    code: Option<&str>,
) -> ErrorClass {
    if let Some(c) = code
        && AMBIGUOUS_NOT_FOUND.contains(&c)
        && !action.starts_with("Describe")
    {
        return ErrorClass::Terminal;
    }
    classify(http_status, code)
}

/// Classifies an API error by HTTP status and code (Alibaba's API error-code documentation).
pub(crate) fn classify(http_status: Option<u16>, code: Option<&str>) -> ErrorClass {
    let code = code.unwrap_or("");
    if is_throttling_code(code)
        || matches!(
            code,
            "ServiceUnavailable"
                | "InternalError"
                | "InternalError.System"
                | "UnknownError"
                | "ServiceBusy"
                | "ServiceTimeout"
        )
        || http_status.is_some_and(|s| s >= 500 || s == 429)
    {
        return ErrorClass::Retryable;
    }
    // `Param.NotFound` is DBS's "a parameter is missing or invalid", not a missing resource.
    if is_signature_code(code)
        || is_auth_code(code)
        || matches!(code, "InvalidApi.NotFound" | "Param.NotFound")
    {
        return ErrorClass::Terminal;
    }
    if is_not_found_code(code) || (http_status == Some(404) && code.is_empty()) {
        return ErrorClass::NotFound;
    }
    if is_conflict_code(code) {
        return ErrorClass::Conflict;
    }
    ErrorClass::Terminal
}

fn is_not_found_code(code: &str) -> bool {
    matches!(
        code,
        "InvalidJobId"
            | "InvalidParameterValid"
            | "NotFound"
            | "ResourceNotfound"
            | "ResourceNotFound"
            | "Forbidden.InstanceNotFound"
            | "InvalidDBInstanceId.NotFound"
            | "InvalidDBInstanceName.NotFound"
            | "InvalidBackupId.NotFound"
            | "InvalidBackupSetID.NotFound"
    ) || code.ends_with(".NotFound")
        || code.ends_with("NotExist")
        || code.ends_with(".NotExists")
        || code.ends_with("NotFound")
}

fn is_conflict_code(code: &str) -> bool {
    matches!(
        code,
        "BackupJobExists"
            | "ConcurrentTaskExceeded"
            | "OperationDenied.DBStatus"
            | "IncorrectDBInstanceState"
            | "IncorrectDBInstanceLockMode"
            | "LockTimeout"
            | "TaskConflict"
            | "JobIsRunning"
            | "BackupJobIsRunning"
            | "JobStatusNotAllowCancel"
    ) || code.ends_with("AlreadyExists")
        || code.ends_with("AlreadyExist")
        || code.ends_with(".Exists")
        || code.contains("Conflict")
        // Denied because of the resource's current state (`OperationDenied.DBInstanceStatus`,
        // `IncorrectDBInstanceState`, …): it can change without a different request.
        || code.starts_with("OperationDenied")
        || (code.starts_with("Incorrect") && code.ends_with("State"))
}
