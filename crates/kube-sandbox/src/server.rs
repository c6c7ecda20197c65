//! HTTP layer: routing, watch streaming, counters and fault injection (discovery and OpenAPI are
//! in [`crate::discovery`], the verbs in [`crate::verbs`]). A resource
//! request is taken apart ([`parse_resource_path`]), checked against the served types and given
//! its verb ([`resolve`]), counted and matched against injected failures
//! ([`count_and_inject`]), and handed to its verb's handler in [`crate::verbs`].

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::discovery::{
    api_group, discovery_resources, group_list, openapi_doc, openapi_index, version_info,
};
use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ResourceType, Store, WriteOpts};
use crate::table;
use crate::verbs;
use crate::{FailureMatcher, RequestKey};

/// A pending injected failure.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub matcher: FailureMatcher,
    pub remaining: u32,
    pub code: u16,
}

/// Shared server state.
pub(crate) struct AppState {
    pub store: Mutex<Store>,
    pub counters: Mutex<BTreeMap<RequestKey, u64>>,
    pub failures: Mutex<Vec<Failure>>,
    pub shutdown: watch::Receiver<bool>,
    /// Bumped by `Sandbox::close_watches` to end every open watch.
    pub close_watches: watch::Sender<u64>,
    pub bookmark_interval: Duration,
    pub server_address: Mutex<String>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn json_response(code: u16, v: &Value, warnings: &[String]) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        if let Ok(h) = HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "\\\""))) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    r
}

fn err_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status(), &[])
}

/// The single entry point for every request.
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match route(&st, &method, &uri, &headers, body).await {
        Ok(r) => {
            tracing::debug!(%method, %uri, status = r.status().as_u16(), "request");
            r
        }
        Err(e) => {
            tracing::debug!(%method, %uri, status = e.code, reason = e.reason, "request failed");
            err_response(&e)
        }
    }
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Routes one request: a non-resource path, or a resource verb.
async fn route(
    st: &Arc<AppState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let segs: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = query_map(uri);
    if let Some(r) = route_non_resource(st, &segs)? {
        return Ok(r);
    }
    let target = resolve(st, method, &segs, &q)?;
    count_and_inject(st, &target)?;
    let verb = target.verb;
    verbs::dispatch(verb, request(st, target, q, headers, body))
}

/// The paths that are not resources: root, version, health, discovery, OpenAPI.
fn route_non_resource(st: &Arc<AppState>, segs: &[&str]) -> Result<Option<Response>, ApiError> {
    let found = match segs {
        [] => json_response(
            200,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]}),
            &[],
        ),
        ["version"] => json_response(200, &version_info(), &[]),
        ["healthz" | "readyz" | "livez", ..] => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        ["api"] => {
            let addr = lock(&st.server_address).clone();
            json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
                &[],
            )
        }
        ["api", "v1"] => discovery_resources(st, "", "v1")?,
        ["apis"] => json_response(200, &group_list(&lock(&st.store)), &[]),
        ["apis", g] => api_group(st, g)?,
        ["apis", g, v] => discovery_resources(st, g, v)?,
        ["openapi", "v3"] => json_response(200, &openapi_index(&lock(&st.store)), &[]),
        ["openapi", "v3", "api", v] => openapi_doc(&lock(&st.store), "", v)?,
        ["openapi", "v3", "apis", g, v] => openapi_doc(&lock(&st.store), g, v)?,
        ["openapi", ..] => return Err(ApiError::not_found_path()),
        _ => return Ok(None),
    };
    Ok(Some(found))
}

/// A resource path taken apart: `/api/<v>/...` or `/apis/<g>/<v>/...`, optionally
/// `watch/`, then `[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`.
struct ResourcePath<'a> {
    group: &'a str,
    version: &'a str,
    legacy_watch: bool,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_resource_path<'a>(segs: &[&'a str]) -> Result<ResourcePath<'a>, ApiError> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::not_found_path()),
    };
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let (namespace, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(ns.to_string()), plural.to_string(), tail)
        }
        [plural, tail @ ..] => (None, plural.to_string(), tail),
        [] => return Err(ApiError::not_found_path()),
    };
    if rest.len() > 5 {
        return Err(ApiError::not_found_path());
    }
    Ok(ResourcePath {
        group,
        version,
        legacy_watch,
        namespace,
        plural,
        name: tail.first().map(|s| s.to_string()),
        sub: tail.get(1).map(|s| s.to_string()),
    })
}

