//! Adoption and observe-only (issue 15 item 5): cloud objects made directly in the emulator
//! are taken over by `RdsBackup.spec.backupJobId`/`backupId`, `HbrBackupJob.spec.jobId` and
//! `DbsBackupPlan.spec.backupPlanId`, with `managementPolicy: Manage` (tracked and cleaned up
//! like the operator's own) and `ObserveOnly` (not a single mutating cloud call, deletion
//! included); an id another object holds is refused (`docs/architecture.md#exactly-once`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aliyun_backup_operator::cloud::api::CreateBackupRequest;
use aliyun_backup_operator::cloud::{AlibabaCloud, CloudProvider, Secret};
use aliyun_backup_operator::controller::kinds::dbs::plan as dbs_plan;
use aliyun_backup_operator::controller::kinds::hbr::plan as hbr_plan;
use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsBackupPlanPhase, HbrBackupJob, HbrBackupJobPhase, RdsBackup, RdsBackupPhase,
};
use common::*;
use kube::api::DeleteParams;
use kube::core::NamespaceResourceScope;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn cloud(env: &Env) -> AlibabaCloud {
    AlibabaCloud::new(env.operator_config().cloud).unwrap()
}

/// Calls per `PRODUCT/Action/Code` that can change the cloud: everything but reads.
fn writes(env: &Env) -> BTreeMap<String, usize> {
    env.emulator
        .calls()
        .counts()
        .into_iter()
        .filter(|(k, _)| {
            let action = k.split('/').nth(1).unwrap_or_default();
            !["Describe", "Search", "List", "Get"]
                .iter()
                .any(|p| action.starts_with(p))
        })
        .collect()
}

async fn delete<K>(env: &Env, name: &str)
where
    K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api = env.api::<K>();
    api.delete(name, &DeleteParams::default()).await.unwrap();
    wait_gone(&api, name).await;
}

fn adopted<K: aliyun_backup_operator::controller::reconcile::kind::Tracked>(
    o: &K,
    policy: &str,
) -> bool {
    condition(o, "Adopted").is_some_and(|c| {
        c.status == "True" && c.reason == "AdoptedExisting" && c.message.contains(policy)
    })
}

