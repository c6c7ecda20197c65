//! Unit tests of the pure parts of the `RdsBackup` controller.

use super::*;
use crate::cloud::CloudError;
use crate::cloud::api::{RdsBackup as CloudBackupSet, RdsBackupJob};
use crate::controller::Timing;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::times;
use crate::crd::{ANNOTATION_ADOPT_BACKUP_ID, RdsBackup, RdsBackupSet};
use crate::crd::{PendingCreate, RdsBackupType, create_token};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;
use std::time::Duration;

fn spec() -> RdsBackupSpec {
    serde_json::from_value(serde_json::json!({
        "region": "cn-hangzhou",
        "dbInstanceId": "rm-demo01",
    }))
    .unwrap()
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn obj(name: &str, uid: &str, spec: RdsBackupSpec, status: Option<RdsBackupStatus>) -> RdsBackup {
    let mut o = RdsBackup::new(name, spec);
    o.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        uid: Some(uid.into()),
        ..ObjectMeta::default()
    };
    o.status = status;
    o
}

fn task(id: &str, status: &str, process: i64) -> RdsBackupJob {
    RdsBackupJob {
        backup_job_id: id.into(),
        backup_status: Some(status.into()),
        backup_progress_status: Some(status.into()),
        job_mode: Some("Manual".into()),
        process: Some(process),
        ..RdsBackupJob::default()
    }
}

// ---- validate ----

#[test]
fn validate_builds_request_with_defaults() {
    let r = validate(&spec()).unwrap();
    assert_eq!(r.db_instance_id, "rm-demo01");
    assert_eq!(r.backup_method.as_deref(), Some("Physical"));
    assert_eq!(r.backup_strategy, None);
    assert!(r.db_names.is_empty());
    assert_eq!(r.backup_retention_period, None);
}

#[test]
fn validate_db_strategy_and_names() {
    let mut s = spec();
    s.backup_method = RdsBackupMethod::Logical;
    s.backup_strategy = Some(RdsBackupStrategy::Db);
    assert!(validate(&s).unwrap_err().contains("dbNames"));
    s.db_names = vec!["orders".into(), "users".into()];
    let r = validate(&s).unwrap();
    assert_eq!(r.backup_strategy.as_deref(), Some("db"));
    assert_eq!(r.db_names, vec!["orders", "users"]);
    s.db_names = vec!["a,b".into()];
    assert!(validate(&s).unwrap_err().contains("a,b"));
    s.backup_strategy = Some(RdsBackupStrategy::Instance);
    s.db_names = vec!["orders".into()];
    assert!(validate(&s).unwrap_err().contains("backupStrategy: db"));
}

#[test]
fn validate_backup_type_and_retention() {
    let mut s = spec();
    s.backup_type = Some(RdsBackupType::FullBackup);
    assert!(validate(&s).is_ok());
    s.backup_method = RdsBackupMethod::Snapshot;
    assert!(validate(&s).unwrap_err().contains("backupType"));
    let mut s = spec();
    for ok in [-1, 7, 730] {
        s.backup_retention_period = Some(ok);
        assert_eq!(
            validate(&s).unwrap().backup_retention_period,
            Some(i64::from(ok))
        );
    }
    for bad in [0, 6, 731, -2] {
        s.backup_retention_period = Some(bad);
        assert!(validate(&s).unwrap_err().contains("backupRetentionPeriod"));
    }
    let mut s = spec();
    s.db_instance_id = "  ".into();
    assert!(validate(&s).is_err());
}

// ---- plan ----

const SKIP: RdsBackupSetDetails = RdsBackupSetDetails::Skip;
const RECORD: RdsBackupSetDetails = RdsBackupSetDetails::Record;

#[test]
fn plan_walks_the_lifecycle() {
    for details in [SKIP, RECORD] {
        assert_eq!(plan(None, details), Step::Create);
        let mut s = RdsBackupStatus::default();
        assert_eq!(plan(Some(&s), details), Step::Create);
        s.pending_create = Some(PendingCreate {
            token: "t".into(),
            started_at: Time(ts("2026-01-01T00:00:00Z")),
        });
        s.phase = Some(RdsBackupPhase::Creating);
        assert_eq!(plan(Some(&s), details), Step::Adopt);
        s.pending_create = None;
        s.backup_job_id = Some("42".into());
        s.phase = Some(RdsBackupPhase::Running);
        s.cloud_status = Some("Uploading".into());
        assert_eq!(
            plan(Some(&s), details),
            Step::Track {
                job_id: "42".into()
            }
        );
    }
}

