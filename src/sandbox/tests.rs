use std::path::{Path, PathBuf};
use std::time::Duration;

use super::render::{ALT_SCREEN_OFF, ALT_SCREEN_ON, CLEAR_HOME, Progress};
use super::*;
use crate::crd::{
    DbsBackupPlan, DbsBackupPlanPhase, DbsBackupPlanStatus, HbrBackupJob, HbrBackupJobPhase,
    HbrBackupJobStatus, RdsBackup, RdsBackupPhase, RdsBackupStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

fn cond(type_: &str, status: bool, reason: &str, gen_: Option<i64>) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: format!("{reason} message"),
        observed_generation: gen_,
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
fn parses_multi_document_yaml_and_skips_empty_documents() {
    let text = "---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  k: v\n---\napiVersion: backup.aliyun.dev/v1alpha1\nkind: RdsBackup\nmetadata:\n  name: b\n  namespace: other\nspec: {}\n";
    let m = parse_manifests(text, "x.yaml").unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].gvk.kind, "Secret");
    assert_eq!(m[0].gvk.group, "");
    assert!(!m[0].is_ours());
    assert_eq!(m[1].gvk.group, "backup.aliyun.dev");
    assert_eq!(m[1].gvk.version, "v1alpha1");
    assert!(m[1].is_ours());
    assert_eq!(m[1].object.metadata.namespace.as_deref(), Some("other"));
    assert_eq!(m[1].source, "x.yaml#3");
}

#[test]
fn refuses_documents_that_are_not_objects() {
    let e = parse_manifests("kind: Secret\nmetadata:\n  name: a\n", "f").unwrap_err();
    assert!(e.to_string().starts_with("f#1:"), "{e}");
    let e = parse_manifests("apiVersion: v1\nkind: Secret\nmetadata: {}\n", "f").unwrap_err();
    assert!(e.to_string().contains("metadata.name"), "{e}");
    let e = parse_manifests("apiVersion: v1\nkind: [\n", "f").unwrap_err();
    assert_eq!(e.name(), "Manifest");
}

#[test]
fn loads_the_examples_with_secrets_first() {
    let m = load_manifests(&[examples_dir()]).unwrap();
    let kinds: Vec<&str> = m.iter().map(|m| m.gvk.kind.as_str()).collect();
    let first_ours = m.iter().position(Manifest::is_ours).unwrap();
    assert!(m[..first_ours].iter().all(|m| !m.is_ours()), "{kinds:?}");
    assert!(m[first_ours..].iter().all(Manifest::is_ours), "{kinds:?}");
    for k in ["Secret", "RdsBackup", "DbsBackupPlan", "HbrBackupJob"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
}

#[test]
fn missing_path_and_empty_directory_are_clear_errors() {
    let e = load_manifests(&[PathBuf::from("/nonexistent/examples.yaml")]).unwrap_err();
    assert_eq!(e.name(), "Read");
    let dir = tempfile::tempdir().unwrap();
    let e = load_manifests(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(e.name(), "NoManifests");
    assert!(e.to_string().contains("--examples"), "{e}");
}

fn rds(status: Option<RdsBackupStatus>) -> RdsBackup {
    let mut o = RdsBackup::new(
        "nightly",
        serde_json::from_value(serde_json::json!({
            "region": "cn-hangzhou", "dbInstanceId": "rm-demo01"
        }))
        .unwrap(),
    );
    o.metadata.namespace = Some("demo".into());
    o.status = status;
    o
}

#[test]
fn rds_verdicts() {
    assert_eq!(
        ObjectState::from_rds(&rds(None)).verdict,
        Verdict::InProgress
    );
    let running = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Running),
        progress: Some(40),
        backup_job_id: Some("123".into()),
        cloud_status: Some("Uploading".into()),
        ..Default::default()
    };
    let s = ObjectState::from_rds(&rds(Some(running.clone())));
    assert_eq!(s.verdict, Verdict::InProgress);
    assert_eq!(s.cloud_id.as_deref(), Some("job 123"));
    assert_eq!(s.progress, Some(40));
    assert_eq!(s.label(), "RdsBackup/nightly");

    let done = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Succeeded),
        backup_id: Some("456".into()),
        conditions: vec![cond("Ready", true, "Succeeded", Some(1))],
        ..running.clone()
    };
    let s = ObjectState::from_rds(&rds(Some(done)));
    assert_eq!(s.verdict, Verdict::Succeeded);
    assert_eq!(s.cloud_id.as_deref(), Some("job 123, backup 456"));
    assert_eq!(s.reason.as_deref(), Some("Succeeded"));

    let failed = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Failed),
        ..running.clone()
    };
    assert_eq!(
        ObjectState::from_rds(&rds(Some(failed))).verdict,
        Verdict::Failed
    );

    // Stalled wins over a non-terminal phase, and its reason is shown.
    let stalled = RdsBackupStatus {
        phase: Some(RdsBackupPhase::Pending),
        conditions: vec![
            cond("Ready", false, "InvalidSpec", Some(1)),
            cond("Stalled", true, "CloudCredentialsError", Some(1)),
        ],
        ..Default::default()
    };
    let s = ObjectState::from_rds(&rds(Some(stalled)));
    assert_eq!(s.verdict, Verdict::Failed);
    assert_eq!(s.reason.as_deref(), Some("CloudCredentialsError"));
}

