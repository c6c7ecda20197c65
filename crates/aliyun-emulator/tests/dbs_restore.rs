//! DBS restore: CreateRestoreTask rules and ClientToken, StartRestoreTask, the restore-task
//! state machine, DescribeRestoreTaskList, DescribeRestoreRangeInfo, pre-check, pause, faults.
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

const PLAN: &[(&str, &str)] = &[
    ("BackupMethod", "logical"),
    ("BackupPlanName", "plan-a"),
    ("DatabaseType", "MySQL"),
    ("InstanceClass", "micro"),
    ("SourceEndpointInstanceType", "RDS"),
    ("SourceEndpointRegion", "cn-hangzhou"),
    ("SourceEndpointInstanceID", "rm-demo01"),
    ("SourceEndpointUserName", "backup"),
    ("SourceEndpointPassword", "secret-canary"),
    ("Region", "cn-hangzhou"),
];

/// A plan with one finished full backup set: (plan id, set id).
async fn setup_with(cfg: EmulatorConfig) -> (EmulatorHandle, Client, String, String) {
    let emu = start_with(
        cfg.with_job_duration(Duration::from_secs(100))
            .with_rds_instance("rm-target"),
    )
    .await;
    let c = Client::new(&emu);
    let plan = c
        .v3(DBS, "CreateAndStartBackupPlan", PLAN)
        .await
        .ok()
        .s("/BackupPlanId");
    emu.advance_time(Duration::from_secs(150));
    let r = c
        .v3(DBS, "DescribeFullBackupList", &[("BackupPlanId", &plan)])
        .await
        .ok();
    let set = r.body["Items"]["FullBackupFile"][0].clone();
    assert_eq!(set["BackupStatus"], "finish", "{}", r.body);
    let set = set["BackupSetId"].as_str().unwrap().to_owned();
    (emu, c, plan, set)
}

async fn setup() -> (EmulatorHandle, Client, String, String) {
    setup_with(EmulatorConfig::default()).await
}

fn create_params<'a>(plan: &'a str, set: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("BackupPlanId", plan),
        ("BackupSetId", set),
        ("RestoreTaskName", name),
        ("DestinationEndpointInstanceType", "RDS"),
        ("DestinationEndpointRegion", "cn-hangzhou"),
        ("DestinationEndpointInstanceID", "rm-target"),
        ("DestinationEndpointUserName", "restore"),
        ("DestinationEndpointPassword", "dest-secret-canary"),
        (
            "RestoreObjects",
            r#"[{"DBName":"orders","NewDBName":"orders_restored"}]"#,
        ),
    ]
}

async fn task(c: &Client, id: &str) -> Value {
    let r = c
        .v3(DBS, "DescribeRestoreTaskList", &[("RestoreTaskId", id)])
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 1, "{}", r.body);
    r.body["Items"]["RestoreTaskDetail"][0].clone()
}

