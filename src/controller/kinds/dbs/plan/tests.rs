use super::*;
use crate::crd::{
    CrossAccount, DbsBackupObject, DbsBilling, DbsInstanceClass, DbsLimits, DbsLogBackup,
    DbsPayType, DbsPeriod, DbsSchedule, DbsSourceEndpoint, DbsStorage, DbsStrategyType,
    DeletionPolicy, PendingCreate, Weekday,
};
use std::collections::HashSet;

pub(crate) fn spec() -> DbsBackupPlanSpec {
    DbsBackupPlanSpec {
        region: "cn-hangzhou".into(),
        credentials_ref: None,
        deletion_policy: Some(DeletionPolicy::Retain),
        plan_name: "orders-mysql".into(),
        database_type: DbsDatabaseType::MySQL,
        instance_class: DbsInstanceClass::Micro,
        backup_method: DbsBackupMethod::Logical,
        backup_plan_id: None,
        management_policy: crate::crd::ManagementPolicy::Manage,
        source: DbsSourceEndpoint {
            instance_type: DbsSourceInstanceType::Rds,
            region: None,
            instance_id: Some("rm-demo01".into()),
            ip: None,
            port: None,
            database_name: None,
            user_name: Some("backup".into()),
            password_secret_ref: Some(SecretKeyRef {
                name: "pw".into(),
                key: "password".into(),
            }),
            oracle_sid: None,
            backup_gateway_id: None,
            database_instance_type: None,
        },
        backup_objects: vec![DbsBackupObject {
            db_name: "orders".into(),
            ..Default::default()
        }],
        schedule: Some(DbsSchedule {
            strategy_type: DbsStrategyType::Simple,
            days: vec![Weekday::Thursday, Weekday::Monday],
            start_time: Some("18:30".into()),
        }),
        log_backup: Some(DbsLogBackup {
            enabled: true,
            interval_seconds: None,
        }),
        storage: Some(DbsStorage {
            type_: Some(DbsStorageType::System),
            retention_days: Some(30),
            ..Default::default()
        }),
        billing: Some(DbsBilling {
            pay_type: Some(DbsPayType::Prepay),
            period: Some(DbsPeriod::Month),
            used_time: Some(1),
        }),
        limits: None,
        cross_account: None,
        resource_group_id: None,
        suspend: false,
        rpo: None,
    }
}

