//! The production [`CloudProvider`]: transport (reqwest), signing, rate limiting, retries,
//! envelope decoding and metrics.
//!
//! * this file — the provider ([`AlibabaCloud`]), its shared state and the per-product client;
//! * `execute` — sending a call: breaker, rate limit, retries, metrics, message scrubbing;
//! * `request` — building and signing one request (V3 or V1);
//! * `decode` — the response envelope into a typed answer or a typed error.

mod decode;
mod execute;
mod request;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::api::{
    BackupPlanDetail, DbsApi, DescribeBackupJobs2Request, DescribeBackupPlanListRequest, HbrApi,
    HbrBackupJob, RdsApi, RdsBackupJob,
};
use super::breaker::{Breakers, CredentialRefusal, Fingerprint};
use super::config::CloudConfig;
use super::credentials::{CredentialSource, Credentials, DefaultChain};
use super::error::{CloudError, ErrorKind};
use super::observe::Observer;
use super::params::Params;
use super::ratelimit::RateLimiters;
use super::retry::Idempotency;
use super::{CloudProvider, DbsRestoreApi, HbrRestoreApi, Product, RdsRestoreApi, Target};

/// The envelope decoder (the decoding tests call it directly).
#[cfg(test)]
pub(crate) use decode::decode;

/// Shared state of all clients of one provider.
pub(crate) struct Shared {
    pub(crate) config: CloudConfig,
    http: reqwest::Client,
    limiters: RateLimiters,
    breakers: Breakers,
    chain: OnceLock<Result<Arc<DefaultChain>, String>>,
    pub(crate) observers: Observers,
}

/// Where a cloud item lives: region and credentials (the account), plus a product detail
/// (the HBR source type, the RDS instance; empty for DBS plans).
pub(crate) type ObserveScope = (String, CredentialSource, String);

/// The shared observation of running work, one observer per product (see `cloud::observe`).
pub(crate) struct Observers {
    pub(crate) hbr_jobs: Observer<ObserveScope, HbrBackupJob>,
    pub(crate) dbs_plans: Observer<ObserveScope, BackupPlanDetail>,
    pub(crate) rds_tasks: Observer<ObserveScope, RdsBackupJob>,
}

/// How long a batched describe waits for more askers before its call (see
/// `Observer::gathering`): long enough for the creates of a burst to be looked at in one
/// call, short against any poll interval.
const GATHER: Duration = Duration::from_millis(20);

impl Observers {
    fn new() -> Self {
        Observers {
            hbr_jobs: Observer::new(DescribeBackupJobs2Request::MAX_IDS, |j: &HbrBackupJob| {
                j.state().is_terminal()
            })
            .gathering(GATHER),
            // A plan never ends by itself: every watched plan is refreshed in turn.
            dbs_plans: Observer::new(DescribeBackupPlanListRequest::MAX_IDS, |_| false)
                .gathering(GATHER),
            // One `BackupJobId` per call: one call in flight per instance, answers shared.
            rds_tasks: Observer::new(1, |t| t.state().is_ended()),
        }
    }
}

/// The Alibaba Cloud client factory used in production.
///
/// One instance per process: it owns the HTTP connection pool, the default-chain credential
/// cache, the rate limiters (so all controllers share them) and the metrics.
#[derive(Clone)]
pub struct AlibabaCloud {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AlibabaCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlibabaCloud")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl AlibabaCloud {
    /// Builds the provider (HTTP client with rustls, timeouts from `config`).
    pub fn new(config: CloudConfig) -> Result<Self, CloudError> {
        for url in config
            .endpoint_override
            .iter()
            .chain(config.endpoints.values())
        {
            super::config::check_base_url(url).map_err(|m| {
                CloudError::new(Product::Sts, "Configure", ErrorKind::InvalidRequest, m)
            })?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .timeout(config.timeouts.request)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| {
                CloudError::new(
                    Product::Sts,
                    "Configure",
                    ErrorKind::InvalidRequest,
                    "cannot build the HTTP client",
                )
                .with_source(e.without_url())
            })?;
        let limiters = RateLimiters::new(config.rate_limit.clone(), Arc::clone(&config.time));
        let breakers = Breakers::new(
            config.breaker.clone(),
            Arc::clone(&config.time),
            config.metrics.clone(),
        );
        Ok(AlibabaCloud {
            shared: Arc::new(Shared {
                config,
                http,
                limiters,
                breakers,
                chain: OnceLock::new(),
                observers: Observers::new(),
            }),
        })
    }

