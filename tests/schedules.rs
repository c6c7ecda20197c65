//! `RdsBackupSchedule` and `HbrBackupSchedule` against kube-sandbox + aliyun-emulator with the
//! real operator. The schedule controller reads a [`ManualClock`] the test moves, so slots
//! minutes apart come at once; backups themselves run in the emulator in real time (2 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aliyun_backup_operator::controller::kinds::schedule::plan::slot_child_name;
use aliyun_backup_operator::controller::operator::clock::{Clock, ManualClock};
use aliyun_backup_operator::crd::{
    CONDITION_RPO_MET, HbrBackupJob, HbrBackupSchedule, LABEL_SCHEDULE, RdsBackup, RdsBackupPhase,
    RdsBackupSchedule,
};
use common::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

/// Real "now" rounded down to the minute, plus 10 s: the clock the tests start from.
fn start_time() -> jiff::Timestamp {
    let s = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(s - s.rem_euclid(60) + 10).unwrap()
}

async fn start(env: &mut Env) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new(start_time(), Duration::from_millis(100)));
    let mut cfg = env.operator_config();
    cfg.clock = clock.clone();
    env.start_operator_with(cfg).await;
    clock
}

fn rds_schedule(name: &str, extra: serde_json::Value) -> RdsBackupSchedule {
    let mut spec = json!({
        "schedule": "* * * * *",
        "template": {
            "metadata": { "labels": { "team": "db" } },
            "spec": {
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "dbInstanceId": "rm-demo01",
            }
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackupSchedule",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": { "app.kubernetes.io/instance": "argo-app", "kustomize.toolkit.fluxcd.io/name": "apps" },
            "annotations": { "argocd.argoproj.io/tracking-id": "argo-app:backup.aliyun.dev/RdsBackupSchedule:backups/x" },
        },
        "spec": spec,
    }))
    .unwrap()
}

async fn children(env: &Env, schedule: &str) -> Vec<RdsBackup> {
    let api: Api<RdsBackup> = env.api();
    let mut items = api
        .list(&ListParams::default().labels(&format!("{LABEL_SCHEDULE}={schedule}")))
        .await
        .unwrap()
        .items;
    items.sort_by_key(|c| c.name_any());
    items
}