#[test]
fn a_finished_task_waits_for_its_set_only_with_record() {
    // Finished, set named, not yet succeeded: Record reads the set, Skip (whose status only
    // looks like this after the operator stopped while a Record backup waited) asks the task.
    let mut s = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Running),
        backup_job_id: Some("42".into()),
        cloud_status: Some(TaskState::Finished.as_str().into()),
        backup_id: Some("99".into()),
        ..RdsBackupStatus::default()
    };
    assert_eq!(
        plan(Some(&s), RECORD),
        Step::FetchBackupSet {
            backup_id: "99".into()
        }
    );
    assert_eq!(
        plan(Some(&s), SKIP),
        Step::Track {
            job_id: "42".into()
        }
    );
    let mut record = spec();
    record.backup_set_details = RECORD;
    assert!(!ended(&record, &s), "the set is still to be fetched");
    assert!(!ended(&spec(), &s));
    // Succeeded is the end with either, with or without recorded details: switching to
    // Record after the fact does not start reading sets.
    s.phase = Some(RdsBackupPhase::Succeeded);
    for details in [SKIP, RECORD] {
        assert_eq!(plan(Some(&s), details), Step::Done);
    }
    assert!(ended(&record, &s) && ended(&spec(), &s));
    s.backup_set = Some(RdsBackupSet::default());
    assert_eq!(plan(Some(&s), RECORD), Step::Done);
}

#[test]
fn plan_failed_is_done_and_job_id_wins_over_intent() {
    let s = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Failed),
        backup_job_id: Some("1".into()),
        ..RdsBackupStatus::default()
    };
    assert_eq!(plan(Some(&s), SKIP), Step::Done);
    // A stale intent next to a job id never leads to another create.
    let s = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Running),
        backup_job_id: Some("1".into()),
        pending_create: Some(PendingCreate {
            token: "t".into(),
            started_at: Time(ts("2026-01-01T00:00:00Z")),
        }),
        ..RdsBackupStatus::default()
    };
    assert_eq!(plan(Some(&s), SKIP), Step::Track { job_id: "1".into() });
    // An adopted finished set (no job id) fetches its details, whatever backupSetDetails says.
    let s = RdsBackupStatus {
        backup_id: Some("7".into()),
        ..RdsBackupStatus::default()
    };
    for details in [SKIP, RECORD] {
        assert_eq!(
            plan(Some(&s), details),
            Step::FetchBackupSet {
                backup_id: "7".into()
            }
        );
    }
}

// ---- peers and adoption ----

#[test]
fn peers_collect_claims_and_unresolved_intents_on_the_same_instance_only() {
    let mut other_instance = spec();
    other_instance.db_instance_id = "rm-other".into();
    let claimed = RdsBackupStatus {
        backup_job_id: Some("10".into()),
        backup_id: Some("b10".into()),
        ..RdsBackupStatus::default()
    };
    let unresolved = RdsBackupStatus {
        pending_create: Some(PendingCreate {
            token: "x".into(),
            started_at: Time(ts("2026-01-01T00:00:00Z")),
        }),
        ..RdsBackupStatus::default()
    };
    let all = vec![
        obj("me", "u-me", spec(), Some(unresolved.clone())),
        obj("a", "u-a", spec(), Some(claimed)),
        obj("b", "u-b", spec(), Some(unresolved.clone())),
        obj(
            "c",
            "u-c",
            other_instance,
            Some(RdsBackupStatus {
                backup_job_id: Some("11".into()),
                ..unresolved.clone()
            }),
        ),
    ];
    let p = peers("u-me", &spec(), &all);
    assert!(p.claimed_jobs.contains("10"));
    assert!(!p.claimed_jobs.contains("11"));
    assert!(p.claimed_backups.contains("b10"));
    assert_eq!(p.unresolved.as_deref(), Some("ns/b"));
    // Seen from `b`, `me` is the unresolved one.
    assert_eq!(
        peers("u-b", &spec(), &all).unresolved.as_deref(),
        Some("ns/me")
    );
    // An intent whose object waits for a person does not hold up the instance (issue #26).
    let mut stalled = unresolved.clone();
    stalled
        .conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "Stalled".into(),
            status: "True".into(),
            reason: reasons::CREATE_OUTCOME_UNKNOWN.into(),
            message: String::new(),
            last_transition_time: Time(ts("2026-01-01T00:01:00Z")),
            observed_generation: None,
        });
    assert!(awaits_person(&stalled) && !awaits_person(&unresolved));
    let all = vec![
        obj("me", "u-me", spec(), None),
        obj("b", "u-b", spec(), Some(stalled)),
    ];
    assert_eq!(peers("u-me", &spec(), &all).unresolved, None);
}

