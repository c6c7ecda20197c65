//! Independent implementation of the two Alibaba Cloud request-signing schemes, used to
//! verify requests: V3 (`ACS3-HMAC-SHA256`) and RPC V1 (HMAC-SHA1, `SignatureVersion=1.0`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX` (upper-case hex).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The V3 algorithm name.
pub const ACS3: &str = "ACS3-HMAC-SHA256";

/// Percent-encodes `s` as both schemes require (space → `%20`, `*` → `%2A`, `~` kept).
pub fn pe(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, then `%XX`.
pub fn form_decode(s: &str) -> String {
    let replaced = s.replace('+', " ");
    percent_decode(replaced.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// Splits a query string or form body into decoded `(name, value)` pairs, in order.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// Canonical query string shared by both schemes: encoded pairs sorted by byte order, `k=v`
/// joined by `&` (an empty value gives `k=`).
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = pairs.iter().map(|(k, v)| (pe(k), pe(v))).collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The parts of a V3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization {
    /// `Credential=` (the AccessKey ID).
    pub access_key_id: String,
    /// `SignedHeaders=`, lower-cased, in the order given.
    pub signed_headers: Vec<String>,
    /// `Signature=` (hex).
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`; the error text says
/// what is missing.
pub fn parse_v3_authorization(value: &str) -> Result<V3Authorization, String> {
    let rest = value
        .strip_prefix(ACS3)
        .ok_or_else(|| format!("the Authorization header must start with {ACS3}"))?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.trim().split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            match k.trim() {
                "Credential" => cred = Some(v.trim().to_owned()),
                "SignedHeaders" => signed = Some(v.trim().to_owned()),
                "Signature" => sig = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    let access_key_id = cred
        .filter(|c| !c.is_empty())
        .ok_or("the Authorization header has no Credential")?;
    let signed = signed.ok_or("the Authorization header has no SignedHeaders")?;
    let signature = sig
        .filter(|s| !s.is_empty())
        .ok_or("the Authorization header has no Signature")?;
    let signed_headers = signed
        .split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    Ok(V3Authorization {
        access_key_id,
        signed_headers,
        signature,
    })
}

/// Builds the V3 canonical request. `header_values(name)` returns every value the request
/// carries for a (lower-case) header name.
pub fn v3_canonical_request<'a, F>(
    method: &str,
    path: &str,
    query: &[(String, String)],
    signed_headers: &[String],
    header_values: F,
    payload_hash: &str,
) -> String
where
    F: Fn(&str) -> Vec<&'a str>,
{
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let mut values: Vec<&str> = header_values(name).into_iter().map(str::trim).collect();
        values.sort_unstable();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_query(query),
        names.join(";")
    )
}

/// V3 string to sign for a canonical request.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!("{ACS3}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// V3 signature: hex(HMAC-SHA256(secret, string_to_sign)).
pub fn v3_sign(secret: &str, string_to_sign: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// V1 string to sign: `METHOD&%2F&pe(canonical query)`, `Signature` itself left out.
pub fn v1_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let without: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    format!("{method}&{}&{}", pe("/"), pe(&canonical_query(&without)))
}

/// V1 signature: base64(HMAC-SHA1(secret + "&", string_to_sign)).
pub fn v1_sign(secret: &str, string_to_sign: &str) -> String {
    match Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Compares two signatures without an early exit.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn t1_official_v3_example() {
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", &sha256_hex(b"")),
        ];
        let signed: Vec<String> = headers.iter().map(|(k, _)| k.to_string()).collect();
        let cr = v3_canonical_request(
            "POST",
            "/",
            &pairs(&[
                (
                    "ImageId",
                    "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
                ),
                ("RegionId", "cn-shanghai"),
            ]),
            &signed,
            |n| {
                headers
                    .iter()
                    .filter(|(k, _)| *k == n)
                    .map(|(_, v)| *v)
                    .collect()
            },
            &sha256_hex(b""),
        );
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            v3_sign("YourAccessKeySecret", &v3_string_to_sign(&cr)),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn t4_t5_duplicate_headers_and_empty_values() {
        let hv = |n: &str| {
            if n == "x-acs-test" {
                vec!["http", "https"]
            } else {
                vec![]
            }
        };
        let q = pairs(&[("test", "ok"), ("empty", "")]);
        let payload = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";
        let signed = vec!["x-acs-test".to_string()];
        let cr = v3_canonical_request("", "", &q, &signed, hv, payload);
        assert_eq!(
            cr,
            "\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"
        );
        assert_eq!(
            v3_sign("secret", &v3_string_to_sign(&cr)),
            "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3"
        );
        let cr = v3_canonical_request("GET", "/", &q, &signed, hv, payload);
        assert_eq!(
            v3_sign("secret", &v3_string_to_sign(&cr)),
            "d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"
        );
    }

    #[test]
    fn t2_official_v1_example() {
        let p = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
            ("Signature", "ignored"),
        ]);
        let sts = v1_string_to_sign("GET", &p);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(v1_sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn t3_v1_utf8() {
        let p = pairs(&[
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
        assert_eq!(
            v1_sign("testSecret", &v1_string_to_sign("GET", &p)),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    #[test]
    fn t7_v1_unit_vectors() {
        let sts = v1_string_to_sign("", &pairs(&[("test", "ok")]));
        assert_eq!(sts, "&%2F&test%3Dok");
        assert_eq!(
            v1_sign("accessKeySecret", &sts),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU="
        );
        let sts = v1_string_to_sign("GET", &pairs(&[("query", "test"), ("body", "test")]));
        assert_eq!(v1_sign("secret", &sts), "XlUyV4sXjOuX5FnjUz9IF9tm5rU=");
    }

    #[test]
    fn plus_is_a_space_and_encodes_as_20() {
        let p = parse_pairs("JobName=x+y&A=%2B&B&C=a%20b");
        assert_eq!(
            p,
            pairs(&[("JobName", "x y"), ("A", "+"), ("B", ""), ("C", "a b")])
        );
        assert_eq!(canonical_query(&p), "A=%2B&B=&C=a%20b&JobName=x%20y");
        assert_eq!(pe("a*b~c"), "a%2Ab~c");
    }

    #[test]
    fn authorization_header_parsing() {
        let a = parse_v3_authorization(
            "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;X-Acs-Date,Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "ak");
        assert_eq!(a.signed_headers, vec!["host", "x-acs-date"]);
        assert!(parse_v3_authorization("ACS3-HMAC-SHA256 Credential=ak,Signature=abc").is_err());
        assert!(parse_v3_authorization("ACS3-HMAC-SHA256 SignedHeaders=a,Signature=abc").is_err());
        assert!(parse_v3_authorization("Bearer x").is_err());
    }
}
