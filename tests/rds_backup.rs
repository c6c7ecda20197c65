//! `RdsBackup` end to end: the real operator against kube-sandbox and aliyun-emulator
//! (issue 5, "Done when").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::crd::{RdsBackup, RdsBackupPhase, RdsBackupSetDetails};
use aliyun_emulator::{Fault, Release};
use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_sandbox::FailureMatcher;
use serde_json::{Value, json};

fn backup(name: &str, instance: &str) -> RdsBackup {
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": instance,
        }
    }))
    .unwrap()
}

async fn create(env: &Env, obj: &RdsBackup) -> RdsBackup {
    env.api::<RdsBackup>()
        .create(&PostParams::default(), obj)
        .await
        .expect("create RdsBackup")
}

fn succeeded(o: &RdsBackup) -> bool {
    phase(o) == Some(RdsBackupPhase::Succeeded) && is_true(o, "Ready")
}

async fn wait_succeeded(env: &Env, name: &str) -> RdsBackup {
    wait_for(
        &env.api::<RdsBackup>(),
        name,
        "Succeeded + Ready",
        succeeded,
    )
    .await
}

/// The tasks of the emulator state.
fn rds_tasks(env: &Env) -> Vec<Value> {
    env.emulator.state()["rds"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Backup sets of the emulator state: `(BackupId, Deleted)`.
fn emulator_tasks(env: &Env) -> Vec<(String, bool)> {
    rds_tasks(env)
        .iter()
        .map(|t| {
            (
                text(&t["BackupId"]),
                t["Deleted"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_reaches_succeeded_with_exactly_one_create() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &backup("b1", "rm-demo01")).await;

    let o = wait_succeeded(&env, "b1").await;
    let s = o.status.clone().unwrap();
    assert!(s.backup_job_id.is_some(), "{s:#?}");
    assert!(s.backup_id.is_some(), "{s:#?}");
    assert_eq!(s.pending_create, None);
    assert_eq!(s.progress, Some(100));
    assert_eq!(s.observed_generation, o.metadata.generation);
    assert!(s.completion_time.is_some());
    // backupSetDetails Skip (the default): the task's answer is the proof; the set is not read.
    assert_eq!(s.backup_set, None, "{s:#?}");
    assert_eq!(env.calls("CreateBackup"), 1);
    assert_eq!(env.calls("DescribeBackups"), 0);
    // The set the task named exists in the cloud.
    assert!(
        emulator_tasks(&env).contains(&(s.backup_id.clone().unwrap(), false)),
        "{:?}",
        emulator_tasks(&env)
    );
    let ready = condition(&o, "Ready").unwrap();
    assert_eq!(ready.reason, "BackupSucceeded");
    assert_eq!(ready.observed_generation, o.metadata.generation);
    assert!(!is_true(&o, "Reconciling"));
}

#[tokio::test]
async fn record_reads_the_set_and_records_its_details() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut b = backup("b1", "rm-demo01");
    b.spec.backup_set_details = RdsBackupSetDetails::Record;
    create(&env, &b).await;

    let o = wait_succeeded(&env, "b1").await;
    let s = o.status.clone().unwrap();
    let set = s.backup_set.clone().expect("backup set details");
    assert_eq!(set.backup_id, s.backup_id);
    assert_eq!(set.store_status.as_deref(), Some("Enabled"));
    assert!(s.size_bytes.unwrap_or(0) > 0);
    assert!(set.consistent_time.is_some());
    assert!(s.completion_time.is_some());
    assert!(env.calls("DescribeBackups") >= 1);
    assert_eq!(condition(&o, "Ready").unwrap().reason, "BackupSucceeded");
}

#[tokio::test]
async fn crash_between_create_and_status_write_adopts_after_restart() {
    // Long jobs: the task is still running when the restarted operator looks for it.
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(60))).await;
    env.emulator
        .inject_fault(Fault::hold(Some("CreateBackup"), "create").times(1));
    // The first operator never retries on its own before it is killed.
    let mut cfg = env.operator_config();
    cfg.timing.error_base = Duration::from_secs(600);
    cfg.timing.error_max = Duration::from_secs(600);
    env.start_operator_with(cfg).await;
    create(&env, &backup("crash", "rm-demo01")).await;

    // CreateBackup is in flight (held): make the status write that follows it fail.
    tokio::time::timeout(Duration::from_secs(60), env.emulator.wait_held("create"))
        .await
        .unwrap();
    let api = env.api::<RdsBackup>();
    let o = api.get("crash").await.unwrap();
    assert!(status(&o).pending_create.is_some(), "intent first: {o:#?}");
    env.sandbox.fail_next(
        FailureMatcher::new("patch", "rdsbackups").subresource("status"),
        1,
        500,
    );
    env.emulator.release("create", Release::Proceed);
    wait_until("the post-create status write to fail", || {
        env.sandbox.pending_failures() == 0
    })
    .await;
    assert_eq!(env.calls("CreateBackup"), 1);
    let o = api.get("crash").await.unwrap();
    let s = o.status.clone().unwrap();
    assert!(s.pending_create.is_some(), "{s:#?}");
    assert_eq!(
        s.backup_job_id, None,
        "the job id must not have been recorded: {s:#?}"
    );
    env.kill_operator().await;

    env.start_operator().await;
    let o = wait_for(&api, "crash", "the running task adopted", |o| {
        status(o).backup_job_id.is_some()
    })
    .await;
    assert!(status(&o).pending_create.is_none());
    env.emulator.advance_time(Duration::from_secs(60));
    let o = wait_succeeded(&env, "crash").await;
    assert_eq!(env.calls("CreateBackup"), 1, "exactly one backup");
    assert_eq!(emulator_tasks(&env).len(), 1);
    let s = o.status.unwrap();
    assert_eq!(
        (
            s.backup_job_id.clone(),
            s.backup_id.clone().unwrap_or_default()
        ),
        cloud_tasks(&env)
            .first()
            .map(|(j, b)| (Some(j.clone()), b.clone()))
            .unwrap()
    );
    let r = reasons(&events_for(&env, "crash").await);
    assert!(r.iter().any(|x| x == "BackupAdopted"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn lost_create_response_is_adopted_not_repeated() {
    let mut env = Env::start().await;
    // CreateBackup runs, but the answer is a 500: the outcome is unknown to the operator.
    env.emulator.inject_fault(
        Fault::error(Some("CreateBackup"), "InternalError", 500)
            .for_product("RDS")
            .after_apply()
            .times(1),
    );
    env.start_operator().await;
    create(&env, &backup("lost", "rm-demo01")).await;
    let o = wait_succeeded(&env, "lost").await;
    assert_eq!(env.calls("CreateBackup"), 1);
    assert_eq!(emulator_tasks(&env).len(), 1);
    assert!(o.status.unwrap().backup_job_id.is_some());
    env.stop_operator().await;
}

#[tokio::test]
async fn restart_while_running_resumes_tracking() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &backup("resume", "rm-demo01")).await;
    let api = env.api::<RdsBackup>();
    wait_for(&api, "resume", "Running", |o| {
        phase(o) == Some(RdsBackupPhase::Running)
    })
    .await;
    env.kill_operator().await;
    env.start_operator().await;
    wait_succeeded(&env, "resume").await;
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn two_backups_on_one_instance_second_waits_then_completes() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &backup("first", "rm-demo01")).await;
    let api = env.api::<RdsBackup>();
    wait_for(&api, "first", "Running", |o| {
        phase(o) == Some(RdsBackupPhase::Running)
    })
    .await;
    create(&env, &backup("second", "rm-demo01")).await;
    let a = wait_succeeded(&env, "first").await;
    let b = wait_succeeded(&env, "second").await;
    let (sa, sb) = (a.status.unwrap(), b.status.unwrap());
    assert_ne!(sa.backup_job_id, sb.backup_job_id);
    assert_ne!(sa.backup_id, sb.backup_id);
    // The second one was refused at least once while the first ran, then created once.
    assert!(
        env.emulator
            .calls()
            .count_code("CreateBackup", "BackupJobExists")
            >= 1
    );
    assert_eq!(env.emulator.calls().count_code("CreateBackup", "OK"), 2);
    assert_eq!(emulator_tasks(&env).len(), 2);
    let r = reasons(&events_for(&env, "second").await);
    assert!(r.iter().any(|x| x == "WaitingForRunningBackup"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn invalid_instance_fails_with_the_cloud_code() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &backup("nope", "rm-doesnotexist")).await;
    let o = wait_for(&env.api::<RdsBackup>(), "nope", "Failed", |o| {
        is_true(o, "Stalled")
            && o.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Failed)
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "CreateRefused");
    assert!(c.message.contains("InvalidDBInstanceId.NotFound"), "{c:#?}");
    assert!(!is_true(&o, "Ready"));
    assert!(!is_true(&o, "Reconciling"));
    let s = o.status.unwrap();
    assert!(s.last_request_id.is_some());
    assert!(s.completion_time.is_some());
    assert_eq!(s.pending_create, None, "a refused create leaves no intent");
    assert_eq!(env.calls("CreateBackup"), 1);
    // Terminal: the operator does not try again.
    env.stop_operator().await;
    env.start_operator().await;
    wait_until("the restarted operator to reconcile", || {
        env.operator().metrics.reconcile_count("RdsBackup") > 0
    })
    .await;
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn throttling_and_server_errors_complete_with_backoff() {
    let mut env = Env::start().await;
    env.emulator.inject_fault(
        Fault::error(None, "Throttling.User", 400)
            .for_product("RDS")
            .times(6),
    );
    env.emulator.inject_fault(
        Fault::error(Some("DescribeBackupTasks"), "ServiceUnavailable", 503).times(6),
    );
    env.emulator
        .inject_fault(Fault::error(Some("DescribeBackups"), "InternalError", 500).times(4));
    env.start_operator().await;
    // Record: the set is read too, so the DescribeBackups faults are met.
    let mut b = backup("bumpy", "rm-demo01");
    b.spec.backup_set_details = RdsBackupSetDetails::Record;
    create(&env, &b).await;
    wait_succeeded(&env, "bumpy").await;
    let calls = env.emulator.calls();
    // Every injected fault was hit and retried past; exactly one backup was created.
    assert_eq!(calls.count_code("CreateBackup", "OK"), 1);
    let failed = calls.log.iter().filter(|c| c.code != "OK").count();
    assert_eq!(failed, 16, "{:#?}", calls.counts());
    // No hot loop: a 2 s backup needs a few dozen calls, not hundreds.
    assert!(calls.log.len() < 80, "{:#?}", calls.counts());
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_with_retain_keeps_the_backup_set() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &backup("keep", "rm-demo01")).await;
    wait_succeeded(&env, "keep").await;
    let api = env.api::<RdsBackup>();
    api.delete("keep", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "keep").await;
    assert_eq!(env.calls("DeleteBackup"), 0);
    let tasks = emulator_tasks(&env);
    assert_eq!(tasks.len(), 1);
    assert!(!tasks[0].1, "backup set must remain");
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_with_delete_policy_removes_the_backup_set() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut b = backup("drop", "rm-demo01");
    b.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &b).await;
    let api = env.api::<RdsBackup>();
    // Delete while the task still runs: cleanup waits for it to end, then deletes the set.
    wait_for(&api, "drop", "Running", |o| {
        phase(o) == Some(RdsBackupPhase::Running)
    })
    .await;
    api.delete("drop", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "drop").await;
    assert_eq!(env.emulator.calls().count_code("DeleteBackup", "OK"), 1);
    let tasks = emulator_tasks(&env);
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].1, "backup set must be deleted: {tasks:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn orphan_annotation_lets_go_even_with_broken_credentials() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut b = backup("orphan", "rm-demo01");
    b.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    b.spec.credentials_ref = Some(aliyun_backup_operator::crd::CredentialsRef {
        name: "missing-secret".into(),
    });
    create(&env, &b).await;
    let api = env.api::<RdsBackup>();
    let o = wait_for(&api, "orphan", "Stalled on credentials", |o| {
        is_true(o, "Stalled")
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "CredentialsSecretNotFound");
    assert!(c.message.contains("missing-secret"), "{c:#?}");
    api.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { "backup.aliyun.dev/orphan-on-delete": "true" } }
        })),
    )
    .await
    .unwrap();
    api.delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "orphan").await;
    assert_eq!(env.emulator.calls().log.len(), 0, "no cloud call at all");
    env.stop_operator().await;
}

