//! The one outbound HTTP client of the mock cloud: calls a key management proxy over HTTPS with
//! its certificate pinned (no CA chain, no host name: the SHA-256 of the end-entity certificate
//! must equal the configured fingerprint), every request signed, and a hard time limit per call.
//!
//! The API is synchronous, because the backend is: the HTTP runs on the client's own runtime
//! thread, and the caller waits on a channel (inside `block_in_place` on a multi-thread runtime,
//! plainly elsewhere), so it works from plain threads and from any tokio runtime.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::protocol::{self, ErrorBody};

/// Where and how to reach one proxy.
#[derive(Clone)]
pub struct ProxyTarget {
    /// Where to connect (resolved by the caller from the world).
    pub address: SocketAddr,
    /// SNI and `Host` header: the domain name, or the endpoint service id.
    pub server_name: String,
    /// The proxy path, e.g. `/xki`.
    pub path: String,
    /// The pinned certificate fingerprint (normalised here again before use).
    pub fingerprint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("address", &self.address)
            .field("server_name", &self.server_name)
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// The answer of `GetProxyInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    pub vendor: String,
    pub proxy_version: String,
    pub key_count: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum XkiError {
    /// Connection refused or reset, or a TLS failure other than the pin.
    #[error("the proxy is unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within the client's limit.
    #[error("the proxy did not answer within {0:?}")]
    Timeout(Duration),
    /// The proxy's certificate is not the pinned one; `presented` is its fingerprint.
    #[error("the proxy presented a certificate with fingerprint {presented}, not the pinned one")]
    CertificateMismatch { presented: String },
    /// The proxy answered 401.
    #[error("the proxy refused the credentials: {code}: {message}")]
    Unauthorized { code: String, message: String },
    /// Any other JSON error of the proxy.
    #[error("the proxy refused the request (HTTP {status}): {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that is not the protocol's.
    #[error("unexpected answer from the proxy: {0}")]
    Protocol(String),
}

/// Calls proxies. Cheap to clone (the clones share one runtime thread and connection pools);
/// the runtime thread starts at the first call and ends when the last clone is dropped.
#[derive(Clone)]
pub struct XkiClient {
    inner: Arc<Inner>,
}

struct Inner {
    timeout: Duration,
    runtime: Mutex<Option<RuntimeThread>>,
    /// One HTTP client (and pool) per (server name, address, fingerprint).
    clients: Mutex<HashMap<(String, SocketAddr, String), reqwest::Client>>,
}

/// Clients kept before the cache is emptied (targets are few; this only bounds a leak).
const MAX_CACHED_CLIENTS: usize = 64;
/// The largest answer the cloud reads from a proxy (the largest real one, a Decrypt of 6 KiB
/// in base64 JSON, is far below).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The runtime thread: it runs until `_stop` is dropped, then drops its runtime itself (a
/// runtime may not be dropped inside another one's async context).
struct RuntimeThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl XkiClient {
    /// A client whose every call completes, one way or another, within `timeout`.
    pub fn new(timeout: Duration) -> XkiClient {
        XkiClient {
            inner: Arc::new(Inner {
                timeout,
                runtime: Mutex::new(None),
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// `GetProxyInfo`: the handshake of a connect and the health probe.
    pub fn info(&self, t: &ProxyTarget) -> Result<ProxyInfo, XkiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            vendor: String,
            proxy_version: String,
            key_count: u64,
        }
        let a: Answer = self.call(t, "GetProxyInfo", json!({}))?;
        Ok(ProxyInfo {
            vendor: a.vendor,
            proxy_version: a.proxy_version,
            key_count: a.key_count,
        })
    }

    /// `CreateKey`: idempotent; the proxy keeps an existing key's material.
    pub fn create_key(&self, t: &ProxyTarget, key_id: &str) -> Result<(), XkiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            key_id: String,
        }
        let a: Answer = self.call(t, "CreateKey", json!({ "KeyId": key_id }))?;
        if a.key_id != key_id {
            return Err(XkiError::Protocol(format!(
                "CreateKey answered for key {}, not {key_id}",
                a.key_id
            )));
        }
        Ok(())
    }