async fn wait_children(env: &Env, schedule: &str, n: usize) -> Vec<RdsBackup> {
    eventually(&format!("{n} children of {schedule}"), || async {
        let out = children(env, schedule).await;
        if out.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                out.iter().map(|c| c.name_any()).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    children(env, schedule).await
}

fn rpo_status(s: &RdsBackupSchedule) -> Option<(String, String)> {
    s.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_RPO_MET)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Creates the child `name` of schedule `s` for `slot` as the operator makes it (label,
/// `scheduled-at` annotation, owner reference, the template's spec): the state of an operator
/// that died after the create and before the status write.
async fn create_child_as_the_operator_would(
    env: &Env,
    s: &RdsBackupSchedule,
    name: &str,
    slot: jiff::Timestamp,
) {
    let child = RdsBackup {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NS.into()),
            labels: Some(
                [(
                    LABEL_SCHEDULE.to_string(),
                    s.metadata.name.clone().unwrap_or_default(),
                )]
                .into(),
            ),
            annotations: Some(
                [(
                    "backup.aliyun.dev/scheduled-at".to_string(),
                    slot.to_string(),
                )]
                .into(),
            ),
            owner_references: Some(vec![s.controller_owner_ref(&()).unwrap()]),
            ..ObjectMeta::default()
        },
        spec: s.spec.schedule.template.spec.clone(),
        status: None,
    };
    env.api::<RdsBackup>()
        .create(&PostParams::default(), &child)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_schedule_makes_children_on_its_slots_and_rpo_flips() {
    let mut env = Env::start().await;
    let clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    let s = rds_schedule(
        "nightly",
        json!({ "rpo": "3m", "retention": { "keepLast": 1 } }),
    );
    api.create(&PostParams::default(), &s).await.unwrap();
    let s = wait_for(&api, "nightly", "status", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.next_schedule_time.is_some())
    })
    .await;
    // No child before the first slot after creation; RPO counted from creation.
    assert!(children(&env, "nightly").await.is_empty());
    assert_eq!(rpo_status(&s), Some(("True".into(), "NoBackupYet".into())));

    // The first slot makes one child, with the schedule's label and ownerReference but none of
    // the schedule's GitOps tracking labels or annotations.
    // The slot from the clock the operator reads (the wall clock may be in the next minute).
    let slot = clock.now() + jiff::SignedDuration::from_secs(50);
    clock.advance(Duration::from_secs(60));
    let first = wait_children(&env, "nightly", 1).await.remove(0);
    assert_eq!(first.name_any(), slot_child_name("nightly", slot));
    assert_eq!(first.labels().get("team").map(String::as_str), Some("db"));
    assert!(!first.labels().contains_key("app.kubernetes.io/instance"));
    assert!(
        !first
            .labels()
            .contains_key("kustomize.toolkit.fluxcd.io/name")
    );
    assert!(
        !first
            .annotations()
            .contains_key("argocd.argoproj.io/tracking-id")
    );
    let owner = &first.owner_references()[0];
    assert_eq!(owner.kind, "RdsBackupSchedule");
    assert_eq!(owner.controller, Some(true));

    // It succeeds in the emulator; the schedule records it and the RPO is met.
    let child_api: Api<RdsBackup> = env.api();
    wait_for(&child_api, &first.name_any(), "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    let s = wait_for(&api, "nightly", "lastSuccessfulTime", |s| {
        s.status.as_ref().is_some_and(|st| {
            st.last_successful_time.is_some()
                && st.counts.as_ref().is_some_and(|c| c.succeeded == 1)
        })
    })
    .await;
    assert_eq!(rpo_status(&s), Some(("True".into(), "RPOMet".into())));
    let r = reasons(&events_for(&env, "nightly").await);
    assert!(r.contains(&"RunCreated".to_string()), "{r:?}");

    // The next slot makes a second child; once it succeeds, keepLast 1 prunes the first.
    clock.advance(Duration::from_secs(60));
    let both = wait_children(&env, "nightly", 2).await;
    let second = both
        .iter()
        .find(|c| c.name_any() != first.name_any())
        .unwrap()
        .name_any();
    wait_for(&child_api, &second, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    wait_gone(&child_api, &first.name_any()).await;
    eventually("ChildPruned event", || async {
        let r = reasons(&events_for(&env, "nightly").await);
        r.contains(&"ChildPruned".to_string())
            .then_some(())
            .ok_or(format!("{r:?}"))
    })
    .await;

    // Suspended, the schedule makes nothing, and the RPO turns False once the newest success
    // is older than 3m.
    api.patch(
        "nightly",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    wait_for(&api, "nightly", "Suspended", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.next_schedule_time.is_none())
    })
    .await;
    clock.advance(Duration::from_secs(5 * 60));
    let s = wait_for(&api, "nightly", "RPOMet False", |s| {
        rpo_status(s).is_some_and(|(st, _)| st == "False")
    })
    .await;
    assert_eq!(rpo_status(&s).unwrap().1, "RPOMissed");
    assert_eq!(children(&env, "nightly").await.len(), 1);

    // Resumed: the most recent missed slot (only that one) is made up.
    api.patch(
        "nightly",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    let kids = wait_children(&env, "nightly", 2).await;
    assert!(kids.iter().any(|c| c.name_any() != second));
    let made_up = kids
        .iter()
        .find(|c| c.name_any() != second)
        .unwrap()
        .name_any();
    wait_for(&child_api, &made_up, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    // The children ran in real time while the test clock ran ahead: bring the clock back
    // to real time, so the made-up child's age is what it really is.
    clock.set(jiff::Timestamp::now());
    wait_for(&api, "nightly", "RPOMet True again", |s| {
        rpo_status(s).is_some_and(|(st, _)| st == "True")
    })
    .await;
    let r = reasons(&events_for(&env, "nightly").await);
    assert!(r.contains(&"MissedRunCreated".to_string()), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn a_crash_between_creating_the_child_and_recording_it_makes_no_second_backup() {
    let mut env = Env::start().await;
    let clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    api.create(&PostParams::default(), &rds_schedule("crashy", json!({})))
        .await
        .unwrap();
    let s = wait_for(&api, "crashy", "status", |s| s.status.is_some()).await;
    env.stop_operator().await;

    // The operator made the child of the next slot and died before writing the status: the
    // child exists (as the operator makes it), the status does not mention the slot.
    // The slot from the clock the operator reads (the wall clock may be in the next minute).
    let slot = clock.now() + jiff::SignedDuration::from_secs(50);
    clock.advance(Duration::from_secs(60));
    let name = slot_child_name("crashy", slot);
    create_child_as_the_operator_would(&env, &s, &name, slot).await;
    let child_api: Api<RdsBackup> = env.api();
    assert!(s.status.as_ref().unwrap().last_schedule_time.is_none());

    // Restarted on the same clock: the slot is recorded, no second child, one cloud backup.
    let mut cfg = env.operator_config();
    cfg.clock = clock.clone();
    env.start_operator_with(cfg).await;
    wait_for(&api, "crashy", "lastScheduleTime", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.last_schedule_time.as_ref())
            .is_some_and(|t| t.0 == slot)
    })
    .await;
    wait_for(&child_api, &name, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    assert_eq!(children(&env, "crashy").await.len(), 1);
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn the_trigger_annotation_makes_one_child_per_value() {
    let mut env = Env::start().await;
    let _clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    // A schedule that never comes due during the test.
    api.create(
        &PostParams::default(),
        &rds_schedule("manual", json!({ "schedule": "0 0 1 1 *" })),
    )
    .await
    .unwrap();
    wait_for(&api, "manual", "status", |s| s.status.is_some()).await;
    let trigger = |v: &str| json!({"metadata": {"annotations": {"backup.aliyun.dev/trigger": v}}});
    api.patch(
        "manual",
        &PatchParams::default(),
        &Patch::Merge(trigger("one")),
    )
    .await
    .unwrap();
    wait_for(&api, "manual", "lastTrigger", |s| {
        s.status.as_ref().and_then(|st| st.last_trigger.as_deref()) == Some("one")
    })
    .await;
    assert_eq!(wait_children(&env, "manual", 1).await.len(), 1);
    // Another change of the object (not of the trigger) makes nothing more.
    api.patch(
        "manual",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "manual",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"rpo": "1h"}})),
    )
    .await
    .unwrap();
    wait_for(&api, "manual", "RPOMet", |s| rpo_status(s).is_some()).await;
    assert_eq!(children(&env, "manual").await.len(), 1);
    // A new value makes a second one.
    api.patch(
        "manual",
        &PatchParams::default(),
        &Patch::Merge(trigger("two")),
    )
    .await
    .unwrap();
    wait_children(&env, "manual", 2).await;
    let kids = children(&env, "manual").await;
    assert!(
        kids.iter()
            .all(|c| c.name_any().starts_with("manual-trigger-")),
        "{kids:?}"
    );
    // (The event recorder folds repeated reasons into one Event series.)
    let r = reasons(&events_for(&env, "manual").await);
    assert!(r.contains(&"TriggeredRunCreated".to_string()), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn deleting_a_schedule_keeps_its_children_unless_asked() {
    let mut env = Env::start().await;
    let _clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    let child_api: Api<RdsBackup> = env.api();
    api.create(
        &PostParams::default(),
        &rds_schedule("keep", json!({ "runOnCreate": true })),
    )
    .await
    .unwrap();
    let kept = wait_children(&env, "keep", 1).await.remove(0).name_any();
    api.delete("keep", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "keep").await;
    // Default Orphan: the child stays, without the ownerReference (no garbage collection).
    let child = child_api.get(&kept).await.unwrap();
    assert!(child.owner_references().is_empty(), "{child:?}");
    assert!(reasons(&events_for(&env, "keep").await).contains(&"ChildrenOrphaned".to_string()));

    api.create(
        &PostParams::default(),
        &rds_schedule(
            "drop",
            json!({ "runOnCreate": true, "childrenDeletionPolicy": "Delete" }),
        ),
    )
    .await
    .unwrap();
    let dropped = wait_children(&env, "drop", 1).await.remove(0).name_any();
    api.delete("drop", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "drop").await;
    wait_gone(&child_api, &dropped).await;
    assert!(child_api.get_opt(&kept).await.unwrap().is_some());
    env.stop_operator().await;
}

#[tokio::test]
async fn an_hbr_schedule_makes_hbr_jobs_and_a_bad_cron_stalls() {
    let mut env = Env::start().await;
    let _clock = start(&mut env).await;
    let api: Api<HbrBackupSchedule> = env.api();
    let schedule: HbrBackupSchedule = serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupSchedule",
        "metadata": { "name": "ecs", "namespace": NS },
        "spec": {
            "schedule": "@daily",
            "timeZone": "Asia/Shanghai",
            "runOnCreate": true,
            "template": { "spec": {
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "sourceType": "UDM_ECS",
                "instanceId": "i-demo01",
                "retention": 7,
            }}
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &schedule).await.unwrap();
    let jobs: Api<HbrBackupJob> = env.api();
    let list = || async {
        jobs.list(&ListParams::default().labels(&format!("{LABEL_SCHEDULE}=ecs")))
            .await
            .unwrap()
            .items
    };
    eventually("an HbrBackupJob child", || async {
        (!list().await.is_empty())
            .then_some(())
            .ok_or_else(|| "none".to_string())
    })
    .await;
    let job = list().await.remove(0);
    wait_for(&api, "ecs", "lastSuccessfulTime", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.last_successful_time.is_some())
    })
    .await;
    assert_eq!(job.owner_references()[0].kind, "HbrBackupSchedule");

    // A cron the CRD pattern lets through but the parser refuses: Stalled/InvalidSpec naming
    // the field.
    api.patch(
        "ecs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"schedule": "61 * * * *"}})),
    )
    .await
    .unwrap();
    let s = wait_for(&api, "ecs", "Stalled", |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "InvalidSpec")
        })
    })
    .await;
    let msg = &s
        .status
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message
        .clone();
    assert!(msg.contains("spec.schedule"), "{msg}");
    // The CRD itself refuses what its schema can (a sixth field).
    let bad = api
        .patch(
            "ecs",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"schedule": "0 0 * * * *"}})),
        )
        .await;
    assert!(bad.is_err());
    env.stop_operator().await;
}

