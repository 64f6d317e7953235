//! Cryptography of the mock: sealing secrets at rest (AES-256-GCM under a per-data-directory
//! master key). The data-plane ciphertext format comes with the key issue and lives here too.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use std::path::Path;

/// Seals and opens secrets stored in sled: access key secrets today; passwords, PKCS#12 blobs,
/// key material and secret values later. Never logs what it seals.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<master key>)")
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Sealer {
    /// Loads `master.key` from the data directory, creating it (mode 0600) on first use.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<Sealer> {
        let path = dir.join("master.key");
        let key = match std::fs::read(&path) {
            Ok(k) if k.len() == 32 => k,
            Ok(_) => anyhow::bail!("{} is not a 32-byte key", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                write_private(&path, &k)?;
                k
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Sealer::from_key(&key))
    }

    pub fn from_key(key: &[u8]) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new_from_slice(key).expect("32-byte key"),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encrypts");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = B64.decode(sealed)?;
        anyhow::ensure!(raw.len() > 12, "sealed value too short");
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| {
                anyhow::anyhow!("sealed value does not open under this data directory's master key")
            })
    }
}

pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_its_key_and_hides_plaintext() {
        let s = Sealer::from_key(&[7u8; 32]);
        let sealed = s.seal(b"mock-access-key-secret");
        assert!(!sealed.contains("mock-access-key-secret"));
        assert_eq!(s.open(&sealed).unwrap(), b"mock-access-key-secret");
        assert!(Sealer::from_key(&[8u8; 32]).open(&sealed).is_err());
    }
}
