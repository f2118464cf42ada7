//! `make bench`: one run, one server, comparable figures.
//!
//! Serves the app (the repository's `spin.toml`) from a server process of
//! its own on a loopback port, as `spin up` serves it (the native-release
//! host under `make bench`; `SPIN_USERS_TEST_SERVER=spin` for Spin itself),
//! then drives it with keep-alive HTTP/1.1 connections
//! and prints requests/s and p50/p99 per route, at one connection and at
//! `BENCH_CONNECTIONS` (32). Each route is measured in rounds alternating
//! with the trivial route (`GET /healthz`, the floor the runtime itself
//! costs) and compared with the floor of its own rounds: `MISSED` when its
//! p99 is more than twice the floor's at one connection or 2.5 times at
//! full concurrency, or its throughput is under its target.
//!
//! The server gets every variable through Spin's static provider
//! (`--variable @variables.toml`), as `make up` passes them;
//! `BENCH_VARIABLES_FROM=environment` uses `SPIN_VARIABLE_*` instead.
//! `BENCH_PAIRING=production` serves from PostgreSQL with the user cache on
//! Redis through `cache_redis_url` (the production pairing; `BENCH_CACHE=
//! spin-kv` puts it on Spin's key-value store on that Redis) instead of the
//! embedded default.
//!
//! A control row serves the probe fixture, whose component answers the
//! SDK's default way (headers committed before the body) after reading a
//! variable: the host reproduces Spin's ~40 ms delayed-ACK tail for it, so
//! a route that regressed to that path would show here.
//!
//! Then, for each argon2id configuration OWASP rates as equally strong,
//! one verification natively and one login at a time against a server
//! configured with it.
//!
//! Then background jobs: what the welcome webhook adds to a registration,
//! how soon its event arrives with no scheduler, and drain throughput.
//!
//! Then instances: cached `GET /users/me` spread over one instance and over
//! three (server processes on the production runtime config, one
//! PostgreSQL and one Redis, as `make cluster` runs them), on the same
//! cores: three must not be slower, or the shared state is a bottleneck.
//!
//! `BENCH_SECS` (default 4, per route and concurrency) and
//! `BENCH_CONNECTIONS` (default 32) tune it; `BENCH_ROUTES_ONLY=1` stops
//! after the route table and the control, `BENCH_JOBS_ONLY=1` runs only
//! the background-job figures, `BENCH_INSTANCES_ONLY=1` only the instance
//! figures, `BENCH_FORGOT_ONLY=1` only `POST /password/forgot` for an
//! address with an account and one without. Client and server share this machine's cores, as a real load
//! test on one box does, but not a process: a client in the server's
//! runtime would be caught in every hand-off of its worker threads, which
//! no client of `spin up` is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use spin_users_component_tests::{Cluster, ServerProcess, WebhookReceiver, process_program};
use spin_users_domain::{DEFAULT_HASH_PARAMS, HashParams, Password, PasswordHasher, SystemRandom};
use spin_users_host::{App, AppOptions, engine, serve};

const PASSWORD: &str = "correct horse battery";

const SIGNING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One request shape.
#[derive(Clone)]
struct Shape {
    method: http::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    /// Bearer tokens the connections take in turn (connection `i` the
    /// `i % len`-th), so concurrent writes go to accounts of their own;
    /// empty: every connection sends `headers` as they are.
    per_connection_tokens: Arc<Vec<String>>,
    /// Path per connection (connection `i` the `i % len`-th); empty: `path`.
    per_connection_paths: Arc<Vec<String>>,
    /// What a connection does around each measured request.
    follow: Follow,
}

/// What a connection does around each measured request.
#[derive(Clone, Default)]
enum Follow {
    /// Nothing: the same request again.
    #[default]
    Repeat,
    /// A refresh-token grant: connection `i` presents the `i`-th chain's
    /// latest token and keeps the successor the answer gives, across loads
    /// (a token presented twice would end its session as stolen).
    RefreshChain(Arc<std::sync::Mutex<Vec<String>>>),
    /// Before each measured request, connection `i` sends the `i`-th of
    /// these untimed: a write that drops the target's cache entry, so the
    /// measured read misses the cache.
    AfterInvalidating(Arc<Vec<Shape>>),
}

impl Shape {
    /// This shape as connection `index` sends it.
    fn for_connection(&self, index: usize) -> Self {
        let mut shape = self.clone();
        if !self.per_connection_paths.is_empty() {
            shape.path = self.per_connection_paths[index % self.per_connection_paths.len()].clone();
        }
        if let Follow::RefreshChain(chains) = &self.follow {
            let chains = chains.lock().expect("refresh chains");
            shape.body = refresh_body(&chains[index % chains.len()]);
        }
        if !self.per_connection_tokens.is_empty() {
            let token = &self.per_connection_tokens[index % self.per_connection_tokens.len()];
            shape.headers.retain(|(name, _)| *name != "authorization");
            shape
                .headers
                .push(("authorization", format!("Bearer {token}")));
        }
        shape
    }

    fn get(path: &str, token: Option<&str>) -> Self {
        Self {
            method: http::Method::GET,
            path: path.to_owned(),
            headers: token
                .map(|t| vec![("authorization", format!("Bearer {t}"))])
                .unwrap_or_default(),
            body: Bytes::new(),
            per_connection_tokens: Arc::default(),
            per_connection_paths: Arc::default(),
            follow: Follow::Repeat,
        }
    }

