//! Tests of the generated CRDs: names, columns, schema validation (CEL rules evaluated with
//! `kube-cel`, the same engine kube's `cel` feature uses), drift of `crds/`, and `examples/`.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize as _;
use serde_json::{Value, json};

use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- names and shape

#[test]
fn names_match_design() {
    let crds = all_crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| {
            (
                c.spec.names.kind.clone(),
                c.spec.names.plural.clone(),
                c.spec.names.short_names.clone().unwrap_or_default(),
                c.spec.names.categories.clone().unwrap_or_default(),
                c.spec.scope.clone(),
                c.spec.group.clone(),
            )
        })
        .collect();
    let expect = |k: &str, p: &str, s: &str| {
        (
            k.to_owned(),
            p.to_owned(),
            vec![s.to_owned()],
            vec![CATEGORY.to_owned()],
            "Namespaced".to_owned(),
            API_GROUP.to_owned(),
        )
    };
    assert_eq!(
        names,
        vec![
            expect("DbsBackupPlan", "dbsbackupplans", "dbsplan"),
            expect("DbsRestoreTask", "dbsrestoretasks", "dbsrs"),
            expect("HbrBackupJob", "hbrbackupjobs", "hbrjob"),
            expect("HbrBackupSchedule", "hbrbackupschedules", "hbrsched"),
            expect("HbrRestoreJob", "hbrrestorejobs", "hbrrs"),
            expect("RdsBackup", "rdsbackups", "rdsbk"),
            expect("RdsBackupSchedule", "rdsbackupschedules", "rdssched"),
            expect("RdsRestore", "rdsrestores", "rdsrs"),
        ]
    );
    for c in &crds {
        assert_eq!(c.spec.versions.len(), 1);
        let v = &c.spec.versions[0];
        assert_eq!(v.name, API_VERSION);
        assert!(v.served && v.storage);
        assert!(v.subresources.as_ref().unwrap().status.is_some());
    }
}

#[test]
fn printer_columns_have_phase_id_progress_age_and_wide_reason() {
    for c in all_crds() {
        let cols = c.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap();
        let find = |n: &str| {
            cols.iter()
                .find(|x| x.name == n)
                .unwrap_or_else(|| panic!("{} lacks column {n}", c.spec.names.kind))
                .clone()
        };
        if c.spec.names.kind.ends_with("Schedule") {
            // schedule, suspend, last run, next run, last success, RPO met, age (+ wide reason).
            let shown: Vec<&str> = cols
                .iter()
                .filter(|x| x.priority.unwrap_or(0) == 0)
                .map(|x| x.name.as_str())
                .collect();
            assert_eq!(
                shown,
                [
                    "Schedule",
                    "Suspend",
                    "Last Run",
                    "Next Run",
                    "Last Success",
                    "RPO Met",
                    "Age"
                ]
            );
            assert!(find("RPO Met").json_path.contains("RPOMet"));
            assert_eq!(find("Reason").priority, Some(1));
            continue;
        }
        assert_eq!(find("Phase").json_path, ".status.phase");
        assert_eq!(find("Age").type_, "date");
        let reason = find("Reason");
        assert_eq!(reason.priority, Some(1));
        assert!(reason.json_path.contains("Ready"));
        // A cloud id column and a progress-like column.
        let id_col = match c.spec.names.kind.as_str() {
            "RdsBackup" => ".status.backupJobId",
            "HbrBackupJob" => ".status.jobId",
            "RdsRestore" | "HbrRestoreJob" | "DbsRestoreTask" => ".status.targetId",
            _ => ".status.backupPlanId",
        };
        assert!(cols.iter().any(|x| x.json_path == id_col), "{id_col}");
        let progress = match c.spec.names.kind.as_str() {
            "DbsBackupPlan" => ".status.cloudStatus",
            _ => ".status.progress",
        };
        assert!(cols.iter().any(|x| x.json_path == progress), "{progress}");
        // Everything but the wide columns shows by default.
        assert!(cols.iter().filter(|x| x.priority.unwrap_or(0) == 0).count() >= 4);
    }
}

// ---------------------------------------------------------------- schema helpers

fn schema_of(kind: &str) -> Value {
    let crd = all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// Walk a schema and collect `(path, node, rule)` for every `x-kubernetes-validations` entry.
fn collect_rules(path: &str, node: &Value, out: &mut Vec<(String, Value, String)>) {
    if let Some(rules) = node
        .get("x-kubernetes-validations")
        .and_then(|r| r.as_array())
    {
        for r in rules {
            out.push((
                path.to_owned(),
                node.clone(),
                r["rule"].as_str().unwrap().to_owned(),
            ));
            assert!(
                r.get("message").and_then(|m| m.as_str()).is_some(),
                "rule at {path} has no message: {r}"
            );
        }
    }
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (k, v) in props {
            collect_rules(&format!("{path}.{k}"), v, out);
        }
    }
    if let Some(items) = node.get("items") {
        collect_rules(&format!("{path}[]"), items, out);
    }
}

/// Find the schema node of a dotted path below the root (`spec.source.port`).
fn node<'a>(schema: &'a Value, path: &str) -> &'a Value {
    let mut n = schema;
    for part in path.split('.') {
        n = if part == "[]" {
            &n["items"]
        } else {
            &n["properties"][part]
        };
        assert!(!n.is_null(), "no schema node {path}");
    }
    n
}

/// Validate an object (create when `old` is None, update otherwise); return the failure
/// messages of the CEL rules.
fn cel(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let schema = schema_of(kind);
    match kube_cel::Validator::new().validate(&schema, obj, old) {
        Ok(()) => vec![],
        Err(errs) => {
            for e in errs.as_slice() {
                assert!(
                    !matches!(
                        e.kind,
                        kube_cel::ErrorKind::CompilationFailure | kube_cel::ErrorKind::InvalidRule
                    ),
                    "rule does not compile: {e:?}"
                );
            }
            errs.as_slice().iter().map(|e| e.message.clone()).collect()
        }
    }
}

fn wrap(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("{API_GROUP}/{API_VERSION}"),
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default"},
        "spec": spec,
    })
}

fn assert_ok(kind: &str, spec: Value) {
    let mut violations = Vec::new();
    openapi_violations(
        "",
        &schema_of(kind),
        &wrap(kind, spec.clone()),
        &mut violations,
    );
    assert!(violations.is_empty(), "{kind} {spec}: {violations:?}");
    let errs = cel(kind, &wrap(kind, spec.clone()), None);
    assert!(errs.is_empty(), "{kind} {spec} refused: {errs:?}");
}

