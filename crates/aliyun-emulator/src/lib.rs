//! Emulator of the Alibaba Cloud DBS (`2019-03-06`), RDS (`2014-08-15`), HBR (`2017-09-08`)
//! and STS (`2015-04-01`) control-plane APIs, for tests, benchmarks and demos.
//!
//! It checks V3 (`ACS3-HMAC-SHA256`) and RPC V1 (HMAC-SHA1) signatures like the real gateway,
//! runs backups as state machines driven by an emulator clock (real time + an offset tests
//! can advance), and offers fault injection and an admin API under `/_emulator/`.
//!
//! The layout follows a request: [`Emulator::start`] serves one listener whose `route` sends
//! `/_emulator/…` to the admin API (`admin`) and everything else to the API gateway
//! (`gateway`: parsing, authentication, limits, injected faults, envelopes), which runs the
//! operation on the [`world::World`]: one module per product ([`rds`], [`dbs`], [`hbr`], each
//! with its restore operations in `restore`, and [`sts`]), built on the shared plumbing of
//! [`api`] (errors, parameters, paging, ids, times). [`fault`] and [`scenario`] are the test
//! knobs (faults at the gateway, failures injected into resources), [`sign`] the signature
//! algorithms, [`config`] the configuration.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aliyun_emulator::EmulatorError> {
//! use aliyun_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! println!("endpoint {}", emu.url()); // http://127.0.0.1:PORT, AK testid / testsecret
//! emu.advance_time(std::time::Duration::from_secs(10));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
pub mod api;
pub mod config;
pub mod dbs;
pub mod fault;
mod gateway;
pub mod hbr;
pub mod rds;
pub mod scenario;
pub mod sign;
pub mod sts;
pub mod world;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use rand::SeedableRng as _;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The DBS restore operations, at their former path ([`dbs::restore`]).
pub use dbs::restore as dbs_restore;
/// The HBR restore operations, at their former path ([`hbr::restore`]).
pub use hbr::restore as hbr_restore;
/// The RDS restore operations, at their former path ([`rds::restore`]).
pub use rds::restore as rds_restore;

pub use config::EmulatorConfig;
pub use fault::{CallRecord, Calls, Fault, FaultKind, HeldCall, Release};
pub use scenario::{HbrOutcome, Scenario};

use gateway::{Inner, Shared, real_ms};
use world::World;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but cannot be read or parsed.
    #[error("cannot load state file {path}: {message}")]
    StateFile {
        /// Path.
        path: String,
        /// Cause.
        message: String,
    },
}

