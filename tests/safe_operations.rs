//! Issue 15 ("Safe day-2 operations"): deletion protection (the shipped
//! ValidatingAdmissionPolicy, its CEL and its enforcement by kube-sandbox), the `--selector`
//! of managed objects, the per-credential circuit breaker against the emulator, pause (by
//! annotation and by namespace), deletion-policy defaults and `spec.timeout` deadlines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aliyun_backup_operator::cloud::{
    CloudMetrics, CredentialSource, StaticCredentials, credential_label,
};
use std::time::Duration;

use aliyun_backup_operator::crd::{
    DbsBackupPlan, DeletionPolicy, HbrBackupJob, HbrBackupJobPhase, RdsBackup, RdsBackupPhase,
};
use aliyun_emulator::Fault;
use common::*;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_sandbox::admission::{DeleteRequest, PolicyDecision, evaluate_delete};
use serde_json::{Value, json};

const PROTECTION: &str = "backup.aliyun.dev/deletion-protection";

/// The policy and binding exactly as shipped (deploy/ is the chart rendered with defaults).
fn shipped_policy() -> (Value, Value) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deletion-protection.yaml"
    ))
    .unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} in deploy/deletion-protection.yaml"))
    };
    (
        find("ValidatingAdmissionPolicy"),
        find("ValidatingAdmissionPolicyBinding"),
    )
}

fn backup(name: &str, instance: &str, labels: Value, annotations: Value) -> RdsBackup {
    let mut m = manifest("RdsBackup", name, rds_spec(instance));
    m["metadata"]["labels"] = labels;
    m["metadata"]["annotations"] = annotations;
    serde_json::from_value(m).unwrap()
}

fn succeeded(o: &RdsBackup) -> bool {
    phase(o) == Some(RdsBackupPhase::Succeeded) && is_true(o, "Ready")
}

// ------------------------------------------------------------------ deletion protection

fn decide(policy: &Value, resource: &str, kind: &str, obj: &Value) -> PolicyDecision {
    evaluate_delete(
        &policy["spec"],
        &DeleteRequest {
            group: "backup.aliyun.dev",
            version: "v1alpha1",
            resource,
            kind,
            namespace: Some(NS),
            name: obj["metadata"]["name"].as_str().unwrap(),
            dry_run: false,
            old_object: obj,
            namespace_object: None,
            schema: None,
        },
    )
}

