//! Unit tests of the `HbrBackupJob` act: what is written after each cloud answer, with a
//! scripted cloud and a recording sink (no API server, no emulator).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::plan::reasons;
use super::plan::tests::{UID, job, udm};
use super::*;
use crate::cloud::Product;
use crate::cloud::api::hbr::{
    CancelBackupJobResponse, CreateBackupJobResponse, DeleteSnapshotResponse,
    DescribeBackupJobs2Response, DescribeUdmSnapshotsResponse, UdmSnapshot,
};
use crate::controller::reconcile::testing::{
    Log, Recorder, Script, settle, timeout, timing, true_reason, work,
};
use crate::crd::HbrBackupJobStatus;
use crate::crd::PendingCreate;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;

fn obj(status: Option<HbrBackupJobStatus>) -> HbrBackupJob {
    let mut o = HbrBackupJob::new("web", udm());
    o.metadata = ObjectMeta {
        name: Some("web".into()),
        namespace: Some("ns".into()),
        uid: Some(UID.into()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    o.status = status;
    o
}

fn jobs(items: Vec<CloudJob>) -> DescribeBackupJobs2Response {
    DescribeBackupJobs2Response {
        total_count: items.len() as i64,
        backup_jobs: items,
        ..DescribeBackupJobs2Response::default()
    }
}

fn with_intent() -> HbrBackupJobStatus {
    HbrBackupJobStatus {
        phase: Some(HbrBackupJobPhase::Creating),
        job_name: Some(format!("web-server-full-{UID}")),
        pending_create: Some(PendingCreate {
            token: "t".into(),
            started_at: Time(jiff::Timestamp::now()),
        }),
        ..HbrBackupJobStatus::default()
    }
}

fn running() -> HbrBackupJobStatus {
    HbrBackupJobStatus {
        phase: Some(HbrBackupJobPhase::Running),
        job_id: Some("job-1".into()),
        job_name: Some(format!("web-server-full-{UID}")),
        cloud_status: Some("RUNNING".into()),
        start_time: Some(Time(jiff::Timestamp::now())),
        ..HbrBackupJobStatus::default()
    }
}

fn reason(status: &HbrBackupJobStatus) -> String {
    true_reason(&status.conditions).unwrap().1
}

async fn run(o: &HbrBackupJob, script: Script, step: Step) -> (Recorder<HbrBackupJob>, Next) {
    let rec = Recorder::new(&script.log);
    let mut w = work(o, &rec);
    let request = plan::validate(&o.spec, "web", UID).unwrap();
    let outcome = act(&mut w, &script, step, &request, None).await.unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next)
}

#[tokio::test]
async fn the_intent_and_job_name_are_written_before_create_backup_job() {
    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "CreateBackupJob",
            Ok(CreateBackupJobResponse {
                job_id: "job-1".into(),
                ..CreateBackupJobResponse::default()
            }),
        )
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("RUNNING")])));
    let (rec, next) = run(&obj(None), script, Step::RecordIntent).await;
    assert_eq!(
        log.entries(),
        [
            "write",
            "call CreateBackupJob",
            "call DescribeBackupJobs2",
            "write",
            "event BackupRunning"
        ],
        "the intent is written silently; one event says what came of it"
    );
    let writes = rec.writes();
    assert!(writes[0].pending_create.is_some());
    assert!(writes[0].job_name.as_deref().unwrap().ends_with(UID));
    assert_eq!(writes[1].job_id.as_deref(), Some("job-1"));
    assert_eq!(writes[1].pending_create, None);
    assert!(matches!(next, Next::After(d) if d == timing().poll_initial));
}

