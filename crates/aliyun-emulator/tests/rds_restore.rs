//! RDS restore: CloneDBInstance (validation, Creating → Running, ClientToken, tags, faults),
//! DescribeDBInstanceAttribute / DescribeDBInstances, DescribeLocalAvailableRecoveryTime,
//! RestoreTable and DescribeHistoryTasks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod common;

use std::time::Duration;

use aliyun_emulator::{Fault, Scenario};
use common::*;
use serde_json::Value;

const SRC: &str = "rm-demo01";
const SET: &str = "1530000777";

async fn setup() -> (EmulatorHandle, Client) {
    let emu = start_with(
        EmulatorConfig::default()
            .with_job_duration(Duration::from_secs(100))
            .with_rds_backup_set(SRC, 1_530_000_777),
    )
    .await;
    let c = Client::new(&emu);
    (emu, c)
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn status(c: &Client, id: &str) -> Reply {
    c.v3(RDS, "DescribeDBInstanceAttribute", &[("DBInstanceId", id)])
        .await
}

fn clone_count(emu: &EmulatorHandle) -> usize {
    emu.state()["rds"]["instances"]
        .as_object()
        .unwrap()
        .values()
        .filter(|i| i.get("clone").is_some())
        .count()
}

#[tokio::test]
async fn clone_from_a_backup_set_is_creating_then_running_and_tagged() {
    let (emu, c) = setup().await;
    let params = [
        ("DBInstanceId", SRC),
        ("PayType", "Postpaid"),
        ("BackupId", SET),
        ("ClientToken", "tok-1"),
        ("Tag.1.Key", "k8s-uid"),
        ("Tag.1.Value", "u1"),
        ("DBInstanceDescription", "orders-clone"),
        ("DBInstanceStorage", "200"),
    ];
    let r = c.v3(RDS, "CloneDBInstance", &params).await.ok();
    let id = r.s("/DBInstanceId");
    assert!(id.starts_with("rm-") && id != SRC, "{id}");
    assert!(!r.s("/OrderId").is_empty());

    let a = status(&c, &id).await.ok();
    let attr = &a.body["Items"]["DBInstanceAttribute"][0];
    assert_eq!(attr["DBInstanceStatus"], "Creating");
    assert_eq!(attr["DBInstanceStorage"], 200);
    assert_eq!(attr["DBInstanceDescription"], "orders-clone");
    assert_eq!(attr["Engine"], "MySQL");
    assert!(
        attr.get("Tags").is_none(),
        "no tags in the attribute answer"
    );

    // Same token, same parameters: the same instance, nothing new.
    let again = c.v3(RDS, "CloneDBInstance", &params).await.ok();
    assert_eq!(again.s("/DBInstanceId"), id);
    assert_eq!(again.s("/OrderId"), r.s("/OrderId"));
    assert_eq!(clone_count(&emu), 1);
    // Same token, other parameters: refused.
    let mut other = params.to_vec();
    other.retain(|(k, _)| *k != "DBInstanceStorage");
    let m = c.v3(RDS, "CloneDBInstance", &other).await;
    assert_eq!((m.status, m.code()), (400, "IdempotentParameterMismatch"));

    emu.advance_time(Duration::from_secs(99));
    assert_eq!(
        status(&c, &id).await.ok().body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"],
        "Creating"
    );
    emu.advance_time(Duration::from_secs(1));
    assert_eq!(
        status(&c, &id).await.ok().body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"],
        "Running"
    );

    // Adoption by the owner tag (any-match) and by description.
    let l = c
        .v3(
            RDS,
            "DescribeDBInstances",
            &[("RegionId", "cn-hangzhou"), ("Tags", r#"{"k8s-uid":"u1"}"#)],
        )
        .await
        .ok();
    let items = l.body["Items"]["DBInstance"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["DBInstanceId"], id.as_str());
    let l = c
        .v3(
            RDS,
            "DescribeDBInstances",
            &[("RegionId", "cn-hangzhou"), ("SearchKey", "orders-cl")],
        )
        .await
        .ok();
    assert_eq!(
        l.body["Items"]["DBInstance"][0]["DBInstanceId"],
        id.as_str()
    );
    let l = c
        .v3(
            RDS,
            "DescribeDBInstances",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Tags", r#"{"k8s-uid":"nobody"}"#),
            ],
        )
        .await
        .ok();
    assert_eq!(l.body["Items"]["DBInstance"].as_array().unwrap().len(), 0);

    let st = emu.state();
    let clone = &st["rds"]["instances"][id.as_str()];
    assert_eq!(clone["status"], "Running");
    assert_eq!(clone["clone"]["source_id"], SRC);
    assert_eq!(clone["clone"]["backup_id"], SET);
    assert_eq!(clone["tags"]["k8s-uid"], "u1");
    // The clone can be backed up once it runs.
    c.v3(RDS, "CreateBackup", &[("DBInstanceId", id.as_str())])
        .await
        .ok();
}

#[tokio::test]
async fn clone_requests_are_validated() {
    let (emu, c) = setup().await;
    let now = emu.now_ms();
    let cases: Vec<(Vec<(&str, String)>, u16, &str)> = vec![
        (
            vec![("PayType", "Postpaid".into()), ("BackupId", SET.into())],
            400,
            "MissingParameter",
        ),
        (
            vec![("DBInstanceId", SRC.into()), ("BackupId", SET.into())],
            400,
            "MissingParameter",
        ),
        (
            vec![("DBInstanceId", SRC.into()), ("PayType", "Postpaid".into())],
            400,
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("BackupId", SET.into()),
                ("RestoreTime", iso(now - 3_600_000)),
            ],
            400,
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Free".into()),
                ("BackupId", SET.into()),
            ],
            400,
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Prepaid".into()),
                ("BackupId", SET.into()),
            ],
            400,
            "MissingParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Prepaid".into()),
                ("Period", "Month".into()),
                ("UsedTime", "10".into()),
                ("BackupId", SET.into()),
            ],
            400,
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", "rm-nope".into()),
                ("PayType", "Postpaid".into()),
                ("BackupId", SET.into()),
            ],
            404,
            "InvalidDBInstanceId.NotFound",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("BackupId", "42".into()),
            ],
            404,
            "InvalidBackupId.NotFound",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("RestoreTime", "2026-01-01 10:00:00".into()),
            ],
            400,
            "InvalidUtcDateFormat.Format",
        ),
        (
            // Before the oldest backup set (a day ago): outside the window.
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("RestoreTime", iso(now - 2 * 86_400_000)),
            ],
            400,
            "InvalidRestoreTime",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("RestoreTime", iso(now + 3_600_000)),
            ],
            400,
            "InvalidRestoreTime",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("BackupId", SET.into()),
                ("DBInstanceStorage", "50".into()),
            ],
            400,
            "NotSupportReduceDiskSize",
        ),
        (
            vec![
                ("DBInstanceId", SRC.into()),
                ("PayType", "Postpaid".into()),
                ("BackupId", SET.into()),
                ("ClientToken", "x".repeat(65)),
            ],
            400,
            "InvalidParameter",
        ),
    ];
    for (params, status, code) in cases {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c.v3(RDS, "CloneDBInstance", &p).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{params:?}: {}",
            r.body
        );
    }
    assert_eq!(clone_count(&emu), 0, "no refused call made an instance");

    emu.set_rds_instance_status(SRC, "Rebooting");
    let r = c
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("BackupId", SET),
            ],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "IncorrectDBInstanceState"));
}

