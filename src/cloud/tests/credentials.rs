//! Credential chain: environment, RRSA against a fake STS, ECS RAM role against a fake IMDS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::fake::{Canned, Fake};
use crate::cloud::api::DescribeBackupsRequest;
use crate::cloud::config::ChainConfig;
use crate::cloud::credentials::env;
use crate::cloud::error::ErrorKind;
use crate::cloud::time::ManualTime;
use crate::cloud::{AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Product, Target};

fn ts(offset: Duration) -> String {
    (jiff::Timestamp::now() + offset)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn sts_ok(id: &str, expires_in: Duration) -> Canned {
    Canned::json(
        200,
        &format!(
            r#"{{"RequestId":"sts","AssumedRoleUser":{{"Arn":"a","AssumedRoleId":"b"}},
               "Credentials":{{"AccessKeyId":"{id}","AccessKeySecret":"sts-secret-{id}","SecurityToken":"sts-token-{id}","Expiration":"{}"}}}}"#,
            ts(expires_in)
        ),
    )
}

fn cfg_with_env(vars: &[(&str, &str)], sts: Option<&Fake>, imds: Option<&Fake>) -> CloudConfig {
    let mut cfg = CloudConfig {
        chain: ChainConfig {
            env: Some(
                vars.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            imds_endpoint: imds.map(|f| f.url()),
            imds_disabled: imds.is_none(),
            ..Default::default()
        },
        time: Arc::new(ManualTime::new()),
        ..Default::default()
    };
    if let Some(sts) = sts {
        cfg.endpoints.insert(Product::Sts, sts.url());
    }
    cfg
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    // Poll with a generous bound; no fixed sleeps as synchronisation.
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn env_access_key_is_used() {
    let api = Fake::start(vec![Canned::json(200, r#"{"RequestId":"r"}"#)], None).await;
    let mut cfg = cfg_with_env(
        &[
            (env::ACCESS_KEY_ID, "env-ak"),
            (env::ACCESS_KEY_SECRET, "env-sk"),
            (env::SECURITY_TOKEN, "env-tok"),
        ],
        None,
        None,
    );
    cfg.endpoint_override = Some(api.url());
    let cloud = AlibabaCloud::new(cfg).unwrap();
    assert_eq!(cloud.default_chain().unwrap().provider_name(), "env");
    cloud
        .rds(&Target {
            region: "cn-hangzhou".into(),
            credentials: CredentialSource::Default,
        })
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap();
    let r = &api.requests()[0];
    assert!(
        r.header("authorization")
            .unwrap()
            .contains("Credential=env-ak,")
    );
    assert_eq!(r.header("x-acs-security-token").as_deref(), Some("env-tok"));
}

#[tokio::test]
async fn rrsa_assume_role_with_oidc_refreshes_and_rereads_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "oidc-token-1\n").unwrap();
    let sts = Fake::start(
        vec![
            sts_ok("STS.A", Duration::from_secs(3600)),
            sts_ok("STS.B", Duration::from_secs(3600)),
        ],
        Some(sts_ok("STS.D", Duration::from_secs(3600))),
    )
    .await;
    let cfg = cfg_with_env(
        &[
            (env::ROLE_ARN, "acs:ram::123:role/backup"),
            (
                env::OIDC_PROVIDER_ARN,
                "acs:ram::123:oidc-provider/ack-rrsa",
            ),
            (env::OIDC_TOKEN_FILE, token_path.to_str().unwrap()),
            (env::ROLE_SESSION_NAME, "sess"),
        ],
        Some(&sts),
        None,
    );
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let chain = cloud.default_chain().unwrap();
    assert_eq!(chain.provider_name(), "rrsa");

    let a = cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(a.access_key_id, "STS.A");
    assert_eq!(
        a.security_token.as_ref().unwrap().expose(),
        "sts-token-STS.A"
    );
    let reqs = sts.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.query_get("Action").as_deref(), Some("AssumeRoleWithOIDC"));
    assert_eq!(r.query_get("Version").as_deref(), Some("2015-04-01"));
    assert_eq!(r.query_get("Format").as_deref(), Some("JSON"));
    assert_eq!(
        r.query_get("RoleArn").as_deref(),
        Some("acs:ram::123:role/backup")
    );
    assert_eq!(
        r.query_get("OIDCProviderArn").as_deref(),
        Some("acs:ram::123:oidc-provider/ack-rrsa")
    );
    assert_eq!(r.query_get("OIDCToken").as_deref(), Some("oidc-token-1"));
    assert_eq!(r.query_get("RoleSessionName").as_deref(), Some("sess"));
    assert_eq!(r.query_get("DurationSeconds").as_deref(), Some("3600"));
    assert!(r.query_get("Timestamp").is_some());
    // Unsigned.
    assert!(r.query_get("Signature").is_none() && r.header("authorization").is_none());

    // Fresh for now: no refresh.
    cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(sts.requests().len(), 1);

    // 50 minutes later the credentials are 10 minutes from expiry: inside the 15-minute
    // window. The token rotates; the next call still gets the valid cached credentials at
    // once and starts one background refresh, which re-reads the token file.
    chain.age_cache(Duration::from_secs(50 * 60));
    std::fs::write(&token_path, "oidc-token-2").unwrap();
    let again = cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(
        again.access_key_id, "STS.A",
        "valid cached credentials are served without waiting"
    );
    wait_until(|| sts.requests().len() == 2).await;
    assert_eq!(
        sts.requests()[1].query_get("OIDCToken").as_deref(),
        Some("oidc-token-2")
    );
    wait_until(|| chain.fetch_count() == 2).await;
    let mut b = cloud.credentials(&CredentialSource::Default).await.unwrap();
    for _ in 0..200 {
        if b.access_key_id == "STS.B" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        b = cloud.credentials(&CredentialSource::Default).await.unwrap();
    }
    assert_eq!(b.access_key_id, "STS.B");
    // Fresh credentials: no further STS call.
    cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(sts.requests().len(), 2);

    // Expired credentials are never served: the caller waits for new ones.
    chain.age_cache(Duration::from_secs(3600));
    let d = cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(d.access_key_id, "STS.D");
    assert_eq!(sts.requests().len(), 3);
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "t").unwrap();
    let sts = Fake::start(
        vec![sts_ok("STS.C", Duration::from_secs(3600))],
        Some(sts_ok("STS.X", Duration::from_secs(3600))),
    )
    .await;
    let cfg = cfg_with_env(
        &[
            (env::ROLE_ARN, "r"),
            (env::OIDC_PROVIDER_ARN, "p"),
            (env::OIDC_TOKEN_FILE, token_path.to_str().unwrap()),
        ],
        Some(&sts),
        None,
    );
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = cloud.clone();
        tasks.push(tokio::spawn(async move {
            c.credentials(&CredentialSource::Default).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().access_key_id, "STS.C");
    }
    assert_eq!(sts.requests().len(), 1);
}

#[tokio::test]
async fn rrsa_errors_are_typed_and_secret_free() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "oidc-canary-token").unwrap();
    let sts = Fake::start(
        vec![Canned::json(400, r#"{"RequestId":"e1","Code":"AuthenticationFail.OIDCToken.Invalid","Message":"invalid token"}"#)],
        None,
    )
    .await;
    let cfg = cfg_with_env(
        &[
            (env::ROLE_ARN, "r"),
            (env::OIDC_PROVIDER_ARN, "p"),
            (env::OIDC_TOKEN_FILE, token_path.to_str().unwrap()),
        ],
        Some(&sts),
        None,
    );
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let e = cloud
        .credentials(&CredentialSource::Default)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert_eq!(e.code(), Some("AuthenticationFail.OIDCToken.Invalid"));
    assert_eq!(e.request_id(), Some("e1"));
    assert!(!e.to_string().contains("oidc-canary-token"));
    assert!(!format!("{e:?}").contains("oidc-canary-token"));

    // A missing token file is a credentials error, not a panic.
    std::fs::remove_file(&token_path).unwrap();
    let cfg = cfg_with_env(
        &[
            (env::ROLE_ARN, "r"),
            (env::OIDC_PROVIDER_ARN, "p"),
            (env::OIDC_TOKEN_FILE, token_path.to_str().unwrap()),
        ],
        Some(&sts),
        None,
    );
    let e = AlibabaCloud::new(cfg)
        .unwrap()
        .credentials(&CredentialSource::Default)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
}

fn ecs_creds(id: &str) -> Canned {
    Canned::json(
        200,
        &format!(
            r#"{{"Code":"Success","AccessKeyId":"{id}","AccessKeySecret":"ecs-secret","SecurityToken":"ecs-token","Expiration":"{}","LastUpdated":"x"}}"#,
            ts(Duration::from_secs(6 * 3600))
        ),
    )
}

#[tokio::test]
async fn ecs_ram_role_with_imdsv2_token() {
    let imds = Fake::start(
        vec![
            Canned::json(200, "imds-token-1"),
            Canned::json(200, "node-role\n"),
            ecs_creds("STS.ECS"),
        ],
        None,
    )
    .await;
    let cloud = AlibabaCloud::new(cfg_with_env(&[], None, Some(&imds))).unwrap();
    assert_eq!(
        cloud.default_chain().unwrap().provider_name(),
        "ecs_ram_role"
    );
    let c = cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(c.access_key_id, "STS.ECS");
    assert_eq!(c.security_token.as_ref().unwrap().expose(), "ecs-token");
    let reqs = imds.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].uri.path(), "/latest/api/token");
    assert_eq!(
        reqs[0]
            .header("x-aliyun-ecs-metadata-token-ttl-seconds")
            .as_deref(),
        Some("21600")
    );
    assert_eq!(
        reqs[1].uri.path(),
        "/latest/meta-data/ram/security-credentials/"
    );
    assert_eq!(
        reqs[2].uri.path(),
        "/latest/meta-data/ram/security-credentials/node-role"
    );
    for r in &reqs[1..] {
        assert_eq!(r.method, "GET");
        assert_eq!(
            r.header("x-aliyun-ecs-metadata-token").as_deref(),
            Some("imds-token-1")
        );
    }
    // Cached: no further metadata calls.
    cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(imds.requests().len(), 3);
}