#[test]
fn shipped_deletion_protection_cel() {
    let (policy, binding) = shipped_policy();
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    assert_eq!(
        spec["matchConstraints"]["resourceRules"],
        json!([{"apiGroups": ["backup.aliyun.dev"], "apiVersions": ["*"], "operations": ["DELETE"], "resources": ["*"]}])
    );
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    let obj = |name: &str, kind: &str, annotations: Value| {
        json!({"apiVersion": "backup.aliyun.dev/v1alpha1", "kind": kind,
               "metadata": {"name": name, "namespace": NS, "annotations": annotations},
               "spec": {}})
    };
    // Every kind of the group, the current ones and the schedules, is covered by the rule
    // (resources "*") and by the expression.
    for (resource, kind) in [
        ("rdsbackups", "RdsBackup"),
        ("hbrbackupjobs", "HbrBackupJob"),
        ("dbsbackupplans", "DbsBackupPlan"),
        ("rdsbackupschedules", "RdsBackupSchedule"),
        ("hbrbackupschedules", "HbrBackupSchedule"),
    ] {
        // Fails closed: every spelling but a "false" one protects (the operator's own
        // `crd::deletion_protected` agrees on each value).
        for value in ["true", "True", "TRUE", " yes", "1", "on", "ture"] {
            assert!(aliyun_backup_operator::crd::deletion_protected(Some(
                &[(PROTECTION.to_string(), value.to_string())].into()
            )));
            let protected = obj("p", kind, json!({PROTECTION: value, "other": "x"}));
            match decide(&policy, resource, kind, &protected) {
                PolicyDecision::Deny { message, reason } => {
                    assert_eq!(reason, None, "default reason Invalid (422)");
                    assert_eq!(
                        message,
                        format!(
                            "{kind} {NS}/p is protected by the annotation {PROTECTION}={value}; to delete it, remove the annotation first: kubectl annotate {resource} p -n {NS} {PROTECTION}-"
                        )
                    );
                }
                other => panic!("{kind} {value:?}: {other:?}"),
            }
        }
        for annotations in [
            json!({}),
            json!({PROTECTION: "false"}),
            json!({PROTECTION: "False"}),
            json!({PROTECTION: "NO"}),
            json!({PROTECTION: "off"}),
            json!({PROTECTION: "0"}),
            json!({PROTECTION: ""}),
            json!({PROTECTION: " false "}),
            json!({"other/deletion-protection": "true"}),
        ] {
            if let Some(v) = annotations.get(PROTECTION).and_then(Value::as_str) {
                assert!(!aliyun_backup_operator::crd::deletion_protected(Some(
                    &[(PROTECTION.to_string(), v.to_string())].into()
                )));
            }
            let o = obj("u", kind, annotations.clone());
            assert_eq!(
                decide(&policy, resource, kind, &o),
                PolicyDecision::Allow,
                "{kind} {annotations}"
            );
        }
        // no metadata.annotations at all
        let mut bare = obj("b", kind, json!(null));
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(
            decide(&policy, resource, kind, &bare),
            PolicyDecision::Allow
        );
    }
    // The static message (used when messageExpression cannot be evaluated) says how to lift it.
    let message = spec["validations"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{PROTECTION}-")), "{message}");
}

#[tokio::test]
async fn protected_objects_are_not_deleted_until_the_annotation_is_removed() {
    let mut env = Env::start().await;
    let (policy, binding) = shipped_policy();
    let policy_name = policy["metadata"]["name"].as_str().unwrap().to_string();
    let binding_name = binding["metadata"]["name"].as_str().unwrap().to_string();
    Api::<ValidatingAdmissionPolicy>::all(env.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(policy).unwrap(),
        )
        .await
        .unwrap();
    Api::<ValidatingAdmissionPolicyBinding>::all(env.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    env.start_operator().await;
    let api = env.api::<RdsBackup>();
    api.create(
        &PostParams::default(),
        &backup("kept", "rm-demo01", json!({}), json!({PROTECTION: "true"})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &backup("free", "rm-demo02", json!({}), json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, "kept", "Succeeded", succeeded).await;
    wait_for(&api, "free", "Succeeded", succeeded).await;

    let e = match api.delete("kept", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("protected delete must be refused, got {other:?}"),
    };
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        format!(
            "rdsbackups.backup.aliyun.dev \"kept\" is forbidden: ValidatingAdmissionPolicy '{policy_name}' with binding '{binding_name}' denied request: RdsBackup {NS}/kept is protected by the annotation {PROTECTION}=true; to delete it, remove the annotation first: kubectl annotate rdsbackups kept -n {NS} {PROTECTION}-"
        )
    );
    let kept = api.get("kept").await.unwrap();
    assert!(
        kept.metadata.deletion_timestamp.is_none(),
        "not even marked for deletion"
    );
    // A protected object of another kind is refused too (whatever its reconcile does).
    let plans: Api<DbsBackupPlan> = env.api();
    let plan: DbsBackupPlan = serde_norway::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/dbs-backup-plan.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut plan = plan;
    plan.metadata.namespace = Some(NS.into());
    plan.metadata.annotations = Some([(PROTECTION.to_string(), "true".to_string())].into());
    plans.create(&PostParams::default(), &plan).await.unwrap();
    let name = plan.name_any();
    assert!(matches!(
        plans.delete(&name, &DeleteParams::default()).await,
        Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains("DbsBackupPlan")
    ));

    // Unprotected: deleted as usual (finalizer, cleanup, gone).
    api.delete("free", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "free").await;

    // Lift the protection, then the delete goes through.
    api.patch(
        "kept",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {PROTECTION: null}}})),
    )
    .await
    .unwrap();
    api.delete("kept", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "kept").await;
    plans
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {PROTECTION: "false"}}})),
        )
        .await
        .unwrap();
    plans.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_gone(&plans, &name).await;
}

// ------------------------------------------------------------------ --selector

