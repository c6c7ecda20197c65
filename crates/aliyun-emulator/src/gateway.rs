//! The API gateway: parsing, routing, authentication, limits, faults and envelopes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand::Rng as _;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::api::{ApiError, COMMON, Params, Product, iso_seconds, request_id};
use crate::config::EmulatorConfig;
use crate::fault::{CallRecord, Calls, Fault, FaultKind, HeldCall, Release};
use crate::sign;
use crate::world::World;

/// Parameters whose values never reach the call log.
const SECRET: &[&str] = &[
    "SourceEndpointPassword",
    "DestinationEndpointPassword",
    "OIDCToken",
    "Policy",
];

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

/// What the request carried.
struct Parsed {
    method: String,
    path: String,
    host: String,
    query: Vec<(String, String)>,
    body_pairs: Vec<(String, String)>,
    params: Params,
    action: Option<String>,
    version: Option<String>,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Parsed {
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

fn authenticate(
    shared: &Shared,
    req: &Parsed,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Caller, ApiError> {
    let cfg = &shared.config;
    let window_ms = i64::try_from(cfg.timestamp_window.as_millis()).unwrap_or(i64::MAX);
    if let Some(auth) = header_str(headers, "authorization") {
        let a = sign::parse_v3_authorization(auth)
            .map_err(|m| ApiError::gateway(400, "IncompleteSignature", m))?;
        // Every x-acs-* header, host and content-type must be covered by the signature.
        let mut must: Vec<String> = headers
            .keys()
            .map(|k| k.as_str().to_ascii_lowercase())
            .filter(|k| k.starts_with("x-acs-") || k == "host" || k == "content-type")
            .collect();
        must.push("host".into());
        for h in must {
            if !a.signed_headers.contains(&h) {
                return Err(ApiError::gateway(
                    400,
                    "IncompleteSignature",
                    format!(
                        "The request signature does not conform to Aliyun standards: header \"{h}\" must be signed."
                    ),
                ));
            }
        }
        let date =
            header_str(headers, "x-acs-date").ok_or_else(|| ApiError::missing("x-acs-date"))?;
        let nonce = header_str(headers, "x-acs-signature-nonce")
            .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?;
        check_time(date, cfg.timestamp_window)?;
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
        use_nonce(&mut inner, &a.access_key_id, nonce, window_ms)?;
        return Ok(Caller {
            access_key_id: Some(a.access_key_id),
            scheme: "V3",
        });
    }
    if header_str(headers, "x-acs-action").is_some() && req.params.raw("Signature").is_none() {
        return Err(ApiError::gateway(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: no Authorization header.",
        ));
    }
    // RPC V1.
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
    use_nonce(&mut inner, ak, nonce, window_ms)?;
    Ok(Caller {
        access_key_id: Some(ak.to_owned()),
        scheme: "V1",
    })
}

fn check_qps(shared: &Shared, inner: &mut Inner, ak: &str) -> Result<(), ApiError> {
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

/// Picks the first matching fault (and uses up one of its count).
fn pick_fault(inner: &mut Inner, product: &str, action: &str, params: &Params) -> Option<Fault> {
    let Inner {
        faults, fault_rng, ..
    } = inner;
    for f in faults.iter_mut() {
        if !f.matches(product, action, |k| params.opt(k).map(str::to_owned)) {
            continue;
        }
        if let Some(rate) = f.rate
            && fault_rng.random::<f64>() >= rate
        {
            continue;
        }
        if let Some(c) = f.count.as_mut() {
            *c = c.saturating_sub(1);
        }
        return Some(f.clone());
    }
    None
}

fn fault_error(kind: &FaultKind) -> ApiError {
    match kind {
        FaultKind::Error {
            code,
            http_status,
            message,
        } => {
            let msg = message.clone().unwrap_or_else(|| match code.as_str() {
                "ServiceUnavailable" => {
                    "The request has failed due to a temporary failure of the server.".to_owned()
                }
                "InternalError" => {
                    "The request processing has failed due to some unknown error.".to_owned()
                }
                c if c.contains("Throttling") => {
                    "Request was denied due to request throttling.".to_owned()
                }
                c => format!("Injected fault {c}."),
            });
            if *http_status == 200 {
                ApiError::product(400, code, msg)
            } else {
                ApiError::gateway(*http_status, code, msg)
            }
        }
        FaultKind::Latency { .. } | FaultKind::Timeout | FaultKind::Hold { .. } => {
            ApiError::gateway(
                504,
                "GatewayTimeout",
                "The request processing has timed out.",
            )
        }
    }
}

fn recommend(code: &str) -> String {
    format!("https://api.aliyun.com/troubleshoot?q={code}")
}

fn envelope(
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

fn log_params(p: &Params) -> BTreeMap<String, String> {
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

fn is_read_only(action: &str) -> bool {
    action.starts_with("Describe") || action == "GetCallerIdentity"
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

async fn hold(shared: &Shared, d: Duration) {
    shared.lock().held += 1;
    let mut rx = shared.shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        _ = rx.wait_for(|v| *v) => {}
    }
    let mut inner = shared.lock();
    inner.held = inner.held.saturating_sub(1);
}

/// Removes a held call from the books when its request ends (answered or dropped).
struct HeldGuard<'a> {
    shared: &'a Shared,
    call: HeldCall,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        {
            let mut inner = self.shared.lock();
            if let Some(i) = inner.held_calls.iter().position(|c| *c == self.call) {
                inner.held_calls.remove(i);
            }
            inner.held = inner.held.saturating_sub(1);
        }
        self.shared.holds_changed();
    }
}

/// Keeps the call until hold `id` is released (or the emulator shuts down).
async fn wait_for_release(shared: &Shared, id: &str, product: &str, action: &str) -> Release {
    let mut changes = shared.holds.subscribe();
    let call = HeldCall {
        hold: id.to_owned(),
        product: product.to_owned(),
        action: action.to_owned(),
    };
    {
        let mut inner = shared.lock();
        if let Some(r) = inner.released.get(id) {
            return r.clone();
        }
        inner.held_calls.push(call.clone());
        inner.held += 1;
    }
    let _guard = HeldGuard { shared, call };
    shared.holds_changed();
    let mut stop = shared.shutdown.clone();
    loop {
        if let Some(r) = shared.lock().released.get(id).cloned() {
            return r;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Release::Proceed;
                }
            }
            _ = stop.wait_for(|v| *v) => {
                return Release::Fail {
                    code: "ServiceUnavailable".to_owned(),
                    http_status: 503,
                };
            }
        }
    }
}

/// Releases hold `id`: its held calls end as `release` says, its fault rules are removed, and
/// a call that still reaches it proceeds the same way.
pub(crate) fn release_hold(shared: &Shared, id: &str, release: Release) {
    {
        let mut inner = shared.lock();
        inner.released.insert(id.to_owned(), release);
        inner
            .faults
            .retain(|f| !matches!(&f.kind, FaultKind::Hold { id: h } if h == id));
    }
    shared.holds_changed();
}

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
    let not_found = || {
        ApiError::gateway(
            404,
            "InvalidApi.NotFound",
            format!(
                "Specified api is not found, please check your url and method. (Action={action}, Version={version})"
            ),
        )
    };
    let product = product.ok_or_else(not_found)?;
    if !World::knows(product, action) {
        return Err(not_found());
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
    let mut after: Option<FaultKind> = None;
    if let Some(f) = fault {
        match &f.kind {
            FaultKind::Latency { millis } => hold(shared, Duration::from_millis(*millis)).await,
            FaultKind::Hold { id } => {
                match wait_for_release(shared, id, product.name(), action).await {
                    Release::Proceed => {}
                    Release::Fail { code, http_status } => {
                        return Err(fault_error(&FaultKind::Error {
                            code,
                            http_status,
                            message: None,
                        }));
                    }
                    Release::LoseAnswer { code, http_status } => {
                        after = Some(FaultKind::Error {
                            code,
                            http_status,
                            message: None,
                        });
                    }
                }
            }
            kind if f.after_apply => after = Some(kind.clone()),
            FaultKind::Timeout => {
                hold(shared, shared.config.timeout_hold).await;
                return Err(fault_error(&f.kind));
            }
            kind @ FaultKind::Error { .. } => return Err(fault_error(kind)),
        }
    }
    let result = {
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
            .unwrap_or_else(|| Err(not_found()));
        if res.is_ok() && !is_read_only(action) {
            shared.persist(&inner.world);
        }
        res
    };
    if let Some(kind) = after {
        if kind == FaultKind::Timeout {
            hold(shared, shared.config.timeout_hold).await;
        }
        return Err(fault_error(&kind));
    }
    result
}
