//! The restore kinds end to end — `RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask` — against
//! kube-sandbox and aliyun-emulator: each restores and is tracked to its end; a dry run, a
//! point in time outside the window, a missing source and an overwrite without the right
//! confirmation call nothing that changes state; a lost answer never starts a second restore;
//! deleting a running restore cancels it where the API can and never deletes restored data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aliyun_backup_operator::cloud::api::{
    DescribeDbInstanceAttributeRequest, DescribeDbInstancesRequest, DescribeRestoreJobs2Request,
    DescribeRestoreTaskListRequest,
};
use aliyun_backup_operator::cloud::{AlibabaCloud, CloudProvider};
use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsRestoreTask, HbrBackupJob, HbrBackupJobPhase, HbrRestoreJob, RdsBackup,
    RdsBackupPhase, RdsRestore, RestorePhase,
};
use aliyun_emulator::Fault;
use common::*;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};

fn cloud(env: &Env) -> AlibabaCloud {
    AlibabaCloud::new(env.operator_config().cloud).unwrap()
}

fn phase_of<
    K: aliyun_backup_operator::controller::reconcile::kind::Tracked<
            Status = aliyun_backup_operator::crd::RestoreStatus,
        >,
>(
    o: &K,
) -> Option<RestorePhase> {
    o.status().and_then(|s| s.phase)
}

fn stalled_reason<K: aliyun_backup_operator::controller::reconcile::kind::Tracked>(
    o: &K,
) -> Option<String> {
    condition(o, "Stalled")
        .filter(|c| c.status == "True")
        .map(|c| c.reason.clone())
}

async fn succeeded_rds_backup(env: &Env, name: &str) -> RdsBackup {
    create_from::<RdsBackup>(env, manifest("RdsBackup", name, rds_spec("rm-demo01"))).await;
    wait_for(
        &env.api::<RdsBackup>(),
        name,
        "backup Succeeded",
        |b: &RdsBackup| b.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded),
    )
    .await
}

fn rds_restore_spec(source: Value) -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "source": source,
        "clone": { "payType": "Postpaid", "dbInstanceDescription": "restored by a test" },
    })
}

async fn wait_restore<K>(env: &Env, name: &str, what: &str, pred: impl Fn(&K) -> bool) -> K
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    wait_for(&env.api::<K>(), name, what, pred).await
}

/// The clones the emulator holds with this object's owner tag.
async fn clones_of(env: &Env, uid: &str) -> Vec<String> {
    let req = DescribeDbInstancesRequest {
        region_id: "cn-hangzhou".into(),
        tags: BTreeMap::from([(
            "aliyun-backup-operator/restore-uid".to_string(),
            uid.to_string(),
        )]),
        ..DescribeDbInstancesRequest::default()
    };
    let resp = cloud(env)
        .rds_restore(&test_target())
        .describe_db_instances(&req)
        .await
        .unwrap();
    resp.items.into_iter().map(|i| i.db_instance_id).collect()
}

