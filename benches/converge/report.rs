//! The printed figures: times, API-server requests, cloud calls, CPU and memory per object,
//! and the optional markdown summary row.

use std::collections::BTreeMap;
use std::time::Duration;

use aliyun_emulator::Calls;
use kube_sandbox::Counters;

use super::kind::{Kind, Mode};
use super::{CREATE_CONCURRENCY, Settings};

/// How the run went: the times and the phases at the end.
pub(crate) struct Outcome {
    pub(crate) created: Duration,
    pub(crate) converged: Duration,
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    pub(crate) phases: BTreeMap<String, usize>,
}

/// What was measured once the objects converged (before the operator stopped).
pub(crate) struct Measured {
    pub(crate) ticks: f64,
    pub(crate) op_rss: Option<u64>,
    pub(crate) op_cpu: Option<f64>,
    pub(crate) op_cpu_at_ready: Option<f64>,
    pub(crate) reconciles: Option<u64>,
    pub(crate) counters: Option<Counters>,
    pub(crate) calls: Calls,
    pub(crate) bench_rss: Option<u64>,
    pub(crate) bench_cpu: Option<f64>,
    pub(crate) has_operator: bool,
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

/// Prints every figure of the run.
pub(crate) fn report(s: &Settings, o: &Outcome, m: &Measured) {
    let n = s.n;
    print_times(s, o, m);
    let (writes_per_object, events_per_object) = match &m.counters {
        Some(counters) => {
            let (writes, events) = print_api_server(s.kind, n, counters);
            (Some(writes), Some(events))
        }
        None => {
            println!("  API-server writes / object      n/a  (counted by kube-sandbox only)");
            println!("  API-server reads / object       n/a");
            (None, None)
        }
    };
    let calls_per_object = per(m.calls.log.len() as u64, n);
    println!(
        "  cloud calls / object       {calls_per_object:>8.2}  (total {})",
        m.calls.log.len()
    );
    for (what, v) in m.calls.counts() {
        println!("    {what:<30} {:>8.2} / object", per(v as u64, n));
    }
    let op_cpu_ms_per_backup = m
        .op_cpu
        .filter(|_| o.succeeded > 0)
        .map(|c| c * 1000.0 / o.succeeded as f64);
    print_processes(s, m, op_cpu_ms_per_backup);
    if s.summary {
        println!(
            "| {} | {n} | {} | {} | {:.2} | {calls_per_object:.2} | {} | {} | {} | {} | {} |",
            s.kind.short(),
            humantime::format_duration(s.job),
            s.qps,
            o.converged.as_secs_f64(),
            opt(writes_per_object, 2),
            opt(events_per_object, 2),
            opt(m.op_rss.map(mib), 1),
            opt(op_cpu_ms_per_backup, 2),
            opt(m.bench_rss.map(mib), 1),
        );
    }
}

/// How long creating and converging took, and the reconciles per object.
fn print_times(s: &Settings, o: &Outcome, m: &Measured) {
    let n = s.n;
    let (succeeded, failed, phases) = (o.succeeded, o.failed, &o.phases);
    println!(
        "  created all objects in     {:>8.2} s  ({CREATE_CONCURRENCY} creates in flight)",
        o.created.as_secs_f64()
    );
    println!(
        "  converged in               {:>8.2} s  ({succeeded} succeeded, {failed} failed, {} not done)",
        o.converged.as_secs_f64(),
        n - succeeded - failed,
    );
    if succeeded + failed != n {
        println!("  phases at the deadline     {phases:?}");
    }
    println!(
        "  minimum possible           {:>8.2} s  (one job duration)",
        s.job.as_secs_f64()
    );
    match m.reconciles {
        Some(r) => println!("  reconciles per object      {:>8.2}", per(r, n)),
        None => println!("  reconciles per object           n/a"),
    }
}

/// The API server's writes (by the operator) and reads per object, by verb and resource;
/// returns the writes and the event writes per object.
fn print_api_server(kind: Kind, n: usize, counters: &Counters) -> (f64, f64) {
    // Writes by the operator: everything after the reset except the benchmark's own
    // creates.
    let operator_writes = counters.total_writes().saturating_sub(n as u64);
    println!(
        "  API-server writes / object {:>8.2}  (operator only; total {operator_writes})",
        per(operator_writes, n)
    );
    let writes = operator_writes_by_resource(kind, n, counters);
    let events: u64 = writes
        .iter()
        .filter(|(w, _)| w.ends_with(" events"))
        .map(|(_, v)| v)
        .sum();
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
    (per(operator_writes, n), per(events, n))
}

/// The operator's writes by verb and resource (`verb resource[/subresource]`), sorted.
fn operator_writes_by_resource(kind: Kind, n: usize, counters: &Counters) -> Vec<(String, u64)> {
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
            let v = if k.verb == "create" && k.resource == kind.plural() && k.subresource.is_empty()
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
    writes
}

/// Peak RSS and CPU of the operator process (when it is one) and of this process.
fn print_processes(s: &Settings, m: &Measured, op_cpu_ms_per_backup: Option<f64>) {
    if m.has_operator {
        println!(
            "  operator peak RSS          {:>8}  MiB  (VmHWM of the operator process)",
            opt(m.op_rss.map(mib), 1)
        );
        println!(
            "  operator CPU               {:>8}  s    (user + system, {} ticks/s; {} s of it by the time it was ready)",
            opt(m.op_cpu, 2),
            m.ticks,
            opt(m.op_cpu_at_ready, 2)
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
        opt(m.bench_rss.map(mib), 1)
    );
    println!(
        "  bench-process CPU          {:>8}  s    ({bench_label})",
        opt(m.bench_cpu, 2)
    );
}
