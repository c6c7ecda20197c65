//! HBR: CreateBackupJob rules, job state machine, DescribeBackupJobs2 filters/paging/sort,
//! cancel, snapshots.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod common;

use std::time::Duration;

use aliyun_emulator::HbrOutcome;
use common::*;
use serde_json::Value;

const UDM: &[(&str, &str)] = &[
    ("SourceType", "UDM_ECS"),
    ("InstanceId", "i-demo01"),
    ("BackupType", "COMPLETE"),
    ("Retention", "7"),
    ("JobName", "nightly job"),
    ("Detail", "{\"doCopy\":false,\"diskIdList\":[]}"),
];

async fn setup() -> (EmulatorHandle, Client) {
    let emu =
        start_with(EmulatorConfig::default().with_job_duration(Duration::from_secs(100))).await;
    let c = Client::new(&emu);
    (emu, c)
}

async fn job(c: &Client, st: &str, id: &str) -> Value {
    let r = c
        .v3(
            HBR,
            "DescribeBackupJobs2",
            &[
                ("SourceType", st),
                ("Filters.1.Key", "JobId"),
                ("Filters.1.Operator", "IN"),
                ("Filters.1.Values.1", id),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 1, "{}", r.body);
    r.body["BackupJobs"]["BackupJob"][0].clone()
}

#[tokio::test]
async fn udm_job_progresses_in_steps_and_leaves_a_snapshot() {
    let (emu, c) = setup().await;
    let r = c.v3(HBR, "CreateBackupJob", UDM).await.ok();
    assert_eq!(r.body["Code"], "200");
    assert_eq!(r.body["Message"], "successful");
    let id = r.s("/JobId");
    assert!(id.starts_with("job-"));
    let mut seen = Vec::new();
    let mut last = -1;
    let mut progresses = std::collections::BTreeSet::new();
    for _ in 0..25 {
        let j = job(&c, "UDM_ECS", &id).await;
        let st = j["Status"].as_str().unwrap().to_owned();
        let p = j["Progress"].as_i64().unwrap();
        assert!(p >= last && p <= 10_000);
        last = p;
        progresses.insert(p);
        let (done, total) = (
            j["BytesDone"].as_i64().unwrap(),
            j["BytesTotal"].as_i64().unwrap(),
        );
        assert!(done <= total && total > 0);
        assert_eq!(j["JobName"], "nightly job");
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        emu.advance_time(Duration::from_secs(5));
    }
    assert_eq!(seen, ["CREATED", "RUNNING", "COMPLETE"]);
    assert!(
        progresses.len() > 5,
        "progress must move in steps: {progresses:?}"
    );
    let j = job(&c, "UDM_ECS", &id).await;
    assert_eq!(j["Progress"], 10_000);
    assert_eq!(j["BytesDone"], j["BytesTotal"]);
    assert!(j["CompleteTime"].as_i64().unwrap() >= j["StartTime"].as_i64().unwrap());
    assert!(
        j["Detail"]["NativeSnapshotId"]
            .as_str()
            .unwrap()
            .starts_with("s-")
    );
    // The snapshot.
    let now_s = emu.now_ms() / 1000;
    let r = c
        .v3(
            HBR,
            "DescribeUdmSnapshots",
            &[
                ("SourceType", "UDM_ECS"),
                ("UdmRegionId", "cn-hangzhou"),
                ("StartTime", "0"),
                ("EndTime", &now_s.to_string()),
                ("JobId", &id),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 1);
    let snap = r.s("/Snapshots/0/SnapshotId");
    assert_eq!(r.body["Snapshots"][0]["Status"], "COMPLETE");
    assert_eq!(r.body["Snapshots"][0]["InstanceId"], "i-demo01");
    // SnapshotIds in a form body, V1 (as the SDK sends it).
    let ids = format!("[\"{snap}\"]");
    let r = c
        .v1(
            HBR,
            "DescribeUdmSnapshots",
            &[
                ("SourceType", "UDM_ECS"),
                ("UdmRegionId", "cn-hangzhou"),
                ("StartTime", "0"),
                ("EndTime", &now_s.to_string()),
                ("SnapshotIds", &ids),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 1);
    let r = c
        .v3(
            HBR,
            "DescribeUdmSnapshots",
            &[
                ("SourceType", "UDM_ECS"),
                ("UdmRegionId", "cn-hangzhou"),
                ("StartTime", "0"),
                ("EndTime", "1"),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 0);
    c.v3(
        HBR,
        "DeleteSnapshot",
        &[("SnapshotId", &snap), ("SourceType", "UDM_ECS")],
    )
    .await
    .ok();
    let r = c.v3(HBR, "DeleteSnapshot", &[("SnapshotId", &snap)]).await;
    assert_eq!(
        (r.status, r.code(), r.body["Success"].clone()),
        (200, "SnapshotNotExist", Value::Bool(false))
    );
    let r = c
        .v3(
            HBR,
            "DescribeUdmSnapshots",
            &[
                ("SourceType", "UDM_ECS"),
                ("UdmRegionId", "cn-hangzhou"),
                ("StartTime", "0"),
            ],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MissingParameter"));
}

#[tokio::test]
async fn injected_outcomes() {
    let (emu, c) = setup().await;
    emu.set_hbr_job_outcome(
        Some("i-demo01"),
        HbrOutcome::PartialComplete,
        "2 files skipped",
    );
    let a = c.v3(HBR, "CreateBackupJob", UDM).await.ok().s("/JobId");
    emu.advance_time(Duration::from_secs(101));
    let j = job(&c, "UDM_ECS", &a).await;
    assert_eq!(j["Status"], "PARTIAL_COMPLETE");
    assert_eq!(j["ErrorMessage"], "2 files skipped");
    let b = c.v3(HBR, "CreateBackupJob", UDM).await.ok().s("/JobId");
    emu.set_hbr_job_outcome(Some(&b), HbrOutcome::Failed, "snapshot quota exceeded");
    emu.advance_time(Duration::from_secs(30));
    assert_eq!(job(&c, "UDM_ECS", &b).await["Status"], "RUNNING");
    emu.advance_time(Duration::from_secs(30));
    let j = job(&c, "UDM_ECS", &b).await;
    assert_eq!(j["Status"], "FAILED");
    assert_eq!(j["ErrorMessage"], "snapshot quota exceeded");
    assert!(j["Progress"].as_i64().unwrap() < 10_000);
    // Failed jobs leave no snapshot; partial ones do.
    let r = c
        .v3(
            HBR,
            "DescribeUdmSnapshots",
            &[
                ("SourceType", "UDM_ECS"),
                ("UdmRegionId", "cn-hangzhou"),
                ("StartTime", "0"),
                ("EndTime", "99999999999"),
            ],
        )
        .await
        .ok();
    assert_eq!(r.body["TotalCount"], 1);
    assert_eq!(r.body["Snapshots"][0]["Status"], "PARTIAL_COMPLETE");
}

#[tokio::test]
async fn cancel() {
    let (emu, c) = setup().await;
    let id = c.v3(HBR, "CreateBackupJob", UDM).await.ok().s("/JobId");
    emu.advance_time(Duration::from_secs(20));
    c.v3(HBR, "CancelBackupJob", &[("JobId", &id)]).await.ok();
    emu.advance_time(Duration::from_secs(200));
    let j = job(&c, "UDM_ECS", &id).await;
    assert_eq!(j["Status"], "CANCELED");
    let r = c.v3(HBR, "CancelBackupJob", &[("JobId", &id)]).await;
    assert_eq!(r.code(), "JobStatusNotAllowCancel");
    let r = c.v3(HBR, "CancelBackupJob", &[("JobId", "job-nope")]).await;
    assert_eq!((r.status, r.code()), (200, "JobNotExist"));
    let r = c.v3(HBR, "CancelBackupJob", &[]).await;
    assert_eq!(r.code(), "MissingParameter");
}

#[tokio::test]
async fn create_rules_per_source_type() {
    let (_emu, c) = setup().await;
    let base = |extra: &[(&'static str, &'static str)],
                drop: &[&str]|
     -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = UDM
            .iter()
            .filter(|(k, _)| !drop.contains(k) && !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<(&str, &str)>, u16, &str)> = vec![
        (base(&[], &["SourceType"]), 400, "MissingParameter"),
        (base(&[], &["Retention"]), 400, "MissingParameter"),
        (base(&[("Retention", "-1")], &[]), 200, "InvalidParameter"),
        (base(&[("Retention", "7d")], &[]), 200, "InvalidParameter"),
        (base(&[("SourceType", "OSS")], &[]), 200, "InvalidParameter"),
        (base(&[], &["InstanceId"]), 400, "MissingParameter"),
        (base(&[], &["BackupType"]), 400, "MissingParameter"),
        (
            base(&[("BackupType", "DIFF")], &[]),
            200,
            "InvalidParameter",
        ),
        (
            base(&[("InstanceId", "i-nope")], &[]),
            200,
            "InstanceNotExist",
        ),
        (
            base(&[("Detail", "not json")], &[]),
            200,
            "InvalidParameter",
        ),
        (
            base(&[("Detail", "{\"appConsistent\":true}")], &[]),
            200,
            "InvalidParameter",
        ),
        (
            base(&[("CrossAccountType", "OTHER")], &[]),
            200,
            "InvalidParameter",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Retention", "7"),
                ("InstanceId", "i-demo01"),
                ("VaultId", "v-1"),
            ],
            400,
            "MissingParameter",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Retention", "7"),
                ("InstanceId", "i-demo01"),
                ("Include", "[\"/data\"]"),
            ],
            400,
            "MissingParameter",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Retention", "7"),
                ("InstanceId", "i-nope"),
                ("VaultId", "v-1"),
                ("Include", "[\"/data\"]"),
            ],
            200,
            "InstanceNotExist",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Retention", "7"),
                ("InstanceId", "i-demo01"),
                ("VaultId", "v-1"),
                ("Include", "/data"),
            ],
            200,
            "InvalidParameter",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Retention", "7"),
                ("InstanceId", "i-demo01"),
                ("VaultId", "v-1"),
                ("Include", "[\"/data\"]"),
                ("SpeedLimit", "0:25:100"),
            ],
            200,
            "InvalidParameter",
        ),
        (
            vec![
                ("SourceType", "CONTAINER"),
                ("Retention", "7"),
                ("VaultId", "v-1"),
                ("ContainerResources", "[{}]"),
            ],
            400,
            "MissingParameter",
        ),
        (
            vec![
                ("SourceType", "CONTAINER"),
                ("Retention", "7"),
                ("VaultId", "v-1"),
                ("ContainerClusterId", "cc-1"),
                ("ContainerResources", "{}"),
            ],
            200,
            "InvalidParameter",
        ),
        (
            vec![
                ("SourceType", "CONTAINER"),
                ("Retention", "7"),
                ("ContainerClusterId", "cc-1"),
                ("ContainerResources", "[{}]"),
            ],
            400,
            "MissingParameter",
        ),
    ];
    for (params, status, code) in &cases {
        let r = c.v3(HBR, "CreateBackupJob", params).await;
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{params:?}: {}",
            r.body
        );
    }
    for ok in [
        vec![
            ("SourceType", "ECS_FILE"),
            ("Retention", "7"),
            ("InstanceId", "i-demo01"),
            ("VaultId", "v-1"),
            ("Include", "[\"/data\"]"),
            ("Exclude", "[\"/proc\"]"),
            ("SpeedLimit", "0:24:1024"),
            ("Options", "{\"UseVSS\":false}"),
        ],
        vec![
            ("SourceType", "CONTAINER"),
            ("Retention", "7"),
            ("VaultId", "v-1"),
            ("ContainerClusterId", "cc-1"),
            ("ClusterId", "c-1"),
            ("ContainerResources", "[{\"resourceType\":\"PV\"}]"),
        ],
        base(
            &[
                ("CrossAccountType", "CROSS_ACCOUNT"),
                ("CrossAccountUserId", "158975"),
                ("CrossAccountRoleName", "BackupRole"),
            ],
            &[],
        ),
        // Not refused where the API reference states no rule (see the README): file-backup
        // parameters on UDM_ECS ("do not take effect"), doCopy without a destination,
        // CROSS_ACCOUNT without account and role, a long JobName, ECS_FILE without InstanceId,
        // an empty ContainerResources array.
        base(
            &[
                ("Include", "[\"/\"]"),
                ("Exclude", "[\"/proc\"]"),
                ("SpeedLimit", "0:24:1024"),
                ("Options", "{\"UseVSS\":false}"),
            ],
            &[],
        ),
        base(&[("Detail", "{\"doCopy\":true}")], &[]),
        base(&[("CrossAccountType", "CROSS_ACCOUNT")], &[]),
        base(
            &[("JobName", Box::leak("j".repeat(200).into_boxed_str()))],
            &[],
        ),
        vec![
            ("SourceType", "ECS_FILE"),
            ("Retention", "7"),
            ("VaultId", "v-1"),
            ("Include", "[\"/data\"]"),
        ],
        vec![
            ("SourceType", "CONTAINER"),
            ("Retention", "7"),
            ("VaultId", "v-1"),
            ("ContainerClusterId", "cc-1"),
            ("ContainerResources", "[]"),
        ],
    ] {
        c.v3(HBR, "CreateBackupJob", &ok).await.ok();
    }
}

