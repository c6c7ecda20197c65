//! Restore requests on the wire (names, query vs form body, idempotency, client-side checks),
//! restore responses decoded, and the DBS destination password kept out of `Debug`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cloud::Product;
use crate::cloud::api::*;
use crate::cloud::client::decode;
use crate::cloud::error::ErrorClass;
use crate::cloud::ops::ToParams;
use crate::cloud::retry::Idempotency;
use crate::cloud::secret::Secret;

fn query_keys<R: ToParams>(req: &R) -> Vec<String> {
    req.params().query.into_iter().map(|(k, _)| k).collect()
}

fn body_keys<R: ToParams>(req: &R) -> Vec<String> {
    req.params().body.into_iter().map(|(k, _)| k).collect()
}

#[test]
fn clone_db_instance_sends_tags_vpc_and_token_in_the_query() {
    let req = CloneDbInstanceRequest {
        db_instance_id: "rm-src".into(),
        pay_type: "Postpaid".into(),
        backup_id: Some("123".into()),
        vpc_id: Some("vpc-1".into()),
        vswitch_id: Some("vsw-1".into()),
        deletion_protection: Some(true),
        tags: vec![
            ("k8s-uid".into(), "u1".into()),
            ("team".into(), "db".into()),
        ],
        client_token: Some("tok-1".into()),
        ..Default::default()
    };
    let p = req.params();
    assert!(p.body.is_empty());
    assert_eq!(p.get("DBInstanceId"), Some("rm-src"));
    assert_eq!(p.get("VPCId"), Some("vpc-1"));
    assert_eq!(p.get("VSwitchId"), Some("vsw-1"));
    assert_eq!(p.get("DeletionProtection"), Some("true"));
    assert_eq!(p.get("Tag.1.Key"), Some("k8s-uid"));
    assert_eq!(p.get("Tag.1.Value"), Some("u1"));
    assert_eq!(p.get("Tag.2.Key"), Some("team"));
    assert_eq!(p.get("Tag.2.Value"), Some("db"));
    assert_eq!(p.get("RestoreTime"), None);
    assert_eq!(req.idempotency(), Idempotency::Safe);
    let untokened = CloneDbInstanceRequest {
        client_token: None,
        ..req.clone()
    };
    assert_eq!(untokened.idempotency(), Idempotency::Unsafe);
    // Neither a backup set nor a point in time: refused before a call.
    let neither = CloneDbInstanceRequest {
        backup_id: None,
        ..req
    };
    assert!(neither.validate().is_err());
}

