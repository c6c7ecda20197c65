//! The chart's probes fit the operator's endpoints (`deploy/deployment.yaml`).
//!
//! The chart runs 2 replicas with leader election and a PodDisruptionBudget. Kubernetes only
//! counts Ready pods as available: if the standby replica were never Ready, the Deployment
//! would never become Available, a rolling update would wait forever for its new (standby)
//! pod, and the PDB would block draining the leader's node. So both replicas must pass the
//! readiness probe once the CRDs are served, leader or not, and both must pass liveness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::controller::{self, LeaderElectionConfig};
use common::Env;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::Value as Json;

const RELEASE_NS: &str = "aliyun-backup-operator";

fn probe_paths() -> (String, String, String) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deployment.yaml"
    ))
    .unwrap();
    let dep: Json = serde_norway::from_str(&text).unwrap();
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(dep["spec"]["replicas"], 2);
    (
        c["livenessProbe"]["httpGet"]["path"]
            .as_str()
            .unwrap()
            .to_string(),
        c["readinessProbe"]["httpGet"]["path"]
            .as_str()
            .unwrap()
            .to_string(),
        c["readinessProbe"]["httpGet"]["port"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

async fn status(addr: std::net::SocketAddr, path: &str) -> u16 {
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_standby_both_pass_the_charts_probes() {
    let (liveness, readiness, port) = probe_paths();
    assert_eq!(port, "health");
    let env = Env::start().await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(RELEASE_NS.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let mut handles = Vec::new();
    for id in ["replica-a", "replica-b"] {
        let mut cfg = env.operator_config();
        cfg.namespaces = Vec::new();
        cfg.health_addr = Some("127.0.0.1:0".parse().unwrap());
        let mut le = LeaderElectionConfig::new(RELEASE_NS, "aliyun-backup-operator", id);
        le.retry_period = Duration::from_millis(100);
        cfg.leader_election = Some(le);
        cfg.instance = Some(id.into());
        handles.push(controller::start(cfg, env.client.clone()).await.unwrap());
    }
    let addrs: Vec<_> = handles.iter().map(|h| h.health_addr.unwrap()).collect();
    common::eventually(
        "both replicas to be live and ready (leader and standby)",
        || async {
            let mut codes = Vec::new();
            for a in &addrs {
                codes.push((status(*a, &liveness).await, status(*a, &readiness).await));
            }
            if codes.iter().all(|c| *c == (200, 200)) {
                Ok(())
            } else {
                Err(format!("(liveness, readiness) = {codes:?}"))
            }
        },
    )
    .await;
    for h in handles {
        h.stop().await.unwrap();
    }
}
