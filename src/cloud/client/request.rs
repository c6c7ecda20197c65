//! Building and signing one request (V3 `ACS3-HMAC-SHA256` headers or a V1 signed query).
//! Pure: the date and nonce are inputs, so the wire format is tested byte for byte.

use super::super::config::SignatureVersion;
use super::super::credentials::Credentials;
use super::super::params::{Params, encode_pairs};
use super::super::{Product, sign};

/// A signed request, before sending.
pub(crate) struct Signed {
    pub(crate) url: url::Url,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<String>,
}

/// The current time as sent in `x-acs-date` / `Timestamp`.
pub(super) fn now_iso() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A fresh signature nonce.
pub(super) fn nonce() -> String {
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

/// The `content-type` of a form body.
fn form_content_type() -> (String, String) {
    (
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    )
}

/// What is signed, whatever the signature version.
struct Parts<'a> {
    product: Product,
    action: &'a str,
    params: &'a Params,
    creds: &'a Credentials,
    date: &'a str,
    nonce: &'a str,
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
    let url = base.clone();
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
    let parts = Parts {
        product,
        action,
        params,
        creds,
        date,
        nonce,
    };
    match version {
        SignatureVersion::V3 => sign_v3_request(&parts, url, &path, body),
        SignatureVersion::V1 => sign_v1_request(&parts, url, body),
    }
}

/// V3: the query sorted, the signed `x-acs-*` headers and an `authorization` header.
fn sign_v3_request(r: &Parts<'_>, mut url: url::Url, path: &str, body: Option<String>) -> Signed {
    let mut query = r.params.query.clone();
    query.sort();
    let payload = body.as_deref().unwrap_or("");
    let payload_hash = sign::sha256_hex(payload.as_bytes());
    let signed = v3_signed_headers(r, &url, &payload_hash, body.is_some());
    let sig = sign::sign_v3(
        "POST",
        path,
        &query,
        &signed,
        &payload_hash,
        &r.creds.access_key_id,
        r.creds.access_key_secret.expose(),
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

/// The headers a V3 signature covers (`host` included; it is not sent as a header).
fn v3_signed_headers(
    r: &Parts<'_>,
    url: &url::Url,
    payload_hash: &str,
    has_body: bool,
) -> Vec<(String, String)> {
    let mut signed: Vec<(String, String)> = vec![
        ("host".into(), host_header(url)),
        ("x-acs-action".into(), r.action.to_string()),
        ("x-acs-version".into(), r.product.api_version().to_string()),
        ("x-acs-date".into(), r.date.to_string()),
        ("x-acs-signature-nonce".into(), r.nonce.to_string()),
        ("x-acs-content-sha256".into(), payload_hash.to_string()),
    ];
    if let Some(token) = &r.creds.security_token {
        signed.push(("x-acs-security-token".into(), token.expose().to_string()));
        signed.push(("x-acs-accesskey-id".into(), r.creds.access_key_id.clone()));
    }
    if has_body {
        signed.push(form_content_type());
    }
    signed
}

/// V1: the common parameters and the `Signature` in the query.
fn sign_v1_request(r: &Parts<'_>, mut url: url::Url, body: Option<String>) -> Signed {
    let creds = r.creds;
    let mut query: Vec<(String, String)> = vec![
        ("Action".into(), r.action.to_string()),
        ("Format".into(), "JSON".into()),
        ("Version".into(), r.product.api_version().to_string()),
        ("AccessKeyId".into(), creds.access_key_id.clone()),
        ("SignatureMethod".into(), "HMAC-SHA1".into()),
        ("SignatureVersion".into(), "1.0".into()),
        ("SignatureNonce".into(), r.nonce.to_string()),
        ("Timestamp".into(), r.date.to_string()),
    ];
    if let Some(token) = &creds.security_token {
        query.push(("SecurityToken".into(), token.expose().to_string()));
    }
    query.extend(r.params.query.iter().cloned());
    let mut all = query.clone();
    all.extend(r.params.body.iter().cloned());
    let signature = sign::sign_v1("POST", &all, creds.access_key_secret.expose());
    query.push(("Signature".into(), signature));
    url.set_query(Some(&encode_pairs(&query)));
    let mut headers = vec![("accept".into(), "application/json".into())];
    if body.is_some() {
        headers.push(form_content_type());
    }
    Signed { url, headers, body }
}