#[tokio::test]
async fn a_job_that_ends_at_once_is_recorded_with_the_create_in_one_write() {
    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "CreateBackupJob",
            Ok(CreateBackupJobResponse {
                job_id: "job-1".into(),
                ..CreateBackupJobResponse::default()
            }),
        )
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("COMPLETE")])))
        .then(
            "DescribeUdmSnapshots",
            Ok(DescribeUdmSnapshotsResponse {
                total_count: 1,
                snapshots: vec![UdmSnapshot {
                    snapshot_id: "s-1".into(),
                    job_id: Some("job-1".into()),
                    ..UdmSnapshot::default()
                }],
                ..DescribeUdmSnapshotsResponse::default()
            }),
        );
    let (rec, _) = run(&obj(None), script, Step::RecordIntent).await;
    assert_eq!(
        log.entries(),
        [
            "write",
            "call CreateBackupJob",
            "call DescribeBackupJobs2",
            "call DescribeUdmSnapshots",
            "write",
            "event BackupSucceeded"
        ]
    );
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Succeeded));
    assert_eq!(last.job_id.as_deref(), Some("job-1"));
    assert_eq!(last.snapshot_ids, vec!["s-1".to_string()]);
    assert_eq!(last.pending_create, None);
}

#[tokio::test]
async fn a_failed_look_after_the_create_still_records_the_job() {
    let log = Log::default();
    let script = Script::new(&log)
        .then(
            "CreateBackupJob",
            Ok(CreateBackupJobResponse {
                job_id: "job-1".into(),
                ..CreateBackupJobResponse::default()
            }),
        )
        .then::<DescribeBackupJobs2Response>(
            "DescribeBackupJobs2",
            Err(timeout(Product::Hbr, "DescribeBackupJobs2")),
        );
    let (rec, next) = run(&obj(None), script, Step::RecordIntent).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.job_id.as_deref(), Some("job-1"));
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Running));
    assert_eq!(last.pending_create, None);
    assert!(matches!(next, Next::After(d) if d == timing().poll_initial));
}

#[tokio::test]
async fn a_lost_create_answer_keeps_the_intent_for_the_search_by_name() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupJobs2", Ok(jobs(vec![])))
        .then::<CreateBackupJobResponse>(
            "CreateBackupJob",
            Err(timeout(Product::Hbr, "CreateBackupJob")),
        );
    let (rec, next) = run(&obj(Some(with_intent())), script, Step::RecoverOrCreate).await;
    let last = rec.writes().pop().unwrap();
    assert!(last.pending_create.is_some());
    assert_eq!(last.job_id, None);
    assert!(matches!(next, Next::Retry(_)));
}

#[tokio::test]
async fn a_job_found_by_name_is_adopted_and_not_created_again() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackupJobs2", Ok(jobs(vec![job("RUNNING")])));
    let (rec, _) = run(&obj(Some(with_intent())), script, Step::RecoverOrCreate).await;
    assert_eq!(log.calls(), ["DescribeBackupJobs2"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.job_id.as_deref(), Some("job-1"));
    assert_eq!(last.pending_create, None);
    assert_eq!(reason(&last), reasons::JOB_ADOPTED);
}

#[tokio::test]
async fn a_completed_job_records_its_snapshots_and_succeeds() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("COMPLETE")])))
        .then(
            "DescribeUdmSnapshots",
            Ok(DescribeUdmSnapshotsResponse {
                total_count: 1,
                snapshots: vec![UdmSnapshot {
                    snapshot_id: "s-1".into(),
                    job_id: Some("job-1".into()),
                    ..UdmSnapshot::default()
                }],
                ..DescribeUdmSnapshotsResponse::default()
            }),
        );
    let step = Step::Track {
        job_id: "job-1".into(),
    };
    let (rec, next) = run(&obj(Some(running())), script, step).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Succeeded));
    assert_eq!(last.snapshot_ids, ["s-1"]);
    assert_eq!(reason(&last), reasons::BACKUP_SUCCEEDED);
    assert!(matches!(next, Next::After(d) if d == timing().resync));
}

#[tokio::test]
async fn a_failed_snapshot_lookup_still_records_the_outcome_first() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("COMPLETE")])))
        .then::<DescribeUdmSnapshotsResponse>(
            "DescribeUdmSnapshots",
            Err(timeout(Product::Hbr, "DescribeUdmSnapshots")),
        );
    let step = Step::Track {
        job_id: "job-1".into(),
    };
    let (rec, next) = run(&obj(Some(running())), script, step).await;
    let writes = rec.writes();
    assert_eq!(writes[0].phase, Some(HbrBackupJobPhase::Succeeded));
    assert!(matches!(next, Next::Retry(_)));
}

