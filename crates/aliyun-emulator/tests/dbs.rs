//! DBS: plan validation, ClientToken idempotency, plan and backup-set state machines, paging.
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

const BASE: &[(&str, &str)] = &[
    ("BackupMethod", "logical"),
    ("BackupPlanName", "plan-a"),
    ("DatabaseType", "MySQL"),
    ("InstanceClass", "micro"),
    ("SourceEndpointInstanceType", "RDS"),
    ("SourceEndpointRegion", "cn-hangzhou"),
    ("SourceEndpointInstanceID", "rm-demo01"),
    ("SourceEndpointUserName", "backup"),
    ("SourceEndpointPassword", "secret-canary"),
    ("BackupPeriod", "Monday,Thursday"),
    ("BackupStartTime", "14:22"),
    ("Region", "cn-hangzhou"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = BASE
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    v.extend(extra.iter().filter(|(_, val)| !val.is_empty()).copied());
    v
}

async fn setup() -> (EmulatorHandle, Client) {
    let emu =
        start_with(EmulatorConfig::default().with_job_duration(Duration::from_secs(100))).await;
    let c = Client::new(&emu);
    (emu, c)
}

async fn plan(c: &Client, id: &str) -> Value {
    let r = c
        .v3(DBS, "DescribeBackupPlanList", &[("BackupPlanId", id)])
        .await
        .ok();
    r.body["Items"]["BackupPlanDetail"][0].clone()
}

async fn sets(c: &Client, id: &str) -> Vec<Value> {
    let r = c
        .v3(DBS, "DescribeFullBackupList", &[("BackupPlanId", id)])
        .await
        .ok();
    r.body["Items"]["FullBackupFile"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn plan_lifecycle_and_full_backup_in_steps() {
    let (emu, c) = setup().await;
    let r = c.v3(DBS, "CreateAndStartBackupPlan", BASE).await.ok();
    assert_eq!(r.body["HttpStatusCode"], 200);
    assert_eq!(r.body["CreateBackupSet"], true);
    assert!(r.body["OrderId"].as_str().is_some());
    let id = r.s("/BackupPlanId");
    assert!(id.starts_with("dbs"));
    let mut seen = Vec::new();
    let mut set_seen = Vec::new();
    for _ in 0..30 {
        let p = plan(&c, &id).await;
        let st = p["BackupPlanStatus"].as_str().unwrap().to_owned();
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        for s in sets(&c, &id).await {
            let st = s["BackupStatus"].as_str().unwrap().to_owned();
            if set_seen.last() != Some(&st) {
                set_seen.push(st);
            }
        }
        emu.advance_time(Duration::from_secs(5));
    }
    assert_eq!(seen, ["init", "check_pass", "running"]);
    assert_eq!(set_seen, ["schedule", "running", "finish"]);
    let p = plan(&c, &id).await;
    assert_eq!(p["BackupPlanName"], "plan-a");
    assert_eq!(p["BackupRetentionPeriod"], 730);
    assert_eq!(p["SourceEndpointInstanceID"], "rm-demo01");
    assert_eq!(p["ErrMessage"], "");
    assert!(p["BackupPlanCreateTime"].is_i64());
    let s = &sets(&c, &id).await[0];
    assert!(s["FinishTime"].is_i64());
    assert!(s["BackupSize"].as_i64().unwrap() > 0);
    // The password never shows up anywhere.
    assert!(!emu.state().to_string().contains("secret-canary"));
    assert!(
        !serde_json::to_string(&emu.calls())
            .unwrap()
            .contains("secret-canary")
    );
}

#[tokio::test]
async fn precheck_failure_ends_stop_with_err_message() {
    let (emu, c) = setup().await;
    emu.fail_dbs_precheck(None, "connection to the source database failed");
    let id = c
        .v3(DBS, "CreateAndStartBackupPlan", BASE)
        .await
        .ok()
        .s("/BackupPlanId");
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "init");
    emu.advance_time(Duration::from_secs(30));
    let p = plan(&c, &id).await;
    assert_eq!(p["BackupPlanStatus"], "stop");
    assert_eq!(p["ErrMessage"], "connection to the source database failed");
    assert!(sets(&c, &id).await.is_empty());
    // StartBackupPlan retries the pre-check, which now passes.
    c.v3(DBS, "StartBackupPlan", &[("BackupPlanId", &id)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(50));
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "running");
}

#[tokio::test]
async fn precheck_failure_by_target_and_missing_source() {
    let (emu, c) = setup().await;
    let id = c
        .v3(DBS, "CreateAndStartBackupPlan", BASE)
        .await
        .ok()
        .s("/BackupPlanId");
    emu.fail_dbs_precheck(Some(&id), "access denied");
    emu.advance_time(Duration::from_secs(30));
    assert_eq!(plan(&c, &id).await["ErrMessage"], "access denied");
    // A source instance that does not exist fails the pre-check by itself.
    let params = with(&[("SourceEndpointInstanceID", "rm-missing")]);
    let id2 = c
        .v3(DBS, "CreateAndStartBackupPlan", &params)
        .await
        .ok()
        .s("/BackupPlanId");
    emu.advance_time(Duration::from_secs(30));
    let p = plan(&c, &id2).await;
    assert_eq!(p["BackupPlanStatus"], "stop");
    assert!(p["ErrMessage"].as_str().unwrap().contains("rm-missing"));
}

#[tokio::test]
async fn backup_set_failure() {
    let (emu, c) = setup().await;
    emu.fail_dbs_backup_set(None, "disk full");
    let id = c
        .v3(DBS, "CreateAndStartBackupPlan", BASE)
        .await
        .ok()
        .s("/BackupPlanId");
    emu.advance_time(Duration::from_secs(200));
    let s = &sets(&c, &id).await[0];
    assert_eq!(s["BackupStatus"], "failed");
    assert_eq!(s["ErrMessage"], "disk full");
}

#[tokio::test]
async fn stop_start_release() {
    let (emu, c) = setup().await;
    let id = c
        .v3(DBS, "CreateAndStartBackupPlan", BASE)
        .await
        .ok()
        .s("/BackupPlanId");
    emu.advance_time(Duration::from_secs(60));
    let r = c.v3(DBS, "StopBackupPlan", &[("BackupPlanId", &id)]).await;
    assert_eq!((r.status, r.code()), (400, "MissingParameter"));
    let r = c
        .v3(
            DBS,
            "StopBackupPlan",
            &[("BackupPlanId", &id), ("StopMethod", "SOME")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["Success"].clone(), r.code()),
        (200, Value::Bool(false), "InvalidParameterValid")
    );
    c.v3(
        DBS,
        "StopBackupPlan",
        &[("BackupPlanId", &id), ("StopMethod", "ALL")],
    )
    .await
    .ok();
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "pause");
    // The running full backup was stopped with the plan.
    assert_eq!(sets(&c, &id).await[0]["BackupStatus"], "stop");
    let r = c
        .v3(DBS, "StartBackupPlan", &[("BackupPlanId", &id)])
        .await
        .ok();
    let set = r.s("/CreatedFullBackupsetId");
    assert_eq!(r.s("/BackupPlanId"), id);
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "running");
    emu.advance_time(Duration::from_secs(101));
    let all = sets(&c, &id).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["BackupSetId"], set.as_str());
    assert_eq!(all[0]["BackupStatus"], "finish");
    // Filter by set id / status.
    let r = c
        .v3(
            DBS,
            "DescribeFullBackupList",
            &[("BackupPlanId", &id), ("BackupSetStatus", "stop")],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 1);
    c.v3(
        DBS,
        "ModifyBackupPlanName",
        &[("BackupPlanId", &id), ("BackupPlanName", "renamed")],
    )
    .await
    .ok();
    assert_eq!(plan(&c, &id).await["BackupPlanName"], "renamed");
    c.v3(DBS, "ReleaseBackupPlan", &[("BackupPlanId", &id)])
        .await
        .ok();
    let r = c
        .v3(DBS, "DescribeBackupPlanList", &[("BackupPlanId", &id)])
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 0);
    for (action, extra) in [
        ("ReleaseBackupPlan", vec![]),
        ("StartBackupPlan", vec![]),
        ("StopBackupPlan", vec![("StopMethod", "PLAN")]),
        ("ModifyBackupPlanName", vec![("BackupPlanName", "x")]),
        ("DescribeFullBackupList", vec![]),
    ] {
        let mut p = vec![("BackupPlanId", id.as_str())];
        p.extend(extra);
        let r = c.v3(DBS, action, &p).await;
        assert_eq!((r.status, r.code()), (200, "InvalidJobId"), "{action}");
        assert_eq!(r.body["Success"], false);
        assert_eq!(r.body["HttpStatusCode"], 404);
    }
}

