//! DBS restore operations against the emulator over loopback HTTP: a plan's finished full
//! backup set restored into another RDS instance, and the documented errors classified.

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
            access_key_id: "dbs-restore-key".into(),
            access_key_secret: Secret::new("dbs-restore-secret"),
            security_token: None,
        }),
    }
}

async fn world() -> (EmulatorHandle, AlibabaCloud) {
    let emulator = Emulator::start(
        EmulatorConfig::default()
            .with_credential("dbs-restore-key", "dbs-restore-secret")
            .with_rds_instance("rm-dest01")
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

/// A running plan on `rm-demo01` with one finished full backup set: (plan id, set id).
async fn plan_with_a_set(emulator: &EmulatorHandle, cloud: &AlibabaCloud) -> (String, String) {
    let dbs = cloud.dbs(&target());
    let plan = dbs
        .create_and_start_backup_plan(&CreateAndStartBackupPlanRequest {
            region: Some("cn-hangzhou".into()),
            instance_class: "micro".into(),
            database_type: "MySQL".into(),
            backup_method: "logical".into(),
            period: Some("Month".into()),
            used_time: Some(1),
            source: SourceEndpoint {
                instance_type: "RDS".into(),
                region: Some("cn-hangzhou".into()),
                instance_id: Some("rm-demo01".into()),
                user_name: Some("backup".into()),
                password: Some(Secret::new("source-pw")),
                ..Default::default()
            },
            backup_objects: Some(BackupObjects::Raw(r#"[{"DBName":"db1"}]"#.into())),
            backup_plan_name: "restore-source".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    emulator.advance_time(Duration::from_secs(120));
    let sets = dbs
        .describe_full_backup_list(&DescribeFullBackupListRequest {
            backup_plan_id: plan.backup_plan_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let set = sets
        .items
        .iter()
        .find(|s| s.backup_status.as_deref() == Some("finish"))
        .expect("a finished full backup set");
    (plan.backup_plan_id, set.backup_set_id.clone())
}

fn create_request(plan: &str, set: &str) -> CreateRestoreTaskRequest {
    CreateRestoreTaskRequest {
        backup_plan_id: plan.into(),
        restore_task_name: "restore-u1".into(),
        destination_endpoint_instance_type: "RDS".into(),
        destination_endpoint_region: Some("cn-hangzhou".into()),
        destination_endpoint_instance_id: Some("rm-dest01".into()),
        destination_endpoint_user_name: Some("admin".into()),
        destination_endpoint_password: Some(Secret::new("dest-pw-canary")),
        restore_objects: Some(json!([{"DBName": "db1", "NewDBName": "db1_restored"}]).to_string()),
        backup_set_id: Some(set.into()),
        client_token: Some("tok-create-u1".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn dbs_restore_range_lists_the_plans_sets() {
    let (emulator, cloud) = world().await;
    let (plan, set) = plan_with_a_set(&emulator, &cloud).await;
    let dbs = cloud.dbs_restore(&target());
    let range = dbs
        .describe_restore_range_info(&DescribeRestoreRangeInfoRequest {
            backup_plan_id: plan.clone(),
            begin_timestamp_for_restore: 0,
            end_timestamp_for_restore: emulator.now_ms() + 60_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(range.items.len(), 1);
    let r = &range.items[0];
    assert!(r.begin_timestamp_for_restore.is_some() && r.end_timestamp_for_restore.is_some());
    assert_eq!(r.source_endpoint_instance_id.as_deref(), Some("rm-demo01"));
    assert!(r.full_backups.iter().any(|b| b.backup_set_id == set));
    emulator.shutdown().await;
}

#[tokio::test]
async fn dbs_restore_task_create_start_list_and_error_code() {
    let (emulator, cloud) = world().await;
    let (plan, set) = plan_with_a_set(&emulator, &cloud).await;
    let dbs = cloud.dbs_restore(&target());

    let created = dbs
        .create_restore_task(&create_request(&plan, &set))
        .await
        .unwrap();
    assert!(!created.restore_task_id.is_empty());

    let by_plan = dbs
        .describe_restore_task_list(&DescribeRestoreTaskListRequest {
            backup_plan_id: Some(plan.clone()),
            page_num: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    let task = by_plan
        .items
        .iter()
        .find(|t| t.restore_task_name.as_deref() == Some("restore-u1"))
        .expect("the task, by its name");
    assert_eq!(task.restore_task_id, created.restore_task_id);
    assert_eq!(task.restore_status.as_deref(), Some("init"));
    assert_eq!(task.backup_set_id.as_deref(), Some(set.as_str()));
    let dest = task.destination_endpoint.as_ref().expect("destination");
    assert_eq!(dest.instance_id.as_deref(), Some("rm-dest01"));
    assert_eq!(by_plan.total_elements, Some(1));

    let started = dbs
        .start_restore_task(&StartRestoreTaskRequest {
            restore_task_id: created.restore_task_id.clone(),
            client_token: Some("tok-start-u1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!started.request_id.is_empty());
    emulator.advance_time(Duration::from_secs(60));

    let by_id = dbs
        .describe_restore_task_list(&DescribeRestoreTaskListRequest {
            restore_task_id: Some(created.restore_task_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 1);
    assert_eq!(by_id.items[0].restore_status.as_deref(), Some("finish"));
    assert!(by_id.items[0].restore_task_finish_time.is_some());

    let code = dbs
        .describe_job_error_code(&DescribeJobErrorCodeRequest {
            task_id: created.restore_task_id.clone(),
            language: Some("en".into()),
        })
        .await
        .unwrap();
    let item = code.item.expect("Item");
    assert_eq!(item.job_type.as_deref(), Some("RESTORE"));
    assert_eq!(
        item.job_id.as_deref(),
        Some(created.restore_task_id.as_str())
    );
    assert_eq!(item.error_code, None);

    emulator.shutdown().await;
}

#[tokio::test]
async fn dbs_restore_errors_are_classified() {
    let (emulator, cloud) = world().await;
    let dbs = cloud.dbs_restore(&target());

    // An unknown plan / task is `InvalidJobId`: NotFound, as for plans.
    let e = dbs
        .create_restore_task(&create_request("dbsnope", "set-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidJobId"));
    assert_eq!(e.class(), ErrorClass::NotFound);
    let e = dbs
        .start_restore_task(&StartRestoreTaskRequest {
            restore_task_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidJobId"));
    assert_eq!(e.class(), ErrorClass::NotFound);
    let e = dbs
        .describe_job_error_code(&DescribeJobErrorCodeRequest {
            task_id: "nope".into(),
            language: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);

    // A missing destination parameter is a bad request, not a missing resource.
    let (plan, set) = plan_with_a_set(&emulator, &cloud).await;
    let e = dbs
        .create_restore_task(&CreateRestoreTaskRequest {
            destination_endpoint_instance_id: None,
            ..create_request(&plan, &set)
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("Param.NotFound"));
    assert_eq!(e.class(), ErrorClass::Terminal);

    let calls = emulator.call_count();
    let e = dbs
        .describe_restore_task_list(&DescribeRestoreTaskListRequest {
            backup_plan_id: Some(plan),
            restore_task_id: Some("t1".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(emulator.call_count(), calls);
    emulator.shutdown().await;
}