#[tokio::test]
async fn rds_clone_from_a_backup_ref_runs_once_and_outlives_its_object() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_rds_backup(&env, "nightly").await;

    let spec = rds_restore_spec(json!({ "backupRef": { "name": "nightly" } }));
    let created = create_from::<RdsRestore>(&env, manifest("RdsRestore", "clone", spec)).await;
    let done = wait_restore(&env, "clone", "clone Succeeded", |r: &RdsRestore| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    let st = done.status.clone().unwrap();
    let clone_id = st.db_instance_id.clone().expect("the clone's id");
    assert_eq!(st.restore_id.as_deref(), Some(clone_id.as_str()));
    assert_eq!(st.target_id.as_deref(), Some(clone_id.as_str()));
    assert_eq!(st.cloud_status.as_deref(), Some("Running"));
    assert!(is_true(&done, "Ready"));
    assert_eq!(st.plan.as_ref().unwrap().operation, "RDS CloneDBInstance");
    assert!(
        st.source
            .as_deref()
            .unwrap()
            .starts_with("rm-demo01 backup ")
    );
    assert_eq!(env.calls("CloneDBInstance"), 1);
    let uid = created.metadata.uid.clone().unwrap();
    assert_eq!(clones_of(&env, &uid).await, vec![clone_id.clone()]);

    // Deleting the restore never deletes the clone.
    env.api::<RdsRestore>()
        .delete("clone", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env.api::<RdsRestore>(), "clone").await;
    let attr = cloud(&env)
        .rds_restore(&test_target())
        .describe_db_instance_attribute(&DescribeDbInstanceAttributeRequest {
            db_instance_id: clone_id,
            ..DescribeDbInstanceAttributeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(attr.items[0].db_instance_status.as_deref(), Some("Running"));
}

#[tokio::test]
async fn a_dry_run_plans_and_calls_nothing_that_changes_state() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let backup = succeeded_rds_backup(&env, "nightly").await;
    let backup_id = backup.status.unwrap().backup_id.unwrap();

    let spec = with(
        rds_restore_spec(json!({ "dbInstanceId": "rm-demo01", "backupId": backup_id })),
        json!({ "dryRun": true }),
    );
    create_from::<RdsRestore>(&env, manifest("RdsRestore", "try", spec)).await;
    let planned = wait_restore(&env, "try", "dry run Planned", |r: &RdsRestore| {
        phase_of(r) == Some(RestorePhase::Planned)
    })
    .await;
    let st = planned.status.clone().unwrap();
    let plan = st.plan.unwrap();
    assert_eq!(plan.operation, "RDS CloneDBInstance");
    assert!(!plan.overwrites);
    assert_eq!(plan.parameters.get("BackupId"), Some(&backup_id));
    assert_eq!(
        plan.parameters.get("DBInstanceId").map(String::as_str),
        Some("rm-demo01")
    );
    assert!(
        !plan.parameters.keys().any(|k| k.contains("Token")),
        "no token in the plan: {plan:?}"
    );
    assert!(is_true(&planned, "Ready"));
    assert_eq!(
        condition(&planned, "Ready").unwrap().reason,
        "DryRunPlanned"
    );
    assert_eq!(st.restore_id, None);
    assert_eq!(env.calls("CloneDBInstance"), 0);
    assert_eq!(env.calls("RestoreTable"), 0);
}

#[tokio::test]
async fn bad_sources_and_targets_stall_before_any_state_changing_call() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let backup = succeeded_rds_backup(&env, "nightly").await;
    let backup_id = backup.status.unwrap().backup_id.unwrap();
    let cases = [
        (
            "too-early",
            rds_restore_spec(
                json!({ "dbInstanceId": "rm-demo01", "restoreTime": "2001-01-01T00:00:00Z" }),
            ),
            "OutsideRecoveryWindow",
        ),
        (
            "no-ref",
            rds_restore_spec(json!({ "backupRef": { "name": "missing" } })),
            "SourceNotFound",
        ),
        (
            "no-set",
            rds_restore_spec(json!({ "dbInstanceId": "rm-demo01", "backupId": "999999" })),
            "SourceNotFound",
        ),
        (
            // The set belongs to rm-demo01, not rm-demo02.
            "other-instance",
            rds_restore_spec(json!({ "dbInstanceId": "rm-demo02", "backupId": backup_id })),
            "SourceNotFound",
        ),
        (
            "no-instance",
            rds_restore_spec(json!({ "dbInstanceId": "rm-nothere", "backupId": backup_id })),
            "SourceNotFound",
        ),
        (
            "wrong-confirmation",
            json!({
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "mode": "Tables",
                "source": { "dbInstanceId": "rm-demo01", "backupId": backup_id },
                "tables": [{ "database": "orders", "tables": [{ "name": "t1", "newName": "t1_r" }] }],
                "overwrite": { "confirmTargetId": "rm-demo02" },
            }),
            "OverwriteNotConfirmed",
        ),
    ];
    for (name, spec, _) in &cases {
        create_from::<RdsRestore>(&env, manifest("RdsRestore", name, spec.clone())).await;
    }
    for (name, _, reason) in &cases {
        let r = wait_restore(&env, name, reason, |r: &RdsRestore| {
            stalled_reason(r).as_deref() == Some(*reason)
        })
        .await;
        let message = &condition(&r, "Stalled").unwrap().message;
        assert!(message.contains("nothing was called"), "{name}: {message}");
        assert_eq!(r.status.unwrap().pending_create, None, "{name}: no intent");
    }
    assert_eq!(env.calls("CloneDBInstance"), 0);
    assert_eq!(env.calls("RestoreTable"), 0);

    // The CRD refuses a table restore without any confirmation.
    let unconfirmed = json!({
        "region": "cn-hangzhou",
        "source": { "dbInstanceId": "rm-demo01", "backupId": backup_id },
        "mode": "Tables",
        "tables": [{ "database": "orders", "tables": [{ "name": "t1", "newName": "t1_r" }] }],
    });
    let obj: RdsRestore =
        serde_json::from_value(manifest("RdsRestore", "unconfirmed", unconfirmed)).unwrap();
    let err = env
        .api::<RdsRestore>()
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("overwrite.confirmTargetId"),
        "{err}"
    );
}

