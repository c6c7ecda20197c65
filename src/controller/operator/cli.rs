//! Flags of the `run` subcommand (the Helm chart passes exactly these) and their translation
//! into an [`OperatorConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args};
use url::Url;

use crate::cloud::CloudConfig;
use crate::controller::{LeaderElectionConfig, OperatorConfig};
use crate::telemetry::LogFormat;

/// `aliyun-backup-operator run` flags.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Path of a kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace to watch (repeatable or comma-separated; default: all namespaces).
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Label selector: manage only the objects of every kind (schedules included) whose labels
    /// match it (e.g. `team=payments` or `tier in (prod,staging),!legacy`; default: all
    /// objects).
    #[arg(long, value_name = "SELECTOR", env = "WATCH_SELECTOR")]
    pub selector: Option<String>,

    /// Namespace whose objects are paused: no cloud calls, no status change but the `Paused`
    /// condition, deletions wait (repeatable or comma-separated).
    #[arg(
        long = "paused-namespace",
        value_name = "NS",
        env = "PAUSED_NAMESPACES",
        value_delimiter = ','
    )]
    pub paused_namespaces: Vec<String>,

    /// Resolve the operator's own lost `CreateBackup` answers from the evidence (the one
    /// unclaimed manual backup set of the instance that started inside the create's window with
    /// its parameters; `docs/architecture.md#exactly-once`). `false`: such an object stops at
    /// `CreateOutcomeUnknown` for a person to decide. A namespace can turn it off with the
    /// annotation `backup.aliyun.dev/auto-resolve-lost-creates: "false"`.
    #[arg(
        long,
        env = "AUTO_RESOLVE_LOST_CREATES",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub auto_resolve_lost_creates: bool,

    /// Deletion policy of objects whose `spec.deletionPolicy` and namespace annotation
    /// `backup.aliyun.dev/default-deletion-policy` are unset.
    #[arg(
        long,
        env = "DEFAULT_DELETION_POLICY",
        default_value = "Retain",
        value_parser = ["Retain", "Delete"]
    )]
    pub default_deletion_policy: String,

    /// Listen address of the /metrics endpoint.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Listen address of the /healthz and /readyz endpoints.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Log level or filter directives (e.g. `info` or `info,kube=warn`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// One base URL for every Alibaba Cloud product (e.g. an emulator); http:// works.
    #[arg(long, value_name = "URL")]
    pub endpoint_override: Option<Url>,

    /// Base URL for one product: PRODUCT=URL with PRODUCT one of dbs, rds, hbr, sts (repeatable).
    #[arg(long = "endpoint", value_name = "PRODUCT=URL")]
    pub endpoints: Vec<String>,

    /// Sustained cloud API requests per second (per access key, region and product).
    #[arg(long, default_value_t = 10.0)]
    pub cloud_qps: f64,

    /// Cloud API burst size (per access key, region and product).
    #[arg(long, default_value_t = 20)]
    pub cloud_burst: u32,

    /// Maximum concurrent reconciles per controller.
    #[arg(long, default_value_t = 8)]
    pub max_concurrent_reconciles: u16,

    /// Leader election on a coordination.k8s.io/v1 Lease (`--leader-election=false` disables).
    #[arg(
        long,
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub leader_election: bool,

    /// Namespace of the leader-election Lease (default: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = "aliyun-backup-operator")]
    pub leader_election_lease: String,

    /// Requeue timing: `default` (production: first poll after 10 s, errors back off to
    /// 5 min) or `fast` (sub-second polls, for the emulator and tests only).
    #[arg(long, default_value = "default", value_parser = ["default", "fast"], hide = true)]
    pub timing: String,
}

/// Errors turning flags into a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag value is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// Namespace names with blanks trimmed and empty entries dropped.
fn trimmed(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("aliyun-backup-operator-{}", uuid::Uuid::new_v4()))
}

