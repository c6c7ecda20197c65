//! Unit tests of the `RdsBackup` act: what is written after each cloud answer, with a scripted
//! cloud and a recording sink (no API server, no emulator).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::create::Claims;
use super::plan::reasons;
use super::*;
use crate::cloud::CloudError;
use crate::cloud::Product;
use crate::cloud::api::{
    CreateBackupResponse, DeleteBackupResponse, DescribeBackupTasksResponse,
    DescribeBackupsResponse,
};
use crate::cloud::api::{RdsBackup as CloudBackupSet, RdsBackupJob};
use crate::controller::reconcile::testing::{
    Log, Recorder, Script, api_error, settle, timing, true_reason, work,
};
use crate::crd::PendingCreate;
use crate::crd::{RdsBackupSetDetails, RdsBackupSpec, RdsBackupStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;

fn obj(status: Option<RdsBackupStatus>) -> RdsBackup {
    let spec: RdsBackupSpec = serde_json::from_value(serde_json::json!({
        "region": "cn-hangzhou",
        "dbInstanceId": "rm-demo01",
        "deletionPolicy": "Delete",
    }))
    .unwrap();
    let mut o = RdsBackup::new("nightly", spec);
    o.metadata = ObjectMeta {
        name: Some("nightly".into()),
        namespace: Some("ns".into()),
        uid: Some("uid-1".into()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    o.status = status;
    o
}

/// [`obj`] with `backupSetDetails: Record`.
fn recording(status: Option<RdsBackupStatus>) -> RdsBackup {
    let mut o = obj(status);
    o.spec.backup_set_details = RdsBackupSetDetails::Record;
    o
}

fn with_intent() -> RdsBackupStatus {
    RdsBackupStatus {
        phase: Some(RdsBackupPhase::Creating),
        pending_create: Some(PendingCreate {
            token: "t".into(),
            started_at: Time("2026-11-30T10:00:00Z".parse().unwrap()),
        }),
        ..RdsBackupStatus::default()
    }
}

fn tracking(job: &str, cloud_status: &str) -> RdsBackupStatus {
    RdsBackupStatus {
        phase: Some(RdsBackupPhase::Running),
        backup_job_id: Some(job.into()),
        cloud_status: Some(cloud_status.into()),
        start_time: Some(Time(jiff::Timestamp::now())),
        ..RdsBackupStatus::default()
    }
}

fn task(id: &str, status: &str, backup_id: Option<&str>) -> RdsBackupJob {
    RdsBackupJob {
        backup_job_id: id.into(),
        backup_id: backup_id.map(str::to_string),
        backup_status: Some(status.into()),
        job_mode: Some("Manual".into()),
        process: Some(50),
        ..RdsBackupJob::default()
    }
}

fn tasks(items: Vec<RdsBackupJob>) -> DescribeBackupTasksResponse {
    DescribeBackupTasksResponse {
        items,
        ..DescribeBackupTasksResponse::default()
    }
}

fn set(id: &str, store_status: &str) -> CloudBackupSet {
    CloudBackupSet {
        backup_id: id.into(),
        backup_status: Some("Success".into()),
        store_status: Some(store_status.into()),
        backup_mode: Some("Manual".into()),
        backup_start_time: Some("2026-11-30T10:00:30Z".into()),
        backup_end_time: Some("2026-11-30T10:05:00Z".into()),
        backup_method: Some("Physical".into()),
        ..CloudBackupSet::default()
    }
}

fn sets(items: Vec<CloudBackupSet>) -> DescribeBackupsResponse {
    DescribeBackupsResponse {
        items,
        ..DescribeBackupsResponse::default()
    }
}

fn claims(step: Step) -> Claims {
    Claims {
        peers: Peers::default(),
        step,
        adopt: None,
        holder: None,
    }
}

fn reason(status: &RdsBackupStatus) -> String {
    true_reason(&status.conditions).unwrap().1
}

/// `CreateBackup` answers with job `j1`, then the look right after it answers `look`.
fn create_then_look(log: &Log, look: Result<DescribeBackupTasksResponse, CloudError>) -> Script {
    Script::new(log)
        .then(
            "CreateBackup",
            Ok(CreateBackupResponse {
                backup_job_id: "j1".into(),
                ..CreateBackupResponse::default()
            }),
        )
        .then("DescribeBackupTasks", look)
}

fn rds_error(action: &str, status: u16, code: &str) -> CloudError {
    api_error(Product::Rds, action, status, code)
}

async fn create(
    obj: &RdsBackup,
    script: Script,
    claims: Claims,
) -> (Recorder<RdsBackup>, Next, Log) {
    let log = script.log.clone();
    let rec = Recorder::new(&log);
    let mut w = work(obj, &rec);
    let request = validate(&obj.spec).unwrap();
    let outcome = create_or_adopt(&mut w, &script, &request, claims)
        .await
        .unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next, log)
}

#[tokio::test]
async fn the_intent_is_written_before_create_backup_and_the_job_id_after() {
    let log = Log::default();
    let script = create_then_look(&log, Ok(tasks(vec![task("j1", "NoStart", None)])));
    let (rec, next, log) = create(&obj(None), script, claims(Step::Create)).await;
    assert_eq!(
        log.entries(),
        [
            "write",
            "call CreateBackup",
            "call DescribeBackupTasks",
            "write",
            "event BackupCreated"
        ],
        "the intent is written silently; one event says what came of it"
    );
    let writes = rec.writes();
    assert!(writes[0].pending_create.is_some());
    assert_eq!(writes[0].backup_job_id, None);
    assert_eq!(writes[0].phase, Some(RdsBackupPhase::Creating));
    assert_eq!(writes[1].backup_job_id.as_deref(), Some("j1"));
    assert_eq!(writes[1].pending_create, None);
    assert_eq!(writes[1].phase, Some(RdsBackupPhase::Running));
    assert!(matches!(next, Next::After(d) if d == timing().poll_initial));
}

#[tokio::test]
async fn a_task_that_ends_at_once_is_recorded_with_the_create_in_one_write() {
    // Skip (the default): the task's answer is the proof, two calls in all; Record: the set
    // is read too and its details recorded.
    for record in [false, true] {
        let log = Log::default();
        let mut script =
            create_then_look(&log, Ok(tasks(vec![task("j1", "Finished", Some("b1"))])));
        let o = if record {
            script = script.then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
            recording(None)
        } else {
            obj(None)
        };
        let (rec, next, log) = create(&o, script, claims(Step::Create)).await;
        let mut calls = vec!["write", "call CreateBackup", "call DescribeBackupTasks"];
        if record {
            calls.push("call DescribeBackups");
        }
        calls.extend(["write", "event BackupSucceeded"]);
        assert_eq!(log.entries(), calls, "record: {record}");
        let last = rec.writes().pop().unwrap();
        assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
        assert_eq!(last.backup_job_id.as_deref(), Some("j1"));
        assert_eq!(last.backup_id.as_deref(), Some("b1"));
        assert_eq!(last.pending_create, None);
        assert_eq!(last.progress, Some(100));
        assert!(last.completion_time.is_some());
        assert_eq!(last.backup_set.is_some(), record);
        assert_eq!(reason(&last), reasons::BACKUP_SUCCEEDED);
        assert!(matches!(next, Next::After(d) if d == timing().resync));
        assert!(plan::ended(&o.spec, &last), "nothing left to do");
    }
}

#[tokio::test]
async fn a_failed_look_after_the_create_still_records_the_task() {
    for (tasks_answer, sets_answer) in [
        (
            Err(crate::controller::reconcile::testing::timeout(
                Product::Rds,
                "DescribeBackupTasks",
            )),
            None,
        ),
        // Finished, but the set is not listed yet (or its describe fails): created, polled.
        (
            Ok(tasks(vec![task("j1", "Finished", Some("b1"))])),
            Some(Ok(sets(vec![]))),
        ),
        (
            Ok(tasks(vec![task("j1", "Finished", Some("b1"))])),
            Some(Err(rds_error("DescribeBackups", 503, "ServiceUnavailable"))),
        ),
    ] {
        let log = Log::default();
        let mut script = create_then_look(&log, tasks_answer);
        if let Some(answer) = sets_answer {
            script = script.then("DescribeBackups", answer);
        }
        // The cases with a Finished task read the set: Record.
        let (rec, next, log) = create(&recording(None), script, claims(Step::Create)).await;
        assert_eq!(log.entries().last().unwrap(), "event BackupCreated");
        let last = rec.writes().pop().unwrap();
        assert_eq!(last.backup_job_id.as_deref(), Some("j1"));
        assert_eq!(last.phase, Some(RdsBackupPhase::Running));
        assert_eq!(last.pending_create, None);
        assert_eq!(reason(&last), reasons::BACKUP_CREATED);
        assert!(matches!(next, Next::After(d) if d == timing().poll_initial));
    }
}

#[tokio::test]
async fn a_lost_answer_keeps_the_intent() {
    for error in [
        crate::controller::reconcile::testing::timeout(Product::Rds, "CreateBackup"),
        rds_error("CreateBackup", 503, "ServiceUnavailable"),
    ] {
        let log = Log::default();
        let script = Script::new(&log).then::<CreateBackupResponse>("CreateBackup", Err(error));
        let (rec, next, _) = create(&obj(None), script, claims(Step::Create)).await;
        let last = rec.writes().pop().unwrap();
        assert!(last.pending_create.is_some(), "the outcome is unknown");
        assert_eq!(last.backup_job_id, None);
        assert!(matches!(next, Next::Retry(_)));
    }
}

#[tokio::test]
async fn backup_job_exists_on_a_fresh_intent_clears_it_and_backs_off() {
    let log = Log::default();
    let script = Script::new(&log).then::<CreateBackupResponse>(
        "CreateBackup",
        Err(rds_error("CreateBackup", 400, "BackupJobExists")),
    );
    let (rec, next, _) = create(&obj(None), script, claims(Step::Create)).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.pending_create, None, "the call provably did not run");
    assert_eq!(last.phase, Some(RdsBackupPhase::Pending));
    assert_eq!(reason(&last), reasons::WAITING_FOR_RUNNING_BACKUP);
    assert_eq!(last.last_request_id.as_deref(), Some("req-1"));
    assert!(matches!(next, Next::Wait { .. }));
}

#[tokio::test]
async fn a_create_refused_for_good_fails_the_object() {
    let log = Log::default();
    let script = Script::new(&log).then::<CreateBackupResponse>(
        "CreateBackup",
        Err(rds_error(
            "CreateBackup",
            404,
            "InvalidDBInstanceId.NotFound",
        )),
    );
    let (rec, next, _) = create(&obj(None), script, claims(Step::Create)).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Failed));
    assert_eq!(last.pending_create, None);
    assert!(last.completion_time.is_some());
    assert_eq!(reason(&last), reasons::CREATE_REFUSED);
    assert!(matches!(next, Next::After(d) if d == timing().resync));
}

