//! The demo: apply manifests, show progress until every object is done, report; and the
//! `--serve` follow mode.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::Client;
use tokio_util::sync::CancellationToken;

use super::render::{Progress, dash};
use super::{
    Applied, ObjectState, SandboxError, ScheduleState, ScheduleTally, TrackedKind, Verdict, World,
    apply_manifests, ensure_namespace, load_manifests, observe, observe_all, render_line,
};

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
    /// How much faster than wall time the operator's schedules run (for the summary).
    pub schedule_clock_speed: u32,
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
    /// How much faster than wall time the operator's schedules ran.
    pub schedule_clock_speed: u32,
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
        let schedules: Vec<(&ObjectState, &ScheduleState)> = self
            .objects
            .iter()
            .filter_map(|o| o.schedule.as_ref().map(|s| (o, s)))
            .collect();
        if !schedules.is_empty() {
            if self.schedule_clock_speed > 1 {
                let _ = writeln!(
                    out,
                    "Schedules (on a clock {}x faster than wall time; their times are on it):",
                    self.schedule_clock_speed
                );
            } else {
                out.push_str("Schedules:\n");
            }
            for (o, s) in schedules {
                let _ = writeln!(
                    out,
                    "  {} {:?} ({}): children made {}, succeeded {}, failed {}, running {}, pruned {}; lastSuccessfulTime {}; RPOMet {}",
                    o.label(),
                    s.cron,
                    s.time_zone,
                    s.made,
                    s.succeeded,
                    s.failed,
                    s.running,
                    s.pruned,
                    dash(s.last_successful_time.as_deref()),
                    dash(s.rpo_met.as_deref()),
                );
            }
        }
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
    let mut tally = ScheduleTally::default();
    let outcome = loop {
        let states = observe(client, &tracked, &mut tally).await?;
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
                let states = observe(client, &tracked, &mut tally).await?;
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
        schedule_clock_speed: options.schedule_clock_speed,
    })
}

/// `--serve`: until `cancel` fires, prints a line whenever an object of our kinds in any
/// namespace appears, changes or goes away (what `kubectl apply`/`delete` in another terminal
/// does). `known` are the states already shown.
pub(super) async fn follow_all(
    client: &Client,
    known: &[ObjectState],
    out: &mut (dyn Write + Send),
    cancel: &CancellationToken,
) {
    let key = |s: &ObjectState| (s.kind, s.namespace.clone(), s.name.clone());
    // Compared as printed: a schedule's status changes at every slot (its next run), which is
    // not worth a line.
    let mut last: HashMap<(TrackedKind, String, String), String> =
        known.iter().map(|s| (key(s), render_line(s))).collect();
    let mut tally = ScheduleTally::default();
    let started = Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let states = match observe_all(client, &mut tally).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %crate::controller::reconcile::error::error_chain(&e), "cannot list objects");
                continue;
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let mut seen = BTreeSet::new();
        for s in states {
            let k = key(&s);
            seen.insert(k.clone());
            let line = render_line(&s);
            if last.get(&k) != Some(&line) {
                let _ = writeln!(out, "[{elapsed:>6.1}s] {}: {line}", s.namespace);
                last.insert(k, line);
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
         \x20 kubectl get rdssched                # the schedules: last and next run, RPO met\n\
         \x20 kubectl describe rdsbackup nightly-orders\n"
    );
    s
}