// ------------------------------------------------------------------------------------------
// issue 30: schedules tried as users would
// ------------------------------------------------------------------------------------------

const PROTECTION: &str = "backup.aliyun.dev/deletion-protection";

fn hbr_schedule(name: &str, extra: serde_json::Value) -> HbrBackupSchedule {
    let mut spec = json!({
        "schedule": "0 0 1 1 *",
        "template": {
            "spec": {
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "sourceType": "UDM_ECS",
                "instanceId": "i-demo01",
                "retention": 7,
            }
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "template" {
            for (tk, tv) in v.as_object().unwrap() {
                for (f, fv) in tv.as_object().unwrap() {
                    spec["template"][tk][f] = fv.clone();
                }
            }
        } else {
            spec[k] = v.clone();
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupSchedule",
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
    }))
    .unwrap()
}

async fn hbr_children(env: &Env, schedule: &str) -> Vec<HbrBackupJob> {
    let api: Api<HbrBackupJob> = env.api();
    let mut items = api
        .list(&ListParams::default().labels(&format!("{LABEL_SCHEDULE}={schedule}")))
        .await
        .unwrap()
        .items;
    items.sort_by_key(|c| c.name_any());
    items
}

/// The condition `type_` of a schedule's status.
fn sched_condition(
    st: Option<&aliyun_backup_operator::crd::BackupScheduleStatus>,
    type_: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    st?.conditions.iter().find(|c| c.type_ == type_).cloned()
}

fn sched_true(st: Option<&aliyun_backup_operator::crd::BackupScheduleStatus>, type_: &str) -> bool {
    sched_condition(st, type_).is_some_and(|c| c.status == "True")
}

/// The value of `aliyun_backup_rpo_met` for the schedule `name`, as scraped now.
fn rpo_met_metric(env: &Env, name: &str) -> Option<String> {
    let text = env.operator().metrics.encode().unwrap();
    text.lines()
        .find(|l| {
            l.starts_with("aliyun_backup_rpo_met{") && l.contains(&format!("name=\"{name}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string)
}

async fn wait_event(
    env: &Env,
    name: &str,
    reason: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    eventually(&format!("{reason} event of {name}"), || async {
        let r = reasons(&events_for(env, name).await);
        r.contains(&reason.to_string())
            .then_some(())
            .ok_or(format!("{r:?}"))
    })
    .await;
    events_for(env, name).await
}

fn note_of(events: &[k8s_openapi::api::events::v1::Event], reason: &str) -> String {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn install_policy(env: &Env, policy: serde_json::Value, binding: serde_json::Value) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
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
}

/// The shipped deletion-protection policy (deploy/ is the chart rendered with defaults).
async fn install_shipped_protection(env: &Env) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deletion-protection.yaml"
    ))
    .unwrap();
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().unwrap();
    install_policy(
        env,
        find("ValidatingAdmissionPolicy"),
        find("ValidatingAdmissionPolicyBinding"),
    )
    .await;
}

fn trigger(v: &str) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"annotations": {"backup.aliyun.dev/trigger": v}}}))
}