#[tokio::test]
async fn an_unknown_outcome_adopts_our_running_task_without_creating() {
    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupTasks",
        Ok(tasks(vec![task("j9", "Uploading", None)])),
    );
    let o = obj(Some(with_intent()));
    let (rec, _, log) = create(&o, script, claims(Step::Adopt)).await;
    assert_eq!(log.calls(), ["DescribeBackupTasks"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_job_id.as_deref(), Some("j9"));
    assert_eq!(last.pending_create, None);
    assert_eq!(reason(&last), reasons::BACKUP_ADOPTED);
}

#[tokio::test]
async fn a_task_another_object_holds_is_never_adopted() {
    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j9", "Uploading", None)])),
        )
        .then("DescribeBackups", Ok(sets(vec![])))
        .then::<CreateBackupResponse>(
            "CreateBackup",
            Err(rds_error("CreateBackup", 400, "BackupJobExists")),
        )
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j9", "Uploading", None)])),
        )
        .then("DescribeBackups", Ok(sets(vec![])));
    let mut c = claims(Step::Adopt);
    c.peers.claimed_jobs.insert("j9".into());
    let (rec, next, _) = create(&obj(Some(with_intent())), script, c).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_job_id, None);
    assert_eq!(reason(&last), reasons::WAITING_FOR_RUNNING_BACKUP);
    assert!(matches!(next, Next::Wait { after: None, .. }), "{next:?}");
}