/// A resource request: its path checked against the served types, and its verb.
struct Target<'a> {
    path: ResourcePath<'a>,
    rt: Arc<ResourceType>,
    verb: &'static str,
}

/// The verb of a request, as kube-apiserver names it for RBAC.
fn verb_of(method: &Method, named: bool, watching: bool) -> Result<&'static str, ApiError> {
    Ok(match (method.as_str(), named) {
        ("GET", true) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed()),
    })
}

fn resolve<'a>(
    st: &AppState,
    method: &Method,
    segs: &[&'a str],
    q: &HashMap<String, String>,
) -> Result<Target<'a>, ApiError> {
    let path = parse_resource_path(segs)?;
    let rt = lock(&st.store).type_of(path.group, &path.plural);
    let rt = match rt {
        Some(rt) if rt.version(path.version).is_some() => rt,
        _ => return Err(ApiError::not_found_path()),
    };
    if !rt.namespaced && path.namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    if let Some(s) = &path.sub
        && !(s == "status" && rt.has_status(path.version))
    {
        return Err(ApiError::not_found_path());
    }
    let watching =
        path.legacy_watch || matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = verb_of(method, path.name.is_some(), watching)?;
    if rt.namespaced && path.namespace.is_none() && path.name.is_some() {
        return Err(ApiError::not_found_path());
    }
    Ok(Target { path, rt, verb })
}

/// Counts the request and fails it if an injected failure matches.
fn count_and_inject(st: &AppState, t: &Target<'_>) -> Result<(), ApiError> {
    let rkey = RequestKey {
        verb: t.verb.to_string(),
        group: t.path.group.to_string(),
        resource: t.path.plural.clone(),
        subresource: t.path.sub.clone().unwrap_or_default(),
    };
    *lock(&st.counters).entry(rkey.clone()).or_insert(0) += 1;
    let mut fails = lock(&st.failures);
    let (ns, name) = (t.path.namespace.as_deref(), t.path.name.as_deref());
    if let Some(f) = fails
        .iter_mut()
        .find(|f| f.remaining > 0 && f.matcher.matches(&rkey, ns, name))
    {
        f.remaining -= 1;
        let code = f.code;
        fails.retain(|f| f.remaining > 0);
        return Err(ApiError::new(
            code,
            ApiError::reason_for_code(code),
            format!("injected failure for {} {}", t.verb, t.path.plural),
        ));
    }
    Ok(())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The verb's request: the target, and what the query and headers say about it.
fn request<'a>(
    st: &'a Arc<AppState>,
    t: Target<'a>,
    q: HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> verbs::Request<'a> {
    let user_agent = header_str(headers, header::USER_AGENT);
    let manager = q
        .get("fieldManager")
        .cloned()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            user_agent
                .split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string()
        });
    let opts = WriteOpts {
        subresource: t.path.sub,
        manager,
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
    };
    let include = q
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    verbs::Request {
        st,
        rt: t.rt,
        version: t.path.version,
        namespace: t.path.namespace,
        name: t.path.name,
        as_table: header_str(headers, header::ACCEPT).contains("as=Table"),
        include,
        opts,
        content_type: header_str(headers, header::CONTENT_TYPE).to_string(),
        body,
        query: q,
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn watch_line(event: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": event, "object": obj})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start_watch(
    st: &Arc<AppState>,
    rt: Arc<ResourceType>,
    version: &str,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    q: &HashMap<String, String>,
    table: Option<String>,
) -> Result<Response, ApiError> {
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let send_initial = q.get("sendInitialEvents").is_some_and(|s| s == "true");
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|s| s == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(1800);
    let from =
        if rv_param.is_empty() || rv_param == "0" {
            None
        } else {
            Some(rv_param.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param}"))
            })?)
        };
    let initial = send_initial || from.is_none();
    let (tx, rx_body) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let started = lock(&st.store).watch_start(&rt, from, initial);
    let version = version.to_string();
    let api_version = rt.api_version(&version);
    let kind = rt.kind.clone();
    match started {
        Err(e) => {
            let line = watch_line("ERROR", &e.to_status());
            tokio::spawn(async move {
                let _ = tx.send(Ok(line)).await;
            });
        }
        Ok((init, replay, start_rv, live)) => {
            let w = Watcher {
                rt,
                version,
                ns,
                labels,
                fields,
                bookmarks,
                bookmark_kind: (api_version, kind),
                tx,
                table,
                header_sent: std::sync::atomic::AtomicBool::new(false),
            };
            let shutdown = (st.shutdown.clone(), st.close_watches.subscribe());
            let every = st.bookmark_interval;
            tokio::spawn(w.run(
                init,
                replay,
                start_rv,
                live,
                send_initial && bookmarks,
                Duration::from_secs(timeout),
                every,
                shutdown,
            ));
        }
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx_body);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