#[test]
fn pick_task_skips_claimed_and_automated_tasks() {
    let mut p = Peers::default();
    p.claimed_jobs.insert("100".into());
    let mut auto = task("50", "Uploading", 10);
    auto.job_mode = Some("Automated".into());
    let tasks = vec![
        task("100", "Uploading", 50),
        auto,
        task("101", "NoStart", 0),
    ];
    assert_eq!(pick_task(&tasks, &p).unwrap().backup_job_id, "101");
    p.claimed_jobs.insert("101".into());
    assert!(pick_task(&tasks, &p).is_none());
    assert!(pick_task(&[], &Peers::default()).is_none());
}

fn set(id: &str, start: &str) -> CloudBackupSet {
    CloudBackupSet {
        backup_id: id.into(),
        backup_mode: Some("Manual".into()),
        backup_start_time: Some(start.into()),
        ..CloudBackupSet::default()
    }
}

#[test]
fn candidate_sets_respect_time_and_claims_oldest_first() {
    let sets = vec![
        set("later", "2026-01-01T10:05:00Z"),
        set("old", "2026-01-01T09:00:00Z"),
        set("mine", "2026-01-01T10:00:30Z"),
    ];
    let ids = |p: &Peers| -> Vec<String> {
        candidate_sets(&sets, p, ts("2026-01-01T10:00:00Z"))
            .iter()
            .map(|b| b.backup_id.clone())
            .collect()
    };
    let mut p = Peers::default();
    assert_eq!(ids(&p), ["mine", "later"]);
    p.claimed_backups.insert("mine".into());
    assert_eq!(ids(&p), ["later"]);
    p.claimed_backups.insert("later".into());
    assert!(ids(&p).is_empty());
}

#[test]
fn peers_list_open_jobs_whose_sets_are_not_recorded_yet() {
    let running = RdsBackupStatus {
        backup_job_id: Some("20".into()),
        ..RdsBackupStatus::default()
    };
    let done = RdsBackupStatus {
        backup_job_id: Some("21".into()),
        backup_id: Some("b21".into()),
        ..RdsBackupStatus::default()
    };
    let failed = RdsBackupStatus {
        backup_job_id: Some("22".into()),
        phase: Some(RdsBackupPhase::Failed),
        cloud_status: Some(TaskState::Failed.as_str().into()),
        ..RdsBackupStatus::default()
    };
    // Failed by spec.timeout while the task still ran: its set, once made, is this object's.
    let past_deadline = RdsBackupStatus {
        backup_job_id: Some("23".into()),
        phase: Some(RdsBackupPhase::Failed),
        cloud_status: Some("Uploading".into()),
        ..RdsBackupStatus::default()
    };
    let all = vec![
        obj("a", "u-a", spec(), Some(running)),
        obj("b", "u-b", spec(), Some(done)),
        obj("c", "u-c", spec(), Some(failed)),
        obj("d", "u-d", spec(), Some(past_deadline)),
    ];
    let p = peers("u-me", &spec(), &all);
    assert_eq!(p.open_jobs, ["20", "23"]);
    assert!(p.claimed_jobs.contains("22"));
    assert!(p.claimed_backups.contains("b21"));
}