#[tokio::test]
async fn a_table_restore_is_found_in_the_task_centre_and_tracked_to_its_end() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let backup = succeeded_rds_backup(&env, "nightly").await;
    let backup_id = backup.status.unwrap().backup_id.unwrap();
    let spec = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "mode": "Tables",
        "source": { "dbInstanceId": "rm-demo01", "backupId": backup_id },
        "tables": [{ "database": "orders", "tables": [{ "name": "t1", "newName": "t1_restored" }] }],
        "overwrite": { "confirmTargetId": "rm-demo01" },
    });
    // The answer of RestoreTable is lost: the task still runs, and is found by the lookup.
    env.emulator.inject_fault(
        Fault::error(Some("RestoreTable"), "InternalError", 500)
            .times(1)
            .after_apply(),
    );
    create_from::<RdsRestore>(&env, manifest("RdsRestore", "tables", spec)).await;
    let done = wait_restore(
        &env,
        "tables",
        "table restore Succeeded",
        |r: &RdsRestore| phase_of(r) == Some(RestorePhase::Succeeded),
    )
    .await;
    let st = done.status.unwrap();
    assert!(
        st.restore_id.is_some(),
        "the task id from DescribeHistoryTasks"
    );
    assert_eq!(st.target_id.as_deref(), Some("rm-demo01"));
    assert_eq!(st.cloud_status.as_deref(), Some("Succeed"));
    let state = env.emulator.state().to_string();
    assert!(
        state.contains("t1_restored"),
        "the emulator knows the restored table"
    );
    // One task however many sends: the ClientToken makes a re-send harmless.
    let tasks = cloud(&env)
        .rds_restore(&test_target())
        .describe_history_tasks(
            &aliyun_backup_operator::cloud::api::DescribeHistoryTasksRequest {
                instance_id: Some("rm-demo01".into()),
                from_start_time: "2000-01-01T00:00:00Z".into(),
                to_start_time: "2100-01-01T00:00:00Z".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tasks.items.len(), 1, "{:?}", tasks.items);
}

#[tokio::test]
async fn a_lost_clone_answer_never_makes_a_second_clone() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_rds_backup(&env, "nightly").await;
    env.emulator.inject_fault(
        Fault::error(Some("CloneDBInstance"), "InternalError", 500)
            .times(1)
            .after_apply(),
    );
    let spec = rds_restore_spec(json!({ "backupRef": { "name": "nightly" } }));
    let created = create_from::<RdsRestore>(&env, manifest("RdsRestore", "clone", spec)).await;
    let done = wait_restore(&env, "clone", "clone Succeeded", |r: &RdsRestore| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    let uid = created.metadata.uid.unwrap();
    let clones = clones_of(&env, &uid).await;
    assert_eq!(clones.len(), 1, "{clones:?}");
    assert_eq!(done.status.unwrap().db_instance_id.as_ref(), clones.first());
}

