//! mockcloud: an emulator of Alibaba Cloud KMS instances that speaks the real OpenAPI protocol.
//!
//! Module map (see ARCHITECTURE.md for the invariants):
//! - [`server`]: starts the listener (TLS by default) and serves [`api`]; used by the binary and
//!   in-process by tests.
//! - [`api`]: the wire layer (the only code that knows HTTP and JSON): signature verification,
//!   parameter decoding, one handler per action, the `/_mock/` admin surface.
//! - [`backend`]: one method per action; the only writer of the store.
//! - [`domain`]: the seed's rules and state machines; pure, no I/O, no wall clock.
//! - [`store`]: the only code that knows sled. [`crypto`]: sealing secrets at rest and the data
//!   plane's cryptography (ciphertext blob, encryption context, AES-256-GCM, ECDSA P-256).
//! - [`pki`]: HSM cluster certificates (cluster CA, server and client certificates, PKCS#12) and
//!   the checks on uploaded ones.
//! - [`sign`]: the signature algorithms. [`clock`]: the simulated clock. [`world`]: the world file.
//! - [`error`]: the one enum of wire error codes. [`testing`]: a signing client for tests.
//! - [`xki`]: external key management (S40–S45): the cloud-to-proxy protocol, the pinned outbound
//!   client, and an emulator of the proxy.

pub mod api;
pub mod backend;
pub mod clock;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod pki;
pub mod server;
pub mod sign;
pub mod store;
pub mod testing;
pub mod tls;
pub mod world;
pub mod xki;

pub use server::{start, RunningServer, ServerConfig};