#[test]
fn an_intent_is_resolved_only_by_unambiguous_evidence() {
    let physical = |id: &str, start: &str| CloudBackupSet {
        backup_method: Some("Physical".into()),
        ..set(id, start)
    };
    let sets = [
        physical("s1", "2026-01-01T10:00:30Z"),
        physical("s2", "2026-01-01T10:01:00Z"),
        CloudBackupSet {
            backup_method: Some("Snapshot".into()),
            ..set("snap", "2026-01-01T10:00:40Z")
        },
        physical("late", "2026-01-01T10:30:00Z"),
    ];
    let [s1, s2, snap, late] = [&sets[0], &sets[1], &sets[2], &sets[3]];
    let intent: jiff::Timestamp = "2026-01-01T10:00:20Z".parse().unwrap();
    let window = create_window(intent);
    let request = CreateBackupRequest {
        db_instance_id: "rm-1".into(),
        backup_method: Some("Physical".into()),
        ..CreateBackupRequest::default()
    };
    let resolve = |c: &[&CloudBackupSet], peers: &[String], auto: bool| {
        resolve_intent(c, peers, window, &request, auto)
    };
    // Nothing that could be ours: the create did not run.
    assert_eq!(resolve(&[], &[], true), Resolution::NotCreated);
    assert_eq!(resolve(&[], &["7".into()], true), Resolution::NotCreated);
    // A set that started after the window is someone else's: ours did not run.
    assert_eq!(resolve(&[late], &[], true), Resolution::NotCreated);
    // A peer's finished task whose set is not known yet may own a candidate: wait.
    assert_eq!(
        resolve(&[s1], &["7".into()], true),
        Resolution::WaitForPeers {
            jobs: vec!["7".into()]
        }
    );
    // The one set in the window, with the request's parameters: ours (issue #26) ...
    assert_eq!(
        resolve(&[s1, late], &[], true),
        Resolution::Resolved {
            backup_id: "s1".into()
        }
    );
    // ... but not with automatic resolution off (the namespace or the flag).
    assert_eq!(
        resolve(&[s1], &[], false),
        Resolution::Unknown {
            candidates: vec!["s1".into()]
        }
    );
    // Ambiguous: two sets in the window, or one made with other parameters.
    assert_eq!(
        resolve(&[s1, s2], &[], true),
        Resolution::Unknown {
            candidates: vec!["s1".into(), "s2".into()]
        }
    );
    assert_eq!(
        resolve(&[snap], &[], true),
        Resolution::Unknown {
            candidates: vec!["snap".into()]
        }
    );
    assert_eq!(
        resolve(&[s1, snap], &[], true),
        Resolution::Unknown {
            candidates: vec!["s1".into(), "snap".into()]
        }
    );
    // The window: a minute of slack before the intent, five minutes after.
    let (from, to) = window;
    assert_eq!(from, "2026-01-01T09:59:20Z".parse().unwrap());
    assert_eq!(to, "2026-01-01T10:05:20Z".parse().unwrap());
}

#[test]
fn outcome_unknown_message_says_what_to_check_and_how_to_resolve() {
    let m = outcome_unknown_message(
        "rm-demo01",
        &Time(ts("2026-01-01T10:00:00Z")),
        &["s1".into(), "s2".into()],
    );
    assert!(m.contains("rm-demo01"), "{m}");
    assert!(m.contains("2026-01-01T10:00:00Z"), "{m}");
    assert!(m.contains("s1, s2"), "{m}");
    assert!(m.contains(ANNOTATION_ADOPT_BACKUP_ID), "{m}");
    assert!(m.contains("DescribeBackups"), "{m}");
}

#[test]
fn start_time_param_is_a_minute_earlier_truncated() {
    assert_eq!(
        describe_backups_start_time(ts("2026-03-04T05:06:07Z")),
        "2026-03-04T05:05Z"
    );
    assert_eq!(
        times::from_iso("2026-03-04T05:06Z").unwrap().0,
        ts("2026-03-04T05:06:00Z")
    );
    assert_eq!(
        times::from_iso("2026-03-04T05:06:07Z").unwrap().0,
        ts("2026-03-04T05:06:07Z")
    );
    assert!(times::from_iso("yesterday").is_none());
}

