//! `HbrBackupJob` end to end: the real operator against kube-sandbox and aliyun-emulator
//! (issue 6, "Done when").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::cloud::api::hbr::CancelBackupJobRequest;
use aliyun_backup_operator::cloud::{AlibabaCloud, CloudProvider};
use aliyun_backup_operator::crd::{HbrBackupJob, HbrBackupJobPhase};
use aliyun_emulator::{Fault, HbrOutcome, Release};
use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_sandbox::FailureMatcher;
use serde_json::{Value, json};

fn udm(name: &str) -> HbrBackupJob {
    serde_json::from_value(manifest("HbrBackupJob", name, hbr_udm_spec())).unwrap()
}

fn ecs_file(name: &str) -> HbrBackupJob {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupJob",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "sourceType": "ECS_FILE",
            "instanceId": "i-demo01",
            "vaultId": "v-0001",
            "backupType": "INCREMENTAL",
            "retention": 30,
            "include": ["/home/alice/*.pdf", "/data"],
            "exclude": ["/var", "/proc"],
            "speedLimits": [
                { "startHour": 0, "endHour": 8, "bandwidthKBps": 10240 },
                { "startHour": 8, "endHour": 24, "bandwidthKBps": 1024 }
            ],
            "options": { "useVss": false },
            "crossAccount": { "type": "CROSS_ACCOUNT", "userId": "1589750000004625", "roleName": "BackupRole" },
        }
    }))
    .unwrap()
}

fn container(name: &str) -> HbrBackupJob {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupJob",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "sourceType": "CONTAINER",
            "vaultId": "v-0001",
            "retention": 7,
            "clusterId": "c-ack01",
            "containerClusterId": "cc-000xxxxxxxxxxxxxxi00",
            "initiatedByAck": true,
            "containerResources": [{
                "resourceType": "PV",
                "backupMethod": "FILE",
                "resourceId": "674dac6d-74cd-47e9-a675-09e2f10d2c45",
                "resourceInfo": { "pvName": "nas-650d", "pvSize": "8Gi", "pvcName": "data-postgresql-0", "namespace": "database" },
                "host": "cn-hangzhou.192.168.13.133",
                "pvPath": "/"
            }],
        }
    }))
    .unwrap()
}

async fn create(env: &Env, obj: &HbrBackupJob) -> HbrBackupJob {
    env.api::<HbrBackupJob>()
        .create(&PostParams::default(), obj)
        .await
        .expect("create HbrBackupJob")
}

async fn wait_phase(env: &Env, name: &str, p: HbrBackupJobPhase) -> HbrBackupJob {
    wait_for(&env.api::<HbrBackupJob>(), name, &format!("{p}"), |o| {
        phase(o) == Some(p)
    })
    .await
}

fn emulator_jobs(env: &Env) -> Vec<Value> {
    env.emulator.state()["hbr"]["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn emulator_job(env: &Env, id: &str) -> Value {
    emulator_jobs(env)
        .into_iter()
        .find(|j| j["JobId"] == id)
        .unwrap_or(Value::Null)
}

fn emulator_snapshots(env: &Env) -> Vec<String> {
    env.emulator.state()["hbr"]["snapshots"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["SnapshotId"].as_str().map(str::to_string))
        .collect()
}

fn job_id(o: &HbrBackupJob) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.job_id.clone())
        .expect("jobId")
}

fn test_cloud(env: &Env) -> std::sync::Arc<dyn aliyun_backup_operator::cloud::HbrApi> {
    let cloud = AlibabaCloud::new(env.operator_config().cloud).unwrap();
    cloud.hbr(&test_target())
}

/// An emulator whose jobs take long (the tests move its clock to finish them).
async fn slow_env() -> Env {
    Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await
}