impl RunArgs {
    /// Builds the operator configuration. `namespace_fallback` is used for the Lease when
    /// `--leader-election-namespace`/`POD_NAMESPACE` is unset (the kubeconfig's namespace).
    pub fn to_config(&self, namespace_fallback: &str) -> Result<OperatorConfig, ConfigError> {
        let cloud = self.cloud_config()?;
        if self.max_concurrent_reconciles == 0 {
            return Err(ConfigError::Invalid(
                "--max-concurrent-reconciles must be > 0".into(),
            ));
        }
        let selector = self.selector()?;
        let id = identity();
        let leader_election = self.leader_election.then(|| {
            let ns = self
                .leader_election_namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| namespace_fallback.to_string());
            LeaderElectionConfig::new(ns, self.leader_election_lease.clone(), id.clone())
        });
        let default_deletion_policy = if self.default_deletion_policy == "Delete" {
            crate::crd::DeletionPolicy::Delete
        } else {
            crate::crd::DeletionPolicy::Retain
        };
        Ok(OperatorConfig {
            namespaces: trimmed(&self.namespaces),
            selector,
            paused_namespaces: trimmed(&self.paused_namespaces),
            auto_resolve_lost_creates: self.auto_resolve_lost_creates,
            default_deletion_policy,
            metrics_addr: Some(self.metrics_addr),
            health_addr: Some(self.health_addr),
            max_concurrent_reconciles: self.max_concurrent_reconciles,
            leader_election,
            instance: Some(id),
            cloud,
            timing: if self.timing == "fast" {
                crate::controller::Timing::fast()
            } else {
                crate::controller::Timing::default()
            },
            ..OperatorConfig::default()
        })
    }

    /// The cloud client's configuration: endpoints and rate limit, checked.
    fn cloud_config(&self) -> Result<CloudConfig, ConfigError> {
        let mut cloud = CloudConfig::default();
        if let Some(url) = &self.endpoint_override {
            crate::cloud::config::check_base_url(url).map_err(ConfigError::Invalid)?;
            cloud.endpoint_override = Some(url.clone());
        }
        for e in &self.endpoints {
            cloud
                .set_endpoint_flag(e)
                .map_err(|m| ConfigError::Invalid(format!("--endpoint {e}: {m}")))?;
        }
        if self.cloud_qps.is_nan() || self.cloud_qps <= 0.0 {
            return Err(ConfigError::Invalid("--cloud-qps must be > 0".into()));
        }
        if self.cloud_burst == 0 {
            return Err(ConfigError::Invalid("--cloud-burst must be > 0".into()));
        }
        cloud.rate_limit.qps = self.cloud_qps;
        cloud.rate_limit.burst = self.cloud_burst;
        Ok(cloud)
    }

    /// `--selector`, checked; `None` when unset or blank.
    fn selector(&self) -> Result<Option<String>, ConfigError> {
        self.selector
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                check_label_selector(s)
                    .map(|()| s.to_string())
                    .map_err(|m| ConfigError::Invalid(format!("--selector {s:?}: {m}")))
            })
            .transpose()
    }

    /// Builds the Kubernetes client configuration from `--kubeconfig` or the environment.
    pub async fn kube_config(&self) -> Result<kube::Config, kube::Error> {
        match &self.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)
                    .map_err(kube::Error::InferKubeconfig)?;
                kube::Config::from_custom_kubeconfig(
                    kc,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .map_err(kube::Error::InferKubeconfig)
            }
            None => kube::Config::infer()
                .await
                .map_err(kube::Error::InferConfig),
        }
    }
}

fn is_label_name(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix
                    .split('.')
                    .all(|p| !p.is_empty() && p.len() <= 63 && is_label_name(p) && !p.contains('_'))
                && is_label_name(name)
        }
        None => is_label_name(s),
    }
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// Checks a label selector in the API server's syntax: comma-separated requirements `key`,
/// `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`.
/// Refused at startup so that a typo does not leave every watch failing.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    parts.push(&selector[start..]);
    for raw in parts {
        let req = raw.trim();
        let bad = || format!("invalid requirement {req:?}");
        if req.is_empty() {
            return Err("empty requirement".into());
        }
        if let Some(key) = req.strip_prefix('!') {
            if !is_label_key(key.trim()) {
                return Err(bad());
            }
            continue;
        }
        let set_op = [" notin ", " in "].iter().find_map(|op| req.split_once(op));
        if let Some((key, values)) = set_op {
            let values = values.trim();
            let inner = values
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(bad)?;
            if !is_label_key(key.trim()) || inner.split(',').any(|v| !is_label_value(v.trim())) {
                return Err(bad());
            }
            continue;
        }
        let (key, value) = if let Some((k, v)) = req.split_once("!=") {
            (k, Some(v))
        } else if let Some((k, v)) = req.split_once("==") {
            (k, Some(v))
        } else if let Some((k, v)) = req.split_once('=') {
            (k, Some(v))
        } else {
            (req, None)
        };
        if !is_label_key(key.trim()) || value.is_some_and(|v| !is_label_value(v.trim())) {
            return Err(bad());
        }
    }
    Ok(())
}

