//! Component tests: the built `.wasm` files under the wasmtime host, with
//! real SQLite files behind the Spin interfaces. One module per area.

mod account;
mod admin;
mod audit;
mod auth;
mod cache;
mod cors;
mod email_change;
mod health;
mod host_interfaces;
mod idempotency;
mod jobs;
mod limits;
mod metrics;
mod mfa;
mod openapi;
mod passkeys;
mod password_reset;
mod postgres_host;
mod races;
mod redis_cache;
mod redis_host;
mod routing;
mod serve;
mod session_list;
mod sessions;
mod standard;
mod users;
mod verification;
