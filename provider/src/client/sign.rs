//! ACS3-HMAC-SHA256 request signing, written from the published algorithm (wire reference §1.3).
//! The provider's own implementation: it shares no code with mockcloud, so a mismatch between
//! the two shows up as a failed request instead of being hidden.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The query string, sorted by key and RFC 3986 encoded: both the URL we send and the
/// canonical form we sign.
pub fn query_string(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Returns the `Authorization` header value for a `POST /` whose parameters are all in the query.
/// `headers` must be lowercase names; every one of them is signed.
pub fn authorization(
    access_key_id: &str,
    secret: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut sorted: Vec<&(String, String)> = headers.iter().collect();
    sorted.sort();
    let canonical_headers: String = sorted
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = sorted
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request =
        format!("POST\n/\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let string_to_sign = format!("{ALGORITHM}\n{}", hex_sha256(canonical_request.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    format!("{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    /// The vector of the wire reference, section 7.
    #[test]
    fn signature_matches_reference_vector() {
        let query = query_string(&[
            p("KeyId", "alias/my key"),
            p("Plaintext", "aGVsbG8gd29ybGQ="),
            p("EncryptionContext", "{\"b\":\"2\",\"a\":\"ü 1\"}"),
        ]);
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let headers = vec![
            p("host", "localhost:8080"),
            p("x-acs-version", "2016-01-20"),
            p("x-acs-action", "Encrypt"),
            p("x-acs-date", "2024-01-01T00:00:00Z"),
            p("x-acs-signature-nonce", "nonce-0001"),
            p("accept", "application/json"),
            p("x-acs-content-sha256", empty),
        ];
        assert_eq!(
            authorization("testid", "testsecret", &query, &headers, empty),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=8f309e7b4ff1510d4d3541c4f13f64cf04f3e1f58ad568e553a1257b3af066fa"
        );
    }
}
