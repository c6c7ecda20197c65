//! STS: unsigned AssumeRoleWithOIDC and use of the issued temporary credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;

fn jwt(exp: i64) -> String {
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        e("{\"alg\":\"RS256\"}"),
        e(&format!(
            "{{\"sub\":\"system:serviceaccount:ns:sa\",\"iss\":\"https://oidc.example\",\"aud\":[\"sts.aliyuncs.com\"],\"exp\":{exp}}}"
        )),
        e("sig")
    )
}

const ROLE: &str = "acs:ram::1234567890123456:role/backup-operator";
const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1";

async fn assume(c: &Client, token: &str, extra: &[(&str, &str)]) -> Reply {
    let mut p = vec![
        ("Action", "AssumeRoleWithOIDC"),
        ("Version", STS),
        ("Format", "JSON"),
        ("RoleArn", ROLE),
        ("OIDCProviderArn", PROVIDER),
        ("OIDCToken", token),
        ("RoleSessionName", "operator-session"),
        ("Timestamp", "2026-01-01T00:00:00Z"),
    ];
    p.extend_from_slice(extra);
    c.unsigned(&p).await
}

#[tokio::test]
async fn rrsa_credentials_work_end_to_end() {
    let emu = start().await;
    let c = Client::new(&emu);
    let token = jwt(jiff::Timestamp::now().as_second() + 3600);
    let r = assume(&c, &token, &[]).await.ok();
    let ak = r.s("/Credentials/AccessKeyId");
    let sk = r.s("/Credentials/AccessKeySecret");
    let st = r.s("/Credentials/SecurityToken");
    assert!(ak.starts_with("STS."));
    assert!(r.s("/Credentials/Expiration").ends_with('Z'));
    assert_eq!(
        r.body["OIDCTokenInfo"]["Subject"],
        "system:serviceaccount:ns:sa"
    );
    assert!(
        r.s("/AssumedRoleUser/Arn")
            .contains("assumed-role/backup-operator/operator-session")
    );
    // V3 and V1 with the temporary credentials.
    let mut sc = Client::new(&emu).with_key(&ak, &sk);
    sc.token = Some(st.clone());
    sc.v3(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-demo01")])
        .await
        .ok();
    sc.v1(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-demo01")])
        .await
        .ok();
    let r = sc.v3(STS, "GetCallerIdentity", &[]).await.ok();
    assert_eq!(r.body["IdentityType"], "AssumedRoleUser");
    // Missing / wrong token.
    let mut bad = sc.clone();
    bad.token = None;
    assert_eq!(
        bad.v3(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-demo01")])
            .await
            .code(),
        "InvalidSecurityToken.Malformed"
    );
    bad.token = Some("CAISwrong".into());
    assert_eq!(
        bad.v1(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-demo01")])
            .await
            .code(),
        "InvalidSecurityToken.MismatchWithAccessKey"
    );
    // Expiry follows the emulator clock.
    emu.advance_time(Duration::from_secs(3601));
    assert_eq!(
        sc.v3(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-demo01")])
            .await
            .code(),
        "InvalidSecurityToken.Expired"
    );
    // Unsigned calls to anything else are refused.
    let r = c
        .unsigned(&[
            ("Action", "DescribeBackupTasks"),
            ("Version", RDS),
            ("DBInstanceId", "rm-demo01"),
        ])
        .await;
    assert_eq!(r.code(), "MissingParameter");
}

#[tokio::test]
async fn assume_role_validation() {
    let emu = start().await;
    let c = Client::new(&emu);
    let good = jwt(jiff::Timestamp::now().as_second() + 3600);
    let r = assume(&c, "not-a-jwt", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "AuthenticationFail.OIDCToken.Invalid")
    );
    let r = assume(&c, &jwt(1000), &[]).await;
    assert_eq!(r.code(), "AuthenticationFail.OIDCToken.Expired");
    let r = assume(&c, &good, &[("RoleArn", "arn:aws:iam::1:role/x")]).await;
    assert_eq!(r.code(), "InvalidParameter.RoleArn");
    let r = assume(&c, &good, &[("OIDCProviderArn", "acs:ram::12:role/x")]).await;
    assert_eq!(r.code(), "InvalidParameter.OIDCProviderArn");
    let r = assume(&c, &good, &[("DurationSeconds", "100")]).await;
    assert_eq!(r.code(), "InvalidParameter.DurationSeconds");
    let r = assume(&c, &good, &[("RoleSessionName", "bad name!")]).await;
    assert_eq!(r.code(), "InvalidParameter.RoleSessionName");
    let r = assume(&c, "", &[]).await;
    assert_eq!(r.code(), "MissingParameter");
    let r = assume(&c, &good, &[("DurationSeconds", "900")]).await.ok();
    assert!(r.s("/Credentials/AccessKeyId").starts_with("STS."));
    // OIDC tokens never reach the call log.
    assert!(!serde_json::to_string(&emu.calls()).unwrap().contains(&good));
}
