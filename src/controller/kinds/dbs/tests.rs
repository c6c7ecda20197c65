//! Unit tests of the `DbsBackupPlan` act: what is written after each cloud answer, with a
//! scripted cloud and a recording sink (no API server, no emulator).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::plan::tests::{observed, spec};
use super::*;
use crate::cloud::Product;
use crate::cloud::api::dbs::{
    CreateAndStartBackupPlanResponse, DescribeBackupPlanListResponse, ReleaseBackupPlanResponse,
};
use crate::controller::reconcile::testing::{
    Log, Recorder, Script, api_error, settle, timing, true_reason, work,
};
use kube::api::ObjectMeta;

fn obj(status: Option<DbsBackupPlanStatus>) -> DbsBackupPlan {
    let mut s = spec();
    s.deletion_policy = Some(crate::crd::DeletionPolicy::Delete);
    let mut o = DbsBackupPlan::new("orders", s);
    o.metadata = ObjectMeta {
        name: Some("orders".into()),
        namespace: Some("ns".into()),
        uid: Some("uid-1".into()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    o.status = status;
    o
}

fn password() -> PasswordRead {
    Ok(Some(Password {
        value: Secret::new("canary-password-1234".to_string()),
        version: "uid/1".into(),
    }))
}

fn loaded(password: PasswordRead, claimed: &[&str]) -> Loaded {
    Loaded {
        password,
        claimed: claimed.iter().map(|c| c.to_string()).collect(),
        current_password: None,
        holder: None,
    }
}

fn with_intent() -> DbsBackupPlanStatus {
    DbsBackupPlanStatus {
        phase: Some(DbsBackupPlanPhase::Creating),
        pending_create: Some(PendingCreate {
            token: "tok".into(),
            started_at: Time(jiff::Timestamp::from_second(1_700_000_000).unwrap()),
        }),
        ..DbsBackupPlanStatus::default()
    }
}

fn reason(status: &DbsBackupPlanStatus) -> String {
    true_reason(&status.conditions).unwrap().1
}

fn created(id: &str) -> CreateAndStartBackupPlanResponse {
    CreateAndStartBackupPlanResponse {
        backup_plan_id: id.into(),
        ..CreateAndStartBackupPlanResponse::default()
    }
}

async fn run(
    o: &DbsBackupPlan,
    script: &Script,
    step: Step,
    loaded: Loaded,
) -> (Recorder<DbsBackupPlan>, Next) {
    let rec = Recorder::new(&script.log);
    let mut w = work(o, &rec);
    let desired = plan::validate(&o.spec).unwrap();
    let outcome = act(&mut w, script, step, &desired, None, loaded)
        .await
        .unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next)
}

#[tokio::test]
async fn create_writes_intent_then_applied_config_then_plan_id() {
    let log = Log::default();
    let script = Script::new(&log).then("CreateAndStartBackupPlan", Ok(created("dbs-9")));
    let (rec, next) = run(
        &obj(None),
        &script,
        Step::RecordIntent,
        loaded(password(), &[]),
    )
    .await;
    assert_eq!(
        log.entries(),
        [
            "write",
            "call CreateAndStartBackupPlan",
            "annotate",
            "write",
            "event PlanCreated"
        ],
        "the fingerprint is recorded before the plan id (a crash in between re-sends the token)"
    );
    let writes = rec.writes();
    let token = writes[0].pending_create.as_ref().unwrap().token.clone();
    assert_eq!(
        writes[0].observed_generation, None,
        "held until the push is done"
    );
    assert_eq!(writes[1].backup_plan_id.as_deref(), Some("dbs-9"));
    assert_eq!(writes[1].pending_create, None);
    assert_eq!(writes[1].observed_generation, Some(1));
    assert!(rec.annotations()[0][plan::ANNOTATION_APPLIED_CONFIG].is_string());
    assert_eq!(
        rec.annotations()[0][plan::ANNOTATION_APPLIED_PASSWORD],
        "uid/1"
    );
    let request = script.requests.lock().unwrap()[0].clone();
    assert!(
        request.contains(&token),
        "the intent's token is the ClientToken"
    );
    assert!(
        !request.contains("canary-password-1234"),
        "the request's Debug hides the password"
    );
    assert!(matches!(next, Next::After(d) if d == timing().poll_initial));
    for w in rec.writes() {
        let text = serde_json::to_string(&w).unwrap();
        assert!(!text.contains("canary-password-1234"));
    }
}

#[tokio::test]
async fn a_password_problem_stalls_without_a_cloud_call() {
    let log = Log::default();
    let problem = plan::password_from_secret(
        "ns",
        spec().source.password_secret_ref.as_ref().unwrap(),
        None,
    )
    .unwrap_err();
    let script = Script::new(&log);
    let (rec, next) = run(
        &obj(None),
        &script,
        Step::RecordIntent,
        loaded(Err(problem), &[]),
    )
    .await;
    assert_eq!(log.calls(), Vec::<String>::new());
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::PASSWORD_SECRET_NOT_FOUND);
    assert!(matches!(next, Next::After(d) if d == timing().error_max));
}

