//! `import`: manifests that adopt what already exists in the cloud account. The listing uses the
//! operator's cloud client (read-only calls only); the manifests are made by pure functions from
//! what the cloud reported, typed by the operator's CRD structs.

use aliyun_backup_operator::cloud::api::{
    BackupPlanDetail, DescribeBackupJobs2Request, DescribeBackupPlanListRequest,
    DescribeBackupTasksRequest, DescribeBackupsRequest, HbrBackupJob as CloudHbrJob, HbrFilter,
    RdsBackup as CloudRdsSet, RdsBackupJob as CloudRdsTask,
};
use aliyun_backup_operator::cloud::{DbsApi, HbrApi, RdsApi};
use aliyun_backup_operator::crd::{DbsBackupPlan, HbrBackupJob, RdsBackup};
use serde_json::{Value, json};

use crate::PluginError;

/// Where the manifests go and how they adopt.
#[derive(Clone, Debug)]
pub struct ImportSettings {
    pub namespace: String,
    pub region: String,
    /// The credentials Secret the objects name (`spec.credentialsRef`).
    pub secret: String,
    /// `Manage` instead of `ObserveOnly`.
    pub manage: bool,
}

impl ImportSettings {
    /// The `managementPolicy` of the manifests: `Manage` or `ObserveOnly`.
    pub(crate) fn policy(&self) -> &'static str {
        if self.manage { "Manage" } else { "ObserveOnly" }
    }
}

/// A Kubernetes object name from parts: lower case, `[a-z0-9-]`, at most 63 characters.
pub fn object_name(parts: &[&str]) -> String {
    let raw = parts.join("-").to_ascii_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name: String = name.chars().take(63).collect();
    name.trim_matches('-').to_string()
}

fn metadata(name: &str, s: &ImportSettings) -> Value {
    json!({
        "name": name,
        "namespace": s.namespace,
        "labels": { "app.kubernetes.io/managed-by": "kubectl-aliyun-backup-import" },
    })
}

/// An `RdsBackup` adopting a finished backup set (`spec.backupId`).
pub fn rds_from_set(
    instance: &str,
    set: &CloudRdsSet,
    s: &ImportSettings,
) -> Result<RdsBackup, PluginError> {
    let mut spec = json!({
        "region": s.region,
        "credentialsRef": { "name": s.secret },
        "dbInstanceId": instance,
        "backupId": set.backup_id,
        "managementPolicy": s.policy(),
        "backupSetDetails": "Record",
    });
    if let Some(m) = set.backup_method.as_deref().filter(|m| !m.is_empty()) {
        spec["backupMethod"] = json!(m);
    }
    typed(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": metadata(&object_name(&["rds", instance, &set.backup_id]), s),
        "spec": spec,
    }))
}

/// An `RdsBackup` adopting a backup task (`spec.backupJobId`), for tasks that have no set yet.
pub fn rds_from_task(
    instance: &str,
    task: &CloudRdsTask,
    s: &ImportSettings,
) -> Result<RdsBackup, PluginError> {
    typed(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": metadata(&object_name(&["rds", instance, "task", &task.backup_job_id]), s),
        "spec": {
            "region": s.region,
            "credentialsRef": { "name": s.secret },
            "dbInstanceId": instance,
            "backupJobId": task.backup_job_id,
            "managementPolicy": s.policy(),
        },
    }))
}

/// An `HbrBackupJob` adopting a job (`spec.jobId`). `retention` is required by the CRD but not
/// reported by `DescribeBackupJobs2`; an adopted job is never created, so it is not sent.
pub fn hbr_from_job(job: &CloudHbrJob, s: &ImportSettings) -> Result<HbrBackupJob, PluginError> {
    let mut spec = json!({
        "region": s.region,
        "credentialsRef": { "name": s.secret },
        "sourceType": job.source_type.clone().unwrap_or_else(|| "ECS_FILE".into()),
        "retention": 1,
        "jobId": job.job_id,
        "managementPolicy": s.policy(),
    });
    if let Some(i) = set(&job.instance_id) {
        spec["instanceId"] = json!(i);
    }
    if let Some(v) = set(&job.vault_id) {
        spec["vaultId"] = json!(v);
    }
    typed(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "HbrBackupJob",
        "metadata": metadata(&object_name(&["hbr", &job.job_id]), s),
        "spec": spec,
    }))
}

