//! HBR restore: CreateRestoreJob rules, the restore-job state machine, DescribeRestoreJobs2
//! filters (documented and Terraform keys), CancelRestoreJob, scenarios and faults.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod common;

use std::time::Duration;

use aliyun_emulator::{Fault, HbrOutcome, Scenario};
use common::*;
use serde_json::Value;

async fn setup() -> (EmulatorHandle, Client) {
    let emu = start_with(
        EmulatorConfig::default()
            .with_job_duration(Duration::from_secs(100))
            .with_ecs_instance("i-other"),
    )
    .await;
    let c = Client::new(&emu);
    (emu, c)
}

/// Runs a backup job of `source` to its end and returns its snapshot (id, hash, vault).
async fn snapshot(emu: &EmulatorHandle, c: &Client, source: &str) -> (String, String, String) {
    let params: Vec<(&str, &str)> = if source == "UDM_ECS" {
        vec![
            ("SourceType", "UDM_ECS"),
            ("InstanceId", "i-demo01"),
            ("BackupType", "COMPLETE"),
            ("Retention", "7"),
        ]
    } else {
        vec![
            ("SourceType", "ECS_FILE"),
            ("Retention", "7"),
            ("InstanceId", "i-demo01"),
            ("VaultId", "v-1"),
            ("Include", "[\"/data\"]"),
        ]
    };
    let job = c.v3(HBR, "CreateBackupJob", &params).await.ok().s("/JobId");
    emu.advance_time(Duration::from_secs(100));
    let st = emu.state();
    let s = st["hbr"]["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["JobId"] == job.as_str())
        .unwrap()
        .clone();
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
    (text("SnapshotId"), text("SnapshotHash"), text("VaultId"))
}

async fn restore(c: &Client, id: &str) -> Value {
    let r = c
        .v3(
            HBR,
            "DescribeRestoreJobs2",
            &[("Filters.1.Key", "restoreId"), ("Filters.1.Values.1", id)],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 1, "{}", r.body);
    r.body["RestoreJobs"]["RestoreJob"][0].clone()
}

#[tokio::test]
async fn file_restore_walks_its_states_and_is_found_by_filters() {
    let (emu, c) = setup().await;
    let (snap, hash, vault) = snapshot(&emu, &c, "ECS_FILE").await;
    let params = [
        ("RestoreType", "ECS_FILE"),
        ("SourceType", "ECS_FILE"),
        ("SnapshotId", snap.as_str()),
        ("SnapshotHash", hash.as_str()),
        ("VaultId", vault.as_str()),
        ("TargetInstanceId", "i-other"),
        ("TargetPath", "/restore"),
        ("Include", "[\"/data\"]"),
        (
            "Options",
            r#"{"includes":[],"excludes":[],"conflictPolicy":"OVERWRITE_EXISTING"}"#,
        ),
    ];
    // Target fields in the form body, as the SDK sends them.
    let r = c
        .v3_form(HBR, "CreateRestoreJob", &params, true, false)
        .await
        .ok();
    assert_eq!(r.body["Code"], "200");
    let id = r.s("/RestoreId");
    assert!(id.starts_with("r-"), "{id}");

    let mut seen: Vec<String> = Vec::new();
    let mut last = -1;
    for _ in 0..22 {
        let j = restore(&c, &id).await;
        let st = j["Status"].as_str().unwrap().to_owned();
        let p = j["Progress"].as_i64().unwrap();
        assert!(p >= last);
        last = p;
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        emu.advance_time(Duration::from_secs(5));
    }
    assert_eq!(seen, ["CREATED", "QUEUED", "RUNNING", "COMPLETE"]);
    let j = restore(&c, &id).await;
    assert_eq!(j["Progress"], 10_000);
    assert_eq!(j["SnapshotId"], snap.as_str());
    assert_eq!(j["SnapshotHash"], hash.as_str());
    assert_eq!(j["TargetInstanceId"], "i-other");
    assert_eq!(j["TargetPath"], "/restore");
    assert_eq!(j["SourceInstanceId"], "i-demo01");
    assert!(j["CompleteTime"].as_i64().unwrap() >= j["CreatedTime"].as_i64().unwrap());

    // Documented keys and the Terraform lower-camel keys.
    for (key, value, want) in [
        ("VaultId", vault.as_str(), 1),
        ("VaultId", "v-none", 0),
        ("InstanceId", "i-other", 1),
        ("InstanceId", "i-demo01", 1),
        ("Status", "COMPLETE", 1),
        ("Status", "RUNNING", 0),
        ("vaultId", vault.as_str(), 1),
        ("targetInstanceId", "i-other", 1),
        ("targetInstanceId", "i-demo01", 0),
        ("sourceType", "ECS_FILE", 1),
        ("restoreId", "r-none", 0),
    ] {
        let r = c
            .v3(
                HBR,
                "DescribeRestoreJobs2",
                &[
                    ("RestoreType", "ECS_FILE"),
                    ("Filters.1.Key", key),
                    ("Filters.1.Operator", "IN"),
                    ("Filters.1.Values.1", value),
                ],
            )
            .await
            .ok();
        assert_eq!(r.body["TotalCount"], want, "{key}={value}");
    }
    let r = c
        .v3(HBR, "DescribeRestoreJobs2", &[("RestoreType", "OSS")])
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 0);
    for (params, code) in [
        (
            vec![("Filters.1.Key", "Nope"), ("Filters.1.Values.1", "x")],
            "InvalidParameter",
        ),
        (vec![("PageSize", "100")], "InvalidParameter"),
        (vec![("RestoreType", "DISK")], "InvalidParameter"),
        (
            vec![
                ("Filters.1.Key", "CompleteTime"),
                ("Filters.1.Operator", "IN"),
                ("Filters.1.Values.1", "1"),
            ],
            "InvalidParameter",
        ),
    ] {
        let r = c.v3(HBR, "DescribeRestoreJobs2", &params).await;
        assert_eq!((r.status, r.code()), (200, code), "{params:?}");
        assert_eq!(r.body["Success"], false);
    }
    assert_eq!(
        emu.state()["hbr"]["restore_jobs"][0]["RestoreId"],
        id.as_str()
    );
}