#[tokio::test]
async fn example_reaches_succeeded_with_exactly_one_create() {
    let mut env = Env::start().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let secret: Secret = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/credentials-secret.yaml")).unwrap(),
    )
    .unwrap();
    let secrets: Api<Secret> = env.api();
    secrets
        .delete(CREDS, &DeleteParams::default())
        .await
        .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let example: HbrBackupJob = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/hbr-backup-job.yaml")).unwrap(),
    )
    .unwrap();
    let name = example.name_any();
    env.start_operator().await;
    let created = create(&env, &example).await;

    let o = wait_for(
        &env.api::<HbrBackupJob>(),
        &name,
        "Succeeded with snapshot ids",
        |o| {
            phase(o) == Some(HbrBackupJobPhase::Succeeded)
                && o.status
                    .as_ref()
                    .is_some_and(|s| !s.snapshot_ids.is_empty())
        },
    )
    .await;
    let s = o.status.clone().unwrap();
    assert!(is_true(&o, "Ready"));
    assert_eq!(condition(&o, "Ready").unwrap().reason, "BackupSucceeded");
    assert_eq!(s.progress, Some(100));
    assert_eq!(s.cloud_status.as_deref(), Some("COMPLETE"));
    assert!(s.bytes_total.unwrap_or(0) > 0);
    assert_eq!(s.bytes_done, s.bytes_total);
    assert!(s.completion_time.is_some());
    assert_eq!(s.pending_create, None);
    let uid = created.metadata.uid.unwrap();
    assert_eq!(
        s.job_name.as_deref(),
        Some(format!("web-server-full-{uid}").as_str())
    );
    assert_eq!(env.calls("CreateBackupJob"), 1);
    let snaps = emulator_snapshots(&env);
    assert_eq!(s.snapshot_ids, snaps);
    let job = emulator_job(&env, &job_id(&o));
    assert_eq!(job["JobName"], format!("web-server-full-{uid}"));
    let create_call = env
        .emulator
        .calls()
        .of("CreateBackupJob")
        .next()
        .cloned()
        .unwrap();
    let detail: Value = serde_json::from_str(create_call.params.get("Detail").unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({"doCopy": false, "snapshotGroup": true, "appConsistent": false})
    );
    assert_eq!(create_call.params.get("BackupType").unwrap(), "COMPLETE");
    let r = reasons(&events_for(&env, &name).await);
    for want in ["BackupRunning", "BackupSucceeded"] {
        assert!(r.iter().any(|x| x == want), "missing event {want}: {r:?}");
    }
    // The intent is written without an event: one event per step the user cares about.
    assert!(!r.iter().any(|x| x == "Creating"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn ecs_file_job_carries_lists_speed_limits_and_cross_account() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &ecs_file("files")).await;
    let o = wait_phase(&env, "files", HbrBackupJobPhase::Succeeded).await;
    assert!(is_true(&o, "Ready"));
    assert!(o.status.unwrap().snapshot_ids.is_empty());
    assert_eq!(env.calls("CreateBackupJob"), 1);
    assert_eq!(
        env.calls("DescribeUdmSnapshots"),
        0,
        "only UDM_ECS has UDM snapshots"
    );
    let call = env
        .emulator
        .calls()
        .of("CreateBackupJob")
        .next()
        .cloned()
        .unwrap();
    let p = &call.params;
    assert_eq!(p.get("SourceType").unwrap(), "ECS_FILE");
    assert_eq!(p.get("VaultId").unwrap(), "v-0001");
    assert_eq!(p.get("BackupType").unwrap(), "INCREMENTAL");
    assert_eq!(p.get("SpeedLimit").unwrap(), "0:8:10240|8:24:1024");
    assert_eq!(
        serde_json::from_str::<Value>(p.get("Include").unwrap()).unwrap(),
        json!(["/home/alice/*.pdf", "/data"])
    );
    assert_eq!(
        serde_json::from_str::<Value>(p.get("Exclude").unwrap()).unwrap(),
        json!(["/var", "/proc"])
    );
    assert_eq!(
        serde_json::from_str::<Value>(p.get("Options").unwrap()).unwrap(),
        json!({"UseVSS": false})
    );
    assert_eq!(p.get("CrossAccountType").unwrap(), "CROSS_ACCOUNT");
    assert_eq!(p.get("CrossAccountUserId").unwrap(), "1589750000004625");
    assert_eq!(p.get("CrossAccountRoleName").unwrap(), "BackupRole");
    env.stop_operator().await;
}

