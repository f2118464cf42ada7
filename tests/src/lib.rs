//! Test harness: loads an app's built components into the wasmtime host with
//! a fresh, private set of SQLite files per test, and sends it requests.
//!
//! With `SPIN_USERS_TEST_SERVER=spin` the same tests run against a real
//! `spin up` instead (one process per test, over HTTP on a loopback port,
//! with the test's temporary runtime config); any program that takes
//! `spin up`'s arguments works, such as `spin-users-host`.
//!
//! The `.wasm` files must already be built (`make test` builds them).

mod cluster;
mod process;
mod receiver;
pub mod totp;

pub use cluster::{Cluster, process_program};
pub use process::ServerProcess;
pub use receiver::{Delivery, WebhookReceiver};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use spin_users_host::{App, AppOptions, Engine, engine, full_body};

/// The workspace root (where `spin.toml` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// One engine for the whole test binary: the pooling allocator reserves
/// address space per engine, and compiled components are shared through it.
pub fn shared_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| engine(256).expect("engine builds"))
}

/// Where the test binary keeps compiled components between runs.
fn compile_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("component-cache")
}

/// The runtime config every test gets unless it supplies one: both default
/// labels as files in the test's own directory.
pub const ISOLATED_RUNTIME_CONFIG: &str = r#"
[key_value_store.default]
type = "spin"
path = "kv.db"

[sqlite_database.default]
type = "spin"
path = "sqlite.db"
"#;

/// The Redis server in `SPIN_USERS_TEST_REDIS_URL` (scripts/redis.sh prints
/// it), if the run uses one.
pub fn redis_url() -> Option<String> {
    std::env::var("SPIN_USERS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The `IP:port` of a `redis://[credentials@]IP:port[/db]` URL: what
/// `cache_redis_host` (the allow-list entry) holds for `cache_redis_url`.
pub fn redis_host_port(url: &str) -> String {
    url.strip_prefix("redis://")
        .and_then(|rest| rest.split('/').next())
        .map(|authority| authority.rsplit_once('@').map_or(authority, |(_, h)| h))
        .unwrap_or_else(|| panic!("{url:?} is not redis://IP:port"))
        .to_owned()
}

/// Whether the service keeps its key-value store on that Redis, as in
/// production (`deploy/runtime-config.production.toml`):
/// `SPIN_USERS_TEST_KV=redis`; otherwise (`spin`, or unset) the embedded
/// store.
pub fn service_kv_on_redis() -> bool {
    match std::env::var("SPIN_USERS_TEST_KV").as_deref() {
        Ok("redis") => true,
        Ok("spin") | Err(_) => false,
        Ok(other) => panic!("SPIN_USERS_TEST_KV={other:?}: use spin or redis"),
    }
}

/// The service's runtime config: the isolated files, or its key-value store
/// on Redis (see [`service_kv_on_redis`]). Keys are user ids and the like,
/// unique per test, so tests can share the server.
fn service_runtime_config(kv_file: &Path, sqlite_file: &Path) -> String {
    let key_value = if service_kv_on_redis() {
        let url = redis_url().expect("SPIN_USERS_TEST_KV=redis needs SPIN_USERS_TEST_REDIS_URL");
        format!("type = \"redis\"\nurl = {url:?}")
    } else {
        format!("type = \"spin\"\npath = {kv_file:?}")
    };
    format!(
        "[key_value_store.default]\n{key_value}\n\
         [sqlite_database.default]\ntype = \"spin\"\npath = {sqlite_file:?}\n"
    )
}

/// Builds a [`TestApp`].
pub struct TestAppBuilder {
    manifest: PathBuf,
    runtime_config: String,
    environment: HashMap<String, String>,
    /// `spin up --variable` sources, in order.
    variables: Vec<String>,
    /// The app reads `database_url`, so it follows the selected backend.
    uses_database_url: bool,
    /// The SQLite file of another app whose data this one uses.
    shared_sqlite: Option<PathBuf>,
}

/// Which database the service's tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite database (default).
    Sqlite,
    /// PostgreSQL, at the admin URL in `SPIN_USERS_TEST_PG_URL`.
    Postgres,
}

/// The backend chosen by `SPIN_USERS_TEST_BACKEND` (`sqlite` or `postgres`).
pub fn backend() -> Backend {
    match std::env::var("SPIN_USERS_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("SPIN_USERS_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// The repository's `spin.toml` with absolute component paths and the
/// probe component routed at `/pg/...`, written once per test process.
fn service_with_probe_manifest() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = workspace_root();
        let release = root.join("target/wasm32-wasip2/release");
        let service = std::fs::read_to_string(root.join("spin.toml")).expect("read spin.toml");
        let manifest = format!(
            "{}\n[[trigger.http]]\nroute = \"/pg/...\"\ncomponent = \"probe\"\n\n\
             [component.probe]\nsource = {:?}\n\
             allowed_outbound_hosts = [\"postgres://{{{{ database_host }}}}\"]\n\
             [component.probe.variables]\ndatabase_url = \"{{{{ database_url }}}}\"\n",
            service.replace(
                "source = \"target/wasm32-wasip2/release/",
                &format!("source = \"{}/", release.display())
            ),
            release.join("spin_users_probe.wasm"),
        );
        let dir = root.join("target/test-manifests");
        std::fs::create_dir_all(&dir).expect("manifest directory");
        let path = dir.join("spin-users-with-probe.toml");
        let tmp = dir.join(format!("spin-users-with-probe.{}.tmp", std::process::id()));
        std::fs::write(&tmp, manifest).expect("write manifest");
        std::fs::rename(&tmp, &path).expect("move manifest into place");
        path
    })
    .clone()
}

