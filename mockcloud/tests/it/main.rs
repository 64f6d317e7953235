//! mockcloud integration tests: the in-process server over real HTTPS on port 0, one temporary
//! data directory per test, the simulated clock moved with `/_mock/clock/advance`.

mod crypto;
mod enablement;
mod external;
mod harness;
mod hsm;
mod instances;
mod keys;
mod lookups;
mod persistence;
mod protocol;
mod purchase;
mod rules;
mod sdk;
mod secrets;
mod throttling;
mod xki_proxy;
