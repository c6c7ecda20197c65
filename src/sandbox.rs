//! The `sandbox` subcommand: a complete, throw-away demo in one process.
//!
//! [`World::start`] starts an in-memory Kubernetes API server ([`kube_sandbox`]), the Alibaba
//! Cloud emulator ([`aliyun_emulator`]) with the demo credentials and instances, installs the
//! CRDs, waits until they are established and starts the real operator (the same
//! [`crate::controller::start`] the `run` subcommand and the integration tests use) with the
//! emulator as its endpoint and leader election off. [`run_demo`] then applies manifests (by
//! default every `examples/*.yaml`) with server-side apply and shows each object's phase,
//! progress and cloud id until all of them are done, and returns a [`Report`].
//!
//! Compiled only with the `sandbox` cargo feature (on by default, off in the container image).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams, TypeMeta,
};
use kube::discovery::{ApiCapabilities, Scope};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use kube::{Api, Client, ResourceExt};
use kube_sandbox::Sandbox;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::controller::{self, OperatorConfig, OperatorHandle, RunError, Timing};
use crate::crd::{
    self, CONDITION_READY, CONDITION_STALLED, DbsBackupPlan, DbsBackupPlanPhase, HbrBackupJob,
    HbrBackupJobPhase, RdsBackup, RdsBackupPhase, find_condition,
};

/// Field manager of the sandbox's server-side applies.
pub const FIELD_MANAGER: &str = "aliyun-backup-sandbox";
/// AccessKey id the sandbox's emulator accepts (the one in `examples/credentials-secret.yaml`).
pub const DEMO_ACCESS_KEY_ID: &str = "testid";
/// AccessKey secret the sandbox's emulator accepts. A public demo value, never a real secret.
pub const DEMO_ACCESS_KEY_SECRET: &str = "testsecret";
/// RDS instances seeded in the sandbox's emulator (referenced by the examples).
pub const DEMO_RDS_INSTANCES: &[&str] = &["rm-demo01"];
/// ECS instances seeded in the sandbox's emulator (referenced by the examples).
pub const DEMO_ECS_INSTANCES: &[&str] = &["i-demo01"];

/// `aliyun-backup-operator sandbox` flags.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Manifest file or directory (its *.yaml / *.yml files) to apply; repeatable.
    #[arg(long = "examples", value_name = "PATH", default_value = "examples")]
    pub examples: Vec<PathBuf>,

    /// Namespace for manifests that do not name one (created if missing).
    #[arg(long, default_value = "demo")]
    pub namespace: String,

    /// How long one backup takes in the emulator (e.g. 500ms, 3s, 1m).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub job_duration: Duration,

    /// Give up (and exit non-zero) when the objects are not all done by then.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Keep running after the summary (until Ctrl-C) and write a kubeconfig for kubectl.
    #[arg(long)]
    pub serve: bool,

    /// Where `--serve` writes the kubeconfig of the in-memory API server.
    #[arg(long, value_name = "PATH", default_value = "sandbox.kubeconfig")]
    pub kubeconfig_out: PathBuf,

    /// Operator log level or filter directives (logs go to stderr).
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
}