/// An `ECS_FILE` job in vault `v-0001` of `i-demo01` with `deletionPolicy`.
fn ecs_file_with(name: &str, policy: aliyun_backup_operator::crd::DeletionPolicy) -> HbrBackupJob {
    let mut obj = ecs_file(name);
    obj.spec.cross_account = None;
    obj.spec.deletion_policy = Some(policy);
    obj
}

fn snapshot_of(env: &Env, job: &str) -> Option<String> {
    env.emulator.state()["hbr"]["snapshots"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|s| s["JobId"] == job)
        .and_then(|s| s["SnapshotId"].as_str().map(str::to_string))
}

#[tokio::test]
async fn delete_policy_removes_an_ecs_file_snapshot_and_only_its_own() {
    use aliyun_backup_operator::crd::DeletionPolicy;
    let mut env = Env::start().await;
    env.start_operator().await;
    // Two jobs of the same instance in the same vault: only the deleted object's snapshot goes.
    create(&env, &ecs_file_with("files-keep", DeletionPolicy::Retain)).await;
    create(&env, &ecs_file_with("files-del", DeletionPolicy::Delete)).await;
    let keep = job_id(&wait_phase(&env, "files-keep", HbrBackupJobPhase::Succeeded).await);
    let del = job_id(&wait_phase(&env, "files-del", HbrBackupJobPhase::Succeeded).await);
    let kept_snapshot = snapshot_of(&env, &keep).expect("snapshot of files-keep");
    let deleted_snapshot = snapshot_of(&env, &del).expect("snapshot of files-del");
    assert_eq!(
        env.calls("SearchHistoricalSnapshots"),
        0,
        "looked up only on deletion"
    );

    let api = env.api::<HbrBackupJob>();
    api.delete("files-del", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "files-del").await;
    assert!(env.calls("SearchHistoricalSnapshots") >= 1);
    assert_eq!(env.calls("DeleteSnapshot"), 1);
    assert_eq!(snapshot_of(&env, &del), None, "the job's snapshot is gone");
    assert_eq!(snapshot_of(&env, &keep), Some(kept_snapshot));
    let calls = env.emulator.calls();
    let search = calls
        .of("SearchHistoricalSnapshots")
        .next()
        .cloned()
        .unwrap();
    assert_eq!(search.params.get("SourceType").unwrap(), "ECS_FILE");
    let query: Value = serde_json::from_str(search.params.get("Query").unwrap()).unwrap();
    assert_eq!(
        query[0],
        json!({"field": "VaultId", "value": "v-0001", "operation": "MATCH_TERM"})
    );
    assert_eq!(query[1]["field"], "InstanceId");
    let delete = calls.of("DeleteSnapshot").next().cloned().unwrap();
    assert_eq!(delete.params.get("SnapshotId"), Some(&deleted_snapshot));
    assert_eq!(delete.params.get("SourceType").unwrap(), "ECS_FILE");
    assert_eq!(delete.params.get("VaultId").unwrap(), "v-0001");
    let r = reasons(&events_for(&env, "files-del").await);
    assert!(r.iter().any(|x| x == "SnapshotsDeleted"), "{r:?}");
    assert!(!r.iter().any(|x| x == "SnapshotRetained"), "{r:?}");

    // Retain: nothing is looked up or deleted.
    let searches = env.calls("SearchHistoricalSnapshots");
    api.delete("files-keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "files-keep").await;
    assert_eq!(env.calls("SearchHistoricalSnapshots"), searches);
    assert_eq!(env.calls("DeleteSnapshot"), 1);
    assert!(snapshot_of(&env, &keep).is_some());
    env.stop_operator().await;
}

#[tokio::test]
async fn ecs_file_deletion_keeps_the_finalizer_until_the_snapshot_is_gone() {
    use aliyun_backup_operator::crd::DeletionPolicy;
    let mut env = Env::start().await;
    // `Forbidden.RAM` opens the key's circuit breaker (30 s in production); a short cool-down
    // keeps the retried deletion quick.
    let mut cfg = env.operator_config();
    cfg.cloud.breaker.base_cooldown = Duration::from_millis(200);
    env.start_operator_with(cfg).await;
    create(&env, &ecs_file_with("files-hold", DeletionPolicy::Delete)).await;
    let id = job_id(&wait_phase(&env, "files-hold", HbrBackupJobPhase::Succeeded).await);
    // The first DeleteSnapshot is refused (a missing RAM permission, say): the object stays,
    // Stalled, and the deletion is retried.
    env.emulator.inject_fault(
        Fault::error(Some("DeleteSnapshot"), "Forbidden.RAM", 403)
            .for_product("HBR")
            .times(1),
    );
    let api = env.api::<HbrBackupJob>();
    api.delete("files-hold", &DeleteParams::default())
        .await
        .unwrap();
    let o = wait_for(&api, "files-hold", "Stalled on DeleteSnapshot", |o| {
        is_true(o, "Stalled")
    })
    .await;
    assert!(
        o.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
    );
    assert!(
        condition(&o, "Stalled")
            .unwrap()
            .message
            .contains("DeleteSnapshot"),
        "{o:#?}"
    );
    assert!(snapshot_of(&env, &id).is_some());
    wait_gone(&api, "files-hold").await;
    assert_eq!(snapshot_of(&env, &id), None);
    assert_eq!(env.calls("DeleteSnapshot"), 2);

    // A snapshot that is already gone (SnapshotNotExist) counts as deleted.
    create(&env, &ecs_file_with("files-gone", DeletionPolicy::Delete)).await;
    wait_phase(&env, "files-gone", HbrBackupJobPhase::Succeeded).await;
    env.emulator.inject_fault(
        Fault::error(Some("DeleteSnapshot"), "SnapshotNotExist", 200)
            .for_product("HBR")
            .times(1),
    );
    api.delete("files-gone", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "files-gone").await;
    assert_eq!(env.calls("DeleteSnapshot"), 3);
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_policy_on_container_warns_that_the_snapshot_stays() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut obj = container("pvs-del");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    wait_phase(&env, "pvs-del", HbrBackupJobPhase::Succeeded).await;
    let api = env.api::<HbrBackupJob>();
    api.delete("pvs-del", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "pvs-del").await;
    assert_eq!(env.calls("DeleteSnapshot"), 0);
    assert_eq!(env.calls("SearchHistoricalSnapshots"), 0);
    let events = events_for(&env, "pvs-del").await;
    let retained = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("SnapshotRetained"))
        .unwrap_or_else(|| panic!("no SnapshotRetained event: {:?}", reasons(&events)));
    assert_eq!(retained.type_.as_deref(), Some("Warning"));
    let note = retained.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("v-0001")
            && note.contains("CONTAINER")
            && note.contains("SearchHistoricalSnapshots"),
        "{note}"
    );
    env.stop_operator().await;
}