fn assert_refused(kind: &str, spec: Value, msg_part: &str) {
    let errs = cel(kind, &wrap(kind, spec.clone()), None);
    assert!(
        errs.iter().any(|e| e.contains(msg_part)),
        "{kind} {spec}: expected an error containing {msg_part:?}, got {errs:?}"
    );
}

fn assert_update(kind: &str, old: Value, new: Value, msg_part: Option<&str>) {
    let errs = cel(
        kind,
        &wrap(kind, new.clone()),
        Some(&wrap(kind, old.clone())),
    );
    match msg_part {
        None => assert!(errs.is_empty(), "update {old} -> {new} refused: {errs:?}"),
        Some(m) => assert!(
            errs.iter().any(|e| e.contains(m)),
            "update {old} -> {new}: expected {m:?}, got {errs:?}"
        ),
    }
}

/// JSON merge patch (RFC 7386): `null` removes a key.
fn merge(mut base: Value, patch: Value) -> Value {
    fn apply(target: &mut Value, patch: &Value) {
        let Some(p) = patch.as_object() else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                apply(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
    apply(&mut base, &patch);
    base
}

// ---------------------------------------------------------------- every rule is sound

#[test]
fn every_cel_rule_compiles_and_stays_in_budget() {
    let mut total = 0;
    for c in all_crds() {
        let kind = c.spec.names.kind.clone();
        let schema = schema_of(&kind);
        let mut rules = Vec::new();
        collect_rules("", &schema, &mut rules);
        assert!(!rules.is_empty(), "{kind} has no CEL rules");
        for (path, node, rule) in &rules {
            let compiled = kube_cel::compile_schema(node);
            assert!(
                !compiled.has_errors(),
                "{kind}{path}: {rule}: {:?}",
                compiled.compilation_errors()
            );
            let warnings =
                kube_cel::analyze_rule(rule, &compiled, kube_cel::ScopeContext::CrdValidation);
            let bad: Vec<_> = warnings
                .iter()
                .filter(|w| match w.kind {
                    kube_cel::WarningKind::CostExceeded => true,
                    // The scope check does not know comprehension variables (`self.all(a, ..)`).
                    kube_cel::WarningKind::WrongScope => !w
                        .message
                        .split('\'')
                        .nth(1)
                        .is_some_and(|var| rule.contains(&format!("({var}, "))),
                    _ => true,
                })
                .collect();
            assert!(bad.is_empty(), "{kind}{path}: {rule}: {bad:?}");
        }
        total += rules.len();
    }
    assert!(total >= 30, "only {total} rules");
}

// ---------------------------------------------------------------- RdsBackup

fn rds() -> Value {
    json!({"region": "cn-hangzhou", "dbInstanceId": "rm-demo01"})
}

#[test]
fn rds_rules() {
    let k = "RdsBackup";
    assert_ok(k, rds());
    assert_ok(
        k,
        merge(
            rds(),
            json!({"backupStrategy": "db", "dbNames": ["a", "b"], "backupMethod": "Logical"}),
        ),
    );
    assert_refused(k, merge(rds(), json!({"dbNames": ["a"]})), "dbNames needs");
    assert_refused(
        k,
        merge(rds(), json!({"backupStrategy": "db"})),
        "needs at least one entry in dbNames",
    );
    assert_ok(
        k,
        merge(rds(), json!({"backupType": "FullBackup"})), // backupMethod defaults to Physical
    );
    assert_refused(
        k,
        merge(
            rds(),
            json!({"backupType": "Auto", "backupMethod": "Logical"}),
        ),
        "backupType applies only",
    );
    for ok in [-1, 7, 730] {
        assert_ok(k, merge(rds(), json!({"backupRetentionPeriod": ok})));
    }
    for bad in [0, 6] {
        assert_refused(
            k,
            merge(rds(), json!({"backupRetentionPeriod": bad})),
            "backupRetentionPeriod must be",
        );
    }
}

#[test]
fn rds_spec_is_immutable() {
    let k = "RdsBackup";
    assert_update(k, rds(), rds(), None);
    assert_update(
        k,
        rds(),
        merge(rds(), json!({"dbInstanceId": "rm-other"})),
        Some("spec is immutable"),
    );
    assert_update(
        k,
        rds(),
        merge(rds(), json!({"deletionPolicy": "Delete"})),
        Some("spec is immutable"),
    );
}

// ---------------------------------------------------------------- HbrBackupJob

fn hbr_udm() -> Value {
    json!({"region": "cn-hangzhou", "sourceType": "UDM_ECS", "retention": 7, "instanceId": "i-demo01"})
}

fn hbr_file() -> Value {
    json!({"region": "cn-hangzhou", "sourceType": "ECS_FILE", "retention": 7,
           "instanceId": "i-demo01", "vaultId": "v-1", "include": ["/data"]})
}

fn hbr_container() -> Value {
    json!({"region": "cn-hangzhou", "sourceType": "CONTAINER", "retention": 7,
           "clusterId": "c1", "containerClusterId": "cc-1", "vaultId": "v-1",
           "containerResources": [{"resourceType": "PV", "backupMethod": "FILE", "resourceId": "u1",
                                   "resourceInfo": {"pvName": "pv1", "pvcName": "data", "namespace": "db"}}]})
}

#[test]
fn hbr_required_fields_by_source_type() {
    let k = "HbrBackupJob";
    assert_ok(k, hbr_udm());
    assert_ok(k, hbr_file());
    assert_ok(k, hbr_container());
    assert_ok(
        k,
        merge(
            hbr_udm(),
            json!({"backupType": "COMPLETE", "detail": {"appConsistent": true, "timeoutSeconds": 30,
                   "preScriptPath": "/pre.sh", "postScriptPath": "/post.sh"}}),
        ),
    );

    let mut no_instance = hbr_udm();
    no_instance.as_object_mut().unwrap().remove("instanceId");
    assert_refused(k, no_instance, "need instanceId");
    assert_refused(
        k,
        merge(hbr_file(), json!({"instanceId": null})),
        "need instanceId",
    );
    assert_refused(
        k,
        merge(hbr_udm(), json!({"backupType": "INCREMENTAL"})),
        "only backupType COMPLETE",
    );
    assert_refused(
        k,
        merge(hbr_container(), json!({"containerResources": []})),
        "CONTAINER needs containerClusterId",
    );
    assert_refused(
        k,
        merge(hbr_container(), json!({"containerClusterId": null})),
        "CONTAINER needs containerClusterId",
    );
    assert_refused(
        k,
        merge(hbr_file(), json!({"include": null})),
        "ECS_FILE needs at least one include",
    );
    assert_refused(
        k,
        merge(hbr_udm(), json!({"include": ["/x"]})),
        "apply only to sourceType ECS_FILE",
    );
    assert_refused(
        k,
        merge(hbr_udm(), json!({"options": {"useVss": false}})),
        "apply only to sourceType ECS_FILE",
    );
    assert_refused(
        k,
        merge(hbr_udm(), json!({"containerClusterId": "cc-1"})),
        "apply only to sourceType CONTAINER",
    );
    assert_refused(
        k,
        merge(hbr_file(), json!({"detail": {"doCopy": true}})),
        "detail applies only",
    );
    assert_refused(
        k,
        merge(
            hbr_file(),
            json!({"include": ["/a", "/b"], "options": {"useVss": true}}),
        ),
        "useVss allows a single include",
    );
    assert_ok(k, merge(hbr_file(), json!({"options": {"useVss": true}})));
}

#[test]
fn hbr_vault_and_detail_rules() {
    let k = "HbrBackupJob";
    assert_refused(
        k,
        merge(hbr_file(), json!({"vaultId": null})),
        "need vaultId",
    );
    assert_refused(
        k,
        merge(hbr_container(), json!({"vaultId": null})),
        "need vaultId",
    );
    assert_refused(
        k,
        merge(hbr_udm(), json!({"detail": {"doCopy": true}})),
        "doCopy needs detail.destinationRegionId",
    );
    assert_ok(
        k,
        merge(
            hbr_udm(),
            json!({"detail": {"doCopy": true, "destinationRegionId": "cn-shanghai", "destinationRetention": 7}}),
        ),
    );
    assert_refused(
        k,
        merge(
            hbr_udm(),
            json!({"detail": {"appConsistent": true, "preScriptPath": "/pre.sh"}}),
        ),
        "appConsistent needs detail.preScriptPath and detail.postScriptPath",
    );
}

#[test]
fn hbr_speed_limits_and_cross_account() {
    let k = "HbrBackupJob";
    let sl = |v: Value| merge(hbr_file(), json!({ "speedLimits": v }));
    assert_ok(
        k,
        sl(
            json!([{"startHour": 0, "endHour": 8, "bandwidthKBps": 1024},
                  {"startHour": 8, "endHour": 24, "bandwidthKBps": 512}]),
        ),
    );
    assert_refused(
        k,
        sl(
            json!([{"startHour": 0, "endHour": 9, "bandwidthKBps": 1024},
                  {"startHour": 8, "endHour": 24, "bandwidthKBps": 512}]),
        ),
        "must not overlap",
    );
    assert_refused(
        k,
        sl(json!([{"startHour": 8, "endHour": 8, "bandwidthKBps": 1}])),
        "endHour must be after startHour",
    );
    assert_ok(
        k,
        merge(
            hbr_udm(),
            json!({"crossAccount": {"type": "CROSS_ACCOUNT", "userId": "1589750000004625", "roleName": "BackupRole"}}),
        ),
    );
    assert_ok(
        k,
        merge(hbr_udm(), json!({"crossAccount": {"type": "SELF_ACCOUNT"}})),
    );
    assert_refused(
        k,
        merge(
            hbr_udm(),
            json!({"crossAccount": {"type": "CROSS_ACCOUNT", "userId": "1"}}),
        ),
        "CROSS_ACCOUNT needs userId and roleName",
    );
}

#[test]
fn hbr_spec_is_immutable() {
    let k = "HbrBackupJob";
    assert_update(k, hbr_udm(), hbr_udm(), None);
    assert_update(
        k,
        hbr_udm(),
        merge(hbr_udm(), json!({"retention": 8})),
        Some("spec is immutable"),
    );
}

#[test]
fn schedule_templates_cannot_adopt_or_observe() {
    let sched = |template_spec: Value| {
        json!({
            "schedule": "@daily",
            "template": {"spec": template_spec},
        })
    };
    let msg = "template cannot adopt";
    assert_ok("RdsBackupSchedule", sched(rds()));
    assert_ok("HbrBackupSchedule", sched(hbr_udm()));
    for patch in [
        json!({"backupJobId": "123"}),
        json!({"backupId": "456"}),
        json!({"managementPolicy": "ObserveOnly", "backupId": "456"}),
    ] {
        assert_refused("RdsBackupSchedule", sched(merge(rds(), patch)), msg);
    }
    assert_ok(
        "RdsBackupSchedule",
        sched(merge(
            rds(),
            json!({"managementPolicy": "Manage", "timeout": "2h"}),
        )),
    );
    assert_refused(
        "HbrBackupSchedule",
        sched(merge(hbr_udm(), json!({"jobId": "job-1"}))),
        msg,
    );
}

// ---------------------------------------------------------------- DbsBackupPlan

fn dbs() -> Value {
    json!({
        "region": "cn-hangzhou", "planName": "p", "databaseType": "MySQL",
        "instanceClass": "micro", "backupMethod": "logical",
        "source": {"instanceType": "RDS", "instanceId": "rm-demo01", "userName": "u",
                   "passwordSecretRef": {"name": "s", "key": "password"}}
    })
}

#[test]
fn dbs_source_endpoint_rules() {
    let k = "DbsBackupPlan";
    assert_ok(k, dbs());
    assert_refused(
        k,
        merge(dbs(), json!({"source": {"instanceId": null}})),
        "source.instanceId is required",
    );
    let other = merge(
        dbs(),
        json!({"source": {"instanceType": "Other", "instanceId": null, "ip": "10.0.0.1", "port": 3306}}),
    );
    assert_ok(k, other.clone());
    assert_refused(
        k,
        merge(other.clone(), json!({"source": {"ip": null}})),
        "source.ip is required",
    );
    assert_refused(
        k,
        merge(other, json!({"source": {"port": null}})),
        "source.port is required",
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"source": {"instanceType": "ECS", "instanceId": "i-demo01"}}),
        ),
        "source.port is required",
    );
    let agent = merge(
        dbs(),
        json!({"source": {"instanceType": "Agent", "instanceId": null, "ip": "10.0.0.1", "port": 3306}}),
    );
    assert_refused(k, agent.clone(), "backupGatewayId is required");
    assert_ok(
        k,
        merge(
            agent,
            json!({"source": {"backupGatewayId": 23313123312_i64}}),
        ),
    );
}