#[tokio::test]
async fn create_then_start_walks_the_states_and_the_token_holds() {
    let (emu, c, plan, set) = setup().await;
    let mut params = create_params(&plan, &set, "restore-uid-1");
    params.push(("ClientToken", "tok-create"));
    let r = c.v3(DBS, "CreateRestoreTask", &params).await.ok();
    let id = r.s("/RestoreTaskId");
    assert!(id.starts_with('s'), "{id}");
    // Same token, same parameters: the same task; other parameters: refused.
    let again = c.v3(DBS, "CreateRestoreTask", &params).await.ok();
    assert_eq!(again.s("/RestoreTaskId"), id);
    let mut other = params.clone();
    other.retain(|(k, _)| *k != "RestoreTaskName");
    other.push(("RestoreTaskName", "other"));
    let m = c.v3(DBS, "CreateRestoreTask", &other).await;
    assert_eq!((m.status, m.code()), (200, "IdempotentParameterMismatch"));
    assert_eq!(m.body["Success"], false);
    // Created, not started: init, and it stays so.
    emu.advance_time(Duration::from_secs(500));
    let t = task(&c, &id).await;
    assert_eq!(t["RestoreStatus"], "init");
    assert_eq!(t["ErrMessage"], "");
    assert_eq!(t["RestoreTaskName"], "restore-uid-1");
    assert_eq!(t["BackupSetId"], set.as_str());
    assert_eq!(t["DestinationEndpoint"]["InstanceID"], "rm-target");
    assert!(
        !t.to_string().contains("dest-secret-canary"),
        "no password in answers"
    );
    assert!(
        t["RestoreTaskCreateTime"].as_i64().unwrap() > 1_000_000_000_000,
        "ms"
    );

    let s = c
        .v3(
            DBS,
            "StartRestoreTask",
            &[("RestoreTaskId", &id), ("ClientToken", "tok-start")],
        )
        .await
        .ok();
    assert_eq!(s.s("/RestoreTaskId"), id);
    c.v3(
        DBS,
        "StartRestoreTask",
        &[("RestoreTaskId", &id), ("ClientToken", "tok-start")],
    )
    .await
    .ok();
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..22 {
        let st = task(&c, &id).await["RestoreStatus"]
            .as_str()
            .unwrap()
            .to_owned();
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        emu.advance_time(Duration::from_secs(5));
    }
    assert_eq!(seen, ["init", "check_pass", "running", "finish"]);
    let t = task(&c, &id).await;
    assert!(
        t["RestoreTaskFinishTime"].as_i64().unwrap() > t["RestoreTaskCreateTime"].as_i64().unwrap()
    );
    assert_eq!(t["FullDataRestoreProgress"], 100);
    // Starting an ended task is refused; a task id that does not exist is InvalidJobId.
    let r = c
        .v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &id)])
        .await;
    assert_eq!(r.code(), "InvalidParameterValid");
    let r = c
        .v3(DBS, "StartRestoreTask", &[("RestoreTaskId", "snope")])
        .await;
    assert_eq!(r.code(), "InvalidJobId");

    // Listed by plan (0-based pages) and found by name; passwords never reach the call log.
    let l = c
        .v3(
            DBS,
            "DescribeRestoreTaskList",
            &[("BackupPlanId", &plan), ("PageNum", "0")],
        )
        .await
        .ok();
    assert_eq!(l.body["TotalElements"], 1);
    assert_eq!(
        l.body["Items"]["RestoreTaskDetail"][0]["RestoreTaskName"],
        "restore-uid-1"
    );
    let log = serde_json::to_string(&emu.calls().log).unwrap();
    assert!(!log.contains("dest-secret-canary"));
    assert_eq!(
        emu.state()["dbs"]["restore_tasks"][0]["RestoreStatus"],
        "finish"
    );

    // The same target database again: it exists now, the pre-check fails (init + ErrMessage).
    let id2 = c
        .v3(
            DBS,
            "CreateRestoreTask",
            &create_params(&plan, &set, "again"),
        )
        .await
        .ok()
        .s("/RestoreTaskId");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &id2)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(20));
    let t = task(&c, &id2).await;
    assert_eq!(t["RestoreStatus"], "init");
    assert!(
        t["ErrMessage"]
            .as_str()
            .unwrap()
            .contains("orders_restored"),
        "{t}"
    );
    // renamenew lets it through.
    let mut rn = create_params(&plan, &set, "renamed");
    rn.push(("DuplicateConflict", "renamenew"));
    let id3 = c
        .v3(DBS, "CreateRestoreTask", &rn)
        .await
        .ok()
        .s("/RestoreTaskId");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &id3)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(100));
    assert_eq!(task(&c, &id3).await["RestoreStatus"], "finish");
}

