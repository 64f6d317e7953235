//! One file per resource: its state, schema, plan rules, CRUD and import.

pub mod enable;
pub mod external_proxy;
pub mod hsm_binding;
pub mod instance;
pub mod key;
pub mod secret;
