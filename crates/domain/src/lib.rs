//! Domain logic of spin-users: the rules of the service, independent of how
//! requests arrive or where data is stored.
//!
//! It has no Spin, WASI or HTTP types and does no I/O: components adapt HTTP
//! to it and storage adapters implement its traits, so everything here is
//! unit-tested natively with `cargo test`.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod health;
mod service;

pub use health::{Check, CheckStatus, Readiness};
pub use service::ServiceInfo;