/// Errors of the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The in-memory API server could not be started or its kubeconfig written.
    #[error("kube-sandbox")]
    Sandbox(#[source] kube_sandbox::SandboxError),
    /// The emulator could not be started.
    #[error("aliyun-emulator")]
    Emulator(#[source] aliyun_emulator::EmulatorError),
    /// The emulator's URL is not a valid endpoint.
    #[error("invalid emulator URL {0}")]
    EmulatorUrl(String),
    /// The operator could not be started or stopped with an error.
    #[error("operator")]
    Operator(#[source] RunError),
    /// A manifest file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not valid YAML or not a Kubernetes object.
    #[error("{source_name}: {message}")]
    Manifest {
        /// `file#document`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// No manifest was found in the given paths.
    #[error("no manifests found in {0}; run from the repository root or pass --examples PATH")]
    NoManifests(String),
    /// A call to the API server failed.
    #[error("{what}")]
    Kube {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A CRD did not become established in time.
    #[error("CRD {0} was not established in time")]
    CrdNotEstablished(String),
    /// Watching a CRD for its `Established` condition failed.
    #[error("cannot watch CRD {name}")]
    CrdWait {
        /// The CRD.
        name: String,
        /// The cause.
        #[source]
        source: kube::runtime::wait::Error,
    },
    /// Writing to the terminal failed.
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

impl SandboxError {
    /// Low-cardinality error name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sandbox(_) => "Sandbox",
            Self::Emulator(_) => "Emulator",
            Self::EmulatorUrl(_) => "EmulatorUrl",
            Self::Operator(_) => "Operator",
            Self::Read { .. } => "Read",
            Self::Manifest { .. } => "Manifest",
            Self::NoManifests(_) => "NoManifests",
            Self::Kube { .. } => "Kube",
            Self::CrdNotEstablished(_) => "CrdNotEstablished",
            Self::CrdWait { .. } => "CrdWait",
            Self::Output(_) => "Output",
        }
    }
}

fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Kube { what, source }
}

// ------------------------------------------------------------------------------------------
// the world: API server + emulator + operator
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// manifests
// ------------------------------------------------------------------------------------------

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `path#N` (N counts documents from 1), for messages.
    pub source: String,
    /// Group, version and kind from `apiVersion`/`kind`.
    pub gvk: GroupVersionKind,
    /// The object as written.
    pub object: DynamicObject,
}

impl Manifest {
    /// True for our own kinds (`backup.aliyun.dev`).
    pub fn is_ours(&self) -> bool {
        self.gvk.group == <RdsBackup as kube::Resource>::group(&())
    }
}

/// Parses a multi-document YAML stream into objects (empty documents are skipped).
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<Manifest>, SandboxError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let source_name = format!("{source}#{}", i + 1);
        let bad = |message: String| SandboxError::Manifest {
            source_name: source_name.clone(),
            message,
        };
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| bad(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value).map_err(|e| bad(e.to_string()))?;
        let object: DynamicObject =
            serde_json::from_value(json).map_err(|e| bad(format!("not an object: {e}")))?;
        let types: &TypeMeta = object
            .types
            .as_ref()
            .ok_or_else(|| bad("apiVersion and kind are required".into()))?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| bad(e.to_string()))?;
        if object
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(bad("metadata.name is required".into()));
        }
        out.push(Manifest {
            source: source_name,
            gvk,
            object,
        });
    }
    Ok(out)
}

/// Reads manifests from files and directories (a directory contributes its `*.yaml` and
/// `*.yml` files in name order). Objects of other API groups (Secrets, …) come first, our own
/// kinds last, so that what they reference exists when the operator sees them.
pub fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Manifest>, SandboxError> {
    let mut files = Vec::new();
    for path in paths {
        let read_err = |source| SandboxError::Read {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            // A missing file gets its read error below.
            files.push(path.clone());
        }
    }
    let mut manifests = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| SandboxError::Read {
            path: file.clone(),
            source,
        })?;
        manifests.extend(parse_manifests(&text, &file.display().to_string())?);
    }
    if manifests.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(SandboxError::NoManifests(list.join(", ")));
    }
    // Stable partition: foreign kinds first.
    manifests.sort_by_key(Manifest::is_ours);
    Ok(manifests)
}

/// A kind whose progress the sandbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackedKind {
    /// `DbsBackupPlan`.
    DbsBackupPlan,
    /// `HbrBackupJob`.
    HbrBackupJob,
    /// `RdsBackup`.
    RdsBackup,
}

impl TrackedKind {
    /// The kind for a `kind` name of our group.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "DbsBackupPlan" => Some(Self::DbsBackupPlan),
            "HbrBackupJob" => Some(Self::HbrBackupJob),
            "RdsBackup" => Some(Self::RdsBackup),
            _ => None,
        }
    }

    /// The kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DbsBackupPlan => "DbsBackupPlan",
            Self::HbrBackupJob => "HbrBackupJob",
            Self::RdsBackup => "RdsBackup",
        }
    }
}

