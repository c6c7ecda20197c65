//! The operator runtime around the `RdsBackup` controller: leader election, the HTTP
//! endpoints, waiting for the CRDs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::controller::{self, LeaderElectionConfig, OperatorHandle, RunError};
use aliyun_backup_operator::crd::{RdsBackup, RdsBackupPhase};
use aliyun_emulator::Fault;
use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const LEASE: &str = "abo-test-lease";

fn backup(name: &str) -> RdsBackup {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": "rm-demo01",
        }
    }))
    .unwrap()
}

fn succeeded(o: &RdsBackup) -> bool {
    o.status
        .as_ref()
        .is_some_and(|s| s.phase == Some(RdsBackupPhase::Succeeded))
}

fn election(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        namespace: NS.into(),
        lease_name: LEASE.into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(100),
    }
}

async fn start_replica(env: &Env, identity: &str) -> OperatorHandle {
    let mut cfg = env.operator_config();
    cfg.leader_election = Some(election(identity));
    cfg.instance = Some(identity.into());
    controller::start(cfg, env.client.clone()).await.unwrap()
}

async fn holder(env: &Env) -> Option<String> {
    let leases: Api<Lease> = env.api();
    leases
        .get_opt(LEASE)
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test]
async fn only_the_leader_acts_and_a_standby_takes_over() {
    let env = Env::start().await;
    let a = start_replica(&env, "replica-a").await;
    wait_until("replica-a to lead", || a.is_leading()).await;
    let b = start_replica(&env, "replica-b").await;
    assert_eq!(holder(&env).await.as_deref(), Some("replica-a"));

    let api = env.api::<RdsBackup>();
    api.create(&PostParams::default(), &backup("led-1"))
        .await
        .unwrap();
    // While the backup runs to completion, the standby is ready but never acts.
    wait_for(&api, "led-1", "Succeeded", |o| {
        assert!(!b.is_leading(), "the standby must not act while a leads");
        succeeded(o)
    })
    .await;
    assert_eq!(env.calls("CreateBackup"), 1);
    assert_eq!(
        b.metrics.reconcile_count("RdsBackup"),
        0,
        "standby reconciled"
    );

    // Graceful stop releases the lease; the standby takes over and acts.
    a.stop().await.unwrap();
    wait_until("replica-b to lead", || b.is_leading()).await;
    assert_eq!(holder(&env).await.as_deref(), Some("replica-b"));
    api.create(&PostParams::default(), &backup("led-2"))
        .await
        .unwrap();
    wait_for(&api, "led-2", "Succeeded", succeeded).await;
    assert_eq!(env.calls("CreateBackup"), 2);

    // Someone else takes the lease: b stops acting and reports the loss.
    let leases: Api<Lease> = env.api();
    let mut lease = leases.get(LEASE).await.unwrap();
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        spec.lease_duration_seconds = Some(3600);
    }
    leases
        .replace(LEASE, &PostParams::default(), &lease)
        .await
        .unwrap();
    let result = tokio::time::timeout(TIMEOUT, b.wait()).await.unwrap();
    assert!(
        matches!(result, Err(RunError::LeadershipLost)),
        "{result:?}"
    );
}

