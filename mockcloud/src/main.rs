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
    /// Generate client certificates for an HSM cluster, like the real certificate tool:
    /// `client.p12` (PKCS#12, protected by --password) and `rootca.pem` (the cluster's CA: the
    /// security domain certificate, or the cluster owner certificate of international clusters).
    HsmCerts(HsmCertsArgs),
    /// Run an emulated external key management proxy (XKI) in front of a "Jiangnan Tianan" HSM:
    /// HTTPS with a self-signed certificate (pinned by its fingerprint), signed requests, keys
    /// sealed in its data directory. Writes the configuration file for ConnectKmsInstance.
    XkiProxy(XkiProxyArgs),
}

#[derive(clap::Args)]
struct XkiProxyArgs {
    /// Address to listen on.
    #[arg(long, env = "XKI_PROXY_LISTEN", default_value = mockcloud::xki::DEFAULT_PROXY_LISTEN)]
    listen: SocketAddr,
    /// Data directory: certificate, master key, sealed key material. Keys and the fingerprint
    /// survive restarts.
    #[arg(long, env = "XKI_PROXY_DATA_DIR", default_value = "xki-proxy-data")]
    data_dir: PathBuf,
    /// The HSM vendor the proxy reports (only "Jiangnan Tianan" is supported by the cloud, S40).
    #[arg(long, env = "XKI_PROXY_VENDOR", default_value = mockcloud::xki::DEFAULT_PROXY_VENDOR)]
    vendor: String,
    /// The proxy path (leading '/', no trailing '/').
    #[arg(long, env = "XKI_PROXY_PATH", default_value = mockcloud::xki::DEFAULT_PROXY_PATH)]
    path: String,
    /// The proxy's domain name (in its certificate; the world maps it to an address).
    #[arg(long, env = "XKI_PROXY_DOMAIN", default_value = mockcloud::xki::DEFAULT_PROXY_DOMAIN)]
    domain: String,
    /// The access key id the cloud must sign with.
    #[arg(long, env = "XKI_PROXY_ACCESS_KEY_ID", default_value = mockcloud::xki::DEFAULT_PROXY_ACCESS_KEY_ID)]
    access_key_id: String,
    /// The access key secret the cloud must sign with.
    #[arg(long, env = "XKI_PROXY_ACCESS_KEY_SECRET", default_value = mockcloud::xki::DEFAULT_PROXY_ACCESS_KEY_SECRET, hide_default_value = true)]
    access_key_secret: String,
}

#[derive(clap::Args)]
struct HsmCertsArgs {
    /// The mock's data directory. Its store is opened directly when no server runs on it; while
    /// one does, its admin API (from `<data-dir>/ready.json`) makes the set.
    #[arg(long, env = "MOCKCLOUD_DATA_DIR", default_value = "mockcloud-data")]
    data_dir: PathBuf,
    /// The HSM cluster id, e.g. hsm-hangzhou-manual.
    #[arg(long)]
    cluster: String,
    /// The protection password of client.p12.
    #[arg(long, default_value = mockcloud::pki::DEFAULT_P12_PASSWORD)]
    password: String,
    /// Directory to write client.p12 and rootca.pem to.
    #[arg(long)]
    out: PathBuf,
    /// Ask this running mock's admin API (e.g. https://127.0.0.1:9443) instead.
    #[arg(long)]
    endpoint: Option<String>,
    /// The CA certificate of --endpoint (default `<data-dir>/tls/ca.pem`).
    #[arg(long)]
    ca_file: Option<PathBuf>,
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
    /// Time limit of one call to an external instance's XKI proxy, in milliseconds.
    #[arg(long, env = "MOCKCLOUD_XKI_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(1..))]
    xki_timeout_ms: u64,
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
        Command::HsmCerts(args) => hsm_certs(args).await,
        Command::XkiProxy(args) => xki_proxy(args).await,
    }
}

/// `client.p12` bytes and the CA PEM.
type CertSet = (Vec<u8>, String);

