//! An emulator of the key management proxy in front of a customer's HSM (contract section 2).
//!
//! HTTPS with a self-signed certificate generated once per data directory (so its fingerprint is
//! stable across restarts), requests signed with XKI3-HMAC-SHA256, AES-256-GCM keys whose
//! material is sealed at rest with [`crate::crypto::Sealer`] under the proxy's own master key.
//! It runs on its own thread and runtime, so sync code and any tokio runtime can start and stop
//! it. It never logs plaintexts, key material or the secret.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::protocol::{self, ErrorBody};
use crate::crypto::{write_private, Sealer};

pub const DEFAULT_PROXY_LISTEN: &str = "127.0.0.1:9444";
pub const DEFAULT_PROXY_DOMAIN: &str = "xki-proxy.mockcloud.test";
pub const DEFAULT_PROXY_PATH: &str = "/xki";
pub const DEFAULT_PROXY_ACCESS_KEY_ID: &str = "mock-xki-access-key-id";
pub const DEFAULT_PROXY_ACCESS_KEY_SECRET: &str = "mock-xki-access-key-secret";
pub const DEFAULT_PROXY_VENDOR: &str = "Jiangnan Tianan";

/// Largest request body the proxy reads.
const MAX_BODY: usize = 1 << 20;
/// Nonces remembered for replay detection (the oldest are forgotten first).
const NONCE_CAPACITY: usize = 100_000;
/// The file of sealed key material in the data directory.
const KEYS_FILE: &str = "keys.json";

#[derive(Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub vendor: String,
    pub path: String,
    pub domain: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("vendor", &self.vendor)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

impl ProxyConfig {
    /// The defaults above, listening on `127.0.0.1:0`.
    pub fn new(data_dir: PathBuf) -> ProxyConfig {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            vendor: DEFAULT_PROXY_VENDOR.to_string(),
            path: DEFAULT_PROXY_PATH.to_string(),
            domain: DEFAULT_PROXY_DOMAIN.to_string(),
            access_key_id: DEFAULT_PROXY_ACCESS_KEY_ID.to_string(),
            access_key_secret: DEFAULT_PROXY_ACCESS_KEY_SECRET.to_string(),
        }
    }
}

/// A started proxy. Dropping it without [`RunningProxy::stop`] also stops it, without waiting.
pub struct RunningProxy {
    addr: SocketAddr,
    fingerprint: String,
    config: ProxyConfig,
    delay_ms: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningProxy {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SHA-256 of the certificate's DER, 64 lowercase hex digits.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// The S42 configuration file: `ProxyPath`, `CertificateFingerprint`, `AccessKeyId`,
    /// `AccessKeySecret`.
    pub fn config_file_json(&self) -> String {
        config_file_json(&self.config, &self.fingerprint)
    }

    /// Test knob: every response waits `d` before the request is handled.
    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(
            d.as_millis().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    /// Stops accepting, ends open connections and waits until the port and the data directory
    /// are free again.
    pub fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            super::client::block_outside_runtime(move || {
                let _ = thread.join();
            });
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

pub(crate) fn config_file_json(cfg: &ProxyConfig, fingerprint: &str) -> String {
    let file = protocol::ConfigFile {
        proxy_path: cfg.path.clone(),
        certificate_fingerprint: fingerprint.to_string(),
        access_key_id: cfg.access_key_id.clone(),
        access_key_secret: cfg.access_key_secret.clone(),
    };
    serde_json::to_string_pretty(&file).expect("plain strings serialise")
}

/// Starts the proxy on its own thread and runtime. A stop and start on the same data directory
/// and port give the same certificate and the same keys.
pub fn start_proxy(cfg: ProxyConfig) -> anyhow::Result<RunningProxy> {
    anyhow::ensure!(
        protocol::path_is_valid(&cfg.path),
        "proxy path {:?} must start with '/', not end with '/', and use URL-safe characters",
        cfg.path
    );
    anyhow::ensure!(!cfg.access_key_id.is_empty(), "the access key id is empty");
    anyhow::ensure!(
        !cfg.access_key_secret.is_empty(),
        "the access key secret is empty"
    );
    std::fs::create_dir_all(&cfg.data_dir)?;
    let (cert_der, key_der) = load_or_create_cert(&cfg.data_dir, &cfg.domain)?;
    let fingerprint = protocol::fingerprint_of_der(&cert_der);
    let sealer = Sealer::open_or_create(&cfg.data_dir)?;
    let keys = KeyStore::open(&cfg.data_dir, sealer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
        )?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    // Bound here, so a busy port fails the start and port 0 has its number before we return.
    let listener = std::net::TcpListener::bind(cfg.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    let delay_ms = Arc::new(AtomicU64::new(0));
    let state = Arc::new(ProxyState {
        vendor: cfg.vendor.clone(),
        path: cfg.path.clone(),
        access_key_id: cfg.access_key_id.clone(),
        access_key_secret: cfg.access_key_secret.clone(),
        keys,
        nonces: Mutex::new(Nonces::default()),
        delay_ms: delay_ms.clone(),
    });
    let (shutdown, rx) = watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<()>>(1);
    let thread = std::thread::Builder::new()
        .name(format!("xki-proxy-{}", addr.port()))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                serve(listener, acceptor, state, rx).await;
            });
        })?;
    let started = super::client::block_outside_runtime(|| ready_rx.recv());
    match started {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => anyhow::bail!("the proxy thread ended before it was ready"),
    }
    tracing::info!(%addr, "XKI proxy listening");
    Ok(RunningProxy {
        addr,
        fingerprint,
        config: ProxyConfig {
            listen: addr,
            ..cfg
        },
        delay_ms,
        shutdown,
        thread: Some(thread),
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<ProxyState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = axum::Router::new().fallback(handle).with_state(state);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let svc = TowerToHyperService::new(router.clone());
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            tracing::debug!("XKI proxy: TLS handshake failed: {e}");
                            return;
                        }
                    };
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await
                    {
                        tracing::debug!("XKI proxy: connection ended with error: {e}");
                    }
                });
            }
        }
    }
    drop(listener);
    // Aborting a handler is safe: a key is written to the file before it is answered, and a
    // half-done request changes nothing.
    connections.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Certificate