impl std::fmt::Display for TrackedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object the sandbox applied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Applied {
    /// `kind` as written.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Set for our kinds.
    pub tracked: Option<TrackedKind>,
}

/// Server-side applies `manifests` (kinds resolved by discovery), putting namespaced objects
/// without a namespace into `default_namespace`. Every namespace used is created if missing.
pub async fn apply_manifests(
    client: &Client,
    manifests: &[Manifest],
    default_namespace: &str,
) -> Result<Vec<Applied>, SandboxError> {
    let mut kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::new();
    for m in manifests {
        let (ar, caps) = match kinds.get(&m.gvk) {
            Some(found) => found.clone(),
            None => {
                let found =
                    kube::discovery::pinned_kind(client, &m.gvk)
                        .await
                        .map_err(kube_err(format!(
                            "{}: kind {} of {} is not served",
                            m.source,
                            m.gvk.kind,
                            m.gvk.api_version()
                        )))?;
                kinds.insert(m.gvk.clone(), found.clone());
                found
            }
        };
        let mut object = m.object.clone();
        let name = object.name_any();
        let namespace = match caps.scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(
                object
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            ),
        };
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => {
                if namespaces.insert(ns.clone()) {
                    ensure_namespace(client, ns).await?;
                }
                object.metadata.namespace = Some(ns.clone());
                Api::namespaced_with(client.clone(), ns, &ar)
            }
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(&name, &pp, &Patch::Apply(&object))
            .await
            .map_err(kube_err(format!(
                "{}: apply {}/{name}",
                m.source, m.gvk.kind
            )))?;
        applied.push(Applied {
            kind: m.gvk.kind.clone(),
            namespace,
            name,
            tracked: if m.is_ours() {
                TrackedKind::from_kind(&m.gvk.kind)
            } else {
                None
            },
        });
    }
    Ok(applied)
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<(), SandboxError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("get namespace {name}")))?
        .is_some()
    {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(kube_err(format!("create namespace {name}"))(e)),
    }
}

// ------------------------------------------------------------------------------------------
// observed state
// ------------------------------------------------------------------------------------------

/// Where an object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still working.
    InProgress,
    /// Reached its kind's good end state.
    Succeeded,
    /// Failed, or stalled (needs a human).
    Failed,
}

/// What the sandbox shows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    /// Kind.
    pub kind: TrackedKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `status.phase` (`None` before the operator wrote it).
    pub phase: Option<String>,
    /// Percent done, where the kind reports it.
    pub progress: Option<i32>,
    /// Cloud identifiers (`job 123`, `backup 456`, `plan dbs…`).
    pub cloud_id: Option<String>,
    /// The raw cloud status string.
    pub cloud_status: Option<String>,
    /// Reason of the condition that is `True` among `Stalled` and `Ready` (else `Ready`'s).
    pub reason: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// Done or not, good or bad.
    pub verdict: Verdict,
}

fn condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// `Ready` only counts when it describes the current generation.
fn ready_now(conditions: &[Condition], generation: Option<i64>) -> bool {
    find_condition(conditions, CONDITION_READY).is_some_and(|c| {
        c.status == "True"
            && (generation.is_none()
                || c.observed_generation.is_none()
                || c.observed_generation == generation)
    })
}

fn headline(conditions: &[Condition]) -> (Option<String>, Option<String>) {
    let pick = find_condition(conditions, CONDITION_STALLED)
        .filter(|c| c.status == "True")
        .or_else(|| find_condition(conditions, CONDITION_READY));
    match pick {
        Some(c) => (
            Some(c.reason.clone()).filter(|s| !s.is_empty()),
            Some(c.message.clone()).filter(|s| !s.is_empty()),
        ),
        None => (None, None),
    }
}

fn join_ids(parts: &[(&str, Option<&String>)]) -> Option<String> {
    let s: Vec<String> = parts
        .iter()
        .filter_map(|(label, id)| id.map(|id| format!("{label} {id}")))
        .collect();
    (!s.is_empty()).then(|| s.join(", "))
}

