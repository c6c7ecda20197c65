//! Convergence benchmark: N backups of one kind created at once against kube-sandbox (or any
//! cluster) and aliyun-emulator, tracked until every one has succeeded.
//!
//! ```sh
//! cargo bench --bench converge
//! CONVERGE_N=200 CONVERGE_JOB_DURATION=5s CONVERGE_CLOUD_QPS=10 cargo bench --bench converge
//! CONVERGE_KIND=hbr CONVERGE_N=1000 CONVERGE_JOB_DURATION=0s CONVERGE_SUMMARY=1 cargo bench --bench converge
//! ```
//!
//! Prints figures, asserts nothing about time. Environment:
//! `CONVERGE_KIND` (`rds`: `RdsBackup`s, each on its own emulated RDS instance; `hbr`:
//! `HbrBackupJob`s of source type `UDM_ECS`, each on its own emulated ECS instance; default
//! `rds`), `CONVERGE_N` (objects, default 50), `CONVERGE_JOB_DURATION` (how long one backup
//! takes in the emulator, default 2s), `CONVERGE_CLOUD_QPS` (the operator's cloud rate limit
//! per access key, region and product, burst the same rounded up; default 1000, i.e. not the
//! bottleneck; the production default is 10), `CONVERGE_TIMEOUT` (default 600s),
//! `CONVERGE_OPERATOR` (`process`: the real operator binary as a child process, measured on
//! its own; `inprocess`: the operator in this process; default `process`),
//! `CONVERGE_KUBECONFIG` (run against that cluster instead of kube-sandbox; the CRDs must be
//! installed; the operator runs as a process watching only the benchmark's namespace),
//! `CONVERGE_RDS_DETAILS` (`spec.backupSetDetails` of the `RdsBackup`s: `Skip`, the default, or
//! `Record`, which reads each set with `DescribeBackups`),
//! `CONVERGE_SUMMARY=1` (also print one markdown table row). Exits non-zero if the objects do
//! not all succeed or a backup was created more than once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aliyun_backup_operator::crd::{HbrBackupJob, RdsBackup};
use aliyun_backup_operator::sandbox::{
    CredentialsSecret, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, World, WorldConfig,
    demo_emulator, ensure_namespace,
};
use aliyun_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

const NS: &str = "bench";
const CREDS: &str = "creds";
/// Label on every object the benchmark creates (for the clean-up on a real cluster).
const LABEL: &str = "converge.bench.aliyun.dev/run";
/// Creates in flight at once.
const CREATE_CONCURRENCY: usize = 16;
/// How long the operator may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        Err(_) => default,
    }
}

fn env_duration(name: &str, default: &str) -> Duration {
    let v = std::env::var(name).unwrap_or_else(|_| default.to_string());
    humantime::parse_duration(&v).unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
}

fn env_choice(name: &str, default: &'static str, allowed: &[&'static str]) -> &'static str {
    match std::env::var(name) {
        Ok(v) => allowed
            .iter()
            .copied()
            .find(|a| *a == v)
            .unwrap_or_else(|| panic!("{name}={v:?}: expected one of {allowed:?}")),
        Err(_) => default,
    }
}

/// The kind of object the benchmark creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rds,
    Hbr,
}

