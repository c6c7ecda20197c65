//! Request signing: `ACS3-HMAC-SHA256` (V3) and RPC V1 `HMAC-SHA1`.
//!
//! Both follow Alibaba's published signature documentation and reproduce the published vectors (T1–T7) in the tests
//! below. Nothing here logs; the secret only enters the HMAC key.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::params::percent_encode;

/// The V3 algorithm name.
pub const ACS3_HMAC_SHA256: &str = "ACS3-HMAC-SHA256";

/// `hex(sha256(bytes))`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `hex(sha256(""))`, the payload hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; fall back to an empty
    // MAC rather than panicking (the service would reject the signature).
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    match Hmac::<Sha1>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Canonical query string: pairs sorted by key (then value), `pe(k)=pe(v)` joined by `&`;
/// an empty value gives `k=`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical headers and the signed-headers list: names lower-cased and sorted, values
/// trimmed; duplicate names merged with their values sorted and joined by `,`.
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        merged
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.trim().to_string());
    }
    let mut canonical = String::new();
    let mut names = Vec::with_capacity(merged.len());
    for (name, mut values) in merged {
        values.sort();
        canonical.push_str(&name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
        names.push(name);
    }
    (canonical, names.join(";"))
}

/// The V3 canonical request.
pub fn canonical_request_v3(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let path = if path.is_empty() { "/" } else { path };
    let (canonical_headers, signed_headers) = canonical_headers(headers);
    let request = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_query(query)
    );
    (request, signed_headers)
}

/// Result of V3 signing.
#[derive(Clone, PartialEq, Eq)]
pub struct V3Signature {
    /// Lower-case signed header names joined by `;`.
    pub signed_headers: String,
    /// Hex signature.
    pub signature: String,
    /// The full `Authorization` header value.
    pub authorization: String,
}

impl std::fmt::Debug for V3Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V3Signature")
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

/// Signs a request with `ACS3-HMAC-SHA256`. `headers` are exactly the headers to sign
/// (the caller passes `host`, the `x-acs-*` headers and `content-type` when there is a body).
pub fn sign_v3(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> V3Signature {
    let (canonical, signed_headers) =
        canonical_request_v3(method, path, query, headers, payload_hash);
    let string_to_sign = format!("{ACS3_HMAC_SHA256}\n{}", sha256_hex(canonical.as_bytes()));
    let signature = hex::encode(hmac_sha256(
        access_key_secret.as_bytes(),
        string_to_sign.as_bytes(),
    ));
    let authorization = format!(
        "{ACS3_HMAC_SHA256} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
    );
    V3Signature {
        signed_headers,
        signature,
        authorization,
    }
}

/// The V1 string to sign: `METHOD&%2F&pe(canonical_query)`; all parameters (query and form
/// body) except `Signature`.
pub fn string_to_sign_v1(method: &str, params: &[(String, String)]) -> String {
    let filtered: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(&filtered))
    )
}

