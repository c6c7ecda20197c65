//! The world: an in-memory API server, the Alibaba Cloud emulator and the operator, all in this
//! process.

use std::collections::BTreeMap;
use std::time::Duration;

use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use kube::{Api, Client, ResourceExt};
use kube_sandbox::Sandbox;

use super::{
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, DEMO_ECS_INSTANCES, DEMO_RDS_INSTANCES,
    FIELD_MANAGER, SandboxError, kube_err,
};
use crate::controller::{self, OperatorConfig, OperatorHandle, Timing};
use crate::crd;

/// Settings of a [`World`].
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// How long one backup takes in the emulator.
    pub job_duration: Duration,
    /// RDS instances to seed in the emulator.
    pub rds_instances: Vec<String>,
    /// ECS instances to seed in the emulator.
    pub ecs_instances: Vec<String>,
    /// Requeue and backoff settings of the operator.
    pub timing: Timing,
    /// Cloud API rate limit per access key, region and product (`None` = operator default).
    pub cloud_qps: Option<f64>,
    /// Serve the operator's `/metrics`, `/healthz` and `/readyz` on `127.0.0.1:0`.
    pub metrics: bool,
}

impl WorldConfig {
    /// The demo: `rm-demo01`, `i-demo01`, [`sandbox_timing`], metrics on a free port.
    pub fn demo(job_duration: Duration) -> Self {
        WorldConfig {
            job_duration,
            rds_instances: DEMO_RDS_INSTANCES.iter().map(|s| s.to_string()).collect(),
            ecs_instances: DEMO_ECS_INSTANCES.iter().map(|s| s.to_string()).collect(),
            timing: sandbox_timing(),
            cloud_qps: None,
            metrics: true,
        }
    }
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
    }
}

/// An in-memory API server, the emulator and the operator, all in this process.
pub struct World {
    /// The in-memory Kubernetes API server.
    pub sandbox: Sandbox,
    /// The Alibaba Cloud emulator.
    pub emulator: EmulatorHandle,
    /// A client of the API server.
    pub client: Client,
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
    /// Starts the API server and the emulator (both on `127.0.0.1:0`), installs the CRDs of
    /// all kinds, waits until they are established and starts the operator (all namespaces,
    /// no leader election, the emulator as endpoint for every product, the demo key as the
    /// operator's default credentials).
    pub async fn start(config: &WorldConfig) -> Result<World, SandboxError> {
        let sandbox = Sandbox::start().await.map_err(SandboxError::Sandbox)?;
        let emulator = Emulator::start(
            EmulatorConfig::default()
                .credentials([(
                    DEMO_ACCESS_KEY_ID.to_string(),
                    DEMO_ACCESS_KEY_SECRET.to_string(),
                )])
                .rds_instances(config.rds_instances.iter().cloned())
                .ecs_instances(config.ecs_instances.iter().cloned())
                .with_job_duration(config.job_duration),
        )
        .await
        .map_err(SandboxError::Emulator)?;
        let client = sandbox.client();
        install_crds(&client).await?;

        let mut operator = OperatorConfig {
            namespaces: Vec::new(),
            metrics_addr: config
                .metrics
                .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            leader_election: None,
            instance: Some("sandbox".into()),
            timing: config.timing.clone(),
            crd_poll_interval: Duration::from_millis(100),
            ..OperatorConfig::default()
        };
        let url = emulator.url();
        operator.cloud.endpoint_override = Some(
            url.parse()
                .map_err(|e: url::ParseError| SandboxError::EmulatorUrl(format!("{url}: {e}")))?,
        );
        // The operator's default credentials (for objects without `credentialsRef`) are the
        // demo key, never the user's environment or an ECS metadata service.
        operator.cloud.chain.env = Some(BTreeMap::from([
            (
                crate::cloud::credentials::env::ACCESS_KEY_ID.to_string(),
                DEMO_ACCESS_KEY_ID.to_string(),
            ),
            (
                crate::cloud::credentials::env::ACCESS_KEY_SECRET.to_string(),
                DEMO_ACCESS_KEY_SECRET.to_string(),
            ),
        ]));
        operator.cloud.chain.imds_disabled = true;
        if let Some(qps) = config.cloud_qps {
            operator.cloud.rate_limit.qps = qps;
            operator.cloud.rate_limit.burst = (qps.ceil() as u32).max(1);
        }
        let handle = controller::start(operator, client.clone())
            .await
            .map_err(SandboxError::Operator)?;
        Ok(World {
            sandbox,
            emulator,
            client,
            operator: Some(handle),
        })
    }

    /// The running operator.
    pub fn operator(&self) -> Option<&OperatorHandle> {
        self.operator.as_ref()
    }

    /// Stops the operator gracefully, then the emulator and the API server.
    pub async fn stop(mut self) -> Result<(), SandboxError> {
        let result = match self.operator.take() {
            Some(h) => h.stop().await.map_err(SandboxError::Operator),
            None => Ok(()),
        };
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
