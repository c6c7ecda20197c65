//! `kubectl aliyun-backup`: the kubectl plugin of aliyun-backup-operator.
//!
//! The binary (`src/main.rs`) only calls [`run`]; tests call it in-process with the same
//! arguments and read what it wrote and the exit code it returned. Everything the commands
//! decide is in pure modules ([`status`], [`why`], [`why_restore`], [`describe`], [`import`],
//! [`restore`], [`model`]); [`commands`] and [`restore_flow`] talk to the API server and the
//! cloud.

pub mod commands;
pub mod complete;
pub mod describe;
pub mod format;
pub mod import;
pub mod model;
pub mod restore;
pub mod restore_flow;
pub mod restore_view;
pub mod status;
pub mod why;
pub mod why_restore;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::format::OutputFormat;
use crate::model::ObjectRef;

/// Exit code: success (and `status` with every RPO met).
pub const EXIT_OK: i32 = 0;
/// Exit code: the command failed (API error, object not found, …).
pub const EXIT_ERROR: i32 = 1;
/// Exit code of `status`: an RPO is missed.
pub const EXIT_RPO_MISSED: i32 = 2;
/// Exit code of `backup --wait` and `restore`: the backup or restore ended without success
/// (failed, cancelled, partially succeeded) or stalled (for `restore`, its dry run too).
pub const EXIT_BACKUP_FAILED: i32 = 3;
/// Exit code of `backup --wait` and `restore`: `--timeout` passed first.
pub const EXIT_TIMEOUT: i32 = 4;
/// Exit code: the command line could not be parsed.
pub const EXIT_USAGE: i32 = 64;

/// Errors of the plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("cannot find a kubeconfig or in-cluster config: {0}")]
    InferConfig(#[from] kube::config::InferConfigError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Alibaba Cloud: {0}")]
    Cloud(#[from] aliyun_backup_operator::cloud::CloudError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{kind} {name} not found in namespace {namespace}")]
    NotFound {
        kind: String,
        name: String,
        namespace: String,
    },
    #[error("import: {0}")]
    Import(String),
}

/// `kubectl aliyun-backup`: am I protected, why is this not done, back it up now.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-aliyun-backup",
    bin_name = "kubectl-aliyun-backup",
    version,
    about = "kubectl plugin of aliyun-backup-operator (backup.aliyun.dev): status, describe, why, backup, restore, pause/resume, import, version",
    after_help = "Exit codes: 0 ok, 1 error, 2 `status`: an RPO is missed, 3 `backup --wait`/`restore`: the backup or restore did not succeed, 4 `backup --wait`/`restore`: timed out, 64 usage."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (as kubectl's).
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Path of the kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every protected instance, server and plan: last success, RPO, running, paused, stalled,
    /// failed. Exits 2 when an RPO is missed.
    Status {
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Only objects with these labels (`-l app=orders`).
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// An object: its cloud ids, progress, conditions in words, recent Events; a schedule's
    /// children and next run.
    Describe {
        /// KIND/NAME, e.g. rdsbackup/nightly-orders or rdssched/nightly.
        object: ObjectRef,
    },
    /// The single reason an object is not done, and the command that fixes it.
    Why {
        /// KIND/NAME.
        object: ObjectRef,
    },
    /// Run a schedule now (its trigger annotation); prints the child it makes.
    Backup {
        /// The schedule: NAME, or KIND/NAME when both kinds have one of that name.
        schedule: String,
        /// Follow the child to its end with a progress display; the exit code is its outcome.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 30m, 2h).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Restore a backup: shows the plan of a dry run, asks, creates the RdsRestore,
    /// HbrRestoreJob or DbsRestoreTask (`-o yaml|json`: only prints it).
    Restore(crate::restore::RestoreArgs),
    /// Pause the operator for objects (annotation backup.aliyun.dev/paused=true).
    Pause(Selection),
    /// Lift a pause (remove the annotation backup.aliyun.dev/paused).
    Resume(Selection),
    /// Print manifests that adopt the RDS backups, HBR jobs and DBS plans that already exist
    /// in the cloud account (read-only on the cloud side).
    Import(ImportArgs),
    /// Plugin, operator and CRD versions; warns when they disagree.
    Version {
        /// Where the operator's Deployment runs (default: searched in every namespace by
        /// the label app.kubernetes.io/name=aliyun-backup-operator).
        #[arg(long)]
        operator_namespace: Option<String>,
    },
    /// Shell completion: `source <(kubectl-aliyun-backup completion bash)`.
    Completion {
        /// bash, zsh or fish.
        shell: clap_complete::Shell,
    },
    /// Completion candidates for kubectl's plugin completion (`kubectl_complete-aliyun_backup`):
    /// the words typed so far, the last one being completed.
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

/// What `pause`/`resume` act on: one object, a selector, or the whole namespace.
#[derive(Debug, Args)]
pub struct Selection {
    /// KIND/NAME.
    #[arg(conflicts_with_all = ["selector", "all"])]
    pub object: Option<ObjectRef>,
    /// Every object of the group in the namespace with these labels.
    #[arg(short = 'l', long, conflicts_with = "all")]
    pub selector: Option<String>,
    /// Every object of the group in the namespace.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The credentials Secret, NAMESPACE/NAME (keys accessKeyId, accessKeySecret[,
    /// securityToken]); the manifests go to that namespace and name it in credentialsRef.
    #[arg(long, value_name = "NS/SECRET")]
    pub credentials: String,
    /// The region, e.g. cn-hangzhou.
    #[arg(long)]
    pub region: String,
    /// RDS instance ids to list backups of (repeatable or comma-separated); also filters HBR
    /// jobs and DBS plans to these instances.
    #[arg(long, value_delimiter = ',')]
    pub instance: Vec<String>,
    /// Adopt with managementPolicy Manage (default ObserveOnly: the operator only watches).
    #[arg(long)]
    pub manage: bool,
    /// Send every cloud call to this base URL (e.g. the emulator), as the operator's flag.
    #[arg(long, value_name = "URL")]
    pub endpoint_override: Option<url::Url>,
}

/// Durations as the CRDs write them (`30m`, `2h`, `1h30m`): the operator's own parser.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    aliyun_backup_operator::controller::reconcile::rpo::parse_duration(s)
}

/// Runs the plugin with `args` (the first being the program name), writing to `out` and
/// `err`; returns the exit code.
pub async fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // `__complete` takes the words after it verbatim (they may be flags such as `-n`).
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut complete_words = None;
    if let Some(pos) = args.iter().position(|a| a == "__complete") {
        complete_words = Some(
            args.split_off(pos + 1)
                .into_iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        );
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let mut cli = cli;
    if let (Command::Complete { words }, Some(w)) = (&mut cli.command, complete_words) {
        *words = w;
    }
    match commands::dispatch(cli, out, err).await {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_ERROR
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        // Too long for a duration: an error, never an overflow.
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn object_refs_parse() {
        let r: ObjectRef = "rdssched/nightly".parse().unwrap();
        assert_eq!(r.kind, crate::model::Kind::RdsBackupSchedule);
        assert_eq!(r.to_string(), "rdsbackupschedule/nightly");
        assert!("nightly".parse::<ObjectRef>().is_err());
        assert!("pods/x".parse::<ObjectRef>().is_err());
        let r: ObjectRef = "HbrBackupJobs.backup.aliyun.dev/x".parse().unwrap();
        assert_eq!(r.kind, crate::model::Kind::HbrBackupJob);
    }
}