/// RPC V1 signature: `base64(hmac_sha1(secret + "&", string_to_sign))`.
pub fn sign_v1(method: &str, params: &[(String, String)], access_key_secret: &str) -> String {
    let key = format!("{access_key_secret}&");
    let mac = hmac_sha1(key.as_bytes(), string_to_sign_v1(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// T1 — official V3 doc example.
    #[test]
    fn t1_v3_doc_example() {
        let query = pairs(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = pairs(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ]);
        let (canonical, _) = canonical_request_v3("POST", "/", &query, &headers, EMPTY_SHA256);
        assert_eq!(
            canonical,
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n\
             host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        let sig = sign_v3(
            "POST",
            "/",
            &query,
            &headers,
            EMPTY_SHA256,
            "YourAccessKeyId",
            "YourAccessKeySecret",
        );
        assert_eq!(
            sig.authorization,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    /// T2 — official RPC V1 example (ECS DescribeRegions).
    #[test]
    fn t2_v1_doc_example() {
        let params = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            string_to_sign_v1("GET", &params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        let sig = sign_v1("GET", &params, "testsecret");
        assert_eq!(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        assert_eq!(percent_encode(&sig), "OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D");
    }

    /// T2b — the older doc revision with `TimeStamp`.
    #[test]
    fn t2b_v1_old_timestamp_key() {
        let params = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("TimeStamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            sign_v1("GET", &params, "testsecret"),
            "CT9X0VtwR86fNWSnsc6v8YGOjuE="
        );
    }

    /// T3 — SMS doc example with UTF-8 and `{":}`.
    #[test]
    fn t3_v1_utf8() {
        let params = pairs(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        let sts = string_to_sign_v1("GET", &params);
        assert!(sts.contains("SignName%3D%25E9%2598%25BF"), "{sts}");
        assert_eq!(
            sign_v1("GET", &params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    type Pairs = Vec<(String, String)>;

    fn t4_inputs() -> (Pairs, Pairs) {
        (
            pairs(&[("test", "ok"), ("empty", "")]),
            pairs(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]),
        )
    }

    const SM3_TEST: &str = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";

    /// T4 — DOU Go Test_GetAuthorization (method "", path "").
    #[test]
    fn t4_v3_dou_go() {
        let (query, headers) = t4_inputs();
        let (canonical, _) = canonical_request_v3("", "", &query, &headers, SM3_TEST);
        assert_eq!(
            canonical,
            format!("\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n{SM3_TEST}")
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "de5b11a1e2e756c1d859871395fe0b6d47f2564e88a5477eb586c03c6fc105ff"
        );
        let sig = sign_v3("", "", &query, &headers, SM3_TEST, "acesskey", "secret");
        assert_eq!(
            sig.authorization,
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3"
        );
    }

    /// T5 — DOU Python (method GET, path /).
    #[test]
    fn t5_v3_dou_python() {
        let (query, headers) = t4_inputs();
        let (canonical, _) = canonical_request_v3("GET", "/", &query, &headers, SM3_TEST);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "6c416f315497f25326e3f67e06370dbfce4d082b99aecdfc2411eeecd152f68f"
        );
        let sig = sign_v3("GET", "/", &query, &headers, SM3_TEST, "acesskey", "secret");
        assert_eq!(
            sig.authorization,
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"
        );
    }

    /// T6 — the other DOU language ports' effective inputs.
    #[test]
    fn t6_v3_dou_ports() {
        let query = pairs(&[("test", "ok"), ("empty", "")]);
        let one = |v: &str| pairs(&[("x-acs-test", v)]);
        let sig = |m: &str, p: &str, q: &[(String, String)], h: &[(String, String)]| {
            sign_v3(m, p, q, h, SM3_TEST, "acesskey", "secret").signature
        };
        // Java / Swift
        assert_eq!(
            sig("GET", "/", &query, &one("http")),
            "02e81f9f3cc8839151b0c7278024cbc4bfc9fa786085a0b8305f825f17b5dae7"
        );
        // PHP
        assert_eq!(
            sig("", "/", &query, &one("https")),
            "0a0f89a45f1ec3537a2d1a1046c71b95513a8f1f02526056968da19b99a5b914"
        );
        // PHP, query = null
        assert_eq!(
            sig("", "/", &[], &one("https")),
            "af6d32deb090ae85a21d7183055cf18dca17751da96979cdf964f8f0853e9dd2"
        );
    }

    /// Signature over a canonical request whose path is used verbatim (the C++ and
    /// TypeScript ports do not normalise an empty path to `/`).
    fn verbatim_path_signature(
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
    ) -> String {
        let (canonical_headers, signed) = canonical_headers(headers);
        let canonical = format!(
            "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{SM3_TEST}",
            canonical_query(query)
        );
        let sts = format!("{ACS3_HMAC_SHA256}\n{}", sha256_hex(canonical.as_bytes()));
        hex::encode(hmac_sha256(b"secret", sts.as_bytes()))
    }

    /// T6 TypeScript — method literally `undefined`, empty path kept empty.
    #[test]
    fn t6_v3_dou_typescript() {
        let query = pairs(&[("test", "ok"), ("empty", "")]);
        let both = pairs(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        assert_eq!(
            verbatim_path_signature("undefined", "", &query, &both),
            "0f2d549523cf082c83bb8135b5863614f7fe16ca7c2c7fc537e74d67374eeeac"
        );
        // No query, no headers (SignedHeaders=).
        assert_eq!(
            verbatim_path_signature("undefined", "", &[], &[]),
            "608b887e491f3e88e85276b188a4d24e29230a559464685ccbf2dcc458e1fde8"
        );
        let (_, signed) = canonical_headers(&[]);
        assert_eq!(signed, "");
    }

    /// T6 C++ — `GET`, path empty string used verbatim (not normalised to "/").
    #[test]
    fn t6_v3_dou_cpp_empty_path_verbatim() {
        let query = pairs(&[("test", "ok"), ("empty", "")]);
        let headers = pairs(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        assert_eq!(
            verbatim_path_signature("GET", "", &query, &headers),
            "910e59dd385879346de704a06c96613f8157aa7124e6d1c4f2bdffa1e5588187"
        );
    }

    /// T7 — RPC unit vectors in DOU.
    #[test]
    fn t7_v1_dou_vectors() {
        let p = pairs(&[("test", "ok")]);
        assert_eq!(string_to_sign_v1("", &p), "&%2F&test%3Dok");
        assert_eq!(
            sign_v1("", &p, "accessKeySecret"),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU="
        );

        let p = pairs(&[("query", "test"), ("body", "test")]);
        assert_eq!(
            string_to_sign_v1("GET", &p),
            "GET&%2F&body%3Dtest%26query%3Dtest"
        );
        assert_eq!(sign_v1("GET", &p, "secret"), "XlUyV4sXjOuX5FnjUz9IF9tm5rU=");
    }

    /// T7 — hash vector.
    #[test]
    fn t7_hex_sha256() {
        assert_eq!(
            sha256_hex(b"test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn v1_ignores_signature_param() {
        let with = pairs(&[("test", "ok"), ("Signature", "x")]);
        let without = pairs(&[("test", "ok")]);
        assert_eq!(sign_v1("POST", &with, "s"), sign_v1("POST", &without, "s"));
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        let q = pairs(&[
            ("b", "x y"),
            ("a", "*~/+=&"),
            ("Filters.1.Values.2", "v2"),
            ("Filters.1.Values.10", "v10"),
            ("u", "é"),
        ]);
        assert_eq!(
            canonical_query(&q),
            "Filters.1.Values.10=v10&Filters.1.Values.2=v2&a=%2A~%2F%2B%3D%26&b=x%20y&u=%C3%A9"
        );
    }

    #[test]
    fn header_values_trimmed() {
        let (c, s) = canonical_headers(&pairs(&[("Host", "  h  "), ("X-Acs-A", "1")]));
        assert_eq!(c, "host:h\nx-acs-a:1\n");
        assert_eq!(s, "host;x-acs-a");
    }
}
