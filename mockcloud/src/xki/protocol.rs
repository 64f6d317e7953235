//! The cloud-to-proxy protocol (contract section 2): fingerprints, the vendor rule, the
//! XKI3-HMAC-SHA256 signature and the JSON wire shapes shared by the client and the proxy.

// Deviation: the real cloud-to-proxy protocol is not published; this one is ours (design
// section 3): HTTPS + JSON, signed like ACS3 with the proxy's access key, certificate pinned.

use sha2::{Digest, Sha256};

/// Normalises a certificate fingerprint: `:`, `-` and spaces removed, lowercased; `None` unless
/// exactly 64 hex digits remain.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let out: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (out.len() == 64 && out.bytes().all(|b| b.is_ascii_hexdigit())).then_some(out)
}

/// The SHA-256 of a certificate's DER, as 64 lowercase hex digits.
pub fn fingerprint_of_der(der: &[u8]) -> String {
    crate::sign::hex_lower(&Sha256::digest(der))
}

/// S40: only HSMs of the vendor Jiangnan Tianan; compared lowercased without spaces, `-`, `_`.
pub fn vendor_is_supported(vendor: &str) -> bool {
    let v: String = vendor
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(|c| c.to_lowercase())
        .collect();
    v == "jiangnantianan"
}

/// The signature algorithm's name, first in `Authorization` and in the string to sign.
pub const ALGORITHM: &str = "XKI3-HMAC-SHA256";
/// The headers every request signs, sorted, as they appear in `SignedHeaders`.
pub const SIGNED_HEADERS: &str = "host;x-xki-content-sha256;x-xki-date;x-xki-signature-nonce";
pub const HEADER_DATE: &str = "x-xki-date";
pub const HEADER_NONCE: &str = "x-xki-signature-nonce";
pub const HEADER_CONTENT_SHA256: &str = "x-xki-content-sha256";
/// What the emulator answers as `ProxyVersion`.
pub const PROXY_VERSION: &str = "mockcloud-xki-1";
/// Largest clock difference between the cloud and the proxy.
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// The canonical request and the string to sign of a `POST` to `path` (no query).
///
/// `headers` holds lowercase names with raw values; those named in `signed_headers` (sorted,
/// `;`-separated) enter the canonical form trimmed. The shape is ACS3's, so `sign.rs` builds the
/// canonical request; only the algorithm name in the string to sign differs.
pub fn string_to_sign(
    path: &str,
    headers: &[(String, String)],
    signed_headers: &str,
    content_sha256: &str,
) -> (String, String) {
    let (canonical_request, _) = crate::sign::acs3_string_to_sign(
        "POST",
        path,
        &[],
        headers,
        signed_headers,
        content_sha256,
    );
    let sts = format!(
        "{ALGORITHM}\n{}",
        crate::sign::sha256_hex(canonical_request.as_bytes())
    );
    (canonical_request, sts)
}

/// Lowercase hex HMAC-SHA256 of the string to sign under the access key secret.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    crate::sign::acs3_signature(secret, string_to_sign)
}

/// The headers of a signed request (lowercase names), `authorization` last.
pub fn sign_request(
    path: &str,
    host: &str,
    date: &str,
    nonce: &str,
    body: &[u8],
    access_key_id: &str,
    access_key_secret: &str,
) -> Vec<(String, String)> {
    let content_sha256 = crate::sign::sha256_hex(body);
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        (HEADER_CONTENT_SHA256.to_string(), content_sha256.clone()),
        (HEADER_DATE.to_string(), date.to_string()),
        (HEADER_NONCE.to_string(), nonce.to_string()),
    ];
    let (_, sts) = string_to_sign(path, &headers, SIGNED_HEADERS, &content_sha256);
    headers.push((
        "authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={access_key_id},SignedHeaders={SIGNED_HEADERS},Signature={}",
            signature(access_key_secret, &sts)
        ),
    ));
    headers
}