#[tokio::test]
async fn container_job_succeeds() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &container("pvs")).await;
    let o = wait_phase(&env, "pvs", HbrBackupJobPhase::Succeeded).await;
    assert!(is_true(&o, "Ready"));
    let call = env
        .emulator
        .calls()
        .of("CreateBackupJob")
        .next()
        .cloned()
        .unwrap();
    let p = &call.params;
    assert_eq!(p.get("SourceType").unwrap(), "CONTAINER");
    assert_eq!(
        p.get("ContainerClusterId").unwrap(),
        "cc-000xxxxxxxxxxxxxxi00"
    );
    assert_eq!(p.get("ClusterId").unwrap(), "c-ack01");
    let res: Value = serde_json::from_str(p.get("ContainerResources").unwrap()).unwrap();
    assert_eq!(res[0]["resourceType"], "PV");
    let info: Value = serde_json::from_str(res[0]["resourceInfo"].as_str().unwrap()).unwrap();
    assert_eq!(info["pvc_name"], "data-postgresql-0");
    env.stop_operator().await;
}

#[tokio::test]
async fn partial_and_failed_outcomes() {
    let mut env = Env::start().await;
    env.start_operator().await;
    env.emulator.set_hbr_job_outcome(
        None,
        HbrOutcome::PartialComplete,
        "2 files were skipped: permission denied",
    );
    create(&env, &udm("partial")).await;
    let o = wait_for(
        &env.api::<HbrBackupJob>(),
        "partial",
        "partial with snapshot",
        |o| {
            phase(o) == Some(HbrBackupJobPhase::PartiallySucceeded)
                && o.status
                    .as_ref()
                    .is_some_and(|s| !s.snapshot_ids.is_empty())
        },
    )
    .await;
    assert!(is_true(&o, "Ready"), "partial success is Ready");
    let ready = condition(&o, "Ready").unwrap();
    assert_eq!(ready.reason, "BackupPartiallySucceeded");
    assert!(ready.message.contains("permission denied"), "{ready:#?}");
    let ev = events_for(&env, "partial").await;
    assert!(
        ev.iter()
            .any(|e| e.reason.as_deref() == Some("BackupPartiallySucceeded")
                && e.type_.as_deref() == Some("Warning"))
    );

    env.emulator
        .set_hbr_job_outcome(None, HbrOutcome::Failed, "snapshot quota exceeded");
    create(&env, &udm("failed")).await;
    let o = wait_phase(&env, "failed", HbrBackupJobPhase::Failed).await;
    assert!(is_true(&o, "Stalled"));
    assert!(!is_true(&o, "Ready"));
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "BackupFailed");
    assert!(c.message.contains("snapshot quota exceeded"), "{c:#?}");
    let s = o.status.unwrap();
    assert_eq!(s.cloud_status.as_deref(), Some("FAILED"));
    assert_eq!(s.error_message.as_deref(), Some("snapshot quota exceeded"));
    assert_eq!(env.calls("CreateBackupJob"), 2);
    env.stop_operator().await;
}