/// Issue 30, defect 4: children protected against deletion (template annotation, or an
/// admission policy the operator cannot foresee) are kept by retention with a condition and an
/// Event; the reconcile goes on and the status stays true.
#[tokio::test]
async fn retention_keeps_protected_children_and_the_status_goes_on() {
    let mut env = Env::start().await;
    install_shipped_protection(&env).await;
    // A policy of the cluster's own that refuses deleting held jobs (the operator only sees
    // the refusal).
    install_policy(
        &env,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": "hold-jobs" },
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": ["backup.aliyun.dev"], "apiVersions": ["*"],
                    "operations": ["DELETE"], "resources": ["hbrbackupjobs"],
                }]},
                "validations": [{
                    "expression": "!has(oldObject.metadata.labels) || !('hold' in oldObject.metadata.labels)",
                    "message": "held by the audit team",
                }],
            }
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": { "name": "hold-jobs" },
            "spec": { "policyName": "hold-jobs", "validationActions": ["Deny"] },
        }),
    )
    .await;
    let clock = start(&mut env).await;
    let api: Api<HbrBackupSchedule> = env.api();
    for (name, template) in [
        (
            "guarded",
            json!({"metadata": {"annotations": {PROTECTION: "true"}}}),
        ),
        ("held", json!({"metadata": {"labels": {"hold": "yes"}}})),
    ] {
        api.create(
            &PostParams::default(),
            &hbr_schedule(
                name,
                json!({ "runOnCreate": true, "retention": { "keepLast": 1 }, "template": template }),
            ),
        )
        .await
        .unwrap();
        let first = wait_for(&api, name, "first success", |s| {
            s.status
                .as_ref()
                .and_then(|st| st.counts.as_ref())
                .is_some_and(|c| c.succeeded == 1 && c.running == 0)
        })
        .await;
        assert!(first.status.unwrap().active.is_empty());
        let first_child = hbr_children(&env, name).await.remove(0).name_any();
        // The trigger's child is the newer one (the runOnCreate child is placed at the
        // schedule's creation, a wall-clock time the test clock may be behind).
        clock.set(
            jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(60))
                .unwrap(),
        );
        api.patch(name, &PatchParams::default(), &trigger("again"))
            .await
            .unwrap();
        // keepLast 1 would prune the first child; it cannot go, and the status says so while
        // still counting what really runs.
        let s = wait_for(&api, name, "counts after the second success", |s| {
            s.status.as_ref().is_some_and(|st| {
                st.counts
                    .as_ref()
                    .is_some_and(|c| c.succeeded == 2 && c.running == 0)
                    && st.active.is_empty()
                    && sched_true(Some(st), "RetentionBlocked")
            })
        })
        .await;
        let st = s.status.as_ref();
        let blocked = sched_condition(st, "RetentionBlocked").unwrap();
        assert!(blocked.message.contains(&first_child), "{blocked:?}");
        assert!(sched_true(st, "Ready"), "{st:?}");
        assert_eq!(hbr_children(&env, name).await.len(), 2);
        let events = wait_event(&env, name, "RetentionBlocked").await;
        let note = note_of(&events, "RetentionBlocked");
        assert!(note.contains(&first_child), "{note}");
        if name == "guarded" {
            assert!(blocked.message.contains(PROTECTION), "{blocked:?}");
        } else {
            assert!(
                blocked.message.contains("held by the audit team"),
                "{blocked:?}"
            );
        }
    }
    // No reconcile of the schedules failed.
    let r = reasons(&events_for(&env, "guarded").await);
    assert!(!r.contains(&"KubeApiError".to_string()), "{r:?}");
    env.stop_operator().await;
}

