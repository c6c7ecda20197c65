//! Alibaba Cloud client for DBS, RDS and HBR.
//!
//! Layers, bottom up (see `docs/architecture.md`):
//!
//! * [`credentials`] — static key pairs and the operator's default chain
//!   (environment → RRSA/OIDC via STS `AssumeRoleWithOIDC` → ECS RAM role via metadata),
//!   cached and refreshed ahead of expiry without blocking concurrent callers.
//! * [`params`] — RPC parameter building: repeat-list flattening (`Filters.1.Values.2=…`),
//!   JSON "shrink" parameters, booleans and integers.
//! * [`sign`] — `ACS3-HMAC-SHA256` (V3, the default) and RPC V1 `HMAC-SHA1`.
//! * [`endpoint`] — per product and region endpoints plus overrides.
//! * `ratelimit` / `retry` / `client` — a token bucket per (access key, region, product),
//!   exponential backoff with full jitter honouring `x-acs-retry-after`, reqwest (rustls).
//! * `ops` — the wire parameters of every typed request and the product traits implemented
//!   over the client (one file per product, one for the restores).
//! * [`api`] — typed requests/responses and one trait per product ([`DbsApi`], [`RdsApi`],
//!   [`HbrApi`]) plus one per product's restores ([`DbsRestoreApi`], [`RdsRestoreApi`],
//!   [`HbrRestoreApi`]); controllers depend on these traits only.
//!
//! Controllers obtain clients through a [`CloudProvider`] (production: [`AlibabaCloud`]):
//!
//! ```no_run
//! # async fn demo() -> Result<(), aliyun_backup_operator::cloud::CloudError> {
//! use aliyun_backup_operator::cloud::{AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Target};
//! use aliyun_backup_operator::cloud::api::rds::CreateBackupRequest;
//! let cloud = AlibabaCloud::new(CloudConfig::default())?;
//! let rds = cloud.rds(&Target { region: "cn-hangzhou".into(), credentials: CredentialSource::Default });
//! let resp = rds.create_backup(&CreateBackupRequest { db_instance_id: "rm-1".into(), ..Default::default() }).await?;
//! println!("job {}", resp.backup_job_id);
//! # Ok(()) }
//! ```
//!
//! Errors are [`CloudError`]s with an [`ErrorClass`] (`Retryable`, `NotFound`, `Conflict`,
//! `Terminal`) and a fixed [`CloudError::name`]. Secrets never appear in `Debug`/`Display`
//! output or logs; service messages that echo the string to sign are cut, and the secret
//! and token are masked in any message.
//!
//! # Retries
//!
//! `Retryable` errors are retried with exponential backoff and full jitter
//! ([`RetryPolicy`]), or after exactly `x-acs-retry-after` milliseconds when the service
//! sends it, within `max_attempts` and `max_total_time`. Whether a failed call may be
//! repeated depends on the action:
//!
//! | Action | Repeated after a timeout / 5xx? |
//! |---|---|
//! | all `Describe*` | yes |
//! | DBS `StopBackupPlan`, `ReleaseBackupPlan`, `ModifyBackupPlanName`; RDS `DeleteBackup`; HBR `CancelBackupJob`, `DeleteSnapshot` | yes (state-setting; a repeat is harmless or answers NotFound) |
//! | DBS `ConfigureBackupPlan` | yes, unless `AutoStartBackup=true` without a `ClientToken` |
//! | DBS `CreateAndStartBackupPlan`, `StartBackupPlan` | only with a `ClientToken` |
//! | RDS `CloneDBInstance`, `RestoreTable`; DBS `CreateRestoreTask`, `StartRestoreTask` | only with a `ClientToken` |
//! | HBR `CancelRestoreJob` | yes (state-setting) |
//! | RDS `CreateBackup`, HBR `CreateBackupJob`, `CreateRestoreJob` | never |
//!
//! Every action is repeated when the error proves it did not run: throttling, gateway
//! rejections (signature, timestamp, nonce, access key), connection refused.
//!
//! # Rate limiting
//!
//! One token bucket per (access key id, region, product) — the default chain counts as one
//! key — shared by all clients of an [`AlibabaCloud`]. After a throttling response the
//! bucket also runs at `qps × throttle_factor` for `throttle_cooldown` ([`RateLimit`]).
//!
//! # Refused credentials
//!
//! A credential that the service refuses (`InvalidAccessKeyId.*`, `SignatureDoesNotMatch`,
//! `InvalidSecurityToken.*`, `Forbidden.RAM`, …) trips a circuit breaker keyed by a
//! fingerprint of that credential ([`breaker`]): further calls with it fail at once with
//! [`ErrorKind::CredentialsRefused`] for a cool-down (30 s doubling to 10 min), then one probe
//! goes out. A rotated Secret is a new credential and is never held back.
//!
//! # Testing
//!
//! [`time::ManualTime`] replaces the clock and sleeper ([`CloudConfig::time`]), so retry and
//! rate-limit behaviour is tested without sleeping; endpoints accept `http://` overrides
//! for loopback fakes and the emulator; [`config::ChainConfig`] takes an environment map
//! and a metadata URL.

