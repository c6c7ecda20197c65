//! Unit tests of `why` for the restore kinds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aliyun_backup_operator::crd::{DbsRestoreTask, RdsRestore};
use serde_json::{Value, json};

use super::*;
use crate::model::Kind;
use crate::why::why as why_any;

fn cond(t: &str, reason: &str, message: &str) -> Value {
    json!({ "type": t, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z" })
}

fn rds(spec_extra: Value, status: Value) -> View {
    let mut spec = json!({
        "region": "cn-hangzhou", "source": { "backupRef": { "name": "nightly" } }
    });
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let o: RdsRestore = serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsRestore",
        "metadata": { "name": "r", "namespace": "ns" },
        "spec": spec, "status": status
    }))
    .unwrap();
    View::from(&o)
}

#[test]
fn overwrite_not_confirmed_says_which_target_to_confirm() {
    let msg = "this restore writes into instance rm-demo01, but overwrite.confirmTargetId is \
               \"rm-x\"; nothing was called. Set overwrite.confirmTargetId: rm-demo01 in a new \
               object if that is the target you mean";
    assert_eq!(overwrite_target(msg).as_deref(), Some("rm-demo01"));
    let v = rds(
        json!({ "mode": "Tables", "tables": [ { "database": "d", "newDatabase": "d2" } ],
                "overwrite": { "confirmTargetId": "rm-x" } }),
        json!({ "phase": "Pending", "conditions": [ cond("Stalled", "OverwriteNotConfirmed", msg) ] }),
    );
    assert_eq!(v.kind(), Kind::RdsRestore);
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "OverwriteNotConfirmed");
    assert!(!w.done);
    assert!(w.summary.contains("rm-demo01"), "{w:?}");
    assert!(
        w.details[1].contains("overwrite.confirmTargetId: rm-demo01"),
        "{w:?}"
    );
    assert_eq!(
        w.fix,
        vec![
            "kubectl aliyun-backup restore --from rdsbackup/nightly --tables d=d2 --to rm-demo01 \
             -n ns   # a new object with overwrite.confirmTargetId: rm-demo01"
        ]
    );
}

#[test]
fn raw_sources_are_fixed_from_the_yaml() {
    let v = rds(
        json!({ "source": { "dbInstanceId": "rm-1", "restoreTime": "2001-01-01T00:00:00Z" } }),
        json!({ "phase": "Pending",
                "conditions": [ cond("Stalled", "OutsideRecoveryWindow", "outside 2026-…") ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "OutsideRecoveryWindow");
    assert!(
        w.fix[0].starts_with("kubectl get rdsrestore r -n ns -o yaml > r.yaml   # the spec is immutable: a time inside"),
        "{w:?}"
    );
    assert_eq!(w.fix[1], "kubectl apply -f r.yaml");
}

#[test]
fn a_dry_run_says_how_to_restore() {
    let v = rds(
        json!({ "dryRun": true }),
        json!({ "phase": "Planned", "conditions": [ cond("Ready", "DryRunPlanned", "dry run: …") ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "DryRunPlanned");
    assert!(!w.done);
    assert_eq!(
        w.fix,
        vec![
            "kubectl aliyun-backup restore --from rdsbackup/nightly -n ns   # without --dry-run: restores"
        ]
    );
}

#[test]
fn waiting_for_the_source_or_a_peer() {
    let v = rds(
        json!({}),
        json!({ "phase": "Pending", "conditions": [
            cond("Reconciling", "SourceNotReady", "waiting for RdsBackup nightly to succeed") ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "SourceNotReady");
    assert_eq!(
        w.fix,
        vec!["kubectl aliyun-backup why rdsbackup/nightly -n ns"]
    );
    let msg = "waiting for RdsRestore first to finish its restore into rm-1 first";
    assert_eq!(peer_name(msg).as_deref(), Some("first"));
    let v = rds(
        json!({}),
        json!({ "phase": "Pending", "conditions": [ cond("Reconciling", "WaitingForPeer", msg) ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "WaitingForPeer");
    assert_eq!(
        w.fix,
        vec!["kubectl aliyun-backup why rdsrestore/first -n ns"]
    );
    let v = rds(
        json!({}),
        json!({ "phase": "Restoring", "progress": 40,
                "conditions": [ cond("Reconciling", "RestoreRunning", "running") ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "RestoreRunning");
    assert!(w.fix.is_empty());
    assert!(w.details.contains(&"progress 40%".to_string()));
}

#[test]
fn failed_done_and_a_password_secret() {
    let v = rds(
        json!({}),
        json!({ "phase": "Failed", "cloudMessage": "quota exceeded",
                "conditions": [ cond("Stalled", "RestoreFailed", "failed") ] }),
    );
    let w = why_any(&v, &[], &[]);
    assert_eq!(w.cause, "RestoreFailed");
    assert!(
        w.summary.ends_with("Failed: quota exceeded"),
        "{}",
        w.summary
    );
    assert!(w.fix[0].starts_with("kubectl aliyun-backup restore --from rdsbackup/nightly -n ns"));
    let v = rds(
        json!({}),
        json!({ "phase": "Succeeded", "conditions": [ cond("Ready", "RestoreSucceeded", "ok") ] }),
    );
    assert!(why_any(&v, &[], &[]).done);
    let o: DbsRestoreTask = serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "DbsRestoreTask",
        "metadata": { "name": "d", "namespace": "ns" },
        "spec": { "region": "cn-hangzhou",
                  "source": { "backupPlanId": "p1", "latestBackupSet": true },
                  "destination": { "instanceType": "RDS", "instanceId": "rm-2", "userName": "u",
                                   "passwordSecretRef": { "name": "pw", "key": "password" } },
                  "objects": [ { "database": "a", "newDatabase": "b" } ],
                  "overwrite": { "confirmTargetId": "rm-2" } },
        "status": { "conditions": [ cond("Stalled", "PasswordSecretInvalid", "no key") ] }
    }))
    .unwrap();
    let w = why_any(&View::from(&o), &[], &[]);
    assert_eq!(w.cause, "PasswordSecretInvalid");
    assert!(
        w.fix[0].starts_with("kubectl create secret generic pw -n ns --from-literal=password=")
    );
    assert!(w.fix[1].contains("reconcile-requested-at"));
}