#[tokio::test]
async fn endpoints_serve_metrics_health_and_readiness() {
    let mut env = Env::start().await;
    let mut cfg = env.operator_config();
    cfg.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg.health_addr = Some("127.0.0.1:0".parse().unwrap());
    env.start_operator_with(cfg).await;
    let metrics = env.operator().metrics_addr.unwrap();
    let health = env.operator().health_addr.unwrap();
    let http = reqwest::Client::new();

    let r = http
        .get(format!("http://{health}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ready = false;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !ready {
        let r = http
            .get(format!("http://{health}/readyz"))
            .send()
            .await
            .unwrap();
        ready = r.status() == 200;
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Throttle the look right after the create and the first poll past all client-side
    // retries (5 attempts each), so the throttling and reconcile-error families have samples
    // (empty families are not exported). The look's failure is not an error of the reconcile:
    // the task is recorded as created and polled.
    env.emulator
        .inject_fault(Fault::error(Some("DescribeBackupTasks"), "Throttling.User", 400).times(10));
    let api = env.api::<RdsBackup>();
    api.create(&PostParams::default(), &backup("m1"))
        .await
        .unwrap();
    wait_for(&api, "m1", "Succeeded", succeeded).await;
    let scrape = || async {
        http.get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let body = scrape().await;
    for want in [
        "aliyun_backup_reconcile_total{kind=\"RdsBackup\"}",
        "aliyun_backup_reconcile_duration_seconds_count{kind=\"RdsBackup\"}",
        "\naliyun_backup_cloud_requests_total{product=\"rds\",action=\"CreateBackup\"",
        "\naliyun_backup_cloud_throttled_total{product=\"rds\"} ",
        "\naliyun_backup_reconcile_errors_total{kind=\"RdsBackup\",error=\"CloudThrottled\"} ",
        "\naliyun_backup_resource_phase{kind=\"RdsBackup\",namespace=\"backups\",name=\"m1\",phase=\"Succeeded\"} 1",
        "\naliyun_backup_last_success_timestamp_seconds{kind=\"RdsBackup\",namespace=\"backups\",name=\"m1\"} ",
        "\naliyun_backup_resource_created_timestamp_seconds{kind=\"RdsBackup\",namespace=\"backups\",name=\"m1\"} ",
    ] {
        assert!(body.contains(want), "missing {want} in:\n{body}");
    }
    // Every metric the chart's alerts use is exported (OpenMetrics names counters without
    // `_total` in `# TYPE`).
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/aliyun-backup-operator/templates/prometheusrule.yaml"
    ))
    .unwrap();
    let mut used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("aliyun_backup_"))
        .collect();
    used.sort_unstable();
    used.dedup();
    assert!(used.len() >= 5, "{used:?}");
    for metric in used {
        let family = metric.strip_suffix("_total").unwrap_or(metric);
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "the chart's alerts use {metric}, which the operator does not export:\n{body}"
        );
    }
    // The last success is the completion time.
    let o = api.get("m1").await.unwrap();
    let done = o.status.unwrap().completion_time.unwrap().0;
    let line = body
        .lines()
        .find(|l| l.starts_with("aliyun_backup_last_success_timestamp_seconds{kind=\"RdsBackup\""))
        .unwrap();
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (value - done.as_millisecond() as f64 / 1000.0).abs() < 0.001,
        "{line} vs {done}"
    );

    // A deleted object has no series left.
    api.delete("m1", &Default::default()).await.unwrap();
    wait_gone(&api, "m1").await;
    eventually("the series of a deleted object to vanish", || async {
        let body = scrape().await;
        if body.contains("name=\"m1\"") {
            Err(body)
        } else {
            Ok(())
        }
    })
    .await;
    env.stop_operator().await;
}

#[tokio::test]
async fn waits_for_the_crds_instead_of_crashing() {
    let mut env = Env::start_bare(emulator_config()).await;
    env.start_operator().await;
    wait_until("the CRD wait to be logged", || {
        captured_logs().contains("waiting for the CRD to be established")
    })
    .await;
    assert!(!env.operator().readiness.get());
    env.install_crds().await;
    wait_until("the operator to become ready", || {
        env.operator().readiness.get()
    })
    .await;
    let api = env.api::<RdsBackup>();
    api.create(&PostParams::default(), &backup("late"))
        .await
        .unwrap();
    wait_for(&api, "late", "Succeeded", succeeded).await;
    env.stop_operator().await;
}

#[tokio::test]
async fn watching_all_namespaces_works() {
    let mut env = Env::start().await;
    let mut cfg = env.operator_config();
    cfg.namespaces = Vec::new();
    env.start_operator_with(cfg).await;
    let api = env.api::<RdsBackup>();
    api.create(&PostParams::default(), &backup("everywhere"))
        .await
        .unwrap();
    wait_for(&api, "everywhere", "Succeeded", succeeded).await;
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn leader_steps_down_when_it_cannot_renew() {
    let env = Env::start().await;
    let a = start_replica(&env, "replica-a").await;
    wait_until("replica-a to lead", || a.is_leading()).await;
    // Every lease update fails from now on: a must give up before its lease could expire.
    env.sandbox.fail_next(
        kube_sandbox::FailureMatcher::new("update", "leases"),
        u32::MAX,
        500,
    );
    let result = tokio::time::timeout(TIMEOUT, a.wait()).await.unwrap();
    assert!(
        matches!(result, Err(RunError::LeadershipLost)),
        "{result:?}"
    );
    assert_eq!(holder(&env).await.as_deref(), Some("replica-a"));
}