// ---- cleanup ----

async fn clean(o: &HbrBackupJob, script: Script) -> (Recorder<HbrBackupJob>, Next) {
    let rec = Recorder::new(&script.log);
    let mut w = work(o, &rec);
    let delete = w.obj.spec.deletion_policy == Some(crate::crd::DeletionPolicy::Delete);
    let outcome = act_cleanup(&mut w, &script, delete).await;
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next)
}

#[tokio::test]
async fn cleanup_cancels_a_running_job_and_waits() {
    let log = Log::default();
    let script = Script::new(&log)
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("RUNNING")])))
        .ok::<CancelBackupJobResponse>("CancelBackupJob");
    let (rec, next) = clean(&obj(Some(running())), script).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Deleting));
    assert_eq!(reason(&last), reasons::CANCELLING);
    assert!(matches!(next, Next::Wait { .. }));
}

#[tokio::test]
async fn cleanup_deletes_the_snapshots_of_an_ended_job() {
    let log = Log::default();
    let mut st = running();
    st.phase = Some(HbrBackupJobPhase::Succeeded);
    st.cloud_status = Some("COMPLETE".into());
    st.snapshot_ids = vec!["s-1".into(), "s-2".into()];
    let script = Script::new(&log)
        .then("DescribeBackupJobs2", Ok(jobs(vec![job("COMPLETE")])))
        .ok::<DeleteSnapshotResponse>("DeleteSnapshot")
        .ok::<DeleteSnapshotResponse>("DeleteSnapshot");
    let (rec, next) = clean(&obj(Some(st)), script).await;
    assert!(matches!(next, Next::Finished));
    assert_eq!(rec.event_reasons(), [reasons::SNAPSHOTS_DELETED]);
    assert_eq!(
        log.calls(),
        ["DescribeBackupJobs2", "DeleteSnapshot", "DeleteSnapshot"]
    );
}

#[tokio::test]
async fn cleanup_of_an_intent_with_no_job_found_lets_go() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackupJobs2", Ok(jobs(vec![])));
    let (rec, next) = clean(&obj(Some(with_intent())), script).await;
    assert!(matches!(next, Next::Finished));
    assert!(rec.writes().is_empty());
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

async fn adopt(
    o: &HbrBackupJob,
    script: Script,
    holder: Option<&str>,
) -> (Recorder<HbrBackupJob>, Next) {
    let rec = Recorder::new(&script.log);
    let mut w = work(o, &rec);
    let outcome = adopt_existing(
        &mut w,
        &script,
        "job-1",
        holder.map(crate::controller::reconcile::adoption::Claim::from),
    )
    .await
    .unwrap();
    let next = settle(&mut w, outcome).await;
    script.assert_done();
    (rec, next)
}

fn adopting() -> HbrBackupJob {
    let mut o = obj(None);
    o.spec.job_id = Some("job-1".into());
    o
}

#[tokio::test]
async fn an_adopted_job_is_recorded_and_tracked_without_a_create() {
    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackupJobs2", Ok(jobs(vec![job("RUNNING")])));
    let (rec, next) = adopt(&adopting(), script, None).await;
    assert_eq!(log.calls(), ["DescribeBackupJobs2"]);
    let last = rec.writes().pop().unwrap();
    assert_eq!(last.job_id.as_deref(), Some("job-1"));
    assert_eq!(last.pending_create, None);
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Running));
    assert_eq!(reason(&last), reasons::BACKUP_RUNNING);
    assert!(matches!(next, Next::After(_)));
}

#[tokio::test]
async fn a_held_or_unknown_job_is_not_recorded() {
    let log = Log::default();
    let (rec, _) = adopt(&adopting(), Script::new(&log), Some("ns/first")).await;
    assert!(log.calls().is_empty());
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::ADOPTION_REFUSED);
    assert_eq!(last.job_id, None);

    let log = Log::default();
    let script = Script::new(&log).then("DescribeBackupJobs2", Ok(jobs(vec![])));
    let (rec, _) = adopt(&adopting(), script, None).await;
    let last = rec.writes().pop().unwrap();
    assert_eq!(reason(&last), reasons::JOB_NOT_FOUND);
    assert_eq!(last.job_id, None);
    assert!(matches!(
        crate::controller::reconcile::conditions::find(&last.conditions, "Stalled"),
        Some(c) if c.status == "True"
    ));
}

