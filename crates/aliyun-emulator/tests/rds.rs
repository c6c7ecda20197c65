//! RDS: CreateBackup validation, the task state machine, DescribeBackups, DeleteBackup.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const INST: (&str, &str) = ("DBInstanceId", "rm-demo01");

async fn setup() -> (EmulatorHandle, Client) {
    let emu =
        start_with(EmulatorConfig::default().with_job_duration(Duration::from_secs(100))).await;
    let c = Client::new(&emu);
    (emu, c)
}

async fn task(c: &Client, job: &str) -> Value {
    let r = c
        .v3(RDS, "DescribeBackupTasks", &[INST, ("BackupJobId", job)])
        .await
        .ok();
    r.body["Items"]["BackupJob"][0].clone()
}

#[tokio::test]
async fn task_walks_every_status_in_steps() {
    let (emu, c) = setup().await;
    let r = c
        .v3(RDS, "CreateBackup", &[INST, ("BackupMethod", "Physical")])
        .await
        .ok();
    let job = r.s("/BackupJobId");
    assert!(job.parse::<u64>().is_ok());
    let mut seen = Vec::new();
    let mut last_process = -1i64;
    for _ in 0..25 {
        let t = task(&c, &job).await;
        let st = t["BackupStatus"].as_str().unwrap().to_owned();
        let p: i64 = t["Process"].as_str().unwrap().parse().unwrap();
        assert!(p >= last_process, "Process went back");
        last_process = p;
        assert_eq!(t["JobMode"], "Manual");
        assert_eq!(t["TaskAction"], "TempBackupTask");
        if st == "Finished" {
            assert_eq!(p, 100);
            assert!(t["BackupId"].as_str().is_some());
        } else {
            assert!(t.get("BackupId").is_none());
        }
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        emu.advance_time(Duration::from_secs(5));
    }
    assert_eq!(
        seen,
        [
            "NoStart",
            "Preparing",
            "Waiting",
            "Uploading",
            "Checking",
            "Finished"
        ]
    );
    // Without BackupJobId only running tasks are listed.
    let r = c.v3(RDS, "DescribeBackupTasks", &[INST]).await.ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 0);
    // The backup set appears.
    let r = c.v3(RDS, "DescribeBackups", &[INST]).await.ok();
    let b = &r.body["Items"]["Backup"][0];
    assert_eq!(b["BackupStatus"], "Success");
    assert_eq!(b["StoreStatus"], "Enabled");
    assert_eq!(b["MetaStatus"], "OK");
    assert_eq!(b["BackupMethod"], "Physical");
    assert!(b["BackupSize"].as_i64().unwrap() > 0);
    assert!(b["BackupStartTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.body["TotalRecordCount"], "1");
    assert_eq!(r.body["PageNumber"], "1");
    assert_eq!(r.body["PageRecordCount"], "1");
}

#[tokio::test]
async fn injected_failure_ends_failed() {
    let (emu, c) = setup().await;
    emu.fail_rds_task(Some("rm-demo01"));
    let job = c
        .v3(RDS, "CreateBackup", &[INST])
        .await
        .ok()
        .s("/BackupJobId");
    emu.advance_time(Duration::from_secs(45));
    assert_eq!(task(&c, &job).await["BackupStatus"], "Uploading");
    emu.advance_time(Duration::from_secs(20));
    assert_eq!(task(&c, &job).await["BackupStatus"], "Failed");
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("BackupStatus", "Failed")])
        .await
        .ok();
    let b = &r.body["Items"]["Backup"][0];
    assert_eq!(b["MetaStatus"], "EMPTY");
    assert_eq!(b["StoreStatus"], "Disabled");
    // A Disabled backup set cannot be deleted.
    let id = b["BackupId"].as_str().unwrap();
    let r = c.v3(RDS, "DeleteBackup", &[INST, ("BackupId", id)]).await;
    assert_eq!((r.status, r.code()), (403, "IncorrectBackupSetState"));
    // After a failure a new backup may start.
    c.v3(RDS, "CreateBackup", &[INST]).await.ok();
}

