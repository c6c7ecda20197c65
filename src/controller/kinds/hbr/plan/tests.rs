use super::*;
use crate::cloud::api::hbr::{HistoricalSnapshot, UdmSnapshot};
use crate::controller::reconcile::times;
use crate::crd::CrossAccountType;
use crate::crd::{
    CrossAccount, DeletionPolicy, HbrBackupType, HbrContainerResource, HbrDetail, HbrOptions,
    HbrSpeedLimit, PendingCreate,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub(crate) const UID: &str = "0f6f0a7e-4a2b-4c4e-9d1c-1c2b3d4e5f60";

pub(crate) fn udm() -> HbrBackupJobSpec {
    HbrBackupJobSpec {
        region: "cn-hangzhou".into(),
        credentials_ref: None,
        deletion_policy: Some(DeletionPolicy::Delete),
        timeout: None,
        source_type: HbrSourceType::UdmEcs,
        retention: 7,
        instance_id: Some("i-demo01".into()),
        backup_type: None,
        vault_id: None,
        job_name: Some("web-server-full".into()),
        detail: Some(HbrDetail {
            do_copy: Some(false),
            snapshot_group: Some(true),
            app_consistent: Some(false),
            ..Default::default()
        }),
        include: vec![],
        exclude: vec![],
        speed_limits: vec![],
        options: None,
        cluster_id: None,
        container_cluster_id: None,
        container_resources: vec![],
        initiated_by_ack: None,
        cross_account: None,
        job_id: None,
        management_policy: crate::crd::ManagementPolicy::Manage,
    }
}

fn ecs_file() -> HbrBackupJobSpec {
    HbrBackupJobSpec {
        source_type: HbrSourceType::EcsFile,
        backup_type: Some(HbrBackupType::Incremental),
        vault_id: Some("v-1".into()),
        job_name: None,
        detail: None,
        include: vec!["/home/alice/*.pdf".into()],
        exclude: vec!["/var".into(), "/proc".into()],
        speed_limits: vec![
            HbrSpeedLimit {
                start_hour: 0,
                end_hour: 8,
                bandwidth_kbps: 10240,
            },
            HbrSpeedLimit {
                start_hour: 8,
                end_hour: 24,
                bandwidth_kbps: 1024,
            },
        ],
        options: Some(HbrOptions {
            use_vss: Some(false),
        }),
        ..udm()
    }
}

fn container() -> HbrBackupJobSpec {
    HbrBackupJobSpec {
        source_type: HbrSourceType::Container,
        instance_id: None,
        detail: None,
        vault_id: Some("v-1".into()),
        cluster_id: Some("c-ack".into()),
        container_cluster_id: Some("cc-1".into()),
        container_resources: vec![HbrContainerResource {
            resource_type: "PV".into(),
            backup_method: "FILE".into(),
            resource_id: "674dac6d".into(),
            pv_path: Some("/".into()),
            ..Default::default()
        }],
        initiated_by_ack: Some(true),
        ..udm()
    }
}

pub(crate) fn job(status: &str) -> CloudJob {
    CloudJob {
        job_id: "job-1".into(),
        job_name: Some(format!("web-server-full-{UID}")),
        status: Some(status.into()),
        progress: Some(4250),
        bytes_done: Some(425),
        bytes_total: Some(1000),
        created_time: Some(1_700_000_000),
        start_time: Some(1_700_000_010),
        complete_time: Some(1_700_000_900),
        ..Default::default()
    }
}

#[test]
fn job_name_carries_uid() {
    assert_eq!(
        job_name(&udm(), "obj", UID),
        format!("web-server-full-{UID}")
    );
    let mut s = udm();
    s.job_name = None;
    assert_eq!(job_name(&s, "obj", UID), format!("obj-{UID}"));
    s.job_name = Some("a-very-long-prefix-that-does-not-fit-the-limit-at-all-really".into());
    let n = job_name(&s, "obj", UID);
    assert_eq!(n.chars().count(), MAX_JOB_NAME);
    assert!(n.ends_with(UID));
    assert!(n.starts_with("a-very-long-prefix-that"));
}

#[test]
fn udm_ecs_request() {
    let r = validate(&udm(), "obj", UID).unwrap();
    assert_eq!(r.source_type, "UDM_ECS");
    assert_eq!(r.instance_id.as_deref(), Some("i-demo01"));
    assert_eq!(r.backup_type.as_deref(), Some("COMPLETE"));
    assert_eq!(r.retention, 7);
    assert_eq!(
        r.detail,
        Some(serde_json::json!({"doCopy": false, "snapshotGroup": true, "appConsistent": false}))
    );
    assert_eq!(
        r.job_name.as_deref(),
        Some(format!("web-server-full-{UID}").as_str())
    );
    assert_eq!(r.include, None);
    assert_eq!(r.speed_limit, None);
    assert_eq!(r.options, None);
    assert_eq!(r.cross_account_type, None);
}

#[test]
fn ecs_file_request_has_lists_speed_limits_and_options() {
    let r = validate(&ecs_file(), "obj", UID).unwrap();
    assert_eq!(r.source_type, "ECS_FILE");
    assert_eq!(r.backup_type.as_deref(), Some("INCREMENTAL"));
    assert_eq!(r.vault_id.as_deref(), Some("v-1"));
    assert_eq!(r.include, Some(vec!["/home/alice/*.pdf".to_string()]));
    assert_eq!(
        r.exclude,
        Some(vec!["/var".to_string(), "/proc".to_string()])
    );
    assert_eq!(r.speed_limit.as_deref(), Some("0:8:10240|8:24:1024"));
    assert_eq!(r.options, Some(serde_json::json!({"UseVSS": false})));
    assert_eq!(r.detail, None);
}

#[test]
fn container_request_has_cluster_and_resources() {
    let r = validate(&container(), "obj", UID).unwrap();
    assert_eq!(r.source_type, "CONTAINER");
    assert_eq!(r.container_cluster_id.as_deref(), Some("cc-1"));
    assert_eq!(r.cluster_id.as_deref(), Some("c-ack"));
    assert_eq!(r.initiated_by_ack, Some(true));
    let res = r.container_resources.unwrap();
    assert_eq!(res[0]["resourceType"], "PV");
    assert_eq!(res[0]["pvPath"], "/");
    assert_eq!(r.backup_type.as_deref(), None);
}

#[test]
fn cross_account_fields() {
    let mut s = udm();
    s.cross_account = Some(CrossAccount {
        type_: Some(CrossAccountType::CrossAccount),
        user_id: Some("1589750000004625".into()),
        role_name: Some("BackupRole".into()),
    });
    let r = validate(&s, "obj", UID).unwrap();
    assert_eq!(r.cross_account_type.as_deref(), Some("CROSS_ACCOUNT"));
    assert_eq!(r.cross_account_user_id, Some(1_589_750_000_004_625));
    assert_eq!(r.cross_account_role_name.as_deref(), Some("BackupRole"));
    s.cross_account.as_mut().unwrap().role_name = None;
    assert!(validate(&s, "obj", UID).unwrap_err().0.contains("roleName"));
}

#[test]
fn invalid_specs() {
    let mut s = ecs_file();
    s.instance_id = None;
    assert!(validate(&s, "o", UID).unwrap_err().0.contains("instanceId"));
    let mut s = ecs_file();
    s.vault_id = None;
    assert!(validate(&s, "o", UID).unwrap_err().0.contains("vaultId"));
    let mut s = container();
    s.vault_id = Some(" ".into());
    assert!(validate(&s, "o", UID).unwrap_err().0.contains("vaultId"));
    let mut s = udm();
    s.detail.as_mut().unwrap().do_copy = Some(true);
    assert!(
        validate(&s, "o", UID)
            .unwrap_err()
            .0
            .contains("destinationRegionId")
    );
    let mut s = udm();
    s.detail.as_mut().unwrap().app_consistent = Some(true);
    assert!(
        validate(&s, "o", UID)
            .unwrap_err()
            .0
            .contains("preScriptPath")
    );
}

#[test]
fn status_mapping() {
    let cases = [
        (
            "COMPLETE",
            HbrBackupJobPhase::Succeeded,
            "Ready",
            reasons::BACKUP_SUCCEEDED,
        ),
        (
            "PARTIAL_COMPLETE",
            HbrBackupJobPhase::PartiallySucceeded,
            "Ready",
            reasons::BACKUP_PARTIALLY_SUCCEEDED,
        ),
        (
            "FAILED",
            HbrBackupJobPhase::Failed,
            "Stalled",
            reasons::BACKUP_FAILED,
        ),
        (
            "EXPIRED",
            HbrBackupJobPhase::Failed,
            "Stalled",
            reasons::BACKUP_FAILED,
        ),
        (
            "CANCELED",
            HbrBackupJobPhase::Cancelled,
            "Stalled",
            reasons::BACKUP_CANCELLED,
        ),
        (
            "RUNNING",
            HbrBackupJobPhase::Running,
            "Reconciling",
            reasons::BACKUP_RUNNING,
        ),
        (
            "CREATED",
            HbrBackupJobPhase::Running,
            "Reconciling",
            reasons::BACKUP_RUNNING,
        ),
    ];
    for (raw, phase, cond, reason) in cases {
        let v = job_view(&job(raw));
        assert_eq!(v.phase, phase, "{raw}");
        assert_eq!(v.health.condition_type(), cond, "{raw}");
        assert_eq!(v.health.reason(), reason, "{raw}");
    }
    let mut failed = job("FAILED");
    failed.error_message = Some("disk not found".into());
    let v = job_view(&failed);
    assert!(v.health.message().contains("disk not found"));
    assert!(v.warning);
    assert!(job_view(&job("RUNNING")).health.message().contains("42%"));
}

#[test]
fn progress_and_bytes() {
    assert_eq!(progress_percent(Some(10_000)), Some(100));
    assert_eq!(progress_percent(Some(4250)), Some(42));
    assert_eq!(progress_percent(Some(-5)), Some(0));
    assert_eq!(progress_percent(Some(20_000)), Some(100));
    assert_eq!(progress_percent(None), None);
    let mut st = HbrBackupJobStatus::default();
    record_job(&mut st, &job("RUNNING"));
    assert_eq!(st.progress, Some(42));
    assert_eq!(st.bytes_done, Some(425));
    assert_eq!(st.bytes_total, Some(1000));
    assert_eq!(st.cloud_status.as_deref(), Some("RUNNING"));
    assert_eq!(st.completion_time, None);
    assert_eq!(st.start_time, times::from_unix_secs(Some(1_700_000_010)));
    record_job(&mut st, &job("COMPLETE"));
    assert_eq!(st.progress, Some(100));
    assert_eq!(
        st.completion_time,
        times::from_unix_secs(Some(1_700_000_900))
    );
}

#[test]
fn terminal_statuses() {
    for s in [
        "COMPLETE",
        "PARTIAL_COMPLETE",
        "FAILED",
        "CANCELED",
        "EXPIRED",
    ] {
        assert!(is_terminal_status(s), "{s}");
    }
    for s in ["CREATED", "RUNNING", "CANCELING", ""] {
        assert!(!is_terminal_status(s), "{s}");
    }
}

#[test]
fn recovery_finds_job_by_name_only() {
    let jobs = vec![
        CloudJob {
            job_id: "job-other".into(),
            job_name: Some("web-server-full-other-uid".into()),
            ..Default::default()
        },
        job("RUNNING"),
    ];
    let name = job_name(&udm(), "obj", UID);
    assert_eq!(find_by_name(&jobs, &name).unwrap().job_id, "job-1");
    assert!(find_by_name(&jobs, "nope").is_none());
    assert_eq!(find_by_id(&jobs, "job-other").unwrap().job_id, "job-other");
    let started = Time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
    let req = describe_candidates(&udm(), &started, 2);
    assert_eq!(req.source_type.as_deref(), Some("UDM_ECS"));
    assert_eq!(req.page_number, Some(2));
    assert_eq!(req.filters[0].key, "CreatedTime");
    assert_eq!(
        req.filters[0].values,
        vec![(1_700_000_000 - CLOCK_SLACK_SECONDS).to_string()]
    );
    assert_eq!(req.filters[1].key, "InstanceId");
    let by_id = describe_by_id("UDM_ECS", "job-1");
    assert_eq!(by_id.filters[0].key, "JobId");
    assert_eq!(by_id.filters[0].values, vec!["job-1".to_string()]);
}

#[test]
fn apply_plan() {
    let spec = udm();
    let mut st = HbrBackupJobStatus::default();
    assert_eq!(plan(&spec, &st), Step::RecordIntent);
    // A create refused for good: Failed without job or intent is done.
    let refused = HbrBackupJobStatus {
        phase: Some(HbrBackupJobPhase::Failed),
        ..HbrBackupJobStatus::default()
    };
    assert_eq!(plan(&spec, &refused), Step::Done);
    st.pending_create = Some(PendingCreate {
        token: "t".into(),
        started_at: Time(jiff::Timestamp::from_second(1).unwrap()),
    });
    assert_eq!(plan(&spec, &st), Step::RecoverOrCreate);
    st.job_id = Some("job-1".into());
    st.phase = Some(HbrBackupJobPhase::Running);
    assert_eq!(
        plan(&spec, &st),
        Step::Track {
            job_id: "job-1".into()
        }
    );
    st.phase = Some(HbrBackupJobPhase::Succeeded);
    assert_eq!(
        plan(&spec, &st),
        Step::FetchSnapshots {
            job_id: "job-1".into()
        }
    );
    assert!(
        !ended(&spec, &st),
        "the snapshot ids are still to be looked up"
    );
    st.snapshot_ids = vec!["s-1".into()];
    assert_eq!(plan(&spec, &st), Step::Done);
    assert!(ended(&spec, &st));
    st.snapshot_ids.clear();
    st.phase = Some(HbrBackupJobPhase::Failed);
    assert_eq!(plan(&spec, &st), Step::Done);
    st.phase = Some(HbrBackupJobPhase::Succeeded);
    assert_eq!(
        plan(&ecs_file(), &st),
        Step::Done,
        "only UDM_ECS has UDM snapshots"
    );
}

#[test]
fn cleanup_plan() {
    let spec = udm();
    let mut st = HbrBackupJobStatus {
        job_id: Some("job-1".into()),
        ..Default::default()
    };
    let running = job("RUNNING");
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&running), false, true, false),
        CleanupStep::Cancel
    );
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&running), true, true, false),
        CleanupStep::AwaitCancel
    );
    let done = job("COMPLETE");
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, false, false),
        CleanupStep::Done,
        "Retain keeps the snapshot"
    );
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, false),
        CleanupStep::FetchSnapshots
    );
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, true),
        CleanupStep::Done
    );
    st.snapshot_ids = vec!["s-1".into()];
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, false),
        CleanupStep::DeleteSnapshots(vec!["s-1".into()])
    );
    assert_eq!(
        plan_cleanup(&spec, &st, None, false, true, false),
        CleanupStep::DeleteSnapshots(vec!["s-1".into()])
    );
    st.snapshot_ids.clear();
    assert_eq!(
        plan_cleanup(&spec, &st, None, false, true, false),
        CleanupStep::Done
    );
    let cancelled = job("CANCELED");
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&cancelled), true, true, false),
        CleanupStep::Done,
        "a cancelled job has no snapshot to look up"
    );
}