#[tokio::test]
async fn point_in_time_window_and_a_clone_to_a_point_in_time() {
    let (emu, c) = setup().await;
    let w = c
        .v3(
            RDS,
            "DescribeLocalAvailableRecoveryTime",
            &[("DBInstanceId", SRC)],
        )
        .await
        .ok();
    assert_eq!(w.s("/DBInstanceId"), SRC);
    let begin = w.s("/RecoveryBeginTime");
    let end = w.s("/RecoveryEndTime");
    assert!(!begin.is_empty() && begin < end, "{}", w.body);
    let now = emu.now_ms();
    assert!(end <= iso(now + 1000));
    // An instance without a backup set has no window.
    let bare = start().await;
    let cb = Client::new(&bare);
    let w = cb
        .v3(
            RDS,
            "DescribeLocalAvailableRecoveryTime",
            &[("DBInstanceId", SRC)],
        )
        .await
        .ok();
    assert_eq!(w.s("/RecoveryBeginTime"), "");
    let r = cb
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("RestoreTime", &iso(now - 60_000)),
            ],
        )
        .await;
    assert_eq!(r.code(), "InvalidRestoreTime");
    let r = c
        .v3(
            RDS,
            "DescribeLocalAvailableRecoveryTime",
            &[("DBInstanceId", "rm-nope")],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "InvalidDBInstanceId.NotFound"));

    let t = iso(now - 3_600_000);
    let r = c
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("RestoreTime", &t),
            ],
        )
        .await
        .ok();
    let id = r.s("/DBInstanceId");
    let st = emu.state();
    assert_eq!(
        st["rds"]["instances"][id.as_str()]["clone"]["restore_time_ms"],
        now - now.rem_euclid(1000) - 3_600_000
    );
    // Without a token every call is a new clone.
    c.v3(
        RDS,
        "CloneDBInstance",
        &[
            ("DBInstanceId", SRC),
            ("PayType", "Postpaid"),
            ("RestoreTime", &t),
        ],
    )
    .await
    .ok();
    assert_eq!(clone_count(&emu), 2);
}