#[tokio::test]
async fn broken_credentials_on_delete_policy_stall_until_orphaned() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let mut b = backup("stuck", "rm-demo01");
    b.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &b).await;
    wait_succeeded(&env, "stuck").await;
    // Break the credentials: the Secret loses its secret key.
    env.put_secret(CREDS, &[("accessKeyId", KEY_ID)]).await;
    let api = env.api::<RdsBackup>();
    api.delete("stuck", &DeleteParams::default()).await.unwrap();
    let o = wait_for(&api, "stuck", "Stalled deletion", |o| is_true(o, "Stalled")).await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "CredentialsSecretInvalid");
    assert!(c.message.contains("accessKeySecret"), "{c:#?}");
    assert!(c.message.contains("orphan-on-delete"), "{c:#?}");
    api.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { "backup.aliyun.dev/orphan-on-delete": "true" } }
        })),
    )
    .await
    .unwrap();
    wait_gone(&api, "stuck").await;
    assert_eq!(env.calls("DeleteBackup"), 0);
    env.stop_operator().await;
}

#[tokio::test]
async fn rotated_secret_takes_effect_without_restart() {
    let mut env = Env::start().await;
    env.start_operator().await;
    env.put_secret(
        CREDS,
        &[("accessKeyId", KEY_ID), ("accessKeySecret", "wrong")],
    )
    .await;
    create(&env, &backup("rotate", "rm-demo01")).await;
    let api = env.api::<RdsBackup>();
    let o = wait_for(&api, "rotate", "Stalled on the signature", |o| {
        is_true(o, "Stalled")
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert!(c.message.contains("SignatureDoesNotMatch"), "{c:#?}");
    env.put_secret(
        CREDS,
        &[("accessKeyId", KEY_ID), ("accessKeySecret", KEY_SECRET)],
    )
    .await;
    wait_succeeded(&env, "rotate").await;
    assert_eq!(env.emulator.calls().count_code("CreateBackup", "OK"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn canary_secret_never_appears_in_logs_events_or_status() {
    const CANARY: &str = "CANARY-7f3e9b1c-secret-value";
    let mut env = Env::start_with(emulator_config().with_credential("canaryid", CANARY)).await;
    env.put_secret(
        "canary-creds",
        &[("accessKeyId", "canaryid"), ("accessKeySecret", CANARY)],
    )
    .await;
    env.start_operator().await;
    let mut ok = backup("canary", "rm-demo01");
    ok.spec.credentials_ref = Some(aliyun_backup_operator::crd::CredentialsRef {
        name: "canary-creds".into(),
    });
    create(&env, &ok).await;
    // A failing object too, so error paths are exercised with the canary in play.
    let mut bad = backup("canary-bad", "rm-missing");
    bad.spec.credentials_ref = ok.spec.credentials_ref.clone();
    create(&env, &bad).await;
    wait_succeeded(&env, "canary").await;
    let api = env.api::<RdsBackup>();
    wait_for(&api, "canary-bad", "Stalled", |o| is_true(o, "Stalled")).await;
    env.stop_operator().await;

    let logs = captured_logs();
    assert!(!logs.is_empty(), "log capture must work");
    assert!(!logs.contains(CANARY), "canary leaked into logs");
    let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
    let all = serde_json::to_string(&events.list(&ListParams::default()).await.unwrap()).unwrap();
    assert!(all.contains("canary"), "events were published");
    assert!(!all.contains(CANARY), "canary leaked into events");
    let objs = serde_json::to_string(&api.list(&ListParams::default()).await.unwrap()).unwrap();
    assert!(!objs.contains(CANARY), "canary leaked into status");
}

#[tokio::test]
async fn example_manifest_works_against_the_sandbox() {
    let mut env = Env::start().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let secret: k8s_openapi::api::core::v1::Secret = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/credentials-secret.yaml")).unwrap(),
    )
    .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = env.api();
    secrets
        .delete(CREDS, &DeleteParams::default())
        .await
        .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let example: RdsBackup = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/rds-backup.yaml")).unwrap(),
    )
    .unwrap();
    let name = example.name_any();
    env.start_operator().await;
    create(&env, &example).await;
    let o = wait_succeeded(&env, &name).await;
    assert!(o.status.unwrap().backup_id.is_some());
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn failed_task_ends_failed_and_stalled_then_deletes_cleanly() {
    let mut env = Env::start().await;
    env.emulator.fail_rds_task(Some("rm-demo01"));
    env.start_operator().await;
    let mut b = backup("broken", "rm-demo01");
    b.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &b).await;
    let api = env.api::<RdsBackup>();
    let o = wait_for(&api, "broken", "Failed", |o| {
        phase(o) == Some(RdsBackupPhase::Failed)
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.status, "True");
    assert_eq!(c.reason, "BackupFailed");
    assert!(!is_true(&o, "Ready"));
    assert_eq!(o.status.unwrap().cloud_status.as_deref(), Some("Failed"));
    let r = reasons(&events_for(&env, "broken").await);
    assert!(r.iter().any(|x| x == "BackupFailed"), "{r:?}");
    // A failed task leaves no deletable backup set: deletion needs no DeleteBackup.
    api.delete("broken", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "broken").await;
    assert_eq!(env.calls("DeleteBackup"), 0);
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

/// `(BackupJobId, BackupId)` of every task in the emulator.
fn cloud_tasks(env: &Env) -> Vec<(String, String)> {
    rds_tasks(env)
        .iter()
        .map(|t| (text(&t["BackupJobId"]), text(&t["BackupId"])))
        .collect()
}

fn status(o: &RdsBackup) -> aliyun_backup_operator::crd::RdsBackupStatus {
    o.status.clone().unwrap_or_default()
}

async fn annotate(env: &Env, name: &str, key: &str, value: &str) {
    env.api::<RdsBackup>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { key: value } } })),
        )
        .await
        .unwrap();
}