#[tokio::test]
async fn objects_outside_the_selector_are_not_reconciled() {
    let mut env = Env::start().await;
    let api = env.api::<RdsBackup>();
    // Created before the operator starts, so it has every chance to be seen.
    api.create(
        &PostParams::default(),
        &backup("other", "rm-demo02", json!({"team": "web"}), json!({})),
    )
    .await
    .unwrap();
    let mut cfg = env.operator_config();
    cfg.selector = Some("team in (payments)".into());
    env.start_operator_with(cfg).await;
    api.create(
        &PostParams::default(),
        &backup("mine", "rm-demo01", json!({"team": "payments"}), json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, "mine", "Succeeded", succeeded).await;
    assert_eq!(env.calls("CreateBackup"), 1);
    let other = api.get("other").await.unwrap();
    assert!(other.status.is_none(), "no status: {:?}", other.status);
    assert!(other.finalizers().is_empty(), "no finalizer");
    // Labelled into the selector, it is picked up.
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "payments"}}})),
    )
    .await
    .unwrap();
    wait_for(&api, "other", "Succeeded", succeeded).await;
    assert_eq!(env.calls("CreateBackup"), 2);
}

// ------------------------------------------------------------------ credential breaker

#[tokio::test]
async fn refused_key_is_held_back_and_a_fixed_secret_proceeds_at_once() {
    let mut env = Env::start().await;
    const BAD_ID: &str = "LTAI-not-a-key";
    const BAD_SECRET: &str = "CANARY-refused-secret";
    env.put_secret(
        CREDS,
        &[("accessKeyId", BAD_ID), ("accessKeySecret", BAD_SECRET)],
    )
    .await;
    let cfg = env.operator_config();
    let concurrency = usize::from(cfg.max_concurrent_reconciles);
    let metrics: CloudMetrics = cfg.cloud.metrics.clone();
    env.start_operator_with(cfg).await;
    let api = env.api::<RdsBackup>();
    const N: usize = 6;
    for i in 0..N {
        let instance = if i % 2 == 0 { "rm-demo01" } else { "rm-demo02" };
        api.create(
            &PostParams::default(),
            &backup(&format!("b{i}"), instance, json!({}), json!({})),
        )
        .await
        .unwrap();
    }
    let label = credential_label(&CredentialSource::Static(StaticCredentials {
        access_key_id: BAD_ID.into(),
        access_key_secret: BAD_SECRET.to_string().into(),
        security_token: None,
    }));
    // Every object keeps trying (fast test timings): many attempts are held back …
    wait_until("many calls held back by the breaker", || {
        metrics.breaker_rejected_count(&label) >= (4 * N) as u64
    })
    .await;
    assert_eq!(metrics.breaker_open(&label), 1);
    // … while the cloud saw only the first wave of calls with the refused key (the emulator
    // logs no caller for a call it refuses: counted by the answer, which only that key gets).
    let refused = |env: &Env| {
        env.emulator
            .calls()
            .log
            .iter()
            .filter(|c| c.code == "InvalidAccessKeyId.NotFound")
            .count()
    };
    let bad_calls = refused(&env);
    assert!(
        (1..=concurrency).contains(&bad_calls),
        "{bad_calls} calls with the refused key (at most one per concurrent reconcile)"
    );
    assert!(
        env.emulator.calls().log.iter().all(|c| c.code != "OK"),
        "nothing succeeded with the refused key"
    );
    // The objects show the refusal without the key: CredentialsValid=False.
    let b0 = wait_for(&api, "b0", "CredentialsValid=False", |o| {
        condition(o, "CredentialsValid").is_some_and(|c| c.status == "False")
    })
    .await;
    let c = condition(&b0, "CredentialsValid").unwrap();
    assert_eq!(c.reason, "CredentialsRefused", "{c:?}");
    assert!(c.message.contains("InvalidAccessKeyId.NotFound"), "{c:?}");
    let text = serde_json::to_string(&b0.status).unwrap();
    assert!(!text.contains("CANARY") && !text.contains(BAD_ID), "{text}");

    // Fix the Secret: a new credential, not held back; every object proceeds at once (the
    // cool-down of 30 s is not waited for: the test would time out long before).
    env.put_secret(
        CREDS,
        &[("accessKeyId", KEY_ID), ("accessKeySecret", KEY_SECRET)],
    )
    .await;
    for i in 0..N {
        let o = wait_for(&api, &format!("b{i}"), "Succeeded", succeeded).await;
        let c = condition(&o, "CredentialsValid").unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "CredentialsAccepted")
        );
    }
    assert_eq!(
        refused(&env),
        bad_calls,
        "the refused key was not tried again"
    );
    assert!(
        env.emulator
            .calls()
            .log
            .iter()
            .all(|c| c.code == "InvalidAccessKeyId.NotFound"
                || c.access_key_id.as_deref() == Some(KEY_ID)),
    );
    assert!(!captured_logs().contains("CANARY"));
}