impl Kind {
    fn short(self) -> &'static str {
        match self {
            Kind::Rds => "rds",
            Kind::Hbr => "hbr",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Rds => "RdsBackup",
            Kind::Hbr => "HbrBackupJob",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Rds => "rdsbackups",
            Kind::Hbr => "hbrbackupjobs",
        }
    }

    fn api_resource(self) -> ApiResource {
        match self {
            Kind::Rds => ApiResource::erase::<RdsBackup>(&()),
            Kind::Hbr => ApiResource::erase::<HbrBackupJob>(&()),
        }
    }

    /// The cloud action that makes a backup (counted for exactly-once).
    fn create_action(self) -> &'static str {
        match self {
            Kind::Rds => "CreateBackup",
            Kind::Hbr => "CreateBackupJob",
        }
    }

    /// Phases after which the object does not change any more.
    fn is_terminal(self, phase: &str) -> bool {
        match self {
            Kind::Rds => matches!(phase, "Succeeded" | "Failed"),
            Kind::Hbr => matches!(
                phase,
                "Succeeded" | "PartiallySucceeded" | "Failed" | "Cancelled"
            ),
        }
    }

    /// The emulated instance object `i` backs up.
    fn instance(self, i: usize) -> String {
        match self {
            Kind::Rds => format!("rm-bench{i:05}"),
            Kind::Hbr => format!("i-bench{i:05}"),
        }
    }

    fn emulator(self, job: Duration, n: usize) -> EmulatorConfig {
        let instances = (0..n).map(|i| self.instance(i));
        let config = demo_emulator(job);
        match self {
            Kind::Rds => config
                .rds_instances(instances)
                .ecs_instances(Vec::<String>::new()),
            Kind::Hbr => config
                .rds_instances(Vec::<String>::new())
                .ecs_instances(instances),
        }
    }

    /// Object `i` of run `run`; `rds_details` is an `RdsBackup`'s `backupSetDetails`.
    fn object(self, i: usize, run: &str, rds_details: &str) -> DynamicObject {
        let instance = self.instance(i);
        let spec = match self {
            Kind::Rds => serde_json::json!({
                "region": "cn-hangzhou",
                "credentialsRef": {"name": CREDS},
                "dbInstanceId": instance,
                "backupSetDetails": rds_details,
            }),
            Kind::Hbr => serde_json::json!({
                "region": "cn-hangzhou",
                "credentialsRef": {"name": CREDS},
                "sourceType": "UDM_ECS",
                "instanceId": instance,
                "retention": 7,
                "detail": {"doCopy": false, "snapshotGroup": true, "diskIdList": ["d-1"]},
            }),
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": self.name(),
            "metadata": {
                "name": format!("bench-{i:05}"),
                "namespace": NS,
                "labels": {LABEL: run},
            },
            "spec": spec,
        }))
        .unwrap()
    }
}

/// Where the operator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Process,
    InProcess,
}

/// Peak resident set size (`VmHWM`) of `/proc/<pid>` (`self` for this process), in KiB.
fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User + system CPU time of `/proc/<pid>` (`self` for this process), in seconds.
fn cpu_seconds(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses: state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks)
}

fn per(total: u64, n: usize) -> f64 {
    total as f64 / n as f64
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.decimals$}"))
}

/// The real operator binary as a child process.
struct OperatorProcess {
    child: Child,
    log: PathBuf,
    metrics_addr: Option<SocketAddr>,
}