fn hbr_rollback_spec(job: &str) -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "source": { "backupJobRef": { "name": job } },
        "target": { "restoreType": "UDM_ECS_ROLLBACK", "instanceId": "i-demo01" },
        "overwrite": { "confirmTargetId": "i-demo01" },
    })
}

async fn succeeded_hbr_job(env: &Env, name: &str) {
    create_from::<HbrBackupJob>(env, manifest("HbrBackupJob", name, hbr_udm_spec())).await;
    wait_for(
        &env.api::<HbrBackupJob>(),
        name,
        "job Succeeded",
        |j: &HbrBackupJob| {
            j.status.as_ref().and_then(|s| s.phase) == Some(HbrBackupJobPhase::Succeeded)
        },
    )
    .await;
}

async fn restore_jobs(env: &Env) -> Vec<aliyun_backup_operator::cloud::api::HbrRestoreJob> {
    cloud(env)
        .hbr_restore(&test_target())
        .describe_restore_jobs2(&DescribeRestoreJobs2Request {
            restore_type: Some("UDM_ECS_ROLLBACK".into()),
            page_size: Some(99),
            ..DescribeRestoreJobs2Request::default()
        })
        .await
        .unwrap()
        .restore_jobs
}

#[tokio::test]
async fn an_hbr_rollback_from_a_backup_job_runs_once_even_when_its_answer_is_lost() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_hbr_job(&env, "web").await;
    // CreateRestoreJob has no token: only the intent and the lookup keep it to one job.
    env.emulator.inject_fault(
        Fault::error(Some("CreateRestoreJob"), "InternalError", 500)
            .times(1)
            .after_apply(),
    );
    create_from::<HbrRestoreJob>(
        &env,
        manifest("HbrRestoreJob", "rollback", hbr_rollback_spec("web")),
    )
    .await;
    let done = wait_restore(
        &env,
        "rollback",
        "rollback Succeeded",
        |r: &HbrRestoreJob| phase_of(r) == Some(RestorePhase::Succeeded),
    )
    .await;
    let st = done.status.unwrap();
    let jobs = restore_jobs(&env).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(st.restore_id.as_deref(), Some(jobs[0].restore_id.as_str()));
    assert_eq!(st.progress, Some(100));
    assert_eq!(st.target_id.as_deref(), Some("i-demo01"));
}

#[tokio::test]
async fn deleting_a_running_hbr_restore_cancels_it() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(30))).await;
    env.start_operator().await;
    create_from::<HbrBackupJob>(&env, manifest("HbrBackupJob", "web", hbr_udm_spec())).await;
    wait_until("the backup job exists in the cloud", || {
        env.calls("CreateBackupJob") > 0
    })
    .await;
    env.emulator.advance_time(Duration::from_secs(31));
    wait_for(
        &env.api::<HbrBackupJob>(),
        "web",
        "job Succeeded",
        |j: &HbrBackupJob| {
            j.status.as_ref().and_then(|s| s.phase) == Some(HbrBackupJobPhase::Succeeded)
        },
    )
    .await;
    create_from::<HbrRestoreJob>(
        &env,
        manifest("HbrRestoreJob", "rollback", hbr_rollback_spec("web")),
    )
    .await;
    wait_restore(&env, "rollback", "restore running", |r: &HbrRestoreJob| {
        phase_of(r) == Some(RestorePhase::Restoring)
    })
    .await;
    env.api::<HbrRestoreJob>()
        .delete("rollback", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env.api::<HbrRestoreJob>(), "rollback").await;
    assert_eq!(env.calls("CancelRestoreJob"), 1);
    let jobs = restore_jobs(&env).await;
    assert_eq!(jobs.len(), 1);
    let status = jobs[0].status.clone().unwrap_or_default();
    assert!(status == "CANCELING" || status == "CANCELED", "{status}");
    let events = events_for(&env, "rollback").await;
    assert!(
        reasons(&events).iter().any(|r| r == "RestoreCancelled"),
        "{:?}",
        reasons(&events)
    );
}