#[tokio::test]
async fn an_unknown_outcome_with_an_unclaimed_set_stalls_instead_of_creating() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
    let (rec, next, log) = create(&obj(Some(with_intent())), script, claims(Step::Adopt)).await;
    assert!(!log.calls().contains(&"CreateBackup".to_string()));
    let last = rec.writes().pop().unwrap();
    assert!(last.pending_create.is_some(), "the intent stays");
    assert_eq!(last.backup_id, None, "a set is never adopted on a guess");
    assert_eq!(reason(&last), reasons::CREATE_OUTCOME_UNKNOWN);
    assert!(matches!(next, Next::After(d) if d == timing().error_max));
}

#[tokio::test]
async fn an_unknown_outcome_with_nothing_found_creates_again_under_the_same_intent() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![])))
        .then(
            "CreateBackup",
            Ok(CreateBackupResponse {
                backup_job_id: "j2".into(),
                ..CreateBackupResponse::default()
            }),
        )
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j2", "Uploading", None)])),
        );
    let (rec, _, log) = create(&obj(Some(with_intent())), script, claims(Step::Adopt)).await;
    assert_eq!(
        log.entries(),
        [
            "call DescribeBackupTasks",
            "call DescribeBackups",
            "write",
            "call CreateBackup",
            "call DescribeBackupTasks",
            "write",
            "event BackupCreated"
        ],
        "the intent is renewed (durably) before the create is sent again"
    );
    // Its time moved to this send: the window in which this create's set can start.
    let renewed = rec.writes()[0].pending_create.clone().unwrap();
    assert_eq!(renewed.token, "t", "the same intent");
    assert!(renewed.started_at.0 > with_intent().pending_create.unwrap().started_at.0);
    assert_eq!(rec.writes()[1].backup_job_id.as_deref(), Some("j2"));
}

