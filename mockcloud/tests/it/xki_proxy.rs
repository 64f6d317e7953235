//! The XKI proxy emulator and the pinned client (`mockcloud::xki`), in-process: the protocol's
//! operations, every failure the cloud tells apart, restarts, and what is kept at rest.

use std::time::{Duration, Instant};

use mockcloud::xki::{
    self, start_proxy, ProxyConfig, ProxyTarget, RunningProxy, XkiClient, XkiError,
};
use tempfile::TempDir;

fn proxy(dir: &TempDir) -> RunningProxy {
    start_proxy(ProxyConfig::new(dir.path().to_path_buf())).expect("proxy starts")
}

fn target(p: &RunningProxy) -> ProxyTarget {
    ProxyTarget {
        address: p.addr(),
        server_name: xki::DEFAULT_PROXY_DOMAIN.to_string(),
        path: xki::DEFAULT_PROXY_PATH.to_string(),
        fingerprint: p.fingerprint(),
        access_key_id: xki::DEFAULT_PROXY_ACCESS_KEY_ID.to_string(),
        access_key_secret: xki::DEFAULT_PROXY_ACCESS_KEY_SECRET.to_string(),
    }
}

fn client() -> XkiClient {
    XkiClient::new(Duration::from_secs(3))
}

fn refused_code(e: XkiError) -> (u16, String) {
    match e {
        XkiError::Refused { status, code, .. } => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn unauthorized_code(e: XkiError) -> String {
    match e {
        XkiError::Unauthorized { code, .. } => code,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[test]
fn keys_are_created_once_and_encrypt_decrypt_round_trips_with_aad() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let t = target(&p);

    let info = c.info(&t).unwrap();
    assert_eq!(info.vendor, "Jiangnan Tianan");
    assert!(xki::vendor_is_supported(&info.vendor));
    assert_eq!(info.proxy_version, "mockcloud-xki-1");
    assert_eq!(info.key_count, 0);

    c.create_key(&t, "key-version-1").unwrap();
    let (iv, ct) = c
        .encrypt(&t, "key-version-1", b"hello xki", b"aad-1")
        .unwrap();
    assert_eq!(iv.len(), 12);
    assert_eq!(ct.len(), b"hello xki".len() + 16);
    // Idempotent: the existing key keeps its material.
    c.create_key(&t, "key-version-1").unwrap();
    assert_eq!(c.info(&t).unwrap().key_count, 1);
    assert_eq!(
        c.decrypt(&t, "key-version-1", &iv, &ct, b"aad-1").unwrap(),
        b"hello xki"
    );
    let (iv2, _) = c
        .encrypt(&t, "key-version-1", b"hello xki", b"aad-1")
        .unwrap();
    assert_ne!(iv, iv2, "a fresh IV per encryption");

    // Wrong AAD, a tampered ciphertext, another key: the ciphertext does not authenticate.
    let e = c
        .decrypt(&t, "key-version-1", &iv, &ct, b"aad-2")
        .unwrap_err();
    assert_eq!(refused_code(e), (400, "DecryptionFailed".to_string()));
    let mut bad = ct.clone();
    bad[0] ^= 1;
    let e = c
        .decrypt(&t, "key-version-1", &iv, &bad, b"aad-1")
        .unwrap_err();
    assert_eq!(refused_code(e), (400, "DecryptionFailed".to_string()));
    c.create_key(&t, "key-version-2").unwrap();
    let e = c
        .decrypt(&t, "key-version-2", &iv, &ct, b"aad-1")
        .unwrap_err();
    assert_eq!(refused_code(e), (400, "DecryptionFailed".to_string()));

    // Empty plaintext and empty AAD are fine.
    let (iv0, ct0) = c.encrypt(&t, "key-version-2", b"", b"").unwrap();
    assert_eq!(
        c.decrypt(&t, "key-version-2", &iv0, &ct0, b"").unwrap(),
        b""
    );

    let e = c.encrypt(&t, "no-such-key", b"x", b"").unwrap_err();
    assert_eq!(refused_code(e), (404, "KeyNotFound".to_string()));
    let e = c.create_key(&t, "bad/id").unwrap_err();
    assert_eq!(refused_code(e), (400, "InvalidParameter".to_string()));
    let e = c
        .decrypt(&t, "key-version-1", &iv[..8], &ct, b"aad-1")
        .unwrap_err();
    assert_eq!(refused_code(e), (400, "InvalidParameter".to_string()));

    // A wrong proxy path is 404 NotFound.
    let wrong_path = ProxyTarget {
        path: "/other".into(),
        ..t.clone()
    };
    let e = c.info(&wrong_path).unwrap_err();
    assert_eq!(refused_code(e), (404, "NotFound".to_string()));
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_fingerprint_is_a_mismatch_naming_the_presented_one() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let pinned = "00".repeat(32);
    let t = ProxyTarget {
        fingerprint: pinned,
        ..target(&p)
    };
    match c.info(&t) {
        Err(XkiError::CertificateMismatch { presented }) => {
            assert_eq!(presented, p.fingerprint())
        }
        other => panic!("expected CertificateMismatch, got {other:?}"),
    }
    // The pin is compared after normalisation: uppercase with colons is the same pin.
    let colons: Vec<String> = p
        .fingerprint()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
        .collect();
    let t = ProxyTarget {
        fingerprint: colons.join(":"),
        ..target(&p)
    };
    assert_eq!(c.info(&t).unwrap().vendor, "Jiangnan Tianan");
    // The server name does not matter to the pin: the endpoint service id, or an IP.
    for name in ["epsrv-xki-hangzhou", "127.0.0.1", ""] {
        let t = ProxyTarget {
            server_name: name.into(),
            ..target(&p)
        };
        assert_eq!(c.info(&t).unwrap().key_count, 0, "server name {name:?}");
    }
    p.stop();
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_credentials_are_unauthorized_with_the_proxy_code() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let wrong_secret = ProxyTarget {
        access_key_secret: "not-the-secret".into(),
        ..target(&p)
    };
    let e = c.info(&wrong_secret).unwrap_err();
    assert_eq!(unauthorized_code(e.clone()), "SignatureDoesNotMatch");
    assert!(!e.to_string().contains("not-the-secret"));
    let unknown_ak = ProxyTarget {
        access_key_id: "someone-else".into(),
        ..target(&p)
    };
    let e = c.info(&unknown_ak).unwrap_err();
    assert_eq!(unauthorized_code(e), "InvalidAccessKeyId");
    // And the right ones still work from this current-thread runtime.
    c.info(&target(&p)).unwrap();
    p.stop();
}

#[test]
fn a_stopped_proxy_is_unreachable() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let t = target(&p);
    c.info(&t).unwrap();
    p.stop();
    let started = Instant::now();
    match c.info(&t) {
        Err(XkiError::Unreachable(why)) => {
            assert!(why.contains("refused"), "{why}");
            assert!(!why.is_empty())
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < c.timeout());
}

/// A peer that is not a TLS server (it closes at once) is unreachable; one that accepts and never
/// speaks (the handshake stalls) is a timeout within the limit.
#[test]
fn a_peer_that_closes_is_unreachable_and_a_silent_one_times_out() {
    let closing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closing_addr = closing.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in closing.incoming().take(1) {
            drop(s);
        }
    });
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let (s, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let limit = Duration::from_millis(500);
    let c = XkiClient::new(limit);
    let t = ProxyTarget {
        address: closing_addr,
        server_name: xki::DEFAULT_PROXY_DOMAIN.into(),
        path: "/xki".into(),
        fingerprint: "ab".repeat(32),
        access_key_id: "ak".into(),
        access_key_secret: "sk".into(),
    };
    match c.info(&t) {
        Err(XkiError::Unreachable(why)) => {
            assert!(why.contains(&closing_addr.to_string()), "{why}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let started = Instant::now();
    let t = ProxyTarget {
        address: silent_addr,
        ..t
    };
    match c.info(&t) {
        Err(XkiError::Timeout(d)) => assert_eq!(d, limit),
        other => panic!("expected Timeout, got {other:?}"),
    }
    // Well before the peer's 3 s of silence end (a loose bound: CI machines are busy).
    assert!(started.elapsed() < limit + Duration::from_millis(2000));
    held.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_proxy_times_out_within_the_limit() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let limit = Duration::from_millis(600);
    let c = XkiClient::new(limit);
    assert_eq!(c.timeout(), limit);
    let t = target(&p);
    c.create_key(&t, "k1").unwrap();
    p.set_delay(Duration::from_secs(5));
    for _ in 0..2 {
        let started = Instant::now();
        match c.encrypt(&t, "k1", b"x", b"") {
            Err(XkiError::Timeout(d)) => assert_eq!(d, limit),
            other => panic!("expected Timeout, got {other:?}"),
        }
        let took = started.elapsed();
        assert!(took >= limit, "{took:?}");
        // Far below the proxy's 5 s delay (a loose bound: CI machines are busy).
        assert!(took < limit + Duration::from_millis(2500), "{took:?}");
    }
    p.set_delay(Duration::ZERO);
    c.encrypt(&t, "k1", b"x", b"").unwrap();
    p.stop();
}

#[test]
fn a_restart_on_the_same_directory_and_port_keeps_the_certificate_and_the_keys() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let (addr, fingerprint) = (p.addr(), p.fingerprint());
    let c = client();
    let t = target(&p);
    c.create_key(&t, "k1").unwrap();
    let (iv, ct) = c
        .encrypt(&t, "k1", b"kept across restarts", b"ctx")
        .unwrap();
    // While it runs, its port is taken: a second start fails rather than hanging.
    let other = TempDir::new().unwrap();
    let mut busy = ProxyConfig::new(other.path().to_path_buf());
    busy.listen = addr;
    assert!(start_proxy(busy).is_err());
    p.stop();

    let mut cfg = ProxyConfig::new(dir.path().to_path_buf());
    cfg.listen = addr;
    let p = start_proxy(cfg).expect("restarts on the same port");
    assert_eq!(p.addr(), addr);
    assert_eq!(p.fingerprint(), fingerprint);
    // The same client (its pooled connection died with the old proxy) and a new one.
    assert_eq!(
        c.decrypt(&t, "k1", &iv, &ct, b"ctx").unwrap(),
        b"kept across restarts"
    );
    assert_eq!(
        client().decrypt(&t, "k1", &iv, &ct, b"ctx").unwrap(),
        b"kept across restarts"
    );
    assert_eq!(c.info(&t).unwrap().key_count, 1);
    p.stop();
}

#[test]
fn nothing_secret_is_kept_in_plaintext_at_rest() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let t = target(&p);
    let plaintext = b"a-very-recognisable-plaintext-0123456789";
    c.create_key(&t, "k1").unwrap();
    let (iv, ct) = c.encrypt(&t, "k1", plaintext, b"").unwrap();
    assert_eq!(c.decrypt(&t, "k1", &iv, &ct, b"").unwrap(), plaintext);
    p.stop();

    let needles: Vec<Vec<u8>> = vec![
        plaintext.to_vec(),
        xki::DEFAULT_PROXY_ACCESS_KEY_SECRET.as_bytes().to_vec(),
    ];
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("keys.json")), "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "{} holds a secret in plaintext",
                f.display()
            );
        }
    }
    // The key file holds sealed material only: a key id and an opaque sealed string.
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("keys.json")).unwrap()).unwrap();
    let sealed = keys["k1"].as_str().unwrap();
    assert!(
        sealed.len() > 44,
        "longer than a bare base64 key: {}",
        sealed.len()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["master.key", "keys.json", "tls/proxy-key.pem"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
}

#[test]
fn many_threads_share_one_client() {
    let dir = TempDir::new().unwrap();
    let p = proxy(&dir);
    let c = client();
    let t = target(&p);
    c.create_key(&t, "k1").unwrap();
    std::thread::scope(|s| {
        for i in 0..6 {
            let (c, t) = (c.clone(), t.clone());
            s.spawn(move || {
                for j in 0..10 {
                    let msg = format!("message {i}-{j}");
                    let (iv, ct) = c.encrypt(&t, "k1", msg.as_bytes(), b"").unwrap();
                    assert_eq!(c.decrypt(&t, "k1", &iv, &ct, b"").unwrap(), msg.as_bytes());
                }
            });
        }
    });
    p.stop();
}

/// Raw signed requests, to reach the refusals the client never provokes.
mod raw {
    use super::*;
    use mockcloud::xki::protocol;

    async fn send(
        p: &RunningProxy,
        path: &str,
        body: &[u8],
        headers: Vec<(String, String)>,
    ) -> (u16, String) {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .unwrap();
        let mut req = http.post(format!("https://{}{path}", p.addr()));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.body(body.to_vec()).send().await.unwrap();
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().await.unwrap();
        (status, v["Code"].as_str().unwrap_or_default().to_string())
    }

    fn signed(body: &[u8], date: &str, nonce: &str) -> Vec<(String, String)> {
        protocol::sign_request(
            "/xki/GetProxyInfo",
            "xki-proxy.mockcloud.test",
            date,
            nonce,
            body,
            xki::DEFAULT_PROXY_ACCESS_KEY_ID,
            xki::DEFAULT_PROXY_ACCESS_KEY_SECRET,
        )
    }

    fn now() -> String {
        mockcloud::clock::iso(mockcloud::clock::wall_now_ms())
    }

    #[tokio::test]
    async fn replays_stale_dates_tampering_and_missing_headers_are_refused() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = TempDir::new().unwrap();
        let p = proxy(&dir);
        let path = "/xki/GetProxyInfo";

        let h = signed(b"{}", &now(), "nonce-1");
        assert_eq!(send(&p, path, b"{}", h.clone()).await, (200, String::new()));
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "SignatureNonceUsed".into())
        );

        let stale = mockcloud::clock::iso(mockcloud::clock::wall_now_ms() - 16 * 60 * 1000);
        let h = signed(b"{}", &stale, "nonce-2");
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "RequestExpired".into())
        );
        let future = mockcloud::clock::iso(mockcloud::clock::wall_now_ms() + 16 * 60 * 1000);
        let h = signed(b"{}", &future, "nonce-3");
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "RequestExpired".into())
        );

        // A body other than the signed one.
        let h = signed(b"{}", &now(), "nonce-4");
        assert_eq!(
            send(&p, path, b"{ }", h).await,
            (401, "SignatureDoesNotMatch".into())
        );
        // A changed header value.
        let mut h = signed(b"{}", &now(), "nonce-5");
        h[3].1 = "nonce-5b".into();
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "SignatureDoesNotMatch".into())
        );

        let mut h = signed(b"{}", &now(), "nonce-6");
        h.retain(|(k, _)| k != "authorization");
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "MissingAuthorization".into())
        );
        let mut h = signed(b"{}", &now(), "nonce-7");
        h.retain(|(k, _)| k != protocol::HEADER_DATE);
        assert_eq!(
            send(&p, path, b"{}", h).await,
            (401, "MissingAuthorization".into())
        );

        // A path outside the proxy path.
        let h = signed(b"{}", &now(), "nonce-8");
        assert_eq!(
            send(&p, "/elsewhere/GetProxyInfo", b"{}", h).await,
            (404, "NotFound".into())
        );
        p.stop();
    }
}

