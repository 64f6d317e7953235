//! terraform-provider-kms: the `mockcloud/kms` Terraform provider for Alibaba Cloud KMS instances.
//!
//! Module map (see ARCHITECTURE.md for the invariants):
//! - [`provider`]: the provider block and the shared cell that hands the client to resources.
//! - [`client`]: the only code that knows HTTP: ACS3 signing, retries, typed errors and calls.
//! - [`resources`]: one file per resource (state, schema, plan rules, CRUD, import).
//! - [`data_sources`]: one file per data source (`kms_instance`, `kms_instances`, `kms_zones`).
//! - [`plan`]: replace triggers, defaults and unknowns. [`wait`]: polling with backoff.
//! - [`schema`]: helpers to declare attributes. [`docs`]: renders `docs/` from the schema.

pub mod client;
pub mod data_sources;
pub mod docs;
pub mod plan;
pub mod provider;
pub mod resources;
pub mod schema;
pub mod wait;
