//! Issue 15 ("Safe day-2 operations"): deletion protection (the shipped
//! ValidatingAdmissionPolicy, its CEL and its enforcement by kube-sandbox), the `--selector`
//! of managed objects, and the per-credential circuit breaker against the emulator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aliyun_backup_operator::cloud::{
    CloudMetrics, CredentialSource, StaticCredentials, credential_label,
};
use aliyun_backup_operator::crd::{DbsBackupPlan, RdsBackup, RdsBackupPhase};
use common::*;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
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
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
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
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": name, "namespace": NS, "labels": labels, "annotations": annotations },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": instance,
        }
    }))
    .unwrap()
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
        let protected = obj("p", kind, json!({PROTECTION: "true", "other": "x"}));
        match decide(&policy, resource, kind, &protected) {
            PolicyDecision::Deny { message, reason } => {
                assert_eq!(reason, None, "default reason Invalid (422)");
                assert_eq!(
                    message,
                    format!(
                        "{kind} {NS}/p is protected by the annotation {PROTECTION}=true; to delete it, remove the annotation first: kubectl annotate {resource} p -n {NS} {PROTECTION}-"
                    )
                );
            }
            other => panic!("{kind}: {other:?}"),
        }
        for annotations in [
            json!({}),
            json!({PROTECTION: "false"}),
            json!({PROTECTION: ""}),
            json!({"other/deletion-protection": "true"}),
        ] {
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
    let plan: DbsBackupPlan = serde_yaml::from_str(
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