impl OperatorProcess {
    fn spawn(
        kubeconfig: &Path,
        log: PathBuf,
        emulator_url: &str,
        qps: f64,
        namespace: Option<&str>,
    ) -> OperatorProcess {
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aliyun-backup-operator"));
        cmd.args([
            "run",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--metrics-addr=127.0.0.1:0",
            "--health-addr=127.0.0.1:0",
            "--log-format=json",
            "--log-level=info",
            &format!("--cloud-qps={qps}"),
            &format!("--cloud-burst={}", (qps.ceil() as u32).max(1)),
            "--leader-election=false",
            "--timing=fast",
            &format!("--endpoint-override={emulator_url}"),
        ]);
        if let Some(ns) = namespace {
            cmd.arg(format!("--namespace={ns}"));
        }
        let child = cmd
            .env_remove("WATCH_NAMESPACES")
            .env_remove("WATCH_SELECTOR")
            .env_remove("PAUSED_NAMESPACES")
            .env_remove("DEFAULT_DELETION_POLICY")
            .env_remove("LOG_LEVEL")
            .env_remove("LOG_FORMAT")
            .env_remove("POD_NAMESPACE")
            .env("POD_NAME", "converge-bench")
            // Default credentials (unused: every object names its Secret) are the demo key,
            // never the environment's.
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEMO_ACCESS_KEY_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn the operator binary");
        OperatorProcess {
            child,
            log,
            metrics_addr: None,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The metrics listener's address, from the first JSON log line
    /// `serving /metrics, /healthz, /readyz` (its field `bound`).
    fn find_metrics_addr(&self) -> Option<SocketAddr> {
        self.log_text()
            .lines()
            .find(|l| l.contains("serving /metrics"))
            .and_then(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                v.get("fields")
                    .and_then(|f| f.get("bound"))
                    .or_else(|| v.get("bound"))
                    .and_then(|b| b.as_str())
                    .and_then(|b| b.parse().ok())
            })
    }

    /// Waits until the operator serves `/readyz` with 200 (it exits 1 from the benchmark if the
    /// process dies or does not get ready).
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                fail(&format!(
                    "the operator exited with {status} before it was ready; its log:\n{}",
                    self.log_text()
                ));
            }
            if self.metrics_addr.is_none() {
                self.metrics_addr = self.find_metrics_addr();
            }
            if let Some(addr) = self.metrics_addr {
                let ready = http
                    .get(format!("http://{addr}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    return;
                }
            }
            if Instant::now() > deadline {
                fail(&format!(
                    "the operator was not ready within {READY_WITHIN:?}; its log:\n{}",
                    self.log_text()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `aliyun_backup_reconcile_total{kind=...}` from the operator's `/metrics`.
    async fn reconciles(&self, http: &reqwest::Client, kind: Kind) -> Option<u64> {
        let addr = self.metrics_addr?;
        let body = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let label = format!("kind=\"{}\"", kind.name());
        body.lines()
            .filter(|l| l.starts_with("aliyun_backup_reconcile_total{") && l.contains(&label))
            .find_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps `seen` (object name → `status.phase`, `-` when none) up to date from a watch of the
/// objects matching `selector`; `synced` fires once the first list is in.
async fn track_phases(
    api: Api<DynamicObject>,
    selector: String,
    seen: Arc<Mutex<HashMap<String, String>>>,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let mut synced = Some(synced);
    let stream = watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                let phase = o
                    .data
                    .get("status")
                    .and_then(|st| st.get("phase"))
                    .and_then(|p| p.as_str())
                    .unwrap_or("-")
                    .to_string();
                seen.lock()
                    .unwrap()
                    .insert(o.metadata.name.unwrap_or_default(), phase);
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.lock()
                    .unwrap()
                    .remove(&o.metadata.name.unwrap_or_default());
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(watcher::Event::Init) => {}
            Err(e) => eprintln!("warning: watch: {e}"),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// Where the objects live: kube-sandbox in this process (its world), or another cluster.
enum Cluster {
    Sandbox(Box<World>),
    External {
        client: Client,
        emulator: EmulatorHandle,
    },
}

impl Cluster {
    fn client(&self) -> Client {
        match self {
            Cluster::Sandbox(w) => w.client.clone(),
            Cluster::External { client, .. } => client.clone(),
        }
    }

    fn emulator(&self) -> &EmulatorHandle {
        match self {
            Cluster::Sandbox(w) => &w.emulator,
            Cluster::External { emulator, .. } => emulator,
        }
    }

    async fn stop(self) {
        match self {
            Cluster::Sandbox(w) => w.stop().await.unwrap(),
            Cluster::External { emulator, .. } => emulator.shutdown().await,
        }
    }
}

struct Settings {
    kind: Kind,
    n: usize,
    job: Duration,
    qps: f64,
    timeout: Duration,
    mode: Mode,
    kubeconfig: Option<PathBuf>,
    summary: bool,
    /// `spec.backupSetDetails` of the `RdsBackup`s.
    rds_details: &'static str,
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let kind = match env_choice("CONVERGE_KIND", "rds", &["rds", "hbr"]) {
        "hbr" => Kind::Hbr,
        _ => Kind::Rds,
    };
    let mode = match env_choice("CONVERGE_OPERATOR", "process", &["process", "inprocess"]) {
        "inprocess" => Mode::InProcess,
        _ => Mode::Process,
    };
    let kubeconfig = std::env::var_os("CONVERGE_KUBECONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if kubeconfig.is_some() && mode == Mode::InProcess {
        fail(
            "CONVERGE_KUBECONFIG needs CONVERGE_OPERATOR=process (the operator runs as a process)",
        );
    }
    let settings = Settings {
        kind,
        n: env_or("CONVERGE_N", 50),
        job: env_duration("CONVERGE_JOB_DURATION", "2s"),
        qps: env_or("CONVERGE_CLOUD_QPS", 1000.0),
        timeout: env_duration("CONVERGE_TIMEOUT", "600s"),
        mode,
        kubeconfig,
        summary: std::env::var("CONVERGE_SUMMARY").is_ok_and(|v| v == "1"),
        rds_details: env_choice("CONVERGE_RDS_DETAILS", "Skip", &["Skip", "Record"]),
    };
    if settings.n == 0 {
        fail("CONVERGE_N must be > 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = runtime.block_on(run(&settings));
    if !ok {
        std::process::exit(1);
    }
}

/// Connects to the cluster of `path`, checks that the kind is served and the namespace holds
/// none of its objects, creates the namespace and the credentials Secret if missing.
async fn external_cluster(path: &Path, kind: Kind) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| fail(&format!("CONVERGE_KUBECONFIG={}: {e}", path.display())));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| fail(&format!("CONVERGE_KUBECONFIG={}: {e}", path.display())));
    let client = Client::try_from(config).unwrap_or_else(|e| fail(&format!("client: {e}")));
    ensure_namespace(&client, NS)
        .await
        .unwrap_or_else(|e| fail(&format!("namespace {NS}: {e}")));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &kind.api_resource());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(list) if list.items.is_empty() => {}
        Ok(_) => fail(&format!(
            "namespace {NS} already holds {} objects; delete them first \
             (kubectl delete {} -n {NS} --all)",
            kind.name(),
            kind.plural()
        )),
        Err(kube::Error::Api(s)) if s.code == 404 => fail(&format!(
            "the cluster does not serve {}.backup.aliyun.dev: install the CRDs first \
             (cargo run -- crd | kubectl apply -f -)",
            kind.plural()
        )),
        Err(e) => fail(&format!("list {} in {NS}: {e}", kind.plural())),
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    match secrets.get_opt(CREDS).await {
        Ok(Some(_)) => eprintln!(
            "note: Secret {NS}/{CREDS} exists and is used as it is (the emulator accepts only \
             the demo key {DEMO_ACCESS_KEY_ID})"
        ),
        Ok(None) => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(CREDS.into()),
                    namespace: Some(NS.into()),
                    ..ObjectMeta::default()
                },
                string_data: Some(
                    CredentialsSecret::demo(NS, CREDS)
                        .data()
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                        .collect(),
                ),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap_or_else(|e| fail(&format!("create Secret {NS}/{CREDS}: {e}")));
        }
        Err(e) => fail(&format!("get Secret {NS}/{CREDS}: {e}")),
    }
    client
}

async fn run(s: &Settings) -> bool {
    let (kind, n, job, qps) = (s.kind, s.n, s.job, s.qps);
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The world: with one emulated instance per object, the chosen rate limit and the
    // objects' credentials Secret; the operator in this process or not at all.
    let cluster = match &s.kubeconfig {
        None => {
            let mut config = WorldConfig::demo(job)
                .with_credentials_secret(CredentialsSecret::demo(NS, CREDS))
                .with_emulator(kind.emulator(job, n));
            config.operator.metrics = false;
            config.operator.cloud_qps = Some(qps);
            config.start_operator = s.mode == Mode::InProcess;
            Cluster::Sandbox(Box::new(World::start(&config).await.unwrap()))
        }
        Some(path) => {
            let client = external_cluster(path, kind).await;
            let emulator = Emulator::start(kind.emulator(job, n)).await.unwrap();
            Cluster::External { client, emulator }
        }
    };
    let client = cluster.client();

    let mut operator = match s.mode {
        Mode::InProcess => None,
        Mode::Process => {
            let kubeconfig = match &s.kubeconfig {
                Some(path) => path.clone(),
                None => {
                    let path = dir.path().join("kubeconfig");
                    match &cluster {
                        Cluster::Sandbox(w) => w.sandbox.write_kubeconfig(&path).unwrap(),
                        Cluster::External { .. } => unreachable!(),
                    }
                    path
                }
            };
            Some(OperatorProcess::spawn(
                &kubeconfig,
                dir.path().join("operator.log"),
                &cluster.emulator().url(),
                qps,
                // On a real cluster, only the benchmark's namespace.
                s.kubeconfig.as_ref().map(|_| NS),
            ))
        }
    };
    match (&mut operator, &cluster) {
        (Some(op), _) => op.wait_ready(&http).await,
        (None, Cluster::Sandbox(w)) => {
            let deadline = Instant::now() + READY_WITHIN;
            while !w.operator().is_some_and(|o| o.readiness.get()) {
                if Instant::now() > deadline {
                    fail("the in-process operator was not ready in time");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        (None, Cluster::External { .. }) => unreachable!(),
    }
    if let Cluster::Sandbox(w) = &cluster {
        w.sandbox.reset_counters();
    }
    // The operator's start-up (before the first object), to tell apart from the work.
    let op_cpu_at_ready = operator
        .as_ref()
        .and_then(|op| cpu_seconds(&op.pid(), clock_ticks()));

    let (where_, timing) = match (s.mode, &s.kubeconfig) {
        (Mode::InProcess, _) => (
            "operator in this process, kube-sandbox".to_string(),
            "sandbox timing",
        ),
        (Mode::Process, None) => (
            format!(
                "operator binary pid {}, kube-sandbox",
                operator.as_ref().unwrap().pid()
            ),
            "--timing=fast",
        ),
        (Mode::Process, Some(p)) => (
            format!(
                "operator binary pid {}, cluster of {}",
                operator.as_ref().unwrap().pid(),
                p.display()
            ),
            "--timing=fast",
        ),
    };
    let details = match kind {
        Kind::Rds => format!(", backupSetDetails {}", s.rds_details),
        Kind::Hbr => String::new(),
    };
    println!(
        "converge: {n} {}s{details}, emulator job duration {}, cloud qps {qps}, {timing}, {where_}",
        kind.name(),
        humantime::format_duration(job)
    );

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &kind.api_resource());
    // The objects' phases, from a watch (one list, then only the changes: cheaper for the API
    // server than listing every object again and again).
    let selector = format!("{LABEL}={run_id}");
    let seen = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel::<()>();
    let tracker = tokio::spawn(track_phases(
        api.clone(),
        selector.clone(),
        seen.clone(),
        synced_tx,
    ));
    if tokio::time::timeout(READY_WITHIN, synced_rx).await.is_err() {
        fail(&format!("the watch of {} did not start", kind.plural()));
    }
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let obj = kind.object(i, &run_id, s.rds_details);
            async move { api.create(&PostParams::default(), &obj).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await
        .unwrap_or_else(|e| fail(&format!("create {}: {e}", kind.name())));
    let created = started.elapsed();

    let deadline = started + s.timeout;
    let mut last_progress = Instant::now();
    let (succeeded, failed, phases) = loop {
        // Counted without copying: this runs often and sees every object.
        let phases: std::collections::BTreeMap<String, usize> = {
            let seen = seen.lock().unwrap();
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for phase in seen.values() {
                *counts.entry(phase.as_str()).or_default() += 1;
            }
            counts
                .into_iter()
                .map(|(p, c)| (p.to_string(), c))
                .collect()
        };
        let succeeded = phases.get("Succeeded").copied().unwrap_or(0);
        let failed = phases
            .iter()
            .filter(|(p, _)| *p != "Succeeded" && kind.is_terminal(p))
            .map(|(_, c)| c)
            .sum::<usize>();
        if succeeded + failed == n || Instant::now() > deadline {
            break (succeeded, failed, phases);
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "  … {:>6.1} s: {phases:?}, {} cloud calls",
                started.elapsed().as_secs_f64(),
                cluster.emulator().call_count()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let converged = started.elapsed();

    // Everything about the operator process is read before it is stopped.
    let ticks = clock_ticks();
    let (op_rss, op_cpu, reconciles) = match (&operator, &cluster) {
        (Some(op), _) => (
            peak_rss_kib(&op.pid()),
            cpu_seconds(&op.pid(), ticks),
            op.reconciles(&http, kind).await,
        ),
        (None, Cluster::Sandbox(w)) => (
            None,
            None,
            w.operator().map(|o| o.metrics.reconcile_count(kind.name())),
        ),
        (None, Cluster::External { .. }) => unreachable!(),
    };
    let counters = match &cluster {
        Cluster::Sandbox(w) => Some(w.sandbox.counters()),
        Cluster::External { .. } => None,
    };
    let calls = cluster.emulator().calls();
    let bench_rss = peak_rss_kib("self");
    let bench_cpu = cpu_seconds("self", ticks);

    println!(
        "  created all objects in     {:>8.2} s  ({CREATE_CONCURRENCY} creates in flight)",
        created.as_secs_f64()
    );
    println!(
        "  converged in               {:>8.2} s  ({succeeded} succeeded, {failed} failed, {} not done)",
        converged.as_secs_f64(),
        n - succeeded - failed,
    );
    if succeeded + failed != n {
        println!("  phases at the deadline     {phases:?}");
    }
    println!(
        "  minimum possible           {:>8.2} s  (one job duration)",
        job.as_secs_f64()
    );
    match reconciles {
        Some(r) => println!("  reconciles per object      {:>8.2}", per(r, n)),
        None => println!("  reconciles per object           n/a"),
    }
    let mut writes_per_object = None;
    let mut events_per_object = None;
    match &counters {
        Some(counters) => {
            // Writes by the operator: everything after the reset except the benchmark's own
            // creates.
            let operator_writes = counters.total_writes().saturating_sub(n as u64);
            writes_per_object = Some(per(operator_writes, n));
            println!(
                "  API-server writes / object {:>8.2}  (operator only; total {operator_writes})",
                per(operator_writes, n)
            );
            let mut writes: Vec<(String, u64)> = counters
                .0
                .iter()
                .filter(|(k, _)| {
                    matches!(
                        k.verb.as_str(),
                        "create" | "update" | "patch" | "delete" | "deletecollection"
                    )
                })
                .map(|(k, v)| {
                    let res = if k.subresource.is_empty() {
                        k.resource.clone()
                    } else {
                        format!("{}/{}", k.resource, k.subresource)
                    };
                    // The benchmark's own creates are not the operator's.
                    let v = if k.verb == "create"
                        && k.resource == kind.plural()
                        && k.subresource.is_empty()
                    {
                        v.saturating_sub(n as u64)
                    } else {
                        *v
                    };
                    (format!("{} {res}", k.verb), v)
                })
                .filter(|(_, v)| *v > 0)
                .collect();
            writes.sort();
            let events: u64 = writes
                .iter()
                .filter(|(w, _)| w.ends_with(" events"))
                .map(|(_, v)| v)
                .sum();
            events_per_object = Some(per(events, n));
            for (what, v) in &writes {
                println!("    {what:<30} {:>8.2} / object", per(*v, n));
            }
            let reads: u64 = counters
                .0
                .iter()
                .filter(|(k, _)| matches!(k.verb.as_str(), "get" | "list"))
                .map(|(_, v)| v)
                .sum();
            println!(
                "  API-server reads / object  {:>8.2}  (get + list; this benchmark's watch adds one list)",
                per(reads, n)
            );
            let mut by_resource: Vec<(String, u64)> = counters
                .0
                .iter()
                .filter(|(k, _)| matches!(k.verb.as_str(), "get" | "list"))
                .map(|(k, v)| (format!("{} {}", k.verb, k.resource), *v))
                .collect();
            by_resource.sort();
            for (what, v) in &by_resource {
                println!("    {what:<30} {:>8.2} / object", per(*v, n));
            }
        }
        None => {
            println!("  API-server writes / object      n/a  (counted by kube-sandbox only)");
            println!("  API-server reads / object       n/a");
        }
    }
    let calls_per_object = per(calls.log.len() as u64, n);
    println!(
        "  cloud calls / object       {calls_per_object:>8.2}  (total {})",
        calls.log.len()
    );
    for (what, v) in calls.counts() {
        println!("    {what:<30} {:>8.2} / object", per(v as u64, n));
    }
    let op_cpu_ms_per_backup = op_cpu
        .filter(|_| succeeded > 0)
        .map(|c| c * 1000.0 / succeeded as f64);
    if operator.is_some() {
        println!(
            "  operator peak RSS          {:>8}  MiB  (VmHWM of the operator process)",
            opt(op_rss.map(mib), 1)
        );
        println!(
            "  operator CPU               {:>8}  s    (user + system, {ticks} ticks/s; {} s of it by the time it was ready)",
            opt(op_cpu, 2),
            opt(op_cpu_at_ready, 2)
        );
        println!(
            "  operator CPU / backup      {:>8}  ms   (per succeeded object)",
            opt(op_cpu_ms_per_backup, 2)
        );
    }
    let bench_label = match (s.mode, &s.kubeconfig) {
        (Mode::InProcess, _) => "operator, API server, emulator and this benchmark",
        (Mode::Process, None) => "API server, emulator and this benchmark; not the operator",
        (Mode::Process, Some(_)) => "emulator and this benchmark; not the operator",
    };
    println!(
        "  bench-process peak RSS     {:>8}  MiB  ({bench_label})",
        opt(bench_rss.map(mib), 1)
    );
    println!(
        "  bench-process CPU          {:>8}  s    ({bench_label})",
        opt(bench_cpu, 2)
    );
    if s.summary {
        println!(
            "| {} | {n} | {} | {qps} | {:.2} | {calls_per_object:.2} | {} | {} | {} | {} | {} |",
            kind.short(),
            humantime::format_duration(job),
            converged.as_secs_f64(),
            opt(writes_per_object, 2),
            opt(events_per_object, 2),
            opt(op_rss.map(mib), 1),
            opt(op_cpu_ms_per_backup, 2),
            opt(bench_rss.map(mib), 1),
        );
    }

    tracker.abort();
    let creates = calls.count_code(kind.create_action(), "OK");
    if operator.is_some() && matches!(cluster, Cluster::External { .. }) {
        // On a real cluster, delete what the benchmark made (while the operator runs, so that
        // its finalizers go).
        let dp = DeleteParams::default();
        let lp = ListParams::default().labels(&selector);
        if let Err(e) = api.delete_collection(&dp, &lp).await {
            eprintln!("warning: could not delete the benchmark's objects: {e}");
        }
        let gone_by = Instant::now() + Duration::from_secs(120);
        while Instant::now() < gone_by {
            match api.list(&lp).await {
                Ok(l) if l.items.is_empty() => break,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    if let Some(op) = operator.take() {
        op.kill();
    }
    cluster.stop().await;
    let mut ok = true;
    if succeeded != n {
        eprintln!("error: {} of {n} objects did not succeed", n - succeeded);
        ok = false;
    }
    if creates != n {
        eprintln!(
            "error: {creates} successful {} calls for {n} objects",
            kind.create_action()
        );
        ok = false;
    }
    ok
}
