//! The operator's default credential chain: which provider it settles on (environment,
//! RRSA/OIDC, ECS RAM role) and the cache that refreshes temporary credentials ahead of
//! expiry without blocking concurrent callers.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use url::Url;

use super::super::Product;
use super::super::config::CloudConfig;
use super::super::error::CloudError;
use super::super::secret::Secret;
use super::fetch::{fetch_ecs, fetch_oidc};
use super::{Credentials, cred_err, env};

/// The metadata service address.
const IMDS_DEFAULT: &str = "http://100.100.100.200/";

/// Reads environment variables (from the process or from a test map).
#[derive(Debug, Clone)]
struct Env(Option<BTreeMap<String, String>>);

impl Env {
    fn get(&self, key: &str) -> Option<String> {
        let v = match &self.0 {
            Some(map) => map.get(key).cloned(),
            None => std::env::var(key).ok(),
        };
        v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    }
    fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Which source the default chain settled on.
#[derive(Debug, Clone)]
enum ChainSource {
    Env(Credentials),
    Oidc(OidcSettings),
    Ecs(EcsSettings),
    None,
}

/// RRSA: what `AssumeRoleWithOIDC` is called with.
#[derive(Debug, Clone)]
pub(super) struct OidcSettings {
    pub(super) role_arn: String,
    pub(super) oidc_provider_arn: String,
    pub(super) token_file: String,
    pub(super) session_name: String,
    pub(super) sts_url: Url,
    pub(super) duration_seconds: u32,
}

/// ECS RAM role: where the metadata service is and how it is asked.
#[derive(Debug, Clone)]
pub(super) struct EcsSettings {
    pub(super) base: Url,
    pub(super) role_name: Option<String>,
    pub(super) imdsv1_disabled: bool,
}

/// Which provider the chain uses: the first of environment keys, RRSA, ECS metadata.
fn resolve_chain(config: &CloudConfig) -> Result<ChainSource, CloudError> {
    let env = Env(config.chain.env.clone());
    if let (Some(id), Some(secret)) = (env.get(env::ACCESS_KEY_ID), env.get(env::ACCESS_KEY_SECRET))
    {
        return Ok(ChainSource::Env(Credentials {
            access_key_id: id,
            access_key_secret: Secret::new(secret),
            security_token: env.get(env::SECURITY_TOKEN).map(Secret::new),
            expiration: None,
        }));
    }
    if let (Some(role_arn), Some(oidc_provider_arn), Some(token_file)) = (
        env.get(env::ROLE_ARN),
        env.get(env::OIDC_PROVIDER_ARN),
        env.get(env::OIDC_TOKEN_FILE),
    ) {
        let sts_url = sts_url(config, &env)?;
        return Ok(ChainSource::Oidc(OidcSettings {
            role_arn,
            oidc_provider_arn,
            token_file,
            session_name: env
                .get(env::ROLE_SESSION_NAME)
                .unwrap_or_else(|| "aliyun-backup-operator".to_string()),
            sts_url,
            duration_seconds: config.chain.sts_duration_seconds.max(900),
        }));
    }
    if config.chain.imds_disabled || env.flag(env::ECS_METADATA_DISABLED) {
        return Ok(ChainSource::None);
    }
    let base = match &config.chain.imds_endpoint {
        Some(u) => u.clone(),
        None => Url::parse(IMDS_DEFAULT).map_err(|e| cred_err(format!("metadata URL: {e}")))?,
    };
    Ok(ChainSource::Ecs(EcsSettings {
        base,
        role_name: env.get(env::ECS_METADATA),
        imdsv1_disabled: config.chain.imdsv1_disabled || env.flag(env::IMDSV1_DISABLED),
    }))
}

/// The STS endpoint of RRSA: a configured STS endpoint or override, else the environment's
/// endpoint or region (`sts[-vpc].<region>.aliyuncs.com`), else `sts.aliyuncs.com`.
fn sts_url(config: &CloudConfig, env: &Env) -> Result<Url, CloudError> {
    if let Some(url) = config.endpoints.get(&Product::Sts) {
        return Ok(url.clone());
    }
    if let Some(url) = &config.endpoint_override {
        return Ok(url.clone());
    }
    let host = if let Some(ep) = env.get(env::STS_ENDPOINT) {
        ep
    } else if let Some(region) = env.get(env::STS_REGION) {
        let prefix = if env.flag(env::VPC_ENDPOINT_ENABLED) {
            "sts-vpc"
        } else {
            "sts"
        };
        format!("{prefix}.{region}.aliyuncs.com")
    } else {
        "sts.aliyuncs.com".to_string()
    };
    let text = if host.starts_with("http://") || host.starts_with("https://") {
        host
    } else {
        format!("https://{host}/")
    };
    Url::parse(&text).map_err(|e| cred_err(format!("invalid STS endpoint: {e}")))
}

/// The operator's default credential chain with a cache.
///
/// Fresh credentials are returned from the cache without waiting. Within
/// `refresh_before_expiry` of `Expiration` one background refresh is started while callers
/// keep using the still-valid cached credentials; only when nothing valid is cached do callers
/// wait (one fetch for all of them).
pub struct DefaultChain {
    http: reqwest::Client,
    source: ChainSource,
    refresh_before: Duration,
    cached: RwLock<Option<Cached>>,
    refresh_lock: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
    /// When the last background refresh was started (limits STS/metadata calls while a
    /// refresh keeps failing).
    last_background: std::sync::Mutex<Option<std::time::Instant>>,
}

#[derive(Clone)]
struct Cached {
    creds: Credentials,
    fetched_at: jiff::Timestamp,
}

/// Minimum spacing of background refresh attempts.
const BACKGROUND_RETRY: Duration = Duration::from_secs(10);

impl std::fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultChain")
            .field("source", &self.provider_name())
            .finish_non_exhaustive()
    }
}