#[test]
fn hbr_verdicts() {
    let mut o = HbrBackupJob::new(
        "web",
        serde_json::from_value(serde_json::json!({
            "region": "cn-hangzhou", "sourceType": "UDM_ECS", "instanceId": "i-demo01",
            "retention": 7
        }))
        .unwrap(),
    );
    o.metadata.namespace = Some("demo".into());
    for (phase, verdict) in [
        (HbrBackupJobPhase::Running, Verdict::InProgress),
        (HbrBackupJobPhase::Succeeded, Verdict::Succeeded),
        (HbrBackupJobPhase::PartiallySucceeded, Verdict::Failed),
        (HbrBackupJobPhase::Failed, Verdict::Failed),
        (HbrBackupJobPhase::Cancelled, Verdict::Failed),
        (HbrBackupJobPhase::Deleting, Verdict::InProgress),
    ] {
        o.status = Some(HbrBackupJobStatus {
            phase: Some(phase),
            job_id: Some("job-1".into()),
            snapshot_ids: vec!["s-1".into()],
            ..Default::default()
        });
        let s = ObjectState::from_hbr(&o);
        assert_eq!(s.verdict, verdict, "{phase}");
        assert_eq!(s.cloud_id.as_deref(), Some("job job-1, snapshot s-1"));
    }
}

#[test]
fn dbs_needs_ready_for_the_current_generation() {
    let mut o = DbsBackupPlan::new(
        "orders",
        serde_json::from_value(
            serde_norway::from_str::<serde_json::Value>(
                &std::fs::read_to_string(examples_dir().join("dbs-backup-plan.yaml")).unwrap(),
            )
            .unwrap()["spec"]
                .clone(),
        )
        .unwrap(),
    );
    o.metadata.namespace = Some("demo".into());
    o.metadata.generation = Some(2);
    let status = |phase, conditions| DbsBackupPlanStatus {
        phase: Some(phase),
        backup_plan_id: Some("dbs1".into()),
        conditions,
        ..Default::default()
    };
    o.status = Some(status(DbsBackupPlanPhase::Running, vec![]));
    assert_eq!(ObjectState::from_dbs(&o).verdict, Verdict::InProgress);
    o.status = Some(status(
        DbsBackupPlanPhase::Running,
        vec![cond("Ready", true, "Running", Some(1))],
    ));
    assert_eq!(
        ObjectState::from_dbs(&o).verdict,
        Verdict::InProgress,
        "Ready of an older generation does not count"
    );
    o.status = Some(status(
        DbsBackupPlanPhase::Running,
        vec![cond("Ready", true, "Running", Some(2))],
    ));
    let s = ObjectState::from_dbs(&o);
    assert_eq!(s.verdict, Verdict::Succeeded);
    assert_eq!(s.cloud_id.as_deref(), Some("plan dbs1"));
    o.status = Some(status(
        DbsBackupPlanPhase::Starting,
        vec![cond("Stalled", true, "PrecheckFailed", Some(2))],
    ));
    assert_eq!(ObjectState::from_dbs(&o).verdict, Verdict::Failed);
    o.status = Some(status(DbsBackupPlanPhase::Failed, vec![]));
    assert_eq!(ObjectState::from_dbs(&o).verdict, Verdict::Failed);
}

fn state(name: &str, verdict: Verdict) -> ObjectState {
    ObjectState {
        phase: Some("Running".into()),
        progress: Some(50),
        cloud_id: Some("job 1".into()),
        reason: Some("Failed".into()),
        message: Some("the task failed in the cloud".into()),
        verdict,
        ..ObjectState::missing(TrackedKind::RdsBackup, "demo", name)
    }
}