// ---- observation → status ----

#[test]
fn observe_running_task_polls_adaptively() {
    let timing = Timing::default();
    let start = ts("2026-01-01T00:00:00Z");
    let mut s = RdsBackupStatus {
        backup_job_id: Some("1".into()),
        start_time: Some(Time(start)),
        ..RdsBackupStatus::default()
    };
    let (h, next) = observe_task(
        &mut s,
        Some(&task("1", "Uploading", 140)),
        SKIP,
        start,
        &timing,
    );
    assert_eq!(h.reason(), reasons::BACKUP_RUNNING);
    assert_eq!(s.phase, Some(RdsBackupPhase::Running));
    assert_eq!(s.progress, Some(100), "Process is clamped to 0..=100");
    assert_eq!(s.cloud_status.as_deref(), Some("Uploading"));
    assert_eq!(next, Some(timing.poll_initial));
    let later = ts("2026-01-01T00:30:00Z");
    let (_, next) = observe_task(
        &mut s,
        Some(&task("1", "Uploading", 50)),
        SKIP,
        later,
        &timing,
    );
    assert_eq!(next, Some(timing.poll_max));
    assert_eq!(s.progress, Some(50));
}

#[test]
fn observe_finished_and_failed_tasks() {
    let timing = Timing::default();
    let now = ts("2026-01-01T00:00:00Z");
    let mut t = task("1", TaskState::Finished.as_str(), 100);
    t.backup_id = Some("b1".into());
    // Record: the set is read next.
    let mut s = RdsBackupStatus {
        pending_create: Some(PendingCreate {
            token: "t".into(),
            started_at: Time(now),
        }),
        ..RdsBackupStatus::default()
    };
    let (h, next) = observe_task(&mut s, Some(&t), RECORD, now, &timing);
    assert_eq!(next, Some(Duration::ZERO));
    assert_eq!(s.backup_id.as_deref(), Some("b1"));
    assert_eq!(s.phase, Some(RdsBackupPhase::Running));
    assert!(s.pending_create.is_some() && s.completion_time.is_none());
    assert_eq!(h.reason(), reasons::WAITING_FOR_BACKUP_SET);
    assert!(matches!(h, Health::Progressing { .. }));
    // Skip: the task's answer is the proof; nothing left to look at.
    let (h, next) = observe_task(&mut s, Some(&t), SKIP, now, &timing);
    assert_eq!(next, None);
    assert_eq!(s.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(s.backup_id.as_deref(), Some("b1"));
    assert_eq!(s.pending_create, None);
    assert_eq!(s.completion_time, Some(Time(now)));
    assert_eq!(s.progress, Some(100));
    assert_eq!(s.backup_set, None);
    assert!(matches!(h, Health::Ready { .. }));
    assert_eq!(h.reason(), reasons::BACKUP_SUCCEEDED);
    assert_eq!(
        Some(h),
        terminal_health(&s),
        "a resting object keeps these conditions"
    );
    // Finished without a BackupId yet: wait, with either.
    for details in [SKIP, RECORD] {
        let mut s = RdsBackupStatus::default();
        let (h, next) = observe_task(
            &mut s,
            Some(&task("1", TaskState::Finished.as_str(), 100)),
            details,
            now,
            &timing,
        );
        assert_eq!(next, Some(timing.wait));
        assert_eq!(s.backup_id, None);
        assert_ne!(s.phase, Some(RdsBackupPhase::Succeeded));
        assert!(matches!(h, Health::Progressing { .. }));
    }
    // Failed: terminal and stalled.
    let mut s = RdsBackupStatus::default();
    let (h, next) = observe_task(
        &mut s,
        Some(&task("1", TaskState::Failed.as_str(), 60)),
        SKIP,
        now,
        &timing,
    );
    assert_eq!(next, None);
    assert_eq!(s.phase, Some(RdsBackupPhase::Failed));
    assert_eq!(h.reason(), reasons::BACKUP_FAILED);
    assert!(matches!(h, Health::Stalled { .. }));
    assert!(s.completion_time.is_some());
    // Not visible: keep waiting, phase untouched.
    let mut s = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Running),
        ..RdsBackupStatus::default()
    };
    let (h, next) = observe_task(&mut s, None, SKIP, now, &timing);
    assert_eq!(h.reason(), reasons::TASK_NOT_FOUND);
    assert_eq!(next, Some(timing.wait));
    assert_eq!(s.phase, Some(RdsBackupPhase::Running));
}

