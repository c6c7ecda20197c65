//! A small, independent request signer and client for the emulator tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

/// RFC 3986 encoding written out by hand (independent of the crate's encoder).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn canon(params: &[(String, String)]) -> String {
    let mut v: Vec<String> = params
        .iter()
        .map(|(k, x)| format!("{}={}", enc(k), enc(x)))
        .collect();
    v.sort();
    v.join("&")
}

pub fn now_iso() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub host: String,
    pub ak: String,
    pub secret: String,
    pub token: Option<String>,
    /// Send spaces in the query as `+` (signing still uses `%20`).
    pub plus: bool,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body
            .get("Code")
            .or_else(|| self.body.get("ErrCode"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn s(&self, ptr: &str) -> String {
        match self.body.pointer(ptr) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => panic!("{ptr} missing in {}", self.body),
        }
    }
    pub fn ok(self) -> Self {
        assert_eq!(self.status, 200, "{}", self.body);
        if let Some(s) = self.body.get("Success") {
            assert_eq!(s, &Value::Bool(true), "{}", self.body);
        }
        self
    }
}

pub const RDS: &str = "2014-08-15";
pub const DBS: &str = "2019-03-06";
pub const HBR: &str = "2017-09-08";
pub const STS: &str = "2015-04-01";

impl Client {
    pub fn new(emu: &EmulatorHandle) -> Self {
        Self {
            base: emu.url(),
            host: emu.endpoint(),
            ak: "testid".into(),
            secret: "testsecret".into(),
            token: None,
            plus: false,
            http: reqwest::Client::new(),
        }
    }

    pub fn with_key(mut self, ak: &str, secret: &str) -> Self {
        self.ak = ak.into();
        self.secret = secret.into();
        self
    }

    /// V3-signed POST with the parameters in the query string.
    pub async fn v3(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        self.v3_custom(version, action, params, &now_iso(), &nonce(), None)
            .await
    }

    pub async fn v3_custom(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
        date: &str,
        nonce: &str,
        secret_override: Option<&str>,
    ) -> Reply {
        let q: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let query = canon(&q);
        let body_hash = hex::encode(Sha256::digest(b""));
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), version.into()),
            ("x-acs-date".into(), date.into()),
            ("x-acs-signature-nonce".into(), nonce.into()),
            ("x-acs-content-sha256".into(), body_hash.clone()),
        ];
        if let Some(t) = &self.token {
            headers.push(("x-acs-security-token".into(), t.clone()));
            headers.push(("x-acs-accesskey-id".into(), self.ak.clone()));
        }
        headers.sort();
        let canon_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let cr = format!("POST\n/\n{query}\n{canon_headers}\n{signed}\n{body_hash}");
        let sts = format!(
            "ACS3-HMAC-SHA256\n{}",
            hex::encode(Sha256::digest(cr.as_bytes()))
        );
        let secret = secret_override.unwrap_or(&self.secret);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        let wire = if self.plus {
            query.replace("%20", "+")
        } else {
            query.clone()
        };
        let mut req = self.http.post(format!("{}/?{wire}", self.base));
        for (k, v) in &headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        req = req.header(
            "authorization",
            format!(
                "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={sig}",
                self.ak
            ),
        );
        send(req).await
    }

    /// V3-signed POST with the parameters in a form body. `sign_content_type` false leaves
    /// `content-type` out of SignedHeaders; `tamper` changes the body after signing.
    pub async fn v3_form(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
        sign_content_type: bool,
        tamper: bool,
    ) -> Reply {
        let body: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        let body = body.join("&");
        let body_hash = hex::encode(Sha256::digest(body.as_bytes()));
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), version.into()),
            ("x-acs-date".into(), now_iso()),
            ("x-acs-signature-nonce".into(), nonce()),
            ("x-acs-content-sha256".into(), body_hash.clone()),
        ];
        if sign_content_type {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        headers.sort();
        let canon_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let cr = format!("POST\n/\n\n{canon_headers}\n{signed}\n{body_hash}");
        let sts = format!(
            "ACS3-HMAC-SHA256\n{}",
            hex::encode(Sha256::digest(cr.as_bytes()))
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        let mut req = self
            .http
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in &headers {
            if k != "host" && k != "content-type" {
                req = req.header(k, v);
            }
        }
        req = req.header(
            "authorization",
            format!(
                "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={sig}",
                self.ak
            ),
        );
        let body = if tamper {
            format!("{body}&Extra=1")
        } else {
            body
        };
        send(req.body(body)).await
    }

    /// V1-signed POST with every parameter in a form body.
    pub async fn v1(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Reply {
        self.v1_custom(version, action, params, &now_iso(), &nonce(), None)
            .await
    }

    pub async fn v1_custom(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
        ts: &str,
        nonce: &str,
        secret_override: Option<&str>,
    ) -> Reply {
        let mut all: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Version".into(), version.into()),
            ("Format".into(), "JSON".into()),
            ("AccessKeyId".into(), self.ak.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), nonce.into()),
            ("Timestamp".into(), ts.into()),
        ];
        if let Some(t) = &self.token {
            all.push(("SecurityToken".into(), t.clone()));
        }
        all.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let sts = format!("POST&%2F&{}", enc(&canon(&all)));
        let secret = secret_override.unwrap_or(&self.secret);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        all.push(("Signature".into(), sig));
        let body: Vec<String> = all
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        let req = self
            .http
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        send(req).await
    }

    /// Unsigned GET with query parameters (STS AssumeRoleWithOIDC).
    pub async fn unsigned(&self, params: &[(&str, &str)]) -> Reply {
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        send(self.http.get(format!("{}/?{}", self.base, q.join("&")))).await
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(
        body.get("RequestId").and_then(Value::as_str).is_some(),
        "no RequestId: {body}"
    );
    Reply { status, body }
}

pub async fn start() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("start")
}

pub async fn start_with(cfg: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(cfg).await.expect("start")
}
