//! SQL storage for spin-users: implements the domain's repository traits
//! over one small [`Connection`] abstraction, with Spin's SQLite and
//! PostgreSQL interfaces as the two backends, and versioned migrations that
//! run the first time a request finds the schema missing.
//!
//! Queries are written once with `$1`-style placeholders and only the types
//! both databases share (TEXT, BIGINT); DDL is per dialect. It holds no
//! business rules: those are in `spin-users-domain`.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod audit;
mod counters;
mod export;
mod factors;
mod housekeeping;
mod idempotency;
mod jobs;
mod metrics;
mod migrations;
mod one_row;
mod one_time;
mod passkeys;
mod sessions;
mod spin;
mod sql;
mod users;

pub use audit::SqlAudit;
pub use counters::SqlCounters;
pub use export::SqlPersonalData;
pub use factors::SqlSecondFactors;
pub use housekeeping::SqlHousekeeping;
pub use idempotency::SqlIdempotency;
pub use jobs::SqlJobs;
pub use metrics::SqlMetrics;
pub use migrations::{MIGRATIONS, migrate, with_schema};
pub use one_time::SqlOneTimeTokens;
pub use passkeys::SqlPasskeys;
pub use sessions::SqlSessions;
pub use spin::{SpinPostgres, SpinSqlite, open, opened_a_connection};
pub use sql::{Connection, DbError, Dialect, Rows, Value};
pub use users::SqlUsers;

#[cfg(test)]
mod native;
#[cfg(test)]
mod native_postgres;
