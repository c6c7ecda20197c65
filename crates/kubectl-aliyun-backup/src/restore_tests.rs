//! Unit tests of `restore`'s manifests: every refusal, the exact objects, and the way back
//! from an object to the command line that makes it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use serde_json::{Value, json};

use super::*;
use crate::restore_view::{dbs_args, hbr_args, rds_args};
use crate::{Cli, Command};

fn now() -> Timestamp {
    "2026-12-06T21:05:09Z".parse().unwrap()
}

/// `restore ARGS` parsed as the command line would.
fn args(line: &[&str]) -> RestoreArgs {
    let mut argv = vec!["kubectl-aliyun-backup", "restore"];
    argv.extend(line);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Restore(a) => a,
        other => panic!("{other:?}"),
    }
}

fn rds_backup(phase: &str) -> Source {
    Source::Rds(Box::new(
        serde_json::from_value(json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsBackup",
            "metadata": { "name": "nightly", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "credentialsRef": { "name": "creds" },
                      "dbInstanceId": "rm-demo01" },
            "status": { "phase": phase, "backupId": "7" }
        }))
        .unwrap(),
    ))
}

fn hbr_job(source_type: &str, phase: &str) -> Source {
    Source::Hbr(Box::new(
        serde_json::from_value(json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "HbrBackupJob",
            "metadata": { "name": "web", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "credentialsRef": { "name": "creds" },
                      "sourceType": source_type, "retention": 7, "instanceId": "i-demo01" },
            "status": { "phase": phase }
        }))
        .unwrap(),
    ))
}

fn dbs_plan() -> Source {
    Source::Dbs(Box::new(
        serde_json::from_value(json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "DbsBackupPlan",
            "metadata": { "name": "orders", "namespace": "ns" },
            "spec": {
                "region": "cn-hangzhou", "credentialsRef": { "name": "creds" },
                "planName": "orders", "databaseType": "MySQL", "instanceClass": "small",
                "backupMethod": "logical",
                "source": { "instanceType": "RDS", "instanceId": "rm-demo01", "userName": "backup",
                            "passwordSecretRef": { "name": "db-pw", "key": "password" } }
            }
        }))
        .unwrap(),
    ))
}

fn built(line: &[&str], source: &Source) -> Value {
    build(&args(line), source, "ns", now())
        .unwrap()
        .to_value()
        .unwrap()
}

fn refused(line: &[&str], source: &Source) -> String {
    build(&args(line), source, "ns", now()).unwrap_err()
}

#[test]
fn a_clone_from_an_rds_backup() {
    let src = rds_backup("Succeeded");
    assert_eq!(
        built(&["--from", "rdsbackup/nightly"], &src),
        json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsRestore",
            "metadata": { "name": "nightly-restore-202612062105", "namespace": "ns" },
            "spec": {
                "region": "cn-hangzhou", "credentialsRef": { "name": "creds" },
                "mode": "Clone", "dryRun": false,
                "source": { "backupRef": { "name": "nightly" } }
            }
        })
    );
    let v = built(
        &[
            "--from",
            "rdsbk/nightly",
            "--name",
            "c",
            "--dry-run",
            "--class",
            "mysql.n2.medium.1",
            "--storage",
            "100",
            "--description",
            "from nightly",
        ],
        &src,
    );
    assert_eq!(v["metadata"]["name"], "c");
    assert_eq!(v["spec"]["dryRun"], true);
    assert_eq!(
        v["spec"]["clone"],
        json!({ "payType": "Postpaid", "dbInstanceClass": "mysql.n2.medium.1",
                "dbInstanceStorage": 100, "dbInstanceDescription": "from nightly" })
    );
}

#[test]
fn a_clone_refuses_to_and_bad_storage() {
    let src = rds_backup("Succeeded");
    let e = refused(&["--from", "rdsbackup/nightly", "--to", "rm-demo01"], &src);
    assert!(e.contains("a clone makes a new instance"), "{e}");
    let e = refused(&["--from", "rdsbackup/nightly", "--storage", "12"], &src);
    assert!(e.contains("steps of 5"), "{e}");
    let e = refused(&["--from", "rdsbackup/nightly"], &rds_backup("Running"));
    assert!(
        e.contains("rdsbackup/nightly is Running, not Succeeded"),
        "{e}"
    );
}