#[test]
fn dbs_engine_dependent_rules() {
    let k = "DbsBackupPlan";
    assert_refused(
        k,
        merge(dbs(), json!({"databaseType": "PostgreSQL"})),
        "need source.databaseName",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"databaseType": "PostgreSQL", "source": {"databaseName": "app"}}),
        ),
    );
    assert_refused(
        k,
        merge(dbs(), json!({"databaseType": "Oracle"})),
        "needs source.oracleSid",
    );
    assert_refused(
        k,
        merge(dbs(), json!({"source": {"passwordSecretRef": null}})),
        "source.userName and source.passwordSecretRef are required",
    );
    // Redis, and SQL Server through a backup gateway, need no account.
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"databaseType": "Redis", "source": {"userName": null, "passwordSecretRef": null}}),
        ),
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"databaseType": "MSSQL", "source": {"instanceType": "Agent", "instanceId": null,
                   "ip": "10.0.0.1", "port": 1433, "backupGatewayId": 1,
                   "userName": null, "passwordSecretRef": null}}),
        ),
    );
}

#[test]
fn dbs_schedule_and_billing_rules() {
    let k = "DbsBackupPlan";
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"schedule": {"days": ["Monday"], "startTime": "02:00"}}),
        ),
    );
    assert_refused(
        k,
        merge(dbs(), json!({"schedule": {"days": ["Monday"]}})),
        "simple needs days and startTime",
    );
    assert_ok(
        k,
        merge(dbs(), json!({"schedule": {"strategyType": "manual"}})),
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"billing": {"payType": "prepay", "period": "Year", "usedTime": 9}}),
        ),
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"billing": {"payType": "prepay", "period": "Year", "usedTime": 10}}),
        ),
        "usedTime is 1-9",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"billing": {"period": "Month", "usedTime": 11}}),
        ),
    );
    assert_refused(
        k,
        merge(dbs(), json!({"billing": {"usedTime": 2}})),
        "usedTime needs billing.period",
    );
    assert_refused(
        k,
        merge(dbs(), json!({"billing": {"payType": "postpay"}})),
        "postpay is only available with backupMethod duplication",
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"backupMethod": "duplication", "billing": {"payType": "postpay"}}),
        ),
        "postpay needs source.databaseInstanceType",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"backupMethod": "duplication", "billing": {"payType": "postpay"},
                   "source": {"databaseInstanceType": "RDS"}}),
        ),
    );
}