/// An intent once judged ambiguous is a person's: later evidence (a candidate gone, say) does
/// not resolve it, since other creates on the instance went ahead meanwhile.
#[tokio::test]
async fn an_ambiguous_intent_stays_with_a_person() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
    let mut status = with_intent();
    status
        .conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "Stalled".into(),
            status: "True".into(),
            reason: reasons::CREATE_OUTCOME_UNKNOWN.into(),
            message: "candidates b1, b2".into(),
            last_transition_time: Time(jiff::Timestamp::now()),
            observed_generation: None,
        });
    let mut c = claims(Step::Adopt);
    c.peers.auto_resolve = true;
    let (rec, _, log) = create(&obj(Some(status)), script, c).await;
    assert!(!log.calls().contains(&"CreateBackup".to_string()));
    let last = rec.writes().pop().unwrap_or_else(with_intent);
    assert_eq!(last.backup_id, None);
    assert!(last.pending_create.is_some());
}

/// Issue #26: a lost answer whose task finished unseen is resolved without a person when the
/// evidence names one set: the only unclaimed manual set inside the create's window, made with
/// the create's parameters, while this intent is the only unresolved one on the instance.
#[tokio::test]
async fn a_lost_answer_is_resolved_by_the_one_set_in_the_window() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
    let mut c = claims(Step::Adopt);
    c.peers.auto_resolve = true;
    let (rec, next, log) = create(&obj(Some(with_intent())), script, c).await;
    assert!(!log.calls().contains(&"CreateBackup".to_string()));
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.pending_create, None, "resolved");
    assert_eq!(last.backup_id.as_deref(), Some("b1"));
    assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(reason(&last), reasons::CREATE_OUTCOME_RESOLVED);
    assert!(matches!(next, Next::After(_)));

    // A set outside the window is someone else's: the create did not run, so it is sent.
    let log = Log::default();
    let mut late = set("b9", "Enabled");
    late.backup_start_time = Some("2026-11-30T10:30:00Z".into());
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![late])))
        .then(
            "CreateBackup",
            Ok(CreateBackupResponse {
                backup_job_id: "j3".into(),
                ..CreateBackupResponse::default()
            }),
        )
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j3", "Uploading", None)])),
        );
    let mut c = claims(Step::Adopt);
    c.peers.auto_resolve = true;
    let (rec, _, log) = create(&obj(Some(with_intent())), script, c).await;
    assert!(log.calls().contains(&"CreateBackup".to_string()));
    assert_eq!(
        rec.writes().last().unwrap().backup_job_id.as_deref(),
        Some("j3")
    );
}