async fn dbs_plan_with_a_finished_set(env: &Env) -> (String, String) {
    env.put_secret(PASSWORD_SECRET, &[("password", "source-pw")])
        .await;
    create_from::<DbsBackupPlan>(
        env,
        manifest("DbsBackupPlan", "orders", dbs_spec("orders", "rm-demo01")),
    )
    .await;
    let plan = wait_for(
        &env.api::<DbsBackupPlan>(),
        "orders",
        "a finished full backup set",
        |p: &DbsBackupPlan| {
            p.status
                .as_ref()
                .and_then(|s| s.latest_full_backup_set.as_ref())
                .is_some_and(|s| s.status.as_deref() == Some("finish"))
        },
    )
    .await;
    let st = plan.status.unwrap();
    (
        st.backup_plan_id.unwrap(),
        st.latest_full_backup_set.unwrap().id.unwrap(),
    )
}

fn dbs_restore_spec(set: &str) -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "source": { "backupPlanRef": { "name": "orders" }, "backupSetId": set },
        "destination": {
            "instanceType": "RDS",
            "instanceId": "rm-demo02",
            "userName": "restore",
            "passwordSecretRef": { "name": "dest-pw", "key": "password" }
        },
        "objects": [{ "database": "orders", "newDatabase": "orders_restored" }],
        "overwrite": { "confirmTargetId": "rm-demo02" },
    })
}

#[tokio::test]
async fn a_dbs_restore_is_created_started_and_tracked_once_across_a_lost_answer() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let (plan_id, set) = dbs_plan_with_a_finished_set(&env).await;
    env.put_secret("dest-pw", &[("password", "CANARY-dest-pw")])
        .await;
    env.emulator.inject_fault(
        Fault::error(Some("CreateRestoreTask"), "InternalError", 500)
            .times(1)
            .after_apply(),
    );
    create_from::<DbsRestoreTask>(
        &env,
        manifest("DbsRestoreTask", "restore", dbs_restore_spec(&set)),
    )
    .await;
    let done = wait_restore(
        &env,
        "restore",
        "DBS restore Succeeded",
        |r: &DbsRestoreTask| phase_of(r) == Some(RestorePhase::Succeeded),
    )
    .await;
    let st = done.status.clone().unwrap();
    assert_eq!(st.cloud_status.as_deref(), Some("finish"));
    let tasks = cloud(&env)
        .dbs_restore(&test_target())
        .describe_restore_task_list(&DescribeRestoreTaskListRequest {
            backup_plan_id: Some(plan_id),
            ..DescribeRestoreTaskListRequest::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(
        st.restore_id.as_deref(),
        Some(tasks[0].restore_task_id.as_str())
    );
    // The password reached the cloud call only: not the status, not an event.
    let text = serde_json::to_string(&done).unwrap();
    assert!(!text.contains("CANARY"), "{text}");
    let events = serde_json::to_string(&events_for(&env, "restore").await).unwrap();
    assert!(!events.contains("CANARY"));
    assert!(!captured_logs().contains("CANARY-dest-pw"));
}

#[tokio::test]
async fn a_dbs_restore_into_an_unconfirmed_target_is_refused_and_a_dry_run_shows_the_plan() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let (_, set) = dbs_plan_with_a_finished_set(&env).await;
    env.put_secret("dest-pw", &[("password", "CANARY-dest-pw")])
        .await;
    let wrong = with(
        dbs_restore_spec(&set),
        json!({ "overwrite": { "confirmTargetId": "rm-demo01" } }),
    );
    create_from::<DbsRestoreTask>(&env, manifest("DbsRestoreTask", "wrong", wrong)).await;
    let dry = with(dbs_restore_spec(&set), json!({ "dryRun": true }));
    create_from::<DbsRestoreTask>(&env, manifest("DbsRestoreTask", "dry", dry)).await;
    wait_restore(&env, "wrong", "refused", |r: &DbsRestoreTask| {
        stalled_reason(r).as_deref() == Some("OverwriteNotConfirmed")
    })
    .await;
    let planned = wait_restore(&env, "dry", "planned", |r: &DbsRestoreTask| {
        phase_of(r) == Some(RestorePhase::Planned)
    })
    .await;
    let plan = planned.status.unwrap().plan.unwrap();
    assert!(plan.overwrites);
    assert_eq!(
        plan.parameters.get("DuplicateConflict").map(String::as_str),
        Some("failure")
    );
    assert!(!serde_json::to_string(&plan).unwrap().contains("CANARY"));
    assert_eq!(env.calls("CreateRestoreTask"), 0);
    assert_eq!(env.calls("StartRestoreTask"), 0);
}