/// Prefix of the throw-away databases tests create (scripts/postgres.sh
/// drops leftovers).
pub const TEST_DATABASE_PREFIX: &str = "sut_";

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_postgres_database() -> Result<String> {
    let admin = std::env::var("SPIN_USERS_TEST_PG_URL").context(
        "SPIN_USERS_TEST_PG_URL is not set: run the PostgreSQL suite through `make test` (scripts/postgres.sh prints the URL)",
    )?;
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .context("connecting to the test PostgreSQL server")?;
    tokio::spawn(connection);
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random database name: {e}"))?;
    let name = format!(
        "{TEST_DATABASE_PREFIX}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .context("creating the test database")?;
    with_database(&admin, &name)
}

/// `url` with its database replaced by `name`, keeping its parameters
/// (`?sslmode=disable`).
fn with_database(url: &str, name: &str) -> Result<String> {
    let (address, parameters) = match url.split_once('?') {
        Some((address, parameters)) => (address, format!("?{parameters}")),
        None => (url, String::new()),
    };
    let (base, _) = address
        .rsplit_once('/')
        .context("SPIN_USERS_TEST_PG_URL must end with /<database>")?;
    Ok(format!("{base}/{name}{parameters}"))
}

impl TestAppBuilder {
    /// Adds a `spin up --variable` source (`key=value`, `key=@file`,
    /// `@file.toml`, `@file.json`), paths absolute.
    pub fn variable(mut self, source: &str) -> Self {
        self.variables.push(source.to_owned());
        self
    }

    /// Replaces the runtime config text (paths resolve in the test's directory).
    pub fn runtime_config(mut self, text: &str) -> Self {
        self.runtime_config = text.to_owned();
        self
    }

    /// Sets a provider environment variable, e.g. `SPIN_VARIABLE_API_KEY`.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.environment.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Keeps the user cache on the Redis at `url` (`redis://IP:port`)
    /// through the components' own client, as in production
    /// (`cache_redis_url`, and `cache_redis_host` for the allow-list).
    pub fn cache_on_redis(self, url: &str) -> Self {
        self.env("SPIN_VARIABLE_CACHE_REDIS_URL", url)
            .env("SPIN_VARIABLE_CACHE_REDIS_HOST", &redis_host_port(url))
    }

    /// Keeps the user cache in the runtime config's key-value store
    /// `default`, even when the run puts it on Redis through
    /// `cache_redis_url` (`SPIN_USERS_TEST_KV=redis`): for tests of that
    /// store itself.
    pub fn cache_in_key_value_store(self) -> Self {
        self.without_env("SPIN_VARIABLE_CACHE_REDIS_URL")
    }

    /// Removes a provider environment variable set by the preset.
    pub fn without_env(mut self, name: &str) -> Self {
        self.environment.remove(name);
        self
    }

    /// Uses the data of a running app (its SQLite files and PostgreSQL
    /// database), like a redeploy with other variables.
    pub fn sharing_data_with(mut self, other: &TestApp) -> Self {
        self.runtime_config =
            service_runtime_config(&other.dir.path().join("kv.db"), &other.sqlite_path);
        self.shared_sqlite = Some(other.sqlite_path.clone());
        if let Some(url) = &other.database_url {
            self.environment
                .insert("SPIN_VARIABLE_DATABASE_URL".into(), url.clone());
        }
        self
    }

    /// Uses another manifest (e.g. a modified copy in a temporary directory).
    pub fn manifest(mut self, path: &Path) -> Self {
        self.manifest = path.to_owned();
        self
    }

    /// Loads the app; errors are what `spin up` would refuse to start with.
    pub async fn try_start(mut self) -> Result<TestApp> {
        let needs_database = self.uses_database_url
            && backend() == Backend::Postgres
            && !self.environment.contains_key("SPIN_VARIABLE_DATABASE_URL");
        if needs_database {
            let url = fresh_postgres_database().await?;
            self.environment
                .insert("SPIN_VARIABLE_DATABASE_URL".into(), url);
        }
        let dir = tempfile::tempdir()?;
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, &self.runtime_config)?;
        let options = AppOptions {
            manifest: self.manifest,
            runtime_config: Some(runtime_config.clone()),
            environment: self.environment,
            variables: self.variables,
            compile_cache: Some(compile_cache()),
            // Components log every refused token and internal error; set
            // TEST_LOG to see them (a server process logs to its server.log).
            guest_output: std::env::var_os("TEST_LOG").is_some(),
        };
        let database_url = options
            .environment
            .get("SPIN_VARIABLE_DATABASE_URL")
            .cloned();
        let runtime = match server_program() {
            Some(program) => Runtime::Process(
                ServerProcess::start(
                    &program,
                    &options.manifest,
                    &runtime_config,
                    dir.path(),
                    &options.environment,
                    &options.variables,
                )
                .await?,
            ),
            None => Runtime::Host(Arc::new(App::load(shared_engine(), &options)?)),
        };
        let sqlite_path = self
            .shared_sqlite
            .unwrap_or_else(|| dir.path().join("sqlite.db"));
        Ok(TestApp {
            runtime,
            dir,
            database_url,
            sqlite_path,
        })
    }

    /// Loads the app, panicking with the reason if it cannot start.
    pub async fn start(self) -> TestApp {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("app failed to start: {e:#}"))
    }
}

