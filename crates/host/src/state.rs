//! Per-request store state and the Spin host interfaces (`wit/host.wit`)
//! implemented on it. Every call checks the component's declarations first,
//! as Spin does: a store or database the component did not declare is
//! `access-denied`, whether or not it exists.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{
    HttpResult, WasiHttpCtxView, WasiHttpHooks, WasiHttpView, default_send_request,
};

use crate::key_value::{KeyValueBackend, KeyValueStore};
use crate::outbound::{OutboundPolicy, default_port};
use crate::postgres::{PgConnection, PgPools};
use crate::runtime_config::Location;
use crate::stores::open_sqlite;
use crate::variables::{VariableError, Variables};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "spin-users:host/spin-imports",
    with: {
        "fermyon:spin/key-value.store": crate::key_value::KeyValueStore,
        "fermyon:spin/sqlite.connection": crate::state::SqliteConnection,
        "fermyon:spin/postgres.connection": crate::postgres::PgConnection,
        "fermyon:spin/redis.connection": crate::outbound_redis::RedisConnection,
    },
    // PostgreSQL calls await the network; the others are quick local calls
    // but share the async calling convention.
    imports: { default: async },
});

use fermyon::spin::{key_value, postgres, rdbms_types, sqlite, variables};

/// What one component may touch, fixed when the app loads.
#[derive(Debug)]
pub struct ComponentGrants {
    /// Component id, for variable lookups and logs.
    pub id: String,
    /// `key_value_stores` labels, with their backends.
    pub key_value_stores: BTreeMap<String, Arc<KeyValueBackend>>,
    /// `sqlite_databases` labels, with their locations.
    pub sqlite_databases: BTreeMap<String, Location>,
    /// `allowed_outbound_hosts`.
    pub outbound: OutboundPolicy,
    /// Resolved variables of the whole app.
    pub variables: Arc<Variables>,
    /// This component's PostgreSQL pools (one set per component, as in Spin).
    pub pg_pools: Arc<PgPools>,
}

/// The data of one request's `Store`.
/// A SQLite connection as Spin's in-process backend holds it: shared with
/// the blocking-pool task that runs each statement.
pub struct SqliteConnection(Arc<std::sync::Mutex<rusqlite::Connection>>);

/// Runs `f` the way Spin 4.0.2 runs key-value and variable calls:
/// `tokio::task::block_in_place`, which hands this worker's other tasks to
/// another thread. That hand-off is a cost Spin pays on every such call,
/// and it changes what runs in parallel with the guest (see `server.rs`),
/// so the host pays it too. It needs the multi-threaded runtime, as Spin's.
pub(crate) fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    limits: CountingLimits,
    pub(crate) outbound: OutboundHooks,
    pub(crate) grants: Arc<ComponentGrants>,
}

impl HostState {
    /// Fresh state for one request to the component `grants` describes;
    /// growths of its memory beyond the initial size are added to
    /// `memory_growths`.
    pub fn new(
        grants: Arc<ComponentGrants>,
        wasi: WasiCtx,
        limits: StoreLimits,
        memory_growths: Arc<AtomicU64>,
        first_check: Arc<FirstOutboundCheck>,
    ) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: CountingLimits {
                limits,
                memory_growths,
            },
            outbound: OutboundHooks {
                policy: grants.outbound.clone(),
                component: grants.id.clone(),
                first_check,
            },
            grants,
        }
    }

    /// The memory limiter Wasmtime consults on every growth.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }
}

/// `StoreLimits` that also count growths of a memory past its initial
/// size. Under the pooling allocator each one costs an `mprotect`, undone
/// with a TLB shootdown when the slot is reused, so a route that grows its
/// memory on every request is several times slower than one that does not.
struct CountingLimits {
    limits: StoreLimits,
    memory_growths: Arc<AtomicU64>,
}

impl ResourceLimiter for CountingLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Instantiation "grows" each memory from zero to its initial size.
        if current > 0 {
            self.memory_growths.fetch_add(1, Ordering::Relaxed);
        }
        self.limits.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Outbound HTTP, filtered by the component's `allowed_outbound_hosts`;
