//! Test harness: an in-process kube-sandbox + aliyun-emulator + the real operator.
//!
//! Every test gets its own world from the library's builder
//! (`aliyun_backup_operator::sandbox::World`, the same one the `sandbox` subcommand and the
//! benchmark use): sandbox and emulator on loopback port 0, the CRDs from `crd::all_crds()`,
//! the test namespace and its credentials Secret; the operator runs in-process with the
//! emulator as endpoint override and is started by the test. Helpers wait for conditions with
//! a generous timeout (polling, never sleeping to "wait long enough"), stop, kill and restart
//! the operator, and capture all operator logs so tests can check that secrets never appear in
//! them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod manifests;
pub mod status;
pub mod torture;
#[allow(unused_imports)]
pub use manifests::*;
#[allow(unused_imports)]
pub use status::*;

use std::fmt::Debug;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aliyun_backup_operator::cloud::RetryPolicy;
use aliyun_backup_operator::controller::{OperatorConfig, OperatorHandle, Timing};
use aliyun_backup_operator::sandbox::{
    self, CredentialsSecret, OperatorSettings, World, WorldConfig,
};
use aliyun_emulator::EmulatorConfig;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Generous upper bound for anything the tests wait for.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// Poll interval of the wait helpers.
const POLL: Duration = Duration::from_millis(50);

/// The namespace the tests use.
pub const NS: &str = "backups";
/// Name of the credentials Secret created by [`Env::start`].
pub const CREDS: &str = "aliyun-credentials";
/// Access key the emulator accepts (and the credentials Secret holds).
pub const KEY_ID: &str = "testid";
/// Its secret.
pub const KEY_SECRET: &str = "testsecret";

// ------------------------------------------------------------------------------------------
// log capture
// ------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Capture> = OnceLock::new();

/// Installs (once per test binary) a global subscriber that records every log line of the
/// operator and of kube-rs (debug and more verbose for the operator itself) in memory.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "off,aliyun_backup_operator=trace,kube=debug,kube_runtime=debug,kube_client=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        capture
    });
}