impl ObjectState {
    /// An object the API server does not show (yet).
    pub fn missing(kind: TrackedKind, namespace: &str, name: &str) -> Self {
        ObjectState {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            phase: None,
            progress: None,
            cloud_id: None,
            cloud_status: None,
            reason: None,
            message: None,
            verdict: Verdict::InProgress,
        }
    }

    /// `RdsBackup`: done at `Succeeded` or `Failed` (or `Stalled`).
    pub fn from_rds(o: &RdsBackup) -> Self {
        let mut s = Self::missing(
            TrackedKind::RdsBackup,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.progress = st.progress;
            s.cloud_id = join_ids(&[
                ("job", st.backup_job_id.as_ref()),
                ("backup", st.backup_id.as_ref()),
            ]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(RdsBackupPhase::Succeeded) => Verdict::Succeeded,
                    Some(RdsBackupPhase::Failed) => Verdict::Failed,
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `HbrBackupJob`: succeeded at `Succeeded`; failed at `PartiallySucceeded`, `Failed`,
    /// `Cancelled` or `Stalled`.
    pub fn from_hbr(o: &HbrBackupJob) -> Self {
        let mut s = Self::missing(
            TrackedKind::HbrBackupJob,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.progress = st.progress;
            let snapshot = st.snapshot_ids.first();
            s.cloud_id = join_ids(&[("job", st.job_id.as_ref()), ("snapshot", snapshot)]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(HbrBackupJobPhase::Succeeded) => Verdict::Succeeded,
                    // Part of the data was skipped: done, but not a success (Argo CD reports
                    // it as Degraded, see docs/gitops.md).
                    Some(
                        HbrBackupJobPhase::PartiallySucceeded
                        | HbrBackupJobPhase::Failed
                        | HbrBackupJobPhase::Cancelled,
                    ) => Verdict::Failed,
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `DbsBackupPlan` (long-lived): done when `Running` (or `Paused`) with `Ready=True` for
    /// the current generation; failed at `Failed` or `Stalled`.
    pub fn from_dbs(o: &DbsBackupPlan) -> Self {
        let mut s = Self::missing(
            TrackedKind::DbsBackupPlan,
            &o.namespace().unwrap_or_default(),
            &o.name_any(),
        );
        if let Some(st) = &o.status {
            s.phase = st.phase.map(|p| p.to_string());
            s.cloud_id = join_ids(&[
                ("plan", st.backup_plan_id.as_ref()),
                (
                    "full backup",
                    st.latest_full_backup_set
                        .as_ref()
                        .and_then(|b| b.id.as_ref()),
                ),
            ]);
            s.cloud_status = st.cloud_status.clone();
            (s.reason, s.message) = headline(&st.conditions);
            let ready = ready_now(&st.conditions, o.metadata.generation);
            s.verdict = if condition_true(&st.conditions, CONDITION_STALLED) {
                Verdict::Failed
            } else {
                match st.phase {
                    Some(DbsBackupPlanPhase::Failed) => Verdict::Failed,
                    Some(DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused) if ready => {
                        Verdict::Succeeded
                    }
                    _ => Verdict::InProgress,
                }
            };
        }
        s
    }

    /// `Kind/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Reads the current state of every tracked object (one list per kind and namespace).
pub async fn observe(
    client: &Client,
    tracked: &[Applied],
) -> Result<Vec<ObjectState>, SandboxError> {
    let mut wanted: BTreeMap<(TrackedKind, String), Vec<&str>> = BTreeMap::new();
    for a in tracked {
        if let (Some(kind), Some(ns)) = (a.tracked, &a.namespace) {
            wanted
                .entry((kind, ns.clone()))
                .or_default()
                .push(a.name.as_str());
        }
    }
    let mut found: HashMap<(TrackedKind, String, String), ObjectState> = HashMap::new();
    for (kind, ns) in wanted.keys() {
        let lp = ListParams::default();
        let what = || format!("list {kind} in {ns}");
        let states: Vec<ObjectState> = match kind {
            TrackedKind::RdsBackup => Api::<RdsBackup>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_rds)
                .collect(),
            TrackedKind::HbrBackupJob => Api::<HbrBackupJob>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_hbr)
                .collect(),
            TrackedKind::DbsBackupPlan => Api::<DbsBackupPlan>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .map_err(kube_err(what()))?
                .iter()
                .map(ObjectState::from_dbs)
                .collect(),
        };
        for s in states {
            found.insert((s.kind, s.namespace.clone(), s.name.clone()), s);
        }
    }
    Ok(tracked
        .iter()
        .filter_map(|a| {
            let kind = a.tracked?;
            let ns = a.namespace.clone()?;
            let key = (kind, ns.clone(), a.name.clone());
            Some(
                found
                    .remove(&key)
                    .unwrap_or_else(|| ObjectState::missing(kind, &ns, &a.name)),
            )
        })
        .collect())
}

// ------------------------------------------------------------------------------------------
// output
// ------------------------------------------------------------------------------------------

fn dash(s: Option<&str>) -> &str {
    s.filter(|s| !s.is_empty()).unwrap_or("-")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn progress_text(p: Option<i32>) -> String {
    p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::InProgress => " ",
        Verdict::Succeeded => "✓",
        Verdict::Failed => "✗",
    }
}

/// The table shown on a terminal (one header line plus one line per object).
pub fn render_table(states: &[ObjectState], elapsed: Duration) -> String {
    let done = states
        .iter()
        .filter(|s| s.verdict != Verdict::InProgress)
        .count();
    let mut out = format!(
        "aliyun-backup-operator sandbox · {done}/{} done · {:.0}s\n",
        states.len(),
        elapsed.as_secs_f64()
    );
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                format!("{} {}", mark(s.verdict), s.label()),
                dash(s.phase.as_deref()).to_string(),
                progress_text(s.progress),
                dash(s.cloud_id.as_deref()).to_string(),
                dash(s.cloud_status.as_deref()).to_string(),
                shorten(dash(s.reason.as_deref()), 28),
            ]
        })
        .collect();
    let header = [
        "  OBJECT",
        "PHASE",
        "PROGRESS",
        "CLOUD ID",
        "CLOUD STATUS",
        "REASON",
    ]
    .map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One line describing an object's state (for non-terminal output and the summary).
pub fn render_line(s: &ObjectState) -> String {
    let mut line = format!(
        "{} {} phase={} progress={} cloud={}",
        mark(s.verdict),
        s.label(),
        dash(s.phase.as_deref()),
        progress_text(s.progress),
        dash(s.cloud_id.as_deref()),
    );
    if let Some(cs) = &s.cloud_status {
        let _ = write!(line, " cloudStatus={cs}");
    }
    if let Some(r) = &s.reason {
        let _ = write!(line, " reason={r}");
    }
    line
}

/// Alternate screen buffer on/off, clear screen + cursor home (xterm/VT100).
const ALT_SCREEN_ON: &str = "\x1b[?1049h";
const ALT_SCREEN_OFF: &str = "\x1b[?1049l";
const CLEAR_HOME: &str = "\x1b[H\x1b[2J";

/// Draws progress. On a terminal: a full-screen table in the alternate screen (like `watch`),
/// redrawn when it changes, so long lines that wrap cannot garble it; when done, the last
/// table is printed to the normal screen. Otherwise: one line per change of an object.
struct Progress<'a> {
    out: &'a mut (dyn Write + Send),
    tty: bool,
    preamble: String,
    in_alt_screen: bool,
    last_table: String,
    last: HashMap<String, ObjectState>,
}

impl<'a> Progress<'a> {
    fn new(out: &'a mut (dyn Write + Send), tty: bool, preamble: String) -> Self {
        Progress {
            out,
            tty,
            preamble,
            in_alt_screen: false,
            last_table: String::new(),
            last: HashMap::new(),
        }
    }

    fn update(&mut self, states: &[ObjectState], elapsed: Duration) -> std::io::Result<()> {
        if self.tty {
            let table = render_table(states, elapsed);
            if table == self.last_table {
                return Ok(());
            }
            if !self.in_alt_screen {
                self.out.write_all(ALT_SCREEN_ON.as_bytes())?;
                self.in_alt_screen = true;
            }
            write!(self.out, "{CLEAR_HOME}{}{table}", self.preamble)?;
            self.last_table = table;
        } else {
            for s in states {
                let key = s.label();
                if self.last.get(&key) != Some(s) {
                    writeln!(
                        self.out,
                        "[{:>6.1}s] {}",
                        elapsed.as_secs_f64(),
                        render_line(s)
                    )?;
                    self.last.insert(key, s.clone());
                }
            }
        }
        self.out.flush()
    }

    /// Leaves the alternate screen and prints the last table on the normal screen.
    fn finish(&mut self) -> std::io::Result<()> {
        if self.in_alt_screen {
            self.in_alt_screen = false;
            self.out.write_all(ALT_SCREEN_OFF.as_bytes())?;
            self.out.write_all(self.last_table.as_bytes())?;
        }
        self.out.flush()
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        // Never leave the user's terminal in the alternate screen (errors, early returns).
        if self.in_alt_screen {
            let _ = self.out.write_all(ALT_SCREEN_OFF.as_bytes());
            let _ = self.out.flush();
        }
    }
}

// ------------------------------------------------------------------------------------------
// the demo
// ------------------------------------------------------------------------------------------

/// Options of [`run_demo`].
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Manifest files or directories.
    pub manifests: Vec<PathBuf>,
    /// Namespace for objects that do not name one.
    pub namespace: String,
    /// Give up after this long.
    pub timeout: Duration,
    /// How often the objects are read.
    pub poll: Duration,
}

/// How the demo ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every object reached a done state (good or bad).
    AllDone,
    /// The timeout ran out first.
    TimedOut,
    /// Cancelled (Ctrl-C) first.
    Interrupted,
}