/// The case the crash-torture run found: A recorded its task but not yet its backup set (the
/// task ended while nobody looked), B's create answer was lost and B's task ended before B
/// looked for it. B must never take A's set, and — since only a task id proves ownership —
/// must not take any set on a guess: it stalls with `CreateOutcomeUnknown` until a human names
/// the set, and the operator refuses a set another object holds.
#[tokio::test]
async fn a_set_of_another_objects_task_is_never_adopted() {
    let (env, _job_a, set_a, set_b) = lost_answer_next_to_an_unresolved_peer(false).await;
    let api = env.api::<RdsBackup>();
    let b = wait_for(&api, "b", "CreateOutcomeUnknown", |o| {
        condition(o, "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "CreateOutcomeUnknown")
    })
    .await;
    let msg = condition(&b, "Stalled").unwrap().message.clone();
    assert!(msg.contains(&set_b), "{msg}");
    assert!(!msg.contains(&set_a), "A's set is not a candidate: {msg}");
    assert!(msg.contains("backup.aliyun.dev/adopt-backup-id"), "{msg}");
    let s = status(&b);
    assert_eq!(phase(&b), Some(RdsBackupPhase::Creating));
    assert!(s.pending_create.is_some(), "the intent stays: {s:#?}");
    assert_eq!((s.backup_job_id, s.backup_id), (None, None));
    assert_eq!(
        env.calls("CreateBackup"),
        2,
        "no second create while unknown"
    );

    // A human names A's set: refused. Then B's own set: adopted.
    annotate(&env, "b", "backup.aliyun.dev/adopt-backup-id", &set_a).await;
    let b = wait_for(&api, "b", "AdoptionRefused", |o| {
        condition(o, "Stalled").is_some_and(|c| c.reason == "AdoptionRefused")
    })
    .await;
    assert_eq!(status(&b).backup_id, None);
    annotate(&env, "b", "backup.aliyun.dev/adopt-backup-id", &set_b).await;
    let b = wait_succeeded(&env, "b").await;
    assert_eq!(status(&b).backup_id.as_deref(), Some(set_b.as_str()));
    assert_eq!(condition(&b, "Ready").unwrap().reason, "BackupAdopted");
    assert_eq!(env.calls("CreateBackup"), 2);
    let mut env = env;
    env.stop_operator().await;
}

/// The scenario of [`a_set_of_another_objects_task_is_never_adopted`]: A's task ended unseen
/// (A holds the task, not yet its set), B's create answer was lost and B's task ended before B
/// looked. With `auto` the operator may resolve B's lost answer from the evidence.
/// `(env, A's job, A's set, B's set)`.
async fn lost_answer_next_to_an_unresolved_peer(auto: bool) -> (Env, String, String, String) {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(30))).await;
    let mut cfg = env.operator_config();
    cfg.auto_resolve_lost_creates = auto;
    env.start_operator_with(cfg).await;
    let api = env.api::<RdsBackup>();
    let within = Duration::from_secs(60);

    // A runs; then its tracking is held and its task ends unseen.
    create(&env, &backup("a", "rm-demo01")).await;
    let a = wait_for(&api, "a", "a job id", |o| status(o).backup_job_id.is_some()).await;
    let job_a = status(&a).backup_job_id.unwrap();
    env.emulator.inject_fault(
        Fault::hold(Some("DescribeBackupTasks"), "a-task").with_param("BackupJobId", &job_a),
    );
    tokio::time::timeout(within, env.emulator.wait_held("a-task"))
        .await
        .unwrap();
    env.emulator.advance_time(Duration::from_secs(30));

    // B's create runs but its answer is lost; its adoption lookup is held until its task ended.
    env.emulator
        .inject_fault(Fault::hold(Some("CreateBackup"), "b-create").times(1));
    env.emulator.inject_fault(
        Fault::hold(Some("DescribeBackupTasks"), "b-adopt")
            .with_param("BackupMode", "Manual")
            .times(1),
    );
    create(&env, &backup("b", "rm-demo01")).await;
    tokio::time::timeout(within, env.emulator.wait_held("b-create"))
        .await
        .unwrap();
    env.emulator.release(
        "b-create",
        Release::LoseAnswer {
            code: "InternalError".into(),
            http_status: 500,
        },
    );
    tokio::time::timeout(within, env.emulator.wait_held("b-adopt"))
        .await
        .unwrap();
    env.emulator.advance_time(Duration::from_secs(30));
    env.emulator.release("b-adopt", Release::Proceed);
    // B now resolves A's task to its set (that call is held with A's); let both go.
    wait_until("B to ask for A's task", || {
        env.emulator
            .held_calls()
            .iter()
            .filter(|c| c.hold == "a-task")
            .count()
            == 2
    })
    .await;
    env.emulator.release("a-task", Release::Proceed);

    let a = wait_succeeded(&env, "a").await;
    let set_a = status(&a).backup_id.unwrap();
    let tasks = cloud_tasks(&env);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.contains(&(job_a.clone(), set_a.clone())), "{tasks:?}");
    let set_b = tasks
        .iter()
        .find(|(j, _)| *j != job_a)
        .map(|(_, b)| b.clone())
        .unwrap();

    (env, job_a, set_a, set_b)
}