/// A `DbsBackupPlan` adopting a plan (`spec.backupPlanId`), with the identity fields the
/// operator compares (database type, class, method, source) as the cloud reports them.
pub fn dbs_from_plan(
    plan: &BackupPlanDetail,
    s: &ImportSettings,
) -> Result<DbsBackupPlan, PluginError> {
    let mut source = json!({
        "instanceType": plan.source_endpoint_instance_type.clone().unwrap_or_else(|| "RDS".into()),
    });
    if let Some(i) = set(&plan.source_endpoint_instance_id) {
        source["instanceId"] = json!(i);
    }
    if let Some(r) = set(&plan.source_endpoint_region) {
        source["region"] = json!(r);
    }
    if let Some((ip, port)) = plan
        .source_endpoint_ip_port
        .as_deref()
        .and_then(|ip_port| ip_port.rsplit_once(':'))
        && let Ok(port) = port.parse::<i32>()
    {
        source["ip"] = json!(ip);
        source["port"] = json!(port);
    }
    if let Some(u) = set(&plan.source_endpoint_user_name) {
        source["userName"] = json!(u);
    }
    let plan_name = plan
        .backup_plan_name
        .clone()
        .unwrap_or_else(|| plan.backup_plan_id.clone());
    typed(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "DbsBackupPlan",
        "metadata": metadata(&object_name(&["dbs", &plan.backup_plan_id]), s),
        "spec": {
            "region": s.region,
            "credentialsRef": { "name": s.secret },
            "planName": plan_name,
            "databaseType": plan.database_type.clone().unwrap_or_default(),
            "instanceClass": plan.instance_class.clone().unwrap_or_default(),
            "backupMethod": plan.backup_method.clone().unwrap_or_default(),
            "backupPlanId": plan.backup_plan_id,
            "source": source,
            "managementPolicy": s.policy(),
        },
    }))
}

/// A field the cloud reported with a value (the APIs answer `""` for "none").
fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn typed<K: serde::de::DeserializeOwned>(v: Value) -> Result<K, PluginError> {
    let what = format!(
        "{} {}",
        v["kind"].as_str().unwrap_or_default(),
        v["metadata"]["name"].as_str().unwrap_or_default()
    );
    serde_json::from_value(v).map_err(|e| PluginError::Import(format!("{what}: {e}")))
}

/// What `import` found.
#[derive(Default)]
pub struct Found {
    pub objects: Vec<Value>,
    /// Cloud objects that could not be turned into a manifest, and why.
    pub skipped: Vec<String>,
}

impl Found {
    fn push<K: serde::Serialize>(&mut self, r: Result<K, PluginError>) -> Result<(), PluginError> {
        match r {
            Ok(o) => self.objects.push(serde_json::to_value(o)?),
            Err(e) => self.skipped.push(e.to_string()),
        }
        Ok(())
    }
}

const PAGE: u32 = 100;

/// Lists the cloud objects (read-only) and makes their manifests. RDS needs the instances
/// (`--instance`): RDS lists backups per instance. HBR and DBS are listed for the region,
/// filtered by `instances` when given.
pub async fn list(
    rds: &dyn RdsApi,
    hbr: &dyn HbrApi,
    dbs: &dyn DbsApi,
    instances: &[String],
    s: &ImportSettings,
) -> Result<Found, PluginError> {
    let mut found = Found::default();
    for instance in instances {
        let set_ids = list_rds_sets(rds, instance, s, &mut found).await?;
        list_rds_tasks(rds, instance, &set_ids, s, &mut found).await?;
    }
    for source in ["ECS_FILE", "UDM_ECS", "CONTAINER"] {
        list_hbr_jobs(hbr, source, instances, s, &mut found).await?;
    }
    list_dbs_plans(dbs, instances, s, &mut found).await?;
    Ok(found)
}

/// The manual backup sets of an RDS instance, page by page. Returns their ids.
async fn list_rds_sets(
    rds: &dyn RdsApi,
    instance: &str,
    s: &ImportSettings,
    found: &mut Found,
) -> Result<Vec<String>, PluginError> {
    let mut set_ids = Vec::new();
    let mut page = 1;
    loop {
        let resp = rds
            .describe_backups(&DescribeBackupsRequest {
                db_instance_id: instance.to_string(),
                page_number: Some(page),
                page_size: Some(PAGE),
                ..Default::default()
            })
            .await?;
        let n = resp.items.len();
        for set in resp.items.iter().filter(|b| {
            b.backup_mode
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case("manual"))
        }) {
            set_ids.push(set.backup_id.clone());
            found.push(rds_from_set(instance, set, s))?;
        }
        if n < PAGE as usize || i64::from(page) * i64::from(PAGE) >= resp.total_record_count {
            break;
        }
        page += 1;
    }
    Ok(set_ids)
}

/// The manual backup tasks of an RDS instance that are still going and have no set among
/// `set_ids` yet.
async fn list_rds_tasks(
    rds: &dyn RdsApi,
    instance: &str,
    set_ids: &[String],
    s: &ImportSettings,
    found: &mut Found,
) -> Result<(), PluginError> {
    let tasks = rds
        .describe_backup_tasks(&DescribeBackupTasksRequest {
            db_instance_id: instance.to_string(),
            ..Default::default()
        })
        .await?;
    for t in tasks.items.iter().filter(|t| {
        t.backup_id.as_ref().is_none_or(|id| !set_ids.contains(id))
            && t.backup_status.as_deref().is_none_or(|st| {
                !st.eq_ignore_ascii_case("finished") && !st.eq_ignore_ascii_case("failed")
            })
            && t.job_mode
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case("manual"))
    }) {
        found.push(rds_from_task(instance, t, s))?;
    }
    Ok(())
}