#[tokio::test]
async fn a_failed_clone_goes_deleting_then_is_gone() {
    let (emu, c) = setup().await;
    emu.apply_scenario(Scenario::RdsCloneFailure {
        target: Some(SRC.into()),
    });
    let r = c
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("BackupId", SET),
            ],
        )
        .await
        .ok();
    let id = r.s("/DBInstanceId");
    let st = |r: Reply| r.body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].clone();
    assert_eq!(st(status(&c, &id).await.ok()), "Creating");
    emu.advance_time(Duration::from_secs(60));
    assert_eq!(st(status(&c, &id).await.ok()), "Deleting");
    emu.advance_time(Duration::from_secs(40));
    let r = status(&c, &id).await;
    assert_eq!((r.status, r.code()), (404, "InvalidDBInstanceId.NotFound"));
    assert_eq!(
        emu.state()["rds"]["instances"][id.as_str()]["status"],
        "Released"
    );
    let l = c
        .v3(
            RDS,
            "DescribeDBInstances",
            &[("RegionId", "cn-hangzhou"), ("DBInstanceId", &id)],
        )
        .await
        .ok();
    assert_eq!(l.body["Items"]["DBInstance"].as_array().unwrap().len(), 0);

    // A scenario aimed at a clone already in progress.
    let r = c
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("BackupId", SET),
            ],
        )
        .await
        .ok();
    let id2 = r.s("/DBInstanceId");
    emu.apply_scenario(Scenario::RdsCloneFailure {
        target: Some(id2.clone()),
    });
    emu.advance_time(Duration::from_secs(100));
    assert_eq!(
        status(&c, &id2).await.code(),
        "InvalidDBInstanceId.NotFound"
    );
}

#[tokio::test]
async fn a_lost_clone_answer_is_recovered_by_the_token() {
    let (emu, c) = setup().await;
    emu.inject_fault(
        Fault::error(Some("CloneDBInstance"), "InternalError", 500)
            .after_apply()
            .times(1),
    );
    let params = [
        ("DBInstanceId", SRC),
        ("PayType", "Postpaid"),
        ("BackupId", SET),
        ("ClientToken", "uid-123"),
    ];
    let r = c.v3(RDS, "CloneDBInstance", &params).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    assert_eq!(
        clone_count(&emu),
        1,
        "the call ran; only its answer was lost"
    );
    let r = c.v3(RDS, "CloneDBInstance", &params).await.ok();
    let id = r.s("/DBInstanceId");
    assert_eq!(clone_count(&emu), 1);
    assert_eq!(
        emu.state()["rds"]["instances"][id.as_str()]["clone"]["source_id"],
        SRC
    );

    // A refused call (fault before the action) makes nothing.
    emu.inject_fault(Fault::error(Some("CloneDBInstance"), "Throttling.User", 400).times(1));
    let r = c
        .v3(
            RDS,
            "CloneDBInstance",
            &[
                ("DBInstanceId", SRC),
                ("PayType", "Postpaid"),
                ("BackupId", SET),
            ],
        )
        .await;
    assert_eq!(r.code(), "Throttling.User");
    assert_eq!(clone_count(&emu), 1);
}

fn history(v: &Reply) -> Vec<Value> {
    v.body["Items"].as_array().unwrap().clone()
}

async fn tasks(c: &Client, emu: &EmulatorHandle, extra: &[(&str, &str)]) -> Reply {
    let now = emu.now_ms();
    let from = iso(now - 86_400_000);
    let to = iso(now + 1000);
    let mut p = vec![
        ("FromStartTime", from.as_str()),
        ("ToStartTime", to.as_str()),
    ];
    p.extend_from_slice(extra);
    c.v3(RDS, "DescribeHistoryTasks", &p).await.ok()
}