/// Result of [`run_demo`].
#[derive(Debug, Clone)]
pub struct Report {
    /// Every object applied (including Secrets).
    pub applied: Vec<Applied>,
    /// Final state of every tracked object.
    pub objects: Vec<ObjectState>,
    /// How the demo ended.
    pub outcome: Outcome,
    /// Time from the first apply to the end.
    pub elapsed: Duration,
}

impl Report {
    /// True when every object is done and none failed.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::AllDone
            && self.objects.iter().all(|o| o.verdict == Verdict::Succeeded)
    }

    /// Objects that failed.
    pub fn failed(&self) -> Vec<&ObjectState> {
        self.objects
            .iter()
            .filter(|o| o.verdict == Verdict::Failed)
            .collect()
    }

    /// Objects still in progress.
    pub fn pending(&self) -> Vec<&ObjectState> {
        self.objects
            .iter()
            .filter(|o| o.verdict == Verdict::InProgress)
            .collect()
    }

    /// The summary printed at the end (no secret values: only names, phases, cloud ids and
    /// condition reasons/messages, which the operator keeps free of secrets).
    pub fn summary(&self) -> String {
        let mut out = format!("\nSummary after {:.1}s:\n", self.elapsed.as_secs_f64());
        for s in &self.objects {
            let _ = writeln!(out, "  {}", render_line(s));
        }
        let ok = self
            .objects
            .iter()
            .filter(|o| o.verdict == Verdict::Succeeded)
            .count();
        let failed = self.failed();
        let pending = self.pending();
        let _ = writeln!(
            out,
            "{} objects: {ok} succeeded, {} failed, {} not done.",
            self.objects.len(),
            failed.len(),
            pending.len()
        );
        for s in failed.iter().chain(pending.iter()) {
            if let Some(m) = &s.message {
                let _ = writeln!(
                    out,
                    "  {} ({}): {}",
                    s.label(),
                    dash(s.reason.as_deref()),
                    m
                );
            }
        }
        match self.outcome {
            Outcome::AllDone if self.succeeded() => {
                out.push_str("All done.\n");
            }
            Outcome::AllDone => {
                out.push_str("Some objects failed; see the reasons above.\n");
            }
            Outcome::TimedOut => {
                out.push_str("Timed out before every object was done (see --timeout).\n");
            }
            Outcome::Interrupted => out.push_str("Interrupted.\n"),
        }
        out
    }
}

