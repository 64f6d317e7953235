//! Acceptance tests: the real terraform CLI against an in-process mockcloud. Run them with
//! `cargo xtask test`, which builds the provider and points the harness at it.

mod data_sources;
mod examples;
mod external;
mod hsm;
mod instance;
mod instance_access;
mod instance_failures;
mod key_secret;
