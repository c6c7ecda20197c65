//! Requests whose outcome the API reference leaves open. The emulator accepts what the reference
//! does not say is refused (see "Where the behaviour comes from" in its README); the real cloud
//! might refuse some of them. The operator must handle both: it succeeds when the request is
//! accepted, and is `Stalled` with the cloud's code and message when it is refused (injected
//! here with the emulator's fault rules).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aliyun_backup_operator::cloud::api::CreateBackupRequest;
use aliyun_backup_operator::cloud::{
    AlibabaCloud, CloudProvider, CredentialSource, StaticCredentials, Target,
};
use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsBackupPlanPhase, HbrBackupJob, RdsBackup, RdsBackupPhase,
};
use aliyun_emulator::{Fault, FaultKind};
use common::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::PostParams;
use kube::core::NamespaceResourceScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An error answer with the cloud's message, for every call of `action` (`http_status` 200 is
/// the product's `Success: false` envelope).
fn refusal(product: &str, action: &str, code: &str, http_status: u16, message: &str) -> Fault {
    Fault {
        kind: FaultKind::Error {
            code: code.into(),
            http_status,
            message: Some(message.into()),
        },
        ..Fault::error(Some(action), code, http_status).for_product(product)
    }
}

async fn create<K>(env: &Env, manifest: Value) -> K
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(manifest).unwrap();
    env.api::<K>()
        .create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

fn stalled(conditions: &[Condition]) -> Option<&Condition> {
    conditions
        .iter()
        .find(|c| c.type_ == "Stalled" && c.status == "True")
}

fn rds(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["region"] = json!("cn-hangzhou");
    spec["credentialsRef"] = json!({ "name": CREDS });
    spec["dbInstanceId"] = json!("rm-demo01");
    json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
    })
}

async fn rds_stalled(env: &Env, name: &str) -> Condition {
    let o = wait_for(&env.api::<RdsBackup>(), name, "Stalled", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| stalled(&s.conditions).is_some())
    })
    .await;
    stalled(&o.status.unwrap().conditions).cloned().unwrap()
}

async fn rds_succeeded(env: &Env, name: &str) -> RdsBackup {
    wait_for(&env.api::<RdsBackup>(), name, "Succeeded", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(RdsBackupPhase::Succeeded))
    })
    .await
}

/// `CreateBackup` documents `BackupStrategy` for MySQL logical and SQL Server physical backups;
/// it does not say that a MySQL physical backup with it is refused.
#[tokio::test]
async fn rds_backup_strategy_on_a_physical_backup_accepted_or_refused() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let spec = json!({ "backupMethod": "Physical", "backupStrategy": "instance" });
    let _: RdsBackup = create(&env, rds("accepted", spec.clone())).await;
    rds_succeeded(&env, "accepted").await;
    let call = env
        .emulator
        .calls()
        .of("CreateBackup")
        .next()
        .cloned()
        .unwrap();
    assert_eq!(call.params.get("BackupStrategy").unwrap(), "instance");
    assert_eq!(call.params.get("BackupMethod").unwrap(), "Physical");

    let message = "BackupStrategy can only be specified for a logical backup of a MySQL instance.";
    env.emulator.inject_fault(refusal(
        "RDS",
        "CreateBackup",
        "InvalidParameter",
        400,
        message,
    ));
    let _: RdsBackup = create(&env, rds("refused", spec)).await;
    let c = rds_stalled(&env, "refused").await;
    // Refused for good: the immutable object fails, the message keeps the cloud's answer.
    assert_eq!(c.reason, "CreateRefused");
    let o = env.api::<RdsBackup>().get("refused").await.unwrap();
    assert_eq!(
        o.status.unwrap().phase,
        Some(aliyun_backup_operator::crd::RdsBackupPhase::Failed)
    );
    assert!(
        c.message.contains("CreateBackup failed: InvalidParameter") && c.message.contains(message),
        "{c:#?}"
    );
    env.stop_operator().await;
}

