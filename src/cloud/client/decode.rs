//! Reading an answer: the `x-acs-retry-after` header and the JSON envelope (`Code`,
//! `Message`, `Success`, `RequestId`), decoded into the typed response or a typed error.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::Product;
use super::super::error::{CloudError, ErrorKind};

/// Parses `x-acs-retry-after` (milliseconds, positive integer; as the official SDK does).
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
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
        return Err(not_an_object(
            product,
            action,
            status,
            retry_after,
            header_request_id,
            body,
        ));
    };
    let request_id = str_field(&obj, &["RequestId", "requestId"]).or(header_request_id);
    let code = str_field(&obj, &["Code", "code", "ErrCode", "errCode"]);
    let message = str_field(&obj, &["Message", "message", "ErrMessage", "errMessage"]);
    if is_failure(product, status, success_flag(&obj), code.as_deref()) {
        let status = effective_status(&obj, status);
        return Err(
            CloudError::api(product, action, status, code, message, request_id)
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

/// The error of a body that is not a JSON object: by status for an error status (e.g. a
/// gateway page), else a decode error.
fn not_an_object(
    product: Product,
    action: &str,
    status: u16,
    retry_after: Option<Duration>,
    header_request_id: Option<String>,
    body: &[u8],
) -> CloudError {
    if status >= 400 {
        // Non-JSON error body (e.g. a gateway page): classify by status.
        return CloudError::api(
            product,
            action,
            status,
            None,
            Some(format!("HTTP {status} with a non-JSON body")),
            header_request_id,
        )
        .with_retry_after(retry_after);
    }
    let err = CloudError::new(
        product,
        action,
        ErrorKind::Decode,
        "the response body is not a JSON object",
    )
    .with_status(status)
    .with_request_id(header_request_id);
    match serde_json::from_slice::<Value>(body) {
        Err(e) => err.with_source(e),
        Ok(_) => err,
    }
}

/// RDS: HTTP status. DBS/HBR: `Success: false` in an HTTP 200 body, or (as Terraform
/// checks) a `Code` that is not a success code when `Success` is absent.
fn is_failure(product: Product, status: u16, success: Option<bool>, code: Option<&str>) -> bool {
    status >= 400
        || success == Some(false)
        || (product != Product::Rds
            && success.is_none()
            && code.is_some_and(|c| !OK_CODES.contains(&c)))
}

/// The status of a failed call: DBS reports the would-be HTTP status in the body.
fn effective_status(obj: &serde_json::Map<String, Value>, status: u16) -> u16 {
    if status >= 400 {
        return status;
    }
    obj.get("HttpStatusCode")
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n >= 400)
        .unwrap_or(status)
}