pub(crate) fn observed(status: &str) -> BackupPlanDetail {
    BackupPlanDetail {
        backup_plan_id: "dbs-1".into(),
        backup_plan_name: Some("orders-mysql".into()),
        backup_plan_status: Some(status.into()),
        backup_period: Some("Monday,Thursday".into()),
        backup_start_time: Some("18:30".into()),
        backup_retention_period: Some(30),
        backup_objects: Some(r#"[{"DBName":"orders"}]"#.into()),
        enable_backup_log: Some(true),
        source_endpoint_instance_id: Some("rm-demo01".into()),
        source_endpoint_user_name: Some("backup".into()),
        ..Default::default()
    }
}

fn t0() -> Time {
    Time(jiff::Timestamp::from_second(1_700_000_000).unwrap())
}

/// The plan id of [`created_status`].
fn id() -> String {
    "dbs-1".into()
}

fn created_status() -> DbsBackupPlanStatus {
    DbsBackupPlanStatus {
        backup_plan_id: Some("dbs-1".into()),
        ..Default::default()
    }
}

#[test]
fn validate_renders_example() {
    let d = validate(&spec()).unwrap();
    assert_eq!(d.name, "orders-mysql");
    assert_eq!(d.database_type, "MySQL");
    assert_eq!(d.instance_class, "micro");
    assert_eq!(d.backup_method, "logical");
    assert_eq!(d.pay_type, Some("prepay"));
    assert_eq!(d.period, Some("Month"));
    assert_eq!(d.used_time, Some(1));
    assert_eq!(d.config.backup_period.as_deref(), Some("Monday,Thursday"));
    assert_eq!(
        d.config.backup_objects.as_deref(),
        Some(r#"[{"DBName":"orders"}]"#)
    );
    assert_eq!(d.config.backup_storage_type, Some("system"));
    assert_eq!(d.config.source_region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(d.storage_region, "cn-hangzhou");
}

#[test]
fn create_request_carries_token_password_and_json_objects() {
    let d = validate(&spec()).unwrap();
    let req = create_request(&d, Some(Secret::new("CANARY-pw")), "abo-uid-1");
    assert_eq!(req.client_token.as_deref(), Some("abo-uid-1"));
    assert_eq!(req.backup_plan_name, "orders-mysql");
    assert_eq!(req.database_type, "MySQL");
    assert_eq!(req.source.instance_type, "RDS");
    assert_eq!(req.source.instance_id.as_deref(), Some("rm-demo01"));
    assert_eq!(req.source.region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(
        req.source.password.as_ref().map(|p| p.expose()),
        Some("CANARY-pw")
    );
    assert_eq!(
        req.backup_objects,
        Some(BackupObjects::Raw(r#"[{"DBName":"orders"}]"#.into()))
    );
    assert_eq!(req.backup_strategy_type.as_deref(), Some("simple"));
    assert_eq!(req.backup_start_time.as_deref(), Some("18:30"));
    assert_eq!(req.backup_retention_period, Some(30));
    assert_eq!(req.enable_backup_log, Some(true));
    assert_eq!(req.region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(req.database_region, None, "only for postpay");
    // The password never shows in Debug output.
    assert!(!format!("{req:?}").contains("CANARY"));
}

#[test]
fn postpay_sends_database_region_and_instance_type() {
    let mut s = spec();
    s.backup_method = DbsBackupMethod::Duplication;
    s.billing = Some(DbsBilling {
        pay_type: Some(DbsPayType::Postpay),
        period: None,
        used_time: None,
    });
    s.source.database_instance_type = Some(crate::crd::DbsDatabaseInstanceType::Rds);
    s.source.region = Some("cn-shanghai".into());
    let d = validate(&s).unwrap();
    let req = create_request(&d, None, "t");
    assert_eq!(req.pay_type.as_deref(), Some("postpay"));
    assert_eq!(req.database_region.as_deref(), Some("cn-shanghai"));
    assert_eq!(req.instance_type.as_deref(), Some("RDS"));
}

#[test]
fn configure_request_mirrors_config() {
    let d = validate(&spec()).unwrap();
    let req = configure_request(&d, "dbs-1", Some(Secret::new("pw")));
    assert_eq!(req.backup_plan_id, "dbs-1");
    assert_eq!(req.backup_plan_name, "orders-mysql");
    assert_eq!(req.backup_period.as_deref(), Some("Monday,Thursday"));
    assert_eq!(req.backup_retention_period, Some(30));
    assert_eq!(req.source.user_name.as_deref(), Some("backup"));
    assert_eq!(req.auto_start_backup, None);
}

#[test]
fn invalid_specs_are_explained() {
    let mut s = spec();
    s.limits = Some(DbsLimits {
        disk_io_kbps: Some(100),
        network_kbps: None,
    });
    assert!(validate(&s).unwrap_err().0.contains("physical MySQL"));
    s.backup_method = DbsBackupMethod::Physical;
    assert!(validate(&s).is_ok());

    let mut s = spec();
    s.log_backup = Some(DbsLogBackup {
        enabled: true,
        interval_seconds: Some(600),
    });
    assert!(validate(&s).unwrap_err().0.contains("intervalSeconds"));

    let mut s = spec();
    s.storage.as_mut().unwrap().oss_bucket_name = Some("bucket".into());
    assert!(validate(&s).unwrap_err().0.contains("ossBucketName"));

    let mut s = spec();
    s.cross_account = Some(CrossAccount {
        type_: None,
        user_id: Some("123".into()),
        role_name: None,
    });
    assert!(validate(&s).unwrap_err().0.contains("roleName"));

    let mut s = spec();
    s.backup_objects.push(DbsBackupObject {
        db_name: "orders".into(),
        ..Default::default()
    });
    assert!(validate(&s).unwrap_err().0.contains("twice"));

    let mut s = spec();
    s.source.password_secret_ref = None;
    assert!(validate(&s).unwrap_err().0.contains("passwordSecretRef"));
    s.database_type = DbsDatabaseType::Redis;
    assert!(validate(&s).is_ok());

    let mut s = spec();
    s.storage = Some(DbsStorage {
        infrequent_access_after_days: Some(200),
        archive_after_days: Some(100),
        ..Default::default()
    });
    assert!(validate(&s).unwrap_err().0.contains("archiveAfterDays"));
}

#[test]
fn fingerprint_ignores_name_and_suspend_but_not_retention() {
    let base = validate(&spec()).unwrap().fingerprint();
    let mut s = spec();
    s.plan_name = "other".into();
    s.suspend = true;
    assert_eq!(validate(&s).unwrap().fingerprint(), base);
    s.storage.as_mut().unwrap().retention_days = Some(60);
    assert_ne!(validate(&s).unwrap().fingerprint(), base);
    assert_eq!(base.len(), 16);
}

fn input<'a>(
    d: &'a DesiredPlan,
    status: &'a DbsBackupPlanStatus,
    fp: Option<&'a str>,
    observed: Option<&'a BackupPlanDetail>,
) -> PlanInput<'a> {
    PlanInput {
        desired: d,
        status,
        applied_fingerprint: fp,
        applied_password: None,
        current_password: None,
        observed,
        last_reason: None,
        spec_changed: true,
    }
}

#[test]
fn create_path_records_intent_then_creates_with_its_token() {
    let d = validate(&spec()).unwrap();
    let st = DbsBackupPlanStatus::default();
    assert_eq!(plan(&input(&d, &st, None, None)), Step::RecordIntent);
    let st = DbsBackupPlanStatus {
        pending_create: Some(PendingCreate {
            token: "abo-u-1".into(),
            started_at: t0(),
        }),
        ..Default::default()
    };
    assert_eq!(
        plan(&input(&d, &st, None, None)),
        Step::Create {
            token: "abo-u-1".into()
        }
    );
}

#[test]
fn existing_plan_without_observation_only_observes() {
    let d = validate(&spec()).unwrap();
    let st = created_status();
    assert_eq!(
        plan(&input(&d, &st, None, None)),
        Step::Observe { plan_id: id() }
    );
}

#[test]
fn spec_change_configures_name_change_renames() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let o = observed("running");
    assert_eq!(
        plan(&input(&d, &st, Some("old"), Some(&o))),
        Step::Configure {
            plan_id: id(),
            drift: vec![]
        }
    );
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&o))),
        Step::Observe { plan_id: id() }
    );
    let mut renamed = o.clone();
    renamed.backup_plan_name = Some("old-name".into());
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&renamed))),
        Step::Rename {
            plan_id: id(),
            drift: None
        }
    );
    // No spec change pending: someone renamed the plan in the console.
    let mut i = input(&d, &st, Some(&fp), Some(&renamed));
    i.spec_changed = false;
    match plan(&i) {
        Step::Rename {
            drift: Some(diff), ..
        } => {
            assert_eq!(diff.field, "planName");
            assert_eq!(diff.desired, "orders-mysql");
            assert_eq!(diff.observed, "old-name");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn suspend_stops_and_resume_starts() {
    let mut s = spec();
    s.suspend = true;
    let d = validate(&s).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    for raw in ["running", "check_pass", "wait", "init"] {
        assert_eq!(
            plan(&input(&d, &st, Some(&fp), Some(&observed(raw)))),
            Step::Stop { plan_id: id() },
            "{raw}"
        );
    }
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&observed("pause")))),
        Step::Observe { plan_id: id() }
    );
    let (phase, h) = observed_health(&observed("pause"), true);
    assert_eq!(phase, DbsBackupPlanPhase::Paused);
    assert_eq!(
        h,
        Health::ready(reasons::PLAN_PAUSED, "plan dbs-1 is paused")
    );

    let d = validate(&spec()).unwrap();
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&observed("pause")))),
        Step::Start { plan_id: id() }
    );
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&observed("stop")))),
        Step::Start { plan_id: id() },
        "stopped without an error: resume"
    );
    let mut failed = observed("stop");
    failed.err_message = Some("precheck failed: access denied".into());
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&failed))),
        Step::Observe { plan_id: id() }
    );
}