#[tokio::test]
async fn client_token_idempotency() {
    let (emu, c) = setup().await;
    let p = with(&[("ClientToken", "tok-1")]);
    let a = c.v3(DBS, "CreateAndStartBackupPlan", &p).await.ok();
    let b = c.v1(DBS, "CreateAndStartBackupPlan", &p).await.ok();
    assert_eq!(a.s("/BackupPlanId"), b.s("/BackupPlanId"));
    assert_eq!(a.s("/OrderId"), b.s("/OrderId"));
    let r = c.v3(DBS, "DescribeBackupPlanList", &[]).await.ok();
    assert_eq!(r.body["TotalElements"], 1);
    let p2 = with(&[("ClientToken", "tok-1"), ("BackupPlanName", "other")]);
    let r = c.v3(DBS, "CreateAndStartBackupPlan", &p2).await;
    assert_eq!((r.status, r.code()), (200, "IdempotentParameterMismatch"));
    assert_eq!(r.body["Success"], false);
    let id = a.s("/BackupPlanId");
    let s1 = c
        .v3(
            DBS,
            "StartBackupPlan",
            &[("BackupPlanId", &id), ("ClientToken", "tok-2")],
        )
        .await
        .ok();
    let s2 = c
        .v3(
            DBS,
            "StartBackupPlan",
            &[("BackupPlanId", &id), ("ClientToken", "tok-2")],
        )
        .await
        .ok();
    assert_eq!(
        s1.s("/CreatedFullBackupsetId"),
        s2.s("/CreatedFullBackupsetId")
    );
    // Same token on another action is a mismatch.
    let r = c
        .v3(
            DBS,
            "ReleaseBackupPlan",
            &[("BackupPlanId", &id), ("ClientToken", "tok-2")],
        )
        .await;
    assert_eq!(r.code(), "IdempotentParameterMismatch");
    let long = "x".repeat(65);
    let r = c
        .v3(
            DBS,
            "StartBackupPlan",
            &[("BackupPlanId", &id), ("ClientToken", &long)],
        )
        .await;
    assert_eq!(r.code(), "InvalidParameterValid");
    drop(emu);
}