#[tokio::test]
async fn describe_filters_paging_and_sort() {
    let emu = start_with(
        EmulatorConfig::default()
            .with_job_duration(Duration::from_secs(100))
            .with_ecs_instance("i-demo02"),
    )
    .await;
    let c = Client::new(&emu);
    let mut ids = Vec::new();
    let mut created = Vec::new();
    for i in 0..6 {
        let inst = if i % 2 == 0 { "i-demo01" } else { "i-demo02" };
        let mut p = UDM.to_vec();
        p.retain(|(k, _)| *k != "InstanceId");
        p.push(("InstanceId", inst));
        ids.push(c.v3(HBR, "CreateBackupJob", &p).await.ok().s("/JobId"));
        created.push(emu.now_ms() / 1000);
        emu.advance_time(Duration::from_secs(60));
    }
    let q = |extra: Vec<(&'static str, String)>| {
        let mut v: Vec<(&'static str, String)> = vec![("SourceType", "UDM_ECS".into())];
        v.extend(extra);
        v
    };
    async fn run(c: &Client, p: Vec<(&'static str, String)>) -> Value {
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.v3(HBR, "DescribeBackupJobs2", &refs).await.ok().body
    }
    let ids_of = |b: &Value| -> Vec<String> {
        b["BackupJobs"]["BackupJob"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["JobId"].as_str().unwrap().to_owned())
            .collect()
    };
    // Default: DESCEND by creation, page 1 of 10.
    let b = run(&c, q(vec![])).await;
    assert_eq!(b["TotalCount"], 6);
    assert_eq!(b["PageNumber"], 1);
    assert_eq!(b["PageSize"], 10);
    assert_eq!(ids_of(&b)[0], ids[5]);
    let b = run(
        &c,
        q(vec![
            ("SortDirection", "ASCEND".into()),
            ("PageSize", "4".into()),
            ("PageNumber", "2".into()),
        ]),
    )
    .await;
    assert_eq!(ids_of(&b), vec![ids[4].clone(), ids[5].clone()]);
    // IN on JobId with two values.
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "JobId".into()),
            ("Filters.1.Values.1", ids[1].clone()),
            ("Filters.1.Values.2", ids[2].clone()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 2);
    // EQUAL on InstanceId + Status.
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "InstanceId".into()),
            ("Filters.1.Operator", "EQUAL".into()),
            ("Filters.1.Values.1", "i-demo02".into()),
            ("Filters.2.Key", "Status".into()),
            ("Filters.2.Operator", "IN".into()),
            ("Filters.2.Values.1", "COMPLETE".into()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 2); // jobs 1 and 3 are done, 5 is running
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "Status".into()),
            ("Filters.1.Operator", "NOT_EQUAL".into()),
            ("Filters.1.Values.1", "COMPLETE".into()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 1); // only the last job still runs
    // CreatedTime ranges.
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CreatedTime".into()),
            ("Filters.1.Operator", "GREATER_THAN_OR_EQUAL".into()),
            ("Filters.1.Values.1", created[4].to_string()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 2);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CreatedTime".into()),
            ("Filters.1.Operator", "GREATER_THAN".into()),
            ("Filters.1.Values.1", created[4].to_string()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 1);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CreatedTime".into()),
            ("Filters.1.Operator", "LESS_THAN".into()),
            ("Filters.1.Values.1", created[1].to_string()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 1);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CreatedTime".into()),
            ("Filters.1.Operator", "LESS_THAN_OR_EQUAL".into()),
            ("Filters.1.Values.1", created[1].to_string()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 2);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CreatedTime".into()),
            ("Filters.1.Operator", "BETWEEN".into()),
            (
                "Filters.1.Values.1",
                format!("[{},{}]", created[1], created[3]),
            ),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 3);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "CompleteTime".into()),
            ("Filters.1.Operator", "GREATER_THAN".into()),
            ("Filters.1.Values.1", "0".into()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 5);
    let b = run(
        &c,
        q(vec![
            ("Filters.1.Key", "JobName".into()),
            ("Filters.1.Operator", "EQUAL".into()),
            ("Filters.1.Values.1", "nightly job".into()),
        ]),
    )
    .await;
    assert_eq!(b["TotalCount"], 6);
    // Another source type sees nothing; the default source type is ECS_FILE.
    let b = c.v3(HBR, "DescribeBackupJobs2", &[]).await.ok().body;
    assert_eq!(b["TotalCount"], 0);
    // Errors.
    for bad in [
        vec![("PageSize", "100")],
        vec![("PageSize", "0")],
        vec![("PageNumber", "0")],
        vec![("SortDirection", "UP")],
        vec![("Filters.1.Key", "Color"), ("Filters.1.Values.1", "x")],
        vec![
            ("Filters.1.Key", "JobId"),
            ("Filters.1.Operator", "LIKE"),
            ("Filters.1.Values.1", "x"),
        ],
        vec![
            ("Filters.1.Key", "CompleteTime"),
            ("Filters.1.Operator", "IN"),
            ("Filters.1.Values.1", "1"),
        ],
        vec![
            ("Filters.1.Key", "CreatedTime"),
            ("Filters.1.Operator", "EQUAL"),
            ("Filters.1.Values.1", "yesterday"),
        ],
        vec![
            ("Filters.1.Key", "CreatedTime"),
            ("Filters.1.Operator", "BETWEEN"),
            ("Filters.1.Values.1", "[1]"),
        ],
    ] {
        let mut p = vec![("SourceType", "UDM_ECS")];
        p.extend(bad.clone());
        let r = c.v3(HBR, "DescribeBackupJobs2", &p).await;
        assert_eq!((r.status, r.code()), (200, "InvalidParameter"), "{bad:?}");
        assert_eq!(r.body["Success"], false);
    }
    let r = c
        .v3(
            HBR,
            "DescribeBackupJobs2",
            &[("SourceType", "UDM_ECS"), ("Filters.1.Key", "JobId")],
        )
        .await;
    assert_eq!(r.code(), "MissingParameter");
}