/// Applies the manifests and shows progress on `out` until every tracked object is done, the
/// timeout runs out or `cancel` fires. `tty` selects the redrawn table (else one line per
/// change).
pub async fn run_demo(
    client: &Client,
    options: &DemoOptions,
    out: &mut (dyn Write + Send),
    tty: bool,
    cancel: &CancellationToken,
) -> Result<Report, SandboxError> {
    let manifests = load_manifests(&options.manifests)?;
    ensure_namespace(client, &options.namespace).await?;
    let started = Instant::now();
    let applied = apply_manifests(client, &manifests, &options.namespace).await?;
    let mut preamble = String::new();
    for a in &applied {
        let ns = a
            .namespace
            .as_deref()
            .map(|n| format!(" -n {n}"))
            .unwrap_or_default();
        let _ = writeln!(preamble, "applied {}/{}{ns}", a.kind, a.name);
    }
    preamble.push('\n');
    out.write_all(preamble.as_bytes())
        .map_err(SandboxError::Output)?;
    let tracked: Vec<Applied> = applied
        .iter()
        .filter(|a| a.tracked.is_some())
        .cloned()
        .collect();
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut progress = Progress::new(out, tty, preamble);
    let outcome = loop {
        let states = observe(client, &tracked).await?;
        progress
            .update(&states, started.elapsed())
            .map_err(SandboxError::Output)?;
        if states.iter().all(|s| s.verdict != Verdict::InProgress) {
            break (Outcome::AllDone, states);
        }
        tokio::select! {
            () = cancel.cancelled() => break (Outcome::Interrupted, states),
            () = tokio::time::sleep_until(deadline) => {
                // One last look, so work finished right at the deadline counts.
                let states = observe(client, &tracked).await?;
                progress.update(&states, started.elapsed()).map_err(SandboxError::Output)?;
                let outcome = if states.iter().all(|s| s.verdict != Verdict::InProgress) {
                    Outcome::AllDone
                } else {
                    Outcome::TimedOut
                };
                break (outcome, states);
            }
            () = tokio::time::sleep(options.poll) => {}
        }
    };
    let (outcome, objects) = outcome;
    progress.finish().map_err(SandboxError::Output)?;
    Ok(Report {
        applied,
        objects,
        outcome,
        elapsed: started.elapsed(),
    })
}

