//! The manifests integration tests start from: objects in [`NS`] with the test credentials
//! [`CREDS`], as JSON to adjust with [`with`] before [`create_from`].

use aliyun_backup_operator::cloud::{CredentialSource, StaticCredentials, Target};
use kube::Resource;
use kube::api::PostParams;
use kube::core::NamespaceResourceScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{CREDS, Env, KEY_ID, KEY_SECRET, NS};

/// Name of the Secret with the DBS source password (key `password`) of [`dbs_spec`].
pub const PASSWORD_SECRET: &str = "orders-db-password";

/// A `backup.aliyun.dev/v1alpha1` object of `kind` named `name` in [`NS`].
pub fn manifest(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": kind,
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
    })
}

/// `spec` with the top-level fields of `extra` set (a `null` removes one).
pub fn with(mut spec: Value, extra: Value) -> Value {
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                spec.remove(k);
            } else {
                spec.insert(k.clone(), v.clone());
            }
        }
    }
    spec
}

/// An `RdsBackup` spec: a manual backup of `instance` in `cn-hangzhou`.
pub fn rds_spec(instance: &str) -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "dbInstanceId": instance,
    })
}

/// An `HbrBackupJob` spec: a `UDM_ECS` backup of `i-demo01`, one disk, kept 7 days.
pub fn hbr_udm_spec() -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "sourceType": "UDM_ECS",
        "instanceId": "i-demo01",
        "retention": 7,
        "detail": { "doCopy": false, "snapshotGroup": true, "diskIdList": ["d-1"] },
    })
}

/// A `DbsBackupPlan` spec: plan `<name>-plan` backing up database `orders` of RDS `instance`
/// with the password of [`PASSWORD_SECRET`].
pub fn dbs_spec(name: &str, instance: &str) -> Value {
    json!({
        "region": "cn-hangzhou",
        "credentialsRef": { "name": CREDS },
        "planName": format!("{name}-plan"),
        "databaseType": "MySQL",
        "instanceClass": "micro",
        "backupMethod": "logical",
        "source": {
            "instanceType": "RDS",
            "instanceId": instance,
            "userName": "backup",
            "passwordSecretRef": { "name": PASSWORD_SECRET, "key": "password" }
        },
        "backupObjects": [ { "dbName": "orders" } ],
        "schedule": { "strategyType": "simple", "days": ["Monday", "Thursday"], "startTime": "18:30" },
        "storage": { "type": "system", "retentionDays": 30 },
    })
}

/// Creates the object `manifest` describes.
pub async fn create_from<K>(env: &Env, manifest: Value) -> K
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(manifest).expect("a valid manifest");
    env.api::<K>()
        .create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

/// Where a test's own cloud calls go: `cn-hangzhou` with the emulator's test key.
pub fn test_target() -> Target {
    Target {
        region: "cn-hangzhou".into(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.to_string().into(),
            security_token: None,
        }),
    }
}