#[tokio::test]
async fn an_unknown_outcome_never_adopts_a_plan_another_object_holds() {
    let log = Log::default();
    let mut theirs = observed("running");
    theirs.backup_plan_id = "dbs-theirs".into();
    theirs.database_type = Some("MySQL".into());
    theirs.backup_plan_create_time = Some(1_700_000_100_000);
    let script = Script::new(&log)
        .then(
            "DescribeBackupPlanList",
            Ok(DescribeBackupPlanListResponse {
                items: vec![theirs],
                ..DescribeBackupPlanListResponse::default()
            }),
        )
        .then("CreateAndStartBackupPlan", Ok(created("dbs-mine")));
    let step = Step::Create {
        token: "tok".into(),
    };
    let (rec, _) = run(
        &obj(Some(with_intent())),
        &script,
        step,
        loaded(password(), &["dbs-theirs"]),
    )
    .await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_plan_id.as_deref(), Some("dbs-mine"));
    assert_eq!(reason(&last), reasons::PLAN_CREATED);
}

#[tokio::test]
async fn an_unknown_outcome_adopts_our_unclaimed_plan() {
    let log = Log::default();
    let mut ours = observed("running");
    ours.database_type = Some("MySQL".into());
    ours.backup_plan_create_time = Some(1_700_000_100_000);
    let script = Script::new(&log).then(
        "DescribeBackupPlanList",
        Ok(DescribeBackupPlanListResponse {
            items: vec![ours],
            ..DescribeBackupPlanListResponse::default()
        }),
    );
    let step = Step::Create {
        token: "tok".into(),
    };
    let (rec, _) = run(
        &obj(Some(with_intent())),
        &script,
        step,
        loaded(password(), &[]),
    )
    .await;
    assert_eq!(log.calls(), ["DescribeBackupPlanList"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_plan_id.as_deref(), Some("dbs-1"));
    assert_eq!(reason(&last), reasons::PLAN_ADOPTED);
}

#[tokio::test]
async fn a_create_refused_for_good_fails_until_the_spec_changes() {
    let log = Log::default();
    let script = Script::new(&log).then::<CreateAndStartBackupPlanResponse>(
        "CreateAndStartBackupPlan",
        Err(api_error(
            Product::Dbs,
            "CreateAndStartBackupPlan",
            400,
            "InvalidParameter",
        )),
    );
    let (rec, _) = run(
        &obj(None),
        &script,
        Step::RecordIntent,
        loaded(password(), &[]),
    )
    .await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(DbsBackupPlanPhase::Failed));
    assert_eq!(last.pending_create, None);
    assert_eq!(
        reason(&last),
        crate::controller::reconcile::work::reasons::CREATE_REFUSED
    );
    assert!(rec.annotations().is_empty());
}

#[tokio::test]
async fn cleanup_releases_the_plan_and_a_gone_plan_is_done() {
    for reply in [
        Ok(ReleaseBackupPlanResponse::default()),
        Err(api_error(
            Product::Dbs,
            "ReleaseBackupPlan",
            400,
            "InvalidJobId",
        )),
    ] {
        let log = Log::default();
        let script = Script::new(&log).then("ReleaseBackupPlan", reply);
        let st = DbsBackupPlanStatus {
            backup_plan_id: Some("dbs-1".into()),
            ..DbsBackupPlanStatus::default()
        };
        let o = obj(Some(st));
        let rec = Recorder::new(&log);
        let mut w = work(&o, &rec);
        let step = CleanupStep::Release {
            plan_id: "dbs-1".into(),
        };
        let outcome = act_cleanup(&mut w, &script, step, &HashSet::new()).await;
        let next = settle(&mut w, outcome).await;
        assert!(matches!(next, Next::Finished));
        assert_eq!(rec.event_reasons(), [reasons::RELEASED]);
    }
}

