//! XKI: the external key management path (S40–S45). The mock cloud keeps no key material for an
//! external instance; it calls a key management proxy in front of the customer's HSM.
//!
//! - [`protocol`]: the cloud-to-proxy wire protocol (our own, signed like ACS3), fingerprints and
//!   the vendor rule (S40).
//! - [`client`]: [`XkiClient`], the one outbound HTTP client of the mock cloud: synchronous,
//!   certificate-pinned, with a hard time limit per call.
//! - [`proxy`]: an emulator of the proxy ([`start_proxy`]), run in-process by tests and by
//!   `mockcloud xki-proxy`.

pub mod client;
pub mod protocol;
pub mod proxy;

pub use client::{ProxyInfo, ProxyTarget, XkiClient, XkiError};
pub use protocol::{fingerprint_of_der, normalise_fingerprint, vendor_is_supported};
pub use proxy::{
    start_proxy, ProxyConfig, RunningProxy, DEFAULT_PROXY_ACCESS_KEY_ID,
    DEFAULT_PROXY_ACCESS_KEY_SECRET, DEFAULT_PROXY_DOMAIN, DEFAULT_PROXY_LISTEN,
    DEFAULT_PROXY_PATH, DEFAULT_PROXY_VENDOR,
};