#[tokio::test]
async fn create_validation() {
    let (_emu, c) = setup().await;
    let cases: Vec<(Vec<(&str, &str)>, u16, &str)> = vec![
        (with(&[("BackupMethod", "")]), 400, "MissingParameter"),
        (with(&[("BackupPlanName", "")]), 400, "MissingParameter"),
        (with(&[("DatabaseType", "")]), 400, "MissingParameter"),
        (with(&[("InstanceClass", "")]), 400, "MissingParameter"),
        (
            with(&[("SourceEndpointInstanceType", "")]),
            400,
            "MissingParameter",
        ),
        (
            with(&[("BackupMethod", "snapshot")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("DatabaseType", "DB2")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("InstanceClass", "huge")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("SourceEndpointInstanceType", "Cloud")]),
            200,
            "InvalidParameterValid",
        ),
        (with(&[("SourceEndpointRegion", "")]), 200, "Param.NotFound"),
        (
            with(&[("SourceEndpointInstanceID", "")]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[("SourceEndpointPassword", "")]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[("SourceEndpointInstanceType", "Other")]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[
                ("SourceEndpointInstanceType", "ECS"),
                ("SourceEndpointInstanceID", "i-demo01"),
            ]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[
                ("SourceEndpointInstanceType", "Agent"),
                ("SourceEndpointIP", "10.0.0.1"),
                ("SourceEndpointPort", "3306"),
            ]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[("DatabaseType", "PostgreSQL")]),
            200,
            "Param.NotFound",
        ),
        (with(&[("DatabaseType", "Oracle")]), 200, "Param.NotFound"),
        (
            with(&[("BackupRetentionPeriod", "1826")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("BackupRetentionPeriod", "-1")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("BackupStartTime", "25:00")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("BackupStartTime", "2pm")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("BackupPeriod", "Funday")]),
            200,
            "InvalidParameterValid",
        ),
        // An explicit `simple` needs BackupPeriod and BackupStartTime (the API reference).
        (
            with(&[("BackupStrategyType", "simple"), ("BackupPeriod", "")]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[("BackupStrategyType", "weekly")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("Period", "Year"), ("UsedTime", "10")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("Period", "Month"), ("UsedTime", "12")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("Period", "Week"), ("UsedTime", "1")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("PayType", "postpay")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("PayType", "postpay"), ("BackupMethod", "duplication")]),
            200,
            "Param.NotFound",
        ),
        (
            with(&[("BackupObjects", "not json")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[("BackupStorageType", "tape")]),
            200,
            "InvalidParameterValid",
        ),
        (
            with(&[
                ("SourceEndpointPort", "70000"),
                ("SourceEndpointInstanceType", "ECS"),
                ("SourceEndpointInstanceID", "i-demo01"),
            ]),
            200,
            "InvalidParameterValid",
        ),
        (with(&[("BackupPlanId", "dbsnope")]), 200, "InvalidJobId"),
    ];
    for (params, status, code) in &cases {
        let r = c.v3(DBS, "CreateAndStartBackupPlan", params).await;
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{params:?}: {}",
            r.body
        );
    }
    // Valid variants.
    for extra in [
        vec![
            ("BackupStrategyType", "manual"),
            ("BackupPeriod", ""),
            ("BackupStartTime", ""),
        ],
        vec![
            ("BackupRetentionPeriod", "0"),
            ("BackupStartTime", "00:00Z"),
        ],
        vec![("Period", "Year"), ("UsedTime", "9")],
        // Not refused where the API reference states no rule: no BackupStrategyType (so no
        // schedule), Period without UsedTime.
        vec![("BackupPeriod", ""), ("BackupStartTime", "")],
        vec![("Period", "Month")],
        vec![
            ("PayType", "postpay"),
            ("BackupMethod", "duplication"),
            ("DatabaseRegion", "cn-hangzhou"),
            ("StorageRegion", "cn-hangzhou"),
            ("InstanceType", "RDS"),
        ],
        vec![
            ("DatabaseType", "Redis"),
            ("SourceEndpointUserName", ""),
            ("SourceEndpointPassword", ""),
        ],
        vec![
            ("SourceEndpointInstanceType", "Other"),
            ("SourceEndpointIP", "10.0.0.1"),
            ("SourceEndpointPort", "3306"),
            ("SourceEndpointRegion", ""),
            ("SourceEndpointInstanceID", ""),
        ],
        vec![
            ("BackupObjects", "[{\"DBName\":\"app\"}]"),
            ("EnableBackupLog", "true"),
            ("BackupStorageType", "system"),
        ],
    ] {
        let r = c.v3(DBS, "CreateAndStartBackupPlan", &with(&extra)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["Success"], true, "{extra:?}: {}", r.body);
    }
}

