//! TLS material: a CA generated once per data directory (clients trust `tls/ca.pem`) and a server
//! certificate for loopback names, re-issued by that CA at every start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::crypto::write_private;

pub struct TlsMaterial {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "mockcloud local CA");
    p.distinguished_name
        .push(DnType::OrganizationName, "mockcloud");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Loads or creates the CA under `<dir>/tls/`, then issues a server certificate for
/// `localhost`, `127.0.0.1`, `::1` and `extra_host`.
pub fn load_or_create(dir: &Path, extra_host: &str) -> anyhow::Result<TlsMaterial> {
    let tls_dir = dir.join("tls");
    std::fs::create_dir_all(&tls_dir)?;
    let ca_file = tls_dir.join("ca.pem");
    let ca_key_file = tls_dir.join("ca.key");
    let ca_key = match std::fs::read_to_string(&ca_key_file) {
        Ok(pem) if ca_file.exists() => KeyPair::from_pem(&pem)?,
        _ => {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            write_private(&ca_key_file, key.serialize_pem().as_bytes())?;
            std::fs::write(&ca_file, cert.pem())?;
            key
        }
    };
    let ca_pem = std::fs::read_to_string(&ca_file)?;
    // Same parameters and key as the stored CA, so it serves as the issuer of the server cert.
    let issuer = ca_params()?.self_signed(&ca_key)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !extra_host.is_empty() && !names.iter().any(|n| n == extra_host) {
        names.push(extra_host.to_string());
    }
    let mut sp = CertificateParams::new(names)?;
    sp.distinguished_name.push(DnType::CommonName, "mockcloud");
    let server_key = KeyPair::generate()?;
    let server_cert = sp.signed_by(&server_key, &issuer, &ca_key)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        ca_file,
        server_config: Arc::new(cfg),
    })
}