#[test]
fn rds_lookups_and_table_restore_params() {
    let req = DescribeDbInstancesRequest {
        region_id: "cn-hangzhou".into(),
        tags: BTreeMap::from([("k8s-uid".to_string(), "u1".to_string())]),
        max_results: Some(30),
        ..Default::default()
    };
    assert_eq!(req.params().get("Tags"), Some(r#"{"k8s-uid":"u1"}"#));
    assert!(
        DescribeDbInstancesRequest {
            max_results: Some(101),
            ..req
        }
        .validate()
        .is_err()
    );

    let table = RestoreTableRequest {
        db_instance_id: "rm-src".into(),
        table_meta: r#"[{"type":"db","name":"db1","newname":"db1_r"}]"#.into(),
        restore_time: Some("2026-01-01T00:00:00Z".into()),
        client_token: Some("tok".into()),
        ..Default::default()
    };
    assert_eq!(
        query_keys(&table),
        ["DBInstanceId", "TableMeta", "RestoreTime", "ClientToken"]
    );
    assert_eq!(table.idempotency(), Idempotency::Safe);

    let tasks = DescribeHistoryTasksRequest {
        from_start_time: "a".into(),
        to_start_time: "b".into(),
        page_size: Some(5),
        ..Default::default()
    };
    assert!(tasks.validate().is_err(), "PageSize is 10–100");
    assert_eq!(tasks.idempotency(), Idempotency::Safe);
}

#[test]
fn create_restore_job_splits_query_and_form_body_as_the_sdk_does() {
    let req = CreateRestoreJobRequest {
        restore_type: "ECS_FILE".into(),
        source_type: "ECS_FILE".into(),
        snapshot_id: "s-1".into(),
        snapshot_hash: Some("h-1".into()),
        vault_id: Some("v-1".into()),
        target_instance_id: Some("i-1".into()),
        target_path: Some("/restore".into()),
        include: Some(r#"["/a"]"#.into()),
        exclude: Some(r#"["/b"]"#.into()),
        options: Some(json!({"conflictPolicy": "OVERWRITE_EXISTING"})),
        udm_detail: Some(json!({"x": 1})),
        ..Default::default()
    };
    assert_eq!(
        body_keys(&req),
        ["TargetInstanceId", "TargetPath", "Include", "Exclude"]
    );
    let p = req.params();
    assert_eq!(p.get("Include"), Some(r#"["/a"]"#));
    assert_eq!(p.get("UdmDetail"), Some(r#"{"x":1}"#));
    assert_eq!(
        p.get("Options"),
        Some(r#"{"conflictPolicy":"OVERWRITE_EXISTING"}"#)
    );
    assert!(p.query.iter().any(|(k, _)| k == "SnapshotHash"));
    assert_eq!(req.idempotency(), Idempotency::Unsafe);

    let list = DescribeRestoreJobs2Request {
        restore_type: Some("ECS_FILE".into()),
        filters: vec![HbrFilter {
            key: "VaultId".into(),
            operator: Some("IN".into()),
            values: vec!["v-1".into()],
        }],
        page_size: Some(99),
        ..Default::default()
    };
    let p = list.params();
    assert_eq!(p.get("Filters.1.Key"), Some("VaultId"));
    assert_eq!(p.get("Filters.1.Operator"), Some("IN"));
    assert_eq!(p.get("Filters.1.Values.1"), Some("v-1"));
    assert!(list.validate().is_ok());
    let too_big = DescribeRestoreJobs2Request {
        page_size: Some(100),
        ..list
    };
    assert!(too_big.validate().is_err());
    assert_eq!(
        CancelRestoreJobRequest::default().idempotency(),
        Idempotency::Safe
    );
}

fn restore_task() -> CreateRestoreTaskRequest {
    CreateRestoreTaskRequest {
        backup_plan_id: "dbs1".into(),
        restore_task_name: "restore-u1".into(),
        destination_endpoint_instance_type: "RDS".into(),
        destination_endpoint_user_name: Some("admin".into()),
        destination_endpoint_password: Some(Secret::new("canary-restore-pw-42")),
        restore_objects: Some(r#"[{"DBName":"db1","NewDBName":"db1_r"}]"#.into()),
        backup_set_id: Some("set-1".into()),
        ..Default::default()
    }
}

#[test]
fn destination_password_never_in_debug_output() {
    let req = restore_task();
    let debug = format!("{req:?}");
    assert!(!debug.contains("canary-restore-pw-42"), "{debug}");
    let pretty = format!("{req:#?}");
    assert!(!pretty.contains("canary-restore-pw-42"));
    assert!(debug.contains("Secret(***)"));
    // It does go on the wire (in the query, as the SDK sends it).
    assert_eq!(
        req.params().get("DestinationEndpointPassword"),
        Some("canary-restore-pw-42")
    );
    assert!(req.params().body.is_empty());
}

#[test]
fn dbs_restore_checks_and_idempotency() {
    let req = restore_task();
    assert!(req.validate().is_ok());
    assert_eq!(req.idempotency(), Idempotency::Unsafe);
    let tokened = CreateRestoreTaskRequest {
        client_token: Some("tok".into()),
        ..req.clone()
    };
    assert_eq!(tokened.idempotency(), Idempotency::Safe);
    let both = CreateRestoreTaskRequest {
        restore_time: Some(1_554_560_477_000),
        ..req.clone()
    };
    assert!(both.validate().is_err());
    let neither = CreateRestoreTaskRequest {
        backup_set_id: None,
        ..req
    };
    assert!(neither.validate().is_err());

    let list = |plan: Option<&str>, task: Option<&str>| DescribeRestoreTaskListRequest {
        backup_plan_id: plan.map(str::to_string),
        restore_task_id: task.map(str::to_string),
        ..Default::default()
    };
    assert!(list(Some("dbs1"), None).validate().is_ok());
    assert!(list(None, Some("t1")).validate().is_ok());
    assert!(list(Some("dbs1"), Some("t1")).validate().is_err());
    assert!(list(None, None).validate().is_err());
    assert_eq!(
        StartRestoreTaskRequest::default().idempotency(),
        Idempotency::Unsafe
    );
}

#[test]
fn restore_responses_decode() {
    let r: DescribeLocalAvailableRecoveryTimeResponse = decode(
        Product::Rds,
        "T",
        200,
        None,
        None,
        br#"{"RequestId":"r","DBInstanceId":"rm-1","RecoveryBeginTime":"","RecoveryEndTime":""}"#,
    )
    .unwrap();
    assert_eq!(r.db_instance_id.as_deref(), Some("rm-1"));
    assert_eq!(r.recovery_begin_time, None);
    assert_eq!(r.recovery_end_time, None);

    let r: DescribeHistoryTasksResponse = decode(
        Product::Rds,
        "T",
        200,
        None,
        None,
        br#"{"RequestId":"r","Items":[{"TaskId":"t1","Status":"Running","Progress":"42.5"}],"TotalCount":1,"PageNumber":"1","PageSize":10}"#,
    )
    .unwrap();
    assert_eq!(r.items[0].progress, Some(42.5));
    assert_eq!(r.page_number, Some(1));

    // UdmDetail as a JSON string or as an object.
    for udm in [
        r#""{\"sourceInstanceId\":\"i-1\"}""#,
        r#"{"sourceInstanceId":"i-1"}"#,
    ] {
        let body = format!(
            r#"{{"Success":true,"RequestId":"r","RestoreJobs":{{"RestoreJob":[{{"RestoreId":"r-1","UdmDetail":{udm}}}]}},"TotalCount":1}}"#
        );
        let r: DescribeRestoreJobs2Response =
            decode(Product::Hbr, "T", 200, None, None, body.as_bytes()).unwrap();
        assert_eq!(
            r.restore_jobs[0].udm_detail,
            Some(json!({"sourceInstanceId": "i-1"}))
        );
    }

    // HBR's failure in an HTTP 200 body is an error.
    let e = decode::<CreateRestoreJobResponse>(
        Product::Hbr,
        "CreateRestoreJob",
        200,
        None,
        None,
        br#"{"Success":false,"Code":"ResourceNotFound","Message":"no snapshot","RequestId":"r"}"#,
    )
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);

    let r: DescribeRestoreRangeInfoResponse = decode(
        Product::Dbs,
        "T",
        200,
        None,
        None,
        br#"{"Success":true,"RequestId":"r","Items":{"DBSRecoverRange":[{"BeginTimestampForRestore":1,"EndTimestampForRestore":"2","SourceEndpointInstanceID":"rm-1","FullBackupList":{"FullBackupDetail":[{"BackupSetId":"s1","StartTime":1,"EndTime":2}]}}]}}"#,
    )
    .unwrap();
    assert_eq!(r.items[0].end_timestamp_for_restore, Some(2));
    assert_eq!(
        r.items[0].source_endpoint_instance_id.as_deref(),
        Some("rm-1")
    );
    assert_eq!(r.items[0].full_backups[0].backup_set_id, "s1");
}