/// The fields of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// Parses `XKI3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`; `None` when malformed.
pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut ak, mut sh, mut sig) = (None, None, None);
    for part in rest.trim().split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let slot = match k {
            "Credential" => &mut ak,
            "SignedHeaders" => &mut sh,
            "Signature" => &mut sig,
            _ => return None,
        };
        if slot.replace(v).is_some() {
            return None;
        }
    }
    let auth = Authorization {
        access_key_id: ak.filter(|s| !s.is_empty())?,
        signed_headers: sh.filter(|s| !s.is_empty())?,
        signature: sig.filter(|s| !s.is_empty())?,
    };
    Some(auth)
}

/// The error body of every refusal: `{"Code","Message"}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The S42 configuration file (contract section 4).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConfigFile {
    pub proxy_path: String,
    pub certificate_fingerprint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("proxy_path", &self.proxy_path)
            .field("certificate_fingerprint", &self.certificate_fingerprint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// Standard base64, as every byte field of the protocol is encoded.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A proxy path is `/` followed by something, without a trailing `/`.
pub fn path_is_valid(path: &str) -> bool {
    path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
        // No empty, `.` or `..` segments: an HTTP client would tidy them away and the path it
        // sends would no longer be the one it signed.
        && path[1..]
            .split('/')
            .all(|seg| !matches!(seg, "" | "." | ".."))
}

/// A proxy key id: 1..=128 characters of `[A-Za-z0-9-_]`.
pub fn key_id_is_valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn fingerprint_of_der_is_lowercase_sha256_hex() {
        assert_eq!(fingerprint_of_der(b"abc"), FP);
    }

    #[test]
    fn fingerprints_normalise_case_and_separators() {
        assert_eq!(normalise_fingerprint(FP).as_deref(), Some(FP));
        assert_eq!(
            normalise_fingerprint(&FP.to_uppercase()).as_deref(),
            Some(FP)
        );
        let pairs: Vec<String> = FP
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
            .collect();
        for sep in [":", "-", " "] {
            assert_eq!(
                normalise_fingerprint(&pairs.join(sep)).as_deref(),
                Some(FP),
                "separator {sep:?}"
            );
        }
        assert_eq!(
            normalise_fingerprint(&format!(" {}:{} ", &FP[..32], &FP[32..])).as_deref(),
            Some(FP)
        );
    }

    #[test]
    fn fingerprints_of_the_wrong_length_or_alphabet_are_refused() {
        assert_eq!(normalise_fingerprint(""), None);
        assert_eq!(normalise_fingerprint(&FP[..63]), None);
        assert_eq!(normalise_fingerprint(&format!("{FP}0")), None);
        assert_eq!(normalise_fingerprint(&format!("{}g", &FP[..63])), None);
        // Other separators are not removed.
        assert_eq!(
            normalise_fingerprint(&format!("{}.{}", &FP[..32], &FP[32..])),
            None
        );
        // SHA-1 length.
        assert_eq!(normalise_fingerprint(&FP[..40]), None);
    }

    #[test]
    fn only_jiangnan_tianan_is_supported() {
        for ok in [
            "Jiangnan Tianan",
            "jiangnan tianan",
            "JIANGNAN-TIANAN",
            "Jiangnan_Tianan",
            " Jiangnan  Tianan ",
            "JiangnanTianan",
        ] {
            assert!(vendor_is_supported(ok), "{ok}");
        }
        for bad in [
            "",
            "Jiangnan",
            "Tianan",
            "Thales Luna",
            "Jiangnan Tianan HSM",
            "Jiangnan.Tianan",
        ] {
            assert!(!vendor_is_supported(bad), "{bad}");
        }
    }

    #[test]
    fn signature_on_a_fixed_example() {
        let body = b"{}";
        let body_sha = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        let headers = sign_request(
            "/xki/GetProxyInfo",
            "xki-proxy.mockcloud.test",
            "2026-12-03T19:00:00Z",
            "3f2b6c1e-0000-4000-8000-000000000001",
            body,
            "mock-xki-access-key-id",
            "mock-xki-access-key-secret",
        );
        let (canonical, sts) =
            string_to_sign("/xki/GetProxyInfo", &headers, SIGNED_HEADERS, body_sha);
        assert_eq!(
            canonical,
            format!(
                "POST\n/xki/GetProxyInfo\n\n\
                 host:xki-proxy.mockcloud.test\n\
                 x-xki-content-sha256:{body_sha}\n\
                 x-xki-date:2026-12-03T19:00:00Z\n\
                 x-xki-signature-nonce:3f2b6c1e-0000-4000-8000-000000000001\n\
                 \n\
                 host;x-xki-content-sha256;x-xki-date;x-xki-signature-nonce\n\
                 {body_sha}"
            )
        );
        assert_eq!(
            sts,
            "XKI3-HMAC-SHA256\n5458954bc5e94dea8d17f0669db79ed21e73a8acc8eccf977794c1e51e85990f"
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "host",
                "x-xki-content-sha256",
                "x-xki-date",
                "x-xki-signature-nonce",
                "authorization"
            ]
        );
        assert_eq!(headers[1].1, body_sha);
        assert_eq!(
            headers[4].1,
            "XKI3-HMAC-SHA256 Credential=mock-xki-access-key-id,\
             SignedHeaders=host;x-xki-content-sha256;x-xki-date;x-xki-signature-nonce,\
             Signature=2a799cf40562caedc121d7ad1f82b9203e635e1e8aad08a5fd3f1ad91b8e8ab6"
        );
    }

    #[test]
    fn header_values_are_trimmed_in_the_canonical_request() {
        let headers = vec![
            ("host".to_string(), "  h  ".to_string()),
            ("x-xki-date".to_string(), "d".to_string()),
        ];
        let (canonical, _) = string_to_sign("/p", &headers, "host;x-xki-date", "x");
        assert_eq!(
            canonical,
            "POST\n/p\n\nhost:h\nx-xki-date:d\n\nhost;x-xki-date\nx"
        );
    }

    #[test]
    fn authorization_parses_and_refuses_malformed_values() {
        let a =
            parse_authorization("XKI3-HMAC-SHA256 Credential=ak,SignedHeaders=host;x,Signature=ab")
                .unwrap();
        assert_eq!(
            a,
            Authorization {
                access_key_id: "ak",
                signed_headers: "host;x",
                signature: "ab"
            }
        );
        for bad in [
            "",
            "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature=ab",
            "XKI3-HMAC-SHA256Credential=ak,SignedHeaders=host,Signature=ab",
            "XKI3-HMAC-SHA256 Credential=ak,SignedHeaders=host",
            "XKI3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
            "XKI3-HMAC-SHA256 Credential=ak,Credential=ak,SignedHeaders=host,Signature=ab",
            "XKI3-HMAC-SHA256 Credential=ak,SignedHeaders=host,Signature=ab,Extra=1",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_and_key_ids() {
        assert!(path_is_valid("/xki"));
        assert!(path_is_valid("/api/v1/xki"));
        for bad in [
            "",
            "/",
            "xki",
            "/xki/",
            "/x ki",
            "/xki?a=b",
            "/../xki",
            "/./xki",
            "/a/../xki",
            "/xki/.",
            "/a//b",
        ] {
            assert!(!path_is_valid(bad), "{bad:?}");
        }
        assert!(key_id_is_valid("key-version_1"));
        assert!(key_id_is_valid(&"a".repeat(128)));
        assert!(!key_id_is_valid(""));
        assert!(!key_id_is_valid(&"a".repeat(129)));
        assert!(!key_id_is_valid("a/b"));
        assert!(!key_id_is_valid("a.b"));
    }
}
