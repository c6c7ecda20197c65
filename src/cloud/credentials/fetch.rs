//! Fetching temporary credentials: STS `AssumeRoleWithOIDC` (RRSA) and the ECS metadata
//! service (RAM role, IMDSv2 token first).

use serde::Deserialize;

use super::super::Product;
use super::super::error::{CloudError, ErrorKind};
use super::super::secret::Secret;
use super::chain::{EcsSettings, OidcSettings};
use super::{Credentials, cred_err};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    credentials: Option<StsCredentials>,
    #[serde(default, deserialize_with = "super::super::api::de::opt_string")]
    code: Option<String>,
    #[serde(default, deserialize_with = "super::super::api::de::opt_string")]
    message: Option<String>,
    #[serde(default, deserialize_with = "super::super::api::de::opt_string")]
    request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EcsCredentialsBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    access_key_secret: Option<String>,
    #[serde(default)]
    security_token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

fn parse_expiration(s: &str) -> Result<jiff::Timestamp, CloudError> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .map_err(|e| cred_err(format!("invalid Expiration {s:?}: {e}")))
}

fn transport_err(action: &str, e: reqwest::Error) -> CloudError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Credentials
    };
    CloudError::new(Product::Sts, action, kind, "request failed").with_source(e.without_url())
}

/// RRSA: temporary credentials from STS `AssumeRoleWithOIDC` with the projected token.
pub(super) async fn fetch_oidc(
    http: &reqwest::Client,
    s: &OidcSettings,
) -> Result<Credentials, CloudError> {
    const ACTION: &str = OIDC_ACTION;
    // Re-read on every refresh: the projected token rotates.
    let token = tokio::fs::read_to_string(&s.token_file)
        .await
        .map_err(|e| {
            CloudError::new(
                Product::Sts,
                ACTION,
                ErrorKind::Credentials,
                "cannot read the OIDC token file",
            )
            .with_source(e)
        })?;
    let mut url = s.sts_url.clone();
    url.set_query(Some(&super::super::params::encode_pairs(&oidc_query(
        s, &token,
    ))));
    let resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| transport_err(ACTION, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| transport_err(ACTION, e))?;
    oidc_answer(status, &body)
}

const OIDC_ACTION: &str = "AssumeRoleWithOIDC";

/// The query of `AssumeRoleWithOIDC` (unsigned: the OIDC token is the proof).
fn oidc_query(s: &OidcSettings, token: &str) -> Vec<(String, String)> {
    let timestamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    vec![
        ("Action".to_string(), OIDC_ACTION.to_string()),
        ("Format".to_string(), "JSON".to_string()),
        (
            "Version".to_string(),
            Product::Sts.api_version().to_string(),
        ),
        (
            "DurationSeconds".to_string(),
            s.duration_seconds.to_string(),
        ),
        ("RoleArn".to_string(), s.role_arn.clone()),
        ("OIDCProviderArn".to_string(), s.oidc_provider_arn.clone()),
        ("OIDCToken".to_string(), token.trim().to_string()),
        ("RoleSessionName".to_string(), s.session_name.clone()),
        ("Timestamp".to_string(), timestamp),
    ]
}

/// The credentials of an STS answer, or its error.
fn oidc_answer(status: u16, body: &[u8]) -> Result<Credentials, CloudError> {
    const ACTION: &str = OIDC_ACTION;
    let parsed: Result<AssumeRoleResponse, _> = serde_json::from_slice(body);
    match parsed {
        Ok(AssumeRoleResponse {
            credentials: Some(c),
            ..
        }) if status == 200 => Ok(Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: Secret::new(c.access_key_secret),
            security_token: Some(Secret::new(c.security_token)),
            expiration: Some(parse_expiration(&c.expiration)?),
        }),
        Ok(r) => Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            r.message
                .unwrap_or_else(|| "no Credentials in the STS response".to_string()),
        )
        .with_status(status)
        .with_request_id(r.request_id)
        .with_code(r.code)),
        Err(e) => Err(CloudError::new(
            Product::Sts,
            ACTION,
            ErrorKind::Credentials,
            "malformed STS response",
        )
        .with_status(status)
        .with_source(e)),
    }
}

const ECS_ACTION: &str = "EcsRamRole";