/// A TLS peer with its own certificate that answers every request with `response` (raw HTTP).
fn fake_proxy(response: Vec<u8>) -> (std::net::SocketAddr, String) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let cert =
        rcgen::generate_simple_self_signed(vec![xki::DEFAULT_PROXY_DOMAIN.to_string()]).unwrap();
    let der = cert.cert.der().to_vec();
    let fingerprint = xki::fingerprint_of_der(&der);
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.into()], key)
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, response) = (config.clone(), response.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                // Read the request head and its (small) body, then answer.
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(&response);
                let _ = tls.flush();
                std::thread::sleep(Duration::from_millis(200));
            });
        }
    });
    (addr, fingerprint)
}

fn fake_target(addr: std::net::SocketAddr, fingerprint: String) -> ProxyTarget {
    ProxyTarget {
        address: addr,
        server_name: xki::DEFAULT_PROXY_DOMAIN.into(),
        path: "/xki".into(),
        fingerprint,
        access_key_id: "ak".into(),
        access_key_secret: "sk".into(),
    }
}

#[test]
fn redirects_are_not_followed_and_oversized_or_inconsistent_answers_are_refused() {
    let c = client();
    // A redirect, even to the same host, is a protocol error: the cloud talks to the proxy only.
    let (addr, fp) = fake_proxy(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /xki/GetProxyInfo\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    );
    match c.info(&fake_target(addr, fp)) {
        Err(XkiError::Protocol(why)) => assert!(why.contains("307"), "{why}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // An answer larger than the cloud reads.
    let mut big =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n"
            .to_vec();
    big.extend(std::iter::repeat_n(b' ', 200_000));
    let (addr, fp) = fake_proxy(big);
    match c.info(&fake_target(addr, fp)) {
        Err(XkiError::Protocol(why)) => assert!(why.contains("larger than"), "{why}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // A ciphertext whose length does not fit the plaintext (AES-GCM adds exactly 16 bytes).
    let body = r#"{"Iv":"AAAAAAAAAAAAAAAA","Ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (addr, fp) = fake_proxy(answer.into_bytes());
    match c.encrypt(&fake_target(addr, fp), "k1", b"hello", b"") {
        Err(XkiError::Protocol(why)) => assert!(why.contains("for 5 bytes of plaintext"), "{why}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}