#[tokio::test]
async fn a_job_the_cloud_reports_not_found_is_waited_for_as_not_listed() {
    let log = Log::default();
    let script = Script::new(&log).then::<DescribeBackupJobs2Response>(
        "DescribeBackupJobs2",
        Err(crate::controller::reconcile::testing::api_error(
            Product::Hbr,
            "DescribeBackupJobs2",
            404,
            "JobId.NotFound",
        )),
    );
    let step = Step::Track {
        job_id: "job-1".into(),
    };
    let (rec, next) = run(&obj(Some(running())), script, step).await;
    let last = rec.writes().pop().unwrap();
    // Seconds after the create: the list may lag, so it is waited for, not failed.
    assert_eq!(reason(&last), reasons::JOB_NOT_FOUND);
    assert_eq!(last.phase, Some(HbrBackupJobPhase::Running));
    assert!(matches!(next, Next::After(d) if d == timing().wait));
}

/// The one snapshot lookup (the backup kind's ids, `HbrRestoreJob`'s snapshot) pages through
/// `SearchHistoricalSnapshots` until the job's snapshot shows up: a vault with more snapshots
/// than one page still finds it, with the hash a restore needs.
#[tokio::test]
async fn ecs_file_snapshot_lookup_pages_until_the_jobs_snapshot() {
    use crate::cloud::api::hbr::{HistoricalSnapshot, SearchHistoricalSnapshotsResponse};
    let mut spec = udm();
    spec.source_type = crate::crd::HbrSourceType::EcsFile;
    spec.vault_id = Some("v-1".into());
    let other = |n: usize| HistoricalSnapshot {
        snapshot_id: format!("s-other-{n}"),
        job_id: Some("job-other".into()),
        ..HistoricalSnapshot::default()
    };
    let page1 = SearchHistoricalSnapshotsResponse {
        snapshots: (0..100).map(other).collect(),
        next_token: Some("t2".into()),
        ..SearchHistoricalSnapshotsResponse::default()
    };
    let page2 = SearchHistoricalSnapshotsResponse {
        snapshots: vec![HistoricalSnapshot {
            snapshot_id: "s-mine".into(),
            snapshot_hash: Some("h-mine".into()),
            job_id: Some("job-1".into()),
            instance_id: Some("i-demo01".into()),
            ..HistoricalSnapshot::default()
        }],
        ..SearchHistoricalSnapshotsResponse::default()
    };
    let log = Log::default();
    let cloud = Script::new(&log)
        .then("SearchHistoricalSnapshots", Ok(page1))
        .then("SearchHistoricalSnapshots", Ok(page2));
    let found =
        super::snapshots::job_snapshots(&cloud, &spec, "job-1", 1_700_000_000, 1_700_000_900)
            .await
            .unwrap();
    cloud.assert_done();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, "s-mine");
    assert_eq!(found[0].hash.as_deref(), Some("h-mine"));
    assert_eq!(found[0].vault_id.as_deref(), Some("v-1"), "the job's vault");
    let requests = cloud.requests.lock().unwrap().clone();
    assert!(
        requests[1].contains("t2"),
        "the second page asks with the token: {requests:?}"
    );

    // Not there at all: every page is read, nothing is found, no error.
    let cloud = Script::new(&log).then(
        "SearchHistoricalSnapshots",
        Ok(SearchHistoricalSnapshotsResponse {
            snapshots: vec![other(0)],
            ..SearchHistoricalSnapshotsResponse::default()
        }),
    );
    let none =
        super::snapshots::job_snapshots(&cloud, &spec, "job-1", 1_700_000_000, 1_700_000_900)
            .await
            .unwrap();
    cloud.assert_done();
    assert!(none.is_empty());
}
