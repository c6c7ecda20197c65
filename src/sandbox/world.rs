//! The world: an in-memory API server, the Alibaba Cloud emulator and the operator, all in this
//! process.
//!
//! One builder for everyone who needs that world: the `sandbox` subcommand
//! ([`WorldConfig::demo`]), the integration tests (`tests/common/mod.rs`) and the convergence
//! benchmark (`benches/converge.rs`). A [`WorldConfig`] says which emulator to start, whether
//! to install the CRDs, which namespaces and credentials Secret to create, how the operator is
//! configured ([`OperatorSettings`]) and whether it starts right away; [`World::start`] builds
//! it, and the [`World`] then starts, stops and kills the operator as often as needed while the
//! API server and the emulator keep their state.
//!
//! ```no_run
//! # async fn example() -> Result<(), aliyun_backup_operator::sandbox::SandboxError> {
//! use std::time::Duration;
//!
//! use aliyun_backup_operator::sandbox::{CredentialsSecret, World, WorldConfig};
//!
//! let config = WorldConfig::demo(Duration::from_secs(2))
//!     .with_credentials_secret(CredentialsSecret::demo("team-a", "aliyun-credentials"))
//!     .without_operator();
//! let mut world = World::start(&config).await?;
//! let mut operator = world.operator_config();
//! operator.namespaces = vec!["team-a".into()];
//! world.start_operator_with(operator).await?;
//! // … create objects with `world.client`, look at `world.emulator.calls()` …
//! world.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use kube::{Api, Client, ResourceExt};
use kube_sandbox::Sandbox;
use url::Url;

use super::{
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, DEMO_ECS_INSTANCES, DEMO_RDS_BACKUP_SET,
    DEMO_RDS_INSTANCES, FIELD_MANAGER, SandboxError, ensure_namespace, kube_err,
};
use crate::cloud::RetryPolicy;
use crate::controller::operator::clock::{Clock, FastClock, SystemClock};
use crate::controller::{self, OperatorConfig, OperatorHandle, Timing};
use crate::crd::{self, credential_keys};

/// How often the world's operator checks whether the CRDs are established while it waits
/// for them.
const CRD_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How the operator of a [`World`] is configured. [`World::operator_config`] turns it into an
/// [`OperatorConfig`] with the world's emulator as the endpoint of every product and leader
/// election off.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// Namespaces to watch; empty = all namespaces.
    pub namespaces: Vec<String>,
    /// Reporting instance of events.
    pub instance: String,
    /// Requeue and backoff settings.
    pub timing: Timing,
    /// Serve the operator's `/metrics`, `/healthz` and `/readyz` on `127.0.0.1:0` (else no
    /// listener).
    pub metrics: bool,
    /// Cloud API rate limit per access key, region and product (`None` = operator default).
    pub cloud_qps: Option<f64>,
    /// Retry policy of the cloud client (`None` = operator default).
    pub cloud_retry: Option<RetryPolicy>,
    /// Timeout of one cloud request attempt (`None` = operator default).
    pub cloud_request_timeout: Option<Duration>,
    /// Use the demo key as the operator's default credentials (for objects without
    /// `credentialsRef`) and never the process environment or an ECS metadata service. When
    /// off, the default credential chain is the operator's own.
    pub demo_default_credentials: bool,
    /// How many times faster than wall time the schedules' clock runs (1 = the system clock).
    /// The [`World`] makes that clock once, so it keeps running across operator restarts.
    pub schedule_clock_speed: u32,
}

impl OperatorSettings {
    /// The sandbox's operator: all namespaces, [`sandbox_timing`], metrics on a free port, the
    /// demo key as default credentials, schedules on a clock [`SANDBOX_SCHEDULE_CLOCK_SPEED`]
    /// times faster than wall time (an every-minute schedule fires every second), cloud client
    /// defaults otherwise.
    pub fn sandbox() -> Self {
        OperatorSettings {
            namespaces: Vec::new(),
            instance: "sandbox".into(),
            timing: sandbox_timing(),
            metrics: true,
            cloud_qps: None,
            cloud_retry: None,
            cloud_request_timeout: None,
            demo_default_credentials: true,
            schedule_clock_speed: SANDBOX_SCHEDULE_CLOCK_SPEED,
        }
    }
}

