//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl's typed commands (`kubectl create secret|configmap|namespace`) send the object as
//! protobuf. The sandbox stores JSON, so it decodes the few built-in kinds kubectl creates that
//! way — `Secret`, `ConfigMap` and `Namespace` — into their JSON form and answers in JSON
//! (kubectl accepts it). Other kinds are refused with `415 Unsupported Media Type`.
//!
//! The wire format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message whose `raw`
//! field holds the object's own message (field numbers as in the Kubernetes `generated.proto`
//! files).

use std::collections::BTreeMap;

use base64::Engine as _;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::ApiError;

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    raw: Option<Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    content_encoding: Option<String>,
    #[prost(string, optional, tag = "4")]
    content_type: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    kind: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    namespace: Option<String>,
    #[prost(string, optional, tag = "5")]
    uid: Option<String>,
    #[prost(string, optional, tag = "6")]
    resource_version: Option<String>,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(message, repeated, tag = "13")]
    owner_references: Vec<OwnerReference>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct OwnerReference {
    #[prost(string, optional, tag = "1")]
    kind: Option<String>,
    #[prost(string, optional, tag = "3")]
    name: Option<String>,
    #[prost(string, optional, tag = "4")]
    uid: Option<String>,
    #[prost(string, optional, tag = "5")]
    api_version: Option<String>,
    #[prost(bool, optional, tag = "6")]
    controller: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    block_owner_deletion: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    type_: Option<String>,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, string", tag = "2")]
    data: BTreeMap<String, String>,
    #[prost(btree_map = "string, bytes", tag = "3")]
    binary_data: BTreeMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(415, "UnsupportedMediaType", message)
}

fn bad(what: &str, e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf {what}: {e}"))
}

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body does not start with k8s\\0"))?;
    let unknown = Unknown::decode(rest).map_err(|e| bad("envelope", e))?;
    if unknown
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(unsupported("protobuf content encodings are not supported"));
    }
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let metadata = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => secret_fields(&raw, &mut obj)?,
        ("v1", "ConfigMap") => config_map_fields(&raw, &mut obj)?,
        ("v1", "Namespace") => namespace_fields(&raw, &mut obj)?,
        _ => {
            return Err(unsupported(format!(
                "protobuf is supported for v1 Secret, ConfigMap and Namespace only (got {api_version} {kind}); send JSON"
            )));
        }
    };
    obj.insert(
        "metadata".into(),
        metadata.map(meta_json).unwrap_or_else(|| json!({})),
    );
    Ok(Value::Object(obj))
}

/// Decodes a `Secret` message: its fields go into `obj`; returns its metadata.
fn secret_fields(raw: &[u8], obj: &mut Map<String, Value>) -> Result<Option<ObjectMeta>, ApiError> {
    let s = Secret::decode(raw).map_err(|e| bad("Secret", e))?;
    if !s.data.is_empty() {
        obj.insert("data".into(), base64_map(s.data));
    }
    if !s.string_data.is_empty() {
        obj.insert("stringData".into(), json!(s.string_data));
    }
    if let Some(t) = s.type_ {
        obj.insert("type".into(), json!(t));
    }
    if let Some(i) = s.immutable {
        obj.insert("immutable".into(), json!(i));
    }
    Ok(s.metadata)
}

/// Decodes a `ConfigMap` message: its fields go into `obj`; returns its metadata.
fn config_map_fields(
    raw: &[u8],
    obj: &mut Map<String, Value>,
) -> Result<Option<ObjectMeta>, ApiError> {
    let c = ConfigMap::decode(raw).map_err(|e| bad("ConfigMap", e))?;
    if !c.data.is_empty() {
        obj.insert("data".into(), json!(c.data));
    }
    if !c.binary_data.is_empty() {
        obj.insert("binaryData".into(), base64_map(c.binary_data));
    }
    if let Some(i) = c.immutable {
        obj.insert("immutable".into(), json!(i));
    }
    Ok(c.metadata)
}

