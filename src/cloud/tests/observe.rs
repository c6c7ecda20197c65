//! The shared observation over loopback HTTP against the emulator: the describes of many
//! objects' jobs go out batched, and every object reads its own answer.

use std::sync::Arc;
use std::time::Duration;

use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, Release};

use crate::cloud::api::*;
use crate::cloud::config::RateLimit;
use crate::cloud::{
    AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Secret, StaticCredentials, Target,
};

const N: usize = 120;

fn target() -> Target {
    Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: "observe-key".into(),
            access_key_secret: Secret::new("observe-secret"),
            security_token: None,
        }),
    }
}

async fn world() -> (EmulatorHandle, AlibabaCloud) {
    let emulator = Emulator::start(
        EmulatorConfig::default()
            .with_credential("observe-key", "observe-secret")
            .ecs_instances((0..N).map(|i| format!("i-obs{i:03}")))
            // The jobs run while the test looks at them.
            .with_job_duration(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let cloud = AlibabaCloud::new(CloudConfig {
        endpoint_override: Some(emulator.url().parse().unwrap()),
        rate_limit: RateLimit {
            qps: 10_000.0,
            burst: 10_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    (emulator, cloud)
}

fn create_request(i: usize) -> CreateBackupJobRequest {
    CreateBackupJobRequest {
        source_type: "UDM_ECS".into(),
        instance_id: Some(format!("i-obs{i:03}")),
        job_name: Some(format!("observe-{i}")),
        backup_type: Some("COMPLETE".into()),
        retention: 7,
        detail: Some(serde_json::json!({"doCopy": false, "diskIdList": []})),
        ..CreateBackupJobRequest::default()
    }
}

/// Waits until `cond` holds, letting the other tasks run (no sleeps).
async fn until(cond: impl Fn() -> bool) {
    for _ in 0..1_000_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_many_objects_are_described_in_batches_of_the_api_limit() {
    let (emulator, cloud) = world().await;
    let hbr = cloud.hbr(&target());
    let mut ids = Vec::new();
    for i in 0..N {
        let resp = hbr.create_backup_job(&create_request(i)).await.unwrap();
        ids.push(resp.job_id);
    }
    // The first describe is held in the emulator; meanwhile every other object asks.
    emulator.inject_fault(Fault::hold(Some("DescribeBackupJobs2"), "first").times(1));
    let ask = |id: String| {
        let hbr = Arc::clone(&hbr);
        tokio::spawn(async move {
            hbr.observe_job("UDM_ECS", &id, Duration::ZERO)
                .await
                .map(|j| j.map(|j| j.job_id))
        })
    };
    let first = ask(ids[0].clone());
    emulator.wait_held("first").await;
    let rest: Vec<_> = ids[1..].iter().cloned().map(ask).collect();
    let scope = (
        "cn-hangzhou".to_string(),
        target().credentials,
        "UDM_ECS".to_string(),
    );
    let observers = cloud.observers();
    until(|| observers.hbr_jobs.waiting(&scope) == N - 1).await;
    emulator.release("first", Release::Proceed);

    assert_eq!(first.await.unwrap().unwrap(), Some(ids[0].clone()));
    for (task, id) in rest.into_iter().zip(&ids[1..]) {
        assert_eq!(task.await.unwrap().unwrap().as_ref(), Some(id));
    }
    // 1 (held) + ceil(119 / 99): the waiting objects shared two calls.
    let calls = emulator.calls();
    assert_eq!(calls.count_code("DescribeBackupJobs2", "OK"), 3);
    emulator.shutdown().await;
}

/// A mutating call drops the shared observation of its id (`rpc_table!`'s `then`): an answer
/// that would still be young enough is not served after a cancel, so the caller sees the
/// cancel's effect at once.
#[tokio::test]
async fn a_cancel_drops_the_jobs_cached_answer() {
    let (emulator, cloud) = world().await;
    let hbr = cloud.hbr(&target());
    let job = hbr
        .create_backup_job(&create_request(0))
        .await
        .unwrap()
        .job_id;
    let age = Duration::from_secs(3600);
    let first = hbr
        .observe_job("UDM_ECS", &job, age)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first.status.as_deref(), Some("CANCELED"));
    let describes = || emulator.calls().count("DescribeBackupJobs2");
    let before = describes();
    // Young enough: served from memory.
    hbr.observe_job("UDM_ECS", &job, age).await.unwrap();
    assert_eq!(describes(), before);
    hbr.cancel_backup_job(&CancelBackupJobRequest {
        job_id: job.clone(),
        ..CancelBackupJobRequest::default()
    })
    .await
    .unwrap();
    let after = hbr
        .observe_job("UDM_ECS", &job, age)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        describes(),
        before + 1,
        "the cancel made the cached answer stale"
    );
    assert_ne!(after.status, first.status, "{after:?}");
}
