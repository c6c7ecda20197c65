//! The `aliyun-backup-operator run` binary end to end: the flags the Helm chart passes, an
//! `RdsBackup` to completion, leader election on (the default), JSON logs, and a graceful exit
//! on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use aliyun_backup_operator::crd::{RdsBackup, RdsBackupPhase};
use common::*;
use kube::api::PostParams;
use serde_json::json;

#[tokio::test]
async fn run_subcommand_reconciles_and_stops_on_sigterm() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    env.sandbox.write_kubeconfig(&kubeconfig).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_aliyun-backup-operator"))
        .args([
            "run",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--namespace",
            NS,
            "--metrics-addr=127.0.0.1:0",
            "--health-addr=127.0.0.1:0",
            "--log-format=json",
            "--log-level=info",
            "--cloud-qps=50",
            "--cloud-burst=50",
            "--max-concurrent-reconciles=2",
            "--leader-election=true",
            "--leader-election-namespace",
            NS,
            "--leader-election-lease=abo-binary-test",
            &format!("--endpoint-override={}", env.emulator.url()),
        ])
        .env_remove("WATCH_NAMESPACES")
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
        .env_remove("POD_NAMESPACE")
        .env("POD_NAME", "binary-test")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the operator binary");
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let logged = |needle: &str| lines.lock().unwrap().iter().any(|l| l.contains(needle));

    wait_until("the controllers to run", || logged("controllers running")).await;
    let backup: RdsBackup = serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": "from-binary", "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": "rm-demo01",
        }
    }))
    .unwrap();
    let api = env.api::<RdsBackup>();
    api.create(&PostParams::default(), &backup).await.unwrap();
    wait_for(&api, "from-binary", "Succeeded", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(RdsBackupPhase::Succeeded))
    })
    .await;
    assert_eq!(env.calls("CreateBackup"), 1);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap().clone();
    assert!(exit.success(), "exit {exit:?}; logs:\n{}", lines.join("\n"));
    for want in [
        "became leader",
        "shutdown signal received",
        "released leadership",
        "operator stopped",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "missing {want:?} in logs:\n{}",
            lines.join("\n")
        );
    }
    // --log-format=json: every line is one JSON object.
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
}