#[tokio::test]
async fn restores_into_one_target_run_one_at_a_time() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_hbr_job(&env, "web").await;
    for name in ["first", "second"] {
        create_from::<HbrRestoreJob>(
            &env,
            manifest("HbrRestoreJob", name, hbr_rollback_spec("web")),
        )
        .await;
    }
    for name in ["first", "second"] {
        wait_restore(&env, name, "Succeeded", |r: &HbrRestoreJob| {
            phase_of(r) == Some(RestorePhase::Succeeded)
        })
        .await;
    }
    let jobs = restore_jobs(&env).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    // Never two at once: the later one was created after the earlier one ended.
    let mut spans: Vec<(i64, i64)> = jobs
        .iter()
        .map(|j| {
            (
                j.created_time.unwrap_or_default(),
                j.complete_time.unwrap_or(i64::MAX),
            )
        })
        .collect();
    spans.sort();
    assert!(spans[1].0 >= spans[0].1, "overlapping restores: {spans:?}");
}

#[tokio::test]
async fn an_ecs_file_restore_finds_the_jobs_snapshot_with_its_hash() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let backup = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "sourceType": "ECS_FILE",
        "instanceId": "i-demo01",
        "vaultId": "v-0001",
        "retention": 7,
        "include": ["/data"],
    });
    create_from::<HbrBackupJob>(&env, manifest("HbrBackupJob", "files", backup)).await;
    wait_for(
        &env.api::<HbrBackupJob>(),
        "files",
        "job Succeeded",
        |j: &HbrBackupJob| {
            j.status.as_ref().and_then(|s| s.phase) == Some(HbrBackupJobPhase::Succeeded)
        },
    )
    .await;
    let spec = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "source": { "backupJobRef": { "name": "files" } },
        "target": { "restoreType": "ECS_FILE", "instanceId": "i-demo01", "path": "/restore", "include": ["/data"] },
        "overwrite": { "confirmTargetId": "i-demo01" },
    });
    create_from::<HbrRestoreJob>(&env, manifest("HbrRestoreJob", "files-back", spec)).await;
    let done = wait_restore(&env, "files-back", "Succeeded", |r: &HbrRestoreJob| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    let plan = done.status.unwrap().plan.unwrap();
    assert!(plan.parameters.contains_key("SnapshotHash"), "{plan:?}");
    assert_eq!(
        plan.parameters.get("VaultId").map(String::as_str),
        Some("v-0001")
    );
    assert_eq!(
        plan.parameters.get("TargetPath").map(String::as_str),
        Some("/restore")
    );
    assert_eq!(env.calls("CreateRestoreJob"), 1);
}

