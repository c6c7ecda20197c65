//! End-to-end behaviour over loopback HTTP: wire format and signatures, envelopes, retries,
//! rate limiting, metrics, and secrets staying out of errors.

use std::sync::Arc;
use std::time::Duration;

use super::fake::{Canned, Fake, Recorded};
use crate::cloud::api::*;
use crate::cloud::config::{RateLimit, RetryPolicy, SignatureVersion, Timeouts};
use crate::cloud::error::{ErrorClass, ErrorKind};
use crate::cloud::sign;
use crate::cloud::time::ManualTime;
use crate::cloud::{
    AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Product, Secret, StaticCredentials,
    Target,
};

const SECRET: &str = "canary-secret-7f3a";
const TOKEN: &str = "canary-token-9b1c";

fn creds(token: bool) -> CredentialSource {
    CredentialSource::Static(StaticCredentials {
        access_key_id: "testid".into(),
        access_key_secret: Secret::new(SECRET),
        security_token: token.then(|| Secret::new(TOKEN)),
    })
}

fn target(token: bool) -> Target {
    Target {
        region: "cn-hangzhou".into(),
        credentials: creds(token),
    }
}

fn config(fake: &Fake, time: &Arc<ManualTime>) -> CloudConfig {
    CloudConfig {
        endpoint_override: Some(fake.url()),
        time: time.clone(),
        retry: RetryPolicy {
            max_attempts: 4,
            max_total_time: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        },
        rate_limit: RateLimit {
            qps: 1000.0,
            burst: 1000,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Re-derives the V3 signature from what the server received, as a verifier would: the
/// headers named in `SignedHeaders`, the query decoded, the body hash recomputed.
fn verify_v3(r: &Recorded, secret: &str) {
    let auth = r.header("authorization").expect("authorization header");
    let rest = auth.strip_prefix("ACS3-HMAC-SHA256 ").expect("algorithm");
    let mut cred = "";
    let mut signed = "";
    let mut sig = "";
    for part in rest.split(',') {
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = v;
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = v;
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = v;
        }
    }
    for required in [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        assert!(
            signed.split(';').any(|h| h == required),
            "{required} must be signed: {signed}"
        );
    }
    let headers: Vec<(String, String)> = signed
        .split(';')
        .map(|h| {
            (
                h.to_string(),
                r.header(h)
                    .unwrap_or_else(|| panic!("signed header {h} missing")),
            )
        })
        .collect();
    let payload = sign::sha256_hex(&r.body);
    assert_eq!(
        r.header("x-acs-content-sha256").as_deref(),
        Some(payload.as_str())
    );
    let expect = sign::sign_v3(
        r.method.as_str(),
        r.uri.path(),
        &r.query(),
        &headers,
        &payload,
        cred,
        secret,
    );
    assert_eq!(
        expect.signature, sig,
        "server-side recomputation must match"
    );
}

#[tokio::test]
async fn v3_wire_format_and_signature() {
    let fake = Fake::start(
        vec![Canned::json(
            200,
            r#"{"RequestId":"r1","BackupJobId":"42"}"#,
        )],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let rds = cloud.rds(&target(false));
    let resp = rds
        .create_backup(&CreateBackupRequest {
            db_instance_id: "rm-test".into(),
            backup_method: Some("Physical".into()),
            backup_type: Some("FullBackup".into()),
            db_names: vec!["a b".into(), "c*~".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.backup_job_id, "42");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri.path(), "/");
    assert_eq!(r.header("x-acs-action").as_deref(), Some("CreateBackup"));
    assert_eq!(r.header("x-acs-version").as_deref(), Some("2014-08-15"));
    assert_eq!(r.header("host"), Some(fake.addr.to_string()));
    assert_eq!(
        r.header("x-acs-content-sha256").as_deref(),
        Some(sign::EMPTY_SHA256)
    );
    let nonce = r.header("x-acs-signature-nonce").unwrap();
    assert_eq!(nonce.len(), 32);
    let date = r.header("x-acs-date").unwrap();
    assert!(
        date.parse::<jiff::Timestamp>().is_ok() && date.ends_with('Z') && date.len() == 20,
        "{date}"
    );
    assert_eq!(r.query_get("DBInstanceId").as_deref(), Some("rm-test"));
    assert_eq!(r.query_get("DBName").as_deref(), Some("a b,c*~"));
    // RFC 3986 on the wire: no '+' for spaces, '*' encoded.
    assert!(
        r.uri.query().unwrap().contains("DBName=a%20b%2Cc%2A~"),
        "{}",
        r.uri
    );
    assert!(r.header("x-acs-security-token").is_none());
    assert!(r.body.is_empty());
    verify_v3(r, SECRET);
    assert_eq!(
        cloud
            .metrics()
            .requests_count("rds", "CreateBackup", "Success"),
        1
    );
}

#[tokio::test]
async fn v3_with_sts_token_and_form_body() {
    let fake = Fake::start(
        vec![Canned::json(
            200,
            r#"{"Success":true,"Code":"200","TotalCount":0,"Snapshots":[]}"#,
        )],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let hbr = cloud.hbr(&target(true));
    hbr.describe_udm_snapshots(&DescribeUdmSnapshotsRequest {
        source_type: "UDM_ECS".into(),
        start_time: 1,
        end_time: 2,
        udm_region_id: "cn-hangzhou".into(),
        snapshot_ids: vec!["s-1".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let r = &fake.requests()[0];
    assert_eq!(r.header("x-acs-security-token").as_deref(), Some(TOKEN));
    assert_eq!(r.header("x-acs-accesskey-id").as_deref(), Some("testid"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.body_pairs(),
        vec![("SnapshotIds".to_string(), "[\"s-1\"]".to_string())]
    );
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.contains("x-acs-security-token") && auth.contains("content-type"),
        "{auth}"
    );
    verify_v3(r, SECRET);
}

#[tokio::test]
async fn v1_wire_format_and_signature() {
    let fake = Fake::start(
        vec![Canned::json(
            200,
            r#"{"Success":true,"Code":"200","Snapshots":[]}"#,
        )],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let mut cfg = config(&fake, &time);
    cfg.signature_version = SignatureVersion::V1;
    let cloud = AlibabaCloud::new(cfg).unwrap();
    cloud
        .hbr(&target(true))
        .describe_udm_snapshots(&DescribeUdmSnapshotsRequest {
            source_type: "UDM_ECS".into(),
            start_time: 1,
            end_time: 2,
            udm_region_id: "cn-hangzhou".into(),
            snapshot_ids: vec!["s 1".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = &fake.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.query_get("Action").as_deref(),
        Some("DescribeUdmSnapshots")
    );
    assert_eq!(r.query_get("Format").as_deref(), Some("JSON"));
    assert_eq!(r.query_get("Version").as_deref(), Some("2017-09-08"));
    assert_eq!(r.query_get("SignatureMethod").as_deref(), Some("HMAC-SHA1"));
    assert_eq!(r.query_get("SignatureVersion").as_deref(), Some("1.0"));
    assert_eq!(r.query_get("SecurityToken").as_deref(), Some(TOKEN));
    assert_eq!(r.query_get("AccessKeyId").as_deref(), Some("testid"));
    assert!(r.header("authorization").is_none());
    // Verify: all query params except Signature, plus the form body, signed with POST.
    let mut all: Vec<(String, String)> = r
        .query()
        .into_iter()
        .filter(|(k, _)| k != "Signature")
        .collect();
    all.extend(r.body_pairs());
    let expect = sign::sign_v1("POST", &all, SECRET);
    assert_eq!(r.query_get("Signature"), Some(expect));
}

#[tokio::test]
async fn dbs_failure_in_http_200_is_an_error() {
    let fake = Fake::start(
        vec![Canned::json(
            200,
            r#"{"Success":false,"ErrCode":"InvalidJobId","ErrMessage":"gone","HttpStatusCode":404,"RequestId":"rq"}"#,
        )],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let e = cloud
        .dbs(&target(false))
        .release_backup_plan(&ReleaseBackupPlanRequest {
            backup_plan_id: "dbs1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(e.request_id(), Some("rq"));
    assert_eq!(e.product, Product::Dbs);
    assert_eq!(e.action, "ReleaseBackupPlan");
    assert_eq!(fake.requests().len(), 1, "NotFound is not retried");
    assert_eq!(
        cloud
            .metrics()
            .requests_count("dbs", "ReleaseBackupPlan", "InvalidJobId"),
        1
    );
}

fn throttled() -> Canned {
    Canned::json(
        400,
        r#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"t"}"#,
    )
}

fn unavailable() -> Canned {
    Canned::json(
        503,
        r#"{"Code":"ServiceUnavailable","Message":"try later","RequestId":"u"}"#,
    )
}

#[tokio::test]
async fn retries_with_backoff_and_retry_after() {
    let fake = Fake::start(
        vec![
            unavailable(),
            throttled().with_header("x-acs-retry-after", "1500"),
            Canned::json(200, r#"{"RequestId":"ok","PageNumber":"1","TotalRecordCount":"0","PageRecordCount":"0","Items":{"Backup":[]}}"#),
        ],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let r = cloud
        .rds(&target(false))
        .describe_backups(&DescribeBackupsRequest {
            db_instance_id: "rm-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.request_id, "ok");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    // Fresh nonce per attempt.
    let nonces: std::collections::HashSet<_> = reqs
        .iter()
        .map(|r| r.header("x-acs-signature-nonce"))
        .collect();
    assert_eq!(nonces.len(), 3);
    let sleeps = time.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(
        sleeps[0] <= Duration::from_millis(100),
        "full jitter within base: {sleeps:?}"
    );
    assert_eq!(
        sleeps[1],
        Duration::from_millis(1500),
        "x-acs-retry-after honoured"
    );
    let m = cloud.metrics();
    assert_eq!(
        m.requests_count("rds", "DescribeBackups", "ServiceUnavailable"),
        1
    );
    assert_eq!(
        m.requests_count("rds", "DescribeBackups", "Throttling.User"),
        1
    );
    assert_eq!(m.requests_count("rds", "DescribeBackups", "Success"), 1);
    assert_eq!(m.throttled_count("rds"), 1);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let fake = Fake::start(vec![], Some(unavailable())).await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let e = cloud
        .hbr(&target(false))
        .describe_backup_jobs2(&DescribeBackupJobs2Request::default())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert_eq!(fake.requests().len(), 4, "max_attempts = 4");
    let sleeps = time.sleeps();
    assert_eq!(sleeps.len(), 3);
    for (i, s) in sleeps.iter().enumerate() {
        assert!(*s <= Duration::from_millis(100 << i), "attempt {i}: {s:?}");
    }
}

#[tokio::test]
async fn total_time_is_bounded() {
    let fake = Fake::start(
        vec![],
        Some(throttled().with_header("x-acs-retry-after", "4000")),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let mut cfg = config(&fake, &time);
    cfg.retry.max_attempts = 100;
    cfg.retry.max_total_time = Duration::from_secs(10);
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let e = cloud
        .rds(&target(false))
        .describe_backup_tasks(&DescribeBackupTasksRequest {
            db_instance_id: "rm-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.is_throttling());
    // 0 → 4 s → 8 s; a third wait would end at 12 s > 10 s.
    assert_eq!(
        time.sleeps(),
        vec![Duration::from_secs(4), Duration::from_secs(4)]
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn non_idempotent_create_is_not_retried_after_5xx() {
    let fake = Fake::start(
        vec![Canned::json(
            500,
            r#"{"Code":"InternalError","RequestId":"x"}"#,
        )],
        Some(Canned::json(200, r#"{"RequestId":"r","BackupJobId":"1"}"#)),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let e = cloud
        .rds(&target(false))
        .create_backup(&CreateBackupRequest {
            db_instance_id: "rm-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Retryable,
        "the caller decides (e.g. list before re-creating)"
    );
    assert_eq!(fake.requests().len(), 1);
    assert!(time.sleeps().is_empty());
}

#[tokio::test]
async fn non_idempotent_create_is_retried_after_throttling() {
    let fake = Fake::start(
        vec![throttled()],
        Some(Canned::json(
            200,
            r#"{"Success":true,"Code":"200","JobId":"job-1"}"#,
        )),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let r = cloud
        .hbr(&target(false))
        .create_backup_job(&CreateBackupJobRequest {
            source_type: "UDM_ECS".into(),
            retention: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.job_id, "job-1");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn non_idempotent_create_is_not_retried_after_timeout() {
    let fake = Fake::start(
        vec![Canned::hang()],
        Some(Canned::json(200, r#"{"Success":true,"JobId":"job-2"}"#)),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let mut cfg = config(&fake, &time);
    cfg.timeouts = Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_millis(300),
    };
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let e = cloud
        .hbr(&target(false))
        .create_backup_job(&CreateBackupJobRequest {
            source_type: "UDM_ECS".into(),
            retention: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert_eq!(
        fake.requests().len(),
        1,
        "a timed-out create may have run: never repeated"
    );
    assert_eq!(
        cloud
            .metrics()
            .requests_count("hbr", "CreateBackupJob", "CloudTimeout"),
        1
    );
}

#[tokio::test]
async fn client_token_makes_dbs_create_retryable() {
    let fake = Fake::start(
        vec![Canned::json(
            503,
            r#"{"Success":false,"ErrCode":"ServiceUnavailable","HttpStatusCode":503}"#,
        )],
        Some(Canned::json(
            200,
            r#"{"Success":true,"BackupPlanId":"dbs1"}"#,
        )),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let dbs = cloud.dbs(&target(false));
    let mut req = CreateAndStartBackupPlanRequest {
        backup_plan_name: "p".into(),
        client_token: Some("uid-1".into()),
        ..Default::default()
    };
    let r = dbs.create_and_start_backup_plan(&req).await.unwrap();
    assert_eq!(r.backup_plan_id, "dbs1");
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(
        fake.requests()[1].query_get("ClientToken").as_deref(),
        Some("uid-1")
    );

    // Without a token, the same failure is returned at once.
    fake.push(Canned::json(
        503,
        r#"{"Success":false,"ErrCode":"ServiceUnavailable"}"#,
    ));
    req.client_token = None;
    assert!(dbs.create_and_start_backup_plan(&req).await.is_err());
    assert_eq!(fake.requests().len(), 3);
}

/// A fake that answers `{"RequestId":"r"}` by default and a client limited to 2 calls/s
/// (burst 2) on manual time, slowed by `throttle_factor` for `cooldown` after throttling.
async fn two_per_second(
    throttle_factor: f64,
    cooldown: Duration,
) -> (Fake, Arc<ManualTime>, AlibabaCloud) {
    let fake = Fake::start(vec![], Some(Canned::json(200, r#"{"RequestId":"r"}"#))).await;
    let time = Arc::new(ManualTime::new());
    let mut cfg = config(&fake, &time);
    cfg.rate_limit = RateLimit {
        qps: 2.0,
        burst: 2,
        throttle_factor,
        throttle_cooldown: cooldown,
    };
    let cloud = AlibabaCloud::new(cfg).unwrap();
    (fake, time, cloud)
}

#[tokio::test]
async fn rate_limit_is_shared_and_slows_after_throttling() {
    let (fake, time, cloud) = two_per_second(0.25, Duration::from_secs(60)).await;
    let del = DeleteBackupRequest {
        db_instance_id: "rm-1".into(),
        backup_ids: vec!["1".into()],
        ..Default::default()
    };
    // Two clients for the same key share one bucket.
    let a = cloud.rds(&target(false));
    let b = cloud.rds(&target(false));
    a.delete_backup(&del).await.unwrap();
    b.delete_backup(&del).await.unwrap();
    assert!(time.sleeps().is_empty(), "burst of 2");
    a.delete_backup(&del).await.unwrap();
    assert_eq!(
        time.sleeps(),
        vec![Duration::from_millis(500)],
        "then 2 QPS"
    );
    // Another product has its own bucket.
    cloud
        .hbr(&target(false))
        .cancel_backup_job(&CancelBackupJobRequest {
            job_id: "j".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(time.sleeps().len(), 1);

    // A throttling response slows the bucket to 0.5 QPS for the cooldown.
    time.advance(Duration::from_secs(10));
    fake.push(throttled());
    a.delete_backup(&del).await.unwrap(); // throttled, then retried
    let before = time.sleeps().len();
    a.delete_backup(&del).await.unwrap();
    a.delete_backup(&del).await.unwrap();
    let slow: Vec<Duration> = time.sleeps()[before..].to_vec();
    assert!(
        slow.iter().sum::<Duration>() >= Duration::from_secs(2),
        "slowed to 0.5 QPS: {slow:?}"
    );
    assert_eq!(cloud.metrics().throttled_count("rds"), 1);
}

#[tokio::test]
async fn an_observer_call_takes_one_token_and_retries_take_their_own() {
    let (fake, time, cloud) = two_per_second(1.0, Duration::ZERO).await;
    let rds = cloud.rds(&target(false));
    // The round pays its token before it closes; the call itself does not take another.
    for job in ["1", "2"] {
        assert_eq!(
            rds.observe_task("rm-1", job, Duration::ZERO).await.unwrap(),
            None
        );
    }
    assert!(
        time.sleeps().is_empty(),
        "burst of 2: two calls, two tokens"
    );
    assert_eq!(
        rds.observe_task("rm-1", "3", Duration::ZERO).await.unwrap(),
        None
    );
    assert_eq!(
        time.sleeps(),
        vec![Duration::from_millis(500)],
        "then 2 QPS"
    );
    // A retried observer call takes a token for its retry.
    time.advance(Duration::from_secs(10));
    fake.push(Canned::json(503, r#"{"Code":"ServiceUnavailable"}"#));
    assert_eq!(
        rds.observe_task("rm-1", "4", Duration::ZERO).await.unwrap(),
        None
    );
    assert_eq!(fake.requests().len(), 5);
    let before = time.sleeps().len();
    rds.observe_task("rm-1", "5", Duration::ZERO).await.unwrap();
    assert!(
        time.sleeps().len() > before,
        "the retry spent the burst's second token: {:?}",
        time.sleeps()
    );
}

#[tokio::test]
async fn secrets_never_in_errors() {
    // A port with nothing listening: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let time = Arc::new(ManualTime::new());
    for version in [SignatureVersion::V3, SignatureVersion::V1] {
        let cfg = CloudConfig {
            endpoint_override: Some(url::Url::parse(&format!("http://{addr}/")).unwrap()),
            time: time.clone(),
            signature_version: version,
            retry: RetryPolicy {
                max_attempts: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let cloud = AlibabaCloud::new(cfg).unwrap();
        let e = cloud
            .rds(&target(true))
            .create_backup(&CreateBackupRequest {
                db_instance_id: "rm-1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transport);
        assert!(
            e.proves_not_executed(),
            "connection refused: never reached the service"
        );
        let mut texts = vec![e.to_string(), format!("{e:?}")];
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            texts.push(s.to_string());
            texts.push(format!("{s:?}"));
            src = s.source();
        }
        for t in texts {
            assert!(
                !t.contains(SECRET) && !t.contains(TOKEN),
                "secret leaked: {t}"
            );
        }
    }
    let t = target(true);
    let dbg = format!("{t:?}");
    assert!(!dbg.contains(SECRET) && !dbg.contains(TOKEN), "{dbg}");
}

#[tokio::test]
async fn invalid_region_is_terminal_without_a_request() {
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(CloudConfig {
        time: time.clone(),
        ..Default::default()
    })
    .unwrap();
    let e = cloud
        .rds(&Target {
            region: "evil.example.com/".into(),
            credentials: creds(false),
        })
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.class(), ErrorClass::Terminal);
}

#[tokio::test]
async fn oversized_body_is_a_decode_error() {
    let huge = format!("{{\"RequestId\":\"{}\"}}", "x".repeat(9 * 1024 * 1024));
    let fake = Fake::start(vec![Canned::json(200, &huge)], None).await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let e = cloud
        .rds(&target(false))
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn out_of_range_paging_fails_before_sending() {
    let fake = Fake::start(vec![], Some(Canned::json(200, r#"{"Success":true}"#))).await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let hbr = cloud.hbr(&target(false));
    let e = hbr
        .describe_backup_jobs2(&DescribeBackupJobs2Request {
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.class(), ErrorClass::Terminal);
    assert!(e.to_string().contains("PageSize"), "{e}");
    hbr.describe_backup_jobs2(&DescribeBackupJobs2Request {
        page_size: Some(99),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = cloud
        .rds(&target(false))
        .delete_backup(&DeleteBackupRequest {
            db_instance_id: "rm-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(fake.requests().len(), 1, "only the valid call was sent");
}

#[tokio::test]
async fn signature_error_messages_are_scrubbed() {
    let enc = crate::cloud::params::percent_encode(TOKEN);
    let msg = format!(
        "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3D{}",
        crate::cloud::params::percent_encode(&enc)
    );
    let body =
        serde_json::json!({"Code": "SignatureDoesNotMatch", "Message": msg, "RequestId": "s"})
            .to_string();
    let other = serde_json::json!({"Code": "InvalidParameter", "Message": format!("bad {TOKEN} and {SECRET}")}).to_string();
    let fake = Fake::start(
        vec![Canned::json(400, &body), Canned::json(400, &other)],
        None,
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let mut cfg = config(&fake, &time);
    // Both answers must reach the client: no breaker holding the second call back.
    cfg.breaker.enabled = false;
    let cloud = AlibabaCloud::new(cfg).unwrap();
    let rds = cloud.rds(&target(true));
    for _ in 0..2 {
        let e = rds
            .describe_backups(&DescribeBackupsRequest::default())
            .await
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(TOKEN) && !text.contains(&enc) && !text.contains(SECRET),
            "{text}"
        );
        assert_eq!(e.class(), ErrorClass::Terminal);
    }
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn refused_credentials_are_held_back_until_rotated_or_probed() {
    let refused = serde_json::json!({"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found.", "RequestId": "r"}).to_string();
    let ok = r#"{"RequestId":"ok","Items":{"Backup":[]},"TotalRecordCount":0,"PageNumber":1,"PageRecordCount":0}"#;
    let fake = Fake::start(
        vec![Canned::json(404, &refused), Canned::json(404, &refused)],
        Some(Canned::json(200, ok)),
    )
    .await;
    let time = Arc::new(ManualTime::new());
    let cloud = AlibabaCloud::new(config(&fake, &time)).unwrap();
    let bad = target(false);
    let label = crate::cloud::credential_label(&bad.credentials);
    let first = cloud
        .rds(&bad)
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(first.code(), Some("InvalidAccessKeyId.NotFound"));
    assert!(first.is_authentication_failure());
    // Many objects using the same key: nothing more is sent.
    for _ in 0..20 {
        let e = cloud
            .rds(&bad)
            .describe_backups(&DescribeBackupsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::CredentialsRefused);
        assert_eq!(e.name(), "CloudCredentialsRefused");
        assert!(e.is_breaker_open() && e.is_credentials_problem() && e.proves_not_executed());
        assert_eq!(e.class(), ErrorClass::Terminal);
        let text = e.to_string();
        assert!(
            text.contains(&label) && text.contains("InvalidAccessKeyId.NotFound"),
            "{text}"
        );
        assert!(!text.contains(SECRET) && !text.contains("testid"), "{text}");
    }
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(cloud.metrics().breaker_open(&label), 1);
    assert_eq!(cloud.metrics().breaker_rejected_count(&label), 20);
    let refusal = cloud.credential_refusal(&bad.credentials).unwrap();
    assert_eq!(refusal.code, "InvalidAccessKeyId.NotFound");
    assert_eq!(refusal.retry_in, Duration::from_secs(30));
    // A rotated Secret (new secret for the same id) goes out at once; it is refused too here.
    let rotated = Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Secret::new("rotated-secret"),
            security_token: None,
        }),
    };
    assert!(cloud.credential_refusal(&rotated.credentials).is_none());
    let e = cloud
        .rds(&rotated)
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidAccessKeyId.NotFound"));
    assert_eq!(fake.requests().len(), 2);
    // After the cool-down one probe goes out; it succeeds and the breaker closes.
    time.advance(Duration::from_secs(30));
    cloud
        .rds(&bad)
        .describe_backups(&DescribeBackupsRequest::default())
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 3);
    assert!(cloud.credential_refusal(&bad.credentials).is_none());
    assert_eq!(
        cloud.metrics().breaker_open(&label),
        1,
        "the rotated one is still refused"
    );
    assert!(cloud.credential_refusal(&rotated.credentials).is_some());
}