#[test]
fn snapshot_lookup() {
    let req = describe_snapshots(&udm(), "job-1", 1_700_000_000, 1_700_000_900);
    assert_eq!(req.source_type, "UDM_ECS");
    assert_eq!(req.udm_region_id, "cn-hangzhou");
    assert_eq!(req.job_id.as_deref(), Some("job-1"));
    assert!(req.start_time < 1_700_000_000 && req.end_time > 1_700_000_900);
    let snaps = vec![
        UdmSnapshot {
            snapshot_id: "s-2".into(),
            job_id: Some("job-1".into()),
            ..Default::default()
        },
        UdmSnapshot {
            snapshot_id: "s-9".into(),
            job_id: Some("job-9".into()),
            ..Default::default()
        },
        UdmSnapshot {
            snapshot_id: "s-1".into(),
            job_id: Some("job-1".into()),
            ..Default::default()
        },
    ];
    let found = udm_job_snapshots(&snaps, &udm(), "job-1");
    assert_eq!(snapshot_ids(&found), vec!["s-1", "s-2"]);
    // In the answer's order, with the job's vault and instance where the row names none.
    assert_eq!(found[0].id, "s-2");
    assert_eq!(found[0].vault_id, udm().vault_id);
    assert_eq!(found[0].instance_id, udm().instance_id);
}