    /// `Encrypt` (AES-256-GCM in the proxy): returns (12-byte IV, ciphertext ‖ 16-byte tag).
    pub fn encrypt(
        &self,
        t: &ProxyTarget,
        key_id: &str,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), XkiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            iv: String,
            ciphertext: String,
        }
        let body = json!({
            "KeyId": key_id,
            "Plaintext": protocol::b64(plaintext),
            "Aad": protocol::b64(aad),
        });
        let a: Answer = self.call(t, "Encrypt", body)?;
        let iv = decode_field("Encrypt", "Iv", &a.iv)?;
        let ct = decode_field("Encrypt", "Ciphertext", &a.ciphertext)?;
        // AES-GCM: the ciphertext is as long as the plaintext, plus the 16-byte tag.
        if iv.len() != 12 || ct.len() != plaintext.len() + 16 {
            return Err(XkiError::Protocol(format!(
                "Encrypt answered a {}-byte Iv and a {}-byte Ciphertext for {} bytes of plaintext",
                iv.len(),
                ct.len(),
                plaintext.len()
            )));
        }
        Ok((iv, ct))
    }

    /// `Decrypt`; a ciphertext that does not authenticate is `Refused` with `DecryptionFailed`.
    pub fn decrypt(
        &self,
        t: &ProxyTarget,
        key_id: &str,
        iv: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, XkiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            plaintext: String,
        }
        let body = json!({
            "KeyId": key_id,
            "Iv": protocol::b64(iv),
            "Ciphertext": protocol::b64(ciphertext),
            "Aad": protocol::b64(aad),
        });
        let a: Answer = self.call(t, "Decrypt", body)?;
        let plaintext = decode_field("Decrypt", "Plaintext", &a.plaintext)?;
        if plaintext.len() + 16 != ciphertext.len() {
            return Err(XkiError::Protocol(format!(
                "Decrypt answered {} bytes of plaintext for a {}-byte Ciphertext",
                plaintext.len(),
                ciphertext.len()
            )));
        }
        Ok(plaintext)
    }

    fn call<T: DeserializeOwned>(
        &self,
        t: &ProxyTarget,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<T, XkiError> {
        let started = Instant::now();
        let (status, bytes) =
            block_outside_runtime(|| self.exchange(t, operation, &body, started))?;
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(XkiError::Protocol(format!(
                "{operation}: the answer is larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        if (300..400).contains(&status) {
            // The cloud talks to the configured proxy only: it never follows a redirect.
            return Err(XkiError::Protocol(format!(
                "{operation}: HTTP {status} redirect (not followed)"
            )));
        }
        if status == 200 {
            return serde_json::from_slice(&bytes)
                .map_err(|e| XkiError::Protocol(format!("{operation}: {e}")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) if status == 401 => Err(XkiError::Unauthorized {
                code: e.code,
                message: e.message,
            }),
            Ok(e) => Err(XkiError::Refused {
                status,
                code: e.code,
                message: e.message,
            }),
            Err(_) => Err(XkiError::Protocol(format!(
                "{operation}: HTTP {status} without a JSON error"
            ))),
        }
    }

    /// Sends one signed request on the runtime thread and waits for the status and body, at
    /// most until `started + timeout`.
    fn exchange(
        &self,
        t: &ProxyTarget,
        operation: &str,
        body: &serde_json::Value,
        started: Instant,
    ) -> Result<(u16, Vec<u8>), XkiError> {
        let timeout = self.inner.timeout;
        let fingerprint = protocol::normalise_fingerprint(&t.fingerprint).ok_or_else(|| {
            XkiError::Protocol("the pinned fingerprint is not 64 hex digits".into())
        })?;
        if !protocol::path_is_valid(&t.path) {
            return Err(XkiError::Protocol(format!(
                "the proxy path {:?} is not valid",
                t.path
            )));
        }
        let handle = self.inner.runtime_handle()?;
        let client = self.inner.http_client(t, &fingerprint, &handle)?;

        // The URL names the server (SNI), resolved to `address` by the client; an IP literal or
        // empty name connects to `address` directly.
        let url_host = if t.server_name.is_empty() || t.server_name.parse::<IpAddr>().is_ok() {
            match t.address.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            }
        } else {
            t.server_name.clone()
        };
        let host = if t.server_name.is_empty() {
            t.address.to_string()
        } else {
            t.server_name.clone()
        };
        let request_path = format!("{}/{operation}", t.path);
        let url = format!("https://{url_host}:{}{request_path}", t.address.port());
        let body = serde_json::to_vec(body).expect("JSON values serialise");
        let date = crate::clock::iso(crate::clock::wall_now_ms());
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in protocol::sign_request(
            &request_path,
            &host,
            &date,
            &nonce,
            &body,
            &t.access_key_id,
            &t.access_key_secret,
        ) {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| XkiError::Protocol(format!("header {name}: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| XkiError::Protocol(format!("the {name} header is not valid text")))?;
            headers.insert(name, value);
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );

        let deadline = started + timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = handle.spawn(async move {
            let send = async {
                let mut response = client.post(url).headers(headers).body(body).send().await?;
                let status = response.status().as_u16();
                // Read at most MAX_ANSWER_BYTES (+1 to notice more): a hostile or broken proxy
                // cannot make the cloud buffer without limit.
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_ANSWER_BYTES {
                        break;
                    }
                }
                Ok::<_, reqwest::Error>((status, bytes))
            };
            let result =
                tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), send).await;
            let _ = tx.send(result);
        });
        // The task ends itself at the deadline; waiting here until the same deadline also covers a
        // stalled runtime thread, so the call never outlives its limit.
        let wait = deadline.saturating_duration_since(Instant::now());
        let result = match rx.recv_timeout(wait) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                task.abort();
                return Err(XkiError::Timeout(timeout));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(XkiError::Unreachable(
                    "the client's runtime thread stopped".into(),
                ))
            }
        };
        match result {
            Err(_elapsed) => Err(XkiError::Timeout(timeout)),
            Ok(Err(e)) => Err(match map_error(&e, timeout) {
                XkiError::Unreachable(why) => {
                    XkiError::Unreachable(format!("{} ({}): {why}", t.address, t.server_name))
                }
                other => other,
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

impl Inner {
    fn runtime_handle(&self) -> Result<tokio::runtime::Handle, XkiError> {
        let mut slot = self.runtime.lock().expect("runtime lock");
        if let Some(rt) = slot.as_ref() {
            return Ok(rt.handle.clone());
        }
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("xki-client".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                // Runs spawned requests until every clone of the client is gone.
                let _ = rt.block_on(stop_rx);
            })
            .map_err(|e| XkiError::Unreachable(format!("cannot start the client thread: {e}")))?;
        let handle = handle_rx
            .recv()
            .map_err(|_| XkiError::Unreachable("the client thread did not start".into()))?
            .map_err(|e| XkiError::Unreachable(format!("cannot start the client runtime: {e}")))?;
        *slot = Some(RuntimeThread {
            handle: handle.clone(),
            _stop: stop_tx,
        });
        Ok(handle)
    }

    fn http_client(
        &self,
        t: &ProxyTarget,
        fingerprint: &str,
        handle: &tokio::runtime::Handle,
    ) -> Result<reqwest::Client, XkiError> {
        let key = (t.server_name.clone(), t.address, fingerprint.to_string());
        let mut clients = self.clients.lock().expect("client cache lock");
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let _entered = handle.enter();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(pinned_tls_config(fingerprint)?)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8);
        if !t.server_name.is_empty() && t.server_name.parse::<IpAddr>().is_err() {
            builder = builder.resolve(&t.server_name, t.address);
        }
        let client = builder
            .build()
            .map_err(|e| XkiError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// Runs blocking `f` from any context: inside `block_in_place` on a multi-thread runtime's
/// thread (so the runtime keeps its other tasks going), plainly on a current-thread runtime
/// (where `block_in_place` would panic; the work it waits for runs on another thread) or off
/// any runtime.
pub(crate) fn block_outside_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn decode_field(operation: &str, field: &str, value: &str) -> Result<Vec<u8>, XkiError> {
    protocol::unb64(value)
        .ok_or_else(|| XkiError::Protocol(format!("{operation}: {field} is not base64")))
}

/// Marks the pin failure in the TLS error, so it can be told apart from other failures after
/// reqwest and hyper have wrapped it.
const PIN_MISMATCH: &str = "xki-certificate-pin-mismatch presented=";

fn map_error(e: &reqwest::Error, timeout: Duration) -> XkiError {
    let mut chain: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if let Some(presented) = presented_fingerprint(&text) {
            return XkiError::CertificateMismatch { presented };
        }
        if !chain.iter().any(|c| c.contains(&text)) {
            chain.push(text);
        }
        current = err.source();
    }
    if e.is_timeout() {
        return XkiError::Timeout(timeout);
    }
    // reqwest's own line repeats the URL; the causes say what happened.
    if chain.len() > 1 {
        chain.remove(0);
    }
    XkiError::Unreachable(chain.join(": "))
}

/// The fingerprint carried by a pin failure, wherever it sits in an error's text.
fn presented_fingerprint(text: &str) -> Option<String> {
    let at = text.find(PIN_MISMATCH)?;
    Some(
        text[at + PIN_MISMATCH.len()..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect(),
    )
}

/// A rustls client configuration (ring) that accepts exactly the certificate whose DER has the
/// SHA-256 `fingerprint`, whatever its issuer, validity or names.
fn pinned_tls_config(fingerprint: &str) -> Result<rustls::ClientConfig, XkiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCertificate {
        fingerprint: fingerprint.to_string(),
        algorithms: provider.signature_verification_algorithms,
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| XkiError::Unreachable(format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Certificate pinning: the chain and the name are not checked, the end-entity certificate's
/// fingerprint is; handshake signatures are still verified with that certificate's key.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = protocol::fingerprint_of_der(end_entity.as_ref());
        if crate::sign::same(&presented, &self.fingerprint) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("{PIN_MISMATCH}{presented}")))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ProxyTarget {
        ProxyTarget {
            address: SocketAddr::from(([127, 0, 0, 1], 9)),
            server_name: "xki-proxy.mockcloud.test".into(),
            path: "/xki".into(),
            fingerprint: "ab".repeat(32),
            access_key_id: "ak".into(),
            access_key_secret: "very-secret-value".into(),
        }
    }

    #[test]
    fn the_client_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<XkiClient>();
        assert_send_sync::<XkiError>();
        assert_send_sync::<ProxyTarget>();
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        let text = format!("{:?}", target());
        assert!(!text.contains("very-secret-value"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn a_bad_pin_or_path_is_refused_before_any_connection() {
        let c = XkiClient::new(Duration::from_secs(1));
        let t = ProxyTarget {
            fingerprint: "abc".into(),
            ..target()
        };
        assert!(matches!(c.info(&t), Err(XkiError::Protocol(_))));
        let t = ProxyTarget {
            path: "/xki/".into(),
            ..target()
        };
        assert!(matches!(c.info(&t), Err(XkiError::Protocol(_))));
    }

    #[test]
    fn blocking_is_allowed_from_every_kind_of_context() {
        assert_eq!(block_outside_runtime(|| 1), 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(async { block_outside_runtime(|| 2) }), 2);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { block_outside_runtime(|| 3) }).await })
                .unwrap(),
            3
        );
    }

    #[test]
    fn the_pin_failure_is_recognised_through_wrapping() {
        let fp = "cd".repeat(32);
        let wrapped = format!(
            "client error (Connect): invalid peer certificate: unexpected error: \
             {PIN_MISMATCH}{fp}"
        );
        assert_eq!(presented_fingerprint(&wrapped), Some(fp));
        assert_eq!(presented_fingerprint("tcp connect error"), None);
    }
}
