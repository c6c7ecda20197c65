//! Tests of the request parameters rendered from an `HbrBackupJob` spec.

use super::*;

fn base() -> HbrBackupJobSpec {
    HbrBackupJobSpec {
        region: "cn-hangzhou".into(),
        credentials_ref: None,
        deletion_policy: Some(DeletionPolicy::Retain),
        timeout: None,
        source_type: HbrSourceType::EcsFile,
        retention: 7,
        instance_id: Some("i-demo01".into()),
        backup_type: None,
        vault_id: None,
        job_name: None,
        detail: None,
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
        management_policy: ManagementPolicy::Manage,
    }
}

#[test]
fn speed_limits_render() {
    let mut s = base();
    assert_eq!(s.speed_limit_param(), None);
    s.speed_limits = vec![
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
    ];
    assert_eq!(s.speed_limit_param().unwrap(), "0:8:10240|8:24:1024");
}

#[test]
fn lists_and_options_render_as_json() {
    let mut s = base();
    assert_eq!(s.include_param().unwrap(), None);
    assert_eq!(s.options_param().unwrap(), None);
    s.include = vec!["/home/alice/*.pdf".into(), "/data".into()];
    s.exclude = vec!["/var".into()];
    s.options = Some(HbrOptions {
        use_vss: Some(true),
    });
    assert_eq!(
        s.include_param().unwrap().unwrap(),
        r#"["/home/alice/*.pdf","/data"]"#
    );
    assert_eq!(s.exclude_param().unwrap().unwrap(), r#"["/var"]"#);
    assert_eq!(s.options_param().unwrap().unwrap(), r#"{"UseVSS":true}"#);
    assert_eq!(s.options_value(), Some(serde_json::json!({"UseVSS": true})));
}

#[test]
fn detail_uses_api_keys() {
    let mut s = base();
    s.detail = Some(HbrDetail {
        do_copy: Some(false),
        disk_id_list: vec!["d-1".into()],
        app_consistent: Some(true),
        timeout_seconds: Some(60),
        ..Default::default()
    });
    let v: serde_json::Value = serde_json::from_str(&s.detail_param().unwrap().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"doCopy": false, "diskIdList": ["d-1"], "appConsistent": true, "timeoutSeconds": 60})
    );
}

#[test]
fn container_resources_nest_resource_info_as_string() {
    let mut s = base();
    s.source_type = HbrSourceType::Container;
    s.container_resources = vec![HbrContainerResource {
        resource_type: "PV".into(),
        backup_method: "FILE".into(),
        resource_id: "674dac6d".into(),
        resource_info: Some(HbrPvInfo {
            pv_name: Some("nas-1".into()),
            pv_size: Some("8Gi".into()),
            storage_class: None,
            pvc_name: Some("data-0".into()),
            namespace: Some("database".into()),
        }),
        host: Some("cn-hangzhou.192.168.0.1".into()),
        host_prefix: None,
        pv_path: Some("/".into()),
    }];
    let out = s.container_resources_param().unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["resourceType"], "PV");
    assert_eq!(v[0]["pvPath"], "/");
    let info: serde_json::Value =
        serde_json::from_str(v[0]["resourceInfo"].as_str().unwrap()).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"pv_name": "nas-1", "pv_size": "8Gi", "pvc_name": "data-0", "namespace": "database"})
    );
    assert!(v[0].get("hostPrefix").is_none());
    assert_eq!(s.container_resources_value().unwrap(), Some(v));
}

#[test]
fn udm_ecs_defaults_to_complete() {
    let mut s = base();
    assert_eq!(s.backup_type_param(), None);
    s.source_type = HbrSourceType::UdmEcs;
    assert_eq!(s.backup_type_param(), Some(HbrBackupType::Complete));
    s.backup_type = Some(HbrBackupType::Incremental);
    assert_eq!(s.backup_type_param(), Some(HbrBackupType::Incremental));
}