async fn hsm_certs(args: HsmCertsArgs) -> anyhow::Result<()> {
    let (p12, ca_pem) = match &args.endpoint {
        Some(endpoint) => {
            let ca_file = args
                .ca_file
                .clone()
                .unwrap_or_else(|| args.data_dir.join("tls").join("ca.pem"));
            certs_from_server(endpoint, Some(ca_file.as_path()), &args).await?
        }
        None => match mockcloud::backend::hsm_certificates_offline(
            &args.data_dir,
            &args.cluster,
            &args.password,
        ) {
            Ok(set) => (set.client_p12, set.ca_pem),
            Err(offline) => {
                // A running server holds the store: ask it through its admin API.
                let ready = args.data_dir.join("ready.json");
                let Ok(text) = std::fs::read_to_string(&ready) else {
                    return Err(offline);
                };
                let ready: serde_json::Value = serde_json::from_str(&text)?;
                let endpoint = ready["endpoint"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("{} has no endpoint", ready_path(&args)))?;
                let ca_file = ready["ca_file"].as_str().map(PathBuf::from);
                certs_from_server(endpoint, ca_file.as_deref(), &args)
                    .await
                    .map_err(|e| anyhow::anyhow!("{offline}; from the running server: {e}"))?
            }
        },
    };
    std::fs::create_dir_all(&args.out)?;
    mockcloud::crypto::write_private(&args.out.join("client.p12"), &p12)?;
    std::fs::write(args.out.join("rootca.pem"), ca_pem)?;
    println!(
        "HSM cluster {}: wrote {} (password {}) and {}",
        args.cluster,
        args.out.join("client.p12").display(),
        args.password,
        args.out.join("rootca.pem").display()
    );
    Ok(())
}

fn ready_path(args: &HsmCertsArgs) -> String {
    args.data_dir.join("ready.json").display().to_string()
}

async fn certs_from_server(
    endpoint: &str,
    ca_file: Option<&std::path::Path>,
    args: &HsmCertsArgs,
) -> anyhow::Result<CertSet> {
    use base64::Engine;
    let ca_pem = match ca_file {
        Some(path) if endpoint.starts_with("https") => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", path.display()))?,
        _ => String::new(),
    };
    let client = mockcloud::testing::Client::new(endpoint, &ca_pem, "", "")?;
    let path = format!("/_mock/hsm-clusters/{}/certificates", args.cluster);
    let (status, body) = client
        .admin_post_json(&path, &serde_json::json!({"password": args.password}))
        .await?;
    anyhow::ensure!(status == 200, "{endpoint}{path} answered {status}: {body}");
    let text = |k: &str| {
        body[k]
            .as_str()
            .map(String::from)
            .ok_or_else(|| anyhow::anyhow!("the answer has no {k}: {body}"))
    };
    let p12 = base64::engine::general_purpose::STANDARD.decode(text("client_p12_base64")?)?;
    Ok((p12, text("security_domain_ca_pem")?))
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
    cfg.xki_timeout = std::time::Duration::from_millis(args.xki_timeout_ms);
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

async fn xki_proxy(args: XkiProxyArgs) -> anyhow::Result<()> {
    let mut cfg = mockcloud::xki::ProxyConfig::new(args.data_dir.clone());
    cfg.listen = args.listen;
    cfg.vendor = args.vendor;
    cfg.path = args.path;
    cfg.domain = args.domain;
    cfg.access_key_id = args.access_key_id;
    cfg.access_key_secret = args.access_key_secret;
    let proxy = mockcloud::xki::start_proxy(cfg)?;
    let c = proxy.config();
    // The configuration file carries the secret: readable by the owner only.
    let config_file = args.data_dir.join("xki-proxy-config.json");
    mockcloud::crypto::write_private(&config_file, proxy.config_file_json().as_bytes())?;
    let config_file = std::fs::canonicalize(&config_file).unwrap_or(config_file);
    let default_secret = c.access_key_secret == mockcloud::xki::DEFAULT_PROXY_ACCESS_KEY_SECRET;
    println!("mockcloud XKI proxy is listening");
    println!("  address:           {}", proxy.addr());
    println!("  domain:            {}", c.domain);
    println!("  path:              {}", c.path);
    println!("  vendor:            {}", c.vendor);
    println!("  fingerprint:       {}", proxy.fingerprint());
    println!("  access key id:     {}", c.access_key_id);
    // Only the well-known default test secret is printed; a chosen one stays in the file.
    if default_secret {
        println!("  access key secret: {}", c.access_key_secret);
    } else {
        println!("  access key secret: (as given; in the config file)");
    }
    println!("  config file:       {}", config_file.display());
    println!("  data directory:    {}", args.data_dir.display());
    let ready = serde_json::json!({
        "address": proxy.addr().to_string(),
        "fingerprint": proxy.fingerprint(),
        "path": c.path,
        "domain": c.domain,
        "access_key_id": c.access_key_id,
        "config_file": config_file,
    });
    std::fs::write(
        args.data_dir.join("ready.json"),
        serde_json::to_vec_pretty(&ready)?,
    )?;

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = std::fs::remove_file(args.data_dir.join("ready.json"));
    proxy.stop();
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