/// Issue 30: `--selector` limits the schedule kinds like the others.
#[tokio::test]
async fn the_selector_limits_the_schedules_too() {
    let mut env = Env::start().await;
    let clock = Arc::new(ManualClock::new(start_time(), Duration::from_millis(100)));
    let mut cfg = env.operator_config();
    cfg.clock = clock;
    cfg.selector = Some("team=a".into());
    env.start_operator_with(cfg).await;
    let api: Api<RdsBackupSchedule> = env.api();
    let other = rds_schedule("other", json!({ "runOnCreate": true }));
    api.create(&PostParams::default(), &other).await.unwrap();
    let mut ours = rds_schedule(
        "ours",
        json!({ "runOnCreate": true, "template": {
            "metadata": { "labels": { "team": "a" } },
            "spec": {
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "dbInstanceId": "rm-demo02",
            }
        }}),
    );
    ours.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
    api.create(&PostParams::default(), &ours).await.unwrap();
    wait_for(&api, "ours", "lastSuccessfulTime", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.last_successful_time.is_some())
    })
    .await;
    let other = api.get("other").await.unwrap();
    assert!(other.status.is_none(), "{:?}", other.status);
    assert!(other.finalizers().is_empty(), "{:?}", other.finalizers());
    assert!(children(&env, "other").await.is_empty());
    env.stop_operator().await;
}

