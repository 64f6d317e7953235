//! The `mockcloud` binary: a thin command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mockcloud::world::{World, DEFAULT_WORLD};
use mockcloud::ServerConfig;

/// mimalloc for the server process: many small per-request allocations (parameters, headers,
/// canonical strings, JSON) cost glibc malloc noticeably under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mockcloud",
    version,
    about = "A mock of Alibaba Cloud KMS instances speaking the real OpenAPI protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the OpenAPI endpoint (KMS, BssOpenApi, VPC) and the /_mock/ admin API.
    Serve(ServeArgs),
    /// Print the built-in default world (a starting point for --world).
    DefaultWorld,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MOCKCLOUD_LISTEN", default_value = "127.0.0.1:9443")]
    listen: SocketAddr,
    /// Data directory: sled store, master key, TLS CA. State survives restarts.
    #[arg(long, env = "MOCKCLOUD_DATA_DIR", default_value = "mockcloud-data")]
    data_dir: PathBuf,
    /// World file (TOML) that seeds an empty data directory; the built-in world otherwise.
    #[arg(long, env = "MOCKCLOUD_WORLD")]
    world: Option<PathBuf>,
    /// Simulated seconds per real second (1 for realism; 300 makes a 30-minute enablement 6 s).
    #[arg(long, env = "MOCKCLOUD_TIME_SCALE", default_value_t = 300.0)]
    time_scale: f64,
    /// Serve plain HTTP instead of TLS.
    #[arg(long, env = "MOCKCLOUD_PLAIN_HTTP")]
    plain_http: bool,
    /// Seed of the random generator (ids, assigned zones, delays) for a new data directory.
    #[arg(long, env = "MOCKCLOUD_SEED")]
    seed: Option<u64>,
    /// Turn off the per-instance request-rate limits (S51), e.g. for load tests.
    #[arg(long, env = "MOCKCLOUD_NO_THROTTLE")]
    no_throttle: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOCKCLOUD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    match Cli::parse().command {
        Command::DefaultWorld => {
            print!("{DEFAULT_WORLD}");
            Ok(())
        }
        Command::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.time_scale > 0.0, "--time-scale must be positive");
    let world = match &args.world {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read world file {}: {e}", path.display()))?;
            Some(
                World::parse(&text)
                    .map_err(|e| anyhow::anyhow!("world file {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let mut cfg = ServerConfig::new(args.data_dir.clone());
    cfg.listen = args.listen;
    cfg.world = world;
    cfg.time_scale = args.time_scale;
    cfg.plain_http = args.plain_http;
    cfg.seed = args.seed;
    cfg.throttle = !args.no_throttle;
    let server = mockcloud::start(cfg).await?;
    let ca = server
        .ca_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(plain HTTP)".into());
    // The well-known default test credentials are printed on purpose, as LocalStack does.
    println!("mockcloud is listening");
    println!("  endpoint:          {}", server.endpoint);
    println!("  access key id:     {}", server.access_key_id);
    println!("  access key secret: {}", server.access_key_secret);
    println!("  ca certificate:    {ca}");
    println!("  data directory:    {}", args.data_dir.display());
    println!(
        "  time scale:        {} simulated seconds per second",
        args.time_scale
    );
    println!(
        "  throttling:        {}",
        if args.no_throttle {
            "off (--no-throttle)"
        } else {
            "per instance, at its compute performance"
        }
    );
    let ready = serde_json::json!({
        "endpoint": server.endpoint,
        "ca_file": server.ca_file.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or(p.clone())),
        "access_key_id": server.access_key_id,
        "access_key_secret": server.access_key_secret,
        "region": "cn-hangzhou",
    });
    // It carries the default credentials (printed above anyway): readable by the owner only.
    mockcloud::crypto::write_private(
        &args.data_dir.join("ready.json"),
        &serde_json::to_vec_pretty(&ready)?,
    )?;

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = std::fs::remove_file(args.data_dir.join("ready.json"));
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
