//! The certificates of HSM clusters (S32, S33): each cluster's CA (its security domain, the
//! cluster owner certificate of international clusters) and the TLS server certificate it
//! issued; client certificate sets as the real generation tool makes them (`client.p12` plus
//! `rootca.pem`); and the checks ConnectKmsInstance makes on what a client uploads: a PKCS#12
//! file opened with its password, PEM certificates, "was this certificate issued by that one".
//!
//! Pure computation, no I/O: `domain::hsm` calls the checks, `backend` the generators (and seals
//! the CA key before it reaches the store). Nothing here knows the wire codes; the domain maps
//! the problems to them.

use p12_keystore::{Certificate as P12Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha1::{Digest, Sha1};

/// The default protection password of `client.p12`, as the real tool's
/// (`hsm_certificate_generate`).
pub const DEFAULT_P12_PASSWORD: &str = "12345678";

/// A new cluster's CA and server certificate. `ca_key_pem` is secret: the backend seals it.
pub struct ClusterPki {
    pub ca_pem: String,
    pub ca_key_pem: String,
    pub server_cert_pem: String,
}

/// The CA of one cluster. The parameters are a function of the cluster id, so the issuer can be
/// rebuilt from the stored key whenever a client set is generated (rcgen takes the issuer's
/// name and key identifier from them).
fn ca_params(cluster_id: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(
        DnType::CommonName,
        format!("{cluster_id} security domain CA"),
    );
    p.distinguished_name
        .push(DnType::OrganizationName, "mockcloud HSM");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

fn issuer(cluster_id: &str, ca_key: &KeyPair) -> anyhow::Result<Certificate> {
    Ok(ca_params(cluster_id)?.self_signed(ca_key)?)
}

/// Generates a cluster's CA (ECDSA P-256) and the TLS server certificate it issues.
pub fn new_cluster_pki(cluster_id: &str) -> anyhow::Result<ClusterPki> {
    let ca_key = KeyPair::generate()?;
    let ca = issuer(cluster_id, &ca_key)?;
    let host = format!("{cluster_id}.hsm.mockcloud.internal");
    let mut sp = CertificateParams::new(vec![host.clone()])?;
    sp.distinguished_name.push(DnType::CommonName, host);
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server = sp.signed_by(&server_key, &ca, &ca_key)?;
    Ok(ClusterPki {
        ca_pem: ca.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        server_cert_pem: server.pem(),
    })
}

/// Generates a client certificate issued by the cluster's CA and packs it with its key and the
/// CA into a PKCS#12 file protected by `password`, as the real generation tool does (2048
/// iterations, openssl's default).
pub fn client_p12(cluster_id: &str, ca_key_pem: &str, password: &str) -> anyhow::Result<Vec<u8>> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let ca = issuer(cluster_id, &ca_key)?;
    let mut cp = CertificateParams::new(Vec::<String>::new())?;
    cp.distinguished_name
        .push(DnType::CommonName, format!("{cluster_id} kms client"));
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client = cp.signed_by(&client_key, &ca, &ca_key)?;
    let leaf = P12Certificate::from_der(client.der().as_ref())?;
    let root = P12Certificate::from_der(ca.der().as_ref())?;
    let local_key_id = Sha1::digest(client.der().as_ref()).to_vec();
    let chain = PrivateKeyChain::new(client_key.serialize_der(), local_key_id, [leaf, root]);
    let mut store = KeyStore::new();
    store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
    Ok(store
        .writer(password)
        .encryption_iterations(2048)
        .mac_iterations(2048)
        .write()?)
}

/// Why a PKCS#12 file did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs12Problem {
    /// Not a PKCS#12 file, or one without a certificate and its private key.
    Malformed,
    /// The password does not open it (its MAC does not verify, or its bags do not decrypt).
    WrongPassword,
}