#[test]
fn only_container_snapshots_are_left_in_the_vault() {
    let done = job("COMPLETE");
    assert!(snapshot_left_in_vault(&container(), Some(&done), true));
    assert!(snapshot_left_in_vault(
        &container(),
        Some(&job("PARTIAL_COMPLETE")),
        true
    ));
    assert!(
        !snapshot_left_in_vault(&container(), Some(&done), false),
        "Retain"
    );
    assert!(
        !snapshot_left_in_vault(&udm(), Some(&done), true),
        "UDM snapshots are deleted"
    );
    assert!(
        !snapshot_left_in_vault(&ecs_file(), Some(&done), true),
        "ECS_FILE snapshots are found and deleted"
    );
    assert!(!snapshot_left_in_vault(
        &container(),
        Some(&job("FAILED")),
        true
    ));
    assert!(!snapshot_left_in_vault(&container(), None, true));
    assert!(snapshots_findable(HbrSourceType::UdmEcs));
    assert!(snapshots_findable(HbrSourceType::EcsFile));
    assert!(!snapshots_findable(HbrSourceType::Container));
}

#[test]
fn ecs_file_cleanup_searches_then_deletes() {
    let spec = ecs_file();
    let mut st = HbrBackupJobStatus {
        job_id: Some("job-1".into()),
        ..Default::default()
    };
    let done = job("COMPLETE");
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, false),
        CleanupStep::FetchSnapshots
    );
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, true),
        CleanupStep::Done,
        "nothing found: done"
    );
    st.snapshot_ids = vec!["s-1".into()];
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, true, true),
        CleanupStep::DeleteSnapshots(vec!["s-1".into()])
    );
    assert_eq!(
        plan_cleanup(&spec, &st, Some(&done), false, false, false),
        CleanupStep::Done,
        "Retain"
    );
    // CONTAINER: nothing to look up.
    let st = HbrBackupJobStatus {
        job_id: Some("job-1".into()),
        ..Default::default()
    };
    assert_eq!(
        plan_cleanup(&container(), &st, Some(&done), false, true, false),
        CleanupStep::Done
    );
}

