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
//!
//! Layout: this file reads the settings and runs the steps (start, create, wait, measure,
//! clean up); `converge/kind.rs` is what is created, `converge/cluster.rs` where,
//! `converge/operator.rs` the operator process and `/proc` figures, `converge/report.rs` the
//! printed figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "converge/cluster.rs"]
mod cluster;
#[path = "converge/kind.rs"]
mod kind;
#[path = "converge/operator.rs"]
mod operator;
#[path = "converge/report.rs"]
mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aliyun_backup_operator::sandbox::{CredentialsSecret, World, WorldConfig};
use aliyun_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};

use cluster::{Cluster, external_cluster, track_phases};
use kind::{Kind, Mode};
use operator::{OperatorProcess, clock_ticks, cpu_seconds, peak_rss_kib};
use report::{Measured, Outcome};

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

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
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

/// One run: start, create the objects, wait until they converge, measure, report, clean up.
async fn run(s: &Settings) -> bool {
    let kind = s.kind;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let cluster = start_cluster(s).await;
    let client = cluster.client();
    let mut operator = spawn_operator(s, &cluster, dir.path());
    wait_ready(operator.as_mut(), &cluster, &http).await;
    if let Cluster::Sandbox(w) = &cluster {
        w.sandbox.reset_counters();
    }
    // The operator's start-up (before the first object), to tell apart from the work.
    let op_cpu_at_ready = operator
        .as_ref()
        .and_then(|op| cpu_seconds(&op.pid(), clock_ticks()));
    print_header(s, operator.as_ref());

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &kind.api_resource());
    let selector = format!("{LABEL}={run_id}");
    let (seen, tracker) = watch_phases(&api, &selector, kind).await;
    let started = Instant::now();
    create_objects(&api, s, &run_id).await;
    let created = started.elapsed();
    let (succeeded, failed, phases) = wait_converged(s, &seen, &cluster, started).await;
    let converged = started.elapsed();

    let outcome = Outcome {
        created,
        converged,
        succeeded,
        failed,
        phases,
    };
    // Everything about the operator process is read before it is stopped.
    let measured = measure(s, operator.as_ref(), op_cpu_at_ready, &cluster, &http).await;
    report::report(s, &outcome, &measured);

    tracker.abort();
    let creates = measured.calls.count_code(kind.create_action(), "OK");
    if operator.is_some() && matches!(cluster, Cluster::External { .. }) {
        delete_objects(&api, &selector).await;
    }
    if let Some(op) = operator.take() {
        op.kill();
    }
    cluster.stop().await;
    verdict(s, succeeded, creates)
}

/// The world: with one emulated instance per object, the chosen rate limit and the
/// objects' credentials Secret; the operator in this process or not at all.
async fn start_cluster(s: &Settings) -> Cluster {
    let (kind, n, job) = (s.kind, s.n, s.job);
    match &s.kubeconfig {
        None => {
            let mut config = WorldConfig::demo(job)
                .with_credentials_secret(CredentialsSecret::demo(NS, CREDS))
                .with_emulator(kind.emulator(job, n));
            config.operator.metrics = false;
            config.operator.cloud_qps = Some(s.qps);
            config.start_operator = s.mode == Mode::InProcess;
            Cluster::Sandbox(Box::new(World::start(&config).await.unwrap()))
        }
        Some(path) => {
            let client = external_cluster(path, kind).await;
            let emulator = Emulator::start(kind.emulator(job, n)).await.unwrap();
            Cluster::External { client, emulator }
        }
    }
}

/// The operator binary as a child process (`CONVERGE_OPERATOR=process`), with a kubeconfig
/// of the sandbox written into `dir` when there is no other cluster.
fn spawn_operator(s: &Settings, cluster: &Cluster, dir: &Path) -> Option<OperatorProcess> {
    if s.mode == Mode::InProcess {
        return None;
    }
    let kubeconfig = match &s.kubeconfig {
        Some(path) => path.clone(),
        None => {
            let path = dir.join("kubeconfig");
            match cluster {
                Cluster::Sandbox(w) => w.sandbox.write_kubeconfig(&path).unwrap(),
                Cluster::External { .. } => unreachable!(),
            }
            path
        }
    };
    Some(OperatorProcess::spawn(
        &kubeconfig,
        dir.join("operator.log"),
        &cluster.emulator().url(),
        s.qps,
        // On a real cluster, only the benchmark's namespace.
        s.kubeconfig.as_ref().map(|_| NS),
    ))
}