/// Decodes a `Namespace` message: its finalizers go into `obj`; returns its metadata.
fn namespace_fields(
    raw: &[u8],
    obj: &mut Map<String, Value>,
) -> Result<Option<ObjectMeta>, ApiError> {
    let n = Namespace::decode(raw).map_err(|e| bad("Namespace", e))?;
    if let Some(spec) = n.spec
        && !spec.finalizers.is_empty()
    {
        obj.insert("spec".into(), json!({ "finalizers": spec.finalizers }));
    }
    Ok(n.metadata)
}

/// A map of bytes as JSON: each value in standard base64.
fn base64_map(m: BTreeMap<String, Vec<u8>>) -> Value {
    m.into_iter()
        .map(|(k, v)| {
            (
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect::<Map<_, _>>()
        .into()
}

fn meta_json(m: ObjectMeta) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.insert(k.into(), json!(v));
        }
    };
    put("name", m.name);
    put("generateName", m.generate_name);
    put("namespace", m.namespace);
    put("uid", m.uid);
    put("resourceVersion", m.resource_version);
    if !m.labels.is_empty() {
        out.insert("labels".into(), json!(m.labels));
    }
    if !m.annotations.is_empty() {
        out.insert("annotations".into(), json!(m.annotations));
    }
    if !m.owner_references.is_empty() {
        let refs: Vec<Value> = m
            .owner_references
            .into_iter()
            .map(|r| {
                let mut o = json!({
                    "apiVersion": r.api_version.unwrap_or_default(),
                    "kind": r.kind.unwrap_or_default(),
                    "name": r.name.unwrap_or_default(),
                    "uid": r.uid.unwrap_or_default(),
                });
                if let Some(c) = r.controller {
                    o["controller"] = json!(c);
                }
                if let Some(b) = r.block_owner_deletion {
                    o["blockOwnerDeletion"] = json!(b);
                }
                o
            })
            .collect();
        out.insert("ownerReferences".into(), Value::Array(refs));
    }
    if !m.finalizers.is_empty() {
        out.insert("finalizers".into(), json!(m.finalizers));
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    fn meta(name: &str) -> Option<ObjectMeta> {
        Some(ObjectMeta {
            name: Some(name.into()),
            namespace: Some("demo".into()),
            labels: [("app".to_string(), "x".to_string())].into(),
            ..ObjectMeta::default()
        })
    }

    #[test]
    fn secret_like_kubectl_create_secret_generic() {
        let s = Secret {
            metadata: meta("creds"),
            data: [("accessKeyId".to_string(), b"abc".to_vec())].into(),
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "creds", "namespace": "demo", "labels": {"app": "x"}},
                "data": {"accessKeyId": "YWJj"},
            })
        );
    }

    #[test]
    fn configmap_and_namespace() {
        let c = ConfigMap {
            metadata: meta("cfg"),
            data: [("k".to_string(), "v".to_string())].into(),
            binary_data: [("b".to_string(), vec![0, 1])].into(),
            immutable: Some(true),
        };
        let v = decode(&envelope("v1", "ConfigMap", c.encode_to_vec())).unwrap();
        assert_eq!(v["data"], json!({"k": "v"}));
        assert_eq!(v["binaryData"], json!({"b": "AAE="}));
        assert_eq!(v["immutable"], json!(true));
        let n = Namespace {
            metadata: Some(ObjectMeta {
                name: Some("team-a".into()),
                ..ObjectMeta::default()
            }),
            spec: None,
        };
        let v = decode(&envelope("v1", "Namespace", n.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        let e = decode(&envelope("apps/v1", "Deployment", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
        assert_eq!(decode(b"not protobuf").unwrap_err().code, 400);
        let mut broken = envelope("v1", "Secret", vec![0x0a, 0xff]);
        broken.truncate(broken.len() - 1);
        assert!(decode(&broken).is_err());
    }
}
