//! `kubectl aliyun-backup restore` and the restore kinds in `why`/`describe`, against
//! kube-sandbox, the emulator and the operator (the same harness as `tests/plugin.rs`): a dry
//! run shows the plan and restores nothing, `--yes --wait` restores, a table restore that does
//! not name its victim is refused before anything exists, `-o yaml` prints what the CRD
//! accepts, and `why` explains a restore stalled on an unconfirmed overwrite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use std::io::IsTerminal;

use aliyun_backup_operator::crd::{RdsBackup, RdsBackupPhase, RdsRestore, RestorePhase};
use common::*;
use kube::api::ListParams;
use kubectl::Kubectl;
use serde_json::{Value, json};

async fn succeeded_rds_backup(env: &Env, name: &str) {
    create_from::<RdsBackup>(env, manifest("RdsBackup", name, rds_spec("rm-demo01"))).await;
    wait_for(&env.api::<RdsBackup>(), name, "backup Succeeded", |b| {
        b.status.as_ref().and_then(|s| s.phase) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
}

async fn restores(env: &Env) -> Vec<String> {
    env.api::<RdsRestore>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter_map(|r| r.metadata.name)
        .collect()
}

fn restore_phase(r: &RdsRestore) -> Option<RestorePhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_and_restores_nothing() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    succeeded_rds_backup(&env, "nightly").await;

    // --dry-run: the plan of a dry-run object, which is deleted; no clone.
    let (code, out, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "--name",
            "orders",
            "--dry-run",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Plan of rdsrestore/orders (dry run rdsrestore/orders-plan):"),
        "{out}"
    );
    assert!(out.contains("operation:   RDS CloneDBInstance"), "{out}");
    assert!(
        out.contains("target:      a new instance cloned from rm-demo01"),
        "{out}"
    );
    assert!(out.contains("overwrites:  no"), "{out}");
    assert!(out.contains("DBInstanceId"), "{out}");
    assert!(
        out.contains("to restore run `kubectl aliyun-backup restore --from rdsbackup/nightly -n backups` without --dry-run"),
        "{out}"
    );
    assert_eq!(env.calls("CloneDBInstance"), 0);
    wait_gone(&env.api::<RdsRestore>(), "orders-plan").await;
    assert!(restores(&env).await.is_empty());

    // Without a terminal and without --yes: refused before anything is created.
    if !std::io::stdin().is_terminal() {
        let (code, _, err) = k.run(&["restore", "--from", "rdsbackup/nightly"]).await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("pass --yes"), "{err}");
        assert!(restores(&env).await.is_empty());
    }
}

#[tokio::test]
async fn yes_wait_clones_and_describe_shows_the_restore() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    succeeded_rds_backup(&env, "nightly").await;

    // --yes --wait: the clone is made and followed to its end.
    let (code, out, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbk/nightly",
            "--name",
            "orders",
            "--yes",
            "--wait",
            "--timeout",
            "2m",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("rdsrestore/orders\n"), "{out}");
    assert!(err.contains("rdsrestore/orders succeeded"), "{err}");
    assert_eq!(env.calls("CloneDBInstance"), 1);
    let done = env.api::<RdsRestore>().get("orders").await.unwrap();
    assert_eq!(restore_phase(&done), Some(RestorePhase::Succeeded));
    assert!(!done.spec.common.dry_run);
    let clone = done
        .status
        .as_ref()
        .unwrap()
        .db_instance_id
        .clone()
        .unwrap();
    wait_gone(&env.api::<RdsRestore>(), "orders-plan").await;

    // describe and why on the finished restore.
    let (code, out, _) = k.run(&["describe", "rdsrs/orders"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Kind:        RdsRestore"), "{out}");
    assert!(
        out.contains("Source:      rdsbackup/nightly (rm-demo01 backup "),
        "{out}"
    );
    assert!(out.contains(&format!("Target:      {clone}")), "{out}");
    assert!(
        out.contains(&format!("Cloud id:    dbInstanceId {clone}")),
        "{out}"
    );
    assert!(out.contains("Phase:       Succeeded"), "{out}");
    assert!(out.contains("operation:   RDS CloneDBInstance"), "{out}");
    assert!(out.contains("Ready: ready (RestoreSucceeded)"), "{out}");
    println!("{out}");
    let w = k.why("rdsrestore/orders").await;
    assert_eq!(w["done"], true, "{w}");
}

#[tokio::test]
async fn a_table_restore_without_to_is_refused_and_creates_nothing() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    succeeded_rds_backup(&env, "nightly").await;
    let (code, out, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "--tables",
            "orders.t1=t1_new",
            "--yes",
        ])
        .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "a table restore writes into the live instance rm-demo01: pass --to rm-demo01"
        ),
        "{err}"
    );
    assert!(restores(&env).await.is_empty());
    assert_eq!(env.calls("RestoreTable"), 0);
    // Another instance is refused the same way; a source that is not there is an error too.
    let (code, _, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "--tables",
            "orders.t1=t1_new",
            "--to",
            "rm-demo02",
            "--dry-run",
        ])
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pass --to rm-demo01"), "{err}");
    let (code, _, err) = k
        .run(&["restore", "--from", "rdsbackup/none", "--dry-run"])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("RdsBackup none not found"), "{err}");
    assert!(restores(&env).await.is_empty());
}

