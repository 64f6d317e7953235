//! Pure rules and state machines of the seed (S01–S52). No I/O, no wall clock: the backend passes
//! the simulated time, the world's facts and random draws in.

pub mod connect;
pub mod external;
pub mod hsm;
pub mod instance;
pub mod keys;
pub mod purchase;
pub mod secrets;
pub mod throttle;

pub use instance::*;