#[tokio::test]
async fn create_refused_for_good_fails_without_an_intent() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut obj = udm("refused");
    obj.spec.instance_id = Some("i-doesnotexist".into());
    create(&env, &obj).await;
    let o = wait_phase(&env, "refused", HbrBackupJobPhase::Failed).await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.status, "True");
    assert_eq!(c.reason, "CreateRefused");
    assert!(c.message.contains("CreateBackupJob failed"), "{c:#?}");
    assert!(!is_true(&o, "Ready"));
    assert!(!is_true(&o, "Reconciling"));
    let s = o.status.unwrap();
    assert_eq!(s.pending_create, None, "a refused create leaves no intent");
    assert_eq!(s.job_id, None);
    assert!(s.completion_time.is_some());
    assert_eq!(env.calls("CreateBackupJob"), 1);
    // Terminal: a restarted operator neither creates nor searches again.
    env.stop_operator().await;
    let describes = env.calls("DescribeBackupJobs2");
    env.start_operator().await;
    wait_until("the restarted operator to reconcile", || {
        env.operator().metrics.reconcile_count("HbrBackupJob") > 0
    })
    .await;
    assert_eq!(env.calls("CreateBackupJob"), 1);
    assert_eq!(env.calls("DescribeBackupJobs2"), describes);
    // Deleting it touches nothing in the cloud.
    env.api::<HbrBackupJob>()
        .delete("refused", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env.api::<HbrBackupJob>(), "refused").await;
    assert_eq!(env.calls("CancelBackupJob"), 0);
    env.stop_operator().await;
}