#[tokio::test]
async fn cleanup_keeps_the_finalizer_when_release_fails() {
    let log = Log::default();
    let script = Script::new(&log).then::<ReleaseBackupPlanResponse>(
        "ReleaseBackupPlan",
        Err(api_error(
            Product::Dbs,
            "ReleaseBackupPlan",
            503,
            "ServiceUnavailable",
        )),
    );
    let o = obj(None);
    let rec = Recorder::new(&log);
    let mut w = work(&o, &rec);
    let step = CleanupStep::Release {
        plan_id: "dbs-1".into(),
    };
    let outcome = act_cleanup(&mut w, &script, step, &HashSet::new()).await;
    let next = settle(&mut w, outcome).await;
    assert!(matches!(next, Next::Retry(_)));
    assert!(rec.event_reasons().is_empty());
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

fn adopting(policy: crate::crd::ManagementPolicy) -> DbsBackupPlan {
    let mut o = obj(None);
    o.spec.backup_plan_id = Some("dbs-1".into());
    o.spec.management_policy = policy;
    o
}

fn listed(status: &str) -> DescribeBackupPlanListResponse {
    DescribeBackupPlanListResponse {
        items: vec![observed(status)],
        ..DescribeBackupPlanListResponse::default()
    }
}

fn adopt_step() -> Step {
    Step::AdoptExisting {
        plan_id: "dbs-1".into(),
    }
}

#[tokio::test]
async fn a_configured_plan_is_recorded_without_a_write_to_the_cloud() {
    for policy in [
        crate::crd::ManagementPolicy::Manage,
        crate::crd::ManagementPolicy::ObserveOnly,
    ] {
        let log = Log::default();
        let script = Script::new(&log).then("DescribeBackupPlanList", Ok(listed("running")));
        let (rec, _) = run(
            &adopting(policy),
            &script,
            adopt_step(),
            loaded(Ok(None), &[]),
        )
        .await;
        assert_eq!(log.calls(), ["DescribeBackupPlanList"], "{policy:?}");
        assert!(rec.annotations().is_empty());
        let last = rec.writes().pop().unwrap();
        assert_eq!(last.backup_plan_id.as_deref(), Some("dbs-1"));
        assert_eq!(last.pending_create, None);
        assert_eq!(last.phase, Some(DbsBackupPlanPhase::Running));
        let expected = if policy.is_observe_only() {
            reasons::PLAN_RUNNING
        } else {
            reasons::PLAN_ADOPTED
        };
        assert_eq!(reason(&last), expected);
    }
}

#[tokio::test]
async fn a_managed_unconfigured_plan_is_configured_and_started() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupPlanList", Ok(listed("wait")))
        .then("CreateAndStartBackupPlan", Ok(created("dbs-1")));
    let (rec, _) = run(
        &adopting(crate::crd::ManagementPolicy::Manage),
        &script,
        adopt_step(),
        loaded(password(), &[]),
    )
    .await;
    assert_eq!(
        log.calls(),
        ["DescribeBackupPlanList", "CreateAndStartBackupPlan"]
    );
    assert!(script.requests.lock().unwrap()[1].contains("dbs-1"));
    let writes = rec.writes();
    assert!(writes[0].pending_create.is_some(), "the intent first");
    assert_eq!(writes[1].backup_plan_id.as_deref(), Some("dbs-1"));
}

#[tokio::test]
async fn a_held_or_unknown_plan_is_not_recorded() {
    let log = Log::default();
    let script = Script::new(&log);
    let mut l = loaded(password(), &[]);
    l.holder = Some("ns/first".into());
    let (rec, _) = run(
        &adopting(crate::crd::ManagementPolicy::Manage),
        &script,
        adopt_step(),
        l,
    )
    .await;
    assert!(log.calls().is_empty());
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::ADOPTION_REFUSED);
    assert_eq!(last.backup_plan_id, None);

    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupPlanList",
        Ok(DescribeBackupPlanListResponse::default()),
    );
    let (rec, _) = run(
        &adopting(crate::crd::ManagementPolicy::Manage),
        &script,
        adopt_step(),
        loaded(password(), &[]),
    )
    .await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::PLAN_NOT_FOUND);
    assert_eq!(last.backup_plan_id, None);
}