#[tokio::test]
async fn points_in_time_inside_the_window_restore() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_rds_backup(&env, "nightly").await;
    let (_, _) = dbs_plan_with_a_finished_set(&env).await;
    env.put_secret("dest-pw", &[("password", "pw")]).await;
    // The recovery windows run from the end of the oldest successful set to the emulator's
    // now: a time a second ahead (whole seconds, after every set's end) is inside once the
    // emulator's clock has moved past it.
    let now = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    env.emulator.advance_time(Duration::from_secs(3));
    let clone = rds_restore_spec(json!({ "dbInstanceId": "rm-demo01", "restoreTime": now }));
    create_from::<RdsRestore>(&env, manifest("RdsRestore", "pitr", clone)).await;
    let dbs = with(
        dbs_restore_spec("unused"),
        json!({ "source": { "backupPlanRef": { "name": "orders" }, "restoreTime": now } }),
    );
    create_from::<DbsRestoreTask>(&env, manifest("DbsRestoreTask", "pitr", dbs)).await;
    let r = wait_restore(&env, "pitr", "clone Succeeded", |r: &RdsRestore| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    let plan = r.status.unwrap().plan.unwrap();
    assert_eq!(plan.parameters.get("RestoreTime"), Some(&now));
    assert!(!plan.parameters.contains_key("BackupId"));
    let d = wait_restore(&env, "pitr", "DBS Succeeded", |r: &DbsRestoreTask| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    let ms = now
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
        .to_string();
    assert_eq!(
        d.status
            .unwrap()
            .plan
            .unwrap()
            .parameters
            .get("RestoreTime"),
        Some(&ms)
    );
}

#[tokio::test]
async fn an_intent_whose_source_is_gone_is_settled_from_the_evidence_and_holds_nobody_up() {
    let mut env = Env::start().await;
    env.start_operator().await;
    succeeded_hbr_job(&env, "web").await;
    // The operator dies in the middle of CreateRestoreJob, which is then refused (not run):
    // the intent is on record, no restore exists.
    env.emulator
        .inject_fault(Fault::hold(Some("CreateRestoreJob"), "h").times(1));
    create_from::<HbrRestoreJob>(
        &env,
        manifest("HbrRestoreJob", "first", hbr_rollback_spec("web")),
    )
    .await;
    env.wait_held("h").await;
    env.kill_operator().await;
    env.emulator.release(
        "h",
        aliyun_emulator::Release::Fail {
            code: "ServiceUnavailable".into(),
            http_status: 503,
        },
    );
    let first = env.api::<HbrRestoreJob>().get("first").await.unwrap();
    let st = first.status.clone().unwrap();
    assert!(st.pending_create.is_some(), "{st:?}");
    let plan = st.plan.unwrap();
    // Meanwhile the backup object goes (its snapshot is retained; with the operator down, its
    // finalizer is taken off by hand).
    env.api::<HbrBackupJob>()
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .unwrap();
    env.api::<HbrBackupJob>()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env.api::<HbrBackupJob>(), "web").await;
    env.start_operator().await;
    let first = wait_restore(&env, "first", "SourceNotFound", |r: &HbrRestoreJob| {
        stalled_reason(r).as_deref() == Some("SourceNotFound")
    })
    .await;
    assert_eq!(
        first.status.unwrap().pending_create,
        None,
        "the cloud proved nothing runs: the intent is cleared"
    );
    // A restore of the same snapshot into the same target is not held up by it.
    let raw = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "source": {
            "sourceType": "UDM_ECS",
            "snapshotId": plan.parameters["SnapshotId"],
        },
        "target": { "restoreType": "UDM_ECS_ROLLBACK", "instanceId": "i-demo01" },
        "overwrite": { "confirmTargetId": "i-demo01" },
    });
    create_from::<HbrRestoreJob>(&env, manifest("HbrRestoreJob", "second", raw)).await;
    wait_restore(&env, "second", "Succeeded", |r: &HbrRestoreJob| {
        phase_of(r) == Some(RestorePhase::Succeeded)
    })
    .await;
    assert_eq!(restore_jobs(&env).await.len(), 1);
}
