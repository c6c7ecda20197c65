//! Encoding edge cases, repeat lists, shrink JSON, and the wire parameters of typed requests.

use serde_json::json;

use crate::cloud::api::*;
use crate::cloud::ops::ToParams;
use crate::cloud::params::{Location, Params, encode_pairs, flatten, percent_encode};
use crate::cloud::retry::Idempotency;
use crate::cloud::secret::Secret;

#[test]
fn rfc3986_edge_cases() {
    assert_eq!(percent_encode("a b"), "a%20b");
    assert_eq!(percent_encode("*"), "%2A");
    assert_eq!(percent_encode("~"), "~");
    assert_eq!(percent_encode("/"), "%2F");
    assert_eq!(percent_encode("+"), "%2B");
    assert_eq!(percent_encode("="), "%3D");
    assert_eq!(percent_encode("&"), "%26");
    assert_eq!(percent_encode(":"), "%3A");
    assert_eq!(percent_encode("-_.AZaz09"), "-_.AZaz09");
    assert_eq!(percent_encode("阿"), "%E9%98%BF");
    assert_eq!(percent_encode("é"), "%C3%A9");
    assert_eq!(percent_encode("{\"a\":1}"), "%7B%22a%22%3A1%7D");
    assert_eq!(percent_encode(""), "");
}

#[test]
fn repeat_list_flattening() {
    let mut out = Vec::new();
    flatten(
        "Filters",
        &json!([
            {"Key": "JobId", "Operator": "IN", "Values": ["j1", "j2"]},
            {"Key": "Status", "Values": ["RUNNING"]}
        ]),
        &mut out,
    );
    let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("Filters.1.Key", "JobId"),
            ("Filters.1.Operator", "IN"),
            ("Filters.1.Values.1", "j1"),
            ("Filters.1.Values.2", "j2"),
            ("Filters.2.Key", "Status"),
            ("Filters.2.Values.1", "RUNNING"),
        ]
    );
    let mut out = Vec::new();
    flatten("X", &json!({"a": null, "b": true, "c": 3}), &mut out);
    assert_eq!(
        out,
        vec![("X.b".into(), "true".into()), ("X.c".into(), "3".into())]
    );
}

#[test]
fn shrink_json_is_compact_and_encoded() {
    let mut p = Params::new();
    p.json(Location::Query, "Detail", &json!({"doCopy": false}));
    assert_eq!(
        p.query,
        vec![("Detail".to_string(), "{\"doCopy\":false}".to_string())]
    );
    assert_eq!(encode_pairs(&p.query), "Detail=%7B%22doCopy%22%3Afalse%7D");
}

#[test]
fn describe_backup_jobs2_filters_on_the_wire() {
    let req = DescribeBackupJobs2Request {
        source_type: Some("UDM_ECS".into()),
        filters: vec![HbrFilter {
            key: "JobId".into(),
            operator: Some("IN".into()),
            values: vec!["job-1".into(), "job 2".into()],
        }],
        page_number: Some(1),
        page_size: Some(99),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("Filters.1.Key"), Some("JobId"));
    assert_eq!(p.get("Filters.1.Operator"), Some("IN"));
    assert_eq!(p.get("Filters.1.Values.1"), Some("job-1"));
    assert_eq!(p.get("Filters.1.Values.2"), Some("job 2"));
    assert_eq!(p.get("PageSize"), Some("99"));
    assert_eq!(p.get("SourceType"), Some("UDM_ECS"));
    assert!(p.body.is_empty());
    assert_eq!(req.idempotency(), Idempotency::Safe);
}

#[test]
fn create_backup_job_shrinks_and_types() {
    let req = CreateBackupJobRequest {
        source_type: "UDM_ECS".into(),
        retention: 7,
        instance_id: Some("i-1".into()),
        backup_type: Some("COMPLETE".into()),
        detail: Some(json!({"doCopy": false, "diskIdList": ["d-1"]})),
        include: Some(vec!["/home/alice/*.pdf".into(), "/home/bob/*.txt".into()]),
        options: Some(json!({"UseVSS": false})),
        initiated_by_ack: Some(false),
        cross_account_user_id: Some(123),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("Retention"), Some("7"));
    assert_eq!(
        p.get("Detail"),
        Some("{\"diskIdList\":[\"d-1\"],\"doCopy\":false}")
    );
    assert_eq!(
        p.get("Include"),
        Some("[\"/home/alice/*.pdf\",\"/home/bob/*.txt\"]")
    );
    assert_eq!(p.get("Options"), Some("{\"UseVSS\":false}"));
    assert_eq!(p.get("InitiatedByAck"), Some("false"));
    assert_eq!(p.get("CrossAccountUserId"), Some("123"));
    assert_eq!(p.get("JobName"), None, "unset optionals are left out");
    assert_eq!(req.idempotency(), Idempotency::Unsafe);
}

