//! Authentication and limits: the timestamp window, AccessKeys and STS tokens, V3
//! (`ACS3-HMAC-SHA256`) and V1 (HMAC-SHA1) signatures, signature nonces, per-key QPS.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;

use super::wire::{Parsed, header_str};
use super::{Caller, Inner, Shared, real_ms};
use crate::api::{ApiError, iso_seconds};
use crate::config::EmulatorConfig;
use crate::sign;

fn check_time(value: &str, window: Duration) -> Result<(), ApiError> {
    let ts = crate::api::parse_iso(value).ok_or_else(|| {
        ApiError::gateway(
            400,
            "InvalidTimeStamp.Format",
            format!("Specified time stamp or date value is not well formatted: {value}."),
        )
    })?;
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    if (real_ms() - ts).abs() > window_ms {
        return Err(ApiError::gateway(
            400,
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired. The request time {value} differs from the server time {} by more than 15 minutes.",
                iso_seconds(real_ms())
            ),
        ));
    }
    Ok(())
}

/// Looks up the secret for an AccessKey id, checking STS tokens.
fn secret_for(
    inner: &Inner,
    cfg: &EmulatorConfig,
    ak: &str,
    token: Option<&str>,
    now: i64,
) -> Result<String, ApiError> {
    if let Some((_, secret)) = cfg.credentials.iter().find(|(id, _)| id == ak) {
        return Ok(secret.clone());
    }
    if let Some(c) = inner.world.sts.creds.get(ak) {
        let Some(token) = token else {
            return Err(ApiError::gateway(
                400,
                "InvalidSecurityToken.Malformed",
                "The AccessKey is a temporary STS key but no security token was sent.",
            ));
        };
        if token != c.security_token {
            return Err(ApiError::gateway(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The security token does not match the AccessKey.",
            ));
        }
        if now >= c.expiration_ms {
            return Err(ApiError::gateway(
                400,
                "InvalidSecurityToken.Expired",
                "The security token you provided has expired.",
            ));
        }
        return Ok(c.access_key_secret.clone());
    }
    Err(ApiError::gateway(
        404,
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    ))
}