#[test]
fn record_backup_set_succeeds_and_clears_intent() {
    let mut s = RdsBackupStatus {
        pending_create: Some(PendingCreate {
            token: create_token("u", Some(1)),
            started_at: Time(ts("2026-01-01T00:00:00Z")),
        }),
        ..RdsBackupStatus::default()
    };
    let set = CloudBackupSet {
        backup_id: "b1".into(),
        backup_status: Some("Success".into()),
        store_status: Some("Enabled".into()),
        backup_start_time: Some("2026-01-01T00:00:05Z".into()),
        backup_end_time: Some("2026-01-01T00:01:00Z".into()),
        backup_size: Some(1024),
        consistent_time: Some(1_767_225_660),
        ..CloudBackupSet::default()
    };
    let h = record_backup_set(&mut s, &set, ts("2026-01-01T00:02:00Z"));
    assert_eq!(h.reason(), reasons::BACKUP_SUCCEEDED);
    assert_eq!(s.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(s.pending_create, None);
    assert_eq!(s.size_bytes, Some(1024));
    assert_eq!(
        s.completion_time.as_ref().unwrap().0,
        ts("2026-01-01T00:01:00Z")
    );
    let d = s.backup_set.as_ref().unwrap();
    assert_eq!(d.store_status.as_deref(), Some("Enabled"));
    assert_eq!(
        d.consistent_time.as_ref().unwrap().0,
        ts("2026-01-01T00:01:00Z")
    );
    assert_eq!(plan(Some(&s), RECORD), Step::Done);
}

#[test]
fn create_errors_that_prove_nothing_ran() {
    use crate::cloud::{ErrorKind, Product};
    let api = |status: u16, code: &str| {
        CloudError::api(
            Product::Rds,
            "CreateBackup",
            status,
            Some(code.into()),
            Some("m".into()),
            None,
        )
    };
    assert!(create_not_executed(&api(400, "BackupJobExists")));
    assert!(create_not_executed(&api(400, "InvalidParameter")));
    assert!(create_not_executed(&api(
        404,
        "InvalidDBInstanceId.NotFound"
    )));
    assert!(!create_not_executed(&api(500, "InternalError")));
    assert!(!create_not_executed(&api(503, "ServiceUnavailable")));
    let timeout = CloudError::new(
        Product::Rds,
        "CreateBackup",
        ErrorKind::Timeout,
        "timed out",
    );
    assert!(!create_not_executed(&timeout));
}

// ---- plan_cleanup ----

#[test]
fn cleanup_plan_follows_policy_then_what_the_status_holds() {
    let st =
        |job: Option<&str>, set: Option<&str>, cloud: Option<&str>, intent: bool| RdsBackupStatus {
            backup_job_id: job.map(str::to_string),
            backup_id: set.map(str::to_string),
            cloud_status: cloud.map(str::to_string),
            pending_create: intent.then(|| PendingCreate {
                token: "t".into(),
                started_at: times::from_iso("2026-11-30T10:00:00Z").unwrap(),
            }),
            ..RdsBackupStatus::default()
        };
    let del = DeletionPolicy::Delete;
    let done = st(
        Some("j"),
        Some("b"),
        Some(TaskState::Finished.as_str()),
        false,
    );
    assert_eq!(
        plan_cleanup(true, del, &done),
        CleanupStep::LetGo(NOTE_ORPHAN)
    );
    assert_eq!(
        plan_cleanup(false, DeletionPolicy::Retain, &done),
        CleanupStep::LetGo(NOTE_RETAIN)
    );
    assert_eq!(
        plan_cleanup(false, del, &done),
        CleanupStep::DeleteSet {
            backup_id: "b".into()
        }
    );
    assert_eq!(
        plan_cleanup(false, del, &st(None, None, None, false)),
        CleanupStep::Finished
    );
    assert_eq!(
        plan_cleanup(false, del, &st(None, None, None, true)),
        CleanupStep::ResolveIntent
    );
    assert_eq!(
        plan_cleanup(false, del, &st(Some("j"), None, Some("Uploading"), false)),
        CleanupStep::AwaitTask { job_id: "j".into() }
    );
    assert_eq!(
        plan_cleanup(
            false,
            del,
            &st(Some("j"), None, Some(TaskState::Failed.as_str()), false)
        ),
        CleanupStep::Finished
    );
    // An adopted set (no task) is deleted.
    assert_eq!(
        plan_cleanup(false, del, &st(None, Some("b"), None, false)),
        CleanupStep::DeleteSet {
            backup_id: "b".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

fn adopting(job: Option<&str>, set: Option<&str>, policy: &str) -> RdsBackupSpec {
    let mut s = spec();
    s.backup_job_id = job.map(str::to_string);
    s.backup_id = set.map(str::to_string);
    s.management_policy = serde_json::from_value(serde_json::json!(policy)).unwrap();
    s
}

#[test]
fn adoption_fields_are_exclusive_and_observe_only_needs_one() {
    assert_eq!(validate_adoption(&spec()), Ok(None));
    assert_eq!(
        validate_adoption(&adopting(Some(" 42 "), None, "Manage")),
        Ok(Some(AdoptId::Task("42".into())))
    );
    assert_eq!(
        validate_adoption(&adopting(None, Some("b-1"), "ObserveOnly")),
        Ok(Some(AdoptId::Set("b-1".into())))
    );
    let both = validate_adoption(&adopting(Some("42"), Some("b-1"), "Manage")).unwrap_err();
    assert!(both.contains("mutually exclusive"), "{both}");
    let bare = validate_adoption(&adopting(None, None, "ObserveOnly")).unwrap_err();
    assert!(bare.contains("ObserveOnly needs"), "{bare}");
    // A blank id is no id.
    assert!(validate_adoption(&adopting(Some("  "), None, "ObserveOnly")).is_err());
}

#[test]
fn an_adopting_object_adopts_until_something_is_recorded() {
    let s = adopting(Some("42"), None, "Manage");
    assert_eq!(
        plan_spec(&s, None),
        Step::AdoptExisting(AdoptId::Task("42".into()))
    );
    let refused = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Pending),
        ..RdsBackupStatus::default()
    };
    assert_eq!(
        plan_spec(&s, Some(&refused)),
        Step::AdoptExisting(AdoptId::Task("42".into())),
        "a refused adoption records nothing and is tried again"
    );
    let tracked = RdsBackupStatus {
        backup_job_id: Some("42".into()),
        cloud_status: Some("Uploading".into()),
        ..RdsBackupStatus::default()
    };
    assert_eq!(
        plan_spec(&s, Some(&tracked)),
        Step::Track {
            job_id: "42".into()
        }
    );
    let failed = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Failed),
        ..RdsBackupStatus::default()
    };
    assert_eq!(plan_spec(&s, Some(&failed)), Step::Done);
    // Without adoption fields (or with invalid ones) the plan is the status plan.
    assert_eq!(plan_spec(&spec(), None), Step::Create);
    assert_eq!(
        plan_spec(&adopting(Some("42"), Some("b"), "Manage"), None),
        Step::Create
    );
}