#![warn(missing_docs)]

pub mod api;
pub mod breaker;
pub mod config;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod observe;
pub mod params;
pub mod secret;
pub mod sign;
pub mod time;

mod client;
mod ops;
mod ratelimit;
mod retry;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use api::{DbsApi, DbsRestoreApi, HbrApi, HbrRestoreApi, RdsApi, RdsRestoreApi};
pub use breaker::{BreakerSettings, CredentialRefusal, credential_label};
pub use client::AlibabaCloud;
pub use config::{CloudConfig, RateLimit, RetryPolicy, SignatureVersion, Timeouts};
pub use credentials::{CredentialSource, Credentials, StaticCredentials};
pub use error::{CloudError, ErrorClass, ErrorDetails, ErrorKind};
pub use metrics::CloudMetrics;
pub use secret::Secret;

/// An Alibaba Cloud product this client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// Database Backup, API version `2019-03-06`.
    Dbs,
    /// ApsaraDB RDS, API version `2014-08-15`.
    Rds,
    /// Cloud Backup, API version `2017-09-08`.
    Hbr,
    /// Security Token Service, API version `2015-04-01` (credentials only).
    Sts,
}

impl Product {
    /// Lower-case name (`dbs`, `rds`, `hbr`, `sts`), used in flags and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Dbs => "dbs",
            Product::Rds => "rds",
            Product::Hbr => "hbr",
            Product::Sts => "sts",
        }
    }

    /// API version sent in `x-acs-version` / `Version`.
    pub fn api_version(self) -> &'static str {
        match self {
            Product::Dbs => "2019-03-06",
            Product::Rds => "2014-08-15",
            Product::Hbr => "2017-09-08",
            Product::Sts => "2015-04-01",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Product {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dbs" => Ok(Product::Dbs),
            "rds" => Ok(Product::Rds),
            "hbr" => Ok(Product::Hbr),
            "sts" => Ok(Product::Sts),
            other => Err(format!(
                "unknown product {other:?} (expected dbs, rds, hbr or sts)"
            )),
        }
    }
}

/// Where and as whom a call is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Alibaba region id, e.g. `cn-hangzhou`; picks the endpoint.
    pub region: String,
    /// Which credentials sign the calls.
    pub credentials: CredentialSource,
}

/// Factory of per-product clients; controllers depend on this trait so tests can swap it.
///
/// Clients are cheap to obtain (they share the HTTP connection pool, credential cache,
/// rate limiters and metrics of the provider); call these on every reconcile so that a
/// rotated credentials Secret takes effect at once.
pub trait CloudProvider: Send + Sync + 'static {
    /// DBS client for `target`.
    fn dbs(&self, target: &Target) -> Arc<dyn DbsApi>;
    /// RDS client for `target`.
    fn rds(&self, target: &Target) -> Arc<dyn RdsApi>;
    /// HBR client for `target`.
    fn hbr(&self, target: &Target) -> Arc<dyn HbrApi>;
    /// RDS restore client for `target` (clones, table restores, instance and task lookups).
    fn rds_restore(&self, target: &Target) -> Arc<dyn RdsRestoreApi>;
    /// HBR restore client for `target`.
    fn hbr_restore(&self, target: &Target) -> Arc<dyn HbrRestoreApi>;
    /// DBS restore client for `target`.
    fn dbs_restore(&self, target: &Target) -> Arc<dyn DbsRestoreApi>;

    /// Whether Alibaba Cloud refused these credentials recently, so that calls with them are
    /// held back by the per-credential circuit breaker (`None`: no refusal on record). Answers
    /// from memory, without a call; for the default chain it looks at the credentials the
    /// chain currently holds. For a `CredentialsValid` condition: `Some` means "invalid",
    /// with the code and when the next attempt goes out.
    fn credential_refusal(&self, source: &CredentialSource) -> Option<CredentialRefusal> {
        let _ = source;
        None
    }

    /// A value that changes each time the per-credential circuit breaker closes (a refused
    /// credential is accepted again), so that every object it held back is looked at again at
    /// once (`None`: this provider has no breaker).
    fn credential_recoveries(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}
