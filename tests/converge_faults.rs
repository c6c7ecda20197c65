//! Throttling and server errors on every cloud action, with objects of all three kinds in one
//! operator process: every object still converges — created exactly once, updated, deleted —
//! and the call log shows each fault retried past with backoff, never hammered (issue 6).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsBackupPlanPhase, HbrBackupJob, HbrBackupJobPhase, RdsBackup, RdsBackupPhase,
};
use aliyun_emulator::Fault;
use common::*;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Every action the three controllers call in this scenario.
const ACTIONS: &[&str] = &[
    "CreateBackup",
    "DescribeBackupTasks",
    "DescribeBackups",
    "DeleteBackup",
    "CreateAndStartBackupPlan",
    "DescribeBackupPlanList",
    "DescribeFullBackupList",
    "StopBackupPlan",
    "StartBackupPlan",
    "ModifyBackupPlanName",
    "ConfigureBackupPlan",
    "ReleaseBackupPlan",
    "CreateBackupJob",
    "DescribeBackupJobs2",
    "DescribeUdmSnapshots",
    "DeleteSnapshot",
];

/// Faults per action: two throttling answers and two server errors.
const FAULTS_PER_ACTION: usize = 4;

fn rds() -> RdsBackup {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": "r1", "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": "rm-demo01",
            "deletionPolicy": "Delete",
        }
    }))
    .unwrap()
}

fn dbs() -> DbsBackupPlan {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "DbsBackupPlan",
        "metadata": { "name": "d1", "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "planName": "d1-plan",
            "databaseType": "MySQL",
            "instanceClass": "micro",
            "backupMethod": "logical",
            "deletionPolicy": "Delete",
            "source": {
                "instanceType": "RDS",
                "instanceId": "rm-demo02",
                "userName": "backup",
                "passwordSecretRef": { "name": "pw", "key": "password" }
            },
            "schedule": { "days": ["Sunday"], "startTime": "01:00" },
            "storage": { "type": "system", "retentionDays": 30 },
        }
    }))
    .unwrap()
}

fn hbr(name: &str, spec: Value) -> HbrBackupJob {
    let mut s = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "instanceId": "i-demo01",
        "retention": 7,
        "deletionPolicy": "Delete",
    });
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupJob",
        "metadata": { "name": name, "namespace": NS },
        "spec": s,
    }))
    .unwrap()
}

fn dbs_ready(o: &DbsBackupPlan, phase: DbsBackupPlanPhase) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.phase == Some(phase)
            && s.observed_generation == o.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn emulator_plan(env: &Env) -> Value {
    env.emulator.state()["dbs"]["plans"][0].clone()
}

