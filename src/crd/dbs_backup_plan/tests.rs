//! Tests of the request parameters rendered from a `DbsBackupPlan` spec.

use super::*;
use crate::crd::common::SecretKeyRef;

fn spec() -> DbsBackupPlanSpec {
    DbsBackupPlanSpec {
        region: "cn-hangzhou".into(),
        credentials_ref: None,
        deletion_policy: Some(DeletionPolicy::Retain),
        plan_name: "orders".into(),
        database_type: DbsDatabaseType::MySQL,
        instance_class: DbsInstanceClass::Micro,
        backup_method: DbsBackupMethod::Logical,
        backup_plan_id: None,
        management_policy: ManagementPolicy::Manage,
        source: DbsSourceEndpoint {
            instance_type: DbsSourceInstanceType::Rds,
            region: None,
            instance_id: Some("rm-demo01".into()),
            ip: None,
            port: None,
            database_name: None,
            user_name: Some("backup".into()),
            password_secret_ref: Some(SecretKeyRef {
                name: "db".into(),
                key: "password".into(),
            }),
            oracle_sid: None,
            backup_gateway_id: None,
            database_instance_type: None,
        },
        backup_objects: vec![],
        schedule: None,
        log_backup: None,
        storage: None,
        billing: None,
        limits: None,
        cross_account: None,
        resource_group_id: None,
        suspend: false,
        rpo: None,
    }
}

#[test]
fn backup_objects_render_to_api_json() {
    let mut s = spec();
    assert_eq!(s.backup_objects_param().unwrap(), None);
    s.backup_objects = vec![
        DbsBackupObject {
            db_name: "shop".into(),
            schema_name: None,
            table_includes: vec!["orders".into(), "items".into()],
            table_excludes: vec![],
        },
        DbsBackupObject {
            db_name: "crm".into(),
            schema_name: Some("public".into()),
            table_includes: vec![],
            table_excludes: vec!["tmp".into()],
        },
    ];
    let v: serde_json::Value =
        serde_json::from_str(&s.backup_objects_param().unwrap().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"DBName": "shop", "TableIncludes": [{"TableName": "orders"}, {"TableName": "items"}]},
            {"DBName": "crm", "SchemaName": "public", "TableExcludes": [{"TableName": "tmp"}]}
        ])
    );
}

#[test]
fn backup_period_is_sorted_and_deduplicated() {
    let mut s = spec();
    assert_eq!(s.backup_period_param(), None);
    s.schedule = Some(DbsSchedule {
        strategy_type: DbsStrategyType::Simple,
        days: vec![Weekday::Sunday, Weekday::Monday, Weekday::Sunday],
        start_time: Some("02:30".into()),
    });
    assert_eq!(s.backup_period_param().unwrap(), "Monday,Sunday");
}

#[test]
fn regions_default_to_spec_region() {
    let mut s = spec();
    assert_eq!(s.source_region(), "cn-hangzhou");
    assert_eq!(s.storage_region(), "cn-hangzhou");
    s.source.region = Some("cn-shanghai".into());
    s.storage = Some(DbsStorage {
        storage_region: Some("cn-beijing".into()),
        ..Default::default()
    });
    assert_eq!(s.source_region(), "cn-shanghai");
    assert_eq!(s.storage_region(), "cn-beijing");
}