/// PostgreSQL and Redis connections are checked here too.
pub(crate) struct OutboundHooks {
    policy: OutboundPolicy,
    component: String,
    first_check: Arc<FirstOutboundCheck>,
}

/// What an instance's first outbound check costs under Spin 4.0.2: it
/// parses the allow-list and resolves every application variable to do
/// so (`resolver.prepare()` in `crates/factor-outbound-networking`), each
/// environment lookup a `block_in_place`. Shared by every check of one
/// instance: HTTP, PostgreSQL and Redis here, socket connects in the WASI
/// context's address check.
pub struct FirstOutboundCheck {
    variables: Arc<Variables>,
    paid: std::sync::atomic::AtomicBool,
}

impl FirstOutboundCheck {
    /// Unpaid, for a new instance.
    pub fn new(variables: Arc<Variables>) -> Self {
        Self {
            variables,
            paid: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Pays the cost if this instance has not yet.
    pub fn pay_once(&self) {
        if !self.paid.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.variables.resolve_all_with(|| block_in_place(|| ()));
        }
    }
}

impl OutboundHooks {
    /// Whether `scheme://host:port` is allowed. Spin 4.0.2 parses the
    /// allow-list on an instance's first outbound check (HTTP, PostgreSQL,
    /// Redis) and resolves every application variable to do so, each
    /// environment lookup a `block_in_place`: that instance pays it here.
    fn allows(&mut self, scheme: &str, host: &str, port: u16) -> bool {
        self.resolve_variables_once();
        self.policy.allows(scheme, host, port)
    }

    /// [`Self::allows`] for a connection URL.
    pub(crate) fn allows_url(&mut self, url: &str) -> bool {
        self.resolve_variables_once();
        self.policy.allows_url(url)
    }

