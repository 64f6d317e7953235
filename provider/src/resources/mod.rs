//! One file per resource: its state, schema, plan rules, CRUD and import.

pub mod instance;
pub mod key;
pub mod secret;
