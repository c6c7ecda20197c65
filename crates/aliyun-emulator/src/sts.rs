//! STS `2015-04-01`: unsigned `AssumeRoleWithOIDC` (RRSA) and `GetCallerIdentity`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, Params, iso_seconds, obj, rand_alnum};
use crate::config::EmulatorConfig;

/// Temporary credentials issued by `AssumeRoleWithOIDC`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StsCredential {
    /// `STS.`-prefixed AccessKey id.
    pub access_key_id: String,
    /// Secret.
    pub access_key_secret: String,
    /// Security token that must accompany the key.
    pub security_token: String,
    /// Expiry on the emulator clock, epoch ms.
    pub expiration_ms: i64,
    /// Assumed role ARN.
    pub role_arn: String,
    /// Session name.
    pub session_name: String,
}

/// Issued credentials by AccessKey id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StsState {
    /// Credentials by id.
    pub creds: BTreeMap<String, StsCredential>,
}

fn invalid(code: &str, msg: &str) -> ApiError {
    ApiError::product(400, code, msg)
}

fn parse_arn(arn: &str, kind: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (account, res) = rest.split_once(':')?;
    let name = res.strip_prefix(kind)?.strip_prefix('/')?;
    (!account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then(|| (account.to_owned(), name.to_owned()))
}

fn b64url_json(part: &str) -> Option<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl StsState {
    /// JSON view (secrets left out).
    pub fn view(&self, now: i64) -> Value {
        let v: Vec<Value> = self
            .creds
            .values()
            .map(|c| {
                json!({
                    "AccessKeyId": c.access_key_id,
                    "RoleArn": c.role_arn,
                    "RoleSessionName": c.session_name,
                    "Expiration": iso_seconds(c.expiration_ms),
                    "Expired": now >= c.expiration_ms,
                })
            })
            .collect();
        json!({ "credentials": v })
    }

    /// Dispatches one STS action.
    pub fn handle(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        cfg: &EmulatorConfig,
        caller: Option<&str>,
    ) -> Option<ApiResult> {
        Some(match action {
            "AssumeRoleWithOIDC" => self.assume_role_with_oidc(p, now),
            "GetCallerIdentity" => Ok(self.caller_identity(cfg, caller)),
            _ => return None,
        })
    }

    fn caller_identity(
        &self,
        cfg: &EmulatorConfig,
        caller: Option<&str>,
    ) -> serde_json::Map<String, Value> {
        let ak = caller.unwrap_or_default();
        match self.creds.get(ak) {
            Some(c) => obj([
                ("AccountId", json!(cfg.account_id)),
                ("UserId", json!(format!("3{}", &cfg.account_id))),
                ("IdentityType", json!("AssumedRoleUser")),
                (
                    "Arn",
                    json!(format!(
                        "{}/{}",
                        c.role_arn.replace(":role/", ":assumed-role/"),
                        c.session_name
                    )),
                ),
                (
                    "PrincipalId",
                    json!(format!("3{}:{}", cfg.account_id, c.session_name)),
                ),
                ("RoleId", json!(format!("3{}", cfg.account_id))),
            ]),
            None => obj([
                ("AccountId", json!(cfg.account_id)),
                ("UserId", json!(cfg.account_id)),
                ("IdentityType", json!("Account")),
                ("Arn", json!(format!("acs:ram::{}:root", cfg.account_id))),
                ("PrincipalId", json!(cfg.account_id)),
            ]),
        }
    }

    fn assume_role_with_oidc(&mut self, p: &Params, now: i64) -> ApiResult {
        let provider = p.req("OIDCProviderArn")?;
        let role = p.req("RoleArn")?;
        let token = p.req("OIDCToken")?;
        let (account, role_name) = parse_arn(role, "role").ok_or_else(|| {
            invalid(
                "InvalidParameter.RoleArn",
                "The parameter RoleArn is wrongly formed.",
            )
        })?;
        parse_arn(provider, "oidc-provider").ok_or_else(|| {
            invalid(
                "InvalidParameter.OIDCProviderArn",
                "The parameter OIDCProviderArn is wrongly formed.",
            )
        })?;
        let claims = oidc_claims(token, now)?;
        let session = session_name(p, now)?;
        let duration = duration_seconds(p)?;
        let cred = StsCredential {
            access_key_id: format!("STS.{}", rand_alnum(24).to_uppercase()),
            access_key_secret: rand_alnum(40),
            security_token: format!("CAIS{}", rand_alnum(120)),
            expiration_ms: now + duration * 1000,
            role_arn: role.to_owned(),
            session_name: session.clone(),
        };
        let role_id = format!("3{}", &rand_alnum(16));
        let out = obj([
            (
                "Credentials",
                json!({
                    "AccessKeyId": cred.access_key_id,
                    "AccessKeySecret": cred.access_key_secret,
                    "SecurityToken": cred.security_token,
                    "Expiration": iso_seconds(cred.expiration_ms),
                }),
            ),
            (
                "AssumedRoleUser",
                json!({
                    "AssumedRoleId": format!("{role_id}:{session}"),
                    "Arn": format!("acs:ram::{account}:assumed-role/{role_name}/{session}"),
                }),
            ),
            ("OIDCTokenInfo", token_info(&claims)),
        ]);
        self.creds.insert(cred.access_key_id.clone(), cred);
        Ok(out)
    }
}

/// The claims of an OIDC token: a well-formed JWT (its signature is not verified) that has
/// not expired.
fn oidc_claims(token: &str, now: i64) -> Result<Value, ApiError> {
    let parts: Vec<&str> = token.split('.').collect();
    let claims = match parts.as_slice() {
        [_, payload, _] => b64url_json(payload),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDC token is not a well-formed JWT.",
        )
    })?;
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64)
        && exp * 1000 < now
    {
        return Err(invalid(
            "AuthenticationFail.OIDCToken.Expired",
            "The OIDC token has expired.",
        ));
    }
    Ok(claims)
}

/// `RoleSessionName` (2–64 of letters, digits and `._@-`; `emulator-<unix s>` when omitted).
fn session_name(p: &Params, now: i64) -> Result<String, ApiError> {
    let session = p
        .opt("RoleSessionName")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("emulator-{}", now / 1000));
    if session.len() < 2
        || session.len() > 64
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
    {
        return Err(invalid(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        ));
    }
    Ok(session)
}

/// `DurationSeconds`: 900–43200, 3600 when omitted.
fn duration_seconds(p: &Params) -> Result<i64, ApiError> {
    let duration = match p.opt("DurationSeconds") {
        None => 3600,
        Some(d) => d.parse::<i64>().map_err(|_| {
            invalid(
                "InvalidParameter.DurationSeconds",
                "The parameter DurationSeconds is invalid.",
            )
        })?,
    };
    if !(900..=43_200).contains(&duration) {
        return Err(invalid(
            "InvalidParameter.DurationSeconds",
            "The DurationSeconds must be between 900 and 43200.",
        ));
    }
    Ok(duration)
}

/// `OIDCTokenInfo`: subject, issuer and audiences of the token.
fn token_info(claims: &Value) -> Value {
    json!({
        "Subject": claims.get("sub").cloned().unwrap_or(Value::String(String::new())),
        "Issuer": claims.get("iss").cloned().unwrap_or(Value::String(String::new())),
        "ClientIds": match claims.get("aud") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        },
    })
}