/// Entry point of the `run` subcommand: builds a Tokio runtime, runs [`execute`] and maps the
/// outcome to an exit code (errors are printed with their causes).
pub fn main(args: RunArgs) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "operator failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the operator from flags until SIGTERM/SIGINT. Used by `main.rs`.
pub async fn execute(args: RunArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.log_format, &args.log_level)?;
    let kube_config = args.kube_config().await?;
    let fallback_ns = kube_config.default_namespace.clone();
    let config = args.to_config(&fallback_ns)?;
    let client = kube::Client::try_from(kube_config)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        namespaces = ?config.namespaces,
        leader_election = config.leader_election.is_some(),
        "starting aliyun-backup-operator"
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let signal = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            crate::controller::shutdown_signal().await;
            shutdown.cancel();
        })
    };
    let result = crate::controller::run(config, client, shutdown).await;
    signal.abort();
    result.map_err(anyhow::Error::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: RunArgs,
    }

    fn parse(a: &[&str]) -> RunArgs {
        let mut v = vec!["x"];
        v.extend_from_slice(a);
        T::try_parse_from(v).unwrap().args
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert!(a.leader_election);
        assert_eq!(a.metrics_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(a.health_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(a.max_concurrent_reconciles, 8);
        assert_eq!(a.cloud_burst, 20);
        assert_eq!(a.leader_election_lease, "aliyun-backup-operator");
        let c = a.to_config("ops").unwrap();
        let le = c.leader_election.unwrap();
        assert_eq!(le.lease_name, "aliyun-backup-operator");
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--namespace",
            "a,b",
            "--namespace=c",
            "--leader-election=false",
            "--endpoint-override",
            "http://127.0.0.1:9000",
            "--endpoint",
            "rds=http://127.0.0.1:9001",
            "--log-format",
            "json",
            "--cloud-qps",
            "2.5",
        ]);
        assert_eq!(a.namespaces, vec!["a", "b", "c"]);
        assert!(!a.leader_election);
        assert_eq!(a.log_format, LogFormat::Json);
        let c = a.to_config("default").unwrap();
        assert!(c.leader_election.is_none());
        assert_eq!(c.cloud.rate_limit.qps, 2.5);
        assert_eq!(c.cloud.endpoints.len(), 1);
        assert!(c.cloud.endpoint_override.is_some());
    }

    #[test]
    fn selector_flag_is_checked_and_passed_on() {
        let c = parse(&[
            "--selector",
            "team=payments,tier in (prod, staging),!legacy",
        ])
        .to_config("d")
        .unwrap();
        assert_eq!(
            c.selector.as_deref(),
            Some("team=payments,tier in (prod, staging),!legacy")
        );
        assert!(parse(&[]).to_config("d").unwrap().selector.is_none());
        assert!(
            parse(&["--selector", " "])
                .to_config("d")
                .unwrap()
                .selector
                .is_none()
        );
        for ok in [
            "a",
            "!a",
            "a==b",
            "a!=b",
            "a=",
            "example.com/team=x",
            "a notin (x,y)",
            "app.kubernetes.io/part-of in (backups)",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a=b,", "a in x", "a in (x", "a=b c", "-a=b", "a=b=c", "a=(b)", "/a",
        ] {
            assert!(check_label_selector(bad).is_err(), "{bad:?}");
        }
        let e = parse(&["--selector", "team=a b"])
            .to_config("d")
            .unwrap_err();
        assert!(e.to_string().contains("--selector"), "{e}");
    }

    #[test]
    fn auto_resolve_lost_creates_is_on_unless_turned_off() {
        assert!(parse(&[]).to_config("d").unwrap().auto_resolve_lost_creates);
        let off = parse(&["--auto-resolve-lost-creates=false"])
            .to_config("d")
            .unwrap();
        assert!(!off.auto_resolve_lost_creates);
        let off = parse(&["--auto-resolve-lost-creates", "false"])
            .to_config("d")
            .unwrap();
        assert!(!off.auto_resolve_lost_creates);
    }

    #[test]
    fn pause_and_deletion_policy_flags() {
        let c = parse(&[]).to_config("d").unwrap();
        assert!(c.paused_namespaces.is_empty());
        assert_eq!(
            c.default_deletion_policy,
            crate::crd::DeletionPolicy::Retain
        );
        let c = parse(&[
            "--paused-namespace",
            "a, b",
            "--paused-namespace=c",
            "--default-deletion-policy",
            "Delete",
        ])
        .to_config("d")
        .unwrap();
        assert_eq!(c.paused_namespaces, ["a", "b", "c"]);
        assert_eq!(
            c.default_deletion_policy,
            crate::crd::DeletionPolicy::Delete
        );
        assert!(
            T::try_parse_from(["x", "--default-deletion-policy", "Destroy"]).is_err(),
            "only Retain or Delete"
        );
    }

    #[test]
    fn bad_endpoint_is_refused() {
        let a = parse(&["--endpoint", "s3=http://x"]);
        assert!(a.to_config("d").is_err());
        let a = parse(&["--leader-election"]);
        assert!(a.leader_election);
    }
}