#[tokio::test]
async fn create_rules() {
    let (emu, c, plan, set) = setup().await;
    let now = emu.now_ms().to_string();
    let base = create_params(&plan, &set, "n");
    let without = |k: &str| -> Vec<(&str, &str)> {
        base.iter().filter(|(kk, _)| *kk != k).copied().collect()
    };
    let plus = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = base
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<(&str, &str)>, u16, &str)> = vec![
        (without("BackupPlanId"), 400, "MissingParameter"),
        (without("RestoreTaskName"), 400, "MissingParameter"),
        (
            without("DestinationEndpointInstanceType"),
            400,
            "MissingParameter",
        ),
        (
            without("DestinationEndpointInstanceID"),
            200,
            "Param.NotFound",
        ),
        (without("DestinationEndpointRegion"), 200, "Param.NotFound"),
        (
            without("DestinationEndpointPassword"),
            200,
            "Param.NotFound",
        ),
        (without("RestoreObjects"), 200, "Param.NotFound"),
        (without("BackupSetId"), 200, "Param.NotFound"),
        (
            plus(&[("RestoreTime", "1554560477000")]),
            200,
            "InvalidParameterValid",
        ),
        (
            plus(&[("BackupSetId", "nope")]),
            200,
            "InvalidParameterValid",
        ),
        (
            plus(&[("DestinationEndpointInstanceType", "Cloud")]),
            200,
            "InvalidParameterValid",
        ),
        (
            plus(&[("RestoreObjects", "orders")]),
            200,
            "InvalidParameterValid",
        ),
        (
            plus(&[("DuplicateConflict", "overwrite")]),
            200,
            "InvalidParameterValid",
        ),
        (plus(&[("BackupPlanId", "dbsnope")]), 200, "InvalidJobId"),
        (
            plus(&[("ClientToken", "x".repeat(65).leak())]),
            200,
            "InvalidParameterValid",
        ),
    ];
    for (params, status, code) in cases {
        let r = c.v3(DBS, "CreateRestoreTask", &params).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{params:?}: {}",
            r.body
        );
    }
    // A point in time: inside the range it is accepted, outside refused.
    let mut pit = without("BackupSetId");
    pit.push(("RestoreTime", "1554560477000"));
    assert_eq!(
        c.v3(DBS, "CreateRestoreTask", &pit).await.code(),
        "InvalidParameterValid"
    );
    let mut pit = without("BackupSetId");
    pit.push(("RestoreTime", now.as_str()));
    c.v3(DBS, "CreateRestoreTask", &pit).await.ok();
    // Names are unique in a plan.
    let r = c.v3(DBS, "CreateRestoreTask", &pit).await;
    assert_eq!(r.code(), "InvalidParameterValid");
    assert_eq!(
        emu.state()["dbs"]["restore_tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The list wants exactly one of BackupPlanId and RestoreTaskId.
    let r = c
        .v3(
            DBS,
            "DescribeRestoreTaskList",
            &[("BackupPlanId", &plan), ("RestoreTaskId", "s1")],
        )
        .await;
    assert_eq!(r.code(), "InvalidParameterValid");
    let r = c.v3(DBS, "DescribeRestoreTaskList", &[]).await;
    assert_eq!(r.code(), "Param.NotFound");
}

#[tokio::test]
async fn range_info_reports_the_point_in_time_window() {
    let (emu, c, plan, set) = setup().await;
    let now = emu.now_ms();
    let r = c
        .v3(
            DBS,
            "DescribeRestoreRangeInfo",
            &[
                ("BackupPlanId", &plan),
                ("BeginTimestampForRestore", "0"),
                ("EndTimestampForRestore", &(now + 1_000_000).to_string()),
            ],
        )
        .await
        .ok();
    let ranges = r.body["Items"]["DBSRecoverRange"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "{}", r.body);
    let g = &ranges[0];
    let b = g["BeginTimestampForRestore"].as_i64().unwrap();
    let e = g["EndTimestampForRestore"].as_i64().unwrap();
    assert!(b < e && e <= now + 1000, "{g}");
    assert_eq!(g["SourceEndpointInstanceID"], "rm-demo01");
    assert_eq!(
        g["FullBackupList"]["FullBackupDetail"][0]["BackupSetId"],
        set.as_str()
    );
    // A window before the first set: nothing.
    let r = c
        .v3(
            DBS,
            "DescribeRestoreRangeInfo",
            &[
                ("BackupPlanId", &plan),
                ("BeginTimestampForRestore", "0"),
                ("EndTimestampForRestore", &(b - 1).to_string()),
            ],
        )
        .await
        .ok();
    assert_eq!(
        r.body["Items"]["DBSRecoverRange"].as_array().unwrap().len(),
        0
    );
    let r = c
        .v3(DBS, "DescribeRestoreRangeInfo", &[("BackupPlanId", &plan)])
        .await;
    assert_eq!(r.code(), "MissingParameter");
    let r = c
        .v3(
            DBS,
            "DescribeRestoreRangeInfo",
            &[
                ("BackupPlanId", "dbsnope"),
                ("BeginTimestampForRestore", "0"),
                ("EndTimestampForRestore", "1"),
            ],
        )
        .await;
    assert_eq!(r.code(), "InvalidJobId");
}

#[tokio::test]
async fn failures_pause_and_a_lost_answer() {
    let (emu, c, plan, set) =
        setup_with(EmulatorConfig::default().with_dbs_restore_success_status("success")).await;
    // An injected failure while running: stop + ErrMessage.
    emu.apply_scenario(Scenario::DbsRestoreFailure {
        target: Some(plan.clone()),
        err_message: "disk full".into(),
    });
    let a = c
        .v3(DBS, "CreateRestoreTask", &create_params(&plan, &set, "a"))
        .await
        .ok()
        .s("/RestoreTaskId");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &a)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(60));
    let t = task(&c, &a).await;
    assert_eq!(
        (t["RestoreStatus"].as_str(), t["ErrMessage"].as_str()),
        (Some("stop"), Some("disk full"))
    );

    // A destination that does not exist fails the pre-check.
    let mut bad = create_params(&plan, &set, "b");
    bad.retain(|(k, _)| *k != "DestinationEndpointInstanceID");
    bad.push(("DestinationEndpointInstanceID", "rm-gone"));
    let b = c
        .v3(DBS, "CreateRestoreTask", &bad)
        .await
        .ok()
        .s("/RestoreTaskId");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &b)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(10));
    let t = task(&c, &b).await;
    assert_eq!(t["RestoreStatus"], "init");
    assert!(t["ErrMessage"].as_str().unwrap().contains("rm-gone"));

    // StopBackupPlan(ALL) pauses a running restore; StartRestoreTask runs it again.
    let d = c
        .v3(DBS, "CreateRestoreTask", &create_params(&plan, &set, "d"))
        .await
        .ok()
        .s("/RestoreTaskId");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &d)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(50));
    c.v3(
        DBS,
        "StopBackupPlan",
        &[("BackupPlanId", &plan), ("StopMethod", "ALL")],
    )
    .await
    .ok();
    assert_eq!(task(&c, &d).await["RestoreStatus"], "pause");
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &d)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(100));
    // The configured success status.
    assert_eq!(task(&c, &d).await["RestoreStatus"], "success");

    // The task is created, the answer lost: the same ClientToken gives it back.
    emu.inject_fault(
        Fault::error(Some("CreateRestoreTask"), "InternalError", 500)
            .after_apply()
            .times(1),
    );
    let mut p = create_params(&plan, &set, "e");
    p.push(("ClientToken", "uid-e"));
    let r = c.v3(DBS, "CreateRestoreTask", &p).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    let e = c
        .v3(DBS, "CreateRestoreTask", &p)
        .await
        .ok()
        .s("/RestoreTaskId");
    assert_eq!(task(&c, &e).await["RestoreTaskName"], "e");
    assert_eq!(
        emu.state()["dbs"]["restore_tasks"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn job_error_code_explains_a_failed_restore() {
    let (emu, c, plan, set) = setup().await;
    emu.apply_scenario(Scenario::DbsRestoreFailure {
        target: None,
        err_message: "disk full".into(),
    });
    let id = c
        .v3(DBS, "CreateRestoreTask", &create_params(&plan, &set, "x"))
        .await
        .ok()
        .s("/RestoreTaskId");
    let q = |c: Client, id: String| async move {
        c.v3(DBS, "DescribeJobErrorCode", &[("TaskId", id.as_str())])
            .await
            .ok()
            .body["Item"]
            .clone()
    };
    let i = q(c.clone(), id.clone()).await;
    assert_eq!(
        (i["JobState"].as_str(), i["ErrorCode"].as_str()),
        (Some("init"), Some(""))
    );
    c.v3(DBS, "StartRestoreTask", &[("RestoreTaskId", &id)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(60));
    let i = q(c.clone(), id.clone()).await;
    assert_eq!(i["JobType"], "RESTORE");
    assert_eq!(i["JobState"], "stop");
    assert_eq!(i["ErrorCode"], "RestoreFailed");
    assert_eq!(i["ErrorMessage"], "disk full");
    let i = q(c.clone(), set.clone()).await;
    assert_eq!(
        (i["JobType"].as_str(), i["JobState"].as_str()),
        (Some("FULL_BACKUP"), Some("finish"))
    );
    let r = c
        .v3(DBS, "DescribeJobErrorCode", &[("TaskId", "nope")])
        .await;
    assert_eq!(r.code(), "InvalidJobId");
    let r = c
        .v3(
            DBS,
            "DescribeJobErrorCode",
            &[("TaskId", id.as_str()), ("Language", "fr")],
        )
        .await;
    assert_eq!(r.code(), "InvalidParameterValid");
}