#[test]
fn an_id_another_object_holds_or_names_is_never_adopted() {
    let me = obj("me", "u-me", adopting(Some("42"), None, "Manage"), None);
    let holds_task = obj(
        "holder",
        "u-2",
        spec(),
        Some(RdsBackupStatus {
            backup_job_id: Some("42".into()),
            ..RdsBackupStatus::default()
        }),
    );
    let names_set = obj(
        "namer",
        "u-3",
        adopting(None, Some("b-1"), "ObserveOnly"),
        None,
    );
    let all = vec![me.clone(), holds_task, names_set];
    assert_eq!(
        adoption_holder("u-me", &AdoptId::Task("42".into()), &all)
            .map(|c| c.object)
            .as_deref(),
        Some("ns/holder")
    );
    assert_eq!(
        adoption_holder("u-me", &AdoptId::Set("b-1".into()), &all)
            .map(|c| c.object)
            .as_deref(),
        Some("ns/namer")
    );
    assert_eq!(
        adoption_holder("u-me", &AdoptId::Set("b-2".into()), &all),
        None
    );
    // The object itself is no other holder.
    assert_eq!(
        adoption_holder("u-2", &AdoptId::Task("42".into()), &[me])
            .map(|c| c.object)
            .as_deref(),
        Some("ns/me")
    );
    let m = crate::controller::reconcile::adoption::refused_message(
        &AdoptId::Task("42".into()).named(),
        "RdsBackup",
        "backup",
        &"ns/holder".into(),
    );
    assert!(
        m.contains("backup task 42") && m.contains("ns/holder"),
        "{m}"
    );
}

