//! Unit tests of `why` for the backup kinds and schedules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

fn cond(t: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: t.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

fn rds(name: &str, conds: Vec<Condition>) -> View {
    View {
        kind: Some(Kind::RdsBackup),
        namespace: "ns".into(),
        name: name.into(),
        target: "rm-1".into(),
        conditions: conds,
        credentials: Some("creds".into()),
        ..View::default()
    }
}

#[test]
fn paused_by_annotation_says_how_to_resume() {
    let mut v = rds(
        "a",
        vec![cond("Paused", "True", "Paused", "paused by the annotation")],
    );
    v.annotations
        .insert(ANNOTATION_PAUSED.into(), "true".into());
    let w = why(&v, &[], &[]);
    assert_eq!(w.cause, "Paused");
    assert_eq!(
        w.fix,
        vec!["kubectl annotate rdsbackup a -n ns backup.aliyun.dev/paused-"]
    );
}

#[test]
fn paused_by_namespace_points_at_the_flag() {
    let v = rds(
        "a",
        vec![cond(
            "Paused",
            "True",
            "Paused",
            "namespace ns is paused by the operator (--paused-namespace",
        )],
    );
    let w = why(&v, &[], &[]);
    assert_eq!(w.cause, "PausedNamespace");
    assert!(w.fix[0].contains("pausedNamespaces"), "{w:?}");
}

#[test]
fn refused_credentials_before_anything_else() {
    let v = rds(
        "a",
        vec![
            cond(
                "Reconciling",
                "True",
                "CloudCredentialsRefused",
                "held back",
            ),
            cond(
                "CredentialsValid",
                "False",
                "CredentialsRefused",
                "the cloud refused the credentials (InvalidAccessKeyId.NotFound); fix the Secret",
            ),
        ],
    );
    let w = why(&v, &[], &[]);
    assert_eq!(w.cause, "CredentialsInvalid");
    assert!(w.fix[0].starts_with("kubectl create secret generic creds -n ns"));
    assert!(w.fix[1].contains("reconcile-requested-at"));
}

#[test]
fn waiting_for_instance_names_the_peer() {
    let v = rds(
        "b",
        vec![cond("Reconciling", "True", "WaitingForInstance", "waits")],
    );
    let mut peer = rds(
        "a",
        vec![cond("Stalled", "True", "CreateOutcomeUnknown", "x")],
    );
    peer.phase = Some("Creating".into());
    let w = why(&v, &[peer], &[]);
    assert_eq!(w.cause, "WaitingForInstance");
    assert!(w.summary.ends_with(": rdsbackup/a"), "{}", w.summary);
    assert_eq!(w.fix, vec!["kubectl aliyun-backup why rdsbackup/a -n ns"]);
}

#[test]
fn outcome_unknown_lists_candidates() {
    let msg = "the outcome of CreateBackup on instance rm-1 (sent at x) is unknown: its answer was lost. Unclaimed manual backup set(s) started since then: 111, 222. The operator cannot prove which";
    assert_eq!(outcome_candidates(msg), vec!["111", "222"]);
    let v = rds(
        "a",
        vec![cond("Stalled", "True", "CreateOutcomeUnknown", msg)],
    );
    let w = why(&v, &[], &[]);
    assert!(w.summary.contains("111, 222"));
    assert!(w.fix[0].contains("adopt-backup-id=<BackupId>"));
    let one = "… started since then: 333. The operator";
    assert_eq!(outcome_candidates(one), vec!["333"]);
}

#[test]
fn deadline_and_invalid_spec() {
    let mut v = rds(
        "a",
        vec![cond(
            "Stalled",
            "True",
            "DeadlineExceeded",
            "spec.timeout 1m passed",
        )],
    );
    v.phase = Some("Failed".into());
    v.timeout = Some("1m".into());
    let w = why(&v, &[], &[]);
    assert_eq!(w.cause, "DeadlineExceeded");
    assert!(w.summary.contains("(1m)"));
    v.schedule = Some("nightly".into());
    let w = why(&v, &[], &[]);
    assert!(w.fix[0].starts_with("kubectl edit rdsbackupschedule nightly -n ns"));
    let v = rds(
        "b",
        vec![cond(
            "Stalled",
            "True",
            "InvalidSpec",
            "spec.timeout cannot be read",
        )],
    );
    let w = why(&v, &[], &[]);
    assert_eq!(w.cause, "InvalidSpec");
    assert_eq!(w.details[0], "spec.timeout cannot be read");
}

#[test]
fn a_stalled_child_explains_its_schedule() {
    let mut s = rds(
        "nightly",
        vec![cond(
            "Stalled",
            "True",
            "ChildStalled",
            "child x is stalled",
        )],
    );
    s.kind = Some(Kind::RdsBackupSchedule);
    let mut child = rds(
        "nightly-1",
        vec![cond(
            "Stalled",
            "True",
            "CredentialsSecretNotFound",
            "no secret",
        )],
    );
    child.schedule = Some("nightly".into());
    let w = why(&s, &[], &[child]);
    assert_eq!(w.cause, "ChildStalled");
    assert!(w.fix[0].starts_with("kubectl create secret generic creds"));
    assert!(
        w.fix
            .last()
            .unwrap()
            .starts_with("kubectl delete rdsbackup nightly-1")
    );
}

#[test]
fn done_and_missed_rpo() {
    let v = rds(
        "a",
        vec![cond(
            "Ready",
            "True",
            "BackupSucceeded",
            "backup set 1 is available",
        )],
    );
    let w = why(&v, &[], &[]);
    assert!(w.done);
    let mut s = rds(
        "s",
        vec![
            cond("Ready", "True", "Scheduled", "next run at …"),
            cond(
                "RPOMet",
                "False",
                "RPOMissed",
                "the newest success is 30h old",
            ),
        ],
    );
    s.kind = Some(Kind::RdsBackupSchedule);
    s.rpo = Some("26h".into());
    let w = why(&s, &[], &[]);
    assert!(!w.done);
    assert_eq!(w.cause, "RPOMissed");
    assert_eq!(
        w.fix,
        vec!["kubectl aliyun-backup backup rdsbackupschedule/s -n ns --wait"]
    );
}