#[test]
fn a_table_restore_names_its_victim() {
    let src = rds_backup("Succeeded");
    let tables = "orders.t1=t1_new,orders.t2=t2_new,stock=stock_restored";
    let line = ["--from", "rdsbackup/nightly", "--tables", tables];
    let e = refused(&line, &src);
    assert!(e.contains("pass --to rm-demo01"), "{e}");
    let mut wrong = line.to_vec();
    wrong.extend(["--to", "rm-other"]);
    let e = refused(&wrong, &src);
    assert!(
        e.contains("not rm-other") && e.contains("pass --to rm-demo01"),
        "{e}"
    );
    let mut good = line.to_vec();
    good.extend(["--to", "rm-demo01"]);
    let v = built(&good, &src);
    assert_eq!(v["spec"]["mode"], "Tables");
    assert_eq!(
        v["spec"]["overwrite"],
        json!({ "confirmTargetId": "rm-demo01" })
    );
    assert_eq!(
        v["spec"]["tables"],
        json!([
            { "database": "orders", "tables": [
                { "name": "t1", "newName": "t1_new" }, { "name": "t2", "newName": "t2_new" } ] },
            { "database": "stock", "newDatabase": "stock_restored" }
        ])
    );
    assert!(v["spec"].get("clone").is_none());
    let mut with_class = good.clone();
    with_class.extend(["--class", "x"]);
    assert!(refused(&with_class, &src).contains("apply to a clone"));
}