#[test]
fn table_is_aligned_and_counts_done_objects() {
    let t = render_table(
        &[
            state("a", Verdict::Succeeded),
            ObjectState::missing(TrackedKind::HbrBackupJob, "demo", "longer-name"),
        ],
        Duration::from_secs(3),
    );
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].contains("1/2 done"), "{t}");
    // Columns line up in characters (the marks are multi-byte).
    let char_col = |line: &str, needle: &str| line[..line.find(needle).unwrap()].chars().count();
    let col = char_col(lines[1], "PHASE");
    assert_eq!(char_col(lines[2], "Running"), col, "{t}");
    assert_eq!(lines[3].chars().nth(col), Some('-'), "{t}");
    assert!(lines[2].starts_with("✓ RdsBackup/a"), "{t}");
}

#[test]
fn summary_says_what_failed_and_why() {
    let report = Report {
        applied: vec![],
        objects: vec![
            state("ok", Verdict::Succeeded),
            state("bad", Verdict::Failed),
        ],
        outcome: Outcome::AllDone,
        elapsed: Duration::from_secs(5),
        schedule_clock_speed: 1,
    };
    assert!(!report.succeeded());
    let s = report.summary();
    // No schedule, no schedule section.
    assert!(!s.contains("Schedules"), "{s}");
    assert!(
        s.contains("2 objects: 1 succeeded, 1 failed, 0 not done."),
        "{s}"
    );
    assert!(
        s.contains("RdsBackup/bad (Failed): the task failed in the cloud"),
        "{s}"
    );
    assert!(s.contains("Some objects failed"), "{s}");

    let report = Report {
        objects: vec![state("ok", Verdict::Succeeded)],
        ..report
    };
    assert!(report.succeeded());
    assert!(report.summary().contains("All done."));
    let timed_out = Report {
        outcome: Outcome::TimedOut,
        objects: vec![state("slow", Verdict::InProgress)],
        ..report
    };
    assert!(!timed_out.succeeded());
    assert!(timed_out.summary().contains("Timed out"));
}

#[test]
fn terminal_output_redraws_in_place_and_plain_output_prints_changes_only() {
    let mut buf = Vec::new();
    {
        let mut p = Progress::new(&mut buf, false, String::new());
        let s = [state("a", Verdict::InProgress)];
        p.update(&s, Duration::from_secs(1)).unwrap();
        p.update(&s, Duration::from_secs(2)).unwrap();
        p.update(&[state("a", Verdict::Succeeded)], Duration::from_secs(3))
            .unwrap();
    }
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains('\x1b'));

    let mut buf = Vec::new();
    {
        let mut p = Progress::new(&mut buf, true, "applied X/y\n\n".into());
        p.update(&[state("a", Verdict::InProgress)], Duration::from_secs(1))
            .unwrap();
        p.update(&[state("a", Verdict::InProgress)], Duration::from_secs(1))
            .unwrap();
        p.update(&[state("a", Verdict::Succeeded)], Duration::from_secs(1))
            .unwrap();
        p.finish().unwrap();
    }
    let text = String::from_utf8(buf).unwrap();
    // Entered and left the alternate screen once; one redraw per change, each with the
    // preamble; the final table is printed again on the normal screen.
    assert_eq!(text.matches(ALT_SCREEN_ON).count(), 1, "{text:?}");
    assert_eq!(text.matches(ALT_SCREEN_OFF).count(), 1, "{text:?}");
    assert_eq!(text.matches(CLEAR_HOME).count(), 2, "{text:?}");
    assert_eq!(text.matches("applied X/y").count(), 2, "{text:?}");
    let after = text.split(ALT_SCREEN_OFF).nth(1).unwrap();
    assert!(after.contains("✓ RdsBackup/a"), "{after:?}");

    // Dropped early (an error): the terminal is still restored.
    let mut buf = Vec::new();
    {
        let mut p = Progress::new(&mut buf, true, String::new());
        p.update(&[state("a", Verdict::InProgress)], Duration::from_secs(1))
            .unwrap();
    }
    let text = String::from_utf8(buf).unwrap();
    assert!(text.ends_with(ALT_SCREEN_OFF), "{text:?}");
}

fn schedule(wait: Option<&str>, status: serde_json::Value) -> crate::crd::RdsBackupSchedule {
    let mut annotations = serde_json::Map::new();
    if let Some(w) = wait {
        annotations.insert(ANNOTATION_WAIT_FOR_SUCCESSES.into(), w.into());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackupSchedule",
        "metadata": {
            "name": "every-minute", "namespace": "demo", "uid": "u-1", "generation": 1,
            "annotations": annotations,
        },
        "spec": {
            "schedule": "* * * * *",
            "rpo": "15m",
            "template": { "spec": { "region": "cn-hangzhou", "dbInstanceId": "rm-demo02" } },
        },
        "status": status,
    }))
    .unwrap()
}