/// Loads `<dir>/tls/proxy-cert.pem` and `proxy-key.pem` (mode 0600), creating a self-signed
/// certificate for `domain`, `localhost` and `127.0.0.1` on first use. Returns (cert DER, PKCS#8
/// key DER).
fn load_or_create_cert(dir: &Path, domain: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let tls_dir = dir.join("tls");
    std::fs::create_dir_all(&tls_dir)?;
    let cert_file = tls_dir.join("proxy-cert.pem");
    let key_file = tls_dir.join("proxy-key.pem");
    if cert_file.exists() && key_file.exists() {
        let cert_pem = std::fs::read(&cert_file)?;
        let key_pem = std::fs::read(&key_file)?;
        let cert = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .next()
            .ok_or_else(|| anyhow::anyhow!("{} holds no certificate", cert_file.display()))??;
        let key = match rustls_pemfile::private_key(&mut key_pem.as_slice())? {
            Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k)) => k.secret_pkcs8_der().to_vec(),
            _ => anyhow::bail!("{} holds no PKCS#8 private key", key_file.display()),
        };
        return Ok((cert.to_vec(), key));
    }
    let mut names = vec![
        domain.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    names.retain(|n| !n.is_empty());
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "mockcloud XKI proxy");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_private(&key_file, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_file, cert.pem())?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

// ---------------------------------------------------------------------------------------------
// Key store

/// Key material by proxy key id: sealed in `keys.json` (rewritten atomically), opened in memory.
///
/// A JSON file rather than sled: only `store.rs` may know sled, and a handful of keys needs no
/// database (nor a lock that would outlive a stop).
struct KeyStore {
    file: PathBuf,
    sealer: Sealer,
    keys: Mutex<HashMap<String, (String, Aes256Gcm)>>,
}

impl KeyStore {
    fn open(dir: &Path, sealer: Sealer) -> anyhow::Result<KeyStore> {
        let file = dir.join(KEYS_FILE);
        let mut keys = HashMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => {
                let sealed: BTreeMap<String, String> = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                for (id, s) in sealed {
                    let raw = sealer
                        .open(&s)
                        .map_err(|e| anyhow::anyhow!("{}: key {id}: {e}", file.display()))?;
                    let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| {
                        anyhow::anyhow!("{}: key {id} is not 32 bytes", file.display())
                    })?;
                    keys.insert(id, (s, cipher));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", file.display())),
        }
        Ok(KeyStore {
            file,
            sealer,
            keys: Mutex::new(keys),
        })
    }

    fn count(&self) -> usize {
        self.keys.lock().expect("keys lock").len()
    }