#[tokio::test]
async fn waits_while_another_object_on_the_instance_has_an_unresolved_intent() {
    let log = Log::default();
    let mut c = claims(Step::Create);
    c.peers.unresolved = Some("ns/other".into());
    let (rec, next, log) = create(&obj(None), Script::new(&log), c).await;
    assert!(log.calls().is_empty());
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.pending_create, None);
    assert_eq!(reason(&last), reasons::WAITING_FOR_INSTANCE);
    assert!(matches!(next, Next::Wait { .. }));
}

#[tokio::test]
async fn a_finished_task_is_followed_to_its_backup_set() {
    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j1", "Finished", Some("b1"))])),
        )
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
    let o = recording(Some(tracking("j1", "Uploading")));
    let rec = Recorder::new(&log);
    let mut w = work(&o, &rec);
    let outcome = track(&mut w, &script, "j1", None).await.unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(last.backup_id.as_deref(), Some("b1"));
    assert!(last.backup_set.is_some());
    assert_eq!(reason(&last), reasons::BACKUP_SUCCEEDED);
    assert!(matches!(next, Next::After(d) if d == timing().resync));
}

#[tokio::test]
async fn a_finished_task_succeeds_on_its_own_answer_without_reading_the_set() {
    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupTasks",
        Ok(tasks(vec![task("j1", "Finished", Some("b1"))])),
    );
    let o = obj(Some(tracking("j1", "Uploading")));
    let rec = Recorder::new(&log);
    let mut w = work(&o, &rec);
    let outcome = track(&mut w, &script, "j1", None).await.unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    assert_eq!(
        log.entries(),
        ["call DescribeBackupTasks", "write", "event BackupSucceeded"]
    );
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(last.backup_job_id.as_deref(), Some("j1"));
    assert_eq!(last.backup_id.as_deref(), Some("b1"));
    assert_eq!(last.backup_set, None);
    assert_eq!(reason(&last), reasons::BACKUP_SUCCEEDED);
    assert!(matches!(next, Next::After(d) if d == timing().resync));
}

#[tokio::test]
async fn progress_is_written_at_most_once_per_interval_other_changes_at_once() {
    let log = Log::default();
    let rec = Recorder::new(&log);
    let mut o = obj(Some(tracking("j1", "Checking")));
    // Polls: the first change is written; the next, progress only, waits for the interval
    // (production: 60 s); the end is written at once.
    let polls = [
        (task("j1", "Uploading", None), 30, true),
        (task("j1", "Uploading", None), 60, false),
        (task("j1", "Finished", Some("b1")), 100, true),
    ];
    for (mut t, percent, written) in polls {
        t.process = Some(percent);
        let script = Script::new(&log).then("DescribeBackupTasks", Ok(tasks(vec![t])));
        let before = rec.writes().len();
        {
            let mut w = work(&o, &rec);
            let outcome = track(&mut w, &script, "j1", None).await.unwrap();
            settle(&mut w, outcome).await;
        }
        script.assert_done();
        assert_eq!(rec.writes().len() > before, written, "poll at {percent}%");
        if let Some(last) = rec.writes().last() {
            o.status = Some(last.clone());
        }
    }
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(last.progress, Some(100));
}

#[tokio::test]
async fn a_set_not_listed_yet_is_waited_for_never_failed() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackups", Ok(sets(vec![])));
    let mut st = tracking("j1", "Finished");
    st.backup_id = Some("b1".into());
    let o = obj(Some(st));
    let rec = Recorder::new(&log);
    let mut w = work(&o, &rec);
    let outcome = fetch_backup_set(&mut w, &script, "b1").await.unwrap();
    settle(&mut w, outcome).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Running));
    assert_eq!(reason(&last), reasons::WAITING_FOR_BACKUP_SET);
}