/// How much faster than wall time the sandbox's schedules run: 60, so a minute of schedule
/// time passes every second and a `* * * * *` schedule fires about once a second.
pub const SANDBOX_SCHEDULE_CLOCK_SPEED: u32 = 60;

/// An access key stored in a Secret (keys `accessKeyId` and `accessKeySecret`), for objects
/// to name in `spec.credentialsRef`. `Debug` does not show the secret.
#[derive(Clone)]
pub struct CredentialsSecret {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
    /// AccessKey id.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: String,
}

impl CredentialsSecret {
    /// The demo key ([`DEMO_ACCESS_KEY_ID`], [`DEMO_ACCESS_KEY_SECRET`]) in Secret `name` of
    /// `namespace`.
    pub fn demo(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        CredentialsSecret {
            namespace: namespace.into(),
            name: name.into(),
            access_key_id: DEMO_ACCESS_KEY_ID.into(),
            access_key_secret: DEMO_ACCESS_KEY_SECRET.into(),
        }
    }

    /// The Secret's data.
    pub fn data(&self) -> [(&str, &str); 2] {
        [
            (credential_keys::ACCESS_KEY_ID, self.access_key_id.as_str()),
            (
                credential_keys::ACCESS_KEY_SECRET,
                self.access_key_secret.as_str(),
            ),
        ]
    }
}

impl std::fmt::Debug for CredentialsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsSecret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What [`World::start`] builds. Start from [`WorldConfig::new`] or [`WorldConfig::demo`] and
/// adjust with the `with_*`/`without_*` methods or the fields.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// The emulator (accepted keys, seeded instances, job duration, faults seed, …); it always
    /// listens where this says (`127.0.0.1:0` by default).
    pub emulator: EmulatorConfig,
    /// Install the CRDs of all kinds and wait until they are established.
    pub install_crds: bool,
    /// Namespaces to create (those that exist are left alone).
    pub namespaces: Vec<String>,
    /// A credentials Secret to create (its namespace must exist or be in `namespaces`;
    /// [`WorldConfig::with_credentials_secret`] adds it).
    pub credentials_secret: Option<CredentialsSecret>,
    /// The operator.
    pub operator: OperatorSettings,
    /// Start the operator in [`World::start`] (else start it with [`World::start_operator`]).
    pub start_operator: bool,
}

impl WorldConfig {
    /// `emulator` and an operator with `operator` settings, started at once; the CRDs are
    /// installed; no namespace and no Secret are created.
    pub fn new(emulator: EmulatorConfig, operator: OperatorSettings) -> Self {
        WorldConfig {
            emulator,
            install_crds: true,
            namespaces: Vec::new(),
            credentials_secret: None,
            operator,
            start_operator: true,
        }
    }

    /// The demo: [`demo_emulator`] (`rm-demo01`, `i-demo01`, the demo key) and
    /// [`OperatorSettings::sandbox`] (all namespaces, [`sandbox_timing`], metrics on a free
    /// port).
    pub fn demo(job_duration: Duration) -> Self {
        Self::new(demo_emulator(job_duration), OperatorSettings::sandbox())
    }

    /// Replaces the emulator configuration.
    pub fn with_emulator(mut self, emulator: EmulatorConfig) -> Self {
        self.emulator = emulator;
        self
    }

    /// Replaces the operator settings.
    pub fn with_operator(mut self, operator: OperatorSettings) -> Self {
        self.operator = operator;
        self
    }

    /// Also creates namespace `name`.
    pub fn with_namespace(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.namespaces.contains(&name) {
            self.namespaces.push(name);
        }
        self
    }

    /// Also creates `secret` (and its namespace).
    pub fn with_credentials_secret(self, secret: CredentialsSecret) -> Self {
        let mut config = self.with_namespace(secret.namespace.clone());
        config.credentials_secret = Some(secret);
        config
    }

    /// Leaves the CRDs out (install them later with [`install_crds`]).
    pub fn without_crds(mut self) -> Self {
        self.install_crds = false;
        self
    }