/// Margin under which cached credentials count as expired (never sent).
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

impl DefaultChain {
    /// Resolves which provider the chain uses from `config` (environment, RRSA, metadata).
    pub fn new(config: &CloudConfig, http: reqwest::Client) -> Result<Self, CloudError> {
        Ok(DefaultChain {
            http,
            source: resolve_chain(config)?,
            refresh_before: config.chain.refresh_before_expiry,
            cached: RwLock::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
            last_background: std::sync::Mutex::new(None),
        })
    }

    /// Name of the provider in use: `env`, `rrsa`, `ecs_ram_role` or `none`.
    pub fn provider_name(&self) -> &'static str {
        match &self.source {
            ChainSource::Env(_) => "env",
            ChainSource::Oidc(_) => "rrsa",
            ChainSource::Ecs(_) => "ecs_ram_role",
            ChainSource::None => "none",
        }
    }

    /// How many times credentials were fetched from STS/metadata so far.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The credentials the chain holds now (not refreshed; `None` before the first use).
    pub(crate) fn current(&self) -> Option<Credentials> {
        self.cached().map(|c| c.creds)
    }

    fn cached(&self) -> Option<Cached> {
        self.cached.read().ok().and_then(|g| g.clone())
    }

    /// Within the refresh window before `Expiration`: `refresh_before_expiry`, but at most
    /// half the credentials' lifetime (so short-lived credentials are not refreshed on
    /// every call).
    fn needs_refresh(&self, c: &Cached, now: jiff::Timestamp) -> bool {
        let Some(exp) = c.creds.expiration else {
            return false;
        };
        if exp <= now {
            return true;
        }
        let lifetime = exp.duration_since(c.fetched_at).unsigned_abs();
        let window = self.refresh_before.min(lifetime / 2);
        exp.duration_since(now).unsigned_abs() <= window
    }

    fn usable(c: &Credentials, now: jiff::Timestamp) -> bool {
        match c.expiration {
            None => true,
            Some(exp) => exp > now && exp.duration_since(now).unsigned_abs() > EXPIRY_MARGIN,
        }
    }

    async fn fetch(&self) -> Result<Credentials, CloudError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let creds = match &self.source {
            ChainSource::Env(c) => Ok(c.clone()),
            ChainSource::Oidc(s) => fetch_oidc(&self.http, s).await,
            ChainSource::Ecs(s) => fetch_ecs(&self.http, s).await,
            ChainSource::None => Err(cred_err(
                "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, configure RRSA, \
                 run on ECS with a RAM role, or reference a credentials Secret",
            )),
        }?;
        if let Ok(mut g) = self.cached.write() {
            *g = Some(Cached {
                creds: creds.clone(),
                fetched_at: jiff::Timestamp::now(),
            });
        }
        Ok(creds)
    }

    /// Refreshes under the lock unless another task already did.
    async fn refresh_locked(&self) -> Result<Credentials, CloudError> {
        let _guard = self.refresh_lock.lock().await;
        let now = jiff::Timestamp::now();
        if let Some(c) = self.cached()
            && !self.needs_refresh(&c, now)
        {
            return Ok(c.creds);
        }
        self.fetch().await
    }

    /// Current credentials (see the type docs for the caching rules).
    pub async fn get(self: &Arc<Self>) -> Result<Credentials, CloudError> {
        let now = jiff::Timestamp::now();
        if let Some(c) = self.cached() {
            if !self.needs_refresh(&c, now) {
                return Ok(c.creds);
            }
            if Self::usable(&c.creds, now) {
                // Refresh in the background; keep serving the valid credentials.
                if self.may_start_background()
                    && let Ok(guard) = self.refresh_lock.try_lock()
                {
                    drop(guard);
                    let this = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(e) = this.refresh_locked().await {
                            tracing::warn!(error = %e, "background credentials refresh failed");
                        }
                    });
                }
                return Ok(c.creds);
            }
        }
        self.refresh_locked().await
    }

    /// Test hook: makes the cached credentials `d` older (as if wall time had passed).
    #[cfg(test)]
    pub(crate) fn age_cache(&self, d: Duration) {
        if let Ok(mut g) = self.cached.write()
            && let Some(c) = g.as_mut()
        {
            let span = jiff::SignedDuration::try_from(d).unwrap_or_default();
            c.fetched_at = c.fetched_at.checked_sub(span).unwrap_or(c.fetched_at);
            if let Some(exp) = c.creds.expiration {
                c.creds.expiration = Some(exp.checked_sub(span).unwrap_or(exp));
            }
        }
    }

    fn may_start_background(&self) -> bool {
        let Ok(mut last) = self.last_background.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < BACKGROUND_RETRY) {
            return false;
        }
        *last = Some(now);
        true
    }
}