#[tokio::test]
async fn output_yaml_prints_a_manifest_the_crd_accepts() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    succeeded_rds_backup(&env, "nightly").await;
    let (code, yaml, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "--tables",
            "orders.t1=t1_new",
            "--to",
            "rm-demo01",
            "--name",
            "tables",
            "-o",
            "yaml",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains("kind: RdsRestore"), "{yaml}");
    assert!(yaml.contains("confirmTargetId: rm-demo01"), "{yaml}");
    assert!(restores(&env).await.is_empty(), "-o creates nothing");
    let manifest: Value = serde_norway::from_str(&yaml).unwrap();
    let created: RdsRestore = create_from(&env, manifest).await;
    assert_eq!(created.spec.tables[0].tables[0].new_name, "t1_new");
    // The operator takes it: it leaves Pending without stalling.
    let seen = wait_for(&env.api::<RdsRestore>(), "tables", "started", |r| {
        matches!(
            restore_phase(r),
            Some(RestorePhase::Starting | RestorePhase::Restoring | RestorePhase::Succeeded)
        )
    })
    .await;
    assert!(!is_true(&seen, "Stalled"), "{seen:?}");

    let (code, out, _) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "--name",
            "c",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code, 0);
    let clone: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(clone["spec"]["mode"], "Clone");
    let _: RdsRestore = create_from(&env, clone).await;
    let (code, _, err) = k
        .run(&[
            "restore",
            "--from",
            "rdsbackup/nightly",
            "-o",
            "yaml",
            "--wait",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("creates nothing"), "{err}");
}

#[tokio::test]
async fn why_names_an_unconfirmed_overwrite_and_its_fix() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    succeeded_rds_backup(&env, "nightly").await;
    let spec = json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "mode": "Tables",
        "source": { "backupRef": { "name": "nightly" } },
        "tables": [{ "database": "orders", "tables": [{ "name": "t1", "newName": "t1_r" }] }],
        "overwrite": { "confirmTargetId": "rm-demo02" },
    });
    create_from::<RdsRestore>(&env, manifest("RdsRestore", "wrong", spec)).await;
    wait_for(
        &env.api::<RdsRestore>(),
        "wrong",
        "OverwriteNotConfirmed",
        |r| {
            condition(r, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "OverwriteNotConfirmed")
        },
    )
    .await;
    let w = k.why("rdsrs/wrong").await;
    assert_eq!(w["cause"], "OverwriteNotConfirmed", "{w}");
    assert!(w["summary"].as_str().unwrap().contains("rm-demo01"), "{w}");
    assert_eq!(
        w["fix"][0],
        "kubectl aliyun-backup restore --from rdsbackup/nightly --tables orders.t1=t1_r --to rm-demo01 -n backups   # a new object with overwrite.confirmTargetId: rm-demo01",
        "{w}"
    );
    let (code, out, _) = k.run(&["why", "rdsrestore/wrong"]).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("rdsrestore/wrong: the restore writes into the existing rm-demo01"),
        "{out}"
    );
    println!("{out}");
    let (code, out, _) = k.run(&["describe", "rdsrestore/wrong"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Stalled: STALLED, needs a person (OverwriteNotConfirmed)"),
        "{out}"
    );
    assert!(out.contains("Confirmed:   overwrite of rm-demo02"), "{out}");
    assert_eq!(env.calls("RestoreTable"), 0);

    // pause/resume take the restore kinds too.
    let (code, out, _) = k.run(&["pause", "rdsrestore/wrong"]).await;
    assert_eq!((code, out.as_str()), (0, "rdsrestore/wrong paused\n"));
    let (code, out, _) = k.run(&["resume", "rdsrs/wrong"]).await;
    assert_eq!((code, out.as_str()), (0, "rdsrestore/wrong resumed\n"));
}

#[tokio::test]
async fn an_hbr_rollback_plans_on_the_jobs_instance_and_names_it() {
    use aliyun_backup_operator::crd::{HbrBackupJob, HbrBackupJobPhase, HbrRestoreJob};
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    create_from::<HbrBackupJob>(&env, manifest("HbrBackupJob", "web", hbr_udm_spec())).await;
    wait_for(&env.api::<HbrBackupJob>(), "web", "job Succeeded", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(HbrBackupJobPhase::Succeeded)
    })
    .await;
    let (code, _, err) = k
        .run(&["restore", "--from", "hbrjob/web", "--dry-run"])
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pass --to i-demo01"), "{err}");
    let (code, out, err) = k
        .run(&[
            "restore",
            "--from",
            "hbrjob/web",
            "--to",
            "i-demo01",
            "--name",
            "rb",
            "--dry-run",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("operation:   HBR CreateRestoreJob"), "{out}");
    assert!(out.contains("overwrites:  yes"), "{out}");
    assert_eq!(env.calls("CreateRestoreJob"), 0);
    wait_gone(&env.api::<HbrRestoreJob>(), "rb-plan").await;
}