/// Reads every object of the three kinds in all namespaces.
pub async fn observe_all(client: &Client) -> Result<Vec<ObjectState>, SandboxError> {
    let lp = ListParams::default();
    let mut states: Vec<ObjectState> = Vec::new();
    states.extend(
        Api::<DbsBackupPlan>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list DbsBackupPlans"))?
            .iter()
            .map(ObjectState::from_dbs),
    );
    states.extend(
        Api::<HbrBackupJob>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list HbrBackupJobs"))?
            .iter()
            .map(ObjectState::from_hbr),
    );
    states.extend(
        Api::<RdsBackup>::all(client.clone())
            .list(&lp)
            .await
            .map_err(kube_err("list RdsBackups"))?
            .iter()
            .map(ObjectState::from_rds),
    );
    Ok(states)
}

/// `--serve`: until `cancel` fires, prints a line whenever an object of our kinds in any
/// namespace appears, changes or goes away (what `kubectl apply`/`delete` in another terminal
/// does). `known` are the states already shown.
async fn follow_all(
    client: &Client,
    known: &[ObjectState],
    out: &mut (dyn Write + Send),
    cancel: &CancellationToken,
) {
    let key = |s: &ObjectState| (s.kind, s.namespace.clone(), s.name.clone());
    let mut last: HashMap<(TrackedKind, String, String), ObjectState> =
        known.iter().map(|s| (key(s), s.clone())).collect();
    let started = Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let states = match observe_all(client).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %crate::controller::error::error_chain(&e), "cannot list objects");
                continue;
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let mut seen = BTreeSet::new();
        for s in states {
            let k = key(&s);
            seen.insert(k.clone());
            if last.get(&k) != Some(&s) {
                let _ = writeln!(
                    out,
                    "[{elapsed:>6.1}s] {}: {}",
                    s.namespace,
                    render_line(&s)
                );
                last.insert(k, s);
            }
        }
        let gone: Vec<_> = last
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            let _ = writeln!(out, "[{elapsed:>6.1}s] {}: {}/{} deleted", k.1, k.0, k.2);
            last.remove(&k);
        }
        let _ = out.flush();
    }
}

