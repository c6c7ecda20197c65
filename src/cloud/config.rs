//! Configuration of the cloud client: endpoints, rate limits, retries, timeouts, credentials chain.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Product;
use super::breaker::BreakerSettings;
use super::metrics::CloudMetrics;
use super::time::{TimeSource, TokioTime};

/// Which request signature to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// `ACS3-HMAC-SHA256` (the default of current SDKs).
    #[default]
    V3,
    /// RPC V1 `HMAC-SHA1` (`SignatureVersion=1.0`).
    V1,
}

/// Retry policy for retryable errors: exponential backoff with full jitter.
///
/// Delay before retry `n` (1-based) is uniformly drawn from `[0, min(max_delay, base_delay·2^(n-1))]`,
/// or exactly `x-acs-retry-after` when the service sent it (capped at `max_delay`).
/// No retry is started if it would end after `max_total_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first (1 = no retries).
    pub max_attempts: u32,
    /// Upper bound on the time spent in one call, including all retries and waits.
    pub max_total_time: Duration,
    /// Base delay of the exponential backoff.
    pub base_delay: Duration,
    /// Maximum delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_total_time: Duration::from_secs(60),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Token-bucket settings, one bucket per (access key id, region, product).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub qps: f64,
    /// Bucket size (requests allowed in a burst).
    pub burst: u32,
    /// After a throttling response, the bucket runs at `qps * throttle_factor` …
    pub throttle_factor: f64,
    /// … for this long.
    pub throttle_cooldown: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            qps: 10.0,
            burst: 20,
            throttle_factor: 0.25,
            throttle_cooldown: Duration::from_secs(30),
        }
    }
}

/// Timeouts of the HTTP transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect timeout.
    pub connect: Duration,
    /// Whole-request timeout (one attempt).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

/// Where the operator's default credential chain reads its inputs.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Environment variables. `None` reads the process environment; `Some(map)` uses the map
    /// instead (tests).
    pub env: Option<BTreeMap<String, String>>,
    /// ECS metadata service base URL; `None` = `http://100.100.100.200`.
    pub imds_endpoint: Option<Url>,
    /// Disable the ECS RAM role provider.
    pub imds_disabled: bool,
    /// Refuse the IMDSv1 fallback when the IMDSv2 token cannot be obtained.
    pub imdsv1_disabled: bool,
    /// Refresh temporary credentials this long before they expire.
    pub refresh_before_expiry: Duration,
    /// `DurationSeconds` requested from STS `AssumeRoleWithOIDC` (≥ 900).
    pub sts_duration_seconds: u32,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            env: None,
            imds_endpoint: None,
            imds_disabled: false,
            imdsv1_disabled: false,
            refresh_before_expiry: Duration::from_secs(15 * 60),
            sts_duration_seconds: 3600,
        }
    }
}

/// Configuration of [`super::AlibabaCloud`].
#[derive(Clone)]
pub struct CloudConfig {
    /// One base URL for every product (`--endpoint-override URL`). `http://` works.
    pub endpoint_override: Option<Url>,
    /// Per-product base URLs (`--endpoint PRODUCT=URL`); win over `endpoint_override`.
    pub endpoints: BTreeMap<Product, Url>,
    /// Signature version for DBS/RDS/HBR calls.
    pub signature_version: SignatureVersion,
    /// Token-bucket settings.
    pub rate_limit: RateLimit,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// HTTP timeouts.
    pub timeouts: Timeouts,
    /// Default credential chain inputs.
    pub chain: ChainConfig,
    /// Per-credential circuit breaker (cool-downs after an authentication failure).
    pub breaker: BreakerSettings,
    /// Metrics sink (register it with [`CloudMetrics::register`]).
    pub metrics: CloudMetrics,
    /// Clock and sleeper used by retries and rate limiting (tests inject a manual clock).
    pub time: Arc<dyn TimeSource>,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl std::fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConfig")
            .field("endpoint_override", &self.endpoint_override)
            .field("endpoints", &self.endpoints)
            .field("signature_version", &self.signature_version)
            .field("rate_limit", &self.rate_limit)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("chain", &self.chain)
            .field("breaker", &self.breaker)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            endpoint_override: None,
            endpoints: BTreeMap::new(),
            signature_version: SignatureVersion::V3,
            rate_limit: RateLimit::default(),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            chain: ChainConfig::default(),
            breaker: BreakerSettings::default(),
            metrics: CloudMetrics::default(),
            time: Arc::new(TokioTime),
            user_agent: concat!("aliyun-backup-operator/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl CloudConfig {
    /// Parses a `PRODUCT=URL` flag value (`dbs`, `rds`, `hbr`, `sts`) and records it.
    pub fn set_endpoint_flag(&mut self, flag: &str) -> Result<(), String> {
        let (product, url) = flag
            .split_once('=')
            .ok_or_else(|| format!("expected PRODUCT=URL, got {flag:?}"))?;
        let product: Product = product.trim().parse()?;
        let url = Url::parse(url.trim()).map_err(|e| format!("invalid URL for {product}: {e}"))?;
        check_base_url(&url)?;
        self.endpoints.insert(product, url);
        Ok(())
    }
}

/// Checks that an override URL is usable as a base (`http`/`https` with a host).
pub fn check_base_url(url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint must be http:// or https://, got {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none() {
        return Err("endpoint URL has no host".to_string());
    }
    Ok(())
}