/// `ECS_FILE` parameters for a job in `vault`.
fn file_job(vault: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("SourceType", "ECS_FILE"),
        ("Retention", "7"),
        ("InstanceId", "i-demo01"),
        ("VaultId", vault),
        ("Include", "[\"/data\",\"/home\"]"),
        ("Exclude", "[\"/proc\"]"),
    ]
}

/// The query of `SearchHistoricalSnapshots` for the file snapshots of `i-demo01` in `vault`.
fn vault_query(vault: &str, extra: &str) -> String {
    format!(
        r#"[{{"field":"VaultId","value":"{vault}","operation":"MATCH_TERM"}},{{"field":"InstanceId","value":"i-demo01","operation":"MATCH_TERM"}}{extra}]"#
    )
}

async fn search(c: &Client, params: &[(&str, &str)]) -> Value {
    c.v3(HBR, "SearchHistoricalSnapshots", params)
        .await
        .ok()
        .body
}

fn snapshot_ids(body: &Value) -> Vec<String> {
    body["Snapshots"]["Snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SnapshotId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn file_job_snapshot_is_found_by_search_and_deleted() {
    let (emu, c) = setup().await;
    let a = c
        .v3(HBR, "CreateBackupJob", &file_job("v-1"))
        .await
        .ok()
        .s("/JobId");
    let other_vault = c
        .v3(HBR, "CreateBackupJob", &file_job("v-2"))
        .await
        .ok()
        .s("/JobId");
    c.v3(HBR, "CreateBackupJob", UDM).await.ok();
    let q = vault_query("v-1", "");
    let params = [("SourceType", "ECS_FILE"), ("Query", q.as_str())];
    // Running: no snapshot yet.
    let b = search(&c, &params).await;
    assert_eq!(b["TotalCount"], 0, "{b}");
    assert_eq!(b["NextToken"], "");
    emu.advance_time(Duration::from_secs(101));

    let b = search(&c, &params).await;
    assert_eq!(b["Success"], true);
    assert_eq!(b["TotalCount"], 1, "{b}");
    let snap = &b["Snapshots"]["Snapshot"][0];
    assert_eq!(snap["JobId"], a.as_str());
    assert_eq!(snap["Status"], "COMPLETE");
    assert_eq!(snap["SourceType"], "ECS_FILE");
    assert_eq!(snap["VaultId"], "v-1");
    assert_eq!(snap["InstanceId"], "i-demo01");
    assert_eq!(snap["Paths"]["Path"][1], "/home");
    assert!(snap["CompleteTime"].as_i64().unwrap() > 0);
    let id = snap["SnapshotId"].as_str().unwrap().to_owned();
    // The same through V1 signing, and without SourceType.
    let r = c
        .v1(HBR, "SearchHistoricalSnapshots", &[("Query", q.as_str())])
        .await
        .ok();
    assert_eq!(snapshot_ids(&r.body), vec![id.clone()]);
    // CompleteTime conditions, as the operator sends them.
    let complete = snap["CompleteTime"].as_i64().unwrap();
    let after = |t: i64| {
        vault_query(
            "v-1",
            &format!(
                r#",{{"field":"CompleteTime","value":"{t}","operation":"GREATER_THAN_OR_EQUAL"}}"#
            ),
        )
    };
    assert_eq!(
        search(&c, &[("Query", &after(complete - 60))]).await["TotalCount"],
        1
    );
    assert_eq!(
        search(&c, &[("Query", &after(complete + 1))]).await["TotalCount"],
        0
    );
    let between = vault_query(
        "v-1",
        &format!(
            r#",{{"field":"CompleteTime","value":[{},{}],"operation":"BETWEEN"}}"#,
            complete - 1,
            complete + 1
        ),
    );
    assert_eq!(search(&c, &[("Query", &between)]).await["TotalCount"], 1);
    // The other vault has its own snapshot; a CONTAINER or UDM job is not a file snapshot.
    let b = search(&c, &[("Query", &vault_query("v-2", ""))]).await;
    assert_eq!(b["Snapshots"]["Snapshot"][0]["JobId"], other_vault.as_str());

    // Deleted: gone from the search; deleting again is SnapshotNotExist.
    c.v3(
        HBR,
        "DeleteSnapshot",
        &[
            ("SnapshotId", &id),
            ("SourceType", "ECS_FILE"),
            ("VaultId", "v-1"),
            ("InstanceId", "i-demo01"),
        ],
    )
    .await
    .ok();
    assert_eq!(search(&c, &params).await["TotalCount"], 0);
    let r = c.v3(HBR, "DeleteSnapshot", &[("SnapshotId", &id)]).await;
    assert_eq!((r.status, r.code()), (200, "SnapshotNotExist"));
}

#[tokio::test]
async fn search_pages_with_next_token_and_sorts() {
    let (emu, c) = setup().await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(
            c.v3(HBR, "CreateBackupJob", &file_job("v-1"))
                .await
                .ok()
                .s("/JobId"),
        );
        emu.advance_time(Duration::from_secs(10));
    }
    emu.advance_time(Duration::from_secs(200));
    let q = vault_query("v-1", "");
    let job_ids = |b: &Value| -> Vec<String> {
        b["Snapshots"]["Snapshot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["JobId"].as_str().unwrap().to_owned())
            .collect()
    };
    // Default order: ascending CompleteTime.
    let b = search(&c, &[("Query", &q), ("Limit", "2")]).await;
    assert_eq!(b["TotalCount"], 3);
    assert_eq!(b["Limit"], 2);
    assert_eq!(job_ids(&b), jobs[..2].to_vec());
    let token = b["NextToken"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let b = search(&c, &[("Query", &q), ("Limit", "2"), ("NextToken", &token)]).await;
    assert_eq!(job_ids(&b), jobs[2..].to_vec());
    assert_eq!(b["NextToken"], "");
    let b = search(&c, &[("Query", &q), ("Order", "DESC")]).await;
    assert_eq!(job_ids(&b)[0], jobs[2]);
    // Limit 0: only the count.
    let b = search(&c, &[("Query", &q), ("Limit", "0")]).await;
    assert_eq!((b["TotalCount"].clone(), job_ids(&b).len()), (json(3), 0));
    // IN / NOT_IN on the vault.
    let q_in = r#"[{"field":"VaultId","value":["v-1","v-9"],"operation":"IN"},{"field":"InstanceId","value":"i-demo01"}]"#;
    assert_eq!(search(&c, &[("Query", q_in)]).await["TotalCount"], 3);
    let q_not_in = r#"[{"field":"VaultId","value":"v-0","operation":"MATCH_TERM"},{"field":"VaultId","value":["v-1"],"operation":"NOT_IN"}]"#;
    assert_eq!(search(&c, &[("Query", q_not_in)]).await["TotalCount"], 0);
}

fn json(n: i64) -> Value {
    Value::from(n)
}

#[tokio::test]
async fn search_rules() {
    let (_emu, c) = setup().await;
    let ok_query = vault_query("v-1", "");
    let cases: Vec<(Vec<(&str, &str)>, u16, &str)> = vec![
        (vec![("SourceType", "ECS_FILE")], 400, "MissingParameter"),
        (vec![("Query", "not json")], 200, "InvalidParameter"),
        (
            vec![("Query", r#"[{"field":"InstanceId","value":"i-demo01"}]"#)],
            200,
            "InvalidParameter",
        ),
        (
            vec![
                ("SourceType", "ECS_FILE"),
                ("Query", r#"[{"field":"VaultId","value":"v-1"}]"#),
            ],
            200,
            "InvalidParameter",
        ),
        (
            vec![(
                "Query",
                r#"[{"field":"VaultId","value":"v-1"},{"field":"JobId","value":"job-1"}]"#,
            )],
            200,
            "InvalidParameter",
        ),
        (
            vec![(
                "Query",
                r#"[{"field":"VaultId","value":"v-1","operation":"LIKE"}]"#,
            )],
            200,
            "InvalidParameter",
        ),
        (
            vec![(
                "Query",
                r#"[{"field":"VaultId","value":"v-1"},{"field":"CompleteTime","value":[1],"operation":"BETWEEN"}]"#,
            )],
            200,
            "InvalidParameter",
        ),
        (
            vec![("SourceType", "CONTAINER"), ("Query", ok_query.as_str())],
            200,
            "InvalidParameter",
        ),
        (
            vec![("Query", ok_query.as_str()), ("Order", "UP")],
            200,
            "InvalidParameter",
        ),
        (
            vec![("Query", ok_query.as_str()), ("Limit", "-1")],
            200,
            "InvalidParameter",
        ),
        (
            vec![("Query", ok_query.as_str()), ("NextToken", "garbage")],
            200,
            "InvalidParameter",
        ),
    ];
    for (params, status, code) in &cases {
        let r = c.v3(HBR, "SearchHistoricalSnapshots", params).await;
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{params:?}: {}",
            r.body
        );
    }
    for ok in [
        vec![("Query", ok_query.as_str())],
        vec![("SourceType", "NAS"), ("Query", ok_query.as_str())],
        vec![
            ("Query", ok_query.as_str()),
            ("Edition", "STANDARD"),
            ("SortBy", "CreatedTime"),
        ],
    ] {
        c.v3(HBR, "SearchHistoricalSnapshots", &ok).await.ok();
    }
}
