//! One file per resource: its state, schema, plan rules, CRUD and import.

pub mod instance;