#[test]
fn the_adopted_condition_names_the_id_and_policy_only_when_held() {
    let s = adopting(Some("42"), None, "ObserveOnly");
    assert_eq!(adopted_message(&s, &RdsBackupStatus::default()), None);
    let held = RdsBackupStatus {
        backup_job_id: Some("42".into()),
        ..RdsBackupStatus::default()
    };
    let m = adopted_message(&s, &held).unwrap();
    assert!(
        m.contains("backup task 42") && m.contains("ObserveOnly"),
        "{m}"
    );
    // An object whose backup the operator created has none.
    assert_eq!(adopted_message(&spec(), &held), None);
    let set = adopting(None, Some("b-1"), "Manage");
    let recorded = RdsBackupStatus {
        backup_id: Some("b-1".into()),
        ..RdsBackupStatus::default()
    };
    assert!(
        adopted_message(&set, &recorded)
            .unwrap()
            .contains("backup set b-1")
    );
}

#[test]
fn an_adopted_set_succeeds_only_when_it_is_a_successful_one() {
    let now = ts("2026-11-30T12:00:00Z");
    let mut ok = CloudBackupSet {
        backup_id: "b-1".into(),
        backup_status: Some("Success".into()),
        backup_end_time: Some("2026-11-30T10:05:00Z".into()),
        ..CloudBackupSet::default()
    };
    let mut s = RdsBackupStatus::default();
    let h = record_adopted_set(&mut s, &ok, now);
    assert_eq!(h.reason(), reasons::BACKUP_SUCCEEDED);
    assert_eq!(s.phase, Some(RdsBackupPhase::Succeeded));
    assert_eq!(s.backup_id.as_deref(), Some("b-1"));
    assert_eq!(plan(Some(&s), RECORD), Step::Done);

    ok.backup_status = Some("Failed".into());
    let mut s = RdsBackupStatus::default();
    let h = record_adopted_set(&mut s, &ok, now);
    assert_eq!(h.reason(), reasons::BACKUP_FAILED);
    assert!(matches!(h, Health::Stalled { .. }));
    assert_eq!(s.phase, Some(RdsBackupPhase::Failed));
    assert_eq!(plan(Some(&s), RECORD), Step::Done);
}

#[test]
fn observe_only_never_cleans_up_in_the_cloud() {
    let held = RdsBackupStatus {
        backup_job_id: Some("42".into()),
        backup_id: Some("b-1".into()),
        cloud_status: Some("Finished".into()),
        ..RdsBackupStatus::default()
    };
    let del = DeletionPolicy::Delete;
    assert_eq!(
        plan_cleanup_managed(false, del, ManagementPolicy::ObserveOnly, &held),
        CleanupStep::LetGo(NOTE_OBSERVE_ONLY)
    );
    assert_eq!(
        plan_cleanup_managed(true, del, ManagementPolicy::ObserveOnly, &held),
        CleanupStep::LetGo(NOTE_ORPHAN)
    );
    assert_eq!(
        plan_cleanup_managed(false, del, ManagementPolicy::Manage, &held),
        CleanupStep::DeleteSet {
            backup_id: "b-1".into()
        }
    );
}
