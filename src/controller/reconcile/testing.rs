//! Test support for the act unit tests: a scripted fake of the three cloud APIs and a sink
//! that records the writes, so the decision of what to write after each cloud answer is tested
//! with no API server and no emulator (`docs/architecture.md#test-tiers`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::any::Any;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kube::runtime::events::EventType;

use crate::cloud::api::*;
use crate::cloud::{CloudError, ErrorKind, Product};
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::Tracked;
use crate::controller::reconcile::work::{Next, Outcome, Sink, Work};

/// What happened, in order: cloud calls (`call <Action>`), status writes (`write`), annotation
/// patches (`annotate`) and events (`event <Reason>`).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    /// The entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The cloud actions called so far.
    pub fn calls(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter_map(|e| e.strip_prefix("call ").map(str::to_string))
            .collect()
    }
}

type Reply = std::result::Result<Box<dyn Any + Send>, CloudError>;

/// A scripted fake of [`RdsApi`], [`HbrApi`] and [`DbsApi`]: each call must be the next one
/// the script expects and gets the scripted answer; anything else fails the test.
pub struct Script {
    steps: Mutex<VecDeque<(&'static str, Reply)>>,
    /// The log shared with the [`Recorder`].
    pub log: Log,
    /// The requests received, as `Debug` text, in order.
    pub requests: Mutex<Vec<String>>,
}

impl Script {
    /// An empty script (any call fails the test) writing to `log`.
    pub fn new(log: &Log) -> Self {
        Script {
            steps: Mutex::new(VecDeque::new()),
            log: log.clone(),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Expects `action` next and answers it with `reply`.
    pub fn then<T: Any + Send>(
        self,
        action: &'static str,
        reply: std::result::Result<T, CloudError>,
    ) -> Self {
        let reply = reply.map(|r| Box::new(r) as Box<dyn Any + Send>);
        self.steps.lock().unwrap().push_back((action, reply));
        self
    }

    /// Expects `action` next and answers it with `T::default()`.
    pub fn ok<T: Any + Send + Default>(self, action: &'static str) -> Self {
        self.then(action, Ok(T::default()))
    }

    /// Panics unless every scripted call was made.
    pub fn assert_done(&self) {
        let left: Vec<_> = self.steps.lock().unwrap().iter().map(|s| s.0).collect();
        assert!(left.is_empty(), "scripted calls not made: {left:?}");
    }

    fn answer<T: Any, R: Debug>(
        &self,
        action: &'static str,
        req: &R,
    ) -> std::result::Result<T, CloudError> {
        self.log.push(format!("call {action}"));
        self.requests.lock().unwrap().push(format!("{req:?}"));
        let (expected, reply) = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected call {action}: the script is done"));
        assert_eq!(
            expected, action,
            "the script expected {expected}, got {action}"
        );
        reply.map(|b| *b.downcast::<T>().expect("scripted reply of the wrong type"))
    }
}

/// An API error answer of `product`'s `action`.
pub fn api_error(product: Product, action: &str, status: u16, code: &str) -> CloudError {
    CloudError::api(
        product,
        action,
        status,
        Some(code.to_string()),
        Some(format!("{code} (scripted)")),
        Some("req-1".to_string()),
    )
}

/// No answer at all (the outcome of the call is unknown).
pub fn timeout(product: Product, action: &str) -> CloudError {
    CloudError::new(product, action, ErrorKind::Timeout, "timed out (scripted)")
}

#[async_trait]
impl RdsApi for Script {
    async fn create_backup(
        &self,
        req: &CreateBackupRequest,
    ) -> std::result::Result<CreateBackupResponse, CloudError> {
        self.answer("CreateBackup", req)
    }
    async fn describe_backup_tasks(
        &self,
        req: &DescribeBackupTasksRequest,
    ) -> std::result::Result<DescribeBackupTasksResponse, CloudError> {
        self.answer("DescribeBackupTasks", req)
    }
    async fn describe_backups(
        &self,
        req: &DescribeBackupsRequest,
    ) -> std::result::Result<DescribeBackupsResponse, CloudError> {
        self.answer("DescribeBackups", req)
    }
    async fn delete_backup(
        &self,
        req: &DeleteBackupRequest,
    ) -> std::result::Result<DeleteBackupResponse, CloudError> {
        self.answer("DeleteBackup", req)
    }
}

#[async_trait]
impl HbrApi for Script {
    async fn create_backup_job(
        &self,
        req: &CreateBackupJobRequest,
    ) -> std::result::Result<CreateBackupJobResponse, CloudError> {
        self.answer("CreateBackupJob", req)
    }
    async fn describe_backup_jobs2(
        &self,
        req: &DescribeBackupJobs2Request,
    ) -> std::result::Result<DescribeBackupJobs2Response, CloudError> {
        self.answer("DescribeBackupJobs2", req)
    }
    async fn cancel_backup_job(
        &self,
        req: &CancelBackupJobRequest,
    ) -> std::result::Result<CancelBackupJobResponse, CloudError> {
        self.answer("CancelBackupJob", req)
    }
    async fn describe_udm_snapshots(
        &self,
        req: &DescribeUdmSnapshotsRequest,
    ) -> std::result::Result<DescribeUdmSnapshotsResponse, CloudError> {
        self.answer("DescribeUdmSnapshots", req)
    }
    async fn search_historical_snapshots(
        &self,
        req: &SearchHistoricalSnapshotsRequest,
    ) -> std::result::Result<SearchHistoricalSnapshotsResponse, CloudError> {
        self.answer("SearchHistoricalSnapshots", req)
    }
    async fn delete_snapshot(
        &self,
        req: &DeleteSnapshotRequest,
    ) -> std::result::Result<DeleteSnapshotResponse, CloudError> {
        self.answer("DeleteSnapshot", req)
    }
}

#[async_trait]
impl DbsApi for Script {
    async fn create_and_start_backup_plan(
        &self,
        req: &CreateAndStartBackupPlanRequest,
    ) -> std::result::Result<CreateAndStartBackupPlanResponse, CloudError> {
        self.answer("CreateAndStartBackupPlan", req)
    }
    async fn start_backup_plan(
        &self,
        req: &StartBackupPlanRequest,
    ) -> std::result::Result<StartBackupPlanResponse, CloudError> {
        self.answer("StartBackupPlan", req)
    }
    async fn stop_backup_plan(
        &self,
        req: &StopBackupPlanRequest,
    ) -> std::result::Result<StopBackupPlanResponse, CloudError> {
        self.answer("StopBackupPlan", req)
    }
    async fn release_backup_plan(
        &self,
        req: &ReleaseBackupPlanRequest,
    ) -> std::result::Result<ReleaseBackupPlanResponse, CloudError> {
        self.answer("ReleaseBackupPlan", req)
    }
    async fn configure_backup_plan(
        &self,
        req: &ConfigureBackupPlanRequest,
    ) -> std::result::Result<ConfigureBackupPlanResponse, CloudError> {
        self.answer("ConfigureBackupPlan", req)
    }
    async fn modify_backup_plan_name(
        &self,
        req: &ModifyBackupPlanNameRequest,
    ) -> std::result::Result<ModifyBackupPlanNameResponse, CloudError> {
        self.answer("ModifyBackupPlanName", req)
    }
    async fn describe_backup_plan_list(
        &self,
        req: &DescribeBackupPlanListRequest,
    ) -> std::result::Result<DescribeBackupPlanListResponse, CloudError> {
        self.answer("DescribeBackupPlanList", req)
    }
    async fn describe_full_backup_list(
        &self,
        req: &DescribeFullBackupListRequest,
    ) -> std::result::Result<DescribeFullBackupListResponse, CloudError> {
        self.answer("DescribeFullBackupList", req)
    }
}

/// A [`Sink`] that records what would have been written: the status writes (checkpoints and
/// the final commit), annotation patches and events.
pub struct Recorder<K: Tracked> {
    log: Log,
    writes: Arc<Mutex<Vec<K::Status>>>,
    annotations: Arc<Mutex<Vec<serde_json::Value>>>,
    events: Arc<Mutex<Vec<(EventType, String, String)>>>,
    /// Spaces out progress-only writes as in production.
    progress: Arc<crate::controller::operator::context::ProgressGate>,
}

impl<K: Tracked> Clone for Recorder<K> {
    fn clone(&self) -> Self {
        Recorder {
            log: self.log.clone(),
            writes: self.writes.clone(),
            annotations: self.annotations.clone(),
            events: self.events.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<K: Tracked> Recorder<K> {
    /// A recorder writing its entries to `log`.
    pub fn new(log: &Log) -> Self {
        Recorder {
            log: log.clone(),
            writes: Arc::default(),
            annotations: Arc::default(),
            events: Arc::default(),
            progress: Arc::default(),
        }
    }

    /// The statuses written, in order.
    pub fn writes(&self) -> Vec<K::Status> {
        self.writes.lock().unwrap().clone()
    }

    /// The annotation patches, in order.
    pub fn annotations(&self) -> Vec<serde_json::Value> {
        self.annotations.lock().unwrap().clone()
    }

    /// The reasons of the events published, in order.
    pub fn event_reasons(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect()
    }

    /// The notes of the events published, in order.
    pub fn event_notes(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.2.clone())
            .collect()
    }
}

#[async_trait]
impl<K: Tracked> Sink<K> for Recorder<K> {
    async fn write_status(
        &self,
        _name: &str,
        current: Option<&K::Status>,
        status: &K::Status,
    ) -> Result<()> {
        if crate::controller::reconcile::status::status_changed(current, status) {
            self.log.push("write".to_string());
            self.writes.lock().unwrap().push(status.clone());
        }
        Ok(())
    }

    async fn event(&self, _obj: &K, type_: EventType, reason: &str, _action: &str, note: String) {
        self.log.push(format!("event {reason}"));
        self.events
            .lock()
            .unwrap()
            .push((type_, reason.to_string(), note));
    }

    fn progress_due(&self, uid: &str, interval: std::time::Duration) -> bool {
        self.progress.due(uid, interval)
    }

    fn status_written(&self, uid: &str) {
        self.progress.written(uid);
    }

    async fn annotate(&self, _name: &str, annotations: serde_json::Value) -> Result<()> {
        self.log.push("annotate".to_string());
        self.annotations.lock().unwrap().push(annotations);
        Ok(())
    }
}

/// The settings the act tests run with (the production defaults).
pub fn timing() -> &'static Timing {
    static TIMING: std::sync::OnceLock<Timing> = std::sync::OnceLock::new();
    TIMING.get_or_init(Timing::default)
}

/// A [`Work`] on `obj` that records into `rec`.
pub fn work<'a, K: Tracked>(obj: &'a K, rec: &Recorder<K>) -> Work<'a, K> {
    Work::with_sink(obj, timing(), Box::new(rec.clone()))
}

/// Commits `outcome` into the recorder (what `work::finish` does, without the runtime) and
/// returns what happens next.
pub async fn settle<K: Tracked>(w: &mut Work<'_, K>, outcome: Outcome) -> Next {
    w.settle(outcome).await.expect("recorder writes never fail")
}

/// The reason of the condition that is `True` in `conditions`.
pub fn true_reason(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.status == crate::controller::reconcile::conditions::TRUE)
        .map(|c| (c.type_.clone(), c.reason.clone()))
}