/// Issue #30, defect 3: one refused call holds the key's objects back only for the
/// breaker's cool-down. Every later delay here (error backoff, waits) is ten minutes, beyond
/// the test's patience: the objects must come back when the cool-down ends (the probe) or
/// when the breaker closes, not after a backoff.
#[tokio::test]
async fn one_refused_call_holds_objects_back_only_until_the_breaker_closes() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    let mut cfg = env.operator_config();
    cfg.cloud.breaker.base_cooldown = Duration::from_millis(500);
    let long = Duration::from_secs(600);
    cfg.timing.error_base = long;
    cfg.timing.error_max = long;
    cfg.timing.wait = long;
    env.start_operator_with(cfg).await;
    let jobs: Api<HbrBackupJob> = env.api();
    const N: usize = 3;
    for i in 0..N {
        let j: HbrBackupJob = serde_json::from_value(manifest(
            "HbrBackupJob",
            &format!("held-{i}"),
            hbr_udm_spec(),
        ))
        .unwrap();
        jobs.create(&PostParams::default(), &j).await.unwrap();
    }
    for i in 0..N {
        wait_for(&jobs, &format!("held-{i}"), "Running", |o| {
            phase(o) == Some(HbrBackupJobPhase::Running)
        })
        .await;
    }
    // One look at the running jobs is refused as if the key were unknown.
    env.emulator.inject_fault(
        Fault::error(
            Some("DescribeBackupJobs2"),
            "InvalidAccessKeyId.NotFound",
            404,
        )
        .for_product("HBR")
        .times(1),
    );
    let refused = |o: &HbrBackupJob| {
        condition(o, "CredentialsValid")
            .is_some_and(|c| c.status == "False" && c.reason == "CredentialsRefused")
    };
    eventually("an object held back by the breaker", || async {
        let list = jobs.list(&Default::default()).await.unwrap();
        if list.items.iter().any(refused) {
            Ok(())
        } else {
            Err("none refused yet".to_string())
        }
    })
    .await;
    // The jobs end in the cloud; every object sees it, with its credentials accepted again.
    env.emulator.advance_time(Duration::from_secs(7200));
    for i in 0..N {
        let o = wait_for(&jobs, &format!("held-{i}"), "Succeeded", |o| {
            phase(o) == Some(HbrBackupJobPhase::Succeeded)
        })
        .await;
        let c = condition(&o, "CredentialsValid").unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "CredentialsAccepted")
        );
    }
    assert_eq!(
        env.emulator
            .calls()
            .log
            .iter()
            .filter(|c| c.code == "InvalidAccessKeyId.NotFound")
            .count(),
        1,
        "the key was refused once"
    );
    env.stop_operator().await;
}

// ------------------------------------------------------------------ pause

const PAUSED: &str = "backup.aliyun.dev/paused";

fn paused(o: &RdsBackup) -> bool {
    is_true(o, "Paused")
        && condition(o, "Ready").is_some_and(|c| c.status == "False" && c.reason == "Paused")
}

async fn annotate<K>(api: &Api<K>, name: &str, annotations: Value)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .unwrap();
}

/// Waits until the operator has run at least one more `RdsBackup` reconcile than `before`.
async fn reconciled_since(env: &Env, before: u64) {
    let metrics = env.operator().metrics.clone();
    wait_until("another RdsBackup reconcile", || {
        metrics.reconcile_count("RdsBackup") > before
    })
    .await;
}

