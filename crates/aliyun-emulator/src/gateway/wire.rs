//! What goes over the wire: the parsed request, the answer envelopes of the products, and the
//! parameters the call log keeps.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, COMMON, Params, Product};
use crate::sign;

/// Parameters whose values never reach the call log.
const SECRET: &[&str] = &[
    "SourceEndpointPassword",
    "DestinationEndpointPassword",
    "OIDCToken",
    "Policy",
];

/// What the request carried.
pub(super) struct Parsed {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) host: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body_pairs: Vec<(String, String)>,
    pub(super) params: Params,
    pub(super) action: Option<String>,
    pub(super) version: Option<String>,
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn parse(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Parsed {
    let query = sign::parse_pairs(uri.query().unwrap_or(""));
    let ctype = header_str(headers, "content-type").unwrap_or("");
    let is_form = ctype.contains("application/x-www-form-urlencoded")
        || (ctype.is_empty() && !body.is_empty() && body.first() != Some(&b'{'));
    let body_pairs = if is_form {
        sign::parse_pairs(&String::from_utf8_lossy(body))
    } else {
        Vec::new()
    };
    let mut map = BTreeMap::new();
    for (k, v) in query.iter().chain(body_pairs.iter()) {
        map.insert(k.clone(), v.clone());
    }
    let params = Params(map);
    let action = header_str(headers, "x-acs-action")
        .map(str::to_owned)
        .or_else(|| params.opt("Action").map(str::to_owned));
    let version = header_str(headers, "x-acs-version")
        .map(str::to_owned)
        .or_else(|| params.opt("Version").map(str::to_owned));
    Parsed {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        host: header_str(headers, "host").unwrap_or("").to_owned(),
        query,
        body_pairs,
        params,
        action,
        version,
    }
}

fn recommend(code: &str) -> String {
    format!("https://api.aliyun.com/troubleshoot?q={code}")
}

pub(super) fn envelope(
    product: Option<Product>,
    host: &str,
    rid: &str,
    res: &Result<Map<String, Value>, ApiError>,
) -> (u16, Value) {
    match res {
        Ok(payload) => {
            let mut m = payload.clone();
            m.insert("RequestId".into(), json!(rid));
            match product {
                Some(Product::Dbs) => {
                    m.insert("Success".into(), json!(true));
                    m.insert("HttpStatusCode".into(), json!(200));
                }
                Some(Product::Hbr) => {
                    m.insert("Success".into(), json!(true));
                    m.insert("Code".into(), json!("200"));
                    m.insert("Message".into(), json!("successful"));
                }
                _ => {}
            }
            (200, Value::Object(m))
        }
        Err(e) if !e.gateway && product == Some(Product::Dbs) => (
            200,
            json!({
                "RequestId": rid,
                "Success": false,
                "ErrCode": e.code,
                "ErrMessage": e.message,
                "HttpStatusCode": e.status,
            }),
        ),
        Err(e) if !e.gateway && product == Some(Product::Hbr) => (
            200,
            json!({
                "RequestId": rid,
                "Success": false,
                "Code": e.code,
                "Message": e.message,
            }),
        ),
        Err(e) => (
            e.status,
            json!({
                "RequestId": rid,
                "HostId": host,
                "Code": e.code,
                "Message": e.message,
                "Recommend": recommend(&e.code),
            }),
        ),
    }
}

pub(super) fn log_params(p: &Params) -> BTreeMap<String, String> {
    p.0.iter()
        .filter(|(k, _)| !COMMON.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = if SECRET.contains(&k.as_str()) {
                "***".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

pub(super) fn is_read_only(action: &str) -> bool {
    action.starts_with("Describe") || action == "GetCallerIdentity"
}