#[test]
fn ecs_file_snapshot_search() {
    let spec = ecs_file();
    let req = search_snapshots(&spec, 1_700_000_000, None);
    assert_eq!(req.source_type.as_deref(), Some("ECS_FILE"));
    assert_eq!(req.limit, Some(SEARCH_PAGE_SIZE));
    assert_eq!(req.next_token, None);
    let fields: Vec<(&str, &str)> = req
        .query
        .iter()
        .map(|q| (q.field.as_str(), q.operation.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("VaultId", "MATCH_TERM"),
            ("InstanceId", "MATCH_TERM"),
            ("CompleteTime", "GREATER_THAN_OR_EQUAL"),
        ]
    );
    assert_eq!(
        req.query[0].value,
        serde_json::json!(spec.vault_id.clone().unwrap())
    );
    assert_eq!(
        req.query[1].value,
        serde_json::json!(spec.instance_id.clone().unwrap())
    );
    assert_eq!(
        req.query[2].value,
        serde_json::json!((1_700_000_000 - CLOCK_SLACK_SECONDS).to_string())
    );
    let next = search_snapshots(&spec, 1_700_000_000, Some("t2".into()));
    assert_eq!(next.next_token.as_deref(), Some("t2"));

    // Only the job's own snapshots, never one without a JobId.
    let snap = |id: &str, job: Option<&str>| HistoricalSnapshot {
        snapshot_id: id.into(),
        job_id: job.map(str::to_string),
        ..Default::default()
    };
    let found = vec![
        snap("s-3", Some("job-1")),
        snap("s-other", Some("job-2")),
        snap("s-anon", None),
        snap("s-1", Some("job-1")),
        snap("s-1", Some("job-1")),
        snap("", Some("job-1")),
    ];
    let mine = historical_job_snapshots(&found, &spec, "job-1");
    assert_eq!(snapshot_ids(&mine), vec!["s-1", "s-3"]);
    assert_eq!(mine[0].id, "s-3", "in the page's order");
    assert_eq!(
        mine[0].vault_id, spec.vault_id,
        "the job's vault where the row names none"
    );
    assert!(historical_job_snapshots(&found, &spec, "job-9").is_empty());
}