/// A credentials error of the ECS metadata provider.
fn ecs_err(message: impl Into<String>) -> CloudError {
    CloudError::new(Product::Sts, ECS_ACTION, ErrorKind::Credentials, message)
}

/// ECS RAM role: temporary credentials from the metadata service (an IMDSv2 token first).
pub(super) async fn fetch_ecs(
    http: &reqwest::Client,
    s: &EcsSettings,
) -> Result<Credentials, CloudError> {
    let imds = Imds {
        http,
        base: &s.base,
        token: imds_token(http, s).await?,
    };
    let role = match &s.role_name {
        Some(r) => r.clone(),
        None => imds.role_name().await?,
    };
    if role.is_empty() || role.contains('/') {
        return Err(ecs_err("no RAM role attached to this instance"));
    }
    imds.credentials(&role).await
}

/// The IMDSv2 token (`None`: IMDSv1, unless it is disabled).
async fn imds_token(http: &reqwest::Client, s: &EcsSettings) -> Result<Option<String>, CloudError> {
    let url = metadata_url(&s.base, "latest/api/token")?;
    match http
        .put(url)
        .header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Ok(r.text().await.ok().map(|t| t.trim().to_string())),
        Ok(r) if s.imdsv1_disabled => {
            Err(ecs_err("cannot get an IMDSv2 token and IMDSv1 is disabled")
                .with_status(r.status().as_u16()))
        }
        Err(e) if s.imdsv1_disabled => Err(transport_err(ECS_ACTION, e)),
        _ => Ok(None),
    }
}

/// `path` under the metadata service's address.
fn metadata_url(base: &url::Url, path: &str) -> Result<url::Url, CloudError> {
    base.join(path)
        .map_err(|e| ecs_err(format!("metadata URL: {e}")))
}

/// The metadata service, with the IMDSv2 token when there is one.
struct Imds<'a> {
    http: &'a reqwest::Client,
    base: &'a url::Url,
    token: Option<String>,
}

impl Imds<'_> {
    fn get(&self, path: &str) -> Result<reqwest::RequestBuilder, CloudError> {
        let mut req = self.http.get(metadata_url(self.base, path)?);
        if let Some(t) = &self.token {
            req = req.header("X-aliyun-ecs-metadata-token", t.as_str());
        }
        Ok(req)
    }

    /// The RAM role attached to the instance (its first line).
    async fn role_name(&self) -> Result<String, CloudError> {
        let r = self
            .get("latest/meta-data/ram/security-credentials/")?
            .send()
            .await
            .map_err(|e| transport_err(ECS_ACTION, e))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(
                ecs_err("cannot read the RAM role name from the metadata service")
                    .with_status(status),
            );
        }
        let text = r.text().await.map_err(|e| transport_err(ECS_ACTION, e))?;
        Ok(text.lines().next().unwrap_or("").trim().to_string())
    }

    /// The temporary credentials of `role`.
    async fn credentials(&self, role: &str) -> Result<Credentials, CloudError> {
        let r = self
            .get(&format!("latest/meta-data/ram/security-credentials/{role}"))?
            .send()
            .await
            .map_err(|e| transport_err(ECS_ACTION, e))?;
        let status = r.status().as_u16();
        let body = r.bytes().await.map_err(|e| transport_err(ECS_ACTION, e))?;
        if status != 200 {
            return Err(
                ecs_err("metadata service refused the credentials request").with_status(status)
            );
        }
        ecs_credentials(&body)
    }
}

/// The credentials of a metadata answer (`Code` `Success` or absent, every field present).
fn ecs_credentials(body: &[u8]) -> Result<Credentials, CloudError> {
    let c: EcsCredentialsBody = serde_json::from_slice(body)
        .map_err(|e| ecs_err("malformed metadata response").with_source(e))?;
    match (
        c.code.as_deref(),
        c.access_key_id,
        c.access_key_secret,
        c.security_token,
        c.expiration,
    ) {
        (Some("Success") | None, Some(id), Some(secret), Some(token), Some(exp)) => {
            Ok(Credentials {
                access_key_id: id,
                access_key_secret: Secret::new(secret),
                security_token: Some(Secret::new(token)),
                expiration: Some(parse_expiration(&exp)?),
            })
        }
        _ => Err(ecs_err("metadata service returned no usable credentials")),
    }
}