fn use_nonce(inner: &mut Inner, ak: &str, nonce: &str, window_ms: i64) -> Result<(), ApiError> {
    let now = real_ms();
    inner.nonces.retain(|_, t| now - *t <= 2 * window_ms);
    let key = format!("{ak}\n{nonce}");
    if inner.nonces.contains_key(&key) {
        return Err(ApiError::gateway(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    inner.nonces.insert(key, now);
    Ok(())
}

/// Authenticates a signed call: V3 when it has an `Authorization` header, else RPC V1.
pub(super) fn authenticate(
    shared: &Shared,
    req: &Parsed,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Caller, ApiError> {
    if let Some(auth) = header_str(headers, "authorization") {
        return authenticate_v3(shared, req, headers, body, auth);
    }
    if header_str(headers, "x-acs-action").is_some() && req.params.raw("Signature").is_none() {
        return Err(ApiError::gateway(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: no Authorization header.",
        ));
    }
    authenticate_v1(shared, req)
}

/// How long a nonce is remembered for: twice the timestamp window.
fn window_ms(cfg: &EmulatorConfig) -> i64 {
    i64::try_from(cfg.timestamp_window.as_millis()).unwrap_or(i64::MAX)
}

/// Every `x-acs-*` header, `host` and `content-type` must be covered by the signature.
fn check_signed_headers(headers: &HeaderMap, signed: &[String]) -> Result<(), ApiError> {
    let mut must: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_ascii_lowercase())
        .filter(|k| k.starts_with("x-acs-") || k == "host" || k == "content-type")
        .collect();
    must.push("host".into());
    for h in must {
        if !signed.contains(&h) {
            return Err(ApiError::gateway(
                400,
                "IncompleteSignature",
                format!(
                    "The request signature does not conform to Aliyun standards: header \"{h}\" must be signed."
                ),
            ));
        }
    }
    Ok(())
}

/// The SHA-256 of the body, which `x-acs-content-sha256` (when sent) must match.
fn content_sha256(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    let payload = sign::sha256_hex(body);
    if let Some(h) = header_str(headers, "x-acs-content-sha256")
        && !h.eq_ignore_ascii_case(&payload)
    {
        return Err(ApiError::gateway(
            400,
            "SignatureDoesNotMatch",
            "The x-acs-content-sha256 header does not match the SHA-256 of the body.",
        ));
    }
    Ok(payload)
}

/// V3 (`ACS3-HMAC-SHA256`): the canonical request rebuilt from the request's own
/// `SignedHeaders`.
fn authenticate_v3(
    shared: &Shared,
    req: &Parsed,
    headers: &HeaderMap,
    body: &Bytes,
    auth: &str,
) -> Result<Caller, ApiError> {
    let cfg = &shared.config;
    let a = sign::parse_v3_authorization(auth)
        .map_err(|m| ApiError::gateway(400, "IncompleteSignature", m))?;
    check_signed_headers(headers, &a.signed_headers)?;
    let date = header_str(headers, "x-acs-date").ok_or_else(|| ApiError::missing("x-acs-date"))?;
    let nonce = header_str(headers, "x-acs-signature-nonce")
        .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?;
    check_time(date, cfg.timestamp_window)?;
    let payload = content_sha256(headers, body)?;
    let mut inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    let secret = secret_for(
        &inner,
        cfg,
        &a.access_key_id,
        header_str(headers, "x-acs-security-token"),
        now,
    )?;
    let cr = sign::v3_canonical_request(
        &req.method,
        &req.path,
        &req.query,
        &a.signed_headers,
        |n| {
            headers
                .get_all(n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        },
        &payload,
    );
    let sts = sign::v3_string_to_sign(&cr);
    let expected = sign::v3_sign(&secret, &sts);
    if !sign::constant_time_eq(&expected, &a.signature.to_ascii_lowercase()) {
        return Err(ApiError::gateway(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{}",
                sts.replace('\n', "\\n")
            ),
        ));
    }
    use_nonce(&mut inner, &a.access_key_id, nonce, window_ms(cfg))?;
    Ok(Caller {
        access_key_id: Some(a.access_key_id),
        scheme: "V3",
    })
}

/// RPC V1 (HMAC-SHA1): query and form-body parameters signed together.
fn authenticate_v1(shared: &Shared, req: &Parsed) -> Result<Caller, ApiError> {
    let cfg = &shared.config;
    let p = &req.params;
    let signature = p.req("Signature")?;
    let ak = p.req("AccessKeyId")?;
    let method = p.req("SignatureMethod")?;
    let version = p.req("SignatureVersion")?;
    let nonce = p.req("SignatureNonce")?;
    let ts = p.req("Timestamp")?;
    if method != "HMAC-SHA1" || version != "1.0" {
        return Err(ApiError::gateway(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.",
        ));
    }
    check_time(ts, cfg.timestamp_window)?;
    let mut inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    let secret = secret_for(&inner, cfg, ak, p.opt("SecurityToken"), now)?;
    let all: Vec<(String, String)> = req
        .query
        .iter()
        .chain(req.body_pairs.iter())
        .cloned()
        .collect();
    let sts = sign::v1_string_to_sign(&req.method, &all);
    let expected = sign::v1_sign(&secret, &sts);
    if !sign::constant_time_eq(&expected, signature) {
        return Err(ApiError::gateway(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{sts}"
            ),
        ));
    }
    use_nonce(&mut inner, ak, nonce, window_ms(cfg))?;
    Ok(Caller {
        access_key_id: Some(ak.to_owned()),
        scheme: "V1",
    })
}

pub(super) fn check_qps(shared: &Shared, inner: &mut Inner, ak: &str) -> Result<(), ApiError> {
    let Some(limit) = shared.config.qps else {
        return Ok(());
    };
    let now = real_ms();
    let q = inner.qps.entry(ak.to_owned()).or_default();
    while q.front().is_some_and(|t| now - *t >= 1000) {
        q.pop_front();
    }
    if q.len() >= limit as usize {
        return Err(ApiError::gateway(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        ));
    }
    q.push_back(now);
    Ok(())
}
