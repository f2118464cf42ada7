//! A Wasmtime host that runs spin-users' components the way Spin's HTTP
//! trigger does, so the app can be tested and served where no `spin` binary
//! exists: it reads `spin.toml` and `runtime-config.toml`, routes with Spin's
//! rules, sets Spin's request headers, instantiates a fresh component per
//! request from a pooling allocator, and implements the Spin interfaces in
//! `wit/host.wit` (key-value, SQLite, variables over real SQLite files;
//! key-value on Redis; PostgreSQL over a real server), plus `wasi:http`
//! outbound requests, both limited to `allowed_outbound_hosts`.
//!
//! It also runs Redis triggers (`fermyon:spin/inbound-redis`) and
//! implements outbound Redis. It does not implement Spin's other triggers, libSQL or cloud store
//! backends, service chaining, or component dependencies: apps that need
//! those run under `spin up`.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod app;
mod key_value;
mod manifest;
mod outbound;
mod outbound_redis;
mod postgres;
mod redis_trigger;
mod routes;
mod runtime_config;
mod server;
mod state;
mod stores;
mod variables;

pub use app::{App, AppOptions, DEFAULT_MAX_INSTANCES, engine, full_body};
pub use manifest::Manifest;
pub use redis_trigger::run_redis_triggers;
pub use routes::{RouteMatch, Router};
pub use server::serve;
pub use wasmtime::Engine;
pub use wasmtime_wasi_http::p2::body::{
    HyperIncomingBody as IncomingBody, HyperOutgoingBody as OutgoingBody,
};