#[test]
fn drift_is_detected_only_when_steady() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let mut o = observed("running");
    o.backup_retention_period = Some(7);
    o.backup_period = Some("Thursday, Monday".into());
    o.backup_start_time = Some("18:30Z".into());
    o.backup_objects = Some(r#"[ {"DBName": "orders"} ]"#.into());
    match plan(&input(&d, &st, Some(&fp), Some(&o))) {
        Step::Configure { drift, .. } => {
            assert_eq!(drift.len(), 1, "{drift:?}");
            assert_eq!(drift[0].field, "storage.retentionDays");
            assert_eq!(drift[0].desired, "30");
            assert_eq!(drift[0].observed, "7");
            assert!(describe_differences(&drift).contains("retentionDays"));
        }
        other => panic!("unexpected {other:?}"),
    }
    o.backup_plan_status = Some("init".into());
    assert_eq!(
        plan(&input(&d, &st, Some(&fp), Some(&o))),
        Step::Observe { plan_id: id() }
    );
}

#[test]
fn drift_ignores_fields_cloud_does_not_report() {
    let d = validate(&spec()).unwrap();
    let o = BackupPlanDetail {
        backup_plan_id: "dbs-1".into(),
        backup_plan_status: Some("running".into()),
        ..Default::default()
    };
    assert!(config_differences(&d, &o).is_empty());
    let mut o2 = observed("running");
    o2.backup_objects = Some(r#"[{"DBName":"crm"}]"#.into());
    o2.enable_backup_log = Some(false);
    o2.source_endpoint_instance_id = Some("rm-other".into());
    let fields: Vec<_> = config_differences(&d, &o2)
        .into_iter()
        .map(|x| x.field)
        .collect();
    assert_eq!(
        fields,
        vec!["backupObjects", "logBackup.enabled", "source.instanceId"]
    );
}

#[test]
fn cloud_status_maps_to_phase_and_health() {
    let cases = [
        ("running", false, DbsBackupPlanPhase::Running, "Ready"),
        ("init", false, DbsBackupPlanPhase::Starting, "Reconciling"),
        (
            "check_pass",
            false,
            DbsBackupPlanPhase::Starting,
            "Reconciling",
        ),
        ("wait", false, DbsBackupPlanPhase::Starting, "Reconciling"),
        ("locked", false, DbsBackupPlanPhase::Failed, "Stalled"),
        ("stop", false, DbsBackupPlanPhase::Failed, "Stalled"),
        ("pause", true, DbsBackupPlanPhase::Paused, "Ready"),
        ("stop", true, DbsBackupPlanPhase::Paused, "Ready"),
        ("pause", false, DbsBackupPlanPhase::Paused, "Reconciling"),
        ("running", true, DbsBackupPlanPhase::Running, "Reconciling"),
        ("weird", false, DbsBackupPlanPhase::Starting, "Reconciling"),
    ];
    for (raw, suspend, phase, cond) in cases {
        let (p, h) = observed_health(&observed(raw), suspend);
        assert_eq!((p, h.condition_type()), (phase, cond), "{raw} {suspend}");
    }
    let mut o = observed("init");
    o.err_message = Some("Precheck failed: cannot connect to rm-demo01".into());
    let (p, h) = observed_health(&o, false);
    assert_eq!(p, DbsBackupPlanPhase::Failed);
    assert_eq!(h.reason(), reasons::PLAN_STOPPED);
    assert!(h.message().contains("cannot connect to rm-demo01"));
}

#[test]
fn last_successful_backup_is_the_newest_finished_set() {
    let set = |id: &str, status: &str, end: Option<i64>, finish: Option<i64>| FullBackupFile {
        backup_set_id: id.into(),
        backup_status: Some(status.into()),
        end_time: end,
        finish_time: finish,
        ..Default::default()
    };
    let items = vec![
        set("a", "finish", Some(1_700_000_100_000), None),
        set("b", "FINISH", None, Some(1_700_000_200_000)),
        set("c", "failed", Some(1_700_000_900_000), None),
        set("d", "running", None, None),
    ];
    let t = last_successful_backup(&items).unwrap();
    assert_eq!(t.0.as_millisecond(), 1_700_000_200_000);
    assert_eq!(last_successful_backup(&items[2..]), None);
    assert_eq!(last_successful_backup(&[]), None);
}

#[test]
fn latest_full_backup_picks_newest() {
    let items = vec![
        FullBackupFile {
            backup_set_id: "a".into(),
            backup_status: Some("finish".into()),
            start_time: Some(1_700_000_000_000),
            end_time: Some(1_700_000_100_000),
            backup_size: Some(10),
            ..Default::default()
        },
        FullBackupFile {
            backup_set_id: "b".into(),
            backup_status: Some("running".into()),
            start_time: Some(1_700_000_500_000),
            backup_size: Some(5),
            ..Default::default()
        },
    ];
    let l = latest_full_backup(&items).unwrap();
    assert_eq!(l.id.as_deref(), Some("b"));
    assert_eq!(l.status.as_deref(), Some("running"));
    assert_eq!(l.size_bytes, Some(5));
    assert_eq!(l.end_time, None);
    assert_eq!(
        l.start_time,
        Some(Time(jiff::Timestamp::from_second(1_700_000_500).unwrap()))
    );
    assert_eq!(latest_full_backup(&[]), None);
}

#[test]
fn password_is_read_from_secret_and_problems_name_the_key() {
    use k8s_openapi::ByteString;
    let r = SecretKeyRef {
        name: "pw".into(),
        key: "password".into(),
    };
    let e = password_from_secret("ns", &r, None).unwrap_err();
    assert_eq!(e.reason(), reasons::PASSWORD_SECRET_NOT_FOUND);
    assert!(e.to_string().contains("ns/pw"));
    assert!(e.to_string().contains("\"password\""));
    let mut s = k8s_openapi::api::core::v1::Secret {
        data: Some(
            [("password".to_string(), ByteString(b"CANARY-pw\n".to_vec()))]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    assert_eq!(
        password_from_secret("ns", &r, Some(&s)).unwrap().expose(),
        "CANARY-pw"
    );
    s.data = Some(
        [("other".to_string(), ByteString(b"CANARY-pw".to_vec()))]
            .into_iter()
            .collect(),
    );
    let e = password_from_secret("ns", &r, Some(&s)).unwrap_err();
    assert_eq!(e.reason(), reasons::PASSWORD_SECRET_INVALID);
    assert!(e.to_string().contains("\"password\""));
    assert!(!e.to_string().contains("CANARY"));
}

#[test]
fn own_plan_is_found_only_when_unambiguous() {
    let d = validate(&spec()).unwrap();
    let started = t0();
    let ms = started.0.as_millisecond();
    let mut mine = observed("init");
    mine.database_type = Some("MySQL".into());
    mine.backup_plan_create_time = Some(ms + 500);
    let mut old = mine.clone();
    old.backup_plan_id = "dbs-old".into();
    old.backup_plan_create_time = Some(ms - CLOCK_SLACK_MS - 1);
    let mut other_source = mine.clone();
    other_source.backup_plan_id = "dbs-other".into();
    other_source.source_endpoint_instance_id = Some("rm-x".into());
    let mut prefix_name = mine.clone();
    prefix_name.backup_plan_id = "dbs-prefix".into();
    prefix_name.backup_plan_name = Some("orders-mysql-2".into());
    let plans = vec![old, other_source, prefix_name, mine.clone()];
    assert_eq!(
        find_own_plan(&d, &started, &plans, &HashSet::new()).map(|p| p.backup_plan_id.as_str()),
        Some("dbs-1")
    );
    let mut twin = mine.clone();
    twin.backup_plan_id = "dbs-twin".into();
    assert!(find_own_plan(&d, &started, &[mine.clone(), twin.clone()], &HashSet::new()).is_none());
    assert!(find_own_plan(&d, &started, &[], &HashSet::new()).is_none());
    // A plan of the same name that another object holds is never ours: with the twin claimed,
    // ours is found; with ours claimed (the create never ran), nothing is.
    let twin_claimed: HashSet<String> = ["dbs-twin".to_string()].into();
    assert_eq!(
        find_own_plan(&d, &started, &[mine.clone(), twin.clone()], &twin_claimed)
            .map(|p| p.backup_plan_id.as_str()),
        Some("dbs-1")
    );
    let mine_claimed: HashSet<String> = ["dbs-1".to_string()].into();
    assert!(find_own_plan(&d, &started, &[mine], &mine_claimed).is_none());
}

#[test]
fn a_refused_create_waits_for_a_spec_change() {
    let d = validate(&spec()).unwrap();
    let st = DbsBackupPlanStatus {
        phase: Some(DbsBackupPlanPhase::Failed),
        ..DbsBackupPlanStatus::default()
    };
    let input = |spec_changed| PlanInput {
        desired: &d,
        status: &st,
        applied_fingerprint: None,
        observed: None,
        last_reason: Some(crate::controller::reconcile::work::reasons::CREATE_REFUSED),
        spec_changed,
        applied_password: None,
        current_password: None,
    };
    assert_eq!(plan(&input(false)), Step::AwaitSpecChange);
    assert_eq!(plan(&input(true)), Step::RecordIntent);
}

#[test]
fn failed_precheck_is_restarted_only_after_a_reconfigure() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let mut failed = observed("stop");
    failed.err_message = Some("Precheck failed".into());
    let mut i = input(&d, &st, Some(&fp), Some(&failed));
    i.last_reason = Some(reasons::PLAN_STOPPED);
    assert_eq!(plan(&i), Step::Observe { plan_id: id() });
    i.last_reason = Some(reasons::CONFIGURING);
    assert_eq!(plan(&i), Step::Start { plan_id: id() });
    // A spec change on a failed plan is pushed first.
    i.applied_fingerprint = Some("old");
    assert_eq!(
        plan(&i),
        Step::Configure {
            plan_id: id(),
            drift: vec![]
        }
    );
}

#[test]
fn a_changed_password_secret_is_pushed_once_in_states_that_take_a_configuration() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let o = observed("running");
    let mut i = input(&d, &st, Some(&fp), Some(&o));
    i.spec_changed = false;
    // Unchanged Secret: nothing to do.
    i.applied_password = Some("uid-1/10");
    i.current_password = Some("uid-1/10");
    assert_eq!(plan(&i), Step::Observe { plan_id: id() });
    // Written (new resourceVersion), recreated (new uid) or deleted: push.
    for now in [Some("uid-1/11"), Some("uid-2/12"), None] {
        i.current_password = now;
        assert_eq!(plan(&i), Step::RotatePassword { plan_id: id() }, "{now:?}");
    }
    i.current_password = Some("uid-1/11");
    for (status, want) in [
        ("running", Step::RotatePassword { plan_id: id() }),
        ("pause", Step::RotatePassword { plan_id: id() }),
        ("stop", Step::RotatePassword { plan_id: id() }),
        // Starting or locked: later, once the plan takes a configuration.
        ("init", Step::Observe { plan_id: id() }),
        ("check_pass", Step::Observe { plan_id: id() }),
        ("wait", Step::Observe { plan_id: id() }),
        ("locked", Step::Observe { plan_id: id() }),
    ] {
        let o = observed(status);
        let mut j = i;
        j.observed = Some(&o);
        assert_eq!(plan(&j), want, "{status}");
    }
    // A spec change pushes everything (the password included) first.
    let o = observed("running");
    i.observed = Some(&o);
    i.applied_fingerprint = Some("old");
    assert_eq!(
        plan(&i),
        Step::Configure {
            plan_id: id(),
            drift: vec![]
        }
    );
    // No password in the spec (Redis): the Secret version does not matter.
    let mut redis = spec();
    redis.database_type = DbsDatabaseType::Redis;
    redis.source.password_secret_ref = None;
    let d = validate(&redis).unwrap();
    let fp = d.fingerprint();
    let mut i = input(&d, &st, Some(&fp), Some(&o));
    i.applied_password = Some("uid-1/10");
    i.current_password = None;
    assert_eq!(plan(&i), Step::Observe { plan_id: id() });
}

#[test]
fn a_configuration_pushed_without_a_secret_version_records_it_without_a_call() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let o = observed("running");
    let mut i = input(&d, &st, Some(&fp), Some(&o));
    i.current_password = Some("uid-1/10");
    assert_eq!(plan(&i), Step::RecordPasswordVersion);
    // Secret missing as well: nothing to record, nothing to push.
    i.current_password = None;
    assert_eq!(plan(&i), Step::Observe { plan_id: id() });
}