/// The program `SPIN_USERS_TEST_SERVER` names, run as `<program> up …`;
/// `None` (unset) runs the app in this process's host.
pub fn server_program() -> Option<String> {
    std::env::var("SPIN_USERS_TEST_SERVER")
        .ok()
        .filter(|p| !p.is_empty())
}

/// What serves a test's requests.
enum Runtime {
    /// The bundled host, in this process.
    Host(Arc<App>),
    /// `spin up` (or a stand-in) in its own process group.
    Process(ServerProcess),
}

/// A running app and the directory holding its data.
pub struct TestApp {
    runtime: Runtime,
    /// Private data directory; removed when the test ends.
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database, when the app uses one.
    pub database_url: Option<String>,
    /// The `default` SQLite database file.
    pub sqlite_path: PathBuf,
}

/// A signing key for tests only (base64 of bytes 0..32).
pub const TEST_SIGNING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The second-factor key of [`TestApp::spin_users`] (32 bytes, base64).
pub const TEST_MFA_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The password the bootstrap administrator of the tests chooses at its
/// first login ([`TestApp::bootstrap_admin`]).
pub const CHOSEN_ADMIN_PASSWORD: &str = "chosen admin password";

/// Another test-only key, for rotation tests (base64 of bytes 32..64).
pub const OTHER_SIGNING_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The client address tests appear to come from.
pub const CLIENT_ADDR: &str = "127.0.0.1:40000";

fn client_addr() -> SocketAddr {
    CLIENT_ADDR.parse().expect("valid address")
}

impl TestApp {
    /// The service itself: the repository's `spin.toml`, with a test
    /// signing key and cheap argon2 parameters (the hashing logic is the same;
    /// [`TestApp::spin_users_owasp`] keeps the production cost).
    pub fn spin_users() -> TestAppBuilder {
        Self::spin_users_owasp()
            .env("SPIN_VARIABLE_ARGON2_MEMORY_KIB", "256")
            .env("SPIN_VARIABLE_ARGON2_ITERATIONS", "1")
    }

