//! Status writes: server-side apply on the `/status` subresource under the operator's field
//! manager, skipped when nothing changed.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controller::reconcile::error::{Error, Result};

/// Field manager of every write the operator makes (one definition: [`crate::crd::FIELD_MANAGER`]).
pub use crate::crd::FIELD_MANAGER;

/// Whether `desired` differs from `current` (compared as JSON, so `None` fields and empty
/// values are compared the way they would be sent).
pub fn status_changed<S: Serialize>(current: Option<&S>, desired: &S) -> bool {
    let Some(current) = current else {
        return true;
    };
    match (serde_json::to_value(current), serde_json::to_value(desired)) {
        (Ok(a), Ok(b)) => a != b,
        _ => true,
    }
}

/// The server-side apply body for a status: `{apiVersion, kind, metadata: {name}, status}`.
pub fn status_patch<K, S>(name: &str, status: &S) -> Result<serde_json::Value>
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    Ok(serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": name },
        "status": serde_json::to_value(status).map_err(Error::Serialization)?,
    }))
}

/// Applies `desired` to the status of `name` unless it equals `current`.
///
/// Returns `Some(updated object)` when a write was made, `None` when it was skipped.
/// Fields of the status owned by the operator and absent from `desired` are removed by the
/// server (server-side apply semantics), so clearing an `Option` clears the field.
pub async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    current: Option<&S>,
    desired: &S,
) -> Result<Option<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    if !status_changed(current, desired) {
        return Ok(None);
    }
    let body = status_patch::<K, S>(name, desired)?;
    let updated = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::Kube)?;
    Ok(Some(updated))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[derive(Serialize, PartialEq, Debug)]
    struct S {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u32>,
        b: String,
    }

    #[test]
    fn unchanged_status_is_detected() {
        let a = S {
            a: Some(1),
            b: "x".into(),
        };
        let b = S {
            a: Some(1),
            b: "x".into(),
        };
        assert!(!status_changed(Some(&a), &b));
        let c = S {
            a: None,
            b: "x".into(),
        };
        assert!(status_changed(Some(&a), &c));
        assert!(status_changed(None, &a));
    }

    #[test]
    fn patch_carries_type_identity() {
        let p = status_patch::<ConfigMap, _>(
            "n",
            &S {
                a: None,
                b: "y".into(),
            },
        )
        .unwrap();
        assert_eq!(p["apiVersion"], "v1");
        assert_eq!(p["kind"], "ConfigMap");
        assert_eq!(p["metadata"]["name"], "n");
        assert_eq!(p["status"], serde_json::json!({"b": "y"}));
    }
}
