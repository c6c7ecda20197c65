//! `kube-sandbox --listen 127.0.0.1:0 --kubeconfig-out PATH`: serves an
//! in-memory Kubernetes API until killed; prints the URL on the first line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// In-memory Kubernetes API server for tests and demos (not for production).
#[derive(Debug, Parser)]
#[command(name = "kube-sandbox", version)]
struct Args {
    /// Address to listen on (plain HTTP; use loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig for the server to this path.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Interval between watch bookmarks, in seconds.
    #[arg(long, default_value_t = 10)]
    bookmark_interval_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let sandbox = kube_sandbox::Sandbox::start_with(kube_sandbox::SandboxConfig {
        listen: args.listen,
        bookmark_interval: std::time::Duration::from_secs(args.bookmark_interval_secs.max(1)),
        ..Default::default()
    })
    .await?;
    if let Some(p) = &args.kubeconfig_out {
        sandbox.write_kubeconfig(p)?;
    }
    let mut out = std::io::stdout();
    writeln!(out, "{}", sandbox.url())?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