#[tokio::test]
async fn paused_objects_make_no_cloud_calls_and_resume_where_they_stopped() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    env.start_operator().await;
    let api = env.api::<RdsBackup>();
    let mut running = backup("running", "rm-demo01", json!({}), json!({}));
    running.spec.deletion_policy = Some(DeletionPolicy::Delete);
    api.create(&PostParams::default(), &running).await.unwrap();
    let o = wait_for(&api, "running", "a running task", |o| {
        phase(o) == Some(RdsBackupPhase::Running)
            && o.status.as_ref().is_some_and(|s| s.backup_job_id.is_some())
    })
    .await;
    let job_id = o.status.unwrap().backup_job_id.unwrap();

    // Paused during a running backup: the Paused conditions, nothing else.
    annotate(&api, "running", json!({PAUSED: "true"})).await;
    let o = wait_for(&api, "running", "Paused", paused).await;
    let st = o.status.clone().unwrap();
    assert_eq!(st.phase, Some(RdsBackupPhase::Running));
    assert_eq!(st.backup_job_id.as_deref(), Some(job_id.as_str()));
    assert!(
        condition(&o, "Paused").unwrap().message.contains(PAUSED),
        "{:?}",
        condition(&o, "Paused")
    );
    // A paused object with the orphan annotation is let go at once, without cloud calls.
    api.create(
        &PostParams::default(),
        &backup("orphan-me", "rm-demo02", json!({}), json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, "orphan-me", "a running task", |o| {
        o.status.as_ref().is_some_and(|s| s.backup_job_id.is_some())
    })
    .await;
    annotate(&api, "orphan-me", json!({PAUSED: "true"})).await;
    wait_for(&api, "orphan-me", "Paused", paused).await;
    let before_orphan = env.emulator.call_count();
    annotate(
        &api,
        "orphan-me",
        json!({"backup.aliyun.dev/orphan-on-delete": "true"}),
    )
    .await;
    api.delete("orphan-me", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "orphan-me").await;
    assert_eq!(env.emulator.call_count(), before_orphan, "no cloud call");

    // A new object created paused: no finalizer, no cloud call.
    api.create(
        &PostParams::default(),
        &backup(
            "born-paused",
            "rm-demo02",
            json!({}),
            json!({PAUSED: "true"}),
        ),
    )
    .await
    .unwrap();
    let o = wait_for(&api, "born-paused", "Paused", paused).await;
    assert!(o.metadata.finalizers.is_none_or(|f| f.is_empty()));

    // The task ends in the cloud; more reconciles run; still no cloud call.
    let calls = env.emulator.call_count();
    env.emulator.advance_time(Duration::from_secs(7200));
    let before = env.operator().metrics.reconcile_count("RdsBackup");
    annotate(
        &api,
        "running",
        json!({"backup.aliyun.dev/reconcile-requested-at": "1"}),
    )
    .await;
    annotate(
        &api,
        "born-paused",
        json!({"backup.aliyun.dev/reconcile-requested-at": "1"}),
    )
    .await;
    reconciled_since(&env, before + 1).await;
    assert_eq!(
        env.emulator.call_count(),
        calls,
        "no cloud call while paused"
    );
    let o = api.get("running").await.unwrap();
    assert_eq!(phase(&o), Some(RdsBackupPhase::Running), "status kept");

    // Deleting a paused object waits (finalizer kept) and says so.
    api.delete("running", &DeleteParams::default())
        .await
        .unwrap();
    let o = wait_for(&api, "running", "a waiting deletion", |o| {
        o.metadata.deletion_timestamp.is_some()
            && condition(o, "Paused").is_some_and(|c| c.message.contains("deletion waits"))
    })
    .await;
    assert!(
        o.metadata
            .finalizers
            .unwrap()
            .contains(&"backup.aliyun.dev/cleanup".to_string())
    );
    assert_eq!(env.emulator.call_count(), calls);
    assert_eq!(env.calls("DeleteBackup"), 0);

    // Resume: the deletion goes on where it stopped (the task ended: its set is deleted).
    annotate(&api, "running", json!({PAUSED: null})).await;
    wait_gone(&api, "running").await;
    assert_eq!(env.calls("DeleteBackup"), 1);
    // Resume: the object created paused makes its backup now.
    annotate(&api, "born-paused", json!({PAUSED: "false"})).await;
    wait_for(&api, "born-paused", "a running task", |o| {
        o.status.as_ref().is_some_and(|s| s.backup_job_id.is_some())
            && condition(o, "Paused").is_none()
    })
    .await;
    env.emulator.advance_time(Duration::from_secs(7200));
    let o = wait_for(&api, "born-paused", "Succeeded", succeeded).await;
    assert!(is_true(&o, "Ready"));
    assert_eq!(env.calls("CreateBackup"), 3, "one create per object");
}