#[test]
fn table_entries_are_checked() {
    for (bad, says) in [
        ("orders.t1", "expected"),
        ("orders.t1=t1", "must differ"),
        ("orders=orders", "must differ"),
        (".t1=x", "DB.TABLE"),
        ("=x", "expected"),
    ] {
        let e = parse_tables(&[bad.to_string()]).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    let e = parse_tables(&["a=b".into(), "a=c".into()]).unwrap_err();
    assert!(e.contains("named twice"), "{e}");
}

#[test]
fn options_of_another_kind_are_refused() {
    let e = refused(
        &["--from", "rdsbackup/nightly", "--path", "/x"],
        &rds_backup("Succeeded"),
    );
    assert_eq!(
        e,
        "--path applies to a restore from hbrbackupjob, not from rdsbackup"
    );
    let e = refused(
        &["--from", "hbrbackupjob/web", "--databases", "a=b"],
        &hbr_job("UDM_ECS", "Succeeded"),
    );
    assert!(
        e.starts_with("--databases applies to a restore from dbsbackupplan"),
        "{e}"
    );
    let e = refused(
        &["--from", "dbsbackupplan/orders", "--tables", "a=b"],
        &dbs_plan(),
    );
    assert!(
        e.starts_with("--tables applies to a restore from rdsbackup"),
        "{e}"
    );
}

#[test]
fn an_hbr_rollback_and_a_file_restore() {
    let udm = hbr_job("UDM_ECS", "Succeeded");
    let e = refused(&["--from", "hbrbackupjob/web"], &udm);
    assert!(e.contains("pass --to i-demo01"), "{e}");
    let e = refused(&["--from", "hbrbackupjob/web", "--to", "i-x"], &udm);
    assert!(e.contains("pass --to i-demo01"), "{e}");
    assert!(
        refused(
            &["--from", "hbrjob/web", "--to", "i-demo01", "--path", "/r"],
            &udm
        )
        .contains("--path")
    );
    let v = built(
        &["--from", "hbrjob/web", "--to", "i-demo01", "--name", "rb"],
        &udm,
    );
    assert_eq!(
        v["spec"],
        json!({
            "region": "cn-hangzhou", "credentialsRef": { "name": "creds" }, "dryRun": false,
            "source": { "backupJobRef": { "name": "web" } },
            "target": { "restoreType": "UDM_ECS_ROLLBACK", "instanceId": "i-demo01" },
            "overwrite": { "confirmTargetId": "i-demo01" }
        })
    );
    let file = hbr_job("ECS_FILE", "Succeeded");
    let e = refused(&["--from", "hbrbackupjob/web", "--to", "i-demo01"], &file);
    assert!(e.contains("--path DIR is required"), "{e}");
    let e = refused(&["--from", "hbrbackupjob/web", "--path", "/restore"], &file);
    assert!(
        e.contains("pass --to <instance>") && e.contains("--to i-demo01"),
        "{e}"
    );
    let v = built(
        &[
            "--from",
            "hbrbackupjob/web",
            "--path",
            "/restore",
            "--to",
            "i-other",
        ],
        &file,
    );
    assert_eq!(
        v["spec"]["target"],
        json!({ "restoreType": "ECS_FILE", "instanceId": "i-other", "path": "/restore" })
    );
    assert_eq!(v["spec"]["overwrite"]["confirmTargetId"], "i-other");
    let e = refused(
        &["--from", "hbrbackupjob/web", "--to", "i-demo01"],
        &hbr_job("UDM_ECS", "Failed"),
    );
    assert!(e.contains("is Failed, not Succeeded"), "{e}");
    let e = refused(
        &["--from", "hbrbackupjob/web"],
        &hbr_job("CONTAINER", "Succeeded"),
    );
    assert!(e.contains("CONTAINER"), "{e}");
}

#[test]
fn a_dbs_restore_needs_a_destination_and_databases() {
    let plan = dbs_plan();
    let e = refused(
        &["--from", "dbsbackupplan/orders", "--databases", "orders=o2"],
        &plan,
    );
    assert!(e.contains("--to <RDS instance id> is required"), "{e}");
    let e = refused(&["--from", "dbsplan/orders", "--to", "rm-demo02"], &plan);
    assert!(e.contains("--databases DB=NEWDB"), "{e}");
    let line = [
        "--from",
        "dbsplan/orders",
        "--to",
        "rm-demo02",
        "--databases",
        "orders=orders_restored",
    ];
    let v = built(&line, &plan);
    assert_eq!(
        v["spec"],
        json!({
            "region": "cn-hangzhou", "credentialsRef": { "name": "creds" }, "dryRun": false,
            "source": { "backupPlanRef": { "name": "orders" }, "latestBackupSet": true },
            "destination": { "instanceType": "RDS", "instanceId": "rm-demo02", "userName": "backup",
                             "passwordSecretRef": { "name": "db-pw", "key": "password" } },
            "objects": [ { "database": "orders", "newDatabase": "orders_restored" } ],
            "overwrite": { "confirmTargetId": "rm-demo02" }
        })
    );
    let mut other = line.to_vec();
    other.extend([
        "--time",
        "2026-12-01T03:00:00Z",
        "--user",
        "u",
        "--password-secret",
        "s:k",
    ]);
    let v = built(&other, &plan);
    assert_eq!(
        v["spec"]["source"],
        json!({ "backupPlanRef": { "name": "orders" }, "restoreTime": "2026-12-01T03:00:00Z" })
    );
    assert_eq!(v["spec"]["destination"]["userName"], "u");
    assert_eq!(
        v["spec"]["destination"]["passwordSecretRef"],
        json!({ "name": "s", "key": "k" })
    );
    let mut bad_time = line.to_vec();
    bad_time.extend(["--time", "yesterday"]);
    assert!(refused(&bad_time, &plan).starts_with("--time:"));
    let mut bad_secret = line.to_vec();
    bad_secret.extend(["--user", "u", "--password-secret", "nokey"]);
    assert!(refused(&bad_secret, &plan).contains("NAME:KEY"));
    let mut set = line.to_vec();
    set.extend(["--backup-set", "bs-1"]);
    assert_eq!(built(&set, &plan)["spec"]["source"]["backupSetId"], "bs-1");
    let e = refused(
        &[
            "--from",
            "dbsplan/orders",
            "--to",
            "rm-2",
            "--databases",
            "a=a",
        ],
        &plan,
    );
    assert!(e.contains("must differ"), "{e}");
}

#[test]
fn the_wrong_source_kind_and_clap_rules() {
    let e = refused(
        &["--from", "hbrbackupjob/nightly"],
        &rds_backup("Succeeded"),
    );
    assert!(e.contains("is not a RdsBackup"), "{e}");
    let argv = [
        "kubectl-aliyun-backup",
        "restore",
        "--from",
        "dbsplan/x",
        "--user",
        "u",
    ];
    assert!(
        Cli::try_parse_from(argv).is_err(),
        "--user needs --password-secret"
    );
    let argv = [
        "kubectl-aliyun-backup",
        "restore",
        "--from",
        "dbsplan/x",
        "--time",
        "t",
        "--backup-set",
        "b",
    ];
    assert!(
        Cli::try_parse_from(argv).is_err(),
        "--time and --backup-set conflict"
    );
    assert_eq!(plan_name("x"), "x-plan");
}

/// The flags read back from an object make the same object again.
#[test]
fn objects_turn_back_into_their_command_line() {
    let cases: [(&[&str], Source); 5] = [
        (
            &[
                "--from",
                "rdsbackup/nightly",
                "--class",
                "c1",
                "--storage",
                "20",
            ],
            rds_backup("Succeeded"),
        ),
        (
            &[
                "--from",
                "rdsbackup/nightly",
                "--tables",
                "a.t=t2,b=b2",
                "--to",
                "rm-demo01",
            ],
            rds_backup("Succeeded"),
        ),
        (
            &["--from", "hbrbackupjob/web", "--to", "i-demo01"],
            hbr_job("UDM_ECS", "Succeeded"),
        ),
        (
            &["--from", "hbrbackupjob/web", "--to", "i-9", "--path", "/r"],
            hbr_job("ECS_FILE", "Succeeded"),
        ),
        (
            &[
                "--from",
                "dbsbackupplan/orders",
                "--to",
                "rm-2",
                "--databases",
                "a=b",
                "--backup-set",
                "s1",
            ],
            dbs_plan(),
        ),
    ];
    for (line, src) in cases {
        let m = build(&args(line), &src, "ns", now()).unwrap();
        let back = match &m {
            Manifest::Rds(o) => rds_args(&o.spec),
            Manifest::Hbr(o) => hbr_args(&o.spec),
            Manifest::Dbs(o) => dbs_args(&o.spec),
        }
        .unwrap();
        let mut again = vec!["--from", line[1]];
        again.extend(back.iter().map(String::as_str));
        let m2 = build(&args(&again), &src, "ns", now()).unwrap();
        assert_eq!(m, m2, "{line:?} -> {back:?}");
    }
}
