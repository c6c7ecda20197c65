//! `RdsBackup` against cloud behaviour the emulator does not produce on its own, injected by
//! wrapping the real cloud client: `DescribeBackups` lagging behind a finished task, and a
//! backup set whose `StoreStatus` is `Disabled`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aliyun_backup_operator::cloud::api::{
    CreateBackupRequest, CreateBackupResponse, DeleteBackupRequest, DeleteBackupResponse,
    DescribeBackupTasksRequest, DescribeBackupTasksResponse, DescribeBackupsRequest,
    DescribeBackupsResponse,
};
use aliyun_backup_operator::cloud::{
    AlibabaCloud, CloudError, CloudProvider, DbsApi, DbsRestoreApi, HbrApi, HbrRestoreApi, RdsApi,
    RdsRestoreApi, Target,
};
use aliyun_backup_operator::crd::{DeletionPolicy, RdsBackup, RdsBackupPhase, RdsBackupSetDetails};
use common::*;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// What the wrapper changes in `DescribeBackups(BackupId)` answers.
#[derive(Default)]
struct Quirks {
    /// Answer this many lookups by id with an empty list (the API lagging behind the task).
    lagging_lookups: AtomicUsize,
    /// Report every backup set as `StoreStatus: Disabled`.
    store_disabled: bool,
    /// Lookups by id seen.
    lookups: AtomicUsize,
}

struct QuirkyProvider {
    inner: AlibabaCloud,
    quirks: Arc<Quirks>,
}

impl CloudProvider for QuirkyProvider {
    fn dbs(&self, target: &Target) -> Arc<dyn DbsApi> {
        self.inner.dbs(target)
    }
    fn rds(&self, target: &Target) -> Arc<dyn RdsApi> {
        Arc::new(QuirkyRds {
            inner: self.inner.rds(target),
            quirks: self.quirks.clone(),
        })
    }
    fn hbr(&self, target: &Target) -> Arc<dyn HbrApi> {
        self.inner.hbr(target)
    }
    fn rds_restore(&self, target: &Target) -> Arc<dyn RdsRestoreApi> {
        self.inner.rds_restore(target)
    }
    fn hbr_restore(&self, target: &Target) -> Arc<dyn HbrRestoreApi> {
        self.inner.hbr_restore(target)
    }
    fn dbs_restore(&self, target: &Target) -> Arc<dyn DbsRestoreApi> {
        self.inner.dbs_restore(target)
    }
}

struct QuirkyRds {
    inner: Arc<dyn RdsApi>,
    quirks: Arc<Quirks>,
}

#[async_trait::async_trait]
impl RdsApi for QuirkyRds {
    async fn create_backup(
        &self,
        req: &CreateBackupRequest,
    ) -> Result<CreateBackupResponse, CloudError> {
        self.inner.create_backup(req).await
    }
    async fn describe_backup_tasks(
        &self,
        req: &DescribeBackupTasksRequest,
    ) -> Result<DescribeBackupTasksResponse, CloudError> {
        self.inner.describe_backup_tasks(req).await
    }
    async fn describe_backups(
        &self,
        req: &DescribeBackupsRequest,
    ) -> Result<DescribeBackupsResponse, CloudError> {
        let mut resp = self.inner.describe_backups(req).await?;
        if req.backup_id.is_some() {
            self.quirks.lookups.fetch_add(1, Ordering::SeqCst);
            let lag = self
                .quirks
                .lagging_lookups
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lag {
                resp.items.clear();
            }
        }
        if self.quirks.store_disabled {
            for b in &mut resp.items {
                b.store_status = Some("Disabled".into());
            }
        }
        Ok(resp)
    }
    async fn delete_backup(
        &self,
        req: &DeleteBackupRequest,
    ) -> Result<DeleteBackupResponse, CloudError> {
        self.inner.delete_backup(req).await
    }
}

async fn start(env: &mut Env, quirks: Arc<Quirks>) {
    let mut cfg = env.operator_config();
    let inner = AlibabaCloud::new(cfg.cloud.clone()).unwrap();
    cfg.cloud_provider = Some(Arc::new(QuirkyProvider { inner, quirks }));
    env.start_operator_with(cfg).await;
}

fn backup(name: &str, policy: DeletionPolicy) -> RdsBackup {
    let mut b: RdsBackup = serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": "rm-demo01",
        }
    }))
    .unwrap();
    b.spec.deletion_policy = Some(policy);
    b
}

