//! `aliyun-backup-operator` binary: thin clap front end (the rooms: `docs/architecture.md`).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kubernetes operator for Alibaba Cloud DBS, RDS and HBR backups.
#[derive(Parser, Debug)]
#[command(name = "aliyun-backup-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions of all kinds as multi-document YAML.
    Crd,
    /// Run the operator (controllers, leader election, /metrics, /healthz, /readyz).
    Run(Box<aliyun_backup_operator::controller::operator::cli::RunArgs>),
    /// Demo in one process: in-memory API server + cloud emulator + operator, applies examples/.
    #[cfg(feature = "sandbox")]
    Sandbox(Box<aliyun_backup_operator::sandbox::SandboxArgs>),
    // `run` (the operator) and `sandbox` (kube-sandbox + aliyun-emulator + operator in one
    // process, behind the `sandbox` cargo feature) are added here by their owners.
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => aliyun_backup_operator::controller::operator::cli::main(*args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => aliyun_backup_operator::sandbox::main(*args),
        Command::Crd => match aliyun_backup_operator::crd::crds_yaml() {
            Ok(yaml) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
                    eprintln!("error: cannot write CRDs: {e}");
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render CRDs: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