/// Issue #26: the same lost answer, resolved without a person. B takes its own set — the only
/// unclaimed one in its create's window once A's task is resolved to A's set — never A's,
/// and no second backup is made.
#[tokio::test]
async fn a_lost_answer_next_to_an_unresolved_peer_is_resolved_without_a_person() {
    let (mut env, _job_a, set_a, set_b) = lost_answer_next_to_an_unresolved_peer(true).await;
    let b = wait_succeeded(&env, "b").await;
    let s = status(&b);
    assert_eq!(s.backup_id.as_deref(), Some(set_b.as_str()));
    assert_ne!(s.backup_id.as_deref(), Some(set_a.as_str()));
    assert_eq!(s.pending_create, None);
    assert_eq!(
        condition(&b, "Ready").unwrap().reason,
        "CreateOutcomeResolved"
    );
    assert_eq!(env.calls("CreateBackup"), 2, "one backup per object");
    env.stop_operator().await;
}

/// Creates `RdsBackup` `name` on rm-demo01 whose `CreateBackup` runs but whose answer is lost
/// (a 500 after the backup started).
async fn create_losing_the_answer(env: &Env, name: &str) {
    let hold = format!("{name}-create");
    env.emulator
        .inject_fault(Fault::hold(Some("CreateBackup"), &hold).times(1));
    create(env, &backup(name, "rm-demo01")).await;
    tokio::time::timeout(Duration::from_secs(60), env.emulator.wait_held(&hold))
        .await
        .unwrap();
    env.emulator.release(
        &hold,
        Release::LoseAnswer {
            code: "InternalError".into(),
            http_status: 500,
        },
    );
}

