//! The API gateway: one request end to end (`serve_api`), the shared emulator state, and the
//! order of the checks (`process`): API exists → authentication → QPS → faults → the
//! operation.
//!
//! The pieces: `wire` (parsing the request, the answer envelopes, the logged parameters),
//! `auth` (timestamps, AccessKeys and STS tokens, V3 and V1 signatures, nonces, QPS) and
//! `faults` (injected faults: picking one, latency, timeouts, holds and their release).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::api::{ApiError, Product, iso_seconds, request_id};
use crate::config::EmulatorConfig;
use crate::fault::{CallRecord, Calls, Fault, FaultKind, HeldCall, Release};
use crate::world::World;

mod auth;
mod faults;
mod wire;

pub(crate) use faults::release_hold;

use auth::{authenticate, check_qps};
use faults::{before_operation, fault_error, hold, pick_fault};
use wire::{Parsed, envelope, header_str, is_read_only, log_params, parse};

/// Mutable emulator state behind one lock (never held across an `.await`).
#[derive(Debug)]
pub(crate) struct Inner {
    pub world: World,
    pub nonces: HashMap<String, i64>,
    pub qps: HashMap<String, VecDeque<i64>>,
    pub faults: Vec<Fault>,
    pub calls: Calls,
    /// Requests currently held by a latency, timeout or hold fault.
    pub held: usize,
    /// Calls currently kept by a hold fault, in arrival order.
    pub held_calls: Vec<HeldCall>,
    /// Holds released so far and how their calls end.
    pub released: BTreeMap<String, Release>,
    /// Draws of faults with a `rate` (seeded by `EmulatorConfig::fault_seed`).
    pub fault_rng: rand::rngs::StdRng,
}

/// State shared by the HTTP server and the in-process handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    pub inner: Mutex<Inner>,
    pub shutdown: watch::Receiver<bool>,
    /// Bumped whenever a call is held or a hold is released.
    pub holds: watch::Sender<u64>,
}

/// Real wall-clock time in epoch ms.
pub(crate) fn real_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Shared {
    /// Wakes everyone waiting on a hold change.
    pub(crate) fn holds_changed(&self) {
        self.holds.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn job_ms(&self) -> i64 {
        i64::try_from(self.config.job_duration.as_millis()).unwrap_or(i64::MAX)
    }

    /// Writes the world to the state file, if configured.
    pub(crate) fn persist(&self, world: &World) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let res = serde_json::to_vec_pretty(world)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the state file");
        }
    }
}

/// The outcome of authentication.
struct Caller {
    access_key_id: Option<String>,
    scheme: &'static str,
}

/// Handles one API request end to end.
pub(crate) async fn serve_api(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = request_id();
    let req = parse(&method, &uri, &headers, &body);
    let product = req.version.as_deref().and_then(Product::from_version);
    let mut caller = Caller {
        access_key_id: None,
        scheme: "none",
    };
    let result = process(&shared, &req, &headers, &body, product, &mut caller).await;
    let (status, value) = envelope(product, &req.host, &rid, &result);
    {
        let mut inner = shared.lock();
        let now = inner.world.now_ms(real_ms());
        let seq = inner.calls.log.len() as u64 + 1;
        let code = match &result {
            Ok(_) => "OK".to_owned(),
            Err(e) => e.code.clone(),
        };
        inner.calls.log.push(CallRecord {
            seq,
            time: iso_seconds(now),
            product: product.map_or("-", Product::name).to_owned(),
            action: req.action.clone().unwrap_or_else(|| "-".into()),
            code,
            http_status: status,
            access_key_id: caller.access_key_id.clone(),
            signature: caller.scheme.to_owned(),
            params: log_params(&req.params),
        });
    }
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        value.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-acs-request-id", v);
    }
    resp
}

/// `InvalidApi.NotFound`: an unknown version or action.
fn api_not_found(action: &str, version: &str) -> ApiError {
    ApiError::gateway(
        404,
        "InvalidApi.NotFound",
        format!(
            "Specified api is not found, please check your url and method. (Action={action}, Version={version})"
        ),
    )
}

/// The checks in their order (API exists → authentication → QPS → faults), then the
/// operation.
async fn process(
    shared: &Shared,
    req: &Parsed,
    headers: &HeaderMap,
    body: &Bytes,
    product: Option<Product>,
    caller: &mut Caller,
) -> Result<Map<String, Value>, ApiError> {
    let action = req
        .action
        .as_deref()
        .ok_or_else(|| ApiError::missing("Action"))?;
    let version = req
        .version
        .as_deref()
        .ok_or_else(|| ApiError::missing("Version"))?;
    let product = product.ok_or_else(|| api_not_found(action, version))?;
    if !World::knows(product, action) {
        return Err(api_not_found(action, version));
    }
    let unsigned_ok = product == Product::Sts
        && action == "AssumeRoleWithOIDC"
        && header_str(headers, "authorization").is_none()
        && req.params.raw("Signature").is_none();
    if !unsigned_ok {
        *caller = authenticate(shared, req, headers, body)?;
    } else {
        caller.scheme = "none";
    }
    let fault = {
        let mut inner = shared.lock();
        if let Some(ak) = caller.access_key_id.clone() {
            check_qps(shared, &mut inner, &ak)?;
        }
        pick_fault(&mut inner, product.name(), action, &req.params)
    };
    let after = match fault {
        Some(f) => before_operation(shared, &f, product.name(), action).await?,
        None => None,
    };
    let result = run_operation(shared, req, product, (action, version), caller);
    if let Some(kind) = after {
        if kind == FaultKind::Timeout {
            hold(shared, shared.config.timeout_hold).await;
        }
        return Err(fault_error(&kind));
    }
    result
}

/// Runs the operation on the world, and writes the state file after a successful write.
fn run_operation(
    shared: &Shared,
    req: &Parsed,
    product: Product,
    (action, version): (&str, &str),
    caller: &Caller,
) -> Result<Map<String, Value>, ApiError> {
    let mut inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    let job_ms = shared.job_ms();
    let res = inner
        .world
        .handle(
            product,
            action,
            &req.params,
            now,
            job_ms,
            &shared.config,
            caller.access_key_id.as_deref(),
        )
        .unwrap_or_else(|| Err(api_not_found(action, version)));
    if res.is_ok() && !is_read_only(action) {
        shared.persist(&inner.world);
    }
    res
}
