//! Credentials for a cloud call: the object's `credentialsRef` Secret (same namespace) or the
//! operator's default chain.
//!
//! The Secret is read on every reconcile, so a rotation takes effect at the next reconcile;
//! the controllers also watch Secrets and requeue the objects that reference a changed one.
//! Problems are reported by Secret name and key — never by value.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::cloud::{CredentialSource, StaticCredentials};

/// Secret key holding the AccessKey ID.
pub const ACCESS_KEY_ID: &str = "accessKeyId";
/// Secret key holding the AccessKey secret.
pub const ACCESS_KEY_SECRET: &str = "accessKeySecret";
/// Optional Secret key holding an STS security token.
pub const SECURITY_TOKEN: &str = "securityToken";

/// Why the credentials of an object cannot be used. The texts name the Secret and the key,
/// never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsProblem {
    /// The referenced Secret does not exist.
    #[error("credentials Secret {namespace}/{name} not found")]
    SecretNotFound {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
    },
    /// A required key is missing or empty.
    #[error("credentials Secret {namespace}/{name} has no non-empty key {key:?}")]
    KeyMissing {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key's value is not valid UTF-8.
    #[error("credentials Secret {namespace}/{name} key {key:?} is not valid UTF-8")]
    NotUtf8 {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// The offending key.
        key: &'static str,
    },
}

impl CredentialsProblem {
    /// Fixed PascalCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            CredentialsProblem::SecretNotFound { .. } => "CredentialsSecretNotFound",
            CredentialsProblem::KeyMissing { .. } | CredentialsProblem::NotUtf8 { .. } => {
                "CredentialsSecretInvalid"
            }
        }
    }
}

fn value(
    data: &BTreeMap<String, ByteString>,
    string_data: Option<&BTreeMap<String, String>>,
    key: &'static str,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, CredentialsProblem> {
    if let Some(v) = string_data.and_then(|m| m.get(key)) {
        return Ok(Some(v.clone()).filter(|v| !v.trim().is_empty()));
    }
    match data.get(key) {
        None => Ok(None),
        Some(bytes) => match String::from_utf8(bytes.0.clone()) {
            Ok(s) => Ok(Some(s).filter(|v| !v.trim().is_empty())),
            Err(_) => Err(CredentialsProblem::NotUtf8 {
                namespace: namespace.to_string(),
                name: name.to_string(),
                key,
            }),
        },
    }
}

/// Reads the key pair from a Secret (pure).
pub fn from_secret(secret: &Secret) -> Result<StaticCredentials, CredentialsProblem> {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let sd = secret.string_data.as_ref();
    let missing = |key| CredentialsProblem::KeyMissing {
        namespace: namespace.clone(),
        name: name.clone(),
        key,
    };
    let id =
        value(data, sd, ACCESS_KEY_ID, &namespace, &name)?.ok_or_else(|| missing(ACCESS_KEY_ID))?;
    let secret_value = value(data, sd, ACCESS_KEY_SECRET, &namespace, &name)?
        .ok_or_else(|| missing(ACCESS_KEY_SECRET))?;
    let token = value(data, sd, SECURITY_TOKEN, &namespace, &name)?;
    Ok(StaticCredentials {
        access_key_id: id.trim().to_string(),
        access_key_secret: secret_value.trim().to_string().into(),
        security_token: token.map(|t| t.trim().to_string().into()),
    })
}

/// Resolves the credentials of an object in `namespace` with optional `credentialsRef.name`.
///
/// `Ok(Err(problem))` means the user must fix something (→ `Stalled`); `Err` is a Kubernetes
/// API failure (→ retried with backoff).
pub async fn resolve(
    client: &Client,
    namespace: &str,
    secret_name: Option<&str>,
) -> Result<Result<CredentialSource, CredentialsProblem>, kube::Error> {
    let Some(name) = secret_name.filter(|n| !n.is_empty()) else {
        return Ok(Ok(CredentialSource::Default));
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await? {
        None => Ok(Err(CredentialsProblem::SecretNotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })),
        Some(secret) => Ok(from_secret(&secret).map(CredentialSource::Static)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("creds".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn reads_pair_and_optional_token() {
        let c = from_secret(&secret(&[
            ("accessKeyId", "id"),
            ("accessKeySecret", "CANARY-s3cr3t\n"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "id");
        assert_eq!(c.access_key_secret.expose(), "CANARY-s3cr3t");
        assert!(c.security_token.is_none());
        let c = from_secret(&secret(&[
            ("accessKeyId", "id"),
            ("accessKeySecret", "s"),
            ("securityToken", "tok"),
        ]))
        .unwrap();
        assert_eq!(c.security_token.unwrap().expose(), "tok");
    }

    #[test]
    fn missing_or_empty_key_names_key_not_value() {
        let e = from_secret(&secret(&[("accessKeyId", "CANARY-id-value")])).unwrap_err();
        assert_eq!(e.reason(), "CredentialsSecretInvalid");
        let text = e.to_string();
        assert!(text.contains("ns/creds"), "{text}");
        assert!(text.contains("accessKeySecret"), "{text}");
        assert!(!text.contains("CANARY"), "{text}");
        let e =
            from_secret(&secret(&[("accessKeyId", " "), ("accessKeySecret", "x")])).unwrap_err();
        assert!(matches!(
            e,
            CredentialsProblem::KeyMissing {
                key: "accessKeyId",
                ..
            }
        ));
    }

    #[test]
    fn non_utf8_is_reported() {
        let mut s = secret(&[("accessKeySecret", "x")]);
        s.data
            .as_mut()
            .unwrap()
            .insert("accessKeyId".into(), ByteString(vec![0xff, 0xfe]));
        let e = from_secret(&s).unwrap_err();
        assert!(matches!(
            e,
            CredentialsProblem::NotUtf8 {
                key: "accessKeyId",
                ..
            }
        ));
    }
}