#[tokio::test]
async fn job_cancelled_outside_is_cancelled() {
    let mut env = slow_env().await;
    env.start_operator().await;
    create(&env, &udm("c1")).await;
    let o = wait_for(&env.api::<HbrBackupJob>(), "c1", "running", |o| {
        phase(o) == Some(HbrBackupJobPhase::Running)
            && o.status.as_ref().and_then(|s| s.job_id.as_ref()).is_some()
    })
    .await;
    let id = job_id(&o);
    env.emulator.advance_time(Duration::from_secs(600));
    let o = wait_for(&env.api::<HbrBackupJob>(), "c1", "progress", |o| {
        o.status.as_ref().and_then(|s| s.progress).unwrap_or(0) > 0
    })
    .await;
    let s = o.status.unwrap();
    assert!(s.progress.unwrap() < 100);
    assert!(s.bytes_done.unwrap_or(0) > 0);
    test_cloud(&env)
        .cancel_backup_job(&CancelBackupJobRequest {
            job_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let o = wait_phase(&env, "c1", HbrBackupJobPhase::Cancelled).await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "BackupCancelled");
    assert_eq!(o.status.unwrap().cloud_status.as_deref(), Some("CANCELED"));
    env.stop_operator().await;
}

#[tokio::test]
async fn crash_between_create_and_status_write_adopts_after_restart() {
    let mut env = Env::start().await;
    env.emulator.inject_fault(
        Fault::hold(Some("CreateBackupJob"), "create")
            .for_product("HBR")
            .times(1),
    );
    let mut cfg = env.operator_config();
    cfg.timing.error_base = Duration::from_secs(600);
    cfg.timing.error_max = Duration::from_secs(600);
    env.start_operator_with(cfg).await;
    create(&env, &udm("crash")).await;
    let api = env.api::<HbrBackupJob>();
    env.wait_held("create").await;
    let intent = api.get("crash").await.unwrap().status.unwrap_or_default();
    assert!(intent.pending_create.is_some(), "intent first: {intent:#?}");
    env.sandbox.fail_next(
        FailureMatcher::new("patch", "hbrbackupjobs").subresource("status"),
        1,
        500,
    );
    env.emulator.release("create", Release::Proceed);
    wait_until("the post-create status write to fail", || {
        env.sandbox.pending_failures() == 0
    })
    .await;
    assert_eq!(env.calls("CreateBackupJob"), 1);
    env.kill_operator().await;
    let s = api.get("crash").await.unwrap().status.unwrap();
    assert!(s.pending_create.is_some(), "{s:#?}");
    assert_eq!(s.job_id, None, "{s:#?}");

    env.start_operator().await;
    let o = wait_phase(&env, "crash", HbrBackupJobPhase::Succeeded).await;
    assert_eq!(env.calls("CreateBackupJob"), 1, "exactly one job");
    assert_eq!(emulator_jobs(&env).len(), 1);
    assert_eq!(
        job_id(&o),
        emulator_jobs(&env)[0]["JobId"].as_str().unwrap()
    );
    let r = reasons(&events_for(&env, "crash").await);
    assert!(
        r.iter()
            .any(|x| x == "JobAdopted" || x == "BackupSucceeded"),
        "{r:?}"
    );
    env.stop_operator().await;
}

#[tokio::test]
async fn lost_create_answer_is_found_by_name_not_repeated() {
    let mut env = Env::start().await;
    env.emulator.inject_fault(
        Fault::error(Some("CreateBackupJob"), "InternalError", 500)
            .after_apply()
            .times(1),
    );
    env.start_operator().await;
    create(&env, &udm("lost")).await;
    wait_phase(&env, "lost", HbrBackupJobPhase::Succeeded).await;
    assert_eq!(env.calls("CreateBackupJob"), 1);
    assert_eq!(emulator_jobs(&env).len(), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn deleting_a_running_job_cancels_it() {
    let mut env = slow_env().await;
    env.start_operator().await;
    create(&env, &udm("run")).await;
    let o = wait_for(&env.api::<HbrBackupJob>(), "run", "running", |o| {
        phase(o) == Some(HbrBackupJobPhase::Running)
            && o.status.as_ref().and_then(|s| s.job_id.as_ref()).is_some()
    })
    .await;
    let id = job_id(&o);
    let api = env.api::<HbrBackupJob>();
    api.delete("run", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "run").await;
    assert_eq!(env.calls("CancelBackupJob"), 1);
    assert_eq!(emulator_job(&env, &id)["Status"], "CANCELED");
    assert_eq!(env.calls("DeleteSnapshot"), 0, "Retain: nothing deleted");
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_policy_removes_the_snapshot() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut obj = udm("del");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let o = wait_for(
        &env.api::<HbrBackupJob>(),
        "del",
        "snapshot recorded",
        |o| {
            phase(o) == Some(HbrBackupJobPhase::Succeeded)
                && o.status
                    .as_ref()
                    .is_some_and(|s| !s.snapshot_ids.is_empty())
        },
    )
    .await;
    let snaps = o.status.unwrap().snapshot_ids;
    assert_eq!(emulator_snapshots(&env), snaps);
    let api = env.api::<HbrBackupJob>();
    api.delete("del", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "del").await;
    assert_eq!(env.calls("DeleteSnapshot"), 1);
    assert!(emulator_snapshots(&env).is_empty());
    assert_eq!(env.calls("CancelBackupJob"), 0);

    // Retain keeps it.
    create(&env, &udm("keep")).await;
    wait_for(
        &env.api::<HbrBackupJob>(),
        "keep",
        "snapshot recorded",
        |o| {
            o.status
                .as_ref()
                .is_some_and(|s| !s.snapshot_ids.is_empty())
        },
    )
    .await;
    api.delete("keep", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "keep").await;
    assert_eq!(env.calls("DeleteSnapshot"), 1);
    assert_eq!(emulator_snapshots(&env).len(), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_policy_cancels_then_deletes_and_orphan_lets_go() {
    let mut env = slow_env().await;
    env.start_operator().await;
    // Delete policy on a running UDM job: cancelled (no snapshot is produced).
    let mut obj = udm("cancel-del");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let o = wait_for(&env.api::<HbrBackupJob>(), "cancel-del", "running", |o| {
        o.status.as_ref().and_then(|s| s.job_id.as_ref()).is_some()
    })
    .await;
    let id = job_id(&o);
    let api = env.api::<HbrBackupJob>();
    api.delete("cancel-del", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "cancel-del").await;
    assert_eq!(emulator_job(&env, &id)["Status"], "CANCELED");
    assert_eq!(env.calls("DeleteSnapshot"), 0);

    // The orphan annotation lets go even with broken credentials, and leaves the job running.
    create(&env, &udm("orphan")).await;
    let o = wait_for(&env.api::<HbrBackupJob>(), "orphan", "running", |o| {
        o.status.as_ref().and_then(|s| s.job_id.as_ref()).is_some()
    })
    .await;
    let id = job_id(&o);
    env.put_secret(CREDS, &[("accessKeyId", "nope")]).await;
    api.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { "backup.aliyun.dev/orphan-on-delete": "true" } }
        })),
    )
    .await
    .unwrap();
    let cancels = env.calls("CancelBackupJob");
    api.delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "orphan").await;
    assert_eq!(env.calls("CancelBackupJob"), cancels);
    assert_ne!(emulator_job(&env, &id)["Status"], "CANCELED");
    env.stop_operator().await;
}