#[test]
fn a_failed_precheck_is_restarted_after_a_new_password() {
    let d = validate(&spec()).unwrap();
    let fp = d.fingerprint();
    let st = created_status();
    let mut failed = observed("stop");
    failed.err_message = Some("Precheck failed: access denied for user 'backup'".into());
    let mut i = input(&d, &st, Some(&fp), Some(&failed));
    i.applied_password = Some("uid-1/10");
    i.current_password = Some("uid-1/11");
    i.last_reason = Some(reasons::PLAN_STOPPED);
    assert_eq!(plan(&i), Step::RotatePassword { plan_id: id() });
    i.applied_password = Some("uid-1/11");
    i.last_reason = Some(reasons::PASSWORD_ROTATED);
    assert_eq!(plan(&i), Step::Start { plan_id: id() });
}

#[test]
fn secret_version_is_uid_and_resource_version_only() {
    use k8s_openapi::ByteString;
    let s = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            uid: Some("u-1".into()),
            resource_version: Some("42".into()),
            ..Default::default()
        },
        data: Some(
            [("password".to_string(), ByteString(b"CANARY-pw".to_vec()))]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    assert_eq!(secret_version(&s), "u-1/42");
}

#[test]
fn full_backup_progress() {
    let set = |s: &str| DbsFullBackupSet {
        status: Some(s.into()),
        ..Default::default()
    };
    assert!(full_backup_in_progress(&set("running")));
    assert!(full_backup_in_progress(&set("schedule")));
    assert!(!full_backup_in_progress(&set("finish")));
    assert!(!full_backup_in_progress(&set("failed")));
    assert!(!full_backup_in_progress(&set("stop")));
    assert!(!full_backup_in_progress(&DbsFullBackupSet::default()));
}

