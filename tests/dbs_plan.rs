//! `DbsBackupPlan` end to end: the real operator against kube-sandbox and aliyun-emulator
//! (issue 6, "Done when").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::cloud::{
    AlibabaCloud, CloudProvider, CredentialSource, StaticCredentials, Target,
};
use aliyun_backup_operator::controller::kinds::dbs::plan as dbs_plan;
use aliyun_backup_operator::crd::{DbsBackupPlan, DbsBackupPlanPhase};
use aliyun_emulator::{Fault, Release};
use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_sandbox::FailureMatcher;
use serde_json::{Value, json};

const CANARY: &str = "CANARY-dbs-password-9f3b";

fn plan(name: &str, instance: &str) -> DbsBackupPlan {
    serde_json::from_value(manifest("DbsBackupPlan", name, dbs_spec(name, instance))).unwrap()
}

async fn start_env() -> Env {
    let env = Env::start().await;
    env.put_secret(PASSWORD_SECRET, &[("password", CANARY)])
        .await;
    env
}

async fn create(env: &Env, obj: &DbsBackupPlan) -> DbsBackupPlan {
    env.api::<DbsBackupPlan>()
        .create(&PostParams::default(), obj)
        .await
        .expect("create DbsBackupPlan")
}

async fn patch_spec(env: &Env, name: &str, spec: Value) {
    env.api::<DbsBackupPlan>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .expect("patch spec");
}

fn current(o: &DbsBackupPlan) -> bool {
    o.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == o.metadata.generation)
}

fn in_phase_ready(o: &DbsBackupPlan, p: DbsBackupPlanPhase) -> bool {
    phase(o) == Some(p) && is_true(o, "Ready") && current(o)
}

async fn wait_phase(env: &Env, name: &str, p: DbsBackupPlanPhase) -> DbsBackupPlan {
    wait_for(
        &env.api::<DbsBackupPlan>(),
        name,
        &format!("{p} + Ready"),
        |o| in_phase_ready(o, p),
    )
    .await
}

/// Plans of the emulator state (not released).
fn emulator_plans(env: &Env) -> Vec<Value> {
    env.emulator.state()["dbs"]["plans"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p["Released"].as_bool().unwrap_or(false))
        .collect()
}

fn emulator_plan(env: &Env, id: &str) -> Value {
    env.emulator.state()["dbs"]["plans"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|p| p["BackupPlanId"] == id)
        .unwrap_or(Value::Null)
}

fn plan_id(o: &DbsBackupPlan) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.backup_plan_id.clone())
        .expect("backupPlanId")
}

#[tokio::test]
async fn example_reaches_running_with_exactly_one_create() {
    let mut env = Env::start().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let secret: Secret = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/dbs-password-secret.yaml")).unwrap(),
    )
    .unwrap();
    let secrets: Api<Secret> = env.api();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let example: DbsBackupPlan = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/examples/dbs-backup-plan.yaml")).unwrap(),
    )
    .unwrap();
    let name = example.name_any();
    env.start_operator().await;
    create(&env, &example).await;

    let o = wait_phase(&env, &name, DbsBackupPlanPhase::Running).await;
    let s = o.status.clone().unwrap();
    let id = plan_id(&o);
    assert!(s.order_id.is_some(), "{s:#?}");
    assert_eq!(s.pending_create, None);
    assert_eq!(s.cloud_status.as_deref(), Some("running"));
    assert!(s.create_time.is_some());
    assert_eq!(condition(&o, "Ready").unwrap().reason, "PlanRunning");
    assert!(!is_true(&o, "Stalled"));
    assert!(!is_true(&o, "Reconciling"));
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    assert_eq!(emulator_plans(&env).len(), 1);
    let cloud = emulator_plan(&env, &id);
    assert_eq!(cloud["BackupPlanName"], "orders-mysql");
    assert_eq!(cloud["BackupPeriod"], "Monday,Thursday");
    assert_eq!(cloud["BackupRetentionPeriod"], 30);
    assert_eq!(cloud["BackupObjects"], r#"[{"DBName":"orders"}]"#);
    // The create carried the ClientToken derived from the object's UID.
    let create_call = env
        .emulator
        .calls()
        .of("CreateAndStartBackupPlan")
        .next()
        .cloned()
        .unwrap();
    let token = create_call.params.get("ClientToken").cloned().unwrap();
    assert!(
        token.contains(o.metadata.uid.as_deref().unwrap()),
        "{token}"
    );

    // The latest full backup set shows up (the emulator's first set finishes after 2 s).
    let o = wait_for(
        &env.api::<DbsBackupPlan>(),
        &name,
        "latest full backup set finished",
        |o| {
            o.status
                .as_ref()
                .and_then(|s| s.latest_full_backup_set.as_ref())
                .is_some_and(|b| b.status.as_deref() == Some("finish"))
        },
    )
    .await;
    let status = o.status.unwrap();
    let set = status.latest_full_backup_set.unwrap();
    assert!(set.id.is_some());
    assert!(set.start_time.is_some());
    // The finished set is the plan's last successful backup.
    assert!(set.end_time.is_some());
    assert_eq!(status.last_successful_backup_time, set.end_time);
    let r = reasons(&events_for(&env, &name).await);
    for want in ["PlanCreated", "PlanRunning"] {
        assert!(r.iter().any(|x| x == want), "missing event {want}: {r:?}");
    }
    env.stop_operator().await;
}