    /// Does not start the operator in [`World::start`].
    pub fn without_operator(mut self) -> Self {
        self.start_operator = false;
        self
    }
}

/// The sandbox's emulator: the demo key, [`DEMO_RDS_INSTANCES`] (with the existing set
/// [`DEMO_RDS_BACKUP_SET`]), [`DEMO_ECS_INSTANCES`] and backups that take `job_duration`.
pub fn demo_emulator(job_duration: Duration) -> EmulatorConfig {
    EmulatorConfig::default()
        .credentials([(
            DEMO_ACCESS_KEY_ID.to_string(),
            DEMO_ACCESS_KEY_SECRET.to_string(),
        )])
        .rds_instances(DEMO_RDS_INSTANCES.iter().copied())
        .with_rds_backup_set(DEMO_RDS_BACKUP_SET.0, DEMO_RDS_BACKUP_SET.1)
        .ecs_instances(DEMO_ECS_INSTANCES.iter().copied())
        .with_job_duration(job_duration)
}

/// Requeue settings for the sandbox: backups take seconds, so poll every fraction of a second
/// instead of the production 10 s … 2 min.
pub fn sandbox_timing() -> Timing {
    Timing {
        error_base: Duration::from_millis(500),
        error_max: Duration::from_secs(10),
        poll_initial: Duration::from_millis(250),
        poll_max: Duration::from_secs(1),
        poll_growth_divisor: 6,
        wait: Duration::from_secs(1),
        resync: Duration::from_secs(300),
        jitter: 0.1,
        progress_interval: Duration::from_secs(2),
    }
}

/// An in-memory API server, the emulator and (when started) the operator, all in this process.
pub struct World {
    /// The in-memory Kubernetes API server.
    pub sandbox: Sandbox,
    /// The Alibaba Cloud emulator.
    pub emulator: EmulatorHandle,
    /// A client of the API server.
    pub client: Client,
    endpoint: Url,
    settings: OperatorSettings,
    clock: Arc<dyn Clock>,
    operator: Option<OperatorHandle>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("sandbox", &self.sandbox.url())
            .field("emulator", &self.emulator.url())
            .finish_non_exhaustive()
    }
}

impl World {
    /// Starts the API server and the emulator (the API server on `127.0.0.1:0`, the emulator
    /// where `config.emulator` says), then, as configured: installs the CRDs of all kinds and
    /// waits until they are established, creates the namespaces and the credentials Secret,
    /// and starts the operator with [`World::operator_config`].
    pub async fn start(config: &WorldConfig) -> Result<World, SandboxError> {
        let sandbox = Sandbox::start().await.map_err(SandboxError::Sandbox)?;
        let emulator = Emulator::start(config.emulator.clone())
            .await
            .map_err(SandboxError::Emulator)?;
        let url = emulator.url();
        let endpoint = url
            .parse()
            .map_err(|e: url::ParseError| SandboxError::EmulatorUrl(format!("{url}: {e}")))?;
        let client = sandbox.client();
        let mut world = World {
            sandbox,
            emulator,
            client,
            endpoint,
            settings: config.operator.clone(),
            clock: match config.operator.schedule_clock_speed {
                0 | 1 => Arc::new(SystemClock),
                speed => Arc::new(FastClock::new(speed)),
            },
            operator: None,
        };
        if config.install_crds {
            install_crds(&world.client).await?;
        }
        for ns in &config.namespaces {
            ensure_namespace(&world.client, ns).await?;
        }
        if let Some(secret) = &config.credentials_secret {
            world
                .put_secret(&secret.namespace, &secret.name, &secret.data())
                .await?;
        }
        if config.start_operator {
            world.start_operator().await?;
        }
        Ok(world)
    }