fn child(name: &str, owner_uid: &str, phase: Option<RdsBackupPhase>) -> RdsBackup {
    let mut o = rds(phase.map(|p| RdsBackupStatus {
        phase: Some(p),
        ..Default::default()
    }));
    o.metadata.name = Some(name.into());
    o.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "backup.aliyun.dev/v1alpha1".into(),
            kind: "RdsBackupSchedule".into(),
            name: "every-minute".into(),
            uid: owner_uid.into(),
            ..Default::default()
        },
    ]);
    o
}

fn schedule_status(succeeded: u32, running: u32, rpo_met: &str) -> serde_json::Value {
    serde_json::json!({
        "phase": "Active",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Scheduled", "message": "next run",
             "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "RPOMet", "status": rpo_met, "reason": "RPOMet", "message": "m",
             "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ],
        "lastSuccessfulTime": "2026-01-01T00:02:00Z",
        "counts": {"running": running, "succeeded": succeeded, "failed": 0},
    })
}

#[test]
fn schedules_count_pruned_children_and_wait_for_successes() {
    use RdsBackupPhase::{Running, Succeeded};
    let kind = TrackedKind::RdsBackupSchedule;
    let mut tally = ScheduleTally::default();
    let s = schedule(Some("2"), schedule_status(0, 1, "True"));
    // Another schedule's child (same label, other owner) does not count.
    let other = child("other-1", "u-2", Some(Succeeded));
    let st = ObjectState::from_schedule(
        kind,
        &s,
        &[child("a", "u-1", Some(Running)), other.clone()],
        &mut tally,
    );
    let sc = st.schedule.clone().unwrap();
    assert_eq!((sc.made, sc.succeeded, sc.running, sc.pruned), (1, 0, 1, 0));
    assert_eq!(st.verdict, Verdict::InProgress);
    assert_eq!(sc.cron, "* * * * *");
    assert_eq!(sc.time_zone, "UTC");

    // `a` succeeded, `b` runs.
    let s = schedule(Some("2"), schedule_status(1, 1, "True"));
    let children = [child("a", "u-1", Some(Succeeded)), child("b", "u-1", None)];
    let st = ObjectState::from_schedule(kind, &s, &children, &mut tally);
    assert_eq!(st.verdict, Verdict::InProgress);

    // `b` succeeded, retention has not run yet: the status still says 1 succeeded.
    let children = [
        child("a", "u-1", Some(Succeeded)),
        child("b", "u-1", Some(Succeeded)),
    ];
    let st = ObjectState::from_schedule(kind, &s, &children, &mut tally);
    let sc = st.schedule.clone().unwrap();
    assert_eq!((sc.made, sc.succeeded, sc.pruned), (2, 2, 0));
    assert_eq!(st.verdict, Verdict::InProgress, "status not caught up");

    // Retention deleted `a`; the status counts what is left: done.
    let s = schedule(Some("2"), schedule_status(1, 0, "True"));
    let st =
        ObjectState::from_schedule(kind, &s, &[child("b", "u-1", Some(Succeeded))], &mut tally);
    let sc = st.schedule.clone().unwrap();
    assert_eq!((sc.made, sc.succeeded, sc.running, sc.pruned), (2, 2, 0, 1));
    assert_eq!(
        sc.last_successful_time.as_deref(),
        Some("2026-01-01T00:02:00Z")
    );
    assert_eq!(sc.rpo_met.as_deref(), Some("True"));
    assert_eq!(st.verdict, Verdict::Succeeded);
    let line = render_line(&st);
    assert!(
        line.contains("made=2 succeeded=2 failed=0 running=0 pruned=1"),
        "{line}"
    );
    assert!(line.contains("RPOMet=True"), "{line}");

    // RPOMet False keeps it from being done.
    let s = schedule(Some("2"), schedule_status(1, 0, "False"));
    let st =
        ObjectState::from_schedule(kind, &s, &[child("b", "u-1", Some(Succeeded))], &mut tally);
    assert_eq!(st.verdict, Verdict::InProgress);

    // Without the annotation a ready schedule is done at once; stalled is failed.
    let mut fresh = ScheduleTally::default();
    let s = schedule(None, schedule_status(0, 0, "True"));
    assert_eq!(
        ObjectState::from_schedule(kind, &s, &[], &mut fresh).verdict,
        Verdict::Succeeded
    );
    let mut stalled = schedule_status(0, 0, "True");
    stalled["conditions"][0] = serde_json::json!({
        "type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "spec.schedule",
        "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"
    });
    let s = schedule(None, stalled);
    let st = ObjectState::from_schedule(kind, &s, &[other], &mut fresh);
    assert_eq!(st.verdict, Verdict::Failed);
    assert_eq!(st.reason.as_deref(), Some("InvalidSpec"));
}