#[tokio::test]
async fn create_then_configure_then_start() {
    let (emu, c) = setup().await;
    let r = c
        .v3(
            DBS,
            "CreateBackupPlan",
            &[
                ("BackupMethod", "logical"),
                ("DatabaseType", "MySQL"),
                ("InstanceClass", "small"),
                ("Region", "cn-hangzhou"),
            ],
        )
        .await
        .ok();
    let id = r.s("/BackupPlanId");
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "wait");
    let r = c.v3(DBS, "StartBackupPlan", &[("BackupPlanId", &id)]).await;
    assert_eq!(r.code(), "InvalidParameterValid");
    let r = c
        .v3(
            DBS,
            "CreateBackupPlan",
            &[
                ("BackupMethod", "logical"),
                ("DatabaseType", "MySQL"),
                ("InstanceClass", "small"),
            ],
        )
        .await;
    assert_eq!(r.code(), "MissingParameter");
    let cfg = [
        ("BackupPlanId", id.as_str()),
        ("BackupPlanName", "configured"),
        ("SourceEndpointInstanceType", "RDS"),
        ("SourceEndpointRegion", "cn-hangzhou"),
        ("SourceEndpointInstanceID", "rm-demo01"),
        ("SourceEndpointUserName", "u"),
        ("SourceEndpointPassword", "p"),
        ("BackupRetentionPeriod", "30"),
        ("AutoStartBackup", "true"),
    ];
    c.v3(DBS, "ConfigureBackupPlan", &cfg).await.ok();
    let p = plan(&c, &id).await;
    assert_eq!(p["BackupPlanStatus"], "init");
    assert_eq!(p["BackupRetentionPeriod"], 30);
    emu.advance_time(Duration::from_secs(50));
    assert_eq!(plan(&c, &id).await["BackupPlanStatus"], "running");
    let r = c
        .v3(
            DBS,
            "ConfigureBackupPlan",
            &[
                ("BackupPlanId", "dbsnope"),
                ("BackupPlanName", "x"),
                ("SourceEndpointInstanceType", "RDS"),
            ],
        )
        .await;
    assert_eq!(r.code(), "InvalidJobId");
}

