//! Verifies who is calling: ACS3-HMAC-SHA256 (header `Authorization`) or v1 HMAC-SHA1 (query
//! `Signature`), against the access keys of the world's accounts. Timestamps outside 15 minutes
//! and reused nonces are refused. Uses wall time, never the simulated clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::backend::{Backend, Caller};
use crate::clock::{parse_iso, wall_now_ms};
use crate::error::ApiError;
use crate::sign;

const SKEW_MS: i64 = 15 * 60 * 1000;

/// The parts of an HTTP request the verifier needs, already decoded.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Lowercase header names with raw values.
    pub headers: &'a [(String, String)],
    pub query: &'a [(String, String)],
    pub form: &'a [(String, String)],
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Recent nonces, bounded in count. A request older than the oldest nonce still remembered is
/// refused as expired, so a replay is never accepted even when load shortens the window.
pub struct NonceCache {
    inner: Mutex<Nonces>,
    capacity: usize,
}

struct Nonces {
    seen: HashMap<String, i64>,
    order: VecDeque<(String, i64)>,
    /// Requests stamped before this have lost their nonce record: refuse them.
    floor_ms: i64,
}

impl NonceCache {
    pub fn new(capacity: usize) -> NonceCache {
        NonceCache {
            inner: Mutex::new(Nonces {
                seen: HashMap::new(),
                order: VecDeque::new(),
                floor_ms: i64::MIN,
            }),
            capacity,
        }
    }

    /// Records the nonce; false when it was seen already or the request is too old to judge.
    pub fn check_and_record(
        &self,
        nonce: &str,
        stamped_ms: i64,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let mut n = self.inner.lock().expect("nonce lock");
        while let Some((old, ts)) = n.order.front().cloned() {
            if ts < now_ms - SKEW_MS || n.order.len() >= self.capacity {
                n.order.pop_front();
                n.seen.remove(&old);
                if ts >= now_ms - SKEW_MS {
                    n.floor_ms = n.floor_ms.max(ts);
                }
            } else {
                break;
            }
        }
        if stamped_ms < n.floor_ms {
            return Err(ApiError::InvalidTimeStampExpired);
        }
        if n.seen.contains_key(nonce) {
            return Err(ApiError::SignatureNonceUsed);
        }
        n.seen.insert(nonce.to_string(), stamped_ms);
        n.order.push_back((nonce.to_string(), stamped_ms));
        Ok(())
    }
}

/// Verifies the request and returns the caller.
pub fn verify(
    backend: &Backend,
    nonces: &NonceCache,
    req: &SignedRequest,
) -> Result<Caller, ApiError> {
    let now = wall_now_ms();
    if let Some(auth) = req.header("authorization") {
        if let Some(rest) = auth.strip_prefix(sign::ACS3_ALGORITHM) {
            return verify_acs3(backend, nonces, req, rest.trim(), now);
        }
        return Err(ApiError::invalid(
            "Authorization",
            "only ACS3-HMAC-SHA256 and v1 HMAC-SHA1 signatures are accepted",
        ));
    }
    if req.param("Signature").is_some() {
        return verify_v1(backend, nonces, req, now);
    }
    Err(ApiError::missing("Signature"))
}

fn check_time(stamp: Option<&str>, now: i64) -> Result<i64, ApiError> {
    let ts = stamp
        .and_then(parse_iso)
        .ok_or(ApiError::IllegalTimestamp)?;
    if (ts - now).abs() > SKEW_MS {
        return Err(ApiError::InvalidTimeStampExpired);
    }
    Ok(ts)
}

fn verify_acs3(
    backend: &Backend,
    nonces: &NonceCache,
    req: &SignedRequest,
    fields: &str,
    now: i64,
) -> Result<Caller, ApiError> {
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in fields.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(ak), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature)
    else {
        return Err(ApiError::invalid(
            "Authorization",
            "needs Credential, SignedHeaders and Signature",
        ));
    };
    let (account_id, secret) = backend.access_key(ak)?;
    // The date and nonce protect against replay only if the signature covers them.
    for required in [
        "host",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-action",
        "x-acs-version",
    ] {
        if !signed_headers
            .split(';')
            .any(|h| h.eq_ignore_ascii_case(required))
        {
            return Err(ApiError::invalid(
                "SignedHeaders",
                format!("must include {required}"),
            ));
        }
    }
    let stamped = check_time(req.header("x-acs-date"), now)?;
    let payload = req
        .header("x-acs-content-sha256")
        .unwrap_or(sign::EMPTY_SHA256);
    let body_matches = if req.body.is_empty() {
        payload == sign::EMPTY_SHA256
    } else {
        payload == sign::sha256_hex(req.body)
    };
    if !body_matches {
        return Err(ApiError::invalid(
            "x-acs-content-sha256",
            "does not match the SHA-256 of the request body",
        ));
    }
    let (_, sts) = sign::acs3_string_to_sign(
        req.method,
        req.path,
        req.query,
        req.headers,
        signed_headers,
        payload,
    );
    if !sign::same(&sign::acs3_signature(&secret, &sts), signature) {
        return Err(ApiError::SignatureDoesNotMatch {
            string_to_sign: sts,
        });
    }
    let nonce = req
        .header("x-acs-signature-nonce")
        .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?;
    nonces.check_and_record(nonce, stamped, now)?;
    Ok(Caller { account_id })
}

fn verify_v1(
    backend: &Backend,
    nonces: &NonceCache,
    req: &SignedRequest,
    now: i64,
) -> Result<Caller, ApiError> {
    let ak = req
        .param("AccessKeyId")
        .ok_or_else(|| ApiError::missing("AccessKeyId"))?;
    let (account_id, secret) = backend.access_key(ak)?;
    if let Some(m) = req.param("SignatureMethod") {
        if m != "HMAC-SHA1" {
            return Err(ApiError::invalid(
                "SignatureMethod",
                format!("{m}: only HMAC-SHA1 is accepted"),
            ));
        }
    }
    let stamped = check_time(req.param("Timestamp"), now)?;
    let all: Vec<(String, String)> = req.query.iter().chain(req.form.iter()).cloned().collect();
    let sts = sign::v1_string_to_sign(req.method, &all);
    let given = req.param("Signature").unwrap_or_default();
    if !sign::same(&sign::v1_signature(&secret, &sts), given) {
        return Err(ApiError::SignatureDoesNotMatch {
            string_to_sign: sts,
        });
    }
    let nonce = req
        .param("SignatureNonce")
        .ok_or_else(|| ApiError::missing("SignatureNonce"))?;
    nonces.check_and_record(nonce, stamped, now)?;
    Ok(Caller { account_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_nonce_is_refused() {
        let c = NonceCache::new(10);
        c.check_and_record("n1", 1_000_000, 1_000_000).unwrap();
        assert_eq!(
            c.check_and_record("n1", 1_000_000, 1_000_001).unwrap_err(),
            ApiError::SignatureNonceUsed
        );
    }

    #[test]
    fn request_older_than_oldest_remembered_nonce_is_refused_when_full() {
        let c = NonceCache::new(2);
        c.check_and_record("a", 1_000, 1_000).unwrap();
        c.check_and_record("b", 2_000, 2_000).unwrap();
        c.check_and_record("c", 3_000, 3_000).unwrap(); // evicts "a", floor = 1000
        c.check_and_record("d", 4_000, 4_000).unwrap(); // evicts "b", floor = 2000
        assert_eq!(
            c.check_and_record("a", 1_000, 4_001).unwrap_err(),
            ApiError::InvalidTimeStampExpired
        );
    }
}
