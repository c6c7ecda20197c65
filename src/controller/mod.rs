//! The operator: one reconcile pipeline, and the kinds that run through it
//! (`docs/architecture.md#rooms`).
//!
//! * [`operator`] — the running process: kube-runtime wiring ([`operator::runtime`]), leader
//!   election, the metrics/health server, events, the shared [`Context`], the command line.
//! * [`reconcile`] — the one pipeline every kind runs through: the [`reconcile::pipeline`]
//!   driver and its `Reconciler` trait, the status cycle ([`reconcile::work`]: `Outcome`,
//!   `Next`), the kind traits, conditions, errors, adoption, and [`reconcile::policy`] (pause,
//!   protection, deletion policy, deadlines, credentials).
//! * [`kinds`] — one module per kind family (`rds`, `hbr`, `dbs`, `schedule`, `restore`):
//!   only what is specific to the product.
//! * [`start`] / [`run`] — the runnable operator: metrics and health server, CRD wait, leader
//!   election, every controller, graceful shutdown. `main.rs` (`run` subcommand), the
//!   integration tests and the `sandbox` subcommand all start the operator through these.
//!
//! Layer rule: `kinds` import `reconcile` and `operator`; `reconcile` imports `operator` (the
//! context, the runtime) but no kind; nothing imports a kind except [`all_controllers`] (to
//! start it) and the kinds' own tests.

pub mod kinds;
pub mod operator;
pub mod reconcile;

use operator::{cache, clock, context, events, leader, metrics, runtime, server};
use reconcile::{backoff, error, kind, pipeline};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use kube::Client;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use backoff::Timing;
pub use context::Context;
pub use error::{Error, Result};
pub use kind::ManagedResource;
pub use leader::LeaderElectionConfig;
pub use metrics::Metrics;
pub use server::Readiness;

use crate::cloud::{AlibabaCloud, CloudConfig, CloudError, CloudProvider};

/// Configuration of the operator (parsed once at startup; see [`cli::RunArgs`]).
pub struct OperatorConfig {
    /// Namespaces to watch; empty = all namespaces.
    pub namespaces: Vec<String>,
    /// Label selector of the objects to manage (`--selector`); `None` = all objects.
    pub selector: Option<String>,
    /// Namespaces whose objects are paused (`--paused-namespace`).
    pub paused_namespaces: Vec<String>,
    /// Resolve lost create answers from the evidence (`--auto-resolve-lost-creates`).
    pub auto_resolve_lost_creates: bool,
    /// The deletion policy of objects whose spec and namespace set none
    /// (`--default-deletion-policy`).
    pub default_deletion_policy: crate::crd::DeletionPolicy,
    /// Address of the `/metrics` listener (`None` = no listener).
    pub metrics_addr: Option<SocketAddr>,
    /// Address of the `/healthz` + `/readyz` listener (`None` = no listener).
    pub health_addr: Option<SocketAddr>,
    /// Maximum concurrent reconciles per controller.
    pub max_concurrent_reconciles: u16,
    /// Leader election (`None` = disabled: this replica always acts).
    pub leader_election: Option<LeaderElectionConfig>,
    /// Reporting instance of events (pod name).
    pub instance: Option<String>,
    /// Requeue and backoff settings.
    pub timing: Timing,
    /// Interval of the CRD-established check while waiting.
    pub crd_poll_interval: Duration,
    /// Cloud client configuration (endpoints, rate limits, retries).
    pub cloud: CloudConfig,
    /// Use this cloud provider instead of building [`AlibabaCloud`] from `cloud`.
    pub cloud_provider: Option<Arc<dyn CloudProvider>>,
    /// The time the schedules read ([`clock::SystemClock`] unless a test or the sandbox
    /// injects another).
    pub clock: Arc<dyn clock::Clock>,
}

impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("namespaces", &self.namespaces)
            .field("selector", &self.selector)
            .field("paused_namespaces", &self.paused_namespaces)
            .field("default_deletion_policy", &self.default_deletion_policy)
            .field("metrics_addr", &self.metrics_addr)
            .field("health_addr", &self.health_addr)
            .field("max_concurrent_reconciles", &self.max_concurrent_reconciles)
            .field("leader_election", &self.leader_election)
            .field("instance", &self.instance)
            .field("timing", &self.timing)
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            namespaces: Vec::new(),
            selector: None,
            paused_namespaces: Vec::new(),
            auto_resolve_lost_creates: true,
            default_deletion_policy: crate::crd::DeletionPolicy::Retain,
            metrics_addr: None,
            health_addr: None,
            max_concurrent_reconciles: 8,
            leader_election: None,
            instance: None,
            timing: Timing::default(),
            crd_poll_interval: Duration::from_secs(2),
            cloud: CloudConfig::default(),
            cloud_provider: None,
            clock: Arc::new(clock::SystemClock),
        }
    }
}

/// Why the operator stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cloud client could not be built from its configuration.
    #[error("invalid cloud client configuration")]
    Cloud(#[source] CloudError),
    /// Leadership was lost; the controllers were stopped. The process should exit and restart.
    #[error("leadership lost; controllers stopped")]
    LeadershipLost,
    /// The operator task panicked or was aborted.
    #[error("operator task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// A running operator.
#[derive(Debug)]
pub struct OperatorHandle {
    /// Bound address of the metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    /// Bound address of the health listener.
    pub health_addr: Option<SocketAddr>,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness (true once the CRDs are served, leader or standby).
    pub readiness: Arc<Readiness>,
    leading: Arc<AtomicBool>,
    shutdown: CancellationToken,
    server_stop: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

impl OperatorHandle {
    /// Whether this replica runs the controllers (it leads, or leader election is off).
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Requests a graceful shutdown (in-flight reconciles finish, the lease is released).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits for the operator to stop.
    pub async fn wait(self) -> Result<(), RunError> {
        self.task.await.map_err(RunError::Join)?
    }

    /// Shuts down gracefully and waits.
    pub async fn stop(self) -> Result<(), RunError> {
        self.shutdown();
        self.wait().await
    }

    /// Kills the operator at once, like a crash: in-flight reconciles are dropped at their
    /// current `.await`, the lease is not released.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        // Release what the aborted task would have stopped: listeners and helper tasks.
        self.server_stop.cancel();
        self.shutdown.cancel();
    }
}

/// All controllers of the operator. Each kind module contributes its futures here.
fn all_controllers(
    ctx: &Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
) -> Vec<BoxFuture<'static, ()>> {
    let mut controllers = Vec::new();
    controllers.extend(pipeline::controllers::<crate::crd::RdsBackup>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::DbsBackupPlan>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::HbrBackupJob>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::RdsBackupSchedule>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::HbrBackupSchedule>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::RdsRestore>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::HbrRestoreJob>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers.extend(pipeline::controllers::<crate::crd::DbsRestoreTask>(
        ctx.clone(),
        concurrency,
        shutdown,
    ));
    controllers
}

/// Waits until every kind's CRD is established.
async fn wait_for_crds(
    client: &Client,
    config: &OperatorConfig,
    shutdown: &CancellationToken,
) -> bool {
    let poll = config.crd_poll_interval;
    let ns = &config.namespaces;
    runtime::wait_for_kind::<crate::crd::RdsBackup>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::DbsBackupPlan>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::HbrBackupJob>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::RdsBackupSchedule>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::HbrBackupSchedule>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::RdsRestore>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::HbrRestoreJob>(client, ns, poll, shutdown).await
        && runtime::wait_for_kind::<crate::crd::DbsRestoreTask>(client, ns, poll, shutdown).await
}

/// Starts the operator in the background and returns once its listeners are bound.
pub async fn start(config: OperatorConfig, client: Client) -> Result<OperatorHandle, RunError> {
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::default());
    let cloud: Arc<dyn CloudProvider> = match &config.cloud_provider {
        Some(p) => p.clone(),
        None => {
            metrics.with_registry(|r| config.cloud.metrics.register(r));
            Arc::new(AlibabaCloud::new(config.cloud.clone()).map_err(RunError::Cloud)?)
        }
    };

    let router = server::router(metrics.clone(), readiness.clone());
    let server_stop = CancellationToken::new();
    let mut metrics_addr = None;
    let mut health_addr = None;
    let mut servers = Vec::new();
    for (addr, slot) in [
        (config.metrics_addr, &mut metrics_addr),
        (config.health_addr, &mut health_addr),
    ] {
        if let Some(addr) = addr {
            let (bound, task) = server::serve(addr, router.clone(), server_stop.clone())
                .await
                .map_err(|source| RunError::Bind { addr, source })?;
            tracing::info!(%bound, "serving /metrics, /healthz, /readyz");
            *slot = Some(bound);
            servers.push(task);
        }
    }

    let ctx = Arc::new(Context {
        client: client.clone(),
        cloud,
        metrics: metrics.clone(),
        events: events::EventPublisher::new(client.clone(), config.instance.clone()),
        timing: config.timing.clone(),
        backoff: backoff::BackoffTracker::default(),
        namespaces: config.namespaces.clone(),
        selector: config.selector.clone(),
        paused_namespaces: config.paused_namespaces.clone(),
        auto_resolve_lost_creates: config.auto_resolve_lost_creates,
        default_deletion_policy: config.default_deletion_policy,
        namespace_defaults: context::NamespaceDefaults::default(),
        caches: cache::Caches::default(),
        locks: context::KeyedLocks::default(),
        gate: context::RequeueGate::default(),
        progress: context::ProgressGate::default(),
        seen: context::SeenFingerprints::default(),
        clock: config.clock.clone(),
    });

    let leading = Arc::new(AtomicBool::new(false));
    let task = {
        let shutdown = shutdown.clone();
        let readiness = readiness.clone();
        let leading = leading.clone();
        let server_stop = server_stop.clone();
        tokio::spawn(async move {
            let result = operate(config, client, ctx, &readiness, &leading, shutdown).await;
            readiness.set(false);
            leading.store(false, Ordering::SeqCst);
            server_stop.cancel();
            for s in servers {
                let _ = s.await;
            }
            result
        })
    };
    Ok(OperatorHandle {
        metrics_addr,
        health_addr,
        metrics,
        readiness,
        leading,
        shutdown,
        server_stop,
        task,
    })
}