const META: &str = r#"[{"type":"db","name":"orders","newname":"orders_r","tables":[{"type":"table","name":"t1","newname":"t1_r"}]}]"#;

#[tokio::test]
async fn restore_table_runs_as_a_history_task_and_never_overwrites() {
    let (emu, c) = setup().await;
    let params = [
        ("DBInstanceId", SRC),
        ("BackupId", SET),
        ("TableMeta", META),
        ("ClientToken", "rt-1"),
    ];
    let r = c.v3(RDS, "RestoreTable", &params).await.ok();
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["RequestId"], "RequestId only");
    // Token replay: no second task; other parameters: refused.
    c.v3(RDS, "RestoreTable", &params).await.ok();
    let m = c
        .v3(
            RDS,
            "RestoreTable",
            &[
                ("DBInstanceId", SRC),
                ("BackupId", SET),
                ("TableMeta", "[]"),
                ("ClientToken", "rt-1"),
            ],
        )
        .await;
    assert_eq!(m.code(), "IdempotentParameterMismatch");
    let h = tasks(&c, &emu, &[("InstanceId", SRC)]).await;
    let items = history(&h);
    assert_eq!(items.len(), 1);
    assert_eq!(h.body["TotalCount"], 1);
    assert_eq!(items[0]["Status"], "Scheduled");
    assert_eq!(items[0]["TaskType"], "RestoreTable");
    let task_id = items[0]["TaskId"].as_str().unwrap().to_owned();
    // One table restore at a time per instance.
    let busy = c
        .v3(
            RDS,
            "RestoreTable",
            &[
                ("DBInstanceId", SRC),
                ("BackupId", SET),
                ("TableMeta", r#"[{"type":"db","name":"a","newname":"b"}]"#),
            ],
        )
        .await;
    assert_eq!((busy.status, busy.code()), (403, "ConcurrentTaskExceeded"));
    emu.advance_time(Duration::from_secs(50));
    let items = history(&tasks(&c, &emu, &[("TaskId", &task_id)]).await);
    assert_eq!(items[0]["Status"], "Running");
    emu.advance_time(Duration::from_secs(50));
    let items = history(&tasks(&c, &emu, &[("Status", "Succeed")]).await);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Progress"], 100.0);
    assert!(!items[0]["EndTime"].as_str().unwrap().is_empty());

    // The same target names again: they exist now, so the task fails and writes nothing.
    c.v3(
        RDS,
        "RestoreTable",
        &[
            ("DBInstanceId", SRC),
            ("BackupId", SET),
            ("TableMeta", META),
        ],
    )
    .await
    .ok();
    emu.advance_time(Duration::from_secs(25));
    let failed = history(&tasks(&c, &emu, &[("Status", "Failed")]).await);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["TaskDetail"]
            .as_str()
            .unwrap()
            .contains("orders_r.t1_r")
    );
    // Restoring onto the original name (no newname) fails the same way.
    emu.advance_time(Duration::from_secs(100));
    c.v3(
        RDS,
        "RestoreTable",
        &[
            ("DBInstanceId", SRC),
            ("RestoreTime", &iso(emu.now_ms() - 3_600_000)),
            ("TableMeta", r#"[{"type":"db","name":"users"}]"#),
        ],
    )
    .await
    .ok();
    emu.advance_time(Duration::from_secs(100));
    let failed = history(&tasks(&c, &emu, &[("Status", "Failed")]).await);
    assert_eq!(failed.len(), 2);
    assert_eq!(
        emu.state()["rds"]["history_tasks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn restore_table_validation_and_injected_failure() {
    let (emu, c) = setup().await;
    for (params, code) in [
        (
            vec![("DBInstanceId", SRC), ("BackupId", SET)],
            "MissingParameter",
        ),
        (
            vec![("DBInstanceId", SRC), ("TableMeta", META)],
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC),
                ("BackupId", SET),
                ("TableMeta", "not json"),
            ],
            "InvalidParameter",
        ),
        (
            vec![
                ("DBInstanceId", SRC),
                ("BackupId", "9"),
                ("TableMeta", META),
            ],
            "InvalidBackupId.NotFound",
        ),
        (
            vec![
                ("DBInstanceId", "rm-x"),
                ("BackupId", SET),
                ("TableMeta", META),
            ],
            "InvalidDBInstanceId.NotFound",
        ),
    ] {
        let r = c.v3(RDS, "RestoreTable", &params).await;
        assert_eq!(r.code(), code, "{params:?}");
    }
    let r = c
        .v3(
            RDS,
            "DescribeHistoryTasks",
            &[("ToStartTime", "2026-01-01T00:00:00Z")],
        )
        .await;
    assert_eq!(r.code(), "MissingParameter");
    assert_eq!(history(&tasks(&c, &emu, &[]).await).len(), 0);

    emu.apply_scenario(Scenario::RdsRestoreTableFailure {
        target: None,
        reason: "disk full".into(),
    });
    c.v3(
        RDS,
        "RestoreTable",
        &[
            ("DBInstanceId", SRC),
            ("BackupId", SET),
            ("TableMeta", META),
        ],
    )
    .await
    .ok();
    emu.advance_time(Duration::from_secs(100));
    let items = history(&tasks(&c, &emu, &[]).await);
    assert_eq!(items[0]["Status"], "Failed");
    assert!(
        items[0]["TaskDetail"]
            .as_str()
            .unwrap()
            .contains("disk full")
    );
}