#[tokio::test]
async fn a_paused_namespace_waits_for_the_operator_to_resume_it() {
    let mut env = Env::start().await;
    let mut cfg = env.operator_config();
    cfg.paused_namespaces = vec![NS.to_string()];
    env.start_operator_with(cfg).await;
    let api = env.api::<RdsBackup>();
    api.create(
        &PostParams::default(),
        &backup("frozen", "rm-demo01", json!({}), json!({})),
    )
    .await
    .unwrap();
    let o = wait_for(&api, "frozen", "Paused", paused).await;
    let message = &condition(&o, "Paused").unwrap().message;
    assert!(
        message.contains(&format!("namespace {NS} is paused")),
        "{message}"
    );
    assert_eq!(env.calls("CreateBackup"), 0);
    // Restarted without the namespace in the list: it proceeds.
    env.start_operator().await;
    let o = wait_for(&api, "frozen", "Succeeded", succeeded).await;
    assert!(condition(&o, "Paused").is_none());
}

// ------------------------------------------------------------------ deletion-policy defaults

const DEFAULT_POLICY: &str = "backup.aliyun.dev/default-deletion-policy";

#[tokio::test]
async fn deletion_policy_comes_from_spec_then_namespace_then_operator() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    annotate(&namespaces, NS, json!({DEFAULT_POLICY: "Delete"})).await;
    let api = env.api::<RdsBackup>();
    api.create(
        &PostParams::default(),
        &backup("from-ns", "rm-demo01", json!({}), json!({})),
    )
    .await
    .unwrap();
    let mut kept = backup("from-spec", "rm-demo02", json!({}), json!({}));
    kept.spec.deletion_policy = Some(DeletionPolicy::Retain);
    api.create(&PostParams::default(), &kept).await.unwrap();
    let o = wait_for(&api, "from-ns", "Succeeded", succeeded).await;
    let st = o.status.unwrap();
    assert_eq!(st.deletion_policy, Some(DeletionPolicy::Delete));
    assert_eq!(
        st.deletion_policy_source.as_deref(),
        Some(format!("namespace annotation {DEFAULT_POLICY}").as_str())
    );
    let o = wait_for(&api, "from-spec", "Succeeded", succeeded).await;
    let st = o.status.unwrap();
    assert_eq!(st.deletion_policy, Some(DeletionPolicy::Retain));
    assert_eq!(st.deletion_policy_source.as_deref(), Some("spec"));

    // The namespace default deletes the backup set; the spec's Retain keeps its own.
    api.delete("from-ns", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "from-ns").await;
    assert_eq!(env.calls("DeleteBackup"), 1);
    api.delete("from-spec", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "from-spec").await;
    assert_eq!(env.calls("DeleteBackup"), 1);

    // Without the annotation, the operator default (Retain here) decides; the cleanup reads
    // the namespace afresh, whatever the status last showed.
    api.create(
        &PostParams::default(),
        &backup("from-operator", "rm-demo01", json!({}), json!({})),
    )
    .await
    .unwrap();
    wait_for(&api, "from-operator", "Succeeded", succeeded).await;
    annotate(&namespaces, NS, json!({DEFAULT_POLICY: null})).await;
    api.delete("from-operator", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "from-operator").await;
    assert_eq!(env.calls("DeleteBackup"), 1, "Retain: the set stays");

    // With the operator default Delete and no annotation.
    let mut cfg = env.operator_config();
    cfg.default_deletion_policy = DeletionPolicy::Delete;
    env.start_operator_with(cfg).await;
    api.create(
        &PostParams::default(),
        &backup("operator-delete", "rm-demo02", json!({}), json!({})),
    )
    .await
    .unwrap();
    let o = wait_for(&api, "operator-delete", "Succeeded", succeeded).await;
    let st = o.status.unwrap();
    assert_eq!(st.deletion_policy, Some(DeletionPolicy::Delete));
    assert!(
        st.deletion_policy_source
            .as_deref()
            .is_some_and(|s| s.starts_with("operator default")),
        "{st:?}"
    );
    api.delete("operator-delete", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&api, "operator-delete").await;
    assert_eq!(env.calls("DeleteBackup"), 2);
}

