//! Convergence benchmark: the real operator, kube-sandbox and aliyun-emulator in one process;
//! N `RdsBackup`s created at once and tracked until every one has succeeded.
//!
//! ```sh
//! cargo bench --bench converge
//! CONVERGE_N=200 CONVERGE_JOB_DURATION=5s CONVERGE_CLOUD_QPS=10 cargo bench --bench converge
//! ```
//!
//! Prints figures, asserts nothing about time. Environment:
//! `CONVERGE_N` (objects, default 50), `CONVERGE_JOB_DURATION` (how long one backup takes in the
//! emulator, default 2s), `CONVERGE_CLOUD_QPS` (the operator's cloud rate limit per access key,
//! region and product; default 1000, i.e. not the bottleneck; the production default is 10),
//! `CONVERGE_TIMEOUT` (default 600s). Exits non-zero if the objects do not all succeed or a
//! backup was created more than once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aliyun_backup_operator::crd::{RdsBackup, RdsBackupPhase};
use aliyun_backup_operator::sandbox::{CredentialsSecret, World, WorldConfig};
use kube::Api;
use kube::api::{ListParams, PostParams};

const NS: &str = "bench";

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

/// Peak resident set size of this process (the operator, API server and emulator together).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn per(total: u64, n: usize) -> f64 {
    total as f64 / n as f64
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n: usize = env_or("CONVERGE_N", 50);
    let job = env_duration("CONVERGE_JOB_DURATION", "2s");
    let qps: f64 = env_or("CONVERGE_CLOUD_QPS", 1000.0);
    let timeout = env_duration("CONVERGE_TIMEOUT", "600s");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = runtime.block_on(run(n, job, qps, timeout));
    if !ok {
        std::process::exit(1);
    }
}

async fn run(n: usize, job: Duration, qps: f64, timeout: Duration) -> bool {
    let instances: Vec<String> = (0..n).map(|i| format!("rm-bench{i:04}")).collect();
    // The sandbox's world (sandbox timing), with one emulated instance per object, no metrics
    // listener, the chosen rate limit and the objects' credentials Secret.
    let mut config =
        WorldConfig::demo(job).with_credentials_secret(CredentialsSecret::demo(NS, "creds"));
    config.emulator = config
        .emulator
        .rds_instances(instances.clone())
        .ecs_instances(Vec::<String>::new());
    config.operator.metrics = false;
    config.operator.cloud_qps = Some(qps);
    let world = World::start(&config).await.unwrap();
    let client = world.client.clone();
    world.sandbox.reset_counters();

    println!(
        "converge: {n} RdsBackups, emulator job duration {}, cloud qps {qps}, sandbox timing",
        humantime::format_duration(job)
    );
    let api: Api<RdsBackup> = Api::namespaced(client.clone(), NS);
    let started = Instant::now();
    for (i, instance) in instances.iter().enumerate() {
        let spec = serde_json::from_value(serde_json::json!({
            "region": "cn-hangzhou",
            "credentialsRef": {"name": "creds"},
            "dbInstanceId": instance,
        }))
        .unwrap();
        api.create(
            &PostParams::default(),
            &RdsBackup::new(&format!("bench-{i:04}"), spec),
        )
        .await
        .unwrap();
    }
    let created = started.elapsed();

    let deadline = Instant::now() + timeout;
    let (succeeded, failed) = loop {
        let list = api.list(&ListParams::default()).await.unwrap();
        let phase = |p| {
            list.items
                .iter()
                .filter(|o| o.status.as_ref().and_then(|s| s.phase) == Some(p))
                .count()
        };
        let (s, f) = (
            phase(RdsBackupPhase::Succeeded),
            phase(RdsBackupPhase::Failed),
        );
        if s + f == n || Instant::now() > deadline {
            break (s, f);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let converged = started.elapsed();

    let counters = world.sandbox.counters();
    let calls = world.emulator.calls();
    let reconciles = world
        .operator()
        .map(|o| o.metrics.reconcile_count("RdsBackup"))
        .unwrap_or(0);

    println!(
        "  created all objects in     {:>8.2} s",
        created.as_secs_f64()
    );
    println!(
        "  converged in               {:>8.2} s  ({succeeded} succeeded, {failed} failed, {} not done)",
        converged.as_secs_f64(),
        n - succeeded - failed
    );
    println!(
        "  minimum possible           {:>8.2} s  (one job duration)",
        job.as_secs_f64()
    );
    println!("  reconciles per object      {:>8.2}", per(reconciles, n));
    // Writes by the operator: everything after the reset except the benchmark's own creates.
    let operator_writes = counters.total_writes() - n as u64;
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
            let v = if k.verb == "create" && k.resource == "rdsbackups" && k.subresource.is_empty()
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
        "  API-server reads / object  {:>8.2}  (get + list, including this benchmark's polling)",
        per(reads, n)
    );
    println!(
        "  cloud calls / object       {:>8.2}  (total {})",
        per(calls.log.len() as u64, n),
        calls.log.len()
    );
    for (what, v) in calls.counts() {
        println!("    {what:<30} {:>8.2} / object", per(v as u64, n));
    }
    match peak_rss_kib() {
        Some(kib) => println!(
            "  peak RSS (whole process)   {:>8.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS                   n/a"),
    }

    let creates = calls.count_code("CreateBackup", "OK");
    world.stop().await.unwrap();
    let mut ok = true;
    if succeeded != n {
        eprintln!("error: {} of {n} objects did not succeed", n - succeeded);
        ok = false;
    }
    if creates != n {
        eprintln!("error: {creates} successful CreateBackup calls for {n} objects");
        ok = false;
    }
    ok
}