/// 20 manual backups per instance and UTC day; the 21st is refused with the documented
/// `Exceeded.BackupTimes` (HTTP 403). That is not a credentials problem: `Stalled` with
/// `CloudRequestRejected` (not `CloudForbidden`), and created once the next day starts.
#[tokio::test]
async fn rds_daily_backup_limit_is_a_rejected_request_not_a_refused_key() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_millis(1))).await;
    // Start at the beginning of a UTC day so that all backups fall on the same day.
    let now = env.emulator.now_ms();
    env.emulator.advance_time(Duration::from_millis(
        u64::try_from(86_400_000 - now.rem_euclid(86_400_000) + 1_000).unwrap(),
    ));
    let cloud = AlibabaCloud::new(env.operator_config().cloud).unwrap();
    let rds_api = cloud.rds(&Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.to_string().into(),
            security_token: None,
        }),
    });
    for _ in 0..20 {
        rds_api
            .create_backup(&CreateBackupRequest {
                db_instance_id: "rm-demo01".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        env.emulator.advance_time(Duration::from_millis(10));
    }
    env.start_operator().await;
    let _: RdsBackup = create(&env, rds("twenty-first", json!({}))).await;
    let c = rds_stalled(&env, "twenty-first").await;
    assert_eq!(c.reason, "CloudRequestRejected");
    assert!(
        c.message.contains("Exceeded.BackupTimes")
            && c.message.contains("The backup times exceeds."),
        "{c:#?}"
    );
    assert_eq!(env.emulator.calls().count_code("CreateBackup", "OK"), 20);
    // The next day the create is accepted.
    env.emulator.advance_time(Duration::from_secs(86_400));
    rds_succeeded(&env, "twenty-first").await;
    assert_eq!(env.emulator.calls().count_code("CreateBackup", "OK"), 21);
    env.stop_operator().await;
}

fn dbs(name: &str) -> Value {
    json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "DbsBackupPlan",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "planName": format!("{name}-plan"),
            "databaseType": "MySQL",
            "instanceClass": "micro",
            "backupMethod": "logical",
            "source": {
                "instanceType": "RDS",
                "instanceId": "rm-demo01",
                "userName": "backup",
                "passwordSecretRef": { "name": "db-password", "key": "password" }
            },
            "billing": { "period": "Month" },
        }
    })
}

/// `CreateAndStartBackupPlan` requires `BackupPeriod` and `BackupStartTime` when
/// `BackupStrategyType` `simple` is specified; a plan without a schedule sends no
/// `BackupStrategyType` (and here `Period` without `UsedTime`, which the reference does not
/// forbid either).
#[tokio::test]
async fn dbs_plan_without_a_schedule_accepted_or_refused() {
    let mut env = Env::start().await;
    env.put_secret("db-password", &[("password", "CANARY-open-outcomes")])
        .await;
    env.start_operator().await;
    let _: DbsBackupPlan = create(&env, dbs("unscheduled")).await;
    wait_for(&env.api::<DbsBackupPlan>(), "unscheduled", "Running", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(DbsBackupPlanPhase::Running))
    })
    .await;
    let call = env
        .emulator
        .calls()
        .of("CreateAndStartBackupPlan")
        .next()
        .cloned()
        .unwrap();
    assert_eq!(call.params.get("BackupStrategyType"), None);
    assert_eq!(call.params.get("BackupPeriod"), None);
    assert_eq!(call.params.get("UsedTime"), None);

    let message = "The parameter BackupPeriod is required when BackupStrategyType is simple.";
    env.emulator.inject_fault(refusal(
        "DBS",
        "CreateAndStartBackupPlan",
        "Param.NotFound",
        200,
        message,
    ));
    let _: DbsBackupPlan = create(&env, dbs("refused")).await;
    let o = wait_for(&env.api::<DbsBackupPlan>(), "refused", "Stalled", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| stalled(&s.conditions).is_some())
    })
    .await;
    let status = o.status.unwrap();
    let c = stalled(&status.conditions).cloned().unwrap();
    // Refused for good: the plan fails until its spec changes.
    assert_eq!(c.reason, "CreateRefused");
    assert_eq!(
        status.phase,
        Some(aliyun_backup_operator::crd::DbsBackupPlanPhase::Failed)
    );
    assert!(
        c.message.contains("Param.NotFound") && c.message.contains(message),
        "{c:#?}"
    );
    env.stop_operator().await;
}

/// An unknown ECS instance: the emulator refuses `CreateBackupJob` with its own code
/// `InstanceNotExist` (no documented code was found): `Stalled`, naming code and message.
#[tokio::test]
async fn hbr_job_for_an_unknown_instance_is_stalled_with_the_cloud_message() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let _: HbrBackupJob = create(
        &env,
        json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "HbrBackupJob",
            "metadata": { "name": "nowhere", "namespace": NS },
            "spec": {
                "region": "cn-hangzhou",
                "credentialsRef": { "name": CREDS },
                "sourceType": "UDM_ECS",
                "instanceId": "i-missing",
                "retention": 7,
            }
        }),
    )
    .await;
    let o = wait_for(&env.api::<HbrBackupJob>(), "nowhere", "Stalled", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| stalled(&s.conditions).is_some())
    })
    .await;
    let c = stalled(&o.status.unwrap().conditions).cloned().unwrap();
    assert!(
        c.message.contains("InstanceNotExist") && c.message.contains("i-missing"),
        "{c:#?}"
    );
    env.stop_operator().await;
}
