//! Credentials: static key pairs and the operator's default provider chain.
//!
//! * this file — the credential types and the environment variables of the chain;
//! * `chain` — the default chain (environment → RRSA (OIDC) → ECS RAM role) and its cache;
//! * `fetch` — the STS `AssumeRoleWithOIDC` and ECS metadata calls that fetch temporary
//!   credentials.

mod chain;
mod fetch;

pub use chain::DefaultChain;

use super::Product;
use super::error::{CloudError, ErrorKind};
use super::secret::Secret;

/// A key pair given explicitly (from a Kubernetes Secret), optionally with an STS token.
///
/// `Debug` redacts the secret and the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StaticCredentials {
    /// AccessKey ID (not secret; appears in signatures and metrics keys, never in labels).
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// STS security token, for temporary credentials.
    pub security_token: Option<Secret>,
}

/// Which credentials a [`super::Target`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum CredentialSource {
    /// An explicit key pair (from a `credentialsRef` Secret).
    Static(StaticCredentials),
    /// The operator's own chain: environment → RRSA (OIDC) → ECS RAM role.
    #[default]
    Default,
}

/// Credentials resolved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKey ID.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// STS security token, when the credentials are temporary.
    pub security_token: Option<Secret>,
    /// When temporary credentials expire.
    pub expiration: Option<jiff::Timestamp>,
}

impl From<&StaticCredentials> for Credentials {
    fn from(s: &StaticCredentials) -> Self {
        // Secret values often carry a trailing newline (`echo … | base64`); keys and tokens
        // never contain whitespace, so it is trimmed.
        Credentials {
            access_key_id: s.access_key_id.trim().to_string(),
            access_key_secret: Secret::new(s.access_key_secret.expose().trim()),
            security_token: s
                .security_token
                .as_ref()
                .map(|t| Secret::new(t.expose().trim()))
                .filter(|t| !t.is_empty()),
            expiration: None,
        }
    }
}

/// Environment variable names of the default chain (those of Alibaba's credential providers; see `docs/credentials.md`).
pub mod env {
    /// AccessKey ID.
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    /// AccessKey secret.
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    /// STS token for static temporary credentials.
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    /// RRSA: role ARN.
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    /// RRSA: OIDC provider ARN.
    pub const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
    /// RRSA: path of the projected OIDC token (re-read on every refresh).
    pub const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
    /// RRSA: session name.
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    /// RRSA: STS region (`sts.<region>.aliyuncs.com`).
    pub const STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
    /// RRSA: use `sts-vpc.<region>.aliyuncs.com`.
    pub const VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
    /// RRSA: explicit STS endpoint host.
    pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
    /// ECS: RAM role name (skips the role-name lookup).
    pub const ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
    /// ECS: disable the metadata provider.
    pub const ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
    /// ECS: refuse IMDSv1.
    pub const IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
}

/// A credentials error of the default chain.
fn cred_err(message: impl Into<String>) -> CloudError {
    CloudError::new(Product::Sts, "Credentials", ErrorKind::Credentials, message)
}