/// Everything logged so far by any test of this binary.
pub fn captured_logs() -> String {
    LOGS.get()
        .map(|c| String::from_utf8_lossy(&c.0.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------------------
// environment
// ------------------------------------------------------------------------------------------

/// One test's world: a [`World`] whose operator the test starts. Its `sandbox`, `emulator`
/// and `client` are reached through `Deref` (`env.sandbox`, `env.emulator`, `env.client`); the
/// methods below panic instead of returning errors.
pub struct Env {
    world: World,
}

impl Deref for Env {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl DerefMut for Env {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

/// Emulator settings used by [`Env::start`]: the default key pair, `rm-demo01` plus
/// `rm-demo02`, 2 s backups.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig::default()
        .rds_instances(["rm-demo01", "rm-demo02"])
        .with_job_duration(Duration::from_secs(2))
}

/// Operator settings for tests: fast timings, one namespace ([`NS`]), no HTTP listeners, the
/// operator's own default credential chain, quick client-side retries so fault tests stay
/// short, the system clock for schedules (tests that need another set `OperatorConfig::clock`).
pub fn operator_settings() -> OperatorSettings {
    OperatorSettings {
        namespaces: vec![NS.into()],
        instance: "test-operator".into(),
        timing: Timing::fast(),
        metrics: false,
        cloud_qps: None,
        cloud_retry: Some(RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_total_time: Duration::from_secs(5),
            ..RetryPolicy::default()
        }),
        cloud_request_timeout: Some(Duration::from_secs(5)),
        demo_default_credentials: false,
        schedule_clock_speed: 1,
    }
}

/// The world of [`Env::start_with`]: `emulator`, the CRDs, namespace [`NS`] with the
/// credentials Secret [`CREDS`] (`testid`/`testsecret`), [`operator_settings`], the operator
/// not started.
pub fn world_config(emulator: EmulatorConfig) -> WorldConfig {
    WorldConfig::new(emulator, operator_settings())
        .with_credentials_secret(CredentialsSecret {
            namespace: NS.into(),
            name: CREDS.into(),
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.into(),
        })
        .without_operator()
}

impl Env {
    /// Starts sandbox and emulator, installs the CRDs, creates the namespace and the
    /// credentials Secret (`testid`/`testsecret`).
    pub async fn start() -> Env {
        Self::start_with(emulator_config()).await
    }

    /// Like [`Env::start`] with a custom emulator configuration.
    pub async fn start_with(emulator: EmulatorConfig) -> Env {
        Self::start_world(world_config(emulator)).await
    }

    /// Sandbox, emulator, namespace and credentials Secret, but no CRDs.
    pub async fn start_bare(emulator: EmulatorConfig) -> Env {
        Self::start_world(world_config(emulator).without_crds()).await
    }

    /// Starts the world `config` describes, with log capture.
    pub async fn start_world(config: WorldConfig) -> Env {
        capture_logs();
        let world = World::start(&config).await.expect("start the world");
        Env { world }
    }

    /// Installs the CRDs of all kinds (from `crd::all_crds()`) and waits until they are
    /// established.
    pub async fn install_crds(&self) {
        sandbox::install_crds(&self.client)
            .await
            .expect("install CRDs");
    }

    /// Operator settings for tests ([`operator_settings`]) with the emulator as endpoint and
    /// no leader election.
    pub fn operator_config(&self) -> OperatorConfig {
        self.world.operator_config()
    }

    /// Starts the operator with [`Env::operator_config`].
    pub async fn start_operator(&mut self) {
        let cfg = self.operator_config();
        self.start_operator_with(cfg).await;
    }

    /// Starts the operator with `cfg` (stopping a running one first).
    pub async fn start_operator_with(&mut self, cfg: OperatorConfig) {
        self.stop_operator().await;
        self.world
            .start_operator_with(cfg)
            .await
            .expect("start operator");
    }

    /// The running operator.
    pub fn operator(&self) -> &OperatorHandle {
        self.world.operator().expect("operator running")
    }

    /// Graceful stop (waits for in-flight reconciles).
    pub async fn stop_operator(&mut self) {
        self.world
            .stop_operator()
            .await
            .expect("operator stopped cleanly");
    }

    /// Kills the operator like a crash (in-flight work dropped at its current await).
    pub async fn kill_operator(&mut self) {
        self.world.kill_operator().await;
    }

    /// Creates or replaces a Secret in [`NS`].
    pub async fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
        self.world.put_secret(NS, name, data).await.expect("secret");
    }

    /// Api for a namespaced kind in [`NS`].
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Waits until the emulator's hold `id` keeps a call (see `Fault::hold`), failing after
    /// [`TIMEOUT`].
    pub async fn wait_held(&self, id: &str) -> aliyun_emulator::HeldCall {
        tokio::time::timeout(TIMEOUT, self.emulator.wait_held(id))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for a call held by {id}"))
    }

    /// Number of calls of `action` the emulator received (any result).
    pub fn calls(&self, action: &str) -> usize {
        self.emulator.calls().count(action)
    }
}

/// Polls `api.get(name)` until `pred` holds, failing with the last seen object after
/// [`TIMEOUT`].
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, pred: impl Fn(&K) -> bool) -> K
where
    K: Clone + DeserializeOwned + Debug,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut last = None;
    loop {
        if let Ok(Some(o)) = api.get_opt(name).await {
            if pred(&o) {
                return o;
            }
            last = Some(o);
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what} on {name}; last seen: {last:#?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls until the object is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: Clone + DeserializeOwned + Debug,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match api.get_opt(name).await {
            Ok(None) => return,
            Ok(Some(o)) => {
                if tokio::time::Instant::now() > deadline {
                    panic!("timed out waiting for {name} to be deleted; last seen: {o:#?}");
                }
            }
            Err(e) => panic!("get {name}: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls an arbitrary condition (e.g. on the emulator) until it holds.
pub async fn wait_until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !pred() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}
