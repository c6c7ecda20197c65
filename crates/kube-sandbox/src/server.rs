//! HTTP layer: routing, discovery, verbs, watch streaming, counters and
//! fault injection.

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

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ResourceType, Store, WriteOpts};
use crate::table;
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

fn json_response(code: u16, v: &Value, warnings: &[String]) -> Response {
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
    match segs.as_slice() {
        [] => {
            return Ok(json_response(
                200,
                &json!({"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]}),
                &[],
            ));
        }
        ["version"] => return Ok(json_response(200, &version_info(), &[])),
        ["healthz" | "readyz" | "livez", ..] => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return Ok(r);
        }
        ["api"] => {
            let addr = lock(&st.server_address).clone();
            return Ok(json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
                &[],
            ));
        }
        ["api", "v1"] => return discovery_resources(st, "", "v1"),
        ["apis"] => return Ok(json_response(200, &group_list(&lock(&st.store)), &[])),
        ["apis", g] => {
            let list = group_list(&lock(&st.store));
            let found = list["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == *g).cloned());
            return match found {
                Some(mut grp) => {
                    if let Some(o) = grp.as_object_mut() {
                        o.insert("kind".into(), json!("APIGroup"));
                        o.insert("apiVersion".into(), json!("v1"));
                    }
                    Ok(json_response(200, &grp, &[]))
                }
                None => Err(ApiError::not_found_path()),
            };
        }
        ["apis", g, v] => return discovery_resources(st, g, v),
        ["openapi", "v3"] => return Ok(json_response(200, &openapi_index(&lock(&st.store)), &[])),
        ["openapi", "v3", "api", v] => return openapi_doc(&lock(&st.store), "", v),
        ["openapi", "v3", "apis", g, v] => return openapi_doc(&lock(&st.store), g, v),
        ["openapi", ..] => return Err(ApiError::not_found_path()),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::not_found_path()),
    };
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => (
            Some(ns.to_string()),
            plural.to_string(),
            tail.first().map(|s| s.to_string()),
            tail.get(1).map(|s| s.to_string()),
        ),
        [plural, tail @ ..] => (
            None,
            plural.to_string(),
            tail.first().map(|s| s.to_string()),
            tail.get(1).map(|s| s.to_string()),
        ),
        [] => return Err(ApiError::not_found_path()),
    };
    if rest.len() > 5 {
        return Err(ApiError::not_found_path());
    }
    let rt = {
        let store = lock(&st.store);
        store.type_of(group, &plural)
    };
    let rt = match rt {
        Some(rt) if rt.version(version).is_some() => rt,
        _ => return Err(ApiError::not_found_path()),
    };
    if !rt.namespaced && namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    if let Some(s) = &sub
        && !(s == "status" && rt.has_status(version))
    {
        return Err(ApiError::not_found_path());
    }
    let watching = legacy_watch || matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (method.as_str(), name.is_some()) {
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
    };
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::not_found_path());
    }
    let rkey = RequestKey {
        verb: verb.to_string(),
        group: group.to_string(),
        resource: plural.clone(),
        subresource: sub.clone().unwrap_or_default(),
    };
    *lock(&st.counters).entry(rkey.clone()).or_insert(0) += 1;
    // Fault injection.
    {
        let mut fails = lock(&st.failures);
        if let Some(f) = fails.iter_mut().find(|f| {
            f.remaining > 0
                && f.matcher
                    .matches(&rkey, namespace.as_deref(), name.as_deref())
        }) {
            f.remaining -= 1;
            let code = f.code;
            fails.retain(|f| f.remaining > 0);
            return Err(ApiError::new(
                code,
                ApiError::reason_for_code(code),
                format!("injected failure for {verb} {plural}"),
            ));
        }
    }
    let ns = namespace.as_deref();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let as_table = accept.contains("as=Table");
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
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
        subresource: sub.clone(),
        manager,
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let include = q
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    match verb {
        "get" => {
            let obj = lock(&st.store).get(&rt, ns, name.as_deref().unwrap_or_default())?;
            let obj = Store::serve(&rt, version, obj);
            if as_table {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                return Ok(json_response(
                    200,
                    &table::table(&rt, version, &[obj], &include, &rv, None),
                    &[],
                ));
            }
            Ok(json_response(200, &obj, &[]))
        }
        "list" => {
            let labels = LabelSelector::parse(
                q.get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let fields = FieldSelector::parse(
                &event_fields(
                    &rt,
                    q.get("fieldSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                ),
                rt.field_selectors().as_deref(),
            )?;
            let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok());
            let after = match q.get("continue").filter(|c| !c.is_empty()) {
                Some(c) => Some(decode_continue(c)?),
                None => None,
            };
            let (items, next, remaining, rv) = {
                let store = lock(&st.store);
                let (items, next, remaining) = store.list(&rt, ns, &labels, &fields, limit, after);
                (items, next, remaining, store.rv())
            };
            let items: Vec<Value> = items
                .into_iter()
                .map(|o| Store::serve(&rt, version, o))
                .collect();
            let cont = next.map(|k| encode_continue(&k));
            if as_table {
                return Ok(json_response(
                    200,
                    &table::table(
                        &rt,
                        version,
                        &items,
                        &include,
                        &rv.to_string(),
                        cont.as_deref(),
                    ),
                    &[],
                ));
            }
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if let (Some(c), Some(m)) = (cont, meta.as_object_mut()) {
                m.insert("continue".into(), json!(c));
                m.insert("remainingItemCount".into(), json!(remaining));
            }
            Ok(json_response(
                200,
                &json!({"kind": rt.list_kind, "apiVersion": rt.api_version(version), "metadata": meta, "items": items}),
                &[],
            ))
        }
        "watch" => {
            let labels = LabelSelector::parse(
                q.get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let mut fields = FieldSelector::parse(
                &event_fields(
                    &rt,
                    q.get("fieldSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                ),
                rt.field_selectors().as_deref(),
            )?;
            if let Some(n) = &name {
                fields = FieldSelector::parse(&format!("metadata.name={n}"), None)?;
            }
            let table = as_table.then(|| include.clone());
            start_watch(st, rt, version, namespace, labels, fields, &q, table)
        }
        "create" => {
            let body = parse_body(&body, &content_type)?;
            let res = lock(&st.store).create(&rt, version, ns, body, &opts)?;
            Ok(json_response(
                201,
                &Store::serve(&rt, version, res.object),
                &res.warnings,
            ))
        }
        "update" => {
            let body = parse_body(&body, &content_type)?;
            let res = lock(&st.store).update(
                &rt,
                version,
                ns,
                name.as_deref().unwrap_or_default(),
                body,
                &opts,
            )?;
            Ok(json_response(
                200,
                &Store::serve(&rt, version, res.object),
                &res.warnings,
            ))
        }
        "patch" => {
            let ct = content_type.split(';').next().unwrap_or_default().trim();
            let name = name.as_deref().unwrap_or_default();
            let res = match ct {
                "application/apply-patch+yaml" | "application/apply-patch+json" => {
                    if q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                        return Err(ApiError::bad_request(
                            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
                        ));
                    }
                    let cfg = parse_body(&body, "yaml")?;
                    let force = q.get("force").is_some_and(|f| f == "true");
                    lock(&st.store).apply(&rt, version, ns, name, cfg, force, &opts)?
                }
                "application/json-patch+json" => {
                    let p: Value = serde_json::from_slice(&body)
                        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                    lock(&st.store).patch(&rt, version, ns, name, "json", &p, &opts)?
                }
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    let p: Value = serde_json::from_slice(&body)
                        .map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
                    let kind = if ct.starts_with("application/strategic") {
                        "strategic"
                    } else {
                        "merge"
                    };
                    lock(&st.store).patch(&rt, version, ns, name, kind, &p, &opts)?
                }
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                        ),
                    ));
                }
            };
            Ok(json_response(
                if res.created { 201 } else { 200 },
                &Store::serve(&rt, version, res.object),
                &res.warnings,
            ))
        }
        "delete" => {
            let dp = if body.is_empty() {
                json!({})
            } else {
                parse_body(&body, &content_type)?
            };
            let preconditions = dp.get("preconditions").cloned().unwrap_or(Value::Null);
            let dry = opts.dry_run
                || dp
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x == "All"));
            let name = name.as_deref().unwrap_or_default();
            let (obj, gone) = {
                let mut store = lock(&st.store);
                crate::admission::check_delete(&store, &rt, version, ns, name, dry)?;
                store.delete(&rt, ns, name, &preconditions, dry)?
            };
            if gone {
                let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
                Ok(json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": uid}}),
                    &[],
                ))
            } else {
                Ok(json_response(200, &Store::serve(&rt, version, obj), &[]))
            }
        }
        "deletecollection" => {
            let labels = LabelSelector::parse(
                q.get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let fields = FieldSelector::parse(
                &event_fields(
                    &rt,
                    q.get("fieldSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                ),
                rt.field_selectors().as_deref(),
            )?;
            let mut store = lock(&st.store);
            let (items, _, _) = store.list(&rt, ns, &labels, &fields, None, None);
            let mut out = vec![];
            // Like kube-apiserver: the items admission allows are deleted, and the request
            // fails with the first denial.
            let mut denied = None;
            for it in items {
                let iname = it
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let ins = it
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Err(e) = crate::admission::check_delete(
                    &store,
                    &rt,
                    version,
                    ins.as_deref(),
                    &iname,
                    opts.dry_run,
                ) {
                    denied.get_or_insert(e);
                    continue;
                }
                if let Ok((o, _)) =
                    store.delete(&rt, ins.as_deref(), &iname, &Value::Null, opts.dry_run)
                {
                    out.push(Store::serve(&rt, version, o));
                }
            }
            if let Some(e) = denied {
                return Err(e);
            }
            let rv = store.rv();
            Ok(json_response(
                200,
                &json!({"kind": rt.list_kind, "apiVersion": rt.api_version(version), "metadata": {"resourceVersion": rv.to_string()}, "items": out}),
                &[],
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// events.k8s.io Events are stored in core/v1 shape: translate selector paths.
fn event_fields(rt: &ResourceType, sel: &str) -> String {
    if rt.group != "events.k8s.io" {
        return sel.to_string();
    }
    sel.split(',')
        .map(|term| {
            let t = term.trim_start();
            for (new, core) in [
                ("regarding.", "involvedObject."),
                ("note", "message"),
                ("reportingController", "reportingComponent"),
                ("deprecatedSource.", "source."),
                ("deprecatedCount", "count"),
            ] {
                if let Some(rest) = t.strip_prefix(new) {
                    return format!("{core}{rest}");
                }
            }
            t.to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn parse_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    if content_type.contains("yaml") {
        let v: serde_norway::Value = serde_norway::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        return serde_json::to_value(v)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")));
    }
    if content_type.contains("protobuf") {
        return crate::protobuf::decode(body);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))
}

fn encode_continue(k: &(String, String)) -> String {
    let raw = format!("{}\u{1}{}", k.0, k.1);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(c: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid");
    if !c.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    let s = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (a, b) = s.split_once('\u{1}').ok_or_else(bad)?;
    Ok((a.to_string(), b.to_string()))
}

fn version_info() -> Value {
    json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0-kube-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH })})
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (p, rank) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(p)
            && let Ok(minor) = n.parse::<u32>()
        {
            return (rank, major, minor);
        }
    }
    (0, 0, 0)
}

fn group_list(store: &Store) -> Value {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in store.types() {
        if t.group.is_empty() {
            continue;
        }
        let e = groups.entry(t.group.clone()).or_default();
        for v in &t.versions {
            if !e.contains(&v.name) {
                e.push(v.name.clone());
            }
        }
    }
    let list: Vec<Value> = groups
        .into_iter()
        .map(|(g, mut vs)| {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
            let versions: Vec<Value> = vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

fn discovery_resources(
    st: &Arc<AppState>,
    group: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let store = lock(&st.store);
    let types: Vec<Arc<ResourceType>> = store
        .types()
        .filter(|t| t.group == group && t.version(version).is_some())
        .cloned()
        .collect();
    if types.is_empty() {
        return Err(ApiError::not_found_path());
    }
    let mut resources = vec![];
    for t in types {
        resources.push(json!({
            "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": t.short_names, "categories": t.categories,
        }));
        if t.has_status(version) {
            resources.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        &[],
    ))
}

/// `/openapi/v3`: one entry per served group-version.
fn openapi_index(store: &Store) -> Value {
    let mut paths = serde_json::Map::new();
    for t in store.types() {
        for v in &t.versions {
            let p = if t.group.is_empty() {
                format!("api/{}", v.name)
            } else {
                format!("apis/{}/{}", t.group, v.name)
            };
            let url = format!("/openapi/v3/{p}?hash={}", store.rv());
            paths.insert(p, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for one group-version: per-kind schemas
/// (tagged with `x-kubernetes-group-version-kind`) and item paths whose
/// PATCH declares `fieldValidation`, so kubectl uses server-side validation.
fn openapi_doc(store: &Store, group: &str, version: &str) -> Result<Response, ApiError> {
    let types: Vec<&Arc<ResourceType>> = store
        .types()
        .filter(|t| t.group == group && t.version(version).is_some())
        .collect();
    if types.is_empty() {
        return Err(ApiError::not_found_path());
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let params = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
    ]);
    for t in types {
        let gvk = json!({"group": group, "version": version, "kind": t.kind});
        let schema_name = format!(
            "{}.{version}.{}",
            if group.is_empty() {
                "io.k8s.api.core".to_string()
            } else {
                group.split('.').rev().collect::<Vec<_>>().join(".")
            },
            t.kind
        );
        let mut schema = t
            .version(version)
            .and_then(|v| v.schema.clone())
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        if let Some(o) = schema.as_object_mut() {
            o.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
        let reference = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        schemas.insert(schema_name, schema);
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let op = |verb: &str| {
            json!({"operationId": format!("{verb}{}", t.kind), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": verb,
                "parameters": params, "responses": ok})
        };
        let mut patch = op("patch");
        if let Some(o) = patch.as_object_mut() {
            o.insert(
                "requestBody".into(),
                json!({"content": {
                    "application/json-patch+json": {"schema": {"type": "object"}},
                    "application/merge-patch+json": {"schema": {"type": "object"}},
                    "application/apply-patch+yaml": {"schema": {"type": "object"}}
                }}),
            );
        }
        paths.insert(
            item,
            json!({"get": op("get"), "put": op("put"), "patch": patch, "delete": op("delete")}),
        );
    }
    Ok(json_response(
        200,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.34.0"}, "paths": paths, "components": {"schemas": schemas}}),
        &[],
    ))
}

fn watch_line(event: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": event, "object": obj})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

#[allow(clippy::too_many_arguments)]
fn start_watch(
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn continue_roundtrip() {
        let k = ("ns".to_string(), "name-1".to_string());
        assert_eq!(decode_continue(&encode_continue(&k)).unwrap(), k);
        assert!(decode_continue("zz").is_err());
    }

    #[test]
    fn version_order() {
        let mut v = vec!["v1beta1", "v1", "v2alpha1", "v2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta1", "v2alpha1"]);
    }
}