// ------------------------------------------------------------------ deadlines

#[tokio::test]
async fn past_spec_timeout_rds_leaves_the_task_and_hbr_cancels_the_job() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    env.start_operator().await;
    let api = env.api::<RdsBackup>();
    let mut b = backup("slow", "rm-demo01", json!({}), json!({}));
    b.spec.timeout = Some("3s".into());
    api.create(&PostParams::default(), &b).await.unwrap();
    let jobs: Api<HbrBackupJob> = env.api();
    let mut j: HbrBackupJob =
        serde_json::from_value(manifest("HbrBackupJob", "slow-job", hbr_udm_spec())).unwrap();
    j.spec.timeout = Some("3s".into());
    jobs.create(&PostParams::default(), &j).await.unwrap();

    let deadline_exceeded =
        |c: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>| {
            c.is_some_and(|c| c.status == "True" && c.reason == "DeadlineExceeded")
        };
    let o = wait_for(&api, "slow", "DeadlineExceeded", |o| {
        deadline_exceeded(condition(o, "Stalled"))
    })
    .await;
    assert_eq!(phase(&o), Some(RdsBackupPhase::Failed));
    let st = o.status.clone().unwrap();
    assert!(st.completion_time.is_some() && st.backup_id.is_none());
    let message = &condition(&o, "Stalled").unwrap().message;
    assert!(message.contains("left running"), "{message}");
    // The task still runs in RDS, still held by this object (never adopted by another).
    let job = st.backup_job_id.unwrap();
    let tasks = env.emulator.state()["rds"]["tasks"].clone();
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["BackupJobId"] == job.as_str() && t["BackupStatus"] != "Finished"),
        "{tasks:#}"
    );

    let o = wait_for(&jobs, "slow-job", "DeadlineExceeded", |o| {
        deadline_exceeded(condition(o, "Stalled"))
    })
    .await;
    assert_eq!(phase(&o), Some(HbrBackupJobPhase::Failed));
    let message = &condition(&o, "Stalled").unwrap().message;
    assert!(message.contains("cancelled"), "{message}");
    assert_eq!(env.calls("CancelBackupJob"), 1);
    assert_eq!(env.calls("CreateBackup"), 1);
    assert_eq!(env.calls("CreateBackupJob"), 1);
}

/// Issue #30, defect 5: `spec.timeout` fires when it passes, not at the next poll. The poll
/// interval and every backoff here are ten minutes, far beyond the test's patience: only the
/// clamp of every requeue to the deadline can fail these objects in time.
#[tokio::test]
async fn spec_timeout_fires_at_the_deadline_not_at_the_next_poll() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    let mut cfg = env.operator_config();
    let long = Duration::from_secs(600);
    cfg.timing.poll_initial = long;
    cfg.timing.poll_max = long;
    cfg.timing.wait = long;
    cfg.timing.error_base = long;
    cfg.timing.error_max = long;
    env.start_operator_with(cfg).await;
    let api = env.api::<RdsBackup>();
    let mut b = backup("late", "rm-demo01", json!({}), json!({}));
    b.spec.timeout = Some("2s".into());
    api.create(&PostParams::default(), &b).await.unwrap();
    let jobs: Api<HbrBackupJob> = env.api();
    let mut j: HbrBackupJob =
        serde_json::from_value(manifest("HbrBackupJob", "late-job", hbr_udm_spec())).unwrap();
    j.spec.timeout = Some("2s".into());
    jobs.create(&PostParams::default(), &j).await.unwrap();

    let exceeded = |c: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>| {
        c.is_some_and(|c| c.status == "True" && c.reason == "DeadlineExceeded")
    };
    let o = wait_for(&api, "late", "DeadlineExceeded", |o| {
        exceeded(condition(o, "Stalled"))
    })
    .await;
    assert_eq!(phase(&o), Some(RdsBackupPhase::Failed));
    let o = wait_for(&jobs, "late-job", "DeadlineExceeded", |o| {
        exceeded(condition(o, "Stalled"))
    })
    .await;
    assert_eq!(phase(&o), Some(HbrBackupJobPhase::Failed));
    assert_eq!(env.calls("CancelBackupJob"), 1);
    env.stop_operator().await;
}