    /// The metrics this provider records into.
    pub fn metrics(&self) -> &super::CloudMetrics {
        &self.shared.config.metrics
    }

    /// Resolves credentials for `source` (the default chain is built on first use and cached).
    pub async fn credentials(&self, source: &CredentialSource) -> Result<Credentials, CloudError> {
        self.shared.credentials(source).await
    }

    /// The default credential chain (built on first use).
    pub fn default_chain(&self) -> Result<Arc<DefaultChain>, CloudError> {
        self.shared.default_chain()
    }

    /// The shared observation (tests look at its rounds).
    #[cfg(test)]
    pub(crate) fn observers(&self) -> &Observers {
        &self.shared.observers
    }

    fn client(&self, target: &Target, product: Product) -> Arc<ProductClient> {
        Arc::new(ProductClient {
            shared: Arc::clone(&self.shared),
            region: target.region.clone(),
            credentials: target.credentials.clone(),
            product,
        })
    }
}

impl CloudProvider for AlibabaCloud {
    fn dbs(&self, target: &Target) -> Arc<dyn DbsApi> {
        self.client(target, Product::Dbs)
    }
    fn rds(&self, target: &Target) -> Arc<dyn RdsApi> {
        self.client(target, Product::Rds)
    }
    fn hbr(&self, target: &Target) -> Arc<dyn HbrApi> {
        self.client(target, Product::Hbr)
    }
    fn rds_restore(&self, target: &Target) -> Arc<dyn RdsRestoreApi> {
        self.client(target, Product::Rds)
    }
    fn hbr_restore(&self, target: &Target) -> Arc<dyn HbrRestoreApi> {
        self.client(target, Product::Hbr)
    }
    fn dbs_restore(&self, target: &Target) -> Arc<dyn DbsRestoreApi> {
        self.client(target, Product::Dbs)
    }
    fn credential_refusal(&self, source: &CredentialSource) -> Option<CredentialRefusal> {
        let creds = match source {
            CredentialSource::Static(s) => Credentials::from(s),
            CredentialSource::Default => self.shared.chain.get()?.as_ref().ok()?.current()?,
        };
        self.shared.breakers.refusal(Fingerprint::of(&creds))
    }
    fn credential_recoveries(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.shared.breakers.recoveries())
    }
}

impl Shared {
    fn default_chain(&self) -> Result<Arc<DefaultChain>, CloudError> {
        let chain = self.chain.get_or_init(|| {
            DefaultChain::new(&self.config, self.http.clone())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        chain
            .clone()
            .map_err(|m| CloudError::new(Product::Sts, "Credentials", ErrorKind::Credentials, m))
    }

    async fn credentials(&self, source: &CredentialSource) -> Result<Credentials, CloudError> {
        match source {
            CredentialSource::Static(s) => {
                if s.access_key_id.trim().is_empty()
                    || s.access_key_secret.expose().trim().is_empty()
                {
                    return Err(CloudError::new(
                        Product::Sts,
                        "Credentials",
                        ErrorKind::Credentials,
                        "the credentials Secret has an empty accessKeyId or accessKeySecret",
                    ));
                }
                Ok(Credentials::from(s))
            }
            CredentialSource::Default => self.default_chain()?.get().await,
        }
    }
}

/// One RPC call, ready to send.
pub(crate) struct Call {
    pub(crate) action: &'static str,
    pub(crate) params: Params,
    pub(crate) idempotency: Idempotency,
}

/// A client of one product for one target.
pub(crate) struct ProductClient {
    pub(crate) shared: Arc<Shared>,
    pub(crate) region: String,
    pub(crate) credentials: CredentialSource,
    pub(crate) product: Product,
}

impl ProductClient {
    /// The observation scope of this client's account and region, with `detail`.
    pub(crate) fn scope(&self, detail: &str) -> ObserveScope {
        (
            self.region.clone(),
            self.credentials.clone(),
            detail.to_string(),
        )
    }
}