    /// The service with the production (OWASP) argon2 parameters.
    pub fn spin_users_owasp() -> TestAppBuilder {
        // Every test request comes from one address: limits high enough not
        // to interfere; tests/api/limits.rs sets low ones.
        let mut builder = Self::builder(workspace_root().join("spin.toml"))
            .runtime_config(&service_runtime_config(
                Path::new("kv.db"),
                Path::new("sqlite.db"),
            ))
            .env("SPIN_VARIABLE_SIGNING_KEY", TEST_SIGNING_KEY)
            .env("SPIN_VARIABLE_MFA_ENCRYPTION_KEY", TEST_MFA_KEY)
            .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_IP", "100000/60")
            .env("SPIN_VARIABLE_LOGIN_LIMIT_PER_ACCOUNT", "100000/60")
            .env("SPIN_VARIABLE_LOGIN_CEILING_PER_ACCOUNT", "100000/60")
            .env("SPIN_VARIABLE_REGISTER_LIMIT_PER_IP", "100000/60");
        if service_kv_on_redis() {
            let url =
                redis_url().expect("SPIN_USERS_TEST_KV=redis needs SPIN_USERS_TEST_REDIS_URL");
            builder = builder.cache_on_redis(&url);
        }
        builder.uses_database_url = true;
        builder
    }

    /// The service with the probe component added at `/pg/...`, sharing
    /// the service's `database_url` and so, as in Spin, its PostgreSQL
    /// connection pool: the probe can leave a pooled connection in a state
    /// the service's components then receive.
    pub fn spin_users_with_probe() -> TestAppBuilder {
        let mut builder = Self::spin_users();
        builder.manifest = service_with_probe_manifest();
        builder
    }

    /// The probe fixture app (`tests/fixtures/probe/spin.toml`); its required
    /// `api_key` variable is set to `test-key`.
    pub fn probe() -> TestAppBuilder {
        Self::builder(workspace_root().join("tests/fixtures/probe/spin.toml"))
            .env("SPIN_VARIABLE_API_KEY", "test-key")
    }

    fn builder(manifest: PathBuf) -> TestAppBuilder {
        TestAppBuilder {
            manifest,
            runtime_config: ISOLATED_RUNTIME_CONFIG.to_owned(),
            environment: HashMap::new(),
            variables: Vec::new(),
            uses_database_url: false,
            shared_sqlite: None,
        }
    }

    /// The in-process host, for tests of the host itself (its `serve`
    /// loop, its memory counters). Such tests cannot run against another
    /// server; `make test` skips them by name when it uses one.
    pub fn host(&self) -> &Arc<App> {
        match &self.runtime {
            Runtime::Host(app) => app,
            Runtime::Process(_) => panic!(
                "this test inspects the bundled host and cannot run with SPIN_USERS_TEST_SERVER"
            ),
        }
    }

    /// An address where the app answers real HTTP/1.1 over TCP: the
    /// server process's, or a `serve` loop started on the in-process host
    /// (it runs until the test's runtime ends).
    pub async fn tcp_address(&self) -> SocketAddr {
        match &self.runtime {
            Runtime::Process(server) => server.addr,
            Runtime::Host(app) => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                let addr = listener.local_addr().expect("local address");
                tokio::spawn(spin_users_host::serve(
                    app.clone(),
                    listener,
                    std::future::pending(),
                ));
                addr
            }
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    /// Sends one request and collects the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let from = client_addr().ip();
        self.request_from(from, method, path, headers, body).await
    }

