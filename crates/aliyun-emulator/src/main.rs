//! `aliyun-emulator` binary: serves the emulated DBS/RDS/HBR/STS APIs.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aliyun_emulator::{Emulator, EmulatorConfig};
use clap::Parser;

/// Emulator of the Alibaba Cloud DBS, RDS, HBR and STS control-plane APIs.
#[derive(Debug, Parser)]
#[command(name = "aliyun-emulator", version)]
struct Cli {
    /// Address to listen on; with port 0 the bound address is printed on the first line.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Accepted credential `ID:SECRET` (repeatable; default testid:testsecret).
    #[arg(long = "credential", value_parser = parse_credential)]
    credentials: Vec<(String, String)>,
    /// Seeded RDS instance id (repeatable; default rm-demo01).
    #[arg(long = "rds-instance")]
    rds_instances: Vec<String>,
    /// A backup set that exists from the start, `INSTANCE=BACKUP_ID` (a finished manual
    /// backup of a seeded instance, made a day ago; repeatable).
    #[arg(long = "rds-backup-set", value_parser = parse_backup_set)]
    rds_backup_sets: Vec<(String, u64)>,
    /// Seeded ECS instance id (repeatable; default i-demo01).
    #[arg(long = "ecs-instance")]
    ecs_instances: Vec<String>,
    /// Backup duration on the emulator clock, e.g. `5s`, `500ms`, `2m`.
    #[arg(long, default_value = "5s", value_parser = humantime_like)]
    job_duration: Duration,
    /// Per-AccessKey requests per second (`Throttling.User` above it).
    #[arg(long)]
    qps: Option<u32>,
    /// Persist resources to this JSON file.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// `RestoreStatus` of a successful DBS restore task (none is documented).
    #[arg(long, default_value = "finish")]
    dbs_restore_success: String,
}

fn parse_backup_set(s: &str) -> Result<(String, u64), String> {
    let (instance, id) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected INSTANCE=BACKUP_ID"))?;
    let id = id
        .parse()
        .map_err(|_| format!("{s:?}: BACKUP_ID must be a number"))?;
    Ok((instance.to_string(), id))
}

fn parse_credential(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        _ => Err("expected ID:SECRET".to_owned()),
    }
}

fn humantime_like(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let idx = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("missing unit in {s:?} (use ms, s, m or h)"))?;
    let (num, unit) = s.split_at(idx);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid number in {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = EmulatorConfig::default()
        .with_listen(cli.listen)
        .with_job_duration(cli.job_duration);
    if !cli.credentials.is_empty() {
        config = config.credentials(cli.credentials);
    }
    if !cli.rds_instances.is_empty() {
        config = config.rds_instances(cli.rds_instances);
    }
    if !cli.ecs_instances.is_empty() {
        config = config.ecs_instances(cli.ecs_instances);
    }
    config.rds_backup_sets = cli.rds_backup_sets;
    config.qps = cli.qps;
    config.state_file = cli.state_file;
    config.dbs_restore_success = cli.dbs_restore_success;
    let handle = Emulator::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", handle.addr())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
