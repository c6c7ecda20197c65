//! Sending a call: rate limiting, the credential breaker, signing, retries, metrics and the
//! scrubbing of secrets from service messages.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::super::breaker::{self, Fingerprint, Outcome, Permit, credential_label};
use super::super::credentials::{CredentialSource, Credentials};
use super::super::endpoint;
use super::super::error::{CloudError, ErrorKind, is_throttling_code};
use super::super::ratelimit::BucketKey;
use super::super::retry::{Decision, decide};
use super::super::{Product, params};
use super::decode::{decode, retry_after};
use super::request::{nonce, now_iso, sign_request};
use super::{Call, ProductClient};

/// Largest response body accepted (the APIs answer with a few KiB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

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

    /// One try of `call`: credentials, breaker, rate limit, signed send, then the metrics and
    /// what the breaker learns from the answer.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        base: &url::Url,
        paid: bool,
    ) -> Result<T, CloudError> {
        let shared = &self.shared;
        let cfg = &shared.config;
        let creds = shared
            .credentials(&self.credentials)
            .await
            .map_err(|mut e| {
                e.product = self.product;
                e.action = call.action.to_string();
                e
            })?;
        // A credential the service refused a moment ago is not sent again (see `breaker`).
        let label = credential_label(&self.credentials);
        let permit = self.admit(&creds, call.action)?;
        let key = self.bucket_key();
        if !paid {
            shared.limiters.acquire(&key).await;
        }
        let req = self.signed_request(call, base, &creds);
        let t0 = cfg.time.now();
        let result = self
            .send_and_decode::<T>(call.action, req)
            .await
            .map_err(|mut e| {
                e.message = scrub_message(&e.message, &creds);
                e
            });
        let elapsed = cfg.time.now().saturating_sub(t0);
        self.account(call.action, &key, &result, elapsed);
        shared.breakers.record(permit, &label, Outcome::of(&result));
        result
    }

    /// The breaker's permission to send with `creds`, or the error of a held-back call.
    fn admit(&self, creds: &Credentials, action: &str) -> Result<Permit, CloudError> {
        match self.shared.breakers.admit(Fingerprint::of(creds)) {
            Ok(p) => Ok(p),
            Err(refusal) => {
                self.shared
                    .config
                    .metrics
                    .breaker_rejected(&refusal.credential);
                Err(breaker::refused_error(self.product, action, &refusal))
            }
        }
    }

    /// `call` signed with `creds` as a request of the shared HTTP client.
    fn signed_request(
        &self,
        call: &Call,
        base: &url::Url,
        creds: &Credentials,
    ) -> reqwest::RequestBuilder {
        let signed = sign_request(
            self.shared.config.signature_version,
            self.product,
            call.action,
            base,
            &call.params,
            creds,
            &now_iso(),
            &nonce(),
        );
        let mut req = self.shared.http.post(signed.url);
        for (k, v) in &signed.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match signed.body {
            Some(b) => req.body(b),
            None => req.header("content-length", "0"),
        }
    }

    /// Metrics and the debug log of one attempt; a throttled answer slows the bucket down.
    fn account<T>(
        &self,
        action: &str,
        key: &BucketKey,
        result: &Result<T, CloudError>,
        elapsed: Duration,
    ) {
        let cfg = &self.shared.config;
        let product = self.product;
        let code = match result {
            Ok(_) => "Success",
            Err(e) => e.code.as_deref().map(label_code).unwrap_or(e.name()),
        };
        cfg.metrics.observe(product.as_str(), action, code, elapsed);
        tracing::debug!(
            product = product.as_str(),
            action,
            region = %self.region,
            code,
            request_id = match result {
                Err(e) => e.request_id().unwrap_or(""),
                Ok(_) => "",
            },
            elapsed_ms = elapsed.as_millis() as u64,
            "Alibaba Cloud call"
        );
        if let Err(e) = result
            && (e.is_throttling() || e.code.as_deref().is_some_and(is_throttling_code))
        {
            cfg.metrics.throttled(product.as_str());
            self.shared.limiters.penalize(key);
        }
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
        let once = params::percent_encode(raw);
        let twice = params::percent_encode(&once);
        needles.extend([raw.to_string(), once, twice]);
    }
    for n in needles {
        if out.contains(&n) {
            out = out.replace(&n, "***");
        }
    }
    out
}

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