/// Issue 30, schedules 1: a schedule that becomes invalid still judges its RPO (and is looked
/// at again when it runs out), so the alert can fire.
#[tokio::test]
async fn a_schedule_that_becomes_invalid_still_judges_its_rpo() {
    let mut env = Env::start().await;
    let clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    api.create(
        &PostParams::default(),
        &rds_schedule(
            "mars",
            json!({ "schedule": "0 0 1 1 *", "runOnCreate": true, "rpo": "2m" }),
        ),
    )
    .await
    .unwrap();
    wait_for(&api, "mars", "RPOMet True after a success", |s| {
        rpo_status(s) == Some(("True".into(), "RPOMet".into()))
    })
    .await;
    api.patch(
        "mars",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"timeZone": "Mars/Phobos"}})),
    )
    .await
    .unwrap();
    wait_for(&api, "mars", "Stalled/InvalidSpec", |s| {
        sched_condition(s.status.as_ref(), "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "InvalidSpec")
    })
    .await;
    assert_eq!(rpo_met_metric(&env, "mars").as_deref(), Some("1"));
    clock.advance(Duration::from_secs(6 * 60));
    let s = wait_for(&api, "mars", "RPOMet False", |s| {
        rpo_status(s).is_some_and(|(st, _)| st == "False")
    })
    .await;
    assert_eq!(rpo_status(&s).unwrap().1, "RPOMissed");
    assert!(sched_true(s.status.as_ref(), "Stalled"));
    assert_eq!(rpo_met_metric(&env, "mars").as_deref(), Some("0"));
    wait_event(&env, "mars", "RPOMissed").await;
    env.stop_operator().await;
}

/// Issue 30, schedules 2: `concurrencyPolicy: Replace` means nothing RDS can do (no cancel):
/// the CRD refuses it for `RdsBackupSchedule`; HBR can cancel, so it stays there.
#[tokio::test]
async fn replace_is_refused_for_rds_schedules() {
    let env = Env::start().await;
    let api: Api<RdsBackupSchedule> = env.api();
    let e = match api
        .create(
            &PostParams::default(),
            &rds_schedule("rep", json!({ "concurrencyPolicy": "Replace" })),
        )
        .await
    {
        Err(kube::Error::Api(e)) => e,
        other => panic!("Replace must be refused for RDS, got {other:?}"),
    };
    assert_eq!(e.code, 422, "{e:?}");
    assert!(e.message.contains("Replace"), "{}", e.message);
    api.create(
        &PostParams::default(),
        &rds_schedule("allow", json!({ "concurrencyPolicy": "Allow" })),
    )
    .await
    .unwrap();
    let hbr: Api<HbrBackupSchedule> = env.api();
    hbr.create(
        &PostParams::default(),
        &hbr_schedule("rep", json!({ "concurrencyPolicy": "Replace" })),
    )
    .await
    .unwrap();
}