    /// A fresh operator configuration from the world's [`OperatorSettings`]: the emulator as
    /// endpoint of every product, no leader election, CRDs checked every 100 ms while the
    /// operator waits for them, the world's schedule clock. Change it and pass it to [`World::start_operator_with`].
    pub fn operator_config(&self) -> OperatorConfig {
        let s = &self.settings;
        let mut config = OperatorConfig {
            namespaces: s.namespaces.clone(),
            metrics_addr: s.metrics.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            leader_election: None,
            instance: Some(s.instance.clone()),
            timing: s.timing.clone(),
            crd_poll_interval: CRD_POLL_INTERVAL,
            clock: self.clock.clone(),
            ..OperatorConfig::default()
        };
        config.cloud.endpoint_override = Some(self.endpoint.clone());
        if s.demo_default_credentials {
            // The operator's default credentials (for objects without `credentialsRef`) are
            // the demo key, never the user's environment or an ECS metadata service.
            config.cloud.chain.env = Some(BTreeMap::from([
                (
                    crate::cloud::credentials::env::ACCESS_KEY_ID.to_string(),
                    DEMO_ACCESS_KEY_ID.to_string(),
                ),
                (
                    crate::cloud::credentials::env::ACCESS_KEY_SECRET.to_string(),
                    DEMO_ACCESS_KEY_SECRET.to_string(),
                ),
            ]));
            config.cloud.chain.imds_disabled = true;
        }
        if let Some(qps) = s.cloud_qps {
            config.cloud.rate_limit.qps = qps;
            config.cloud.rate_limit.burst = (qps.ceil() as u32).max(1);
        }
        if let Some(retry) = &s.cloud_retry {
            config.cloud.retry = retry.clone();
        }
        if let Some(timeout) = s.cloud_request_timeout {
            config.cloud.timeouts.request = timeout;
        }
        config
    }

    /// Starts the operator with [`World::operator_config`] (stopping a running one first).
    pub async fn start_operator(&mut self) -> Result<(), SandboxError> {
        let config = self.operator_config();
        self.start_operator_with(config).await
    }

    /// Starts the operator with `config` (stopping a running one first).
    pub async fn start_operator_with(
        &mut self,
        config: OperatorConfig,
    ) -> Result<(), SandboxError> {
        self.stop_operator().await?;
        let handle = controller::start(config, self.client.clone())
            .await
            .map_err(SandboxError::Operator)?;
        self.operator = Some(handle);
        Ok(())
    }

    /// The running operator.
    pub fn operator(&self) -> Option<&OperatorHandle> {
        self.operator.as_ref()
    }

    /// Stops the operator gracefully (waits for in-flight reconciles); nothing when none runs.
    pub async fn stop_operator(&mut self) -> Result<(), SandboxError> {
        match self.operator.take() {
            Some(h) => h.stop().await.map_err(SandboxError::Operator),
            None => Ok(()),
        }
    }

    /// Kills the operator like a crash (in-flight work dropped at its current await).
    pub async fn kill_operator(&mut self) {
        if let Some(h) = self.operator.take() {
            h.kill().await;
        }
    }

    /// Creates Secret `name` in `namespace` with `data` as `stringData`, replacing (deleting,
    /// then creating) one that exists.
    pub async fn put_secret(
        &self,
        namespace: &str,
        name: &str,
        data: &[(&str, &str)],
    ) -> Result<(), SandboxError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(kube_err(format!("delete Secret {name} in {namespace}"))(e)),
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            string_data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
            ..Secret::default()
        };
        api.create(&PostParams::default(), &secret)
            .await
            .map_err(kube_err(format!("create Secret {name} in {namespace}")))?;
        Ok(())
    }

    /// Stops the operator gracefully, then the emulator and the API server.
    pub async fn stop(mut self) -> Result<(), SandboxError> {
        let result = self.stop_operator().await;
        self.emulator.shutdown().await;
        self.sandbox.shutdown().await;
        result
    }
}

/// Creates (or replaces) the CRDs of all kinds and waits until each is established.
pub async fn install_crds(client: &Client) -> Result<(), SandboxError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    for c in crd::all_crds() {
        let name = c.name_any();
        api.patch(&name, &pp, &Patch::Apply(&c))
            .await
            .map_err(kube_err(format!("install CRD {name}")))?;
        let established = tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, is_crd_established()),
        )
        .await;
        match established {
            Ok(Ok(_)) => {}
            Ok(Err(source)) => return Err(SandboxError::CrdWait { name, source }),
            Err(_) => return Err(SandboxError::CrdNotEstablished(name)),
        }
    }
    Ok(())
}