    /// [`TestApp::request`] from the client address `from` (a loopback
    /// address, so a server process can be reached from it too).
    pub async fn request_from(
        &self,
        from: IpAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let app = match &self.runtime {
            Runtime::Host(app) => app,
            Runtime::Process(server) => {
                let (status, headers, body) = server
                    .send(from, method, path, headers, body.into())
                    .await
                    .unwrap_or_else(|e| panic!("server failed on {path}: {e:#}"));
                return TestResponse {
                    status,
                    headers,
                    body,
                };
            }
        };
        let req = request_head(method, path, headers)
            .body(full_body(body))
            .expect("valid request");
        let addr = SocketAddr::new(from, client_addr().port());
        let resp = app
            .handle(req, addr)
            .await
            .unwrap_or_else(|e| panic!("host failed on {path}: {e:#}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_else(|e| panic!("reading body of {path}: {e:?}"));
        TestResponse {
            status,
            headers,
            body,
        }
    }
}

impl TestApp {
    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> TestResponse {
        self.request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// `method path` with a bearer token and a JSON body.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.request(
            method,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
    }

    /// Starts the service with an administrator configured and returns
    /// the app and the administrator's access token.
    pub async fn with_admin() -> (TestApp, String) {
        let app = Self::spin_users()
            .env("SPIN_VARIABLE_ADMIN_EMAIL", "root@example.com")
            .env("SPIN_VARIABLE_ADMIN_PASSWORD", "admin password")
            .start()
            .await;
        let token = app
            .bootstrap_admin("root@example.com", "admin password")
            .await;
        (app, token)
    }

    /// The first login of the bootstrap administrator: with the configured
    /// password, then choosing [`CHOSEN_ADMIN_PASSWORD`] as that account
    /// must before anything else. The token (its session survives the
    /// change).
    pub async fn bootstrap_admin(&self, email: &str, configured: &str) -> String {
        let token = self.access_token(email, configured).await;
        let body = serde_json::json!({
            "password": CHOSEN_ADMIN_PASSWORD,
            "current_password": configured,
        });
        let chosen = self
            .send_json(Method::PATCH, "/users/me", &token, &body)
            .await;
        assert_eq!(chosen.status, 200, "choosing a password: {}", chosen.text());
        token
    }

    /// `GET path` with a bearer token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.request(Method::GET, path, &[("authorization", &auth)], Bytes::new())
            .await
    }

    /// Registers an account; panics unless it is created.
    pub async fn register(&self, name: &str, email: &str, password: &str) -> serde_json::Value {
        let resp = self
            .post_json(
                "/users",
                &serde_json::json!({"name": name, "email": email, "password": password}),
            )
            .await;
        assert_eq!(resp.status, 201, "registration failed: {}", resp.text());
        resp.json()
    }

    /// `POST /token` with the password grant as a form.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.login_from(client_addr().ip(), email, password).await
    }

    /// `POST /token` with the refresh-token grant.
    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        let body = format!(
            "grant_type=refresh_token&refresh_token={}",
            urlencode(refresh_token)
        );
        self.request(
            Method::POST,
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
    }

    /// [`TestApp::login`] from the client address `from`.
    pub async fn login_from(&self, from: IpAddr, email: &str, password: &str) -> TestResponse {
        let body = format!(
            "grant_type=password&username={}&password={}",
            urlencode(email),
            urlencode(password)
        );
        self.request_from(
            from,
            Method::POST,
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
    }

    /// Logs in and returns the access token; panics on failure.
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let resp = self.login(email, password).await;
        assert_eq!(resp.status, 200, "login failed: {}", resp.text());
        resp.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl TestApp {
    /// Runs a statement against the app's database, whichever backend it
    /// uses, returning every column as text (NULL as `None`). Tests use it to
    /// inspect stored rows and to move stored times into the past.
    pub async fn query_db(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.database_url {
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test database");
                tokio::spawn(conn);
                let rows = client.simple_query(sql).await.expect("query");
                rows.iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
            None => {
                let db = rusqlite::Connection::open(&self.sqlite_path)
                    .expect("open the test SQLite database");
                let mut stmt = db.prepare(sql).expect("prepare");
                let width = stmt.column_count();
                stmt.query_map([], |row| {
                    (0..width)
                        .map(|i| {
                            Ok(match row.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Null => None,
                                rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                                rusqlite::types::Value::Text(t) => Some(t),
                                other => Some(format!("{other:?}")),
                            })
                        })
                        .collect()
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
            }
        }
    }
}

/// A request's method, path and headers, with the `host` every test
/// request carries (so `spin-full-url` is the same in-process and over TCP).
fn request_head(method: Method, path: &str, headers: &[(&str, &str)]) -> http::request::Builder {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:3000");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
}

/// Percent-encodes a form value.
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A collected response.
#[derive(Debug)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("UTF-8 body")
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with `status` and stable `code`.
    pub fn assert_problem(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type"
        );
        let body = self.json();
        assert_eq!(body["status"], status, "problem status member");
        assert_eq!(body["code"], code, "problem code");
        assert_eq!(
            body["type"],
            format!("urn:spin-users:problem:{code}"),
            "problem type"
        );
        assert!(body["title"].is_string(), "problem title");
        body
    }
}

/// Runs `request(app, i)` for every `i` in `0..n`, each on its own task so
/// they reach the app at once; returns the results in order of `i`.
pub async fn concurrently<T, F, Fut>(app: &Arc<TestApp>, n: usize, request: F) -> Vec<T>
where
    F: Fn(Arc<TestApp>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(request(app.clone(), i)))
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("concurrent request task"));
    }
    results
}

/// Context for loading errors in tests that expect failures.
pub async fn start_error(builder: TestAppBuilder) -> String {
    match builder.try_start().await.context("starting") {
        Ok(_) => panic!("the app started but should have been refused"),
        Err(e) => format!("{e:#}"),
    }
}
