//! Starts the mock: opens the backend, prepares TLS, listens and serves until shut down. Used by
//! the binary and, in-process on port 0, by tests and the acceptance harness.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{self, auth::NonceCache, AppState};
use crate::backend::{Backend, BackendConfig};
use crate::clock::RateClock;
use crate::world::World;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub world: Option<World>,
    /// Simulated seconds per real second (default 300).
    pub time_scale: f64,
    pub plain_http: bool,
    pub seed: Option<u64>,
    /// Per-instance request-rate limits (S51). Off for load tests (`--no-throttle`).
    pub throttle: bool,
    /// The wall clock of the rate limits; tests pass a manual one.
    pub rate_clock: RateClock,
    /// The time limit of one call to an XKI proxy (default 3 s; `--xki-timeout-ms`).
    pub xki_timeout: std::time::Duration,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            data_dir: data_dir.into(),
            world: None,
            time_scale: 300.0,
            plain_http: false,
            seed: None,
            throttle: true,
            rate_clock: RateClock::system(),
            xki_timeout: std::time::Duration::from_secs(3),
        }
    }
}

pub struct RunningServer {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT` (or `http://` with plain HTTP).
    pub endpoint: String,
    pub ca_pem: String,
    pub ca_file: Option<PathBuf>,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub backend: Arc<Backend>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, ends the open ones (idle keep-alive connections would
    /// otherwise keep the store, and its lock on the data directory, alive) and waits for both.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

pub async fn start(cfg: ServerConfig) -> anyhow::Result<RunningServer> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backend = Arc::new(Backend::open(BackendConfig {
        data_dir: cfg.data_dir.clone(),
        world: cfg.world.clone(),
        time_scale: cfg.time_scale,
        seed: cfg.seed,
        throttle: cfg.throttle,
        rate_clock: cfg.rate_clock.clone(),
        xki_timeout: cfg.xki_timeout,
    })?);
    let (access_key_id, access_key_secret) = backend.default_credentials()?;
    let tls = if cfg.plain_http {
        None
    } else {
        Some(crate::tls::load_or_create(
            &cfg.data_dir,
            &cfg.listen.ip().to_string(),
        )?)
    };
    let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone()).unwrap_or_default();
    let ca_file = tls.as_ref().map(|t| t.ca_file.clone());
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config));

    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://{addr}");

    let state = Arc::new(AppState {
        backend: backend.clone(),
        nonces: NonceCache::new(200_000),
        ca_pem: ca_pem.clone(),
    });
    let router = api::router(state);
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = rx.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let svc = TowerToHyperService::new(router.clone());
                    let acceptor = acceptor.clone();
                    connections.spawn(async move {
                        let builder = hyper::server::conn::http1::Builder::new();
                        let result = match acceptor {
                            Some(a) => match a.accept(stream).await {
                                Ok(tls) => builder.serve_connection(TokioIo::new(tls), svc).await,
                                Err(e) => {
                                    tracing::debug!("TLS handshake failed: {e}");
                                    return;
                                }
                            },
                            None => builder.serve_connection(TokioIo::new(stream), svc).await,
                        };
                        if let Err(e) = result {
                            tracing::debug!("connection ended with error: {e}");
                        }
                    });
                }
            }
        }
        // Handlers do their store writes without awaiting, so aborting between requests or at an
        // await point never leaves a half-applied change.
        connections.shutdown().await;
    });
    Ok(RunningServer {
        addr,
        endpoint,
        ca_pem,
        ca_file,
        access_key_id,
        access_key_secret,
        backend,
        shutdown: tx,
        task,
    })
}