#[tokio::test]
async fn create_restore_rules() {
    let (emu, c) = setup().await;
    let (snap, hash, vault) = snapshot(&emu, &c, "ECS_FILE").await;
    let (usnap, uhash, _) = snapshot(&emu, &c, "UDM_ECS").await;
    let file = |extra: &[(&'static str, &'static str)], drop: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = vec![
            ("RestoreType".into(), "ECS_FILE".into()),
            ("SourceType".into(), "ECS_FILE".into()),
            ("SnapshotId".into(), snap.clone()),
            ("SnapshotHash".into(), hash.clone()),
            ("VaultId".into(), vault.clone()),
            ("TargetInstanceId".into(), "i-demo01".into()),
            ("TargetPath".into(), "/r".into()),
        ];
        v.retain(|(k, _)| k != drop);
        for (k, x) in extra {
            v.retain(|(kk, _)| kk != k);
            v.push(((*k).into(), (*x).into()));
        }
        v
    };
    let cases: Vec<(Vec<(String, String)>, u16, &str)> = vec![
        (file(&[], "RestoreType"), 400, "MissingParameter"),
        (file(&[], "SourceType"), 400, "MissingParameter"),
        (file(&[], "SnapshotId"), 400, "MissingParameter"),
        (file(&[], "SnapshotHash"), 400, "MissingParameter"),
        (file(&[], "VaultId"), 400, "MissingParameter"),
        (file(&[], "TargetPath"), 400, "MissingParameter"),
        (
            file(&[("RestoreType", "DISK")], ""),
            200,
            "InvalidParameter",
        ),
        (file(&[("RestoreType", "OSS")], ""), 200, "InvalidParameter"),
        (file(&[("Include", "/data")], ""), 200, "InvalidParameter"),
        (file(&[("Options", "[1]")], ""), 200, "InvalidParameter"),
        (
            file(&[("TargetInstanceId", "i-nope")], ""),
            200,
            "InstanceNotExist",
        ),
        (
            file(&[("SnapshotId", "s-nope")], ""),
            200,
            "ResourceNotFound",
        ),
        (
            file(&[("SnapshotHash", "beef")], ""),
            200,
            "ResourceNotFound",
        ),
        (file(&[("VaultId", "v-2")], ""), 200, "ResourceNotFound"),
    ];
    for (params, status, code) in cases {
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = c.v3(HBR, "CreateRestoreJob", &p).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{params:?}: {}",
            r.body
        );
    }
    let udm = |detail: &str| -> Vec<(String, String)> {
        vec![
            ("RestoreType".into(), "UDM_ECS_ROLLBACK".into()),
            ("SourceType".into(), "UDM_ECS".into()),
            ("SnapshotId".into(), usnap.clone()),
            ("SnapshotHash".into(), uhash.clone()),
            ("UdmRegionId".into(), "cn-hangzhou".into()),
            ("UdmDetail".into(), detail.into()),
        ]
    };
    for (detail, code) in [
        ("{}", "InvalidParameter"),
        (r#"{"sourceInstanceId":"i-other"}"#, "InvalidParameter"),
        (
            r#"{"sourceInstanceId":"i-demo01","forceRestore":"yes"}"#,
            "InvalidParameter",
        ),
        (r#"{"sourceInstanceId":"i-nope"}"#, "InstanceNotExist"),
    ] {
        let params = udm(detail);
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = c.v3(HBR, "CreateRestoreJob", &p).await;
        assert_eq!(r.code(), code, "{detail}");
    }
    assert_eq!(
        emu.state()["hbr"]["restore_jobs"].as_array().unwrap().len(),
        0
    );
    // Valid: an in-place rollback, and a clone to a new instance.
    let params = udm(r#"{"sourceInstanceId":"i-demo01","forceRestore":false}"#);
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let id = c.v3(HBR, "CreateRestoreJob", &p).await.ok().s("/RestoreId");
    let j = restore(&c, &id).await;
    assert_eq!(j["RestoreType"], "UDM_ECS_ROLLBACK");
    assert_eq!(j["SourceType"], "UDM_ECS");
    assert!(j["UdmDetail"].as_str().unwrap().contains("i-demo01"));
    let mut params = udm(
        r#"{"diskCategory":"cloud_essd","instanceType":"ecs.g7.large","restoredNetwork":"vsw-1","securityGroup":"sg-1","restoredName":"n","restoredHostName":"h"}"#,
    );
    params[0].1 = "UDM_ECS".into();
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.v3(HBR, "CreateRestoreJob", &p).await.ok();
    params[5].1 = r#"{"diskCategory":"cloud_essd"}"#.into();
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        c.v3(HBR, "CreateRestoreJob", &p).await.code(),
        "InvalidParameter"
    );
    // No idempotency token: the same request twice is two restore jobs.
    let params = file(&[], "");
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = c.v3(HBR, "CreateRestoreJob", &p).await.ok().s("/RestoreId");
    let b = c.v3(HBR, "CreateRestoreJob", &p).await.ok().s("/RestoreId");
    assert_ne!(a, b);
}

#[tokio::test]
async fn cancel_goes_canceling_then_canceled() {
    let (emu, c) = setup().await;
    let (snap, hash, vault) = snapshot(&emu, &c, "ECS_FILE").await;
    let params = [
        ("RestoreType", "ECS_FILE"),
        ("SourceType", "ECS_FILE"),
        ("SnapshotId", snap.as_str()),
        ("SnapshotHash", hash.as_str()),
        ("VaultId", vault.as_str()),
        ("TargetInstanceId", "i-demo01"),
        ("TargetPath", "/r"),
    ];
    let id = c
        .v3(HBR, "CreateRestoreJob", &params)
        .await
        .ok()
        .s("/RestoreId");
    emu.advance_time(Duration::from_secs(30));
    let r = c
        .v3(HBR, "CancelRestoreJob", &[("RestoreId", "r-nope")])
        .await;
    assert_eq!((r.status, r.code()), (200, "ResourceNotFound"));
    let r = c
        .v3(
            HBR,
            "CancelRestoreJob",
            &[("RestoreId", &id), ("VaultId", "v-x")],
        )
        .await;
    assert_eq!(r.code(), "ResourceNotFound");
    c.v3(HBR, "CancelRestoreJob", &[("RestoreId", &id)])
        .await
        .ok();
    assert_eq!(restore(&c, &id).await["Status"], "CANCELING");
    // A second cancel while CANCELING is accepted.
    c.v3(HBR, "CancelRestoreJob", &[("RestoreId", &id)])
        .await
        .ok();
    emu.advance_time(Duration::from_secs(10));
    let j = restore(&c, &id).await;
    assert_eq!(j["Status"], "CANCELED");
    assert!(j["Progress"].as_i64().unwrap() < 10_000);
    let r = c.v3(HBR, "CancelRestoreJob", &[("RestoreId", &id)]).await;
    assert_eq!(r.code(), "JobStatusNotAllowCancel");
    // An ended job cannot be cancelled.
    let id2 = c
        .v3(HBR, "CreateRestoreJob", &params)
        .await
        .ok()
        .s("/RestoreId");
    emu.advance_time(Duration::from_secs(100));
    let r = c.v3(HBR, "CancelRestoreJob", &[("RestoreId", &id2)]).await;
    assert_eq!(r.code(), "JobStatusNotAllowCancel");
    assert_eq!(restore(&c, &id2).await["Status"], "COMPLETE");
}

#[tokio::test]
async fn injected_outcomes_and_a_lost_answer() {
    let (emu, c) = setup().await;
    let (snap, hash, vault) = snapshot(&emu, &c, "ECS_FILE").await;
    let params = [
        ("RestoreType", "ECS_FILE"),
        ("SourceType", "ECS_FILE"),
        ("SnapshotId", snap.as_str()),
        ("SnapshotHash", hash.as_str()),
        ("VaultId", vault.as_str()),
        ("TargetInstanceId", "i-other"),
        ("TargetPath", "/r"),
    ];
    emu.apply_scenario(Scenario::HbrRestoreOutcome {
        target: Some("i-other".into()),
        outcome: HbrOutcome::Failed,
        message: "disk full".into(),
    });
    let a = c
        .v3(HBR, "CreateRestoreJob", &params)
        .await
        .ok()
        .s("/RestoreId");
    let b = c
        .v3(HBR, "CreateRestoreJob", &params)
        .await
        .ok()
        .s("/RestoreId");
    emu.apply_scenario(Scenario::HbrRestoreOutcome {
        target: Some(b.clone()),
        outcome: HbrOutcome::PartialComplete,
        message: "3 files failed".into(),
    });
    emu.advance_time(Duration::from_secs(50));
    let ja = restore(&c, &a).await;
    assert_eq!(
        (ja["Status"].as_str(), ja["ErrorMessage"].as_str()),
        (Some("FAILED"), Some("disk full"))
    );
    assert_eq!(restore(&c, &b).await["Status"], "RUNNING");
    emu.advance_time(Duration::from_secs(50));
    let jb = restore(&c, &b).await;
    assert_eq!(jb["Status"], "PARTIAL_COMPLETE");
    assert_eq!(jb["ErrorMessage"], "3 files failed");

    // The job is made, the answer lost: it is found by snapshot, target and time.
    let before = emu.now_ms() / 1000;
    emu.inject_fault(
        Fault::error(Some("CreateRestoreJob"), "InternalError", 500)
            .after_apply()
            .times(1),
    );
    let r = c.v3(HBR, "CreateRestoreJob", &params).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    let l = c
        .v3(
            HBR,
            "DescribeRestoreJobs2",
            &[
                ("RestoreType", "ECS_FILE"),
                ("Filters.1.Key", "VaultId"),
                ("Filters.1.Values.1", vault.as_str()),
                ("Filters.2.Key", "targetInstanceId"),
                ("Filters.2.Values.1", "i-other"),
                ("PageSize", "99"),
            ],
        )
        .await
        .ok();
    let fresh: Vec<&Value> = l.body["RestoreJobs"]["RestoreJob"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["SnapshotId"] == snap.as_str() && j["CreatedTime"].as_i64().unwrap() >= before
        })
        .collect();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["Status"], "CREATED");
}