// ---------------------------------------------------------------------------------------------
// adoption by spec
// ---------------------------------------------------------------------------------------------

fn adopting(job_id: Option<&str>, policy: crate::crd::ManagementPolicy) -> HbrBackupJobSpec {
    HbrBackupJobSpec {
        job_id: job_id.map(str::to_string),
        management_policy: policy,
        ..udm()
    }
}

fn hbr_obj(name: &str, uid: &str, spec: HbrBackupJobSpec, job: Option<&str>) -> HbrBackupJob {
    let mut o = HbrBackupJob::new(name, spec);
    o.metadata.namespace = Some("other".into());
    o.metadata.uid = Some(uid.into());
    o.status = job.map(|j| HbrBackupJobStatus {
        job_id: Some(j.into()),
        ..HbrBackupJobStatus::default()
    });
    o
}

#[test]
fn an_adopting_job_adopts_until_it_records_the_job() {
    use crate::crd::ManagementPolicy::{Manage, ObserveOnly};
    let s = adopting(Some(" job-9 "), ObserveOnly);
    assert_eq!(validate_adoption(&s), Ok(Some("job-9".into())));
    assert_eq!(
        plan(&s, &HbrBackupJobStatus::default()),
        Step::AdoptExisting {
            job_id: "job-9".into()
        }
    );
    let recorded = HbrBackupJobStatus {
        job_id: Some("job-9".into()),
        phase: Some(HbrBackupJobPhase::Running),
        ..HbrBackupJobStatus::default()
    };
    assert_eq!(
        plan(&s, &recorded),
        Step::Track {
            job_id: "job-9".into()
        }
    );
    let m = adopted_message(&s, &recorded).unwrap();
    assert!(m.contains("job job-9") && m.contains("ObserveOnly"), "{m}");
    assert_eq!(adopted_message(&udm(), &recorded), None);
    // ObserveOnly without a job to observe is refused; it is never created.
    assert!(validate_adoption(&adopting(None, ObserveOnly)).is_err());
    assert_eq!(validate_adoption(&adopting(None, Manage)), Ok(None));
    assert_eq!(
        plan(&adopting(None, Manage), &HbrBackupJobStatus::default()),
        Step::RecordIntent
    );
}

#[test]
fn a_job_another_object_holds_or_names_is_never_adopted() {
    use crate::crd::ManagementPolicy::Manage;
    let all = vec![
        hbr_obj("me", "u-me", adopting(Some("job-9"), Manage), None),
        hbr_obj("holder", "u-2", udm(), Some("job-9")),
        hbr_obj("namer", "u-3", adopting(Some("job-5"), Manage), None),
    ];
    assert_eq!(
        adoption_holder("u-me", "job-9", &all)
            .map(|c| c.object)
            .as_deref(),
        Some("other/holder")
    );
    assert_eq!(
        adoption_holder("u-me", "job-5", &all)
            .map(|c| c.object)
            .as_deref(),
        Some("other/namer")
    );
    assert_eq!(adoption_holder("u-me", "job-1", &all), None);
    assert_eq!(adoption_holder("u-3", "job-5", &all), None);
}