#[tokio::test]
async fn plan_list_paging_and_filters() {
    let (emu, c) = setup().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let name = format!("plan-{i}");
        ids.push(
            c.v3(
                DBS,
                "CreateAndStartBackupPlan",
                &with(&[("BackupPlanName", &name)]),
            )
            .await
            .ok()
            .s("/BackupPlanId"),
        );
    }
    let r = c
        .v3(DBS, "DescribeBackupPlanList", &[("PageSize", "2")])
        .await
        .ok();
    assert_eq!(r.body["PageNum"], 0);
    assert_eq!(r.body["TotalElements"], 5);
    assert_eq!(r.body["TotalPages"], 3);
    assert_eq!(
        r.body["Items"]["BackupPlanDetail"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = c
        .v3(
            DBS,
            "DescribeBackupPlanList",
            &[("PageSize", "2"), ("PageNum", "2")],
        )
        .await
        .ok();
    assert_eq!(
        r.body["Items"]["BackupPlanDetail"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let list = format!("{},{}", ids[1], ids[3]);
    let r = c
        .v3(DBS, "DescribeBackupPlanList", &[("BackupPlanId", &list)])
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 2);
    let r = c
        .v3(
            DBS,
            "DescribeBackupPlanList",
            &[("BackupPlanName", "plan-4")],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 1);
    let r = c
        .v3(
            DBS,
            "DescribeBackupPlanList",
            &[("BackupPlanStatus", "init")],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 5);
    emu.advance_time(Duration::from_secs(60));
    let r = c
        .v3(
            DBS,
            "DescribeBackupPlanList",
            &[("BackupPlanStatus", "running"), ("Region", "cn-hangzhou")],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalElements"], 5);
    for bad in [
        ("PageNum", "-1"),
        ("PageSize", "0"),
        ("PageSize", "101"),
        ("BackupPlanStatus", "gone"),
    ] {
        let r = c.v3(DBS, "DescribeBackupPlanList", &[bad]).await;
        assert_eq!(r.code(), "InvalidParameterValid", "{bad:?}");
    }
    let r = c
        .v3(
            DBS,
            "DescribeFullBackupList",
            &[("BackupPlanId", &ids[0]), ("PageSize", "20")],
        )
        .await;
    assert_eq!(r.code(), "InvalidParameterValid");
    let r = c.v3(DBS, "DescribeFullBackupList", &[]).await;
    assert_eq!(r.code(), "MissingParameter");
}
