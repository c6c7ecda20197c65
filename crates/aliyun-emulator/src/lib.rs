//! Emulator of the Alibaba Cloud DBS (`2019-03-06`), RDS (`2014-08-15`), HBR (`2017-09-08`)
//! and STS (`2015-04-01`) control-plane APIs, for tests, benchmarks and demos.
//!
//! It checks V3 (`ACS3-HMAC-SHA256`) and RPC V1 (HMAC-SHA1) signatures like the real gateway,
//! runs backups as state machines driven by an emulator clock (real time + an offset tests
//! can advance), and offers fault injection and an admin API under `/_emulator/`.
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
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::SeedableRng as _;
use serde_json::{Value, json};
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
        admin_state(&self.shared)
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
        admin_reset(&self.shared);
    }

    /// Moves the emulator clock forward (same as `POST /_emulator/time/advance`).
    pub fn advance_time(&self, by: Duration) {
        admin_advance(&self.shared, by);
    }

    /// Applies a scenario (same as `POST /_emulator/scenarios`).
    pub fn apply_scenario(&self, s: Scenario) {
        admin_scenario(&self.shared, s);
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

fn admin_state(shared: &Shared) -> Value {
    let inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    let mut v = inner.world.view(now);
    if let Some(m) = v.as_object_mut() {
        m.insert("faults".into(), json!(inner.faults));
        m.insert("held_requests".into(), json!(inner.held));
        m.insert("held_calls".into(), json!(inner.held_calls));
    }
    v
}

fn admin_reset(shared: &Shared) {
    let mut inner = shared.lock();
    inner.world = World::seeded(&shared.config);
    inner.nonces.clear();
    inner.qps.clear();
    inner.faults.clear();
    inner.released.clear();
    inner.calls = Calls::default();
    shared.persist(&inner.world);
}

fn admin_advance(shared: &Shared, by: Duration) {
    let mut inner = shared.lock();
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    inner.world.offset_ms = inner.world.offset_ms.saturating_add(ms);
    shared.persist(&inner.world);
}

fn admin_scenario(shared: &Shared, s: Scenario) {
    let mut inner = shared.lock();
    let now = inner.world.now_ms(real_ms());
    inner.world.apply_scenario(s, now);
    shared.persist(&inner.world);
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn bad_request(msg: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": msg }))
}

/// Parses `{"seconds": N}`, `{"millis": N}` or `{"duration": "90s"}`.
fn parse_advance(v: &Value) -> Option<Duration> {
    if let Some(s) = v.get("seconds").and_then(Value::as_f64) {
        return (s >= 0.0 && s.is_finite()).then(|| Duration::from_secs_f64(s));
    }
    if let Some(ms) = v.get("millis").and_then(Value::as_u64) {
        return Some(Duration::from_millis(ms));
    }
    let s = v.get("duration")?.as_str()?.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.trim().parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return None,
    };
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
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
    let parsed = || -> Result<Value, String> {
        serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { &body })
            .map_err(|e| format!("invalid JSON body: {e}"))
    };
    match (method.as_str(), admin.trim_end_matches('/')) {
        ("GET", "state") => json_response(StatusCode::OK, admin_state(&shared)),
        ("GET", "calls") => {
            let calls = shared.lock().calls.clone();
            json_response(
                StatusCode::OK,
                json!({ "total": calls.log.len(), "counts": calls.counts(), "log": calls.log }),
            )
        }
        ("GET", "faults") => json_response(StatusCode::OK, json!(shared.lock().faults)),
        ("POST", "faults") => match parsed().and_then(|v| {
            serde_json::from_value::<Fault>(v).map_err(|e| format!("invalid fault: {e}"))
        }) {
            Ok(f) => {
                shared.lock().faults.push(f.clone());
                json_response(StatusCode::OK, json!({ "added": f }))
            }
            Err(e) => bad_request(e),
        },
        ("DELETE", "faults") => {
            shared.lock().faults.clear();
            json_response(StatusCode::OK, json!({ "cleared": true }))
        }
        ("GET", "holds") => {
            let inner = shared.lock();
            json_response(
                StatusCode::OK,
                json!({ "held": inner.held_calls, "released": inner.released }),
            )
        }
        ("POST", p) if p.starts_with("holds/") && p.ends_with("/release") => {
            let id = &p["holds/".len()..p.len() - "/release".len()];
            let release = if body.is_empty() {
                Ok(Release::Proceed)
            } else {
                parsed().and_then(|v| {
                    serde_json::from_value::<Release>(v)
                        .map_err(|e| format!("invalid release: {e}"))
                })
            };
            match release {
                Ok(r) if !id.is_empty() => {
                    gateway::release_hold(&shared, id, r.clone());
                    json_response(StatusCode::OK, json!({ "released": id, "as": r }))
                }
                Ok(_) => bad_request("missing hold id".into()),
                Err(e) => bad_request(e),
            }
        }
        ("POST", "reset") => {
            admin_reset(&shared);
            json_response(StatusCode::OK, json!({ "reset": true }))
        }
        ("POST", "time/advance") => match parsed() {
            Ok(v) => match parse_advance(&v) {
                Some(d) => {
                    admin_advance(&shared, d);
                    let now = shared.lock().world.now_ms(real_ms());
                    json_response(
                        StatusCode::OK,
                        json!({ "now": api::iso_seconds(now), "now_ms": now }),
                    )
                }
                None => bad_request(
                    "expected {\"seconds\": N}, {\"millis\": N} or {\"duration\": \"90s\"}".into(),
                ),
            },
            Err(e) => bad_request(e),
        },
        ("POST", "scenarios") => match parsed().and_then(|v| {
            serde_json::from_value::<Scenario>(v).map_err(|e| format!("invalid scenario: {e}"))
        }) {
            Ok(s) => {
                admin_scenario(&shared, s.clone());
                json_response(StatusCode::OK, json!({ "applied": s }))
            }
            Err(e) => bad_request(e),
        },
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("unknown admin endpoint {method} {path}") }),
        ),
    }
}