/// The HBR backup jobs of one source type in the region, page by page (of the `instances`,
/// when given).
async fn list_hbr_jobs(
    hbr: &dyn HbrApi,
    source: &str,
    instances: &[String],
    s: &ImportSettings,
    found: &mut Found,
) -> Result<(), PluginError> {
    let mut page = 1;
    loop {
        let mut filters = Vec::new();
        if !instances.is_empty() {
            filters.push(HbrFilter {
                key: "InstanceId".into(),
                operator: Some("IN".into()),
                values: instances.to_vec(),
            });
        }
        let resp = hbr
            .describe_backup_jobs2(&DescribeBackupJobs2Request {
                source_type: Some(source.into()),
                filters,
                page_number: Some(page),
                page_size: Some(99),
                ..Default::default()
            })
            .await?;
        let n = resp.backup_jobs.len();
        for job in resp.backup_jobs.iter().filter(|j| {
            instances.is_empty()
                || j.instance_id
                    .as_ref()
                    .is_some_and(|i| instances.contains(i))
        }) {
            found.push(hbr_from_job(job, s))?;
        }
        if n < 99 || i64::from(page) * 99 >= resp.total_count {
            break;
        }
        page += 1;
    }
    Ok(())
}

/// The DBS backup plans of the region, page by page (of the `instances`, when given).
async fn list_dbs_plans(
    dbs: &dyn DbsApi,
    instances: &[String],
    s: &ImportSettings,
    found: &mut Found,
) -> Result<(), PluginError> {
    let mut page = 0;
    loop {
        let resp = dbs
            .describe_backup_plan_list(&DescribeBackupPlanListRequest {
                region: Some(s.region.clone()),
                page_num: Some(page),
                page_size: Some(PAGE),
                ..Default::default()
            })
            .await?;
        let n = resp.items.len();
        for plan in resp.items.iter().filter(|p| {
            instances.is_empty()
                || p.source_endpoint_instance_id
                    .as_ref()
                    .is_some_and(|i| instances.contains(i))
        }) {
            found.push(dbs_from_plan(plan, s))?;
        }
        if n < PAGE as usize {
            break;
        }
        page += 1;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn settings(manage: bool) -> ImportSettings {
        ImportSettings {
            namespace: "backups".into(),
            region: "cn-hangzhou".into(),
            secret: "creds".into(),
            manage,
        }
    }

    #[test]
    fn names_are_kubernetes_names() {
        assert_eq!(object_name(&["rds", "rm-ABC_1", "123"]), "rds-rm-abc-1-123");
        assert_eq!(object_name(&["x", &"a".repeat(100)]).len(), 63);
        assert_eq!(object_name(&["hbr", "job--1-"]), "hbr-job-1");
    }

    #[test]
    fn rds_set_is_adopted_observe_only_by_default() {
        let set = CloudRdsSet {
            backup_id: "1530000002".into(),
            backup_method: Some("Physical".into()),
            backup_mode: Some("Manual".into()),
            ..Default::default()
        };
        let o = rds_from_set("rm-1", &set, &settings(false)).unwrap();
        assert_eq!(o.metadata.name.as_deref(), Some("rds-rm-1-1530000002"));
        assert_eq!(o.spec.backup_id.as_deref(), Some("1530000002"));
        assert_eq!(o.spec.management_policy.as_str(), "ObserveOnly");
        assert_eq!(o.spec.credentials_ref.as_ref().unwrap().name, "creds");
        let o = rds_from_set("rm-1", &set, &settings(true)).unwrap();
        assert_eq!(o.spec.management_policy.as_str(), "Manage");
    }

    #[test]
    fn hbr_job_and_dbs_plan() {
        let job = CloudHbrJob {
            job_id: "job-abc".into(),
            source_type: Some("ECS_FILE".into()),
            instance_id: Some("i-1".into()),
            vault_id: Some("v-1".into()),
            ..Default::default()
        };
        let o = hbr_from_job(&job, &settings(false)).unwrap();
        assert_eq!(o.spec.job_id.as_deref(), Some("job-abc"));
        assert_eq!(o.spec.vault_id.as_deref(), Some("v-1"));
        // An empty answer is no value (the CRD refuses empty strings).
        let o = hbr_from_job(
            &CloudHbrJob {
                vault_id: Some(String::new()),
                ..job
            },
            &settings(false),
        )
        .unwrap();
        assert_eq!(o.spec.vault_id, None);
        let plan = BackupPlanDetail {
            backup_plan_id: "dbs123".into(),
            backup_plan_name: Some("orders".into()),
            database_type: Some("MySQL".into()),
            instance_class: Some("micro".into()),
            backup_method: Some("logical".into()),
            source_endpoint_instance_type: Some("RDS".into()),
            source_endpoint_instance_id: Some("rm-1".into()),
            source_endpoint_region: Some("cn-hangzhou".into()),
            ..Default::default()
        };
        let o = dbs_from_plan(&plan, &settings(false)).unwrap();
        assert_eq!(o.spec.backup_plan_id.as_deref(), Some("dbs123"));
        assert_eq!(o.spec.source.instance_id.as_deref(), Some("rm-1"));
        let bad = BackupPlanDetail {
            database_type: Some("Nonsense".into()),
            ..plan
        };
        assert!(dbs_from_plan(&bad, &settings(false)).is_err());
    }
}
