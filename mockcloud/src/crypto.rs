//! Cryptography of the mock: sealing secrets at rest (AES-256-GCM under a per-data-directory
//! master key) and the data plane: the symmetric ciphertext blob, the encryption context as
//! associated data, ECDSA P-256 signatures and public keys. Independent of the OpenAPI layer, so
//! the instance data-plane protocol can reuse it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

use crate::domain::keys::KeySpec;

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

/// Length of the key version id at the head of a blob: a UUID in 36 ASCII bytes.
pub const KEY_VERSION_ID_LEN: usize = 36;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// A symmetric ciphertext blob, split (wire reference 3.3):
/// `KeyVersionId (36 ASCII bytes) ‖ IV (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)`.
#[derive(Debug, Clone, Copy)]
pub struct Blob<'a> {
    pub key_version_id: &'a str,
    pub iv: &'a [u8],
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Splits a decoded blob; `None` when it is too short or its head is not an ASCII id.
    pub fn parse(raw: &'a [u8]) -> Option<Blob<'a>> {
        if raw.len() < KEY_VERSION_ID_LEN + IV_LEN + TAG_LEN {
            return None;
        }
        let (id, rest) = raw.split_at(KEY_VERSION_ID_LEN);
        let (iv, sealed) = rest.split_at(IV_LEN);
        let key_version_id = std::str::from_utf8(id).ok().filter(|s| s.is_ascii())?;
        Some(Blob {
            key_version_id,
            iv,
            sealed,
        })
    }
}

/// The associated data an `EncryptionContext` binds: the ASCII hex of
/// `sha256("k1=v1&k2=v2")` with keys sorted byte-wise, the rule of the transfer SDK's advance
/// path, so key order does not matter. An absent or empty context binds no associated data
/// (its own canonical form): any context given on decrypt then fails, and the other way round.
// Deviation: the real derivation on the OpenAPI path is not published; keys and values are
// joined unescaped, as the transfer SDK does.
pub fn context_aad(ctx: &BTreeMap<String, String>) -> Vec<u8> {
    if ctx.is_empty() {
        return Vec::new();
    }
    let joined = ctx
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    hex::encode(Sha256::digest(joined.as_bytes())).into_bytes()
}

/// The material of one key version, opened from its sealed record. Never printed.
pub enum KeyMaterial {
    Aes256(Box<Aes256Gcm>),
    EcP256(Box<SigningKey>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<secret>)")
    }
}

