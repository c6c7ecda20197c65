//! Credentials: static key pairs and the operator's default provider chain.

use super::secret::Secret;

/// A key pair given explicitly (from a Kubernetes Secret), optionally with an STS token.
///
/// `Debug` redacts the secret and the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StaticCredentials {
    /// AccessKey ID (not secret; appears in signatures and metrics keys, never in labels).
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// STS security token, for temporary credentials.
    pub security_token: Option<Secret>,
}

/// Which credentials a [`super::Target`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum CredentialSource {
    /// An explicit key pair (from a `credentialsRef` Secret).
    Static(StaticCredentials),
    /// The operator's own chain: environment → RRSA (OIDC) → ECS RAM role.
    #[default]
    Default,
}

/// Credentials resolved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKey ID.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// STS security token, when the credentials are temporary.
    pub security_token: Option<Secret>,
    /// When temporary credentials expire.
    pub expiration: Option<jiff::Timestamp>,
}

impl From<&StaticCredentials> for Credentials {
    fn from(s: &StaticCredentials) -> Self {
        // Secret values often carry a trailing newline (`echo … | base64`); keys and tokens
        // never contain whitespace, so it is trimmed.
        Credentials {
            access_key_id: s.access_key_id.trim().to_string(),
            access_key_secret: Secret::new(s.access_key_secret.expose().trim()),
            security_token: s
                .security_token
                .as_ref()
                .map(|t| Secret::new(t.expose().trim()))
                .filter(|t| !t.is_empty()),
            expiration: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Default chain: environment → RRSA (OIDC) → ECS RAM role.
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::Product;
use super::config::CloudConfig;
use super::error::{CloudError, ErrorKind};

/// Environment variable names of the default chain (those of Alibaba's credential providers; see `docs/credentials.md`).
pub mod env {
    /// AccessKey ID.
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    /// AccessKey secret.
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    /// STS token for static temporary credentials.
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    /// RRSA: role ARN.
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    /// RRSA: OIDC provider ARN.
    pub const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
    /// RRSA: path of the projected OIDC token (re-read on every refresh).
    pub const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
    /// RRSA: session name.
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    /// RRSA: STS region (`sts.<region>.aliyuncs.com`).
    pub const STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
    /// RRSA: use `sts-vpc.<region>.aliyuncs.com`.
    pub const VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
    /// RRSA: explicit STS endpoint host.
    pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
    /// ECS: RAM role name (skips the role-name lookup).
    pub const ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
    /// ECS: disable the metadata provider.
    pub const ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
    /// ECS: refuse IMDSv1.
    pub const IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
}

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

#[derive(Debug, Clone)]
struct OidcSettings {
    role_arn: String,
    oidc_provider_arn: String,
    token_file: String,
    session_name: String,
    sts_url: Url,
    duration_seconds: u32,
}

#[derive(Debug, Clone)]
struct EcsSettings {
    base: Url,
    role_name: Option<String>,
    imdsv1_disabled: bool,
}

fn cred_err(message: impl Into<String>) -> CloudError {
    CloudError::new(Product::Sts, "Credentials", ErrorKind::Credentials, message)
}

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
        let sts_url = if let Some(url) = config.endpoints.get(&Product::Sts) {
            url.clone()
        } else if let Some(url) = &config.endpoint_override {
            url.clone()
        } else {
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
            Url::parse(&text).map_err(|e| cred_err(format!("invalid STS endpoint: {e}")))?
        };
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    credentials: Option<StsCredentials>,
    #[serde(default, deserialize_with = "super::api::de::opt_string")]
    code: Option<String>,
    #[serde(default, deserialize_with = "super::api::de::opt_string")]
    message: Option<String>,
    #[serde(default, deserialize_with = "super::api::de::opt_string")]
    request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EcsCredentialsBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    access_key_secret: Option<String>,
    #[serde(default)]
    security_token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

fn parse_expiration(s: &str) -> Result<jiff::Timestamp, CloudError> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .map_err(|e| cred_err(format!("invalid Expiration {s:?}: {e}")))
}

fn transport_err(action: &str, e: reqwest::Error) -> CloudError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Credentials
    };
    CloudError::new(Product::Sts, action, kind, "request failed").with_source(e.without_url())
}