/// Issue 30, schedules 3: the `runOnCreate` child is named after the schedule's creation, so
/// a restart in a later minute finds the child a crash left behind instead of making a second
/// backup. Also: its `lastScheduleTime` is not before the creation, and the default retention
/// warns that it prunes children whose backups stay in the cloud (Retain).
#[tokio::test]
async fn run_on_create_survives_a_restart_in_a_later_minute() {
    let mut env = Env::start().await;
    let api: Api<RdsBackupSchedule> = env.api();
    let s = api
        .create(
            &PostParams::default(),
            &rds_schedule(
                "once",
                json!({ "schedule": "0 0 1 1 *", "runOnCreate": true }),
            ),
        )
        .await
        .unwrap();
    let created = s.metadata.creation_timestamp.clone().unwrap().0;
    // The operator made the runOnCreate child and died before writing the status.
    let name = slot_child_name("once", created);
    create_child_as_the_operator_would(&env, &s, &name, created).await;
    let child_api: Api<RdsBackup> = env.api();
    // Restarted in the next minute.
    let clock = Arc::new(ManualClock::new(
        created
            .checked_add(jiff::SignedDuration::from_secs(70))
            .unwrap(),
        Duration::from_millis(100),
    ));
    let mut cfg = env.operator_config();
    cfg.clock = clock;
    env.start_operator_with(cfg).await;
    let s = wait_for(&api, "once", "lastScheduleTime", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.last_schedule_time.is_some())
    })
    .await;
    wait_for(&child_api, &name, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    let kids: Vec<String> = children(&env, "once")
        .await
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(kids, vec![name.clone()]);
    assert_eq!(env.calls("CreateBackup"), 1);
    let st = s.status.unwrap();
    let last = st.last_schedule_time.unwrap().0;
    assert!(
        last >= created,
        "lastScheduleTime {last} before creation {created}"
    );
    // Schedules 7: the default retention prunes, and the children are Retain.
    assert!(
        st.warnings.iter().any(|w| w.contains("Retain")),
        "{:?}",
        st.warnings
    );
    env.stop_operator().await;
}

/// Issue 30, schedules 4: after downtime, a slot whose only blocker is a child that still
/// says Running (its backup ended while the operator was down) is not lost: it waits for the
/// child, and runs once the child is seen finished.
#[tokio::test]
async fn a_slot_waits_for_a_child_that_ended_during_downtime() {
    use aliyun_emulator::{Fault, Release};
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    let clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    api.create(
        &PostParams::default(),
        &rds_schedule("down", json!({ "runOnCreate": true })),
    )
    .await
    .unwrap();
    let first = wait_children(&env, "down", 1).await.remove(0).name_any();
    let child_api: Api<RdsBackup> = env.api();
    wait_for(&child_api, &first, "Running", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Running)
    })
    .await;
    wait_for(&api, "down", "the child recorded", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.active == vec![first.clone()])
    })
    .await;
    env.stop_operator().await;
    // While the operator is down, the backup ends in the cloud and the next slot passes.
    env.emulator.advance_time(Duration::from_secs(2 * 3600));
    env.emulator
        .inject_fault(Fault::hold(Some("DescribeBackupTasks"), "poll").times(1));
    clock.advance(Duration::from_secs(120));
    let mut cfg = env.operator_config();
    cfg.clock = clock.clone();
    env.start_operator_with(cfg).await;
    // The child's first look at its task is held: it still says Running.
    env.wait_held("poll").await;
    let s = wait_for(&api, "down", "the slot decided", |s| {
        s.status.as_ref().is_some_and(|st| {
            st.last_skipped.is_some()
                || sched_condition(Some(st), "Ready").is_some_and(|c| c.message.contains("waits"))
        })
    })
    .await;
    assert!(
        s.status.as_ref().unwrap().last_skipped.is_none(),
        "the slot must not be lost: {:?}",
        s.status
    );
    env.emulator.release("poll", Release::Proceed);
    wait_for(&child_api, &first, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    let kids = wait_children(&env, "down", 2).await;
    assert!(kids.iter().any(|c| c.name_any() != first));
    let s = api.get("down").await.unwrap();
    assert!(s.status.unwrap().last_skipped.is_none());
    env.stop_operator().await;
}