impl KeyMaterial {
    /// New random material for a spec, with its raw bytes (to be sealed at once).
    pub fn generate(spec: KeySpec) -> (KeyMaterial, Vec<u8>) {
        match spec {
            KeySpec::Aes256 => {
                let mut raw = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut raw);
                let m = KeyMaterial::from_raw(spec, &raw).expect("32-byte AES key");
                (m, raw)
            }
            KeySpec::EcP256 => {
                let sk = SigningKey::random(&mut rand::rngs::OsRng);
                let raw = sk.to_bytes().to_vec();
                (KeyMaterial::EcP256(Box::new(sk)), raw)
            }
        }
    }

    /// Material from raw bytes: the AES key, or the P-256 private scalar (32 bytes each).
    pub fn from_raw(spec: KeySpec, raw: &[u8]) -> anyhow::Result<KeyMaterial> {
        Ok(match spec {
            KeySpec::Aes256 => KeyMaterial::Aes256(Box::new(
                Aes256Gcm::new_from_slice(raw)
                    .map_err(|_| anyhow::anyhow!("AES-256 key material is not 32 bytes"))?,
            )),
            KeySpec::EcP256 => KeyMaterial::EcP256(Box::new(
                SigningKey::from_slice(raw)
                    .map_err(|_| anyhow::anyhow!("P-256 key material is not a valid scalar"))?,
            )),
        })
    }

    /// Encrypts into a blob under a random IV; `None` for material that does not encrypt.
    pub fn encrypt(&self, key_version_id: &str, plaintext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let KeyMaterial::Aes256(cipher) = self else {
            return None;
        };
        debug_assert_eq!(key_version_id.len(), KEY_VERSION_ID_LEN);
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(KEY_VERSION_ID_LEN + IV_LEN + ct.len());
        out.extend_from_slice(key_version_id.as_bytes());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Some(out)
    }

    /// Opens a blob; `None` when it does not authenticate (tampered, other key, other context).
    pub fn decrypt(&self, blob: &Blob, aad: &[u8]) -> Option<Vec<u8>> {
        let KeyMaterial::Aes256(cipher) = self else {
            return None;
        };
        cipher
            .decrypt(
                Nonce::from_slice(blob.iv),
                Payload {
                    msg: blob.sealed,
                    aad,
                },
            )
            .ok()
    }

    /// ECDSA over a SHA-256 digest given pre-hashed; the signature in DER (SEQUENCE of r, s).
    pub fn sign_digest(&self, digest: &[u8]) -> Option<Vec<u8>> {
        let KeyMaterial::EcP256(sk) = self else {
            return None;
        };
        let sig: Signature = sk.sign_prehash(digest).ok()?;
        Some(sig.to_der().as_bytes().to_vec())
    }

    /// Whether a DER signature verifies over the digest; malformed signatures do not.
    pub fn verify_digest(&self, digest: &[u8], der: &[u8]) -> bool {
        let KeyMaterial::EcP256(sk) = self else {
            return false;
        };
        let Ok(sig) = Signature::from_der(der) else {
            return false;
        };
        sk.verifying_key().verify_prehash(digest, &sig).is_ok()
    }

    /// The public key as PEM SubjectPublicKeyInfo with `\n` line endings.
    pub fn public_key_pem(&self) -> Option<String> {
        let KeyMaterial::EcP256(sk) = self else {
            return None;
        };
        sk.verifying_key().to_public_key_pem(LineEnding::LF).ok()
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

    const KVID: &str = "86a9efd9-3d16-4894-bd4f-1fc43f3f2abf";

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blob_is_version_id_iv_ciphertext_and_tag() {
        let (m, raw) = KeyMaterial::generate(KeySpec::Aes256);
        assert_eq!(raw.len(), 32);
        let blob = m.encrypt(KVID, b"hello", b"").unwrap();
        assert_eq!(blob.len(), 36 + 12 + 5 + 16);
        assert_eq!(&blob[..36], KVID.as_bytes());
        let parsed = Blob::parse(&blob).unwrap();
        assert_eq!(parsed.key_version_id, KVID);
        assert_eq!(parsed.iv, &blob[36..48]);
        assert_eq!(m.decrypt(&parsed, b"").unwrap(), b"hello");
        // A random IV: the same plaintext never gives the same blob.
        assert_ne!(m.encrypt(KVID, b"hello", b"").unwrap(), blob);
        // The same material reopened from its raw bytes decrypts (what a restart does).
        let again = KeyMaterial::from_raw(KeySpec::Aes256, &raw).unwrap();
        assert_eq!(again.decrypt(&parsed, b"").unwrap(), b"hello");
        assert!(Blob::parse(&blob[..63]).is_none());
        assert!(format!("{m:?}").contains("secret"));
    }

    #[test]
    fn tampering_another_key_or_another_context_fails_to_authenticate() {
        let (m, _) = KeyMaterial::generate(KeySpec::Aes256);
        let aad = context_aad(&ctx(&[("a", "1")]));
        let blob = m.encrypt(KVID, b"secret text", &aad).unwrap();
        for i in [40, 50, blob.len() - 1] {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(
                m.decrypt(&Blob::parse(&t).unwrap(), &aad).is_none(),
                "byte {i}"
            );
        }
        let parsed = Blob::parse(&blob).unwrap();
        let (other, _) = KeyMaterial::generate(KeySpec::Aes256);
        assert!(other.decrypt(&parsed, &aad).is_none());
        assert!(m.decrypt(&parsed, b"").is_none(), "missing context");
        let extra = context_aad(&ctx(&[("a", "1"), ("b", "2")]));
        assert!(m.decrypt(&parsed, &extra).is_none(), "extra context");
        let changed = context_aad(&ctx(&[("a", "2")]));
        assert!(m.decrypt(&parsed, &changed).is_none(), "different value");
        assert_eq!(m.decrypt(&parsed, &aad).unwrap(), b"secret text");
    }

    #[test]
    fn context_aad_is_sorted_hex_sha256_and_empty_for_no_context() {
        // Key order is irrelevant: a map is sorted; the form is the transfer SDK's.
        let a = context_aad(&ctx(&[("b", "2"), ("a", "ü 1")]));
        let expected = hex::encode(Sha256::digest("a=ü 1&b=2".as_bytes()));
        assert_eq!(a, expected.as_bytes());
        assert_eq!(a.len(), 64);
        assert!(context_aad(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn ecdsa_signs_prehashed_digests_in_der_and_exports_spki_pem() {
        let (m, raw) = KeyMaterial::generate(KeySpec::EcP256);
        assert_eq!(raw.len(), 32);
        let digest = Sha256::digest(b"message");
        let sig = m.sign_digest(&digest).unwrap();
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        assert!(m.verify_digest(&digest, &sig));
        let other = Sha256::digest(b"other");
        assert!(!m.verify_digest(&other, &sig));
        assert!(!m.verify_digest(&digest, b"not der"));
        let pem = m.public_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
        let again = KeyMaterial::from_raw(KeySpec::EcP256, &raw).unwrap();
        assert_eq!(again.public_key_pem().unwrap(), pem);
        assert!(m.encrypt(KVID, b"x", b"").is_none());
        let (aes, _) = KeyMaterial::generate(KeySpec::Aes256);
        assert!(aes.sign_digest(&digest).is_none() && aes.public_key_pem().is_none());
    }
}