/// Waits until the operator (the process, or the one in this process) is ready.
async fn wait_ready(
    operator: Option<&mut OperatorProcess>,
    cluster: &Cluster,
    http: &reqwest::Client,
) {
    match (operator, cluster) {
        (Some(op), _) => op.wait_ready(http).await,
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
}

/// The first line: what runs where.
fn print_header(s: &Settings, operator: Option<&OperatorProcess>) {
    let (kind, n, job, qps) = (s.kind, s.n, s.job, s.qps);
    let (where_, timing) = match (s.mode, &s.kubeconfig) {
        (Mode::InProcess, _) => (
            "operator in this process, kube-sandbox".to_string(),
            "sandbox timing",
        ),
        (Mode::Process, None) => (
            format!(
                "operator binary pid {}, kube-sandbox",
                operator.unwrap().pid()
            ),
            "--timing=fast",
        ),
        (Mode::Process, Some(p)) => (
            format!(
                "operator binary pid {}, cluster of {}",
                operator.unwrap().pid(),
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
}

/// Object name → `status.phase`, kept up to date by a watch.
type Phases = Arc<Mutex<HashMap<String, String>>>;

/// The objects' phases, from a watch (one list, then only the changes: cheaper for the API
/// server than listing every object again and again); returns once the first list is in.
async fn watch_phases(
    api: &Api<DynamicObject>,
    selector: &str,
    kind: Kind,
) -> (Phases, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel::<()>();
    let tracker = tokio::spawn(track_phases(
        api.clone(),
        selector.to_string(),
        seen.clone(),
        synced_tx,
    ));
    if tokio::time::timeout(READY_WITHIN, synced_rx).await.is_err() {
        fail(&format!("the watch of {} did not start", kind.plural()));
    }
    (seen, tracker)
}

/// Creates the `n` objects, [`CREATE_CONCURRENCY`] at a time.
async fn create_objects(api: &Api<DynamicObject>, s: &Settings, run_id: &str) {
    let kind = s.kind;
    futures::stream::iter(0..s.n)
        .map(|i| {
            let api = api.clone();
            let obj = kind.object(i, run_id, s.rds_details);
            async move { api.create(&PostParams::default(), &obj).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await
        .unwrap_or_else(|e| fail(&format!("create {}: {e}", kind.name())));
}

/// Waits until every object ended or the timeout passed: succeeded, failed (other terminal
/// phases) and the count per phase.
async fn wait_converged(
    s: &Settings,
    seen: &Phases,
    cluster: &Cluster,
    started: Instant,
) -> (usize, usize, BTreeMap<String, usize>) {
    let (kind, n) = (s.kind, s.n);
    let deadline = started + s.timeout;
    let mut last_progress = Instant::now();
    loop {
        let phases = count_phases(seen);
        let succeeded = phases.get("Succeeded").copied().unwrap_or(0);
        let failed = phases
            .iter()
            .filter(|(p, _)| *p != "Succeeded" && kind.is_terminal(p))
            .map(|(_, c)| c)
            .sum::<usize>();
        if succeeded + failed == n || Instant::now() > deadline {
            return (succeeded, failed, phases);
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
    }
}

/// Objects per phase. Counted without copying: this runs often and sees every object.
fn count_phases(seen: &Phases) -> BTreeMap<String, usize> {
    let seen = seen.lock().unwrap();
    let mut counts = BTreeMap::<&str, usize>::new();
    for phase in seen.values() {
        *counts.entry(phase.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(p, c)| (p.to_string(), c))
        .collect()
}

/// The figures of the operator, the API server, the emulator and this process, read while
/// the operator still runs.
async fn measure(
    s: &Settings,
    operator: Option<&OperatorProcess>,
    op_cpu_at_ready: Option<f64>,
    cluster: &Cluster,
    http: &reqwest::Client,
) -> Measured {
    let kind = s.kind;
    let ticks = clock_ticks();
    let (op_rss, op_cpu, reconciles) = match (operator, cluster) {
        (Some(op), _) => (
            peak_rss_kib(&op.pid()),
            cpu_seconds(&op.pid(), ticks),
            op.reconciles(http, kind).await,
        ),
        (None, Cluster::Sandbox(w)) => (
            None,
            None,
            w.operator().map(|o| o.metrics.reconcile_count(kind.name())),
        ),
        (None, Cluster::External { .. }) => unreachable!(),
    };
    let counters = match cluster {
        Cluster::Sandbox(w) => Some(w.sandbox.counters()),
        Cluster::External { .. } => None,
    };
    let calls = cluster.emulator().calls();
    let bench_rss = peak_rss_kib("self");
    let bench_cpu = cpu_seconds("self", ticks);
    Measured {
        ticks,
        op_rss,
        op_cpu,
        op_cpu_at_ready,
        reconciles,
        counters,
        calls,
        bench_rss,
        bench_cpu,
        has_operator: operator.is_some(),
    }
}

/// On a real cluster, deletes what the benchmark made (while the operator runs, so that its
/// finalizers go).
async fn delete_objects(api: &Api<DynamicObject>, selector: &str) {
    let dp = DeleteParams::default();
    let lp = ListParams::default().labels(selector);
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

/// Whether every object succeeded with exactly one successful create call each.
fn verdict(s: &Settings, succeeded: usize, creates: usize) -> bool {
    let n = s.n;
    let mut ok = true;
    if succeeded != n {
        eprintln!("error: {} of {n} objects did not succeed", n - succeeded);
        ok = false;
    }
    if creates != n {
        eprintln!(
            "error: {creates} successful {} calls for {n} objects",
            s.kind.create_action()
        );
        ok = false;
    }
    ok
}