#[tokio::test]
async fn ecs_falls_back_to_imdsv1_unless_disabled() {
    let imds = Fake::start(
        vec![Canned::json(403, "forbidden"), ecs_creds("STS.V1")],
        None,
    )
    .await;
    let cloud = AlibabaCloud::new(cfg_with_env(
        &[(env::ECS_METADATA, "named-role")],
        None,
        Some(&imds),
    ))
    .unwrap();
    let c = cloud.credentials(&CredentialSource::Default).await.unwrap();
    assert_eq!(c.access_key_id, "STS.V1");
    let reqs = imds.requests();
    assert_eq!(reqs.len(), 2, "role name from ALIBABA_CLOUD_ECS_METADATA");
    assert_eq!(
        reqs[1].uri.path(),
        "/latest/meta-data/ram/security-credentials/named-role"
    );
    assert!(reqs[1].header("x-aliyun-ecs-metadata-token").is_none());

    let imds = Fake::start(vec![Canned::json(403, "forbidden")], None).await;
    let cloud = AlibabaCloud::new(cfg_with_env(
        &[
            (env::ECS_METADATA, "named-role"),
            (env::IMDSV1_DISABLED, "true"),
        ],
        None,
        Some(&imds),
    ))
    .unwrap();
    let e = cloud
        .credentials(&CredentialSource::Default)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert_eq!(imds.requests().len(), 1);
}