/// Issue #26, as users met it: the answer of a quick backup's `CreateBackup` is lost (the
/// backup runs and ends before anyone looks), and more backups of the same instance follow.
/// Nobody is paged: the first object takes its own set, and the next ones are not held up.
#[tokio::test]
async fn a_lost_answer_of_a_quick_backup_never_holds_up_the_instance() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(0))).await;
    env.start_operator().await;
    create_losing_the_answer(&env, "first").await;
    create(&env, &backup("second", "rm-demo01")).await;
    create(&env, &backup("third", "rm-demo01")).await;
    let mut sets = Vec::new();
    for name in ["first", "second", "third"] {
        let o = wait_succeeded(&env, name).await;
        sets.push(status(&o).backup_id.unwrap());
    }
    let first = wait_succeeded(&env, "first").await;
    assert_eq!(
        condition(&first, "Ready").unwrap().reason,
        "CreateOutcomeResolved"
    );
    sets.sort();
    sets.dedup();
    assert_eq!(sets.len(), 3, "one set per object: {sets:?}");
    assert_eq!(env.calls("CreateBackup"), 3, "one backup per object");
    assert_eq!(cloud_tasks(&env).len(), 3);
    env.stop_operator().await;
}

/// Issue #26 with automatic resolution turned off by the namespace: the object whose answer
/// was lost waits for a person at `CreateOutcomeUnknown`, naming its set — and the instance's
/// next backups are not held up behind it.
#[tokio::test]
async fn a_namespace_can_turn_automatic_resolution_off_without_holding_up_the_instance() {
    use k8s_openapi::api::core::v1::Namespace;
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(0))).await;
    kube::Api::<Namespace>::all(env.client.clone())
        .patch(
            NS,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "backup.aliyun.dev/auto-resolve-lost-creates": "false" } } })),
        )
        .await
        .unwrap();
    env.start_operator().await;
    create_losing_the_answer(&env, "first").await;
    let api = env.api::<RdsBackup>();
    let first = wait_for(&api, "first", "CreateOutcomeUnknown", |o| {
        condition(o, "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "CreateOutcomeUnknown")
    })
    .await;
    let set = cloud_tasks(&env)[0].1.clone();
    assert!(
        condition(&first, "Stalled").unwrap().message.contains(&set),
        "the message names the candidate"
    );
    create(&env, &backup("second", "rm-demo01")).await;
    let second = wait_succeeded(&env, "second").await;
    assert_ne!(status(&second).backup_id.as_deref(), Some(set.as_str()));
    assert_eq!(env.calls("CreateBackup"), 2);
    let first = api.get("first").await.unwrap();
    assert_eq!(status(&first).backup_id, None, "never taken on a guess");
    env.stop_operator().await;
}
