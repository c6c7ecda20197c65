//! The `sandbox` subcommand: a complete, throw-away demo in one process.
//!
//! [`World::start`] with [`WorldConfig::demo`] starts an in-memory Kubernetes API server
//! ([`kube_sandbox`]), the Alibaba Cloud emulator ([`aliyun_emulator`]) with the demo
//! credentials and instances, installs the CRDs, waits until they are established and starts
//! the real operator (the same [`crate::controller::start`] the `run` subcommand and the
//! integration tests use) with the emulator as its endpoint and leader election off; the
//! integration tests and the convergence benchmark build their worlds with the same
//! [`WorldConfig`], configured differently. [`run_demo`] then applies manifests (by
//! default every `examples/*.yaml`) with server-side apply and shows each object's phase,
//! progress and cloud id until all of them are done, and returns a [`Report`].
//!
//! Compiled only with the `sandbox` cargo feature (on by default, off in the container image).
//!
//! The pieces, by what they do: [`world`] starts and stops the world, [`manifests`] reads and
//! applies manifests, [`observe`](mod@observe) reads where each object stands, [`render`]
//! draws it, and [`demo`] runs the demo from apply to report. Their public items are
//! re-exported here.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::controller::{self, RunError};

pub mod demo;
pub mod manifests;
pub mod observe;
pub mod render;
pub mod world;

pub use demo::{DemoOptions, Outcome, Report, run_demo, serve_instructions};
pub use manifests::{
    Applied, Manifest, TrackedKind, apply_manifests, ensure_namespace, load_manifests,
    parse_manifests,
};
pub use observe::{
    ANNOTATION_WAIT_FOR_SUCCESSES, ObjectState, ScheduleState, ScheduleTally, Verdict, observe,
    observe_all,
};
pub use render::{render_line, render_table};
pub use world::{
    CredentialsSecret, OperatorSettings, SANDBOX_SCHEDULE_CLOCK_SPEED, World, WorldConfig,
    demo_emulator, install_crds, sandbox_timing,
};

/// Field manager of the sandbox's server-side applies.
pub const FIELD_MANAGER: &str = "aliyun-backup-sandbox";
/// AccessKey id the sandbox's emulator accepts (the one in `examples/credentials-secret.yaml`).
pub const DEMO_ACCESS_KEY_ID: &str = "testid";
/// AccessKey secret the sandbox's emulator accepts. A public demo value, never a real secret.
pub const DEMO_ACCESS_KEY_SECRET: &str = "testsecret";
/// RDS instances seeded in the sandbox's emulator (referenced by the examples).
pub const DEMO_RDS_INSTANCES: &[&str] = &["rm-demo01", "rm-demo02"];
/// A backup set that exists in the sandbox's emulator before anything runs (instance,
/// `BackupId`): the one `examples/rds-backup-adopt.yaml` adopts.
pub const DEMO_RDS_BACKUP_SET: (&str, u64) = ("rm-demo01", 1_529_000_001);
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
        "kube-sandbox API server on {}, aliyun-emulator on {} (job duration {}), operator running \
         (schedules on a clock {SANDBOX_SCHEDULE_CLOCK_SPEED}x faster than wall time).",
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
        schedule_clock_speed: SANDBOX_SCHEDULE_CLOCK_SPEED,
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
        demo::follow_all(&world.client, &report.objects, out, cancel).await;
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
            eprintln!(
                "error: {}",
                crate::controller::reconcile::error::error_chain(&e)
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