#[tokio::test]
async fn failure_applies_to_running_task_by_job_id() {
    let (emu, c) = setup().await;
    let job = c
        .v3(RDS, "CreateBackup", &[INST])
        .await
        .ok()
        .s("/BackupJobId");
    emu.fail_rds_task(Some(&job));
    emu.advance_time(Duration::from_secs(70));
    assert_eq!(task(&c, &job).await["BackupStatus"], "Failed");
    assert!(
        emu.state()["pending_scenarios"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_running_task_per_instance() {
    let (emu, c) = setup().await;
    c.v3(RDS, "CreateBackup", &[INST]).await.ok();
    let r = c.v3(RDS, "CreateBackup", &[INST]).await;
    assert_eq!((r.status, r.code()), (400, "BackupJobExists"));
    emu.advance_time(Duration::from_secs(101));
    c.v3(RDS, "CreateBackup", &[INST]).await.ok();
}

#[tokio::test]
async fn twenty_backups_per_day() {
    let emu = start_with(EmulatorConfig::default().with_job_duration(Duration::from_secs(1))).await;
    let c = Client::new(&emu);
    // Start at the beginning of a UTC day so all 21 fall on the same day.
    let now = emu.now_ms();
    let to_next_day = 86_400_000 - now.rem_euclid(86_400_000) + 1000;
    emu.advance_time(Duration::from_millis(to_next_day as u64));
    for _ in 0..20 {
        c.v3(RDS, "CreateBackup", &[INST]).await.ok();
        emu.advance_time(Duration::from_secs(2));
    }
    let r = c.v3(RDS, "CreateBackup", &[INST]).await;
    // Code and HTTP status of the CreateBackup error table.
    assert_eq!((r.status, r.code()), (403, "Exceeded.BackupTimes"));
    emu.advance_time(Duration::from_secs(86_400));
    c.v3(RDS, "CreateBackup", &[INST]).await.ok();
}

#[tokio::test]
async fn create_backup_validation() {
    let (emu, c) = setup().await;
    let cases: &[(&[(&str, &str)], u16, &str)] = &[
        (
            &[("DBInstanceId", "rm-nope")],
            400,
            "InvalidDBInstanceId.NotFound",
        ),
        (
            &[INST, ("BackupMethod", "Magic")],
            400,
            "InvalidBackupMethod.ValueNotSupport",
        ),
        (
            &[INST, ("BackupType", "Weekly")],
            400,
            "BackupType.NotSupport",
        ),
        (
            &[
                INST,
                ("BackupMethod", "Logical"),
                ("BackupStrategy", "table"),
            ],
            400,
            "InvalidParameter",
        ),
        (
            &[INST, ("BackupMethod", "Logical"), ("BackupStrategy", "db")],
            400,
            "MissingParameter",
        ),
        (
            &[
                INST,
                ("BackupMethod", "Logical"),
                ("BackupStrategy", "db"),
                ("DBName", "Bad-Name"),
            ],
            400,
            "InvalidDBName.Format",
        ),
        (
            &[
                INST,
                ("BackupMethod", "Logical"),
                ("BackupStrategy", "db"),
                ("DBName", "ok_1,x_"),
            ],
            400,
            "InvalidDBName.Format",
        ),
        (
            &[
                INST,
                ("BackupMethod", "Logical"),
                ("BackupStrategy", "db"),
                ("DBName", "abcdefghijklmnopq"),
            ],
            400,
            "InvalidDBName.Format",
        ),
        (&[INST, ("DBName", "db-1")], 400, "InvalidDBName.Format"),
        (
            &[INST, ("BackupRetentionPeriod", "3")],
            400,
            "InvalidParameter",
        ),
        (
            &[INST, ("BackupRetentionPeriod", "731")],
            400,
            "InvalidParameter",
        ),
        (
            &[INST, ("BackupRetentionPeriod", "x")],
            400,
            "InvalidParameter",
        ),
        (&[], 400, "MissingParameter"),
    ];
    for (params, status, code) in cases {
        let r = c.v3(RDS, "CreateBackup", params).await;
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{params:?}: {}",
            r.body
        );
    }
    // Valid variants.
    c.v3(
        RDS,
        "CreateBackup",
        &[
            INST,
            ("BackupMethod", "Logical"),
            ("BackupStrategy", "db"),
            ("DBName", "app_db,db2"),
            ("BackupRetentionPeriod", "-1"),
        ],
    )
    .await
    .ok();
    emu.advance_time(Duration::from_secs(101));
    c.v3(
        RDS,
        "CreateBackup",
        &[
            INST,
            ("BackupMethod", "Physical"),
            ("BackupType", "FullBackup"),
            ("BackupRetentionPeriod", "7"),
        ],
    )
    .await
    .ok();
    emu.advance_time(Duration::from_secs(101));
    // Where the API reference only says when a parameter can be specified, other uses are
    // accepted: BackupStrategy on a physical MySQL backup, BackupType on a logical one, DBName
    // without BackupStrategy db.
    for params in [
        &[
            INST,
            ("BackupMethod", "Physical"),
            ("BackupStrategy", "instance"),
        ][..],
        &[
            INST,
            ("BackupMethod", "Physical"),
            ("BackupStrategy", "db"),
            ("DBName", "a"),
        ],
        &[
            INST,
            ("BackupMethod", "Logical"),
            ("BackupType", "FullBackup"),
        ],
        &[INST, ("DBName", "db1")],
    ] {
        c.v3(RDS, "CreateBackup", params).await.ok();
        emu.advance_time(Duration::from_secs(101));
    }
    emu.set_rds_instance_status("rm-demo01", "Restarting");
    let r = c.v3(RDS, "CreateBackup", &[INST]).await;
    assert_eq!((r.status, r.code()), (403, "IncorrectDBInstanceState"));
}

#[tokio::test]
async fn describe_filters_and_paging() {
    let emu =
        start_with(EmulatorConfig::default().with_job_duration(Duration::from_secs(10))).await;
    let c = Client::new(&emu);
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(
            c.v3(RDS, "CreateBackup", &[INST])
                .await
                .ok()
                .s("/BackupJobId"),
        );
        emu.advance_time(Duration::from_secs(11));
    }
    // DescribeBackupTasks status filters.
    let j = c
        .v3(RDS, "CreateBackup", &[INST])
        .await
        .ok()
        .s("/BackupJobId");
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[INST, ("BackupJobStatus", "NoStart")],
        )
        .await
        .ok();
    assert_eq!(r.body["Items"]["BackupJob"][0]["BackupJobId"], j.as_str());
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[INST, ("BackupJobStatus", "Progressing")],
        )
        .await
        .ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 0);
    emu.advance_time(Duration::from_secs(5));
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[INST, ("BackupJobStatus", "Progressing")],
        )
        .await
        .ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 1);
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[INST, ("BackupMode", "Automated")],
        )
        .await
        .ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 0);
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[INST, ("BackupJobStatus", "Done")],
        )
        .await;
    assert_eq!(r.code(), "InvalidParameter");
    let r = c
        .v3(RDS, "DescribeBackupTasks", &[INST, ("BackupJobId", "abc")])
        .await;
    assert_eq!(r.code(), "InvalidParameter");
    let r = c
        .v3(RDS, "DescribeBackupTasks", &[("DBInstanceId", "rm-x")])
        .await;
    assert_eq!((r.status, r.code()), (404, "InvalidDBInstanceId.NotFound"));
    // DescribeBackups: three finished sets, newest first.
    let r = c.v3(RDS, "DescribeBackups", &[INST]).await.ok();
    assert_eq!(r.body["TotalRecordCount"], "3");
    let r2 = c
        .v3(
            RDS,
            "DescribeBackups",
            &[INST, ("PageSize", "30"), ("PageNumber", "2")],
        )
        .await
        .ok();
    assert_eq!(r2.body["PageRecordCount"], "0");
    assert_eq!(r2.body["TotalRecordCount"], "3");
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("PageSize", "10")])
        .await;
    assert_eq!(r.code(), "InvalidParameter");
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("PageNumber", "0")])
        .await;
    assert_eq!(r.code(), "InvalidParameter");
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("StartTime", "2020-01-01")])
        .await;
    assert_eq!(r.code(), "InvalidStartTime.Malformed");
    let r = c
        .v3(
            RDS,
            "DescribeBackups",
            &[
                INST,
                ("StartTime", "2020-01-01T00:00Z"),
                ("EndTime", "2099-01-01T00:00Z"),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalRecordCount"], "3");
    let r = c
        .v3(
            RDS,
            "DescribeBackups",
            &[INST, ("EndTime", "2020-01-01T00:00Z")],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalRecordCount"], "0");
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("BackupStatus", "Failed")])
        .await
        .ok();
    assert_eq!(r.body["TotalRecordCount"], "0");
    // Delete two by comma-separated ids.
    let r = c.v3(RDS, "DescribeBackups", &[INST]).await.ok();
    let ids: Vec<String> = r.body["Items"]["Backup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["BackupId"].as_str().unwrap().to_owned())
        .collect();
    let one = ids[0].clone();
    let r = c
        .v3(RDS, "DescribeBackups", &[INST, ("BackupId", &one)])
        .await
        .ok();
    assert_eq!(r.body["TotalRecordCount"], "1");
    c.v3(
        RDS,
        "DeleteBackup",
        &[INST, ("BackupId", &format!("{},{}", ids[0], ids[1]))],
    )
    .await
    .ok();
    let r = c.v3(RDS, "DescribeBackups", &[INST]).await.ok();
    assert_eq!(r.body["TotalRecordCount"], "1");
    let r = c.v3(RDS, "DeleteBackup", &[INST, ("BackupId", &one)]).await;
    assert_eq!((r.status, r.code()), (404, "InvalidBackupId.NotFound"));
    let r = c.v3(RDS, "DeleteBackup", &[INST]).await;
    assert_eq!(r.code(), "MissingParameter");
    // More than 100 ids: the DeleteBackup error table's code.
    let many = (0..101)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let r = c
        .v3(RDS, "DeleteBackup", &[INST, ("BackupId", &many)])
        .await;
    assert_eq!((r.status, r.code()), (400, "DeleteBackupSetNumExceed"));
}

#[tokio::test]
async fn seeded_backup_sets_exist_from_the_start() {
    let emu = start_with(
        EmulatorConfig::default()
            .with_rds_backup_set("rm-demo01", 1_529_000_001)
            .with_rds_backup_set("rm-unknown", 1_529_000_002),
    )
    .await;
    let c = Client::new(&emu);
    let r = c.v3(RDS, "DescribeBackups", &[INST]).await.ok();
    let sets = r.body["Items"]["Backup"].as_array().unwrap().clone();
    assert_eq!(sets.len(), 1, "only sets of seeded instances: {sets:?}");
    assert_eq!(sets[0]["BackupId"], "1529000001");
    assert_eq!(sets[0]["BackupStatus"], "Success");
    assert_eq!(sets[0]["BackupMode"], "Manual");
    // Made a day ago: no running task, and new sets get other ids.
    let r = c.v3(RDS, "DescribeBackupTasks", &[INST]).await.ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 0);
    let job = c
        .v3(RDS, "CreateBackup", &[INST, ("BackupMethod", "Physical")])
        .await
        .ok()
        .s("/BackupJobId");
    assert!(!job.is_empty());
    drop(emu);
}
