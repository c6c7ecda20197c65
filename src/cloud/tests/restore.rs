//! Every restore operation against the emulator over loopback HTTP: one happy path per
//! product, and the documented errors classified.

use std::time::Duration;

use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::json;

use crate::cloud::api::*;
use crate::cloud::config::RateLimit;
use crate::cloud::error::{ErrorClass, ErrorKind};
use crate::cloud::{
    AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Secret, StaticCredentials, Target,
};

fn target() -> Target {
    Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: "restore-key".into(),
            access_key_secret: Secret::new("restore-secret"),
            security_token: None,
        }),
    }
}

async fn world(config: EmulatorConfig) -> (EmulatorHandle, AlibabaCloud) {
    let emulator = Emulator::start(
        config
            .with_credential("restore-key", "restore-secret")
            .with_job_duration(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let cloud = AlibabaCloud::new(CloudConfig {
        endpoint_override: Some(emulator.url().parse().unwrap()),
        rate_limit: RateLimit {
            qps: 10_000.0,
            burst: 10_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    (emulator, cloud)
}

/// `yyyy-MM-ddTHH:mm:ssZ` of emulator time `ms`.
fn rds_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test]
async fn rds_clone_and_its_lookups() {
    let (emulator, cloud) =
        world(EmulatorConfig::default().with_rds_backup_set("rm-demo01", 4242)).await;
    let rds = cloud.rds_restore(&target());

    let window = rds
        .describe_local_available_recovery_time(&DescribeLocalAvailableRecoveryTimeRequest {
            db_instance_id: "rm-demo01".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(window.db_instance_id.as_deref(), Some("rm-demo01"));
    assert!(window.recovery_begin_time.is_some());
    assert!(window.recovery_end_time.is_some());

    let clone_req = CloneDbInstanceRequest {
        db_instance_id: "rm-demo01".into(),
        pay_type: "Postpaid".into(),
        backup_id: Some("4242".into()),
        db_instance_description: Some("restore-u1".into()),
        tags: vec![("k8s-uid".into(), "u1".into())],
        client_token: Some("tok-clone-1".into()),
        ..Default::default()
    };
    let clone = rds.clone_db_instance(&clone_req).await.unwrap();
    assert!(!clone.db_instance_id.is_empty());
    assert_ne!(clone.db_instance_id, "rm-demo01");
    assert!(clone.order_id.is_some());
    // The token replayed: the same clone.
    let again = rds.clone_db_instance(&clone_req).await.unwrap();
    assert_eq!(again.db_instance_id, clone.db_instance_id);

    let attr = rds
        .describe_db_instance_attribute(&DescribeDbInstanceAttributeRequest {
            db_instance_id: clone.db_instance_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(attr.items.len(), 1);
    assert_eq!(attr.items[0].db_instance_id, clone.db_instance_id);
    assert_eq!(
        attr.items[0].db_instance_status.as_deref(),
        Some("Creating")
    );
    assert_eq!(
        attr.items[0].db_instance_description.as_deref(),
        Some("restore-u1")
    );

    let found = rds
        .describe_db_instances(&DescribeDbInstancesRequest {
            region_id: "cn-hangzhou".into(),
            tags: [("k8s-uid".to_string(), "u1".to_string())].into(),
            max_results: Some(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = found.items.iter().map(|i| &i.db_instance_id).collect();
    assert_eq!(ids, [&clone.db_instance_id]);
    emulator.shutdown().await;
}

#[tokio::test]
async fn rds_table_restore_shows_in_the_task_centre() {
    let (emulator, cloud) =
        world(EmulatorConfig::default().with_rds_backup_set("rm-demo01", 4242)).await;
    let rds = cloud.rds_restore(&target());
    let from = rds_time(emulator.now_ms() - 3_600_000);
    rds.restore_table(&RestoreTableRequest {
        db_instance_id: "rm-demo01".into(),
        table_meta: json!([{"type": "db", "name": "db1", "newname": "db1_restored"}]).to_string(),
        backup_id: Some("4242".into()),
        client_token: Some("tok-table-1".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let tasks = rds
        .describe_history_tasks(&DescribeHistoryTasksRequest {
            instance_id: Some("rm-demo01".into()),
            from_start_time: from,
            to_start_time: rds_time(emulator.now_ms() + 60_000),
            ..Default::default()
        })
        .await
        .unwrap();
    let restore = tasks
        .items
        .iter()
        .find(|t| t.task_type.as_deref() == Some("RestoreTable"))
        .expect("the table restore is in the task centre");
    assert!(!restore.task_id.is_empty());
    assert_eq!(restore.instance_id.as_deref(), Some("rm-demo01"));
    assert!(tasks.total_count.is_some_and(|n| n >= 1));
    emulator.shutdown().await;
}

#[tokio::test]
async fn rds_restore_errors_are_classified() {
    let (emulator, cloud) = world(EmulatorConfig::default()).await;
    let rds = cloud.rds_restore(&target());
    let e = rds
        .describe_db_instance_attribute(&DescribeDbInstanceAttributeRequest {
            db_instance_id: "rm-nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidDBInstanceId.NotFound"));
    assert_eq!(e.class(), ErrorClass::NotFound);

    let e = rds
        .clone_db_instance(&CloneDbInstanceRequest {
            db_instance_id: "rm-demo01".into(),
            pay_type: "Postpaid".into(),
            backup_id: Some("999999".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidBackupId.NotFound"));
    assert_eq!(e.class(), ErrorClass::NotFound);

    // Neither a backup set nor a point in time: refused without a call.
    let calls = emulator.call_count();
    let e = rds
        .restore_table(&RestoreTableRequest {
            db_instance_id: "rm-demo01".into(),
            table_meta: "[]".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(emulator.call_count(), calls);

    let e = rds
        .describe_history_tasks(&DescribeHistoryTasksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("MissingParameter"));
    assert_eq!(e.class(), ErrorClass::Terminal);
    emulator.shutdown().await;
}

/// A finished `UDM_ECS` backup of `i-demo01` and its snapshot.
async fn udm_snapshot(emulator: &EmulatorHandle, cloud: &AlibabaCloud) -> UdmSnapshot {
    let hbr = cloud.hbr(&target());
    let start = emulator.now_ms() / 1000 - 60;
    let job = hbr
        .create_backup_job(&CreateBackupJobRequest {
            source_type: "UDM_ECS".into(),
            instance_id: Some("i-demo01".into()),
            backup_type: Some("COMPLETE".into()),
            retention: 7,
            detail: Some(json!({"doCopy": false, "diskIdList": []})),
            ..Default::default()
        })
        .await
        .unwrap();
    emulator.advance_time(Duration::from_secs(60));
    let snaps = hbr
        .describe_udm_snapshots(&DescribeUdmSnapshotsRequest {
            source_type: "UDM_ECS".into(),
            start_time: start,
            end_time: emulator.now_ms() / 1000 + 60,
            udm_region_id: "cn-hangzhou".into(),
            job_id: Some(job.job_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    snaps.snapshots.into_iter().next().expect("one snapshot")
}

#[tokio::test]
async fn hbr_restore_job_create_list_cancel() {
    let (emulator, cloud) = world(EmulatorConfig::default()).await;
    let snap = udm_snapshot(&emulator, &cloud).await;
    assert!(snap.snapshot_hash.is_some());
    let hbr = cloud.hbr_restore(&target());

    let created = hbr
        .create_restore_job(&CreateRestoreJobRequest {
            restore_type: "UDM_ECS_ROLLBACK".into(),
            source_type: "UDM_ECS".into(),
            snapshot_id: snap.snapshot_id.clone(),
            snapshot_hash: snap.snapshot_hash.clone(),
            udm_detail: Some(json!({"sourceInstanceId": "i-demo01"})),
            udm_region_id: Some("cn-hangzhou".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.restore_id.starts_with("r-"));

    let list = hbr
        .describe_restore_jobs2(&DescribeRestoreJobs2Request {
            restore_type: Some("UDM_ECS_ROLLBACK".into()),
            filters: vec![HbrFilter {
                key: "InstanceId".into(),
                operator: Some("IN".into()),
                values: vec!["i-demo01".into()],
            }],
            page_number: Some(1),
            page_size: Some(99),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.total_count, 1);
    let job = &list.restore_jobs[0];
    assert_eq!(job.restore_id, created.restore_id);
    assert_eq!(job.snapshot_id.as_deref(), Some(snap.snapshot_id.as_str()));
    assert_eq!(job.snapshot_hash, snap.snapshot_hash);
    assert_eq!(
        job.udm_detail
            .as_ref()
            .and_then(|d| d.get("sourceInstanceId")),
        Some(&json!("i-demo01"))
    );
    assert!(job.created_time.is_some());

    let ack = hbr
        .cancel_restore_job(&CancelRestoreJobRequest {
            restore_id: created.restore_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!ack.request_id.is_empty());
    emulator.shutdown().await;
}

#[tokio::test]
async fn hbr_restore_errors_are_classified() {
    let (emulator, cloud) = world(EmulatorConfig::default()).await;
    let hbr = cloud.hbr_restore(&target());
    // The targets travel in the form body: the emulator gets past them to the snapshot.
    let e = hbr
        .create_restore_job(&CreateRestoreJobRequest {
            restore_type: "ECS_FILE".into(),
            source_type: "ECS_FILE".into(),
            snapshot_id: "s-nope".into(),
            snapshot_hash: Some("h-nope".into()),
            vault_id: Some("v-nope".into()),
            target_instance_id: Some("i-demo01".into()),
            target_path: Some("/restore".into()),
            include: Some(r#"["/data"]"#.into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFound"));
    assert_eq!(e.class(), ErrorClass::NotFound);
    // Not repeated: no idempotency token.
    assert_eq!(emulator.calls().count("CreateRestoreJob"), 1);

    let e = hbr
        .cancel_restore_job(&CancelRestoreJobRequest {
            restore_id: "r-nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFound"));
    assert_eq!(e.class(), ErrorClass::NotFound);

    let e = hbr
        .describe_restore_jobs2(&DescribeRestoreJobs2Request {
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    emulator.shutdown().await;
}
