//! `RdsBackupSchedule` and `HbrBackupSchedule` against kube-sandbox + aliyun-emulator with the
//! real operator. The schedule controller reads a [`ManualClock`] the test moves, so slots
//! minutes apart come at once; backups themselves run in the emulator in real time (2 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aliyun_backup_operator::controller::clock::ManualClock;
use aliyun_backup_operator::controller::schedule::plan::slot_child_name;
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
    clock.advance(Duration::from_secs(60));
    let first = wait_children(&env, "nightly", 1).await.remove(0);
    let slot = jiff::Timestamp::from_second(start_time().as_second() + 50).unwrap();
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
    clock.advance(Duration::from_secs(60));
    let slot = jiff::Timestamp::from_second(start_time().as_second() + 50).unwrap();
    let name = slot_child_name("crashy", slot);
    let child = RdsBackup {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(NS.into()),
            labels: Some([(LABEL_SCHEDULE.to_string(), "crashy".to_string())].into()),
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
    let child_api: Api<RdsBackup> = env.api();
    child_api
        .create(&PostParams::default(), &child)
        .await
        .unwrap();
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
