//! The source password (pure): read from its Secret, and the Secret's version recorded in
//! [`ANNOTATION_APPLIED_PASSWORD`](super::ANNOTATION_APPLIED_PASSWORD).

use super::reasons;
use crate::cloud::Secret;
use crate::crd::SecretKeyRef;

/// Why the source password cannot be read. The texts name the Secret and key, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// The Secret does not exist.
    #[error(
        "password Secret {namespace}/{name} (key {key:?}) not found (spec.source.passwordSecretRef)"
    )]
    SecretNotFound {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// The key is missing, empty or not UTF-8.
    #[error(
        "password Secret {namespace}/{name} has no non-empty UTF-8 key {key:?} (spec.source.passwordSecretRef)"
    )]
    KeyInvalid {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
}

impl PasswordProblem {
    /// Fixed PascalCase reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::SecretNotFound { .. } => reasons::PASSWORD_SECRET_NOT_FOUND,
            Self::KeyInvalid { .. } => reasons::PASSWORD_SECRET_INVALID,
        }
    }
}

/// Reads the source password from the Secret `r` points at (`None` when it does not exist).
/// Trailing newlines (as left by `kubectl create secret --from-file`) are dropped.
pub fn password_from_secret(
    namespace: &str,
    r: &SecretKeyRef,
    secret: Option<&k8s_openapi::api::core::v1::Secret>,
) -> Result<Secret, PasswordProblem> {
    let Some(secret) = secret else {
        return Err(PasswordProblem::SecretNotFound {
            namespace: namespace.to_string(),
            name: r.name.clone(),
            key: r.key.clone(),
        });
    };
    let invalid = || PasswordProblem::KeyInvalid {
        namespace: namespace.to_string(),
        name: r.name.clone(),
        key: r.key.clone(),
    };
    let value = match secret.string_data.as_ref().and_then(|m| m.get(&r.key)) {
        Some(v) => v.clone(),
        None => {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|m| m.get(&r.key))
                .ok_or_else(invalid)?;
            String::from_utf8(bytes.0.clone()).map_err(|_| invalid())?
        }
    };
    let value = value.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        return Err(invalid());
    }
    Ok(Secret::new(value))
}

/// The version of a Secret as recorded in [`ANNOTATION_APPLIED_PASSWORD`]:
/// `<uid>/<resourceVersion>`. It changes whenever the Secret is written or recreated and says
/// nothing about its content (a hash of the password, even a truncated one, would let anyone
/// who can read the object test guesses offline).
pub fn secret_version(secret: &k8s_openapi::api::core::v1::Secret) -> String {
    format!(
        "{}/{}",
        secret.metadata.uid.as_deref().unwrap_or_default(),
        secret
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    )
}
