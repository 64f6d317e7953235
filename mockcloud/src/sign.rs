//! Signature algorithms of the Alibaba Cloud OpenAPI gateway (ACS3-HMAC-SHA256 and HMAC-SHA1 v1).
//!
//! Pure functions over already-decoded parameters: `api::auth` uses them to verify requests and
//! `testing::Client` to sign them. The test vectors are those of the wire reference, section 7.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// RFC 3986: everything but `A-Z a-z 0-9 - _ . ~` is escaped, with uppercase hex.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub const ACS3_ALGORITHM: &str = "ACS3-HMAC-SHA256";
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_pct(&mut out, s);
    out
}

fn push_pct(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, RFC3986) {
        out.push_str(chunk);
    }
}

/// Lowercase hex, as signatures and digests are printed.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

/// Sorted (byte-wise by key, then value) `k=v` pairs joined by `&`, both sides RFC 3986 encoded.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    let mut out = String::with_capacity(
        pairs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
            * 3
            / 2,
    );
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_pct(&mut out, k);
        out.push('=');
        push_pct(&mut out, v);
    }
    out
}

/// The ACS3 canonical request and string to sign.
///
/// `headers` holds lowercase names with their raw values; only those named in `signed_headers`
/// (in that order) enter the canonical form. Repeated headers are sorted and joined with `,`.
pub fn acs3_string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed_headers: &str,
    payload_hex: &str,
) -> (String, String) {
    let mut canon_headers = String::with_capacity(512);
    let mut values: Vec<&str> = Vec::new();
    for name in signed_headers.split(';').filter(|n| !n.is_empty()) {
        values.clear();
        values.extend(
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim()),
        );
        values.sort_unstable();
        canon_headers.push_str(name);
        canon_headers.push(':');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                canon_headers.push(',');
            }
            canon_headers.push_str(v);
        }
        canon_headers.push('\n');
    }
    let path = if path.is_empty() { "/" } else { path };
    let canonical_request = format!(
        "{method}\n{path}\n{}\n{canon_headers}\n{signed_headers}\n{payload_hex}",
        canonical_query(query)
    );
    let string_to_sign = format!(
        "{ACS3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    (canonical_request, string_to_sign)
}

pub fn acs3_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    hex_lower(&mac.finalize().into_bytes())
}

/// The v1 string to sign: `METHOD&%2F&pct(canonical query without Signature)`.
pub fn v1_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let without_sig: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    format!("{method}&%2F&{}", pct(&canonical_query(&without_sig)))
}

pub fn v1_signature(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two signatures.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn acs3_matches_reference_vector() {
        let query = vec![
            p("KeyId", "alias/my key"),
            p("Plaintext", "aGVsbG8gd29ybGQ="),
            p("EncryptionContext", "{\"b\":\"2\",\"a\":\"ü 1\"}"),
        ];
        let headers = vec![
            p("host", "localhost:8080"),
            p("x-acs-version", "2016-01-20"),
            p("x-acs-action", "Encrypt"),
            p("x-acs-date", "2024-01-01T00:00:00Z"),
            p("x-acs-signature-nonce", "nonce-0001"),
            p("accept", "application/json"),
            p("x-acs-content-sha256", EMPTY_SHA256),
        ];
        let signed = "accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
        let (canonical, sts) =
            acs3_string_to_sign("POST", "/", &query, &headers, signed, EMPTY_SHA256);
        assert!(canonical.starts_with("POST\n/\nEncryptionContext=%7B%22b%22%3A%222%22%2C%22a%22%3A%22%C3%BC%201%22%7D&KeyId=alias%2Fmy%20key&Plaintext=aGVsbG8gd29ybGQ%3D\naccept:application/json\n"));
        assert_eq!(
            sts,
            "ACS3-HMAC-SHA256\nf700b2dd2e4184f19a7f08f6722f29a9bfd41d8933a320afe189e75581d63c24"
        );
        assert_eq!(
            acs3_signature("testsecret", &sts),
            "8f309e7b4ff1510d4d3541c4f13f64cf04f3e1f58ad568e553a1257b3af066fa"
        );
    }

    #[test]
    fn v1_matches_reference_vector() {
        let params = vec![
            p("Action", "Encrypt"),
            p("Version", "2016-01-20"),
            p("Format", "JSON"),
            p("AccessKeyId", "testid"),
            p("SignatureMethod", "HMAC-SHA1"),
            p("SignatureVersion", "1.0"),
            p("SignatureNonce", "nonce-0001"),
            p("SignatureType", ""),
            p("Timestamp", "2024-01-01T00:00:00Z"),
            p("RegionId", "cn-hangzhou"),
            p("KeyId", "alias/my key"),
            p("Plaintext", "aGVsbG8gd29ybGQ="),
            p("Signature", "ignored"),
        ];
        let sts = v1_string_to_sign("POST", &params);
        assert_eq!(
            v1_signature("testsecret", &sts),
            "zmjwbSg71JT2CarXaiEfqMVN2rI="
        );
    }

    #[test]
    fn signature_comparison_rejects_any_difference() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
