//! The admin API under `/_emulator/` (no signature): state, call log, fault rules, holds,
//! reset, the clock and scenarios; the in-process [`crate::EmulatorHandle`] calls the same
//! functions.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api;
use crate::fault::{Calls, Fault, Release};
use crate::gateway::{self, Shared, real_ms};
use crate::scenario::Scenario;
use crate::world::World;

pub(crate) fn state(shared: &Shared) -> Value {
    let inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    let mut v = inner.world.view(now);
    if let Some(m) = v.as_object_mut() {
        m.insert("faults".into(), json!(inner.faults));
        m.insert("held_requests".into(), json!(inner.held));
        m.insert("held_calls".into(), json!(inner.held_calls));
    }
    v
}

pub(crate) fn reset(shared: &Shared) {
    let mut inner = shared.lock();
    inner.world = World::seeded(&shared.config);
    inner.nonces.clear();
    inner.qps.clear();
    inner.faults.clear();
    inner.released.clear();
    inner.calls = Calls::default();
    shared.persist(&inner.world);
}

pub(crate) fn advance(shared: &Shared, by: Duration) {
    let mut inner = shared.lock();
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    inner.world.offset_ms = inner.world.offset_ms.saturating_add(ms);
    shared.persist(&inner.world);
}

pub(crate) fn apply_scenario(shared: &Shared, s: Scenario) {
    let mut inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    inner.world.apply_scenario(s, now);
    shared.persist(&inner.world);
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn bad_request(msg: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": msg }))
}

/// Parses `{"seconds": N}`, `{"millis": N}` or `{"duration": "90s"}`.
fn parse_advance(v: &Value) -> Option<Duration> {
    if let Some(s) = v.get("seconds").and_then(Value::as_f64) {
        return (s >= 0.0 && s.is_finite()).then(|| Duration::from_secs_f64(s));
    }
    if let Some(ms) = v.get("millis").and_then(Value::as_u64) {
        return Some(Duration::from_millis(ms));
    }
    let s = v.get("duration")?.as_str()?.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.trim().parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return None,
    };
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// The request body as JSON (an empty body is `{}`).
fn json_body(body: &Bytes) -> Result<Value, String> {
    serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| format!("invalid JSON body: {e}"))
}

/// Answers one admin request: `admin` is the path after `/_emulator/`.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    admin: &str,
    body: &Bytes,
) -> Response {
    match (method.as_str(), admin.trim_end_matches('/')) {
        ("GET", "state") => json_response(StatusCode::OK, state(shared)),
        ("GET", "calls") => {
            let calls = shared.lock().calls.clone();
            json_response(
                StatusCode::OK,
                json!({ "total": calls.log.len(), "counts": calls.counts(), "log": calls.log }),
            )
        }
        ("GET", "faults") => json_response(StatusCode::OK, json!(shared.lock().faults)),
        ("POST", "faults") => add_fault(shared, body),
        ("DELETE", "faults") => {
            shared.lock().faults.clear();
            json_response(StatusCode::OK, json!({ "cleared": true }))
        }
        ("GET", "holds") => {
            let inner = shared.lock();
            json_response(
                StatusCode::OK,
                json!({ "held": inner.held_calls, "released": inner.released }),
            )
        }
        ("POST", p) if hold_id(p).is_some() => {
            release(shared, hold_id(p).unwrap_or_default(), body)
        }
        ("POST", "reset") => {
            reset(shared);
            json_response(StatusCode::OK, json!({ "reset": true }))
        }
        ("POST", "time/advance") => time_advance(shared, body),
        ("POST", "scenarios") => add_scenario(shared, body),
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("unknown admin endpoint {method} {path}") }),
        ),
    }
}

/// `POST /_emulator/faults`.
fn add_fault(shared: &Shared, body: &Bytes) -> Response {
    match json_body(body)
        .and_then(|v| serde_json::from_value::<Fault>(v).map_err(|e| format!("invalid fault: {e}")))
    {
        Ok(f) => {
            shared.lock().faults.push(f.clone());
            json_response(StatusCode::OK, json!({ "added": f }))
        }
        Err(e) => bad_request(e),
    }
}

/// The `{id}` of `holds/{id}/release` (`None` for any other path, and for an empty id: a
/// path such as `holds/release` is not a release).
fn hold_id(path: &str) -> Option<&str> {
    path.strip_prefix("holds/")
        .and_then(|rest| rest.strip_suffix("/release"))
        .filter(|id| !id.is_empty())
}

/// `POST /_emulator/holds/{id}/release` (an empty body: proceed).
fn release(shared: &Shared, id: &str, body: &Bytes) -> Response {
    let release = if body.is_empty() {
        Ok(Release::Proceed)
    } else {
        json_body(body).and_then(|v| {
            serde_json::from_value::<Release>(v).map_err(|e| format!("invalid release: {e}"))
        })
    };
    match release {
        Ok(r) if !id.is_empty() => {
            gateway::release_hold(shared, id, r.clone());
            json_response(StatusCode::OK, json!({ "released": id, "as": r }))
        }
        Ok(_) => bad_request("missing hold id".into()),
        Err(e) => bad_request(e),
    }
}

/// `POST /_emulator/time/advance`.
fn time_advance(shared: &Shared, body: &Bytes) -> Response {
    match json_body(body) {
        Ok(v) => match parse_advance(&v) {
            Some(d) => {
                advance(shared, d);
                let now = shared.lock().world.now_ms(real_ms());
                json_response(
                    StatusCode::OK,
                    json!({ "now": api::iso_seconds(now), "now_ms": now }),
                )
            }
            None => bad_request(
                "expected {\"seconds\": N}, {\"millis\": N} or {\"duration\": \"90s\"}".into(),
            ),
        },
        Err(e) => bad_request(e),
    }
}

/// `POST /_emulator/scenarios`.
fn add_scenario(shared: &Shared, body: &Bytes) -> Response {
    match json_body(body).and_then(|v| {
        serde_json::from_value::<Scenario>(v).map_err(|e| format!("invalid scenario: {e}"))
    }) {
        Ok(s) => {
            apply_scenario(shared, s.clone());
            json_response(StatusCode::OK, json!({ "applied": s }))
        }
        Err(e) => bad_request(e),
    }
}

#[cfg(test)]
mod hold_id_tests {
    use super::hold_id;

    #[test]
    fn a_release_path_without_an_id_is_not_a_release() {
        assert_eq!(hold_id("holds/h1/release"), Some("h1"));
        assert_eq!(hold_id("holds/release"), None);
        assert_eq!(hold_id("holds//release"), None);
        assert_eq!(hold_id("holds/h1"), None);
    }
}