async fn fetch_oidc(http: &reqwest::Client, s: &OidcSettings) -> Result<Credentials, CloudError> {
    const ACTION: &str = "AssumeRoleWithOIDC";
    // Re-read on every refresh: the projected token rotates.
    let token = tokio::fs::read_to_string(&s.token_file)
        .await
        .map_err(|e| {
            CloudError::new(
                Product::Sts,
                ACTION,
                ErrorKind::Credentials,
                "cannot read the OIDC token file",
            )
            .with_source(e)
        })?;
    let timestamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let query = vec![
        ("Action".to_string(), ACTION.to_string()),
        ("Format".to_string(), "JSON".to_string()),
        (
            "Version".to_string(),
            Product::Sts.api_version().to_string(),
        ),
        (
            "DurationSeconds".to_string(),
            s.duration_seconds.to_string(),
        ),
        ("RoleArn".to_string(), s.role_arn.clone()),
        ("OIDCProviderArn".to_string(), s.oidc_provider_arn.clone()),
        ("OIDCToken".to_string(), token.trim().to_string()),
        ("RoleSessionName".to_string(), s.session_name.clone()),
        ("Timestamp".to_string(), timestamp),
    ];
    let mut url = s.sts_url.clone();
    url.set_query(Some(&super::params::encode_pairs(&query)));
    let resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| transport_err(ACTION, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| transport_err(ACTION, e))?;
    let parsed: Result<AssumeRoleResponse, _> = serde_json::from_slice(&body);
    match parsed {
        Ok(AssumeRoleResponse {
            credentials: Some(c),
            ..
        }) if status == 200 => Ok(Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: Secret::new(c.access_key_secret),
            security_token: Some(Secret::new(c.security_token)),
            expiration: Some(parse_expiration(&c.expiration)?),
        }),
        Ok(r) => Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            r.message
                .unwrap_or_else(|| "no Credentials in the STS response".to_string()),
        )
        .with_status(status)
        .with_request_id(r.request_id)
        .with_code(r.code)),
        Err(e) => Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "malformed STS response",
        )
        .with_status(status)
        .with_source(e)),
    }
}

async fn fetch_ecs(http: &reqwest::Client, s: &EcsSettings) -> Result<Credentials, CloudError> {
    const ACTION: &str = "EcsRamRole";
    let join = |path: &str| {
        s.base.join(path).map_err(|e| {
            CloudError::new(
                Product::Sts,
                ACTION,
                ErrorKind::Credentials,
                format!("metadata URL: {e}"),
            )
        })
    };
    // IMDSv2 token first.
    let token = match http
        .put(join("latest/api/token")?)
        .header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.text().await.ok().map(|t| t.trim().to_string()),
        Ok(r) if s.imdsv1_disabled => {
            return Err(CloudError::new(
                Product::Sts,
                ACTION,
                ErrorKind::Credentials,
                "cannot get an IMDSv2 token and IMDSv1 is disabled",
            )
            .with_status(r.status().as_u16()));
        }
        Err(e) if s.imdsv1_disabled => return Err(transport_err(ACTION, e)),
        _ => None,
    };
    let get = |path: String| {
        let mut req = http.get(join(&path)?);
        if let Some(t) = &token {
            req = req.header("X-aliyun-ecs-metadata-token", t.as_str());
        }
        Ok::<_, CloudError>(req)
    };
    let role = match &s.role_name {
        Some(r) => r.clone(),
        None => {
            let r = get("latest/meta-data/ram/security-credentials/".to_string())?
                .send()
                .await
                .map_err(|e| transport_err(ACTION, e))?;
            let status = r.status().as_u16();
            if status != 200 {
                return Err(CloudError::new(
                    Product::Sts,
                    ACTION,
                    ErrorKind::Credentials,
                    "cannot read the RAM role name from the metadata service",
                )
                .with_status(status));
            }
            let text = r.text().await.map_err(|e| transport_err(ACTION, e))?;
            text.lines().next().unwrap_or("").trim().to_string()
        }
    };
    if role.is_empty() || role.contains('/') {
        return Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "no RAM role attached to this instance",
        ));
    }
    let r = get(format!("latest/meta-data/ram/security-credentials/{role}"))?
        .send()
        .await
        .map_err(|e| transport_err(ACTION, e))?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|e| transport_err(ACTION, e))?;
    if status != 200 {
        return Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "metadata service refused the credentials request",
        )
        .with_status(status));
    }
    let c: EcsCredentialsBody = serde_json::from_slice(&body).map_err(|e| {
        CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "malformed metadata response",
        )
        .with_source(e)
    })?;
    match (
        c.code.as_deref(),
        c.access_key_id,
        c.access_key_secret,
        c.security_token,
        c.expiration,
    ) {
        (Some("Success") | None, Some(id), Some(secret), Some(token), Some(exp)) => {
            Ok(Credentials {
                access_key_id: id,
                access_key_secret: Secret::new(secret),
                security_token: Some(Secret::new(token)),
                expiration: Some(parse_expiration(&exp)?),
            })
        }
        _ => Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "metadata service returned no usable credentials",
        )),
    }
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
        let source = match &self.source {
            ChainSource::Env(_) => "env",
            ChainSource::Oidc(_) => "rrsa",
            ChainSource::Ecs(_) => "ecs_ram_role",
            ChainSource::None => "none",
        };
        f.debug_struct("DefaultChain")
            .field("source", &source)
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