// ---- cleanup ----

async fn clean(o: &RdsBackup, script: Script) -> (Recorder<RdsBackup>, Next, Log) {
    let log = script.log.clone();
    let rec = Recorder::new(&log);
    let mut w = work(o, &rec);
    let outcome = act_cleanup(&mut w, &script, Peers::default()).await;
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next, log)
}

fn finished_with_set(backup_id: &str) -> RdsBackupStatus {
    let mut st = tracking("j1", "Finished");
    st.backup_id = Some(backup_id.into());
    st.phase = Some(RdsBackupPhase::Succeeded);
    st
}

#[tokio::test]
async fn cleanup_deletes_our_set_and_says_so() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])))
        .ok::<DeleteBackupResponse>("DeleteBackup");
    let (rec, next, _) = clean(&obj(Some(finished_with_set("b1"))), script).await;
    assert!(matches!(next, Next::Finished));
    assert!(rec.writes().is_empty(), "a finished cleanup writes nothing");
    assert_eq!(rec.event_reasons(), [reasons::BACKUP_DELETED]);
}

#[tokio::test]
async fn cleanup_keeps_a_set_rds_will_not_delete() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackups", Ok(sets(vec![set("b1", "Disabled")])));
    let (rec, next, log) = clean(&obj(Some(finished_with_set("b1"))), script).await;
    assert!(!log.calls().contains(&"DeleteBackup".to_string()));
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(RdsBackupPhase::Deleting));
    assert_eq!(reason(&last), reasons::BACKUP_NOT_DELETABLE);
    assert!(matches!(next, Next::Wait { .. }));
}

#[tokio::test]
async fn cleanup_waits_for_a_running_task_then_deletes_its_set() {
    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupTasks",
        Ok(tasks(vec![task("j1", "Uploading", None)])),
    );
    let (rec, next, _) = clean(&obj(Some(tracking("j1", "Uploading"))), script).await;
    assert_eq!(
        reason(&rec.writes().pop().unwrap()),
        reasons::WAITING_FOR_TASK_TO_END
    );
    assert!(matches!(next, Next::Wait { .. }));

    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "DescribeBackupTasks",
            Ok(tasks(vec![task("j1", "Finished", Some("b7"))])),
        )
        .then("DescribeBackups", Ok(sets(vec![set("b7", "Enabled")])))
        .ok::<DeleteBackupResponse>("DeleteBackup");
    let (_, next, log) = clean(&obj(Some(tracking("j1", "Uploading"))), script).await;
    assert!(matches!(next, Next::Finished));
    assert_eq!(
        log.calls(),
        ["DescribeBackupTasks", "DescribeBackups", "DeleteBackup"]
    );
}

#[tokio::test]
async fn cleanup_of_an_unknown_outcome_deletes_nothing_on_a_guess() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupTasks", Ok(tasks(vec![])))
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])));
    let (rec, next, log) = clean(&obj(Some(with_intent())), script).await;
    assert!(matches!(next, Next::Finished));
    assert!(!log.calls().contains(&"DeleteBackup".to_string()));
    assert_eq!(rec.event_reasons(), [reasons::CLOUD_CLEANUP_SKIPPED]);
    assert!(rec.event_notes()[0].contains("b1"));
}