#[test]
fn cleanup_plan_follows_policy_then_what_the_status_holds() {
    let del = DeletionPolicy::Delete;
    let with_plan = DbsBackupPlanStatus {
        backup_plan_id: Some("dbs1".into()),
        ..DbsBackupPlanStatus::default()
    };
    assert_eq!(
        plan_cleanup(true, del, &with_plan),
        CleanupStep::LetGo(NOTE_ORPHAN)
    );
    assert_eq!(
        plan_cleanup(false, DeletionPolicy::Retain, &with_plan),
        CleanupStep::LetGo(NOTE_RETAIN)
    );
    assert_eq!(
        plan_cleanup(false, del, &with_plan),
        CleanupStep::Release {
            plan_id: "dbs1".into()
        }
    );
    assert_eq!(
        plan_cleanup(false, del, &DbsBackupPlanStatus::default()),
        CleanupStep::Finished
    );
    let intent = DbsBackupPlanStatus {
        pending_create: Some(PendingCreate {
            token: "t".into(),
            started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-30T10:00:00Z".parse().unwrap(),
            ),
        }),
        ..DbsBackupPlanStatus::default()
    };
    assert_eq!(plan_cleanup(false, del, &intent), CleanupStep::FindPlan);
}

#[test]
fn rpo_is_validated_and_judged_from_the_newest_successful_full_backup() {
    let mut s = spec();
    s.rpo = Some("26h".into());
    let desired = validate(&s).unwrap();
    let created = t0().0;
    let now = created + jiff::SignedDuration::from_hours(30);
    let mut status = created_status();
    // No success yet, 30 h after creation: missed.
    let v = rpo_verdict(&desired, &status, created, now).unwrap();
    assert!(!v.met);
    assert_eq!(
        v.reason,
        crate::controller::reconcile::rpo::reasons::NO_SUCCESSFUL_BACKUP
    );
    // A success 2 h ago: met, flips 24 h later.
    status.last_successful_backup_time = Some(Time(now - jiff::SignedDuration::from_hours(2)));
    let v = rpo_verdict(&desired, &status, created, now).unwrap();
    assert!(v.met);
    assert_eq!(
        v.flips_in,
        Some(std::time::Duration::from_secs(24 * 3600 + 1))
    );
    // No objective: no verdict.
    assert!(rpo_verdict(&validate(&spec()).unwrap(), &status, created, now).is_none());
    // The controller refuses what the schema pattern would refuse too.
    s.rpo = Some("26 hours".into());
    assert!(validate(&s).unwrap_err().0.contains("spec.rpo"));
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

fn adopting(policy: crate::crd::ManagementPolicy) -> DbsBackupPlanSpec {
    let mut s = spec();
    s.backup_plan_id = Some("dbs-1".into());
    s.management_policy = policy;
    s
}

#[test]
fn a_named_plan_is_adopted_before_anything_is_recorded() {
    use crate::crd::ManagementPolicy::{Manage, ObserveOnly};
    let d = validate(&adopting(Manage)).unwrap();
    let st = DbsBackupPlanStatus::default();
    assert_eq!(
        plan(&input(&d, &st, None, None)),
        Step::AdoptExisting {
            plan_id: "dbs-1".into()
        }
    );
    // Recorded under Manage: the spec is pushed (no applied configuration yet).
    let recorded = DbsBackupPlanStatus {
        backup_plan_id: Some("dbs-1".into()),
        ..Default::default()
    };
    let running = observed("running");
    assert!(matches!(
        plan(&input(&d, &recorded, None, Some(&running))),
        Step::Configure { .. }
    ));
    // Under ObserveOnly nothing is ever pushed, whatever differs.
    let mut o = adopting(ObserveOnly);
    o.source.password_secret_ref = None;
    o.suspend = true;
    let d = validate(&o).unwrap();
    assert!(d.observe_only, "no password needed to observe");
    let mut renamed = observed("running");
    renamed.backup_plan_name = Some("console-name".into());
    assert_eq!(
        plan(&input(&d, &recorded, None, Some(&renamed))),
        Step::Observe {
            plan_id: "dbs-1".into()
        }
    );
    // ObserveOnly without a plan is refused; a plan is never bought for it.
    let mut bare = spec();
    bare.management_policy = ObserveOnly;
    assert!(validate_adoption(&bare).is_err());
    assert_eq!(
        validate_adoption(&adopting(Manage)),
        Ok(Some("dbs-1".into()))
    );
}

#[test]
fn only_a_managed_unconfigured_plan_is_configured_on_adoption() {
    use crate::crd::ManagementPolicy::{Manage, ObserveOnly};
    let manage = validate(&adopting(Manage)).unwrap();
    let observe = validate(&adopting(ObserveOnly)).unwrap();
    assert!(adopt_configures(&manage, &observed("wait")));
    assert!(!adopt_configures(&manage, &observed("running")));
    assert!(!adopt_configures(&observe, &observed("wait")));
    // ObserveOnly judges a paused plan as wanted, Manage by the spec's suspend.
    assert!(judged_suspend(&observe, &observed("pause")));
    assert!(!judged_suspend(&observe, &observed("running")));
    assert!(!judged_suspend(&manage, &observed("pause")));
    let (_, h) = observed_health(
        &observed("pause"),
        judged_suspend(&observe, &observed("pause")),
    );
    assert_eq!(h.reason(), reasons::PLAN_PAUSED);
}

#[test]
fn adoption_claims_and_the_adopted_condition() {
    use crate::crd::ManagementPolicy::{Manage, ObserveOnly};
    let mk = |name: &str, uid: &str, spec: DbsBackupPlanSpec, held: Option<&str>| {
        let mut o = crate::crd::DbsBackupPlan::new(name, spec);
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(uid.into());
        o.status = held.map(|h| DbsBackupPlanStatus {
            backup_plan_id: Some(h.into()),
            ..Default::default()
        });
        o
    };
    let all = vec![
        mk("me", "u-me", adopting(Manage), None),
        mk("holder", "u-2", spec(), Some("dbs-7")),
        mk("namer", "u-3", adopting(ObserveOnly), None),
    ];
    assert_eq!(
        adoption_holder("u-me", "dbs-7", &all)
            .map(|c| c.object)
            .as_deref(),
        Some("ns/holder")
    );
    assert_eq!(
        adoption_holder("u-me", "dbs-1", &all)
            .map(|c| c.object)
            .as_deref(),
        Some("ns/namer")
    );
    assert_eq!(adoption_holder("u-me", "dbs-9", &all), None);
    let recorded = DbsBackupPlanStatus {
        backup_plan_id: Some("dbs-1".into()),
        ..Default::default()
    };
    let m = adopted_message(&adopting(Manage), &recorded).unwrap();
    assert!(m.contains("plan dbs-1") && m.contains("Manage"), "{m}");
    assert_eq!(adopted_message(&spec(), &recorded), None);
    assert_eq!(
        plan_cleanup_managed(false, DeletionPolicy::Delete, ObserveOnly, &recorded),
        CleanupStep::LetGo(NOTE_OBSERVE_ONLY)
    );
    assert_eq!(
        plan_cleanup_managed(false, DeletionPolicy::Delete, Manage, &recorded),
        CleanupStep::Release {
            plan_id: "dbs-1".into()
        }
    );
}