#[test]
fn udm_snapshot_ids_go_to_the_body_as_json() {
    let req = DescribeUdmSnapshotsRequest {
        source_type: "UDM_ECS".into(),
        start_time: 1,
        end_time: 2,
        udm_region_id: "cn-hangzhou".into(),
        snapshot_ids: vec!["s-1".into(), "s-2".into()],
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(
        p.body,
        vec![("SnapshotIds".to_string(), "[\"s-1\",\"s-2\"]".to_string())]
    );
    assert_eq!(p.query.iter().find(|(k, _)| k == "SnapshotIds"), None);
    assert_eq!(p.get("StartTime"), Some("1"));
}

#[test]
fn search_historical_snapshots_sends_the_query_as_one_json_string() {
    let req = SearchHistoricalSnapshotsRequest {
        source_type: Some("ECS_FILE".into()),
        query: vec![
            SnapshotQuery::term("VaultId", "v-0001"),
            SnapshotQuery::term("InstanceId", "i-1"),
            SnapshotQuery {
                field: "CompleteTime".into(),
                value: json!("1626769913"),
                operation: "GREATER_THAN_OR_EQUAL".into(),
            },
        ],
        limit: Some(100),
        next_token: Some("tok en".into()),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("SourceType"), Some("ECS_FILE"));
    assert_eq!(
        p.get("Query"),
        Some(concat!(
            r#"[{"field":"VaultId","operation":"MATCH_TERM","value":"v-0001"},"#,
            r#"{"field":"InstanceId","operation":"MATCH_TERM","value":"i-1"},"#,
            r#"{"field":"CompleteTime","operation":"GREATER_THAN_OR_EQUAL","value":"1626769913"}]"#
        ))
    );
    assert!(
        encode_pairs(&p.query).contains("Query=%5B%7B%22field%22%3A%22VaultId%22"),
        "{}",
        encode_pairs(&p.query)
    );
    assert_eq!(p.get("Limit"), Some("100"));
    assert_eq!(p.get("NextToken"), Some("tok en"));
    assert_eq!(p.get("SortBy"), None, "unset optionals are left out");
    assert_eq!(p.get("Order"), None);
    assert!(p.body.is_empty(), "everything travels in the query");
    assert_eq!(req.idempotency(), Idempotency::Safe);
    // A range is a JSON array value.
    let between = SearchHistoricalSnapshotsRequest {
        query: vec![SnapshotQuery {
            field: "CompleteTime".into(),
            value: json!([1, 2]),
            operation: "BETWEEN".into(),
        }],
        ..Default::default()
    };
    assert_eq!(
        between.params().get("Query"),
        Some(r#"[{"field":"CompleteTime","operation":"BETWEEN","value":[1,2]}]"#)
    );
    assert_eq!(between.params().get("SourceType"), None);
    assert_eq!(
        SearchHistoricalSnapshotsRequest::default()
            .params()
            .get("Query"),
        None
    );
    // A negative Limit is refused before any call.
    let bad = SearchHistoricalSnapshotsRequest {
        limit: Some(-1),
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    assert!(req.validate().is_ok());
}

#[test]
fn delete_snapshot_params() {
    let req = DeleteSnapshotRequest {
        snapshot_id: "s-1".into(),
        source_type: Some("ECS_FILE".into()),
        vault_id: Some("v-1".into()),
        instance_id: Some("i-1".into()),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("SnapshotId"), Some("s-1"));
    assert_eq!(p.get("SourceType"), Some("ECS_FILE"));
    assert_eq!(p.get("VaultId"), Some("v-1"));
    assert_eq!(p.get("InstanceId"), Some("i-1"));
    assert_eq!(p.get("Force"), None);
    assert_eq!(req.idempotency(), Idempotency::Safe);
}

#[test]
fn dbs_backup_objects_typed_and_raw() {
    let mut req = CreateAndStartBackupPlanRequest {
        backup_plan_name: "p".into(),
        instance_class: "micro".into(),
        database_type: "MySQL".into(),
        backup_method: "logical".into(),
        source: SourceEndpoint {
            instance_type: "RDS".into(),
            port: Some(3306),
            password: Some(Secret::new("canary-password-123")),
            ..Default::default()
        },
        backup_objects: Some(BackupObjects::List(vec![BackupObject {
            db_name: "db1".into(),
            table_includes: vec![TableRef {
                table_name: "t1".into(),
            }],
            ..Default::default()
        }])),
        enable_backup_log: Some(true),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(
        p.get("BackupObjects"),
        Some("[{\"DBName\":\"db1\",\"TableIncludes\":[{\"TableName\":\"t1\"}]}]")
    );
    assert_eq!(p.get("SourceEndpointPort"), Some("3306"));
    assert_eq!(p.get("EnableBackupLog"), Some("true"));
    assert_eq!(p.get("SourceEndpointPassword"), Some("canary-password-123"));
    assert_eq!(req.idempotency(), Idempotency::Unsafe);
    // The password never shows in Debug output.
    assert!(!format!("{req:?}").contains("canary-password-123"));

    req.backup_objects = Some(BackupObjects::Raw("[{\"DBName\":\"x\"}]".into()));
    req.client_token = Some("tok".into());
    assert_eq!(
        req.params().get("BackupObjects"),
        Some("[{\"DBName\":\"x\"}]")
    );
    assert_eq!(req.idempotency(), Idempotency::Safe);
}

#[test]
fn dbs_plan_list_ids_and_zero_paging() {
    let req = DescribeBackupPlanListRequest {
        backup_plan_ids: vec!["a".into(), "b".into()],
        page_num: Some(0),
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("BackupPlanId"), Some("a,b"));
    assert_eq!(p.get("PageNum"), Some("0"));
}

#[test]
fn batched_describes_fit_one_page() {
    let ids: Vec<String> = (0..DescribeBackupJobs2Request::MAX_IDS)
        .map(|i| format!("job-{i}"))
        .collect();
    let req = DescribeBackupJobs2Request::by_ids("UDM_ECS", &ids);
    assert!(req.validate().is_ok());
    let p = req.params();
    assert_eq!(p.get("Filters.1.Operator"), Some("IN"));
    assert_eq!(p.get("Filters.1.Values.99"), Some("job-98"));
    assert_eq!(p.get("PageSize"), Some("99"));
    assert_eq!(p.get("PageNumber"), Some("1"));

    let ids: Vec<String> = (0..DescribeBackupPlanListRequest::MAX_IDS)
        .map(|i| format!("dbs{i}"))
        .collect();
    let req = DescribeBackupPlanListRequest::by_ids("cn-hangzhou", &ids);
    assert!(req.validate().is_ok());
    let p = req.params();
    assert_eq!(
        p.get("BackupPlanId").map(|v| v.split(',').count()),
        Some(100)
    );
    assert_eq!(p.get("PageSize"), Some("100"));
    assert_eq!(p.get("PageNum"), Some("0"));
    assert_eq!(p.get("Region"), Some("cn-hangzhou"));

    let req = DescribeBackupTasksRequest::by_id("rm-1", "42");
    let p = req.params();
    assert_eq!(p.get("DBInstanceId"), Some("rm-1"));
    assert_eq!(p.get("BackupJobId"), Some("42"));
}

#[test]
fn rds_params() {
    let req = CreateBackupRequest {
        db_instance_id: "rm-1".into(),
        db_names: vec!["a".into(), "b".into()],
        backup_strategy: Some("db".into()),
        backup_method: Some("Logical".into()),
        backup_retention_period: Some(-1),
        owner: RdsOwner {
            resource_owner_id: Some(42),
            ..Default::default()
        },
        ..Default::default()
    };
    let p = req.params();
    assert_eq!(p.get("DBName"), Some("a,b"));
    assert_eq!(p.get("BackupRetentionPeriod"), Some("-1"));
    assert_eq!(p.get("ResourceOwnerId"), Some("42"));
    assert_eq!(req.idempotency(), Idempotency::Unsafe);
    let del = DeleteBackupRequest {
        db_instance_id: "rm-1".into(),
        backup_ids: vec!["1".into(), "2".into()],
        ..Default::default()
    };
    assert_eq!(del.params().get("BackupId"), Some("1,2"));
}

/// Every request parameter of the seed API pages (`shared/seeds/`) reaches the wire when set.
#[test]
fn seed_parameters_are_all_representable() {
    fn names(p: &Params) -> std::collections::BTreeSet<String> {
        p.all().map(|(k, _)| k.clone()).collect()
    }
    fn missing(p: &Params, seed: &[&str]) -> Vec<String> {
        let have = names(p);
        seed.iter()
            .filter(|k| !have.contains(**k))
            .map(|k| k.to_string())
            .collect()
    }
    let s = || Some("x".to_string());
    let dbs = CreateAndStartBackupPlanRequest {
        backup_plan_id: s(),
        region: s(),
        instance_class: "micro".into(),
        database_type: "MySQL".into(),
        backup_method: "logical".into(),
        period: s(),
        used_time: Some(1),
        pay_type: s(),
        database_region: s(),
        storage_region: s(),
        instance_type: s(),
        storage_type: s(),
        from_app: s(),
        source: SourceEndpoint {
            instance_type: "RDS".into(),
            region: s(),
            instance_id: s(),
            ip: s(),
            port: Some(3306),
            database_name: s(),
            user_name: s(),
            password: Some(Secret::new("p")),
            oracle_sid: s(),
            backup_gateway_id: Some(1),
        },
        oss_bucket_name: s(),
        backup_objects: Some(BackupObjects::Raw("[]".into())),
        backup_period: s(),
        backup_start_time: s(),
        enable_backup_log: Some(true),
        backup_log_interval_seconds: Some(1),
        backup_retention_period: Some(1),
        duplication_infrequent_access_period: Some(1),
        duplication_archive_period: Some(1),
        backup_plan_name: "n".into(),
        backup_storage_type: s(),
        backup_speed_limit: Some(1),
        backup_rate_limit: Some(1),
        backup_strategy_type: s(),
        cross_aliyun_id: s(),
        cross_role_name: s(),
        client_token: s(),
        resource_group_id: s(),
        owner_id: None,
    };
    let seed_dbs = [
        "BackupPlanId",
        "Region",
        "InstanceClass",
        "DatabaseType",
        "BackupMethod",
        "Period",
        "UsedTime",
        "PayType",
        "DatabaseRegion",
        "StorageRegion",
        "InstanceType",
        "StorageType",
        "FromApp",
        "SourceEndpointInstanceType",
        "SourceEndpointRegion",
        "SourceEndpointInstanceID",
        "SourceEndpointIP",
        "SourceEndpointPort",
        "SourceEndpointDatabaseName",
        "SourceEndpointUserName",
        "SourceEndpointPassword",
        "BackupGatewayId",
        "OSSBucketName",
        "BackupObjects",
        "BackupPeriod",
        "BackupStartTime",
        "EnableBackupLog",
        "BackupLogIntervalSeconds",
        "BackupRetentionPeriod",
        "DuplicationInfrequentAccessPeriod",
        "DuplicationArchivePeriod",
        "BackupPlanName",
        "SourceEndpointOracleSID",
        "BackupStorageType",
        "BackupSpeedLimit",
        "BackupRateLimit",
        "BackupStrategyType",
        "CrossAliyunId",
        "CrossRoleName",
        "ClientToken",
        "ResourceGroupId",
    ];
    assert_eq!(missing(&dbs.params(), &seed_dbs), Vec::<String>::new());

    let start = StartBackupPlanRequest {
        backup_plan_id: "p".into(),
        client_token: s(),
        owner_id: None,
    };
    assert_eq!(
        missing(&start.params(), &["BackupPlanId", "ClientToken"]),
        Vec::<String>::new()
    );

    let hbr = CreateBackupJobRequest {
        job_name: s(),
        source_type: "UDM_ECS".into(),
        retention: 1,
        instance_id: s(),
        detail: Some(json!({})),
        backup_type: s(),
        vault_id: s(),
        speed_limit: s(),
        options: Some(json!({"UseVSS": false})),
        include: Some(vec!["/a".into()]),
        exclude: Some(vec!["/b".into()]),
        cluster_id: s(),
        container_resources: Some(json!([])),
        initiated_by_ack: Some(false),
        container_cluster_id: s(),
        cross_account_type: s(),
        cross_account_user_id: Some(1),
        cross_account_role_name: s(),
    };
    let seed_hbr = [
        "JobName",
        "SourceType",
        "Retention",
        "InstanceId",
        "Detail",
        "BackupType",
        "VaultId",
        "SpeedLimit",
        "Options",
        "Include",
        "Exclude",
        "ClusterId",
        "ContainerResources",
        "InitiatedByAck",
        "ContainerClusterId",
        "CrossAccountType",
        "CrossAccountUserId",
        "CrossAccountRoleName",
    ];
    assert_eq!(missing(&hbr.params(), &seed_hbr), Vec::<String>::new());

    let rds = CreateBackupRequest {
        db_instance_id: "rm".into(),
        db_names: vec!["a".into()],
        backup_strategy: s(),
        backup_method: s(),
        backup_type: s(),
        backup_retention_period: Some(7),
        owner: RdsOwner {
            resource_owner_id: Some(1),
            ..Default::default()
        },
    };
    let seed_rds = [
        "DBInstanceId",
        "DBName",
        "BackupStrategy",
        "BackupMethod",
        "BackupType",
        "BackupRetentionPeriod",
        "ResourceOwnerId",
    ];
    assert_eq!(missing(&rds.params(), &seed_rds), Vec::<String>::new());
}