fn stalled_reason(o: &RdsBackup) -> Option<String> {
    o.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True")
            .map(|c| c.reason.clone())
    })
}

async fn event_reasons(env: &Env, name: &str) -> Vec<String> {
    reasons(&events_for(env, name).await)
}

#[tokio::test]
async fn lagging_describe_backups_is_waited_for_not_failed() {
    let mut env = Env::start().await;
    let quirks = Arc::new(Quirks {
        lagging_lookups: AtomicUsize::new(3),
        ..Quirks::default()
    });
    start(&mut env, quirks.clone()).await;
    let api = env.api::<RdsBackup>();
    // Record waits for the set; Skip (the default) would not read it at all.
    let mut b = backup("lag", DeletionPolicy::Retain);
    b.spec.backup_set_details = RdsBackupSetDetails::Record;
    api.create(&PostParams::default(), &b).await.unwrap();
    let o = wait_for(&api, "lag", "Succeeded", |o| {
        phase(o) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    let s = o.status.unwrap();
    assert!(s.backup_set.is_some(), "{s:#?}");
    assert!(quirks.lookups.load(Ordering::SeqCst) >= 4);
    assert_eq!(quirks.lagging_lookups.load(Ordering::SeqCst), 0);
    let r = event_reasons(&env, "lag").await;
    assert!(r.iter().any(|x| x == "WaitingForBackupSet"), "{r:?}");
    assert!(!r.iter().any(|x| x == "BackupFailed"), "{r:?}");
    assert_eq!(env.calls("CreateBackup"), 1);
    env.stop_operator().await;
}

#[tokio::test]
async fn skip_succeeds_on_the_task_without_waiting_for_a_lagging_listing() {
    let mut env = Env::start().await;
    // DescribeBackups never lists the set: only a backup that reads it would wait.
    let quirks = Arc::new(Quirks {
        lagging_lookups: AtomicUsize::new(usize::MAX),
        ..Quirks::default()
    });
    start(&mut env, quirks.clone()).await;
    let api = env.api::<RdsBackup>();
    api.create(
        &PostParams::default(),
        &backup("quick", DeletionPolicy::Retain),
    )
    .await
    .unwrap();
    let o = wait_for(&api, "quick", "Succeeded", |o| {
        phase(o) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    let s = o.status.unwrap();
    assert!(s.backup_job_id.is_some() && s.backup_id.is_some(), "{s:#?}");
    assert_eq!(s.backup_set, None);
    assert_eq!(quirks.lookups.load(Ordering::SeqCst), 0);
    assert_eq!(env.calls("DescribeBackups"), 0);
    let r = event_reasons(&env, "quick").await;
    assert!(!r.iter().any(|x| x == "WaitingForBackupSet"), "{r:?}");
    env.stop_operator().await;
}

#[tokio::test]
async fn store_status_disabled_stalls_deletion_until_orphaned() {
    let mut env = Env::start().await;
    let quirks = Arc::new(Quirks {
        store_disabled: true,
        ..Quirks::default()
    });
    start(&mut env, quirks).await;
    let api = env.api::<RdsBackup>();
    api.create(
        &PostParams::default(),
        &backup("locked", DeletionPolicy::Delete),
    )
    .await
    .unwrap();
    wait_for(&api, "locked", "Succeeded", |o| {
        phase(o) == Some(RdsBackupPhase::Succeeded)
    })
    .await;
    api.delete("locked", &DeleteParams::default())
        .await
        .unwrap();
    let o = wait_for(&api, "locked", "Stalled deletion", |o| {
        stalled_reason(o).as_deref() == Some("BackupNotDeletable")
    })
    .await;
    assert_eq!(phase(&o), Some(RdsBackupPhase::Deleting));
    let message = o
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message;
    assert!(message.contains("StoreStatus Disabled"), "{message}");
    assert_eq!(env.calls("DeleteBackup"), 0);
    api.patch(
        "locked",
        &PatchParams::default(),
        &Patch::Merge(json!({
            "metadata": { "annotations": { "backup.aliyun.dev/orphan-on-delete": "true" } }
        })),
    )
    .await
    .unwrap();
    wait_gone(&api, "locked").await;
    assert_eq!(env.calls("DeleteBackup"), 0);
    env.stop_operator().await;
}