#[tokio::test]
async fn cleanup_retries_a_failed_delete_and_keeps_the_finalizer() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackups", Ok(sets(vec![set("b1", "Enabled")])))
        .then::<DeleteBackupResponse>(
            "DeleteBackup",
            Err(rds_error("DeleteBackup", 400, "InvalidParameter")),
        );
    let (rec, next, _) = clean(&obj(Some(finished_with_set("b1"))), script).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), "CloudRequestRejected");
    assert!(true_reason(&last.conditions).unwrap().0 == "Stalled");
    assert!(
        matches!(next, Next::Wait { .. }),
        "a terminal error keeps the finalizer: {next:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

fn adopting(job: Option<&str>, set: Option<&str>) -> RdsBackup {
    let mut o = obj(None);
    o.spec.backup_job_id = job.map(str::to_string);
    o.spec.backup_id = set.map(str::to_string);
    o
}

async fn adopt(
    o: &RdsBackup,
    script: Script,
    holder: Option<&str>,
    peers: Peers,
) -> (Recorder<RdsBackup>, Next, Log) {
    let log = script.log.clone();
    let rec = Recorder::new(&log);
    let mut w = work(o, &rec);
    let step = plan::plan_spec(&o.spec, o.status.as_ref());
    let claims = Claims {
        peers,
        step,
        adopt: None,
        holder: holder.map(crate::controller::reconcile::adoption::Claim::from),
    };
    let outcome = adopt_existing(&mut w, &script, claims).await.unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next, log)
}

#[tokio::test]
async fn an_adopted_task_is_recorded_and_tracked_without_a_create() {
    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupTasks",
        Ok(tasks(vec![task("42", "Uploading", None)])),
    );
    let (rec, next, log) = adopt(&adopting(Some("42"), None), script, None, Peers::default()).await;
    assert_eq!(log.calls(), ["DescribeBackupTasks"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_job_id.as_deref(), Some("42"));
    assert_eq!(last.pending_create, None);
    assert_eq!(last.phase, Some(RdsBackupPhase::Running));
    assert_eq!(reason(&last), reasons::BACKUP_RUNNING);
    assert!(matches!(next, Next::After(_)));
}

#[tokio::test]
async fn a_held_id_is_refused_without_a_call_and_nothing_is_recorded() {
    let log = Log::default();
    let (rec, _, log) = adopt(
        &adopting(Some("42"), None),
        Script::new(&log),
        Some("other/first"),
        Peers::default(),
    )
    .await;
    assert!(log.calls().is_empty());
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_job_id, None);
    assert_eq!(last.backup_id, None);
    assert_eq!(reason(&last), reasons::ADOPTION_REFUSED);
    let stalled =
        crate::controller::reconcile::conditions::find(&last.conditions, "Stalled").unwrap();
    assert!(
        stalled.message.contains("other/first"),
        "{}",
        stalled.message
    );
}

#[tokio::test]
async fn a_task_or_set_the_cloud_does_not_know_stalls() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackupTasks", Ok(tasks(vec![])));
    let (rec, _, _) = adopt(&adopting(Some("42"), None), script, None, Peers::default()).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::TASK_NOT_FOUND);
    assert_eq!(last.backup_job_id, None);

    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackups", Ok(sets(vec![])));
    let (rec, _, _) = adopt(&adopting(None, Some("b-1")), script, None, Peers::default()).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::BACKUP_SET_NOT_FOUND);
    assert_eq!(last.backup_id, None);
}

#[tokio::test]
async fn an_adopted_set_is_recorded_and_succeeds() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackups", Ok(sets(vec![set("b-1", "Enabled")])));
    let (rec, _, log) = adopt(&adopting(None, Some("b-1")), script, None, Peers::default()).await;
    assert_eq!(log.calls(), ["DescribeBackups"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.backup_id.as_deref(), Some("b-1"));
    assert_eq!(last.backup_job_id, None);
    assert_eq!(last.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(reason(&last), reasons::BACKUP_SUCCEEDED);
}

#[tokio::test]
async fn a_set_produced_by_another_objects_task_is_refused() {
    let log = Log::default();
    let script = Script::new(&log).then(
        "DescribeBackupTasks",
        Ok(tasks(vec![task("7", "Finished", Some("b-1"))])),
    );
    let peers = Peers {
        claimed_jobs: ["7".to_string()].into(),
        open_jobs: vec!["7".into()],
        ..Peers::default()
    };
    let (rec, _, log) = adopt(&adopting(None, Some("b-1")), script, None, peers).await;
    assert_eq!(log.calls(), ["DescribeBackupTasks"], "no DescribeBackups");
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::ADOPTION_REFUSED);
    assert_eq!(last.backup_id, None);
}