#[tokio::test]
async fn a_held_clone_whose_answer_is_lost_runs_once() {
    use aliyun_emulator::Release;
    let (emu, c) = setup().await;
    emu.inject_fault(Fault::hold(Some("CloneDBInstance"), "clone").times(1));
    let c2 = c.clone();
    let params = [
        ("DBInstanceId", SRC),
        ("PayType", "Postpaid"),
        ("BackupId", SET),
        ("ClientToken", "uid-hold"),
    ];
    let call = tokio::spawn(async move {
        let r = c2.v3(RDS, "CloneDBInstance", &params).await;
        (r.status, r.code().to_owned())
    });
    let within = Duration::from_secs(30);
    let held = tokio::time::timeout(within, emu.wait_held("clone"))
        .await
        .unwrap();
    assert_eq!(
        (held.product.as_str(), held.action.as_str()),
        ("RDS", "CloneDBInstance")
    );
    assert_eq!(clone_count(&emu), 0, "a held call has not run");
    emu.release(
        "clone",
        Release::LoseAnswer {
            code: "InternalError".into(),
            http_status: 500,
        },
    );
    let (status, code) = tokio::time::timeout(within, call).await.unwrap().unwrap();
    assert_eq!((status, code.as_str()), (500, "InternalError"));
    assert_eq!(clone_count(&emu), 1);
    let id = c
        .v3(RDS, "CloneDBInstance", &params)
        .await
        .ok()
        .s("/DBInstanceId");
    assert_eq!(clone_count(&emu), 1);
    assert!(emu.state()["rds"]["instances"].get(id.as_str()).is_some());
}

#[tokio::test]
async fn restore_state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("emu-restore-state-{}", nonce()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let cfg = || {
        EmulatorConfig::default()
            .with_job_duration(Duration::from_secs(100))
            .with_rds_backup_set(SRC, 1_530_000_777)
            .with_state_file(&path)
    };
    let emu = start_with(cfg()).await;
    let c = Client::new(&emu);
    let params = [
        ("DBInstanceId", SRC),
        ("PayType", "Postpaid"),
        ("BackupId", SET),
        ("ClientToken", "uid-s"),
        ("Tag.1.Key", "owner"),
        ("Tag.1.Value", "uid-s"),
    ];
    let id = c
        .v3(RDS, "CloneDBInstance", &params)
        .await
        .ok()
        .s("/DBInstanceId");
    c.v3(
        RDS,
        "RestoreTable",
        &[
            ("DBInstanceId", SRC),
            ("BackupId", SET),
            ("TableMeta", META),
        ],
    )
    .await
    .ok();
    emu.shutdown().await;
    let emu = start_with(cfg()).await;
    let c = Client::new(&emu);
    // The token still maps to the clone; its tag, origin and the table restore are kept.
    assert_eq!(
        c.v3(RDS, "CloneDBInstance", &params)
            .await
            .ok()
            .s("/DBInstanceId"),
        id
    );
    let st = emu.state();
    assert_eq!(
        st["rds"]["instances"][id.as_str()]["tags"]["owner"],
        "uid-s"
    );
    assert_eq!(st["rds"]["history_tasks"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