fn stalled_with<K: aliyun_backup_operator::controller::reconcile::kind::Tracked>(
    o: &K,
    reason: &str,
) -> bool {
    condition(o, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
}

async fn assert_cleanup_skipped(env: &Env, name: &str) {
    eventually("a CloudCleanupSkipped event", || async {
        let r = reasons(&events_for(env, name).await);
        if r.iter().any(|x| x == "CloudCleanupSkipped") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
}

// ------------------------------------------------------------------------------------------
// RdsBackup
// ------------------------------------------------------------------------------------------

fn rds(name: &str, extra: Value) -> Value {
    let spec = with(rds_spec("rm-demo01"), json!({"deletionPolicy": "Delete"}));
    manifest("RdsBackup", name, with(spec, extra))
}

/// Starts a backup on rm-demo01 outside the operator and waits until its set exists;
/// `(BackupJobId, BackupId)`.
async fn rds_backup_outside(env: &Env) -> (String, String) {
    let rds = cloud(env).rds(&test_target());
    let job = rds
        .create_backup(&CreateBackupRequest {
            db_instance_id: "rm-demo01".into(),
            backup_method: Some("Physical".into()),
            ..CreateBackupRequest::default()
        })
        .await
        .unwrap()
        .backup_job_id;
    let task = |env: &Env| {
        env.emulator.state()["rds"]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|t| t["BackupJobId"] == job.as_str())
            .unwrap_or(Value::Null)
    };
    wait_until("the task to finish", || {
        task(env)["BackupStatus"] == "Finished"
    })
    .await;
    let set = task(env)["BackupId"].as_str().unwrap().to_string();
    (job, set)
}

fn rds_deleted(env: &Env, backup_id: &str) -> bool {
    env.emulator.state()["rds"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["BackupId"] == backup_id && t["Deleted"] == true)
}

#[tokio::test]
async fn rds_backup_adoption_manage_observe_only_and_refusal() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let api = env.api::<RdsBackup>();

    // Manage + backupJobId: tracked to its set like the operator's own, deleted on deletion.
    let (job, set) = rds_backup_outside(&env).await;
    create_from::<RdsBackup>(&env, rds("managed", json!({ "backupJobId": job }))).await;
    let o = wait_for(&api, "managed", "Succeeded + Adopted", |o| {
        phase(o) == Some(RdsBackupPhase::Succeeded) && adopted(o, "Manage")
    })
    .await;
    let st = o.status.clone().unwrap();
    assert_eq!(st.backup_job_id.as_deref(), Some(job.as_str()));
    assert_eq!(st.backup_id.as_deref(), Some(set.as_str()));
    assert!(is_true(&o, "Ready"));
    assert_eq!(
        env.calls("CreateBackup"),
        1,
        "only the test's own CreateBackup"
    );

    // An id another object holds is refused, and nothing is recorded: the task, and the set.
    for (name, field) in [("twin-task", "backupJobId"), ("twin-set", "backupId")] {
        let id = if field == "backupJobId" { &job } else { &set };
        create_from::<RdsBackup>(&env, rds(name, json!({ field: id }))).await;
        let o = wait_for(&api, name, "AdoptionRefused", |o| {
            stalled_with(o, "AdoptionRefused")
        })
        .await;
        let st = o.status.clone().unwrap();
        assert_eq!(st.backup_job_id, None, "{name}");
        assert_eq!(st.backup_id, None, "{name}");
        assert!(condition(&o, "Adopted").is_none());
        let msg = &condition(&o, "Stalled").unwrap().message;
        assert!(msg.contains("backups/managed"), "{msg}");
        // Deleting it (Delete policy) must not touch what the other object holds.
        delete::<RdsBackup>(&env, name).await;
        assert!(!rds_deleted(&env, &set));
    }

    // An id the cloud does not know stalls.
    create_from::<RdsBackup>(&env, rds("unknown", json!({ "backupId": "999999" }))).await;
    wait_for(&api, "unknown", "BackupSetNotFound", |o| {
        stalled_with(o, "BackupSetNotFound")
    })
    .await;
    delete::<RdsBackup>(&env, "unknown").await;

    delete::<RdsBackup>(&env, "managed").await;
    assert!(
        rds_deleted(&env, &set),
        "Manage + Delete deletes the adopted set"
    );
    assert_eq!(env.calls("DeleteBackup"), 1);

    // ObserveOnly + backupId (deletionPolicy Delete): not one write, deletion included.
    let (_, set2) = rds_backup_outside(&env).await;
    let before = writes(&env);
    create_from::<RdsBackup>(
        &env,
        rds(
            "observed",
            json!({ "backupId": set2, "managementPolicy": "ObserveOnly" }),
        ),
    )
    .await;
    let o = wait_for(&api, "observed", "Succeeded + Adopted", |o| {
        phase(o) == Some(RdsBackupPhase::Succeeded) && adopted(o, "ObserveOnly")
    })
    .await;
    let st = o.status.unwrap();
    assert_eq!(st.backup_id.as_deref(), Some(set2.as_str()));
    assert_eq!(
        st.backup_set.and_then(|s| s.status).as_deref(),
        Some("Success")
    );
    delete::<RdsBackup>(&env, "observed").await;
    assert_cleanup_skipped(&env, "observed").await;
    assert!(!rds_deleted(&env, &set2));
    assert_eq!(writes(&env), before, "ObserveOnly wrote to the cloud");
    env.stop_operator().await;
}

// ------------------------------------------------------------------------------------------
// HbrBackupJob
// ------------------------------------------------------------------------------------------

fn hbr(name: &str, extra: Value) -> Value {
    let spec = with(
        hbr_udm_spec(),
        json!({"deletionPolicy": "Delete", "detail": null}),
    );
    manifest("HbrBackupJob", name, with(spec, extra))
}

/// Creates a `UDM_ECS` job of i-demo01 outside the operator; its `JobId`.
async fn hbr_job_outside(env: &Env, name: &str) -> String {
    let obj: HbrBackupJob = serde_json::from_value(hbr(name, json!({}))).unwrap();
    let req = hbr_plan::validate(&obj.spec, name, "outside-the-operator").unwrap();
    cloud(env)
        .hbr(&test_target())
        .create_backup_job(&req)
        .await
        .unwrap()
        .job_id
}

fn hbr_snapshots(env: &Env) -> usize {
    env.emulator.state()["hbr"]["snapshots"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|x| !x["Deleted"].as_bool().unwrap_or(false))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn hbr_job_adoption_manage_observe_only_and_refusal() {
    // Jobs run for an hour unless the test moves the emulator's clock.
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    env.start_operator().await;
    let api = env.api::<HbrBackupJob>();

    // ObserveOnly on a running job, deletionPolicy Delete: followed, never cancelled.
    let running = hbr_job_outside(&env, "outside-1").await;
    let before = writes(&env);
    create_from::<HbrBackupJob>(
        &env,
        hbr(
            "observed",
            json!({ "jobId": running, "managementPolicy": "ObserveOnly" }),
        ),
    )
    .await;
    let o = wait_for(&api, "observed", "Running + Adopted", |o| {
        phase(o) == Some(HbrBackupJobPhase::Running) && adopted(o, "ObserveOnly")
    })
    .await;
    let st = o.status.unwrap();
    assert_eq!(st.job_id.as_deref(), Some(running.as_str()));
    // Issue #30: the policy in status is what will happen (nothing deleted), not `Delete`.
    assert_eq!(
        st.deletion_policy,
        Some(aliyun_backup_operator::crd::DeletionPolicy::Retain)
    );
    assert!(
        st.deletion_policy_source
            .as_deref()
            .is_some_and(|s| s.contains("ObserveOnly")),
        "{st:?}"
    );

    // The same job once more: refused, nothing recorded.
    create_from::<HbrBackupJob>(&env, hbr("twin", json!({ "jobId": running }))).await;
    let o = wait_for(&api, "twin", "AdoptionRefused", |o| {
        stalled_with(o, "AdoptionRefused")
    })
    .await;
    assert_eq!(o.status.clone().unwrap().job_id, None);
    assert!(
        condition(&o, "Stalled")
            .unwrap()
            .message
            .contains("backups/observed")
    );
    delete::<HbrBackupJob>(&env, "twin").await;

    delete::<HbrBackupJob>(&env, "observed").await;
    assert_cleanup_skipped(&env, "observed").await;
    assert_eq!(writes(&env), before, "ObserveOnly wrote to the cloud");
    assert_eq!(env.calls("CancelBackupJob"), 0);

    // Manage: tracked to COMPLETE, the snapshot deleted with the object.
    let job = hbr_job_outside(&env, "outside-2").await;
    create_from::<HbrBackupJob>(&env, hbr("managed", json!({ "jobId": job }))).await;
    wait_for(&api, "managed", "Running + Adopted", |o| {
        phase(o) == Some(HbrBackupJobPhase::Running) && adopted(o, "Manage")
    })
    .await;
    env.emulator.advance_time(Duration::from_secs(7200));
    let o = wait_for(&api, "managed", "Succeeded with snapshots", |o| {
        phase(o) == Some(HbrBackupJobPhase::Succeeded)
            && o.status
                .as_ref()
                .is_some_and(|s| !s.snapshot_ids.is_empty())
    })
    .await;
    assert!(adopted(&o, "Manage"));
    assert_eq!(env.calls("CreateBackupJob"), 2, "only the test's own jobs");
    let snapshots = hbr_snapshots(&env);
    delete::<HbrBackupJob>(&env, "managed").await;
    assert!(env.calls("DeleteSnapshot") >= 1);
    assert!(
        hbr_snapshots(&env) < snapshots,
        "the adopted job's snapshot is deleted"
    );
    env.stop_operator().await;
}

// ------------------------------------------------------------------------------------------
// DbsBackupPlan
// ------------------------------------------------------------------------------------------

fn dbs(name: &str, extra: Value) -> Value {
    let spec = with(
        dbs_spec(name, "rm-demo01"),
        json!({"deletionPolicy": "Delete"}),
    );
    manifest("DbsBackupPlan", name, with(spec, extra))
}

/// Buys and starts a plan outside the operator (named like object `name`'s); its id.
async fn dbs_plan_outside(env: &Env, name: &str) -> String {
    let obj: DbsBackupPlan = serde_json::from_value(dbs(name, json!({}))).unwrap();
    let desired = dbs_plan::validate(&obj.spec).unwrap();
    let req = dbs_plan::create_request(&desired, Some(Secret::new("pw")), &format!("t-{name}"));
    cloud(env)
        .dbs(&test_target())
        .create_and_start_backup_plan(&req)
        .await
        .unwrap()
        .backup_plan_id
}

fn dbs_released(env: &Env, id: &str) -> bool {
    env.emulator.state()["dbs"]["plans"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["BackupPlanId"] == id && p["Released"] == true)
}

#[tokio::test]
async fn dbs_plan_adoption_manage_observe_only_and_refusal() {
    let mut env = Env::start().await;
    env.put_secret(PASSWORD_SECRET, &[("password", "s3cret")])
        .await;
    env.start_operator().await;
    let api = env.api::<DbsBackupPlan>();

    // ObserveOnly (no password needed), deletionPolicy Delete: followed, never changed.
    let observed_id = dbs_plan_outside(&env, "observed").await;
    let before = writes(&env);
    let mut spec = dbs(
        "observed",
        json!({ "backupPlanId": observed_id, "managementPolicy": "ObserveOnly", "suspend": true }),
    );
    spec["spec"]["source"] = json!({ "instanceType": "RDS", "instanceId": "rm-demo01" });
    create_from::<DbsBackupPlan>(&env, spec).await;
    let o = wait_for(&api, "observed", "Running + Adopted", |o| {
        phase(o) == Some(DbsBackupPlanPhase::Running) && adopted(o, "ObserveOnly")
    })
    .await;
    assert_eq!(
        o.status.unwrap().backup_plan_id.as_deref(),
        Some(observed_id.as_str())
    );

    // The same plan once more: refused, nothing recorded.
    create_from::<DbsBackupPlan>(&env, dbs("twin", json!({ "backupPlanId": observed_id }))).await;
    let o = wait_for(&api, "twin", "AdoptionRefused", |o| {
        stalled_with(o, "AdoptionRefused")
    })
    .await;
    assert_eq!(o.status.clone().unwrap().backup_plan_id, None);
    assert!(
        condition(&o, "Stalled")
            .unwrap()
            .message
            .contains("backups/observed")
    );
    delete::<DbsBackupPlan>(&env, "twin").await;

    delete::<DbsBackupPlan>(&env, "observed").await;
    assert_cleanup_skipped(&env, "observed").await;
    assert!(!dbs_released(&env, &observed_id));
    assert_eq!(
        writes(&env),
        before,
        "ObserveOnly wrote to the cloud (suspend: true must not pause it)"
    );

    // Manage: the spec is pushed to the adopted plan; Delete releases it.
    let id = dbs_plan_outside(&env, "managed").await;
    let creates = env.calls("CreateAndStartBackupPlan");
    create_from::<DbsBackupPlan>(&env, dbs("managed", json!({ "backupPlanId": id }))).await;
    let o = wait_for(&api, "managed", "Running + Ready + Adopted", |o| {
        phase(o) == Some(DbsBackupPlanPhase::Running) && is_true(o, "Ready") && adopted(o, "Manage")
    })
    .await;
    assert_eq!(
        o.status.unwrap().backup_plan_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        env.calls("CreateAndStartBackupPlan"),
        creates,
        "no plan bought"
    );
    assert!(env.calls("ConfigureBackupPlan") >= 1, "the spec is pushed");
    delete::<DbsBackupPlan>(&env, "managed").await;
    assert!(
        dbs_released(&env, &id),
        "Manage + Delete releases the adopted plan"
    );
    env.stop_operator().await;
}

// ------------------------------------------------------------------------------------------
// Identity (issue #30, defects 1 and 2)
// ------------------------------------------------------------------------------------------

/// A `DbsBackupPlan` that names an existing plan but describes another one (engine, class,
/// method, source) is refused before anything is written: the cloud plan keeps its source
/// and user, the object records no id and says which fields differ.
#[tokio::test]
async fn dbs_adoption_refuses_a_plan_whose_identity_differs_and_writes_nothing() {
    let mut env = Env::start().await;
    env.put_secret(PASSWORD_SECRET, &[("password", "s3cret")])
        .await;
    env.start_operator().await;
    let api = env.api::<DbsBackupPlan>();
    let id = dbs_plan_outside(&env, "orig").await;
    let before = writes(&env);
    let mut spec = dbs("other", json!({ "backupPlanId": id }));
    spec["spec"]["databaseType"] = json!("PostgreSQL");
    spec["spec"]["instanceClass"] = json!("large");
    spec["spec"]["backupMethod"] = json!("physical");
    spec["spec"]["source"]["instanceId"] = json!("rm-demo02");
    spec["spec"]["source"]["userName"] = json!("other");
    spec["spec"]["source"]["databaseName"] = json!("orders");
    create_from::<DbsBackupPlan>(&env, spec).await;
    let o = wait_for(&api, "other", "AdoptionMismatch", |o| {
        stalled_with(o, "AdoptionMismatch")
    })
    .await;
    let st = o.status.clone().unwrap();
    assert_eq!(st.backup_plan_id, None, "nothing recorded");
    assert!(!is_true(&o, "Ready"));
    let message = condition(&o, "Stalled").unwrap().message.clone();
    for field in [
        "databaseType",
        "instanceClass",
        "backupMethod",
        "source.instanceId",
    ] {
        assert!(message.contains(field), "{field}: {message}");
    }
    assert_eq!(writes(&env), before, "nothing written to the cloud");
    let plan = env.emulator.state()["dbs"]["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["BackupPlanId"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(plan["SourceEndpointInstanceID"], "rm-demo01", "{plan:#}");
    // Deleting the refused object touches nothing (it holds no plan).
    delete::<DbsBackupPlan>(&env, "other").await;
    assert!(!dbs_released(&env, &id));
    assert_eq!(writes(&env), before);
    env.stop_operator().await;
}

/// An `HbrBackupJob` that names a job of another instance is refused: no id recorded, no
/// snapshot lookup with the wrong instance, and deleting it deletes nothing.
#[tokio::test]
async fn hbr_adoption_refuses_a_job_of_another_instance() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let api = env.api::<HbrBackupJob>();
    let job = hbr_job_outside(&env, "outside-3").await;
    let before = writes(&env);
    create_from::<HbrBackupJob>(
        &env,
        hbr(
            "wrong-instance",
            json!({ "jobId": job, "instanceId": "i-other" }),
        ),
    )
    .await;
    let o = wait_for(&api, "wrong-instance", "AdoptionMismatch", |o| {
        stalled_with(o, "AdoptionMismatch")
    })
    .await;
    assert_eq!(o.status.clone().unwrap().job_id, None, "nothing recorded");
    let message = condition(&o, "Stalled").unwrap().message.clone();
    assert!(
        message.contains("instanceId is \"i-other\" in the spec but \"i-demo01\" in the cloud"),
        "{message}"
    );
    assert_eq!(env.calls("DescribeUdmSnapshots"), 0);
    delete::<HbrBackupJob>(&env, "wrong-instance").await;
    assert_eq!(writes(&env), before, "nothing written to the cloud");
    env.stop_operator().await;
}