    fn patch_json(path: &str, tokens: &[String], body: serde_json::Value) -> Self {
        Self {
            method: http::Method::PATCH,
            path: path.to_owned(),
            headers: vec![("content-type", "application/json".to_owned())],
            body: Bytes::from(body.to_string()),
            per_connection_tokens: Arc::new(tokens.to_vec()),
            per_connection_paths: Arc::default(),
            follow: Follow::Repeat,
        }
    }

    fn post(path: &str, content_type: &str, body: String) -> Self {
        Self {
            method: http::Method::POST,
            path: path.to_owned(),
            headers: vec![("content-type", content_type.to_owned())],
            body: Bytes::from(body),
            per_connection_tokens: Arc::default(),
            per_connection_paths: Arc::default(),
            follow: Follow::Repeat,
        }
    }
}

struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    async fn send(&mut self, shape: &Shape) -> Result<(u16, Bytes)> {
        let mut req = http::Request::builder()
            .method(shape.method.clone())
            .uri(&shape.path)
            .header("host", "127.0.0.1");
        for (name, value) in &shape.headers {
            req = req.header(*name, value);
        }
        let req = req.body(Full::new(shape.body.clone()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Requests answered over some time, with every latency (sorted).
#[derive(Clone, Default)]
struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Floor/route alternations per route.
const ROUNDS: u32 = 5;

impl Stats {
    /// Adds another measurement of the same thing.
    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Throughput and p99 latency, each as a ratio of `floor`'s.
    fn versus(&self, floor: &Stats) -> (f64, f64) {
        (
            self.rps() / floor.rps(),
            ms(self.percentile(0.99)) / ms(floor.percentile(0.99)),
        )
    }

    /// One measured request.
    fn one(latency: Duration) -> Self {
        Self {
            requests: 1,
            elapsed: latency,
            latencies: vec![latency],
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

/// Drives `shape` over `connections` keep-alive connections for `duration`.
async fn load(
    addr: SocketAddr,
    shape: &Shape,
    connections: usize,
    duration: Duration,
) -> Result<Stats> {
    load_over(&[addr], shape, connections, duration).await
}

/// [`load`] with the connections spread round-robin over `addrs`.
async fn load_over(
    addrs: &[SocketAddr],
    shape: &Shape,
    connections: usize,
    duration: Duration,
) -> Result<Stats> {
    let shape = Arc::new(shape.clone());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let mut shape = shape.for_connection(connection);
        let addr = addrs[connection % addrs.len()];
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                if let Follow::AfterInvalidating(writes) = &shape.follow {
                    let write = &writes[connection % writes.len()];
                    expect_success(write, conn.send(write).await?)?;
                }
                let sent = Instant::now();
                let (status, body) = conn.send(&shape).await?;
                latencies.push(sent.elapsed());
                expect_success(&shape, (status, body.clone()))?;
                if let Follow::RefreshChain(chains) = &shape.follow {
                    let next = serde_json::from_slice::<serde_json::Value>(&body)?["refresh_token"]
                        .as_str()
                        .context("refresh_token")?
                        .to_owned();
                    shape.body = refresh_body(&next);
                    let mut chains = chains.lock().expect("refresh chains");
                    let len = chains.len();
                    chains[connection % len] = next;
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(Stats {
        requests: latencies.len(),
        elapsed,
        latencies,
    })
}

/// `Err` unless `answer` (status, body) to `shape` is a success.
fn expect_success(shape: &Shape, (status, body): (u16, Bytes)) -> Result<()> {
    if !(200..300).contains(&status) {
        bail!(
            "{} {} answered {status}: {}",
            shape.method,
            shape.path,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// The form of a refresh-token grant presenting `token`.
fn refresh_body(token: &str) -> Bytes {
    Bytes::from(
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", token)
            .finish(),
    )
}

/// Memory growths past the initial size in the components the measured
/// routes run.
fn memory_growths(app: &App) -> u64 {
    ["health", "users"]
        .iter()
        .filter_map(|id| app.memory_growths(id))
        .sum()
}

/// One line of the route table: `stats` beside the floor it is compared with.
fn print_row(name: &str, connections: usize, stats: &Stats, floor: &Stats, verdict: &str) {
    let (ratio, p99_ratio) = stats.versus(floor);
    // Logins are slow enough that their rate needs a decimal.
    let decimals = if stats.rps() < 100.0 { 1 } else { 0 };
    println!(
        "{name:<34} {connections:>5} {:>10.decimals$} {:>9.2} {:>9.2} {:>11.0} {:>11.2} {ratio:>9.3} {p99_ratio:>10.2} {verdict:>12}",
        stats.rps(),
        ms(stats.percentile(0.5)),
        ms(stats.percentile(0.99)),
        floor.rps(),
        ms(floor.percentile(0.99)),
    );
}

/// Where a route's slow requests lie: a delayed-ACK stall puts a band of
/// requests at 35-50 ms (Linux's 40 ms delayed ACK plus the request),
/// while queueing behind busy cores spreads them smoothly.
fn print_spread(stats: &Stats) {
    let share = |low: f64, high: f64| {
        let n = stats
            .latencies
            .iter()
            .filter(|d| (low..high).contains(&ms(**d)))
            .count();
        100.0 * n as f64 / stats.latencies.len() as f64
    };
    println!(
        "{:<40} p90 {:.2}, p99.9 {:.2} ms; requests at 35-50 ms (delayed-ACK band): {:.2}%",
        "",
        ms(stats.percentile(0.9)),
        ms(stats.percentile(0.999)),
        share(35.0, 50.0),
    );
}

fn print_header() {
    println!(
        "{:<34} {:>5} {:>10} {:>9} {:>9} {:>11} {:>11} {:>9} {:>10} {:>12}",
        "route",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "floor req/s",
        "floor p99",
        "vs floor",
        "p99 ratio",
        "target"
    );
}

/// `route` measured in [`ROUNDS`] rounds alternating with `floor`; returns
/// the route's and its floor's figures.
async fn paired(
    addr: SocketAddr,
    route: &Shape,
    floor: &Shape,
    connections: usize,
    duration: Duration,
) -> Result<(Stats, Stats)> {
    let round = duration / ROUNDS;
    let mut paired_floor = Stats::default();
    let mut stats = Stats::default();
    for _ in 0..ROUNDS {
        paired_floor.merge(load(addr, floor, connections, round).await?);
        stats.merge(load(addr, route, connections, round).await?);
    }
    Ok((stats, paired_floor))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The bench's own variables: a signing key, and the load comes from one
/// address, so the limits are out of the way.
const BENCH_VARIABLES: [(&str, &str); 5] = [
    ("signing_key", SIGNING_KEY),
    ("login_limit_per_ip", "1000000/60"),
    ("login_limit_per_account", "1000000/60"),
    ("login_ceiling_per_account", "1000000/60"),
    ("register_limit_per_ip", "1000000/60"),
];

/// The app served by a process of its own, as `spin up` serves it: the
/// bench's client never shares a runtime (or its threads' hand-offs) with
/// the server. Its data and log live in a directory dropped with it.
struct Server {
    process: ServerProcess,
    _data: tempfile::TempDir,
}

impl Server {
    fn addr(&self) -> SocketAddr {
        self.process.addr
    }
}

/// How the server gets its settings: `BENCH_VARIABLES_FROM=static` (the
/// default, as `make up` passes them: every variable the manifest declares
/// through Spin's static provider, `--variable @variables.toml`) or
/// `environment` (`SPIN_VARIABLE_*`, each lookup a thread hand-off under
/// Spin, and an instance's first database call resolves them all).
fn variables_from_environment() -> Result<bool> {
    match std::env::var("BENCH_VARIABLES_FROM").as_deref() {
        Ok("static") | Err(_) => Ok(false),
        Ok("environment") => Ok(true),
        Ok(other) => bail!("BENCH_VARIABLES_FROM={other:?}: use static or environment"),
    }
}

/// Where the server keeps its state: `BENCH_PAIRING=embedded` (the
/// default: SQLite and the embedded key-value store) or `production`
/// (a fresh PostgreSQL database at `SPIN_USERS_TEST_PG_URL`'s server, the
/// key-value store on the Redis at `SPIN_USERS_TEST_REDIS_URL`).
fn production_pairing() -> Result<bool> {
    match std::env::var("BENCH_PAIRING").as_deref() {
        Ok("embedded") | Err(_) => Ok(false),
        Ok("production") => Ok(true),
        Ok(other) => bail!("BENCH_PAIRING={other:?}: use embedded or production"),
    }
}

/// Serves `manifest` (relative to the repository) with the bench's
/// variables and `variables` (name, value) on top, through
/// [`process_program`]: the native-release host under `make bench`, or
/// `spin` itself when `SPIN_USERS_TEST_SERVER=spin`.
async fn start_server_of(manifest: &str, variables: &[(&str, String)]) -> Result<Server> {
    let data = tempfile::tempdir()?;
    let production = production_pairing()? && manifest == "spin.toml";
    let config = write_runtime_config(&data, production)?;
    let mut settings: Vec<(&str, String)> = variables.to_vec();
    if production {
        settings.push((
            "database_url",
            spin_users_component_tests::fresh_postgres_database().await?,
        ));
        // The cache through the components' own Redis client, as deployed;
        // BENCH_CACHE=spin-kv measures Spin's key-value store on the same
        // Redis instead (the runtime config names it either way).
        if std::env::var("BENCH_CACHE").as_deref() != Ok("spin-kv") {
            let url = spin_users_component_tests::redis_url()
                .context("BENCH_PAIRING=production needs SPIN_USERS_TEST_REDIS_URL")?;
            let host = spin_users_component_tests::redis_host_port(&url);
            settings.push(("cache_redis_url", url));
            settings.push(("cache_redis_host", host));
        }
    }
    let manifest_path = repository().join(manifest);
    let (mut environment, sources) = if variables_from_environment()? {
        (variable_environment(&settings), Vec::new())
    } else {
        let file = write_static_variables(&manifest_path, &settings, &data)?;
        (HashMap::new(), vec![format!("@{}", file.display())])
    };
    // Spin logs nothing per request unless RUST_LOG asks; nor does the
    // server here (the host's default would log every request).
    environment
        .entry("RUST_LOG".into())
        .or_insert_with(|| "error".into());
    let process = ServerProcess::start(
        &process_program()?,
        &manifest_path,
        &config,
        data.path(),
        &environment,
        &sources,
    )
    .await
    .with_context(|| format!("serving {manifest} (run `make build build-fixtures` first)"))?;
    Ok(Server {
        process,
        _data: data,
    })
}

/// The bench's variables with `variables` (name, value) on top.
fn bench_settings(variables: &[(&str, String)]) -> HashMap<String, String> {
    BENCH_VARIABLES
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .chain(variables.iter().cloned())
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// `SPIN_VARIABLE_*` entries for [`bench_settings`].
fn variable_environment(variables: &[(&str, String)]) -> HashMap<String, String> {
    bench_settings(variables)
        .into_iter()
        .map(|(name, value)| (format!("SPIN_VARIABLE_{}", name.to_uppercase()), value))
        .collect()
}

/// Every variable `manifest` declares, from [`bench_settings`] or its
/// default, in a TOML file for `--variable @file.toml` (what
/// `scripts/spin-variables.py` writes for `make up`, secrets included
/// here: the bench's are throw-away).
fn write_static_variables(
    manifest: &std::path::Path,
    variables: &[(&str, String)],
    data: &tempfile::TempDir,
) -> Result<std::path::PathBuf> {
    let settings = bench_settings(variables);
    let declared = spin_users_host::Manifest::from_file(manifest)?.variables;
    let mut text = String::new();
    for (name, decl) in declared {
        if let Some(value) = settings.get(&name).or(decl.default.as_ref()) {
            // A JSON string is a TOML basic string.
            text.push_str(&format!("{name} = {}\n", serde_json::to_string(value)?));
        }
    }
    let path = data.path().join("variables.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// [`start_server_of`] for the repository's `spin.toml`.
async fn start_server(variables: &[(&str, String)]) -> Result<Server> {
    start_server_of("spin.toml", variables).await
}

fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Serves the app in this process through the bundled host: only to read
/// the host's count of instance memory growths (see [`memory_growths`]).
async fn start_in_process(data: &tempfile::TempDir) -> Result<(SocketAddr, Arc<App>)> {
    let root = repository();
    let mut options = AppOptions::new(root.join("spin.toml"));
    options.runtime_config = Some(write_runtime_config(data, false)?);
    options.compile_cache = Some(root.join("target/component-cache"));
    options.guest_output = false;
    options.environment.extend(variable_environment(&[]));
    let app = Arc::new(
        App::load(&engine(1_000)?, &options).context("loading the app (run `make build` first)")?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(app.clone(), listener, std::future::pending()));
    Ok((addr, app))
}

/// What the measured routes need on the server.
struct Arranged {
    /// The reading account's access token.
    token: String,
    /// The cached `GET /users/:id` of another user.
    by_id: Shape,
    /// One account per connection for the writes, by access token: writes
    /// to one account from 32 connections would mostly conflict.
    writers: Vec<String>,
    /// Those accounts' ids, in the same order.
    writer_ids: Vec<String>,
    /// Another login of each, by refresh token: a chain per connection.
    refresh_chains: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Arranges what the routes need on the server at `addr`: one account and
/// its access token, another user's id and that user's entry in the cache,
/// and `writers` accounts of their own for the writes.
async fn arrange(addr: SocketAddr, writers: usize) -> Result<Arranged> {
    let mut setup = Connection::open(addr).await?;
    register(&mut setup, "Bench", "bench@example.com").await?;
    // The cached lookup reads another user, as a client looking someone up does.
    let id = register(&mut setup, "Other", "other@example.com").await?;
    let token = access_token(&mut setup, "bench@example.com").await?;
    let by_id = Shape::get(&format!("/users/{id}"), Some(&token));
    setup.send(&by_id).await?;
    let mut writer_tokens = Vec::with_capacity(writers);
    let mut writer_ids = Vec::with_capacity(writers);
    let mut refresh_chains = Vec::with_capacity(writers);
    for n in 0..writers {
        let email = format!("writer{n}@example.com");
        writer_ids.push(register(&mut setup, "Writer", &email).await?);
        writer_tokens.push(access_token(&mut setup, &email).await?);
        let (_, body) = setup.send(&login_shape(&email)).await?;
        refresh_chains.push(
            serde_json::from_slice::<serde_json::Value>(&body)?["refresh_token"]
                .as_str()
                .context("refresh_token")?
                .to_owned(),
        );
    }
    Ok(Arranged {
        token,
        by_id,
        writers: writer_tokens,
        writer_ids,
        refresh_chains: Arc::new(std::sync::Mutex::new(refresh_chains)),
    })
}

/// A password login's access token.
async fn access_token(conn: &mut Connection, email: &str) -> Result<String> {
    let (_, body) = conn.send(&login_shape(email)).await?;
    Ok(
        serde_json::from_slice::<serde_json::Value>(&body)?["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned(),
    )
}

/// What a route's row is held to.
#[derive(Clone, Copy)]
enum Target {
    /// The p99 bound (twice the floor's at one connection, 2.5 times at
    /// full concurrency) and, at full concurrency, this share of the
    /// floor's throughput.
    Throughput(f64),
    /// The p99 bound only.
    Tail,
    /// None: a route that reaches the database, shown for its figures.
    Figures,
}

/// The measured routes, each with what it is held to.
fn scenarios(arranged: &Arranged) -> Vec<(&'static str, Shape, Target)> {
    let Arranged {
        token,
        by_id,
        writers,
        writer_ids,
        refresh_chains,
    } = arranged;
    let rename = |token: &String| {
        Shape::patch_json(
            "/users/me",
            std::slice::from_ref(token),
            serde_json::json!({"name": "Renamed"}),
        )
        .for_connection(0)
    };
    let uncached_by_id = Shape {
        per_connection_paths: Arc::new(
            writer_ids.iter().map(|id| format!("/users/{id}")).collect(),
        ),
        follow: Follow::AfterInvalidating(Arc::new(writers.iter().map(rename).collect())),
        ..Shape::get("/users/placeholder", Some(token))
    };
    let refresh = Shape {
        follow: Follow::RefreshChain(refresh_chains.clone()),
        ..Shape::post("/token", "application/x-www-form-urlencoded", String::new())
    };
    vec![
        ("GET /", Shape::get("/", None), Target::Tail),
        ("GET /readyz", Shape::get("/readyz", None), Target::Tail),
        (
            "GET /.well-known/jwks.json",
            Shape::get("/.well-known/jwks.json", None),
            Target::Tail,
        ),
        (
            "GET /users/me (valid token)",
            Shape::get("/users/me", Some(token)),
            Target::Throughput(0.70),
        ),
        (
            "GET /users/:id (another, cached)",
            by_id.clone(),
            Target::Throughput(0.60),
        ),
        // Not cached: every request reads the database.
        (
            "GET /tasks (uncached read)",
            Shape::get("/tasks", Some(token)),
            Target::Figures,
        ),
        // A conditional UPDATE, an audit row and a cache invalidation.
        (
            "PATCH /users/me (name)",
            Shape::patch_json("/users/me", writers, serde_json::json!({"name": "Bench"})),
            Target::Figures,
        ),
        // A cache miss: each read follows an untimed rename of its target,
        // which drops the entry; the read refills it from the database.
        (
            "GET /users/:id (invalidated)",
            uncached_by_id,
            Target::Figures,
        ),
        // A rotation: the token claimed, its successor stored, the session
        // advanced, a new access token signed.
        ("POST /token (refresh)", refresh, Target::Figures),
    ]
}

/// Requests per route for the memory-growth count.
const GROWTH_REQUESTS: usize = 300;

/// How often a component instance's memory grew past its initial size
/// while serving each route [`GROWTH_REQUESTS`] times: a growth on every
/// request would cost more than the rest of a cached read (see
/// ARCHITECTURE.md). Counted by the bundled host, so served in-process.
async fn print_memory_growths() -> Result<()> {
    let data = tempfile::tempdir()?;
    let (addr, app) = start_in_process(&data).await?;
    let arranged = arrange(addr, 1).await?;
    let before = memory_growths(&app);
    let mut conn = Connection::open(addr).await?;
    for (_, shape, _) in scenarios(&arranged) {
        let shape = shape.for_connection(0);
        for _ in 0..GROWTH_REQUESTS {
            conn.send(&shape).await?;
        }
    }
    println!(
        "instance memory grown past its initial size in {GROWTH_REQUESTS} requests per route: {} times (see .cargo/config.toml)",
        memory_growths(&app) - before
    );
    Ok(())
}

fn native_argon2_ms(params: HashParams, samples: usize) -> Result<f64> {
    let hasher = PasswordHasher::new(params)?;
    let password = Password::new(PASSWORD.into());
    let stored = hasher.hash(&password, &mut SystemRandom)?;
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            let ok = hasher.verify(&password, &stored).map(|v| v.matches);
            std::hint::black_box(ok.ok());
            ms(start.elapsed())
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

#[tokio::main]
async fn main() -> Result<()> {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let duration = Duration::from_secs(secs);
    if std::env::var_os("BENCH_JOBS_ONLY").is_some() {
        return job_figures().await;
    }
    if std::env::var_os("BENCH_INSTANCES_ONLY").is_some() {
        return instance_figures(connections, duration).await;
    }
    if std::env::var_os("BENCH_FORGOT_ONLY").is_some() {
        return forgot_figures().await;
    }
    let server = start_server(&[]).await?;
    let addr = server.addr();
    let arranged = arrange(addr, connections).await?;
    let login = login_shape("bench@example.com");

    println!(
        "spin-users bench: 1 and {connections} connections, {secs} s per route and concurrency, server and client on this machine"
    );
    print_header();
    // Each route alternates with the floor in short rounds and is compared
    // with the floor of its own rounds (printed beside it): drift over the
    // run (the machine's other work, a warmer cache) then moves both sides
    // alike. Throughput targets apply at full concurrency; the p99 bound is
    // twice the floor's at one connection and 2.5 times at full concurrency.
    let floor_shape = Shape::get("/healthz", None);
    let scenarios = scenarios(&arranged);
    let mut missed = 0;
    let mut full_floor = Stats::default();
    for concurrency in [1, connections] {
        let mut floor = Stats::default();
        let mut rows = Vec::new();
        for (name, shape, target) in &scenarios {
            let (stats, paired_floor) =
                paired(addr, shape, &floor_shape, concurrency, duration).await?;
            floor.merge(paired_floor.clone());
            rows.push((name, stats, paired_floor, target));
        }
        // Rows print after the floor they are compared with.
        print_row(
            "GET /healthz (floor, every round)",
            concurrency,
            &floor,
            &floor,
            "",
        );
        full_floor = floor.clone();
        for (name, stats, paired_floor, target) in rows {
            let (ratio, p99_ratio) = stats.versus(&paired_floor);
            let p99_bound = if concurrency == 1 { 2.0 } else { 2.5 };
            let throughput_target = match target {
                Target::Throughput(t) if concurrency == connections => Some(*t),
                _ => None,
            };
            let met = p99_ratio <= p99_bound && throughput_target.is_none_or(|t| ratio >= t);
            let word = if met { "met" } else { "MISSED" };
            let verdict = match (target, throughput_target) {
                (Target::Figures, _) => String::new(),
                (_, Some(t)) => format!("{word} ({t:.2}, {p99_bound}x)"),
                (_, None) => format!("{word} ({p99_bound}x)"),
            };
            missed += usize::from(!met && !matches!(target, Target::Figures));
            print_row(name, concurrency, &stats, &paired_floor, &verdict);
            print_spread(&stats);
        }
    }
    println!("routes that MISSED a target: {missed}");
    print_memory_growths().await?;
    control_old_response_path(duration).await?;
    if std::env::var_os("BENCH_ROUTES_ONLY").is_some() {
        return Ok(());
    }
    println!();
    print_header();
    let logins = load(addr, &login, connections, duration).await?;
    print_row(
        "POST /token (password grant)",
        connections,
        &logins,
        &full_floor,
        "argon2id",
    );

    argon2_costs(addr, Duration::from_secs(secs.min(5))).await?;
    job_figures().await?;
    forgot_figures().await?;
    instance_figures(connections, duration).await
}

/// `POST /password/forgot` for an address with an account and one
/// without, alternating on one connection in one run: the answer must not
/// tell them apart, in its body (the component suite checks) or its time.
async fn forgot_figures() -> Result<()> {
    let receiver = WebhookReceiver::start().await;
    let server = start_server(&[
        ("argon2_memory_kib", "256".to_owned()),
        ("argon2_iterations", "1".to_owned()),
        ("webhook_url", receiver.url()),
        ("webhook_origin", receiver.origin.clone()),
        ("webhook_secret", WEBHOOK_SECRET.to_owned()),
        ("password_forgot_limit_per_ip", "1000000/60".to_owned()),
        ("password_forgot_limit_per_address", "1000000/60".to_owned()),
    ])
    .await?;
    let mut conn = Connection::open(server.addr()).await?;
    register(&mut conn, "Known", "known@example.com").await?;
    let forgot = |email: &str| {
        let body = serde_json::json!({ "email": email });
        Shape::post("/password/forgot", "application/json", body.to_string())
    };
    let (known_shape, unknown_shape) = (forgot("known@example.com"), forgot("nobody@example.com"));
    let (mut known, mut unknown) = (Stats::default(), Stats::default());
    for round in 0..FORGOT_REQUESTS * 2 {
        let (shape, stats) = if round % 2 == 0 {
            (&known_shape, &mut known)
        } else {
            (&unknown_shape, &mut unknown)
        };
        let started = Instant::now();
        let (status, _) = conn.send(shape).await?;
        let took = started.elapsed();
        if status != 202 {
            bail!("POST /password/forgot answered {status}");
        }
        // Warm-up rounds (compiled components, pooled connections) are not
        // counted.
        if round >= 20 {
            stats.merge(Stats::one(took));
        }
    }
    println!();
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "POST /password/forgot (1 connection)", "p50", "p99", "ratio"
    );
    for (name, stats) in [
        ("an address with an account (mail queued)", &known),
        ("an address without one", &unknown),
    ] {
        println!(
            "{name:<44} {:>6.2} ms {:>6.2} ms {:>8.2}x",
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.99)),
            ms(stats.percentile(0.5)) / ms(unknown.percentile(0.5)),
        );
    }
    let mailed = receiver.deliveries().len();
    println!("mail events delivered meanwhile, after the answers: {mailed}");
    Ok(())
}

/// `POST /password/forgot` requests per address in [`forgot_figures`].
const FORGOT_REQUESTS: usize = 200;

/// Cached `GET /users/me` over one instance and over three, each a server
/// process on the production runtime config (see the module comment).
async fn instance_figures(connections: usize, duration: Duration) -> Result<()> {
    println!();
    println!(
        "instances: GET /users/me (cached), connections spread round-robin; PostgreSQL + Redis, server program {}",
        process_program()?
    );
    print_header();
    let environment: HashMap<String, String> = [
        ("SPIN_VARIABLE_SIGNING_KEY", SIGNING_KEY),
        ("SPIN_VARIABLE_ARGON2_MEMORY_KIB", "256"),
        ("SPIN_VARIABLE_ARGON2_ITERATIONS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut single = Vec::new();
    for size in [1, 3] {
        let cluster = Cluster::start(size, &environment).await?;
        let addrs: Vec<SocketAddr> = (0..size).map(|i| cluster.addr(i)).collect();
        let mut setup = Connection::open(addrs[0]).await?;
        register(&mut setup, "Bench", "bench@example.com").await?;
        let (_, body) = setup.send(&login_shape("bench@example.com")).await?;
        let token = serde_json::from_slice::<serde_json::Value>(&body)?["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned();
        let me = Shape::get("/users/me", Some(&token));
        // Warm every instance (compiled components, pooled connections,
        // the cached entry) before measuring. One connection reaches the
        // first instance only: that row is latency, not spread.
        load_over(&addrs, &me, connections, Duration::from_secs(1)).await?;
        for (concurrency, baseline) in [1, connections].into_iter().zip(0..) {
            let stats = load_over(&addrs, &me, concurrency, duration).await?;
            let name = format!("{size} instance{}", if size == 1 { "" } else { "s" });
            if size == 1 {
                print_row(&name, concurrency, &stats, &stats, "baseline");
                single.push(stats);
            } else {
                let floor: &Stats = &single[baseline];
                let (ratio, _) = stats.versus(floor);
                let verdict = format!("{ratio:.2}x the throughput of 1");
                print_row(&name, concurrency, &stats, floor, &verdict);
            }
        }
    }
    Ok(())
}

/// Registrations per measurement of the background-job figures.
const JOB_REGISTRATIONS: usize = 100;
/// Jobs the drain-throughput figure runs.
const DRAINED_JOBS: usize = 300;
const WEBHOOK_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const JOBS_TOKEN: &str = "bench-drain-secret";

/// Background jobs, with cheap hashing so a registration costs little
/// besides its writes: what delivering the welcome event after the
/// response adds to `POST /users` as the client sees it (against a
/// server with no webhook), how long until the event reaches a local
/// receiver with no scheduler, and jobs per second through the drain route.
async fn job_figures() -> Result<()> {
    let cheap = [
        ("argon2_memory_kib", "256".to_owned()),
        ("argon2_iterations", "1".to_owned()),
    ];
    let plain_server = start_server(&cheap).await?;
    let plain = plain_server.addr();
    // Registrations also mail a verification link: only the welcome
    // events are this figure's.
    let receiver = WebhookReceiver::start_for("user.created").await;
    let mut with_webhook = cheap.to_vec();
    with_webhook.extend([
        ("webhook_url", receiver.url()),
        ("webhook_origin", receiver.origin.clone()),
        ("webhook_secret", WEBHOOK_SECRET.to_owned()),
        ("jobs_token", JOBS_TOKEN.to_owned()),
        ("job_backoff_secs", "1".to_owned()),
        ("job_max_attempts", "1000".to_owned()),
    ]);
    let hooked_server = start_server(&with_webhook).await?;
    let hooked = hooked_server.addr();

    let mut without = Stats::default();
    let mut with = Stats::default();
    let mut to_event = Stats::default();
    let (mut plain_conn, mut hooked_conn) = (
        Connection::open(plain).await?,
        Connection::open(hooked).await?,
    );
    // Alternating, so drift on the machine falls on both alike.
    for n in 0..JOB_REGISTRATIONS {
        let started = Instant::now();
        register(&mut plain_conn, "Plain", &format!("plain{n}@example.com")).await?;
        without.merge(Stats::one(started.elapsed()));

        let started = Instant::now();
        register(
            &mut hooked_conn,
            "Hooked",
            &format!("hooked{n}@example.com"),
        )
        .await?;
        with.merge(Stats::one(started.elapsed()));
        let deliveries = receiver.wait_for(n + 1, Duration::from_secs(10)).await;
        let delivery = deliveries
            .get(n)
            .context("the welcome event did not arrive")?;
        to_event.merge(Stats::one(delivery.arrived.duration_since(started)));
    }
    println!();
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "background jobs (1 connection, cheap argon2)", "p50", "p99", "ratio"
    );
    let row = |name: &str, stats: &Stats, base: Option<&Stats>| {
        let ratio = base.map_or(String::new(), |b| {
            format!("{:.2}x", ms(stats.percentile(0.5)) / ms(b.percentile(0.5)))
        });
        println!(
            "{name:<44} {:>6.2} ms {:>6.2} ms {ratio:>9}",
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.99))
        );
    };
    row("POST /users, no webhook", &without, None);
    row(
        "POST /users, welcome job after the answer",
        &with,
        Some(&without),
    );
    row("POST /users sent -> event at the receiver", &to_event, None);

    // Drain throughput: jobs whose first delivery failed, all due at once.
    receiver.answer_with(503);
    for n in 0..DRAINED_JOBS {
        register(
            &mut hooked_conn,
            "Queued",
            &format!("queued{n}@example.com"),
        )
        .await?;
    }
    receiver
        .wait_for(JOB_REGISTRATIONS + DRAINED_JOBS, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    receiver.answer_with(200);
    let drain = Shape {
        method: http::Method::POST,
        path: "/jobs/drain".into(),
        headers: vec![("authorization", format!("Bearer {JOBS_TOKEN}"))],
        body: Bytes::new(),
        per_connection_tokens: Arc::default(),
        per_connection_paths: Arc::default(),
        follow: Follow::Repeat,
    };
    // Retries that failed again wait out their backoff: calls that found
    // nothing due are not timed, only those that ran jobs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut succeeded, mut draining) = (0, Duration::ZERO);
    while succeeded < DRAINED_JOBS as u64 && Instant::now() < deadline {
        let started = Instant::now();
        let (status, body) = hooked_conn.send(&drain).await?;
        let took = started.elapsed();
        if status != 200 {
            bail!(
                "drain answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&body)?;
        succeeded += report["succeeded"].as_u64().unwrap_or(0);
        if report["claimed"].as_u64() == Some(0) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            draining += took;
        }
    }
    println!(
        "POST /jobs/drain: {succeeded} welcome deliveries in {:.2} s of drain calls = {:.0} jobs/s (one call at a time)",
        draining.as_secs_f64(),
        succeeded as f64 / draining.as_secs_f64()
    );
    Ok(())
}

/// The control: the probe fixture's `GET /var/message` reads a variable,
/// then answers the SDK's default way, committing the headers before it
/// writes the body. Measured at one connection against the same server's
/// floor, its p99 should show the delayed-ACK tail Spin shows for that
/// path; if it does not, the host has become kinder than Spin.
async fn control_old_response_path(duration: Duration) -> Result<()> {
    let probe = start_server_of(
        "tests/fixtures/probe/spin.toml",
        &[("api_key", "bench".to_owned())],
    )
    .await?;
    let addr = probe.addr();
    let (stats, floor) = paired(
        addr,
        &Shape::get("/var/message", None),
        &Shape::get("/instance", None),
        1,
        duration,
    )
    .await?;
    let (_, p99_ratio) = stats.versus(&floor);
    let verdict = if ms(stats.percentile(0.99)) >= 30.0 {
        "tail shown"
    } else {
        "NOT SHOWN"
    };
    println!(
        "control, headers before body (probe /var/message vs /instance), 1 connection: \
         p50 {:.2} ms, p99 {:.2} ms, {p99_ratio:.1}x its floor's p99: {verdict} \
         (Spin 4.0.2 shows ~40 ms here)",
        ms(stats.percentile(0.5)),
        ms(stats.percentile(0.99)),
    );
    Ok(())
}

/// The bench's runtime config: both default labels as files in `data`,
/// or (`production`) the key-value store on the test Redis.
fn write_runtime_config(data: &tempfile::TempDir, production: bool) -> Result<std::path::PathBuf> {
    let config = data.path().join("runtime-config.toml");
    let key_value = if production {
        let url = spin_users_component_tests::redis_url().context(
            "BENCH_PAIRING=production needs SPIN_USERS_TEST_REDIS_URL (make bench sets it)",
        )?;
        format!("type = \"redis\"\nurl = {url:?}")
    } else {
        "type = \"spin\"\npath = \"kv.db\"".to_owned()
    };
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\n{key_value}\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n"
        ),
    )?;
    Ok(config)
}

/// OWASP's argon2id configurations, which it rates as equally strong: each
/// trades memory for passes.
const OWASP_CONFIGURATIONS: [HashParams; 5] = [
    HashParams {
        memory_kib: 47_104,
        iterations: 1,
        parallelism: 1,
    },
    HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    },
    HashParams {
        memory_kib: 12_288,
        iterations: 3,
        parallelism: 1,
    },
    HashParams {
        memory_kib: 9_216,
        iterations: 4,
        parallelism: 1,
    },
    HashParams {
        memory_kib: 7_168,
        iterations: 5,
        parallelism: 1,
    },
];

/// For each OWASP configuration: one verification natively, and one login
/// at a time (one verification in a fresh component instance, plus issuing
/// the tokens). The default configuration is measured on the server at
/// `addr`, the one that served the routes; the others each on a server
/// configured with them. The target applies to the default.
async fn argon2_costs(addr: SocketAddr, duration: Duration) -> Result<()> {
    println!();
    println!(
        "{:<30} {:>12} {:>12} {:>9} {:>10}",
        "argon2id (OWASP-equivalent)", "native ms", "login ms", "ratio", "target"
    );
    for params in OWASP_CONFIGURATIONS {
        let is_default = params == DEFAULT_HASH_PARAMS;
        let native = native_argon2_ms(params, 9)?;
        let login = if is_default {
            login_ms(addr, duration).await?
        } else {
            login_ms_configured(params, duration).await?
        };
        let ratio = login / native;
        let verdict = match (is_default, ratio <= 2.0) {
            (false, _) => "",
            (true, true) => "met (2x)",
            (true, false) => "MISSED (2x)",
        };
        let name = format!(
            "m={} KiB t={} p={}{}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            if is_default { " (default)" } else { "" }
        );
        println!("{name:<30} {native:>12.1} {login:>12.1} {ratio:>8.2}x {verdict:>10}");
    }
    Ok(())
}

/// The p50 of `POST /token` for the bench account at one connection.
async fn login_ms(addr: SocketAddr, duration: Duration) -> Result<f64> {
    let logins = load(addr, &login_shape("bench@example.com"), 1, duration).await?;
    Ok(ms(logins.percentile(0.5)))
}

/// [`login_ms`] against a fresh server whose accounts are hashed with
/// `params`.
async fn login_ms_configured(params: HashParams, duration: Duration) -> Result<f64> {
    let variables = [
        ("argon2_memory_kib", params.memory_kib.to_string()),
        ("argon2_iterations", params.iterations.to_string()),
        ("argon2_parallelism", params.parallelism.to_string()),
    ];
    let server = start_server(&variables).await?;
    let addr = server.addr();
    let mut setup = Connection::open(addr).await?;
    register(&mut setup, "Bench", "bench@example.com").await?;
    login_ms(addr, duration).await
}

/// Registers an account with the bench password; returns its id.
async fn register(conn: &mut Connection, name: &str, email: &str) -> Result<String> {
    let body = serde_json::json!({"name": name, "email": email, "password": PASSWORD});
    let shape = Shape::post("/users", "application/json", body.to_string());
    let (status, body) = conn.send(&shape).await?;
    if status != 201 {
        bail!(
            "registration failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice::<serde_json::Value>(&body)?["id"]
        .as_str()
        .context("id")?
        .to_owned())
}

/// A password grant for `email` with the bench password.
fn login_shape(email: &str) -> Shape {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", email)
        .append_pair("password", PASSWORD)
        .finish();
    Shape::post("/token", "application/x-www-form-urlencoded", body)
}