#[tokio::test]
async fn crash_between_create_and_status_write_adopts_after_restart() {
    let mut env = start_env().await;
    env.emulator.inject_fault(
        Fault::hold(Some("CreateAndStartBackupPlan"), "create")
            .for_product("DBS")
            .times(1),
    );
    let mut cfg = env.operator_config();
    cfg.timing.error_base = Duration::from_secs(600);
    cfg.timing.error_max = Duration::from_secs(600);
    env.start_operator_with(cfg).await;
    create(&env, &plan("crash", "rm-demo01")).await;

    let api = env.api::<DbsBackupPlan>();
    env.wait_held("create").await;
    let intent = api.get("crash").await.unwrap().status.unwrap_or_default();
    assert!(intent.pending_create.is_some(), "intent first: {intent:#?}");
    // The create is in flight (held): make the first write that follows it (the
    // applied-config annotation, before the status write) fail, so nothing of the create's
    // outcome is recorded — as if the operator died right after the call.
    env.sandbox.fail_next(
        FailureMatcher::new("patch", "dbsbackupplans").name("crash"),
        1,
        500,
    );
    env.emulator.release("create", Release::Proceed);
    wait_until("the post-create write to fail", || {
        env.sandbox.pending_failures() == 0
    })
    .await;
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    let s = api.get("crash").await.unwrap().status.unwrap();
    assert!(s.pending_create.is_some(), "{s:#?}");
    assert_eq!(s.backup_plan_id, None, "{s:#?}");
    env.kill_operator().await;

    env.start_operator().await;
    wait_phase(&env, "crash", DbsBackupPlanPhase::Running).await;
    assert_eq!(
        env.calls("CreateAndStartBackupPlan"),
        1,
        "exactly one create"
    );
    assert_eq!(emulator_plans(&env).len(), 1);
    let r = reasons(&events_for(&env, "crash").await);
    assert!(r.iter().any(|x| x == "PlanAdopted"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn create_refused_for_good_fails_until_the_spec_changes() {
    let mut env = start_env().await;
    env.emulator.inject_fault(
        Fault::error(
            Some("CreateAndStartBackupPlan"),
            "InvalidParameterValid",
            400,
        )
        .for_product("DBS")
        .times(1),
    );
    env.start_operator().await;
    create(&env, &plan("refused", "rm-demo01")).await;
    let o = wait_for(&env.api::<DbsBackupPlan>(), "refused", "Failed", |o| {
        phase(o) == Some(DbsBackupPlanPhase::Failed) && is_true(o, "Stalled")
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.status, "True");
    assert_eq!(c.reason, "CreateRefused");
    assert!(c.message.contains("InvalidParameterValid"), "{c:#?}");
    assert!(c.message.contains("spec changes"), "{c:#?}");
    assert!(!is_true(&o, "Reconciling"));
    let s = o.status.clone().unwrap();
    assert_eq!(s.pending_create, None);
    assert_eq!(s.backup_plan_id, None);
    assert_eq!(s.observed_generation, o.metadata.generation);
    // Not sent again for the same spec, even by a restarted operator.
    env.stop_operator().await;
    env.start_operator().await;
    wait_until("the restarted operator to reconcile", || {
        env.operator().metrics.reconcile_count("DbsBackupPlan") > 0
    })
    .await;
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    // A changed spec is tried again, and works.
    patch_spec(
        &env,
        "refused",
        json!({ "storage": { "type": "system", "retentionDays": 60 } }),
    )
    .await;
    let o = wait_phase(&env, "refused", DbsBackupPlanPhase::Running).await;
    assert!(o.status.unwrap().backup_plan_id.is_some());
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 2);
    assert_eq!(emulator_plans(&env).len(), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn lost_create_answer_returns_the_same_plan() {
    let mut env = start_env().await;
    // The plan is created, but the answer is lost; the retry with the same ClientToken (or
    // the lookup by name) must not buy a second plan.
    env.emulator.inject_fault(
        Fault::error(Some("CreateAndStartBackupPlan"), "InternalError", 500)
            .after_apply()
            .times(1),
    );
    env.start_operator().await;
    create(&env, &plan("lost", "rm-demo01")).await;
    wait_phase(&env, "lost", DbsBackupPlanPhase::Running).await;
    assert_eq!(emulator_plans(&env).len(), 1);
    let calls = env.emulator.calls();
    let tokens: std::collections::BTreeSet<_> = calls
        .of("CreateAndStartBackupPlan")
        .filter_map(|c| c.params.get("ClientToken").cloned())
        .collect();
    assert_eq!(tokens.len(), 1, "one ClientToken for all attempts");
    env.stop_operator().await;
}

#[tokio::test]
async fn suspend_resume_name_and_retention_reach_the_cloud() {
    let mut env = start_env().await;
    env.start_operator().await;
    create(&env, &plan("life", "rm-demo01")).await;
    let o = wait_phase(&env, "life", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    assert_eq!(env.calls("ConfigureBackupPlan"), 0);

    // suspend: true → StopBackupPlan(ALL) → Paused.
    patch_spec(&env, "life", json!({ "suspend": true })).await;
    let o = wait_phase(&env, "life", DbsBackupPlanPhase::Paused).await;
    assert_eq!(condition(&o, "Ready").unwrap().reason, "PlanPaused");
    assert_eq!(emulator_plan(&env, &id)["BackupPlanStatus"], "pause");
    let stop = env.emulator.calls().of("StopBackupPlan").next().cloned();
    assert_eq!(stop.unwrap().params.get("StopMethod").unwrap(), "ALL");
    assert_eq!(
        env.calls("ConfigureBackupPlan"),
        0,
        "suspend is not a configure"
    );

    // suspend: false → StartBackupPlan → Running.
    patch_spec(&env, "life", json!({ "suspend": false })).await;
    wait_phase(&env, "life", DbsBackupPlanPhase::Running).await;
    assert!(env.calls("StartBackupPlan") >= 1);
    assert_eq!(emulator_plan(&env, &id)["BackupPlanStatus"], "running");

    // A name change → ModifyBackupPlanName.
    patch_spec(&env, "life", json!({ "planName": "renamed-plan" })).await;
    wait_until("the name to reach the cloud", || {
        emulator_plan(&env, &id)["BackupPlanName"] == "renamed-plan"
    })
    .await;
    let o = wait_phase(&env, "life", DbsBackupPlanPhase::Running).await;
    assert!(current(&o));
    assert_eq!(env.calls("ModifyBackupPlanName"), 1);
    assert_eq!(
        env.calls("ConfigureBackupPlan"),
        0,
        "a rename is not a configure"
    );

    // A retention change → ConfigureBackupPlan.
    patch_spec(&env, "life", json!({ "storage": { "retentionDays": 90 } })).await;
    wait_until("the retention to reach the cloud", || {
        emulator_plan(&env, &id)["BackupRetentionPeriod"] == 90
    })
    .await;
    let o = wait_phase(&env, "life", DbsBackupPlanPhase::Running).await;
    assert_eq!(
        o.status.as_ref().unwrap().observed_generation,
        o.metadata.generation
    );
    assert_eq!(env.calls("ConfigureBackupPlan"), 1);
    let configure = env
        .emulator
        .calls()
        .of("ConfigureBackupPlan")
        .next()
        .cloned()
        .unwrap();
    assert_eq!(
        configure.params.get("BackupPlanName").unwrap(),
        "renamed-plan"
    );
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn precheck_failure_is_stalled_with_the_cloud_message() {
    let mut env = start_env().await;
    env.emulator.fail_dbs_precheck(
        None,
        "Precheck failed: access denied for user 'backup'@'10.0.0.8'",
    );
    env.start_operator().await;
    create(&env, &plan("bad", "rm-demo01")).await;
    let o = wait_for(&env.api::<DbsBackupPlan>(), "bad", "Stalled", |o| {
        is_true(o, "Stalled")
    })
    .await;
    assert_eq!(phase(&o), Some(DbsBackupPlanPhase::Failed));
    let stalled = condition(&o, "Stalled").unwrap();
    assert_eq!(stalled.reason, "PlanStopped");
    assert!(
        stalled.message.contains("access denied for user 'backup'"),
        "{stalled:#?}"
    );
    let s = o.status.unwrap();
    assert_eq!(s.cloud_status.as_deref(), Some("stop"));
    assert!(s.cloud_message.unwrap().contains("access denied"));
    assert!(!is_true(
        &env.api::<DbsBackupPlan>().get("bad").await.unwrap(),
        "Ready"
    ));
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn drift_is_reported_and_corrected() {
    let mut env = start_env().await;
    let mut cfg = env.operator_config();
    // Resync the steady plan every second (production: hourly).
    cfg.timing.resync = Duration::from_secs(1);
    let cloud_cfg = cfg.cloud.clone();
    env.start_operator_with(cfg).await;
    let obj = plan("drift", "rm-demo01");
    create(&env, &obj).await;
    let o = wait_phase(&env, "drift", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    let configures = env.calls("ConfigureBackupPlan");

    // Someone changes the plan in the console.
    let cloud = AlibabaCloud::new(cloud_cfg).unwrap();
    let dbs = cloud.dbs(&Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.to_string().into(),
            security_token: None,
        }),
    });
    let mut drifted = dbs_plan::validate(&obj.spec).unwrap();
    drifted.config.retention_days = Some(7);
    let req = dbs_plan::configure_request(
        &drifted,
        &id,
        Some(aliyun_backup_operator::cloud::Secret::new("x")),
    );
    dbs.configure_backup_plan(&req).await.unwrap();
    assert_eq!(emulator_plan(&env, &id)["BackupRetentionPeriod"], 7);

    wait_until("the drift to be corrected", || {
        emulator_plan(&env, &id)["BackupRetentionPeriod"] == 30
    })
    .await;
    // One configure by the test, one correction by the operator.
    assert_eq!(env.calls("ConfigureBackupPlan"), configures + 2);
    // The correction's call comes before its events are published: wait for the event.
    eventually("a DriftDetected event", || async {
        let r = reasons(&events_for(&env, "drift").await);
        if r.iter().any(|x| x == "DriftDetected") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    let events = events_for(&env, "drift").await;
    let drift = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("DriftDetected"))
        .expect("DriftDetected event");
    assert_eq!(drift.type_.as_deref(), Some("Warning"));
    assert!(
        drift
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("storage.retentionDays"),
        "{drift:#?}"
    );
    let o = wait_phase(&env, "drift", DbsBackupPlanPhase::Running).await;
    assert!(o.status.unwrap().last_sync_time.is_some());

    // A rename in the console is drift too: reported and renamed back.
    dbs.modify_backup_plan_name(
        &aliyun_backup_operator::cloud::api::dbs::ModifyBackupPlanNameRequest {
            backup_plan_id: id.clone(),
            backup_plan_name: "console-name".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    wait_until("the name drift to be corrected", || {
        env.calls("ModifyBackupPlanName") == 2
            && emulator_plan(&env, &id)["BackupPlanName"] == "drift-plan"
    })
    .await;
    let events = events_for(&env, "drift").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftDetected")
                && e.note.as_deref().unwrap_or_default().contains("planName")),
        "{events:#?}"
    );
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_with_retain_keeps_the_plan() {
    let mut env = start_env().await;
    env.start_operator().await;
    create(&env, &plan("keep", "rm-demo01")).await;
    let o = wait_phase(&env, "keep", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    let api = env.api::<DbsBackupPlan>();
    api.delete("keep", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "keep").await;
    assert_eq!(env.calls("ReleaseBackupPlan"), 0);
    assert_eq!(emulator_plan(&env, &id)["Released"], false);
    env.stop_operator().await;
}

#[tokio::test]
async fn delete_with_delete_policy_releases_the_plan() {
    let mut env = start_env().await;
    env.start_operator().await;
    let mut obj = plan("gone", "rm-demo01");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let o = wait_phase(&env, "gone", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    let api = env.api::<DbsBackupPlan>();
    api.delete("gone", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "gone").await;
    assert_eq!(env.calls("ReleaseBackupPlan"), 1);
    assert_eq!(emulator_plan(&env, &id)["Released"], true);
    let r = reasons(&events_for(&env, "gone").await);
    assert!(r.iter().any(|x| x == "PlanReleased"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn released_outside_counts_as_gone_and_orphan_lets_go() {
    let mut env = start_env().await;
    env.start_operator().await;
    // Delete policy, but the plan is released outside the operator first: InvalidJobId = done.
    let mut obj = plan("outside", "rm-demo01");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let o = wait_phase(&env, "outside", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    let cloud = AlibabaCloud::new(env.operator_config().cloud).unwrap();
    let dbs = cloud.dbs(&Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.to_string().into(),
            security_token: None,
        }),
    });
    dbs.release_backup_plan(
        &aliyun_backup_operator::cloud::api::dbs::ReleaseBackupPlanRequest {
            backup_plan_id: id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let api = env.api::<DbsBackupPlan>();
    api.delete("outside", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "outside").await;

    // Orphan annotation with broken credentials: lets go without a cloud call.
    let mut obj = plan("orphan", "rm-demo01");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let o = wait_phase(&env, "orphan", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
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
    let releases = env.calls("ReleaseBackupPlan");
    api.delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "orphan").await;
    assert_eq!(env.calls("ReleaseBackupPlan"), releases);
    assert_eq!(emulator_plan(&env, &id)["Released"], false);
    env.stop_operator().await;
}

#[tokio::test]
async fn password_never_appears_in_status_events_or_logs() {
    let mut env = start_env().await;
    env.start_operator().await;
    create(&env, &plan("canary", "rm-demo01")).await;
    wait_phase(&env, "canary", DbsBackupPlanPhase::Running).await;
    // The password did reach the cloud (the emulator masks it in its call log).
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    let o = env.api::<DbsBackupPlan>().get("canary").await.unwrap();
    let text = serde_json::to_string(&o).unwrap();
    assert!(!text.contains(CANARY), "canary in object");
    let events = serde_json::to_string(&events_for(&env, "canary").await).unwrap();
    assert!(!events.contains(CANARY), "canary in events");
    env.stop_operator().await;
    assert!(!captured_logs().contains(CANARY), "canary in logs");
}

const ROTATED: &str = "CANARY-rotated-password-7c1d";
const APPLIED_PASSWORD: &str = "backup.aliyun.dev/applied-password-secret";

fn applied_password(o: &DbsBackupPlan) -> Option<String> {
    o.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPLIED_PASSWORD).cloned())
}

/// `<uid>/<resourceVersion>` of the password Secret as it is now.
async fn password_secret_version(env: &Env) -> String {
    let s = env.api::<Secret>().get(PASSWORD_SECRET).await.unwrap();
    format!(
        "{}/{}",
        s.metadata.uid.unwrap(),
        s.metadata.resource_version.unwrap()
    )
}

/// Changes the password in place (same Secret, new resourceVersion).
async fn rotate_in_place(env: &Env, password: &str) {
    env.api::<Secret>()
        .patch(
            PASSWORD_SECRET,
            &PatchParams::default(),
            &Patch::Merge(json!({ "stringData": { "password": password } })),
        )
        .await
        .unwrap();
}

/// Makes the operator reconcile `name` at least once more and waits until that reconcile is
/// over, so that a second push would have shown: twice, a requested reconcile (which reads
/// the plan fresh) and its `DescribeBackupPlanList`; reconciles of one object do not overlap,
/// so the second call means the first reconcile ended.
async fn reconcile_once_more(env: &Env, name: &str) {
    for _ in 0..2 {
        let describes = env.calls("DescribeBackupPlanList");
        env.api::<DbsBackupPlan>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({
                    "metadata": { "annotations": {
                        "backup.aliyun.dev/reconcile-requested-at": describes.to_string()
                    } }
                })),
            )
            .await
            .unwrap();
        wait_until("a requested reconcile", || {
            env.calls("DescribeBackupPlanList") > describes
        })
        .await;
    }
}

#[tokio::test]
async fn a_rotated_password_is_pushed_exactly_once() {
    let mut env = start_env().await;
    env.start_operator().await;
    create(&env, &plan("rot", "rm-demo01")).await;
    let o = wait_phase(&env, "rot", DbsBackupPlanPhase::Running).await;
    let id = plan_id(&o);
    let api = env.api::<DbsBackupPlan>();
    // The create recorded which version of the Secret its password came from.
    assert_eq!(
        applied_password(&o),
        Some(password_secret_version(&env).await)
    );
    assert_eq!(env.calls("ConfigureBackupPlan"), 0);

    // 1. The password changes in place: one ConfigureBackupPlan, with the password.
    rotate_in_place(&env, ROTATED).await;
    let rotated = password_secret_version(&env).await;
    wait_until("the new password to be pushed", || {
        env.calls("ConfigureBackupPlan") == 1
    })
    .await;
    let o = wait_for(&api, "rot", "the new Secret version recorded", |o| {
        applied_password(o).as_deref() == Some(rotated.as_str())
    })
    .await;
    assert_eq!(plan_id(&o), id);
    let configure = env
        .emulator
        .calls()
        .of("ConfigureBackupPlan")
        .next()
        .cloned()
        .unwrap();
    // The emulator's call log masks the value; the parameter is sent.
    assert_eq!(
        configure
            .params
            .get("SourceEndpointPassword")
            .map(String::as_str),
        Some("***")
    );
    assert_eq!(configure.params.get("BackupPlanId"), Some(&id));
    wait_phase(&env, "rot", DbsBackupPlanPhase::Running).await;
    reconcile_once_more(&env, "rot").await;
    assert_eq!(env.calls("ConfigureBackupPlan"), 1, "exactly one push");
    let events = events_for(&env, "rot").await;
    let rotated_event = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("PasswordRotated"))
        .unwrap_or_else(|| panic!("no PasswordRotated event: {:?}", reasons(&events)));
    assert_eq!(rotated_event.type_.as_deref(), Some("Normal"));
    let note = rotated_event.note.as_deref().unwrap_or_default();
    assert!(
        note.contains(PASSWORD_SECRET) && note.contains(&id),
        "{note}"
    );

    // 2. The Secret is recreated (new uid): one more push.
    env.put_secret(PASSWORD_SECRET, &[("password", CANARY)])
        .await;
    let recreated = password_secret_version(&env).await;
    assert_ne!(recreated, rotated);
    wait_for(&api, "rot", "the recreated Secret recorded", |o| {
        applied_password(o).as_deref() == Some(recreated.as_str())
    })
    .await;
    wait_phase(&env, "rot", DbsBackupPlanPhase::Running).await;
    reconcile_once_more(&env, "rot").await;
    assert_eq!(env.calls("ConfigureBackupPlan"), 2);

    // 3. Removing the applied-config annotation still pushes the whole configuration once.
    api.patch(
        "rot",
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { "backup.aliyun.dev/applied-config": null } }
        })),
    )
    .await
    .unwrap();
    wait_until("the configuration to be pushed again", || {
        env.calls("ConfigureBackupPlan") == 3
    })
    .await;
    wait_phase(&env, "rot", DbsBackupPlanPhase::Running).await;
    reconcile_once_more(&env, "rot").await;
    assert_eq!(env.calls("ConfigureBackupPlan"), 3);
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);

    // Neither password is anywhere in the object, its events or the logs.
    let text = serde_json::to_string(&api.get("rot").await.unwrap()).unwrap();
    let events = serde_json::to_string(&events_for(&env, "rot").await).unwrap();
    env.stop_operator().await;
    let logs = captured_logs();
    for canary in [CANARY, ROTATED] {
        assert!(!text.contains(canary), "canary in object");
        assert!(!events.contains(canary), "canary in events");
        assert!(!logs.contains(canary), "canary in logs");
    }
}

#[tokio::test]
async fn a_new_password_restarts_a_plan_whose_precheck_failed() {
    let mut env = start_env().await;
    env.emulator.fail_dbs_precheck(
        None,
        "Precheck failed: access denied for user 'backup'@'10.0.0.8'",
    );
    env.start_operator().await;
    create(&env, &plan("wrong-pw", "rm-demo01")).await;
    wait_for(&env.api::<DbsBackupPlan>(), "wrong-pw", "Stalled", |o| {
        is_true(o, "Stalled")
    })
    .await;
    assert_eq!(env.calls("StartBackupPlan"), 0);
    // The database team fixes the password: pushed, then the pre-check runs again.
    rotate_in_place(&env, ROTATED).await;
    wait_phase(&env, "wrong-pw", DbsBackupPlanPhase::Running).await;
    assert_eq!(env.calls("ConfigureBackupPlan"), 1);
    assert_eq!(env.calls("StartBackupPlan"), 1);
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    let r = reasons(&events_for(&env, "wrong-pw").await);
    assert!(r.iter().any(|x| x == "PasswordRotated"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn a_deleted_or_broken_password_secret_is_stalled_until_fixed() {
    let mut env = start_env().await;
    env.start_operator().await;
    create(&env, &plan("gone-pw", "rm-demo01")).await;
    wait_phase(&env, "gone-pw", DbsBackupPlanPhase::Running).await;
    let api = env.api::<DbsBackupPlan>();
    let stalled = |reason: &'static str| {
        move |o: &DbsBackupPlan| {
            condition(o, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
        }
    };

    // Deleted: Stalled, naming the Secret and the key; nothing is pushed.
    env.api::<Secret>()
        .delete(PASSWORD_SECRET, &DeleteParams::default())
        .await
        .unwrap();
    let o = wait_for(
        &api,
        "gone-pw",
        "Stalled PasswordSecretNotFound",
        stalled("PasswordSecretNotFound"),
    )
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert!(
        c.message.contains(PASSWORD_SECRET) && c.message.contains("\"password\""),
        "{c:#?}"
    );

    // Back, but without the key: Stalled, naming the key.
    env.put_secret(PASSWORD_SECRET, &[("passwd", ROTATED)])
        .await;
    let o = wait_for(
        &api,
        "gone-pw",
        "Stalled PasswordSecretInvalid",
        stalled("PasswordSecretInvalid"),
    )
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert!(
        c.message.contains(PASSWORD_SECRET) && c.message.contains("\"password\""),
        "{c:#?}"
    );
    assert_eq!(env.calls("ConfigureBackupPlan"), 0);

    // Fixed: the password is pushed once and the plan is Ready again.
    env.put_secret(PASSWORD_SECRET, &[("password", ROTATED)])
        .await;
    let fixed = password_secret_version(&env).await;
    wait_for(&api, "gone-pw", "the fixed Secret recorded", |o| {
        applied_password(o).as_deref() == Some(fixed.as_str())
    })
    .await;
    wait_phase(&env, "gone-pw", DbsBackupPlanPhase::Running).await;
    reconcile_once_more(&env, "gone-pw").await;
    assert_eq!(env.calls("ConfigureBackupPlan"), 1);
    let text = serde_json::to_string(&api.get("gone-pw").await.unwrap()).unwrap();
    let events = serde_json::to_string(&events_for(&env, "gone-pw").await).unwrap();
    env.stop_operator().await;
    for canary in [CANARY, ROTATED] {
        assert!(!text.contains(canary), "canary in object");
        assert!(!events.contains(canary), "canary in events");
        assert!(!captured_logs().contains(canary), "canary in logs");
    }
}

#[tokio::test]
async fn missing_password_secret_is_stalled_naming_the_secret() {
    let mut env = Env::start().await;
    env.start_operator().await;
    create(&env, &plan("nopw", "rm-demo01")).await;
    let o = wait_for(&env.api::<DbsBackupPlan>(), "nopw", "Stalled", |o| {
        is_true(o, "Stalled")
    })
    .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "PasswordSecretNotFound");
    assert!(c.message.contains(PASSWORD_SECRET), "{c:#?}");
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 0);
    // Creating the Secret later lets the plan be created (the stalled object is retried).
    env.put_secret(PASSWORD_SECRET, &[("password", CANARY)])
        .await;
    env.api::<DbsBackupPlan>()
        .patch(
            "nopw",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": { "annotations": { "backup.aliyun.dev/reconcile-requested-at": "now" } }
            })),
        )
        .await
        .unwrap();
    wait_phase(&env, "nopw", DbsBackupPlanPhase::Running).await;
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn fixing_the_spec_of_a_failed_plan_retries_the_precheck() {
    let mut env = start_env().await;
    env.start_operator().await;
    // The source instance does not exist: the pre-check fails.
    create(&env, &plan("fix", "rm-missing")).await;
    let o = wait_for(&env.api::<DbsBackupPlan>(), "fix", "Stalled", |o| {
        is_true(o, "Stalled") && current(o)
    })
    .await;
    assert!(
        condition(&o, "Stalled")
            .unwrap()
            .message
            .contains("rm-missing"),
        "{o:#?}"
    );
    let id = plan_id(&o);
    patch_spec(
        &env,
        "fix",
        json!({ "source": { "instanceId": "rm-demo01" } }),
    )
    .await;
    let o = wait_phase(&env, "fix", DbsBackupPlanPhase::Running).await;
    assert_eq!(plan_id(&o), id, "the same plan, reconfigured");
    assert_eq!(env.calls("ConfigureBackupPlan"), 1);
    assert_eq!(env.calls("StartBackupPlan"), 1);
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    assert_eq!(
        emulator_plan(&env, &id)["SourceEndpointInstanceID"],
        "rm-demo01"
    );
    env.stop_operator().await;
}

#[tokio::test]
async fn deleting_during_an_unrecorded_create_releases_the_plan() {
    let mut env = start_env().await;
    env.emulator.inject_fault(
        Fault::hold(Some("CreateAndStartBackupPlan"), "create")
            .for_product("DBS")
            .times(1),
    );
    let mut cfg = env.operator_config();
    cfg.timing.error_base = Duration::from_secs(600);
    cfg.timing.error_max = Duration::from_secs(600);
    env.start_operator_with(cfg).await;
    let mut obj = plan("early", "rm-demo01");
    obj.spec.deletion_policy = Some(aliyun_backup_operator::crd::DeletionPolicy::Delete);
    create(&env, &obj).await;
    let api = env.api::<DbsBackupPlan>();
    env.wait_held("create").await;
    let intent = api.get("early").await.unwrap().status.unwrap_or_default();
    assert!(intent.pending_create.is_some(), "intent first: {intent:#?}");
    env.sandbox.fail_next(
        FailureMatcher::new("patch", "dbsbackupplans").name("early"),
        1,
        500,
    );
    env.emulator.release("create", Release::Proceed);
    wait_until("the post-create write to fail", || {
        env.sandbox.pending_failures() == 0
    })
    .await;
    env.kill_operator().await;
    assert_eq!(emulator_plans(&env).len(), 1);

    // Deleted while the operator is down; the new operator finds the plan and releases it.
    api.delete("early", &DeleteParams::default()).await.unwrap();
    env.start_operator().await;
    wait_gone(&api, "early").await;
    assert_eq!(env.calls("CreateAndStartBackupPlan"), 1);
    assert_eq!(env.calls("ReleaseBackupPlan"), 1);
    assert!(emulator_plans(&env).is_empty(), "the plan was released");
    env.stop_operator().await;
}

#[tokio::test]
async fn rpo_met_follows_the_newest_successful_full_backup() {
    let mut env = start_env().await;
    env.start_operator().await;
    let mut obj = plan("rpo", "rm-rpo01");
    obj.spec.rpo = Some("24h".into());
    create(&env, &obj).await;
    let api = env.api::<DbsBackupPlan>();
    let o = wait_for(&api, "rpo", "RPOMet True", |o| {
        current(o) && is_true(o, "RPOMet")
    })
    .await;
    let c = condition(&o, "RPOMet").unwrap();
    assert!(
        ["RPOMet", "NoBackupYet"].contains(&c.reason.as_str()),
        "{c:?}"
    );
    assert!(c.message.contains("rpo is 24h"), "{c:?}");

    // An objective the plan cannot meet turns the condition False, with the age in the message.
    patch_spec(&env, "rpo", json!({ "rpo": "1s" })).await;
    let o = wait_for(&api, "rpo", "RPOMet False", |o| {
        current(o) && condition(o, "RPOMet").is_some_and(|c| c.status == "False")
    })
    .await;
    let c = condition(&o, "RPOMet").unwrap();
    assert!(
        ["RPOMissed", "NoSuccessfulBackup"].contains(&c.reason.as_str()),
        "{c:?}"
    );
    assert!(c.message.contains("rpo is 1s"), "{c:?}");

    // Without an objective the condition goes away.
    patch_spec(&env, "rpo", json!({ "rpo": null })).await;
    wait_for(&api, "rpo", "no RPOMet", |o| {
        current(o) && condition(o, "RPOMet").is_none()
    })
    .await;
    env.stop_operator().await;
}