struct Watcher {
    /// `Some(includeObject)` when the client asked for Table events.
    table: Option<String>,
    /// Column definitions go only into the first Table event (like kube-apiserver).
    header_sent: std::sync::atomic::AtomicBool,
    rt: Arc<ResourceType>,
    version: String,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    bookmarks: bool,
    bookmark_kind: (String, String),
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

impl Watcher {
    fn matches(&self, obj: &Value) -> bool {
        let ns_ok = match (&self.ns, self.rt.namespaced) {
            (Some(ns), true) => {
                obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns.as_str())
            }
            _ => true,
        };
        ns_ok && self.labels.matches(obj) && self.fields.matches(obj)
    }

    async fn send(&self, event: &str, obj: &Value) -> bool {
        let served = Store::serve(&self.rt, &self.version, obj.clone());
        let served = match &self.table {
            Some(include) => {
                let rv = served
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let mut t = table::table(&self.rt, &self.version, &[served], include, &rv, None);
                if self
                    .header_sent
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                    && let Some(o) = t.as_object_mut()
                {
                    o.insert("columnDefinitions".into(), json!([]));
                }
                t
            }
            None => served,
        };
        self.tx.send(Ok(watch_line(event, &served))).await.is_ok()
    }

    async fn bookmark(&self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end && let Some(m) = meta.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let obj = json!({"kind": self.bookmark_kind.1, "apiVersion": self.bookmark_kind.0, "metadata": meta});
        self.tx.send(Ok(watch_line("BOOKMARK", &obj))).await.is_ok()
    }

    async fn emit(&self, c: &Change) -> bool {
        let now_match = self.matches(&c.object);
        match c.event {
            "MODIFIED" => {
                let was = c.previous.as_ref().is_some_and(|p| self.matches(p));
                match (was, now_match) {
                    (true, true) => self.send("MODIFIED", &c.object).await,
                    (false, true) => self.send("ADDED", &c.object).await,
                    (true, false) => self.send("DELETED", &c.object).await,
                    (false, false) => true,
                }
            }
            ev if now_match => self.send(ev, &c.object).await,
            _ => true,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        init: Vec<Value>,
        replay: Vec<Arc<Change>>,
        start_rv: u64,
        mut live: broadcast::Receiver<Arc<Change>>,
        initial_end: bool,
        timeout: Duration,
        every: Duration,
        (mut shutdown, mut closer): (watch::Receiver<bool>, watch::Receiver<u64>),
    ) {
        for o in &init {
            if self.matches(o) && !self.send("ADDED", o).await {
                return;
            }
        }
        if initial_end && !self.bookmark(start_rv, true).await {
            return;
        }
        for c in &replay {
            if !self.emit(c).await {
                return;
            }
        }
        let type_key = Store::key(&self.rt);
        let mut last_rv = start_rv;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = self.tx.closed() => break,
                _ = shutdown.changed() => break,
                _ = closer.changed() => break,
                _ = tick.tick(), if self.bookmarks => {
                    if !self.bookmark(last_rv, false).await { break; }
                }
                r = live.recv() => match r {
                    Ok(c) => {
                        if c.rv <= start_rv { continue; }
                        last_rv = c.rv;
                        if c.type_key == type_key && !self.emit(&c).await { break; }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = ApiError::gone(format!("too old resource version: {last_rv}"));
                        let _ = self.tx.send(Ok(watch_line("ERROR", &e.to_status()))).await;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
    }
}
