//! The operator binary as a child process ([`OperatorProcess`]), and what `/proc` tells about
//! a process (peak RSS, CPU time).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aliyun_backup_operator::sandbox::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};

use super::kind::Kind;
use super::{READY_WITHIN, fail};

/// Peak resident set size (`VmHWM`) of `/proc/<pid>` (`self` for this process), in KiB.
pub(crate) fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub(crate) fn clock_ticks() -> f64 {
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
pub(crate) fn cpu_seconds(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses: state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks)
}

/// The real operator binary as a child process.
pub(crate) struct OperatorProcess {
    child: Child,
    log: PathBuf,
    metrics_addr: Option<SocketAddr>,
}

impl OperatorProcess {
    pub(crate) fn spawn(
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

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The metrics listener's address, from the first JSON log line
    /// `serving /metrics, /healthz, /readyz` (its field `bound`).
    pub(crate) fn find_metrics_addr(&self) -> Option<SocketAddr> {
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
    pub(crate) async fn wait_ready(&mut self, http: &reqwest::Client) {
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
    pub(crate) async fn reconciles(&self, http: &reqwest::Client, kind: Kind) -> Option<u64> {
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

    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
