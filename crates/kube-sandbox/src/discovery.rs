//! Discovery and OpenAPI: `/version`, the API groups and their resources, and the OpenAPI v3
//! index and documents that kubectl and kube clients read.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::server::{AppState, json_response, lock};
use crate::store::{ResourceType, Store};

/// `/apis/<group>`: the group's `APIGroup`.
pub(crate) fn api_group(st: &Arc<AppState>, g: &str) -> Result<Response, ApiError> {
    let list = group_list(&lock(&st.store));
    let found = list["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|x| x["name"] == *g).cloned());
    match found {
        Some(mut grp) => {
            if let Some(o) = grp.as_object_mut() {
                o.insert("kind".into(), json!("APIGroup"));
                o.insert("apiVersion".into(), json!("v1"));
            }
            Ok(json_response(200, &grp, &[]))
        }
        None => Err(ApiError::not_found_path()),
    }
}

pub(crate) fn version_info() -> Value {
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

pub(crate) fn group_list(store: &Store) -> Value {
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

pub(crate) fn discovery_resources(
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
pub(crate) fn openapi_index(store: &Store) -> Value {
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
pub(crate) fn openapi_doc(store: &Store, group: &str, version: &str) -> Result<Response, ApiError> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1beta1", "v1", "v2alpha1", "v2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta1", "v2alpha1"]);
    }
}
