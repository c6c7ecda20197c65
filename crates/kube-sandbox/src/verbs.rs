//! The resource verbs: one handler per verb (get, list, watch, create, update, patch, delete,
//! deletecollection) over a [`Request`] that [`crate::server`] has routed, counted and passed
//! through fault injection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::server::{AppState, json_response, lock, start_watch};
use crate::store::{ResourceType, Store, WriteOpts};
use crate::table;

/// A request on a resource type, or on one object of it, ready for its verb.
pub(crate) struct Request<'a> {
    pub st: &'a Arc<AppState>,
    pub rt: Arc<ResourceType>,
    /// The API version of the path.
    pub version: &'a str,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub query: HashMap<String, String>,
    /// The client asked for a Table (`Accept: ...;as=Table`).
    pub as_table: bool,
    /// `includeObject` of a Table (default `Metadata`).
    pub include: String,
    pub opts: WriteOpts,
    pub content_type: String,
    pub body: Bytes,
}

impl Request<'_> {
    fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn param(&self, key: &str) -> &str {
        self.query.get(key).map(String::as_str).unwrap_or_default()
    }

    /// `labelSelector` and `fieldSelector` of the query.
    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(self.param("labelSelector"))?;
        let fields = FieldSelector::parse(
            &event_fields(&self.rt, self.param("fieldSelector")),
            self.rt.field_selectors().as_deref(),
        )?;
        Ok((labels, fields))
    }

    /// The object as served in the request's version.
    fn serve(&self, obj: Value) -> Value {
        Store::serve(&self.rt, self.version, obj)
    }
}

/// Runs `verb` (as named by [`crate::RequestKey`]) on `req`.
pub(crate) fn dispatch(verb: &str, req: Request<'_>) -> Result<Response, ApiError> {
    match verb {
        "get" => get(&req),
        "list" => list(&req),
        "watch" => watch(req),
        "create" => create(&req),
        "update" => update(&req),
        "patch" => patch(&req),
        "delete" => delete(&req),
        "deletecollection" => delete_collection(&req),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn get(req: &Request<'_>) -> Result<Response, ApiError> {
    let obj = lock(&req.st.store).get(&req.rt, req.ns(), req.name())?;
    let obj = req.serve(obj);
    if req.as_table {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(json_response(
            200,
            &table::table(&req.rt, req.version, &[obj], &req.include, &rv, None),
            &[],
        ));
    }
    Ok(json_response(200, &obj, &[]))
}

fn list(req: &Request<'_>) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors()?;
    let limit = req.query.get("limit").and_then(|l| l.parse::<usize>().ok());
    let after = match req.query.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let (items, next, remaining, rv) = {
        let store = lock(&req.st.store);
        let (items, next, remaining) =
            store.list(&req.rt, req.ns(), &labels, &fields, limit, after);
        (items, next, remaining, store.rv())
    };
    let items: Vec<Value> = items.into_iter().map(|o| req.serve(o)).collect();
    let cont = next.map(|k| encode_continue(&k));
    if req.as_table {
        return Ok(json_response(
            200,
            &table::table(
                &req.rt,
                req.version,
                &items,
                &req.include,
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
        &json!({"kind": req.rt.list_kind, "apiVersion": req.rt.api_version(req.version), "metadata": meta, "items": items}),
        &[],
    ))
}

fn watch(req: Request<'_>) -> Result<Response, ApiError> {
    let (labels, mut fields) = req.selectors()?;
    if let Some(n) = &req.name {
        fields = FieldSelector::parse(&format!("metadata.name={n}"), None)?;
    }
    let table = req.as_table.then(|| req.include.clone());
    start_watch(
        req.st,
        req.rt,
        req.version,
        req.namespace,
        labels,
        fields,
        &req.query,
        table,
    )
}

fn create(req: &Request<'_>) -> Result<Response, ApiError> {
    let body = parse_body(&req.body, &req.content_type)?;
    let res = lock(&req.st.store).create(&req.rt, req.version, req.ns(), body, &req.opts)?;
    Ok(json_response(201, &req.serve(res.object), &res.warnings))
}

fn update(req: &Request<'_>) -> Result<Response, ApiError> {
    let body = parse_body(&req.body, &req.content_type)?;
    let res =
        lock(&req.st.store).update(&req.rt, req.version, req.ns(), req.name(), body, &req.opts)?;
    Ok(json_response(200, &req.serve(res.object), &res.warnings))
}

fn patch(req: &Request<'_>) -> Result<Response, ApiError> {
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let (rt, version, ns, name, opts) = (&req.rt, req.version, req.ns(), req.name(), &req.opts);
    let res = match ct {
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            if req.param("fieldManager").is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set",
                ));
            }
            let cfg = parse_body(&req.body, "yaml")?;
            let force = req.param("force") == "true";
            lock(&req.st.store).apply(rt, version, ns, name, cfg, force, opts)?
        }
        "application/json-patch+json" => {
            let p: Value = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            lock(&req.st.store).patch(rt, version, ns, name, "json", &p, opts)?
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let p: Value = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
            let kind = if ct.starts_with("application/strategic") {
                "strategic"
            } else {
                "merge"
            };
            lock(&req.st.store).patch(rt, version, ns, name, kind, &p, opts)?
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
        &req.serve(res.object),
        &res.warnings,
    ))
}

fn delete(req: &Request<'_>) -> Result<Response, ApiError> {
    let dp = if req.body.is_empty() {
        json!({})
    } else {
        parse_body(&req.body, &req.content_type)?
    };
    let preconditions = dp.get("preconditions").cloned().unwrap_or(Value::Null);
    let dry = req.opts.dry_run
        || dp
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    let (rt, name) = (&req.rt, req.name());
    let (obj, gone) = {
        let mut store = lock(&req.st.store);
        crate::admission::check_delete(&store, rt, req.version, req.ns(), name, dry)?;
        store.delete(rt, req.ns(), name, &preconditions, dry)?
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
        Ok(json_response(200, &req.serve(obj), &[]))
    }
}

fn delete_collection(req: &Request<'_>) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors()?;
    let (rt, version, dry_run) = (&req.rt, req.version, req.opts.dry_run);
    let mut store = lock(&req.st.store);
    let (items, _, _) = store.list(rt, req.ns(), &labels, &fields, None, None);
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
        if let Err(e) =
            crate::admission::check_delete(&store, rt, version, ins.as_deref(), &iname, dry_run)
        {
            denied.get_or_insert(e);
            continue;
        }
        if let Ok((o, _)) = store.delete(rt, ins.as_deref(), &iname, &Value::Null, dry_run) {
            out.push(req.serve(o));
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
}