#[test]
fn dbs_limits_log_storage_objects_and_cross_account_rules() {
    let k = "DbsBackupPlan";
    let physical = merge(dbs(), json!({"backupMethod": "physical"}));
    assert_ok(
        k,
        merge(
            physical.clone(),
            json!({"limits": {"diskIoKBps": 262144, "networkKBps": 262144},
                   "logBackup": {"enabled": true, "intervalSeconds": 1000}}),
        ),
    );
    assert_refused(
        k,
        merge(dbs(), json!({"limits": {"networkKBps": 1024}})),
        "limits apply only to physical MySQL",
    );
    assert_refused(
        k,
        merge(
            physical.clone(),
            json!({"databaseType": "MariaDB", "limits": {"diskIoKBps": 1}}),
        ),
        "limits apply only to physical MySQL",
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"logBackup": {"enabled": true, "intervalSeconds": 600}}),
        ),
        "intervalSeconds applies only to backupMethod physical",
    );
    assert_refused(
        k,
        merge(
            physical,
            json!({"logBackup": {"enabled": false, "intervalSeconds": 600}}),
        ),
        "needs logBackup.enabled: true",
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"storage": {"type": "system", "ossBucketName": "my-bucket"}}),
        ),
        "cannot be combined with storage.type system",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"storage": {"type": "oss", "ossBucketName": "my-bucket",
                   "infrequentAccessAfterDays": 180, "archiveAfterDays": 365}}),
        ),
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"storage": {"infrequentAccessAfterDays": 365, "archiveAfterDays": 365}}),
        ),
        "archiveAfterDays must be greater",
    );
    assert_refused(
        k,
        merge(
            dbs(),
            json!({"backupObjects": [{"dbName": "a", "tableIncludes": ["t1"], "tableExcludes": ["t2"]}]}),
        ),
        "tableIncludes or tableExcludes, not both",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"backupObjects": [{"dbName": "a", "tableIncludes": ["t1"]}, {"dbName": "b"}]}),
        ),
    );
    assert_refused(
        k,
        merge(dbs(), json!({"crossAccount": {"userId": "123"}})),
        "needs both userId and roleName",
    );
    assert_ok(
        k,
        merge(
            dbs(),
            json!({"crossAccount": {"userId": "123", "roleName": "r"}}),
        ),
    );
}

#[test]
fn dbs_identity_fields_are_immutable_and_the_rest_is_not() {
    let k = "DbsBackupPlan";
    let billed = merge(
        dbs(),
        json!({"billing": {"payType": "prepay", "period": "Month", "usedTime": 1}}),
    );
    // Mutable: name, schedule, storage, source endpoint, suspend, deletionPolicy.
    assert_update(
        k,
        billed.clone(),
        merge(
            billed.clone(),
            json!({"planName": "q", "suspend": true, "deletionPolicy": "Delete",
                   "schedule": {"days": ["Friday"], "startTime": "03:00"},
                   "storage": {"retentionDays": 60},
                   "source": {"userName": "other"}}),
        ),
        None,
    );
    for (patch, msg) in [
        (json!({"region": "cn-shanghai"}), "region is immutable"),
        (
            json!({"databaseType": "MariaDB"}),
            "databaseType is immutable",
        ),
        (
            json!({"instanceClass": "large"}),
            "instanceClass is immutable",
        ),
        (
            json!({"backupMethod": "physical"}),
            "backupMethod is immutable",
        ),
        (json!({"billing": {"usedTime": 2}}), "billing is immutable"),
        (json!({"billing": null}), "billing is immutable"),
        (
            json!({"backupPlanId": "dbs123"}),
            "backupPlanId is immutable",
        ),
    ] {
        assert_update(k, billed.clone(), merge(billed.clone(), patch), Some(msg));
    }
    // Adding billing later is refused as well.
    assert_update(k, dbs(), billed, Some("billing is immutable"));
}