    fn resolve_variables_once(&mut self) {
        self.first_check.pay_once();
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("http");
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().or_else(|| default_port(scheme)).unwrap_or(0);
        if !self.allows(scheme, host, port) {
            tracing::warn!(
                component = %self.component,
                "outbound request to {scheme}://{host}:{port} denied: not in allowed_outbound_hosts"
            );
            return Err(ErrorCode::HttpRequestDenied.into());
        }
        Ok(default_send_request(request, config))
    }
}

/// Adds the Spin interfaces of `wit/host.wit` to `linker`.
pub fn add_spin_to_linker(
    linker: &mut wasmtime::component::Linker<HostState>,
) -> wasmtime::Result<()> {
    SpinImports::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |state| state)
}

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Resource<KeyValueStore>, key_value::Error> {
        let backend = self
            .grants
            .key_value_stores
            .get(&label)
            .ok_or(key_value::Error::AccessDenied)?;
        let store = backend
            .open(&label)
            .await
            .map_err(key_value::Error::Other)?;
        self.table
            .push(store)
            .map_err(|_| key_value::Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        let store = self.kv(&store)?;
        store.get(&key).await.map_err(key_value::Error::Other)
    }

    async fn set(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        let store = self.kv(&store)?;
        store
            .set(&key, &value)
            .await
            .map_err(key_value::Error::Other)
    }

    async fn delete(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<(), key_value::Error> {
        let store = self.kv(&store)?;
        store.delete(&key).await.map_err(key_value::Error::Other)
    }

    async fn exists(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<bool, key_value::Error> {
        let store = self.kv(&store)?;
        store.exists(&key).await.map_err(key_value::Error::Other)
    }

    async fn get_keys(
        &mut self,
        store: Resource<KeyValueStore>,
    ) -> Result<Vec<String>, key_value::Error> {
        let store = self.kv(&store)?;
        store.keys().await.map_err(key_value::Error::Other)
    }

    async fn drop(&mut self, store: Resource<KeyValueStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl HostState {
    fn kv(&self, store: &Resource<KeyValueStore>) -> Result<&KeyValueStore, key_value::Error> {
        self.table
            .get(store)
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(
        &mut self,
        database: String,
    ) -> Result<Resource<SqliteConnection>, sqlite::Error> {
        let location = self
            .grants
            .sqlite_databases
            .get(&database)
            .ok_or(sqlite::Error::AccessDenied)?;
        let conn = open_sqlite(location).map_err(sqlite::Error::Io)?;
        self.table
            .push(SqliteConnection(Arc::new(std::sync::Mutex::new(conn))))
            .map_err(|_| sqlite::Error::Io("too many connections opened".into()))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> Result<sqlite::QueryResult, sqlite::Error> {
        let conn = self
            .table
            .get(&connection)
            .map_err(|_| sqlite::Error::InvalidConnection)?
            .0
            .clone();
        // Spin's in-process SQLite runs each statement on the blocking pool.
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            execute(&conn, &statement, parameters)
        })
        .await
        .map_err(|e| sqlite::Error::Io(format!("internal runtime error: {e}")))?
        .map_err(|e| sqlite::Error::Io(e.to_string()))
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl rdbms_types::Host for HostState {}
impl postgres::Host for HostState {}

impl postgres::HostConnection for HostState {
    async fn open(
        &mut self,
        address: String,
    ) -> Result<Resource<PgConnection>, rdbms_types::Error> {
        if !self.outbound.allows_url(&address) {
            return Err(rdbms_types::Error::ConnectionFailed(format!(
                "address {} is not permitted by allowed_outbound_hosts",
                redact_credentials(&address)
            )));
        }
        let conn = self.grants.pg_pools.connect(&address).await?;
        self.table
            .push(conn)
            .map_err(|e| rdbms_types::Error::Other(e.to_string()))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<rdbms_types::ParameterValue>,
    ) -> Result<rdbms_types::RowSet, rdbms_types::Error> {
        self.pg(&connection)?.query(&statement, params).await
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<rdbms_types::ParameterValue>,
    ) -> Result<u64, rdbms_types::Error> {
        self.pg(&connection)?.execute(&statement, params).await
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl HostState {
    fn pg(&self, connection: &Resource<PgConnection>) -> Result<&PgConnection, rdbms_types::Error> {
        self.table
            .get(connection)
            .map_err(|e| rdbms_types::Error::Other(e.to_string()))
    }
}

/// `postgres://user:secret@host/db` → `postgres://host/db`, for messages.
fn redact_credentials(address: &str) -> String {
    match (address.split_once("://"), address.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, rest))) => format!("{scheme}://{rest}"),
        _ => address.to_owned(),
    }
}

/// Runs one statement the way Spin's in-process SQLite does: prepared
/// (cached), parameters bound positionally, every row collected.
fn execute(
    conn: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<sqlite::Value>,
) -> rusqlite::Result<sqlite::QueryResult> {
    use rusqlite::types::{Value as Sql, ValueRef};
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params = parameters.into_iter().map(|p| match p {
        sqlite::Value::Integer(i) => Sql::Integer(i),
        sqlite::Value::Real(r) => Sql::Real(r),
        sqlite::Value::Text(t) => Sql::Text(t),
        sqlite::Value::Blob(b) => Sql::Blob(b),
        sqlite::Value::Null => Sql::Null,
    });
    let width = columns.len();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            let values = (0..width)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => sqlite::Value::Null,
                        ValueRef::Integer(i) => sqlite::Value::Integer(i),
                        ValueRef::Real(r) => sqlite::Value::Real(r),
                        ValueRef::Text(t) => {
                            sqlite::Value::Text(String::from_utf8_lossy(t).into_owned())
                        }
                        ValueRef::Blob(b) => sqlite::Value::Blob(b.to_vec()),
                    })
                })
                .collect::<rusqlite::Result<_>>()?;
            Ok(sqlite::RowResult { values })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(sqlite::QueryResult { columns, rows })
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        // Spin's environment provider answers each lookup through
        // `block_in_place`; a static provider's map read costs nothing.
        let variables = &self.grants.variables;
        variables
            .get_with(&self.grants.id, &name, || block_in_place(|| ()))
            .map_err(|e| match e {
                VariableError::InvalidName(msg) => variables::Error::InvalidName(msg),
                VariableError::Undefined(msg) => variables::Error::Undefined(msg),
            })
    }
}