impl EmulatorError {
    /// Low-cardinality error name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "Bind",
            Self::StateFile { .. } => "StateFile",
        }
    }
}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds `config.listen` and serves until the handle is shut down or dropped.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let world = match &config.state_file {
            Some(path) if path.exists() => {
                let err = |message: String| EmulatorError::StateFile {
                    path: path.display().to_string(),
                    message,
                };
                let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
                serde_json::from_slice::<World>(&bytes).map_err(|e| err(e.to_string()))?
            }
            _ => World::seeded(&config),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
        let (tx, rx) = watch::channel(false);
        let fault_rng = match config.fault_seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(Inner {
                world,
                nonces: HashMap::new(),
                qps: HashMap::<String, VecDeque<i64>>::new(),
                faults: Vec::new(),
                calls: Calls::default(),
                held: 0,
                held_calls: Vec::new(),
                released: BTreeMap::new(),
                fault_rng,
            }),
            shutdown: rx.clone(),
            holds: watch::channel(0).0,
        });
        let app = Router::new().fallback(route).with_state(shared.clone());
        let mut stop = rx;
        let task = tokio::spawn(async move {
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        tracing::info!(%addr, "aliyun-emulator listening");
        Ok(EmulatorHandle {
            addr,
            shared,
            stop: tx,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, the form the SDKs take as `endpoint`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// The configuration in use.
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// The call log (same as `GET /_emulator/calls`).
    pub fn calls(&self) -> Calls {
        self.shared.lock().calls.clone()
    }

    /// Number of calls received so far (cheaper than `calls().log.len()`).
    pub fn call_count(&self) -> usize {
        self.shared.lock().calls.log.len()
    }

    /// All resources with their current status (same as `GET /_emulator/state`).
    pub fn state(&self) -> Value {
        admin::state(&self.shared)
    }

    /// Current emulator time, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.shared.lock().world.now_ms(real_ms())
    }

    /// Adds a fault rule (same as `POST /_emulator/faults`).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// The calls held right now by [`Fault::hold`] rules, in arrival order.
    pub fn held_calls(&self) -> Vec<HeldCall> {
        self.shared.lock().held_calls.clone()
    }

    /// Waits until a call is held by hold `id` and returns it (no timeout: wrap it in one).
    pub async fn wait_held(&self, id: &str) -> HeldCall {
        let mut changes = self.shared.holds.subscribe();
        loop {
            if let Some(c) = self
                .shared
                .lock()
                .held_calls
                .iter()
                .find(|c| c.hold == id)
                .cloned()
            {
                return c;
            }
            if changes.changed().await.is_err() {
                // Unreachable while `self` holds the sender; keep the signature total.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Releases hold `id` (same as `POST /_emulator/holds/{id}/release`): its held calls end
    /// as `release` says and its fault rules are removed.
    pub fn release(&self, id: &str, release: Release) {
        gateway::release_hold(&self.shared, id, release);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Back to the seeded state: resources, call log, faults, nonces, clock offset
    /// (same as `POST /_emulator/reset`).
    pub fn reset(&self) {
        admin::reset(&self.shared);
    }

    /// Moves the emulator clock forward (same as `POST /_emulator/time/advance`).
    pub fn advance_time(&self, by: Duration) {
        admin::advance(&self.shared, by);
    }

    /// Applies a scenario (same as `POST /_emulator/scenarios`).
    pub fn apply_scenario(&self, s: Scenario) {
        admin::apply_scenario(&self.shared, s);
    }

    /// The next (or the targeted) DBS plan fails its pre-check: `init` → `stop` with
    /// `ErrMessage`. `target`: a `BackupPlanId` or source instance id.
    pub fn fail_dbs_precheck(&self, target: Option<&str>, err_message: &str) {
        self.apply_scenario(Scenario::DbsPrecheckFailure {
            target: target.map(str::to_owned),
            err_message: err_message.to_owned(),
        });
    }

    /// The next (or the targeted) DBS full backup set ends `failed` with `ErrMessage`.
    pub fn fail_dbs_backup_set(&self, plan_id: Option<&str>, err_message: &str) {
        self.apply_scenario(Scenario::DbsBackupSetFailure {
            target: plan_id.map(str::to_owned),
            err_message: err_message.to_owned(),
        });
    }

    /// The next (or the targeted) HBR job ends `PARTIAL_COMPLETE` or `FAILED`.
    /// `target`: a `JobId` or ECS instance id.
    pub fn set_hbr_job_outcome(&self, target: Option<&str>, outcome: HbrOutcome, message: &str) {
        self.apply_scenario(Scenario::HbrJobOutcome {
            target: target.map(str::to_owned),
            outcome,
            message: message.to_owned(),
        });
    }

    /// The next (or the targeted) RDS backup task ends `Failed`.
    /// `target`: a `BackupJobId` or `DBInstanceId`.
    pub fn fail_rds_task(&self, target: Option<&str>) {
        self.apply_scenario(Scenario::RdsTaskFailure {
            target: target.map(str::to_owned),
        });
    }

    /// Sets an RDS instance status (e.g. `Restarting`).
    pub fn set_rds_instance_status(&self, instance_id: &str, status: &str) {
        self.apply_scenario(Scenario::RdsInstanceStatus {
            instance_id: instance_id.to_owned(),
            status: status.to_owned(),
        });
    }
}

async fn route(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let Some(admin) = path.strip_prefix("/_emulator/") else {
        return gateway::serve_api(shared, method, uri, headers, body).await;
    };
    admin::handle(&shared, &method, &path, admin, &body)
}