// ---------------------------------------------------------------- OpenAPI validation present

#[test]
fn openapi_enums_ranges_and_patterns_are_in_the_schema() {
    // kube-cel evaluates only CEL; these OpenAPI keywords are enforced by the API server, so
    // check that they are generated.
    let rds = schema_of("RdsBackup");
    assert_eq!(
        node(&rds, "spec.backupMethod")["enum"],
        json!(["Logical", "Physical", "Snapshot"])
    );
    assert_eq!(
        node(&rds, "spec.backupMethod")["default"],
        json!("Physical")
    );
    // No schema default: unset means the namespace's or the operator's default.
    assert_eq!(node(&rds, "spec.deletionPolicy")["default"], Value::Null);
    assert_eq!(
        node(&rds, "spec.deletionPolicy")["enum"],
        json!(["Retain", "Delete"])
    );
    assert_eq!(
        node(&rds, "spec.timeout")["pattern"],
        json!(r"^([0-9]+(s|m|h|d))+$")
    );
    assert_eq!(node(&rds, "spec.region")["pattern"], json!(REGION_PATTERN));
    assert_eq!(
        rds["properties"]["spec"]["required"],
        json!(["dbInstanceId", "region"])
    );

    let hbr = schema_of("HbrBackupJob");
    assert_eq!(
        node(&hbr, "spec.sourceType")["enum"],
        json!(["ECS_FILE", "UDM_ECS", "CONTAINER"])
    );
    assert_eq!(node(&hbr, "spec.retention")["minimum"], json!(1.0));
    assert_eq!(
        node(&hbr, "spec.speedLimits.[].startHour")["maximum"],
        json!(23.0)
    );
    assert_eq!(
        node(&hbr, "spec.speedLimits")["x-kubernetes-list-map-keys"],
        json!(["startHour"])
    );

    let dbs = schema_of("DbsBackupPlan");
    assert_eq!(
        node(&dbs, "spec.schedule.startTime")["pattern"],
        json!("^([01][0-9]|2[0-3]):[0-5][0-9]$")
    );
    assert_eq!(
        node(&dbs, "spec.storage.retentionDays")["maximum"],
        json!(1825.0)
    );
    assert_eq!(node(&dbs, "spec.billing.usedTime")["minimum"], json!(1.0));
    assert_eq!(
        node(&dbs, "spec.instanceClass")["enum"],
        json!(["micro", "small", "medium", "large", "xlarge"])
    );
    assert_eq!(
        node(&dbs, "spec.source.instanceType")["enum"],
        json!(["RDS", "ECS", "Express", "Agent", "DDS", "Other"])
    );
    // No password field anywhere in the spec: only a Secret reference.
    let text = serde_json::to_string(&dbs).unwrap().to_lowercase();
    assert!(text.contains("passwordsecretref"));
    assert!(!text.contains("\"password\":"));

    // Conditions merge by type under server-side apply.
    for kind in ["RdsBackup", "HbrBackupJob", "DbsBackupPlan"] {
        let s = schema_of(kind);
        let c = node(&s, "status.conditions");
        assert_eq!(c["x-kubernetes-list-type"], json!("map"), "{kind}");
        assert_eq!(c["x-kubernetes-list-map-keys"], json!(["type"]), "{kind}");
    }
}

#[test]
fn every_spec_field_has_a_description() {
    fn walk(path: &str, n: &Value, missing: &mut Vec<String>) {
        if let Some(props) = n.get("properties").and_then(|p| p.as_object()) {
            for (k, v) in props {
                let p = format!("{path}.{k}");
                if v.get("description")
                    .and_then(|d| d.as_str())
                    .is_none_or(str::is_empty)
                {
                    missing.push(p.clone());
                }
                walk(&p, v, missing);
            }
        }
        if let Some(items) = n.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
    }
    for kind in ["RdsBackup", "HbrBackupJob", "DbsBackupPlan"] {
        let s = schema_of(kind);
        let mut missing = Vec::new();
        walk("spec", &s["properties"]["spec"], &mut missing);
        walk("status", &s["properties"]["status"], &mut missing);
        // metav1.Condition's own fields carry upstream descriptions; nothing else may lack one.
        assert!(
            missing.is_empty(),
            "{kind}: fields without rustdoc: {missing:?}"
        );
    }
}

// ---------------------------------------------------------------- status round trip

#[test]
fn empty_status_serialises_to_empty_object() {
    assert_eq!(
        serde_json::to_value(RdsBackupStatus::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(HbrBackupJobStatus::default()).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(DbsBackupPlanStatus::default()).unwrap(),
        json!({})
    );
    let s: RdsBackupStatus = serde_json::from_value(json!({"phase": "Running", "progress": 40,
        "pendingCreate": {"token": "t", "startedAt": "2026-01-02T03:04:05Z"}}))
    .unwrap();
    assert_eq!(s.phase, Some(RdsBackupPhase::Running));
    assert_eq!(s.pending_create.unwrap().token, "t");
}

// ---------------------------------------------------------------- crds/ drift

/// Regenerate with: `UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crds_dir_is_up_to_date`
#[test]
fn crds_dir_is_up_to_date() {
    let dir = root().join("crds");
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    let mut expected_files = Vec::new();
    let mut stale = Vec::new();
    for crd in all_crds() {
        let name = crd_file_name(&crd);
        let want = crd_yaml(&crd).unwrap();
        let path = dir.join(&name);
        expected_files.push(name.clone());
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(name);
        }
    }
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") && !expected_files.contains(n))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    if update {
        for e in &extra {
            std::fs::remove_file(dir.join(e)).unwrap();
        }
        return;
    }
    assert!(
        stale.is_empty() && extra.is_empty(),
        "crds/ is out of date (stale: {stale:?}, unexpected: {extra:?}). Regenerate with:\n  \
         UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crds_dir_is_up_to_date"
    );
}