    fn cipher(&self, id: &str) -> Option<Aes256Gcm> {
        self.keys
            .lock()
            .expect("keys lock")
            .get(id)
            .map(|(_, c)| c.clone())
    }

    /// Creates the key unless it exists; the file is written before this returns.
    fn create(&self, id: &str) -> anyhow::Result<()> {
        let mut keys = self.keys.lock().expect("keys lock");
        if keys.contains_key(id) {
            return Ok(());
        }
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let cipher = Aes256Gcm::new_from_slice(&raw).expect("32-byte key");
        let sealed = self.sealer.seal(&raw);
        raw.fill(0);
        keys.insert(id.to_string(), (sealed, cipher));
        let snapshot: BTreeMap<&str, &str> = keys
            .iter()
            .map(|(k, (s, _))| (k.as_str(), s.as_str()))
            .collect();
        let written = serde_json::to_vec_pretty(&snapshot)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| write_atomically(&self.file, &bytes));
        if written.is_err() {
            keys.remove(id);
        }
        written
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    write_private(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests

struct ProxyState {
    vendor: String,
    path: String,
    access_key_id: String,
    access_key_secret: String,
    keys: KeyStore,
    nonces: Mutex<Nonces>,
    delay_ms: Arc<AtomicU64>,
}

/// Nonces seen in the last 2 × 15 minutes, bounded in count. When the bound forgets a nonce
/// early, requests stamped no later than it are refused as expired (the rule the cloud keeps
/// for its own nonces), so a replay is never accepted, even under heavy load.
struct Nonces {
    seen: HashMap<String, i64>,
    /// (nonce, received at, stamped at), oldest first.
    order: VecDeque<(String, i64, i64)>,
    /// The latest stamp among nonces forgotten for room.
    floor_ms: i64,
}

impl Default for Nonces {
    fn default() -> Nonces {
        Nonces {
            seen: HashMap::new(),
            order: VecDeque::new(),
            floor_ms: i64::MIN,
        }
    }
}

#[derive(Debug, PartialEq)]
enum NonceRefusal {
    Used,
    Expired,
}

impl Nonces {
    /// Records the nonce of a request received at `now_ms` and stamped `stamped_ms`.
    fn record(&mut self, nonce: &str, now_ms: i64, stamped_ms: i64) -> Result<(), NonceRefusal> {
        while let Some((old, at, stamped)) = self.order.front() {
            let aged = *at < now_ms - 2 * protocol::MAX_SKEW_MS;
            if aged || self.order.len() >= NONCE_CAPACITY {
                if !aged {
                    self.floor_ms = self.floor_ms.max(*stamped);
                }
                self.seen.remove(old);
                self.order.pop_front();
            } else {
                break;
            }
        }
        if stamped_ms <= self.floor_ms {
            return Err(NonceRefusal::Expired);
        }
        if self.seen.contains_key(nonce) {
            return Err(NonceRefusal::Used);
        }
        self.seen.insert(nonce.to_string(), now_ms);
        self.order
            .push_back((nonce.to_string(), now_ms, stamped_ms));
        Ok(())
    }
}

/// A refusal: HTTP status and `{"Code","Message"}`.
struct Refusal(StatusCode, &'static str, String);

impl Refusal {
    fn invalid(field: &str, why: &str) -> Refusal {
        Refusal(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("{field}: {why}"),
        )
    }

    fn unauthorized(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal(StatusCode::UNAUTHORIZED, code, message.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.1.to_string(),
            message: self.2,
        };
        (self.0, axum::Json(body)).into_response()
    }
}

async fn handle(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let path = req.uri().path().to_string();
    let operation = match path.strip_prefix(state.path.as_str()) {
        Some(rest) if req.method() == axum::http::Method::POST => rest
            .strip_prefix('/')
            .filter(|op| !op.is_empty() && !op.contains('/'))
            .map(str::to_string),
        _ => None,
    };
    let Some(operation) = operation else {
        return Refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no such resource: {} {path}", req.method()),
        )
        .into_response();
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Refusal::invalid("body", &format!("larger than {MAX_BODY} bytes"))
                .into_response()
        }
    };
    let result = authenticate(&state, &path, &parts.headers, &body)
        .and_then(|()| dispatch(&state, &operation, &body));
    let response = match result {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(r) => r.into_response(),
    };
    tracing::debug!(
        operation,
        status = response.status().as_u16(),
        "XKI proxy request"
    );
    response
}

fn authenticate(
    state: &ProxyState,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let missing = |name: &str| {
        Refusal::unauthorized(
            "MissingAuthorization",
            format!("the request has no {name} header"),
        )
    };
    let auth = header("authorization").ok_or_else(|| missing("Authorization"))?;
    for name in [
        "host",
        protocol::HEADER_DATE,
        protocol::HEADER_NONCE,
        protocol::HEADER_CONTENT_SHA256,
    ] {
        header(name).ok_or_else(|| missing(name))?;
    }
    let auth = protocol::parse_authorization(auth).ok_or_else(|| {
        Refusal::unauthorized(
            "MissingAuthorization",
            format!(
                "Authorization is not `{} Credential=..,SignedHeaders=..,Signature=..`",
                protocol::ALGORITHM
            ),
        )
    })?;
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if let Some(absent) = protocol::SIGNED_HEADERS
        .split(';')
        .find(|h| !signed.contains(h))
    {
        return Err(Refusal::unauthorized(
            "MissingAuthorization",
            format!("SignedHeaders must include {absent}"),
        ));
    }
    if auth.access_key_id != state.access_key_id {
        return Err(Refusal::unauthorized(
            "InvalidAccessKeyId",
            format!("the access key id {} is not known", auth.access_key_id),
        ));
    }
    let content_sha256 = header(protocol::HEADER_CONTENT_SHA256).unwrap_or_default();
    if !crate::sign::same(content_sha256, &crate::sign::sha256_hex(body)) {
        return Err(Refusal::unauthorized(
            "SignatureDoesNotMatch",
            "x-xki-content-sha256 is not the SHA-256 of the body",
        ));
    }
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let (_, sts) = protocol::string_to_sign(path, &pairs, auth.signed_headers, content_sha256);
    let expected = protocol::signature(&state.access_key_secret, &sts);
    if !crate::sign::same(&expected, auth.signature) {
        return Err(Refusal::unauthorized(
            "SignatureDoesNotMatch",
            "the signature does not match; string to sign: ".to_string()
                + &sts.replace('\n', "\\n"),
        ));
    }
    let now = crate::clock::wall_now_ms();
    let date = header(protocol::HEADER_DATE).unwrap_or_default();
    let stamped = crate::clock::parse_iso(date).ok_or_else(|| {
        Refusal::unauthorized(
            "RequestExpired",
            format!(
                "{} {date:?} is not an ISO-8601 UTC time",
                protocol::HEADER_DATE
            ),
        )
    })?;
    if (stamped - now).abs() > protocol::MAX_SKEW_MS {
        return Err(Refusal::unauthorized(
            "RequestExpired",
            format!(
                "{} {date} is more than 15 minutes from the proxy's time",
                protocol::HEADER_DATE
            ),
        ));
    }
    let nonce = header(protocol::HEADER_NONCE).unwrap_or_default();
    match state
        .nonces
        .lock()
        .expect("nonce lock")
        .record(nonce, now, stamped)
    {
        Ok(()) => Ok(()),
        Err(NonceRefusal::Used) => Err(Refusal::unauthorized(
            "SignatureNonceUsed",
            "the signature nonce was used already",
        )),
        Err(NonceRefusal::Expired) => Err(Refusal::unauthorized(
            "RequestExpired",
            "the request is older than the oldest signature nonce the proxy remembers",
        )),
    }
}

fn dispatch(state: &ProxyState, operation: &str, body: &[u8]) -> Result<Value, Refusal> {
    let req: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| Refusal::invalid("body", "not a JSON object"))?;
    let text = |field: &str| -> Result<&str, Refusal> {
        match req.get(field) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Refusal::invalid(field, "must be a string")),
            None => Err(Refusal::invalid(field, "is required")),
        }
    };
    let bytes = |field: &str, required: bool| -> Result<Vec<u8>, Refusal> {
        if !required && !req.contains_key(field) {
            return Ok(Vec::new());
        }
        protocol::unb64(text(field)?).ok_or_else(|| Refusal::invalid(field, "is not base64"))
    };
    let key_id = || -> Result<&str, Refusal> {
        let id = text("KeyId")?;
        if protocol::key_id_is_valid(id) {
            Ok(id)
        } else {
            Err(Refusal::invalid(
                "KeyId",
                "must be 1 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
            ))
        }
    };
    let cipher = |id: &str| {
        state.keys.cipher(id).ok_or_else(|| {
            Refusal(
                StatusCode::NOT_FOUND,
                "KeyNotFound",
                format!("the key {id} does not exist"),
            )
        })
    };
    match operation {
        "GetProxyInfo" => Ok(json!({
            "Vendor": state.vendor,
            "ProxyVersion": protocol::PROXY_VERSION,
            "KeyCount": state.keys.count(),
        })),
        "CreateKey" => {
            let id = key_id()?;
            state.keys.create(id).map_err(|e| {
                tracing::error!("XKI proxy: cannot store key {id}: {e:#}");
                Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "the key could not be stored".into(),
                )
            })?;
            Ok(json!({ "KeyId": id }))
        }
        "Encrypt" => {
            let id = key_id()?;
            let plaintext = bytes("Plaintext", true)?;
            let aad = bytes("Aad", false)?;
            let cipher = cipher(id)?;
            let mut iv = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut iv);
            let ct = cipher
                .encrypt(
                    Nonce::from_slice(&iv),
                    Payload {
                        msg: &plaintext,
                        aad: &aad,
                    },
                )
                .map_err(|_| {
                    Refusal(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "encryption failed".into(),
                    )
                })?;
            Ok(json!({ "Iv": protocol::b64(&iv), "Ciphertext": protocol::b64(&ct) }))
        }
        "Decrypt" => {
            let id = key_id()?;
            let iv = bytes("Iv", true)?;
            if iv.len() != 12 {
                return Err(Refusal::invalid("Iv", "must be 12 bytes"));
            }
            let ct = bytes("Ciphertext", true)?;
            if ct.len() < 16 {
                return Err(Refusal::invalid(
                    "Ciphertext",
                    "must hold at least the 16-byte tag",
                ));
            }
            let aad = bytes("Aad", false)?;
            let cipher = cipher(id)?;
            let plaintext = cipher
                .decrypt(
                    Nonce::from_slice(&iv),
                    Payload {
                        msg: &ct,
                        aad: &aad,
                    },
                )
                .map_err(|_| {
                    Refusal(
                        StatusCode::BAD_REQUEST,
                        "DecryptionFailed",
                        "the ciphertext does not authenticate under this key and Aad".into(),
                    )
                })?;
            Ok(json!({ "Plaintext": protocol::b64(&plaintext) }))
        }
        other => Err(Refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("unknown operation {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_has_exactly_the_four_fields() {
        let cfg = ProxyConfig::new(PathBuf::from("/nonexistent"));
        let fp = "ab".repeat(32);
        let text = config_file_json(&cfg, &fp);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({
                "ProxyPath": "/xki",
                "CertificateFingerprint": fp,
                "AccessKeyId": "mock-xki-access-key-id",
                "AccessKeySecret": "mock-xki-access-key-secret",
            })
        );
        // The order of the contract, for people reading the file.
        let order: Vec<usize> = [
            "ProxyPath",
            "CertificateFingerprint",
            "AccessKeyId",
            "AccessKeySecret",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        let parsed: protocol::ConfigFile = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.certificate_fingerprint, fp);
    }

    #[test]
    fn nonces_are_refused_when_reused_and_forgotten_after_the_window() {
        let mut n = Nonces::default();
        assert_eq!(n.record("a", 0, 0), Ok(()));
        assert_eq!(n.record("a", 1000, 1000), Err(NonceRefusal::Used));
        assert_eq!(n.record("b", 1000, 1000), Ok(()));
        let late = 2 * protocol::MAX_SKEW_MS + 1;
        assert_eq!(n.record("a", late, late), Ok(()));
    }

    #[test]
    fn a_nonce_forgotten_for_room_cannot_be_replayed() {
        let mut n = Nonces::default();
        for i in 0..NONCE_CAPACITY as i64 {
            assert_eq!(n.record(&format!("n{i}"), i, i), Ok(()));
        }
        // Room for one more forgets n0 (stamped 0): its replay is expired, not accepted.
        let next = NONCE_CAPACITY as i64;
        assert_eq!(n.record("fresh", next, next), Ok(()));
        assert_eq!(n.record("n0", next, 0), Err(NonceRefusal::Expired));
        assert_eq!(n.record("n5", next, 5), Err(NonceRefusal::Used));
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        let cfg = ProxyConfig::new(PathBuf::from("/x"));
        assert!(!format!("{cfg:?}").contains(DEFAULT_PROXY_ACCESS_KEY_SECRET));
    }
}
