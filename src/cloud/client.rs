//! The production [`CloudProvider`]: transport (reqwest), signing, rate limiting, retries,
//! envelope decoding and metrics.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::api::{
    BackupPlanDetail, DbsApi, DescribeBackupJobs2Request, DescribeBackupPlanListRequest, HbrApi,
    HbrBackupJob, RdsApi, RdsBackupJob,
};
use super::breaker::{Breakers, CredentialRefusal, Fingerprint, Outcome, credential_label};
use super::config::{CloudConfig, SignatureVersion};
use super::credentials::{CredentialSource, Credentials, DefaultChain};
use super::endpoint;
use super::error::{CloudError, ErrorKind, is_throttling_code};
use super::observe::Observer;
use super::params::{Params, encode_pairs};
use super::ratelimit::{BucketKey, RateLimiters};
use super::retry::{Decision, Idempotency, decide};
use super::sign;
use super::{CloudProvider, DbsRestoreApi, HbrRestoreApi, Product, RdsRestoreApi, Target};

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

/// A signed request, before sending.
pub(crate) struct Signed {
    pub(crate) url: url::Url,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<String>,
}

fn now_iso() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `host[:port]` as sent in the `Host` header.
fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Builds and signs one request. Pure: the date and nonce are inputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_request(
    version: SignatureVersion,
    product: Product,
    action: &str,
    base: &url::Url,
    params: &Params,
    creds: &Credentials,
    date: &str,
    nonce: &str,
) -> Signed {
    let mut url = base.clone();
    let path = if url.path().is_empty() {
        "/".to_string()
    } else {
        url.path().to_string()
    };
    let body = if params.body.is_empty() {
        None
    } else {
        Some(encode_pairs(&params.body))
    };
    match version {
        SignatureVersion::V3 => {
            let mut query = params.query.clone();
            query.sort();
            let payload = body.as_deref().unwrap_or("");
            let payload_hash = sign::sha256_hex(payload.as_bytes());
            let mut signed: Vec<(String, String)> = vec![
                ("host".into(), host_header(&url)),
                ("x-acs-action".into(), action.to_string()),
                ("x-acs-version".into(), product.api_version().to_string()),
                ("x-acs-date".into(), date.to_string()),
                ("x-acs-signature-nonce".into(), nonce.to_string()),
                ("x-acs-content-sha256".into(), payload_hash.clone()),
            ];
            if let Some(token) = &creds.security_token {
                signed.push(("x-acs-security-token".into(), token.expose().to_string()));
                signed.push(("x-acs-accesskey-id".into(), creds.access_key_id.clone()));
            }
            if body.is_some() {
                signed.push((
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            let sig = sign::sign_v3(
                "POST",
                &path,
                &query,
                &signed,
                &payload_hash,
                &creds.access_key_id,
                creds.access_key_secret.expose(),
            );
            let encoded = encode_pairs(&query);
            url.set_query(if query.is_empty() {
                None
            } else {
                Some(&encoded)
            });
            let mut headers: Vec<(String, String)> =
                signed.into_iter().filter(|(k, _)| k != "host").collect();
            headers.push(("authorization".into(), sig.authorization));
            headers.push(("accept".into(), "application/json".into()));
            Signed { url, headers, body }
        }
        SignatureVersion::V1 => {
            let mut query: Vec<(String, String)> = vec![
                ("Action".into(), action.to_string()),
                ("Format".into(), "JSON".into()),
                ("Version".into(), product.api_version().to_string()),
                ("AccessKeyId".into(), creds.access_key_id.clone()),
                ("SignatureMethod".into(), "HMAC-SHA1".into()),
                ("SignatureVersion".into(), "1.0".into()),
                ("SignatureNonce".into(), nonce.to_string()),
                ("Timestamp".into(), date.to_string()),
            ];
            if let Some(token) = &creds.security_token {
                query.push(("SecurityToken".into(), token.expose().to_string()));
            }
            query.extend(params.query.iter().cloned());
            let mut all = query.clone();
            all.extend(params.body.iter().cloned());
            let signature = sign::sign_v1("POST", &all, creds.access_key_secret.expose());
            query.push(("Signature".into(), signature));
            url.set_query(Some(&encode_pairs(&query)));
            let mut headers = vec![("accept".into(), "application/json".into())];
            if body.is_some() {
                headers.push((
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            Signed { url, headers, body }
        }
    }
}

/// Parses `x-acs-retry-after` (milliseconds, positive integer; as the official SDK does).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get("x-acs-retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()?;
    (v > 0).then(|| Duration::from_millis(v as u64))
}

fn str_field(obj: &serde_json::Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match obj.get(*n) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn success_flag(obj: &serde_json::Map<String, Value>) -> Option<bool> {
    match obj.get("Success").or_else(|| obj.get("success")) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

const OK_CODES: &[&str] = &["200", "success", "Success", "SUCCESS", "OK", "ok", "0"];

/// Decodes a response of `product`/`action` into `T`, or a typed error. Never panics.
pub(crate) fn decode<T: DeserializeOwned>(
    product: Product,
    action: &str,
    status: u16,
    retry_after: Option<Duration>,
    header_request_id: Option<String>,
    body: &[u8],
) -> Result<T, CloudError> {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let obj = match parsed {
        Ok(Value::Object(obj)) => Some(obj),
        _ => None,
    };
    let Some(obj) = obj else {
        if status >= 400 {
            // Non-JSON error body (e.g. a gateway page): classify by status.
            return Err(CloudError::api(
                product,
                action,
                status,
                None,
                Some(format!("HTTP {status} with a non-JSON body")),
                header_request_id,
            )
            .with_retry_after(retry_after));
        }
        let err = CloudError::new(
            product,
            action,
            ErrorKind::Decode,
            "the response body is not a JSON object",
        )
        .with_status(status)
        .with_request_id(header_request_id);
        return Err(match serde_json::from_slice::<Value>(body) {
            Err(e) => err.with_source(e),
            Ok(_) => err,
        });
    };
    let request_id = str_field(&obj, &["RequestId", "requestId"]).or(header_request_id);
    let code = str_field(&obj, &["Code", "code", "ErrCode", "errCode"]);
    let message = str_field(&obj, &["Message", "message", "ErrMessage", "errMessage"]);
    let success = success_flag(&obj);
    // RDS: HTTP status. DBS/HBR: `Success: false` in an HTTP 200 body, or (as Terraform
    // checks) a `Code` that is not a success code when `Success` is absent.
    let failed = status >= 400
        || success == Some(false)
        || (product != Product::Rds
            && success.is_none()
            && code.as_deref().is_some_and(|c| !OK_CODES.contains(&c)));
    if failed {
        // DBS reports the would-be HTTP status in the body.
        let effective_status = if status < 400 {
            obj.get("HttpStatusCode")
                .and_then(|v| match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n >= 400)
                .unwrap_or(status)
        } else {
            status
        };
        return Err(
            CloudError::api(product, action, effective_status, code, message, request_id)
                .with_retry_after(retry_after),
        );
    }
    serde_json::from_value::<T>(Value::Object(obj)).map_err(|e| {
        CloudError::new(
            product,
            action,
            ErrorKind::Decode,
            "unexpected response shape",
        )
        .with_status(status)
        .with_request_id(request_id)
        .with_source(e)
    })
}

impl ProductClient {
    /// Sends `call` with rate limiting, signing, retries and metrics; decodes into `T`.
    pub(crate) async fn execute<T: DeserializeOwned>(&self, call: Call) -> Result<T, CloudError> {
        self.execute_paid::<T>(call, false).await
    }

    /// The rate-limit bucket of this client's account, region and product.
    fn bucket_key(&self) -> BucketKey {
        // The default chain's temporary key id changes on every refresh; keep one bucket.
        let identity = match &self.credentials {
            CredentialSource::Static(s) => s.access_key_id.trim().to_string(),
            CredentialSource::Default => "default-chain".to_string(),
        };
        BucketKey {
            access_key_id: identity,
            region: self.region.clone(),
            product: self.product,
        }
    }

    /// Waits until the rate limiter grants one request of this client, for a call sent with
    /// [`Self::execute_paid`] `paid = true` (an observer round takes its token before it
    /// closes, so askers keep joining while it waits).
    pub(crate) async fn pay(&self) {
        self.shared.limiters.acquire(&self.bucket_key()).await;
    }

    /// [`Self::execute`]; with `paid`, the first attempt's token was taken with [`Self::pay`]
    /// (retries take their own).
    pub(crate) async fn execute_paid<T: DeserializeOwned>(
        &self,
        call: Call,
        paid: bool,
    ) -> Result<T, CloudError> {
        let shared = &self.shared;
        let cfg = &shared.config;
        let product = self.product;
        let base = endpoint::base_url(cfg, product, &self.region)
            .map_err(|m| CloudError::new(product, call.action, ErrorKind::InvalidRequest, m))?;
        let started = cfg.time.now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result = self.attempt::<T>(&call, &base, paid && attempt == 1).await;
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let elapsed = cfg.time.now().saturating_sub(started);
            let decision = decide(
                &cfg.retry,
                call.idempotency,
                &err,
                attempt,
                elapsed,
                &mut rand::rng(),
            );
            match decision {
                Decision::GiveUp => return Err(err),
                Decision::RetryAfter(delay) => {
                    tracing::debug!(
                        product = product.as_str(),
                        action = call.action,
                        attempt,
                        error = err.name(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying Alibaba Cloud call"
                    );
                    cfg.time.sleep(delay).await;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        base: &url::Url,
        paid: bool,
    ) -> Result<T, CloudError> {
        let shared = &self.shared;
        let cfg = &shared.config;
        let product = self.product;
        let creds = shared
            .credentials(&self.credentials)
            .await
            .map_err(|mut e| {
                e.product = product;
                e.action = call.action.to_string();
                e
            })?;
        // A credential the service refused a moment ago is not sent again (see `breaker`).
        let label = credential_label(&self.credentials);
        let permit = match shared.breakers.admit(Fingerprint::of(&creds)) {
            Ok(p) => p,
            Err(refusal) => {
                cfg.metrics.breaker_rejected(&refusal.credential);
                return Err(super::breaker::refused_error(
                    product,
                    call.action,
                    &refusal,
                ));
            }
        };
        let key = self.bucket_key();
        if !paid {
            shared.limiters.acquire(&key).await;
        }
        let signed = sign_request(
            cfg.signature_version,
            product,
            call.action,
            base,
            &call.params,
            &creds,
            &now_iso(),
            &nonce(),
        );
        let t0 = cfg.time.now();
        let mut req = shared.http.post(signed.url);
        for (k, v) in &signed.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req = match signed.body {
            Some(b) => req.body(b),
            None => req.header("content-length", "0"),
        };
        let result = self
            .send_and_decode::<T>(call.action, req)
            .await
            .map_err(|mut e| {
                e.message = scrub_message(&e.message, &creds);
                e
            });
        let elapsed = cfg.time.now().saturating_sub(t0);
        let code = match &result {
            Ok(_) => "Success",
            Err(e) => e.code.as_deref().map(label_code).unwrap_or(e.name()),
        };
        cfg.metrics
            .observe(product.as_str(), call.action, code, elapsed);
        tracing::debug!(
            product = product.as_str(),
            action = call.action,
            region = %self.region,
            code,
            request_id = match &result {
                Err(e) => e.request_id().unwrap_or(""),
                Ok(_) => "",
            },
            elapsed_ms = elapsed.as_millis() as u64,
            "Alibaba Cloud call"
        );
        if let Err(e) = &result
            && (e.is_throttling() || e.code.as_deref().is_some_and(is_throttling_code))
        {
            cfg.metrics.throttled(product.as_str());
            shared.limiters.penalize(&key);
        }
        shared.breakers.record(permit, &label, Outcome::of(&result));
        result
    }

    async fn send_and_decode<T: DeserializeOwned>(
        &self,
        action: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, CloudError> {
        let product = self.product;
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(product, action, e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let header_request_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut resp = resp;
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport_error(product, action, e).with_status(status))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(CloudError::new(
                    product,
                    action,
                    ErrorKind::Decode,
                    format!("response body larger than {MAX_BODY_BYTES} bytes"),
                )
                .with_status(status)
                .with_request_id(header_request_id));
            }
            body.extend_from_slice(&chunk);
        }
        decode::<T>(
            product,
            action,
            status,
            retry_after,
            header_request_id,
            &body,
        )
    }
}

/// Removes credentials from a service error message. `SignatureDoesNotMatch` messages echo
/// the server's string to sign, which contains the security token (V1 query, V3 header);
/// that part is dropped, and any remaining occurrence of the secret or token (raw,
/// percent-encoded or double-encoded) is masked.
pub(crate) fn scrub_message(message: &str, creds: &Credentials) -> String {
    let mut out = message.to_string();
    if let Some(pos) = out.to_ascii_lowercase().find("string to sign") {
        out.truncate(pos);
        out = out.trim_end_matches([' ', ':', ',', '.']).to_string();
        out.push_str(" (server string to sign omitted)");
    }
    let mut needles: Vec<String> = Vec::new();
    for secret in [
        Some(&creds.access_key_secret),
        creds.security_token.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let raw = secret.expose();
        if raw.len() < 4 {
            continue;
        }
        let once = super::params::percent_encode(raw);
        let twice = super::params::percent_encode(&once);
        needles.extend([raw.to_string(), once, twice]);
    }
    for n in needles {
        if out.contains(&n) {
            out = out.replace(&n, "***");
        }
    }
    out
}

/// Largest response body accepted (the APIs answer with a few KiB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Keeps metric label values bounded: codes are short identifiers.
fn label_code(code: &str) -> &str {
    if code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        code
    } else {
        "Other"
    }
}

fn transport_error(product: Product, action: &str, e: reqwest::Error) -> CloudError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    let message = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // `without_url`: V1 URLs carry the signature and the security token.
    CloudError::new(product, action, kind, message).with_source(e.without_url())
}