#[test]
fn crds_yaml_is_the_concatenation_of_all_crds() {
    let all = crds_yaml().unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&all)
        .map(|d| {
            serde_norway::from_value::<Value>(serde_norway::Value::deserialize(d).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(docs.len(), all_crds().len());
    assert_eq!(docs.len(), 8);
    for (doc, crd) in docs.iter().zip(all_crds()) {
        assert_eq!(doc, &serde_json::to_value(&crd).unwrap());
    }
}

// ---------------------------------------------------------------- examples

fn example(name: &str) -> Value {
    let p = root().join("examples").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The OpenAPI keywords our schemas use (type, enum, pattern, ranges, lengths, required,
/// unknown fields), checked the way the API server does; returns the violations.
fn openapi_violations(path: &str, schema: &Value, v: &Value, out: &mut Vec<String>) {
    let mut bad = |m: String| out.push(format!("{path}: {m}"));
    if v.is_null() {
        if schema.get("nullable") != Some(&json!(true)) {
            bad("null not allowed".into());
        }
        return;
    }
    if let Some(e) = schema.get("enum").and_then(|e| e.as_array())
        && !e.contains(v)
    {
        bad(format!("{v} not in {e:?}"));
    }
    if let Some(n) = v.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            bad(format!("{n} below minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            bad(format!("{n} above maximum"));
        }
    }
    if let Some(st) = v.as_str() {
        let len = st.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            bad(format!("{st:?} shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            bad(format!("{st:?} longer than maxLength"));
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(p).unwrap().is_match(st)
        {
            bad(format!("{st:?} does not match {p}"));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !type_ok {
        bad(format!("{v} is not of type {ty:?}"));
        return;
    }
    if let Some(items) = v.as_array() {
        if schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| items.len() as u64 > m)
        {
            bad("too many items".into());
        }
        for (i, it) in items.iter().enumerate() {
            openapi_violations(&format!("{path}[{i}]"), &schema["items"], it, out);
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(r.as_str().unwrap()) {
                out.push(format!("{path}: missing required {r}"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => openapi_violations(&format!("{path}.{k}"), ps, val, out),
                None if path.is_empty()
                    && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                None if schema.get("x-kubernetes-preserve-unknown-fields")
                    == Some(&json!(true))
                    || schema.get("additionalProperties").is_some() => {}
                None => out.push(format!(
                    "{path}: unknown field {k:?} (the API server would drop it)"
                )),
            }
        }
    }
}

#[test]
fn openapi_checker_catches_what_it_should() {
    let s = schema_of("RdsBackup");
    let mut v = Vec::new();
    openapi_violations(
        "",
        &s,
        &wrap(
            "RdsBackup",
            json!({"region": "Hangzhou", "dbInstanceId": "rm-1", "backupMethod": "Fast",
                   "backupRetentionPeriod": 9999, "dbName": ["typo"]}),
        ),
        &mut v,
    );
    let all = v.join("\n");
    for part in [
        "does not match",
        "not in",
        "above maximum",
        "unknown field \"dbName\"",
    ] {
        assert!(all.contains(part), "{part} not reported in {all}");
    }
}

fn assert_example_valid(kind: &str, v: &Value) {
    let mut violations = Vec::new();
    openapi_violations("", &schema_of(kind), v, &mut violations);
    assert!(violations.is_empty(), "example {kind}: {violations:?}");
    let errs = cel(kind, v, None);
    assert!(errs.is_empty(), "example {kind} refused by CEL: {errs:?}");
    let errs = cel(kind, v, Some(v));
    assert!(
        errs.is_empty(),
        "example {kind} no-op update refused: {errs:?}"
    );
}

#[test]
fn examples_parse_and_validate() {
    let rds_v = example("rds-backup.yaml");
    let rds: RdsBackup = serde_json::from_value(rds_v.clone()).unwrap();
    assert_eq!(rds.spec.db_instance_id, "rm-demo01");
    assert_eq!(rds.spec.region, "cn-hangzhou");
    assert_example_valid("RdsBackup", &rds_v);

    let adopt_v = example("rds-backup-adopt.yaml");
    let adopt: RdsBackup = serde_json::from_value(adopt_v.clone()).unwrap();
    assert_eq!(adopt.spec.backup_id.as_deref(), Some("1529000001"));
    assert_eq!(adopt.spec.backup_job_id, None);
    assert!(adopt.spec.management_policy.is_observe_only());
    assert_eq!(
        adopt.spec.credentials_ref.as_ref().map(|r| r.name.as_str()),
        Some("aliyun-credentials")
    );
    assert_example_valid("RdsBackup", &adopt_v);

    let hbr_v = example("hbr-backup-job.yaml");
    let hbr: HbrBackupJob = serde_json::from_value(hbr_v.clone()).unwrap();
    assert_eq!(hbr.spec.instance_id.as_deref(), Some("i-demo01"));
    assert_example_valid("HbrBackupJob", &hbr_v);

    let dbs_v = example("dbs-backup-plan.yaml");
    let dbs: DbsBackupPlan = serde_json::from_value(dbs_v.clone()).unwrap();
    assert_eq!(dbs.spec.source.instance_id.as_deref(), Some("rm-demo01"));
    assert_example_valid("DbsBackupPlan", &dbs_v);

    let creds: Secret = serde_json::from_value(example("credentials-secret.yaml")).unwrap();
    let data = creds.string_data.unwrap();
    assert!(data.contains_key(credential_keys::ACCESS_KEY_ID));
    assert!(data.contains_key(credential_keys::ACCESS_KEY_SECRET));
    let creds_name = creds.metadata.name.unwrap();
    for r in [
        rds.spec.credentials_ref,
        hbr.spec.credentials_ref,
        dbs.spec.credentials_ref.clone(),
    ] {
        assert_eq!(r.unwrap().name, creds_name);
    }

    for (file, kind) in [
        ("rds-backup-schedule.yaml", "RdsBackupSchedule"),
        ("rds-backup-schedule-every-minute.yaml", "RdsBackupSchedule"),
        ("hbr-backup-schedule.yaml", "HbrBackupSchedule"),
    ] {
        let v = example(file);
        assert_example_valid(kind, &v);
        assert_eq!(
            v["spec"]["template"]["spec"]["credentialsRef"]["name"],
            creds_name.as_str()
        );
    }
    let rs: RdsBackupSchedule =
        serde_json::from_value(example("rds-backup-schedule.yaml")).unwrap();
    assert_eq!(rs.spec.schedule.template.spec.db_instance_id, "rm-demo01");
    // The sandbox's schedule: its own instance, so it never waits for the other examples.
    let every_minute: RdsBackupSchedule =
        serde_json::from_value(example("rds-backup-schedule-every-minute.yaml")).unwrap();
    assert_eq!(every_minute.spec.schedule.schedule, "* * * * *");
    assert_eq!(
        every_minute.spec.schedule.template.spec.db_instance_id,
        "rm-demo02"
    );
    let hs: HbrBackupSchedule =
        serde_json::from_value(example("hbr-backup-schedule.yaml")).unwrap();
    assert_eq!(
        hs.spec.schedule.template.spec.instance_id.as_deref(),
        Some("i-demo01")
    );

    let pw: Secret = serde_json::from_value(example("dbs-password-secret.yaml")).unwrap();
    let pw_ref = dbs.spec.source.password_secret_ref.unwrap();
    assert_eq!(pw.metadata.name.unwrap(), pw_ref.name);
    assert!(pw.string_data.unwrap().contains_key(&pw_ref.key));
}

#[test]
fn every_example_file_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "credentials-secret.yaml",
            "dbs-backup-plan.yaml",
            "dbs-password-secret.yaml",
            "dbs-restore-task.yaml",
            "hbr-backup-job.yaml",
            "hbr-backup-schedule.yaml",
            "hbr-restore-job.yaml",
            "rds-backup-adopt.yaml",
            "rds-backup-schedule-every-minute.yaml",
            "rds-backup-schedule.yaml",
            "rds-backup.yaml",
            "rds-restore-tables.yaml",
            "rds-restore.yaml"
        ]
    );
}

// ---------------------------------------------------------------- docs/api-mapping.md

/// Request parameters of the seed API pages (`../shared/seeds/`), per operation.
const SEED_PARAMETERS: &[(&str, &[&str])] = &[
    (
        "CreateBackup",
        &[
            "DBInstanceId",
            "DBName",
            "BackupStrategy",
            "BackupMethod",
            "BackupType",
            "BackupRetentionPeriod",
        ],
    ),
    (
        "CreateBackupJob",
        &[
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
        ],
    ),
    (
        "CreateAndStartBackupPlan",
        &[
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
        ],
    ),
    ("StartBackupPlan", &["BackupPlanId", "ClientToken"]),
];

#[test]
fn api_mapping_doc_covers_every_seed_parameter() {
    let doc = std::fs::read_to_string(root().join("docs/api-mapping.md")).unwrap();
    for (op, params) in SEED_PARAMETERS {
        // The section of this operation runs from its heading to the next `## `/`### ` heading.
        let heading = doc
            .lines()
            .find(|l| l.starts_with('#') && l.contains(&format!("`{op}`")))
            .unwrap_or_else(|| panic!("docs/api-mapping.md has no section for {op}"));
        let start = doc.find(heading).unwrap() + heading.len();
        let rest = &doc[start..];
        let end = rest.find("\n#").unwrap_or(rest.len());
        let section = &rest[..end];
        for p in *params {
            assert!(
                section.contains(&format!("| `{p}` |")),
                "docs/api-mapping.md: {op} has no row for `{p}`"
            );
        }
    }
}

#[test]
fn every_spec_string_and_list_is_bounded() {
    // Bounded sizes keep the API server's CEL cost estimates (e.g. of `self == oldSelf`) small.
    fn walk(path: &str, n: &Value, missing: &mut Vec<String>) {
        match n.get("type").and_then(|t| t.as_str()) {
            Some("string")
                if n.get("maxLength").is_none()
                    && n.get("enum").is_none()
                    && n.get("format").is_none() =>
            {
                missing.push(format!("{path} (maxLength)"));
            }
            Some("array") if n.get("maxItems").is_none() => {
                missing.push(format!("{path} (maxItems)"));
            }
            _ => {}
        }
        if let Some(props) = n.get("properties").and_then(|p| p.as_object()) {
            for (k, v) in props {
                walk(&format!("{path}.{k}"), v, missing);
            }
        }
        if let Some(items) = n.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
    }
    for kind in ["RdsBackup", "HbrBackupJob", "DbsBackupPlan"] {
        let s = schema_of(kind);
        let mut missing = Vec::new();
        walk("spec", &s["properties"]["spec"], &mut missing);
        assert!(missing.is_empty(), "{kind}: unbounded: {missing:?}");
    }
}

// ---------------------------------------------------------------- restore kinds

fn rds_restore() -> Value {
    json!({"region": "cn-hangzhou", "source": {"backupRef": {"name": "nightly"}}})
}

#[test]
fn rds_restore_rules() {
    let k = "RdsRestore";
    assert_ok(k, rds_restore());
    assert_ok(
        k,
        json!({"region": "cn-hangzhou", "source": {"dbInstanceId": "rm-1", "backupId": "42"},
               "clone": {"payType": "Prepaid", "period": "Month", "usedTime": 3,
                         "dbInstanceStorage": 100}}),
    );
    let two = json!({"region": "cn-hangzhou",
        "source": {"dbInstanceId": "rm-1", "backupId": "42", "restoreTime": "2026-01-01T00:00:00Z"}});
    assert_refused(k, two, "exactly one of backupRef, backupId or restoreTime");
    assert_refused(
        k,
        json!({"region": "cn-hangzhou", "source": {}}),
        "exactly one of backupRef, backupId or restoreTime",
    );
    assert_refused(
        k,
        json!({"region": "cn-hangzhou", "source": {"backupId": "42"}}),
        "need dbInstanceId",
    );
    assert_refused(
        k,
        merge(rds_restore(), json!({"source": {"dbInstanceId": "rm-1"}})),
        "leave dbInstanceId out",
    );
    assert_refused(
        k,
        merge(rds_restore(), json!({"clone": {"payType": "Prepaid"}})),
        "needs period and usedTime",
    );
    assert_refused(
        k,
        merge(rds_restore(), json!({"clone": {"dbInstanceStorage": 101}})),
        "steps of 5 GB",
    );
    // Tables: needs tables and a confirmation; never the same name.
    let tables = merge(
        rds_restore(),
        json!({"mode": "Tables",
               "tables": [{"database": "orders", "tables": [{"name": "t1", "newName": "t1_r"}]}],
               "overwrite": {"confirmTargetId": "rm-1"}}),
    );
    assert_ok(k, tables.clone());
    assert_refused(
        k,
        merge(tables.clone(), json!({"overwrite": null})),
        "set overwrite.confirmTargetId",
    );
    assert_refused(
        k,
        merge(tables.clone(), json!({"tables": []})),
        "needs at least one entry in tables",
    );
    assert_refused(
        k,
        merge(
            tables.clone(),
            json!({"tables": [{"database": "orders", "tables": [{"name": "t1", "newName": "t1"}]}]}),
        ),
        "never replaces existing data",
    );
    assert_ok(
        k,
        merge(
            tables.clone(),
            json!({"tables": [{"database": "orders", "newDatabase": "orders_r"}]}),
        ),
    );
    assert_refused(
        k,
        merge(tables.clone(), json!({"clone": {"payType": "Postpaid"}})),
        "clone applies only to mode Clone",
    );
    assert_refused(
        k,
        merge(rds_restore(), json!({"tables": tables["tables"].clone()})),
        "tables applies only to mode Tables",
    );
    // A restore is an event: the spec never changes.
    assert_update(
        k,
        rds_restore(),
        merge(rds_restore(), json!({"dryRun": true})),
        Some("immutable"),
    );
}

fn hbr_restore() -> Value {
    json!({"region": "cn-hangzhou", "source": {"backupJobRef": {"name": "web"}},
           "target": {"restoreType": "UDM_ECS_ROLLBACK", "instanceId": "i-1"},
           "overwrite": {"confirmTargetId": "i-1"}})
}

#[test]
fn hbr_restore_rules() {
    let k = "HbrRestoreJob";
    assert_ok(k, hbr_restore());
    assert_refused(
        k,
        merge(hbr_restore(), json!({"overwrite": null})),
        "set overwrite.confirmTargetId",
    );
    assert_refused(
        k,
        merge(hbr_restore(), json!({"source": {"snapshotId": "s-1"}})),
        "exactly one of backupJobRef or snapshotId",
    );
    let raw = json!({"region": "cn-hangzhou",
        "source": {"sourceType": "ECS_FILE", "snapshotId": "s-1"},
        "target": {"restoreType": "ECS_FILE", "instanceId": "i-1", "path": "/restore"},
        "overwrite": {"confirmTargetId": "i-1"}});
    assert_refused(k, raw.clone(), "needs snapshotHash and vaultId");
    assert_ok(
        k,
        merge(
            raw.clone(),
            json!({"source": {"snapshotHash": "h", "vaultId": "v-1"}}),
        ),
    );
    assert_refused(
        k,
        merge(
            raw.clone(),
            json!({"source": {"snapshotHash": "h", "vaultId": "v-1"}, "target": {"path": null}}),
        ),
        "ECS_FILE needs instanceId and path",
    );
    assert_refused(
        k,
        merge(
            hbr_restore(),
            json!({"target": {"restoreType": "OSS", "instanceId": null}}),
        ),
        "OSS needs bucket",
    );
    assert_update(
        k,
        hbr_restore(),
        merge(hbr_restore(), json!({"target": {"instanceId": "i-2"}})),
        Some("immutable"),
    );
}

fn dbs_restore() -> Value {
    json!({"region": "cn-hangzhou",
           "source": {"backupPlanRef": {"name": "orders"}, "backupSetId": "set-1"},
           "destination": {"instanceType": "RDS", "instanceId": "rm-1", "userName": "u",
                           "passwordSecretRef": {"name": "pw", "key": "password"}},
           "objects": [{"database": "orders", "newDatabase": "orders_r"}],
           "overwrite": {"confirmTargetId": "rm-1"}})
}

#[test]
fn dbs_restore_rules() {
    let k = "DbsRestoreTask";
    assert_ok(k, dbs_restore());
    assert_refused(
        k,
        merge(dbs_restore(), json!({"overwrite": null})),
        "set overwrite.confirmTargetId",
    );
    assert_refused(
        k,
        merge(
            dbs_restore(),
            json!({"source": {"restoreTime": "2026-01-01T00:00:00Z"}}),
        ),
        "exactly one of backupSetId, restoreTime or latestBackupSet",
    );
    assert_ok(
        k,
        merge(
            dbs_restore(),
            json!({"source": {"backupSetId": null, "latestBackupSet": true}}),
        ),
    );
    assert_refused(
        k,
        merge(dbs_restore(), json!({"source": {"latestBackupSet": true}})),
        "exactly one of backupSetId, restoreTime or latestBackupSet",
    );
    assert_refused(
        k,
        merge(dbs_restore(), json!({"source": {"backupPlanId": "dbs1"}})),
        "exactly one of backupPlanRef or backupPlanId",
    );
    assert_refused(
        k,
        merge(dbs_restore(), json!({"destination": {"instanceId": null}})),
        "needs instanceId",
    );
    assert_refused(
        k,
        merge(
            dbs_restore(),
            json!({"destination": {"passwordSecretRef": null}}),
        ),
        "go together",
    );
    assert_ok(
        k,
        merge(
            dbs_restore(),
            json!({"destination": {"instanceType": "Other", "instanceId": null,
                                   "ip": "10.0.0.1", "port": 3306},
                   "overwrite": {"confirmTargetId": "10.0.0.1:3306"}}),
        ),
    );
    assert_update(
        k,
        dbs_restore(),
        merge(
            dbs_restore(),
            json!({"objects": [{"database": "a", "newDatabase": "b"}]}),
        ),
        Some("immutable"),
    );
}

#[test]
fn restore_examples_parse_and_validate() {
    for (file, kind) in [
        ("rds-restore.yaml", "RdsRestore"),
        ("rds-restore-tables.yaml", "RdsRestore"),
        ("hbr-restore-job.yaml", "HbrRestoreJob"),
        ("dbs-restore-task.yaml", "DbsRestoreTask"),
    ] {
        let v = example(file);
        assert_example_valid(kind, &v);
    }
    let clone: RdsRestore = serde_json::from_value(example("rds-restore.yaml")).unwrap();
    assert_eq!(clone.spec.mode, RdsRestoreMode::Clone);
    assert_eq!(
        clone.spec.source.backup_ref.map(|r| r.name).as_deref(),
        Some("nightly-orders")
    );
    let hbr: HbrRestoreJob = serde_json::from_value(example("hbr-restore-job.yaml")).unwrap();
    assert_eq!(hbr.spec.target.target_id(), Some("i-demo01"));
    let dbs: DbsRestoreTask = serde_json::from_value(example("dbs-restore-task.yaml")).unwrap();
    assert_eq!(
        dbs.spec.destination.target_id().as_deref(),
        Some("rm-demo01")
    );
}