#[tokio::test]
async fn no_provider_is_a_clear_error() {
    let cloud = AlibabaCloud::new(cfg_with_env(&[], None, None)).unwrap();
    let e = cloud
        .rds(&Target {
            region: "cn-hangzhou".into(),
            credentials: CredentialSource::Default,
        })
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert_eq!(e.product, Product::Rds);
    assert_eq!(e.action, "DescribeBackups");
    assert!(e.to_string().contains("no credentials"), "{e}");
}

#[tokio::test]
async fn static_credentials_are_trimmed_and_checked() {
    let cloud = AlibabaCloud::new(cfg_with_env(&[], None, None)).unwrap();
    let c = cloud
        .credentials(&CredentialSource::Static(crate::cloud::StaticCredentials {
            access_key_id: " ak\n".into(),
            access_key_secret: crate::cloud::Secret::new("sk\n"),
            security_token: Some(crate::cloud::Secret::new("\n")),
        }))
        .await
        .unwrap();
    assert_eq!(c.access_key_id, "ak");
    assert_eq!(c.access_key_secret.expose(), "sk");
    assert!(c.security_token.is_none(), "a blank token is no token");
    let e = cloud
        .credentials(&CredentialSource::Static(crate::cloud::StaticCredentials {
            access_key_id: "ak".into(),
            access_key_secret: crate::cloud::Secret::new(" "),
            security_token: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert_eq!(e.class(), crate::cloud::ErrorClass::Terminal);
}

#[tokio::test]
async fn sts_outage_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "t").unwrap();
    let sts = Fake::start(
        vec![Canned::json(503, r#"{"Code":"ServiceUnavailable"}"#)],
        None,
    )
    .await;
    let cfg = cfg_with_env(
        &[
            (env::ROLE_ARN, "r"),
            (env::OIDC_PROVIDER_ARN, "p"),
            (env::OIDC_TOKEN_FILE, token_path.to_str().unwrap()),
        ],
        Some(&sts),
        None,
    );
    let e = AlibabaCloud::new(cfg)
        .unwrap()
        .credentials(&CredentialSource::Default)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert_eq!(e.class(), crate::cloud::ErrorClass::Retryable);
}
