//! Acceptance tests: the real terraform CLI against an in-process mockcloud. Run them with
//! `cargo xtask test`, which builds the provider and points the harness at it.

mod examples;
mod instance;