#[tokio::test]
async fn all_kinds_converge_under_throttling_and_server_errors() {
    let mut env = Env::start().await;
    env.put_secret("pw", &[("password", "s3cret")]).await;
    for action in ACTIONS {
        env.emulator
            .inject_fault(Fault::error(Some(action), "Throttling.User", 400).times(2));
        env.emulator
            .inject_fault(Fault::error(Some(action), "ServiceUnavailable", 503).times(2));
    }
    env.start_operator().await;

    env.api::<RdsBackup>()
        .create(&PostParams::default(), &rds())
        .await
        .unwrap();
    env.api::<DbsBackupPlan>()
        .create(&PostParams::default(), &dbs())
        .await
        .unwrap();
    let jobs: Api<HbrBackupJob> = env.api();
    jobs.create(
        &PostParams::default(),
        &hbr("h1", json!({ "sourceType": "UDM_ECS" })),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &hbr(
            "h2",
            json!({ "sourceType": "ECS_FILE", "vaultId": "v-1", "include": ["/data"] }),
        ),
    )
    .await
    .unwrap();

    // Everything converges.
    wait_for(&env.api::<RdsBackup>(), "r1", "Succeeded", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(RdsBackupPhase::Succeeded) && s.backup_id.is_some())
    })
    .await;
    wait_for(&env.api::<DbsBackupPlan>(), "d1", "Running", |o| {
        dbs_ready(o, DbsBackupPlanPhase::Running)
    })
    .await;
    wait_for(&jobs, "h1", "Succeeded with snapshot", |o| {
        o.status.as_ref().is_some_and(|s| {
            s.phase == Some(HbrBackupJobPhase::Succeeded) && !s.snapshot_ids.is_empty()
        })
    })
    .await;
    wait_for(&jobs, "h2", "Succeeded", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(HbrBackupJobPhase::Succeeded))
    })
    .await;

    // Updates of the long-lived kind go through as well.
    let plans = env.api::<DbsBackupPlan>();
    let patch = |spec: Value| {
        let plans = plans.clone();
        async move {
            plans
                .patch(
                    "d1",
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": spec })),
                )
                .await
                .unwrap();
        }
    };
    patch(json!({ "suspend": true })).await;
    wait_for(&plans, "d1", "Paused", |o| {
        dbs_ready(o, DbsBackupPlanPhase::Paused)
    })
    .await;
    patch(json!({ "suspend": false })).await;
    wait_for(&plans, "d1", "Running again", |o| {
        dbs_ready(o, DbsBackupPlanPhase::Running)
    })
    .await;
    patch(json!({ "planName": "d1-renamed" })).await;
    wait_until("the new name in the cloud", || {
        emulator_plan(&env)["BackupPlanName"] == "d1-renamed"
    })
    .await;
    patch(json!({ "storage": { "retentionDays": 60 } })).await;
    wait_until("the new retention in the cloud", || {
        emulator_plan(&env)["BackupRetentionPeriod"] == 60
    })
    .await;

    // Deletion with cloud cleanup, still under the remaining faults.
    env.api::<RdsBackup>()
        .delete("r1", &DeleteParams::default())
        .await
        .unwrap();
    plans.delete("d1", &DeleteParams::default()).await.unwrap();
    jobs.delete("h1", &DeleteParams::default()).await.unwrap();
    jobs.delete("h2", &DeleteParams::default()).await.unwrap();
    wait_gone(&env.api::<RdsBackup>(), "r1").await;
    wait_gone(&plans, "d1").await;
    wait_gone(&jobs, "h1").await;
    wait_gone(&jobs, "h2").await;

    let state = env.emulator.state();
    assert_eq!(emulator_plan(&env)["Released"], true, "{state:#}");
    assert!(
        state["hbr"]["snapshots"].as_array().unwrap().is_empty(),
        "{state:#}"
    );
    let calls = env.emulator.calls();
    let counts = calls.counts();
    // Exactly one of each create succeeded.
    for create in ["CreateBackup", "CreateAndStartBackupPlan"] {
        assert_eq!(calls.count_code(create, "OK"), 1, "{create}: {counts:#?}");
    }
    assert_eq!(calls.count_code("CreateBackupJob", "OK"), 2, "{counts:#?}");
    assert_eq!(state["hbr"]["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(state["dbs"]["plans"].as_array().unwrap().len(), 1);
    // Every injected fault was hit exactly once and retried past: no other call failed.
    for action in ACTIONS {
        let failed = calls.of(action).filter(|c| c.code != "OK").count();
        let ok = calls.count_code(action, "OK");
        assert_eq!(failed, FAULTS_PER_ACTION, "{action}: {counts:#?}");
        assert!(ok >= 1, "{action} never succeeded: {counts:#?}");
    }
    // Backoff, not a hot loop: the whole scenario takes about a hundred calls (64 of them the
    // injected faults), not hundreds.
    assert!(
        calls.log.len() < 200,
        "{} calls: {counts:#?}",
        calls.log.len()
    );
    let m = &env.operator().metrics;
    for kind in ["RdsBackup", "DbsBackupPlan", "HbrBackupJob"] {
        assert!(m.reconcile_count(kind) > 0, "{kind} never reconciled");
    }
    env.stop_operator().await;
}

#[tokio::test]
async fn cancelling_on_delete_converges_under_faults() {
    // Jobs take an hour on the emulator clock, so the job is still running when deleted.
    let mut env =
        Env::start_with(emulator_config().with_job_duration(std::time::Duration::from_secs(3600)))
            .await;
    for action in ["CancelBackupJob", "DescribeBackupJobs2"] {
        env.emulator
            .inject_fault(Fault::error(Some(action), "Throttling.User", 400).times(2));
        env.emulator
            .inject_fault(Fault::error(Some(action), "ServiceUnavailable", 503).times(2));
    }
    env.start_operator().await;
    let jobs: Api<HbrBackupJob> = env.api();
    jobs.create(
        &PostParams::default(),
        &hbr("h-run", json!({ "sourceType": "UDM_ECS" })),
    )
    .await
    .unwrap();
    let o = wait_for(&jobs, "h-run", "running", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.job_id.is_some() && s.phase == Some(HbrBackupJobPhase::Running))
    })
    .await;
    let id = o.status.unwrap().job_id.unwrap();
    jobs.delete("h-run", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&jobs, "h-run").await;
    let state = env.emulator.state();
    let job = state["hbr"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["JobId"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(job["Status"], "CANCELED", "{state:#}");
    let calls = env.emulator.calls();
    for action in ["CancelBackupJob", "DescribeBackupJobs2"] {
        let failed = calls.of(action).filter(|c| c.code != "OK").count();
        assert_eq!(failed, FAULTS_PER_ACTION, "{action}: {:#?}", calls.counts());
    }
    assert_eq!(calls.count_code("CancelBackupJob", "OK"), 1);
    assert_eq!(calls.count_code("CreateBackupJob", "OK"), 1);
    assert!(calls.log.len() < 60, "{:#?}", calls.counts());
    env.stop_operator().await;
}