/// Opens a PKCS#12 file with its protection password; returns the DER of the certificate that
/// goes with the private key (the client certificate).
pub fn open_p12(data: &[u8], password: &str) -> Result<Vec<u8>, Pkcs12Problem> {
    use p12_keystore::error::Error;
    let store = KeyStore::from_pkcs12(data, password).map_err(|e| match e {
        Error::MacError(_) | Error::UnpadError => Pkcs12Problem::WrongPassword,
        _ => Pkcs12Problem::Malformed,
    })?;
    let (_, chain) = store.private_key_chain().ok_or(Pkcs12Problem::Malformed)?;
    let leaf = chain.chain().first().ok_or(Pkcs12Problem::Malformed)?;
    Ok(leaf.as_der().to_vec())
}

/// The DER of the first certificate in a PEM text; `None` when there is none or it does not
/// parse as X.509.
pub fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let der = rustls_pemfile::certs(&mut reader).next()?.ok()?;
    x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(der.as_ref().to_vec())
}

/// Whether `cert` was issued by `issuer`: its issuer name is the issuer's subject and its
/// signature verifies under the issuer's public key. Validity dates are not checked.
pub fn issued_by(cert_der: &[u8], issuer_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, issuer))) = (
        x509_parser::parse_x509_certificate(cert_der),
        x509_parser::parse_x509_certificate(issuer_der),
    ) else {
        return false;
    };
    cert.issuer().as_raw() == issuer.subject().as_raw()
        && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_set_opens_with_its_password_and_chains_to_the_cluster_ca() {
        let pki = new_cluster_pki("hsm-a").unwrap();
        let ca = pem_certificate(&pki.ca_pem).unwrap();
        let server = pem_certificate(&pki.server_cert_pem).unwrap();
        assert!(
            issued_by(&server, &ca),
            "the CA issued the server certificate"
        );
        let p12 = client_p12("hsm-a", &pki.ca_key_pem, "12345678").unwrap();
        let leaf = open_p12(&p12, "12345678").unwrap();
        assert!(issued_by(&leaf, &ca));
        assert!(!issued_by(&ca, &leaf));
    }

    #[test]
    fn wrong_password_and_garbage_are_told_apart() {
        let pki = new_cluster_pki("hsm-a").unwrap();
        let p12 = client_p12("hsm-a", &pki.ca_key_pem, "right-one").unwrap();
        assert_eq!(open_p12(&p12, "wrong"), Err(Pkcs12Problem::WrongPassword));
        assert_eq!(
            open_p12(b"not a pkcs12 file", "right-one"),
            Err(Pkcs12Problem::Malformed)
        );
        assert_eq!(
            open_p12(&p12[..p12.len() / 2], "right-one"),
            Err(Pkcs12Problem::Malformed)
        );
    }

    #[test]
    fn a_foreign_ca_did_not_issue_the_certificate() {
        let a = new_cluster_pki("hsm-a").unwrap();
        // Same cluster id, hence the same CA name: only the signature tells them apart.
        let b = new_cluster_pki("hsm-a").unwrap();
        let leaf = open_p12(&client_p12("hsm-a", &b.ca_key_pem, "p").unwrap(), "p").unwrap();
        let ca_a = pem_certificate(&a.ca_pem).unwrap();
        let ca_b = pem_certificate(&b.ca_pem).unwrap();
        assert!(issued_by(&leaf, &ca_b));
        assert!(!issued_by(&leaf, &ca_a));
        let server_a = pem_certificate(&a.server_cert_pem).unwrap();
        assert!(!issued_by(&server_a, &ca_b));
    }

    #[test]
    fn pem_parsing_refuses_what_is_not_a_certificate() {
        assert!(pem_certificate("hello").is_none());
        assert!(
            pem_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_none()
        );
        let pki = new_cluster_pki("hsm-a").unwrap();
        assert!(
            pem_certificate(&pki.ca_key_pem).is_none(),
            "a key is no certificate"
        );
    }
}