/// Issue 30, schedules 5: a child stalled on the user's input (its credentials Secret is
/// missing) blocks a Forbid schedule, and the schedule says so by name; the RPO runs out
/// honestly; once the user fixes the input the child and the waiting slot run.
#[tokio::test]
async fn a_stalled_child_blocks_a_forbid_schedule_visibly() {
    let mut env = Env::start().await;
    let clock = start(&mut env).await;
    let api: Api<HbrBackupSchedule> = env.api();
    api.create(
        &PostParams::default(),
        &hbr_schedule(
            "stuck",
            json!({
                "schedule": "* * * * *",
                "runOnCreate": true,
                "rpo": "3m",
                "template": { "spec": { "credentialsRef": { "name": "late-secret" } } },
            }),
        ),
    )
    .await
    .unwrap();
    let jobs: Api<HbrBackupJob> = env.api();
    eventually("a child", || async {
        (!hbr_children(&env, "stuck").await.is_empty())
            .then_some(())
            .ok_or_else(|| "none".to_string())
    })
    .await;
    let first = hbr_children(&env, "stuck").await.remove(0).name_any();
    wait_for(&jobs, &first, "Stalled", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Stalled"
                    && c.status == "True"
                    && c.reason == "CredentialsSecretNotFound"
            })
        })
    })
    .await;
    clock.advance(Duration::from_secs(60));
    let s = wait_for(&api, "stuck", "Stalled/ChildStalled", |s| {
        sched_condition(s.status.as_ref(), "Stalled")
            .is_some_and(|c| c.status == "True" && c.reason == "ChildStalled")
    })
    .await;
    let stalled = sched_condition(s.status.as_ref(), "Stalled").unwrap();
    assert!(stalled.message.contains(&first), "{stalled:?}");
    assert!(
        stalled.message.contains("CredentialsSecretNotFound"),
        "{stalled:?}"
    );
    assert!(!sched_true(s.status.as_ref(), "Ready"));
    let events = wait_event(&env, "stuck", "ChildStalled").await;
    assert!(note_of(&events, "ChildStalled").contains(&first));
    assert_eq!(
        hbr_children(&env, "stuck").await.len(),
        1,
        "Forbid: no second child"
    );
    // The RPO runs out: False, with the reason, an Event and the metric.
    clock.advance(Duration::from_secs(6 * 60));
    let s = wait_for(&api, "stuck", "RPOMet False", |s| {
        sched_condition(s.status.as_ref(), CONDITION_RPO_MET).is_some_and(|c| c.status == "False")
    })
    .await;
    let rpo = sched_condition(s.status.as_ref(), CONDITION_RPO_MET).unwrap();
    assert_eq!(rpo.reason, "NoSuccessfulBackup");
    assert!(rpo.message.contains(&first), "{rpo:?}");
    wait_event(&env, "stuck", "RPOMissed").await;
    assert_eq!(rpo_met_metric(&env, "stuck").as_deref(), Some("0"));
    // The user fixes the Secret: the child runs, then the slot that waited.
    env.put_secret(
        "late-secret",
        &[("accessKeyId", KEY_ID), ("accessKeySecret", KEY_SECRET)],
    )
    .await;
    wait_for(&jobs, &first, "Succeeded", |c| {
        c.status.as_ref().and_then(|s| s.phase)
            == Some(aliyun_backup_operator::crd::HbrBackupJobPhase::Succeeded)
    })
    .await;
    eventually("the waiting slot's child", || async {
        let n = hbr_children(&env, "stuck").await.len();
        (n == 2).then_some(()).ok_or(format!("{n} children"))
    })
    .await;
    wait_for(&api, "stuck", "Ready again", |s| {
        sched_true(s.status.as_ref(), "Ready")
    })
    .await;
    env.stop_operator().await;
}

/// Issue 30, schedules 8: a trigger value used before makes no child and does not claim one.
#[tokio::test]
async fn a_reused_trigger_value_says_so() {
    let mut env = Env::start().await;
    let _clock = start(&mut env).await;
    let api: Api<RdsBackupSchedule> = env.api();
    api.create(
        &PostParams::default(),
        &rds_schedule("again", json!({ "schedule": "0 0 1 1 *" })),
    )
    .await
    .unwrap();
    wait_for(&api, "again", "status", |s| s.status.is_some()).await;
    for v in ["one", "two"] {
        api.patch("again", &PatchParams::default(), &trigger(v))
            .await
            .unwrap();
        wait_for(&api, "again", "lastTrigger", |s| {
            s.status.as_ref().and_then(|st| st.last_trigger.as_deref()) == Some(v)
        })
        .await;
    }
    let before = wait_children(&env, "again", 2).await;
    let first = before
        .iter()
        .find(|c| {
            c.name_any()
                == aliyun_backup_operator::controller::kinds::schedule::plan::trigger_child_name(
                    "again", "one",
                )
        })
        .unwrap()
        .name_any();
    api.patch("again", &PatchParams::default(), &trigger("one"))
        .await
        .unwrap();
    let events = wait_event(&env, "again", "TriggerAlreadyUsed").await;
    assert!(note_of(&events, "TriggerAlreadyUsed").contains(&first));
    assert_eq!(children(&env, "again").await.len(), 2);
    // "created" was said once for that child (the recorder counts a repeat on one Event).
    let created: Vec<i32> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("TriggeredRunCreated"))
        .filter(|e| e.note.as_deref().is_some_and(|n| n.contains(&first)))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .collect();
    assert_eq!(created, vec![1]);
    env.stop_operator().await;
}