#[tokio::test]
async fn a_held_create_that_fails_makes_no_job() {
    use aliyun_emulator::Release;
    let (emu, c) = setup().await;
    let (snap, hash, vault) = snapshot(&emu, &c, "ECS_FILE").await;
    emu.inject_fault(Fault::hold(Some("CreateRestoreJob"), "h").for_product("HBR"));
    let c2 = c.clone();
    let call = tokio::spawn(async move {
        let params = [
            ("RestoreType", "ECS_FILE"),
            ("SourceType", "ECS_FILE"),
            ("SnapshotId", snap.as_str()),
            ("SnapshotHash", hash.as_str()),
            ("VaultId", vault.as_str()),
            ("TargetInstanceId", "i-other"),
            ("TargetPath", "/r"),
        ];
        let r = c2.v3(HBR, "CreateRestoreJob", &params).await;
        (r.status, r.code().to_owned())
    });
    let within = Duration::from_secs(30);
    tokio::time::timeout(within, emu.wait_held("h"))
        .await
        .unwrap();
    emu.release(
        "h",
        Release::Fail {
            code: "ServiceUnavailable".into(),
            http_status: 503,
        },
    );
    let (status, code) = tokio::time::timeout(within, call).await.unwrap().unwrap();
    assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"));
    assert_eq!(
        emu.state()["hbr"]["restore_jobs"].as_array().unwrap().len(),
        0
    );
}