/// How to use a `--serve` sandbox from another terminal.
pub fn serve_instructions(kubeconfig: &Path, world: &World) -> String {
    let kc = kubeconfig.display();
    let mut s = format!(
        "\nThe sandbox keeps running and shows every change below (Ctrl-C stops it; everything is\n\
         in memory).\n\
         Kubernetes API: {api} (plain HTTP, no auth)   kubeconfig: {kc}\n\
         Alibaba Cloud emulator: {emu} (calls: {emu}/_emulator/calls)\n",
        api = world.sandbox.url(),
        emu = world.emulator.url(),
    );
    if let Some(addr) = world.operator().and_then(|o| o.metrics_addr) {
        let _ = writeln!(s, "Operator metrics: http://{addr}/metrics");
    }
    let _ = write!(
        s,
        "\nTry, in another terminal:\n\
         \x20 export KUBECONFIG={kc}\n\
         \x20 kubectl get aliyunbackup -A\n\
         \x20 kubectl apply -f examples/            # the same examples again, in namespace default\n\
         \x20 kubectl get rdsbackups -w\n\
         \x20 kubectl describe rdsbackup nightly-orders\n"
    );
    s
}

/// Runs the whole `sandbox` subcommand with `args`, writing to `out`; `cancel` is Ctrl-C.
/// Returns the report of the demo (with `--serve`, after `cancel` fired).
pub async fn execute(
    args: &SandboxArgs,
    out: &mut (dyn Write + Send),
    tty: bool,
    cancel: &CancellationToken,
) -> Result<Report, SandboxError> {
    // Read the manifests before starting anything, so a wrong path fails at once.
    load_manifests(&args.examples)?;
    let world = World::start(&WorldConfig::demo(args.job_duration)).await?;
    writeln!(
        out,
        "kube-sandbox API server on {}, aliyun-emulator on {} (job duration {}), operator running.",
        world.sandbox.url(),
        world.emulator.url(),
        humantime::format_duration(args.job_duration)
    )
    .map_err(SandboxError::Output)?;
    if args.serve {
        world
            .sandbox
            .write_kubeconfig(&args.kubeconfig_out)
            .map_err(SandboxError::Sandbox)?;
    }
    let options = DemoOptions {
        manifests: args.examples.clone(),
        namespace: args.namespace.clone(),
        timeout: args.timeout,
        poll: Duration::from_millis(200),
    };
    let report = match run_demo(&world.client, &options, out, tty, cancel).await {
        Ok(r) => r,
        Err(e) => {
            let _ = world.stop().await;
            return Err(e);
        }
    };
    out.write_all(report.summary().as_bytes())
        .map_err(SandboxError::Output)?;
    if args.serve && report.outcome != Outcome::Interrupted {
        out.write_all(serve_instructions(&args.kubeconfig_out, &world).as_bytes())
            .and_then(|()| out.flush())
            .map_err(SandboxError::Output)?;
        follow_all(&world.client, &report.objects, out, cancel).await;
        // The terminal may be gone by now; stopping cleanly matters more than this line.
        let _ = writeln!(out, "stopping");
        let _ = out.flush();
    }
    world.stop().await?;
    Ok(report)
}

/// Entry point of the `sandbox` subcommand: exit 0 when every object succeeded, 1 otherwise.
pub fn main(args: SandboxArgs) -> ExitCode {
    if let Err(e) = crate::telemetry::init(crate::telemetry::LogFormat::Text, &args.log_level) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let signal = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                controller::shutdown_signal().await;
                cancel.cancel();
            })
        };
        let tty = std::io::stdout().is_terminal();
        let mut out = std::io::stdout();
        let result = execute(&args, &mut out, tty, &cancel).await;
        signal.abort();
        result
    });
    match result {
        Ok(report) if report.succeeded() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {}", crate::controller::error::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