async fn operate(
    config: OperatorConfig,
    client: Client,
    ctx: Arc<Context>,
    readiness: &Readiness,
    leading: &AtomicBool,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    if !wait_for_crds(&client, &config, &shutdown).await {
        return Ok(());
    }
    // Ready once the CRDs are served, leader or standby: Kubernetes counts only Ready pods as
    // available, so a never-Ready standby would stall rolling updates and let the
    // PodDisruptionBudget block draining the leader's node.
    readiness.set(true);
    let mut elector = config
        .leader_election
        .clone()
        .map(|cfg| leader::LeaderElector::new(client.clone(), cfg));
    if let Some(elector) = elector.as_mut()
        && !elector.acquire(&shutdown).await
    {
        return Ok(());
    }

    let controllers = futures::future::join_all(all_controllers(
        &ctx,
        config.max_concurrent_reconciles,
        &shutdown,
    ));
    leading.store(true, Ordering::SeqCst);
    tracing::info!(namespaces = ?config.namespaces, selector = ?config.selector, "controllers running");

    let result = match elector.as_mut() {
        None => {
            controllers.await;
            Ok(())
        }
        Some(elector) => {
            // Stop holding the lease only after the controllers have stopped.
            let hold_stop = CancellationToken::new();
            let hold = elector.hold(&hold_stop);
            tokio::pin!(hold);
            tokio::pin!(controllers);
            tokio::select! {
                _ = &mut controllers => {
                    hold_stop.cancel();
                    let _ = hold.await;
                    Ok(())
                }
                still_leader = &mut hold => {
                    if still_leader {
                        controllers.await;
                        Ok(())
                    } else {
                        // Dropping the controllers aborts in-flight reconciles at once.
                        leading.store(false, Ordering::SeqCst);
                        readiness.set(false);
                        Err(RunError::LeadershipLost)
                    }
                }
            }
        }
    };
    if result.is_ok()
        && let Some(elector) = elector.as_ref()
    {
        elector.release().await;
    }
    tracing::info!("operator stopped");
    result
}

/// Runs the operator until `shutdown` fires (graceful) or leadership is lost (error).
pub async fn run(
    config: OperatorConfig,
    client: Client,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let handle = start(config, client).await?;
    let inner = handle.shutdown.clone();
    let watcher = tokio::spawn(async move {
        shutdown.cancelled().await;
        inner.cancel();
    });
    let result = handle.wait().await;
    watcher.abort();
    result
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}
